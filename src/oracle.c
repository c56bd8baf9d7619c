/* oracle.c - exact marginal fields of a finite data set and of Gaussian data
 * (SPEC.md "The marginal fields of a finite data set"; notation of oracle.h:
 * a = alpha_t, b = beta_t, a', b' their time derivatives, z_i the N data points).
 *
 * Finite data set. With logits l_i = -||x - a z_i||^2 / (2 b^2), w = softmax(l) (log space:
 * the largest logit is subtracted before exp), zbar = sum_i w_i z_i and
 * V = sum_i w_i ||z_i - zbar||^2 (the weighted spread of the data around x's posterior mean):
 *   u = a' zbar + b' (x - a zbar) / b           (= sum_i w_i u_t(x | z_i))
 *   s = (a zbar - x) / b^2
 *   div u = D b'/b + a (a' b - a b') / b^3 * V
 * The divergence is oracle.h's D b'/b + sum_i w_i u_i . (g_i - gbar) rewritten: with
 * u_i = (a' - b' a/b) z_i + (b'/b) x and g_i = (a z_i - x)/b^2, u_i - ubar = (a' - b' a/b)(z_i - zbar)
 * and g_i - gbar = (a/b^2)(z_i - zbar), and sum_i w_i ubar . (g_i - gbar) = 0. For every schedule
 * a' >= 0 >= b', so a' b - a b' >= 0 is a sum of non-negative terms, and V >= 0 is computed as a
 * sum of non-negative terms (shifted to the heaviest point, so a concentrated posterior gives a
 * small V with full relative accuracy): no cancellation.
 * Everything needs b > 0: t = 1 is excluded (checked), where the field is the jump onto the
 * nearest data point, and it stiffens like 1/(1 - t) as t -> 1.
 *
 * Gaussian data N(mu 1, sigma^2 I): p_t = N(a mu 1, v I), v = a^2 sigma^2 + b^2,
 * v' = 2 a a' sigma^2 + 2 b b'. Defined on all of [0, 1] for sigma > 0, except vp at t = 1
 * (b' = -inf there, path.c).
 *
 * Gaussian mixtures (FmOracle.sigma > 0: data = (1/N) sum_i N(z_i, sigma^2 I)): every formula
 * above holds with b^2 replaced by v = a^2 sigma^2 + b^2 and b'/b by k = v'/(2v), because
 * p_t(x | z_i) = N(a z_i, v I) and its conditional field is a' z_i + k (x - a z_i):
 *   u = a' zbar + k (x - a zbar),  s = (a zbar - x)/v,  div u = D k + (a' - k a)(a/v) V.
 * With sigma = 0 these are the finite-set formulas (v = b^2, k = b'/b).
 *
 * Cost O(n N D) for the finite set: OpenMP over rows, each thread with its own O(N + D) buffers.
 */
#include "fm/oracle.h"

#include <math.h>
#include <stdlib.h>

#include "fm/common.h"

#define FM_LOG_2PI 1.83787706640934548356

/* Posterior summary of one row x (D) at coefficients c: zbar (D) and, if var != NULL, V.
 * logit (N) is scratch. */
/* Variance v and k = v'/(2v) of every component at coefficients c (v = b^2, k = b'/b for points). */
static void comp_var(double *v, double *k, FmCoef c, double sigma) {
    const double s2 = sigma * sigma;
    *v = c.a * c.a * s2 + c.b * c.b;
    *k = (c.a * c.da * s2 + c.b * c.db) / *v;
}

static void posterior_row(double *zbar, double *var, double *logit, const float *x, FmCoef c, const FmOracle *o) {
    const size_t N = o->N, D = o->D;
    double v, k;
    comp_var(&v, &k, c, o->sigma);
    const double a = c.a, inv2b2 = 1.0 / (2.0 * v);
    size_t imax = 0;
    for (size_t i = 0; i < N; i++) {
        const float *z = o->z + i * D;
        double r2 = 0;
        for (size_t d = 0; d < D; d++) {
            double r = (double)x[d] - a * (double)z[d];
            r2 += r * r;
        }
        logit[i] = -r2 * inv2b2;
        if (logit[i] > logit[imax]) imax = i;
    }
    /* w_i = exp(l_i - l_max) / sum; zbar and V relative to the heaviest point zc:
     * zbar = zc + sum w_i (z_i - zc),  V = sum w_i ||z_i - zc||^2 - ||zbar - zc||^2 */
    const double lmax = logit[imax];
    const float *zc = o->z + imax * D;
    double sum = 0;
    for (size_t i = 0; i < N; i++) sum += (logit[i] = exp(logit[i] - lmax));
    for (size_t d = 0; d < D; d++) zbar[d] = 0;
    double sq = 0;
    for (size_t i = 0; i < N; i++) {
        double w = logit[i] / sum;
        if (w == 0) continue;
        const float *z = o->z + i * D;
        double s2 = 0;
        for (size_t d = 0; d < D; d++) {
            double dz = (double)z[d] - (double)zc[d];
            zbar[d] += w * dz;
            s2 += dz * dz;
        }
        sq += w * s2;
    }
    double m2 = 0;
    for (size_t d = 0; d < D; d++) {
        m2 += zbar[d] * zbar[d];
        zbar[d] += (double)zc[d];
    }
    if (var) *var = fmax(sq - m2, 0.0);
}

static FmCoef coef_checked(const FmOracle *o, double t) {
    FmCoef c = fm_schedule_eval(&o->sched, t);
    FM_CHECK((c.b > 0 || o->sigma > 0) && isfinite(c.a) && isfinite(c.da) && isfinite(c.db),
             "oracle field at t = %.17g: beta_t = %g (the exact field of a finite data set needs t < 1)", t, c.b);
    return c;
}

void fm_oracle_field(float *u, float *s, const float *x, const double *t, size_t n, void *ctx) {
    const FmOracle *o = ctx;
    const size_t N = o->N, D = o->D;
    FM_CHECK(N > 0 && D > 0, "oracle field: empty data set (N = %zu, D = %zu)", N, D);
    for (size_t i = 0; i < n; i++) coef_checked(o, t[i]); /* fatal checks outside the parallel region */
    #pragma omp parallel if ((double)n * (double)N * (double)D > 65536.0)
    {
        double *logit = fm_calloc(N + D, sizeof(double)), *zbar = logit + N;
        #pragma omp for schedule(dynamic, 4)
        for (size_t i = 0; i < n; i++) {
            FmCoef c = fm_schedule_eval(&o->sched, t[i]);
            const float *xi = x + i * D;
            posterior_row(zbar, NULL, logit, xi, c, o);
            if (o->sigma == 0) {
                for (size_t d = 0; d < D; d++) {
                    double eps = ((double)xi[d] - c.a * zbar[d]) / c.b; /* posterior mean of the noise */
                    u[i * D + d] = (float)(c.da * zbar[d] + c.db * eps);
                    if (s) s[i * D + d] = (float)(-eps / c.b);
                }
            } else {
                double v, k;
                comp_var(&v, &k, c, o->sigma);
                for (size_t d = 0; d < D; d++) {
                    double r = (double)xi[d] - c.a * zbar[d];
                    u[i * D + d] = (float)(c.da * zbar[d] + k * r);
                    if (s) s[i * D + d] = (float)(-r / v);
                }
            }
        }
        free(logit);
    }
}

void fm_oracle_divergence(double *div, const float *x, const double *t, size_t n, const FmOracle *o) {
    const size_t N = o->N, D = o->D;
    FM_CHECK(N > 0 && D > 0, "oracle divergence: empty data set (N = %zu, D = %zu)", N, D);
    for (size_t i = 0; i < n; i++) coef_checked(o, t[i]);
    #pragma omp parallel if ((double)n * (double)N * (double)D > 65536.0)
    {
        double *logit = fm_calloc(N + D, sizeof(double)), *zbar = logit + N;
        #pragma omp for schedule(dynamic, 4)
        for (size_t i = 0; i < n; i++) {
            FmCoef c = fm_schedule_eval(&o->sched, t[i]);
            double V;
            posterior_row(zbar, &V, logit, x + i * D, c, o);
            if (o->sigma == 0) {
                div[i] = (double)D * c.db / c.b + c.a * (c.da * c.b - c.a * c.db) / (c.b * c.b * c.b) * V;
            } else {
                double v, k;
                comp_var(&v, &k, c, o->sigma);
                div[i] = (double)D * k + (c.da - k * c.a) * (c.a / v) * V;
            }
        }
        free(logit);
    }
}

void fm_oracle_divfield(float *u, double *div, const float *x, const double *t, size_t n, void *ctx) {
    fm_oracle_field(u, NULL, x, t, n, ctx);
    fm_oracle_divergence(div, x, t, n, ctx);
}

void fm_oracle_logp(double *logp, const float *x, double t, size_t n, const FmOracle *o) {
    const size_t N = o->N, D = o->D;
    FmCoef c = coef_checked(o, t);
    double v, k;
    comp_var(&v, &k, c, o->sigma);
    for (size_t j = 0; j < n; j++) {
        double lmax = -INFINITY, sum = 0;
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < N; i++) {
                double r2 = 0;
                for (size_t d = 0; d < D; d++) {
                    double r = (double)x[j * D + d] - c.a * (double)o->z[i * D + d];
                    r2 += r * r;
                }
                double l = -0.5 * r2 / v;
                if (pass == 0) lmax = fmax(lmax, l);
                else sum += exp(l - lmax);
            }
        logp[j] = lmax + log(sum / (double)N) - 0.5 * (double)D * (FM_LOG_2PI + log(v));
    }
}

/* ---------------------------------------------------------------- Gaussian data */

typedef struct {
    double a, da, v, dv; /* mean factor a, its derivative, variance v_t, dv/dt */
} GaussT;

static GaussT gauss_at(const FmGaussOracle *g, double t) {
    FmCoef c = fm_schedule_eval(&g->sched, t);
    const double s2 = g->sigma * g->sigma;
    GaussT r = {c.a, c.da, c.a * c.a * s2 + c.b * c.b, 2 * c.a * c.da * s2 + 2 * c.b * c.db};
    FM_CHECK(r.v > 0 && isfinite(r.dv), "Gaussian oracle at t = %.17g: variance %g, derivative %g", t, r.v, r.dv);
    return r;
}

void fm_gauss_field(float *u, float *s, const float *x, const double *t, size_t n, void *ctx) {
    const FmGaussOracle *g = ctx;
    const size_t D = g->D;
    for (size_t i = 0; i < n; i++) {
        GaussT p = gauss_at(g, t[i]);
        const double m = p.a * g->mu, k = p.dv / (2 * p.v);
        for (size_t d = 0; d < D; d++) {
            double r = (double)x[i * D + d] - m;
            u[i * D + d] = (float)(p.da * g->mu + k * r);
            if (s) s[i * D + d] = (float)(-r / p.v);
        }
    }
}

void fm_gauss_divergence(double *div, const float *x, const double *t, size_t n, const FmGaussOracle *g) {
    (void)x;
    for (size_t i = 0; i < n; i++) {
        GaussT p = gauss_at(g, t[i]);
        div[i] = (double)g->D * p.dv / (2 * p.v);
    }
}

void fm_gauss_logp(double *logp, const float *x, double t, size_t n, const FmGaussOracle *g) {
    const size_t D = g->D;
    GaussT p = gauss_at(g, t);
    const double m = p.a * g->mu;
    for (size_t i = 0; i < n; i++) {
        double r2 = 0;
        for (size_t d = 0; d < D; d++) {
            double r = (double)x[i * D + d] - m;
            r2 += r * r;
        }
        logp[i] = -0.5 * (double)D * (FM_LOG_2PI + log(p.v)) - 0.5 * r2 / p.v;
    }
}
