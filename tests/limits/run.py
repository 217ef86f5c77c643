#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""tests/limits/run.py [model] [kernel] [live]: the stateful matches (limit,
hashlimit, recent, statistic, quota, time) against the kernel and against
models of the kernel's code (model.py).

model   `ipt2bpf trace --pcap-time` on controlled timelines (bursts, long
        idles, the u32 wrap of limit's credit increase after 2^25 jiffies,
        LRU eviction past ip_list_tot, table expiry, dates 1970-2045) must
        equal the model packet for packet.
kernel  iptables-legacy in a namespace (tests/tools/kdiff) vs `ipt2bpf
        trace` with the real clock, packet for packet, for rates slow enough
        that timing cannot matter; then phases separated by real sleeps: the
        kernel's per-phase counts and ours (trace --pcap-time on the measured
        timeline) must both equal the model's, which must not change when the
        timeline is shifted by +-150 ms; statistic random 0.5 within
        binomial bounds on both sides, 0 and 1 exact; refusals agree.
live    `ipt2bpf load` and iptables-legacy on real pings: same replies and
        the same rule counters.

Environment: IPT2BPF, O (build dir for kdiff).  Last line:
"limits: N passed, N failed"."""
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import model as M  # noqa: E402
from pkt import packet, write_pcap  # noqa: E402

O = os.environ.get("O", "build")
O = O if os.path.isabs(O) else os.path.join(ROOT, O)
IPT2BPF = os.environ.get("IPT2BPF", os.path.join(O, "ipt2bpf"))
KDIFF = os.path.join(O, "tests", "kdiff")
TMP = tempfile.mkdtemp(prefix="limits.")
NPASS = NFAIL = 0
FIGURES = []


def ok(msg):
    global NPASS
    NPASS += 1
    print("PASS: " + msg, flush=True)


def bad(msg):
    global NFAIL
    NFAIL += 1
    print("FAIL: " + msg, flush=True)


def ip(a):
    p = [int(x) for x in a.split(".")]
    return (p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]


def dotted(n):
    return "%d.%d.%d.%d" % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)


def rules_text(lines):
    body = "".join("-A INPUT %s\n" % r for r in lines)
    return "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n%sCOMMIT\n" % body


def frame(p):
    if p.proto == 17 and p.sport is None:  # UDP with 2 bytes of header: ports unreadable
        return packet(dotted(p.src), dotted(p.dst), proto=17, ttl=p.ttl, payload=b"\x12\x34",
                      raw=True)
    pay = max(0, p.len - 20 - {17: 8, 6: 20, 1: 8}.get(p.proto, 0))
    return packet(dotted(p.src), dotted(p.dst), proto=p.proto, sport=p.sport or 0,
                  dport=p.dport or 0, ttl=p.ttl, payload=b"\0" * pay)


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def parse_json(out):
    res = []
    for line in out.splitlines():
        o = json.loads(line)
        res.append((o["verdict"], frozenset(o["counted"])))
    return res


def source(rules, name):
    """A rules file, or a blob (bytes) written as one: the arguments that name it."""
    if isinstance(rules, bytes):
        path = os.path.join(TMP, name + ".blob")
        with open(path, "wb") as f:
            f.write(rules)
        return ["--blob", path]
    return [write(name + ".v4", rules_text(rules))]


def trace(rules, pkts, pcap_time=True, ns=None):
    pc = os.path.join(TMP, "t.pcap")
    write_pcap(pc, [(p.t, frame(p)) for p in pkts])
    cmd = [IPT2BPF, "trace"] + source(rules, "t") + ["--pcap", pc, "--json"] + \
        (["--pcap-time"] if pcap_time else [])
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    res = run(cmd)
    if res.returncode:
        raise RuntimeError("trace failed: " + res.stderr.strip())
    return parse_json(res.stdout)


def dump(rules):
    """Raw payload fields per rule, from --dump-ir (what the blob says)."""
    res = run([IPT2BPF] + source(rules, "d") + ["--dump-ir", "--no-verify", "-o",
                                                 os.path.join(TMP, "d.o")])
    if res.returncode:
        raise RuntimeError("compile failed: " + res.stderr.strip())
    return [m.group(1) for m in re.finditer(r"match \w+ \(rev \d+\): (.*)", res.stdout)], \
        [int(m.group(1)) for m in re.finditer(r"match \w+ \(rev (\d+)\)", res.stdout)]


def expect(models, pkts):
    """The model's view: models[k] is (predicate or None, match object) of rule k+1."""
    out = []
    for p in pkts:
        counted, verdict = set(), "ACCEPT"
        for k, (pred, m) in enumerate(models):
            if pred and not pred(p):
                continue
            r = m.match(p)
            if r == "DROP":
                verdict = "DROP"
                break
            if r:
                counted.add("INPUT#%d" % (k + 1))
        out.append((verdict, frozenset(counted)))
    return out


def compare(what, want, got, show=4):
    if len(want) != len(got):
        bad("%s: %d results, expected %d" % (what, len(got), len(want)))
        return False
    diffs = [i for i in range(len(want)) if want[i] != got[i]]
    if diffs:
        for i in diffs[:show]:
            print("  packet %d: expected %s %s, got %s %s" % (
                i + 1, want[i][0], sorted(want[i][1]), got[i][0], sorted(got[i][1])))
        bad("%s: %d of %d packets differ" % (what, len(diffs), len(want)))
        return False
    ok("%s: %d packets agree" % (what, len(want)))
    return True


# ----------------------------------------------------------------- payload fields
def kv(text, key, conv=int):
    m = re.search(r"%s (\S+)" % re.escape(key), text)
    return conv(m.group(1), 0) if conv is int else conv(m.group(1))


def hl_cfg(text, rev):
    return {"rev": rev, "name": kv(text, "--hashlimit-name", str), "mode": kv(text, "mode"),
            "avg": kv(text, "avg"), "burst": kv(text, "burst"), "expire": kv(text, "expire"),
            "interval": kv(text, "interval"), "srcmask": kv(text, "srcmask"),
            "dstmask": kv(text, "dstmask")}


def rc_cfg(text):
    op = 0
    for flag, bit in (("--set", M.SET), ("--rcheck", M.CHECK), ("--update", M.UPDATE),
                      ("--remove", M.REMOVE), ("--rttl", M.TTL), ("--reap", M.REAP)):
        if re.search(r"(^| )%s( |$)" % flag, text):
            op |= bit
    return {"name": kv(text, "--name", str), "op": op, "seconds": kv(text, "seconds"),
            "hitcount": kv(text, "hitcount"), "invert": text.startswith("! "),
            "dest": "--rdest" in text, "mask": kv(text, "--mask")}


def time_cfg(text):
    return {"daytime_start": kv(text, "--timestart"), "daytime_stop": kv(text, "--timestop"),
            "monthdays": kv(text, "--monthdays"), "weekdays": kv(text, "--weekdays"),
            "date_start": kv(text, "--datestart"), "date_stop": kv(text, "--datestop"),
            "flags": (1 if "--kerneltz" in text else 0) | (2 if "--contiguous" in text else 0)}


def models_for(rules, preds=None, blob=None):
    """Model objects for rules (one stateful match each, plus an optional -p predicate)."""
    texts, revs = dump(blob if blob is not None else rules)
    M.HTABLES.clear()
    rc = [rc_cfg(t) for r, t in zip(rules, texts) if "-m recent" in r]
    M.recent_tables(rc)
    out = []
    for k, (r, t, rev) in enumerate(zip(rules, texts, revs)):
        pred = (preds or {}).get(k)
        if "-m limit" in r:
            m = M.Limit(kv(t, "avg", lambda s: int(s.split("/")[0])), kv(t, "--limit-burst"))
        elif "-m hashlimit" in r:
            m = M.Hashlimit(hl_cfg(t, rev))
        elif "-m recent" in r:
            m = M.Recent(rc_cfg(t))
        elif "--mode nth" in r:
            m = M.Nth(kv(t, "--every") - 1, kv(t, "(count", lambda s: int(s.rstrip(")"))),
                      "! --every" in t)
        elif "--mode random" in r:
            prob = float(kv(t, "--probability", float))
            inv = "! --probability" in t
            m = type("R", (), {"match": lambda self, p, v=prob, i=inv: (v >= 1.0) != i})()
            assert prob in (0.0, 1.0)
        elif "-m quota" in r:
            m = M.Quota(kv(t, "--quota"), t.startswith("! "))
        elif "-m time" in r:
            m = M.Time(time_cfg(t), tz_minutes=0)
        else:
            raise ValueError(r)
        out.append((pred, m))
    return out


# ----------------------------------------------------------------- timelines
T0 = 1700000000 * 10**9  # 2023-11-14 22:13:20 UTC


def timeline(rng, n, t=T0, jumps=(), dense=1.0):
    """n times: bursts, sub-second and multi-second gaps, minutes, hours; jumps[i] = extra ns.
    dense > 1 makes the long gaps rarer."""
    out = []
    for i in range(n):
        r = rng.random() ** dense
        if r < 0.35:
            gap = rng.randrange(0, 3 * M.NS_PER_JIFFY)
        elif r < 0.7:
            gap = rng.randrange(10**7, 2 * 10**9)
        elif r < 0.9:
            gap = rng.randrange(2 * 10**9, 70 * 10**9)
        else:
            gap = rng.randrange(60 * 10**9, 3 * 3600 * 10**9)
        t += gap + dict(jumps).get(i, 0)
        out.append(t)
    return out


def sec_model(rng):
    print("== model: trace --pcap-time against the kernel's arithmetic")
    wrap = ((1 << 25) + 12345) * M.NS_PER_JIFFY  # limit's u32 credit increase wraps past this

    # limit
    rules = ["-m limit --limit 3/sec --limit-burst 2", "-m limit --limit 1/sec --limit-burst 1",
             "-m limit --limit 20/min --limit-burst 7", "-m limit --limit 1/hour --limit-burst 3",
             "-m limit --limit 2/day --limit-burst 2", "-m limit --limit 10000/sec --limit-burst 3",
             "-m limit --limit 7/hour --limit-burst 5"]
    ts = timeline(rng, 600, jumps=[(300, wrap), (450, 2 * wrap + 777 * M.NS_PER_JIFFY)])
    pk = [M.Pkt(t, ip("10.1.0.1"), ip("198.18.0.1")) for t in ts]
    compare("limit: 7 rates, 600 packets incl. 37 h idles", expect(models_for(rules), pk),
            trace(rules, pk))

    # hashlimit
    rules = [
        "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name m1",
        "-m hashlimit --hashlimit-above 2/sec --hashlimit-burst 2 --hashlimit-mode srcip,dstport --hashlimit-srcmask 24 --hashlimit-name m2",
        "-m hashlimit --hashlimit-upto 1/min --hashlimit-burst 2 --hashlimit-mode dstip,srcport --hashlimit-dstmask 16 --hashlimit-name m3 --hashlimit-htable-expire 5000",
        "-m hashlimit --hashlimit-upto 2kb/s --hashlimit-burst 3kb --hashlimit-mode srcip --hashlimit-name m4",
        "-m hashlimit --hashlimit-upto 10/sec --hashlimit-mode srcip --hashlimit-name m5 --hashlimit-rate-match --hashlimit-rate-interval 2",
        "-m hashlimit --hashlimit-upto 1kb/s --hashlimit-mode dstip --hashlimit-name m6 --hashlimit-rate-match",
        "-m hashlimit --hashlimit-upto 3/sec --hashlimit-burst 4 --hashlimit-name m7",
        "-m hashlimit --hashlimit-above 5/sec --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name m1",
        "-m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 2 --hashlimit-mode srcip,srcport,dstip,dstport --hashlimit-name m9 --hashlimit-htable-expire 7200000",
        "-m hashlimit --hashlimit-upto 100kb/s --hashlimit-burst 1mb --hashlimit-mode dstport --hashlimit-name m10",
    ]
    ts = timeline(rng, 700, dense=3)
    pk = []
    for t in ts:
        proto = rng.choice([17, 17, 17, 6, 1])
        src = ip("10.1.%d.%d" % (rng.randrange(3), rng.randrange(1, 4)))
        dst = ip("198.18.%d.%d" % (rng.randrange(3), rng.randrange(1, 3)))
        sp, dp = (rng.choice([1000, 2000, 3000]), rng.choice([53, 80])) if proto != 1 else (0, 0)
        ln = rng.choice([40, 100, 576, 1400]) if proto != 6 else 40
        p = M.Pkt(t, src, dst, proto, sp, dp, length=ln)
        if rng.random() < 0.01:
            p.proto, p.sport, p.dport, p.len = 17, None, None, 22  # truncated: hotdrop
        pk.append(p)
    compare("hashlimit: 10 rules (packet, byte, rate-match modes, masks, shared name), 700 packets",
            expect(models_for(rules), pk), trace(rules, pk))

    # recent
    rules = ["-m recent --name r1 --rcheck --seconds 30 --hitcount 3",
             "-m recent --name r1 --set",
             "-m recent --name r2 --update --seconds 20 --rttl --rdest",
             "-m recent --name r2 --set --rdest --mask 255.255.255.0",
             "-m recent --name r2 --rcheck --reap --seconds 40 --rdest",
             "-m recent --name r3 ! --rcheck --seconds 100 --hitcount 2 --mask 255.255.0.0",
             "-m recent --name r3 --set --mask 255.255.0.0",
             "-p tcp -m recent --name r1 --remove",
             "-m recent --name r1 --update --seconds 5 --hitcount 2 --reap",
             "-m recent --name r4 --set --rdest",
             "-m recent --name r4 --rcheck --hitcount 40 --rdest"]
    preds = {7: lambda p: p.proto == 6}
    ts = timeline(rng, 900, dense=3)
    pk = []
    for t in ts:
        proto = 6 if rng.random() < 0.05 else 17
        if rng.random() < 0.6:
            src = ip("10.2.9.%d" % rng.randrange(1, 6))  # a few busy sources
        else:
            src = ip("10.2.%d.%d" % (rng.randrange(2), rng.randrange(1, 66)))  # 130 others
        pk.append(M.Pkt(t, src, ip("198.18.%d.%d" % (rng.randrange(2), rng.randrange(1, 3))), proto,
                        1000, 2000, ttl=rng.choice([63, 64, 65])))
    compare("recent: 11 rules, 4 lists, 900 packets, 130 sources (LRU past 100)",
            expect(models_for(rules, preds), pk), trace(rules, pk))

    # statistic, quota
    rules = ["-m statistic --mode nth --every 3 --packet 0",
             "-m statistic --mode nth --every 5 --packet 2",
             "-m statistic --mode nth ! --every 4 --packet 3",
             "-m statistic --mode nth --every 1 --packet 0",
             "-m statistic --mode random --probability 0",
             "-m statistic --mode random --probability 1",
             "-m statistic --mode random ! --probability 0",
             "-m quota --quota 5000", "-m quota ! --quota 3000", "-m quota --quota 0"]
    ts = timeline(rng, 200)
    pk = [M.Pkt(t, ip("10.3.0.1"), ip("198.18.0.1"), length=rng.choice([28, 100, 500, 1500]))
          for t in ts]
    compare("statistic nth/random 0 and 1, quota: 10 rules, 200 packets",
            expect(models_for(rules), pk), trace(rules, pk))

    # time
    rules = ["-m time --weekdays Mon,Wed,Sat",
             "-m time --monthdays 1,15,29,30,31",
             "-m time --timestart 06:00 --timestop 18:30",
             "-m time --timestart 22:00 --timestop 02:00",
             "-m time --timestart 22:00 --timestop 02:00 --weekdays Fri --contiguous",
             "-m time --datestart 2000-02-29T12:00:00 --datestop 2038-01-19T03:14:07",
             "-m time --monthdays 29 --weekdays Thu --kerneltz",
             "-m time --timestart 23:59:59 --timestop 00:00:00 --monthdays 1"]
    days = [rng.randrange(0, 27760) for _ in range(300)]
    edges = [10957 + 59, 19782, 24836, 25202, 25202 + 151, 25567 + 59, 0, 1, 365, 11016]
    ts = [(d * 86400 + rng.randrange(86400)) * 10**9 for d in days] + \
         [(d * 86400 + s) * 10**9 for d in edges for s in (0, 1, 86399, 7200, 79200)]
    pk = [M.Pkt(t, ip("10.4.0.1"), ip("198.18.0.1")) for t in ts]
    compare("time: 8 rules, 350 instants 1970-2045", expect(models_for(rules), pk),
            trace(rules, pk))
    sec_model_revisions(rng)


def hashlimit_blob(rules, rev):
    """The filter blob iptables builds for rules, with every hashlimit match (revision 3)
    rewritten as revision rev (1: struct xt_hashlimit_mtinfo1, avg in 1/10000 s; 2: mtinfo2).
    Layouts: ipt_replace's entries start at 96, an ipt_entry's matches at 112, a match's
    payload at 32; entry offsets move, so hook offsets and jump verdicts are remapped."""
    import struct
    d = os.path.join(TMP, "blobs")
    os.makedirs(d, exist_ok=True)
    res = run([IPT2BPF, write("b.v4", rules_text(rules)), "--save-blobs", d, "--no-verify", "-o",
               os.path.join(TMP, "b.o")])
    if res.returncode:
        raise RuntimeError("--save-blobs: " + res.stderr)
    with open(os.path.join(d, "filter.blob"), "rb") as f:
        b = bytearray(f.read())
    hdr, ents = b[:96], b[96:]
    size = struct.unpack_from("<I", hdr, 40)[0]
    out, pos, moved = bytearray(), 0, []
    while pos < size:
        toff, noff = struct.unpack_from("<HH", ents, pos + 88)
        e = bytearray(ents[pos:pos + 112])
        m = pos + 112
        body = bytearray()
        while m < pos + toff:
            msize = struct.unpack_from("<H", ents, m)[0]
            name = bytes(ents[m + 2:m + 31]).split(b"\0")[0]
            if name == b"hashlimit":
                p3 = ents[m + 32:m + msize]
                avg, burst, mode, hsize, hmax, gc, exp, _, sm, dm = struct.unpack_from(
                    "<QQIIIIIIBB", p3, 256)
                if rev == 1:
                    pay = p3[:15] + b"\0" + struct.pack("<IIIIIIIBB", mode, avg // 100, burst,
                                                         hsize, hmax, gc, exp, sm, dm)
                    pay += b"\0" * (56 - len(pay))
                else:
                    pay = p3[:256] + struct.pack("<QQIIIIIBB", avg, burst, mode, hsize, hmax,
                                                 gc, exp, sm, dm)
                    pay += b"\0" * (304 - len(pay))
                mh = bytearray(ents[m:m + 32])
                struct.pack_into("<H", mh, 0, 32 + len(pay))
                mh[31] = rev
                body += mh + pay
            else:
                body += ents[m:m + msize]
            m += msize
        rest = ents[pos + toff:pos + noff]
        struct.pack_into("<HH", e, 88, 112 + len(body), 112 + len(body) + len(rest))
        moved.append((pos, len(out)))
        out += e + body + rest
        pos += noff
    where = dict(moved)
    pos = 0
    while pos < len(out):  # standard targets jump by offset (a rule without -j: to the next)
        toff, noff = struct.unpack_from("<HH", out, pos + 88)
        if out[pos + toff + 2] == 0:
            v = struct.unpack_from("<i", out, pos + toff + 32)[0]
            if v >= 0:
                struct.pack_into("<i", out, pos + toff + 32, where[v])
        pos += noff
    for k in range(10):  # hook_entry[5], underflow[5]
        off = struct.unpack_from("<I", hdr, 44 + 4 * k)[0]
        struct.pack_into("<I", hdr, 44 + 4 * k, where.get(off, off))
    struct.pack_into("<I", hdr, 40, len(out))
    return bytes(hdr + out)


def sec_model_revisions(rng):
    """hashlimit revisions 1 and 2, which iptables 1.8.9 only emits for older kernels."""
    rules = [
        "-m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name v1",
        "-m hashlimit --hashlimit-above 2/min --hashlimit-burst 2 --hashlimit-mode srcip,dstport --hashlimit-srcmask 24 --hashlimit-name v2",
        "-m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 4 --hashlimit-mode dstip --hashlimit-name v3",
    ]
    ts = timeline(rng, 500, dense=3)
    pk = [M.Pkt(t, ip("10.8.%d.%d" % (rng.randrange(2), rng.randrange(1, 4))),
                ip("198.18.0.%d" % rng.randrange(1, 3)), 17, 1000, rng.choice([53, 80]),
                length=rng.choice([60, 700])) for t in ts]
    for rev, extra in ((1, []), (2, ["-m hashlimit --hashlimit-upto 3kb/s --hashlimit-burst 6kb --hashlimit-mode srcip --hashlimit-name v4"])):
        blob = hashlimit_blob(rules + extra, rev)
        revs = dump(blob)[1]
        if set(revs) != {rev}:
            bad("hashlimit revision %d: the rewritten blob has revisions %s" % (rev, revs))
            continue
        compare("hashlimit revision %d: %d rules, %d packets" % (rev, len(rules + extra), len(pk)),
                expect(models_for(rules + extra, blob=blob), pk), trace(blob, pk))


# ----------------------------------------------------------------- kernel
def topo(cmd, tid):
    res = run(["bash", os.path.join(ROOT, "tests/diff/topology.sh"), cmd, tid])
    if res.returncode:
        raise RuntimeError("topology %s failed: %s" % (cmd, res.stderr))
    return res.stdout.split()


def kdiff(names, pkts, rules=None):
    c, fw = names[0], names[1]
    pc = os.path.join(TMP, "k.pcap")
    write_pcap(pc, [(p.t, frame(p)) for p in pkts])
    cmd = ["ip", "netns", "exec", fw, KDIFF, "--pcap", pc, "--chain", "INPUT",
           "--inject-ns", c, "--inject-dev", "vc"]
    if rules is not None:
        cmd += ["--rules", write("k.v4", rules_text(rules))]
    res = run(cmd)
    if res.returncode:
        raise RuntimeError("kdiff failed: " + res.stderr.strip()[-400:])
    return parse_json(res.stdout)


def counts(results, rule):
    return sum(1 for _, c in results if rule in c)


def now_info():
    t = time.time()
    return int(t), time.gmtime(t)


def sec_kernel(rng):
    print("== kernel: iptables-legacy (kdiff) against ipt2bpf trace")
    names = topo("names", "lim%d" % os.getpid())
    topo("up", "lim%d" % os.getpid())
    try:
        kernel_single(rng, names)
        kernel_phases(names)
        kernel_random(names)
        kernel_refusals()
    finally:
        topo("down", "lim%d" % os.getpid())


def kernel_single(rng, names):
    now, tm = now_info()
    # a daytime window of +-40 minutes around now that does not cross midnight
    sod = now % 86400
    if 3000 < sod < 86400 - 3000:
        win = "--timestart %s --timestop %s" % (time.strftime("%H:%M", time.gmtime(now - 2400)),
                                                 time.strftime("%H:%M", time.gmtime(now + 2400)))
    else:
        win = "--timestart 22:00 --timestop 02:00"
    wd = time.strftime("%a", tm)
    other = [d for d in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun") if d != wd]
    md = tm.tm_mday
    rules = [
        "-m limit --limit 1/hour --limit-burst 4",
        "-m limit --limit 3/day --limit-burst 7",
        "-m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name k1",
        "-m hashlimit --hashlimit-above 1/min --hashlimit-burst 3 --hashlimit-mode srcip,dstport --hashlimit-name k2",
        "-m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 5 --hashlimit-mode srcip --hashlimit-name k4 --hashlimit-rate-match --hashlimit-rate-interval 60",
        "-m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 3 --hashlimit-mode dstip --hashlimit-dstmask 16 --hashlimit-name k5",
        "-m recent --name k1 --rcheck --seconds 600 --hitcount 3",
        "-m recent --name k1 --set",
        "-m recent --name k2 --update --seconds 600 --hitcount 2 --rttl",
        "-m recent --name k2 --set --rdest --mask 255.255.255.0",
        "-m recent --name k3 --set --mask 255.255.255.252",
        "-m recent --name k3 --rcheck --hitcount 4 --reap --seconds 600",
        "-p tcp -m recent --name k1 --remove",
        "-m statistic --mode nth --every 3 --packet 1",
        "-m statistic --mode nth ! --every 7 --packet 6",
        "-m statistic --mode random --probability 0",
        "-m statistic --mode random --probability 1",
        "-m quota --quota 3000",
        "-m quota ! --quota 1500",
        "-m time %s" % win,
        "-m time --weekdays %s" % wd,
        "-m time --weekdays %s" % ",".join(other),
        "-m time --monthdays %d" % md,
        "-m time --monthdays %d --kerneltz" % (md % 28 + 1),
        "-m time --datestop %s" % time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 86400)),
        "-m time --datestart %s" % time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 86400)),
    ]
    pk = []
    for i in range(80):
        proto = 6 if i % 11 == 5 else 17
        src = ip("10.5.%d.%d" % (rng.randrange(2), rng.randrange(1, 7)))
        pk.append(M.Pkt(T0 + i, src, ip("198.18.%d.%d" % (rng.randrange(3), rng.randrange(1, 5))),
                        proto, 4000 + rng.randrange(3), rng.choice([53, 80]),
                        ttl=rng.choice([60, 64]), length=rng.choice([60, 200, 400])))
    k = kdiff(names, pk, rules)
    b = trace(rules, pk, pcap_time=False, ns=names[1])
    if compare("kernel vs trace (real clock): %d rules of all six matches" % len(rules), k, b):
        FIGURES.append("single burst: %d rules x %d packets, identical" % (len(rules), len(pk)))
    compare("model vs kernel, same burst", expect(models_for(rules, {12: lambda p: p.proto == 6}),
                                                  [M.Pkt(now * 10**9 + p.t - T0, p.src, p.dst,
                                                         p.proto, p.sport, p.dport, p.ttl, p.len)
                                                   for p in pk]), k)


def kernel_phases(names):
    """Bursts separated by real sleeps: counts per phase must be the model's at the measured times."""
    rules = ["-m limit --limit 2/sec --limit-burst 4",
             "-m hashlimit --hashlimit-upto 2/sec --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name p1",
             "-m hashlimit --hashlimit-upto 2kb/s --hashlimit-burst 4kb --hashlimit-mode srcip --hashlimit-name p2",
             "-m hashlimit --hashlimit-upto 4/sec --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name p3 --hashlimit-rate-match --hashlimit-rate-interval 1",
             "-m recent --name p1 --rcheck --seconds 2 --hitcount 2",
             "-m recent --name p1 --set"]
    sleeps = [1.25, 3.2, 0.75, 2.6]
    phases, starts = [], []
    t_kernel = []
    for n, pause in enumerate([0.0] + sleeps):
        time.sleep(pause)
        pk = [M.Pkt(0, ip("10.6.0.%d" % (1 + i % 2)), ip("198.18.0.1"), 17, 1000, 53,
                    length=1000) for i in range(10)]
        t0 = time.time()
        res = kdiff(names, pk, rules if n == 0 else None)
        starts.append(t0)
        t_kernel.append(time.time() - t0)
        phases.append((pk, res))
    # our side and the model on the measured timeline (packets 1 ms apart)
    allp = []
    for (pk, _), s in zip(phases, starts):
        for i, p in enumerate(pk):
            allp.append(M.Pkt(int(s * 10**9) + i * 10**6, p.src, p.dst, p.proto, p.sport, p.dport,
                              length=p.len))
    want = expect(models_for(rules), allp)
    robust = True
    for shift in (-150, 150):
        alt = []
        acc = 0
        for n, (pk, _) in enumerate(phases):
            for i, p in enumerate(pk):
                q = allp[acc + i]
                alt.append(M.Pkt(q.t + (shift * 10**6 if n else 0), q.src, q.dst, q.proto, q.sport,
                                 q.dport, length=q.len))
            acc += len(pk)
        alt_want = expect(models_for(rules), alt)
        for r in range(1, len(rules) + 1):
            for n in range(len(phases)):
                a = counts(want[n * 10:(n + 1) * 10], "INPUT#%d" % r)
                b = counts(alt_want[n * 10:(n + 1) * 10], "INPUT#%d" % r)
                if a != b:
                    robust = False
    got = trace(rules, allp)
    summary = []
    for r in range(1, len(rules) + 1):
        rule = "INPUT#%d" % r
        km = [counts(res, rule) for _, res in phases]
        mm = [counts(want[n * 10:(n + 1) * 10], rule) for n in range(len(phases))]
        bm = [counts(got[n * 10:(n + 1) * 10], rule) for n in range(len(phases))]
        summary.append("%s kernel %s model %s ipt2bpf %s" % (rules[r - 1].split()[1], km, mm, bm))
        if bm != mm:
            bad("phases, %s: ipt2bpf %s, model %s" % (rules[r - 1], bm, mm))
        elif km != mm:
            bad("phases, %s: kernel %s, model %s%s" % (rules[r - 1], km, mm,
                                                       "" if robust else " (timing not robust)"))
        else:
            ok("phases (sleeps %s s), %s: per-phase counts %s on all three" % (
                sleeps, rules[r - 1], km))
    FIGURES.append("phases with real sleeps %s s: %s" % (sleeps, "; ".join(summary)))
    if not robust:
        print("  note: the model's counts change under a +-150 ms shift of the timeline")


def kernel_random(names):
    rules = ["-m statistic --mode random --probability 0.5",
             "-m statistic --mode random --probability 0.1",
             "-m statistic --mode random ! --probability 0.9"]
    n = 2000
    pk = [M.Pkt(T0 + i, ip("10.7.0.1"), ip("198.18.0.1")) for i in range(n)]
    k = kdiff(names, pk, rules)
    b = trace(rules, pk, pcap_time=False, ns=names[1])
    for r, p in zip(range(1, 4), (0.5, 0.1, 0.1)):
        sd = (n * p * (1 - p)) ** 0.5
        lo, hi = n * p - 5 * sd, n * p + 5 * sd
        kc, bc = counts(k, "INPUT#%d" % r), counts(b, "INPUT#%d" % r)
        # the two sides are independent samples: their difference is within 5 sd of 0 too
        if lo <= kc <= hi and lo <= bc <= hi and abs(kc - bc) <= 5 * sd * 2 ** 0.5:
            ok("random %s: kernel %d, ipt2bpf %d of %d (expected %.0f +- %.0f)" % (
                rules[r - 1].split("--mode random ")[1], kc, bc, n, n * p, 5 * sd))
            FIGURES.append("statistic %s: kernel %d, ipt2bpf %d of %d" % (
                rules[r - 1].split("--mode random ")[1], kc, bc, n))
        else:
            bad("random %s: kernel %d, ipt2bpf %d of %d, bounds [%.0f, %.0f]" % (
                rules[r - 1], kc, bc, n, lo, hi))


def kernel_refusals():
    """Payloads the kernel's checkentry refuses are refused here too."""
    cases = ["-m limit --limit 1/day --limit-burst 5",
             "-m hashlimit --hashlimit-upto 1/day --hashlimit-burst 100000 --hashlimit-name x",
             "-m recent --name a/b --set"]
    for r in cases:
        path = write("x.v4", rules_text([r]))
        k = run(["ip", "netns", "add", "lim-ref%d" % os.getpid()])
        k = run(["ip", "netns", "exec", "lim-ref%d" % os.getpid(), "iptables-legacy-restore"],
                input=rules_text([r]))
        run(["ip", "netns", "del", "lim-ref%d" % os.getpid()])
        b = run([IPT2BPF, path, "-o", os.path.join(TMP, "x.o")])
        if k.returncode and b.returncode:
            ok("refused by both: %s (%s)" % (r, b.stderr.strip().split(": ", 1)[-1][:90]))
        elif not k.returncode and not b.returncode:
            ok("accepted by both: %s" % r)
        else:
            bad("%s: kernel exit %d, ipt2bpf exit %d: %s" % (r, k.returncode, b.returncode,
                                                             (k.stderr + b.stderr).strip()[:200]))


# ----------------------------------------------------------------- live
def sec_live():
    print("== live: ipt2bpf load vs iptables-legacy, real pings")
    rules = ["-p icmp -m limit --limit 1/hour --limit-burst 5 -j ACCEPT",
             "-p icmp -m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name live -j ACCEPT",
             "-p icmp -m recent --name live --rcheck --seconds 600 --hitcount 3 -j DROP",
             "-p icmp -m recent --name live --set",
             "-p icmp -m statistic --mode nth --every 2 --packet 0 -j ACCEPT",
             "-p icmp -j DROP"]
    results, lists = {}, {}
    for side in ("kernel", "ipt2bpf"):
        a, b = "lim-l%d-a" % os.getpid(), "lim-l%d-b" % os.getpid()
        for ns in (a, b):
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b])
        run(["ip", "-n", a, "addr", "add", "10.77.0.1/24", "dev", "va"])
        run(["ip", "-n", b, "addr", "add", "10.77.0.2/24", "dev", "vb"])
        run(["ip", "-n", a, "link", "set", "va", "up"])
        run(["ip", "-n", b, "link", "set", "vb", "up"])
        rf = write("live.v4", rules_text(rules))
        try:
            if side == "kernel":
                res = run(["ip", "netns", "exec", b, "iptables-legacy-restore", rf])
            else:
                res = run(["ip", "netns", "exec", b, IPT2BPF, "load", rf])
            if res.returncode:
                bad("live %s: loading failed: %s" % (side, res.stderr.strip()[:300]))
                continue
            ping = run(["ip", "netns", "exec", a, "ping", "-n", "-c", "16", "-i", "0.02", "-W", "1",
                        "10.77.0.2"])
            m = re.search(r"(\d+) received", ping.stdout)
            got = int(m.group(1)) if m else -1
            if side == "kernel":
                lst = run(["ip", "netns", "exec", b, "iptables-legacy", "-L", "INPUT", "-v", "-n",
                           "-x"]).stdout
                pk = [int(line.split()[0]) for line in lst.splitlines()[2:] if line.strip()]
            else:
                st = json.loads(run(["ip", "netns", "exec", b, IPT2BPF, "status", "--json"]).stdout)
                pk = live_counters(st)
            lists[side] = recent_ops(side, b)
            if side != "kernel":
                run(["ip", "netns", "exec", b, IPT2BPF, "unload"])
            results[side] = (got, pk)
        finally:
            for ns in (a, b):
                run(["ip", "netns", "del", ns])
    if len(results) == 2 and results["kernel"] == results["ipt2bpf"] and results["kernel"][0] > 0:
        ok("live: 16 pings, %d replies on both, rule counters %s on both" % results["kernel"])
        FIGURES.append("live pings: %d of 16 replies, counters %s, kernel and ipt2bpf load" %
                       results["kernel"])
    elif len(results) == 2:
        bad("live: kernel (replies, counters) %s, ipt2bpf %s" % (results["kernel"],
                                                                 results["ipt2bpf"]))
    if len(lists) == 2 and lists["kernel"] == lists["ipt2bpf"] and lists["kernel"][0]:
        ok("live: recent list after the pings and after +, +, +, -, / (ipt2bpf recent vs "
           "/proc/net/xt_recent): %s" % " -> ".join(str(len(x)) for x in lists["kernel"]))
    elif len(lists) == 2:
        bad("live: recent lists: kernel %s, ipt2bpf %s" % (lists["kernel"], lists["ipt2bpf"]))


def recent_ops(side, ns):
    """The list after the pings, then after +ADDR, +ADDR again, -ADDR, and a flush: (src, ttl,
    number of stamps) as /proc/net/xt_recent/live, or `ipt2bpf recent`, shows them."""
    def show():
        if side == "kernel":
            out = run(["ip", "netns", "exec", ns, "cat", "/proc/net/xt_recent/live"]).stdout
        else:
            out = run(["ip", "netns", "exec", ns, IPT2BPF, "recent", "-n", "live"]).stdout
        ents = []
        for line in out.splitlines():
            m = re.match(r"src=(\S+) ttl: (\d+) last_seen: \d+ oldest_pkt: \d+ (.*)", line)
            if m:
                ents.append((m.group(1), int(m.group(2)), len(m.group(3).split(","))))
        return sorted(ents)

    def op(arg):
        if side == "kernel":
            run(["ip", "netns", "exec", ns, "sh", "-c", "echo %s > /proc/net/xt_recent/live" % arg])
        elif arg == "/":
            run(["ip", "netns", "exec", ns, IPT2BPF, "recent", "-n", "live", "--flush"])
        else:
            run(["ip", "netns", "exec", ns, IPT2BPF, "recent", "-n", "live",
                 "--add" if arg[0] == "+" else "--remove", arg[1:]])
    states = [show()]
    for arg in ("+192.0.2.7", "+192.0.2.7", "+192.0.2.9", "-10.77.0.1", "/"):
        op(arg)
        states.append(show())
    return states


def live_counters(st):
    """INPUT rule packet counters from `ipt2bpf status --json`."""
    for t in st.get("tables", []):
        if t.get("name") != "filter":
            continue
        for ch in t.get("chains", []):
            if ch.get("name") == "INPUT":
                return [r.get("pkts", r.get("packets", -1)) for r in ch.get("rules", [])]
    return []


def main():
    secs = sys.argv[1:] or ["model", "kernel", "live"]
    rng = random.Random(int(os.environ.get("LIMITS_SEED", "20240611")))
    t0 = time.time()
    for s in secs:
        try:
            {"model": sec_model, "kernel": sec_kernel, "live": sec_live}[s](
                *([rng] if s != "live" else []))
        except Exception as e:  # a broken step fails, the others still run
            bad("%s: %s" % (s, e))
    print("figures:")
    for f in FIGURES:
        print("  " + f)
    print("time: %.0f s" % (time.time() - t0))
    print("limits: %d passed, %d failed" % (NPASS, NFAIL))
    subprocess.run(["rm", "-rf", TMP])
    sys.exit(1 if NFAIL else 0)


if __name__ == "__main__":
    main()
