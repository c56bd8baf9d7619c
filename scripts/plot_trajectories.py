#!/usr/bin/python3
"""Plot sampling trajectories from an fmtrain samples file (samples.h5 with /trajectory and /t).

D = 2: a row of panels with the particle cloud at ~6 of the recorded times, plus one
       panel with the paths of ~200 particles (segments coloured by t, start and end marked).
D = 1: x against t for ~300 particles, with a histogram of the final x on the right.
D > 2: as D = 2, using the first two coordinates (noted on the figure).
All panels share the same axis limits (robust percentiles over the plotted frames).

Run with Debian's interpreter:  /usr/bin/python3 scripts/plot_trajectories.py samples.h5 -o traj.png
"""
import argparse
import os
import sys

import numpy as np

PROG = os.path.basename(sys.argv[0])
CMAP = "viridis"
REF_COLOR = "0.55"


def die(msg):
    print("%s: error: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(2)


def warn(msg):
    print("%s: warning: %s" % (PROG, msg), file=sys.stderr)


def attr_str(f, name, default="?"):
    """Root attribute as a plain string (handles bytes, numpy scalars, 1-element arrays)."""
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


def marker_style(n):
    s = float(np.clip(8000.0 / max(n, 1), 0.3, 6.0))
    a = float(np.clip(3000.0 / max(n, 1), 0.1, 0.8))
    return s, a


def pick(n, k, rng):
    """k sorted distinct indices out of n (all of them if k >= n)."""
    if k >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, k, replace=False))


def main():
    ap = argparse.ArgumentParser(
        description="Plot the sampling trajectories (/trajectory, /t) of an fmtrain samples file.")
    ap.add_argument("samples", metavar="SAMPLES.h5", help="samples file written by fmtrain with a trajectory")
    ap.add_argument("-o", "--out", metavar="PNG", default="traj.png",
                    help="output image (default: %(default)s)")
    ap.add_argument("--frames", type=int, default=6,
                    help="number of time snapshots in the D>=2 plot (default: %(default)s)")
    ap.add_argument("--paths", type=int, default=0,
                    help="number of particle paths drawn (default: 200 for D>=2, 300 for D=1)")
    ap.add_argument("--max-points", type=int, default=10000,
                    help="random subset of particles drawn per snapshot (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="seed for choosing particles (default: %(default)s)")
    ap.add_argument("--dpi", type=int, default=110, help="image resolution (default: %(default)s)")
    args = ap.parse_args()

    if not os.path.isfile(args.samples):
        die("no such file: %s" % args.samples)

    import h5py
    try:
        f = h5py.File(args.samples, "r")
    except OSError as e:
        die("cannot open %s as HDF5: %s" % (args.samples, e))

    rng = np.random.default_rng(args.seed)
    with f:
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
        npaths = args.paths if args.paths > 0 else (300 if D == 1 else 200)
        pidx = pick(N, npaths, rng)
        # paths: all frames, a subset of particles -> (T, P, D)
        paths = np.asarray(ds[:, pidx], dtype=np.float64).reshape(T, len(pidx), D)[order]
        if D == 1:
            final = np.asarray(ds[order[-1]], dtype=np.float64).reshape(N, 1)
            frames, fidx = None, None
        else:
            k = max(1, min(args.frames, T))
            sel = np.unique(np.round(np.linspace(0, T - 1, k)).astype(int))
            fidx = order[sel]                              # dataset indices, time-ordered
            cidx = pick(N, args.max_points, rng)
            rows = np.sort(fidx)
            fr = np.asarray(ds[rows], dtype=np.float64).reshape(len(rows), N, D)[:, cidx, :2]
            pos = {r: i for i, r in enumerate(rows)}
            frames = np.stack([fr[pos[r]] for r in fidx])  # (k, C, 2)
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
        meta = {k: attr_str(f, k) for k in ("data", "objective", "solver", "steps", "nfe", "seed")}

    t = t[order]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    from matplotlib.colors import ListedColormap
    # viridis without its last, pale-yellow stretch (poor contrast on white)
    cmap = ListedColormap(plt.get_cmap(CMAP)(np.linspace(0.0, 0.85, 256)), name="viridis_dark")
    tn = Normalize(vmin=min(t[0], t[-1]), vmax=max(t[-1], t[0] + 1e-12))
    title = "trajectories: data=%s  objective=%s  |  solver=%s  steps=%s  nfe=%s" % (
        meta["data"], meta["objective"], meta["solver"], meta["steps"], meta["nfe"])
    sub = "%s: T=%d frames (t = %.3g \u2192 %.3g), N=%d particles, D=%d  \u00b7  seed=%s" % (
        os.path.basename(args.samples), T, t[0], t[-1], N, D, meta["seed"])

    if D == 1:
        x = paths[:, :, 0]                              # (T, P)
        yl = robust_range([x, final[:, 0]] + ([ref[:, 0]] if ref is not None else []), 0.25, 99.75, 0.05)
        fig, (ax, axh) = plt.subplots(1, 2, sharey=True, figsize=(10, 5.4),
                                      gridspec_kw={"width_ratios": [3.2, 1], "wspace": 0.09})
        segs = [np.column_stack([t, x[:, j]]) for j in range(x.shape[1])]
        fin = x[-1]
        cn = Normalize(vmin=yl[0], vmax=yl[1])
        # plasma without its pale-yellow end, so no path fades into the background
        pcmap = ListedColormap(plt.get_cmap("plasma")(np.linspace(0.0, 0.88, 256)), name="plasma_dark")
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
        pools = [frames[..., 0], p2[..., 0]]
        xl = robust_range(pools + ([ref[:, 0]] if ref is not None else []))
        yl = robust_range([frames[..., 1], p2[..., 1]] + ([ref[:, 1]] if ref is not None else []))
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
        s, a = marker_style(frames.shape[1])
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
            rs, ra = marker_style(ref.shape[0])
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

    try:
        fig.savefig(args.out, dpi=args.dpi)
    except OSError as e:
        die("cannot write %s: %s" % (args.out, e))
    print(args.out)


if __name__ == "__main__":
    main()
