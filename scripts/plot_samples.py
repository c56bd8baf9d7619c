#!/usr/bin/python3
"""Plot generated samples from an fmtrain samples file (samples.h5).

D = 2: two panels, /reference (grey) | /samples (coloured), same limits, equal aspect.
D = 1: overlaid density histograms of samples and reference.
D > 2: as D = 2, using the first two coordinates (noted on the figure).
/reference is optional; without it only the samples are drawn.
Images (the file has image_shape = [C, H, W], rows in [-1, 1]): a grid of the first --grid-n
samples (grey-scale for C = 1, RGB for C = 3) and, beside it, the first --grid-n reference
items in the same layout ("data").

Run with Debian's interpreter:  /usr/bin/python3 scripts/plot_samples.py samples.h5 -o samples.png
"""
import os

import numpy as np

import fmplot
from fmplot import die, warn

SAMPLE_COLOR = "tab:blue"
REF_COLOR = "0.45"
# scatter points (fmplot.marker_style): readable from a few hundred to ~1e5 points
MARKER_SIZE = (12000.0, 0.4, 8.0)
MARKER_ALPHA = (4000.0, 0.12, 0.8)



def solver_text(meta):
    """The solver, its steps (an adaptive one: its tolerance instead) and the evaluations per sample."""
    if meta["solver"] == "dopri5":
        return "solver=dopri5 (adaptive, rtol %s)  nfe=%s" % (meta["rtol"], meta["nfe"])
    return "solver=%s  steps=%s  nfe=%s" % (meta["solver"], meta["steps"], meta["nfe"])

def as_points(a, name):
    """Dataset -> (N, D) float64 array."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        die("/%s has shape %s, expected N x D" % (name, a.shape))
    return a


def finite_rows(a, name):
    ok = np.all(np.isfinite(a), axis=1)
    bad = int((~ok).sum())
    if bad:
        warn("/%s: dropping %d rows with NaN/inf" % (name, bad))
    return a[ok], bad


def n_outside(p, xl, yl):
    return int(np.sum((p[:, 0] < xl[0]) | (p[:, 0] > xl[1]) | (p[:, 1] < yl[0]) | (p[:, 1] > yl[1])))


def plot_images(args, x, ref, shape, meta):
    """Image samples: a grid of the first --grid-n samples and, if there is a reference, a
    grid of the first --grid-n reference items beside it; pixel-exact, no axes."""
    if args.grid_n < 1:
        die("--grid-n must be at least 1 (got %d)" % args.grid_n)
    C, H, W = shape
    n_all = x.shape[0]
    k = min(args.grid_n, n_all)
    rows, cols = fmplot.grid_dims(k)
    pad = fmplot.tile_pad(H, W)
    pix, x_bad = fmplot.image_pixels(x[:k], shape)
    panels = [("samples", fmplot.mosaic(pix, rows, cols, pad))]
    kr, r_bad = 0, 0
    if ref is not None:
        kr = min(k, ref.shape[0])
        rpix, r_bad = fmplot.image_pixels(ref[:kr], shape)
        panels.append(("data", fmplot.mosaic(rpix, rows, cols, pad)))
    mh, mw = panels[0][1].shape[:2]
    scale, interp = fmplot.pixel_scale(mh, mw, 480)
    pw, ph = int(round(mw * scale)), int(round(mh * scale))

    title = "samples: data=%s  objective=%s  |  %s" % (meta["data"], meta["objective"], solver_text(meta))
    sub = ["%s: %d samples of %s images (first %d shown)"
           % (os.path.basename(args.samples), n_all, fmplot.shape_str(shape), k)]
    if ref is not None:
        sub.append("%d reference (first %d shown)" % (ref.shape[0], kr))
    else:
        sub.append("no /reference in file")
    sub.append("seed=%s" % meta["seed"])
    if meta["t_min"] != "?" or meta["t_max"] != "?":
        sub.append("t: %s \u2192 %s" % (meta["t_min"], meta["t_max"]))
    if meta["checkpoint"] != "?":
        sub.append("ckpt=%s" % meta["checkpoint"])
    subtitle = "  \u00b7  ".join(sub)
    notes = []
    if C not in (1, 3):
        notes.append("C=%d channels: showing channel 0 in grey-scale" % C)
    if x_bad or r_bad:
        notes.append("non-finite values in magenta (%d sample%s%s)"
                     % (x_bad, "" if x_bad == 1 else "s", ", %d reference" % r_bad if r_bad else ""))
    note = ";  ".join(notes)
    v = x[np.isfinite(x)]                             # all samples, not only those shown
    clip = ""
    if v.size and (v.min() < -1 - 1e-6 or v.max() > 1 + 1e-6):
        clip = "sample values in [%.3g, %.3g]: %.1f%% of them outside [-1, 1], clipped" % (
            v.min(), v.max(), 100.0 * np.mean(np.abs(v) > 1 + 1e-6))

    dpi = args.dpi
    TS, SS, PS, NS = 11.5, 8.5, 10.5, 8.5            # font sizes: title, subtitle, panel, note
    margin, gap = int(0.2 * dpi), int(0.3 * dpi)
    head = int(0.72 * dpi)                            # title + subtitle
    ptitle = int(0.3 * dpi)                           # panel titles
    foot = int((0.15 + 0.22 * bool(note) + 0.22 * bool(clip)) * dpi)
    npan = len(panels)
    body = npan * pw + (npan - 1) * gap
    text = max(fmplot.text_px(title, TS, dpi), fmplot.text_px(subtitle, SS, dpi),
               fmplot.text_px(note, NS, dpi) if note else 0, fmplot.text_px(clip, NS, dpi) if clip else 0)
    width = int(np.ceil(max(body + 2 * margin, text + 0.6 * dpi)))
    height = head + ptitle + ph + foot
    plt = fmplot.pyplot()
    fig, px_axes = fmplot.pixel_figure(plt, width, height, dpi)
    x0 = (width - body) // 2
    for i, (label, img) in enumerate(panels):
        ax = px_axes(x0 + i * (pw + gap), foot, pw, ph)
        fmplot.draw_mosaic(fig, ax, img, scale, interp, x0 + i * (pw + gap), foot)
        ax.set_title(label, fontsize=PS, pad=5)
    fig.text(0.5, 1 - 0.1 * dpi / height, title, ha="center", va="top", fontsize=TS)
    fig.text(0.5, 1 - 0.42 * dpi / height, subtitle, ha="center", va="top", fontsize=SS, color="0.3")
    if clip:
        fig.text(0.5, (0.08 + 0.22 * bool(note)) * dpi / height, clip, ha="center", va="bottom",
                 fontsize=NS, color="0.3")
    if note:
        fig.text(0.5, 0.08 * dpi / height, note, ha="center", va="bottom", fontsize=NS, color="tab:red")
    fmplot.save(fig, args.out, dpi)


def main():
    ap = fmplot.argparser(
        "Plot generated samples (and held-out reference data) from an fmtrain samples file.",
        "samples", "SAMPLES.h5", "samples file written by fmtrain", "samples.png")
    ap.add_argument("--max-points", type=int, default=20000,
                    help="random subset drawn per scatter panel (default: %(default)s)")
    ap.add_argument("--bins", type=int, default=0, help="histogram bins for D = 1 (default: automatic)")
    ap.add_argument("--grid-n", type=int, default=64,
                    help="image samples: number of images in each grid (default: %(default)s)")
    args = fmplot.parse_args(ap)

    with fmplot.open_h5(args.samples) as f:
        fmplot.require(f, args.samples, ("samples",), "is this a samples file?")
        x = as_points(f["samples"][()], "samples")
        ref = as_points(f["reference"][()], "reference") if "reference" in f else None
        meta = {k: fmplot.attr_str(f, k) for k in
                ("data", "objective", "solver", "steps", "nfe", "seed", "checkpoint", "t_min", "t_max", "rtol")}
        shape = fmplot.image_shape(f, args.samples, x.shape[1]) if x.size else None

    n_all, D = x.shape
    if n_all == 0 or D == 0:
        die("%s: /samples is empty (shape %s)" % (args.samples, x.shape))
    if ref is not None and ref.shape[1] != D:
        warn("/reference has D=%d but /samples has D=%d; reference ignored" % (ref.shape[1], D))
        ref = None
    if ref is not None and ref.shape[0] == 0:
        ref = None
    if shape is not None:
        plot_images(args, x, ref, shape, meta)
        return
    x, x_bad = finite_rows(x, "samples")
    if ref is not None:
        ref, _ = finite_rows(ref, "reference")
    if x.shape[0] == 0:
        die("%s: /samples contains no finite rows" % args.samples)

    plt = fmplot.pyplot()

    title = "samples: data=%s  objective=%s  |  %s" % (meta["data"], meta["objective"], solver_text(meta))
    sub = ["%s: %d samples, D=%d" % (os.path.basename(args.samples), n_all, D)]
    if ref is not None:
        sub.append("%d reference" % ref.shape[0])
    sub.append("seed=%s" % meta["seed"])
    if meta["t_min"] != "?" or meta["t_max"] != "?":
        sub.append("t: %s \u2192 %s" % (meta["t_min"], meta["t_max"]))
    if meta["checkpoint"] != "?":
        sub.append("ckpt=%s" % meta["checkpoint"])
    if x_bad:
        sub.append("%d non-finite samples dropped" % x_bad)
    subtitle = "  \u00b7  ".join(sub)

    rng = np.random.default_rng(0)

    def subset(p):
        if p.shape[0] > args.max_points:
            return p[rng.choice(p.shape[0], args.max_points, replace=False)]
        return p

    if D == 1:
        fig, ax = plt.subplots(figsize=(8, 4.8))
        pools = [x[:, 0]] + ([ref[:, 0]] if ref is not None else [])
        lo, hi = fmplot.robust_range(pools, 0.25, 99.75, 0.05)
        nb = args.bins if args.bins > 0 else int(np.clip(np.sqrt(x.shape[0]) * 1.5, 20, 120))
        bins = np.linspace(lo, hi, nb + 1)
        if ref is not None:
            ax.hist(ref[:, 0], bins=bins, density=True, histtype="stepfilled",
                    color=REF_COLOR, alpha=0.4,
                    label="reference (n=%d)  mean %.3g, std %.3g" % (ref.shape[0], ref.mean(), ref.std()))
        ax.hist(x[:, 0], bins=bins, density=True, histtype="stepfilled",
                color=SAMPLE_COLOR, alpha=0.18)
        ax.hist(x[:, 0], bins=bins, density=True, histtype="step", color=SAMPLE_COLOR, lw=1.6,
                label="samples (n=%d)  mean %.3g, std %.3g" % (x.shape[0], x.mean(), x.std()))
        out = int(np.sum((x[:, 0] < lo) | (x[:, 0] > hi)))
        if out:
            ax.text(0.99, 0.02, "%d samples outside the plotted range" % out, transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=8, color="0.35")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=9, framealpha=0.9)
        ax.set_title(subtitle, fontsize=8.5, color="0.3")
        fig.suptitle(title, fontsize=11.5)
    else:
        xs = subset(x)
        rs = subset(ref) if ref is not None else None
        pools = [x] + ([ref] if ref is not None else [])
        xl = fmplot.robust_range([p[:, 0] for p in pools])
        yl = fmplot.robust_range([p[:, 1] for p in pools])
        panels = ([("reference (n=%d)" % ref.shape[0], rs, REF_COLOR)] if ref is not None else []) + \
                 [("samples (n=%d)" % x.shape[0], xs, SAMPLE_COLOR)]
        npan = len(panels)
        w = max(1e-9, xl[1] - xl[0])
        h = max(1e-9, yl[1] - yl[0])
        if w >= h:  # size each panel to the data's aspect ratio, ~5-6.5 in on the long side
            panel_w = 6.5 if npan > 1 else 7.0
            panel_h = float(np.clip(panel_w * h / w, 2.8, panel_w))
        else:
            panel_h = 5.5
            panel_w = float(np.clip(panel_h * w / h, 3.2, panel_h))
        fig, axes = plt.subplots(1, npan, figsize=(panel_w * npan + 0.8, panel_h + 1.3),
                                 sharex=True, sharey=True, squeeze=False)
        axes = axes[0]
        for ax, (label, p, color) in zip(axes, panels):
            s, a = fmplot.marker_style(p.shape[0], MARKER_SIZE, MARKER_ALPHA)
            ax.scatter(p[:, 0], p[:, 1], s=s, alpha=a, color=color, lw=0, rasterized=True)
            ax.set_xlim(*xl)
            ax.set_ylim(*yl)
            ax.set_aspect("equal", adjustable="box")
            ax.set_title(label, fontsize=10)
            ax.set_xlabel("x0")
            ax.grid(True, alpha=0.25)
            full = ref if color == REF_COLOR else x
            out = n_outside(full, xl, yl)
            note = []
            if out:
                note.append("%d outside view" % out)
            if full.shape[0] > p.shape[0]:
                note.append("%d of %d drawn" % (p.shape[0], full.shape[0]))
            if note:
                ax.text(0.99, 0.01, ", ".join(note), transform=ax.transAxes, ha="right", va="bottom",
                        fontsize=7.5, color="0.35")
        axes[0].set_ylabel("x1")
        if D > 2:
            fig.text(0.5, 0.01, "note: D=%d, showing only the first two coordinates (x0, x1)" % D,
                     ha="center", va="bottom", fontsize=9, color="tab:red")
        fig.suptitle(title + "\n" + subtitle, fontsize=10.5)
        if npan == 1:
            axes[0].set_title(panels[0][0] + "  (no /reference in file)", fontsize=10)
            fig.suptitle(title + "\n" + subtitle, fontsize=9)

    fig.tight_layout(rect=(0, 0.03 if D > 2 else 0, 1, 1))
    fmplot.save(fig, args.out, args.dpi)


if __name__ == "__main__":
    main()
