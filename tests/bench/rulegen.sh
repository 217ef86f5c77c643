#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/bench/rulegen.sh N SEED: a realistic filter rule set of exactly N
# rules in iptables-save format on stdout.  The mix is what host and router
# firewalls hold: per-network service rules (tcp/udp ports, source networks),
# forwarding rules between eth0 and eth1 (address pairs, port ranges,
# multiport), blocklists of single addresses, icmp, some egress rules; about
# half INPUT, a third FORWARD, the rest OUTPUT.  The same N and SEED give the
# same rules; another SEED gives a different set of the same size and shape.
set -eu

n=${1:?usage: rulegen.sh N SEED}
seed=${2:-1}

awk -v n="$n" -v seed="$seed" '
function r(k) { return int(rand() * k) }
function net24() { return sprintf("10.%d.%d.0/24", r(256), r(256)) }
function host(p) { return sprintf("%s.%d.%d", p, r(256), 1 + r(254)) }
function port() { return 1 + r(65535) }
function svc() { return svcs[1 + r(nsvc)] }
function proto() { return r(3) ? "tcp" : "udp" }
BEGIN {
	srand(seed)
	nsvc = split("22 25 53 80 110 143 443 465 587 993 995 3306 5432 6379 8080 8443 " \
		     "9090 9200", svcs, " ")
	print "*filter"
	print ":INPUT DROP [0:0]"
	print ":FORWARD DROP [0:0]"
	print ":OUTPUT ACCEPT [0:0]"
	for (i = 0; i < n; i++) {
		c = r(20)
		if (c < 4)
			printf "-A INPUT -s %s -p %s --dport %d -j ACCEPT\n", net24(), proto(), svc()
		else if (c < 6)
			printf "-A INPUT -i eth0 -s %s -p tcp -m multiport --dports %d,%d,%d -j ACCEPT\n",
				host("172.16"), svc(), svc(), port()
		else if (c < 9)
			printf "-A INPUT -s %s/32 -j DROP\n", host("198.51")
		else if (c < 10)
			printf "-A INPUT -p icmp --icmp-type echo-request -s %s -j ACCEPT\n", net24()
		else if (c < 13)
			printf "-A FORWARD -i eth0 -o eth1 -s %s -d %s -p %s --dport %d -j ACCEPT\n",
				net24(), host("192.168"), proto(), svc()
		else if (c < 15)
			printf "-A FORWARD -i eth1 -o eth0 -d %s -p udp --sport 1024:65535 --dport %d:%d -j ACCEPT\n",
				host("203.0"), lo = 1024 + r(30000), lo + r(100)
		else if (c < 16)
			printf "-A FORWARD -s %s -m iprange --dst-range %s-%s -j DROP\n", net24(),
				host("100.64"), host("100.65")
		else if (c < 18)
			printf "-A OUTPUT -o eth0 -d %s -p tcp --dport %d -j DROP\n", host("192.0"), port()
		else
			printf "-A OUTPUT -p udp -d %s --dport %d -j ACCEPT\n", net24(), svc()
	}
	print "COMMIT"
}'
