/* common.c - fatal errors with an abort hook, recoverable error messages, helpers. */
#define _POSIX_C_SOURCE 200809L
#include "fm/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static FmAbortHook g_abort_hook = NULL;
static int g_rank = 0;
static char g_err[1024];

void fm_set_abort_hook(FmAbortHook hook) { g_abort_hook = hook; }
void fm_set_rank(int rank) { g_rank = rank; }
int fm_rank(void) { return g_rank; }

_Noreturn void fm_fatal_at(const char *file, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    fprintf(stderr, "[rank %d] %s:%d: %s\n", g_rank, base ? base + 1 : file, line, msg);
    fflush(stderr);
    if (g_abort_hook) g_abort_hook(FM_EXIT_FATAL);
    exit(FM_EXIT_FATAL);
}

int fm_err_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return -1;
}

const char *fm_err_msg(void) { return g_err[0] ? g_err : "unknown error"; }
void fm_err_clear(void) { g_err[0] = '\0'; }

void *fm_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    FM_CHECK(p != NULL, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *fm_malloc_aligned(size_t n, size_t size) {
    FM_CHECK(size == 0 || n <= SIZE_MAX / 2 / size, "allocation of %zu x %zu bytes overflows", n, size);
    size_t bytes = (n ? n : 1) * size;
    bytes = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    FM_CHECK(p != NULL, "out of memory allocating %zu bytes", bytes);
    memset(p, 0, bytes);
    return p;
}

void *fm_malloc_floats(size_t n) { return fm_malloc_aligned(n, sizeof(float)); }

double fm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double fm_rss_bytes(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

double fm_peak_rss_bytes(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) ? 0.0 : 1024.0 * (double)ru.ru_maxrss; /* ru_maxrss is in KiB */
}

/* FNV-1a's step (xor, multiply by its prime) on 8-byte words, with a fold of the high half back
 * into the low (so that a word's high bits reach every bit), in eight independent lanes: FNV-1a
 * byte by byte is one long dependency chain (19-23 ms for the image MLP's 15 MB of parameters
 * here, this 3.1). The lanes, the tail bytes and the length are then combined, and mixed by SplitMix64's
 * finaliser. */
#define HASH_LANES 8
uint64_t fm_hash_bytes(const void *buf, size_t n) {
    const unsigned char *p = buf;
    const uint64_t prime = 1099511628211ULL;
    uint64_t h[HASH_LANES];
    for (int l = 0; l < HASH_LANES; l++) h[l] = 1469598103934665603ULL ^ (uint64_t)l;
    size_t i = 0;
    for (; i + 8 * HASH_LANES <= n; i += 8 * HASH_LANES) {
        uint64_t w[HASH_LANES];
        memcpy(w, p + i, sizeof w);
        for (int l = 0; l < HASH_LANES; l++) {
            const uint64_t x = (h[l] ^ w[l]) * prime;
            h[l] = x ^ (x >> 32);
        }
    }
    uint64_t r = (uint64_t)n;
    for (int l = 0; l < HASH_LANES; l++) r = ((r ^ h[l]) * prime) ^ (r >> 29);
    for (; i < n; i++) r = (r ^ p[i]) * prime;
    r ^= r >> 30, r *= 0xbf58476d1ce4e5b9ULL;
    r ^= r >> 27, r *= 0x94d049bb133111ebULL;
    return r ^ (r >> 31);
}

int fm_strlcpy(char *dst, const char *src, size_t size) {
    size_t n = strlen(src);
    if (n >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return fm_err_set("string too long (%zu characters, at most %zu): '%.40s...'", n, size - 1, src);
    }
    memcpy(dst, src, n + 1);
    return 0;
}
