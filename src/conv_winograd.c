/* conv_winograd.c - 3 x 3 "same" convolutions forward in float by Winograd's F(2 x 2, 3 x 3),
 * with AVX-512.
 *
 * Each 2 x 2 block of outputs (a tile) is computed from the 4 x 4 block of inputs around it as
 * Y = A^T [ (G g G^T) (.) (B^T d B) ] A (Lavin and Gray, "Fast algorithms for convolutional
 * neural networks", 2016): per tile, input channel and output channel 16 multiplications in
 * place of the direct convolution's 36. The sum over input channels is taken in the transformed
 * domain, so the 16 products become 16 matrix products (tiles x Ci) (Ci x Co), run on register
 * tiles of 8 output channels x 48 tiles (24 zmm accumulators, 3 loads and 8 broadcasts per 24
 * FMAs, as the direct tiles in conv_direct.c).
 *
 * The tiles of a batch are taken row of tiles by row of tiles (a sample's rows one after the
 * other, the samples after each other), and a chunk of rows at a time goes through three steps,
 * each thread on its own chunks:
 *   1. the input transform: for each channel and row of tiles, the 4 input rows are loaded (two
 *      vectors each, 32 columns), split into their even and odd columns in registers, and the
 *      16 values of 16 tiles side by side transformed: V[xi][ci][j] for tile j of the chunk.
 *      Rows of at most 8 tiles (images up to 16 wide) go 2 or 4 to a vector (input_packed);
 *   2. for each block of 8 output channels, the 16 products M[xi][c][j] = sum over ci of
 *      U[xi][ci][c] V[xi][ci][j], over all tiles of the chunk;
 *   3. the output transform of those 8 channels, two output rows of 32 columns at a time
 *      (interleaving the tiles' left and right columns in registers), with the bias and the
 *      caller's addends (fm_conv2d_forward_fused: the U-Net's ADDCH and ADD).
 * Each tile's value depends on nothing but its inputs and the sum over ci in order, so the
 * output does not depend on the chunks, the threads, or the batch. (Lanes past a chunk's last
 * tile hold whatever the scratch held: each lane is a tile of its own in the products, and no
 * output reads them.) The chunks hold at most about CHUNK_VALUES values of V per thread
 * (L2-sized), and as many chunks as make every thread's share the same.
 *
 * Rounding: the transforms add, subtract and halve, so the error is that of the sums; test_unet
 * measures it against the double convolution, no larger than the direct kernels'. */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv_direct.h"
#include "fm/common.h"
#include "fm/conv.h"
#include "vec.h"

#define WG_CO 8 /* output channels per register tile */
#define WG_TJ 48 /* tiles per register tile: 3 vectors */
#define CHUNK_VALUES 6144 /* Ci x tiles of a chunk: V is 16 times this, 384 kB */

static int wino_on = -1; /* -1: not yet decided (FMTRAIN_CONV_WINOGRAD) */

/* the setting (the environment's unless set), apart from whether the CPU allows it */
static int wino_setting(void) {
    if (wino_on < 0) { /* FMTRAIN_CONV_WINOGRAD=0 keeps the direct kernels (for comparisons) */
        const char *e = getenv("FMTRAIN_CONV_WINOGRAD");
        wino_on = !(e && strcmp(e, "0") == 0);
    }
    return wino_on;
}

int fm_conv_winograd_enable(int on) {
    const int was = wino_setting();
    wino_on = on != 0;
    return was;
}

int fm_conv_winograd_available(void) { return wino_setting() && fm_conv_direct_available() >= FM_CONV_DIRECT_AVX512; }

int fm_conv_winograd_ok(const FmConvDims *d) {
    return d->K == 3 && d->stride == 1 && d->pad == 1 && d->Co % WG_CO == 0 && d->Ci >= 8 &&
           fm_conv_winograd_available();
}

void fm_conv_kernel_cache_free(FmConvKernelCache *c) {
    if (!c) return;
    free(c->w);
    c->w = c->U = NULL;
}

static size_t tiles_x(const FmConvDims *d) { return (d->W + 1) / 2; }
static size_t tiles_y(const FmConvDims *d) { return (d->H + 1) / 2; }
/* rows of tiles per chunk, at most (the balancing in fm_conv_winograd_forward takes fewer) */
static size_t chunk_rows(const FmConvDims *d) {
    const size_t r = CHUNK_VALUES / d->Ci / tiles_x(d);
    return r ? r : 1;
}
/* the floats per chunk row of V and M: the tiles rounded up to whole vectors, and a vector of
 * slack for the last row's full-width stores */
static size_t pitch(const FmConvDims *d, size_t rows) { return (rows * tiles_x(d) + 15) / 16 * 16 + 16; }
/* from one of the 16 products' planes (of n rows of ld) to the next: a cache line more than they
 * hold, so that the 16 planes' stores and loads at the same j do not fall in one cache set (with
 * n ld floats a multiple of 4 kB they would, overflowing the set's ways) */
static size_t plane_stride(size_t n, size_t ld) { return n * ld + 16; }

size_t fm_conv_winograd_per_thread(const FmConvDims *d) {
    if (d->K != 3 || d->stride != 1 || d->pad != 1) return 0;
    const size_t ld = pitch(d, chunk_rows(d));
    return 16 + 16 * (plane_stride(d->Ci, ld) + plane_stride(WG_CO, ld)); /* V, M, and alignment */
}

size_t fm_conv_winograd_shared(const FmConvDims *d) { return 16 * d->Ci * d->Co; }

#if defined(__x86_64__) && defined(__GNUC__)
#include "tile8.h"

/* U[xi][cb][ci][k] = (G g G^T)[xi] of the kernels g = w[cb 8 + k][ci] of one block cb and
 * input channel ci (k < 8, side by side in the lanes of a ymm register), G = [1 0 0; .5 .5 .5;
 * .5 -.5 .5; 0 0 1] */
__attribute__((target("avx512f"))) static void transform_weights(float *U, const float *w, size_t cb, size_t ci,
                                                                 size_t Ci, size_t nb) {
    const int st = (int)(Ci * 9); /* from one kernel of the block to the next */
    const __m256i idx = _mm256_setr_epi32(0, st, 2 * st, 3 * st, 4 * st, 5 * st, 6 * st, 7 * st);
    const float *g0 = w + (cb * WG_CO * Ci + ci) * 9;
    const __m256 half = _mm256_set1_ps(0.5f);
    __m256 g[9], t[4][3]; /* the 8 kernels; G g */
    for (int e = 0; e < 9; e++) g[e] = _mm256_i32gather_ps(g0 + e, idx, 4);
    for (int j = 0; j < 3; j++) {
        t[0][j] = g[j];
        t[1][j] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(g[j], g[3 + j]), g[6 + j]));
        t[2][j] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(g[j], g[3 + j]), g[6 + j]));
        t[3][j] = g[6 + j];
    }
    const size_t xs = nb * Ci * WG_CO; /* from one xi to the next */
    float *u = U + (cb * Ci + ci) * WG_CO;
    for (int i = 0; i < 4; i++, u += 4 * xs) { /* (G g) G^T */
        _mm256_storeu_ps(u, t[i][0]);
        _mm256_storeu_ps(u + xs, _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(t[i][0], t[i][1]), t[i][2])));
        _mm256_storeu_ps(u + 2 * xs, _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(t[i][0], t[i][1]), t[i][2])));
        _mm256_storeu_ps(u + 3 * xs, t[i][2]);
    }
}

/* A row's horizontal transform from the tiles' columns d0 .. d3 (d1 = e, d2 = o): t = (d0 - d2,
 * d1 + d2, d2 - d1, d1 - d3), the rows of d B */
__attribute__((target("avx512f"), always_inline)) static inline void row_transform(__m512 t[4], __m512 d0, __m512 e,
                                                                                  __m512 o, __m512 d3) {
    t[0] = _mm512_sub_ps(d0, o);
    t[1] = _mm512_add_ps(e, o);
    t[2] = _mm512_sub_ps(o, e);
    t[3] = _mm512_sub_ps(e, d3);
}

/* The 16 tiles from column 32 s of an input row x of a channel (cols 32 s - 1 .. 32 s + 32), zero
 * outside the image and for a row outside it (masks 0): d[0..3] = the tiles' columns 0..3
 * (x[2 tx - 1], x[2 tx], x[2 tx + 1], x[2 tx + 2] with tx from 16 s), through the row's
 * horizontal transform (row_transform). m0, m1: the row's columns in
 * the two vectors from 32 s; before, after: whether the columns 32 s - 1 and 32 s + 32 are in the
 * image (then read), else zero. */
__attribute__((target("avx512f"), always_inline)) static inline void row_taps(__m512 t[4], const float *x, __mmask16 m0,
                                                                             __mmask16 m1, int before, int after) {
    const __m512 a = _mm512_maskz_loadu_ps(m0, x), b = _mm512_maskz_loadu_ps(m1, x + 16);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const __m512i up = _mm512_set_epi32(14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0);  /* lane k: k - 1 */
    const __m512i down = _mm512_set_epi32(0, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1); /* lane k: k + 1 */
    const __m512 e = _mm512_permutex2var_ps(a, even, b), o = _mm512_permutex2var_ps(a, odd, b);
    __m512 d0 = _mm512_maskz_permutexvar_ps(0xfffe, up, o), d3 = _mm512_maskz_permutexvar_ps(0x7fff, down, e);
    if (before) d0 = _mm512_mask_mov_ps(d0, 1, _mm512_set1_ps(x[-1]));
    if (after) d3 = _mm512_mask_mov_ps(d3, 0x8000, _mm512_set1_ps(x[32]));
    row_transform(t, d0, e, o, d3);
}

/* v[xi xs] = (B^T d B)[xi] from t[i] = row i of d B (the rows' horizontal transforms), B^T =
 * [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] */
__attribute__((target("avx512f"), always_inline)) static inline void store_v(float *v, size_t xs, __m512 t[4][4]) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        _mm512_storeu_ps(v + (size_t)(0 + j) * xs, _mm512_sub_ps(t[0][j], t[2][j]));
        _mm512_storeu_ps(v + (size_t)(4 + j) * xs, _mm512_add_ps(t[1][j], t[2][j]));
        _mm512_storeu_ps(v + (size_t)(8 + j) * xs, _mm512_sub_ps(t[2][j], t[1][j]));
        _mm512_storeu_ps(v + (size_t)(12 + j) * xs, _mm512_sub_ps(t[1][j], t[3][j]));
    }
}

/* V[xi][ci][j0 + k] (xi stride xs, ci stride ldv) for the 16 tiles from column 32 s of tile
 * row ty of sample x (Ci, H, W). Full-width stores: lanes past the row's tiles are overwritten
 * by the next row's or left in the slack. */
__attribute__((target("avx512f"))) static void input_row(float *V, size_t ldv, size_t xs, size_t Ci, const float *x,
                                                         size_t H, size_t W, size_t ty, size_t s) {
    const size_t c0 = 32 * s;
    size_t off[4]; /* the 4 input rows 2 ty - 1 + i: where, their columns' masks, their neighbours */
    __mmask16 m0[4], m1[4];
    int before[4], after[4];
    for (int i = 0; i < 4; i++) {
        const long r = 2 * (long)ty - 1 + i;
        const int in = r >= 0 && r < (long)H;
        const size_t n = in ? W - c0 : 0;
        off[i] = in ? (size_t)r * W + c0 : 0;
        m0[i] = lane_mask16(n, 0), m1[i] = lane_mask16(n, 16);
        before[i] = in && c0 > 0, after[i] = n > 32;
    }
    for (size_t ci = 0; ci < Ci; ci++) {
        const float *xc = x + ci * H * W;
        __m512 t[4][4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) row_taps(t[i], xc + off[i], m0[i], m1[i], before[i], after[i]);
        store_v(V + ci * ldv, xs, t);
    }
}

/* Rows of at most 8 tiles (W <= 16), P of them a vector (P = 2, or 4 where W <= 8): the P tile
 * rows' 4 input rows side by side, row p's columns in lanes p slot .. of the 32 lanes of two
 * vectors (slot = 32 / P), and their tiles packed in lanes p tx + t of the transforms by the
 * permutations' indices. xr[p][i]: input row 2 ty_p - 1 + i of tile row p (channel 0; the next
 * channel HW on), NULL outside the image or past the chunk's rows. */
/* The permutations of input_packed and output_packed for P rows of tx tiles */
typedef struct {
    int32_t e[16], o[16], d0[16], d3[16]; /* lane k (tile t of row p): columns 2 t, 2 t + 1, 2 t - 1, 2 t + 2 */
    int32_t out[4][16]; /* lane m of row p's output: the left (m even) or right value of tile p tx + m / 2 */
    __mmask16 all, m0, m3; /* the lanes of the P rows' tiles; those with a column 2 t - 1, 2 t + 2 */
} Packing;

static void packing_init(Packing *pk, size_t tx, size_t P) {
    const size_t slot = 32 / P;
    memset(pk, 0, sizeof *pk);
    for (size_t k = 0; k < 16; k++) {
        const size_t p = k / tx, t = k % tx, base = p * slot + 2 * t;
        pk->e[k] = (int32_t)(base & 31), pk->o[k] = (int32_t)((base + 1) & 31);
        /* columns 2 t - 1 and 2 t + 2: masked off where out of the row */
        pk->d0[k] = (int32_t)((base + 31) & 31), pk->d3[k] = (int32_t)((base + 2) & 31);
        if (p < P) {
            pk->all |= (__mmask16)(1u << k);
            if (t > 0) pk->m0 |= (__mmask16)(1u << k);
            if (t + 1 < tx) pk->m3 |= (__mmask16)(1u << k);
        }
    }
    for (size_t p = 0; p < P; p++)
        for (size_t m = 0; m < 16; m++) pk->out[p][m] = (int32_t)((m % 2 ? 16 : 0) + (p * tx + m / 2) % 16);
}

/* lo, hi: for each of the 4 input rows i and half h of the (a, b) pair, where its lanes 0 .. 7 and
 * 8 .. 15 load from (channel 0), and their masks (P = 2: a whole row in lo, hi unused) */
typedef struct {
    const float *lo[4][2], *hi[4][2];
    __mmask16 mlo[4][2], mhi[4][2];
} Rows;

__attribute__((target("avx512f"), always_inline)) static inline void input_packed_p(float *V, size_t ldv, size_t xs,
                                                                                   size_t Ci, size_t HW, const Rows *rw,
                                                                                   const Packing *pk, const int P) {
    const __m512i ve = _mm512_loadu_si512(pk->e), vo = _mm512_loadu_si512(pk->o), v0 = _mm512_loadu_si512(pk->d0),
                  v3 = _mm512_loadu_si512(pk->d3);
    const __mmask16 mall = pk->all, m0 = pk->m0, m3 = pk->m3;
    for (size_t ci = 0; ci < Ci; ci++) {
        const size_t c = ci * HW;
        __m512 t[4][4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            __m512 ab[2];
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                ab[h] = _mm512_maskz_loadu_ps(rw->mlo[i][h], rw->lo[i][h] + c);
                if (P == 4) ab[h] = _mm512_mask_loadu_ps(ab[h], rw->mhi[i][h], rw->hi[i][h] + c);
            }
            const __m512 e = _mm512_maskz_permutex2var_ps(mall, ab[0], ve, ab[1]),
                         o = _mm512_maskz_permutex2var_ps(mall, ab[0], vo, ab[1]),
                         d0 = _mm512_maskz_permutex2var_ps(m0, ab[0], v0, ab[1]),
                         d3 = _mm512_maskz_permutex2var_ps(m3, ab[0], v3, ab[1]);
            row_transform(t[i], d0, e, o, d3);
        }
        store_v(V + ci * ldv, xs, t);
    }
}

__attribute__((target("avx512f"))) static void input_packed2(float *V, size_t ldv, size_t xs, size_t Ci, size_t HW,
                                                             const Rows *rw, const Packing *pk) {
    input_packed_p(V, ldv, xs, Ci, HW, rw, pk, 2);
}
__attribute__((target("avx512f"))) static void input_packed4(float *V, size_t ldv, size_t xs, size_t Ci, size_t HW,
                                                             const Rows *rw, const Packing *pk) {
    input_packed_p(V, ldv, xs, Ci, HW, rw, pk, 4);
}

/* M[c][j .. j + 16 NV) (row stride ldm) = sum over ci < Ci of U[ci 8 + c] V[ci ldv + j ..] */
__attribute__((target("avx512f"), always_inline)) static inline void gemm_tile(float *M, size_t ldm, const float *V,
                                                                              size_t ldv, const float *U, size_t Ci,
                                                                              size_t j, const int NV) {
    const __mmask16 all[3] = {0xffff, 0xffff, 0xffff};
    __m512 a[WG_CO][3];
    tile8_sum(a, V + j, ldv, U, Ci, all, NV);
#pragma GCC unroll 8
    for (int c = 0; c < WG_CO; c++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(M + c * ldm + j + 16 * (size_t)v, a[c][v]);
}

__attribute__((target("avx512f"))) static void gemm_chunk(float *M, size_t ldm, const float *V, size_t ldv,
                                                          const float *U, size_t Ci, size_t T) {
    size_t j = 0;
    for (; j + WG_TJ <= T; j += WG_TJ) gemm_tile(M, ldm, V, ldv, U, Ci, j, 3);
    if (T - j > 32) gemm_tile(M, ldm, V, ldv, U, Ci, j, 3);
    else if (T - j > 16) gemm_tile(M, ldm, V, ldv, U, Ci, j, 2);
    else if (T > j) gemm_tile(M, ldm, V, ldv, U, Ci, j, 1);
}

/* The 16 tiles' outputs from M[xi xs] (A^T m A with A^T = [1 1 1 0; 0 1 -1 -1]) + bc: y[0], y[1]
 * their top row's left and right values, y[2], y[3] the bottom row's */
__attribute__((target("avx512f"), always_inline)) static inline void tile_outputs(__m512 y[4], const float *M, size_t xs,
                                                                                 float bc) {
    __m512 s0[4], s1[4]; /* the columns' vertical transforms */
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const float *m = M + (size_t)j * xs;
        const __m512 m0 = _mm512_loadu_ps(m), m1 = _mm512_loadu_ps(m + 4 * xs), m2 = _mm512_loadu_ps(m + 8 * xs),
                     m3 = _mm512_loadu_ps(m + 12 * xs);
        s0[j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
        s1[j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
    }
    const __m512 b = _mm512_set1_ps(bc);
    y[0] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s0[0], s0[1]), s0[2]), b);
    y[1] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s0[1], s0[2]), s0[3]), b);
    y[2] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s1[0], s1[1]), s1[2]), b);
    y[3] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s1[1], s1[2]), s1[3]), b);
}

/* What is added to the convolution (and its bias) where it is written out: a value per sample and
 * channel (hv: whether there is one), then a tensor of the output's shape (a: its values at the
 * row written, or NULL) */
typedef struct {
    int hv;
    float v;
    const float *a;
} Addend;

/* p[0 .. n) = v's lanes under k, + the addend */
__attribute__((target("avx512f"), always_inline)) static inline void put(float *p, __m512 v, __mmask16 k, Addend ad,
                                                                        size_t at) {
    if (ad.hv) v = _mm512_add_ps(v, _mm512_set1_ps(ad.v));
    if (ad.a) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, ad.a + at));
    _mm512_mask_storeu_ps(p + at, k, v);
}

/* The output rows 2 ty and 2 ty + 1, columns 32 s .. 32 s + 32, of one channel y (H, W) from the
 * 16 tiles at M[xi xs] */
__attribute__((target("avx512f"), always_inline)) static inline void output_row(float *y, size_t H, size_t W,
                                                                               const float *M, size_t xs, size_t ty,
                                                                               size_t s, float bc, Addend ad) {
    __m512 v[4];
    tile_outputs(v, M, xs, bc);
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    const size_t c0 = 32 * s, n = W - c0;
    for (size_t i = 0; i < 2 && 2 * ty + i < H; i++) { /* interleave the left and right values */
        const size_t at = (2 * ty + i) * W + c0;
        put(y, _mm512_permutex2var_ps(v[2 * i], lo, v[2 * i + 1]), lane_mask16(n, 0), ad, at);
        put(y, _mm512_permutex2var_ps(v[2 * i], hi, v[2 * i + 1]), lane_mask16(n, 16), ad, at + 16);
    }
}

/* As output_row for P packed rows of tx <= 8 tiles (input_packed): yr[p], row 2 ty_p of tile row
 * p's channel (NULL past the chunk's rows), ad[p] its addend there, bottom[p]: whether row
 * 2 ty_p + 1 is in the image */
__attribute__((target("avx512f"), always_inline)) static inline void output_packed(float *yr[4], const Addend ad[4],
                                                                                  const int bottom[4], size_t W,
                                                                                  size_t P, const Packing *pk,
                                                                                  const float *M, size_t xs, float bc) {
    __m512 v[4];
    tile_outputs(v, M, xs, bc);
    const __mmask16 mw = lane_mask16(W, 0);
    for (size_t p = 0; p < P && yr[p]; p++) {
        const __m512i vi = _mm512_loadu_si512(pk->out[p]);
        put(yr[p], _mm512_permutex2var_ps(v[0], vi, v[1]), mw, ad[p], 0);
        if (bottom[p]) put(yr[p], _mm512_permutex2var_ps(v[2], vi, v[3]), mw, ad[p], W);
    }
}

/* Output channel co of the chunk's rows r0 .. r1 (their tiles at M[xi xs], from the chunk's
 * first), with the bias b[co] and the addends v and add (fm_conv_winograd_forward) */
__attribute__((target("avx512f"))) static void output_channel(float *out, const float *v, const float *add,
                                                              const float *b, size_t co, size_t Co, size_t H, size_t W,
                                                              size_t tx, size_t segs, size_t P, const Packing *pk,
                                                              const float *M, size_t xs, size_t r0, size_t r1) {
    const size_t HW = H * W, ty = (H + 1) / 2;
    const float bc = b ? b[co] : 0.0f;
    if (P > 1)
        for (size_t r = r0; r < r1; r += P) {
            float *yr[4] = {NULL};
            Addend ad[4];
            int bottom[4] = {0};
            for (size_t p = 0; p < P && r + p < r1; p++) {
                const size_t h = 2 * ((r + p) % ty), sc = (r + p) / ty * Co + co;
                yr[p] = out + sc * HW + h * W;
                ad[p] = (Addend){v != NULL, v ? v[sc] : 0.0f, add ? add + sc * HW + h * W : NULL};
                bottom[p] = h + 1 < H;
            }
            output_packed(yr, ad, bottom, W, P, pk, M + (r - r0) * tx, xs, bc);
        }
    else
        for (size_t r = r0; r < r1; r++) {
            const size_t sc = r / ty * Co + co;
            const Addend ad = {v != NULL, v ? v[sc] : 0.0f, add ? add + sc * HW : NULL};
            for (size_t s = 0; s < segs; s++)
                output_row(out + sc * HW, H, W, M + (r - r0) * tx + 16 * s, xs, r % ty, s, bc, ad);
        }
}

/* thread th's share of the scratch, 64-byte aligned */
static float *thread_buf(float *scratch, size_t per, int th) {
    float *buf = scratch + (size_t)th * per;
    return buf + (16 - ((uintptr_t)buf / sizeof(float)) % 16) % 16;
}

void fm_conv_winograd_forward(float *out, const float *in, const float *w, const float *b, const float *v,
                              const float *add, float *scratch, size_t per, size_t B, const FmConvDims *d,
                              FmConvKernelCache *kc) {
    const size_t Ci = d->Ci, Co = d->Co, H = d->H, W = d->W, HW = H * W, tx = tiles_x(d), ty = tiles_y(d);
    const size_t segs = (tx + 15) / 16, rows = B * ty, nth = (size_t)omp_get_max_threads(), nb = Co / WG_CO;
    const size_t P = tx <= 4 ? 4 : tx <= 8 ? 2 : 1; /* tile rows a vector: input_packed, or 16 tiles of one */
    /* chunks of at most chunk_rows(d) rows, as many as make the threads' shares equal */
    const size_t rmax = chunk_rows(d), nc0 = (rows + rmax - 1) / rmax, nc = (nc0 + nth - 1) / nth * nth;
    const size_t rc = (rows + nc - 1) / nc, nchunks = (rows + rc - 1) / rc, ld = pitch(d, rc);
    const size_t vxs = plane_stride(Ci, ld), mxs = plane_stride(WG_CO, ld);
    const size_t nw = Co * Ci * 9;
    float *U = scratch + nth * per;
    int fresh = 1; /* whether U must be transformed from w */
    if (kc) { /* the cached kernel, while the weights are those it came from */
        if (!kc->w) {
            kc->w = fm_malloc_floats(nw + 16 * Ci * Co);
            kc->U = kc->w + nw;
        } else if (memcmp(kc->w, w, nw * sizeof(float)) == 0) {
            fresh = 0;
        }
        U = kc->U;
        if (fresh) memcpy(kc->w, w, nw * sizeof(float));
    }
    Packing pk;
    if (P > 1) packing_init(&pk, tx, P);
    #pragma omp parallel if (nchunks > 1)
    {
    if (fresh) {
        #pragma omp for schedule(static)
        for (size_t q = 0; q < nb * Ci; q++) transform_weights(U, w, q / Ci, q % Ci, Ci, nb);
    }
    #pragma omp for schedule(static)
    for (size_t k = 0; k < nchunks; k++) {
        float *V = thread_buf(scratch, per, omp_get_thread_num()), *M = V + 16 * vxs;
        const size_t r0 = k * rc, r1 = r0 + rc < rows ? r0 + rc : rows, T = (r1 - r0) * tx;
        if (P > 1)
            for (size_t r = r0; r < r1; r += P) {
                /* tile row p's input row i: in lanes 16 p (P = 2) or 8 p (P = 4) of the pair; rows
                 * outside the image or past the chunk's rows load nothing (masks 0) */
                Rows rw;
                const __mmask16 mw = lane_mask16(W, 0);
                for (size_t i = 0; i < 4; i++)
                    for (size_t p = 0; p < P; p++) {
                        const long h = 2 * (long)((r + p) % ty) - 1 + (long)i;
                        const int here = r + p < r1 && h >= 0 && h < (long)H;
                        const float *x = here ? in + (r + p) / ty * Ci * HW + (size_t)h * W : in;
                        if (P == 2) rw.lo[i][p] = x, rw.mlo[i][p] = here ? mw : 0;
                        else if (p % 2 == 0) rw.lo[i][p / 2] = x, rw.mlo[i][p / 2] = here ? mw : 0;
                        else /* lanes 8 .. 15, from 8 floats before the row (lanes 0 .. 7 masked off) */
                            rw.hi[i][p / 2] = (const float *)((uintptr_t)x - 8 * sizeof(float)),
                            rw.mhi[i][p / 2] = here ? (__mmask16)(mw << 8) : 0;
                    }
                if (P == 2) input_packed2(V + (r - r0) * tx, ld, vxs, Ci, HW, &rw, &pk);
                else input_packed4(V + (r - r0) * tx, ld, vxs, Ci, HW, &rw, &pk);
            }
        else
            for (size_t r = r0; r < r1; r++)
                for (size_t s = 0; s < segs; s++)
                    input_row(V + (r - r0) * tx + 16 * s, ld, vxs, Ci, in + r / ty * Ci * HW, H, W, r % ty, s);
        for (size_t cb = 0; cb < nb; cb++) {
            for (size_t xi = 0; xi < 16; xi++)
                gemm_chunk(M + xi * mxs, ld, V + xi * vxs, ld, U + (xi * nb + cb) * Ci * WG_CO, Ci, T);
            for (size_t c = 0; c < WG_CO; c++)
                output_channel(out, v, add, b, cb * WG_CO + c, Co, H, W, tx, segs, P, &pk, M + c * ld, mxs, r0, r1);
        }
    }
    }
}
#else
void fm_conv_winograd_forward(float *out, const float *in, const float *w, const float *b, const float *v,
                              const float *add, float *scratch, size_t per, size_t B, const FmConvDims *d,
                              FmConvKernelCache *kc) {
    (void)out, (void)in, (void)w, (void)b, (void)v, (void)add, (void)scratch, (void)per, (void)B, (void)d, (void)kc;
}
#endif
