/* fuzz_ckpt.c - the checkpoint reader under libFuzzer, as `sample` and `--resume` use it: the
 * input is an HDF5 file; fm_out_check (as before writing an output), then fm_ckpt_read_meta (step, parameter count,
 * stored configuration), the configuration parsed back, the MLP's table built from it, and
 * when the counts agree fm_ckpt_read of all four buffers. Never a crash or a fatal check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/config.h"
#include "fm/h5io.h"
#include "fm/model.h"
#include "fm/toy.h"
#include "fm/train.h"
#include "fuzz_h5common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(data, size, "ckpt");
    if (!path) return 0;
    fm_out_check(path, "fmtrain-samples");
    long step = 0;
    size_t count = 0;
    char *stored = NULL;
    if (fm_ckpt_read_meta(path, &step, &count, &stored) == 0) {
        FmTrainConfig cfg;
        fm_opts_defaults(&fm_train_opts, &cfg);
        FmToyKind kind;
        FmMlp net;
        if (fm_opts_load_string(&fm_train_opts, &cfg, stored) == 0 && fm_toy_parse(&kind, cfg.data) == 0 &&
            fm_mlp_init(&net, (size_t)fm_toy_dim(kind), (size_t)cfg.temb, (size_t)cfg.width, (size_t)cfg.depth) == 0 &&
            net.table.total == count && count <= ((size_t)1 << 24)) {
            float *buf = malloc(4 * count * sizeof *buf);
            if (buf) fm_ckpt_read(path, &net.table, buf, buf + count, buf + 2 * count, buf + 3 * count);
            free(buf);
        }
    }
    free(stored);
    fm_err_clear();
    unlink(path);
    return 0;
}
