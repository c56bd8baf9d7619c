#!/usr/bin/python3
"""fmtrain's benchmark (`make bench`): fmtrain and PyTorch side by side, in one run.

For each reference configuration and 1 and 2 threads, on one rank:
  fmtrain   training steps/s (median over the progress intervals of a real `fmtrain train`),
            samples/s, GEMM GFLOP/s (FLOPs counted analytically per step), that rate as a
            fraction of the sgemm rate at the model's own GEMM shapes measured in the same run
            (`fmtrain bench`), sampling throughput (network evaluations/s of `fmtrain sample`,
            Euler), and peak memory over the process baseline against the analytic size;
  pytorch   the same model, step, loss and optimizer (scripts/bench_torch.py), and the ratios.
Then MPI weak scaling: 1 rank vs 2 ranks at the same per-rank batch, with the allreduce's share,
and 2 ranks against two independent 1-rank processes run at once. Last, each of the targets
(README, Performance) with the figure this run measured and the ceiling this run measured for it
(what the step's GEMMs and optimizer pass alone reach, what sgemm allows a sampler, what two
processes that do not communicate reach, slowed by the lockstep of a barrier after each step):
met, out of reach, or not met.

The machine may be shared and noisy: every figure is a median, and every comparison is the median
of ratios of figures measured side by side: fmtrain and PyTorch run in turn, --rounds times, and
so do 1 rank, 2 ranks and two independent processes; `fmtrain bench` runs its figures' intervals
in turn. Writes the tables to stdout and every figure to OUT/bench.json.

usage: bench.py [--fmtrain build/fmtrain] [--out runs/bench] [--seconds 4] [--rounds 3] [--quick] [--only NAME]
"""
import argparse
import functools
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FMNIST = os.path.join(ROOT, "data", "fashion-mnist-train.h5")

CONFIGS = [  # name, D, width, depth, batch (the U-Net: D = 784, width = channels, depth = blocks)
    ("toy MLP w64", 2, 64, 3, 256),  # not GEMM-bound: 64-wide GEMMs, the elementwise work a third of the step
    ("toy MLP w256", 2, 256, 3, 256),
    ("image MLP w1024", 784, 1024, 3, 128),
    ("U-Net c32 28x28", 784, 32, 2, 32),
]
TEMB = 32
UNET_ARGS = ["--mult", "1,2,2", "--groups", "8"]  # with --channels WIDTH --blocks DEPTH
UNET_SAMPLE_BATCH = 32
MLP_SAMPLE_BATCH = 1024
GEMM_BOUND = ("toy MLP w256", "image MLP w1024", "U-Net c32 28x28")  # the targets' "GEMM-bound configurations"
TARGETS = {"toy MLP w64": (4.0, 4.0), "toy MLP w256": (1.4, 1.4), "image MLP w1024": (1.4, 2.5)}  # steps, 1 / 2 thr


def is_unet(name):
    return name.startswith("U-Net")


def model_args(name, H, L):
    if is_unet(name):
        return ["--model", "unet", "--channels", str(H), "--blocks", str(L), "--temb", str(TEMB)] + UNET_ARGS
    return ["--width", str(H), "--depth", str(L), "--temb", str(TEMB)]


def run(cmd, env=None, check=True):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"bench: command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout + r.stderr


def mpi_env(threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def mpirun(np_, threads):
    return ["mpirun", "-q", "--oversubscribe", "-np", str(np_)] + (["--bind-to", "none"] if threads > 1 else [])


def data_args(D):
    if D == 2:
        return ["--data", "moons"]
    return ["--data-file", FMNIST, "--data-cache-mb", "128"]  # the whole set in memory, like the peer


@functools.lru_cache(maxsize=None)
def bench_options(fm):
    """The options of `fmtrain bench` (an older fmtrain, measured for comparison, lacks some)."""
    return set(re.findall(r"^  (--[a-z-]+)", run([fm, "bench", "--help"], env=mpi_env(1)), re.M))


def fm_bench(fm, name, D, H, L, B, threads, seconds, np_=1, figures=None):
    shape = ["--image", "1,28,28"] if is_unet(name) else ["--data-dim", str(D)]
    opts = bench_options(fm)
    if not is_unet(name) and "--sample-batch" in opts:
        shape += ["--sample-batch", str(MLP_SAMPLE_BATCH)]
    if figures:
        shape += ["--figures", figures]
    out = run(mpirun(np_, threads) + [fm, "bench"] + shape + model_args(name, H, L) +
              ["--batch", str(B), "--seconds", str(seconds)], env=mpi_env(threads))
    return {k: float(v) for k, v in re.findall(r"^bench (\S+) (\S+)$", out, re.M)}


def train_cmd(fm, name, D, H, L, B, threads, np_, steps, outdir, unbound=False):
    shutil.rmtree(outdir, ignore_errors=True)
    every = max(1, steps // 10)
    return (mpirun(np_, threads) + (["--bind-to", "none"] if unbound and threads == 1 else []) + [fm, "train"] + data_args(D) + model_args(name, H, L) +
            ["--batch", str(B * np_),
             "--steps", str(steps), "--log-every", str(every), "--ckpt-every", str(steps), "--warmup", "0",
             "--out", outdir])


def train_figures(out, B, np_):
    rates = [float(x) for x in re.findall(r"\| (\d+) samples/s \|", out)][1:]  # the first interval warms up
    mem = re.search(r"peak ([\d.]+) MB resident, ([\d.]+) MB over the ([\d.]+) MB before the model; "
                    r"the model needs ([\d.]+) MB", out)
    comm = re.search(r"allreduce: ([\d.]+)% of the wall time", out)
    lag = re.search(r"load imbalance: ([\d.]+)% of the wall time waiting for the slowest rank \(work between "
                    r"allreduces ([\d.]+) ms per step", out)
    sps = statistics.median(rates) / (B * np_)
    extra = {"imbalance_pct": float(lag.group(1)), "work_ms": float(lag.group(2))} if lag else {}
    blas = re.search(r"^fmtrain \S+ \(build: [^;]*; (.*)\)$", out, re.M)
    if blas:
        extra["blas"] = blas.group(1)
    return extra | {"steps_per_s": sps, "samples_per_s": sps * B * np_, "steps_per_s_min": min(rates) / (B * np_),
            "steps_per_s_max": max(rates) / (B * np_), "peak_mb": float(mem.group(1)),
            "mem_over_base_mb": float(mem.group(2)), "base_mb": float(mem.group(3)),
            "analytic_mb": float(mem.group(4)), "allreduce_pct": float(comm.group(1))}


def fm_train(fm, name, D, H, L, B, threads, np_, steps, outdir, env=None):
    return train_figures(run(train_cmd(fm, name, D, H, L, B, threads, np_, steps, outdir),
                             env=dict(mpi_env(threads), **(env or {}))), B, np_)


def fm_train_pair(fm, name, D, H, L, B, steps, outdir):
    """Two independent 1-rank, 1-thread trainings at once (no MPI between them): what two ranks
    would reach on this machine without communicating, the baseline that isolates the cost of
    the allreduce and of the ranks' lockstep from the sharing of cores, caches and memory. The
    slower one's steps/s, since ranks in lockstep all go at the slower one's pace (on a shared
    machine the two cores' speeds differ by several percent, and which is the slower changes),
    and the two."""
    # unbound: two separate mpiruns would each bind their one rank to the same first core
    procs = [subprocess.Popen(train_cmd(fm, name, D, H, L, B, 1, 1, steps, f"{outdir}-{k}", unbound=True), env=mpi_env(1),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for k in range(2)]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        sys.exit(f"bench: a concurrent training failed:\n{outs[0][-2000:]}\n{outs[1][-2000:]}")
    rates = [train_figures(o, B, 1)["steps_per_s"] for o in outs]
    return min(rates), rates


def fm_sample(fm, outdir, threads, n, steps, batch):
    """Network evaluations per second (rows x evaluations / s) of one `fmtrain sample` run."""
    out = run(mpirun(1, threads) + [fm, "sample", "--ckpt", outdir, "--n", str(n), "--steps", str(steps),
                                     "--solver", "euler", "--reference", "0", "--traj-n", "0",
                                     "--batch", str(batch), "--out", os.path.join(outdir, "samples.h5")],
              env=mpi_env(threads))
    m = re.search(r"NFE ([\d.]+) .*, ([\d.]+) s\n", out)
    return n * float(m.group(1)) / float(m.group(2))


def median_dict(runs):
    """The median of each numeric figure over several runs' dicts (other values from the first)."""
    out = dict(runs[0])
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and all(isinstance(r.get(k), (int, float)) for r in runs):
            out[k] = statistics.median(r[k] for r in runs)
    return out


def torch_peer(D, H, L, B, threads, seconds, sample_n, sample_steps, sample_batch, probe=None):
    cmd = [sys.executable, os.path.join(HERE, "bench_torch.py"), "--D", str(D), "--width", str(H), "--depth", str(L),
           "--temb", str(TEMB), "--batch", str(B), "--threads", str(threads), "--seconds", str(seconds),
           "--sample-n", str(sample_n), "--sample-steps", str(sample_steps), "--sample-batch", str(sample_batch),
           "--json"] + (["--unet", probe] if probe else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench: the PyTorch peer failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def verdict(value, target, ceiling):
    """met; out of reach (this run's ceiling is below the target, and the figure within it); or not
    met (the ceiling allows it, or the figure passed it: then it was no bound in this run)."""
    if value >= target:
        return "met"
    if ceiling is not None and value <= ceiling < target:
        return "out of reach"
    return "not met"


def print_targets(rows, scaling):
    """Each target with this run's figure and the ceiling this run measured for it."""
    print("\ntargets (README, Performance): this run's figure, and the ceiling this run measured for it")
    lines = []  # (target, config, threads, value, ceiling, fmt, how the ceiling was measured)
    for r in rows:
        f, p, name, thr = r["fm"], r.get("torch"), r["config"], r["threads"]
        older = "not measured (an older fmtrain)"
        if p and name in TARGETS:
            ceil = r.get("steps_ceiling")
            lines.append((f"steps >= {TARGETS[name][thr - 1]:g}x PyTorch", name, thr, r["steps_ratio"], TARGETS[name][thr - 1],
                          ceil, "x", "the floor's steps/s over PyTorch's" if ceil else older))
        if name in GEMM_BOUND:
            ceil, how = r.get("pct_ceiling"), "the floor's share of sgemm"
            if ceil is None:
                how = (f"GEMMs + optimizer summed: {100 * f['gemm_optim_bound']:.1f}% (the direct convolutions are not "
                       f"sgemm)" if is_unet(name) and "gemm_optim_bound" in f else older)
            lines.append(("GEMM-bound: >= 80% of sgemm", name, thr, r["pct_sgemm"], 0.80, ceil, "%", how))
        if p:
            ceil = r.get("sampling_ceiling")
            how = (older if not ceil else "the cores' FMA peak at fmtrain's multiply-adds over PyTorch's evals/s"
                   if is_unet(name) else "fmtrain's GEMMs at the sampling shapes over PyTorch's sampling GFLOP/s")
            lines.append(("sampling >= 1.3x PyTorch", name, thr, r["sampling_ratio"], 1.3, ceil, "x", how))
        if f["analytic_mb"] >= 16:  # below, a process's fixed few MB of buffers are the whole figure
            lines.append(("peak memory <= 1.3x analytic", name, thr, f["analytic_mb"] / f["mem_over_base_mb"], 1 / 1.3,
                          None, "mem", ""))
    for s in scaling:
        lock = s.get("lockstep_factor")  # absent from an older fmtrain's figures
        xfer = s.get("exchange_factor")
        if "ceiling" in s:
            lines.append(("2-rank weak scaling >= 95%", s["config"], 1, s["efficiency"], 0.95, s["ceiling"], "%",
                          f"2 ranks' compute steps in lockstep over 1 rank's alone, {100 * s['lockstep_over_alone']:.1f}% "
                          f"(timed in turn in a 2-rank fmtrain bench), times {100 * xfer:.1f}% for the gradient's "
                          f"crossing between the cores ({s.get('exchange_ms', s['overlap']['exchange_ms']):.4f} ms a step)" +
                          (f"; the median of {len(s['ceilings'])} ({', '.join(f'{100 * c:.1f}%' for c in s['ceilings'])})"
                           if len(s.get("ceilings", [])) > 1 else "") +
                          (f"; the figure passed its ceiling (timed at other moments, on a machine whose speed moves "
                           f"by more than the gap): no bound in this run" if s["efficiency"] > s["ceiling"] else "")))
            continue
        lines.append(("2-rank weak scaling >= 95%", s["config"], 1, s["efficiency"], 0.95,
                      s["pair_efficiency"] * (lock or 1) * (xfer or 1), "%",
                      "the slower of two independent 1-rank processes at once, over 1 rank alone" +
                      (f", times the lockstep's {100 * lock:.1f}% (a barrier after each step, side by side)"
                       if lock else "") +
                      (f", times {100 * xfer:.1f}% for the gradient's crossing between the cores "
                       f"({s['overlap']['exchange_ms']:.4f} ms a step)" if xfer else "")))
    counts = {}
    for target, name, thr, value, goal, ceil, fmt, how in lines:
        v = verdict(value, goal, ceil)
        counts[v] = counts.get(v, 0) + 1
        if fmt == "x":
            shown, cs = f"{value:5.2f}x", f"{ceil:5.2f}x" if ceil is not None else "   -  "
        elif fmt == "%":
            shown, cs = f"{100 * value:5.1f}%", f"{100 * ceil:5.1f}%" if ceil is not None else "   -  "
        else:
            shown, cs = f"{1 / value:5.2f}x", "   -  "
        print(f"  {target:30} {name:16} {thr} thr: {shown}  ceiling {cs}  {v:12} {how}")
    print("  " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) +
          " (out of reach: even this run's ceiling misses the target, and the figure is within it; memory judged where "
          "the model needs >= 16 MB)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fmtrain", default=os.path.join(ROOT, "build", "fmtrain"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "bench"))
    ap.add_argument("--seconds", type=float, default=4.0, help="measuring time per figure and implementation")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of the side-by-side measurements (fmtrain and PyTorch in turn; 1 and 2 ranks)")
    ap.add_argument("--quick", action="store_true", help="1 s per figure, 1 round (a smoke test, not a measurement)")
    ap.add_argument("--only", help="only the configurations whose name contains this text (e.g. U-Net)")
    a = ap.parse_args()
    seconds = 1.0 if a.quick else a.seconds
    if a.quick:
        a.rounds = 1
    if a.rounds < 1:
        sys.exit("bench: --rounds must be at least 1")
    fm = os.path.abspath(a.fmtrain)
    if not os.access(fm, os.X_OK):
        sys.exit(f"bench: {fm} not found: run make first")
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("bench: python3-torch is not installed: the PyTorch columns are skipped "
              "(apt-get install python3-torch, or make bench, which installs it)")
    wanted = [c for c in CONFIGS if not a.only or a.only in c[0]]
    configs = [c for c in wanted if c[1] == 2 or os.path.exists(FMNIST)]
    if len(configs) < len(wanted):
        print(f"bench: {FMNIST} is missing (make data): the image models are skipped")
    os.makedirs(a.out, exist_ok=True)
    rows, scaling = [], []
    t_start = time.time()
    for name, D, H, L, B in configs:
        unet = is_unet(name)
        probe = None
        if unet:  # the PyTorch peer builds the U-Net from a probe file: fmtrain's network and weights
            pdir = os.path.join(a.out, "unet-probe")
            shutil.rmtree(pdir, ignore_errors=True)
            run(mpirun(1, 1) + [fm, "train"] + data_args(D) + model_args(name, H, L) +
                ["--batch", str(B), "--steps", "1", "--out", pdir], env=mpi_env(1))
            probe = os.path.join(a.out, "unet-probe.h5")
            run(mpirun(1, 1) + [fm, "probe", "--ckpt", pdir, "--out", probe], env=mpi_env(1))
        flops = None
        rounds = min(a.rounds, 2) if unet else a.rounds  # a U-Net step takes 0.3-0.7 s
        for threads in (1, 2):
            b = fm_bench(fm, name, D, H, L, B, threads, seconds / 2)
            flops = b["flops_per_step"]
            steps = max(12 if unet else 50, int(b["compute_steps_per_s"] * seconds / rounds * 1.2))
            rundir = os.path.join(a.out, f"run-{D}-{H}-{threads}{'-unet' if unet else ''}")
            sample_n = 64 if unet else 4096
            # the U-Net: 512 evaluations, about a second, close to the peer's measured 1.5 s (256 lasted
            # 0.4-0.7 s at 2 threads, its first evaluation with its kernels' transforms included)
            sample_steps = 8 if unet else 20 if D == 2 else 10
            sample_batch = UNET_SAMPLE_BATCH if unet else MLP_SAMPLE_BATCH
            # fmtrain and the peer in turn, `rounds` times: each ratio is taken between neighbours
            # each round: the sgemm reference (and the MLP's floor and sampling GEMMs) just before
            refs = "gemm,peak" if unet else "gemm,floor,sample"
            per_round_ref = "--figures" in bench_options(fm)
            fms, peers = [], []
            for _ in range(rounds):
                ref = fm_bench(fm, name, D, H, L, B, threads, max(0.5, seconds / 4), figures=refs) if per_round_ref else b
                t = fm_train(fm, name, D, H, L, B, threads, 1, steps, rundir)
                t["ref"] = {k: ref[k] for k in ("gemm_gflops", "floor_ms", "floor_bound", "sample_flops_per_eval",
                                                "sample_exec_flops_per_eval", "sample_gemm_gflops", "peak_gflops")
                            if k in ref}
                t["pct_sgemm"] = t["steps_per_s"] * flops / 1e9 / ref["gemm_gflops"]
                t["sample_evals_per_s"] = fm_sample(fm, rundir, threads, sample_n, sample_steps, sample_batch)
                fms.append(t)
                if have_torch:
                    peers.append(torch_peer(D, H, L, B, threads, seconds / rounds, sample_n, sample_steps,
                                            sample_batch, probe))
            t = median_dict(fms)
            row = {"config": name, "D": D, "width": H, "depth": L, "batch": B, "threads": threads, "rounds": rounds,
                   "flops_per_step": flops, "fm": dict(t, gflops=t["steps_per_s"] * flops / 1e9,
                                                        gemm_gflops=b["gemm_gflops"], square_gflops=b["square_gflops"],
                                                        compute_steps_per_s=b["compute_steps_per_s"],
                                                        **{k: b[k] for k in ("optim_ms", "optim_gbs", "gemm_optim_bound",
                                                                             "floor_ms", "floor_bound",
                                                                             "sample_flops_per_eval",
                                                                             "sample_exec_flops_per_eval",
                                                                             "sample_gemm_gflops", "peak_gflops")
                                                           if k in b}),
                   "fm_rounds": fms}
            # the share of sgemm and the ceilings: medians over the rounds of figures measured side by side
            row["pct_sgemm"] = statistics.median(f["pct_sgemm"] for f in fms)
            if all("floor_bound" in f["ref"] for f in fms):
                row["pct_ceiling"] = statistics.median(f["ref"]["floor_bound"] for f in fms)
            if have_torch:
                row["torch"] = median_dict(peers)
                row["torch_rounds"] = peers
                row["steps_ratio"] = statistics.median(f["steps_per_s"] / p["steps_per_s"] for f, p in zip(fms, peers))
                row["sampling_ratio"] = statistics.median(f["sample_evals_per_s"] / p["sample_evals_per_s"]
                                                          for f, p in zip(fms, peers))
                if "pct_ceiling" in row:
                    row["steps_ceiling"] = statistics.median(1e3 / f["ref"]["floor_ms"] / p["steps_per_s"]
                                                             for f, p in zip(fms, peers))
                # sampling: the MLP's forward GEMMs at sgemm's rate, the U-Net's forward FLOPs at the FMA peak:
                # PyTorch's rate in evaluations/s against the evaluations/s of fmtrain's own multiply-adds (fewer
                # than the definition's where its 3x3 convolutions run Winograd's) at the peak
                key = "sample_gemm_gflops" if not unet else "peak_gflops"
                if all(key in f["ref"] and "sample_flops_per_eval" in f["ref"] for f in fms):
                    fl = "sample_exec_flops_per_eval" if unet and all("sample_exec_flops_per_eval" in f["ref"]
                                                                      for f in fms) else "sample_flops_per_eval"
                    row["sampling_ceiling"] = statistics.median(
                        f["ref"][key] / (p["sample_evals_per_s"] * f["ref"][fl] / 1e9) for f, p in zip(fms, peers))
            rows.append(row)
            print(f"  measured {name}, {threads} thread(s)", file=sys.stderr)
        # weak scaling at 1 thread per rank: 1 rank (batch B) vs 2 ranks (batch 2B) vs two independent
        # 1-rank processes at once, in turn, `rounds` times
        steps = max(12 if unet else 50, int(rows[-2]["fm"]["steps_per_s"] * seconds / rounds * 1.2))
        ones, twos, pairs, pair_both, ceils = [], [], [], [], []
        per_round = "--figures" in bench_options(fm)  # an older fmtrain measures every figure, too long
        for _ in range(rounds):
            ones.append(fm_train(fm, name, D, H, L, B, 1, 1, steps, os.path.join(a.out, "weak1")))
            twos.append(fm_train(fm, name, D, H, L, B, 1, 2, steps, os.path.join(a.out, "weak2")))
            slower, both = fm_train_pair(fm, name, D, H, L, B, steps, os.path.join(a.out, "weakpair"))
            pairs.append(slower)
            pair_both.append(both)
            if per_round:  # the ceiling's figures in each round too, beside the trainings
                ceils.append(fm_bench(fm, name, D, H, L, B, 1, max(1.0, seconds / 2), np_=2, figures="comm"))
        one, two = median_dict(ones), median_dict(twos)
        # the same with the gradient summed by MPI_Allreduce alone (the node-aware sums off)
        two_mpi = fm_train(fm, name, D, H, L, B, 1, 2, steps, os.path.join(a.out, "weak2"), env={"FMTRAIN_NODE_SUM": "0"})
        # overlap: the allreduce alone, after the step's GEMMs, and beside them (polled between layers)
        ov = fm_bench(fm, name, D, H, L, B, 1, max(1.0, seconds / 2), np_=2)
        scaling.append({"config": name, "one": one, "two": two, "two_mpi": two_mpi,
                        "pair_steps_per_s": statistics.median(pairs),
                        "rounds": {"one": [r["steps_per_s"] for r in ones], "two": [r["steps_per_s"] for r in twos],
                                   "pair": pairs, "pair_both": pair_both},
                        "efficiency": statistics.median(t["steps_per_s"] / o["steps_per_s"] for o, t in zip(ones, twos)),
                        "efficiency_mpi": two_mpi["steps_per_s"] / one["steps_per_s"],
                        "efficiency_vs_pair": statistics.median(t["steps_per_s"] / p for t, p in zip(twos, pairs)),
                        "pair_efficiency": statistics.median(p / o["steps_per_s"] for o, p in zip(ones, pairs)),
                        "overlap": {k: ov.get(k, float("nan")) for k in ("allreduce_ms", "mpi_allreduce_ms", "node_ranks", "gemm_ms",
                                                      "gemm_then_allreduce_ms", "gemm_overlap_allreduce_ms",
                                                      "overlap_hidden", "unsynced_steps_per_s",
                                                      "lockstep_steps_per_s", "summed_steps_per_s",
                                                      "alone_steps_per_s", "exchange_ms")}})
        sc = scaling[-1]
        measured = [c for c in ceils + [ov] if "alone_steps_per_s" in c and "exchange_ms" in c]
        if measured:
            # the ceiling from fmtrain bench runs whose figures are timed in turn, so that the
            # machine's slow phases weigh on all alike: two ranks' compute steps in lockstep over rank
            # 0's alone (two busy cores run slower than one: clocks, caches, the host), and the
            # gradient's crossing between the cores, which no sum avoids, added to that step; the
            # run with the median ceiling of one per round and the full run's
            def ceiling_of(c):
                alone = c["alone_steps_per_s"]
                base = min(1.0, c["lockstep_steps_per_s"] / alone)
                xf = 1 / (1 + base * max(0.0, c["exchange_ms"]) * alone / 1e3)
                return {"ceiling": base * xf, "lockstep_over_alone": base, "exchange_factor": xf,
                        "exchange_ms": c["exchange_ms"]}
            each = sorted((ceiling_of(c) for c in measured), key=lambda c: c["ceiling"])
            mid = each[(len(each) - 1) // 2]
            sc.update({k: mid[k] for k in ("ceiling", "lockstep_over_alone", "exchange_factor")})
            sc["ceilings"] = [c["ceiling"] for c in each]
            sc["exchange_ms"] = mid["exchange_ms"]
            # the trainer's compute step and sum (no data, no logging) over rank 0's alone, full run
            if "alone_steps_per_s" in ov:
                sc["bench_efficiency"] = ov["summed_steps_per_s"] / ov["alone_steps_per_s"]
        elif "lockstep_steps_per_s" in ov:  # the lockstep's own cost, measured side by side in one 2-rank run
            lock = scaling[-1]["lockstep_factor"] = min(1.0, ov["lockstep_steps_per_s"] / ov["unsynced_steps_per_s"])
            if "exchange_ms" in ov:
                # the gradient's crossing between the cores, which no sum avoids, added to the step that
                # two independent processes in lockstep take: t1 / (pair x lock) + x
                t1 = 1e3 / one["steps_per_s"]
                pl = scaling[-1]["pair_efficiency"] * lock
                scaling[-1]["exchange_factor"] = 1 / (1 + pl * max(0.0, ov["exchange_ms"]) / t1)

    print(f"\nfmtrain vs PyTorch {rows[0].get('torch', {}).get('torch_version', '(not installed)')}: "
          f"one rank, medians of {a.rounds} rounds in turn ({min(a.rounds, 2)} for the U-Net), {seconds:g} s per "
          f"figure; the ratios are medians of the rounds' ratios; GEMM FLOPs counted analytically (fm_net_flops)")
    blas = f"fmtrain {rows[0]['fm'].get('blas', '?')}"
    if "torch" in rows[0]:
        blas += f"; pytorch {rows[0]['torch'].get('blas', '?')}"
    print("BLAS: " + blas)
    hdr = (f"{'config':16} {'thr':>3} | {'steps/s':>8} {'samples/s':>10} {'GFLOP/s':>7} {'%sgemm':>6} "
           f"{'evals/s':>9} {'mem MB':>7} {'analytic':>8} | {'torch st/s':>10} {'GFLOP/s':>7} {'evals/s':>9} "
           f"{'mem MB':>7} | {'steps':>6} {'sampling':>8}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        f, p = r["fm"], r.get("torch")
        line = (f"{r['config']:16} {r['threads']:>3} | {f['steps_per_s']:8.1f} {f['samples_per_s']:10.0f} "
                f"{f['gflops']:7.1f} {100 * r['pct_sgemm']:5.0f}% {f['sample_evals_per_s']:9.3g} "
                f"{f['mem_over_base_mb']:7.1f} {f['analytic_mb']:8.1f} |")
        if p:
            line += (f" {p['steps_per_s']:10.1f} {p['gflops']:7.1f} {p['sample_evals_per_s']:9.3g} "
                     f"{p['peak_mb_over_baseline'] - p.get('data_mb', 0):7.1f} | "
                     f"{r['steps_ratio']:5.2f}x {r['sampling_ratio']:7.2f}x")
        print(line)
    print("\nsgemm at the model's GEMM shapes (the ceiling of %sgemm) and at 1024^3, GFLOP/s; compute-only step; the\n"
          "optimizer's pass alone (gradient norm + AdamW + EMA, 40 bytes per parameter) and the best %sgemm a step of\n"
          "these GEMMs and that pass can reach (everything else taking no time):")
    for r in rows:
        f = r["fm"]
        line = (f"  {r['config']:16} {r['threads']} thr: model shapes {f['gemm_gflops']:6.1f}, square {f['square_gflops']:6.1f};"
                f" step without data/MPI {f['compute_steps_per_s']:8.1f} steps/s")
        if "optim_ms" in f:
            line += f"; optimizer {f['optim_ms']:7.3f} ms ({f['optim_gbs']:4.1f} GB/s): bound {100 * f['gemm_optim_bound']:4.1f}%"
        if "floor_ms" in f:
            line += (f"; floor {f['floor_ms']:8.3f} ms ({1e3 / f['floor_ms']:8.1f} steps/s): "
                     f"{100 * f['floor_bound']:4.1f}% of sgemm")
        if "sample_gemm_gflops" in f:
            line += f"; sampling's GEMMs {f['sample_gemm_gflops']:6.1f}"
        if "peak_gflops" in f:
            line += f"; FMA peak {f['peak_gflops']:6.1f}"
        print(line)
    print("  (floor: the MLP step with only its GEMMs, on the network's own buffers, and its optimizer's pass, run as\n"
          "  the step runs them: the fastest a training step of this design can be; sampling's GEMMs: fmtrain's rate at\n"
          "  the forward GEMMs of a sampling batch; FMA peak: fused multiply-adds alone in the widest registers, on every thread)")
    print("\nweak scaling, 1 thread per rank, same batch per rank (and against two independent 1-rank processes run\n"
          "at once, which share the machine as two ranks do but do not communicate: the slower of the two, whose pace\n"
          "ranks in lockstep would keep):")
    for s in scaling:
        print(f"  {s['config']:16} 1 rank {s['one']['steps_per_s']:8.1f} steps/s, 2 ranks {s['two']['steps_per_s']:8.1f} "
              f"steps/s: efficiency {100 * s['efficiency']:5.1f}%, allreduce {s['two']['allreduce_pct']:.1f}% of the time "
              f"({s['two'].get('imbalance_pct', float('nan')):.1f}% waiting for the slower rank); "
              f"2 independent {s['pair_steps_per_s']:8.1f} steps/s the slower ({100 * s['pair_efficiency']:5.1f}% of 1 rank): "
              f"2 ranks reach {100 * s['efficiency_vs_pair']:5.1f}% of them")
        print(f"  {'':16} with MPI_Allreduce alone (FMTRAIN_NODE_SUM=0): 2 ranks {s['two_mpi']['steps_per_s']:8.1f} steps/s: "
              f"efficiency {100 * s['efficiency_mpi']:5.1f}%, allreduce {s['two_mpi']['allreduce_pct']:.1f}% of the time "
              f"({s['two_mpi'].get('imbalance_pct', float('nan')):.1f}% waiting for the slower rank)")
        # the run's mean step from the summary's own figures (work + waiting + collective = the wall
        # time), so that the three parts add up; the median interval above excludes the warm-up
        two = s["two"]
        if "work_ms" not in two:  # an older fmtrain does not report it
            continue
        t2 = two["work_ms"] / max(1e-9, 1 - two["allreduce_pct"] / 100)
        print(f"  {'':16} a 2-rank step, {t2:.3f} ms on average (median interval {1e3 / two['steps_per_s']:.3f} ms) "
              f"= each rank's work {two['work_ms']:.3f} ms (alone {1e3 / s['one']['steps_per_s']:.3f} ms, beside an "
              f"independent process {1e3 / s['pair_steps_per_s']:.3f} ms, the slower's) + waiting for the slower "
              f"{t2 * two['imbalance_pct'] / 100:.3f} ms + the collective "
              f"{t2 * (two['allreduce_pct'] - two['imbalance_pct']) / 100:.3f} ms")
    print("\nallreduce overlap, 2 ranks (fmtrain bench): the gradient's sum alone (the trainer's: through shared memory\n"
          "where the ranks share a node; and MPI_Allreduce's), the step's GEMMs followed by the trainer's, and the same\n"
          "GEMMs with an MPI_Iallreduce started first and polled after each layer's GEMMs; hidden = the share of the\n"
          "sum's own time that the overlap saves:")
    for s in scaling:
        o = s["overlap"]
        print(f"  {s['config']:16} sum {o['allreduce_ms']:8.3f} ms ({o['node_ranks']:.0f} per node; MPI_Allreduce "
              f"{o['mpi_allreduce_ms']:8.3f} ms); GEMMs {o['gemm_ms']:8.3f} ms; then the sum "
              f"{o['gemm_then_allreduce_ms']:8.3f} ms; overlapped {o['gemm_overlap_allreduce_ms']:8.3f} ms: hidden "
              f"{100 * o['overlap_hidden']:6.1f}%" +
              ("  (the allreduce is under 5% of the GEMMs: this share is within their timing noise)"
               if o["allreduce_ms"] < 0.05 * o["gemm_ms"] else ""))
    print("\nthe lockstep, 2 ranks (fmtrain bench, side by side in one run): the compute step on each rank on its own,\n"
          "with a barrier after each step (the least any synchronous data-parallel step waits), followed by the\n"
          "trainer's sum of the gradient, and on rank 0 alone (the other sleeping); and the floor of any sum: each\n"
          "rank writes its gradient and reads the other rank's, less the same reads from its own caches (the cost of\n"
          "the lines' crossing between the cores alone):")
    for s in scaling:
        o = s["overlap"]
        if not math.isfinite(o.get("lockstep_steps_per_s", float("nan"))):
            continue
        u = o["unsynced_steps_per_s"]
        print(f"  {s['config']:16} on its own {u:9.1f} steps/s; lockstep {o['lockstep_steps_per_s']:9.1f} "
              f"({100 * o['lockstep_steps_per_s'] / u:5.1f}%); with the sum {o['summed_steps_per_s']:9.1f} "
              f"({100 * o['summed_steps_per_s'] / u:5.1f}%)" +
              (f"; rank 0 alone {o['alone_steps_per_s']:9.1f}: the step with the sum at "
               f"{100 * s['bench_efficiency']:5.1f}% of it" if "bench_efficiency" in s else "") +
              (f"; the gradient's crossing between the cores {o['exchange_ms']:.4f} ms a step "
               f"(the sum {o['allreduce_ms']:.4f} ms)" if math.isfinite(o.get("exchange_ms", float("nan"))) else ""))
    print_targets(rows, scaling)
    print("\nmem MB: peak resident memory of rank 0 over its resident size just before the model was allocated "
          "(MPI, HDF5 and BLAS excluded); torch: over its size after import, data tensor excluded.")
    if any(r["fm"]["gflops"] > r["fm"]["gemm_gflops"] for r in rows):
        print("%sgemm over 100 %: fmtrain's own kernels outran OpenBLAS's at the same shapes (AVX-512 register "
              "tiles against the AVX2 sgemm kernels): the U-Net's 3x3 and 1x1 convolutions (whose forward runs "
              "Winograd's F(4x4,3x3), 36 multiplications where the FLOPs count 144), and the MLPs' GEMMs (in one "
              "pass up to 2^25 multiply-adds, blocked beyond; FMTRAIN_SMALL_GEMM=0 leaves them to OpenBLAS).")
    with open(os.path.join(a.out, "bench.json"), "w") as fo:
        json.dump({"rows": rows, "scaling": scaling, "seconds": seconds}, fo, indent=1)
    print(f"bench: {time.time() - t_start:.0f} s; every figure in {os.path.join(a.out, 'bench.json')}")


if __name__ == "__main__":
    main()
