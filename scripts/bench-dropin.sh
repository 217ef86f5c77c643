#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/bench-dropin.sh [N...]: what `iptables -A` costs through the
# drop-in (iptables-bpf -> ipt2bpf-umh -> eBPF) against iptables-legacy on
# the kernel, with N rules already in the table (default 100 1000 10000),
# measured in this run on this machine (`make bench` runs it).
#
# For each N, two fresh network namespaces get the same N filter rules
# (tests/bench/rulegen.sh): one with iptables-legacy-restore, one with
# iptables-bpf-restore and its own daemon.  Then RUNS times `iptables -A
# INPUT -s 192.0.2.K -j DROP` on each side, then RUNS times `iptables -L -v -n
# -x` (GET_ENTRIES with every counter); the table shows the medians and, for
# the drop-in, how long the initial restore took (almost all of it the kernel
# verifier: every change reloads the whole rule set).
#
# Environment:
#   O                  build directory (default build)
#   DROPIN_BENCH_N     rule counts when no N is given (default "100 1000 10000")
#   DROPIN_BENCH_RUNS  -A calls per side and N, the median is printed (default 3)
# Needs root, iproute2, iptables-legacy, bpffs (mounted when missing).
#
# cleanup runs through trap:
# shellcheck disable=SC2317
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
O=${O:-build}
case $O in /*) ;; *) O=$ROOT/$O ;; esac
RUNS=${DROPIN_BENCH_RUNS:-3}
read -r -a sizes <<<"${DROPIN_BENCH_N:-100 1000 10000}"
[ $# -gt 0 ] && sizes=("$@")
export IPT2BPF_SHIM=$O/libipt2bpf-shim.so

die() {
	echo "bench-dropin: $*" >&2
	exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root"
make -s O="$O" all >/dev/null || die "build failed"
grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf || die "no bpffs"

TMP=$(mktemp -d /tmp/bench-dropin.XXXXXX)
export XTABLES_LOCKFILE=$TMP/xtables.lock
NSK=bench-dropin-$$-k
NSB=bench-dropin-$$-b
cleanup() {
	cleanup_ns
	rm -rf "$TMP"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }

fresh() {
	cleanup_ns
	if ! ip netns add "$NSK" || ! ip netns add "$NSB"; then
		die "namespaces"
	fi
	ip -n "$NSK" link set lo up
	ip -n "$NSB" link set lo up
	ip netns exec "$NSB" "$O/ipt2bpf-umh" --pidfile "$TMP/umh.pid" 2>/dev/null || die "daemon"
}

# Stops the daemon (TERM, then KILL) and removes what the run left.
cleanup_ns() {
	local pid
	if [ -f "$TMP/umh.pid" ]; then
		pid=$(cat "$TMP/umh.pid")
		kill "$pid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$pid" 2>/dev/null
	fi
	rm -f "$TMP/umh.pid"
	ip netns exec "$NSB" "$O/ipt2bpf" unload >/dev/null 2>&1
	ip netns del "$NSK" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
}

printf '%8s  %5s  %14s  %14s  %8s  %14s  %14s  %16s\n' rules runs "legacy -A ms" "drop-in -A ms" \
	ratio "legacy -L ms" "drop-in -L ms" "drop-in restore"
for n in "${sizes[@]}"; do
	fresh
	bash tests/bench/rulegen.sh "$n" 7 >"$TMP/rules.v4" || die "rulegen"
	ip netns exec "$NSK" iptables-legacy-restore <"$TMP/rules.v4" || die "iptables-legacy-restore of $n rules"
	t0=$(now_ms)
	if ! ip netns exec "$NSB" "$ROOT/scripts/iptables-bpf-restore" <"$TMP/rules.v4" 2>"$TMP/err"; then
		printf '%8s  %5s  %14s  %14s  %8s  %14s  %14s  %16s\n' "$n" - - - - - - "refused"
		head -3 "$TMP/err" | sed 's/^/  /'
		continue
	fi
	restore=$(($(now_ms) - t0))
	: >"$TMP/k.ms"
	: >"$TMP/b.ms"
	for k in $(seq "$RUNS"); do
		t0=$(now_ms)
		ip netns exec "$NSK" iptables-legacy -w -A INPUT -s "192.0.2.$k" -j DROP || die "legacy -A"
		echo $(($(now_ms) - t0)) >>"$TMP/k.ms"
		t0=$(now_ms)
		ip netns exec "$NSB" "$ROOT/scripts/iptables-bpf" -w -A INPUT -s "192.0.2.$k" -j DROP ||
			die "drop-in -A at $n rules"
		echo $(($(now_ms) - t0)) >>"$TMP/b.ms"
	done
	# Listing with counters: GET_ENTRIES, the drop-in reading every counter from the maps.
	: >"$TMP/kl.ms"
	: >"$TMP/bl.ms"
	for k in $(seq "$RUNS"); do
		t0=$(now_ms)
		ip netns exec "$NSK" iptables-legacy -L -v -n -x >/dev/null
		echo $(($(now_ms) - t0)) >>"$TMP/kl.ms"
		t0=$(now_ms)
		ip netns exec "$NSB" "$ROOT/scripts/iptables-bpf" -L -v -n -x >/dev/null
		echo $(($(now_ms) - t0)) >>"$TMP/bl.ms"
	done
	km=$(median <"$TMP/k.ms")
	bm=$(median <"$TMP/b.ms")
	ratio=$(awk -v a="$bm" -v b="$km" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')
	# The two sides hold the same rules afterwards.
	diff -q <(ip netns exec "$NSK" iptables-legacy-save | grep '^-A') \
		<(ip netns exec "$NSB" "$ROOT/scripts/iptables-bpf-save" | grep '^-A') >/dev/null ||
		echo "  (warning: the two tables differ after the run)"
	printf '%8s  %5s  %14s  %14s  %8s  %14s  %14s  %13s ms\n' "$n" "$RUNS" "$km" "$bm" "$ratio" \
		"$(median <"$TMP/kl.ms")" "$(median <"$TMP/bl.ms")" "$restore"
done
