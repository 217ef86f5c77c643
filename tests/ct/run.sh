#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/ct/run.sh [--quick] [--keep]
#
# The connection tracker against the kernel's own (nf_conntrack, Linux's
# netfilter conntrack with iptables-legacy rules): scripted flows (TCP
# handshake, data, retransmissions, out-of-window segments, FIN and RST
# closes, reopening, pickup, simultaneous open, window scaling; UDP
# request/reply and streams; ICMP echo and timestamp; ICMP errors quoting
# each kind of flow; a generic protocol; timeouts) are replayed in real time
# through two namespaces, both directions through the firewall's conntrack
# (INPUT from the client over a veth, OUTPUT from a raw socket), and through
# `ipt2bpf trace --chains --pcap-time` with the same timeouts.  Every rule
# counts a conntrack property (state, status, direction, tuple, expiry
# bucket, connmark), so the per-packet list of counted rules and the verdict
# are the state each packet saw: they must be equal for every packet.
#
#   --quick   without the timeout flows (a few seconds instead of ~25)
#   --keep    keep the output directory (tests/out/ct-<build dir>)
#
# Needs root, iptables-legacy, the build (O=build by default).
set -euo pipefail
cd "$(dirname "$0")/../.."

O=${O:-build}
OUT=tests/out/ct-$(basename "$O") # per build: helpers run it side by side
QUICK=
KEEP=
for a in "$@"; do
	case $a in
	--quick) QUICK=--quick ;;
	--keep) KEEP=1 ;;
	*)
		echo "usage: $0 [--quick] [--keep]" >&2
		exit 2
		;;
	esac
done

IPT2BPF=$O/ipt2bpf
CTDIFF=$O/tests/ctdiff
for b in "$IPT2BPF" "$CTDIFF"; do
	if [ ! -x "$b" ]; then
		echo "ct: $b missing (make O=$O all tools)" >&2
		exit 1
	fi
done

ID=$$
C=ipt2bpf-ct-$ID-c
FW=ipt2bpf-ct-$ID-fw
cleanup() {
	ip netns del "$C" 2>/dev/null || true
	ip netns del "$FW" 2>/dev/null || true
	if [ -z "$KEEP" ]; then
		rm -rf "$OUT"
	fi
}
trap cleanup EXIT
# Killed (a timeout): say how far the kernel side got, stop it, clean up.
# (bash runs traps only between commands: the replay runs in the background.)
replay=
stopped() {
	echo "ct: stopped after ${SECONDS}s; the kernel answered" \
		"$(wc -l <"$OUT/kernel.json" 2>/dev/null || echo 0) packets" >&2
	tail -3 "$OUT/kernel.err" >&2 2>/dev/null || true
	[ -z "$replay" ] || kill "$replay" 2>/dev/null || true
	exit 143
}
trap stopped TERM INT
mkdir -p "$OUT"

# Shortened timeouts, the same on both sides (sysctl names without the
# net.netfilter.nf_conntrack_ prefix).  Distinct values two apart, so that a
# --ctexpire bucket [T-1, T] holds what both see right after a refresh (the
# kernel may already be a jiffy later: T-1).
TIMEOUTS=(
	tcp_timeout_syn_sent=6 tcp_timeout_syn_recv=8 tcp_timeout_established=300
	tcp_timeout_fin_wait=10 tcp_timeout_close_wait=12 tcp_timeout_last_ack=14
	tcp_timeout_time_wait=16 tcp_timeout_close=2 tcp_timeout_unacknowledged=20
	tcp_timeout_max_retrans=22 udp_timeout=4 udp_timeout_stream=30 icmp_timeout=4
	generic_timeout=26
)
BUCKETS="0:0 1:2 3:4 5:6 7:8 9:10 11:12 13:14 15:16 19:20 21:22 25:26 29:30 299:300"
# The kernel's expiry of a new (unconfirmed) connection is its relative
# timeout minus (u32)jiffies: 0 (ours) only once jiffies have wrapped
# (INITIAL_JIFFIES, 5 minutes after boot) and passed that timeout.  On a
# younger kernel (a QEMU guest) the --ctexpire rules skip such connections.
EXPIRE_Q=
uptime=$(cut -d. -f1 /proc/uptime)
if [ "$uptime" -lt 400 ]; then
	EXPIRE_Q="--ctstatus CONFIRMED "
	echo "ct: the kernel is up for ${uptime}s only: --ctexpire of unconfirmed connections not compared" >&2
fi

# Every rule counts one property of the packet's connection; INPUT rule 1
# counts every packet (ctdiff waits for it).
rules() {
	local ch=$1 mark=$2 b
	echo "-A $ch"
	echo "-A $ch -m state --state NEW"
	echo "-A $ch -m state --state ESTABLISHED"
	echo "-A $ch -m state --state RELATED"
	echo "-A $ch -m state --state INVALID"
	echo "-A $ch -m conntrack --ctstate NEW,RELATED"
	echo "-A $ch -m conntrack ! --ctstate ESTABLISHED"
	echo "-A $ch -m conntrack --ctstatus SEEN_REPLY"
	echo "-A $ch -m conntrack --ctstatus ASSURED"
	echo "-A $ch -m conntrack --ctstatus CONFIRMED"
	echo "-A $ch -m conntrack ! --ctstatus ASSURED"
	echo "-A $ch -m conntrack --ctdir ORIGINAL"
	echo "-A $ch -m conntrack --ctdir REPLY"
	echo "-A $ch -m conntrack --ctproto tcp"
	echo "-A $ch -m conntrack --ctproto udp"
	echo "-A $ch -m conntrack ! --ctproto icmp"
	echo "-A $ch -m conntrack --ctorigsrc 10.200.1.2"
	echo "-A $ch -m conntrack --ctorigdst 10.200.1.1"
	echo "-A $ch -m conntrack --ctreplsrc 10.200.1.0/24"
	echo "-A $ch -m conntrack ! --ctrepldst 10.200.1.1"
	echo "-A $ch -m conntrack --ctorigdstport 80"
	echo "-A $ch -m conntrack --ctorigsrcport 40000:40010"
	echo "-A $ch -m conntrack --ctreplsrcport 53"
	echo "-A $ch -m conntrack --ctrepldstport 50001:50003"
	echo "-A $ch -m conntrack --ctstate ESTABLISHED --ctproto tcp --ctdir REPLY"
	for b in $BUCKETS; do
		echo "-A $ch -m conntrack ${EXPIRE_Q}--ctexpire $b"
	done
	echo "-A $ch -m connmark --mark 0x1"
	echo "-A $ch -m connmark --mark 0x2/0x2"
	echo "-A $ch -m connmark ! --mark 0x0"
	echo "-A $ch -m conntrack --ctstate NEW -j CONNMARK --set-xmark $mark/0xff"
	echo "-A $ch -m connmark --mark $mark"
	# connbytes: the connection's counters (nf_conntrack_acct), boundaries
	# of each mode and direction, inverted ranges, 64-bit bounds
	local cb="-m connbytes --connbytes"
	echo "-A $ch $cb 1:1 --connbytes-mode packets --connbytes-dir original"
	echo "-A $ch $cb 2:2 --connbytes-mode packets --connbytes-dir original"
	echo "-A $ch $cb 3:4 --connbytes-mode packets --connbytes-dir original"
	echo "-A $ch $cb 1:1 --connbytes-mode packets --connbytes-dir reply"
	echo "-A $ch $cb 2:3 --connbytes-mode packets --connbytes-dir reply"
	echo "-A $ch $cb 0:0 --connbytes-mode packets --connbytes-dir reply"
	echo "-A $ch $cb 4:6 --connbytes-mode packets --connbytes-dir both"
	echo "-A $ch $cb 7 --connbytes-mode packets --connbytes-dir both"
	echo "-A $ch -m connbytes ! --connbytes 2:3 --connbytes-mode packets --connbytes-dir both"
	echo "-A $ch $cb 40:40 --connbytes-mode bytes --connbytes-dir original"
	echo "-A $ch $cb 41:128 --connbytes-mode bytes --connbytes-dir original"
	echo "-A $ch $cb 129:256 --connbytes-mode bytes --connbytes-dir original"
	echo "-A $ch $cb 1:100 --connbytes-mode bytes --connbytes-dir reply"
	echo "-A $ch $cb 101 --connbytes-mode bytes --connbytes-dir reply"
	echo "-A $ch $cb 200:400 --connbytes-mode bytes --connbytes-dir both"
	echo "-A $ch -m connbytes ! --connbytes 80:300 --connbytes-mode bytes --connbytes-dir both"
	echo "-A $ch $cb 3000000000 --connbytes-mode bytes --connbytes-dir both"
	echo "-A $ch -m connbytes ! --connbytes 100:3000000000 --connbytes-mode bytes --connbytes-dir both"
	echo "-A $ch $cb 0:0 --connbytes-mode avgpkt --connbytes-dir reply"
	echo "-A $ch $cb 40:40 --connbytes-mode avgpkt --connbytes-dir original"
	echo "-A $ch $cb 41:60 --connbytes-mode avgpkt --connbytes-dir original"
	echo "-A $ch $cb 61:100 --connbytes-mode avgpkt --connbytes-dir both"
	echo "-A $ch -m connbytes ! --connbytes 29:40 --connbytes-mode avgpkt --connbytes-dir both"
	echo "-A $ch $cb 50 --connbytes-mode avgpkt --connbytes-dir reply"
	# connlabel: INPUT sets label 1 and OUTPUT label 66 on new connections,
	# INPUT label 5 once a connection has 4 packets, OUTPUT label 127 on
	# replies (both words of the labels, on new and on existing
	# connections); both chains test all of them (the other direction's too)
	local lb=1
	[ "$ch" = OUTPUT ] && lb=66
	echo "-A $ch -m connlabel --label 1"
	echo "-A $ch -m connlabel ! --label 66"
	echo "-A $ch -m connlabel --label 5"
	echo "-A $ch -m connlabel --label 127"
	echo "-A $ch -m conntrack --ctstate NEW -m connlabel --label $lb --set"
	if [ "$ch" = INPUT ]; then
		echo "-A $ch $cb 4 --connbytes-mode packets --connbytes-dir both -m connlabel --label 5 --set"
	else
		echo "-A $ch -m conntrack --ctdir REPLY -m connlabel --label 127 --set"
	fi
	echo "-A $ch -m connlabel --label 1"
	echo "-A $ch -m connlabel --label 66"
	echo "-A $ch -m connlabel ! --label 5"
	echo "-A $ch -m connlabel --label 127"
	echo "-A $ch -m connlabel ! --label 3 --set"
	echo "-A $ch -m connlabel --label 3"
	# connlimit: nf_conncount's lists per source (destination) address; the
	# thresholds tell the counts apart
	echo "-A $ch -m connlimit --connlimit-above 1"
	echo "-A $ch -m connlimit --connlimit-above 3"
	echo "-A $ch -m connlimit --connlimit-above 6"
	echo "-A $ch -m connlimit --connlimit-above 10"
	echo "-A $ch -m connlimit --connlimit-upto 8 --connlimit-daddr --connlimit-mask 16"
	echo "-A $ch -p udp -m connlimit --connlimit-above 1"
	echo "-A $ch -p tcp --syn -m connlimit --connlimit-above 2"
	echo "-A $ch -p tcp --dport 8001:8099 --syn -m connlimit --connlimit-above 2 -j DROP"
	echo "-A $ch -p tcp --dport 9 -j DROP"
	echo "-A $ch -m conntrack --ctstate INVALID -p tcp --tcp-flags RST RST -j DROP"
	echo "-A $ch -j ACCEPT"
}
{
	echo "*filter"
	echo ":INPUT ACCEPT [0:0]"
	echo ":FORWARD ACCEPT [0:0]"
	echo ":OUTPUT ACCEPT [0:0]"
	rules INPUT 0x1
	rules OUTPUT 0x2
	echo "COMMIT"
} >"$OUT/rules.v4"

# The kernel side: client and firewall namespaces over a veth.  What the
# firewall's own stack sends (RSTs, ICMP errors, echo replies to our
# packets) is dropped before conntrack (raw OUTPUT: no user socket), and the
# client drops everything it receives (raw PREROUTING): neither may reach
# the firewall's conntrack.
# progress on stderr, with seconds since the start (slow kernels under TCG)
step() { echo "ct: ${SECONDS}s: $*" >&2; }
step "namespaces and the kernel's rules"
ip netns add "$C"
ip netns add "$FW"
for ns in "$C" "$FW"; do
	ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
done
ip -n "$C" link add vc type veth peer name vin netns "$FW"
ip -n "$C" addr add 10.200.1.2/24 dev vc
ip -n "$FW" addr add 10.200.1.1/24 dev vin
ip -n "$C" link set vc up
ip -n "$FW" link set vin up
ip -n "$FW" neigh replace 10.200.1.2 lladdr "$(ip -n "$C" -o link show vc | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)" dev vin nud permanent
ip netns exec "$C" iptables-legacy -t raw -A PREROUTING -j DROP
ip netns exec "$FW" iptables-legacy -t raw -A OUTPUT -m owner ! --uid-owner 0 -j DROP
# conntrack is loaded by the rules; the timeouts are per namespace
ip netns exec "$FW" iptables-legacy-restore -w <"$OUT/rules.v4"
for kv in "${TIMEOUTS[@]}"; do
	ip netns exec "$FW" sysctl -q -w "net.netfilter.nf_conntrack_$kv"
done

"$CTDIFF" gen --out "$OUT/flows" $QUICK 2>"$OUT/gen.err"
n_flows=$(sed -n 's/^ctdiff: \([0-9]*\) flows.*/\1/p' "$OUT/gen.err")
n_pkts=$(wc -l <"$OUT/flows.chains")

ct_set=()
for kv in "${TIMEOUTS[@]}"; do
	ct_set+=(--ct-set "$kv")
done
# ours first (the kernel side takes real time)
step "$n_pkts packets through ipt2bpf trace"
"$IPT2BPF" trace "$OUT/rules.v4" --pcap "$OUT/flows.pcap" --chains "$OUT/flows.chains" \
	--pcap-time --in vin --out vin --json "${ct_set[@]}" --ct-list >"$OUT/ours.json" \
	2>"$OUT/ours.ct"
step "the same through the kernel, in real time"
ip netns exec "$FW" "$CTDIFF" kernel --pcap "$OUT/flows.pcap" --chains "$OUT/flows.chains" \
	--inject-ns "$C" --inject-dev vc --in-dev vin >"$OUT/kernel.json" 2>"$OUT/kernel.err" &
replay=$!
wait "$replay" || true
replay=

mism=0
while IFS= read -r k && IFS= read -r o <&3; do
	if [ "$k" != "$o" ]; then
		mism=$((mism + 1))
		if [ "$mism" -le 20 ]; then
			echo "ct: mismatch (chain $(sed -n "$(sed -n 's/.*"n":\([0-9]*\).*/\1/p' <<<"$k")p" "$OUT/flows.chains")):"
			echo "  kernel $k"
			echo "  ours   $o"
		fi
	fi
done <"$OUT/kernel.json" 3<"$OUT/ours.json"
n_k=$(wc -l <"$OUT/kernel.json")
n_o=$(wc -l <"$OUT/ours.json")
if [ "$n_k" != "$n_pkts" ] || [ "$n_o" != "$n_pkts" ]; then
	echo "ct: $n_pkts packets, kernel answered $n_k, ipt2bpf $n_o"
	cat "$OUT/kernel.err" >&2
	mism=$((mism + 1))
fi
n_left=$(grep -c '^{' "$OUT/ours.ct" || true)
echo "ct: $n_flows flows, $n_pkts packets ($(grep -c INPUT "$OUT/flows.chains") INPUT, $(grep -c OUTPUT "$OUT/flows.chains") OUTPUT), $(grep -c 'counted' "$OUT/ours.json") decisions compared with the kernel, $mism mismatches; $n_left connections left in ipt2bpf's table"
[ "$mism" -eq 0 ]
