#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/owner/run.sh: -m owner at OUTPUT against the kernel's xt_owner, with
# real traffic.
#
# In a network namespace, the same OUTPUT rules (uid and gid ranges,
# --suppl-groups, --socket-exists, inverts, combinations; each rule only
# counts) are loaded into iptables-legacy and, with `ipt2bpf load`, at TC
# egress.  Every locally generated packet passes the kernel's OUTPUT hook
# and then our program, so both judge the very same packets: the per-rule
# packet counters must be equal.  The traffic runs under setpriv as
# different uids, gids and supplementary groups over loopback: TCP (a
# listener owned by uid 1001: its SYN-ACKs come from a request socket;
# connects to closed ports: RSTs from the kernel's control socket), UDP
# (to closed ports: ICMP errors), ICMP echo from ping sockets and root's
# ping (the replies come from the kernel's ICMP socket), a process with
# 100 supplementary groups, a socket opened by root and used after setuid
# (the file keeps its opener's credentials).
#
# A second namespace runs the same traffic with one rule changed on the
# ipt2bpf side only (--uid-owner 1001 -> 1002): the comparison there must
# find the difference, so the test is known to be able to fail.
#
# Environment: IPT2BPF (default $O/ipt2bpf), OWNER_KEEP=1 keeps the work
# directory.  Needs root, iptables-legacy, setpriv, python3.
# Last line: "owner: N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$here/../lib/harness.sh"
h_init owner
PY=/usr/bin/python3

h_need_root "network namespaces"
h_need_tools ip iptables-legacy iptables-legacy-restore setpriv nsenter jq "$PY"
h_need_ipt2bpf
h_modprobe iptable_filter
h_bpffs

h_workdir ipt2bpf-owner OWNER_KEEP
cp "$here/traffic.py" "$work/traffic.py"
chmod 755 "$work/traffic.py"
NS_OK=owner-ok-$$
NS_BAD=owner-bad-$$

# The rules: every one only counts, so the kernel passes every packet on.
cat >"$work/rules.v4" <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:own - [0:0]
-A OUTPUT -m owner --socket-exists
-A OUTPUT -m owner ! --socket-exists
-A OUTPUT -m owner --uid-owner 0
-A OUTPUT -m owner --uid-owner 1001
-A OUTPUT -m owner ! --uid-owner 1001
-A OUTPUT -m owner --uid-owner 1000-1003
-A OUTPUT -m owner --gid-owner 2002
-A OUTPUT -m owner ! --gid-owner 2002
-A OUTPUT -m owner --gid-owner 3005 --suppl-groups
-A OUTPUT -m owner ! --gid-owner 3005 --suppl-groups
-A OUTPUT -m owner --gid-owner 4050-4060 --suppl-groups
-A OUTPUT -m owner --gid-owner 4099 --suppl-groups
-A OUTPUT -m owner --gid-owner 4100-69999 --suppl-groups
-A OUTPUT -m owner --gid-owner 70000 --suppl-groups
-A OUTPUT -m owner --gid-owner 70000
-A OUTPUT -m owner --uid-owner 1002 --gid-owner 3000 --suppl-groups
-A OUTPUT -m owner --uid-owner 1002 ! --gid-owner 3000 --suppl-groups
-A OUTPUT -m owner ! --uid-owner 0 ! --gid-owner 0
-A OUTPUT -m owner --uid-owner 0-4294967294
-A OUTPUT -m owner --gid-owner 0 --socket-exists
-A OUTPUT -m owner ! --socket-exists --uid-owner 0
-A OUTPUT -m owner --socket-exists ! --uid-owner 1002
-A OUTPUT -m owner ! --gid-owner 5000-6000 --suppl-groups
-A OUTPUT -p tcp -m owner --uid-owner 1001
-A OUTPUT -p tcp --tcp-flags SYN,ACK SYN,ACK -m owner --uid-owner 1001
-A OUTPUT -p tcp --tcp-flags RST RST -m owner --socket-exists
-A OUTPUT -p tcp --tcp-flags RST RST -m owner ! --uid-owner 0-4294967294
-A OUTPUT -p icmp -m owner ! --socket-exists
-A OUTPUT -p icmp -m owner --uid-owner 1003-1004
-A OUTPUT -p icmp --icmp-type echo-reply -m owner --socket-exists
-A OUTPUT -p icmp --icmp-type port-unreachable -m owner ! --gid-owner 0
-A OUTPUT -p udp -m owner --gid-owner 3000-3005 --suppl-groups
-A OUTPUT -p tcp --sport 7001 --tcp-flags ALL ACK -m owner ! --socket-exists
-A OUTPUT -p udp --dport 7005 -m owner --uid-owner 0
-A OUTPUT -p udp --dport 7005 -m owner --uid-owner 1005
-A OUTPUT -m owner --uid-owner 1004 -j own
-A own -m owner --gid-owner 4000 --suppl-groups
-A own -m owner ! --gid-owner 4000-4099 --suppl-groups
COMMIT
EOF
# The wrong rule set (ipt2bpf side only): one uid changed.
sed 's/^-A OUTPUT -p tcp -m owner --uid-owner 1001$/-A OUTPUT -p tcp -m owner --uid-owner 1002/' \
	"$work/rules.v4" >"$work/wrong.v4"
cmp -s "$work/rules.v4" "$work/wrong.v4" && {
	bad "could not make the wrong rule set"
	finish
}

# as UID GID GROUPS(comma list or -) CMD...: run as that user in namespace $ns.
as() {
	local uid=$1 gid=$2 groups=$3
	shift 3
	local g=(--clear-groups)
	[ "$groups" = - ] || g=(--groups "$groups")
	(cd / && ip netns exec "$ns" setpriv --reuid "$uid" --regid "$gid" "${g[@]}" "$@")
}

setup() {
	local ns=$1 kernel=$2 ours=$3
	h_ns_add "$ns" || return 1
	ip netns exec "$ns" sysctl -qw net.ipv4.ping_group_range="0 2147483647" || return 1
	ip netns exec "$ns" iptables-legacy-restore <"$kernel" || return 1
	h_in_ns "$ns" "$IPT2BPF" load "$ours" 2>"$work/$ns.load" || {
		sed 's/^/    /' "$work/$ns.load" | head -20
		return 1
	}
}

# The kernel's count of OUTPUT rule 33 (bare ACKs from port 7001 without a socket).
rule33() { ip netns exec "$1" iptables-legacy -L OUTPUT -v -x -n | awk 'NR == 35 {print $1}'; }

traffic() {
	local ns=$1 many cport
	many=$(seq -s, 4000 4099)
	: >"$work/$ns.srv"
	as 1001 1001 - "$PY" "$work/traffic.py" serve 7001 4 >"$work/$ns.srv" 2>&1 &
	local srv=$!
	bg_pids+=("$srv")
	for _ in $(seq 50); do
		grep -q listening "$work/$ns.srv" && break
		sleep 0.05
	done
	cport=$(as 1002 2002 3000,3005 "$PY" "$work/traffic.py" tcp 7001)
	as 1002 2002 3000,3005 "$PY" "$work/traffic.py" udp 7002
	as 1002 2002 3000,3005 "$PY" "$work/traffic.py" tcp 7009
	as 1003 1003 70000,3000 "$PY" "$work/traffic.py" tcp 7001 >/dev/null
	as 1003 1003 70000,3000 "$PY" "$work/traffic.py" ping
	as 1004 1004 "$many" "$PY" "$work/traffic.py" tcp 7001 >/dev/null
	as 1004 1004 "$many" "$PY" "$work/traffic.py" udp 7003
	as 1004 1004 "$many" "$PY" "$work/traffic.py" ping
	as 0 0 - "$PY" "$work/traffic.py" tcp 7001 >/dev/null
	as 0 0 - "$PY" "$work/traffic.py" tcp 7010
	as 0 0 - "$PY" "$work/traffic.py" udp 7004
	as 0 0 - ping -c 2 -i 0.2 -q 127.0.0.1 >/dev/null
	as 0 0 - "$PY" "$work/traffic.py" udp-as 7005 1005
	wait "$srv"
	sleep 0.2 # the connections' last ACKs
	# The server's side of the first connection is in TIME_WAIT: make it answer.
	local before after
	before=$(rule33 "$ns")
	as 0 0 - "$PY" "$work/traffic.py" twack "$cport" 7001
	sleep 0.1
	after=$(rule33 "$ns")
	echo $((after - before)) >"$work/$ns.tw"
	[ -z "${OWNER_DEBUG:-}" ] || echo "twack: cport=$cport rule 33 before=$before after=$after" >&2
}

# Per-rule packet counters, one line "CHAIN#N PKTS", from -L -v -x style output.
counters() {
	awk '/^Chain /{c=$2; n=0; next} $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ {n++; print c "#" n, $1}'
}

compare() {
	local ns=$1 tag=$2 want=$3
	ip netns exec "$ns" iptables-legacy -L -v -n -x | counters >"$work/$ns.kernel"
	h_in_ns "$ns" "$IPT2BPF" status --list | counters >"$work/$ns.ours"
	local n total diff
	n=$(wc -l <"$work/$ns.kernel")
	total=$(awk '{s += $2} END {print s + 0}' "$work/$ns.kernel")
	diff=$(join "$work/$ns.kernel" "$work/$ns.ours" | awk '$2 != $3' | wc -l)
	if [ "$(wc -l <"$work/$ns.ours")" != "$n" ]; then
		bad "$tag: ipt2bpf lists $(wc -l <"$work/$ns.ours") rules, the kernel $n"
		return
	fi
	if [ "$want" = same ]; then
		if [ "$diff" -eq 0 ] && [ "$n" -gt 0 ]; then
			ok "$tag: $n rules, $total packet matches counted by the kernel, 0 mismatches"
		else
			bad "$tag: $diff of $n rules differ (rule, kernel, ipt2bpf):"
			join "$work/$ns.kernel" "$work/$ns.ours" | awk '$2 != $3' | sed 's/^/    /'
		fi
	else
		if [ "$diff" -gt 0 ]; then
			ok "$tag: the wrong rule is caught ($diff of $n rules differ:" \
				"$(join "$work/$ns.kernel" "$work/$ns.ours" | awk '$2 != $3 {printf "%s %s/%s ", $1, $2, $3}'))"
		else
			bad "$tag: a wrong rule set gave the kernel's counters: the test cannot fail"
		fi
	fi
}

if ! setup "$NS_OK" "$work/rules.v4" "$work/rules.v4"; then
	bad "setting up $NS_OK failed"
	finish
fi
ns=$NS_OK traffic "$NS_OK"
compare "$NS_OK" "kernel vs ipt2bpf" same
echo "    per rule (kernel = ipt2bpf):"
join "$work/$NS_OK.kernel" "$work/$NS_OK.ours" | awk '{printf "      %-8s %6s %6s\n", $1, $2, $3}'
# Coverage: the kinds of packets the rules are about were all seen.
k() { awk -v r="$1" '$1 == r {print $2}' "$work/$NS_OK.kernel"; }
cov=""
[ "$(k OUTPUT#2)" -gt 0 ] || cov+=" no-socket"
[ "$(k OUTPUT#25)" -gt 0 ] || cov+=" SYN-ACK-of-uid-1001"
[ "$(k OUTPUT#26)" -gt 0 ] || cov+=" RST"
[ "$(k OUTPUT#12)" -gt 0 ] || cov+=" 100th-suppl-group"
[ "$(k OUTPUT#30)" -gt 0 ] || cov+=" echo-reply"
[ "$(k OUTPUT#29)" -gt 0 ] || cov+=" ping-socket"
[ "$(cat "$work/$NS_OK.tw")" -gt 0 ] || cov+=" TIME_WAIT-ACK"
[ "$(k OUTPUT#34)" -gt 0 ] && [ "$(k OUTPUT#35)" -eq 0 ] || cov+=" opener's-credentials"
if [ -z "$cov" ]; then
	ok "coverage: no-socket packets, a listener's SYN-ACKs, RSTs, supplementary groups, echo replies, ping sockets, a TIME_WAIT socket's ACK, a setuid sender's socket all seen"
else
	bad "coverage: never seen:$cov"
fi

# Trace runs (BPF_PROG_TEST_RUN) have no socket: each rule must answer as
# owner_mt() does for a packet without one, (match ^ invert) == 0: every
# option given is inverted, and no --suppl-groups (never inverted).
grep '^-A OUTPUT -m owner' "$work/rules.v4" | grep -v -- ' -j ' |
	awk 'BEGIN {print "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]"}
	{print} END {print "COMMIT"}' >"$work/trace.v4"
awk '/^-A OUTPUT/ {n++; s = " " $0 " "; yes = s !~ /--suppl-groups/
	k = split(s, w, " "); for (i = 1; i <= k; i++) if (w[i] ~ /^--(uid|gid)-owner$|^--socket-exists$/ && w[i - 1] != "!") yes = 0
	if (yes) printf "%s\"OUTPUT#%d\"", (m++ ? "," : ""), n} END {print ""}' "$work/trace.v4" >"$work/trace.want"
"$PY" "$work/traffic.py" pcap "$work/trace.pcap"
if ! "$IPT2BPF" trace "$work/trace.v4" --pcap "$work/trace.pcap" --chain OUTPUT --json \
	>"$work/trace.json" 2>"$work/trace.err"; then
	bad "trace: $(head -c 1000 "$work/trace.err")"
else
	want="[$(cat "$work/trace.want")]"
	nrules=$(grep -c '^-A OUTPUT' "$work/trace.v4")
	got=$(jq -c '.counted' "$work/trace.json" | sort -u)
	if [ "$(wc -l <"$work/trace.json")" -eq 3 ] && [ "$got" = "$want" ]; then
		ok "trace (no socket): 3 packets x $nrules rules, each counted by exactly the rules owner_mt() matches without a socket ($want)"
	else
		bad "trace (no socket): want $want for every packet, got: $(tr '\n' ' ' <"$work/trace.json")"
	fi
fi

if ! setup "$NS_BAD" "$work/rules.v4" "$work/wrong.v4"; then
	bad "setting up $NS_BAD failed"
	finish
fi
ns=$NS_BAD traffic "$NS_BAD"
compare "$NS_BAD" "wrong rule (--uid-owner 1002 for 1001 on the ipt2bpf side)" differ

finish
