#!/usr/bin/env bash
# The fuzz harnesses (tests/fuzz/fuzz_*.c), built with the project's compiler as ordinary
# programs ($BUILD/tests/fuzz_replay_*), run over their seed corpora (tests/fuzz/corpus/NAME)
# and saved regression inputs (tests/fuzz/regress/NAME): each input must end without a crash
# or a fatal check (in the sanitizer build: without a sanitizer report).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(dirname "$FMTRAIN")/tests
fails=0
for n in config dataset ckpt; do
    exe=$BIN/fuzz_replay_$n
    [ -x "$exe" ] || { echo "FAIL: $exe missing (make all builds it)"; fails=$((fails + 1)); continue; }
    dirs=("$HERE/fuzz/corpus/$n")
    [ -d "$HERE/fuzz/regress/$n" ] && dirs+=("$HERE/fuzz/regress/$n")
    if out=$("$exe" "${dirs[@]}" 2>&1); then echo "ok   fuzz_$n: $out"
    else echo "FAIL fuzz_$n:"; echo "$out" | tail -20; fails=$((fails + 1)); fi
done
echo "RESULT fuzz_replay: seed corpora and regression inputs of 3 harnesses, $fails failures"
[ "$fails" -eq 0 ]
