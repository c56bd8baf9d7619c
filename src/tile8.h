/* tile8.h - the register tile that the 1 x 1 convolution (conv_direct.c) and Winograd's products
 * (conv_winograd.c) share: 8 output rows x up to 48 columns in 24 zmm accumulators (internal to
 * src/; include where GCC's AVX-512 intrinsics are). */
#ifndef FM_TILE8_H
#define FM_TILE8_H

#include <immintrin.h>
#include <stddef.h>

/* a[c][v] = sum over k < K of w[8 k + c] x[k ldx + 16 v + (0 .. 16)] for the 8 rows c and the NV
 * <= 3 vectors v (a constant after inlining), the lanes outside m[v] read as zero: per k, NV
 * loads, 8 broadcasts and 8 NV FMAs, the sum over k in order. pf: if not 0, each row's values
 * pf floats on (the next tile's) are prefetched as it goes. */
__attribute__((target("avx512f"), always_inline)) static inline void tile8_sum(__m512 a[8][3], const float *x,
                                                                              size_t ldx, const float *w, size_t K,
                                                                              const __mmask16 m[3], const int NV,
                                                                              size_t pf) {
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) a[c][v] = _mm512_setzero_ps();
    for (size_t k = 0; k < K; k++) {
        const float *p = x + k * ldx, *wk = w + 8 * k;
        __m512 xv[3];
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) xv[v] = _mm512_maskz_loadu_ps(m[v], p + 16 * v);
        if (pf)
#pragma GCC unroll 3
            for (int v = 0; v < 3; v++) _mm_prefetch((const char *)(p + pf + 16 * v), _MM_HINT_T0);
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            const __m512 wv = _mm512_set1_ps(wk[c]);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++) a[c][v] = _mm512_fmadd_ps(wv, xv[v], a[c][v]);
        }
    }
}

#endif
