# SPDX-License-Identifier: GPL-2.0
"""LOG differential test: frames that exercise every field of the kernel's
nf_log_syslog line, and the comparison of the two logs.

  log.py client IFACE FWMAC      sends the frames (client namespace)
  log.py compare KERNEL OURS     compares "<level>line" lines; exit 1 on a mismatch

Both loggers see the same packets: iptables-legacy's LOG rules and
ipt2bpf's run side by side in the firewall namespace (LOG does not drop),
so the lines must be equal, in order.  Legitimate difference: a fragmented
datagram at INPUT, which the kernel logs after reassembly (its whole length,
no MF) and ipt2bpf by its first fragment (see README: fragments).
"""
import re
import struct
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from pkt import Wire, eth, ipv4, tcp, udp, icmp, ifmac_ns, random_payload  # noqa

C = "10.200.1.2"
FW = "10.200.1.1"
SRV = "10.200.2.2"
OPTS = bytes.fromhex("020405b40402080a000000010000000001030307")


def frames(cmac, fwmac):
    def fr(ip, dst=fwmac):
        return eth(dst, cmac, ip)

    inner_tcp = ipv4(FW, C, 6, tcp(FW, C, 80, 4000, seq=7, opts=OPTS))
    out = [
        fr(ipv4(C, FW, 6, tcp(C, FW, 1234, 9, seq=0xDEADBEEF, ack=17, flags=0xFF, opts=OPTS,
                              urg=3, res=0x0F))),
        fr(ipv4(C, FW, 6, tcp(C, FW, 1234, 9, flags=0x02), opts=b"\x94\x04\x00\x00", tos=0xFF)),
        fr(ipv4(C, FW, 6, tcp(C, FW, 1, 2)[:12])),  # truncated TCP
        fr(ipv4(C, FW, 6, tcp(C, FW, 1, 2, opts=OPTS)[:30])),  # options cut short
        fr(ipv4(C, FW, 17, udp(C, FW, 53, 53, b"dns?")), dst="ff:ff:ff:ff:ff:ff"),
        fr(ipv4(C, FW, 17, udp(C, FW, 1, 2)[:5])),  # truncated UDP
        fr(ipv4(C, FW, 136, udp(C, FW, 7, 8, b"lite"))),  # UDPLITE
        fr(ipv4(C, FW, 1, icmp(8, 0, struct.pack("!HH", 0x1234, 9), b"ping"))),
        fr(ipv4(C, FW, 1, icmp(0, 0, struct.pack("!HH", 1, 2)))),
        fr(ipv4(C, FW, 1, icmp(3, 3, data=ipv4(FW, C, 17, udp(FW, C, 53, 5353, b"x" * 8))))),
        fr(ipv4(C, FW, 1, icmp(3, 4, struct.pack("!HH", 0, 1400), inner_tcp))),
        fr(ipv4(C, FW, 1, icmp(3, 1, data=inner_tcp[:28]))),  # quoted TCP cut short
        fr(ipv4(C, FW, 1, icmp(5, 1, bytes([10, 200, 1, 254]), inner_tcp[:28]))),
        fr(ipv4(C, FW, 1, icmp(11, 0, data=ipv4(FW, C, 1, icmp(8, 0, b"\0\1\0\2")[:8])))),
        fr(ipv4(C, FW, 1, icmp(12, 0, b"\x14\0\0\0", inner_tcp[:28]))),
        fr(ipv4(C, FW, 1, icmp(13, 0, data=b"\0" * 12))),
        fr(ipv4(C, FW, 1, icmp(13, 0, data=b"\0" * 4))),  # INCOMPLETE
        fr(ipv4(C, FW, 1, icmp(3, 3, data=b"\0" * 8))),   # INCOMPLETE error
        fr(ipv4(C, FW, 1, b"\x08")),                      # ICMP without a header
        fr(ipv4(C, FW, 51, bytes([6, 4, 0, 0]) + struct.pack("!II", 0xA1B2C3D4, 1) + b"\0" * 12)),
        fr(ipv4(C, FW, 51, b"\x06\x04")),
        fr(ipv4(C, FW, 50, struct.pack("!II", 0x10203040, 5) + random_payload(16, 1))),
        fr(ipv4(C, FW, 47, random_payload(8, 2), frag=0x8000)),  # reserved bit: CE
        fr(ipv4(C, FW, 253, b"", ttl=3, ident=65535)),
        # FORWARD: fragments are judged (and logged) one by one
        fr(ipv4(C, SRV, 6, tcp(C, SRV, 5, 6, opts=OPTS, data=b"D" * 40)[:48], frag=0x2000,
                ident=500)),
        fr(ipv4(C, SRV, 6, b"E" * 16, frag=0x2000 | 6, ident=500)),
        fr(ipv4(C, SRV, 50, b"\0" * 16, frag=0x0002, ident=501)),
        fr(ipv4(C, SRV, 51, b"\0" * 16, frag=0x0002, ident=502)),
        fr(ipv4(C, SRV, 1, b"\0" * 16, frag=0x0002, ident=503)),
        fr(ipv4(C, SRV, 17, udp(C, SRV, 9, 9, b"fwd"), tos=0x02)),
        fr(ipv4(C, SRV, 1, icmp(8, 0, struct.pack("!HH", 3, 4)))),
        # INPUT fragments: the documented difference
        fr(ipv4(C, FW, 17, udp(C, FW, 77, 78, b"Q" * 40)[:24], frag=0x2000, ident=600)),
        fr(ipv4(C, FW, 17, b"Q" * 24, frag=0x0003, ident=600)),
    ]
    return out


def run_client(iface, fwmac):
    w = Wire(iface)
    cmac = ifmac_ns(iface)
    for f in frames(cmac, fwmac):
        w.send(f)
        time.sleep(0.02)


FRAG_KNOWN = re.compile(r"SRC=10\.200\.1\.2 DST=10\.200\.1\.1 LEN=\d+ .*ID=600 ")


def normalize(line):
    # The kernel logs the reassembled datagram, ipt2bpf its first fragment.
    if FRAG_KNOWN.search(line):
        line = re.sub(r"LEN=\d+ (TOS=.*ID=600 )(?:DF )?(?:MF )?", r"LEN=* \1", line, count=1)
        line = re.sub(r"SPT=77 DPT=78 LEN=\d+", "SPT=77 DPT=78 LEN=*", line)
    return line


def compare(kf, of):
    k = [x.rstrip("\n") for x in open(kf)]
    o = [x.rstrip("\n") for x in open(of)]
    same = diff = known = 0
    for i in range(max(len(k), len(o))):
        a = k[i] if i < len(k) else "(none)"
        b = o[i] if i < len(o) else "(none)"
        if a == b:
            same += 1
        elif normalize(a) == normalize(b):
            known += 1
            print("KNOWN (fragment at INPUT: kernel logs the reassembled datagram):")
            print("  kernel: %s\n  ours:   %s" % (a, b))
        else:
            diff += 1
            print("FAIL: line %d\n  kernel: %s\n  ours:   %s" % (i + 1, a, b))
    print("log: %d lines identical, %d documented differences, %d mismatches "
          "(kernel %d lines, ipt2bpf %d)" % (same, known, diff, len(k), len(o)))
    return 1 if diff or not same else 0


def main():
    if sys.argv[1] == "client":
        run_client(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit("unknown command")


if __name__ == "__main__":
    main()
