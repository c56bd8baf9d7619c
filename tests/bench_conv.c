/* bench_conv.c - the float 3 x 3 convolution's forward pass at the U-Net's shapes (batch 32):
 * the direct tiles against Winograd's F(4 x 4, 3 x 3), in alternating rounds (`make bench-conv`
 * runs it at 1 and 2 threads). GFLOP/s count the definition's 2 Co Ci 9 H W per sample for both,
 * so Winograd's figure is the rate the direct kernels would need to match it. Speed is measured
 * here, never asserted. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "fm/common.h"
#include "fm/conv.h"

int main(void) {
    if (!fm_conv_winograd_available()) {
        printf("SKIP bench_conv: Winograd's kernels need AVX-512F (or FMTRAIN_CONV_WINOGRAD is 0)\n");
        return 0;
    }
    /* conv1/conv2 of the 28x28 c32 U-Net's levels, and the decoder's wider inputs */
    const size_t shapes[][4] = {{32, 28, 28, 32}, {64, 28, 28, 32}, {32, 14, 14, 64}, {64, 14, 14, 64},
                                {128, 14, 14, 64}, {64, 7, 7, 64},  {128, 7, 7, 64}};
    const size_t B = 32, rounds = 6, reps = 5;
    printf("3x3 convolution forward, batch %zu, %d thread(s): best of %zu alternating rounds of %zu calls\n", B,
           omp_get_max_threads(), rounds, reps);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const size_t Ci = shapes[s][0], H = shapes[s][1], W = shapes[s][2], Co = shapes[s][3];
        FmConvDims d;
        if (fm_conv_dims(&d, Ci, H, W, Co, 3, 1, 1)) return 1;
        const size_t nin = B * Ci * H * W, nout = B * Co * H * W, nw = Co * Ci * 9;
        float *in = fm_malloc_floats(nin), *w = fm_malloc_floats(nw), *b = fm_malloc_floats(Co),
              *out = fm_malloc_floats(nout), *sc = fm_malloc_floats(fm_conv_scratch(&d, (size_t)omp_get_max_threads()));
        for (size_t k = 0; k < nin; k++) in[k] = (float)((k * 2654435761u) % 1000) / 500.0f - 1.0f;
        for (size_t k = 0; k < nw; k++) w[k] = (float)((k * 40503u) % 1000) / 5000.0f - 0.1f;
        for (size_t k = 0; k < Co; k++) b[k] = 0.01f * (float)k;
        double best[2] = {1e30, 1e30};
        for (size_t r = 0; r < 2 * rounds; r++) {
            const int wino = (int)(r % 2);
            fm_conv_winograd_enable(wino);
            const double t0 = omp_get_wtime();
            for (size_t k = 0; k < reps; k++) fm_conv2d_forward_f(out, in, w, b, sc, B, &d, 0);
            const double t = (omp_get_wtime() - t0) / (double)reps;
            if (t < best[wino]) best[wino] = t;
        }
        fm_conv_winograd_enable(1);
        const double gf = 2.0 * (double)(B * Co * Ci * 9 * H * W) / 1e9;
        printf("  %3zu -> %-3zu %2zux%-2zu  direct %6.1f GFLOP/s  Winograd %6.1f  (%.2fx)\n", Ci, Co, H, W, gf / best[0],
               gf / best[1], best[0] / best[1]);
        free(in), free(w), free(b), free(out), free(sc);
    }
    return 0;
}
