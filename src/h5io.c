/* h5io.c - checkpoints, training log and samples in HDF5 (the only file that includes <hdf5.h>).
 * Every HDF5 call is checked; errors name the file (and dataset) and return -1 with
 * fm_err_set, so the caller can agree with the other ranks and exit cleanly. */
#define _POSIX_C_SOURCE 200809L
#include "fm/h5io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fm/common.h"

#ifndef FM_BUILD_FLAGS
#define FM_BUILD_FLAGS "unknown"
#endif

/* HDF5 prints its own error stack by default; we report one line ourselves. Every public
 * function here calls this first. The library's clean-up at exit is turned off: after a write
 * fails (a full disk) the failed file stays half-closed, and HDF5 1.10 crashes in that
 * clean-up; the operating system releases everything at exit anyway. */
static void quiet(void) {
    static int done = 0;
    if (!done) H5dont_atexit(), H5Eset_auto2(H5E_DEFAULT, NULL, NULL), done = 1;
}

/* The directory holding PATH. */
static void parent_dir(const char *path, char *dir, size_t size) {
    snprintf(dir, size, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, size, ".");
}

/* Makes a finished temporary file durable and then visible under its final name: fsync the
 * file, rename it over PATH (atomic), fsync the directory. A crash at any moment leaves
 * either the old PATH or the new one, never a partial file. 0, or -1 with errno set. */
static int commit_file(const char *tmp, const char *path) {
    int fd = open(tmp, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    if (rc || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    char dir[4200];
    parent_dir(path, dir, sizeof dir);
    if ((fd = open(dir, O_RDONLY)) >= 0) fsync(fd), close(fd); /* best effort: not every file system allows it */
    return 0;
}

/* Why writing failed, for the error message: the errno the failed write left (HDF5 keeps it)
 * when it is one a user can act on, else the state of the file system holding PATH. */
static const char *write_cause(const char *path, int err) {
    if (err == ENOSPC || err == EDQUOT || err == EROFS || err == EACCES || err == EPERM || err == EFBIG ||
        err == EIO || err == ENOENT || err == ENOTDIR)
        return strerror(err);
    char dir[4200];
    parent_dir(path, dir, sizeof dir);
    struct statvfs sv;
    if (statvfs(dir, &sv) == 0 && (sv.f_flag & ST_RDONLY)) return strerror(EROFS);
    if (access(dir, W_OK)) return strerror(errno);
    return "disk full or not writable?";
}

/* ---- attributes ---- */

static int attr_str(hid_t loc, const char *name, const char *val) {
    if (!val) return 0;
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
    H5Tset_size(t, strlen(val) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    hid_t a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, t, val);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    return rc < 0 ? -1 : 0;
}

static int attr_num(hid_t loc, const char *name, hid_t type, const void *val) {
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, type, s, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, type, val);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    return rc < 0 ? -1 : 0;
}
static int attr_i64(hid_t loc, const char *name, long v) {
    int64_t x = v;
    return attr_num(loc, name, H5T_NATIVE_INT64, &x);
}
static int attr_f64(hid_t loc, const char *name, double v) { return attr_num(loc, name, H5T_NATIVE_DOUBLE, &v); }

static int read_attr_i64(hid_t loc, const char *name, long *v) {
    if (H5Aexists(loc, name) <= 0) return -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    int64_t x = 0;
    herr_t rc = H5Aread(a, H5T_NATIVE_INT64, &x);
    H5Aclose(a);
    *v = (long)x;
    return rc < 0 ? -1 : 0;
}

/* A string attribute (fixed or variable length) as a malloc'ed string, or NULL. */
static char *read_attr_str(hid_t loc, const char *name) {
    if (H5Aexists(loc, name) <= 0) return NULL;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            char *v = NULL;
            if (H5Aread(a, mt, &v) >= 0 && v) {
                out = strdup(v);
                H5free_memory(v);
            }
            H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(ft);
            if (n > 0 && n < (64u << 20)) {
                out = fm_calloc(n + 1, 1);
                hid_t mt = H5Tcopy(H5T_C_S1);
                H5Tset_size(mt, n + 1);
                if (H5Aread(a, mt, out) < 0) free(out), out = NULL;
                H5Tclose(mt);
            }
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    return out;
}

static int write_meta(hid_t f, const char *format, const FmFileMeta *m) {
    char when[64];
    time_t now = time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
    char host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    int rc = attr_str(f, "format", format) | attr_i64(f, "format_version", FM_CKPT_FORMAT_VERSION) |
             attr_str(f, "fmtrain_version", FM_VERSION) |
             attr_str(f, "build", "gcc " __VERSION__ " " FM_BUILD_FLAGS) | attr_str(f, "created", when) |
             attr_str(f, "host", host) | attr_i64(f, "world_size", m->world_size) | attr_str(f, "config", m->config) |
             attr_str(f, "objective", m->objective) | attr_str(f, "path", m->path) | attr_str(f, "data", m->data) |
             attr_str(f, "model", m->model);
    return rc ? -1 : 0;
}

/* ---- datasets ---- */

static int write_dataset(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims, const void *buf) {
    hid_t s = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = d < 0 ? -1 : H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    return rc < 0 ? -1 : 0;
}

static int write_floats(hid_t loc, const char *name, const float *buf, size_t n) {
    hsize_t dims[1] = {n};
    return write_dataset(loc, name, H5T_NATIVE_FLOAT, 1, dims, buf);
}

/* ---- checkpoints ---- */

int fm_ckpt_write(const char *dir, long step, const FmFileMeta *meta, const FmParamTable *tab, const float *params,
                  const float *adam_m, const float *adam_v, const float *ema, char *path, size_t path_size) {
    quiet();
    char tmp[4200];
    int n = snprintf(path, path_size, "%s/ckpt-%08ld.h5", dir, step);
    if (n < 0 || (size_t)n >= path_size) return fm_err_set("checkpoint path too long in '%s'", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* a checkpoint never holds NaN or Inf: resuming from it could not recover */
    const char *names[4] = {"params", "adam_m", "adam_v", "ema"};
    const float *arrays[4] = {params, adam_m, adam_v, ema};
    for (int a = 0; a < 4; a++)
        for (size_t i = 0; arrays[a] && i < tab->total; i++)
            if (!isfinite(arrays[a][i]))
                return fm_err_set("refusing to write checkpoint '%s': %s[%zu] is %g", path, names[a], i, arrays[a][i]);
    errno = 0;
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return fm_err_set("cannot create checkpoint '%s': %s", tmp, write_cause(tmp, errno));
    int rc = write_meta(f, "fmtrain-checkpoint", meta);
    rc |= attr_i64(f, "step", step) | attr_i64(f, "param_count", (long)tab->total);
    rc |= write_floats(f, "params", params, tab->total);
    if (adam_m) rc |= write_floats(f, "adam_m", adam_m, tab->total);
    if (adam_v) rc |= write_floats(f, "adam_v", adam_v, tab->total);
    if (ema) rc |= write_floats(f, "ema", ema, tab->total);
    hid_t g = H5Gcreate2(f, "tensors", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc |= g < 0;
    for (int i = 0; g >= 0 && i < tab->count; i++) {
        const FmTensor *t = &tab->t[i];
        int64_t row[4] = {(int64_t)t->off, (int64_t)t->rows, (int64_t)t->cols, t->decay};
        hsize_t dims[1] = {4};
        rc |= write_dataset(g, t->name, H5T_NATIVE_INT64, 1, dims, row);
    }
    if (g >= 0) H5Gclose(g);
    if (H5Fclose(f) < 0) rc = 1;
    if (rc) {
        const char *why = write_cause(tmp, errno);
        unlink(tmp);
        return fm_err_set("writing checkpoint '%s' failed: %s", tmp, why);
    }
    if (commit_file(tmp, path)) return fm_err_set("cannot commit checkpoint '%s': %s", path, strerror(errno));
    /* latest.h5 -> ckpt-...h5, replaced atomically through a temporary link */
    char link_tmp[4200], link[4200];
    snprintf(link, sizeof link, "%s/latest.h5", dir);
    snprintf(link_tmp, sizeof link_tmp, "%s/.latest.h5.tmp", dir);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    unlink(link_tmp);
    if (symlink(base, link_tmp) || rename(link_tmp, link))
        return fm_err_set("cannot update '%s': %s", link, strerror(errno));
    return 0;
}

static int ckpt_validate(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    long step = -1, v = -1;
    char *fmt = read_attr_str(f, "format");
    int ok = fmt && !strcmp(fmt, "fmtrain-checkpoint") && read_attr_i64(f, "step", &step) == 0 &&
             read_attr_i64(f, "format_version", &v) == 0 && H5Lexists(f, "params", H5P_DEFAULT) > 0;
    free(fmt);
    H5Fclose(f);
    return ok ? 0 : -1;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

#define FM_MAX_CKPTS 4096

/* The steps of the ckpt-SSSSSSSS.h5 files in a run directory, ascending (at most
 * FM_MAX_CKPTS). Returns their number, or -1 (fm_err_set). */
static long ckpt_steps(const char *dir, long *steps) {
    DIR *d = opendir(dir);
    if (!d) return fm_err_set("cannot read directory '%s': %s", dir, strerror(errno));
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < FM_MAX_CKPTS) {
        long s;
        char tail[8];
        if (sscanf(e->d_name, "ckpt-%ld.h5%7s", &s, tail) == 1 && strlen(e->d_name) == 16) steps[n++] = s;
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof *steps, cmp_long);
    return n;
}

int fm_ckpt_find(const char *where, char *path, size_t path_size) {
    quiet();
    struct stat st;
    if (stat(where, &st)) return fm_err_set("checkpoint '%s' does not exist", where);
    if (!S_ISDIR(st.st_mode)) {
        if (fm_strlcpy(path, where, path_size)) return -1;
        return 0;
    }
    long steps[FM_MAX_CKPTS];
    long n = ckpt_steps(where, steps);
    if (n < 0) return -1;
    while (n-- > 0) { /* the newest first */
        snprintf(path, path_size, "%s/ckpt-%08ld.h5", where, steps[n]);
        if (ckpt_validate(path) == 0) return 0;
        fprintf(stderr, "fmtrain: warning: skipping unreadable checkpoint '%s'\n", path);
    }
    return 1;
}

int fm_is_checkpoint(const char *path) {
    quiet();
    if (access(path, F_OK)) return 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return 0;
    char *fmt = read_attr_str(f, "format");
    int yes = fmt && !strcmp(fmt, "fmtrain-checkpoint");
    free(fmt);
    H5Fclose(f);
    return yes;
}

int fm_ckpt_prune(const char *dir, long keep) {
    if (keep <= 0) return 0;
    long steps[FM_MAX_CKPTS];
    long n = ckpt_steps(dir, steps);
    if (n < 0) return -1;
    for (long i = 0; i + keep < n; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/ckpt-%08ld.h5", dir, steps[i]);
        if (unlink(path)) return fm_err_set("cannot delete old checkpoint '%s': %s", path, strerror(errno));
    }
    return 0;
}

int fm_ckpt_read_meta(const char *path, long *step, size_t *count, char **config) {
    quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return fm_err_set("cannot open checkpoint '%s' (missing, truncated or not HDF5)", path);
    int rc = 0;
    long v = -1, n = -1;
    char *fmt = read_attr_str(f, "format");
    if (!fmt || strcmp(fmt, "fmtrain-checkpoint"))
        rc = fm_err_set("'%s' is not an fmtrain checkpoint (attribute 'format' is %s)", path, fmt ? fmt : "missing");
    else if (read_attr_i64(f, "format_version", &v) || v != FM_CKPT_FORMAT_VERSION)
        rc = fm_err_set("checkpoint '%s' has format version %ld, this fmtrain reads %d", path, v, FM_CKPT_FORMAT_VERSION);
    else if (read_attr_i64(f, "step", step) || *step < 0)
        rc = fm_err_set("checkpoint '%s': attribute 'step' missing or invalid", path);
    else if (read_attr_i64(f, "param_count", &n) || n <= 0)
        rc = fm_err_set("checkpoint '%s': attribute 'param_count' missing or invalid", path);
    else if (!(*config = read_attr_str(f, "config")))
        rc = fm_err_set("checkpoint '%s': attribute 'config' missing", path);
    /* a complete checkpoint holds all four buffers, whichever one the caller reads */
    const char *need[4] = {"params", "adam_m", "adam_v", "ema"};
    for (int i = 0; i < 4 && rc == 0; i++)
        if (H5Lexists(f, need[i], H5P_DEFAULT) <= 0)
            rc = fm_err_set("checkpoint '%s' is incomplete: no dataset '/%s'", path, need[i]);
    *count = (size_t)(n > 0 ? n : 0);
    free(fmt);
    H5Fclose(f);
    return rc;
}

static int read_floats(hid_t f, const char *file, const char *name, float *dst, size_t n) {
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return fm_err_set("checkpoint '%s' has no dataset '/%s'", file, name);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return fm_err_set("checkpoint '%s': cannot open '/%s'", file, name);
    hid_t s = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    int rank = H5Sget_simple_extent_ndims(s);
    if (rank == 1) H5Sget_simple_extent_dims(s, dims, NULL);
    H5Sclose(s);
    hid_t t = H5Dget_type(d);
    int is_float = H5Tget_class(t) == H5T_FLOAT;
    H5Tclose(t);
    int rc = 0;
    if (rank != 1 || dims[0] != n)
        rc = fm_err_set("checkpoint '%s': '/%s' has the wrong shape (expected %zu values)", file, name, n);
    else if (!is_float)
        rc = fm_err_set("checkpoint '%s': '/%s' is not floating point", file, name);
    else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
        rc = fm_err_set("checkpoint '%s': reading '/%s' failed (file truncated?)", file, name);
    H5Dclose(d);
    if (rc == 0)
        for (size_t i = 0; i < n; i++)
            if (!isfinite(dst[i])) return fm_err_set("checkpoint '%s': '/%s' holds non-finite values", file, name);
    return rc;
}

int fm_ckpt_read(const char *path, const FmParamTable *tab, float *params, float *adam_m, float *adam_v, float *ema) {
    quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return fm_err_set("cannot open checkpoint '%s'", path);
    const char *names[4] = {"params", "adam_m", "adam_v", "ema"};
    float *dst[4] = {params, adam_m, adam_v, ema};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++)
        if (dst[i]) rc = read_floats(f, path, names[i], dst[i], tab->total);
    H5Fclose(f);
    return rc;
}

/* ---- training log ---- */

static const char *LOG_COLS[6] = {"step", "loss", "lr", "grad_norm", "samples_per_s", "time"};

/* Reads the six columns of an existing log (rows of equal length) into cols[c][0..n). */
static int log_read(const char *path, size_t *n, double *cols[6]) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    int rc = 0;
    *n = 0;
    for (int c = 0; c < 6 && rc == 0; c++) {
        hid_t d = H5Dopen2(f, LOG_COLS[c], H5P_DEFAULT), s = d < 0 ? -1 : H5Dget_space(d);
        hsize_t len = 0;
        if (s < 0 || H5Sget_simple_extent_ndims(s) != 1 || H5Sget_simple_extent_dims(s, &len, NULL) < 0 ||
            (c > 0 && len != *n) || len > ((hsize_t)1 << 32))
            rc = -1;
        if (s >= 0) H5Sclose(s);
        if (rc == 0) {
            *n = (size_t)len;
            cols[c] = fm_calloc(len ? len : 1, sizeof(double));
            if (len && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, cols[c]) < 0) rc = -1;
        }
        if (d >= 0) H5Dclose(d);
    }
    H5Fclose(f);
    return rc;
}

int fm_log_append(const char *path, const FmLogRow *rows, size_t n, long drop_after, const FmFileMeta *meta) {
    quiet();
    double *cols[6] = {0};
    size_t old = 0;
    if (access(path, F_OK) == 0 && log_read(path, &old, cols)) {
        char aside[4200];
        snprintf(aside, sizeof aside, "%s.damaged", path);
        if (rename(path, aside)) return fm_err_set("training log '%s' is unreadable and cannot be moved aside", path);
        fprintf(stderr, "fmtrain: warning: training log '%s' was unreadable; moved it to '%s', starting a new log\n",
                path, aside);
        old = 0;
    }
    /* on resume, forget rows logged after the checkpoint we resumed from */
    if (drop_after >= 0)
        for (size_t i = 0; i < old; i++)
            if (cols[0][i] > (double)drop_after) old = i;
    const size_t total = old + n;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    errno = 0;
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int rc = f < 0 ? -1 : write_meta(f, "fmtrain-log", meta);
    hsize_t dims[1] = {total}, unl[1] = {H5S_UNLIMITED}, chunk[1] = {1024};
    hid_t s = H5Screate_simple(1, dims, unl), p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(p, 1, chunk);
    double *col = fm_calloc(total ? total : 1, sizeof *col);
    int64_t *st = fm_calloc(total ? total : 1, sizeof *st);
    for (int c = 0; c < 6 && rc == 0; c++) {
        for (size_t i = 0; i < old; i++) col[i] = cols[c][i];
        for (size_t i = 0; i < n; i++)
            col[old + i] = c == 0 ? (double)rows[i].step : c == 1 ? rows[i].loss : c == 2 ? rows[i].lr
                         : c == 3 ? rows[i].grad_norm : c == 4 ? rows[i].samples_per_s : rows[i].time;
        hid_t type = c ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
        const void *buf = col;
        if (c == 0) {
            for (size_t i = 0; i < total; i++) st[i] = (int64_t)col[i];
            buf = st;
        }
        hid_t d = H5Dcreate2(f, LOG_COLS[c], type, s, H5P_DEFAULT, p, H5P_DEFAULT);
        if (d < 0 || (total && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)) rc = -1;
        if (d >= 0) H5Dclose(d);
    }
    H5Pclose(p);
    H5Sclose(s);
    free(col), free(st);
    for (int c = 0; c < 6; c++) free(cols[c]);
    if (f >= 0 && H5Fclose(f) < 0) rc = -1;
    if (rc == 0) rc = commit_file(tmp, path);
    if (rc == 0) return 0;
    const char *why = write_cause(tmp, errno);
    unlink(tmp);
    return fm_err_set("writing training log '%s' failed: %s", path, why);
}

/* ---- generic output files ---- */

struct FmOut {
    hid_t f;
    int failed;
    char path[4096], tmp[4200];
};

FmOut *fm_out_create(const char *path, const char *format, const FmFileMeta *meta) {
    quiet();
    FmOut *o = fm_calloc(1, sizeof *o);
    snprintf(o->path, sizeof o->path, "%s", path);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp", path);
    errno = 0;
    o->f = H5Fcreate(o->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (o->f < 0) o->failed = 1;
    else if (write_meta(o->f, format, meta)) o->failed = 1;
    return o;
}

static void out_data(FmOut *o, const char *name, hid_t type, int rank, const size_t *dims, const void *data) {
    if (o->failed) return;
    hsize_t d[8];
    for (int i = 0; i < rank && i < 8; i++) d[i] = dims[i];
    if (rank > 8 || write_dataset(o->f, name, type, rank, d, data)) o->failed = 1;
}

void fm_out_floats(FmOut *o, const char *name, int rank, const size_t *dims, const float *data) {
    out_data(o, name, H5T_NATIVE_FLOAT, rank, dims, data);
}
void fm_out_doubles(FmOut *o, const char *name, int rank, const size_t *dims, const double *data) {
    out_data(o, name, H5T_NATIVE_DOUBLE, rank, dims, data);
}
void fm_out_longs(FmOut *o, const char *name, size_t n, const long *data) {
    int64_t *v = fm_calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = data[i];
    out_data(o, name, H5T_NATIVE_INT64, 1, &n, v);
    free(v);
}
void fm_out_attr_str(FmOut *o, const char *name, const char *value) {
    if (!o->failed && attr_str(o->f, name, value)) o->failed = 1;
}
void fm_out_attr_f64(FmOut *o, const char *name, double value) {
    if (!o->failed && attr_f64(o->f, name, value)) o->failed = 1;
}
void fm_out_attr_i64(FmOut *o, const char *name, long value) {
    if (!o->failed && attr_i64(o->f, name, value)) o->failed = 1;
}

int fm_out_close(FmOut *o) {
    int failed = o->failed;
    if (o->f >= 0 && H5Fclose(o->f) < 0) failed = 1;
    int rc = 0;
    if (failed) {
        const char *why = write_cause(o->tmp, errno);
        unlink(o->tmp);
        rc = fm_err_set("cannot write '%s': %s", o->path, why);
    } else if (commit_file(o->tmp, o->path)) {
        rc = fm_err_set("cannot write '%s': %s", o->path, strerror(errno));
    }
    free(o);
    return rc;
}

int fm_read_matrix(const char *path, const char *dset, float **data, size_t *N, size_t *D) {
    quiet();
    *data = NULL;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return fm_err_set("cannot open data file '%s' (missing or not HDF5)", path);
    int rc = 0;
    if (H5Lexists(f, dset, H5P_DEFAULT) <= 0) {
        H5Fclose(f);
        return fm_err_set("data file '%s' has no dataset '/%s'", path, dset);
    }
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT), s = H5Dget_space(d), t = H5Dget_type(d);
    hsize_t dims[2] = {0, 0};
    int rank = H5Sget_simple_extent_ndims(s);
    H5T_class_t cls = H5Tget_class(t);
    if (rank != 2) rc = fm_err_set("'%s:/%s' must be 2-D (N x D), it has rank %d", path, dset, rank);
    else if (cls != H5T_FLOAT && cls != H5T_INTEGER) rc = fm_err_set("'%s:/%s' is not numeric", path, dset);
    else {
        H5Sget_simple_extent_dims(s, dims, NULL);
        if (dims[0] == 0 || dims[1] == 0 || dims[0] * dims[1] > ((hsize_t)1 << 32))
            rc = fm_err_set("'%s:/%s' has an unusable shape %llu x %llu", path, dset, (unsigned long long)dims[0],
                            (unsigned long long)dims[1]);
    }
    if (!rc) {
        *data = fm_malloc_floats((size_t)(dims[0] * dims[1]));
        if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0)
            rc = fm_err_set("reading '%s:/%s' failed (file truncated?)", path, dset);
        for (size_t i = 0; !rc && i < (size_t)(dims[0] * dims[1]); i++)
            if (!isfinite((*data)[i])) rc = fm_err_set("'%s:/%s' holds non-finite values (item %zu)", path, dset, i / (size_t)dims[1]);
        if (rc) free(*data), *data = NULL;
    }
    *N = (size_t)dims[0];
    *D = (size_t)dims[1];
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
    return rc;
}

/* ---- training data sets ---- */

struct FmReader {
    hid_t f, d, space;
    FmDataInfo info;
    unsigned char *buf; /* one image */
    double items, bytes;
    char path[1024];
};

static int dset_rank_dims(hid_t d, hsize_t *dims, int max) {
    hid_t sp = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank > 0 && rank <= max) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    return rank;
}

void fm_reader_close(FmReader *r) {
    if (!r) return;
    if (r->space >= 0) H5Sclose(r->space);
    if (r->d >= 0) H5Dclose(r->d);
    if (r->f >= 0) H5Fclose(r->f);
    free(r->buf);
    free(r);
}

static int check_labels(FmReader *r) {
    hid_t l = H5Dopen2(r->f, "labels", H5P_DEFAULT);
    hsize_t dims[1] = {0};
    hid_t t = H5Dget_type(l);
    int rank = dset_rank_dims(l, dims, 1), rc = 0;
    if (H5Tget_class(t) != H5T_INTEGER) rc = fm_err_set("'%s': /labels is not integer", r->path);
    else if (rank != 1 || dims[0] != r->info.N)
        rc = fm_err_set("'%s': /labels must be 1-D with %zu entries (one per item)", r->path, r->info.N);
    if (!rc) {
        int64_t *lab = fm_calloc(r->info.N, sizeof *lab);
        if (H5Dread(l, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) < 0)
            rc = fm_err_set("'%s': reading /labels failed (file truncated?)", r->path);
        long k = -1;
        if (H5Aexists(r->f, "num_classes") > 0) read_attr_i64(r->f, "num_classes", &k);
        int64_t mx = 0;
        for (size_t i = 0; !rc && i < r->info.N; i++) {
            if (lab[i] < 0 || (k > 0 && lab[i] >= k))
                rc = fm_err_set("'%s': label %lld of item %zu is outside [0, %ld)", r->path, (long long)lab[i], i, k > 0 ? k : 0);
            if (lab[i] > mx) mx = lab[i];
        }
        r->info.num_classes = k > 0 ? k : (long)mx + 1;
        free(lab);
    }
    H5Tclose(t);
    H5Dclose(l);
    return rc;
}

/* Float data must be finite: scanned once, in blocks of rows. */
static int check_finite(FmReader *r) {
    const size_t N = r->info.N, D = r->info.D, rows = D < 65536 ? 65536 / D + 1 : 1;
    float *blk = fm_malloc_floats(rows * D);
    int rc = 0;
    for (size_t i0 = 0; i0 < N && !rc; i0 += rows) {
        hsize_t start[2] = {i0, 0}, count[2] = {N - i0 < rows ? N - i0 : rows, D};
        hid_t ms = H5Screate_simple(2, count, NULL);
        H5Sselect_hyperslab(r->space, H5S_SELECT_SET, start, NULL, count, NULL);
        if (H5Dread(r->d, H5T_NATIVE_FLOAT, ms, r->space, H5P_DEFAULT, blk) < 0)
            rc = fm_err_set("'%s': reading /data failed (file truncated?)", r->path);
        for (size_t k = 0; !rc && k < count[0] * D; k++)
            if (!isfinite(blk[k])) rc = fm_err_set("'%s': /data holds a non-finite value (NaN or Inf) in item %zu", r->path, i0 + k / D);
        H5Sclose(ms);
    }
    free(blk);
    return rc;
}

FmReader *fm_reader_open(const char *path, FmDataInfo *info) {
    quiet();
    FmReader *r = fm_calloc(1, sizeof *r);
    r->f = r->d = r->space = -1;
    snprintf(r->path, sizeof r->path, "%s", path);
    memset(&r->info, 0, sizeof r->info);
    int rc = 0;
    if (access(path, R_OK)) rc = fm_err_set("data file '%s' does not exist or is not readable", path);
    else if ((r->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        rc = fm_err_set("cannot open data file '%s' (not HDF5, or truncated)", path);
    int images = 0;
    if (!rc) {
        images = H5Lexists(r->f, "images", H5P_DEFAULT) > 0;
        if (!images && H5Lexists(r->f, "data", H5P_DEFAULT) <= 0)
            rc = fm_err_set("data file '%s' has neither /images (uint8 N x C x H x W) nor /data (float N x D)", path);
    }
    if (!rc) {
        r->d = H5Dopen2(r->f, images ? "images" : "data", H5P_DEFAULT);
        r->space = H5Dget_space(r->d);
        hsize_t dims[4] = {0, 0, 0, 0};
        hid_t t = H5Dget_type(r->d);
        int rank = dset_rank_dims(r->d, dims, 4);
        if (images) {
            if (H5Tget_class(t) != H5T_INTEGER || H5Tget_size(t) != 1 || H5Tget_sign(t) != H5T_SGN_NONE)
                rc = fm_err_set("'%s': /images must be uint8", path);
            else if (rank != 4)
                rc = fm_err_set("'%s': /images must have rank 4 (N x C x H x W), it has rank %d", path, rank);
        } else {
            if (H5Tget_class(t) != H5T_FLOAT) rc = fm_err_set("'%s': /data must be floating point", path);
            else if (rank != 2) rc = fm_err_set("'%s': /data must have rank 2 (N x D), it has rank %d", path, rank);
        }
        H5Tclose(t);
        if (!rc) {
            r->info.images = images;
            r->info.N = (size_t)dims[0];
            r->info.C = images ? (size_t)dims[1] : 1;
            r->info.H = images ? (size_t)dims[2] : 1;
            r->info.W = images ? (size_t)dims[3] : (size_t)dims[1];
            r->info.D = r->info.C * r->info.H * r->info.W;
            if (r->info.N == 0) rc = fm_err_set("data file '%s' holds no items (N = 0)", path);
            else if (r->info.D == 0 || r->info.D > (1u << 26))
                rc = fm_err_set("'%s': unusable item size %zu values", path, r->info.D);
        }
    }
    if (!rc && H5Lexists(r->f, "labels", H5P_DEFAULT) > 0) {
        r->info.has_labels = 1;
        rc = check_labels(r);
    }
    if (!rc && !images) rc = check_finite(r);
    if (!rc) {
        char *name = read_attr_str(r->f, "name");
        snprintf(r->info.name, sizeof r->info.name, "%s", name ? name : path);
        free(name);
        r->buf = fm_calloc(r->info.D, 1);
        *info = r->info;
        return r;
    }
    fm_reader_close(r);
    return NULL;
}

int fm_reader_read(FmReader *r, const uint64_t *idx, size_t n, float *out) {
    const size_t D = r->info.D;
    hsize_t mdim[1] = {D};
    hid_t ms = H5Screate_simple(1, mdim, NULL);
    int rc = 0;
    for (size_t k = 0; k < n && !rc; k++) {
        FM_CHECK(idx[k] < r->info.N, "reader: item %llu outside [0, %zu)", (unsigned long long)idx[k], r->info.N);
        if (r->info.images) {
            hsize_t start[4] = {idx[k], 0, 0, 0}, count[4] = {1, r->info.C, r->info.H, r->info.W};
            H5Sselect_hyperslab(r->space, H5S_SELECT_SET, start, NULL, count, NULL);
            if (H5Dread(r->d, H5T_NATIVE_UCHAR, ms, r->space, H5P_DEFAULT, r->buf) < 0) rc = -1;
            for (size_t j = 0; j < D; j++) out[k * D + j] = (float)r->buf[j];
        } else {
            hsize_t start[2] = {idx[k], 0}, count[2] = {1, D};
            H5Sselect_hyperslab(r->space, H5S_SELECT_SET, start, NULL, count, NULL);
            if (H5Dread(r->d, H5T_NATIVE_FLOAT, ms, r->space, H5P_DEFAULT, out + k * D) < 0) rc = -1;
        }
    }
    H5Sclose(ms);
    if (rc) return fm_err_set("reading items from '%s' failed (file changed or damaged?)", r->path);
    r->items += (double)n;
    r->bytes += (double)n * (double)D * (r->info.images ? 1.0 : 4.0);
    return 0;
}

void fm_reader_stats(const FmReader *r, double *items, double *bytes) {
    *items = r->items;
    *bytes = r->bytes;
}
