/* conv_winograd.c - 3 x 3 "same" convolutions forward in float by Winograd's F(4 x 4, 3 x 3),
 * with AVX-512.
 *
 * Each 4 x 4 block of outputs (a tile) is computed from the 6 x 6 block of inputs around it as
 * Y = A^T [ (G g G^T) (.) (B^T d B) ] A (Lavin and Gray, "Fast algorithms for convolutional
 * neural networks", 2016): per tile, input channel and output channel 36 multiplications in
 * place of the direct convolution's 144. The matrices are Toom-Cook's at the points 0, -1, 1,
 * 1/2, -2 and infinity, whose float error is about a third of that at 0, +-1, +-2 (Barabasz et
 * al., "Error analysis and improving the accuracy of Winograd convolution", 2020). The sum over
 * input channels is taken in the transformed domain, so the 36 products become 36 matrix
 * products (tiles x Ci) (Ci x Co), run on register tiles of 8 output channels x 48 tiles (24 zmm
 * accumulators, 3 loads and 8 broadcasts per 24 FMAs, as the direct tiles in conv_direct.c).
 *
 * The tiles: a row of tiles (tx = ceil(W / 4) of them) is cut into segments of at most 7 tiles,
 * whose 4 nt + 2 input columns fit the 32 lanes of two vectors, and the segments of every row of
 * tiles of every sample (units, in that order) go S = 16 / nt to a vector of 16 lanes (slots of
 * nt lanes, one tile each). A chunk of vectors at a time goes through three steps, each thread on
 * its own chunks:
 *   1. the input transform: for each channel, each slot's 6 input rows are loaded (two vectors
 *      from the segment's column - 1, zero outside the image), their 6 columns per tile picked
 *      by permutations, transformed along the row, then down the columns: V[xi][ci][j], tile j.
 *      Images up to 15 wide take two slots per permutation (one vector of window each). The
 *      rows two channels on are prefetched: the channels' planes are too many streams for the
 *      hardware's prefetchers, and the loads stalled on the cache (perf);
 *   2. for each block of 8 output channels, the 36 products M[xi][c][j] = sum over ci of
 *      U[xi][ci][c] V[xi][ci][j], over all tiles of the chunk;
 *   3. the output transform of those 8 channels, the tiles' 4 x 4 values interleaved into
 *      output rows by permutations, with the bias and the caller's addends
 *      (fm_conv2d_forward_fused: the U-Net's ADDCH and ADD).
 * Each tile's value depends on nothing but its inputs and the sum over ci in order, so the
 * output does not depend on the chunks, the threads, or the batch. (Lanes outside the slots are
 * zero; each lane is a tile of its own in the products, and no output reads the unused ones.)
 * The chunks hold at most about CHUNK_VALUES values of V per thread (L2-sized, at least two
 * vectors), as many of them as make every thread's share the same within a vector.
 *
 * Rounding: the error is that of the transforms' sums and the weights' constants (1/3, 1/15, ..),
 * a few times the direct kernels'; test_unet measures it against the double convolution. */
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
#define PREFETCH_CH 2 /* input channels ahead that input_vec prefetches */
#define CHUNK_VALUES 3072 /* Ci x tiles of a chunk: V is 36 times this, 432 kB */

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

/* vectors of tiles per chunk, at most: CHUNK_VALUES values of V per input channel, at least 2 */
static size_t chunk_vecs(const FmConvDims *d) {
    const size_t n = CHUNK_VALUES / d->Ci / 16;
    return n >= 2 ? n : 2;
}
/* from one of the 36 products' planes (of n rows of ld) to the next: a cache line more than they
 * hold, so that the planes' stores and loads at the same j do not fall in one cache set (with
 * n ld floats a multiple of 4 kB they would, overflowing the set's ways) */
static size_t plane_stride(size_t n, size_t ld) { return n * ld + 16; }

size_t fm_conv_winograd_per_thread(const FmConvDims *d) {
    if (d->K != 3 || d->stride != 1 || d->pad != 1) return 0;
    const size_t ld = 16 * chunk_vecs(d);
    return 16 + 36 * (plane_stride(d->Ci, ld) + plane_stride(WG_CO, ld)); /* V, M, and alignment */
}

size_t fm_conv_winograd_shared(const FmConvDims *d) { return 36 * d->Ci * d->Co; }

#if defined(__x86_64__) && defined(__GNUC__)
#include "tile8.h"

/* U[xi][cb][ci][k] = (G g G^T)[xi] of the kernels g = w[cb 8 + k][ci] of one block cb and input
 * channel ci (k < 8, side by side in the lanes of a ymm register), G at the points 0, -1, 1,
 * 1/2, -2, infinity: (1 0 0; -1/3 1/3 -1/3; 1/3 1/3 1/3; -16/15 -8/15 -4/15; 1/15 -2/15 4/15;
 * 0 0 1) */
__attribute__((target("avx512f,fma"))) static void transform_weights(float *U, const float *w, size_t cb, size_t ci,
                                                                 size_t Ci, size_t nb) {
    static const float G[6][3] = {{1, 0, 0},
                                  {-1.0f / 3, 1.0f / 3, -1.0f / 3},
                                  {1.0f / 3, 1.0f / 3, 1.0f / 3},
                                  {-16.0f / 15, -8.0f / 15, -4.0f / 15},
                                  {1.0f / 15, -2.0f / 15, 4.0f / 15},
                                  {0, 0, 1}};
    const int st = (int)(Ci * 9); /* from one kernel of the block to the next */
    const __m256i idx = _mm256_setr_epi32(0, st, 2 * st, 3 * st, 4 * st, 5 * st, 6 * st, 7 * st);
    const float *g0 = w + (cb * WG_CO * Ci + ci) * 9;
    __m256 g[9], t[6][3]; /* the 8 kernels; G g */
    for (int e = 0; e < 9; e++) g[e] = _mm256_i32gather_ps(g0 + e, idx, 4);
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++)
            t[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(G[i][2]), g[6 + j],
                                      _mm256_fmadd_ps(_mm256_set1_ps(G[i][1]), g[3 + j],
                                                      _mm256_mul_ps(_mm256_set1_ps(G[i][0]), g[j])));
    const size_t xs = nb * Ci * WG_CO; /* from one xi to the next */
    float *u = U + (cb * Ci + ci) * WG_CO;
#pragma GCC unroll 6
    for (int a = 0; a < 6; a++)
#pragma GCC unroll 6
        for (int b = 0; b < 6; b++)
            _mm256_storeu_ps(u + (size_t)(6 * a + b) * xs,
                             _mm256_fmadd_ps(_mm256_set1_ps(G[b][2]), t[a][2],
                                             _mm256_fmadd_ps(_mm256_set1_ps(G[b][1]), t[a][1],
                                                             _mm256_mul_ps(_mm256_set1_ps(G[b][0]), t[a][0]))));
}

#define FMA(a, b, c) _mm512_fmadd_ps(_mm512_set1_ps(a), (b), (c))

/* r = B^T d: (1 -3/2 -2 3/2 1 0; 0 1 -5/2 1/2 1 0; 0 -1 1/2 5/2 1 0; 0 -2 -1 2 1 0;
 * 0 1/2 -1 -1/2 1 0; 0 1 -3/2 -2 3/2 1) d */
__attribute__((target("avx512f"), always_inline)) static inline void bt6(__m512 r[6], const __m512 d[6]) {
    const __m512 t = _mm512_sub_ps(d[3], d[1]), u = _mm512_sub_ps(d[4], d[2]);
    r[0] = FMA(1.5f, t, FMA(-2.0f, d[2], _mm512_add_ps(d[0], d[4])));
    r[1] = FMA(0.5f, d[3], FMA(-1.5f, d[2], _mm512_add_ps(d[1], u)));
    r[2] = FMA(2.5f, d[3], FMA(1.5f, d[2], _mm512_sub_ps(u, d[1])));
    r[3] = FMA(2.0f, t, u);
    r[4] = FMA(-0.5f, t, u);
    r[5] = FMA(1.5f, u, FMA(-2.0f, d[3], _mm512_add_ps(d[1], d[5])));
}

/* y = A^T m: (1 1 1 1 1 0; 0 -1 1 1/2 -2 0; 0 1 1 1/4 4 0; 0 -1 1 1/8 -8 1) m */
__attribute__((target("avx512f"), always_inline)) static inline void at6(__m512 y[4], const __m512 m[6]) {
    const __m512 a = _mm512_add_ps(m[1], m[2]), b = _mm512_sub_ps(m[2], m[1]);
    y[0] = _mm512_add_ps(_mm512_add_ps(m[0], a), _mm512_add_ps(m[3], m[4]));
    y[1] = FMA(-2.0f, m[4], FMA(0.5f, m[3], b));
    y[2] = FMA(4.0f, m[4], FMA(0.25f, m[3], a));
    y[3] = _mm512_add_ps(FMA(-8.0f, m[4], FMA(0.125f, m[3], b)), m[5]);
}

/* The tiles' geometry (see the top): tx x ty tiles a sample, rows of tiles in nseg segments of at
 * most nt tiles, S segments (units) a vector */
typedef struct {
    size_t tx, ty, nseg, nt, S, units, vecs;
} Geo;

static Geo geometry(const FmConvDims *d, size_t B) {
    Geo g;
    g.tx = (d->W + 3) / 4, g.ty = (d->H + 3) / 4;
    g.nseg = (g.tx + 6) / 7;
    g.nt = (g.tx + g.nseg - 1) / g.nseg;
    g.S = 16 / g.nt;
    g.units = B * g.ty * g.nseg;
    g.vecs = (g.units + g.S - 1) / g.S;
    return g;
}

/* A vector's slots: unit gv S + s's sample, first output row (4 x its row of tiles) and column */
typedef struct {
    size_t n, sample[16], row[16], c0[16];
} Slots;

static void slots_of(Slots *sl, const Geo *g, size_t gv) {
    sl->n = 0;
    for (size_t s = 0; s < g->S && gv * g->S + s < g->units; s++, sl->n++) {
        const size_t u = gv * g->S + s, r = u / g->nseg;
        sl->sample[s] = r / g->ty, sl->row[s] = 4 * (r % g->ty), sl->c0[s] = 4 * g->nt * (u % g->nseg);
    }
}

/* V[xi xs + ci ldv + (0 .. 16)] = (B^T d B)[xi] of the 16 lanes' tiles (zero in lanes outside the
 * slots), for every input channel ci of x (B, Ci, H, W) */
__attribute__((target("avx512f"))) static void input_vec(float *V, size_t ldv, size_t xs, const float *x, size_t Ci,
                                                         size_t H, size_t W, const Geo *g, const Slots *sl) {
    const size_t HW = H * W;
    uintptr_t at[16][6]; /* slot s's input row i at column c0 - 1 (channel 0) */
    __mmask16 mlo[16][6], mhi[16][6], lanes[16];
    for (size_t s = 0; s < sl->n; s++) {
        const size_t c0 = sl->c0[s], nwin = W - c0 + 1; /* the window's lanes from column c0 - 1 in the image */
        lanes[s] = (__mmask16)(((1u << g->nt) - 1) << (s * g->nt));
        for (int i = 0; i < 6; i++) {
            const long h = (long)sl->row[s] - 1 + i;
            const int in = h >= 0 && h < (long)H;
            const float *p = x + sl->sample[s] * Ci * HW + (in ? (size_t)h * W + c0 : 0);
            at[s][i] = (uintptr_t)p - sizeof(float);
            mlo[s][i] = in ? (__mmask16)(lane_mask16(nwin, 0) & (c0 ? 0xffff : 0xfffe)) : 0;
            mhi[s][i] = in ? lane_mask16(nwin, 16) : 0;
        }
    }
    /* Images up to 15 wide: a slot's window (columns -1 .. W - 1) fits one vector, so two slots
     * share a permutation's table (pair 2): the even slot's window in the first, the odd one's
     * in the second. idx[j], lane s nt + t: the table's column 4 t + j (in the second vector for
     * an odd slot of a pair); zm[j]: the lanes whose column is in the window (the others zero). */
    const size_t pair = W <= 15 ? 2 : 1, nt = g->nt;
    __m512i idx[6];
    __mmask16 zm[6];
    for (int j = 0; j < 6; j++) {
        int32_t k[16];
        zm[j] = 0;
        for (size_t l = 0; l < 16; l++) {
            const size_t pos = 4 * (l % nt) + (size_t)j;
            k[l] = (int32_t)(((pair == 2 && l / nt % 2 ? 16 : 0) + pos) & 31);
            if (pair == 1 || pos < 16) zm[j] |= (__mmask16)(1u << l);
        }
        idx[j] = _mm512_loadu_si512(k);
    }
    const size_t pf = PREFETCH_CH * HW * sizeof(float); /* from a channel to the one prefetched */
    for (size_t ci = 0; ci < Ci; ci++) {
        const size_t c = ci * HW * sizeof(float);
        if (ci + PREFETCH_CH < Ci)
            for (size_t s = 0; s < sl->n; s++)
                for (int i = 0; i < 6; i++)
                    if (mlo[s][i] | mhi[s][i]) {
                        const char *q = (const char *)(at[s][i] + c + pf);
                        _mm_prefetch(q, _MM_HINT_T0), _mm_prefetch(q + 64, _MM_HINT_T0), _mm_prefetch(q + 124, _MM_HINT_T0);
                    }
        __m512 h[6][6]; /* row i's transform along the row */
        for (int i = 0; i < 6; i++) {
            __m512 tap[6] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                             _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            for (size_t s = 0; s < sl->n; s += pair) {
                const float *p = (const float *)(at[s][i] + c);
                const __m512 lo = _mm512_maskz_loadu_ps(mlo[s][i], p);
                __m512 hi;
                __mmask16 ln = lanes[s];
                if (pair == 1) {
                    hi = _mm512_maskz_loadu_ps(mhi[s][i], p + 16);
                } else if (s + 1 < sl->n) {
                    hi = _mm512_maskz_loadu_ps(mlo[s + 1][i], (const float *)(at[s + 1][i] + c));
                    ln |= lanes[s + 1];
                } else {
                    hi = _mm512_setzero_ps();
                }
#pragma GCC unroll 6
                for (int j = 0; j < 6; j++)
                    tap[j] = _mm512_mask_mov_ps(tap[j], ln & zm[j], _mm512_permutex2var_ps(lo, idx[j], hi));
            }
            bt6(h[i], tap);
        }
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++) {
            const __m512 col[6] = {h[0][j], h[1][j], h[2][j], h[3][j], h[4][j], h[5][j]};
            __m512 v[6];
            bt6(v, col);
#pragma GCC unroll 6
            for (int a = 0; a < 6; a++) _mm512_storeu_ps(V + (size_t)(6 * a + j) * xs + ci * ldv, v[a]);
        }
    }
}

/* M[c][j .. j + 16 NV) (row stride ldm) = sum over ci < Ci of U[ci 8 + c] V[ci ldv + j ..] */
__attribute__((target("avx512f"), always_inline)) static inline void gemm_tile(float *M, size_t ldm, const float *V,
                                                                              size_t ldv, const float *U, size_t Ci,
                                                                              size_t j, const int NV) {
    const __mmask16 all[3] = {0xffff, 0xffff, 0xffff};
    __m512 a[WG_CO][3];
    tile8_sum(a, V + j, ldv, U, Ci, all, NV, 0);
#pragma GCC unroll 8
    for (int c = 0; c < WG_CO; c++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(M + c * ldm + j + 16 * (size_t)v, a[c][v]);
}

/* the products over T lanes, a whole number of vectors */
__attribute__((target("avx512f"))) static void gemm_chunk(float *M, size_t ldm, const float *V, size_t ldv,
                                                          const float *U, size_t Ci, size_t T) {
    size_t j = 0;
    for (; j + WG_TJ <= T; j += WG_TJ) gemm_tile(M, ldm, V, ldv, U, Ci, j, 3);
    if (T - j == 32) gemm_tile(M, ldm, V, ldv, U, Ci, j, 2);
    else if (T - j == 16) gemm_tile(M, ldm, V, ldv, U, Ci, j, 1);
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

/* Output channel co of the 16 lanes' tiles, from their products M[xi xs] (A^T m A), with the bias
 * bc and the addends v and add (fm_conv_winograd_forward): slot s's 4 x 4 values interleaved
 * into its rows (a tile's 4 columns side by side) */
__attribute__((target("avx512f"))) static void output_vec(float *out, const float *v, const float *add, float bc,
                                                          size_t co, size_t Co, size_t H, size_t W, const Geo *g,
                                                          const Slots *sl, const float *M, size_t xs) {
    __m512 s[4][6], y[4][4]; /* the columns' transforms; the tiles' values */
#pragma GCC unroll 6
    for (int b = 0; b < 6; b++) {
        __m512 m[6], t[4];
#pragma GCC unroll 6
        for (int a = 0; a < 6; a++) m[a] = _mm512_loadu_ps(M + (size_t)(6 * a + b) * xs);
        at6(t, m);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) s[r][b] = t[r];
    }
    const __m512 bias = _mm512_set1_ps(bc);
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        at6(y[r], s[r]);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) y[r][c] = _mm512_add_ps(y[r][c], bias);
    }
    /* pair: lane 2 m + e = y[e][slot's first lane + m] (of y[.][0], y[.][1], or y[.][2], y[.][3]);
     * quad: lane 4 t + c = the pairs' lanes 2 t + c (c < 2) or 2 t + c - 2 (of the second) */
    const __m512i quad_lo = _mm512_set_epi32(23, 22, 7, 6, 21, 20, 5, 4, 19, 18, 3, 2, 17, 16, 1, 0);
    const __m512i quad_hi = _mm512_set_epi32(31, 30, 15, 14, 29, 28, 13, 12, 27, 26, 11, 10, 25, 24, 9, 8);
    const __m512i m2 = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i e16 = _mm512_set_epi32(16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0, 16, 0);
    const size_t HW = H * W;
    for (size_t k = 0; k < sl->n; k++) {
        const __m512i pair = _mm512_or_si512(
            _mm512_and_si512(_mm512_add_epi32(m2, _mm512_set1_epi32((int)(k * g->nt))), _mm512_set1_epi32(15)), e16);
        const size_t sc = sl->sample[k] * Co + co, c0 = sl->c0[k], n = W - c0 < 4 * g->nt ? W - c0 : 4 * g->nt;
        const __mmask16 k0 = lane_mask16(n, 0), k1 = lane_mask16(n, 16);
        float *y0 = out + sc * HW + sl->row[k] * W + c0;
        Addend ad = {v != NULL, v ? v[sc] : 0.0f, add ? add + sc * HW + sl->row[k] * W + c0 : NULL};
        for (size_t r = 0; r < 4 && sl->row[k] + r < H; r++) {
            const __m512 p01 = _mm512_permutex2var_ps(y[r][0], pair, y[r][1]),
                         p23 = _mm512_permutex2var_ps(y[r][2], pair, y[r][3]);
            put(y0, _mm512_permutex2var_ps(p01, quad_lo, p23), k0, ad, r * W);
            if (k1) put(y0, _mm512_permutex2var_ps(p01, quad_hi, p23), k1, ad, r * W + 16);
        }
    }
}

void fm_conv_winograd_forward(float *out, const float *in, const float *w, const float *b, const float *v,
                              const float *add, float *scratch, size_t per, size_t B, const FmConvDims *d,
                              FmConvKernelCache *kc) {
    const size_t Ci = d->Ci, Co = d->Co, nth = (size_t)omp_get_max_threads(), nb = Co / WG_CO;
    const Geo g = geometry(d, B);
    /* chunks of at most chunk_vecs(d) vectors, a multiple of the threads in number, their sizes
     * differing by one vector at most */
    const size_t rmax = chunk_vecs(d), nc0 = (g.vecs + rmax - 1) / rmax, nchunks = (nc0 + nth - 1) / nth * nth;
    const size_t ld = 16 * ((g.vecs + nchunks - 1) / nchunks);
    const size_t vxs = plane_stride(Ci, ld), mxs = plane_stride(WG_CO, ld);
    const size_t nw = Co * Ci * 9;
    float *U = scratch + nth * per;
    int fresh = 1; /* whether U must be transformed from w */
    if (kc) { /* the cached kernel, while the weights are those it came from */
        if (!kc->w) {
            kc->w = fm_malloc_floats(nw + 36 * Ci * Co);
            kc->U = kc->w + nw;
        } else if (memcmp(kc->w, w, nw * sizeof(float)) == 0) {
            fresh = 0;
        }
        U = kc->U;
        if (fresh) memcpy(kc->w, w, nw * sizeof(float));
    }
    #pragma omp parallel if (nchunks > 1)
    {
    if (fresh) {
        #pragma omp for schedule(static)
        for (size_t q = 0; q < nb * Ci; q++) transform_weights(U, w, q / Ci, q % Ci, Ci, nb);
    }
    #pragma omp for schedule(static)
    for (size_t k = 0; k < nchunks; k++) {
        float *V = thread_buf(scratch, per, omp_get_thread_num()), *M = V + 36 * vxs;
        const size_t g0 = k * g.vecs / nchunks, g1 = (k + 1) * g.vecs / nchunks, T = 16 * (g1 - g0);
        Slots sl;
        for (size_t gv = g0; gv < g1; gv++) {
            slots_of(&sl, &g, gv);
            input_vec(V + 16 * (gv - g0), ld, vxs, in, Ci, d->H, d->W, &g, &sl);
        }
        for (size_t cb = 0; cb < nb; cb++) {
            for (size_t xi = 0; xi < 36; xi++)
                gemm_chunk(M + xi * mxs, ld, V + xi * vxs, ld, U + (xi * nb + cb) * Ci * WG_CO, Ci, T);
            for (size_t gv = g0; gv < g1; gv++) {
                slots_of(&sl, &g, gv);
                for (size_t c = 0; c < WG_CO; c++)
                    output_vec(out, v, add, b ? b[cb * WG_CO + c] : 0.0f, cb * WG_CO + c, Co, d->H, d->W, &g, &sl,
                               M + c * ld + 16 * (gv - g0), mxs);
            }
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
