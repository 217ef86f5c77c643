# SPDX-License-Identifier: GPL-2.0
"""Packets and pcap files for the stateful-match tests (tests/limits)."""
import socket
import struct

ETH_SRC = bytes.fromhex("020000000002")
ETH_DST = bytes.fromhex("020000000001")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(a):
    return socket.inet_aton(a)


def packet(src, dst, proto=17, sport=1000, dport=2000, ttl=64, payload=b"", frag=0, ident=1,
           raw=False):
    """An Ethernet frame with an IPv4 datagram (UDP, TCP SYN, ICMP echo, or raw payload)."""
    if raw:
        l4 = payload
    elif proto == 17:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    elif proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 8192, 0, 0) + payload
    elif proto == 1:
        body = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + payload
        l4 = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    else:
        l4 = payload
    tot = 20 + len(l4)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, ident, frag, ttl, proto, 0, ip4(src), ip4(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return ETH_DST + ETH_SRC + b"\x08\x00" + hdr + l4


def write_pcap(path, frames):
    """frames: [(time in ns since the epoch, frame bytes)]; nanosecond pcap."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for t, fr in frames:
            f.write(struct.pack("<IIII", t // 10**9, t % 10**9, len(fr), len(fr)))
            f.write(fr)
