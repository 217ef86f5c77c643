#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/diff/topology.sh up|down|names [ID]
#
# The three namespaces of the differential test, named after ID (default:
# $DIFF_ID, else 0) so that concurrent runs do not clash:
#
#   i2b-ID-c  (client)    vc 10.200.1.2/24 ── vin 10.200.1.1/24  i2b-ID-fw (firewall)
#   i2b-ID-s  (server)    vs 10.200.2.2/24 ── vout 10.200.2.1/24 i2b-ID-fw
#
# In fw: forwarding on, rp_filter off, 198.18.0.0/16 local (INPUT targets),
# 198.19.0.0/16 via 10.200.2.2 with a permanent neighbour entry
# (FORWARD/OUTPUT targets: nothing waits for ARP). c routes everything via fw.
# IPv6 is off everywhere so that nothing but the test's packets crosses the
# veths (no router solicitations, no DAD).
#
# `up` starts from scratch (it runs `down` first); `down` removes whatever
# exists; `names` prints "C FW S" for scripts.
set -euo pipefail

cmd=${1:-}
id=${2:-${DIFF_ID:-0}}
C=i2b-$id-c
FW=i2b-$id-fw
S=i2b-$id-s

down() {
	local ns
	for ns in "$C" "$FW" "$S"; do
		if [ -e "/run/netns/$ns" ]; then
			ip netns del "$ns"
		fi
	done
}

sys() { # sys NS KEY=VALUE...
	local ns=$1
	shift
	ip netns exec "$ns" sysctl -q -w "$@" >/dev/null
}

up() {
	local ns mac_s
	down
	for ns in "$C" "$FW" "$S"; do
		ip netns add "$ns"
		# before any link exists, so new links never get IPv6 at all
		sys "$ns" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" link set lo up
	done

	ip -n "$C" link add vc type veth peer name vin netns "$FW"
	ip -n "$FW" link add vout type veth peer name vs netns "$S"

	ip -n "$C" addr add 10.200.1.2/24 dev vc
	ip -n "$FW" addr add 10.200.1.1/24 dev vin
	ip -n "$FW" addr add 10.200.2.1/24 dev vout
	ip -n "$S" addr add 10.200.2.2/24 dev vs
	ip -n "$C" link set vc up
	ip -n "$FW" link set vin up
	ip -n "$FW" link set vout up
	ip -n "$S" link set vs up

	sys "$FW" net.ipv4.ip_forward=1
	for ns in "$C" "$FW" "$S"; do
		sys "$ns" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	done
	sys "$FW" net.ipv4.conf.vin.rp_filter=0 net.ipv4.conf.vout.rp_filter=0 \
		net.ipv4.conf.lo.rp_filter=0
	sys "$C" net.ipv4.conf.vc.rp_filter=0
	sys "$S" net.ipv4.conf.vs.rp_filter=0

	ip -n "$FW" route add local 198.18.0.0/16 dev lo
	ip -n "$FW" route add 198.19.0.0/16 via 10.200.2.2 dev vout
	mac_s=$(ip -n "$S" -o link show vs | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	ip -n "$FW" neigh replace 10.200.2.2 lladdr "$mac_s" dev vout nud permanent
	ip -n "$C" route add default via 10.200.1.1 dev vc
}

case $cmd in
up) up ;;
down) down ;;
names) echo "$C $FW $S" ;;
*)
	echo "usage: $0 up|down|names [ID]" >&2
	exit 2
	;;
esac
