#!/usr/bin/env bash
# Output files: readable by h5dump and h5py, self-describing (configuration, provenance),
# latest.h5 points at the newest checkpoint; sampling: the samples do not depend on the
# number of ranks, the trajectory has the documented shape and times, Heun costs 2 NFE/step;
# a fixed grid records at most --steps frames (by default 20, or --steps if fewer), dopri5 any number.
set -eu
cd "$TMPDIR_TEST"
$MPIRUN -np 2 "$FMTRAIN" --data rings --width 32 --depth 2 --batch 32 --steps 60 --ckpt-every 25 \
    --log-every 10 --out out >train.txt
for f in out/ckpt-00000025.h5 out/ckpt-00000050.h5 out/ckpt-00000060.h5 out/log.h5; do
    h5dump -H "$f" >/dev/null
done
[ "$(readlink out/latest.h5)" = ckpt-00000060.h5 ]
# retention: --keep-last 2 leaves the two newest checkpoints, and resuming still works
$MPIRUN -np 2 "$FMTRAIN" --data rings --width 16 --depth 1 --batch 32 --steps 50 --ckpt-every 10 --keep-last 2 \
    --out keep >/dev/null
[ "$(cd keep && ls ckpt-*.h5 | tr '\n' ' ')" = "ckpt-00000040.h5 ckpt-00000050.h5 " ]
$MPIRUN -np 2 "$FMTRAIN" --data rings --width 16 --depth 1 --batch 32 --steps 60 --ckpt-every 10 --keep-last 2 \
    --out keep --resume | grep -q "resumed from keep/ckpt-00000050.h5"
[ "$(cd keep && ls ckpt-*.h5 | tr '\n' ' ')" = "ckpt-00000050.h5 ckpt-00000060.h5 " ]
echo "ok   --keep-last 2 keeps the two newest checkpoints across a resume"
$MPIRUN -np 1 "$FMTRAIN" sample --ckpt out --n 300 --steps 20 --frames 4 --traj-n 100 --out s1.h5 >/dev/null
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt out --n 300 --steps 20 --frames 4 --traj-n 100 --out s2.h5 >/dev/null
$MPIRUN -np 3 "$FMTRAIN" sample --ckpt out/ckpt-00000060.h5 --n 300 --steps 7 --solver heun --frames 3 \
    --traj-n 400 --out s3.h5 >/dev/null
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt out --n 50 --steps 5 --traj-n 10 --out s4.h5 >/dev/null
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt out --n 50 --steps 5 --solver dopri5 --rtol 1e-3 --atol 1e-3 --frames 8 \
    --traj-n 10 --out s5.h5 >/dev/null
h5dump -H s2.h5 >/dev/null
"$PYTHON" - <<'PY'
import h5py, numpy as np, sys
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok &= bool(cond)
txt = open("train.txt").read()
c = h5py.File("out/ckpt-00000060.h5", "r")
cfg = c.attrs["config"]
cfg = cfg.decode() if isinstance(cfg, bytes) else cfg
check(cfg.strip() in txt, "checkpoint stores the configuration printed at start")
for a in ("fmtrain_version", "build", "world_size", "created", "step", "format", "format_version", "param_count"):
    check(a in c.attrs, f"checkpoint attribute {a}")
check(c.attrs["world_size"] == 2 and c.attrs["step"] == 60, "world_size 2, step 60")
n = c.attrs["param_count"]
check(all(c[k].shape == (n,) for k in ("params", "adam_m", "adam_v", "ema")), "four buffers of param_count floats")
check(len(c["tensors"]) == 6, "tensor table: 3 layers x (weight, bias)")
log = h5py.File("out/log.h5", "r")
check(list(log["step"][()]) == list(range(10, 61, 10)), "log rows at steps 10..60")
check("config" in log.attrs, "log stores the configuration")
s1, s2, s3 = (h5py.File(f"s{p}.h5", "r") for p in (1, 2, 3))
d = np.max(np.abs(s1["samples"][()] - s2["samples"][()]))
check(d <= 1e-5, f"samples with 1 and 2 ranks agree (max diff {d:.2e})")
check(s2["samples"].shape == (300, 2), "samples N x D")
check(s2["trajectory"].shape == (5, 100, 2), f"trajectory T x NT x D = (5, 100, 2): {s2['trajectory'].shape}")
check(np.allclose(s2["t"][()], [0, 0.25, 0.5, 0.75, 1.0]), "trajectory times")
check(np.array_equal(s2["trajectory"][-1], s2["samples"][:100]), "last frame = final samples")
dt = np.max(np.abs(s1["trajectory"][()] - s2["trajectory"][()]))
check(dt <= 1e-5, f"trajectories with 1 and 2 ranks agree (max diff {dt:.2e})")
check(s3.attrs["nfe"] == 14 and s3["trajectory"].shape == (4, 300, 2), "heun: NFE 2/step; 3 frames after the start")
check(np.allclose(s3["t"][()], [0, 2 / 7, 4 / 7, 1]), "frames at steps k*7//3")
s4, s5 = h5py.File("s4.h5", "r"), h5py.File("s5.h5", "r")
check(s4["trajectory"].shape == (6, 10, 2) and np.allclose(s4["t"][()], np.linspace(0, 1, 6)),
      f"5 steps, default frames: one frame per step, t = {np.round(s4['t'][()], 3).tolist()}")
check(s5["trajectory"].shape == (9, 10, 2) and np.allclose(s5["t"][()], np.linspace(0, 1, 9)),
      "dopri5: 8 frames whatever --steps (5)")
for a in ("solver", "steps", "nfe", "seed", "checkpoint", "t_min", "t_max", "config", "sample_config", "energy_distance",
          "sliced_w2", "grid", "sigma", "nfe_max"):
    check(a in s2.attrs, f"samples attribute {a}")
check(s2["reference"].shape == (2000, 2), "held-out reference stored")
sys.exit(0 if ok else 1)
PY
