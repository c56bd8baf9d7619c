/* vec.h - helpers for elementwise loops that the compiler vectorises (internal to src/).
 *
 * Hot elementwise kernels are compiled for AVX-512, AVX2 and baseline x86-64 (VEC_TARGETS;
 * VEC_CLONES adds VEC_MATH); the loader picks. GCC 12 if-converts (and so vectorises) clamps and selects for AVX-512
 * only under finite-math-only and no-signed-zeros (VEC_MATH); NaN still propagates where a
 * value enters the arithmetic (NaN times anything is NaN). */
#ifndef FM_VEC_H
#define FM_VEC_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define VEC_MATH __attribute__((optimize("finite-math-only", "no-signed-zeros")))
#define VEC_TARGETS __attribute__((target_clones("avx512f", "avx2", "default")))
#define VEC_CLONES VEC_TARGETS VEC_MATH
#else
#define VEC_TARGETS
#define VEC_MATH
#define VEC_CLONES
#endif
#define VEC_INLINE VEC_MATH static inline __attribute__((always_inline))

/* `loop body` over the OpenMP threads (static schedule) only where cond holds, else on the calling
 * thread without a parallel region: `#pragma omp parallel for if (0)` still builds a team of one
 * thread, about 1.2 us here (libgomp's team set-up and tear-down), which the small models' steps
 * would pay at every layer. */
#define FM_PARALLEL_FOR_IF(cond, loop, ...)                                                                           \
    do {                                                                                                              \
        if (cond) {                                                                                                   \
            _Pragma("omp parallel for schedule(static)") loop __VA_ARGS__                                             \
        } else {                                                                                                      \
            loop __VA_ARGS__                                                                                          \
        }                                                                                                             \
    } while (0)

/* The AVX-512 lane mask of a vector that starts at lane `first` of a row of n values: its lanes
 * below n (all 16, some, or none). */
static inline uint16_t lane_mask16(size_t n, size_t first) {
    return n <= first ? 0 : n - first >= 16 ? 0xffff : (uint16_t)((1u << (n - first)) - 1);
}

/* exp(x) in float, without calls or branches: with x = n ln2 + r, |r| <= ln2/2, exp(r) is its
 * Taylor polynomial of degree 7 (truncation error below 6e-9 relative, under float's rounding),
 * and 2^n is built in the exponent bits. x is clamped to [-87, 88], where 2^n stays a normal
 * float. Relative error ~2 float ulps. */
VEC_INLINE float fast_expf(float x) {
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

/* log(x) in double for a positive, normal, finite x, without calls or branches: x = m 2^e with
 * m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s) with s = (m - 1)/(m + 1), |s| <= 0.1716, as its
 * series to s^23 (truncation below 2e-19 relative), and e ln 2 with ln 2 in two parts (fdlibm's:
 * the first has trailing zeros, so e ln2_hi is exact). Error a few 1e-16 relative, as libm's. */
VEC_INLINE double fast_log(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    double e = (double)((int32_t)(bits >> 52) - 1023); /* x > 0: no sign bit */
    bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL; /* m in [1, 2) */
    double mm;
    memcpy(&mm, &bits, sizeof mm);
    const int big = mm > 1.41421356237309504880;
    const double m = big ? mm * 0.5 : mm; /* exact */
    e += big ? 1 : 0;
    const double s = (m - 1) / (m + 1), s2 = s * s;
    const double p = 1 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 * (1.0 / 11 +
                     s2 * (1.0 / 13 + s2 * (1.0 / 15 + s2 * (1.0 / 17 + s2 * (1.0 / 19 + s2 * (1.0 / 21 +
                     s2 * (1.0 / 23)))))))))));
    return e * 6.93147180369123816490e-01 + (e * 1.90821492927058770002e-10 + 2 * s * p);
}

/* |x| below which fast_sincos is accurate: n = round(x 2/pi) < 2^20, so n times the first two
 * parts of pi/2 (33 significant bits each) is exact. */
#define FAST_SINCOS_MAX 1.0e6

/* sin and cos of x in double, without calls or branches: x = n pi/2 + r, |r| <= pi/4, with
 * pi/2 in three parts (Cody-Waite: 33 + 33 + 53 bits, so the reduction is exact to ~1e-21
 * absolute for |x| < FAST_SINCOS_MAX); the Taylor polynomials of sin r to degree 17 and of cos r
 * to degree 16 (truncation below 1e-19 and 3e-18); n mod 4 picks and signs them. Absolute error
 * a few 1e-16, as libm's. */
VEC_INLINE void fast_sincos(double x, double *sn, double *cs) {
    const double shift = 0x1.8p52; /* adding and subtracting it rounds to an integer */
    const double n = (x * 0x1.45f306dc9c883p-1 + shift) - shift; /* x 2/pi */
    const int32_t q = (int32_t)n;
    const double r = ((x - n * 0x1.921fb54400000p+0) - n * 0x1.0b4611a600000p-34) - n * 0x1.3198a2e037073p-69;
    const double r2 = r * r;
    const double s = r + r * r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 + r2 * (1.0 / 362880 +
                     r2 * (-1.0 / 39916800 + r2 * (1.0 / 6227020800 + r2 * (-1.0 / 1307674368000 +
                     r2 * (1.0 / 355687428096000))))))));
    const double c = 1 + r2 * (-0.5 + r2 * (1.0 / 24 + r2 * (-1.0 / 720 + r2 * (1.0 / 40320 +
                     r2 * (-1.0 / 3628800 + r2 * (1.0 / 479001600 + r2 * (-1.0 / 87178291200 +
                     r2 * (1.0 / 20922789888000))))))));
    const double s1 = (q & 1) ? c : s, c1 = (q & 1) ? s : c; /* x = n pi/2 + r: rotate by n quarters */
    *sn = (q & 2) ? -s1 : s1;
    *cs = ((q + 1) & 2) ? -c1 : c1;
}

#endif
