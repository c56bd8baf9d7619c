/* fuzz_config.c - the option parser under libFuzzer: the input is an INI text for `train`
 * (fm_opts_load_string, the parser of the configuration stored in checkpoints, and libinih
 * through a file), and the same bytes split at newlines as a command line for `train`.
 * Every outcome must be a return code (0 or -1 with a message), never a crash or a
 * fatal check; the formatted configuration of a success must parse again to the same text. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fm/common.h"
#include "fm/config.h"
#include "fm/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    static char out[16384], again[16384];

    FmTrainConfig cfg;
    fm_opts_defaults(&fm_train_opts, &cfg);
    if (fm_opts_load_string(&fm_train_opts, &cfg, text) == 0) {
        fm_opts_format(&fm_train_opts, &cfg, out, sizeof out, 0);
        FmTrainConfig cfg2;
        fm_opts_defaults(&fm_train_opts, &cfg2);
        if (fm_opts_load_string(&fm_train_opts, &cfg2, out)) abort(); /* our own output must parse */
        fm_opts_format(&fm_train_opts, &cfg2, again, sizeof again, 0);
        if (strcmp(out, again)) abort(); /* and round-trip */
    }
    fm_err_clear();

    /* the same bytes through libinih, from a file */
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/fuzz-config-%d.ini", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, size, f);
        fclose(f);
        fm_opts_defaults(&fm_train_opts, &cfg);
        fm_opts_load_file(&fm_train_opts, &cfg, path);
        unlink(path);
    }
    fm_err_clear();

    /* lines as argv (at most 64 arguments) */
    char *argv[65];
    int argc = 0;
    for (char *p = text; argc < 64;) {
        argv[argc++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    argv[argc] = NULL;
    int help = 0;
    fm_opts_parse(&fm_train_opts, &cfg, argc, argv, &help);
    fm_err_clear();
    free(text);
    return 0;
}
