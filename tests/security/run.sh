#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/security/run.sh: the `security` step of scripts/check.sh.
#
#   e2e.sh        the reference scenario with real traffic, cgroups, the
#                 kiosk policy, forwarding and the SELinux mark bridge
#   diff.sh       the security table's traversal against the kernel's
#                 (SECMARK with a stand-in on the kernel side)
#   bad-input.sh  policies, contexts and sinks that must be refused,
#                 with the normal and (if built) the ASan/UBSan binary
#   the man page  doc/ipt2bpf-security.7 through groff and man warnings
#
# Environment: IPT2BPF, ASAN_BUILD (as check.sh sets them), SEC_DIFF_SEEDS
# (default 12).  Each part prints its own summary; the exit status is non-zero
# if any part failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rc=0

echo "--- tests/security/e2e.sh"
bash "$here/e2e.sh" || rc=1
echo "--- tests/security/diff.sh"
bash "$here/diff.sh" -s "${SEC_DIFF_SEEDS:-12}" || rc=1
echo "--- tests/security/bad-input.sh"
bash "$here/bad-input.sh" || rc=1
if [ -n "${ASAN_BUILD:-}" ] && [ -x "$ASAN_BUILD/ipt2bpf" ]; then
	echo "--- tests/security/bad-input.sh (ASan/UBSan)"
	IPT2BPF=$ASAN_BUILD/ipt2bpf ASAN_OPTIONS=${SAN_ASAN_OPTIONS:-detect_leaks=1} \
		UBSAN_OPTIONS=${SAN_UBSAN_OPTIONS:-halt_on_error=1} bash "$here/bad-input.sh" || rc=1
fi
echo "--- groff/man doc/ipt2bpf-security.7"
out=$(groff -ww -man -z "$root/doc/ipt2bpf-security.7" 2>&1)
out+=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
	man --warnings -E UTF-8 -l -Tutf8 -Z "$root/doc/ipt2bpf-security.7" 2>&1 >/dev/null)
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	rc=1
else
	echo "man page: clean"
fi
exit $rc
