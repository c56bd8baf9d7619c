/* likelihood.h - log-likelihood through the continuity equation (SPEC.md "Likelihood").
 *
 * Along an ODE path, log p_1(x_1) = log p_0(x_0) - int_0^1 div u_t(x_t) dt. Starting from a
 * data point x_1 the augmented state [x, l] with dx/dt = u, dl/dt = div u is integrated
 * backwards from t1 to t0 (with any solver of sampler.h), then
 *   NLL(x_1) = -log N(x_0; 0, I) - l(t0) + l(t1)     [nats]
 * (l(t0) - l(t1) = -int_{t0}^{t1} div u dt, so log p_1(x_1) = log p_0(x_0) + l(t0) - l(t1)).
 * x_1 is the start of the backward solve, x_0 its end (x at t0).
 *   bits/dim = NLL / (D ln 2) + 7  for 8-bit images scaled to [-1, 1] with uniform dequantization.
 */
#ifndef FM_LIKELIHOOD_H
#define FM_LIKELIHOOD_H

#include <stddef.h>
#include <stdint.h>

#include "fm/sampler.h"

/* u (n, D) and div (n) at x (n, D), row i at time t[i]. */
typedef void (*FmDivField)(float *u, double *div, const float *x, const double *t, size_t n, void *ctx);

typedef struct {
    FmSolver solver;
    long steps;        /* fixed-grid solvers: steps from t1 down to t0 (uniform grid) */
    double rtol, atol; /* dopri5 */
    double t0, t1;     /* integrate from t1 (data) back to t0 (noise end) */
} FmNllOpts;

/* NLL in nats of each row of x1 (n, D) -> nll (n). nfe (n) may be NULL. 0 or -1 (fm_err_set). */
int fm_nll(double *nll, const float *x1, size_t n, size_t D, const FmNllOpts *o, FmDivField f, void *ctx,
           long *nfe);

/* Bits per dimension of an 8-bit image NLL (nats, data scaled to [-1, 1], dequantized). */
double fm_bits_per_dim(double nll_nats, size_t D);

#endif
