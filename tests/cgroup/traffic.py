#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# tests/cgroup/traffic.py MODE ARGS: one piece of the cgroup test's traffic,
# run by tests/cgroup/run.sh inside some cgroup, inside the test's network
# namespace, over loopback.
#
#   serve PORT N      TCP listener: accept N connections, echo one message, close
#   tcp PORT          connect, send, read the echo, close (refused: an RST comes back)
#   udp PORT          one datagram (to a closed port: an ICMP error comes back)
#   udpto ADDR PORT   3 datagrams to ADDR (over the test's VXLAN device)
#   ping              one ICMP echo from a ping socket (SOCK_DGRAM, IPPROTO_ICMP)
#   hold PORT FILE    open a UDP socket, print "ready", wait for FILE to exist
#                     (meanwhile the script moves this process to another cgroup
#                     and removes the first one), then send 3 datagrams to PORT
#                     from the old socket and 2 to PORT + 1 from a new one
#   share PORT FILE   open a UDP socket, fork; the child prints its pid and
#                     waits for FILE (meanwhile the script moves the child to a
#                     net_cls cgroup, which retags the shared socket), then the
#                     parent sends 2 datagrams to PORT from the shared socket
#   twack CPORT SPORT a bare out-of-window ACK (raw socket) to the server side
#                     of a closed connection: its TIME_WAIT socket answers
#   pcap FILE         a TCP SYN, a UDP datagram and an ICMP echo (raw IPv4 pcap)
#                     for `ipt2bpf trace`, whose test runs have no socket
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
        s.sendall(b"cgroup-test")
        # Wait for the server's FIN: it closes first (its side ends in TIME_WAIT).
        while s.recv(100):
            pass
    except ConnectionRefusedError:
        pass
    s.close()


def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"cgroup-test", (ADDR, port))
    time.sleep(0.05)
    s.close()


def udpto(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(3):
        s.sendto(b"cgroup-test", (addr, port))
    time.sleep(0.05)
    s.close()


def ping():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    s.settimeout(5)
    s.sendto(b"\x08\x00\x00\x00\x00\x01\x00\x01cgroup", (ADDR, 0))
    s.recv(100)
    s.close()


def hold(port, path):
    old = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    print("ready", flush=True)
    for _ in range(200):
        if os.path.exists(path):
            break
        time.sleep(0.02)
    else:
        sys.exit("hold: no go")
    for _ in range(3):
        old.sendto(b"old-socket", (ADDR, port))
    new = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(2):
        new.sendto(b"new-socket", (ADDR, port + 1))
    time.sleep(0.05)


def share(port, path):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pid = os.fork()
    if pid == 0:
        print(os.getpid(), flush=True)
        for _ in range(200):
            if os.path.exists(path):
                break
            time.sleep(0.02)
        os._exit(0)
    os.waitpid(pid, 0)
    for _ in range(2):
        s.sendto(b"shared-socket", (ADDR, port))
    time.sleep(0.05)


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
    elif mode == "udpto":
        udpto(sys.argv[2], int(sys.argv[3]))
    elif mode == "ping":
        ping()
    elif mode == "hold":
        hold(int(sys.argv[2]), sys.argv[3])
    elif mode == "share":
        share(int(sys.argv[2]), sys.argv[3])
    elif mode == "twack":
        twack(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "pcap":
        pcap(sys.argv[2])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
