/* layers.c - the layer template (layers_tmpl.h) instantiated for float and double. */
#include "fm/layers.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "vec.h"

/* OpenBLAS splits even small GEMMs over the threads, which costs more than it gains below
 * about 4 M multiply-adds (256 x 64 x 64 runs 12 % faster on one thread of two here): those
 * run on the calling thread alone (the thread count is restored right after). */
#define FM_SMALL_GEMM ((size_t)1 << 22)

int fm_gemm_small_begin(size_t M, size_t N, size_t K) {
    const int nt = omp_get_max_threads();
    if (nt == 1 || M * N * K >= FM_SMALL_GEMM || omp_in_parallel()) return 0;
    omp_set_num_threads(1);
    return nt;
}

void fm_gemm_small_end(int nt) {
    if (nt) omp_set_num_threads(nt);
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
