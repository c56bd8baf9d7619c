/* fuzz_dataset.c - the data set reader under libFuzzer: the input is an HDF5 file given to
 * fm_reader_open (validation of /images or /data and /labels), then a few items are read
 * (first, last, a middle one), and fm_read_matrix reads /data and /points. Any outcome must
 * be a return code with a message, never a crash, a fatal check or a huge allocation. */
#include <stdint.h>
#include <stdlib.h>

#include "fm/common.h"
#include "fm/h5io.h"
#include "fuzz_h5common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(data, size, "dataset");
    if (!path) return 0;
    FmDataInfo info;
    FmReader *r = fm_reader_open(path, &info);
    if (r) {
        uint64_t idx[3] = {0, info.N - 1, info.N / 2};
        float *out = malloc(3 * info.D * sizeof *out);
        if (out) fm_reader_read(r, idx, 3, out);
        free(out);
        fm_reader_close(r);
    }
    fm_err_clear();
    const char *dsets[2] = {"data", "points"};
    for (int k = 0; k < 2; k++) {
        float *m = NULL;
        size_t N = 0, D = 0;
        if (fm_read_matrix(path, dsets[k], &m, &N, &D) == 0) free(m);
        fm_err_clear();
    }
    unlink(path);
    return 0;
}
