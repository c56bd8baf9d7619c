#!/usr/bin/env bash
# Data preparation: scripts/prepare_fashion_mnist.py and scripts/npy_to_h5.py (data/README.md).
#   - a small synthetic IDX set (7 train + 3 test random 28x28 images, gzip'd, with labels) is
#     converted with --any-count and read back exactly: pixels, labels, every root attribute,
#     dtypes, chunking (1, 1, 28, 28), no compression; the same set uncompressed converts too;
#   - damaged inputs (bad magic, truncated payload, truncated gzip, label count != image count,
#     label 10, missing file, missing directory, unexpected count without --any-count) each
#     exit 2 with exactly ONE "SCRIPT: error:" line on stderr naming the problem, no traceback,
#     and leave no output file (final or .tmp) behind;
#   - npy_to_h5.py round trips uint8 N x H x W (+ labels), uint8 N x C x H x W, float N x D and
#     float N, and rejects NaN / Inf / bad labels / wrong dtypes the same way;
#   - if /usr/share/datasets/fashion-mnist exists (package dataset-fashion-mnist), the real
#     conversion is run and checked (60000 / 10000 items, shape, 6000 / 1000 labels per class,
#     pixels equal to an independent decode) and timed; otherwise that part is skipped.
# Ends with "RESULT prepare: N checks passed, M failed".
set -u
: "${PYTHON:?}" "${TMPDIR_TEST:?}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREP=$ROOT/scripts/prepare_fashion_mnist.py
NPY=$ROOT/scripts/npy_to_h5.py
REAL_SRC=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
W=$TMPDIR_TEST/prepare
mkdir -p "$W" && cd "$W" || exit 1

pass=0 fail=0 failed=()
record() { # name, problem ("" = pass), output files...
    local name=$1 why=$2; shift 2
    if [ -z "$why" ]; then
        pass=$((pass + 1)); echo "ok   $name"
    else
        fail=$((fail + 1)); failed+=("$name"); echo "FAIL $name: $why"
        local f
        for f in "$@"; do [ -f "$f" ] && sed "s/^/       | $(basename "$f"): /" "$f" | head -20; done
    fi
}

# expect_ok NAME CMD... : exit 0, nothing on stderr
expect_ok() {
    local name=$1; shift
    local out=$W/$name.out err=$W/$name.err rc why=""
    "$@" >"$out" 2>"$err" </dev/null
    rc=$?
    [ "$rc" -ne 0 ] && why="exit $rc"
    [ -s "$err" ] && why+="${why:+; }stderr not empty"
    record "$name" "$why" "$out" "$err"
}

# expect_error NAME KEYWORD OUTFILE CMD... : exit 2, stdout empty, stderr exactly one line
# "SCRIPT: error: ..." containing KEYWORD (case-insensitive); OUTFILE (if not "-") and
# OUTFILE.tmp must not exist afterwards.
expect_error() {
    local name=$1 kw=$2 outfile=$3; shift 3
    local out=$W/$name.out err=$W/$name.err rc why="" script
    script=$(basename "$2")
    "$@" >"$out" 2>"$err" </dev/null
    rc=$?
    [ "$rc" -ne 2 ] && why="exit $rc (want 2)"
    local nl
    nl=$(wc -l <"$err")
    if [ "$nl" -ne 1 ]; then
        why+="${why:+; }$nl stderr lines (want exactly 1)"
    elif ! grep -q "^$script: error: " "$err"; then
        why+="${why:+; }stderr is not '$script: error: ...'"
    elif ! grep -qiF -- "$kw" "$err"; then
        why+="${why:+; }the error does not mention '$kw'"
    fi
    [ -s "$out" ] && why+="${why:+; }stdout not empty"
    if [ "$outfile" != - ]; then
        [ -e "$outfile" ] && why+="${why:+; }$outfile was written"
        [ -e "$outfile.tmp" ] && why+="${why:+; }$outfile.tmp left behind"
    fi
    record "$name" "$why" "$out" "$err"
}

# printed NAME CASE TEXT : the stdout of case CASE contains TEXT
printed() {
    if grep -qF -- "$3" "$W/$2.out"; then record "$1" ""
    else record "$1" "stdout does not contain '$3'" "$W/$2.out"; fi
}

# check NAME PYTHON-CODE [ARGS...] : the code (read from the argument) passes if it exits 0;
# it prints what is wrong before failing.
check() {
    local name=$1 code=$2; shift 2
    local out=$W/$name.out why=""
    "$PYTHON" -c "$code" "$@" >"$out" 2>&1 || why="check failed"
    record "$name" "$why" "$out"
}

# ---------------------------------------------------------------- synthetic IDX sets
# idx.py: write IDX files (gzip'd unless told), with optional damage; also saved arrays (.npy)
cat >idx.py <<'PY'
import gzip, os, struct, sys
import numpy as np

def idx_bytes(a, magic=None):
    a = np.ascontiguousarray(a, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 | a.ndim
    return struct.pack(">I", magic) + struct.pack(">%dI" % a.ndim, *a.shape) + a.tobytes()

def write(path, data, gz=True):
    if gz:
        with gzip.open(path + ".gz", "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)

def make(d, counts=(("train", 7), ("t10k", 3)), gz=True, seed=0, damage=None):
    """damage: (file prefix, kind) with kind magic | truncate | gztruncate | labelcount | label10."""
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in counts:
        img = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        lab = rng.integers(0, 10, size=n, dtype=np.uint8)
        lab[0], lab[-1] = 0, 9  # both ends of the range
        np.save(os.path.join(d, prefix + "-images.npy"), img)
        np.save(os.path.join(d, prefix + "-labels.npy"), lab)
        ib, lb = idx_bytes(img), idx_bytes(lab)
        kind = damage[1] if damage and damage[0] == prefix else None
        if kind == "magic":
            ib = struct.pack(">I", 0x00000804) + ib[4:]
        elif kind == "truncate":
            ib = ib[:-100]
        elif kind == "labelcount":
            lb = idx_bytes(lab[:-1])
        elif kind == "label10":
            l2 = lab.copy(); l2[1] = 10
            lb = idx_bytes(l2)
        write(os.path.join(d, prefix + "-images-idx3-ubyte"), ib, gz)
        write(os.path.join(d, prefix + "-labels-idx1-ubyte"), lb, gz)
        if kind == "gztruncate":
            p = os.path.join(d, prefix + "-images-idx3-ubyte.gz")
            raw = open(p, "rb").read()
            open(p, "wb").write(raw[: len(raw) // 2])

if __name__ == "__main__":
    d = sys.argv[1]
    gz = "plain" not in sys.argv[2:]
    dmg = next((tuple(a.split(":")) for a in sys.argv[2:] if ":" in a), None)
    make(d, gz=gz, damage=dmg)
PY

# verify.py OUT SRC GZ: the converted files equal the synthetic arrays, attributes exact
cat >verify.py <<'PY'
import os, sys
import h5py
import numpy as np
out, src, gz = sys.argv[1], sys.argv[2], sys.argv[3] == "gz"
bad = []
for split, prefix in (("train", "train"), ("test", "t10k")):
    path = os.path.join(out, "fashion-mnist-%s.h5" % split)
    img = np.load(os.path.join(src, prefix + "-images.npy"))
    lab = np.load(os.path.join(src, prefix + "-labels.npy"))
    n = img.shape[0]
    ext = ".gz" if gz else ""
    with h5py.File(path, "r") as f:
        if sorted(f.keys()) != ["images", "labels"]:
            bad.append("%s: datasets %s" % (path, sorted(f.keys())))
            continue
        im, lb = f["images"], f["labels"]
        if im.dtype != np.uint8 or im.shape != (n, 1, 28, 28):
            bad.append("%s: /images %s %s" % (path, im.dtype, im.shape))
        if im.chunks != (1, 1, 28, 28) or im.compression is not None or im.shuffle:
            bad.append("%s: /images chunks %s compression %s" % (path, im.chunks, im.compression))
        if lb.dtype != np.int32 or lb.shape != (n,):
            bad.append("%s: /labels %s %s" % (path, lb.dtype, lb.shape))
        if not np.array_equal(im[()], img[:, None]):
            bad.append("%s: pixels differ" % path)
        if not np.array_equal(lb[()], lab.astype(np.int32)):
            bad.append("%s: labels differ" % path)
        want = {
            "format": "fmtrain-dataset", "format_version": 1, "name": "fashion-mnist-" + split,
            "kind": "images", "shape": [1, 28, 28], "value_range": [0.0, 255.0],
            "source": "images=%s labels=%s" % (
                os.path.abspath(os.path.join(src, prefix + "-images-idx3-ubyte" + ext)),
                os.path.abspath(os.path.join(src, prefix + "-labels-idx1-ubyte" + ext))),
            "num_classes": 10, "count": n}
        a = f.attrs
        if sorted(a.keys()) != sorted(want):
            bad.append("%s: attributes %s, want %s" % (path, sorted(a.keys()), sorted(want)))
        for k, v in want.items():
            if k not in a:
                continue
            got = a[k]
            if isinstance(v, str):
                ok = isinstance(got, str) and got == v
            elif isinstance(v, list):
                want_t = np.float64 if isinstance(v[0], float) else np.int64
                ok = isinstance(got, np.ndarray) and got.dtype == want_t and got.tolist() == v
            else:
                ok = isinstance(got, np.int64) and int(got) == v
            if not ok:
                bad.append("%s: attribute %s = %r (%s), want %r" % (path, k, got, type(got).__name__, v))
    if os.path.exists(path + ".tmp"):
        bad.append("%s.tmp left behind" % path)
for b in bad:
    print(b)
print("%d problems" % len(bad))
sys.exit(1 if bad else 0)
PY

"$PYTHON" idx.py syn || { echo "setup: writing the synthetic IDX set failed"; exit 1; }
"$PYTHON" idx.py plain plain || { echo "setup: writing the plain IDX set failed"; exit 1; }
expect_ok prep_synthetic "$PYTHON" "$PREP" --any-count --src syn --out out
expect_ok prep_synthetic_roundtrip "$PYTHON" verify.py out syn gz
printed prep_synthetic_prints prep_synthetic 'out/fashion-mnist-train.h5: /images 7x1x28x28 uint8'
expect_ok prep_uncompressed "$PYTHON" "$PREP" --any-count --src plain --out outplain
expect_ok prep_uncompressed_roundtrip "$PYTHON" verify.py outplain plain plain

# damaged sets: one case each; nothing may be written to bad/
damaged() { # name, damage (prefix:kind), keyword
    "$PYTHON" idx.py "src-$1" "$2" || { record "$1" "setup failed"; return; }
    expect_error "$1" "$3" "bad-$1/fashion-mnist-train.h5" "$PYTHON" "$PREP" --any-count --src "src-$1" --out "bad-$1"
    [ -e "bad-$1/fashion-mnist-test.h5" ] && record "$1-nothing-written" "fashion-mnist-test.h5 was written"
}
damaged bad_magic train:magic "bad magic"
damaged truncated_payload train:truncate "truncated payload"
damaged truncated_gzip t10k:gztruncate "truncated gzip"
damaged label_count train:labelcount "count mismatch"
damaged label_range t10k:label10 "label 10"
"$PYTHON" idx.py src-missing_file && rm src-missing_file/t10k-labels-idx1-ubyte.gz
expect_error missing_file "missing file t10k-labels-idx1-ubyte.gz" bad-missing_file/fashion-mnist-train.h5 \
    "$PYTHON" "$PREP" --any-count --src src-missing_file --out bad-missing_file
expect_error missing_dir "apt-get install dataset-fashion-mnist" bad-missing_dir/fashion-mnist-train.h5 \
    "$PYTHON" "$PREP" --src "$W/no/such/dir" --out bad-missing_dir
expect_error unexpected_count "expected 60000" bad-count/fashion-mnist-train.h5 \
    "$PYTHON" "$PREP" --src syn --out bad-count
expect_error bad_option "unrecognized" - "$PYTHON" "$PREP" --no-such-option
# the output directory cannot be created (a plain file of that name)
touch notadir
expect_error out_not_dir "notadir" - "$PYTHON" "$PREP" --any-count --src syn --out notadir

# ---------------------------------------------------------------- npy_to_h5.py
"$PYTHON" - <<'PY' || { echo "setup: writing the .npy inputs failed"; exit 1; }
import numpy as np
rng = np.random.default_rng(1)
np.save("u8.npy", rng.integers(0, 256, size=(5, 6, 7), dtype=np.uint8))
np.save("u8lab.npy", np.array([0, 3, 1, 3, 2], dtype=np.int64))
np.save("u8c.npy", rng.integers(0, 256, size=(4, 3, 8, 9), dtype=np.uint8))
np.save("f64.npy", rng.normal(size=(40000, 3)))
np.save("f1.npy", rng.normal(size=11).astype(np.float32))
x = rng.normal(size=(9, 4)); x[5, 2] = np.nan; x[7, 0] = np.inf
np.save("nan.npy", x)
y = rng.normal(size=(9, 4)); y[3, 1] = -np.inf
np.save("inf.npy", y.astype(np.float32))
z = rng.normal(size=(9, 4)); z[6, 3] = 1e300
np.save("big.npy", z)
np.save("i64.npy", np.arange(12).reshape(6, 2))
np.save("u8flat.npy", np.zeros((4, 5), dtype=np.uint8))
np.save("lab_neg.npy", np.array([0, 1, -1, 2, 0]))
np.save("lab_short.npy", np.array([0, 1, 2]))
np.save("lab_float.npy", np.array([0.0, 1, 2, 3, 4]))
open("junk.npy", "w").write("not a numpy file\n")
PY
expect_ok npy_u8 "$PYTHON" "$NPY" u8.npy u8.h5 --labels u8lab.npy
expect_ok npy_u8_k "$PYTHON" "$NPY" u8.npy u8k.h5 --labels u8lab.npy --num-classes 7 --name digits
expect_ok npy_u8c "$PYTHON" "$NPY" u8c.npy u8c.h5
expect_ok npy_f64 "$PYTHON" "$NPY" f64.npy f64.h5
expect_ok npy_f1 "$PYTHON" "$NPY" f1.npy f1.h5
check npy_roundtrip '
import os, h5py, numpy as np
bad = []
def attrs(path, **want):
    with h5py.File(path, "r") as f:
        a = dict(f.attrs)
    for k, v in want.items():
        got = a.get(k)
        g = got.tolist() if isinstance(got, np.ndarray) else got
        if g != v or (isinstance(v, int) and not isinstance(got, np.int64)):
            bad.append("%s: %s = %r, want %r" % (path, k, got, v))
    return a
x = np.load("u8.npy")
with h5py.File("u8.h5", "r") as f:
    im, lb = f["images"], f["labels"]
    if im.dtype != np.uint8 or im.shape != (5, 1, 6, 7) or im.chunks != (1, 1, 6, 7) or im.compression:
        bad.append("u8.h5: /images %s %s chunks %s" % (im.dtype, im.shape, im.chunks))
    if not np.array_equal(im[()], x[:, None]): bad.append("u8.h5: pixels differ")
    if lb.dtype != np.int32 or lb[()].tolist() != [0, 3, 1, 3, 2]: bad.append("u8.h5: labels %r" % lb[()])
attrs("u8.h5", format="fmtrain-dataset", format_version=1, name="u8", kind="images", shape=[1, 6, 7],
      value_range=[0.0, 255.0], num_classes=4, count=5,
      source=os.path.abspath("u8.npy") + " labels=" + os.path.abspath("u8lab.npy"))
attrs("u8k.h5", name="digits", num_classes=7)
x = np.load("u8c.npy")
with h5py.File("u8c.h5", "r") as f:
    im = f["images"]
    if im.shape != (4, 3, 8, 9) or im.chunks != (1, 3, 8, 9) or not np.array_equal(im[()], x):
        bad.append("u8c.h5: /images %s chunks %s" % (im.shape, im.chunks))
    if "labels" in f: bad.append("u8c.h5: has /labels")
a = attrs("u8c.h5", kind="images", shape=[3, 8, 9], count=4, source=os.path.abspath("u8c.npy"))
if "num_classes" in a: bad.append("u8c.h5: num_classes without labels")
x = np.load("f64.npy")
with h5py.File("f64.h5", "r") as f:
    d = f["data"]
    if d.dtype != np.float32 or d.shape != (40000, 3) or d.chunks != (21845, 3) or d.compression:
        bad.append("f64.h5: /data %s %s chunks %s" % (d.dtype, d.shape, d.chunks))
    if not np.array_equal(d[()], x.astype(np.float32)): bad.append("f64.h5: values differ")
    if sorted(f.keys()) != ["data"]: bad.append("f64.h5: datasets %s" % sorted(f.keys()))
x32 = x.astype(np.float32)
attrs("f64.h5", format="fmtrain-dataset", format_version=1, name="f64", kind="array", shape=[3],
      value_range=[float(x32.min()), float(x32.max())], count=40000)
x = np.load("f1.npy")
with h5py.File("f1.h5", "r") as f:
    d = f["data"]
    if d.shape != (11, 1) or d.chunks != (11, 1) or not np.array_equal(d[()][:, 0], x):
        bad.append("f1.h5: /data %s chunks %s" % (d.shape, d.chunks))
attrs("f1.h5", kind="array", shape=[1], count=11)
for p in ("u8.h5", "u8k.h5", "u8c.h5", "f64.h5", "f1.h5"):
    if os.path.exists(p + ".tmp"): bad.append(p + ".tmp left behind")
for b in bad: print(b)
print("%d problems" % len(bad))
raise SystemExit(1 if bad else 0)
'
printed npy_prints npy_u8 'u8.h5: /images 5x1x6x7 uint8, /labels (4 classes)'
expect_error npy_nan "row 5 is not finite" nan.h5 "$PYTHON" "$NPY" nan.npy nan.h5
expect_error npy_inf "row 3 is not finite" inf.h5 "$PYTHON" "$NPY" inf.npy inf.h5
expect_error npy_overflow "row 6 overflows float32" big.h5 "$PYTHON" "$NPY" big.npy big.h5
expect_error npy_int_dtype "int64" i64.h5 "$PYTHON" "$NPY" i64.npy i64.h5
expect_error npy_u8_2d "N x H x W" u8flat.h5 "$PYTHON" "$NPY" u8flat.npy u8flat.h5
expect_error npy_label_range "label 3 at item 1" lr.h5 "$PYTHON" "$NPY" u8.npy lr.h5 --labels u8lab.npy --num-classes 3
expect_error npy_label_neg "negative" ln.h5 "$PYTHON" "$NPY" u8.npy ln.h5 --labels lab_neg.npy
expect_error npy_label_len "3 labels for 5 items" ls.h5 "$PYTHON" "$NPY" u8.npy ls.h5 --labels lab_short.npy
expect_error npy_label_float "integers" lf.h5 "$PYTHON" "$NPY" u8.npy lf.h5 --labels lab_float.npy
expect_error npy_missing "no such file" m.h5 "$PYTHON" "$NPY" nothere.npy m.h5
expect_error npy_junk "junk.npy" j.h5 "$PYTHON" "$NPY" junk.npy j.h5
expect_error npy_k_without_labels "--labels" k.h5 "$PYTHON" "$NPY" u8.npy k.h5 --num-classes 4
# a failing conversion leaves an existing OUT untouched
cp u8.h5 keep.h5 && sum_before=$(md5sum <keep.h5)
"$PYTHON" "$NPY" nan.npy keep.h5 >/dev/null 2>&1
if [ "$(md5sum <keep.h5)" = "$sum_before" ] && [ ! -e keep.h5.tmp ]; then
    record npy_keeps_old ""
else
    record npy_keeps_old "a failed conversion changed the existing OUT or left OUT.tmp"
fi

# ---------------------------------------------------------------- the real data, if installed
if [ -d "$REAL_SRC" ]; then
    t0=$(date +%s%N)
    expect_ok real_prepare "$PYTHON" "$PREP" --src "$REAL_SRC" --out real
    t1=$(date +%s%N)
    check real_check '
import gzip, os, sys, h5py, numpy as np
src, bad = sys.argv[1], []
for split, prefix, n in (("train", "train", 60000), ("test", "t10k", 10000)):
    def raw(kind, off):
        base = os.path.join(src, "%s-%s" % (prefix, kind))
        op = gzip.open if os.path.exists(base + ".gz") else open
        with op(base + ".gz" if op is gzip.open else base, "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=off)
    img = raw("images-idx3-ubyte", 16).reshape(n, 1, 28, 28)
    lab = raw("labels-idx1-ubyte", 8)
    with h5py.File("real/fashion-mnist-%s.h5" % split, "r") as f:
        im, lb, a = f["images"], f["labels"], f.attrs
        if im.shape != (n, 1, 28, 28) or im.chunks != (1, 1, 28, 28) or im.dtype != np.uint8:
            bad.append("%s: /images %s %s chunks %s" % (split, im.dtype, im.shape, im.chunks))
        elif not np.array_equal(im[()], img):
            bad.append("%s: pixels differ from the IDX file" % split)
        l = lb[()]
        hist = np.bincount(l, minlength=10).tolist()
        print("%s: %d images, labels per class %s" % (split, l.shape[0], hist))
        if hist != [n // 10] * 10: bad.append("%s: label histogram %s" % (split, hist))
        if not np.array_equal(l, lab): bad.append("%s: labels differ from the IDX file" % split)
        if int(a["count"]) != n or a["shape"].tolist() != [1, 28, 28] or int(a["num_classes"]) != 10:
            bad.append("%s: attributes count %s shape %s" % (split, a["count"], a["shape"]))
for b in bad: print(b)
raise SystemExit(1 if bad else 0)
' "$REAL_SRC"
    sed 's/^/    /' "$W/real_check.out"
    sed 's/^/    /' "$W/real_prepare.out"
    echo "real conversion of $REAL_SRC: $(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f", ns / 1e9 }') s" \
        "(wall clock, including interpreter start-up)"
else
    echo "real conversion skipped: $REAL_SRC not found (apt-get install dataset-fashion-mnist)"
fi

[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "RESULT prepare: $pass checks passed, $fail failed"
[ "$fail" -eq 0 ]
