/* gemm_small.h - small float GEMMs in AVX-512 register tiles (internal to src/; the linear
 * layers call them before OpenBLAS). */
#ifndef FM_GEMM_SMALL_H
#define FM_GEMM_SMALL_H

#include <stddef.h>

/* Below this many multiply-adds a GEMM runs on the calling thread alone (fm_gemm_small_begin). */
#define FM_GEMM_SMALL_MACS ((size_t)1 << 22)
/* Below this many (and an inner dimension up to 512), the layers' GEMMs run on the tiles of
 * gemm_small.c where the CPU has AVX-512: the toy MLPs' (256 x 256 x 256 is 16.8 M). */
#define FM_GEMM_TILES_MACS ((size_t)1 << 25)

/* 1 if the tiles are in use: AVX-512F, and FMTRAIN_SMALL_GEMM is not 0. */
int fm_gemm_small_available(void);

/* Row-major C (M, N) += op(A) op(B), op(X) = X or X^T as the flags say (A is (M, K), or (K, M)
 * with transA; B is (K, N), or (N, K) with transB). Returns 1 if done here, 0 if the caller must
 * use BLAS: no AVX-512, M N K >= FM_GEMM_TILES_MACS, K > 512, or B transposed with K N > 16384
 * (it is packed, up to 64 kB, in a buffer of the calling thread's, allocated at its first use and
 * when a larger layer needs more). Above FM_GEMM_SMALL_MACS the tiles are spread over the OpenMP
 * threads (the same values whatever their number). */
int fm_sgemm_small(int transA, int transB, size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B,
                   size_t ldb, float *C, size_t ldc);

#endif
