#!/usr/bin/env bash
# The demo: a real, short 2-rank flow-matching training on the 2-D "moons" set
# (jobs/moons.ini, about a minute on 2 cores), then sampling with a trajectory and the PNGs.
# Run through `make demo`, which installs what is missing and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=${OUT:-runs/moons}
NP=${NP:-2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

if [ -e "$OUT" ]; then
    echo "demo: removing the previous demo run in $OUT"
    rm -rf "$OUT"
fi
t0=$SECONDS
mpirun -q -np "$NP" "$BUILD/fmtrain" train --config jobs/moons.ini --out "$OUT"
mpirun -q -np "$NP" "$BUILD/fmtrain" sample --ckpt "$OUT" --n 5000 --solver heun --steps 50 \
    --out "$OUT/samples.h5"
"$PYTHON" scripts/plot_loss.py "$OUT/log.h5" -o "$OUT/loss.png"
"$PYTHON" scripts/plot_samples.py "$OUT/samples.h5" -o "$OUT/samples.png"
"$PYTHON" scripts/plot_trajectories.py "$OUT/samples.h5" -o "$OUT/trajectories.png"
echo
echo "demo finished in $((SECONDS - t0)) s. Outputs in $OUT/:"
echo "  checkpoints  $OUT/ckpt-*.h5 (newest: $OUT/latest.h5), training log $OUT/log.h5"
echo "  samples      $OUT/samples.h5 (/samples, /trajectory, /t, /reference)"
echo "  plots        $OUT/loss.png  $OUT/samples.png  $OUT/trajectories.png"
