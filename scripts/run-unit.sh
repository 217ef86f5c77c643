#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/run-unit.sh [BUILD_DIR]: run every BUILD_DIR/tests/test_* cmocka
# binary (default build/).  cmocka prints each test and its own summary;
# this prints one line per binary and exits non-zero if any failed or if
# there is no test binary at all (a unit step that ran nothing is a failure).
#
# Environment: UNIT_TIMEOUT (seconds per binary, default 300).  Sanitizer
# options (ASAN_OPTIONS, UBSAN_OPTIONS) are passed through unchanged.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
dir=${1:-build}
timeout_s=${UNIT_TIMEOUT:-300}

bins=()
for f in "$dir"/tests/test_*; do
	[ -f "$f" ] && [ -x "$f" ] && bins+=("$f")
done
if [ ${#bins[@]} -eq 0 ]; then
	echo "unit: missing: no test binaries in $dir/tests/ (did 'make O=$dir unit-bins' run?)" >&2
	exit 1
fi

pass=0
fail=0
failed=()
for bin in "${bins[@]}"; do
	name=${bin##*/}
	echo "--- $name"
	timeout -k 5 "$timeout_s" "$bin" </dev/null
	rc=$?
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
	else
		[ $rc -eq 124 ] && echo "unit: $name: timed out after ${timeout_s}s" >&2
		echo "unit: $name: FAILED (exit $rc)" >&2
		fail=$((fail + 1))
		failed+=("$name")
	fi
done

[ $fail -gt 0 ] && echo "unit: failed binaries: ${failed[*]}"
echo "unit binaries: $pass passed, $fail failed"
[ $fail -eq 0 ]
