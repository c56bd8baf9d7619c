/* test_toy.c - the toy data sets (toy.h, SPEC.md "Toy data"; formulas in src/toy.c).
 *
 * For each set: dimension, finiteness and a bounding box, mean and per-coordinate std
 * against the analytic values, and the shape (every point near its component). Bounds:
 * means within 5 standard errors; a 2-D isotropic Gaussian of std S exceeds radius 6 S with
 * probability e^-18 ~ 1.5e-8, so "within 6 S of the curve" holds for every point of a sample.
 * Then determinism by seed, fm_toy_heldout's stream keys, and name parsing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/rng.h"
#include "fm/toy.h"
#include "testutil.h"

static const size_t N = 100000;
static const uint64_t SEED = 12345;

/* The parameters of src/toy.c (documented there). */
static const double G8_R = 2.0, G8_S = 0.2;
static const double MOONS_S = 0.1, MOONS_M = 1.5;
static const double SP_A = 2.25, SP_S = 0.08;
static const double RINGS_S = 0.08;

typedef struct {
    double mean[2], std[2], lo[2], hi[2];
} Stats;

static Stats stats(const float *z, size_t n, int d) {
    Stats st = {{0}, {0}, {0}, {0}};
    for (int c = 0; c < d; c++) {
        double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            double v = z[i * d + c];
            s += v, s2 += v * v;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        st.mean[c] = s / n;
        st.std[c] = sqrt(s2 / n - st.mean[c] * st.mean[c]);
        st.lo[c] = lo, st.hi[c] = hi;
    }
    return st;
}

static int all_finite(const float *z, size_t m) {
    for (size_t i = 0; i < m; i++)
        if (!isfinite(z[i])) return 0;
    return 1;
}

/* Common checks: finite, inside [-box, box]^d, mean 0 within 5 standard errors (using
 * the analytic std), per-coordinate std within 2% of the analytic value (the standard
 * error of a sample std is about std / sqrt(2 N) ~ 0.2% here, times a kurtosis factor). */
static float *check_common(FmToyKind k, double box, const double *std_want) {
    int d = fm_toy_dim(k);
    float *z = malloc(N * (size_t)d * sizeof *z);
    fm_toy_heldout(z, k, SEED, N);
    const char *name = fm_toy_name(k);
    Stats st = stats(z, N, d);
    T_CHECK(all_finite(z, N * (size_t)d), "%s: all values finite", name);
    for (int c = 0; c < d; c++) {
        printf("%-12s coord %d: mean %+.4f std %.4f (want %.4f) range [%.3f, %.3f]\n", name, c, st.mean[c],
               st.std[c], std_want[c], st.lo[c], st.hi[c]);
        T_CHECK(st.lo[c] >= -box && st.hi[c] <= box, "%s coord %d: range [%g, %g] outside +-%g", name, c, st.lo[c],
                st.hi[c], box);
        T_CLOSE(st.mean[c], 0.0, 5.0 * std_want[c] / sqrt((double)N), "mean");
        T_CLOSE(st.std[c], std_want[c], 0.02 * std_want[c], "std");
    }
    return z;
}

/* The fraction of N items in a component of probability p, within 5 binomial standard errors. */
static void check_fraction(size_t count, double p, const char *what) {
    T_CLOSE((double)count / N, p, 5.0 * sqrt(p * (1 - p) / N), what);
}

static void test_twopoint(void) {
    T_CHECK(fm_toy_dim(FM_TOY_TWOPOINT) == 1, "twopoint is 1-D");
    const double sd[1] = {2.0};
    float *z = check_common(FM_TOY_TWOPOINT, 2.0, sd);
    size_t plus = 0;
    int exact = 1;
    for (size_t i = 0; i < N; i++) {
        exact &= z[i] == 2.0f || z[i] == -2.0f;
        plus += z[i] == 2.0f;
    }
    T_CHECK(exact, "twopoint values are exactly +-2");
    check_fraction(plus, 0.5, "twopoint fraction of +2");
    free(z);
}

static void test_8gaussians(void) {
    T_CHECK(fm_toy_dim(FM_TOY_8GAUSSIANS) == 2, "8gaussians is 2-D");
    double s = sqrt(G8_R * G8_R / 2 + G8_S * G8_S);
    const double sd[2] = {s, s};
    float *z = check_common(FM_TOY_8GAUSSIANS, G8_R + 6 * G8_S, sd);
    size_t count[8] = {0}, far = 0;
    double dev2 = 0;
    for (size_t i = 0; i < N; i++) {
        int best = 0;
        double bd = INFINITY, dx = 0, dy = 0;
        for (int k = 0; k < 8; k++) {
            double ex = z[2 * i] - G8_R * cos(k * FM_PI / 4), ey = z[2 * i + 1] - G8_R * sin(k * FM_PI / 4);
            double dd = ex * ex + ey * ey;
            if (dd < bd) bd = dd, best = k, dx = ex, dy = ey;
        }
        far += sqrt(bd) > 6 * G8_S;
        count[best]++;
        dev2 += dx * dx + dy * dy;
    }
    T_CHECK(far == 0, "8gaussians: %zu points farther than 6 std from every centre", far);
    for (int k = 0; k < 8; k++) check_fraction(count[k], 1.0 / 8, "8gaussians fraction per centre");
    /* within-component std: E|e|^2 = 2 S^2 (centres are 1.53 apart = 7.7 S, so nearest-centre
     * assignment is essentially always right) */
    T_CLOSE(sqrt(dev2 / (2.0 * N)), G8_S, 0.02 * G8_S, "8gaussians component std");
    free(z);
}

/* Distance from p to the half of the unit circle around c on the side sign*(y - cy) >= 0. */
static double dist_half_circle(double px, double py, double cx, double cy, double sign) {
    double dx = px - cx, dy = py - cy;
    if (sign * dy >= 0) return fabs(sqrt(dx * dx + dy * dy) - 1.0);
    double d1 = hypot(dx - 1.0, dy), d2 = hypot(dx + 1.0, dy);
    return d1 < d2 ? d1 : d2;
}

static void test_moons(void) {
    T_CHECK(fm_toy_dim(FM_TOY_MOONS) == 2, "moons is 2-D");
    const double sd[2] = {MOONS_M * sqrt(0.75 + MOONS_S * MOONS_S),
                          MOONS_M * sqrt(9.0 / 16 - 1 / FM_PI + MOONS_S * MOONS_S)};
    /* raw x in [-1, 2], y in [-1/2, 1], centred by (1/2, 1/4), scaled by M, plus 6 noise std */
    float *z = check_common(FM_TOY_MOONS, MOONS_M * (1.5 + 6 * MOONS_S), sd);
    size_t far = 0, upper = 0;
    for (size_t i = 0; i < N; i++) {
        double px = z[2 * i] / MOONS_M + 0.5, py = z[2 * i + 1] / MOONS_M + 0.25;
        double du = dist_half_circle(px, py, 0.0, 0.0, 1.0);  /* upper moon */
        double dl = dist_half_circle(px, py, 1.0, 0.5, -1.0); /* lower moon */
        far += (du < dl ? du : dl) > 6 * MOONS_S;
        upper += du < dl;
    }
    T_CHECK(far == 0, "moons: %zu points farther than 6 noise std from both moons", far);
    /* nearest-moon assignment is right except near the crossings, so only a loose check */
    T_CLOSE((double)upper / N, 0.5, 0.02, "moons fraction nearer the upper moon");
    free(z);
}

static void test_checkerboard(void) {
    T_CHECK(fm_toy_dim(FM_TOY_CHECKERBOARD) == 2, "checkerboard is 2-D");
    double s = sqrt(1.25 + 1.0 / 12);
    const double sd[2] = {s, s};
    float *z = check_common(FM_TOY_CHECKERBOARD, 2.0, sd);
    /* A point is on black cell (i, j) when it lies in [i-2, i-1] x [j-2, j-1] up to TOL: the
     * float output of -2 + i + U can round onto a cell edge (U within 2^-24 of 0 or 1). */
    const double TOL = 1e-6;
    size_t white = 0, cell[4][4] = {{0}};
    for (size_t p = 0; p < N; p++) {
        double x = z[2 * p] + 2.0, y = z[2 * p + 1] + 2.0;
        int found = 0;
        for (int i = 0; i < 4 && !found; i++)
            for (int j = i % 2; j < 4 && !found; j += 2)
                if (x >= i - TOL && x <= i + 1 + TOL && y >= j - TOL && y <= j + 1 + TOL) {
                    cell[i][j]++;
                    found = 1;
                }
        white += !found;
    }
    T_CHECK(white == 0, "checkerboard: %zu points off the black squares", white);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            if ((i + j) % 2 == 0) check_fraction(cell[i][j], 1.0 / 8, "checkerboard fraction per black square");
    free(z);
}

static void test_spirals(void) {
    T_CHECK(fm_toy_dim(FM_TOY_SPIRALS) == 2, "spirals is 2-D");
    /* s = sqrt(U) has density 2s and r = A s, theta = 3 pi s, so
     *   E[r^2 cos^2 theta] = A^2 int_0^1 2 s^3 (1 + cos 6 pi s) / 2 ds = A^2 (1/4 + 1/(12 pi^2)),
     * using int_0^1 s^3 cos(6 pi s) ds = 3 / (6 pi)^2 (by parts); likewise
     *   E[r^2 sin^2 theta] = A^2 (1/4 - 1/(12 pi^2)). */
    double c = 1.0 / (12.0 * FM_PI * FM_PI);
    const double sd[2] = {sqrt(SP_A * SP_A * (0.25 + c) + SP_S * SP_S),
                          sqrt(SP_A * SP_A * (0.25 - c) + SP_S * SP_S)};
    float *z = check_common(FM_TOY_SPIRALS, SP_A + 6 * SP_S, sd);
    /* Shape: every point within 6 S (+ the polyline spacing) of one of the two arms, sampled
     * densely. A subsample keeps this O(n m) check fast. */
    enum { M = 8000 };
    static double ax[M], ay[M];
    for (int m = 0; m < M; m++) {
        double sq = (double)m / (M - 1);
        ax[m] = -SP_A * sq * cos(3 * FM_PI * sq);
        ay[m] = SP_A * sq * sin(3 * FM_PI * sq);
    }
    double spacing = 0;
    for (int m = 1; m < M; m++) spacing = fmax(spacing, hypot(ax[m] - ax[m - 1], ay[m] - ay[m - 1]));
    size_t far = 0, arm0 = 0;
    const size_t nsub = 5000;
    for (size_t i = 0; i < nsub; i++) {
        double x = z[2 * i], y = z[2 * i + 1], d0 = INFINITY, d1 = INFINITY;
        for (int m = 0; m < M; m++) {
            double e0 = (x - ax[m]) * (x - ax[m]) + (y - ay[m]) * (y - ay[m]);
            double e1 = (x + ax[m]) * (x + ax[m]) + (y + ay[m]) * (y + ay[m]);
            if (e0 < d0) d0 = e0;
            if (e1 < d1) d1 = e1;
        }
        far += sqrt(fmin(d0, d1)) > 6 * SP_S + spacing;
        arm0 += d0 < d1;
    }
    T_CHECK(far == 0, "spirals: %zu of %zu points farther than 6 std from both arms", far, nsub);
    /* arms are 1/2 each; near the centre they meet, so the nearest-arm count is only roughly 1/2 */
    T_CLOSE((double)arm0 / nsub, 0.5, 0.04, "spirals fraction nearer arm 0");
    double r2 = 0;
    for (size_t i = 0; i < N; i++) r2 += z[2 * i] * z[2 * i] + z[2 * i + 1] * z[2 * i + 1];
    T_CLOSE(r2 / N, SP_A * SP_A / 2 + 2 * SP_S * SP_S, 0.02 * (SP_A * SP_A / 2), "spirals E|z|^2");
    free(z);
}

static void test_rings(void) {
    T_CHECK(fm_toy_dim(FM_TOY_RINGS) == 2, "rings is 2-D");
    const double radii[4] = {0.5, 1.0, 1.5, 2.0};
    double mr2 = (0.25 + 1.0 + 2.25 + 4.0) / 4;
    double s = sqrt(mr2 / 2 + RINGS_S * RINGS_S);
    const double sd[2] = {s, s};
    float *z = check_common(FM_TOY_RINGS, 2.0 + 6 * RINGS_S, sd);
    size_t count[4] = {0}, far = 0;
    for (size_t i = 0; i < N; i++) {
        double r = hypot(z[2 * i], z[2 * i + 1]);
        int best = 0;
        for (int k = 1; k < 4; k++)
            if (fabs(r - radii[k]) < fabs(r - radii[best])) best = k;
        far += fabs(r - radii[best]) > 6 * RINGS_S;
        count[best]++;
    }
    T_CHECK(far == 0, "rings: %zu points farther than 6 std from every ring", far);
    /* rings are 0.5 apart = 6.25 S, so nearest-ring assignment is essentially always right */
    for (int k = 0; k < 4; k++) check_fraction(count[k], 0.25, "rings fraction per ring");
    free(z);
}

/* Same seed -> identical data; other seed -> different data; fm_toy_heldout item j is
 * fm_toy_draw on the stream (seed, 0, j, FM_RNG_HELDOUT), independent of n. */
static void test_determinism(void) {
    enum { NI = 1000 };
    static float a[2 * NI], b[2 * NI], c[2 * NI];
    for (int k = 0; k < FM_TOY_COUNT; k++) {
        size_t d = (size_t)fm_toy_dim((FmToyKind)k);
        const char *name = fm_toy_name((FmToyKind)k);
        fm_toy_heldout(a, (FmToyKind)k, 99, NI);
        fm_toy_heldout(b, (FmToyKind)k, 99, NI);
        fm_toy_heldout(c, (FmToyKind)k, 100, NI);
        T_CHECK(memcmp(a, b, NI * d * sizeof(float)) == 0, "%s: same seed gives the same data", name);
        size_t diff = 0;
        for (size_t i = 0; i < NI * d; i++) diff += a[i] != c[i];
        T_CHECK(diff > NI * d / 4, "%s: another seed gives other data (%zu of %zu differ)", name, diff, NI * d);
        int same = 1;
        for (size_t j = 0; j < NI; j++) {
            FmStream s;
            float z[2];
            fm_stream_init(&s, 99, 0, j, FM_RNG_HELDOUT);
            fm_toy_draw(z, (FmToyKind)k, &s);
            for (size_t q = 0; q < d; q++) same &= z[q] == a[j * d + q];
        }
        T_CHECK(same, "%s: heldout item j = fm_toy_draw on stream (seed, 0, j, HELDOUT)", name);
        fm_toy_heldout(b, (FmToyKind)k, 99, 10);
        T_CHECK(memcmp(a, b, 10 * d * sizeof(float)) == 0, "%s: heldout items do not depend on n", name);
    }
}

static void test_parse(void) {
    for (int k = 0; k < FM_TOY_COUNT; k++) {
        FmToyKind got = FM_TOY_COUNT;
        int rc = fm_toy_parse(&got, fm_toy_name((FmToyKind)k));
        T_CHECK(rc == 0 && got == (FmToyKind)k, "parse(name(%d)) round trip", k);
    }
    const char *names[] = {"twopoint", "8gaussians", "moons", "checkerboard", "spirals", "rings"};
    for (int k = 0; k < FM_TOY_COUNT; k++) T_CHECK(strcmp(fm_toy_name((FmToyKind)k), names[k]) == 0, "name %d", k);
    FmToyKind got = FM_TOY_MOONS;
    fm_err_clear();
    int rc = fm_toy_parse(&got, "swissroll");
    T_CHECK(rc == -1, "unknown name returns -1");
    T_CHECK(got == FM_TOY_MOONS, "unknown name leaves the kind unchanged");
    T_CHECK(strcmp(fm_err_msg(), "unknown data set 'swissroll' (known: twopoint, 8gaussians, moons, checkerboard, "
                                 "spirals, rings)") == 0,
            "error message: %s", fm_err_msg());
    T_CHECK(fm_toy_parse(&got, "") == -1, "empty name is unknown");
    T_CHECK(fm_toy_parse(&got, "Moons") == -1, "names are case-sensitive");
}

/* The sets' definitions (the table in toy.c) written out again with libm's sin, cos and log, on
 * the same stream: fm_toy_draw's vectorised pass must give the same floats, or one ulp apart. */
static void reference_item(float *z, FmToyKind k, FmStream *s) {
    double e0, e1;
    if (k == FM_TOY_TWOPOINT) {
        z[0] = fm_stream_uniform(s) < 0.5 ? -2.0f : 2.0f;
    } else if (k == FM_TOY_8GAUSSIANS) {
        double a = floor(8 * fm_stream_uniform(s)) * FM_PI / 4;
        e0 = fm_stream_normal(s), e1 = fm_stream_normal(s);
        z[0] = (float)(G8_R * cos(a) + G8_S * e0), z[1] = (float)(G8_R * sin(a) + G8_S * e1);
    } else if (k == FM_TOY_MOONS) {
        int up = fm_stream_uniform(s) < 0.5;
        double t = FM_PI * fm_stream_uniform(s);
        e0 = fm_stream_normal(s), e1 = fm_stream_normal(s);
        z[0] = (float)(MOONS_M * ((up ? cos(t) : 1 - cos(t)) + MOONS_S * e0 - 0.5));
        z[1] = (float)(MOONS_M * ((up ? sin(t) : 0.5 - sin(t)) + MOONS_S * e1 - 0.25));
    } else if (k == FM_TOY_CHECKERBOARD) {
        int c = (int)floor(8 * fm_stream_uniform(s)), i = c / 2, j = 2 * (c % 2) + (i % 2);
        double u1 = fm_stream_uniform(s), u2 = fm_stream_uniform(s);
        z[0] = (float)(-2.0 + i + u1), z[1] = (float)(-2.0 + j + u2);
    } else if (k == FM_TOY_SPIRALS) {
        double q = sqrt(fm_stream_uniform(s)), sg = fm_stream_uniform(s) < 0.5 ? 1 : -1;
        e0 = fm_stream_normal(s), e1 = fm_stream_normal(s);
        z[0] = (float)(sg * (-SP_A * q * cos(3 * FM_PI * q)) + SP_S * e0);
        z[1] = (float)(sg * (SP_A * q * sin(3 * FM_PI * q)) + SP_S * e1);
    } else {
        double r = 0.5 * (floor(4 * fm_stream_uniform(s)) + 1), phi = 2 * FM_PI * fm_stream_uniform(s);
        e0 = fm_stream_normal(s), e1 = fm_stream_normal(s);
        z[0] = (float)(r * cos(phi) + RINGS_S * e0), z[1] = (float)(r * sin(phi) + RINGS_S * e1);
    }
}

static void test_against_libm(void) {
    for (int k = 0; k < FM_TOY_COUNT; k++) {
        const size_t d = (size_t)fm_toy_dim((FmToyKind)k);
        size_t equal = 0, over = 0, total = 0, consumed = 0;
        for (size_t i = 0; i < N; i++) {
            FmStream a, b;
            fm_stream_init(&a, SEED, 7, i, FM_RNG_DATA);
            b = a;
            float z[2], w[2];
            fm_toy_draw(z, (FmToyKind)k, &a);
            reference_item(w, (FmToyKind)k, &b);
            consumed += fm_stream_u32(&a) != fm_stream_u32(&b);
            for (size_t j = 0; j < d; j++, total++) {
                if (z[j] == w[j]) equal++;
                else if (!(z[j] == nextafterf(w[j], INFINITY) || z[j] == nextafterf(w[j], -INFINITY) ||
                           fabsf(z[j] - w[j]) < 1e-15f))
                    over++;
            }
        }
        printf("RESULT toy: %-12s vectorised vs libm definition: %.3f%% of %zu values equal, %zu more than one ulp "
               "apart\n", fm_toy_name((FmToyKind)k), 100.0 * (double)equal / (double)total, total, over);
        T_CHECK(consumed == 0, "%s: %zu items consume other draws than documented", fm_toy_name((FmToyKind)k), consumed);
        T_CHECK(over == 0, "%s: %zu values more than one float ulp from the libm definition", fm_toy_name((FmToyKind)k),
                over);
    }
}

int main(void) {
    test_twopoint();
    test_8gaussians();
    test_moons();
    test_checkerboard();
    test_spirals();
    test_rings();
    test_determinism();
    test_against_libm();
    test_parse();
    return T_DONE();
}
