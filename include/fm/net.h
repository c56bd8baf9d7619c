/* net.h - the network a run trains: the MLP (model.h) or the U-Net (unet.h), behind one
 * interface for training, sampling and likelihoods (float).
 *
 * Both map (x (B,D), t (B)) to a prediction (B,D); both keep every parameter in one table and
 * buffer, so the optimizer, the allreduce and the checkpoints never see which one it is.
 */
#ifndef FM_NET_H
#define FM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "fm/model.h"
#include "fm/unet.h"

typedef enum { FM_MODEL_MLP, FM_MODEL_UNET } FmModelKind;

typedef struct {
    FmModelKind kind;
    size_t D; /* data dimension (C H W for images) */
    FmMlp mlp;
    FmUnet unet;
} FmNet;

const FmParamTable *fm_net_table(const FmNet *n);
void fm_net_init_params(const FmNet *n, float *params, uint64_t seed);
/* FLOPs of one forward + backward pass for B rows (GEMMs only). */
double fm_net_flops(const FmNet *n, size_t B);
/* FLOPs of the forward pass alone (one network evaluation of B rows). */
double fm_net_forward_flops(const FmNet *n, size_t B);
/* The same, as the float kernels in use execute it (fewer where the U-Net's convolutions run
 * Winograd's F(4 x 4, 3 x 3)). */
double fm_net_forward_exec_flops(const FmNet *n, size_t B);
/* One line describing the architecture, e.g. "mlp: width 256, depth 3". */
void fm_net_describe(const FmNet *n, char *buf, size_t size);

typedef struct {
    const FmNet *net;
    size_t m;          /* capacity in rows */
    FmMlpActs_f mlp;
    FmUnetActs_f unet;
    float *out, *dout; /* (m, D) views: prediction; gradient w.r.t. it (set by the caller) */
} FmNetActs;

/* Activations for up to m rows (allocated once; nothing is allocated in forward or backward). */
void fm_net_acts_init(FmNetActs *a, const FmNet *n, size_t m);
/* The same for forward passes alone (no fm_net_backward, no fm_net_quadform for the U-Net): the
 * MLP keeps nothing for a backward pass, the U-Net reuses buffers once read (fm_unet_acts_init_forward). */
void fm_net_acts_init_forward(FmNetActs *a, const FmNet *n, size_t m);
void fm_net_acts_free(FmNetActs *a);
/* Bytes fm_net_acts_init allocates for m rows. */
double fm_net_act_bytes(const FmNet *n, size_t m);
/* a->out = net(x, t); B <= a->m. */
void fm_net_forward(const FmNet *n, const float *params, FmNetActs *a, const float *x, const float *t, size_t B);
/* grads += d loss / d params from a->dout. */
void fm_net_backward(const FmNet *n, const float *params, float *grads, FmNetActs *a, size_t B);
/* a->out = net(x, t) and w (B,D) with v . w = v^T (d out / d x) v for each row: the MLP's
 * forward-mode J v, or the U-Net's reverse-mode J^T v (what divergences need). */
void fm_net_quadform(const FmNet *n, const float *params, FmNetActs *a, const float *x, const float *t,
                     const float *v, size_t B, float *w);

#endif
