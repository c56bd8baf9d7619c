/* main.c - `fmtrain [train|sample] [options]`: MPI up, dispatch, MPI down. */
#include <stdio.h>
#include <string.h>

#include "fm/blas.h"
#include "fm/common.h"
#include "fm/dist.h"
#include "fm/signals.h"
#include "fm/commands.h"

static void usage(FILE *f) {
    fprintf(f, "fmtrain %s - data-parallel flow-matching and diffusion training\n\n"
               "usage: mpirun -np P fmtrain [train] [--option value ...]   train a model (default command)\n"
               "       mpirun -np P fmtrain sample --ckpt RUN_DIR ...      sample a trained model (ODE or SDE)\n"
               "       mpirun -np P fmtrain oracle --data moons ...        sample the exact field of a finite data set\n"
               "       mpirun -np P fmtrain nll --ckpt RUN_DIR ...         negative log-likelihood of held-out data\n"
               "       mpirun -np P fmtrain fielderr --ckpt RUN_DIR ...    error of the learned field vs the exact one, per t\n"
               "       fmtrain field --ckpt RUN_DIR ...                    the learned (and exact) 2-D field on a grid\n"
               "       fmtrain bench --width 256 ...                       sgemm and compute rates of one MLP step on this node\n"
               "       fmtrain probe --ckpt RUN_DIR ...                    prediction and gradients on a fixed batch (reference checks)\n"
               "       fmtrain COMMAND --help                              every option with its default\n"
               "       fmtrain --version\n", FM_VERSION);
}

/* FNV-1a over the arguments after the program's name, each with its terminating NUL. */
static uint64_t args_hash(int argc, char **argv) {
    uint64_t h = 14695981039346656037u;
    for (int i = 1; i < argc; i++)
        for (const char *p = argv[i];; p++) {
            h = (h ^ (unsigned char)*p) * 1099511628211u;
            if (!*p) break;
        }
    return h;
}

int main(int argc, char **argv) {
    fm_blas_fix_core(argv); /* may execute fmtrain again, with OPENBLAS_CORETYPE set */
    fm_dist_init(&argc, &argv);
    fm_signals_install(); /* after MPI_Init, so that ours are the handlers of SIGUSR1 and SIGTERM */
    int rc;
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } COMMANDS[] = {
#define COMMAND_ENTRY(name, run) {name, run},
        FM_COMMANDS(COMMAND_ENTRY)
#undef COMMAND_ENTRY
    };
    const int ncmd = (int)(sizeof COMMANDS / sizeof COMMANDS[0]);
    int c = 0;
    while (argc >= 2 && c < ncmd && strcmp(argv[1], COMMANDS[c].name)) c++;
    if (!fm_dist_same_u64(args_hash(argc, argv))) {
        /* each command's collectives assume that every rank runs it with the same options: ranks
         * started otherwise (mpirun's "A : B") would wait for each other forever */
        if (fm_dist_rank() == 0)
            fprintf(stderr, "fmtrain: error: the ranks were started with different arguments: every rank must run "
                            "the same command with the same options\n");
        rc = FM_EXIT_USAGE;
    } else if (argc >= 2 && c < ncmd) {
        rc = COMMANDS[c].run(argc - 2, argv + 2);
    } else if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
        if (fm_dist_rank() == 0) usage(stdout);
        rc = FM_EXIT_OK;
    } else if (argc >= 2 && !strcmp(argv[1], "--version")) {
        if (fm_dist_rank() == 0) printf("fmtrain %s\n", FM_VERSION);
        rc = FM_EXIT_OK;
    } else if (argc >= 2 && argv[1][0] != '-') {
        if (fm_dist_rank() == 0) {
            fprintf(stderr, "fmtrain: error: unknown command '%s' (known:", argv[1]);
            for (int k = 0; k < ncmd; k++) fprintf(stderr, "%s %s", k ? "," : "", COMMANDS[k].name);
            fprintf(stderr, ")\n");
            usage(stderr);
        }
        rc = FM_EXIT_USAGE;
    } else {
        rc = fm_train_main(argc - 1, argv + 1);
    }
    fm_dist_finalize();
    return rc;
}
