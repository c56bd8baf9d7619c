/* optim.c - AdamW, learning-rate schedule, clipping, EMA. */
#include "fm/optim.h"

#include <math.h>

#include "fm/common.h"
#include "vec.h"

/* One tensor's update: g = gscale * grads, AdamW, and (ema != NULL) the EMA, in one pass, over
 * k in [k0, k1). */
VEC_TARGETS static void adamw_range(float *restrict p, float *restrict mm, float *restrict vv, float *restrict ema,
                                    const float *restrict g, float gscale, size_t k0, size_t k1, float b1, float b2,
                                    float ob1, float ob2, float c1, float c2, float eps, float flr, float wd, float d) {
    if (ema) {
        #pragma omp simd
        for (size_t k = k0; k < k1; k++) {
            const float gk = g[k] * gscale;
            mm[k] = b1 * mm[k] + ob1 * gk;
            vv[k] = b2 * vv[k] + ob2 * gk * gk;
            p[k] -= flr * (mm[k] * c1) / (sqrtf(vv[k] * c2) + eps) + wd * p[k];
            ema[k] = d * ema[k] + (1 - d) * p[k];
        }
    } else {
        #pragma omp simd
        for (size_t k = k0; k < k1; k++) {
            const float gk = g[k] * gscale;
            mm[k] = b1 * mm[k] + ob1 * gk;
            vv[k] = b2 * vv[k] + ob2 * gk * gk;
            p[k] -= flr * (mm[k] * c1) / (sqrtf(vv[k] * c2) + eps) + wd * p[k];
        }
    }
}

/* Large tensors are split over the threads in blocks; small ones run on the calling thread
 * without entering a parallel region (whose cost would dominate a tensor of a few thousand). */
#define OPT_BLOCK 16384
static void adamw_tensor(float *p, float *mm, float *vv, float *ema, const float *g, float gscale, size_t n, float b1,
                         float b2, float ob1, float ob2, float c1, float c2, float eps, float flr, float wd, float d) {
    if (n <= 4 * OPT_BLOCK) {
        adamw_range(p, mm, vv, ema, g, gscale, 0, n, b1, b2, ob1, ob2, c1, c2, eps, flr, wd, d);
        return;
    }
    #pragma omp parallel for schedule(static)
    for (size_t k = 0; k < n; k += OPT_BLOCK)
        adamw_range(p, mm, vv, ema, g, gscale, k, n - k < OPT_BLOCK ? n : k + OPT_BLOCK, b1, b2, ob1, ob2, c1, c2, eps,
                    flr, wd, d);
}

void fm_adamw_ema_step(float *params, float *m, float *v, float *ema, const float *grads, double gscale,
                       const FmParamTable *tab, const FmAdamW *h, double lr, long step, double ema_decay) {
    fm_adamw_ema_range(params, m, v, ema, grads, gscale, tab, h, lr, step, ema_decay, 0, tab->total);
}

void fm_adamw_ema_range(float *params, float *m, float *v, float *ema, const float *grads, double gscale,
                        const FmParamTable *tab, const FmAdamW *h, double lr, long step, double ema_decay, size_t k0,
                        size_t k1) {
    /* 1 - beta in double: (float)0.99999999 rounds to 1, which would zero the update */
    const float b1 = (float)h->beta1, b2 = (float)h->beta2, eps = (float)h->eps;
    const float ob1 = (float)(1.0 - h->beta1), ob2 = (float)(1.0 - h->beta2);
    const float c1 = (float)(1.0 / (1.0 - pow(h->beta1, (double)step)));
    const float c2 = (float)(1.0 / (1.0 - pow(h->beta2, (double)step)));
    const double w = (1.0 + (double)step) / (10.0 + (double)step);
    const float d = (float)(ema_decay < w ? ema_decay : w);
    for (int i = 0; i < tab->count; i++) {
        const FmTensor *t = &tab->t[i];
        const size_t a = t->off > k0 ? t->off : k0, e = t->off + t->rows * t->cols < k1 ? t->off + t->rows * t->cols : k1;
        if (a >= e) continue;
        const float wd = t->decay ? (float)(lr * h->weight_decay) : 0.0f;
        adamw_tensor(params + a, m + a, v + a, ema ? ema + a : NULL, grads + a, (float)gscale, e - a, b1, b2, ob1, ob2,
                     c1, c2, eps, (float)lr, wd, d);
    }
}

void fm_adamw_step(float *params, float *m, float *v, const float *grads, const FmParamTable *tab,
                   const FmAdamW *h, double lr, long step) {
    fm_adamw_ema_step(params, m, v, NULL, grads, 1.0, tab, h, lr, step, 0);
}

double fm_lr_at(long step, double lr, long warmup, long total, FmLrSchedule sched, double min_lr) {
    if (warmup > 0 && step <= warmup) return lr * (double)step / (double)warmup;
    if (sched == FM_LR_CONSTANT || total <= warmup) return lr;
    double p = (double)(step - warmup) / (double)(total - warmup);
    if (p > 1) p = 1;
    return min_lr + 0.5 * (lr - min_lr) * (1 + cos(FM_PI * p));
}

VEC_TARGETS static double sumsq_range(const float *restrict g, size_t k0, size_t k1) {
    double s = 0;
    #pragma omp simd reduction(+ : s)
    for (size_t k = k0; k < k1; k++) s += (double)g[k] * g[k];
    return s;
}

double fm_sumsq(const float *g, size_t n) {
    if (n <= 4 * OPT_BLOCK) return sumsq_range(g, 0, n);
    double s = 0;
    #pragma omp parallel for schedule(static) reduction(+ : s)
    for (size_t k = 0; k < n; k += OPT_BLOCK) s += sumsq_range(g, k, n - k < OPT_BLOCK ? n : k + OPT_BLOCK);
    return s;
}

double fm_norm(const float *g, size_t n) { return sqrt(fm_sumsq(g, n)); }

void fm_scale(float *g, size_t n, double s) {
    const float fs = (float)s;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t k = 0; k < n; k++) g[k] *= fs;
}

void fm_ema_update(float *ema, const float *params, size_t n, double decay, long step) {
    double w = (1.0 + (double)step) / (10.0 + (double)step);
    const float d = (float)(decay < w ? decay : w);
    #pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t k = 0; k < n; k++) ema[k] = d * ema[k] + (1 - d) * params[k];
}
