#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/corpus/dumps.sh [DUMP...]
#
# The real-world iptables-save dumps (../shared/iptables-tests/dumps/) against
# ipt2bpf, filter table: each must compile (`ipt2bpf DUMP -t filter -o x.o`,
# verifier included), or be refused only for extensions the refusal names.
# To list every extension that stands in the way (the compiler stops at the
# first), a refused rule is taken out of a copy and the copy compiled again,
# until it compiles; the remaining rule set must then load.
#
# Prints per dump: its filter rules, and "compiles" or the refused rules by
# extension. Fails if a refusal names no extension or the reduced rule set
# does not compile.
#
# Environment: IPT2BPF (default $O/ipt2bpf), IPT2BPF_SHARED (default
# ../shared next to the repository).
set -uo pipefail

# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_init dumps die
SHARED=${IPT2BPF_SHARED:-$ROOT/../shared}
DUMPS=$SHARED/iptables-tests/dumps

h_need_ipt2bpf
if [ $# -gt 0 ]; then
	files=("$@")
else
	[ -d "$DUMPS" ] || h_die "no dumps at $DUMPS (set IPT2BPF_SHARED)"
	mapfile -t files < <(find "$DUMPS" -type f | sort)
fi
h_workdir dumps
TMP=$work

# Deletes the Nth "-A CHAIN" rule (maybe after "[pkts:bytes] ") of the *filter
# section of $1 in place.
drop_rule() { # drop_rule FILE CHAIN N
	awk -v C="$2" -v N="$3" '
	/^\*/ { t = substr($0, 2) }
	{ k = ($1 ~ /^\[[0-9]+:[0-9]+\]$/) ? 2 : 1 }
	t == "filter" && $k == "-A" && $(k + 1) == C { if (++n == N) next }
	{ print }' "$1" >"$1.new" && mv "$1.new" "$1"
}

bad=0
printf '%-22s %6s  %s\n' dump rules result
for f in "${files[@]}"; do
	name=$(basename "$f")
	cp "$f" "$TMP/cur"
	nrules=$(awk '/^\*/ { t = substr($0, 2) } t == "filter" && /^(\[[0-9]+:[0-9]+\] )?-A /' "$f" | wc -l)
	declare -A why=()
	removed=0 result=
	for ((round = 0; round <= nrules; round++)); do
		if "$IPT2BPF" "$TMP/cur" -t filter -o "$TMP/x.o" >/dev/null 2>"$TMP/err"; then
			break
		fi
		msg=$(head -1 "$TMP/err")
		# filter/CHAIN#N: match 'EXT' ... / target 'EXT' ...
		if [[ $msg =~ filter/([^#:]+)#([0-9]+):\ (match|target)\ \'([^\']+)\' ]]; then
			ext="${BASH_REMATCH[3]} ${BASH_REMATCH[4]}"
			why[$ext]=$((${why[$ext]:-0} + 1))
			drop_rule "$TMP/cur" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
			removed=$((removed + 1))
		else
			result="FAIL: refused without naming an extension: $msg"
			bad=1
			break
		fi
	done
	if [ -z "$result" ]; then
		if [ $removed = 0 ]; then
			result="compiles"
		else
			list=$(for k in "${!why[@]}"; do echo "${why[$k]} $k"; done | sort -rn |
				awk '{ printf "%s%s %s (%d)", (NR > 1 ? ", " : ""), $2, $3, $1 }')
			result="$removed refused: $list; the other rules compile"
		fi
	fi
	unset why
	printf '%-22s %6d  %s\n' "$name" "$nrules" "$result"
done
[ $bad = 0 ]
