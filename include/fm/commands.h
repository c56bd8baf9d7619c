/* commands.h - the subcommands of the fmtrain binary and what they share. Each *_main
 * takes the arguments after the command name and returns the process exit code. */
#ifndef FM_COMMANDS_H
#define FM_COMMANDS_H

#include <stddef.h>

#include "fm/train.h"

/* Every command as X(name, entry point): main.c's dispatch table and the config-file sections
 * that belong to other commands (config.c) both come from this one list. */
#define FM_COMMANDS(X)                                                                                 \
    X("train", fm_train_main) X("sample", fm_sample_main) X("oracle", fm_oracle_main)                \
    X("field", fm_field_main) X("fielderr", fm_fielderr_main) X("nll", fm_nll_main)                  \
    X("bench", fm_bench_main) X("probe", fm_probe_main)

int fm_train_main(int argc, char **argv);
int fm_sample_main(int argc, char **argv);
int fm_oracle_main(int argc, char **argv);
int fm_field_main(int argc, char **argv);
int fm_fielderr_main(int argc, char **argv);
int fm_nll_main(int argc, char **argv);
int fm_bench_main(int argc, char **argv);
int fm_probe_main(int argc, char **argv);

/* Loads a checkpoint (file or run directory) on rank 0 and shares it with every rank:
 * the training configuration, the resolved setup and the EMA (or raw) weights.
 * `expect_objective` (may be "") must match the checkpoint's objective. Collective;
 * 0, or -1 after the error was printed. *w and *config_text are malloc'ed. */
int fm_model_load(const char *ckpt, const char *weights, const char *expect_objective, FmTrainConfig *tc,
                  FmSetup *su, float **w, char *path, size_t path_size, char **config_text);

#endif
