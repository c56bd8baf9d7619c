/* oracle.h - exact marginal fields (SPEC.md "The marginal fields of a finite data set").
 *
 * For data points z_1..z_N with equal weights and w_i(x, t) = softmax_i(-||x - a z_i||^2 / (2 b^2))
 * (computed in log space):
 *   u_t(x) = sum_i w_i u_t(x | z_i),   u_t(x | z) = (a' - b'/b a) z + (b'/b) x
 *   s_t(x) = sum_i w_i (-(x - a z_i) / b^2)
 *   div u_t(x) = D b'/b + sum_i w_i u_i . (g_i - gbar),  g_i = -(x - a z_i)/b^2, gbar = s_t(x)
 * Integrating u from N(0, I) at t = 0 carries the samples onto the data points themselves.
 *
 * For Gaussian data N(mu 1, sigma^2 I) every p_t is Gaussian, N(a mu 1, v_t I) with
 * v_t = a^2 sigma^2 + b^2, and the marginal field is linear:
 *   u_t(x) = a' mu 1 + (v_t' / (2 v_t)) (x - a mu 1),  s_t(x) = -(x - a mu 1) / v_t,
 *   div u_t = D v_t' / (2 v_t)   - the closed-form case for likelihood tests.
 * Both are evaluated in double internally and match the FmField callback (row i at t[i]).
 */
#ifndef FM_ORACLE_H
#define FM_ORACLE_H

#include <stddef.h>

#include "fm/path.h"

typedef struct {
    const float *z; /* (N, D) data points (or mixture centres) */
    size_t N, D;
    FmSchedule sched;
    double sigma; /* 0: the points themselves; > 0: data = (1/N) sum_i N(z_i, sigma^2 I), a
                   * Gaussian mixture, whose field is the same with b^2 -> v = a^2 sigma^2 + b^2 */
} FmOracle;

/* FmField for a finite data set: u (n, D) and, if s != NULL, the score. ctx = FmOracle*.
 * Defined for t in [0, 1) (at t = 1, b = 0 and the field is the jump onto the nearest point). */
void fm_oracle_field(float *u, float *s, const float *x, const double *t, size_t n, void *ctx);
/* Exact divergence of the finite-data-set velocity at each row (div (n)). */
void fm_oracle_divergence(double *div, const float *x, const double *t, size_t n, const FmOracle *o);

/* FmDivField (likelihood.h) of the oracle: velocity and exact divergence. ctx = FmOracle*. */
void fm_oracle_divfield(float *u, double *div, const float *x, const double *t, size_t n, void *ctx);
/* log p_t(x) of the marginal (sigma > 0, or t < 1), for each row. */
void fm_oracle_logp(double *logp, const float *x, double t, size_t n, const FmOracle *o);

typedef struct {
    double mu, sigma; /* data N(mu 1, sigma^2 I), sigma > 0 */
    size_t D;
    FmSchedule sched;
} FmGaussOracle;

void fm_gauss_field(float *u, float *s, const float *x, const double *t, size_t n, void *ctx);
void fm_gauss_divergence(double *div, const float *x, const double *t, size_t n, const FmGaussOracle *g);
/* log p_t(x) of the Gaussian marginal, for each row. */
void fm_gauss_logp(double *logp, const float *x, double t, size_t n, const FmGaussOracle *g);

#endif
