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
 */
#include "fm/toy.h"

#include <math.h>
#include <string.h>

#include "fm/common.h"

/* Parameters of the 2-D sets (documented above; the tests derive their bounds from them). */
static const double G8_RADIUS = 2.0, G8_STD = 0.2;
static const double MOONS_NOISE = 0.1, MOONS_SCALE = 1.5;
static const double SPIRAL_RADIUS = 2.25, SPIRAL_TURN = 3.0 * FM_PI, SPIRAL_STD = 0.08;
static const double RINGS_STEP = 0.5, RINGS_STD = 0.08;
enum { RINGS_N = 4 };

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

/* floor(n U) for U in (0, 1): always in 0..n-1, since U <= 1 - 2^-53. */
static int pick(FmStream *s, int n) {
    int k = (int)((double)n * fm_stream_uniform(s));
    return k < n ? k : n - 1;
}

void fm_toy_draw(float *z, FmToyKind k, FmStream *s) {
    switch (k) {
    case FM_TOY_TWOPOINT:
        z[0] = fm_stream_uniform(s) < 0.5 ? -2.0f : 2.0f;
        return;
    case FM_TOY_8GAUSSIANS: {
        double a = (double)pick(s, 8) * (FM_PI / 4.0);
        double e0 = fm_stream_normal(s), e1 = fm_stream_normal(s);
        z[0] = (float)(G8_RADIUS * cos(a) + G8_STD * e0);
        z[1] = (float)(G8_RADIUS * sin(a) + G8_STD * e1);
        return;
    }
    case FM_TOY_MOONS: {
        int upper = fm_stream_uniform(s) < 0.5;
        double t = FM_PI * fm_stream_uniform(s);
        double px = upper ? cos(t) : 1.0 - cos(t);
        double py = upper ? sin(t) : 0.5 - sin(t);
        double e0 = fm_stream_normal(s), e1 = fm_stream_normal(s);
        /* (1/2, 1/4) is the exact mean of the noise-free moons. */
        z[0] = (float)(MOONS_SCALE * (px + MOONS_NOISE * e0 - 0.5));
        z[1] = (float)(MOONS_SCALE * (py + MOONS_NOISE * e1 - 0.25));
        return;
    }
    case FM_TOY_CHECKERBOARD: {
        int c = pick(s, 8);
        int i = c / 2, j = 2 * (c % 2) + (i % 2);
        double u1 = fm_stream_uniform(s), u2 = fm_stream_uniform(s);
        z[0] = (float)(-2.0 + i + u1);
        z[1] = (float)(-2.0 + j + u2);
        return;
    }
    case FM_TOY_SPIRALS: {
        double sq = sqrt(fm_stream_uniform(s));
        double sign = fm_stream_uniform(s) < 0.5 ? 1.0 : -1.0;
        double th = SPIRAL_TURN * sq, r = SPIRAL_RADIUS * sq;
        double e0 = fm_stream_normal(s), e1 = fm_stream_normal(s);
        z[0] = (float)(sign * (-r * cos(th)) + SPIRAL_STD * e0);
        z[1] = (float)(sign * (r * sin(th)) + SPIRAL_STD * e1);
        return;
    }
    case FM_TOY_RINGS: {
        double r = RINGS_STEP * (double)(pick(s, RINGS_N) + 1);
        double phi = 2.0 * FM_PI * fm_stream_uniform(s);
        double e0 = fm_stream_normal(s), e1 = fm_stream_normal(s);
        z[0] = (float)(r * cos(phi) + RINGS_STD * e0);
        z[1] = (float)(r * sin(phi) + RINGS_STD * e1);
        return;
    }
    case FM_TOY_COUNT:
        break;
    }
    FM_CHECK(0, "invalid toy data kind %d", (int)k);
}

void fm_toy_heldout(float *z, FmToyKind k, uint64_t seed, size_t n) {
    size_t d = (size_t)fm_toy_dim(k);
    /* Items are independent streams, so the loop order (and thread count) cannot matter. */
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < n; j++) {
        FmStream s;
        fm_stream_init(&s, seed, 0, j, FM_RNG_HELDOUT);
        fm_toy_draw(z + j * d, k, &s);
    }
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
