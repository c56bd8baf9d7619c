/* testutil.h - a minimal test harness for the C unit tests.
 *
 * T_CHECK(cond, fmt, ...) records a failure (with file:line) and goes on;
 * T_CLOSE(a, b, tol, what) checks |a - b| <= tol;
 * T_DONE() prints "<test>: N checks, N failed" and returns the exit status (non-zero on failure).
 * Each test binary is one test of the suite (tests/run.sh counts binaries).
 */
#ifndef FM_TESTUTIL_H
#define FM_TESTUTIL_H

#include <math.h>
#include <stdio.h>

static int t_checks = 0, t_failed = 0;

#define T_CHECK(cond, ...)                                                 \
    do {                                                                   \
        t_checks++;                                                        \
        if (!(cond)) {                                                     \
            t_failed++;                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
        }                                                                  \
    } while (0)

#define T_CLOSE(a, b, tol, what)                                                           \
    do {                                                                                   \
        double t_a_ = (double)(a), t_b_ = (double)(b);                                     \
        T_CHECK(fabs(t_a_ - t_b_) <= (tol), "%s: %.12g vs %.12g (|diff| %.3g > tol %.3g)", \
                (what), t_a_, t_b_, fabs(t_a_ - t_b_), (double)(tol));                     \
    } while (0)

#define T_DONE()                                                                      \
    (printf("%s: %d checks, %d failed\n", __FILE__, t_checks, t_failed), t_failed ? 1 : 0)

#endif
