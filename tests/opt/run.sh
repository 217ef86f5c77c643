#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/opt/run.sh: the optimiser (codegen/opt.h) on large generated rule
# sets, the "opt" step of make check.
#
#   1. the kernel is the oracle: tests/diff/run.sh with rulegen's --opt mode
#      (RULEGEN_OPT=1: runs that become hash and LPM lookups and stretches
#      that become decision trees, mixed with ordinary random rules) and
#      OPT_RULES rules per set: iptables-legacy and `ipt2bpf trace` must count
#      the same rules and give the same verdicts;
#   2. the same kind of rule sets with many more packets (malformed ones
#      included: truncated headers and fragments take the classifiers'
#      ordered scan), optimised against straight-line code packet by packet
#      (tests/tools/benchrun --equiv);
#   3. the plans of those rule sets must contain every kind of segment (else
#      the test would pass vacuously).
#
# Environment: IPT2BPF, O (build directory), OPT_RULES (default 1500),
# OPT_SEEDS (kernel-oracle rule sets, default 3), OPT_EQ_SEEDS (default 3),
# OPT_PACKETS (per chain and rule set for the oracle, default 400),
# OPT_EQ_PACKETS (default 2000), OPT_FIRST_SEED (default 1).
# Exit status: 0 all agree, 1 a difference, 2 the harness failed.
set -uo pipefail

# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_init opt die
RULES=${OPT_RULES:-1500}
SEEDS=${OPT_SEEDS:-3}
EQ_SEEDS=${OPT_EQ_SEEDS:-3}
PACKETS=${OPT_PACKETS:-400}
EQ_PACKETS=${OPT_EQ_PACKETS:-2000}
FIRST=${OPT_FIRST_SEED:-1}
RULEGEN=$O/tests/rulegen
BENCHRUN=$O/tests/benchrun

h_need_root "network namespaces, BPF"
make -s -C "$ROOT" O="$O" "$RULEGEN" "$BENCHRUN" >&2 || h_die "building rulegen and benchrun failed"
h_need_ipt2bpf
h_workdir ipt2bpf-opt
TMP=$work
rc=0

# 1. against the kernel
echo "opt: $SEEDS rule sets of $RULES rules (rulegen --opt) against iptables-legacy"
if ! RULEGEN_OPT=1 DIFF_ID=opt$$ DIFF_OUT=$ROOT/tests/out/opt IPT2BPF=$IPT2BPF O=$O \
	bash "$ROOT/tests/diff/run.sh" -k "$RULES" -s "$SEEDS" -b "$FIRST" -m "$PACKETS" -l 0; then
	rc=1
fi

# 2. and 3. against straight-line code, and what the plans hold
kinds=$TMP/kinds
: >"$kinds"
total=0
for ((seed = FIRST + 100; seed < FIRST + 100 + EQ_SEEDS; seed++)); do
	d=$TMP/eq-$seed
	mkdir -p "$d"
	"$RULEGEN" --opt --seed "$seed" --rules "$d/rules.v4" --nrules "$RULES" \
		--npackets "$EQ_PACKETS" --pcap-input "$d/INPUT.pcap" --pcap-forward "$d/FORWARD.pcap" \
		--pcap-output "$d/OUTPUT.pcap" || h_die "rulegen --opt --seed $seed failed"
	for chain in INPUT FORWARD OUTPUT; do
		if ! IPT2BPF_OPT_DEBUG=1 "$BENCHRUN" "$d/rules.v4" --equiv "$d/$chain.pcap" \
			--chain "$chain" --in vin --out vout >"$d/$chain.out" 2>"$d/$chain.err"; then
			echo "opt: seed $seed $chain: optimised and straight-line code differ" \
				"(rules kept in $ROOT/tests/out/opt-eq-$seed):"
			head -20 "$d/$chain.out" "$d/$chain.err"
			rm -rf "$ROOT/tests/out/opt-eq-$seed"
			mkdir -p "$ROOT/tests/out"
			cp -r "$d" "$ROOT/tests/out/opt-eq-$seed"
			rc=1
		fi
		n=$(sed -n 's/^equiv \([0-9]*\) packets.*/\1/p' "$d/$chain.out")
		total=$((total + ${n:-0}))
		# the plan covers the whole table: count it once
		[ "$chain" = INPUT ] && grep -oE '^  (hash|lpm|tree) ' "$d/$chain.err" | tr -d ' ' >>"$kinds"
	done
done
echo "opt: $total packets through optimised and straight-line code ($EQ_SEEDS rule sets" \
	"of $RULES rules, every chain): $([ $rc = 0 ] && echo same verdicts and counters ||
		echo differences, see above)"
echo "opt: segments in those plans:" \
	"$(sort "$kinds" | uniq -c | awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }')"
for k in hash lpm tree; do
	if ! grep -qx "$k" "$kinds"; then
		echo "opt: no $k segment in any plan: the rule sets do not exercise the optimiser" >&2
		rc=1
	fi
done
exit $rc
