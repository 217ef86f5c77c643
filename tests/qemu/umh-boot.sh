#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/qemu/umh-boot.sh KERNEL-BUILD-DIR DRIVER: boots the kernel that
# scripts/qemu-umh built (bzImage, modules installed into the initramfs so
# that the kernel's request_module("bpfilter") finds bpfilter.ko through
# busybox modprobe) and runs tests/qemu/umh-session.sh with stock Debian
# iptables-legacy, bpftool, ip and tc.  The console is the session log: it is
# printed and saved next to the build (session.log).  DRIVER is the path of
# the embedded driver, or "sample".  Exit 1 unless the session passed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?usage: umh-boot.sh KERNEL-BUILD-DIR DRIVER}
DRIVER=${2:-sample}
O=${O:-build-qemu}
[[ $O = /* ]] || O=$ROOT/$O
LOG=$(dirname "$OUT")/session.log
work=$(mktemp -d /tmp/qemu-umh.XXXXXX)
trap 'rm -rf "$work"' EXIT

ir=$work/initramfs
mkdir -p "$ir"/{bin,sbin,proc,sys,dev,tmp,run,etc,usr/bin,usr/sbin,usr/local/bin,lib64,lib/x86_64-linux-gnu}
cp /bin/busybox "$ir/bin/busybox"
make -s -C "$OUT" INSTALL_MOD_PATH="$ir" modules_install >"$work/mi.log" 2>&1 || {
	cat "$work/mi.log"
	exit 2
}
probe=$O/tests/qemu-probe
[ -x "$probe" ] || make -s -C "$ROOT" O="$O" "$probe" || exit 2
cp "$probe" "$ir/usr/local/bin/qemu-probe"
bins=(/bin/bash /usr/bin/ip /usr/sbin/tc /usr/sbin/bpftool /usr/sbin/xtables-legacy-multi
	/usr/lib/x86_64-linux-gnu/xtables/*.so)
cp /bin/bash /usr/bin/ip /usr/sbin/tc /usr/sbin/bpftool "$ir/usr/local/bin/"
cp /usr/sbin/xtables-legacy-multi "$ir/usr/sbin/"
for l in iptables-legacy iptables-legacy-restore iptables-legacy-save; do
	ln -s xtables-legacy-multi "$ir/usr/sbin/$l"
done
mkdir -p "$ir/usr/lib/x86_64-linux-gnu"
cp -r /usr/lib/x86_64-linux-gnu/xtables "$ir/usr/lib/x86_64-linux-gnu/"
cp /etc/protocols /etc/services "$ir/etc/"
# The driver runs from the module's blob but with the guest's root: a dynamic
# ipt2bpf-umh needs its libraries here.
[ "$DRIVER" = sample ] || bins+=("$DRIVER")
for l in $(ldd "${bins[@]}" 2>/dev/null | awk '/=>/ { print $3 } /ld-linux/ { print $1 }' | sort -u); do
	[ -f "$l" ] || continue
	mkdir -p "$ir$(dirname "$l")"
	cp -L "$l" "$ir$l"
done
cp "$ROOT/tests/qemu/umh-session.sh" "$ir/session.sh"
cat >"$ir/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s
ln -sf /usr/local/bin/bash /bin/bash
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
ln -sf /proc/self/fd /dev/fd
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t bpf bpf /sys/fs/bpf
ip link set lo up
UMH_DRIVER=$(basename "$DRIVER") bash /session.sh
sync
# no ACPI in this kernel: a reboot is what ends QEMU (-no-reboot)
reboot -f
EOF
chmod +x "$ir/init"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

start=$SECONDS
timeout "${QEMU_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg -smp 1 -m 1024 -nographic -no-reboot \
	-kernel "$OUT/arch/x86/boot/bzImage" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 loglevel=4" </dev/null 2>&1 | tr -d '\r' | tee "$LOG"
echo "qemu-umh: guest ran $((SECONDS - start))s; session log: $LOG"
grep -q '^umh-session: [0-9]* passed, 0 failed' "$LOG"
