/* h5io.c - checkpoints, training log and samples in HDF5 (the only file that includes <hdf5.h>).
 * Every HDF5 call is checked; errors name the file (and dataset) and return -1 with
 * fm_err_set, so the caller can agree with the other ranks and exit cleanly. */
#define _POSIX_C_SOURCE 200809L
#include "fm/h5io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
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
static herr_t raw_vlen_conv(hid_t src, hid_t dst, H5T_cdata_t *cdata, size_t nelmts, size_t buf_stride, size_t bkg_stride,
                            void *buf, void *bkg, hid_t dxpl);
#define RAW_VLEN_TAG "fmtrain: raw variable-length heap ID"

/* Link access for reading: an external link (to another file) is never followed. */
static herr_t deny_elink(const char *parent_file, const char *parent_group, const char *file, const char *obj,
                         unsigned *flags, hid_t fapl, void *op) {
    (void)parent_file, (void)parent_group, (void)file, (void)obj, (void)flags, (void)fapl, (void)op;
    return -1;
}
static hid_t g_lapl = H5P_DEFAULT;

static void quiet(void) {
    static int done = 0;
    if (done) return;
    H5dont_atexit(), H5Eset_auto2(H5E_DEFAULT, NULL, NULL), done = 1;
    /* the raw reading of variable-length strings (vlen_heap_ok) */
    hid_t s = H5Tcopy(H5T_C_S1), o = H5Tcreate(H5T_OPAQUE, 16);
    H5Tset_size(s, H5T_VARIABLE);
    H5Tset_tag(o, RAW_VLEN_TAG);
    H5Tregister(H5T_PERS_SOFT, "fmtrain raw vlen", s, o, raw_vlen_conv);
    H5Tclose(o), H5Tclose(s);
    hid_t l = H5Pcreate(H5P_LINK_ACCESS);
    if (l >= 0 && H5Pset_elink_cb(l, deny_elink, NULL) >= 0) g_lapl = l;
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

/* ---- reading files fmtrain did not write, or that were damaged since ----
 * Nothing a file claims is trusted before it is checked: a path must name a regular file (a
 * FIFO would block H5Fopen forever); an object must be a dataset reached by a hard link (not a
 * group, no soft link, no link to another file: none is ever followed); an attribute must hold one value of the expected class, and a
 * string a bounded number of bytes; dataset types are checked by class, size and sign; sizes
 * are computed without overflow and compared with the file's own size before anything is
 * allocated for them; the bytes must be stored plainly (no filter, no external file, no
 * virtual layout, chunks of a sane size) and must have been written (chunks never written
 * read back as zeros). Every problem is one fm_err_set message naming the file. */

#define ATTR_STR_MAX ((size_t)64 << 10)      /* longest string attribute read (a configuration is ~1 kB) */
#define CHUNK_MAX ((unsigned long long)64 << 20) /* largest chunk read (unless one item is larger) */
#define ITEM_VALUES_MAX ((unsigned long long)1 << 26) /* values per data set item */
#define MATRIX_VALUES_MAX ((unsigned long long)1 << 32) /* values of a matrix read whole */
#define STEP_MAX 1000000000000000L           /* the largest --steps */

/* A printable copy of an untrusted string for messages (at most n - 1 bytes). */
static const char *printable(const char *s, char *buf, size_t n) {
    size_t k = 0;
    for (; s[k] && k + 1 < n; k++) buf[k] = (unsigned char)s[k] < 0x20 || (unsigned char)s[k] >= 0x7f ? '?' : s[k];
    buf[k] = '\0';
    if (s[k] && n > 4) memcpy(buf + n - 4, "...", 4);
    return buf;
}

/* What a datatype is, for messages: "uint8", "float64", "a string", "a compound type", ... */
static const char *type_name(hid_t t, char *buf, size_t n) {
    H5T_class_t c = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    size_t bits = t < 0 ? 0 : 8 * H5Tget_size(t);
    switch (c) {
    case H5T_INTEGER: snprintf(buf, n, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", bits); break;
    case H5T_FLOAT: snprintf(buf, n, "float%zu", bits); break;
    case H5T_STRING: snprintf(buf, n, "a string"); break;
    case H5T_COMPOUND: snprintf(buf, n, "a compound type"); break;
    case H5T_ENUM: snprintf(buf, n, "an enumeration"); break;
    case H5T_ARRAY: snprintf(buf, n, "an array type"); break;
    case H5T_VLEN: snprintf(buf, n, "a variable-length type"); break;
    case H5T_BITFIELD: snprintf(buf, n, "a bit field"); break;
    case H5T_OPAQUE: snprintf(buf, n, "an opaque type"); break;
    case H5T_REFERENCE: snprintf(buf, n, "a reference"); break;
    case H5T_TIME: snprintf(buf, n, "a time type"); break;
    default: snprintf(buf, n, "an unreadable type"); break;
    }
    return buf;
}

/* What a non-regular file is, for messages. */
static const char *file_kind(mode_t m) {
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : "not a plain file";
}

/* Opens PATH (a `what`, for messages: "checkpoint", "data file") read-only, if it is an existing,
 * readable regular file; *size = its size in bytes. The file id, or -1 (fm_err_set). */
static hid_t open_input(const char *path, const char *what, long long *size) {
    struct stat st;
    if (stat(path, &st)) return fm_err_set("%s '%s' does not exist or is not readable (%s)", what, path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return fm_err_set("%s '%s' is not a regular file (it is %s)", what, path, file_kind(st.st_mode));
    if (access(path, R_OK)) return fm_err_set("%s '%s' is not readable (%s)", what, path, strerror(errno));
    if (st.st_size == 0) return fm_err_set("%s '%s' is empty (0 bytes)", what, path);
    *size = (long long)st.st_size;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG); /* closing the file closes whatever is still open in it */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) return fm_err_set("cannot open %s '%s' (not HDF5, truncated or damaged)", what, path);
    return f;
}

/* ---- variable-length strings: their global heap collection is checked before libhdf5 reads it ----
 * libhdf5 1.10.8 trusts a collection's object sizes: a free-space object of size 0 makes it loop
 * forever while loading the collection, and an object larger than the string's recorded length
 * is copied past the end of the buffer sized for that length. So before a variable-length string
 * attribute is read, its raw heap ID (length, collection address, object index: what the file
 * holds) is fetched through a conversion that leaves the bytes as they are, and the collection
 * is walked here as libhdf5 would walk it, every size checked. */

#define HEAP_MAX ((uint64_t)64 << 20) /* largest collection checked (h5py makes them 4 kB and up) */

/* The identity conversion from a variable-length string (as stored) to an opaque type tagged
 * RAW_VLEN_TAG: the heap ID stays in the buffer untouched. */
static herr_t raw_vlen_conv(hid_t src, hid_t dst, H5T_cdata_t *cdata, size_t nelmts, size_t buf_stride, size_t bkg_stride,
                            void *buf, void *bkg, hid_t dxpl) {
    (void)nelmts, (void)buf_stride, (void)bkg_stride, (void)buf, (void)bkg, (void)dxpl;
    if (cdata->command != H5T_CONV_INIT) return 0;
    if (H5Tget_class(dst) != H5T_OPAQUE || H5Tis_variable_str(src) <= 0) return -1;
    char *tag = H5Tget_tag(dst);
    int ours = tag && !strcmp(tag, RAW_VLEN_TAG);
    if (tag) H5free_memory(tag);
    if (!ours) return -1;
    cdata->need_bkg = H5T_BKG_NO;
    return 0;
}

static uint64_t get_le(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

/* 1 if the variable-length string attribute A (one value) can be read safely, else 0 with
 * `why` saying what is damaged. */
static int vlen_heap_ok(hid_t a, char *why, size_t wn) {
    unsigned char raw[16] = {0};
    hid_t rt = H5Tcreate(H5T_OPAQUE, sizeof raw);
    herr_t r = rt < 0 || H5Tset_tag(rt, RAW_VLEN_TAG) < 0 ? -1 : H5Aread(a, rt, raw);
    if (rt >= 0) H5Tclose(rt);
    hid_t fid = H5Iget_file_id(a), fcpl = fid < 0 ? -1 : H5Fget_create_plist(fid);
    size_t sa = 0, ss = 0;
    hsize_t base = 0;
    char path[4096];
    ssize_t pl = fid < 0 ? -1 : H5Fget_name(fid, path, sizeof path);
    int ok = r >= 0 && fcpl >= 0 && H5Pget_sizes(fcpl, &sa, &ss) >= 0 && H5Pget_userblock(fcpl, &base) >= 0 && pl > 0 &&
             (size_t)pl < sizeof path && sa >= 2 && sa <= 8 && ss >= 2 && ss <= 8;
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fid >= 0) H5Fclose(fid);
    if (!ok) return snprintf(why, wn, "cannot be read"), 0;
    const uint64_t len = get_le(raw, 4), addr = get_le(raw + 4, sa), idx = get_le(raw + 4 + sa, 4);
    if (addr == 0 && len == 0) return 1; /* a null string: no heap object */
    const uint64_t hdr = 8 + ss, objhdr = 8 + ss; /* collection header, object header */
    int fd = open(path, O_RDONLY);
    struct stat st;
    unsigned char h[16];
    uint64_t size = 0, off = base + addr;
    ok = fd >= 0 && fstat(fd, &st) == 0 && off >= base && off < (uint64_t)st.st_size &&
         hdr <= (uint64_t)st.st_size - off && pread(fd, h, hdr, (off_t)off) == (ssize_t)hdr && !memcmp(h, "GCOL", 4) && h[4] == 1;
    if (ok) size = get_le(h + 8, ss);
    ok = ok && idx > 0 && size >= hdr + objhdr && size <= (uint64_t)st.st_size - off && size <= HEAP_MAX;
    unsigned char *heap = ok ? malloc(size) : NULL;
    ok = ok && heap && pread(fd, heap, size, (off_t)off) == (ssize_t)size;
    if (fd >= 0) close(fd);
    int found = 0;
    uint64_t found_size = 0;
    for (uint64_t p = hdr; ok && p < size && p + objhdr <= size;) { /* a tail shorter than a header is free space */
        const uint64_t i = get_le(heap + p, 2), osz = get_le(heap + p + 8, ss);
        uint64_t need = osz; /* object 0 is the free space, its size counts its header */
        if (i > 0) need = osz > size ? 0 : objhdr + (osz + 7) / 8 * 8;
        if (need < objhdr || need > size - p) ok = 0;
        if (i == idx) found = 1, found_size = osz;
        p += need;
    }
    free(heap);
    if (!ok || !found || found_size != len) return snprintf(why, wn, "is damaged (its global heap object is missing or malformed)"), 0;
    return 1;
}

/* Attribute NAME of LOC, if it holds exactly one value (a scalar, or an array of one).
 * 0 (*a is open), 1 if there is no such attribute, -1 (`why` says what is wrong). */
static int attr_open1(hid_t loc, const char *name, hid_t *a, char *why, size_t wn) {
    htri_t e = H5Aexists(loc, name);
    if (e == 0) return 1;
    if (e < 0 || (*a = H5Aopen(loc, name, H5P_DEFAULT)) < 0) return snprintf(why, wn, "cannot be read"), -1;
    hid_t s = H5Aget_space(*a);
    H5S_class_t sc = s < 0 ? H5S_NO_CLASS : H5Sget_simple_extent_type(s);
    long long np = s < 0 ? -1 : (long long)H5Sget_simple_extent_npoints(s);
    if (s >= 0) H5Sclose(s);
    if (sc == H5S_SCALAR || (sc == H5S_SIMPLE && np == 1)) return 0;
    if (sc == H5S_SIMPLE) snprintf(why, wn, "is an array of %lld values, not a single value", np);
    else snprintf(why, wn, "holds no value");
    H5Aclose(*a);
    return -1;
}

/* An integer attribute (any integer type up to 64 bits). 0, 1 if missing, -1 (why). */
static int attr_long(hid_t loc, const char *name, long *v, char *why, size_t wn) {
    hid_t a;
    int rc = attr_open1(loc, name, &a, why, wn);
    if (rc) return rc;
    hid_t t = H5Aget_type(a);
    char tn[40];
    int64_t x = 0;
    if (t < 0 || H5Tget_class(t) != H5T_INTEGER || H5Tget_size(t) > 8)
        snprintf(why, wn, "is %s, not an integer", type_name(t, tn, sizeof tn)), rc = -1;
    else if (H5Aread(a, H5T_NATIVE_INT64, &x) < 0)
        snprintf(why, wn, "cannot be read"), rc = -1;
    else
        *v = (long)x;
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return rc;
}

/* A string attribute (fixed or variable length, of at most `max` bytes) as a malloc'ed
 * string in *out. 0, 1 if missing, -1 (why). */
static int attr_string(hid_t loc, const char *name, size_t max, char **out, char *why, size_t wn) {
    *out = NULL;
    hid_t a;
    int rc = attr_open1(loc, name, &a, why, wn);
    if (rc) return rc;
    hid_t ft = H5Aget_type(a), mt = -1;
    char tn[40];
    H5T_cset_t cset = ft < 0 ? H5T_CSET_ERROR : H5Tget_cset(ft);
    H5T_str_t pad = ft < 0 ? H5T_STR_ERROR : H5Tget_strpad(ft);
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING) {
        snprintf(why, wn, "is %s, not a string", type_name(ft, tn, sizeof tn)), rc = -1;
    } else if ((cset != H5T_CSET_ASCII && cset != H5T_CSET_UTF8) ||
               (pad != H5T_STR_NULLTERM && pad != H5T_STR_NULLPAD && pad != H5T_STR_SPACEPAD)) {
        snprintf(why, wn, "is a string of an unknown character set or padding (damaged?)"), rc = -1;
    } else if (H5Tis_variable_str(ft) > 0) {
        mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, cset); /* the library converts no character sets: read it as stored */
        char *v = NULL;
        if (!vlen_heap_ok(a, why, wn)) rc = -1;
        else if (H5Aread(a, mt, &v) < 0 || !v) snprintf(why, wn, "cannot be read"), rc = -1;
        else if (strnlen(v, max + 1) > max) snprintf(why, wn, "is longer than %zu bytes", max), rc = -1;
        else *out = strdup(v);
        if (v) H5free_memory(v);
    } else {
        size_t n = H5Tget_size(ft);
        if (n == 0 || n > max) {
            snprintf(why, wn, "is longer than %zu bytes (%zu)", max, n), rc = -1;
        } else {
            *out = fm_calloc(n + 1, 1);
            mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, n + 1);
            H5Tset_cset(mt, cset);
            H5Tset_strpad(mt, H5T_STR_NULLTERM);
            if (H5Aread(a, mt, *out) < 0) free(*out), *out = NULL, snprintf(why, wn, "cannot be read"), rc = -1;
        }
    }
    if (rc == 0 && !*out) snprintf(why, wn, "cannot be read"), rc = -1;
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

/* An open dataset and what its header says. n (the number of values) and bytes are valid
 * only when `overflow` is 0. */
typedef struct {
    hid_t d, type, space;
    int rank;
    hsize_t dims[H5S_MAX_RANK];
    unsigned long long n, bytes;
    int overflow;
    H5T_class_t cls;
    size_t tsize;
    H5T_sign_t sign;
} Dset;

static void dset_close(Dset *ds) {
    if (ds->space >= 0) H5Sclose(ds->space);
    if (ds->type >= 0) H5Tclose(ds->type);
    if (ds->d >= 0) H5Oclose(ds->d);
    ds->d = ds->type = ds->space = -1;
}

/* "A x B x C" for messages. */
static const char *dims_str(const Dset *ds, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < ds->rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%llu", i ? " x " : "", (unsigned long long)ds->dims[i]);
    return buf;
}

/* Opens dataset /NAME of file F (CTX names the file in messages: "'f.h5':" or "checkpoint
 * 'f.h5':"). 0, 1 if there is no such link, -1 (fm_err_set). */
static int dset_open(hid_t f, const char *ctx, const char *name, Dset *ds) {
    memset(ds, 0, sizeof *ds);
    ds->d = ds->type = ds->space = -1;
    htri_t e = H5Lexists(f, name, g_lapl);
    if (e == 0) return 1;
    H5L_info_t li;
    if (e < 0 && strchr(name, '/')) return 1; /* a missing group on the way */
    if (e < 0 || H5Lget_info(f, name, &li, g_lapl) < 0) return fm_err_set("%s /%s cannot be read (damaged file?)", ctx, name);
    if (li.type != H5L_TYPE_HARD)
        return fm_err_set("%s /%s is %s, not a dataset in this file", ctx, name,
                          li.type == H5L_TYPE_SOFT       ? "a soft link"
                          : li.type == H5L_TYPE_EXTERNAL ? "an external link (to another file)"
                                                         : "a user-defined link");
    hid_t o = H5Oopen(f, name, g_lapl);
    if (o < 0) return fm_err_set("%s /%s cannot be opened (a dangling link, or a damaged file)", ctx, name);
    H5I_type_t it = H5Iget_type(o);
    if (it != H5I_DATASET) {
        H5Oclose(o);
        return fm_err_set("%s /%s is %s, not a dataset", ctx, name,
                          it == H5I_GROUP ? "a group" : it == H5I_DATATYPE ? "a named datatype" : "no dataset");
    }
    ds->d = o;
    ds->type = H5Dget_type(o);
    ds->space = H5Dget_space(o);
    ds->tsize = ds->type < 0 ? 0 : H5Tget_size(ds->type);
    if (ds->type < 0 || ds->space < 0 || ds->tsize == 0)
        return dset_close(ds), fm_err_set("%s /%s cannot be read (damaged file?)", ctx, name);
    ds->cls = H5Tget_class(ds->type);
    ds->sign = ds->cls == H5T_INTEGER ? H5Tget_sign(ds->type) : H5T_SGN_ERROR;
    ds->rank = H5Sget_simple_extent_ndims(ds->space);
    if (ds->rank < 0 || ds->rank > H5S_MAX_RANK || H5Sget_simple_extent_type(ds->space) != H5S_SIMPLE) ds->rank = 0;
    if (ds->rank > 0 && H5Sget_simple_extent_dims(ds->space, ds->dims, NULL) < 0)
        return dset_close(ds), fm_err_set("%s /%s cannot be read (damaged file?)", ctx, name);
    unsigned long long n = ds->rank > 0 ? 1 : 0;
    for (int i = 0; i < ds->rank; i++) {
        if (ds->dims[i] && n > ULLONG_MAX / ds->dims[i]) ds->overflow = 1;
        n *= ds->dims[i];
    }
    if (!ds->overflow && ds->tsize && n > ULLONG_MAX / ds->tsize) ds->overflow = 1;
    ds->n = ds->overflow ? 0 : n;
    ds->bytes = ds->overflow ? 0 : n * ds->tsize;
    return 0;
}

#define CHUNK_SCAN_MAX ((unsigned long long)1 << 24) /* chunks looked up one by one, at most */

/* Every chunk of an unfiltered chunked dataset was written and the index says it holds exactly
 * one chunk's bytes (a damaged index that claims more makes libhdf5 read past its buffer): the
 * stored total must be exactly one chunk's bytes per chunk, and every chunk must be found, one
 * lookup per chunk, about 0.5 us each (up to CHUNK_SCAN_MAX chunks). 0 or -1 (fm_err_set). */
static int check_chunks(const Dset *ds, const char *ctx, const char *name, const hsize_t *cdims, unsigned long long cb) {
    hsize_t grid[H5S_MAX_RANK], at[H5S_MAX_RANK], off[H5S_MAX_RANK];
    unsigned long long nchunks = 1;
    for (int i = 0; i < ds->rank; i++) {
        if (cdims[i] == 0) return fm_err_set("%s /%s has a damaged chunk layout (a chunk dimension is 0)", ctx, name);
        grid[i] = (ds->dims[i] + cdims[i] - 1) / cdims[i];
        nchunks *= grid[i]; /* no overflow: at most the number of values */
        at[i] = 0;
    }
    unsigned long long stored = H5Dget_storage_size(ds->d); /* the sum of what the index says each chunk holds */
    if (stored / cb != nchunks || stored % cb)
        return fm_err_set("%s /%s has a damaged chunk index (%llu bytes stored for %llu chunks of %llu bytes)", ctx, name,
                          stored, nchunks, cb);
    if (nchunks > CHUNK_SCAN_MAX) return 0;
    for (unsigned long long c = 0; c < nchunks; c++) {
        for (int i = 0; i < ds->rank; i++) off[i] = at[i] * cdims[i];
        hsize_t sz = 0;
        if (H5Dget_chunk_storage_size(ds->d, off, &sz) < 0)
            return fm_err_set("%s /%s has a damaged chunk index (chunk %llu cannot be looked up)", ctx, name, c);
        if (sz == 0)
            return fm_err_set("%s /%s was never written in full: chunk %llu of %llu is not stored (it would read as zeros)",
                              ctx, name, c, nchunks);
        if (sz != cb)
            return fm_err_set("%s /%s has a damaged chunk index: chunk %llu claims %llu bytes, a chunk holds %llu", ctx, name, c,
                              (unsigned long long)sz, cb);
        for (int i = ds->rank - 1; i >= 0 && ++at[i] == grid[i]; i--) at[i] = 0; /* the next chunk, row-major */
    }
    return 0;
}

/* The dataset's values are in this file, plainly, and were written: a contiguous, chunked or
 * compact layout, no external file, no filter, chunks of at most max_chunk bytes, all its
 * bytes no more than the file holds (fsize), and as many bytes stored as it has values.
 * 0 or -1 (fm_err_set). */
static int dset_check_storage(const Dset *ds, const char *ctx, const char *name, long long fsize,
                              unsigned long long max_chunk) {
    char dd[200];
    hid_t pl = H5Dget_create_plist(ds->d);
    if (pl < 0) return fm_err_set("%s /%s cannot be read (damaged file?)", ctx, name);
    H5D_layout_t lay = H5Pget_layout(pl);
    int next = H5Pget_external_count(pl), nf = H5Pget_nfilters(pl), rc = 0;
    hsize_t cdims[H5S_MAX_RANK];
    unsigned long long cb = ds->tsize; /* bytes per chunk */
    if (lay != H5D_CONTIGUOUS && lay != H5D_CHUNKED && lay != H5D_COMPACT) {
        rc = fm_err_set("%s /%s has %s layout (only contiguous, chunked or compact storage is read)", ctx, name,
                        lay == H5D_VIRTUAL ? "a virtual" : "an unreadable");
    } else if (next != 0) {
        rc = fm_err_set("%s /%s is stored in external files, not in this one", ctx, name);
    } else if (nf != 0) {
        char fname[64] = "";
        unsigned flags = 0, cd[8];
        size_t ncd = 8;
        H5Z_filter_t id = nf > 0 ? H5Pget_filter2(pl, 0, &flags, &ncd, cd, sizeof fname, fname, NULL) : -1;
        fname[sizeof fname - 1] = '\0';
        char pf[64];
        rc = fm_err_set("%s /%s is stored with filter %d '%s' (compression, shuffle, ...): data set files are stored "
                        "without filters", ctx, name, (int)id, printable(fname, pf, sizeof pf));
    } else if (lay == H5D_CHUNKED) {
        int cr = H5Pget_chunk(pl, H5S_MAX_RANK, cdims), big = 0;
        for (int i = 0; i < cr && !big; i++) {
            if (cdims[i] && cb > ULLONG_MAX / cdims[i]) big = 1;
            else cb *= cdims[i];
        }
        if (cr != ds->rank)
            rc = fm_err_set("%s /%s has a damaged chunk layout (chunks of rank %d, the dataset has rank %d)", ctx, name, cr,
                            ds->rank);
        else if (big || cb > max_chunk)
            rc = fm_err_set("%s /%s has chunks of %s%llu bytes (at most %llu bytes are read at once)", ctx, name,
                            big ? "more than " : "", big ? ULLONG_MAX : cb, max_chunk);
    }
    H5Pclose(pl);
    if (rc) return rc;
    if (ds->overflow || ds->bytes > (unsigned long long)fsize) {
        char total[40] = "more than 2^64";
        if (!ds->overflow) snprintf(total, sizeof total, "%llu", ds->bytes);
        char tn[40];
        return fm_err_set("%s /%s claims %s values of %s (%s bytes), more than the whole file holds (%lld bytes)", ctx, name,
                          dims_str(ds, dd, sizeof dd), type_name(ds->type, tn, sizeof tn), total, fsize);
    }
    if (lay == H5D_CONTIGUOUS && ds->bytes) {
        haddr_t off = H5Dget_offset(ds->d);
        if (off != HADDR_UNDEF && (off > (haddr_t)fsize || ds->bytes > (unsigned long long)fsize - off))
            return fm_err_set("%s /%s lies beyond the end of the file (truncated?)", ctx, name);
    }
    unsigned long long stored = H5Dget_storage_size(ds->d);
    if (stored < ds->bytes || (lay != H5D_CHUNKED && stored != ds->bytes))
        return fm_err_set("%s /%s was never written in full: %llu of its %llu bytes are stored (the rest would read as "
                          "zeros)", ctx, name, stored, ds->bytes);
    if (lay == H5D_CHUNKED && ds->n) return check_chunks(ds, ctx, name, cdims, cb);
    return 0;
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

/* The identity of a checkpoint: attribute format = "fmtrain-checkpoint". 0, or -1 with *why
 * saying what it is instead ("missing", "'fmtrain-log'", ...). */
static int ckpt_format(hid_t f, char *why, size_t wn) {
    char *fmt = NULL, w[160], p[64];
    int a = attr_string(f, "format", 256, &fmt, w, sizeof w), rc = -1;
    if (a == 1) snprintf(why, wn, "is missing");
    else if (a < 0) snprintf(why, wn, "%s", w);
    else if (strcmp(fmt, "fmtrain-checkpoint")) snprintf(why, wn, "is '%s'", printable(fmt, p, sizeof p));
    else rc = 0;
    free(fmt);
    return rc;
}

/* For fm_ckpt_find: a checkpoint that opens, says it is one, and has a step, a version and
 * /params (fm_ckpt_read_meta checks the rest, and says what is wrong). */
static int ckpt_validate(const char *path) {
    long long fsize;
    hid_t f = open_input(path, "checkpoint", &fsize);
    if (f < 0) return -1;
    long step = -1, v = -1;
    char why[160];
    int ok = ckpt_format(f, why, sizeof why) == 0 && attr_long(f, "step", &step, why, sizeof why) == 0 &&
             attr_long(f, "format_version", &v, why, sizeof why) == 0 && H5Lexists(f, "params", g_lapl) > 0;
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

int fm_out_check(const char *path, const char *format) {
    if (!path[0]) return fm_err_set("--out is empty");
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return fm_err_set("--out '%s' is a directory", path);
        long long fsize;
        hid_t f = S_ISREG(st.st_mode) ? (quiet(), open_input(path, "file", &fsize)) : -1;
        fm_err_clear();
        if (f >= 0) { /* an HDF5 file: one of fmtrain's of another kind is refused */
            char *fmt = NULL, w[160], p[64];
            const int a = attr_string(f, "format", 256, &fmt, w, sizeof w);
            H5Fclose(f);
            int rc = 0;
            if (a == 0 && !strncmp(fmt, "fmtrain-", 8) && strcmp(format, fmt))
                rc = !strcmp(fmt, "fmtrain-checkpoint")
                         ? fm_err_set("--out '%s' is a checkpoint: refusing to overwrite it", path)
                         : fm_err_set("--out '%s' is an fmtrain file of another kind (format '%s'): refusing to "
                                      "overwrite it", path, printable(fmt, p, sizeof p));
            free(fmt);
            if (rc) return rc;
        }
    }
    char dir[4096]; /* the file's directory must exist and be writable, before any work */
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    if (access(dir, W_OK | X_OK))
        return fm_err_set("cannot write --out '%s': directory '%s' %s", path, dir,
                          errno == ENOENT ? "does not exist" : strerror(errno));
    return 0;
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

static const char *CKPT_BUFS[4] = {"params", "adam_m", "adam_v", "ema"};

/* Opens and checks checkpoint buffer /NAME: float32, 1-D, n values, stored plainly and
 * written. 0 (ds open) or -1 (fm_err_set; ds closed). */
static int ckpt_buffer(hid_t f, const char *file, const char *name, size_t n, long long fsize, Dset *ds) {
    char ctx[1100], tn[40];
    snprintf(ctx, sizeof ctx, "checkpoint '%s':", file);
    int rc = dset_open(f, ctx, name, ds);
    if (rc == 1) rc = fm_err_set("checkpoint '%s' is incomplete: no dataset '/%s'", file, name);
    else if (rc == 0 && (ds->cls != H5T_FLOAT || ds->tsize != 4))
        rc = fm_err_set("%s /%s must be float32, it is %s", ctx, name, type_name(ds->type, tn, sizeof tn));
    else if (rc == 0 && ds->rank != 1)
        rc = fm_err_set("%s /%s must be 1-D, it has rank %d", ctx, name, ds->rank);
    else if (rc == 0 && ds->dims[0] != n)
        rc = fm_err_set("%s /%s holds %llu values, the checkpoint's parameter count is %zu", ctx, name,
                        (unsigned long long)ds->dims[0], n);
    else if (rc == 0)
        rc = dset_check_storage(ds, ctx, name, fsize, CHUNK_MAX);
    if (rc) dset_close(ds);
    return rc;
}

int fm_ckpt_read_meta(const char *path, long *step, size_t *count, char **config) {
    quiet();
    *count = 0;
    *config = NULL;
    long long fsize = 0;
    hid_t f = open_input(path, "checkpoint", &fsize);
    if (f < 0) return -1;
    int rc = 0, a;
    long v = -1, n = -1;
    char why[160];
    if (ckpt_format(f, why, sizeof why))
        rc = fm_err_set("'%s' is not an fmtrain checkpoint (attribute 'format' %s)", path, why);
    else if ((a = attr_long(f, "format_version", &v, why, sizeof why)))
        rc = fm_err_set("checkpoint '%s': attribute 'format_version' %s", path, a == 1 ? "is missing" : why);
    else if (v != FM_CKPT_FORMAT_VERSION)
        rc = fm_err_set("checkpoint '%s' has format version %ld, this fmtrain reads %d", path, v, FM_CKPT_FORMAT_VERSION);
    else if ((a = attr_long(f, "step", step, why, sizeof why)))
        rc = fm_err_set("checkpoint '%s': attribute 'step' %s", path, a == 1 ? "is missing" : why);
    else if (*step < 0 || *step > STEP_MAX)
        rc = fm_err_set("checkpoint '%s': attribute 'step' is %ld, outside [0, %ld]", path, *step, STEP_MAX);
    else if ((a = attr_long(f, "param_count", &n, why, sizeof why)))
        rc = fm_err_set("checkpoint '%s': attribute 'param_count' %s", path, a == 1 ? "is missing" : why);
    else if (n <= 0)
        rc = fm_err_set("checkpoint '%s': attribute 'param_count' is %ld (must be positive)", path, n);
    else if ((unsigned long long)n > (unsigned long long)fsize / (4 * sizeof(float)))
        rc = fm_err_set("checkpoint '%s': attribute 'param_count' claims %ld parameters (%.4g bytes in its four buffers), "
                        "more than the whole file holds (%lld bytes)", path, n, 4.0 * sizeof(float) * (double)n, fsize);
    else if ((a = attr_string(f, "config", ATTR_STR_MAX, config, why, sizeof why)))
        rc = fm_err_set("checkpoint '%s': attribute 'config' %s", path, a == 1 ? "missing" : why);
    /* a complete checkpoint holds all four buffers, whichever one the caller reads */
    for (int i = 0; i < 4 && rc == 0; i++) {
        Dset ds;
        rc = ckpt_buffer(f, path, CKPT_BUFS[i], (size_t)n, fsize, &ds);
        dset_close(&ds);
    }
    if (rc) free(*config), *config = NULL;
    else *count = (size_t)n;
    H5Fclose(f);
    return rc;
}

/* Reads a validated buffer into dst (n floats), or, with dst NULL, scans it in blocks: either
 * way every value must be finite. 0 or -1 (fm_err_set). */
static int ckpt_read_buffer(const Dset *ds, const char *file, const char *name, float *dst, size_t n) {
    enum { BLK = 1 << 16 };
    float *blk = dst ? NULL : fm_malloc_floats(BLK);
    int rc = 0;
    for (size_t i0 = 0; i0 < n && rc == 0; i0 += dst ? n : BLK) {
        hsize_t start[1] = {i0}, cnt[1] = {dst ? n : (n - i0 < BLK ? n - i0 : BLK)};
        float *buf = dst ? dst : blk;
        hid_t ms = H5Screate_simple(1, cnt, NULL);
        if (ms < 0 || H5Sselect_hyperslab(ds->space, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
            H5Dread(ds->d, H5T_NATIVE_FLOAT, ms, ds->space, H5P_DEFAULT, buf) < 0)
            rc = fm_err_set("checkpoint '%s': reading /%s failed (file truncated or damaged?)", file, name);
        if (ms >= 0) H5Sclose(ms);
        for (size_t k = 0; rc == 0 && k < cnt[0]; k++)
            if (!isfinite(buf[k]))
                rc = fm_err_set("checkpoint '%s': /%s holds non-finite values (%g at index %zu)", file, name, buf[k], i0 + k);
    }
    free(blk);
    return rc;
}

int fm_ckpt_read(const char *path, const FmParamTable *tab, float *params, float *adam_m, float *adam_v, float *ema) {
    quiet();
    long long fsize = 0;
    hid_t f = open_input(path, "checkpoint", &fsize);
    if (f < 0) return -1;
    float *dst[4] = {params, adam_m, adam_v, ema};
    int rc = 0;
    /* the buffers not asked for are checked too: a checkpoint with a damaged one is not loaded */
    for (int i = 0; i < 4 && rc == 0; i++) {
        Dset ds;
        rc = ckpt_buffer(f, path, CKPT_BUFS[i], tab->total, fsize, &ds);
        if (rc == 0) rc = ckpt_read_buffer(&ds, path, CKPT_BUFS[i], dst[i], tab->total);
        dset_close(&ds);
    }
    H5Fclose(f);
    return rc;
}

/* ---- training log ---- */

static const char *LOG_COLS[6] = {"step", "loss", "lr", "grad_norm", "samples_per_s", "time"};

/* Reads the six columns of an existing log (rows of equal length) into cols[c][0..n). The log
 * is checked like any input (a damaged one is moved aside by the caller). */
static int log_read(const char *path, size_t *n, double *cols[6]) {
    long long fsize = 0;
    hid_t f = open_input(path, "training log", &fsize);
    if (f < 0) return -1;
    int rc = 0;
    *n = 0;
    char ctx[1100];
    snprintf(ctx, sizeof ctx, "training log '%s':", path);
    for (int c = 0; c < 6 && rc == 0; c++) {
        Dset ds;
        rc = dset_open(f, ctx, LOG_COLS[c], &ds) ? -1 : 0;
        if (rc == 0 && ((ds.cls != H5T_FLOAT && ds.cls != H5T_INTEGER) || ds.tsize > 8 || ds.rank != 1 ||
                        (c > 0 && ds.dims[0] != *n) || dset_check_storage(&ds, ctx, LOG_COLS[c], fsize, CHUNK_MAX)))
            rc = -1;
        if (rc == 0) {
            size_t len = (size_t)ds.dims[0];
            *n = len;
            cols[c] = fm_calloc(len ? len : 1, sizeof(double));
            if (len && H5Dread(ds.d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, cols[c]) < 0) rc = -1;
        }
        dset_close(&ds);
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
    *N = *D = 0;
    long long fsize = 0;
    hid_t f = open_input(path, "data file", &fsize);
    if (f < 0) return -1;
    char ctx[1100], tn[40], dd[200];
    snprintf(ctx, sizeof ctx, "'%s':", path);
    Dset ds;
    int rc = dset_open(f, ctx, dset, &ds);
    if (rc == 1) rc = fm_err_set("data file '%s' has no dataset '/%s'", path, dset);
    else if (rc == 0 && ds.rank != 2)
        rc = fm_err_set("'%s:/%s' must be 2-D (N x D), it has rank %d", path, dset, ds.rank);
    else if (rc == 0 && ((ds.cls != H5T_FLOAT && ds.cls != H5T_INTEGER) || ds.tsize > 8))
        rc = fm_err_set("'%s:/%s' is not numeric (it is %s)", path, dset, type_name(ds.type, tn, sizeof tn));
    else if (rc == 0 && (ds.dims[0] == 0 || ds.dims[1] == 0 || ds.overflow))
        rc = fm_err_set("'%s:/%s' has an unusable shape %s%s", path, dset, dims_str(&ds, dd, sizeof dd),
                        ds.overflow ? " (its size overflows 64 bits)" : "");
    else if (rc == 0)
        rc = dset_check_storage(&ds, ctx, dset, fsize, CHUNK_MAX);
    if (rc == 0 && ds.n > MATRIX_VALUES_MAX)
        rc = fm_err_set("'%s:/%s' has an unusable shape %s (more than %llu values)", path, dset, dims_str(&ds, dd, sizeof dd),
                        MATRIX_VALUES_MAX);
    if (rc == 0) {
        *data = fm_malloc_floats((size_t)ds.n);
        if (H5Dread(ds.d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0)
            rc = fm_err_set("reading '%s:/%s' failed (file truncated or damaged?)", path, dset);
        for (size_t i = 0; !rc && i < (size_t)ds.n; i++)
            if (!isfinite((*data)[i]))
                rc = fm_err_set("'%s:/%s' holds non-finite values (item %zu)", path, dset, i / (size_t)ds.dims[1]);
        if (rc) free(*data), *data = NULL;
        else *N = (size_t)ds.dims[0], *D = (size_t)ds.dims[1];
    }
    dset_close(&ds);
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

void fm_reader_close(FmReader *r) {
    if (!r) return;
    if (r->space >= 0) H5Sclose(r->space);
    if (r->d >= 0) H5Oclose(r->d);
    if (r->f >= 0) H5Fclose(r->f);
    free(r->buf);
    free(r);
}

/* The identity attributes, each checked when present (files written by other tools may lack
 * them): format "fmtrain-dataset", format_version 1, kind "images" or "array" (-> *kind:
 * 1, 0, or -1 when absent). 0 or -1 (fm_err_set). */
static int dataset_identity(hid_t f, const char *path, int *kind) {
    char why[160], p[64], *s = NULL;
    long v = 0;
    int a, rc = 0;
    *kind = -1;
    if ((a = attr_string(f, "format", 256, &s, why, sizeof why)) < 0)
        rc = fm_err_set("'%s' is not an fmtrain data set file: attribute 'format' %s", path, why);
    else if (a == 0 && strcmp(s, "fmtrain-dataset"))
        rc = fm_err_set("'%s' is not an fmtrain data set file (attribute 'format' is '%s')", path, printable(s, p, sizeof p));
    free(s), s = NULL;
    if (rc) return rc;
    if ((a = attr_long(f, "format_version", &v, why, sizeof why)) < 0)
        return fm_err_set("'%s': attribute 'format_version' %s", path, why);
    if (a == 0 && v != 1)
        return fm_err_set("'%s' has data set format_version %ld, this fmtrain reads 1 (data/README.md)", path, v);
    if ((a = attr_string(f, "kind", 256, &s, why, sizeof why)) < 0)
        rc = fm_err_set("'%s': attribute 'kind' %s", path, why);
    else if (a == 0 && strcmp(s, "images") && strcmp(s, "array"))
        rc = fm_err_set("'%s': attribute 'kind' is '%s' (known: images, array)", path, printable(s, p, sizeof p));
    else if (a == 0)
        *kind = !strcmp(s, "images");
    free(s);
    return rc;
}

/* The attributes that describe the items, each checked against the dataset when present:
 * count = N, shape = [C, H, W] or [D], num_classes >= 1 (-> *k, else 0). 0 or -1. */
static int dataset_description(hid_t f, const char *path, const FmDataInfo *in, long *k) {
    char why[160];
    long v = 0;
    int a;
    *k = 0;
    if ((a = attr_long(f, "count", &v, why, sizeof why)) < 0) return fm_err_set("'%s': attribute 'count' %s", path, why);
    if (a == 0 && (v < 0 || (unsigned long)v != in->N))
        return fm_err_set("'%s': attribute 'count' is %ld, but /%s holds %zu items", path, v, in->images ? "images" : "data", in->N);
    if (H5Aexists(f, "shape") > 0) {
        const int want = in->images ? 3 : 1;
        const size_t item[3] = {in->images ? in->C : in->D, in->H, in->W};
        hid_t at = H5Aopen(f, "shape", H5P_DEFAULT), t = at < 0 ? -1 : H5Aget_type(at), s = at < 0 ? -1 : H5Aget_space(at);
        hsize_t dims[1] = {0};
        int64_t got[3] = {0, 0, 0};
        int ok = t >= 0 && s >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) <= 8 &&
                 H5Sget_simple_extent_type(s) == H5S_SIMPLE && H5Sget_simple_extent_ndims(s) == 1 &&
                 H5Sget_simple_extent_dims(s, dims, NULL) == 1 && dims[0] == (hsize_t)want &&
                 H5Aread(at, H5T_NATIVE_INT64, got) >= 0;
        if (t >= 0) H5Tclose(t);
        if (s >= 0) H5Sclose(s);
        if (at >= 0) H5Aclose(at);
        if (!ok)
            return fm_err_set("'%s': attribute 'shape' must be %d integers (%s)", path, want, in->images ? "C, H, W" : "D");
        for (int i = 0; i < want; i++)
            if (got[i] < 0 || (uint64_t)got[i] != item[i]) {
                char g[80], h[80];
                if (in->images) {
                    snprintf(g, sizeof g, "[%lld, %lld, %lld]", (long long)got[0], (long long)got[1], (long long)got[2]);
                    snprintf(h, sizeof h, "%zu x %zu x %zu", in->C, in->H, in->W);
                } else {
                    snprintf(g, sizeof g, "[%lld]", (long long)got[0]);
                    snprintf(h, sizeof h, "%zu", in->D);
                }
                return fm_err_set("'%s': attribute 'shape' is %s, but the items of /%s have shape %s", path, g,
                                  in->images ? "images" : "data", h);
            }
    }
    if ((a = attr_long(f, "num_classes", &v, why, sizeof why)) < 0)
        return fm_err_set("'%s': attribute 'num_classes' %s", path, why);
    if (a == 0 && (v < 1 || v > INT32_MAX))
        return fm_err_set("'%s': attribute 'num_classes' is %ld (must be 1 to %d)", path, v, INT32_MAX);
    if (a == 0) *k = v;
    return 0;
}

/* /labels: integers, one per item, in [0, k) when the file says k (num_classes). Read in
 * blocks. 0 or -1 (fm_err_set). */
static int check_labels(FmReader *r, long long fsize, long k) {
    char ctx[1100], tn[40];
    snprintf(ctx, sizeof ctx, "'%s':", r->path);
    Dset ds;
    int rc = dset_open(r->f, ctx, "labels", &ds);
    if (rc == 0 && (ds.cls != H5T_INTEGER || ds.tsize > 8))
        rc = fm_err_set("'%s': /labels must be integers, it is %s", r->path, type_name(ds.type, tn, sizeof tn));
    else if (rc == 0 && (ds.rank != 1 || ds.dims[0] != r->info.N))
        rc = fm_err_set("'%s': /labels must be 1-D with %zu entries (one per item)", r->path, r->info.N);
    else if (rc == 0)
        rc = dset_check_storage(&ds, ctx, "labels", fsize, CHUNK_MAX);
    enum { BLK = 1 << 16 };
    int64_t *lab = rc ? NULL : fm_calloc(BLK, sizeof *lab), mx = 0;
    for (size_t i0 = 0; !rc && i0 < r->info.N; i0 += BLK) {
        hsize_t start[1] = {i0}, cnt[1] = {r->info.N - i0 < BLK ? r->info.N - i0 : BLK};
        hid_t ms = H5Screate_simple(1, cnt, NULL);
        if (ms < 0 || H5Sselect_hyperslab(ds.space, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
            H5Dread(ds.d, H5T_NATIVE_INT64, ms, ds.space, H5P_DEFAULT, lab) < 0)
            rc = fm_err_set("'%s': reading /labels failed (file truncated or damaged?)", r->path);
        if (ms >= 0) H5Sclose(ms);
        for (size_t j = 0; !rc && j < cnt[0]; j++) {
            if (lab[j] < 0 || (k > 0 && lab[j] >= k) || lab[j] >= INT32_MAX)
                rc = fm_err_set("'%s': label %lld of item %zu is outside [0, %ld)", r->path, (long long)lab[j], i0 + j,
                                k > 0 ? k : (long)INT32_MAX);
            if (lab[j] > mx) mx = lab[j];
        }
    }
    if (!rc) r->info.num_classes = k > 0 ? k : (long)mx + 1;
    free(lab);
    dset_close(&ds);
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
        if (ms < 0 || H5Sselect_hyperslab(r->space, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(r->d, H5T_NATIVE_FLOAT, ms, r->space, H5P_DEFAULT, blk) < 0)
            rc = fm_err_set("'%s': reading /data failed (file truncated or damaged?)", r->path);
        for (size_t k = 0; !rc && k < count[0] * D; k++)
            if (!isfinite(blk[k])) rc = fm_err_set("'%s': /data holds a non-finite value (NaN or Inf) in item %zu", r->path, i0 + k / D);
        if (ms >= 0) H5Sclose(ms);
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
    char ctx[1100], tn[40], dd[200];
    snprintf(ctx, sizeof ctx, "'%s':", path);
    long long fsize = 0;
    int rc = 0, kind = -1, images = 0;
    long k = 0;
    Dset ds;
    memset(&ds, 0, sizeof ds);
    ds.d = ds.type = ds.space = -1;
    if ((r->f = open_input(path, "data file", &fsize)) < 0) rc = -1;
    if (!rc) rc = dataset_identity(r->f, path, &kind);
    if (!rc) {
        images = kind >= 0 ? kind : H5Lexists(r->f, "images", g_lapl) > 0;
        const char *name = images ? "images" : "data";
        rc = dset_open(r->f, ctx, name, &ds);
        if (rc == 1 && kind >= 0)
            rc = fm_err_set("'%s': attribute 'kind' is '%s', but the file has no /%s", path, images ? "images" : "array", name);
        else if (rc == 1)
            rc = fm_err_set("data file '%s' has neither /images (uint8 N x C x H x W) nor /data (float N x D)", path);
    }
    if (!rc) {
        if (images) {
            if (ds.cls != H5T_INTEGER || ds.tsize != 1 || ds.sign != H5T_SGN_NONE)
                rc = fm_err_set("'%s': /images must be uint8, it is %s", path, type_name(ds.type, tn, sizeof tn));
            else if (ds.rank != 4)
                rc = fm_err_set("'%s': /images must have rank 4 (N x C x H x W), it has rank %d", path, ds.rank);
        } else {
            if (ds.cls != H5T_FLOAT || ds.tsize > 8)
                rc = fm_err_set("'%s': /data must be floating point (float32), it is %s", path, type_name(ds.type, tn, sizeof tn));
            else if (ds.rank != 2)
                rc = fm_err_set("'%s': /data must have rank 2 (N x D), it has rank %d", path, ds.rank);
        }
    }
    if (!rc) {
        /* the size of one item, without overflow */
        unsigned long long d = 1;
        int bad = 0;
        for (int i = 1; i < ds.rank; i++) {
            if (ds.dims[i] == 0 || ds.dims[i] > ITEM_VALUES_MAX / d) bad = 1;
            else d *= ds.dims[i];
        }
        r->info.images = images;
        r->info.N = (size_t)ds.dims[0];
        if (bad) {
            Dset item = ds; /* the item's dimensions, for the message */
            item.rank = ds.rank - 1;
            memmove(item.dims, ds.dims + 1, (size_t)item.rank * sizeof *item.dims);
            rc = fm_err_set("'%s': /%s has an unusable item size of %s values (1 to %llu allowed)", path,
                            images ? "images" : "data", dims_str(&item, dd, sizeof dd), ITEM_VALUES_MAX);
        } else if (r->info.N == 0) {
            rc = fm_err_set("data file '%s' holds no items (N = 0)", path);
        } else {
            r->info.C = images ? (size_t)ds.dims[1] : 1;
            r->info.H = images ? (size_t)ds.dims[2] : 1;
            r->info.W = images ? (size_t)ds.dims[3] : (size_t)ds.dims[1];
            r->info.D = (size_t)d;
            unsigned long long item_bytes = d * ds.tsize;
            rc = dset_check_storage(&ds, ctx, images ? "images" : "data", fsize,
                                    item_bytes > CHUNK_MAX ? item_bytes : CHUNK_MAX);
        }
    }
    if (!rc) rc = dataset_description(r->f, path, &r->info, &k);
    if (!rc) {
        r->d = ds.d, r->space = ds.space; /* kept for the item reads */
        ds.d = ds.space = -1;
    }
    dset_close(&ds);
    if (!rc && H5Lexists(r->f, "labels", g_lapl) > 0) {
        r->info.has_labels = 1;
        rc = check_labels(r, fsize, k);
    }
    if (!rc && !images) rc = check_finite(r);
    if (!rc) {
        char *name = NULL, why[160];
        attr_string(r->f, "name", 1024, &name, why, sizeof why); /* informational: any problem -> the path */
        if (name) printable(name, r->info.name, sizeof r->info.name);
        else snprintf(r->info.name, sizeof r->info.name, "%s", path);
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

int fm_reader_read_block(FmReader *r, uint64_t first, size_t n, void *out) {
    const size_t D = r->info.D;
    FM_CHECK(first + n <= r->info.N, "reader: items %llu..%llu outside [0, %zu)", (unsigned long long)first,
             (unsigned long long)(first + n), r->info.N);
    hsize_t mdim[1] = {(hsize_t)n * D};
    hid_t ms = H5Screate_simple(1, mdim, NULL);
    int rc;
    if (r->info.images) {
        hsize_t start[4] = {first, 0, 0, 0}, count[4] = {n, r->info.C, r->info.H, r->info.W};
        H5Sselect_hyperslab(r->space, H5S_SELECT_SET, start, NULL, count, NULL);
        rc = H5Dread(r->d, H5T_NATIVE_UCHAR, ms, r->space, H5P_DEFAULT, out) < 0;
    } else {
        hsize_t start[2] = {first, 0}, count[2] = {n, D};
        H5Sselect_hyperslab(r->space, H5S_SELECT_SET, start, NULL, count, NULL);
        rc = H5Dread(r->d, H5T_NATIVE_FLOAT, ms, r->space, H5P_DEFAULT, out) < 0;
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
