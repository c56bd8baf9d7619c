/* path.h - Gaussian probability paths, training targets and conversions (SPEC.md).
 *
 * Time runs from t = 0 (noise) to t = 1 (data):  x_t = alpha_t z + beta_t eps.
 * A schedule gives alpha, beta and their exact time derivatives in closed form.
 *
 * Every prediction a network can make at (x, t) - velocity u, score s, noise eps,
 * data z - is an affine function of any other one and x:
 *     to = p * from + q * x
 * fm_pred_coef() returns (p, q); everything else is built on it.
 */
#ifndef FM_PATH_H
#define FM_PATH_H

#include <stddef.h>

typedef enum { FM_SCHED_CONDOT, FM_SCHED_COSINE, FM_SCHED_POLY, FM_SCHED_VP } FmSchedKind;

typedef struct {
    FmSchedKind kind;
    double n;          /* exponent of poly:n (n > 0) */
    double bmin, bmax; /* vp: 0.1 and 20 */
} FmSchedule;

/* alpha_t, beta_t and their time derivatives. */
typedef struct {
    double a, b, da, db;
} FmCoef;

/* "condot", "cosine", "poly:N" (N a positive number), "vp". 0 or -1 (fm_err_set). */
int fm_schedule_parse(FmSchedule *s, const char *str);
/* Canonical name, e.g. "poly:2". */
void fm_schedule_name(char *buf, size_t size, const FmSchedule *s);
FmCoef fm_schedule_eval(const FmSchedule *s, double t);

typedef enum { FM_PRED_VELOCITY, FM_PRED_SCORE, FM_PRED_NOISE, FM_PRED_DATA } FmPred;

/* "velocity", "score", "noise", "data". 0 or -1 (fm_err_set). */
int fm_pred_parse(FmPred *p, const char *str);
const char *fm_pred_name(FmPred p);

/* x[i] = a z[i] + b eps[i]. */
void fm_path_sample(float *x, const float *z, const float *eps, FmCoef c, size_t n);

/* The regression target of objective `obj` for a sample built from (z, eps):
 * velocity: da z + db eps (no 1/beta);  score: -eps / b;  noise: eps;  data: z. */
void fm_path_target(float *target, FmPred obj, const float *z, const float *eps, FmCoef c, size_t n);

/* Coefficients of the affine map  to = p * from + q * x  at a time with coefficients c.
 * Non-finite where the conversion is undefined (alpha = 0 or beta = 0 in a denominator). */
void fm_pred_coef(double *p, double *q, FmPred to, FmPred from, FmCoef c);

/* out[i] = p * pred[i] + q * x[i]  (out may alias pred). */
void fm_pred_convert(float *out, FmPred to, const float *pred, FmPred from, const float *x, FmCoef c,
                     size_t n);

#endif
