#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/fuzz.sh [SECONDS]: build every tests/fuzz/fuzz_*.c as a libFuzzer
# binary (clang -fsanitize=fuzzer,address,undefined) against the library
# sources (translator/*.c codegen/*.c; not cli/) and run each for SECONDS
# (default 60), one after the other.
#
# Outputs go under $O/fuzz/ (O defaults to build): obj/ and bin/, corpus/NAME/
# (grows from run to run) and artifacts/ (crash-*, leak-*, timeout-* inputs).
# Seeds are read from tests/fuzz/corpus/NAME/ and a dictionary from
# tests/fuzz/NAME.dict when they exist.  Exits non-zero on a build failure,
# a crash, or when there is no fuzz target at all.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
seconds=${1:-60}
O=${O:-build}
CLANG=${CLANG:-clang}
out=$O/fuzz

case $seconds in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac

targets=(tests/fuzz/fuzz_*.c)
if [ ! -e "${targets[0]}" ]; then
	echo "fuzz: missing: no tests/fuzz/fuzz_*.c fuzz targets" >&2
	exit 1
fi
if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "fuzz: $CLANG not found (make deps installs clang and libclang-rt-14-dev)" >&2
	exit 1
fi

# -Werror is left to the gcc build: clang warns about other things, and a
# warning must not stop the fuzzers from running.
san=("-fsanitize=address,undefined" -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
cflags=(-std=gnu17 -g -O1 -Wall -Wextra -D_GNU_SOURCE -I. "${san[@]}")
libs=(-lbpf -lelf -lz -lmnl)

mkdir -p "$out/obj" "$out/bin" "$out/artifacts" || exit 1

# Library objects: instrumented for coverage, without libFuzzer's main().
lib_srcs=(translator/*.c codegen/*.c)
lib_objs=()
for src in "${lib_srcs[@]}"; do
	[ -e "$src" ] || continue
	obj=$out/obj/${src%.c}.o
	lib_objs+=("$obj")
	[ "$obj" -nt "$src" ] && [ "$obj" -nt Makefile ] && ! find translator codegen \
		-name '*.h' -newer "$obj" | grep -q . && continue
	mkdir -p "$(dirname "$obj")"
	echo "  CC [fuzz] $src"
	if ! "$CLANG" "${cflags[@]}" -fsanitize=fuzzer-no-link -c -o "$obj" "$src"; then
		echo "fuzz: FAILED to compile $src" >&2
		exit 1
	fi
done

failed=()
for src in "${targets[@]}"; do
	name=$(basename "$src" .c)
	bin=$out/bin/$name
	echo "  LINK [fuzz] $name"
	if ! "$CLANG" "${cflags[@]}" -fsanitize=fuzzer -o "$bin" "$src" "${lib_objs[@]}" \
		"${libs[@]}"; then
		echo "fuzz: $name: FAILED to build" >&2
		failed+=("$name")
		continue
	fi

	corpus=$out/corpus/$name
	mkdir -p "$corpus"
	args=("$corpus")
	[ -d "tests/fuzz/corpus/$name" ] && args+=("tests/fuzz/corpus/$name")
	[ -f "tests/fuzz/$name.dict" ] && args=("-dict=tests/fuzz/$name.dict" "${args[@]}")
	log=$out/$name.log

	echo "fuzz: $name for ${seconds}s (corpus $corpus)"
	stamp=$out/$name.stamp
	: >"$stamp"
	# Hard stop well after max_total_time in case a single input hangs
	# in a way -timeout does not catch.
	timeout -k 10 $((seconds + 120)) "$bin" -max_total_time="$seconds" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$name-" "${args[@]}" </dev/null >"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$log" | tail -n 1 |
			sed "s/^/fuzz: $name: /"
		echo "fuzz: $name: ok ($(find "$corpus" -type f | wc -l) inputs in corpus)"
	else
		tail -n 60 "$log"
		echo "fuzz: $name: FAILED (exit $rc); full log: $log" >&2
		find "$out/artifacts" -name "$name-*" -newer "$stamp" | while read -r a; do
			echo "fuzz: reproduce with: $bin $a" >&2
		done
		failed+=("$name")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failed: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz: ${#targets[@]} target(s) ran ${seconds}s each without a crash"
