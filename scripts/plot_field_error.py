#!/usr/bin/python3
"""Plot the field error per time bin from an fmtrain field-error file (`fmtrain fielderr`).

Top panel (log y): the mean squared error of the model field against the exact marginal field,
err = E ||u_theta(x, t) - u_t(x)||^2 / D over x ~ p_t, as a step line over the t bins with a
+-1 standard-error band and error bars, and the scale of the exact field, ref = E ||u_t(x)||^2 / D,
as a dashed step line on the same axes.
Bottom panel (log y): the relative error err / ref (+- s.e. / ref); 1 is the error of the zero field.
/err_se, /ref and /count are optional (the parts that need them are left out, with a warning).

Run with Debian's interpreter:  /usr/bin/python3 scripts/plot_field_error.py fielderr.h5 -o err.png
"""
import os

import numpy as np

import fmplot
from fmplot import die, warn

ERR_COLOR = "tab:blue"
REF_COLOR = "0.2"
REL_COLOR = "tab:red"
# log-axis limits (fmplot.log_limits): all positive finite values (few bins), a little margin
LOG_LIMITS = dict(pct=None, margin=0.06, flat=1.0001)


def steps(lo, hi, y):
    """x, y of a step line through the bins [lo_i, hi_i] (NaN breaks between non-adjacent bins
    and at non-finite or non-positive values)."""
    xs, ys = [], []
    for i in range(len(y)):
        yi = y[i] if np.isfinite(y[i]) and y[i] > 0 else np.nan
        if i > 0 and abs(lo[i] - hi[i - 1]) > 1e-9 * max(1.0, abs(lo[i])):
            xs.append(np.nan)
            ys.append(np.nan)
        xs += [lo[i], hi[i]]
        ys += [yi, yi]
    return np.array(xs), np.array(ys)


def main():
    ap = fmplot.argparser(
        "Plot the model-vs-exact field error per t bin (and its scale and relative size) "
        "from an fmtrain field-error file.",
        "fielderr", "ERR.h5", "field-error file written by `fmtrain fielderr`", "err.png")
    args = fmplot.parse_args(ap)

    with fmplot.open_h5(args.fielderr) as f:
        fmplot.require(f, args.fielderr, ("t_lo", "t_hi", "err"),
                       "is this a field-error file from `fmtrain fielderr`?")
        t_lo = np.asarray(f["t_lo"][()], dtype=np.float64).ravel()
        t_hi = np.asarray(f["t_hi"][()], dtype=np.float64).ravel()
        err = np.asarray(f["err"][()], dtype=np.float64).ravel()
        K = err.size
        opt = {}
        for name in ("err_se", "ref", "count"):
            if name not in f:
                warn("no /%s dataset; left out of the plot" % name)
                opt[name] = None
                continue
            a = np.asarray(f[name][()], dtype=np.float64).ravel()
            if a.size != K:
                warn("/%s has %d entries but /err has %d; ignored" % (name, a.size, K))
                a = None
            opt[name] = a
        meta = {n: fmplot.attr_str(f, n) for n in ("checkpoint", "objective", "path", "data", "n_data", "weights")}

    if K == 0:
        die("%s: /err is empty" % args.fielderr)
    if t_lo.size != K or t_hi.size != K:
        die("/t_lo, /t_hi and /err have %d, %d and %d entries (expected the same K)" % (t_lo.size, t_hi.size, K))
    order = np.argsort(t_lo, kind="stable")
    t_lo, t_hi, err = t_lo[order], t_hi[order], err[order]
    se, ref, count = [opt[n][order] if opt[n] is not None else None for n in ("err_se", "ref", "count")]
    tc = 0.5 * (t_lo + t_hi)
    good = np.isfinite(err) & (err > 0)
    if count is not None:
        good &= count > 0
    if not np.any(good):
        die("%s: no bin has a finite positive error" % args.fielderr)
    nskip = int(K - good.sum())
    errg = np.where(good, err, np.nan)

    plt = fmplot.pyplot()

    has_rel = ref is not None and np.any(np.isfinite(ref) & (ref > 0))
    if has_rel:
        fig, (ax, axr) = plt.subplots(2, 1, sharex=True, figsize=(9, 7.2),
                                      gridspec_kw={"height_ratios": [3, 2], "hspace": 0.08})
    else:
        fig, ax = plt.subplots(figsize=(9, 4.9))
        axr = None

    # overall (sample-weighted) means for the legend
    wts = count if count is not None else np.ones(K)

    def wmean(y):
        ok = good & np.isfinite(y)
        return float(np.sum(y[ok] * wts[ok]) / np.sum(wts[ok])) if np.any(ok) and np.sum(wts[ok]) > 0 else np.nan

    m_err = wmean(err)
    xs, ys = steps(t_lo, t_hi, errg)
    if se is not None:
        sef = np.where(np.isfinite(se), se, 0.0)
        lo_band = np.maximum(errg - sef, errg * 1e-3)
        for i in np.flatnonzero(good):
            ax.fill_between([t_lo[i], t_hi[i]], lo_band[i], errg[i] + sef[i], color=ERR_COLOR, alpha=0.2,
                            lw=0, zorder=1)
        ax.errorbar(tc[good], errg[good], yerr=[errg[good] - lo_band[good], sef[good]], fmt="o", ms=3.2,
                    color=ERR_COLOR, ecolor=ERR_COLOR, elinewidth=1.0, capsize=2.5, zorder=3)
    ax.plot(xs, ys, color=ERR_COLOR, lw=1.8, zorder=2,
            label="model error  E\u2016u\u03b8 \u2212 u_t\u2016\u00b2/D%s   (mean %.3g)"
                  % ("  \u00b1 1 s.e." if se is not None else "", m_err))
    lims = [errg, errg + (np.where(np.isfinite(se), se, 0) if se is not None else 0)]
    if ref is not None:
        refp = np.where(np.isfinite(ref) & (ref > 0), ref, np.nan)
        xr, yr = steps(t_lo, t_hi, refp)
        ax.plot(xr, yr, color=REF_COLOR, lw=1.5, ls="--", zorder=2,
                label="exact-field scale  E\u2016u_t\u2016\u00b2/D   (mean %.3g)" % wmean(ref))
        lims.append(refp)
    yl = fmplot.log_limits(*lims, **LOG_LIMITS)
    ax.set_yscale("log")
    if yl:
        ax.set_ylim(*yl)
    ax.set_ylabel("mean squared error per dimension")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    ax.legend(loc="upper left", fontsize=9, framealpha=0.9)

    if axr is not None:
        rel = errg / refp
        xs2, ys2 = steps(t_lo, t_hi, rel)
        m_rel = m_err / wmean(ref) if np.isfinite(wmean(ref)) and wmean(ref) > 0 else np.nan
        axr.plot(xs2, ys2, color=REL_COLOR, lw=1.8, zorder=2,
                 label="relative error  err / ref   (overall %.3g)" % m_rel)
        okr = np.isfinite(rel) & (rel > 0)
        rlims = [rel]
        if se is not None:
            rse = sef / refp
            rlo = np.maximum(rel - rse, rel * 1e-3)
            axr.errorbar(tc[okr], rel[okr], yerr=[rel[okr] - rlo[okr], rse[okr]], fmt="o", ms=3.2,
                         color=REL_COLOR, elinewidth=1.0, capsize=2.5, zorder=3)
            rlims.append(rel + rse)
        axr.set_yscale("log")
        ryl = fmplot.log_limits(*rlims, **LOG_LIMITS)
        if ryl:
            lo, hi = ryl
            if hi > 0.5:                 # show the zero-field line when the error comes near it
                hi = max(hi, 1.5)
            axr.set_ylim(lo, hi)
            if hi >= 1.0:
                axr.axhline(1.0, color="0.3", lw=1.0, ls=":", zorder=1,
                            label="1 = error of the zero field")
        axr.set_ylabel("err / ref")
        axr.grid(True, which="major", alpha=0.35)
        axr.grid(True, which="minor", alpha=0.12)
        axr.legend(loc="upper left", fontsize=9, framealpha=0.9)
        bottom_ax = axr
    else:
        bottom_ax = ax
    bottom_ax.set_xlim(0.0, 1.0)
    bottom_ax.set_xlabel("t   (0 = noise, 1 = data)")

    title = "field error: data=%s  objective=%s  path=%s  |  exact field of n_data=%s points, weights=%s" % (
        meta["data"], meta["objective"], meta["path"], meta["n_data"], meta["weights"])
    sub = ["%s: %d t bins" % (os.path.basename(args.fielderr), K)]
    if count is not None:
        sub.append("%d samples (%d\u2013%d per bin)" % (int(np.sum(count)), int(np.min(count)), int(np.max(count))))
    if nskip:
        sub.append("%d empty/non-finite bins skipped" % nskip)
    if meta["checkpoint"] != "?":
        sub.append("ckpt=%s" % meta["checkpoint"])
    fig.suptitle(title + "\n" + "  \u00b7  ".join(sub), fontsize=9.5)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9 if axr is not None else 0.86, bottom=0.08 if axr is not None else 0.12)

    fmplot.save(fig, args.out, args.dpi)


if __name__ == "__main__":
    main()
