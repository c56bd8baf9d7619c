/* probe.c - `fmtrain probe`: a trained (or freshly initialised) network on one fixed batch, its
 * prediction, loss and parameter gradients written out, for checks against an independent
 * implementation (scripts/unet_torch.py builds the same network in PyTorch and compares).
 *
 * The batch: x (n, D) ~ N(0, I), t ~ U[0, 1), target (n, D) ~ N(0, I), drawn from keyed streams
 * (seed, 0, row, FM_RNG_NOISE / FM_RNG_TIME / FM_RNG_DATA); loss = 1/(n D) sum ||out - target||^2
 * as in training. The file also holds the weights and the tensor table, so it describes itself.
 * Runs on rank 0 (the others wait).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/commands.h"
#include "fm/common.h"
#include "fm/dist.h"
#include "fm/h5io.h"
#include "fm/layers.h"
#include "fm/rng.h"

typedef struct {
    char ckpt[1024], weights[8], out[1024];
    long n, seed;
} ProbeConfig;

#define F(field) offsetof(ProbeConfig, field)
#define STR(field) FM_OPT_STRING, F(field), sizeof(((ProbeConfig *)0)->field)
static const FmOption OPTS[] = {
    {"ckpt", STR(ckpt), "", 0, 0, 0, "checkpoint file, or a run directory (its newest complete checkpoint); required"},
    {"weights", STR(weights), "raw", 0, 0, 0, "which weights to use: raw or ema"},
    {"n", FM_OPT_INT, F(n), 0, "4", 1, 4096, 0, "rows of the batch"},
    {"seed", FM_OPT_INT, F(seed), 0, "1", 0, 4294967295.0, 0, "seed of the batch"},
    {"out", STR(out), "probe.h5", 0, 0, 0, "output HDF5 file: /x, /t, /target, /out, /grads, /params"},
};
#undef F
#undef STR
static const FmOptTable PROBE_TABLE = {
    "probe",
    "Evaluate a network on one fixed random batch and write its prediction, loss and parameter\n"
    "gradients (for checks against other implementations): fmtrain probe --ckpt runs/unet --out p.h5",
    OPTS, sizeof OPTS / sizeof OPTS[0]};

int fm_probe_main(int argc, char **argv) {
    ProbeConfig pc;
    int help = 0, rc = fm_opts_parse(&PROBE_TABLE, &pc, argc, argv, &help);
    if (help) {
        if (fm_dist_rank() == 0) fm_opts_help(&PROBE_TABLE, stdout);
        return FM_EXIT_OK;
    }
    if (!rc && fm_dist_rank() == 0) rc = fm_out_check(pc.out, "fmtrain-probe");
    if (fm_dist_agree(rc)) return FM_EXIT_USAGE;
    FmTrainConfig tc;
    FmSetup *su = fm_calloc(1, sizeof *su);
    float *w = NULL;
    char path[4096] = "", *text = NULL;
    if (fm_model_load(pc.ckpt, pc.weights, "", &tc, su, &w, path, sizeof path, &text)) {
        free(su), free(w), free(text);
        return FM_EXIT_USAGE;
    }
    rc = 0;
    if (fm_dist_rank() == 0) {
        const FmNet *net = &su->net;
        const size_t n = (size_t)pc.n, D = net->D, NP = fm_net_table(net)->total;
        float *x = fm_malloc_floats(n * D), *t = fm_malloc_floats(n), *target = fm_malloc_floats(n * D);
        float *grads = fm_malloc_floats(NP);
        for (size_t i = 0; i < n; i++) {
            FmStream s;
            fm_stream_init(&s, (uint64_t)pc.seed, 0, i, FM_RNG_NOISE);
            for (size_t d = 0; d < D; d++) x[i * D + d] = (float)fm_stream_normal(&s);
            fm_stream_init(&s, (uint64_t)pc.seed, 0, i, FM_RNG_DATA);
            for (size_t d = 0; d < D; d++) target[i * D + d] = (float)fm_stream_normal(&s);
            fm_stream_init(&s, (uint64_t)pc.seed, 0, i, FM_RNG_TIME);
            t[i] = (float)fm_stream_uniform(&s);
        }
        FmNetActs acts;
        fm_net_acts_init(&acts, net, n);
        const double scale = 1.0 / ((double)n * (double)D);
        fm_net_forward(net, w, &acts, x, t, n);
        const double loss = scale * fm_sqerr_f(acts.dout, acts.out, target, n * D, scale);
        fm_net_backward(net, w, grads, &acts, n);
        FmFileMeta meta = {text, fm_dist_size(), tc.objective, tc.path, tc.data_file[0] ? tc.data_file : tc.data,
                           tc.model};
        FmOut *o = fm_out_create(pc.out, "fmtrain-probe", &meta);
        const size_t dx[2] = {n, D}, dn[1] = {n}, dp[1] = {NP};
        fm_out_floats(o, "x", 2, dx, x);
        fm_out_floats(o, "t", 1, dn, t);
        fm_out_floats(o, "target", 2, dx, target);
        fm_out_floats(o, "out", 2, dx, acts.out);
        fm_out_floats(o, "grads", 1, dp, grads);
        fm_out_floats(o, "params", 1, dp, w);
        /* the tensor table, so that the file describes itself: names (one per line) and
         * [offset, rows, cols, decay] per tensor */
        const FmParamTable *tab = fm_net_table(net);
        long *rows = fm_calloc((size_t)tab->count * 4, sizeof *rows);
        char *names = fm_calloc((size_t)tab->count, FM_NAME_MAX + 1);
        for (int i = 0; i < tab->count; i++) {
            const FmTensor *tt = &tab->t[i];
            rows[4 * i] = (long)tt->off, rows[4 * i + 1] = (long)tt->rows, rows[4 * i + 2] = (long)tt->cols;
            rows[4 * i + 3] = tt->decay;
            strcat(strcat(names, tt->name), "\n");
        }
        fm_out_longs(o, "tensor_table", (size_t)tab->count * 4, rows);
        fm_out_attr_str(o, "tensor_names", names);
        free(rows), free(names);
        fm_out_attr_f64(o, "loss", loss);
        fm_out_attr_str(o, "checkpoint", path);
        fm_out_attr_str(o, "weights", pc.weights);
        if (net->kind == FM_MODEL_UNET) { /* as in samples files: /image_shape = [C, H, W] */
            const double shape[3] = {(double)net->unet.C, (double)net->unet.H, (double)net->unet.W};
            const size_t d3[1] = {3};
            fm_out_doubles(o, "image_shape", 1, d3, shape);
        }
        rc = fm_out_close(o);
        if (!rc) printf("probe: %zu rows, loss %.8g, %zu parameter gradients; wrote %s\n", n, loss, NP, pc.out);
        fm_net_acts_free(&acts);
        free(x), free(t), free(target), free(grads);
    }
    if (fm_dist_agree(rc)) rc = FM_EXIT_FATAL;
    free(su), free(w), free(text);
    return rc;
}
