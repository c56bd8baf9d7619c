#!/usr/bin/env bash
# Bad input fails cleanly: for every case below, fmtrain (under mpirun, mostly 2 ranks) must
#   - exit non-zero, and not by the mpirun timeout (110 = a hang); cases run with WANT_RC=2 must
#     exit 2 (a usage error, FM_EXIT_USAGE),
#   - print exactly ONE "fmtrain: error:" line (not one per rank) naming the problem
#     (it must contain the case's keyword, e.g. the offending value),
#   - not crash or abort (no signal, no MPI_ABORT, no "[rank r] file.c:N:" fatal check),
#   - leave existing checkpoints byte-identical (md5sum of the good run before and after).
# A good tiny run is made first, to have checkpoints to resume from, refuse and corrupt.
# Ends with "RESULT badinput: N cases passed, M failed"; each failing case prints its output.
set -u
TESTS=$(cd "$(dirname "$0")" && pwd)
: "${FMTRAIN:?}" "${MPIRUN:?}" "${PYTHON:?}" "${TMPDIR_TEST:?}"
W=$TMPDIR_TEST/badinput
CASE_TIMEOUT=${CASE_TIMEOUT:-60} # per launch; the last --timeout given to mpirun wins
TINY=(--width 16 --depth 1 --temb 4 --batch 8 --steps 5 --warmup 0 --log-every 1 --ckpt-every 5)
mkdir -p "$W" && cd "$W" || exit 1
# a failing rank makes mpirun kill the job after odls_base_sigkill_timeout (1 s by default): skip the wait
export OMPI_MCA_odls_base_sigkill_timeout=0

# shellcheck source=tests/expect_error.sh
source "$TESTS/expect_error.sh"

# Everything that identifies the good run's files: names, types, sizes and contents.
fingerprint() { # dir
    (cd "$1" && find . -printf '%p %y %s %l\n' | sort && find . -type f -exec md5sum {} + | sort)
}

# ---------------------------------------------------------------- setup: good runs and damaged copies
setup_ok=1
$MPIRUN -np 2 "$FMTRAIN" train "${TINY[@]}" --out run >setup-run.out 2>&1 || setup_ok=0
$MPIRUN -np 2 "$FMTRAIN" train "${TINY[@]}" --objective noise --out noise >setup-noise.out 2>&1 || setup_ok=0
CKPT=run/ckpt-00000005.h5
if [ "$setup_ok" -ne 1 ] || [ ! -f "$CKPT" ] || [ ! -f noise/ckpt-00000005.h5 ]; then
    echo "setup: the good tiny runs failed"; cat setup-run.out setup-noise.out
    echo "RESULT badinput: 0 cases passed, 1 failed"; exit 1
fi
before=$(fingerprint run)

head -c 1000 "$CKPT" >trunc.h5
mkdir -p truncdir && head -c 1000 "$CKPT" >truncdir/ckpt-00000005.h5
echo "this is not an HDF5 file" >notes.h5
cp "$CKPT" noparams.h5
mkdir -p noparamsdir
"$PYTHON" - <<'PY' || { echo "setup: h5py failed"; echo "RESULT badinput: 0 cases passed, 1 failed"; exit 1; }
import h5py, shutil
with h5py.File("noparams.h5", "r+") as f:
    del f["params"]
shutil.copy("noparams.h5", "noparamsdir/ckpt-00000005.h5")
PY
printf 'width = 16\nthis line has no equals sign\n' >malformed.ini
printf '[train]\nwidht = 16\n' >unknownkey.ini
printf 'steps = 12x\n' >badvalue.ini
echo "a file, not a directory" >afile

# ---------------------------------------------------------------- command line
expect_error unknown_flag          bogus-flag   2 train --bogus-flag 1
expect_error unknown_flag_np1      bogus-flag   1 train --bogus-flag 1
expect_error unknown_flag_default  bogus-flag   2 --bogus-flag 1          # no subcommand = train
expect_error missing_value         steps        2 train "${TINY[@]}" --out mv --steps
expect_error positional            stray        2 train --width 16 stray
expect_error unknown_command       trian        2 trian --steps 5
expect_error unknown_command_np1   trian        1 trian
expect_error malformed_int         12x          2 train --steps 12x
expect_error malformed_double      0.1.2        2 train --lr 0.1.2
expect_error malformed_bool        maybe        2 train --resume maybe
expect_error lr_negative           lr           2 train --lr -1
expect_error steps_zero            steps        2 train --steps 0
expect_error batch_zero            batch        2 train --batch 0
expect_error width_zero            width        2 train --width 0
expect_error depth_too_big         depth        2 train --depth 1000
expect_error temb_odd              embedding    2 train "${TINY[@]}" --temb 3 --out odd
expect_error microbatch_nodiv      micro-batch  2 train "${TINY[@]}" --micro-batch 3 --out mb
expect_error batch_over_ranks      "batch 5"    2 train "${TINY[@]}" --batch 5 --out b5
expect_error batch_over_ranks_3    "batch 8"    3 train "${TINY[@]}" --out b8
expect_error warmup_negative       warmup       2 train "${TINY[@]}" --warmup -1 --out wu
expect_error unknown_data          moonz        2 train "${TINY[@]}" --data moonz --out x1
expect_error unknown_objective     velocityx    2 train "${TINY[@]}" --objective velocityx --out x2
expect_error objective_data        data         2 train "${TINY[@]}" --objective data --out x3
expect_error unknown_path          linear       2 train "${TINY[@]}" --path linear --out x4
expect_error path_poly_abc         poly:abc     2 train "${TINY[@]}" --path poly:abc --out x5
expect_error path_poly_negative    poly:-1      2 train "${TINY[@]}" --path poly:-1 --out x6
expect_error unknown_model         transformer  2 train "${TINY[@]}" --model transformer --out x7
expect_error unknown_lr_schedule   lr-schedule  2 train "${TINY[@]}" --lr-schedule step --out x8
expect_error unknown_t_dist        t-dist       2 train "${TINY[@]}" --t-dist beta --out x9
expect_error score_t_eps_zero      t-eps        2 train "${TINY[@]}" --objective score --t-eps 0 --out x10
expect_error out_is_a_file         afile        2 train "${TINY[@]}" --out afile
expect_error data_and_data_file    "give one"   2 train "${TINY[@]}" --data 8gaussians --data-file img_ok.h5 --out x11
expect_error model_over_memory     memory       2 train "${TINY[@]}" --width 65536 --depth 31 --out huge
expect_error batch_over_memory     memory       2 train "${TINY[@]}" --batch 1000000000000 --out huge
expect_error string_too_long       model        2 train --model "$(printf 'm%.0s' {1..40})"
expect_error out_empty             "output directory" 2 train "${TINY[@]}" --out ""

# ---------------------------------------------------------------- config files
expect_error config_malformed      malformed.ini  2 train --config malformed.ini
expect_error config_malformed_np1  malformed.ini  1 train --config malformed.ini
expect_error config_unknown_key    widht          2 train --config unknownkey.ini
expect_error config_bad_value      12x            2 train --config badvalue.ini
expect_error config_missing        nope.ini       2 train --config nope.ini
expect_error config_no_name        config         2 train --config

# ---------------------------------------------------------------- resume and existing runs
mkdir -p empty
expect_error resume_no_checkpoint  "no checkpoint" 2 train "${TINY[@]}" --resume --out empty
expect_error resume_other_width    width        2 train "${TINY[@]}" --width 32 --steps 10 --resume --out run
expect_error resume_other_data     spirals      2 train "${TINY[@]}" --data spirals --steps 10 --resume --out run
expect_error resume_beyond_steps   step         2 train "${TINY[@]}" --steps 3 --resume --out run
expect_error resume_no_params      "no checkpoint" 2 train "${TINY[@]}" --resume --out noparamsdir
expect_error fresh_into_existing   "already holds" 2 train "${TINY[@]}" --out run
expect_error fresh_into_existing_np1 "already holds" 1 train "${TINY[@]}" --out run
after=$(fingerprint run)
if [ "$before" = "$after" ]; then
    record checkpoints_untouched ""
else
    diff <(echo "$before") <(echo "$after") >fingerprint.diff
    record checkpoints_untouched "the good run's files changed" fingerprint.diff
fi

# ---------------------------------------------------------------- sample
expect_error sample_missing_ckpt   nope.h5      2 sample --ckpt nope.h5 --out s.h5
expect_error sample_missing_np1    nope.h5      1 sample --ckpt nope.h5 --out s.h5
expect_error sample_no_ckpt        ckpt         2 sample --out s.h5
expect_error sample_truncated      trunc.h5     2 sample --ckpt trunc.h5 --out s.h5
expect_error sample_truncated_dir  "no checkpoint" 2 sample --ckpt truncdir --out s.h5
expect_error sample_not_hdf5       notes.h5     2 sample --ckpt notes.h5 --out s.h5
expect_error sample_no_params      params       2 sample --ckpt noparams.h5 --out s.h5
expect_error sample_no_params_raw  params       2 sample --ckpt noparams.h5 --weights raw --out s.h5
expect_error sample_weights_bogus  bogus        2 sample --ckpt run --weights bogus --out s.h5
expect_error sample_unknown_solver rk9          2 sample --ckpt run --solver rk9 --out s.h5
expect_error sample_noise_t_min_0  t-min        2 sample --ckpt noise --t-min 0 --out s.h5
expect_error sample_t_range        t-max        2 sample --ckpt run --t-min 0.6 --t-max 0.5 --out s.h5
expect_error sample_n_zero         "--n"        2 sample --ckpt run --n 0 --out s.h5
expect_error sample_unknown_flag   bogus        2 sample --ckpt run --bogus 1
expect_error sample_out_no_dir     no-such-dir  2 sample --ckpt run --n 10 --reference 0 --out no-such-dir/s.h5
# samplers, SDE, oracle and likelihood (the second issue's corpus)
"$PYTHON" -c "import h5py, numpy as np; h5py.File('pts3.h5', 'w')['data'] = np.zeros((5, 3), np.float32)"
expect_error sample_steps_zero     "--steps"    2 sample --ckpt run --steps 0 --out s.h5
expect_error sample_rtol_zero      "--rtol"     2 sample --ckpt run --solver dopri5 --rtol 0 --out s.h5
expect_error sample_atol_negative  "--atol"     2 sample --ckpt run --solver dopri5 --atol -1e-3 --out s.h5
expect_error sample_sigma_negative "const:-1"   2 sample --ckpt run --sigma const:-1 --out s.h5
expect_error sample_sigma_junk     "beta:x"     2 sample --ckpt run --sigma beta:x --out s.h5
expect_error sample_sde_heun       "euler"      2 sample --ckpt run --sigma beta:1 --solver heun --out s.h5
expect_error sample_sde_t_max_1    "t-max"      2 sample --ckpt run --sigma const:1 --t-max 1 --out s.h5
expect_error sample_bad_grid       "power:0"    2 sample --ckpt run --grid power:0 --out s.h5
expect_error sample_wrong_objective "noise"     2 sample --ckpt run --objective noise --out s.h5
expect_error oracle_file_missing   nope.h5      2 oracle --data-file nope.h5 --out o.h5
expect_error oracle_t_max_1        "t-max"      2 oracle --t-max 1 --out o.h5
expect_error fielderr_dim_mismatch "dimension"  2 fielderr --ckpt run --data-file pts3.h5 --out e.h5
expect_error nll_dim_mismatch      "dimension"  2 nll --ckpt run --data-file pts3.h5 --out n.h5
expect_error nll_divergence_bogus  bogus        2 nll --ckpt run --divergence bogus --out n.h5
expect_error nll_hutchinson_dopri5 hutchinson   2 nll --ckpt run --divergence hutchinson --solver dopri5 --out n.h5
WANT_RC=2 expect_error nll_oracle_no_density "--oracle" 2 nll --ckpt run --oracle --out n.h5
expect_error nll_noise_t0_zero     t0           2 nll --ckpt noise --t0 0 --out n.h5
expect_error field_out_is_ckpt     ckpt         1 field --ckpt run --out run/ckpt-00000005.h5
# evaluation and sampling options that used to pass unchecked (each must be a usage error)
WANT_RC=2 expect_error fielderr_t_range      "--t-max 0.02 must exceed" 2 fielderr --ckpt noise --bins 5 --n 50 --t-max 0.02 --out e.h5
WANT_RC=2 expect_error field_times_empty     "--times"     2 field --ckpt run --times "" --out f.h5
WANT_RC=2 expect_error field_times_trailing  "--times"     2 field --ckpt run --times 0.5, --out f.h5
WANT_RC=2 expect_error sample_objective_unknown "unknown objective 'banana'" 2 sample --ckpt run --objective banana --out s.h5
WANT_RC=2 expect_error sample_frames_over_steps "--frames 30" 2 sample --ckpt run --frames 30 --steps 10 --out s.h5
WANT_RC=2 expect_error oracle_frames_over_steps "--frames 30" 2 oracle --frames 30 --steps 10 --out o.h5
WANT_RC=2 expect_error sample_grid_power_below_1 "power:0.5" 2 sample --ckpt run --grid power:0.5 --out s.h5
# the help of nll --oracle names every data set with a closed-form density
$MPIRUN -np 1 "$FMTRAIN" nll --help >nll_help.out 2>&1
grep -- '--oracle' nll_help.out | grep -q 8gaussians && grep -- '--oracle' nll_help.out | grep -q twopoint &&
    record nll_oracle_help "" || record nll_oracle_help "the --oracle help does not name 8gaussians and twopoint" nll_help.out
# data set files (the image issue's corpus)
"$PYTHON" - <<'PY'
import h5py, numpy as np
def mk(name, **dsets):
    with h5py.File(name, "w") as f:
        for k, v in dsets.items():
            f[k] = v
mk("img_ok.h5", images=np.zeros((6, 1, 4, 4), np.uint8))
mk("img_other.h5", images=np.zeros((6, 1, 5, 5), np.uint8))
mk("img_int16.h5", images=np.zeros((6, 1, 4, 4), np.int16))
mk("img_rank3.h5", images=np.zeros((6, 4, 4), np.uint8))
mk("img_empty.h5", images=np.zeros((0, 1, 4, 4), np.uint8))
mk("img_nodata.h5", pixels=np.zeros((6, 16), np.uint8))
mk("img_labels.h5", images=np.zeros((6, 1, 4, 4), np.uint8), labels=np.array([0, 1, 2, 3, 4, -1], np.int32))
mk("img_labels_n.h5", images=np.zeros((6, 1, 4, 4), np.uint8), labels=np.zeros(5, np.int32))
with h5py.File("img_labels_k.h5", "w") as f:
    f["images"] = np.zeros((6, 1, 4, 4), np.uint8); f["labels"] = np.array([0, 1, 2, 3, 4, 5], np.int32); f.attrs["num_classes"] = 5
x = np.zeros((6, 3), np.float32); x[4, 1] = np.nan
mk("arr_nan.h5", data=x)
mk("arr_ok.h5", data=np.zeros((6, 3), np.float32))
open("notes.txt", "w").write("not hdf5")
PY
DTINY=(--width 8 --depth 1 --temb 4 --batch 4 --steps 2 --warmup 0 --log-every 1 --ckpt-every 2)
expect_error data_missing          nope.h5          2 train "${DTINY[@]}" --data-file nope.h5 --out dm
expect_error data_not_hdf5         notes.txt        2 train "${DTINY[@]}" --data-file notes.txt --out dm
expect_error data_no_dataset       "/images"        2 train "${DTINY[@]}" --data-file img_nodata.h5 --out dm
expect_error data_wrong_dtype      uint8            2 train "${DTINY[@]}" --data-file img_int16.h5 --out dm
expect_error data_wrong_rank       rank             2 train "${DTINY[@]}" --data-file img_rank3.h5 --out dm
expect_error data_empty            "N = 0"          2 train "${DTINY[@]}" --data-file img_empty.h5 --out dm
expect_error data_nan              non-finite       2 train "${DTINY[@]}" --data-file arr_nan.h5 --out dm
expect_error data_label_negative   "label -1"       2 train "${DTINY[@]}" --data-file img_labels.h5 --out dm
expect_error data_label_count      "/labels"        2 train "${DTINY[@]}" --data-file img_labels_n.h5 --out dm
expect_error data_label_range      "label 5"        2 train "${DTINY[@]}" --data-file img_labels_k.h5 --out dm
expect_error data_hflip_array      hflip            2 train "${DTINY[@]}" --data-file arr_ok.h5 --hflip --out dm
expect_error data_dequantize_toy   dequantize       2 train "${DTINY[@]}" --dequantize --out dm
# the U-Net: images only, shapes it can halve, groups that divide the channels, well-formed --mult
UT=(--model unet --channels 4 --blocks 1 --groups 2 --batch 4 --steps 2 --warmup 0)
expect_error unet_toy_data         "image data set" 2 train "${UT[@]}" --data moons --out du
expect_error unet_float_data       "/data"          2 train "${UT[@]}" --data-file arr_ok.h5 --out du
expect_error unet_levels_5x5       "not divisible"  2 train "${UT[@]}" --data-file img_other.h5 --mult 1,2 --out du
expect_error unet_levels_4x4       "not divisible"  2 train "${UT[@]}" --data-file img_ok.h5 --mult 1,1,1,1 --out du
expect_error unet_groups           "--groups 3"     2 train "${UT[@]}" --data-file img_ok.h5 --mult 1,2 --groups 3 --out du
expect_error unet_mult_malformed   "--mult"         2 train "${UT[@]}" --data-file img_ok.h5 --mult 1,,2 --out du
expect_error unet_mult_zero        "--mult"         2 train "${UT[@]}" --data-file img_ok.h5 --mult 0 --out du
expect_error unet_mult_levels      "at most 6"      2 train "${UT[@]}" --data-file img_ok.h5 --mult 1,1,1,1,1,1,1 --out du
expect_error unet_model_unknown    "convnet"        2 train "${UT[@]}" --data-file img_ok.h5 --model convnet --out du
expect_error unet_channels_zero    channels         2 train "${UT[@]}" --data-file img_ok.h5 --channels 0 --out du
if $MPIRUN -np 2 "$FMTRAIN" train "${DTINY[@]}" --data-file img_ok.h5 --out dimg >dimg.out 2>&1; then
    expect_error data_shape_mismatch  parameters    2 train "${DTINY[@]}" --data-file img_other.h5 --steps 4 --out dimg --resume
else
    record data_shape_mismatch "setup: training on img_ok.h5 failed" dimg.out
fi
after=$(fingerprint run)
[ "$before" = "$after" ] && record checkpoints_untouched_after_sample "" ||
    record checkpoints_untouched_after_sample "the good run's files changed"

# sampling must not write its output over the checkpoint it reads (done on a copy of the run)
cp -r run victim
victim_before=$(fingerprint victim)
expect_error sample_out_is_ckpt    ckpt-00000005.h5 2 sample --ckpt victim --n 10 --reference 0 --out victim/ckpt-00000005.h5
# nor over the run's training log, a data set file or another command's output, and every output
# command checks its --out before the work
"$PYTHON" -c 'import h5py, numpy as np; f = h5py.File("set.h5", "w"); f["data"] = np.zeros((4, 2), "f4"); f.attrs["format"] = "fmtrain-dataset"'
set_before=$(md5sum set.h5)
expect_error sample_out_is_log     fmtrain-log      2 sample --ckpt victim --n 10 --reference 0 --out victim/log.h5
expect_error nll_out_is_log        fmtrain-log      2 nll --ckpt victim --n 10 --out victim/log.h5
expect_error probe_out_is_log      fmtrain-log      1 probe --ckpt victim --out victim/log.h5
expect_error sample_out_is_dataset fmtrain-dataset  2 sample --ckpt victim --n 10 --reference 0 --out set.h5
expect_error sample_out_is_dir     directory        2 sample --ckpt victim --n 10 --reference 0 --out victim
expect_error fielderr_out_no_dir   no-such-dir      2 fielderr --ckpt victim --n 10 --out no-such-dir/e.h5
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt victim --n 10 --reference 0 --out samples-kind.h5 >/dev/null 2>&1
expect_error nll_out_is_samples    fmtrain-samples  2 nll --ckpt victim --n 10 --out samples-kind.h5
# a second training into the directory of one that runs is refused at once (the run's lock)
$MPIRUN -np 1 "$FMTRAIN" train "${TINY[@]}" --steps 100000000 --ckpt-every 100000000 --out busy >busy.out 2>&1 &
busy=$!
for _ in $(seq 100); do [ -f busy/log.h5 ] && break; sleep 0.1; done
expect_error out_in_use            "in use"         1 train "${TINY[@]}" --out busy
expect_error out_in_use_resume     "in use"         1 train "${TINY[@]}" --out busy --auto-resume
kill -TERM "$busy" 2>/dev/null; wait "$busy" 2>/dev/null
expect_error resume_missing_dir    "does not exist" 2 train "${TINY[@]}" --out never-made --resume
[ ! -e never-made ] && record resume_missing_dir_not_made "" ||
    record resume_missing_dir_not_made "a failed --resume created its --out"

# ranks started with different arguments (mpirun's "A : B") must stop at once, not wait forever
$MPIRUN --timeout "$CASE_TIMEOUT" -np 1 "$FMTRAIN" train "${TINY[@]}" --out mpmd : -np 1 "$FMTRAIN" train "${TINY[@]}" \
    --steps 7 --out mpmd >mpmd.out 2>&1 </dev/null
rc=$?
nerr=$(grep -c 'fmtrain: error:.*different arguments' mpmd.out)
[ "$rc" -eq 2 ] && [ "$nerr" -eq 1 ] && [ ! -e mpmd ] && record ranks_different_args "" ||
    record ranks_different_args "exit $rc, $nerr error lines naming the different arguments (want 2, 1)" mpmd.out
[ "$set_before" = "$(md5sum set.h5)" ] && record dataset_untouched "" ||
    record dataset_untouched "sample --out replaced a data set file"
victim_after=$(fingerprint victim)
if [ "$victim_before" = "$victim_after" ]; then
    record sample_out_is_ckpt_untouched ""
else
    diff <(echo "$victim_before") <(echo "$victim_after") >victim.diff
    record sample_out_is_ckpt_untouched "sample --out replaced the checkpoint it read" victim.diff
fi

# a fresh run into a directory that holds only an old log.h5 (a run that died before its first
# checkpoint) must either be refused, or leave a log of the new run alone: steps 1..5 once
mkdir -p stalelog && cp run/log.h5 stalelog/
$MPIRUN --timeout "$CASE_TIMEOUT" -np 2 "$FMTRAIN" train "${TINY[@]}" --width 8 --out stalelog >stalelog.out 2>&1 </dev/null
rc=$?
if [ "$rc" -ne 0 ]; then
    nerr=$(grep -c 'fmtrain: error:' stalelog.out)
    [ "$rc" -ne 110 ] && [ "$nerr" -eq 1 ] && record stale_log "" ||
        record stale_log "refused, but exit $rc with $nerr error lines" stalelog.out
else
    "$PYTHON" - >stalelog.check 2>&1 <<'PY'
import h5py, sys
with h5py.File("stalelog/log.h5", "r") as f:
    steps = list(f["step"][()])
    conf = f.attrs["config"]
    conf = conf.decode() if isinstance(conf, bytes) else str(conf)
width = [l for l in conf.splitlines() if l.startswith("width =")]
print("log steps", steps, "log config", width)
sys.exit(0 if steps == [1, 2, 3, 4, 5] and width == ["width = 8"] else 1)
PY
    [ $? -eq 0 ] && record stale_log "" ||
        record stale_log "the new run appended to the old run's log (steps repeat / old config kept)" stalelog.check
fi

echo "RESULT badinput: $pass cases passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "failed cases: ${failed[*]}"; exit 1; }
