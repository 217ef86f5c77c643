# ipt2bpf — plain GNU make.  `make` builds, `make check` runs every test,
# `make demo` shows the main job, `make deps` installs Debian packages.

CC	?= gcc
O	?= build
SAN	?=
PREFIX	?= /usr/local
DESTDIR	?=

CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu17 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP -I.
ifeq ($(SAN),1)
CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS	+= -fsanitize=address,undefined
endif
LIBS	:= -lbpf -lelf -lz

LIB_SRCS  := $(wildcard translator/*.c) $(wildcard codegen/*.c)
CLI_SRCS  := $(wildcard cli/*.c)
SHIM_SRCS := $(wildcard xtables-shim/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
TOOL_SRCS := $(wildcard tests/tools/*.c)

LIB_OBJS  := $(LIB_SRCS:%.c=$(O)/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(O)/%.o)
SHIM_OBJS := $(SHIM_SRCS:%.c=$(O)/pic/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(O)/tests/%)

# Debian 12 packages: build and run dependencies, then test-only tools.
DEPS_BUILD := gcc make pkg-config libbpf-dev libelf-dev zlib1g-dev libiptc-dev \
	      libxtables-dev libmnl-dev iptables bpftool iproute2 libcmocka-dev
DEPS_TEST  := clang llvm libclang-rt-14-dev tcpdump kmod
DEPS_STAMP := $(O)/.deps-ok

all: $(O)/ipt2bpf $(O)/libipt2bpf-shim.so

$(O)/libipt2bpf.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(O)/ipt2bpf: $(CLI_OBJS) $(O)/libipt2bpf.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The shim is loaded into iptables: position-independent, no sanitizers.
$(O)/libipt2bpf-shim.so: $(SHIM_OBJS) $(O)/pic/translator/ext.o
	$(CC) -shared -o $@ $^ -ldl

$(O)/pic/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(filter-out -fsanitize=%,$(CFLAGS)) -fPIC -c -o $@ $<

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(O)/tests/%: $(O)/tests/unit/%.o $(O)/libipt2bpf.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

$(O)/tests/%: $(O)/tests/tools/%.o $(O)/libipt2bpf.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

tools: $(TOOL_BINS)
unit-bins: $(UNIT_BINS)

# ---------------------------------------------------------------- deps
deps:
	@scripts/deps.sh $(DEPS_BUILD) $(DEPS_TEST)

$(DEPS_STAMP):
	@scripts/deps.sh $(DEPS_BUILD) $(DEPS_TEST)
	@mkdir -p $(@D) && touch $@

# ---------------------------------------------------------------- tests
check: $(DEPS_STAMP)
	@scripts/check.sh

unit: all unit-bins
	@scripts/run-unit.sh $(O)

fuzz: $(DEPS_STAMP)
	@scripts/fuzz.sh $(FUZZ_SECONDS)

demo: $(DEPS_STAMP) all
	@scripts/demo.sh

bench: $(DEPS_STAMP) all tools
	@scripts/bench.sh

kconfig-check:
	@scripts/check-kconfig.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

install: all
	install -D -m 0755 $(O)/ipt2bpf $(DESTDIR)$(PREFIX)/sbin/ipt2bpf
	install -D -m 0644 $(O)/libipt2bpf-shim.so $(DESTDIR)$(PREFIX)/lib/ipt2bpf/libipt2bpf-shim.so
	install -D -m 0644 doc/ipt2bpf.8 $(DESTDIR)$(PREFIX)/share/man/man8/ipt2bpf.8

clean:
	rm -rf $(O) build-asan

.PHONY: all deps check unit fuzz demo bench kconfig-check format install clean tools unit-bins

-include $(shell find $(O) -name '*.d' 2>/dev/null)
