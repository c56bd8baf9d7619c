/* unet.c - the U-Net's op list, parameter table and gradient-buffer sharing (unet.h); the
 * forward/backward executor is the template unet_tmpl.h, for float and double. */
#include "fm/unet.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/layers.h"
#include "fm/rng.h"

int fm_unet_parse_mult(size_t *mult, size_t *levels, const char *text) {
    size_t n = 0;
    const char *p = text;
    for (;;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 64)
            return fm_err_set("--mult '%s': expected comma-separated integers in [1, 64], e.g. 1,2,2", text);
        if (n == FM_UNET_MAX_LEVELS) return fm_err_set("--mult '%s': at most %d levels", text, FM_UNET_MAX_LEVELS);
        mult[n++] = (size_t)v;
        if (*end == '\0') break;
        if (*end != ',') return fm_err_set("--mult '%s': expected comma-separated integers, e.g. 1,2,2", text);
        p = end + 1;
    }
    *levels = n;
    return 0;
}

/* ---------------------------------------------------------------- building the op list */

typedef struct {
    FmUnet *u;
    int err; /* the first failure (fm_err_set holds its message) */
} Builder;

static int new_buf(Builder *bd, size_t C, size_t H, size_t W) {
    FmUnet *u = bd->u;
    if (bd->err) return -1;
    if (u->nbufs == FM_UNET_MAX_BUFS) {
        bd->err = fm_err_set("U-Net too large: more than %d buffers", FM_UNET_MAX_BUFS);
        return -1;
    }
    u->bufs[u->nbufs] = (FmBuf){C, H, W, u->act_floats, (size_t)-1, 0};
    u->act_floats += C * H * W;
    return u->nbufs++;
}

static int tensor(Builder *bd, const char *prefix, const char *what, size_t rows, size_t cols, int decay, int init,
                  size_t fan_in) {
    if (bd->err) return -1;
    char name[FM_NAME_MAX + 8];
    snprintf(name, sizeof name, "%s%s%s", prefix, prefix[0] ? "." : "", what);
    if (strlen(name) >= FM_NAME_MAX) {
        bd->err = fm_err_set("U-Net tensor name '%s' too long", name);
        return -1;
    }
    int i = fm_table_add(&bd->u->table, name, rows, cols, decay);
    if (i < 0) {
        bd->err = -1;
        return -1;
    }
    bd->u->init_kind[i] = (unsigned char)init;
    bd->u->fan_in[i] = fan_in;
    return i;
}

static int add_op(Builder *bd, FmOp op) {
    FmUnet *u = bd->u;
    if (bd->err) return -1;
    if (u->nops == FM_UNET_MAX_OPS) {
        bd->err = fm_err_set("U-Net too large: more than %d ops", FM_UNET_MAX_OPS);
        return -1;
    }
    u->ops[u->nops++] = op;
    return op.out;
}

#define BUF(i) (bd->u->bufs[i])
static size_t chans(const Builder *bd, int b) { return b < 0 ? 0 : bd->u->bufs[b].C; }

static int conv(Builder *bd, int in, size_t Co, size_t K, size_t stride, const char *name) {
    if (bd->err) return -1;
    FmOp op = {.kind = FM_OP_CONV, .in0 = in, .in1 = -1};
    if (fm_conv_dims(&op.conv, BUF(in).C, BUF(in).H, BUF(in).W, Co, K, stride, K / 2)) return bd->err = -1;
    const size_t fan = op.conv.Ci * K * K;
    op.w = tensor(bd, name, "weight", Co, fan, 1, 0, fan);
    op.b = tensor(bd, name, "bias", Co, 1, 0, 0, fan);
    op.out = new_buf(bd, Co, op.conv.Ho, op.conv.Wo);
    return add_op(bd, op);
}

static int norm(Builder *bd, int in, const char *name) {
    if (bd->err) return -1;
    const size_t C = BUF(in).C, G = bd->u->groups;
    if (C % G) {
        bd->err = fm_err_set("--groups %zu does not divide the %zu channels at '%s' (choose a divisor of every level's "
                             "channel count, e.g. of --channels)", G, C, name);
        return -1;
    }
    FmOp op = {.kind = FM_OP_GN, .in0 = in, .in1 = -1, .G = G, .stat = bd->u->stat_floats};
    op.w = tensor(bd, name, "weight", C, 1, 0, 1, 0);
    op.b = tensor(bd, name, "bias", C, 1, 0, 2, 0);
    op.out = new_buf(bd, C, BUF(in).H, BUF(in).W);
    bd->u->stat_floats += G;
    return add_op(bd, op);
}

static int simple(Builder *bd, FmOpKind kind, int a, int b, size_t C, size_t H, size_t W) {
    if (bd->err) return -1;
    return add_op(bd, (FmOp){.kind = kind, .in0 = a, .in1 = b, .out = new_buf(bd, C, H, W), .w = -1, .b = -1});
}

/* out = a (+) b written over a: a new buffer name for a's memory. a must have no other reader. */
static int in_place(Builder *bd, FmOpKind kind, int a, int b) {
    int o = new_buf(bd, 0, 0, 0);
    if (o < 0) return -1;
    bd->u->bufs[o] = (FmBuf){BUF(a).C, BUF(a).H, BUF(a).W, BUF(a).off, (size_t)-1, 0};
    return add_op(bd, (FmOp){.kind = kind, .in0 = a, .in1 = b, .out = o, .w = -1, .b = -1, .inplace = 1});
}

static int silu(Builder *bd, int in) { return bd->err ? -1 : simple(bd, FM_OP_SILU, in, -1, BUF(in).C, BUF(in).H, BUF(in).W); }

static int linear(Builder *bd, int in, size_t NO, const char *name) {
    if (bd->err) return -1;
    const size_t NI = BUF(in).C;
    FmOp op = {.kind = FM_OP_LINEAR, .in0 = in, .in1 = -1};
    op.w = tensor(bd, name, "weight", NO, NI, 1, 0, NI);
    op.b = tensor(bd, name, "bias", NO, 1, 0, 0, NI);
    op.out = new_buf(bd, NO, 1, 1);
    return add_op(bd, op);
}

static int resblock(Builder *bd, int x, size_t Co, int s, const char *name) {
    if (bd->err) return -1;
    char p[FM_NAME_MAX];
    const size_t Ci = BUF(x).C;
    snprintf(p, sizeof p, "%s.norm1", name);
    int h = silu(bd, norm(bd, x, p));
    snprintf(p, sizeof p, "%s.conv1", name);
    h = conv(bd, h, Co, 3, 1, p);
    snprintf(p, sizeof p, "%s.temb", name);
    int e = linear(bd, s, Co, p);
    if (bd->err) return -1;
    /* the embedding's layer runs before conv1 (its tensors still come after conv1's), so that the
     * ADDCH follows conv1 and is added as conv1 writes out (fm_unet_forward) */
    FmOp *ops = bd->u->ops + bd->u->nops - 2, t = ops[0];
    ops[0] = ops[1], ops[1] = t;
    h = in_place(bd, FM_OP_ADDCH, h, e);
    snprintf(p, sizeof p, "%s.norm2", name);
    h = silu(bd, norm(bd, h, p));
    snprintf(p, sizeof p, "%s.conv2", name);
    h = conv(bd, h, Co, 3, 1, p);
    int sk = x;
    if (Ci != Co) {
        snprintf(p, sizeof p, "%s.skip", name);
        sk = conv(bd, x, Co, 1, 1, p);
    }
    if (bd->err) return -1;
    return in_place(bd, FM_OP_ADD, h, sk);
}

/* An arena's slots, reused best-fit once free. */
typedef struct {
    size_t off[FM_UNET_MAX_BUFS], size[FM_UNET_MAX_BUFS], total; /* floats per sample */
    int busy[FM_UNET_MAX_BUFS], n;
} Slots;

/* A free slot of at least n floats (the smallest), or a new one at the arena's end; marked busy. */
static int take_slot(Slots *sl, size_t n) {
    int best = -1;
    for (int s = 0; s < sl->n; s++)
        if (!sl->busy[s] && sl->size[s] >= n && (best < 0 || sl->size[s] < sl->size[best])) best = s;
    if (best < 0) {
        best = sl->n++;
        sl->off[best] = sl->total;
        sl->size[best] = n;
        sl->total += n;
    }
    sl->busy[best] = 1;
    return best;
}

/* Gradient buffers: walking the ops backwards, the gradient of buffer i is live from its last
 * reader (where backward first adds into it) until its producer has consumed it. */
static void share_gradients(FmUnet *u) {
    Slots sl = {.n = 0, .total = 0};
    int slot_of[FM_UNET_MAX_BUFS];
    for (int i = 0; i < u->nbufs; i++) slot_of[i] = -1;
    for (int k = u->nops; k-- > 0;) {
        const FmOp *op = &u->ops[k];
        const int need[3] = {k == u->nops - 1 ? op->out : -1, op->in0, op->in1};
        for (int j = 0; j < 3; j++) {
            const int b = need[j];
            if (b < 0 || b == 1 || slot_of[b] >= 0 || (j > 0 && u->last_use[b] != k)) continue;
            if (j == 1 && op->inplace) { /* in0's gradient is out's: the slot passes on */
                slot_of[b] = slot_of[op->out];
                u->bufs[b].goff = u->bufs[op->out].goff;
                continue;
            }
            slot_of[b] = take_slot(&sl, u->bufs[b].C * u->bufs[b].H * u->bufs[b].W);
            u->bufs[b].goff = sl.off[slot_of[b]];
        }
        if (!op->inplace && slot_of[op->out] >= 0) sl.busy[slot_of[op->out]] = 0;
    }
    u->grad_floats = sl.total;
}

/* The forward-only arena: walking the ops forwards, a buffer is live from its producer to its last
 * reader; an op's output takes a free slot (best fit) before its inputs' slots are freed, since the
 * ops do not write over their inputs, except in place: where the output is its input's memory (ADD,
 * ADDCH), and here also a SiLU that reads its input last (elementwise, and fused with a GroupNorm
 * before it: fm_unet_forward). */
static void share_forward(FmUnet *u) {
    Slots sl = {.n = 0, .total = 0};
    int slot_of[FM_UNET_MAX_BUFS];
    for (int i = 0; i < u->nbufs; i++) slot_of[i] = -1;
    for (int k = -2; k < u->nops; k++) {
        const FmOp *op = k >= 0 ? &u->ops[k] : NULL;
        const int b = op ? op->out : k + 2; /* first x (0) and the embedding (1), written before the ops */
        const int inplace = op && (op->inplace || (op->kind == FM_OP_SILU && u->last_use[op->in0] == k));
        if (inplace) slot_of[b] = slot_of[op->in0];
        else slot_of[b] = take_slot(&sl, (u->bufs[b].C * u->bufs[b].H * u->bufs[b].W + 15) / 16 * 16); /* 64-byte aligned */
        u->bufs[b].foff = sl.off[slot_of[b]];
        if (!op) continue;
        const int ins[2] = {op->in0, op->in1};
        for (int j = 0; j < 2; j++) /* freed after their last reader (in place: the slot passed on) */
            if (ins[j] >= 0 && u->last_use[ins[j]] == k && !(j == 0 && inplace)) sl.busy[slot_of[ins[j]]] = 0;
    }
    u->fwd_floats = sl.total;
}

int fm_unet_init(FmUnet *u, const FmUnetShape *sh) {
    memset(u, 0, sizeof *u);
    if (!sh->C || !sh->H || !sh->W) return fm_err_set("the U-Net needs images (C x H x W); got %zu x %zu x %zu", sh->C, sh->H, sh->W);
    if (sh->levels < 1 || sh->levels > FM_UNET_MAX_LEVELS)
        return fm_err_set("the U-Net needs 1 to %d levels (got %zu)", FM_UNET_MAX_LEVELS, sh->levels);
    if (sh->ch < 1 || sh->ch > 4096) return fm_err_set("--channels must be in [1, 4096] (got %zu)", sh->ch);
    if (sh->blocks < 1 || sh->blocks > 8) return fm_err_set("--blocks must be in [1, 8] (got %zu)", sh->blocks);
    if (sh->groups < 1) return fm_err_set("--groups must be >= 1");
    if (sh->E < 2 || sh->E % 2) return fm_err_set("time embedding width must be even and >= 2 (got %zu)", sh->E);
    const size_t f = (size_t)1 << (sh->levels - 1);
    if (sh->H % f || sh->W % f)
        return fm_err_set("a %zu-level U-Net halves the image %zu times: %zu x %zu is not divisible by %zu (use fewer "
                          "levels in --mult)", sh->levels, sh->levels - 1, sh->H, sh->W, f);
    u->C = sh->C, u->H = sh->H, u->W = sh->W, u->D = sh->C * sh->H * sh->W;
    u->ch = sh->ch, u->levels = sh->levels, u->blocks = sh->blocks, u->groups = sh->groups, u->E = sh->E;
    u->TE = 4 * sh->ch;
    memcpy(u->mult, sh->mult, sizeof u->mult);
    u->temb_scale = FM_TEMB_SCALE_DEFAULT;

    Builder b = {u, 0}, *bd = &b;
    const int x = new_buf(bd, u->C, u->H, u->W), emb = new_buf(bd, u->E, 1, 1);
    (void)emb;
    int s = silu(bd, linear(bd, silu(bd, linear(bd, 1, u->TE, "temb.0")), u->TE, "temb.1"));
    int h = conv(bd, x, u->ch, 3, 1, "conv_in");
    int skips[FM_UNET_MAX_BUFS], ns = 0;
    skips[ns++] = h;
    char name[FM_NAME_MAX];
    for (size_t l = 0; l < u->levels; l++) {
        for (size_t k = 0; k < u->blocks; k++) {
            snprintf(name, sizeof name, "enc.%zu.%zu", l, k);
            h = resblock(bd, h, u->ch * u->mult[l], s, name);
            skips[ns++] = h;
        }
        if (l + 1 < u->levels) {
            snprintf(name, sizeof name, "down.%zu", l);
            h = conv(bd, h, chans(bd, h), 3, 2, name);
            skips[ns++] = h;
        }
    }
    h = resblock(bd, h, chans(bd, h), s, "mid.0");
    h = resblock(bd, h, chans(bd, h), s, "mid.1");
    for (size_t l = u->levels; l-- > 0;) {
        for (size_t k = 0; k <= u->blocks; k++) {
            if (bd->err) break;
            const int sk = skips[--ns];
            h = simple(bd, FM_OP_CAT, h, sk, BUF(h).C + BUF(sk).C, BUF(h).H, BUF(h).W);
            snprintf(name, sizeof name, "dec.%zu.%zu", l, k);
            h = resblock(bd, h, u->ch * u->mult[l], s, name);
        }
        if (l > 0 && !bd->err) {
            h = simple(bd, FM_OP_UP, h, -1, BUF(h).C, 2 * BUF(h).H, 2 * BUF(h).W);
            snprintf(name, sizeof name, "up.%zu", l);
            h = conv(bd, h, chans(bd, h), 3, 1, name);
        }
    }
    h = silu(bd, norm(bd, h, "norm_out"));
    h = conv(bd, h, u->C, 3, 1, "conv_out");
    if (bd->err) return -1;
    u->out_buf = h;
    int readers[FM_UNET_MAX_BUFS] = {0};
    for (int i = 0; i < u->nbufs; i++) u->last_use[i] = -1;
    for (int k = 0; k < u->nops; k++) {
        u->last_use[u->ops[k].in0] = k;
        readers[u->ops[k].in0]++;
        if (u->ops[k].in1 >= 0) u->last_use[u->ops[k].in1] = k, readers[u->ops[k].in1]++;
    }
    for (int k = 0; k < u->nops; k++) /* what overwriting in place relies on */
        FM_CHECK(!u->ops[k].inplace || readers[u->ops[k].in0] == 1, "unet: in-place op %d on a buffer read %d times", k,
                 readers[u->ops[k].in0]);
    share_gradients(u);
    share_forward(u);
    return 0;
}

void fm_unet_init_params(const FmUnet *u, float *params, uint64_t seed) {
    for (int i = 0; i < u->table.count; i++) {
        const FmTensor *t = &u->table.t[i];
        const size_t n = t->rows * t->cols;
        if (u->init_kind[i]) {
            for (size_t k = 0; k < n; k++) params[t->off + k] = u->init_kind[i] == 1 ? 1.0f : 0.0f;
            continue;
        }
        const double bound = 1.0 / sqrt((double)u->fan_in[i]);
        FmStream s;
        fm_stream_init(&s, seed, 0, (uint64_t)i, FM_RNG_INIT);
        for (size_t k = 0; k < n; k++) params[t->off + k] = (float)(bound * (2 * fm_stream_uniform(&s) - 1));
    }
}

/* Multiply-adds of one sample's forward pass through op (convolutions and linear layers). */
static double op_macs(const FmUnet *u, const FmOp *op) {
    if (op->kind == FM_OP_CONV)
        return (double)op->conv.Co * (double)(op->conv.Ci * op->conv.K * op->conv.K) * (double)(op->conv.Ho * op->conv.Wo);
    if (op->kind == FM_OP_LINEAR) return (double)u->bufs[op->in0].C * (double)u->bufs[op->out].C;
    return 0;
}

double fm_unet_flops(const FmUnet *u, size_t B) {
    double f = 0;
    /* forward, weight gradient, input gradient (none for the ops reading x or the embedding) */
    for (int k = 0; k < u->nops; k++) f += 2.0 * (double)B * op_macs(u, &u->ops[k]) * (u->ops[k].in0 <= 1 ? 2 : 3);
    return f;
}

double fm_unet_forward_flops(const FmUnet *u, size_t B) {
    double f = 0;
    for (int k = 0; k < u->nops; k++) f += 2.0 * (double)B * op_macs(u, &u->ops[k]);
    return f;
}

double fm_unet_forward_exec_flops(const FmUnet *u, size_t B) {
    double f = 0;
    for (int k = 0; k < u->nops; k++) {
        const FmOp *op = &u->ops[k];
        f += 2.0 * (double)B * (op->kind == FM_OP_CONV ? fm_conv_forward_macs(&op->conv) : op_macs(u, op));
    }
    return f;
}

/* The scratch shared by the ops: the largest convolution's, or GroupNorm's 2 m C sums. */
static size_t scratch_floats(const FmUnet *u, size_t m, size_t threads) {
    size_t s = 0;
    for (int k = 0; k < u->nops; k++) {
        const FmOp *op = &u->ops[k];
        size_t c = op->kind == FM_OP_CONV ? fm_conv_scratch(&op->conv, threads)
                   : op->kind == FM_OP_GN ? 2 * m * u->bufs[op->in0].C : 0;
        if (c > s) s = c;
    }
    return s;
}

double fm_unet_act_bytes(const FmUnet *u, size_t m, size_t threads) {
    return 4.0 * ((double)m * (double)(u->act_floats + u->grad_floats + 2 * u->stat_floats) +
                  (double)scratch_floats(u, m, threads));
}

#define T float
#define S f
#define GEMM cblas_sgemm
#include "unet_tmpl.h"
#undef T
#undef S
#undef GEMM

#define T double
#define S d
#define GEMM cblas_dgemm
#include "unet_tmpl.h"
#undef T
#undef S
#undef GEMM
