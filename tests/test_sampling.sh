#!/usr/bin/env bash
# Samplers, SDE, oracle, likelihood and field error through the command line, on a briefly
# trained 8gaussians flow model:
#  - every ODE solver samples it; dopri5 needs fewer evaluations at a looser tolerance;
#  - Euler-Maruyama samples do not depend on the number of ranks (bit for bit); dopri5 adapts
#    each row on its own, so its samples agree across rank counts to within its tolerance (the
#    batched network's float rounding varies with the number of rows evaluated together, which
#    can flip a step-size decision); the SDE is deterministic for a seed and differs from the ODE;
#  - the oracle (exact field of 6 points) carries N(0, I) onto the points themselves;
#  - nll --oracle: the exact mixture field's NLL through the continuity equation equals the
#    closed-form density; the (briefly trained) model's NLL lies within 1 nat above it; Hutchinson agrees with the exact divergence;
#    bits/dim of continuous data is NLL/(D ln 2);
#  - fielderr, field and the plot scripts run on the real outputs.
set -eu
cd "$TMPDIR_TEST"
S=$OLDPWD/scripts
$MPIRUN -np 2 "$FMTRAIN" --data 8gaussians --width 64 --depth 2 --steps 1500 --log-every 500 --out g8 >/dev/null
for s in euler midpoint heun rk4; do
    $MPIRUN -np 2 "$FMTRAIN" sample --ckpt g8 --n 500 --solver $s --steps 20 --out s-$s.h5 >/dev/null
done
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt g8 --n 500 --solver dopri5 --rtol 1e-3 --atol 1e-3 --traj-n 0 --out s-d3.h5 >/dev/null
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt g8 --n 500 --solver dopri5 --rtol 1e-5 --atol 1e-5 --traj-n 0 --out s-d5.h5 >/dev/null
$MPIRUN -np 1 "$FMTRAIN" sample --ckpt g8 --n 300 --solver dopri5 --rtol 1e-4 --atol 1e-4 --out d-p1.h5 >/dev/null
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt g8 --n 300 --solver dopri5 --rtol 1e-4 --atol 1e-4 --out d-p2.h5 >/dev/null
$MPIRUN -np 1 "$FMTRAIN" sample --ckpt g8 --n 300 --sigma beta:1 --steps 50 --out e-p1.h5 >/dev/null
$MPIRUN -np 3 "$FMTRAIN" sample --ckpt g8 --n 300 --sigma beta:1 --steps 50 --out e-p3.h5 >/dev/null
$MPIRUN -np 3 "$FMTRAIN" sample --ckpt g8 --n 300 --sigma beta:1 --steps 50 --out e-p3b.h5 >/dev/null
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt g8 --n 300 --steps 50 --t-max 0.999 --out ode.h5 >/dev/null
"$PYTHON" -c "
import numpy as np, h5py
z = np.array([[-2, -1], [0, 2], [2, -1], [1.5, 1.5], [-1, 0.5], [0.5, -2]], np.float32)
h5py.File('pts.h5', 'w')['data'] = z"
$MPIRUN -np 2 "$FMTRAIN" oracle --data-file pts.h5 --n 600 --solver rk4 --steps 200 --grid power:2 --t-max 0.9999 \
    --out oracle.h5 >/dev/null
$MPIRUN -np 2 "$FMTRAIN" nll --ckpt g8 --n 300 --oracle --out nll.h5 >/dev/null
$MPIRUN -np 2 "$FMTRAIN" nll --ckpt g8 --n 300 --divergence hutchinson --probes 8 --out nllh.h5 >/dev/null
$MPIRUN -np 2 "$FMTRAIN" fielderr --ckpt g8 --bins 5 --n 400 --n-data 500 --out err.h5 >/dev/null
$MPIRUN -np 1 "$FMTRAIN" field --ckpt g8 --grid-n 11 --oracle-n 100 --out field.h5 >/dev/null
"$PYTHON" "$S/plot_field.py" field.h5 -o field.png >/dev/null
"$PYTHON" "$S/plot_field_error.py" err.h5 -o err.png >/dev/null
"$PYTHON" "$S/plot_nll.py" nll.h5 -o nll.png >/dev/null
"$PYTHON" "$S/plot_samples.py" oracle.h5 -o oracle.png >/dev/null
"$PYTHON" "$S/plot_trajectories.py" e-p3.h5 -o sde.png >/dev/null
"$PYTHON" - <<'PY'
import h5py, numpy as np, sys
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok &= bool(cond)
f = lambda name: h5py.File(name, "r")
for s in ("euler", "midpoint", "heun", "rk4"):
    a = f(f"s-{s}.h5")
    check(np.isfinite(a["samples"][()]).all() and a.attrs["energy_distance"] < 0.05,
          f"{s}: NFE {a.attrs['nfe']}, energy distance {a.attrs['energy_distance']:.4f} (< 0.05), sliced W2 {a.attrs['sliced_w2']:.3f}")
d3, d5 = f("s-d3.h5").attrs["nfe_mean"], f("s-d5.h5").attrs["nfe_mean"]
check(d3 < d5, f"dopri5 mean NFE {d3:.1f} at tol 1e-3 < {d5:.1f} at 1e-5")
dd = np.abs(f("d-p1.h5")["samples"][()] - f("d-p2.h5")["samples"][()]).max()
check(dd <= 1e-4, f"dopri5 samples with 1 and 2 ranks agree within the tolerance 1e-4 (max diff {dd:.1e})")
e1, e3, e3b = (f(n)["samples"][()] for n in ("e-p1.h5", "e-p3.h5", "e-p3b.h5"))
check(np.abs(e1 - e3).max() <= 1e-5, f"SDE samples with 1 and 3 ranks agree (max diff {np.abs(e1 - e3).max():.1e})")
check(np.array_equal(e3, e3b), "SDE deterministic for a seed")
check(np.abs(e3 - f("ode.h5")["samples"][()]).max() > 0.1, "SDE differs from the ODE")
o = f("oracle.h5")["samples"][()]
z = f("pts.h5")["data"][()]
dist = np.sqrt(((o[:, None, :] - z[None]) ** 2).sum(-1))
near = dist.min(1)
hit = np.bincount(dist.argmin(1), minlength=len(z))
check(near.max() < 0.02 and hit.min() > 0,
      f"oracle carries N(0,I) onto the 6 points: max distance {near.max():.2e} (< 0.02), samples per point {hit.tolist()}")
n = f("nll.h5")
mo, mc, mm = n.attrs["mean_nll_oracle"], n.attrs["mean_nll_exact"], n.attrs["mean_nll"]
check(abs(mo - mc) < 1e-3, f"exact field's NLL {mo:.5f} = closed form {mc:.5f} (tol 1e-3)")
# a briefly trained model cannot beat the data density (beyond sampling noise), nor be far off
check(mc - 0.1 < mm < mc + 1.0, f"model NLL {mm:.3f} in (exact - 0.1, exact + 1) nats, exact {mc:.3f}")
check(abs(n.attrs["bits_per_dim"] - mm / (2 * np.log(2))) < 1e-12,
      f"continuous data: {n.attrs['bits_per_dim']:.4f} bits/dim = NLL/(D ln 2)")
diff = f("nllh.h5")["nll"][()] - n["nll"][()]
z_h = diff.mean() / (diff.std(ddof=1) / np.sqrt(len(diff)))
check(abs(z_h) < 4, f"Hutchinson (8 probes) - exact NLL: {diff.mean():+.4f} nats, z = {z_h:+.2f} (|z| < 4)")
e = f("err.h5")
rel = e["err"][()] / e["ref"][()]
check(len(rel) == 5 and (rel[:4] < 0.5).all(), f"field error / exact-field scale per bin: {np.round(rel, 4).tolist()}")
fl = f("field.h5")
check(fl["u"].shape == (5, 11, 11, 2) and fl["u_oracle"].shape == (5, 11, 11, 2), "field shapes")
sys.exit(0 if ok else 1)
PY
