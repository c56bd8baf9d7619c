/* conv_tmpl.h - the image-layer template, included by conv.c once per precision with
 *   T     float or double
 *   S     suffix f or d
 *   GEMM  cblas_sgemm or cblas_dgemm
 * No include guard on purpose. */
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, S)

/* col (Ci K K, Ho Wo): row (ci K + ki) K + kj holds in[ci][ho s - p + ki][wo s - p + kj] (0 off the image). */
static void FN(im2col)(T *col, const T *in, const FmConvDims *d) {
    const size_t K = d->K, s = d->stride, Ho = d->Ho, Wo = d->Wo, H = d->H, W = d->W;
    const ptrdiff_t p = (ptrdiff_t)d->pad;
    for (size_t ci = 0; ci < d->Ci; ci++)
        for (size_t ki = 0; ki < K; ki++)
            for (size_t kj = 0; kj < K; kj++) {
                T *row = col + ((ci * K + ki) * K + kj) * Ho * Wo;
                const T *plane = in + ci * H * W;
                for (size_t ho = 0; ho < Ho; ho++) {
                    const ptrdiff_t hi = (ptrdiff_t)(ho * s + ki) - p;
                    T *r = row + ho * Wo;
                    if (hi < 0 || hi >= (ptrdiff_t)H) {
                        for (size_t wo = 0; wo < Wo; wo++) r[wo] = 0;
                        continue;
                    }
                    const T *src = plane + (size_t)hi * W;
                    for (size_t wo = 0; wo < Wo; wo++) {
                        const ptrdiff_t wi = (ptrdiff_t)(wo * s + kj) - p;
                        r[wo] = wi >= 0 && wi < (ptrdiff_t)W ? src[wi] : 0;
                    }
                }
            }
}

/* din (Ci, H, W) += the adjoint of im2col applied to dcol. */
static void FN(col2im_add)(T *din, const T *dcol, const FmConvDims *d) {
    const size_t K = d->K, s = d->stride, Ho = d->Ho, Wo = d->Wo, H = d->H, W = d->W;
    const ptrdiff_t p = (ptrdiff_t)d->pad;
    for (size_t ci = 0; ci < d->Ci; ci++)
        for (size_t ki = 0; ki < K; ki++)
            for (size_t kj = 0; kj < K; kj++) {
                const T *row = dcol + ((ci * K + ki) * K + kj) * Ho * Wo;
                T *plane = din + ci * H * W;
                for (size_t ho = 0; ho < Ho; ho++) {
                    const ptrdiff_t hi = (ptrdiff_t)(ho * s + ki) - p;
                    if (hi < 0 || hi >= (ptrdiff_t)H) continue;
                    T *dst = plane + (size_t)hi * W;
                    const T *r = row + ho * Wo;
                    for (size_t wo = 0; wo < Wo; wo++) {
                        const ptrdiff_t wi = (ptrdiff_t)(wo * s + kj) - p;
                        if (wi >= 0 && wi < (ptrdiff_t)W) dst[wi] += r[wo];
                    }
                }
            }
}

/* A 1 x 1 convolution with stride 1 and no padding reads its input as the im2col matrix. */
static int FN(is_pointwise)(const FmConvDims *d) { return d->K == 1 && d->stride == 1 && d->pad == 0; }

void FN(fm_conv2d_forward)(T *out, const T *in, const T *w, const T *b, T *scratch, size_t B, const FmConvDims *d) {
    const size_t KK = d->Ci * d->K * d->K, N = d->Ho * d->Wo, Co = d->Co, inz = d->Ci * d->H * d->W;
    const size_t per = KK * N + Co * (KK + 1); /* one thread's share of the scratch */
    const int pointwise = FN(is_pointwise)(d);
    #pragma omp parallel for schedule(static) if (B > 1)
    for (size_t n = 0; n < B; n++) {
        T *col = scratch + (size_t)omp_get_thread_num() * per;
        const T *x = in + n * inz;
        T *y = out + n * Co * N;
        if (!pointwise) FN(im2col)(col, x, d);
        if (b)
            for (size_t c = 0; c < Co; c++)
                for (size_t k = 0; k < N; k++) y[c * N + k] = b[c];
        /* y (Co, N) (+)= w (Co, KK) . col (KK, N) */
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Co, (int)N, (int)KK, 1, w, (int)KK,
             pointwise ? x : col, (int)N, b ? 1 : 0, y, (int)N);
    }
}

void FN(fm_conv2d_backward)(T *din, T *dw, T *db, const T *dout, const T *in, const T *w, T *scratch, size_t B,
                            const FmConvDims *d) {
    const size_t KK = d->Ci * d->K * d->K, N = d->Ho * d->Wo, Co = d->Co, inz = d->Ci * d->H * d->W;
    const size_t per = KK * N + Co * (KK + 1);
    const int pointwise = FN(is_pointwise)(d), threads = omp_get_max_threads();
    const int partial = (dw || db) && threads > 1 && B > 1; /* per-thread weight gradients, summed below */
    if (partial)
        for (int th = 0; th < threads; th++) memset(scratch + (size_t)th * per + KK * N, 0, Co * (KK + 1) * sizeof(T));
    #pragma omp parallel for schedule(static) if (B > 1)
    for (size_t n = 0; n < B; n++) {
        T *col = scratch + (size_t)omp_get_thread_num() * per;
        T *pdw = partial ? col + KK * N : dw, *pdb = partial ? col + KK * N + Co * KK : db;
        const T *x = in + n * inz, *g = dout + n * Co * N;
        if (dw) {
            if (!pointwise) FN(im2col)(col, x, d);
            /* dw (Co, KK) += g (Co, N) . col^T (N, KK) */
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Co, (int)KK, (int)N, 1, g, (int)N, pointwise ? x : col,
                 (int)N, 1, pdw, (int)KK);
        }
        if (db)
            for (size_t c = 0; c < Co; c++) {
                T s = 0;
                for (size_t k = 0; k < N; k++) s += g[c * N + k];
                pdb[c] += s;
            }
        if (din) {
            /* dcol (KK, N) = w^T (KK, Co) . g (Co, N); a pointwise conv adds it to din directly */
            T *dx = din + n * inz;
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)KK, (int)N, (int)Co, 1, w, (int)KK, g, (int)N,
                 pointwise ? 1 : 0, pointwise ? dx : col, (int)N);
            if (!pointwise) FN(col2im_add)(dx, col, d);
        }
    }
    if (partial) {
        #pragma omp parallel for schedule(static) if (Co * KK > 16384)
        for (size_t k = 0; k < Co * (KK + 1); k++) {
            T s = 0;
            for (int th = 0; th < threads; th++) s += scratch[(size_t)th * per + KK * N + k];
            if (k < Co * KK) {
                if (dw) dw[k] += s;
            } else if (db) {
                db[k - Co * KK] += s;
            }
        }
    }
}

void FN(fm_groupnorm_forward)(T *out, T *mean, T *rstd, const T *in, const T *gamma, const T *beta, size_t B, size_t C,
                              size_t HW, size_t G, double eps) {
    const size_t Cg = C / G, len = Cg * HW;
    #pragma omp parallel for schedule(static) if (B * C * HW > 65536)
    for (size_t ng = 0; ng < B * G; ng++) {
        const T *x = in + ng * len;
        T *y = out + ng * len;
        double s = 0, v = 0;
        for (size_t k = 0; k < len; k++) s += (double)x[k];
        const double mu = s / (double)len;
        for (size_t k = 0; k < len; k++) v += ((double)x[k] - mu) * ((double)x[k] - mu);
        const double r = 1.0 / sqrt(v / (double)len + eps);
        mean[ng] = (T)mu;
        rstd[ng] = (T)r;
        const size_t c0 = (ng % G) * Cg;
        for (size_t c = 0; c < Cg; c++) {
            const T a = (T)r * gamma[c0 + c], bb = beta[c0 + c] - (T)mu * a;
            for (size_t k = 0; k < HW; k++) y[c * HW + k] = x[c * HW + k] * a + bb;
        }
    }
}

/* With xhat = (x - mean) rstd and dxhat = dout gamma, over each group:
 *   din += rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),
 *   dgamma[c] += sum dout xhat,  dbeta[c] += sum dout  (sums over samples and pixels). */
void FN(fm_groupnorm_backward)(T *din, T *dgamma, T *dbeta, const T *dout, const T *in, const T *mean, const T *rstd,
                               const T *gamma, size_t B, size_t C, size_t HW, size_t G) {
    const size_t Cg = C / G, len = Cg * HW;
    if (din) {
        #pragma omp parallel for schedule(static) if (B * C * HW > 65536)
        for (size_t ng = 0; ng < B * G; ng++) {
            const T *x = in + ng * len, *g = dout + ng * len;
            T *dx = din + ng * len;
            const double mu = (double)mean[ng], r = (double)rstd[ng];
            const size_t c0 = (ng % G) * Cg;
            double sa = 0, sb = 0;
            for (size_t c = 0; c < Cg; c++)
                for (size_t k = 0; k < HW; k++) {
                    const double dxh = (double)g[c * HW + k] * (double)gamma[c0 + c];
                    sa += dxh;
                    sb += dxh * ((double)x[c * HW + k] - mu) * r;
                }
            const T a = (T)(sa / (double)len), bm = (T)(sb / (double)len), rr = (T)r, m = (T)mu;
            for (size_t c = 0; c < Cg; c++) {
                const T gm = gamma[c0 + c];
                for (size_t k = 0; k < HW; k++) {
                    const T xh = (x[c * HW + k] - m) * rr;
                    dx[c * HW + k] += rr * (g[c * HW + k] * gm - a - xh * bm);
                }
            }
        }
    }
    if (dgamma || dbeta) {
        #pragma omp parallel for schedule(static) if (B * C * HW > 65536)
        for (size_t c = 0; c < C; c++) {
            double sg = 0, sbt = 0;
            for (size_t n = 0; n < B; n++) {
                const size_t ng = n * G + c / Cg;
                const T *x = in + (n * C + c) * HW, *g = dout + (n * C + c) * HW;
                const double mu = (double)mean[ng], r = (double)rstd[ng];
                for (size_t k = 0; k < HW; k++) {
                    sg += (double)g[k] * ((double)x[k] - mu) * r;
                    sbt += (double)g[k];
                }
            }
            if (dgamma) dgamma[c] += (T)sg;
            if (dbeta) dbeta[c] += (T)sbt;
        }
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
