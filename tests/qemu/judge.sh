#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/qemu/judge.sh RESULTS HOST-RESULTS DIFF-RECORD LABEL [KCONFIG-EXIT]
#
# Judges what tests/qemu/suite.sh wrote to RESULTS on one kernel:
#
#   programs verified   every rule set of verify.list compiled (the verifier
#                       loaded every program); rows of iptables' corpus and
#                       dumps may be refused, but exactly as on the host
#                       (HOST-RESULTS), with the same message
#   test-run cases      per rule set and chain, `ipt2bpf trace` on this kernel
#                       against the host kernel's iptables-legacy as kdiff
#                       recorded it in DIFF-RECORD (tests/diff/compare.sh)
#   traffic tests       every probe of tests/qemu/traffic.sh as expected
#   conntrack tests     every tests/ct/*.sh exited 0 (when they exist)
#
# KCONFIG-EXIT is scripts/check-kconfig.sh's exit status for the kernel's
# config (1: required options missing).  Prints a block per kernel, the last
# line "LABEL: ... PASS|FAIL"; exit 1 on FAIL.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RES=${1:?usage: judge.sh RESULTS HOST-RESULTS DIFF-RECORD LABEL [KCONFIG-EXIT]}
HOST=${2:?}
REC=${3:?}
LABEL=${4:?}
KRC=${5:-}
fail=0
say() { echo "  $*"; }

echo "== $LABEL ($(sed -n 's/^kernel //p' "$RES/info.txt" 2>/dev/null))"
if [ -n "$KRC" ] && [ "$KRC" != 0 ]; then
	say "kconfig: required options missing (above)"
	fail=1
fi

# ---- programs verified
declare -A H_V H_M
if [ -f "$HOST/verify.txt" ]; then
	while read -r name v _ msg; do
		H_V[$name]=$v
		H_M[$name]=$msg
	done <"$HOST/verify.txt"
fi
vok=0 vref=0 vbad=0 vtotal=0
bad_lines=()
if [ -f "$RES/verify.txt" ]; then
	while read -r name v ms msg; do
		vtotal=$((vtotal + 1))
		hv=${H_V[$name]:-missing}
		case $name in
		corpus/* | dump/* | capture/*) may_refuse=1 ;;
		*) may_refuse=0 ;;
		esac
		if [ "$v" = ok ] && [ "$hv" = ok ]; then
			vok=$((vok + 1))
		elif [ "$v" = refused ] && [ "$hv" = refused ] && [ $may_refuse = 1 ] &&
			[ "$msg" = "${H_M[$name]}" ]; then
			vref=$((vref + 1))
		else
			vbad=$((vbad + 1))
			bad_lines+=("$name: $v here (${ms}ms), $hv on the host: ${msg:-${H_M[$name]:-}}")
		fi
	done <"$RES/verify.txt"
fi
[ "$vtotal" -gt 0 ] || {
	bad_lines+=("no verify results")
	vbad=1
}
# Every rule set the host compiled must have run here.  Rows the host refused
# (at decode time: nothing there depends on the kernel) need not be rerun.
missing=0 notrun=0
for name in "${!H_V[@]}"; do
	if grep -q "^$name " "$RES/verify.txt" 2>/dev/null; then
		continue
	elif [ "${H_V[$name]}" = ok ]; then
		missing=$((missing + 1))
		bad_lines+=("$name: compiled on the host, not run here")
	else
		notrun=$((notrun + 1))
	fi
done
slow=$(sort -k3 -n -r "$RES/verify.txt" 2>/dev/null | head -1 | awk '{ printf "%s %.1fs", $1, $3 / 1000 }')
note="$vref corpus/dump rows refused as on the host"
[ $notrun = 0 ] || note="$notrun corpus/dump rows the host refused at decode time not rerun"
say "programs verified: $vok of $((vok + vbad + missing)) rule sets compiled and loaded" \
	"($note; slowest: $slow)"
[ $vbad = 0 ] && [ $missing = 0 ] || fail=1
# what the verifier said, for the first rule set that failed here
first_bad=$(awk 'NR == FNR { h[$1] = $2; next } $2 != "ok" && h[$1] == "ok" { print $1; exit }' \
	"$HOST/verify.txt" "$RES/verify.txt" 2>/dev/null)
if [ -n "$first_bad" ] && [ -f "$RES/verify/${first_bad//\//_}.log" ]; then
	say "first rule set the verifier rejected here: $first_bad (end of its output):"
	tail -12 "$RES/verify/${first_bad//\//_}.log" | sed 's/^/      /'
fi

# ---- test-run cases
cases=0 cok=0 dec=0 mism=0
for d in "$REC"/seed-*; do
	[ -d "$d" ] || continue
	s=$(basename "$d")
	for chain in INPUT FORWARD OUTPUT; do
		[ -f "$d/$chain.kernel" ] || continue
		cases=$((cases + 1))
		b=$RES/diff/$s/$chain.bpf
		if [ ! -f "$b" ]; then
			bad_lines+=("test-run $s $chain: no result")
			continue
		fi
		out=$(SHOW=2 bash "$ROOT/tests/diff/compare.sh" "$d/$chain.pcap.meta" "$d/$chain.kernel" "$b" \
			"$chain" "$s/rules.v4")
		n=$(sed -n 's/^decisions //p' <<<"$out")
		m=$(sed -n 's/^mismatches //p' <<<"$out")
		rc=$(cat "$RES/diff/$s/$chain.rc" 2>/dev/null || echo '?')
		dec=$((dec + ${n:-0}))
		mism=$((mism + ${m:-0}))
		if [ "$rc" = 0 ] && [ "${m:-1}" = 0 ] && [ "${n:-0}" -gt 0 ]; then
			cok=$((cok + 1))
		else
			err=$(head -c 300 "$RES/diff/$s/$chain.bpf.err" 2>/dev/null)
			bad_lines+=("test-run $s $chain: trace exit $rc, ${m:-?} mismatches${err:+: $err}")
			while read -r l; do bad_lines+=("  $l"); done < <(grep '^mismatch:\|^  ' <<<"$out" | head -4)
		fi
	done
done
say "test-run cases passed: $cok of $cases (BPF_PROG_TEST_RUN vs the host's iptables-legacy:" \
	"$dec packet decisions, $mism mismatches)"
[ "$cases" -gt 0 ] && [ "$cok" = "$cases" ] || fail=1

# ---- traffic
tok=$(grep -c '^traffic [a-z]* [^ ]* .* ok$' "$RES/traffic.txt" 2>/dev/null)
tall=$(grep -c '^traffic [a-z]* [^ :]* ' "$RES/traffic.txt" 2>/dev/null)
nprobes=$(grep -cv '^#\|^$' "$ROOT/tests/qemu/traffic.probes")
modes=$(sed -n 's/^traffic \([a-z]*\): [0-9]* passed.*/\1/p' "$RES/traffic.txt" 2>/dev/null | tr '\n' ' ')
nmodes=$(wc -w <<<"$modes")
[ "$nmodes" -ge 2 ] || nmodes=2
xdp=$(sed -n 's/^xdp-attach //p' "$RES/traffic.txt" 2>/dev/null | tr '\n' ',' | sed 's/,$//; s/,/, /g')
say "traffic tests passed: ${tok:-0} of $((nprobes * nmodes)) (modes: ${modes:-none};" \
	"XDP attached: ${xdp:-?})"
if [ "${tok:-0}" != "$tall" ] || [ "${tall:-0}" -lt $((nprobes * 2)) ]; then
	fail=1
	while read -r l; do bad_lines+=("$l"); done < <(grep 'WRONG$\|failed (exit\|: [0-9]* passed, [1-9]' "$RES/traffic.txt" 2>/dev/null)
fi
# The feature paths: XDP auto mode must have found native XDP on the veths and
# fallen back to generic on lo (no native XDP there).
if [ -n "$xdp" ] && ! grep -q 'lo generic' <<<"$xdp"; then
	bad_lines+=("xdp: lo is not in generic mode: $xdp")
	fail=1
fi
if [ -n "$xdp" ] && grep -q 'vin generic\|vout generic' <<<"$xdp"; then
	bad_lines+=("xdp: a veth fell back to generic mode: $xdp")
	fail=1
fi

# ---- conntrack
if [ -f "$RES/ct.txt" ]; then
	cn=$(wc -l <"$RES/ct.txt")
	cp_=$(awk '$3 == 0' "$RES/ct.txt" | wc -l)
	say "conntrack tests passed: $cp_ of $cn ($(awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2,
		($3 == 0 ? "ok" : ($3 == 124 || $3 == 143) ? "timed out after " $4 "s" : "exit " $3) }' "$RES/ct.txt"))"
	[ "$cp_" = "$cn" ] || {
		fail=1
		while read -r _ name rc _; do
			[ "$rc" = 0 ] || bad_lines+=("ct $name (exit $rc): $(tail -3 "$RES/ct-$name.log" | tr '\n' ' ')")
		done <"$RES/ct.txt"
	}
	ct=", ct $cp_/$cn"
else
	say "conntrack tests: not run (no tests/ct/, or not asked for)"
	ct=
fi

for l in "${bad_lines[@]}"; do
	say "!! $l"
done | head -30
verdict=PASS
[ $fail = 0 ] || verdict=FAIL
echo "$LABEL: verified $vok/$((vok + vbad + missing)), test-run $cok/$cases, traffic ${tok:-0}/$((nprobes * nmodes))$ct: $verdict"
[ $fail = 0 ]
