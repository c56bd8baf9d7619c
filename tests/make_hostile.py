#!/usr/bin/python3
"""Hostile inputs for tests/test_hostile.sh: damaged and lying copies of a real checkpoint and of
real data set files, one file (or directory) per case, named after the case.

  make_hostile.py --ckpt RUN/ckpt-00000005.h5 --images IMG.h5 --array ARR.h5 --out DIR

IMG.h5 and ARR.h5 are data set files written by scripts/npy_to_h5.py (data/README.md): /images
uint8 N x 1 x 4 x 4 with /labels, and /data float32 N x 3. Every case starts from a copy of one
of them and changes one thing: truncations, other dtypes and ranks, empty or enormous shapes
(headers claiming 2^40 items in a file of a few kB), attributes that lie about the data or have
the wrong type, non-finite values; checkpoints with other format versions, broken or enormous
configurations, parameter buffers of the wrong type, length or content, lying step and count
attributes. Prints the number of files written.
"""
import argparse
import os
import shutil

import h5py
import numpy as np

CKPT_BUFFERS = ("params", "adam_m", "adam_v", "ema")


def truncate(src, dst, nbytes):
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data[:nbytes])


def edit(src, dst):
    """A copy of src, opened for editing."""
    shutil.copy(src, dst)
    return h5py.File(dst, "r+")


def replace(f, name, **kw):
    """Replace dataset `name` with a new one (h5py create_dataset arguments)."""
    if name in f:
        del f[name]
    return f.create_dataset(name, **kw)


def str_attr(f, name, text):
    """A fixed-length ASCII string attribute, as fmtrain writes them."""
    raw = text.encode("latin-1")
    f.attrs.create(name, raw, dtype=h5py.string_dtype("ascii", max(1, len(raw))))


def data_cases(img, arr, out):
    n = h5py.File(img, "r")["images"].shape[0]
    m, d = h5py.File(arr, "r")["data"].shape
    size = os.path.getsize(img)
    p = lambda name: os.path.join(out, name)  # noqa: E731

    # truncations: the superblock alone, 10 %, 50 %, all but the last byte
    truncate(img, p("d_trunc_superblock.h5"), 96)
    truncate(img, p("d_trunc_10.h5"), size // 10)
    truncate(img, p("d_trunc_50.h5"), size // 2)
    truncate(arr, p("d_trunc_last_byte.h5"), os.path.getsize(arr) - 1)

    # the item dataset's type
    with edit(img, p("d_images_float64.h5")) as f:
        replace(f, "images", data=np.zeros((n, 1, 4, 4), np.float64))
    with edit(img, p("d_images_int8.h5")) as f:
        replace(f, "images", data=np.zeros((n, 1, 4, 4), np.int8), chunks=(1, 1, 4, 4))
    with edit(img, p("d_images_string.h5")) as f:
        replace(f, "images", data=np.array([b"pixels"] * n, dtype="S16"))
    with edit(arr, p("d_data_int32.h5")) as f:
        replace(f, "data", data=np.ones((m, d), np.int32))
    with edit(arr, p("d_data_string.h5")) as f:
        replace(f, "data", data=np.array([[b"1.5"] * d] * m, dtype="S4"))
    with edit(img, p("d_images_group.h5")) as f:
        del f["images"]
        f.create_group("images")

    # rank and empty dimensions
    with edit(img, p("d_images_rank5.h5")) as f:
        replace(f, "images", data=np.zeros((n, 1, 1, 4, 4), np.uint8))
    with edit(arr, p("d_data_rank1.h5")) as f:
        replace(f, "data", data=np.zeros(m, np.float32))
    with edit(img, p("d_images_zero_width.h5")) as f:
        replace(f, "images", shape=(n, 1, 4, 0), dtype=np.uint8)
    with edit(arr, p("d_data_d0.h5")) as f:
        replace(f, "data", shape=(m, 0), dtype=np.float32)

    # hostile sizes: the header claims far more than the file holds (chunks never written)
    with edit(img, p("d_images_2p40.h5")) as f:
        replace(f, "images", shape=(2**40, 1, 4, 4), dtype=np.uint8, chunks=(1, 1, 4, 4))
        del f["labels"]
        f.attrs["count"] = np.int64(2**40)
    with edit(arr, p("d_data_2p40.h5")) as f:
        replace(f, "data", shape=(2**40, d), dtype=np.float32, chunks=(1024, d))
        f.attrs["count"] = np.int64(2**40)
    # C * H * W = 3 * 6148914691236517206 = 2^64 + 2: wraps to 2 values in 64-bit arithmetic
    with edit(img, p("d_images_size_t_overflow.h5")) as f:
        replace(f, "images", shape=(1, 3, 6148914691236517206, 1), dtype=np.uint8, chunks=(1, 1, 1, 1))
        del f["labels"]
        for a in ("count", "shape", "num_classes"):
            del f.attrs[a]
    # H * W = 2^32: more than any int
    with edit(img, p("d_images_int_overflow.h5")) as f:
        replace(f, "images", shape=(1, 1, 65536, 65536), dtype=np.uint8, chunks=(1, 1, 64, 64))
        del f["labels"]
        for a in ("count", "shape", "num_classes"):
            del f.attrs[a]
    # one chunk of 70000 x 1024 floats (273 MiB) for a small array
    with edit(arr, p("d_data_huge_chunk.h5")) as f:
        replace(f, "data", shape=(70000, 1024), dtype=np.float32, chunks=(70000, 1024))
        f.attrs["count"] = np.int64(70000)
        f.attrs["shape"] = np.array([1024], np.int64)
    # the file is large enough (padding), but half of the items were never written
    with edit(img, p("d_images_unwritten.h5")) as f:
        ds = replace(f, "images", shape=(n, 1, 4, 4), dtype=np.uint8, chunks=(1, 1, 4, 4))
        ds[: n // 2] = 7
        f["padding"] = np.zeros(65536, np.uint8)
    # compressed: data set files are stored without filters (data/README.md)
    with edit(img, p("d_images_gzip.h5")) as f:
        replace(f, "images", data=np.zeros((n, 1, 4, 4), np.uint8), chunks=(1, 1, 4, 4), compression="gzip")

    # attributes that lie or have the wrong type
    with edit(img, p("d_attr_shape.h5")) as f:
        f.attrs["shape"] = np.array([1, 5, 5], np.int64)
    with edit(img, p("d_attr_count.h5")) as f:
        f.attrs["count"] = np.int64(n + 1)
    with edit(img, p("d_attr_count_array.h5")) as f:
        f.attrs["count"] = np.full(4096, n, np.int64)
    with edit(img, p("d_attr_format.h5")) as f:
        f.attrs["format"] = "fmtrain-checkpoint"
    with edit(img, p("d_attr_format_version.h5")) as f:
        f.attrs["format_version"] = np.int64(2)
    with edit(img, p("d_attr_format_version_str.h5")) as f:
        f.attrs["format_version"] = "1"
    with edit(img, p("d_attr_kind.h5")) as f:
        f.attrs["kind"] = "array"
    with edit(img, p("d_attr_num_classes_str.h5")) as f:
        f.attrs["num_classes"] = "3"
    with edit(img, p("d_attr_num_classes_zero.h5")) as f:
        f.attrs["num_classes"] = np.int64(0)

    # labels and values
    with edit(img, p("d_labels_float.h5")) as f:
        replace(f, "labels", data=np.zeros(n, np.float32))
    with edit(img, p("d_labels_2d.h5")) as f:
        replace(f, "labels", data=np.zeros((n, 1), np.int32))
    with edit(img, p("d_labels_2p40.h5")) as f:
        replace(f, "labels", shape=(2**40,), dtype=np.int32, chunks=(4096,))
    with edit(arr, p("d_data_inf.h5")) as f:
        x = f["data"][()]
        x[m - 1, d - 1] = np.inf
        f["data"][...] = x

    # points files for nll/fielderr --data-file (read whole by fm_read_matrix)
    with h5py.File(p("m_2p40.h5"), "w") as f:
        f.create_dataset("data", shape=(2**40, 2), dtype=np.float32, chunks=(1024, 2))
    with h5py.File(p("m_overflow.h5"), "w") as f:  # 2^33 x 2^31 = 2^64 values: wraps to 0
        f.create_dataset("data", shape=(2**33, 2**31), dtype=np.float32, chunks=(1, 1))
    with h5py.File(p("m_inf.h5"), "w") as f:
        x = np.zeros((10, 2), np.float32)
        x[3, 1] = -np.inf
        f["data"] = x


def ckpt_cases(ck, out):
    size = os.path.getsize(ck)
    p = lambda name: os.path.join(out, name)  # noqa: E731
    with h5py.File(ck, "r") as f:
        count = int(f["params"].shape[0])
        config = f.attrs["config"]
        config = config.decode() if isinstance(config, bytes) else str(config)
        params = f["params"][()]

    truncate(ck, p("c_empty.h5"), 0)
    truncate(ck, p("c_trunc_superblock.h5"), 96)
    truncate(ck, p("c_trunc_10.h5"), size // 10)
    truncate(ck, p("c_trunc_50.h5"), size // 2)
    truncate(ck, p("c_trunc_90.h5"), size * 9 // 10)
    truncate(ck, p("c_trunc_last_byte.h5"), size - 1)

    # versions and identity
    with edit(ck, p("c_version_999.h5")) as f:
        f.attrs["format_version"] = np.int64(999)
    with edit(ck, p("c_version_1.h5")) as f:
        f.attrs["format_version"] = np.int64(1)
    with edit(ck, p("c_version_str.h5")) as f:
        str_attr(f, "format_version", "2")
    with edit(ck, p("c_format_int.h5")) as f:
        f.attrs["format"] = np.int64(7)

    # the stored configuration
    with edit(ck, p("c_config_missing.h5")) as f:
        del f.attrs["config"]
    rng = np.random.default_rng(1)
    junk = bytes(int(b) for b in rng.integers(1, 256, 3000)).decode("latin-1")
    with edit(ck, p("c_config_garbage.h5")) as f:
        str_attr(f, "config", junk)
    with edit(ck, p("c_config_1mb.h5")) as f:  # valid lines, repeated to 1 MB (variable length)
        del f.attrs["config"]
        f.attrs["config"] = config + "width = 16\n" * (2**20 // 11)
    with edit(ck, p("c_config_unknown_key.h5")) as f:
        str_attr(f, "config", config + "flux-capacitor = 1\n")
    with edit(ck, p("c_config_width.h5")) as f:
        str_attr(f, "config", config.replace("width = 16", "width = 32"))
    with edit(ck, p("c_config_array.h5")) as f:
        del f.attrs["config"]
        f.attrs.create("config", [config.encode()] * 64, dtype=h5py.string_dtype("ascii", len(config)))
    # a model of 1.3e11 parameters (width 65536, depth 31), with a matching param_count and
    # /params of that length that were never written: nothing may be allocated for it
    big = 0
    for l in range(32):
        rows, cols = (65536 if l < 31 else 2), (65536 if l else 2 + 4)
        big += (rows * cols + 15) // 16 * 16 + (rows + 15) // 16 * 16
    with edit(ck, p("c_config_huge_model.h5")) as f:
        str_attr(f, "config", config.replace("width = 16", "width = 65536").replace("depth = 1\n", "depth = 31\n"))
        f.attrs["param_count"] = np.int64(big)
        for b in CKPT_BUFFERS:
            replace(f, b, shape=(big,), dtype=np.float32, chunks=(1 << 20,))

    # the parameter buffers
    with edit(ck, p("c_params_int32.h5")) as f:
        replace(f, "params", data=np.zeros(count, np.int32))
    with edit(ck, p("c_params_float64.h5")) as f:
        replace(f, "params", data=params.astype(np.float64))
    with edit(ck, p("c_params_short.h5")) as f:
        replace(f, "params", data=params[:-1])
    with edit(ck, p("c_params_long.h5")) as f:
        replace(f, "params", data=np.concatenate([params, params[:1]]))
    with edit(ck, p("c_params_empty.h5")) as f:
        replace(f, "params", shape=(0,), dtype=np.float32)
    with edit(ck, p("c_params_2d.h5")) as f:
        replace(f, "params", data=params.reshape(-1, 16))
    with edit(ck, p("c_params_unwritten.h5")) as f:
        replace(f, "params", shape=(count,), dtype=np.float32, chunks=(16,))
    with edit(ck, p("c_params_nan.h5")) as f:
        x = params.copy()
        x[count // 2] = np.nan
        f["params"][...] = x
    with edit(ck, p("c_ema_inf.h5")) as f:
        x = f["ema"][()]
        x[0] = np.inf
        f["ema"][...] = x
    with edit(ck, p("c_param_count_huge.h5")) as f:
        f.attrs["param_count"] = np.int64(2**40)

    # step
    with edit(ck, p("c_step_negative.h5")) as f:
        f.attrs["step"] = np.int64(-5)
    with edit(ck, p("c_step_huge.h5")) as f:
        f.attrs["step"] = np.int64(2**62)
    with edit(ck, p("c_step_array.h5")) as f:
        f.attrs["step"] = np.full(1000, 5, np.int64)

    # run directories for --resume (a copy of the run with the checkpoint replaced)
    run = os.path.dirname(os.path.abspath(ck))
    base = os.path.basename(ck)
    for name, src in (("r_no_adam_m", None), ("r_version_999", p("c_version_999.h5")),
                      ("r_trunc_50", p("c_trunc_50.h5")), ("r_step_huge", p("c_step_huge.h5"))):
        shutil.copytree(run, p(name), symlinks=True)
        if src:
            shutil.copy(src, os.path.join(p(name), base))
    with h5py.File(os.path.join(p("r_no_adam_m"), base), "r+") as f:
        del f["adam_m"]

    # latest.h5: dangling, or pointing at the training log
    for name, target in (("l_dangling", "ckpt-99999999.h5"), ("l_to_log", "log.h5")):
        shutil.copytree(run, p(name), symlinks=True)
        os.remove(os.path.join(p(name), "latest.h5"))
        os.symlink(target, os.path.join(p(name), "latest.h5"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--array", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    data_cases(a.images, a.array, a.out)
    ckpt_cases(a.ckpt, a.out)
    print("make_hostile: wrote %d hostile files and run directories under %s" % (len(os.listdir(a.out)), a.out))


if __name__ == "__main__":
    main()
