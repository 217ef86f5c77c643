#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/qemu/suite.sh DATA RESULTS: the kernel regression suite, run on one
# kernel (in the QEMU guest by tests/qemu/guest-init, or directly on the host
# by scripts/qemu-check).  It only runs things and writes what it saw to
# RESULTS; scripts/qemu-check (tests/qemu/judge.sh) judges the results
# against what the host recorded.  DATA (made by scripts/qemu-check):
#
#   verify.list     NAME|ARGS|FILE per line: `ipt2bpf FILE ARGS -o x.o` (the
#                   kernel verifier loads every program) -> RESULTS/verify.txt
#                   "NAME ok|refused|FAIL MS FIRST-ERROR-LINE" (the end of the
#                   output of each that did not compile: RESULTS/verify/*.log)
#   diff/seed-N/    rules.v4 and CHAIN.pcap of tests/diff/run.sh --keep-all:
#                   `ipt2bpf trace` (BPF_PROG_TEST_RUN) of each chain in the
#                   firewall namespace -> RESULTS/diff/seed-N/CHAIN.bpf
#   (tests/qemu/traffic.sh tc and xdp, SUITE_TRAFFIC_MODES) -> RESULTS/traffic.txt
#   ct/             tests/ct/*.sh when that directory exists in the tree ->
#                   RESULTS/ct.txt "ct NAME EXIT SECONDS" (+ ct-NAME.log)
#
# RESULTS/info.txt says which kernel ran it.  Environment: IPT2BPF, PROBE (as
# traffic.sh), SUITE_ID (namespace names), SUITE_PARTS (default "verify diff
# traffic ct"), SUITE_CT_TIMEOUT (seconds per tests/ct script, default 300:
# they replay flows in real time, which TCG may not keep up with).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${1:?usage: suite.sh DATA RESULTS}
RES=${2:?usage: suite.sh DATA RESULTS}
O=${O:-build}
[[ $O = /* ]] || O=$ROOT/$O
export IPT2BPF=${IPT2BPF:-$O/ipt2bpf}
ID=${SUITE_ID:-qs$$}
PARTS=${SUITE_PARTS:-verify diff traffic ct}
mkdir -p "$RES"
TMP=$(mktemp -d /tmp/qsuite.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
part() { grep -qw -- "$1" <<<"$PARTS"; }
say() { echo "suite: $*"; }

{
	echo "kernel $(uname -r)"
	echo "machine $(uname -m), $(nproc) CPU(s)"
	echo "ipt2bpf $IPT2BPF"
} >"$RES/info.txt"
say "kernel $(uname -r): $PARTS"

if part verify && [ -f "$DATA/verify.list" ]; then
	: >"$RES/verify.txt"
	n=0 bad=0 t0=$(now_ms)
	while IFS='|' read -r name args file; do
		[ -n "$name" ] || continue
		s=$(now_ms)
		# shellcheck disable=SC2086 # ARGS are words
		"$IPT2BPF" "$DATA/$file" $args -o "$TMP/x.o" >"$TMP/out" 2>&1
		rc=$?
		ms=$(($(now_ms) - s))
		case $rc in
		0) v=ok ;;
		1) v=refused ;;
		*) v=FAIL bad=$((bad + 1)) ;;
		esac
		n=$((n + 1))
		echo "$name $v $ms $(grep -v '^$' "$TMP/out" | head -1)" >>"$RES/verify.txt"
		if [ $rc != 0 ]; then
			mkdir -p "$RES/verify"
			tail -60 "$TMP/out" >"$RES/verify/${name//\//_}.log"
		fi
	done <"$DATA/verify.list"
	say "verify: $n rule sets in $((($(now_ms) - t0) / 1000))s ($bad crashed or bad usage)"
fi

if part diff && [ -d "$DATA/diff" ]; then
	TOPO=$ROOT/tests/diff/topology.sh
	NS_FW=$(bash "$TOPO" names "$ID" | awk '{ print $2 }')
	bash "$TOPO" up "$ID" || say "diff: topology setup failed"
	t0=$(now_ms)
	for d in "$DATA"/diff/seed-*; do
		[ -f "$d/rules.v4" ] || continue
		out=$RES/diff/$(basename "$d")
		mkdir -p "$out"
		for chain in INPUT FORWARD OUTPUT; do
			[ -f "$d/$chain.pcap" ] || continue
			ip netns exec "$NS_FW" "$IPT2BPF" trace "$d/rules.v4" --pcap "$d/$chain.pcap" \
				--chain "$chain" --in vin --out vout --json >"$out/$chain.bpf" \
				2>"$out/$chain.bpf.err"
			echo $? >"$out/$chain.rc"
		done
	done
	bash "$TOPO" down "$ID"
	say "diff: traced in $((($(now_ms) - t0) / 1000))s"
fi

if part traffic; then
	: >"$RES/traffic.txt"
	for mode in ${SUITE_TRAFFIC_MODES:-tc xdp}; do
		bash "$ROOT/tests/qemu/traffic.sh" "$mode" "${ID}t" >>"$RES/traffic.txt" 2>&1
	done
	say "traffic: $(grep -c ' ok$' "$RES/traffic.txt") probes ok, $(grep -c ' WRONG$' "$RES/traffic.txt") wrong"
fi

# The conntrack tests of tests/ct/ (when present): each script on its own,
# with the same environment as under scripts/check.sh (O relative to the
# repository root, as those scripts expect it).
if part ct && [ -d "$ROOT/tests/ct" ]; then
	: >"$RES/ct.txt"
	ct_o=${O#"$ROOT"/}
	for s in "$ROOT"/tests/ct/*.sh; do
		[ -f "$s" ] || continue
		name=$(basename "$s" .sh)
		s0=$(now_ms)
		ct_build=$O
		O=$ct_o IPT2BPF_BUILD=$ct_build timeout "${SUITE_CT_TIMEOUT:-300}" bash "$s" </dev/null >"$RES/ct-$name.log" 2>&1
		rc=$?
		echo "ct $name $rc $((($(now_ms) - s0) / 1000))" >>"$RES/ct.txt"
	done
	say "ct: $(wc -l <"$RES/ct.txt") script(s) run"
fi
exit 0
