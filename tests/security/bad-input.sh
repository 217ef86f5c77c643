#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Bad input around labels: malformed policies (with their line numbers),
# unknown domains, cgroups that are not there, SELinux contexts the kernel
# (with SELinux) would refuse or that exceed its 255-character limit,
# missing or malformed sinks, masks too small for the labels, options where
# they do not belong.  Each case: the exit status and a part of the message.
#
# Environment: IPT2BPF (default $O/ipt2bpf).  Needs root (a scratch
# network namespace for `load`).  Last line: "security-bad-input: N passed,
# N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/harness.sh
. "$here/../lib/harness.sh"
h_init security-bad-input

h_workdir ipt2bpf-secbad
NS=secb-$$
# shellcheck disable=SC2016 # expanded at exit
h_at_exit 'h_ns_del "$NS"; rmdir /sys/fs/bpf/ipt2bpf 2>/dev/null'
h_ns_add "$NS" || exit 1
h_bpffs

# expect NAME STATUS TEXT CMD...: CMD exits with STATUS and its stderr has TEXT.
expect() {
	local name=$1 want=$2 text=$3 rc
	shift 3
	"$@" >"$work/out" 2>"$work/err" </dev/null
	rc=$?
	if [ "$rc" = "$want" ] && grep -qF -- "$text" "$work/err"; then
		ok "$name"
	else
		bad "$name: status $rc (want $want), stderr: $(head -c 400 "$work/err")"
	fi
}
# shellcheck disable=SC2317 # called through expect
load() { h_in_ns "$NS" "$IPT2BPF" load "$@"; }

rules() { # rules FILE RULE...: a security table with these rules
	local f=$1
	shift
	{
		printf '*security\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n'
		printf '%s\n' "$@"
		printf 'COMMIT\n'
	} >"$f"
}
rules "$work/ok.v4" "-A INPUT -p tcp --dport 80 -j SECMARK --selctx system_u:object_r:http_server_packet_t:s0"
policy() { # policy NAME LINES...
	printf '%s\n' "${@:2}" >"$work/$1.policy"
}

# ---------------------------------------------------------------- policies (load)

policy p1 "# line 1" "domain httpd_t" ""
expect "policy: domain without a path" 2 "p1.policy:2: domain httpd_t: missing CGROUP-PATH" \
	load "$work/ok.v4" --policy "$work/p1.policy"
policy p2 "" "" "allow firefox_t http_client_packet_t:packet { send };"
expect "policy: unknown domain, with its line" 2 "p2.policy:3: allow: unknown domain 'firefox_t'" \
	load "$work/ok.v4" --policy "$work/p2.policy"
policy p3 "allow unconfined_t unlabeled_t:packet { send recv write };"
expect "policy: unknown permission" 2 "p3.policy:1: allow: unknown permission 'write'" \
	load "$work/ok.v4" --policy "$work/p3.policy"
policy p4 "allow unconfined_t unlabeled_t:tcp_socket { send };"
expect "policy: class other than packet" 2 "p4.policy:1: allow: class 'tcp_socket' is not supported" \
	load "$work/ok.v4" --policy "$work/p4.policy"
policy p5 "" "allow unconfined_t unlabeled_t:packet { send" "  recv ;"
expect "policy: set not closed" 2 "p5.policy:3: allow: set of permission not closed" \
	load "$work/ok.v4" --policy "$work/p5.policy"
policy p6 "permit unconfined_t unlabeled_t:packet send;"
expect "policy: unknown statement" 2 "p6.policy:1: unknown statement 'permit'" \
	load "$work/ok.v4" --policy "$work/p6.policy"
policy p7 "domain httpd_t /sys/fs/cgroup/ipt2bpf-no-such-cgroup-$$"
expect "policy: missing cgroup" 2 "p7.policy:1: domain httpd_t: /sys/fs/cgroup/ipt2bpf-no-such-cgroup-$$: No such file or directory" \
	load "$work/ok.v4" --policy "$work/p7.policy"
policy p8 "domain httpd_t /tmp"
expect "policy: a directory that is not a cgroup v2 one" 2 "p8.policy:1: domain httpd_t: /tmp is not a cgroup v2 directory" \
	load "$work/ok.v4" --policy "$work/p8.policy"
policy p9 "allow unconfined_t unlabeled_t:packet send"
expect "policy: missing ';'" 2 "p9.policy:1: allow statement not ended with ';'" \
	load "$work/ok.v4" --policy "$work/p9.policy"
expect "policy: no such file" 2 "no-such.policy: No such file or directory" \
	load "$work/ok.v4" --policy "$work/no-such.policy"
expect "load: --policy with --no-policy" 2 "contradict" \
	load "$work/ok.v4" --policy "$work/p9.policy" --no-policy

# ---------------------------------------------------------------- contexts

rules "$work/c1.v4" "-A INPUT -j SECMARK --selctx httpd_t"
expect "context: not user:role:type" 1 "security/INPUT#1: target 'SECMARK': invalid security context 'httpd_t'" \
	"$IPT2BPF" "$work/c1.v4" -o "$work/x.o" --label-sink none
rules "$work/c2.v4" "-A OUTPUT -p udp -j SECMARK --selctx system_u:object_r:9lives_t"
expect "context: type not an identifier" 1 "security/OUTPUT#1: target 'SECMARK': invalid security context 'system_u:object_r:9lives_t': the type field '9lives_t'" \
	"$IPT2BPF" "$work/c2.v4" -o "$work/x.o" --label-sink none
long=system_u:object_r:t:s0$(printf 'c%.0s' $(seq 1 240))
rules "$work/c3.v4" "-A INPUT -j SECMARK --selctx $long"
expect "context: over 255 characters (iptables would cut it)" 2 "c3.v4:5: --selctx: a context of 262 characters; the kernel takes at most 255" \
	"$IPT2BPF" "$work/c3.v4" -o "$work/x.o" --label-sink none
# A blob whose context fills all 256 bytes without a NUL: what iptables never
# writes and the kernel would cut to 255 characters.  Refused.
ctx255=system_u:object_r:t:s0$(printf 'c%.0s' $(seq 1 233))
rules "$work/c4.v4" "-A INPUT -j SECMARK --selctx $ctx255"
mkdir -p "$work/blobs"
if "$IPT2BPF" "$work/c4.v4" --save-blobs "$work/blobs" 2>"$work/err"; then
	python3 - "$work/blobs/security.blob" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
i = b.index(b'system_u:object_r:t:s0')
end = b.index(b'\0', i)
assert end - i == 255, end - i
b[end] = ord('c')
open(p, 'wb').write(b)
PY
	expect "context: 256 bytes without a NUL (raw blob)" 1 "security context longer than 255 characters" \
		"$IPT2BPF" --blob "$work/blobs/security.blob" -o "$work/x.o" --label-sink none
else
	bad "context: cannot save the blob: $(cat "$work/err")"
fi

# ---------------------------------------------------------------- sinks

expect "sink: SECMARK with nowhere to go" 1 "security/INPUT#1: target 'SECMARK': the label would go nowhere" \
	"$IPT2BPF" "$work/ok.v4" -o "$work/x.o"
expect "sink: malformed --label-sink" 2 "--label-sink skb: expected mark:MASK or none" \
	"$IPT2BPF" "$work/ok.v4" -o "$work/x.o" --label-sink skb
expect "sink: mask bits not contiguous" 2 "the mask's bits must be contiguous" \
	"$IPT2BPF" "$work/ok.v4" -o "$work/x.o" --label-sink mark:0x0f0f
rules "$work/s3.v4" "-A INPUT -p tcp -j SECMARK --selctx u:r:a_t" "-A INPUT -p udp -j SECMARK --selctx u:r:b_t"
expect "sink: mask too small for the labels" 1 "label 2 (u:r:b_t) does not fit in the mark mask 0x100" \
	"$IPT2BPF" "$work/s3.v4" -o "$work/x.o" --label-sink mark:0x100
expect "sink: --policy on compile" 2 "--policy and --no-policy are for \`ipt2bpf load\`" \
	"$IPT2BPF" "$work/ok.v4" -o "$work/x.o" --policy "$work/p1.policy"
expect "sink: xdp mode" 1 "use --mode tc" \
	"$IPT2BPF" "$work/ok.v4" -o "$work/x.o" --mode xdp --label-sink mark:0xff00

# ---------------------------------------------------------------- tables

printf '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -j CONNSECMARK --save\nCOMMIT\n' >"$work/t1.v4"
expect "table: CONNSECMARK in filter" 2 "CONNSECMARK" "$IPT2BPF" "$work/t1.v4" -o "$work/x.o"

finish
