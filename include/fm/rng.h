/* rng.h - counter-based random streams (Philox4x32-10, Debian's Random123).
 *
 * Every random draw in fmtrain comes from a stream keyed by
 *   (seed, step, global sample index, purpose)
 * so a draw depends on nothing else: not on the number of ranks, not on the
 * order in which ranks or threads run, not on earlier draws of other samples.
 * A resumed run therefore draws exactly what an unbroken run would have drawn,
 * and no generator state needs saving beyond (seed, step).
 *
 * Layout of one Philox call:   key = { seed & 0xffffffff, seed >> 32 }
 *   ctr = { block, purpose, index, step }   (block counts 4-word blocks within the stream)
 * index and step must be < 2^32 (checked).
 */
#ifndef FM_RNG_H
#define FM_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Purposes: one independent stream family each. Never renumber (it changes results). */
enum {
    FM_RNG_DATA = 1,    /* which data item / the toy data sample itself */
    FM_RNG_TIME = 2,    /* the training time t */
    FM_RNG_NOISE = 3,   /* the path noise eps */
    FM_RNG_INIT = 4,    /* parameter initialisation (index = tensor number) */
    FM_RNG_SAMPLE = 5,  /* the sampler's initial noise X_0 (index = sample number) */
    FM_RNG_HELDOUT = 6, /* held-out toy data for evaluation (index = item number) */
    FM_RNG_SDE = 7,     /* Brownian increments of SDE samplers */
    FM_RNG_PROBE = 8,   /* Hutchinson probes */
    FM_RNG_METRIC = 9,  /* random directions of the sliced Wasserstein distance */
    FM_RNG_PERM = 10,   /* the per-epoch permutation of a data set's items */
    FM_RNG_AUGMENT = 11 /* per-sample preprocessing: dequantization noise, flips */
};

typedef struct {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4]; /* the current output block */
    int pos;         /* next unused word of buf (4 = empty) */
    int has_spare;   /* Box-Muller produces normals in pairs */
    double spare;
} FmStream;

/* The raw generator: out = Philox4x32-10(ctr, key). */
void fm_philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]);

void fm_stream_init(FmStream *s, uint64_t seed, uint64_t step, uint64_t index, uint32_t purpose);
uint32_t fm_stream_u32(FmStream *s);
/* Uniform in the open interval (0, 1), 53-bit resolution (two words). */
double fm_stream_uniform(FmStream *s);
/* Standard normal (Box-Muller on two uniforms; both values of a pair are used). */
double fm_stream_normal(FmStream *s);
/* u[i nu + j] = the j-th fm_stream_uniform of a fresh stream (seed, step, index0 + i, purpose),
 * for i < n and j < nu: the same values, computed for many streams at once (vectorised). */
void fm_stream_uniforms(double *u, size_t nu, uint64_t seed, uint64_t step, uint64_t index0, size_t n,
                        uint32_t purpose);
/* Box-Muller over n pairs of uniforms u = (u1, u2, u1, u2, ...) on (0, 1), as fm_stream_normal
 * turns them into z = (r cos a, r sin a, ...) in that order, with a vectorised log and sincos
 * (src/vec.h) instead of libm's: within a few 1e-16 of fm_stream_normal's doubles, so as floats
 * equal to them or one float ulp apart. Writes 2n floats. */
void fm_box_muller_f(float *z, const double *u, size_t n);
/* Rademacher +-1. */
double fm_stream_rademacher(FmStream *s);

/* The permutation of epoch `epoch` of [0, n): a keyed bijection (a 4-round Feistel network on
 * the smallest even-bit domain >= n, keyed by (seed, epoch), with cycle-walking back into
 * [0, n)). O(1) memory and time per item: any rank computes any position of any epoch. */
uint64_t fm_permute(uint64_t pos, uint64_t n, uint64_t seed, uint64_t epoch);

#endif
