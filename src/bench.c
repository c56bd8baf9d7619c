/* bench.c - `fmtrain bench`: the BLAS and compute ceilings of one MLP configuration.
 *
 * For the model given by --data-dim/--width/--depth/--temb and --batch rows per step, on the
 * calling process (OMP_NUM_THREADS threads; under mpirun only rank 0 reports):
 *   gemm     the sgemm rate over exactly the GEMMs of one training step (same shapes, same
 *            transpose flags and leading dimensions as layers_tmpl.h): the ceiling a step
 *            built on these GEMMs can reach;
 *   square   the sgemm rate at M = N = K = 1024, for reference;
 *   compute  the step without data, random draws or MPI: forward, loss, backward, clipping,
 *            AdamW and EMA, timed as the training loop runs them.
 * Each figure is the median over 7 timed intervals of about --seconds/7 each, after a warm-up.
 * Lines "bench KEY VALUE" are for scripts/bench.py; FLOPs are GEMM FLOPs (2 per multiply-add). */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/commands.h"
#include "fm/common.h"
#include "fm/dist.h"
#include "fm/layers.h"
#include "fm/model.h"
#include "fm/optim.h"
#include "fm/rng.h"

typedef struct {
    long D, width, depth, temb, batch;
    double seconds;
} BenchConfig;

#define F(field) offsetof(BenchConfig, field)
static const FmOption OPTS[] = {
    {"data-dim", FM_OPT_INT, F(D), 0, "2", 1, 1e6, 0, "data dimension D (2 for the toy sets, 784 for 28x28 images)"},
    {"width", FM_OPT_INT, F(width), 0, "256", 1, 65536, 0, "hidden width of the MLP"},
    {"depth", FM_OPT_INT, F(depth), 0, "3", 1, 31, 0, "number of hidden layers"},
    {"temb", FM_OPT_INT, F(temb), 0, "32", 2, 4096, 0, "time-embedding width (even)"},
    {"batch", FM_OPT_INT, F(batch), 0, "256", 1, 1e7, 0, "rows per step"},
    {"seconds", FM_OPT_DOUBLE, F(seconds), 0, "3", 0.1, 3600, 0, "measuring time per figure"},
};
#undef F
static const FmOptTable BENCH_OPTS = {
    "bench",
    "Measure the sgemm rate at the GEMM shapes of one training step of an MLP, and the step's\n"
    "compute alone (no data, no MPI): fmtrain bench --data-dim 2 --width 256 --depth 3 --batch 256",
    OPTS, sizeof OPTS / sizeof OPTS[0]};

typedef struct {
    const FmMlp *net;
    size_t B;
    float *params, *grads, *m, *v, *ema, *x, *t, *target;
    float *A, *Bm, *C; /* GEMM operands, large enough for every shape */
    FmMlpActs_f acts;
    long step;
} Bench;

/* The GEMMs of one step (forward, then dW and dX per layer), as layers_tmpl.h issues them. */
static void gemm_step(Bench *b) {
    const FmMlp *n = b->net;
    const int B = (int)b->B;
    for (size_t l = 0; l <= n->L; l++) {
        int NI = (int)(l ? n->H : n->D + n->E), NO = (int)(l < n->L ? n->H : n->D);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, NO, NI, 1, b->A, NI, b->Bm, NI, 1, b->C, NO);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, NO, NI, B, 1, b->A, NO, b->Bm, NI, 1, b->C, NI);
        if (l) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, NI, NO, 1, b->A, NO, b->Bm, NI, 0, b->C, NI);
    }
}

static void gemm_square(Bench *b) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, 1, b->A, 1024, b->Bm, 1024, 0, b->C,
                1024);
}

/* The training step's compute, as train.c runs it (clip 1, AdamW defaults, EMA 0.999). */
static void compute_step(Bench *b) {
    const FmMlp *n = b->net;
    const size_t NP = n->table.total;
    const double scale = 1.0 / ((double)b->B * (double)n->D);
    memset(b->grads, 0, NP * sizeof(float));
    fm_mlp_forward_f(n, b->params, &b->acts, b->x, b->t, b->B);
    fm_sqerr_f(b->acts.dout, b->acts.out, b->target, b->B * n->D, scale);
    fm_mlp_backward_f(n, b->params, b->grads, &b->acts, b->B);
    double g = fm_norm(b->grads, NP);
    const FmAdamW adam = {0.9, 0.999, 1e-8, 0};
    b->step++;
    fm_adamw_ema_step(b->params, b->m, b->v, b->ema, b->grads, g > 1.0 ? 1.0 / g : 1.0, &n->table, &adam, 1e-4,
                      b->step, 0.999);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Calls per second of fn: median over 7 intervals of about `seconds`/7, after a warm-up. */
static double rate(void (*fn)(Bench *), Bench *b, double seconds) {
    long reps = 1;
    for (;;) { /* warm-up and calibration: an interval of reps calls takes about seconds/7 */
        double t0 = fm_now();
        for (long r = 0; r < reps; r++) fn(b);
        double dt = fm_now() - t0;
        if (dt > seconds / 14) {
            reps = (long)((double)reps * (seconds / 7) / dt) + 1;
            break;
        }
        reps *= 2;
    }
    double r[7];
    for (int k = 0; k < 7; k++) {
        double t0 = fm_now();
        for (long i = 0; i < reps; i++) fn(b);
        r[k] = (double)reps / (fm_now() - t0);
    }
    qsort(r, 7, sizeof r[0], cmp_double);
    return r[3];
}

int fm_bench_main(int argc, char **argv) {
    BenchConfig cfg;
    int help = 0, rc = fm_opts_parse(&BENCH_OPTS, &cfg, argc, argv, &help);
    if (help) {
        if (fm_dist_rank() == 0) fm_opts_help(&BENCH_OPTS, stdout);
        return FM_EXIT_OK;
    }
    FmMlp net;
    if (!rc) rc = fm_mlp_init(&net, (size_t)cfg.D, (size_t)cfg.temb, (size_t)cfg.width, (size_t)cfg.depth);
    if (fm_dist_agree(rc)) return FM_EXIT_USAGE;

    Bench b = {.net = &net, .B = (size_t)cfg.batch};
    const size_t NP = net.table.total, B = b.B, D = net.D;
    size_t big = 1024 * 1024, widest = net.H > D + net.E ? net.H : D + net.E;
    if (B * widest > big) big = B * widest;
    if (widest * widest > big) big = widest * widest;
    b.params = fm_malloc_floats(NP), b.grads = fm_malloc_floats(NP), b.m = fm_malloc_floats(NP);
    b.v = fm_malloc_floats(NP), b.ema = fm_malloc_floats(NP);
    b.x = fm_malloc_floats(B * D), b.t = fm_malloc_floats(B), b.target = fm_malloc_floats(B * D);
    b.A = fm_malloc_floats(big), b.Bm = fm_malloc_floats(big), b.C = fm_malloc_floats(big);
    fm_mlp_init_params(&net, b.params, 1);
    memcpy(b.ema, b.params, NP * sizeof(float));
    fm_mlp_acts_init_f(&b.acts, &net, B);
    FmStream s;
    fm_stream_init(&s, 1, 0, 0, FM_RNG_NOISE);
    for (size_t i = 0; i < B * D; i++) b.x[i] = (float)fm_stream_normal(&s), b.target[i] = (float)fm_stream_normal(&s);
    for (size_t i = 0; i < B; i++) b.t[i] = (float)fm_stream_uniform(&s);
    for (size_t i = 0; i < big; i++) b.A[i] = (float)(fm_stream_uniform(&s) - 0.5), b.Bm[i] = (float)(fm_stream_uniform(&s) - 0.5);

    const double flops = fm_mlp_flops(&net, B), sq = 2.0 * 1024 * 1024 * 1024;
    const double g = rate(gemm_step, &b, cfg.seconds), q = rate(gemm_square, &b, cfg.seconds);
    const double c = rate(compute_step, &b, cfg.seconds);
    if (fm_dist_rank() == 0) {
        printf("model: D %ld, width %ld, depth %ld, temb %ld: %zu parameters; batch %zu: %.4g GEMM FLOPs per step\n",
               cfg.D, cfg.width, cfg.depth, cfg.temb, NP, B, flops);
        printf("bench params %zu\nbench flops_per_step %.6g\n", NP, flops);
        printf("bench gemm_gflops %.3f\nbench square_gflops %.3f\n", g * flops / 1e9, q * sq / 1e9);
        printf("bench compute_steps_per_s %.3f\nbench compute_gflops %.3f\n", c, c * flops / 1e9);
    }
    free(b.params), free(b.grads), free(b.m), free(b.v), free(b.ema), free(b.x), free(b.t), free(b.target);
    free(b.A), free(b.Bm), free(b.C);
    fm_mlp_acts_free_f(&b.acts);
    return FM_EXIT_OK;
}
