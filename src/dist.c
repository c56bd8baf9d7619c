/* dist.c - MPI behind small named intents (the only file that includes <mpi.h>). */
#define _POSIX_C_SOURCE 200809L
#include "fm/dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>

#include "fm/common.h"

static int g_rank = 0, g_size = 1, g_up = 0;

static void abort_hook(int code) {
    if (g_up) MPI_Abort(MPI_COMM_WORLD, code);
}

#define MPI_OK(call, what)                                                 \
    do {                                                                   \
        int rc_ = (call);                                                  \
        if (rc_ != MPI_SUCCESS) {                                          \
            char s_[MPI_MAX_ERROR_STRING];                                 \
            int l_ = 0;                                                    \
            MPI_Error_string(rc_, s_, &l_);                                \
            FM_CHECK(0, "MPI error in %s: %s", (what), s_);                \
        }                                                                  \
    } while (0)

void fm_dist_init(int *argc, char ***argv) {
    MPI_OK(MPI_Init(argc, argv), "MPI_Init");
    g_up = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    fm_set_rank(g_rank);
    fm_set_abort_hook(abort_hook);
}

void fm_dist_finalize(void) {
    if (!g_up) return;
    g_up = 0;
    fm_set_abort_hook(NULL);
    MPI_Finalize();
}

int fm_dist_rank(void) { return g_rank; }
int fm_dist_size(void) { return g_size; }

/* MPI counts are int: large buffers go in chunks. */
#define CHUNK ((size_t)1 << 30)

void fm_dist_sum_floats(float *buf, size_t n) {
    if (g_size == 1) return;
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t c = n - off < CHUNK ? n - off : CHUNK;
        MPI_OK(MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
               "MPI_Allreduce(floats)");
    }
}

static MPI_Request g_isum = MPI_REQUEST_NULL;

void fm_dist_isum_floats_start(float *buf, size_t n) {
    FM_CHECK(g_isum == MPI_REQUEST_NULL, "fm_dist_isum_floats_start: a sum is already outstanding");
    FM_CHECK(n < CHUNK, "fm_dist_isum_floats_start: %zu values is too many", n);
    if (g_size == 1) return;
    MPI_OK(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &g_isum), "MPI_Iallreduce");
}

int fm_dist_isum_poll(void) {
    if (g_isum == MPI_REQUEST_NULL) return 1;
    int done = 0;
    MPI_OK(MPI_Test(&g_isum, &done, MPI_STATUS_IGNORE), "MPI_Test");
    return done;
}

void fm_dist_isum_wait(void) {
    if (g_isum != MPI_REQUEST_NULL) MPI_OK(MPI_Wait(&g_isum, MPI_STATUS_IGNORE), "MPI_Wait");
}

void fm_dist_sum_doubles(double *buf, size_t n) {
    if (g_size == 1) return;
    FM_CHECK(n < CHUNK, "fm_dist_sum_doubles: %zu values is too many", n);
    MPI_OK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
           "MPI_Allreduce(doubles)");
}

void fm_dist_reduce_floats(float *buf, size_t n) {
    if (g_size == 1) return;
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t c = n - off < CHUNK ? n - off : CHUNK;
        MPI_OK(MPI_Reduce(g_rank == 0 ? MPI_IN_PLACE : buf + off, buf + off, (int)c, MPI_FLOAT, MPI_SUM, 0,
                          MPI_COMM_WORLD), "MPI_Reduce(floats)");
    }
}

void fm_dist_bcast(void *buf, size_t bytes) {
    if (g_size == 1) return;
    char *p = buf;
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t c = bytes - off < CHUNK ? bytes - off : CHUNK;
        MPI_OK(MPI_Bcast(p + off, (int)c, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
    }
}

void fm_dist_barrier(void) {
    if (g_size > 1) MPI_OK(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

int fm_dist_agree(int status) {
    int mine = status ? g_rank : INT_MAX, first = mine;
    if (g_size > 1)
        MPI_OK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce(agree)");
    if (first == INT_MAX) return 0;
    if (first == g_rank) {
        fprintf(stderr, "fmtrain: error: %s\n", fm_err_msg());
        fflush(stderr);
    }
    return -1;
}

int fm_dist_same_u64(uint64_t v) {
    if (g_size == 1) return 1;
    uint64_t lo = v, hi = v;
    MPI_OK(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce(min)");
    MPI_OK(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce(max)");
    return lo == hi;
}

int fm_dist_max_int(int v) {
    if (g_size > 1)
        MPI_OK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce(max int)");
    return v;
}

double fm_dist_max_double(double v) {
    if (g_size > 1)
        MPI_OK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce(max)");
    return v;
}
