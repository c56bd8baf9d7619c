#!/usr/bin/python3
"""Convert a NumPy array (.npy) into an fmtrain data set file (HDF5; format: data/README.md).

  uint8, N x H x W or N x C x H x W      -> /images uint8 N x C x H x W (C = 1 for N x H x W),
                                            one chunk per image, value_range [0, 255]
  floating point, N x D or N (D = 1)     -> /data float32 N x D, value_range [min, max];
                                            NaN/Inf (also after rounding to float32) is an error
  --labels L.npy: integers, length N     -> /labels int32, in [0, K), K = --num-classes
                                            (default: max label + 1)

Also the module that writes the format: prepare_fashion_mnist.py imports write_dataset().
Run with Debian's interpreter:  /usr/bin/python3 scripts/npy_to_h5.py x.npy data/x.h5
"""
import argparse
import os
import sys
import time

import numpy as np

from fmplot import die

FORMAT = "fmtrain-dataset"
FORMAT_VERSION = 1
CHUNK_VALUES = 65536  # target float values per /data chunk


class ArgParser(argparse.ArgumentParser):
    """argparse, but a usage error is one `SCRIPT: error: ...` line (exit 2) like all others."""

    def error(self, message):
        die("%s (see --help)" % message)


def data_chunk_rows(n, d):
    """Rows per /data chunk: min(N, max(1, 65536 // D))."""
    return min(n, max(1, CHUNK_VALUES // d))


def write_dataset(out, name, source, images=None, data=None, labels=None, num_classes=None):
    """Write one data set file: exactly one of images (uint8 N x C x H x W) or data (float32 N x D),
    optional labels (N, in [0, num_classes)). Written to OUT.tmp, then renamed to OUT, so a
    failure never leaves a partial file under the final name. Dies with one line on I/O errors.
    Returns a one-line description of what was written."""
    import h5py

    if (images is None) == (data is None):
        raise ValueError("write_dataset: give exactly one of images, data")
    if os.path.isdir(out):
        die("%s is a directory" % out)
    tmp = out + ".tmp"
    t0 = time.monotonic()
    what = []
    try:
        # track_times=False: no object timestamps, so the same input gives the same bytes
        with h5py.File(tmp, "w") as f:
            if images is not None:
                n, c, h, w = images.shape
                f.create_dataset("images", data=images, dtype=np.uint8, chunks=(1, c, h, w),
                                 track_times=False)
                kind, shape, vrange = "images", [c, h, w], [0.0, 255.0]
                what.append("/images %dx%dx%dx%d uint8" % (n, c, h, w))
            else:
                n, d = data.shape
                f.create_dataset("data", data=data, dtype=np.float32,
                                 chunks=(data_chunk_rows(n, d), d), track_times=False)
                kind, shape = "array", [d]
                vrange = [float(data.min()), float(data.max())]
                what.append("/data %dx%d float32" % (n, d))
            if labels is not None:
                f.create_dataset("labels", data=np.asarray(labels, dtype=np.int32), track_times=False)
                what.append("/labels (%d classes)" % num_classes)
            a = f.attrs
            a["format"] = FORMAT
            a["format_version"] = np.int64(FORMAT_VERSION)
            a["name"] = name
            a["kind"] = kind
            a["shape"] = np.asarray(shape, dtype=np.int64)
            a["value_range"] = np.asarray(vrange, dtype=np.float64)
            a["source"] = source
            if labels is not None:
                a["num_classes"] = np.int64(num_classes)
            a["count"] = np.int64(n)
        os.replace(tmp, out)
    except OSError as e:
        _remove(tmp)
        die("cannot write %s: %s" % (out, e))
    except BaseException:
        _remove(tmp)
        raise
    size = os.path.getsize(out)
    size = "%.1f MB" % (size / 1e6) if size >= 1e6 else "%.1f kB" % (size / 1e3)
    return "wrote %s: %s; %s in %.2f s" % (out, ", ".join(what), size, time.monotonic() - t0)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def load_npy(path, what):
    if not os.path.isfile(path):
        die("no such file: %s" % path)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        die("cannot read %s as a .npy array (%s): %s" % (what, path, e))


def check_labels(lab, path, n, k):
    """Labels array -> (int32 array, num_classes), or die."""
    if lab.ndim != 1:
        die("%s: labels must be a vector of length N = %d, got shape %s" % (path, n, lab.shape))
    if lab.shape[0] != n:
        die("%s: %d labels for %d items" % (path, lab.shape[0], n))
    if lab.dtype.kind not in "iu":
        die("%s: labels must be integers, got dtype %s" % (path, lab.dtype))
    if k is not None and not 1 <= k <= 2**31 - 1:
        die("--num-classes must be in 1 .. 2^31-1, got %d" % k)
    lo, hi = int(lab.min()), int(lab.max())
    if lo < 0:
        i = int(np.argmax(lab < 0))
        die("%s: label %d at item %d is negative" % (path, int(lab[i]), i))
    if k is None:
        if hi >= 2**31 - 1:
            die("%s: label %d at item %d does not fit in int32" % (path, hi, int(np.argmax(lab == hi))))
        k = hi + 1
    elif hi >= k:
        i = int(np.argmax(lab >= k))
        die("%s: label %d at item %d is out of range [0, %d) (--num-classes %d)"
            % (path, int(lab[i]), i, k, k))
    return lab.astype(np.int32), k


def as_images(x, path):
    if x.ndim == 3:
        x = x[:, None, :, :]
    if x.ndim != 4:
        die("%s: uint8 arrays must be images, N x H x W or N x C x H x W; got shape %s "
            "(for a float array, save it as float32)" % (path, x.shape))
    if min(x.shape[1:]) == 0:
        die("%s: empty image shape %s" % (path, x.shape))
    return np.ascontiguousarray(x)


def first_bad_row(x, path, why):
    """Die naming the first row of x (N x D) holding a NaN or Inf, if any."""
    ok = np.isfinite(x)
    if not ok.all():
        rows = ~ok.all(axis=1)
        i = int(np.argmax(rows))
        j = int(np.argmax(~ok[i]))
        die("%s: row %d %s (x[%d, %d] = %s; %d bad rows in all)"
            % (path, i, why, i, j, x[i, j], int(rows.sum())))


def as_floats(x, path):
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        die("%s: float arrays must be N x D (or N); got shape %s" % (path, x.shape))
    if x.shape[1] == 0:
        die("%s: D = 0 (shape %s)" % (path, x.shape))
    first_bad_row(x, path, "is not finite")
    with np.errstate(over="ignore"):
        x = np.ascontiguousarray(x, dtype=np.float32)
    first_bad_row(x, path, "overflows float32")
    return x


def main():
    ap = ArgParser(
        description="Convert a .npy array into an fmtrain data set file (format: data/README.md). "
        "uint8 N x H x W or N x C x H x W becomes /images (one chunk per image); a float N x D "
        "(or N) array becomes /data float32.")
    ap.add_argument("input", metavar="IN.npy", help="the array")
    ap.add_argument("output", metavar="OUT.h5", help="data set file to write (replaced if it exists)")
    ap.add_argument("--labels", metavar="L.npy", help="integer class labels, one per item")
    ap.add_argument("--name", help="the `name` attribute (default: OUT's base name without extension)")
    ap.add_argument("--num-classes", type=int, metavar="K",
                    help="labels are in [0, K) (default: max label + 1)")
    args = ap.parse_args()

    if args.num_classes is not None and args.labels is None:
        die("--num-classes needs --labels")
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        die("OUT.h5 is the input file %s" % args.input)
    t0 = time.monotonic()
    x = load_npy(args.input, "the input")
    if x.ndim == 0 or x.shape[0] == 0:
        die("%s: no items (shape %s)" % (args.input, x.shape))
    if x.dtype == np.uint8:
        images, data = as_images(x, args.input), None
    elif x.dtype.kind == "f":
        images, data = None, as_floats(x, args.input)
    else:
        die("%s: dtype %s not supported: images must be uint8, arrays floating point"
            % (args.input, x.dtype))
    n = x.shape[0]
    labels = k = None
    source = os.path.abspath(args.input)
    if args.labels is not None:
        labels, k = check_labels(load_npy(args.labels, "the labels"), args.labels, n, args.num_classes)
        source += " labels=" + os.path.abspath(args.labels)
    name = args.name if args.name is not None else os.path.splitext(os.path.basename(args.output))[0]
    msg = write_dataset(args.output, name, source, images=images, data=data, labels=labels, num_classes=k)
    print("%s (total %.2f s)" % (msg, time.monotonic() - t0))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("%s: error: interrupted" % os.path.basename(sys.argv[0]), file=sys.stderr)
        sys.exit(2)
