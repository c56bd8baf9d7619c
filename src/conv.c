/* conv.c - the image-layer template (conv_tmpl.h) instantiated for float and double. */
#include "fm/conv.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "fm/common.h"

int fm_conv_dims(FmConvDims *d, size_t Ci, size_t H, size_t W, size_t Co, size_t K, size_t stride, size_t pad) {
    if (!Ci || !Co || !K || !stride || H + 2 * pad < K || W + 2 * pad < K)
        return fm_err_set("convolution %zu -> %zu channels, kernel %zu, stride %zu, padding %zu does not fit a %zu x %zu "
                          "image", Ci, Co, K, stride, pad, H, W);
    *d = (FmConvDims){Ci, H, W, Co, K, stride, pad, (H + 2 * pad - K) / stride + 1, (W + 2 * pad - K) / stride + 1};
    return 0;
}

size_t fm_conv_scratch(const FmConvDims *d, size_t threads) {
    const size_t KK = d->Ci * d->K * d->K;
    return threads * (KK * d->Ho * d->Wo + d->Co * (KK + 1));
}

#define T float
#define S f
#define GEMM cblas_sgemm
#include "conv_tmpl.h"
#undef T
#undef S
#undef GEMM

#define T double
#define S d
#define GEMM cblas_dgemm
#include "conv_tmpl.h"
#undef T
#undef S
#undef GEMM
