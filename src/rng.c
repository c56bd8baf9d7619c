/* rng.c - counter-based random streams on Philox4x32-10 (Debian's Random123 header).
 *
 * SPEC.md "Toy data" and rng.h: every draw is a pure function of (seed, step, index,
 * purpose), so results do not depend on the number of ranks, on thread or rank order,
 * or on other samples' draws, and a resumed run needs no generator state but (seed, step).
 *
 * One stream is the sequence of Philox blocks
 *   out_b = Philox4x32-10(ctr = {b, purpose, index, step}, key = {seed lo, seed hi}),
 * b = 0, 1, 2, ...; its words are handed out in order out_0[0..3], out_1[0..3], ...
 *
 * Word consumption (fixed, so a data item uses a known slice of its stream):
 *   fm_stream_u32        1 word
 *   fm_stream_uniform    2 words
 *   fm_stream_normal     4 words (two uniforms) for every second call; the other call
 *                        returns the cached second value of the Box-Muller pair
 *   fm_stream_rademacher 1 word
 */
#include "fm/rng.h"

#include <math.h>
#include <string.h>

#include <Random123/philox.h>

#include "fm/common.h"
#include "vec.h"

void fm_philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]) {
    philox4x32_ctr_t c = {{ctr[0], ctr[1], ctr[2], ctr[3]}};
    philox4x32_key_t k = {{key[0], key[1]}};
    philox4x32_ctr_t r = philox4x32_R(10, c, k);
    for (int i = 0; i < 4; i++) out[i] = r.v[i];
}

void fm_stream_init(FmStream *s, uint64_t seed, uint64_t step, uint64_t index, uint32_t purpose) {
    FM_CHECK(step <= UINT32_MAX, "random stream: step %llu does not fit the 32-bit counter word",
             (unsigned long long)step);
    FM_CHECK(index <= UINT32_MAX, "random stream: sample index %llu does not fit the 32-bit counter word",
             (unsigned long long)index);
    memset(s, 0, sizeof *s);
    s->key[0] = (uint32_t)(seed & 0xffffffffu);
    s->key[1] = (uint32_t)(seed >> 32);
    s->ctr[0] = 0; /* block number within the stream */
    s->ctr[1] = purpose;
    s->ctr[2] = (uint32_t)index;
    s->ctr[3] = (uint32_t)step;
    s->pos = 4; /* buffer empty: the first draw generates block 0 */
    s->has_spare = 0;
    s->spare = 0.0;
}

uint32_t fm_stream_u32(FmStream *s) {
    if (s->pos >= 4) {
        /* 2^32 blocks = 16 GiB per stream; no caller comes near it, but wrapping would
         * silently repeat the stream, so it is fatal rather than undefined. */
        FM_CHECK(s->ctr[0] != UINT32_MAX, "random stream exhausted (2^32 blocks drawn)");
        fm_philox4x32_10(s->buf, s->ctr, s->key);
        s->ctr[0]++;
        s->pos = 0;
    }
    return s->buf[s->pos++];
}

/* Uniform on the open interval (0, 1): the two words form x = (w0 << 32) | w1 and the
 * result is ((x >> 12) + 0.5) * 2^-52, i.e. one of the 2^52 values {1, 3, 5, ..., 2^53 - 1} / 2^53
 * (Random123's u01fixedpt_open_open_64_53). Every value has a 53-bit mantissa and is exact,
 * the grid is symmetric about 1/2 (mean exactly 1/2), and 0 and 1 can never occur, so
 * log(u) in Box-Muller is always finite. (Using all 53 bits as (u + 0.5) * 2^-53 would not
 * work: 1 - 2^-54 is not a double and rounds to 1.0.) */
double fm_stream_uniform(FmStream *s) {
    uint64_t hi = fm_stream_u32(s);
    uint64_t lo = fm_stream_u32(s);
    uint64_t x = (hi << 32) | lo;
    return ((double)(x >> 12) + 0.5) * 0x1p-52;
}

/* Philox4x32-10 for lanes of one block number: out[4 i + w] = word w of block b of the
 * stream (seed, step, index0 + i, purpose), i < n, in plain C over the lanes, which the
 * compiler vectorises (GCC 12 multiplies in 64-bit lanes; the toy w64 step gains 3 %, its draws
 * 5.9 -> 3.1 % of a profile); the same rounds and key schedule as Random123's
 * philox4x32_R(10, ...) (test_rng compares every value with fm_stream_uniform's). */
VEC_CLONES static void philox_lanes(uint32_t *restrict out, uint32_t b, uint32_t purpose, uint32_t index0,
                                    uint32_t step, uint32_t k0, uint32_t k1, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) {
        uint32_t c0 = b, c1 = purpose, c2 = index0 + (uint32_t)i, c3 = step, ka = k0, kb = k1;
        for (int r = 0; r < 10; r++) {
            const uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
            const uint32_t h0 = (uint32_t)(p0 >> 32), l0 = (uint32_t)p0, h1 = (uint32_t)(p1 >> 32), l1 = (uint32_t)p1;
            c0 = h1 ^ c1 ^ ka, c1 = l1, c2 = h0 ^ c3 ^ kb, c3 = l0;
            ka += 0x9E3779B9u, kb += 0xBB67AE85u;
        }
        out[4 * i] = c0, out[4 * i + 1] = c1, out[4 * i + 2] = c2, out[4 * i + 3] = c3;
    }
}

void fm_stream_uniforms(double *u, size_t nu, uint64_t seed, uint64_t step, uint64_t index0, size_t n,
                        uint32_t purpose) {
    FM_CHECK(step <= UINT32_MAX && index0 + n <= (uint64_t)UINT32_MAX + 1,
             "random stream: step %llu or sample index %llu does not fit the 32-bit counter word",
             (unsigned long long)step, (unsigned long long)(index0 + n - 1));
    enum { LANES = 64 };
    uint32_t w[4 * LANES];
    for (size_t i0 = 0; i0 < n; i0 += LANES) {
        const size_t c = n - i0 < LANES ? n - i0 : LANES;
        for (size_t j = 0; j < nu; j += 2) { /* block j / 2 holds uniforms j and j + 1 */
            philox_lanes(w, (uint32_t)(j / 2), purpose, (uint32_t)(index0 + i0), (uint32_t)step, (uint32_t)seed,
                         (uint32_t)(seed >> 32), c);
            for (size_t i = 0; i < c; i++)
                for (size_t h = 0; h < 2 && j + h < nu; h++) {
                    const uint64_t x = ((uint64_t)w[4 * i + 2 * h] << 32) | w[4 * i + 2 * h + 1];
                    u[(i0 + i) * nu + j + h] = ((double)(x >> 12) + 0.5) * 0x1p-52;
                }
        }
    }
}

/* Box-Muller: with u1, u2 uniform on (0, 1),
 *   r = sqrt(-2 ln u1),  z0 = r cos(2 pi u2),  z1 = r sin(2 pi u2)
 * are independent standard normals. z0 is returned now and z1 on the next call. In double
 * throughout: the smallest u1 is 2^-53, so |z| <= sqrt(2 * 53 ln 2) ~ 8.57. */
double fm_stream_normal(FmStream *s) {
    if (s->has_spare) {
        s->has_spare = 0;
        return s->spare;
    }
    double u1 = fm_stream_uniform(s);
    double u2 = fm_stream_uniform(s);
    double r = sqrt(-2.0 * log(u1));
    double a = 2.0 * FM_PI * u2;
    s->spare = r * sin(a);
    s->has_spare = 1;
    return r * cos(a);
}

VEC_CLONES void fm_box_muller_f(float *restrict z, const double *restrict u, size_t n) {
    #pragma omp simd
    for (size_t k = 0; k < n; k++) {
        const double r = sqrt(-2.0 * fast_log(u[2 * k])), a = 2.0 * FM_PI * u[2 * k + 1];
        double sn, cs;
        fast_sincos(a, &sn, &cs);
        z[2 * k] = (float)(r * cs);
        z[2 * k + 1] = (float)(r * sn);
    }
}

/* Rademacher +-1 from the top bit of one word (Philox output bits are all equally good). */
double fm_stream_rademacher(FmStream *s) { return (fm_stream_u32(s) >> 31) ? 1.0 : -1.0; }

/* One Feistel round function: Philox of (right half, round, epoch) keyed by the seed. */
static uint64_t feistel_round(uint64_t r, int round, uint64_t seed, uint64_t epoch) {
    uint32_t ctr[4] = {(uint32_t)r, (uint32_t)(r >> 32), (uint32_t)round | ((uint32_t)FM_RNG_PERM << 8),
                       (uint32_t)epoch};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    fm_philox4x32_10(out, ctr, key);
    return (uint64_t)out[0] | ((uint64_t)out[1] << 32);
}

uint64_t fm_permute(uint64_t pos, uint64_t n, uint64_t seed, uint64_t epoch) {
    FM_CHECK(pos < n, "fm_permute: position %llu outside [0, %llu)", (unsigned long long)pos, (unsigned long long)n);
    if (n <= 1) return 0;
    int bits = 1;
    while (bits < 64 && ((uint64_t)1 << bits) < n) bits++;
    const int half = (bits + 1) / 2; /* domain 2^(2 half) >= n, at most 4 n: few walks */
    const uint64_t mask = ((uint64_t)1 << half) - 1;
    uint64_t x = pos;
    do {
        uint64_t l = x >> half, r = x & mask;
        for (int round = 0; round < 4; round++) {
            uint64_t nl = r, nr = (l ^ feistel_round(r, round, seed, epoch)) & mask;
            l = nl, r = nr;
        }
        x = (l << half) | r;
    } while (x >= n); /* cycle-walking: a bijection of [0, 2^(2 half)) restricted to [0, n) */
    return x;
}
