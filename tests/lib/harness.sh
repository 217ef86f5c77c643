# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# tests/lib/harness.sh: what the shell test scripts share.  Sourced (after
# `set -u`; `set -e` safe too) as
#
#   . "$(dirname "$0")/../lib/harness.sh"
#
# Sourcing sets ROOT (the repository), O (the build directory, default build,
# made absolute) and IPT2BPF (default $O/ipt2bpf, made absolute), and installs
# the EXIT trap: scripts register cleanups with h_at_exit, never with `trap`.
# Not for tests/qemu/*, tests/ct/* or tests/diff/topology.sh: scripts/qemu-check
# copies those into the guest without this file.
#
# Results (scripts with PASS/FAIL lines and a count):
#   h_init NAME      counters $pass and $fail at 0; NAME starts the last line
#   ok MSG...        "PASS: MSG", counted in $pass
#   bad MSG...       "FAIL: MSG", counted in $fail
#   finish           "NAME: N passed, N failed"; exit 0 without a failure, else 1
# Scripts whose exit status alone is the result (0 agree, 1 differ, 2 harness):
#   h_init NAME die  h_fatal is h_die
#   h_die MSG...     "NAME: MSG" on stderr, exit 2
# Preconditions (h_fatal: bad + finish with counters, h_die without):
#   h_fatal MSG...
#   h_need_root [WHY]      root, or "needs root (WHY)"
#   h_need_tools CMD...    each in PATH, or "CMD not found"
#   h_need_ipt2bpf         $IPT2BPF executable, or "... missing (make all)"
#   h_modprobe MOD...      modprobe -q each; failures are the tests' to find
#   h_bpffs                bpffs mounted on /sys/fs/bpf
# Scratch state, all removed at exit, in this order: background processes,
# h_at_exit commands (last registered first), namespaces, the work directory.
#   h_workdir NAME [KEEPVAR]  $work = a new /tmp/NAME.XXXXXX (mode 755); kept
#                          (and said so) when $KEEPVAR is set and not 0
#   h_at_exit CMD          eval CMD at exit
#   bg_pids+=($!)          background processes; h_kill_bg kills and reaps them
#   h_wait_for FILE        FILE there within 5 s (a background helper's "ready")
#   h_ns_add [--no-ipv6] NS...  namespaces with lo up (and IPv6 off before any
#                          link exists), deleted at exit
#   h_ns_del NS...         ipt2bpf unloaded there (pins removed) and deleted
#   h_in_ns NS CMD...      CMD in NS's network namespace, the host's mount
#                          namespace (bpffs and cgroups as the host sees them)
#   h_veth NS1 DEV1 ADDR1 NS2 DEV2 ADDR2  a veth pair, addressed (an empty
#                          ADDR: none) and up
#   h_fw_topo C F S        client C -- firewall F -- server S (no IPv6): F
#                          forwards between lan0 10.0.1.1/24 (C: c0 10.0.1.2/24)
#                          and wan0 10.0.2.1/24 (S: s0 10.0.2.2/24)
#   h_topo ID              tests/diff/topology.sh's client - firewall - server
#                          as NS_C NS_FW NS_S, down at exit; in_fw CMD... runs
#                          in NS_FW (ip netns exec)
# iptables' .t corpus:
#   h_corpus_cases FILE.t  one case per line: FILE|TABLE|CHAIN|RESULT|RULE (RESULT
#                          OK or FAIL; NOMATCH is OK).  The chain is the first of
#                          the section's chains that the table has; rows for
#                          other tables, nft-only rows and shell lines left out

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
O=${O:-build}
[[ $O = /* ]] || O=$ROOT/$O
IPT2BPF=${IPT2BPF:-$O/ipt2bpf}
[[ $IPT2BPF = /* ]] || IPT2BPF=$ROOT/$IPT2BPF

h_name=${0##*/}
h_mode=count
pass=0
fail=0
bg_pids=()
h_exit_cmds=()
h_nses=()
h_work_keep=
work=

h_init() {
	h_name=$1
	h_mode=${2:-count}
	pass=0
	fail=0
}

ok() {
	echo "PASS: $*"
	pass=$((pass + 1))
}

bad() {
	echo "FAIL: $*"
	fail=$((fail + 1))
}

finish() {
	echo "$h_name: $pass passed, $fail failed"
	[ "$fail" -eq 0 ] && exit 0
	exit 1
}

h_die() {
	echo "$h_name: $*" >&2
	exit 2
}

h_fatal() {
	[ "$h_mode" = die ] && h_die "$@"
	bad "$@"
	finish
}

h_need_root() {
	[ "$(id -u)" -eq 0 ] || h_fatal "needs root${1:+ ($1)}"
}

h_need_tools() {
	local t
	for t; do
		command -v "$t" >/dev/null || h_fatal "$t not found"
	done
}

h_need_ipt2bpf() {
	[ -x "$IPT2BPF" ] || h_fatal "$IPT2BPF missing (make all)"
}

h_modprobe() {
	local m
	for m; do
		modprobe -q "$m" 2>/dev/null || true
	done
}

h_bpffs() {
	grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf
}

h_workdir() {
	work=$(mktemp -d "/tmp/$1.XXXXXX") || h_fatal "mktemp failed"
	chmod 755 "$work"
	h_work_keep=${2:-}
}

h_at_exit() {
	h_exit_cmds+=("$1")
}

h_kill_bg() {
	local p
	for p in "${bg_pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${bg_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	bg_pids=()
	return 0
}

h_wait_for() {
	local i
	for i in $(seq 1 100); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

h_ns_add() {
	local ns v6=1
	if [ "${1:-}" = --no-ipv6 ]; then
		v6=0
		shift
	fi
	for ns; do
		ip netns add "$ns" || return 1
		h_nses+=("$ns")
		if [ $v6 = 0 ]; then
			ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
				net.ipv6.conf.default.disable_ipv6=1 >/dev/null || return 1
		fi
		ip -n "$ns" link set lo up || return 1
	done
}

h_in_ns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

h_ns_del() {
	local ns ino
	for ns; do
		[ -e "/run/netns/$ns" ] || continue
		ino=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null)
		if [ -x "$IPT2BPF" ]; then
			h_in_ns "$ns" "$IPT2BPF" unload >/dev/null 2>&1 || true
		fi
		# what an unload left (a killed load, a test that deleted it)
		if [ -n "$ino" ] && [ -d "/sys/fs/bpf/ipt2bpf/$ino" ]; then
			rm -rf "/sys/fs/bpf/ipt2bpf/$ino"
		fi
		ip netns del "$ns" 2>/dev/null || true
	done
	return 0
}

h_veth() {
	ip -n "$1" link add "$2" type veth peer name "$5" netns "$4" &&
		{ [ -z "$3" ] || ip -n "$1" addr add "$3" dev "$2"; } &&
		{ [ -z "$6" ] || ip -n "$4" addr add "$6" dev "$5"; } &&
		ip -n "$1" link set "$2" up &&
		ip -n "$4" link set "$5" up
}

h_fw_topo() {
	h_ns_add --no-ipv6 "$1" "$2" "$3" &&
		h_veth "$2" lan0 10.0.1.1/24 "$1" c0 10.0.1.2/24 &&
		h_veth "$2" wan0 10.0.2.1/24 "$3" s0 10.0.2.2/24 &&
		ip -n "$1" route add default via 10.0.1.1 &&
		ip -n "$3" route add default via 10.0.2.1 &&
		ip netns exec "$2" sysctl -qw net.ipv4.ip_forward=1 >/dev/null
}

# shellcheck disable=SC2034 # NS_C, NS_S: the callers'
h_topo() {
	h_topo_id=$1
	read -r NS_C NS_FW NS_S < <("$ROOT/tests/diff/topology.sh" names "$1")
	# shellcheck disable=SC2016 # expanded at exit
	h_at_exit '"$ROOT/tests/diff/topology.sh" down "$h_topo_id"'
	"$ROOT/tests/diff/topology.sh" up "$1"
}

in_fw() { ip netns exec "$NS_FW" "$@"; }

h_corpus_cases() {
	awk -v F="$(basename "$1")" '
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
		m = split(chains, c, ",")
		chain = ""
		for (i = 1; i <= m; i++)
			if (c[i] == "INPUT" || c[i] == "FORWARD" || c[i] == "OUTPUT") { chain = c[i]; break }
		if (chain == "")
			next
		res = f[3]
		if (res == "NOMATCH")
			res = "OK"
		print F "|" table "|" chain "|" res "|" f[1]
	}' "$1"
}

# shellcheck disable=SC2317 # run by the EXIT trap
h_exit() {
	local i
	set +e
	h_kill_bg
	for ((i = ${#h_exit_cmds[@]} - 1; i >= 0; i--)); do
		eval "${h_exit_cmds[i]}"
	done
	h_ns_del "${h_nses[@]}"
	if [ -n "$work" ]; then
		if [ -n "$h_work_keep" ] && [ "${!h_work_keep:-0}" != 0 ]; then
			echo "work directory kept: $work"
		else
			rm -rf "$work"
		fi
	fi
}
trap h_exit EXIT
