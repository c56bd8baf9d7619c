#!/usr/bin/env bash
# The toy batch script's preemption logic, without a Slurm cluster: the script runs under
# bash with Slurm's variables set and a stand-in `scontrol` on PATH that records its calls.
# SIGUSR1 to the script (what --signal=B:USR1@90 does) must reach fmtrain through mpirun, end in
# a checkpoint and exit code 3, and make the script call `scontrol requeue JOBID` and exit 0;
# the second run (the requeued job) resumes from that checkpoint, completes and samples.
set -eu
cd "$TMPDIR_TEST"
ROOT=$OLDPWD
mkdir -p bin
printf '#!/bin/sh\necho "$@" >> %s/scontrol.calls\n' "$PWD" > bin/scontrol
chmod +x bin/scontrol
cat > toy.ini <<'INI'
[train]
data = spirals
width = 128
depth = 3
batch = 256
steps = 3000
log-every = 50
ckpt-every = 10000
INI
export PATH=$PWD/bin:$PATH SLURM_JOB_ID=4242 SLURM_JOB_NODELIST=localhost SLURM_NTASKS=2 SLURM_CPUS_PER_TASK=1
export FMTRAIN CONFIG=$PWD/toy.ini OUT=$PWD/out NSAMPLES=200
(cd "$ROOT" && exec bash jobs/train_toy.sbatch) >job1.txt 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q "^step  *200/" job1.txt 2>/dev/null && break; sleep 0.05; done
kill -USR1 "$pid"
wait "$pid"
grep -q "requeue 4242" scontrol.calls || { echo "FAIL: the script did not requeue"; cat job1.txt; exit 1; }
grep -q "caught signal" job1.txt
SLURM_RESTART_COUNT=1 bash -c "cd '$ROOT' && exec bash jobs/train_toy.sbatch" >job2.txt 2>&1
grep -q "resumed from" job2.txt && grep -q "^done:" job2.txt && [ -f out/samples.h5 ]
[ "$(wc -l < scontrol.calls)" -eq 1 ]
echo "RESULT jobscript: SIGUSR1 -> checkpoint at step $(sed -n 's/.*stopped after step \([0-9]*\).*/\1/p' job1.txt), scontrol requeue; the requeued run resumed, finished and sampled"
