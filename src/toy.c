/* toy.c - toy data sets drawn from the keyed random streams (SPEC.md "Toy data").
 *
 * An item is a pure function of its stream (rng.h), so a seed fixes the data exactly, on
 * any number of ranks. Each set uses a fixed sequence of draws per item, listed below
 * (U = fm_stream_uniform on (0,1), N = fm_stream_normal; on a fresh stream two N calls
 * are one Box-Muller pair, i.e. two U's). The 2-D sets are scaled so the data lie roughly
 * within [-3, 3]^2 with per-coordinate standard deviations between about 0.75 and 1.5,
 * so that N(0, I) is a sensible source distribution.
 *
 *   twopoint      (1-D) z = -2 if U < 1/2, else +2.                           draws: U
 *   8gaussians    k = floor(8 U); z = R (cos(k pi/4), sin(k pi/4)) + S (N, N),
 *                 R = 2, S = 0.2.  Per-coordinate std sqrt(R^2/2 + S^2) = 1.428.
 *                                                                         draws: U, N, N
 *   moons         sklearn make_moons, centred and scaled: t = pi U2,
 *                 p = (cos t, sin t) if U1 < 1/2 (upper moon) else (1 - cos t, 1/2 - sin t),
 *                 z = M ((p + S (N, N)) - (1/2, 1/4)), S = 0.1, M = 1.5.
 *                 Mean 0 (exactly); std x = M sqrt(3/4 + S^2) = 1.308,
 *                 std y = M sqrt(9/16 - 1/pi + S^2) = 0.756.
 *                                                                     draws: U1, U2, N, N
 *   checkerboard  uniform on the 8 black cells of a 4x4 board of unit cells covering
 *                 [-2, 2]^2 (cell (i, j) black when i + j is even, i = floor(x) + 2):
 *                 k = floor(8 U0), i = k / 2, j = 2 (k mod 2) + (i mod 2),
 *                 z = (-2 + i + U1, -2 + j + U2).  Mean 0, std sqrt(5/4 + 1/12) = 1.155.
 *                                                                      draws: U0, U1, U2
 *   spirals       two interleaved Archimedean spirals (1.5 turns each, radius proportional
 *                 to angle): s = sqrt(U1), theta = 3 pi s, r = A s,
 *                 p = r (-cos theta, sin theta), negated (rotated by pi) if U2 >= 1/2;
 *                 z = p + S (N, N), A = 2.25, S = 0.08.  E|z|^2 = A^2/2 + 2 S^2 = 2.544,
 *                 per-coordinate std about 1.13.                    draws: U1, U2, N, N
 *   rings         4 concentric circles, radii R_k = 0.5 (k + 1), k = 0..3, equally likely:
 *                 k = floor(4 U1), phi = 2 pi U2, z = R_k (cos phi, sin phi) + S (N, N),
 *                 S = 0.08.  Per-coordinate std sqrt(mean(R_k^2)/2 + S^2) = 0.971.
 *                                                                     draws: U1, U2, N, N
 *
 * An item's uniforms are drawn from its stream first; then one vectorised pass over a chunk of
 * items computes the sets (with vec.h's log and sincos, within a few 1e-16 of libm's).
 */
#include "fm/toy.h"

#include <math.h>
#include <string.h>

#include "fm/common.h"
#include "vec.h"

/* Parameters of the 2-D sets (documented above; the tests derive their bounds from them). */
static const double G8_RADIUS = 2.0, G8_STD = 0.2;
static const double MOONS_NOISE = 0.1, MOONS_SCALE = 1.5;
static const double SPIRAL_RADIUS = 2.25, SPIRAL_TURN = 3.0 * FM_PI, SPIRAL_STD = 0.08;
static const double RINGS_STEP = 0.5, RINGS_STD = 0.08;
enum { RINGS_N = 4, TOY_MAX_UNIFORMS = 4 };

static const char *const g_names[FM_TOY_COUNT] = {"twopoint", "8gaussians", "moons",
                                                  "checkerboard", "spirals", "rings"};

int fm_toy_parse(FmToyKind *k, const char *name) {
    for (int i = 0; i < FM_TOY_COUNT; i++) {
        if (strcmp(name, g_names[i]) == 0) {
            *k = (FmToyKind)i;
            return 0;
        }
    }
    return fm_err_set("unknown data set '%s' (known: twopoint, 8gaussians, moons, checkerboard, spirals, rings)",
                      name);
}

const char *fm_toy_name(FmToyKind k) {
    FM_CHECK(k >= 0 && k < FM_TOY_COUNT, "invalid toy data kind %d", (int)k);
    return g_names[k];
}

int fm_toy_dim(FmToyKind k) {
    FM_CHECK(k >= 0 && k < FM_TOY_COUNT, "invalid toy data kind %d", (int)k);
    return k == FM_TOY_TWOPOINT ? 1 : 2;
}

/* The uniforms an item of each set consumes, in order (a Box-Muller pair N, N is two). */
static size_t toy_uniforms(FmToyKind k) {
    static const size_t n[FM_TOY_COUNT] = {1, 3, 4, 3, 4, 4}; /* the draws listed above */
    FM_CHECK(k >= 0 && k < FM_TOY_COUNT, "invalid toy data kind %d", (int)k);
    return n[k];
}

/* floor(n U) for U in (0, 1): always in 0..n-1, since U <= 1 - 2^-53. */
VEC_INLINE double pick(double u, double n) {
    const double k = floor(n * u);
    return k < n ? k : n - 1;
}

/* The Box-Muller pair of uniforms (u1, u2), as fm_stream_normal forms it, with the vectorised
 * log and sincos of vec.h (within a few 1e-16 of libm's). */
VEC_INLINE void normal_pair(double u1, double u2, double *e0, double *e1) {
    const double r = sqrt(-2.0 * fast_log(u1));
    double sn, cs;
    fast_sincos(2.0 * FM_PI * u2, &sn, &cs);
    *e0 = r * cs, *e1 = r * sn;
}

/* n items z (n, dim) from their uniforms u (n, nu), nu = toy_uniforms(k): one vectorised pass. */
VEC_CLONES static void toy_kernel(float *restrict z, const double *restrict u, size_t n, FmToyKind k) {
    const size_t nu = toy_uniforms(k);
    switch (k) {
    case FM_TOY_TWOPOINT:
        #pragma omp simd
        for (size_t i = 0; i < n; i++) z[i] = u[i] < 0.5 ? -2.0f : 2.0f;
        return;
    case FM_TOY_8GAUSSIANS:
        #pragma omp simd
        for (size_t i = 0; i < n; i++) {
            const double *v = u + i * nu;
            double e0, e1, sn, cs;
            fast_sincos(pick(v[0], 8) * (FM_PI / 4.0), &sn, &cs);
            normal_pair(v[1], v[2], &e0, &e1);
            z[2 * i] = (float)(G8_RADIUS * cs + G8_STD * e0);
            z[2 * i + 1] = (float)(G8_RADIUS * sn + G8_STD * e1);
        }
        return;
    case FM_TOY_MOONS:
        #pragma omp simd
        for (size_t i = 0; i < n; i++) {
            const double *v = u + i * nu;
            double e0, e1, st, ct;
            fast_sincos(FM_PI * v[1], &st, &ct);
            const int upper = v[0] < 0.5;
            const double px = upper ? ct : 1.0 - ct, py = upper ? st : 0.5 - st;
            normal_pair(v[2], v[3], &e0, &e1);
            /* (1/2, 1/4) is the exact mean of the noise-free moons. */
            z[2 * i] = (float)(MOONS_SCALE * (px + MOONS_NOISE * e0 - 0.5));
            z[2 * i + 1] = (float)(MOONS_SCALE * (py + MOONS_NOISE * e1 - 0.25));
        }
        return;
    case FM_TOY_CHECKERBOARD:
        #pragma omp simd
        for (size_t i = 0; i < n; i++) {
            const double *v = u + i * nu;
            const int c = (int)pick(v[0], 8), ci = c / 2, cj = 2 * (c % 2) + (ci % 2);
            z[2 * i] = (float)(-2.0 + ci + v[1]);
            z[2 * i + 1] = (float)(-2.0 + cj + v[2]);
        }
        return;
    case FM_TOY_SPIRALS:
        #pragma omp simd
        for (size_t i = 0; i < n; i++) {
            const double *v = u + i * nu;
            const double sq = sqrt(v[0]), sign = v[1] < 0.5 ? 1.0 : -1.0, r = SPIRAL_RADIUS * sq;
            double e0, e1, sn, cs;
            fast_sincos(SPIRAL_TURN * sq, &sn, &cs);
            normal_pair(v[2], v[3], &e0, &e1);
            z[2 * i] = (float)(sign * (-r * cs) + SPIRAL_STD * e0);
            z[2 * i + 1] = (float)(sign * (r * sn) + SPIRAL_STD * e1);
        }
        return;
    case FM_TOY_RINGS:
        #pragma omp simd
        for (size_t i = 0; i < n; i++) {
            const double *v = u + i * nu;
            const double r = RINGS_STEP * (pick(v[0], RINGS_N) + 1);
            double e0, e1, sn, cs;
            fast_sincos(2.0 * FM_PI * v[1], &sn, &cs);
            normal_pair(v[2], v[3], &e0, &e1);
            z[2 * i] = (float)(r * cs + RINGS_STD * e0);
            z[2 * i + 1] = (float)(r * sn + RINGS_STD * e1);
        }
        return;
    case FM_TOY_COUNT:
        break;
    }
    FM_CHECK(0, "invalid toy data kind %d", (int)k);
}

void fm_toy_draw(float *z, FmToyKind k, FmStream *s) {
    double u[TOY_MAX_UNIFORMS];
    const size_t nu = toy_uniforms(k);
    for (size_t j = 0; j < nu; j++) u[j] = fm_stream_uniform(s);
    toy_kernel(z, u, 1, k);
}

/* Items g0 .. g0 + n - 1 of (seed, step, purpose): in chunks, the uniforms of each item's stream
 * (all the chunk's streams at once), then one vectorised pass over the chunk. */
void fm_toy_draw_items(float *z, FmToyKind k, uint64_t seed, uint64_t step, uint64_t g0, size_t n, uint32_t purpose) {
    enum { CHUNK = 256 };
    double u[CHUNK * TOY_MAX_UNIFORMS];
    const size_t nu = toy_uniforms(k), d = (size_t)fm_toy_dim(k);
    for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
        const size_t c = n - i0 < CHUNK ? n - i0 : CHUNK;
        fm_stream_uniforms(u, nu, seed, step, g0 + i0, c, purpose);
        toy_kernel(z + i0 * d, u, c, k);
    }
}

void fm_toy_heldout(float *z, FmToyKind k, uint64_t seed, size_t n) {
    /* Items are independent streams, so the split over threads cannot matter. */
    const size_t d = (size_t)fm_toy_dim(k), per = 4096, parts = (n + per - 1) / per;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < parts; p++)
        fm_toy_draw_items(z + p * per * d, k, seed, 0, p * per, n - p * per < per ? n - p * per : per, FM_RNG_HELDOUT);
}

int fm_toy_mixture(FmToyKind k, float *centres, size_t max, size_t *K, double *sigma) {
    if (k == FM_TOY_8GAUSSIANS && max >= 8) {
        for (size_t i = 0; i < 8; i++) {
            centres[2 * i] = (float)(G8_RADIUS * cos((double)i * FM_PI / 4));
            centres[2 * i + 1] = (float)(G8_RADIUS * sin((double)i * FM_PI / 4));
        }
        *K = 8;
        *sigma = G8_STD;
        return 0;
    }
    if (k == FM_TOY_TWOPOINT && max >= 2) {
        centres[0] = -2, centres[1] = 2;
        *K = 2;
        *sigma = 0;
        return 0;
    }
    return fm_err_set("data set '%s' has no closed-form density (known: 8gaussians, twopoint)", fm_toy_name(k));
}
