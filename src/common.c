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

uint64_t fm_hash_bytes(const void *buf, size_t n) {
    const unsigned char *p = buf;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
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
