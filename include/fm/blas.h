/* blas.h - OpenBLAS kernel selection (see blas.c). */
#ifndef FM_BLAS_H
#define FM_BLAS_H

#include <stddef.h>
#include <stdio.h>

/* When OPENBLAS_CORETYPE is unset and OpenBLAS fell back to kernels older than the CPU
 * supports, sets it (SkylakeX for AVX-512, Haswell for AVX2) and re-executes the program with
 * the same argv. Call first thing in main, before MPI_Init. Returns if nothing is to be done. */
void fm_blas_fix_core(char **argv);

/* "OpenBLAS <core> kernels", noting when fm_blas_fix_core chose them. */
void fm_blas_describe(char *buf, size_t size);

#endif
