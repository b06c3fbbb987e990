# psoffload - one Makefile builds everything into build/.
#   make            BPF objects, skeletons, host tools, tests
#   make test       every test suite (needs root)
#   make install    the daemon, the BPF objects, the NIC profiles, the
#                   systemd units, the man pages and, unless one is there,
#                   the settings file (PREFIX=/usr/local, DESTDIR, SBINDIR,
#                   DATADIR, MANDIR, SYSCONFDIR=/etc, UNITDIR)
#   make man        the man pages (docs/man/*.scd, scdoc) into BUILD/man/
#   make deb        a Debian package, BUILD/deb/psoffload_*.deb (debian/)
#   make bench      benchmarks (bench/run.sh; `make bench-quick`: about a minute;
#                   `make bench-scale`: memory and time at 100,000 clients)
#   make fuzz       libFuzzer targets (tests/fuzz/); `make fuzz-run FUZZ_TIME=S`
#   make clean
#
# Variables:
#   CC, CLANG, BPFTOOL, PKG_CONFIG, SCDOC
#                   the tools (gcc, clang, bpftool, pkg-config, scdoc)
#   CFLAGS, CPPFLAGS, LDFLAGS, LDLIBS
#                   the user's: added to what the build needs, never instead
#                   of it (`make CFLAGS=-O0` still finds every header)
#   BUILD=DIR       output directory (default build)
#   V=1             print the full commands
#   WERROR=1        -Werror for the host code too (the BPF code always has it)
#   SANITIZE=1      host code and test programs with ASan and UBSan; BPF
#                   objects are unaffected.  Best in a directory of its own:
#                   make SANITIZE=1 BUILD=build-asan
#   PSO_DEFINES     capacity overrides, e.g. PSO_DEFINES='-DPSO_MAX_TOPICS=65536'
#
# Every object records the headers it includes (-MMD -MP, BUILD/**/*.d), and
# a change of compiler flags (or of DATADIR, SYSCONFDIR or the version, for
# the files that use them) rebuilds what was built with the old ones.
#
# The version: the VERSION file, and `git describe` where the tree is a git
# checkout of its own (psoffload --version).

BUILD      ?= build
# GNU make's own default for CC is cc; the project's is gcc.
ifeq ($(origin CC),default)
CC         := gcc
endif
ifeq ($(origin AR),default)
AR         := ar
endif
CLANG      ?= clang
BPFTOOL    ?= bpftool
PKG_CONFIG ?= pkg-config
SCDOC      ?= scdoc
INSTALL    ?= install
MULTIARCH  ?= $(shell gcc -print-multiarch 2>/dev/null || $(CC) -print-multiarch)

# The user's flags.
CFLAGS     ?= -O2 -g
CPPFLAGS   ?=
LDFLAGS    ?=
LDLIBS     ?=

# Capacity overrides, e.g. make PSO_DEFINES='-DPSO_MAX_TOPICS=65536'
PSO_DEFINES ?=

# Installation.  The daemon finds its profiles relative to its own path
# (host/ctl/profile.c, pso_profile_dir_default): the path from SBINDIR to
# DATADIR is computed here, so that a DESTDIR copy works before it is moved.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
DATADIR    ?= $(PREFIX)/share/psoffload
DATADIR_REL := $(shell realpath -m -s --relative-to='$(SBINDIR)' '$(DATADIR)')
MANDIR     ?= $(PREFIX)/share/man
# The settings file is SYSCONFDIR/psoffload/psoffload.conf, whatever PREFIX.
SYSCONFDIR ?= /etc
# systemd reads /usr/local/lib/systemd/system too; the package says /lib.
UNITDIR    ?= $(PREFIX)/lib/systemd/system

VERSION    := $(shell cat VERSION)
GIT_DESCRIBE := $(shell [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$(CURDIR)" ] && \
                        git describe --tags --always --dirty 2>/dev/null)
PSO_VERSION := $(VERSION)$(if $(GIT_DESCRIBE), (git $(GIT_DESCRIBE)))

ifeq ($(V),1)
Q   :=
msg  =
else
Q   := @
msg  = @printf '  %-7s %s\n' '$(1)' '$(2)'
endif

# ---- flags -------------------------------------------------------------------

# Block placement and tail merging off: clang would otherwise move shared
# exit blocks up, or fold identical tails into one, and jump back to them;
# the XDP objects must have no backward jump at all.
BPF_CFLAGS := -O2 -g -target bpf -Wall -Wextra -Werror -I/usr/include/$(MULTIARCH) -Ibpf $(PSO_DEFINES) \
              -mllvm -disable-block-placement -mllvm -enable-tail-merge=false
# The offload build keeps to the older ISA the NFP JIT implements.
BPF_DRV_CFLAGS     := $(BPF_CFLAGS) -mcpu=v3
BPF_OFFLOAD_CFLAGS := $(BPF_CFLAGS) -mcpu=v2 -DPSO_OFFLOAD

PKGS       := libbpf libnl-3.0 libnl-route-3.0 libnl-genl-3.0 json-c inih libsystemd libmicrohttpd sqlite3 libcurl
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS))

ifeq ($(SANITIZE),1)
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer
endif
ifeq ($(WERROR),1)
HOST_WERROR := -Werror
endif

# What the host build needs; OBJ_CPPFLAGS is set per object (bench/).
# -Wno-unused-parameter: callbacks take parameters they do not use.
PSO_CPPFLAGS := -D_GNU_SOURCE -Ibpf -Ioffload -Ihost -Itests/lib -I$(BUILD)/bpf $(PSO_DEFINES) $(PKG_CFLAGS)
PSO_CFLAGS   := -std=gnu11 -Wall -Wextra -Wno-unused-parameter $(SAN_FLAGS)
OBJ_CPPFLAGS :=
HOST_CFLAGS   = $(PSO_CPPFLAGS) $(OBJ_CPPFLAGS) $(CPPFLAGS) $(PSO_CFLAGS) $(HOST_WERROR) $(CFLAGS)
HOST_LINK     = $(CC) $(PSO_CFLAGS) $(CFLAGS) $(LDFLAGS)
HOST_LDLIBS  := $(PKG_LIBS) -lelf -lz
DEPFLAGS      = -MMD -MP -MF $(@:.o=.d)

# Flag stamps, written while the Makefile is read and only when their text
# changes: every object and program depends on the stamp of its flags
# (compile, link, BPF; DATADIR for profile.o).  -Werror is left
# out (it changes no output).  Not for `make clean` alone.
HOST_STAMP := $(BUILD)/.flags-host
LINK_STAMP := $(BUILD)/.flags-link
BPF_STAMP  := $(BUILD)/.flags-bpf
DIRS_STAMP := $(BUILD)/.install-dirs
VERS_STAMP := $(BUILD)/.version
sq = $(subst ','\'',$(1))
# $(call stamp,FILE,VARIABLE): FILE holds the text of VARIABLE.
stamp = $(shell mkdir -p '$(BUILD)' && printf '%s\n' '$(call sq,$($(2)))' | cmp -s - '$(1)' 2>/dev/null || \
                printf '%s\n' '$(call sq,$($(2)))' >'$(1)')
HOST_STAMP_TEXT = $(CC) $(PSO_CPPFLAGS) $(CPPFLAGS) $(PSO_CFLAGS) $(CFLAGS)
LINK_STAMP_TEXT = $(CC) $(PSO_CFLAGS) $(CFLAGS) $(LDFLAGS) | $(HOST_LDLIBS) $(LDLIBS)
BPF_STAMP_TEXT  = $(CLANG) $(BPF_DRV_CFLAGS) | $(BPF_OFFLOAD_CFLAGS)
DIRS_STAMP_TEXT = $(DATADIR) $(DATADIR_REL) $(SBINDIR) $(SYSCONFDIR)
VERS_STAMP_TEXT = $(PSO_VERSION) | $(SYSCONFDIR)
ifneq ($(filter-out clean,$(or $(MAKECMDGOALS),all)),)
$(call stamp,$(HOST_STAMP),HOST_STAMP_TEXT)
$(call stamp,$(LINK_STAMP),LINK_STAMP_TEXT)
$(call stamp,$(BPF_STAMP),BPF_STAMP_TEXT)
$(call stamp,$(DIRS_STAMP),DIRS_STAMP_TEXT)
$(call stamp,$(VERS_STAMP),VERS_STAMP_TEXT)
endif

# ---- what is built -------------------------------------------------------------

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
# Small C test tools for the end-to-end scripts (tests/tools/*.c).
TOOL_SRCS  := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRCS))
# The systemd units, with the installed paths in (etc/systemd/*.in).
UNITS      := $(BUILD)/etc/systemd/psoffload.service $(BUILD)/etc/systemd/psoffload@.service
# Benchmarks (bench/): built by `make bench*` only.
BENCH_SRCS := $(wildcard bench/*.c bench/baseline/*.c bench/clients/*.c)
BENCH_BPF_OBJS := $(BUILD)/bench/floor_xdp.bpf.o $(BUILD)/bench/floor_tc.bpf.o $(BUILD)/bench/loadgen.bpf.o \
                  $(foreach o,xdp_bench xdp_offload_bench tc_bench xdp_bench_noev tc_bench_noev,\
                    $(BUILD)/bench/psoffload_$(o).bpf.o)

ALL_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,host/cmd/main.c $(LIB_SRCS) $(TESTLIB_SRCS) \
                                                $(TEST_SRCS) $(TOOL_SRCS) $(BENCH_SRCS))

.DEFAULT_GOAL := all
.PHONY: all bpf test demo deps clean install installable deb man
# Keep intermediate objects between runs.
.SECONDARY:
# A recipe that fails leaves no half-written target behind.
.DELETE_ON_ERROR:
all: bpf $(BUILD)/psoffload $(UNITS) $(TEST_BINS) $(TOOL_BINS)
bpf: $(BPF_OBJS) $(SKELS)

# ---- BPF ---------------------------------------------------------------------

$(BUILD)/bpf/psoffload_xdp.bpf.o: bpf/psoffload_xdp.bpf.c $(BPF_STAMP)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(BPF_DRV_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(BUILD)/bpf/psoffload_xdp_offload.bpf.o: bpf/psoffload_xdp.bpf.c $(BPF_STAMP)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(BPF_OFFLOAD_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(BUILD)/bpf/psoffload_tc.bpf.o: bpf/psoffload_tc.bpf.c $(BPF_STAMP)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(BPF_DRV_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(TEST_BPF_OBJS): $(BUILD)/tests/bpf/%.bpf.o: tests/bpf/%.bpf.c $(BPF_STAMP)
	@mkdir -p $(@D)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(BPF_DRV_CFLAGS) $(DEPFLAGS) -c $< -o $@
# The microbenchmark's builds: the product's programs with copies that keep
# their TTL (PSO_BENCH_KEEP_TTL, see pso_fwd_ttl), and the driver build
# without the event stream for the side-by-side figure.
$(BUILD)/bench/psoffload_%_bench.bpf.o: bpf/psoffload_%.bpf.c $(BPF_STAMP)
	@mkdir -p $(@D)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(BPF_DRV_CFLAGS) -DPSO_BENCH_KEEP_TTL $(DEPFLAGS) -c $< -o $@
$(BUILD)/bench/psoffload_xdp_offload_bench.bpf.o: bpf/psoffload_xdp.bpf.c $(BPF_STAMP)
	@mkdir -p $(@D)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(BPF_OFFLOAD_CFLAGS) -DPSO_BENCH_KEEP_TTL $(DEPFLAGS) -c $< -o $@
$(BUILD)/bench/psoffload_%_bench_noev.bpf.o: bpf/psoffload_%.bpf.c $(BPF_STAMP)
	@mkdir -p $(@D)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(BPF_DRV_CFLAGS) -DPSO_BENCH_KEEP_TTL -DPSO_NO_EVENTS $(DEPFLAGS) -c $< -o $@
$(BUILD)/bench/%.bpf.o: bench/%.bpf.c $(BPF_STAMP)
	@mkdir -p $(@D)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) $(BPF_DRV_CFLAGS) -Ibench $(DEPFLAGS) -c $< -o $@
%.skel.h: %.bpf.o
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$(notdir $*)) > $@.tmp && mv $@.tmp $@

$(BPF_OBJS): | $(BUILD)/bpf
$(BUILD)/bpf:
	@mkdir -p $@

# ---- host code ---------------------------------------------------------------

# Every host object: the skeletons exist before the first compile; after
# that the .d files say who includes them.
$(BUILD)/obj/%.o: %.c $(HOST_STAMP) | $(SKELS)
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(HOST_CFLAGS) $(DEPFLAGS) -c $< -o $@

# The installed layout, for the profiles lookup.
$(BUILD)/obj/host/ctl/profile.o: $(DIRS_STAMP)
$(BUILD)/obj/host/ctl/profile.o: OBJ_CPPFLAGS += -DPSO_DATADIR='"$(DATADIR)"' \
                                                -DPSO_DATADIR_REL='"$(DATADIR_REL)"'

# The version and where the settings file is.
# pso_meta's ABI hash: the shared headers as this build has them (pins.h).
PSO_ABI_HASH := $(shell cat bpf/psoffload_abi.h bpf/psoffload_maps.h | cksum | cut -d' ' -f1)
$(BUILD)/obj/host/ctl/pins.o: bpf/psoffload_abi.h bpf/psoffload_maps.h
$(BUILD)/obj/host/ctl/pins.o: OBJ_CPPFLAGS += -DPSO_ABI_HASH=$(PSO_ABI_HASH)u
$(BUILD)/obj/host/cmd/main.o: $(VERS_STAMP)
$(BUILD)/obj/host/cmd/main.o: OBJ_CPPFLAGS += -DPSO_VERSION='"$(call sq,$(PSO_VERSION))"' \
                                             -DPSO_SYSCONFDIR='"$(SYSCONFDIR)"'

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/psoffload: $(BUILD)/obj/host/cmd/main.o $(LIB) $(LINK_STAMP)
	$(call msg,LD,$@)
	$(Q)$(HOST_LINK) $(filter %.o %.a,$^) -o $@ $(HOST_LDLIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TESTLIB_OBJS) $(LIB) $(LINK_STAMP) | $(TEST_BPF_OBJS)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(HOST_LINK) $(filter %.o %.a,$^) -o $@ $(HOST_LDLIBS) -lcmocka $(LDLIBS)

$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIB) $(LINK_STAMP)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(HOST_LINK) $(filter %.o %.a,$^) -o $@ $(HOST_LDLIBS) $(LDLIBS)

# ---- man pages -----------------------------------------------------------------

MAN_PAGES := $(patsubst docs/man/%.scd,$(BUILD)/man/%,$(wildcard docs/man/*.scd))
man: $(MAN_PAGES)
$(BUILD)/man/%: docs/man/%.scd
	@mkdir -p $(@D)
	$(call msg,SCDOC,$@)
	$(Q)$(SCDOC) <$< >$@

# ---- install -----------------------------------------------------------------

# The units name the installed binary and configuration; the part both
# share is etc/systemd/service-common.in.
$(BUILD)/etc/systemd/%.service: etc/systemd/%.service.in etc/systemd/service-common.in $(DIRS_STAMP)
	@mkdir -p $(@D)
	$(call msg,GEN,$@)
	$(Q)sed -e '/^@UNIT_COMMON@$$/{r etc/systemd/service-common.in' -e 'd;}' $< | \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' >$@

# What `make install` copies, built (debian/rules builds it before it
# installs).
installable: $(BUILD)/psoffload $(BPF_OBJS) $(UNITS) $(MAN_PAGES)

# The BPF programs are embedded in the binary (libbpf skeletons,
# BUILD/bpf/*.skel.h): the daemon never reads DATADIR/bpf.  The objects are
# installed for `psoffload check` and for inspection (bpftool, llvm-objdump).
# The settings file is the operator's once it is there: never overwritten.
CONF_DEST := $(DESTDIR)$(SYSCONFDIR)/psoffload/psoffload.conf
install: installable
	$(call msg,INSTALL,$(DESTDIR)$(SBINDIR)/psoffload)
	$(Q)$(INSTALL) -d '$(DESTDIR)$(SBINDIR)' '$(DESTDIR)$(DATADIR)/bpf' '$(DESTDIR)$(DATADIR)/nic-profiles'
	$(Q)$(INSTALL) -m 755 $(BUILD)/psoffload '$(DESTDIR)$(SBINDIR)/'
	$(call msg,INSTALL,$(DESTDIR)$(DATADIR)/bpf/)
	$(Q)$(INSTALL) -m 644 $(BPF_OBJS) '$(DESTDIR)$(DATADIR)/bpf/'
	$(call msg,INSTALL,$(DESTDIR)$(DATADIR)/nic-profiles/)
	$(Q)$(INSTALL) -m 644 $(wildcard nic-profiles/*) '$(DESTDIR)$(DATADIR)/nic-profiles/'
	$(call msg,INSTALL,$(DESTDIR)$(MANDIR)/man5/ man8/)
	$(Q)$(INSTALL) -d '$(DESTDIR)$(MANDIR)/man5' '$(DESTDIR)$(MANDIR)/man8'
	$(Q)$(INSTALL) -m 644 $(filter %.5,$(MAN_PAGES)) '$(DESTDIR)$(MANDIR)/man5/'
	$(Q)$(INSTALL) -m 644 $(filter %.8,$(MAN_PAGES)) '$(DESTDIR)$(MANDIR)/man8/'
	$(Q)if [ -e '$(CONF_DEST)' ]; then \
		echo '  (kept   $(CONF_DEST): it is there already)'; \
	else \
		printf '  %-7s %s\n' INSTALL '$(CONF_DEST)'; \
		$(INSTALL) -d '$(dir $(CONF_DEST))' && $(INSTALL) -m 644 etc/psoffload.conf '$(CONF_DEST)'; \
	fi
	$(call msg,INSTALL,$(DESTDIR)$(UNITDIR)/)
	$(Q)$(INSTALL) -d '$(DESTDIR)$(UNITDIR)'
	$(Q)$(INSTALL) -m 644 $(UNITS) '$(DESTDIR)$(UNITDIR)/'

# ---- Debian package ------------------------------------------------------------

# dpkg-buildpackage writes its output beside the source tree, so the
# package is built from a copy in BUILD/deb/src (the files git knows,
# committed or not, or without git everything but the build outputs):
# BUILD/deb/psoffload_VERSION_ARCH.deb.  debian/rules: PREFIX=/usr.
DEB_DIR := $(BUILD)/deb
deb:
	$(Q)v=$$(dpkg-parsechangelog -S Version) && \
	if [ -f VERSION ] && [ "$$v" != "$$(cat VERSION)" ]; then \
		echo "make deb: debian/changelog says $$v, VERSION says $$(cat VERSION): add a changelog entry"; \
		exit 1; \
	fi
	$(call msg,COPY,$(DEB_DIR)/src)
	$(Q)rm -rf '$(DEB_DIR)' && mkdir -p '$(DEB_DIR)/src'
	$(Q)if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z -co --exclude-standard | \
			xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
			tar --null -T - -cf - ; \
	else \
		tar --exclude='./build*' --exclude=./bench/results --exclude=./.git -cf - . ; \
	fi | tar -C '$(DEB_DIR)/src' -xf -
	$(call msg,DPKG,$(DEB_DIR)/psoffload_*.deb)
	$(Q)cd '$(DEB_DIR)/src' && dpkg-buildpackage -b -us -uc $(if $(filter 1,$(V)),,>../build.log 2>&1) || \
		{ tail -n 30 ../build.log 2>/dev/null; echo "make deb: dpkg-buildpackage failed; the log: $(DEB_DIR)/build.log"; exit 1; }
	$(Q)ls '$(DEB_DIR)'/psoffload_*.deb

# ---- tests, demo -------------------------------------------------------------

test: all
	tests/run_all.sh $(BUILD)

# Hardware offload on netdevsim in a TCG VM (also part of `make test`):
# downloads and builds cached in $(BUILD)/offload-vm/.
.PHONY: test-offload
test-offload: bpf $(BUILD)/psoffload
	bash tests/offload-vm/run.sh $(BUILD)

# ---- fuzzing (tests/fuzz/): `make fuzz` builds the libFuzzer targets,
# `make fuzz-run FUZZ_TIME=SECONDS` runs each that long (tests/fuzz/run.sh).
# Built by clang with libFuzzer, ASan and UBSan, from the sources they test:
# the codec alone, and the whole protocol layer (its own log stub).
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer -std=gnu11 -Wall -Wextra -Wno-unused-parameter \
               -D_GNU_SOURCE -Ibpf -Ihost $(PSO_DEFINES)
FUZZ_HDRS   := $(wildcard host/proto/*.h host/util/*.h) bpf/psoffload_abi.h
FUZZ_BINS   := $(BUILD)/fuzz/fuzz_mqttsn $(BUILD)/fuzz/fuzz_proto
FUZZ_TIME   ?= 60
.PHONY: fuzz fuzz-run
fuzz: $(FUZZ_BINS)
fuzz-run: $(FUZZ_BINS)
	bash tests/fuzz/run.sh $(BUILD) $(FUZZ_TIME)
$(BUILD)/fuzz/fuzz_mqttsn: tests/fuzz/fuzz_mqttsn.c host/proto/mqttsn.c $(FUZZ_HDRS)
$(BUILD)/fuzz/fuzz_proto: tests/fuzz/fuzz_proto.c $(wildcard host/proto/*.c) \
                          host/util/endpoint.c host/util/ratelimit.c $(FUZZ_HDRS)
$(FUZZ_BINS):
	@mkdir -p $(@D)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(HOST_WERROR) $(filter %.c,$^) -o $@

# The README's first command: set-up included.
deps:
	bash tests/install-deps.sh

demo:
	bash tests/install-deps.sh
	$(MAKE) all
	bash tests/e2e/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)

# ---- Benchmarks (bench/): `make bench`, `make bench-quick`; never in `make test`.

$(BUILD)/obj/bench/%.o: OBJ_CPPFLAGS += -I$(BUILD)/bench -Ibench
$(BUILD)/obj/bench/clients/%.o: OBJ_CPPFLAGS += -Ibench/clients
$(BUILD)/obj/bench/microbench.o: | $(BUILD)/bench/floor_xdp.skel.h $(BUILD)/bench/floor_tc.skel.h \
	$(foreach o,xdp_bench xdp_offload_bench tc_bench xdp_bench_noev tc_bench_noev,\
	  $(BUILD)/bench/psoffload_$(o).skel.h)
$(BUILD)/obj/bench/loadgen.o: | $(BUILD)/bench/loadgen.skel.h

# Memory and time at scale: pinned maps and daemon RSS at 1k/10k/100k
# clients and 1k/65k topics, connect and subscribe times (bench/scale.sh).
.PHONY: bench-scale
bench-scale: all
	bash bench/scale.sh $(BUILD)

# Microbenchmark: per-packet cost of each data-plane path (BPF_PROG_TEST_RUN).
.PHONY: bench-micro
bench-micro: $(BUILD)/bench/microbench
	$(BUILD)/bench/microbench

$(BUILD)/bench/microbench: $(BUILD)/obj/bench/microbench.o $(BUILD)/obj/tests/lib/netns.o $(LINK_STAMP)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(HOST_LINK) $(filter %.o,$^) -o $@ $(HOST_LDLIBS) $(LDLIBS)
$(BUILD)/bench/loadgen: $(BUILD)/obj/bench/loadgen.o $(BUILD)/obj/bench/benchlib.o $(LIB) $(LINK_STAMP)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(HOST_LINK) $(filter %.o %.a,$^) -o $@ $(HOST_LDLIBS) -lm $(LDLIBS)
# Control-plane rate: CONNECT+SUBSCRIBE per second (bench/ctlrate.c).
$(BUILD)/bench/ctlrate: $(BUILD)/obj/bench/ctlrate.o $(LIB) $(LINK_STAMP)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(HOST_LINK) $(filter %.o %.a,$^) -o $@ $(HOST_LDLIBS) $(LDLIBS)
# The table writer at scale: join/leave on a topic of 4,096 (bench/tablebench.c).
$(BUILD)/bench/tablebench: $(BUILD)/obj/bench/tablebench.o $(LIB) $(LINK_STAMP)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(HOST_LINK) $(filter %.o %.a,$^) -o $@ $(HOST_LDLIBS) $(LDLIBS)
$(BUILD)/bench/pso-baseline: $(BUILD)/obj/bench/baseline/baseline.o $(LIB) $(LINK_STAMP)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(HOST_LINK) $(filter %.o %.a,$^) -o $@ -lpthread $(LDLIBS)
# Clients of the servers users pick instead, one per C client library.
BENCH_LIBS_mosquitto := -lmosquitto
BENCH_LIBS_redis     := -lhiredis
BENCH_LIBS_nats      := -lnats
$(BUILD)/bench/bench-%: $(BUILD)/obj/bench/clients/%.o $(BUILD)/obj/bench/clients/tcpbench.o \
                        $(BUILD)/obj/bench/benchlib.o $(LINK_STAMP)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(HOST_LINK) $(filter %.o,$^) -o $@ $(BENCH_LIBS_$*) -lpthread -lm $(LDLIBS)

# `make bench-quick` (about a minute) and `make bench` (up to 30 minutes):
# bench/run.sh, results under bench/results/<UTC timestamp>/.
BENCH_BINS    := $(BUILD)/psoffload $(BUILD)/bench/loadgen $(BUILD)/bench/pso-baseline $(BUILD)/bench/ctlrate \
                 $(BUILD)/bench/microbench $(BUILD)/bench/floor_xdp.bpf.o $(BUILD)/bench/floor_tc.bpf.o \
                 $(BUILD)/bench/tablebench
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

# The headers each object was built from (-MMD -MP).
-include $(ALL_OBJS:.o=.d) $(BPF_OBJS:.o=.d) $(TEST_BPF_OBJS:.o=.d) $(BENCH_BPF_OBJS:.o=.d)
