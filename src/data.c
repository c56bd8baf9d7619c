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
    if (!d->reader) return -1;
    d->item_bytes = info.D * (info.images ? 1 : sizeof(float));
    d->slots = (size_t)((double)cfg->data_cache_mb * 1048576.0 / (double)d->item_bytes);
    if (d->slots > info.N) d->slots = info.N;
    if (d->slots) {
        d->cache = fm_calloc(d->slots, d->item_bytes);
        d->tags = fm_calloc(d->slots, sizeof *d->tags);
        for (size_t k = 0; k < d->slots; k++) d->tags[k] = -1;
    }
    if (d->slots == info.N) { /* the whole set fits: slot k holds item k, read in blocks */
        const double t0 = fm_now();
        enum { BLOCK = 512 }; /* items per read (measured: 24,500 items/s on one-item chunks) */
        for (size_t k = 0; k < info.N; k += BLOCK) {
            const size_t n = info.N - k < BLOCK ? info.N - k : BLOCK;
            if (fm_reader_read_block(d->reader, k, n, d->cache + k * d->item_bytes)) return -1;
            for (size_t j = k; j < k + n; j++) d->tags[j] = (int64_t)j;
        }
        d->seconds = fm_now() - t0;
    }
    d->miss = fm_calloc(m ? m : 1, sizeof *d->miss);
    d->miss_row = fm_calloc(m ? m : 1, sizeof *d->miss_row);
    d->raw = fm_malloc_floats((m ? m : 1) * info.D);
    return 0;
}

size_t fm_data_cache_bytes(const FmData *d) { return d->slots * d->item_bytes; }

/* Raw values of items idx[0..m) into z (m, D), through the cache. 0 or -1. */
static int read_cached(FmData *d, float *z, size_t m) {
    const size_t D = d->su->info.D;
    const int images = d->su->info.images;
    if (!d->slots) return fm_reader_read(d->reader, d->idx, m, z);
    size_t nmiss = 0;
    for (size_t r = 0; r < m; r++) {
        size_t slot = (size_t)(d->idx[r] % d->slots);
        d->lookups++;
        if (d->tags[slot] == (int64_t)d->idx[r]) {
            const unsigned char *c = d->cache + slot * d->item_bytes;
            if (images) for (size_t j = 0; j < D; j++) z[r * D + j] = (float)c[j];
            else memcpy(z + r * D, c, D * sizeof(float));
            d->hits++;
        } else {
            d->miss[nmiss] = d->idx[r];
            d->miss_row[nmiss++] = r;
        }
    }
    if (nmiss && fm_reader_read(d->reader, d->miss, nmiss, d->raw)) return -1;
    for (size_t k = 0; k < nmiss; k++) {
        const float *v = d->raw + k * D;
        memcpy(z + d->miss_row[k] * D, v, D * sizeof(float));
        size_t slot = (size_t)(d->miss[k] % d->slots);
        unsigned char *c = d->cache + slot * d->item_bytes;
        if (images) for (size_t j = 0; j < D; j++) c[j] = (unsigned char)v[j]; /* exact: integers 0..255 */
        else memcpy(c, v, D * sizeof(float));
        d->tags[slot] = (int64_t)d->miss[k];
    }
    return 0;
}

void fm_data_close(FmData *d) {
    if (!d) return;
    fm_reader_close(d->reader);
    free(d->idx), free(d->cache), free(d->tags), free(d->miss), free(d->miss_row), free(d->raw);
    memset(d, 0, sizeof *d);
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
        fm_toy_draw_items(z, d->su->data, (uint64_t)cfg->seed, (uint64_t)step, g0, m, FM_RNG_DATA);
        return;
    }
    const uint64_t N = d->su->info.N;
    FM_CHECK(m <= d->cap, "data: %zu rows > capacity %zu", m, d->cap);
    for (size_t r = 0; r < m; r++) {
        uint64_t q = (uint64_t)(step - 1) * (uint64_t)B + g0 + r;
        d->idx[r] = fm_permute(q % N, N, (uint64_t)cfg->seed, q / N);
    }
    FM_CHECK(read_cached(d, z, m) == 0, "%s", fm_err_msg());
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
