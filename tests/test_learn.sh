#!/usr/bin/env bash
# Learning: for each objective (velocity, noise), a short 2-rank training
#  - on twopoint (1-D, +-2) yields >= 90% of samples within 0.3 of +-2 and mode balance 50 +- 5%;
#  - on 8gaussians yields an energy distance to held-out data <= 0.02, a bound that pure
#    N(0, I) noise misses by more than 10x (it scores about 0.22).
set -eu
cd "$TMPDIR_TEST"
rc=0
for obj in velocity noise; do
    $MPIRUN -np 2 "$FMTRAIN" --data twopoint --objective $obj --width 64 --depth 2 --steps 1500 \
        --log-every 500 --out learn-tp-$obj
    $MPIRUN -np 2 "$FMTRAIN" sample --ckpt learn-tp-$obj --n 4000 --steps 100 --out learn-tp-$obj.h5
    "$PYTHON" "$OLDPWD/tests/check_samples.py" learn-tp-$obj.h5 --label $obj || rc=1
    $MPIRUN -np 2 "$FMTRAIN" --data 8gaussians --objective $obj --width 128 --depth 3 --steps 2000 \
        --log-every 500 --out learn-g8-$obj
    $MPIRUN -np 2 "$FMTRAIN" sample --ckpt learn-g8-$obj --n 2000 --steps 100 --out learn-g8-$obj.h5
    "$PYTHON" "$OLDPWD/tests/check_samples.py" learn-g8-$obj.h5 --label $obj --max-ed 0.02 || rc=1
done
exit $rc
