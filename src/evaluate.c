/* evaluate.c - what a trained field is worth:
 *   fmtrain field     the learned (and exact) 2-D velocity field on a grid at chosen times
 *   fmtrain fielderr  E ||u_theta - u_t||^2 / D per t bin, x ~ p_t of a finite data set whose
 *                     exact marginal field u_t is the ground truth (SPEC.md)
 *   fmtrain nll       negative log-likelihood of held-out data through the continuity equation
 * Work is split over the ranks by row; sums are allreduced; rank 0 writes.
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
#include "fm/likelihood.h"
#include "fm/netfield.h"
#include "fm/oracle.h"
#include "fm/rng.h"

typedef struct {
    char ckpt[1024], weights[8], out[1024], times[256], range[64], data_file[1024], data_dset[64], solver[16];
    char divergence[16];
    long grid_n, oracle_n, bins, n, n_data, seed, steps, probes, batch;
    int oracle;
    double t_max, rtol, atol, t0;
} EvalConfig;

#define F(field) offsetof(EvalConfig, field)
#define STR(field) FM_OPT_STRING, F(field), sizeof(((EvalConfig *)0)->field)
#define INT(field) FM_OPT_INT, F(field), 0
#define DBL(field) FM_OPT_DOUBLE, F(field), 0
#define MODEL_OPTS                                                                                                  \
    {"ckpt", STR(ckpt), "", 0, 0, 0, "checkpoint file, or a run directory (its newest complete checkpoint); required"}, \
    {"weights", STR(weights), "ema", 0, 0, 0, "which weights to use: ema or raw"}
#define DATA_OPTS                                                                                                   \
    {"n-data", INT(n_data), "1000", 1, 1e6, 0, "points of the finite data set: held-out items of the training set"}, \
    {"data-file", STR(data_file), "", 0, 0, 0, "HDF5 file with the data points instead (see --data-dset)"},          \
    {"data-dset", STR(data_dset), "data", 0, 0, 0, "dataset (N x D) inside --data-file"}

static const FmOption FIELD_OPTS[] = {
    MODEL_OPTS,
    {"times", STR(times), "0,0.25,0.5,0.75,0.95", 0, 0, 0, "comma-separated times (clamped to where the field is defined)"},
    {"grid-n", INT(grid_n), "21", 2, 1000, 0, "grid points per axis"},
    {"range", STR(range), "-3,3", 0, 0, 0, "axis range LO,HI of both coordinates"},
    {"oracle-n", INT(oracle_n), "500", 0, 1e6, 0, "also evaluate the exact field of this many held-out items (0 = no)"},
    {"out", STR(out), "field.h5", 0, 0, 0, "output HDF5 file: /t, /grid_x, /grid_y, /u, /u_oracle, /data"},
};
static const FmOption FIELDERR_OPTS[] = {
    MODEL_OPTS,
    DATA_OPTS,
    {"bins", INT(bins), "10", 1, 1000, 0, "t bins over [t-min of the model, --t-max]"},
    {"n", INT(n), "1000", 1, 1e8, 0, "samples (t, x ~ p_t) per bin"},
    {"t-max", DBL(t_max), "0.99", 0.01, 0.999, 0, "upper end of the bins (the exact field of finite data stiffens as t -> 1)"},
    {"seed", INT(seed), "1", 0, 4294967295.0, 0, "seed of the (t, x) draws"},
    {"batch", INT(batch), "1024", 1, 1e7, 0, "rows per network evaluation"},
    {"out", STR(out), "fielderr.h5", 0, 0, 0, "output HDF5 file: /t_lo, /t_hi, /err, /err_se, /ref, /count"},
};
static const FmOption NLL_OPTS[] = {
    MODEL_OPTS,
    {"n", INT(n), "500", 1, 1e7, 0, "held-out items of the training set whose NLL is computed"},
    {"data-file", STR(data_file), "", 0, 0, 0, "HDF5 file with the points instead (see --data-dset)"},
    {"data-dset", STR(data_dset), "data", 0, 0, 0, "dataset (N x D) inside --data-file"},
    {"solver", STR(solver), "rk4", 0, 0, 0, "euler, midpoint, heun, rk4 or dopri5 (dopri5 only with --divergence exact)"},
    {"steps", INT(steps), "100", 1, 1e7, 0, "steps of a fixed-grid solver from t = 1 back to t0"},
    {"rtol", DBL(rtol), "1e-5", 1e-12, 1, 0, "dopri5 relative tolerance"},
    {"atol", DBL(atol), "1e-5", 1e-12, 1, 0, "dopri5 absolute tolerance"},
    {"divergence", STR(divergence), "exact", 0, 0, 0, "exact (D Jacobian-vector products) or hutchinson (Rademacher probes)"},
    {"probes", INT(probes), "1", 1, 1e6, 0, "Hutchinson probes per evaluation"},
    {"t0", DBL(t0), "-1", -1, 0.5, 0, "noise end of the integration, where p = N(0, I) is assumed; -1 = auto: 0 for velocity models, 0.05 for score/noise"},
    {"seed", INT(seed), "1", 0, 4294967295.0, 0, "seed of the Hutchinson probes"},
    {"oracle", FM_OPT_BOOL, F(oracle), 0, "0", 0, 1, 0, "also the NLL under the exact marginal field of the data density (through the same ODE) and in closed form; needs a toy data set whose density is known in closed form and finite: 8gaussians (twopoint's is known too, but is two atoms: no finite NLL)"},
    {"batch", INT(batch), "1024", 1, 1e7, 0, "rows per network evaluation"},
    {"out", STR(out), "nll.h5", 0, 0, 0, "output HDF5 file: /nll, /x"},
};
#define TABLE(name, opts, text) {name, text, opts, sizeof opts / sizeof opts[0]}
static const FmOptTable FIELD_TABLE = TABLE("field", FIELD_OPTS,
    "Evaluate the learned 2-D velocity field (and the exact one of held-out data) on a grid:\n"
    "fmtrain field --ckpt runs/moons --out field.h5; scripts/plot_field.py field.h5 -o field.png");
static const FmOptTable FIELDERR_TABLE = TABLE("fielderr", FIELDERR_OPTS,
    "Measure E||u_theta - u_t||^2 / D per t bin against the exact marginal field of a finite data set:\n"
    "mpirun -np 2 fmtrain fielderr --ckpt runs/moons --out err.h5; scripts/plot_field_error.py err.h5 -o err.png");
static const FmOptTable NLL_TABLE = TABLE("nll", NLL_OPTS,
    "Negative log-likelihood of held-out data through the continuity equation (nats):\n"
    "mpirun -np 2 fmtrain nll --ckpt runs/moons --n 1000 --out nll.h5; scripts/plot_nll.py nll.h5 -o nll.png");

/* Options, then the model. Returns 1 (help), 0, or -1 (error printed). */
static int setup(const FmOptTable *tab, EvalConfig *ec, int argc, char **argv, FmTrainConfig *tc, FmSetup *su,
                 float **w, char *path, size_t psize, char **text) {
    memset(ec, 0, sizeof *ec); /* fields a command's table does not set stay empty */
    int help = 0, rc = fm_opts_parse(tab, ec, argc, argv, &help);
    if (help) {
        if (fm_dist_rank() == 0) fm_opts_help(tab, stdout);
        return 1;
    }
    if (!rc && fm_dist_rank() == 0) { /* the command's file: fmtrain-field, fmtrain-fielderr, fmtrain-nll */
        char format[64];
        snprintf(format, sizeof format, "fmtrain-%s", tab->command);
        rc = fm_out_check(ec->out, format);
    }
    if (fm_dist_agree(rc)) return -1;
    return fm_model_load(ec->ckpt, ec->weights, "", tc, su, w, path, psize, text);
}

/* The points: a file's (checked against the model's dimension) or held-out toy items. */
static int load_points(const EvalConfig *ec, const FmSetup *su, const FmTrainConfig *tc, size_t n, float **z,
                       size_t *N) {
    int rc = 0;
    size_t D = su->net.D;
    if (fm_dist_rank() == 0) {
        if (ec->data_file[0]) {
            size_t FD = 0;
            rc = fm_read_matrix(ec->data_file, ec->data_dset, z, N, &FD);
            if (!rc && FD != D)
                rc = fm_err_set("'%s:/%s' has dimension %zu, the model's data dimension is %zu", ec->data_file,
                                ec->data_dset, FD, D);
        } else if (su->file) { /* a model trained on a file: the file's first items */
            FmData dd;
            *N = n < su->info.N ? n : su->info.N;
            *z = fm_malloc_floats(*N * D);
            FmTrainConfig nc = *tc;
            nc.data_cache_mb = 0; /* a few items: no cache */
            rc = fm_data_open(&dd, &nc, su, 256);
            if (!rc) rc = fm_data_items(&dd, *z, 0, *N);
            fm_data_close(&dd);
        } else {
            *N = n;
            *z = fm_malloc_floats(n * D);
            fm_toy_heldout(*z, su->data, (uint64_t)tc->seed, n);
        }
    }
    if (fm_dist_agree(rc)) return -1;
    fm_dist_bcast(N, sizeof *N);
    if (fm_dist_rank() != 0) *z = fm_malloc_floats(*N * D);
    fm_dist_bcast(*z, *N * D * sizeof(float));
    return 0;
}

static double model_t_min(const FmSetup *su) { return su->objective == FM_PRED_VELOCITY ? 0.0 : 0.05; }

int fm_field_main(int argc, char **argv) {
    EvalConfig ec;
    FmTrainConfig tc;
    FmSetup su;
    float *w = NULL, *z = NULL;
    char path[4096] = "", *text = NULL;
    int rc = setup(&FIELD_TABLE, &ec, argc, argv, &tc, &su, &w, path, sizeof path, &text);
    if (rc) return free(w), free(text), rc > 0 ? FM_EXIT_OK : FM_EXIT_USAGE;
    double times[64], lohi[2];
    size_t T = 0;
    rc = 0;
    if (su.net.D != 2) rc = fm_err_set("field plots need 2-D data; this model's data dimension is %zu", su.net.D);
    /* one number before every comma and after the last: '' and '0.5,' are refused, not read as
     * no times or as one */
    for (char *p = ec.times, *end; !rc; p = end + 1) {
        double t = strtod(p, &end);
        if (end == p || (*end && *end != ',') || !(t >= 0 && t <= 1) || T >= 64)
            rc = fm_err_set("invalid --times '%s' (up to 64 comma-separated numbers in [0, 1])", ec.times);
        else
            times[T++] = fmin(fmax(t, model_t_min(&su)), fmin(su.t_max, 0.999));
        if (!rc && *end != ',') break;
    }
    if (!rc && (sscanf(ec.range, "%lf,%lf", &lohi[0], &lohi[1]) != 2 || !(lohi[0] < lohi[1])))
        rc = fm_err_set("invalid --range '%s' (expected LO,HI with LO < HI)", ec.range);
    size_t N = 0;
    if (fm_dist_agree(rc) || (ec.oracle_n && load_points(&ec, &su, &tc, (size_t)ec.oracle_n, &z, &N))) {
        free(w), free(text), free(z);
        return FM_EXIT_USAGE;
    }
    if (fm_dist_rank() == 0) {
        const size_t G = (size_t)ec.grid_n, GG = G * G;
        double *gx = fm_calloc(G, sizeof *gx), *tt = fm_calloc(GG, sizeof *tt);
        float *x = fm_malloc_floats(GG * 2), *u = fm_malloc_floats(T * GG * 2), *uo = fm_malloc_floats(T * GG * 2);
        for (size_t i = 0; i < G; i++) gx[i] = lohi[0] + (lohi[1] - lohi[0]) * (double)i / (double)(G - 1);
        for (size_t j = 0; j < G; j++)
            for (size_t i = 0; i < G; i++) x[(j * G + i) * 2] = (float)gx[i], x[(j * G + i) * 2 + 1] = (float)gx[j];
        FmNetField nf;
        fm_netfield_init(&nf, &su.net, w, su.objective, &su.sched, GG);
        FmOracle orc = {z, N, 2, su.sched, 0};
        for (size_t k = 0; k < T; k++) {
            for (size_t i = 0; i < GG; i++) tt[i] = times[k];
            fm_net_field(u + k * GG * 2, NULL, x, tt, GG, &nf);
            if (N) fm_oracle_field(uo + k * GG * 2, NULL, x, tt, GG, &orc);
        }
        fm_netfield_free(&nf);
        FmOut *o = fm_out_create(ec.out, "fmtrain-field", &(FmFileMeta){text, fm_dist_size(), tc.objective, tc.path, tc.data, tc.model});
        size_t d1[1] = {T}, dg[1] = {G}, du[4] = {T, G, G, 2}, dz[2] = {N, 2};
        fm_out_doubles(o, "t", 1, d1, times);
        fm_out_doubles(o, "grid_x", 1, dg, gx);
        fm_out_doubles(o, "grid_y", 1, dg, gx);
        fm_out_floats(o, "u", 4, du, u);
        if (N) fm_out_floats(o, "u_oracle", 4, du, uo), fm_out_floats(o, "data", 2, dz, z);
        fm_out_attr_str(o, "checkpoint", path);
        fm_out_attr_str(o, "weights", ec.weights);
        rc = fm_out_close(o);
        if (!rc) printf("field: %zu times on a %zux%zu grid%s; wrote %s\n", T, G, G, N ? " (with the exact field)" : "", ec.out);
        free(gx), free(tt), free(x), free(u), free(uo);
    }
    rc = fm_dist_agree(rc) ? FM_EXIT_FATAL : FM_EXIT_OK;
    free(w), free(text), free(z);
    return rc;
}

int fm_fielderr_main(int argc, char **argv) {
    EvalConfig ec;
    FmTrainConfig tc;
    FmSetup su;
    float *w = NULL, *z = NULL;
    char path[4096] = "", *text = NULL;
    int rc = setup(&FIELDERR_TABLE, &ec, argc, argv, &tc, &su, &w, path, sizeof path, &text);
    if (rc) return free(w), free(text), rc > 0 ? FM_EXIT_OK : FM_EXIT_USAGE;
    const double tlo = model_t_min(&su), thi = fmin(ec.t_max, su.t_max);
    rc = 0;
    if (thi <= tlo && ec.t_max <= su.t_max) /* sample's wording; the bins start at the model's t-min */
        rc = fm_err_set("--t-max %g must exceed --t-min %g (where this %s model's velocity is defined; "
                        "the bins span [t-min, t-max])", ec.t_max, tlo, tc.objective);
    else if (thi <= tlo)
        rc = fm_err_set("this %s model's training times end at %g, below its t-min %g: no t bins to measure",
                        tc.objective, su.t_max, tlo);
    size_t N = 0;
    if (fm_dist_agree(rc) || load_points(&ec, &su, &tc, (size_t)ec.n_data, &z, &N))
        return free(w), free(text), free(z), FM_EXIT_USAGE;
    const size_t D = su.net.D, K = (size_t)ec.bins, R = K * (size_t)ec.n, P = (size_t)fm_dist_size();
    const size_t lo = R * (size_t)fm_dist_rank() / P, hi = R * (size_t)(fm_dist_rank() + 1) / P;
    const size_t m = (size_t)ec.batch;
    FmNetField nf;
    fm_netfield_init(&nf, &su.net, w, su.objective, &su.sched, m);
    FmOracle orc = {z, N, D, su.sched, 0};
    float *x = fm_malloc_floats(m * D), *un = fm_malloc_floats(m * D), *uo = fm_malloc_floats(m * D);
    double *t = fm_calloc(m, sizeof *t);
    /* per bin: count, sum err, sum err^2, sum ref */
    double *acc = fm_calloc(4 * K, sizeof *acc);
    for (size_t off = lo; off < hi; off += m) {
        size_t rows = hi - off < m ? hi - off : m;
        for (size_t r = 0; r < rows; r++) {
            size_t g = off + r, b = g / (size_t)ec.n;
            FmStream s;
            fm_stream_init(&s, (uint64_t)ec.seed, 0, g, FM_RNG_DATA);
            t[r] = tlo + (thi - tlo) * ((double)b + fm_stream_uniform(&s)) / (double)K;
            size_t item = (size_t)(fm_stream_uniform(&s) * (double)N);
            FmCoef c = fm_schedule_eval(&su.sched, t[r]);
            fm_stream_init(&s, (uint64_t)ec.seed, 0, g, FM_RNG_NOISE);
            for (size_t d = 0; d < D; d++)
                x[r * D + d] = (float)(c.a * z[(item < N ? item : N - 1) * D + d] + c.b * fm_stream_normal(&s));
        }
        fm_net_field(un, NULL, x, t, rows, &nf);
        fm_oracle_field(uo, NULL, x, t, rows, &orc);
        for (size_t r = 0; r < rows; r++) {
            size_t b = (off + r) / (size_t)ec.n;
            double e = 0, ref = 0;
            for (size_t d = 0; d < D; d++) {
                double diff = (double)un[r * D + d] - uo[r * D + d];
                e += diff * diff, ref += (double)uo[r * D + d] * uo[r * D + d];
            }
            e /= (double)D, ref /= (double)D;
            acc[4 * b] += 1, acc[4 * b + 1] += e, acc[4 * b + 2] += e * e, acc[4 * b + 3] += ref;
        }
    }
    fm_netfield_free(&nf);
    fm_dist_sum_doubles(acc, 4 * K);
    rc = 0;
    if (fm_dist_rank() == 0) {
        double *tl = fm_calloc(K, sizeof *tl), *th = fm_calloc(K, sizeof *th), *err = fm_calloc(K, sizeof *err);
        double *se = fm_calloc(K, sizeof *se), *ref = fm_calloc(K, sizeof *ref);
        long *cnt = fm_calloc(K, sizeof *cnt);
        printf("fielderr: E||u_theta - u_t||^2 / D against the exact field of %zu points (%s weights)\n", N, ec.weights);
        printf("%-16s %-12s %-10s %-12s %s\n", "t bin", "error", "+- se", "|u_t|^2/D", "relative");
        for (size_t b = 0; b < K; b++) {
            double n = acc[4 * b], mean = acc[4 * b + 1] / n, var = acc[4 * b + 2] / n - mean * mean;
            tl[b] = tlo + (thi - tlo) * (double)b / (double)K, th[b] = tlo + (thi - tlo) * (double)(b + 1) / (double)K;
            err[b] = mean, se[b] = sqrt(fmax(var, 0) / n), ref[b] = acc[4 * b + 3] / n, cnt[b] = (long)n;
            printf("[%.3f, %.3f]   %-12.5f %-10.5f %-12.5f %.4f\n", tl[b], th[b], err[b], se[b], ref[b], err[b] / ref[b]);
        }
        FmOut *o = fm_out_create(ec.out, "fmtrain-fielderr", &(FmFileMeta){text, fm_dist_size(), tc.objective, tc.path, tc.data, tc.model});
        size_t dk[1] = {K};
        fm_out_doubles(o, "t_lo", 1, dk, tl);
        fm_out_doubles(o, "t_hi", 1, dk, th);
        fm_out_doubles(o, "err", 1, dk, err);
        fm_out_doubles(o, "err_se", 1, dk, se);
        fm_out_doubles(o, "ref", 1, dk, ref);
        fm_out_longs(o, "count", K, cnt);
        fm_out_attr_str(o, "checkpoint", path);
        fm_out_attr_str(o, "weights", ec.weights);
        fm_out_attr_i64(o, "n_data", (long)N);
        rc = fm_out_close(o);
        if (!rc) printf("wrote %s\n", ec.out);
        free(tl), free(th), free(err), free(se), free(ref), free(cnt);
    }
    rc = fm_dist_agree(rc) ? FM_EXIT_FATAL : FM_EXIT_OK;
    free(x), free(un), free(uo), free(t), free(acc), free(w), free(text), free(z);
    return rc;
}

int fm_nll_main(int argc, char **argv) {
    EvalConfig ec;
    FmTrainConfig tc;
    FmSetup su;
    float *w = NULL, *z = NULL;
    char path[4096] = "", *text = NULL;
    int rc = setup(&NLL_TABLE, &ec, argc, argv, &tc, &su, &w, path, sizeof path, &text);
    if (rc) return free(w), free(text), rc > 0 ? FM_EXIT_OK : FM_EXIT_USAGE;
    FmNllOpts o = {FM_SOLVER_RK4, ec.steps, ec.rtol, ec.atol, ec.t0 >= 0 ? ec.t0 : model_t_min(&su), su.t_max};
    rc = fm_solver_parse(&o.solver, ec.solver);
    int hutch = !strcmp(ec.divergence, "hutchinson");
    if (!rc && !hutch && strcmp(ec.divergence, "exact"))
        rc = fm_err_set("unknown --divergence '%s' (known: exact, hutchinson)", ec.divergence);
    if (!rc && hutch && o.solver == FM_SOLVER_DOPRI5)
        rc = fm_err_set("--divergence hutchinson needs a fixed-grid solver (its probes follow each row; dopri5 "
                        "reorders rows)");
    if (!rc && su.objective != FM_PRED_VELOCITY && o.t0 <= 0)
        rc = fm_err_set("--t0 0 with a %s model: its velocity is undefined at t = 0", tc.objective);
    /* --oracle: the data density must be known in closed form and finite (a usage error, found
     * before the model's NLL is computed) */
    float centres[16];
    size_t K = 0;
    double sigma = 0;
    if (!rc && ec.oracle && su.file)
        rc = fm_err_set("--oracle needs a toy data set with a closed-form density (8gaussians); this model was "
                        "trained on the file '%s'", tc.data_file);
    else if (!rc && ec.oracle && fm_toy_mixture(su.data, centres, 8, &K, &sigma))
        rc = fm_err_set("--oracle needs a data set with a closed-form density (known: 8gaussians, twopoint); "
                        "'%s' has none", tc.data);
    else if (!rc && ec.oracle && sigma <= 0)
        rc = fm_err_set("--oracle: '%s' is a set of atoms, it has no finite likelihood", tc.data);
    size_t N = 0;
    if (fm_dist_agree(rc) || load_points(&ec, &su, &tc, (size_t)ec.n, &z, &N))
        return free(w), free(text), free(z), FM_EXIT_USAGE;
    const size_t D = su.net.D, P = (size_t)fm_dist_size();
    const size_t lo = N * (size_t)fm_dist_rank() / P, hi = N * (size_t)(fm_dist_rank() + 1) / P, nl = hi - lo;
    FmNetField nf;
    fm_netfield_init(&nf, &su.net, w, su.objective, &su.sched, (size_t)ec.batch);
    nf.hutchinson = hutch, nf.probes = ec.probes, nf.seed = (uint64_t)ec.seed, nf.index0 = lo;
    double *nll = fm_calloc(N, sizeof *nll);
    long *nfe = fm_calloc(nl ? nl : 1, sizeof *nfe);
    double t_start = fm_now();
    rc = nl ? fm_nll(nll + lo, z + lo * D, nl, D, &o, fm_net_divfield, &nf, nfe) : 0;
    double wall = fm_dist_max_double(fm_now() - t_start);
    fm_netfield_free(&nf);
    /* the exact field of the data density: a Gaussian mixture (oracle.h), from t = 1 to 0 */
    double *nll_or = NULL, *nll_cf = NULL;
    if (!rc && ec.oracle) {
        FmOracle orc = {centres, K, D, su.sched, sigma};
        FmNllOpts oo = o;
        oo.t0 = 0, oo.t1 = 1;
        nll_or = fm_calloc(N, sizeof *nll_or), nll_cf = fm_calloc(N, sizeof *nll_cf);
        rc = nl ? fm_nll(nll_or + lo, z + lo * D, nl, D, &oo, fm_oracle_divfield, &orc, NULL) : 0;
        fm_oracle_logp(nll_cf + lo, z + lo * D, 1.0, nl, &orc);
        for (size_t i = lo; i < hi; i++) nll_cf[i] = -nll_cf[i];
        fm_dist_sum_doubles(nll_or, N);
        fm_dist_sum_doubles(nll_cf, N);
    }
    if (fm_dist_agree(rc)) return free(w), free(text), free(z), free(nll), free(nfe), free(nll_or), free(nll_cf), FM_EXIT_FATAL;
    double nf_sum[1] = {0};
    for (size_t i = 0; i < nl; i++) nf_sum[0] += (double)nfe[i];
    fm_dist_sum_doubles(nf_sum, 1);
    fm_dist_sum_doubles(nll, N); /* each rank filled its own rows, zeros elsewhere */
    rc = 0;
    if (fm_dist_rank() == 0) {
        double mean = 0, var = 0;
        for (size_t i = 0; i < N; i++) mean += nll[i];
        mean /= (double)N;
        for (size_t i = 0; i < N; i++) var += (nll[i] - mean) * (nll[i] - mean);
        double se = sqrt(var / (double)(N > 1 ? N - 1 : 1) / (double)N);
        /* bits/dim: the items of an 8-bit image file are pixels scaled to [-1, 1], so their NLL
         * converts to one over [0, 256)^D: fm_bits_per_dim, + 7 bits/dim (SPEC.md; exact for the
         * dequantized (k + u)/128 - 1, the points here are k/127.5 - 1: 0.006 bits/dim apart). Any
         * other points (float data, a --data-file matrix) are continuous: NLL/(D ln 2). */
        const int images = su.file && su.info.images && !ec.data_file[0];
        const double bpd = images ? fm_bits_per_dim(mean, D) : mean / ((double)D * log(2.0));
        const char *bpd_kind = images ? "8-bit images, NLL/(D ln 2) + 7" : "continuous data, NLL/(D ln 2)";
        FmOut *f = fm_out_create(ec.out, "fmtrain-nll", &(FmFileMeta){text, fm_dist_size(), tc.objective, tc.path, tc.data, tc.model});
        size_t dn[1] = {N}, dx[2] = {N, D};
        fm_out_doubles(f, "nll", 1, dn, nll);
        fm_out_floats(f, "x", 2, dx, z);
        fm_out_attr_f64(f, "mean_nll", mean);
        fm_out_attr_f64(f, "se_nll", se);
        fm_out_attr_str(f, "solver", fm_solver_name(o.solver));
        fm_out_attr_f64(f, "nfe", nf_sum[0] / (double)N);
        fm_out_attr_str(f, "divergence", ec.divergence);
        fm_out_attr_i64(f, "probes", hutch ? ec.probes : 0);
        fm_out_attr_f64(f, "bits_per_dim", bpd);
        fm_out_attr_str(f, "bits_per_dim_of", bpd_kind);
        fm_out_attr_i64(f, "seed", ec.seed);
        fm_out_attr_i64(f, "steps", o.solver == FM_SOLVER_DOPRI5 ? 0 : ec.steps);
        fm_out_attr_f64(f, "t0", o.t0);
        fm_out_attr_f64(f, "t1", o.t1);
        fm_out_attr_str(f, "checkpoint", path);
        double mo = 0, mc = 0;
        if (nll_or) {
            for (size_t i = 0; i < N; i++) mo += nll_or[i] / (double)N, mc += nll_cf[i] / (double)N;
            fm_out_doubles(f, "nll_oracle", 1, dn, nll_or);
            fm_out_doubles(f, "nll_exact", 1, dn, nll_cf);
            fm_out_attr_f64(f, "mean_nll_oracle", mo);
            fm_out_attr_f64(f, "mean_nll_exact", mc);
        }
        rc = fm_out_close(f);
        if (!rc) {
            printf("nll: %zu points, mean %.4f +- %.4f nats (%.4f bits/dim for %s), %s divergence, %s, NFE %.1f, "
                   "%.2f s\n", N, mean, se, bpd, bpd_kind, ec.divergence, fm_solver_name(o.solver),
                   nf_sum[0] / (double)N, wall);
            if (nll_or)
                printf("exact field of the data density: mean %.4f nats (continuity equation), %.4f (closed form)\n",
                       mo, mc);
            printf("wrote %s\n", ec.out);
        }
    }
    rc = fm_dist_agree(rc) ? FM_EXIT_FATAL : FM_EXIT_OK;
    free(w), free(text), free(z), free(nll), free(nfe), free(nll_or), free(nll_cf);
    return rc;
}
