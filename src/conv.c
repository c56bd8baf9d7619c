/* conv.c - the image-layer template (conv_tmpl.h) instantiated for float and double. */
#include "fm/conv.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "conv_direct.h"
#include "gemm_small.h"
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
    if (fm_conv_winograd_ok(d)) return 36.0 * (double)(d->Ci * d->Co) * (double)((d->H + 3) / 4 * ((d->W + 3) / 4));
    return (double)(d->Co * d->Ci * d->K * d->K) * (double)(d->Ho * d->Wo);
}

/* The float convolutions' GEMMs (im2col: the strided ones, and those the direct kernels do not
 * take): the small ones on the AVX-512 tiles of gemm_small.c where the CPU has them (beta 0 as a
 * zeroed C), the rest on OpenBLAS */
static void sgemm_conv(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                       float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (order == CblasRowMajor && alpha == 1 && (beta == 0 || beta == 1) && fm_gemm_small_available() &&
        (size_t)M * (size_t)N * (size_t)K < FM_GEMM_TILES_MACS && K <= 512) {
        if (beta == 0)
            for (int r = 0; r < M; r++) memset(C + (size_t)r * (size_t)ldc, 0, (size_t)N * sizeof(float));
        if (fm_sgemm_small(ta == CblasTrans, tb == CblasTrans, (size_t)M, (size_t)N, (size_t)K, A, (size_t)lda, B,
                           (size_t)ldb, C, (size_t)ldc))
            return;
        beta = 1; /* C is zero */
    }
    cblas_sgemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#define T float
#define S f
#define GEMM sgemm_conv
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
