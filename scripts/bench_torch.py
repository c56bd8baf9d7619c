#!/usr/bin/python3
"""bench_torch.py - the PyTorch peer of fmtrain's benchmark (`make bench` puts both in one table).

It builds fmtrain's network and training step in eager PyTorch (written for PyTorch 1.13 on CPU,
which has no torch.compile) and measures training steps/s, sampling network evaluations/s and
memory, on one process with --threads intra-op threads.

Model (fmtrain's MLP, include/fm/model.h): input [x (D), emb(t) (E)] with
  emb(t) = [sin(s t f_k), k < E/2 ; cos(s t f_k), k < E/2],  f_k = 10000^(-k/(E/2)),  s = 50;
  fc0 Linear(D+E, H), SiLU, (L-1) x [Linear(H, H), SiLU], Linear(H, D).
Step (condot path, velocity objective, as src/train.c with its defaults):
  z ~ data (B, D), eps ~ N(0, I), t ~ U(0, 1); x = t z + (1 - t) eps; target = z - eps;
  loss = mean over B*D of (net(x, t) - target)^2; backward; clip the global gradient norm to 1;
  AdamW(lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay) - run as torch.optim.Adam, which is
  the same update when the decay is 0 (1.13's AdamW still multiplies every parameter by 1 - lr * 0);
  EMA  ema = d ema + (1 - d) param,  d = min(0.999, (1 + step) / (10 + step)), steps counted from 1.
Data: D = 2: the 'moons' set drawn on the fly each step (fmtrain's formula, data/README.md);
  D = 784: a (N, 784) float32 tensor in memory, Fashion-MNIST from data/fashion-mnist-train.h5
  (x/127.5 - 1) when that file and h5py exist, else 60000 uniform [-1, 1] rows; rows drawn at
  random each step. Other D: standard normal rows (60000 x D) in memory.

Fast paths of PyTorch 1.13 used: multi-tensor (torch._foreach_*) gradient clipping and EMA. For the
optimizer (--adam-foreach auto), models of up to 1M parameters time the multi-tensor (foreach=True)
and the per-tensor implementations against each other during the warm-up (alternating, same state)
and keep the faster; larger ones use the per-tensor loop: on CPU, foreach's whole-model temporaries
cost memory bandwidth and peak memory (measured at 3.7M parameters: 19 vs 14 ms per step, +20 MB),
while on small models, where call overhead dominates, it is often the faster.

Timing: >= 20 warm-up steps (including that comparison), a short calibration (median step time),
then --intervals (>= 5) intervals of equal step counts sized so that they take about --seconds
together; steps/s is the median over the intervals (min and max reported too).
Sampling: Euler from t = 0 to 1 in --sample-steps steps on --sample-n points, each field
evaluation in row batches of 1024 (fmtrain sample's default --batch), with the EMA weights under
torch.inference_mode; the evaluations run back to back (the ODE restarts when it ends) and are
timed in 5 groups of ~--sample-seconds / 5 each; evals/s (rows x evaluations / s) is their median.
BLAS: Debian's torch runs its CPU GEMMs through the system libblas.so.3, i.e. the same OpenBLAS
(openmp build) as fmtrain. Like fmtrain (src/blas.c), when OPENBLAS_CORETYPE is unset and OpenBLAS
falls back to kernels older than the CPU supports (0.3.21 picks generic SSE3 "Prescott" kernels on
CPUs it does not know), the script sets OPENBLAS_CORETYPE (SkylakeX with AVX-512, else Haswell with
AVX2 + FMA) and executes itself again, so both programs run the same kernels.
Memory: ru_maxrss after `import torch` (and h5py when it will read the data) and the thread setup
(baseline), after training and at the end; MB = 1e6 bytes as fmtrain; the data tensor's size is
reported separately (data_mb) so that it can be subtracted. The 1-minute load average at start and
end is reported too: with other processes running, multi-thread figures collapse (OpenMP barriers
wait for descheduled threads).

Usage:
  scripts/bench_torch.py --D 2 --width 64 --depth 3 --temb 32 --batch 256 --threads 1 \\
      [--seconds 5] [--sample-n 4096 --sample-steps 20] [--json]
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION = os.path.join(ROOT, "data", "fashion-mnist-train.h5")
SAMPLE_BATCH = 1024  # fmtrain sample --batch default
TEMB_SCALE = 50.0  # FM_TEMB_SCALE_DEFAULT


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch peer of fmtrain's training/sampling benchmark",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--D", type=int, default=2, help="data dimension (2: moons; 784: Fashion-MNIST)")
    p.add_argument("--width", type=int, default=64, help="hidden width H")
    p.add_argument("--depth", type=int, default=3, help="hidden layers L")
    p.add_argument("--temb", type=int, default=32, help="time-embedding width E (even)")
    p.add_argument("--batch", type=int, default=256, help="rows per training step B")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--seconds", type=float, default=5.0, help="approximate duration of the timed training intervals")
    p.add_argument("--intervals", type=int, default=7, help="timed intervals (>= 5)")
    p.add_argument("--warmup", type=int, default=20, help="untimed warm-up steps (>= 20)")
    p.add_argument("--unet", metavar="PROBE", help="benchmark fmtrain's U-Net instead of the MLP: the network "
                   "(architecture, tensor table, weights) of an `fmtrain probe` file, built by scripts/unet_torch.py; "
                   "data: Fashion-MNIST images")
    p.add_argument("--sample-batch", type=int, default=SAMPLE_BATCH, help="rows per network evaluation when sampling")
    p.add_argument("--sample-n", type=int, default=4096, help="points integrated by the sampler")
    p.add_argument("--sample-steps", type=int, default=20, help="Euler steps from t = 0 to 1")
    p.add_argument("--sample-seconds", type=float, default=1.5, help="approximate duration of the sampling measurement")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=1.0, help="global gradient-norm clip (0 = off)")
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--adam-foreach", choices=("auto", "on", "off"), default="auto",
                   help="the optimizer's multi-tensor (foreach) implementation; auto: up to 1M parameters time both "
                        "in the warm-up and keep the faster, above that per-tensor")
    p.add_argument("--clip-impl", choices=("foreach", "stock"), default="foreach",
                   help="foreach: one torch._foreach_norm and a scale only when the norm exceeds the clip "
                        "(fmtrain's rule); stock: torch.nn.utils.clip_grad_norm_ (PyTorch 1.13 has no foreach flag)")
    p.add_argument("--json", action="store_true", help="print one JSON object on one line")
    a = p.parse_args(argv)
    if a.D < 1 or a.width < 1 or a.depth < 1 or a.batch < 1 or a.threads < 1:
        p.error("--D, --width, --depth, --batch and --threads must be >= 1")
    if a.temb < 2 or a.temb % 2:
        p.error("--temb must be even and >= 2")
    if a.intervals < 5:
        p.error("--intervals must be >= 5")
    if a.warmup < 20:
        p.error("--warmup must be >= 20")
    if a.seconds <= 0 or a.sample_seconds <= 0 or a.sample_n < 1 or a.sample_steps < 1:
        p.error("--seconds, --sample-seconds, --sample-n and --sample-steps must be positive")
    return a


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def best_core():
    """The best generic OpenBLAS kernel set this CPU runs (the same rule as fmtrain's src/blas.c)."""
    fl = cpu_flags()
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= fl:
        return "SkylakeX"
    if {"avx2", "fma"} <= fl:
        return "Haswell"
    return None


def openblas_corename():
    """Kernel set of the libopenblas.so.0 in this process (loading it if needed), or None."""
    try:
        import ctypes
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def fix_blas_core():
    """Executes the script again with OPENBLAS_CORETYPE set when OpenBLAS fell back to older kernels."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return  # the user's choice, or ours after the exec
    core, best = openblas_corename(), best_core()
    if core is None or best is None:
        return
    fine = ["SkylakeX", "Cooperlake", "SapphireRapids"] if best == "SkylakeX" else \
        ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"]
    if core.lower() in (c.lower() for c in fine):
        return
    os.environ["OPENBLAS_CORETYPE"] = best
    os.environ["BENCH_TORCH_BLAS_FALLBACK"] = core
    sys.stdout.flush()
    try:
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:])
    except OSError:
        del os.environ["OPENBLAS_CORETYPE"], os.environ["BENCH_TORCH_BLAS_FALLBACK"]


def maxrss_bytes():
    return 1024.0 * resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KiB


def param_count(D, E, H, L):
    """Analytic parameter count, the same as fmtrain's table (without its alignment padding)."""
    n = 0
    for l in range(L + 1):
        fan_in, fan_out = (H if l else D + E), (H if l < L else D)
        n += fan_in * fan_out + fan_out
    return n


def mlp_flops(D, E, H, L, B):
    """GEMM FLOPs of one forward + backward, as fm_mlp_flops (src/mlp.c): forward 2 B I O per layer,
    backward dW 2 B I O per layer and dX 2 B I O per layer except fc0."""
    f = 0.0
    for l in range(L + 1):
        fan_in, fan_out = (H if l else D + E), (H if l < L else D)
        f += 2.0 * B * fan_in * fan_out * (3 if l else 2)
    return f


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if argv is None:
        fix_blas_core()  # may execute the script again, before torch (and OpenBLAS) load
    # h5py (and HDF5) is loaded before the baseline, as fmtrain's baseline holds its HDF5 library
    h5py = None
    if args.unet:
        args.D = 784
    if args.D == 784 and os.path.exists(FASHION):
        try:
            import h5py  # noqa: F401
        except ImportError:
            h5py = None

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    rss0 = maxrss_bytes()
    load0 = os.getloadavg()[0]  # other processes' load spoils multi-thread figures: reported with them
    core = openblas_corename()  # already loaded by torch (libblas.so.3 -> libopenblas.so.0)
    if core is None:
        blas = "not OpenBLAS (%s)" % torch.__config__.show().split("BLAS_INFO=")[-1].split(",")[0]
    elif os.environ.get("BENCH_TORCH_BLAS_FALLBACK"):
        blas = "OpenBLAS %s kernels (set by bench_torch: OpenBLAS chose %s on this CPU)" % (
            core, os.environ["BENCH_TORCH_BLAS_FALLBACK"])
    else:
        blas = "OpenBLAS %s kernels" % core
    torch.manual_seed(args.seed)

    D, E, H, L, B = args.D, args.temb, args.width, args.depth, args.batch

    class FmMlp(nn.Module):
        def __init__(self):
            super().__init__()
            half = E // 2
            k = torch.arange(half, dtype=torch.float64)
            # s f_k, computed in double and stored in float32 (the argument s t f_k is then one multiply)
            self.register_buffer("freqs", (TEMB_SCALE * torch.exp(-math.log(10000.0) * k / half)).float())
            dims = [D + E] + [H] * L + [D]
            self.fc = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(L + 1))

        def forward(self, x, t):
            arg = t.unsqueeze(1) * self.freqs
            h = torch.cat((x, torch.sin(arg), torch.cos(arg)), dim=1)
            for layer in self.fc[:-1]:
                h = F.silu(layer(h))
            return self.fc[-1](h)

    # --- data ---------------------------------------------------------------------------------
    data, data_bytes = None, 0
    if D == 2:
        data_source = "moons (drawn per step)"
        shift = torch.tensor([0.5, 0.25])

        def draw(n):
            u = torch.rand(n, 2)
            th = u[:, 1] * math.pi
            c, s = torch.cos(th), torch.sin(th)
            upper = u[:, 0] < 0.5
            p = torch.stack((torch.where(upper, c, 1.0 - c), torch.where(upper, s, 0.5 - s)), dim=1)
            return p.add_(torch.randn(n, 2), alpha=0.1).sub_(shift).mul_(1.5)
    else:
        if D == 784 and h5py is not None:
            with h5py.File(FASHION, "r") as f:
                img = f["images"]
                N = img.shape[0]
                if int(math.prod(img.shape[1:])) != D:
                    raise SystemExit("bench_torch: %s /images has shape %s, not N x 784" % (FASHION, img.shape))
                data = torch.empty(N, D)
                step = 4096  # converted in slices, so the uint8 copy never exists whole
                for i in range(0, N, step):
                    u8 = torch.from_numpy(img[i:i + step].reshape(-1, D))
                    data[i:i + u8.shape[0]].copy_(u8).div_(127.5).sub_(1.0)
            data_source = "fashion-mnist (%s, %d images, in memory)" % (os.path.relpath(FASHION, ROOT), N)
        elif D == 784:
            data = torch.empty(60000, D).uniform_(-1.0, 1.0)
            why = "h5py missing" if os.path.exists(FASHION) else "no %s" % os.path.relpath(FASHION, ROOT)
            data_source = "uniform [-1,1] 60000 x 784 in memory (%s)" % why
        else:
            data = torch.randn(60000, D)
            data_source = "normal 60000 x %d in memory" % D
        data_bytes = data.numel() * data.element_size()
        N = data.shape[0]

        def draw(n):
            return data.index_select(0, torch.randint(N, (n,)))

    # --- model, optimizer, EMA ------------------------------------------------------------------
    if args.unet:
        sys.path.insert(0, os.path.join(ROOT, "scripts"))
        import unet_torch
        net, unet_shape = unet_torch.load_probe_net(args.unet, torch.float32)
        if int(math.prod(unet_shape)) != D:
            raise SystemExit("bench_torch: the U-Net of %s takes %s images, not %d values" % (args.unet, unet_shape, D))
        params = [p.requires_grad_(True) for p in net.p.values()]
        ema_net, _ = unet_torch.load_probe_net(args.unet, torch.float32)
        ema_params = list(ema_net.p.values())
        nparams = sum(p.numel() for p in params)

        def model(x, t):
            return net(x.view(-1, *unet_shape), t).reshape(x.shape[0], -1)

        def ema_model(x, t):
            return ema_net(x.view(-1, *unet_shape), t).reshape(x.shape[0], -1)
    else:
        model = FmMlp()
        params = list(model.parameters())
        nparams = param_count(D, E, H, L)
        assert nparams == sum(p.numel() for p in params), "parameter count differs from fmtrain's formula"
        ema_model = FmMlp()
        ema_model.load_state_dict(model.state_dict())
        ema_model.requires_grad_(False)
        ema_params = list(ema_model.parameters())
    # AdamW without weight decay is Adam's update; torch.optim.Adam skips the decay term instead of
    # multiplying every parameter by 1.0 as 1.13's AdamW does
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                           foreach=args.adam_foreach == "on" or (args.adam_foreach == "auto" and nparams <= 1000000))
    opt_time = {True: [], False: []}  # seconds per opt.step() by foreach flag, during the warm-up comparison

    def clip_foreach(max_norm):
        grads = [p.grad for p in params]
        norm = float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
        if norm > max_norm:  # fmtrain scales only then, by clip / norm
            torch._foreach_mul_(grads, max_norm / norm)

    def clip_stock(max_norm):
        torch.nn.utils.clip_grad_norm_(params, max_norm)

    clip = clip_foreach if args.clip_impl == "foreach" else clip_stock
    state = {"step": 0}

    def train_step(time_opt=False):
        z = draw(B)
        eps = torch.randn(B, D)
        t = torch.rand(B)
        target = z - eps
        x = torch.addcmul(eps, t.unsqueeze(1), target)  # t z + (1 - t) eps
        loss = F.mse_loss(model(x, t), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip > 0:
            clip(args.clip)
        if time_opt:
            t0 = time.perf_counter()
            opt.step()
            opt_time[opt.param_groups[0]["foreach"]].append(time.perf_counter() - t0)
        else:
            opt.step()
        state["step"] += 1
        s = state["step"]
        d = min(args.ema, (1.0 + s) / (10.0 + s))
        with torch.no_grad():
            torch._foreach_mul_(ema_params, d)
            torch._foreach_add_(ema_params, params, alpha=1.0 - d)
        return loss

    # --- training: warm-up, calibration, timed intervals ----------------------------------------
    first = [train_step().item() for _ in range(10)]
    done = 10
    if args.adam_foreach == "auto" and nparams <= 1000000:
        for i in range(14):  # alternate the flag (the optimizer state is the same for both)
            opt.param_groups[0]["foreach"] = bool(i % 2)
            train_step(time_opt=True)
        done += 14
        fe = min(opt_time[True]) < min(opt_time[False])  # the minimum: robust to load from other processes
        opt.param_groups[0]["foreach"] = fe
    for _ in range(args.warmup - done):
        train_step()
    adam_foreach = bool(opt.param_groups[0]["foreach"])
    budget = min(0.5, max(0.1, args.seconds / 10))
    cal, t0 = [], time.perf_counter()
    while True:  # the median step time: a burst of load from other processes does not skew the sizing
        t1 = time.perf_counter()
        train_step()
        t2 = time.perf_counter()
        cal.append(t2 - t1)
        if t2 - t0 >= budget or len(cal) >= 100000:
            break
    per_step = statistics.median(cal)
    n_int = max(1, int(round(args.seconds / (args.intervals * per_step))))
    rates = []
    for _ in range(args.intervals):
        t0 = time.perf_counter()
        for _ in range(n_int):
            train_step()
        rates.append(n_int / (time.perf_counter() - t0))
    last = [train_step().item() for _ in range(10)]
    steps_per_s = statistics.median(rates)
    peak_train = maxrss_bytes()

    # --- sampling: Euler with the EMA weights, batches of 1024 rows -----------------------------
    dt = 1.0 / args.sample_steps

    def evaluations():
        """Yields the row count of each field evaluation of an endless sequence of Euler runs."""
        while True:
            x = torch.randn(args.sample_n, D)
            for k in range(args.sample_steps):
                for i in range(0, args.sample_n, args.sample_batch):
                    xb = x[i:i + args.sample_batch]
                    tb = torch.full((xb.shape[0],), k * dt)
                    xb.add_(ema_model(xb, tb), alpha=dt)
                    yield xb.shape[0]

    groups = 5
    with torch.inference_mode():
        ev = evaluations()
        for _ in range(3):
            next(ev)
        sample_rates, group_s = [], args.sample_seconds / groups
        for _ in range(groups):
            rows, t0 = 0, time.perf_counter()
            while True:
                rows += next(ev)
                el = time.perf_counter() - t0
                if el >= group_s:
                    break
            sample_rates.append(rows / el)
    sample_evals_per_s = statistics.median(sample_rates)

    peak = maxrss_bytes()
    flops = unet_torch.flops(net, B) if args.unet else mlp_flops(D, E, H, L, B)
    res = {
        "impl": "pytorch",
        "torch_version": torch.__version__,
        "blas": blas,
        "threads": args.threads,
        "loadavg_start": load0,
        "loadavg_end": os.getloadavg()[0],
        "D": D,
        "model": "unet" if args.unet else "mlp",
        "width": H,
        "depth": L,
        "temb": E,
        "batch": B,
        "params": nparams,
        "steps_per_s": steps_per_s,
        "steps_per_s_min": min(rates),
        "steps_per_s_max": max(rates),
        "samples_per_s": steps_per_s * B,
        "flops_per_step": flops,
        "gflops": flops * steps_per_s / 1e9,
        "sample_evals_per_s": sample_evals_per_s,
        "sample_n": args.sample_n,
        "sample_steps": args.sample_steps,
        "peak_mb_over_baseline": (peak - rss0) / 1e6,
        "peak_mb_train_over_baseline": (peak_train - rss0) / 1e6,
        "baseline_mb": rss0 / 1e6,
        "data_mb": data_bytes / 1e6,
        "data_source": data_source,
        "intervals": args.intervals,
        "steps_per_interval": n_int,
        "optimizer": "Adam(weight_decay=0) = AdamW(weight_decay=0)",
        "adam_foreach": adam_foreach,
        "adam_foreach_mode": args.adam_foreach,
        "adam_step_us_foreach": min(opt_time[True]) * 1e6 if opt_time[True] else None,
        "adam_step_us_loop": min(opt_time[False]) * 1e6 if opt_time[False] else None,
        "clip_impl": args.clip_impl,
        "loss_first": statistics.fmean(first),
        "loss_last": statistics.fmean(last),
        "steps_trained": state["step"],
    }
    if args.json:
        print(json.dumps(res, separators=(",", ":")))
        return 0
    how = ""
    if opt_time[True] and opt_time[False]:
        how = " (fastest step in the warm-up: foreach %.0f us, per-tensor %.0f us)" % (
            res["adam_step_us_foreach"], res["adam_step_us_loop"])
    print("bench_torch: PyTorch %s, %d intra-op thread(s), 1 inter-op thread; %s; load average %.2f -> %.2f "
          "on %d CPUs" % (torch.__version__, args.threads, blas, load0, res["loadavg_end"], os.cpu_count()))
    print("optim  Adam = AdamW with weight decay 0, foreach=%s%s; clip %s" %
          (adam_foreach, how, args.clip_impl))
    if args.unet:
        print("model  fmtrain's U-Net of %s (%s images): %d parameters; batch %d; %.3g GFLOP/step" %
              (args.unet, "x".join(map(str, unet_shape)), nparams, B, flops / 1e9))
    else:
        print("model  D %d, width %d, depth %d, temb %d (scale %g): %d parameters; batch %d; %.3g GFLOP/step" %
              (D, H, L, E, TEMB_SCALE, nparams, B, flops / 1e9))
    print("data   %s" % data_source)
    print("train  %.1f steps/s (median of %d x %d steps; min %.1f, max %.1f) = %.0f samples/s, %.2f GFLOP/s" %
          (steps_per_s, args.intervals, n_int, min(rates), max(rates), steps_per_s * B, res["gflops"]))
    print("loss   %.4f (mean of steps 1-10) -> %.4f (mean of the last 10 of %d steps)" %
          (res["loss_first"], res["loss_last"], state["step"]))
    print("sample %.3g network evaluations/s (rows x evaluations / s; Euler, %d points x %d steps, batches of "
          "%d, median of %d groups; one run = %d evaluations)" %
          (sample_evals_per_s, args.sample_n, args.sample_steps, args.sample_batch, groups,
           args.sample_n * args.sample_steps))
    print("memory peak %.1f MB over the baseline %.1f MB (%.1f MB after training, before sampling; the data "
          "tensor is %.1f MB of it)" % ((peak - rss0) / 1e6, rss0 / 1e6, (peak_train - rss0) / 1e6, data_bytes / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
