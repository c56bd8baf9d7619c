/* sample.c - `fmtrain sample`: integrate a trained model's ODE from t_min to t_max.
 *
 * The N samples are split over the ranks in contiguous blocks; sample i starts from
 * X_0 drawn from the stream (seed, 0, i, FM_RNG_SAMPLE), so the samples do not depend on
 * the number of ranks. Score and noise models are turned into velocities through the
 * conversions of path.h; those are undefined at alpha = 0 (t = 0), so their sampler
 * starts at t_min > 0 (SPEC.md: near t = 0 a small bias in eps_hat becomes a large drift).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/dist.h"
#include "fm/h5io.h"
#include "fm/metrics.h"
#include "fm/rng.h"
#include "fm/sampler.h"
#include "fm/train.h"

typedef struct {
    char ckpt[1024], solver[16], out[1024], weights[8];
    long n, steps, seed, traj_every, traj_n, batch, reference;
    double t_min, t_max;
} SampleConfig;

#define F(field) offsetof(SampleConfig, field)
#define STR(field) FM_OPT_STRING, F(field), sizeof(((SampleConfig *)0)->field)
#define INT(field) FM_OPT_INT, F(field), 0
#define DBL(field) FM_OPT_DOUBLE, F(field), 0
#define BIG 1e12

static const FmOption OPTS[] = {
    {"ckpt", STR(ckpt), "", 0, 0, 0, "checkpoint file, or a run directory (its newest complete checkpoint); required"},
    {"n", INT(n), "1000", 1, BIG, 0, "number of samples"},
    {"solver", STR(solver), "euler", 0, 0, 0, "ODE solver: euler (1 evaluation per step) or heun (2 per step)"},
    {"steps", INT(steps), "100", 1, 1e7, 0, "solver steps on a uniform grid from t-min to t-max"},
    {"seed", INT(seed), "1", 0, 4294967295.0, 0, "seed of the initial noise X_0 (sample i uses stream (seed, 0, i))"},
    {"out", STR(out), "samples.h5", 0, 0, 0, "output HDF5 file: /samples, /trajectory, /t, /reference"},
    {"weights", STR(weights), "ema", 0, 0, 0, "which weights to use: ema or raw"},
    {"t-min", DBL(t_min), "-1", -1, 1, 0, "start time; -1 = auto: 0 for velocity models, 0.05 for score/noise models (their velocity is undefined at t = 0)"},
    {"t-max", DBL(t_max), "-1", -1, 1, 0, "end time; -1 = auto: the top of the training times (1 - t_eps)"},
    {"traj-every", INT(traj_every), "0", 0, 1e7, 0, "record the trajectory every N steps; 0 = auto (about 20 frames)"},
    {"traj-n", INT(traj_n), "1000", 0, BIG, 0, "number of samples whose trajectories are stored (0 = none)"},
    {"batch", INT(batch), "1024", 1, 1e7, 0, "rows per network evaluation on each rank"},
    {"reference", INT(reference), "2000", 0, 1e6, 0, "held-out data items stored in /reference and used for the energy distance (0 = none)"},
};

static const FmOptTable SAMPLE_OPTS = {
    "sample",
    "Sample a trained model by integrating its ODE from noise (t = 0) to data (t = 1):\n"
    "mpirun -np P fmtrain sample --ckpt runs/moons --n 5000 --solver heun --steps 50 --out samples.h5",
    OPTS, sizeof OPTS / sizeof OPTS[0]};

/* The velocity field of a network of any objective (context of the FmField callback). */
typedef struct {
    const FmSetup *su;
    const float *w;
    FmMlpActs_f acts;
    float *tbuf;
} NetField;

static void net_velocity(float *u, const float *x, double t, size_t n, void *ctx) {
    NetField *nf = ctx;
    const size_t D = nf->su->net.D, m = nf->acts.m;
    const FmCoef c = fm_schedule_eval(&nf->su->sched, t);
    for (size_t i = 0; i < m; i++) nf->tbuf[i] = (float)t;
    for (size_t off = 0; off < n; off += m) {
        size_t rows = n - off < m ? n - off : m;
        fm_mlp_forward_f(&nf->su->net, nf->w, &nf->acts, x + off * D, nf->tbuf, rows);
        fm_pred_convert(u + off * D, FM_PRED_VELOCITY, nf->acts.out, nf->su->objective, x + off * D, c, rows * D);
    }
}

/* Rank 0 finds and reads the checkpoint; every rank gets the configuration and weights. */
static int load_model(const SampleConfig *sc, FmTrainConfig *tc, FmSetup *su, float **w, char *path, size_t psize,
                      char **config_text) {
    long step = 0;
    size_t count = 0, len = 0;
    char *text = NULL;
    int rc = 0;
    if (fm_dist_rank() == 0) {
        rc = !sc->ckpt[0] ? fm_err_set("--ckpt is required (a checkpoint file or a run directory)")
                          : fm_ckpt_find(sc->ckpt, path, psize);
        if (rc == 1) rc = fm_err_set("no checkpoint in '%s'", sc->ckpt);
        if (!rc) rc = fm_ckpt_read_meta(path, &step, &count, &text);
        len = text ? strlen(text) + 1 : 0;
    }
    if (fm_dist_agree(rc)) return -1;
    fm_dist_bcast(&len, sizeof len);
    fm_dist_bcast(&count, sizeof count);
    fm_dist_bcast(path, psize);
    if (fm_dist_rank() != 0) text = fm_calloc(len, 1);
    fm_dist_bcast(text, len);
    fm_opts_defaults(&fm_train_opts, tc);
    rc = fm_opts_load_string(&fm_train_opts, tc, text);
    if (!rc) rc = fm_setup_resolve(su, tc);
    if (!rc && count != su->net.table.total)
        rc = fm_err_set("checkpoint '%s' holds %zu parameters, its configuration describes %zu", path, count,
                        su->net.table.total);
    if (!rc && strcmp(sc->weights, "ema") && strcmp(sc->weights, "raw"))
        rc = fm_err_set("unknown --weights '%s' (known: ema, raw)", sc->weights);
    *config_text = text;
    if (fm_dist_agree(rc)) return -1;
    *w = fm_malloc_floats(su->net.table.total);
    rc = 0;
    if (fm_dist_rank() == 0) {
        int ema = !strcmp(sc->weights, "ema");
        rc = fm_ckpt_read(path, &su->net.table, ema ? NULL : *w, NULL, NULL, ema ? *w : NULL);
    }
    if (fm_dist_agree(rc)) return -1;
    fm_dist_bcast(*w, su->net.table.total * sizeof(float));
    return 0;
}

int fm_sample_main(int argc, char **argv) {
    const int rank = fm_dist_rank(), P = fm_dist_size();
    SampleConfig sc;
    int help = 0, rc = fm_opts_parse(&SAMPLE_OPTS, &sc, argc, argv, &help);
    if (help) {
        if (rank == 0) fm_opts_help(&SAMPLE_OPTS, stdout);
        return FM_EXIT_OK;
    }
    FmSolver solver = FM_SOLVER_EULER;
    if (!rc) rc = fm_solver_parse(&solver, sc.solver);
    if (fm_dist_agree(rc)) return FM_EXIT_USAGE;

    FmTrainConfig tc;
    FmSetup su;
    float *w = NULL;
    char path[4096] = "", *train_text = NULL;
    if (load_model(&sc, &tc, &su, &w, path, sizeof path, &train_text)) {
        free(train_text);
        free(w);
        return FM_EXIT_USAGE;
    }
    const size_t D = su.net.D, N = (size_t)sc.n;
    const int velocity = su.objective == FM_PRED_VELOCITY;
    double t_min = sc.t_min >= 0 ? sc.t_min : velocity ? 0.0 : 0.05;
    double t_max = sc.t_max >= 0 ? sc.t_max : su.t_max;
    rc = 0;
    if (rank == 0 && fm_is_checkpoint(sc.out))
        rc = fm_err_set("--out '%s' is a checkpoint: refusing to overwrite it", sc.out);
    else if (t_max <= t_min) rc = fm_err_set("--t-max %g must exceed --t-min %g", t_max, t_min);
    else if (!velocity && t_min <= 0)
        rc = fm_err_set("--t-min 0 with a %s model: its velocity is undefined at t = 0 (alpha = 0); use t-min > 0",
                        tc.objective);
    else if (t_max > su.t_max + 1e-12)
        rc = fm_err_set("--t-max %g exceeds the largest training time %g of this %s model", t_max, su.t_max,
                        tc.objective);
    if (fm_dist_agree(rc)) return FM_EXIT_USAGE;

    /* my block of samples and the trajectory rows it holds */
    const size_t lo = N * (size_t)rank / (size_t)P, hi = N * (size_t)(rank + 1) / (size_t)P, nl = hi - lo;
    const size_t NT = (size_t)sc.traj_n < N ? (size_t)sc.traj_n : N;
    const size_t nt = NT > lo ? (NT < hi ? NT : hi) - lo : 0;
    const long every = sc.traj_every ? sc.traj_every : (sc.steps + 19) / 20;
    const size_t T = NT ? fm_traj_frames(sc.steps, every) : 0;
    float *all = fm_malloc_floats(N * D), *x = all + lo * D;
    float *traj = NT ? fm_malloc_floats(T * NT * D) : NULL;
    float *work = fm_malloc_floats(3 * (nl ? nl : 1) * D);
    double *grid = fm_calloc((size_t)sc.steps + 1, sizeof *grid);
    for (long k = 0; k <= sc.steps; k++) grid[k] = t_min + (t_max - t_min) * (double)k / (double)sc.steps;
    for (size_t i = 0; i < nl; i++) {
        FmStream s;
        fm_stream_init(&s, (uint64_t)sc.seed, 0, lo + i, FM_RNG_SAMPLE);
        for (size_t d = 0; d < D; d++) x[i * D + d] = (float)fm_stream_normal(&s);
    }
    NetField nf = {&su, w, {0}, NULL};
    size_t m = (size_t)sc.batch < nl ? (size_t)sc.batch : (nl ? nl : 1);
    fm_mlp_acts_init_f(&nf.acts, &su.net, m);
    nf.tbuf = fm_malloc_floats(m);

    double t0 = fm_now();
    long nfe = fm_ode_integrate(x, nl, D, solver, grid, sc.steps, net_velocity, &nf, work, traj, nt, lo, NT, every);
    double wall = fm_now() - t0;
    fm_dist_reduce_floats(all, N * D);
    if (traj) fm_dist_reduce_floats(traj, T * NT * D);
    wall = fm_dist_max_double(wall);

    rc = 0;
    if (rank == 0) {
        int bad = 0;
        for (size_t i = 0; i < N * D; i++) bad += !isfinite(all[i]);
        if (bad) fprintf(stderr, "fmtrain: warning: %d non-finite sample values\n", bad);
        size_t M = (size_t)sc.reference;
        float *ref = M ? fm_malloc_floats(M * D) : NULL;
        if (M) fm_toy_heldout(ref, su.data, (uint64_t)tc.seed, M);
        double ed = NAN;
        if (M) {
            size_t ne = N < 5000 ? N : 5000;
            ed = fm_energy_distance(all, ne, ref, M, D);
        }
        double *tf = fm_calloc(T ? T : 1, sizeof *tf);
        for (size_t k = 0; k < T; k++) tf[k] = grid[fm_traj_step(k, sc.steps, every)];
        char sample_text[4096];
        fm_opts_format(&SAMPLE_OPTS, &sc, sample_text, sizeof sample_text, 0);
        FmFileMeta meta = {train_text, P, tc.objective, tc.path, tc.data, tc.model};
        FmSampleInfo info = {fm_solver_name(solver), path, sc.weights, sample_text, sc.steps, nfe, sc.seed,
                             t_min, t_max, ed};
        rc = fm_samples_write(sc.out, all, N, D, traj, T, NT, tf, ref, M, &meta, &info);
        if (!rc) {
            printf("sampled %zu x %zu with %s, %ld steps (NFE %ld) on t in [%g, %g] from %s (%s weights) in %.2f s\n",
                   N, D, fm_solver_name(solver), sc.steps, nfe, t_min, t_max, path, sc.weights, wall);
            if (M) printf("energy distance to %zu held-out items: %.5f\n", M, ed);
            printf("wrote %s\n", sc.out);
        }
        free(tf);
        free(ref);
    }
    rc = fm_dist_agree(rc) ? FM_EXIT_FATAL : FM_EXIT_OK;
    fm_mlp_acts_free_f(&nf.acts);
    free(nf.tbuf), free(all), free(traj), free(work), free(grid), free(w), free(train_text);
    return rc;
}
