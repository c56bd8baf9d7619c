#!/usr/bin/env bash
# Resume is exact: 200 steps straight versus 100 steps + --resume + 100 steps give
# bit-identical parameters, Adam moments and EMA (2 ranks), and a continuous log.
set -eu
cd "$TMPDIR_TEST"
common="--data spirals --objective noise --width 32 --depth 2 --batch 32 --log-every 10 --warmup 20"
$MPIRUN -np 2 "$FMTRAIN" $common --steps 200 --ckpt-every 100 --out straight >/dev/null
$MPIRUN -np 2 "$FMTRAIN" $common --steps 100 --ckpt-every 100 --out split >/dev/null
out=$($MPIRUN -np 2 "$FMTRAIN" $common --steps 200 --ckpt-every 100 --out split --resume)
grep -q "resumed from" <<<"$out"
# the options that changed since the checkpoint are named, with both values (and nothing else)
note=$(grep "options changed since the checkpoint" <<<"$out")
[ "$note" = "resuming with options changed since the checkpoint: steps 100 -> 200" ] ||
    { echo "FAIL resume: the note of changed options reads: '$note'"; exit 1; }
"$PYTHON" - <<'PY'
import h5py, numpy as np, sys
a = h5py.File("straight/ckpt-00000200.h5", "r")
b = h5py.File("split/ckpt-00000200.h5", "r")
ok = a.attrs["step"] == b.attrs["step"] == 200
for name in ("params", "adam_m", "adam_v", "ema"):
    same = np.array_equal(a[name][()].view(np.uint32), b[name][()].view(np.uint32))
    print(f"RESULT resume: {name}: {'bit-identical' if same else 'DIFFERENT'} ({a[name].shape[0]} values)")
    ok &= same
# the resumed run's parameters moved since step 100 (guards against comparing nothing)
c = h5py.File("split/ckpt-00000100.h5", "r")
ok &= not np.array_equal(c["params"][()], b["params"][()])
la, lb = h5py.File("straight/log.h5", "r"), h5py.File("split/log.h5", "r")
steps_ok = np.array_equal(la["step"][()], lb["step"][()]) and np.array_equal(la["loss"][()], lb["loss"][()])
print(f"RESULT resume: log steps and losses {'identical' if steps_ok else 'DIFFERENT'} ({len(lb['step'])} rows)")
sys.exit(0 if ok and steps_ok else 1)
PY
