/* layers.c - the layer template (layers_tmpl.h) instantiated for float and double. */
#include "fm/layers.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>

/* The elementwise loops are compiled for AVX-512, AVX2 and baseline x86-64; the loader picks.
 * GCC 12 if-converts (and so vectorises) the clamp in fast_expf for AVX-512 only under
 * finite-math-only and no-signed-zeros; NaN still propagates through SiLU, since x enters
 * x s(x) and its derivative arithmetically (NaN times anything is NaN). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define VEC_MATH __attribute__((optimize("finite-math-only", "no-signed-zeros")))
#define VEC_CLONES __attribute__((target_clones("avx512f", "avx2", "default"))) VEC_MATH
#else
#define VEC_MATH
#define VEC_CLONES
#endif

/* exp(x) in float, written so that loops over it vectorise (no calls, no branches): with
 * x = n ln2 + r, |r| <= ln2/2, exp(r) is its Taylor polynomial of degree 7 (truncation error
 * below 6e-9 relative, under float's rounding), and 2^n is built in the exponent bits. x is
 * clamped to [-87, 88], where 2^n stays a normal float. Relative error ~2 float ulps. */
VEC_MATH static inline __attribute__((always_inline)) float fast_expf(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const int32_t k = (int32_t)(x * 1.44269504f + (x >= 0 ? 0.5f : -0.5f));
    const float n = (float)k;
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f; /* ln 2 in two parts */
    const float p =
        1 + r * (1 + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    union {
        int32_t i;
        float f;
    } two_n = {.i = (int32_t)((uint32_t)(k + 127) << 23)}; /* unsigned: no overflow (UB) when x is NaN */
    return p * two_n.f;
}

#define T float
#define S f
#define GEMM cblas_sgemm
#define EXP fast_expf
#include "layers_tmpl.h"
#undef T
#undef S
#undef GEMM
#undef EXP

#define T double
#define S d
#define GEMM cblas_dgemm
#define EXP exp
#include "layers_tmpl.h"
#undef T
#undef S
#undef GEMM
#undef EXP
