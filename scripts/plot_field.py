#!/usr/bin/python3
"""Plot a velocity field from an fmtrain field file (`fmtrain field` -> field.h5).

One column per time t (up to --cols, evenly spread over the recorded times), arrows of the
model field /u on the G x G grid (thinned to at most --arrows per axis).  If /u_oracle is
present, a second row shows the exact marginal field of the finite data set on the same
arrow scale.  The data points /data (if present) are drawn small and grey in every panel.

Arrow colour: |u| on one logarithmic colour scale shared by all panels (one colour bar).
Arrow length: by default one scale per time column, shared by the model and exact rows, so the
two rows compare directly at each t although |u| grows like 1/(1 - t) near t = 1 for the exact
field; where the two rows' magnitudes differ by more than SPLIT times (the exact field of a finite
set near t = 1 against a smooth model), each panel of that column gets its own scale, as its key
says (--scale row: one scale per row over all t; --scale global: one scale for everything).
The scale maps a robust magnitude (--pct percentile of the drawn |u|) to 0.9 grid cells; longer
arrows are clipped at --clip cells (their colour still gives |u|).  Panels have equal aspect.

Run with Debian's interpreter:  /usr/bin/python3 scripts/plot_field.py field.h5 -o field.png
"""
import os

import numpy as np

import fmplot
from fmplot import die, warn

CMAP = "viridis"
SPLIT = 4.0  # a column whose rows' robust |u| differ by more than this gets one scale per panel
DATA_COLOR = "0.4"
# data points (fmplot.marker_style): large and solid for a few points, small and faint for many
MARKER_SIZE = (3000.0, 0.5, 20.0)
MARKER_ALPHA = (2000.0, 0.15, 0.85)


def thin(n, k):
    """At most k evenly strided indices out of n, centred in the range."""
    if n <= k:
        return np.arange(n)
    step = int(np.ceil(n / float(k)))
    m = (n - 1) // step + 1
    off = (n - 1 - (m - 1) * step) // 2
    return off + step * np.arange(m)


def main():
    ap = fmplot.argparser(
        "Plot the model velocity field (and the exact field of the data set, if present) "
        "from an fmtrain field file as arrows on a grid, one column per time t.",
        "field", "FIELD.h5", "field file written by `fmtrain field`", "field.png")
    ap.add_argument("--cols", type=int, default=6,
                    help="number of time columns, evenly spread over /t (default: %(default)s)")
    ap.add_argument("--arrows", type=int, default=21,
                    help="at most this many arrows along each grid axis (default: %(default)s)")
    ap.add_argument("--scale", choices=("column", "row", "global"), default="column",
                    help="arrow length scale shared per time column (model and exact alike), per row, "
                         "or over all panels (default: %(default)s)")
    ap.add_argument("--pct", type=float, default=90.0,
                    help="percentile of |u| drawn 0.9 grid cells long (default: %(default)s)")
    ap.add_argument("--clip", type=float, default=1.6,
                    help="clip arrows at this many grid cells (default: %(default)s; 0 = never)")
    ap.add_argument("--max-points", type=int, default=5000,
                    help="random subset of /data drawn per panel (default: %(default)s)")
    args = fmplot.parse_args(ap)

    with fmplot.open_h5(args.field) as f:
        fmplot.require(f, args.field, ("t", "grid_x", "grid_y", "u"),
                       "is this a field file from `fmtrain field`?")
        t = np.asarray(f["t"][()], dtype=np.float64).ravel()
        gx = np.asarray(f["grid_x"][()], dtype=np.float64).ravel()
        gy = np.asarray(f["grid_y"][()], dtype=np.float64).ravel()
        shape = f["u"].shape
        if len(shape) != 4 or shape[3] != 2:
            die("/u has shape %s, expected T x G x G x 2 (the field plot needs D = 2)" % (shape,))
        T, Gy, Gx = shape[0], shape[1], shape[2]
        if t.size != T:
            die("/t has %d entries but /u has %d times" % (t.size, T))
        if gx.size != Gx or gy.size != Gy:
            die("/u is T x %d x %d x 2 but /grid_y has %d and /grid_x %d entries (expected u[t, y, x])"
                % (Gy, Gx, gy.size, gx.size))
        if T == 0 or Gx == 0 or Gy == 0:
            die("/u is empty (shape %s)" % (shape,))
        order = np.argsort(t, kind="stable")
        k = max(1, min(args.cols, T))
        sel = order[np.unique(np.round(np.linspace(0, T - 1, k)).astype(int))]
        iy, ix = thin(Gy, args.arrows), thin(Gx, args.arrows)

        def load(name):
            return fmplot.read_rows(f[name], sel)[:, iy][:, :, ix]    # (k, ny, nx, 2)

        fields = [("model", load("u"))]
        ndata = None
        data = None
        if "data" in f:
            data = np.asarray(f["data"][()], dtype=np.float64)
            if data.ndim != 2 or data.shape[1] < 2 or data.shape[0] == 0:
                warn("/data has shape %s, not N x 2; not drawn" % (data.shape,))
                data = None
            else:
                ndata = data.shape[0]
                data = data[np.all(np.isfinite(data[:, :2]), axis=1), :2]
        if "u_oracle" in f:
            if f["u_oracle"].shape != shape:
                warn("/u_oracle has shape %s but /u has %s; exact field not drawn" % (f["u_oracle"].shape, shape))
            else:
                lab = "exact (%d data points)" % ndata if ndata is not None else "exact"
                fields.append((lab, load("u_oracle")))
        meta = {n: fmplot.attr_str(f, n) for n in ("checkpoint", "objective", "path", "data")}

    ts = t[sel]
    X, Y = np.meshgrid(gx[ix], gy[iy])                 # X[j, i] = grid_x[i], Y[j, i] = grid_y[j]
    dx = np.min(np.diff(gx[ix])) if ix.size > 1 else 1.0
    dy = np.min(np.diff(gy[iy])) if iy.size > 1 else 1.0
    cell = max(1e-12, min(abs(dx), abs(dy)) if ix.size > 1 and iy.size > 1 else max(abs(dx), abs(dy)))
    R = len(fields)

    # magnitudes; non-finite vectors are not drawn
    mags = []
    nbad = 0
    for _, u in fields:
        m = np.sqrt(np.sum(u * u, axis=-1))
        bad = ~np.isfinite(m)
        nbad += int(bad.sum())
        mags.append(np.where(bad, np.nan, m))
    if nbad:
        warn("%d non-finite field vectors are not drawn" % nbad)

    def robust(vals):
        v = np.concatenate([np.asarray(a).ravel() for a in vals])
        v = v[np.isfinite(v) & (v > 0)]
        return float(np.percentile(v, args.pct)) if v.size else 1.0

    ref = np.ones((R, k))                              # |u| drawn 0.9 cells long, per panel
    if args.scale == "global":
        ref[:] = robust(mags)
    elif args.scale == "row":
        for r in range(R):
            ref[r, :] = robust([mags[r]])
    else:
        for c in range(k):
            ref[:, c] = robust([m[c] for m in mags])
            own = [robust([m[c]]) for m in mags]
            if R > 1 and max(own) > SPLIT * min(own):  # one row would be dots at the other's scale
                ref[:, c] = own
    shared = [args.scale != "column" or len(set(ref[:, c])) == 1 for c in range(k)]

    allm = np.concatenate([m.ravel() for m in mags])
    allm = allm[np.isfinite(allm) & (allm > 0)]
    if allm.size:
        vmax = float(np.max(allm))
        vmin = float(max(np.percentile(allm, 1.0), vmax * 1e-4))
        if vmax <= vmin:
            vmin, vmax = vmin / 2, vmin * 2
    else:
        vmin, vmax = 1e-3, 1.0

    plt = fmplot.pyplot()
    from matplotlib.colors import LogNorm

    # viridis without its pale-yellow end (poor contrast on white)
    cmap = fmplot.dark_cmap(CMAP, 0.88)
    norm = LogNorm(vmin=vmin, vmax=vmax)

    xl = (gx.min() - 0.5 * cell, gx.max() + 0.5 * cell) if gx.size > 1 else (gx[0] - 1, gx[0] + 1)
    yl = (gy.min() - 0.5 * cell, gy.max() + 0.5 * cell) if gy.size > 1 else (gy[0] - 1, gy[0] + 1)

    # arrows as drawn: 0.9 cells per ref[r, c], clipped at args.clip cells; non-finite ones dropped
    arrows = [[None] * k for _ in range(R)]
    nclip = 0
    for r, (_, u) in enumerate(fields):
        for c in range(k):
            m = mags[r][c]
            ok = np.isfinite(m)
            v = np.where(ok[..., None], u[c], 0.0) * (0.9 * cell / ref[r, c])
            L = np.sqrt(np.sum(v * v, axis=-1))
            if args.clip > 0:
                over = L > args.clip * cell
                nclip += int(np.sum(over & ok))
                v = np.where(over[..., None], v * (args.clip * cell / np.maximum(L, 1e-300))[..., None], v)
            arrows[r][c] = (ok, v, m)

    w, h = xl[1] - xl[0], yl[1] - yl[0]
    pw = 2.7 if k > 3 else 3.4                        # panel width (in)
    ph = float(np.clip(pw * h / w, 1.6, 4.5))          # ... height from the grid's aspect
    if ph == 4.5 or ph == 1.6:                         # very tall or flat grid: refit the width
        pw = ph * w / h
    gw, gh = 0.12, 0.5                                 # gaps between panels (in)
    fw = pw * k + gw * (k - 1) + 1.65

    scale_txt = {"column": ("arrow length: one scale per t column, shared by the rows" +
                            ("" if all(shared) else " unless their magnitudes differ over %gx" % SPLIT)) if R > 1
                 else "arrow length: one scale per panel (t)",
                 "row": "arrow length: one scale per row over all t",
                 "global": "arrow length: one scale for all panels"}[args.scale]
    head_items = ["field: data=%s  objective=%s  path=%s" % (meta["data"], meta["objective"], meta["path"]),
                  scale_txt + (" (key above each panel, clipped at %.3g cells)" % args.clip
                               if args.clip > 0 else " (key above each panel)")]
    items = ["%s: %d times, grid %d x %d (%d x %d arrows)" % (os.path.basename(args.field), T, Gx, Gy,
                                                              ix.size, iy.size)]
    if ndata is not None:
        items.append("grey: %d data points" % ndata)
    if nclip:
        items.append("%d arrows clipped" % nclip)
    if nbad:
        items.append("%d non-finite vectors not drawn" % nbad)
    if meta["checkpoint"] != "?":
        items.append("ckpt=%s" % meta["checkpoint"])
    tfs = 10 if k > 3 else 9
    width = max(40, int(fw * 72 / (tfs * 0.56)))       # characters per title line

    def wrap(parts):
        """Join parts with ' . ' into lines of at most width characters (long parts are split)."""
        import textwrap
        out = []
        for it in parts:
            for piece in textwrap.wrap(it, width) or [""]:
                if out and len(out[-1]) + 5 + len(piece) <= width:
                    out[-1] += "  \u00b7  " + piece
                else:
                    out.append(piece)
        return out

    lines = wrap(head_items) + wrap(items)
    head = 0.6 + 0.22 * len(lines)                     # title + panel titles (in)
    fh = ph * R + gh * (R - 1) + 0.45 + head
    fig, axes = plt.subplots(R, k, figsize=(fw, fh), sharex=True, sharey=True, squeeze=False)
    top = 1 - head / fh
    fig.subplots_adjust(left=0.9 / fw, right=1 - 0.75 / fw, bottom=0.45 / fh, top=top,
                        wspace=gw / pw, hspace=gh / ph)

    if data is not None and data.shape[0] > args.max_points:
        data = data[np.random.default_rng(0).choice(data.shape[0], args.max_points, replace=False)]
    ds, da = fmplot.marker_style(data.shape[0], MARKER_SIZE, MARKER_ALPHA) if data is not None else (0, 0)
    for r, (label, _) in enumerate(fields):
        for c in range(k):
            ax = axes[r, c]
            ok, v, m = arrows[r][c]
            if data is not None:
                few = data.shape[0] <= 300   # a few points on top of the arrows, a cloud beneath
                ax.scatter(data[:, 0], data[:, 1], s=ds, alpha=da, color=DATA_COLOR,
                           edgecolor="white" if few else "none", lw=0.5 if few else 0,
                           zorder=3 if few else 1, rasterized=True)
            ax.quiver(X[ok], Y[ok], v[..., 0][ok], v[..., 1][ok], m[ok], cmap=cmap, norm=norm,
                      angles="xy", scale_units="xy", scale=1.0, width=0.0075, headwidth=3.6,
                      headlength=4.0, headaxislength=3.6, minlength=0.4, pivot="tail", zorder=2)
            nb = int(np.sum(~ok))
            if nb:
                ax.text(0.5, 0.5 if nb == ok.size else 0.02,
                        "field not finite here" if nb == ok.size else "%d non-finite vectors not drawn" % nb,
                        transform=ax.transAxes, ha="center", va="center" if nb == ok.size else "bottom",
                        fontsize=8.5, color="tab:red", zorder=4)
            ax.set_xlim(*xl)
            ax.set_ylim(*yl)
            ax.set_aspect("equal", adjustable="box")
            ax.tick_params(labelsize=7.5)
            ax.grid(True, alpha=0.2)
            ttl = "t = %.3g" % ts[c] if r == 0 else ""
            key = "\u2192 0.9 cell = |u| %.3g" % ref[r, c]
            if args.scale == "column" and R > 1:
                if not shared[c]:
                    key += " (this panel)"
                elif r == 0:
                    key += " (both rows)"
            ax.set_title((ttl + "\n" if ttl else "") + key, fontsize=8.5 if ttl else 7.5,
                         color="0.1", pad=3)
            if r == R - 1:
                ax.set_xlabel("x0", fontsize=8.5, labelpad=1)
            if c == 0:
                ax.set_ylabel("x1", fontsize=8.5, labelpad=1)
                ax.annotate(label, xy=(-0.2 - 0.05 * (pw < 3), 0.5), xycoords="axes fraction", rotation=90,
                            ha="right", va="center", fontsize=11, fontweight="bold")

    cax = fig.add_axes([1 - 0.62 / fw, 0.45 / fh + 0.05 * (top - 0.45 / fh), 0.14 / fw,
                        0.9 * (top - 0.45 / fh)])
    cb = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax)
    cb.set_label("|u|  (arrow colour, log scale)", fontsize=8.5)
    cb.ax.tick_params(labelsize=7.5)
    fig.suptitle("\n".join(lines), fontsize=tfs, y=1 - 0.12 / fh, va="top")

    fmplot.save(fig, args.out, args.dpi)


if __name__ == "__main__":
    main()
