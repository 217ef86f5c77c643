#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The ELF writer's objects work with the stock tools of Debian 12 (bpftool
# 7.1, iproute2 6.1, all on libbpf 1.1): bpftool prog loadall, ip link ...
# xdpgeneric obj, tc ... bpf da obj, and the programs do to traffic what
# they say (tests/elf/sample-progset.h: drop IPv4 ICMP, pass the rest, or
# pass everything once ipt_cfg[0] is non-zero).
#
#   tests/elf/stock-tools.sh [BUILD_DIR]   (needs root; default: $IPT2BPF_BUILD,
#                                          else $O, else build; needs BUILD_DIR/tests/mkobj)
#
# Runs in a private mount namespace with its own bpffs instance on
# /sys/fs/bpf and in two scratch network namespaces joined by a veth pair;
# touches no host interface, pin or netns.  Exits non-zero on any failure.
set -u

if [ "${IPT2BPF_ELF_PRIVATE:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "stock-tools: needs root" >&2; exit 77; }
	export IPT2BPF_ELF_PRIVATE=1
	exec unshare --mount --propagation private bash "$0" "$@"
fi

SRC=$(cd "$(dirname "$0")/../.." && pwd)
O=${1:-${IPT2BPF_BUILD:-${O:-build}}}
case $O in /*) ;; *) O=$SRC/$O ;; esac
MKOBJ=$O/tests/mkobj
NA=ipt2bpf-elf-a$$
NB=ipt2bpf-elf-b$$
IPA=10.231.0.1
IPB=10.231.0.2
PIN=/sys/fs/bpf/ipt2bpf-elf
WORK=$(mktemp -d /tmp/ipt2bpf-elf.XXXXXX)
OBJ=$WORK/prog.o
FAILS=0

cleanup() {
	ip netns del "$NA" 2>/dev/null
	ip netns del "$NB" 2>/dev/null
	rm -rf "$PIN" "$PIN-maps"
	umount /sys/fs/bpf 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# check DESCRIPTION COMMAND...: the command must succeed
check() {
	local what=$1
	shift
	if "$@" >"$WORK/out" 2>&1; then
		pass "$what"
	else
		fail "$what: $*"
		sed 's/^/    /' "$WORK/out"
	fi
}
inA() { ip netns exec "$NA" "$@"; }
inB() { ip netns exec "$NB" "$@"; }
# bpftool and tc reading pins: nsenter keeps our /sys (ip netns exec remounts it)
inB_keep_sys() { nsenter --net="/run/netns/$NB" "$@"; }

ping_ok() {
	local i
	for i in 1 2 3; do
		inA ping -q -c1 -W2 "$IPB" >/dev/null 2>&1 && return 0
	done
	return 1
}
ping_dropped() { ! inA ping -q -c2 -W1 "$IPB" >/dev/null 2>&1; }
expect_ping() { # ok|dropped WHAT
	if [ "$1" = ok ]; then ping_ok; else ping_dropped; fi &&
		pass "$2: ping $1" || fail "$2: ping should be $1"
}

# A TCP connection must still get through a drop-ICMP program (if socat is here).
expect_tcp_ok() {
	command -v socat >/dev/null || { echo "SKIP: $1: TCP check (no socat)"; return; }
	rm -f "$WORK/tcp"
	inB timeout 5 socat -u TCP-LISTEN:7777,reuseaddr "OPEN:$WORK/tcp,creat" &
	sleep 0.3
	echo hello | inA timeout 3 socat -u - "TCP:$IPB:7777" 2>/dev/null
	wait
	[ "$(cat "$WORK/tcp" 2>/dev/null)" = hello ] && pass "$1: TCP passes" ||
		fail "$1: TCP should pass"
}

# map id of NAME among the maps of program id PROG
map_of_prog() {
	local id
	for id in $(bpftool prog show id "$1" | sed -n 's/.*map_ids \([0-9,]*\).*/\1/p' | tr , ' '); do
		bpftool map show id "$id" | grep -q "name $2 " && { echo "$id"; return; }
	done
}

# sum over CPUs of the first u64 of a PERCPU map value (ipt_cnt[0].pcnt)
percpu_sum() {
	local sum=0 line b
	while read -r line; do
		set -- ${line#*:}
		b=$((16#$8 << 56 | 16#$7 << 48 | 16#$6 << 40 | 16#$5 << 32 |
			16#$4 << 24 | 16#$3 << 16 | 16#$2 << 8 | 16#$1))
		sum=$((sum + b))
	done < <(bpftool map lookup id "$1" key 0 0 0 0 | grep 'value (CPU')
	echo "$sum"
}

# ------------------------------------------------------------------ object
[ -x "$MKOBJ" ] || { echo "stock-tools: $MKOBJ missing (make tools O=...)" >&2; exit 1; }
check "mkobj writes and libbpf-verifies the object" "$MKOBJ" "$OBJ" --verify

# -------------------------------------------- does it look like clang's?
readelf -h "$OBJ" >"$WORK/readelf-h"
grep -q 'Class:.*ELF64' "$WORK/readelf-h" && grep -q 'little endian' "$WORK/readelf-h" &&
	grep -q 'REL (Relocatable file)' "$WORK/readelf-h" && grep -q 'Machine:.*BPF' "$WORK/readelf-h" &&
	pass "readelf -h: ELF64 REL, little endian, BPF" || fail "readelf -h: $(cat "$WORK/readelf-h")"
readelf -a "$OBJ" >"$WORK/readelf-a" 2>&1 && pass "readelf -a reads it" || fail "readelf -a"
llvm-objdump -d -r "$OBJ" >"$WORK/objdump" 2>&1 && pass "llvm-objdump -d -r reads it" ||
	fail "llvm-objdump -d -r"
grep -q 'R_BPF_64_32	judge' "$WORK/objdump" && grep -q 'R_BPF_64_64	ipt_cfg' "$WORK/objdump" &&
	! grep -q '<unknown>' "$WORK/objdump" &&
	pass "llvm-objdump: calls and map loads relocated by name" || fail "llvm-objdump output"

secs() { readelf -SW "$1" | sed -n 's/^ *\[ *[0-9]*\] \([^ ]*\) .*/\1/p' | grep -vE '^(\.rel)?\.debug|^\.llvm|^\.rel\.BTF|^$' | sort; }
# ipt_cfg[0] with iif = 1 and the rest zero: struct ipt2bpf_cfg is 32 bytes.
CFG_ONE="1$(printf ' 0%.0s' $(seq 31))"

globals() { readelf -sW "$1" | awk '$5 == "GLOBAL" { print $4, $8 }' | sort; }
if command -v clang >/dev/null; then
	if clang -target bpf -O2 -g -I"/usr/include/$(gcc -print-multiarch)" \
		-c "$SRC/tests/elf/sample.bpf.c" -o "$WORK/clang.o" 2>"$WORK/clang.err"; then
		diff <(secs "$WORK/clang.o") <(secs "$OBJ") >"$WORK/diff" &&
			pass "same sections as clang -O2 -g: $(secs "$OBJ" | tr '\n' ' ')" ||
			{ fail "sections differ from clang's"; cat "$WORK/diff"; }
		diff <(globals "$WORK/clang.o") <(globals "$OBJ") >"$WORK/diff" &&
			pass "same GLOBAL symbols as clang: $(globals "$OBJ" | tr '\n' ' ')" ||
			{ fail "global symbols differ from clang's"; cat "$WORK/diff"; }
	else
		fail "clang failed on sample.bpf.c: $(cat "$WORK/clang.err")"
	fi
else
	echo "SKIP: clang comparison (no clang)"
fi

# ------------------------------------------------------------- namespaces
mount -t bpf bpf /sys/fs/bpf || { echo "cannot mount bpffs" >&2; exit 1; }
ip netns add "$NA" && ip netns add "$NB" &&
	ip link add va netns "$NA" type veth peer name vb netns "$NB" &&
	ip -n "$NA" addr add "$IPA/24" dev va && ip -n "$NA" link set va up &&
	ip -n "$NB" addr add "$IPB/24" dev vb && ip -n "$NB" link set vb up ||
	{ echo "cannot set up the veth pair" >&2; exit 1; }
expect_ping ok "no program"

# ---------------------------------------------------------------- bpftool
check "bpftool prog loadall OBJ $PIN pinmaps $PIN-maps" \
	bpftool prog loadall "$OBJ" "$PIN" pinmaps "$PIN-maps"
[ "$(ls "$PIN" | tr '\n' ' ')" = "egr ing ing_trace xdp_fw " ] &&
	pass "loadall pinned every program under its name" || fail "pins: $(ls "$PIN")"
for p in ing ing_trace egr xdp_fw; do
	bpftool prog show pinned "$PIN/$p" | grep -q "name $p " &&
		pass "bpftool prog show: $p" || fail "bpftool prog show: $p"
done
bpftool map show pinned "$PIN-maps/ipt_cnt" | grep -q 'percpu_array  name ipt_cnt ' &&
	bpftool map show pinned "$PIN-maps/ipt_cnt" | grep -q 'key 4B  value 16B  max_entries 8 ' &&
	bpftool map show pinned "$PIN-maps/ipt_ifaces" | grep -q 'hash  name ipt_ifaces  flags 0x1' &&
	bpftool map show pinned "$PIN-maps/ipt_cfg" | grep -q 'array  name ipt_cfg ' &&
	pass "bpftool map show: names, types, sizes, flags" || fail "bpftool map show"
bpftool prog dump xlated pinned "$PIN/egr" | grep -q 'call pc+[0-9]*#bpf_prog_[0-9a-f]*_egr__judge' &&
	pass "bpftool prog dump xlated: subprogram calls by name" || fail "dump xlated"

check "bpftool net attach xdpgeneric pinned xdp_fw" \
	inB_keep_sys bpftool net attach xdpgeneric pinned "$PIN/xdp_fw" dev vb
expect_ping dropped "bpftool-attached xdp_fw"
expect_tcp_ok "bpftool-attached xdp_fw"
check "bpftool net detach" inB_keep_sys bpftool net detach xdpgeneric dev vb
check "tc filter add dev vb ingress bpf da pinned $PIN/ing" inB_keep_sys sh -c \
	"tc qdisc add dev vb clsact && tc filter add dev vb ingress bpf da pinned $PIN/ing"
expect_ping dropped "pinned ing at tc ingress"
# all programs of one loadall share the object's maps
check "bpftool map update pinned ipt_cfg (pass everything)" \
	bpftool map update pinned "$PIN-maps/ipt_cfg" key 0 0 0 0 value $CFG_ONE
expect_ping ok "pinned ing with ipt_cfg[0] = 1"
[ "$(bpftool map lookup pinned "$PIN-maps/ipt_cnt" key 0 0 0 0 | grep -c 'value (CPU')" -gt 0 ] &&
	pass "ipt_cnt readable through its pin" || fail "ipt_cnt lookup"
inB tc filter del dev vb ingress
inB tc qdisc del dev vb clsact
rm -rf "$PIN" "$PIN-maps"

# --------------------------------------------------------------------- ip
check "ip link set dev vb xdpgeneric obj OBJ sec xdp" \
	inB ip link set dev vb xdpgeneric obj "$OBJ" sec xdp
ID=$(inB ip link show dev vb 2>/dev/null | sed -n 's/.*prog\/xdp id \([0-9]*\) name \([^ ]*\).*/\1 \2/p')
[ "${ID#* }" = xdp_fw ] && pass "ip link show: prog/xdp name xdp_fw" || fail "ip link show: '$ID'"
ID=${ID%% *}
expect_ping dropped "ip xdpgeneric xdp_fw"
expect_tcp_ok "ip xdpgeneric xdp_fw"
CNT=$(map_of_prog "$ID" ipt_cnt)
[ -n "$CNT" ] && [ "$(percpu_sum "$CNT")" -gt 0 ] &&
	pass "xdp_fw counted packets in ipt_cnt (map $CNT: $(percpu_sum "$CNT"))" ||
	fail "ipt_cnt of xdp_fw"
check "ip link set dev vb xdpgeneric off" inB ip link set dev vb xdpgeneric off
expect_ping ok "xdp removed"
check "ip link set dev vb xdp obj OBJ sec xdp (native veth XDP)" \
	inB ip link set dev vb xdp obj "$OBJ" sec xdp
expect_ping dropped "ip native xdp_fw"
inB ip link set dev vb xdp off
expect_ping ok "native xdp removed"

# --------------------------------------------------------------------- tc
check "tc qdisc add dev vb clsact" inB tc qdisc add dev vb clsact
inB tc filter add dev vb ingress bpf da obj "$OBJ" sec classifier verbose >"$WORK/tc" 2>&1 &&
	pass "tc filter add dev vb ingress bpf da obj OBJ sec classifier" ||
	{ fail "tc ingress classifier"; cat "$WORK/tc"; }
# iproute2 6.1 loads the first program of the section only, and its callees
grep -q "prog 'ing_trace': skipped loading" "$WORK/tc" &&
	grep -q "prog 'egr': skipped loading" "$WORK/tc" &&
	grep -q "added [0-9]* insns from sub-prog 'judge'" "$WORK/tc" &&
	pass "tc loads only the section's first program (+ its subprograms)" ||
	fail "tc loading behaviour changed"
ID=$(inB tc filter show dev vb ingress | sed -n 's/.* id \([0-9]*\) name ing .*/\1/p')
[ -n "$ID" ] && pass "tc filter show: name ing (id $ID)" || fail "tc filter show: $(inB tc filter show dev vb ingress)"
expect_ping dropped "tc ingress ing"
expect_tcp_ok "tc ingress ing"
CFG=$(map_of_prog "$ID" ipt_cfg)
check "bpftool map update id ipt_cfg of the tc program" \
	bpftool map update id "$CFG" key 0 0 0 0 value $CFG_ONE
expect_ping ok "tc ingress ing with ipt_cfg[0] = 1"
inB tc filter del dev vb ingress
check "tc filter add dev vb egress bpf da obj OBJ sec tc" \
	inB tc filter add dev vb egress bpf da obj "$OBJ" sec tc
inB tc filter show dev vb egress | grep -q ' name egr ' && pass "tc filter show: name egr" ||
	fail "tc filter show egress"
expect_ping dropped "tc egress egr (echo replies dropped)"
inB tc filter del dev vb egress
expect_ping ok "tc filters removed"

# ------------------------------------------------------------ a rejection
if "$MKOBJ" "$WORK/broken.o" --broken --verify >"$WORK/out" 2>&1; then
	fail "mkobj --broken --verify should fail"
else
	grep -q "program 'egr' rejected by the verifier" "$WORK/out" && grep -q 'R7 !read_ok' "$WORK/out" &&
		pass "ipt2bpf_elf_verify names the program and quotes the verifier" ||
		{ fail "verify diagnostics"; cat "$WORK/out"; }
fi
"$MKOBJ" "$WORK/broken.o" --broken
! inB tc filter add dev vb egress bpf da obj "$WORK/broken.o" sec tc 2>/dev/null &&
	pass "tc refuses the broken program" || fail "tc accepted a broken program"
check "tc still loads the sound program of another section from it" \
	inB tc filter add dev vb ingress bpf da obj "$WORK/broken.o" sec classifier
inB tc filter del dev vb ingress
! bpftool prog loadall "$WORK/broken.o" "$PIN" 2>/dev/null && pass "bpftool loadall refuses it" ||
	fail "bpftool loadall accepted a broken object"
rm -rf "$PIN"

echo
if [ "$FAILS" = 0 ]; then
	echo "stock-tools: all checks passed"
else
	echo "stock-tools: $FAILS check(s) failed"
fi
[ "$FAILS" = 0 ]
