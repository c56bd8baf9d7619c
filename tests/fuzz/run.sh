#!/usr/bin/env bash
# Fuzz each harness for SECONDS (default 600) with libFuzzer: `make fuzz` first.
#   bash tests/fuzz/run.sh [SECONDS] [NAMES...]      (NAMES: config dataset ckpt)
# New inputs go to build-fuzz/corpus-NAME (the seeds in tests/fuzz/corpus/NAME stay as they
# are), crashes to build-fuzz/crash-NAME-*; copy a fixed crash into tests/fuzz/regress/ so the
# suite replays it. libFuzzer runs in fork mode and goes on after a crash, so that one run
# counts them all; each crash is then replayed and classified by where it happened: in
# fmtrain's code, or inside libhdf5 itself (a fault of the library on a damaged file).
# An input that runs longer than 30 s is a hang (saved as timeout-NAME-*, classified likewise).
# Allocation stacks are unwound fully (fast_unwind_on_malloc=0): the fast unwinder loses them
# inside libhdf5, and with them the suppression of libhdf5's own leak (lsan.supp).
# The harnesses run in parallel, at low priority. Prints per harness: runs, executions per
# second, coverage, corpus size and crashes.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-600}
shift || true
names=${*:-config dataset ckpt}
for n in $names; do
    [ -x "build-fuzz/fuzz_$n" ] || { echo "build-fuzz/fuzz_$n missing: run 'make fuzz'"; exit 2; }
    mkdir -p "build-fuzz/corpus-$n"
    LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp:print_suppressions=0 ASAN_OPTIONS=fast_unwind_on_malloc=0 \
        nice -n 10 "build-fuzz/fuzz_$n" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=4096 \
        -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 -timeout=30 \
        -artifact_prefix="build-fuzz/crash-$n-" "build-fuzz/corpus-$n" "tests/fuzz/corpus/$n" \
        >"build-fuzz/fuzz-$n.log" 2>&1 &
done
wait
status=0
for n in $names; do
    log=build-fuzz/fuzz-$n.log
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1)
    corp=$(ls "build-fuzz/corpus-$n" | wc -l)
    crashes=0 in_lib=0 in_fm=0 gone=0
    for c in build-fuzz/crash-"$n"-*; do
        [ -e "$c" ] || continue
        crashes=$((crashes + 1))
        # the innermost frame in libhdf5 or in fmtrain's sources (libc and the sanitizer skipped)
        out=$(LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp ASAN_OPTIONS=fast_unwind_on_malloc=0 \
              timeout 120 "build-fuzz/fuzz_$n" -timeout=30 -rss_limit_mb=4096 "$c" 2>&1)
        rc=$?
        kind=$(echo "$out" | grep -m1 -oE '(Sanitizer|libFuzzer): [a-zA-Z-]+|runtime error: .{0,60}|\[rank [0-9]+\] .{0,60}')
        [ "$rc" -eq 124 ] && kind="hang"
        top=$(echo "$out" | grep -E '^ +#[0-9]+ ' | grep -E 'libhdf5|/src/|/tests/' | head -1)
        if [ "$rc" -eq 0 ]; then # e.g. a libhdf5 fault that needs the state earlier inputs left
            gone=$((gone + 1)); echo "  $(basename "$c"): does not reproduce on its own"; continue
        fi
        if [[ "$top" == *libhdf5* ]]; then in_lib=$((in_lib + 1))
        elif [ -n "$top" ]; then in_fm=$((in_fm + 1))
        fi
        top=${top#*in }
        echo "  $(basename "$c"): ${kind:-?} in ${top%% (BuildId*}"
    done
    [ "$crashes" -eq "$gone" ] || status=1
    runs=${runs:-$(grep -o '#[0-9]*' "$log" | tail -1 | tr -d '#')}
    [ -z "$rate" ] && [ -n "$runs" ] && rate=$((runs / secs))
    echo "fuzz_$n: ${secs} s, ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov ?}, ${ft:-ft ?}, corpus $corp," \
         "crashes $crashes ($in_lib inside libhdf5, $in_fm in fmtrain, $((crashes - in_lib - in_fm - gone)) without a stack," \
         "$gone not reproducible)"
done
exit $status
