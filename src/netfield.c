/* netfield.c - a trained network as a sampler field, with conversions and divergences. */
#include "fm/netfield.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/rng.h"

void fm_netfield_init(FmNetField *nf, const FmNet *net, const float *w, FmPred objective, const FmSchedule *sched,
                      size_t m) {
    memset(nf, 0, sizeof *nf);
    const double per_row = fm_net_act_bytes(net, 2) - fm_net_act_bytes(net, 1);
    if (per_row > 0 && per_row * (double)m > FM_NETFIELD_BUDGET)
        m = FM_NETFIELD_BUDGET / per_row >= 1 ? (size_t)(FM_NETFIELD_BUDGET / per_row) : 1;
    nf->net = net;
    nf->w = w;
    nf->objective = objective;
    nf->sched = *sched;
    nf->probes = 1;
    fm_net_acts_init_forward(&nf->acts, net, m); /* evaluations; a divergence asks for more (fm_net_divfield) */
    nf->tbuf = fm_malloc_floats(m);
    nf->pred = fm_malloc_floats(m * net->D);
    nf->v = fm_malloc_floats(m * net->D);
    nf->jv = fm_malloc_floats(m * net->D);
}

void fm_netfield_free(FmNetField *nf) {
    if (!nf || !nf->net) return;
    fm_net_acts_free(&nf->acts);
    free(nf->tbuf), free(nf->pred), free(nf->v), free(nf->jv);
    nf->net = NULL;
}

/* out (rows, D) = p_i pred + q_i x for row i with the coefficients at t[i]. */
static void convert_rows(float *out, FmPred to, const float *pred, FmPred from, const float *x, const double *t,
                         const FmSchedule *sched, size_t rows, size_t D) {
    for (size_t i = 0; i < rows; i++) {
        FmCoef c = fm_schedule_eval(sched, t[i]);
        fm_pred_convert(out + i * D, to, pred + i * D, from, x + i * D, c, D);
    }
}

void fm_net_field(float *u, float *s, const float *x, const double *t, size_t n, void *ctx) {
    FmNetField *nf = ctx;
    const size_t D = nf->net->D, m = nf->acts.m;
    for (size_t off = 0; off < n; off += m) {
        size_t rows = n - off < m ? n - off : m;
        for (size_t i = 0; i < rows; i++) nf->tbuf[i] = (float)t[off + i];
        fm_net_forward(nf->net, nf->w, &nf->acts, x + off * D, nf->tbuf, rows);
        if (s) convert_rows(s + off * D, FM_PRED_SCORE, nf->acts.out, nf->objective, x + off * D, t + off, &nf->sched, rows, D);
        convert_rows(u + off * D, FM_PRED_VELOCITY, nf->acts.out, nf->objective, x + off * D, t + off, &nf->sched, rows, D);
    }
}

void fm_net_divfield(float *u, double *div, const float *x, const double *t, size_t n, void *ctx) {
    FmNetField *nf = ctx;
    const size_t D = nf->net->D, m = nf->acts.m;
    if (nf->net->kind == FM_MODEL_UNET && nf->acts.unet.forward_only) { /* the U-Net's J^T v runs backward */
        fm_net_acts_free(&nf->acts);
        fm_net_acts_init(&nf->acts, nf->net, m);
    }
    for (size_t off = 0; off < n; off += m) {
        size_t rows = n - off < m ? n - off : m;
        const float *xr = x + off * D;
        for (size_t i = 0; i < rows; i++) nf->tbuf[i] = (float)t[off + i], div[off + i] = 0;
        /* div(pred) = sum_j e_j^T J e_j (exact) or mean_k v_k^T J v_k (Hutchinson) */
        long passes = nf->hutchinson ? nf->probes : (long)D;
        for (long k = 0; k < passes; k++) {
            if (nf->hutchinson) {
                for (size_t i = 0; i < rows; i++) {
                    FmStream st;
                    fm_stream_init(&st, nf->seed, (uint64_t)k, nf->index0 + off + i, FM_RNG_PROBE);
                    for (size_t d = 0; d < D; d++) nf->v[i * D + d] = (float)fm_stream_rademacher(&st);
                }
            } else {
                memset(nf->v, 0, rows * D * sizeof(float));
                for (size_t i = 0; i < rows; i++) nf->v[i * D + (size_t)k] = 1;
            }
            fm_net_quadform(nf->net, nf->w, &nf->acts, xr, nf->tbuf, nf->v, rows, nf->jv);
            for (size_t i = 0; i < rows; i++) {
                double q = 0;
                for (size_t d = 0; d < D; d++) q += (double)nf->v[i * D + d] * nf->jv[i * D + d];
                div[off + i] += q / (nf->hutchinson ? (double)passes : 1.0);
            }
        }
        /* the Jacobian pass left the prediction in acts.out: convert it, and the divergence */
        memcpy(nf->pred, nf->acts.out, rows * D * sizeof(float));
        convert_rows(u + off * D, FM_PRED_VELOCITY, nf->pred, nf->objective, xr, t + off, &nf->sched, rows, D);
        for (size_t i = 0; i < rows; i++) {
            double p, q;
            fm_pred_coef(&p, &q, FM_PRED_VELOCITY, nf->objective, fm_schedule_eval(&nf->sched, t[off + i]));
            div[off + i] = p * div[off + i] + q * (double)D;
        }
    }
}
