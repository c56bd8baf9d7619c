#!/usr/bin/python3
"""The fmtrain U-Net rebuilt in PyTorch, checked against fmtrain on one batch.

  unet_torch.py PROBE.h5 [--tol 1e-4] [--double]

PROBE.h5 comes from `fmtrain probe --ckpt RUN`: the batch (x, t, target), fmtrain's prediction
/out, its loss and parameter gradients /grads, and the weights /params (one flat buffer) with
their tensor table (name -> offset, rows, cols), and the training configuration, which gives the
architecture. This script builds the same
network from the architecture's description (README, include/fm/unet.h) with torch.nn.functional
ops, loads the weights by name, runs forward and backward in float64, and reports per tensor the
largest difference from fmtrain's float32 values relative to the tensor's largest magnitude:

    err = max |fmtrain - torch| / max |torch|

It exits 1 if any err exceeds --tol (default 1e-4: float32 rounding through ~50 layers), 0 otherwise.
"""
import argparse
import configparser
import math
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F


def stored_config(text):
    cp = configparser.ConfigParser()
    cp.read_string("[train]\n" + text)
    return cp["train"]


class Net:
    """The U-Net of include/fm/unet.h over a dict of named tensors (fmtrain's names)."""

    def __init__(self, cfg, shape, p):
        self.C, self.H, self.W = shape
        self.ch = int(cfg["channels"])
        self.mult = [int(m) for m in cfg["mult"].split(",")]
        self.blocks = int(cfg["blocks"])
        self.groups = int(cfg["groups"])
        self.E = int(cfg["temb"])
        self.scale = float(cfg["temb-scale"])
        self.p = p

    def conv(self, x, name, stride=1):
        w = self.p[name + ".weight"]
        return F.conv2d(x, w, self.p[name + ".bias"], stride=stride, padding=w.shape[-1] // 2)

    def norm(self, x, name):
        return F.group_norm(x, self.groups, self.p[name + ".weight"], self.p[name + ".bias"], eps=1e-5)

    def lin(self, x, name):
        return F.linear(x, self.p[name + ".weight"], self.p[name + ".bias"])

    def res(self, x, s, name):
        h = self.conv(F.silu(self.norm(x, name + ".norm1")), name + ".conv1")
        h = h + self.lin(s, name + ".temb")[:, :, None, None]
        h = self.conv(F.silu(self.norm(h, name + ".norm2")), name + ".conv2")
        skip = self.conv(x, name + ".skip") if name + ".skip.weight" in self.p else x
        return skip + h

    def __call__(self, x, t):
        half = self.E // 2
        f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=x.dtype) / half)
        arg = self.scale * t[:, None] * f[None, :]
        emb = torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)
        s = F.silu(self.lin(F.silu(self.lin(emb, "temb.0")), "temb.1"))
        h = self.conv(x, "conv_in")
        skips = [h]
        L = len(self.mult)
        for l in range(L):
            for k in range(self.blocks):
                h = self.res(h, s, f"enc.{l}.{k}")
                skips.append(h)
            if l < L - 1:
                h = self.conv(h, f"down.{l}", stride=2)
                skips.append(h)
        h = self.res(h, s, "mid.0")
        h = self.res(h, s, "mid.1")
        for l in reversed(range(L)):
            for k in range(self.blocks + 1):
                h = self.res(torch.cat([h, skips.pop()], dim=1), s, f"dec.{l}.{k}")
            if l > 0:
                h = self.conv(F.interpolate(h, scale_factor=2, mode="nearest"), f"up.{l}")
        h = self.conv(F.silu(self.norm(h, "norm_out")), "conv_out")
        return h


def load_probe(path):
    """(configuration, image shape, tensor table, probe datasets) of an `fmtrain probe` file."""
    with h5py.File(path, "r") as f:
        text = f.attrs["config"]
        cfg = stored_config(text.decode() if isinstance(text, bytes) else text)
        shape = tuple(int(v) for v in f["image_shape"][...])
        names = f.attrs["tensor_names"]
        names = (names.decode() if isinstance(names, bytes) else names).split()
        table = dict(zip(names, f["tensor_table"][...].reshape(-1, 4).tolist()))
        data = {k: f[k][...] for k in ("x", "t", "target", "out", "grads", "params")}
        data["loss"] = float(f.attrs["loss"])
    if cfg["model"] != "unet":
        sys.exit(f"{path}: model is '{cfg['model']}', not unet")
    return cfg, shape, table, data


def tensors(table, params, dt):
    """fmtrain's flat buffer as named torch tensors: linear weights (NO, NI); conv weights
    (Co, Ci K K) -> (Co, Ci, K, K), K = 1 for the skips, else 3."""
    p = {}
    for name, (off, rows, cols, _decay) in table.items():
        v = torch.tensor(params[off:off + rows * cols].astype(np.float64), dtype=dt)
        if name.endswith(".weight") and (name.startswith("temb.") or ".temb." in name):
            v = v.reshape(rows, cols)
        elif name.endswith(".weight") and cols > 1:
            K = 1 if name.endswith(".skip.weight") else 3
            v = v.reshape(rows, cols // (K * K), K, K)
        p[name] = v
    return p


def load_probe_net(path, dt):
    """The probe's network with its weights, in dtype dt; and the image shape."""
    cfg, shape, table, data = load_probe(path)
    return Net(cfg, shape, tensors(table, data["params"], dt)), shape


def flops(net, B):
    """GEMM-equivalent FLOPs of one forward + backward pass for B samples, counted as fmtrain does
    (fm_unet_flops: 2 per multiply-add; forward, weight and input gradients, no input gradient
    for the layers reading x or the time embedding)."""
    f = 0.0
    for name, (co, kk, n) in conv_sizes(net).items():
        f += 2.0 * B * co * kk * n * (2 if name in ("conv_in", "temb.0") else 3)
    return f


def conv_sizes(net):
    """{layer: (outputs, inputs per output, output pixels)} of every convolution and linear layer."""
    out = {}
    L = len(net.mult)
    res = [(net.H >> l, net.W >> l) for l in range(L)]
    for name, v in net.p.items():
        if not name.endswith(".weight") or v.dim() < 2:
            continue
        layer = name[:-len(".weight")]
        if v.dim() == 2:
            out[layer] = (v.shape[0], v.shape[1], 1)
            continue
        part = layer.split(".")
        if part[0] in ("conv_in", "conv_out"):
            l = 0
        elif part[0] in ("enc", "dec"):
            l = int(part[1])
        elif part[0] == "down":
            l = int(part[1]) + 1
        elif part[0] == "up":
            l = int(part[1]) - 1
        else:  # mid
            l = L - 1
        h, w = res[l]
        out[layer] = (v.shape[0], v.shape[1] * v.shape[2] * v.shape[3], h * w)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("probe")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg, shape, table, d = load_probe(a.probe)
    x, t, target, out_fm, grads_fm, loss_fm = d["x"], d["t"], d["target"], d["out"], d["grads"], d["loss"]
    dt = torch.float64
    p = tensors(table, d["params"], dt)
    for v in p.values():
        v.requires_grad_(True)
    net = Net(cfg, shape, p)
    n = x.shape[0]
    xt = torch.tensor(x.astype(np.float64), dtype=dt).reshape(n, *shape)
    tt = torch.tensor(t.astype(np.float64), dtype=dt)
    out = net(xt, tt)
    tg = torch.tensor(target.astype(np.float64), dtype=dt).reshape(out.shape)
    loss = ((out - tg) ** 2).mean()
    loss.backward()
    worst = 0.0
    failed = []

    def rel(a_fm, a_t):
        return float(np.max(np.abs(a_fm - a_t)) / max(np.max(np.abs(a_t)), 1e-30))

    e_out = rel(out_fm.reshape(-1), out.detach().numpy().reshape(-1))
    e_loss = abs(loss_fm - float(loss)) / abs(float(loss))
    print(f"output ({n} x {'x'.join(map(str, shape))}): max |fmtrain - torch| / max |torch| = {e_out:.2e}")
    print(f"loss: fmtrain {loss_fm:.8g}, torch {float(loss):.8g}, relative difference {e_loss:.2e}")
    if e_out > a.tol or e_loss > a.tol:
        failed.append("output/loss")
    for name, (off, rows, cols, _decay) in sorted(table.items(), key=lambda kv: kv[1][0]):
        g_t = p[name].grad.detach().numpy().reshape(-1)
        e = rel(grads_fm[off:off + rows * cols], g_t)
        worst = max(worst, e)
        print(f"  grad {name:24s} ({rows} x {cols}): {e:.2e}")
        if e > a.tol:
            failed.append(name)
    print(f"RESULT unet_torch: {len(table)} gradient tensors, worst relative difference {worst:.2e}, output {e_out:.2e}"
          f" (tolerance {a.tol:g}); {len(failed)} over")
    if failed:
        print("over tolerance: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
