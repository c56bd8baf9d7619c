#!/usr/bin/python3
"""Plot per-point negative log-likelihoods from an fmtrain NLL file (`fmtrain nll` -> nll.h5).

Left: histogram of /nll (nats per point) and, if present, of /nll_oracle (the exact field's NLL
of the same points) on the same bins; the means are marked by vertical lines and given (with
their standard errors) in the legend.  The bins cover the 0.5-99.5 percentile range; points
outside are counted on the figure.
D = 2: a second panel scatters the points /x coloured by their NLL (colour bar, equal aspect),
       and with /nll_oracle a third one coloured by nll - nll_oracle (where the model loses).
D = 1: the second panel plots the NLL against x (and the oracle's, if present).
D > 2: histogram only.

Run with Debian's interpreter:  /usr/bin/python3 scripts/plot_nll.py nll.h5 -o nll.png
"""
import os

import numpy as np

import fmplot
from fmplot import die, warn

NLL_COLOR = "tab:blue"
ORACLE_COLOR = "tab:orange"
# scatter points (fmplot.marker_style): readable from a few hundred to ~1e5 points
MARKER_SIZE = (12000.0, 0.8, 10.0)
MARKER_ALPHA = (6000.0, 0.35, 0.9)


def attr_float(f, name):
    """Root attribute as a float, or None if absent or not a finite number."""
    if name not in f.attrs:
        return None
    v = f.attrs[name]
    try:
        v = float(np.asarray(v).ravel()[0])
    except (TypeError, ValueError, IndexError):
        return None
    return v if np.isfinite(v) else None


def mean_se(v):
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan
    return float(v.mean()), (float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else np.nan)


def main():
    ap = fmplot.argparser(
        "Plot the per-point negative log-likelihoods (and, for D = 2, where they lie) "
        "from an fmtrain NLL file.",
        "nll", "NLL.h5", "NLL file written by `fmtrain nll`", "nll.png")
    ap.add_argument("--bins", type=int, default=0, help="histogram bins (default: automatic)")
    ap.add_argument("--max-points", type=int, default=20000,
                    help="random subset drawn in the scatter panels (default: %(default)s)")
    args = fmplot.parse_args(ap)

    with fmplot.open_h5(args.nll) as f:
        fmplot.require(f, args.nll, ("nll",), "is this an NLL file from `fmtrain nll`?")
        nll = np.asarray(f["nll"][()], dtype=np.float64).ravel()
        N = nll.size
        ora = None
        if "nll_oracle" in f:
            ora = np.asarray(f["nll_oracle"][()], dtype=np.float64).ravel()
            if ora.size != N:
                warn("/nll_oracle has %d entries but /nll has %d; ignored" % (ora.size, N))
                ora = None
        x = None
        if "x" in f:
            x = np.asarray(f["x"][()], dtype=np.float64)
            if x.ndim == 1:
                x = x[:, None]
            if x.ndim != 2 or x.shape[0] != N:
                warn("/x has shape %s, not %d x D; points not drawn" % (x.shape, N))
                x = None
        else:
            warn("no /x dataset; points not drawn")
        meta = {n: fmplot.attr_str(f, n) for n in ("solver", "nfe", "divergence", "probes", "checkpoint", "data",
                                                    "bits_per_dim_of")}
        mean_attr, se_attr, bpd = attr_float(f, "mean_nll"), attr_float(f, "se_nll"), attr_float(f, "bits_per_dim")

    if N == 0:
        die("%s: /nll is empty" % args.nll)
    fin = np.isfinite(nll)
    nbad = int(N - fin.sum())
    if nbad == N:
        die("%s: /nll has no finite values" % args.nll)
    if nbad:
        warn("/nll: %d non-finite values left out" % nbad)
    D = x.shape[1] if x is not None else None

    m, se = mean_se(nll)
    if mean_attr is not None:      # the program's own numbers (they agree unless points were non-finite)
        m = mean_attr
        se = se_attr if se_attr is not None else se
    mo, seo = mean_se(ora) if ora is not None else (np.nan, np.nan)

    plt = fmplot.pyplot()
    from matplotlib.colors import Normalize, TwoSlopeNorm

    npan = 1
    if x is not None and D == 2:
        npan = 3 if ora is not None else 2
    elif x is not None and D == 1:
        npan = 2
    widths = {1: [1.0], 2: [1.0, 1.0], 3: [1.15, 1.0, 1.0]}[npan]
    figw = {1: 7.6, 2: 12.0, 3: 17.0}[npan]
    fig, axes = plt.subplots(1, npan, figsize=(figw, 5.4), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    axes = axes[0]

    # ---- histogram ----
    ax = axes[0]
    pools = [nll] + ([ora] if ora is not None else [])
    lo, hi = fmplot.robust_range(pools, 0.5, 99.5, 0.05)
    nfin = int(fin.sum())
    nb = args.bins if args.bins > 0 else int(np.clip(np.sqrt(nfin) * 1.2, 20, 100))
    bins = np.linspace(lo, hi, nb + 1)

    def sefmt(s):
        return " \u00b1 %.2g" % s if s is not None and np.isfinite(s) else ""

    if ora is not None:
        ax.hist(ora[np.isfinite(ora)], bins=bins, histtype="stepfilled", color=ORACLE_COLOR, alpha=0.25)
        ax.hist(ora[np.isfinite(ora)], bins=bins, histtype="step", color=ORACLE_COLOR, lw=1.4,
                label="exact field (oracle)")
    ax.hist(nll[fin], bins=bins, histtype="stepfilled", color=NLL_COLOR, alpha=0.22)
    ax.hist(nll[fin], bins=bins, histtype="step", color=NLL_COLOR, lw=1.6, label="model")
    ax.axvline(m, color=NLL_COLOR, lw=2.0, ls="--", label="model mean %.4g%s nats" % (m, sefmt(se)))
    if ora is not None:
        ax.axvline(mo, color=ORACLE_COLOR, lw=2.0, ls="--",
                   label="exact mean %.4g%s nats" % (mo, sefmt(seo)))
    ax.set_xlim(lo, hi)
    # headroom above the tallest bin for the legend and the notes, which sit in the upper right
    tallest = max([np.histogram(v[np.isfinite(v)], bins=bins)[0].max(initial=0) for v in
                   ([nll] + ([ora] if ora is not None else []))])
    if tallest > 0:
        ax.set_ylim(0, 1.9 * tallest)
    ax.set_xlabel("NLL  (nats per point)")
    ax.set_ylabel("points per bin")
    ax.grid(True, alpha=0.3)
    hs, ls = ax.get_legend_handles_labels()
    first = [i for i, l in enumerate(ls) if l.startswith("model")]   # model entries first
    ordr_l = first + [i for i in range(len(ls)) if i not in first]
    ax.legend([hs[i] for i in ordr_l], [ls[i] for i in ordr_l], loc="upper right", fontsize=8.5,
              framealpha=0.9)
    outside = int(np.sum(fin & ((nll < lo) | (nll > hi))))
    notes = []
    if bpd is not None:
        notes.append("%.4g bits/dim" % bpd + ("" if meta["bits_per_dim_of"] == "?" else " (%s)" % meta["bits_per_dim_of"]))
    if ora is not None:
        d = nll - ora
        md, sed = mean_se(d)
        notes.append("model \u2212 exact: %.3g%s nats" % (md, sefmt(sed)))
    if outside:
        notes.append("%d points outside the bins" % outside)
    if notes:
        ax.text(0.99, 0.70 if ora is not None else 0.80, "\n".join(notes), transform=ax.transAxes,
                ha="right", va="top", fontsize=8.5, color="0.2",
                bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="0.8", alpha=0.9))
    ax.set_title("distribution of the NLL (%d points)" % nfin, fontsize=10)

    # ---- points ----
    rng = np.random.default_rng(0)
    if npan > 1:
        idx = np.flatnonzero(fin & np.all(np.isfinite(x), axis=1))
        if idx.size > args.max_points:
            idx = np.sort(rng.choice(idx, args.max_points, replace=False))
        cmap = fmplot.dark_cmap("viridis", 0.88)
        if D == 2:
            p = x[idx]
            xl = fmplot.robust_range([p[:, 0]], 0.25, 99.75)
            yl = fmplot.robust_range([p[:, 1]], 0.25, 99.75)
            s, a = fmplot.marker_style(idx.size, MARKER_SIZE, MARKER_ALPHA)
            clo, chi = np.percentile(nll[idx], [1, 99]) if idx.size else (0, 1)
            if chi <= clo:
                clo, chi = clo - 0.5, chi + 0.5
            ordr = np.argsort(nll[idx])          # highest NLL drawn last, on top
            axp = axes[1]
            sc = axp.scatter(p[ordr, 0], p[ordr, 1], c=nll[idx][ordr], s=s, alpha=a, cmap=cmap,
                             norm=Normalize(clo, chi), lw=0, rasterized=True)
            cb = fig.colorbar(sc, ax=axp, fraction=0.046, pad=0.03, extend="both")
            cb.set_label("model NLL (nats; 1\u201399 percentile range)")
            cb.solids.set_alpha(1)
            panels = [(axp, "points coloured by model NLL")]
            if ora is not None:
                axd = axes[2]
                d = (nll - ora)[idx]
                dfin = d[np.isfinite(d)]
                lim = float(np.percentile(np.abs(dfin), 99)) if dfin.size else 1.0
                lim = lim if lim > 0 else 1.0
                dn = TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
                o2 = np.argsort(np.abs(np.where(np.isfinite(d), d, 0)))
                sc2 = axd.scatter(p[o2, 0], p[o2, 1], c=d[o2], s=s, alpha=a, cmap="RdBu_r", norm=dn,
                                  lw=0, rasterized=True)
                cb2 = fig.colorbar(sc2, ax=axd, fraction=0.046, pad=0.03, extend="both")
                cb2.set_label("NLL model \u2212 exact (nats; red = model worse)")
                cb2.solids.set_alpha(1)
                panels.append((axd, "model \u2212 exact NLL per point"))
            for axx, ttl in panels:
                axx.set_xlim(*xl)
                axx.set_ylim(*yl)
                axx.set_aspect("equal", adjustable="box")
                axx.set_xlabel("x0")
                axx.set_ylabel("x1")
                axx.grid(True, alpha=0.25)
                out = int(np.sum((p[:, 0] < xl[0]) | (p[:, 0] > xl[1]) | (p[:, 1] < yl[0]) | (p[:, 1] > yl[1])))
                extra = []
                if idx.size < nfin:
                    extra.append("%d of %d drawn" % (idx.size, nfin))
                if out:
                    extra.append("%d outside view" % out)
                axx.set_title(ttl + ("  (%s)" % ", ".join(extra) if extra else ""), fontsize=10)
        else:   # D == 1: NLL against x
            axp = axes[1]
            p = x[idx, 0]
            s, a = fmplot.marker_style(idx.size, MARKER_SIZE, MARKER_ALPHA)
            if ora is not None:
                axp.scatter(p, ora[idx], s=s, alpha=a, color=ORACLE_COLOR, lw=0, rasterized=True,
                            label="exact field")
            axp.scatter(p, nll[idx], s=s, alpha=a, color=NLL_COLOR, lw=0, rasterized=True, label="model")
            axp.set_xlim(*fmplot.robust_range([p], 0.25, 99.75))
            axp.set_ylim(*fmplot.robust_range(pools, 0.5, 99.5, 0.05))
            axp.set_xlabel("x")
            axp.set_ylabel("NLL  (nats)")
            axp.grid(True, alpha=0.3)
            axp.legend(loc="upper center", fontsize=8.5, framealpha=0.9, markerscale=3)
            axp.set_title("NLL against x (%d points)" % idx.size, fontsize=10)

    title = "NLL: data=%s  |  solver=%s  nfe=%s  divergence=%s" % (meta["data"], meta["solver"], meta["nfe"],
                                                                  meta["divergence"])
    if meta["divergence"].lower().startswith("hutch"):
        title += " (%s probes)" % meta["probes"]
    sub = ["%s: N=%d points%s" % (os.path.basename(args.nll), N, ", D=%d" % D if D is not None else "")]
    if nbad:
        sub.append("%d non-finite NLLs left out" % nbad)
    if D is not None and D > 2:
        sub.append("D > 2: histogram only")
    if meta["checkpoint"] != "?":
        sub.append("ckpt=%s" % meta["checkpoint"])
    fig.suptitle(title + "\n" + "  \u00b7  ".join(sub), fontsize=10 if npan > 1 else 9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))

    fmplot.save(fig, args.out, args.dpi)


if __name__ == "__main__":
    main()
