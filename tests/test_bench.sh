#!/usr/bin/env bash
# `fmtrain bench` (the harness behind `make bench`) runs and reports finite figures: on 1 rank the
# GEMM, compute and optimizer figures; on 2 ranks also the allreduce alone, after the GEMMs and
# overlapped with them, and MPI_Allreduce on a plain buffer (bench checks first that the
# non-blocking and the node-aware sums add the ranks' values); for an MLP the floor (GEMMs on the
# network's buffers + optimizer) and, with --sample-batch, sgemm at the sampling GEMMs; on 2 ranks
# with shared-memory sums, the gradient's crossing between the cores (finite, of either sign).
# Speed itself is never asserted here: only that every figure is there, positive and finite.
# Then make bench's verdicts (scripts/bench.py) on made-up figures: each target met, out of reach
# (the measured ceiling below it, the figure within it) or not met, as the figures say.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$TMPDIR_TEST"
args="--data-dim 2 --width 32 --depth 2 --batch 64 --seconds 0.3"
$MPIRUN -np 1 "$FMTRAIN" bench $args --sample-batch 128 >one.txt
$MPIRUN -np 2 "$FMTRAIN" bench $args >two.txt
$MPIRUN -np 2 "$FMTRAIN" bench $args --figures floor,sample --sample-batch 32 >some.txt
if "$FMTRAIN" bench $args --figures floor,nonsense >bad.out 2>&1; then echo "RESULT --figures nonsense accepted"; exit 1; fi
grep -q "unknown figure 'nonsense'" bad.out || { echo "RESULT no clear error for an unknown figure:"; cat bad.out; exit 1; }
echo "RESULT --figures floor,nonsense: $(cat bad.out)"
$MPIRUN -np 2 "$FMTRAIN" bench --model unet --image 1,8,8 --channels 8 --mult 1,2 --blocks 1 --groups 4 \
    --temb 8 --batch 4 --seconds 0.3 >unet.txt
"$PYTHON" - <<'PY'
import math, re, sys
ok = True
def figures(path):
    return {k: float(v) for k, v in re.findall(r"^bench (\S+) (\S+)$", open(path).read(), re.M)}
base = ["params", "flops_per_step", "gemm_gflops", "square_gflops", "compute_steps_per_s", "optim_ms", "gemm_optim_bound"]
comm = ["allreduce_ms", "mpi_allreduce_ms", "node_ranks", "gemm_ms", "gemm_then_allreduce_ms", "gemm_overlap_allreduce_ms",
        "unsynced_steps_per_s", "lockstep_steps_per_s", "summed_steps_per_s", "alone_steps_per_s"]
floor = ["floor_ms", "floor_bound"]
sample = ["sample_flops_per_eval", "sample_exec_flops_per_eval", "sample_gemm_gflops"]
# the FMA peak on CPUs with AVX2 + FMA or AVX-512 (every x86-64 machine this runs on, in practice)
cpu = open("/proc/cpuinfo").read()
peak = ["peak_gflops", "peak_lanes", "sample_flops_per_eval", "sample_exec_flops_per_eval"] if " avx2" in cpu and " fma" in cpu else []
only = ["params", "flops_per_step", "gemm_gflops"] + floor + sample
for path, keys, absent in (("one.txt", base + floor + sample + peak, comm),
                           ("two.txt", base + comm + floor + peak, ["sample_gemm_gflops"]),
                           ("unet.txt", base + comm + peak, floor + ["sample_gemm_gflops"]),
                           ("some.txt", only, comm + ["square_gflops", "compute_steps_per_s", "optim_ms", "peak_gflops"])):
    f = figures(path)
    bad = [k for k in keys if not (k in f and math.isfinite(f[k]) and f[k] > 0)]
    extra = [k for k in absent if k in f]
    hidden = f.get("overlap_hidden", 0.0)
    print(f"RESULT bench {path}: {len(f)} figures; missing or not positive: {bad or 'none'}; "
          f"unexpected: {extra or 'none'}; overlap hidden {hidden:.3f}")
    ok &= not bad and not extra and math.isfinite(hidden)
    # the gradient's crossing between the cores, where the sums go through shared memory (a
    # difference of two timings: finite, of either sign within the noise)
    if f.get("node_ranks", 1) > 1:
        x = f.get("exchange_ms", float("nan"))
        print(f"RESULT bench {path}: the crossing between the cores {x:.4f} ms")
        ok &= math.isfinite(x)
    # the multiply-adds the kernels execute: the definition's for an MLP, at most those for the
    # U-Net (fewer with AVX-512, where its 3x3 convolutions with 8 input channels run Winograd's)
    if "sample_exec_flops_per_eval" in f:
        fl, ex = f["sample_flops_per_eval"], f["sample_exec_flops_per_eval"]
        want = (ex < fl if " avx512f" in cpu else ex <= fl) if path == "unet.txt" else ex == fl
        print(f"RESULT bench {path}: executed {ex:.6g} of the definition's {fl:.6g} FLOPs per evaluation")
        ok &= want
sys.exit(0 if ok else 1)
PY

# make bench's verdicts on made-up figures (no measurement): bench.py's own functions
SRC_DIR=$SRC "$PYTHON" - <<'PY'
import contextlib, io, os, sys
sys.path.insert(0, os.path.join(os.environ["SRC_DIR"], "scripts"))
import bench
ok = True
for value, target, ceiling, want in ((4.2, 4.0, 5.0, "met"), (3.5, 4.0, 3.8, "out of reach"),
                                     (3.5, 4.0, 4.5, "not met"), (3.5, 4.0, None, "not met"),
                                     (0.95, 0.95, 0.9, "met"), (3.9, 4.0, 3.8, "not met")):
    got = bench.verdict(value, target, ceiling)
    ok &= got == want
    print(f"RESULT verdict({value}, {target}, {ceiling}) = {got} (want {want})")
fm = {"steps_per_s": 100.0, "gflops": 70.0, "gemm_gflops": 100.0, "analytic_mb": 130.0, "mem_over_base_mb": 140.0}
torch = {"steps_per_s": 40.0, "sample_evals_per_s": 1e4}
rows = [{"config": "image MLP w1024", "threads": 1, "fm": fm, "torch": torch, "steps_ratio": 2.5, "sampling_ratio": 2.0,
         "pct_sgemm": 0.70, "pct_ceiling": 0.75, "steps_ceiling": 3.1, "sampling_ceiling": 2.4}]
scaling = [{"config": "image MLP w1024", "efficiency": 0.9, "pair_efficiency": 0.92},
           {"config": "toy MLP w64", "efficiency": 0.93, "pair_efficiency": 1.0, "lockstep_factor": 0.94},
           {"config": "toy MLP w256", "efficiency": 0.91, "pair_efficiency": 1.0, "lockstep_factor": 0.97},
           {"config": "toy MLP w64", "efficiency": 0.91, "pair_efficiency": 1.0, "lockstep_factor": 0.98,
            "exchange_factor": 0.95, "overlap": {"exchange_ms": 0.008}},
           {"config": "U-Net c32 28x28", "efficiency": 0.93, "ceiling": 0.90, "lockstep_over_alone": 0.92,
            "exchange_factor": 0.978, "overlap": {"exchange_ms": 0.4}},
           {"config": "image MLP w1024", "efficiency": 0.93, "ceiling": 0.97, "lockstep_over_alone": 0.98,
            "exchange_factor": 0.99, "overlap": {"exchange_ms": 0.3}}]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    bench.print_targets(rows, scaling)
text = out.getvalue()
print(text)
# steps 2.5x >= 1.4 met; 70 % of sgemm with the floor at 75 %: out of reach; sampling 2.0x met;
# memory 140 / 130 met; weak scaling 90 % with two independent processes at 92 %: out of reach;
# 93 % with two independent processes at 100 % in a lockstep that keeps 94 %: out of reach; 91 %
# where the lockstep keeps 97 %: not met; 91 % where the lockstep keeps 98 % and the crossing
# between the cores 95 % (93.1 %): out of reach; 93 % against a ceiling (lockstep over one rank
# alone, in one bench run) of 90 %: not met, the figure having passed its ceiling (no bound then);
# 93 % against 97 %: not met
ok &= "3 met, 3 not met, 4 out of reach" in text and "crossing between the cores (0.0080 ms" in text
ok &= text.count("the figure passed its ceiling") == 1 and "in lockstep over 1 rank's alone, 92.0%" in text
for line in ("steps >= 1.4x PyTorch", "GEMM-bound: >= 80% of sgemm", "sampling >= 1.3x PyTorch",
             "peak memory <= 1.3x analytic", "2-rank weak scaling >= 95%"):
    ok &= line in text
print(f"RESULT print_targets: {'as expected' if ok else 'NOT as expected'}")
sys.exit(0 if ok else 1)
PY
