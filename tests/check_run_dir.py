#!/usr/bin/python3
"""Checks a training output directory after a crash: every complete checkpoint is whole.

    check_run_dir.py DIR [--same-as REF]

For every ckpt-SSSSSSSS.h5 (the .tmp files are incomplete by definition and ignored):
it opens, is an fmtrain checkpoint whose `step` matches its name, and holds params, adam_m,
adam_v and ema of `param_count` finite float32 values. latest.h5, if present, must point to
the newest of them (or the one before: a crash between committing a checkpoint and replacing the
link), and log.h5, if present, must be readable with columns of equal length.
With --same-as, the newest checkpoints of DIR and REF must also be at the same step and
hold bit-identical params, adam_m, adam_v and ema, and the logs the same step, loss, lr and
grad_norm columns (a resumed run's log has no gap and no repeated rows).
Prints one line ("ok: ..." or "CORRUPT: ..." / "DIFFERENT: ...") and exits 0 or 1.
"""
import glob
import os
import re
import sys

import h5py
import numpy as np


def check(d):
    ckpts = sorted(glob.glob(os.path.join(d, "ckpt-*.h5")))
    steps = []
    for p in ckpts:
        m = re.fullmatch(r"ckpt-(\d{8})\.h5", os.path.basename(p))
        if not m:
            return f"unexpected file name {p}"
        try:
            with h5py.File(p, "r") as f:
                if f.attrs["format"] != "fmtrain-checkpoint" and f.attrs["format"] != b"fmtrain-checkpoint":
                    return f"{p}: format attribute {f.attrs['format']!r}"
                if int(f.attrs["step"]) != int(m.group(1)):
                    return f"{p}: step attribute {int(f.attrs['step'])} does not match the name"
                n = int(f.attrs["param_count"])
                for name in ("params", "adam_m", "adam_v", "ema"):
                    a = f[name][...]
                    if a.dtype != np.float32 or a.shape != (n,):
                        return f"{p}: /{name} has dtype {a.dtype} shape {a.shape}, expected float32 ({n},)"
                    if not np.all(np.isfinite(a)):
                        return f"{p}: /{name} holds non-finite values"
        except Exception as e:  # a damaged file: anything h5py raises
            return f"{p}: unreadable ({type(e).__name__}: {e})"
        steps.append(int(m.group(1)))
    latest = os.path.join(d, "latest.h5")
    if os.path.lexists(latest):
        if not ckpts:
            return "latest.h5 exists but there is no checkpoint"
        # the link is replaced just after a checkpoint is committed (renamed into place): a crash
        # in between leaves it on the one before, which is complete too; readers that need the
        # newest (--resume, sample) scan the directory, and a resumed run repairs the link
        target = os.path.realpath(latest)
        ok = [os.path.realpath(p) for p in ckpts[-2:]]
        if target not in ok:
            return f"latest.h5 points to {target}, the newest checkpoints are {ckpts[-2:]}"
    log = os.path.join(d, "log.h5")
    if os.path.exists(log):
        try:
            with h5py.File(log, "r") as f:
                lens = {f[c].shape[0] for c in ("step", "loss", "lr", "grad_norm", "samples_per_s", "time")}
                if len(lens) != 1:
                    return f"{log}: columns of different lengths {sorted(lens)}"
        except Exception as e:
            return f"{log}: unreadable ({type(e).__name__}: {e})"
    tmps = len(glob.glob(os.path.join(d, "*.tmp")))
    newest = steps[-1] if steps else 0
    print(f"ok: {len(ckpts)} checkpoints, newest step {newest}, {tmps} incomplete .tmp files")
    return None


def same(d, ref):
    a, b = (sorted(glob.glob(os.path.join(x, "ckpt-*.h5")))[-1] for x in (d, ref))
    if os.path.basename(a) != os.path.basename(b):
        return f"newest checkpoints differ in step: {a} vs {b}"
    with h5py.File(a, "r") as f, h5py.File(b, "r") as g:
        for name in ("params", "adam_m", "adam_v", "ema"):
            if not np.array_equal(f[name][...], g[name][...]):
                return f"/{name} of {a} differs from {b}"
    la, lb = (os.path.join(x, "log.h5") for x in (d, ref))
    with h5py.File(la, "r") as f, h5py.File(lb, "r") as g:
        for name in ("step", "loss", "lr", "grad_norm"):
            if not np.array_equal(f[name][...], g[name][...], equal_nan=True):
                return f"column {name} of {la} differs from {lb}"
    print(f"same: {a} is bit-identical to {b}, and the logs agree")
    return None


if __name__ == "__main__":
    problem = check(sys.argv[1])
    if problem:
        print("CORRUPT:", problem)
        sys.exit(1)
    if len(sys.argv) == 4 and sys.argv[2] == "--same-as":
        problem = same(sys.argv[1], sys.argv[3])
        if problem:
            print("DIFFERENT:", problem)
            sys.exit(1)
