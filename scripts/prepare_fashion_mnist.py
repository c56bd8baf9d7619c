#!/usr/bin/python3
"""Convert Fashion-MNIST (the four IDX files) into fmtrain data set files (format: data/README.md):
  OUT/fashion-mnist-train.h5   60000 images, /images uint8 60000 x 1 x 28 x 28, /labels int32
  OUT/fashion-mnist-test.h5    10000 images, likewise
Reads train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,
t10k-labels-idx1-ubyte.gz from SRC (each may also be uncompressed, without .gz). Every file is
checked (magic, dimensions, payload size, image/label counts, labels 0..9) before anything is
written; each output goes to OUT.tmp and is renamed when complete.

The files come with Debian's package:  apt-get install dataset-fashion-mnist
Run with Debian's interpreter:  /usr/bin/python3 scripts/prepare_fashion_mnist.py --out data
"""
import gzip
import os
import struct
import sys
import time
import zlib

import numpy as np

from fmplot import die
from npy_to_h5 import ArgParser, write_dataset

DEFAULT_SRC = "/usr/share/datasets/fashion-mnist"
SPLITS = (  # (split, file prefix, expected count)
    ("train", "train", 60000),
    ("test", "t10k", 10000),
)
ROWS = COLS = 28
NUM_CLASSES = 10
IDX_UBYTE = 0x08  # IDX type code of unsigned bytes
IDX_IMAGES = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS = 0x00000801  # unsigned bytes, 1 dimension


def read_idx(path, ndim=None):
    """Read an IDX file of unsigned bytes with 1 or 3 dimensions (gzip'd or not: the gzip magic
    decides) into a read-only uint8 array of the header's shape. The header is
    0x00 0x00 <type 0x08> <ndim>, then ndim big-endian uint32 sizes; the payload is the
    product of the sizes in bytes, in C order. ndim, if given, must match. Dies naming the
    file and the problem."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        die("cannot read %s: %s" % (path, e.strerror or e))
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError:
            die("%s: truncated gzip stream" % path)
        except (OSError, zlib.error) as e:
            die("%s: corrupt gzip data: %s" % (path, e))
    if len(raw) < 4:
        die("%s: truncated header: %d bytes, an IDX file starts with 4 magic bytes" % (path, len(raw)))
    magic = struct.unpack(">I", raw[:4])[0]
    nd = raw[3]
    ok = raw[:2] == b"\0\0" and raw[2] == IDX_UBYTE and nd in (1, 3) and ndim in (None, nd)
    if not ok:
        want = {1: "0x%08x" % IDX_LABELS, 3: "0x%08x" % IDX_IMAGES,
                None: "0x%08x or 0x%08x" % (IDX_LABELS, IDX_IMAGES)}[ndim]
        die("%s: bad magic 0x%08x, expected %s (IDX of unsigned bytes, %s dimensions)"
            % (path, magic, want, ndim or "1 or 3"))
    hdr = 4 + 4 * nd
    if len(raw) < hdr:
        die("%s: truncated header: %d bytes, %d needed for %d dimensions" % (path, len(raw), hdr, nd))
    dims = struct.unpack(">%dI" % nd, raw[4:hdr])
    size = int(np.prod(dims, dtype=np.int64))
    have = len(raw) - hdr
    if have != size:
        die("%s: %s payload: the header says %s = %d bytes, the file has %d"
            % (path, "truncated" if have < size else "oversized", " x ".join(map(str, dims)), size, have))
    return np.frombuffer(raw, dtype=np.uint8, count=size, offset=hdr).reshape(dims)


def find_file(src, base):
    """SRC/BASE.gz, else SRC/BASE (uncompressed), else die."""
    for path in (os.path.join(src, base + ".gz"), os.path.join(src, base)):
        if os.path.isfile(path):
            return path
    die("missing file %s (nor uncompressed %s) in %s" % (base + ".gz", base, src))


def load_split(src, prefix, expect, any_count):
    """-> (images N x 1 x 28 x 28, labels int32 N, source string), all checked."""
    ipath = find_file(src, prefix + "-images-idx3-ubyte")
    lpath = find_file(src, prefix + "-labels-idx1-ubyte")
    images = read_idx(ipath, 3)
    labels = read_idx(lpath, 1)
    n = images.shape[0]
    if images.shape[1:] != (ROWS, COLS):
        die("%s: images are %d x %d, expected %d x %d"
            % (ipath, images.shape[1], images.shape[2], ROWS, COLS))
    if labels.shape[0] != n:
        die("count mismatch: %s has %d labels but %s has %d images"
            % (lpath, labels.shape[0], ipath, n))
    if n == 0:
        die("%s: no images" % ipath)
    if n != expect and not any_count:
        die("%s: %d images, expected %d (use --any-count to accept other counts)" % (ipath, n, expect))
    if labels.max() >= NUM_CLASSES:
        i = int(np.argmax(labels >= NUM_CLASSES))
        die("%s: label %d at item %d is out of range 0..%d" % (lpath, labels[i], i, NUM_CLASSES - 1))
    source = "images=%s labels=%s" % (os.path.abspath(ipath), os.path.abspath(lpath))
    return images.reshape(n, 1, ROWS, COLS), labels.astype(np.int32), source


def main():
    ap = ArgParser(
        description="Convert the Fashion-MNIST IDX files into fmtrain data set files "
        "OUT/fashion-mnist-train.h5 and OUT/fashion-mnist-test.h5 (format: data/README.md). "
        "The IDX files come with: apt-get install dataset-fashion-mnist")
    ap.add_argument("--src", metavar="DIR", default=DEFAULT_SRC,
                    help="directory of the four IDX files, .gz or not (default: %(default)s)")
    ap.add_argument("--out", metavar="DIR", default="data",
                    help="output directory, created if missing (default: %(default)s)")
    ap.add_argument("--any-count", action="store_true",
                    help="accept any number of items, not just 60000 train and 10000 test")
    args = ap.parse_args()

    t0 = time.monotonic()
    if not os.path.isdir(args.src):
        die("source directory %s does not exist (install the data with: apt-get install "
            "dataset-fashion-mnist, or give --src DIR)" % args.src)
    # read and check everything before writing anything
    splits = [(split, load_split(args.src, prefix, expect, args.any_count))
              for split, prefix, expect in SPLITS]
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        die("cannot create output directory %s: %s" % (args.out, e.strerror or e))
    for split, (images, labels, source) in splits:
        name = "fashion-mnist-" + split
        print(write_dataset(os.path.join(args.out, name + ".h5"), name, source,
                            images=images, labels=labels, num_classes=NUM_CLASSES))
    print("done in %.2f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("%s: error: interrupted" % os.path.basename(sys.argv[0]), file=sys.stderr)
        sys.exit(2)
