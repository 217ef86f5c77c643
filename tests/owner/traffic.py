#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# tests/owner/traffic.py MODE ARGS: one piece of the owner test's traffic,
# run by tests/owner/run.sh under setpriv as some uid/gid/groups, inside the
# test's network namespace, over loopback.
#
#   serve PORT N      TCP listener: accept N connections, echo one message, close
#   tcp PORT          connect, send, read the echo, close (refused: an RST comes back)
#   udp PORT          one datagram (to a closed port: an ICMP error comes back)
#   udp-as PORT UID   (root) open the socket, then become UID, then send: the
#                     socket file keeps its opener's credentials
#   ping              one ICMP echo from a ping socket (SOCK_DGRAM, IPPROTO_ICMP)
#   pcap FILE         a TCP SYN, a UDP datagram and an ICMP echo (raw IPv4 pcap)
#                     for `ipt2bpf trace`, whose test runs have no socket
#   twack CPORT SPORT a bare out-of-window ACK (raw socket, root) to the server
#                     side of a closed connection: the server closed first, so
#                     its TIME_WAIT socket answers with an ACK of its own
import os
import socket
import struct
import sys
import time

ADDR = "127.0.0.1"


def serve(port, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ADDR, port))
    s.listen(8)
    print("listening", flush=True)
    for _ in range(n):
        c, _ = s.accept()
        c.settimeout(5)
        data = c.recv(100)
        c.sendall(data)
        c.close()
    s.close()


def tcp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((ADDR, port))
        print(s.getsockname()[1], flush=True)
        s.sendall(b"owner-test")
        # Wait for the server's FIN: it closes first (its side ends in TIME_WAIT).
        while s.recv(100):
            pass
    except ConnectionRefusedError:
        pass
    s.close()


def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"owner-test", (ADDR, port))
    time.sleep(0.05)
    s.close()


def udp_as(port, uid):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    s.sendto(b"owner-test", (ADDR, port))
    s.close()


def ping():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    s.settimeout(5)
    s.sendto(b"\x08\x00\x00\x00\x00\x01\x00\x01owner", (ADDR, 0))
    s.recv(100)
    s.close()


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def twack(cport, sport):
    ip = socket.inet_aton(ADDR)
    hdr = struct.pack("!HHIIBBHHH", cport, sport, 0x12345678, 0x9ABCDEF0, 5 << 4, 0x10, 1024, 0, 0)
    pseudo = ip + ip + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(hdr))
    hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    s.sendto(hdr, (ADDR, 0))
    time.sleep(0.05)
    s.close()


def ipv4(proto, l4):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                      socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + l4


def pcap(path):
    pkts = [
        ipv4(socket.IPPROTO_TCP, struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 5 << 4, 0x02, 1024, 0, 0)),
        ipv4(socket.IPPROTO_UDP, struct.pack("!HHHH", 40000, 53, 12, 0) + b"abcd"),
        ipv4(socket.IPPROTO_ICMP, struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"abcd"),
    ]
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        for i, p in enumerate(pkts):
            f.write(struct.pack("<IIII", i, 0, len(p), len(p)) + p)


def main():
    mode = sys.argv[1]
    if mode == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "tcp":
        tcp(int(sys.argv[2]))
    elif mode == "udp":
        udp(int(sys.argv[2]))
    elif mode == "pcap":
        pcap(sys.argv[2])
    elif mode == "twack":
        twack(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "udp-as":
        udp_as(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "ping":
        ping()
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
