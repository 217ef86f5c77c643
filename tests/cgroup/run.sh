#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/cgroup/run.sh: -m cgroup at OUTPUT against the kernel's xt_cgroup,
# with real traffic.
#
# A cgroup v2 subtree (T = ipt2bpf-test-<pid>, with T/a, T/a/b, T/c, T/d) is
# made under the host's cgroup v2 mount, and, when net_cls exists, a net_cls
# (cgroup v1) group with class id 0x100001.  In a network namespace the same
# OUTPUT rules (--path of a cgroup, its ancestor, a sibling, the root, T
# written relative with doubled slashes, a cgroup removed while the rules
# are loaded, --cgroup class ids, each with and without `!`; every rule only
# counts) are loaded into iptables-legacy and, with `ipt2bpf load`, at TC
# egress.  Every locally generated packet passes the kernel's OUTPUT hook
# and then our program, so both judge the very same packets: the per-rule
# packet counters must be equal.  Senders run inside the cgroups (their pid
# written to cgroup.procs) over loopback: TCP to a listener in T/a/b (its
# SYN-ACKs come from a request socket, which never matches), connects to
# closed ports (RSTs from the kernel's control socket), UDP (ICMP errors from
# the kernel's ICMP socket), ping sockets (echo replies), a TIME_WAIT
# socket's ACK, a socket whose cgroup T/d is removed before it sends (it
# still matches T/d, as the kernel's reference keeps the cgroup), and a UDP
# socket shared with a child moved to the net_cls group (the socket's class
# id changes, the sending task's does not).
#
# Also: rules the kernel refuses (a missing path, "..", a file) are refused
# by ipt2bpf too; INPUT rules and ELF objects are refused with the reason;
# trace runs (no socket) match nothing.  A second namespace runs the same
# traffic with one rule changed on the ipt2bpf side only: the comparison
# there must find the difference, so the test is known to be able to fail.
#
# Environment: IPT2BPF (default build/ipt2bpf), CGROUP_KEEP=1 keeps the work
# directory.  Needs root, iptables-legacy, python3, jq, a cgroup v2 mount.
# Last line: "cgroup: N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$here/../lib/harness.sh"
h_init cgroup
PY=/usr/bin/python3

h_need_root
h_need_tools ip iptables-legacy iptables-legacy-restore nsenter jq "$PY"
h_need_ipt2bpf
h_modprobe iptable_filter xt_cgroup
h_bpffs

# The cgroup v2 hierarchy's root mount (what the kernel resolves --path from).
CG2=$(awk '{for (i = 1; i <= NF; i++) if ($i == "-") break}
	$(i + 1) == "cgroup2" && $4 == "/" {print $5; exit}' /proc/self/mountinfo)
[ -n "$CG2" ] || {
	bad "no cgroup v2 mount"
	finish
}

h_workdir ipt2bpf-cgroup CGROUP_KEEP
cp "$here/traffic.py" "$work/traffic.py"
T=ipt2bpf-test-$$
CGT=$CG2/$T
NS_OK=cgroup-ok-$$
NS_BAD=cgroup-bad-$$
CLS=""       # the net_cls group directory, "" without net_cls
CLS_MNT=""   # where we mounted net_cls, to unmount
CLASSID=0x100001
pids=()

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local p ns d
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	for ns in "$NS_OK" "$NS_BAD"; do
		[ -e "/run/netns/$ns-vx" ] && ip netns del "$ns-vx"
		[ -e "/run/netns/$ns" ] || continue
		nsenter --net="/run/netns/$ns" "$IPT2BPF" unload >/dev/null 2>&1
		ip netns del "$ns" 2>/dev/null
	done
	for d in "$CGT/a/b" "$CGT/a" "$CGT/c" "$CGT/d" "$CGT"; do
		[ -d "$d" ] && ! rmdir "$d" 2>/dev/null && sleep 0.2 && rmdir "$d" 2>/dev/null
	done
	[ -n "$CLS" ] && [ -d "$CLS" ] && rmdir "$CLS" 2>/dev/null
	[ -n "$CLS_MNT" ] && umount "$CLS_MNT" 2>/dev/null
	return 0
}
h_at_exit cleanup

mkdir -p "$CGT/a/b" "$CGT/c" "$CGT/d" || {
	bad "cannot create cgroups under $CG2"
	finish
}

# net_cls: an existing cgroup v1 mount of it, or our own.
if grep -qE '^net_cls\s+[0-9]+\s+[0-9]+\s+1$' /proc/cgroups; then
	m=$(awk '{for (i = 1; i <= NF; i++) if ($i == "-") break}
		$(i + 1) == "cgroup" && $4 == "/" && $(i + 3) ~ /(^|,)net_cls(,|$)/ {print $5; exit}' \
		/proc/self/mountinfo)
	if [ -z "$m" ]; then
		mkdir -p "$work/netcls" && mount -t cgroup -o net_cls ipt2bpf-netcls "$work/netcls" &&
			m=$work/netcls CLS_MNT=$work/netcls
	fi
	if [ -n "$m" ] && mkdir "$m/$T" && echo "$CLASSID" >"$m/$T/net_cls.classid"; then
		CLS=$m/$T
	fi
fi

# The rules: every one only counts, so the kernel passes every packet on.
{
	cat <<EOF
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:cg - [0:0]
-A OUTPUT -m cgroup --path /$T/a
-A OUTPUT -m cgroup ! --path /$T/a
-A OUTPUT -m cgroup --path /$T/a/b
-A OUTPUT -m cgroup --path /$T/c
-A OUTPUT -m cgroup --path /$T
-A OUTPUT -m cgroup ! --path /$T
-A OUTPUT -m cgroup --path /
-A OUTPUT -m cgroup ! --path /
-A OUTPUT -m cgroup --path $T//a/
-A OUTPUT -m cgroup --path /$T/d
-A OUTPUT -m cgroup ! --path /$T/d
-A OUTPUT -p tcp --tcp-flags SYN,ACK SYN,ACK -m cgroup --path /
-A OUTPUT -p tcp --tcp-flags SYN,ACK SYN,ACK -m cgroup ! --path /
-A OUTPUT -p tcp --tcp-flags SYN,ACK SYN,ACK
-A OUTPUT -p tcp --tcp-flags RST RST -m cgroup ! --path /$T
-A OUTPUT -p tcp --tcp-flags RST RST -m cgroup --path /$T
-A OUTPUT -p icmp -m cgroup --path /$T/c
-A OUTPUT -p icmp -m cgroup ! --path /$T
-A OUTPUT -p udp -m cgroup ! --path /$T/a/b
-A OUTPUT -p udp --dport 7020 -m cgroup --path /$T/d
-A OUTPUT -p udp --dport 7021 -m cgroup --path /$T/c
-A OUTPUT -p udp --dport 4789
-A OUTPUT -p udp --dport 4789 -m cgroup --path /
-A OUTPUT -p udp --dport 4789 -m cgroup ! --path /$T/a
-A OUTPUT -m cgroup --path /$T/a -j cg
-A cg -m cgroup --path /$T/a/b
-A cg -m cgroup ! --path /$T/a/b
-A cg -p tcp -m cgroup ! --path /$T/c
EOF
	if [ -n "$CLS" ]; then
		cat <<EOF
-A OUTPUT -m cgroup --cgroup $CLASSID
-A OUTPUT -m cgroup ! --cgroup $CLASSID
-A OUTPUT -m cgroup --cgroup 0
-A OUTPUT -p udp --dport 7030 -m cgroup --cgroup $CLASSID
EOF
	fi
	echo COMMIT
} >"$work/rules.v4"
# The wrong rule set (ipt2bpf side only): a/b's rule names c.
sed "s|^-A OUTPUT -m cgroup --path /$T/a/b\$|-A OUTPUT -m cgroup --path /$T/c|" \
	"$work/rules.v4" >"$work/wrong.v4"
cmp -s "$work/rules.v4" "$work/wrong.v4" && {
	bad "could not make the wrong rule set"
	finish
}

# incg CGROUP CMD...: run CMD in cgroup T/CGROUP (and the net_cls group if CGROUP
# ends in +cls), in namespace $ns.
incg() {
	local cg=${1%+cls} cls=""
	[ "$cg" != "$1" ] && cls=$CLS
	shift
	(cd / && sh -c 'echo $$ >"$1/cgroup.procs" && { [ -z "$2" ] || echo $$ >"$2/cgroup.procs"; } &&
		shift 2 && exec "$@"' sh "$CGT/$cg" "$cls" ip netns exec "$ns" "$@")
}

setup() {
	local ns=$1 kernel=$2 ours=$3
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up || return 1
	ip netns exec "$ns" sysctl -qw net.ipv4.ping_group_range="0 2147483647" || return 1
	# A VXLAN device in namespace $ns-vx whose underlay is $ns: its packets leave
	# $ns's veth (OUTPUT there) with the sending socket of $ns-vx, another namespace.
	ip netns add "$ns-vx" || return 1
	# no IPv6 autoconfiguration traffic through it (it could pass one side only)
	ip netns exec "$ns-vx" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 || return 1
	ip -n "$ns" link add vb0 type veth peer name vb1 || return 1
	ip -n "$ns" addr add 10.8.0.1/24 dev vb0 || return 1
	ip -n "$ns" link set vb0 up && ip -n "$ns" link set vb1 up || return 1
	ip -n "$ns" neigh add 10.8.0.2 lladdr 02:00:00:00:00:03 dev vb0 nud permanent || return 1
	ip -n "$ns" link add vx0 type vxlan id 5 local 10.8.0.1 remote 10.8.0.2 dstport 4789 || return 1
	ip -n "$ns" link set vx0 netns "$ns-vx" || return 1
	ip -n "$ns-vx" addr add 10.9.0.1/24 dev vx0 || return 1
	ip -n "$ns-vx" link set vx0 up || return 1
	ip -n "$ns-vx" neigh add 10.9.0.2 lladdr 02:00:00:00:00:02 dev vx0 nud permanent || return 1
	ip netns exec "$ns" iptables-legacy-restore <"$kernel" || return 1
	nsenter --net="/run/netns/$ns" "$IPT2BPF" load "$ours" 2>"$work/$ns.load" || {
		sed 's/^/    /' "$work/$ns.load" | head -20
		return 1
	}
}

traffic() {
	local ns=$1 cport srv h
	: >"$work/$ns.srv"
	incg a/b "$PY" "$work/traffic.py" serve 7001 4 >"$work/$ns.srv" 2>&1 &
	srv=$!
	pids+=("$srv")
	for _ in $(seq 50); do
		grep -q listening "$work/$ns.srv" && break
		sleep 0.05
	done
	cport=$(incg c "$PY" "$work/traffic.py" tcp 7001)
	incg a "$PY" "$work/traffic.py" tcp 7001 >/dev/null
	incg a/b "$PY" "$work/traffic.py" tcp 7001 >/dev/null
	incg c+cls "$PY" "$work/traffic.py" tcp 7001 >/dev/null
	incg a "$PY" "$work/traffic.py" tcp 7009
	incg c "$PY" "$work/traffic.py" udp 7002
	incg a/b "$PY" "$work/traffic.py" udp 7003
	incg a/b+cls "$PY" "$work/traffic.py" udp 7004
	incg c "$PY" "$work/traffic.py" ping
	ns=$ns-vx incg a "$PY" "$work/traffic.py" udpto 10.9.0.2 9
	incg a+cls "$PY" "$work/traffic.py" ping
	(cd / && ip netns exec "$ns" ping -c 2 -i 0.2 -q 127.0.0.1 >/dev/null)
	wait "$srv"
	sleep 0.2 # the connections' last ACKs
	# The server's side of the first connection is in TIME_WAIT: make it answer.
	incg a "$PY" "$work/traffic.py" twack "$cport" 7001
	# A socket of T/d, which is removed before the socket sends.
	rm -f "$work/go"
	: >"$work/$ns.hold"
	incg d "$PY" "$work/traffic.py" hold 7020 "$work/go" >"$work/$ns.hold" 2>&1 &
	h=$!
	pids+=("$h")
	for _ in $(seq 100); do
		grep -q ready "$work/$ns.hold" && break
		sleep 0.02
	done
	# the python process (ip netns exec execs it): move it out, remove T/d
	while read -r p; do echo "$p" >"$CGT/c/cgroup.procs"; done <"$CGT/d/cgroup.procs"
	if rmdir "$CGT/d"; then
		echo removed >"$work/$ns.rmdir"
	else
		echo "could not remove $CGT/d" >"$work/$ns.rmdir"
	fi
	touch "$work/go"
	wait "$h"
	mkdir -p "$CGT/d"
	# A socket shared with a child moved to the net_cls group.
	if [ -n "$CLS" ]; then
		rm -f "$work/go"
		: >"$work/$ns.share"
		incg c "$PY" "$work/traffic.py" share 7030 "$work/go" >"$work/$ns.share" 2>&1 &
		h=$!
		pids+=("$h")
		for _ in $(seq 100); do
			[ -s "$work/$ns.share" ] && break
			sleep 0.02
		done
		head -1 "$work/$ns.share" >"$CLS/cgroup.procs"
		touch "$work/go"
		wait "$h"
	fi
	sleep 0.1
}

# Per-rule packet counters, one line "CHAIN#N PKTS", from -L -v -x style output.
counters() {
	awk '/^Chain /{c=$2; n=0; next} $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ {n++; print c "#" n, $1}'
}

compare() {
	local ns=$1 tag=$2 want=$3
	ip netns exec "$ns" iptables-legacy -L -v -n -x | counters >"$work/$ns.kernel"
	nsenter --net="/run/netns/$ns" "$IPT2BPF" status --list | counters >"$work/$ns.ours"
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
[ -n "$CLS" ] || echo "note: net_cls is not available here: --cgroup class ids are not tested"
ns=$NS_OK traffic "$NS_OK"
compare "$NS_OK" "kernel vs ipt2bpf" same
echo "    per rule (kernel = ipt2bpf):"
join "$work/$NS_OK.kernel" "$work/$NS_OK.ours" | awk '{printf "      %-8s %6s %6s\n", $1, $2, $3}'
# Coverage: the kinds of packets the rules are about were all seen.
k() { awk -v r="$1" '$1 == r {print $2}' "$work/$NS_OK.kernel"; }
cov=""
[ "$(k OUTPUT#3)" -gt 0 ] || cov+=" a/b"
[ "$(k OUTPUT#4)" -gt 0 ] || cov+=" c"
[ "$(k OUTPUT#6)" -gt 0 ] || cov+=" outside-T"
[ "$(k OUTPUT#14)" -gt 0 ] || cov+=" SYN-ACK"
[ "$(k OUTPUT#15)" -gt 0 ] || cov+=" RST"
[ "$(k OUTPUT#17)" -gt 0 ] || cov+=" ping-socket"
[ "$(k OUTPUT#18)" -gt 0 ] || cov+=" kernel-ICMP"
[ "$(k OUTPUT#20)" -eq 3 ] || cov+=" removed-cgroup($(k OUTPUT#20)/3)"
[ "$(k OUTPUT#21)" -eq 2 ] || cov+=" new-socket-after-move($(k OUTPUT#21)/2)"
grep -q removed "$work/$NS_OK.rmdir" || cov+=" rmdir"
[ "$(k OUTPUT#22)" -ge 3 ] || cov+=" VXLAN($(k OUTPUT#22)/3)"
if [ -n "$CLS" ]; then
	[ "$(k OUTPUT#26)" -gt 0 ] || cov+=" classid"
	[ "$(k OUTPUT#29)" -eq 2 ] || cov+=" shared-socket-classid($(k OUTPUT#29)/2)"
fi
if [ -z "$cov" ]; then
	ok "coverage: cgroup, ancestor, sibling, SYN-ACKs, RSTs, ping sockets, kernel ICMP, a removed cgroup's socket (3 matches), new sockets after the move (2), VXLAN packets of another namespace's socket ($(k OUTPUT#22))${CLS:+, class ids, a socket retagged through a child (2)} all seen"
else
	bad "coverage: never seen:$cov"
fi

"$PY" "$work/traffic.py" pcap "$work/trace.pcap"
# What the kernel refuses, ipt2bpf refuses.
for p in "/$T/nope" "/$T/a/.." "/$T/./a" "/$T/a/cgroup.procs"; do
	printf '*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m cgroup --path %s\nCOMMIT\n' "$p" >"$work/r.v4"
	kmsg=$(ip netns exec "$NS_OK" iptables-legacy -A cg -m cgroup --path "$p" 2>&1)
	krc=$?
	omsg=$("$IPT2BPF" trace "$work/r.v4" --pcap "$work/trace.pcap" --chain OUTPUT 2>&1)
	orc=$?
	if [ "$krc" -ne 0 ] && [ "$orc" -eq 1 ] && echo "$omsg" | grep -q "OUTPUT#1.*cgroup.*EINVAL"; then
		ok "--path $p: the kernel refuses ($kmsg), so does ipt2bpf: $(echo "$omsg" | head -1)"
	else
		bad "--path $p: kernel rc $krc ($kmsg), ipt2bpf rc $orc: $omsg"
	fi
done
printf '*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m cgroup --path /\n-A OUTPUT -m cgroup --path /\nCOMMIT\n' >"$work/in.v4"
omsg=$("$IPT2BPF" "$work/in.v4" -o "$work/in.o" 2>&1)
orc=$?
if [ "$orc" -eq 1 ] && echo "$omsg" | grep -q "INPUT#1.*cgroup.*early demux"; then
	ok "INPUT refused: $(echo "$omsg" | grep INPUT | head -1)"
else
	bad "INPUT: rc $orc: $omsg"
fi
printf '*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m cgroup --path /\nCOMMIT\n' >"$work/obj.v4"
omsg=$("$IPT2BPF" "$work/obj.v4" -o "$work/obj.o" 2>&1)
orc=$?
if [ "$orc" -eq 1 ] && echo "$omsg" | grep -q "OUTPUT#1.*cgroup.*-o"; then
	ok "ELF object refused: $(echo "$omsg" | head -1)"
else
	bad "ELF object: rc $orc: $omsg"
fi

# Trace runs (BPF_PROG_TEST_RUN) have no socket: no cgroup rule matches,
# inverted or not (the bare SYN-ACK rule is dropped: it matches no packet here).
grep -- '-m cgroup' "$work/rules.v4" | grep -v -- ' -j ' | grep '^-A OUTPUT' |
	awk 'BEGIN {print "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT"}
	{print} END {print "COMMIT"}' >"$work/trace.v4"
if ! "$IPT2BPF" trace "$work/trace.v4" --pcap "$work/trace.pcap" --chain OUTPUT --json \
	>"$work/trace.json" 2>"$work/trace.err"; then
	bad "trace: $(head -c 1000 "$work/trace.err")"
else
	nrules=$(grep -c '^-A OUTPUT -m\|^-A OUTPUT -p' "$work/trace.v4")
	got=$(jq -c '.counted' "$work/trace.json" | sort -u)
	if [ "$(wc -l <"$work/trace.json")" -eq 3 ] && [ "$got" = '["OUTPUT#1"]' ]; then
		ok "trace (no socket): 3 packets x $nrules cgroup rules, none matched (only the bare rule OUTPUT#1 counted)"
	else
		bad "trace (no socket): want [\"OUTPUT#1\"] for every packet, got: $(tr '\n' ' ' <"$work/trace.json")"
	fi
fi

if ! setup "$NS_BAD" "$work/rules.v4" "$work/wrong.v4"; then
	bad "setting up $NS_BAD failed"
	finish
fi
ns=$NS_BAD traffic "$NS_BAD"
compare "$NS_BAD" "wrong rule (--path T/c for T/a/b on the ipt2bpf side)" differ

finish
