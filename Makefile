# fmtrain - build, test, demo, install.  `make help` lists the targets.
#
# Dependencies come from Debian packages (`make deps` installs what is missing).
# OpenBLAS: the OpenMP build is pinned explicitly (Debian's default alternative is the
# pthread build, whose threads fight libgomp's for the cores).

CC       := mpicc
PYTHON   ?= /usr/bin/python3
PREFIX   ?= /usr/local
BLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
PKGCONF  := PKG_CONFIG_PATH=$(BLAS_DIR)/pkgconfig pkg-config
PKGS     := hdf5-serial openblas inih

# SAN=1 builds everything with AddressSanitizer + UndefinedBehaviorSanitizer into build-san/.
ifeq ($(SAN),1)
BUILD    := build-san
OPTFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
BUILD    := build
OPTFLAGS := -O2 -g
endif

CFLAGS  := -std=c11 -Wall -Wextra $(OPTFLAGS) -fno-trapping-math -fno-math-errno -fopenmp -Iinclude -DFM_BUILD_FLAGS='"$(OPTFLAGS)"' \
           $(shell $(PKGCONF) --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LDFLAGS := $(OPTFLAGS) -fopenmp -Wl,-rpath,$(BLAS_DIR)
LDLIBS  := $(shell $(PKGCONF) --libs $(PKGS) 2>/dev/null) -lm

LIB_SRC := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_NAMES := config dataset ckpt
REPLAY_BIN := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz_replay_%)
MPI_TEST_BIN := $(BUILD)/tests/dist_check # run under mpirun by tests/test_dist.sh
BIN     := $(BUILD)/fmtrain

# Packages a fresh Debian 12 machine lacks (apt-get names).
DEB_PKGS := build-essential pkg-config libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools \
            libopenblas-openmp-dev librandom123-dev libinih-dev python3-h5py python3-numpy \
            python3-matplotlib dataset-fashion-mnist procps slurmctld slurmd slurm-client munge python3-torch

.PHONY: all deps test test-slurm demo install clean san help data bench bench-conv fuzz fuzz-check

all: $(BIN) $(TEST_BIN) $(REPLAY_BIN) $(MPI_TEST_BIN)

help:
	@echo "make deps      install missing Debian packages (idempotent; needs root)"
	@echo "make           build $(BIN) and the tests"
	@echo "make test      build and run the test suite (ends with 'N passed, N failed')"
	@echo "make test-slurm deps + build + the job scripts under a real one-node Slurm (tests/test_slurm.sh, under a minute; also in make test)"
	@echo "make demo      deps + build + a 2-rank training on 'moons', samples and PNG plots"
	@echo "make san       AddressSanitizer+UBSan build of everything into build-san/ and run the tests"
	@echo "make bench     fmtrain vs PyTorch (installs python3-torch if missing): throughput, GFLOP/s, memory, scaling"
	@echo "make bench-conv  the 3x3 convolution forward: direct tiles vs Winograd, at 1 and 2 threads"
	@echo "make fuzz      libFuzzer harnesses (clang) into build-fuzz/; run them with tests/fuzz/run.sh SECONDS"
	@echo "make data      convert Debian's Fashion-MNIST into data/fashion-mnist-{train,test}.h5"
	@echo "make install   install fmtrain and the scripts under PREFIX=$(PREFIX)"
	@echo "make clean     remove build outputs"

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -q && $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	else echo "deps: all installed"; fi

$(BUILD)/obj/%.o: src/%.c $(wildcard include/fm/*.h) $(wildcard src/*.h) | $(BUILD)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libfm.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BIN): $(BUILD)/obj/main.o $(BUILD)/libfm.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(BUILD)/libfm.a | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itests $< $(BUILD)/libfm.a $(LDFLAGS) $(LDLIBS) -o $@

# the fuzz harnesses as ordinary programs over files (tests/test_fuzz_replay.sh)
$(BUILD)/tests/fuzz_replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c tests/fuzz/fuzz_h5common.h $(BUILD)/libfm.a | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itests/fuzz $< tests/fuzz/replay_main.c $(BUILD)/libfm.a $(LDFLAGS) $(LDLIBS) -o $@

# libFuzzer harnesses (clang; no MPI: the readers and the parser do not use it). `make fuzz`
# builds them into build-fuzz/; tests/fuzz/run.sh SECONDS runs each over its seed corpus.
FUZZ_SRC := common config h5io mlp layers toy rng path train_opts
FUZZ_CFLAGS := -std=c11 -g -O1 -Wno-pass-failed -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fopenmp \
               -Iinclude -Itests/fuzz $(shell $(PKGCONF) --cflags $(PKGS) 2>/dev/null)
fuzz: $(FUZZ_NAMES:%=build-fuzz/fuzz_%)
build-fuzz/obj/%.o: | fuzz-check
fuzz-check:
	@command -v clang >/dev/null || { echo "make fuzz needs clang: apt-get install clang"; exit 1; }
build-fuzz/obj/%.o: src/%.c $(wildcard include/fm/*.h) | build-fuzz/obj
	clang $(FUZZ_CFLAGS) -c $< -o $@
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_h5common.h $(FUZZ_SRC:%=build-fuzz/obj/%.o)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_SRC:%=build-fuzz/obj/%.o) -Wl,-rpath,$(BLAS_DIR) $(LDLIBS) -o $@
build-fuzz/obj:
	mkdir -p $@

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

test: all
	BUILD=$(BUILD) PYTHON=$(PYTHON) bash tests/run.sh

# The job scripts under a real one-node Slurm (slurmctld, slurmd, slurm-client and munge come
# with `make deps`), alone and with its output; `make test` runs it too. Environment as tests/run.sh's.
test-slurm: deps
	$(MAKE) all
	FMTRAIN=$(CURDIR)/$(BIN) PYTHON=$(PYTHON) MPIRUN="mpirun --oversubscribe --timeout 240" OMP_NUM_THREADS=1 \
	  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 bash tests/test_slurm.sh

san:
	$(MAKE) SAN=1 test

demo: deps
	$(MAKE) all
	BUILD=$(BUILD) PYTHON=$(PYTHON) bash scripts/demo.sh

# The benchmark: python3-torch is the peer (installed here if missing; without it the PyTorch
# columns are skipped with a message), Fashion-MNIST the image MLP's data.
bench: all data
	@dpkg-query -W -f='$${Status}' python3-torch 2>/dev/null | grep -q "install ok installed" || { \
	  echo "bench: installing python3-torch (the PyTorch peer)"; export DEBIAN_FRONTEND=noninteractive; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get install -y -q --no-install-recommends python3-torch || echo "bench: python3-torch unavailable"; }
	$(PYTHON) scripts/bench.py --fmtrain $(BIN) $(BENCH_ARGS)

bench-conv: $(BUILD)/bench_conv
	OMP_NUM_THREADS=1 $(BUILD)/bench_conv && OMP_NUM_THREADS=2 $(BUILD)/bench_conv

$(BUILD)/bench_conv: tests/bench_conv.c $(BUILD)/libfm.a
	$(CC) $(CFLAGS) $< $(BUILD)/libfm.a $(LDFLAGS) $(LDLIBS) -o $@

data: data/fashion-mnist-train.h5

data/fashion-mnist-train.h5: scripts/prepare_fashion_mnist.py scripts/npy_to_h5.py
	$(PYTHON) scripts/prepare_fashion_mnist.py --out data

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/fmtrain/scripts
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/fmtrain
	install -m 755 scripts/*.py $(DESTDIR)$(PREFIX)/share/fmtrain/scripts/

clean:
	rm -rf build build-san build-fuzz
