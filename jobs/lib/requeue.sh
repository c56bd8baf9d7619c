# Preemption and requeue for fmtrain training jobs: sourced by the batch scripts in jobs/
# (not a job itself), from the project directory a job starts in:
#   . jobs/lib/requeue.sh
#   run_requeueable mpirun -q -np "$SLURM_NTASKS" "$FMTRAIN" train ... --auto-resume
#
# run_requeueable runs its command in the background, so that the batch shell can act on a
# signal while the command runs (a shell runs a trap only between commands, and `wait` is
# interruptible). SIGUSR1 (what `#SBATCH --signal=B:USR1@<lead>` sends to the batch shell
# <lead> seconds before the time limit, or `scancel --signal=USR1 --batch JOBID`) is forwarded
# to it: mpirun and srun both pass the signal on to the ranks, fmtrain writes a checkpoint at
# the next step boundary and every rank exits with code 3. SIGTERM is forwarded the same way,
# but it comes with `scancel`, the time limit itself and preemption by cancellation, when Slurm
# signals mpirun and the ranks directly as well: the checkpoint is still written if there is
# time (Slurm's KillWait, 30 s by default, before SIGKILL), mpirun exits with a code of its own
# and the job ends cancelled, not requeued (resubmitting it resumes from the checkpoint). Then:
#   exit code 0  run_requeueable returns 0 (the script goes on, e.g. to sampling);
#   exit code 3  `scontrol requeue $SLURM_JOB_ID` and the script exits 0; the requeued job
#                (same job id, SLURM_RESTART_COUNT=1, 2, ...) runs the script again, and
#                `--auto-resume` continues from the checkpoint; if the requeue is refused
#                the script exits 3 (the job fails visibly instead of ending half-trained);
#   otherwise    the script exits with the command's exit code.
# The job needs `#SBATCH --requeue` (and `--open-mode=append` keeps the first run's output).

# The pid of the running command, and a signal that arrived before it started.
_rq_pid=
_rq_pending=0

_rq_forward() {
    if [ -n "$_rq_pid" ]; then
        echo "requeue.sh: signal received, asking pid $_rq_pid to checkpoint and stop"
        kill -USR1 "$_rq_pid" 2>/dev/null
    else
        _rq_pending=1
    fi
}

run_requeueable() { # command...
    local rc rc2
    trap _rq_forward USR1 TERM
    "$@" &
    _rq_pid=$!
    [ "$_rq_pending" -eq 1 ] && _rq_forward
    # `wait` returns > 128 when a trapped signal interrupts it: wait again for the command
    # itself. A second wait that finds no such child (127) means the command had ended with
    # that status by itself (e.g. 137: killed).
    wait "$_rq_pid"; rc=$?
    while [ "$rc" -gt 128 ]; do
        wait "$_rq_pid"; rc2=$?
        [ "$rc2" -eq 127 ] && break
        rc=$rc2
    done
    _rq_pid=
    trap - USR1 TERM
    case $rc in
    0) return 0 ;;
    3)
        echo "preempted: exit code 3, checkpoint written; requeueing job ${SLURM_JOB_ID:-?} (restart ${SLURM_RESTART_COUNT:-0})"
        if [ -n "${SLURM_JOB_ID:-}" ] && scontrol requeue "$SLURM_JOB_ID"; then
            exit 0
        fi
        echo "requeue.sh: scontrol requeue failed; resubmit the job to continue (it resumes from the checkpoint)"
        exit 3 ;;
    *)
        echo "requeue.sh: '$1' failed with exit code $rc"
        exit "$rc" ;;
    esac
}
