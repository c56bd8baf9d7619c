/* bench.c - `fmtrain bench`: the BLAS and compute ceilings of one model configuration.
 *
 * For the model given by --model and its options and --batch rows per step, on the
 * calling process (OMP_NUM_THREADS threads; under mpirun only rank 0 reports):
 *   gemm     the sgemm rate over exactly the GEMMs of one training step (same shapes, same
 *            transpose flags and leading dimensions as layers_tmpl.h and conv_tmpl.h, the U-Net's
 *            per sample on each thread as in training): the ceiling a step
 *            built on these GEMMs can reach;
 *   square   the sgemm rate at M = N = K = 1024, for reference;
 *   compute  the step without data, random draws or MPI: forward, loss, backward, clipping,
 *            AdamW and EMA, timed as the training loop runs them;
 *   optim    the gradient norm and AdamW + EMA alone (memory-bound for large models), and the
 *            share of the sgemm rate a step of these GEMMs and this pass could reach at best;
 *   floor    (MLP) the step with only its GEMMs and its optimizer's pass, run as the step runs
 *            them: on the network's own weights, gradient and activation buffers (so operands
 *            come from memory as in training, not hot from the cache as in `gemm`), the gradient
 *            zeroed first; no bias, SiLU, time embedding, loss or draws. The share of the sgemm
 *            rate this floor reaches is the most a training step can reach;
 *   sample   (MLP, --sample-batch N) the rate of the forward GEMMs of a sampling batch of N rows,
 *            run as the layers run them (fmtrain's AVX-512 tiles where the CPU has them), the
 *            ceiling of a sampler's network evaluations;
 *   peak     the cores' FMA peak (independent fused multiply-adds in the widest registers the CPU
 *            has, on every thread): no kernel computes faster, so a network's forward FLOPs at
 *            this rate bound its sampling (the U-Net's ceiling, whose convolutions are not sgemm).
 * Each figure is the median over 7 timed intervals of about --seconds/7 each, after a warm-up.
 * Lines "bench KEY VALUE" are for scripts/bench.py; FLOPs are GEMM FLOPs (2 per multiply-add). */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/commands.h"
#include "fm/common.h"
#include "fm/dist.h"
#include "fm/layers.h"
#include "fm/net.h"
#include "fm/optim.h"
#include "fm/rng.h"

typedef struct {
    char model[16], image[32], mult[64], figures[96];
    long D, width, depth, temb, channels, blocks, groups, batch, sample_batch;
    double seconds;
} BenchConfig;

#define F(field) offsetof(BenchConfig, field)
#define STR(field) FM_OPT_STRING, F(field), sizeof(((BenchConfig *)0)->field)
static const FmOption OPTS[] = {
    {"model", STR(model), "mlp", 0, 0, 0, "mlp or unet"},
    {"data-dim", FM_OPT_INT, F(D), 0, "2", 1, 1e6, 0, "mlp: data dimension D (2 for the toy sets, 784 for 28x28 images)"},
    {"width", FM_OPT_INT, F(width), 0, "256", 1, 65536, 0, "mlp: hidden width"},
    {"depth", FM_OPT_INT, F(depth), 0, "3", 1, 31, 0, "mlp: number of hidden layers"},
    {"image", STR(image), "1,28,28", 0, 0, 0, "unet: image shape C,H,W"},
    {"channels", FM_OPT_INT, F(channels), 0, "32", 1, 4096, 0, "unet: base channels"},
    {"mult", STR(mult), "1,2,2", 0, 0, 0, "unet: channel multiplier per level"},
    {"blocks", FM_OPT_INT, F(blocks), 0, "2", 1, 8, 0, "unet: residual blocks per level"},
    {"groups", FM_OPT_INT, F(groups), 0, "8", 1, 4096, 0, "unet: GroupNorm groups"},
    {"temb", FM_OPT_INT, F(temb), 0, "32", 2, 4096, 0, "time-embedding width (even)"},
    {"batch", FM_OPT_INT, F(batch), 0, "256", 1, 1e7, 0, "rows per step"},
    {"sample-batch", FM_OPT_INT, F(sample_batch), 0, "0", 0, 1e6, 0,
     "mlp: also the sgemm rate at the forward GEMMs of this many rows (a sampler's batch; 0: not measured)"},
    {"seconds", FM_OPT_DOUBLE, F(seconds), 0, "3", 0.1, 3600, 0, "measuring time per figure"},
    {"figures", STR(figures), "all", 0, 0, 0,
     "the figures to measure: all, or some of gemm,square,compute,optim,floor,sample,peak,comm (the sgemm "
     "reference gemm always)"},
};
#undef F
#undef STR
static const FmOptTable BENCH_OPTS = {
    "bench",
    "Measure the sgemm rate at the GEMM shapes of one training step of a model, and the step's\n"
    "compute alone (no data, no MPI): fmtrain bench --data-dim 2 --width 256 --depth 3 --batch 256,\n"
    "fmtrain bench --model unet --image 1,28,28 --channels 32 --mult 1,2,2 --batch 32",
    OPTS, sizeof OPTS / sizeof OPTS[0]};

typedef struct {
    const FmNet *net;
    size_t B;
    float *params, *grads, *m, *v, *ema, *x, *t, *target;
    float *A, *Bm, *C; /* GEMM operands, large enough for every shape (per thread for the U-Net) */
    size_t big;        /* floats in each of them per thread */
    size_t S;          /* rows of a sampling batch (0: none) */
    float *comm;       /* the allreduce's buffer (parameters + 2, zeros: sums stay finite), as train.c's
                        * (a swapping one where train.c's is: its pointer moves with each sum) */
    float *comm_mpi;   /* the same in plain memory: MPI_Allreduce itself */
    float *xsrc, *xdst; /* the exchange's private operand and result (comm's size) */
    float xval;         /* what the exchange writes: 0 and -0 in turn (stored, not a memset) */
    int polling;       /* a non-blocking sum is outstanding: poll it between GEMMs */
    FmNetActs acts;
    long step;
} Bench;

/* The MLP's GEMMs of one step (forward, then dW and dX per layer), as layers_tmpl.h issues them. */
static void gemm_step_mlp(Bench *b) {
    const FmMlp *n = &b->net->mlp;
    const int B = (int)b->B;
    for (size_t l = 0; l <= n->L; l++) {
        int NI = (int)(l ? n->H : n->D + n->E), NO = (int)(l < n->L ? n->H : n->D);
        const int nt = fm_gemm_small_begin((size_t)B, (size_t)NO, (size_t)NI); /* as the layers run them */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, NO, NI, 1, b->A, NI, b->Bm, NI, 1, b->C, NO);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, NO, NI, B, 1, b->A, NO, b->Bm, NI, 1, b->C, NI);
        if (l) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, NI, NO, 1, b->A, NO, b->Bm, NI, 1, b->C, NI);
        fm_gemm_small_end(nt);
        if (b->polling) fm_dist_isum_poll();
    }
}

/* The U-Net's convolution GEMMs of one step, as conv_tmpl.h issues them: per sample (spread over
 * the threads) the forward, the weight gradient and the input gradient (a "same" convolution's as
 * a GEMM of inner dimension Co K K, the others' as dcol = w^T dout); the small linear layers of
 * the time embedding are left out (their FLOPs are, too, in the GFLOP/s this is compared with:
 * under 0.1 %). */
static void gemm_step_unet(Bench *b) {
    const FmUnet *u = &b->net->unet;
    for (int k = 0; k < u->nops; k++) {
        const FmOp *op = &u->ops[k];
        if (op->kind != FM_OP_CONV) continue;
        const FmConvDims *d = &op->conv;
        const int Co = (int)d->Co, Ci = (int)d->Ci, KK = (int)(d->Ci * d->K * d->K), N = (int)(d->Ho * d->Wo);
        const int KKo = (int)(d->Co * d->K * d->K), same = d->stride == 1 && 2 * d->pad + 1 == d->K && d->K > 1;
        const int need_dx = op->in0 != 0;
        #pragma omp parallel for schedule(static) if (b->B > 1)
        for (size_t n = 0; n < b->B; n++) {
            const size_t o = (size_t)omp_get_thread_num() * b->big;
            float *A = b->A + o, *Bm = b->Bm + o, *C = b->C + o;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Co, N, KK, 1, A, KK, Bm, N, 1, C, N);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Co, KK, N, 1, A, N, Bm, N, 1, C, KK);
            if (need_dx && same)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Ci, N, KKo, 1, A, KKo, Bm, N, 1, C, N);
            else if (need_dx)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, KK, N, Co, 1, A, KK, Bm, N, 0, C, N);
        }
        if (b->polling) fm_dist_isum_poll();
    }
}

static void gemm_step(Bench *b) {
    if (b->net->kind == FM_MODEL_MLP) gemm_step_mlp(b);
    else gemm_step_unet(b);
}

static void gemm_square(Bench *b) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, 1, b->A, 1024, b->Bm, 1024, 0, b->C,
                1024);
}

/* Communication (under mpirun with 2 or more ranks): the gradient's allreduce alone (the
 * trainer's node-aware sum, and MPI_Allreduce on a plain buffer), after the
 * step's GEMMs, and overlapped with them (started first and polled after each layer's GEMMs, as
 * buckets reduced during the backward pass would be): how much of its time an overlap can hide.
 * Then the compute step four ways, side by side: each rank on its own (no synchronisation),
 * in the ranks' lockstep (a barrier after each step), followed by the trainer's sum, and on rank 0
 * alone while the others sleep (the base of weak scaling, in turn with the rest); and,
 * where the sums go through shared memory, the gradient's crossing between the cores (exchange). */
static void allreduce_step(Bench *b) { b->comm = fm_dist_sum_swap(b->comm, fm_net_table(b->net)->total + 2); }
static void mpi_allreduce_step(Bench *b) { fm_dist_sum_floats(b->comm_mpi, fm_net_table(b->net)->total + 2); }

static void gemm_then_allreduce(Bench *b) {
    gemm_step(b);
    allreduce_step(b);
}

static void gemm_overlap_allreduce(Bench *b) {
    fm_dist_isum_floats_start(b->comm, fm_net_table(b->net)->total + 2);
    b->polling = 1;
    gemm_step(b);
    b->polling = 0;
    fm_dist_isum_wait();
}

/* The training step's compute, as train.c runs it (clip 1, AdamW defaults, EMA 0.999). */
static void compute_step(Bench *b) {
    const FmNet *n = b->net;
    const FmParamTable *tab = fm_net_table(n);
    const size_t NP = tab->total;
    const double scale = 1.0 / ((double)b->B * (double)n->D);
    memset(b->grads, 0, NP * sizeof(float));
    fm_net_forward(n, b->params, &b->acts, b->x, b->t, b->B);
    fm_sqerr_f(b->acts.dout, b->acts.out, b->target, b->B * n->D, scale);
    fm_net_backward(n, b->params, b->grads, &b->acts, b->B);
    double g = fm_norm(b->grads, NP);
    const FmAdamW adam = {0.9, 0.999, 1e-8, 0};
    b->step++;
    fm_adamw_ema_step(b->params, b->m, b->v, b->ema, b->grads, g > 1.0 ? 1.0 / g : 1.0, tab, &adam, 1e-4, b->step,
                      0.999);
}

/* The compute step in the ranks' lockstep: each step ends in a barrier, the least any synchronous
 * data-parallel step waits (every rank needs every rank's gradient); then in the lockstep of the
 * gradient's sum as train.c runs it. */
static void lockstep_step(Bench *b) {
    compute_step(b);
    fm_dist_barrier();
}

static void summed_step(Bench *b) {
    compute_step(b);
    allreduce_step(b);
}

/* Rank 0's compute step while the other ranks sleep (rates: fm_dist_barrier_idle): one rank
 * alone on the machine, the base of weak scaling, timed in turn with the steps above. */
static void alone_step(Bench *b) {
    if (fm_dist_rank() == 0) compute_step(b);
}

/* The floor of any sum between two cores: each rank writes its slot (as the backward pass writes
 * the gradient), then, between barriers, adds the next local rank's slot to its own: the other
 * core's freshly written lines cross to this one, and this rank's next writes take them back.
 * The same with a private operand instead reads as many bytes from this core's own caches; the
 * difference of the two is the cost of bringing the gradient from the other core alone, which no
 * implementation of the sum avoids (barriers and additions cancel). */
static void exchange(Bench *b, const float *other) {
    const size_t n = fm_net_table(b->net)->total + 2;
    float *restrict own = b->comm, *restrict dst = b->xdst;
    const float v = b->xval;
    b->xval = -v;
    for (size_t i = 0; i < n; i++) own[i] = v;
    fm_dist_barrier();
    for (size_t i = 0; i < n; i++) dst[i] = own[i] + other[i];
    fm_dist_barrier();
}
static void exchange_peer(Bench *b) { exchange(b, fm_dist_peer_slot(b->comm)); }
static void exchange_private(Bench *b) { exchange(b, b->xsrc); }

/* The optimizer's pass alone, as in compute_step: the gradient norm and AdamW with EMA. It reads
 * the gradient twice and parameters, both moments and the EMA once, and writes those four:
 * 40 bytes per parameter, a memory-bound sweep for the large models. */
static void optim_step(Bench *b) {
    const FmParamTable *tab = fm_net_table(b->net);
    double g = fm_norm(b->grads, tab->total);
    const FmAdamW adam = {0.9, 0.999, 1e-8, 0};
    b->step++;
    fm_adamw_ema_step(b->params, b->m, b->v, b->ema, b->grads, g > 1.0 ? 1.0 / g : 1.0, tab, &adam, 1e-4, b->step,
                      0.999);
}

/* The MLP step's floor: its GEMMs on the network's own buffers, as layers_tmpl.h and mlp_tmpl.h
 * issue them (the gradient zeroed, each output zeroed before its beta = 1 GEMM), then the
 * optimizer's pass; everything else in the step is left out. */
static void floor_step(Bench *b) {
    const FmMlp *n = &b->net->mlp;
    const FmParamTable *tab = &n->table;
    FmMlpActs_f *a = &b->acts.mlp;
    const size_t B = b->B, H = n->H, L = n->L, DE = n->D + n->E;
    memset(b->grads, 0, tab->total * sizeof(float));
    const float *in = a->in;
    for (size_t l = 0; l < L; l++) {
        fm_linear_forward_f(a->a[l], in, l ? H : DE, b->params + tab->t[2 * l].off, NULL, B, l ? H : DE, H);
        in = a->h[l];
    }
    fm_linear_forward_f(a->out, in, H, b->params + tab->t[2 * L].off, NULL, B, H, n->D);
    fm_linear_backward_f(a->dh, b->grads + tab->t[2 * L].off, NULL, a->dout, a->h[L - 1], H,
                         b->params + tab->t[2 * L].off, B, H, n->D);
    for (size_t l = L; l-- > 0;)
        fm_linear_backward_f(l ? a->dh : NULL, b->grads + tab->t[2 * l].off, NULL, a->da, l ? a->h[l - 1] : a->in,
                             l ? H : DE, b->params + tab->t[2 * l].off, B, l ? H : DE, H);
    optim_step(b);
}

/* The FMA peak: 12 independent chains of fused multiply-adds (enough to cover the latency of two
 * FMA pipes), `iters` rounds; returns a sum of the chains so that the work is kept. FLOPs:
 * 2 x 12 x lanes x iters. */
#define PEAK_CHAINS 12
__attribute__((target("avx512f"))) static float fma_chains_avx512(long iters) {
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    __m512 a[PEAK_CHAINS];
    for (int j = 0; j < PEAK_CHAINS; j++) a[j] = _mm512_set1_ps((float)j);
    for (long i = 0; i < iters; i++) {
        #pragma GCC unroll 12 /* the chains in registers */
        for (int j = 0; j < PEAK_CHAINS; j++) a[j] = _mm512_fmadd_ps(a[j], m, c);
    }
    for (int j = 1; j < PEAK_CHAINS; j++) a[0] = _mm512_add_ps(a[0], a[j]);
    return _mm512_reduce_add_ps(a[0]);
}

__attribute__((target("avx2,fma"))) static float fma_chains_avx2(long iters) {
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    __m256 a[PEAK_CHAINS];
    for (int j = 0; j < PEAK_CHAINS; j++) a[j] = _mm256_set1_ps((float)j);
    for (long i = 0; i < iters; i++) {
        #pragma GCC unroll 12
        for (int j = 0; j < PEAK_CHAINS; j++) a[j] = _mm256_fmadd_ps(a[j], m, c);
    }
    float out[8];
    for (int j = 1; j < PEAK_CHAINS; j++) a[0] = _mm256_add_ps(a[0], a[j]);
    _mm256_storeu_ps(out, a[0]);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

/* FMA lanes of this CPU's widest registers: 16 (AVX-512), 8 (AVX2 + FMA), 0 (no peak measured). */
static int fma_lanes(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 16 : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 8 : 0;
}

#define PEAK_ITERS 65536L
static volatile float peak_sink;
static void peak_step(Bench *b) {
    (void)b;
    const int lanes = fma_lanes();
    #pragma omp parallel
    {
        const float v = lanes == 16 ? fma_chains_avx512(PEAK_ITERS) : fma_chains_avx2(PEAK_ITERS);
        if (v == 12345.0f) peak_sink = v; /* never true: keeps the result used */
    }
}

/* The forward GEMMs of one network evaluation of S rows (a sampler's batch), as the layers run
 * them (output zeroed, then the AVX-512 tiles where the CPU has them, else OpenBLAS). */
static void sample_gemm(Bench *b) {
    const FmMlp *n = &b->net->mlp;
    for (size_t l = 0; l <= n->L; l++) {
        const size_t NI = l ? n->H : n->D + n->E, NO = l < n->L ? n->H : n->D;
        fm_linear_forward_f(b->C, b->A, NI, b->Bm, NULL, b->S, NI, NO);
    }
}

/* The figures --figures can name; gemm, the reference of the others, is always measured. */
enum { GEMM, SQUARE, COMPUTE, OPTIM, FLOOR, SAMPLE, PEAK, COMM, NFIG };
static const char *const FIGURE_NAMES[NFIG] = {"gemm", "square", "compute", "optim", "floor", "sample", "peak", "comm"};

/* want[k] = 1 for each figure the comma-separated list names (every one for "all"). 0, or -1
 * (fm_err_set) for an unknown name. */
static int parse_figures(const char *list, int *want) {
    const int all = !strcmp(list, "all");
    for (int k = 0; k < NFIG; k++) want[k] = all || k == GEMM;
    for (const char *p = list; !all;) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        int k = 0;
        while (k < NFIG && !(strlen(FIGURE_NAMES[k]) == len && !strncmp(p, FIGURE_NAMES[k], len))) k++;
        if (k == NFIG)
            return fm_err_set("--figures: unknown figure '%.*s' (known: all, or some of "
                              "gemm,square,compute,optim,floor,sample,peak,comm)", (int)len, p);
        want[k] = 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* The network the options describe. 0 or -1 (fm_err_set). */
static int bench_net(FmNet *net, const BenchConfig *c) {
    memset(net, 0, sizeof *net);
    if (!strcmp(c->model, "mlp")) {
        net->kind = FM_MODEL_MLP;
        if (fm_mlp_init(&net->mlp, (size_t)c->D, (size_t)c->temb, (size_t)c->width, (size_t)c->depth)) return -1;
        net->D = net->mlp.D;
        return 0;
    }
    if (strcmp(c->model, "unet")) return fm_err_set("unknown --model '%s' (known: mlp, unet)", c->model);
    FmUnetShape sh = {.ch = (size_t)c->channels, .blocks = (size_t)c->blocks, .groups = (size_t)c->groups,
                      .E = (size_t)c->temb};
    if (sscanf(c->image, "%zu,%zu,%zu", &sh.C, &sh.H, &sh.W) != 3)
        return fm_err_set("--image '%s': expected C,H,W, e.g. 1,28,28", c->image);
    net->kind = FM_MODEL_UNET;
    if (fm_unet_parse_mult(sh.mult, &sh.levels, c->mult) || fm_unet_init(&net->unet, &sh)) return -1;
    net->D = net->unet.D;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*BenchFn)(Bench *);

/* Calls per second of each of the n functions fn[k], into r[k]: each is calibrated so that an
 * interval takes about `seconds`/7, then the 7 intervals of all of them run in turn (fn[0],
 * fn[1], ..., fn[0], ...), so that a slow phase of a shared machine weighs on every figure alike
 * and their ratios hold; the median interval of each. Every interval's time is the slowest
 * rank's, so all ranks run the same number of calls (fn may be collective). */
static void rates(const BenchFn *fn, int n, Bench *b, double seconds, double *r) {
    enum { K = 7 };
    long reps[10];
    double t[10][K];
    FM_CHECK(n <= 10, "bench: at most 10 figures at a time");
    for (int f = 0; f < n; f++) {
        reps[f] = 1;
        for (;;) { /* warm-up and calibration: an interval of reps calls takes about seconds/7 */
            double t0 = fm_now();
            for (long i = 0; i < reps[f]; i++) fn[f](b);
            double dt = fm_dist_max_double(fm_now() - t0);
            if (dt > seconds / (2 * K)) {
                reps[f] = (long)((double)reps[f] * (seconds / K) / dt) + 1;
                break;
            }
            reps[f] *= 2;
        }
    }
    for (int k = 0; k < K; k++)
        for (int f = 0; f < n; f++) {
            fm_dist_barrier();
            double t0 = fm_now();
            for (long i = 0; i < reps[f]; i++) fn[f](b);
            const double dt = fm_now() - t0;
            fm_dist_barrier_idle(); /* a rank done first sleeps (alone_step's idle ranks) */
            t[f][k] = (double)reps[f] / fm_dist_max_double(dt);
        }
    for (int f = 0; f < n; f++) {
        qsort(t[f], K, sizeof t[f][0], cmp_double);
        r[f] = t[f][K / 2];
    }
}

int fm_bench_main(int argc, char **argv) {
    BenchConfig cfg;
    int help = 0, rc = fm_opts_parse(&BENCH_OPTS, &cfg, argc, argv, &help);
    if (help) {
        if (fm_dist_rank() == 0) fm_opts_help(&BENCH_OPTS, stdout);
        return FM_EXIT_OK;
    }
    FmNet *net = fm_calloc(1, sizeof *net);
    int want[NFIG];
    if (!rc) rc = parse_figures(cfg.figures, want);
    if (!rc) rc = bench_net(net, &cfg);
    if (fm_dist_agree(rc)) return free(net), FM_EXIT_USAGE;

    Bench b = {.net = net, .B = (size_t)cfg.batch, .S = net->kind == FM_MODEL_MLP ? (size_t)cfg.sample_batch : 0};
    const size_t NP = fm_net_table(net)->total, B = b.B, D = net->D;
    const size_t threads = (size_t)omp_get_max_threads();
    size_t big = 1024 * 1024;
    if (net->kind == FM_MODEL_MLP) {
        const size_t widest = net->mlp.H > D + net->mlp.E ? net->mlp.H : D + net->mlp.E;
        if (B * widest > big) big = B * widest;
        if (widest * widest > big) big = widest * widest;
        if (b.S * widest > big) big = b.S * widest;
    } else {
        for (int k = 0; k < net->unet.nops; k++) {
            const FmConvDims *d = &net->unet.ops[k].conv;
            if (net->unet.ops[k].kind != FM_OP_CONV) continue;
            const size_t c = (d->Ci > d->Co ? d->Ci : d->Co) * d->K * d->K * (d->Ho * d->Wo > d->H * d->W ? d->Ho * d->Wo : d->H * d->W);
            if (c > big) big = c;
        }
    }
    const size_t per = net->kind == FM_MODEL_MLP ? 1 : threads; /* the U-Net's GEMMs run per thread */
    b.big = big;
    b.params = fm_malloc_floats(NP), b.grads = fm_malloc_floats(NP), b.m = fm_malloc_floats(NP);
    b.v = fm_malloc_floats(NP), b.ema = fm_malloc_floats(NP);
    b.x = fm_malloc_floats(B * D), b.t = fm_malloc_floats(B), b.target = fm_malloc_floats(B * D);
    b.A = fm_malloc_floats(big * per), b.Bm = fm_malloc_floats(big * per), b.C = fm_malloc_floats(big * per);
    b.comm = fm_dist_swap_buffer(NP + 2), b.comm_mpi = fm_malloc_floats(NP + 2);
    b.xsrc = fm_malloc_floats(NP + 2), b.xdst = fm_malloc_floats(NP + 2);
    if (!b.comm) b.comm = fm_dist_sum_buffer(NP + 2);
    fm_net_init_params(net, b.params, 1);
    memcpy(b.ema, b.params, NP * sizeof(float));
    fm_net_acts_init(&b.acts, net, B);
    FmStream s;
    fm_stream_init(&s, 1, 0, 0, FM_RNG_NOISE);
    for (size_t i = 0; i < B * D; i++) b.x[i] = (float)fm_stream_normal(&s), b.target[i] = (float)fm_stream_normal(&s);
    for (size_t i = 0; i < B; i++) b.t[i] = (float)fm_stream_uniform(&s);
    for (size_t i = 0; i < big * per; i++)
        b.A[i] = (float)(fm_stream_uniform(&s) - 0.5), b.Bm[i] = (float)(fm_stream_uniform(&s) - 0.5);

    /* one step before any figure: the activation buffers then hold a step's values, written, as in
     * training (untouched, they are zero pages, which the floor's GEMMs read slower) */
    compute_step(&b);

    const double flops = fm_net_flops(net, B), sq = 2.0 * 1024 * 1024 * 1024;
    const int mlp = net->kind == FM_MODEL_MLP, ranks = fm_dist_size();
    /* the figures asked for (and that apply here), measured in turn */
    const BenchFn ALL[COMM] = {gemm_step, gemm_square, compute_step, optim_step, floor_step, sample_gemm, peak_step};
    int nf = 0, at[COMM];
    BenchFn fns[COMM];
    for (int k = 0; k < COMM; k++) {
        if ((k == FLOOR && !mlp) || (k == SAMPLE && !b.S) || (k == PEAK && !fma_lanes())) want[k] = 0;
        at[k] = want[k] ? nf : -1;
        if (want[k]) fns[nf++] = ALL[k];
    }
    double r[COMM];
    rates(fns, nf, &b, cfg.seconds, r);
#define FIG(k) (want[k] ? r[at[k]] : 0)
    const double g = FIG(GEMM), q = FIG(SQUARE), c = FIG(COMPUTE), o = FIG(OPTIM), fl = FIG(FLOOR), sg = FIG(SAMPLE);
    const double pk = FIG(PEAK);
#undef FIG
    double ar = 0, mpi = 0, seq = 0, ovl = 0, free_c = 0, lock = 0, summed = 0, alone = 0, xpeer = 0, xpriv = 0;
    if (ranks > 1 && want[COMM]) {
        /* the non-blocking sum must sum: rank r contributes r + 1 to every value */
        for (size_t i = 0; i < NP + 2; i++) b.comm[i] = (float)(fm_dist_rank() + 1);
        fm_dist_isum_floats_start(b.comm, NP + 2);
        fm_dist_isum_wait();
        const float want_sum = (float)(ranks * (ranks + 1) / 2);
        for (size_t i = 0; i < NP + 2; i++)
            FM_CHECK(b.comm[i] == want_sum, "bench: the non-blocking allreduce gave %g at %zu, not %g", b.comm[i], i,
                     want_sum);
        /* and so must the node-aware one */
        allreduce_step(&b);
        for (size_t i = 0; i < NP + 2; i++)
            FM_CHECK(b.comm[i] == want_sum * (float)ranks, "bench: the node-aware sum gave %g at %zu, not %g", b.comm[i],
                     i, want_sum * (float)ranks);
        memset(b.comm, 0, (NP + 2) * sizeof(float));
        memset(b.xsrc, 0, (NP + 2) * sizeof(float));
        const int peer = fm_dist_peer_slot(b.comm) != NULL; /* the sums are node-aware */
        const BenchFn comm[] = {allreduce_step, mpi_allreduce_step, gemm_then_allreduce, gemm_overlap_allreduce,
                                compute_step, lockstep_step, summed_step, alone_step, exchange_peer, exchange_private};
        double rc[10];
        rates(comm, peer ? 10 : 8, &b, cfg.seconds, rc);
        ar = rc[0], mpi = rc[1], seq = rc[2], ovl = rc[3], free_c = rc[4], lock = rc[5], summed = rc[6], alone = rc[7];
        if (peer) xpeer = rc[8], xpriv = rc[9];
    }
    if (fm_dist_rank() == 0) {
        char arch[256];
        fm_net_describe(net, arch, sizeof arch);
        printf("model %s: %zu parameters; batch %zu: %.4g GEMM FLOPs per step\n", arch, NP, B, flops);
        printf("bench params %zu\nbench flops_per_step %.6g\n", NP, flops);
        printf("bench gemm_gflops %.3f\n", g * flops / 1e9);
        if (want[SQUARE]) printf("bench square_gflops %.3f\n", q * sq / 1e9);
        if (want[COMPUTE]) printf("bench compute_steps_per_s %.3f\nbench compute_gflops %.3f\n", c, c * flops / 1e9);
        printf("bench act_mb %.3f\n", fm_net_act_bytes(net, B) / 1e6);
        /* the optimizer's pass, and the share of the sgemm rate a step could reach if everything
         * but the GEMMs and this pass took no time: t_gemm / (t_gemm + t_optim) */
        if (want[OPTIM]) {
            printf("bench optim_ms %.4f\nbench optim_gbs %.3f\n", 1e3 / o, 40.0 * (double)NP * o / 1e9);
            printf("bench gemm_optim_bound %.4f\n", (1 / g) / (1 / g + 1 / o));
        }
        if (want[FLOOR]) /* the floor's time against the GEMMs' at sgemm's rate: the most a step can reach */
            printf("bench floor_ms %.4f\nbench floor_bound %.4f\n", 1e3 / fl, fl / g);
        if (want[SAMPLE] || want[PEAK]) /* as defined, and as the kernels in use execute them */
            printf("bench sample_flops_per_eval %.6g\nbench sample_exec_flops_per_eval %.6g\n", fm_net_forward_flops(net, 1),
                   fm_net_forward_exec_flops(net, 1));
        if (want[SAMPLE])
            printf("bench sample_gemm_gflops %.3f\n", sg * fm_net_forward_flops(net, 1) * (double)b.S / 1e9);
        if (want[PEAK])
            printf("bench peak_gflops %.3f\nbench peak_lanes %d\n",
                   pk * (double)threads * 2.0 * PEAK_CHAINS * fma_lanes() * (double)PEAK_ITERS / 1e9, fma_lanes());
        if (ranks > 1 && want[COMM]) {
            /* hidden: the share of the allreduce's own time that running it beside the GEMMs saves */
            printf("bench ranks %d\nbench node_ranks %d\nbench allreduce_ms %.4f\nbench mpi_allreduce_ms %.4f\n", ranks,
                   fm_dist_node_ranks(b.comm), 1e3 / ar, 1e3 / mpi);
            printf("bench gemm_ms %.4f\n", 1e3 / g);
            printf("bench gemm_then_allreduce_ms %.4f\nbench gemm_overlap_allreduce_ms %.4f\n", 1e3 / seq, 1e3 / ovl);
            printf("bench overlap_hidden %.4f\n", (1 / seq - 1 / ovl) / (1 / ar));
            printf("bench unsynced_steps_per_s %.3f\nbench lockstep_steps_per_s %.3f\nbench summed_steps_per_s %.3f\n",
                   free_c, lock, summed);
            printf("bench alone_steps_per_s %.3f\n", alone);
            if (xpeer > 0) /* may come out below 0 where the caches' noise exceeds it */
                printf("bench exchange_ms %.4f\n", 1e3 / xpeer - 1e3 / xpriv);
        }
    }
    free(b.params), free(b.grads), free(b.m), free(b.v), free(b.ema), free(b.x), free(b.t), free(b.target);
    free(b.A), free(b.Bm), free(b.C), free(b.comm_mpi), free(b.xsrc), free(b.xdst);
    fm_dist_sum_buffer_free(b.comm);
    fm_net_acts_free(&b.acts);
    free(net);
    return FM_EXIT_OK;
}
