#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/bench-ct.sh [N]: what connection tracking costs per packet, in one
# run, with BPF_PROG_TEST_RUN (`ipt2bpf trace --timing`: each packet's
# program run time as the kernel measures it, median over N packets):
#
#   stateless     -p tcp --dport 80 -j ACCEPT            (no tracker)
#   established   -m state --state ESTABLISHED -j ACCEPT   data segments of one
#                 connection: lookup, TCP window tracking, write-back
#   new           -m state --state NEW -j ACCEPT           SYNs of N new
#                 connections: lookup miss, new entry, insertion on ACCEPT
#
# The same frames go through the stateless rule set for the first column.
set -euo pipefail
cd "$(dirname "$0")/.."

O=${O:-build}
N=${1:-2000}
B=$O/ipt2bpf
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

quick=
[ "$N" -le 200 ] && quick=--quick
"$O/tests/ctdiff" bench-gen --out "$T/b" $quick 2>/dev/null

head='*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]'
printf '%s\n-A INPUT -p tcp --dport 80 -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n' "$head" >"$T/stateless.v4"
printf '%s\n-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n-A INPUT -p tcp --dport 80 -m state --state NEW -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n' \
	"$head" >"$T/ct.v4"

# median of the timings from line $2 on
median() {
	tail -n +"$2" "$1" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

run() { # run RULES PCAP-PREFIX OUT
	"$B" trace "$1" --pcap "$2.pcap" --chains "$2.chains" --in eth0 --out eth0 \
		--timing "$3" --json >"$3.json"
}

run "$T/stateless.v4" "$T/b-est" "$T/sl-est"
run "$T/ct.v4" "$T/b-est" "$T/ct-est"
run "$T/stateless.v4" "$T/b-new" "$T/sl-new"
run "$T/ct.v4" "$T/b-new" "$T/ct-new"

# the tracked runs must have accepted every packet as established / new
est_ok=$(tail -n +5 "$T/ct-est.json" | grep -c '"ACCEPT","counted":\["INPUT#1"\]' || true)
new_ok=$(grep -c '"ACCEPT","counted":\["INPUT#2"\]' "$T/ct-new.json" || true)

printf '%-14s %8s %10s %12s\n' "packets" "count" "stateless" "conntrack"
printf '%-14s %8s %10s %12s\n' "established" "$N" "$(median "$T/sl-est" 5) ns" "$(median "$T/ct-est" 5) ns"
printf '%-14s %8s %10s %12s\n' "new flow" "$N" "$(median "$T/sl-new" 1) ns" "$(median "$T/ct-new" 1) ns"
echo "(median BPF_PROG_TEST_RUN run time per packet, TC program; $est_ok of $N established and $new_ok of $N new packets classified as expected)"
