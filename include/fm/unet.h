/* unet.h - a convolutional U-Net (the DDPM / ADM family) for images, NCHW float32.
 *
 * Architecture (C x H x W images, base channels ch, multipliers mult[0..L-1], nb blocks per
 * level, GroupNorm with G groups, time embedding width E, TE = 4 ch):
 *   temb:     s = SiLU(lin1(SiLU(lin0(sinusoid_E(t)))))                 (B, TE), shared by all blocks
 *   conv_in:  3x3 C -> ch
 *   encoder:  level l: nb ResBlocks to ch mult[l]; then (l < L-1) a 3x3 stride-2 conv; every
 *             output is kept as a skip
 *   middle:   ResBlock, ResBlock
 *   decoder:  level l = L-1 .. 0: nb + 1 ResBlocks, each on [h, skip] (channel concatenation, the
 *             skips in reverse order); then (l > 0) nearest upsampling x2 and a 3x3 conv
 *   out:      GroupNorm, SiLU, 3x3 conv ch -> C
 *   ResBlock(x, Ci -> Co): h = conv3x3(SiLU(GN(x))) + lin(s)[per channel];
 *                          out = skip(x) + conv3x3(SiLU(GN(h))),  skip = 1x1 conv if Ci != Co, else x
 * H and W must be divisible by 2^(L-1). All convolutions have biases; GroupNorm eps = 1e-5.
 *
 * The network is a list of ops over numbered buffers, built once (fm_unet_init); forward runs
 * the list, backward runs it in reverse. Every buffer (one per op output) is kept for backward,
 * except that the time embedding and the residual are added in place onto the convolution outputs
 * they follow (whose only reader they are, and which no backward needs); gradient buffers are shared between buffers whose gradients are never live at once (a liveness
 * pass at init), so gradient memory is the largest live set, not the sum. Buffer 0 is the input
 * x, buffer 1 the sinusoidal embedding of t. Parameters live in the one table/buffer (model.h).
 */
#ifndef FM_UNET_H
#define FM_UNET_H

#include <stddef.h>
#include <stdint.h>

#include "fm/conv.h"
#include "fm/model.h"

#define FM_UNET_MAX_LEVELS 6
#define FM_UNET_MAX_OPS 512
#define FM_UNET_MAX_BUFS 512

typedef enum { FM_OP_CONV, FM_OP_GN, FM_OP_SILU, FM_OP_LINEAR, FM_OP_ADDCH, FM_OP_ADD, FM_OP_CAT, FM_OP_UP } FmOpKind;

typedef struct {
    FmOpKind kind;
    int in0, in1, out; /* buffers; in1 = -1 if unused */
    int w, b;          /* parameter tensors: conv/linear weight and bias, GroupNorm gamma and beta */
    int inplace;       /* out is in0's memory (and its gradient in0's): ADDCH and ADD onto a conv output */
    FmConvDims conv;   /* FM_OP_CONV */
    size_t G, stat;    /* FM_OP_GN: groups; offset of its (mean, rstd) per sample in the stats arrays */
} FmOp;

typedef struct {
    size_t C, H, W; /* per-sample shape (vectors: H = W = 1) */
    size_t off;     /* per-sample offset in the activation arena: the buffer is (m, C, H, W) at act + m off */
    size_t goff;    /* same in the gradient arena; (size_t)-1 = no gradient kept */
    size_t foff;    /* same in the forward-only arena, where buffers share memory once read for the last time */
} FmBuf;

typedef struct {
    size_t C, H, W, D;                    /* image shape, D = C H W */
    size_t ch, levels, blocks, groups, E, TE;
    size_t mult[FM_UNET_MAX_LEVELS];
    double temb_scale;
    FmParamTable table;
    unsigned char init_kind[FM_MAX_TENSORS]; /* 0: U(+-1/sqrt(fan_in)), 1: ones, 2: zeros */
    size_t fan_in[FM_MAX_TENSORS];
    FmOp ops[FM_UNET_MAX_OPS];
    int nops;
    FmBuf bufs[FM_UNET_MAX_BUFS];
    int nbufs, out_buf;
    int last_use[FM_UNET_MAX_BUFS]; /* the last op reading each buffer (-1: none) */
    size_t act_floats, grad_floats, stat_floats; /* per sample */
    size_t fwd_floats;                           /* per sample: the forward-only arena */
} FmUnet;

typedef struct {
    size_t C, H, W;        /* image */
    size_t ch, levels, blocks, groups, E;
    size_t mult[FM_UNET_MAX_LEVELS];
} FmUnetShape;

/* Parses "1,2,2" into mult[] and sets *levels; 0 or -1 (fm_err_set). */
int fm_unet_parse_mult(size_t *mult, size_t *levels, const char *text);

/* Builds the op list and the parameter table (temb_scale = FM_TEMB_SCALE_DEFAULT). 0, or -1 with
 * fm_err_set for impossible shapes (H, W not divisible by 2^(levels-1), channels not divisible
 * by the groups, too many tensors). */
int fm_unet_init(FmUnet *u, const FmUnetShape *shape);

/* PyTorch-default initialisation: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from the
 * keyed stream (seed, 0, tensor number, FM_RNG_INIT); GroupNorm gamma 1, beta 0. */
void fm_unet_init_params(const FmUnet *u, float *params, uint64_t seed);

/* FLOPs of one forward + backward pass for B samples (2 per multiply-add, GEMMs only). */
double fm_unet_flops(const FmUnet *u, size_t B);
/* FLOPs of the forward pass alone for B samples. */
double fm_unet_forward_flops(const FmUnet *u, size_t B);
/* The same, as the float kernels in use execute it (fm_conv_forward_macs: Winograd's 3 x 3
 * convolutions multiply less than the definition counts). */
double fm_unet_forward_exec_flops(const FmUnet *u, size_t B);

/* Bytes of activations, gradients, statistics and scratch for m samples and `threads` threads. */
double fm_unet_act_bytes(const FmUnet *u, size_t m, size_t threads);

#define FM_UNET_KCACHE_MB 128 /* the 1x28x28 U-Net at channels 64 takes 101 MB (45 floats per channel pair) */

#define FM_DECLARE_UNET(T, S)                                                                     \
    typedef struct {                                                                              \
        size_t m, threads; /* capacity in samples; OpenMP threads the scratch is sized for */     \
        int forward_only;  /* fm_unet_acts_init_forward: no backward pass, buffers reused */      \
        T *act, *grad, *mean, *rstd, *scratch;                                                    \
        T *out;  /* (m, D) view: the prediction */                                                \
        T *dout; /* (m, D) view: gradient of the loss w.r.t. out (set by the caller) */           \
        T *dx;   /* (m, D) view: gradient w.r.t. the input (fm_unet_vjp) */                        \
        FmConvKernelCache *kcache; /* forward alone: per op, Winograd's kernels (or NULL) */     \
    } FmUnetActs_##S;                                                                             \
    void fm_unet_acts_init_##S(FmUnetActs_##S *a, const FmUnet *u, size_t m);                     \
    /* For evaluations alone: each buffer's memory is reused once its last reader has run (a few \
     * buffers' worth, which stay in cache, where the full arena holds every activation), and    \
     * the convolutions' Winograd kernels are kept while the weights stay the same (where they   \
     * take at most FM_UNET_KCACHE_MB). */                                                        \
    void fm_unet_acts_init_forward_##S(FmUnetActs_##S *a, const FmUnet *u, size_t m);             \
    void fm_unet_acts_free_##S(FmUnetActs_##S *a);                                                \
    /* out = net(x (B,D), t (B)); B <= a->m. */                                                   \
    void fm_unet_forward_##S(const FmUnet *u, const T *params, FmUnetActs_##S *a, const T *x,      \
                             const T *t, size_t B);                                               \
    /* grads += d loss / d params (grads may be NULL), from a->dout and the saved activations;   \
     * with need_dx, a->dx = d loss / d x as well. */                                             \
    void fm_unet_backward_##S(const FmUnet *u, const T *params, T *grads, FmUnetActs_##S *a,       \
                              size_t B, int need_dx);                                             \
    /* Vector-Jacobian product: a->out = net(x, t) and vj (B,D) = (d out / d x)^T v (t fixed).     \
     * v . vj = v^T J v, which is what divergences need (exact: v = e_j; Hutchinson). */          \
    void fm_unet_vjp_##S(const FmUnet *u, const T *params, FmUnetActs_##S *a, const T *x,          \
                         const T *t, const T *v, size_t B, T *vj);

FM_DECLARE_UNET(float, f)
FM_DECLARE_UNET(double, d)

#endif
