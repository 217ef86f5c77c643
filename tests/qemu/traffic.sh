#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/qemu/traffic.sh MODE [ID]: real traffic through tests/qemu/traffic.v4
# in the namespaces of tests/diff/topology.sh (client c, firewall fw, server
# s), with the rules in the firewall as MODE says:
#
#   iptables  iptables-legacy-restore (the kernel's ip_tables: the oracle)
#   tc        ipt2bpf load (TC ingress and egress on lo, vin, vout)
#   xdp       ipt2bpf load --mode xdp (XDP auto: native on the veths, generic
#             on lo, which has no native XDP; TC egress for OUTPUT)
#
# Every probe of tests/qemu/traffic.probes runs (all at once: the drop probes
# wait for their timeout) and one line per probe is printed:
#   traffic MODE NAME RESULT EXPECT ok|WRONG
# then, for xdp, "xdp-attach IF MODE" per interface (ipt2bpf status --json),
# and "traffic MODE: N passed, M failed".  Exit 1 if any probe is WRONG.
#
# Runs on the host or in the QEMU guest (tests/qemu/guest-init).  Environment:
# IPT2BPF (default build/ipt2bpf), PROBE (default $O/tests/qemu-probe),
# PROBE_TIMEOUT_MS (default 1500).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:?usage: traffic.sh iptables|tc|xdp [ID]}
id=${2:-qt$$}
O=${O:-build}
[[ $O = /* ]] || O=$ROOT/$O
IPT2BPF=${IPT2BPF:-$O/ipt2bpf}
PROBE=${PROBE:-$O/tests/qemu-probe}
TIMEOUT=${PROBE_TIMEOUT_MS:-1500}
TOPO=$ROOT/tests/diff/topology.sh
RULES=$ROOT/tests/qemu/traffic.v4

read -r C FW S < <(bash "$TOPO" names "$id")
tmp=$(mktemp -d /tmp/qtraffic.XXXXXX)
cleanup() {
	if [ "$mode" != iptables ]; then
		ip netns exec "$FW" "$IPT2BPF" unload >/dev/null 2>&1
	fi
	bash "$TOPO" down "$id"
	rm -rf "$tmp"
}
trap cleanup EXIT

bash "$TOPO" up "$id" || exit 2
# replies from the server go back through the firewall; no ICMP rate limit
# (the UDP probes count on port unreachables)
ip -n "$S" route add default via 10.200.2.1 dev vs
ip -n "$C" addr add 10.200.1.3/24 dev vc
ip -n "$C" addr add 10.200.1.10/24 dev vc
for ns in "$C" "$FW" "$S"; do
	ip netns exec "$ns" sysctl -q -w net.ipv4.icmp_ratelimit=0 >/dev/null
done

case $mode in
iptables) ip netns exec "$FW" iptables-legacy-restore <"$RULES" ;;
tc) ip netns exec "$FW" "$IPT2BPF" load "$RULES" ;;
xdp) ip netns exec "$FW" "$IPT2BPF" load "$RULES" --mode xdp ;;
*)
	echo "traffic: unknown mode $mode" >&2
	exit 2
	;;
esac
rc=$?
if [ $rc != 0 ]; then
	echo "traffic $mode: loading the rules failed (exit $rc)"
	echo "traffic $mode: 0 passed, 1 failed"
	exit 1
fi

ns_of() {
	case $1 in
	c) echo "$C" ;;
	fw) echo "$FW" ;;
	s) echo "$S" ;;
	esac
}

names=()
while read -r name ns proto dst port src expect; do
	case $name in '#'* | '') continue ;; esac
	args=("$proto" "$dst")
	[ "$port" = - ] || args+=("$port")
	[ "$src" = - ] || args+=(-s "$src")
	ip netns exec "$(ns_of "$ns")" "$PROBE" -t "$TIMEOUT" "${args[@]}" >"$tmp/$name" 2>&1 &
	names+=("$name $expect")
done <"$ROOT/tests/qemu/traffic.probes"
wait

ok=0 bad=0
for e in "${names[@]}"; do
	read -r name expect <<<"$e"
	got=$(head -1 "$tmp/$name")
	if [ "$got" = "$expect" ]; then
		verdict=ok ok=$((ok + 1))
	else
		verdict=WRONG bad=$((bad + 1))
	fi
	echo "traffic $mode $name ${got:-nothing} $expect $verdict"
done

if [ "$mode" = xdp ]; then
	ip netns exec "$FW" "$IPT2BPF" status --json 2>/dev/null |
		grep -o '"name":"[^"]*"[^}]*"xdp_mode":"[^"]*"' |
		sed 's/"name":"\([^"]*\)".*"xdp_mode":"\([^"]*\)"/xdp-attach \1 \2/'
fi
echo "traffic $mode: $ok passed, $bad failed"
[ $bad = 0 ]
