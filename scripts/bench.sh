#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/bench.sh: the benchmarks (`make bench`; not part of `make check`).
# Prints one table per benchmark; every figure is measured in this run, the
# kernel's numbers next to ours on the same machine and the same rules.
#
# Tables (each one a bench_* function, listed in BENCHES below):
#   load   time to load and attach 1, 1 000 and 10 000 generated filter rules
#          (tests/bench/rulegen.sh), then to replace them with a different set
#          of the same size: `ipt2bpf load` (tc mode) against
#          iptables-legacy-restore, each in a fresh network namespace.
#
# Environment:
#   O             build directory (default build); IPT2BPF (default $O/ipt2bpf)
#   BENCH         only these tables, e.g. BENCH="load"
#   BENCH_RUNS    runs per figure, the median is printed (default 5; 3 for
#                 10 000 rules and more)
#   BENCH_SIZES   rule counts of the load table (default "1 1000 10000")
# Needs root, iproute2, iptables-legacy, bpffs (mounted when missing).
#
# The bench_* functions run through "bench_$name", cleanup through trap:
# shellcheck disable=SC2317
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
O=${O:-build}
case $O in /*) ;; *) O=$ROOT/$O ;; esac
IPT2BPF=${IPT2BPF:-$O/ipt2bpf}
case $IPT2BPF in /*) ;; *) IPT2BPF=$ROOT/$IPT2BPF ;; esac
BENCHES=(load)

# ---------------------------------------------------------------- helpers

die() {
	echo "bench: $*" >&2
	exit 1
}

work=
namespaces=()
cleanup() {
	local n
	for n in "${namespaces[@]}"; do
		ns_del "$n"
	done
	[ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT

# A host-like namespace: lo, eth0 and eth1 up (veths whose peers sit in a
# second namespace), forwarding on.
ns_add() {
	local n=$1 i
	ip netns add "$n" && ip netns add "$n-peer" || return 1
	namespaces+=("$n")
	ip -n "$n" link set lo up
	for i in 0 1; do
		ip -n "$n" link add "eth$i" type veth peer name "p$i" netns "$n-peer" &&
			ip -n "$n" link set "eth$i" up || return 1
	done
	ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1
}

# Removes what ipt2bpf pinned for the namespace, then the namespace.
ns_del() {
	local n=$1 d
	[ -e "/run/netns/$n" ] || return 0
	nsenter --net="/run/netns/$n" "$IPT2BPF" unload >/dev/null 2>&1
	d=/sys/fs/bpf/ipt2bpf/$(stat -L -c %i "/run/netns/$n")
	[ -d "$d" ] && rm -rf "$d"
	ip netns del "$n" 2>/dev/null
	ip netns del "$n-peer" 2>/dev/null
	rmdir /sys/fs/bpf/ipt2bpf 2>/dev/null
	return 0
}

# timed NS CMD...: runs CMD in NS's network namespace (our mount namespace:
# the pins must outlive the command), prints its wall time in ms; the exit
# status is CMD's.  Both contenders go through the same nsenter.
timed() {
	local n=$1 t0 t1 rc
	shift
	t0=$EPOCHREALTIME
	nsenter --net="/run/netns/$n" "$@"
	rc=$?
	t1=$EPOCHREALTIME
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", 1000 * (b - a) }'
	return "$rc"
}

# median of the numbers on stdin ("-" when there are none).
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (!NR) print "-"
		else if (NR % 2) print v[(NR + 1) / 2]
		else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B as "12.3x" ("-" when either is missing).
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || b <= 0) print "-"
		else printf "%.1fx\n", a / b }'
}

runs_for() {
	if [ -n "${BENCH_RUNS:-}" ]; then
		echo "$BENCH_RUNS"
	elif [ "$1" -ge 10000 ]; then
		echo 3
	else
		echo 5
	fi
}

# ---------------------------------------------------------------- tables

# load: `ipt2bpf load` (tc mode) against iptables-legacy-restore.  Each run
# takes a fresh namespace: "load" is the first rule set there (ipt2bpf: the
# clsact qdiscs, filters and pins on lo, eth0, eth1; iptables: the filter
# table of the namespace), "replace" the second one, a different set of the
# same size (ipt2bpf: filters replaced in place; iptables: the table swapped).
bench_load() {
	local sizes=${BENCH_SIZES:-1 1000 10000} n runs r ns t step a b c errs=()
	local -A res

	echo "== load: load and attach N filter rules, then replace them with another N"
	echo "   (tests/bench/rulegen.sh: tcp/udp services, networks, address pairs, port"
	echo "   ranges, multiport, iprange, blocklists; namespace with lo, eth0, eth1;"
	echo "   ipt2bpf in tc mode; wall time in ms, median of the runs)"
	for n in $sizes; do
		if ! bash tests/bench/rulegen.sh "$n" 1 >"$work/r$n-1.v4" ||
			! bash tests/bench/rulegen.sh "$n" 2 >"$work/r$n-2.v4"; then
			die "tests/bench/rulegen.sh $n failed"
		fi
		runs=$(runs_for "$n")
		for ((r = 0; r < runs; r++)); do
			ns=ipt2bpf-bench-$$-$r
			# iptables-legacy-restore first, ipt2bpf after, each in its own namespace.
			ns_add "$ns" || die "cannot create namespace $ns"
			for step in 1 2; do
				if t=$(timed "$ns" iptables-legacy-restore <"$work/r$n-$step.v4" 2>"$work/err"); then
					res[$n.ipt.$step]+="$t "
				else
					errs+=("iptables-legacy-restore, $n rules, set $step: $(head -c 300 "$work/err")")
				fi
			done
			ns_del "$ns"
			ns_add "$ns" || die "cannot create namespace $ns"
			for step in 1 2; do
				# The same rules compiled offline without the verifier: what
				# parsing and code generation cost, apart from the kernel.
				if t=$(timed "$ns" "$IPT2BPF" "$work/r$n-$step.v4" --no-verify \
					-o "$work/r.o" 2>"$work/err"); then
					res[$n.cc.$step]+="$t "
				fi
				if t=$(timed "$ns" "$IPT2BPF" load "$work/r$n-$step.v4" 2>"$work/err"); then
					res[$n.bpf.$step]+="$t "
				else
					errs+=("ipt2bpf load, $n rules, set $step: $(head -c 300 "$work/err")")
				fi
			done
			ns_del "$ns"
		done
		res[$n.runs]=$runs
	done

	printf '\n  %6s  %-8s %4s  %12s  %9s  %23s  %7s\n' rules step runs "ipt2bpf load" \
		"(compile)" "iptables-legacy-restore" ratio
	for n in $sizes; do
		for step in 1 2; do
			a=$(tr ' ' '\n' <<<"${res[$n.bpf.$step]:-}" | grep . | median)
			c=$(tr ' ' '\n' <<<"${res[$n.cc.$step]:-}" | grep . | median)
			b=$(tr ' ' '\n' <<<"${res[$n.ipt.$step]:-}" | grep . | median)
			printf '  %6s  %-8s %4s  %12s  %9s  %23s  %7s\n' "$n" \
				"$(if [ "$step" = 1 ]; then echo load; else echo replace; fi)" \
				"${res[$n.runs]}" "$a" "($c)" "$b" "$(ratio "$a" "$b")"
		done
	done
	echo "  ratio: ipt2bpf load / iptables-legacy-restore.  ipt2bpf load parses the rules"
	echo "  with iptables-legacy-restore under the xtables shim, compiles, passes the"
	echo "  kernel verifier, pins and attaches to 3 interfaces; (compile) is the same rules"
	echo "  compiled offline without the verifier (ipt2bpf RULES --no-verify -o FILE)."
	if [ ${#errs[@]} -gt 0 ]; then
		echo "  failed runs (not in the medians):"
		printf '    %s\n' "${errs[@]}"
	fi
	[ ${#errs[@]} -eq 0 ]
}

# ---------------------------------------------------------------- main

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, bpf)"
for t in ip nsenter iptables-legacy-restore awk; do
	command -v "$t" >/dev/null || die "$t not found"
done
[ -x "$IPT2BPF" ] || die "$IPT2BPF missing (make all)"
modprobe -q iptable_filter 2>/dev/null
modprobe -q veth 2>/dev/null
grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf ||
	die "cannot mount bpffs on /sys/fs/bpf"
work=$(mktemp -d /tmp/ipt2bpf-bench.XXXXXX)

echo "ipt2bpf benchmarks: kernel $(uname -r), $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "  $IPT2BPF"
rc=0
for b in "${BENCHES[@]}"; do
	if [ -n "${BENCH:-}" ] && ! grep -qw -- "$b" <<<"$BENCH"; then
		continue
	fi
	echo
	"bench_$b" || rc=1
done
exit $rc
