#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/bench.sh: the benchmarks (`make bench`; not part of `make check`).
# Prints one table per benchmark; every figure is measured in this run, the
# kernel's numbers next to ours on the same machine and the same rules.
#
# Tables (each one a bench_* function, listed in BENCHES below):
#   load      time to load and attach 1, 1 000 and 10 000 generated filter rules
#             (tests/bench/rulegen.sh), then to replace them with a different set
#             of the same size: `ipt2bpf load` (tc mode) against
#             iptables-legacy-restore, each in a fresh network namespace.
#   classify  ns per packet over an empty TC program (BPF_PROG_TEST_RUN, same
#             run), N = 1 ... 100 000 rules of three kinds (tests/tools/benchgen:
#             ClassBench-style 5-tuple ACLs, exact UDP 5-tuples, /24 source
#             blocklists), for a packet the first rule matches, one only the last
#             rule matches and one no rule matches; optimised (codegen/opt.h) and
#             straight-line (--no-optimise); then what compiling, verifying and
#             loading those rules costs (what `ipt2bpf load` compiles) and the
#             memory of their maps.
#   e2e       packet rate through a veth pair between two namespaces, the same
#             rule sets and the no-match packet (the whole chain is walked):
#             iptables-legacy, iptables-nft, ipt2bpf (TC and XDP) and an empty
#             program on each hook, in one run, as CPU time per packet of the
#             sender (tests/tools/benchsend: AF_PACKET, the receiving side runs
#             in its context) and as ratios.
#
# Environment:
#   O             build directory (default build); IPT2BPF (default $O/ipt2bpf)
#   BENCH         only these tables, e.g. BENCH="load"
#   BENCH_RUNS    runs per figure, the median is printed (default 5; 3 for
#                 10 000 rules and more)
#   BENCH_SIZES   rule counts of the load table (default "1 1000 10000")
#   BENCH_CLS_SIZES  rule counts of the classify table (default "1 10 100 1000 10000 100000")
#   BENCH_SETS    rule set kinds of classify and e2e (default "acl exact block")
#   BENCH_BASELINE_MAX  largest straight-line rule set (default 1000; ACLs: 10000,
#                 BENCH_BASELINE_ACL_MAX): straight-line code for 10 000 rules takes
#                 minutes to verify, for 100 000 more than the verifier allows
#   BENCH_E2E_SIZES  rule counts of the e2e table (default "1 100 1000 10000")
#   BENCH_E2E_ROUNDS rounds per figure, 1 s each, interleaved; the best is kept
#                 (default 3)
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
BENCHES=(load classify e2e)

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

# ratio2 A B: A / B as "0.93x".
ratio2() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || b <= 0) print "-"
		else printf "%.2fx\n", a / b }'
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

# kv FILE KEY: the value of "KEY value" in FILE ("-" if absent).
kv() {
	awk -v k="$2" '$1 == k { print $2; found = 1; exit } END { if (!found) print "-" }' "$1"
}

# pktns FILE NAME: ns over the empty program of packet NAME in benchrun's output.
pktns() {
	awk -v n="$2" '$1 == "pkt" && $2 == n { print $4 - $6; found = 1 }
		END { if (!found) print "-" }' "$1"
}

baseline_max() {
	if [ "$1" = acl ]; then
		echo "${BENCH_BASELINE_ACL_MAX:-10000}"
	else
		echo "${BENCH_BASELINE_MAX:-1000}"
	fi
}

# classify: test-run cost per packet, and compile/verify/load cost, per set and size.
bench_classify() {
	local sizes=${BENCH_CLS_SIZES:-1 10 100 1000 10000 100000}
	local sets=${BENCH_SETS:-acl exact block} set n o f b errs=() c
	local gen=$O/tests/benchgen run=$O/tests/benchrun

	if [ ! -x "$gen" ] || [ ! -x "$run" ]; then
		die "$gen or $run missing (make tools)"
	fi
	echo "== classify: ns per packet over an empty TC program, same run"
	echo "   (BPF_PROG_TEST_RUN of the INPUT trace program, median of 5 rounds of 20 000"
	echo "   runs; first/last/none: a packet the first rule, only the last rule, no rule"
	echo "   matches; straight-line: --no-optimise; \"-\": not run, see BENCH_BASELINE_MAX)"
	for set in $sets; do
		for n in $sizes; do
			f=$work/$set-$n
			"$gen" --set "$set" --n "$n" --rules "$f.v4" --packets "$f.pk" ||
				die "benchgen --set $set --n $n failed"
			mkdir -p "$f.d"
			if ! "$run" --live "$f.v4" --pkts "$f.pk" --repeat 20000 >"$f.opt" \
				2>"$f.err"; then
				errs+=("optimised, $set, $n rules: $(head -c 300 "$f.err")")
			fi
			: >"$f.base"
			if [ "$n" -le "$(baseline_max "$set")" ]; then
				"$IPT2BPF" --save-blobs "$f.d" "$f.v4" 2>"$f.err" &&
					"$run" --no-optimise --live --blob "$f.d/filter.blob" \
						--pkts "$f.pk" --repeat 20000 >"$f.base" 2>"$f.err" ||
					errs+=("straight-line, $set, $n rules: $(head -c 300 "$f.err")")
			fi
		done
	done
	printf '\n  %-6s %7s  %22s  %22s\n' "" "" "optimised" "straight-line"
	printf '  %-6s %7s  %6s %7s %7s  %6s %7s %7s\n' set rules first last none first last none
	for set in $sets; do
		for n in $sizes; do
			f=$work/$set-$n
			printf '  %-6s %7s ' "$set" "$n"
			for o in opt base; do
				for c in first last none; do
					printf ' %7s' "$(pktns "$f.$o" "$c")"
				done
				printf ' '
			done
			echo
		done
	done
	echo
	echo "== compile: what \`ipt2bpf load\` compiles (ingress and egress programs, tc mode)"
	echo "   parse: iptables-legacy-restore under the xtables shim, validation, decoding;"
	echo "   gen: code generation with the optimiser; load: maps, their contents, the"
	echo "   verifier and loading; maps: the kernel's memlock figure of the maps (KiB);"
	echo "   insns: instructions of both programs (ms, one run)"
	printf '\n  %-6s %7s %8s  %34s  %34s\n' "" "" "" "optimised" "straight-line"
	printf '  %-6s %7s %8s  %7s %8s %8s %9s  %7s %8s %8s %9s\n' set rules parse gen load maps \
		insns gen load maps insns
	for set in $sets; do
		for n in $sizes; do
			f=$work/$set-$n
			printf '  %-6s %7s %8s ' "$set" "$n" "$(kv "$f.opt" parse_ms)"
			for o in opt base; do
				printf ' %7s %8s %8s %9s ' "$(kv "$f.$o" live_gen_ms)" \
					"$(kv "$f.$o" live_load_ms)" "$(kv "$f.$o" live_map_kb)" \
					"$(kv "$f.$o" live_insns)"
			done
			echo
		done
	done
	if [ ${#errs[@]} -gt 0 ]; then
		echo "  failed runs:"
		printf '    %s\n' "${errs[@]}"
	fi
	return 0
}

# e2e helpers.  One sender namespace, and a firewall namespace per kind of
# contender joined to it by a veth pair: L (iptables-legacy, whose tables stay
# registered once used), N (iptables-nft), B (ipt2bpf and the empty programs).
e2e_up() {
	local id=$1 k
	ip netns add "ptx-$id" || return 1
	for k in L N B; do
		ip netns add "pfw$k-$id" || return 1
		namespaces+=("pfw$k-$id")
		ip -n "ptx-$id" link add "btx$k" type veth peer name brx netns "pfw$k-$id" &&
			ip -n "ptx-$id" link set "btx$k" up &&
			ip -n "pfw$k-$id" link set brx up &&
			ip -n "pfw$k-$id" link set lo up &&
			ip -n "pfw$k-$id" addr add 198.19.0.1/16 dev brx || return 1
	done
}

e2e_down() {
	local k
	for k in L N B; do
		ns_del "pfw$k-$1"
	done
	ip netns del "ptx-$1" 2>/dev/null
	return 0
}

e2e_ns() {
	case $2 in
	legacy) echo "pfwL-$1" ;;
	nft) echo "pfwN-$1" ;;
	*) echo "pfwB-$1" ;;
	esac
}

# e2e_send ID WHAT SRC SPORT: CPU ns per packet of a 1 s burst of the no-match packet.
e2e_send() {
	local ns k mac
	ns=$(e2e_ns "$1" "$2")
	k=${ns:3:1}
	mac=$(ip -n "$ns" -br link show brx | awk '{ print $3 }')
	ip netns exec "ptx-$1" "$O/tests/benchsend" --dev "btx$k" --dmac "$mac" --src "$3" \
		--dst 198.19.0.1 --proto tcp --sport "$4" --dport 64001 --seconds 1 |
		awk '{ print $6 }'
}

# e2e_filter ID WHAT RULES: installs one contender in its firewall namespace.
e2e_filter() {
	local ns
	ns=$(e2e_ns "$1" "$2")
	case $2 in
	legacy) ip netns exec "$ns" iptables-legacy-restore <"$3" ;;
	nft) ip netns exec "$ns" iptables-nft-restore <"$3" ;;
	tc | xdp) ip netns exec "$ns" "$IPT2BPF" load "$3" --mode "$2" >/dev/null ;;
	empty-tc) ip netns exec "$ns" "$O/tests/benchrun" --attach-empty brx --mode tc ;;
	empty-xdp) ip netns exec "$ns" "$O/tests/benchrun" --attach-empty brx --mode xdp ;;
	esac
}

e2e_unfilter() {
	local ns
	ns=$(e2e_ns "$1" "$2")
	case $2 in
	legacy)
		ip netns exec "$ns" iptables-legacy -F
		ip netns exec "$ns" iptables-legacy -P INPUT ACCEPT
		;;
	nft) ip netns exec "$ns" iptables-nft -F ;;
	tc | xdp) ip netns exec "$ns" "$IPT2BPF" unload >/dev/null ;;
	empty-tc) ip netns exec "$ns" tc qdisc del dev brx clsact ;;
	empty-xdp) ip -n "$ns" link set dev brx xdp off ;;
	esac
}

# rate NS: packets per second for CPU ns per packet.
rate() {
	awk -v n="$1" 'BEGIN { if (n == "-" || n <= 0) print "-"; else printf "%.0f\n", 1e9 / n }'
}

bench_e2e() {
	local sizes=${BENCH_E2E_SIZES:-1 100 1000 10000} sets=${BENCH_SETS:-acl exact block}
	local rounds=${BENCH_E2E_ROUNDS:-3} id=$$ set n w r f t src sport key
	local whats="legacy nft tc xdp empty-tc empty-xdp" errs=()
	local -A best

	[ -x "$O/tests/benchsend" ] || die "$O/tests/benchsend missing (make tools)"
	command -v iptables-nft-restore >/dev/null || whats=${whats/nft /}
	echo "== e2e: a veth pair between two namespaces; the firewall side holds N INPUT rules"
	echo "   (policy DROP) and gets a TCP packet no rule matches, addressed to it; the"
	echo "   sender (AF_PACKET, sendmmsg) carries the receive path in its context: CPU ns"
	echo "   per packet of the sender thread, best of $rounds interleaved 1 s rounds (packets"
	echo "   per second = 1e9 / ns); the empty programs drop everything, on the same hook"
	e2e_up "$id" || die "cannot set up the veth namespaces"
	for set in $sets; do
		for n in $sizes; do
			f=$work/$set-$n
			[ -f "$f.pk" ] || "$O/tests/benchgen" --set "$set" --n "$n" --rules "$f.v4" \
				--packets "$f.pk" || die "benchgen failed"
			read -r _ _ src _ sport _ < <(grep '^none ' "$f.pk")
			for ((r = 0; r < rounds; r++)); do
				for w in $whats; do
					key=$set.$n.$w
					if ! e2e_filter "$id" "$w" "$f.v4" 2>"$work/err"; then
						errs+=("$w, $set, $n rules: $(head -c 200 "$work/err")")
						e2e_unfilter "$id" "$w" 2>/dev/null
						continue
					fi
					t=$(e2e_send "$id" "$w" "$src" "$sport")
					e2e_unfilter "$id" "$w" 2>/dev/null
					if [ -n "$t" ] && { [ -z "${best[$key]:-}" ] ||
						awk -v a="$t" -v b="${best[$key]}" 'BEGIN { exit !(a < b) }'; }; then
						best[$key]=$t
					fi
				done
			done
		done
	done
	e2e_down "$id"
	printf '\n  %-6s %7s  %7s %7s %7s %7s %7s %7s  %7s %7s %7s %7s\n' set rules legacy nft \
		tc xdp "e-tc" "e-xdp" "xdp/leg" "tc/leg" "xdp/e" "tc/e"
	for set in $sets; do
		for n in $sizes; do
			local L=${best[$set.$n.legacy]:--} N=${best[$set.$n.nft]:--}
			local T=${best[$set.$n.tc]:--} X=${best[$set.$n.xdp]:--}
			local ET=${best[$set.$n.empty-tc]:--} EX=${best[$set.$n.empty-xdp]:--}
			printf '  %-6s %7s  %7s %7s %7s %7s %7s %7s  %7s %7s %7s %7s\n' "$set" "$n" \
				"$L" "$N" "$T" "$X" "$ET" "$EX" "$(ratio "$L" "$X")" \
				"$(ratio "$L" "$T")" "$(ratio2 "$EX" "$X")" "$(ratio2 "$ET" "$T")"
		done
	done
	echo "  ns per packet (lower is better); e-tc, e-xdp: the empty programs.  Ratios are"
	echo "  packet rates: xdp/leg is ipt2bpf XDP's rate over iptables-legacy's, xdp/e its"
	echo "  rate over the empty XDP program's (1.00x: the rules cost nothing)."
	if [ ${#errs[@]} -gt 0 ]; then
		echo "  failed runs:"
		printf '    %s\n' "${errs[@]}"
	fi
	return 0
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
