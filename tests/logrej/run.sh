#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# LOG and REJECT against the kernel, with real traffic in three network
# namespaces: client -- firewall -- server.
#
#   client lgrc0 10.200.1.2/24 -- lgrf0 10.200.1.1/24 firewall lgrf1 10.200.2.1/24 -- lgrs0 10.200.2.2/24 server
#
#   log     iptables-legacy's LOG rules and `ipt2bpf load` of the same rules
#           side by side in the firewall (LOG does not drop: both see every
#           packet); crafted frames from the client (INPUT, FORWARD) and the
#           firewall's own traffic (OUTPUT).  The kernel's lines (dmesg -r,
#           net.netfilter.nf_log_all_netns=1 for the run) must equal
#           `ipt2bpf log --raw`, level included.
#   reject  the same frames against iptables-legacy's REJECT, then against
#           `ipt2bpf load` of the same rules: the replies captured on the
#           client (AF_PACKET) must be byte-identical but for the masked
#           fields tests/logrej/reject.py lists; OUTPUT replies captured in the
#           firewall; icmp_ratelimit burst and refill counted.
#   trace   `ipt2bpf trace` prints LOG lines and REJECT replies (the unit of
#           the two above without a network).
#
#   log-xdp the log section with `ipt2bpf load --mode xdp`.
#   nflog   iptables-legacy's NFLOG and AUDIT rules and `ipt2bpf load` of the
#           same rules side by side: an nfnetlink_log listener in the
#           firewall (tests/logrej/nflog.py) records the kernel's messages,
#           which must equal the NFLOG lines of `ipt2bpf log` (prefix,
#           group, devices, mark, payload length, IP header).  The kernel's
#           AUDIT writes nothing while auditing is disabled (`auditctl -e
#           0`, the default without auditd): an NFLOG rule of group 9 next
#           to each AUDIT rule shows what the kernel saw, and the AUDIT lines
#           of `ipt2bpf log` must say that (mark, saddr, daddr, proto).
#
# usage: tests/logrej/run.sh [trace] [log] [log-xdp] [nflog] [reject]   (default: all)
# Environment: IPT2BPF (default $O/ipt2bpf), LOGREJ_KEEP=1 keeps the work
# directory.  Needs root, iproute2, iptables-legacy, python3.  Last line:
# "logrej: N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$here/../lib/harness.sh"
h_init logrej

C=lgr$$c
F=lgr$$f
S=lgr$$s
h_workdir ipt2bpf-logrej LOGREJ_KEEP
log_all_netns=

# shellcheck disable=SC2317 # run at exit
restore_log_all_netns() {
	if [ -n "$log_all_netns" ]; then
		echo "$log_all_netns" >/proc/sys/net/netfilter/nf_log_all_netns
	fi
}
h_at_exit restore_log_all_netns

h_need_root "network namespaces, bpf"
h_need_tools ip iptables-legacy iptables-legacy-restore python3 dmesg
h_need_ipt2bpf
h_bpffs

sys() { # sys NS KEY=VALUE...
	local ns=$1
	shift
	ip netns exec "$ns" sysctl -q -w "$@" >/dev/null
}
inf() { ip netns exec "$F" "$@"; }

topology() {
	h_ns_del "$C" "$F" "$S"
	h_ns_add --no-ipv6 "$C" "$F" "$S"
	h_veth "$C" lgrc0 10.200.1.2/24 "$F" lgrf0 10.200.1.1/24
	h_veth "$F" lgrf1 10.200.2.1/24 "$S" lgrs0 10.200.2.2/24
	ip -n "$C" route add default via 10.200.1.1
	ip -n "$S" route add default via 10.200.2.1
	sys "$F" net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.conf.lgrf0.rp_filter=0 net.ipv4.conf.lgrf1.rp_filter=0
	# Permanent neighbours: nothing waits for ARP, no ARP noise in captures.
	cmac=$(ip -n "$C" -br link show lgrc0 | awk '{print $3}')
	fmac=$(ip -n "$F" -br link show lgrf0 | awk '{print $3}')
	f1mac=$(ip -n "$F" -br link show lgrf1 | awk '{print $3}')
	smac=$(ip -n "$S" -br link show lgrs0 | awk '{print $3}')
	ip -n "$F" neigh replace 10.200.1.2 lladdr "$cmac" dev lgrf0 nud permanent
	ip -n "$F" neigh replace 10.200.1.77 lladdr "$cmac" dev lgrf0 nud permanent
	ip -n "$F" neigh replace 10.200.2.2 lladdr "$smac" dev lgrf1 nud permanent
	ip -n "$C" neigh replace 10.200.1.1 lladdr "$fmac" dev lgrc0 nud permanent
	ip -n "$S" neigh replace 10.200.2.1 lladdr "$f1mac" dev lgrs0 nud permanent
}

# ---------------------------------------------------------------- log
section_log() { # section_log [xdp]
	local mode=${1:-tc} rules=$work/log.v4 t0
	local tag="lgr$$${mode:0:1}"
	echo "== log ($mode): iptables-legacy LOG and ipt2bpf LOG on the same packets"
	topology
	cat >"$rules" <<EOF
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -j LOG --log-prefix "${tag}i1: " --log-tcp-sequence --log-tcp-options --log-ip-options
-A INPUT -p tcp -j LOG --log-prefix "${tag}i2 " --log-level 7 --log-macdecode
-A INPUT ! -p tcp -j LOG --log-prefix "${tag}i3: " --log-ip-options --log-tcp-options --log-level 1
-A INPUT -j LOG --log-prefix "${tag}i4: " --log-macdecode --log-level 6
-A FORWARD -j LOG --log-prefix "${tag}f1: " --log-tcp-options --log-tcp-sequence --log-ip-options --log-level 3
-A FORWARD -j LOG --log-prefix "${tag}f2: " --log-uid --log-macdecode
-A OUTPUT -j LOG --log-prefix "${tag}o1: " --log-tcp-options --log-tcp-sequence --log-macdecode
-A OUTPUT -p icmp -j LOG --log-prefix "${tag}o2:'x " --log-level 0
COMMIT
EOF
	log_all_netns=$(cat /proc/sys/net/netfilter/nf_log_all_netns)
	echo 1 >/proc/sys/net/netfilter/nf_log_all_netns
	if ! inf iptables-legacy-restore <"$rules"; then
		bad "log: iptables-legacy-restore refused the rules"
		return
	fi
	if ! inf "$IPT2BPF" load --mode "$mode" "$rules" >"$work/load.out" 2>&1; then
		bad "log ($mode): ipt2bpf load: $(cat "$work/load.out")"
		return
	fi
	t0=$(date +%s%N)
	ip netns exec "$C" python3 "$here/log.py" client lgrc0 "$fmac"
	# OUTPUT: the firewall's own traffic (replies to the above went through it too).
	inf ping -c 2 -i 0.2 -W 1 10.200.1.2 >/dev/null
	inf ping -c 1 -W 1 -s 1000 -Q 0x10 10.200.2.2 >/dev/null
	inf ping -c 1 -W 1 127.0.0.1 >/dev/null # OUTPUT and INPUT on lo
	inf timeout 2 bash -c 'echo > /dev/tcp/10.200.1.2/9' 2>/dev/null
	inf python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(b"out",("10.200.2.2",9))'
	sleep 0.5
	dmesg -r | grep "$tag" | sed -E 's/^(<[0-9]+>)\[ *[0-9.]+\] /\1/' >"$work/log.kernel"
	inf "$IPT2BPF" log --raw >"$work/log.ours"
	echo "   ($(wc -l <"$work/log.kernel") kernel lines, $(( ($(date +%s%N) - t0) / 1000000 )) ms)"
	if python3 "$here/log.py" compare "$work/log.kernel" "$work/log.ours"; then
		ok "log ($mode): every line equals the kernel's"
	else
		bad "log ($mode): lines differ from the kernel's"
	fi
	# --follow across a replacement: a line logged after a new load is still read.
	# not through inf(): $! must be the process itself, or kill leaves it running.
	ip netns exec "$F" "$IPT2BPF" log --follow --raw >"$work/follow.out" 2>&1 &
	local fpid=$!
	sleep 0.3
	inf ping -c 1 -W 1 10.200.1.2 >/dev/null
	inf "$IPT2BPF" load --mode "$mode" "$rules" >/dev/null 2>&1
	sleep 0.5
	inf ping -c 1 -W 1 10.200.2.2 >/dev/null
	sleep 0.6
	kill "$fpid" 2>/dev/null
	wait "$fpid" 2>/dev/null
	if grep -q "o1: IN= OUT=lgrf0 SRC=10.200.1.1 DST=10.200.1.2 .*TYPE=8" "$work/follow.out" &&
		grep -q "o1: IN= OUT=lgrf1 SRC=10.200.2.1 DST=10.200.2.2 .*TYPE=8" "$work/follow.out"; then
		ok "log ($mode) --follow: lines before and after a rule set replacement"
	else
		bad "log ($mode) --follow: $(head -c 600 "$work/follow.out")"
	fi
	inf "$IPT2BPF" unload >/dev/null 2>&1
	inf iptables-legacy -F
	echo "$log_all_netns" >/proc/sys/net/netfilter/nf_log_all_netns
	log_all_netns=
}

# ---------------------------------------------------------------- nflog
section_nflog() {
	local rules=$work/nflog.v4 lpid t0
	echo "== nflog: iptables-legacy NFLOG/AUDIT and ipt2bpf NFLOG/AUDIT on the same packets"
	topology
	cat >"$rules" <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -j NFLOG --nflog-group 5 --nflog-prefix "b2i1"
-A INPUT -p udp -j NFLOG --nflog-group 6 --nflog-size 30 --nflog-prefix "b2i2 "
-A INPUT -p tcp -j NFLOG --nflog-group 5 --nflog-threshold 3 --nflog-size 0 --nflog-prefix "b2i3"
-A INPUT -p icmp -j NFLOG --nflog-group 7 --nflog-range 10
-A INPUT -p udp -j NFLOG --nflog-group 9 --nflog-prefix "audit"
-A INPUT -p udp -j AUDIT --type accept
-A FORWARD -j NFLOG --nflog-group 6 --nflog-prefix "b2f1"
-A FORWARD -p udp -j NFLOG --nflog-group 7 --nflog-size 1000
-A FORWARD -j NFLOG --nflog-group 9 --nflog-prefix "audit"
-A FORWARD -j AUDIT --type drop
-A OUTPUT -p icmp -j MARK --set-xmark 0x2a/0xff
-A OUTPUT -j NFLOG --nflog-group 5 --nflog-prefix "b2o1"
-A OUTPUT -j NFLOG --nflog-group 9 --nflog-prefix "audit"
-A OUTPUT -j AUDIT --type reject
-A OUTPUT -p icmp -j NFLOG --nflog-group 8 --nflog-prefix "nobody listens"
COMMIT
EOF
	if ! inf iptables-legacy-restore <"$rules"; then
		bad "nflog: iptables-legacy-restore refused the rules"
		return
	fi
	if ! inf "$IPT2BPF" load "$rules" >"$work/load.out" 2>&1; then
		bad "nflog: ipt2bpf load: $(cat "$work/load.out")"
		return
	fi
	t0=$(date +%s%N)
	ip netns exec "$F" python3 "$here/nflog.py" listen "$work/nflog.kernel" 5 6 7 9 \
		>"$work/listen.out" 2>&1 &
	lpid=$!
	for _ in $(seq 50); do
		grep -q ready "$work/listen.out" 2>/dev/null && break
		sleep 0.1
	done
	ip netns exec "$C" python3 "$here/nflog.py" client lgrc0 "$fmac"
	inf ping -c 2 -i 0.2 -W 1 10.200.1.2 >/dev/null
	inf ping -c 1 -W 1 -s 1000 10.200.2.2 >/dev/null
	inf python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(b"out",("10.200.2.2",9))'
	sleep 0.5
	kill "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	inf "$IPT2BPF" log >"$work/nflog.ours"
	echo "   ($(wc -l <"$work/nflog.kernel") kernel messages, $((($(date +%s%N) - t0) / 1000000)) ms)"
	if python3 "$here/nflog.py" compare "$work/nflog.kernel" "$work/nflog.ours"; then
		ok "nflog: every NFLOG line matches a kernel nfnetlink_log message"
	else
		bad "nflog: NFLOG lines differ from the kernel's messages ($(head -c 300 "$work/listen.out"))"
	fi
	if python3 "$here/nflog.py" audit "$work/nflog.kernel" "$work/nflog.ours"; then
		ok "nflog: AUDIT records name what the kernel saw at the AUDIT rules"
	else
		bad "nflog: AUDIT records differ"
	fi
	inf "$IPT2BPF" unload >/dev/null 2>&1
	inf iptables-legacy -F
}

# ---------------------------------------------------------------- reject
section_reject() {
	local rules=$work/reject.v4 side t0
	echo "== reject: iptables-legacy REJECT, then ipt2bpf REJECT, same frames"
	topology
	cat >"$rules" <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 7001 -j REJECT --reject-with tcp-reset
-A INPUT -p tcp --dport 7002 -j REJECT
-A INPUT -p tcp -d 10.200.1.1 -j REJECT --reject-with tcp-reset
-A INPUT -p udp --dport 7101 -j REJECT --reject-with icmp-net-unreachable
-A INPUT -p udp --dport 7102 -j REJECT --reject-with icmp-host-unreachable
-A INPUT -p udp --dport 7103 -j REJECT --reject-with icmp-proto-unreachable
-A INPUT -p udp --dport 7104 -j REJECT --reject-with icmp-port-unreachable
-A INPUT -p udp --dport 7105 -j REJECT --reject-with icmp-net-prohibited
-A INPUT -p udp --dport 7106 -j REJECT --reject-with icmp-host-prohibited
-A INPUT -p udp --dport 7107 -j REJECT --reject-with icmp-admin-prohibited
-A INPUT -p udp -j REJECT
-A INPUT -p icmp -j REJECT --reject-with icmp-host-prohibited
-A INPUT -p 47 -j REJECT --reject-with icmp-proto-unreachable
-A INPUT -p 50 -j REJECT --reject-with icmp-proto-unreachable
-A INPUT -p 253 -j REJECT --reject-with icmp-proto-unreachable
-A FORWARD -p tcp --dport 7001 -j REJECT --reject-with tcp-reset
-A FORWARD -f -j REJECT
-A FORWARD -p udp -j REJECT
-A FORWARD -p icmp -j REJECT --reject-with icmp-net-prohibited
-A OUTPUT -p tcp --dport 7201 -j REJECT --reject-with tcp-reset
-A OUTPUT -p udp --dport 7202 -j REJECT
COMMIT
EOF
	t0=$(date +%s)
	for side in kernel ours; do
		sys "$F" net.ipv4.icmp_ratelimit=0
		if [ "$side" = kernel ]; then
			inf iptables-legacy-restore <"$rules" || {
				bad "reject: iptables-legacy-restore"
				return
			}
		elif ! inf "$IPT2BPF" load "$rules" >"$work/load.out" 2>&1; then
			bad "reject: ipt2bpf load: $(cat "$work/load.out")"
			return
		fi
		ip netns exec "$C" python3 "$here/reject.py" client lgrc0 "$fmac" "$work/$side.client.json"
		inf python3 "$here/reject.py" output "$work/$side.output.json"
		# The rate limits as configured by default (ipt2bpf reads them when loading).
		sys "$F" net.ipv4.icmp_ratelimit=1000
		if [ "$side" = ours ]; then
			inf "$IPT2BPF" load "$rules" >/dev/null 2>&1 || bad "reject: second load"
		fi
		ip netns exec "$C" python3 "$here/reject.py" ratelimit lgrc0 "$fmac" "$work/$side.rate.json"
		if [ "$side" = kernel ]; then
			inf iptables-legacy -F
		else
			inf "$IPT2BPF" unload >/dev/null 2>&1
		fi
	done
	python3 - "$work" <<'EOF'
import json, sys
w = sys.argv[1]
for side in ("kernel", "ours"):
    c = {}
    for part in ("client", "output", "rate"):
        c.update(json.load(open("%s/%s.%s.json" % (w, side, part)))["cases"])
    json.dump({"cases": c}, open("%s/%s.json" % (w, side), "w"))
EOF
	echo "   ($(($(date +%s) - t0)) s)"
	if python3 "$here/reject.py" compare "$work/kernel.json" "$work/ours.json"; then
		ok "reject: replies equal the kernel's"
	else
		bad "reject: replies differ from the kernel's"
	fi
}

# ---------------------------------------------------------------- trace
section_trace() {
	local rules=$work/trace.v4 out line
	echo "== trace: LOG lines and REJECT replies without a network"
	cat >"$rules" <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p udp -j LOG --log-prefix "tr: "
-A INPUT -p udp -j REJECT --reject-with icmp-port-unreachable
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
COMMIT
EOF
	python3 - "$work/t.pcap" <<EOF
import struct, sys
sys.path.insert(0, "$here")
from pkt import eth, ipv4, udp, tcp
fr = [eth("02:00:00:00:00:02", "02:00:00:00:00:01", ipv4("10.0.0.1", "10.0.0.2", 17, udp("10.0.0.1", "10.0.0.2", 5353, 53, b"hello"))),
      eth("02:00:00:00:00:02", "02:00:00:00:00:01", ipv4("10.0.0.1", "10.0.0.2", 6, tcp("10.0.0.1", "10.0.0.2", 1234, 80, seq=1000)))]
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i, p in enumerate(fr):
        f.write(struct.pack("<IIII", i, 0, len(p), len(p)) + p)
EOF
	out=$("$IPT2BPF" trace "$rules" --pcap "$work/t.pcap" --in eth7 --json 2>&1)
	while IFS= read -r line; do
		echo "   $line"
	done <<<"$out"
	# Expected bytes worked out by hand from nf_reject_ipv4.c / icmp.c (ID masked
	# below).  The frame's destination MAC is trace's business (it may give the
	# frame the traced device's address): matched as any.
	if echo "$out" | grep -Eq '"log":\["tr: IN=eth7 OUT= MAC=..:..:..:..:..:..:02:00:00:00:00:01:08:00 SRC=10.0.0.1 DST=10.0.0.2 LEN=33 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=UDP SPT=5353 DPT=53 LEN=13 "\]' &&
		echo "$out" | grep -Eq '"reply":"020000000001............08004500002800004000400626ce0a0000020a000001005004d200000000000003e95014000092c30000"' &&
		echo "$out" | grep -Eq '"reply":"020000000001............080045c0003d....00004001....0a0000020a0000010303111e000000004500002100014000401126c90a0000010a00000214e90035000d92e168656c6c6f"'; then
		ok "trace: LOG line and REJECT replies (RST, port unreachable) as expected"
	else
		bad "trace: unexpected output"
	fi
}

sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(trace log log-xdp nflog reject)
for s in "${sections[@]}"; do
	case $s in
	log) section_log ;;
	log-xdp) section_log xdp ;;
	nflog) section_nflog ;;
	reject) section_reject ;;
	trace) section_trace ;;
	*)
		bad "unknown section $s"
		;;
	esac
done
finish
