/* conv_direct.c - direct 3 x 3 "same" convolutions in float, with AVX-512 register tiles.
 *
 * im2col writes nine shifted copies of the input and the GEMM then packs them once more; here
 * the input is copied once, into a padded layout in which every kernel tap is a constant
 * offset, and register tiles of 8 output channels x 48 positions accumulate the 9 Ci products
 * straight from it.
 *
 * The padded layout of a group of g samples, per channel: rows of Wp = W + 1 values (a zero,
 * then the image row; the zero doubles as the previous row's right border), a zero row before
 * each sample (doubling as the previous sample's bottom border) and one after the last. The
 * output is computed at every position q = (s (H + 1) + h) Wp + w of the same grid (w <= W,
 * h <= H): tap (ki, kj) of position q reads the padded input at q + ki Wp + kj, so that one
 * tile is 9 Ci steps of 3 vector loads and 24 FMAs with broadcast weights. Positions with
 * w = W or h = H are not pixels and are dropped when the tile is copied out: (H + 1)(W + 1) / HW
 * more arithmetic (7 % at 28 x 28, 31 % at 7 x 7) in exchange for no copies.
 *
 * The input gradient of a "same" convolution is the same convolution of dout with the kernel
 * transposed and flipped, so one kernel serves forward and backward. */
#include "conv_direct.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TILE_CO 8
#define TILE_Q 48
#define DIRECT_MIN_Q 1024 /* positions per group: enough for a few tiles per weight block */

static int direct_on = -1; /* -1: not yet decided (by the CPU) */

int fm_conv_direct_enable(int on) {
    const int was = fm_conv_direct_available();
    direct_on = on && fm_conv_direct_cpu();
    return was;
}

int fm_conv_direct_cpu(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

int fm_conv_direct_available(void) {
    if (direct_on < 0) { /* FMTRAIN_CONV_DIRECT=0 keeps im2col + GEMM (for comparisons) */
        const char *e = getenv("FMTRAIN_CONV_DIRECT");
        direct_on = fm_conv_direct_cpu() && !(e && strcmp(e, "0") == 0);
    }
    return direct_on;
}

static int shape_ok(const FmConvDims *d) { return d->K == 3 && d->stride == 1 && d->pad == 1; }

int fm_conv_direct_forward_ok(const FmConvDims *d) {
    return shape_ok(d) && d->Co % TILE_CO == 0 && fm_conv_direct_available();
}

int fm_conv_direct_backward_ok(const FmConvDims *d) {
    return shape_ok(d) && d->Ci % TILE_CO == 0 && fm_conv_direct_available();
}

/* samples per group, and the sizes of one group's buffers */
static size_t group(const FmConvDims *d) {
    const size_t per = (d->H + 1) * (d->W + 1);
    return (DIRECT_MIN_Q + per - 1) / per;
}
static size_t grid_q(const FmConvDims *d, size_t g) { /* output positions, rounded up to whole tiles */
    return (g * (d->H + 1) * (d->W + 1) + TILE_Q - 1) / TILE_Q * TILE_Q;
}
static size_t plane(const FmConvDims *d, size_t g) { /* padded input per channel: the tiles read up to q + 2 Wp + 2 */
    return (grid_q(d, g) + 2 * (d->W + 1) + 2 + 15) / 16 * 16;
}
static size_t cmax(const FmConvDims *d) { return d->Ci > d->Co ? d->Ci : d->Co; }

size_t fm_conv_direct_per_thread(const FmConvDims *d) {
    if (!shape_ok(d)) return 0;
    const size_t g = group(d);
    return cmax(d) * (plane(d, g) + grid_q(d, g)) + 16; /* padded input, output grid, alignment slack */
}

size_t fm_conv_direct_shared(const FmConvDims *d) { return shape_ok(d) ? d->Co * d->Ci * 9 : 0; }

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* O[c][q .. q + 48) for c < 8 (row stride ldo) = sum over ci < Ci and the 9 taps of
 * wp[(ci 9 + t) 8 + c] P[ci PS + q + off[t]] */
__attribute__((target("avx512f"))) static void tile(float *O, size_t ldo, const float *P, size_t PS, const float *wp,
                                                    size_t Ci, size_t Wp, size_t q) {
    __m512 a[TILE_CO][3];
#pragma GCC unroll 8
    for (int c = 0; c < TILE_CO; c++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++) a[c][v] = _mm512_setzero_ps();
    const size_t off[9] = {0, 1, 2, Wp, Wp + 1, Wp + 2, 2 * Wp, 2 * Wp + 1, 2 * Wp + 2};
    for (size_t ci = 0; ci < Ci; ci++) {
        const float *p = P + ci * PS + q;
#pragma GCC unroll 9
        for (int t = 0; t < 9; t++) {
            const float *pp = p + off[t];
            const __m512 x0 = _mm512_loadu_ps(pp), x1 = _mm512_loadu_ps(pp + 16), x2 = _mm512_loadu_ps(pp + 32);
            const float *ww = wp + (ci * 9 + (size_t)t) * TILE_CO;
#pragma GCC unroll 8
            for (int c = 0; c < TILE_CO; c++) {
                const __m512 wv = _mm512_set1_ps(ww[c]);
                a[c][0] = _mm512_fmadd_ps(wv, x0, a[c][0]);
                a[c][1] = _mm512_fmadd_ps(wv, x1, a[c][1]);
                a[c][2] = _mm512_fmadd_ps(wv, x2, a[c][2]);
            }
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < TILE_CO; c++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++) _mm512_storeu_ps(O + c * ldo + q + 16 * (size_t)v, a[c][v]);
}

/* y (gn, Co, H, W) (+)= conv(x (gn, Ci, H, W)) with packed weights wp (Co / 8 blocks of (Ci, 9, 8)),
 * + b (may be NULL); buf: one group's padded input and output grid */
static void group_conv(float *y, const float *x, const float *wp, const float *b, float *buf, size_t gn, size_t Ci,
                       size_t Co, size_t H, size_t W, size_t g, const FmConvDims *d, int accumulate) {
    const size_t Wp = W + 1, Q = grid_q(d, g), PS = plane(d, g);
    float *P = buf, *O = buf + cmax(d) * PS;
    for (size_t c = 0; c < Ci; c++) {
        float *p = P + c * PS;
        memset(p, 0, PS * sizeof(float));
        for (size_t s = 0; s < gn; s++)
            for (size_t h = 0; h < H; h++)
                memcpy(p + (s * (H + 1) + 1 + h) * Wp + 1, x + ((s * Ci + c) * H + h) * W, W * sizeof(float));
    }
    const size_t Qn = (gn * (H + 1) * Wp + TILE_Q - 1) / TILE_Q * TILE_Q;
    for (size_t cb = 0; cb < Co / TILE_CO; cb++)
        for (size_t q = 0; q < Qn; q += TILE_Q) tile(O + cb * TILE_CO * Q, Q, P, PS, wp + cb * Ci * 9 * TILE_CO, Ci, Wp, q);
    for (size_t s = 0; s < gn; s++)
        for (size_t c = 0; c < Co; c++) {
            const float bc = b ? b[c] : 0;
            for (size_t h = 0; h < H; h++) {
                const float *o = O + c * Q + (s * (H + 1) + h) * Wp;
                float *yy = y + ((s * Co + c) * H + h) * W;
                if (accumulate)
                    for (size_t k = 0; k < W; k++) yy[k] += o[k] + bc;
                else
                    for (size_t k = 0; k < W; k++) yy[k] = o[k] + bc;
            }
        }
}

/* groups of samples over the OpenMP threads, each with its share of the scratch */
static void conv_groups(float *y, const float *x, const float *wp, const float *b, float *scratch, size_t per, size_t B,
                        size_t Ci, size_t Co, const FmConvDims *d, int accumulate) {
    const size_t g = group(d), ngroups = (B + g - 1) / g, H = d->H, W = d->W;
    #pragma omp parallel for schedule(static) if (ngroups > 1)
    for (size_t q = 0; q < ngroups; q++) {
        const size_t n0 = q * g, gn = B - n0 < g ? B - n0 : g;
        float *buf = scratch + (size_t)omp_get_thread_num() * per;
        buf += (16 - ((uintptr_t)buf / sizeof(float)) % 16) % 16; /* 64-byte aligned */
        group_conv(y + n0 * Co * H * W, x + n0 * Ci * H * W, wp, b, buf, gn, Ci, Co, H, W, g, d, accumulate);
    }
}

void fm_conv_direct_forward(float *out, const float *in, const float *w, const float *b, float *scratch, size_t per,
                            size_t B, const FmConvDims *d, int accumulate) {
    const size_t Ci = d->Ci, Co = d->Co;
    float *wp = scratch + (size_t)omp_get_max_threads() * per; /* wp[cb][ci][t][k] = w[cb 8 + k][ci 9 + t] */
    for (size_t cb = 0; cb < Co / TILE_CO; cb++)
        for (size_t ci = 0; ci < Ci; ci++)
            for (size_t t = 0; t < 9; t++)
                for (size_t k = 0; k < TILE_CO; k++)
                    wp[((cb * Ci + ci) * 9 + t) * TILE_CO + k] = w[(cb * TILE_CO + k) * Ci * 9 + ci * 9 + t];
    conv_groups(out, in, wp, b, scratch, per, B, Ci, Co, d, accumulate);
}

void fm_conv_direct_backward_input(float *din, const float *dout, const float *w, float *scratch, size_t per, size_t B,
                                   const FmConvDims *d) {
    const size_t Ci = d->Ci, Co = d->Co;
    /* din = conv(dout) with Co -> Ci channels and the kernel wt[ci][co][t] = w[co][ci][8 - t] */
    float *wp = scratch + (size_t)omp_get_max_threads() * per;
    for (size_t cb = 0; cb < Ci / TILE_CO; cb++)
        for (size_t co = 0; co < Co; co++)
            for (size_t t = 0; t < 9; t++)
                for (size_t k = 0; k < TILE_CO; k++)
                    wp[((cb * Co + co) * 9 + t) * TILE_CO + k] = w[co * Ci * 9 + (cb * TILE_CO + k) * 9 + 8 - t];
    conv_groups(din, dout, wp, NULL, scratch, per, B, Co, Ci, d, 1);
}
#else
void fm_conv_direct_forward(float *out, const float *in, const float *w, const float *b, float *scratch, size_t per,
                            size_t B, const FmConvDims *d, int accumulate) {
    (void)out, (void)in, (void)w, (void)b, (void)scratch, (void)per, (void)B, (void)d, (void)accumulate;
}
void fm_conv_direct_backward_input(float *din, const float *dout, const float *w, float *scratch, size_t per, size_t B,
                                   const FmConvDims *d) {
    (void)din, (void)dout, (void)w, (void)scratch, (void)per, (void)B, (void)d;
}
#endif
