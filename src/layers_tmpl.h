/* layers_tmpl.h - the layer template, included by layers.c once per precision with
 *   T     float or double
 *   S     suffix f or d
 *   GEMM  cblas_sgemm or cblas_dgemm
 *   EXP   expf or exp
 * No include guard on purpose. */
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, S)

#define GEMM_T(order, ta, tb, M, N, K, ...)                                                        \
    do {                                                                                           \
        const int nt_ = fm_gemm_small_begin((size_t)(M), (size_t)(N), (size_t)(K));                \
        GEMM(order, ta, tb, M, N, K, __VA_ARGS__);                                                   \
        fm_gemm_small_end(nt_);                                                                    \
    } while (0)

/* C = 0 before a GEMM with beta = 1 instead of the GEMM with beta = 0: the same values (the kernel
 * adds its sums to zeros either way), but OpenBLAS's beta = 0 pass over C runs at a fifth of
 * memset's speed, which costs 7 % of the small toy MLP's step (perf). */
static inline void FN(zero_out)(T *c, size_t n) { memset(c, 0, n * sizeof(T)); }

/* acc (n) += x (n): one row of a bias gradient's column sum. */
VEC_CLONES static void FN(add_row_kernel)(T *restrict acc, const T *restrict x, size_t n) {
    #pragma omp simd
    for (size_t o = 0; o < n; o++) acc[o] += x[o];
}

/* db (NO) += the column sums of dout (B,NO), row after row (the order of the sums is fixed). */
static void FN(colsum_add)(T *db, const T *dout, size_t B, size_t NO) {
    for (size_t i = 0; i < B; i++) FN(add_row_kernel)(db, dout + i * NO, NO);
}

void FN(fm_linear_forward)(T *out, const T *in, size_t ldi, const T *w, const T *b, size_t B, size_t NI,
                           size_t NO) {
    if (b) {
        FM_PARALLEL_FOR_IF(B * NO > 65536, for (size_t i = 0; i < B; i++), {
            for (size_t o = 0; o < NO; o++) out[i * NO + o] = b[o];
        });
    } else {
        FN(zero_out)(out, B * NO);
    }
    /* out (B,NO) = in (B,NI) . w^T (w stored (NO,NI) row-major: no copy, the transpose is a flag) */
    GEMM_T(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)NO, (int)NI, 1, in, (int)ldi, w, (int)NI, 1,
         out, (int)NO);
}

void FN(fm_linear_backward)(T *din, T *dw, T *db, const T *dout, const T *in, size_t ldi, const T *w,
                            size_t B, size_t NI, size_t NO) {
    /* dw (NO,NI) += dout^T (NO,B) . in (B,NI) */
    GEMM_T(CblasRowMajor, CblasTrans, CblasNoTrans, (int)NO, (int)NI, (int)B, 1, dout, (int)NO, in, (int)ldi, 1,
         dw, (int)NI);
    if (db) FN(colsum_add)(db, dout, B, NO);
    /* din (B,NI) = dout (B,NO) . w (NO,NI) */
    if (din) {
        FN(zero_out)(din, B * NI);
        GEMM_T(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)NI, (int)NO, 1, dout, (int)NO, w, (int)NI, 1,
             din, (int)NI);
    }
}

void FN(fm_linear_backward_add)(T *din, T *dw, T *db, const T *dout, const T *in, const T *w, size_t B, size_t NI,
                                size_t NO) {
    if (dw)
        GEMM_T(CblasRowMajor, CblasTrans, CblasNoTrans, (int)NO, (int)NI, (int)B, 1, dout, (int)NO, in, (int)NI, 1, dw,
             (int)NI);
    if (db) FN(colsum_add)(db, dout, B, NO);
    if (din)
        GEMM_T(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)NI, (int)NO, 1, dout, (int)NO, w, (int)NI, 1,
             din, (int)NI);
}

/* silu'(x) from e = exp(-x): s (1 + x (1 - s)) with s = 1/(1 + e) and 1 - s = e s, without the
 * cancellation of 1 - s for large x. */
VEC_MATH static inline __attribute__((always_inline)) T FN(silu_grad)(T x, T e) {
    const T s = 1 / (1 + e);
    return s * (1 + x * (e * s));
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
        da[i] = dh[i] * FN(silu_grad)(a[i], EXP(-a[i]));
    }
}

VEC_CLONES static void FN(silu_bwd_add_kernel)(T *da, const T *dh, const T *a, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) {
        da[i] += dh[i] * FN(silu_grad)(a[i], EXP(-a[i]));
    }
}

/* Rows [0,B) of (B,NO): a += b (the bias), h = silu(a), and (e != NULL) e = exp(-a) kept for
 * the backward pass, which then needs no exponential. */
VEC_CLONES static void FN(bias_silu_kernel)(T *restrict a, T *restrict h, T *restrict e, const T *restrict b,
                                            size_t B, size_t NO) {
    for (size_t i = 0; i < B; i++, a += NO, h += NO) {
        if (e) {
            #pragma omp simd
            for (size_t o = 0; o < NO; o++) {
                const T x = a[o] + b[o], ex = EXP(-x);
                a[o] = x;
                e[o] = ex;
                h[o] = x / (1 + ex);
            }
            e += NO;
        } else {
            #pragma omp simd
            for (size_t o = 0; o < NO; o++) {
                const T x = a[o] + b[o];
                a[o] = x;
                h[o] = x / (1 + EXP(-x));
            }
        }
    }
}

/* Rows [0,B), columns [0,n) of row stride NO: da = dh silu'(a) and db += da, with e = exp(-a)
 * from the forward pass. */
VEC_CLONES static void FN(silu_bwd_bias_kernel)(T *restrict da, T *restrict db, const T *restrict dh,
                                                const T *restrict a, const T *restrict e, size_t B, size_t n,
                                                size_t NO) {
    for (size_t i = 0; i < B; i++) {
        const size_t r = i * NO;
        #pragma omp simd
        for (size_t o = 0; o < n; o++) {
            const T d = dh[r + o] * FN(silu_grad)(a[r + o], e[r + o]);
            da[r + o] = d;
            db[o] += d;
        }
    }
}

#define SILU_CHUNK 16384
void FN(fm_silu_forward)(T *h, const T *a, size_t n) {
    if (n <= SILU_CHUNK) { /* no parallel region (also called inside one, per group, by GroupNorm) */
        FN(silu_fwd_kernel)(h, a, n);
        return;
    }
    FM_PARALLEL_FOR_IF(n > 4 * SILU_CHUNK, for (size_t c = 0; c < n; c += SILU_CHUNK),
                       { FN(silu_fwd_kernel)(h + c, a + c, n - c < SILU_CHUNK ? n - c : SILU_CHUNK); });
}

void FN(fm_silu_backward)(T *da, const T *dh, const T *a, size_t n) {
    FM_PARALLEL_FOR_IF(n > 4 * SILU_CHUNK, for (size_t c = 0; c < n; c += SILU_CHUNK),
                       { FN(silu_bwd_kernel)(da + c, dh + c, a + c, n - c < SILU_CHUNK ? n - c : SILU_CHUNK); });
}
void FN(fm_silu_backward_add)(T *da, const T *dh, const T *a, size_t n) {
    FM_PARALLEL_FOR_IF(n > 4 * SILU_CHUNK, for (size_t c = 0; c < n; c += SILU_CHUNK),
                       { FN(silu_bwd_add_kernel)(da + c, dh + c, a + c, n - c < SILU_CHUNK ? n - c : SILU_CHUNK); });
}

/* Threads take blocks of rows for the forward pass, and disjoint column blocks for the
 * backward (each owns its part of db; rows run in order in each). */
#define ROW_BLOCK 64
#define COL_BLOCK 256
void FN(fm_bias_silu_forward)(T *a, T *h, T *e, const T *b, size_t B, size_t NO) {
    FM_PARALLEL_FOR_IF(B * NO > 4 * SILU_CHUNK, for (size_t i = 0; i < B; i += ROW_BLOCK), {
        const size_t r = i * NO;
        FN(bias_silu_kernel)(a + r, h + r, e ? e + r : NULL, b, B - i < ROW_BLOCK ? B - i : ROW_BLOCK, NO);
    });
}

void FN(fm_silu_backward_bias)(T *da, T *db, const T *dh, const T *a, const T *e, size_t B, size_t NO) {
    FM_PARALLEL_FOR_IF(B * NO > 4 * SILU_CHUNK && NO >= 2 * COL_BLOCK, for (size_t o = 0; o < NO; o += COL_BLOCK), {
        FN(silu_bwd_bias_kernel)(da + o, db + o, dh + o, a + o, e + o, B, NO - o < COL_BLOCK ? NO - o : COL_BLOCK, NO);
    });
}
#undef ROW_BLOCK
#undef COL_BLOCK
#undef SILU_CHUNK

/* Rows [0,B) of the embedding, frequencies f[0..n) (columns k0.. and half+k0..). */
VEC_CLONES static void FN(temb_kernel)(T *out, size_t ldo, const T *t, size_t B, size_t half, size_t k0,
                                       const double *restrict f, size_t n, double scale) {
    for (size_t i = 0; i < B; i++) {
        T *restrict os = out + i * ldo + k0, *restrict oc = out + i * ldo + half + k0;
        const double ts = scale * (double)t[i];
        #pragma omp simd
        for (size_t k = 0; k < n; k++) {
            double sn, cs;
            fast_sincos(ts * f[k], &sn, &cs);
            os[k] = (T)sn;
            oc[k] = (T)cs;
        }
    }
}

void FN(fm_time_embed)(T *out, size_t ldo, const T *t, size_t B, size_t E, double scale) {
    const size_t half = E / 2;
    int fast = 1; /* the largest argument is scale |t| (f_0 = 1); a NaN fails the test too */
    for (size_t i = 0; i < B; i++) fast &= fabs(scale * (double)t[i]) < FAST_SINCOS_MAX;
    for (size_t k0 = 0; k0 < half; k0 += 64) {
        double f[64];
        const size_t n = half - k0 < 64 ? half - k0 : 64;
        for (size_t k = 0; k < n; k++) f[k] = exp(-log(10000.0) * (double)(k0 + k) / (double)half);
        if (fast) {
            FN(temb_kernel)(out, ldo, t, B, half, k0, f, n, scale);
            continue;
        }
        for (size_t i = 0; i < B; i++) /* beyond fast_sincos's range (or t not finite): libm */
            for (size_t k = 0; k < n; k++) {
                const double arg = scale * (double)t[i] * f[k];
                out[i * ldo + k0 + k] = (T)sin(arg);
                out[i * ldo + half + k0 + k] = (T)cos(arg);
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

#undef GEMM_T
#undef FN
#undef CAT
#undef CAT_
