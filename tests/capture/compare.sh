#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The capture front end against the kernel: for each rule file,
#   1. load it into a fresh network namespace with iptables-legacy-restore
#      under strace, keeping the exact IPT_SO_SET_REPLACE buffers iptables
#      sent, and dump the kernel's tables afterwards (getentries);
#   2. capture it with the shim (as user nobody, no kernel access: checked
#      with strace);
#   3. require: same tables in the same commit order; each captured blob
#      byte-identical to the buffer sent to the kernel (but for the counters
#      pointer, an address in iptables' memory); the kernel's table equal to
#      the captured blob but for what the kernel fills in (counters, comefrom,
#      unused hooks, kernel-private extension data);
#   4. replay: the shim, started on the capture directory, serves GET_INFO /
#      GET_ENTRIES equal to the kernel's (comefrom included), and
#      iptables-legacy-save prints the same rules from both.
# Every file runs twice, with and without --noflush.  The emulated initial
# tables are checked byte for byte against a fresh namespace's first.
#
# usage: tests/capture/compare.sh [BUILD_DIR] [RULES...]   (BUILD_DIR: default $O or build)
#   default rules: tests/capture/rules/*.v4 and the filter/security part of
#   ../shared/iptables-tests/dumps/*.  Needs root, iproute2, strace, setpriv.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$here/../lib/harness.sh"
h_init capture/compare
build=${1:-$O}
[ $# -gt 0 ] && shift
build=$(cd "$build" && pwd) || exit 2
shim=$build/libipt2bpf-shim.so
getentries=$build/tests/getentries
restore=${IPT2BPF_IPTABLES_RESTORE:-iptables-legacy-restore}
save=${IPT2BPF_IPTABLES_SAVE:-iptables-legacy-save}
dumps=$ROOT/../shared/iptables-tests/dumps

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for t in ip strace setpriv "$restore" "$save"; do
	command -v "$t" >/dev/null || skip "$t not found"
done
[ -r "$shim" ] || { echo "missing $shim (make O=... all)"; exit 2; }
[ -x "$getentries" ] || { echo "missing $getentries (make O=... tools)"; exit 2; }

h_workdir ipt2bpf-compare
# nobody runs the shim and getentries: copies in $work stay reachable when the
# build directory is not (a clone under /root, mode 0700).
cp "$shim" "$getentries" "$work/" || exit 2
shim=$work/libipt2bpf-shim.so
getentries=$work/getentries
ns=ipt2bpf-cmp-$$

fresh_ns() {
	h_ns_del "$ns"
	h_ns_add "$ns"
}

# Runs as nobody with the shim in capture mode on directory $1; the rest is the command.
as_capture() {
	local dir=$1
	shift
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env LD_PRELOAD="$shim" IPT2BPF_SHIM_MODE=capture IPT2BPF_CAPTURE_DIR="$dir" "$@"
}

# The IPT_SO_SET_REPLACE buffers of an strace -xx log, as <table>.blob in $2,
# table names in commit order in $2/tables.
extract_sent() {
	local log=$1 out=$2 n=0 line tbl
	mkdir -p "$out"
	: >"$out/tables"
	grep 'IPT_SO_SET_REPLACE, "' "$log" | grep ') = 0$' | while read -r line; do
		n=$((n + 1))
		line=${line#*IPT_SO_SET_REPLACE, \"}
		line=${line%%\"*}
		printf '%s' "$line" | sed 's/\\x//g' | xxd -r -p >"$out/$n.raw"
		tbl=$(head -c 32 "$out/$n.raw" | tr -d '\0')
		mv "$out/$n.raw" "$out/$tbl.blob"
		grep -qx "$tbl" "$out/tables" || echo "$tbl" >>"$out/tables"
	done
}

# ------------------------------------------------------------ initial tables
fresh_ns
mkdir -p "$work/init" && chmod 777 "$work/init"
for t in filter security mangle raw nat; do
	ip netns exec "$ns" "$getentries" "$t" "$work/init/kernel-$t.blob" ||
		{ bad "kernel has no $t table"; continue; }
	as_capture "$work/init" "$getentries" "$t" "$work/init/shim-$t.blob"
	if cmp -s "$work/init/kernel-$t.blob" "$work/init/shim-$t.blob"; then
		pass=$((pass + 1))
	else
		bad "initial $t table differs from the kernel's"
		cmp -l "$work/init/kernel-$t.blob" "$work/init/shim-$t.blob" | head -5
	fi
done
if as_capture "$work/init" "$getentries" nosuchtable 2>&1 | grep -q 'No such file'; then
	pass=$((pass + 1))
else
	bad "unknown table does not give ENOENT"
fi

# ------------------------------------------------------------ rule files
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
	files=("$here"/rules/*.v4)
	for d in "$dumps"/*; do
		[ -f "$d" ] || continue
		# the tables ipt2bpf compiles (other tables may need modules the
		# kernel does not offer in a namespace)
		awk '/^\*/ { keep = ($0 == "*filter" || $0 == "*security") } keep' "$d" \
			>"$work/dump-$(basename "$d").v4"
		[ -s "$work/dump-$(basename "$d").v4" ] && files+=("$work/dump-$(basename "$d").v4")
	done
fi

# The table names of a `tables` file on one line.
names() { tr '\n' ' ' <"$1" 2>/dev/null; }

check_file() {
	local rules=$1 flush=$2 name d t
	local opts=(--counters)
	[ -n "$flush" ] && opts+=("$flush")
	name="$(basename "$rules") ${flush:-(flush)}"
	d=$work/case
	rm -rf "$d"
	mkdir -p "$d/kernel" "$d/cap" "$d/replay"
	chmod 777 "$d" "$d/cap" "$d/replay"

	fresh_ns
	if ! ip netns exec "$ns" strace -f -qq -e trace=setsockopt -s 1000000000 -xx \
		-o "$d/kernel.strace" "$restore" "${opts[@]}" <"$rules"; then
		bad "$name: the kernel rejects it"
		return
	fi
	extract_sent "$d/kernel.strace" "$d/sent"
	while read -r t; do
		ip netns exec "$ns" "$getentries" "$t" "$d/kernel/$t.blob" ||
			bad "$name: cannot dump kernel table $t"
	done <"$d/sent/tables"

	if ! as_capture "$d/cap" strace -f -qq -o "$d/cap.strace" \
		"$restore" "${opts[@]}" <"$rules"; then
		bad "$name: capture failed"
		return
	fi
	# (iptables' own getaddrinfo() may read addresses over netlink: harmless)
	if grep -E 'IPT_SO_|socket\(AF_INET6?, SOCK_RAW|sockopt\([0-9]+, SOL_IP|modprobe|kmod' \
		"$d/cap.strace" >"$d/leak"; then
		bad "$name: capture reached the kernel:"
		head -3 "$d/leak"
	fi
	if ! cmp -s "$d/sent/tables" "$d/cap/tables"; then
		bad "$name: committed tables differ: kernel $(names "$d/sent/tables")," \
			"capture $(names "$d/cap/tables")"
		return
	fi

	local ok=1
	while read -r t; do
		# --noflush: rules read back from the kernel come with uninitialised
		# name padding (see getentries --same-names)
		"$getentries" --same${flush:+-names} "$d/sent/$t.blob" "$d/cap/$t.blob" ||
			{ ok=0; continue; }
		"$getentries" --kernel "$d/cap/$t.blob" "$d/kernel/$t.blob" || ok=0
		# replay: a new process starts from the captured blob
		cp "$d/cap/$t.blob" "$d/replay/"
		as_capture "$d/replay" "$getentries" "$t" "$d/replay/dump-$t" &&
			"$getentries" --dumps "$d/replay/dump-$t" "$d/kernel/$t.blob" || ok=0
		ip netns exec "$ns" "$save" -t "$t" | grep -v '^#' |
			sed -E 's/\[[0-9]+:[0-9]+\]/[c]/' >"$d/kernel.save"
		as_capture "$d/replay" "$save" -t "$t" | grep -v '^#' |
			sed -E 's/\[[0-9]+:[0-9]+\]/[c]/' >"$d/replay.save"
		if ! cmp -s "$d/kernel.save" "$d/replay.save"; then
			echo "iptables-save differs for $t:"
			diff "$d/kernel.save" "$d/replay.save" | head -10
			ok=0
		fi
	done <"$d/sent/tables"
	if [ $ok = 1 ]; then
		pass=$((pass + 1))
		echo "ok: $name: $(names "$d/sent/tables")"
	else
		bad "$name"
	fi
}

for f in "${files[@]}"; do
	check_file "$f" ""
	check_file "$f" --noflush
done

finish
