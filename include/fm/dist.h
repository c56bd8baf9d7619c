/* dist.h - the distributed layer: the ONLY module that includes <mpi.h>.
 *
 * The rest of fmtrain calls these small named intents and never sees a communicator.
 * After fm_dist_init() a fatal error (FM_CHECK) on any rank calls MPI_Abort, so no rank
 * is left waiting in a collective.
 */
#ifndef FM_DIST_H
#define FM_DIST_H

#include <stddef.h>
#include <stdint.h>

void fm_dist_init(int *argc, char ***argv);
void fm_dist_finalize(void);
int fm_dist_rank(void);
int fm_dist_size(void);

/* In-place sums over all ranks. */
void fm_dist_sum_floats(float *buf, size_t n);
/* A zero-filled, 64-byte aligned buffer of n floats whose sums (fm_dist_sum_floats on its
 * first n or fewer values) go through the node's shared memory where a node runs several
 * ranks (dist.c explains how; FMTRAIN_NODE_SUM=0 turns it off), elsewhere plain memory.
 * Collective: every rank calls it, with the same n, in the same order. The free is local. */
float *fm_dist_sum_buffer(size_t n);
void fm_dist_sum_buffer_free(float *buf);
/* The same sum, complete on return only on this rank's part of the first `head` values
 * (fm_dist_my_part) and on the values from head on; elsewhere buf holds partial sums. Where
 * the sums are node-aware, fm_dist_node_sync() must follow before any rank writes buf again. */
void fm_dist_sum_floats_part(float *buf, size_t n, size_t head);
/* A swapping sum buffer of n floats (zero-filled, 64-byte aligned), or NULL where the sums are
 * not node-aware, span nodes, or would read more than FM_DIST_SWAP_MAX floats of the other
 * ranks per sum. Each rank has two slots; fm_dist_sum_swap(buf, n) adds the node's current
 * slots (in the order of the ranks, as fm_dist_sum_floats) into this rank's other slot and
 * returns it: the buffer to write next. One node barrier per sum, no allgather: every rank adds
 * the whole vector, for models small enough that this costs less than the barriers it saves.
 * Free it with fm_dist_sum_buffer_free (its current pointer). */
#define FM_DIST_SWAP_MAX ((size_t)1 << 16)
float *fm_dist_swap_buffer(size_t n);
/* The sum of buf over all ranks: in a swapping buffer's other slot (returned), elsewhere in
 * place (buf returned). */
float *fm_dist_sum_swap(float *buf, size_t n);
/* The first half of the next sum of buf (a fm_dist_sum_buffer or fm_dist_swap_buffer): this
 * rank's values are in place. Work that reads and writes neither buf nor any other rank's memory
 * may run before the sum (fm_dist_sum_floats, _part or _swap of buf, which waits for the other
 * ranks' arrival): where the
 * node's ranks share the buffer, a rank that arrives first spends its wait on that work. Nothing
 * where the sums are not node-aware. */
void fm_dist_sum_arrive(const float *buf);
/* The next local rank's slot of buf, a sum buffer (or a swapping one's current slot) in shared
 * memory: for measurements of reading another core's values (`fmtrain bench`); NULL where buf is
 * this rank's own memory. */
const float *fm_dist_peer_slot(const float *buf);
/* How many ranks per node share buf (a sum buffer, summed through shared memory, or a node
 * array); 1: buf is this rank's own. */
int fm_dist_node_ranks(const float *buf);

/* An array of n floats, zero-filled and 64-byte aligned, of which a node keeps one copy that its
 * ranks share, where the node-aware sums are on; this rank's own elsewhere. Collective (same n,
 * same order); the free is local. */
float *fm_dist_node_array(size_t n);
void fm_dist_node_array_free(float *a);
/* This rank's part [*k0, *k1) of n values (in node arrays and sums); [0, n) where not node-aware. */
void fm_dist_my_part(size_t n, size_t *k0, size_t *k1);
/* 1 on a node's first rank (the one that writes a node array's shared values alone). */
int fm_dist_node_leader(void);
/* A barrier of the node's ranks, their memory synchronised; nothing where not node-aware. */
void fm_dist_node_sync(void);
/* x summed over the node's ranks in their order (x itself where not node-aware). Collective on the node. */
double fm_dist_node_sum_double(double x);
/* Broadcast from rank 0 of n floats: into every node's shared copy where a is a node array. */
void fm_dist_bcast_node(float *a, size_t n);
void fm_dist_sum_doubles(double *buf, size_t n);
/* A non-blocking in-place sum (at most one outstanding, fewer than 2^30 values): start it,
 * poll it (each call drives its progress; 1 once it is complete), wait for it. */
void fm_dist_isum_floats_start(float *buf, size_t n);
int fm_dist_isum_poll(void);
void fm_dist_isum_wait(void);
/* Sum onto rank 0 (other ranks' buffers are left as they were). */
void fm_dist_reduce_floats(float *buf, size_t n);
/* Broadcast from rank 0. */
void fm_dist_bcast(void *buf, size_t bytes);
void fm_dist_barrier(void);
/* A barrier whose waiting ranks sleep (polling every 20 us) instead of spinning: a rank that
 * waits here leaves its core idle, as if it were not running (`fmtrain bench`'s rank alone). */
void fm_dist_barrier_idle(void);

/* Collective agreement on a recoverable error: every rank passes its own status
 * (0 = fine). Returns 0 when all ranks are fine; otherwise the lowest failing rank
 * prints "fmtrain: error: <fm_err_msg()>" once and every rank returns -1. */
int fm_dist_agree(int status);

/* 1 if the 64-bit values are equal on all ranks. */
int fm_dist_same_u64(uint64_t v);

/* Max over ranks of an int (e.g. "has any rank caught a signal?"). */
int fm_dist_max_int(int v);

/* Max over ranks of a double (e.g. peak memory). */
double fm_dist_max_double(double v);

#endif
