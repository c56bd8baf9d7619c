/* sampler.c - ODE and SDE integration of fields over time (SPEC.md "Sampling").
 *
 * Notation: n rows of D components; m = n D. A field f(u, s, x, t, n, ctx) evaluates row i
 * at its own time t[i]; ODE solvers pass s = NULL.
 *
 * Work area: fm_ode_work_floats(n, D) = R + 9 S floats, R = ceil64(n (8 + sizeof(RowState)))/4
 * (48 bytes per row on LP64, rounded up to 64 bytes), S = m rounded up to a multiple of 16.
 * It must be storage without a declared type (malloc / fm_malloc_floats), aligned for double,
 * since the per-row doubles live in it (checked):
 *
 *   [ row region, R floats                                                       ]
 *       tev   double[n]   the time array handed to the field (all solvers)
 *       rows  RowState[n] dopri5 only: each active row's t, h, original index, step count
 *   [ float region: 9 arrays of m floats, S apart (64-byte aligned if work is)     ]
 *       Euler:     u
 *       midpoint:  u, xs
 *       Heun:      u1, u2, xs
 *       RK4:       k1, k2, k3, k4, xs
 *       SDE (EM):  u, s
 *       dopri5:    y (state of the active rows, compacted), k1..k7, ys (stage input; the
 *                  input of stage 7 is the 5th-order solution y_new, FSAL) = 9 arrays.
 *
 * dopri5 keeps the unfinished rows packed at the front of its arrays: a finished row is
 * written back to x and costs nothing more, so the field is called with n' <= n rows that are
 * not in their original positions - a field must not depend on a row's position.
 *
 * Precision: the state is float; every stage combination is formed in double from the float
 * values and rounded once when stored. Euler is x += (float)(h u) (the seeds' Algorithm 1),
 * and Euler-Maruyama with sigma_t = 0 runs that very function, so it is Euler bit for bit.
 *
 * Row independence: no arithmetic mixes rows, and OpenMP is used only for loops whose
 * iterations are independent rows or elements, so a row's result does not depend on the
 * other rows of its batch or on the number of threads (given a field that is row-wise).
 */
#include "fm/sampler.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/rng.h"

/* Elementwise loops over more than this many floats run with OpenMP. */
#define FM_OMP_MIN 65536
/* Float arrays in the work area (dopri5 needs the most: y, k1..k7, ys). */
#define FM_WORK_STAGES 9

/* ---------------------------------------------------------------- names */

static const char *const SOLVER_NAMES[] = {"euler", "midpoint", "heun", "rk4", "dopri5"};
#define NSOLVERS (sizeof SOLVER_NAMES / sizeof SOLVER_NAMES[0])

int fm_solver_parse(FmSolver *s, const char *name) {
    for (size_t i = 0; name != NULL && i < NSOLVERS; i++) {
        if (strcmp(name, SOLVER_NAMES[i]) == 0) {
            *s = (FmSolver)i;
            return 0;
        }
    }
    return fm_err_set("unknown solver '%s' (known: euler, midpoint, heun, rk4, dopri5)", name ? name : "(null)");
}

const char *fm_solver_name(FmSolver s) {
    return (unsigned)s < NSOLVERS ? SOLVER_NAMES[s] : "unknown";
}

int fm_solver_order(FmSolver s) {
    switch (s) {
    case FM_SOLVER_EULER: return 1;
    case FM_SOLVER_MIDPOINT: return 2;
    case FM_SOLVER_HEUN: return 2;
    case FM_SOLVER_RK4: return 4;
    case FM_SOLVER_DOPRI5: return 5;
    }
    return 0;
}

int fm_solver_nfe_per_step(FmSolver s) {
    switch (s) {
    case FM_SOLVER_EULER: return 1;
    case FM_SOLVER_MIDPOINT: return 2;
    case FM_SOLVER_HEUN: return 2;
    case FM_SOLVER_RK4: return 4;
    case FM_SOLVER_DOPRI5: return 0;
    }
    return 0;
}

/* A positive or non-negative finite number written as a plain decimal: a digit or ".digit"
 * first (no sign, whitespace, "inf", "nan", hex), nothing after. 0 or -1. */
static int parse_plain_number(double *v, const char *str) {
    if (!(isdigit((unsigned char)str[0]) || (str[0] == '.' && isdigit((unsigned char)str[1])))) return -1;
    if (str[0] == '0' && (str[1] == 'x' || str[1] == 'X')) return -1;
    char *end = NULL;
    double x = strtod(str, &end);
    if (end == str || *end != '\0' || !isfinite(x)) return -1;
    *v = x;
    return 0;
}

/* "%g" when it parses back to v, else 17 significant digits. */
static void format_number(char *buf, size_t size, double v) {
    snprintf(buf, size, "%g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, size, "%.17g", v);
}

/* ---------------------------------------------------------------- grids */

int fm_grid_parse(FmGrid *g, const char *str) {
    FmGrid out = {0, 1.0};
    double p = 0.0;
    if (str != NULL && strcmp(str, "uniform") == 0) {
        *g = out;
        return 0;
    }
    if (str != NULL && strncmp(str, "power:", 6) == 0 && parse_plain_number(&p, str + 6) == 0 && p > 0.0) {
        out.power = 1;
        out.p = p;
        *g = out;
        return 0;
    }
    return fm_err_set("unknown grid '%s' (known: uniform, power:P)", str ? str : "(null)");
}

void fm_grid_name(char *buf, size_t size, const FmGrid *g) {
    if (size == 0) return;
    if (!g->power) {
        snprintf(buf, size, "uniform");
        return;
    }
    char num[40];
    format_number(num, sizeof num, g->p);
    snprintf(buf, size, "power:%s", num);
}

void fm_grid_fill(double *grid, long steps, double t0, double t1, const FmGrid *g) {
    FM_CHECK(steps >= 1, "fm_grid_fill: %ld steps (at least 1 needed)", steps);
    const double span = t1 - t0;
    for (long k = 1; k < steps; k++) {
        const double r = (double)k / (double)steps;
        /* power:p: t_k = t0 + (t1 - t0)(1 - (1 - k/n)^p) (sampler.h) */
        const double frac = g->power ? 1.0 - pow(1.0 - r, g->p) : r;
        grid[k] = t0 + span * frac;
    }
    grid[0] = t0; /* endpoints exact, whatever the rounding of the formula */
    grid[steps] = t1;
}

/* ---------------------------------------------------------------- sigma */

int fm_sigma_parse(FmSigma *s, const char *str) {
    static const char *const known = "(known: const:C, beta:C with C >= 0)";
    FmSigma out = {0, 0.0};
    if (str == NULL) return fm_err_set("invalid --sigma '(null)' %s", known);
    if (strcmp(str, "0") == 0) { /* shorthand for const:0, the ODE */
        *s = out;
        return 0;
    }
    const char *num = NULL;
    if (strncmp(str, "const:", 6) == 0) {
        num = str + 6;
    } else if (strncmp(str, "beta:", 5) == 0) {
        out.beta = 1;
        num = str + 5;
    } else {
        return fm_err_set("invalid --sigma '%s' %s", str, known);
    }
    const int neg = num[0] == '-';
    double c = 0.0;
    if (parse_plain_number(&c, num + neg) != 0) return fm_err_set("invalid --sigma '%s' %s", str, known);
    if (neg && c != 0.0) return fm_err_set("invalid --sigma '%s': sigma must be >= 0", str);
    out.c = c; /* "-0" is +0 here: c is the parsed magnitude */
    *s = out;
    return 0;
}

void fm_sigma_name(char *buf, size_t size, const FmSigma *s) {
    if (size == 0) return;
    char num[40];
    format_number(num, sizeof num, s->c);
    snprintf(buf, size, "%s:%s", s->beta ? "beta" : "const", num);
}

double fm_sigma_at(const FmSigma *s, const FmSchedule *sched, double t) {
    if (!s->beta || s->c == 0.0) return s->c;
    FM_CHECK(sched != NULL, "fm_sigma_at: sigma beta:%g needs a schedule", s->c);
    return s->c * fm_schedule_eval(sched, t).b;
}

/* ---------------------------------------------------------------- work area */

/* Per-row state of dopri5 (kept in the work area, compacted with the active rows). */
typedef struct {
    double t, h;    /* current time and signed step size */
    size_t idx;     /* the row of x it came from */
    long steps;     /* steps attempted (accepted + rejected) */
    int rejected;   /* the last attempt was rejected: the next step may not grow */
    int last;       /* the current attempt ends at t1 (its end time is set to t1 exactly) */
} RowState;

static size_t row_region_floats(size_t n) {
    size_t bytes = n * (sizeof(double) + sizeof(RowState));
    bytes = (bytes + 63) / 64 * 64;
    return bytes / sizeof(float);
}

static size_t stage_stride(size_t n, size_t D) {
    const size_t m = n * D;
    return (m + 15) / 16 * 16; /* each array 64-byte aligned relative to work */
}

size_t fm_ode_work_floats(size_t n, size_t D) {
    return row_region_floats(n) + FM_WORK_STAGES * stage_stride(n, D);
}

typedef struct {
    double *tev;    /* (n) time of each row for the field */
    RowState *rows; /* (n) dopri5 */
    float *a[FM_WORK_STAGES];
} Work;

static Work work_views(float *work, size_t n, size_t D) {
    FM_CHECK(((uintptr_t)work % sizeof(double)) == 0, "solver work area not aligned for double (use fm_malloc_floats)");
    Work w;
    w.tev = (double *)(void *)work;
    w.rows = (RowState *)(void *)(w.tev + n);
    float *f = work + row_region_floats(n);
    const size_t stride = stage_stride(n, D);
    for (int i = 0; i < FM_WORK_STAGES; i++) w.a[i] = f + (size_t)i * stride;
    return w;
}

static void fill_times(double *tev, size_t n, double t) {
    for (size_t i = 0; i < n; i++) tev[i] = t;
}

/* ---------------------------------------------------------------- fixed grid */

/* x += (float)(h u): Euler, and Euler-Maruyama with sigma_t = 0 (identical by construction). */
static void euler_update(float *x, const float *u, double h, size_t m) {
#pragma omp parallel for schedule(static) if (m > FM_OMP_MIN)
    for (size_t i = 0; i < m; i++) x[i] += (float)(h * u[i]);
}

/* out = x + c u, in double, rounded once. */
static void axpy_to(float *out, const float *x, double c, const float *u, size_t m) {
#pragma omp parallel for schedule(static) if (m > FM_OMP_MIN)
    for (size_t i = 0; i < m; i++) out[i] = (float)((double)x[i] + c * (double)u[i]);
}

long fm_ode_fixed(float *x, size_t n, size_t D, FmSolver solver, const double *grid, long steps, FmField f,
                  void *ctx, float *work) {
    FM_CHECK(solver != FM_SOLVER_DOPRI5 && (unsigned)solver < NSOLVERS,
             "fm_ode_fixed: solver '%s' is not a fixed-grid solver", fm_solver_name(solver));
    if (n == 0 || steps <= 0) return 0;
    const size_t m = n * D;
    Work w = work_views(work, n, D);
    double *tev = w.tev;
    for (long k = 0; k < steps; k++) {
        const double t = grid[k], tn = grid[k + 1], h = tn - t;
        const double tm = 0.5 * (t + tn); /* the half step, symmetric in both ends */
        switch (solver) {
        case FM_SOLVER_EULER: {
            float *u = w.a[0];
            fill_times(tev, n, t);
            f(u, NULL, x, tev, n, ctx);
            euler_update(x, u, h, m);
            break;
        }
        case FM_SOLVER_MIDPOINT: { /* x += h u(x + h/2 u(x, t), t + h/2) */
            float *u = w.a[0], *xs = w.a[1];
            fill_times(tev, n, t);
            f(u, NULL, x, tev, n, ctx);
            axpy_to(xs, x, 0.5 * h, u, m);
            fill_times(tev, n, tm);
            f(u, NULL, xs, tev, n, ctx);
            axpy_to(x, x, h, u, m);
            break;
        }
        case FM_SOLVER_HEUN: { /* x += h/2 (u(x, t) + u(x + h u, t + h)) */
            float *u1 = w.a[0], *u2 = w.a[1], *xs = w.a[2];
            fill_times(tev, n, t);
            f(u1, NULL, x, tev, n, ctx);
            axpy_to(xs, x, h, u1, m);
            fill_times(tev, n, tn);
            f(u2, NULL, xs, tev, n, ctx);
            const double hh = 0.5 * h;
#pragma omp parallel for schedule(static) if (m > FM_OMP_MIN)
            for (size_t i = 0; i < m; i++) x[i] = (float)((double)x[i] + hh * ((double)u1[i] + (double)u2[i]));
            break;
        }
        case FM_SOLVER_RK4: { /* classic: x += h/6 (k1 + 2 k2 + 2 k3 + k4) */
            float *k1 = w.a[0], *k2 = w.a[1], *k3 = w.a[2], *k4 = w.a[3], *xs = w.a[4];
            fill_times(tev, n, t);
            f(k1, NULL, x, tev, n, ctx);
            axpy_to(xs, x, 0.5 * h, k1, m);
            fill_times(tev, n, tm);
            f(k2, NULL, xs, tev, n, ctx);
            axpy_to(xs, x, 0.5 * h, k2, m);
            f(k3, NULL, xs, tev, n, ctx);
            axpy_to(xs, x, h, k3, m);
            fill_times(tev, n, tn);
            f(k4, NULL, xs, tev, n, ctx);
            const double h6 = h / 6.0;
#pragma omp parallel for schedule(static) if (m > FM_OMP_MIN)
            for (size_t i = 0; i < m; i++)
                x[i] = (float)((double)x[i] +
                               h6 * ((double)k1[i] + 2.0 * (double)k2[i] + 2.0 * (double)k3[i] + (double)k4[i]));
            break;
        }
        case FM_SOLVER_DOPRI5: break; /* excluded above */
        }
    }
    return steps * fm_solver_nfe_per_step(solver);
}

/* ---------------------------------------------------------------- dopri5 */

/* Dormand-Prince 5(4) (Hairer, Norsett, Wanner, Solving ODEs I, Table 5.2). Row 7 of A is
 * the 5th-order weights b (FSAL: stage 7 is the first stage of the next step); E = b - b*. */
static const double DP_C[7] = {0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0};
static const double DP_A[7][6] = {
    {0},
    {1.0 / 5.0},
    {3.0 / 40.0, 9.0 / 40.0},
    {44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0},
    {19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0},
    {9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0},
    {35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0},
};
static const double DP_E[7] = {71.0 / 57600.0,     0.0,          -71.0 / 16695.0, 71.0 / 1920.0,
                               -17253.0 / 339200.0, 22.0 / 525.0, -1.0 / 40.0};

/* Step-size controller (sampler.h): safety 0.9, factors in [0.2, 10], exponent -1/5. */
#define DP_SAFETY 0.9
#define DP_FAC_MIN 0.2
#define DP_FAC_MAX 10.0

static void add_nfe(long *nfe, const RowState *rows, size_t na) {
    for (size_t j = 0; j < na; j++) nfe[rows[j].idx]++;
}

/* Writes the active rows back into x (at their original positions). */
static void scatter_rows(float *x, const float *y, const RowState *rows, size_t na, size_t D) {
    for (size_t j = 0; j < na; j++) memcpy(x + rows[j].idx * D, y + j * D, D * sizeof(float));
}

int fm_ode_dopri5(float *x, size_t n, size_t D, double t0, double t1, double rtol, double atol, long max_steps,
                  FmField f, void *ctx, float *work, long *nfe, double *hrow) {
    for (size_t i = 0; i < n; i++) nfe[i] = 0;
    if (!(rtol >= 0.0 && atol >= 0.0 && rtol + atol > 0.0 && isfinite(rtol) && isfinite(atol)))
        return fm_err_set("dopri5: invalid tolerances rtol %g, atol %g (both >= 0 and finite, not both 0)", rtol,
                          atol);
    if (n == 0 || t0 == t1) return 0;
    const size_t m = n * D;
    Work w = work_views(work, n, D);
    double *tev = w.tev;
    RowState *rows = w.rows;
    float *y = w.a[0], *k[7], *ys = w.a[8];
    for (int s = 0; s < 7; s++) k[s] = w.a[1 + s];
    const double span = t1 - t0, dir = span > 0.0 ? 1.0 : -1.0;
    const double hmin = 1e-12 * fabs(span);
    const int omp_rows = m > FM_OMP_MIN;

    memcpy(y, x, m * sizeof(float));
    for (size_t j = 0; j < n; j++) {
        rows[j].t = t0;
        rows[j].h = 0.0;
        rows[j].idx = j;
        rows[j].steps = 0;
        rows[j].rejected = 0;
        rows[j].last = 0;
    }
    size_t na = n; /* active rows, compacted to the front of every per-row array */

    /* k1 = f(y0, t0): the FSAL stage of the first step. */
    fill_times(tev, n, t0);
    f(k[0], NULL, y, tev, n, ctx);
    add_nfe(nfe, rows, n);

    /* A step size carried over from a previous call (hrow) needs no starting heuristic. */
    int carried = hrow != NULL;
    for (size_t j = 0; carried && j < n; j++) carried = hrow[j] > 0 && isfinite(hrow[j]);
    if (carried) {
        for (size_t j = 0; j < n; j++) rows[j].h = dir * fmin(hrow[j], fabs(span));
        goto stepping;
    }

    /* Initial step size per row (HNW II.4 "Starting step size", RMS norms with sc = atol + rtol |y0|):
     * h0 = 0.01 |y0| / |f0| (1e-6 if either is tiny), one Euler step to estimate |f'|, then
     * h = min(100 h0, (0.01 / max(|f0|, |f'|))^(1/5)), never beyond |t1 - t0|. */
#pragma omp parallel for schedule(static) if (omp_rows)
    for (size_t j = 0; j < n; j++) {
        const float *yj = y + j * D, *fj = k[0] + j * D;
        double d0 = 0.0, d1 = 0.0;
        for (size_t c = 0; c < D; c++) {
            const double sc = atol + rtol * fabs((double)yj[c]);
            d0 += ((double)yj[c] / sc) * ((double)yj[c] / sc);
            d1 += ((double)fj[c] / sc) * ((double)fj[c] / sc);
        }
        d0 = sqrt(d0 / (double)D);
        d1 = sqrt(d1 / (double)D);
        double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
        h0 = fmin(h0, fabs(span));
        rows[j].h = dir * h0;
        tev[j] = t0 + dir * h0;
        float *yo = ys + j * D;
        for (size_t c = 0; c < D; c++) yo[c] = (float)((double)yj[c] + dir * h0 * (double)fj[c]);
    }
    f(k[1], NULL, ys, tev, n, ctx);
    add_nfe(nfe, rows, n);
#pragma omp parallel for schedule(static) if (omp_rows)
    for (size_t j = 0; j < n; j++) {
        const float *yj = y + j * D, *f0 = k[0] + j * D, *f1 = k[1] + j * D;
        const double h0 = fabs(rows[j].h);
        double d1 = 0.0, d2 = 0.0;
        for (size_t c = 0; c < D; c++) {
            const double sc = atol + rtol * fabs((double)yj[c]);
            const double a = (double)f0[c] / sc, b = ((double)f1[c] - (double)f0[c]) / sc;
            d1 += a * a;
            d2 += b * b;
        }
        d1 = sqrt(d1 / (double)D);
        d2 = sqrt(d2 / (double)D) / h0;
        const double dm = fmax(d1, d2);
        const double h1 = dm <= 1e-15 ? fmax(1e-6, h0 * 1e-3) : pow(0.01 / dm, 1.0 / 5.0);
        rows[j].h = dir * fmin(fmin(100.0 * h0, h1), fabs(span));
    }

stepping:;
    int status = 0;
    while (na > 0) {
        /* Limits, then clamp the step so that the last one lands on t1 exactly. */
        for (size_t j = 0; j < na; j++) {
            RowState *r = &rows[j];
            if (r->steps >= max_steps) {
                status = fm_err_set("dopri5: row %zu needs more than %ld steps (reached t = %.6g of [%g, %g], "
                                    "step %.3g; rtol %g, atol %g)",
                                    r->idx, max_steps, r->t, t0, t1, r->h, rtol, atol);
                break;
            }
            if (!(fabs(r->h) >= hmin)) {
                status = fm_err_set("dopri5: step size underflow for row %zu at t = %.6g (|h| = %.3g < 1e-12 "
                                    "|t1 - t0|; the field may be non-finite or too stiff)",
                                    r->idx, r->t, fabs(r->h));
                break;
            }
            /* HNW: a step within 1% of t1 is stretched to it, so no sliver of a step is left */
            r->last = (r->t + 1.01 * r->h - t1) * dir >= 0.0;
            if (hrow) hrow[r->idx] = fabs(r->h); /* the proposal, before the clamp to t1 */
            if (r->last) r->h = t1 - r->t;
        }
        if (status) break;

        /* Stages 2..7 on all active rows at once. */
        for (int s = 1; s < 7; s++) {
#pragma omp parallel for schedule(static) if (na * D > FM_OMP_MIN)
            for (size_t j = 0; j < na; j++) {
                const RowState *r = &rows[j];
                const double h = r->h;
                const float *yj = y + j * D;
                float *out = ys + j * D;
                for (size_t c = 0; c < D; c++) {
                    double acc = 0.0;
                    for (int q = 0; q < s; q++) acc += DP_A[s][q] * (double)k[q][j * D + c];
                    out[c] = (float)((double)yj[c] + h * acc);
                }
                /* stages with c = 1 evaluate at the step's end, t1 exactly on the last step */
                const double tend = r->last ? t1 : r->t + h;
                tev[j] = DP_C[s] == 1.0 ? tend : r->t + DP_C[s] * h;
            }
            f(k[s], NULL, ys, tev, na, ctx);
            add_nfe(nfe, rows, na);
        }

        /* ys now holds y_new (the input of stage 7). Error, accept / reject, new step size. */
#pragma omp parallel for schedule(static) if (na * D > FM_OMP_MIN)
        for (size_t j = 0; j < na; j++) {
            RowState *r = &rows[j];
            const double h = r->h;
            float *yj = y + j * D;
            const float *yn = ys + j * D;
            double e2 = 0.0;
            for (size_t c = 0; c < D; c++) {
                double e = 0.0;
                for (int q = 0; q < 7; q++) e += DP_E[q] * (double)k[q][j * D + c];
                e *= h;
                const double sc = atol + rtol * fmax(fabs((double)yj[c]), fabs((double)yn[c]));
                e2 += (e / sc) * (e / sc);
            }
            const double err = sqrt(e2 / (double)D);
            r->steps++;
            if (err <= 1.0) {
                double fac = err == 0.0 ? DP_FAC_MAX : fmin(DP_FAC_MAX, fmax(DP_FAC_MIN, DP_SAFETY * pow(err, -0.2)));
                if (r->rejected) fac = fmin(fac, 1.0); /* HNW: no growth right after a rejection */
                r->t = r->last ? t1 : r->t + h;
                memcpy(yj, yn, D * sizeof(float));
                memcpy(k[0] + j * D, k[6] + j * D, D * sizeof(float)); /* FSAL */
                r->h = h * fac;
                r->rejected = 0;
            } else { /* err > 1 or NaN: shrink (a NaN err shrinks by the minimum factor) */
                const double fac = err > 1.0 ? fmax(DP_FAC_MIN, DP_SAFETY * pow(err, -0.2)) : DP_FAC_MIN;
                r->h = h * fac;
                r->rejected = 1;
            }
        }

        /* Finished rows go back to x; the rest move down, keeping their order. */
        size_t keep = 0;
        for (size_t j = 0; j < na; j++) {
            if (rows[j].t == t1) {
                memcpy(x + rows[j].idx * D, y + j * D, D * sizeof(float));
                continue;
            }
            if (keep != j) {
                rows[keep] = rows[j];
                memcpy(y + keep * D, y + j * D, D * sizeof(float));
                memcpy(k[0] + keep * D, k[0] + j * D, D * sizeof(float));
            }
            keep++;
        }
        na = keep;
    }
    if (status) scatter_rows(x, y, rows, na, D); /* leave the unfinished rows where they got to */
    return status;
}

/* ---------------------------------------------------------------- Euler-Maruyama */

long fm_sde_em(float *x, size_t n, size_t D, const double *grid, long steps, const FmSigma *sigma,
               const FmSchedule *sched, uint64_t seed, uint64_t index0, long k0, FmField f, void *ctx,
               float *work) {
    FM_CHECK(k0 >= 0, "fm_sde_em: negative first step %ld", k0);
    if (n == 0 || steps <= 0) return 0;
    const size_t m = n * D;
    Work w = work_views(work, n, D);
    double *tev = w.tev;
    float *u = w.a[0], *s = w.a[1];
    for (long k = 0; k < steps; k++) {
        const double t = grid[k], h = grid[k + 1] - grid[k];
        const double sig = fm_sigma_at(sigma, sched, t); /* at the start of the step */
        fill_times(tev, n, t);
        if (sig == 0.0) { /* the ODE step, exactly Euler's code (sampler.h) */
            f(u, NULL, x, tev, n, ctx);
            euler_update(x, u, h, m);
            continue;
        }
        /* The forward-time SDE dX = [u + sigma^2/2 s] dt + sigma dW; integrating it with h < 0
         * would not have the marginals p_t (the reverse-time drift is u - sigma^2/2 s). */
        FM_CHECK(h > 0.0, "fm_sde_em: sigma_t = %g > 0 needs an increasing grid (step %ld: %g -> %g)", sig, k,
                 t, grid[k + 1]);
        f(u, s, x, tev, n, ctx);
        const double half_s2 = 0.5 * sig * sig, noise = sig * sqrt(h);
        const uint64_t step = (uint64_t)k0 + (uint64_t)k;
#pragma omp parallel for schedule(static) if (m > FM_OMP_MIN)
        for (size_t i = 0; i < n; i++) {
            FmStream st;
            fm_stream_init(&st, seed, step, index0 + i, FM_RNG_SDE);
            float *xi = x + i * D;
            const float *ui = u + i * D, *si = s + i * D;
            for (size_t c = 0; c < D; c++) {
                const double drift = (double)ui[c] + half_s2 * (double)si[c];
                xi[c] = (float)((double)xi[c] + h * drift + noise * fm_stream_normal(&st));
            }
        }
    }
    return steps;
}
