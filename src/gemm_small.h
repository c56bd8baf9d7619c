/* gemm_small.h - float GEMMs in AVX-512 register tiles (internal to src/; the linear layers and
 * the im2col convolutions call them before OpenBLAS). */
#ifndef FM_GEMM_SMALL_H
#define FM_GEMM_SMALL_H

#include <stddef.h>

/* Below this many multiply-adds a GEMM runs on the calling thread alone (fm_gemm_small_begin). */
#define FM_GEMM_SMALL_MACS ((size_t)1 << 22)
/* Below this many (and an inner dimension up to 512), a GEMM runs on the tiles in one pass over
 * its inner dimension: the toy MLPs' (256 x 256 x 256 is 16.8 M); above, blocked. */
#define FM_GEMM_TILES_MACS ((size_t)1 << 25)

/* 1 if the tiles are in use: AVX-512F, and FMTRAIN_SMALL_GEMM is not 0. */
int fm_gemm_small_available(void);

/* Row-major C (M, N) += op(A) op(B), op(X) = X or X^T as the flags say (A is (M, K), or (K, M)
 * with transA; B is (K, N), or (N, K) with transB). Returns 1 if done here, 0 if the caller must
 * use BLAS: no AVX-512, or a product beyond the one-pass tiles' size (FM_GEMM_TILES_MACS, K > 512,
 * or B transposed with K N > 16384) with fewer than 8 rows or 32 columns. The one-pass tiles pack
 * B transposed, up to 64 kB; the blocked GEMM packs B's blocks (512 kB); both in buffers of the
 * calling thread's, allocated at its first use. Above FM_GEMM_SMALL_MACS the work is spread over
 * the OpenMP threads, by blocks of C: the values do not depend on their number. */
int fm_sgemm_small(int transA, int transB, size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
                   size_t ldb, float *C, size_t ldc);

#endif
