#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Atomic replacement under traffic.  A client -- firewall -- server topology
# (the firewall forwarding between lan0 10.0.1.0/24 and wan0 10.0.2.0/24);
# UDP generators send numbered datagrams on four paths, each judged by one
# chain on one interface of the firewall:
#
#   fwd  client -> server      FORWARD, lan0 ingress
#   in   client -> firewall    INPUT,   lan0 ingress
#   out  firewall -> server    OUTPUT,  wan0 egress
#   lo   firewall -> 127.0.0.1 INPUT,   lo ingress (OUTPUT accepts -o lo first)
#
# while `ipt2bpf load A` and `ipt2bpf load B` alternate FLIPS times, once in
# tc mode (INPUT/FORWARD at TC ingress, filters replaced in place) and once in
# xdp mode (at XDP, links updated in place); OUTPUT is at TC egress in both.
# The datagram with sequence number n goes to port 7001 + n % 8, and the port
# says what each version does with it:
#
#   7001 a   A accepts, B drops        delivered: A judged it, lost: B did
#   7002 b   A drops, B accepts        delivered: B judged it, lost: A did
#   7003 n   both drop                 delivered: unfiltered
#   7004 c   both accept               lost: dropped by neither version (or lost)
#   7005 m1  both drop; A's first rules followed by B's last ones accept it
#   7006 m2  both drop; B's first rules followed by A's last ones accept it
#   7007 m3  both drop; A's chain calling B's subchain accepts it
#   7008 m4  both drop; B's chain calling A's subchain accepts it
#
# so a delivered m-datagram is a packet judged by a mix of the two versions.
# (A loopback datagram passes OUTPUT and later INPUT, and the kernel's own
# iptables may judge those two with different tables too: so lo is judged in
# INPUT only, OUTPUT accepts -o lo in both versions.)
# First the design is checked: A, B and the four mixes, each loaded into the
# kernel's iptables and then by ipt2bpf, must deliver exactly the classes
# this table says (a, c / b, c / plus m1, m2, m3 or m4).
# Then, per mode: every load succeeded, no datagram unfiltered, none mixed,
# none of the both-accept ones lost, both versions judged traffic on every
# path, and the counters of the rules A and B share counted every datagram
# across all the loads (carry-over).  Printed: the counts per path, how often
# the judging version switched on each path (one switch per flip at most
# when packets stay in order), the flip rate.
#
# usage: tests/runtime/atomic.sh [FLIPS]
# Environment: IPT2BPF (default $O/ipt2bpf), ATOMIC_FLIPS (default 1000),
# ATOMIC_MODES (default "tc xdp"), ATOMIC_RATE datagrams per second per path
# (default 2000), ATOMIC_FILLER rules per version that the test traffic never
# matches (default 50), ATOMIC_KEEP=1 keeps the work directory.  Needs root,
# iproute2, iptables-legacy, python3.  Takes ~2 minutes on 2 cores: a load of
# these rule sets takes ~45 ms in tc mode, ~70 ms in xdp mode (each XDP link
# update waits 6-12 ms in the kernel).
# Last line: "atomic: N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$here/../lib/harness.sh"
h_init atomic
FLIPS=${1:-${ATOMIC_FLIPS:-1000}}
RATE=${ATOMIC_RATE:-2000}
FILLER=${ATOMIC_FILLER:-50}
MODES=${ATOMIC_MODES:-tc xdp}

case $FLIPS$RATE$FILLER in
*[!0-9]*)
	bad "FLIPS ($FLIPS), ATOMIC_RATE ($RATE) and ATOMIC_FILLER ($FILLER) must be numbers"
	finish
	;;
esac
h_need_root "network namespaces, bpf"
h_need_tools ip python3 nsenter ping iptables-legacy-restore
h_need_ipt2bpf
h_modprobe veth
h_bpffs

# ATOMIC_KEEP=1 keeps the work directory (logs, rule sets) for a look.
h_workdir ipt2bpf-atomic ATOMIC_KEEP
C=atc-$$
F=atf-$$
S=ats-$$

# ipt2bpf runs in the firewall's network namespace but the host's mount
# namespace (nsenter, not ip netns exec): its pins outlive each command.
fw_ipt2bpf() { h_in_ns "$F" "$IPT2BPF" "$@"; }
in_ns() { ip netns exec "$@"; }

topo_down() {
	h_kill_bg
	h_ns_del "$C" "$F" "$S"
	rmdir /sys/fs/bpf/ipt2bpf 2>/dev/null
	return 0
}
h_at_exit topo_down

# ---------------------------------------------------------------- traffic

cat >"$work/udp.py" <<'PY'
import os, select, signal, socket, sys, time

PORTS = list(range(7001, 7009))

def on_term(*_):
    raise SystemExit(0)

signal.signal(signal.SIGTERM, on_term)
cmd = sys.argv[1]
if cmd == 'send':
    # send STOPFILE OUT RATE NAME:IP...: datagram n of each path goes to
    # PORTS[n % 8] with payload "NAME n", RATE per second per path, until
    # STOPFILE exists; OUT gets "NAME sent" per path.
    stop, out, rate = sys.argv[2], sys.argv[3], int(sys.argv[4])
    paths = [(p.split(':')[0].encode(), p.split(':')[1]) for p in sys.argv[5:]]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    batch, n, unsent = len(PORTS), 0, []
    t0 = time.monotonic()
    try:
        while not os.path.exists(stop):
            for _ in range(batch):
                for name, ip in paths:
                    try:
                        s.sendto(b'%s %d' % (name, n), (ip, PORTS[n % len(PORTS)]))
                    except OSError:
                        unsent.append((name, n))  # never left: judged by nobody
                n += 1
            # Paced per batch: the due time of the next one, not a fixed sleep.
            delay = t0 + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    finally:
        with open(out, 'w') as f:
            for name, _ in paths:
                f.write('%s %d\n' % (name.decode(), n))
            for name, seq in unsent:
                f.write('unsent %s %d\n' % (name.decode(), seq))
elif cmd == 'once':
    # once NAME IP: one datagram to each port, payload "NAME i" for PORTS[i].
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i, p in enumerate(PORTS):
        s.sendto(b'%s %d' % (sys.argv[2].encode(), i), (sys.argv[3], p))
elif cmd == 'recv':
    # recv LOG READY: logs "PORT PAYLOAD" of every datagram to PORTS until SIGTERM.
    socks = []
    for p in PORTS:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Root may exceed rmem_max: a busy moment must not drop datagrams here.
        u.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
        u.bind(('0.0.0.0', p))
        u.setblocking(False)
        socks.append(u)
    log = open(sys.argv[2], 'w')
    open(sys.argv[3], 'w').write('ready\n')
    try:
        while True:
            r, _, _ = select.select(socks, [], [])
            for u in r:
                while True:
                    try:
                        data = u.recv(128)
                    except BlockingIOError:
                        break
                    log.write('%d %s\n' % (u.getsockname()[1], data.decode()))
    finally:
        log.close()
PY

# Judges the run: sent counts and receiver logs in, table and verdict out.
cat >"$work/judge.py" <<'PY'
import collections, sys

work = sys.argv[1]
CLS = ['a', 'b', 'n', 'c', 'm1', 'm2', 'm3', 'm4']
sent, unsent = {}, collections.defaultdict(set)
for f in ('C.sent', 'F.sent'):
    for line in open('%s/%s' % (work, f)):
        w = line.split()
        if w[0] == 'unsent':
            unsent[w[1]].add(int(w[2]))
        else:
            sent[w[0]] = int(w[1])
got = collections.defaultdict(set)
bad_port = 0
for f in ('S.log', 'F.log'):
    for line in open('%s/%s' % (work, f)):
        try:
            port, name, seq = line.split()
            port, seq = int(port), int(seq)
        except ValueError:
            bad_port += 1
            continue
        if port != 7001 + seq % 8 or name not in sent or seq >= sent[name]:
            bad_port += 1
            continue
        got[name].add(seq)

tot = collections.Counter()
print('  %-5s %9s %9s %9s %10s %7s %7s %9s' %
      ('path', 'sent', 'by A', 'by B', 'unfiltered', 'mixed', 'lost', 'switches'))
for name in ('fwd', 'in', 'out', 'lo'):
    if name not in sent:
        continue
    n, g = sent[name], got[name]
    c = collections.Counter()
    last, switches = None, 0
    for seq in range(n):
        if seq in unsent[name]:
            continue
        k, d = CLS[seq % 8], seq in g
        if k in ('a', 'b'):
            v = 'A' if (k == 'a') == d else 'B'
            c[v] += 1
            if last is not None and v != last:
                switches += 1
            last = v
        elif k == 'n':
            c['unfiltered'] += d
        elif k == 'c':
            c['lost'] += not d
        else:
            c['mixed'] += d
    c['sent'] = n - len(unsent[name])
    c['switches'] = switches
    print('  %-5s %9d %9d %9d %10d %7d %7d %9d' % (name, c['sent'], c['A'], c['B'], c['unfiltered'],
                                                c['mixed'], c['lost'], switches))
    tot.update(c)
    # Both versions must have judged traffic on each path, or the run proves nothing.
    if not c['A'] or not c['B']:
        tot['onesided'] += 1
print('  %-5s %9d %9d %9d %10d %7d %7d %9d' % ('all', tot['sent'], tot['A'], tot['B'],
                                            tot['unfiltered'], tot['mixed'], tot['lost'],
                                            tot['switches']))
# Datagrams of the both-accept class and of the both-drop class, across all
# paths: what the rules A and B share must have counted.
n_c = sum(len([s for s in range(3, n, 8) if s not in unsent[k]]) for k, n in sent.items())
n_n = sum(len([s for s in range(2, n, 8) if s not in unsent[k]]) for k, n in sent.items())
print('RESULT %d %d %d %d %d %d %d %d' % (tot['A'], tot['B'], tot['unfiltered'], tot['mixed'],
                                          tot['lost'], tot['onesided'], n_c, n_n))
if sum(map(len, unsent.values())):
    print('  %d datagrams not sent (sendto failed): left out' % sum(map(len, unsent.values())))
if bad_port:
    print('  %d log lines with an unexpected port or sequence number' % bad_port)
PY

# ---------------------------------------------------------------- rule sets

# filler N SEED: N rules no test datagram matches (other addresses and
# ports), different per version so that the programs differ in size and
# content.
filler() {
	local n=$1 seed=$2 i a
	for ((i = 0; i < n; i++)); do
		a=$(((i + seed) % 250)).$((i % 250 + 1))
		case $((i % 4)) in
		0) echo "-A INPUT -p tcp -s 192.168.$a/32 --dport $((1000 + i)) -j ACCEPT" ;;
		1) echo "-A FORWARD -p tcp -d 172.16.$a --dport $((2000 + i)) -j DROP" ;;
		2) echo "-A OUTPUT -p udp -d 10.9.$a --dport $((3000 + i)) -j DROP" ;;
		3) echo "-A FORWARD -p tcp -s 10.8.$a -m multiport" \
			"--dports $((4000 + i)),$((5000 + i)) -j ACCEPT" ;;
		esac
	done
}

# The judging chain of each version (see the port table above), in parts:
# both have eight "prefix" rules and three "suffix" rules, so a program that
# mixed the rule arrays of A and B at any of several split points (5 to 8),
# or that returned from the other version's subchain, would deliver an
# m-datagram.
judge_prefix() {
	if [ "$1" = A ]; then
		cat <<EOF
-A judge -p udp --dport 7001 -j ACCEPT
-A judge -p udp --dport 7002 -j DROP
-A judge -p udp --dport 7003 -j DROP
-A judge -p udp --dport 7004 -j ACCEPT
-A judge -p udp --dport 7006 -j DROP
-A judge -p udp --dport 7007 -j sub
-A judge -p udp --dport 7007 -j DROP
-A judge -p udp --dport 7008 -j DROP
EOF
	else
		cat <<EOF
-A judge -p udp --dport 7001 -j DROP
-A judge -p udp --dport 7002 -j ACCEPT
-A judge -p udp --dport 7003 -j DROP
-A judge -p udp --dport 7004 -j ACCEPT
-A judge -p udp --dport 7005 -j DROP
-A judge -p udp --dport 7007 -j DROP
-A judge -p udp --dport 7008 -j sub
-A judge -p udp --dport 7008 -j DROP
EOF
	fi
}
judge_suffix() {
	if [ "$1" = A ]; then
		cat <<EOF
-A judge -p udp --dport 7005 -j DROP
-A judge -p udp --dport 7006 -j ACCEPT
-A judge -j DROP
EOF
	else
		cat <<EOF
-A judge -p udp --dport 7005 -j ACCEPT
-A judge -p udp --dport 7006 -j DROP
-A judge -j DROP
EOF
	fi
}
sub_chain() {
	if [ "$1" = A ]; then
		echo "-A sub -p udp --dport 7008 -j ACCEPT"
	else
		echo "-A sub -p udp --dport 7007 -j ACCEPT"
	fi
	echo "-A sub -j RETURN"
}

# ruleset PREFIX SUFFIX SUB: version A is "A A A", B is "B B B"; the mixes
# are built only to check the design (design_check).
ruleset() {
	cat <<EOF
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:judge - [0:0]
:sub - [0:0]
-A OUTPUT -o lo -j ACCEPT
-A INPUT -p udp --dport 7000:7099 -j judge
-A FORWARD -p udp --dport 7000:7099 -j judge
-A OUTPUT -p udp --dport 7000:7099 -j judge
EOF
	if [ "$1" = A ]; then filler "$FILLER" 1; else filler "$FILLER" 2; fi
	judge_prefix "$1"
	judge_suffix "$2"
	sub_chain "$3"
	echo COMMIT
}
ruleset A A A >"$work/A.v4"
ruleset B B B >"$work/B.v4"

# ---------------------------------------------------------------- topology

topo_up() {
	topo_down
	h_fw_topo "$C" "$F" "$S"
}

receiver() { # NS NAME
	# Not through in_ns: $! must be python itself, for the kill below.
	ip netns exec "$1" python3 "$work/udp.py" recv "$work/$2.log" "$work/$2.ready" &
	bg_pids+=($!)
	h_wait_for "$work/$2.ready" && return 0
	echo "receiver $2 did not start"
	return 1
}

# ---------------------------------------------------------------- design

# The port classes are only evidence if the rules do what the table at the
# top says.  Each version and each mix (prefix+suffix+subchain of A or B) is
# loaded into the kernel's iptables, then by ipt2bpf, and one datagram per
# port goes to the firewall: the classes delivered must be exactly these.
DESIGN=(
	"A A A|a c"
	"B B B|b c"
	"A B A|a c m1"
	"B A B|b c m2"
	"A A B|a c m3"
	"B B A|b c m4"
)
CLASSES=(a b n c m1 m2 m3 m4)

design_check() {
	local e v want got engine tag p x y z errs=() i=0
	echo "=== design: A, B and their mixes deliver the classes the test relies on"
	if ! topo_up || ! receiver "$F" D; then
		bad "design: topology"
		return
	fi
	for e in "${DESIGN[@]}"; do
		read -r x y z <<<"${e%%|*}"
		ruleset "$x" "$y" "$z" >"$work/mix$i.v4"
		i=$((i + 1))
	done
	# The kernel first (ipt2bpf not loaded), then ipt2bpf (iptables emptied).
	for engine in kernel ipt2bpf; do
		for ((i = 0; i < ${#DESIGN[@]}; i++)); do
			if [ $engine = kernel ]; then
				in_ns "$F" iptables-legacy-restore <"$work/mix$i.v4"
			else
				fw_ipt2bpf load "$work/mix$i.v4"
			fi || {
				bad "design: $engine refused mix ${DESIGN[i]%%|*}"
				continue
			}
			in_ns "$C" python3 "$work/udp.py" once "$engine-$i" 10.0.1.1
			sleep 0.1
		done
		if [ $engine = kernel ]; then
			printf '*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\nCOMMIT\n' |
				in_ns "$F" iptables-legacy-restore
		fi
	done
	sleep 0.3
	topo_down # the receiver flushes its log
	for engine in kernel ipt2bpf; do
		for ((i = 0; i < ${#DESIGN[@]}; i++)); do
			tag=$engine-$i
			want=${DESIGN[i]#*|}
			got=$(awk -v t="$tag" '$2 == t { print $1 - 7001 }' "$work/D.log" | sort -n |
				while read -r p; do printf '%s ' "${CLASSES[p]}"; done)
			got=${got% }
			[ "$got" = "$want" ] ||
				errs+=("$engine, prefix+suffix+sub ${DESIGN[i]%%|*}: delivered '$got', expected '$want'")
		done
	done
	if [ ${#errs[@]} -eq 0 ]; then
		ok "design: the kernel and ipt2bpf deliver exactly the expected classes for A, B" \
			"and the 4 mixes"
	else
		bad "design: the port classes do not work as the test assumes:"
		printf '    %s\n' "${errs[@]}"
	fi
}

# ---------------------------------------------------------------- run

# phase MODE: one run of FLIPS loads in MODE (tc: INPUT/FORWARD at TC
# ingress, replaced by NLM_F_REPLACE; xdp: at XDP, replaced by
# bpf_link_update; OUTPUT at TC egress in both).
phase() {
	local mode=$1 tag=$1 flips=0 failed_load='' v t0 t1 secs rate ms p n
	local by_a by_b unfiltered mixed lost onesided n_c n_n c_cnt n_cnt senders

	echo "=== $tag: $FLIPS replacements A <-> B ($((FILLER + 17)) rules each," \
		"--mode $mode) under $RATE datagrams/s on each of 4 paths"
	rm -f "$work"/*.log "$work"/*.ready "$work"/*.sent "$work/stop"
	if ! topo_up; then
		bad "$tag: topology"
		return
	fi
	if ! fw_ipt2bpf load "$work/A.v4" --mode "$mode" 2>"$work/load.err"; then
		bad "$tag: ipt2bpf load A: $(head -c 2000 "$work/load.err")"
		return
	fi
	# Neighbours resolved before the clock starts (ICMP passes both versions).
	if ! in_ns "$C" ping -c1 -W2 -q 10.0.2.2 >/dev/null 2>&1 ||
		! in_ns "$C" ping -c1 -W2 -q 10.0.1.1 >/dev/null 2>&1 ||
		! in_ns "$F" ping -c1 -W2 -q 10.0.2.2 >/dev/null 2>&1; then
		bad "$tag: no ping through the firewall with A loaded"
		return
	fi
	if ! receiver "$S" S || ! receiver "$F" F; then
		bad "$tag: receivers"
		return
	fi
	ip netns exec "$C" python3 "$work/udp.py" send "$work/stop" "$work/C.sent" "$RATE" \
		fwd:10.0.2.2 in:10.0.1.1 &
	senders=($!)
	ip netns exec "$F" python3 "$work/udp.py" send "$work/stop" "$work/F.sent" "$RATE" \
		out:10.0.2.2 lo:127.0.0.1 &
	senders+=($!)
	bg_pids+=("${senders[@]}")
	sleep 0.3 # traffic judged by A before the first flip

	t0=$(date +%s.%N)
	while [ "$flips" -lt "$FLIPS" ]; do
		if [ $((flips % 2)) -eq 0 ]; then v=B; else v=A; fi
		if ! fw_ipt2bpf load "$work/$v.v4" --mode "$mode" 2>"$work/load.err"; then
			failed_load="load $v (flip $((flips + 1))): $(head -c 500 "$work/load.err")"
			break
		fi
		flips=$((flips + 1))
	done
	t1=$(date +%s.%N)
	sleep 0.3 # traffic judged by the last version after the last flip
	: >"$work/stop"
	wait "${senders[@]}"
	sleep 0.5 # datagrams in flight reach the receivers
	# The receivers flush their logs on SIGTERM.
	for p in "${bg_pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${bg_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	bg_pids=()

	secs=$(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }')
	rate=$(echo "$t0 $t1 $flips" | awk '{ printf "%.1f", ($2 > $1) ? $3 / ($2 - $1) : 0 }')
	ms=$(echo "$t0 $t1 $flips" | awk '{ printf "%.1f", $3 ? 1000 * ($2 - $1) / $3 : 0 }')
	echo "    $flips flips in ${secs}s: $rate flips/s, ${ms} ms per load"
	if [ -z "$failed_load" ]; then
		ok "$tag: $flips of $FLIPS loads succeeded under traffic"
	else
		bad "$tag: $failed_load"
	fi

	if ! python3 "$work/judge.py" "$work" >"$work/judge.out" 2>&1; then
		bad "$tag: judging the logs: $(tail -3 "$work/judge.out")"
		return
	fi
	grep -v '^RESULT' "$work/judge.out"
	read -r _ by_a by_b unfiltered mixed lost onesided n_c n_n < <(grep '^RESULT' "$work/judge.out")
	echo "    $tag: judged by A: $by_a, by B: $by_b, unfiltered: $unfiltered, mixed: $mixed," \
		"both-accept lost: $lost; flip rate $rate/s"

	if [ "$unfiltered" -eq 0 ]; then
		ok "$tag: no datagram both versions drop got through (unfiltered: 0)"
	else
		bad "$tag: $unfiltered datagrams both versions drop got through"
	fi
	if [ "$mixed" -eq 0 ]; then
		ok "$tag: no datagram judged by a mix of A and B (mixed: 0)"
	else
		bad "$tag: $mixed datagrams were judged by a mix of A and B"
	fi
	if [ "$lost" -eq 0 ]; then
		ok "$tag: no datagram both versions accept was lost"
	else
		bad "$tag: $lost datagrams both versions accept were lost (dropped by neither" \
			"version, or by the host: the A/B attribution is then uncertain)"
		for n in "$F" "$S"; do
			echo "    $n: $(in_ns "$n" nstat -asz 2>/dev/null |
				awk '$2 > 0 && /Udp|Drop|Discard|Backlog/ { printf "%s %s  ", $1, $2 }')"
		done
	fi
	if [ "$onesided" -eq 0 ] && [ "$by_a" -gt 0 ] && [ "$by_b" -gt 0 ]; then
		ok "$tag: both versions judged traffic on every path"
	else
		bad "$tag: on $onesided paths only one version judged any traffic:" \
			"the flips did not show"
	fi

	# The rules A and B share (same content) carry their counters over every
	# load: judge's 7004 ACCEPT saw every both-accept datagram, its 7003 DROP
	# every both-drop one.
	fw_ipt2bpf status --list >"$work/status.list" 2>&1
	c_cnt=$(rule_pkts 7004)
	n_cnt=$(rule_pkts 7003)
	if [ "${c_cnt:-x}" = "$n_c" ] && [ "${n_cnt:-x}" = "$n_n" ]; then
		ok "$tag: the shared rules counted every datagram across $flips loads:" \
			"7004 ACCEPT $c_cnt, 7003 DROP $n_cnt"
	else
		bad "$tag: the shared rules counted 7004 ACCEPT ${c_cnt:-?} (expected $n_c)," \
			"7003 DROP ${n_cnt:-?} (expected $n_n) across $flips loads"
	fi
	topo_down
}

# rule_pkts PORT: packet counter of judge's rule for udp dpt:PORT in status.list.
rule_pkts() {
	awk -v p="$1" '/^Chain judge/ { j = 1; next } /^Chain / { j = 0 }
		j && $0 ~ "udp dpt:" p "$" { print $1; exit }' "$work/status.list"
}

start=$SECONDS
design_check
for m in $MODES; do
	case $m in
	tc | xdp) phase "$m" ;;
	*) bad "unknown mode '$m' in ATOMIC_MODES (tc, xdp)" ;;
	esac
done
echo "    $((SECONDS - start))s in all"
finish
