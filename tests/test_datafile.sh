#!/usr/bin/env bash
# Training from data set files (data/README.md), on small synthetic files made here:
#  - the global batch does not depend on the number of ranks: P = 1, 2, 4 give the same loss
#    for 30 steps to 1e-4 relative (37 images, batch 8: batches straddle epochs), also with
#    dequantization and flips;
#  - the ranks together read exactly steps x batch items (each rank only its own);
#  - resume is bit-exact with a data file;
#  - float data (N x D) trains, and sampling takes its reference items from the file;
#  - the per-rank cache (--data-cache-mb) changes no result, stays within its budget when the
#    data set (2.6 MB) is larger than it (1 MiB), and saves file reads.
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
with h5py.File("big.h5", "w") as f:
    f.create_dataset("images", data=rng.integers(0, 256, (10000, 1, 16, 16), dtype=np.uint8), chunks=(1, 1, 16, 16))
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
big="--data-file big.h5 --width 16 --depth 1 --batch 256 --steps 60 --log-every 1 --ckpt-every 60 --warmup 0"
$MPIRUN -np 2 "$FMTRAIN" $big --out nocache >nocache.txt
$MPIRUN -np 2 "$FMTRAIN" $big --data-cache-mb 1 --out cache1 >cache1.txt
$MPIRUN -np 2 "$FMTRAIN" $common --data-cache-mb 1 --out smallcache >smallcache.txt
grep "^data" nocache.txt cache1.txt smallcache.txt
rc="--data-file img.h5 --width 32 --depth 2 --batch 8 --log-every 5 --ckpt-every 20"
$MPIRUN -np 2 "$FMTRAIN" $rc --steps 40 --out straight >/dev/null
$MPIRUN -np 2 "$FMTRAIN" $rc --steps 20 --out split >/dev/null
$MPIRUN -np 2 "$FMTRAIN" $rc --steps 40 --out split --resume >/dev/null
$MPIRUN -np 2 "$FMTRAIN" --data-file pts.h5 --width 64 --depth 2 --steps 1500 --log-every 500 --out pts >/dev/null
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt pts --n 1000 --reference 150 --out pts-s.h5 >/dev/null
# the run was started with a relative --data-file: sampling from another directory still finds it
mkdir -p elsewhere
(cd elsewhere && $MPIRUN -np 2 "$FMTRAIN" sample --ckpt ../pts --n 10 --reference 5 --out s.h5 >/dev/null)
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
import re
nc, c1 = h5py.File("nocache/log.h5")["loss"][()], h5py.File("cache1/log.h5")["loss"][()]
check(np.array_equal(nc, c1), "the cache changes no loss (60 steps, bit for bit)")
t = open("cache1.txt").read()
mib = float(re.search(r"data cache: at most ([0-9.]+) MiB", t).group(1))
hit = float(re.search(r"hit rate ([0-9.]+)%", t).group(1))
read_c = int(re.search(r"^data: (\d+) items", t, re.M).group(1))
read_n = int(re.search(r"^data: (\d+) items", open("nocache.txt").read(), re.M).group(1))
check(mib <= 1.0 and hit > 0, f"cache within its 1 MiB budget for a 2.6 MB data set: {mib:.2f} MiB, hit rate {hit:.1f}%")
check(read_c < read_n == 60 * 256, f"file reads {read_c} with the cache vs {read_n} without")
small = int(re.search(r"^data: (\d+) items", open("smallcache.txt").read(), re.M).group(1))
check(small <= 2 * 37, f"a data set that fits is read once per rank: {small} reads for 2 ranks x 37 items")
check(np.array_equal(h5py.File("smallcache/log.h5")["loss"][()], h5py.File("d2/log.h5")["loss"][()]), "cached run = uncached run (37 images, 2 ranks)")
s = h5py.File("pts-s.h5", "r")
x = s["samples"][()]
near = np.minimum(np.abs(x + 2).max(1), np.abs(x - 2).max(1))
check(s["reference"].shape == (150, 2), "reference items taken from the data file")
check(h5py.File("elsewhere/s.h5", "r")["reference"].shape == (5, 2), "sampled from another directory")
check(np.mean(near < 0.5) > 0.9, f"float data: {100 * np.mean(near < 0.5):.1f}% of samples within 0.5 of the two clusters")
sys.exit(0 if ok else 1)
PY
