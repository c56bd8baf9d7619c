#!/usr/bin/env bash
# Training from data set files (data/README.md), on small synthetic files made here:
#  - the global batch does not depend on the number of ranks: P = 1, 2, 4 give the same loss
#    for 30 steps to 1e-4 relative (37 images, batch 8: batches straddle epochs), also with
#    dequantization and flips;
#  - the ranks together read exactly steps x batch items (each rank only its own);
#  - resume is bit-exact with a data file;
#  - float data (N x D) trains, and sampling takes its reference items from the file.
set -eu
cd "$TMPDIR_TEST"
"$PYTHON" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(0)
with h5py.File("img.h5", "w") as f:
    f.create_dataset("images", data=rng.integers(0, 256, (37, 1, 4, 4), dtype=np.uint8), chunks=(1, 1, 4, 4))
    f["labels"] = rng.integers(0, 3, 37).astype(np.int32)
    f.attrs["num_classes"] = 3
    f.attrs["name"] = "synthetic-4x4"
with h5py.File("pts.h5", "w") as f:
    z = np.concatenate([rng.normal(-2, 0.1, (100, 2)), rng.normal(2, 0.1, (100, 2))]).astype(np.float32)
    f["data"] = z
PY
common="--data-file img.h5 --width 32 --depth 2 --batch 8 --steps 30 --log-every 1 --ckpt-every 30 --warmup 0"
$MPIRUN -np 1 "$FMTRAIN" $common --micro-batch 4 --out d1 >d1.txt
$MPIRUN -np 2 "$FMTRAIN" $common --out d2 >d2.txt
$MPIRUN -np 4 "$FMTRAIN" $common --out d4 >d4.txt
$MPIRUN -np 1 "$FMTRAIN" $common --dequantize --hflip --out a1 >/dev/null
$MPIRUN -np 2 "$FMTRAIN" $common --dequantize --hflip --out a2 >/dev/null
grep "^data:" d2.txt
grep -q "^data: 240 items" d1.txt && grep -q "^data: 240 items" d2.txt && grep -q "^data: 240 items" d4.txt
rc="--data-file img.h5 --width 32 --depth 2 --batch 8 --log-every 5 --ckpt-every 20"
$MPIRUN -np 2 "$FMTRAIN" $rc --steps 40 --out straight >/dev/null
$MPIRUN -np 2 "$FMTRAIN" $rc --steps 20 --out split >/dev/null
$MPIRUN -np 2 "$FMTRAIN" $rc --steps 40 --out split --resume >/dev/null
$MPIRUN -np 2 "$FMTRAIN" --data-file pts.h5 --width 64 --depth 2 --steps 1500 --log-every 500 --out pts >/dev/null
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt pts --n 1000 --reference 150 --out pts-s.h5 >/dev/null
"$PYTHON" - <<'PY'
import h5py, numpy as np, sys
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok &= bool(cond)
for tag in ("d", "a"):
    loss = {p: h5py.File(f"{tag}{p}/log.h5", "r")["loss"][()] for p in ((1, 2, 4) if tag == "d" else (1, 2))}
    for p in loss:
        rel = np.max(np.abs(loss[p] - loss[1]) / np.abs(loss[1]))
        check(len(loss[p]) == 30 and rel <= 1e-4, f"{'images' if tag == 'd' else 'dequantize+hflip'}: P=1 vs P={p}: max relative loss difference {rel:.1e}")
check(not np.allclose(h5py.File("d1/log.h5")["loss"][()], h5py.File("a1/log.h5")["loss"][()]), "augmentation changes the batches")
a, b = h5py.File("straight/ckpt-00000040.h5", "r"), h5py.File("split/ckpt-00000040.h5", "r")
same = all(np.array_equal(a[k][()], b[k][()]) for k in ("params", "adam_m", "adam_v", "ema"))
check(same, "resume with a data file: params, Adam moments and EMA bit-identical")
s = h5py.File("pts-s.h5", "r")
x = s["samples"][()]
near = np.minimum(np.abs(x + 2).max(1), np.abs(x - 2).max(1))
check(s["reference"].shape == (150, 2), "reference items taken from the data file")
check(np.mean(near < 0.5) > 0.9, f"float data: {100 * np.mean(near < 0.5):.1f}% of samples within 0.5 of the two clusters")
sys.exit(0 if ok else 1)
PY
