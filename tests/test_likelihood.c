/* test_likelihood.c - the continuity-equation NLL and the divergences behind it.
 *
 *  (a) closed form: for Gaussian data N(mu 1, sigma^2 I) the flow's p_1 is the data density,
 *      so fm_nll (RK4 and dopri5) of points x_1 must equal -log N(x_1; mu 1, sigma^2 I)
 *      (condot, cosine, poly:2; t1 = 1 -> t0 = 0); and with t1 < 1, -log p_t1(x_1). A wrong
 *      sign of the divergence integral would be off by 2 int div, O(1) nats here.
 *  (b) the MLP's divergence: exact (D JVPs with basis vectors) against Hutchinson's estimator
 *      with Rademacher probes keyed (seed, probe, row, FM_RNG_PROBE): the estimate lies within
 *      4 standard errors, and the sample variance of v^T J v matches
 *      Var = sum_{i != j} (J_ij^2 + J_ij J_ji) within 4 of its standard errors;
 *  (c) the JVP against central finite differences of the forward pass in double, and the
 *      float JVP against the double one;
 *  (d) fm_bits_per_dim, and fm_nll's input checks;
 *  (e) a nonlinear flow: under the exact field of a finite data set (oracle.h), p_t1 is a
 *      Gaussian mixture, so the NLL from t1 < 1 has a closed form too.
 *  (f) Gaussian-mixture data (FmOracle.sigma > 0, e.g. 8gaussians): the NLL through the exact
 *      field from t = 1 equals the closed-form mixture density (computed independently here);
 *      the field satisfies the continuity equation d/dt log p_t + div u + u . grad log p_t = 0;
 *      and as sigma -> 0 the field tends to the finite set's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/likelihood.h"
#include "fm/model.h"
#include "fm/oracle.h"
#include "fm/rng.h"
#include "testutil.h"

#define LOG_2PI 1.83787706640934548356

static void gauss_divfield(float *u, double *div, const float *x, const double *t, size_t n, void *ctx) {
    fm_gauss_field(u, NULL, x, t, n, ctx);
    fm_gauss_divergence(div, x, t, n, ctx);
}

/* ---------------------------------------------------------------- (a) closed form */

static void test_gauss_nll(void) {
    enum { D = 2, NR = 6 };
    const double mu = 0.7, sigma = 0.5, tol = 1e-3;
    float x1[NR * D];
    for (size_t i = 0; i < NR * D; i++) {
        FmStream st;
        fm_stream_init(&st, 21, 0, i, FM_RNG_HELDOUT);
        x1[i] = (float)(mu + 1.5 * sigma * fm_stream_normal(&st)); /* some well into the tails */
    }
    const char *scheds[] = {"condot", "cosine", "poly:2"};
    for (int k = 0; k < 3; k++) {
        FmGaussOracle g = {mu, sigma, D, {0}};
        FM_CHECK(fm_schedule_parse(&g.sched, scheds[k]) == 0, "%s", fm_err_msg());
        double want[NR], got[NR], wmin = INFINITY, wmax = -INFINITY;
        for (size_t i = 0; i < NR; i++) {
            double r2 = 0;
            for (size_t d = 0; d < D; d++) r2 += pow(x1[i * D + d] - mu, 2);
            want[i] = 0.5 * D * (LOG_2PI + log(sigma * sigma)) + r2 / (2 * sigma * sigma);
            wmin = fmin(wmin, want[i]), wmax = fmax(wmax, want[i]);
        }
        struct { FmSolver s; long steps; } runs[] = {{FM_SOLVER_RK4, 50}, {FM_SOLVER_RK4, 200}, {FM_SOLVER_DOPRI5, 0}};
        for (int r = 0; r < 3; r++) {
            FmNllOpts o = {runs[r].s, runs[r].steps, 1e-6, 1e-6, 0.0, 1.0};
            long nfe[NR];
            int rc = fm_nll(got, x1, NR, D, &o, gauss_divfield, &g, nfe);
            T_CHECK(rc == 0, "fm_nll failed: %s", fm_err_msg());
            double worst = 0;
            for (size_t i = 0; i < NR; i++) worst = fmax(worst, fabs(got[i] - want[i]));
            T_CHECK(worst < tol, "(a) %s %s: NLL off the closed form by %.3g nats", scheds[k],
                    fm_solver_name(runs[r].s), worst);
            if (runs[r].s != FM_SOLVER_DOPRI5)
                T_CHECK(nfe[0] == 4 * runs[r].steps, "(a) RK4 NFE %ld for %ld steps", nfe[0], runs[r].steps);
            printf("(a) %-7s %-6s steps %3ld: NLL of %d points vs -log N(x; %.1f, %.1f^2 I): max |err| %.2e nats "
                   "(tol %.0e), NFE %ld, NLL range %.3f..%.3f\n",
                   scheds[k], fm_solver_name(runs[r].s), runs[r].steps, NR, mu, sigma, worst, tol, nfe[0], wmin, wmax);
        }
        /* from an intermediate time: the result is -log p_t1 */
        const double t1 = 0.6;
        FmNllOpts o = {FM_SOLVER_RK4, 200, 0, 0, 0.0, t1};
        T_CHECK(fm_nll(got, x1, NR, D, &o, gauss_divfield, &g, NULL) == 0, "%s", fm_err_msg());
        double lp[NR], worst = 0;
        fm_gauss_logp(lp, x1, t1, NR, &g);
        for (size_t i = 0; i < NR; i++) worst = fmax(worst, fabs(got[i] + lp[i]));
        T_CHECK(worst < tol, "(a) %s: NLL from t1 = %g off -log p_t1 by %.3g", scheds[k], t1, worst);
        printf("(a) %-7s rk4    from t1 = 0.6: vs -log p_t1(x): max |err| %.2e nats\n", scheds[k], worst);
    }
}

/* ---------------------------------------------------------------- (e) a nonlinear flow */

static void oracle_divfield(float *u, double *div, const float *x, const double *t, size_t n, void *ctx) {
    fm_oracle_field(u, NULL, x, t, n, ctx);
    fm_oracle_divergence(div, x, t, n, ctx);
}

/* The exact field of a finite data set is nonlinear, and its p_t is known in closed form,
 * p_t(x) = (1/N) sum_i N(x; a z_i, b^2 I): the NLL from t1 < 1 must be -log p_t1. */
static void test_mixture_nll(void) {
    enum { NP = 5, D = 2, NR = 8 };
    const double t1 = 0.9, tol = 1e-3;
    float z[NP * D], x1[NR * D];
    FmStream st;
    fm_stream_init(&st, 4, 0, 0, FM_RNG_DATA);
    for (size_t i = 0; i < NP * D; i++) z[i] = (float)(1.5 * fm_stream_normal(&st));
    const char *scheds[] = {"condot", "cosine"};
    for (int k = 0; k < 2; k++) {
        FmOracle o = {z, NP, D, {0}, 0};
        FM_CHECK(fm_schedule_parse(&o.sched, scheds[k]) == 0, "%s", fm_err_msg());
        FmCoef c = fm_schedule_eval(&o.sched, t1);
        double want[NR];
        for (size_t i = 0; i < NR; i++) { /* x_1 drawn from p_t1 itself */
            size_t j = fm_stream_u32(&st) % NP;
            for (size_t d = 0; d < D; d++) x1[i * D + d] = (float)(c.a * z[j * D + d] + c.b * fm_stream_normal(&st));
            double l[NP], m = -INFINITY, sum = 0;
            for (size_t j2 = 0; j2 < NP; j2++) {
                double r2 = 0;
                for (size_t d = 0; d < D; d++) r2 += pow(x1[i * D + d] - c.a * z[j2 * D + d], 2);
                l[j2] = -r2 / (2 * c.b * c.b);
                m = fmax(m, l[j2]);
            }
            for (size_t j2 = 0; j2 < NP; j2++) sum += exp(l[j2] - m);
            double logp = m + log(sum / NP) - 0.5 * D * (LOG_2PI + 2 * log(c.b));
            want[i] = -logp;
        }
        struct { FmSolver s; long steps; } runs[] = {{FM_SOLVER_RK4, 400}, {FM_SOLVER_DOPRI5, 0}};
        for (int r = 0; r < 2; r++) {
            FmNllOpts opt = {runs[r].s, runs[r].steps, 1e-7, 1e-7, 0.0, t1};
            double got[NR], worst = 0;
            long nfe[NR], nmax = 0;
            T_CHECK(fm_nll(got, x1, NR, D, &opt, oracle_divfield, &o, nfe) == 0, "%s", fm_err_msg());
            for (size_t i = 0; i < NR; i++) worst = fmax(worst, fabs(got[i] - want[i])), nmax = nfe[i] > nmax ? nfe[i] : nmax;
            T_CHECK(worst < tol, "(e) %s %s: mixture NLL off by %.3g nats", scheds[k], fm_solver_name(runs[r].s), worst);
            printf("(e) %-7s %-6s: NLL under the exact field of %d points from t1 = %.1f vs -log p_t1 (Gaussian "
                   "mixture): max |err| %.2e nats, max NFE %ld\n",
                   scheds[k], fm_solver_name(runs[r].s), NP, t1, worst, nmax);
        }
    }
}

/* ---------------------------------------------------------------- (f) Gaussian mixtures */

static void test_gmm_oracle(void) {
    enum { K = 8, D = 2, NR = 10 };
    const double sigma = 0.2;
    float z[K * D], x1[NR * D];
    for (size_t i = 0; i < K; i++) z[2 * i] = (float)(2 * cos(i * FM_PI / 4)), z[2 * i + 1] = (float)(2 * sin(i * FM_PI / 4));
    FmStream st;
    fm_stream_init(&st, 9, 0, 0, FM_RNG_DATA);
    double want[NR];
    for (size_t i = 0; i < NR; i++) {
        size_t j = fm_stream_u32(&st) % K;
        for (size_t d = 0; d < D; d++) x1[i * D + d] = (float)(z[j * D + d] + sigma * fm_stream_normal(&st));
        double sum = 0; /* (1/K) sum_k N(x; z_k, sigma^2 I), independently of oracle.c */
        for (size_t k = 0; k < K; k++) {
            double r2 = pow(x1[i * D] - z[k * D], 2) + pow(x1[i * D + 1] - z[k * D + 1], 2);
            sum += exp(-r2 / (2 * sigma * sigma)) / (2 * FM_PI * sigma * sigma);
        }
        want[i] = -log(sum / K);
    }
    const char *scheds[] = {"condot", "cosine"};
    for (int k = 0; k < 2; k++) {
        FmOracle o = {z, K, D, {0}, sigma};
        FM_CHECK(fm_schedule_parse(&o.sched, scheds[k]) == 0, "%s", fm_err_msg());
        double lp[NR], worst_lp = 0;
        fm_oracle_logp(lp, x1, 1.0, NR, &o);
        for (size_t i = 0; i < NR; i++) worst_lp = fmax(worst_lp, fabs(-lp[i] - want[i]));
        T_CHECK(worst_lp < 1e-9, "(f) %s: fm_oracle_logp at t = 1 vs the mixture density: %.3g", scheds[k], worst_lp);
        struct { FmSolver s; long steps; } runs[] = {{FM_SOLVER_RK4, 200}, {FM_SOLVER_DOPRI5, 0}};
        for (int r = 0; r < 2; r++) {
            FmNllOpts opt = {runs[r].s, runs[r].steps, 1e-7, 1e-7, 0.0, 1.0};
            double got[NR], worst = 0;
            long nfe[NR], nmax = 0;
            T_CHECK(fm_nll(got, x1, NR, D, &opt, fm_oracle_divfield, &o, nfe) == 0, "%s", fm_err_msg());
            for (size_t i = 0; i < NR; i++) worst = fmax(worst, fabs(got[i] - want[i])), nmax = nfe[i] > nmax ? nfe[i] : nmax;
            T_CHECK(worst < 1e-3, "(f) %s %s: 8-Gaussian NLL off by %.3g nats", scheds[k], fm_solver_name(runs[r].s), worst);
            printf("(f) %-7s %-6s: NLL of 8-Gaussian data through the exact mixture field from t = 1 vs the density: "
                   "max |err| %.2e nats, max NFE %ld\n", scheds[k], fm_solver_name(runs[r].s), worst, nmax);
        }
        /* continuity: d/dt log p_t(x) = -div u - u . s at fixed x (time derivative by central FD) */
        double worst_ce = 0;
        for (double t = 0.1; t < 0.95; t += 0.2) {
            double tt[NR], div[NR], lp_p[NR], lp_m[NR], h = 1e-5;
            float u[NR * D], sc[NR * D];
            for (size_t i = 0; i < NR; i++) tt[i] = t;
            fm_oracle_field(u, sc, x1, tt, NR, &o);
            fm_oracle_divergence(div, x1, tt, NR, &o);
            fm_oracle_logp(lp_p, x1, t + h, NR, &o);
            fm_oracle_logp(lp_m, x1, t - h, NR, &o);
            for (size_t i = 0; i < NR; i++) {
                double us = (double)u[i * D] * sc[i * D] + (double)u[i * D + 1] * sc[i * D + 1];
                double dlp = (lp_p[i] - lp_m[i]) / (2 * h);
                worst_ce = fmax(worst_ce, fabs(dlp + div[i] + us) / fmax(1, fabs(dlp)));
            }
        }
        T_CHECK(worst_ce < 1e-4, "(f) %s: continuity residual %.3g", scheds[k], worst_ce);
        printf("(f) %-7s: continuity equation residual of the mixture field %.2e\n", scheds[k], worst_ce);
        /* sigma -> 0: the finite set's field */
        FmOracle o0 = o, os = o;
        o0.sigma = 0, os.sigma = 1e-5;
        double tt[NR];
        float u0[NR * D], us[NR * D];
        for (size_t i = 0; i < NR; i++) tt[i] = 0.5;
        fm_oracle_field(u0, NULL, x1, tt, NR, &o0);
        fm_oracle_field(us, NULL, x1, tt, NR, &os);
        double dmax = 0;
        for (size_t i = 0; i < NR * D; i++) dmax = fmax(dmax, fabs(u0[i] - us[i]) / fmax(1, fabs(u0[i])));
        T_CHECK(dmax < 1e-6, "(f) %s: sigma 1e-5 vs 0 field differ by %.3g", scheds[k], dmax);
    }
}

/* ---------------------------------------------------------------- the MLP */

typedef struct {
    FmMlp net;
    float *pf;
    double *pd;
} Net;

/* PyTorch-default initialisation, then the weights scaled by gain: at gain 1 a fresh MLP's
 * Jacobian is ~1e-2 (each layer shrinks), at gain 3 it is O(1) like a trained field's. */
static void net_init(Net *n, size_t D, double gain) {
    FM_CHECK(fm_mlp_init(&n->net, D, 8, 32, 2) == 0, "%s", fm_err_msg());
    n->pf = fm_malloc_floats(n->net.table.total);
    n->pd = fm_calloc(n->net.table.total, sizeof(double));
    fm_mlp_init_params(&n->net, n->pf, 3);
    for (int k = 0; k < n->net.table.count; k++) {
        const FmTensor *T = &n->net.table.t[k];
        for (size_t i = T->off; i < T->off + T->rows * T->cols; i++) {
            if (T->decay) n->pf[i] = (float)(gain * n->pf[i]); /* weights only */
            n->pd[i] = n->pf[i];
        }
    }
}

static void net_free(Net *n) {
    free(n->pf);
    free(n->pd);
}

/* J (B, D, D): J[b][i][j] = d out_i / d x_j at row b, column j from the JVP with e_j. */
static void exact_jacobian(double *J, const Net *n, FmMlpActs_d *acts, const double *x, const double *t, size_t B) {
    const size_t D = n->net.D;
    double *v = calloc(B * D, sizeof *v), *jv = calloc(B * D, sizeof *jv);
    for (size_t j = 0; j < D; j++) {
        memset(v, 0, B * D * sizeof *v);
        for (size_t b = 0; b < B; b++) v[b * D + j] = 1;
        fm_mlp_jvp_d(&n->net, n->pd, acts, x, t, v, B, jv);
        for (size_t b = 0; b < B; b++)
            for (size_t i = 0; i < D; i++) J[(b * D + i) * D + j] = jv[b * D + i];
    }
    free(v), free(jv);
}

/* ---------------------------------------------------------------- (c) JVP vs finite differences */

static void test_jvp_fd(void) {
    enum { D = 4, B = 5 };
    Net n;
    net_init(&n, D, 3.0);
    FmMlpActs_d acts;
    fm_mlp_acts_init_d(&acts, &n.net, B);
    FmStream st;
    fm_stream_init(&st, 1, 0, 0, FM_RNG_NOISE);
    double x[B * D], t[B], v[B * D], jv[B * D], xp[B * D], fp[B * D], fm[B * D], out[B * D];
    for (size_t i = 0; i < B * D; i++) x[i] = fm_stream_normal(&st), v[i] = fm_stream_normal(&st);
    for (size_t b = 0; b < B; b++) t[b] = fm_stream_uniform(&st);
    fm_mlp_jvp_d(&n.net, n.pd, &acts, x, t, v, B, jv);
    memcpy(out, acts.out, sizeof out);
    fm_mlp_forward_d(&n.net, n.pd, &acts, x, t, B);
    T_CHECK(!memcmp(out, acts.out, sizeof out), "(c) the JVP must leave net(x, t) in acts->out");
    const double h = 1e-6;
    for (size_t i = 0; i < B * D; i++) xp[i] = x[i] + h * v[i];
    fm_mlp_forward_d(&n.net, n.pd, &acts, xp, t, B);
    memcpy(fp, acts.out, sizeof fp);
    for (size_t i = 0; i < B * D; i++) xp[i] = x[i] - h * v[i];
    fm_mlp_forward_d(&n.net, n.pd, &acts, xp, t, B);
    memcpy(fm, acts.out, sizeof fm);
    double worst = 0;
    for (size_t i = 0; i < B * D; i++) worst = fmax(worst, fabs(jv[i] - (fp[i] - fm[i]) / (2 * h)) / fmax(1.0, fabs(jv[i])));
    T_CHECK(worst < 1e-7, "(c) JVP vs central FD: worst rel. error %.3g", worst);
    /* the float JVP (the one that runs) against the double one */
    FmMlpActs_f af;
    fm_mlp_acts_init_f(&af, &n.net, B);
    float xf[B * D], tf[B], vf[B * D], jvf[B * D];
    for (size_t i = 0; i < B * D; i++) xf[i] = (float)x[i], vf[i] = (float)v[i];
    for (size_t b = 0; b < B; b++) tf[b] = (float)t[b];
    for (size_t i = 0; i < B * D; i++) x[i] = xf[i], v[i] = vf[i];
    for (size_t b = 0; b < B; b++) t[b] = tf[b];
    fm_mlp_jvp_d(&n.net, n.pd, &acts, x, t, v, B, jv);
    fm_mlp_jvp_f(&n.net, n.pf, &af, xf, tf, vf, B, jvf);
    double wf = 0;
    for (size_t i = 0; i < B * D; i++) wf = fmax(wf, fabs(jv[i] - jvf[i]) / fmax(1.0, fabs(jv[i])));
    T_CHECK(wf < 1e-5, "(c) float JVP vs double: %.3g", wf);
    printf("(c) MLP JVP vs central FD (double, h 1e-6): worst rel. error %.2e; float vs double JVP %.2e\n", worst, wf);
    fm_mlp_acts_free_f(&af);
    fm_mlp_acts_free_d(&acts);
    net_free(&n);
}

/* ---------------------------------------------------------------- (b) Hutchinson vs exact */

static void test_hutchinson(void) {
    enum { D = 4, B = 6 };
    const long K = 20000;
    const uint64_t seed = 77;
    Net n;
    net_init(&n, D, 3.0);
    FmMlpActs_d acts;
    fm_mlp_acts_init_d(&acts, &n.net, B);
    FmStream st;
    fm_stream_init(&st, 2, 0, 0, FM_RNG_NOISE);
    double x[B * D], t[B], J[B * D * D], v[B * D], jv[B * D];
    for (size_t i = 0; i < B * D; i++) x[i] = 1.5 * fm_stream_normal(&st);
    for (size_t b = 0; b < B; b++) t[b] = fm_stream_uniform(&st);
    exact_jacobian(J, &n, &acts, x, t, B);
    /* the exact divergence (trace of the JVP Jacobian) against the trace of an FD Jacobian */
    double worst_tr = 0;
    for (size_t b = 0; b < B; b++) {
        double tr = 0, fd = 0, xp[D];
        for (size_t j = 0; j < D; j++) {
            tr += J[(b * D + j) * D + j];
            const double h = 1e-6;
            double f[2];
            for (int s = 0; s < 2; s++) {
                memcpy(xp, x + b * D, sizeof xp);
                xp[j] += s ? -h : h;
                fm_mlp_forward_d(&n.net, n.pd, &acts, xp, t + b, 1);
                f[s] = acts.out[j];
            }
            fd += (f[0] - f[1]) / (2 * h);
        }
        worst_tr = fmax(worst_tr, fabs(tr - fd) / fmax(1.0, fabs(fd)));
    }
    T_CHECK(worst_tr < 1e-7, "(b) exact divergence vs FD trace: %.3g", worst_tr);
    printf("(b) exact MLP divergence (D basis JVPs) vs trace of the FD Jacobian: worst rel. error %.2e\n", worst_tr);

    /* K probes for every row at once: probe k of row b from (seed, k, b, FM_RNG_PROBE) */
    double *q = calloc((size_t)K * B, sizeof *q);
    for (long k = 0; k < K; k++) {
        for (size_t b = 0; b < B; b++) {
            FmStream ps;
            fm_stream_init(&ps, seed, (uint64_t)k, b, FM_RNG_PROBE);
            for (size_t d = 0; d < D; d++) v[b * D + d] = fm_stream_rademacher(&ps);
        }
        fm_mlp_jvp_d(&n.net, n.pd, &acts, x, t, v, B, jv);
        for (size_t b = 0; b < B; b++) {
            double s = 0;
            for (size_t d = 0; d < D; d++) s += v[b * D + d] * jv[b * D + d];
            q[(size_t)k * B + b] = s;
        }
    }
    double zmax = 0, zvmax = 0;
    for (size_t b = 0; b < B; b++) {
        const double *Jb = J + b * D * D;
        double tr = 0, var = 0;
        for (size_t i = 0; i < D; i++) {
            tr += Jb[i * D + i];
            for (size_t j = 0; j < D; j++)
                if (i != j) var += Jb[i * D + j] * Jb[i * D + j] + Jb[i * D + j] * Jb[j * D + i];
        }
        double mean = 0, m2 = 0, m4 = 0;
        for (long k = 0; k < K; k++) mean += q[(size_t)k * B + b];
        mean /= (double)K;
        for (long k = 0; k < K; k++) {
            double r = q[(size_t)k * B + b] - mean;
            m2 += r * r;
            m4 += r * r * r * r;
        }
        double s2 = m2 / (double)(K - 1);
        m4 /= (double)K;
        double se = sqrt(s2 / (double)K), z = (mean - tr) / se;
        /* the sample variance's own standard error: sqrt((mu4 - sigma^4) / K) */
        double zv = (s2 - var) / sqrt((m4 - s2 * s2) / (double)K);
        zmax = fmax(zmax, fabs(z));
        zvmax = fmax(zvmax, fabs(zv));
        T_CHECK(fabs(z) < 4, "(b) row %zu: Hutchinson %.6g vs exact %.6g is %.2f standard errors off", b, mean, tr, z);
        T_CHECK(fabs(zv) < 4, "(b) row %zu: probe variance %.6g vs formula %.6g (z %.2f)", b, s2, var, zv);
        printf("(b) row %zu: exact div %+.5f, Hutchinson (K=%ld) %+.5f, SE %.4f, z %+.2f; "
               "Var(v^T J v) %.5f vs sum_{i!=j} J_ij^2 + J_ij J_ji = %.5f, z %+.2f\n",
               b, tr, K, mean, se, z, s2, var, zv);
    }
    printf("(b) max |z|: estimate %.2f, variance %.2f (tolerance 4)\n", zmax, zvmax);
    free(q);
    fm_mlp_acts_free_d(&acts);
    net_free(&n);
}

/* ---------------------------------------------------------------- (d) bits/dim, input checks */

static void test_bpd_and_checks(void) {
    /* uniform on [-1, 1]^D has density 2^-D, NLL D ln 2: exactly 8 bits (256 levels, uniform) */
    T_CLOSE(fm_bits_per_dim(3072 * log(2.0), 3072), 8.0, 1e-12, "bits/dim of the uniform density");
    T_CLOSE(fm_bits_per_dim(0.0, 10), 7.0, 1e-15, "bits/dim at NLL 0");
    T_CLOSE(fm_bits_per_dim(1000.0, 100), 1000.0 / (100 * log(2.0)) + 7, 1e-12, "bits/dim formula");
    FmGaussOracle g = {0, 1, 1, {0}};
    float x = 0.5f;
    double nll;
    FmNllOpts bad_steps = {FM_SOLVER_RK4, 0, 0, 0, 0, 1}, bad_t = {FM_SOLVER_RK4, 10, 0, 0, 0.5, 0.5},
              bad_tol = {FM_SOLVER_DOPRI5, 0, 0, 1e-6, 0, 1};
    T_CHECK(fm_nll(&nll, &x, 1, 1, &bad_steps, gauss_divfield, &g, NULL) == -1, "steps = 0 must be refused");
    T_CHECK(fm_nll(&nll, &x, 1, 1, &bad_t, gauss_divfield, &g, NULL) == -1, "t0 = t1 must be refused");
    T_CHECK(fm_nll(&nll, &x, 1, 1, &bad_tol, gauss_divfield, &g, NULL) == -1, "rtol = 0 must be refused");
    printf("(d) bits/dim: uniform density -> %.6f; bad options refused: %s\n", fm_bits_per_dim(3072 * log(2.0), 3072),
           fm_err_msg());
}

int main(void) {
    test_gauss_nll();
    test_mixture_nll();
    test_gmm_oracle();
    test_jvp_fd();
    test_hutchinson();
    test_bpd_and_checks();
    return T_DONE();
}
