#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/demo.sh: ipt2bpf's main job, end to end, in two scratch network
# namespaces (`make demo` installs what is missing and builds first).
#
#   1. compiles examples/webserver.v4 into a BPF object and shows the IR;
#   2. attaches its "classifier" program at TC ingress and its "tc" program
#      at TC egress of the server's veth, with stock tc;
#   3. shows the programs and counter maps with bpftool;
#   4. sends real traffic from a client namespace: ping and HTTP get through,
#      SSH from outside the admin subnet and an unlisted port are dropped,
#      SSH from the admin subnet gets through;
#   5. prints the counters and a PASS/FAIL summary, and removes everything.
#
# Environment: O (build directory, default build); DEMO_OBJ=FILE attaches a
# ready object instead of compiling (to try the namespace part on its own).
# Addresses are documentation ranges, and exist only inside the namespaces.
#
# shellcheck disable=SC2317 # cleanup() and the probes run through trap and check()
set -uo pipefail

# Relative to where the caller stood, before the cd below.
[ -n "${DEMO_OBJ:-}" ] && DEMO_OBJ=$(realpath -- "$DEMO_OBJ")
cd "$(dirname "$0")/.." || exit 1
O=${O:-build}
IPT2BPF=$O/ipt2bpf
RULES=examples/webserver.v4
OBJ=${DEMO_OBJ:-$O/demo/webserver.o}

SRV_NS=ipt2bpf-demo-srv-$$
CLI_NS=ipt2bpf-demo-cli-$$
SRV_IF=srv0
CLI_IF=cli0
SRV_IP=203.0.113.1
CLIENT_IP=203.0.113.10 # an ordinary client
ADMIN_IP=203.0.113.200 # inside the admin subnet 203.0.113.192/26 of the rule set

if [ -t 1 ]; then
	bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	bold() { printf '\n== %s\n' "$*"; }
fi
show() {
	printf '$ %s\n' "$*"
	"$@"
}
in_srv() { ip netns exec "$SRV_NS" "$@"; }
in_cli() { ip netns exec "$CLI_NS" "$@"; }
srv_show() {
	printf '[server]# %s\n' "$*"
	in_srv "$@"
}

pids=()
tmp=
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	# Deleting the namespaces takes the veth pair, the qdiscs and filters
	# with them; the programs and maps go once nothing references them.
	ip netns del "$SRV_NS" 2>/dev/null
	ip netns del "$CLI_NS" 2>/dev/null
	[ -n "$tmp" ] && rm -rf "$tmp"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "demo: $*" >&2
	echo "demo: FAIL"
	exit 1
}

# ---------------------------------------------------------------- preflight
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, tc, bpf)"
for cmd in ip tc bpftool socat ping jq timeout; do
	command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found: run 'make deps' (or 'make demo')"
done
# Modules, where the kernel has them (ok if built in).
if [ -e /proc/modules ]; then
	for m in veth sch_ingress cls_bpf; do
		modprobe -q "$m" 2>/dev/null || true
	done
fi
if ! grep -q ' /sys/fs/bpf bpf ' /proc/mounts; then
	mount -t bpf bpf /sys/fs/bpf || die "cannot mount bpffs on /sys/fs/bpf"
fi

# ---------------------------------------------------------------- compile
bold "1. Compile the rule set"
show cat "$RULES"
if [ -n "${DEMO_OBJ:-}" ]; then
	echo "(DEMO_OBJ set: attaching $OBJ instead of compiling $RULES)"
	[ -r "$OBJ" ] || die "DEMO_OBJ=$OBJ is not readable"
else
	[ -x "$IPT2BPF" ] || die "$IPT2BPF not built: run 'make' (or 'make demo')"
	mkdir -p "$(dirname "$OBJ")"
	rm -f "$OBJ"
	echo
	show "$IPT2BPF" "$RULES" -o "$OBJ" || die "ipt2bpf could not compile $RULES"
	echo
	printf '$ %s\n' "$IPT2BPF $RULES --dump-ir | head"
	"$IPT2BPF" "$RULES" --dump-ir | head
fi
echo
show ls -l "$OBJ"
if command -v llvm-objdump >/dev/null 2>&1; then
	echo
	# Section names are what tc, ip and bpftool select programs by.
	printf '$ llvm-objdump -h %s | grep -E %s\n' "$OBJ" "'Idx|classifier|tc|xdp|maps'"
	llvm-objdump -h "$OBJ" | grep -E 'Idx|classifier|tc|xdp|maps' || true
fi

# ---------------------------------------------------------------- namespaces
bold "2. A server and a client namespace, joined by a veth pair"
ip netns add "$SRV_NS" || die "ip netns add failed"
ip netns add "$CLI_NS" || die "ip netns add failed"
ip link add "$SRV_IF" netns "$SRV_NS" type veth peer name "$CLI_IF" netns "$CLI_NS" ||
	die "cannot create the veth pair (CONFIG_VETH?)"
in_srv ip link set lo up
in_srv ip addr add "$SRV_IP/24" dev "$SRV_IF"
in_srv ip link set "$SRV_IF" up
in_cli ip link set lo up
in_cli ip addr add "$CLIENT_IP/24" dev "$CLI_IF"
in_cli ip addr add "$ADMIN_IP/24" dev "$CLI_IF"
in_cli ip link set "$CLI_IF" up
echo "server  $SRV_NS: $SRV_IF $SRV_IP/24"
echo "client  $CLI_NS: $CLI_IF $CLIENT_IP/24 (ordinary client), $ADMIN_IP/24 (admin subnet)"

# Services on the server: a tiny HTTP responder, an SSH-like banner on 22, and
# a service on 8080 that the rule set does not open.  socat forks a shell per
# connection; the HTTP one reads the request up to its blank line first.
# Started with `ip netns exec` directly (not through a function) so that $! is
# socat itself: `ip netns exec` execs its command.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ipt2bpf-demo.XXXXXX") || die "mktemp failed"
cat >"$tmp/http.sh" <<'EOF_HTTP'
#!/bin/sh
sed -n '/^\r*$/q'
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from the ipt2bpf demo\r\n'
EOF_HTTP
ip netns exec "$SRV_NS" socat -T 5 TCP-LISTEN:80,reuseaddr,fork EXEC:"sh $tmp/http.sh" \
	</dev/null >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$SRV_NS" socat -T 5 TCP-LISTEN:22,reuseaddr,fork SYSTEM:'echo SSH-2.0-ipt2bpf-demo' \
	</dev/null >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$SRV_NS" socat -T 5 TCP-LISTEN:8080,reuseaddr,fork SYSTEM:'echo not-for-you' \
	</dev/null >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	[ "$(in_srv ss -Hltn 'sport = :80 or sport = :22 or sport = :8080' | wc -l)" -ge 3 ] && break
	sleep 0.1
done
[ "$(in_srv ss -Hltn 'sport = :80 or sport = :22 or sport = :8080' | wc -l)" -ge 3 ] ||
	die "the test services did not start (socat)"

# Without a filter everything must get through, or the checks below prove nothing.
in_cli ping -q -c 1 -W 2 "$SRV_IP" >/dev/null || die "no connectivity before attaching (setup)"
echo "baseline: the client reaches the server with no filter attached"

# ---------------------------------------------------------------- attach
bold "3. Attach with stock tc: 'classifier' at ingress, 'tc' at egress"
srv_show tc qdisc add dev "$SRV_IF" clsact || die "tc qdisc add clsact failed"
srv_show tc filter add dev "$SRV_IF" ingress bpf direct-action obj "$OBJ" sec classifier ||
	die "tc could not attach section 'classifier' of $OBJ at ingress"
srv_show tc filter add dev "$SRV_IF" egress bpf direct-action obj "$OBJ" sec tc ||
	die "tc could not attach section 'tc' of $OBJ at egress"
echo
srv_show tc filter show dev "$SRV_IF" ingress
srv_show tc filter show dev "$SRV_IF" egress

prog_ids=$(
	{
		in_srv tc filter show dev "$SRV_IF" ingress
		in_srv tc filter show dev "$SRV_IF" egress
	} | grep -o ' id [0-9]*' | awk '{ print $2 }' | sort -un
)
[ -n "$prog_ids" ] || die "no BPF program attached to $SRV_IF"

bold "4. The programs and their maps (bpftool)"
map_ids=$(
	for id in $prog_ids; do
		bpftool -j prog show id "$id" | jq -r '.map_ids[]?' 2>/dev/null
	done | sort -un
)
for id in $prog_ids; do
	show bpftool prog show id "$id"
done
echo
if [ -z "$map_ids" ]; then
	echo "(the programs use no maps)"
fi
for id in $map_ids; do
	show bpftool map show id "$id"
done
echo "(tc loads the object once per attach: ingress and egress each get their own maps)"

# ---------------------------------------------------------------- traffic
bold "5. Real traffic from the client"
results=()
npass=0
nfail=0
check() { # check "description" expected(pass|drop) command...
	local what=$1 want=$2 got
	shift 2
	if "$@"; then got=pass; else got=drop; fi
	if [ "$got" = "$want" ]; then
		results+=("PASS  $what")
		npass=$((npass + 1))
		printf 'PASS  %s\n' "$what"
	else
		results+=("FAIL  $what (expected $want, got $got)")
		nfail=$((nfail + 1))
		printf 'FAIL  %s (expected %s, got %s)\n' "$what" "$want" "$got"
	fi
}

ping_from() {
	in_cli ping -q -c 1 -W 1 -I "$1" "$SRV_IP" >/dev/null 2>&1
}
http_from() {
	local out
	out=$(printf 'GET / HTTP/1.0\r\nHost: demo\r\n\r\n' |
		in_cli timeout 5 socat -t 2 -T 3 - "TCP:$SRV_IP:80,bind=$1,connect-timeout=1" 2>/dev/null)
	[ -n "$out" ] && printf '      %s\n' "$(printf '%s' "$out" | head -n 1 | tr -d '\r')"
	grep -q '200 OK' <<<"$out"
}
# Connects with a 1 s timeout: a dropped SYN times out, and the banner proves a connection.
banner_from() { # banner_from SRC PORT EXPECTED
	local out
	out=$(in_cli timeout 4 socat -T 2 -u "TCP:$SRV_IP:$2,bind=$1,connect-timeout=1" - \
		2>/dev/null)
	grep -q "$3" <<<"$out"
}

check "ping $SRV_IP from $CLIENT_IP (ICMP echo rule)" pass ping_from "$CLIENT_IP"
check "HTTP GET :80 from $CLIENT_IP (multiport 80,443)" pass http_from "$CLIENT_IP"
check "SSH :22 from $CLIENT_IP dropped (not in admin subnet)" drop \
	banner_from "$CLIENT_IP" 22 SSH-2.0
check "SSH :22 from $ADMIN_IP accepted (ssh-in: admin subnet)" pass \
	banner_from "$ADMIN_IP" 22 SSH-2.0
check "TCP :8080 from $CLIENT_IP dropped (INPUT policy DROP)" drop \
	banner_from "$CLIENT_IP" 8080 not-for-you

# ---------------------------------------------------------------- counters
bold "6. Counters after the traffic"
# Per-CPU counter arrays of {u64 packets, u64 bytes} indexed by IR entry
# (see --dump-ir); print the entries that counted something.
# shellcheck disable=SC2016 # jq program, not shell
jq_sum='
def le: reverse | map(ltrimstr("0x") | ascii_downcase | explode
	| map(if . >= 97 then . - 87 else . - 48 end) | .[0] * 16 + .[1])
	| reduce .[] as $b (0; . * 256 + $b);
.[] | { k: (.key | le),
	p: ([.values[].value[0:8] | le] | add),
	b: ([.values[].value[8:16] | le] | add) }
| select(.p > 0) | "  entry \(.k): \(.p) packets, \(.b) bytes"'
shown=0
for id in $map_ids; do
	info=$(bpftool -j map show id "$id")
	[ "$(jq -r .type <<<"$info")" = percpu_array ] || continue
	[ "$(jq -r .bytes_value <<<"$info")" = 16 ] || continue
	echo "map $id ($(jq -r '.name // "?"' <<<"$info")):"
	bpftool -j map dump id "$id" | jq -r "$jq_sum" 2>/dev/null || echo "  (could not decode)"
	shown=1
done
[ $shown -eq 1 ] || echo "(no per-CPU counter map found among the programs' maps)"

# ---------------------------------------------------------------- summary
bold "Summary"
printf '%s\n' "${results[@]}"
echo
if [ $nfail -eq 0 ]; then
	echo "demo: PASS ($npass/$((npass + nfail)) checks)"
	exit 0
fi
echo "demo: FAIL ($nfail of $((npass + nfail)) checks failed)"
exit 1
