/* test_path.c - schedules, targets and prediction conversions (src/path.c, SPEC.md).
 *
 * Tolerances are stated at each check. U = 2^-24 is the unit roundoff of float.
 * Vectors of length N are drawn from a local counter-free generator (splitmix64 +
 * Box-Muller) so that this test depends on nothing but path.c and common.c.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fm/common.h"
#include "fm/path.h"
#include "testutil.h"

#define N 512
#define U (1.0 / 16777216.0) /* 2^-24 */
#define PI 3.14159265358979323846

static const char *SCHEDS[] = {"condot", "cosine", "poly:2", "poly:0.5", "poly:3", "poly:1.5", "vp"};
#define NSCHED (sizeof SCHEDS / sizeof SCHEDS[0])
static const FmPred PREDS[] = {FM_PRED_VELOCITY, FM_PRED_SCORE, FM_PRED_NOISE, FM_PRED_DATA};
#define NPRED 4

/* ---------------------------------------------------------------- helpers */

static uint64_t g_rng = 0x9E3779B97F4A7C15ULL;
static uint64_t splitmix64(void) {
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double uniform01(void) { return ((double)(splitmix64() >> 11) + 0.5) * 0x1.0p-53; }
static double normal(void) {
    double u1 = uniform01(), u2 = uniform01();
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}
static void fill_normal(float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = (float)normal();
}

static FmSchedule sched(const char *name) {
    FmSchedule s;
    int rc = fm_schedule_parse(&s, name);
    FM_CHECK(rc == 0, "test setup: cannot parse schedule '%s': %s", name, fm_err_msg());
    return s;
}

/* The exact prediction of kind k for a sample (z, e), in double. */
static double exact_pred(FmPred k, double z, double e, FmCoef c) {
    switch (k) {
    case FM_PRED_VELOCITY: return c.da * z + c.db * e;
    case FM_PRED_SCORE: return -e / c.b;
    case FM_PRED_NOISE: return e;
    case FM_PRED_DATA: return z;
    }
    return NAN;
}

/* Reference conversion by the generic route of the derivation: express (z, e) of the source as
 * affine maps of (pred, x), then form the target from (z, e). Written independently of path.c. */
static void generic_coef(double *p, double *q, FmPred to, FmPred from, FmCoef c) {
    const double a = c.a, b = c.b, da = c.da, db = c.db;
    double zp, zq, ep, eq; /* z = zp pred + zq x,  e = ep pred + eq x */
    switch (from) {
    case FM_PRED_NOISE: ep = 1; eq = 0; zp = -b / a; zq = 1 / a; break;
    case FM_PRED_DATA: zp = 1; zq = 0; ep = -a / b; eq = 1 / b; break;
    case FM_PRED_SCORE: ep = -b; eq = 0; zp = b * b / a; zq = 1 / a; break;
    default: {
        double det = a * db - b * da;
        ep = a / det; eq = -da / det; zp = -b / det; zq = db / det;
        break;
    }
    }
    switch (to) {
    case FM_PRED_NOISE: *p = ep; *q = eq; break;
    case FM_PRED_DATA: *p = zp; *q = zq; break;
    case FM_PRED_SCORE: *p = -ep / b; *q = -eq / b; break;
    default: *p = da * zp + db * ep; *q = da * zq + db * eq; break;
    }
}

/* ---------------------------------------------------------------- schedules */

/* da, db against central differences of a, b in double: h = 1e-6,
 * |exact - fd| <= 1e-6 |exact| + 1e-9  (truncation ~h^2 f''', rounding ~1e-16/h = 1e-10). */
static void test_derivatives(void) {
    const double h = 1e-6;
    for (size_t k = 0; k < NSCHED; k++) {
        FmSchedule s = sched(SCHEDS[k]);
        int bad = 0;
        for (int i = 0; i <= 201; i++) {
            double t = i == 0 ? 1e-3 : i == 201 ? 0.999 : i / 201.0;
            if (i > 0 && i < 201 && (t < 1e-3 || t > 0.999)) continue;
            FmCoef c = fm_schedule_eval(&s, t);
            FmCoef cp = fm_schedule_eval(&s, t + h), cm = fm_schedule_eval(&s, t - h);
            double fda = (cp.a - cm.a) / (2 * h), fdb = (cp.b - cm.b) / (2 * h);
            if (fabs(c.da - fda) > 1e-6 * fabs(c.da) + 1e-9 || fabs(c.db - fdb) > 1e-6 * fabs(c.db) + 1e-9) {
                if (bad++ < 3)
                    fprintf(stderr, "  %s t=%g: da %.15g fd %.15g, db %.15g fd %.15g\n", SCHEDS[k], t, c.da,
                            fda, c.db, fdb);
            }
        }
        T_CHECK(bad == 0, "%s: %d derivative mismatches vs central differences", SCHEDS[k], bad);
    }
}

static void test_endpoints(void) {
    const char *exact_names[] = {"condot", "poly:2", "poly:0.5", "poly:3", "poly:1.5", "cosine"};
    for (size_t k = 0; k < sizeof exact_names / sizeof exact_names[0]; k++) {
        FmSchedule s = sched(exact_names[k]);
        FmCoef c0 = fm_schedule_eval(&s, 0.0), c1 = fm_schedule_eval(&s, 1.0);
        /* exact (tolerance 0): also for cosine, which evaluates the vanishing factor as sin(0) */
        T_CHECK(c0.a == 0.0 && c0.b == 1.0, "%s t=0: alpha %.17g beta %.17g", exact_names[k], c0.a, c0.b);
        T_CHECK(c1.a == 1.0 && c1.b == 0.0 && !signbit(c1.b), "%s t=1: alpha %.17g beta %.17g",
                exact_names[k], c1.a, c1.b);
    }
    /* vp: exact at t = 1; at t = 0 only approximately noise: T(0) = 0.1 + 19.9/2 = 10.05 */
    FmSchedule vp = sched("vp");
    FmCoef c1 = fm_schedule_eval(&vp, 1.0), c0 = fm_schedule_eval(&vp, 0.0);
    T_CHECK(c1.a == 1.0 && c1.b == 0.0, "vp t=1: alpha %.17g beta %.17g", c1.a, c1.b);
    T_CHECK(isinf(c1.db) && c1.db < 0, "vp t=1: dbeta = %g, documented as -inf", c1.db);
    T_CLOSE(c1.da, 0.5 * 0.1, 1e-15, "vp t=1: dalpha = bmin/2");
    T_CLOSE(c0.a, exp(-5.025), 1e-15, "vp t=0: alpha = exp(-T/2)");
    T_CLOSE(c0.b, sqrt(1.0 - exp(-10.05)), 1e-15, "vp t=0: beta = sqrt(1 - exp(-T))");
    T_CLOSE(c0.a, 0.00657, 1e-5, "vp t=0: alpha ~ 0.00657");
    T_CLOSE(c0.b, 0.99998, 1e-5, "vp t=0: beta ~ 0.99998");
    /* poly:n, n < 1: da singular at t = 0 (documented IEEE limit) */
    FmSchedule ph = sched("poly:0.5");
    FmCoef cz = fm_schedule_eval(&ph, 0.0);
    T_CHECK(isinf(cz.da) && cz.da > 0 && isinf(cz.db) && cz.db < 0, "poly:0.5 t=0: da %g db %g", cz.da, cz.db);
}

/* Closed forms against the SPEC table written out directly, plus structural identities. */
static void test_schedule_values(void) {
    for (int i = 1; i < 100; i++) {
        double t = i / 100.0, r = 1.0 - t;
        FmCoef c;
        c = fm_schedule_eval(&(FmSchedule){.kind = FM_SCHED_CONDOT}, t);
        T_CHECK(c.a == t && c.b == 1.0 - t && c.da == 1.0 && c.db == -1.0, "condot t=%g", t);
        FmSchedule cs = sched("cosine");
        c = fm_schedule_eval(&cs, t);
        /* |.| <= 4e-16: the two ways of evaluating cos agree to rounding */
        T_CLOSE(c.a, sin(PI * t / 2), 4e-16, "cosine alpha");
        T_CLOSE(c.b, cos(PI * t / 2), 4e-16, "cosine beta");
        T_CLOSE(c.a * c.a + c.b * c.b, 1.0, 1e-15, "cosine alpha^2 + beta^2 = 1");
        FmSchedule p3 = sched("poly:3");
        c = fm_schedule_eval(&p3, t);
        T_CLOSE(c.a, t * t * t, 1e-15, "poly:3 alpha");
        T_CLOSE(c.b, 1.0 - t * t * t, 1e-15, "poly:3 beta");
        T_CLOSE(c.da, 3 * t * t, 1e-15, "poly:3 dalpha");
        FmSchedule vp = sched("vp");
        c = fm_schedule_eval(&vp, t);
        double T = 0.1 * r + 0.5 * r * r * 19.9;
        T_CLOSE(c.a, exp(-T / 2), 1e-15, "vp alpha");
        T_CLOSE(c.b, sqrt(1 - exp(-T)), 1e-14, "vp beta"); /* cancellation in the reference */
        T_CLOSE(c.a * c.a + c.b * c.b, 1.0, 1e-15, "vp alpha^2 + beta^2 = 1 (variance preserving)");
    }
    /* Relative accuracy of beta near t = 1, where the score divides by it (|rel| <= 1e-15). */
    double d = 0x1.0p-30, t = 1.0 - d; /* exact */
    FmSchedule p2 = sched("poly:2"), cs = sched("cosine"), vp = sched("vp");
    double b2 = fm_schedule_eval(&p2, t).b, ref2 = 2 * d - d * d; /* exact in double */
    T_CHECK(fabs(b2 - ref2) <= 1e-15 * ref2, "poly:2 beta(1 - 2^-30) = %.17g, exact %.17g", b2, ref2);
    double bc = fm_schedule_eval(&cs, t).b, x = PI * d / 2, refc = x - x * x * x / 6;
    T_CHECK(fabs(bc - refc) <= 1e-15 * refc, "cosine beta(1 - 2^-30) = %.17g, ref %.17g", bc, refc);
    double T = 0.1 * d + 0.5 * d * d * 19.9, refv = sqrt(T - T * T / 2 + T * T * T / 6);
    double bv = fm_schedule_eval(&vp, t).b;
    T_CHECK(fabs(bv - refv) <= 1e-15 * refv, "vp beta(1 - 2^-30) = %.17g, ref %.17g", bv, refv);
}

/* ---------------------------------------------------------------- parsing */

static void test_parse(void) {
    struct {
        const char *in, *canon;
        FmSchedKind kind;
        double n;
    } good[] = {{"condot", "condot", FM_SCHED_CONDOT, 0},  {"cosine", "cosine", FM_SCHED_COSINE, 0},
                {"vp", "vp", FM_SCHED_VP, 0},              {"poly:2", "poly:2", FM_SCHED_POLY, 2},
                {"poly:1.5", "poly:1.5", FM_SCHED_POLY, 1.5}, {"poly:0.5", "poly:0.5", FM_SCHED_POLY, 0.5},
                {"poly:2.0", "poly:2", FM_SCHED_POLY, 2},  {"poly:.25", "poly:0.25", FM_SCHED_POLY, 0.25},
                {"poly:3e0", "poly:3", FM_SCHED_POLY, 3}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        FmSchedule s;
        fm_err_clear();
        int rc = fm_schedule_parse(&s, good[i].in);
        T_CHECK(rc == 0, "parse '%s' failed: %s", good[i].in, fm_err_msg());
        if (rc) continue;
        T_CHECK(s.kind == good[i].kind, "parse '%s': kind %d", good[i].in, (int)s.kind);
        if (s.kind == FM_SCHED_POLY) T_CHECK(s.n == good[i].n, "parse '%s': n = %g", good[i].in, s.n);
        if (s.kind == FM_SCHED_VP) T_CHECK(s.bmin == 0.1 && s.bmax == 20.0, "vp: bmin %g bmax %g", s.bmin, s.bmax);
        char name[64];
        fm_schedule_name(name, sizeof name, &s);
        T_CHECK(strcmp(name, good[i].canon) == 0, "name of '%s' is '%s', expected '%s'", good[i].in, name,
                good[i].canon);
    }
    /* A name %g would round still parses back to the same exponent. */
    FmSchedule s, s2;
    char name[64];
    T_CHECK(fm_schedule_parse(&s, "poly:1.23456789") == 0, "parse poly:1.23456789");
    fm_schedule_name(name, sizeof name, &s);
    T_CHECK(fm_schedule_parse(&s2, name) == 0 && s2.n == s.n, "name '%s' does not round-trip", name);

    const char *bad[] = {"poly", "poly:", "poly:0", "poly:-1", "poly:abc", "poly:2x", "poly: 2", "poly:+2",
                         "poly:inf", "poly:nan", "poly:1e999", "linear", "Condot", "vp ", "cosine:2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FmSchedule keep = {.kind = FM_SCHED_COSINE};
        fm_err_clear();
        int rc = fm_schedule_parse(&keep, bad[i]);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        T_CHECK(rc == -1, "'%s' accepted", bad[i]);
        T_CHECK(strstr(fm_err_msg(), quoted) != NULL && strstr(fm_err_msg(), "poly:N") != NULL,
                "message for '%s': %s", bad[i], fm_err_msg());
        T_CHECK(keep.kind == FM_SCHED_COSINE, "failed parse of '%s' modified the output", bad[i]);
    }
    fm_err_clear();
    T_CHECK(fm_schedule_parse(&s, "") == -1 && strstr(fm_err_msg(), "''") != NULL, "empty path: %s",
            fm_err_msg());

    const char *pnames[] = {"velocity", "score", "noise", "data"};
    for (int i = 0; i < NPRED; i++) {
        FmPred p = FM_PRED_DATA;
        T_CHECK(fm_pred_parse(&p, pnames[i]) == 0 && p == PREDS[i], "pred parse '%s'", pnames[i]);
        T_CHECK(strcmp(fm_pred_name(PREDS[i]), pnames[i]) == 0, "pred name %d: %s", i, fm_pred_name(PREDS[i]));
    }
    const char *pbad[] = {"eps", "velocityx", "Score", "", "x0", "flow"};
    for (size_t i = 0; i < sizeof pbad / sizeof pbad[0]; i++) {
        FmPred p;
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", pbad[i]);
        fm_err_clear();
        T_CHECK(fm_pred_parse(&p, pbad[i]) == -1, "objective '%s' accepted", pbad[i]);
        const char *m = fm_err_msg();
        T_CHECK(strstr(m, quoted) && strstr(m, "velocity, score, noise") && !strstr(m, "data"),
                "message for objective '%s': %s", pbad[i], m);
    }
}

/* ---------------------------------------------------------------- samples and targets */

static void test_targets(void) {
    static float z[N], e[N], x[N], tg[N];
    fill_normal(z, N);
    fill_normal(e, N);
    /* spread the magnitudes over 2^-20..2^20 to stress the double -> float rounding */
    for (size_t i = 0; i < N; i++) {
        z[i] = ldexpf(z[i], (int)(splitmix64() % 41) - 20);
        e[i] = ldexpf(e[i], (int)(splitmix64() % 41) - 20);
    }
    FmSchedule cd = sched("condot");
    for (int k = 0; k <= 10; k++) {
        double t = k / 10.0;
        FmCoef c = fm_schedule_eval(&cd, t);
        fm_path_target(tg, FM_PRED_VELOCITY, z, e, c, N);
        int bad = 0;
        for (size_t i = 0; i < N; i++) bad += tg[i] != z[i] - e[i]; /* exact, tolerance 0 */
        T_CHECK(bad == 0, "condot t=%g: velocity target != z - eps in %d of %d entries", t, bad, N);
    }
    for (size_t k = 0; k < NSCHED; k++) {
        FmSchedule s = sched(SCHEDS[k]);
        for (int j = 1; j < 10; j++) {
            double t = j / 10.0;
            FmCoef c = fm_schedule_eval(&s, t);
            /* x = a z + b eps: |x - ref| <= U |ref| + 1e-15 (|a z| + |b e|) (one float rounding) */
            fm_path_sample(x, z, e, c, N);
            int bad = 0;
            for (size_t i = 0; i < N; i++) {
                double az = c.a * z[i], be = c.b * e[i], ref = az + be;
                bad += fabs(x[i] - ref) > U * fabs(ref) + 1e-15 * (fabs(az) + fabs(be));
            }
            T_CHECK(bad == 0, "%s t=%g: fm_path_sample wrong in %d entries", SCHEDS[k], t, bad);
            for (int o = 0; o < NPRED; o++) {
                fm_path_target(tg, PREDS[o], z, e, c, N);
                bad = 0;
                for (size_t i = 0; i < N; i++) {
                    double ref = exact_pred(PREDS[o], z[i], e[i], c);
                    double az = PREDS[o] == FM_PRED_VELOCITY ? fabs(c.da * z[i]) + fabs(c.db * e[i]) : 0;
                    bad += fabs(tg[i] - ref) > U * fabs(ref) + 1e-15 * az;
                }
                T_CHECK(bad == 0, "%s t=%g: %s target wrong in %d entries", SCHEDS[k], t, fm_pred_name(PREDS[o]),
                        bad);
            }
        }
    }
    /* velocity target has no 1/beta: finite at t = 1 for condot */
    fm_path_target(tg, FM_PRED_VELOCITY, z, e, fm_schedule_eval(&cd, 1.0), N);
    int finite = 1;
    for (size_t i = 0; i < N; i++) finite &= isfinite(tg[i]) != 0;
    T_CHECK(finite, "condot velocity target not finite at t = 1");
}

/* ---------------------------------------------------------------- conversions */

/* fm_pred_coef against the generic derivation and the SPEC's printed formulas (double).
 * |p - p_ref| <= 1e-12 |p_ref| (and the same for q): every closed form is cancellation-free. */
static void test_coef_reference(void) {
    for (size_t k = 0; k < NSCHED; k++) {
        FmSchedule s = sched(SCHEDS[k]);
        for (int j = 0; j <= 20; j++) {
            double t = j == 0 ? 1e-4 : j == 20 ? 1 - 1e-4 : j / 20.0;
            FmCoef c = fm_schedule_eval(&s, t);
            for (int a = 0; a < NPRED; a++)
                for (int b = 0; b < NPRED; b++) {
                    double p, q, pr, qr;
                    fm_pred_coef(&p, &q, PREDS[a], PREDS[b], c);
                    if (a == b) {
                        T_CHECK(p == 1.0 && q == 0.0, "identity %s: (%g, %g)", fm_pred_name(PREDS[a]), p, q);
                        continue;
                    }
                    generic_coef(&pr, &qr, PREDS[a], PREDS[b], c);
                    T_CHECK(fabs(p - pr) <= 1e-12 * fabs(pr) && fabs(q - qr) <= 1e-12 * fabs(qr),
                            "%s t=%g %s<-%s: (%.17g, %.17g) vs generic (%.17g, %.17g)", SCHEDS[k], t,
                            fm_pred_name(PREDS[a]), fm_pred_name(PREDS[b]), p, q, pr, qr);
                }
            /* SPEC: velocity from score  u = (b^2 da/a - db b) s + (da/a) x */
            double p, q;
            fm_pred_coef(&p, &q, FM_PRED_VELOCITY, FM_PRED_SCORE, c);
            double ps = c.b * c.b * c.da / c.a - c.db * c.b, qs = c.da / c.a;
            T_CHECK(fabs(p - ps) <= 1e-13 * fabs(ps) && fabs(q - qs) <= 1e-13 * fabs(qs),
                    "%s t=%g: SPEC velocity-from-score (%.17g, %.17g) vs (%.17g, %.17g)", SCHEDS[k], t, ps, qs, p,
                    q);
            /* SPEC: eps from u  eps = (da x - a u) / (da b - a db) */
            fm_pred_coef(&p, &q, FM_PRED_NOISE, FM_PRED_VELOCITY, c);
            double den = c.da * c.b - c.a * c.db;
            ps = -c.a / den, qs = c.da / den;
            T_CHECK(fabs(p - ps) <= 1e-13 * fabs(ps) && fabs(q - qs) <= 1e-13 * fabs(qs),
                    "%s t=%g: SPEC eps-from-velocity (%.17g, %.17g) vs (%.17g, %.17g)", SCHEDS[k], t, ps, qs, p, q);
        }
    }
}

/* Round trips from -> to -> from.
 * Coefficients (double): p2 p1 = 1 within 1e-12, p2 q1 + q2 = 0 within 1e-12 (|p2 q1| + |q2|).
 * Vectors (float): |back - pred| <= 4 U (|p2 y| + |q2 x| + |pred|), the rounding bound of the two
 * float stores (y rounded once, amplified by p2; the result rounded once). */
static void test_roundtrip(void) {
    static float z[N], e[N], x[N], pred[N], y[N], back[N];
    const double ts[] = {0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98};
    double worst_rel = 0; /* largest |back - pred| / |pred|_inf, reported */
    fill_normal(z, N);
    fill_normal(e, N);
    fill_normal(pred, N);
    for (size_t k = 0; k < NSCHED; k++) {
        FmSchedule s = sched(SCHEDS[k]);
        for (size_t j = 0; j < sizeof ts / sizeof ts[0]; j++) {
            FmCoef c = fm_schedule_eval(&s, ts[j]);
            fm_path_sample(x, z, e, c, N);
            for (int a = 0; a < NPRED; a++)
                for (int b = 0; b < NPRED; b++) {
                    FmPred from = PREDS[a], to = PREDS[b];
                    double p1, q1, p2, q2;
                    fm_pred_coef(&p1, &q1, to, from, c);
                    fm_pred_coef(&p2, &q2, from, to, c);
                    T_CHECK(fabs(p2 * p1 - 1) <= 1e-12 && fabs(p2 * q1 + q2) <= 1e-12 * (fabs(p2 * q1) + fabs(q2)),
                            "%s t=%g %s->%s->%s: composition (%.17g, %.3g) is not the identity", SCHEDS[k], ts[j],
                            fm_pred_name(from), fm_pred_name(to), fm_pred_name(from), p2 * p1, p2 * q1 + q2);
                    fm_pred_convert(y, to, pred, from, x, c, N);
                    fm_pred_convert(back, from, y, to, x, c, N);
                    int bad = 0;
                    double maxerr = 0, maxp = 0;
                    for (size_t i = 0; i < N; i++) {
                        double err = fabs((double)back[i] - pred[i]);
                        double tol = 4 * U * (fabs(p2 * y[i]) + fabs(q2 * x[i]) + fabs(pred[i]));
                        bad += err > tol;
                        maxerr = fmax(maxerr, err);
                        maxp = fmax(maxp, fabs(pred[i]));
                    }
                    if (maxerr / maxp > worst_rel) worst_rel = maxerr / maxp;
                    T_CHECK(bad == 0, "%s t=%g %s->%s->%s: %d entries beyond the rounding bound (max err %.3g)",
                            SCHEDS[k], ts[j], fm_pred_name(from), fm_pred_name(to), fm_pred_name(from), bad, maxerr);
                }
        }
    }
    printf("  round trips: worst |back - pred|_inf / |pred|_inf = %.3g (t in [0.02, 0.98])\n", worst_rel);
}

/* Consistency with the truth: from (z, eps), x = a z + b eps; each exact prediction converted to
 * every other kind reproduces the other exact one.
 * Norm-wise: |out - ref|_2 / |ref|_2 <= 1e-5 max(1, kappa), kappa = (|p| |pred|_2 + |q| |x|_2) / |ref|_2
 * the condition number of the affine map (the float inputs carry relative error U; with
 * kappa ~ 1 this is the plain 1e-5 relative tolerance). Element-wise: |out - ref| <=
 * 4 U (|p pred| + |q x| + |ref|) + |q| |x - (a z + b e)| (the rounding of x itself, propagated). */
static void test_consistency(void) {
    static float z[N], e[N], x[N], pred[N], out[N];
    const double ts[] = {0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98};
    double worst_plain = 0, worst_kappa = 0;
    fill_normal(z, N);
    fill_normal(e, N);
    for (size_t k = 0; k < NSCHED; k++) {
        FmSchedule s = sched(SCHEDS[k]);
        for (size_t j = 0; j < sizeof ts / sizeof ts[0]; j++) {
            FmCoef c = fm_schedule_eval(&s, ts[j]);
            fm_path_sample(x, z, e, c, N);
            for (int a = 0; a < NPRED; a++) {
                FmPred from = PREDS[a];
                for (size_t i = 0; i < N; i++) pred[i] = (float)exact_pred(from, z[i], e[i], c);
                for (int b = 0; b < NPRED; b++) {
                    FmPred to = PREDS[b];
                    double p, q;
                    fm_pred_coef(&p, &q, to, from, c);
                    fm_pred_convert(out, to, pred, from, x, c, N);
                    double ne = 0, nr = 0, np = 0, nx = 0;
                    int bad = 0;
                    for (size_t i = 0; i < N; i++) {
                        double ref = exact_pred(to, z[i], e[i], c), d = out[i] - ref;
                        double dx = fabs((double)x[i] - (c.a * z[i] + c.b * e[i]));
                        double tol = 4 * U * (fabs(p * pred[i]) + fabs(q * x[i]) + fabs(ref)) + 1.01 * fabs(q) * dx;
                        bad += fabs(d) > tol;
                        ne += d * d, nr += ref * ref, np += (double)pred[i] * pred[i], nx += (double)x[i] * x[i];
                    }
                    double rel = sqrt(ne / nr);
                    double kappa = a == b ? 1 : (fabs(p) * sqrt(np) + fabs(q) * sqrt(nx)) / sqrt(nr);
                    worst_plain = fmax(worst_plain, rel);
                    worst_kappa = fmax(worst_kappa, kappa);
                    T_CHECK(rel <= 1e-5 * fmax(1.0, kappa) && bad == 0,
                            "%s t=%g %s->%s: relative error %.3g (kappa %.3g), %d entries beyond bound", SCHEDS[k],
                            ts[j], fm_pred_name(from), fm_pred_name(to), rel, kappa, bad);
                }
            }
        }
    }
    printf("  consistency: worst relative error %.3g, worst condition number %.3g (t in [0.02, 0.98])\n",
           worst_plain, worst_kappa);
}

/* out may alias pred; identity is an exact copy; a zero coefficient drops its term. */
static void test_convert_details(void) {
    static float pred[N], x[N], out[N], inplace[N];
    fill_normal(pred, N);
    fill_normal(x, N);
    FmSchedule s = sched("cosine");
    FmCoef c = fm_schedule_eval(&s, 0.37);
    for (int a = 0; a < NPRED; a++)
        for (int b = 0; b < NPRED; b++) {
            memcpy(inplace, pred, sizeof pred);
            fm_pred_convert(out, PREDS[b], pred, PREDS[a], x, c, N);
            fm_pred_convert(inplace, PREDS[b], inplace, PREDS[a], x, c, N);
            T_CHECK(memcmp(out, inplace, sizeof out) == 0, "aliased convert %s->%s differs", fm_pred_name(PREDS[a]),
                    fm_pred_name(PREDS[b]));
            if (a == b) T_CHECK(memcmp(out, pred, sizeof out) == 0, "identity %s is not a copy", fm_pred_name(PREDS[a]));
        }
    /* noise -> score is -eps/b and never reads x: a NaN in x must not leak */
    x[0] = NAN;
    fm_pred_convert(out, FM_PRED_SCORE, pred, FM_PRED_NOISE, x, c, N);
    T_CHECK(isfinite(out[0]) && out[0] == (float)(-(double)pred[0] / c.b), "noise->score read x: %g", out[0]);
    /* the direct closed form at an extreme time: noise->score at t = 1 - 1e-12 is -eps/b to 1 ulp */
    FmSchedule cd = sched("condot");
    FmCoef ce = fm_schedule_eval(&cd, 1 - 1e-12);
    double p, q;
    fm_pred_coef(&p, &q, FM_PRED_SCORE, FM_PRED_NOISE, ce);
    T_CHECK(p == -1.0 / ce.b && q == 0.0, "noise->score at t=1-1e-12: (%g, %g)", p, q);
    /* noise->velocity for condot is (x - eps)/t: p = -1/t, q = 1/t, relative 1e-15 even at t = 1e-10 */
    ce = fm_schedule_eval(&cd, 1e-10);
    fm_pred_coef(&p, &q, FM_PRED_VELOCITY, FM_PRED_NOISE, ce);
    T_CHECK(fabs(p + 1e10) <= 1e-15 * 1e10 && fabs(q - 1e10) <= 1e-15 * 1e10, "noise->velocity at t=1e-10: (%.17g, %.17g)",
            p, q);
}

int main(void) {
    test_derivatives();
    test_endpoints();
    test_schedule_values();
    test_parse();
    test_targets();
    test_coef_reference();
    test_roundtrip();
    test_consistency();
    test_convert_details();
    return T_DONE();
}
