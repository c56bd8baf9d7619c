#!/usr/bin/env bash
# The test suite: every C unit test binary ($BUILD/tests/test_*) and every shell test
# (tests/test_*.sh) is one test. Each exits non-zero on failure. Ends with "N passed, N failed".
# Shell tests get: FMTRAIN (the binary), MPIRUN (mpirun with a timeout, usable as root),
# PYTHON (Debian's python3 with h5py) and TMPDIR_TEST (a scratch directory, removed at the end).
# A test that cannot run here (e.g. it needs root) exits 77 and is listed as skipped.
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build} PYTHON=${PYTHON:-/usr/bin/python3}
export FMTRAIN=$PWD/$BUILD/fmtrain
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# every MPI launch is bounded: a hang fails the test (exit 110) instead of the suite
export MPIRUN="mpirun --oversubscribe --timeout ${MPI_TIMEOUT:-240}"
# KEEP_TMP=1 keeps the scratch directory (with each test's log) for a look afterwards
export TMPDIR_TEST=$(mktemp -d /tmp/fmtrain-test.XXXXXX)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMPDIR_TEST"' EXIT

only=${1:-}
pass=0 fail=0 failed=() skipped=()
run() { # name, command...
    local name=$1; shift
    [ -n "$only" ] && [[ "$name" != *"$only"* ]] && return
    local log=$TMPDIR_TEST/$name.log t0=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1)); printf 'PASS %-28s (%ds)\n' "$name" $((SECONDS - t0))
    elif [ "$rc" -eq 77 ]; then
        skipped+=("$name"); printf 'SKIP %-28s %s\n' "$name" "$(grep -m1 '^SKIP' "$log")"
    else
        fail=$((fail + 1)); failed+=("$name"); printf 'FAIL %-28s (%ds)\n' "$name" $((SECONDS - t0))
        sed 's/^/    | /' "$log" | tail -40
    fi
    grep -E '^(RESULT|[a-z0-9_./-]+: [0-9]+ checks)' "$log" | sed 's/^/    /'
}

# unit tests run with LeakSanitizer on (sanitizer build); under mpirun it is off: Open MPI leaks
for t in "$BUILD"/tests/test_*; do run "$(basename "$t")" "$t"; done
[ "$BUILD" = build-san ] && export ASAN_OPTIONS=detect_leaks=0
# each shell test gets a scratch directory of its own
for t in tests/test_*.sh; do
    name=$(basename "$t" .sh)
    mkdir -p "$TMPDIR_TEST/$name"
    TMPDIR_TEST=$TMPDIR_TEST/$name run "$name" bash "$t"
done

[ ${#skipped[@]} -gt 0 ] && echo "skipped (could not run here): ${skipped[*]}"
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
