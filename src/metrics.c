/* metrics.c - energy distance. */
#include "fm/metrics.h"

#include <math.h>

static double mean_dist(const float *a, size_t n, const float *b, size_t m, size_t D) {
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
    return s / ((double)n * (double)m);
}

double fm_energy_distance(const float *x, size_t n, const float *y, size_t m, size_t D) {
    return 2 * mean_dist(x, n, y, m, D) - mean_dist(x, n, x, n, D) - mean_dist(y, m, y, m, D);
}
