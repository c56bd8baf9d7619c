/* sample.c - `fmtrain sample` (a trained model) and `fmtrain oracle` (the exact marginal
 * field of a finite data set): integrate from noise at t_min to data at t_max.
 *
 * The N samples are split over the ranks in contiguous blocks; sample i starts from X_0
 * drawn from (seed, 0, i, FM_RNG_SAMPLE) and its SDE noise is keyed by its index too, and
 * dopri5 adapts each row's step on its own: the samples do not depend on the number of ranks.
 * Score and noise models reach the velocity through path.h's conversions, undefined at
 * alpha = 0: their integration starts at t_min > 0 (SPEC.md; default 0.05, measured).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/commands.h"
#include "fm/common.h"
#include "fm/data.h"
#include "fm/dist.h"
#include "fm/h5io.h"
#include "fm/metrics.h"
#include "fm/netfield.h"
#include "fm/oracle.h"
#include "fm/path.h"
#include "fm/rng.h"
#include "fm/sampler.h"

typedef struct {
    char ckpt[1024], solver[16], out[1024], weights[8], grid[32], sigma[32], objective[16];
    char data[64], data_file[1024], data_dset[64], path[32];
    long n, steps, seed, frames, traj_n, batch, reference, max_steps, n_data, data_seed, sw_proj;
    double t_min, t_max, rtol, atol;
} SampleConfig;

#define F(field) offsetof(SampleConfig, field)
#define STR(field) FM_OPT_STRING, F(field), sizeof(((SampleConfig *)0)->field)
#define INT(field) FM_OPT_INT, F(field), 0
#define DBL(field) FM_OPT_DOUBLE, F(field), 0
#define BIG 1e12

/* The integration options shared by `sample` and `oracle`. */
#define SAMPLER_OPTS                                                                                                   \
    {"n", INT(n), "1000", 1, BIG, 0, "number of samples"},                                                             \
    {"solver", STR(solver), "euler", 0, 0, 0, "euler, midpoint, heun, rk4 (1, 2, 2, 4 evaluations per step) or dopri5 (adaptive)"}, \
    {"steps", INT(steps), "100", 1, 1e7, 0, "steps of a fixed-grid solver (and of Euler-Maruyama)"},               \
    {"grid", STR(grid), "uniform", 0, 0, 0, "time grid: uniform, or power:P (P > 1 packs steps toward t-max)"},       \
    {"rtol", DBL(rtol), "1e-5", 1e-12, 1, 0, "dopri5 relative tolerance (> 0)"},                                       \
    {"atol", DBL(atol), "1e-5", 1e-12, 1, 0, "dopri5 absolute tolerance (> 0)"},                                       \
    {"max-steps", INT(max_steps), "100000", 1, 1e9, 0, "dopri5: most steps a sample may take"},                        \
    {"sigma", STR(sigma), "0", 0, 0, 0, "SDE diffusion sigma_t: 0 (ODE), const:C or beta:C (C beta_t); Euler-Maruyama, same marginals"}, \
    {"seed", INT(seed), "1", 0, 4294967295.0, 0, "seed of X_0 and of the SDE noise (sample i uses streams keyed by i)"},   \
    {"t-min", DBL(t_min), "-1", -1, 1, 0, "start time; -1 = auto: 0 for velocity models and oracles, 0.05 for score/noise models"}, \
    {"t-max", DBL(t_max), "-1", -1, 1, 0, "end time; -1 = auto: the top of the training times (sample), 0.999 (oracle); 0.999 at most with --sigma"}, \
    {"frames", INT(frames), "0", 0, 1e6, 0, "trajectory frames after the start (fixed grids: at step k*steps/frames, so at most --steps); 0 = auto: 20, at most --steps"}, \
    {"traj-n", INT(traj_n), "1000", 0, BIG, 0, "number of samples whose trajectories are stored (0 = none)"},           \
    {"batch", INT(batch), "1024", 1, 1e7, 0, "rows per field evaluation on each rank"},                                \
    {"reference", INT(reference), "2000", 0, 1e6, 0, "held-out data items stored in /reference and compared with the samples (0 = none)"}, \
    {"sw-proj", INT(sw_proj), "128", 1, 1e6, 0, "random projections of the sliced Wasserstein-2 distance"},           \
    {"out", STR(out), "samples.h5", 0, 0, 0, "output HDF5 file: /samples, /trajectory, /t, /reference"}

static const FmOption SAMPLE_OPTS[] = {
    {"ckpt", STR(ckpt), "", 0, 0, 0, "checkpoint file, or a run directory (its newest complete checkpoint); required"},
    {"weights", STR(weights), "ema", 0, 0, 0, "which weights to use: ema or raw"},
    {"objective", STR(objective), "", 0, 0, 0, "if set, the objective the checkpoint must have been trained with"},
    SAMPLER_OPTS,
};

static const FmOption ORACLE_OPTS[] = {
    {"data", STR(data), "moons", 0, 0, 0, "toy data set whose held-out items form the finite data set"},
    {"n-data", INT(n_data), "500", 1, 1e6, 0, "number of data points of the finite data set"},
    {"data-seed", INT(data_seed), "1", 0, 4294967295.0, 0, "seed of the held-out items (the training seed gives the training set's held-out items)"},
    {"data-file", STR(data_file), "", 0, 0, 0, "HDF5 file with the data points instead of a toy set (see --data-dset)"},
    {"data-dset", STR(data_dset), "data", 0, 0, 0, "dataset (N x D) inside --data-file"},
    {"path", STR(path), "condot", 0, 0, 0, "probability path schedule: condot, cosine, poly:N, vp"},
    SAMPLER_OPTS,
};

static const FmOptTable SAMPLE_TABLE = {
    "sample",
    "Sample a trained model by integrating its ODE (or SDE, with --sigma) from noise (t = 0) to data\n"
    "(t = 1): mpirun -np P fmtrain sample --ckpt runs/moons --n 5000 --solver heun --steps 50 --out s.h5",
    SAMPLE_OPTS, sizeof SAMPLE_OPTS / sizeof SAMPLE_OPTS[0]};

static const FmOptTable ORACLE_TABLE = {
    "oracle",
    "Integrate the exact marginal field of a finite data set (the ground truth a network approximates)\n"
    "from N(0, I): fmtrain oracle --data moons --n-data 500 --solver rk4 --steps 200 --out oracle.h5",
    ORACLE_OPTS, sizeof ORACLE_OPTS / sizeof ORACLE_OPTS[0]};

int fm_model_load(const char *ckpt, const char *weights, const char *expect_objective, FmTrainConfig *tc,
                  FmSetup *su, float **w, char *path, size_t path_size, char **config_text) {
    long step = 0;
    size_t count = 0, len = 0;
    char *text = NULL;
    int rc = 0;
    *w = NULL;
    *config_text = NULL;
    if (fm_dist_rank() == 0) {
        rc = !ckpt[0] ? fm_err_set("--ckpt is required (a checkpoint file or a run directory)")
                      : fm_ckpt_find(ckpt, path, path_size);
        if (rc == 1) rc = fm_err_set("no checkpoint in '%s'", ckpt);
        if (!rc) rc = fm_ckpt_read_meta(path, &step, &count, &text);
        len = text ? strlen(text) + 1 : 0;
    }
    if (fm_dist_agree(rc)) return -1;
    fm_dist_bcast(&len, sizeof len);
    fm_dist_bcast(&count, sizeof count);
    fm_dist_bcast(path, path_size);
    if (fm_dist_rank() != 0) text = fm_calloc(len, 1);
    fm_dist_bcast(text, len);
    *config_text = text;
    fm_opts_defaults(&fm_train_opts, tc);
    rc = fm_opts_load_string(&fm_train_opts, tc, text);
    if (!rc) rc = fm_setup_resolve(su, tc);
    if (!rc && count != fm_net_table(&su->net)->total)
        rc = fm_err_set("checkpoint '%s' holds %zu parameters, its configuration describes %zu", path, count,
                        fm_net_table(&su->net)->total);
    if (!rc && strcmp(weights, "ema") && strcmp(weights, "raw"))
        rc = fm_err_set("unknown --weights '%s' (known: ema, raw)", weights);
    if (!rc && expect_objective[0] && strcmp(expect_objective, tc->objective))
        rc = fm_err_set("checkpoint '%s' was trained with objective '%s', not '%s'", path, tc->objective,
                        expect_objective);
    if (fm_dist_agree(rc)) return -1;
    *w = fm_malloc_floats(fm_net_table(&su->net)->total);
    rc = 0;
    if (fm_dist_rank() == 0) {
        int ema = !strcmp(weights, "ema");
        rc = fm_ckpt_read(path, fm_net_table(&su->net), ema ? NULL : *w, NULL, NULL, ema ? *w : NULL);
    }
    if (fm_dist_agree(rc)) return -1;
    fm_dist_bcast(*w, fm_net_table(&su->net)->total * sizeof(float));
    return 0;
}

/* What the engine integrates and how. */
typedef struct {
    FmSolver solver;
    FmGrid grid;
    FmSigma sigma;
    int sde;
    FmSchedule sched; /* for sigma = beta:C */
    double t_min, t_max;
    long frames; /* trajectory frames after the start (--frames, or its automatic value) */
} Plan;

static int parse_plan(Plan *pl, const SampleConfig *sc) {
    if (fm_solver_parse(&pl->solver, sc->solver) || fm_grid_parse(&pl->grid, sc->grid) ||
        fm_sigma_parse(&pl->sigma, sc->sigma))
        return -1;
    pl->sde = pl->sigma.c > 0;
    if (pl->sde && pl->solver != FM_SOLVER_EULER)
        return fm_err_set("--sigma %s samples the SDE with Euler-Maruyama: use --solver euler (got '%s')", sc->sigma,
                          sc->solver);
    /* sampler.h's power grids take any p > 0, but p <= 1 spreads the steps toward t-min, away
     * from the data end where the field stiffens: not what --grid power:P is for */
    if (pl->grid.power && !(pl->grid.p > 1))
        return fm_err_set("--grid '%s' needs P > 1 (power:P packs the steps toward t-max; uniform spaces them evenly)",
                          sc->grid);
    /* a fixed grid records a frame after every steps/frames steps: more frames than steps would
     * repeat frame times; dopri5 lands on each frame time whatever --steps says */
    pl->frames = sc->frames ? sc->frames : 20;
    if (pl->solver != FM_SOLVER_DOPRI5 && !sc->frames && pl->frames > sc->steps) pl->frames = sc->steps;
    if (pl->solver != FM_SOLVER_DOPRI5 && pl->frames > sc->steps)
        return fm_err_set("--frames %ld must not exceed --steps %ld with a fixed-step solver (a frame is recorded "
                          "after every steps/frames steps)", pl->frames, sc->steps);
    return 0;
}

/* Integrates my rows x (nl, D) from t_min to t_max, recording frames of the first nt rows
 * into traj (frame-major, ntraj rows per frame, my rows at row0). nfe (nl) per row. work: the
 * solvers' fm_ode_work_floats(nl, D), allocated (and so touched) by the caller, outside the
 * integration's timing. */
static int integrate(float *x, size_t nl, size_t D, const Plan *pl, const SampleConfig *sc, FmField f, void *ctx,
                     size_t lo, float *traj, size_t nt, size_t ntraj, double *frame_t, long *nfe, float *work) {
    /* dopri5 must land on every frame time, which caps its steps: without a trajectory to
     * record it integrates in one piece */
    const long F = pl->solver == FM_SOLVER_DOPRI5 && !traj ? 1 : pl->frames, S = sc->steps;
    double *grid = fm_calloc((size_t)S + 1, sizeof *grid), *ft = fm_calloc((size_t)F + 1, sizeof *ft);
    long *rownfe = fm_calloc(nl ? nl : 1, sizeof *rownfe);
    double *hrow = fm_calloc(nl ? nl : 1, sizeof *hrow); /* dopri5's step sizes, carried across frames */
    fm_grid_fill(grid, S, pl->t_min, pl->t_max, &pl->grid);
    fm_grid_fill(ft, F, pl->t_min, pl->t_max, &pl->grid);
    int rc = 0;
    if (traj && nt) memcpy(traj + lo * D, x, nt * D * sizeof(float));
    frame_t[0] = pl->t_min;
    long done = 0; /* fixed grids: steps taken so far */
    for (long k = 1; k <= F && rc == 0; k++) {
        if (pl->solver == FM_SOLVER_DOPRI5) {
            rc = fm_ode_dopri5(x, nl, D, ft[k - 1], ft[k], sc->rtol, sc->atol, sc->max_steps, f, ctx, work, rownfe,
                               hrow);
            for (size_t i = 0; i < nl; i++) nfe[i] += rownfe[i];
            frame_t[k] = ft[k];
        } else {
            long upto = k * S / F, seg = upto - done;
            if (seg > 0) {
                long e = pl->sde ? fm_sde_em(x, nl, D, grid + done, seg, &pl->sigma, &pl->sched, (uint64_t)sc->seed,
                                             lo, done, f, ctx, work)
                                 : fm_ode_fixed(x, nl, D, pl->solver, grid + done, seg, f, ctx, work);
                for (size_t i = 0; i < nl; i++) nfe[i] += e;
            }
            done = upto;
            frame_t[k] = grid[upto];
        }
        if (traj && nt) memcpy(traj + ((size_t)k * ntraj + lo) * D, x, nt * D * sizeof(float));
    }
    free(grid), free(ft), free(rownfe), free(hrow);
    return rc;
}

typedef struct {
    const char *command, *solver_text, *source, *config_text;
    long image_shape[3]; /* C, H, W of image data (0: not images) */
    FmFileMeta meta;
    const float *ref_data; /* NULL: no reference */
    size_t M;
    const char *ref_what; /* what the reference is, for the summary line */
} Describe;

/* Runs the whole sampler on every rank: draws X_0, integrates, gathers on rank 0, measures
 * against the reference and writes the file. Returns the exit code. */
static int run(const SampleConfig *sc, const FmOptTable *tab, Plan *pl, size_t D, FmField f, void *ctx,
               const Describe *ds) {
    const int rank = fm_dist_rank(), P = fm_dist_size();
    const size_t N = (size_t)sc->n, lo = N * (size_t)rank / (size_t)P, hi = N * (size_t)(rank + 1) / (size_t)P;
    const size_t nl = hi - lo, NT = (size_t)sc->traj_n < N ? (size_t)sc->traj_n : N;
    const size_t nt = NT > lo ? (NT < hi ? NT : hi) - lo : 0, T = (size_t)pl->frames + 1;
    float *all = fm_malloc_floats(N * D), *x = all + lo * D, *traj = NT ? fm_malloc_floats(T * NT * D) : NULL;
    double *frame_t = fm_calloc(T, sizeof *frame_t);
    long *nfe = fm_calloc(nl ? nl : 1, sizeof *nfe);
    for (size_t i = 0; i < nl; i++) {
        FmStream s;
        fm_stream_init(&s, (uint64_t)sc->seed, 0, lo + i, FM_RNG_SAMPLE);
        for (size_t d = 0; d < D; d++) x[i * D + d] = (float)fm_stream_normal(&s);
    }
    float *work = fm_malloc_floats(fm_ode_work_floats(nl ? nl : 1, D));
    double t0 = fm_now();
    int rc = integrate(x, nl, D, pl, sc, f, ctx, lo, traj, nt, NT, frame_t, nfe, work);
    double wall = fm_dist_max_double(fm_now() - t0);
    free(work);
    if (fm_dist_agree(rc)) {
        free(all), free(traj), free(frame_t), free(nfe);
        return FM_EXIT_FATAL;
    }
    /* NFE: sum and max over every sample */
    double stats[2] = {0, 0};
    long maxnfe = 0;
    for (size_t i = 0; i < nl; i++) stats[0] += (double)nfe[i], maxnfe = nfe[i] > maxnfe ? nfe[i] : maxnfe;
    stats[1] = fm_dist_max_double((double)maxnfe);
    fm_dist_sum_doubles(stats, 1);
    fm_dist_reduce_floats(all, N * D);
    if (traj) fm_dist_reduce_floats(traj, T * NT * D);

    rc = 0;
    if (rank == 0) {
        size_t bad = 0;
        for (size_t i = 0; i < N * D; i++) bad += !isfinite(all[i]);
        if (bad) fprintf(stderr, "fmtrain: warning: %zu non-finite sample values\n", bad);
        double ed = NAN, sw = NAN, mean_nfe = stats[0] / (double)N;
        if (ds->ref_data && !bad) {
            size_t ne = N < 5000 ? N : 5000;
            ed = fm_energy_distance(all, ne, ds->ref_data, ds->M, D);
            sw = fm_sliced_w2(all, N, ds->ref_data, ds->M, D, (size_t)sc->sw_proj, (uint64_t)sc->seed);
        }
        char text[8192], grid_name[64], sigma_name[64];
        fm_opts_format(tab, sc, text, sizeof text, 0);
        fm_grid_name(grid_name, sizeof grid_name, &pl->grid);
        fm_sigma_name(sigma_name, sizeof sigma_name, &pl->sigma);
        FmOut *o = fm_out_create(sc->out, "fmtrain-samples", &ds->meta);
        size_t d2[2] = {N, D}, d3[3] = {T, NT, D}, d1[1] = {T}, dr[2] = {ds->M, D};
        fm_out_floats(o, "samples", 2, d2, all);
        if (traj) {
            fm_out_floats(o, "trajectory", 3, d3, traj);
            fm_out_doubles(o, "t", 1, d1, frame_t);
        }
        if (ds->ref_data) fm_out_floats(o, "reference", 2, dr, ds->ref_data);
        fm_out_attr_str(o, "command", ds->command);
        fm_out_attr_str(o, "solver", pl->sde ? "euler-maruyama" : fm_solver_name(pl->solver));
        fm_out_attr_str(o, "grid", grid_name);
        fm_out_attr_str(o, "sigma", sigma_name);
        fm_out_attr_str(o, "checkpoint", ds->source);
        fm_out_attr_str(o, "weights", sc->weights);
        fm_out_attr_str(o, "sample_config", text);
        fm_out_attr_i64(o, "steps", pl->solver == FM_SOLVER_DOPRI5 ? 0 : sc->steps);
        fm_out_attr_i64(o, "nfe", (long)ceil(mean_nfe));
        fm_out_attr_f64(o, "nfe_mean", mean_nfe);
        fm_out_attr_i64(o, "nfe_max", (long)stats[1]);
        fm_out_attr_i64(o, "seed", sc->seed);
        fm_out_attr_f64(o, "t_min", pl->t_min);
        fm_out_attr_f64(o, "t_max", pl->t_max);
        if (pl->solver == FM_SOLVER_DOPRI5) fm_out_attr_f64(o, "rtol", sc->rtol), fm_out_attr_f64(o, "atol", sc->atol);
        if (!isnan(ed)) fm_out_attr_f64(o, "energy_distance", ed), fm_out_attr_f64(o, "sliced_w2", sw);
        if (ds->image_shape[0]) {
            double shp[3] = {(double)ds->image_shape[0], (double)ds->image_shape[1], (double)ds->image_shape[2]};
            size_t d3s[1] = {3};
            fm_out_doubles(o, "image_shape", 1, d3s, shp); /* samples are images (C, H, W) in [-1, 1] */
        }
        rc = fm_out_close(o);
        if (!rc) {
            printf("%s: %zu samples x %zu with %s%s%s, NFE %.1f (max %ld), t in [%g, %g], %s, %.2f s\n", ds->command, N,
                   D, pl->sde ? "euler-maruyama sigma " : fm_solver_name(pl->solver), pl->sde ? sigma_name : "",
                   pl->solver == FM_SOLVER_DOPRI5 ? "" : "", mean_nfe, (long)stats[1], pl->t_min, pl->t_max,
                   ds->source, wall);
            if (!isnan(ed))
                printf("energy distance %.5f, sliced W2 %.5f (vs %zu %s)\n", ed, sw, ds->M, ds->ref_what);
            printf("wrote %s\n", sc->out);
        }
    }
    rc = fm_dist_agree(rc) ? FM_EXIT_FATAL : FM_EXIT_OK;
    free(all), free(traj), free(frame_t), free(nfe);
    return rc;
}

/* Parses the options; prints help. Returns 1 for help, 0 to go on, -1 after an error was printed. */
static int parse(const FmOptTable *tab, SampleConfig *sc, Plan *pl, int argc, char **argv) {
    memset(sc, 0, sizeof *sc); /* fields a command's table does not set stay empty */
    int help = 0, rc = fm_opts_parse(tab, sc, argc, argv, &help);
    if (help) {
        if (fm_dist_rank() == 0) fm_opts_help(tab, stdout);
        return 1;
    }
    if (!rc) rc = parse_plan(pl, sc);
    if (!rc && sc->objective[0]) { /* a name first: a typo is not a mismatch with the checkpoint */
        FmPred p;
        rc = fm_pred_parse(&p, sc->objective);
        if (!rc && p == FM_PRED_DATA)
            rc = fm_err_set("unknown objective '%s' (known: velocity, score, noise)", sc->objective);
    }
    if (!rc && fm_dist_rank() == 0) rc = fm_out_check(sc->out, "fmtrain-samples");
    return fm_dist_agree(rc);
}

/* Resolves t_min/t_max (auto values) and checks them. */
static int resolve_times(Plan *pl, const SampleConfig *sc, double auto_min, double auto_max, double limit,
                         const char *what) {
    pl->t_min = sc->t_min >= 0 ? sc->t_min : auto_min;
    pl->t_max = sc->t_max >= 0 ? sc->t_max : (pl->sde && auto_max > 0.999 ? 0.999 : auto_max);
    if (pl->t_max <= pl->t_min) return fm_err_set("--t-max %g must exceed --t-min %g", pl->t_max, pl->t_min);
    if (pl->t_max > limit + 1e-12 && limit < 1 && pl->t_max >= 1)
        return fm_err_set("--t-max %g: %s needs t < 1", pl->t_max, what);
    if (pl->t_max > limit + 1e-12)
        return fm_err_set("--t-max %g exceeds the largest time %g where %s is defined", pl->t_max, limit, what);
    if (pl->sde && pl->t_max >= 1)
        return fm_err_set("--sigma %s needs --t-max < 1 (the score is infinite at t = 1)", sc->sigma);
    return 0;
}

int fm_sample_main(int argc, char **argv) {
    SampleConfig sc;
    Plan pl;
    memset(&pl, 0, sizeof pl);
    int rc = parse(&SAMPLE_TABLE, &sc, &pl, argc, argv);
    if (rc) return rc > 0 ? FM_EXIT_OK : FM_EXIT_USAGE;
    FmTrainConfig tc;
    FmSetup su;
    float *w = NULL;
    char path[4096] = "", *train_text = NULL;
    if (fm_model_load(sc.ckpt, sc.weights, sc.objective, &tc, &su, &w, path, sizeof path, &train_text)) {
        free(train_text), free(w);
        return FM_EXIT_USAGE;
    }
    pl.sched = su.sched;
    const int velocity = su.objective == FM_PRED_VELOCITY;
    rc = resolve_times(&pl, &sc, velocity ? 0.0 : 0.05, su.t_max, su.t_max, "this model (its training times)");
    if (!rc && !velocity && pl.t_min <= 0)
        rc = fm_err_set("--t-min 0 with a %s model: its velocity is undefined at t = 0 (alpha = 0); use t-min > 0",
                        tc.objective);
    if (fm_dist_agree(rc)) {
        free(train_text), free(w);
        return FM_EXIT_USAGE;
    }
    const size_t D = su.net.D, M = su.file && (size_t)sc.reference > su.info.N ? su.info.N : (size_t)sc.reference;
    float *ref = M ? fm_malloc_floats(M * D) : NULL;
    rc = 0;
    if (M && fm_dist_rank() == 0) { /* toy: held-out items; a data set file: its first items */
        if (!su.file) {
            fm_toy_heldout(ref, su.data, (uint64_t)tc.seed, M);
        } else {
            FmData dd;
            size_t MM = M < su.info.N ? M : su.info.N;
            FmTrainConfig nc = tc;
            nc.data_cache_mb = 0; /* a few items: no cache */
            rc = fm_data_open(&dd, &nc, &su, 256);
            if (!rc) rc = fm_data_items(&dd, ref, 0, MM);
            fm_data_close(&dd);
        }
    }
    if (fm_dist_agree(rc)) {
        free(ref), free(train_text), free(w);
        return FM_EXIT_USAGE;
    }
    FmNetField nf;
    fm_netfield_init(&nf, &su.net, w, su.objective, &su.sched, (size_t)sc.batch);
    Describe ds = {"sample", sc.solver, path, train_text, {0, 0, 0},
                   {train_text, fm_dist_size(), tc.objective, tc.path, tc.data_file[0] ? tc.data_file : tc.data, tc.model},
                   ref, M, su.file ? "items of the data file" : "held-out items"};
    if (su.file && su.info.images)
        ds.image_shape[0] = (long)su.info.C, ds.image_shape[1] = (long)su.info.H, ds.image_shape[2] = (long)su.info.W;
    rc = run(&sc, &SAMPLE_TABLE, &pl, D, fm_net_field, &nf, &ds);
    fm_netfield_free(&nf);
    free(ref), free(train_text), free(w);
    return rc;
}

/* The finite data set of an oracle: a file's points, or held-out items of a toy set. */
static int oracle_data(const SampleConfig *sc, float **z, size_t *N, size_t *D) {
    int rc = 0;
    if (fm_dist_rank() == 0) {
        if (sc->data_file[0]) {
            rc = fm_read_matrix(sc->data_file, sc->data_dset, z, N, D);
        } else {
            FmToyKind k;
            rc = fm_toy_parse(&k, sc->data);
            if (!rc) {
                *N = (size_t)sc->n_data;
                *D = (size_t)fm_toy_dim(k);
                *z = fm_malloc_floats(*N * *D);
                fm_toy_heldout(*z, k, (uint64_t)sc->data_seed, *N);
            }
        }
    }
    if (fm_dist_agree(rc)) return -1;
    size_t nd[2] = {*N, *D};
    fm_dist_bcast(nd, sizeof nd);
    *N = nd[0], *D = nd[1];
    if (fm_dist_rank() != 0) *z = fm_malloc_floats(*N * *D);
    fm_dist_bcast(*z, *N * *D * sizeof(float));
    return 0;
}

int fm_oracle_main(int argc, char **argv) {
    SampleConfig sc;
    Plan pl;
    memset(&pl, 0, sizeof pl);
    int rc = parse(&ORACLE_TABLE, &sc, &pl, argc, argv);
    if (rc) return rc > 0 ? FM_EXIT_OK : FM_EXIT_USAGE;
    FmOracle orc;
    memset(&orc, 0, sizeof orc);
    rc = fm_schedule_parse(&orc.sched, sc.path);
    if (!rc) rc = resolve_times(&pl, &sc, 0.0, 0.999, 1 - 1e-9, "the exact field of a finite data set (infinite at t = 1)");
    if (fm_dist_agree(rc)) return FM_EXIT_USAGE;
    pl.sched = orc.sched;
    float *z = NULL;
    if (oracle_data(&sc, &z, &orc.N, &orc.D)) return FM_EXIT_USAGE;
    orc.z = z;
    char source[1200];
    snprintf(source, sizeof source, "oracle: %zu points of %s", orc.N, sc.data_file[0] ? sc.data_file : sc.data);
    char text[8192];
    fm_opts_format(&ORACLE_TABLE, &sc, text, sizeof text, 0);
    Describe ds = {"oracle", sc.solver, source, text, {0, 0, 0}, {text, fm_dist_size(), "exact", sc.path,
                   sc.data_file[0] ? sc.data_file : sc.data, "oracle"}, z, orc.N, "data points the field carries samples to"};
    rc = run(&sc, &ORACLE_TABLE, &pl, orc.D, fm_oracle_field, &orc, &ds);
    free(z);
    return rc;
}
