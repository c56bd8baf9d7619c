/* metrics.h - sample-quality metrics between two point sets. */
#ifndef FM_METRICS_H
#define FM_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Energy distance  2 E|X - Y| - E|X - X'| - E|Y - Y'|  (Szekely) of x (n, D) and y (m, D),
 * with unbiased U-statistics (pairs i != j within a set), so values computed with different
 * sample sizes compare; it estimates 0 for equal distributions (and can dip below it).
 * O((n + m)^2 D), OpenMP-parallel. */
double fm_energy_distance(const float *x, size_t n, const float *y, size_t m, size_t D);

/* Sliced Wasserstein-2 distance: sqrt of the mean over `nproj` random unit directions
 * (keyed by (seed, j, 0, FM_RNG_METRIC)) of W2^2 between the 1-D projections, each computed
 * from sorted projections compared at K = min(n, m) matching quantile positions. */
double fm_sliced_w2(const float *x, size_t n, const float *y, size_t m, size_t D, size_t nproj, uint64_t seed);

#endif
