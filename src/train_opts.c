/* train_opts.c - the options of `fmtrain train` (one table: defaults, INI, flags, help). */
#include <stddef.h>

#include "fm/train.h"

#define F(field) offsetof(FmTrainConfig, field)
#define STR(field) FM_OPT_STRING, F(field), sizeof(((FmTrainConfig *)0)->field)
#define INT(field) FM_OPT_INT, F(field), 0
#define DBL(field) FM_OPT_DOUBLE, F(field), 0
#define BOOL(field) FM_OPT_BOOL, F(field), 0
#define BIG 1e15

static const FmOption OPTS[] = {
    {"data", STR(data), "moons", 0, 0, 1, "toy data set: twopoint (1-D, +-2), 8gaussians, moons, checkerboard, spirals, rings (set to 'file' with --data-file)"},
    {"data-file", STR(data_file), "", 0, 0, 0, "HDF5 data set file to train on instead of a toy set (data/README.md: /images uint8 N x C x H x W or /data float N x D)"},
    {"data-cache-mb", INT(data_cache_mb), "0", 0, 1e7, 0, "per-rank cache of raw data items in MiB (0 = read every item from the file); memory stays within it whatever the data set's size"},
    {"dequantize", BOOL(dequantize), "0", 0, 1, 0, "images: uniform dequantization (x + u)/128 - 1 instead of x/127.5 - 1"},
    {"hflip", BOOL(hflip), "0", 0, 1, 0, "images: random horizontal flips (probability 1/2, keyed by the sample)"},
    {"objective", STR(objective), "velocity", 0, 0, 1, "what the network predicts: velocity (flow matching), score (denoising score matching), noise (epsilon)"},
    {"path", STR(path), "condot", 0, 0, 1, "probability path schedule: condot, cosine, poly:N, vp"},
    {"model", STR(model), "mlp", 0, 0, 1, "network architecture: mlp, or unet (convolutional U-Net, for image data sets)"},
    {"width", INT(width), "256", 1, 65536, 1, "mlp: hidden width"},
    {"depth", INT(depth), "3", 1, 31, 1, "mlp: number of hidden layers"},
    {"channels", INT(channels), "32", 1, 4096, 1, "unet: base channel count (level l has channels x mult[l])"},
    {"mult", STR(mult), "1,2,2", 0, 0, 1, "unet: channel multiplier per level, comma-separated; each level after the first halves the image (28 x 28 allows 3 levels, 32 x 32 up to 6)"},
    {"blocks", INT(blocks), "2", 1, 8, 1, "unet: residual blocks per level (the decoder has one more per level)"},
    {"groups", INT(groups), "8", 1, 4096, 1, "unet: GroupNorm groups (must divide every level's channel count)"},
    {"temb", INT(temb), "32", 2, 4096, 1, "width of the sinusoidal time embedding (even); the unet's embedding MLP widens it to 4 x channels"},
    {"temb-scale", DBL(temb_scale), "50", 1e-3, 1e6, 1, "time scale of the embedding sin/cos(scale t f_k); the DDPM value 1000 makes the field oscillate in t and ODE solvers need many more steps"},
    {"batch", INT(batch), "256", 1, BIG, 0, "global batch size B (all ranks together)"},
    {"micro-batch", INT(micro_batch), "0", 0, BIG, 0, "rows per forward/backward pass (bounds activation memory; gradients accumulate); 0 = B/ranks"},
    {"steps", INT(steps), "2000", 1, BIG, 0, "number of optimizer steps"},
    {"lr", DBL(lr), "1e-3", 0, 10, 0, "peak learning rate"},
    {"lr-schedule", STR(lr_schedule), "constant", 0, 0, 0, "after warm-up: constant or cosine (decays to --min-lr at the last step)"},
    {"min-lr", DBL(min_lr), "0", 0, 10, 0, "final learning rate of the cosine schedule"},
    {"warmup", INT(warmup), "100", 0, BIG, 0, "linear learning-rate warm-up steps"},
    {"weight-decay", DBL(weight_decay), "0", 0, 10, 0, "AdamW decoupled weight decay (weights only, not biases)"},
    {"beta1", DBL(beta1), "0.9", 0, 0.999999, 0, "AdamW beta1"},
    {"beta2", DBL(beta2), "0.999", 0, 0.999999999, 0, "AdamW beta2"},
    {"adam-eps", DBL(adam_eps), "1e-8", 1e-30, 1, 0, "AdamW epsilon"},
    {"clip", DBL(clip), "1.0", 0, BIG, 0, "clip the gradient to this global norm; 0 = off"},
    {"ema", DBL(ema), "0.999", 0, 1, 0, "EMA decay of the weights (with warm-up min(ema, (1+s)/(10+s)))"},
    {"t-dist", STR(t_dist), "uniform", 0, 0, 0, "training time distribution: uniform or logit-normal (sigmoid of N(0,1))"},
    {"t-eps", DBL(t_eps), "-1", -1, 0.5, 0, "train on t in [0, 1 - t_eps]; -1 = auto: 0.05 for score (its target -eps/beta explodes as t -> 1), 1e-3 for the vp path, else 0"},
    {"seed", INT(seed), "1", 0, 4294967295.0, 0, "seed of every random draw (with step, sample index and purpose)"},
    {"out", STR(out), "runs/default", 0, 0, 0, "output directory: checkpoints ckpt-SSSSSSSS.h5, latest.h5, log.h5"},
    {"resume", BOOL(resume), "0", 0, 1, 0, "continue from the newest complete checkpoint in --out (refused if the model differs)"},
    {"auto-resume", BOOL(auto_resume), "0", 0, 1, 0, "resume if --out holds a checkpoint, else start afresh (for requeued batch jobs)"},
    {"log-every", INT(log_every), "100", 1, BIG, 0, "progress line and log row every N steps (loss and grad norm: means over those steps)"},
    {"ckpt-every", INT(ckpt_every), "1000", 1, BIG, 0, "checkpoint every N steps (and at the end)"},
    {"keep-last", INT(keep_last), "0", 0, 1e9, 0, "keep only the newest K checkpoints (0 = keep all)"},
    {"skip-nonfinite", INT(skip_nonfinite), "10", 0, 1e9, 0, "a step whose loss or gradient is NaN/Inf is skipped (no update); after K such steps in a row training stops with an error, without checkpointing (0 = stop at the first)"},
    {"check-every", INT(check_every), "100", 1, BIG, 0, "compare a parameter checksum across ranks every N steps (mismatch = fatal)"},
};

const FmOptTable fm_train_opts = {
    "train",
    "Train a flow-matching (velocity) or diffusion (score / noise) model on toy data with\n"
    "data-parallel MPI: mpirun -np P fmtrain train --data moons --steps 2000 --out runs/moons",
    OPTS, sizeof OPTS / sizeof OPTS[0]};
