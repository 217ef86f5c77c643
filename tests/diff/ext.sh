#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/diff/ext.sh: the differential test of the extension matches and
# targets (ttl, tos, dscp, ecn, mark, MARK, esp, ah, pkttype, mac, u32, bpf,
# string, sctp, tcpmss, addrtype). The kernel is the oracle.
#
#   tests/diff/ext.sh [-f FAMILY[,FAMILY...]] [--keep-all]
#
# Per family, extgen (tests/tools/extgen.c) writes a rule set and, per chain,
# packets aimed at the edges of each option (boundaries, negations, masks,
# truncated headers, later fragments), with the skb mark each packet carries
# (P.marks). kdiff loads the rules into iptables-legacy in the firewall
# namespace and sends the packets (--marks: a raw-table MARK rule gives them
# their mark; --keep-macs: their own source MAC and broadcast/multicast
# destinations); `ipt2bpf trace` runs them through the compiled program
# (--marks: skb->mark through BPF_PROG_TEST_RUN). Both print one JSON line per
# packet and tests/diff/compare.sh compares them, exactly as tests/diff/run.sh
# does. Every family's rule set must also pass the verifier in --mode xdp, or
# be refused there with the extension named (mark, MARK and HMARK: XDP has no
# mark, TCPMSS: XDP cannot rewrite the packet, cpu: XDP runs before Receive
# Packet Steering, bpf-skb: XDP has no skb->mark or pkt_type).
#
# Targets that change the packet (tcpmss-tg: TCPMSS) are also compared by
# what they leave: kdiff records what reaches the server namespace behind the
# firewall after each FORWARD/OUTPUT packet (--capture-*), trace writes each
# accepted packet as the program left it (--out-pcap), and extgen
# --compare-out compares the two (IP length, transport bytes). vout's MTU is
# 1400 for that family, so that --clamp-mss-to-pmtu has a path MTU to find.
#
# classify (CLASSIFY sets skb->priority, which no packet byte shows): an
# observer on vout's TC egress (tests/diff/prio_observer.bpf.c) records the
# priority of each UDP datagram kdiff sends through the kernel's OUTPUT, and
# `ipt2bpf trace --priorities-out` what the program left: equal per port.
#
# cpu0, cpu1 (-m cpu): the kernel judges a packet on the CPU that sent it
# into the namespace (kdiff pins itself: veth puts the frame on that CPU's
# backlog and its softirq runs the hooks there; OUTPUT runs in the sender)
# and BPF_PROG_TEST_RUN runs the program on the caller's CPU, so both sides
# run under `taskset -c 0` (cpu0) or `taskset -c 1` (cpu1; skipped on one
# CPU).  nflog (NFLOG, AUDIT) checks that they count and continue; what they
# log is compared in tests/logrej/run.sh.  hmark: each HMARK configuration is
# followed by 32 `-m mark --mark BIT/BIT` rules, so the counters show the
# mark it left bit by bit; hmark-ct the same with --hmark-tuple ct (a
# `-m state` rule enables connection tracking, the kernel's connections are
# flushed before each chain's run, as trace starts without any).
#
# Environment: IPT2BPF (default $O/ipt2bpf), O (build dir for the tools,
# default build), DIFF_ID (namespace names), DIFF_OUT (default
# tests/out/ext; failing cases are kept there).
#
# Exit status: 0 all agree, 1 mismatches, 2 the harness itself failed.
set -euo pipefail

# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_init exttest die
DIFF_ID=${DIFF_ID:-ext$$}
OUT=${DIFF_OUT:-$ROOT/tests/out/ext}
FAMILIES=
KEEP_ALL=0
SHOW=10

while [ $# -gt 0 ]; do
	case $1 in
	-f) FAMILIES=${2//,/ }; shift ;;
	--keep-all) KEEP_ALL=1 ;;
	-h | --help) sed -n '4,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [-f FAMILY[,FAMILY...]] [--keep-all]" >&2; exit 2 ;;
	esac
	shift
done

h_need_root "network namespaces, iptables-legacy"
h_need_tools iptables-legacy-restore
make -s -C "$ROOT" O="$O" "$O/tests/extgen" "$O/tests/kdiff" "$O/tests/ctdiff" >&2 ||
	h_die "building extgen, kdiff and ctdiff failed"
h_need_ipt2bpf
EXTGEN=$O/tests/extgen
KDIFF=$O/tests/kdiff
[ -n "$FAMILIES" ] || FAMILIES=$("$EXTGEN" --list | tr '\n' ' ')

h_workdir exttest
TMP=$work
h_topo "$DIFF_ID" || h_die "topology setup failed"
rm -rf "$OUT"
mkdir -p "$OUT"

total=0 mism=0 harness_fail=0 xdp_bad=0 outs=0 out_bad=0 cls_n=0 cls_bad=0
reports=$TMP/reports errors=$TMP/errors
: >"$reports"
: >"$errors"

# CLASSIFY: an observer at vout's TC egress records skb->priority per UDP
# destination port of what the kernel sent; trace --priorities-out says what
# the program left.  "port priority" per line, sorted.
observer_on() {
	clang -target bpf -O2 -g -I"/usr/include/$(gcc -print-multiarch)" \
		-c "$ROOT/tests/diff/prio_observer.bpf.c" -o "$TMP/prio_observer.o" ||
		h_die "building the CLASSIFY observer failed"
	in_fw tc qdisc replace dev vout clsact
	in_fw tc filter add dev vout egress bpf direct-action obj "$TMP/prio_observer.o" \
		sec classifier
}
observer_off() { in_fw tc qdisc del dev vout clsact 2>/dev/null || true; }
observed() {
	local id map
	id=$(in_fw tc filter show dev vout egress | sed -n 's/.* id \([0-9]*\).*/\1/p' | head -1)
	map=$(bpftool prog show id "$id" | sed -n 's/.*map_ids \([0-9]*\).*/\1/p')
	bpftool map dump id "$map" -j | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    k = int.from_bytes(bytes(int(b, 16) for b in e["key"]), "little")
    v = int.from_bytes(bytes(int(b, 16) for b in e["value"]), "little")
    print(k, v)' | sort -n
}
# trace's priorities of the packets it accepted, by their port (the .meta description).
traced() { # traced META BPF_JSON PRIORITIES
	awk 'FILENAME == ARGV[1] { d = $3; sub(/.*-/, "", d); port[$1] = d; next }
	FILENAME == ARGV[2] { if (match($0, /"n":[0-9]+/)) { n = substr($0, RSTART + 4, RLENGTH - 4) + 0;
		if ($0 ~ /"verdict":"ACCEPT"/) ok[n] = 1 }; next }
	ok[$1] { print port[$1], $2 }' "$1" "$2" "$3" | sort -n
}

printf '%-10s %9s %10s %13s %s\n' family decisions mismatches "rules hit" "xdp"
for fam in $FAMILIES; do
	d=$TMP/$fam
	mkdir -p "$d"
	"$EXTGEN" --family "$fam" --rules "$d/rules.v4" --pcap-input "$d/INPUT.pcap" \
		--pcap-forward "$d/FORWARD.pcap" --pcap-output "$d/OUTPUT.pcap" ||
		h_die "extgen --family $fam failed"
	keep=$KEEP_ALL fn=0 fm=0 outcmp=0
	if [ "$fam" = tcpmss-tg ]; then
		outcmp=1
		in_fw ip link set vout mtu 1400
		ip -n "$NS_S" link set vs mtu 1400
	fi
	pin=()
	case $fam in
	cpu0) pin=(taskset -c 0) ;;
	cpu1)
		if [ "$(nproc)" -lt 2 ]; then
			printf '%-10s %s\n' "$fam" "skipped: one CPU"
			continue
		fi
		pin=(taskset -c 1)
		;;
	esac
	for chain in INPUT FORWARD OUTPUT; do
		[ -s "$d/$chain.pcap.meta" ] || continue
		capk=() capb=()
		[ "$fam" = classify ] && capb=(--priorities-out "$d/$chain.prio") && observer_on
		if [ $outcmp = 1 ] && [ $chain != INPUT ]; then
			capk=(--capture-ns "$NS_S" --capture-dev vs --capture-pcap "$d/$chain.kernel.out.pcap")
			capb=(--out-pcap "$d/$chain.bpf.out.pcap")
		fi
		brc=0
		in_fw "${pin[@]}" "$IPT2BPF" trace "$d/rules.v4" --pcap "$d/$chain.pcap" --chain "$chain" \
			--in vin --out vout --marks "$d/$chain.pcap.marks" --json "${capb[@]}" \
			>"$d/$chain.bpf" 2>"$d/$chain.bpf.err" || brc=$?
		krc=0
		# hmark-ct: no connections left from the previous chain's run (trace starts empty)
		[ "$fam" = hmark-ct ] && { in_fw "$O/tests/ctdiff" flush >/dev/null 2>&1 || true; }
		in_fw "${pin[@]}" "$KDIFF" --rules "$d/rules.v4" --pcap "$d/$chain.pcap" --chain "$chain" \
			--inject-ns "$NS_C" --inject-dev vc --marks "$d/$chain.pcap.marks" --keep-macs \
			"${capk[@]}" >"$d/$chain.kernel" 2>"$d/$chain.kernel.err" || krc=$?
		if [ "$fam" = classify ]; then
			observed >"$d/$chain.prio.kernel"
			observer_off
			traced "$d/$chain.pcap.meta" "$d/$chain.bpf" "$d/$chain.prio" >"$d/$chain.prio.bpf"
			cls_n=$((cls_n + $(wc -l <"$d/$chain.prio.kernel")))
			if ! diff -u "$d/$chain.prio.kernel" "$d/$chain.prio.bpf" >"$d/$chain.prio.diff"; then
				cls_bad=$((cls_bad + $(grep -c '^[-+][0-9]' "$d/$chain.prio.diff" || true)))
				keep=1
				{
					echo "mismatch: $OUT/$fam $chain: skb->priority by port (kernel -, ipt2bpf +):"
					grep '^[-+][0-9]' "$d/$chain.prio.diff" | sed 's/^/  /'
				} >>"$reports"
			fi
		fi
		if [ $krc != 0 ]; then
			echo "exttest: kdiff failed (status $krc) on $fam $chain:" >&2
			head -5 "$d/$chain.kernel.err" >&2
			harness_fail=1
			keep=1
			continue
		fi
		if [ $brc != 0 ]; then
			echo "error: $OUT/$fam $chain: ipt2bpf trace failed (status $brc):" \
				"$(head -c 400 "$d/$chain.bpf.err")" >>"$errors"
			keep=1
		fi
		SHOW=$SHOW "$ROOT/tests/diff/compare.sh" "$d/$chain.pcap.meta" "$d/$chain.kernel" \
			"$d/$chain.bpf" "$chain" "$OUT/$fam/rules.v4" >"$d/$chain.cmp"
		n=$(sed -n 's/^decisions //p' "$d/$chain.cmp")
		m=$(sed -n 's/^mismatches //p' "$d/$chain.cmp")
		fn=$((fn + n))
		fm=$((fm + m))
		grep '^mismatch:\|^  ' "$d/$chain.cmp" >>"$reports" || true
		[ "$m" = 0 ] || keep=1
		if [ ${#capk[@]} -gt 0 ] && [ $brc = 0 ]; then
			orc=0
			"$EXTGEN" --compare-out "$d/$chain.kernel.out.pcap" "$d/$chain.bpf.out.pcap" \
				>"$d/$chain.out.cmp" || orc=$?
			n=$(sed -n 's/^out \([0-9]*\) compared, \([0-9]*\) differ$/\1 \2/p' "$d/$chain.out.cmp")
			outs=$((outs + ${n% *}))
			out_bad=$((out_bad + ${n#* }))
			if [ $orc != 0 ]; then
				keep=1
				sed "s|^out-mismatch:|mismatch: $OUT/$fam $chain (packet as left):|" \
					"$d/$chain.out.cmp" | grep -v '^out ' >>"$reports"
			fi
		fi
	done
	if [ $outcmp = 1 ]; then
		in_fw ip link set vout mtu 1500
		ip -n "$NS_S" link set vs mtu 1500
	fi
	# how much of the rule set the packets exercised
	nr=$(grep -c '^-A' "$d/rules.v4" || true)
	nh=$(cat "$d"/*.kernel 2>/dev/null | { grep -o '"[^"]*#[0-9]*"' || true; } | sort -u | wc -l)
	# the same rules must load in --mode xdp, or be refused naming the extension
	xdp=ok
	if ! "$IPT2BPF" "$d/rules.v4" --mode xdp -o "$d/xdp.o" >/dev/null 2>"$d/xdp.err"; then
		if { grep -q "'mark'\|'MARK'" "$d/xdp.err" && [ "$fam" = mark ]; } ||
			{ grep -q "'TCPMSS'" "$d/xdp.err" && [ "$fam" = tcpmss-tg ]; } ||
			{ grep -q "'HMARK'" "$d/xdp.err" && [[ $fam = hmark* ]]; } ||
			{ grep -q "'cpu'" "$d/xdp.err" && [[ $fam = cpu* ]]; } ||
			{ grep -q "'bpf'.*XDP" "$d/xdp.err" && [ "$fam" = bpf-skb ]; }; then
			xdp=refused
		else
			xdp=FAIL
			xdp_bad=$((xdp_bad + 1))
			echo "error: $fam: --mode xdp: $(head -c 300 "$d/xdp.err")" >>"$errors"
			keep=1
		fi
	fi
	printf '%-10s %9d %10d %6d of %3d %s\n' "$fam" "$fn" "$fm" "$nh" "$nr" "$xdp"
	total=$((total + fn))
	mism=$((mism + fm))
	if [ "$keep" = 1 ]; then
		rm -rf "${OUT:?}/$fam"
		cp -r "$d" "$OUT/$fam"
	fi
	rm -rf "$d"
done

echo "exttest: $total packet decisions, $mism mismatches"
[ $outs = 0 ] || echo "exttest: packets as the targets left them: $outs compared, $out_bad differ"
[ "$cls_n" = 0 ] || echo "exttest: CLASSIFY: $cls_n datagrams' skb->priority compared, $cls_bad differ"
cat "$errors"
if [ -s "$reports" ]; then
	awk -v max="$SHOW" '/^mismatch:/ { n++ } n <= max' "$reports"
	[ "$mism" -le "$SHOW" ] || echo "... (first $SHOW of $mism shown; cases kept in $OUT)"
fi
[ $harness_fail = 0 ] || exit 2
[ $mism = 0 ] && [ $out_bad = 0 ] && [ "$cls_bad" = 0 ] && [ ! -s "$errors" ] || exit 1
exit 0
