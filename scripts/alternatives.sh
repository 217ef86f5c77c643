#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# alternatives.sh register|unregister|status [PREFIX]
#
# Makes iptables-bpf the `iptables` of this system through Debian's
# alternatives (the same group iptables-legacy and iptables-nft are in, with
# iptables-save and iptables-restore as its followers), and undoes it:
#
#   register    adds PREFIX/sbin/iptables-bpf (priority 5: never chosen by
#               itself) and selects it, so /usr/sbin/iptables,
#               iptables-save and iptables-restore run iptables-bpf
#   unregister  removes it; the group goes back to automatic mode (iptables-nft
#               or iptables-legacy, whichever Debian would pick)
#   status      what `iptables` is now
#
# PREFIX defaults to the prefix this script is installed under
# (PREFIX/lib/ipt2bpf/alternatives.sh).  Start ipt2bpf-umh (systemctl enable
# --now ipt2bpf-umh) before registering: without it iptables reports every
# table as missing.
#
# Environment (tests): LINKDIR (default /usr/sbin), ALT_ARGS (extra
# update-alternatives options such as --altdir DIR --admindir DIR).
set -euo pipefail

cmd=${1:-}
here=$(dirname "$(readlink -f "$0")")
prefix=${2:-$(cd "$here/../.." && pwd)}
linkdir=${LINKDIR:-/usr/sbin}
priority=5
read -r -a alt_args <<<"${ALT_ARGS:-}"

ua() { update-alternatives "${alt_args[@]}" "$@"; }

bpf=$prefix/sbin/iptables-bpf
case $cmd in
register)
	for f in "$bpf" "$bpf-save" "$bpf-restore"; do
		[ -e "$f" ] || {
			echo "alternatives.sh: $f is missing (make install PREFIX=$prefix)" >&2
			exit 1
		}
	done
	ua --install "$linkdir/iptables" iptables "$bpf" "$priority" \
		--slave "$linkdir/iptables-restore" iptables-restore "$bpf-restore" \
		--slave "$linkdir/iptables-save" iptables-save "$bpf-save"
	ua --set iptables "$bpf"
	echo "iptables is now iptables-bpf ($bpf): rules go to ipt2bpf-umh and run as eBPF"
	;;
unregister)
	if ua --query iptables 2>/dev/null | grep -qx "Alternative: $bpf"; then
		ua --remove iptables "$bpf"
		echo "iptables-bpf removed from the iptables alternatives"
	else
		echo "iptables-bpf ($bpf) is not an iptables alternative: nothing to do"
	fi
	;;
status)
	ua --display iptables
	;;
*)
	echo "usage: $0 register|unregister|status [PREFIX]" >&2
	exit 2
	;;
esac
