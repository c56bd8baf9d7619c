/* sampler.h - ODE and SDE integration of fields over time (SPEC.md "Sampling").
 *
 * A field is a callback evaluated on n rows at once, row i at its own time t[i] (the
 * adaptive solver gives every row its own step size, so a sample's path never depends on
 * the other rows of its batch - nor, therefore, on the number of ranks).
 *
 * Fixed-grid solvers take n steps along grid[0..steps] (increasing or decreasing):
 * Euler (the seeds' Algorithm 1: n steps are taken), midpoint, Heun, RK4 (orders 1, 2, 2, 4).
 * dopri5 is the adaptive Dormand-Prince 5(4) pair with per-row error control.
 * Euler-Maruyama integrates dX = [u + sigma_t^2/2 s] dt + sigma_t dW (same marginals as
 * the ODE for every sigma_t >= 0; sigma = 0 is exactly Euler).
 */
#ifndef FM_SAMPLER_H
#define FM_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "fm/path.h"

typedef enum { FM_SOLVER_EULER, FM_SOLVER_MIDPOINT, FM_SOLVER_HEUN, FM_SOLVER_RK4, FM_SOLVER_DOPRI5 } FmSolver;

/* "euler", "midpoint", "heun", "rk4", "dopri5". 0 or -1 (fm_err_set listing them). */
int fm_solver_parse(FmSolver *s, const char *name);
const char *fm_solver_name(FmSolver s);
/* Order of accuracy: 1, 2, 2, 4, 5. */
int fm_solver_order(FmSolver s);
/* Field evaluations per step of a fixed-grid solver: 1, 2, 2, 4 (dopri5: 0, it varies). */
int fm_solver_nfe_per_step(FmSolver s);

/* Time grids: "uniform", or "power:p" (p > 0): t_k = t0 + (t1 - t0) (1 - (1 - k/n)^p),
 * which for p > 1 packs steps toward t1 (the data end when sampling). */
typedef struct {
    int power; /* 0 uniform, 1 power */
    double p;
} FmGrid;
int fm_grid_parse(FmGrid *g, const char *str);
void fm_grid_name(char *buf, size_t size, const FmGrid *g);
/* grid[0..steps], grid[0] = t0 and grid[steps] = t1 exactly. */
void fm_grid_fill(double *grid, long steps, double t0, double t1, const FmGrid *g);

/* u (n, D) = velocity, and if s != NULL s (n, D) = score, at x (n, D), row i at time t[i]. */
typedef void (*FmField)(float *u, float *s, const float *x, const double *t, size_t n, void *ctx);

/* Floats of work space the solvers need for n rows of D. */
size_t fm_ode_work_floats(size_t n, size_t D);

/* Fixed-grid ODE solve of x (n, D) in place along grid[0..steps]. Returns the NFE per row. */
long fm_ode_fixed(float *x, size_t n, size_t D, FmSolver solver, const double *grid, long steps, FmField f,
                  void *ctx, float *work);

/* Adaptive Dormand-Prince 5(4) from t0 to t1 (either direction), each row with its own step
 * size: a row's error is the RMS over its D components of err_j / (atol + rtol max(|x_j|, |x'_j|));
 * a step is accepted when it is <= 1 (standard controller: safety 0.9, factors in [0.2, 10]).
 * The first step size is chosen by the Hairer-Norsett-Wanner heuristic. nfe (n) receives each
 * row's evaluations (FSAL counted once). hrow (n, may be NULL) carries each row's step size
 * between calls (integrating piece by piece, e.g. between trajectory frames): on entry, if
 * every hrow[i] > 0 they are the first step sizes (the starting heuristic and its evaluation
 * are skipped); on return, hrow[i] is the controller's last proposal for row i.
 * Returns 0, or -1 (fm_err_set) if a row needs more than max_steps steps or its step size
 * underflows. */
int fm_ode_dopri5(float *x, size_t n, size_t D, double t0, double t1, double rtol, double atol, long max_steps,
                  FmField f, void *ctx, float *work, long *nfe, double *hrow);

/* sigma_t of the SDE: "const:c" (sigma_t = c) or "beta:c" (sigma_t = c beta_t); c >= 0. */
typedef struct {
    int beta; /* 0 const, 1 proportional to beta_t */
    double c;
} FmSigma;
int fm_sigma_parse(FmSigma *s, const char *str);
void fm_sigma_name(char *buf, size_t size, const FmSigma *s);
double fm_sigma_at(const FmSigma *s, const FmSchedule *sched, double t);

/* Euler-Maruyama along grid[0..steps]: x += [u + sigma^2/2 s] h + sigma sqrt(|h|) xi, with
 * xi for step k of row i drawn from the stream (seed, k0 + k, index0 + i, FM_RNG_SDE), sigma
 * taken at the start of the step (k0 lets a caller integrate a grid piece by piece). With sigma = 0 the result equals fm_ode_fixed(EULER) bit for bit.
 * Returns the NFE per row. */
long fm_sde_em(float *x, size_t n, size_t D, const double *grid, long steps, const FmSigma *sigma,
               const FmSchedule *sched, uint64_t seed, uint64_t index0, long k0, FmField f, void *ctx,
               float *work);

#endif
