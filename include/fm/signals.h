/* signals.h - preemption: SIGUSR1 (Slurm's --signal=B:USR1@lead, forwarded by mpirun) and
 * SIGTERM set a flag; the training loop polls it at step boundaries, the ranks agree
 * (fm_dist_any), and the run writes a checkpoint and exits with FM_EXIT_PREEMPTED. */
#ifndef FM_SIGNALS_H
#define FM_SIGNALS_H

/* Exit code of a run stopped by a signal after writing its checkpoint (README). */
#define FM_EXIT_PREEMPTED 3

void fm_signals_install(void);
/* The signal number caught (0 if none). */
int fm_signal_caught(void);

#endif
