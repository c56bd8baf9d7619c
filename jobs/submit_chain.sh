#!/usr/bin/env bash
# Submits a run as a chain of Slurm jobs, each starting only after the previous one succeeded
# (--dependency=afterok; --kill-on-invalid-dep=yes removes the rest of the chain when a job
# fails, instead of leaving it pending forever):
#   train    $TRAIN (jobs/train_fashion_mnist.sbatch), requeued on preemption as often as needed
#   sample   jobs/sample.sbatch, from the newest checkpoint of the training run
#   [nll     jobs/nll.sbatch, with NLL=1; after training, beside sampling]
#   analyse  jobs/analyse.sbatch: plots of the log, the samples (and the NLL), summary.txt
# From the project directory, after `make` (and `make data` for Fashion-MNIST):
#   jobs/submit_chain.sh
#   TRAIN=jobs/train_toy.sbatch CONFIG=jobs/moons.ini NLL=1 jobs/submit_chain.sh
#   OUT=runs/fm-a TRAIN_FLAGS="--steps 20000" NSAMPLES=64 SBATCH_FLAGS="--partition=long" jobs/submit_chain.sh
# Every job gets this environment (sbatch --export=ALL), so the scripts' variables (CONFIG,
# DATA, TRAIN_FLAGS, NSAMPLES, SOLVER, DIVERGENCE, ...) are set here; the run directory is
# $OUT for the training and RUN=$OUT for the others. Prints one line per job: "STAGE JOBID".
set -euo pipefail

TRAIN=${TRAIN:-jobs/train_fashion_mnist.sbatch}
OUT=${OUT:-runs/chain-$(date +%Y%m%d-%H%M%S)}
NLL=${NLL:-0}                       # 1: also a likelihood job (jobs/nll.sbatch)
SBATCH_FLAGS=${SBATCH_FLAGS:-}      # flags for every sbatch, e.g. "--partition=p --account=a"

for s in "$TRAIN" jobs/sample.sbatch jobs/nll.sbatch jobs/analyse.sbatch; do
    [ -f "$s" ] || { echo "submit_chain.sh: no $s: run it from the project directory" >&2; exit 2; }
done
export OUT RUN=$OUT
# shellcheck disable=SC2086  # SBATCH_FLAGS is a list of flags
submit() { # [sbatch flags...] script: prints the job id
    sbatch --parsable --export=ALL $SBATCH_FLAGS "$@" | cut -d';' -f1
}
after() { # job ids...: the flags of a job that needs them all to have succeeded
    local IFS=:
    echo "--dependency=afterok:$* --kill-on-invalid-dep=yes"
}

train=$(submit "$TRAIN")
echo "train $train"
# shellcheck disable=SC2046  # after prints two flags
sample=$(submit $(after "$train") --export=ALL,PLOTS=0 jobs/sample.sbatch)
echo "sample $sample"
deps=("$sample")
if [ "$NLL" = 1 ]; then
    # shellcheck disable=SC2046
    nll=$(submit $(after "$train") --export=ALL,PLOTS=0 jobs/nll.sbatch)
    echo "nll $nll"
    deps+=("$nll")
fi
# shellcheck disable=SC2046
analyse=$(submit $(after "${deps[@]}") jobs/analyse.sbatch)
echo "analyse $analyse"
echo "run directory $OUT; follow with: squeue -j $train,$sample${nll:+,$nll},$analyse"
