#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/diff/compare.sh META KERNEL BPF CHAIN LABEL
#
# Compares what kdiff (KERNEL) and `ipt2bpf trace --json` (BPF) printed for
# the packets of one pcap, whose rulegen sidecar is META ("N DGRAM DESC" per
# packet). Prints a report per mismatch (the first $SHOW, default 10, with
# both lines), "kind K" per mismatch (the packet kind from META, or
# "no-result" when BPF printed nothing for it), then "decisions N" and
# "mismatches M". LABEL names the case in reports (the rules file).
#
# Lines are matched by their "n"; lines without one are ignored. Fields are
# compared one by one, "counted" in the printed order. In the INPUT and
# OUTPUT chains the packets of one datagram (same DGRAM) form one decision:
# the union of their counted rules, the first verdict that is not PASS, and
# the policy flag of any. The kernel judges a datagram whole: at INPUT after
# reassembly, when its last fragment arrives; at OUTPUT before it fragments
# it (kdiff sends such a series as one datagram with its last fragment).
# ipt2bpf sees fragments, judges the first as the datagram and applies that
# verdict to the rest. FORWARD sees every fragment on its own.
set -euo pipefail

[ $# -eq 5 ] || {
	echo "usage: $0 META KERNEL BPF CHAIN LABEL" >&2
	exit 2
}
meta=$1 kf=$2 bf=$3 chain=$4 label=$5

# shellcheck disable=SC2016 # awk, not shell
prog='
function field(line, re,    s) {
	if (!match(line, re))
		return "?"
	s = substr(line, RSTART, RLENGTH)
	sub(/^"[a-z]+":/, "", s)
	return s
}
# Parse one JSON line into V[k], C[k] (counted, as printed), P[k].
function parse(line, side, k,    c) {
	gsub(/[ \t\r]/, "", line)
	RAW[side, k] = line
	if ((side, k) in V)
		DUP[side] = DUP[side] " " k
	V[side, k] = field(line, "\"verdict\":\"[A-Z]+\"")
	gsub(/"/, "", V[side, k])
	c = field(line, "\"counted\":\\[[^]]*\\]")
	gsub(/[\[\]"]/, "", c)
	C[side, k] = c
	P[side, k] = field(line, "\"policy\":(true|false)")
}
# Sorted union of comma lists.
function union(a, b,    n, i, j, v, s, x, seen, out, m) {
	n = split(a "," b, x, ",")
	m = 0
	for (i = 1; i <= n; i++)
		if (x[i] != "" && !(x[i] in seen)) {
			seen[x[i]] = 1
			out[++m] = x[i]
		}
	# insertion sort: lists are short
	for (i = 2; i <= m; i++) {
		v = out[i]
		for (j = i - 1; j >= 1 && out[j] > v; j--)
			out[j + 1] = out[j]
		out[j + 1] = v
	}
	s = ""
	for (i = 1; i <= m; i++)
		s = s (i > 1 ? "," : "") out[i]
	return s
}
FILENAME == META { DG[FNR] = $2; d = $0; sub(/^[^ ]+ [^ ]+ /, "", d); DESC[FNR] = d; NPK = FNR; next }
# results are keyed by their "n"; lines without one (noise) are ignored
FILENAME == KF { k = field($0, "\"n\":[0-9]+"); if (k != "?") parse($0, "k", k + 0); next }
FILENAME == BF { k = field($0, "\"n\":[0-9]+"); if (k != "?") { parse($0, "b", k + 0); if (k + 0 > NPK) NB++ }; next }
END {
	nd = 0; nm = 0
	for (k = 1; k <= NPK; k++) {
		d = DG[k]
		if (!(d in first)) { first[d] = k; order[++nd] = d }
		last[d] = k
		for (s = 0; s < 2; s++) {
			side = s ? "b" : "k"
			if (!((side, k) in V)) { V[side, k] = "MISSING"; C[side, k] = ""; P[side, k] = "?"; RAW[side, k] = "(no line)" }
			if (!((side, d) in GV) || GV[side, d] == "PASS")
				GV[side, d] = V[side, k]
			GC[side, d] = union(GC[side, d], C[side, k])
			GP[side, d] = (GP[side, d] == "true" || P[side, k] == "true") ? "true" : P[side, k]
		}
	}
	for (i = 1; i <= nd; i++) {
		d = order[i]; a = first[d]; z = last[d]
		if (a == z)
			same = V["k", a] == V["b", a] && C["k", a] == C["b", a] && P["k", a] == P["b", a]
		else
			same = GV["k", d] == GV["b", d] && GC["k", d] == GC["b", d] && GP["k", d] == GP["b", d]
		if (same)
			continue
		nm++
		kind = DESC[a]
		sub(/ .*/, "", kind)
		sub(/^series-.*/, "series", kind)
		for (k = a; k <= z; k++)
			if (V["b", k] == "MISSING")
				kind = "no-result"
		printf "kind %s\n", kind
		if (nm > SHOW)
			continue
		if (a == z)
			printf "mismatch: %s %s packet %d (%s)\n", LABEL, CHAIN, a, DESC[a]
		else
			printf "mismatch: %s %s packets %d-%d, one datagram (%s)\n", LABEL, CHAIN, a, z, DESC[a]
		for (k = a; k <= z; k++) {
			printf "  kernel:  %s\n", RAW["k", k]
			printf "  ipt2bpf: %s\n", RAW["b", k]
		}
		if (a != z)
			printf "  datagram: kernel %s [%s] policy %s / ipt2bpf %s [%s] policy %s\n", GV["k", d], GC["k", d], GP["k", d], GV["b", d], GC["b", d], GP["b", d]
	}
	if (NB) {
		nm++
		printf "mismatch: %s %s: ipt2bpf printed %d results past the last of %d packets\n", LABEL, CHAIN, NB, NPK
	}
	if (DUP["b"] != "") {
		nm++
		printf "mismatch: %s %s: ipt2bpf printed packets%s more than once\n", LABEL, CHAIN, DUP["b"]
	}
	printf "decisions %d\nmismatches %d\n", nd, nm
}'

if [ "$chain" = FORWARD ]; then
	# every packet its own decision
	flat=$(mktemp /tmp/compare.XXXXXX)
	trap 'rm -f "$flat"' EXIT
	awk '{ $2 = $1; print }' "$meta" >"$flat"
	meta=$flat
fi
awk -v META="$meta" -v KF="$kf" -v BF="$bf" -v CHAIN="$chain" -v LABEL="$label" \
	-v SHOW="${SHOW:-10}" "$prog" "$meta" "$kf" "$bf"
