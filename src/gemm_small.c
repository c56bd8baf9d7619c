/* gemm_small.c - the linear layers' float GEMMs in AVX-512 register tiles.
 *
 * At the small toy MLP's shapes (256 x 64 x 64, about 1 M multiply-adds) OpenBLAS spends much of
 * its time packing both operands and reaches 40 % of the FMA peak (perf: 60 % of the step in its
 * kernel, 8 % in packing). Here a tile of 8 rows x 32 columns of C lives in 16 zmm registers for
 * the whole inner dimension: each step loads one row of B (2 vectors, the columns past N masked
 * off) and broadcasts 8 values of A. A is read in place whichever its layout (the broadcasts take
 * any stride), and so is B when its rows are contiguous; only B transposed (the forward pass's
 * weight, x W^T) is packed, once per call. The inner dimension is summed in order, k = 0, 1, ...,
 * so the result does not depend on the thread or the rank that computes it.
 *
 * Larger products (the image MLP's, 100 M multiply-adds and more) run on the same tiles, blocked
 * so that B's strip stays in L1 and A's rows in L2 (blocked() below): 1.4-1.9x the rate of the
 * Haswell kernels OpenBLAS runs where OPENBLAS_CORETYPE asks for them, which use half an AVX-512
 * core's width. */
#include "gemm_small.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "fm/common.h"
#include "vec.h"

#define MR 8
#define NR 32
#define TILES_K_MAX 512 /* a tile's row panel of B (K x 32 floats) stays within 64 kB */
#define PACK_MAX 16384  /* B transposed is packed up to this many floats (64 kB); OpenBLAS beyond */

/* the tiles are built where GCC's AVX-512 intrinsics are, and left out of sanitizer builds */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define GEMM_TILES 1
#endif

int fm_gemm_small_available(void) {
#ifdef GEMM_TILES
    static int have_avx512 = -1;
    if (have_avx512 < 0) {
        const char *e = getenv("FMTRAIN_SMALL_GEMM"); /* =0: OpenBLAS for every GEMM (comparisons) */
        __builtin_cpu_init();
        have_avx512 = !(e && e[0] == '0' && !e[1]) && __builtin_cpu_supports("avx512f");
    }
    return have_avx512;
#else
    return 0;
#endif
}

#ifdef GEMM_TILES
#include <immintrin.h>

/* C[r][0 .. nr) += sum over k < K of A[r sam + k sak] B[k ldb + (0 .. nr)] for r < mr (mr a
 * constant after inlining, nr <= 32) */
__attribute__((target("avx512f"), always_inline)) static inline void tile(size_t mr, size_t nr, size_t K,
                                                                          const float *A, size_t sam, size_t sak,
                                                                          const float *B, size_t ldb, float *C,
                                                                          size_t ldc) {
    const __mmask16 m0 = lane_mask16(nr, 0), m1 = lane_mask16(nr, 16);
    __m512 c[MR][2];
#pragma GCC unroll 8
    for (size_t r = 0; r < mr; r++) c[r][0] = _mm512_setzero_ps(), c[r][1] = _mm512_setzero_ps();
    for (size_t k = 0; k < K; k++) {
        const float *b = B + k * ldb, *a = A + k * sak;
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);
#pragma GCC unroll 8
        for (size_t r = 0; r < mr; r++) {
            const __m512 av = _mm512_set1_ps(a[r * sam]);
            c[r][0] = _mm512_fmadd_ps(av, b0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(av, b1, c[r][1]);
        }
    }
#pragma GCC unroll 8
    for (size_t r = 0; r < mr; r++) {
        float *cr = C + r * ldc;
        _mm512_mask_storeu_ps(cr, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), c[r][0]));
        _mm512_mask_storeu_ps(cr + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), c[r][1]));
    }
}

/* one tile per row count, so that each keeps its accumulators in registers */
#define TILE_MR(n)                                                                                                   \
    __attribute__((target("avx512f"))) static void tile_##n(size_t nr, size_t K, const float *A, size_t sam,         \
                                                            size_t sak, const float *B, size_t ldb, float *C,         \
                                                            size_t ldc) {                                             \
        tile(n, nr, K, A, sam, sak, B, ldb, C, ldc);                                                                  \
    }
TILE_MR(1)
TILE_MR(2)
TILE_MR(3)
TILE_MR(4)
TILE_MR(5)
TILE_MR(6)
TILE_MR(7)
TILE_MR(8)
typedef void (*TileFn)(size_t, size_t, const float *, size_t, size_t, const float *, size_t, float *, size_t);
static const TileFn tiles[MR + 1] = {NULL, tile_1, tile_2, tile_3, tile_4, tile_5, tile_6, tile_7, tile_8};

/* The larger GEMMs, blocked as in Goto's scheme: for each block of NC columns and KC steps of the
 * inner dimension, B's block is packed into strips of KC x 32 (one strip stays in L1 while the
 * tiles of a block of MC rows run on it, their rows of A read in place from L2). A tile adds its KC
 * products to C, so an element of C gets its sums block after block of the inner dimension, in
 * order, whichever thread computes it. */
#define KC 256
#define NC 512
#define MC 64
#define PREFETCH_AHEAD 64 /* floats: four 16 x 16 blocks */

/* r[j] = column j of the 16 x 16 matrix whose rows are r[0 .. 15] */
__attribute__((target("avx512f"), always_inline)) static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) { /* pairs of rows interleaved within each 128-bit lane */
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int b = 0; b < 4; b++) { /* r[4b + c], lane L: column 4L + c of rows 4b .. 4b + 3 */
        r[4 * b] = _mm512_shuffle_ps(t[4 * b], t[4 * b + 2], 0x44);
        r[4 * b + 1] = _mm512_shuffle_ps(t[4 * b], t[4 * b + 2], 0xee);
        r[4 * b + 2] = _mm512_shuffle_ps(t[4 * b + 1], t[4 * b + 3], 0x44);
        r[4 * b + 3] = _mm512_shuffle_ps(t[4 * b + 1], t[4 * b + 3], 0xee);
    }
    for (int c = 0; c < 4; c++) { /* the lanes gathered: lanes 0, 2 and 1, 3 of each group of rows */
        t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
        t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
        t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
        r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xdd);
    }
}

/* the strips of columns n0 .. n0 + nc of B (K, N) at k = pc .. pc + kc: (k, j) at bp[k NR + j],
 * columns past the end zero */
__attribute__((target("avx512f"))) static void pack_b(float *bp, const float *B, size_t sbk, size_t sbn, size_t n0,
                                                       size_t nc, size_t pc, size_t kc) {
    if (sbn == 1) { /* rows of B contiguous: copied, each row's nc values in one sweep (the
                     * prefetchers follow it; strips first would take 128 bytes a row at a time) */
        for (size_t k = 0; k < kc; k++) {
            const float *b = B + (pc + k) * sbk + n0;
            for (size_t s = 0; s < nc; s += NR) {
                const size_t nr = nc - s < NR ? nc - s : NR;
                float *d = bp + s / NR * KC * NR + k * NR;
                _mm512_store_ps(d, _mm512_maskz_loadu_ps(lane_mask16(nr, 0), b + s));
                _mm512_store_ps(d + 16, _mm512_maskz_loadu_ps(lane_mask16(nr, 16), b + s + 16));
            }
        }
        return;
    }
    /* B transposed, its columns contiguous: 16 x 16 blocks transposed in registers, the rows'
     * next blocks prefetched (each row is a short stream of kc values, too short for the
     * hardware prefetchers to catch) */
    for (size_t s = 0; s < nc; s += NR, bp += KC * NR) {
        const size_t nr = nc - s < NR ? nc - s : NR;
        for (size_t h = 0; h < NR; h += 16)
            for (size_t k0 = 0; k0 < kc; k0 += 16) {
                const size_t kk = kc - k0 < 16 ? kc - k0 : 16;
                const __mmask16 mk = lane_mask16(kk, 0);
                __m512 r[16];
                for (size_t j = 0; j < 16; j++) {
                    if (h + j >= nr) {
                        r[j] = _mm512_setzero_ps();
                        continue;
                    }
                    const float *b = B + (n0 + s + h + j) * sbn + pc + k0;
                    if (k0 + PREFETCH_AHEAD < kc) _mm_prefetch((const char *)(b + PREFETCH_AHEAD), _MM_HINT_T0);
                    r[j] = _mm512_maskz_loadu_ps(mk, b);
                }
                transpose16(r);
                for (size_t k = 0; k < kk; k++) _mm512_store_ps(bp + (k0 + k) * NR + h, r[k]);
            }
    }
}

/* C rows m_lo .. m_hi, columns n_lo .. n_hi, with this thread's packing buffer */
static void blocked(size_t m_lo, size_t m_hi, size_t n_lo, size_t n_hi, size_t K, const float *A, size_t sam,
                    size_t sak, const float *B, size_t sbk, size_t sbn, float *C, size_t ldc) {
    static _Thread_local float *bp;
    if (!bp) bp = fm_malloc_floats(NC * KC); /* once per thread */
    for (size_t jc = n_lo; jc < n_hi; jc += NC) {
        const size_t nc = n_hi - jc < NC ? n_hi - jc : NC;
        for (size_t pc = 0; pc < K; pc += KC) {
            const size_t kc = K - pc < KC ? K - pc : KC;
            pack_b(bp, B, sbk, sbn, jc, nc, pc, kc);
            for (size_t ic = m_lo; ic < m_hi; ic += MC)
                for (size_t s = 0; s < nc; s += NR)
                    for (size_t m = ic; m < m_hi && m < ic + MC; m += MR)
                        tiles[m_hi - m < MR ? m_hi - m : MR](nc - s < NR ? nc - s : NR, kc, A + m * sam + pc * sak,
                                                             sam, sak, bp + s / NR * KC * NR, NR,
                                                             C + m * ldc + jc + s, ldc);
        }
    }
}

int fm_sgemm_small(int transA, int transB, size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
                   size_t ldb, float *C, size_t ldc) {
    if (!fm_gemm_small_available()) return 0;
    /* A (M, K): element (m, k) at m sam + k sak; B (K, N): (k, n) at k sbk + n sbn */
    const size_t sam = transA ? 1 : lda, sak = transA ? lda : 1, sbk = transB ? 1 : ldb, sbn = transB ? ldb : 1;
    const int par = M * N * K >= FM_GEMM_SMALL_MACS && !omp_in_parallel();
    if (M * N * K >= FM_GEMM_TILES_MACS || K > TILES_K_MAX || (transB && K * N > PACK_MAX)) {
        if (M < MR || N < NR) return 0; /* products of a few rows or columns: OpenBLAS */
        if (!par) {
            blocked(0, M, 0, N, K, A, sam, sak, B, sbk, sbn, C, ldc);
            return 1;
        }
        /* each thread a block of C: of whole strips of columns, or of rows where the columns are
         * too few to share */
        const size_t strips = (N + NR - 1) / NR, panels = (M + MR - 1) / MR;
        #pragma omp parallel
        {
            const size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
            const int by_cols = strips >= 2 * nt || strips >= panels;
            const size_t n = by_cols ? strips : panels, step = by_cols ? NR : MR, lo = n * t / nt * step,
                         hi = n * (t + 1) / nt * step;
            if (by_cols && lo < N) blocked(0, M, lo, hi < N ? hi : N, K, A, sam, sak, B, sbk, sbn, C, ldc);
            if (!by_cols && lo < M) blocked(lo, hi < M ? hi : M, 0, N, K, A, sam, sak, B, sbk, sbn, C, ldc);
        }
        return 1;
    }
    if (transB) { /* B is (N, K): its transpose packed, (K, N) with rows of N, in this thread's buffer */
        static _Thread_local float *pack;
        static _Thread_local size_t cap;
        if (cap < K * N) { /* grows to the largest layer once, then is reused */
            free(pack);
            cap = K * N;
            pack = fm_malloc_floats(cap);
        }
        for (size_t n = 0; n < N; n++)
            for (size_t k = 0; k < K; k++) pack[k * N + n] = B[n * ldb + k];
        B = pack, ldb = N;
    }
    const size_t nn = (N + NR - 1) / NR, nm = (M + MR - 1) / MR;
    /* tiles of C are independent: spread over the threads above the small size, each computed as
     * on one thread */
    FM_PARALLEL_FOR_IF(par, for (size_t q = 0; q < nn * nm; q++), {
        const size_t n0 = q / nm * NR, m0 = q % nm * MR;
        const size_t nr = N - n0 < NR ? N - n0 : NR, mr = M - m0 < MR ? M - m0 : MR;
        tiles[mr](nr, K, A + m0 * sam, sam, sak, B + n0, ldb, C + m0 * ldc + n0, ldc);
    });
    return 1;
}
#else
int fm_sgemm_small(int transA, int transB, size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
                   size_t ldb, float *C, size_t ldc) {
    (void)transA, (void)transB, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb, (void)C, (void)ldc;
    return 0;
}
#endif
