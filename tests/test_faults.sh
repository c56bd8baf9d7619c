#!/usr/bin/env bash
# Faults: kill -9 of one rank at random moments, and NaN/Inf in the gradient.
#
# kill -9 (FAULT_TRIALS trials, 20 by default). Each trial starts a 2-rank training with a
# checkpoint every 20 steps, then kills one rank with SIGKILL:
#   - odd trials: a random rank at a random moment (seeded by the trial number): up to 15 ms
#     after the checkpoint of a random step, so that the kill lands inside the training on any
#     machine;
#   - even trials: rank 0 (the writer) the moment a ckpt-*.h5.tmp or log.h5.tmp appears, i.e.
#     while it writes a checkpoint or the log (counted as "mid-write" when the .tmp is still
#     there after the kill).
# Then: every process of the job must be gone within BOUND seconds of the kill, every complete
# checkpoint must be whole and latest.h5 must name the newest (tests/check_run_dir.py), and
# `--auto-resume` must finish the run with a final state bit-identical to an unbroken run's.
#
# NaN: FMTRAIN_INJECT_NONFINITE="R:S,..." makes rank R poison its gradient at steps S. A few
# isolated bad steps are skipped (on every rank alike) and training goes on; more than
# --skip-nonfinite in a row stop it with exit code 1, one error line, and no checkpoint after
# the last good one. Ends with "RESULT faults: ..." and exits non-zero on any failure.
set -u
: "${FMTRAIN:?}" "${MPIRUN:?}" "${PYTHON:?}" "${TMPDIR_TEST:?}"
HERE=$(cd "$(dirname "$0")" && pwd)
W=$TMPDIR_TEST/faults
mkdir -p "$W" && cd "$W" || exit 1
TRIALS=${FAULT_TRIALS:-20}
BOUND=30
C=(--data moons --width 128 --depth 3 --batch 64 --steps 1500 --warmup 20 --log-every 5 --ckpt-every 20 --seed 7)
export OMPI_MCA_odls_base_sigkill_timeout=1 # the default: ranks left behind get SIGKILL 1 s after SIGTERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
now() { date +%s.%N; }
calc() { awk "BEGIN { print ($1) }"; } # arithmetic on decimals (1 = true for comparisons)

$MPIRUN -np 2 "$FMTRAIN" train "${C[@]}" --out ref >ref.out 2>&1 || { cat ref.out; echo "FAIL: reference run"; exit 1; }

# the PID of rank R among the children of mpirun PID (empty while they start)
rank_pid() {
    local p
    for p in $(pgrep -P "$1" 2>/dev/null); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
    done
}

resumed=0 corrupt=0 midwrite=0 maxend=0
for trial in $(seq "$TRIALS"); do
    out=run$trial
    RANDOM=$trial
    $MPIRUN -np 2 "$FMTRAIN" train "${C[@]}" --out "$out" >"$out.out" 2>&1 &
    mp=$!
    victim=""
    for _ in $(seq 400); do
        if [ $((trial % 2)) -eq 1 ]; then victim=$(rank_pid "$mp" $((RANDOM % 2))); else victim=$(rank_pid "$mp" 0); fi
        [ -n "$victim" ] && break
        sleep 0.01
    done
    [ -n "$victim" ] || { fail "trial $trial: ranks did not start"; kill -9 "$mp"; wait "$mp"; continue; }
    what=""
    if [ $((trial % 2)) -eq 1 ]; then
        # a random moment inside the training on any machine: a random short delay after the
        # checkpoint of a random step (every checkpoint is kept)
        printf -v ck '%s/ckpt-%08d.h5' "$out" $((20 * (1 + RANDOM % 70)))
        while [ ! -e "$ck" ] && kill -0 "$victim" 2>/dev/null; do :; done
        sleep "$(printf '0.%03d' $((RANDOM % 15)))"
        if kill -9 "$victim" 2>/dev/null; then what="random moment after $(basename "$ck")"; else what="after the job's end"; fi
    else
        # skip a few checkpoints so that the kill does not always land on the first one
        skip=$((RANDOM % 4)) seen=""
        shopt -s nullglob # poll without forking: a checkpoint write takes milliseconds
        while kill -0 "$victim" 2>/dev/null; do
            tmps=("$out"/*.tmp) tmp=""
            [ ${#tmps[@]} -gt 0 ] && tmp=${tmps[0]}
            if [ -n "$tmp" ] && [ "$tmp" != "$seen" ]; then
                [ "$skip" -eq 0 ] && { kill -9 "$victim" 2>/dev/null; break; }
                skip=$((skip - 1)) seen=$tmp
            fi
        done
        shopt -u nullglob
        if [ -n "$tmp" ] && [ -e "$tmp" ]; then what="writing $(basename "$tmp")"; midwrite=$((midwrite + 1))
        else what="just after writing ${tmp:-nothing}"; fi
    fi
    t0=$(now)
    wait "$mp"
    rc=$?
    dt=$(calc "$(now) - $t0")
    [ "$(calc "$dt > $maxend")" -eq 1 ] && maxend=$dt
    left=$(pgrep -f -- "--out $out( |\$)" | wc -l)
    if [ "$what" = "after the job's end" ]; then fail "trial $trial: the job ended before the kill, the test's delay is too long"
    elif [ "$rc" -eq 0 ]; then fail "trial $trial: the job exited 0 although a rank was killed"; fi
    [ "$(calc "$dt < $BOUND")" -eq 1 ] || fail "trial $trial: the job took $dt s to end after the kill"
    [ "$left" -eq 0 ] || fail "trial $trial: $left processes survived"
    state=$("$PYTHON" "$HERE/check_run_dir.py" "$out") || { corrupt=$((corrupt + 1)); fail "trial $trial: $state"; }
    $MPIRUN -np 2 "$FMTRAIN" train "${C[@]}" --out "$out" --auto-resume >"$out.resume" 2>&1
    rc2=$?
    same=$("$PYTHON" "$HERE/check_run_dir.py" "$out" --same-as ref | tail -1)
    if [ "$rc2" -eq 0 ] && [[ "$same" == same:* ]]; then resumed=$((resumed + 1)); res="resumed, bit-identical"
    else res="resume exit $rc2: $same"; fail "trial $trial: $res"; sed 's/^/    | /' "$out.resume" | tail -5; fi
    printf 'trial %2d: kill -9 of pid %s (%s), job ended in %.2f s (exit %d); %s; %s\n' \
        "$trial" "$victim" "$what" "$dt" "$rc" "${state#ok: }" "$res"
done
echo "kill -9: $TRIALS trials, $midwrite during a write, $resumed resumed bit-identically, $corrupt with a damaged" \
     "checkpoint, slowest end $maxend s after the kill (bound $BOUND s)"

# ---- NaN / Inf in the gradient
N=(--data moons --width 32 --depth 2 --batch 16 --steps 60 --warmup 0 --log-every 10 --ckpt-every 20 --seed 3)
FMTRAIN_INJECT_NONFINITE=1:25,26,27 $MPIRUN -np 2 -x FMTRAIN_INJECT_NONFINITE "$FMTRAIN" train "${N[@]}" --out nan_skip \
    >nan_skip.out 2>&1
rc=$?
nwarn=$(grep -c 'warning: non-finite gradient norm nan at step 2[567]: step skipped' nan_skip.out)
[ "$rc" -eq 0 ] && [ "$nwarn" -eq 3 ] && grep -q '^skipped 3 steps' nan_skip.out ||
    { fail "3 poisoned steps on rank 1: exit $rc, $nwarn warnings"; cat nan_skip.out; }
"$PYTHON" "$HERE/check_run_dir.py" nan_skip >/dev/null || fail "nan_skip: damaged checkpoints"
# the skipped steps really changed nothing: a run poisoned on rank 0 instead ends identically
FMTRAIN_INJECT_NONFINITE=0:25,26,27 $MPIRUN -np 2 -x FMTRAIN_INJECT_NONFINITE "$FMTRAIN" train "${N[@]}" \
    --out nan_skip0 >nan_skip0.out 2>&1
"$PYTHON" "$HERE/check_run_dir.py" nan_skip0 --same-as nan_skip >/dev/null ||
    fail "poisoning rank 0 or rank 1 gives different results"
$MPIRUN -np 2 "$FMTRAIN" train "${N[@]}" --out nan_none >nan_none.out 2>&1
"$PYTHON" "$HERE/check_run_dir.py" nan_none --same-as nan_skip >/dev/null &&
    fail "skipping 3 steps left the result unchanged: the injection did nothing"

FMTRAIN_INJECT_NONFINITE=0:$(seq -s, 30 45) $MPIRUN -np 2 -x FMTRAIN_INJECT_NONFINITE "$FMTRAIN" train "${N[@]}" \
    --skip-nonfinite 4 --out nan_stop >nan_stop.out 2>&1
rc=$?
nerr=$(grep -c 'fmtrain: error:' nan_stop.out)
[ "$rc" -eq 1 ] && [ "$nerr" -eq 1 ] && grep -q 'error: non-finite gradient norm nan at step 34, 5 steps in a row' nan_stop.out ||
    { fail "16 poisoned steps with --skip-nonfinite 4: exit $rc, $nerr error lines"; cat nan_stop.out; }
[ "$(readlink nan_stop/latest.h5)" = ckpt-00000020.h5 ] && [ ! -e nan_stop/ckpt-00000040.h5 ] ||
    fail "nan_stop: the newest checkpoint should be step 20"
"$PYTHON" "$HERE/check_run_dir.py" nan_stop >/dev/null || fail "nan_stop: damaged checkpoints"
# ... and the run resumes from its last good checkpoint once the fault is gone
$MPIRUN -np 2 "$FMTRAIN" train "${N[@]}" --out nan_stop --resume >nan_stop.resume 2>&1 &&
    "$PYTHON" "$HERE/check_run_dir.py" nan_stop --same-as nan_none >/dev/null ||
    fail "nan_stop: resume without the fault does not end like the clean run"
echo "nan: 3 poisoned steps skipped on all ranks; 5 in a row stopped the run at the step-20 checkpoint"

echo "RESULT faults: $TRIALS kill -9 trials ($midwrite during a write): $resumed resumed bit-identically," \
     "$corrupt damaged; NaN skip and stop policy; $fails failures"
[ "$fails" -eq 0 ]
