/* mlp_tmpl.h - MLP forward/backward template, included by mlp.c per precision
 * (T = float/double, S = f/d). No include guard on purpose. */
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, S)
#define ACTS CAT(FmMlpActs, S)
#define ALLOC(n) ((T *)fm_calloc((n), sizeof(T)))

void FN(fm_mlp_acts_init)(ACTS *acts, const FmMlp *net, size_t m) {
    acts->m = m;
    acts->L = net->L;
    acts->forward_only = 0;
    acts->in = ALLOC(m * (net->D + net->E));
    acts->a = fm_calloc(net->L, sizeof(T *));
    acts->h = fm_calloc(net->L, sizeof(T *));
    acts->e = fm_calloc(net->L, sizeof(T *));
    for (size_t l = 0; l < net->L; l++) {
        acts->a[l] = ALLOC(m * net->H);
        acts->h[l] = ALLOC(m * net->H);
        acts->e[l] = ALLOC(m * net->H);
    }
    acts->out = ALLOC(m * net->D);
    acts->dout = ALLOC(m * net->D);
    acts->da = ALLOC(m * net->H);
    acts->dh = ALLOC(m * net->H);
    acts->jin = ALLOC(m * (net->D + net->E)); /* the E embedding columns stay 0 */
}

void FN(fm_mlp_acts_free)(ACTS *acts) {
    if (!acts || !acts->a) return;
    free(acts->in);
    for (size_t l = 0; l < acts->L; l++) {
        free(acts->a[l]);
        free(acts->h[l]);
        free(acts->e[l]);
    }
    free(acts->a);
    free(acts->h);
    free(acts->e);
    free(acts->out);
    free(acts->dout);
    free(acts->da);
    free(acts->dh);
    free(acts->jin);
    acts->a = acts->h = NULL;
}

/* Tensor l's weight and bias views: the table is [fc0.w, fc0.b, fc1.w, fc1.b, ...]. */
#define W(p, l) ((p) + net->table.t[2 * (l)].off)
#define BIAS(p, l) ((p) + net->table.t[2 * (l) + 1].off)

void FN(fm_mlp_forward)(const FmMlp *net, const T *params, ACTS *acts, const T *x, const T *t, size_t B) {
    const size_t D = net->D, E = net->E, H = net->H, L = net->L, DE = D + E;
    FM_CHECK(B <= acts->m, "mlp forward: %zu rows > activation capacity %zu", B, acts->m);
    for (size_t i = 0; i < B; i++)
        for (size_t d = 0; d < D; d++) acts->in[i * DE + d] = x[i * D + d];
    FN(fm_time_embed)(acts->in + D, DE, t, B, E, net->temb_scale);
    const T *in = acts->in;
    size_t ldi = DE, NI = DE;
    for (size_t l = 0; l < L; l++) {
        FN(fm_linear_forward)(acts->a[l], in, ldi, W(params, l), NULL, B, NI, H);
        FN(fm_bias_silu_forward)(acts->a[l], acts->h[l], acts->forward_only ? NULL : acts->e[l], BIAS(params, l), B, H);
        in = acts->h[l];
        ldi = NI = H;
    }
    FN(fm_linear_forward)(acts->out, in, ldi, W(params, L), BIAS(params, L), B, NI, D);
}

void FN(fm_mlp_backward)(const FmMlp *net, const T *params, T *grads, ACTS *acts, size_t B) {
    const size_t D = net->D, E = net->E, H = net->H, L = net->L, DE = D + E;
    /* output layer: dh = dout . W_L */
    FN(fm_linear_backward)(acts->dh, W(grads, L), BIAS(grads, L), acts->dout, acts->h[L - 1], H,
                           W(params, L), B, H, D);
    for (size_t l = L; l-- > 0;) {
        FN(fm_silu_backward_bias)(acts->da, BIAS(grads, l), acts->dh, acts->a[l], acts->e[l], B, H);
        const T *in = l ? acts->h[l - 1] : acts->in;
        size_t ldi = l ? H : DE, NI = l ? H : DE;
        /* the input gradient of fc0 (w.r.t. x and emb(t)) is not needed for training */
        FN(fm_linear_backward)(l ? acts->dh : NULL, W(grads, l), NULL, acts->da, in, ldi, W(params, l), B, NI, H);
    }
}

/* Tangent propagation (forward mode), layer by layer with the saved pre-activations:
 *   linear:  a_dot = in_dot W^T          (the bias has no tangent)
 *   SiLU:    h_dot = silu'(a) a_dot      (= fm_silu_backward applied to the tangent)
 * starting from in_dot = [v, 0]: the time-embedding columns have tangent 0. */
void FN(fm_mlp_jvp)(const FmMlp *net, const T *params, ACTS *acts, const T *x, const T *t, const T *v, size_t B,
                    T *jv) {
    const size_t D = net->D, E = net->E, H = net->H, L = net->L, DE = D + E;
    FN(fm_mlp_forward)(net, params, acts, x, t, B);
    for (size_t i = 0; i < B; i++)
        for (size_t d = 0; d < D; d++) acts->jin[i * DE + d] = v[i * D + d];
    const T *in = acts->jin;
    size_t ldi = DE, NI = DE;
    for (size_t l = 0; l < L; l++) {
        FN(fm_linear_forward)(acts->da, in, ldi, W(params, l), NULL, B, NI, H);
        FN(fm_silu_backward)(acts->dh, acts->da, acts->a[l], B * H);
        in = acts->dh;
        ldi = NI = H;
    }
    FN(fm_linear_forward)(jv, in, ldi, W(params, L), NULL, B, NI, D);
}

#undef W
#undef BIAS
#undef ALLOC
#undef ACTS
#undef FN
#undef CAT
#undef CAT_
