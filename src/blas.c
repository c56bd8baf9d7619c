/* blas.c - make sure OpenBLAS uses the kernels this CPU can run.
 *
 * OpenBLAS (Debian's DYNAMIC_ARCH build) picks its kernels from the CPU model number when the
 * library loads. For a model it does not know (0.3.21 and, e.g., recent Xeons) it falls back
 * to its generic SSE3 "Prescott" kernels, which run sgemm 2-4x slower than the AVX2/AVX-512
 * ones the CPU supports. The choice can only be overridden by OPENBLAS_CORETYPE before the
 * library loads, so when the variable is unset and the choice is such a fallback, fmtrain
 * sets it and executes itself again (before MPI starts; the process keeps its PID). */
#define _GNU_SOURCE
#include "fm/blas.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *best_core(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

/* Kernel sets at least as good as the best generic choice for each level. */
static int core_is_fine(const char *core, const char *best) {
    static const char *AVX512[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    static const char *AVX2[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    const char **ok = !strcmp(best, "SkylakeX") ? AVX512 : AVX2;
    for (int i = 0; ok[i]; i++)
        if (!strcasecmp(core, ok[i])) return 1;
    return 0;
}

void fm_blas_fix_core(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return; /* the user's choice, or ours after the exec */
    const char *core = openblas_get_corename(), *best = best_core();
    if (!core || !best || core_is_fine(core, best)) return;
    setenv("OPENBLAS_CORETYPE", best, 1);
    setenv("FMTRAIN_BLAS_FALLBACK", core, 1); /* for fm_blas_describe */
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* the exec failed: carry on with the slow kernels */
    unsetenv("FMTRAIN_BLAS_FALLBACK");
}

void fm_blas_describe(char *buf, size_t size) {
    const char *fallback = getenv("FMTRAIN_BLAS_FALLBACK"), *core = openblas_get_corename(), *best = best_core();
    if (fallback)
        snprintf(buf, size, "OpenBLAS %s kernels (set by fmtrain: OpenBLAS chose %s on this CPU)", core, fallback);
    else if (getenv("OPENBLAS_CORETYPE") && best && !core_is_fine(core, best))
        /* the environment's choice is kept, but it costs: on AMD Zen 5, Haswell's AVX2 kernels ran
         * sgemm at 86-98 GFLOP/s on 1 thread where SkylakeX's reached 159-186, with the same errors */
        snprintf(buf, size, "OpenBLAS %s kernels, as OPENBLAS_CORETYPE asks; this CPU runs %s's, often faster", core, best);
    else
        snprintf(buf, size, "OpenBLAS %s kernels", core);
}
