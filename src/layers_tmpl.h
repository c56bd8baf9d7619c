/* layers_tmpl.h - the layer template, included by layers.c once per precision with
 *   T     float or double
 *   S     suffix f or d
 *   GEMM  cblas_sgemm or cblas_dgemm
 *   EXP   expf or exp
 * No include guard on purpose. */
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, S)

void FN(fm_linear_forward)(T *out, const T *in, size_t ldi, const T *w, const T *b, size_t B, size_t NI,
                           size_t NO) {
    if (b) {
        #pragma omp parallel for schedule(static) if (B * NO > 65536)
        for (size_t i = 0; i < B; i++)
            for (size_t o = 0; o < NO; o++) out[i * NO + o] = b[o];
    }
    /* out (B,NO) = in (B,NI) . w^T (w stored (NO,NI) row-major: no copy, the transpose is a flag) */
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)NO, (int)NI, 1, in, (int)ldi, w, (int)NI,
         b ? 1 : 0, out, (int)NO);
}

void FN(fm_linear_backward)(T *din, T *dw, T *db, const T *dout, const T *in, size_t ldi, const T *w,
                            size_t B, size_t NI, size_t NO) {
    /* dw (NO,NI) += dout^T (NO,B) . in (B,NI) */
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)NO, (int)NI, (int)B, 1, dout, (int)NO, in, (int)ldi, 1,
         dw, (int)NI);
    if (db) {
        for (size_t i = 0; i < B; i++)
            for (size_t o = 0; o < NO; o++) db[o] += dout[i * NO + o];
    }
    /* din (B,NI) = dout (B,NO) . w (NO,NI) */
    if (din)
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)NI, (int)NO, 1, dout, (int)NO, w, (int)NI, 0,
             din, (int)NI);
}

void FN(fm_linear_backward_add)(T *din, T *dw, T *db, const T *dout, const T *in, const T *w, size_t B, size_t NI,
                                size_t NO) {
    if (dw)
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)NO, (int)NI, (int)B, 1, dout, (int)NO, in, (int)NI, 1, dw,
             (int)NI);
    if (db)
        for (size_t i = 0; i < B; i++)
            for (size_t o = 0; o < NO; o++) db[o] += dout[i * NO + o];
    if (din)
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)NI, (int)NO, 1, dout, (int)NO, w, (int)NI, 1,
             din, (int)NI);
}

/* SiLU h = a s(a), s = 1/(1 + e^-a), and its backward da = dh (s + a s (1 - s)): serial
 * kernels that the compiler vectorises, run on chunks by the OpenMP team for large n. */
VEC_CLONES static void FN(silu_fwd_kernel)(T *h, const T *a, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) {
        T x = a[i];
        h[i] = x / (1 + EXP(-x));
    }
}

VEC_CLONES static void FN(silu_bwd_kernel)(T *da, const T *dh, const T *a, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) {
        T x = a[i], e = EXP(-x);
        T s = 1 / (1 + e); /* and 1 - s = e s, without the cancellation of 1 - s for large x */
        da[i] = dh[i] * s * (1 + x * (e * s));
    }
}

VEC_CLONES static void FN(silu_bwd_add_kernel)(T *da, const T *dh, const T *a, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) {
        T x = a[i], e = EXP(-x);
        T s = 1 / (1 + e);
        da[i] += dh[i] * s * (1 + x * (e * s));
    }
}

#define SILU_CHUNK 16384
void FN(fm_silu_forward)(T *h, const T *a, size_t n) {
    #pragma omp parallel for schedule(static) if (n > 4 * SILU_CHUNK)
    for (size_t c = 0; c < n; c += SILU_CHUNK) FN(silu_fwd_kernel)(h + c, a + c, n - c < SILU_CHUNK ? n - c : SILU_CHUNK);
}

void FN(fm_silu_backward)(T *da, const T *dh, const T *a, size_t n) {
    #pragma omp parallel for schedule(static) if (n > 4 * SILU_CHUNK)
    for (size_t c = 0; c < n; c += SILU_CHUNK)
        FN(silu_bwd_kernel)(da + c, dh + c, a + c, n - c < SILU_CHUNK ? n - c : SILU_CHUNK);
}
void FN(fm_silu_backward_add)(T *da, const T *dh, const T *a, size_t n) {
    #pragma omp parallel for schedule(static) if (n > 4 * SILU_CHUNK)
    for (size_t c = 0; c < n; c += SILU_CHUNK)
        FN(silu_bwd_add_kernel)(da + c, dh + c, a + c, n - c < SILU_CHUNK ? n - c : SILU_CHUNK);
}
#undef SILU_CHUNK

void FN(fm_time_embed)(T *out, size_t ldo, const T *t, size_t B, size_t E, double scale) {
    size_t half = E / 2;
    for (size_t i = 0; i < B; i++) {
        for (size_t k = 0; k < half; k++) {
            double f = exp(-log(10000.0) * (double)k / (double)half);
            double arg = scale * (double)t[i] * f;
            out[i * ldo + k] = (T)sin(arg);
            out[i * ldo + half + k] = (T)cos(arg);
        }
    }
}

double FN(fm_sqerr)(T *dpred, const T *pred, const T *target, size_t n, double scale) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double r = (double)pred[i] - (double)target[i];
        sum += r * r;
        if (dpred) dpred[i] = (T)(2 * scale * r);
    }
    return sum;
}

#undef FN
#undef CAT
#undef CAT_
