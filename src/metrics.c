/* metrics.c - energy distance. */
#include "fm/metrics.h"

#include <math.h>
#include <stdlib.h>

#include "fm/common.h"
#include "fm/rng.h"

/* Mean distance between the rows of a (n, D) and b (m, D); with same = 1 (a == b) the
 * mean over pairs i != j (the unbiased U-statistic). */
static double mean_dist(const float *a, size_t n, const float *b, size_t m, size_t D, int same) {
    double s = 0;
    #pragma omp parallel for reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) {
        double row = 0;
        for (size_t j = 0; j < m; j++) {
            double d2 = 0;
            for (size_t k = 0; k < D; k++) {
                double d = (double)a[i * D + k] - b[j * D + k];
                d2 += d * d;
            }
            row += sqrt(d2);
        }
        s += row;
    }
    double pairs = same ? (double)n * (double)(n - 1) : (double)n * (double)m;
    return pairs > 0 ? s / pairs : 0;
}

double fm_energy_distance(const float *x, size_t n, const float *y, size_t m, size_t D) {
    return 2 * mean_dist(x, n, y, m, D, 0) - mean_dist(x, n, x, n, D, 1) - mean_dist(y, m, y, m, D, 1);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double fm_sliced_w2(const float *x, size_t n, const float *y, size_t m, size_t D, size_t nproj, uint64_t seed) {
    double *px = fm_calloc(n, sizeof *px), *py = fm_calloc(m, sizeof *py), *dir = fm_calloc(D, sizeof *dir);
    const size_t K = n < m ? n : m;
    double total = 0;
    for (size_t j = 0; j < nproj; j++) {
        FmStream s;
        fm_stream_init(&s, seed, j, 0, FM_RNG_METRIC);
        double norm = 0;
        for (size_t d = 0; d < D; d++) dir[d] = fm_stream_normal(&s), norm += dir[d] * dir[d];
        norm = sqrt(norm);
        for (size_t d = 0; d < D; d++) dir[d] /= norm;
        for (size_t i = 0; i < n; i++) {
            double v = 0;
            for (size_t d = 0; d < D; d++) v += dir[d] * x[i * D + d];
            px[i] = v;
        }
        for (size_t i = 0; i < m; i++) {
            double v = 0;
            for (size_t d = 0; d < D; d++) v += dir[d] * y[i * D + d];
            py[i] = v;
        }
        qsort(px, n, sizeof *px, cmp_double);
        qsort(py, m, sizeof *py, cmp_double);
        double w = 0;
        for (size_t k = 0; k < K; k++) {
            /* the (k + 1/2)/K quantile of each set */
            double a = px[(size_t)(((double)k + 0.5) * (double)n / (double)K)];
            double b = py[(size_t)(((double)k + 0.5) * (double)m / (double)K)];
            w += (a - b) * (a - b);
        }
        total += w / (double)K;
    }
    free(px), free(py), free(dir);
    return sqrt(total / (double)(nproj ? nproj : 1));
}
