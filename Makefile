# psoffload - one Makefile builds everything into build/.
#   make            BPF objects, skeletons, host tools, tests
#   make test       every test suite (needs root)
#   make bench      benchmarks
#   make clean

BUILD      ?= build
MULTIARCH  := $(shell gcc -print-multiarch)
CLANG      ?= clang
BPFTOOL    ?= bpftool
CC         ?= gcc

# Capacity overrides, e.g. make PSO_DEFINES='-DPSO_MAX_TOPICS=65536'
PSO_DEFINES ?=

BPF_CFLAGS := -O2 -g -target bpf -Wall -Werror -I/usr/include/$(MULTIARCH) -Ibpf $(PSO_DEFINES)
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
LIB_SRCS   := offload/pso_check.c
LIB_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(TESTLIB_SRCS))
TEST_SRCS  := $(wildcard tests/unit/*.c tests/net/*.c)
TEST_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

.PHONY: all bpf test clean
all: bpf $(TEST_BINS)
bpf: $(BPF_OBJS) $(SKELS)

$(BUILD)/bpf/psoffload_xdp.bpf.o: bpf/psoffload_xdp.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_DRV_CFLAGS) -c $< -o $@
$(BUILD)/bpf/psoffload_xdp_offload.bpf.o: bpf/psoffload_xdp.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_OFFLOAD_CFLAGS) -c $< -o $@
$(BUILD)/bpf/psoffload_tc.bpf.o: bpf/psoffload_tc.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_DRV_CFLAGS) -c $< -o $@
$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: %.c $(BPF_HDRS) $(SKELS) $(wildcard offload/*.h host/*.h tests/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIB_OBJS) $(TESTLIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(TEST_LDLIBS)

$(BUILD)/bpf:
	mkdir -p $@

test: all
	tests/run_all.sh $(BUILD)

clean:
	rm -rf $(BUILD)
