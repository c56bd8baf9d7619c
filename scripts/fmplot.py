"""Helpers shared by fmtrain's offline plot scripts (scripts/plot_*.py); not a script itself.

Each plot script does `import fmplot`: Python puts a script's own directory first on sys.path,
so this works in the source tree and after `make install` (which copies scripts/*.py into one
directory).  What is here: the error/warning messages (named after the running script), the
command-line, HDF5-opening and image-saving boilerplate, reading root attributes, and the
axis-range, marker and colour-map helpers that more than one script uses.  Like the scripts,
it is meant for Debian's interpreter, /usr/bin/python3 (which has h5py and matplotlib).
"""
import argparse
import os
import sys

import numpy as np


# ---- messages -----------------------------------------------------------------

def prog():
    """Name of the running script, for messages (read at call time)."""
    return os.path.basename(sys.argv[0])


def die(msg):
    """Print one error line naming the script and exit with status 2."""
    print("%s: error: %s" % (prog(), msg), file=sys.stderr)
    sys.exit(2)


def warn(msg):
    print("%s: warning: %s" % (prog(), msg), file=sys.stderr)


# ---- command line, input, output ------------------------------------------------

def argparser(description, name, metavar, help, out):
    """ArgumentParser with the input file (positional `name`) and -o/--out (default `out`).
    The script adds its own options, then calls parse_args(), which adds --dpi last."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument(name, metavar=metavar, help=help)
    ap.add_argument("-o", "--out", metavar="PNG", default=out,
                    help="output image (default: %(default)s)")
    return ap


def parse_args(ap):
    """Add the common --dpi option and parse the command line."""
    ap.add_argument("--dpi", type=int, default=110, help="image resolution (default: %(default)s)")
    return ap.parse_args()


def open_h5(path):
    """Open an HDF5 file for reading, or die with one line if it is missing or not HDF5."""
    if not os.path.isfile(path):
        die("no such file: %s" % path)
    import h5py
    try:
        return h5py.File(path, "r")
    except OSError as e:
        die("cannot open %s as HDF5: %s" % (path, e))


def read_rows(ds, idx):
    """ds[idx] as float64 for row indices in any order (h5py reads only increasing ones),
    rows in the order of idx."""
    rows, inv = np.unique(idx, return_inverse=True)
    return np.asarray(ds[rows], dtype=np.float64)[inv]


def require(f, path, names, hint):
    """Die unless every dataset in names is in f; hint says which kind of file was expected."""
    for name in names:
        if name not in f:
            die("%s: missing dataset /%s (%s)" % (path, name, hint))


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, out, dpi):
    """Write the figure (or die with one line) and print the image's name."""
    try:
        fig.savefig(out, dpi=dpi)
    except OSError as e:
        die("cannot write %s: %s" % (out, e))
    print(out)


# ---- attributes ---------------------------------------------------------------

def attr_str(f, name, default="?"):
    """Root attribute as a plain string (handles bytes, numpy scalars, 1-element arrays;
    floats as %g)."""
    if name not in f.attrs:
        return default
    v = f.attrs[name]
    if isinstance(v, np.ndarray):
        v = v.item() if v.size == 1 else v.tolist()
    if isinstance(v, (bytes, np.bytes_)):
        v = v.decode("utf-8", "replace")
    if isinstance(v, (float, np.floating)):
        return "%g" % v
    v = str(v).strip().rstrip("\x00")
    return v if v else default


# ---- axes, markers, colours -----------------------------------------------------

def robust_range(values, lo_pct=0.5, hi_pct=99.5, pad=0.08):
    """(lo, hi) from percentiles of the pooled finite values, padded; never degenerate."""
    v = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in values])
    v = v[np.isfinite(v)]
    if v.size == 0:
        return -1.0, 1.0
    lo, hi = np.percentile(v, [lo_pct, hi_pct])
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * (abs(lo) + 1), hi + 0.5 * (abs(hi) + 1)
    p = pad * (hi - lo)
    return lo - p, hi + p


def log_limits(*arrays, pct=(0.5, 99.5), margin=0.05, flat=1.0):
    """Limits for a log axis from the positive finite values, or None if there are none.
    pct: percentiles that bound the data (None: the full range, min to max); a range with
    hi <= lo * flat is widened to (lo / 2, hi * 2); then both ends get a margin of
    (hi / lo) ** margin (as a factor)."""
    v = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return None
    if pct is None:
        lo, hi = float(v.min()), float(v.max())
    else:
        lo, hi = np.percentile(v, pct)
    if hi <= lo * flat:
        lo, hi = lo / 2, hi * 2
    r = (hi / lo) ** margin
    return lo / r, hi * r


def marker_style(n, size, alpha):
    """Scatter point size and alpha for n points: size = (k, lo, hi) gives k / n clipped to
    [lo, hi], and alpha likewise; so few points are drawn large and solid, many small and faint."""
    s = float(np.clip(size[0] / max(n, 1), size[1], size[2]))
    a = float(np.clip(alpha[0] / max(n, 1), alpha[1], alpha[2]))
    return s, a


def dark_cmap(name, top=0.88):
    """Colour map `name` cut at `top`, without its pale end (poor contrast on white)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    return ListedColormap(plt.get_cmap(name)(np.linspace(0.0, top, 256)), name=name + "_dark")
