/* netfield.h - a trained network as a field for the samplers and the likelihood.
 *
 * Whatever the network predicts (velocity, score or noise), the samplers get the velocity
 * u and, when asked, the score s through the affine conversions of path.h
 * (to = p * pred + q * x). The divergence of u = p pred + q x is p div(pred) + q D, with
 * div(pred) from Jacobian products (forward-mode J v for the MLP, reverse-mode J^T v for the
 * U-Net; v . J v = v . J^T v): exact (D of them, basis vectors)
 * or Hutchinson's estimator E[v^T J v] with Rademacher probes v keyed by
 * (seed, probe k, global row index, FM_RNG_PROBE), fixed along each row's path.
 */
#ifndef FM_NETFIELD_H
#define FM_NETFIELD_H

#include <stddef.h>
#include <stdint.h>

#include "fm/net.h"
#include "fm/path.h"

typedef struct {
    const FmNet *net;
    const float *w;
    FmPred objective;
    FmSchedule sched;
    FmNetActs acts; /* capacity m rows */
    float *tbuf, *pred, *v, *jv;
    /* divergence */
    int hutchinson;  /* 0 exact, 1 Hutchinson */
    long probes;     /* Hutchinson probes per evaluation */
    uint64_t seed;   /* probe seed */
    uint64_t index0; /* global index of row 0 (rows must keep their order: fixed-grid solvers) */
} FmNetField;

/* m: rows per network evaluation (the batch; larger calls are chunked), reduced so that the
 * activations stay within FM_NETFIELD_BUDGET bytes (a U-Net needs megabytes per row). */
#define FM_NETFIELD_BUDGET (512.0 * 1048576.0)
void fm_netfield_init(FmNetField *nf, const FmNet *net, const float *w, FmPred objective, const FmSchedule *sched,
                      size_t m);
void fm_netfield_free(FmNetField *nf);

/* FmField: velocity (and score if s != NULL) at x (n, D), row i at t[i]. ctx = FmNetField*. */
void fm_net_field(float *u, float *s, const float *x, const double *t, size_t n, void *ctx);
/* FmDivField: velocity and its divergence. ctx = FmNetField*. */
void fm_net_divfield(float *u, double *div, const float *x, const double *t, size_t n, void *ctx);

#endif
