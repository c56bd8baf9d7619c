/* optim.c - AdamW, learning-rate schedule, clipping, EMA. */
#include "fm/optim.h"

#include <math.h>

#include "fm/common.h"

void fm_adamw_step(float *params, float *m, float *v, const float *grads, const FmParamTable *tab,
                   const FmAdamW *h, double lr, long step) {
    /* 1 - beta in double: (float)0.99999999 rounds to 1, which would zero the update */
    const float b1 = (float)h->beta1, b2 = (float)h->beta2, eps = (float)h->eps;
    const float ob1 = (float)(1.0 - h->beta1), ob2 = (float)(1.0 - h->beta2);
    const float c1 = (float)(1.0 / (1.0 - pow(h->beta1, (double)step)));
    const float c2 = (float)(1.0 / (1.0 - pow(h->beta2, (double)step)));
    for (int i = 0; i < tab->count; i++) {
        const FmTensor *t = &tab->t[i];
        const float wd = t->decay ? (float)(lr * h->weight_decay) : 0.0f, flr = (float)lr;
        float *p = params + t->off, *mm = m + t->off, *vv = v + t->off;
        const float *g = grads + t->off;
        const size_t n = t->rows * t->cols;
        #pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t k = 0; k < n; k++) {
            mm[k] = b1 * mm[k] + ob1 * g[k];
            vv[k] = b2 * vv[k] + ob2 * g[k] * g[k];
            p[k] -= flr * (mm[k] * c1) / (sqrtf(vv[k] * c2) + eps) + wd * p[k];
        }
    }
}

double fm_lr_at(long step, double lr, long warmup, long total, FmLrSchedule sched, double min_lr) {
    if (warmup > 0 && step <= warmup) return lr * (double)step / (double)warmup;
    if (sched == FM_LR_CONSTANT || total <= warmup) return lr;
    double p = (double)(step - warmup) / (double)(total - warmup);
    if (p > 1) p = 1;
    return min_lr + 0.5 * (lr - min_lr) * (1 + cos(FM_PI * p));
}

double fm_norm(const float *g, size_t n) {
    double s = 0;
    #pragma omp parallel for reduction(+ : s) schedule(static) if (n > 65536)
    for (size_t k = 0; k < n; k++) s += (double)g[k] * g[k];
    return sqrt(s);
}

void fm_scale(float *g, size_t n, double s) {
    const float fs = (float)s;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t k = 0; k < n; k++) g[k] *= fs;
}

void fm_ema_update(float *ema, const float *params, size_t n, double decay, long step) {
    double w = (1.0 + (double)step) / (10.0 + (double)step);
    const float d = (float)(decay < w ? decay : w);
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t k = 0; k < n; k++) ema[k] = d * ema[k] + (1 - d) * params[k];
}
