/* h5io.h - HDF5 outputs and inputs: the ONLY module that includes <hdf5.h>.
 *
 * Every file carries, as root attributes: format (string), format_version (int),
 * fmtrain_version, build (compiler and flags), created (UTC), world_size, and the
 * resolved configuration as INI text in `config`.
 *
 * Checkpoint  OUT/ckpt-SSSSSSSS.h5  (+ OUT/latest.h5, a symlink to the newest)
 *   /params /adam_m /adam_v /ema      float32 (n)   one buffer each, the table's layout
 *   /tensors/<name>                   int64 [offset, rows, cols, decay] per tensor
 *   attrs: step (int64), config, objective, path, data, model, param_count
 * Training log  OUT/log.h5
 *   /step int64, /loss /lr /grad_norm /samples_per_s /time float64   (extendible, chunked);
 *   loss and grad_norm are means over the steps since the previous row
 * Samples (fmtrain sample --out FILE)
 *   /samples float32 (N, D); /trajectory float32 (T, NT, D) and /t float64 (T);
 *   /reference float32 (M, D) held-out data; attrs solver, steps, nfe, seed, checkpoint, ...
 */
#ifndef FM_H5IO_H
#define FM_H5IO_H

#include <stddef.h>
#include <stdint.h>

#include "fm/model.h"

#define FM_CKPT_FORMAT_VERSION 2 /* 2: the time embedding's scale became a model option */

/* Provenance and identity stored with every file. */
typedef struct {
    const char *config; /* INI text of the resolved configuration */
    int world_size;
    const char *objective, *path, *data, *model; /* may be NULL */
} FmFileMeta;

/* Writes dir/ckpt-<step>.h5 through a temporary name and a rename, then points
 * dir/latest.h5 at it (atomically). Writes the final path into `path`. 0 or -1. */
int fm_ckpt_write(const char *dir, long step, const FmFileMeta *meta, const FmParamTable *tab, const float *params,
                  const float *adam_m, const float *adam_v, const float *ema, char *path, size_t path_size);

/* Newest complete checkpoint in a run directory (highest step that opens and validates),
 * or `where` itself if it is a file. 0, 1 if a directory holds none, -1 on error. */
int fm_ckpt_find(const char *where, char *path, size_t path_size);

/* Whether an output file of this format ("fmtrain-samples", ...) may be written at path, checked
 * before the work: 0, or -1 (fm_err_set) if the path is empty or a directory, is one of
 * fmtrain's files of another kind (a checkpoint, a training log, a data set: never overwritten),
 * or lies in a directory that does not exist or is not writable. */
int fm_out_check(const char *path, const char *format);

/* Retention: deletes the oldest ckpt-*.h5 of a run directory until `keep` remain (keep <= 0:
 * keep all). The newest is never deleted. 0 or -1 (fm_err_set). */
int fm_ckpt_prune(const char *dir, long keep);

/* Step, parameter count and configuration text (malloc'ed; caller frees). 0 or -1. */
int fm_ckpt_read_meta(const char *path, long *step, size_t *count, char **config);

/* Reads the named buffers ("params", "adam_m", "adam_v", "ema"); a NULL destination is
 * skipped. Checks that the stored size equals tab->total. 0 or -1. */
int fm_ckpt_read(const char *path, const FmParamTable *tab, float *params, float *adam_m, float *adam_v, float *ema);

typedef struct {
    long step;
    double loss, lr, grad_norm, samples_per_s, time;
} FmLogRow;

/* Appends rows to the log (created on first use with the meta attributes). On resume,
 * `drop_after` >= 0 first removes rows with step > drop_after. 0 or -1. */
int fm_log_append(const char *path, const FmLogRow *rows, size_t n, long drop_after, const FmFileMeta *meta);


/* A generic output file, written to PATH.tmp and renamed to PATH on fm_out_close (so a
 * reader never sees a half-written file). Calls after an error are no-ops; fm_out_close
 * returns 0 or -1 (fm_err_set naming the file). `format` is stored as attribute `format`. */
typedef struct FmOut FmOut;
FmOut *fm_out_create(const char *path, const char *format, const FmFileMeta *meta);
void fm_out_floats(FmOut *o, const char *name, int rank, const size_t *dims, const float *data);
void fm_out_doubles(FmOut *o, const char *name, int rank, const size_t *dims, const double *data);
void fm_out_longs(FmOut *o, const char *name, size_t n, const long *data);
void fm_out_attr_str(FmOut *o, const char *name, const char *value);
void fm_out_attr_f64(FmOut *o, const char *name, double value);
void fm_out_attr_i64(FmOut *o, const char *name, long value);
int fm_out_close(FmOut *o);

/* A data set file for training (data/README.md): /images uint8 (N, C, H, W) or /data float
 * (N, D), optional /labels int (N). Opened read-only by every rank; items are read one by one
 * (chunks of one image), in any order. */
typedef struct FmReader FmReader;
typedef struct {
    int images;          /* 1: /images uint8, 0: /data float */
    size_t N, D, C, H, W; /* D = C H W for images */
    int has_labels;
    long num_classes;
    char name[128];
} FmDataInfo;
/* Opens and validates (shape, type, N > 0, labels in range, float data finite).
 * NULL with fm_err_set naming the file and the problem. */
FmReader *fm_reader_open(const char *path, FmDataInfo *info);
/* Items idx[0..n) (any order, repeats allowed) into out (n, D) as floats: raw pixel values
 * 0..255 for images, the values for float data. 0 or -1 (fm_err_set). */
int fm_reader_read(FmReader *r, const uint64_t *idx, size_t n, float *out);
/* Items [first, first + n) in one read, as stored: n x D bytes (0..255) for images, n x D
 * floats for float data. 0 or -1 (fm_err_set). */
int fm_reader_read_block(FmReader *r, uint64_t first, size_t n, void *out);
/* Items read and bytes read so far. */
void fm_reader_stats(const FmReader *r, double *items, double *bytes);
void fm_reader_close(FmReader *r);

/* Reads a 2-D float dataset (N, D) from an HDF5 file (any float or integer type, converted).
 * *data is malloc'ed. 0 or -1 (fm_err_set naming file and dataset). */
int fm_read_matrix(const char *path, const char *dset, float **data, size_t *N, size_t *D);

#endif
