/* sampler.h - ODE integration of a velocity field over a time grid (SPEC.md "Sampling").
 *
 * X_0 ~ N(0, I), dX = u(X, t) dt. Euler is the seeds' Algorithm 1 with n steps of
 * size h (n steps taken: the seeds' loop bound is off by one); Heun is its
 * second-order predictor-corrector. The field is a callback, so the same integrator
 * drives a network of any objective (through the conversions of path.h) or an exact field.
 */
#ifndef FM_SAMPLER_H
#define FM_SAMPLER_H

#include <stddef.h>

typedef enum { FM_SOLVER_EULER, FM_SOLVER_HEUN } FmSolver;

/* "euler", "heun". 0 or -1 (fm_err_set). */
int fm_solver_parse(FmSolver *s, const char *name);
const char *fm_solver_name(FmSolver s);
/* Function evaluations per step. */
int fm_solver_nfe_per_step(FmSolver s);

/* u (n, D) = field(x (n, D), t). */
typedef void (*FmField)(float *u, const float *x, double t, size_t n, void *ctx);

/* Integrates x (n, D) in place along grid[0] < ... < grid[steps].
 * work: 3 n D floats. If traj != NULL, the first nt rows of x are recorded before the
 * first step and after every `every`-th step (and after the last one) into traj,
 * frame after frame, each frame (ntraj_rows, D) of which rows [row0, row0 + nt) are
 * written; the number of frames is fm_traj_frames(steps, every). Returns the NFE. */
long fm_ode_integrate(float *x, size_t n, size_t D, FmSolver solver, const double *grid, long steps, FmField f,
                      void *ctx, float *work, float *traj, size_t nt, size_t row0, size_t ntraj_rows, long every);

/* Number of recorded frames: the start, every `every`-th step, and the last step. */
size_t fm_traj_frames(long steps, long every);
/* The step index of frame k. */
long fm_traj_step(size_t k, long steps, long every);

#endif
