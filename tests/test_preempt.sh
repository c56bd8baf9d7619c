#!/usr/bin/env bash
# Preemption: SIGUSR1 to mpirun (as Slurm's --signal=B:USR1@lead does through the batch
# script) reaches the ranks; they agree at a step boundary, write a checkpoint of that step and
# exit with code 3; --auto-resume then finishes the run, and the final parameters, Adam moments
# and EMA equal those of an unbroken run bit for bit. --auto-resume on an empty directory
# starts afresh.
set -eu
cd "$TMPDIR_TEST"
C="--data spirals --width 128 --depth 3 --batch 256 --steps 3000 --log-every 50 --ckpt-every 10000"
$MPIRUN -np 2 "$FMTRAIN" $C --out straight >straight.txt
$MPIRUN -np 2 "$FMTRAIN" $C --out run >run.txt 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q "^step  *200/" run.txt 2>/dev/null && break; sleep 0.05; done
kill -USR1 "$pid"
set +e
wait "$pid"
rc=$?
set -e
echo "exit code after SIGUSR1: $rc"
[ "$rc" -eq 3 ] || { echo "FAIL: expected exit code 3"; cat run.txt; exit 1; }
[ "$(grep -c 'caught signal' run.txt)" -eq 1 ] || { echo "FAIL: expected one 'caught signal' line"; exit 1; }
stop=$(sed -n 's/.*stopped after step \([0-9]*\).*/\1/p' run.txt)
[ "$(readlink run/latest.h5)" = "$(printf 'ckpt-%08d.h5' "$stop")" ] || { echo "FAIL: latest.h5 is not the step-$stop checkpoint"; exit 1; }
$MPIRUN -np 2 "$FMTRAIN" $C --out run --auto-resume >resume.txt
grep -q "resumed from run/$(printf 'ckpt-%08d.h5' "$stop") at step $stop" resume.txt
$MPIRUN -np 2 "$FMTRAIN" $C --steps 20 --out fresh --auto-resume >fresh.txt
grep -q "^done: 20 steps" fresh.txt
"$PYTHON" - "$stop" <<'PY'
import h5py, numpy as np, sys
stop = int(sys.argv[1])
a, b = h5py.File("straight/ckpt-00003000.h5", "r"), h5py.File("run/ckpt-00003000.h5", "r")
same = all(np.array_equal(a[k][()], b[k][()]) for k in ("params", "adam_m", "adam_v", "ema"))
print(f"RESULT preempt: stopped by SIGUSR1 after step {stop} (exit 3, checkpoint written), resumed: "
      f"final state {'bit-identical to' if same else 'DIFFERENT from'} the unbroken run")
sys.exit(0 if same and 0 < stop < 3000 else 1)
PY
