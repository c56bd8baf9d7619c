/* path.c - Gaussian probability paths, training targets and prediction conversions.
 *
 * Notation (SPEC.md "Time and paths"): x = a z + b e with a = alpha_t, b = beta_t,
 * da, db their time derivatives; z data, e noise (eps), u velocity, s score.
 * Time runs from t = 0 (noise) to t = 1 (data); schedules are evaluated on [0, 1].
 *
 * Numerical choices, all aimed at full *relative* accuracy where a quantity goes to zero
 * (beta near t = 1 is divided by in the score, alpha near t = 0 in the data prediction):
 *   - cosine: with s = 1 - t (exact for t >= 1/2), the factor that vanishes at an endpoint
 *     is always a sine of a small argument, so alpha_0 = 0 and beta_1 = 0 exactly
 *     (cos(pi/2) in double is 6e-17, not 0).
 *   - poly:n: beta = 1 - t^n = -expm1(n log t), no cancellation near t = 1.
 *   - vp: beta = sqrt(-expm1(-T)), no cancellation near t = 1 where T -> 0.
 * Singular derivatives at the endpoints are returned as the IEEE limit, not clamped:
 *   - vp at t = 1: beta = 0 and db = -inf (beta ~ sqrt(b_min (1 - t)) there);
 *   - poly:n with n < 1 at t = 0: da = +inf, db = -inf.
 * Callers that divide by a, b or use db near those endpoints must stay inside [t_min, t_max].
 */
#include "fm/path.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"

#define FM_PI 3.14159265358979323846
#define FM_VP_BMIN 0.1
#define FM_VP_BMAX 20.0

/* ---------------------------------------------------------------- schedules */

/* "poly:N" -> N, a positive finite number written as a plain decimal (digits, '.', an
 * exponent). Rejects signs, whitespace, "inf"/"nan" and trailing characters. */
static int parse_poly_exponent(double *n, const char *str) {
    if (!(isdigit((unsigned char)str[0]) || (str[0] == '.' && isdigit((unsigned char)str[1]))))
        return -1;
    char *end = NULL;
    double v = strtod(str, &end);
    if (end == str || *end != '\0' || !isfinite(v) || !(v > 0.0)) return -1;
    *n = v;
    return 0;
}

int fm_schedule_parse(FmSchedule *s, const char *str) {
    FmSchedule out;
    memset(&out, 0, sizeof out);
    if (str == NULL) return fm_err_set("unknown path '(null)' (known: condot, cosine, poly:N, vp)");
    if (strcmp(str, "condot") == 0) {
        out.kind = FM_SCHED_CONDOT;
    } else if (strcmp(str, "cosine") == 0) {
        out.kind = FM_SCHED_COSINE;
    } else if (strcmp(str, "vp") == 0) {
        out.kind = FM_SCHED_VP;
        out.bmin = FM_VP_BMIN;
        out.bmax = FM_VP_BMAX;
    } else if (strncmp(str, "poly:", 5) == 0 && parse_poly_exponent(&out.n, str + 5) == 0) {
        out.kind = FM_SCHED_POLY;
    } else {
        return fm_err_set("unknown path '%s' (known: condot, cosine, poly:N, vp)", str);
    }
    *s = out;
    return 0;
}

void fm_schedule_name(char *buf, size_t size, const FmSchedule *s) {
    if (size == 0) return;
    switch (s->kind) {
    case FM_SCHED_CONDOT: snprintf(buf, size, "condot"); break;
    case FM_SCHED_COSINE: snprintf(buf, size, "cosine"); break;
    case FM_SCHED_VP: snprintf(buf, size, "vp"); break;
    case FM_SCHED_POLY: {
        /* %g is the canonical form ("poly:2", "poly:1.5"); fall back to 17 digits when the
         * 6 digits of %g would not parse back to the same exponent. */
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%g", s->n);
        if (strtod(tmp, NULL) != s->n) snprintf(tmp, sizeof tmp, "%.17g", s->n);
        snprintf(buf, size, "poly:%s", tmp);
        break;
    }
    default: snprintf(buf, size, "unknown"); break;
    }
}

FmCoef fm_schedule_eval(const FmSchedule *s, double t) {
    FmCoef c = {0.0, 0.0, 0.0, 0.0};
    switch (s->kind) {
    case FM_SCHED_CONDOT: /* alpha = t, beta = 1 - t */
        c.a = t;
        c.b = 1.0 - t;
        c.da = 1.0;
        c.db = -1.0;
        break;
    case FM_SCHED_COSINE: { /* alpha = sin(pi t / 2), beta = cos(pi t / 2) */
        const double h = 0.5 * FM_PI;
        if (t <= 0.5) {
            double sn = sin(h * t), cs = cos(h * t);
            c.a = sn;
            c.b = cs;
            c.da = h * cs;
            c.db = -h * sn;
        } else { /* cos(pi t/2) = sin(pi (1-t)/2); 1 - t is exact here (Sterbenz) */
            double r = 1.0 - t;
            double sn = sin(h * r), cs = cos(h * r);
            c.a = cs;
            c.b = sn;
            c.da = h * sn;
            c.db = -h * cs;
        }
        break;
    }
    case FM_SCHED_POLY: { /* alpha = t^n, beta = 1 - t^n */
        const double n = s->n;
        c.a = pow(t, n);
        c.b = 0.0 - expm1(n * log(t)); /* 0.0 - : +0 (not -0) at t = 1; log(0) = -inf gives 1 */
        c.da = n * pow(t, n - 1.0);    /* +inf at t = 0 when n < 1 */
        c.db = -c.da;
        break;
    }
    case FM_SCHED_VP: { /* s = 1 - t, T = s bmin + s^2 (bmax - bmin)/2 */
        const double r = 1.0 - t;
        const double T = r * s->bmin + 0.5 * r * r * (s->bmax - s->bmin);
        const double dT = -(s->bmin + r * (s->bmax - s->bmin)); /* dT/dt */
        const double emT = exp(-T);
        c.a = exp(-0.5 * T);
        c.b = sqrt(-expm1(-T));              /* sqrt(1 - exp(-T)) without cancellation */
        c.da = -0.5 * c.a * dT;              /* d/dt exp(-T/2) */
        c.db = emT * dT / (2.0 * c.b);       /* d/dt sqrt(1 - exp(-T)); -inf at t = 1 */
        break;
    }
    default: FM_CHECK(0, "fm_schedule_eval: bad schedule kind %d", (int)s->kind);
    }
    return c;
}

/* ---------------------------------------------------------------- prediction kinds */

int fm_pred_parse(FmPred *p, const char *str) {
    static const struct {
        const char *name;
        FmPred pred;
    } names[] = {{"velocity", FM_PRED_VELOCITY},
                 {"score", FM_PRED_SCORE},
                 {"noise", FM_PRED_NOISE},
                 {"data", FM_PRED_DATA}};
    for (size_t i = 0; str != NULL && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(str, names[i].name) == 0) {
            *p = names[i].pred;
            return 0;
        }
    }
    /* "data" is a conversion target, not a training objective: not advertised here. */
    return fm_err_set("unknown objective '%s' (known: velocity, score, noise)", str ? str : "(null)");
}

const char *fm_pred_name(FmPred p) {
    switch (p) {
    case FM_PRED_VELOCITY: return "velocity";
    case FM_PRED_SCORE: return "score";
    case FM_PRED_NOISE: return "noise";
    case FM_PRED_DATA: return "data";
    }
    return "unknown";
}

/* ---------------------------------------------------------------- samples and targets */

void fm_path_sample(float *x, const float *z, const float *eps, FmCoef c, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(c.a * (double)z[i] + c.b * (double)eps[i]);
}

void fm_path_target(float *target, FmPred obj, const float *z, const float *eps, FmCoef c, size_t n) {
    switch (obj) {
    case FM_PRED_VELOCITY: /* SPEC "Targets": da z + db eps, the form without 1/beta */
        for (size_t i = 0; i < n; i++) target[i] = (float)(c.da * (double)z[i] + c.db * (double)eps[i]);
        break;
    case FM_PRED_SCORE: /* -eps / beta */
        for (size_t i = 0; i < n; i++) target[i] = (float)(-(double)eps[i] / c.b);
        break;
    case FM_PRED_NOISE:
        for (size_t i = 0; i < n; i++) target[i] = eps[i];
        break;
    case FM_PRED_DATA:
        for (size_t i = 0; i < n; i++) target[i] = z[i];
        break;
    default: FM_CHECK(0, "fm_path_target: bad objective %d", (int)obj);
    }
}

/* ---------------------------------------------------------------- conversions */

/* to = p * from + q * x.  Derivation (SPEC "Converting between predictions"):
 *   x = a z + b e,  u = da z + db e,  s = -e / b,  det = a db - b da.
 * Each pair is written in the closed form with the fewest operations; for every schedule here
 * da >= 0 >= db, so every sum below adds terms of one sign (no cancellation) and det is a sum
 * of two non-positive terms.
 *   from e: z = (x - b e)/a               s = -e/b              u = (db - da b/a) e + (da/a) x
 *   from z: e = (x - a z)/b               s = (a z - x)/b^2     u = (da - db a/b) z + (db/b) x
 *   from s: e = -b s                      z = (x + b^2 s)/a     u = (b^2 da/a - b db) s + (da/a) x
 *   from u: e = (a u - da x)/det          z = (db x - b u)/det  s = (da x - a u)/(b det)
 */
void fm_pred_coef(double *p, double *q, FmPred to, FmPred from, FmCoef c) {
    const double a = c.a, b = c.b, da = c.da, db = c.db;
    if (to == from) {
        *p = 1.0;
        *q = 0.0;
        return;
    }
    switch (from) {
    case FM_PRED_NOISE:
        switch (to) {
        case FM_PRED_DATA: *p = -b / a; *q = 1.0 / a; return;
        case FM_PRED_SCORE: *p = -1.0 / b; *q = 0.0; return;
        case FM_PRED_VELOCITY: *p = db - da * b / a; *q = da / a; return;
        default: break;
        }
        break;
    case FM_PRED_DATA:
        switch (to) {
        case FM_PRED_NOISE: *p = -a / b; *q = 1.0 / b; return;
        case FM_PRED_SCORE: *p = a / (b * b); *q = -1.0 / (b * b); return;
        case FM_PRED_VELOCITY: *p = da - db * a / b; *q = db / b; return;
        default: break;
        }
        break;
    case FM_PRED_SCORE:
        switch (to) {
        case FM_PRED_NOISE: *p = -b; *q = 0.0; return;
        case FM_PRED_DATA: *p = b * b / a; *q = 1.0 / a; return;
        case FM_PRED_VELOCITY: *p = b * b * da / a - b * db; *q = da / a; return; /* lecture 3 */
        default: break;
        }
        break;
    case FM_PRED_VELOCITY: {
        const double det = a * db - b * da;
        switch (to) {
        case FM_PRED_NOISE: *p = a / det; *q = -da / det; return;
        case FM_PRED_DATA: *p = -b / det; *q = db / det; return;
        case FM_PRED_SCORE: *p = -a / (b * det); *q = da / (b * det); return;
        default: break;
        }
        break;
    }
    }
    FM_CHECK(0, "fm_pred_coef: bad prediction kinds (to %d, from %d)", (int)to, (int)from);
}

void fm_pred_convert(float *out, FmPred to, const float *pred, FmPred from, const float *x, FmCoef c,
                     size_t n) {
    double p, q;
    fm_pred_coef(&p, &q, to, from, c);
    if (p == 1.0 && q == 0.0) { /* identity: exact copy (out may alias pred) */
        if (out != pred) memmove(out, pred, n * sizeof *out);
        return;
    }
    /* A coefficient that is exactly 0 drops its term (the term is absent, not 0 * value):
     * e.g. noise -> score never reads x, so a non-finite x cannot turn it into NaN. */
    if (q == 0.0) {
        for (size_t i = 0; i < n; i++) out[i] = (float)(p * (double)pred[i]);
    } else if (p == 0.0) {
        for (size_t i = 0; i < n; i++) out[i] = (float)(q * (double)x[i]);
    } else {
        for (size_t i = 0; i < n; i++) out[i] = (float)(p * (double)pred[i] + q * (double)x[i]);
    }
}
