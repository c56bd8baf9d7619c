/* test_solvers.c - ODE and SDE solvers, grids and sigma (src/sampler.c, SPEC.md "Sampling").
 *
 * 1. Convergence orders of Euler, midpoint, Heun, RK4 on ODEs with closed-form solutions
 *    (x' = x cos t, a decaying rotation x' = A(t) x, x' = x^2), on increasing and decreasing
 *    grids: the observed order log2(err(n) / err(2n)) of every halving is within +-0.3 of
 *    1, 2, 2, 4. The error is the mean over 1024 rows of the scaled signed error (see NROWS),
 *    and the step ranges (8..128, 16..256, 16..256, 4..16) start in the asymptotic regime and
 *    stop while the error is still far above the float rounding of the state.
 * 2. The power:2 grid: exact endpoints, monotone, and the same orders.
 * 3. dopri5: final error within 10x the tolerance, fewer evaluations at a looser tolerance,
 *    rows bit-identical whether solved together or alone, backwards integration, NFE
 *    bookkeeping, max_steps and step-size underflow reported as errors.
 * 4. Euler-Maruyama: sigma = 0 is Euler bit for bit; determinism; a row's noise depends only
 *    on (seed, step, index0 + i); piecewise integration with k0; the score is requested only
 *    when sigma_t != 0; the variance of a Gaussian marginal (exact v_t) matches.
 * 5. Parsing of solver, grid and sigma names.
 * Every buffer of solver work space is followed by a canary that must stay untouched.
 * Lines starting with RESULT report the measured orders, dopri5 errors and NFE.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/path.h"
#include "fm/rng.h"
#include "fm/sampler.h"
#include "testutil.h"

#define NCANARY 64
#define CANARY 12345.678f

/* ---------------------------------------------------------------- work space with a canary */

static float *work_alloc(size_t n, size_t D) {
    size_t nw = fm_ode_work_floats(n, D);
    float *w = fm_malloc_floats(nw + NCANARY);
    for (size_t i = 0; i < NCANARY; i++) w[nw + i] = CANARY;
    return w;
}

static int work_canary_ok(const float *w, size_t n, size_t D) {
    size_t nw = fm_ode_work_floats(n, D);
    for (size_t i = 0; i < NCANARY; i++)
        if (w[nw + i] != CANARY) return 0;
    return 1;
}

/* ---------------------------------------------------------------- test problems */

/* Every field also counts the rows it evaluated and the calls that asked for a score. */
typedef struct {
    long rows_evaluated, calls, score_calls;
    double tmin, tmax;
} Counter;

static Counter g_count;
static void count_reset(void) {
    memset(&g_count, 0, sizeof g_count);
    g_count.tmin = INFINITY;
    g_count.tmax = -INFINITY;
}
static void count(const double *t, size_t n, const float *s) {
    g_count.rows_evaluated += (long)n;
    g_count.calls++;
    if (s) g_count.score_calls++;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < g_count.tmin) g_count.tmin = t[i];
        if (t[i] > g_count.tmax) g_count.tmax = t[i];
    }
}

/* Test problems, all with closed-form solutions. Each row of a problem starts from
 * c_i x0 (x0 the problem's base state, c_i a scale), so that the exact solution is known
 * row by row. exact(out, x0, t) maps a row's state at t = 0 to its state at t. */

/* x' = x cos t (D = 1): x(t) = x(0) exp(sin t). */
static void field_cos(float *u, float *s, const float *x, const double *t, size_t n, void *ctx) {
    (void)ctx;
    count(t, n, s);
    for (size_t i = 0; i < n; i++) u[i] = (float)((double)x[i] * cos(t[i]));
}
static void exact_cos(double *out, const double *x0, double t) { out[0] = x0[0] * exp(sin(t)); }

/* x' = A(t) x (D = 2), A = [[-a, -w(t)], [w(t), -a]], w = 1 + t, a = 0.5:
 * x(t) = exp(-a t) R(theta(t)) x(0), theta(t) = t + t^2 / 2 (A(t) commutes with A(s)). */
#define ROT_A 0.5
static void field_rot(float *u, float *s, const float *x, const double *t, size_t n, void *ctx) {
    (void)ctx;
    count(t, n, s);
    for (size_t i = 0; i < n; i++) {
        const double w = 1.0 + t[i], a = x[2 * i], b = x[2 * i + 1];
        u[2 * i] = (float)(-ROT_A * a - w * b);
        u[2 * i + 1] = (float)(w * a - ROT_A * b);
    }
}
static void exact_rot(double *out, const double *x0, double t) {
    const double th = t + 0.5 * t * t, g = exp(-ROT_A * t);
    out[0] = g * (cos(th) * x0[0] - sin(th) * x0[1]);
    out[1] = g * (sin(th) * x0[0] + cos(th) * x0[1]);
}

/* x' = x^2 (D = 1): x(t) = x(0) / (1 - x(0) t); with x(0) <= 0.55 it stays finite on [0, 1]. */
static void field_sq(float *u, float *s, const float *x, const double *t, size_t n, void *ctx) {
    (void)ctx;
    count(t, n, s);
    for (size_t i = 0; i < n; i++) u[i] = (float)((double)x[i] * (double)x[i]);
}
static void exact_sq(double *out, const double *x0, double t) { out[0] = x0[0] / (1.0 - x0[0] * t); }

typedef struct {
    const char *name;
    size_t D;
    double x0[2];
    FmField f;
    void (*exact)(double *out, const double *x0, double t);
} Problem;

static const Problem PROBLEMS[] = {
    {"xcos", 1, {1.0, 0.0}, field_cos, exact_cos},
    {"rotation", 2, {1.0, 0.5}, field_rot, exact_rot},
    {"x^2", 1, {0.5, 0.0}, field_sq, exact_sq},
};
#define NPROB (sizeof PROBLEMS / sizeof PROBLEMS[0])

/* Row i starts from scale(i) x0 with scales spread evenly over [0.9, 1.1]. */
static double row_scale(size_t i, size_t n) { return 0.9 + 0.2 * ((double)i + 0.5) / (double)n; }

/* x (n, D) = the exact state at t0 of every row. */
static void start_rows(float *x, const Problem *p, size_t n, double t0) {
    for (size_t i = 0; i < n; i++) {
        double x0[2], xt[2];
        for (size_t c = 0; c < p->D; c++) x0[c] = row_scale(i, n) * p->x0[c];
        p->exact(xt, x0, t0);
        for (size_t c = 0; c < p->D; c++) x[i * p->D + c] = (float)xt[c];
    }
}

/* err (n, D) = signed error of x against the exact state at t1, divided by the row's scale. */
static void row_errors(double *err, const float *x, const Problem *p, size_t n, double t1) {
    for (size_t i = 0; i < n; i++) {
        double x0[2], xt[2];
        const double c0 = row_scale(i, n);
        for (size_t c = 0; c < p->D; c++) x0[c] = c0 * p->x0[c];
        p->exact(xt, x0, t1);
        for (size_t c = 0; c < p->D; c++) err[i * p->D + c] = ((double)x[i * p->D + c] - xt[c]) / c0;
    }
}

/* ---------------------------------------------------------------- 1, 2: fixed-grid orders */

/* Rows per order measurement. The float state rounds each step (relative ~6e-8), which would
 * swamp the small errors of the fine grids; the truncation error of a row is a smooth function
 * of its start while the rounding is not, so the mean of the scaled signed errors over NROWS
 * rows keeps the truncation error (whose order is the same) and averages the rounding down. */
#define NROWS 1024

/* The order-measurement error of one fixed-grid solve: max over components of |mean over
 * rows of the scaled signed error|. */
static double fixed_err(const Problem *p, FmSolver solver, const FmGrid *g, long steps, double t0, double t1) {
    const size_t n = NROWS, D = p->D;
    double grid[1025];
    FM_CHECK(steps <= 1024, "test: too many steps");
    float *x = malloc(n * D * sizeof(float));
    double *err = malloc(n * D * sizeof(double));
    FM_CHECK(x && err, "test: out of memory");
    start_rows(x, p, n, t0);
    fm_grid_fill(grid, steps, t0, t1, g);
    float *w = work_alloc(n, D);
    count_reset();
    long nfe = fm_ode_fixed(x, n, D, solver, grid, steps, p->f, NULL, w);
    T_CHECK(nfe == steps * fm_solver_nfe_per_step(solver), "%s: NFE %ld, expected %ld", fm_solver_name(solver), nfe,
            steps * fm_solver_nfe_per_step(solver));
    T_CHECK(g_count.rows_evaluated == nfe * (long)n, "%s: field evaluated %ld rows, expected %ld",
            fm_solver_name(solver), g_count.rows_evaluated, nfe * (long)n);
    T_CHECK(g_count.score_calls == 0, "%s: an ODE solver asked for the score", fm_solver_name(solver));
    T_CHECK(g_count.tmin >= fmin(t0, t1) && g_count.tmax <= fmax(t0, t1), "%s: field evaluated outside [t0, t1]",
            fm_solver_name(solver));
    T_CHECK(work_canary_ok(w, n, D), "%s: wrote past fm_ode_work_floats", fm_solver_name(solver));
    row_errors(err, x, p, n, t1);
    double e = 0.0;
    for (size_t c = 0; c < D; c++) {
        double m = 0.0;
        for (size_t i = 0; i < n; i++) m += err[i * D + c];
        e = fmax(e, fabs(m / (double)n));
    }
    free(w);
    free(x);
    free(err);
    return e;
}

typedef struct {
    FmSolver solver;
    long n0;   /* first step count */
    int nhalv; /* halvings of the step */
} OrderCase;

static void test_orders(const char *gridname, double t0, double t1) {
    /* Step ranges: from where every problem is in its asymptotic regime to where the error is
     * still far above the averaged float rounding (RK4 at 32 steps is at ~1e-8: too close). */
    static const OrderCase cases[] = {
        {FM_SOLVER_EULER, 8, 4}, {FM_SOLVER_MIDPOINT, 16, 4}, {FM_SOLVER_HEUN, 16, 4}, {FM_SOLVER_RK4, 4, 2}};
    FmGrid g;
    int rc = fm_grid_parse(&g, gridname);
    FM_CHECK(rc == 0, "test: grid %s", gridname);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const OrderCase *oc = &cases[c];
        const int want = fm_solver_order(oc->solver);
        for (size_t pi = 0; pi < NPROB; pi++) {
            const Problem *p = &PROBLEMS[pi];
            double err[8];
            char line[512];
            int len = snprintf(line, sizeof line, "RESULT order %-8s %-7s %-8s t %g->%g: steps %ld..%ld, errors",
                               fm_solver_name(oc->solver), gridname, p->name, t0, t1, oc->n0, oc->n0 << oc->nhalv);
            for (int k = 0; k <= oc->nhalv; k++) {
                err[k] = fixed_err(p, oc->solver, &g, oc->n0 << k, t0, t1);
                len += snprintf(line + len, sizeof line - (size_t)len, " %.2e", err[k]);
            }
            len += snprintf(line + len, sizeof line - (size_t)len, "; orders");
            for (int k = 0; k < oc->nhalv; k++) {
                const double ord = log2(err[k] / err[k + 1]);
                len += snprintf(line + len, sizeof line - (size_t)len, " %.2f", ord);
                /* tolerance: +-0.3 around the theoretical order */
                T_CHECK(fabs(ord - want) <= 0.3,
                        "%s on %s (%s grid, t %g->%g), steps %ld->%ld: order %.3f, expected %d +- 0.3",
                        fm_solver_name(oc->solver), p->name, gridname, t0, t1, oc->n0 << k, oc->n0 << (k + 1), ord,
                        want);
            }
            printf("%s\n", line);
        }
    }
}

static void test_grids(void) {
    FmGrid g;
    double grid[101];
    const char *names[] = {"uniform", "power:2", "power:0.5", "power:3.25"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        T_CHECK(fm_grid_parse(&g, names[i]) == 0, "grid '%s' rejected: %s", names[i], fm_err_msg());
        const double ends[2][2] = {{0.0, 1.0}, {0.97, 1e-3}};
        for (int d = 0; d < 2; d++) {
            const double t0 = ends[d][0], t1 = ends[d][1];
            fm_grid_fill(grid, 100, t0, t1, &g);
            /* exact endpoints (==), strictly monotone in the direction of t1 */
            T_CHECK(grid[0] == t0 && grid[100] == t1, "grid %s: endpoints %.17g %.17g, expected %g %g", names[i],
                    grid[0], grid[100], t0, t1);
            int mono = 1;
            for (int k = 0; k < 100; k++) mono &= (t1 > t0) ? grid[k + 1] > grid[k] : grid[k + 1] < grid[k];
            T_CHECK(mono, "grid %s from %g to %g is not strictly monotone", names[i], t0, t1);
        }
        char buf[64], buf2[64];
        fm_grid_name(buf, sizeof buf, &g);
        FmGrid g2;
        T_CHECK(fm_grid_parse(&g2, buf) == 0 && g2.power == g.power && g2.p == g.p, "grid name '%s' does not round-trip",
                buf);
        fm_grid_name(buf2, sizeof buf2, &g2);
        T_CHECK(strcmp(buf, buf2) == 0 && strcmp(buf, names[i]) == 0, "grid name '%s' -> '%s' -> '%s'", names[i], buf,
                buf2);
    }
    /* power:2 packs steps toward t1: the formula t_k = t0 + (t1 - t0)(1 - (1 - k/n)^2), to 1e-15 */
    fm_grid_parse(&g, "power:2");
    fm_grid_fill(grid, 10, 0.0, 1.0, &g);
    for (int k = 0; k <= 10; k++) T_CLOSE(grid[k], 1.0 - (1.0 - k / 10.0) * (1.0 - k / 10.0), 1e-15, "power:2 grid point");
    T_CHECK(grid[10] - grid[9] < grid[1] - grid[0], "power:2 grid does not pack steps toward t1");
}

/* Integrating forward then back along the reversed grid recovers the start. */
static void test_roundtrip(void) {
    enum { N = 8, STEPS = 64 };
    FmGrid g = {0, 1.0};
    double fwd[STEPS + 1], bwd[STEPS + 1];
    const Problem *p = &PROBLEMS[1];
    float x[N * 2], x0[N * 2];
    fm_grid_fill(fwd, STEPS, 0.0, 1.0, &g);
    fm_grid_fill(bwd, STEPS, 1.0, 0.0, &g);
    float *w = work_alloc(N, p->D);
    start_rows(x0, p, N, 0.0);
    memcpy(x, x0, sizeof x);
    fm_ode_fixed(x, N, p->D, FM_SOLVER_RK4, fwd, STEPS, p->f, NULL, w);
    fm_ode_fixed(x, N, p->D, FM_SOLVER_RK4, bwd, STEPS, p->f, NULL, w);
    /* RK4, 64 steps each way: truncation ~1e-8, float rounding of 128 steps < 2e-6 for |x| <= 1.1 */
    for (size_t i = 0; i < N * p->D; i++) T_CLOSE(x[i], x0[i], 2e-6, "RK4 forward + backward recovers x0");
    free(w);
}

/* ---------------------------------------------------------------- 3: dopri5 */

static int run_dopri5(float *x, size_t n, size_t D, double t0, double t1, double tol, long max_steps, FmField f,
                      long *nfe) {
    float *w = work_alloc(n, D);
    count_reset();
    int rc = fm_ode_dopri5(x, n, D, t0, t1, tol, tol, max_steps, f, NULL, w, nfe, NULL);
    T_CHECK(work_canary_ok(w, n, D), "dopri5 wrote past fm_ode_work_floats");
    long sum = 0;
    for (size_t i = 0; i < n; i++) sum += nfe[i];
    T_CHECK(sum == g_count.rows_evaluated, "dopri5: NFE per row sums to %ld, the field evaluated %ld rows", sum,
            g_count.rows_evaluated);
    T_CHECK(g_count.score_calls == 0, "dopri5 asked for the score");
    if (g_count.calls) /* every stage time inside [t0, t1] */
        T_CHECK(g_count.tmin >= fmin(t0, t1) && g_count.tmax <= fmax(t0, t1),
                "dopri5 evaluated the field at t in [%.17g, %.17g], outside [%g, %g]", g_count.tmin, g_count.tmax,
                t0, t1);
    free(w);
    return rc;
}

static void test_dopri5_accuracy(void) {
    enum { N = 3 };
    const double tols[2] = {1e-6, 1e-4};
    const double spans[2][2] = {{0.0, 1.0}, {1.0, 0.0}}; /* forwards and backwards */
    for (size_t pi = 0; pi < NPROB; pi++) {
        const Problem *p = &PROBLEMS[pi];
        for (int d = 0; d < 2; d++) {
            const double t0 = spans[d][0], t1 = spans[d][1];
            long maxnfe[2] = {0, 0};
            for (int k = 0; k < 2; k++) {
                float x[N * 2];
                double err[N * 2];
                long nfe[N];
                start_rows(x, p, N, t0);
                int rc = run_dopri5(x, N, p->D, t0, t1, tols[k], 10000, p->f, nfe);
                T_CHECK(rc == 0, "dopri5 on %s failed: %s", p->name, fm_err_msg());
                row_errors(err, x, p, N, t1);
                /* bound: |x - exact| <= 10 (atol + rtol |exact|) per component */
                double worst = 0.0;
                for (size_t i = 0; i < N * p->D; i++) {
                    const double e = err[i] * row_scale(i / p->D, N); /* unscaled signed error */
                    const double ex = (double)x[i] - e;
                    const double bound = 10.0 * (tols[k] + tols[k] * fabs(ex));
                    worst = fmax(worst, fabs(e) / (tols[k] + tols[k] * fabs(ex)));
                    T_CHECK(fabs(e) <= bound, "dopri5 %s t %g->%g tol %g: component %zu error %.3g > bound %.3g",
                            p->name, t0, t1, tols[k], i, fabs(e), bound);
                }
                for (size_t i = 0; i < N; i++) maxnfe[k] = nfe[i] > maxnfe[k] ? nfe[i] : maxnfe[k];
                printf("RESULT dopri5 %-8s t %g->%g rtol = atol = %-6g: max error %.2f (atol + rtol |x|) (bound 10); "
                       "NFE per row",
                       p->name, t0, t1, tols[k], worst);
                for (size_t i = 0; i < N; i++) printf(" %ld", nfe[i]);
                printf("\n");
            }
            T_CHECK(maxnfe[1] < maxnfe[0], "dopri5 %s t %g->%g: NFE %ld at tol 1e-4 not below %ld at tol 1e-6",
                    p->name, t0, t1, maxnfe[1], maxnfe[0]);
        }
    }
}

/* x0' = -x1 x0, x1' = 0: a row's stiffness k = x1 travels with its state (the solver
 * compacts rows, so a field cannot know a row's index). x0(t) = x0(0) exp(-k t). */
static void field_decay(float *u, float *s, const float *x, const double *t, size_t n, void *ctx) {
    (void)ctx;
    count(t, n, s);
    for (size_t i = 0; i < n; i++) {
        u[2 * i] = (float)(-(double)x[2 * i + 1] * (double)x[2 * i]);
        u[2 * i + 1] = 0.0f;
    }
}

static void test_dopri5_rows(void) {
    enum { NR = 6 };
    const float ks[NR] = {0.1f, 1.0f, 30.0f, 3.0f, 0.0f, 200.0f};
    float all[2 * NR], one[2];
    long nfe_all[NR], nfe_one[1];
    for (int i = 0; i < NR; i++) {
        all[2 * i] = 1.0f + 0.1f * (float)i;
        all[2 * i + 1] = ks[i];
    }
    float start[2 * NR];
    memcpy(start, all, sizeof all);
    int rc = run_dopri5(all, NR, 2, 0.0, 1.0, 1e-5, 100000, field_decay, nfe_all);
    T_CHECK(rc == 0, "dopri5 on the decay batch failed: %s", fm_err_msg());
    printf("RESULT dopri5 decay batch k = 0.1 1 30 3 0 200, tol 1e-5: NFE per row");
    for (int i = 0; i < NR; i++) printf(" %ld", nfe_all[i]);
    printf("\n");
    for (int i = 0; i < NR; i++) {
        memcpy(one, start + 2 * i, sizeof one);
        rc = run_dopri5(one, 1, 2, 0.0, 1.0, 1e-5, 100000, field_decay, nfe_one);
        T_CHECK(rc == 0, "dopri5 on decay row %d alone failed: %s", i, fm_err_msg());
        /* bit-identical state and the same NFE, alone or in the batch */
        T_CHECK(memcmp(one, all + 2 * i, sizeof one) == 0, "dopri5 row %d (k = %g): batch %.9g, alone %.9g", i,
                (double)ks[i], (double)all[2 * i], (double)one[0]);
        T_CHECK(nfe_one[0] == nfe_all[i], "dopri5 row %d (k = %g): NFE %ld in the batch, %ld alone", i, (double)ks[i],
                nfe_all[i], nfe_one[0]);
        const double ex = start[2 * i] * exp(-(double)ks[i]);
        /* 10 (atol + rtol |x|) with tol 1e-5 */
        T_CLOSE(all[2 * i], ex, 10.0 * 1e-5 * (1.0 + fabs(ex)), "dopri5 decay row vs exp(-k)");
        T_CHECK(all[2 * i + 1] == ks[i], "dopri5 changed a constant component");
    }
    /* Stiffer rows need more evaluations (k = 200 versus k = 0.1). */
    T_CHECK(nfe_all[5] > nfe_all[0], "dopri5: stiff row NFE %ld not above the easy row's %ld", nfe_all[5], nfe_all[0]);

    /* t0 == t1: nothing to do, no evaluations */
    memcpy(all, start, sizeof all);
    rc = run_dopri5(all, NR, 2, 0.5, 0.5, 1e-5, 100, field_decay, nfe_all);
    T_CHECK(rc == 0 && memcmp(all, start, sizeof all) == 0 && nfe_all[0] == 0, "dopri5 with t0 == t1 is not a no-op");
}

/* A batch large enough for the OpenMP loops (n D > 65536): a few rows solved alone (serial
 * loops) are bit-identical to the same rows in the batch, for dopri5 and RK4. */
static void test_large_batch(void) {
    const size_t n = 40000, D = 2;
    float *x = malloc(n * D * sizeof(float)), *y = malloc(n * D * sizeof(float));
    long *nfe = malloc(n * sizeof(long));
    FM_CHECK(x && y && nfe, "test: out of memory");
    for (size_t i = 0; i < n; i++) {
        x[2 * i] = 0.5f + (float)(i % 7) * 0.25f;
        x[2 * i + 1] = (float)(i % 13) * 4.0f; /* stiffness k in [0, 48] */
    }
    memcpy(y, x, n * D * sizeof(float));
    int rc = run_dopri5(x, n, D, 0.0, 1.0, 1e-5, 10000, field_decay, nfe);
    T_CHECK(rc == 0, "dopri5 on a large batch failed: %s", fm_err_msg());
    FmGrid g = {0, 1.0};
    double grid[21];
    fm_grid_fill(grid, 20, 0.0, 1.0, &g);
    float *w = work_alloc(n, D);
    fm_ode_fixed(y, n, D, FM_SOLVER_RK4, grid, 20, field_decay, NULL, w);
    T_CHECK(work_canary_ok(w, n, D), "RK4 wrote past fm_ode_work_floats");
    free(w);
    const size_t rows[] = {0, 1, 12345, 27182, 39999};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        const size_t i = rows[r];
        float one[2] = {0.5f + (float)(i % 7) * 0.25f, (float)(i % 13) * 4.0f}, two[2];
        memcpy(two, one, sizeof one);
        long nfe1;
        run_dopri5(one, 1, D, 0.0, 1.0, 1e-5, 10000, field_decay, &nfe1);
        T_CHECK(memcmp(one, x + 2 * i, sizeof one) == 0 && nfe1 == nfe[i],
                "dopri5 row %zu: batch %.9g (NFE %ld), alone %.9g (NFE %ld)", i, (double)x[2 * i], nfe[i],
                (double)one[0], nfe1);
        w = work_alloc(1, D);
        fm_ode_fixed(two, 1, D, FM_SOLVER_RK4, grid, 20, field_decay, NULL, w);
        free(w);
        T_CHECK(memcmp(two, y + 2 * i, sizeof two) == 0, "RK4 row %zu differs alone and in a large batch", i);
    }
    free(x);
    free(y);
    free(nfe);
}

static void field_nan(float *u, float *s, const float *x, const double *t, size_t n, void *ctx) {
    (void)ctx;
    (void)x;
    count(t, n, s);
    for (size_t i = 0; i < n; i++) u[i] = NAN;
}

/* Piecewise integration (trajectory frames) carrying the step sizes in hrow: the same
 * accuracy, and fewer evaluations than restarting the controller (and its starting
 * heuristic) at every frame. Each frame still costs at least one step. */
static void test_dopri5_carry(void) {
    enum { N = 4, FR = 20 };
    const double tol = 1e-4;
    float xa[N], xb[N];
    long nfe[N], total_a = 0, total_b = 0;
    double hrow[N] = {0};
    for (size_t i = 0; i < N; i++) xa[i] = xb[i] = (float)(0.9 + 0.05 * (double)i);
    float *w = work_alloc(N, 1);
    for (int k = 0; k < FR; k++) {
        double a = (double)k / FR, b = (double)(k + 1) / FR;
        T_CHECK(fm_ode_dopri5(xa, N, 1, a, b, tol, tol, 1000, field_cos, NULL, w, nfe, NULL) == 0, "%s", fm_err_msg());
        for (size_t i = 0; i < N; i++) total_a += nfe[i];
        T_CHECK(fm_ode_dopri5(xb, N, 1, a, b, tol, tol, 1000, field_cos, NULL, w, nfe, hrow) == 0, "%s", fm_err_msg());
        for (size_t i = 0; i < N; i++) {
            total_b += nfe[i];
            T_CHECK(hrow[i] > 0, "hrow holds a step size");
        }
    }
    double worst = 0;
    for (size_t i = 0; i < N; i++) {
        double exact = (0.9 + 0.05 * (double)i) * exp(sin(1.0));
        worst = fmax(worst, fabs(xb[i] - exact) / (tol * (1 + fabs(exact))));
    }
    T_CHECK(worst < 10, "dopri5 with carried step sizes: error %.3g x tol", worst);
    T_CHECK(total_b < total_a, "carrying step sizes must save evaluations: %ld vs %ld", total_b, total_a);
    printf("RESULT dopri5 over %d frames, tol %g: NFE per row %.1f restarting, %.1f carrying step sizes; error %.2f x tol\n",
           FR, tol, (double)total_a / N, (double)total_b / N, worst);
    free(w);
}

static void test_dopri5_failures(void) {
    float x[3] = {0.5f, 1.0f, -1.5f};
    long nfe[3];
    fm_err_clear();
    int rc = run_dopri5(x, 3, 1, 0.0, 1.0, 1e-6, 3, field_cos, nfe);
    T_CHECK(rc == -1, "dopri5 with max_steps 3 returned %d, expected -1", rc);
    T_CHECK(strstr(fm_err_msg(), "more than 3 steps") != NULL, "dopri5 max_steps message: '%s'", fm_err_msg());
    printf("RESULT dopri5 max_steps 3: %s\n", fm_err_msg());
    fm_err_clear();
    float y[2] = {1.0f, 2.0f};
    rc = run_dopri5(y, 2, 1, 0.0, 1.0, 1e-6, 100000, field_nan, nfe);
    T_CHECK(rc == -1, "dopri5 on a NaN field returned %d, expected -1", rc);
    T_CHECK(strstr(fm_err_msg(), "underflow") != NULL, "dopri5 NaN-field message: '%s'", fm_err_msg());
    printf("RESULT dopri5 NaN field: %s\n", fm_err_msg());
    float *w = work_alloc(1, 1);
    rc = fm_ode_dopri5(y, 1, 1, 0.0, 1.0, 0.0, 0.0, 100, field_cos, NULL, w, nfe, NULL);
    T_CHECK(rc == -1 && strstr(fm_err_msg(), "tolerances") != NULL, "dopri5 with rtol = atol = 0: rc %d, '%s'", rc,
            fm_err_msg());
    free(w);
}

/* ---------------------------------------------------------------- 4: Euler-Maruyama */

/* Gaussian data N(0, sd^2) on the condot path: p_t = N(0, v_t), v_t = t^2 sd^2 + (1 - t)^2,
 * u_t(x) = (v_t' / (2 v_t)) x, s_t(x) = -x / v_t (row-wise, any D). */
#define SD 0.5
static double gv(double t) { return t * t * SD * SD + (1.0 - t) * (1.0 - t); }
static double gdv(double t) { return 2.0 * t * SD * SD - 2.0 * (1.0 - t); }
typedef struct {
    size_t D;
} GaussCtx;
static void field_gauss(float *u, float *s, const float *x, const double *t, size_t n, void *ctx) {
    const size_t D = ((const GaussCtx *)ctx)->D;
    count(t, n, s);
    for (size_t i = 0; i < n; i++) {
        const double v = gv(t[i]), a = gdv(t[i]) / (2.0 * v);
        for (size_t c = 0; c < D; c++) {
            u[i * D + c] = (float)(a * (double)x[i * D + c]);
            if (s) s[i * D + c] = (float)(-(double)x[i * D + c] / v);
        }
    }
}

static void draw_x0(float *x, size_t n, size_t D, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        FmStream st;
        fm_stream_init(&st, seed, 0, i, FM_RNG_SAMPLE);
        for (size_t c = 0; c < D; c++) x[i * D + c] = (float)fm_stream_normal(&st);
    }
}

static FmSigma sigma_of(const char *str) {
    FmSigma s;
    int rc = fm_sigma_parse(&s, str);
    FM_CHECK(rc == 0, "test: sigma '%s': %s", str, fm_err_msg());
    return s;
}

static long sde(float *x, size_t n, size_t D, const double *grid, long steps, const char *sig, uint64_t seed,
                uint64_t index0, long k0) {
    FmSchedule sched;
    fm_schedule_parse(&sched, "condot");
    FmSigma s = sigma_of(sig);
    GaussCtx gc = {D};
    float *w = work_alloc(n, D);
    long nfe = fm_sde_em(x, n, D, grid, steps, &s, &sched, seed, index0, k0, field_gauss, &gc, w);
    T_CHECK(work_canary_ok(w, n, D), "fm_sde_em wrote past fm_ode_work_floats");
    free(w);
    return nfe;
}

static void test_sde_exact(void) {
    enum { N = 64, D = 3, STEPS = 50 };
    float x0[N * D], a[N * D], b[N * D];
    double grid[STEPS + 1];
    FmGrid g;
    fm_grid_parse(&g, "power:2");
    fm_grid_fill(grid, STEPS, 0.0, 0.95, &g);
    draw_x0(x0, N, D, 7);
    GaussCtx gc = {D};

    /* sigma = 0 ("0", "const:0", "beta:0") is Euler bit for bit, with no score requested */
    const char *zeros[] = {"0", "const:0", "beta:0"};
    for (size_t z = 0; z < 3; z++) {
        memcpy(a, x0, sizeof a);
        memcpy(b, x0, sizeof b);
        float *w = work_alloc(N, D);
        fm_ode_fixed(a, N, D, FM_SOLVER_EULER, grid, STEPS, field_gauss, &gc, w);
        free(w);
        count_reset();
        long nfe = sde(b, N, D, grid, STEPS, zeros[z], 1, 0, 0);
        T_CHECK(nfe == STEPS, "SDE NFE %ld, expected %d", nfe, STEPS);
        T_CHECK(memcmp(a, b, sizeof a) == 0, "SDE with sigma %s differs from Euler", zeros[z]);
        T_CHECK(g_count.score_calls == 0, "SDE with sigma %s asked for the score %ld times", zeros[z],
                g_count.score_calls);
    }
    count_reset();
    memcpy(a, x0, sizeof a);
    sde(a, N, D, grid, STEPS, "const:1", 1, 0, 0);
    T_CHECK(g_count.score_calls == STEPS, "SDE with sigma const:1 asked for the score %ld times, expected %d",
            g_count.score_calls, STEPS);

    /* determinism: the same seed gives the same result, another seed a different one */
    memcpy(a, x0, sizeof a);
    memcpy(b, x0, sizeof b);
    sde(a, N, D, grid, STEPS, "const:1", 11, 0, 0);
    sde(b, N, D, grid, STEPS, "const:1", 11, 0, 0);
    T_CHECK(memcmp(a, b, sizeof a) == 0, "SDE with the same seed is not reproducible");
    memcpy(b, x0, sizeof b);
    sde(b, N, D, grid, STEPS, "const:1", 12, 0, 0);
    int ndiff = 0;
    for (int i = 0; i < N * D; i++) ndiff += a[i] != b[i];
    T_CHECK(ndiff == N * D, "SDE with seeds 11 and 12: only %d of %d values differ", ndiff, N * D);

    /* the noise of row i depends on (seed, step, index0 + i) only: rows [0, 4) together vs
     * row 2 alone with index0 = 2 (also with a nonzero index0 for the batch) */
    for (uint64_t base = 0; base < 2; base++) {
        const uint64_t i0 = base * 1000;
        memcpy(a, x0, sizeof a);
        sde(a, 4, D, grid, STEPS, "beta:1.5", 5, i0, 0);
        memcpy(b, x0 + 2 * D, D * sizeof(float));
        sde(b, 1, D, grid, STEPS, "beta:1.5", 5, i0 + 2, 0);
        T_CHECK(memcmp(a + 2 * D, b, D * sizeof(float)) == 0, "SDE row 2 (index0 %llu) differs alone and in a batch",
                (unsigned long long)i0);
    }

    /* piecewise: steps [0, 20) then [20, 50) with k0 = 20 equals one call */
    memcpy(a, x0, sizeof a);
    memcpy(b, x0, sizeof b);
    sde(a, N, D, grid, STEPS, "const:0.7", 3, 0, 0);
    sde(b, N, D, grid, 20, "const:0.7", 3, 0, 0);
    sde(b, N, D, grid + 20, STEPS - 20, "const:0.7", 3, 0, 20);
    T_CHECK(memcmp(a, b, sizeof a) == 0, "SDE in two pieces (k0 = 20) differs from one call");
}

/* Variance of the Euler-Maruyama chain for this linear SDE, exactly in double:
 * x_{k+1} = g_k x_k + sigma_k sqrt(h) xi,  g_k = 1 + h (v'/(2v) - sigma_k^2 / (2 v)). */
static double em_variance(const double *grid, long steps, const FmSigma *s, const FmSchedule *sched) {
    double V = 1.0;
    for (long k = 0; k < steps; k++) {
        const double t = grid[k], h = grid[k + 1] - t, sg = fm_sigma_at(s, sched, t), v = gv(t);
        const double gk = 1.0 + h * (gdv(t) / (2.0 * v) - 0.5 * sg * sg / v);
        V = gk * gk * V + sg * sg * h;
    }
    return V;
}

static void test_sde_variance(void) {
    enum { N = 20000, D = 4, STEPS = 200 };
    const double T = 0.9, vT = gv(T);
    const size_t nv = (size_t)N * D;
    float *x = malloc(nv * sizeof(float));
    double grid[STEPS + 1];
    FmGrid g = {0, 1.0};
    FmSchedule sched;
    fm_schedule_parse(&sched, "condot");
    fm_grid_fill(grid, STEPS, 0.0, T, &g);
    const char *sigmas[] = {"0", "const:1", "beta:1", "const:2"};
    /* Standard error of the mean of x^2 for N(0, V): V sqrt(2 / nv) = 0.5% for nv = 80000. */
    const double se = sqrt(2.0 / (double)nv);
    for (size_t k = 0; k < sizeof sigmas / sizeof sigmas[0]; k++) {
        FmSigma s = sigma_of(sigmas[k]);
        draw_x0(x, N, D, 2024);
        double m0 = 0.0;
        for (size_t i = 0; i < nv; i++) m0 += (double)x[i] * x[i];
        m0 /= (double)nv;
        sde(x, N, D, grid, STEPS, sigmas[k], 99, 0, 0);
        double m2 = 0.0, mean = 0.0;
        for (size_t i = 0; i < nv; i++) {
            m2 += (double)x[i] * x[i];
            mean += x[i];
        }
        m2 /= (double)nv;
        mean /= (double)nv;
        const double Vem = em_variance(grid, STEPS, &s, &sched);
        printf("RESULT SDE sigma %-8s t 0->%.1f, %d steps, %zu values: var %.5f, exact v_t %.5f (%+.2f%%), "
               "EM-discrete %.5f (%+.2f%%), 5 se = %.2f%%\n",
               sigmas[k], T, STEPS, nv, m2, vT, 100.0 * (m2 / vT - 1.0), Vem, 100.0 * (m2 / Vem - 1.0), 500.0 * se);
        if (s.c == 0.0) {
            /* the ODE is linear: var = (discrete gain)^2 * mean(x0^2), up to float roundoff (1e-5) */
            T_CLOSE(m2 / (Vem * m0), 1.0, 1e-5, "ODE variance vs the discrete gain squared");
        } else {
            /* 5 standard errors around the exact variance of the discrete chain */
            T_CLOSE(m2 / Vem, 1.0, 5.0 * se, "EM sample variance / discrete-chain variance");
        }
        /* the sample variance matches v_t within 3% (5 se = 2.5%, plus the Euler bias of 200 steps, <= 2%) */
        T_CLOSE(m2 / vT, 1.0, 0.03, "sample variance / v_t");
        /* mean 0 within 5 se = 5 sqrt(v_t / nv) */
        T_CLOSE(mean, 0.0, 5.0 * sqrt(vT / (double)nv), "sample mean");
    }
    free(x);
}

/* ---------------------------------------------------------------- 5: parsing */

static void test_parse(void) {
    const char *good[] = {"euler", "midpoint", "heun", "rk4", "dopri5"};
    const int orders[] = {1, 2, 2, 4, 5}, nfes[] = {1, 2, 2, 4, 0};
    for (int i = 0; i < 5; i++) {
        FmSolver s = FM_SOLVER_EULER;
        T_CHECK(fm_solver_parse(&s, good[i]) == 0 && (int)s == i, "solver '%s' not parsed", good[i]);
        T_CHECK(strcmp(fm_solver_name(s), good[i]) == 0, "solver name %s", fm_solver_name(s));
        T_CHECK(fm_solver_order(s) == orders[i], "order of %s: %d", good[i], fm_solver_order(s));
        T_CHECK(fm_solver_nfe_per_step(s) == nfes[i], "NFE per step of %s: %d", good[i], fm_solver_nfe_per_step(s));
    }
    const char *bad[] = {"", "Euler", "rk45", "dopri", "heun ", "rk4x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FmSolver s = FM_SOLVER_RK4;
        char want[128];
        snprintf(want, sizeof want, "unknown solver '%s' (known: euler, midpoint, heun, rk4, dopri5)", bad[i]);
        T_CHECK(fm_solver_parse(&s, bad[i]) == -1 && s == FM_SOLVER_RK4, "solver '%s' accepted", bad[i]);
        T_CHECK(strcmp(fm_err_msg(), want) == 0, "solver message '%s'", fm_err_msg());
    }

    const char *badgrids[] = {"", "Uniform", "power", "power:", "power:0", "power:-1", "power:inf", "power:nan",
                              "power:2x", "power: 2", "pow:2", "power:0x10", "uniform:1", "power:1e999"};
    for (size_t i = 0; i < sizeof badgrids / sizeof badgrids[0]; i++) {
        FmGrid g = {0, 1.0};
        char want[128];
        snprintf(want, sizeof want, "unknown grid '%s' (known: uniform, power:P)", badgrids[i]);
        T_CHECK(fm_grid_parse(&g, badgrids[i]) == -1, "grid '%s' accepted", badgrids[i]);
        T_CHECK(strcmp(fm_err_msg(), want) == 0, "grid message '%s'", fm_err_msg());
    }

    struct {
        const char *str;
        int beta;
        double c;
        const char *name;
    } goods[] = {{"0", 0, 0.0, "const:0"},        {"const:0", 0, 0.0, "const:0"}, {"const:1", 0, 1.0, "const:1"},
                 {"beta:0.5", 1, 0.5, "beta:0.5"}, {"const:2.5e-1", 0, 0.25, "const:0.25"},
                 {"const:-0", 0, 0.0, "const:0"}, {"beta:.1", 1, 0.1, "beta:0.1"}};
    for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
        FmSigma s = {7, 7.0};
        char buf[64];
        T_CHECK(fm_sigma_parse(&s, goods[i].str) == 0 && s.beta == goods[i].beta && s.c == goods[i].c &&
                    !signbit(s.c),
                "sigma '%s' -> beta %d c %g", goods[i].str, s.beta, s.c);
        fm_sigma_name(buf, sizeof buf, &s);
        T_CHECK(strcmp(buf, goods[i].name) == 0, "sigma '%s' named '%s', expected '%s'", goods[i].str, buf,
                goods[i].name);
    }
    const char *badsig[] = {"", "1", "0.0", "x", "const", "const:", "const:x", "beta:inf", "beta:nan", "const:1x",
                            "gauss:1", "const: 1", "const:+1", "const:1e999"};
    for (size_t i = 0; i < sizeof badsig / sizeof badsig[0]; i++) {
        FmSigma s = {0, 3.0};
        char want[160];
        snprintf(want, sizeof want, "invalid --sigma '%s' (known: const:C, beta:C with C >= 0)", badsig[i]);
        T_CHECK(fm_sigma_parse(&s, badsig[i]) == -1 && s.c == 3.0, "sigma '%s' accepted", badsig[i]);
        T_CHECK(strcmp(fm_err_msg(), want) == 0, "sigma message '%s'", fm_err_msg());
    }
    const char *negsig[] = {"const:-1", "beta:-0.5"};
    for (size_t i = 0; i < 2; i++) {
        FmSigma s;
        T_CHECK(fm_sigma_parse(&s, negsig[i]) == -1, "sigma '%s' accepted", negsig[i]);
        T_CHECK(strstr(fm_err_msg(), "sigma must be >= 0") && strstr(fm_err_msg(), negsig[i]),
                "negative sigma message '%s'", fm_err_msg());
    }

    /* fm_sigma_at: const is c, beta is c beta_t (condot: c (1 - t)); exact to 1e-15 */
    FmSchedule sched;
    fm_schedule_parse(&sched, "condot");
    FmSigma s = sigma_of("beta:2");
    T_CLOSE(fm_sigma_at(&s, &sched, 0.25), 1.5, 1e-15, "sigma beta:2 at t = 0.25 (condot)");
    s = sigma_of("const:0.3");
    T_CLOSE(fm_sigma_at(&s, &sched, 0.25), 0.3, 0.0, "sigma const:0.3");
}

int main(void) {
    test_parse();
    test_grids();
    test_orders("uniform", 0.0, 1.0);
    test_orders("uniform", 1.0, 0.0); /* decreasing grid: from the exact x(1) back to x0 */
    test_orders("power:2", 0.0, 1.0);
    test_roundtrip();
    test_dopri5_accuracy();
    test_dopri5_rows();
    test_dopri5_carry();
    test_dopri5_failures();
    test_large_batch();
    test_sde_exact();
    test_sde_variance();
    return T_DONE();
}
