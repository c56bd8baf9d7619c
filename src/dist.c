/* dist.c - MPI behind small named intents (the only file that includes <mpi.h>). */
#define _POSIX_C_SOURCE 200809L
#include "fm/dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "fm/common.h"
#include "vec.h"

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

static void node_sum_finalize(void);

void fm_dist_finalize(void) {
    if (!g_up) return;
    node_sum_finalize();
    g_up = 0;
    fm_set_abort_hook(NULL);
    MPI_Finalize();
}

int fm_dist_rank(void) { return g_rank; }
int fm_dist_size(void) { return g_size; }

/* MPI counts are int: large buffers go in chunks. */
#define CHUNK ((size_t)1 << 30)

static void allreduce_floats(float *buf, size_t n, MPI_Comm comm) {
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t c = n - off < CHUNK ? n - off : CHUNK;
        MPI_OK(MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)c, MPI_FLOAT, MPI_SUM, comm), "MPI_Allreduce(floats)");
    }
}

/* ---- Node-aware sums and node-shared arrays ----
 *
 * Where a node runs L > 1 ranks (the same L on every node), fm_dist_sum_buffer's buffer is the
 * rank's slot in a shared-memory window of the node's ranks (MPI_Win_allocate_shared), and a
 * sum runs in three phases, with node barriers before the first and after each:
 *   1. node-local rank l adds the L slots over its own part of the values, l-th of L,
 *      in the order of the ranks (so a value's sum does not depend on which rank owns it),
 *      and writes the result into its own slot (a reduce-scatter through shared memory);
 *   2. with more than one node, the ranks of local rank l allreduce that part over the nodes;
 *   3. every rank copies the other parts from their owners' slots (an allgather).
 * Each value is read L times and written about L times over the node, with no messages in
 * between; MPI_Allreduce through Open MPI's shared-memory transport copies each value into
 * and out of its buffers as well (README, Performance). The last barrier keeps a rank from
 * overwriting its slot (the next step's gradient) while another still copies from it.
 * fm_dist_sum_floats_part stops after phase 2 (each rank then holds its own part), copies only
 * the values after the split ones (the loss and flags, in the last rank's part), and leaves the
 * last barrier to the caller's fm_dist_node_sync.
 *
 * A small model's sum (fm_dist_swap_buffer, on one node) has one barrier and no allgather: each
 * rank has two slots and writes its gradient into one of them; after the barrier every rank adds
 * all the node's current slots over all the values, in the order of the ranks (the same sums as
 * above), into its other slot, which is the one it writes next. A rank rewrites a slot two sums
 * later, after the next sum's barrier, which the others pass only once they have read it. Every
 * rank reads the others' whole gradients (L - 1 of them), which costs less than the two more
 * barriers and the shared state's traffic as long as that is small (FM_DIST_SWAP_MAX); the
 * trainer then keeps its state private. fm_dist_sum_arrive splits the barrier, so that a rank that
 * arrives first can do other work while it waits.
 *
 * fm_dist_node_array's arrays are one copy per node, in local rank 0's segment of a window,
 * which every rank of the node maps: the trainer's parameters, Adam moments and EMA, of which
 * each rank updates its own part.
 *
 * FMTRAIN_NODE_SUM=0 turns all this off (plain MPI_Allreduce, private arrays);
 * FMTRAIN_NODE_RANKS=k groups consecutive ranks k at a time as if they were nodes, so that one
 * machine can test the multi-node path. */

typedef struct {
    float *base;  /* this rank's slot (a sum buffer) or the node's array, 64-byte aligned; NULL: free */
    float **slot; /* a sum buffer: every node rank's slot, mapped here; NULL for an array */
    float **alt;  /* a swapping sum buffer: every rank's second slot; NULL otherwise */
    size_t cap;   /* floats */
    int used;
    MPI_Win win;
} NodeBuf;

#define MAX_NODE_BUFS 16
static NodeBuf g_nb[MAX_NODE_BUFS];
static int g_node_state = -1; /* -1: not set up; 0: plain MPI_Allreduce; 1: node-aware */
static MPI_Comm g_node = MPI_COMM_NULL, g_cross = MPI_COMM_NULL;
static int g_lrank = 0, g_lsize = 1, g_nodes = 1;
static MPI_Win g_scal_win;       /* 2 L doubles (fm_dist_node_sum_double), in local rank 0's segment */
static double *g_scal;
static int g_scal_parity = 0;

/* Whether every rank passed 1 (a collective decision). */
static int all_agree(int yes) {
    MPI_OK(MPI_Allreduce(MPI_IN_PLACE, &yes, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce(all)");
    return yes;
}

/* A shared-memory window of the node's ranks with `bytes` in this rank's segment, open for
 * access (noncontig: each segment on its own pages, so that first touch places it locally). */
static MPI_Win node_window(size_t bytes, int noncontig) {
    MPI_Info info;
    MPI_Info_create(&info);
    if (noncontig) MPI_Info_set(info, "alloc_shared_noncontig", "true");
    void *mine = NULL;
    MPI_Win win;
    MPI_OK(MPI_Win_allocate_shared((MPI_Aint)bytes, 1, info, g_node, &mine, &win), "MPI_Win_allocate_shared");
    MPI_Info_free(&info);
    MPI_OK(MPI_Win_lock_all(MPI_MODE_NOCHECK, win), "MPI_Win_lock_all");
    return win;
}

/* Local rank q's segment of a window, as mapped here. */
static void *segment(MPI_Win win, int q) {
    MPI_Aint size;
    int unit;
    void *p = NULL;
    MPI_OK(MPI_Win_shared_query(win, q, &size, &unit, &p), "MPI_Win_shared_query");
    return p;
}

static void node_sum_setup(void) {
    if (g_node_state >= 0) return;
    g_node_state = 0;
    if (g_size == 1) return;
    const char *off = getenv("FMTRAIN_NODE_SUM"), *fake = getenv("FMTRAIN_NODE_RANKS");
    const int want = !(off && strcmp(off, "0") == 0);
    const int k = fake ? atoi(fake) : 0;
    if (!all_agree(want) || !fm_dist_same_u64((uint64_t)(k > 0 ? k : 0))) return;
    if (k > 0)
        MPI_OK(MPI_Comm_split(MPI_COMM_WORLD, g_rank / k, g_rank, &g_node), "MPI_Comm_split(node)");
    else
        MPI_OK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &g_node),
               "MPI_Comm_split_type(shared)");
    MPI_Comm_rank(g_node, &g_lrank);
    MPI_Comm_size(g_node, &g_lsize);
    /* one rank per node gains nothing; unequal nodes would split the values differently */
    const int same = fm_dist_same_u64((uint64_t)g_lsize); /* collective: before the test of 1 */
    if (g_lsize == 1 || !same) {
        MPI_Comm_free(&g_node);
        g_lrank = 0, g_lsize = 1;
        return;
    }
    MPI_OK(MPI_Comm_split(MPI_COMM_WORLD, g_lrank, g_rank, &g_cross), "MPI_Comm_split(cross)");
    MPI_Comm_size(g_cross, &g_nodes);
    g_scal_win = node_window(g_lrank == 0 ? 2 * (size_t)g_lsize * sizeof(double) : 0, 0);
    g_scal = segment(g_scal_win, 0);
    g_node_state = 1;
}

/* Unmaps a window: collective over the node, so only inside the collective calls
 * (fm_dist_sum_buffer, fm_dist_node_array, fm_dist_finalize). */
static void node_buf_release(NodeBuf *b) {
    MPI_Win_unlock_all(b->win);
    MPI_Win_free(&b->win);
    free(b->slot), free(b->alt);
    *b = (NodeBuf){0};
}

/* Room for the node's windows in the shared-memory file system (Open MPI maps them from a
 * file there; a full one would kill the rank with SIGBUS at first touch, not return an error). */
static int shm_has_room(size_t bytes) {
    struct statvfs s;
    if (statvfs("/dev/shm", &s)) return 1; /* elsewhere: Open MPI's session directory */
    return (double)s.f_bavail * (double)s.f_frsize >= 1.25 * (double)bytes + 16e6;
}

/* A free entry for a window of n floats of the kind asked (a sum buffer or an array): a free
 * window large enough, else a new entry in place of the free ones; -1: plain memory instead.
 * Collective. */
static int node_buf_entry(size_t n, int array) {
    FM_CHECK(fm_dist_same_u64((uint64_t)n), "fm_dist_%s: the ranks asked for different sizes",
             array ? "node_array" : "sum_buffer");
    node_sum_setup();
    if (g_node_state != 1) return -1;
    int k = -1;
    for (int i = 0; i < MAX_NODE_BUFS; i++)
        if (g_nb[i].base && !g_nb[i].used && g_nb[i].cap >= n && (g_nb[i].slot == NULL) == array && !g_nb[i].alt) k = i;
    for (int i = 0; k < 0 && i < MAX_NODE_BUFS; i++)
        if (g_nb[i].base && !g_nb[i].used) node_buf_release(&g_nb[i]);
    for (int i = 0; k < 0 && i < MAX_NODE_BUFS; i++)
        if (!g_nb[i].base) k = i;
    FM_CHECK(k >= 0, "fm_dist: more than %d shared buffers at once", MAX_NODE_BUFS);
    if (!g_nb[k].base) {
        const size_t bytes = (array ? 1 : (size_t)g_lsize) * (n + 16) * sizeof(float);
        if (!all_agree(shm_has_room(bytes))) {
            if (g_rank == 0)
                fprintf(stderr, "fmtrain: note: /dev/shm has no room for the node's %.1f MB of shared %s; "
                        "plain memory and MPI_Allreduce instead\n", (double)bytes / 1e6,
                        array ? "training state" : "gradient slots");
            return -1;
        }
    }
    return k;
}

/* A segment's offset within its pages is the same in every mapping, so is its alignment. */
static float *align64(void *p) { return (float *)((char *)p + (64 - (uintptr_t)p % 64) % 64); }

/* The entry of buf (array: a node array, else a sum buffer), in use; NULL if buf is plain memory. */
static NodeBuf *node_buf_of(const float *buf, int array) {
    for (int i = 0; i < MAX_NODE_BUFS; i++)
        if (g_nb[i].base == buf && g_nb[i].used && (g_nb[i].slot == NULL) == array) return &g_nb[i];
    return NULL;
}

/* Entry b as a new sum buffer of n floats: `sets` slots per rank (the second in b->alt), each
 * 64-byte aligned, in one window; every rank's slots mapped here. */
static void map_slots(NodeBuf *b, size_t n, int sets) {
    const size_t stride = (n + 15) / 16 * 16;
    b->win = node_window(((size_t)sets * stride + 16) * sizeof(float), 1); /* + the alignment to 64 bytes */
    b->slot = fm_calloc((size_t)g_lsize, sizeof *b->slot);
    if (sets == 2) b->alt = fm_calloc((size_t)g_lsize, sizeof *b->alt);
    for (int q = 0; q < g_lsize; q++) {
        b->slot[q] = align64(segment(b->win, q));
        if (b->alt) b->alt[q] = b->slot[q] + stride;
    }
    b->base = b->slot[g_lrank];
    b->cap = n;
}

float *fm_dist_sum_buffer(size_t n) {
    const int k = node_buf_entry(n, 0);
    if (k < 0) return fm_malloc_floats(n);
    NodeBuf *b = &g_nb[k];
    if (!b->base) map_slots(b, n, 1);
    b->used = 1;
    memset(b->base, 0, n * sizeof(float));
    return b->base;
}

static void node_barrier(MPI_Win win) {
    MPI_OK(MPI_Win_sync(win), "MPI_Win_sync");
    MPI_OK(MPI_Barrier(g_node), "MPI_Barrier(node)");
    MPI_OK(MPI_Win_sync(win), "MPI_Win_sync");
}

float *fm_dist_node_array(size_t n) {
    const int k = node_buf_entry(n, 1);
    if (k < 0) return fm_malloc_floats(n);
    NodeBuf *b = &g_nb[k];
    if (!b->base) {
        b->win = node_window(g_lrank == 0 ? (n + 16) * sizeof(float) : 0, 0); /* all in local rank 0's segment */
        b->base = align64(segment(b->win, 0));
        b->cap = n;
    }
    b->used = 1;
    size_t k0, k1; /* each rank zeroes (and so first touches) its own part */
    fm_dist_my_part(n, &k0, &k1);
    memset(b->base + k0, 0, (k1 - k0) * sizeof(float));
    node_barrier(b->win);
    return b->base;
}

float *fm_dist_swap_buffer(size_t n) {
    const int k = node_buf_entry(n, 0);
    if (k < 0 || g_nodes > 1 || (size_t)(g_lsize - 1) * n > FM_DIST_SWAP_MAX) return NULL;
    NodeBuf *b = &g_nb[k];
    if (b->base) node_buf_release(b); /* a plain sum buffer's window: not this kind */
    map_slots(b, n, 2);
    b->used = 1;
    memset(b->slot[g_lrank], 0, n * sizeof(float));
    memset(b->alt[g_lrank], 0, n * sizeof(float));
    return b->base;
}

void fm_dist_sum_buffer_free(float *buf) {
    if (!buf) return;
    for (int i = 0; i < MAX_NODE_BUFS; i++)
        if (g_nb[i].base == buf) { /* kept for the next request, unmapped by a later one or fm_dist_finalize */
            g_nb[i].used = 0;
            return;
        }
    free(buf);
}

void fm_dist_node_array_free(float *a) { fm_dist_sum_buffer_free(a); }

static void node_sum_finalize(void) {
    for (int i = 0; i < MAX_NODE_BUFS; i++)
        if (g_nb[i].base) node_buf_release(&g_nb[i]);
    if (g_node_state == 1) {
        MPI_Win_unlock_all(g_scal_win);
        MPI_Win_free(&g_scal_win);
    }
    if (g_cross != MPI_COMM_NULL) MPI_Comm_free(&g_cross);
    if (g_node != MPI_COMM_NULL) MPI_Comm_free(&g_node);
    g_node_state = -1;
}

/* Where local rank q's part of n values starts: multiples of 16 floats (64 bytes). */
static size_t part_start(size_t n, int q) {
    size_t s = (n / 16 * (size_t)q / (size_t)g_lsize) * 16;
    return q == g_lsize ? n : s;
}

void fm_dist_my_part(size_t n, size_t *k0, size_t *k1) {
    *k0 = part_start(n, g_lrank);
    *k1 = part_start(n, g_lrank + 1);
}

int fm_dist_node_leader(void) { return g_lrank == 0; }

/* MPI's unified memory model asks for MPI_Win_sync on the window whose memory was written (in
 * Open MPI a memory fence); this barrier stands for all of them. */
static void sync_windows(void) {
    for (int i = 0; i < MAX_NODE_BUFS; i++)
        if (g_nb[i].base) MPI_OK(MPI_Win_sync(g_nb[i].win), "MPI_Win_sync");
}

void fm_dist_node_sync(void) {
    if (g_node_state != 1) return;
    sync_windows();
    node_barrier(g_scal_win);
    sync_windows();
}

double fm_dist_node_sum_double(double x) {
    if (g_node_state != 1) return x;
    /* two alternating rows: a rank writes a row again only two calls later, after every rank has
     * passed the barrier of the call between, and so has read it */
    double *row = g_scal + (size_t)g_scal_parity * (size_t)g_lsize;
    g_scal_parity ^= 1;
    row[g_lrank] = x;
    node_barrier(g_scal_win);
    double s = row[0];
    for (int q = 1; q < g_lsize; q++) s += row[q];
    return s;
}

static void bcast_bytes(void *buf, size_t bytes, MPI_Comm comm) {
    char *p = buf;
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t c = bytes - off < CHUNK ? bytes - off : CHUNK;
        MPI_OK(MPI_Bcast(p + off, (int)c, MPI_BYTE, 0, comm), "MPI_Bcast");
    }
}

void fm_dist_bcast_node(float *a, size_t n) {
    if (!node_buf_of(a, 1)) {
        fm_dist_bcast(a, n * sizeof(float));
        return;
    }
    if (g_lrank == 0 && g_nodes > 1) bcast_bytes(a, n * sizeof(float), g_cross); /* the leaders, world rank 0 first */
    fm_dist_node_sync();
}

#define SUM_BLOCK 1024 /* floats summed in one L1-resident block */

/* The values [i0, i0 + m) of the L slots added in the order of the ranks, into dst. */
VEC_TARGETS static void add_slots(float *restrict dst, float *const *slot, int L, size_t i0, size_t m) {
    float acc[SUM_BLOCK];
    const float *s0 = slot[0] + i0;
    #pragma omp simd
    for (size_t i = 0; i < m; i++) acc[i] = s0[i];
    for (int q = 1; q < L; q++) {
        const float *restrict s = slot[q] + i0;
        #pragma omp simd
        for (size_t i = 0; i < m; i++) acc[i] += s[i];
    }
    #pragma omp simd
    for (size_t i = 0; i < m; i++) dst[i] = acc[i];
}

/* Local rank q's part of the n values, of which the first `head` are split (the rest goes to the
 * last rank's part). */
static void part_of(size_t n, size_t head, int q, size_t *q0, size_t *q1) {
    *q0 = part_start(head, q);
    *q1 = q == g_lsize - 1 ? n : part_start(head, q + 1);
}

/* A sum's opening barrier, split (fm_dist_sum_arrive): this rank's values are in place; the sum
 * waits for the others' */
static MPI_Request g_arrival = MPI_REQUEST_NULL;
static const float *g_arrived;

void fm_dist_sum_arrive(const float *buf) {
    NodeBuf *b = g_size > 1 ? node_buf_of(buf, 0) : NULL;
    FM_CHECK(g_arrival == MPI_REQUEST_NULL, "fm_dist_sum_arrive: an arrival is already outstanding");
    if (!b) return;
    MPI_OK(MPI_Win_sync(b->win), "MPI_Win_sync");
    MPI_OK(MPI_Ibarrier(g_node, &g_arrival), "MPI_Ibarrier(node)");
    g_arrived = buf;
}

/* The sum's opening barrier: its second half where this rank arrived already. */
static void arrival_wait(NodeBuf *b) {
    if (g_arrival == MPI_REQUEST_NULL) {
        node_barrier(b->win);
        return;
    }
    FM_CHECK(g_arrived == b->base, "fm_dist_sum_arrive: the sum that follows is of another buffer");
    MPI_OK(MPI_Wait(&g_arrival, MPI_STATUS_IGNORE), "MPI_Wait(node arrival)");
    MPI_OK(MPI_Win_sync(b->win), "MPI_Win_sync");
}

static void node_sum(NodeBuf *b, size_t n, size_t head, int full) {
    float *const *slot = b->slot;
    const int L = g_lsize;
    arrival_wait(b);
    size_t c0, c1;
    part_of(n, head, g_lrank, &c0, &c1);
    const long nblk = (long)((c1 - c0 + SUM_BLOCK - 1) / SUM_BLOCK);
    FM_PARALLEL_FOR_IF(c1 - c0 > ((size_t)1 << 18), for (long k = 0; k < nblk; k++), {
        const size_t i0 = c0 + (size_t)k * SUM_BLOCK;
        add_slots(b->base + i0, slot, L, i0, c1 - i0 < SUM_BLOCK ? c1 - i0 : SUM_BLOCK);
    });
    if (g_nodes > 1) allreduce_floats(b->base + c0, c1 - c0, g_cross);
    node_barrier(b->win);
    if (!full) { /* the values beyond head, from the last rank's part */
        if (g_lrank != L - 1 && n > head) memcpy(b->base + head, slot[L - 1] + head, (n - head) * sizeof(float));
        return;
    }
    for (int q = 0; q < L; q++) {
        if (q == g_lrank) continue;
        size_t q0, q1;
        part_of(n, head, q, &q0, &q1);
        const long qblk = (long)((q1 - q0 + 4 * SUM_BLOCK - 1) / (4 * SUM_BLOCK));
        FM_PARALLEL_FOR_IF(q1 - q0 > ((size_t)1 << 18), for (long k = 0; k < qblk; k++), {
            const size_t i0 = q0 + (size_t)k * 4 * SUM_BLOCK;
            memcpy(b->base + i0, slot[q] + i0, (q1 - i0 < 4 * SUM_BLOCK ? q1 - i0 : 4 * SUM_BLOCK) * sizeof(float));
        });
    }
    node_barrier(b->win);
}

/* The first head values complete on this rank's part only unless full (see above). */
static void sum_floats(float *buf, size_t n, size_t head, int full) {
    if (g_size == 1) return;
    NodeBuf *b = node_buf_of(buf, 0);
    if (b && n <= b->cap) node_sum(b, n, head, full);
    else allreduce_floats(buf, n, MPI_COMM_WORLD);
}

float *fm_dist_sum_swap(float *buf, size_t n) {
    NodeBuf *b = g_size > 1 ? node_buf_of(buf, 0) : NULL;
    if (!b || !b->alt) {
        sum_floats(buf, n, n, 1);
        return buf;
    }
    FM_CHECK(n <= b->cap, "fm_dist_sum_swap: %zu values, the buffer holds %zu", n, b->cap);
    float *const *from = buf == b->slot[g_lrank] ? b->slot : b->alt, *const *to = from == b->slot ? b->alt : b->slot;
    arrival_wait(b);
    float *dst = to[g_lrank];
    for (size_t i0 = 0; i0 < n; i0 += SUM_BLOCK) /* at most FM_DIST_SWAP_MAX values: one thread */
        add_slots(dst + i0, from, g_lsize, i0, n - i0 < SUM_BLOCK ? n - i0 : SUM_BLOCK);
    b->base = dst;
    return dst;
}

void fm_dist_sum_floats(float *buf, size_t n) { sum_floats(buf, n, n, 1); }
void fm_dist_sum_floats_part(float *buf, size_t n, size_t head) { sum_floats(buf, n, head, 0); }

const float *fm_dist_peer_slot(const float *buf) {
    NodeBuf *b = g_size > 1 ? node_buf_of(buf, 0) : NULL;
    if (!b || g_lsize < 2) return NULL;
    const int q = (g_lrank + 1) % g_lsize;
    return b->alt && buf == b->alt[g_lrank] ? b->alt[q] : b->slot[q];
}

int fm_dist_node_ranks(const float *buf) { return node_buf_of(buf, 0) || node_buf_of(buf, 1) ? g_lsize : 1; }

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
    if (g_size > 1) bcast_bytes(buf, bytes, MPI_COMM_WORLD);
}

void fm_dist_barrier(void) {
    if (g_size > 1) MPI_OK(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void fm_dist_barrier_idle(void) {
    if (g_size == 1) return;
    MPI_Request req;
    MPI_OK(MPI_Ibarrier(MPI_COMM_WORLD, &req), "MPI_Ibarrier");
    for (;;) {
        int done = 0;
        MPI_OK(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
        if (done) return;
        nanosleep(&(struct timespec){0, 20000}, NULL);
    }
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
