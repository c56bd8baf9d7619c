/* fuzz_h5common.h - the input as an HDF5 file for the reader harnesses. HDF5 needs a file
 * name: the bytes go to a per-process file in /dev/shm (memory). */
#ifndef FUZZ_H5COMMON_H
#define FUZZ_H5COMMON_H
#include <stdio.h>
#include <unistd.h>

static const char *fuzz_write_file(const uint8_t *data, size_t size, const char *tag) {
    static char path[96];
    snprintf(path, sizeof path, "/dev/shm/fuzz-%s-%d.h5", tag, (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    fwrite(data, 1, size, f);
    fclose(f);
    return path;
}
#endif
