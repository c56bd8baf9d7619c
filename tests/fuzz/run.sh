#!/usr/bin/env bash
# Fuzz each harness for SECONDS (default 600) with libFuzzer: `make fuzz` first.
#   bash tests/fuzz/run.sh [SECONDS] [NAMES...]      (NAMES: config dataset ckpt)
# New inputs go to build-fuzz/corpus-NAME (the seeds in tests/fuzz/corpus/NAME stay as they
# are), crashes to build-fuzz/crash-NAME-*; copy a fixed crash into tests/fuzz/regress/ so the
# suite replays it. libFuzzer runs in fork mode and goes on after a crash, so that one run
# counts them all; each crash is then replayed and classified by where it happened: in
# fmtrain's code, or inside libhdf5 itself (a fault of the library on a damaged file).
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
    LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp:print_suppressions=0 \
        nice -n 10 "build-fuzz/fuzz_$n" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=4096 \
        -fork=1 -ignore_crashes=1 -ignore_ooms=0 -ignore_timeouts=0 \
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
    crashes=0 in_lib=0
    for c in build-fuzz/crash-"$n"-*; do
        [ -e "$c" ] || continue
        crashes=$((crashes + 1))
        # the innermost frame in libhdf5 or in fmtrain's sources (libc and the sanitizer skipped)
        top=$(LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp ASAN_OPTIONS=fast_unwind_on_malloc=0 \
              "build-fuzz/fuzz_$n" "$c" 2>&1 | grep -E '^ +#[0-9]+ ' | grep -E 'libhdf5|/src/|/tests/' | head -1)
        [[ "$top" == *libhdf5* ]] && in_lib=$((in_lib + 1))
        top=${top#*in }
        echo "  $(basename "$c"): ${top%% (BuildId*}"
    done
    [ "$crashes" -eq 0 ] || status=1
    runs=${runs:-$(grep -o '#[0-9]*' "$log" | tail -1 | tr -d '#')}
    echo "fuzz_$n: ${secs} s, ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov ?}, ${ft:-ft ?}, corpus $corp," \
         "crashes $crashes ($in_lib inside libhdf5, $((crashes - in_lib)) in fmtrain)"
done
exit $status
