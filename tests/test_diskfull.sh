#!/usr/bin/env bash
# A full or read-only output file system (a small tmpfs mounted for the test; needs root, as in
# CI: without it the test reports SKIP with exit code 77):
#   - full during training: one clear error line, exit 1, no .tmp left, every earlier checkpoint
#     whole and latest.h5 on the newest; with room again, --auto-resume finishes the run
#     bit-identically to an unbroken run on a normal disk;
#   - the same disk with --keep-last 2: retention keeps the run within the space; it completes;
#   - remounted read-only during training: one clear error, earlier checkpoints intact;
#   - read-only from the start: refused before training (exit 2);
#   - `sample --out` onto the full disk: one clear error, no partial output file.
set -u
: "${FMTRAIN:?}" "${MPIRUN:?}" "${PYTHON:?}" "${TMPDIR_TEST:?}"
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$TMPDIR_TEST" || exit 1
M=$TMPDIR_TEST/disk
mkdir -p "$M"
if ! mount -t tmpfs -o size=320k tmpfs "$M" 2>mount.err; then
    echo "SKIP: cannot mount a tmpfs to fill ($(cat mount.err)); this test needs root"
    exit 77
fi
trap 'umount -l "$M" 2>/dev/null' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect NAME RC KEYWORD OUTFILE: exit code RC and exactly one error line containing KEYWORD
expect() {
    local n
    n=$(grep -c 'fmtrain: error:' "$4")
    if [ "$2" -ne "$5" ] || [ "$n" -ne 1 ] || ! grep 'fmtrain: error:' "$4" | grep -q -- "$3"; then
        fail "$1: exit $5 (expected $2), $n error lines (expected 1 naming '$3')"
        sed 's/^/    | /' "$4" | tail -8
    else
        echo "ok   $1: $(grep 'fmtrain: error:' "$4")"
    fi
}
# 2,9k parameters: a checkpoint takes about 50 kB, so the disk holds a few of them
C=(--data moons --width 32 --depth 2 --batch 32 --steps 400 --warmup 10 --log-every 10 --ckpt-every 20 --seed 5)
$MPIRUN -np 2 "$FMTRAIN" train "${C[@]}" --out ref >ref.out 2>&1 || { cat ref.out; echo "FAIL: reference run"; exit 1; }

# ---- the disk fills up during training
$MPIRUN -np 2 "$FMTRAIN" train "${C[@]}" --out "$M/full" >full.out 2>&1
expect full_disk 1 "No space left on device" full.out $?
state=$("$PYTHON" "$HERE/check_run_dir.py" "$M/full") || fail "full_disk: $state"
echo "     after the failure: $state; disk: $(df -k --output=used,size "$M" | tail -1)"
[[ "$state" == *" 0 incomplete .tmp files"* ]] || fail "full_disk: a .tmp file was left behind"
newest=$(readlink "$M/full/latest.h5")
mount -o remount,size=16m "$M"
$MPIRUN -np 2 "$FMTRAIN" train "${C[@]}" --out "$M/full" --auto-resume >full.resume 2>&1 &&
    grep -q "resumed from $M/full/$newest" full.resume &&
    same=$("$PYTHON" "$HERE/check_run_dir.py" "$M/full" --same-as ref) &&
    echo "ok   full_disk_resume: from $newest with room again: ${same#same: }" ||
    { fail "full_disk_resume: $same"; tail -5 full.resume; }

# ---- retention keeps a run within the same small disk
rm -rf "${M:?}"/*
mount -o remount,size=320k "$M"
$MPIRUN -np 2 "$FMTRAIN" train "${C[@]}" --keep-last 2 --out "$M/keep" >keep.out 2>&1 &&
    [ "$(ls "$M"/keep/ckpt-*.h5 | wc -l)" -eq 2 ] &&
    "$PYTHON" "$HERE/check_run_dir.py" "$M/keep" --same-as ref >/dev/null &&
    echo "ok   keep_last: --keep-last 2 completes on the disk that keep-all fills" ||
    { fail "keep_last: --keep-last 2 did not complete within 320 kB"; tail -5 keep.out; }

# ---- remounted read-only while training
rm -rf "${M:?}"/*
mount -o remount,size=16m "$M"
$MPIRUN -np 2 "$FMTRAIN" train "${C[@]}" --steps 200000 --out "$M/ro" >ro.out 2>&1 &
pid=$!
for _ in $(seq 400); do [ -e "$M/ro/ckpt-00000040.h5" ] && break; sleep 0.05; done
# the remount is refused while a file is open for writing: retry between checkpoint writes
for _ in $(seq 1000); do mount -o remount,ro "$M" 2>/dev/null && break; sleep 0.01; done
wait "$pid"
expect read_only_during 1 "Read-only file system" ro.out $?
"$PYTHON" "$HERE/check_run_dir.py" "$M/ro" >/dev/null || fail "read_only_during: damaged checkpoints"

# ---- read-only from the start: refused before any training
$MPIRUN -np 2 "$FMTRAIN" train "${C[@]}" --steps 200000 --out "$M/ro" --resume >ro2.out 2>&1
expect read_only_start 2 "not writable" ro2.out $?

# ---- sampling onto a full disk
mount -o remount,rw "$M"
rm -rf "${M:?}"/*
mount -o remount,size=64k "$M"
$MPIRUN -np 2 "$FMTRAIN" sample --ckpt ref --n 20000 --steps 10 --frames 10 --traj-n 2000 --out "$M/s.h5" >sample.out 2>&1
expect sample_full 1 "No space left on device" sample.out $?
[ -z "$(ls -A "$M")" ] || fail "sample_full: left files behind: $(ls -A "$M")"

echo "RESULT diskfull: full disk, retention, read-only (during and at start) and sampling onto a full disk:" \
     "$fails failures"
[ "$fails" -eq 0 ]
