#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/diff/run.sh: the differential test. The kernel is the oracle.
#
#   tests/diff/run.sh [-s SEEDS] [-b FIRST_SEED] [-k NRULES] [-m NPACKETS]
#                     [-l LOOP_SEEDS] [--self-check] [--keep-all]
#
# For each seed: rulegen writes a random filter rule set and, per chain,
# packets aimed at it. kdiff (tests/tools/kdiff.c) loads the rules into
# iptables-legacy in the firewall namespace, sends the packets and reads the
# per-rule counters; `ipt2bpf trace` runs the same packets through the
# compiled program. Both print one JSON object per packet:
#
#   {"n":1,"verdict":"DROP","counted":["INPUT#2","block#4"],"policy":false}
#
# and the lines must be equal (field by field; counted in the same order).
#
# Known, documented difference: fragments at INPUT and OUTPUT. The kernel
# reassembles before the INPUT hook and judges the datagram when its last
# fragment arrives; it fragments local datagrams after the OUTPUT hook (kdiff
# sends an OUTPUT fragment series as the datagram, with its last fragment).
# ipt2bpf sees fragments, judges the first as the datagram and applies that
# verdict to the rest. So at INPUT and OUTPUT the fragments of one datagram
# (rulegen's .meta sidecar groups them) are compared as one decision: the
# union of the counted rules, the first verdict that is not PASS, and the
# policy flag (tests/diff/compare.sh). Lone OUTPUT fragments go out as a raw
# socket sends them and OUTPUT judges each: so does ipt2bpf.
#
# Then --loop rule sets (chain loops): the kernel and ipt2bpf must both refuse
# them (or, for a loop no built-in chain reaches, both accept).
#
# Environment: IPT2BPF (default $O/ipt2bpf), O (build dir for the tools,
# default build), DIFF_ID (namespace names; default the shell's pid),
# DIFF_OUT (default tests/out/diff), DIFF_TIMEOUT (seconds per run of either
# side, default 600), DIFF_SKIP_EDGES (packet kinds rulegen leaves out, e.g.
# "ipopt-bad,non-ipv4"; see rulegen --help).
# --self-check runs kdiff twice instead of kdiff and ipt2bpf (the oracle must
# be deterministic) and checks kdiff's counters against iptables-legacy-save -c.
# Failing cases are kept in DIFF_OUT, which each run empties first (--keep-all
# keeps every case): rules.v4, CHAIN.pcap (+ .meta: what each packet is
# and which rule it aims at), CHAIN.kernel, CHAIN.bpf and their .err.
#
# Exit status: 0 all agree, 1 mismatches, 2 the harness itself failed.
set -euo pipefail

# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_init difftest die
DIFF_ID=${DIFF_ID:-$$}
OUT=${DIFF_OUT:-$ROOT/tests/out/diff}
TIMEOUT=${DIFF_TIMEOUT:-600}

SEEDS=24
FIRST=1
NRULES=30
NPACKETS=300
LOOPS=8
SELF=0
KEEP_ALL=0
SHOW=10

usage() {
	sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//'
	exit "$1"
}

while [ $# -gt 0 ]; do
	case $1 in
	-s) SEEDS=$2; shift ;;
	-b) FIRST=$2; shift ;;
	-k) NRULES=$2; shift ;;
	-m) NPACKETS=$2; shift ;;
	-l) LOOPS=$2; shift ;;
	--self-check) SELF=1 ;;
	--keep-all) KEEP_ALL=1 ;;
	-h | --help) usage 0 ;;
	*) usage 2 ;;
	esac
	shift
done

h_need_root "network namespaces, iptables-legacy"
h_need_tools iptables-legacy-restore
make -s -C "$ROOT" O="$O" "$O/tests/rulegen" "$O/tests/kdiff" >&2 ||
	h_die "building rulegen and kdiff failed"
RULEGEN=$O/tests/rulegen
KDIFF=$O/tests/kdiff
if [ $SELF = 0 ] && [ ! -x "$IPT2BPF" ]; then
	h_die "$IPT2BPF not found (set IPT2BPF, or use --self-check to test the oracle alone)"
fi

h_workdir difftest
TMP=$work
h_topo "$DIFF_ID" || h_die "topology setup failed"
rm -rf "$OUT"
mkdir -p "$OUT"

kernel_side() { # kernel_side RULES PCAP CHAIN
	in_fw timeout "$TIMEOUT" "$KDIFF" --rules "$1" --pcap "$2" --chain "$3" --inject-ns "$NS_C" --inject-dev vc
}

bpf_side() { # bpf_side RULES PCAP CHAIN
	if [ $SELF = 1 ]; then
		kernel_side "$@"
	else
		in_fw timeout "$TIMEOUT" "$IPT2BPF" trace "$1" --pcap "$2" --chain "$3" --in vin --out vout --json
	fi
}

compare() { # compare META KERNEL BPF CHAIN LABEL
	SHOW=$SHOW "$ROOT/tests/diff/compare.sh" "$@"
}

# --self-check: kdiff's counted rules and policy flags, summed over a run,
# must equal iptables-legacy-save -c (a rule a packet traverses twice, via
# two jumps into one user chain, counts twice there and once in JSON: then
# the saved count is larger, which is reported but not an error).
check_save() { # check_save JSON CHAIN LABEL
	local res
	res=$(in_fw iptables-legacy-save -c -t filter | awk -v LABEL="$3" '
	FILENAME != "-" {
		while (match($0, /"[^"]*#[0-9]+"/)) {
			key = substr($0, RSTART + 1, RLENGTH - 2)
			J[key]++
			$0 = substr($0, RSTART + RLENGTH)
		}
		next
	}
	/^\[/ {
		split($1, pc, /[\[:]/)
		num[$3]++
		S[$3 "#" num[$3]] = pc[2]
	}
	END {
		bad = 0; more = 0
		for (k in S) {
			if (S[k] + 0 == J[k] + 0)
				continue
			if (S[k] + 0 > J[k] + 0 && J[k] + 0 > 0) { more++; continue }
			printf "selfcheck: %s %s: iptables-save -c counts %d, kdiff %d\n", LABEL, k, S[k], J[k]
			bad++
		}
		for (k in J)
			if (!(k in S)) {
				printf "selfcheck: %s %s: kdiff counted a rule iptables-save does not show\n", LABEL, k
				bad++
			}
		if (more)
			printf "selfcheck: %s: %d rule(s) counted more often than printed (repeated traversal)\n", LABEL, more
		print "badsave " bad
	}' "$1" -)
	printf '%s\n' "$res" | grep -v '^badsave' >&2 || true
	[ "$(printf '%s\n' "$res" | sed -n 's/^badsave //p')" = 0 ]
}
# policy counts are checked too: the number of JSON lines with policy true
check_policy() { # check_policy JSON CHAIN LABEL
	local js sv
	js=$(grep -c '"policy":true' "$1" || true)
	sv=$(in_fw iptables-legacy-save -c -t filter | sed -n "s/^:$2 [A-Z]* \[\([0-9]*\):.*/\1/p")
	if [ "$js" != "$sv" ]; then
		echo "selfcheck: $3 $2 policy: iptables-save -c counts $sv, kdiff $js" >&2
		return 1
	fi
}

total=0
mism=0
sets=0
reports=$TMP/reports
errors=$TMP/errors
kinds=$TMP/kinds
: >"$reports"
: >"$errors"
: >"$kinds"
verdicts=$TMP/verdicts
: >"$verdicts"
rules_all=0
rules_hit=0
harness_fail=0

for ((seed = FIRST; seed < FIRST + SEEDS; seed++)); do
	d=$TMP/seed-$seed
	mkdir -p "$d"
	"$RULEGEN" --seed "$seed" --rules "$d/rules.v4" --pcap-input "$d/INPUT.pcap" \
		--pcap-forward "$d/FORWARD.pcap" --pcap-output "$d/OUTPUT.pcap" \
		--nrules "$NRULES" --npackets "$NPACKETS" ${DIFF_SKIP_EDGES:+--skip-edges "$DIFF_SKIP_EDGES"} ||
		h_die "rulegen --seed $seed failed"
	sets=$((sets + 1))
	keep=$KEEP_ALL
	for chain in INPUT FORWARD OUTPUT; do
		# ipt2bpf first: should it touch the kernel's tables by mistake,
		# kdiff's restore puts the rules back
		brc=0
		bpf_side "$d/rules.v4" "$d/$chain.pcap" "$chain" >"$d/$chain.bpf" \
			2>"$d/$chain.bpf.err" || brc=$?
		krc=0
		kernel_side "$d/rules.v4" "$d/$chain.pcap" "$chain" >"$d/$chain.kernel" \
			2>"$d/$chain.kernel.err" || krc=$?
		if [ $krc != 0 ]; then
			echo "difftest: kdiff failed (status $krc) on seed $seed $chain:" >&2
			head -5 "$d/$chain.kernel.err" >&2
			harness_fail=1
			keep=1
			continue
		fi
		if [ $SELF = 1 ]; then
			check_save "$d/$chain.kernel" "$chain" "seed-$seed" || harness_fail=1
			check_policy "$d/$chain.kernel" "$chain" "seed-$seed" || harness_fail=1
		fi
		if [ $brc != 0 ]; then
			echo "error: $OUT/seed-$seed $chain: ipt2bpf trace failed (status $brc):" \
				"$(head -c 300 "$d/$chain.bpf.err" | sed "s|$TMP|$OUT|g")" >>"$errors"
		fi
		compare "$d/$chain.pcap.meta" "$d/$chain.kernel" "$d/$chain.bpf" "$chain" \
			"$OUT/seed-$seed/rules.v4" >"$d/$chain.cmp"
		n=$(sed -n 's/^decisions //p' "$d/$chain.cmp")
		m=$(sed -n 's/^mismatches //p' "$d/$chain.cmp")
		total=$((total + n))
		mism=$((mism + m))
		grep '^mismatch:\|^  ' "$d/$chain.cmp" >>"$reports" || true
		sed -n 's/^kind //p' "$d/$chain.cmp" >>"$kinds"
		grep -o '"verdict":"[A-Z]*"' "$d/$chain.kernel" >>"$verdicts" || true
		[ "$m" = 0 ] || keep=1
	done
	# how much of the rule set the packets exercised (a run where nothing
	# matches anything would agree vacuously)
	n=$(grep -c '^-A' "$d/rules.v4" || true)
	rules_all=$((rules_all + n))
	n=$(cat "$d"/*.kernel | { grep -o '"[^"]*#[0-9]*"' || true; } | sort -u | wc -l)
	rules_hit=$((rules_hit + n))
	if [ $keep = 1 ]; then
		rm -rf "$OUT/seed-$seed"
		cp -r "$d" "$OUT/seed-$seed"
	fi
	rm -rf "$d"
done

# Chain loops: the kernel refuses them with ELOOP when a built-in chain
# reaches the loop; ipt2bpf must refuse exactly when the kernel does.
loops_ok=0
loops_bad=0
if [ "$LOOPS" -gt 0 ]; then
	"$RULEGEN" --seed 1 --rules /dev/null --pcap-input "$TMP/empty.pcap" --npackets 0 ||
		h_die "rulegen (empty pcap) failed"
fi
for ((i = 0; i < LOOPS; i++)); do
	seed=$((FIRST + i))
	f=$TMP/loop-$seed.v4
	"$RULEGEN" --seed "$seed" --loop --rules "$f" --nrules 10 || h_die "rulegen --loop failed"
	kr=0
	in_fw iptables-legacy-restore -w <"$f" 2>/dev/null || kr=1
	if [ $((seed % 4)) != 3 ] && [ $kr = 0 ]; then
		echo "difftest: the kernel accepted the looped rule set $f" >&2
		harness_fail=1
	fi
	if [ $SELF = 1 ]; then
		br=$kr
	else
		br=0
		in_fw timeout "$TIMEOUT" "$IPT2BPF" trace "$f" --pcap "$TMP/empty.pcap" --chain INPUT --in vin \
			--out vout --json >/dev/null 2>"$TMP/loop.err" || br=1
	fi
	if [ $kr = $br ]; then
		loops_ok=$((loops_ok + 1))
	else
		loops_bad=$((loops_bad + 1))
		mkdir -p "$OUT/loops"
		cp "$f" "$OUT/loops/"
		echo "error: $OUT/loops/loop-$seed.v4: kernel $([ $kr = 0 ] && echo accepts || echo refuses) it, ipt2bpf $([ $br = 0 ] && echo accepts || echo refuses) it" >>"$errors"
	fi
done

echo "difftest: $total packet decisions, $mism mismatches ($sets rule sets)"
echo "difftest: kernel verdicts per packet:" \
	"$(sed 's/.*:"\(.*\)"/\1/' "$verdicts" | sort | uniq -c | awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }');" \
	"rules that counted a packet: $rules_hit of $rules_all"
if [ "$LOOPS" -gt 0 ]; then
	echo "difftest: chain loops: $loops_ok of $((loops_ok + loops_bad)) handled as the kernel does"
fi
if [ -s "$kinds" ]; then
	echo "difftest: mismatches by packet kind (rulegen's .meta):" \
		"$(sort "$kinds" | uniq -c | sort -rn | awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }')"
fi
cat "$errors"
if [ -s "$reports" ]; then
	awk -v max="$SHOW" '/^mismatch:/ { n++ } n <= max' "$reports"
	[ "$mism" -le "$SHOW" ] || echo "... (first $SHOW of $mism shown; cases kept in $OUT)"
fi
[ $harness_fail = 0 ] || exit 2
[ $mism = 0 ] && [ $loops_bad = 0 ] && [ ! -s "$errors" ] || exit 1
exit 0
