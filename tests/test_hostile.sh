#!/usr/bin/env bash
# Hostile files fail cleanly: damaged and lying copies of a real checkpoint (from a tiny training
# run) and of real data set files (written by scripts/npy_to_h5.py), made by tests/make_hostile.py.
# As in test_badinput, for every case fmtrain (under mpirun) must
#   - exit non-zero, and not by the mpirun timeout (110 = a hang),
#   - print exactly ONE "fmtrain: error:" line naming the problem (the case's keyword),
#   - not crash or abort (no signal, no MPI_ABORT, no "[rank r] file.c:N:" fatal check, no
#     sanitizer report),
#   - leave the good run and every hostile file and run directory byte-identical.
# Ends with "RESULT hostile: N cases passed, M failed"; each failing case prints its output.
set -u
TESTS=$(cd "$(dirname "$0")" && pwd)
: "${FMTRAIN:?}" "${MPIRUN:?}" "${PYTHON:?}" "${TMPDIR_TEST:?}"
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=$TMPDIR_TEST/hostile
H=$W/h # the hostile files
CASE_TIMEOUT=${CASE_TIMEOUT:-60} # per launch; the last --timeout given to mpirun wins
TINY=(--width 16 --depth 1 --temb 4 --batch 8 --steps 5 --warmup 0 --log-every 1 --ckpt-every 5)
DTINY=(--width 8 --depth 1 --temb 4 --batch 4 --steps 2 --warmup 0 --log-every 1 --ckpt-every 2)
mkdir -p "$W" && cd "$W" || exit 1
export OMPI_MCA_odls_base_sigkill_timeout=0

# shellcheck source=tests/expect_error.sh
source "$TESTS/expect_error.sh"

fingerprint() { # dir: names, types, sizes, link targets and contents
    (cd "$1" && find . -printf '%p %y %s %l\n' | sort && find . -type f -exec md5sum {} + | sort)
}

# ---------------------------------------------------------------- setup: good files, hostile copies
setup() {
    $MPIRUN -np 2 "$FMTRAIN" train "${TINY[@]}" --out run >setup-run.out 2>&1 || return 1
    "$PYTHON" - <<'PY' || return 1
import numpy as np
rng = np.random.default_rng(0)
np.save("img.npy", rng.integers(0, 256, (12, 1, 4, 4), dtype=np.uint8))
np.save("lab.npy", (np.arange(12) % 3).astype(np.int64))
np.save("arr.npy", rng.normal(size=(12, 3)).astype(np.float32))
PY
    "$PYTHON" "$SRC/scripts/npy_to_h5.py" img.npy img.h5 --labels lab.npy --num-classes 3 >>setup-run.out 2>&1 &&
        "$PYTHON" "$SRC/scripts/npy_to_h5.py" arr.npy arr.h5 >>setup-run.out 2>&1 || return 1
    # the good files are good: training on each works
    $MPIRUN -np 2 "$FMTRAIN" train "${DTINY[@]}" --data-file img.h5 --out good-img >>setup-run.out 2>&1 &&
        $MPIRUN -np 2 "$FMTRAIN" train "${DTINY[@]}" --data-file arr.h5 --out good-arr >>setup-run.out 2>&1 || return 1
    "$PYTHON" "$SRC/tests/make_hostile.py" --ckpt run/ckpt-00000005.h5 --images img.h5 --array arr.h5 --out "$H" \
        >>setup-run.out 2>&1 || return 1
    mkfifo "$H/d_fifo.h5"
}
if ! setup; then
    echo "setup failed"; cat setup-run.out
    echo "RESULT hostile: 0 cases passed, 1 failed"; exit 1
fi
tail -1 setup-run.out
run_before=$(fingerprint run)
hostile_before=$(fingerprint "$H")

# ---------------------------------------------------------------- data set files (train --data-file)
data_case() { # name keyword [np]
    expect_error "$1" "$2" "${3:-2}" train "${DTINY[@]}" --data-file "$H/$1.h5" --out "dm-$1"
}
data_case d_trunc_superblock      d_trunc_superblock.h5
data_case d_trunc_10              d_trunc_10.h5
data_case d_trunc_50              d_trunc_50.h5 1
data_case d_trunc_last_byte       d_trunc_last_byte.h5
data_case d_images_float64        uint8
data_case d_images_int8           uint8
data_case d_images_string         uint8
data_case d_data_int32            "floating point"
data_case d_data_string           "floating point"
data_case d_images_group          "not a dataset"
data_case d_images_rank5          "rank 5"
data_case d_data_rank1            "rank 1"
data_case d_images_zero_width     "item size"
data_case d_data_d0               "item size"
data_case d_images_2p40           claims
data_case d_data_2p40             claims
data_case d_images_size_t_overflow "item size"
data_case d_images_int_overflow   "item size"
data_case d_data_huge_chunk       chunk
data_case d_images_unwritten      "never written"
data_case d_images_gzip           filter
data_case d_attr_shape            shape
data_case d_attr_count            count
data_case d_attr_count_array      count
data_case d_attr_format           format
data_case d_attr_format_version   format_version
data_case d_attr_format_version_str format_version
data_case d_attr_kind             kind
data_case d_attr_num_classes_str  num_classes
data_case d_attr_num_classes_zero num_classes
data_case d_labels_float          /labels
data_case d_labels_2d             /labels
data_case d_labels_2p40           /labels
data_case d_data_inf              non-finite
data_case d_fifo                  "regular file"
# points read whole (fm_read_matrix) by nll and fielderr
expect_error m_2p40_nll           claims       2 nll --ckpt run --data-file "$H/m_2p40.h5" --n 10 --out n.h5
expect_error m_overflow_fielderr  shape        2 fielderr --ckpt run --data-file "$H/m_overflow.h5" --n 10 --out e.h5
expect_error m_inf_nll            non-finite   2 nll --ckpt run --data-file "$H/m_inf.h5" --n 10 --out n.h5

# ---------------------------------------------------------------- checkpoints (sample, nll, field)
S=(--n 10 --reference 0 --traj-n 0 --out s.h5)
expect_error c_empty              c_empty.h5            2 sample --ckpt "$H/c_empty.h5" "${S[@]}"
expect_error c_trunc_superblock   c_trunc_superblock.h5 2 sample --ckpt "$H/c_trunc_superblock.h5" "${S[@]}"
expect_error c_trunc_10_nll       c_trunc_10.h5         2 nll --ckpt "$H/c_trunc_10.h5" --n 10 --out n.h5
expect_error c_trunc_50_field     c_trunc_50.h5         1 field --ckpt "$H/c_trunc_50.h5" --out f.h5
expect_error c_trunc_90_raw       c_trunc_90.h5         2 sample --ckpt "$H/c_trunc_90.h5" --weights raw "${S[@]}"
expect_error c_trunc_last_byte    c_trunc_last_byte.h5  2 sample --ckpt "$H/c_trunc_last_byte.h5" "${S[@]}"
expect_error c_version_999        "format version 999"  2 sample --ckpt "$H/c_version_999.h5" "${S[@]}"
expect_error c_version_1_nll      "format version 1"    2 nll --ckpt "$H/c_version_1.h5" --n 10 --out n.h5
expect_error c_version_str        format_version        2 sample --ckpt "$H/c_version_str.h5" "${S[@]}"
expect_error c_format_int         "not an fmtrain checkpoint" 2 sample --ckpt "$H/c_format_int.h5" "${S[@]}"
expect_error c_config_missing     config                2 sample --ckpt "$H/c_config_missing.h5" "${S[@]}"
expect_error c_config_garbage_nll configuration         2 nll --ckpt "$H/c_config_garbage.h5" --n 10 --out n.h5
expect_error c_config_1mb         config                2 sample --ckpt "$H/c_config_1mb.h5" "${S[@]}"
expect_error c_config_unknown_key_field flux-capacitor  1 field --ckpt "$H/c_config_unknown_key.h5" --out f.h5
expect_error c_config_width       parameters            2 sample --ckpt "$H/c_config_width.h5" "${S[@]}"
expect_error c_config_array       config                2 sample --ckpt "$H/c_config_array.h5" "${S[@]}"
expect_error c_config_huge_model  claims                2 sample --ckpt "$H/c_config_huge_model.h5" "${S[@]}"
expect_error c_params_int32       float32               2 sample --ckpt "$H/c_params_int32.h5" "${S[@]}"
expect_error c_params_float64     float32               2 sample --ckpt "$H/c_params_float64.h5" --weights raw "${S[@]}"
expect_error c_params_short       /params               2 sample --ckpt "$H/c_params_short.h5" "${S[@]}"
expect_error c_params_long_nll    /params               2 nll --ckpt "$H/c_params_long.h5" --n 10 --out n.h5
expect_error c_params_empty_field /params               1 field --ckpt "$H/c_params_empty.h5" --out f.h5
expect_error c_params_2d          /params               2 sample --ckpt "$H/c_params_2d.h5" "${S[@]}"
expect_error c_params_unwritten   /params               2 sample --ckpt "$H/c_params_unwritten.h5" --weights raw "${S[@]}"
expect_error c_params_nan         non-finite            2 sample --ckpt "$H/c_params_nan.h5" "${S[@]}"
expect_error c_ema_inf_field      non-finite            1 field --ckpt "$H/c_ema_inf.h5" --out f.h5
expect_error c_param_count_huge   param_count           2 sample --ckpt "$H/c_param_count_huge.h5" "${S[@]}"
expect_error c_step_negative      step                  2 sample --ckpt "$H/c_step_negative.h5" "${S[@]}"
expect_error c_step_huge_nll      step                  2 nll --ckpt "$H/c_step_huge.h5" --n 10 --out n.h5
expect_error c_step_array         step                  2 sample --ckpt "$H/c_step_array.h5" "${S[@]}"
expect_error l_dangling           "does not exist"      2 sample --ckpt "$H/l_dangling/latest.h5" "${S[@]}"
expect_error l_to_log             "not an fmtrain checkpoint" 2 sample --ckpt "$H/l_to_log/latest.h5" "${S[@]}"

# ---------------------------------------------------------------- checkpoints (train --resume)
expect_error r_no_adam_m          adam_m                2 train "${TINY[@]}" --steps 10 --resume --out "$H/r_no_adam_m"
expect_error r_version_999        "format version 999"  2 train "${TINY[@]}" --steps 10 --resume --out "$H/r_version_999"
expect_error r_trunc_50           "no checkpoint"       2 train "${TINY[@]}" --steps 10 --resume --out "$H/r_trunc_50"
expect_error r_step_huge          step                  2 train "${TINY[@]}" --steps 10 --resume --out "$H/r_step_huge"

# ---------------------------------------------------------------- nothing was changed
[ "$run_before" = "$(fingerprint run)" ] && record good_run_untouched "" ||
    record good_run_untouched "the good run's files changed"
hostile_after=$(fingerprint "$H")
if [ "$hostile_before" = "$hostile_after" ]; then
    record hostile_files_untouched ""
else
    diff <(echo "$hostile_before") <(echo "$hostile_after") >hostile.diff
    record hostile_files_untouched "a hostile file or run directory changed" hostile.diff
fi

echo "RESULT hostile: $pass cases passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "failed cases: ${failed[*]}"; exit 1; }
