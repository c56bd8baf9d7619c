/* likelihood.c - negative log-likelihood through the continuity equation (SPEC.md "Likelihood").
 *
 * Along a trajectory of dx/dt = u_t(x), d/dt log p_t(x_t) = -div u_t(x_t) (from
 * d/dt p_t = -div(p_t u_t)). Each row carries the augmented state [x (D), l] with
 *   dx/dt = u_t(x),  dl/dt = div u_t(x),  l(t1) = 0,
 * integrated from the data point x(t1) = x_1 backwards to t0. Then
 *   l(t0) - l(t1) = int_{t1}^{t0} div dt = -int_{t0}^{t1} div dt,
 *   log p_t1(x_1) = log p_t0(x(t0)) - int_{t0}^{t1} div dt = log p_t0(x(t0)) + l(t0) - l(t1),
 *   NLL = -log N(x(t0); 0, I) - l(t0) + l(t1)   [nats]
 * (p_t0 is taken to be N(0, I), exact for t0 = 0 with every schedule but vp, whose beta_0 is
 * sqrt(1 - e^-10.05) ~ 1 - 2e-5). test_likelihood.c checks the sign against the closed form
 * of Gaussian data.
 *
 * The augmented state is float like every sampler state; l stays O(D) nats, so its float
 * rounding (~1e-7 relative per step) is far below the solver error. The augmented buffers
 * are allocated once per call.
 */
#include "fm/likelihood.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"

#define FM_LOG_2PI 1.83787706640934548356
#define FM_NLL_MAX_STEPS 100000L /* dopri5 step limit per row */

/* The FmField over the augmented rows (n, D+1) built from an FmDivField over (n, D). */
typedef struct {
    FmDivField f;
    void *ctx;
    size_t D, cap; /* data dim; capacity in rows */
    float *x, *u;  /* (cap, D) de-interleaved state and velocity */
    double *div;   /* (cap) */
} AugField;

static void aug_field(float *u, float *s, const float *x, const double *t, size_t n, void *ctx) {
    AugField *a = ctx;
    const size_t D = a->D, D1 = D + 1;
    FM_CHECK(s == NULL, "likelihood: the augmented field has no score (ODE solvers only)");
    FM_CHECK(n <= a->cap, "likelihood: %zu rows > augmented capacity %zu", n, a->cap);
    for (size_t i = 0; i < n; i++) memcpy(a->x + i * D, x + i * D1, D * sizeof(float));
    a->f(a->u, a->div, a->x, t, n, a->ctx);
    for (size_t i = 0; i < n; i++) {
        memcpy(u + i * D1, a->u + i * D, D * sizeof(float));
        u[i * D1 + D] = (float)a->div[i]; /* dl/dt = div u */
    }
}

int fm_nll(double *nll, const float *x1, size_t n, size_t D, const FmNllOpts *o, FmDivField f, void *ctx,
           long *nfe) {
    if (n == 0) return 0;
    if (D < 1) return fm_err_set("likelihood: data dimension must be >= 1");
    if (!(o->t0 >= 0 && o->t0 < o->t1 && o->t1 <= 1))
        return fm_err_set("likelihood: need 0 <= t0 < t1 <= 1 (got t0 = %g, t1 = %g)", o->t0, o->t1);
    if (o->solver == FM_SOLVER_DOPRI5) {
        if (!(o->rtol > 0 && o->atol >= 0 && isfinite(o->rtol) && isfinite(o->atol)))
            return fm_err_set("likelihood: dopri5 needs rtol > 0 and atol >= 0 (got %g, %g)", o->rtol, o->atol);
    } else if (o->steps < 1) {
        return fm_err_set("likelihood: steps must be >= 1 (got %ld)", o->steps);
    }
    const size_t D1 = D + 1;
    AugField a = {f, ctx, D, n, fm_malloc_floats(n * D), fm_malloc_floats(n * D), fm_calloc(n, sizeof(double))};
    float *state = fm_malloc_floats(n * D1); /* zero-filled: l(t1) = 0 */
    float *work = fm_malloc_floats(fm_ode_work_floats(n, D1));
    for (size_t i = 0; i < n; i++) memcpy(state + i * D1, x1 + i * D, D * sizeof(float));

    int rc = 0;
    if (o->solver == FM_SOLVER_DOPRI5) {
        long *cnt = nfe ? nfe : fm_calloc(n, sizeof(long));
        rc = fm_ode_dopri5(state, n, D1, o->t1, o->t0, o->rtol, o->atol, FM_NLL_MAX_STEPS, aug_field, &a, work, cnt, NULL);
        if (cnt != nfe) free(cnt);
    } else {
        double *grid = fm_calloc((size_t)o->steps + 1, sizeof(double));
        const FmGrid uniform = {0, 1.0};
        fm_grid_fill(grid, o->steps, o->t1, o->t0, &uniform); /* decreasing: t1 -> t0 */
        long per_row = fm_ode_fixed(state, n, D1, o->solver, grid, o->steps, aug_field, &a, work);
        if (nfe)
            for (size_t i = 0; i < n; i++) nfe[i] = per_row;
        free(grid);
    }
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            const float *xi = state + i * D1;
            double r2 = 0;
            for (size_t d = 0; d < D; d++) r2 += (double)xi[d] * (double)xi[d];
            double logp0 = -0.5 * (double)D * FM_LOG_2PI - 0.5 * r2;
            nll[i] = -logp0 - (double)xi[D]; /* - l(t0) + l(t1), l(t1) = 0 */
        }
    }
    free(state);
    free(work);
    free(a.x);
    free(a.u);
    free(a.div);
    return rc;
}

/* x in [-1, 1] is (k + uniform)/128 - 1 for 8-bit k: a density on [0, 256)^D is the one on
 * [-1, 1]^D divided by 128^D, so NLL_256 = NLL + D ln 128 and bits/dim = NLL_256 / (D ln 2). */
double fm_bits_per_dim(double nll_nats, size_t D) { return nll_nats / ((double)D * log(2.0)) + 7.0; }
