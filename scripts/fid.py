#!/usr/bin/python3
"""fid.py - Frechet distance of Fashion-MNIST samples in the feature space of a small classifier,
and a grid of the samples: compare checkpoints offline.

  scripts/fid.py SAMPLES.h5 [SAMPLES.h5 ...] [--grid grid.png] [--json out.json]

Each SAMPLES.h5 is an `fmtrain sample` output of a model trained on Fashion-MNIST (/samples N x 784
in [-1, 1], /image_shape = [1, 28, 28]). The features are the 128 activations before the last
layer of a small convolutional classifier (conv 3x3 32, ReLU, max-pool 2; conv 3x3 64, ReLU,
max-pool 2; linear 1600 -> 128, ReLU; linear 128 -> 10), trained here once with PyTorch on the
60,000 training images (3 epochs, Adam, seed 0) and cached with its test accuracy in
--cache (default data/fashion-mnist-classifier.pt); the cache is rebuilt when the training file
changes (size and modification time). The reference statistics are those of the 10,000 test
images (x / 127.5 - 1, as fmtrain scales them):

    FD = |mu_s - mu_r|^2 + tr(S_s + S_r - 2 (S_s S_r)^(1/2))

Samples are clipped to the pixel range [-1, 1] first (non-finite values to -1, and counted), as
they are when shown as images. The Frechet distance is biased upwards for small N, so for each file the script also reports the
FD of N training images against the test set (the value a perfect model would reach at this N),
and the share of each of the 10 classes among the samples as the classifier sees them.
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmplot  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]


def die(msg):
    print("fid.py: error: " + msg, file=sys.stderr)
    sys.exit(2)


def load_images(path):
    """(images N x 1 x 28 x 28 float32 in [-1, 1], labels) of a data set file."""
    try:
        with h5py.File(path, "r") as f:
            x = f["images"][...]
            y = f["labels"][...] if "labels" in f else None
    except (OSError, KeyError) as e:
        die(f"cannot read the images of '{path}': {e} (make data writes data/fashion-mnist-*.h5)")
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        die(f"'{path}': /images has shape {x.shape}, expected N x 1 x 28 x 28 (Fashion-MNIST)")
    return x.astype(np.float32) / 127.5 - 1.0, y


def make_net(torch):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 32, 3)
            self.c2 = nn.Conv2d(32, 64, 3)
            self.f1 = nn.Linear(64 * 5 * 5, 128)
            self.f2 = nn.Linear(128, 10)

        def features(self, x):
            F = torch.nn.functional
            x = F.max_pool2d(F.relu(self.c1(x)), 2)
            x = F.max_pool2d(F.relu(self.c2(x)), 2)
            return F.relu(self.f1(x.flatten(1)))

        def forward(self, x):
            return self.f2(self.features(x))

    return Net()


def batched(fn, x, torch, bs=1000):
    with torch.no_grad():
        return np.concatenate([fn(torch.from_numpy(x[i:i + bs])).numpy() for i in range(0, len(x), bs)])


def classifier(args, torch):
    """The cached classifier (trained now if the cache is missing or stale) and its test accuracy."""
    st = os.stat(args.train)
    stamp = f"{st.st_size}:{int(st.st_mtime)}"
    net = make_net(torch)
    if os.path.exists(args.cache):
        c = torch.load(args.cache)
        if c.get("stamp") == stamp:
            net.load_state_dict(c["state"])
            return net.eval(), c["accuracy"], True
    x, y = load_images(args.train)
    xt, yt = load_images(args.test)
    if y is None or yt is None:
        die("the classifier needs /labels in the training and test files")
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    X, Y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    for epoch in range(3):
        perm = torch.from_numpy(rng.permutation(len(x)))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(X[idx]), Y[idx]).backward()
            opt.step()
    net.eval()
    acc = float((batched(net, xt, torch).argmax(1) == yt).mean())
    os.makedirs(os.path.dirname(os.path.abspath(args.cache)), exist_ok=True)
    torch.save({"state": net.state_dict(), "accuracy": acc, "stamp": stamp}, args.cache + ".tmp")
    os.replace(args.cache + ".tmp", args.cache)
    return net, acc, False


def stats(f):
    return f.mean(0), np.cov(f, rowvar=False)


def sqrtm_psd(a):
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet(m1, s1, m2, s2):
    """|m1 - m2|^2 + tr(s1 + s2 - 2 (s1 s2)^(1/2)); tr (s1 s2)^(1/2) = tr (r s2 r)^(1/2), r = s1^(1/2)."""
    r = sqrtm_psd(s1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(r @ s2 @ r), 0, None)).sum()
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * cross)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("samples", nargs="+", help="fmtrain sample outputs (/samples N x 784)")
    ap.add_argument("--train", default=os.path.join(ROOT, "data", "fashion-mnist-train.h5"))
    ap.add_argument("--test", default=os.path.join(ROOT, "data", "fashion-mnist-test.h5"))
    ap.add_argument("--cache", default=os.path.join(ROOT, "data", "fashion-mnist-classifier.pt"))
    ap.add_argument("--grid", help="PNG: an 8 x 8 grid of the first file's samples")
    ap.add_argument("--grid-n", type=int, default=64)
    ap.add_argument("--json", help="write the figures to this JSON file")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        die("needs python3-torch (apt-get install python3-torch)")
    torch.set_num_threads(args.threads)
    net, acc, cached = classifier(args, torch)
    print(f"classifier: test accuracy {100 * acc:.2f} % ({'cached in' if cached else 'trained, cached in'} {args.cache})")
    xt, _ = load_images(args.test)
    mr, sr = stats(batched(net.features, xt, torch))
    xtr, _ = load_images(args.train)
    results = []
    for path in args.samples:
        try:
            with h5py.File(path, "r") as f:
                s = f["samples"][...].astype(np.float32)
                shape = fmplot.image_shape(f, path, s.shape[1]) if s.ndim == 2 else None
        except (OSError, KeyError) as e:
            die(f"cannot read /samples of '{path}': {e}")
        if shape != (1, 28, 28):
            die(f"'{path}': the samples are not 1 x 28 x 28 images (image_shape {shape})")
        bad = int((~np.isfinite(s)).any(1).sum())
        outside = float(np.mean(~(np.abs(s) <= 1)))
        # as images are shown and stored: clipped to the pixel range [-1, 1] (NaN as -1)
        s = np.clip(np.nan_to_num(s, nan=-1.0, posinf=1.0, neginf=-1.0), -1, 1).reshape(-1, 1, 28, 28)
        n = len(s)
        if n < 2:
            die(f"'{path}': {n} samples; the Frechet distance needs at least 2 (use a few thousand)")
        fs = batched(net.features, s, torch)
        fd = frechet(*stats(fs), mr, sr)
        floor = frechet(*stats(batched(net.features, xtr[np.random.default_rng(1).permutation(len(xtr))[:n]], torch)),
                        mr, sr)
        cls = np.bincount(batched(net, s, torch).argmax(1), minlength=10) / n
        print(f"{path}: {n} samples: FD {fd:.3f} (N training images: {floor:.3f}); values outside [-1, 1]: "
              f"{100 * outside:.1f} %" + (f"; {bad} samples with non-finite values" if bad else ""))
        print("  classes: " + ", ".join(f"{c} {100 * p:.0f}%" for c, p in zip(CLASSES, cls)))
        results.append({"file": path, "n": n, "fd": fd, "fd_train_same_n": floor, "class_share": cls.tolist(),
                         "outside": outside, "nonfinite": bad})
    if args.grid:
        with h5py.File(args.samples[0], "r") as f:
            s = f["samples"][: args.grid_n]
        pix, _ = fmplot.image_pixels(s, (1, 28, 28))
        rows, cols = fmplot.grid_dims(len(pix))
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(6, 6.4))
        plt.imshow(fmplot.mosaic(pix, rows, cols, fmplot.tile_pad(28, 28)), interpolation="nearest")
        plt.axis("off")
        plt.title(f"{os.path.basename(args.samples[0])}: FD {results[0]['fd']:.2f} (N = {results[0]['n']})", fontsize=10)
        fig.savefig(args.grid, dpi=120, bbox_inches="tight")
        print(f"wrote {args.grid}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"classifier_accuracy": acc, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
