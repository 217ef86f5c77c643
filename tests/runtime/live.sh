#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The live runtime end to end, in network namespaces: client -- firewall --
# server, the firewall forwarding between lan0 (10.0.1.0/24) and wan0
# (10.0.2.0/24), with listeners on all three.
#
#   diff-tc / diff-xdp  the same rules and the same real traffic (TCP
#             connects, UDP, ping; INPUT, FORWARD, OUTPUT, loopback; -i/-o
#             with '+' wildcards; user chains, goto, RETURN) against
#             iptables-legacy in one topology and `ipt2bpf load` in a fresh
#             one: same delivered/blocked outcomes, and `ipt2bpf status
#             --list` byte-identical to `iptables-legacy -L -v -n -x`
#             (every rule's packet and byte counter).
#   replace   a ping flood and a UDP stream run while the rule set flips
#             between two versions: no ping lost, no datagram of a flow
#             both versions drop delivered, and the counter of a rule both
#             versions share equals the replies that went through.
#   rollback  a load refused on one interface (someone else's filter or XDP
#             program) leaves the previous rule set in force everywhere.
#   kill      kill -9 at random points of a large load: filtering stays,
#             status works, the next load recovers and leaves one generation.
#   follow    load --follow: an interface created later gets the programs
#             within 100 ms, filters as its name says, and follows renames.
#   exec      `ip netns exec fw ipt2bpf load` pins in the host's bpffs too.
#   netns-reuse  a namespace deleted without unload, then a new one with the
#             same inode number: status says not loaded, a load starts at
#             generation 1 with zero counters.  When the kernel gives the
#             number to another namespace first (RUNTIME_REUSE_TRIES=0 forces
#             it), the dead namespace's state is moved under the new one's.
#   unload    removes every program, filter, link, qdisc and pin it added and
#             leaves a clsact qdisc and filter someone else added (tc, xdp).
#
# usage: tests/runtime/live.sh [SECTION...]   (default: all of the above)
# Environment: IPT2BPF (default $O/ipt2bpf), RUNTIME_KEEP=1 keeps the work directory.  Needs root, iproute2,
# iptables-legacy, python3, jq, bpftool.  Last line: "runtime: N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$here/../lib/harness.sh"
h_init runtime

h_need_root "network namespaces, bpf"
h_need_tools ip tc iptables-legacy iptables-legacy-restore python3 jq bpftool nsenter
h_need_ipt2bpf
h_modprobe iptable_filter veth
h_bpffs

# RUNTIME_KEEP=1 keeps the work directory (outcomes, listings, logs) for a look.
h_workdir ipt2bpf-runtime RUNTIME_KEEP
C=rtc-$$
F=rtf-$$
S=rts-$$
C2=rtc2-$$
X=rtx-$$
Y=rty-$$

# ipt2bpf runs in the firewall's network namespace but the host's mount
# namespace (nsenter, not ip netns exec): its pins must outlive each command.
fw_ipt2bpf() { h_in_ns "$F" "$IPT2BPF" "$@"; }
in_ns() { ip netns exec "$@"; }

pin_dir() { echo "/sys/fs/bpf/ipt2bpf/$(stat -L -c %i "/run/netns/$F" 2>/dev/null)"; }

topo_down() {
	h_kill_bg
	h_ns_del "$C" "$F" "$S" "$C2" "$X" "$Y"
	rmdir /sys/fs/bpf/ipt2bpf 2>/dev/null
	return 0
}
h_at_exit topo_down

# ---------------------------------------------------------------- helpers

cat >"$work/probe.py" <<'PY'
import select, socket, struct, sys, time

def tcp(ip, port, timeout):
    s = socket.socket()
    # Closing with a reset keeps the packet count fixed: SYN, SYN-ACK, ACK, RST.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.settimeout(timeout)
    try:
        s.connect((ip, port))
        r = 'open'
    except ConnectionRefusedError:
        r = 'refused'
    except OSError:
        r = 'blocked'  # timeout, or EPERM from a netfilter OUTPUT drop
    s.close()
    return r

cmd = sys.argv[1]
if cmd == 'tcp':
    print(tcp(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 0.4))
elif cmd == 'udp':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(sys.argv[4].encode(), (sys.argv[2], int(sys.argv[3])))
    except OSError:
        pass
elif cmd == 'udpstream':  # udpstream IP PORT SECONDS: prints how many were sent
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end, n = time.time() + float(sys.argv[4]), 0
    while time.time() < end:
        try:
            s.sendto(b'stream %d' % n, (sys.argv[2], int(sys.argv[3])))
            n += 1
        except OSError:
            pass
        time.sleep(0.0005)
    print(n)
elif cmd == 'listen':  # listen LOG READY tcp:PORT|udp:PORT...
    log = open(sys.argv[2], 'a', buffering=1)
    keep, udp = [], []
    for spec in sys.argv[4:]:
        proto, port = spec.split(':')
        if proto == 'tcp':
            # Never accepted: the kernel completes the handshake, the client resets it.
            t = socket.socket()
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind(('0.0.0.0', int(port)))
            t.listen(4096)
            keep.append(t)
        else:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(('0.0.0.0', int(port)))
            udp.append(u)
    open(sys.argv[3], 'w').write('ready\n')
    while True:
        r, _, _ = select.select(udp, [], []) if udp else (time.sleep(3600), [], [])
        for u in r or []:
            data, addr = u.recvfrom(65535)
            log.write('%d %s %s\n' % (u.getsockname()[1], addr[0], data.decode(errors='replace')))
PY

listen() {
	local ns=$1 name=$2
	shift 2
	ip netns exec "$ns" python3 "$work/probe.py" listen "$work/$name.log" "$work/$name.ready" "$@" &
	bg_pids+=($!)
	h_wait_for "$work/$name.ready" && return 0
	echo "listener $name did not start"
	return 1
}

topo_up() {
	topo_down
	rm -f "$work"/*.log "$work"/*.ready
	h_fw_topo "$C" "$F" "$S" || return 1
	listen "$S" S tcp:80 tcp:443 tcp:22 tcp:8080 tcp:8000 tcp:8079 udp:53 udp:5353 || return 1
	listen "$F" F tcp:22 tcp:8443 tcp:2222 udp:53 || return 1
	listen "$C" C tcp:9000 || return 1
}

# ---------------------------------------------------------------- rule sets

# V1: stateless (ipt2bpf has no conntrack match yet), so replies are allowed explicitly.
cat >"$work/v1.v4" <<'EOF'
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
:lan_in - [0:0]
:svc - [0:0]
-A INPUT -i lo -p tcp --dport 2222 -j DROP
-A INPUT -i lo -j ACCEPT
-A INPUT -i lan+ -j lan_in
-A INPUT -i wan0 -p tcp ! --syn -j ACCEPT
-A INPUT -i wan0 -p icmp --icmp-type echo-reply -j ACCEPT
-A lan_in -p tcp -s 10.0.1.0/24 --dport 22 -j ACCEPT
-A lan_in -p tcp --dport 80 -j DROP
-A lan_in -p tcp -m multiport --dports 8443,9443 -j ACCEPT
-A lan_in -p udp --dport 53 -j ACCEPT
-A lan_in -p icmp --icmp-type echo-request -j ACCEPT
-A lan_in -j RETURN
-A FORWARD -i lan+ -o wan+ -p tcp -m multiport --dports 80,443 -j ACCEPT
-A FORWARD -i lan0 -o wan0 -p tcp --dport 8000:8080 -g svc
-A FORWARD -i wan+ -o lan+ -p tcp ! --syn -j ACCEPT
-A FORWARD -i wan+ -p tcp --syn --dport 9000 -j ACCEPT
-A FORWARD -i lan+ -o wan+ -p tcp --sport 9000 ! --syn -j ACCEPT
-A FORWARD -o wan0 -p udp --dport 53 -j ACCEPT
-A FORWARD ! -i wan0 -p udp --dport 5353 -j DROP
-A FORWARD -p icmp --icmp-type echo-request -m iprange --src-range 10.0.1.2-10.0.1.9 -j ACCEPT
-A FORWARD -p icmp --icmp-type echo-request -s 10.0.3.0/24 -j ACCEPT
-A FORWARD -p icmp --icmp-type echo-reply -j ACCEPT
-A FORWARD -p icmp -m comment --comment "other icmp" -j DROP
-A svc -p tcp --dport 8080 -j ACCEPT
-A svc -p tcp --dport 8000 -j DROP
-A OUTPUT -o lo -j ACCEPT
-A OUTPUT -o wan+ -p tcp --dport 80 -j ACCEPT
-A OUTPUT -o wan0 -p tcp --dport 22 -j DROP
-A OUTPUT -p udp --dport 53 -j ACCEPT
-A OUTPUT -p icmp -j ACCEPT
-A OUTPUT -o lan+ -p tcp --sport 22 -j ACCEPT
-A OUTPUT -o lan+ -p tcp -m multiport --sports 8443,9443 -j ACCEPT
-A OUTPUT -p tcp --tcp-flags RST RST -j ACCEPT
COMMIT
EOF

# V2: the same policy through other rules (new rules on top, the 5353 drop
# moved); the echo-reply rule is unchanged, so its counter carries over.
sed -e 's/^-A FORWARD ! -i wan0 -p udp --dport 5353 -j DROP$/-A FORWARD -p udp -m comment --comment v1-only -j RETURN/' \
	-e '/^-A FORWARD -i lan+ -o wan+ -p tcp -m multiport --dports 80,443 -j ACCEPT$/i\
-A FORWARD -p udp -m multiport --dports 5353,5354 -j DROP\
-A FORWARD -p icmp --icmp-type echo-request -s 10.0.1.2 -j ACCEPT' \
	"$work/v1.v4" >"$work/v2.v4"

# Traffic: "id ns kind destination port".  Every connection's packets are
# fixed (blocked TCP gives up after 0.4 s, before the first SYN retransmit).
cat >"$work/traffic" <<'EOF'
fwd-tcp80 C tcp 10.0.2.2 80
fwd-tcp443 C tcp 10.0.2.2 443
fwd-tcp22 C tcp 10.0.2.2 22
fwd-tcp8080 C tcp 10.0.2.2 8080
fwd-tcp8000 C tcp 10.0.2.2 8000
fwd-tcp8079 C tcp 10.0.2.2 8079
fwd-tcp81 C tcp 10.0.2.2 81
fwd-udp53 C udp 10.0.2.2 53
fwd-udp5353 C udp 10.0.2.2 5353
fwd-ping C ping 10.0.2.2 -
rev-tcp9000 S tcp 10.0.1.2 9000
rev-ping S ping 10.0.1.2 -
in-tcp22 C tcp 10.0.1.1 22
in-tcp2222 C tcp 10.0.1.1 2222
in-tcp80 C tcp 10.0.1.1 80
in-tcp8443 C tcp 10.0.1.1 8443
in-tcp9443 C tcp 10.0.1.1 9443
in-udp53 C udp 10.0.1.1 53
in-ping C ping 10.0.1.1 -
in-wan-ping S ping 10.0.2.1 -
in-wan-tcp22 S tcp 10.0.2.1 22
out-tcp80 F tcp 10.0.2.2 80
out-tcp22 F tcp 10.0.2.2 22
out-tcp443 F tcp 10.0.2.2 443
out-udp53 F udp 10.0.2.2 53
out-udp5353 F udp 10.0.2.2 5353
out-ping F ping 10.0.2.2 -
out-ping-lan F ping 10.0.1.2 -
lo-tcp22 F tcp 127.0.0.1 22
lo-tcp2222 F tcp 127.0.0.1 2222
lo-ping F ping 127.0.0.1 -
lo-self F tcp 10.0.1.1 8443
lo-udp53 F udp 127.0.0.1 53
EOF

ns_of() {
	case $1 in
	C) echo "$C" ;;
	F) echo "$F" ;;
	S) echo "$S" ;;
	C2) echo "$C2" ;;
	esac
}

# probe NS KIND DST PORT TAG: prints the outcome (UDP: "sent", judged from the logs later).
probe() {
	local ns=$1 kind=$2 dst=$3 port=$4 tag=$5
	case $kind in
	tcp) in_ns "$ns" python3 "$work/probe.py" tcp "$dst" "$port" ;;
	udp)
		in_ns "$ns" python3 "$work/probe.py" udp "$dst" "$port" "$tag"
		echo sent
		;;
	ping)
		if in_ns "$ns" ping -c1 -W1 -q "$dst" >/dev/null 2>&1; then
			echo open
		else
			echo blocked
		fi
		;;
	esac
}

# Runs the traffic table; outcomes go to $1.
run_traffic() {
	local out=$1 id ns kind dst port r
	: >"$out"
	while read -r id ns kind dst port; do
		r=$(probe "$(ns_of "$ns")" "$kind" "$dst" "$port" "$id")
		echo "$id $r" >>"$out"
	done <"$work/traffic"
	sleep 0.3
	# A datagram was delivered when its tag is in a listener's log.
	while read -r id r; do
		[ "$r" = sent ] || continue
		if cat "$work"/*.log 2>/dev/null | grep -qw -- "$id"; then
			sed -i "s/^$id sent$/$id delivered/" "$out"
		else
			sed -i "s/^$id sent$/$id blocked/" "$out"
		fi
	done < <(cat "$out")
}

# ---------------------------------------------------------------- diff

section_diff() {
	local mode=$1 tag="diff-$1"

	echo "=== $tag: iptables-legacy vs ipt2bpf load --mode $mode"
	if [ ! -s "$work/kernel.out" ]; then
		topo_up || {
			bad "$tag: topology"
			return
		}
		if ! in_ns "$F" iptables-legacy-restore <"$work/v1.v4"; then
			bad "$tag: iptables-legacy-restore refused the rules"
			return
		fi
		run_traffic "$work/kernel.out"
		in_ns "$F" iptables-legacy -L -v -n -x >"$work/kernel.list"
	fi

	topo_up || {
		bad "$tag: topology"
		return
	}
	if ! fw_ipt2bpf load "$work/v1.v4" --mode "$mode" 2>"$work/load.err"; then
		bad "$tag: ipt2bpf load failed: $(head -c 2000 "$work/load.err")"
		return
	fi
	run_traffic "$work/$tag.out"
	fw_ipt2bpf status --list >"$work/$tag.list"

	if diff -u "$work/kernel.out" "$work/$tag.out" >"$work/$tag.odiff"; then
		ok "$tag: $(wc -l <"$work/kernel.out") flows, same delivered/blocked outcomes" \
			"($(grep -c ' open\| delivered\| refused' "$work/kernel.out") through)"
	else
		bad "$tag: outcomes differ (- iptables-legacy, + ipt2bpf):"
		grep '^[-+][a-z]' "$work/$tag.odiff" | sed 's/^/    /'
	fi
	if diff -u "$work/kernel.list" "$work/$tag.list" >"$work/$tag.ldiff"; then
		ok "$tag: status --list equals iptables-legacy -L -v -n -x ($(grep -cE '^ +[0-9]+ +[0-9]+ ' "$work/kernel.list") rules, every counter)"
	else
		bad "$tag: listings differ (- iptables-legacy, + ipt2bpf):"
		sed 's/^/    /' "$work/$tag.ldiff" | head -60
	fi
	if fw_ipt2bpf status --json | jq -e --arg m "$mode" \
		'.loaded and .mode == $m and ([.interfaces[] | select(.present)] | length) == 3 and
		 all(.interfaces[]; .tc_egress > 0 and (if $m == "xdp" then .xdp > 0 and .tc_ingress == 0
		     else .tc_ingress > 0 and .xdp == 0 end) and (.stale | not))' >/dev/null; then
		ok "$tag: status --json: programs on lo, lan0, wan0"
	else
		bad "$tag: status --json does not show every interface attached:"
		fw_ipt2bpf status | sed 's/^/    /' | head -20
	fi
}

# ---------------------------------------------------------------- replace

# Value of a rule's packet counter in `status --list` output: CHAIN RULENUM.
rule_pkts() {
	awk -v c="$2" -v n="$3" '
		/^Chain / { chain = $2; num = 0; next }
		/^ +pkts/ || /^$/ { next }
		chain == c { num++; if (num == n) { print $1; exit } }' "$1"
}

rule_num() { # FILE CHAIN REGEX: number of the first rule of CHAIN matching REGEX
	awk -v c="$2" -v re="$3" '
		/^Chain / { chain = $2; num = 0; next }
		/^ +pkts/ || /^$/ { next }
		chain == c { num++; if ($0 ~ re) { print num; exit } }' "$1"
}

section_replace() {
	local flips=0 sent got n reply_num reply_pkts leaked end ping_pid udp_pid
	echo "=== replace: flip V1/V2 while a ping flood and a UDP stream run"
	topo_up || {
		bad "replace: topology"
		return
	}
	fw_ipt2bpf load "$work/v1.v4" || {
		bad "replace: load v1"
		return
	}
	in_ns "$C" ping -f -q -c 150000 10.0.2.2 >"$work/flood.out" 2>&1 &
	ping_pid=$!
	in_ns "$C" python3 "$work/probe.py" udpstream 10.0.2.2 5353 3 >"$work/stream.out" &
	udp_pid=$!
	end=$((SECONDS + 20))
	while kill -0 "$ping_pid" 2>/dev/null && [ $SECONDS -lt $end ]; do
		fw_ipt2bpf load "$work/v2.v4" || {
			bad "replace: load v2 failed"
			break
		}
		fw_ipt2bpf load "$work/v1.v4" || {
			bad "replace: load v1 failed"
			break
		}
		flips=$((flips + 2))
	done
	wait "$ping_pid"
	wait "$udp_pid"
	sent=$(grep -o '[0-9]* packets transmitted' "$work/flood.out" | cut -d' ' -f1)
	got=$(grep -o '[0-9]* received' "$work/flood.out" | cut -d' ' -f1)
	n=$(cat "$work/stream.out")
	leaked=$(grep -c '^5353 .*stream' "$work/S.log" 2>/dev/null)
	echo "    $flips loads during the flood; ping: $sent sent, $got received; udp 5353: $n sent, $leaked delivered"
	if [ "$flips" -ge 10 ] && [ -n "$sent" ] && [ "$sent" = "$got" ]; then
		ok "replace: $flips replacements, no ping of $sent lost"
	else
		bad "replace: $flips replacements, ping $got/$sent"
	fi
	if [ "${n:-0}" -gt 0 ] && [ "$leaked" -eq 0 ]; then
		ok "replace: none of $n datagrams both versions drop got through"
	else
		bad "replace: $leaked of $n datagrams to 5353 were delivered"
	fi
	sleep 0.2
	fw_ipt2bpf status --list >"$work/replace.list"
	reply_num=$(rule_num "$work/replace.list" FORWARD 'icmptype 0')
	reply_pkts=$(rule_pkts "$work/replace.list" FORWARD "$reply_num")
	if [ -n "$reply_pkts" ] && [ "$reply_pkts" = "$got" ]; then
		ok "replace: the shared echo-reply rule counted $reply_pkts = every reply, across $flips loads"
	else
		bad "replace: echo-reply rule counted ${reply_pkts:-?}, $got replies went through"
	fi

	# Mode changes (tc ingress <-> XDP) under the same traffic: the new hooks go on
	# before the old ones come off, so nothing passes unfiltered and nothing is lost.
	: >"$work/S.log"
	flips=0
	in_ns "$C" ping -f -q -c 60000 10.0.2.2 >"$work/flood.out" 2>&1 &
	ping_pid=$!
	in_ns "$C" python3 "$work/probe.py" udpstream 10.0.2.2 5353 2 >"$work/stream.out" &
	udp_pid=$!
	end=$((SECONDS + 20))
	while kill -0 "$ping_pid" 2>/dev/null && [ $SECONDS -lt $end ]; do
		fw_ipt2bpf load "$work/v2.v4" --mode xdp || {
			bad "replace: load v2 --mode xdp failed"
			break
		}
		fw_ipt2bpf load "$work/v1.v4" --mode tc || {
			bad "replace: load v1 --mode tc failed"
			break
		}
		flips=$((flips + 2))
	done
	wait "$ping_pid"
	wait "$udp_pid"
	sent=$(grep -o '[0-9]* packets transmitted' "$work/flood.out" | cut -d' ' -f1)
	got=$(grep -o '[0-9]* received' "$work/flood.out" | cut -d' ' -f1)
	n=$(cat "$work/stream.out")
	leaked=$(grep -c '^5353 .*stream' "$work/S.log" 2>/dev/null)
	if [ "$flips" -ge 4 ] && [ -n "$sent" ] && [ "$sent" = "$got" ] && [ "$leaked" -eq 0 ]; then
		ok "replace: $flips tc/xdp mode changes under a flood: no ping of $sent lost, none of $n datagrams to 5353 through"
	else
		bad "replace: $flips mode changes: ping $got/$sent, $leaked of $n datagrams to 5353 through"
	fi
}

# ---------------------------------------------------------------- rollback

section_rollback() {
	local before after id
	echo "=== rollback: a load that fails on one interface changes nothing"
	topo_up || {
		bad "rollback: topology"
		return
	}
	# Someone else's filter at our priority and handle on wan0 (ifindex after lo, lan0).
	tc -n "$F" qdisc add dev wan0 clsact
	tc -n "$F" filter add dev wan0 ingress prio 1 handle 0x1b7f protocol all bpf bytecode '1,6 0 0 0,'
	if fw_ipt2bpf load "$work/v1.v4" 2>"$work/rb.err"; then
		bad "rollback: load replaced someone else's tc filter"
	elif grep -q 'wan0: tc ingress pref 1 handle 0x1b7f is taken' "$work/rb.err" &&
		! tc -n "$F" filter show dev lo ingress | grep -q ipt_ &&
		! tc -n "$F" filter show dev lan0 ingress | grep -q ipt_ &&
		! tc -n "$F" qdisc show dev lan0 | grep -q clsact &&
		tc -n "$F" filter show dev wan0 ingress | grep -q "bytecode '1,6 0 0 0'" &&
		fw_ipt2bpf status | grep -q 'no rule set loaded'; then
		ok "rollback: refused on wan0 ($(sed 's/^ipt2bpf: load: //' "$work/rb.err")); lo and lan0 taken back, nothing loaded"
	else
		bad "rollback: after the refused first load:"
		sed 's/^/    /' "$work/rb.err"
		tc -n "$F" filter show dev lo ingress | sed 's/^/    lo: /'
	fi
	tc -n "$F" qdisc del dev wan0 clsact
	fw_ipt2bpf unload >/dev/null 2>&1

	# A replacement that fails part-way puts the previous rule set back everywhere:
	# tc -> xdp, with a foreign XDP program on wan0.
	fw_ipt2bpf load "$work/v1.v4" || {
		bad "rollback: load v1"
		return
	}
	before=$(fw_ipt2bpf status --json | jq -c '[.generation, .mode, [.interfaces[] | [.tc_ingress, .tc_egress, .xdp]]]')
	# A foreign XDP program that passes everything (ours, compiled from an empty rule set).
	printf '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n' \
		>"$work/open.v4"
	"$IPT2BPF" "$work/open.v4" --mode xdp -o "$work/foreign.o" 2>"$work/rb.err" &&
		ip -n "$F" link set dev wan0 xdpgeneric obj "$work/foreign.o" sec xdp 2>>"$work/rb.err"
	id=$(ip -n "$F" -j link show dev wan0 | jq '.[0].xdp.prog.id // 0')
	if [ "$id" -eq 0 ]; then
		bad "rollback: cannot put a foreign XDP program on wan0: $(cat "$work/rb.err")"
		return
	fi
	if fw_ipt2bpf load "$work/v2.v4" --mode xdp 2>"$work/rb.err"; then
		bad "rollback: load --mode xdp replaced a foreign XDP program"
		return
	fi
	after=$(fw_ipt2bpf status --json | jq -c '[.generation, .mode, [.interfaces[] | [.tc_ingress, .tc_egress, .xdp]]]')
	if grep -q 'wan0: XDP program id' "$work/rb.err" && [ "$before" = "$after" ] &&
		! ip -n "$F" link show dev lo | grep -q prog/xdp &&
		! ip -n "$F" link show dev lan0 | grep -q prog/xdp &&
		[ -z "$(ls "$(pin_dir)/links")" ] &&
		[ "$(ip -n "$F" -j link show dev wan0 | jq '.[0].xdp.prog.id // 0')" = "$id" ] &&
		[ "$(probe "$C" tcp 10.0.2.2 80 - x)" = open ] &&
		[ "$(probe "$C" tcp 10.0.2.2 22 - x)" = blocked ]; then
		ok "rollback: xdp load refused on wan0; lo and lan0 back on the tc programs, state unchanged"
	else
		bad "rollback: after the refused replacement: before $before, after $after"
		sed 's/^/    /' "$work/rb.err"
	fi
	ip -n "$F" link set dev wan0 xdpgeneric off
}

# ---------------------------------------------------------------- kill -9

# After a kill: V1 and V2 agree on these, whichever generation a hook runs.
kill_check() {
	local what=$1 rc=0
	[ "$(probe "$C" ping 10.0.2.2 - x)" = open ] || rc=1
	probe "$C" udp 10.0.2.2 5353 "kill-$what" >/dev/null
	[ "$(probe "$C" tcp 10.0.2.2 22 - x)" = blocked ] || rc=1
	[ "$(probe "$C" tcp 10.0.2.2 80 - x)" = open ] || rc=1
	fw_ipt2bpf status >"$work/kill.status" 2>&1 || rc=1
	if [ $rc -eq 0 ]; then
		ok "kill: after kill -9 $what: filtering in place, status works" \
			"($(grep -o 'generation [0-9]*' "$work/kill.status")$(grep -q STALE "$work/kill.status" && echo ', some hooks stale'))"
	else
		bad "kill: after kill -9 $what: filtering or status broken"
		sed 's/^/    /' "$work/kill.status" | head -12
	fi
}

section_kill() {
	local i delay d gens t0 t1 ms pid v
	echo "=== kill: kill -9 during loads"
	topo_up || {
		bad "kill: topology"
		return
	}
	{
		sed '/^COMMIT$/d' "$work/v2.v4" | sed 's/^:svc - \[0:0\]$/:svc - [0:0]\n:filler - [0:0]/'
		echo "-I FORWARD 1 -j filler"
		for i in $(seq 1 1000); do
			echo "-A filler -s 192.0.$((i / 250)).$((i % 250 + 1)) -p udp --dport $((1000 + i)) -j DROP"
		done
		echo COMMIT
	} >"$work/big.v4"
	fw_ipt2bpf load "$work/v1.v4" || {
		bad "kill: load v1"
		return
	}
	# A large load is mostly compiling and verifying: kill it there.
	t0=$(date +%s%N)
	fw_ipt2bpf load "$work/big.v4" || bad "kill: the large rule set does not load"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	echo "    loading $(grep -c '^-A' "$work/big.v4") rules took $ms ms"
	fw_ipt2bpf load "$work/v1.v4" >/dev/null
	for i in 3 6 9; do
		nsenter --net="/run/netns/$F" "$IPT2BPF" load "$work/big.v4" >/dev/null 2>&1 &
		pid=$!
		sleep "$(awk -v m="$ms" -v i="$i" 'BEGIN { printf "%.3f", m * i / 10000 }')"
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		kill_check "at ${i}0% of a ${ms} ms load"
	done
	# Then the pin, attach, switch, carry and cleanup steps, widened to 40 ms each.
	v=v2
	for delay in 0.01 0.03 0.06 0.1 0.14 0.18 0.22 0.26 0.3 0.34 0.38 0.42; do
		IPT2BPF_TEST_STEP_MS=40 nsenter --net="/run/netns/$F" "$IPT2BPF" load "$work/$v.v4" \
			>/dev/null 2>&1 &
		pid=$!
		sleep "$delay"
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		kill_check "${delay}s into a slowed $v load"
		[ $v = v2 ] && v=v1 || v=v2
	done
	sleep 0.3
	if grep -q '^5353 .*kill' "$work/S.log"; then
		bad "kill: a datagram to 5353 got through after a kill"
	else
		ok "kill: no datagram to 5353 got through at any kill point"
	fi
	if fw_ipt2bpf load "$work/v1.v4"; then
		d=$(pin_dir)
		gens=$(find "$d" -maxdepth 1 -name 'g*' | wc -l)
		if [ "$gens" -eq 1 ] && ! find "$d" -name '*_new' | grep -q . &&
			fw_ipt2bpf status --json | jq -e 'all(.interfaces[]; .stale | not)' >/dev/null &&
			[ "$(probe "$C" tcp 10.0.2.2 80 - x)" = open ]; then
			ok "kill: the next load recovers: one generation pinned, nothing stale, traffic as V1 says"
		else
			bad "kill: after recovery: $gens generations, or stale programs"
			find "$d" | head -30 | sed 's/^/    /'
		fi
	else
		bad "kill: the load after the kills failed"
	fi
}

# ---------------------------------------------------------------- follow

section_follow() {
	local i t0 t1 ms r
	echo "=== follow: interfaces created after the load"
	topo_up || {
		bad "follow: topology"
		return
	}
	nsenter --net="/run/netns/$F" "$IPT2BPF" load "$work/v1.v4" --follow -v >"$work/follow.out" 2>&1 &
	local fpid=$!
	bg_pids+=("$fpid")
	for i in $(seq 1 100); do
		grep -q 'following interfaces' "$work/follow.out" && break
		sleep 0.05
	done
	grep -q 'following interfaces' "$work/follow.out" || {
		bad "follow: load --follow did not start: $(cat "$work/follow.out")"
		return
	}
	h_ns_add --no-ipv6 "$C2"
	t0=$(date +%s%N)
	ip -n "$F" link add lan7 type veth peer name c2 netns "$C2"
	for i in $(seq 1 400); do
		tc -n "$F" filter show dev lan7 ingress 2>/dev/null | grep -q ipt_ingress &&
			tc -n "$F" filter show dev lan7 egress 2>/dev/null | grep -q ipt_egress && break
		sleep 0.002
	done
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	if tc -n "$F" filter show dev lan7 ingress | grep -q ipt_ingress; then
		if [ "$ms" -le 100 ]; then
			ok "follow: lan7 had both programs ${ms} ms after it was created"
		else
			bad "follow: lan7 got its programs only after ${ms} ms (> 100 ms)"
		fi
	else
		bad "follow: lan7 never got the programs"
		return
	fi
	ip -n "$F" addr add 10.0.3.1/24 dev lan7
	ip -n "$C2" addr add 10.0.3.2/24 dev c2
	ip -n "$F" link set lan7 up
	ip -n "$C2" link set c2 up
	ip -n "$C2" route add default via 10.0.3.1
	r="$(probe "$C2" tcp 10.0.2.2 80 - x) $(probe "$C2" tcp 10.0.2.2 22 - x)"
	probe "$C2" udp 10.0.2.2 53 follow-53 >/dev/null
	probe "$C2" udp 10.0.2.2 5353 follow-5353 >/dev/null
	sleep 0.3
	grep -q 'follow-53$' "$work/S.log" && r="$r delivered" || r="$r blocked"
	grep -q 'follow-5353$' "$work/S.log" && r="$r delivered" || r="$r blocked"
	if [ "$r" = "open blocked delivered blocked" ]; then
		ok "follow: lan7 filters as lan+ (tcp 80 open, 22 blocked, udp 53 through, 5353 dropped)"
	else
		bad "follow: lan7 outcomes '$r', want 'open blocked delivered blocked'"
	fi
	# Renamed out of lan+, then back: the -i/-o name bits follow the name.
	ip -n "$F" link set lan7 down
	ip -n "$F" link set lan7 name dmz7
	ip -n "$F" link set dmz7 up
	sleep 0.3
	r=$(probe "$C2" tcp 10.0.2.2 80 - x)
	ip -n "$F" link set dmz7 down
	ip -n "$F" link set dmz7 name lan7
	ip -n "$F" link set lan7 up
	sleep 0.3
	r="$r $(probe "$C2" tcp 10.0.2.2 80 - x)"
	if [ "$r" = "blocked open" ]; then
		ok "follow: renamed to dmz7 it no longer matches lan+, renamed back it does"
	else
		bad "follow: tcp 80 through dmz7/lan7: '$r', want 'blocked open'"
	fi
	ip -n "$F" link del lan7
	sleep 0.3
	if fw_ipt2bpf status --json | jq -e '[.interfaces[] | select(.name == "lan7" or .name == "dmz7")] | length == 0' >/dev/null; then
		ok "follow: the deleted interface is forgotten"
	else
		bad "follow: status still lists the deleted interface"
	fi
	kill "$fpid"
	if wait "$fpid"; then
		ok "follow: SIGTERM ends the follower cleanly"
	else
		bad "follow: the follower did not exit cleanly: $(tail -3 "$work/follow.out")"
	fi
}

# ---------------------------------------------------------------- unload

section_unload() {
	local mode ids d id left i dev
	for mode in tc xdp; do
		echo "=== unload ($mode)"
		topo_up || {
			bad "unload: topology"
			return
		}
		# Someone else's clsact and filter on wan0: must survive our load and unload.
		tc -n "$F" qdisc add dev wan0 clsact
		tc -n "$F" filter add dev wan0 egress prio 7 protocol ip bpf bytecode '1,6 0 0 0,'
		fw_ipt2bpf load "$work/v1.v4" --mode "$mode" || {
			bad "unload: load --mode $mode"
			continue
		}
		[ "$(probe "$C" udp 10.0.2.2 5353 unload-before-$mode)" = sent ]
		ids=$(fw_ipt2bpf status --json | jq -r '.programs[].id')
		d=$(pin_dir)
		if ! fw_ipt2bpf unload; then
			bad "unload ($mode): unload failed"
			continue
		fi
		left=""
		# Programs are freed after an RCU grace period: give them a moment.
		for id in $ids; do
			for i in $(seq 1 50); do
				bpftool prog show id "$id" >/dev/null 2>&1 || break
				sleep 0.02
			done
			bpftool prog show id "$id" >/dev/null 2>&1 && left="$left prog:$id"
		done
		[ -e "$d" ] && left="$left pins:$d"
		[ -e /sys/fs/bpf/ipt2bpf ] && [ -z "$(ls -A /sys/fs/bpf/ipt2bpf)" ] && left="$left empty:/sys/fs/bpf/ipt2bpf"
		for dev in lo lan0; do
			tc -n "$F" qdisc show dev "$dev" | grep -q clsact && left="$left clsact:$dev"
		done
		for dev in lo lan0 wan0; do
			tc -n "$F" filter show dev "$dev" ingress 2>/dev/null | grep -q 'pref 1 ' && left="$left ingress:$dev"
			tc -n "$F" filter show dev "$dev" egress 2>/dev/null | grep -q 'pref 1 ' && left="$left egress:$dev"
			ip -n "$F" link show dev "$dev" | grep -q 'prog/xdp' && left="$left xdp:$dev"
		done
		if [ -z "$left" ]; then
			ok "unload ($mode): no program, filter, XDP link, clsact or pin of ours left ($(echo "$ids" | wc -w) programs gone)"
		else
			bad "unload ($mode): left behind:$left"
		fi
		if tc -n "$F" qdisc show dev wan0 | grep -q clsact &&
			tc -n "$F" filter show dev wan0 egress | grep -q "pref 7 bpf.*bytecode '1,6 0 0 0'"; then
			ok "unload ($mode): the clsact and cBPF filter someone else added on wan0 are still there"
		else
			bad "unload ($mode): removed someone else's clsact or filter on wan0"
		fi
		probe "$C" udp 10.0.2.2 5353 unload-after-$mode >/dev/null
		sleep 0.3
		if grep -q "unload-after-$mode\$" "$work/S.log" && ! grep -q "unload-before-$mode\$" "$work/S.log"; then
			ok "unload ($mode): traffic V1 dropped flows again once unloaded"
		else
			bad "unload ($mode): 5353 before/after unload not as expected"
		fi
		fw_ipt2bpf unload 2>"$work/unload2.err"
		if grep -q 'nothing was loaded' "$work/unload2.err"; then
			ok "unload ($mode): a second unload says nothing was loaded"
		else
			bad "unload ($mode): second unload: $(cat "$work/unload2.err")"
		fi
	done
}

# ---------------------------------------------------------------- ip netns exec

# `ip netns exec` gives its command a private mount namespace with a fresh
# /sys: the state must still land in (and be found in) the host's bpffs.
section_exec() {
	local d
	echo "=== exec: ip netns exec and nsenter see the same state"
	topo_up || {
		bad "exec: topology"
		return
	}
	d=$(pin_dir)
	if in_ns "$F" "$IPT2BPF" load "$work/v1.v4" 2>"$work/exec.err" && [ -L "$d/current" ] &&
		fw_ipt2bpf status | grep -q 'rule set loaded' &&
		in_ns "$F" "$IPT2BPF" status | grep -q 'outer mount namespace' &&
		[ "$(probe "$C" tcp 10.0.2.2 22 - x)" = blocked ]; then
		ok "exec: loaded through ip netns exec, pinned in the host's bpffs ($d)"
	else
		bad "exec: load through ip netns exec: $(cat "$work/exec.err")"
	fi
	if in_ns "$F" "$IPT2BPF" unload && [ ! -e "$d" ] && ! grep -q "bpf /sys " <(in_ns "$F" cat /proc/mounts); then
		ok "exec: unloaded through ip netns exec, nothing left, no bpffs mounted on the way"
	else
		bad "exec: unload through ip netns exec left $d"
	fi
}

# ---------------------------------------------------------------- netns inode reuse

# The kernel hands a deleted namespace's inode number to the next one at once;
# the state directory is named after it, so a new namespace must not inherit
# state left by a dead one (the pinned netns cookie tells them apart).
section_netns_reuse() {
	local ino d i yino='' fresh
	echo "=== netns-reuse: a new namespace with a dead one's inode number"
	topo_down
	printf '%s\n' '*filter' ':INPUT ACCEPT [0:0]' ':FORWARD ACCEPT [0:0]' ':OUTPUT ACCEPT [0:0]' \
		'-A INPUT -p icmp -j ACCEPT' 'COMMIT' >"$work/icmp.v4"
	h_ns_add --no-ipv6 "$X"
	ino=$(stat -L -c %i "/run/netns/$X")
	d=/sys/fs/bpf/ipt2bpf/$ino
	if ! nsenter --net="/run/netns/$X" "$IPT2BPF" load "$work/icmp.v4" ||
		! in_ns "$X" ping -c 3 -i 0.2 -q 127.0.0.1 >/dev/null ||
		[ "$(nsenter --net="/run/netns/$X" "$IPT2BPF" status --json |
			jq '.tables[0].chains[0].rules[0].packets')" = 0 ]; then
		bad "netns-reuse: load and count in the first namespace"
		return
	fi
	ip netns del "$X" # no unload: the state stays pinned
	# Its inode number is free once the namespace is cleaned up (asynchronously).
	for i in $(seq 1 "${RUNTIME_REUSE_TRIES:-50}"); do
		h_ns_add --no-ipv6 "$Y"
		yino=$(stat -L -c %i "/run/netns/$Y")
		[ "$yino" = "$ino" ] && break
		ip netns del "$Y"
		sleep 0.1
	done
	if [ "$yino" != "$ino" ]; then
		# The kernel hands the freed inode number to whoever asks first (other
		# namespaces being made on the machine): then stage what reuse looks like,
		# the dead namespace's state under the new namespace's number.
		h_ns_add --no-ipv6 "$Y"
		yino=$(stat -L -c %i "/run/netns/$Y")
		if [ -e "/sys/fs/bpf/ipt2bpf/$yino" ] || ! mv "$d" "/sys/fs/bpf/ipt2bpf/$yino"; then
			bad "netns-reuse: no new namespace got inode $ino, and its state cannot be moved to $yino"
			return
		fi
		echo "    (no namespace got inode $ino again: its state moved to the new namespace's $yino)"
		ino=$yino
		d=/sys/fs/bpf/ipt2bpf/$ino
	fi
	if [ ! -L "$d/current" ]; then
		bad "netns-reuse: the dead namespace's state $d is gone already (nothing to test)"
		return
	fi
	if nsenter --net="/run/netns/$Y" "$IPT2BPF" status 2>"$work/reuse.err" |
		grep -q '^ipt2bpf: no rule set loaded' && [ ! -e "$d" ]; then
		ok "netns-reuse: status in the new namespace (inode $ino) says not loaded, left-over pins removed"
	else
		bad "netns-reuse: status in the new namespace: $(nsenter --net="/run/netns/$Y" "$IPT2BPF" status 2>&1 | head -1) $(cat "$work/reuse.err")"
	fi
	fresh=$(nsenter --net="/run/netns/$Y" "$IPT2BPF" load "$work/icmp.v4" 2>&1 &&
		nsenter --net="/run/netns/$Y" "$IPT2BPF" status --json |
		jq -r '[.generation, ([.tables[].chains[] | .packets, .bytes, (.rules[] | .packets, .bytes)] | add)] | @tsv')
	if [ "$fresh" = "$(printf '1\t0')" ]; then
		ok "netns-reuse: a load there starts at generation 1 with zero counters"
	else
		bad "netns-reuse: load in the new namespace: generation, counter sum: $fresh"
	fi
	nsenter --net="/run/netns/$Y" "$IPT2BPF" unload >/dev/null 2>&1
	ip netns del "$Y"
}

sections=${*:-diff-tc diff-xdp replace rollback kill follow unload exec netns-reuse}
for s in $sections; do
	case $s in
	diff-tc) section_diff tc ;;
	diff-xdp) section_diff xdp ;;
	replace) section_replace ;;
	rollback) section_rollback ;;
	kill) section_kill ;;
	follow) section_follow ;;
	unload) section_unload ;;
	exec) section_exec ;;
	netns-reuse) section_netns_reuse ;;
	*) bad "unknown section $s" ;;
	esac
done
topo_down
finish
