# psoffload - one Makefile builds everything into build/.
#   make            BPF objects, skeletons, host tools, tests
#   make test       every test suite (needs root)
#   make bench      benchmarks (bench/run.sh; `make bench-quick`: about a minute)
#   make clean

BUILD      ?= build
MULTIARCH  := $(shell gcc -print-multiarch)
CLANG      ?= clang
BPFTOOL    ?= bpftool
CC         ?= gcc

# Capacity overrides, e.g. make PSO_DEFINES='-DPSO_MAX_TOPICS=65536'
PSO_DEFINES ?=

# Block placement and tail merging off: clang would otherwise move shared
# exit blocks up, or fold identical tails into one, and jump back to them;
# the XDP objects must have no backward jump at all.
BPF_CFLAGS := -O2 -g -target bpf -Wall -Werror -I/usr/include/$(MULTIARCH) -Ibpf $(PSO_DEFINES) \
              -mllvm -disable-block-placement -mllvm -enable-tail-merge=false
# The offload build keeps to the older ISA the NFP JIT implements.
BPF_DRV_CFLAGS     := $(BPF_CFLAGS) -mcpu=v3
BPF_OFFLOAD_CFLAGS := $(BPF_CFLAGS) -mcpu=v2 -DPSO_OFFLOAD

PKGS       := libbpf libnl-3.0 libnl-route-3.0 libnl-genl-3.0 json-c inih
CFLAGS     ?= -O2 -g
CFLAGS     += -Wall -Wextra -Wno-unused-parameter -std=gnu11 -D_GNU_SOURCE \
              -Ibpf -Ioffload -Ihost -Itests/lib -I$(BUILD)/bpf $(PSO_DEFINES) \
              $(shell pkg-config --cflags $(PKGS))
LDLIBS     := $(shell pkg-config --libs $(PKGS)) -lelf -lz
TEST_LDLIBS := $(LDLIBS) -lcmocka

BPF_HDRS   := $(wildcard bpf/*.h)
BPF_OBJS   := $(BUILD)/bpf/psoffload_xdp.bpf.o $(BUILD)/bpf/psoffload_xdp_offload.bpf.o \
              $(BUILD)/bpf/psoffload_tc.bpf.o
SKELS      := $(BPF_OBJS:.bpf.o=.skel.h)

# Test programs: tests/unit/*.c and tests/net/*.c, each linked with tests/lib
# and the project libraries it needs.
# Everything but the CLI's main() is a library the tests link too.
LIB_SRCS   := $(wildcard offload/*.c) $(filter-out host/cmd/main.c,$(wildcard host/*/*.c))
LIB_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
# An archive: each program links only the modules it uses.
LIB        := $(BUILD)/libpsoffload.a
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(TESTLIB_SRCS))
TEST_SRCS  := $(wildcard tests/unit/*.c tests/net/*.c)
TEST_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
# Small BPF objects the tests load or inspect (tests/bpf/*.bpf.c).
TEST_BPF_OBJS := $(patsubst tests/bpf/%.bpf.c,$(BUILD)/tests/bpf/%.bpf.o,$(wildcard tests/bpf/*.bpf.c))

.PHONY: all bpf test demo deps clean
# Keep intermediate objects between runs.
.SECONDARY:
all: bpf $(BUILD)/psoffload $(TEST_BINS)
bpf: $(BPF_OBJS) $(SKELS)

$(BUILD)/psoffload: $(BUILD)/obj/host/cmd/main.o $(LIB)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(LIB): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

# The data plane is held to -Wextra as well; the fixtures in tests/bpf/ and
# bench/, also built with BPF_DRV_CFLAGS, are not (their programs ignore ctx).
$(BUILD)/bpf/psoffload_xdp.bpf.o: bpf/psoffload_xdp.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_DRV_CFLAGS) -Wextra -c $< -o $@
$(BUILD)/bpf/psoffload_xdp_offload.bpf.o: bpf/psoffload_xdp.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_OFFLOAD_CFLAGS) -Wextra -c $< -o $@
$(BUILD)/bpf/psoffload_tc.bpf.o: bpf/psoffload_tc.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_DRV_CFLAGS) -Wextra -c $< -o $@
$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: %.c $(BPF_HDRS) $(SKELS) $(wildcard offload/*.h host/*/*.h tests/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TESTLIB_OBJS) $(LIB) | $(TEST_BPF_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(TEST_LDLIBS)

$(TEST_BPF_OBJS): $(BUILD)/tests/bpf/%.bpf.o: tests/bpf/%.bpf.c
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_DRV_CFLAGS) -c $< -o $@

# Small C test tools for the end-to-end scripts (tests/tools/*.c).
TOOL_BINS  := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))
all: $(TOOL_BINS)
$(BUILD)/tests/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIB) -o $@ $(LDLIBS)

$(BUILD)/bpf:
	mkdir -p $@

test: all
	tests/run_all.sh $(BUILD)

# Hardware offload on netdevsim in a TCG VM (also part of `make test`):
# downloads and builds cached in $(BUILD)/offload-vm/.
.PHONY: test-offload
test-offload: bpf $(BUILD)/psoffload
	bash tests/offload-vm/run.sh $(BUILD)

# The README's first command: set-up included.
deps:
	bash tests/install-deps.sh

demo:
	bash tests/install-deps.sh
	$(MAKE) all
	bash tests/e2e/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)

# Microbenchmark: per-packet cost of each data-plane path (BPF_PROG_TEST_RUN).
.PHONY: bench-micro
bench-micro: $(BUILD)/bench/microbench
	$(BUILD)/bench/microbench

$(BUILD)/bench/floor_xdp.bpf.o: bench/floor_xdp.bpf.c
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_DRV_CFLAGS) -c $< -o $@
$(BUILD)/bench/floor_xdp.skel.h: $(BUILD)/bench/floor_xdp.bpf.o
	$(BPFTOOL) gen skeleton $< name floor_xdp > $@.tmp && mv $@.tmp $@
$(BUILD)/bench/microbench: bench/microbench.c tests/lib/netns.c tests/lib/netns.h $(BPF_HDRS) \
                           $(SKELS) $(BUILD)/bench/floor_xdp.skel.h
	$(CC) $(CFLAGS) -I$(BUILD)/bench bench/microbench.c tests/lib/netns.c -o $@ $(LDLIBS)

# ---- Benchmarks (bench/): `make bench`, `make bench-quick`; never in `make test`.
BENCH_CFLAGS := $(CFLAGS) -I$(BUILD)/bench -Ibench
BENCH_LIB    := bench/benchlib.c bench/benchlib.h bench/loadgen.h

$(BUILD)/bench/loadgen.bpf.o: bench/loadgen.bpf.c bench/loadgen.h
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_DRV_CFLAGS) -Ibench -c $< -o $@
$(BUILD)/bench/loadgen.skel.h: $(BUILD)/bench/loadgen.bpf.o
	$(BPFTOOL) gen skeleton $< name loadgen > $@.tmp && mv $@.tmp $@
$(BUILD)/bench/loadgen: bench/loadgen.c $(BENCH_LIB) $(BUILD)/bench/loadgen.skel.h $(LIB)
	$(CC) $(BENCH_CFLAGS) bench/loadgen.c bench/benchlib.c $(LIB) -o $@ $(LDLIBS) -lm
$(BUILD)/bench/pso-baseline: bench/baseline/baseline.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< $(LIB) -o $@ -lpthread
# Clients of the servers users pick instead, one per C client library.
BENCH_CLIENT_SRCS := bench/clients/tcpbench.c bench/benchlib.c
BENCH_LIBS_mosquitto := -lmosquitto
BENCH_LIBS_redis     := -lhiredis
BENCH_LIBS_nats      := -lnats
$(BUILD)/bench/bench-%: bench/clients/%.c $(BENCH_CLIENT_SRCS) bench/clients/tcpbench.h $(BENCH_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -Ibench/clients $< $(BENCH_CLIENT_SRCS) -o $@ $(BENCH_LIBS_$*) -lpthread -lm

# `make bench-quick` (about a minute) and `make bench` (up to 30 minutes):
# bench/run.sh, results under bench/results/<UTC timestamp>/.
BENCH_BINS    := $(BUILD)/psoffload $(BUILD)/bench/loadgen $(BUILD)/bench/pso-baseline \
                 $(BUILD)/bench/microbench $(BUILD)/bench/floor_xdp.bpf.o
BENCH_CLIENTS := $(BUILD)/bench/bench-mosquitto $(BUILD)/bench/bench-redis $(BUILD)/bench/bench-nats
.PHONY: bench bench-quick
bench-quick:
	bash bench/install-deps.sh --quick
	$(MAKE) $(BENCH_BINS)
	bash bench/run.sh --quick $(BUILD)
bench:
	bash bench/install-deps.sh
	$(MAKE) $(BENCH_BINS) $(BENCH_CLIENTS)
	bash bench/run.sh $(BUILD)
