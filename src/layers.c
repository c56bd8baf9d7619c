/* layers.c - the layer template (layers_tmpl.h) instantiated for float and double. */
#include "fm/layers.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "vec.h"

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
