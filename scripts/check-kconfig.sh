#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/check-kconfig.sh [CONFIG_FILE]: check a kernel configuration against
# Kconfig.snippet.  Reads CONFIG_FILE (plain or .gz), else /proc/config.gz,
# else /boot/config-$(uname -r).
#
# Each missing option of a "# required:" group is reported and makes the exit
# status 1; a missing "# optional: <feature>" group is reported once per
# feature as a warning (exit 0).  "=m" satisfies "=y".  When no configuration
# can be found at all, says so and exits 0: nothing can be judged.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
snippet=$root/Kconfig.snippet

if [ $# -gt 1 ]; then
	echo "usage: $0 [CONFIG_FILE]" >&2
	exit 2
fi

cfg=
if [ $# -eq 1 ]; then
	if [ ! -r "$1" ]; then
		echo "kconfig: cannot read $1" >&2
		exit 2
	fi
	cfg=$1
else
	for c in /proc/config.gz "/boot/config-$(uname -r)"; do
		if [ -r "$c" ]; then
			cfg=$c
			break
		fi
	done
fi
if [ -z "$cfg" ]; then
	echo "kconfig: WARNING: no kernel config found (/proc/config.gz, /boot/config-$(uname -r));"
	echo "kconfig: pass one as an argument (make kconfig-check KCONFIG=FILE). Not checked."
	exit 0
fi

case $cfg in
*.gz) config=$(gzip -dc -- "$cfg") ;;
*) config=$(cat -- "$cfg") ;;
esac

# Options set to y or m in the configuration, one name per line.
enabled=$(printf '%s\n' "$config" | sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=[ym]$/\1/p' | sort -u)
is_enabled() {
	grep -qx -- "$1" <<<"$enabled"
}

echo "kconfig: checking $cfg against Kconfig.snippet"

req_missing=0
opt_missing=0
kind=
group=
group_missing=()

# Report the group just finished.
flush() {
	[ -n "$kind" ] || return 0
	if [ ${#group_missing[@]} -eq 0 ]; then
		echo "kconfig: ok       $kind: $group"
	elif [ "$kind" = required ]; then
		local o
		for o in "${group_missing[@]}"; do
			echo "kconfig: MISSING  $o (required: $group)"
		done
		req_missing=$((req_missing + ${#group_missing[@]}))
	else
		echo "kconfig: warning  optional feature unavailable: $group" \
			"(not set: ${group_missing[*]})"
		opt_missing=$((opt_missing + 1))
	fi
	group_missing=()
}

while IFS= read -r line || [ -n "$line" ]; do
	case $line in
	"# required: "* | "# optional: "*)
		flush
		kind=${line#\# }
		kind=${kind%%:*}
		group=${line#\# *: }
		;;
	CONFIG_*=*)
		if [ -z "$kind" ]; then
			echo "kconfig: $snippet: ${line%%=*} is outside any group" >&2
			exit 2
		fi
		opt=${line%%=*}
		is_enabled "$opt" || group_missing+=("$opt")
		;;
	esac
done <"$snippet"
flush

if [ $req_missing -gt 0 ]; then
	echo "kconfig: $req_missing required option(s) missing: rebuild the kernel with Kconfig.snippet merged"
	exit 1
fi
echo "kconfig: all required options present; $opt_missing optional feature(s) unavailable"
