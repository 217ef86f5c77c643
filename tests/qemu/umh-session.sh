#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/qemu/umh-session.sh: runs in the guest of scripts/qemu-umh (a 6.1
# kernel with CONFIG_BPFILTER=y, CONFIG_BPFILTER_UMH=m whose bpfilter.ko
# embeds ipt2bpf-umh).  An unmodified iptables-legacy against the kernel:
# every command is shown with its output, as a person at the console would
# see it, and each check prints "umh-check NAME ok|FAIL"; the last line is
# "umh-session: N passed, N failed".
#
# The rules go into the guest's initial network namespace (the user mode
# driver serves the namespace it runs in, which is that one); the traffic
# comes from a client namespace over a veth pair:
#   client (ns umh-cl) 10.99.0.2 veth-cl -- veth-fw 10.99.0.1 (init ns)
# UMH_DRIVER says which driver bpfilter.ko embeds ("sample" = the kernel's).
set -uo pipefail

driver=${UMH_DRIVER:-sample}
ok=0
bad=0
run() {
	echo "# $*"
	"$@" 2>&1
	local rc=$?
	[ $rc = 0 ] || echo "(exit $rc)"
	return $rc
}
check() { # check NAME CONDITION...
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then
		echo "umh-check $name ok"
		ok=$((ok + 1))
	else
		echo "umh-check $name FAIL"
		bad=$((bad + 1))
	fi
}
probe() { ip netns exec umh-cl qemu-probe -t 2000 "$@" 2>&1; }
# (not grep -q on a pipe: pipefail would see bpftool's SIGPIPE)
ours() { bpftool prog show 2>/dev/null | grep -c 'name ipt_' >/dev/null; }

echo "=== kernel $(uname -r); bpfilter.ko embeds: $driver"
zcat /proc/config.gz | grep -E '^CONFIG_(BPFILTER|BPFILTER_UMH|USERMODE_DRIVER|BPF_SYSCALL|NET_CLS_BPF)='
ip link add veth-fw type veth peer name veth-cl
ip netns add umh-cl
ip link set veth-cl netns umh-cl
ip addr add 10.99.0.1/24 dev veth-fw
ip link set veth-fw up
ip -n umh-cl addr add 10.99.0.2/24 dev veth-cl
ip -n umh-cl link set veth-cl up
ip -n umh-cl link set lo up

echo
echo "=== before any iptables command"
run lsmod
check no-module-yet sh -c '! lsmod | grep -q bpfilter'
run probe tcp 10.99.0.1 22

echo
echo "=== iptables-legacy -A: the kernel routes IPT_SO_SET_REPLACE to bpfilter, loading bpfilter.ko"
run iptables-legacy -V
run iptables-legacy -A INPUT -p tcp --dport 22 -j DROP
rc_add=$?
run iptables-legacy -A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
run lsmod
check module-loaded-on-demand sh -c 'lsmod | grep -q bpfilter'
run sh -c 'dmesg | grep -i -E "bpfilter|ipt2bpf" | tail -20'
run sh -c 'ps | grep -E "bpfilter_umh|ipt2bpf" | grep -v grep'
check driver-running sh -c 'ps | grep -v grep | grep -q bpfilter_umh'

echo
echo "=== where did the rules go?"
run cat /proc/net/ip_tables_names
run iptables-legacy -L -n -v --line-numbers
# iptables-save finds the tables in /proc/net/ip_tables_names, which only
# ip_tables fills: with the driver in charge it must be told the table.
run iptables-legacy-save -c
run iptables-legacy-save -c -t filter
run bpftool prog show
run bpftool net show
run tc filter show dev veth-fw ingress

echo
echo "=== traffic from the client namespace"
p22=$(probe tcp 10.99.0.1 22)
p80=$(probe tcp 10.99.0.1 80)
p8080=$(probe tcp 10.99.0.1 8080)
echo "tcp/22: $p22   tcp/80: $p80   tcp/8080: $p8080"
run iptables-legacy -L INPUT -n -v -x

if [ "$driver" = sample ]; then
	# The sample driver answers ENOPROTOOPT to everything: the kernel falls
	# back to ip_tables, which does the filtering.
	check iptables-works-through-fallback test "$rc_add" = 0
	check rules-in-ip_tables grep -q filter /proc/net/ip_tables_names
	check no-bpf-program sh -c '! bpftool prog show | grep "name ipt_"'
else
	check iptables-A-succeeds test "$rc_add" = 0
	check bpf-programs-loaded ours
	check rules-not-in-ip_tables sh -c '! grep -q filter /proc/net/ip_tables_names'
	check listing-shows-rule sh -c 'iptables-legacy -S INPUT | grep -q -- "--dport 22 -j DROP"'
fi
check drop-tcp-22 test "$p22" = drop
check pass-tcp-80 test "$p80" = pass
check pass-tcp-8080 test "$p8080" = pass

echo
echo "=== iptables-legacy -D and -F"
run iptables-legacy -D INPUT 1
p22=$(probe tcp 10.99.0.1 22)
echo "tcp/22 after -D: $p22"
check pass-tcp-22-after-delete test "$p22" = pass
run iptables-legacy -P INPUT DROP
p80=$(probe tcp 10.99.0.1 80)
p22=$(probe tcp 10.99.0.1 22)
echo "policy DROP: tcp/80: $p80   tcp/22: $p22"
check policy-drop-22 test "$p22" = drop
check policy-keeps-80 test "$p80" = pass
run iptables-legacy -F
run iptables-legacy -P INPUT ACCEPT
run iptables-legacy -L -n -v
run bpftool prog show
run sh -c 'dmesg | grep -i -E "bpfilter|ipt2bpf" | tail -5'

echo
echo "umh-session: $ok passed, $bad failed"
