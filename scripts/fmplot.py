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


# ---- images -------------------------------------------------------------------
# A samples file of an image model says so with image_shape = [C, H, W] (float64; fmtrain
# writes it as a root dataset, a root attribute is read too): each row of /samples,
# /reference and /trajectory is then one image, channels first, with values in [-1, 1].

BAD_PIXEL = (255, 0, 255)   # non-finite values are drawn in magenta


def image_shape(f, path, D):
    """(C, H, W) if the file's rows are images, else None; dies with one line if image_shape
    is not three positive integers or C * H * W is not the row length D."""
    if "image_shape" in f.attrs:
        v = f.attrs["image_shape"]
    elif "image_shape" in f and hasattr(f["image_shape"], "shape"):
        v = f["image_shape"][()]
    else:
        return None
    try:
        v = np.asarray(v, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        die("%s: image_shape is not numeric" % path)
    if v.size != 3 or not np.all(np.isfinite(v)) or np.any(v < 1) or np.any(v != np.round(v)):
        die("%s: image_shape %s is not [C, H, W] with positive integers" % (path, v.tolist()))
    C, H, W = (int(s) for s in v)
    if C * H * W != D:
        die("%s: image_shape [%d, %d, %d] has %d values per image, but the rows have D=%d"
            % (path, C, H, W, C * H * W, D))
    return C, H, W


def shape_str(shape):
    return "\u00d7".join(str(s) for s in shape)


def image_pixels(rows, shape):
    """Rows (n x C*H*W, channels first, values in [-1, 1]) -> (n, H, W, 3) uint8 RGB:
    pixel = (v + 1) * 127.5 clipped to [0, 255].  C = 1 is grey-scale, C = 3 RGB; any other
    C shows channel 0 in grey.  Pixels with a non-finite value become BAD_PIXEL.
    Returns (pixels, number of images with non-finite values)."""
    C, H, W = shape
    a = np.asarray(rows, dtype=np.float64).reshape(-1, C, H, W)
    a = a.transpose(0, 2, 3, 1) if C == 3 else np.repeat(a[:, 0, :, :, None], 3, axis=3)
    bad = ~np.all(np.isfinite(a), axis=3)                       # (n, H, W)
    with np.errstate(invalid="ignore"):
        p = np.rint(np.clip((np.where(np.isfinite(a), a, -1.0) + 1.0) * 127.5, 0, 255)).astype(np.uint8)
    p[bad] = BAD_PIXEL
    return p, int(np.any(bad, axis=(1, 2)).sum())


def grid_dims(n):
    """(rows, cols) of a near-square grid for n tiles, cols >= rows (64 -> 8 x 8)."""
    cols = int(np.ceil(np.sqrt(max(n, 1))))
    return int(np.ceil(max(n, 1) / cols)), cols


def tile_pad(H, W):
    """Gap in pixels between tiles of an H x W mosaic (2 for 28 x 28)."""
    return max(1, int(round(min(H, W) / 14.0)))


def mosaic(pix, rows, cols, pad, fill=255):
    """(n, H, W, 3) uint8 images -> one uint8 image of rows x cols tiles in row-major order,
    pad pixels of `fill` between them; cells beyond n stay `fill`."""
    n, H, W = pix.shape[:3]
    out = np.full((rows * H + (rows - 1) * pad, cols * W + (cols - 1) * pad, 3), fill, dtype=np.uint8)
    for i in range(min(n, rows * cols)):
        r, c = divmod(i, cols)
        out[r * (H + pad):r * (H + pad) + H, c * (W + pad):c * (W + pad) + W] = pix[i]
    return out


def pixel_scale(h, w, target, most=8):
    """Screen pixels per image pixel for an h x w mosaic whose long side should be about
    target screen pixels: a whole number up to `most` (crisp nearest-neighbour pixels) when
    that is within reach, else the exact fraction (the image is then resampled).
    Returns (scale, interp)."""
    long_side = max(h, w)
    if long_side <= 1.5 * target:
        return int(np.clip(round(target / float(long_side)), 1, most)), "nearest"
    return target / float(long_side), "antialiased"


def text_px(s, size, dpi):
    """Width in pixels of one line of text at font size `size` (points) drawn at dpi."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties
    w, _, _ = RendererAgg(1, 1, dpi).get_text_width_height_descent(s, FontProperties(size=size), ismath=False)
    return w


def pixel_figure(plt, width, height, dpi):
    """A figure of exactly width x height pixels at dpi, with px_axes(x, y, w, h) to add axes
    by pixel rectangle (x, y from the bottom left) without frame or ticks."""
    fig = plt.figure(figsize=((width + 1e-3) / dpi, (height + 1e-3) / dpi), dpi=dpi)

    def px_axes(x, y, w, h):
        ax = fig.add_axes([x / float(width), y / float(height), w / float(width), h / float(height)])
        ax.set_axis_off()
        return ax
    return fig, px_axes


def draw_mosaic(fig, ax, img, scale, interp, x, y):
    """Draw a mosaic (uint8 RGB) with its bottom left corner at screen pixel (x, y) of a
    pixel_figure, `scale` screen pixels per image pixel; ax (made by px_axes at the same
    place) gets the mosaic's pixel coordinates (0..w, 0..h from the top) for labels.  A whole
    scale is copied pixel for pixel (figimage: imshow would resample by a fraction of a pixel);
    any other is resampled into ax with `interp`."""
    h, w = img.shape[:2]
    if interp == "nearest" and float(scale).is_integer():
        s = int(scale)
        fig.figimage(np.repeat(np.repeat(img, s, axis=0), s, axis=1), xo=x, yo=y, origin="upper")
    else:
        ax.imshow(img, interpolation=interp, aspect="auto", extent=(0, w, h, 0))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
