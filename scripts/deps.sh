#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/deps.sh PKG...: install the Debian packages among PKG... that are
# not installed yet.  Quiet when there is nothing to do; non-interactive
# (CI runs without a terminal).  The Makefile passes the package lists
# (DEPS_BUILD, DEPS_TEST), so `make deps` is the one place to read them.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

[ $# -gt 0 ] || exit 0

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: dpkg-query not found: this is not a Debian system." >&2
	echo "deps: install these packages (Debian names) by hand: $*" >&2
	exit 1
fi

installed() {
	# "ii " = desired install, status installed; anything else (rc, un,
	# half-configured) needs apt.
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

# The lists overlap (clang is both a build and a test dependency): each name once.
missing=()
declare -A seen=()
for pkg in "$@"; do
	[ -n "${seen[$pkg]:-}" ] && continue
	seen[$pkg]=1
	installed "$pkg" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing missing packages: ${missing[*]}"

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo -n --preserve-env=DEBIAN_FRONTEND)
	else
		echo "deps: not root and no sudo: run as root: apt-get install ${missing[*]}" >&2
		exit 1
	fi
fi

log=$(mktemp "${TMPDIR:-/tmp}/ipt2bpf-deps.XXXXXX")
trap 'rm -f "$log"' EXIT

# Wait for a concurrent apt (unattended-upgrades) instead of failing at once.
apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef
	  -o Dpkg::Options::=--force-confold)

if ! "${sudo[@]}" apt-get "${apt_opts[@]}" -qq update >"$log" 2>&1; then
	cat "$log" >&2
	echo "deps: apt-get update failed" >&2
	exit 1
fi
if ! "${sudo[@]}" apt-get "${apt_opts[@]}" -y -qq --no-install-recommends install \
	"${missing[@]}" >"$log" 2>&1; then
	cat "$log" >&2
	echo "deps: apt-get install ${missing[*]} failed" >&2
	exit 1
fi

still=()
for pkg in "${missing[@]}"; do
	installed "$pkg" || still+=("$pkg")
done
if [ ${#still[@]} -gt 0 ]; then
	echo "deps: still not installed after apt-get: ${still[*]}" >&2
	exit 1
fi
echo "deps: installed ${missing[*]}"
