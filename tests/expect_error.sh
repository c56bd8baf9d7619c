# expect_error.sh - the bad-input harness shared by test_badinput.sh and test_hostile.sh (sourced).
# Needs W (the scratch directory), MPIRUN, FMTRAIN and CASE_TIMEOUT; keeps pass, fail, failed.
pass=0 fail=0 failed=()
record() { # name, problem ("" = pass), output file
    if [ -z "$2" ]; then
        pass=$((pass + 1)); echo "ok   $1"
    else
        fail=$((fail + 1)); failed+=("$1"); echo "FAIL $1: $2"
        [ -n "${3:-}" ] && [ -f "$3" ] && sed 's/^/       | /' "$3" | head -30
    fi
}

# expect_error NAME KEYWORD NP ARGS... : one launch that must fail cleanly: a non-zero exit that
# is not the mpirun timeout (110 = a hang), exactly one "fmtrain: error:" line naming KEYWORD,
# and no crash, abort, fatal check or sanitizer report. WANT_RC=N (e.g. `WANT_RC=2 expect_error ...`)
# also requires exit code N (2: a usage error).
expect_error() {
    local name=$1 kw=$2 np=$3; shift 3
    local out=$W/$name.out rc why=""
    $MPIRUN --timeout "$CASE_TIMEOUT" -np "$np" "$FMTRAIN" "$@" >"$out" 2>&1 </dev/null
    rc=$?
    local nerr
    nerr=$(grep -c 'fmtrain: error:' "$out")
    if [ "$rc" -eq 0 ]; then why="exit code 0"
    elif [ "$rc" -eq 110 ]; then why="hang: killed by the mpirun timeout (exit 110)"
    elif [ -n "${WANT_RC:-}" ] && [ "$rc" -ne "$WANT_RC" ]; then why="exit code $rc (want $WANT_RC)"
    fi
    if [ "$nerr" -ne 1 ]; then
        why+="${why:+; }$nerr 'fmtrain: error:' lines (want exactly 1)"
    elif ! grep 'fmtrain: error:' "$out" | grep -qiF -- "$kw"; then
        why+="${why:+; }the error line does not mention '$kw'"
    fi
    if grep -qE 'MPI_ABORT|Segmentation fault|core dumped|Aborted|signal [0-9]+|Sanitizer|runtime error:|^\[rank [0-9]+\] [a-z_0-9]+\.[ch]:[0-9]+:' "$out"; then
        why+="${why:+; }crash or fatal abort instead of a clean error"
    fi
    [ -n "$why" ] && why="$why (exit $rc; ran: fmtrain $*)"
    record "$name" "$why" "$out"
}
