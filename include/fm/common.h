/* common.h - always-on checks, fatal errors with an abort hook, small helpers.
 *
 * FM_CHECK(cond, fmt, ...) is independent of NDEBUG. On failure it prints
 *   [rank r] file:line: message
 * to stderr and calls the abort hook (MPI_Abort once MPI is up, exit(1) before),
 * so that a fatal error on one rank ends all of them.
 *
 * Recoverable errors (bad input) are reported through fm_err_set(): the function
 * returns non-zero and the message is kept in a per-process buffer, to be printed
 * once by the caller after the ranks have agreed that something failed.
 */
#ifndef FM_COMMON_H
#define FM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define FM_VERSION "0.1.0"
#define FM_PI 3.14159265358979323846

/* Exit codes of the fmtrain binary (documented in the README). */
enum { FM_EXIT_OK = 0, FM_EXIT_FATAL = 1, FM_EXIT_USAGE = 2 };

typedef void (*FmAbortHook)(int code);

void fm_set_abort_hook(FmAbortHook hook);
void fm_set_rank(int rank);
int fm_rank(void);

/* Prints "[rank r] file:line: message" and calls the abort hook. Never returns. */
_Noreturn void fm_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define FM_CHECK(cond, ...)                                   \
    do {                                                      \
        if (!(cond)) fm_fatal_at(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

/* Recoverable errors: set the message (printf-style), returns -1 for convenience. */
int fm_err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *fm_err_msg(void);
void fm_err_clear(void);

/* Allocation that never returns NULL (fatal on failure); zero-filled. */
void *fm_calloc(size_t n, size_t size);
void *fm_malloc_floats(size_t n); /* 64-byte aligned, zero-filled float array */
void *fm_malloc_aligned(size_t n, size_t size); /* 64-byte aligned, zero-filled array of n items */

/* Monotonic wall clock in seconds. */
double fm_now(void);

/* Resident memory of this process now, and its peak so far, in bytes (Linux). */
double fm_rss_bytes(void);
double fm_peak_rss_bytes(void);

/* A 64-bit hash of a byte buffer, FNV-1a's step on words in four lanes (the cross-rank
 * parameter checksum); not a stored format, only compared within a run. */
uint64_t fm_hash_bytes(const void *buf, size_t n);

/* Safe string copy: always terminates, returns -1 (with fm_err_set) when truncated. */
int fm_strlcpy(char *dst, const char *src, size_t size);

#endif
