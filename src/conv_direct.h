/* conv_direct.h - direct 3 x 3 "same" convolutions in float (internal to src/; conv.c uses them
 * in place of im2col + GEMM where they apply). */
#ifndef FM_CONV_DIRECT_H
#define FM_CONV_DIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "fm/conv.h"

/* Thread th's share of a kernel's scratch (shares of per floats), 64-byte aligned. */
static inline float *thread_buf(float *scratch, size_t per, int th) {
    float *buf = scratch + (size_t)th * per;
    return buf + (16 - ((uintptr_t)buf / sizeof(float)) % 16) % 16;
}

/* Kernel 3, stride 1, padding 1, and Co (forward and weight gradient) or Ci (input gradient) a
 * multiple of 8. */
int fm_conv_direct_forward_ok(const FmConvDims *d);
int fm_conv_direct_weights_ok(const FmConvDims *d);
int fm_conv_direct_backward_ok(const FmConvDims *d);
/* 1 x 1, stride 1, no padding, Co a multiple of 8, and AVX-512 (fm_conv_direct_pointwise). */
int fm_conv_direct_pointwise_ok(const FmConvDims *d);
/* Scratch floats: per thread (a group of samples' padded input and output gradient, output
 * grid and partial gradients), and after the threads' shares, the packed kernel. */
size_t fm_conv_direct_per_thread(const FmConvDims *d);
size_t fm_conv_direct_shared(const FmConvDims *d);

/* As fm_conv2d_forward_f; per = the per-thread share of scratch (>= fm_conv_direct_per_thread). */
void fm_conv_direct_forward(float *out, const float *in, const float *w, const float *b, float *scratch, size_t per,
                            size_t B, const FmConvDims *d, int accumulate);
/* As fm_conv2d_forward_f for a 1 x 1 convolution, in register tiles of 8 output channels x 48
 * positions of a sample's planes as they are; wp: Co Ci floats of scratch for the packed kernel. */
void fm_conv_direct_pointwise(float *out, const float *in, const float *w, const float *b, float *wp, size_t B,
                              const FmConvDims *d, int accumulate);
/* Winograd F(4 x 4, 3 x 3) forward (conv_winograd.c): kernel 3, stride 1, padding 1, Co a
 * multiple of 8, Ci >= 8, and AVX-512 (fm_conv_winograd_available, fm/conv.h). Scratch as the
 * direct kernels' (counted in theirs). */
int fm_conv_winograd_ok(const FmConvDims *d);
size_t fm_conv_winograd_per_thread(const FmConvDims *d);
size_t fm_conv_winograd_shared(const FmConvDims *d);
/* out = conv(in) + b (b may be NULL), + v[s Co + c] (v: B x Co, may be NULL), + add (B x Co x H x W,
 * may be NULL or out itself), summed in this order; kc: the kernel's cache (may be NULL: the kernel
 * is transformed into the scratch) */
void fm_conv_winograd_forward(float *out, const float *in, const float *w, const float *b, const float *v,
                              const float *add, float *scratch, size_t per, size_t B, const FmConvDims *d,
                              FmConvKernelCache *kc);
/* din += dL/din (where din is not NULL: fm_conv_direct_backward_ok), dw += dL/dw and db += dL/db
 * (where not NULL: fm_conv_direct_weights_ok) from dout. */
void fm_conv_direct_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                             float *scratch, size_t per, size_t B, const FmConvDims *d);

#endif
