/* layers.c - the layer template (layers_tmpl.h) instantiated for float and double. */
#include "fm/layers.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "gemm_small.h"
#include "vec.h"

/* OpenBLAS splits even small GEMMs over the threads, which costs more than it gains below
 * about 4 M multiply-adds (256 x 64 x 64 runs 12 % faster on one thread of two here): those
 * run on the calling thread alone (the thread count is restored right after). */
int fm_gemm_small_begin(size_t M, size_t N, size_t K) {
    const int nt = omp_get_max_threads();
    if (nt == 1 || M * N * K >= FM_GEMM_SMALL_MACS || omp_in_parallel()) return 0;
    omp_set_num_threads(1);
    return nt;
}

void fm_gemm_small_end(int nt) {
    if (nt) omp_set_num_threads(nt);
}

/* The layers' float GEMMs (row-major, C += op(A) op(B)): the small ones on the AVX-512 tiles of
 * gemm_small.c, where the CPU has them; the rest, and any other form, on OpenBLAS. */
static void sgemm_layers(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N,
                         int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
                         int ldc) {
    if (order == CblasRowMajor && alpha == 1 && beta == 1 &&
        fm_sgemm_small(ta == CblasTrans, tb == CblasTrans, (size_t)M, (size_t)N, (size_t)K, A, (size_t)lda, B,
                       (size_t)ldb, C, (size_t)ldc))
        return;
    cblas_sgemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#define T float
#define S f
#define GEMM sgemm_layers
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
