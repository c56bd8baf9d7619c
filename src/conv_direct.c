/* conv_direct.c - direct 3 x 3 "same" convolutions in float, with AVX-512 or AVX2 register tiles.
 *
 * im2col writes nine shifted copies of the input and the GEMM then packs them once more; here
 * the input is copied once, into a padded layout in which every kernel tap is a constant
 * offset, and register tiles accumulate the 9 Ci products straight from it: 8 output
 * channels x 48 positions in 24 zmm registers (AVX-512F), or 4 output channels x 24 positions
 * in 12 ymm registers (AVX2 + FMA, which has 16 registers in all), run on both halves of a
 * block of 8 output channels.
 *
 * The padded layout of a group of g samples, per channel: rows of Wp = W + 1 values (a zero,
 * then the image row; the zero doubles as the previous row's right border), a zero row before
 * each sample (doubling as the previous sample's bottom border) and one after the last. The
 * output is computed at every position q = (s (H + 1) + h) Wp + w of the same grid (w <= W,
 * h <= H): tap (ki, kj) of position q reads the padded input at q + ki Wp + kj, so that one
 * AVX-512 tile is 9 Ci steps of 3 vector loads and 24 FMAs with broadcast weights. Positions
 * with w = W or h = H are not pixels and are dropped when the tile is copied out:
 * (H + 1)(W + 1) / HW more arithmetic (7 % at 28 x 28, 31 % at 7 x 7) in exchange for no copies.
 *
 * The input gradient of a "same" convolution is the same convolution of dout with the kernel
 * transposed and flipped, so one kernel serves forward and backward. The weight gradient is
 * direct too: dout is put on the same grid (its padded copy, read one row and one column on),
 * and tiles of 4 output channels (AVX2: ymm) or 8 (AVX-512: zmm) x the 3 taps of a kernel row sum
 * dout x input over the grid's positions. */
#include "conv_direct.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

#define TILE_CO 8
#define TILE_Q 48
#define DIRECT_MIN_Q 1024 /* positions per group: enough for a few tiles per weight block */

static int direct_on = -1; /* the level in use; -1: not yet decided */

int fm_conv_direct_cpu(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return FM_CONV_DIRECT_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return FM_CONV_DIRECT_AVX2;
#endif
    return FM_CONV_DIRECT_OFF;
}

int fm_conv_direct_enable(int level) {
    const int was = fm_conv_direct_available(), cpu = fm_conv_direct_cpu();
    direct_on = level <= 0 ? FM_CONV_DIRECT_OFF : level < cpu ? level : cpu;
    return was;
}

int fm_conv_direct_available(void) {
    if (direct_on < 0) { /* FMTRAIN_CONV_DIRECT=0 keeps im2col + GEMM (for comparisons), =avx2 the AVX2 tiles */
        const char *e = getenv("FMTRAIN_CONV_DIRECT");
        const int cpu = fm_conv_direct_cpu();
        direct_on = e && strcmp(e, "0") == 0 ? FM_CONV_DIRECT_OFF
                    : e && strcmp(e, "avx2") == 0 && cpu >= FM_CONV_DIRECT_AVX2 ? FM_CONV_DIRECT_AVX2
                                                                              : cpu;
    }
    return direct_on;
}

const char *fm_conv_direct_name(int level) {
    return level >= FM_CONV_DIRECT_AVX512 ? "AVX-512" : level == FM_CONV_DIRECT_AVX2 ? "AVX2" : "off";
}

static int shape_ok(const FmConvDims *d) { return d->K == 3 && d->stride == 1 && d->pad == 1; }

int fm_conv_direct_forward_ok(const FmConvDims *d) {
    return shape_ok(d) && d->Co % TILE_CO == 0 && fm_conv_direct_available();
}

int fm_conv_direct_backward_ok(const FmConvDims *d) { /* the input gradient */
    return shape_ok(d) && d->Ci % TILE_CO == 0 && fm_conv_direct_available();
}

int fm_conv_direct_pointwise_ok(const FmConvDims *d) {
    return d->K == 1 && d->stride == 1 && d->pad == 0 && d->Co % TILE_CO == 0 &&
           fm_conv_direct_available() >= FM_CONV_DIRECT_AVX512;
}

int fm_conv_direct_weights_ok(const FmConvDims *d) {
    return shape_ok(d) && d->Co % TILE_CO == 0 && fm_conv_direct_available() >= FM_CONV_DIRECT_AVX2;
}

/* samples per group, and the sizes of one group's buffers */
static size_t group(const FmConvDims *d) {
    const size_t per = (d->H + 1) * (d->W + 1);
    return (DIRECT_MIN_Q + per - 1) / per;
}
/* The samples per group of a batch of B: at most group(d), in as many groups as make every
 * thread's share the same (for B = 32 at 14 x 14 and 2 threads: 8 groups of 4, where groups of
 * 5 left one thread 4 of the 7) */
static size_t balanced_group(const FmConvDims *d, size_t B) {
    const size_t g = group(d), nth = (size_t)omp_get_max_threads(), rounds = (B + nth * g - 1) / (nth * g);
    return B == 0 ? g : (B + nth * rounds - 1) / (nth * rounds);
}
static size_t grid_q(const FmConvDims *d, size_t g) { /* output positions, rounded up to whole tiles */
    return (g * (d->H + 1) * (d->W + 1) + TILE_Q - 1) / TILE_Q * TILE_Q;
}
static size_t plane(const FmConvDims *d, size_t g) { /* padded input per channel: the tiles read up to q + 2 Wp + 2 */
    return (grid_q(d, g) + 2 * (d->W + 1) + 2 + 15) / 16 * 16;
}
static size_t cmax(const FmConvDims *d) { return d->Ci > d->Co ? d->Ci : d->Co; }

size_t fm_conv_direct_per_thread(const FmConvDims *d) {
    if (!shape_ok(d)) return 0;
    const size_t g = group(d);
    /* the backward's: dout (after an offset that aligns it) and input padded, output grid, partial
     * weight and bias gradients; and alignment slack */
    const size_t n = 16 + (d->Ci + d->Co) * plane(d, g) + cmax(d) * grid_q(d, g) + d->Co * (d->Ci * 9 + 1) + 16,
                 wino = fm_conv_winograd_per_thread(d);
    return n > wino ? n : wino;
}

size_t fm_conv_direct_shared(const FmConvDims *d) { /* the packed kernel, or Winograd's transformed one */
    return shape_ok(d) ? fm_conv_winograd_shared(d) : 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include "tile8.h"

/* a[c][v] += ww[c] x_v for the 8 output channels c of a tile and its 3 vectors of positions */
__attribute__((target("avx512f"), always_inline)) static inline void fma_8x3(__m512 a[TILE_CO][3], const float *ww,
                                                                             __m512 x0, __m512 x1, __m512 x2) {
#pragma GCC unroll 8
    for (int c = 0; c < TILE_CO; c++) {
        const __m512 wv = _mm512_set1_ps(ww[c]);
        a[c][0] = _mm512_fmadd_ps(wv, x0, a[c][0]);
        a[c][1] = _mm512_fmadd_ps(wv, x1, a[c][1]);
        a[c][2] = _mm512_fmadd_ps(wv, x2, a[c][2]);
    }
}

/* O[c][q .. q + 48) for c < 8 (row stride ldo) = sum over ci < Ci and the 9 taps of
 * wp[(ci 9 + t) 8 + c] P[ci PS + q + off[t]] */
__attribute__((target("avx512f"))) static void tile(float *O, size_t ldo, const float *P, size_t PS, const float *wp,
                                                    size_t Ci, size_t Wp, size_t q) {
    __m512 a[TILE_CO][3];
#pragma GCC unroll 8
    for (int c = 0; c < TILE_CO; c++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++) a[c][v] = _mm512_setzero_ps();
    const size_t off[9] = {0, 1, 2, Wp, Wp + 1, Wp + 2, 2 * Wp, 2 * Wp + 1, 2 * Wp + 2};
    for (size_t ci = 0; ci < Ci; ci++) {
        const float *p = P + ci * PS + q;
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++) {
            const float *pp = p + off[t];
            const __m512 x0 = _mm512_loadu_ps(pp), x1 = _mm512_loadu_ps(pp + 16), x2 = _mm512_loadu_ps(pp + 32);
            fma_8x3(a, wp + (ci * 9 + (size_t)t) * TILE_CO, x0, x1, x2);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < TILE_CO; c++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++) _mm512_storeu_ps(O + c * ldo + q + 16 * (size_t)v, a[c][v]);
}

/* As tile, for 4 output channels (the weights wp[(ci 9 + t) 8 + c], c < 4) x 24 positions */
__attribute__((target("avx2,fma"))) static void tile_avx2(float *O, size_t ldo, const float *P, size_t PS,
                                                          const float *wp, size_t Ci, size_t Wp, size_t q) {
    __m256 a[4][3];
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++) a[c][v] = _mm256_setzero_ps();
    const size_t off[9] = {0, 1, 2, Wp, Wp + 1, Wp + 2, 2 * Wp, 2 * Wp + 1, 2 * Wp + 2};
    for (size_t ci = 0; ci < Ci; ci++) {
        const float *p = P + ci * PS + q;
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++) {
            const float *pp = p + off[t];
            const __m256 x0 = _mm256_loadu_ps(pp), x1 = _mm256_loadu_ps(pp + 8), x2 = _mm256_loadu_ps(pp + 16);
            const float *ww = wp + (ci * 9 + (size_t)t) * TILE_CO;
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                const __m256 wv = _mm256_broadcast_ss(ww + c);
                a[c][0] = _mm256_fmadd_ps(wv, x0, a[c][0]);
                a[c][1] = _mm256_fmadd_ps(wv, x1, a[c][1]);
                a[c][2] = _mm256_fmadd_ps(wv, x2, a[c][2]);
            }
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++) _mm256_storeu_ps(O + c * ldo + q + 8 * (size_t)v, a[c][v]);
}

/* The weight gradient's tiles: dwp[(c Ci + ci) 9 + 3 ki + kj] += sum over q in [q0, q1) of
 * D[c PS + q] X[ci PS + ki Wp + kj + q] for the output channels c from D's first, ci < Ci and the
 * three taps kj of each kernel row ki. D is the output gradient on the grid (zero at positions
 * that are not pixels), X the padded input. AVX2: 4 channels, 12 ymm accumulators, 8 positions a
 * step (4 + 3 loads per 12 FMAs, as in tile_avx2). */
__attribute__((target("avx2,fma"))) static float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

__attribute__((target("avx2,fma"))) static void dw_tile_avx2(float *dwp, const float *D, const float *X, size_t PS,
                                                             size_t Ci, size_t Wp, size_t q0, size_t q1) {
    for (size_t ci = 0; ci < Ci; ci++)
        for (size_t ki = 0; ki < 3; ki++) {
            __m256 a[4][3];
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
#pragma GCC unroll 3
                for (int j = 0; j < 3; j++) a[c][j] = _mm256_setzero_ps();
            const float *x = X + ci * PS + ki * Wp;
            for (size_t q = q0; q < q1; q += 8) {
                const __m256 x0 = _mm256_loadu_ps(x + q), x1 = _mm256_loadu_ps(x + q + 1), x2 = _mm256_loadu_ps(x + q + 2);
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    const __m256 dv = _mm256_loadu_ps(D + (size_t)c * PS + q);
                    a[c][0] = _mm256_fmadd_ps(dv, x0, a[c][0]);
                    a[c][1] = _mm256_fmadd_ps(dv, x1, a[c][1]);
                    a[c][2] = _mm256_fmadd_ps(dv, x2, a[c][2]);
                }
            }
            for (int c = 0; c < 4; c++)
                for (int j = 0; j < 3; j++) dwp[((size_t)c * Ci + ci) * 9 + 3 * ki + (size_t)j] += hsum256(a[c][j]);
        }
}

/* AVX-512: 8 channels, 24 zmm accumulators in the 32 registers, 16 positions a step (D and q0
 * 64-byte aligned, q1 - q0 a multiple of 16). Where the FMA units are 512 bits wide this is
 * 1.4-1.5x an 8-channel ymm tile (AMD Zen 5, 1 thread, batch 32, alternating: 99-117 against
 * 76-85 GFLOP/s at 28 x 28, 98-116 against 71-73 at 14 x 14, 81-98 against 61-65 at 7 x 7); on
 * AMD Zen 4, whose units split a zmm operation in two, a version of it was measured as fast as
 * the ymm tile. */
__attribute__((target("avx512f"))) static void dw_tile_512(float *dwp, const float *D, const float *X, size_t PS,
                                                           size_t Ci, size_t Wp, size_t q0, size_t q1) {
    for (size_t ci = 0; ci < Ci; ci++)
        for (size_t ki = 0; ki < 3; ki++) {
            __m512 a[TILE_CO][3];
#pragma GCC unroll 8
            for (int c = 0; c < TILE_CO; c++)
#pragma GCC unroll 3
                for (int j = 0; j < 3; j++) a[c][j] = _mm512_setzero_ps();
            const float *x = X + ci * PS + ki * Wp;
            for (size_t q = q0; q < q1; q += 16) {
                const __m512 x0 = _mm512_loadu_ps(x + q), x1 = _mm512_loadu_ps(x + q + 1),
                             x2 = _mm512_loadu_ps(x + q + 2);
#pragma GCC unroll 8
                for (int c = 0; c < TILE_CO; c++) {
                    const __m512 dv = _mm512_load_ps(D + (size_t)c * PS + q);
                    a[c][0] = _mm512_fmadd_ps(dv, x0, a[c][0]);
                    a[c][1] = _mm512_fmadd_ps(dv, x1, a[c][1]);
                    a[c][2] = _mm512_fmadd_ps(dv, x2, a[c][2]);
                }
            }
            for (int c = 0; c < TILE_CO; c++)
                for (int j = 0; j < 3; j++)
                    dwp[((size_t)c * Ci + ci) * 9 + 3 * ki + (size_t)j] += _mm512_reduce_add_ps(a[c][j]);
        }
}

/* The 1 x 1 convolution's tile, on a sample's planes as they are (no padding, no grid): y[c][q ..
 * q + 16 NV) for c < 8 (row stride N) (+)= b[c] + sum over ci < Ci of wp[ci 8 + c] X[ci N + q], the
 * positions from N on masked off (loads and stores). NV = 3 but for a plane's last positions,
 * where it is as few vectors as they need. */
__attribute__((target("avx512f"), always_inline)) static inline void tile1_nv(float *y, const float *X, size_t N,
                                                                             const float *wp, const float *b, size_t Ci,
                                                                             size_t q, int accumulate, size_t pf,
                                                                             const int NV) {
    const size_t n = N - q;
    const __mmask16 m[3] = {lane_mask16(n, 0), lane_mask16(n, 16), lane_mask16(n, 32)};
    __m512 a[TILE_CO][3];
    tile8_sum(a, X + q, N, wp, Ci, m, NV, pf);
#pragma GCC unroll 8
    for (int c = 0; c < TILE_CO; c++) {
        const __m512 bc = _mm512_set1_ps(b ? b[c] : 0.0f);
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            float *yy = y + c * N + q + 16 * (size_t)v;
            __m512 r = _mm512_add_ps(a[c][v], bc);
            if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m[v], yy));
            _mm512_mask_storeu_ps(yy, m[v], r);
        }
    }
}

__attribute__((target("avx512f"))) static void tile1(float *y, const float *X, size_t N, const float *wp,
                                                     const float *b, size_t Ci, size_t q, int accumulate, size_t pf) {
    const size_t n = N - q;
    if (n > 32) tile1_nv(y, X, N, wp, b, Ci, q, accumulate, pf, 3);
    else if (n > 16) tile1_nv(y, X, N, wp, b, Ci, q, accumulate, pf, 2);
    else tile1_nv(y, X, N, wp, b, Ci, q, accumulate, pf, 1);
}

void fm_conv_direct_pointwise(float *out, const float *in, const float *w, const float *b, float *wp, size_t B,
                              const FmConvDims *d, int accumulate) {
    const size_t Ci = d->Ci, Co = d->Co, N = d->H * d->W, nb = Co / TILE_CO;
    for (size_t cb = 0; cb < nb; cb++) /* wp[cb][ci][k] = w[cb 8 + k][ci] */
        for (size_t ci = 0; ci < Ci; ci++)
            for (size_t k = 0; k < TILE_CO; k++) wp[(cb * Ci + ci) * TILE_CO + k] = w[(cb * TILE_CO + k) * Ci + ci];
    /* a tile's Ci x TILE_Q inputs stay in L1 over the output channels' blocks; the first block
     * prefetches the next tile's (its Ci rows are more streams than the hardware's prefetchers
     * follow: perf showed the loads stalled) */
    #pragma omp parallel for schedule(static) if (B > 1)
    for (size_t s = 0; s < B; s++)
        for (size_t q = 0; q < N; q += TILE_Q)
            for (size_t cb = 0; cb < nb; cb++)
                tile1(out + (s * Co + cb * TILE_CO) * N, in + s * Ci * N, N, wp + cb * Ci * TILE_CO,
                      b ? b + cb * TILE_CO : NULL, Ci, q, accumulate, cb == 0 ? TILE_Q : 0);
}

/* P (C planes of PS floats) = the padded layout of x (gn, C, H, W); only borders and tail are zeroed */
static void to_grid(float *P, const float *x, size_t gn, size_t C, size_t H, size_t W, size_t PS) {
    const size_t Wp = W + 1, used = (gn * (H + 1) + 1) * Wp; /* the samples' rows and the zero row after them */
    for (size_t c = 0; c < C; c++) {
        float *p = P + c * PS;
        for (size_t s = 0; s < gn; s++) {
            float *r = p + s * (H + 1) * Wp;
            memset(r, 0, Wp * sizeof(float));
            for (size_t h = 0; h < H; h++) {
                r += Wp;
                r[0] = 0;
                memcpy(r + 1, x + ((s * C + c) * H + h) * W, W * sizeof(float));
            }
        }
        memset(p + used - Wp, 0, (PS - used + Wp) * sizeof(float));
    }
}

/* y (gn, Co, H, W) (+)= conv(P) with packed weights wp (Co / 8 blocks of (Ci, 9, 8)), + b (may
 * be NULL), through the output grid O (Co rows of Q) */
static void grid_conv(float *y, const float *P, const float *wp, const float *b, float *O, size_t gn, size_t Ci,
                      size_t Co, const FmConvDims *d, size_t g, int accumulate) {
    const size_t H = d->H, W = d->W, Wp = W + 1, Q = grid_q(d, g), PS = plane(d, g);
    const size_t Qn = (gn * (H + 1) * Wp + TILE_Q - 1) / TILE_Q * TILE_Q;
    const int avx512 = fm_conv_direct_available() >= FM_CONV_DIRECT_AVX512;
    for (size_t cb = 0; cb < Co / TILE_CO; cb++) {
        float *Ob = O + cb * TILE_CO * Q;
        const float *wb = wp + cb * Ci * 9 * TILE_CO;
        if (avx512)
            for (size_t q = 0; q < Qn; q += TILE_Q) tile(Ob, Q, P, PS, wb, Ci, Wp, q);
        else
            for (size_t q = 0; q < Qn; q += TILE_Q / 2) { /* both halves of the block on the same input */
                tile_avx2(Ob, Q, P, PS, wb, Ci, Wp, q);
                tile_avx2(Ob + 4 * Q, Q, P, PS, wb + 4, Ci, Wp, q);
            }
    }
    for (size_t s = 0; s < gn; s++)
        for (size_t c = 0; c < Co; c++) {
            const float bc = b ? b[c] : 0;
            for (size_t h = 0; h < H; h++) {
                const float *o = O + c * Q + (s * (H + 1) + h) * Wp;
                float *yy = y + ((s * Co + c) * H + h) * W;
                if (accumulate)
                    for (size_t k = 0; k < W; k++) yy[k] += o[k] + bc;
                else
                    for (size_t k = 0; k < W; k++) yy[k] = o[k] + bc;
            }
        }
}

void fm_conv_direct_forward(float *out, const float *in, const float *w, const float *b, float *scratch, size_t per,
                            size_t B, const FmConvDims *d, int accumulate) {
    const size_t Ci = d->Ci, Co = d->Co, H = d->H, W = d->W, g = balanced_group(d, B), ngroups = (B + g - 1) / g;
    float *wp = scratch + (size_t)omp_get_max_threads() * per; /* wp[cb][ci][t][k] = w[cb 8 + k][ci 9 + t] */
    for (size_t cb = 0; cb < Co / TILE_CO; cb++)
        for (size_t ci = 0; ci < Ci; ci++)
            for (size_t t = 0; t < 9; t++)
                for (size_t k = 0; k < TILE_CO; k++)
                    wp[((cb * Ci + ci) * 9 + t) * TILE_CO + k] = w[(cb * TILE_CO + k) * Ci * 9 + ci * 9 + t];
    #pragma omp parallel for schedule(static) if (ngroups > 1)
    for (size_t q = 0; q < ngroups; q++) {
        const size_t n0 = q * g, gn = B - n0 < g ? B - n0 : g;
        float *P = thread_buf(scratch, per, omp_get_thread_num()), *O = P + Ci * plane(d, g);
        to_grid(P, in + n0 * Ci * H * W, gn, Ci, H, W, plane(d, g));
        grid_conv(out + n0 * Co * H * W, P, wp, b, O, gn, Ci, Co, d, g, accumulate);
    }
}

/* sum of x[0 .. n) in 8 interleaved partial sums (vectorizable in a fixed order, unlike one) */
static float sum8(const float *x, size_t n) {
    float a[8] = {0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) a[j] += x[k + (size_t)j];
    for (; k < n; k++) a[0] += x[k];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* One group's backward: dout and the input on the grid; the weight gradient's tiles into the
 * thread's partial sums part (Co Ci 9 weights, then Co biases): with AVX-512 (dw_512) the
 * 8-channel tiles over the whole group (8-channel ymm tiles on AMD Zen 4, 1 thread, batch 32: 93,
 * 88, 74 GFLOP/s at 28 x 28, 14 x 14, 7 x 7 against the 4-channel AVX2 tiles' 77, 80, 66, and
 * chunks of 1536 positions 4 % slower at 28 x 28 than whole groups; the zmm tiles' own figures are
 * at dw_tile_512), else the AVX2 ones over chunks of DW_CHUNK positions
 * (so that a tile's output-gradient rows stay in L1); din by the forward kernel with the kernel
 * transposed and flipped (wt, packed as wp is). */
#define DW_CHUNK 1536 /* 4 rows, 24 kB: measured 5-10 % faster than 768, and no slower than whole groups */
static void group_backward(float *din, float *part, const float *dout, const float *in, const float *wt, float *buf,
                           size_t gn, const FmConvDims *d, size_t g, int dw_512) {
    const size_t Ci = d->Ci, Co = d->Co, H = d->H, W = d->W, Wp = W + 1, PS = plane(d, g);
    const size_t Qn = (gn * (H + 1) * Wp + TILE_Q - 1) / TILE_Q * TILE_Q;
    /* Pd starts so that D = Pd + Wp + 1 below is 64-byte aligned (buf is, and PS a multiple of 16) */
    float *Pd = buf + (16 - (Wp + 1) % 16) % 16, *Px = Pd + Co * PS, *O = Px + Ci * PS;
    to_grid(Pd, dout, gn, Co, H, W, PS);
    if (part) {
        to_grid(Px, in, gn, Ci, H, W, PS);
        const float *D = Pd + Wp + 1; /* D[q] = dout at grid position q, zero where q is not a pixel */
        if (dw_512)
            for (size_t c0 = 0; c0 < Co; c0 += TILE_CO) dw_tile_512(part + c0 * Ci * 9, D + c0 * PS, Px, PS, Ci, Wp, 0, Qn);
        else
            for (size_t q0 = 0; q0 < Qn; q0 += DW_CHUNK) {
                const size_t q1 = q0 + DW_CHUNK < Qn ? q0 + DW_CHUNK : Qn;
                for (size_t c0 = 0; c0 < Co; c0 += 4)
                    dw_tile_avx2(part + c0 * Ci * 9, D + c0 * PS, Px, PS, Ci, Wp, q0, q1);
            }
        for (size_t s = 0; s < gn; s++)
            for (size_t c = 0; c < Co; c++) {
                part[Co * Ci * 9 + c] += sum8(dout + (s * Co + c) * H * W, H * W);
            }
    }
    if (din) grid_conv(din, Pd, wt, NULL, O, gn, Co, Ci, d, g, 1);
}

void fm_conv_direct_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                             float *scratch, size_t per, size_t B, const FmConvDims *d) {
    const size_t Ci = d->Ci, Co = d->Co, H = d->H, W = d->W, g = balanced_group(d, B), ngroups = (B + g - 1) / g;
    const size_t nw = Co * Ci * 9, g0 = group(d); /* g <= g0, the size of the threads' buffers */
    const size_t part_at = 16 + (Ci + Co) * plane(d, g0) + cmax(d) * grid_q(d, g0); /* in a thread's share */
    const int grads = dw || db; /* Co a multiple of 8 then (fm_conv_direct_weights_ok) */
    const int dw_512 = grads && fm_conv_direct_available() >= FM_CONV_DIRECT_AVX512;
    float *wt = scratch + (size_t)omp_get_max_threads() * per;
    /* din = conv(dout) with Co -> Ci channels and the kernel wt[ci][co][t] = w[co][ci][8 - t] */
    if (din)
        for (size_t cb = 0; cb < Ci / TILE_CO; cb++)
            for (size_t co = 0; co < Co; co++)
                for (size_t t = 0; t < 9; t++)
                    for (size_t k = 0; k < TILE_CO; k++)
                        wt[((cb * Co + co) * 9 + t) * TILE_CO + k] = w[co * Ci * 9 + (cb * TILE_CO + k) * 9 + 8 - t];
    int nth = 1;
    #pragma omp parallel if (ngroups > 1)
    {
        float *buf = thread_buf(scratch, per, omp_get_thread_num()), *part = grads ? buf + part_at : NULL;
        #pragma omp single
        nth = omp_get_num_threads();
        if (part) memset(part, 0, (nw + Co) * sizeof(float));
        #pragma omp for schedule(static)
        for (size_t q = 0; q < ngroups; q++) {
            const size_t n0 = q * g, gn = B - n0 < g ? B - n0 : g;
            group_backward(din ? din + n0 * Ci * H * W : NULL, part, dout + n0 * Co * H * W, in + n0 * Ci * H * W, wt,
                           buf, gn, d, g, dw_512);
        }
    }
    if (!grads) return;
    #pragma omp parallel for schedule(static) if (nw > 16384)
    for (size_t k = 0; k < nw + Co; k++) { /* the threads' partial sums, in thread order */
        float sum = 0;
        for (int th = 0; th < nth; th++) sum += thread_buf(scratch, per, th)[part_at + k];
        if (k < nw) {
            if (dw) dw[k] += sum;
        } else if (db) {
            db[k - nw] += sum;
        }
    }
}
#else
void fm_conv_direct_forward(float *out, const float *in, const float *w, const float *b, float *scratch, size_t per,
                            size_t B, const FmConvDims *d, int accumulate) {
    (void)out, (void)in, (void)w, (void)b, (void)scratch, (void)per, (void)B, (void)d, (void)accumulate;
}
void fm_conv_direct_pointwise(float *out, const float *in, const float *w, const float *b, float *wp, size_t B,
                              const FmConvDims *d, int accumulate) {
    (void)out, (void)in, (void)w, (void)b, (void)wp, (void)B, (void)d, (void)accumulate;
}
void fm_conv_direct_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                             float *scratch, size_t per, size_t B, const FmConvDims *d) {
    (void)din, (void)dw, (void)db, (void)dout, (void)in, (void)w, (void)scratch, (void)per, (void)B, (void)d;
}
#endif
