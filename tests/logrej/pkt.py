# SPDX-License-Identifier: GPL-2.0
"""Packet building, sending and capturing for tests/logrej (no scapy).

Frames are built byte by byte so that tests can send what no socket would:
bad checksums, truncated headers, fragments, IP options, broadcast frames.
"""
import os
import select
import socket
import struct
import time

ETH_P_IP = 0x0800
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ip4(a):
    return socket.inet_aton(a)


def mac(m):
    return bytes.fromhex(m.replace(":", ""))


def ipv4(src, dst, proto, payload, ttl=64, ident=1, frag=0x4000, tos=0, opts=b"",
         bad_csum=False, tot_len=None):
    ihl = 5 + len(opts) // 4
    length = tot_len if tot_len is not None else 20 + len(opts) + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, length, ident, frag, ttl, proto, 0,
                    ip4(src), ip4(dst)) + opts
    c = (~csum(h)) & 0xFFFF
    if bad_csum:
        c ^= 0x5A5A
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def pseudo(src, dst, proto, length):
    return ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, length)


def tcp(src, dst, sport, dport, seq=1000, ack=0, flags=0x02, win=64240, opts=b"",
        data=b"", urg=0, bad_csum=False, res=0):
    doff = 5 + len(opts) // 4
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (doff << 4) | res, flags, win, 0,
                    urg) + opts + data
    c = (~csum(pseudo(src, dst, 6, len(t)) + t)) & 0xFFFF
    if bad_csum:
        c ^= 0x1234
    return t[:16] + struct.pack("!H", c) + t[18:]


def udp(src, dst, sport, dport, data=b"", zero_csum=False, bad_csum=False):
    u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    if zero_csum:
        return u
    c = (~csum(pseudo(src, dst, 17, len(u)) + u)) & 0xFFFF or 0xFFFF
    if bad_csum:
        c ^= 0x4321
    return u[:6] + struct.pack("!H", c) + u[8:]


def icmp(typ, code, rest=b"\0\0\0\0", data=b"", bad_csum=False):
    m = struct.pack("!BBH", typ, code, 0) + rest + data
    c = (~csum(m)) & 0xFFFF
    if bad_csum:
        c ^= 0x0F0F
    return m[:2] + struct.pack("!H", c) + m[4:]


def eth(dst, src, payload, proto=ETH_P_IP):
    return mac(dst) + mac(src) + struct.pack("!H", proto) + payload


def ifmac(ifname):
    with open("/sys/class/net/%s/address" % ifname) as f:
        return f.read().strip()


def ifmac_ns(ifname):
    """The MAC of ifname in the current network namespace (sysfs may be the host's)."""
    import fcntl
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        r = fcntl.ioctl(s.fileno(), 0x8927, struct.pack("256s", ifname.encode()[:15]))
    finally:
        s.close()
    return ":".join("%02x" % b for b in r[18:24])


class Wire:
    """An AF_PACKET socket on one interface: send frames, collect IPv4 frames received."""

    def __init__(self, ifname, outgoing=False):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.bind((ifname, 0))
        self.s.setblocking(False)
        self.outgoing = outgoing
        self.ifname = ifname

    def send(self, frame):
        self.s.send(frame)

    def drain(self):
        while True:
            try:
                self.s.recvfrom(65535)
            except BlockingIOError:
                return

    def collect(self, seconds, want=None):
        """IPv4 frames received within seconds (want(frame) -> bool filters)."""
        out = []
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                continue
            while True:
                try:
                    f, addr = self.s.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING and not self.outgoing:
                    continue
                if len(f) < 34 or f[12:14] != b"\x08\x00":
                    continue
                if want is None or want(f):
                    out.append(f)


def random_payload(n, seed):
    x = seed & 0xFFFFFFFF or 1
    b = bytearray()
    for _ in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        b.append(x & 0xFF)
    return bytes(b)


def sum_to_ffff(payload):
    """payload plus two bytes that make its one's complement sum 0xffff."""
    if len(payload) % 2:
        payload += b"\0"
    s = csum(payload)
    return payload + struct.pack("!H", (~s) & 0xFFFF)


if __name__ == "__main__":
    print(os.path.basename(__file__), "is a module")
