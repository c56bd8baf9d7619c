/* sampler.c - fixed-grid ODE solvers (Euler, Heun) with trajectory recording. */
#include "fm/sampler.h"

#include <string.h>

#include "fm/common.h"

int fm_solver_parse(FmSolver *s, const char *name) {
    if (!strcmp(name, "euler")) *s = FM_SOLVER_EULER;
    else if (!strcmp(name, "heun")) *s = FM_SOLVER_HEUN;
    else return fm_err_set("unknown solver '%s' (known: euler, heun)", name);
    return 0;
}

const char *fm_solver_name(FmSolver s) { return s == FM_SOLVER_HEUN ? "heun" : "euler"; }
int fm_solver_nfe_per_step(FmSolver s) { return s == FM_SOLVER_HEUN ? 2 : 1; }

size_t fm_traj_frames(long steps, long every) {
    return (size_t)(steps / every) + 1 + (steps % every ? 1 : 0);
}

long fm_traj_step(size_t k, long steps, long every) {
    long s = (long)k * every;
    return s > steps ? steps : s;
}

static void record(float *traj, size_t frame, const float *x, size_t nt, size_t row0, size_t rows, size_t D) {
    if (traj && nt) memcpy(traj + (frame * rows + row0) * D, x, nt * D * sizeof(float));
}

long fm_ode_integrate(float *x, size_t n, size_t D, FmSolver solver, const double *grid, long steps, FmField f,
                      void *ctx, float *work, float *traj, size_t nt, size_t row0, size_t ntraj_rows, long every) {
    const size_t nd = n * D;
    float *u1 = work, *u2 = work + nd, *xp = work + 2 * nd;
    long nfe = 0;
    size_t frame = 0;
    record(traj, frame++, x, nt, row0, ntraj_rows, D);
    for (long k = 0; k < steps; k++) {
        const double t = grid[k], h = grid[k + 1] - grid[k];
        f(u1, x, t, n, ctx);
        nfe++;
        if (solver == FM_SOLVER_EULER) {
            for (size_t i = 0; i < nd; i++) x[i] += (float)(h * u1[i]);
        } else { /* Heun: predictor x + h u(x,t), corrector with the mean of both slopes */
            for (size_t i = 0; i < nd; i++) xp[i] = x[i] + (float)(h * u1[i]);
            f(u2, xp, t + h, n, ctx);
            nfe++;
            for (size_t i = 0; i < nd; i++) x[i] += (float)(0.5 * h * ((double)u1[i] + u2[i]));
        }
        if ((k + 1) % every == 0 || k + 1 == steps) record(traj, frame++, x, nt, row0, ntraj_rows, D);
    }
    return nfe;
}
