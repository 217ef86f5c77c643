#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/qemu/bundle.sh OUTDIR PREFIX SIZE ROW.v4...: puts one-rule rule sets
# (as scripts/qemu-check makes them from iptables' .t rows: "*TABLE", the
# three built-in chains, "-A CHAIN RULE", COMMIT) together, SIZE rows per
# file and table: each row in a user chain of its own, jumped to from the
# built-in chain it was written for (so hook-restricted extensions stay where
# they are valid).  Writes OUTDIR/PREFIX-TABLE-K.v4 and prints a verify.list
# line "corpus-bundle/TABLE-K|-t TABLE|PREFIX-TABLE-K.v4" per file;
# OUTDIR/PREFIX.map says which row went where ("corpus-bundle/TABLE-K ROW.v4").
set -euo pipefail

out=${1:?usage: bundle.sh OUTDIR PREFIX SIZE ROW.v4...}
prefix=${2:?}
size=${3:?}
shift 3

awk -v out="$out" -v prefix="$prefix" -v size="$size" '
function flush(t,    f, i) {
	if (!n[t])
		return
	k[t]++
	f = out "/" prefix "-" t "-" k[t] ".v4"
	printf "*%s\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n", t >f
	for (i = 1; i <= n[t]; i++)
		printf ":r%d - [0:0]\n", i >f
	for (i = 1; i <= n[t]; i++) {
		printf "-A r%d %s\n-A %s -j r%d\n", i, rule[t, i], chain[t, i], i >f
		printf "corpus-bundle/%s-%d %s\n", t, k[t], src[t, i] >map
	}
	print "COMMIT" >f
	close(f)
	printf "corpus-bundle/%s-%d|-t %s|%s-%s-%d.v4\n", t, k[t], t, prefix, t, k[t]
	n[t] = 0
}
BEGIN { map = out "/" prefix ".map"; printf "" >map }
FNR == 1 { table = "" }
/^\*/ { table = substr($0, 2); next }
/^-A / {
	t = table
	i = ++n[t]
	chain[t, i] = $2
	src[t, i] = FILENAME
	r = $0
	sub(/^-A [^ ]+ /, "", r)
	rule[t, i] = r
	if (!(t in seen)) { seen[t] = 1; order[++nt] = t }
	if (n[t] == size)
		flush(t)
}
END {
	for (j = 1; j <= nt; j++)
		flush(order[j])
}' "$@"
