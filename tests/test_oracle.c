/* test_oracle.c - the exact marginal fields of oracle.h.
 *
 *  (a) integrating the finite-data-set field (RK4, t = 0 -> 1 - 1e-4) carries N(0, I) onto
 *      the data points themselves, each point receiving its 1/N share of the samples;
 *  (b) velocity = fm_pred_coef(VELOCITY, SCORE) applied to the exact score, every schedule;
 *  (c) the float field and divergence against an independent naive double implementation
 *      (sum_i w_i u_t(x | z_i), oracle.h's divergence formula), whose divergence is checked
 *      against central finite differences; and a float FD of the field itself;
 *  (d) the Gaussian oracle satisfies the continuity equation
 *      d/dt log p_t + div u + u . grad log p_t = 0 (time FD of fm_gauss_logp);
 *  (f) one data point: the marginal field is the conditional field u_t(x | z);
 *  plus: row-by-row = batched (bit for bit), and far-away x near t = 1 stays finite.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/oracle.h"
#include "fm/path.h"
#include "fm/rng.h"
#include "testutil.h"

static const char *SCHEDS[] = {"condot", "cosine", "poly:2", "vp"};
enum { NSCHED = 4 };

static FmSchedule sched_of(const char *name) {
    FmSchedule s;
    FM_CHECK(fm_schedule_parse(&s, name) == 0, "%s", fm_err_msg());
    return s;
}

/* ---------------------------------------------------------------- naive double reference */

/* u (D) = sum_i w_i u_t(x | z_i) with u_t(x | z) = (a' - b'/b a) z + (b'/b) x (SPEC), w = softmax
 * of -||x - a z_i||^2 / (2 b^2); s likewise; div by oracle.h's formula
 * D b'/b + sum_i w_i u_i . (g_i - gbar). */
static void ref_field(double *u, double *s, double *div, const double *x, double t, const FmOracle *o) {
    const size_t N = o->N, D = o->D;
    FmCoef c = fm_schedule_eval(&o->sched, t);
    double *w = calloc(N, sizeof *w), *ui = calloc(N * D, sizeof *ui), *gi = calloc(N * D, sizeof *gi);
    double lmax = -INFINITY, sum = 0;
    for (size_t i = 0; i < N; i++) {
        double r2 = 0;
        for (size_t d = 0; d < D; d++) {
            double z = o->z[i * D + d], r = x[d] - c.a * z;
            r2 += r * r;
            ui[i * D + d] = (c.da - c.db / c.b * c.a) * z + c.db / c.b * x[d];
            gi[i * D + d] = -r / (c.b * c.b);
        }
        w[i] = -r2 / (2 * c.b * c.b);
        lmax = fmax(lmax, w[i]);
    }
    for (size_t i = 0; i < N; i++) sum += (w[i] = exp(w[i] - lmax));
    for (size_t d = 0; d < D; d++) u[d] = s[d] = 0;
    for (size_t i = 0; i < N; i++) {
        w[i] /= sum;
        for (size_t d = 0; d < D; d++) {
            u[d] += w[i] * ui[i * D + d];
            s[d] += w[i] * gi[i * D + d];
        }
    }
    if (div) {
        *div = (double)D * c.db / c.b;
        for (size_t i = 0; i < N; i++)
            for (size_t d = 0; d < D; d++) *div += w[i] * ui[i * D + d] * (gi[i * D + d] - s[d]);
    }
    free(w), free(ui), free(gi);
}

static double normdiff(const double *a, const float *b, size_t n, double *nb) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) e += (a[i] - b[i]) * (a[i] - b[i]), m += a[i] * a[i];
    *nb = sqrt(m);
    return sqrt(e);
}

/* 8 points in 2-D: a ring of radius 2 with a deterministic wobble (so no symmetry helps). */
static void eight_points(float *z) {
    for (int k = 0; k < 8; k++) {
        double r = 2.0 + 0.3 * sin(3.0 * k), th = FM_PI / 4 * k + 0.1 * cos(5.0 * k);
        z[2 * k] = (float)(r * cos(th));
        z[2 * k + 1] = (float)(r * sin(th));
    }
}

/* ---------------------------------------------------------------- (a) transport onto the data */

static void rk4(float *x, size_t n, size_t D, const double *grid, long steps, const FmOracle *o) {
    size_t nd = n * D;
    float *k1 = malloc(nd * sizeof(float)), *k2 = malloc(nd * sizeof(float)), *k3 = malloc(nd * sizeof(float)),
          *k4 = malloc(nd * sizeof(float)), *xt = malloc(nd * sizeof(float));
    double *t = malloc(n * sizeof(double));
    for (long k = 0; k < steps; k++) {
        double t0 = grid[k], h = grid[k + 1] - grid[k];
        for (size_t i = 0; i < n; i++) t[i] = t0;
        fm_oracle_field(k1, NULL, x, t, n, (void *)o);
        for (size_t j = 0; j < nd; j++) xt[j] = (float)(x[j] + 0.5 * h * k1[j]);
        for (size_t i = 0; i < n; i++) t[i] = t0 + 0.5 * h;
        fm_oracle_field(k2, NULL, xt, t, n, (void *)o);
        for (size_t j = 0; j < nd; j++) xt[j] = (float)(x[j] + 0.5 * h * k2[j]);
        fm_oracle_field(k3, NULL, xt, t, n, (void *)o);
        for (size_t j = 0; j < nd; j++) xt[j] = (float)(x[j] + h * k3[j]);
        for (size_t i = 0; i < n; i++) t[i] = grid[k + 1];
        fm_oracle_field(k4, NULL, xt, t, n, (void *)o);
        for (size_t j = 0; j < nd; j++)
            x[j] = (float)(x[j] + h / 6 * ((double)k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]));
    }
    free(k1), free(k2), free(k3), free(k4), free(xt), free(t);
}

static void test_transport(void) {
    enum { NP = 8, D = 2, NS = 500 };
    const long steps = 1000;
    /* at t = 1 - 1e-4, x = a z + b eps ends (1 - a)|z| + b |eps| ~ 1e-4 (|z| + |eps|) < 1e-3 from z */
    const double tend = 1 - 1e-4, tol = 2e-3;
    float z[NP * D], x[NS * D];
    eight_points(z);
    FmOracle o = {z, NP, D, sched_of("condot"), 0};
    for (size_t i = 0; i < NS; i++) {
        FmStream st;
        fm_stream_init(&st, 7, 0, i, FM_RNG_SAMPLE);
        for (size_t d = 0; d < D; d++) x[i * D + d] = (float)fm_stream_normal(&st);
    }
    /* power:2 grid packs the steps toward t = 1, where the field stiffens like 1/(1 - t):
     * t_k = T (1 - (1 - k/n)^2) */
    double *grid = malloc((steps + 1) * sizeof *grid);
    for (long k = 0; k <= steps; k++) grid[k] = tend * (1 - pow(1 - (double)k / steps, 2));
    rk4(x, NS, D, grid, steps, &o);
    free(grid);
    int count[NP] = {0};
    double worst = 0;
    for (size_t i = 0; i < NS; i++) {
        double best = INFINITY;
        int arg = 0;
        for (int k = 0; k < NP; k++) {
            double dx = x[i * D] - z[k * D], dy = x[i * D + 1] - z[k * D + 1], r = sqrt(dx * dx + dy * dy);
            if (r < best) best = r, arg = k;
        }
        worst = fmax(worst, best);
        count[arg]++;
    }
    T_CHECK(worst < tol, "transport: a sample ends %.3g from the nearest data point (tol %.3g)", worst, tol);
    /* the flow pushes N(0, I) onto the uniform mixture of the points: counts ~ Binomial(500, 1/8),
     * mean 62.5, sd 7.4; every point must be reached, and within 5 sd of its share */
    int minc = NS, maxc = 0;
    for (int k = 0; k < NP; k++) {
        minc = count[k] < minc ? count[k] : minc;
        maxc = count[k] > maxc ? count[k] : maxc;
        T_CHECK(count[k] > 0, "transport: data point %d not reached", k);
        T_CHECK(fabs(count[k] - 62.5) < 5 * 7.4, "transport: point %d got %d of 500 samples", k, count[k]);
    }
    printf("(a) transport N(0,I) -> 8 points (condot, RK4, %ld power:2 steps to t = 1 - 1e-4): "
           "max distance to nearest point %.2e (tol %.0e), samples per point %d..%d\n",
           steps, worst, tol, minc, maxc);
}

/* ---------------------------------------------------------------- test points */

/* n test rows at time t: half near the path of random data points, half plain normals. */
static void path_points(float *x, size_t n, const FmOracle *o, double t, uint64_t seed) {
    FmCoef c = fm_schedule_eval(&o->sched, t);
    for (size_t i = 0; i < n; i++) {
        FmStream st;
        fm_stream_init(&st, seed, 0, i, FM_RNG_NOISE);
        size_t k = fm_stream_u32(&st) % o->N;
        for (size_t d = 0; d < o->D; d++) {
            double e = fm_stream_normal(&st);
            x[i * o->D + d] = (float)(i % 2 ? e : c.a * o->z[k * o->D + d] + c.b * e);
        }
    }
}

static const double TIMES[] = {0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97};
enum { NT = 7 };

/* ---------------------------------------------------------------- (b) velocity from score */

static void test_velocity_from_score(void) {
    enum { NP = 8, D = 2, NR = 16 };
    float z[NP * D], x[NR * D], u[NR * D], s[NR * D];
    eight_points(z);
    double worst = 0;
    for (int k = 0; k < NSCHED; k++) {
        FmOracle o = {z, NP, D, sched_of(SCHEDS[k]), 0};
        for (int j = 0; j < NT; j++) {
            double t = TIMES[j];
            if (o.sched.kind == FM_SCHED_VP && (t < 0.1 || t > 0.9)) continue; /* away from the endpoints */
            double tt[NR];
            for (size_t i = 0; i < NR; i++) tt[i] = t;
            path_points(x, NR, &o, t, 11 + (uint64_t)j);
            fm_oracle_field(u, s, x, tt, NR, &o);
            FmCoef c = fm_schedule_eval(&o.sched, t);
            double p, q;
            fm_pred_coef(&p, &q, FM_PRED_VELOCITY, FM_PRED_SCORE, c);
            for (size_t i = 0; i < NR; i++) {
                /* error relative to the size of the terms p s and q x: the conversion amplifies
                 * the float rounding of s by |p| ~ 1/t near t = 0 */
                double uc[D], nu, scale = 0;
                for (size_t d = 0; d < D; d++) {
                    uc[d] = p * s[i * D + d] + q * x[i * D + d];
                    scale += pow(fabs(p * s[i * D + d]) + fabs(q * x[i * D + d]), 2);
                }
                double e = normdiff(uc, u + i * D, D, &nu) / fmax(1.0, sqrt(scale));
                worst = fmax(worst, e);
                T_CHECK(e < 1e-6, "(b) %s t=%g row %zu: velocity from score off by %.3g", SCHEDS[k], t, i, e);
            }
        }
    }
    printf("(b) velocity from the exact score via fm_pred_coef = exact velocity: worst error %.2e relative to |p s| + |q x| "
           "(4 schedules, t in [0.02, 0.97], vp in [0.1, 0.9])\n", worst);
}

/* ---------------------------------------------------------------- (c) field and divergence */

static void test_against_reference(void) {
    enum { NP = 8, D = 2, NR = 8 };
    float z[NP * D], x[NR * D], u[NR * D], s[NR * D], xp[D], up[D];
    eight_points(z);
    double div[NR], e_field = 0, e_div = 0, e_fd = 0, e_ffd = 0;
    for (int k = 0; k < NSCHED; k++) {
        FmOracle o = {z, NP, D, sched_of(SCHEDS[k]), 0};
        for (int j = 0; j < NT; j++) {
            double t = TIMES[j];
            if (o.sched.kind == FM_SCHED_VP && (t < 0.1 || t > 0.9)) continue;
            double tt[NR];
            for (size_t i = 0; i < NR; i++) tt[i] = t;
            path_points(x, NR, &o, t, 101 + (uint64_t)j);
            fm_oracle_field(u, s, x, tt, NR, &o);
            fm_oracle_divergence(div, x, tt, NR, &o);
            for (size_t i = 0; i < NR; i++) {
                double xd[D], ur[D], sr[D], dr, nu, ns;
                for (size_t d = 0; d < D; d++) xd[d] = x[i * D + d];
                ref_field(ur, sr, &dr, xd, t, &o);
                double eu = normdiff(ur, u + i * D, D, &nu) / fmax(1.0, nu);
                double es = normdiff(sr, s + i * D, D, &ns) / fmax(1.0, ns);
                double ed = fabs(div[i] - dr) / fmax(1.0, fabs(dr));
                e_field = fmax(e_field, fmax(eu, es));
                e_div = fmax(e_div, ed);
                T_CHECK(eu < 1e-6 && es < 1e-6, "(c) %s t=%g: field off the reference (u %.3g, s %.3g)", SCHEDS[k],
                        t, eu, es);
                T_CHECK(ed < 1e-9, "(c) %s t=%g: divergence %.12g vs reference %.12g", SCHEDS[k], t, div[i], dr);
                /* the reference divergence against central FD of the reference field (double) */
                const double h = 1e-5;
                double fd = 0;
                for (size_t d = 0; d < D; d++) {
                    double xpm[D], upl[D], umi[D], tmp[D];
                    memcpy(xpm, xd, sizeof xpm);
                    xpm[d] = xd[d] + h;
                    ref_field(upl, tmp, NULL, xpm, t, &o);
                    xpm[d] = xd[d] - h;
                    ref_field(umi, tmp, NULL, xpm, t, &o);
                    fd += (upl[d] - umi[d]) / (2 * h);
                }
                double efd = fabs(dr - fd) / fmax(1.0, fabs(fd));
                e_fd = fmax(e_fd, efd);
                T_CHECK(efd < 1e-6, "(c) %s t=%g: divergence %.10g vs central FD %.10g", SCHEDS[k], t, dr, fd);
                /* and the float field itself, FD with a step well below the field's length
                 * scale: the posterior weights switch between points z_i, z_j over distances
                 * ~ b^2 / (a |z_i - z_j|) */
                const double bt = fm_schedule_eval(&o.sched, t).b, hf = 0.01 * bt * bt;
                double ffd = 0;
                for (size_t d = 0; d < D; d++) {
                    double f[2];
                    for (int sgn = 0; sgn < 2; sgn++) {
                        memcpy(xp, x + i * D, sizeof xp);
                        xp[d] = (float)(xd[d] + (sgn ? -hf : hf));
                        fm_oracle_field(up, NULL, xp, &t, 1, &o);
                        f[sgn] = up[d];
                    }
                    /* the float step actually taken */
                    float a = (float)(xd[d] + hf), b = (float)(xd[d] - hf);
                    ffd += (f[0] - f[1]) / ((double)a - (double)b);
                }
                double eff = fabs(div[i] - ffd) / fmax(1.0, fabs(div[i]));
                e_ffd = fmax(e_ffd, eff);
                T_CHECK(eff < 1e-2, "(c) %s t=%g: divergence %.6g vs float FD %.6g", SCHEDS[k], t, div[i], ffd);
            }
        }
    }
    printf("(c) float field vs double reference: worst rel. error %.2e; divergence vs reference formula %.2e;\n"
           "    reference divergence vs central FD (h 1e-5, double) %.2e; divergence vs float FD (h 0.01 beta_t^2) %.2e\n",
           e_field, e_div, e_fd, e_ffd);
}

/* ---------------------------------------------------------------- (d) Gaussian continuity */

static void test_gauss_continuity(void) {
    enum { D = 3, NR = 6 };
    float x[NR * D], u[NR * D], s[NR * D];
    double worst = 0;
    for (int k = 0; k < NSCHED; k++) {
        FmGaussOracle g = {0.7, 0.5, D, sched_of(SCHEDS[k])};
        for (int j = 0; j < NT; j++) {
            double t = TIMES[j], tt[NR], div[NR], lp[NR], lm[NR];
            for (size_t i = 0; i < NR; i++) tt[i] = t;
            for (size_t i = 0; i < NR * D; i++) {
                FmStream st;
                fm_stream_init(&st, 5, (uint64_t)j, i, FM_RNG_NOISE);
                x[i] = (float)(0.7 + 1.5 * fm_stream_normal(&st));
            }
            fm_gauss_field(u, s, x, tt, NR, &g);
            fm_gauss_divergence(div, x, tt, NR, &g);
            const double h = 1e-5;
            fm_gauss_logp(lp, x, t + h, NR, &g);
            fm_gauss_logp(lm, x, t - h, NR, &g);
            for (size_t i = 0; i < NR; i++) {
                double dlogp = (lp[i] - lm[i]) / (2 * h), us = 0, scale = fabs(dlogp) + fabs(div[i]);
                for (size_t d = 0; d < D; d++) us += (double)u[i * D + d] * s[i * D + d];
                scale += fabs(us);
                double r = fabs(dlogp + div[i] + us) / fmax(1.0, scale);
                worst = fmax(worst, r);
                T_CHECK(r < 1e-5, "(d) %s t=%g: continuity residual %.3g", SCHEDS[k], t, r);
            }
            /* the score is grad log p: central FD of fm_gauss_logp in x */
            double es = 0;
            for (size_t d = 0; d < D; d++) {
                float xx[D];
                memcpy(xx, x, sizeof xx);
                const float hx = 1e-2f;
                double a, b;
                xx[d] = x[d] + hx;
                double sp = (double)xx[d];
                fm_gauss_logp(&a, xx, t, 1, &g);
                xx[d] = x[d] - hx;
                double sm = (double)xx[d];
                fm_gauss_logp(&b, xx, t, 1, &g);
                /* logp is quadratic in x: central FD is exact up to rounding */
                es = fmax(es, fabs((a - b) / (sp - sm) - s[d]) / fmax(1.0, fabs(s[d])));
            }
            T_CHECK(es < 1e-5, "(d) %s t=%g: score vs FD of log p off by %.3g", SCHEDS[k], t, es);
        }
    }
    printf("(d) Gaussian oracle: worst continuity residual |d/dt log p + div u + u.s| / scale = %.2e\n", worst);
}

/* ---------------------------------------------------------------- (f) one data point */

static void test_single_point(void) {
    enum { D = 3, NR = 5 };
    float z[D] = {0.5f, -1.25f, 2.0f}, x[NR * D], u[NR * D], s[NR * D];
    double worst = 0;
    for (int k = 0; k < NSCHED; k++) {
        FmOracle o = {z, 1, D, sched_of(SCHEDS[k]), 0};
        for (int j = 0; j < NT; j++) {
            double t = TIMES[j], tt[NR], div[NR];
            if (o.sched.kind == FM_SCHED_VP && (t < 0.1 || t > 0.9)) continue;
            for (size_t i = 0; i < NR; i++) tt[i] = t;
            path_points(x, NR, &o, t, 3);
            fm_oracle_field(u, s, x, tt, NR, &o);
            fm_oracle_divergence(div, x, tt, NR, &o);
            FmCoef c = fm_schedule_eval(&o.sched, t);
            for (size_t i = 0; i < NR; i++) {
                double uc[D], sc[D], nu, ns;
                for (size_t d = 0; d < D; d++) {
                    uc[d] = (c.da - c.db / c.b * c.a) * z[d] + c.db / c.b * x[i * D + d]; /* SPEC u_t(x | z) */
                    sc[d] = -(x[i * D + d] - c.a * z[d]) / (c.b * c.b);
                }
                double e = fmax(normdiff(uc, u + i * D, D, &nu) / fmax(1.0, nu),
                                normdiff(sc, s + i * D, D, &ns) / fmax(1.0, ns));
                double ed = fabs(div[i] - D * c.db / c.b) / fmax(1.0, fabs(D * c.db / c.b));
                worst = fmax(worst, fmax(e, ed));
                T_CHECK(e < 1e-6, "(f) %s t=%g: one-point field is not u_t(x|z) (%.3g)", SCHEDS[k], t, e);
                T_CHECK(ed < 1e-12, "(f) %s t=%g: one-point divergence %.12g vs D b'/b", SCHEDS[k], t, div[i]);
            }
        }
    }
    printf("(f) one data point: field = conditional field, div = D b'/b: worst rel. error %.2e\n", worst);
}

/* ---------------------------------------------------------------- batching, extremes */

static void test_batching_and_extremes(void) {
    enum { NP = 300, D = 5, NR = 64 };
    float *z = malloc(NP * D * sizeof *z), x[NR * D], u[NR * D], s[NR * D], u1[D], s1[D];
    double tt[NR], div[NR], d1;
    FmStream st;
    fm_stream_init(&st, 9, 0, 0, FM_RNG_DATA);
    for (size_t i = 0; i < NP * D; i++) z[i] = (float)(2 * fm_stream_normal(&st));
    FmOracle o = {z, NP, D, sched_of("cosine"), 0};
    for (size_t i = 0; i < NR; i++) tt[i] = 0.01 + 0.98 * (double)i / NR;
    path_points(x, NR, &o, 0.5, 17);
    fm_oracle_field(u, s, x, tt, NR, &o); /* large enough for the parallel region */
    fm_oracle_divergence(div, x, tt, NR, &o);
    int same = 1;
    for (size_t i = 0; i < NR; i++) {
        fm_oracle_field(u1, s1, x + i * D, tt + i, 1, &o);
        fm_oracle_divergence(&d1, x + i * D, tt + i, 1, &o);
        same &= !memcmp(u1, u + i * D, sizeof u1) && !memcmp(s1, s + i * D, sizeof s1) && d1 == div[i];
    }
    T_CHECK(same, "a row's field must not depend on the batch it is evaluated in");
    /* far from every point and close to t = 1: logits ~ -1e10, still a finite field (log-space softmax) */
    float xf[D] = {100, -100, 50, 0, 30};
    double tf = 0.9999, df;
    fm_oracle_field(u1, s1, xf, &tf, 1, &o);
    fm_oracle_divergence(&df, xf, &tf, 1, &o);
    int finite = isfinite(df);
    for (size_t d = 0; d < D; d++) finite &= isfinite(u1[d]) && isfinite(s1[d]);
    T_CHECK(finite, "far-away x at t = 0.9999 must give a finite field");
    printf("batched = row by row (bit for bit): %s; far-away x at t = 0.9999 finite: %s\n", same ? "yes" : "NO",
           finite ? "yes" : "NO");
    free(z);
}

int main(void) {
    test_transport();
    test_velocity_from_score();
    test_against_reference();
    test_gauss_continuity();
    test_single_point();
    test_batching_and_extremes();
    return T_DONE();
}
