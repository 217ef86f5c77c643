#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# SECMARK labels end to end, in network namespaces and cgroup v2, with real
# traffic: DESIGN.md's reference scenario (a web server and a kiosk where
# only one browser may reach the web).
#
#   cli 192.168.1.2 ---- rtr 192.168.1.1 / 192.168.100.1 ---- srv 192.168.100.15
#
#   cli: two "browsers": browser (cgroup .../browser, domain mozilla_t) and
#        other (cgroup .../other, in no domain: unconfined_t); the reference
#        rules, the kiosk policy, and the mark sink (mask 0xff0000).
#   srv: the web server (cgroup .../web, domain httpd_t) on ports 80 and
#        8080, started before the policy is loaded (its sockets are stamped
#        by `load`; the browsers' sockets, made later, by the cgroup
#        program); the reference rules and the policy.
#   rtr: forwards; its security FORWARD chain labels port 80
#        http_client_packet_t and port 8081 blocked_packet_t; the policy lets
#        unlabeled_t forward the first and unlabeled traffic, not the second;
#        mark sink, with `ipt2bpf selinux-bridge`'s rules (SECMARK replaced
#        by RETURN, which loads without SELinux) in the kernel's security
#        table counting the marks they see.
#
# Checks:
#   kiosk       browser reaches srv:80 (send at cli, forward_in/out at rtr,
#               recv at srv, replies labelled from the connection); other
#               does not: its packets are dropped at cli's egress, and cli's
#               denials say `{ send } scontext=unconfined_t ...
#               http_client_packet_t`.
#   server      srv:8080 (no SECMARK rule: unlabeled_t) is dropped at srv's
#               ingress for httpd_t (`{ recv } scontext=httpd_t
#               tcontext=unlabeled_t`), while the connection gets through cli
#               and rtr (unconfined_t/unlabeled_t may send and forward
#               unlabeled packets).
#   restore     cli's INPUT sees the replies from port 80 (no SECMARK rule
#               matches them) with http_client_packet_t's mark: the label
#               came from the connection (CONNSECMARK --restore).
#   forward     rtr forwards port 80, drops port 8081 (`{ forward_in }
#               scontext=unlabeled_t tcontext=...blocked_packet_t`).
#   bridge      selinux-bridge's output parses (iptables-legacy-restore
#               --test); loaded with RETURN for SECMARK into rtr's kernel
#               security table, its http_client_packet_t rule counts the
#               forwarded port-80 packets: the kernel sees the label in the
#               mark.
#   ids         `ipt2bpf labels --json` lists the labels; a reload with the
#               rules in another order and a new context keeps the ids and
#               adds one; status shows the labels section.
#
# usage: tests/security/e2e.sh
# Environment: IPT2BPF (default $O/ipt2bpf), SEC_KEEP=1 keeps the work
# directory.  Last line: "security-e2e: N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$here/../lib/harness.sh"
h_init security-e2e

h_need_root "network namespaces, cgroups, bpf"
h_need_tools ip iptables-legacy iptables-legacy-restore python3 jq nsenter
h_need_ipt2bpf
h_modprobe veth iptable_security iptable_mangle xt_mark
h_bpffs

# cgroup v2: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones.
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -z "$CGROOT" ]; then
	bad "no cgroup v2 mount"
	finish
fi

h_workdir ipt2bpf-security SEC_KEEP
CG=$CGROOT/ipt2bpf-sec-$$
CLI=secc-$$
RTR=secr-$$
SRV=secs-$$

# shellcheck disable=SC2317 # run at exit, after the background processes
cleanup() {
	local d p
	h_ns_del "$CLI" "$RTR" "$SRV"
	# Processes left in the test cgroups go first (they were ours).
	for d in "$CG"/*/ "$CG"/; do
		[ -d "$d" ] || continue
		while read -r p; do kill -9 "$p" 2>/dev/null; done <"$d/cgroup.procs"
	done
	sleep 0.1
	rmdir "$CG"/* "$CG" 2>/dev/null
	rmdir /sys/fs/bpf/ipt2bpf 2>/dev/null
}
h_at_exit cleanup

# ---------------------------------------------------------------- topology

in_ns() { h_in_ns "$@"; } # the host's mount namespace (cgroup v2 and bpffs visible)
ipt() { in_ns "$1" "$IPT2BPF" "${@:2}"; }
# in_cg CGROUP NS CMD...: CMD joins the cgroup first, so its sockets are created there.
in_cg() {
	local cg=$1 ns=$2
	shift 2
	sh -c 'echo $$ >"$0/cgroup.procs" && ns=$1 && shift && exec nsenter --net="/run/netns/$ns" "$@"' \
		"$CG/$cg" "$ns" "$@"
}

mkdir -p "$CG/web" "$CG/browser" "$CG/other" || {
	bad "cannot create cgroups under $CGROOT"
	finish
}
h_ns_add "$CLI" "$RTR" "$SRV"
h_veth "$CLI" sc0 192.168.1.2/24 "$RTR" sr0 192.168.1.1/24
h_veth "$RTR" sr1 192.168.100.1/24 "$SRV" ss0 192.168.100.15/24
ip -n "$CLI" route add default via 192.168.1.1
ip -n "$SRV" route add default via 192.168.100.1
in_ns "$RTR" sysctl -qw net.ipv4.ip_forward=1

# ---------------------------------------------------------------- rules, policies

cat >"$work/ref.v4" <<'EOF'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p tcp -d 192.168.100.15 --dport 80 -j ACCEPT
COMMIT
*security
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 80 -j SECMARK --selctx system_u:object_r:http_server_packet_t:s0
-A INPUT -p tcp --dport 80 -j CONNSECMARK --save
-A OUTPUT -p tcp --dport 80 -j SECMARK --selctx system_u:object_r:http_client_packet_t:s0
-A OUTPUT -p tcp --dport 80 -j CONNSECMARK --save
-A INPUT -m state --state ESTABLISHED,RELATED -j CONNSECMARK --restore
-A OUTPUT -m state --state ESTABLISHED,RELATED -j CONNSECMARK --restore
COMMIT
EOF
# The same contexts in the other order, plus one: ids must not move.
cat >"$work/ref2.v4" <<'EOF'
*security
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p udp --dport 53 -j SECMARK --selctx system_u:object_r:dns_client_packet_t:s0
-A OUTPUT -p tcp --dport 80 -j SECMARK --selctx system_u:object_r:http_client_packet_t:s0
-A INPUT -p tcp --dport 80 -j SECMARK --selctx system_u:object_r:http_server_packet_t:s0
COMMIT
EOF
cat >"$work/rtr.v4" <<'EOF'
*security
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -p tcp --dport 80 -j SECMARK --selctx system_u:object_r:http_client_packet_t:s0
-A FORWARD -p tcp --dport 8081 -j SECMARK --selctx system_u:object_r:blocked_packet_t:s0
COMMIT
EOF
cat >"$work/kiosk.policy" <<EOF
# DESIGN.md's kiosk: only the browser may reach the web, the server only serves it
domain mozilla_t  $CG/browser
domain httpd_t    $CG/web
allow mozilla_t http_client_packet_t:packet { send recv };
allow httpd_t   http_server_packet_t:packet { send recv };
allow unconfined_t unlabeled_t:packet { send recv };
EOF
cat >"$work/rtr.policy" <<'EOF'
allow unlabeled_t { http_client_packet_t unlabeled_t }:packet { forward_in forward_out };
EOF

cat >"$work/net.py" <<'PY'
import socket, sys
cmd = sys.argv[1]
if cmd == 'serve':  # serve READY PORT...: answer "hello PORT" to every connection
    import select
    ls = []
    for p in sys.argv[3:]:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('0.0.0.0', int(p)))
        s.listen(64)
        ls.append(s)
    open(sys.argv[2], 'w').write('ready\n')
    while True:
        r, _, _ = select.select(ls, [], [])
        for s in r:
            c, _ = s.accept()
            c.sendall(b'hello %d\n' % s.getsockname()[1])
            c.close()
elif cmd == 'get':  # get IP PORT TIMEOUT: prints what the server said, or blocked
    s = socket.socket()
    s.settimeout(float(sys.argv[4]))
    try:
        s.connect((sys.argv[2], int(sys.argv[3])))
        print(s.recv(100).decode().strip() or 'empty')
    except ConnectionRefusedError:
        print('refused')
    except OSError:
        print('blocked')
PY

# ---------------------------------------------------------------- load

# The server starts before the policy: its listening socket exists already
# and is stamped httpd_t by `load` (pidfd_getfd), not by the cgroup program.
in_cg web "$SRV" python3 "$work/net.py" serve "$work/srv.ready" 80 8080 8081 &
bg_pids+=($!)
for _ in $(seq 1 100); do
	[ -e "$work/srv.ready" ] && break
	sleep 0.05
done

load_ok=1
if ! ipt "$CLI" load "$work/ref.v4" --policy "$work/kiosk.policy" \
	--label-sink mark:0xff0000 >"$work/load-cli.log" 2>&1; then
	bad "load (cli): $(head -c 400 "$work/load-cli.log")"
	load_ok=0
fi
if ! ipt "$SRV" load "$work/ref.v4" --policy "$work/kiosk.policy" >"$work/load-srv.log" 2>&1; then
	bad "load (srv): $(head -c 400 "$work/load-srv.log")"
	load_ok=0
fi
if ! ipt "$RTR" load "$work/rtr.v4" --policy "$work/rtr.policy" \
	--label-sink mark:0xff0000 >"$work/load-rtr.log" 2>&1; then
	bad "load (rtr): $(head -c 400 "$work/load-rtr.log")"
	load_ok=0
fi
[ $load_ok = 1 ] || finish
ok "load: reference rules with the kiosk policy (cli, srv), forwarding policy (rtr)"

# The kernel's own view of the marks: counters only, no verdicts.
mark_of() { # mark_of NS TYPE: the mark value of the label whose type is TYPE
	ipt "$1" labels --json | jq -r --arg t "$2" '.labels[] | select(.type == $t) | .mark'
}
m_client=$(mark_of "$CLI" http_client_packet_t)
in_ns "$CLI" iptables-legacy-restore <<EOF
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A INPUT -p tcp --sport 80 -m mark --mark $m_client/0xff0000
-A INPUT -p tcp --sport 80
COMMIT
EOF


get() { # get CGROUP PORT
	in_cg "$1" "$CLI" python3 "$work/net.py" get 192.168.100.15 "$2" 2
}

# ---------------------------------------------------------------- kiosk

r1=$(get browser 80)
r2=$(get other 80)
den_cli=$(ipt "$CLI" labels --denials)
if [ "$r1" = "hello 80" ] && [ "$r2" = blocked ]; then
	ok "kiosk: the browser (mozilla_t) reaches srv:80, the other browser (unconfined_t) does not"
else
	bad "kiosk: browser got '$r1' (want hello 80), other got '$r2' (want blocked)"
fi
if grep -q '{ send } for  scontext=unconfined_t tcontext=system_u:object_r:http_client_packet_t:s0 tclass=packet' <<<"$den_cli"; then
	ok "kiosk: cli counts the other browser's packets as send denials at egress"
else
	bad "kiosk: cli's denials lack unconfined_t send http_client_packet_t: $den_cli"
fi
if grep -q 'scontext=mozilla_t' <<<"$den_cli"; then
	bad "kiosk: the browser had denials at cli: $den_cli"
fi

# ---------------------------------------------------------------- server side

r3=$(get other 8080)
den_srv=$(ipt "$SRV" labels --denials)
if [ "$r3" = blocked ] &&
	grep -q '{ recv } for  scontext=httpd_t tcontext=unlabeled_t tclass=packet' <<<"$den_srv"; then
	ok "server: unlabeled traffic to srv:8080 is dropped at srv's ingress (httpd_t recv unlabeled_t)"
else
	bad "server: srv:8080 gave '$r3' (want blocked); srv denials: $den_srv"
fi
if grep -q 'scontext=httpd_t tcontext=system_u:object_r:http_server_packet_t' <<<"$den_srv"; then
	bad "server: http_server_packet_t traffic was denied at srv: $den_srv"
else
	ok "server: srv received and answered http_server_packet_t traffic without a denial"
fi

# ---------------------------------------------------------------- restore (mark at cli INPUT)

cnt=$(in_ns "$CLI" iptables-legacy -t mangle -L INPUT -v -n -x | awk 'NR > 2 { print $1 }' | tr '\n' ' ')
read -r with_mark all <<<"$cnt"
if [ -n "${all:-}" ] && [ "$all" -gt 0 ] && [ "$with_mark" = "$all" ]; then
	ok "restore: all $all replies from port 80 reached cli's INPUT marked http_client_packet_t ($m_client): labelled from the connection"
else
	bad "restore: replies from port 80 at cli INPUT: $with_mark of ${all:-?} carried mark $m_client"
fi

# ---------------------------------------------------------------- forward

r4=$(get other 8081)
den_rtr=$(ipt "$RTR" labels --denials)
if [ "$r4" = blocked ] &&
	grep -q '{ forward_in } for  scontext=unlabeled_t tcontext=system_u:object_r:blocked_packet_t:s0' <<<"$den_rtr"; then
	ok "forward: rtr drops blocked_packet_t (forward_in denied), forwards http_client_packet_t"
else
	bad "forward: srv:8081 gave '$r4' (want blocked); rtr denials: $den_rtr"
fi

# ---------------------------------------------------------------- bridge

ipt "$RTR" selinux-bridge >"$work/bridge.rules" 2>"$work/bridge.err"
if in_ns "$RTR" iptables-legacy-restore --test --noflush <"$work/bridge.rules" 2>>"$work/bridge.err" &&
	[ "$(grep -c -- '-j SECMARK --selctx' "$work/bridge.rules")" = 2 ]; then
	ok "bridge: selinux-bridge prints one SECMARK rule per label, and iptables-restore parses them"
else
	bad "bridge: $(cat "$work/bridge.err") $(cat "$work/bridge.rules")"
fi
sed 's/-j SECMARK --selctx .*/-j RETURN/' "$work/bridge.rules" | in_ns "$RTR" iptables-legacy-restore --noflush
before=$(in_ns "$RTR" iptables-legacy -t security -L IPT2BPF_LABELS -v -n -x | awk 'NR == 3 { print $1 }')
r5=$(get browser 80)
after=$(in_ns "$RTR" iptables-legacy -t security -L IPT2BPF_LABELS -v -n -x | awk 'NR == 3 { print $1 }')
if [ "$r5" = "hello 80" ] && [ -n "$before" ] && [ "$after" -gt "$before" ]; then
	ok "bridge: rtr's kernel security table sees http_client_packet_t's mark on $((after - before)) forwarded packets"
else
	bad "bridge: browser got '$r5'; the bridge's first rule counted ${before:-?} then ${after:-?}"
fi

# ---------------------------------------------------------------- ids

j1=$(ipt "$CLI" labels --json)
id_s=$(jq -r '.labels[] | select(.type == "http_server_packet_t") | .id' <<<"$j1")
id_c=$(jq -r '.labels[] | select(.type == "http_client_packet_t") | .id' <<<"$j1")
ipt "$CLI" load "$work/ref2.v4" -t security >"$work/reload.log" 2>&1 || bad "reload: $(cat "$work/reload.log")"
j2=$(ipt "$CLI" labels --json)
id_s2=$(jq -r '.labels[] | select(.type == "http_server_packet_t") | .id' <<<"$j2")
id_c2=$(jq -r '.labels[] | select(.type == "http_client_packet_t") | .id' <<<"$j2")
id_d=$(jq -r '.labels[] | select(.type == "dns_client_packet_t") | .id' <<<"$j2")
pol=$(jq -r '.sinks.policy' <<<"$j2")
if [ "$id_s" = 1 ] && [ "$id_c" = 2 ] && [ "$id_s2" = 1 ] && [ "$id_c2" = 2 ] && [ "$id_d" = 3 ] &&
	[ "$pol" = "$work/kiosk.policy" ]; then
	ok "ids: a reload with the rules reordered keeps ids 1 and 2, adds 3, keeps the policy"
else
	bad "ids: before $id_s/$id_c, after $id_s2/$id_c2/$id_d, policy '$pol'"
fi
if ipt "$CLI" status | grep -q 'Labels (SECMARK)'; then
	ok "status: shows the labels section"
else
	bad "status: no labels section"
fi

finish
