/* main.c - `fmtrain [train|sample] [options]`: MPI up, dispatch, MPI down. */
#include <stdio.h>
#include <string.h>

#include "fm/common.h"
#include "fm/dist.h"
#include "fm/train.h"

int fm_sample_main(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f, "fmtrain %s - data-parallel flow-matching and diffusion training\n\n"
               "usage: mpirun -np P fmtrain [train] [--option value ...]   train a model (default command)\n"
               "       mpirun -np P fmtrain sample --ckpt RUN_DIR ...      sample a trained model\n"
               "       fmtrain COMMAND --help                              every option with its default\n"
               "       fmtrain --version\n", FM_VERSION);
}

int main(int argc, char **argv) {
    fm_dist_init(&argc, &argv);
    int rc;
    if (argc >= 2 && !strcmp(argv[1], "sample")) {
        rc = fm_sample_main(argc - 2, argv + 2);
    } else if (argc >= 2 && !strcmp(argv[1], "train")) {
        rc = fm_train_main(argc - 2, argv + 2);
    } else if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
        if (fm_dist_rank() == 0) usage(stdout);
        rc = FM_EXIT_OK;
    } else if (argc >= 2 && !strcmp(argv[1], "--version")) {
        if (fm_dist_rank() == 0) printf("fmtrain %s\n", FM_VERSION);
        rc = FM_EXIT_OK;
    } else if (argc >= 2 && argv[1][0] != '-') {
        if (fm_dist_rank() == 0) {
            fprintf(stderr, "fmtrain: error: unknown command '%s' (known: train, sample)\n", argv[1]);
            usage(stderr);
        }
        rc = FM_EXIT_USAGE;
    } else {
        rc = fm_train_main(argc - 1, argv + 1);
    }
    fm_dist_finalize();
    return rc;
}
