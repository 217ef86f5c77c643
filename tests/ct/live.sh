#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/ct/live.sh: connection state with `ipt2bpf load`, real traffic.
#
# A firewall namespace accepts ESTABLISHED,RELATED and NEW TCP to port 8080,
# drops the rest.  A client opens a connection and talks; the rule set is
# then replaced by one without the NEW rule: the open connection must keep
# working (the connection table is a shared map that survives replacement,
# both programs use it), a new connection must fail.  `ipt2bpf conntrack -L`
# and -S must show the connection and the counters.
set -euo pipefail
cd "$(dirname "$0")/../.."

O=${O:-build}
B=$PWD/$O/ipt2bpf
ID=$$
C=ipt2bpf-ctl-$ID-c
F=ipt2bpf-ctl-$ID-fw
T=$(mktemp -d)
fail=0

cleanup() {
	ip netns exec "$F" "$B" unload >/dev/null 2>&1 || true
	for ns in "$C" "$F"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
	done
	sleep 0.2
	ip netns del "$C" 2>/dev/null || true
	ip netns del "$F" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then
		echo "ct-live: ok: $what"
	else
		echo "ct-live: FAIL: $what"
		fail=$((fail + 1))
	fi
}

ip netns add "$C"
ip netns add "$F"
ip -n "$C" link add vc type veth peer name vin netns "$F"
ip -n "$C" addr add 10.201.1.2/24 dev vc
ip -n "$F" addr add 10.201.1.1/24 dev vin
for ns in "$C" "$F"; do ip -n "$ns" link set lo up; done
ip -n "$C" link set vc up
ip -n "$F" link set vin up

cat >"$T/open.v4" <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p tcp --dport 8080 -m conntrack --ctstate NEW -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -j DROP
COMMIT
EOF
sed '/dport 8080/d' "$T/open.v4" >"$T/closed.v4"

# An echo server (busybox nc: the QEMU guests have no python) and a client
# in bash (/dev/tcp) that talks once, waits for the go file, talks again.
cat >"$T/client.sh" <<'EOF'
exec 3<>/dev/tcp/10.201.1.1/8080 || exit 1
echo hello >&3
read -r -t 3 l <&3 && echo "first $l"
while [ ! -e "$1" ]; do sleep 0.05; done
echo again >&3
if read -r -t 3 l <&3; then echo "second $l"; else echo "second FAILED"; fi
EOF

ip netns exec "$F" "$B" load "$T/open.v4"
ip netns exec "$F" timeout 30 busybox nc -ll -p 8080 -e cat &
sleep 0.5
ip netns exec "$C" timeout 20 bash "$T/client.sh" "$T/go" >"$T/client.out" &
client=$!
for _ in $(seq 50); do grep -q first "$T/client.out" 2>/dev/null && break; sleep 0.1; done
check "connection through the first rule set" grep -q "first hello" "$T/client.out"
ip netns exec "$F" "$B" conntrack -L >"$T/list1" 2>/dev/null
check "conntrack -L shows it ESTABLISHED and ASSURED" \
	grep -q "^tcp .* ESTABLISHED src=10.201.1.2 dst=10.201.1.1 .*dport=8080 .*\[ASSURED\]" "$T/list1"

ip netns exec "$F" "$B" load "$T/closed.v4"
touch "$T/go"
wait "$client" || true
check "the open connection survives the replacement" grep -q "second again" "$T/client.out"
check "a new connection is refused by the new rule set" \
	bash -c "! ip netns exec $C timeout 4 bash -c 'exec 3<>/dev/tcp/10.201.1.1/8080' 2>/dev/null"
ip netns exec "$F" "$B" conntrack -S --json >"$T/stats" 2>/dev/null
check "conntrack -S: one connection made, new ones dropped" \
	grep -q '"new":1,.*"dropped_new":[1-9]' "$T/stats"
ip netns exec "$F" "$B" conntrack -F
ip netns exec "$F" "$B" conntrack -L --json >"$T/list2" 2>/dev/null
check "conntrack -F empties the table" test ! -s "$T/list2"

echo "ct-live: $fail failed"
[ "$fail" -eq 0 ]
