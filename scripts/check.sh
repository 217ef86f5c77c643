#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/check.sh: the whole test run (`make check`, which installs missing
# Debian packages first; CI runs it through .ci/run).
#
# Every step runs, in order, under a header and with its own PASS/FAIL, even
# after an earlier step failed; a step whose test script does not exist yet
# FAILS as "missing".  The last line is exactly "check: N passed, N failed"
# (N counts steps) and the exit status is non-zero if any step failed.
#
# Environment:
#   O             build directory (default build); ASAN_O (default build-asan)
#   JOBS          parallel make jobs (default: nproc)
#   FUZZ_SECONDS  seconds per fuzz target (default 30)
#   CHECK_STEPS   run only these steps, e.g. CHECK_STEPS="build unit"
# Test scripts get IPT2BPF (the compiler binary), IPT2BPF_BUILD (the build
# directory, absolute), BLOBMUT and O in their environment, run from the
# repository root with no standard input, and run as root.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export O=${O:-build}
export ASAN_O=${ASAN_O:-build-asan}
export JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
export FUZZ_SECONDS=${FUZZ_SECONDS:-30}
case $O in
/*) IPT2BPF_BUILD=$O ;;
*) IPT2BPF_BUILD=$ROOT/$O ;;
esac
case $ASAN_O in
/*) ASAN_BUILD=$ASAN_O ;;
*) ASAN_BUILD=$ROOT/$ASAN_O ;;
esac
export IPT2BPF_BUILD ASAN_BUILD ROOT
export IPT2BPF=$IPT2BPF_BUILD/ipt2bpf
export BLOBMUT=$IPT2BPF_BUILD/tests/blobmut

# Sanitizer settings for the ASan/UBSan build: leaks are errors, the first
# UB report stops the program, and exit code 134 marks a sanitizer failure
# (test scripts treat >= 124 as a crash).
export SAN_ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=134:strict_string_checks=1"
export SAN_UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=134"

# ---------------------------------------------------------------- steps
# A table drives the run: "name|function|timeout seconds|description".
STEPS=(
	"build|step_build|900|normal build (make all tools unit-bins)"
	"kconfig|step_kconfig|60|kernel configuration (make kconfig-check)"
	"unit|step_unit|600|unit tests (cmocka)"
	"unit-asan|step_unit_asan|1500|unit tests under ASan/UBSan (O=$ASAN_O SAN=1)"
	"capture|step_capture|900|capture vs kernel blobs (tests/capture/compare.sh)"
	"elf|step_elf|900|ELF objects with stock tools (tests/elf/stock-tools.sh)"
	"diff|step_diff|2400|differential test against the kernel (tests/diff/run.sh)"
	"opt|step_opt|900|optimiser: 1500-rule sets vs the kernel and vs straight-line code (tests/opt/run.sh)"
	"corpus|step_corpus|1500|iptables extension corpus (tests/corpus/run.sh)"
	"ext|step_ext|900|extension matches/targets vs the kernel, per option edge (tests/diff/ext.sh)"
	"dumps|step_dumps|300|real-world iptables-save dumps: compile or named refusals (tests/corpus/dumps.sh)"
	"runtime|step_runtime|900|live runtime: load/replace/unload vs iptables-legacy (tests/runtime/live.sh)"
	"atomic|step_atomic|600|atomic replacement under traffic, tc and xdp (tests/runtime/atomic.sh)"
	"ct|step_ct|600|connection tracking vs the kernel's conntrack, live table (tests/ct/run.sh, live.sh)"
	"limits|step_limits|600|limit, hashlimit, recent, statistic, quota, time vs the kernel (tests/limits/run.sh)"
	"logrej|step_logrej|600|LOG lines and REJECT replies vs the kernel (tests/logrej/run.sh)"
	"owner|step_owner|300|-m owner vs the kernel's xt_owner, real traffic by several uids/gids (tests/owner/run.sh)"
	"cgroup|step_cgroup|120|-m cgroup vs the kernel's xt_cgroup, real traffic from cgroup v2/net_cls groups (tests/cgroup/run.sh)"
	"dropin|step_dropin|900|iptables drop-in: iptables-bpf + ipt2bpf-umh vs iptables-legacy (tests/dropin/run.sh)"
	"security|step_security|900|SECMARK labels: kiosk scenario, security table vs the kernel, bad input (tests/security/run.sh)"
	"cli|step_cli|900|bad-input CLI tests (tests/cli/*.sh), normal and ASan"
	"fuzz|step_fuzz|1200|fuzzing, ${FUZZ_SECONDS}s per target (make fuzz)"
	"qemu|step_qemu|1800|Debian 6.1 kernel in QEMU: verify, test-run, traffic, unit tests (scripts/qemu-check 6.1, qemu-run)"
	"lint|step_lint|300|man page and shell script lint"
)

# Runs a test script that must exist: a missing one is a failure (exit 127).
run_script() {
	local s=$1
	shift
	if [ ! -f "$s" ]; then
		echo "check: MISSING: $s does not exist (yet): this step cannot pass without it"
		return 127
	fi
	bash "$s" "$@"
}

step_build() {
	make --no-print-directory -j"$JOBS" O="$O" all tools unit-bins
}

step_kconfig() {
	# Exit 1 only for missing required options; optional ones only warn.
	make --no-print-directory kconfig-check
}

step_unit() {
	bash scripts/run-unit.sh "$O"
}

step_unit_asan() {
	make --no-print-directory -j"$JOBS" O="$ASAN_O" SAN=1 all unit-bins || return 1
	ASAN_OPTIONS=$SAN_ASAN_OPTIONS UBSAN_OPTIONS=$SAN_UBSAN_OPTIONS \
		bash scripts/run-unit.sh "$ASAN_O"
}

step_capture() { run_script tests/capture/compare.sh; }
step_elf() { run_script tests/elf/stock-tools.sh; }
step_diff() { run_script tests/diff/run.sh; }
step_opt() { run_script tests/opt/run.sh; }
step_corpus() { run_script tests/corpus/run.sh; }
step_ext() { run_script tests/diff/ext.sh; }
step_dumps() { run_script tests/corpus/dumps.sh; }
step_runtime() { run_script tests/runtime/live.sh; }
step_atomic() { run_script tests/runtime/atomic.sh; }
step_dropin() { run_script tests/dropin/run.sh; }
step_logrej() { run_script tests/logrej/run.sh; }
step_owner() { run_script tests/owner/run.sh; }
step_cgroup() { run_script tests/cgroup/run.sh; }
step_limits() { run_script tests/limits/run.sh; }
step_security() { run_script tests/security/run.sh; }
step_ct() { run_script tests/ct/run.sh && run_script tests/ct/live.sh; }

# The host's conntrack tests are the ct step's: the qemu step runs them in the guest only.
# The conntrack scripts replay flows in real time, which TCG cannot keep up
# with: the guest runs them only with `make qemu-check` (they time out there).
# Then the unit tests that load and run programs (conntrack, SECMARK, optimiser,
# LOG/REJECT, NFLOG, classic BPF; owner, which 6.1 must refuse for want of
# bpf_rdonly_cast)
# on the 6.1 verifier, one boot each.
step_qemu() {
	local t rc=0
	QEMU_TIMEOUT=900 QEMU_HOST_PARTS="verify diff traffic" \
		QEMU_GUEST_PARTS="verify diff traffic" run_script scripts/qemu-check 6.1 || rc=1
	for t in test_gen test_ct test_secpolicy test_opt test_logrej test_nflog test_owner test_bpf; do
		echo "--- scripts/qemu-run $O/tests/$t (Debian 6.1)"
		# qemu-run's own status is QEMU's: the test's is on the console.
		scripts/qemu-run "$O/tests/$t" >"$O/qemu-$t.log" 2>&1
		grep -q '^TEST-EXIT 0' "$O/qemu-$t.log" || {
			tail -20 "$O/qemu-$t.log"
			rc=1
		}
		grep -E '^\[  (PASSED|FAILED)' "$O/qemu-$t.log" || true
	done
	return $rc
}

step_cli() {
	local s rc=0 scripts=()
	for s in tests/cli/*.sh; do
		[ -f "$s" ] && scripts+=("$s")
	done
	if [ ${#scripts[@]} -eq 0 ]; then
		echo "check: MISSING: no tests/cli/*.sh scripts"
		return 127
	fi
	for s in "${scripts[@]}"; do
		echo "--- $s"
		bash "$s" || rc=1
	done
	# The same bad input against the sanitized binary: a clean error
	# message is not enough if the error path leaks or reads out of bounds.
	if [ -x "$ASAN_BUILD/ipt2bpf" ]; then
		for s in "${scripts[@]}"; do
			echo "--- $s (ASan/UBSan: IPT2BPF=$ASAN_O/ipt2bpf)"
			IPT2BPF=$ASAN_BUILD/ipt2bpf ASAN_OPTIONS=$SAN_ASAN_OPTIONS \
				UBSAN_OPTIONS=$SAN_UBSAN_OPTIONS bash "$s" || rc=1
		done
	else
		echo "check: no $ASAN_O/ipt2bpf (unit-asan step failed?): ASan pass not run"
		rc=1
	fi
	return $rc
}

step_fuzz() {
	make --no-print-directory O="$O" fuzz FUZZ_SECONDS="$FUZZ_SECONDS"
}

step_lint() {
	local rc=0 out
	local page
	if [ ! -f doc/ipt2bpf.8 ]; then
		echo "check: MISSING: doc/ipt2bpf.8"
		return 127
	fi
	# groff and man(1) print warnings but still exit 0: any output fails.
	for page in doc/*.[1-8]; do
		echo "--- groff -ww -man -z $page"
		out=$(groff -ww -man -z "$page" 2>&1) || rc=1
		[ -z "$out" ] || {
			printf '%s\n' "$out"
			rc=1
		}
		echo "--- man --warnings -l $page"
		out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
			man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null) || rc=1
		[ -z "$out" ] || {
			printf '%s\n' "$out"
			rc=1
		}
	done
	echo "--- shellcheck scripts/*.sh scripts/qemu-* scripts/iptables-bpf .ci/run"
	if command -v shellcheck >/dev/null 2>&1; then
		shellcheck scripts/*.sh scripts/qemu-* scripts/iptables-bpf .ci/run || rc=1
	else
		echo "check: shellcheck not installed (make deps)"
		rc=1
	fi
	[ $rc -eq 0 ] && echo "lint: clean"
	return $rc
}

# ---------------------------------------------------------------- setup
# Kernel state the tests need.  Failures here are reported, not fatal: the
# steps that need the missing piece fail on their own, with their context.
setup() {
	local m
	echo "==== setup"
	if [ "$(id -u)" -ne 0 ]; then
		echo "check: WARNING: not root: the kernel tests (namespaces, bpf) will fail"
		return 0
	fi
	if ! grep -q ' /sys/fs/bpf bpf ' /proc/mounts; then
		if mount -t bpf bpf /sys/fs/bpf; then
			echo "mounted bpffs on /sys/fs/bpf"
		else
			echo "check: WARNING: cannot mount bpffs on /sys/fs/bpf"
		fi
	fi
	if [ ! -e /proc/modules ]; then
		echo "kernel without loadable modules: netfilter tables and veth must be built in"
	else
		for m in ip_tables iptable_filter iptable_mangle iptable_raw iptable_security veth; do
			modprobe -q "$m" 2>/dev/null || [ -d "/sys/module/$m" ] ||
				echo "check: WARNING: modprobe $m failed (not built in either?)"
		done
	fi
	echo "kernel $(uname -r), $(nproc) CPUs, O=$O, ASAN_O=$ASAN_O"
}

export -f step_dropin
export -f step_security
export -f step_owner
export -f step_cgroup
export -f step_ext step_dumps
export -f step_ct step_opt
export -f run_script step_build step_kconfig step_unit step_unit_asan step_capture step_elf \
	step_diff step_corpus step_runtime step_atomic step_cli step_fuzz step_lint step_qemu step_limits \
	step_logrej

# ---------------------------------------------------------------- run
selected=()
for entry in "${STEPS[@]}"; do
	name=${entry%%|*}
	# whole names only: CHECK_STEPS=unit-asan is not "unit"
	if [ -n "${CHECK_STEPS:-}" ] && [[ " ${CHECK_STEPS//,/ } " != *" $name "* ]]; then
		continue
	fi
	selected+=("$entry")
done
if [ ${#selected[@]} -eq 0 ]; then
	echo "check: no step selected (CHECK_STEPS=${CHECK_STEPS:-})" >&2
	echo "check: 0 passed, 1 failed"
	exit 1
fi

setup

total=${#selected[@]}
passed=0
failed=0
summary=()
start_all=$SECONDS
i=0
for entry in "${selected[@]}"; do
	i=$((i + 1))
	IFS='|' read -r name fn limit desc <<<"$entry"
	echo
	echo "==== [$i/$total] $name: $desc"
	start=$SECONDS
	# timeout signals the step's whole process group when the limit is hit.
	timeout -k 30 "$limit" bash -c "$fn" </dev/null 2>&1
	rc=$?
	secs=$((SECONDS - start))
	case $rc in
	0) verdict=PASS note= ;;
	124 | 137) verdict=FAIL note=" (timed out after ${limit}s)" ;;
	127) verdict=FAIL note=" (missing)" ;;
	*) verdict=FAIL note=" (exit $rc)" ;;
	esac
	if [ $verdict = PASS ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
	echo "---- [$i/$total] $name: $verdict$note, ${secs}s"
	summary+=("$(printf '%-4s  %-10s %4ss  %s%s' "$verdict" "$name" "$secs" "$desc" "$note")")
done

echo
echo "==== summary ($((SECONDS - start_all))s)"
printf '%s\n' "${summary[@]}"
echo "check: $passed passed, $failed failed"
[ $failed -eq 0 ]
