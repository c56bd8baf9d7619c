#!/usr/bin/env bash
# The job scripts of jobs/ under a real Slurm: a single-node cluster (munged, slurmctld, slurmd,
# as root, no systemd) brought up in a temporary directory that holds everything of it (munge
# key and socket, slurm.conf, state, spool, logs, pid files), then:
#  1. preemption inside a chain: jobs/submit_chain.sh with jobs/train_toy.sbatch and a short
#     configuration; once the training job is past step 200, `scancel --signal=USR1 --batch`
#     (what --signal=B:USR1@90 does at the time limit) must end in a checkpoint and exit code 3,
#     `scontrol requeue` of the job by itself, a second run with SLURM_RESTART_COUNT=1 that
#     resumes from that checkpoint, completes and samples; the final checkpoint must equal, bit
#     for bit, that of an unbroken run of the same configuration (run here directly with mpirun
#     while the requeued job waits to start again); the chain's sampling, likelihood and
#     analysis jobs must wait for the requeued training and then run in order;
#  2. the chain with jobs/train_fashion_mnist.sbatch on a small synthetic image file and tiny
#     configurations: train -> sample + nll -> analyse;
#  3. a chain whose training fails: its dependent jobs are cancelled (--kill-on-invalid-dep)
#     instead of pending forever.
# Throughout a chain, every 0.1 s, no job may be running or done while a job it depends on has
# not completed (and Slurm's start and end times must agree); every stage's outputs must exist.
# Ends with "RESULT slurm: ..." and the times. Needs root and the Debian packages slurmctld,
# slurmd, slurm-client and munge (`make test-slurm` installs them); exits 77 (SKIP) otherwise.
# Its munged has its own key and socket, so a munged already running is neither used nor
# touched; on exit (also on failure) the jobs are cancelled, the daemons stopped by the PIDs in
# their pid files and the directory removed. Every wait is bounded.
# Environment (as tests/run.sh gives it; defaults otherwise): FMTRAIN, MPIRUN, PYTHON.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FMTRAIN=${FMTRAIN:-$ROOT/build/fmtrain}
PYTHON=${PYTHON:-/usr/bin/python3}
MPIRUN=${MPIRUN:-mpirun --oversubscribe --timeout 240}
export FMTRAIN PYTHON OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (the Slurm and munge daemons run as root)"; exit 77; }
missing=
for c in munged slurmctld slurmd sbatch scontrol scancel squeue sinfo; do
    command -v "$c" >/dev/null || missing="$missing $c"
done
[ -z "$missing" ] || { echo "SKIP: Slurm or munge not installed (no$missing; make test-slurm installs them)"; exit 77; }
[ -x "$FMTRAIN" ] || { echo "FAIL: no fmtrain binary $FMTRAIN (make)"; exit 1; }

T0=$(date +%s.%N)
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; } # from, to

# The cluster's directory: under /tmp, world-searchable (munged requires every directory above
# its socket to be); everything this test starts carries FMTRAIN_SLURM_TEST=$S in its environment.
S=$(mktemp -d /tmp/fmtrain-slurm.XXXXXX)
chmod 755 "$S"
export FMTRAIN_SLURM_TEST=$S SLURM_CONF=$S/slurm.conf
mkdir -p "$S/munge" "$S/state" "$S/spool" "$S/log" "$S/work"
chmod 755 "$S/munge"

alive() { [ -n "$(tr -d '\0' 2>/dev/null < "/proc/$1/cmdline")" ]; } # pid: running, not a zombie
daemon_pid() { # pid file: the pid, if that process is still ours (its command line names $S)
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF "$S" && echo "$pid"
}
teardown() {
    local rc=$? pid f i
    trap - EXIT
    set +e
    [ -n "${ref:-}" ] && kill "$ref" 2>/dev/null   # the unbroken run, if still running
    if [ -S "$S/munge/munge.sock" ] && [ -f "$S/slurmctld.pid" ]; then
        # cancel whatever is left (only after a failure), so that no job outlives its slurmd
        ids=$(timeout 5 squeue -h -o %i 2>/dev/null)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086
            timeout 5 scancel $ids
            for _ in $(seq 100); do [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
        fi
    fi
    for f in slurmd slurmctld munge/munged; do
        pid=$(daemon_pid "$S/$f.pid") || continue
        kill "$pid"
        for i in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && { echo "teardown: $f (pid $pid) did not stop: SIGKILL"; kill -9 "$pid"; }
    done
    # last resort: any process this test started that is still alive (a job step whose slurmd is gone)
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$pid" = $$ ] && continue
        if grep -qzxF "FMTRAIN_SLURM_TEST=$S" "$d/environ" 2>/dev/null; then
            echo "teardown: killing leftover process $pid: $(tr '\0' ' ' 2>/dev/null < "$d/cmdline" | cut -c1-100)"
            kill -9 "$pid" 2>/dev/null
        fi
    done
    rm -rf "$S"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 1' INT TERM HUP

fail() { # message: the message, the relevant logs, exit 1
    echo "FAIL: $*"
    for f in "$S"/work/*.out "$S"/log/slurmctld.log "$S"/log/slurmd.log; do
        [ -f "$f" ] || continue
        echo "--- $f (last 25 lines)"; tail -25 "$f"
    done
    exit 1
}
wait_until() { # seconds, description, command...: poll every 0.1 s until the command succeeds
    local limit=$1 what=$2 end
    shift 2
    end=$(awk -v t="$(now)" -v l="$limit" 'BEGIN { printf "%.3f", t + l }')
    until check_order && "$@"; do
        awk -v t="$(now)" -v e="$end" 'BEGIN { exit !(t > e) }' && fail "timed out after $limit s waiting for $what"
        sleep 0.1
    done
}
state() { squeue -h -t all -j "$1" -o %T 2>/dev/null || true; } # job id: its state
# The chain being watched: DEPS lists "JOB:NEEDED" pairs (JOB depends on NEEDED), IDS its jobs.
DEPS='' IDS='' BAD_OK=0
ran() { case $1 in RUNNING|COMPLETING|COMPLETED) return 0 ;; esac; return 1; }
check_order() { # fails if a job runs or ran before a job it needs completed (or, unless BAD_OK=1, failed)
    [ -n "$IDS" ] || return 0
    local -A st
    local i s pair
    while read -r i s; do st[$i]=$s; done < <(squeue -h -t all -j "$IDS" -o '%i %T' 2>/dev/null)
    for pair in $DEPS; do
        i=${pair%%:*} s=${pair#*:}
        if ran "${st[$i]:-}" && [ "${st[$s]:-}" != COMPLETED ]; then
            fail "job $i is ${st[$i]} while job $s it depends on is ${st[$s]:-unknown}"
        fi
    done
    if [ "$BAD_OK" = 0 ]; then
        for i in "${!st[@]}"; do bad_state "${st[$i]}" && fail "chain job $i is ${st[$i]}"; done
    fi
    return 0
}
job_field() { scontrol -o show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; } # job id, field
bad_state() { case $1 in FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) return 0 ;; esac; return 1; }

# ---- the cluster -------------------------------------------------------------------------
free_port() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
for _ in $(seq 50); do
    PORT=$((20000 + RANDOM % 20000))
    free_port "$PORT" && free_port $((PORT + 1)) && break
done
HOST=$(hostname -s)
MEM=$(awk '/^MemTotal:/ { print int($2 / 1024) - 1024 }' /proc/meminfo)   # MiB, 1 GB spare
NODE=$(slurmd -C | sed -n '1s/RealMemory=[0-9]*/RealMemory='"$MEM"'/p')
[[ "$NODE" == NodeName=* ]] || fail "slurmd -C printed no node line"
cat > "$S/slurm.conf" <<EOF
# a one-node test cluster (tests/test_slurm.sh)
ClusterName=fmtest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also sets the delay before a requeued job may start again (default 120 s)
AuthInfo=socket=$S/munge/munge.sock,cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
MailProg=/bin/true
# the main scheduling pass every 2 s (default 60 s): a requeued job starts again within 2 s
# of its begin time, not up to a minute later
SchedulerParameters=sched_interval=2
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
$NODE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
head -c 1024 /dev/urandom > "$S/munge/munge.key"
chmod 400 "$S/munge/munge.key"
munged --socket="$S/munge/munge.sock" --key-file="$S/munge/munge.key" --pid-file="$S/munge/munged.pid" \
    --log-file="$S/munge/munged.log" --seed-file="$S/munge/munged.seed" \
    || fail "munged did not start: $(tail -3 "$S/munge/munged.log")"
munge -n -S "$S/munge/munge.sock" | unmunge -S "$S/munge/munge.sock" >/dev/null || fail "munge credentials do not round-trip"
slurmctld -f "$S/slurm.conf" || fail "slurmctld did not start"
slurmd -f "$S/slurm.conf" || fail "slurmd did not start"
node_idle() {
    local st
    st=$(sinfo -h -n "$HOST" -o %T 2>/dev/null) || return 1
    case $st in drain*|down*|fail*) fail "node is $st: $(sinfo -h -R)";; esac
    [ "$st" = idle ]
}
wait_until 30 "the node to be idle" node_idle
T_UP=$(now)
echo "cluster up in $(secs "$T0" "$T_UP") s: $NODE (ports $PORT, $((PORT + 1)))"
W=$S/work
cd "$ROOT"   # jobs start in the directory they were submitted from: the project

# ---- helpers for the chains ----------------------------------------------------------------
"$PYTHON" -c "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(1).integers(0, 256, (256, 28, 28), dtype=np.uint8))" "$W/img.npy"
"$PYTHON" scripts/npy_to_h5.py "$W/img.npy" "$W/img.h5" >/dev/null
cat > "$W/toy.ini" <<'EOF'
[train]
data = spirals
width = 128
depth = 3
batch = 256
steps = 2000
log-every = 50
ckpt-every = 10000
EOF
cat > "$W/fm.ini" <<'EOF'
[train]
objective = velocity
path = condot
width = 64
depth = 2
batch = 32
steps = 100
warmup = 10
log-every = 20
ckpt-every = 50
EOF
chain() { # listing file, variables...: jobs/submit_chain.sh with small sampling and NLL settings
    local out=$1 i
    shift
    env NLL=1 NSAMPLES=32 STEPS=10 SAMPLE_FLAGS="--traj-n 8 --frames 4 --reference 64" \
        NPOINTS=16 NLL_STEPS=4 SBATCH_FLAGS="--output=$W/%x-%j.out" "$@" jobs/submit_chain.sh > "$out" \
        || fail "submit_chain.sh failed: $(cat "$out")"
    cat "$out"
    TR=$(awk '$1 == "train" { print $2 }' "$out") SA=$(awk '$1 == "sample" { print $2 }' "$out")
    NL=$(awk '$1 == "nll" { print $2 }' "$out") AN=$(awk '$1 == "analyse" { print $2 }' "$out")
    for i in "$TR" "$SA" "$AN"; do [[ "$i" =~ ^[0-9]+$ ]] || fail "submit_chain.sh printed no job ids"; done
    DEPS="$SA:$TR $AN:$SA" IDS="$TR,$SA,$AN"
    if [ -n "$NL" ]; then DEPS="$DEPS $NL:$TR $AN:$NL" IDS="$IDS,$NL"; fi
}
completed() { [ "$(state "$1")" = COMPLETED ]; }
epoch() { date -d "$(job_field "$1" "$2")" +%s; }   # job id, StartTime or EndTime
chain_done() { # run directory: the chain completed in order with every output
    local run=$1 pair i s f
    wait_until 180 "the chain's last job $AN to complete" completed "$AN"
    check_order
    for pair in $DEPS; do
        i=${pair%%:*} s=${pair#*:}
        [ "$(epoch "$i" StartTime)" -ge "$(epoch "$s" EndTime)" ] || fail "Slurm's times: job $i started before job $s ended"
    done
    for f in log.h5 latest.h5 samples.h5 nll.h5 loss.png samples.png samples-trajectories.png nll.png summary.txt; do
        [ -s "$run/$f" ] || fail "the chain left no $run/$f"
    done
    [ "$run/samples.h5" -nt "$run/latest.h5" ] && [ "$run/nll.h5" -nt "$run/latest.h5" ] && [ "$run/summary.txt" -nt "$run/samples.h5" ] \
        || fail "the outputs' times break the dependency order"
    grep -q "^samples $run/samples.h5: 32," "$run/summary.txt" && grep -q "^nll $run/nll.h5: 16 points" "$run/summary.txt" \
        || fail "summary.txt: $(cat "$run/summary.txt")"
    grep -q 'trajectories.png' "$W/fmtrain-sample-$SA.out" && fail "the sampling job plotted (the chain gives it PLOTS=0)"
    cat "$run/summary.txt"
    IDS='' DEPS=''
}

# ---- 1. preemption, requeue and resume, inside a chain ------------------------------------
t_submit=$(now)
chain "$W/chain1.txt" TRAIN=jobs/train_toy.sbatch CONFIG="$W/toy.ini" OUT="$W/preempt" DIVERGENCE=exact
JOB=$TR
OUTF=$W/fmtrain-toy-$JOB.out
running() { local s; s=$(state "$JOB"); bad_state "$s" && fail "job $JOB is $s"; [ "$s" = RUNNING ]; }
past_step() { # step: the job's output shows it (the job must still be running)
    local s
    s=$(state "$JOB")
    case $s in RUNNING|PENDING) ;; *) fail "job $JOB is $s before step $1" ;; esac
    grep -q "^step  *$1/" "$OUTF" 2>/dev/null
}
wait_until 30 "job $JOB to start" running
t_start=$(now)
wait_until 90 "job $JOB to pass step 200" past_step 200
scancel --signal=USR1 --batch "$JOB"
t_signal=$(now)
requeued() { local s; s=$(state "$JOB"); bad_state "$s" && fail "job $JOB is $s"; [ "$s" = PENDING ]; }
wait_until 60 "job $JOB to requeue itself" requeued
t_requeued=$(now)
# the unbroken run of the same configuration, while the requeued job waits for its begin time
$MPIRUN -np 2 "$FMTRAIN" train --config "$W/toy.ini" --out "$W/straight" >"$W/straight.txt" 2>&1 &
ref=$!
wait_until 90 "job $JOB to start again" running
t_resumed=$(now)
wait_until 180 "job $JOB to complete" completed "$JOB"
t_done=$(now)
wait "$ref" || fail "the unbroken run failed: $(tail -5 "$W/straight.txt")"
ref=

grep -q "caught signal" "$OUTF" || fail "fmtrain did not catch the signal"
grep -q "^preempted: exit code 3, checkpoint written; requeueing job $JOB (restart 0)" "$OUTF" \
    || fail "the first run did not end with exit code 3 and a requeue"
stop=$(sed -n 's/.*stopped after step \([0-9]*\).*/\1/p' "$OUTF")
[ -n "$stop" ] && [ "$stop" -ge 200 ] && [ "$stop" -lt 2000 ] || fail "stopped after step '$stop'"
grep -q "^job $JOB (restart 1) " "$OUTF" || fail "the second run did not see SLURM_RESTART_COUNT=1"
grep -q "resumed from $W/preempt/$(printf 'ckpt-%08d.h5' "$stop") at step $stop" "$OUTF" \
    || fail "the second run did not resume from the step-$stop checkpoint"
grep -q "^done: $((2000 - stop)) steps" "$OUTF" || fail "the resumed run did not finish"
grep -q "^wrote $W/preempt/samples.h5" "$OUTF" || fail "the resumed run did not sample"
[ "$(job_field "$JOB" Restarts)" = 1 ] || fail "Restarts=$(job_field "$JOB" Restarts), expected 1"
[ "$(job_field "$JOB" ExitCode)" = 0:0 ] || fail "ExitCode=$(job_field "$JOB" ExitCode)"
"$PYTHON" - "$W/straight/ckpt-00002000.h5" "$W/preempt/ckpt-00002000.h5" <<'PY' || fail "the preempted run's final state differs from the unbroken run's"
import sys

import h5py
import numpy as np

a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
diff = [k for k in ("params", "adam_m", "adam_v", "ema") if not np.array_equal(a[k][()], b[k][()])]
print("final checkpoints:", "bit-identical (params, adam_m, adam_v, ema)" if not diff else "DIFFERENT in " + " ".join(diff))
sys.exit(1 if diff else 0)
PY
echo "preemption: signal after step 200, checkpoint at step $stop, exit 3, requeued, resumed with SLURM_RESTART_COUNT=1, completed"
chain_done "$W/preempt"
t_chain1=$(now)

# ---- 2. the Fashion-MNIST training script in a chain: train -> sample + nll -> analyse ------
t_chain=$(now)
chain "$W/chain2.txt" TRAIN=jobs/train_fashion_mnist.sbatch CONFIG="$W/fm.ini" DATA="$W/img.h5" OUT="$W/chain" \
    DIVERGENCE=hutchinson PROBES=2
chain_done "$W/chain"
t_chain_done=$(now)

# ---- 3. a failing training job cancels the rest of its chain ------------------------------
t_bad=$(now)
BAD_OK=1
chain "$W/chain3.txt" TRAIN=jobs/train_fashion_mnist.sbatch CONFIG="$W/fm.ini" DATA="$W/no-such-file.h5" OUT="$W/bad" NLL=0
cancelled() { [ "$(state "$SA")" = CANCELLED ] && [ "$(state "$AN")" = CANCELLED ]; }
wait_until 60 "the dependents of the failed job $TR to be cancelled" cancelled
[ "$(state "$TR")" = FAILED ] || fail "the bad training job is $(state "$TR"), expected FAILED"
grep -q "no data file $W/no-such-file.h5" "$W/fmtrain-fmnist-$TR.out" || fail "the bad training job failed for another reason"
t_bad_done=$(now)
echo "failed training $TR: sample $SA and analyse $AN cancelled ($(job_field "$SA" Reason))"
IDS='' DEPS=''

echo "RESULT slurm: cluster up in $(secs "$T0" "$T_UP") s;" \
    "preempted toy training: submit -> completion $(secs "$t_submit" "$t_done") s (start $(secs "$t_submit" "$t_start"), signal -> requeued $(secs "$t_signal" "$t_requeued")," \
    "requeued -> resumed $(secs "$t_requeued" "$t_resumed"), resumed -> completed $(secs "$t_resumed" "$t_done")), final state bit-identical to an unbroken run," \
    "then its sample + nll -> analyse in $(secs "$t_done" "$t_chain1") s;" \
    "Fashion-MNIST chain train -> sample + nll -> analyse $(secs "$t_chain" "$t_chain_done") s; dependency order held;" \
    "failed training cancels its chain in $(secs "$t_bad" "$t_bad_done") s; total $(secs "$T0" "$(now)") s"
