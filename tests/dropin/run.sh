#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/dropin/run.sh [SECTION...]: iptables through ipt2bpf-umh (the drop-in:
# iptables-bpf = iptables-legacy + the xtables shim in forward mode) against
# iptables-legacy on the kernel, in network namespaces, with iptables' own
# behaviour as the test.
#
#   unit       cmocka tests of the request handling and of the kernel's
#              bpfilter usermode-driver protocol on a fake stdin/stdout
#   commands   -A -I -D -R -C -L -S -F -Z -N -X -E -P, --line-numbers, -v -x -n,
#              -w, the security table, failures (missing chain, bad target,
#              chain in use, bad index): same exit status, stdout, stderr
#              (less ipt2bpf's own explanation lines) and iptables-save after
#              every command as iptables-legacy on the kernel
#   corpus     every ;OK/;FAIL row of iptables' extensions/*.t for the filter
#              and security tables: same exit status and iptables-save line
#              as the kernel where the translator supports the rule; rows it
#              refuses are counted as refused (never accepted where the
#              kernel refuses); prints the tally
#   dumps      iptables-save -c | iptables-restore -c round trip of the filter
#              table of every real-world dump: byte-identical to the kernel's
#              round trip (counters included); rule sets the translator
#              refuses are reported as refused
#   traffic    rules added with iptables-bpf filter real packets (client ->
#              firewall -> server), `iptables -L -v -x` counts them, and the
#              counters survive later -A/-I/-D (ADD_COUNTERS) and a restart
#   concurrency  8 parallel iptables-bpf -w writers: no rule lost, table intact
#   faults     kill -9 of the daemon inside replaces (the rules in force stay
#              filtering: old or new, never none; a restart recovers), a
#              second daemon refused, garbage / truncated / oversized /
#              unknown requests (clear errno, no crash), unprivileged clients
#              (EPERM, as the kernel), no daemon (iptables' missing-table
#              message plus a hint)
#   kernel-tables  --kernel-tables: nat goes to the kernel's ip_tables, filter
#              stays eBPF, iptables-save shows both
#   bpfilter   the daemon binary as the kernel's usermode driver (--bpfilter-umh):
#              python plays the kernel and the caller; a replace read with
#              process_vm_readv drops real packets; EPERM, ENOPROTOOPT, EFAULT
#   asan       the unit tests and the daemon built with ASan/UBSan (the unit-asan
#              step's build, skipped without it): bad requests, iptables
#              commands, save/restore, a clean exit
#   install    make install DESTDIR=..., the wrapper, the man pages, the unit,
#              update-alternatives register/unregister in a scratch admindir
#
# Environment: O (build dir, default build), IPT2BPF_SHARED (default ../shared),
# DROPIN_KEEP=1 keeps the work directory.  Needs root, iproute2, iptables,
# python3.  Last line: "dropin: N passed, N failed".
set -u
# Functions are called through "sec_$name": not unreachable.
# shellcheck disable=SC2317

# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$(dirname "$0")/../lib/harness.sh"
h_init dropin
SHARED=${IPT2BPF_SHARED:-$ROOT/../shared}
UMH=$O/ipt2bpf-umh
IPT2BPF=$O/ipt2bpf
export IPT2BPF_SHIM=$O/libipt2bpf-shim.so
IPB=$ROOT/scripts/iptables-bpf
IPB_SAVE=$ROOT/scripts/iptables-bpf-save
IPB_RESTORE=$ROOT/scripts/iptables-bpf-restore

h_need_root "network namespaces, bpf"
make -s -C "$ROOT" O="$O" all dropin-bins >/dev/null || {
	bad "build (make O=$O all dropin-bins)"
	finish
}
h_bpffs

h_workdir dropin DROPIN_KEEP
TMP=$work
# iptables -w takes this lock instead of /run/xtables.lock: other tests may hold that
# one.  Unprivileged runs (faults) must reach it too.
chmod 711 "$TMP"
mkdir -m 1777 "$TMP/lock"
export XTABLES_LOCKFILE=$TMP/lock/xtables.lock
touch "$XTABLES_LOCKFILE"
chmod 666 "$XTABLES_LOCKFILE"
# python3 as Debian ships it: unprivileged users may not reach a root-only one in PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
ID=d$$

ns_new() { h_ns_add "$1"; } # ns_new NAME: a namespace with lo up, removed at exit

umh_start() { # umh_start NS [ARGS]: the daemon of NS, detached once serving
	local ns=$1
	shift
	ip netns exec "$ns" "$UMH" --pidfile "$TMP/$ns.pid" "$@"
}

umh_pid() { cat "$TMP/$1.pid" 2>/dev/null; }

umh_stop() { # umh_stop NS [SIGNAL]
	local pid
	pid=$(umh_pid "$1")
	[ -n "$pid" ] || return 0
	kill "-${2:-TERM}" "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	rm -f "$TMP/$1.pid"
}

# shellcheck disable=SC2317 # run at exit, before the namespaces go
cleanup() {
	local ns
	for ns in "${h_nses[@]}"; do
		umh_stop "$ns" KILL
	done
	"$ROOT/tests/diff/topology.sh" down "$ID" >/dev/null 2>&1
}
h_at_exit cleanup

ipk() { ip netns exec "$NSK" iptables-legacy "$@"; }
ipb() { ip netns exec "$NSB" "$IPB" "$@"; }

# What the two sides print, made comparable: iptables-save's timestamp comments
# go, and so do ipt2bpf's own explanation lines (the kernel's are in dmesg).
save_norm() { grep -v '^#'; }
err_norm() { grep -v -e '^ipt2bpf: ' -e '^ipt2bpf-shim: ' -e '^ipt2bpf-umh: '; }

# A fresh pair: NSK for iptables-legacy, NSB with its own daemon.
pair_up() { # pair_up TAG
	NSK=dropin-$ID-$1-k
	NSB=dropin-$ID-$1-b
	ns_new "$NSK" && ns_new "$NSB" && umh_start "$NSB"
}

pair_down() {
	umh_stop "$NSB"
	h_ns_del "$NSK" "$NSB"
}

# ------------------------------------------------------------------ unit
sec_unit() {
	if "$O/tests/dropin/test_umh" >"$TMP/unit.log" 2>&1; then
		ok "unit: $(grep -c '\[       OK \]' "$TMP/unit.log") cmocka tests of request handling and the bpfilter driver loop"
	else
		cat "$TMP/unit.log"
		bad "unit: cmocka tests"
	fi
}

# ------------------------------------------------------------------ commands
# Runs one command line on both sides; compares exit status, stdout, stderr and
# the table afterwards.
both() {
	local krc brc what="iptables $*"
	ipk "$@" >"$TMP/k.out" 2>"$TMP/k.err"
	krc=$?
	ipb "$@" >"$TMP/b.out" 2>"$TMP/b.err"
	brc=$?
	if [ $krc -ne $brc ]; then
		bad "commands: $what: exit $brc, the kernel's iptables $krc ($(head -c 300 "$TMP/b.err"))"
		return
	fi
	if ! cmp -s "$TMP/k.out" "$TMP/b.out"; then
		bad "commands: $what: stdout differs"
		diff "$TMP/k.out" "$TMP/b.out" | head -20
		return
	fi
	if ! diff <(err_norm <"$TMP/k.err") <(err_norm <"$TMP/b.err") >"$TMP/d.err"; then
		bad "commands: $what: stderr differs"
		head -20 "$TMP/d.err"
		return
	fi
	ip netns exec "$NSK" iptables-legacy-save | save_norm >"$TMP/k.save"
	ip netns exec "$NSB" "$IPB_SAVE" | save_norm >"$TMP/b.save"
	if ! cmp -s "$TMP/k.save" "$TMP/b.save"; then
		bad "commands: $what: iptables-save afterwards differs"
		diff "$TMP/k.save" "$TMP/b.save" | head -20
		return
	fi
	COMMANDS_OK=$((COMMANDS_OK + 1))
	[ $krc -ne 0 ] && COMMANDS_FAILING=$((COMMANDS_FAILING + 1))
}

sec_commands() {
	COMMANDS_OK=0 COMMANDS_FAILING=0
	local before=$fail
	pair_up cmd || {
		bad "commands: namespaces or daemon"
		return
	}
	both -L
	both -L -v -x -n
	both -A INPUT -p tcp --dport 22 -j ACCEPT
	both -A INPUT -s 10.0.0.0/8 -j DROP
	both -I INPUT 1 -p udp --dport 53 -j ACCEPT
	both -I INPUT 2 -p icmp --icmp-type echo-request -j ACCEPT
	both -A OUTPUT -o lo -d 127.0.0.1 -j ACCEPT
	both -A FORWARD -i veth+ ! -o eth0 -p tcp -m multiport --dports 80,443 -j DROP
	both -L --line-numbers
	both -L INPUT --line-numbers -n -v
	both -L -v -x -n
	both -S
	both -S INPUT
	both -S INPUT 2
	both -C INPUT -p tcp --dport 22 -j ACCEPT
	both -C INPUT -p tcp --dport 23 -j ACCEPT
	both -D INPUT 2
	both -D INPUT -s 10.0.0.0/8 -j DROP
	both -D INPUT -p tcp --dport 99 -j ACCEPT
	both -D INPUT 42
	both -R INPUT 1 -p udp --dport 54 -j ACCEPT
	both -R INPUT 9 -j ACCEPT
	both -N mychain
	both -N mychain
	both -A mychain -p tcp --dport 80 -j ACCEPT
	both -A mychain -j RETURN
	both -A INPUT -j mychain
	both -I INPUT -g mychain
	both -X mychain
	both -E mychain other
	both -L other -n
	both -E nosuch other2
	both -A INPUT -j nosuchchain
	both -A nosuchchain -j ACCEPT
	both -A INPUT -j NOSUCHTARGET
	both -A INPUT -m nosuchmatch -j ACCEPT
	both -A INPUT -p tcp --dport 1:2:3 -j ACCEPT
	both -P INPUT DROP
	both -P FORWARD DROP
	both -L -n
	both -P INPUT ACCEPT
	both -P other DROP
	both -P INPUT BOGUS
	both -Z
	both -Z INPUT
	both -L nosuchchain
	both -F other
	both -D INPUT -j other
	both -D INPUT -g other
	both -X other
	both -w -A OUTPUT -o lo -j ACCEPT
	both -w 5 -I OUTPUT -p udp -j DROP
	both -F INPUT
	both -F
	both -X
	both -D INPUT 1
	both -t security -A INPUT -p tcp --dport 80 -j ACCEPT
	both -t security -L -n -v
	both -t security -S
	both -t security -F
	both -L -n
	pair_down
	[ $fail -eq "$before" ] && ok "commands: $COMMANDS_OK command lines ($COMMANDS_FAILING of them failing ones) identical to iptables-legacy on the kernel: status, stdout, stderr, iptables-save"
}

# ------------------------------------------------------------------ corpus
# The drop-in refused (not the kernel's reason): our explanation line, or an
# extension iptables could not load or warned about because the daemon's
# GET_REVISION says it is not translated.  $2: the kernel's stderr (a line it
# has too is not ours).
refused_by_us() {
	local l
	while IFS= read -r l; do
		grep -qxF -- "$l" "${2:-/dev/null}" || return 0
	done < <(grep -e '^ipt2bpf: ' -e "Couldn't load \(match\|target\)" \
		-e 'Extension .* not supported, missing kernel module' "$1")
	return 1
}

sec_corpus() {
	local ext=$SHARED/iptables-tests/extensions f table chain res rule krc brc what
	local same=0 added=0 refused=0 na=0 wrong=0 rows=0 before=$fail
	if [ ! -d "$ext" ]; then
		bad "corpus: no $ext (set IPT2BPF_SHARED)"
		return
	fi
	pair_up corpus || {
		bad "corpus: namespaces or daemon"
		return
	}
	: >"$TMP/corpus.wrong"
	for f in $(find "$ext" -name '*.t' ! -name 'libip6t_*' | sort); do
		while IFS='|' read -r table chain res rule; do
			rows=$((rows + 1))
			# The shell splits and unquotes the rule, as for iptables-test.py.
			eval "ipk -t \"\$table\" -A \"\$chain\" $rule" >/dev/null 2>"$TMP/k.err"
			krc=$?
			eval "ipb -t \"\$table\" -A \"\$chain\" $rule" >/dev/null 2>"$TMP/b.err"
			brc=$?
			ip netns exec "$NSK" iptables-legacy-save -t "$table" 2>/dev/null | grep '^-A' >"$TMP/k.save"
			ip netns exec "$NSB" "$IPB_SAVE" -t "$table" 2>/dev/null | grep '^-A' >"$TMP/b.save"
			ipk -t "$table" -F >/dev/null 2>&1
			ipb -t "$table" -F >/dev/null 2>&1
			what="$(basename "$f"): -t $table -A $chain $rule ($res)"
			if [ $brc -ge 124 ]; then
				wrong=$((wrong + 1))
				echo "$what: iptables-bpf crashed (exit $brc)" >>"$TMP/corpus.wrong"
			elif [ $brc -ne 0 ] && refused_by_us "$TMP/b.err" "$TMP/k.err"; then
				refused=$((refused + 1))
				[ "${DROPIN_VERBOSE:-0}" = 1 ] && echo "refused $what: $(grep -m1 -e '^ipt2bpf' -e Couldn -e Extension "$TMP/b.err")"
			elif [ $krc -eq 0 ] && [ $brc -eq 0 ]; then
				if cmp -s "$TMP/k.save" "$TMP/b.save"; then
					same=$((same + 1))
					added=$((added + 1))
				else
					wrong=$((wrong + 1))
					echo "$what: saved as '$(cat "$TMP/b.save")', the kernel's '$(cat "$TMP/k.save")'" >>"$TMP/corpus.wrong"
				fi
			elif [ $krc -ne 0 ] && [ $brc -eq 0 ]; then
				if [ "$res" = OK ]; then
					# An OK row this kernel cannot load (SELinux off, ...): nothing to compare.
					na=$((na + 1))
				else
					wrong=$((wrong + 1))
					echo "$what: accepted, the kernel refuses it: $(err_norm <"$TMP/k.err" | head -c 200)" >>"$TMP/corpus.wrong"
				fi
			elif [ $krc -eq 0 ]; then
				wrong=$((wrong + 1))
				echo "$what: failed without a refusal: $(head -c 300 "$TMP/b.err")" >>"$TMP/corpus.wrong"
			elif [ $krc -eq $brc ] && diff -q <(err_norm <"$TMP/k.err") <(err_norm <"$TMP/b.err") >/dev/null; then
				same=$((same + 1))
			else
				wrong=$((wrong + 1))
				echo "$what: exit $brc '$(err_norm <"$TMP/b.err" | head -c 200)', the kernel's $krc '$(err_norm <"$TMP/k.err" | head -c 200)'" >>"$TMP/corpus.wrong"
			fi
		done < <(h_corpus_cases "$f" | cut -d'|' -f2-)
	done
	pair_down
	echo "corpus tally: $rows rows: $same identical to the kernel ($added rules added with the same iptables-save line, $((same - added)) failing alike), $refused refused by the translator, $na not loadable by this kernel, $wrong wrong"
	if [ $wrong -ne 0 ]; then
		head -40 "$TMP/corpus.wrong"
		bad "corpus: $wrong of $rows rows differ from iptables-legacy on the kernel"
	fi
	[ $fail -eq "$before" ] && [ $same -gt 0 ] &&
		ok "corpus: $same of $rows rows identical to the kernel ($added added, $((same - added)) failing alike), $refused refused, $na n/a"
}

# ------------------------------------------------------------------ dumps
# The *filter section of a dump.
filter_of() {
	awk '/^\*/ { keep = ($0 == "*filter") } keep { print } /^COMMIT/ { keep = 0 }' "$1"
}

sec_dumps() {
	local d name k1 b1 before=$fail n=0 same=0 refused=0
	if [ ! -d "$SHARED/iptables-tests/dumps" ]; then
		bad "dumps: no $SHARED/iptables-tests/dumps (set IPT2BPF_SHARED)"
		return
	fi
	for d in "$SHARED"/iptables-tests/dumps/*; do
		[ -f "$d" ] || continue
		name=$(basename "$d")
		filter_of "$d" >"$TMP/$name.filter"
		if ! grep -q '^COMMIT' "$TMP/$name.filter"; then
			echo "dumps: $name: no filter table"
			continue
		fi
		n=$((n + 1))
		pair_up "dump$n" || {
			bad "dumps: $name: namespaces or daemon"
			continue
		}
		k1=$TMP/$name.k1
		b1=$TMP/$name.b1
		if ! ip netns exec "$NSK" iptables-legacy-restore -c <"$TMP/$name.filter" 2>"$TMP/k.err"; then
			echo "dumps: $name: the kernel refuses it here: $(head -c 200 "$TMP/k.err")"
			pair_down
			continue
		fi
		ip netns exec "$NSK" iptables-legacy-save -c -t filter | save_norm >"$k1"
		ip netns exec "$NSK" iptables-legacy-restore -c <"$k1"
		ip netns exec "$NSK" iptables-legacy-save -c -t filter | save_norm >"$k1.2"
		if ! ip netns exec "$NSB" "$IPB_RESTORE" -c <"$TMP/$name.filter" 2>"$TMP/b.err"; then
			if grep -q '^ipt2bpf: ' "$TMP/b.err" || refused_by_us "$TMP/b.err"; then
				refused=$((refused + 1))
				echo "dumps: $name: refused by the translator: $(grep -m1 -e '^ipt2bpf: ' -e "Couldn't load" "$TMP/b.err" | head -c 250)"
			else
				bad "dumps: $name: iptables-bpf-restore failed: $(head -c 300 "$TMP/b.err")"
			fi
			pair_down
			continue
		fi
		ip netns exec "$NSB" "$IPB_SAVE" -c -t filter | save_norm >"$b1"
		ip netns exec "$NSB" "$IPB_RESTORE" -c <"$b1"
		ip netns exec "$NSB" "$IPB_SAVE" -c -t filter | save_norm >"$b1.2"
		if cmp -s "$k1" "$b1" && cmp -s "$k1.2" "$b1.2"; then
			same=$((same + 1))
			echo "dumps: $name: $(grep -c '^\[' "$b1") rules, save|restore|save byte-identical to the kernel's (counters included)"
		else
			bad "dumps: $name: round trip differs from the kernel's"
			diff "$k1" "$b1" | head -10
			diff "$k1.2" "$b1.2" | head -10
		fi
		pair_down
	done
	[ $fail -eq "$before" ] && ok "dumps: $same of $n filter tables round-trip byte-identical to the kernel, $refused refused by the translator"
}

# ------------------------------------------------------------------ traffic
# Packet counts of a rule as `iptables -L CHAIN -v -x -n` shows them: "pkts" of line N.
rule_pkts() { # rule_pkts CHAIN N
	ip netns exec "$FW" "$IPB" -L "$1" -v -x -n | awk -v n="$2" 'NR == n + 2 { print $1 }'
}

pings() { # pings DEST COUNT: how many got an answer
	ip netns exec "$C" ping -c "$2" -i 0.2 -W 1 "$1" 2>/dev/null | awk '/received/ { print $4 }'
}

sec_traffic() {
	local before=$fail got
	read -r C FW _ < <("$ROOT/tests/diff/topology.sh" names "$ID")
	"$ROOT/tests/diff/topology.sh" up "$ID" >/dev/null || {
		bad "traffic: topology"
		return
	}
	NSES+=("$FW")
	umh_start "$FW" || {
		bad "traffic: daemon"
		return
	}
	got=$(pings 10.200.1.1 3)
	[ "$got" = 3 ] || bad "traffic: before any rule, 3 pings to the firewall: $got answered"

	ip netns exec "$FW" "$IPB" -A INPUT -p icmp --icmp-type echo-request -j DROP
	ip netns exec "$FW" "$IPB" -A FORWARD -p icmp -d 10.200.2.2 -j DROP
	got=$(pings 10.200.1.1 4)
	[ "$got" = 0 ] || bad "traffic: INPUT -j DROP: $got of 4 pings to the firewall answered"
	got=$(pings 10.200.2.2 3)
	[ "$got" = 0 ] || bad "traffic: FORWARD -j DROP: $got of 3 pings through the firewall answered"
	[ "$(rule_pkts INPUT 1)" = 4 ] || bad "traffic: INPUT rule 1 counted $(rule_pkts INPUT 1) packets, 4 dropped"
	[ "$(rule_pkts FORWARD 1)" = 3 ] || bad "traffic: FORWARD rule 1 counted $(rule_pkts FORWARD 1) packets, 3 dropped"

	# Inserting and appending rules replaces the programs: the counters stay (ADD_COUNTERS).
	ip netns exec "$FW" "$IPB" -I INPUT -p udp --dport 9 -j DROP
	ip netns exec "$FW" "$IPB" -A INPUT -p tcp --dport 22 -j ACCEPT
	[ "$(rule_pkts INPUT 2)" = 4 ] || bad "traffic: after -I and -A the drop rule shows $(rule_pkts INPUT 2) packets, not 4"
	got=$(pings 10.200.1.1 2)
	[ "$got" = 0 ] || bad "traffic: after -I/-A the drop still drops: $got of 2 answered"
	[ "$(rule_pkts INPUT 2)" = 6 ] || bad "traffic: drop rule counts on: $(rule_pkts INPUT 2), 6 expected"

	# A rule set the translator refuses (chains nested deeper than BPF calls go)
	# fails with its reason and leaves the rules in force and in view.
	ip netns exec "$FW" "$IPB" -S >"$TMP/before.S"
	{
		printf '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n'
		for i in $(seq 12); do printf ':c%d - [0:0]\n' "$i"; done
		printf -- '-A INPUT -j c1\n-A OUTPUT -j c1\n'
		for i in $(seq 11); do
			printf -- '-A c%d -s 10.0.0.%d -j c%d\n-A c%d -s 10.1.0.%d -j c%d\n' \
				"$i" "$i" $((i + 1)) "$i" "$i" $((i + 1))
		done
		printf 'COMMIT\n'
	} >"$TMP/deep.v4"
	if ip netns exec "$FW" "$IPB_RESTORE" <"$TMP/deep.v4" 2>"$TMP/deep.err"; then
		bad "traffic: a rule set nesting 12 chains deep was accepted"
	elif ! grep -q '^ipt2bpf: .*nesting' "$TMP/deep.err"; then
		bad "traffic: the refused rule set does not say why: $(head -c 300 "$TMP/deep.err")"
	fi
	ip netns exec "$FW" "$IPB" -S | cmp -s - "$TMP/before.S" ||
		bad "traffic: a refused restore changed the table"
	got=$(pings 10.200.1.1 2)
	[ "$got" = 0 ] || bad "traffic: after a refused restore the old rules stay in force: $got of 2 answered"
	[ "$(rule_pkts INPUT 2)" = 8 ] || bad "traffic: after a refused restore the drop rule counts $(rule_pkts INPUT 2), 8 expected"

	# A restart of the daemon keeps rules, counters and filtering.
	umh_stop "$FW"
	got=$(pings 10.200.1.1 2)
	[ "$got" = 0 ] || bad "traffic: with the daemon stopped the rules stay in force: $got of 2 answered"
	umh_start "$FW"
	[ "$(rule_pkts INPUT 2)" = 10 ] || bad "traffic: after a restart the drop rule shows $(rule_pkts INPUT 2) packets, 10 expected"

	ip netns exec "$FW" "$IPB" -D INPUT -p icmp --icmp-type echo-request -j DROP
	got=$(pings 10.200.1.1 3)
	[ "$got" = 3 ] || bad "traffic: after -D: $got of 3 pings answered"
	ip netns exec "$FW" "$IPB" -Z
	[ "$(rule_pkts FORWARD 1)" = 0 ] || bad "traffic: -Z left $(rule_pkts FORWARD 1) packets on FORWARD rule 1"
	[ $fail -eq "$before" ] && ok "traffic: INPUT and FORWARD drops filter real pings and -L -v counts them exactly; counters survive -I/-A and a daemon restart; a refused restore leaves the rules in force; -D and -Z act at once"
	umh_stop "$FW"
	ip netns exec "$FW" "$IPT2BPF" unload >/dev/null 2>&1
	"$ROOT/tests/diff/topology.sh" down "$ID" >/dev/null 2>&1
}

# ------------------------------------------------------------------ concurrency
sec_concurrency() {
	local ns=dropin-$ID-conc w n before=$fail
	ns_new "$ns" && umh_start "$ns" || {
		bad "concurrency: namespace or daemon"
		return
	}
	for w in $(seq 8); do
		(
			for r in $(seq 4); do
				ip netns exec "$ns" "$IPB" -w -A INPUT -s "10.9.$w.$r" -j ACCEPT || echo "writer $w rule $r: exit $?"
			done
		) >"$TMP/writer.$w" 2>&1 &
	done
	wait
	cat "$TMP"/writer.* | grep -v '^ipt2bpf' | head -5
	n=$(ip netns exec "$ns" "$IPB_SAVE" | grep -c '^-A INPUT -s 10\.9\.')
	[ "$n" = 32 ] || bad "concurrency: $n of 32 rules from 8 parallel writers in the table"
	for w in $(seq 8); do
		for r in $(seq 4); do
			ip netns exec "$ns" "$IPB" -C INPUT -s "10.9.$w.$r" -j ACCEPT 2>/dev/null ||
				bad "concurrency: rule 10.9.$w.$r missing"
		done
	done
	# The table the daemon serves is the one in force.
	n=$(ip netns exec "$ns" "$IPT2BPF" status --list | grep -c '10\.9\.')
	[ "$n" = 32 ] || bad "concurrency: the programs in force have $n of the 32 rules"
	[ $fail -eq "$before" ] && ok "concurrency: 8 parallel iptables -w writers, 32 rules, none lost, table in force matches"
	umh_stop "$ns"
}

# ------------------------------------------------------------------ faults
# Raw protocol clients: python3 speaking to the daemon's abstract socket.
rawclient() { # rawclient NS CASE [COMMAND PREFIX...]: prints one result line
	ip netns exec "$1" "${@:3}" "$PY" - "$2" <<'PY'
import socket, struct, sys, errno
REQ_MAGIC, REP_MAGIC = 0x71626975, 0x70626975
import os
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\0" + os.environ.get("IPT2BPF_UMH_SOCKET", "@ipt2bpf-umh")[1:])
    s.settimeout(10)
    return s
def req(op, cmd=0, length=0, addr=0, in_len=0, magic=REQ_MAGIC, version=1):
    return struct.pack("=IHHIIQII", magic, version, op, cmd, length, addr, in_len, 0)
def reply(s):
    h = b""
    while len(h) < 24:
        c = s.recv(24 - len(h))
        if not c:
            return None
        h += c
    magic, status, nseg, mlen, dlen = struct.unpack("=IiIIQ", h)
    data = b""
    while len(data) < dlen:
        c = s.recv(dlen - len(data))
        if not c:
            break
        data += c
    return status, data[-mlen:].decode() if mlen else ""
case = sys.argv[1]
s = conn()
if case == "garbage":
    s.sendall(b"\x17" * 64)
    r = reply(s)
    print("garbage", r and -r[0] == errno.EPROTO, r)
elif case == "oversized":
    s.sendall(req(2, 64, 0xffffffff, 0, 0xffffffff))
    r = reply(s)
    print("oversized", r and -r[0] == errno.ENOMEM, r)
elif case == "unknown":
    s.sendall(req(77))
    r = reply(s)
    s.sendall(req(3))
    r2 = reply(s)
    print("unknown", r and -r[0] == errno.EOPNOTSUPP and r2 and r2[0] == 0, r, r2)
elif case == "truncated":
    s.sendall(req(2, 64, 1000, 0, 1000) + b"x" * 10)
    s.close()
    print("truncated", True)
elif case == "short-replace":
    # A replace whose buffer is shorter than struct ipt_replace: EINVAL, like the kernel.
    s.sendall(req(2, 64, 8, 4096, 8) + b"\0" * 8)
    r = reply(s)
    print("short-replace", r and -r[0] == errno.EINVAL, r)
elif case == "eperm":
    s.sendall(req(1, 64, 84, 4096, 84) + b"filter".ljust(84, b"\0"))
    r = reply(s)
    print("eperm", r and -r[0] == errno.EPERM, r)
PY
}

sec_faults() {
	local ns=dropin-$ID-fault before=$fail out c cc pid i delay kout kc
	ns_new "$ns" || {
		bad "faults: namespace"
		return
	}
	# No daemon: iptables' own message for a missing table module, plus the hint.
	ip netns exec "$ns" "$IPB" -L >/dev/null 2>"$TMP/nod.err"
	c=$?
	if [ $c -ne 3 ] || ! grep -q "Table does not exist (do you need to insmod?)" "$TMP/nod.err" ||
		! grep -q "no ipt2bpf-umh serves this network namespace" "$TMP/nod.err"; then
		bad "faults: without a daemon: exit $c, $(cat "$TMP/nod.err")"
	fi
	umh_start "$ns" || {
		bad "faults: daemon"
		return
	}
	# A second daemon in the same namespace refuses to start.
	if ip netns exec "$ns" "$UMH" --foreground 2>"$TMP/second.err"; then
		bad "faults: a second daemon started"
	elif ! grep -q "already serves this network namespace" "$TMP/second.err"; then
		bad "faults: second daemon: $(cat "$TMP/second.err")"
	fi
	for c in garbage oversized unknown truncated short-replace; do
		out=$(rawclient "$ns" "$c" 2>&1)
		case $out in
		*" True"*) ;;
		*) bad "faults: $c request: $out" ;;
		esac
	done
	kill -0 "$(umh_pid "$ns")" 2>/dev/null || bad "faults: the daemon died of bad requests"

	# Unprivileged: as nobody, and as root without CAP_NET_ADMIN: what the kernel's iptables says.
	local who
	# nobody runs the wrapper and the shim: copies in $TMP stay reachable when the
	# tree is not (a clone under /root, mode 0700).
	cp "$IPB" "$IPT2BPF_SHIM" "$TMP/" || bad "faults: copying the wrapper and the shim"
	for who in "--reuid=65534 --regid=65534 --clear-groups --inh-caps=-all" \
		"--inh-caps=-net_admin --bounding-set=-net_admin"; do
		for c in "-A INPUT -j ACCEPT" "-A INPUT -p tcp --dport 22 -j ACCEPT" "-L -n"; do
			# shellcheck disable=SC2086
			out=$(ip netns exec "$ns" setpriv $who env IPT2BPF_SHIM="$TMP/libipt2bpf-shim.so" \
				"$TMP/iptables-bpf" $c 2>&1)
			cc=$?
			# shellcheck disable=SC2086
			kout=$(ip netns exec "$ns" setpriv $who iptables-legacy $c 2>&1)
			kc=$?
			out=$(err_norm <<<"$out")
			if [ $cc -ne $kc ] || [ "$out" != "$kout" ] || [ $cc -eq 0 ]; then
				bad "faults: iptables $c as setpriv $who: exit $cc '$out', the kernel's $kc '$kout'"
			fi
		done
	done
	out=$(rawclient "$ns" eperm setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all 2>&1)
	case $out in
	*" True"*) ;;
	*) bad "faults: a request from an unprivileged peer: $out" ;;
	esac
	# Kill -9 in the middle of replaces: the rules in force keep filtering.
	ip netns exec "$ns" "$IPB" -A INPUT -p icmp -j DROP
	ip netns exec "$ns" "$IPB" -A INPUT -s 192.0.2.1 -j ACCEPT
	umh_stop "$ns"
	for i in 1 2 3 4; do
		IPT2BPF_TEST_STEP_MS=150 umh_start "$ns" || {
			bad "faults: daemon restart $i"
			break
		}
		pid=$(umh_pid "$ns")
		ip netns exec "$ns" "$IPB" -A INPUT -s "192.0.2.$((i + 1))" -j ACCEPT >/dev/null 2>&1 &
		delay=$(((i * 230) % 900))
		sleep "$(printf '0.%03d' "$delay")"
		kill -9 "$pid"
		wait
		rm -f "$TMP/$ns.pid"
		# Filtering never stopped: loopback pings are dropped by the old and the new rules.
		out=$(ip netns exec "$ns" ping -c 2 -i 0.2 -W 1 127.0.0.1 2>/dev/null | awk '/received/ { print $4 }')
		[ "$out" = 0 ] || bad "faults: kill -9 after ${delay} ms into a replace: $out of 2 pings passed the DROP rule"
		umh_start "$ns" || bad "faults: restart after kill -9 ($i)"
		ip netns exec "$ns" "$IPB" -S INPUT >"$TMP/kill.S" 2>&1 || bad "faults: -S after kill -9 ($i): $(cat "$TMP/kill.S")"
		grep -q -- '-A INPUT -p icmp -j DROP' "$TMP/kill.S" || bad "faults: the DROP rule vanished after kill -9 ($i)"
		ip netns exec "$ns" "$IPB" -A INPUT -s "198.51.100.$i" -j ACCEPT ||
			bad "faults: a replace after kill -9 and restart ($i)"
		out=$(ip netns exec "$ns" "$IPT2BPF" status --json 2>/dev/null | python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(1 for i in s.get("interfaces",[]) if i.get("stale")))' 2>/dev/null)
		[ "${out:-0}" = 0 ] || bad "faults: $out interface(s) left on a stale generation after restart ($i)"
		umh_stop "$ns"
	done
	[ $fail -eq "$before" ] && ok "faults: no daemon (iptables' missing-table message + hint), second daemon refused, garbage/oversized/unknown/truncated/short requests answered or dropped without harm, EPERM for nobody and for root without CAP_NET_ADMIN, 4 kill -9 inside replaces: filtering kept, restart recovers"
	ip netns exec "$ns" "$IPT2BPF" unload >/dev/null 2>&1
}

# ------------------------------------------------------------------ asan
# The daemon and the unit tests built with ASan/UBSan (the unit-asan step's
# build): bad requests, a session of iptables commands, a clean SIGTERM exit.
sec_asan() {
	local asan=${ASAN_BUILD:-$ROOT/build-asan} ns=dropin-$ID-asan before=$fail c out pid
	local sock=@ipt2bpf-umh-asan
	if [ ! -f "$asan/libipt2bpf.a" ]; then
		echo "asan: no ASan build in $asan (make O=build-asan SAN=1 all): skipped"
		return
	fi
	make -s -C "$ROOT" O="$asan" SAN=1 all dropin-bins >/dev/null || {
		bad "asan: build"
		return
	}
	export ASAN_OPTIONS=${SAN_ASAN_OPTIONS:-detect_leaks=1:exitcode=134}
	export UBSAN_OPTIONS=${SAN_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=134}
	"$asan/tests/dropin/test_umh" >"$TMP/asan-unit.log" 2>&1 || {
		tail -30 "$TMP/asan-unit.log"
		bad "asan: unit tests under ASan/UBSan"
	}
	ns_new "$ns" || {
		bad "asan: namespace"
		return
	}
	ip netns exec "$ns" "$asan/ipt2bpf-umh" --foreground --socket "$sock" 2>"$TMP/asan-umh.log" &
	pid=$!
	for _ in $(seq 100); do
		grep -q listening "$TMP/asan-umh.log" && break
		sleep 0.05
	done
	for c in garbage oversized unknown truncated short-replace; do
		out=$(IPT2BPF_UMH_SOCKET=$sock rawclient "$ns" "$c" 2>&1)
		case $out in
		*" True"*) ;;
		*) bad "asan: $c request: $out" ;;
		esac
	done
	for c in "-A INPUT -p tcp --dport 22 -j ACCEPT" "-N ch" "-A ch -s 10.0.0.0/8 -j DROP" \
		"-I INPUT -j ch" "-L -v -n" "-Z" "-D INPUT 1" "-X ch" "-t security -A INPUT -j ACCEPT" \
		"-A INPUT -j nosuch" "-t nat -L"; do
		# shellcheck disable=SC2086
		IPT2BPF_UMH_SOCKET=$sock ip netns exec "$ns" "$IPB" $c >/dev/null 2>&1
	done
	IPT2BPF_UMH_SOCKET=$sock ip netns exec "$ns" "$IPB_SAVE" -c >"$TMP/asan.save" &&
		IPT2BPF_UMH_SOCKET=$sock ip netns exec "$ns" "$IPB_RESTORE" -c <"$TMP/asan.save" ||
		bad "asan: save/restore through the ASan daemon"
	kill -TERM "$pid"
	wait "$pid"
	c=$?
	if [ $c -ne 0 ] || grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error' "$TMP/asan-umh.log"; then
		tail -40 "$TMP/asan-umh.log"
		bad "asan: the ASan/UBSan daemon exited $c"
	fi
	ip netns exec "$ns" "$IPT2BPF" unload >/dev/null 2>&1
	[ $fail -eq "$before" ] && ok "asan: unit tests, bad requests, a session of iptables commands and save/restore through an ASan/UBSan daemon, clean exit"
}

# ------------------------------------------------------------------ kernel-tables
sec_kernel_tables() {
	local ns=dropin-$ID-kt before=$fail
	ns_new "$ns" && umh_start "$ns" --kernel-tables || {
		bad "kernel-tables: namespace or daemon"
		return
	}
	ip netns exec "$ns" "$IPB" -t nat -A POSTROUTING -o lo -j MASQUERADE ||
		bad "kernel-tables: a nat rule through iptables-bpf"
	ip netns exec "$ns" "$IPB" -A INPUT -p tcp --dport 22 -j ACCEPT ||
		bad "kernel-tables: a filter rule through iptables-bpf"
	ip netns exec "$ns" iptables-legacy-save -t nat | grep -q -- '-A POSTROUTING -o lo -j MASQUERADE' ||
		bad "kernel-tables: the nat rule is not in the kernel's ip_tables"
	ip netns exec "$ns" iptables-legacy-save -t filter | grep -q -- '--dport 22' &&
		bad "kernel-tables: the filter rule went to the kernel"
	ip netns exec "$ns" "$IPT2BPF" status --list | grep -q 'dpt:22' ||
		bad "kernel-tables: the filter rule is not in force as eBPF"
	ip netns exec "$ns" "$IPB_SAVE" | grep -c '^\*' | grep -qx 2 ||
		bad "kernel-tables: iptables-bpf-save does not show both tables"
	umh_stop "$ns"
	[ $fail -eq "$before" ] && ok "kernel-tables: --kernel-tables hands nat to the kernel's ip_tables, keeps filter as eBPF, iptables-save shows both"
}

# ------------------------------------------------------------------ bpfilter
# The daemon binary as the kernel's usermode driver: python plays the kernel
# (struct mbox_request on the driver's stdin, the status back on its stdout)
# and the sockopt caller (buffers in its own memory, its pid in the request).
sec_bpfilter() {
	local ns=dropin-$ID-bpf before=$fail out
	ns_new "$ns" || {
		bad "bpfilter: namespace"
		return
	}
	out=$(ip netns exec "$ns" "$PY" - "$UMH" <<'PY' 2>&1
import ctypes, errno, os, struct, subprocess, sys
umh = sys.argv[1]
p = subprocess.Popen([umh, "--bpfilter-umh", "--no-follow"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE)
def mbox(addr, length, is_set, cmd, pid=os.getpid()):
    p.stdin.write(struct.pack("=QIIII", addr, length, is_set, cmd, pid))
    p.stdin.flush()
    return struct.unpack("=i", p.stdout.read(4))[0]
def check(what, got, want):
    print(("ok " if got == want else "BAD ") + what, got, want)
check("health check", mbox(0, 0, 0, 0), 0)
info = ctypes.create_string_buffer(84)
info[0:6] = b"filter"
check("GET_INFO", mbox(ctypes.addressof(info), 84, 0, 64), 0)
(valid,) = struct.unpack_from("=I", info.raw, 32)
n, size = struct.unpack_from("=II", info.raw, 76)
check("initial filter entries", n, 4)
get = ctypes.create_string_buffer(40 + size)
get[0:6] = b"filter"
struct.pack_into("=I", get, 32, size)
check("GET_ENTRIES", mbox(ctypes.addressof(get), 40 + size, 0, 65), 0)
# The same table with INPUT's policy (the first entry) DROP: struct ipt_replace
# is 96 bytes, an entry's standard verdict sits at 112 + 32.
counters = ctypes.create_string_buffer(16 * n)
repl = ctypes.create_string_buffer(96 + size)
repl[0:96] = (info.raw[0:32] + struct.pack("=III", valid, n, size) + info.raw[36:76] +
              struct.pack("=IQ", n, ctypes.addressof(counters)))
repl[96:] = get.raw[40:]
struct.pack_into("=i", repl, 96 + 144, -1)  # -NF_DROP - 1
check("SET_REPLACE", mbox(ctypes.addressof(repl), 96 + size, 1, 64), 0)
r = subprocess.run(["ping", "-c", "2", "-i", "0.2", "-W", "1", "127.0.0.1"], capture_output=True)
check("ping dropped by the new INPUT policy", r.returncode != 0, True)
nobody = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "--inh-caps=-all", "sleep", "5"])
import time; time.sleep(0.2)
check("EPERM without CAP_NET_ADMIN", mbox(ctypes.addressof(info), 84, 0, 64, nobody.pid), -errno.EPERM)
nobody.kill()
check("another namespace goes to the kernel", mbox(ctypes.addressof(info), 84, 0, 64, 1), -errno.ENOPROTOOPT)
check("EFAULT", mbox(8, 84, 0, 64), -errno.EFAULT)
p.stdin.close()
check("exit when the kernel closes stdin", p.wait(timeout=10), 0)
PY
	)
	if grep -q '^BAD\|Traceback' <<<"$out" || ! grep -q '^ok exit' <<<"$out"; then
		echo "$out"
		bad "bpfilter: the daemon as the kernel's usermode driver"
	fi
	ip netns exec "$ns" "$IPT2BPF" status --list 2>/dev/null | grep -q 'Chain INPUT (policy DROP' ||
		bad "bpfilter: the replaced table is not in force"
	ip netns exec "$ns" "$IPT2BPF" unload >/dev/null 2>&1
	[ $fail -eq "$before" ] && ok "bpfilter: --bpfilter-umh: health check, GET_INFO/GET_ENTRIES/SET_REPLACE through process_vm_readv/writev, the new policy drops real packets, EPERM, ENOPROTOOPT for other namespaces, EFAULT, exit on stdin EOF"
}

# ------------------------------------------------------------------ install
sec_install() {
	local dest=$TMP/root prefix=/usr/local before=$fail f alt=$TMP/alt
	make -s -C "$ROOT" O="$O" install DESTDIR="$dest" PREFIX="$prefix" >"$TMP/install.log" 2>&1 || {
		cat "$TMP/install.log"
		bad "install: make install"
		return
	}
	for f in sbin/ipt2bpf sbin/ipt2bpf-umh sbin/iptables-bpf sbin/iptables-bpf-save \
		sbin/iptables-bpf-restore lib/ipt2bpf/libipt2bpf-shim.so lib/ipt2bpf/alternatives.sh \
		share/man/man8/ipt2bpf-umh.8 share/man/man8/iptables-bpf.8 \
		lib/systemd/system/ipt2bpf-umh.service; do
		[ -e "$dest$prefix/$f" ] || bad "install: $prefix/$f missing"
	done
	grep -q "$prefix/lib/ipt2bpf/libipt2bpf-shim.so" "$dest$prefix/sbin/iptables-bpf" ||
		bad "install: the wrapper does not name the installed shim"
	grep -q "^ExecStart=$prefix/sbin/ipt2bpf-umh --foreground" "$dest$prefix/lib/systemd/system/ipt2bpf-umh.service" ||
		bad "install: the unit does not start the installed daemon"
	if command -v systemd-analyze >/dev/null 2>&1; then
		systemd-analyze verify "$dest$prefix/lib/systemd/system/ipt2bpf-umh.service" 2>&1 |
			grep -v -e 'ipt2bpf-umh: command' -e 'is not executable' -e 'Failed to' -e "Command 'man " | grep . &&
			bad "install: systemd-analyze verify complains"
	fi
	for f in doc/ipt2bpf-umh.8 doc/iptables-bpf.8; do
		out=$(groff -ww -man -z "$ROOT/$f" 2>&1)
		[ -z "$out" ] || bad "install: groff warnings in $f: $out"
	done
	if command -v shellcheck >/dev/null 2>&1; then
		{ shellcheck "$ROOT/scripts/iptables-bpf" "$ROOT/scripts/alternatives.sh" \
			"$ROOT/scripts/bench-dropin.sh" &&
			shellcheck -S warning -x "$ROOT/tests/dropin/run.sh"; } >"$TMP/sc.log" 2>&1 ||
			{
				head -30 "$TMP/sc.log"
				bad "install: shellcheck"
			}
	fi
	# The installed wrapper, run through its alternative name with the installed shim.
	local ns=dropin-$ID-inst
	ns_new "$ns" && umh_start "$ns" || {
		bad "install: namespace or daemon"
		return
	}
	mkdir -p "$alt/sbin" "$alt/etc" "$alt/admin"
	ln -s /usr/sbin/iptables-legacy "$alt/legacy"
	update-alternatives --altdir "$alt/etc" --admindir "$alt/admin" --install "$alt/sbin/iptables" \
		iptables "$alt/legacy" 20 >/dev/null || bad "install: scratch legacy alternative"
	ALT_ARGS="--altdir $alt/etc --admindir $alt/admin" LINKDIR=$alt/sbin \
		bash "$ROOT/scripts/alternatives.sh" register "$dest$prefix" >"$TMP/alt.log" 2>&1 ||
		bad "install: alternatives.sh register: $(cat "$TMP/alt.log")"
	[ "$(readlink -f "$alt/sbin/iptables")" = "$(readlink -f "$dest$prefix/sbin/iptables-bpf")" ] ||
		bad "install: iptables is not iptables-bpf after register ($(readlink -f "$alt/sbin/iptables"))"
	IPT2BPF_SHIM=$dest$prefix/lib/ipt2bpf/libipt2bpf-shim.so ip netns exec "$ns" "$alt/sbin/iptables" -A INPUT -p tcp --dport 22 -j ACCEPT ||
		bad "install: iptables -A through the alternative"
	IPT2BPF_SHIM=$dest$prefix/lib/ipt2bpf/libipt2bpf-shim.so ip netns exec "$ns" "$alt/sbin/iptables-save" | grep -q -- '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT' ||
		bad "install: iptables-save through the alternative"
	ip netns exec "$ns" "$IPT2BPF" status --list | grep -q 'dpt:22' ||
		bad "install: the rule is not in force"
	ALT_ARGS="--altdir $alt/etc --admindir $alt/admin" LINKDIR=$alt/sbin \
		bash "$ROOT/scripts/alternatives.sh" unregister "$dest$prefix" >"$TMP/alt.log" 2>&1 ||
		bad "install: alternatives.sh unregister: $(cat "$TMP/alt.log")"
	[ "$(readlink -f "$alt/sbin/iptables")" = "$(readlink -f /usr/sbin/iptables-legacy)" ] ||
		bad "install: after unregister iptables is $(readlink -f "$alt/sbin/iptables"), not legacy"
	umh_stop "$ns"
	[ $fail -eq "$before" ] && ok "install: make install DESTDIR (binaries, shim, wrapper, man pages, unit), alternatives register/unregister, iptables through the alternative"
}

sections=("$@")
[ ${#sections[@]} -eq 0 ] &&
	sections=(unit commands corpus dumps traffic concurrency faults kernel-tables bpfilter asan install)
for s in "${sections[@]}"; do
	start=$SECONDS
	echo "--- $s"
	case $s in
	unit | commands | corpus | dumps | traffic | concurrency | faults | bpfilter | asan | install) "sec_$s" ;;
	kernel-tables) sec_kernel_tables ;;
	*) bad "unknown section $s" ;;
	esac
	echo "--- $s: $((SECONDS - start))s"
done
finish
