#!/usr/bin/python3
"""Plot an fmtrain training log (log.h5).

Top panel: loss vs step (log-y), raw values faint with a moving average on top.
Bottom panel: gradient norm (left axis, log-y) and learning rate (right axis)
vs step.  The title comes from the data/objective/path root attributes.

Run with Debian's interpreter:  /usr/bin/python3 scripts/plot_loss.py log.h5 -o loss.png
"""
import os

import numpy as np

import fmplot
from fmplot import die, warn


def moving_average(y, w):
    """Centred moving average of width w, same length as y; shrinks at the edges
    and ignores non-finite values."""
    y = np.asarray(y, dtype=np.float64)
    if w <= 1 or y.size < 3:
        return y.copy()
    ok = np.isfinite(y)
    yz = np.where(ok, y, 0.0)
    h = w // 2
    c = np.concatenate([[0.0], np.cumsum(yz)])
    k = np.concatenate([[0], np.cumsum(ok)])
    i = np.arange(y.size)
    lo = np.clip(i - h, 0, y.size)
    hi = np.clip(i + h + 1, 0, y.size)
    cnt = k[hi] - k[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (c[hi] - c[lo]) / cnt
    out[cnt == 0] = np.nan
    return out


def fmt_duration(s):
    s = float(s)
    if s < 120:
        return "%.1f s" % s
    if s < 7200:
        return "%.1f min" % (s / 60)
    return "%.2f h" % (s / 3600)


def nice_log_ticks(ax, lim, crowd=1.0):
    """Readable tick labels on a log y axis spanning only a few decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    if not lim:
        return
    dec = crowd * np.log10(lim[1] / lim[0])  # crowd > 1: fewer ticks (short axes)
    if dec < 0.7:
        subs = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
    elif dec < 1.5:
        subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    elif dec < 3.0:
        subs = (1.0, 2.0, 5.0)
    else:
        return
    ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=subs, numticks=30))
    ax.yaxis.set_minor_locator(LogLocator(base=10.0, subs=np.arange(1.0, 10.0), numticks=30))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % float("%.3g" % v)))
    ax.yaxis.set_minor_formatter(NullFormatter())


def main():
    ap = fmplot.argparser(
        "Plot loss, learning rate and gradient norm from an fmtrain training log (log.h5).",
        "log", "LOG.h5", "training log written by fmtrain", "loss.png")
    ap.add_argument("-w", "--window", type=int, default=0,
                    help="moving-average width in log entries (default: ~2%% of the run, at least 5)")
    ap.add_argument("--linear", action="store_true", help="linear instead of log y axis for the loss")
    args = fmplot.parse_args(ap)

    with fmplot.open_h5(args.log) as f:
        fmplot.require(f, args.log, ("step", "loss"), "is this a training log?")
        d = {}
        for name in ("step", "loss", "lr", "grad_norm", "samples_per_s", "time"):
            if name in f:
                a = np.asarray(f[name][()]).ravel()
                d[name] = a.astype(np.float64)
            elif name in ("lr", "grad_norm"):
                warn("%s: no /%s dataset, not plotted" % (args.log, name))
        title_bits = [fmplot.attr_str(f, k) for k in ("data", "objective", "path")]

    n = min(a.size for a in d.values())
    if any(a.size != n for a in d.values()):
        warn("datasets have different lengths, truncating to %d entries" % n)
    d = {k: v[:n] for k, v in d.items()}
    if n == 0:
        die("%s: the log is empty" % args.log)

    step, loss = d["step"], d["loss"]
    order = np.argsort(step, kind="stable")
    d = {k: v[order] for k, v in d.items()}
    step, loss = d["step"], d["loss"]

    w = args.window if args.window > 0 else max(5, n // 50)
    w = min(w, max(1, n))
    loss_s = moving_average(loss, w)

    plt = fmplot.pyplot()

    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(9, 6.6),
                                   gridspec_kw={"height_ratios": [2.2, 1.3]})

    # ---- loss -------------------------------------------------------------
    use_log = not args.linear and np.any(np.isfinite(loss) & (loss > 0))
    if not args.linear and not use_log:
        warn("loss has no positive values, using a linear y axis")
    if use_log and np.any(np.isfinite(loss) & (loss <= 0)):
        warn("non-positive loss values are not shown on the log axis")
    ax1.plot(step, loss, color="tab:blue", alpha=0.25, lw=0.7, label="loss (raw)")
    ax1.plot(step, loss_s, color="tab:blue", lw=1.8, label="moving average (w=%d)" % w)
    if use_log:
        ax1.set_yscale("log")
        lim = fmplot.log_limits(loss, loss_s)
        if lim:
            ax1.set_ylim(*lim)
            nice_log_ticks(ax1, lim)
    else:
        v = np.concatenate([loss[np.isfinite(loss)], loss_s[np.isfinite(loss_s)]])
        if v.size:
            lo, hi = np.percentile(v, [0.5, 99.5])
            pad = 0.05 * (hi - lo if hi > lo else abs(hi) + 1)
            ax1.set_ylim(lo - pad, hi + pad)
    ax1.set_ylabel("loss")
    ax1.grid(True, which="major", alpha=0.35)
    ax1.grid(True, which="minor", alpha=0.12)
    ax1.legend(loc="upper right", fontsize=9, framealpha=0.85)

    fin = loss_s[np.isfinite(loss_s)]
    info = [os.path.basename(args.log), "%d entries, last step %d" % (n, int(step[-1]))]
    if fin.size:
        info.append("final loss (avg) %.4g, min %.4g" % (fin[-1], np.nanmin(fin)))
    if "time" in d and np.isfinite(d["time"][-1]):
        # /time counts from each process's start, so it restarts at a resume: add up the segments
        t = d["time"][np.isfinite(d["time"])]
        ends = np.append(np.flatnonzero(np.diff(t) < 0), t.size - 1)
        info.append("wall %s%s" % (fmt_duration(float(t[ends].sum())),
                                    " in %d runs" % ends.size if ends.size > 1 else ""))
    if "samples_per_s" in d:
        sps = d["samples_per_s"][np.isfinite(d["samples_per_s"])]
        if sps.size:
            info.append("median %.0f samples/s" % np.median(sps))

    # ---- grad norm (left) and lr (right) ------------------------------------
    handles = []
    if "grad_norm" in d:
        g = d["grad_norm"]
        gs = moving_average(g, w)
        c = "tab:red"
        ax2.plot(step, g, color=c, alpha=0.2, lw=0.6)
        handles += ax2.plot(step, gs, color=c, lw=1.5, label="grad norm (avg)")
        if np.any(np.isfinite(g) & (g > 0)):
            ax2.set_yscale("log")
            lim = fmplot.log_limits(g, gs)
            if lim:
                ax2.set_ylim(*lim)
                nice_log_ticks(ax2, lim, crowd=1.7)
        ax2.set_ylabel("grad norm", color=c)
        ax2.tick_params(axis="y", which="both", colors=c)
    else:
        ax2.set_yticks([])
    ax2.grid(True, alpha=0.35)
    if "lr" in d:
        ax3 = ax2.twinx()
        c = "tab:green"
        handles += ax3.plot(step, d["lr"], color=c, lw=1.6, label="learning rate")
        lr = d["lr"][np.isfinite(d["lr"])]
        if lr.size:
            hi = lr.max()
            ax3.set_ylim(min(0.0, lr.min()), hi * 1.08 if hi > 0 else 1.0)
        ax3.set_ylabel("learning rate", color=c)
        ax3.tick_params(axis="y", colors=c)
        ax3.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    if handles:
        ax2.legend(handles=handles, loc="upper right", fontsize=9, framealpha=0.85)
    else:
        ax2.text(0.5, 0.5, "no /lr or /grad_norm in this log", transform=ax2.transAxes,
                 ha="center", va="center", color="0.4")
    ax2.set_xlabel("step")
    ax2.set_xlim(step[0], step[-1] if step[-1] > step[0] else step[0] + 1)

    fig.suptitle("training: data=%s  objective=%s  path=%s" % tuple(title_bits), fontsize=12)
    ax1.set_title("  \u00b7  ".join(info), fontsize=9, color="0.3")
    fig.tight_layout()
    fmplot.save(fig, args.out, args.dpi)


if __name__ == "__main__":
    main()
