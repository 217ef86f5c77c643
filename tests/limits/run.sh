#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/limits/run.sh [model] [kernel] [live]: the stateful matches (limit,
# hashlimit, recent, statistic, quota, time) against iptables-legacy and
# against models of the kernel's code; see run.py.  Needs root, python3,
# iptables-legacy, iproute2, iputils-ping and the tools of `make tools`.
# Last line: "limits: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "limits: needs root (network namespaces, bpf)"
	echo "limits: 0 passed, 1 failed"
	exit 1
fi
exec python3 "$here/run.py" "$@"
