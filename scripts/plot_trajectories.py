#!/usr/bin/python3
"""Plot sampling trajectories from an fmtrain samples file (samples.h5 with /trajectory and /t).

D = 2: a row of panels with the particle cloud at ~6 of the recorded times, plus one
       panel with the paths of ~200 particles (segments coloured by t, start and end marked).
D = 1: x against t for ~300 particles, with a histogram of the final x on the right.
D > 2: as D = 2, using the first two coordinates (noted on the figure).
All panels share the same axis limits (the union of each plotted frame's robust percentiles).
Images (the file has image_shape = [C, H, W], rows in [-1, 1]): a strip with one row per
sample (the first --paths, default 8) and one column per frame (--frames, default 8, spread
evenly over /t), each image's evolution from noise (t = 0) to data (t = 1).

Run with Debian's interpreter:  /usr/bin/python3 scripts/plot_trajectories.py samples.h5 -o traj.png
"""
import os

import numpy as np

import fmplot
from fmplot import die, warn

CMAP = "viridis"
REF_COLOR = "0.55"
# scatter points (fmplot.marker_style)
MARKER_SIZE = (8000.0, 0.3, 6.0)
MARKER_ALPHA = (3000.0, 0.1, 0.8)


def pick(n, k, rng):
    """k sorted distinct indices out of n (all of them if k >= n)."""
    if k >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, k, replace=False))


def plot_images(args, imgs, t, N, shape, meta):
    """Image trajectories: a strip with one row per sample and one column per chosen frame.
    imgs: (T, P, D) in time order, t: the T times (sorted), N: trajectories in the file."""
    T, P = imgs.shape[:2]
    C, H, W = shape
    k = max(1, min(args.frames if args.frames is not None else 8, T))
    target = np.linspace(t[0], t[-1], k)            # columns evenly spaced in t: nearest frames
    sel = np.unique(np.argmin(np.abs(t[:, None] - target[None, :]), axis=0))
    k = len(sel)
    cells = imgs[sel].transpose(1, 0, 2).reshape(P * k, -1)     # row-major: sample, then frame
    pix, n_bad = fmplot.image_pixels(cells, shape)
    pad = fmplot.tile_pad(H, W)
    img = fmplot.mosaic(pix, P, k, pad)
    mh, mw = img.shape[:2]
    scale, interp = fmplot.pixel_scale(mh, mw, 640)
    pw, ph = int(round(mw * scale)), int(round(mh * scale))
    tw, th = (W + pad) * scale, (H + pad) * scale    # screen pixels per column / row

    title = "trajectories: data=%s  objective=%s  |  solver=%s  steps=%s  nfe=%s" % (
        meta["data"], meta["objective"], meta["solver"], meta["steps"], meta["nfe"])
    sub = "%s: T=%d frames (t = %.3g \u2192 %.3g), first %d of %d trajectories, %s images  \u00b7  seed=%s" % (
        os.path.basename(args.samples), T, t[0], t[-1], P, N, fmplot.shape_str(shape), meta["seed"])
    notes = []
    if C not in (1, 3):
        notes.append("C=%d channels: showing channel 0 in grey-scale" % C)
    if n_bad:
        notes.append("non-finite values in magenta (%d image%s)" % (n_bad, "s" if n_bad > 1 else ""))
    note = ";  ".join(notes)
    xlabel = "t   (0 = noise \u2192 1 = data)"

    dpi = args.dpi
    TS, SS, NS = 11.5, 8.5, 8.5
    labels = ["%.3g" % t[i] for i in sel]
    # column labels (the times, after "t =" on the left): as large as fits, 6.5 to 9.5 pt
    CS = 9.5
    while CS > 6.5 and max(fmplot.text_px(s, CS, dpi) for s in labels) > 0.8 * tw:
        CS -= 0.5
    RS = float(np.clip(th / dpi * 72 * 0.45, 6.5, 9.0))           # row labels
    left = int(max(fmplot.text_px("#%d" % (P - 1), RS, dpi), fmplot.text_px("t =", CS, dpi)) + 0.25 * dpi)
    head = int(0.72 * dpi)
    clab = int(0.3 * dpi)
    foot = int((0.62 if note else 0.42) * dpi)
    text = max(fmplot.text_px(title, TS, dpi), fmplot.text_px(sub, SS, dpi),
               fmplot.text_px(note, NS, dpi) if note else 0)
    width = int(np.ceil(max(pw + 2 * left, text + 0.6 * dpi)))   # strip centred
    height = head + clab + ph + foot
    plt = fmplot.pyplot()
    fig, px_axes = fmplot.pixel_figure(plt, width, height, dpi)
    x0 = (width - pw) // 2
    ax = px_axes(x0, foot, pw, ph)
    fmplot.draw_mosaic(fig, ax, img, scale, interp, x0, foot)
    def label(s, xy, off, ha, va, **kw):               # text offset (points) from a point of the strip
        ax.annotate(s, xy=xy, xycoords="data", xytext=off, textcoords="offset points", ha=ha, va=va,
                    annotation_clip=False, **kw)
    for c, s in enumerate(labels):                      # label each column with its t
        label(s, (c * (W + pad) + W / 2.0, 0), (0, 6), "center", "bottom", fontsize=CS)
    label("t =", (0, 0), (-7, 6), "right", "bottom", fontsize=CS)
    for r in range(P):                                 # and each row with its sample index
        label("#%d" % r, (0, r * (H + pad) + H / 2.0), (-7, 0), "right", "center", fontsize=RS, color="0.35")
    fig.text(0.5, 1 - 0.1 * dpi / height, title, ha="center", va="top", fontsize=TS)
    fig.text(0.5, 1 - 0.42 * dpi / height, sub, ha="center", va="top", fontsize=SS, color="0.3")
    fig.text(0.5, (foot - 0.1 * dpi) / height, xlabel, ha="center", va="top", fontsize=9.5)
    if note:
        fig.text(0.5, 0.08 * dpi / height, note, ha="center", va="bottom", fontsize=NS, color="tab:red")
    fmplot.save(fig, args.out, dpi)


def main():
    ap = fmplot.argparser(
        "Plot the sampling trajectories (/trajectory, /t) of an fmtrain samples file.",
        "samples", "SAMPLES.h5", "samples file written by fmtrain with a trajectory", "traj.png")
    ap.add_argument("--frames", type=int, default=None,
                    help="number of time snapshots in the D>=2 plot (default: 6; 8 columns for images)")
    ap.add_argument("--paths", type=int, default=0,
                    help="number of particle paths drawn (default: 200 for D>=2, 300 for D=1; "
                         "8 rows for images)")
    ap.add_argument("--max-points", type=int, default=10000,
                    help="random subset of particles drawn per snapshot (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="seed for choosing particles (default: %(default)s)")
    args = fmplot.parse_args(ap)

    with fmplot.open_h5(args.samples) as f:
        rng = np.random.default_rng(args.seed)
        if "trajectory" not in f:
            die("%s: no /trajectory dataset (the samples were written without trajectory recording)"
                % args.samples)
        if "t" not in f:
            die("%s: /trajectory present but no /t dataset with the frame times" % args.samples)
        ds = f["trajectory"]
        shape = ds.shape
        if len(shape) == 2:           # T x N, treat as D = 1
            T, N, D = shape[0], shape[1], 1
        elif len(shape) == 3:
            T, N, D = shape
        else:
            die("/trajectory has shape %s, expected T x N x D" % (shape,))
        t = np.asarray(f["t"][()], dtype=np.float64).ravel()
        if t.size != T:
            die("/t has %d entries but /trajectory has %d frames" % (t.size, T))
        if T == 0 or N == 0 or D == 0:
            die("/trajectory is empty (shape %s)" % (shape,))

        order = np.argsort(t, kind="stable")   # frames in time order
        shape = fmplot.image_shape(f, args.samples, D)
        if shape is not None:
            P = min(args.paths if args.paths > 0 else 8, N)
            imgs = np.asarray(ds[:, :P], dtype=np.float64).reshape(T, P, D)[order]
            meta = {k: fmplot.attr_str(f, k) for k in ("data", "objective", "solver", "steps", "nfe", "seed")}
            plot_images(args, imgs, t[order], N, shape, meta)
            return
        npaths = args.paths if args.paths > 0 else (300 if D == 1 else 200)
        pidx = pick(N, npaths, rng)
        # paths: all frames, a subset of particles -> (T, P, D)
        paths = np.asarray(ds[:, pidx], dtype=np.float64).reshape(T, len(pidx), D)[order]
        if D == 1:
            final = np.asarray(ds[order[-1]], dtype=np.float64).reshape(N, 1)
            frames, fidx = None, None
        else:
            k = max(1, min(args.frames if args.frames is not None else 6, T))
            sel = np.unique(np.round(np.linspace(0, T - 1, k)).astype(int))
            fidx = order[sel]                              # dataset indices, time-ordered
            cidx = pick(N, args.max_points, rng)
            frames = fmplot.read_rows(ds, fidx).reshape(len(fidx), N, D)[:, cidx, :2]   # (k, C, 2)
            final = None
        ref = None
        if "reference" in f:
            ref = np.asarray(f["reference"][()], dtype=np.float64)
            if ref.ndim == 1:
                ref = ref[:, None]
            if ref.ndim != 2 or ref.shape[1] != D or ref.shape[0] == 0:
                warn("/reference has shape %s, not N x %d; ignored" % (ref.shape, D))
                ref = None
            else:
                ref = ref[np.all(np.isfinite(ref), axis=1)]
                if ref.shape[0] > args.max_points:
                    ref = ref[pick(ref.shape[0], args.max_points, rng)]
        meta = {k: fmplot.attr_str(f, k) for k in ("data", "objective", "solver", "steps", "nfe", "seed")}

    t = t[order]
    plt = fmplot.pyplot()
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    # viridis without its last, pale-yellow stretch (poor contrast on white)
    cmap = fmplot.dark_cmap(CMAP, 0.85)
    tn = Normalize(vmin=min(t[0], t[-1]), vmax=max(t[-1], t[0] + 1e-12))
    title = "trajectories: data=%s  objective=%s  |  solver=%s  steps=%s  nfe=%s" % (
        meta["data"], meta["objective"], meta["solver"], meta["steps"], meta["nfe"])
    sub = "%s: T=%d frames (t = %.3g \u2192 %.3g), N=%d particles, D=%d  \u00b7  seed=%s" % (
        os.path.basename(args.samples), T, t[0], t[-1], N, D, meta["seed"])

    if D == 1:
        x = paths[:, :, 0]                              # (T, P)
        yl = fmplot.robust_range([x, final[:, 0]] + ([ref[:, 0]] if ref is not None else []), 0.25, 99.75, 0.05)
        fig, (ax, axh) = plt.subplots(1, 2, sharey=True, figsize=(10, 5.4),
                                      gridspec_kw={"width_ratios": [3.2, 1], "wspace": 0.09})
        segs = [np.column_stack([t, x[:, j]]) for j in range(x.shape[1])]
        fin = x[-1]
        cn = Normalize(vmin=yl[0], vmax=yl[1])
        # plasma without its pale-yellow end, so no path fades into the background
        pcmap = fmplot.dark_cmap("plasma", 0.88)
        lc = LineCollection(segs, cmap=pcmap, norm=cn, linewidths=0.6, alpha=0.5)
        lc.set_array(np.where(np.isfinite(fin), fin, 0.0))
        ax.add_collection(lc)
        ax.set_xlim(t[0], t[-1] if t[-1] > t[0] else t[0] + 1)
        ax.set_ylim(*yl)
        ax.set_xlabel("t   (0 = noise, 1 = data)")
        ax.set_ylabel("x")
        ax.set_title("%d particle paths (coloured by final x)" % x.shape[1], fontsize=10)
        ax.grid(True, alpha=0.3)
        for tv in t:
            ax.axvline(tv, color="0.85", lw=0.5, zorder=0)
        nb = int(np.clip(np.sqrt(N) * 2.0, 30, 150))
        bins = np.linspace(yl[0], yl[1], nb + 1)
        if ref is not None:
            axh.hist(ref[:, 0], bins=bins, density=True, orientation="horizontal",
                     histtype="stepfilled", color=REF_COLOR, alpha=0.45, label="reference")
        ff = final[:, 0][np.isfinite(final[:, 0])]
        axh.hist(ff, bins=bins, density=True, orientation="horizontal", histtype="step",
                 color="tab:blue", lw=1.5, label="x at t=%.3g" % t[-1])
        axh.set_xlabel("density")
        axh.set_title("final x (all %d)" % N, fontsize=10)
        axh.grid(True, alpha=0.3)
        axh.legend(loc="best", fontsize=8, framealpha=0.9)
        axh.tick_params(axis="y", labelleft=False)
        fig.suptitle(title + "\n" + sub, fontsize=10.5)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.1, top=0.84)
    else:
        k = frames.shape[0]
        p2 = paths[:, :, :2]
        # the union of each frame's robust range (pooled, the spread-out noise at t = 0 would be cut
        # by the data's tighter frames), and the reference's
        def union_range(d):
            rs = [fmplot.robust_range([frames[j, :, d]]) for j in range(frames.shape[0])]
            if ref is not None:
                rs.append(fmplot.robust_range([ref[:, d]]))
            return min(r[0] for r in rs), max(r[1] for r in rs)
        xl, yl = union_range(0), union_range(1)
        w, h = xl[1] - xl[0], yl[1] - yl[0]
        # top: a row of k snapshots; bottom: a larger path panel (+ colour bar), centred
        pw = 2.45                                       # snapshot panel width (in)
        ph = float(np.clip(pw * h / w, 1.4, 4.0))       # ... height from the data aspect
        bw = float(np.clip(2.3 * pw, 4.5, 7.0))         # path panel width
        bh = float(np.clip(bw * h / w, 2.5, 6.5))
        fw = max(pw * k + 0.9, bw + 2.2)
        fh = ph + bh + 1.9
        fig = plt.figure(figsize=(fw, fh))
        top = 1 - 0.85 / fh
        gtop = fig.add_gridspec(1, k, left=0.045, right=0.99, top=top, bottom=top - (ph + 0.35) / fh,
                                wspace=0.08)
        side = (fw - bw) / 2 / fw
        gbot = fig.add_gridspec(1, 1, left=side, right=1 - side,
                                top=top - (ph + 0.75) / fh, bottom=0.45 / fh)
        axes = []
        s, a = fmplot.marker_style(frames.shape[1], MARKER_SIZE, MARKER_ALPHA)
        for i in range(k):
            ax = fig.add_subplot(gtop[0, i], sharex=axes[0] if axes else None,
                                 sharey=axes[0] if axes else None)
            ti = t[sel[i]]
            ax.scatter(frames[i, :, 0], frames[i, :, 1], s=s, alpha=a, color=cmap(tn(ti)), lw=0,
                       rasterized=True, label="samples")
            ax.set_xlim(*xl)
            ax.set_ylim(*yl)
            ax.set_aspect("equal", adjustable="box")
            ax.set_title("t = %.3g" % ti, fontsize=10)
            ax.grid(True, alpha=0.25)
            ax.tick_params(labelsize=7.5)
            ax.set_xlabel("x0", fontsize=8.5, labelpad=1)
            if i == 0:
                ax.set_ylabel("x1", fontsize=8.5, labelpad=1)
            else:
                ax.tick_params(labelleft=False)
            axes.append(ax)
        axp = fig.add_subplot(gbot[0, 0], sharex=axes[0], sharey=axes[0])
        P = p2.shape[1]
        if ref is not None:  # faint target distribution behind the paths, for context
            rs, ra = fmplot.marker_style(ref.shape[0], MARKER_SIZE, MARKER_ALPHA)
            axp.scatter(ref[:, 0], ref[:, 1], s=rs, alpha=ra * 0.6, color="0.45", lw=0,
                        rasterized=True, zorder=1, label="reference")
        # one segment per particle per frame interval, coloured by the interval's mid time
        segs = np.stack([p2[:-1], p2[1:]], axis=2).reshape(-1, 2, 2)   # ((T-1)*P, 2, 2)
        tm = np.repeat(0.5 * (t[:-1] + t[1:]), P)
        ok = np.all(np.isfinite(segs), axis=(1, 2))
        lc = LineCollection(segs[ok], cmap=cmap, norm=tn, linewidths=0.7, alpha=0.7, zorder=2)
        lc.set_array(tm[ok])
        axp.add_collection(lc)
        axp.scatter(p2[0, :, 0], p2[0, :, 1], s=9, facecolor="white", edgecolor="black", lw=0.7,
                    zorder=3, label="start (t=%.3g)" % t[0])
        axp.scatter(p2[-1, :, 0], p2[-1, :, 1], s=11, color="tab:red", edgecolor="black", lw=0.4,
                    zorder=4, label="end (t=%.3g)" % t[-1])
        axp.set_xlim(*xl)
        axp.set_ylim(*yl)
        axp.set_aspect("equal", adjustable="box")
        axp.set_title("paths of %d particles" % P, fontsize=10)
        axp.set_xlabel("x0")
        axp.set_ylabel("x1")
        axp.tick_params(labelleft=True)
        axp.grid(True, alpha=0.25)
        axp.legend(loc="lower right", fontsize=7.5, framealpha=0.85, markerscale=1.3)
        from mpl_toolkits.axes_grid1 import make_axes_locatable
        cax = make_axes_locatable(axp).append_axes("right", size="3.5%", pad=0.1)
        cb = fig.colorbar(plt.cm.ScalarMappable(norm=tn, cmap=cmap), cax=cax)
        cb.set_label("t   (0 = noise, 1 = data)")
        note = ""
        if D > 2:
            note = "\nnote: D=%d, showing only the first two coordinates (x0, x1)" % D
        fig.suptitle(title + "\n" + sub + note, fontsize=10.5)

    fmplot.save(fig, args.out, args.dpi)


if __name__ == "__main__":
    main()
