#!/usr/bin/env bash
# The U-Net end to end on a small synthetic image set (256 images 1 x 16 x 16 of bright bars,
# horizontal or vertical, written by scripts/npy_to_h5.py), under mpirun:
#   - velocity, noise and score objectives learn: the mean loss of the last 20 steps of 200 is
#     below half that of the first 20;
#   - the global batch does not depend on the ranks: P = 1, P = 2 and P = 2 with micro-batches of 2
#     (gradient accumulation) give the same losses over 20 steps (to 1e-5 relative);
#   - resume: 20 steps straight = 10 + --resume + 10, bit for bit (params, Adam moments, EMA);
#   - sampling works with every solver and the SDE (finite samples of the right shape, image_shape
#     recorded), the trained velocity model's samples are closer to the data than the untrained
#     model's (energy distance), and the Hutchinson NLL runs through the U-Net's VJP; the NLL of
#     8-bit images is reported in bits/dim as NLL/(D ln 2) + 7 (stored and printed);
#   - activation memory is bounded by the micro-batch: the reported activation size scales with it.
set -u
: "${FMTRAIN:?}" "${MPIRUN:?}" "${PYTHON:?}" "${TMPDIR_TEST:?}"
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$TMPDIR_TEST" || exit 1
fail=0
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
"$PYTHON" - <<'PY' || exit 1
import numpy as np
rng = np.random.default_rng(0)
img = np.zeros((256, 1, 16, 16), np.uint8)
for i in range(256):
    k = rng.integers(2, 14)
    if i % 2:
        img[i, 0, k - 2:k + 2, 2:14] = 230
    else:
        img[i, 0, 2:14, k - 2:k + 2] = 230
np.save("bars.npy", img)
PY
"$PYTHON" "$SRC/scripts/npy_to_h5.py" bars.npy bars.h5 >/dev/null || exit 1
NET=(--data-file bars.h5 --model unet --channels 8 --mult 1,2 --blocks 1 --groups 4 --temb 16 --warmup 20 --lr 2e-3)

# mean loss of the log rows with step in [lo, hi]
loss_mean() {
    "$PYTHON" -c "
import h5py, sys
f = h5py.File('$1/log.h5', 'r'); s = f['step'][...]; l = f['loss'][...]
sel = (s >= $2) & (s <= $3); print(l[sel].mean())"
}

for obj in velocity noise score; do
    $MPIRUN -np 2 "$FMTRAIN" train "${NET[@]}" --objective "$obj" --batch 16 --steps 200 --log-every 1 \
        --out "learn-$obj" >"learn-$obj.out" 2>&1 || { bad "training $obj"; tail -5 "learn-$obj.out"; continue; }
    first=$(loss_mean "learn-$obj" 1 20) last=$(loss_mean "learn-$obj" 181 200)
    echo "RESULT unet_train $obj: mean loss steps 1-20 $first, steps 181-200 $last"
    "$PYTHON" -c "import sys; sys.exit(0 if $last < 0.5 * $first else 1)" || bad "$obj did not learn ($first -> $last)"
done

# rank independence (P = 1, 2, and micro-batches of 2 with accumulation)
$MPIRUN -np 1 "$FMTRAIN" train "${NET[@]}" --batch 8 --steps 20 --log-every 1 --out p1 >p1.out 2>&1 || bad "P = 1 run"
$MPIRUN -np 2 "$FMTRAIN" train "${NET[@]}" --batch 8 --steps 20 --log-every 1 --out p2 >p2.out 2>&1 || bad "P = 2 run"
$MPIRUN -np 2 "$FMTRAIN" train "${NET[@]}" --batch 8 --micro-batch 2 --steps 20 --log-every 1 --out p2m >p2m.out 2>&1 ||
    bad "P = 2 micro-batch 2 run"
"$PYTHON" - <<'PY' || bad "losses depend on the ranks"
import h5py, numpy as np, sys
l = [h5py.File(d + "/log.h5", "r")["loss"][...] for d in ("p1", "p2", "p2m")]
worst = max(float(np.max(np.abs(x - l[0]) / np.abs(l[0]))) for x in l[1:])
print(f"RESULT unet_train ranks: 20 losses, P = 2 and P = 2 x micro-batch 2 vs P = 1: worst relative difference {worst:.2e}")
sys.exit(0 if worst < 1e-5 else 1)
PY

# resume
$MPIRUN -np 2 "$FMTRAIN" train "${NET[@]}" --batch 8 --steps 10 --ckpt-every 10 --out r >r1.out 2>&1 &&
    $MPIRUN -np 2 "$FMTRAIN" train "${NET[@]}" --batch 8 --steps 20 --ckpt-every 10 --resume --out r >r2.out 2>&1 ||
    bad "resume runs"
"$PYTHON" - <<'PY' || bad "resume is not bit-identical"
import h5py, numpy as np, sys
a = h5py.File("p2/ckpt-00000020.h5", "r"); b = h5py.File("r/ckpt-00000020.h5", "r")
same = all(np.array_equal(a[k][...], b[k][...]) for k in ("params", "adam_m", "adam_v", "ema"))
print("RESULT unet_train resume: 10 + resume + 10 steps " + ("bit-identical to" if same else "DIFFERS from") + " 20 steps")
sys.exit(0 if same else 1)
PY

# sampling: every solver, the SDE, the NLL; trained vs untrained
$MPIRUN -np 2 "$FMTRAIN" train "${NET[@]}" --batch 8 --steps 1 --warmup 0 --lr 0 --out untrained >/dev/null 2>&1 ||
    bad "untrained run"
S=(--n 64 --reference 256 --traj-n 4 --frames 4 --out)
for s in euler midpoint heun rk4 dopri5; do
    $MPIRUN -np 2 "$FMTRAIN" sample --ckpt learn-velocity --solver "$s" --steps 20 --rtol 1e-3 --atol 1e-3 "${S[@]}" \
        "s-$s.h5" >"s-$s.out" 2>&1 || { bad "sample --solver $s"; tail -3 "s-$s.out"; }
done
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt learn-velocity --sigma beta:1 --steps 40 "${S[@]}" s-sde.h5 >s-sde.out 2>&1 ||
    bad "SDE sampling"
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt learn-noise --solver heun --steps 20 "${S[@]}" s-noise.h5 >s-noise.out 2>&1 ||
    bad "noise model sampling"
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt untrained --solver heun --steps 20 "${S[@]}" s-untrained.h5 >/dev/null 2>&1 ||
    bad "untrained sampling"
$MPIRUN -np 2 "$FMTRAIN" nll --ckpt learn-velocity --n 8 --divergence hutchinson --probes 2 --steps 20 --out nll.h5 \
    >nll.out 2>&1 || { bad "nll (Hutchinson through the U-Net)"; tail -3 nll.out; }
"$PYTHON" - <<'PY' || bad "samples or bits/dim"
import h5py, numpy as np, re, sys
ok = True
for name in ("euler", "midpoint", "heun", "rk4", "dopri5", "sde", "noise"):
    f = h5py.File(f"s-{name}.h5", "r")
    s = f["samples"][...]
    shape = tuple(int(v) for v in f["image_shape"][...])
    good = s.shape == (64, 256) and np.isfinite(s).all() and shape == (1, 16, 16)
    print(f"  {name}: samples {s.shape}, finite {np.isfinite(s).all()}, image_shape {shape}, "
          f"energy distance {f.attrs['energy_distance']:.4f}, NFE {f.attrs['nfe_mean']:.1f}")
    ok &= bool(good)
e_tr = float(h5py.File("s-heun.h5", "r").attrs["energy_distance"])
e_un = float(h5py.File("s-untrained.h5", "r").attrs["energy_distance"])
print(f"RESULT unet_train sampling: 5 solvers + SDE + noise model; energy distance trained {e_tr:.4f}, untrained {e_un:.4f}")
n = h5py.File("nll.h5", "r")
bpd, want = float(n.attrs["bits_per_dim"]), float(n.attrs["mean_nll"]) / (256 * np.log(2)) + 7
printed = re.search(r"nats \(([0-9.]+) bits/dim for 8-bit images", open("nll.out").read())
bpd_ok = abs(bpd - want) < 1e-9 and printed is not None and abs(float(printed.group(1)) - want) < 1e-4
print(f"  nll (Hutchinson, 8 points): {n.attrs['mean_nll']:.2f} +- {n.attrs['se_nll']:.2f} nats, {bpd:.4f} bits/dim "
      f"(NLL/(D ln 2) + 7 = {want:.4f}; printed {printed.group(1) if printed else 'no 8-bit images bits/dim'})")
sys.exit(0 if ok and bpd_ok and e_tr < 0.5 * e_un else 1)
PY

# activations are allocated once for the micro-batch: linear in it (a fixed scratch aside), and the
# process's peak memory follows
act() { sed -n 's/.*, \([0-9.]*\) MB of activations per micro-batch.*/\1/p' "$1"; }
peak() { sed -n 's/^memory (rank 0): peak \([0-9.]*\) MB.*/\1/p' "$1"; }
for mb in 2 8 32; do
    $MPIRUN -np 1 "$FMTRAIN" train "${NET[@]}" --batch 32 --micro-batch $mb --steps 2 --out m$mb >m$mb.out 2>&1 ||
        bad "memory run, micro-batch $mb"
done
a2=$(act m2.out) a8=$(act m8.out) a32=$(act m32.out)
echo "RESULT unet_train memory: activations $a2 / $a8 / $a32 MB at micro-batch 2 / 8 / 32; peak RSS $(peak m2.out) / $(peak m8.out) / $(peak m32.out) MB"
"$PYTHON" -c "import sys; r = ($a32 - $a8) / ($a8 - $a2); sys.exit(0 if abs(r - 4) < 0.2 and $(peak m32.out) > $(peak m2.out) else 1)" ||
    bad "activation memory is not linear in the micro-batch"

[ "$fail" -eq 0 ] || { echo "$fail failures"; exit 1; }
echo "RESULT unet_train: all checks passed"
