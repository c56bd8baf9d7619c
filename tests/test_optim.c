/* test_optim.c - AdamW, the learning-rate schedule, norm/scale and the EMA (optim.h, src/optim.c).
 *
 * The reference is AdamW written out in double (Loshchilov & Hutter, decoupled decay,
 * as used by PyTorch's AdamW):
 *   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
 *   p -= lr * (m / (1 - b1^s)) / (sqrt(v / (1 - b2^s)) + eps) + lr * wd * p   (wd only if decay = 1)
 * The implementation works in float: one update of size ~lr is correct to a few float
 * roundings of the update (relative 2^-24 = 6e-8 each) plus one rounding of p. The
 * tolerances below are TOL_REL * lr + 2 U |p| with U = 2^-24 and TOL_REL = 1e-6, i.e.
 * ~16 roundings of the update. (Computing 1 - beta2 from the float beta2 was off by
 * 1.3e-5 relative at 0.999, and zeroed v for beta2 >= 1 - 2^-25; both fail here.)
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fm/common.h"
#include "fm/model.h"
#include "fm/optim.h"
#include "testutil.h"

#define U (1.0 / 16777216.0) /* 2^-24 */
#define TOL_REL 1e-6
#define PI 3.14159265358979323846

/* Two tensors: "w" (2 x 3, decay) and "b" (3, no decay); 9 floats. */
static FmParamTable table(void) {
    FmParamTable t;
    memset(&t, 0, sizeof t);
    strcpy(t.t[0].name, "w");
    t.t[0].off = 0, t.t[0].rows = 2, t.t[0].cols = 3, t.t[0].decay = 1;
    strcpy(t.t[1].name, "b");
    t.t[1].off = 6, t.t[1].rows = 3, t.t[1].cols = 1, t.t[1].decay = 0;
    t.count = 2;
    t.total = 9;
    return t;
}
#define NP 9

/* One AdamW step in double on copies of the float state. */
static void adamw_ref(double *p, double *m, double *v, const float *g, const FmParamTable *tab, const FmAdamW *h,
                      double lr, long step) {
    double c1 = 1 - pow(h->beta1, (double)step), c2 = 1 - pow(h->beta2, (double)step);
    for (int i = 0; i < tab->count; i++) {
        const FmTensor *t = &tab->t[i];
        for (size_t k = t->off; k < t->off + t->rows * t->cols; k++) {
            m[k] = h->beta1 * m[k] + (1 - h->beta1) * g[k];
            v[k] = h->beta2 * v[k] + (1 - h->beta2) * (double)g[k] * g[k];
            double upd = lr * (m[k] / c1) / (sqrt(v[k] / c2) + h->eps);
            p[k] -= upd + (t->decay ? lr * h->weight_decay * p[k] : 0.0);
        }
    }
}

static const float P0[NP] = {0.5f, -1.25f, 2.0f, 0.75f, -0.3f, 1.0f, 0.1f, -0.2f, 0.4f};
static const float G1[NP] = {0.3f, -0.02f, 1e-8f, 2.5f, -4.0f, 0.0f, 1e-8f, -0.7f, 0.0f};

static void test_adamw_first_step(void) {
    const FmParamTable tab = table();
    const FmAdamW h = {0.9, 0.999, 1e-8, 0.1};
    const double lr = 0.01;
    float p[NP], m[NP] = {0}, v[NP] = {0};
    memcpy(p, P0, sizeof p);
    fm_adamw_step(p, m, v, G1, &tab, &h, lr, 1);

    for (int k = 0; k < NP; k++) {
        /* step 1: m/(1-b1) = g and v/(1-b2) = g^2 exactly, so the Adam part is lr g / (|g| + eps):
         * +-lr for |g| >> eps, lr/2 for g = 1e-8 = eps, 0 for g = 0 */
        double g = G1[k], decay = k < 6 ? h.weight_decay : 0.0;
        double want = (double)P0[k] - lr * g / (fabs(g) + h.eps) - lr * decay * P0[k];
        char what[64];
        snprintf(what, sizeof what, "step 1, p[%d] (g = %g)", k, g);
        T_CLOSE(p[k], want, TOL_REL * lr + 2 * U * fabs(want), what);
        snprintf(what, sizeof what, "step 1, m[%d]", k);
        T_CLOSE(m[k], 0.1 * g, 1e-6 * fabs(g), what);
        snprintf(what, sizeof what, "step 1, v[%d]", k);
        T_CLOSE(v[k], 0.001 * g * g, 1e-6 * g * g, what);
    }
    /* the special cases, exactly */
    T_CHECK(p[8] == P0[8], "no decay and g = 0: p[8] must not move (%.9g -> %.9g)", P0[8], p[8]);
    T_CLOSE(p[6], P0[6] - lr / 2, 1e-3 * lr, "g = eps: the update is lr/2");
    T_CLOSE(p[5], P0[5] * (1 - lr * h.weight_decay), 2 * U, "decay and g = 0: p *= 1 - lr wd");

    /* decay only on the decay = 1 tensor: the same step with wd = 0 differs by lr wd p0 on w, not at all on b */
    const FmAdamW h0 = {0.9, 0.999, 1e-8, 0.0};
    float q[NP], m0[NP] = {0}, v0[NP] = {0};
    memcpy(q, P0, sizeof q);
    fm_adamw_step(q, m0, v0, G1, &tab, &h0, lr, 1);
    for (int k = 0; k < NP; k++) {
        char what[64];
        snprintf(what, sizeof what, "decay part of p[%d]", k);
        if (k < 6)
            T_CLOSE(q[k] - p[k], lr * h.weight_decay * P0[k], 4 * U * (fabs(p[k]) + 1e-3), what);
        else
            T_CHECK(q[k] == p[k], "bias b[%d] must not decay: %.9g with wd vs %.9g without", k - 6, p[k], q[k]);
    }
}

static void test_adamw_steps(void) {
    const FmParamTable tab = table();
    const FmAdamW h = {0.8, 0.99, 1e-6, 0.05};
    float p[NP], m[NP] = {0}, v[NP] = {0}, g[NP];
    double rp[NP], rm[NP] = {0}, rv[NP] = {0};
    for (int k = 0; k < NP; k++) p[k] = P0[k], rp[k] = P0[k];
    for (long s = 1; s <= 5; s++) {
        double lr = 0.02 / (double)s;
        for (int k = 0; k < NP; k++) g[k] = (float)(sin(1.0 + 0.7 * k + 1.3 * s) * (k % 3 == 0 ? 1e-3 : 1.0));
        fm_adamw_step(p, m, v, g, &tab, &h, lr, s);
        adamw_ref(rp, rm, rv, g, &tab, &h, lr, s);
        for (int k = 0; k < NP; k++) {
            char what[64];
            snprintf(what, sizeof what, "step %ld, p[%d]", s, k);
            /* errors of earlier steps add up: s updates */
            T_CLOSE(p[k], rp[k], (double)s * (TOL_REL * 0.02 + 2 * U * fabs(rp[k])), what);
            snprintf(what, sizeof what, "step %ld, m[%d]", s, k);
            T_CLOSE(m[k], rm[k], 1e-6 * (fabs(rm[k]) + 1e-3), what);
            snprintf(what, sizeof what, "step %ld, v[%d]", s, k);
            T_CLOSE(v[k], rv[k], 1e-5 * (fabs(rv[k]) + 1e-6), what);
        }
    }
}

/* The option table accepts --beta1 up to 0.999999 and --beta2 up to 0.999999999: the step
 * must still be AdamW there (first update lr g / (|g| + eps), i.e. about +-lr). */
static void test_adamw_extreme_betas(void) {
    const FmParamTable tab = table();
    const double betas[][2] = {{0.9, 0.9999}, {0.99, 0.99999}, {0.9, 0.99999999}, {0.999999, 0.999999999}};
    for (int b = 0; b < 4; b++) {
        const FmAdamW h = {betas[b][0], betas[b][1], 1e-8, 0.0};
        const double lr = 1e-3;
        float p[NP], m[NP] = {0}, v[NP] = {0};
        memcpy(p, P0, sizeof p);
        fm_adamw_step(p, m, v, G1, &tab, &h, lr, 1);
        for (int k = 0; k < NP; k++) {
            double g = G1[k], want = (double)P0[k] - lr * g / (fabs(g) + h.eps);
            char what[96];
            snprintf(what, sizeof what, "beta1 %.9g beta2 %.9g: step 1, p[%d] (g = %g)", h.beta1, h.beta2, k, g);
            T_CLOSE(p[k], want, TOL_REL * lr + 2 * U * fabs(want), what);
        }
    }
}

static void test_lr(void) {
    const double lr = 1e-3, mn = 1e-5;
    const long W = 10, T = 110;
    /* linear warm-up from lr/W to lr */
    for (long s = 1; s <= W; s++) {
        char what[64];
        snprintf(what, sizeof what, "warm-up lr at step %ld", s);
        T_CLOSE(fm_lr_at(s, lr, W, T, FM_LR_CONSTANT, mn), lr * (double)s / (double)W, 1e-15, what);
        T_CLOSE(fm_lr_at(s, lr, W, T, FM_LR_COSINE, mn), lr * (double)s / (double)W, 1e-15, what);
    }
    /* constant after the warm-up, also past the end */
    long after[] = {W + 1, 50, T, T + 100};
    for (int i = 0; i < 4; i++) T_CHECK(fm_lr_at(after[i], lr, W, T, FM_LR_CONSTANT, mn) == lr, "constant lr at %ld", after[i]);
    T_CHECK(fm_lr_at(1, lr, 0, T, FM_LR_CONSTANT, mn) == lr, "no warm-up: lr from step 1");
    /* cosine: lr at the end of warm-up, midpoint (lr + min)/2, min_lr at total and beyond */
    T_CLOSE(fm_lr_at(W, lr, W, T, FM_LR_COSINE, mn), lr, 1e-15, "cosine at warm-up end");
    T_CLOSE(fm_lr_at((W + T) / 2, lr, W, T, FM_LR_COSINE, mn), 0.5 * (lr + mn), 1e-15, "cosine midpoint");
    T_CLOSE(fm_lr_at(T, lr, W, T, FM_LR_COSINE, mn), mn, 1e-15, "cosine at total = min_lr");
    T_CLOSE(fm_lr_at(T + 50, lr, W, T, FM_LR_COSINE, mn), mn, 1e-15, "cosine past total stays at min_lr");
    T_CLOSE(fm_lr_at(W + 25, lr, W, T, FM_LR_COSINE, mn), mn + 0.5 * (lr - mn) * (1 + cos(PI * 0.25)), 1e-15,
            "cosine at a quarter");
    double prev = lr;
    for (long s = W + 1; s <= T; s++) {
        double x = fm_lr_at(s, lr, W, T, FM_LR_COSINE, mn);
        T_CHECK(x <= prev && x >= mn, "cosine must decrease monotonically to min_lr: step %ld lr %g (prev %g)", s, x,
                prev);
        prev = x;
    }
    /* no warm-up: cosine from lr at step 0 */
    T_CLOSE(fm_lr_at(50, lr, 0, 100, FM_LR_COSINE, 0), 0.5 * lr, 1e-15, "cosine midpoint, no warm-up");
    T_CLOSE(fm_lr_at(100, lr, 0, 100, FM_LR_COSINE, 0), 0, 1e-15, "cosine end, no warm-up");
}

static void test_norm_scale(void) {
    float g[4] = {3, -4, 0, 0};
    T_CHECK(fm_norm(g, 4) == 5.0, "norm(3,-4) = %.17g", fm_norm(g, 4));
    T_CHECK(fm_norm(g, 0) == 0.0, "norm of nothing = %g", fm_norm(g, 0));
    /* long buffers (the OpenMP branch), exact in double */
    enum { N = 100000 };
    static float a[N];
    for (int i = 0; i < N; i++) a[i] = (i % 2) ? 1.0f : -1.0f;
    T_CLOSE(fm_norm(a, N), sqrt((double)N), 1e-12 * sqrt((double)N), "norm of 1e5 ones");
    /* accumulated in double: float squares would underflow / overflow here */
    for (int i = 0; i < N; i++) a[i] = 1e-25f;
    T_CLOSE(fm_norm(a, N), sqrt((double)N) * (double)1e-25f, 1e-9 * sqrt((double)N) * 1e-25, "norm of tiny values");
    for (int i = 0; i < N; i++) a[i] = 1e25f;
    T_CLOSE(fm_norm(a, N), sqrt((double)N) * (double)1e25f, 1e-9 * sqrt((double)N) * 1e25, "norm of huge values");
    /* scale */
    for (int i = 0; i < N; i++) a[i] = (float)i;
    fm_scale(a, N, 0.5);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += a[i] != 0.5f * (float)i;
    T_CHECK(bad == 0, "scale by 0.5: %d wrong", bad);
    fm_scale(g, 4, -2.0);
    T_CHECK(g[0] == -6 && g[1] == 8 && g[2] == 0, "scale by -2: %g %g %g", g[0], g[1], g[2]);
    /* clipping as train.c does it: scale by clip/norm gives norm = clip */
    float c[3] = {1, 2, 2};
    fm_scale(c, 3, 0.5 / fm_norm(c, 3));
    T_CLOSE(fm_norm(c, 3), 0.5, 4 * U, "norm after clipping to 0.5");
}

static void test_ema(void) {
    const long steps[] = {0, 1, 5, 100, 1000, 100000};
    const double decay = 0.999;
    for (int i = 0; i < 6; i++) {
        long s = steps[i];
        float e[3] = {1.0f, -2.0f, 0.5f}, p[3] = {3.0f, 0.0f, 0.5f};
        fm_ema_update(e, p, 3, decay, s);
        double w = (1.0 + (double)s) / (10.0 + (double)s), d = decay < w ? decay : w;
        const float e0[3] = {1.0f, -2.0f, 0.5f};
        for (int k = 0; k < 3; k++) {
            char what[64];
            snprintf(what, sizeof what, "ema at step %ld, [%d] (d = %.6g)", s, k, d);
            T_CLOSE(e[k], d * e0[k] + (1 - d) * p[k], 4 * U * 3, what);
        }
    }
    /* decay 0 copies the parameters; the warm-up at step 0 is d = 0.1 */
    float e[2] = {5, 5}, p[2] = {1, -1};
    fm_ema_update(e, p, 2, 0.0, 1000);
    T_CHECK(e[0] == 1 && e[1] == -1, "ema decay 0 copies: %g %g", e[0], e[1]);
    e[0] = 0, e[1] = 0;
    p[0] = 1, p[1] = 1;
    fm_ema_update(e, p, 2, 0.999, 0);
    T_CLOSE(e[0], 0.9, 4 * U, "ema step 0 uses d = 1/10");
    /* long buffer (OpenMP branch) */
    enum { N = 70000 };
    static float eb[N], pb[N];
    for (int i = 0; i < N; i++) eb[i] = 1, pb[i] = 0;
    fm_ema_update(eb, pb, N, 0.5, 1000);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += eb[i] != 0.5f;
    T_CHECK(bad == 0, "ema over %d values: %d wrong", N, bad);
}

/* The training step's fused update equals the three separate passes bit for bit (clip scale,
 * AdamW, EMA), on a table long enough for the OpenMP branch. */
static void test_fused_update(void) {
    enum { N = 70000 };
    FmParamTable t;
    memset(&t, 0, sizeof t);
    strcpy(t.t[0].name, "w");
    t.t[0].rows = 100, t.t[0].cols = 600, t.t[0].decay = 1;
    strcpy(t.t[1].name, "b");
    t.t[1].off = 60000, t.t[1].rows = N - 60000, t.t[1].cols = 1;
    t.count = 2, t.total = N;
    static float p1[N], m1[N], v1[N], e1[N], g1[N], p2[N], m2[N], v2[N], e2[N], g2[N];
    for (int i = 0; i < N; i++) {
        p1[i] = p2[i] = (float)sin(0.1 * i);
        e1[i] = e2[i] = (float)cos(0.1 * i);
        m1[i] = m2[i] = 0.01f * (float)sin(0.3 * i);
        v1[i] = v2[i] = 1e-4f * (float)(1 + cos(0.7 * i));
    }
    const FmAdamW h = {0.9, 0.999, 1e-8, 0.01};
    int bad = 0;
    for (long s = 1; s <= 3; s++) {
        for (int i = 0; i < N; i++) g1[i] = g2[i] = (float)sin(0.01 * i * s) * 3.0f;
        const double gs = 1.0 / (3.0 + s);
        fm_scale(g1, N, gs);
        fm_adamw_step(p1, m1, v1, g1, &t, &h, 1e-3, s);
        fm_ema_update(e1, p1, N, 0.999, s);
        fm_adamw_ema_step(p2, m2, v2, e2, g2, gs, &t, &h, 1e-3, s, 0.999);
        for (int i = 0; i < N; i++) bad += p1[i] != p2[i] || m1[i] != m2[i] || v1[i] != v2[i] || e1[i] != e2[i];
    }
    T_CHECK(bad == 0, "fused update differs from scale + AdamW + EMA in %d values", bad);

    /* the update in parts (as the ranks of a node share it: the parts' bounds cut through the
     * tensors, one with weight decay and one without) equals the whole, bit for bit; so does
     * the sum of the parts' squares the whole's norm */
    const size_t cuts[][2] = {{0, 59984}, {59984, 60016}, {60016, N}};
    bad = 0;
    for (long s = 4; s <= 6; s++) {
        for (int i = 0; i < N; i++) g2[i] = (float)cos(0.02 * i * s);
        fm_adamw_ema_step(p1, m1, v1, e1, g2, 0.5, &t, &h, 1e-3, s, 0.999);
        for (int c = 0; c < 3; c++)
            fm_adamw_ema_range(p2, m2, v2, e2, g2, 0.5, &t, &h, 1e-3, s, 0.999, cuts[c][0], cuts[c][1]);
        for (int i = 0; i < N; i++) bad += p1[i] != p2[i] || m1[i] != m2[i] || v1[i] != v2[i] || e1[i] != e2[i];
    }
    T_CHECK(bad == 0, "the update in three parts differs from the whole in %d values", bad);
    double parts = 0;
    for (int c = 0; c < 3; c++) parts += fm_sumsq(g2 + cuts[c][0], cuts[c][1] - cuts[c][0]);
    T_CLOSE(sqrt(parts), fm_norm(g2, N), 1e-12 * fm_norm(g2, N), "norm from the parts' sums of squares");
}

int main(void) {
    test_fused_update();
    test_adamw_first_step();
    test_adamw_steps();
    test_adamw_extreme_betas();
    test_lr();
    test_norm_scale();
    test_ema();
    return T_DONE();
}
