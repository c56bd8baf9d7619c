/* conv.c - the image-layer template (conv_tmpl.h) instantiated for float and double. */
#include "fm/conv.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "conv_direct.h"
#include "fm/common.h"
#include "fm/layers.h"
#include "vec.h"

int fm_conv_dims(FmConvDims *d, size_t Ci, size_t H, size_t W, size_t Co, size_t K, size_t stride, size_t pad) {
    if (!Ci || !Co || !K || !stride || H + 2 * pad < K || W + 2 * pad < K)
        return fm_err_set("convolution %zu -> %zu channels, kernel %zu, stride %zu, padding %zu does not fit a %zu x %zu "
                          "image", Ci, Co, K, stride, pad, H, W);
    *d = (FmConvDims){Ci, H, W, Co, K, stride, pad, (H + 2 * pad - K) / stride + 1, (W + 2 * pad - K) / stride + 1};
    return 0;
}

/* Stride 1 and "same" padding (2 pad = K - 1, K > 1): the output has the input's size, and the
 * input gradient is itself such a convolution of dout (with the kernel flipped and transposed). */
static int conv_is_same(const FmConvDims *d) { return d->stride == 1 && 2 * d->pad + 1 == d->K && d->K > 1; }
/* A 1 x 1 convolution with stride 1 and no padding reads its input as the im2col matrix. */
static int conv_is_pointwise(const FmConvDims *d) { return d->K == 1 && d->stride == 1 && d->pad == 0; }
/* Samples whose GEMMs run side by side: enough for about CONV_MIN_COLS columns (1 for pointwise
 * convolutions, which read their input in place). */
#define CONV_MIN_COLS 1024
static size_t conv_group(const FmConvDims *d) {
    const size_t N = d->Ho * d->Wo;
    return conv_is_pointwise(d) || N >= CONV_MIN_COLS ? 1 : (CONV_MIN_COLS + N - 1) / N;
}
/* One thread's im2col buffer for a group: of the input (Ci K K, g Ho Wo), and for "same"
 * convolutions also of dout (Co K K, g Ho Wo). */
static size_t conv_col_floats(const FmConvDims *d) {
    const size_t c = conv_is_same(d) && d->Co > d->Ci ? d->Co : d->Ci;
    return c * d->K * d->K * conv_group(d) * d->Ho * d->Wo;
}
/* One thread's buffer for a group's output or output gradient (max(Ci, Co), g Ho Wo). */
static size_t conv_tmp_floats(const FmConvDims *d) {
    return conv_group(d) > 1 ? (d->Ci > d->Co ? d->Ci : d->Co) * conv_group(d) * d->Ho * d->Wo : 0;
}
/* One thread's share of the scratch: im2col and output buffers, partial weight and bias gradients.
 */
static size_t conv_per_thread(const FmConvDims *d) {
    const size_t n = conv_col_floats(d) + conv_tmp_floats(d) + d->Co * (d->Ci * d->K * d->K + 1);
    const size_t direct = fm_conv_direct_per_thread(d); /* or the direct kernels' buffers, in the same place */
    return n > direct ? n : direct;
}

size_t fm_conv_scratch(const FmConvDims *d, size_t threads) {
    /* and, after the threads' shares, the flipped kernel of a "same" convolution's backward */
    const size_t wf = d->Co * d->Ci * d->K * d->K, direct = fm_conv_direct_shared(d);
    return threads * conv_per_thread(d) + (wf > direct ? wf : direct);
}

double fm_conv_forward_macs(const FmConvDims *d) {
    if (fm_conv_winograd_ok(d)) return 16.0 * (double)(d->Ci * d->Co) * (double)((d->H + 1) / 2 * ((d->W + 1) / 2));
    return (double)(d->Co * d->Ci * d->K * d->K) * (double)(d->Ho * d->Wo);
}

#define T float
#define S f
#define GEMM cblas_sgemm
#define GN_EXP fast_expf /* as layers.c's SiLU */
#define CONV_DIRECT
#include "conv_tmpl.h"
#undef CONV_DIRECT
#undef T
#undef S
#undef GEMM
#undef GN_EXP

#define T double
#define S d
#define GEMM cblas_dgemm
#define GN_EXP exp
#include "conv_tmpl.h"
#undef T
#undef S
#undef GEMM
#undef GN_EXP
