/* train.c - `fmtrain train`: the data-parallel training loop.
 *
 * One step (DESIGN.md): the global batch of B samples is a sequence of B/m micro-batches
 * of m rows; rank r owns a contiguous range of them. Sample i of step s draws its data
 * item, t and eps from streams keyed by (seed, s, i, purpose), so the global batch does
 * not depend on the number of ranks. forward + backward per micro-batch accumulate the
 * gradient of  L = 1/(B D) sum_i ||pred_i - target_i||^2  (SPEC.md); one allreduce sums
 * it; every rank clips, applies the same AdamW update and EMA.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "fm/train.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fm/blas.h"
#include "fm/common.h"
#include "fm/conv.h"
#include "fm/data.h"
#include "fm/dist.h"
#include "fm/h5io.h"
#include "fm/layers.h"
#include "fm/optim.h"
#include "fm/rng.h"
#include "fm/signals.h"
#include "gemm_small.h"
#include "vec.h"

double fm_train_t_max(const FmTrainConfig *cfg, FmPred objective, const FmSchedule *sched) {
    double eps = cfg->t_eps;
    if (eps < 0) eps = objective == FM_PRED_SCORE ? 0.05 : sched->kind == FM_SCHED_VP ? 1e-3 : 0.0;
    return 1.0 - eps;
}

/* The network the configuration names, for the data's shape. */
static int setup_net(FmNet *net, const FmSetup *su, const FmTrainConfig *cfg) {
    if (!strcmp(cfg->model, "mlp")) {
        net->kind = FM_MODEL_MLP;
        if (fm_mlp_init(&net->mlp, su->file ? su->info.D : (size_t)fm_toy_dim(su->data), (size_t)cfg->temb,
                        (size_t)cfg->width, (size_t)cfg->depth))
            return -1;
        net->mlp.temb_scale = cfg->temb_scale;
        net->D = net->mlp.D;
        return 0;
    }
    if (strcmp(cfg->model, "unet")) return fm_err_set("unknown model '%s' (known: mlp, unet)", cfg->model);
    if (!su->file || !su->info.images)
        return fm_err_set("--model unet needs an image data set (--data-file with /images N x C x H x W); %s",
                          su->file ? "this file holds float vectors (/data)" : "toy data are vectors");
    FmUnetShape sh = {.C = su->info.C, .H = su->info.H, .W = su->info.W, .ch = (size_t)cfg->channels,
                      .blocks = (size_t)cfg->blocks, .groups = (size_t)cfg->groups, .E = (size_t)cfg->temb};
    net->kind = FM_MODEL_UNET;
    if (fm_unet_parse_mult(sh.mult, &sh.levels, cfg->mult) || fm_unet_init(&net->unet, &sh)) return -1;
    net->unet.temb_scale = cfg->temb_scale;
    net->D = net->unet.D;
    return 0;
}

int fm_setup_resolve(FmSetup *su, const FmTrainConfig *cfg) {
    memset(su, 0, sizeof *su);
    if (cfg->data_file[0]) {
        FmReader *r = fm_reader_open(cfg->data_file, &su->info);
        if (!r) return -1;
        fm_reader_close(r);
        su->file = 1;
        if (!su->info.images && (cfg->dequantize || cfg->hflip))
            return fm_err_set("--dequantize and --hflip apply to images; '%s' holds float data", cfg->data_file);
    } else if (fm_toy_parse(&su->data, cfg->data)) {
        return -1;
    } else if (cfg->dequantize || cfg->hflip) {
        return fm_err_set("--dequantize and --hflip apply to image data sets (--data-file), not to toy data");
    }
    if (fm_pred_parse(&su->objective, cfg->objective)) return -1;
    if (su->objective == FM_PRED_DATA)
        return fm_err_set("unknown objective '%s' (known: velocity, score, noise)", cfg->objective);
    if (fm_schedule_parse(&su->sched, cfg->path)) return -1;
    if (strcmp(cfg->lr_schedule, "constant") && strcmp(cfg->lr_schedule, "cosine"))
        return fm_err_set("unknown --lr-schedule '%s' (known: constant, cosine)", cfg->lr_schedule);
    if (strcmp(cfg->t_dist, "uniform") && strcmp(cfg->t_dist, "logit-normal"))
        return fm_err_set("unknown --t-dist '%s' (known: uniform, logit-normal)", cfg->t_dist);
    if (cfg->objective[0] == 'v' && su->sched.kind == FM_SCHED_VP && cfg->t_eps == 0)
        return fm_err_set("--t-eps 0 with the vp path: its beta_dot is infinite at t = 1 (use t-eps > 0)");
    if (su->objective == FM_PRED_SCORE && cfg->t_eps == 0)
        return fm_err_set("--t-eps 0 with the score objective: its target -eps/beta is infinite at t = 1");
    su->t_max = fm_train_t_max(cfg, su->objective, &su->sched);
    return setup_net(&su->net, su, cfg);
}

/* mkdir -p */
static int make_dirs(const char *path) {
    char buf[1024];
    if (!path[0]) return fm_err_set("--out is empty: name an output directory");
    if (fm_strlcpy(buf, path, sizeof buf)) return -1;
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) && errno != EEXIST)
                return fm_err_set("cannot create output directory '%s': %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode)) return fm_err_set("output path '%s' is not a directory", path);
    if (access(path, W_OK)) return fm_err_set("output directory '%s' is not writable", path);
    return 0;
}

/* One training at a time in a run directory: rank 0 holds an exclusive flock on DIR/.lock until
 * the process ends, whatever way it ends. The file is open read-only, so that it keeps nothing
 * open for writing between checkpoints (a file system can still be remounted read-only). Where
 * the file system has no locks, runs go unguarded. 0, or -1 (fm_err_set). */
static int lock_run(const char *dir) {
    char path[1100];
    snprintf(path, sizeof path, "%s/.lock", dir);
    const int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return fm_err_set("cannot create '%s': %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0; /* kept open: closing it would release the lock */
    const int e = errno;
    close(fd);
    if (e == EWOULDBLOCK)
        return fm_err_set("'%s' is in use by another training (it holds %s): wait for it to end, or choose another "
                          "--out", dir, path);
    return 0; /* ENOLCK, EOPNOTSUPP, ...: no locks here */
}

/* Everything the loop touches, allocated once before it. */
typedef struct {
    const FmTrainConfig *cfg;
    char found[4096]; /* rank 0: the newest checkpoint in --out at the start, "" if none */
    FmSetup su;
    size_t P, D, B, m, nmicro, first_micro; /* ranks, dim, batch, micro-batch, my micro-batches */
    float *params, *grads, *adam_m, *adam_v, *ema; /* the first four (state) one array, shared by a node's ranks */
    float *state;
    int shard;      /* state is shared: each rank updates its part [k0, k1) of the parameters */
    int swap;       /* grads is a swapping sum buffer (fm_dist_swap_buffer): private state */
    size_t k0, k1;
    float *z, *eps, *t, *x, *target; /* (m, D) and (m) */
    double *u;                       /* the noise's uniforms: (m, 2 ceil(D / 2)) */
    FmNetActs acts;
    FmData data;
    double data_seconds; /* time spent drawing data items */
    double comm_seconds; /* time spent in the gradient allreduce */
    double work_mark;    /* when this rank's previous allreduce returned (or the loop began) */
    double lag_seconds;  /* sum over steps of the slowest rank's work minus the ranks' mean */
    double work_seconds; /* sum over steps of the ranks' mean work between allreduces */
    int signalled;       /* some rank had caught a signal when the step's allreduce ran */
    long drawn;          /* the step whose first micro-batch is drawn already (0: none) */
    double early_draw;   /* the seconds that draw took, during the previous step's allreduce */
    char config_text[8192];
    FmFileMeta meta;
    long inject[64]; /* testing hook: steps whose gradient this rank poisons with NaN */
    int ninject;
} Trainer;

/* Fault injection for the tests: FMTRAIN_INJECT_NONFINITE="R:S1,S2,..." makes rank R put a NaN
 * into its share of the gradient at steps S1, S2, ... (before the allreduce). */
static void parse_injection(Trainer *tr) {
    const char *v = getenv("FMTRAIN_INJECT_NONFINITE");
    char *end;
    if (!v || strtol(v, &end, 10) != fm_dist_rank() || *end != ':') return;
    while (tr->ninject < 64 && *end && *++end) tr->inject[tr->ninject++] = strtol(end, &end, 10);
}

/* Draws micro-batch `mb` of step `step`: rows i = global sample indices mb*m .. mb*m+m-1. */
static void draw_micro_batch(Trainer *tr, long step, size_t mb) {
    const size_t D = tr->D, m = tr->m;
    const int logit = tr->cfg->t_dist[0] == 'l';
    double t0 = fm_now();
    fm_data_draw(&tr->data, tr->z, step, (uint64_t)(mb * m), m, tr->B);
    tr->data_seconds += fm_now() - t0;
    /* rows are independent streams: any split over threads draws the same values. The noise is
     * drawn as fm_stream_normal would (its uniforms in the same order), then turned into normals
     * by one vectorised Box-Muller pass over the whole batch (fm_box_muller_f) */
    const size_t np = (D + 1) / 2, big = m * D >= 8192; /* Box-Muller pairs per row */
    const uint64_t seed = (uint64_t)tr->cfg->seed, g0 = (uint64_t)(mb * m);
    if (!logit) { /* many rows' streams at once (vectorised Philox); the times' uniforms after the noise's */
        double *tu = tr->u + m * 2 * np;
        fm_stream_uniforms(tu, 1, seed, (uint64_t)step, g0, m, FM_RNG_TIME);
        for (size_t r = 0; r < m; r++) tr->t[r] = (float)(tu[r] * tr->su.t_max);
        enum { ROWS = 16 }; /* rows per call: the threads take these */
        FM_PARALLEL_FOR_IF(big, for (size_t r0 = 0; r0 < m; r0 += ROWS), {
            fm_stream_uniforms(tr->u + r0 * 2 * np, 2 * np, seed, (uint64_t)step, g0 + r0, m - r0 < ROWS ? m - r0 : ROWS,
                               FM_RNG_NOISE);
        });
    } else {
        FM_PARALLEL_FOR_IF(big, for (size_t r = 0; r < m; r++), {
            FmStream s;
            fm_stream_init(&s, seed, (uint64_t)step, g0 + r, FM_RNG_TIME);
            tr->t[r] = (float)(1.0 / (1.0 + exp(-fm_stream_normal(&s))) * tr->su.t_max); /* logit-normal */
            fm_stream_init(&s, seed, (uint64_t)step, g0 + r, FM_RNG_NOISE);
            for (size_t k = 0; k < 2 * np; k++) tr->u[r * 2 * np + k] = fm_stream_uniform(&s);
        });
    }
    if (D % 2 == 0 && !big) {
        fm_box_muller_f(tr->eps, tr->u, m * np); /* rows of D = 2 np values, back to back */
    } else {
        FM_PARALLEL_FOR_IF(big, for (size_t r = 0; r < m; r++), {
            const double *u = tr->u + r * 2 * np;
            fm_box_muller_f(tr->eps + r * D, u, D / 2);
            if (D % 2) /* the last pair's cosine; its sine is not used */
                tr->eps[r * D + D - 1] = (float)(sqrt(-2.0 * log(u[2 * np - 2])) * cos(2.0 * FM_PI * u[2 * np - 1]));
        });
    }
    FM_PARALLEL_FOR_IF(big, for (size_t r = 0; r < m; r++), {
        FmCoef c = fm_schedule_eval(&tr->su.sched, tr->t[r]);
        fm_path_sample(tr->x + r * D, tr->z + r * D, tr->eps + r * D, c, D);
        fm_path_target(tr->target + r * D, tr->su.objective, tr->z + r * D, tr->eps + r * D, c, D);
    });
}

/* Loss and gradient of the global batch (summed over ranks). Returns the loss. The loss and
 * each rank's "caught a signal" flag ride in the gradient's allreduce, as the two values after
 * the gradient (then, on P > 1, the ranks' work times: one message per step, not three, since
 * the smallest models' steps are latency-bound). */
static double loss_and_grad(Trainer *tr, long step, long next) {
    const size_t P = fm_net_table(&tr->su.net)->total;
    memset(tr->grads, 0, P * sizeof(float));
    const double scale = 1.0 / ((double)tr->B * (double)tr->D);
    double loss = 0;
    for (size_t k = 0; k < tr->nmicro; k++) {
        if (k > 0 || tr->drawn != step) draw_micro_batch(tr, step, tr->first_micro + k);
        fm_net_forward(&tr->su.net, tr->params, &tr->acts, tr->x, tr->t, tr->m);
        loss += scale * fm_sqerr_f(tr->acts.dout, tr->acts.out, tr->target, tr->m * tr->D, scale);
        fm_net_backward(&tr->su.net, tr->params, tr->grads, &tr->acts, tr->m);
    }
    for (int i = 0; i < tr->ninject; i++)
        if (tr->inject[i] == step) tr->grads[0] = NAN;
    tr->grads[P] = (float)loss;
    tr->grads[P + 1] = fm_signal_caught() ? 1.0f : 0.0f;
    /* one slot per rank for its work since its previous allreduce: after the sum every rank
     * knows every rank's, so the time lost waiting for the slowest (load imbalance) is measured
     * apart from the collective's own cost, at 4 bytes per rank in the message */
    float *work = tr->grads + P + 2;
    double t0 = fm_now(), early = 0;
    if (tr->P > 1) { /* the work includes a draw done early, during the previous step's sum */
        memset(work, 0, tr->P * sizeof(float));
        work[fm_dist_rank()] = (float)(t0 - tr->work_mark + tr->early_draw);
    }
    if (tr->swap) {
        /* one barrier per sum: a rank that arrives first draws the next step's first micro-batch
         * (it depends on neither the gradient nor the parameters) while it waits, so that the
         * ranks' lockstep has that much slack for the jitter of their steps */
        fm_dist_sum_arrive(tr->grads);
        if (next) {
            draw_micro_batch(tr, next, tr->first_micro);
            tr->drawn = next;
            early = fm_now() - t0;
        }
        tr->grads = fm_dist_sum_swap(tr->grads, P + 2 + tr->P); /* the sum, in this rank's other slot */
        work = tr->grads + P + 2;
    } else if (tr->shard) { /* complete only on this rank's part of the gradient, and on the values after it */
        fm_dist_sum_floats_part(tr->grads, P + 2 + tr->P, P);
    } else {
        fm_dist_sum_floats(tr->grads, P + 2 + (tr->P > 1 ? tr->P : 0));
    }
    tr->early_draw = early;
    tr->work_mark = fm_now();
    tr->comm_seconds += tr->work_mark - t0 - early;
    if (tr->P > 1) {
        double sum = 0, max = 0;
        for (size_t r = 0; r < tr->P; r++) sum += work[r], max = work[r] > max ? work[r] : max;
        tr->work_seconds += sum / (double)tr->P;
        tr->lag_seconds += max - sum / (double)tr->P;
    }
    tr->signalled = tr->grads[P + 1] > 0;
    return tr->grads[P];
}

static double train_bytes(const Trainer *tr);

static int check_config(Trainer *tr, int P) {
    const FmTrainConfig *c = tr->cfg;
    if (fm_setup_resolve(&tr->su, c)) return -1;
    size_t B = (size_t)c->batch, m = c->micro_batch ? (size_t)c->micro_batch : B / (size_t)P;
    if (m == 0 || B % m || (B / m) % (size_t)P)
        return fm_err_set("batch %zu cannot be split over %d ranks in micro-batches of %zu: need batch = "
                          "ranks x k x micro-batch for an integer k (e.g. --batch %zu)",
                          B, P, m ? m : B, m ? m * (size_t)P * ((B + m * P - 1) / (m * P)) : (size_t)P);
    tr->P = (size_t)P;
    tr->B = B;
    tr->m = m;
    tr->D = tr->su.net.D;
    tr->nmicro = B / m / (size_t)P;
    tr->first_micro = (size_t)fm_dist_rank() * tr->nmicro;
    /* the model and its micro-batch must fit in the node's memory: said here, not by a failed
     * allocation on every rank */
    const double need = train_bytes(tr), have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (have > 0 && need > have)
        return fm_err_set("the model and its micro-batch of %zu need %.1f GB per rank, more than this node's %.1f GB of "
                          "memory: lower --micro-batch (or --batch) or the model's size", m, need / 1e9, have / 1e9);
    return 0;
}

static void trainer_alloc(Trainer *tr) {
    size_t P = fm_net_table(&tr->su.net)->total, m = tr->m, D = tr->D;
    /* parameters, Adam moments and EMA: one copy per node where the node's ranks share memory */
    const size_t Pa = (P + 15) / 16 * 16;
    /* a small model: private state, and a sum that adds the whole gradient on every rank behind
     * one barrier; else one state per node, each rank updating its part */
    tr->grads = fm_dist_swap_buffer(P + 2 + tr->P); /* + the loss, the signal flag, each rank's work */
    tr->swap = tr->grads != NULL;
    tr->state = tr->swap ? fm_malloc_floats(4 * Pa) : fm_dist_node_array(4 * Pa);
    tr->params = tr->state, tr->adam_m = tr->state + Pa, tr->adam_v = tr->state + 2 * Pa, tr->ema = tr->state + 3 * Pa;
    tr->shard = fm_dist_node_ranks(tr->state) > 1;
    tr->k0 = 0, tr->k1 = P;
    if (tr->shard) fm_dist_my_part(P, &tr->k0, &tr->k1);
    if (!tr->swap) tr->grads = fm_dist_sum_buffer(P + 2 + tr->P); /* (loss_and_grad) */
    tr->z = fm_malloc_floats(m * D);
    tr->eps = fm_malloc_floats(m * D);
    tr->u = fm_malloc_aligned(m * (2 * ((D + 1) / 2) + 1), sizeof(double)); /* noise uniforms, then times' */
    tr->x = fm_malloc_floats(m * D);
    tr->target = fm_malloc_floats(m * D);
    tr->t = fm_malloc_floats(m);
    fm_net_acts_init(&tr->acts, &tr->su.net, m);
    FM_CHECK(fm_data_open(&tr->data, tr->cfg, &tr->su, m) == 0, "%s", fm_err_msg());
}

/* The memory training needs: parameters, gradients, Adam moments and EMA (5 buffers), the
 * activations and the batch buffers of one micro-batch (what trainer_alloc allocates). */
static double train_bytes(const Trainer *tr) {
    const double m = (double)tr->m, D = (double)tr->D;
    return 4.0 * (5.0 * (double)fm_net_table(&tr->su.net)->total + m * (4 * D + 1)) +
           fm_net_act_bytes(&tr->su.net, tr->m) + (double)fm_data_cache_bytes(&tr->data);
}

static void trainer_free(Trainer *tr) {
    fm_dist_node_array_free(tr->state), fm_dist_sum_buffer_free(tr->grads);
    free(tr->z), free(tr->eps), free(tr->u), free(tr->x), free(tr->target), free(tr->t);
    fm_net_acts_free(&tr->acts);
    fm_data_close(&tr->data);
}

/* Rank 0 loads the checkpoint to resume from; all ranks get it by broadcast.
 * Returns the step it holds, or -1 after a collective error. */
static long resume_from(Trainer *tr) {
    long step = 0;
    char path[4096] = "";
    int rc = 0;
    if (fm_dist_rank() == 0) {
        /* the one found at the start (finding it again would repeat its warnings) */
        rc = tr->found[0] ? fm_strlcpy(path, tr->found, sizeof path) : 1;
        if (rc == 1) rc = fm_err_set("--resume: no checkpoint in '%s'", tr->cfg->out);
        size_t count = 0;
        char *stored = NULL;
        if (!rc) rc = fm_ckpt_read_meta(path, &step, &count, &stored);
        if (!rc) {
            /* the model's identity must match: compare the model options as text */
            FmTrainConfig old;
            char a[4096], b[4096];
            fm_opts_defaults(&fm_train_opts, &old);
            rc = fm_opts_load_string(&fm_train_opts, &old, stored);
            fm_opts_format(&fm_train_opts, &old, a, sizeof a, 1);
            fm_opts_format(&fm_train_opts, tr->cfg, b, sizeof b, 1);
            if (!rc && strcmp(a, b)) {
                char *p = a, *q = b; /* name the first differing line */
                while (*p && *p == *q) p++, q++;
                while (p > a && p[-1] != '\n') p--, q--;
                *strchr(p, '\n') = '\0';
                *strchr(q, '\n') = '\0';
                rc = fm_err_set("cannot resume from '%s': its model differs (checkpoint: %s; now: %s)", path, p, q);
            }
            if (!rc) { /* a resumed run may change the rest (--steps, the schedule, ...): say what changed */
                char diff[1024];
                old.resume = tr->cfg->resume, old.auto_resume = tr->cfg->auto_resume;
                if (fm_opts_diff(&fm_train_opts, &old, tr->cfg, diff, sizeof diff))
                    printf("resuming with options changed since the checkpoint: %s\n", diff);
            }
            if (!rc && count != fm_net_table(&tr->su.net)->total)
                rc = fm_err_set("cannot resume from '%s': %zu parameters stored, the model has %zu", path, count,
                                fm_net_table(&tr->su.net)->total);
            if (!rc && step > tr->cfg->steps)
                rc = fm_err_set("checkpoint '%s' is at step %ld, beyond --steps %ld", path, step, tr->cfg->steps);
        }
        free(stored);
        if (!rc) rc = fm_ckpt_read(path, fm_net_table(&tr->su.net), tr->params, tr->adam_m, tr->adam_v, tr->ema);
    }
    if (fm_dist_agree(rc)) return -1;
    fm_dist_bcast(&step, sizeof step);
    fm_dist_bcast_node(tr->state, (size_t)(tr->ema - tr->state) + fm_net_table(&tr->su.net)->total);
    if (fm_dist_rank() == 0) printf("resumed from %s at step %ld\n", path, step);
    return step;
}

static void format_duration(char *buf, size_t n, double s) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

int fm_train_main(int argc, char **argv) {
    const int rank = fm_dist_rank(), P = fm_dist_size();
    FmTrainConfig cfg;
    Trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.cfg = &cfg;
    int help = 0, rc = fm_opts_parse(&fm_train_opts, &cfg, argc, argv, &help);
    if (help) {
        if (rank == 0) fm_opts_help(&fm_train_opts, stdout);
        return FM_EXIT_OK;
    }
    /* a data set file replaces the toy set: say so in the printed and stored configuration, and
     * store its absolute path, so that sample, nll and the others find it from any directory */
    if (!rc && cfg.data_file[0] && strcmp(cfg.data, "moons") && strcmp(cfg.data, "file"))
        rc = fm_err_set("--data %s and --data-file %s: give one of them", cfg.data, cfg.data_file);
    if (!rc && cfg.data_file[0]) {
        snprintf(cfg.data, sizeof cfg.data, "file");
        char abs[PATH_MAX];
        if (cfg.data_file[0] != '/' && realpath(cfg.data_file, abs) && strlen(abs) < sizeof cfg.data_file)
            snprintf(cfg.data_file, sizeof cfg.data_file, "%s", abs);
    }
    if (!rc) rc = check_config(&tr, P);
    if (fm_dist_agree(rc)) return FM_EXIT_USAGE;

    /* the output directory: created, writable, and never silently overwritten */
    rc = 0;
    if (rank == 0) {
        struct stat st;
        if (cfg.resume && !cfg.auto_resume && stat(cfg.out, &st))
            rc = fm_err_set("--resume: '%s' does not exist", cfg.out);
        if (!rc) rc = make_dirs(cfg.out);
        if (!rc) rc = lock_run(cfg.out);
        char *found = tr.found;
        int have = rc ? 0 : fm_ckpt_find(cfg.out, found, sizeof tr.found);
        if (have != 0) found[0] = '\0';
        if (!rc && have == 0 && cfg.auto_resume) cfg.resume = 1;
        if (!rc && have == 0 && !cfg.resume)
            rc = fm_err_set("'%s' already holds checkpoints (newest: %s): pass --resume to continue, or choose "
                            "another --out", cfg.out, found);
        if (have < 0) rc = -1;
        /* a log without any checkpoint belongs to a run that cannot be resumed: keep it aside */
        char log[1100], aside[1200];
        snprintf(log, sizeof log, "%s/log.h5", cfg.out);
        snprintf(aside, sizeof aside, "%s/log.h5.stale", cfg.out);
        if (!rc && !cfg.resume && access(log, F_OK) == 0) {
            if (rename(log, aside)) rc = fm_err_set("cannot move the stale '%s' aside: %s", log, strerror(errno));
            else fprintf(stderr, "fmtrain: warning: '%s' had no checkpoint; moved it to '%s'\n", log, aside);
        }
    }
    if (fm_dist_agree(rc)) return FM_EXIT_USAGE;
    fm_dist_bcast(&cfg.resume, sizeof cfg.resume); /* --auto-resume: rank 0 found a checkpoint */

    fm_opts_format(&fm_train_opts, &cfg, tr.config_text, sizeof tr.config_text, 0);
    tr.meta = (FmFileMeta){tr.config_text, P, cfg.objective, cfg.path, cfg.data_file[0] ? cfg.data_file : cfg.data,
                           cfg.model};
    const double rss0 = fm_rss_bytes(); /* before the model's memory: MPI, HDF5, BLAS, the binary */
    trainer_alloc(&tr);
    parse_injection(&tr);
    const size_t NP = fm_net_table(&tr.su.net)->total;
    if (!tr.shard || fm_dist_node_leader()) { /* a shared state is written once per node */
        fm_net_init_params(&tr.su.net, tr.params, (uint64_t)cfg.seed);
        memcpy(tr.ema, tr.params, NP * sizeof(float));
    }
    fm_dist_node_sync();
    long start = 0;
    if (cfg.resume && (start = resume_from(&tr)) < 0) {
        trainer_free(&tr);
        return FM_EXIT_USAGE;
    }

    if (rank == 0) {
        char blas[160];
        fm_blas_describe(blas, sizeof blas);
        printf("fmtrain %s (build: gcc %s %s; %s)\n", FM_VERSION, __VERSION__, FM_BUILD_FLAGS, blas);
        char arch[256];
        fm_net_describe(&tr.su.net, arch, sizeof arch);
        printf("model %s; %zu parameters, %.3g GFLOP per sample (forward + backward), %.1f MB of activations per "
               "micro-batch\n", arch, NP, fm_net_flops(&tr.su.net, 1) / 1e9, fm_net_act_bytes(&tr.su.net, tr.m) / 1e6);
        if (fm_gemm_small_available())
            printf("linear layers: GEMMs on AVX-512 register tiles, blocked above %zu M multiply-adds; im2col "
                   "convolutions: those under it (inner dimension <= 512) (FMTRAIN_SMALL_GEMM=0: OpenBLAS)\n",
                   FM_GEMM_TILES_MACS >> 20);
        if (tr.su.net.kind == FM_MODEL_UNET) {
            const int lv = fm_conv_direct_available();
            if (lv && fm_conv_winograd_available())
                printf("convolutions: 3x3 stride 1 forward on Winograd F(4x4,3x3) tiles, backward on the direct %s kernels "
                       "(FMTRAIN_CONV_WINOGRAD=0: direct forward too; FMTRAIN_CONV_DIRECT=0: im2col + GEMM)\n",
                       fm_conv_direct_name(lv));
            else if (lv)
                printf("convolutions: 3x3 stride 1 on the direct %s kernels (FMTRAIN_CONV_DIRECT=0: im2col + GEMM)\n",
                       fm_conv_direct_name(lv));
            else
                printf("convolutions: im2col + GEMM (%s)\n", fm_conv_direct_cpu() ? "FMTRAIN_CONV_DIRECT=0"
                                                                              : "no AVX2 + FMA on this CPU");
        }
        printf("ranks %d, threads/rank %d, micro-batch %zu x %zu per rank per step\n", P, omp_get_max_threads(), tr.m,
               tr.nmicro);
        const int per_node = fm_dist_node_ranks(tr.grads), sharing = fm_dist_node_ranks(tr.state);
        if (per_node > 1 || sharing > 1)
            printf("%d ranks per node: %s%s%s\n", per_node > 1 ? per_node : sharing,
                   per_node > 1 ? "the gradient summed through shared memory" : "",
                   per_node > 1 && sharing > 1 ? "; " : "",
                   sharing > 1 ? "parameters, Adam moments and EMA one copy per node, each rank updating its part"
                   : tr.swap ? ", every rank adding all of it behind one barrier (a small model: parameters, Adam "
                               "moments and EMA private to each rank)" : "");
        printf("t in [0, %g]\n--- configuration ---\n%s---\n", tr.su.t_max, tr.config_text);
        fflush(stdout);
    }

    char log_path[1100];
    snprintf(log_path, sizeof log_path, "%s/log.h5", cfg.out);
    FmLogRow *rows = fm_calloc((size_t)(cfg.ckpt_every / cfg.log_every + 2), sizeof *rows);
    size_t nrows = 0;
    long drop_after = cfg.resume ? start : -1;
    const FmAdamW adam = {cfg.beta1, cfg.beta2, cfg.adam_eps, cfg.weight_decay};
    const FmLrSchedule sched = strcmp(cfg.lr_schedule, "cosine") ? FM_LR_CONSTANT : FM_LR_COSINE;
    const double t0 = fm_now();
    double t_last = t0;
    tr.work_mark = t0;
    long steps_since = 0, ok_since = 0, skipped = 0, skip_run = 0;
    double loss_acc = 0, gnorm_acc = 0; /* a log row holds the means since the previous row (skipped steps aside) */
    int status = FM_EXIT_OK;

    for (long step = start + 1; step <= cfg.steps; step++) {
        double loss = loss_and_grad(&tr, step, step < cfg.steps ? step + 1 : 0); /* the loss and gradient already carry 1/(B D) */
        /* sharded: each rank's part's sum of squares, added over the node's ranks in their order
         * (every node holds the same sums of the same parts, so reaches the same norm) */
        double gnorm = tr.shard ? sqrt(fm_dist_node_sum_double(fm_sumsq(tr.grads + tr.k0, tr.k1 - tr.k0)))
                                : fm_norm(tr.grads, NP);
        const double lr = fm_lr_at(step, cfg.lr, cfg.warmup, cfg.steps, sched, cfg.min_lr);
        /* after the allreduce every rank holds the same loss and gradient, so all ranks take the
         * same decision here without further communication (one NaN on one rank reaches all) */
        if (!isfinite(loss) || !isfinite(gnorm)) {
            char what[96];
            snprintf(what, sizeof what, isfinite(loss) ? "gradient norm %g" : "loss %g", isfinite(loss) ? gnorm : loss);
            skipped++;
            if (++skip_run > cfg.skip_nonfinite) {
                if (rank == 0)
                    fprintf(stderr, "fmtrain: error: non-finite %s at step %ld, %ld steps in a row (limit "
                            "--skip-nonfinite %ld); stopping without a checkpoint: resume from the last one with a "
                            "lower --lr or --clip\n", what, step, skip_run, cfg.skip_nonfinite);
                status = FM_EXIT_FATAL;
                break;
            }
            if (rank == 0)
                fprintf(stderr, "fmtrain: warning: non-finite %s at step %ld: step skipped (%ld in a row, limit %ld)\n",
                        what, step, skip_run, cfg.skip_nonfinite);
        } else {
            skip_run = 0;
            const double gscale = cfg.clip > 0 && gnorm > cfg.clip ? cfg.clip / gnorm : 1.0;
            fm_adamw_ema_range(tr.params, tr.adam_m, tr.adam_v, tr.ema, tr.grads, gscale, fm_net_table(&tr.su.net), &adam,
                               lr, step, cfg.ema, tr.k0, tr.k1);
            ok_since++;
            loss_acc += loss;
            gnorm_acc += gnorm;
        }
        steps_since++;
        /* a shared state: every part updated before anyone reads it (the checksum, a checkpoint,
         * the next forward pass) or writes its gradient slot again */
        if (tr.shard) fm_dist_node_sync();

        if (step % cfg.check_every == 0 || step == cfg.steps) {
            uint64_t h = fm_hash_bytes(tr.params, NP * sizeof(float));
            FM_CHECK(fm_dist_same_u64(h), "parameters differ across ranks at step %ld (checksum %016llx)", step,
                     (unsigned long long)h);
        }
        if (rank == 0 && (step % cfg.log_every == 0 || step == cfg.steps)) {
            double now = fm_now(), rate = (double)steps_since * (double)tr.B / (now - t_last);
            char eta[32];
            format_duration(eta, sizeof eta, (double)(cfg.steps - step) * (now - t_last) / (double)steps_since);
            loss_acc = ok_since ? loss_acc / (double)ok_since : NAN; /* NaN: every step since was skipped */
            gnorm_acc = ok_since ? gnorm_acc / (double)ok_since : NAN;
            rows[nrows++] = (FmLogRow){step, loss_acc, lr, gnorm_acc, rate, now - t0};
            printf("step %*ld/%ld | loss %.5f | lr %.2e | grad %.3f | %.0f samples/s | ETA %s\n",
                   (int)snprintf(NULL, 0, "%ld", cfg.steps), step, cfg.steps, loss_acc, lr, gnorm_acc, rate, eta);
            loss_acc = gnorm_acc = 0;
            fflush(stdout);
            t_last = now;
            steps_since = ok_since = 0;
        }
        /* preemption: the ranks agreed in this step's allreduce whether any had caught a signal */
        const int sig = tr.signalled;
        if (step % cfg.ckpt_every == 0 || step == cfg.steps || sig) {
            rc = 0;
            if (rank == 0) {
                char path[4096];
                /* the log first: a crash between the two leaves log rows beyond the newest checkpoint,
                 * which the resumed run drops (drop_after), rather than a gap in the log */
                rc = fm_log_append(log_path, rows, nrows, drop_after, &tr.meta);
                if (!rc) rc = fm_ckpt_write(cfg.out, step, &tr.meta, fm_net_table(&tr.su.net), tr.params, tr.adam_m,
                                            tr.adam_v, tr.ema, path, sizeof path);
                if (!rc) rc = fm_ckpt_prune(cfg.out, cfg.keep_last); /* after the new one is complete */
                if (!rc) printf("checkpoint %s\n", path), fflush(stdout);
                nrows = 0;
                drop_after = -1;
            }
            if (fm_dist_agree(rc)) {
                status = FM_EXIT_FATAL;
                break;
            }
        }
        if (sig) {
            if (rank == 0) {
                char what[48] = "caught signal on another rank";
                if (fm_signal_caught()) snprintf(what, sizeof what, "caught signal %d", fm_signal_caught());
                fprintf(stderr, "fmtrain: %s: stopped after step %ld with its checkpoint written; exit code %d "
                        "(continue with --resume or --auto-resume)\n", what, step, FM_EXIT_PREEMPTED);
            }
            status = FM_EXIT_PREEMPTED;
            break;
        }
    }
    /* items and bytes read from the file, seconds spent drawing, cache lookups and hits, seconds
     * in the gradient allreduce (each summed over the ranks) */
    double io[6] = {0, 0, tr.data_seconds + tr.data.seconds, tr.data.lookups, tr.data.hits, tr.comm_seconds};
    if (tr.data.reader) fm_reader_stats(tr.data.reader, &io[0], &io[1]);
    fm_dist_sum_doubles(io, 6);
    const double comm = io[5] / P; /* the ranks' mean: their mean waiting is the imbalance below */
    double cache_max = fm_dist_max_double((double)fm_data_cache_bytes(&tr.data));
    if (rank == 0 && status == FM_EXIT_OK) {
        const double wall = fm_now() - t0, wall_d = wall > 0 ? wall : 1;
        const double nsteps = cfg.steps - start > 0 ? (double)(cfg.steps - start) : 1;
        printf("done: %ld steps in %.1f s (%.0f samples/s)\n", cfg.steps - start, wall,
               (double)(cfg.steps - start) * (double)tr.B / wall_d);
        if (skipped) printf("skipped %ld steps with a non-finite loss or gradient\n", skipped);
        const int per_node = fm_dist_node_ranks(tr.grads);
        char how[128] = "";
        if (P > 1 && per_node > 1)
            snprintf(how, sizeof how, ", mean over the ranks; %d ranks per node sum through shared memory", per_node);
        else if (P > 1)
            snprintf(how, sizeof how, ", mean over the ranks; MPI_Allreduce");
        printf("allreduce: %.1f%% of the wall time (%.3f ms per step%s)\n", 100.0 * comm / wall_d, 1e3 * comm / nsteps,
               how);
        if (P > 1) /* the rest of the allreduce's share is the collective itself */
            printf("load imbalance: %.1f%% of the wall time waiting for the slowest rank (work between "
                   "allreduces %.3f ms per step on average over the ranks, the slowest rank's %.3f ms)\n",
                   100.0 * tr.lag_seconds / wall_d, 1e3 * tr.work_seconds / nsteps,
                   1e3 * (tr.work_seconds + tr.lag_seconds) / nsteps);
        printf("memory (rank 0): peak %.1f MB resident, %.1f MB over the %.1f MB before the model; the model needs "
               "%.1f MB\n", fm_peak_rss_bytes() / 1e6, (fm_peak_rss_bytes() - rss0) / 1e6, rss0 / 1e6,
               train_bytes(&tr) / 1e6);
        if (tr.data.reader) {
            printf("data: %.0f items (%.1f MB) read by %d ranks in %.2f s of reading: %.0f items/s per rank\n", io[0],
                   io[1] / 1e6, P, io[2], io[2] > 0 ? io[0] / io[2] : 0.0);
            if (cfg.data_cache_mb)
                printf("data cache: at most %.1f MiB per rank (budget %ld MiB%s), hit rate %.1f%%\n", cache_max / 1048576.0,
                       cfg.data_cache_mb, tr.data.slots == tr.su.info.N ? ": the whole set, read at the start" : "",
                       io[3] > 0 ? 100.0 * io[4] / io[3] : 0.0);
        }
    }
    free(rows);
    trainer_free(&tr);
    return status;
}
