/* toy.h - toy data sets drawn from the keyed random streams (SPEC.md "Toy data").
 *
 * A data item is a pure function of its stream: fm_toy_draw(z, kind, s) with s keyed by
 * (seed, step, global index, FM_RNG_DATA) for training, or (seed, 0, item, FM_RNG_HELDOUT)
 * for held-out evaluation data. So a seed fixes the data exactly.
 */
#ifndef FM_TOY_H
#define FM_TOY_H

#include <stddef.h>
#include <stdint.h>

#include "fm/rng.h"

typedef enum {
    FM_TOY_TWOPOINT,     /* 1-D: -2 or +2 with probability 1/2 each (the seeds' example) */
    FM_TOY_8GAUSSIANS,   /* 2-D: 8 Gaussians on a circle */
    FM_TOY_MOONS,        /* 2-D: two interleaved half circles */
    FM_TOY_CHECKERBOARD, /* 2-D: uniform on the black squares of a 4x4 board */
    FM_TOY_SPIRALS,      /* 2-D: two interleaved spirals */
    FM_TOY_RINGS,        /* 2-D: concentric rings */
    FM_TOY_COUNT
} FmToyKind;

/* 0 or -1 (fm_err_set naming the unknown set and listing the known ones). */
int fm_toy_parse(FmToyKind *k, const char *name);
const char *fm_toy_name(FmToyKind k);
int fm_toy_dim(FmToyKind k);
/* One item into z[0 .. dim-1]. */
void fm_toy_draw(float *z, FmToyKind k, FmStream *s);
/* Items g0 .. g0 + n - 1 into z (n x dim), item i drawn by fm_toy_draw on the fresh stream
 * (seed, step, g0 + i, purpose), the same values; in one vectorised pass per chunk. */
void fm_toy_draw_items(float *z, FmToyKind k, uint64_t seed, uint64_t step, uint64_t g0, size_t n, uint32_t purpose);
/* n held-out items (index 0..n-1, purpose FM_RNG_HELDOUT) into z (n x dim). */
void fm_toy_heldout(float *z, FmToyKind k, uint64_t seed, size_t n);

/* Data sets that are Gaussian mixtures (1/K) sum_k N(c_k, sigma^2 I) with a known density:
 * 8gaussians (sigma 0.2) and twopoint (sigma 0: two atoms). Writes up to `max` centres (K, dim).
 * Returns 0, or -1 (fm_err_set) for a set whose density has no closed form. */
int fm_toy_mixture(FmToyKind k, float *centres, size_t max, size_t *K, double *sigma);

#endif
