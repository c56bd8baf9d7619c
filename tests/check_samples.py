#!/usr/bin/python3
"""Sample-quality checks used by the learning tests.

twopoint: fraction of samples within 0.3 of +-2 and the share of the +2 mode.
2-D sets: the energy distance stored by `fmtrain sample` next to that of pure N(0, I)
noise against the same held-out reference (computed here with numpy, the same U-statistic).
Prints one RESULT line; exits 1 when a bound is missed.
"""
import argparse
import sys

import h5py
import numpy as np


def energy_distance(x, y):
    """The same unbiased U-statistic as fmtrain's (pairs i != j within a set)."""
    def mean_dist(a, b, same):
        d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
        return d.sum() / (len(a) * (len(a) - 1)) if same else d.mean()
    return 2 * mean_dist(x, y, False) - mean_dist(x, x, True) - mean_dist(y, y, True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("samples")
    ap.add_argument("--label", default="")
    ap.add_argument("--min-near", type=float, default=0.90)
    ap.add_argument("--balance-tol", type=float, default=0.05)
    ap.add_argument("--max-ed", type=float, default=None, help="bound on the energy distance (2-D)")
    a = ap.parse_args()
    with h5py.File(a.samples, "r") as f:
        s = f["samples"][()].astype(np.float64)
        data = f.attrs["data"]
        data = data.decode() if isinstance(data, bytes) else str(data)
        ref = f["reference"][()].astype(np.float64) if "reference" in f else None
        ed = float(f.attrs["energy_distance"]) if "energy_distance" in f.attrs else None
    if data == "twopoint":
        x = s[:, 0]
        near = np.mean(np.minimum(np.abs(x - 2), np.abs(x + 2)) < 0.3)
        plus = np.mean(x > 0)
        ok = near >= a.min_near and abs(plus - 0.5) <= a.balance_tol
        print(f"RESULT {a.label} twopoint: {100 * near:.1f}% within 0.3 of +-2 (need >= {100 * a.min_near:.0f}%), "
              f"+2 mode {100 * plus:.1f}% (need 50 +- {100 * a.balance_tol:.0f}%) -> {'ok' if ok else 'FAIL'}")
    else:
        rng = np.random.default_rng(0)
        noise = rng.standard_normal((min(len(s), 2000), s.shape[1]))
        ed_noise = energy_distance(noise, ref)
        ok = ed is not None and ed <= a.max_ed
        print(f"RESULT {a.label} {data}: energy distance {ed:.5f} (bound {a.max_ed}); "
              f"N(0,I) noise: {ed_noise:.5f} -> {'ok' if ok else 'FAIL'}")
        ok = ok and ed_noise > 10 * a.max_ed  # the bound must be one that noise misses widely
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
