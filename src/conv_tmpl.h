/* conv_tmpl.h - the image-layer template, included by conv.c once per precision with
 *   T     float or double
 *   S     suffix f or d
 *   GEMM  cblas_sgemm or cblas_dgemm
 * No include guard on purpose. */
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, S)

/* The output columns wo whose input column wi = wo s + kj - p lies on the image: [*lo, *hi). */
static inline void FN(valid_cols)(size_t *lo, size_t *hi, size_t kj, const FmConvDims *d) {
    const size_t s = d->stride, p = d->pad;
    *lo = kj >= p ? 0 : (p - kj + s - 1) / s;
    const size_t top = d->W - 1 + p; /* wo s + kj <= top */
    *hi = kj > top ? 0 : (top - kj) / s + 1;
    if (*hi > d->Wo) *hi = d->Wo;
    if (*lo > *hi) *lo = *hi;
}

/* col (Ci K K, Ho Wo) with row stride ldc (>= Ho Wo): row (ci K + ki) K + kj holds in[ci][ho s - p + ki][wo s - p + kj] (0 off the image).
 * Each output row is zeros, a (strided) copy of an input row, zeros: no test per element. */
static void FN(im2col)(T *col, size_t ldc, const T *in, const FmConvDims *d) {
    const size_t K = d->K, s = d->stride, Ho = d->Ho, Wo = d->Wo, H = d->H, W = d->W, p = d->pad;
    if (conv_is_same(d)) {
        /* stride 1, "same" padding: row (ci, ki, kj) is the plane shifted by (ki - p) W + kj - p, so the
         * rows on the image are one contiguous copy; then the columns that wrapped around are zeroed */
        for (size_t ci = 0; ci < d->Ci; ci++)
            for (size_t ki = 0; ki < K; ki++)
                for (size_t kj = 0; kj < K; kj++) {
                    T *row = col + ((ci * K + ki) * K + kj) * ldc;
                    const T *plane = in + ci * H * W;
                    const size_t h0 = ki < p ? p - ki : 0, h1 = H + p - ki < H ? H + p - ki : H; /* rows [h0, h1) */
                    const size_t lo = kj < p ? p - kj : 0, hi = W + p - kj < W ? W + p - kj : W; /* cols [lo, hi) */
                    memset(row, 0, h0 * W * sizeof(T));
                    memset(row + h1 * W, 0, (H - h1) * W * sizeof(T));
                    if (h1 <= h0) continue;
                    /* element (h, w) <- plane[(h + ki - p) W + w + kj - p], from (h0, lo) to (h1 - 1, hi - 1) */
                    const size_t first = h0 * W + lo, last = (h1 - 1) * W + hi;
                    memcpy(row + first, plane + (h0 + ki - p) * W + lo + kj - p, (last - first) * sizeof(T));
                    for (size_t h = h0; h < h1; h++) {
                        for (size_t w = 0; w < lo; w++) row[h * W + w] = 0;
                        for (size_t w = hi; w < W; w++) row[h * W + w] = 0;
                    }
                }
        return;
    }
    for (size_t ci = 0; ci < d->Ci; ci++)
        for (size_t ki = 0; ki < K; ki++)
            for (size_t kj = 0; kj < K; kj++) {
                T *row = col + ((ci * K + ki) * K + kj) * ldc;
                const T *plane = in + ci * H * W;
                size_t lo, hi;
                FN(valid_cols)(&lo, &hi, kj, d);
                for (size_t ho = 0; ho < Ho; ho++) {
                    T *r = row + ho * Wo;
                    const size_t hs = ho * s + ki; /* = hi + p */
                    if (hs < p || hs - p >= H) {
                        memset(r, 0, Wo * sizeof(T));
                        continue;
                    }
                    const T *src = plane + (hs - p) * W; /* column wo reads src[wo s + kj - p], >= 0 from lo on */
                    for (size_t wo = 0; wo < lo; wo++) r[wo] = 0;
                    if (s == 1) memcpy(r + lo, src + lo + kj - p, (hi - lo) * sizeof(T));
                    else
                        for (size_t wo = lo; wo < hi; wo++) r[wo] = src[wo * s + kj - p];
                    for (size_t wo = hi; wo < Wo; wo++) r[wo] = 0;
                }
            }
}

/* din (Ci, H, W) += the adjoint of im2col applied to dcol (which is scratch: it may be changed). */
static void FN(col2im_add)(T *din, T *dcol, size_t ldc, const FmConvDims *d) {
    const size_t K = d->K, s = d->stride, Ho = d->Ho, Wo = d->Wo, H = d->H, W = d->W, p = d->pad;
    if (conv_is_same(d)) {
        /* as in im2col: zero the wrapped-around columns of dcol, then one contiguous add per row block */
        for (size_t ci = 0; ci < d->Ci; ci++)
            for (size_t ki = 0; ki < K; ki++)
                for (size_t kj = 0; kj < K; kj++) {
                    T *row = dcol + ((ci * K + ki) * K + kj) * ldc;
                    T *plane = din + ci * H * W;
                    const size_t h0 = ki < p ? p - ki : 0, h1 = H + p - ki < H ? H + p - ki : H;
                    const size_t lo = kj < p ? p - kj : 0, hi = W + p - kj < W ? W + p - kj : W;
                    if (h1 <= h0) continue;
                    for (size_t h = h0; h < h1; h++) {
                        for (size_t w = 0; w < lo; w++) row[h * W + w] = 0;
                        for (size_t w = hi; w < W; w++) row[h * W + w] = 0;
                    }
                    const size_t first = h0 * W + lo, n = (h1 - 1) * W + hi - first;
                    T *dst = plane + (h0 + ki - p) * W + lo + kj - p;
                    const T *src = row + first;
                    #pragma omp simd
                    for (size_t k = 0; k < n; k++) dst[k] += src[k];
                }
        return;
    }
    for (size_t ci = 0; ci < d->Ci; ci++)
        for (size_t ki = 0; ki < K; ki++)
            for (size_t kj = 0; kj < K; kj++) {
                const T *row = dcol + ((ci * K + ki) * K + kj) * ldc;
                T *plane = din + ci * H * W;
                size_t lo, hi;
                FN(valid_cols)(&lo, &hi, kj, d);
                for (size_t ho = 0; ho < Ho; ho++) {
                    const size_t hs = ho * s + ki;
                    if (hs < p || hs - p >= H) continue;
                    T *dst = plane + (hs - p) * W;
                    const T *r = row + ho * Wo;
                    if (s == 1) {
                        T *dd = dst + lo + kj - p;
                        const T *rr = r + lo;
                        #pragma omp simd
                        for (size_t k = 0; k < hi - lo; k++) dd[k] += rr[k];
                    } else {
                        for (size_t wo = lo; wo < hi; wo++) dst[wo * s + kj - p] += r[wo];
                    }
                }
            }
}

void FN(fm_conv2d_forward_fused)(T *out, const T *in, const T *w, const T *b, const T *v, const T *add, T *scratch,
                                 size_t B, const FmConvDims *d, FmConvKernelCache *kc) {
    FM_CHECK(!(v && add == out), "conv forward: v with add == out (accumulate) is not supported");
#ifdef CONV_DIRECT
    if (fm_conv_winograd_ok(d)) {
        fm_conv_winograd_forward(out, in, w, b, v, add, scratch, conv_per_thread(d), B, d, kc);
        return;
    }
#else
    (void)kc;
#endif
    FN(fm_conv2d_forward)(out, in, w, b, scratch, B, d, add == out);
    if (v) FN(fm_addch_forward)(out, out, v, B, d->Co, d->Ho * d->Wo);
    if (add && add != out) FN(fm_add_forward)(out, out, add, B * d->Co * d->Ho * d->Wo);
}

/* The convolution GEMMs run on groups of conv_group(d) samples side by side (their im2col
 * matrices as column blocks of one matrix with row stride gn N), so that small images still
 * give GEMMs of about CONV_MIN_COLS columns; groups are spread over the OpenMP threads. With
 * one sample per group the GEMMs read and write the NCHW arrays directly; otherwise the
 * group's output (Co, gn N) goes through a per-thread buffer. */
void FN(fm_conv2d_forward)(T *out, const T *in, const T *w, const T *b, T *scratch, size_t B, const FmConvDims *d,
                           int accumulate) {
    const size_t KK = d->Ci * d->K * d->K, N = d->Ho * d->Wo, Co = d->Co, inz = d->Ci * d->H * d->W;
    const size_t per = conv_per_thread(d), g = conv_group(d), ngroups = (B + g - 1) / g;
    const int pointwise = conv_is_pointwise(d);
#ifdef CONV_DIRECT
    if (fm_conv_winograd_ok(d)) {
        fm_conv_winograd_forward(out, in, w, b, NULL, accumulate ? out : NULL, scratch, per, B, d, NULL);
        return;
    }
    if (fm_conv_direct_forward_ok(d)) {
        fm_conv_direct_forward(out, in, w, b, scratch, per, B, d, accumulate);
        return;
    }
    if (fm_conv_direct_pointwise_ok(d)) { /* the packed kernel where the flipped one goes (fm_conv_scratch) */
        fm_conv_direct_pointwise(out, in, w, b, scratch + (size_t)omp_get_max_threads() * per, B, d, accumulate);
        return;
    }
#endif
    #pragma omp parallel for schedule(static) if (ngroups > 1)
    for (size_t q = 0; q < ngroups; q++) {
        const size_t n0 = q * g, gn = B - n0 < g ? B - n0 : g, ld = gn * N;
        T *col = scratch + (size_t)omp_get_thread_num() * per, *tmp = col + conv_col_floats(d);
        for (size_t j = 0; j < gn && !pointwise; j++) FN(im2col)(col + j * N, ld, in + (n0 + j) * inz, d);
        if (g == 1) {
            T *y = out + n0 * Co * N;
            if (b && accumulate)
                for (size_t c = 0; c < Co; c++)
                    for (size_t k = 0; k < N; k++) y[c * N + k] += b[c];
            else if (b)
                for (size_t c = 0; c < Co; c++)
                    for (size_t k = 0; k < N; k++) y[c * N + k] = b[c];
            /* y (Co, N) (+)= w (Co, KK) . col (KK, N) */
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Co, (int)N, (int)KK, 1, w, (int)KK,
                 pointwise ? in + n0 * inz : col, (int)N, b || accumulate ? 1 : 0, y, (int)N);
            continue;
        }
        /* tmp (Co, gn N) = w . col, then into each sample's (Co, N), with the bias */
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Co, (int)ld, (int)KK, 1, w, (int)KK, col, (int)ld, 0, tmp,
             (int)ld);
        for (size_t j = 0; j < gn; j++)
            for (size_t c = 0; c < Co; c++) {
                T *y = out + ((n0 + j) * Co + c) * N;
                const T *r = tmp + c * ld + j * N, bc = b ? b[c] : 0;
                if (accumulate)
                    for (size_t k = 0; k < N; k++) y[k] += r[k] + bc;
                else
                    for (size_t k = 0; k < N; k++) y[k] = r[k] + bc;
            }
    }
}

void FN(fm_conv2d_backward)(T *din, T *dw, T *db, const T *dout, const T *in, const T *w, T *scratch, size_t B,
                            const FmConvDims *d) {
    const size_t KK = d->Ci * d->K * d->K, N = d->Ho * d->Wo, Co = d->Co, Ci = d->Ci, inz = Ci * d->H * d->W;
    const size_t per = conv_per_thread(d), colz = conv_col_floats(d), tmpz = conv_tmp_floats(d), K = d->K;
    const size_t g = conv_group(d), ngroups = (B + g - 1) / g;
    const int pointwise = conv_is_pointwise(d), same = conv_is_same(d), threads = omp_get_max_threads();
#ifdef CONV_DIRECT
    const int direct_w = (dw || db) && fm_conv_direct_weights_ok(d), direct_in = din && fm_conv_direct_backward_ok(d);
    if (direct_w || direct_in) { /* the direct kernels, and im2col + GEMM below for what they do not take */
        if ((dw || db) && !direct_w) FN(fm_conv2d_backward)(NULL, dw, db, dout, in, w, scratch, B, d);
        if (din && !direct_in) FN(fm_conv2d_backward)(din, NULL, NULL, dout, in, w, scratch, B, d);
        fm_conv_direct_backward(direct_in ? din : NULL, direct_w ? dw : NULL, direct_w ? db : NULL, dout, in, w, scratch,
                                per, B, d);
        return;
    }
#endif
    const int partial = (dw || db) && threads > 1 && ngroups > 1; /* per-thread weight gradients, summed below */
    T *const part0 = scratch + colz + tmpz; /* thread th's partial gradients: part0 + th per */
    if (partial)
        for (int th = 0; th < threads; th++) memset(part0 + (size_t)th * per, 0, Co * (KK + 1) * sizeof(T));
    /* "same" convolutions: din = conv(dout, wf) with wf (Ci, Co K K) the kernel transposed and flipped,
     * wf[ci][(co K + ki) K + kj] = w[co][(ci K + K-1-ki) K + K-1-kj]: one GEMM with inner dimension
     * Co K K adds it into din, instead of a GEMM of inner dimension Co and a col2im */
    T *wf = scratch + (size_t)threads * per;
    FmConvDims dt = *d;
    if (din && same) {
        dt.Ci = Co, dt.Co = Ci;
        for (size_t ci = 0; ci < Ci; ci++)
            for (size_t co = 0; co < Co; co++)
                for (size_t ki = 0; ki < K; ki++)
                    for (size_t kj = 0; kj < K; kj++)
                        wf[ci * Co * K * K + (co * K + ki) * K + kj] = w[co * KK + (ci * K + K - 1 - ki) * K + K - 1 - kj];
    }
    #pragma omp parallel for schedule(static) if (ngroups > 1)
    for (size_t q = 0; q < ngroups; q++) {
        const size_t n0 = q * g, gn = B - n0 < g ? B - n0 : g, ld = gn * N;
        T *col = scratch + (size_t)omp_get_thread_num() * per, *tmp = col + colz;
        T *pdw = partial ? part0 + (size_t)omp_get_thread_num() * per : dw, *pdb = partial ? pdw + Co * KK : db;
        const T *x = in + n0 * inz, *gq = dout + n0 * Co * N; /* one sample: (Co, N) */
        if (g > 1) /* the group's output gradient as one (Co, gn N) matrix */
            for (size_t j = 0; j < gn; j++)
                for (size_t c = 0; c < Co; c++) memcpy(tmp + c * ld + j * N, gq + (j * Co + c) * N, N * sizeof(T));
        const T *G = g > 1 ? tmp : gq;
        if (dw) {
            for (size_t j = 0; j < gn && !pointwise; j++) FN(im2col)(col + j * N, ld, x + j * inz, d);
            /* dw (Co, KK) += G (Co, gn N) . col^T (gn N, KK) */
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Co, (int)KK, (int)ld, 1, G, (int)ld, pointwise ? x : col,
                 (int)ld, 1, pdw, (int)KK);
        }
        if (db)
            for (size_t c = 0; c < Co; c++) {
                T s = 0;
                for (size_t k = 0; k < ld; k++) s += G[c * ld + k];
                pdb[c] += s;
            }
        if (!din) continue;
        if (pointwise) { /* din (Ci, N) += w^T (Ci, Co) . dout (Co, N): one sample per group */
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)KK, (int)N, (int)Co, 1, w, (int)KK, gq, (int)N, 1,
                 din + n0 * inz, (int)N);
        } else if (same) {
            for (size_t j = 0; j < gn; j++) FN(im2col)(col + j * N, ld, gq + j * Co * N, &dt); /* (Co K K, gn N) */
            if (g == 1) {
                GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Ci, (int)N, (int)(Co * K * K), 1, wf,
                     (int)(Co * K * K), col, (int)N, 1, din + n0 * inz, (int)N);
            } else {
                GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Ci, (int)ld, (int)(Co * K * K), 1, wf,
                     (int)(Co * K * K), col, (int)ld, 0, tmp, (int)ld);
                for (size_t j = 0; j < gn; j++)
                    for (size_t c = 0; c < Ci; c++) {
                        T *dx = din + (n0 + j) * inz + c * N;
                        const T *r = tmp + c * ld + j * N;
                        for (size_t k = 0; k < N; k++) dx[k] += r[k];
                    }
            }
        } else {
            /* dcol (KK, gn N) = w^T (KK, Co) . G (Co, gn N), then col2im into each sample */
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)KK, (int)ld, (int)Co, 1, w, (int)KK, G, (int)ld, 0, col,
                 (int)ld);
            for (size_t j = 0; j < gn; j++) FN(col2im_add)(din + (n0 + j) * inz, col + j * N, ld, d);
        }
    }
    if (partial) {
        #pragma omp parallel for schedule(static) if (Co * KK > 16384)
        for (size_t k = 0; k < Co * (KK + 1); k++) {
            T s = 0;
            for (int th = 0; th < threads; th++) s += part0[(size_t)th * per + k];
            if (k < Co * KK) {
                if (dw) dw[k] += s;
            } else if (db) {
                db[k - Co * KK] += s;
            }
        }
    }
}

/* y = silu(x a + bb): GroupNorm's affine map and the SiLU after it in one pass (the same
 * operations as fm_silu_forward's on the map's output, so the same values) */
VEC_CLONES static void FN(gn_affine_silu)(T *y, const T *x, T a, T bb, size_t n) {
    #pragma omp simd
    for (size_t k = 0; k < n; k++) {
        const T t = x[k] * a + bb;
        y[k] = t / (1 + GN_EXP(-t));
    }
}

/* One group of one sample: len = Cg HW values, the group's gamma and beta from c = 0; with silu,
 * SiLU applied too. Compiled per ISA (VEC_TARGETS): the double sums are vectorised at the CPU's
 * width. */
VEC_TARGETS static void FN(gn_forward_group)(T *y, const T *x, T *mean, T *rstd, const T *gamma, const T *beta,
                                             size_t Cg, size_t HW, double eps, int silu) {
    const size_t len = Cg * HW;
    /* two passes (mean, then the centred second moment), accumulated in double */
    double s = 0, v = 0;
    #pragma omp simd reduction(+ : s)
    for (size_t k = 0; k < len; k++) s += (double)x[k];
    const double mu = s / (double)len;
    #pragma omp simd reduction(+ : v)
    for (size_t k = 0; k < len; k++) v += ((double)x[k] - mu) * ((double)x[k] - mu);
    const double r = 1.0 / sqrt(v / (double)len + eps);
    *mean = (T)mu;
    *rstd = (T)r;
    for (size_t c = 0; c < Cg; c++) {
        const T a = (T)(r * (double)gamma[c]), bb = (T)((double)beta[c] - mu * r * (double)gamma[c]);
        const T *xc = x + c * HW;
        T *yc = y + c * HW;
        if (silu) {
            FN(gn_affine_silu)(yc, xc, a, bb, HW);
            continue;
        }
        #pragma omp simd
        for (size_t k = 0; k < HW; k++) yc[k] = xc[k] * a + bb;
    }
}

void FN(fm_groupnorm_forward_act)(T *out, T *mean, T *rstd, const T *in, const T *gamma, const T *beta, size_t B,
                                  size_t C, size_t HW, size_t G, double eps, int silu) {
    const size_t Cg = C / G, len = Cg * HW;
    #pragma omp parallel for schedule(static) if (B * C * HW > 65536)
    for (size_t ng = 0; ng < B * G; ng++) {
        const size_t c0 = (ng % G) * Cg;
        FN(gn_forward_group)(out + ng * len, in + ng * len, mean + ng, rstd + ng, gamma + c0, beta + c0, Cg, HW, eps,
                             silu);
    }
}

void FN(fm_groupnorm_forward)(T *out, T *mean, T *rstd, const T *in, const T *gamma, const T *beta, size_t B, size_t C,
                              size_t HW, size_t G, double eps) {
    FN(fm_groupnorm_forward_act)(out, mean, rstd, in, gamma, beta, B, C, HW, G, eps, 0);
}

/* With xhat = (x - mean) rstd and dxhat = dout gamma, over each group:
 *   din += rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),
 *   dgamma[c] += sum dout xhat,  dbeta[c] += sum dout  (sums over samples and pixels).
 * One pass gathers the per-sample, per-channel sums S1 = sum dout, S2 = sum dout xhat (into
 * work, 2 B C values), which give both the means above and dgamma, dbeta; a second writes din. */
/* One group of one sample's backward (gamma from the group's first channel): the per-channel
 * sums S1 = sum dout, S2 = sum dout xhat into s1c, s2c, and din += dL/dx (din may be NULL). */
VEC_TARGETS static void FN(gn_backward_group)(T *dx, T *s1c, T *s2c, const T *g, const T *x, T m, T r,
                                              const T *gamma, size_t Cg, size_t HW) {
    const size_t len = Cg * HW;
    double sa = 0, sb = 0;
    for (size_t c = 0; c < Cg; c++) {
        double s1 = 0, s2 = 0;
        const T *xc = x + c * HW, *gc = g + c * HW;
        #pragma omp simd reduction(+ : s1, s2)
        for (size_t k = 0; k < HW; k++) {
            s1 += (double)gc[k];
            s2 += (double)gc[k] * (double)((xc[k] - m) * r);
        }
        s1c[c] = (T)s1, s2c[c] = (T)s2;
        sa += (double)gamma[c] * s1;
        sb += (double)gamma[c] * s2;
    }
    if (!dx) return;
    const T a = (T)(sa / (double)len), bm = (T)(sb / (double)len);
    for (size_t c = 0; c < Cg; c++) {
        const T gm = gamma[c] * r, am = a * r, bmr = bm * r;
        const T *xc = x + c * HW, *gc = g + c * HW;
        T *dxc = dx + c * HW;
        #pragma omp simd
        for (size_t k = 0; k < HW; k++) dxc[k] += gc[k] * gm - am - (xc[k] - m) * r * bmr;
    }
}

void FN(fm_groupnorm_backward)(T *din, T *dgamma, T *dbeta, const T *dout, const T *in, const T *mean, const T *rstd,
                               const T *gamma, T *work, size_t B, size_t C, size_t HW, size_t G) {
    const size_t Cg = C / G, len = Cg * HW;
    T *S1 = work, *S2 = work + B * C;
    #pragma omp parallel for schedule(static) if (B * C * HW > 65536)
    for (size_t ng = 0; ng < B * G; ng++) {
        const size_t n = ng / G, c0 = (ng % G) * Cg;
        FN(gn_backward_group)(din ? din + ng * len : NULL, S1 + n * C + c0, S2 + n * C + c0, dout + ng * len,
                              in + ng * len, mean[ng], rstd[ng], gamma + c0, Cg, HW);
    }
    for (size_t n = 0; n < B; n++)
        for (size_t c = 0; c < C; c++) {
            if (dgamma) dgamma[c] += S2[n * C + c];
            if (dbeta) dbeta[c] += S1[n * C + c];
        }
}

void FN(fm_upsample2_forward)(T *out, const T *in, size_t B, size_t C, size_t H, size_t W) {
    const size_t W2 = 2 * W;
    #pragma omp parallel for schedule(static) if (B * C * H * W > 65536)
    for (size_t p = 0; p < B * C; p++) {
        const T *x = in + p * H * W;
        T *y = out + p * 4 * H * W;
        for (size_t h = 0; h < H; h++) {
            T *r0 = y + 2 * h * W2, *r1 = r0 + W2;
            for (size_t w = 0; w < W; w++) r0[2 * w] = r0[2 * w + 1] = r1[2 * w] = r1[2 * w + 1] = x[h * W + w];
        }
    }
}

void FN(fm_upsample2_backward)(T *din, const T *dout, size_t B, size_t C, size_t H, size_t W) {
    const size_t W2 = 2 * W;
    #pragma omp parallel for schedule(static) if (B * C * H * W > 65536)
    for (size_t p = 0; p < B * C; p++) {
        const T *g = dout + p * 4 * H * W;
        T *dx = din + p * H * W;
        for (size_t h = 0; h < H; h++) {
            const T *r0 = g + 2 * h * W2, *r1 = r0 + W2;
            for (size_t w = 0; w < W; w++) dx[h * W + w] += (r0[2 * w] + r0[2 * w + 1]) + (r1[2 * w] + r1[2 * w + 1]);
        }
    }
}

void FN(fm_addch_forward)(T *out, const T *in, const T *v, size_t B, size_t C, size_t HW) {
    #pragma omp parallel for schedule(static) if (B * C * HW > 65536)
    for (size_t p = 0; p < B * C; p++) {
        const T a = v[p];
        for (size_t k = 0; k < HW; k++) out[p * HW + k] = in[p * HW + k] + a;
    }
}

void FN(fm_addch_backward)(T *din, T *dv, const T *dout, size_t B, size_t C, size_t HW) {
    #pragma omp parallel for schedule(static) if (B * C * HW > 65536)
    for (size_t p = 0; p < B * C; p++) {
        T s = 0;
        for (size_t k = 0; k < HW; k++) {
            s += dout[p * HW + k];
            if (din) din[p * HW + k] += dout[p * HW + k];
        }
        if (dv) dv[p] += s;
    }
}

void FN(fm_concat_forward)(T *out, const T *a, const T *b, size_t B, size_t Ca, size_t Cb, size_t HW) {
    for (size_t n = 0; n < B; n++) {
        memcpy(out + n * (Ca + Cb) * HW, a + n * Ca * HW, Ca * HW * sizeof(T));
        memcpy(out + (n * (Ca + Cb) + Ca) * HW, b + n * Cb * HW, Cb * HW * sizeof(T));
    }
}

void FN(fm_concat_backward)(T *da, T *db, const T *dout, size_t B, size_t Ca, size_t Cb, size_t HW) {
    #pragma omp parallel for schedule(static) if (B * (Ca + Cb) * HW > 65536)
    for (size_t n = 0; n < B; n++) {
        const T *g = dout + n * (Ca + Cb) * HW;
        if (da)
            for (size_t k = 0; k < Ca * HW; k++) da[n * Ca * HW + k] += g[k];
        if (db)
            for (size_t k = 0; k < Cb * HW; k++) db[n * Cb * HW + k] += g[Ca * HW + k];
    }
}

void FN(fm_add_forward)(T *out, const T *a, const T *b, size_t n) {
    #pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t k = 0; k < n; k++) out[k] = a[k] + b[k];
}

void FN(fm_add_backward)(T *da, T *db, const T *dout, size_t n) {
    if (da) {
        #pragma omp parallel for simd schedule(static) if (n > 65536)
        for (size_t k = 0; k < n; k++) da[k] += dout[k];
    }
    if (db) {
        #pragma omp parallel for simd schedule(static) if (n > 65536)
        for (size_t k = 0; k < n; k++) db[k] += dout[k];
    }
}

#undef FN
#undef CAT
#undef CAT_
