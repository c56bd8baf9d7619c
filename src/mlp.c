/* mlp.c - the parameter table and the MLP (template mlp_tmpl.h for float and double). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/layers.h"
#include "fm/model.h"
#include "fm/rng.h"

const FmTensor *fm_table_find(const FmParamTable *tab, const char *name) {
    for (int i = 0; i < tab->count; i++)
        if (strcmp(tab->t[i].name, name) == 0) return &tab->t[i];
    return NULL;
}

int fm_table_add(FmParamTable *tab, const char *name, size_t rows, size_t cols, int decay) {
    if (tab->count >= FM_MAX_TENSORS) return fm_err_set("too many parameter tensors (at most %d)", FM_MAX_TENSORS);
    FmTensor *t = &tab->t[tab->count++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->off = tab->total;
    t->rows = rows;
    t->cols = cols;
    t->decay = decay;
    /* keep every tensor 64-byte aligned inside the buffer */
    tab->total += (rows * cols + 15) / 16 * 16;
    return tab->count - 1;
}

int fm_mlp_init(FmMlp *net, size_t D, size_t E, size_t H, size_t L) {
    memset(net, 0, sizeof *net);
    if (D < 1) return fm_err_set("data dimension must be >= 1 (got %zu)", D);
    if (E < 2 || E % 2) return fm_err_set("time embedding width must be even and >= 2 (got %zu)", E);
    if (H < 1 || H > (1u << 16)) return fm_err_set("width must be in [1, 65536] (got %zu)", H);
    if (L < 1 || L > FM_MLP_MAX_DEPTH) return fm_err_set("depth must be in [1, %d] (got %zu)", FM_MLP_MAX_DEPTH, L);
    net->D = D;
    net->E = E;
    net->H = H;
    net->L = L;
    net->temb_scale = FM_TEMB_SCALE_DEFAULT;
    char name[FM_NAME_MAX];
    for (size_t l = 0; l <= L; l++) {
        size_t in = l ? H : D + E, out = l < L ? H : D;
        snprintf(name, sizeof name, "fc%zu.weight", l);
        fm_table_add(&net->table, name, out, in, 1);
        snprintf(name, sizeof name, "fc%zu.bias", l);
        fm_table_add(&net->table, name, out, 1, 0);
    }
    return 0;
}

void fm_mlp_init_params(const FmMlp *net, float *params, uint64_t seed) {
    for (int i = 0; i < net->table.count; i++) {
        const FmTensor *t = &net->table.t[i];
        /* fan_in of a weight is its column count; a bias shares its weight's fan_in */
        size_t fan_in = t->cols > 1 ? t->cols : net->table.t[i - 1].cols;
        double bound = 1.0 / sqrt((double)fan_in);
        FmStream s;
        fm_stream_init(&s, seed, 0, (uint64_t)i, FM_RNG_INIT);
        for (size_t k = 0; k < t->rows * t->cols; k++)
            params[t->off + k] = (float)(bound * (2 * fm_stream_uniform(&s) - 1));
    }
}

/* Multiply-adds of layer l for one row: inputs x outputs. */
static double layer_macs(const FmMlp *net, size_t l) {
    return (l ? (double)net->H : (double)(net->D + net->E)) * (l < net->L ? (double)net->H : (double)net->D);
}

double fm_mlp_flops(const FmMlp *net, size_t B) {
    /* forward 2 B I O per layer; backward dW 2 B I O and dX 2 B I O (not for fc0) */
    double f = 0;
    for (size_t l = 0; l <= net->L; l++) f += 2.0 * (double)B * layer_macs(net, l) * (l ? 3 : 2);
    return f;
}

double fm_mlp_forward_flops(const FmMlp *net, size_t B) {
    double f = 0;
    for (size_t l = 0; l <= net->L; l++) f += 2.0 * (double)B * layer_macs(net, l);
    return f;
}

#include <cblas.h>

#define T float
#define S f
#include "mlp_tmpl.h"
#undef T
#undef S

#define T double
#define S d
#include "mlp_tmpl.h"
#undef T
#undef S
