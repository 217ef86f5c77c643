#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/corpus/run.sh [-v] [FILE.t...]
#
# iptables' own rule corpus (../shared/iptables-tests/extensions/*.t, IPv4
# files) against ipt2bpf, for the filter and security tables:
#
#  * every ;OK rule that the kernel loads (iptables-legacy-restore in a
#    namespace) must either compile (`ipt2bpf R -o x.o`, verifier included)
#    and agree with the kernel on a fixed set of varied packets (kdiff vs
#    `ipt2bpf trace`), or be refused with a message that names the extension
#    or the reason;
#  * every ;FAIL rule must be rejected.
#
# Tally per file and in total: compiled / refused / rejected (FAIL rows) /
# n/a (the kernel here refuses the OK rule itself: SELinux off, chains the
# .t file creates with shell commands, ...) / wrong.  wrong must be 0.
# Then the refused OK rules by the extension their refusal names: where the
# remaining gap is.
#
# Environment: IPT2BPF (default $O/ipt2bpf), O (build dir, default build),
# IPT2BPF_SHARED (default ../shared next to the repository).
set -uo pipefail

# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_init corpus die
SHARED=${IPT2BPF_SHARED:-$ROOT/../shared}
EXT=$SHARED/iptables-tests/extensions
VERBOSE=0
[ "${1:-}" = -v ] && { VERBOSE=1; shift; }

h_need_root "network namespaces"
[ -d "$EXT" ] || h_die "no corpus at $EXT (set IPT2BPF_SHARED)"
h_need_ipt2bpf
make -s -C "$ROOT" O="$O" "$O/tests/rulegen" "$O/tests/kdiff" "$O/tests/ctdiff" >&2 || h_die "building tools failed"

ID=corpus$$
h_workdir corpus
TMP=$work
h_topo "$ID" >/dev/null || h_die "topology setup failed"

"$O/tests/rulegen" --fixed --pcap-input "$TMP/INPUT.pcap" --pcap-forward "$TMP/FORWARD.pcap" \
	--pcap-output "$TMP/OUTPUT.pcap" >/dev/null || h_die "rulegen --fixed failed"

if [ $# -gt 0 ]; then
	files=("$@")
else
	mapfile -t files < <(find "$EXT" -name '*.t' ! -name 'libip6t_*' | sort)
fi

declare -A T_COMP T_REF T_REJ T_NA T_WRONG
total_comp=0 total_ref=0 total_rej=0 total_na=0 total_wrong=0 decisions=0
wrong_log=$TMP/wrong.log
: >"$wrong_log"
refused_log=$TMP/refused.log
: >"$refused_log"

wrong() { # wrong FILE MESSAGE
	T_WRONG[$1]=$((${T_WRONG[$1]:-0} + 1))
	total_wrong=$((total_wrong + 1))
	printf '%s\n' "WRONG $2" >>"$wrong_log"
}

rules_file() { # rules_file TABLE CHAIN RULE > file
	printf '*%s\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A %s %s\nCOMMIT\n' "$1" "$2" "$3"
}

for f in "${files[@]}"; do
	base=$(basename "$f")
	while IFS='|' read -r file table chain res rule; do
		r=$TMP/rule.v4
		rules_file "$table" "$chain" "$rule" >"$r"
		what="$file: -t $table -A $chain $rule ($res)"
		in_fw iptables-legacy-restore <"$r" >"$TMP/k.err" 2>&1
		krc=$?
		in_fw iptables-legacy -t "$table" -F >/dev/null 2>&1
		"$IPT2BPF" "$r" -t "$table" -o "$TMP/x.o" >"$TMP/b.out" 2>"$TMP/b.err"
		brc=$?
		if [ "$brc" -ge 124 ]; then
			wrong "$base" "$what: ipt2bpf crashed (exit $brc): $(tail -c 300 "$TMP/b.err")"
			continue
		fi
		if [ "$res" = FAIL ]; then
			if [ "$brc" -eq 0 ]; then
				wrong "$base" "$what: ipt2bpf compiled a rule iptables' corpus says must fail (kernel exit $krc)"
			else
				T_REJ[$base]=$((${T_REJ[$base]:-0} + 1))
				total_rej=$((total_rej + 1))
			fi
			continue
		fi
		if [ "$krc" -ne 0 ]; then
			T_NA[$base]=$((${T_NA[$base]:-0} + 1))
			total_na=$((total_na + 1))
			[ $VERBOSE = 1 ] && echo "n/a  $what: kernel: $(head -c 200 "$TMP/k.err" | tr '\n' ' ')"
			continue
		fi
		if [ "$brc" -ne 0 ]; then
			# A refusal must say what it refuses: the extension or the reason.
			if grep -Eq "ipt2bpf: .*((match|target) '[^']+'|not supported|cannot)" "$TMP/b.err"; then
				T_REF[$base]=$((${T_REF[$base]:-0} + 1))
				total_ref=$((total_ref + 1))
				grep -m1 'ipt2bpf: ' "$TMP/b.err" |
					sed -n "s/.*\(match\|target\) '\([^']*\)'.*/\1 \2/p" |
					grep . >>"$refused_log" || echo "other" >>"$refused_log"
				[ $VERBOSE = 1 ] && echo "ref  $what: $(head -c 200 "$TMP/b.err" | tr '\n' ' ')"
			else
				wrong "$base" "$what: refused without naming why: $(head -c 300 "$TMP/b.err")"
			fi
			continue
		fi
		# A random match, or a rate that refills within milliseconds, cannot agree packet
		# for packet: tests/limits compares them (statistics, controlled time).
		if [[ ($rule == *"--mode random"* && ! $rule =~ --probability\ [01](\.0*)?( |$)) ||
			$rule =~ (limit|upto|above)\ [0-9]{4,}/s || $rule =~ [0-9][kmg]?b/s ]]; then
			T_COMP[$base]=$((${T_COMP[$base]:-0} + 1))
			total_comp=$((total_comp + 1))
			continue
		fi
		# Compiled: the kernel and ipt2bpf must agree on every packet.
		pcap=$TMP/$chain.pcap
		in_fw "$O/tests/ctdiff" flush >/dev/null 2>&1 || true # no connections left by earlier rules
		# Both on CPU 0: -m cpu sees the CPU that runs the rules (kdiff's packets are
		# handled on its CPU, trace's program runs on trace's).
		in_fw taskset -c 0 "$O/tests/kdiff" --rules "$r" --table "$table" --pcap "$pcap" --chain "$chain" \
			--inject-ns "$NS_C" --inject-dev vc >"$TMP/k.json" 2>"$TMP/k.err"
		kdrc=$?
		in_fw taskset -c 0 "$IPT2BPF" trace "$r" -t "$table" --pcap "$pcap" --chain "$chain" --in vin --out vout \
			--json >"$TMP/b.json" 2>"$TMP/b.err"
		trc=$?
		if [ $kdrc -ne 0 ] || [ $trc -ne 0 ]; then
			wrong "$base" "$what: differential run failed (kdiff $kdrc, trace $trc): $(tail -c 300 "$TMP/k.err" "$TMP/b.err" | tr '\n' ' ')"
			continue
		fi
		SHOW=3 bash "$ROOT/tests/diff/compare.sh" "$pcap.meta" "$TMP/k.json" "$TMP/b.json" "$chain" "$what" >"$TMP/cmp"
		n=$(awk '/^decisions/ { print $2 }' "$TMP/cmp")
		m=$(awk '/^mismatches/ { print $2 }' "$TMP/cmp")
		decisions=$((decisions + ${n:-0}))
		if [ "${m:-1}" != 0 ]; then
			wrong "$base" "$what: differs from the kernel: $(grep -v '^kind\|^decisions\|^mismatches' "$TMP/cmp" | head -6)"
			continue
		fi
		T_COMP[$base]=$((${T_COMP[$base]:-0} + 1))
		total_comp=$((total_comp + 1))
	done < <(h_corpus_cases "$f")
done

printf '%-24s %9s %8s %9s %5s %6s\n' file compiled refused rejected n/a wrong
for f in "${files[@]}"; do
	b=$(basename "$f")
	t=$((${T_COMP[$b]:-0} + ${T_REF[$b]:-0} + ${T_REJ[$b]:-0} + ${T_NA[$b]:-0} + ${T_WRONG[$b]:-0}))
	[ "$t" -eq 0 ] && continue
	printf '%-24s %9d %8d %9d %5d %6d\n' "$b" "${T_COMP[$b]:-0}" "${T_REF[$b]:-0}" \
		"${T_REJ[$b]:-0}" "${T_NA[$b]:-0}" "${T_WRONG[$b]:-0}"
done
printf '%-24s %9d %8d %9d %5d %6d\n' TOTAL $total_comp $total_ref $total_rej $total_na $total_wrong
ok=$((total_comp + total_ref))
[ $ok -gt 0 ] && echo "corpus: OK rules compiled and agreeing with the kernel: $total_comp of $ok ($((100 * total_comp / ok))%), $decisions packet decisions"
if [ -s "$refused_log" ]; then
	echo "corpus: refused OK rules by extension:" \
		"$(sort "$refused_log" | uniq -c | sort -rn | awk '{ printf "%s%s %s %d", (NR > 1 ? ", " : ""), $2, $3, $1 }')"
fi
if [ -s "$wrong_log" ]; then
	echo "corpus: wrong cases:"
	head -40 "$wrong_log"
fi
echo "corpus: $((total_comp + total_ref + total_rej)) passed, $total_wrong failed"
[ $total_wrong -eq 0 ]
