/* conv.h - the image layers of the U-Net: forward/backward pairs over NCHW arrays.
 *
 * Dimension names: B samples, C (Ci, Co) channels, H x W the image (Ho x Wo after a
 * convolution), K the kernel size, G GroupNorm groups. "x is (B,C,H,W)" means B samples of
 * C planes of H rows of W values, contiguous.
 *
 * Every op exists for float (suffix _f, training) and double (suffix _d, the finite-difference
 * tests), compiled from one template (src/conv_tmpl.h). Unlike layers.h, every backward here
 * ACCUMULATES into the input gradient too (din += ...), since U-Net activations fan out (a
 * block's input feeds its residual branch and its skip); din, dw, db may be NULL when not needed.
 */
#ifndef FM_CONV_H
#define FM_CONV_H

#include <stddef.h>

/* A 2-D convolution: Ci -> Co channels, K x K kernel, stride, zero padding. */
typedef struct {
    size_t Ci, H, W, Co, K, stride, pad, Ho, Wo; /* Ho = (H + 2 pad - K) / stride + 1 */
} FmConvDims;

/* Fills Ho, Wo; 0, or -1 (fm_err_set) when the kernel does not fit. */
int fm_conv_dims(FmConvDims *d, size_t Ci, size_t H, size_t W, size_t Co, size_t K, size_t stride, size_t pad);

/* Scratch floats (or doubles) the convolution needs for `threads` OpenMP threads: per thread an
 * im2col buffer (Ci K K, Ho Wo) and a partial weight/bias gradient (Co, Ci K K + 1). */
size_t fm_conv_scratch(const FmConvDims *d, size_t threads);

/* The float convolutions with kernel 3, stride 1, padding 1 run on direct kernels
 * (src/conv_direct.c) where the CPU has AVX-512F or AVX2 + FMA and the output channels
 * (forward and weight gradient) or input channels (input gradient) are a multiple
 * of 8; elsewhere on im2col + GEMM.
 * Levels: FM_CONV_DIRECT_OFF (im2col + GEMM), _AVX2, _AVX512.
 * fm_conv_direct_available: the level in use (default: the CPU's best; the environment's
 * FMTRAIN_CONV_DIRECT=0 selects im2col + GEMM, =avx2 the AVX2 kernels); fm_conv_direct_cpu: the
 * CPU's best level; fm_conv_direct_enable(level): use that level (at most the CPU's), returning
 * the previous one; fm_conv_direct_name: "off", "AVX2" or "AVX-512". */
enum { FM_CONV_DIRECT_OFF = 0, FM_CONV_DIRECT_AVX2 = 1, FM_CONV_DIRECT_AVX512 = 2 };
int fm_conv_direct_available(void);
int fm_conv_direct_cpu(void);
int fm_conv_direct_enable(int level);
const char *fm_conv_direct_name(int level);
/* With AVX-512, their forward runs Winograd's F(4 x 4, 3 x 3) (src/conv_winograd.c) where the
 * input channels are at least 8. fm_conv_winograd_available: whether it is in use (default: yes
 * where the CPU allows; the environment's FMTRAIN_CONV_WINOGRAD=0 keeps the direct kernels);
 * fm_conv_winograd_enable(on): set it, returning the previous setting (not whether it was in use:
 * the direct level set apart). */
int fm_conv_winograd_available(void);
int fm_conv_winograd_enable(int on);
/* Multiply-adds of one sample's float forward pass as the kernels in use run it: Co Ci K^2 Ho Wo,
 * or with Winograd 36 Ci Co per 4 x 4 tile of the output (its last row and column of tiles
 * whole where H or W is not a multiple of 4). */
double fm_conv_forward_macs(const FmConvDims *d);

/* A convolution's Winograd-transformed kernel kept between calls (fm_conv2d_forward_fused_f), with
 * a copy of the weights it came from: reused while they are unchanged, value for value (so no
 * call can see a stale kernel), transformed anew otherwise. For evaluations with fixed weights
 * (the samplers); zero-initialise, free with fm_conv_kernel_cache_free. */
typedef struct {
    float *w, *U; /* the weights' copy and the transformed kernel (one allocation at w) */
} FmConvKernelCache;
void fm_conv_kernel_cache_free(FmConvKernelCache *c);

#define FM_DECLARE_CONV(T, S)                                                                     \
    /* out (B,Co,Ho,Wo) = conv(in (B,Ci,H,W), w (Co, Ci K K)) + b (Co) (b may be NULL), by im2col \
     * and one GEMM per sample; samples are spread over the OpenMP threads. With accumulate, out  \
     * += the same (a residual or a per-channel vector already in out is added to, in one pass). */\
    void fm_conv2d_forward_##S(T *out, const T *in, const T *w, const T *b, T *scratch, size_t B,  \
                               const FmConvDims *d, int accumulate);                              \
    /* out = conv(in) + b, + v[s Co + c] per sample and channel (v: B x Co, may be NULL), + add  \
     * (out's shape, may be NULL, or out itself where v is NULL), summed in this order: a        \
     * convolution and the U-Net's in-place ADDCH or ADD after it, in one pass where the float    \
     * kernels allow (Winograd), and as the separate ops otherwise, the same values either way.   \
     * kc: a kernel cache for Winograd (may be NULL; float only). */                              \
    void fm_conv2d_forward_fused_##S(T *out, const T *in, const T *w, const T *b, const T *v,     \
                                     const T *add, T *scratch, size_t B, const FmConvDims *d,     \
                                     FmConvKernelCache *kc);                                      \
    /* dw += dL/dw, db += dL/db, din += dL/din (each may be NULL), from dout (B,Co,Ho,Wo). */    \
    void fm_conv2d_backward_##S(T *din, T *dw, T *db, const T *dout, const T *in, const T *w,     \
                                T *scratch, size_t B, const FmConvDims *d);                       \
    /* GroupNorm over (B,C,HW): each sample's G groups of C/G consecutive channels are normalised \
     * to mean 0, variance 1 (biased, + eps), then out = xhat gamma[c] + beta[c]. Saves mean and  \
     * rstd (B,G) for backward. */                                                                 \
    void fm_groupnorm_forward_##S(T *out, T *mean, T *rstd, const T *in, const T *gamma,          \
                                  const T *beta, size_t B, size_t C, size_t HW, size_t G,         \
                                  double eps);                                                    \
    /* The same, and with silu, out = silu(GroupNorm(in)) (for forward passes alone). */          \
    void fm_groupnorm_forward_act_##S(T *out, T *mean, T *rstd, const T *in, const T *gamma,      \
                                      const T *beta, size_t B, size_t C, size_t HW, size_t G,     \
                                      double eps, int silu);                                      \
    /* work: scratch of 2 B C values. */                                                          \
    void fm_groupnorm_backward_##S(T *din, T *dgamma, T *dbeta, const T *dout, const T *in,       \
                                   const T *mean, const T *rstd, const T *gamma, T *work,         \
                                   size_t B, size_t C, size_t HW, size_t G);                      \
    /* Nearest-neighbour upsampling by 2: out (B,C,2H,2W). */                                     \
    void fm_upsample2_forward_##S(T *out, const T *in, size_t B, size_t C, size_t H, size_t W);   \
    void fm_upsample2_backward_##S(T *din, const T *dout, size_t B, size_t C, size_t H, size_t W);\
    /* out (B,C,HW) = in + v[b][c] (a per-sample vector added to every pixel of its channel);    \
     * out may be in. */                                                                          \
    void fm_addch_forward_##S(T *out, const T *in, const T *v, size_t B, size_t C, size_t HW);    \
    void fm_addch_backward_##S(T *din, T *dv, const T *dout, size_t B, size_t C, size_t HW);      \
    /* Channel concatenation: out (B, Ca + Cb, HW) = [a (B,Ca,HW), b (B,Cb,HW)]. */               \
    void fm_concat_forward_##S(T *out, const T *a, const T *b, size_t B, size_t Ca, size_t Cb,    \
                               size_t HW);                                                        \
    void fm_concat_backward_##S(T *da, T *db, const T *dout, size_t B, size_t Ca, size_t Cb,      \
                                size_t HW);                                                       \
    /* out = a + b over n values (out may be a); backward: da += dout, db += dout. */              \
    void fm_add_forward_##S(T *out, const T *a, const T *b, size_t n);                            \
    void fm_add_backward_##S(T *da, T *db, const T *dout, size_t n);

FM_DECLARE_CONV(float, f)
FM_DECLARE_CONV(double, d)

#endif
