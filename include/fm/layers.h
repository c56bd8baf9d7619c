/* layers.h - forward/backward pairs over flat row-major arrays.
 *
 * Dimension names: B rows of the batch, NI input features, NO output features (not I:
 * <complex.h>, pulled in by cblas.h, defines it),
 * E time-embedding width. "x is (B,NI)" means B rows of NI contiguous values.
 *
 * Every op exists for float (suffix _f, used for training) and double (suffix _d,
 * used by the finite-difference tests): both are compiled from one template
 * (src/layers_tmpl.h), so the tests check the very code that trains.
 * Conventions (as in llm.c): forward saves what backward needs and passes it
 * explicitly; backward ACCUMULATES (+=) into parameter gradients, and OVERWRITES the
 * input gradient (which may be NULL when not needed).
 */
#ifndef FM_LAYERS_H
#define FM_LAYERS_H


#include <stddef.h>

/* Around a GEMM of M x N x K: under 4 M multiply-adds it runs on the calling thread alone, where
 * OpenBLAS's split over the threads would cost more than it gains. begin returns what end takes. */
int fm_gemm_small_begin(size_t M, size_t N, size_t K);
void fm_gemm_small_end(int nt);

#define FM_DECLARE_LAYERS(T, S)                                                                   \
    /* out (B,NO) = in (B,NI) . w^T + b;  w is (NO,NI), b is (NO) or NULL. in has row stride ldi. */   \
    void fm_linear_forward_##S(T *out, const T *in, size_t ldi, const T *w, const T *b, size_t B,  \
                               size_t NI, size_t NO);                                                \
    /* dw (NO,NI) += dout^T in;  db (NO) += colsum(dout);  din (B,NI) = dout . w (if din != NULL) */   \
    void fm_linear_backward_##S(T *din, T *dw, T *db, const T *dout, const T *in, size_t ldi,       \
                                const T *w, size_t B, size_t NI, size_t NO);                         \
    /* As fm_linear_backward, but din (B,NI) += dout . w: accumulates (for fan-out); din, dw and  \
     * db may each be NULL. */                                                                     \
    void fm_linear_backward_add_##S(T *din, T *dw, T *db, const T *dout, const T *in, const T *w, \
                                    size_t B, size_t NI, size_t NO);                               \
    /* h = silu(a) = a * sigmoid(a) over n values (a is kept for backward). */                     \
    void fm_silu_forward_##S(T *h, const T *a, size_t n);                                          \
    /* Bias and SiLU fused, on (B,NO): a += b per row (a keeps the pre-activation), h = silu(a),   \
     * and e = exp(-a) for the backward pass unless e is NULL (forward only). */                   \
    void fm_bias_silu_forward_##S(T *a, T *h, T *e, const T *b, size_t B, size_t NO);              \
    /* SiLU's backward and the bias gradient fused, on (B,NO), with e from the forward pass:       \
     * da = dh * silu'(a), db += colsum(da). */                                                    \
    void fm_silu_backward_bias_##S(T *da, T *db, const T *dh, const T *a, const T *e, size_t B,    \
                                   size_t NO);                                                     \
    /* da = dh * silu'(a). */                                                                      \
    void fm_silu_backward_##S(T *da, const T *dh, const T *a, size_t n);                           \
    /* da += dh * silu'(a). */                                                                     \
    void fm_silu_backward_add_##S(T *da, const T *dh, const T *a, size_t n);                       \
    /* Sinusoidal embedding of t (B) into columns [0,E) of out (row stride ldo):                   \
     * out[i][k] = sin(scale t_i f_k), out[i][E/2 + k] = cos(scale t_i f_k),                       \
     * f_k = 10000^(-k/(E/2)), k < E/2  (E even; the transformer/DDPM embedding has scale 1000). */ \
    void fm_time_embed_##S(T *out, size_t ldo, const T *t, size_t B, size_t E, double scale);      \
    /* Mean squared error:  returns sum_i (pred_i - target_i)^2  (in double);                      \
     * dpred_i = 2 * scale * (pred_i - target_i)  if dpred != NULL. */                              \
    double fm_sqerr_##S(T *dpred, const T *pred, const T *target, size_t n, double scale);

FM_DECLARE_LAYERS(float, f)
FM_DECLARE_LAYERS(double, d)

#endif
