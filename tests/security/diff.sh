#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/security/diff.sh [-s SEEDS] [-b FIRST_SEED] [-k NRULES] [-m NPACKETS]
#
# The security table's traversal against the kernel's: random security-table
# rule sets (rulegen --table security: the differential test's rules, some
# with -j SECMARK) and packets aimed at them; per-rule counters and verdicts
# must agree between the kernel (kdiff --table security) and
# `ipt2bpf trace -t security`, packet by packet (tests/diff/compare.sh).
#
# The kernel cannot load SECMARK without SELinux (security_secctx_to_secid()
# fails), so its copy of the rules has a stand-in with the same traversal:
# -j SECMARK --selctx CTX becomes a jump to an empty user chain (counted,
# then on with the next rule, like any non-terminal target).  CONNSECMARK
# would load, but it turns nf_conntrack on in the namespace, whose
# defragmentation changes what FORWARD sees; SECMARK is what the random
# rules use.  ipt2bpf compiles the real SECMARK rules (trace needs no sink).
#
# Environment: IPT2BPF (default $O/ipt2bpf), O (tools' build dir,
# default build), DIFF_ID, SECDIFF_OUT (failing cases, default
# tests/out/security-diff).  Last line: "security-diff: N decisions,
# M mismatches".  Exit 0 all agree, 1 mismatches, 2 the harness failed.
set -euo pipefail

# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_init security-diff die
DIFF_ID=${DIFF_ID:-sec$$}
OUT=${SECDIFF_OUT:-$ROOT/tests/out/security-diff}

SEEDS=12
FIRST=1
NRULES=40
NPACKETS=200
while [ $# -gt 0 ]; do
	case $1 in
	-s) SEEDS=$2; shift ;;
	-b) FIRST=$2; shift ;;
	-k) NRULES=$2; shift ;;
	-m) NPACKETS=$2; shift ;;
	*)
		sed -n '4p' "$0" | sed 's/^# //'
		exit 2
		;;
	esac
	shift
done

h_need_root "network namespaces"
make -s -C "$ROOT" O="$O" "$O/tests/rulegen" "$O/tests/kdiff" >&2 || h_die "building the tools failed"
h_need_ipt2bpf
h_modprobe iptable_security

h_workdir secdiff
TMP=$work
h_topo "$DIFF_ID" || h_die "topology setup failed"
rm -rf "$OUT"
mkdir -p "$OUT"

total=0
mism=0
secmarks=0
hit=0
errors=0
for ((seed = FIRST; seed < FIRST + SEEDS; seed++)); do
	d=$TMP/seed-$seed
	mkdir -p "$d"
	"$O/tests/rulegen" --table security --seed "$seed" --rules "$d/rules.v4" \
		--pcap-input "$d/INPUT.pcap" --pcap-forward "$d/FORWARD.pcap" \
		--pcap-output "$d/OUTPUT.pcap" --nrules "$NRULES" --npackets "$NPACKETS" ||
		h_die "rulegen --seed $seed failed"
	# The kernel's copy: SECMARK becomes a jump to the empty chain SECSTANDIN.
	sed -e 's/-j SECMARK --selctx [^ ]*/-j SECSTANDIN/' \
		-e 's/^\*security$/*security\n:SECSTANDIN - [0:0]/' "$d/rules.v4" >"$d/kernel.v4"
	secmarks=$((secmarks + $(grep -c -- '-j SECMARK' "$d/rules.v4" || true)))
	keep=0
	for chain in INPUT FORWARD OUTPUT; do
		brc=0
		in_fw timeout 600 "$IPT2BPF" trace "$d/rules.v4" -t security --pcap "$d/$chain.pcap" \
			--chain "$chain" --in vin --out vout --json >"$d/$chain.bpf" 2>"$d/$chain.bpf.err" ||
			brc=$?
		krc=0
		in_fw timeout 600 "$O/tests/kdiff" --rules "$d/kernel.v4" --table security \
			--pcap "$d/$chain.pcap" --chain "$chain" --inject-ns "$NS_C" --inject-dev vc \
			>"$d/$chain.kernel" 2>"$d/$chain.kernel.err" || krc=$?
		if [ $krc != 0 ]; then
			echo "security-diff: kdiff failed on seed $seed $chain: $(head -3 "$d/$chain.kernel.err")" >&2
			exit 2
		fi
		if [ $brc != 0 ]; then
			echo "error: seed $seed $chain: ipt2bpf trace failed: $(head -c 300 "$d/$chain.bpf.err")"
			errors=$((errors + 1))
			keep=1
		fi
		"$ROOT/tests/diff/compare.sh" "$d/$chain.pcap.meta" "$d/$chain.kernel" "$d/$chain.bpf" \
			"$chain" "$OUT/seed-$seed/rules.v4" >"$d/$chain.cmp"
		n=$(sed -n 's/^decisions //p' "$d/$chain.cmp")
		m=$(sed -n 's/^mismatches //p' "$d/$chain.cmp")
		total=$((total + n))
		mism=$((mism + m))
		if [ "$m" != 0 ]; then
			grep '^mismatch:\|^  ' "$d/$chain.cmp" | head -20
			keep=1
		fi
	done
	# SECMARK rules that counted a packet: the comparison is not vacuous.
	for chain in INPUT FORWARD OUTPUT; do
		grep -o '"[^"]*#[0-9]*"' "$d/$chain.kernel" | tr -d '"' || true
	done | sort -u >"$d/counted"
	while read -r cr; do
		c=${cr%#*} num=${cr#*#}
		awk -v c="$c" -v n="$num" '$1 == "-A" && $2 == c { if (++k == n && /-j SECMARK/) found = 1 }
			END { exit !found }' "$d/rules.v4" && hit=$((hit + 1))
	done <"$d/counted"
	if [ $keep = 1 ]; then
		cp -r "$d" "$OUT/seed-$seed"
	fi
	rm -rf "$d"
done
echo "security-diff: $SEEDS rule sets, $secmarks SECMARK rules, $hit of them counted packets"
echo "security-diff: $total decisions, $mism mismatches"
[ "$mism" = 0 ] && [ $errors = 0 ] && [ $hit -gt 0 ] || exit 1
exit 0
