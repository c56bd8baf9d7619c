/* test_unet.c - the U-Net's layers (conv.h) and the whole network (unet.h) against central
 * finite differences in double precision (the same template code that trains in float), the
 * float build against the double one, and 2 threads against 1.
 * Error metric: |analytic - numeric| / max(1, |numeric|); h = 1e-6. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/conv.h"
#include "fm/layers.h"
#include "fm/rng.h"
#include "fm/unet.h"
#include "testutil.h"

static FmStream g_s;
static void fill(double *v, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) v[i] = scale * fm_stream_normal(&g_s);
}
static double *dalloc(size_t n) { return calloc(n ? n : 1, sizeof(double)); }
static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
static double relerr(double a, double n) { return fabs(a - n) / fmax(1.0, fabs(n)); }
static const double H_FD = 1e-6, TOL = 1e-7;

/* ---------------------------------------------------------------- one layer at a time
 * A layer under test: its forward into `out`, its inputs/parameters as perturbable arrays, and its
 * backward accumulating into gradient arrays. L = <g, out> for a fixed random g. */
typedef struct {
    double *x[4], *dx[4]; /* the arrays perturbed and their analytic gradients */
    size_t n[4];
    int count;
    size_t nout;
    void (*forward)(void *ctx, double *out);
    void (*backward)(void *ctx, const double *g); /* accumulates into dx[] */
    void *ctx;
} Layer;

static double layer_loss(Layer *l, const double *g, double *out) {
    l->forward(l->ctx, out);
    return dot(out, g, l->nout);
}

/* Checks every gradient entry by central differences, and that backward adds to what the
 * gradient arrays held before (they start from random values here). Returns the worst error. */
static double check_layer_h(Layer *l, const char *name, double h) {
    double *g = dalloc(l->nout), *out = dalloc(l->nout), *before[4];
    fill(g, l->nout, 1);
    for (int s = 0; s < l->count; s++) {
        before[s] = dalloc(l->n[s]);
        fill(l->dx[s], l->n[s], 1);
        memcpy(before[s], l->dx[s], l->n[s] * sizeof(double));
    }
    l->forward(l->ctx, out);
    l->backward(l->ctx, g);
    double worst = 0;
    for (int s = 0; s < l->count; s++)
        for (size_t k = 0; k < l->n[s]; k++) {
            double keep = l->x[s][k];
            l->x[s][k] = keep + h;
            double lp = layer_loss(l, g, out);
            l->x[s][k] = keep - h;
            double lm = layer_loss(l, g, out);
            l->x[s][k] = keep;
            worst = fmax(worst, relerr(l->dx[s][k] - before[s][k], (lp - lm) / (2 * h)));
        }
    T_CHECK(worst < TOL, "%s: worst FD error %.3g", name, worst);
    printf("%-34s worst FD rel. error %.2e\n", name, worst);
    for (int s = 0; s < l->count; s++) free(before[s]);
    free(g), free(out);
    return worst;
}
static double check_layer(Layer *l, const char *name) { return check_layer_h(l, name, H_FD); }

typedef struct {
    FmConvDims d;
    size_t B;
    double *in, *w, *b, *din, *dw, *db, *scratch;
} ConvCtx;
static void conv_fwd(void *c, double *out) {
    ConvCtx *x = c;
    fm_conv2d_forward_d(out, x->in, x->w, x->b, x->scratch, x->B, &x->d, 0);
}
static void conv_bwd(void *c, const double *g) {
    ConvCtx *x = c;
    fm_conv2d_backward_d(x->din, x->dw, x->db, g, x->in, x->w, x->scratch, x->B, &x->d);
}

static void test_conv(size_t Ci, size_t H, size_t W, size_t Co, size_t K, size_t stride, size_t pad) {
    ConvCtx c = {.B = 3};
    T_CHECK(fm_conv_dims(&c.d, Ci, H, W, Co, K, stride, pad) == 0, "conv dims");
    const size_t nin = c.B * Ci * H * W, nw = Co * Ci * K * K, nout = c.B * Co * c.d.Ho * c.d.Wo;
    c.in = dalloc(nin), c.din = dalloc(nin), c.w = dalloc(nw), c.dw = dalloc(nw), c.b = dalloc(Co), c.db = dalloc(Co);
    c.scratch = dalloc(fm_conv_scratch(&c.d, (size_t)omp_get_max_threads()));
    fill(c.in, nin, 1), fill(c.w, nw, 0.5), fill(c.b, Co, 0.5);
    Layer l = {{c.in, c.w, c.b}, {c.din, c.dw, c.db}, {nin, nw, Co}, 3, nout, conv_fwd, conv_bwd, &c};
    char name[96];
    snprintf(name, sizeof name, "conv %zux%zu s%zu p%zu %zu->%zu on %zux%zu", K, K, stride, pad, Ci, Co, H, W);
    /* L is linear in each value: central differences are exact but for rounding, which a larger
     * step keeps small on the larger images (whose loss sums thousands of products) */
    check_layer_h(&l, name, 1e-3);
    /* against a direct sum, on one output value per sample and channel corner */
    double *out = dalloc(nout);
    conv_fwd(&c, out);
    double worst = 0;
    for (size_t n = 0; n < c.B; n++)
        for (size_t co = 0; co < Co; co++)
            for (size_t ho = 0; ho < c.d.Ho; ho++)
                for (size_t wo = 0; wo < c.d.Wo; wo++) {
                    double s = c.b[co];
                    for (size_t ci = 0; ci < Ci; ci++)
                        for (size_t i = 0; i < K; i++)
                            for (size_t j = 0; j < K; j++) {
                                long hi = (long)(ho * stride + i) - (long)pad, wi = (long)(wo * stride + j) - (long)pad;
                                if (hi < 0 || wi < 0 || hi >= (long)H || wi >= (long)W) continue;
                                s += c.w[((co * Ci + ci) * K + i) * K + j] * c.in[((n * Ci + ci) * H + (size_t)hi) * W + (size_t)wi];
                            }
                    worst = fmax(worst, fabs(s - out[((n * Co + co) * c.d.Ho + ho) * c.d.Wo + wo]));
                }
    T_CHECK(worst < 1e-12, "%s: differs from the direct sum by %.3g", name, worst);
    free(out), free(c.in), free(c.din), free(c.w), free(c.dw), free(c.b), free(c.db), free(c.scratch);
}

/* The float convolution (direct kernels at the given level where they apply, else im2col + GEMM) against
 * the double one, on the values, the input and both parameter gradients; with accumulate. */
static float *falloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }
static double rel_worst(const float *f, const double *d, size_t n) {
    double scale = 0, w = 0;
    for (size_t k = 0; k < n; k++) scale = fmax(scale, fabs(d[k]));
    for (size_t k = 0; k < n; k++) w = fmax(w, fabs((double)f[k] - d[k]));
    return w / (scale > 0 ? scale : 1);
}
static void test_conv_float(size_t B, size_t Ci, size_t H, size_t W, size_t Co, size_t K, int level, int wino) {
    FmConvDims d;
    T_CHECK(fm_conv_dims(&d, Ci, H, W, Co, K, 1, (K - 1) / 2) == 0, "conv dims");
    const int was = fm_conv_direct_enable(level), direct = fm_conv_direct_available(), wino_was = fm_conv_winograd_enable(wino);
    /* the forward on Winograd's F(4 x 4, 3 x 3) (src/conv_winograd.c) where it applies */
    const int wg = K == 3 && Co % 8 == 0 && Ci >= 8 && fm_conv_winograd_available();
    const size_t nin = B * Ci * H * W, nw = Co * Ci * K * K, nout = B * Co * H * W, th = (size_t)omp_get_max_threads();
    double *in = dalloc(nin), *w = dalloc(nw), *b = dalloc(Co), *g = dalloc(nout), *out = dalloc(nout), *din = dalloc(nin),
           *dw = dalloc(nw), *db = dalloc(Co), *sd = dalloc(fm_conv_scratch(&d, th));
    float *fin = falloc(nin), *fw = falloc(nw), *fb = falloc(Co), *fg = falloc(nout), *fout = falloc(nout),
          *fdin = falloc(nin), *fdw = falloc(nw), *fdb = falloc(Co), *sf = falloc(fm_conv_scratch(&d, th));
    fill(in, nin, 1), fill(w, nw, 0.5), fill(b, Co, 0.5), fill(g, nout, 1);
    /* the double reference computes on the float values */
    for (size_t k = 0; k < nin; k++) fin[k] = (float)in[k], in[k] = fin[k];
    for (size_t k = 0; k < nw; k++) fw[k] = (float)w[k], w[k] = fw[k];
    for (size_t k = 0; k < Co; k++) fb[k] = (float)b[k], b[k] = fb[k];
    for (size_t k = 0; k < nout; k++) fg[k] = (float)g[k], g[k] = fg[k];
    for (size_t k = 0; k < nout; k++) out[k] = fout[k] = (float)(k % 7) - 3; /* accumulate onto this */
    for (size_t k = 0; k < nin; k++) din[k] = fdin[k] = (float)(k % 5) - 2;
    fm_conv2d_forward_d(out, in, w, b, sd, B, &d, 1);
    fm_conv2d_forward_f(fout, fin, fw, fb, sf, B, &d, 1);
    fm_conv2d_backward_d(din, dw, db, g, in, w, sd, B, &d);
    fm_conv2d_backward_f(fdin, fdw, fdb, fg, fin, fw, sf, B, &d);
    const double eo = rel_worst(fout, out, nout), ei = rel_worst(fdin, din, nin), ew = rel_worst(fdw, dw, nw),
                 eb = rel_worst(fdb, db, Co);
    const double worst = fmax(fmax(eo, ei), fmax(ew, eb));
    /* which kernels run (conv_direct.c): 3 x 3 direct at either level where the channels allow;
     * 1 x 1 forward direct with AVX-512 */
    const int fwd = Co % 8 == 0 && (K == 3 ? direct : direct >= FM_CONV_DIRECT_AVX512);
    const int bwd = K == 3 && direct && Ci % 8 == 0, wgt = K == 3 && direct && Co % 8 == 0;
    const char *name = fm_conv_direct_name(direct);
    T_CHECK(level == 0 || direct == level, "direct level %d in use, %d asked", direct, level);
    T_CHECK(!wino || level < FM_CONV_DIRECT_AVX512 || fm_conv_winograd_available(), "Winograd asked, not in use");
    T_CHECK(worst < 1e-5, "float conv %zux%zu %zu->%zu on %zux%zu, B %zu, %d threads (direct %s%s): worst error %.3g relative to the largest value",
            K, K, Ci, Co, H, W, B, (int)th, name, wg ? ", Winograd" : "", worst);
    printf("float conv %zux%zu %3zu->%-3zu %2zux%-2zu B %2zu, %zu th (%s fwd, %s din, %s dw): out %.1e, din %.1e, dw %.1e, db %.1e\n",
           K, K, Ci, Co, H, W, B, th, wg ? "Winograd" : fwd ? name : "GEMM", bwd ? name : "GEMM", wgt ? name : "GEMM", eo, ei,
           ew, eb);
    fm_conv_direct_enable(was);
    fm_conv_winograd_enable(wino_was);
    free(in), free(w), free(b), free(g), free(out), free(din), free(dw), free(db), free(sd);
    free(fin), free(fw), free(fb), free(fg), free(fout), free(fdin), free(fdw), free(fdb), free(sf);
}

/* fm_conv2d_forward_fused (a convolution and the U-Net's in-place ADDCH or ADD after it, in one
 * pass where Winograd runs) against the separate ops: the same floats, bit for bit */
static void test_conv_fused(size_t B, size_t Ci, size_t H, size_t W, size_t Co, size_t K) {
    FmConvDims d;
    T_CHECK(fm_conv_dims(&d, Ci, H, W, Co, K, 1, (K - 1) / 2) == 0, "conv dims");
    const size_t nin = B * Ci * H * W, nw = Co * Ci * K * K, nout = B * Co * H * W, th = (size_t)omp_get_max_threads();
    float *in = falloc(nin), *w = falloc(nw), *b = falloc(Co), *v = falloc(B * Co), *add = falloc(nout),
          *ref = falloc(nout), *got = falloc(nout), *sc = falloc(fm_conv_scratch(&d, th));
    for (size_t k = 0; k < nin; k++) in[k] = (float)fm_stream_normal(&g_s);
    for (size_t k = 0; k < nw; k++) w[k] = 0.3f * (float)fm_stream_normal(&g_s);
    for (size_t k = 0; k < Co; k++) b[k] = (float)fm_stream_normal(&g_s);
    for (size_t k = 0; k < B * Co; k++) v[k] = (float)fm_stream_normal(&g_s);
    for (size_t k = 0; k < nout; k++) add[k] = (float)fm_stream_normal(&g_s);
    const char *what[3] = {"+ v per sample and channel", "+ a tensor", "accumulated onto out"};
    for (int m = 0; m < 3; m++) {
        fm_conv2d_forward_f(ref, in, w, b, sc, B, &d, 0);
        if (m == 0) fm_addch_forward_f(ref, ref, v, B, Co, H * W);
        if (m == 1) fm_add_forward_f(ref, ref, add, nout);
        if (m == 2) { /* out + conv, the ADD's order, onto a copy of add */
            float *o = falloc(nout);
            memcpy(o, add, nout * sizeof(float));
            fm_add_forward_f(ref, o, ref, nout);
            free(o);
        }
        memcpy(got, add, nout * sizeof(float));
        fm_conv2d_forward_fused_f(got, in, w, b, m == 0 ? v : NULL, m == 1 ? add : m == 2 ? got : NULL, sc, B, &d, NULL);
        size_t diff = 0;
        for (size_t k = 0; k < nout; k++) diff += memcmp(&got[k], &ref[k], sizeof(float)) != 0;
        T_CHECK(diff == 0, "fused conv %zux%zu %zu->%zu on %zux%zu, B %zu (%s): %zu of %zu values differ from the separate ops'",
                K, K, Ci, Co, H, W, B, what[m], diff, nout);
        printf("fused conv %zux%zu %3zu->%-3zu %2zux%-2zu B %2zu %s (%s): %zu of %zu values differ\n", K, K, Ci, Co, H, W, B,
               what[m], K == 3 && fm_conv_winograd_available() && Ci >= 8 && Co % 8 == 0 ? "Winograd" : "separate",
               diff, nout);
    }
    free(in), free(w), free(b), free(v), free(add), free(ref), free(got), free(sc);
}

typedef struct {
    size_t B, C, HW, G;
    double *in, *gamma, *beta, *din, *dgamma, *dbeta, *mean, *rstd, *work;
} GnCtx;
static void gn_fwd(void *c, double *out) {
    GnCtx *x = c;
    fm_groupnorm_forward_d(out, x->mean, x->rstd, x->in, x->gamma, x->beta, x->B, x->C, x->HW, x->G, 1e-5);
}
static void gn_bwd(void *c, const double *g) {
    GnCtx *x = c;
    fm_groupnorm_backward_d(x->din, x->dgamma, x->dbeta, g, x->in, x->mean, x->rstd, x->gamma, x->work, x->B, x->C, x->HW,
                            x->G);
}

static void test_groupnorm(void) {
    GnCtx c = {.B = 3, .C = 6, .HW = 5, .G = 3};
    const size_t n = c.B * c.C * c.HW;
    c.in = dalloc(n), c.din = dalloc(n), c.gamma = dalloc(c.C), c.beta = dalloc(c.C);
    c.dgamma = dalloc(c.C), c.dbeta = dalloc(c.C), c.mean = dalloc(c.B * c.G), c.rstd = dalloc(c.B * c.G);
    c.work = dalloc(2 * c.B * c.C);
    fill(c.in, n, 2), fill(c.gamma, c.C, 1), fill(c.beta, c.C, 1);
    for (size_t k = 0; k < n; k++) c.in[k] += 3; /* a mean far from 0 */
    Layer l = {{c.in, c.gamma, c.beta}, {c.din, c.dgamma, c.dbeta}, {n, c.C, c.C}, 3, n, gn_fwd, gn_bwd, &c};
    check_layer(&l, "groupnorm 6 channels, 3 groups");
    /* with gamma 1, beta 0 every group has mean 0 and variance var/(var + eps) */
    double *out = dalloc(n);
    for (size_t k = 0; k < c.C; k++) c.gamma[k] = 1, c.beta[k] = 0;
    gn_fwd(&c, out);
    double worst = 0;
    for (size_t ng = 0; ng < c.B * c.G; ng++) {
        const size_t len = c.C / c.G * c.HW;
        double m = 0, v = 0, mx = 0, vx = 0;
        for (size_t k = 0; k < len; k++) m += out[ng * len + k], mx += c.in[ng * len + k];
        m /= (double)len, mx /= (double)len;
        for (size_t k = 0; k < len; k++)
            v += out[ng * len + k] * out[ng * len + k], vx += pow(c.in[ng * len + k] - mx, 2);
        vx /= (double)len;
        worst = fmax(worst, fmax(fabs(m), fabs(v / (double)len - vx / (vx + 1e-5))));
    }
    T_CHECK(worst < 1e-12, "groupnorm output moments off by %.3g", worst);
    free(out), free(c.in), free(c.din), free(c.gamma), free(c.beta), free(c.dgamma), free(c.dbeta), free(c.mean),
        free(c.rstd), free(c.work);
}

typedef struct {
    size_t B, C, H, W;
    double *a, *b, *da, *db;
} EwCtx;
static void up_fwd(void *c, double *out) {
    EwCtx *x = c;
    fm_upsample2_forward_d(out, x->a, x->B, x->C, x->H, x->W);
}
static void up_bwd(void *c, const double *g) {
    EwCtx *x = c;
    fm_upsample2_backward_d(x->da, g, x->B, x->C, x->H, x->W);
}
static void addch_fwd(void *c, double *out) {
    EwCtx *x = c;
    fm_addch_forward_d(out, x->a, x->b, x->B, x->C, x->H * x->W);
}
static void addch_bwd(void *c, const double *g) {
    EwCtx *x = c;
    fm_addch_backward_d(x->da, x->db, g, x->B, x->C, x->H * x->W);
}
static void cat_fwd(void *c, double *out) { /* a: (B, C, HW), b: (B, 2, HW) */
    EwCtx *x = c;
    fm_concat_forward_d(out, x->a, x->b, x->B, x->C, 2, x->H * x->W);
}
static void cat_bwd(void *c, const double *g) {
    EwCtx *x = c;
    fm_concat_backward_d(x->da, x->db, g, x->B, x->C, 2, x->H * x->W);
}
static void add_fwd(void *c, double *out) {
    EwCtx *x = c;
    fm_add_forward_d(out, x->a, x->b, x->B * x->C * x->H * x->W);
}
static void add_bwd(void *c, const double *g) {
    EwCtx *x = c;
    fm_add_backward_d(x->da, x->db, g, x->B * x->C * x->H * x->W);
}
static void silu_fwd(void *c, double *out) {
    EwCtx *x = c;
    fm_silu_forward_d(out, x->a, x->B * x->C * x->H * x->W);
}
static void silu_bwd(void *c, const double *g) {
    EwCtx *x = c;
    fm_silu_backward_add_d(x->da, g, x->a, x->B * x->C * x->H * x->W);
}
static void lin_fwd(void *c, double *out) { /* a: (B, C) inputs, b: (H, C) weight (H outputs, no bias) */
    EwCtx *x = c;
    fm_linear_forward_d(out, x->a, x->C, x->b, NULL, x->B, x->C, x->H);
}
static void lin_bwd(void *c, const double *g) {
    EwCtx *x = c;
    fm_linear_backward_add_d(x->da, x->db, NULL, g, x->a, x->b, x->B, x->C, x->H);
}

static void test_elementwise(void) {
    EwCtx c = {.B = 2, .C = 3, .H = 4, .W = 5};
    const size_t n = c.B * c.C * c.H * c.W;
    c.a = dalloc(n), c.da = dalloc(n), c.b = dalloc(n), c.db = dalloc(n);
    fill(c.a, n, 1), fill(c.b, n, 1);
    Layer up = {{c.a}, {c.da}, {n}, 1, 4 * n, up_fwd, up_bwd, &c};
    check_layer(&up, "upsample x2 (nearest)");
    Layer ach = {{c.a, c.b}, {c.da, c.db}, {n, c.B * c.C}, 2, n, addch_fwd, addch_bwd, &c};
    check_layer(&ach, "per-channel add (time embedding)");
    Layer cat = {{c.a, c.b}, {c.da, c.db}, {n, c.B * 2 * c.H * c.W}, 2, n + c.B * 2 * c.H * c.W, cat_fwd, cat_bwd, &c};
    check_layer(&cat, "channel concatenation");
    Layer add = {{c.a, c.b}, {c.da, c.db}, {n, n}, 2, n, add_fwd, add_bwd, &c};
    check_layer(&add, "residual add");
    Layer sl = {{c.a}, {c.da}, {n}, 1, n, silu_fwd, silu_bwd, &c};
    check_layer(&sl, "silu (accumulating backward)");
    Layer lin = {{c.a, c.b}, {c.da, c.db}, {c.B * c.C, c.H * c.C}, 2, c.B * c.H, lin_fwd, lin_bwd, &c};
    check_layer(&lin, "linear (accumulating backward)");
    free(c.a), free(c.da), free(c.b), free(c.db);
}

/* ---------------------------------------------------------------- the whole network */

static FmUnetShape small_shape(void) {
    FmUnetShape sh = {.C = 2, .H = 8, .W = 4, .ch = 4, .levels = 2, .blocks = 1, .groups = 2, .E = 6};
    sh.mult[0] = 1, sh.mult[1] = 2;
    return sh;
}

static double net_loss(const FmUnet *u, const double *p, FmUnetActs_d *a, const double *x, const double *t,
                       const double *target, size_t B) {
    fm_unet_forward_d(u, p, a, x, t, B);
    return fm_sqerr_d(NULL, a->out, target, B * u->D, 1.0);
}

static void test_network(void) {
    FmUnetShape sh = small_shape();
    FmUnet *u = malloc(sizeof *u);
    T_CHECK(fm_unet_init(u, &sh) == 0, "unet init: %s", fm_err_msg());
    const size_t NP = u->table.total, B = 3, D = u->D;
    size_t sum = 0;
    for (int i = 0; i < u->nbufs; i++) sum += u->bufs[i].C * u->bufs[i].H * u->bufs[i].W;
    printf("small U-Net: %d ops, %d tensors, %zu parameters; activations %zu floats/sample, gradients %zu (unshared %zu)\n",
           u->nops, u->table.count, NP, u->act_floats, u->grad_floats, sum);
    T_CHECK(u->grad_floats < sum / 2, "gradient buffers should be shared (%zu of %zu)", u->grad_floats, sum);
    float *pf = fm_malloc_floats(NP);
    fm_unet_init_params(u, pf, 11);
    double *p = dalloc(NP), *g = dalloc(NP), *x = dalloc(B * D), *t = dalloc(B), *target = dalloc(B * D);
    for (size_t k = 0; k < NP; k++) p[k] = pf[k];
    /* GroupNorm affine parameters away from 1 / 0, so their gradients are exercised generally */
    for (int i = 0; i < u->table.count; i++)
        if (u->init_kind[i])
            for (size_t k = 0; k < u->table.t[i].rows; k++) p[u->table.t[i].off + k] += 0.3 * fm_stream_normal(&g_s);
    fill(x, B * D, 1), fill(target, B * D, 1);
    for (size_t i = 0; i < B; i++) t[i] = 0.2 + 0.3 * (double)i;
    FmUnetActs_d a;
    fm_unet_acts_init_d(&a, u, B);
    fm_unet_forward_d(u, p, &a, x, t, B);
    fm_sqerr_d(a.dout, a.out, target, B * D, 1.0);
    fm_unet_backward_d(u, p, g, &a, B, 1);
    double *dx = dalloc(B * D);
    memcpy(dx, a.dx, B * D * sizeof(double));
    /* every parameter */
    double worst = 0, worst_t[FM_MAX_TENSORS] = {0};
    for (int i = 0; i < u->table.count; i++) {
        const FmTensor *tt = &u->table.t[i];
        for (size_t k = tt->off; k < tt->off + tt->rows * tt->cols; k++) {
            double keep = p[k];
            p[k] = keep + H_FD;
            double lp = net_loss(u, p, &a, x, t, target, B);
            p[k] = keep - H_FD;
            double lm = net_loss(u, p, &a, x, t, target, B);
            p[k] = keep;
            double e = relerr(g[k], (lp - lm) / (2 * H_FD));
            worst_t[i] = fmax(worst_t[i], e);
            worst = fmax(worst, e);
        }
    }
    for (int i = 0; i < u->table.count; i++)
        T_CHECK(worst_t[i] < 1e-6, "U-Net tensor %s: worst FD error %.3g", u->table.t[i].name, worst_t[i]);
    printf("U-Net, all %zu parameters (%d tensors): worst FD rel. error %.2e\n", NP, u->table.count, worst);
    /* the input gradient */
    double worst_x = 0;
    for (size_t k = 0; k < B * D; k++) {
        double keep = x[k];
        x[k] = keep + H_FD;
        double lp = net_loss(u, p, &a, x, t, target, B);
        x[k] = keep - H_FD;
        double lm = net_loss(u, p, &a, x, t, target, B);
        x[k] = keep;
        worst_x = fmax(worst_x, relerr(dx[k], (lp - lm) / (2 * H_FD)));
    }
    T_CHECK(worst_x < 1e-6, "U-Net input gradient: worst FD error %.3g", worst_x);
    printf("U-Net, input gradient: worst FD rel. error %.2e\n", worst_x);
    /* the VJP: v . (J^T v) is the quadratic form v^T J v; check against a finite-difference JVP */
    double *v = dalloc(B * D), *vj = dalloc(B * D), *op = dalloc(B * D), *om = dalloc(B * D), *xp = dalloc(B * D);
    fill(v, B * D, 1);
    fm_unet_vjp_d(u, p, &a, x, t, v, B, vj);
    for (size_t k = 0; k < B * D; k++) xp[k] = x[k] + H_FD * v[k];
    fm_unet_forward_d(u, p, &a, xp, t, B);
    memcpy(op, a.out, B * D * sizeof(double));
    for (size_t k = 0; k < B * D; k++) xp[k] = x[k] - H_FD * v[k];
    fm_unet_forward_d(u, p, &a, xp, t, B);
    memcpy(om, a.out, B * D * sizeof(double));
    double worst_q = 0;
    for (size_t i = 0; i < B; i++) {
        double q = 0, qn = 0;
        for (size_t d = 0; d < D; d++)
            q += v[i * D + d] * vj[i * D + d], qn += v[i * D + d] * (op[i * D + d] - om[i * D + d]) / (2 * H_FD);
        worst_q = fmax(worst_q, relerr(q, qn));
    }
    T_CHECK(worst_q < 1e-6, "U-Net v^T J v by VJP vs finite differences: %.3g", worst_q);
    printf("U-Net, v^T J v (VJP) per sample: worst FD rel. error %.2e\n", worst_q);

    /* float against double, and 2 threads against 1 (float) */
    float *xf = malloc(B * D * sizeof *xf), *tf = malloc(B * sizeof *tf), *tgf = malloc(B * D * sizeof *tgf);
    float *pf2 = fm_malloc_floats(NP), *gf1 = fm_malloc_floats(NP), *gf2 = fm_malloc_floats(NP);
    for (size_t k = 0; k < NP; k++) pf2[k] = (float)p[k];
    for (size_t k = 0; k < B * D; k++) xf[k] = (float)x[k], tgf[k] = (float)target[k];
    for (size_t i = 0; i < B; i++) tf[i] = (float)t[i];
    float *outf[2] = {malloc(B * D * sizeof(float)), malloc(B * D * sizeof(float))}, *gf[2] = {gf1, gf2};
    for (int th = 0; th < 2; th++) {
        omp_set_num_threads(th + 1);
        FmUnetActs_f af;
        fm_unet_acts_init_f(&af, u, B);
        fm_unet_forward_f(u, pf2, &af, xf, tf, B);
        fm_sqerr_f(af.dout, af.out, tgf, B * D, 1.0);
        fm_unet_backward_f(u, pf2, gf[th], &af, B, 0);
        memcpy(outf[th], af.out, B * D * sizeof(float));
        fm_unet_acts_free_f(&af);
    }
    omp_set_num_threads(1);
    fm_unet_forward_d(u, p, &a, x, t, B);
    double eo = 0, eg = 0, gmax = 0, eo2 = 0, eg2 = 0;
    for (size_t k = 0; k < B * D; k++) eo = fmax(eo, fabs(outf[0][k] - a.out[k])), eo2 = fmax(eo2, fabs(outf[1][k] - outf[0][k]));
    for (size_t k = 0; k < NP; k++)
        eg = fmax(eg, fabs(gf1[k] - g[k])), eg2 = fmax(eg2, fabs(gf2[k] - gf1[k])), gmax = fmax(gmax, fabs(g[k]));
    T_CHECK(eo < 1e-4 && eg < 1e-4 * gmax, "float vs double: output %.3g, gradient %.3g (max %.3g)", eo, eg, gmax);
    printf("U-Net float vs double: output max diff %.2e, gradient max diff %.2e (largest %.2e)\n", eo, eg, gmax);
    /* the forward pass computes every sample alone, whatever the thread; gradients are summed in another order */
    T_CHECK(eo2 == 0, "2 threads: the forward pass differs from 1 thread by %.3g", eo2);
    T_CHECK(eg2 < 1e-5 * gmax, "2 threads: gradients differ from 1 thread by %.3g (max %.3g)", eg2, gmax);
    printf("U-Net 2 threads vs 1: output max diff %.2e, gradient max diff %.2e\n", eo2, eg2);
    omp_set_num_threads(1);
    free(outf[0]), free(outf[1]), free(xf), free(tf), free(tgf), free(pf2), free(gf1), free(gf2);
    free(v), free(vj), free(op), free(om), free(xp);
    fm_unet_acts_free_d(&a);
    free(p), free(g), free(x), free(t), free(target), free(dx), free(pf), free(u);
}

/* The forward-only arena (buffers reused once read, GroupNorm and SiLU fused) computes what the
 * full one does, bit for bit, in a fraction of the memory: the small test net and the bench's
 * 28 x 28 U-Net, at 1 and 2 threads; and the buffers live at each op never overlap there. */
static void test_forward_only(void) {
    FmUnetShape shapes[2] = {small_shape(), {.C = 1, .H = 28, .W = 28, .ch = 32, .levels = 3, .blocks = 2, .groups = 8, .E = 32}};
    shapes[1].mult[0] = 1, shapes[1].mult[1] = 2, shapes[1].mult[2] = 2;
    FmUnet *u = malloc(sizeof *u);
    for (int k = 0; k < 2; k++) {
        T_CHECK(fm_unet_init(u, &shapes[k]) == 0, "unet init: %s", fm_err_msg());
        const size_t NP = u->table.total, B = 3, D = u->D;
        /* liveness: at op j, the buffers produced at or before it and read at or after it (and its
         * output) must not share memory unless one is the other in place */
        int produced[FM_UNET_MAX_BUFS], alias[FM_UNET_MAX_BUFS], overlaps = 0;
        for (int i = 0; i < u->nbufs; i++) produced[i] = i < 2 ? -1 : 1 << 30, alias[i] = i;
        for (int j = 0; j < u->nops; j++) {
            const FmOp *op = &u->ops[j];
            produced[op->out] = j;
            const int inplace = op->inplace || (op->kind == FM_OP_SILU && u->last_use[op->in0] == j);
            if (inplace) alias[op->out] = alias[op->in0];
        }
        for (int j = 0; j < u->nops; j++)
            for (int b1 = 0; b1 < u->nbufs; b1++)
                for (int b2 = b1 + 1; b2 < u->nbufs; b2++) {
                    const int live1 = produced[b1] <= j && (u->last_use[b1] >= j || b1 == u->out_buf || b1 == u->ops[j].out);
                    const int live2 = produced[b2] <= j && (u->last_use[b2] >= j || b2 == u->out_buf || b2 == u->ops[j].out);
                    if (!live1 || !live2 || alias[b1] == alias[b2]) continue;
                    const size_t s1 = u->bufs[b1].C * u->bufs[b1].H * u->bufs[b1].W, s2 = u->bufs[b2].C * u->bufs[b2].H * u->bufs[b2].W;
                    overlaps += u->bufs[b1].foff < u->bufs[b2].foff + s2 && u->bufs[b2].foff < u->bufs[b1].foff + s1;
                }
        T_CHECK(overlaps == 0, "forward-only arena: %d overlaps of live buffers", overlaps);
        float *p = fm_malloc_floats(NP), *x = fm_malloc_floats(B * D), *t = fm_malloc_floats(B), *ref = fm_malloc_floats(B * D);
        fm_unet_init_params(u, p, 3);
        for (size_t i = 0; i < B * D; i++) x[i] = (float)fm_stream_normal(&g_s);
        for (size_t i = 0; i < B; i++) t[i] = 0.1f + 0.4f * (float)i;
        FmUnetActs_f full, fwd;
        double worst = 0;
        for (int th = 1; th <= 2; th++) { /* (OpenBLAS rounds differently at 2 threads: compared at each) */
            omp_set_num_threads(th);
            fm_unet_acts_init_f(&full, u, B);
            fm_unet_forward_f(u, p, &full, x, t, B);
            memcpy(ref, full.out, B * D * sizeof(float));
            fm_unet_acts_free_f(&full);
            fm_unet_acts_init_forward_f(&fwd, u, B);
            fm_unet_forward_f(u, p, &fwd, x, t, B);
            fm_unet_forward_f(u, p, &fwd, x, t, B); /* again: nothing left over from the first pass matters */
            for (size_t i = 0; i < B * D; i++) worst = fmax(worst, fabs((double)fwd.out[i] - ref[i]));
            fm_unet_acts_free_f(&fwd);
        }
        omp_set_num_threads(1);
        T_CHECK(worst == 0, "forward-only arena: output differs from the full arena's by %.3g", worst);
        /* the kernel caches (Winograd's transformed kernels, kept while the weights stay the same):
         * new weights after a pass must give the full arena's output with them, not the old one's */
        fm_unet_acts_init_forward_f(&fwd, u, B);
        T_CHECK(fwd.kcache != NULL, "forward-only arena: no kernel caches for a %zu-parameter U-Net", NP);
        fm_unet_forward_f(u, p, &fwd, x, t, B);
        for (size_t i = 0; i < NP; i += 7) p[i] *= 1.5f; /* every 7th weight of every tensor, in place */
        fm_unet_forward_f(u, p, &fwd, x, t, B);
        fm_unet_acts_init_f(&full, u, B);
        fm_unet_forward_f(u, p, &full, x, t, B);
        double stale = 0;
        for (size_t i = 0; i < B * D; i++) stale = fmax(stale, fabs((double)fwd.out[i] - full.out[i]));
        fm_unet_acts_free_f(&full);
        fm_unet_acts_free_f(&fwd);
        T_CHECK(stale == 0, "forward-only arena after new weights: output differs from the full arena's by %.3g", stale);
        T_CHECK(u->fwd_floats * 2 < u->act_floats, "forward-only arena %zu floats/sample, full %zu", u->fwd_floats,
                u->act_floats);
        printf("U-Net %zux%zu ch %zu: forward-only arena %zu floats/sample (full: %zu activations + %zu gradients), "
               "the same output as the full arena's at 1 and at 2 threads, and after the weights change\n", u->H, u->W, u->ch, u->fwd_floats, u->act_floats, u->grad_floats);
        free(p), free(x), free(t), free(ref);
    }
    free(u);
}

/* Shapes users will build: 28 x 28 and 32 x 32, C = 1 or 3; and impossible ones refused. */
static void test_shapes(void) {
    FmUnet *u = malloc(sizeof *u);
    struct { size_t C, H, ch, blocks, groups; const char *mult; int ok; } cases[] = {
        {1, 28, 32, 2, 8, "1,2,2", 1}, {3, 32, 64, 2, 32, "1,2,2,2", 1}, {1, 28, 64, 2, 32, "1,2,2", 1},
        {1, 28, 32, 1, 8, "1,2,2,2", 0}, /* 28 is not divisible by 8 */
        {1, 28, 24, 1, 16, "1,2", 0},    /* 16 does not divide 24 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FmUnetShape sh = {.C = cases[i].C, .H = cases[i].H, .W = cases[i].H, .ch = cases[i].ch,
                          .blocks = cases[i].blocks, .groups = cases[i].groups, .E = 32};
        T_CHECK(fm_unet_parse_mult(sh.mult, &sh.levels, cases[i].mult) == 0, "parse %s", cases[i].mult);
        int rc = fm_unet_init(u, &sh);
        T_CHECK((rc == 0) == cases[i].ok, "U-Net %zux%zux%zu ch %zu mult %s: init %s (%s)", cases[i].C, cases[i].H,
                cases[i].H, cases[i].ch, cases[i].mult, rc ? "refused" : "accepted", rc ? fm_err_msg() : "");
        if (rc == 0)
            printf("U-Net %zux%zux%zu ch %zu mult %s blocks %zu: %zu parameters, %d ops, %.1f MB activations per sample, "
                   "%.2f GFLOP per sample (forward + backward)\n", cases[i].C, cases[i].H, cases[i].H, cases[i].ch,
                   cases[i].mult, cases[i].blocks, u->table.total, u->nops, fm_unet_act_bytes(u, 1, 1) / 1e6,
                   fm_unet_flops(u, 1) / 1e9);
    }
    size_t mult[FM_UNET_MAX_LEVELS], L;
    T_CHECK(fm_unet_parse_mult(mult, &L, "1,2,x") != 0, "bad --mult refused");
    T_CHECK(fm_unet_parse_mult(mult, &L, "") != 0, "empty --mult refused");
    T_CHECK(fm_unet_parse_mult(mult, &L, "1,2,2,2,2,2,2") != 0, "7 levels refused");
    T_CHECK(fm_unet_parse_mult(mult, &L, "1,0") != 0, "multiplier 0 refused");
    free(u);
}

int main(void) {
    omp_set_num_threads(1);
    fm_stream_init(&g_s, 5, 0, 0, FM_RNG_DATA);
    test_conv(3, 5, 6, 4, 3, 1, 1);
    test_conv(3, 6, 6, 2, 3, 2, 1);
    test_conv(2, 7, 5, 3, 3, 2, 1);
    test_conv(4, 3, 5, 3, 1, 1, 0);
    test_conv(2, 4, 4, 3, 3, 1, 0);
    test_conv(2, 6, 7, 3, 5, 1, 2); /* "same" padding with a wider kernel */
    test_conv(2, 1, 5, 2, 3, 1, 1); /* a one-row image: only the middle kernel row lands on it */
    test_conv(2, 2, 2, 3, 3, 2, 1);
    test_conv(2, 24, 24, 2, 3, 1, 1); /* 576 pixels: groups of 2 samples, the last one short */
    test_conv(1, 32, 33, 2, 3, 1, 1); /* over 1024 pixels: one sample per GEMM */
    /* with AVX-512 the 3 x 3 forward runs on the direct tiles and on Winograd's (wino 1) */
    for (int level = FM_CONV_DIRECT_AVX2, wino = 0; level <= fm_conv_direct_cpu();
         wino = level == FM_CONV_DIRECT_AVX512 && !wino, level += !wino) {
        /* shapes of the U-Net and odd ones: groups (and Winograd's chunks) with a short last one,
         * a one-sample batch, channels not a multiple of 8 (the im2col path for that side) or
         * below 8 (no Winograd), non-square images, sides not a multiple of 4 (Winograd's last
         * tiles partly out), one-column images, rows of more than 7 tiles (in segments: 33x32,
         * 6x35, 13x70), 2 to 16 segments a vector (28x28: 2, 14x14: 4, 7x7: 8, 3x3: 16), a
         * vector's last slots empty (B 33 at 7x7; an odd count of slots sharing permutations at
         * 3x3, B 5), the smallest chunks (520 input channels) */
        const size_t shapes[][5] = {{5, 32, 28, 28, 32}, {7, 64, 14, 14, 64}, {33, 64, 7, 7, 64}, {3, 128, 14, 14, 64},
                                    {1, 8, 5, 9, 16},    {4, 1, 28, 28, 32},  {4, 32, 28, 28, 1}, {6, 16, 1, 7, 8},
                                    {2, 24, 33, 32, 8},  {3, 8, 6, 35, 16},   {5, 16, 3, 3, 8},   {2, 8, 13, 70, 8},
                                    {3, 8, 5, 1, 8},     {2, 520, 6, 40, 8}};
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            const size_t *s = shapes[k];
            test_conv_float(s[0], s[1], s[2], s[3], s[4], 3, level, wino);
        }
        if (wino) { /* Winograd at 2 threads: chunks over threads, each on its share of the scratch */
            omp_set_num_threads(2);
            test_conv_float(9, 32, 14, 14, 32, 3, level, 1);
            test_conv_float(32, 64, 7, 7, 64, 3, level, 1);
            omp_set_num_threads(1);
            continue;
        }
        /* 1 x 1 (the U-Net's skip connections): planes of whole tiles (28 x 28 = 16 tiles + 16
         * positions), short ones (45 positions: one masked tile), Co not a multiple of 8 (GEMM) */
        const size_t points[][5] = {{5, 64, 28, 28, 32}, {7, 128, 14, 14, 64}, {3, 96, 7, 7, 64},
                                    {2, 8, 5, 9, 16},    {3, 24, 4, 8, 8},      {4, 64, 28, 28, 12}};
        for (size_t k = 0; k < sizeof points / sizeof points[0]; k++) {
            const size_t *s = points[k];
            test_conv_float(s[0], s[1], s[2], s[3], s[4], 1, level, 0);
        }
        omp_set_num_threads(2); /* groups spread over threads, each on its share of the scratch */
        test_conv_float(9, 32, 14, 14, 32, 3, level, 0);
        test_conv_float(9, 64, 14, 14, 32, 1, level, 0);
        omp_set_num_threads(1);
    }
    if (fm_conv_direct_cpu() < FM_CONV_DIRECT_AVX512)
        printf("SKIP AVX-512 convolution kernels: this CPU has %s\n",
               fm_conv_direct_cpu() ? "AVX2 + FMA only" : "neither AVX-512F nor AVX2 + FMA (the float convolutions use im2col + GEMM)");
    test_conv_float(5, 32, 28, 28, 32, 3, FM_CONV_DIRECT_OFF, 1);
    test_conv_float(7, 64, 14, 14, 64, 3, FM_CONV_DIRECT_OFF, 1);
    test_conv_float(5, 64, 28, 28, 32, 1, FM_CONV_DIRECT_OFF, 1);
    test_conv(2, 32, 32, 2, 3, 2, 1); /* strided, 256 pixels out: groups of 4 */
    /* the U-Net's fused ops: Winograd's vectors of 2, 8 and 4 segments, the 1x1 skip onto a
     * buffer (AVX-512 tiles), and at 2 threads */
    test_conv_fused(3, 32, 28, 28, 32, 3);
    test_conv_fused(5, 64, 7, 7, 64, 3);
    test_conv_fused(3, 64, 14, 14, 32, 1);
    omp_set_num_threads(2);
    test_conv_fused(4, 32, 14, 14, 64, 3);
    omp_set_num_threads(1);
    test_groupnorm();
    test_elementwise();
    test_network();
    test_forward_only();
    test_shapes();
    return T_DONE();
}
