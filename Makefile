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

LIB_SRCS  := $(wildcard translator/*.c) $(wildcard codegen/*.c) $(wildcard umh/*.c)
CLI_SRCS  := $(wildcard cli/*.c)
SHIM_SRCS := $(wildcard xtables-shim/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
TOOL_SRCS := $(wildcard tests/tools/*.c)

LIB_OBJS  := $(LIB_SRCS:%.c=$(O)/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(O)/%.o)
SHIM_OBJS := $(SHIM_SRCS:%.c=$(O)/pic/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(O)/tests/%)

# Debian 12 packages: build and run dependencies, then what the tests and the
# demo use (clang/libclang-rt: fuzzers and BPF C; socat/ping: demo traffic;
# jq: demo counters; shellcheck/groff: lint step of check.sh).
DEPS_BUILD := gcc make pkg-config libbpf-dev libelf-dev zlib1g-dev libiptc-dev \
	      libxtables-dev libmnl-dev iptables bpftool iproute2 libcmocka-dev
DEPS_TEST  := clang llvm libclang-rt-14-dev python3 tcpdump kmod strace xxd socat iputils-ping jq \
	      shellcheck groff-base man-db
DEPS_STAMP := $(O)/.deps-ok

all: $(O)/ipt2bpf $(O)/libipt2bpf-shim.so

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

# The shim is loaded into iptables: position-independent, no sanitizers.
$(O)/libipt2bpf-shim.so: $(SHIM_OBJS) $(O)/pic/translator/ext.o $(O)/pic/translator/mod.o
	$(CC) -shared -o $@ $^ -ldl

$(O)/pic/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(CFLAGS)) -fPIC -c -o $@ $<

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# Static pattern rules: unit tests and tools share $(O)/tests/, so each list
# gets its own recipe instead of two competing implicit rules.
$(UNIT_BINS): $(O)/tests/%: $(O)/tests/unit/%.o $(O)/libipt2bpf.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(WHOLE) $(LIBS) -lcmocka

# The differential-test tools (tests/diff/run.sh) use nothing from the
# library: they link alone and stay buildable while it is not.
STANDALONE_TOOLS := $(O)/tests/rulegen $(O)/tests/kdiff

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
	@bash scripts/bench.sh

kconfig-check:
	@bash scripts/check-kconfig.sh $(KCONFIG)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

install: all
	install -D -m 0755 $(O)/ipt2bpf $(DESTDIR)$(PREFIX)/sbin/ipt2bpf
	install -D -m 0644 $(O)/libipt2bpf-shim.so $(DESTDIR)$(PREFIX)/lib/ipt2bpf/libipt2bpf-shim.so
	install -D -m 0644 doc/ipt2bpf.8 $(DESTDIR)$(PREFIX)/share/man/man8/ipt2bpf.8

clean:
	rm -rf $(O) build-asan

.PHONY: all deps check unit fuzz demo bench kconfig-check format install clean tools unit-bins

-include $(patsubst %.o,%.d,$(LIB_OBJS) $(CLI_OBJS) $(SHIM_OBJS) $(O)/pic/translator/ext.o $(O)/pic/translator/mod.o \
	   $(UNIT_BINS:$(O)/tests/%=$(O)/tests/unit/%.o) $(TOOL_BINS:$(O)/tests/%=$(O)/tests/tools/%.o))
