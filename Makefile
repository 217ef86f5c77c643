# ipt2bpf — plain GNU make.  `make` builds, `make check` runs every test,
# `make demo` shows the main job, `make deps` installs Debian packages.
#
# O=DIR puts every output under DIR (default build); SAN=1 builds with
# ASan/UBSan (check.sh uses O=build-asan SAN=1).

# make predefines CC=cc, so `?=` alone would never pick gcc.
ifeq ($(origin CC),default)
CC	:= gcc
endif
O	?= build
SAN	?=
PREFIX	?= /usr/local
DESTDIR	?=
FUZZ_SECONDS ?= 60
KCONFIG	?=

# `override` so that `make CFLAGS=-O0` still gets the flags the build needs.
CFLAGS	?= -O2 -g
override CFLAGS += -std=gnu17 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP -I.
ifeq ($(SAN),1)
override CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=address,undefined
endif
LIBS	:= -lbpf -lelf -lz -lmnl

# codegen/*_bpf.c is BPF C (clang -target bpf, below), not host code; umh/daemon_main.c
# is the daemon's main().
LIB_SRCS  := $(wildcard translator/*.c) $(filter-out %_bpf.c,$(wildcard codegen/*.c)) \
	     $(filter-out umh/daemon_main.c,$(wildcard umh/*.c))
CLI_SRCS  := $(wildcard cli/*.c)
SHIM_SRCS := $(wildcard xtables-shim/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
TOOL_SRCS := $(wildcard tests/tools/*.c)

LIB_OBJS  := $(LIB_SRCS:%.c=$(O)/%.o) $(O)/codegen/ct_blob.o
CLI_OBJS  := $(CLI_SRCS:%.c=$(O)/%.o)
SHIM_OBJS := $(SHIM_SRCS:%.c=$(O)/pic/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(O)/tests/%)

# Debian 12 packages: build and run dependencies, then what the tests and the
# demo use (clang/libclang-rt: fuzzers and BPF C; socat/ping: demo traffic;
# jq: demo counters; shellcheck/groff: lint step of check.sh; procps: sysctl in the
# test namespaces; util-linux: setpriv/nsenter).
DEPS_BUILD := gcc make clang pkg-config libbpf-dev libelf-dev zlib1g-dev libiptc-dev \
	      libxtables-dev libmnl-dev iptables bpftool iproute2 libcmocka-dev
DEPS_TEST  := clang llvm libclang-rt-14-dev python3 tcpdump kmod strace xxd socat iputils-ping jq \
	      shellcheck groff-base man-db qemu-system-x86 busybox-static cpio xz-utils procps \
	      util-linux
DEPS_STAMP := $(O)/.deps-ok

all: $(O)/ipt2bpf $(O)/libipt2bpf-shim.so $(O)/ipt2bpf-umh

# rm first: `ar r` would keep members of sources that no longer exist.
$(O)/libipt2bpf.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

# --whole-archive: extension modules register through a linker section
# (translator/mod.h), so nothing references them by name.
WHOLE = -Wl,--whole-archive $(O)/libipt2bpf.a -Wl,--no-whole-archive

$(O)/ipt2bpf: $(CLI_OBJS) $(O)/libipt2bpf.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(WHOLE) $(LIBS)

# The helper daemon (drop-in under iptables; also the kernel's bpfilter driver).
$(O)/ipt2bpf-umh: $(O)/umh/daemon_main.o $(O)/libipt2bpf.a
	$(CC) $(LDFLAGS) -o $@ $< $(WHOLE) $(LIBS) -lpthread

ipt2bpf-umh: $(O)/ipt2bpf-umh

# The drop-in's unit tests (tests/dropin/test_*.c: request handling, bpfilter driver loop).
DROPIN_SRCS := $(wildcard tests/dropin/test_*.c)
DROPIN_BINS := $(DROPIN_SRCS:%.c=$(O)/%)

$(DROPIN_BINS): $(O)/%: $(O)/%.o $(O)/libipt2bpf.a
	$(CC) $(LDFLAGS) -o $@ $< $(WHOLE) $(LIBS) -lcmocka -lpthread

dropin-bins: $(DROPIN_BINS)

# The shim is loaded into iptables: position-independent, no sanitizers.
$(O)/libipt2bpf-shim.so: $(SHIM_OBJS) $(O)/pic/translator/ext.o $(O)/pic/translator/mod.o
	$(CC) -shared -o $@ $^ -ldl

$(O)/pic/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(CFLAGS)) -fPIC -c -o $@ $<

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# The connection tracker (codegen/ct_bpf.c) is BPF C: built by clang for skb
# and xdp programs, embedded by codegen/ct_blob.S, spliced in by codegen/ct.c.
BPF_CC	   ?= clang
BPF_CFLAGS := -target bpf -O2 -Wall -Werror -MMD -MP -I. -I/usr/include/$(shell $(CC) -dumpmachine 2>/dev/null)
$(O)/codegen/ct_tc.bpf.o: codegen/ct_bpf.c
	@mkdir -p $(@D)
	$(BPF_CC) $(BPF_CFLAGS) -c -o $@ $<
$(O)/codegen/ct_xdp.bpf.o: codegen/ct_bpf.c
	@mkdir -p $(@D)
	$(BPF_CC) $(BPF_CFLAGS) -DCT_XDP -c -o $@ $<
$(O)/codegen/ct_blob.o: codegen/ct_blob.S $(O)/codegen/ct_tc.bpf.o $(O)/codegen/ct_xdp.bpf.o
	$(CC) -c -DCT_OBJ_TC='"$(O)/codegen/ct_tc.bpf.o"' -DCT_OBJ_XDP='"$(O)/codegen/ct_xdp.bpf.o"' -o $@ $<

# Static pattern rules: unit tests and tools share $(O)/tests/, so each list
# gets its own recipe instead of two competing implicit rules.
# tests/unit/rig.c: the IR and packet builders the BPF unit tests share.
UNIT_RIG := $(O)/tests/unit/rig.o
$(UNIT_BINS): $(O)/tests/%: $(O)/tests/unit/%.o $(UNIT_RIG) $(O)/libipt2bpf.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(UNIT_RIG) $(WHOLE) $(LIBS) -lcmocka

# The differential-test tools (tests/diff/run.sh) use nothing from the
# library: they link alone and stay buildable while it is not.
STANDALONE_TOOLS := $(O)/tests/rulegen $(O)/tests/kdiff $(O)/tests/benchgen $(O)/tests/benchsend

$(filter-out $(STANDALONE_TOOLS),$(TOOL_BINS)): $(O)/tests/%: $(O)/tests/tools/%.o $(O)/libipt2bpf.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(WHOLE) $(LIBS)

$(STANDALONE_TOOLS): $(O)/tests/%: $(O)/tests/tools/%.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^

tools: $(TOOL_BINS)
unit-bins: $(UNIT_BINS)

# ---------------------------------------------------------------- deps
deps:
	@bash scripts/deps.sh $(DEPS_BUILD) $(DEPS_TEST)

# Re-checked when the package lists change; deps.sh is a no-op when all is there.
$(DEPS_STAMP): Makefile scripts/deps.sh
	@bash scripts/deps.sh $(DEPS_BUILD) $(DEPS_TEST)
	@mkdir -p $(@D) && touch $@

# ---------------------------------------------------------------- tests
# check, fuzz and demo install what is missing first, then build in a
# sub-make so that `make -j` cannot compile before gcc and the headers exist.
check: $(DEPS_STAMP)
	@O=$(O) bash scripts/check.sh

unit: all unit-bins
	@bash scripts/run-unit.sh $(O)

fuzz: $(DEPS_STAMP)
	@O=$(O) bash scripts/fuzz.sh $(FUZZ_SECONDS)

demo: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory all
	@O=$(O) bash scripts/demo.sh

bench: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory all tools
	@O=$(O) bash scripts/bench.sh
	@bash scripts/bench-dropin.sh
	@O=$(O) bash scripts/bench-ct.sh

# The kernel regression harness (scripts/qemu-check: the suite on the host and
# on Debian's kernels in QEMU) and the kernel's bpfilter path (scripts/qemu-umh:
# a 6.1 kernel built with our user mode driver; slow, not in check).
qemu-check: $(DEPS_STAMP)
	@bash scripts/qemu-check

qemu-umh: $(DEPS_STAMP)
	@bash scripts/qemu-umh

# The traffic checker of tests/qemu/traffic.sh, static: it runs in the guest too.
$(O)/tests/qemu-probe: tests/qemu/probe.c
	@mkdir -p $(@D)
	$(CC) $(filter-out -fsanitize=% -fno-sanitize-recover=% -MMD -MP,$(CFLAGS)) -static -o $@ $<

kconfig-check:
	@bash scripts/check-kconfig.sh $(KCONFIG)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# SYSTEMDUNITDIR: where the unit goes (under DESTDIR); the wrapper and the unit
# get PREFIX written in.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

install: all
	install -D -m 0755 $(O)/ipt2bpf $(DESTDIR)$(PREFIX)/sbin/ipt2bpf
	install -D -m 0755 $(O)/ipt2bpf-umh $(DESTDIR)$(PREFIX)/sbin/ipt2bpf-umh
	install -D -m 0644 $(O)/libipt2bpf-shim.so $(DESTDIR)$(PREFIX)/lib/ipt2bpf/libipt2bpf-shim.so
	sed 's|@SHIM@|$(PREFIX)/lib/ipt2bpf/libipt2bpf-shim.so|' scripts/iptables-bpf \
		>$(O)/iptables-bpf.installed
	install -D -m 0755 $(O)/iptables-bpf.installed $(DESTDIR)$(PREFIX)/sbin/iptables-bpf
	ln -sf iptables-bpf $(DESTDIR)$(PREFIX)/sbin/iptables-bpf-save
	ln -sf iptables-bpf $(DESTDIR)$(PREFIX)/sbin/iptables-bpf-restore
	install -D -m 0755 scripts/alternatives.sh $(DESTDIR)$(PREFIX)/lib/ipt2bpf/alternatives.sh
	install -D -m 0644 doc/ipt2bpf.8 $(DESTDIR)$(PREFIX)/share/man/man8/ipt2bpf.8
	install -D -m 0644 doc/ipt2bpf-security.7 $(DESTDIR)$(PREFIX)/share/man/man7/ipt2bpf-security.7
	install -D -m 0644 doc/ipt2bpf-umh.8 $(DESTDIR)$(PREFIX)/share/man/man8/ipt2bpf-umh.8
	install -D -m 0644 doc/iptables-bpf.8 $(DESTDIR)$(PREFIX)/share/man/man8/iptables-bpf.8
	sed 's|@PREFIX@|$(PREFIX)|g' scripts/ipt2bpf-umh.service >$(O)/ipt2bpf-umh.service.installed
	install -D -m 0644 $(O)/ipt2bpf-umh.service.installed \
		$(DESTDIR)$(SYSTEMDUNITDIR)/ipt2bpf-umh.service

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/ipt2bpf $(DESTDIR)$(PREFIX)/sbin/ipt2bpf-umh \
	      $(DESTDIR)$(PREFIX)/sbin/iptables-bpf $(DESTDIR)$(PREFIX)/sbin/iptables-bpf-save \
	      $(DESTDIR)$(PREFIX)/sbin/iptables-bpf-restore \
	      $(DESTDIR)$(PREFIX)/lib/ipt2bpf/libipt2bpf-shim.so \
	      $(DESTDIR)$(PREFIX)/lib/ipt2bpf/alternatives.sh \
	      $(DESTDIR)$(PREFIX)/share/man/man8/ipt2bpf.8 \
	      $(DESTDIR)$(PREFIX)/share/man/man7/ipt2bpf-security.7 \
	      $(DESTDIR)$(PREFIX)/share/man/man8/ipt2bpf-umh.8 \
	      $(DESTDIR)$(PREFIX)/share/man/man8/iptables-bpf.8 \
	      $(DESTDIR)$(SYSTEMDUNITDIR)/ipt2bpf-umh.service
	-rmdir $(DESTDIR)$(PREFIX)/lib/ipt2bpf

clean:
	rm -rf $(O) build-asan

.PHONY: all deps check unit fuzz demo bench kconfig-check format install uninstall clean tools \
	unit-bins ipt2bpf-umh dropin-bins \
	qemu-check qemu-umh

-include $(O)/codegen/ct_tc.bpf.d $(O)/codegen/ct_xdp.bpf.d
-include $(patsubst %.o,%.d,$(LIB_OBJS) $(CLI_OBJS) $(SHIM_OBJS) $(O)/umh/daemon_main.o \
	   $(DROPIN_BINS:%=%.o) $(O)/pic/translator/ext.o $(O)/pic/translator/mod.o \
	   $(UNIT_BINS:$(O)/tests/%=$(O)/tests/unit/%.o) $(UNIT_RIG) $(TOOL_BINS:$(O)/tests/%=$(O)/tests/tools/%.o))
