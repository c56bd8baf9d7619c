#!/usr/bin/env bash
# `fmtrain bench` (the harness behind `make bench`) runs and reports finite figures: on 1 rank the
# GEMM, compute and optimizer figures; on 2 ranks also the allreduce alone, after the GEMMs and
# overlapped with them, and MPI_Allreduce on a plain buffer (bench checks first that the
# non-blocking and the node-aware sums add the ranks' values).
# Speed itself is never asserted here: only that every figure is there, positive and finite.
set -eu
cd "$TMPDIR_TEST"
args="--data-dim 2 --width 32 --depth 2 --batch 64 --seconds 0.3"
$MPIRUN -np 1 "$FMTRAIN" bench $args >one.txt
$MPIRUN -np 2 "$FMTRAIN" bench $args >two.txt
$MPIRUN -np 2 "$FMTRAIN" bench --model unet --image 1,8,8 --channels 8 --mult 1,2 --blocks 1 --groups 4 \
    --temb 8 --batch 4 --seconds 0.3 >unet.txt
"$PYTHON" - <<'PY'
import math, re, sys
ok = True
def figures(path):
    return {k: float(v) for k, v in re.findall(r"^bench (\S+) (\S+)$", open(path).read(), re.M)}
base = ["params", "flops_per_step", "gemm_gflops", "square_gflops", "compute_steps_per_s", "optim_ms", "gemm_optim_bound"]
comm = ["allreduce_ms", "mpi_allreduce_ms", "node_ranks", "gemm_ms", "gemm_then_allreduce_ms", "gemm_overlap_allreduce_ms"]
for path, keys, absent in (("one.txt", base, comm), ("two.txt", base + comm, []), ("unet.txt", base + comm, [])):
    f = figures(path)
    bad = [k for k in keys if not (k in f and math.isfinite(f[k]) and f[k] > 0)]
    extra = [k for k in absent if k in f]
    hidden = f.get("overlap_hidden", 0.0)
    print(f"RESULT bench {path}: {len(f)} figures; missing or not positive: {bad or 'none'}; "
          f"unexpected: {extra or 'none'}; overlap hidden {hidden:.3f}")
    ok &= not bad and not extra and math.isfinite(hidden)
sys.exit(0 if ok else 1)
PY
