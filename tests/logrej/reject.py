# SPDX-License-Identifier: GPL-2.0
"""REJECT differential test: the same frames against the kernel's REJECT
(iptables-legacy) and ipt2bpf's, replies captured on the sender's side.

  reject.py client IFACE FWMAC OUT.json     INPUT and FORWARD cases (client ns)
  reject.py output OUT.json                 OUTPUT cases (firewall ns, sockets)
  reject.py ratelimit IFACE FWMAC OUT.json  icmp_ratelimit burst and refill (client ns)
  reject.py compare KERNEL.json OURS.json   compares, prints figures; exit 1 on a mismatch

Fields that legitimately differ and are masked: the ICMP reply's IP ID (the
kernel's ip_select_ident() hash, ours random) and so its IP header checksum;
the TCP checksum of a RST (the kernel leaves it CHECKSUM_PARTIAL, so the
wire shows only the pseudo header's sum; ours is complete and verified
here); at OUTPUT the MAC addresses (the kernel's reply crosses lo, ours
enters through the device) and an ICMP error's source address (see
codegen/t_REJECT.c).  Cases listed in KNOWN are documented differences and
are checked to differ exactly that way.
"""
import json
import socket
import struct
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from pkt import (Wire, eth, ipv4, tcp, udp, icmp, ifmac_ns, random_payload, sum_to_ffff,  # noqa
                 csum)

C = "10.200.1.2"     # client
FW = "10.200.1.1"    # firewall, client side
SRV = "10.200.2.2"   # server (FORWARD destination)
MSS = bytes.fromhex("020405b40402080a0000000100000000")

# name -> why it differs (kernel behaviour, ours)
KNOWN = {
    "in_tcp_bcast_frame": "a TCP segment in a broadcast frame: the kernel resets it from the "
                          "device's address, ipt2bpf does not know that address and sends nothing",
}


def client_cases(cmac, fwmac):
    """(name, frame) in order; frames go from the client's MAC to the firewall's."""
    def fr(ip, dst=fwmac):
        return eth(dst, cmac, ip)

    def t(dport, dst=FW, src=C, **kw):
        o = {k: kw.pop(k) for k in ("ttl", "ident", "frag", "tos", "opts") if k in kw}
        bad_ip = kw.pop("bad_ip", False)
        return ipv4(src, dst, 6, tcp(src, dst, 40000 + dport % 1000, dport, **kw), bad_csum=bad_ip,
                    **o)

    def u(dport, data=b"hello", dst=FW, src=C, zero=False, bad=False, **o):
        return ipv4(src, dst, 17, udp(src, dst, 50000 + dport % 1000, dport, data, zero, bad), **o)

    cases = [
        # INPUT, tcp-reset (dport 7001)
        ("in_tcp_syn", fr(t(7001, seq=123456, opts=MSS))),
        ("in_tcp_ack_data", fr(t(7001, seq=5000, ack=777777, flags=0x18, data=b"x" * 100))),
        ("in_tcp_fin_data", fr(t(7001, seq=9000, flags=0x01, data=b"y" * 10))),
        ("in_tcp_synfin", fr(t(7001, seq=1, flags=0x03))),
        ("in_tcp_seq_wrap", fr(t(7001, seq=0xFFFFFFF0, flags=0x02, data=b"z" * 40))),
        ("in_tcp_rst", fr(t(7001, flags=0x04))),
        ("in_tcp_rstack", fr(t(7001, flags=0x14, ack=5))),
        ("in_tcp_badsum", fr(t(7001, bad_csum=True))),
        ("in_tcp_ipopts", fr(t(7001, opts=b"\x01\x01\x01\x00"))),
        ("in_tcp_tos", fr(t(7001, tos=0xB9))),
        ("in_tcp_trunc", fr(ipv4(C, FW, 6, tcp(C, FW, 1, 7009)[:12]))),
        ("in_tcp_bcast_frame", fr(t(7001), dst="ff:ff:ff:ff:ff:ff")),
        # INPUT, icmp-port-unreachable for TCP (dport 7002)
        ("in_tcp_unreach", fr(t(7002, opts=MSS))),
        ("in_tcp_unreach_badsum", fr(t(7002, bad_csum=True))),
        # INPUT, UDP: every --reject-with code (dport 7101..7107)
    ]
    for k in range(1, 8):
        cases.append(("in_udp_code%d" % k, fr(u(7100 + k))))
    cases += [
        ("in_udp_zero_csum", fr(u(7104, zero=True))),
        ("in_udp_badsum", fr(u(7104, bad=True))),
        ("in_udp_odd", fr(u(7104, data=b"odd"))),
        ("in_udp_big", fr(u(7104, data=random_payload(1200, 7)))),
        ("in_udp_536", fr(u(7104, data=random_payload(520, 8)))),
        ("in_udp_ra_opt", fr(u(7104, opts=b"\x94\x04\x00\x00"))),
        ("in_udp_tos", fr(u(7104, tos=0x1F))),
        ("in_udp_ttl1", fr(u(7104, ttl=1))),
        ("in_udp_bcast_frame", fr(u(7104), dst="ff:ff:ff:ff:ff:ff")),
        ("in_udp_mcast_frame", fr(u(7104), dst="01:00:5e:00:00:01")),
        ("in_udp_mcast_dst", fr(u(7104, dst="224.1.2.3"), dst="01:00:5e:01:02:03")),
        ("in_udp_lbcast_dst", fr(u(7104, dst="255.255.255.255"), dst="ff:ff:ff:ff:ff:ff")),
        # INPUT, ICMP (icmp-host-prohibited)
        ("in_icmp_echo", fr(ipv4(C, FW, 1, icmp(8, 0, struct.pack("!HH", 7, 1), b"ping" * 8)))),
        ("in_icmp_badsum", fr(ipv4(C, FW, 1, icmp(8, 0, data=b"abc", bad_csum=True)))),
        ("in_icmp_error", fr(ipv4(C, FW, 1, icmp(3, 1, data=ipv4(FW, C, 17, udp(FW, C, 1, 2)))))),
        ("in_icmp_timestamp", fr(ipv4(C, FW, 1, icmp(13, 0, data=b"\0" * 12)))),
        ("in_icmp_type1", fr(ipv4(C, FW, 1, icmp(1, 0)))),
        ("in_icmp_type19", fr(ipv4(C, FW, 1, icmp(19, 0)))),
        ("in_icmp_empty", fr(ipv4(C, FW, 1, b""))),
        # INPUT, other protocols (icmp-proto-unreachable)
        ("in_gre", fr(ipv4(C, FW, 47, random_payload(24, 3)))),
        ("in_esp", fr(ipv4(C, FW, 50, random_payload(24, 4)))),
        ("in_p253_badsum", fr(ipv4(C, FW, 253, random_payload(24, 5)))),
        ("in_p253_goodsum", fr(ipv4(C, FW, 253, sum_to_ffff(random_payload(24, 6))))),
        # FORWARD (to the server, via the firewall)
        ("fwd_tcp_syn", fr(t(7001, dst=SRV, seq=42, opts=MSS))),
        ("fwd_tcp_ack", fr(t(7001, dst=SRV, seq=42, ack=43, flags=0x10))),
        ("fwd_tcp_badsum", fr(t(7001, dst=SRV, bad_csum=True))),
        ("fwd_udp", fr(u(7104, dst=SRV))),
        ("fwd_udp_badsum", fr(u(7104, dst=SRV, bad=True))),
        ("fwd_icmp_echo", fr(ipv4(C, SRV, 1, icmp(8, 0, struct.pack("!HH", 9, 2), b"q" * 20)))),
        ("fwd_frag_first", fr(ipv4(C, SRV, 17, udp(C, SRV, 5000, 7104, b"F" * 64)[:32],
                                   frag=0x2000, ident=77))),
        ("fwd_frag_later", fr(ipv4(C, SRV, 17, b"G" * 32, frag=0x2000 | 4, ident=77))),
    ]
    return cases


def is_reply(f):
    proto = f[23]
    ihl = (f[14] & 0x0F) * 4
    if proto == 1:
        return f[14 + ihl] == 3
    if proto == 6 and len(f) >= 14 + ihl + 14:
        return bool(f[14 + ihl + 13] & 0x04)
    return False


def run_client(iface, fwmac, out):
    w = Wire(iface)
    cmac = ifmac_ns(iface)
    res = {}
    for name, frame in client_cases(cmac, fwmac):
        w.drain()
        w.send(frame)
        got = w.collect(0.15, is_reply)
        res[name] = {"sent": frame.hex(), "replies": [g.hex() for g in got]}
    json.dump({"cases": res}, open(out, "w"), indent=0)


def run_output(out):
    """Locally generated packets the OUTPUT chain rejects; replies as received.

    Crafted datagrams go out through a raw socket (IP_HDRINCL, through the
    OUTPUT hook like any local packet) so both sides send the same bytes;
    a TCP connect and a UDP send show what the sending application sees.
    """
    socks = []
    for ifname in ("lo", "lgrf0"):
        socks.append(Wire(ifname))
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    res = {}
    lo = "127.0.0.1"
    cases = [
        ("out_raw_tcp", (C, ipv4(FW, C, 6, tcp(FW, C, 33333, 7201, seq=4242, opts=MSS)))),
        ("out_raw_tcp_ack", (C, ipv4(FW, C, 6, tcp(FW, C, 33334, 7201, seq=5, ack=99, flags=0x18,
                                                    data=b"d" * 30)))),
        ("out_raw_udp", (C, ipv4(FW, C, 17, udp(FW, C, 33335, 7202, b"output"), ident=4321))),
        ("out_raw_lo_tcp", (lo, ipv4(lo, lo, 6, tcp(lo, lo, 33336, 7201, seq=77)))),
        ("out_raw_lo_udp", (lo, ipv4(lo, lo, 17, udp(lo, lo, 33337, 7202, b"lo"), ident=1234))),
        # through OUTPUT, rejected in INPUT on lo
        ("lo_in_udp", (lo, ipv4(lo, lo, 17, udp(lo, lo, 33338, 7104, b"lo-in"), ident=999))),
        ("lo_in_tcp", (lo, ipv4(lo, lo, 6, tcp(lo, lo, 33339, 7001, seq=1, flags=0x02)))),
        ("out_sock_tcp", (C, "tcp")),
        ("out_sock_udp", (C, "udp")),
    ]
    for name, (dst, what) in cases:
        for s in socks:
            s.drain()
        err = "ok"
        try:
            if what == "tcp":
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(0.5)  # before the SYN's first retransmission (1 s)
                try:
                    s.connect((dst, 7201))
                finally:
                    s.close()
            elif what == "udp":
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    s.sendto(b"output", (dst, 7202))
                finally:
                    s.close()
            else:
                raw.sendto(what, (dst, 0))
        except OSError as e:
            err = type(e).__name__
        got = []
        for s in socks:
            got += s.collect(0.1, is_reply)
        res[name] = {"sent": what.hex() if isinstance(what, bytes) else what,
                     "replies": [g.hex() for g in got], "errno": err}
    json.dump({"cases": res}, open(out, "w"), indent=0)


def run_ratelimit(iface, fwmac, out):
    """A new peer: 10 rejected datagrams at once, then 3 after 1.2 s (icmp_ratelimit 1 s)."""
    w = Wire(iface)
    cmac = ifmac_ns(iface)
    src = "10.200.1.77"
    res = {}
    for phase, n, pause in (("burst", 10, 0), ("refill", 3, 1.2)):
        time.sleep(pause)
        w.drain()
        for i in range(n):
            w.send(eth(fwmac, cmac, ipv4(src, FW, 17, udp(src, FW, 6000 + i, 7104, b"r"),
                                         ident=100 + i)))
        got = w.collect(0.3, is_reply)
        res["rate_" + phase] = {"sent": "", "replies": [g.hex() for g in got]}
    json.dump({"cases": res}, open(out, "w"), indent=0)


def mask(f, output):
    b = bytearray(f)
    if output:
        b[0:12] = b"\0" * 12
    if len(b) >= 34 and b[23] == 1:
        b[18:20] = b"\0\0"    # IP ID
        b[24:26] = b"\0\0"    # IP checksum
        if output:
            b[26:30] = b"\0" * 4  # source (documented)
    elif len(b) >= 54 and b[23] == 6:
        b[50:52] = b"\0\0"    # TCP checksum (kernel: partial)
    return bytes(b)


def valid(f):
    """Our reply's IP and transport checksums are right."""
    ip = f[14:]
    ihl = (ip[0] & 0x0F) * 4
    if csum(ip[:ihl]) != 0xFFFF:
        return "bad IP checksum"
    l4 = ip[ihl:struct.unpack("!H", ip[2:4])[0]]
    if ip[9] == 1 and csum(l4) != 0xFFFF:
        return "bad ICMP checksum"
    if ip[9] == 6 and csum(ip[12:20] + struct.pack("!BBH", 0, 6, len(l4)) + l4) != 0xFFFF:
        return "bad TCP checksum"
    return None


def compare(kf, of):
    k = json.load(open(kf))["cases"]
    o = json.load(open(of))["cases"]
    same = diff = known = replies = 0
    for name in k:
        kr = [bytes.fromhex(x) for x in k[name]["replies"]]
        orr = [bytes.fromhex(x) for x in o.get(name, {"replies": []})["replies"]]
        output = name.startswith("out_")
        bad = [v for v in (valid(x) for x in orr) if v]
        km = [mask(x, output) for x in kr]
        om = [mask(x, output) for x in orr]
        extra = ""
        if name.startswith("out_sock_"):
            # ports and sequence numbers are the stack's: compare what the sender saw
            ke, oe = k[name].get("errno"), o.get(name, {}).get("errno")
            if (len(kr) == len(orr) or (kr and orr)) and \
                    (ke == oe or (ke, oe) == ("PermissionError", "ok")):
                same += 1
                replies += len(kr)
                print("same: %s (%d repl%s; sender: %s / %s%s)" % (
                    name, len(kr), "y" if len(kr) == 1 else "ies", ke, oe,
                    "" if ke == oe else ": a DROP at OUTPUT is EPERM in the kernel, silent at TC"))
            else:
                diff += 1
                print("FAIL: %s: %d/%d replies, sender %s / %s" % (name, len(kr), len(orr), ke, oe))
            continue
        if name in KNOWN:
            ok = len(kr) == 1 and not orr
            print("%s: %s %s (%s)" % ("KNOWN" if ok else "FAIL", name,
                                      "differs as documented" if ok else "unexpected", KNOWN[name]))
            known += ok
            diff += not ok
            continue
        if km == om and not bad:
            same += 1
            replies += len(kr)
            print("same: %s (%d repl%s)%s" % (name, len(kr), "y" if len(kr) == 1 else "ies", extra))
            continue
        diff += 1
        print("FAIL: %s%s" % (name, extra))
        for v in bad:
            print("   ours: %s" % v)
        for x in kr:
            print("   kernel: %s" % x.hex())
        for x in orr:
            print("   ours:   %s" % x.hex())
    print("reject: %d cases identical (%d replies, masked: IP ID+checksum of ICMP errors, "
          "RST TCP checksum, OUTPUT MACs and ICMP source), %d documented differences, "
          "%d mismatches" % (same, replies, known, diff))
    return 1 if diff else 0


def main():
    cmd = sys.argv[1]
    if cmd == "client":
        run_client(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "output":
        run_output(sys.argv[2])
    elif cmd == "ratelimit":
        run_ratelimit(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
