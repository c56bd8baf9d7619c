/* test_layers.c - every layer and the full MLP loss against central finite differences
 * in double precision (the same template code that trains in float), and the float
 * build against the double one. Error metric: |analytic - numeric| / max(1, |numeric|). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/layers.h"
#include "fm/model.h"
#include "fm/rng.h"
#include "testutil.h"

static FmStream g_s;
static void fill(double *v, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) v[i] = scale * fm_stream_normal(&g_s);
}
static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
static double relerr(double a, double n) { return fabs(a - n) / fmax(1.0, fabs(n)); }
static const double H_FD = 1e-6, TOL = 1e-7;

/* Loss of the linear layer: L = <g, out> for a fixed random g, so dL/dout = g. */
static double linear_loss(const double *in, const double *w, const double *b, const double *g, size_t B, size_t NI,
                          size_t NO) {
    double *out = calloc(B * NO, sizeof *out);
    fm_linear_forward_d(out, in, NI, w, b, B, NI, NO);
    double l = dot(out, g, B * NO);
    free(out);
    return l;
}

static void test_linear(void) {
    const size_t B = 5, NI = 7, NO = 4;
    double in[35], w[28], b[4], g[20], din[35], dw[28] = {0}, db[4] = {0};
    fill(in, B * NI, 1);
    fill(w, NO * NI, 0.5);
    fill(b, NO, 0.5);
    fill(g, B * NO, 1);
    fm_linear_backward_d(din, dw, db, g, in, NI, w, B, NI, NO);
    double worst = 0;
    struct { double *x, *dx; size_t n; } sets[] = {{in, din, B * NI}, {w, dw, NO * NI}, {b, db, NO}};
    for (int s = 0; s < 3; s++)
        for (size_t k = 0; k < sets[s].n; k++) {
            double keep = sets[s].x[k];
            sets[s].x[k] = keep + H_FD;
            double lp = linear_loss(in, w, b, g, B, NI, NO);
            sets[s].x[k] = keep - H_FD;
            double lm = linear_loss(in, w, b, g, B, NI, NO);
            sets[s].x[k] = keep;
            worst = fmax(worst, relerr(sets[s].dx[k], (lp - lm) / (2 * H_FD)));
        }
    T_CHECK(worst < TOL, "linear: worst FD error %.3g", worst);
    printf("linear (in, weight, bias): worst FD rel. error %.2e\n", worst);
    /* backward accumulates into dw/db: a second call doubles them */
    double dw2[28], db2[4];
    memcpy(dw2, dw, sizeof dw);
    memcpy(db2, db, sizeof db);
    fm_linear_backward_d(NULL, dw2, db2, g, in, NI, w, B, NI, NO);
    double acc = 0;
    for (size_t k = 0; k < NO * NI; k++) acc = fmax(acc, fabs(dw2[k] - 2 * dw[k]));
    for (size_t k = 0; k < NO; k++) acc = fmax(acc, fabs(db2[k] - 2 * db[k]));
    T_CHECK(acc < 1e-12, "linear backward must accumulate into dw, db (err %.3g)", acc);
}

/* The float linear layer against the double one, at shapes that exercise the small GEMMs' tiles
 * (8 rows x 32 columns: row and column tails, N under 16 and between 16 and 32, the inner
 * dimension odd), the toy MLP's (256 x 64 x 34, 64 x 64) and one past the small-GEMM size
 * (OpenBLAS); with a row stride of the input larger than its width (ldi), and the backward
 * accumulating into dw and db. Relative to the largest value of each output. */
static void test_linear_float(size_t B, size_t NI, size_t NO, size_t ldi) {
    double *in = calloc(B * ldi, sizeof *in), *w = calloc(NO * NI, sizeof *w), *b = calloc(NO, sizeof *b),
           *g = calloc(B * NO, sizeof *g), *out = calloc(B * NO, sizeof *out), *din = calloc(B * NI, sizeof *din),
           *dw = calloc(NO * NI, sizeof *dw), *db = calloc(NO, sizeof *db);
    float *fin = calloc(B * ldi, sizeof *fin), *fw = calloc(NO * NI, sizeof *fw), *fb = calloc(NO, sizeof *fb),
          *fg = calloc(B * NO, sizeof *fg), *fout = calloc(B * NO, sizeof *fout), *fdin = calloc(B * NI, sizeof *fdin),
          *fdw = calloc(NO * NI, sizeof *fdw), *fdb = calloc(NO, sizeof *fdb);
    fill(in, B * ldi, 1), fill(w, NO * NI, 0.5), fill(b, NO, 0.5), fill(g, B * NO, 1);
    /* the double reference computes on the float values; dw and db start non-zero (accumulation) */
    for (size_t k = 0; k < B * ldi; k++) fin[k] = (float)in[k], in[k] = fin[k];
    for (size_t k = 0; k < NO * NI; k++) fw[k] = (float)w[k], w[k] = fw[k], fdw[k] = (float)(k % 3), dw[k] = fdw[k];
    for (size_t k = 0; k < NO; k++) fb[k] = (float)b[k], b[k] = fb[k], fdb[k] = (float)(k % 2), db[k] = fdb[k];
    for (size_t k = 0; k < B * NO; k++) fg[k] = (float)g[k], g[k] = fg[k];
    fm_linear_forward_d(out, in, ldi, w, b, B, NI, NO);
    fm_linear_forward_f(fout, fin, ldi, fw, fb, B, NI, NO);
    fm_linear_backward_d(din, dw, db, g, in, ldi, w, B, NI, NO);
    fm_linear_backward_f(fdin, fdw, fdb, fg, fin, ldi, fw, B, NI, NO);
    struct { const float *f; const double *d; size_t n; const char *name; } sets[] = {
        {fout, out, B * NO, "out"}, {fdin, din, B * NI, "din"}, {fdw, dw, NO * NI, "dw"}, {fdb, db, NO, "db"}};
    double worst = 0;
    for (int s = 0; s < 4; s++) {
        double scale = 0, err = 0;
        for (size_t k = 0; k < sets[s].n; k++) scale = fmax(scale, fabs(sets[s].d[k]));
        for (size_t k = 0; k < sets[s].n; k++) err = fmax(err, fabs((double)sets[s].f[k] - sets[s].d[k]));
        T_CHECK(err <= 1e-5 * scale, "float linear B %zu NI %zu NO %zu: %s off by %.3g (largest %.3g)", B, NI, NO,
                sets[s].name, err, scale);
        worst = fmax(worst, err / (scale > 0 ? scale : 1));
    }
    printf("float linear B %3zu NI %4zu NO %3zu (ldi %4zu) vs double: worst relative error %.1e\n", B, NI, NO, ldi, worst);
    free(in), free(w), free(b), free(g), free(out), free(din), free(dw), free(db);
    free(fin), free(fw), free(fb), free(fg), free(fout), free(fdin), free(fdw), free(fdb);
}

/* The layers' float GEMMs give the same values, bit for bit, whatever the number of threads (the
 * blocked GEMM splits C by columns or by rows, never the inner dimension). */
static void test_linear_threads(size_t B, size_t NI, size_t NO) {
    float *in = malloc(B * NI * sizeof *in), *w = malloc(NO * NI * sizeof *w), *g = malloc(B * NO * sizeof *g);
    float *out[2], *din[2], *dw[2];
    for (size_t k = 0; k < B * NI; k++) in[k] = (float)sin(0.37 * (double)k);
    for (size_t k = 0; k < NO * NI; k++) w[k] = (float)cos(0.11 * (double)k) * 0.1f;
    for (size_t k = 0; k < B * NO; k++) g[k] = (float)sin(0.05 * (double)k + 1);
    const int nt0 = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        out[t] = calloc(B * NO, sizeof(float)), din[t] = calloc(B * NI, sizeof(float)), dw[t] = calloc(NO * NI, sizeof(float));
        fm_linear_forward_f(out[t], in, NI, w, NULL, B, NI, NO);
        fm_linear_backward_f(din[t], dw[t], NULL, g, in, NI, w, B, NI, NO);
    }
    omp_set_num_threads(nt0);
    T_CHECK(!memcmp(out[0], out[1], B * NO * sizeof(float)) && !memcmp(din[0], din[1], B * NI * sizeof(float)) &&
                !memcmp(dw[0], dw[1], NO * NI * sizeof(float)),
            "float linear B %zu NI %zu NO %zu: 1 and 2 threads differ", B, NI, NO);
    for (int t = 0; t < 2; t++) free(out[t]), free(din[t]), free(dw[t]);
    free(in), free(w), free(g);
}

/* The float SiLU runs on a vectorised exp polynomial: compare it with the double one over
 * [-100, 100] (both tails, the clamp at |x| = 87..88, zero), and check NaN and Inf pass. */
static void test_silu_float(void) {
    enum { N = 200001 };
    float *a = malloc(N * sizeof *a), *h = malloc(N * sizeof *h), *g = malloc(N * sizeof *g), *da = malloc(N * sizeof *da);
    for (size_t k = 0; k < N; k++) a[k] = (float)(-100.0 + 200.0 * (double)k / (N - 1)), g[k] = 1;
    fm_silu_forward_f(h, a, N);
    fm_silu_backward_f(da, g, a, N);
    double worst_h = 0, worst_d = 0;
    for (size_t k = 0; k < N; k++) {
        double x = a[k], s = 1 / (1 + exp(-x)), hx = x * s, dx = s + x * s * (1 - s);
        /* relative error, with an absolute floor where the values vanish (x -> -inf) */
        worst_h = fmax(worst_h, fabs(h[k] - hx) / fmax(fabs(hx), 1e-30));
        worst_d = fmax(worst_d, fabs(da[k] - dx)); /* the derivative is O(1) and crosses 0 at x = -1.28 */
    }
    T_CHECK(worst_h < 1e-6, "float silu: worst relative error %.3g", worst_h);
    T_CHECK(worst_d < 1e-6, "float silu backward: worst absolute error %.3g", worst_d);
    printf("float silu on [-100, 100]: worst relative error %.2e (value), absolute %.2e (derivative)\n", worst_h,
           worst_d);
    float odd[3] = {NAN, INFINITY, -INFINITY}, ho[3], go[3] = {1, 1, 1}, dao[3];
    fm_silu_forward_f(ho, odd, 3);
    fm_silu_backward_f(dao, go, odd, 3);
    T_CHECK(isnan(ho[0]) && isnan(dao[0]), "float silu must propagate NaN (%g, %g)", ho[0], dao[0]);
    T_CHECK(isinf(ho[1]) && ho[1] > 0, "float silu(+inf) = +inf (got %g)", ho[1]);
    free(a), free(h), free(g), free(da);
}

static void test_silu_and_sqerr(void) {
    enum { N = 64 };
    double a[N], h[N], g[N], da[N], hp[N], hm[N];
    fill(a, N, 3);
    fill(g, N, 1);
    fm_silu_forward_d(h, a, N);
    fm_silu_backward_d(da, g, a, N);
    double worst = 0;
    for (size_t k = 0; k < N; k++) {
        double keep = a[k];
        a[k] = keep + H_FD;
        fm_silu_forward_d(hp, a, N);
        a[k] = keep - H_FD;
        fm_silu_forward_d(hm, a, N);
        a[k] = keep;
        worst = fmax(worst, relerr(da[k], (dot(hp, g, N) - dot(hm, g, N)) / (2 * H_FD)));
    }
    T_CHECK(worst < TOL, "silu: worst FD error %.3g", worst);
    T_CLOSE(h[3], a[3] / (1 + exp(-a[3])), 1e-15, "silu value");
    printf("silu: worst FD rel. error %.2e\n", worst);

    double p[N], tg[N], dp[N];
    fill(p, N, 1);
    fill(tg, N, 1);
    double scale = 0.37;
    fm_sqerr_d(dp, p, tg, N, scale);
    worst = 0;
    for (size_t k = 0; k < N; k++) {
        double keep = p[k];
        p[k] = keep + H_FD;
        double lp = scale * fm_sqerr_d(NULL, p, tg, N, 0);
        p[k] = keep - H_FD;
        double lm = scale * fm_sqerr_d(NULL, p, tg, N, 0);
        p[k] = keep;
        worst = fmax(worst, relerr(dp[k], (lp - lm) / (2 * H_FD)));
    }
    T_CHECK(worst < TOL, "squared error: worst FD error %.3g", worst);
    printf("squared error: worst FD rel. error %.2e\n", worst);
}

static void test_time_embed(void) {
    double t[2] = {0.0, 0.25}, out[2 * 8];
    fm_time_embed_d(out, 8, t, 2, 8, 1000.0);
    T_CLOSE(out[0], 0.0, 1e-15, "emb sin(0)");
    T_CLOSE(out[4], 1.0, 1e-15, "emb cos(0)");
    T_CLOSE(out[8 + 0], sin(250.0), 1e-12, "emb k=0 at t=0.25");
    T_CLOSE(out[8 + 4 + 1], cos(250.0 * pow(10000.0, -0.25)), 1e-12, "emb cos k=1 at t=0.25");
}

/* The embedding's polynomial sin/cos against libm at the same arguments: many t (negative
 * too), scales up to 1e5, more than 64 frequencies (the chunking), the float build; beyond the
 * fast range and for a NaN t, libm itself. */
static void test_time_embed_accuracy(void) {
    enum { B = 257, E = 200 };
    const size_t half = E / 2;
    double *t = malloc(B * sizeof *t), *out = malloc(B * E * sizeof *out);
    float *tf = malloc(B * sizeof *tf), *outf = malloc(B * E * sizeof *outf);
    const double scales[] = {1, 50, 1000, 1e5, 1e6};
    for (int si = 0; si < 5; si++) {
        for (size_t i = 0; i < B; i++) t[i] = tf[i] = (float)(2 * fm_stream_uniform(&g_s) - 0.5);
        t[0] = tf[0] = 0, t[1] = tf[1] = 1;
        fm_time_embed_d(out, E, t, B, E, scales[si]);
        fm_time_embed_f(outf, E, tf, B, E, scales[si]);
        double worst = 0, worstf = 0;
        for (size_t i = 0; i < B; i++)
            for (size_t k = 0; k < half; k++) {
                const double arg = scales[si] * t[i] * exp(-log(10000.0) * (double)k / (double)half);
                const double s = sin(arg), c = cos(arg);
                worst = fmax(worst, fmax(fabs(out[i * E + k] - s), fabs(out[i * E + half + k] - c)));
                worstf = fmax(worstf, fmax(fabs(outf[i * E + k] - s), fabs(outf[i * E + half + k] - c)));
            }
        T_CHECK(worst < 1e-15, "embedding at scale %g: worst |error| %.3g against libm", scales[si], worst);
        T_CHECK(worstf < 1e-7, "float embedding at scale %g: worst |error| %.3g against libm", scales[si], worstf);
        printf("time embedding, scale %g: worst |error| against libm %.2e (double), %.2e (float)\n", scales[si],
               worst, worstf);
    }
    t[5] = NAN;
    fm_time_embed_d(out, E, t, B, E, 50);
    T_CHECK(isnan(out[5 * E]) && isnan(out[5 * E + half]), "a NaN time gives a NaN embedding");
    T_CLOSE(out[6 * E + 3], sin(50 * t[6] * exp(-log(10000.0) * 3 / (double)half)), 1e-15, "rows beside a NaN");
    free(t), free(out), free(tf), free(outf);
}

/* The fused bias + SiLU and SiLU backward + bias gradient equal the separate ops, on a small
 * shape and on one large enough for the threaded paths (column blocks). */
static void test_fused(size_t B, size_t NO) {
    double *a = malloc(B * NO * sizeof *a), *a2 = malloc(B * NO * sizeof *a2), *h = malloc(B * NO * sizeof *h),
           *h2 = malloc(B * NO * sizeof *h2), *dh = malloc(B * NO * sizeof *dh), *da = malloc(B * NO * sizeof *da),
           *da2 = malloc(B * NO * sizeof *da2), *b = malloc(NO * sizeof *b), *db = calloc(NO, sizeof *db),
           *db2 = calloc(NO, sizeof *db2), *e = malloc(B * NO * sizeof *e), *h3 = malloc(B * NO * sizeof *h3);
    fill(a, B * NO, 3), fill(b, NO, 1), fill(dh, B * NO, 1);
    for (size_t o = 0; o < NO; o++) db[o] = db2[o] = 0.5; /* accumulates */
    for (size_t i = 0; i < B; i++)
        for (size_t o = 0; o < NO; o++) a2[i * NO + o] = a[i * NO + o] + b[o];
    fm_silu_forward_d(h2, a2, B * NO);
    double *a3 = malloc(B * NO * sizeof *a3);
    memcpy(a3, a, B * NO * sizeof *a);
    fm_bias_silu_forward_d(a3, h3, NULL, b, B, NO); /* forward only: no exponentials kept */
    fm_bias_silu_forward_d(a, h, e, b, B, NO);
    double ea = 0, eh = 0, ed = 0, eb = 0, ee = 0;
    for (size_t k = 0; k < B * NO; k++)
        ea = fmax(ea, fmax(fabs(a[k] - a2[k]), fabs(a3[k] - a2[k]))),
        eh = fmax(eh, fmax(fabs(h[k] - h2[k]), fabs(h3[k] - h2[k]))), ee = fmax(ee, fabs(e[k] - exp(-a2[k])) / exp(-a2[k]));
    fm_silu_backward_d(da2, dh, a2, B * NO);
    for (size_t i = 0; i < B; i++)
        for (size_t o = 0; o < NO; o++) db2[o] += da2[i * NO + o];
    fm_silu_backward_bias_d(da, db, dh, a, e, B, NO);
    for (size_t k = 0; k < B * NO; k++) ed = fmax(ed, fabs(da[k] - da2[k]));
    for (size_t o = 0; o < NO; o++) eb = fmax(eb, fabs(db[o] - db2[o]) / fmax(1, fabs(db2[o])));
    T_CHECK(ea == 0 && eh == 0 && ed == 0, "fused (%zu,%zu): pre-activation %.3g, SiLU %.3g, backward %.3g", B, NO,
            ea, eh, ed);
    T_CHECK(eb < 1e-14, "fused (%zu,%zu): bias gradient %.3g", B, NO, eb);
    T_CHECK(ee < 1e-15, "fused (%zu,%zu): kept exp(-a) %.3g relative", B, NO, ee);
    printf("fused bias+SiLU (%zu,%zu): equal to the separate ops (bias gradient %.1e)\n", B, NO, eb);
    free(a), free(a2), free(h), free(h2), free(dh), free(da), free(da2), free(b), free(db), free(db2), free(e), free(h3), free(a3);
}

/* The full loss of the MLP: L = scale * sum ||net(x,t) - target||^2, scale = 1/(B D). */
static double mlp_loss(const FmMlp *net, const double *params, FmMlpActs_d *acts, const double *x, const double *t,
                       const double *target, size_t B) {
    fm_mlp_forward_d(net, params, acts, x, t, B);
    return fm_sqerr_d(NULL, acts->out, target, B * net->D, 0) / (double)(B * net->D);
}

static void test_mlp(size_t D, size_t E, size_t H, size_t L) {
    FmMlp net;
    T_CHECK(fm_mlp_init(&net, D, E, H, L) == 0, "mlp init");
    const size_t B = 6, P = net.table.total;
    double *params = calloc(P, sizeof *params), *grads = calloc(P, sizeof *grads);
    float *pf = fm_malloc_floats(P);
    fm_mlp_init_params(&net, pf, 7);
    for (size_t k = 0; k < P; k++) params[k] = pf[k];
    double x[6 * 3], t[6], target[6 * 3];
    fill(x, B * D, 1);
    fill(target, B * D, 1);
    for (size_t i = 0; i < B; i++) t[i] = fm_stream_uniform(&g_s);
    FmMlpActs_d acts;
    fm_mlp_acts_init_d(&acts, &net, B);
    double scale = 1.0 / (double)(B * D);
    fm_mlp_forward_d(&net, params, &acts, x, t, B);
    fm_sqerr_d(acts.dout, acts.out, target, B * D, scale);
    fm_mlp_backward_d(&net, params, grads, &acts, B);
    double worst = 0;
    size_t checked = 0;
    for (int ti = 0; ti < net.table.count; ti++) {
        const FmTensor *tt = &net.table.t[ti];
        for (size_t k = 0; k < tt->rows * tt->cols; k++) {
            size_t j = tt->off + k;
            double keep = params[j];
            params[j] = keep + H_FD;
            double lp = mlp_loss(&net, params, &acts, x, t, target, B);
            params[j] = keep - H_FD;
            double lm = mlp_loss(&net, params, &acts, x, t, target, B);
            params[j] = keep;
            double e = relerr(grads[j], (lp - lm) / (2 * H_FD));
            if (e > worst) worst = e;
            checked++;
        }
    }
    T_CHECK(worst < TOL, "mlp D=%zu E=%zu H=%zu L=%zu: worst FD error %.3g", D, E, H, L, worst);
    printf("mlp D=%zu E=%zu H=%zu L=%zu: %zu parameters, worst FD rel. error %.2e\n", D, E, H, L, checked, worst);

    /* the float build agrees with the double build (forward and gradients) */
    FmMlpActs_f af;
    fm_mlp_acts_init_f(&af, &net, B);
    float xf[18], tf[6], tgf[18];
    float *gf = fm_malloc_floats(P);
    for (size_t k = 0; k < B * D; k++) xf[k] = (float)x[k], tgf[k] = (float)target[k];
    for (size_t k = 0; k < B; k++) tf[k] = (float)t[k];
    fm_mlp_forward_f(&net, pf, &af, xf, tf, B);
    fm_sqerr_f(af.dout, af.out, tgf, B * D, scale);
    fm_mlp_backward_f(&net, pf, gf, &af, B);
    double fe = 0, ge = 0, gmax = 0;
    for (size_t k = 0; k < B * D; k++) fe = fmax(fe, fabs(af.out[k] - acts.out[k]));
    for (size_t k = 0; k < P; k++) ge = fmax(ge, fabs(gf[k] - grads[k])), gmax = fmax(gmax, fabs(grads[k]));
    T_CHECK(fe < 1e-4, "float vs double forward: %.3g", fe);
    T_CHECK(ge < 1e-4 * fmax(1, gmax), "float vs double gradient: %.3g (max |g| %.3g)", ge, gmax);
    fm_mlp_acts_free_f(&af);
    fm_mlp_acts_free_d(&acts);
    free(params);
    free(grads);
    free(pf);
    free(gf);
}

int main(void) {
    fm_stream_init(&g_s, 12345, 0, 0, 99);
    test_linear();
    const size_t lin[][4] = {{256, 34, 64, 34}, {256, 64, 64, 64}, {256, 64, 2, 64}, {13, 7, 5, 9},   {9, 40, 17, 40},
                             {17, 3, 33, 5},    {8, 32, 32, 32},   {1, 1, 1, 1},    {129, 65, 70, 70}, {256, 256, 256, 256},
                             /* the blocked GEMM: the image MLP's shapes; blocks of rows, columns and the
                              * inner dimension with tails; C shared among threads by rows */
                             {128, 816, 1024, 816}, {77, 600, 530, 610}, {300, 1030, 40, 1030}, {9, 530, 600, 530}};
    for (size_t k = 0; k < sizeof lin / sizeof lin[0]; k++) test_linear_float(lin[k][0], lin[k][1], lin[k][2], lin[k][3]);
    test_linear_threads(128, 816, 1024);
    test_linear_threads(300, 1030, 40);
    test_linear_threads(256, 256, 256);
    test_silu_and_sqerr();
    test_silu_float();
    test_time_embed();
    test_time_embed_accuracy();
    test_fused(7, 5);
    test_fused(130, 1030);
    test_mlp(2, 8, 5, 1);
    test_mlp(2, 8, 6, 3);
    test_mlp(3, 4, 4, 2);
    FmMlp bad;
    T_CHECK(fm_mlp_init(&bad, 2, 7, 8, 2) != 0, "odd embedding width must be refused");
    T_CHECK(fm_mlp_init(&bad, 2, 8, 0, 2) != 0, "zero width must be refused");
    T_CHECK(fm_mlp_init(&bad, 2, 8, 8, 0) != 0, "zero depth must be refused");
    return T_DONE();
}
