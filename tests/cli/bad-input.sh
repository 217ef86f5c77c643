#!/usr/bin/env bash
# Bad input must give a clear error and a non-zero exit, never a crash.
# Run with IPT2BPF=build-asan/ipt2bpf to do the same under ASan/UBSan.
set -u
cd "$(dirname "$0")/../.."
IPT2BPF=${IPT2BPF:-build/ipt2bpf}
BLOBMUT=${BLOBMUT:-build/tests/blobmut}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# expect NAME EXPECTED_RC REGEX -- CMD...: EXPECTED_RC "nz" means any clean non-zero exit.
expect() {
	local name=$1 want=$2 re=$3 rc
	shift 4
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ge 124 ]; then
		echo "FAIL $name: crashed or killed (exit $rc)"; sed 's/^/    /' "$tmp/err" | tail -20
		fail=$((fail + 1)); return
	fi
	if { [ "$want" = nz ] && [ "$rc" -eq 0 ]; } || { [ "$want" != nz ] && [ "$rc" -ne "$want" ]; }; then
		echo "FAIL $name: exit $rc, wanted $want"; sed 's/^/    /' "$tmp/err" | tail -5
		fail=$((fail + 1)); return
	fi
	if [ -n "$re" ] && ! grep -Eq -- "$re" "$tmp/err"; then
		echo "FAIL $name: stderr does not match /$re/:"; sed 's/^/    /' "$tmp/err" | tail -5
		fail=$((fail + 1)); return
	fi
	pass=$((pass + 1))
}

# A crash is the only wrong answer for a randomly damaged blob: it may still be valid.
no_crash() {
	local name=$1 rc
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ge 124 ] || { [ "$rc" -ne 0 ] && ! grep -q '^ipt2bpf: ' "$tmp/err"; }; then
		echo "FAIL $name: exit $rc"; sed 's/^/    /' "$tmp/err" | tail -10
		fail=$((fail + 1)); return
	fi
	pass=$((pass + 1))
}

cat >"$tmp/good.v4" <<'R'
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ssh-in - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ssh-in
-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
-A ssh-in -s 10.0.0.0/8 -j ACCEPT
-A ssh-in -j RETURN
COMMIT
R
printf '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:a - [0:0]\n:b - [0:0]\n-A INPUT -j a\n-A a -j b\n-A b -j a\nCOMMIT\n' >"$tmp/loop.v4"
printf 'this is not\nan iptables-save file\n' >"$tmp/garbage.v4"
printf '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j NO_SUCH_TARGET\nCOMMIT\n' >"$tmp/badtarget.v4"
printf '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n' >"$tmp/nocommit.v4"
printf '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n' >"$tmp/nat.v4"
: >"$tmp/empty.v4"

expect "usage: no arguments" 2 "give exactly one" -- "$IPT2BPF"
expect "usage: unknown option" 2 "Try" -- "$IPT2BPF" --frobnicate "$tmp/good.v4" -o "$tmp/x.o"
expect "usage: bad mode" 2 "unknown mode" -- "$IPT2BPF" "$tmp/good.v4" --mode tcx -o "$tmp/x.o"
expect "usage: no output" 2 "no output" -- "$IPT2BPF" "$tmp/good.v4"
expect "missing rules file" nz "ipt2bpf: .*(No such file|rejected)" -- "$IPT2BPF" "$tmp/nope.v4" -o "$tmp/x.o"
expect "garbage rules file" 2 "ipt2bpf: " -- "$IPT2BPF" "$tmp/garbage.v4" -o "$tmp/x.o"
expect "unknown target" 2 "ipt2bpf: " -- "$IPT2BPF" "$tmp/badtarget.v4" -o "$tmp/x.o"
expect "missing COMMIT" 2 "ipt2bpf: " -- "$IPT2BPF" "$tmp/nocommit.v4" -o "$tmp/x.o"
expect "empty rules file" 2 "no filter or security table" -- "$IPT2BPF" "$tmp/empty.v4" --dump-ir
expect "unsupported table" 1 "table 'nat' is not supported" -- "$IPT2BPF" "$tmp/nat.v4" --dump-ir
expect "chain loop (kernel: ELOOP)" 2 "[Ll]oop" -- "$IPT2BPF" "$tmp/loop.v4" --dump-ir
expect "trace: bad chain" 2 "unknown chain" -- "$IPT2BPF" trace "$tmp/good.v4" --pcap "$tmp/good.v4" --chain PREROUTING
expect "trace: not a pcap" 2 "not a pcap" -- "$IPT2BPF" trace "$tmp/good.v4" --pcap "$tmp/good.v4"

# Every subcommand main.c dispatches is listed in `ipt2bpf --help`, in the man
# page, and answers its own --help with a usage and exit 0.
"$IPT2BPF" --help >"$tmp/help" 2>&1 || { echo "FAIL --help: exit $?"; fail=$((fail + 1)); }
subs=$(grep -o '{"[a-z-]*", cli_[a-z_]*}' cli/main.c | sed 's/{"\([a-z-]*\)".*/\1/' | sort -u)
[ -n "$subs" ] || { echo "FAIL no subcommands found in cli/main.c"; fail=$((fail + 1)); }
for sub in $subs; do
	if ! grep -Eq "^( *Usage:)? *ipt2bpf $sub( |\$)" "$tmp/help"; then
		echo "FAIL --help does not list the subcommand '$sub'"; fail=$((fail + 1)); continue
	fi
	if ! sed 's/\\-/-/g' doc/ipt2bpf.8 | grep -Eq "^\.SS (.*[ ,])?$sub(,|\$)"; then
		echo "FAIL doc/ipt2bpf.8 does not document the subcommand '$sub'"; fail=$((fail + 1)); continue
	fi
	"$IPT2BPF" "$sub" --help >"$tmp/out" 2>&1; rc=$?
	if [ "$rc" -ne 0 ] || ! grep -q "Usage: .*$sub" "$tmp/out"; then
		echo "FAIL $sub --help: exit $rc"; sed 's/^/    /' "$tmp/out" | head -3; fail=$((fail + 1)); continue
	fi
	pass=$((pass + 1))
done

# Blobs: a good one first, then damaged copies.
if "$IPT2BPF" "$tmp/good.v4" --save-blobs "$tmp" >/dev/null 2>"$tmp/err" && [ -s "$tmp/filter.blob" ]; then
	pass=$((pass + 1))
	expect "good blob decodes" 0 "" -- "$IPT2BPF" --blob "$tmp/filter.blob" --dump-ir
	size=$(stat -c %s "$tmp/filter.blob")
	for n in 0 1 40 95 96 100 200 $((size / 2)) $((size - 1)); do
		"$BLOBMUT" "$tmp/filter.blob" "$tmp/t.blob" truncate "$n"
		expect "blob truncated to $n bytes" 2 "ipt2bpf: " -- "$IPT2BPF" --blob "$tmp/t.blob" --dump-ir
	done
	# struct ipt_replace: size at 40, hook_entry[] at 44, underflow[] at 64; entries at 96,
	# each ipt_entry has target_offset at +88 and next_offset at +90.
	"$BLOBMUT" "$tmp/filter.blob" "$tmp/t.blob" set32 $((96 + 88)) 0x00000070
	expect "next_offset 0" 2 "ipt2bpf: " -- "$IPT2BPF" --blob "$tmp/t.blob" --dump-ir
	"$BLOBMUT" "$tmp/filter.blob" "$tmp/t.blob" set32 $((44 + 4)) 3
	expect "misaligned hook entry" 2 "ipt2bpf: " -- "$IPT2BPF" --blob "$tmp/t.blob" --dump-ir
	"$BLOBMUT" "$tmp/filter.blob" "$tmp/t.blob" set32 $((64 + 4)) 0
	expect "conditional underflow" 2 "ipt2bpf: " -- "$IPT2BPF" --blob "$tmp/t.blob" --dump-ir
	"$BLOBMUT" "$tmp/filter.blob" "$tmp/t.blob" set32 40 $((size * 4))
	expect "size larger than the blob" 2 "ipt2bpf: " -- "$IPT2BPF" --blob "$tmp/t.blob" --dump-ir
	for seed in $(seq 1 300); do
		"$BLOBMUT" "$tmp/filter.blob" "$tmp/t.blob" flip "$seed" $((seed % 7 + 1))
		no_crash "random damage seed $seed" "$IPT2BPF" --blob "$tmp/t.blob" --dump-ir
	done
else
	echo "FAIL could not capture a blob from good.v4:"; sed 's/^/    /' "$tmp/err"
	fail=$((fail + 1))
fi

echo "bad-input: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
