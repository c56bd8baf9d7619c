#!/usr/bin/env bash
# The U-Net against an independent implementation: scripts/unet_torch.py rebuilds the network
# in PyTorch (Debian's python3-torch) from its description, loads the weights fmtrain wrote, and
# compares the prediction, the loss and every parameter tensor's gradient on a fixed batch
# (`fmtrain probe`), in float64 against fmtrain's float32 (tolerance 1e-4 relative to each
# tensor's largest value). Two shapes: 1 x 28 x 28 with three levels and two blocks (skip
# convolutions, strided downsampling, upsampling), and 3 x 32 x 32. The weights are those after
# 5 training steps (so GroupNorm's affine parameters are no longer 1 and 0).
# Skipped (exit 77) when python3-torch is not installed.
set -u
: "${FMTRAIN:?}" "${MPIRUN:?}" "${PYTHON:?}" "${TMPDIR_TEST:?}"
SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$TMPDIR_TEST" || exit 1
"$PYTHON" -c "import torch" 2>/dev/null || { echo "SKIP: python3-torch is not installed (apt-get install python3-torch)"; exit 77; }
"$PYTHON" - <<'PY' || exit 1
import numpy as np
rng = np.random.default_rng(3)
np.save("g28.npy", rng.integers(0, 256, (16, 1, 28, 28), dtype=np.uint8))
np.save("c32.npy", rng.integers(0, 256, (16, 3, 32, 32), dtype=np.uint8))
PY
"$PYTHON" "$SRC/scripts/npy_to_h5.py" g28.npy g28.h5 >/dev/null && "$PYTHON" "$SRC/scripts/npy_to_h5.py" c32.npy c32.h5 >/dev/null || exit 1
fail=0
check() { # name, data file, model flags...
    local name=$1 file=$2; shift 2
    $MPIRUN -np 2 "$FMTRAIN" train --data-file "$file" --model unet "$@" --batch 4 --steps 5 --warmup 0 --lr 1e-2 \
        --out "run-$name" >"train-$name.out" 2>&1 || { echo "FAIL: training $name"; tail -5 "train-$name.out"; return 1; }
    "$FMTRAIN" probe --ckpt "run-$name" --n 3 --out "probe-$name.h5" >"probe-$name.out" 2>&1 ||
        { echo "FAIL: probe $name"; cat "probe-$name.out"; return 1; }
    "$PYTHON" "$SRC/scripts/unet_torch.py" "probe-$name.h5" >"torch-$name.out" 2>&1
    local rc=$?
    grep -E "^(output|loss)" "torch-$name.out"
    sed -n "s/^RESULT unet_torch:/RESULT unet_torch $name:/p" "torch-$name.out"
    [ "$rc" -eq 0 ] || { echo "FAIL: $name"; cat "torch-$name.out"; }
    return $rc
}
check 1x28x28 g28.h5 --channels 8 --mult 1,2,2 --blocks 2 --groups 4 || fail=$((fail + 1))
check 3x32x32 c32.h5 --channels 8 --mult 1,2 --blocks 1 --groups 2 --temb 8 --objective noise || fail=$((fail + 1))
[ "$fail" -eq 0 ]
