# SPDX-License-Identifier: GPL-2.0
"""NFLOG differential test: the kernel's nfnetlink_log messages against the
NFLOG lines of `ipt2bpf log`.

  nflog.py listen OUT GROUP...     (firewall namespace) binds the groups as
                                   an nfnetlink_log listener (whole packets,
                                   queue threshold 1) and writes one JSON
                                   object per message to OUT until SIGTERM
  nflog.py client IFACE FWMAC      (client namespace) sends the frames
  nflog.py compare KERNEL OURS     compares; exit 1 on a mismatch
  nflog.py audit KERNEL OURS       the AUDIT lines of OURS against the
                                   packets the kernel's group 9 NFLOG rules
                                   (next to each AUDIT rule) saw

Both sides see the same packets: iptables-legacy's NFLOG rules and
ipt2bpf's run side by side in the firewall namespace (NFLOG does not drop).
Compared per message: prefix, group, input and output device, mark, payload
length (--nflog-size), and the IP header's source, destination, ID and
length (from the payload / the line's SRC= DST= ID= LEN=).  ipt2bpf's lines
of groups the listener did not bind are left out (the kernel sends those to
nobody).
"""
import json
import os
import re
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from pkt import Wire, eth, ipv4, tcp, udp, icmp, ifmac_ns, random_payload  # noqa

NETLINK_NETFILTER = 12
NFNL_SUBSYS_ULOG = 4
NFULNL_MSG_PACKET = 0
NFULNL_MSG_CONFIG = 1
NFULA_CFG_CMD, NFULA_CFG_MODE, NFULA_CFG_QTHRESH = 1, 2, 5
NFULNL_CFG_CMD_BIND = 1
NFULNL_COPY_PACKET = 2
NFULA_PACKET_HDR, NFULA_MARK = 1, 2
NFULA_IFINDEX_INDEV, NFULA_IFINDEX_OUTDEV = 4, 5
NFULA_PAYLOAD, NFULA_PREFIX = 9, 10
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2

C = "10.200.1.2"
FW = "10.200.1.1"
SRV = "10.200.2.2"


def attr(typ, data):
    n = 4 + len(data)
    return struct.pack("=HH", n, typ) + data + b"\0" * ((4 - n % 4) % 4)


def config(sock, group, attrs, seq):
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(group)) + attrs
    msg = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG,
                      NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body
    sock.send(msg)
    data = sock.recv(65536)
    ln, typ = struct.unpack("=IH", data[:6])
    if typ == NLMSG_ERROR:
        err = struct.unpack("=i", data[16:20])[0]
        if err:
            raise OSError(-err, "nfnetlink_log config of group %d: %s" % (group, os.strerror(-err)))


def parse_attrs(b):
    out = {}
    while len(b) >= 4:
        n, typ = struct.unpack("=HH", b[:4])
        if n < 4:
            break
        out[typ & 0x7FFF] = b[4:n]
        b = b[(n + 3) & ~3:]
    return out


def ifname(idx):
    try:
        return socket.if_indextoname(idx)
    except OSError:
        return "if%d" % idx


def listen(out, groups):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((0, 0))
    seq = 1
    for g in groups:
        config(s, g, attr(NFULA_CFG_CMD, struct.pack("=B", NFULNL_CFG_CMD_BIND)), seq)
        config(s, g, attr(NFULA_CFG_MODE, struct.pack("!IBB", 0xFFFF, NFULNL_COPY_PACKET, 0)),
               seq + 1)
        config(s, g, attr(NFULA_CFG_QTHRESH, struct.pack("!I", 1)), seq + 2)
        seq += 3
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    s.settimeout(0.2)
    f = open(out, "w")
    print("ready", flush=True)
    while not stop:
        try:
            data = s.recv(1 << 20)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        while len(data) >= 16:
            ln, typ = struct.unpack("=IH", data[:6])
            if ln < 16:
                break
            msg = data[:ln]
            data = data[(ln + 3) & ~3:]
            if typ != (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET:
                continue
            group = socket.ntohs(struct.unpack("=H", msg[18:20])[0])
            a = parse_attrs(msg[20:])
            pay = a.get(NFULA_PAYLOAD, b"")
            ev = {
                "group": group,
                "prefix": a.get(NFULA_PREFIX, b"\0").rstrip(b"\0").decode("latin-1"),
                "hook": a[NFULA_PACKET_HDR][2] if NFULA_PACKET_HDR in a else -1,
                "in": ifname(struct.unpack("!I", a[NFULA_IFINDEX_INDEV])[0])
                if NFULA_IFINDEX_INDEV in a else "",
                "out": ifname(struct.unpack("!I", a[NFULA_IFINDEX_OUTDEV])[0])
                if NFULA_IFINDEX_OUTDEV in a else "",
                "mark": struct.unpack("!I", a[NFULA_MARK])[0] if NFULA_MARK in a else 0,
                "caplen": len(pay),
                "payload": pay[:20].hex(),
            }
            f.write(json.dumps(ev) + "\n")
            f.flush()
    f.close()


def frames(cmac, fwmac):
    def fr(ip, dst=fwmac):
        return eth(dst, cmac, ip)

    return [
        fr(ipv4(C, FW, 6, tcp(C, FW, 1234, 9, flags=0x02))),
        fr(ipv4(C, FW, 6, tcp(C, FW, 1, 2)[:12])),  # truncated TCP
        fr(ipv4(C, FW, 17, udp(C, FW, 53, 53, b"dns?")), dst="ff:ff:ff:ff:ff:ff"),
        fr(ipv4(C, FW, 17, udp(C, FW, 5000, 5001, random_payload(1200, 3)))),
        fr(ipv4(C, FW, 17, udp(C, FW, 5000, 5002, b"x" * 22))),  # exactly --nflog-size 30
        fr(ipv4(C, FW, 1, icmp(8, 0, struct.pack("!HH", 0x1234, 9), b"ping"))),
        fr(ipv4(C, FW, 1, icmp(3, 3, data=ipv4(FW, C, 17, udp(FW, C, 53, 5353, b"x" * 8))))),
        fr(ipv4(C, FW, 50, struct.pack("!II", 0x10203040, 5) + random_payload(16, 1))),
        fr(ipv4(C, FW, 47, random_payload(8, 2), tos=0x10)),
        fr(ipv4(C, FW, 253, b"", ttl=3, ident=65535)),
        # FORWARD: each fragment on its own
        fr(ipv4(C, SRV, 6, tcp(C, SRV, 5, 6, data=b"D" * 40)[:48], frag=0x2000, ident=500)),
        fr(ipv4(C, SRV, 6, b"E" * 16, frag=0x2000 | 6, ident=500)),
        fr(ipv4(C, SRV, 17, udp(C, SRV, 9, 9, random_payload(1300, 4)), tos=0x02)),
        fr(ipv4(C, SRV, 17, udp(C, SRV, 9, 10, b"fwd"))),
        fr(ipv4(C, SRV, 1, icmp(8, 0, struct.pack("!HH", 3, 4)))),
    ]


def run_client(iface, fwmac):
    w = Wire(iface)
    cmac = ifmac_ns(iface)
    for f in frames(cmac, fwmac):
        w.send(f)
        time.sleep(0.02)


LINE = re.compile(r"^(?P<prefix>.*?)IN=(?P<in>\S*) OUT=(?P<out>\S*) .*?SRC=(?P<src>\S+) "
                  r"DST=(?P<dst>\S+) LEN=(?P<len>\d+) .*?ID=(?P<id>\d+) .*?"
                  r"(?:MARK=0x(?P<mark>[0-9a-f]+) )?GROUP=(?P<group>\d+) CAPLEN=(?P<cap>\d+) $")


def key_kernel(ev):
    p = bytes.fromhex(ev["payload"])
    if len(p) >= 20:
        ip = (socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20]),
              struct.unpack("!H", p[2:4])[0], struct.unpack("!H", p[4:6])[0])
    else:
        ip = ("?", "?", -1, -1)  # --nflog-size below the IP header: no header to show
    return (ev["prefix"], ev["group"], ev["in"], ev["out"], ev["mark"], ev["caplen"]) + ip


def key_ours(m, caplen_only):
    ip = (m["src"], m["dst"], int(m["len"]), int(m["id"]))
    if caplen_only:
        ip = ("?", "?", -1, -1)
    return (m["prefix"], int(m["group"]), m["in"], m["out"], int(m["mark"] or "0", 16),
            int(m["cap"])) + ip


def compare(kf, of):
    kern = [json.loads(x) for x in open(kf) if x.strip()]
    groups = {e["group"] for e in kern}
    ours, other = [], 0
    for line in open(of):
        line = line.rstrip("\n")
        m = LINE.match(line)
        if not m:
            other += 1  # LOG or AUDIT lines
            continue
        if int(m["group"]) not in groups:
            continue
        ours.append(key_ours(m, int(m["cap"]) < 20))
    k = sorted(key_kernel(e) for e in kern)
    o = sorted(ours)
    bad = 0
    ko, oo = list(k), list(o)
    for x in k:
        if x in oo:
            oo.remove(x)
            ko.remove(x)
    for x in ko:
        bad += 1
        print("FAIL: kernel only: %s" % (x,))
    for x in oo:
        bad += 1
        print("FAIL: ipt2bpf only: %s" % (x,))
    print("nflog: %d kernel messages, %d ipt2bpf NFLOG lines, %d matched, %d mismatches"
          % (len(k), len(o), len(k) - len(ko), bad))
    return 1 if bad or not k else 0


AUDIT = re.compile(r"^audit: type=1324 audit\(\d+\.\d{3}:(\d+)\): "
                   r"(mark=0x[0-9a-f]+ saddr=\S+ daddr=\S+ proto=\d+)$")


def audit(kf, of):
    want = []
    for e in map(json.loads, open(kf)):
        if e["prefix"] != "audit":
            continue
        p = bytes.fromhex(e["payload"])
        want.append("mark=0x%x saddr=%s daddr=%s proto=%d" % (
            e["mark"], socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20]), p[9]))
    got, serials = [], []
    for line in open(of):
        m = AUDIT.match(line.rstrip("\n"))
        if m:
            serials.append(int(m.group(1)))
            got.append(m.group(2))
        elif line.startswith("audit:"):
            print("FAIL: malformed AUDIT line: " + line.rstrip())
            return 1
    want.sort()
    got.sort()
    print("audit: %d records, the kernel saw %d packets at the AUDIT rules" % (len(got), len(want)))
    bad = 0
    for x in sorted(set(want) - set(got)):
        bad += 1
        print("FAIL: kernel only: " + x)
    for x in sorted(set(got) - set(want)):
        bad += 1
        print("FAIL: ipt2bpf only: " + x)
    if serials != list(range(1, len(serials) + 1)):
        bad += 1
        print("FAIL: serials are not 1..N in order: %s" % serials[:20])
    return 1 if bad or got != want or not want else 0


def main():
    if sys.argv[1] == "listen":
        listen(sys.argv[2], [int(g) for g in sys.argv[3:]])
    elif sys.argv[1] == "client":
        run_client(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    elif sys.argv[1] == "audit":
        sys.exit(audit(sys.argv[2], sys.argv[3]))
    else:
        sys.exit("unknown command")


if __name__ == "__main__":
    main()
