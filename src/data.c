/* data.c - training items from toy sets or data set files (data.h). */
#include "fm/data.h"

#include <stdlib.h>
#include <string.h>

#include "fm/common.h"
#include "fm/rng.h"

int fm_data_open(FmData *d, const FmTrainConfig *cfg, const FmSetup *su, size_t m) {
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    d->su = su;
    d->cap = m;
    d->idx = fm_calloc(m ? m : 1, sizeof *d->idx);
    if (!su->file) return 0;
    FmDataInfo info;
    d->reader = fm_reader_open(cfg->data_file, &info);
    return d->reader ? 0 : -1;
}

void fm_data_close(FmData *d) {
    if (!d) return;
    fm_reader_close(d->reader);
    free(d->idx);
    d->reader = NULL;
    d->idx = NULL;
}

/* Raw pixels (0..255) of one image (C, H, W) to [-1, 1], with optional augmentation. */
static void preprocess_image(float *z, const FmDataInfo *in, FmStream *s, int dequantize, int hflip) {
    const size_t C = in->C, H = in->H, W = in->W;
    int flip = hflip && s && fm_stream_uniform(s) < 0.5;
    if (flip)
        for (size_t c = 0; c < C; c++)
            for (size_t y = 0; y < H; y++) {
                float *row = z + (c * H + y) * W;
                for (size_t a = 0, b = W - 1; a < b; a++, b--) {
                    float tmp = row[a];
                    row[a] = row[b];
                    row[b] = tmp;
                }
            }
    const size_t D = C * H * W;
    if (dequantize && s)
        for (size_t j = 0; j < D; j++) z[j] = (float)(((double)z[j] + fm_stream_uniform(s)) / 128.0 - 1.0);
    else
        for (size_t j = 0; j < D; j++) z[j] = (float)((double)z[j] / 127.5 - 1.0);
}

void fm_data_draw(FmData *d, float *z, long step, uint64_t g0, size_t m, size_t B) {
    const FmTrainConfig *cfg = d->cfg;
    const size_t D = d->su->net.D;
    if (!d->reader) {
        for (size_t r = 0; r < m; r++) {
            FmStream s;
            fm_stream_init(&s, (uint64_t)cfg->seed, (uint64_t)step, g0 + r, FM_RNG_DATA);
            fm_toy_draw(z + r * D, d->su->data, &s);
        }
        return;
    }
    const uint64_t N = d->su->info.N;
    FM_CHECK(m <= d->cap, "data: %zu rows > capacity %zu", m, d->cap);
    for (size_t r = 0; r < m; r++) {
        uint64_t q = (uint64_t)(step - 1) * (uint64_t)B + g0 + r;
        d->idx[r] = fm_permute(q % N, N, (uint64_t)cfg->seed, q / N);
    }
    FM_CHECK(fm_reader_read(d->reader, d->idx, m, z) == 0, "%s", fm_err_msg());
    if (!d->su->info.images) return;
    for (size_t r = 0; r < m; r++) {
        FmStream s;
        fm_stream_init(&s, (uint64_t)cfg->seed, (uint64_t)step, g0 + r, FM_RNG_AUGMENT);
        preprocess_image(z + r * D, &d->su->info, &s, cfg->dequantize, cfg->hflip);
    }
}

int fm_data_items(FmData *d, float *z, uint64_t first, size_t n) {
    const size_t D = d->su->net.D;
    if (!d->reader) return fm_err_set("fm_data_items needs a data set file");
    if (first + n > d->su->info.N)
        return fm_err_set("items %llu..%llu requested, the data set has %zu", (unsigned long long)first,
                          (unsigned long long)(first + n), d->su->info.N);
    for (size_t k = 0; k < n; k += d->cap) {
        size_t c = n - k < d->cap ? n - k : d->cap;
        for (size_t r = 0; r < c; r++) d->idx[r] = first + k + r;
        if (fm_reader_read(d->reader, d->idx, c, z + k * D)) return -1;
    }
    if (d->su->info.images)
        for (size_t r = 0; r < n; r++) preprocess_image(z + r * D, &d->su->info, NULL, 0, 0);
    return 0;
}
