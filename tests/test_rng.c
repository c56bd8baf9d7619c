/* test_rng.c - the keyed random streams (rng.h, SPEC.md "Toy data").
 *
 * 1. Philox4x32-10 known answers: the three "philox4x32 10" lines of Random123's
 *    tests/kat_vectors (D. E. Shaw Research; columns CTR[4] KEY[2] -> OUT[4]).
 * 2. The documented counter layout: key = {seed lo, seed hi}, ctr = {block, purpose, index, step},
 *    and the documented word consumption of u32 / uniform / normal / rademacher.
 * 3. Distribution moments, with bounds of 5 standard errors of the estimator.
 * 4. Determinism, key independence, and independence of the initialisation/draw order.
 * 5. index or step >= 2^32 is fatal (FM_CHECK, caught through the abort hook).
 */
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/rng.h"
#include "testutil.h"

static void test_kat(void) {
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[3] = {
        {{0x00000000, 0x00000000, 0x00000000, 0x00000000},
         {0x00000000, 0x00000000},
         {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        fm_philox4x32_10(out, kat[v].ctr, kat[v].key);
        for (int i = 0; i < 4; i++)
            T_CHECK(out[i] == kat[v].out[i], "KAT %d word %d: got %08x, want %08x", v, i, out[i], kat[v].out[i]);
    }
}

/* The stream is Philox(ctr = {b, purpose, index, step}, key = {seed lo, seed hi}), b = 0, 1, ... */
static void test_layout(void) {
    const uint64_t seed = 0x0123456789abcdefULL, step = 77, index = 123456;
    const uint32_t purpose = FM_RNG_NOISE;
    FmStream s;
    fm_stream_init(&s, seed, step, index, purpose);
    const uint32_t key[2] = {0x89abcdefu, 0x01234567u};
    for (uint32_t b = 0; b < 5; b++) {
        uint32_t ctr[4] = {b, purpose, (uint32_t)index, (uint32_t)step}, want[4];
        fm_philox4x32_10(want, ctr, key);
        for (int i = 0; i < 4; i++) {
            uint32_t got = fm_stream_u32(&s);
            T_CHECK(got == want[i], "layout block %u word %d: got %08x, want %08x", b, i, got, want[i]);
        }
    }

    /* uniform = 2 words: ((w0 << 32 | w1) >> 12) + 0.5) * 2^-52 */
    FmStream a, w;
    fm_stream_init(&a, seed, step, index, purpose);
    fm_stream_init(&w, seed, step, index, purpose);
    for (int i = 0; i < 7; i++) { /* 7 uniforms cross block boundaries at odd offsets too */
        uint64_t hi = fm_stream_u32(&w), lo = fm_stream_u32(&w);
        double want = ((double)(((hi << 32) | lo) >> 12) + 0.5) * 0x1p-52;
        double got = fm_stream_uniform(&a);
        T_CHECK(got == want, "uniform %d: %.17g vs %.17g", i, got, want);
    }

    /* normal: a Box-Muller pair from two uniforms, both values used, 4 words per pair */
    fm_stream_init(&a, seed, step, index, purpose);
    fm_stream_init(&w, seed, step, index, purpose);
    for (int p = 0; p < 3; p++) {
        double u1 = fm_stream_uniform(&w), u2 = fm_stream_uniform(&w);
        double r = sqrt(-2.0 * log(u1));
        double z0 = fm_stream_normal(&a), z1 = fm_stream_normal(&a);
        T_CHECK(z0 == r * cos(2.0 * FM_PI * u2), "Box-Muller pair %d first value", p);
        T_CHECK(z1 == r * sin(2.0 * FM_PI * u2), "Box-Muller pair %d second value (the spare)", p);
    }
    T_CHECK(fm_stream_u32(&a) == fm_stream_u32(&w), "two normals consume exactly 4 words");

    /* rademacher: top bit of one word */
    fm_stream_init(&a, seed, step, index, purpose);
    fm_stream_init(&w, seed, step, index, purpose);
    for (int i = 0; i < 9; i++) {
        double want = (fm_stream_u32(&w) >> 31) ? 1.0 : -1.0;
        T_CHECK(fm_stream_rademacher(&a) == want, "rademacher %d", i);
    }
}

static void test_normal_moments(void) {
    const size_t n = 1000000;
    FmStream s;
    fm_stream_init(&s, 42, 3, 7, FM_RNG_NOISE);
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0, maxabs = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        double z = fm_stream_normal(&s), z2 = z * z;
        finite &= isfinite(z);
        m1 += z, m2 += z2, m3 += z2 * z, m4 += z2 * z2;
        if (fabs(z) > maxabs) maxabs = fabs(z);
    }
    m1 /= n, m2 /= n, m3 /= n, m4 /= n;
    double var = m2 - m1 * m1;
    double skew = (m3 - 3 * m1 * m2 + 2 * m1 * m1 * m1) / pow(var, 1.5);
    double kurt = (m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1 * m1 * m1 * m1) / (var * var);
    double rn = sqrt((double)n);
    printf("normal n=%zu: mean %.5f var %.5f skew %.5f kurt %.5f max|z| %.3f\n", n, m1, var, skew, kurt, maxabs);
    T_CHECK(finite, "normals finite");
    /* standard errors for N(0,1): mean 1/sqrt(n), variance sqrt(2/n), skewness sqrt(6/n),
     * kurtosis sqrt(24/n); bounds are 5 of them */
    T_CLOSE(m1, 0.0, 5.0 / rn, "normal mean");
    T_CLOSE(var, 1.0, 5.0 * sqrt(2.0) / rn, "normal variance");
    T_CLOSE(skew, 0.0, 5.0 * sqrt(6.0) / rn, "normal skewness");
    T_CLOSE(kurt, 3.0, 5.0 * sqrt(24.0) / rn, "normal kurtosis");
    /* Box-Muller with u1 >= 2^-53 cannot exceed sqrt(2 * 53 ln 2) */
    T_CHECK(maxabs <= sqrt(2.0 * 53.0 * log(2.0)), "max |z| %.3f", maxabs);

    /* the tail: P(|z| > 3) = 0.0026998, binomial standard error */
    fm_stream_init(&s, 43, 0, 0, FM_RNG_SDE);
    size_t tail = 0;
    for (size_t i = 0; i < n; i++) tail += fabs(fm_stream_normal(&s)) > 3.0;
    double p = 0.0026997960632601866;
    T_CLOSE((double)tail / n, p, 5.0 * sqrt(p * (1 - p) / n), "P(|z| > 3)");
}

static void test_uniform(void) {
    const size_t n = 1000000;
    enum { BINS = 100 };
    size_t hist[BINS] = {0};
    FmStream s;
    fm_stream_init(&s, 7, 0, 0, FM_RNG_TIME);
    double m1 = 0, m2 = 0, lo = 1, hi = 0;
    for (size_t i = 0; i < n; i++) {
        double u = fm_stream_uniform(&s);
        if (u < lo) lo = u;
        if (u > hi) hi = u;
        m1 += u, m2 += (u - 0.5) * (u - 0.5);
        hist[(int)(u * BINS)]++;
    }
    m1 /= n, m2 /= n;
    double rn = sqrt((double)n);
    printf("uniform n=%zu: mean %.5f var %.6f min %.3g max 1-%.3g\n", n, m1, m2, lo, 1 - hi);
    T_CHECK(lo > 0.0 && hi < 1.0, "uniforms strictly inside (0,1): min %.17g max %.17g", lo, hi);
    T_CLOSE(m1, 0.5, 5.0 * sqrt(1.0 / 12.0) / rn, "uniform mean");
    /* Var((u - 1/2)^2) = 1/80 - 1/144 */
    T_CLOSE(m2, 1.0 / 12.0, 5.0 * sqrt(1.0 / 80.0 - 1.0 / 144.0) / rn, "uniform variance");
    /* chi-square on 100 equal bins: 99 degrees of freedom, mean 99, sd sqrt(198) */
    double e = (double)n / BINS, chi2 = 0;
    for (int b = 0; b < BINS; b++) chi2 += (hist[b] - e) * (hist[b] - e) / e;
    printf("uniform chi2 (99 dof) = %.1f\n", chi2);
    T_CHECK(chi2 < 99.0 + 5.0 * sqrt(198.0), "uniform chi-square %.1f too large", chi2);

    /* the extreme grid values are inside (0, 1): ((2^52 - 1) + 0.5) * 2^-52 < 1 and 0.5 * 2^-52 > 0 */
    T_CHECK(((double)((1ULL << 52) - 1) + 0.5) * 0x1p-52 < 1.0, "largest uniform < 1");
    T_CHECK(0.5 * 0x1p-52 > 0.0, "smallest uniform > 0");

    /* rademacher and u32 bit balance */
    fm_stream_init(&s, 7, 0, 0, FM_RNG_PROBE);
    double rs = 0;
    int pm = 1;
    for (size_t i = 0; i < n; i++) {
        double r = fm_stream_rademacher(&s);
        pm &= (r == 1.0 || r == -1.0);
        rs += r;
    }
    T_CHECK(pm, "rademacher values are +-1");
    T_CLOSE(rs / n, 0.0, 5.0 / rn, "rademacher mean");
    size_t bits[32] = {0};
    const size_t nw = 200000;
    for (size_t i = 0; i < nw; i++) {
        uint32_t w = fm_stream_u32(&s);
        for (int b = 0; b < 32; b++) bits[b] += (w >> b) & 1u;
    }
    for (int b = 0; b < 32; b++)
        T_CLOSE((double)bits[b] / nw, 0.5, 5.0 * 0.5 / sqrt((double)nw), "u32 bit frequency");
}

static int same_words(FmStream *a, FmStream *b, int n) {
    int same = 1;
    for (int i = 0; i < n; i++) same &= fm_stream_u32(a) == fm_stream_u32(b);
    return same;
}

static void test_determinism_and_keys(void) {
    const uint64_t seed = 0xdeadbeef00c0ffeeULL;
    FmStream a, b;

    /* same key -> the same sequence, through a mix of draw kinds */
    fm_stream_init(&a, seed, 5, 9, FM_RNG_DATA);
    fm_stream_init(&b, seed, 5, 9, FM_RNG_DATA);
    int same = 1;
    for (int i = 0; i < 1000; i++) {
        same &= fm_stream_uniform(&a) == fm_stream_uniform(&b);
        same &= fm_stream_normal(&a) == fm_stream_normal(&b);
        same &= fm_stream_rademacher(&a) == fm_stream_rademacher(&b);
        same &= fm_stream_u32(&a) == fm_stream_u32(&b);
    }
    T_CHECK(same, "same key gives the same sequence");

    /* changing any one key component changes the stream (first 64 words compared) */
    struct {
        uint64_t seed, step, index;
        uint32_t purpose;
        const char *what;
    } other[] = {
        {seed + 1, 5, 9, FM_RNG_DATA, "seed low word"},
        {seed ^ (1ULL << 40), 5, 9, FM_RNG_DATA, "seed high word"},
        {seed, 6, 9, FM_RNG_DATA, "step"},
        {seed, 5, 10, FM_RNG_DATA, "index"},
        {seed, 5, 9, FM_RNG_TIME, "purpose"},
        {seed, 9, 5, FM_RNG_DATA, "step and index swapped"},
    };
    for (size_t k = 0; k < sizeof other / sizeof other[0]; k++) {
        fm_stream_init(&a, seed, 5, 9, FM_RNG_DATA);
        fm_stream_init(&b, other[k].seed, other[k].step, other[k].index, other[k].purpose);
        int eq = 0;
        for (int i = 0; i < 64; i++) eq += fm_stream_u32(&a) == fm_stream_u32(&b);
        T_CHECK(eq <= 2, "changing the %s leaves %d of 64 words equal", other[k].what, eq);
    }
    /* sanity of the helper: identical keys agree */
    fm_stream_init(&a, seed, 5, 9, FM_RNG_DATA);
    fm_stream_init(&b, seed, 5, 9, FM_RNG_DATA);
    T_CHECK(same_words(&a, &b, 64), "identical keys agree");

    /* streams of different purposes for the same sample are uncorrelated:
     * Pearson correlation over n samples has standard error 1/sqrt(n) */
    const size_t n = 200000;
    double sxy = 0, sx = 0, sy = 0, sxx = 0, syy = 0;
    for (size_t j = 0; j < n; j++) {
        fm_stream_init(&a, 1, 0, j, FM_RNG_TIME);
        fm_stream_init(&b, 1, 0, j, FM_RNG_NOISE);
        double x = fm_stream_normal(&a), y = fm_stream_normal(&b);
        sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
    }
    double cxy = sxy / n - (sx / n) * (sy / n);
    double corr = cxy / sqrt((sxx / n - (sx / n) * (sx / n)) * (syy / n - (sy / n) * (sy / n)));
    T_CLOSE(corr, 0.0, 5.0 / sqrt((double)n), "correlation of TIME and NOISE streams across samples");
}

/* Drawing sample i's values must not depend on other samples: initialise and draw in
 * sample order in one pass, then initialise in reverse order and draw round-robin in a
 * scrambled order; every value must be bit-identical. */
static void test_order_independence(void) {
    enum { NS = 64, ND = 11 };
    static FmStream st[NS];
    static double fwd[NS][ND], mix[NS][ND];
    for (int i = 0; i < NS; i++) {
        FmStream s;
        fm_stream_init(&s, 2024, 17, (uint64_t)i * 1000003u, FM_RNG_NOISE);
        for (int d = 0; d < ND; d++) fwd[i][d] = fm_stream_normal(&s);
    }
    for (int i = NS - 1; i >= 0; i--) fm_stream_init(&st[i], 2024, 17, (uint64_t)i * 1000003u, FM_RNG_NOISE);
    for (int d = 0; d < ND; d++)
        for (int k = 0; k < NS; k++) {
            int i = (k * 37 + d) % NS; /* 37 is coprime to 64: a permutation per round */
            mix[i][d] = fm_stream_normal(&st[i]);
        }
    T_CHECK(memcmp(fwd, mix, sizeof fwd) == 0, "draws depend only on the sample's own key");
}

/* index or step >= 2^32 must be fatal: the abort hook longjmps back here. */
static jmp_buf g_jmp;
static void jump_hook(int code) { longjmp(g_jmp, code ? code : 1); }

static void test_range_checks(void) {
    FmStream s;
    fm_set_abort_hook(jump_hook);
    volatile int fatal = 0;
    fprintf(stderr, "(two expected fatal messages follow)\n");
    if (setjmp(g_jmp) == 0)
        fm_stream_init(&s, 1, 1ULL << 32, 0, FM_RNG_DATA);
    else
        fatal++;
    if (setjmp(g_jmp) == 0)
        fm_stream_init(&s, 1, 0, 1ULL << 32, FM_RNG_DATA);
    else
        fatal++;
    T_CHECK(fatal == 2, "step or index >= 2^32 is fatal (%d of 2)", fatal);
    /* the largest allowed values are accepted */
    fm_stream_init(&s, UINT64_MAX, UINT32_MAX, UINT32_MAX, FM_RNG_DATA);
    T_CHECK(s.ctr[2] == UINT32_MAX && s.ctr[3] == UINT32_MAX && s.key[0] == UINT32_MAX && s.key[1] == UINT32_MAX,
            "largest key accepted");
    fm_set_abort_hook(NULL);
}

/* fm_permute is a bijection of [0, n) for every n (including non-powers of two and tiny n),
 * depends on the epoch and seed, and mixes: the correlation of position and item is ~0. */
static void test_permute(void) {
    const uint64_t sizes[] = {1, 2, 3, 7, 10, 1000, 60000, (1u << 20) + 3};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const uint64_t n = sizes[k];
        unsigned char *seen = calloc(n, 1);
        size_t bad = 0, fixed = 0;
        double sxy = 0, sx = 0;
        for (uint64_t p = 0; p < n; p++) {
            uint64_t x = fm_permute(p, n, 5, 3);
            if (x >= n || seen[x]) bad++;
            else seen[x] = 1;
            fixed += x == p;
            sxy += ((double)p - (n - 1) / 2.0) * ((double)x - (n - 1) / 2.0);
            sx += ((double)p - (n - 1) / 2.0) * ((double)p - (n - 1) / 2.0);
        }
        T_CHECK(bad == 0, "fm_permute n=%llu: %zu positions map outside or onto a taken item", (unsigned long long)n, bad);
        if (n >= 1000) {
            double corr = sxy / sx; /* correlation of position and item (both uniform on [0, n)) */
            T_CHECK(fabs(corr) < 5.0 / sqrt((double)n), "fm_permute n=%llu: position/item correlation %.4f", (unsigned long long)n, corr);
            T_CHECK(fixed < 10, "fm_permute n=%llu: %zu fixed points (expected ~1)", (unsigned long long)n, fixed);
            size_t same_e = 0, same_s = 0;
            for (uint64_t p = 0; p < 1000; p++) {
                same_e += fm_permute(p, n, 5, 3) == fm_permute(p, n, 5, 4);
                same_s += fm_permute(p, n, 5, 3) == fm_permute(p, n, 6, 3);
            }
            T_CHECK(same_e < 20 && same_s < 20, "fm_permute n=%llu: epochs/seeds barely differ (%zu, %zu of 1000 equal)",
                    (unsigned long long)n, same_e, same_s);
        }
        free(seen);
    }
    printf("fm_permute: bijection on n = 1, 2, 3, 7, 10, 1000, 60000, 2^20+3; epochs and seeds give different orders\n");
}

/* The batch's vectorised Box-Muller (its own log and sincos) against fm_stream_normal (libm's),
 * on 2^20 pairs from a stream plus the extreme uniforms: as floats, equal or one ulp apart. */
static void test_box_muller_batch(void) {
    enum { N = 1 << 20, X = 6 };
    double *u = malloc((N + X) * 2 * sizeof *u);
    float *z = malloc((N + X) * 2 * sizeof *z);
    float *want = malloc((N + X) * 2 * sizeof *want);
    FmStream s, w;
    fm_stream_init(&s, 11, 3, 5, FM_RNG_NOISE);
    w = s;
    for (size_t k = 0; k < 2 * (size_t)N; k++) u[k] = fm_stream_uniform(&s);
    for (size_t k = 0; k < 2 * (size_t)N; k++) want[k] = (float)fm_stream_normal(&w);
    const double lo = 0.5 * 0x1p-52, hi = ((double)((1ULL << 52) - 1) + 0.5) * 0x1p-52; /* the extreme uniforms */
    const double ext[X][2] = {{lo, lo}, {lo, hi}, {hi, lo}, {hi, hi}, {0.5, 0.25}, {0x1p-30, 0.75}};
    for (int k = 0; k < X; k++) {
        const double r = sqrt(-2.0 * log(ext[k][0])), a = 2.0 * FM_PI * ext[k][1];
        u[2 * (N + k)] = ext[k][0], u[2 * (N + k) + 1] = ext[k][1];
        want[2 * (N + k)] = (float)(r * cos(a)), want[2 * (N + k) + 1] = (float)(r * sin(a));
    }
    fm_box_muller_f(z, u, N + X);
    size_t equal = 0, over = 0;
    for (size_t k = 0; k < 2 * (size_t)(N + X); k++) {
        if (z[k] == want[k]) {
            equal++;
            continue;
        }
        const float up = nextafterf(want[k], INFINITY), down = nextafterf(want[k], -INFINITY);
        /* one ulp, or (near a zero of cos or sin) within 1e-15 absolute of the libm value */
        if (!(z[k] == up || z[k] == down || fabsf(z[k] - want[k]) < 1e-15f)) over++;
    }
    printf("RESULT rng: vectorised Box-Muller vs fm_stream_normal on %d values: %.4f%% equal as floats, "
           "%zu more than one ulp apart\n", 2 * (N + X), 100.0 * (double)equal / (2.0 * (N + X)), over);
    T_CHECK(over == 0, "%zu vectorised normals differ from fm_stream_normal's by more than one float ulp", over);
    T_CHECK((double)equal > 0.99 * 2.0 * (N + X), "only %zu of %d vectorised normals equal fm_stream_normal's", equal,
            2 * (N + X));
    free(u), free(z), free(want);
}

/* fm_stream_uniforms (many streams at once, vectorised Philox) against fm_stream_uniform on
 * one fresh stream per row: every value equal, for odd and even counts per row, row counts
 * around the 64-lane chunks, seeds with both halves set and indices near the top of the word. */
static void test_stream_uniforms(void) {
    static const size_t ns[] = {1, 63, 64, 65, 300};
    static const uint64_t seeds[] = {0, 7, 0x9e3779b97f4a7c15ull};
    static const uint64_t index0s[] = {0, 12345, (uint64_t)UINT32_MAX - 299};
    size_t checked = 0, differ = 0;
    double *u = malloc(300 * 7 * sizeof *u);
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t nu = 1; nu <= 7; nu++)
            for (size_t b = 0; b < 3; b++)
                for (size_t c = 0; c < 3; c++) {
                    const size_t n = ns[a];
                    const uint64_t step = 1000 * b + c, i0 = index0s[c];
                    fm_stream_uniforms(u, nu, seeds[b], step, i0, n, FM_RNG_NOISE);
                    for (size_t i = 0; i < n; i++) {
                        FmStream st;
                        fm_stream_init(&st, seeds[b], step, i0 + i, FM_RNG_NOISE);
                        for (size_t j = 0; j < nu; j++, checked++) differ += u[i * nu + j] != fm_stream_uniform(&st);
                    }
                }
    printf("RESULT rng: fm_stream_uniforms vs fm_stream_uniform: %zu values, %zu differ\n", checked, differ);
    T_CHECK(differ == 0, "%zu of %zu vectorised uniforms differ from the stream's", differ, checked);
    free(u);
}

/* The parameter checksum (fm_hash_bytes) sees every bit: each single-bit flip of a buffer, and
 * each pair of flipped sign bits of floats in different words (which a plain word-wise FNV would
 * cancel), changes it; so do the length and the position of the words. */
static void test_hash(void) {
    unsigned char buf[1000];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 37 + 11);
    const uint64_t h0 = fm_hash_bytes(buf, sizeof buf);
    int same = 0;
    for (size_t i = 0; i < sizeof buf; i++)
        for (int b = 0; b < 8; b++) {
            buf[i] ^= (unsigned char)(1u << b);
            same += fm_hash_bytes(buf, sizeof buf) == h0;
            buf[i] ^= (unsigned char)(1u << b);
        }
    T_CHECK(same == 0, "hash: %d of 8000 single-bit flips left the hash unchanged", same);
    float f[256];
    for (int i = 0; i < 256; i++) f[i] = (float)i - 100.5f;
    const uint64_t hf = fm_hash_bytes(f, sizeof f);
    same = 0;
    for (int i = 0; i < 256; i++)
        for (int j = i + 1; j < 256; j++) {
            f[i] = -f[i], f[j] = -f[j];
            same += fm_hash_bytes(f, sizeof f) == hf;
            f[i] = -f[i], f[j] = -f[j];
        }
    T_CHECK(same == 0, "hash: %d of 32640 pairs of sign flips left the hash unchanged", same);
    unsigned char zero[96] = {0};
    uint64_t hz[97];
    for (size_t n = 0; n <= 96; n++) hz[n] = fm_hash_bytes(zero, n);
    same = 0;
    for (size_t a = 0; a <= 96; a++)
        for (size_t b = a + 1; b <= 96; b++) same += hz[a] == hz[b];
    T_CHECK(same == 0, "hash: %d pairs of zero buffers of different lengths hash alike", same);
    float g[64] = {0};
    g[3] = 1.0f;
    const uint64_t h3 = fm_hash_bytes(g, sizeof g);
    g[3] = 0.0f, g[11] = 1.0f; /* the same word in another lane */
    T_CHECK(fm_hash_bytes(g, sizeof g) != h3, "hash: a value moved to another position hashes alike");
}

int main(void) {
    test_hash();
    test_permute();
    test_stream_uniforms();
    test_kat();
    test_layout();
    test_normal_moments();
    test_box_muller_batch();
    test_uniform();
    test_determinism_and_keys();
    test_order_independence();
    test_range_checks();
    return T_DONE();
}
