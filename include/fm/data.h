/* data.h - where training items come from: a toy set (drawn from keyed streams) or an HDF5
 * data set file (data/README.md), read item by item.
 *
 * For a file of N items, sample i of step s (global batch B) is item
 *   fm_permute(q mod N, N, seed, q div N),   q = (s - 1) B + i
 * i.e. epoch after epoch, a fresh keyed permutation of all items: the global batch depends on
 * (seed, s, i) only, not on the number of ranks, and a resumed run reads what an unbroken run
 * would. Each rank reads just the items of its own micro-batches.
 * Images are scaled from 0..255 to [-1, 1]: x / 127.5 - 1, or with --dequantize
 * (x + u) / 128 - 1 with u ~ U[0, 1) (uniform dequantization; SPEC.md bits/dim); --hflip
 * mirrors an image left-right with probability 1/2. Both draw from the sample's stream
 * (seed, s, i, FM_RNG_AUGMENT).
 *
 * Cache: with --data-cache-mb M > 0 each rank keeps up to M MiB of raw items (1 byte per
 * pixel, 4 per float) in a direct-mapped table (slot = item mod slots): memory is bounded by M
 * whatever the data set's size, and a hit returns exactly what the file holds, so results do
 * not depend on the cache. A data set that fits is read from the file once per rank.
 */
#ifndef FM_DATA_H
#define FM_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "fm/h5io.h"
#include "fm/train.h"

typedef struct {
    const FmTrainConfig *cfg;
    const FmSetup *su;
    FmReader *reader; /* NULL for toy data */
    uint64_t *idx;
    size_t cap; /* rows of idx */
    /* the cache */
    unsigned char *cache;
    int64_t *tags; /* item held by each slot, -1 = empty */
    size_t slots, item_bytes;
    uint64_t *miss;  /* scratch: items to read */
    size_t *miss_row;
    float *raw;      /* scratch (cap, D) */
    double hits, lookups;
    double seconds; /* spent reading the whole set into the cache at open (when it fits) */
} FmData;

/* Opens the source for micro-batches of up to m rows. When the cache budget holds the whole
 * set, it is read into the cache here, in blocks (the first epoch then reads nothing item by
 * item). 0 or -1 (fm_err_set). */
int fm_data_open(FmData *d, const FmTrainConfig *cfg, const FmSetup *su, size_t m);
void fm_data_close(FmData *d);

/* z (m, D): the data items of global samples g0 .. g0 + m - 1 of step `step` (global batch B).
 * A read failure is fatal (FM_CHECK: every rank is stopped). */
void fm_data_draw(FmData *d, float *z, long step, uint64_t g0, size_t m, size_t B);

/* Items [first, first + n) of the file, preprocessed without augmentation, into z (n, D)
 * (evaluation points for a model trained on a file). 0 or -1. */
int fm_data_items(FmData *d, float *z, uint64_t first, size_t n);

/* Bytes the cache holds at most (hits / lookups are counted in FmData). */
size_t fm_data_cache_bytes(const FmData *d);

#endif
