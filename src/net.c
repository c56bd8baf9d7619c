/* net.c - one interface over the MLP and the U-Net (net.h). */
#include "fm/net.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

const FmParamTable *fm_net_table(const FmNet *n) { return n->kind == FM_MODEL_MLP ? &n->mlp.table : &n->unet.table; }

void fm_net_init_params(const FmNet *n, float *params, uint64_t seed) {
    if (n->kind == FM_MODEL_MLP) fm_mlp_init_params(&n->mlp, params, seed);
    else fm_unet_init_params(&n->unet, params, seed);
}

double fm_net_flops(const FmNet *n, size_t B) {
    return n->kind == FM_MODEL_MLP ? fm_mlp_flops(&n->mlp, B) : fm_unet_flops(&n->unet, B);
}

double fm_net_forward_flops(const FmNet *n, size_t B) {
    return n->kind == FM_MODEL_MLP ? fm_mlp_forward_flops(&n->mlp, B) : fm_unet_forward_flops(&n->unet, B);
}

double fm_net_forward_exec_flops(const FmNet *n, size_t B) {
    return n->kind == FM_MODEL_MLP ? fm_mlp_forward_flops(&n->mlp, B) : fm_unet_forward_exec_flops(&n->unet, B);
}

void fm_net_describe(const FmNet *n, char *buf, size_t size) {
    if (n->kind == FM_MODEL_MLP) {
        snprintf(buf, size, "mlp: width %zu, depth %zu, time embedding %zu", n->mlp.H, n->mlp.L, n->mlp.E);
        return;
    }
    const FmUnet *u = &n->unet;
    char mult[64] = "";
    for (size_t l = 0; l < u->levels; l++)
        snprintf(mult + strlen(mult), sizeof mult - strlen(mult), "%s%zu", l ? "," : "", u->mult[l]);
    snprintf(buf, size, "unet: %zu x %zu x %zu images, channels %zu, mult %s, blocks %zu, groups %zu, time embedding %zu",
             u->C, u->H, u->W, u->ch, mult, u->blocks, u->groups, u->E);
}

static void acts_init(FmNetActs *a, const FmNet *n, size_t m, int forward_only) {
    memset(a, 0, sizeof *a);
    a->net = n;
    a->m = m;
    if (n->kind == FM_MODEL_MLP) {
        fm_mlp_acts_init_f(&a->mlp, &n->mlp, m);
        a->mlp.forward_only = forward_only; /* the MLP keeps no exp(-a) for a backward pass */
        a->out = a->mlp.out, a->dout = a->mlp.dout;
    } else {
        if (forward_only) fm_unet_acts_init_forward_f(&a->unet, &n->unet, m);
        else fm_unet_acts_init_f(&a->unet, &n->unet, m);
        a->out = a->unet.out, a->dout = a->unet.dout;
    }
}

void fm_net_acts_init(FmNetActs *a, const FmNet *n, size_t m) { acts_init(a, n, m, 0); }
void fm_net_acts_init_forward(FmNetActs *a, const FmNet *n, size_t m) { acts_init(a, n, m, 1); }

void fm_net_acts_free(FmNetActs *a) {
    if (!a || !a->net) return;
    if (a->net->kind == FM_MODEL_MLP) fm_mlp_acts_free_f(&a->mlp);
    else fm_unet_acts_free_f(&a->unet);
    a->net = NULL;
}

double fm_net_act_bytes(const FmNet *n, size_t m) {
    if (n->kind == FM_MODEL_UNET) return fm_unet_act_bytes(&n->unet, m, (size_t)omp_get_max_threads());
    const double D = (double)n->mlp.D, DE = (double)(n->mlp.D + n->mlp.E), H = (double)n->mlp.H, L = (double)n->mlp.L;
    return 4.0 * (double)m * (2 * DE + 3 * L * H + 2 * D + 2 * H);
}

void fm_net_forward(const FmNet *n, const float *params, FmNetActs *a, const float *x, const float *t, size_t B) {
    if (n->kind == FM_MODEL_MLP) fm_mlp_forward_f(&n->mlp, params, &a->mlp, x, t, B);
    else fm_unet_forward_f(&n->unet, params, &a->unet, x, t, B);
}

void fm_net_backward(const FmNet *n, const float *params, float *grads, FmNetActs *a, size_t B) {
    if (n->kind == FM_MODEL_MLP) fm_mlp_backward_f(&n->mlp, params, grads, &a->mlp, B);
    else fm_unet_backward_f(&n->unet, params, grads, &a->unet, B, 0);
}

void fm_net_quadform(const FmNet *n, const float *params, FmNetActs *a, const float *x, const float *t,
                     const float *v, size_t B, float *w) {
    if (n->kind == FM_MODEL_MLP) fm_mlp_jvp_f(&n->mlp, params, &a->mlp, x, t, v, B, w);
    else fm_unet_vjp_f(&n->unet, params, &a->unet, x, t, v, B, w);
}
