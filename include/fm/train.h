/* train.h - the training configuration and the `fmtrain train` command. */
#ifndef FM_TRAIN_H
#define FM_TRAIN_H

#include "fm/config.h"
#include "fm/h5io.h"
#include "fm/net.h"
#include "fm/path.h"
#include "fm/toy.h"

typedef struct {
    char data[64], objective[32], path[32], model[16], lr_schedule[16], t_dist[16], out[1024], data_file[1024];
    char mult[64];
    long width, depth, temb, channels, blocks, groups, batch, micro_batch, steps, warmup, seed, log_every, ckpt_every, check_every;
    long data_cache_mb, keep_last, skip_nonfinite;
    double lr, min_lr, weight_decay, beta1, beta2, adam_eps, clip, ema, t_eps, temb_scale;
    int resume, auto_resume, dequantize, hflip;
} FmTrainConfig;

extern const FmOptTable fm_train_opts;

/* What a configuration resolves to: parsed names and the network. */
typedef struct {
    int file;          /* 1: items come from --data-file (info), 0: the toy set `data` */
    FmDataInfo info;
    FmToyKind data;
    FmPred objective;
    FmSchedule sched;
    double t_max; /* training times t lie in [0, t_max] */
    FmNet net;
} FmSetup;

/* Validates names and sizes and builds the network table. 0 or -1 (fm_err_set). */
int fm_setup_resolve(FmSetup *su, const FmTrainConfig *cfg);

/* Upper end of training times: 1 - t_eps, with t_eps < 0 meaning automatic
 * (0.05 for the score objective, whose target -eps/beta explodes at t = 1; 1e-3 for
 * the vp path, whose beta_dot is infinite at t = 1; 0 otherwise). */
double fm_train_t_max(const FmTrainConfig *cfg, FmPred objective, const FmSchedule *sched);

/* `fmtrain train ...` (argv[0] is the first flag). Returns the process exit code. */
int fm_train_main(int argc, char **argv);

#endif
