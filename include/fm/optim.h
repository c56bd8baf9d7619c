/* optim.h - AdamW, learning-rate schedule, gradient clipping and EMA over the flat
 * parameter buffer (all buffers share the parameter table's layout). */
#ifndef FM_OPTIM_H
#define FM_OPTIM_H

#include <stddef.h>

#include "fm/model.h"

typedef struct {
    double beta1, beta2, eps, weight_decay;
} FmAdamW;

/* One AdamW step (decoupled weight decay, applied to tensors whose table entry has
 * decay = 1). step is 1-based (bias correction 1 - beta^step). */
void fm_adamw_step(float *params, float *m, float *v, const float *grads, const FmParamTable *tab,
                   const FmAdamW *h, double lr, long step);

/* The training step's update in one pass over the buffers: g = gscale * grads (the clipping
 * factor), AdamW as above, then (ema != NULL) ema = d ema + (1 - d) params with d as in
 * fm_ema_update. Equal, value for value, to fm_scale + fm_adamw_step + fm_ema_update. */
void fm_adamw_ema_step(float *params, float *m, float *v, float *ema, const float *grads, double gscale,
                       const FmParamTable *tab, const FmAdamW *h, double lr, long step, double ema_decay);

/* The same over the values [k0, k1) of the buffers alone (a rank's part of a shared update). */
void fm_adamw_ema_range(float *params, float *m, float *v, float *ema, const float *grads, double gscale,
                        const FmParamTable *tab, const FmAdamW *h, double lr, long step, double ema_decay, size_t k0,
                        size_t k1);

typedef enum { FM_LR_CONSTANT, FM_LR_COSINE } FmLrSchedule;

/* Learning rate before update number `step` (1-based): linear warm-up from lr/warmup to lr
 * over `warmup` steps, then constant, or cosine decay to min_lr at step `total`. */
double fm_lr_at(long step, double lr, long warmup, long total, FmLrSchedule sched, double min_lr);

/* Euclidean norm of a buffer, accumulated in double; and its square. */
double fm_norm(const float *g, size_t n);
double fm_sumsq(const float *g, size_t n);

/* g *= s */
void fm_scale(float *g, size_t n, double s);

/* EMA with warm-up: d = min(decay, (1 + step) / (10 + step)); ema = d ema + (1 - d) params.
 * The warm-up keeps short runs from being dominated by the initial weights. */
void fm_ema_update(float *ema, const float *params, size_t n, double decay, long step);

#endif
