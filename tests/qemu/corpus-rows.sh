#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/qemu/corpus-rows.sh FILE.t...: the ;OK rows of iptables' .t corpus for
# the filter and security tables, as "FILE|TABLE|CHAIN|RULE" lines (the first
# built-in chain of the row's section; IPv6 files, nft-only rows and shell
# lines left out), in the way tests/corpus/run.sh reads them.
set -euo pipefail

for f in "$@"; do
	case $(basename "$f") in libip6t_*) continue ;; esac
	awk -v F="$(basename "$f")" '
	BEGIN { table = "filter"; chains = "INPUT,FORWARD,OUTPUT" }
	/^#/ || /^@/ || /^%/ || /^[ \t]*$/ { next }
	/^\*/ { table = substr($0, 2); next }
	/^:/ { chains = substr($0, 2); next }
	{
		n = split($0, f, ";")
		if (n < 3 || (n >= 4 && f[4] == "NFT"))
			next
		if (table != "filter" && table != "security")
			next
		if (f[3] != "OK" && f[3] != "NOMATCH")
			next
		m = split(chains, c, ",")
		chain = ""
		for (i = 1; i <= m; i++)
			if (c[i] == "INPUT" || c[i] == "FORWARD" || c[i] == "OUTPUT") { chain = c[i]; break }
		if (chain != "")
			print F "|" table "|" chain "|" f[1]
	}' "$f"
done
