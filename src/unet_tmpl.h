/* unet_tmpl.h - the U-Net executor, included by unet.c once per precision with
 *   T float or double, S suffix f or d, GEMM cblas_sgemm or cblas_dgemm.
 * No include guard on purpose. */
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, S)
#define ACTS CAT(FmUnetActs, S)
#define ALLOC(n) ((T *)fm_malloc_aligned((n), sizeof(T)))

static void FN(acts_init)(ACTS *a, const FmUnet *u, size_t m, int forward_only) {
    memset(a, 0, sizeof *a);
    a->m = m;
    a->threads = (size_t)omp_get_max_threads();
    a->forward_only = forward_only;
    a->act = ALLOC(m * (forward_only ? u->fwd_floats : u->act_floats));
    a->mean = ALLOC(m * u->stat_floats + 1);
    a->rstd = ALLOC(m * u->stat_floats + 1);
    a->scratch = ALLOC(scratch_floats(u, m, a->threads) + 1);
    a->out = a->act + m * (forward_only ? u->bufs[u->out_buf].foff : u->bufs[u->out_buf].off);
    if (forward_only) {
        /* the kernel caches: a copy of each 3 x 3 convolution's weights and its 36 transformed
         * products (fm_conv2d_forward_fused), where they fit the budget */
        double floats = 0;
        for (int k = 0; k < u->nops; k++)
            if (u->ops[k].kind == FM_OP_CONV && u->ops[k].conv.K == 3)
                floats += 45.0 * (double)(u->ops[k].conv.Ci * u->ops[k].conv.Co);
        if (floats * sizeof(float) <= FM_UNET_KCACHE_MB * 1048576.0)
            a->kcache = fm_calloc(FM_UNET_MAX_OPS, sizeof *a->kcache);
        return;
    }
    a->grad = ALLOC(m * u->grad_floats);
    a->dout = a->grad + m * u->bufs[u->out_buf].goff;
    a->dx = a->grad + m * u->bufs[0].goff;
}

void FN(fm_unet_acts_init)(ACTS *a, const FmUnet *u, size_t m) { FN(acts_init)(a, u, m, 0); }
void FN(fm_unet_acts_init_forward)(ACTS *a, const FmUnet *u, size_t m) { FN(acts_init)(a, u, m, 1); }

void FN(fm_unet_acts_free)(ACTS *a) {
    if (!a || !a->act) return;
    free(a->act), free(a->grad), free(a->mean), free(a->rstd), free(a->scratch);
    if (a->kcache)
        for (int k = 0; k < FM_UNET_MAX_OPS; k++) fm_conv_kernel_cache_free(&a->kcache[k]);
    free(a->kcache);
    a->act = NULL, a->kcache = NULL;
}

#define ACT(i) (a->act + a->m * (a->forward_only ? u->bufs[i].foff : u->bufs[i].off))
#define GRAD(i) (a->grad + a->m * u->bufs[i].goff)
#define SIZE(i) (u->bufs[i].C * u->bufs[i].H * u->bufs[i].W)
#define PW(p, i) ((p) + u->table.t[i].off)

void FN(fm_unet_forward)(const FmUnet *u, const T *params, ACTS *a, const T *x, const T *t, size_t B) {
    FM_CHECK(B <= a->m, "unet forward: %zu samples > activation capacity %zu", B, a->m);
    FM_CHECK(a->threads >= (size_t)omp_get_max_threads(), "unet: scratch sized for %zu threads, now %d", a->threads,
             omp_get_max_threads());
    memcpy(ACT(0), x, B * u->D * sizeof(T));
    FN(fm_time_embed)(ACT(1), u->E, t, B, u->E, u->temb_scale);
    for (int k = 0; k < u->nops; k++) {
        const FmOp *op = &u->ops[k];
        const FmBuf *bi = &u->bufs[op->in0], *bo = &u->bufs[op->out];
        T *out = ACT(op->out);
        const T *in = ACT(op->in0);
        switch (op->kind) {
        case FM_OP_CONV: {
            /* an in-place ADDCH or ADD on the convolution's output next is added as it is written
             * (fm_conv2d_forward_fused: one pass where Winograd runs); so is an in-place ADD of it
             * onto another buffer, which it is its only reader of: the convolution then accumulates
             * onto that buffer. The same values as the separate ops; their backward needs no
             * activations. */
            const FmOp *next = k + 1 < u->nops ? op + 1 : NULL;
            const T *v = NULL, *add = NULL;
            const int k0 = k; /* this op's (k moves on past a fused one) */
            if (next && next->inplace && next->in0 == op->out && next->kind == FM_OP_ADDCH) {
                v = ACT(next->in1), k++;
            } else if (next && next->inplace && next->in0 == op->out && next->kind == FM_OP_ADD) {
                add = ACT(next->in1), k++;
            } else if (next && next->inplace && next->in1 == op->out && next->kind == FM_OP_ADD &&
                       u->last_use[op->out] == k + 1) {
                out = ACT(next->in0), add = out, k++;
            }
            FN(fm_conv2d_forward_fused)(out, in, PW(params, op->w), PW(params, op->b), v, add, a->scratch, B,
                                        &op->conv, a->kcache ? &a->kcache[k0] : NULL);
            break;
        }
        case FM_OP_GN: {
            /* forward alone: a SiLU that takes the output in place (share_forward) is applied by
             * the GroupNorm, on each group while it is in cache */
            const FmOp *next = k + 1 < u->nops ? op + 1 : NULL;
            const int silu = a->forward_only && next && next->kind == FM_OP_SILU && next->in0 == op->out &&
                             u->bufs[next->out].foff == u->bufs[op->out].foff;
            FN(fm_groupnorm_forward_act)(out, a->mean + a->m * op->stat, a->rstd + a->m * op->stat, in,
                                         PW(params, op->w), PW(params, op->b), B, bi->C, bi->H * bi->W, op->G, 1e-5,
                                         silu);
            k += silu;
            break;
        }
        case FM_OP_SILU: FN(fm_silu_forward)(out, in, B * SIZE(op->in0)); break;
        case FM_OP_LINEAR:
            FN(fm_linear_forward)(out, in, bi->C, PW(params, op->w), PW(params, op->b), B, bi->C, bo->C);
            break;
        case FM_OP_ADDCH: FN(fm_addch_forward)(out, in, ACT(op->in1), B, bi->C, bi->H * bi->W); break;
        case FM_OP_ADD: FN(fm_add_forward)(out, in, ACT(op->in1), B * SIZE(op->out)); break;
        case FM_OP_CAT:
            FN(fm_concat_forward)(out, in, ACT(op->in1), B, bi->C, u->bufs[op->in1].C, bi->H * bi->W);
            break;
        case FM_OP_UP: FN(fm_upsample2_forward)(out, in, B, bi->C, bi->H, bi->W); break;
        }
    }
}

void FN(fm_unet_backward)(const FmUnet *u, const T *params, T *grads, ACTS *a, size_t B, int need_dx) {
    FM_CHECK(!a->forward_only, "unet backward: the activations were allocated for forward passes only");
    for (int k = u->nops; k-- > 0;) {
        const FmOp *op = &u->ops[k];
        const FmBuf *bi = &u->bufs[op->in0], *bo = &u->bufs[op->out];
        /* input gradients: none for the embedding (1), for x (0) only if asked; zeroed where
         * backward first reaches them (at their last reader), since every op adds into them */
        T *din[2] = {NULL, NULL};
        const int ins[2] = {op->in0, op->in1};
        for (int j = 0; j < 2; j++) {
            const int b = ins[j];
            if (b < 0 || b == 1 || (b == 0 && !need_dx) || (j == 0 && op->inplace)) continue; /* in place: dout is it */
            din[j] = GRAD(b);
            if (u->last_use[b] == k) memset(din[j], 0, B * SIZE(b) * sizeof(T));
        }
        const T *dout = GRAD(op->out), *in = ACT(op->in0);
        T *dw = grads && op->w >= 0 ? PW(grads, op->w) : NULL, *db = grads && op->b >= 0 ? PW(grads, op->b) : NULL;
        switch (op->kind) {
        case FM_OP_CONV:
            FN(fm_conv2d_backward)(din[0], dw, db, dout, in, PW(params, op->w), a->scratch, B, &op->conv);
            break;
        case FM_OP_GN:
            FN(fm_groupnorm_backward)(din[0], dw, db, dout, in, a->mean + a->m * op->stat, a->rstd + a->m * op->stat,
                                      PW(params, op->w), a->scratch, B, bi->C, bi->H * bi->W, op->G);
            break;
        case FM_OP_SILU:
            if (din[0]) FN(fm_silu_backward_add)(din[0], dout, in, B * SIZE(op->in0));
            break;
        case FM_OP_LINEAR:
            FN(fm_linear_backward_add)(din[0], dw, db, dout, in, PW(params, op->w), B, bi->C, bo->C);
            break;
        case FM_OP_ADDCH: FN(fm_addch_backward)(din[0], din[1], dout, B, bi->C, bi->H * bi->W); break;
        case FM_OP_ADD: FN(fm_add_backward)(din[0], din[1], dout, B * SIZE(op->out)); break;
        case FM_OP_CAT:
            FN(fm_concat_backward)(din[0], din[1], dout, B, bi->C, u->bufs[op->in1].C, bi->H * bi->W);
            break;
        case FM_OP_UP:
            if (din[0]) FN(fm_upsample2_backward)(din[0], dout, B, bi->C, bi->H, bi->W);
            break;
        }
    }
}

void FN(fm_unet_vjp)(const FmUnet *u, const T *params, ACTS *a, const T *x, const T *t, const T *v, size_t B, T *vj) {
    FN(fm_unet_forward)(u, params, a, x, t, B);
    memcpy(a->dout, v, B * u->D * sizeof(T));
    FN(fm_unet_backward)(u, params, NULL, a, B, 1);
    memcpy(vj, a->dx, B * u->D * sizeof(T));
}

#undef ACT
#undef GRAD
#undef SIZE
#undef PW
#undef ALLOC
#undef ACTS
#undef FN
#undef CAT
#undef CAT_
