# SPDX-License-Identifier: GPL-2.0
"""Models of the kernel's stateful matches (Linux 6.1 net/netfilter/xt_*.c),
written from the kernel sources independently of the code generator, with
the kernel's integer widths and wrap-arounds.  Each rule object has
match(p) -> True/False, or "DROP" for a hotdrop; p is a Pkt."""
import calendar
import time
from collections import OrderedDict

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF


def ns_per_jiffy():
    return int(round(time.clock_getres(getattr(time, "CLOCK_MONOTONIC_COARSE", 6)) * 1e9))


NS_PER_JIFFY = ns_per_jiffy()
HZ = (10**9 + NS_PER_JIFFY // 2) // NS_PER_JIFFY


def pow2_below(x):
    p = 1
    while p * 2 <= x:
        p *= 2
    return p


def s64(x):
    x &= M64
    return x - (1 << 64) if x >> 63 else x


class Pkt:
    """What the models look at: time in ns, addresses as ints (host order), ports, ttl, len."""

    def __init__(self, t, src, dst, proto=17, sport=0, dport=0, ttl=64, length=28, fwd=False):
        self.t, self.src, self.dst, self.proto = t, src, dst, proto
        self.sport, self.dport, self.ttl, self.len, self.fwd = sport, dport, ttl, length, fwd

    @property
    def jiffies(self):
        return self.t // NS_PER_JIFFY


# ----------------------------------------------------------------- limit
class Limit:
    CPJ = pow2_below(M32 // (HZ * 60 * 60 * 24))

    @classmethod
    def u2c(cls, user):
        user &= M32
        if user > M32 // (HZ * cls.CPJ):
            return ((user // 10000) * HZ * cls.CPJ) & M32
        return ((user * HZ * cls.CPJ) & M32) // 10000

    def __init__(self, avg, burst):
        self.credit = self.u2c(avg * burst)
        self.cap = self.credit
        self.cost = self.u2c(avg)
        self.prev = None

    def match(self, p):
        now = p.jiffies
        if self.prev is None:  # inserted just now, credits full
            self.prev = now
        if self.credit < self.cost and self.prev == now:
            return False
        inc = ((now - self.prev) * self.CPJ) & M32
        self.prev = now
        new = min((self.credit + inc) & M32, self.cap)
        if new >= self.cost:
            self.credit = new - self.cost
            return True
        self.credit = new
        return False


# ----------------------------------------------------------------- hashlimit
DIP, DPT, SIP, SPT, INVERT, BYTES, RATE = 1, 2, 4, 8, 16, 32, 64
PORT_PROTOS = {6, 17, 33, 50, 132, 136}  # proto_ports_offset() == 0; AH (51) is 4


class HTable:
    def __init__(self):
        self.ent = {}


HTABLES = {}


class Hashlimit:
    """cfg: dict rev, mode, avg, burst, expire (ms), interval, srcmask, dstmask, name."""

    def __init__(self, cfg):
        self.c = c = cfg
        rev = c["rev"]
        self.cpj = pow2_below(M32 // (HZ * 86400)) if rev == 1 else pow2_below(M64 // (HZ * 86400))
        self.scale = 10000 if rev == 1 else 1000000
        self.cpjb = pow2_below(M32 // HZ)
        self.table = HTABLES.setdefault(c["name"], HTable())
        self.expire_j = -(-c["expire"] * HZ // 1000)

    def u2c(self, user):
        user &= M64
        hc = HZ * self.cpj
        if self.scale >= hc:
            return user // (self.scale // hc)
        return (user * (hc // self.scale)) & M64

    def init(self, e, now):
        c = self.c
        e["prev"] = now
        if c["mode"] & RATE:
            e["prev_window"] = 0
            e["current_rate"] = 0
            if c["mode"] & BYTES:
                u = c["avg"] & M32
                r = M32 // u if u else M32
                e["rate"] = ((r - 1) << 4) & M64
                e["burst"] = (c["burst"] * e["rate"]) & M64 if c["burst"] else e["rate"]
            else:
                e["rate"] = 1000000 // c["avg"]
                e["burst"] = (c["burst"] + e["rate"]) & M64
            e["interval"] = c["interval"]
        elif c["mode"] & BYTES:
            e["credit"] = self.cpjb * HZ
            e["cost"] = (((c["avg"] & M32) * (HZ * self.cpjb)) >> 32) & M32
            e["credit_cap"] = c["burst"]
        else:
            e["credit"] = self.u2c(c["avg"] * c["burst"])
            e["cost"] = self.u2c(c["avg"])
            e["credit_cap"] = e["credit"]

    def recalc(self, e, now):
        delta = (now - e["prev"]) & M64
        if delta == 0:
            return
        if self.c["mode"] & RATE:
            interval = (e["interval"] * HZ) & M32
            if delta < interval:
                return
            e["prev"] = now
            e["prev_window"] = int((e["current_rate"] * interval) & M64 > (delta * e["rate"]) & M64)
            e["current_rate"] = 0
            return
        e["prev"] = now
        if self.c["mode"] & BYTES:
            tmp = e["credit"]
            e["credit"] = (e["credit"] + self.cpjb * delta) & M64
            cap = self.cpjb * HZ
            if tmp >= e["credit"]:
                e["credit"] = cap
                return
        else:
            e["credit"] = (e["credit"] + delta * self.cpj) & M64
            cap = e["credit_cap"]
        if e["credit"] > cap:
            e["credit"] = cap

    def key(self, p):
        c, m = self.c, self.c["mode"]

        def mask(a, l):
            return a & ((M32 << (32 - l)) & M32) if l else 0

        dst = mask(p.dst, c["dstmask"]) if m & DIP else 0
        src = mask(p.src, c["srcmask"]) if m & SIP else 0
        sp = dp = 0
        if m & (SPT | DPT):
            if p.proto in PORT_PROTOS or p.proto == 51:
                if p.sport is None:  # truncated: skb_header_pointer() fails
                    return None
                sp, dp = p.sport, p.dport
            if not m & SPT:
                sp = 0
            if not m & DPT:
                dp = 0
        return (src, dst, sp, dp)

    def match(self, p):
        c, now = self.c, p.jiffies
        k = self.key(p)
        if k is None:
            return "DROP"
        e = self.table.ent.get(k)
        if e is not None and s64(now - e["expires"]) >= 0:
            del self.table.ent[k]  # the garbage collector's work, done at once
            e = None
        if e is None:
            e = self.table.ent[k] = {}
            self.init(e, now)
        else:
            self.recalc(e, now)
        e["expires"] = now + self.expire_j
        inv = bool(c["mode"] & INVERT)
        if c["mode"] & RATE:
            e["current_rate"] = (e["current_rate"] + (p.len if c["mode"] & BYTES else 1)) & M64
            return (not inv) if (not e["prev_window"] and e["current_rate"] <= e["burst"]) else inv
        if c["mode"] & BYTES:
            capb = self.cpjb * HZ
            tmp = min(((p.len >> 4) + 1) * e["cost"], capb)
            if e["credit"] < tmp and e["credit_cap"]:
                e["credit_cap"] -= 1
                e["credit"] = capb
            cost = tmp
        else:
            cost = e["cost"]
        if e["credit"] >= cost:
            e["credit"] -= cost
            return not inv
        return inv


# ----------------------------------------------------------------- recent
SET, CHECK, UPDATE, REMOVE, TTL, REAP = 2, 1, 4, 8, 16, 32
IP_LIST_TOT = 100


class RTable:
    def __init__(self, mask, nsmask):
        self.mask, self.nsmask = mask, nsmask
        self.ent = OrderedDict()  # addr -> entry, in LRU order


RTABLES = {}


def recent_tables(rules):
    """checkentry in rule order: the first rule's mask, the largest stamp mask."""
    RTABLES.clear()
    for r in rules:
        hc = r["hitcount"]
        nsmask = (1 << (hc - 1).bit_length()) - 1 if hc else 31
        t = RTABLES.get(r["name"])
        if t is None:
            RTABLES[r["name"]] = RTable(r["mask"], nsmask)
        elif nsmask > t.nsmask:
            t.ent.clear()
            t.nsmask = nsmask


class Recent:
    """r: dict name, op (flags), seconds, hitcount, invert, dest, mask."""

    def __init__(self, r):
        self.r = r

    def match(self, p):
        r = self.r
        t = RTABLES[r["name"]]
        now = p.jiffies
        addr = (p.dst if r["dest"] else p.src) & t.mask
        ttl = (p.ttl + 1) & 0xFF if p.fwd else p.ttl
        ret = r["invert"]
        lttl = ttl if r["op"] & TTL else 0
        e = t.ent.get(addr)
        if e is not None and not (lttl == e["ttl"] or lttl == 0 or e["ttl"] == 0):
            e = None
        if e is None:
            if not r["op"] & SET:
                return ret
            if len(t.ent) >= IP_LIST_TOT:
                t.ent.popitem(last=False)
            e = t.ent[addr] = {"ttl": ttl, "stamps": [now] + [0] * t.nsmask, "nstamps": 1,
                               "index": 1}
            return not ret
        if r["op"] & SET:
            ret = not ret
        elif r["op"] & REMOVE:
            del t.ent[addr]
            return not ret
        else:
            tm = (now - ((r["seconds"] * HZ) & M32)) & M64
            hits = 0
            for i in range(e["nstamps"]):
                if r["seconds"] and s64(e["stamps"][i] - tm) < 0:
                    continue
                hits += 1
                if not r["hitcount"] or hits >= r["hitcount"]:
                    ret = not ret
                    break
            if r["op"] & REAP:
                head_addr, head = next(iter(t.ent.items()))
                if not (head is e and r["op"] & UPDATE and ret):
                    last = head["stamps"][(head["index"] - 1) & 0xFF]
                    if s64(last - tm) < 0:
                        del t.ent[head_addr]
        if r["op"] & SET or (r["op"] & UPDATE and ret):
            e["index"] &= t.nsmask
            e["stamps"][e["index"]] = now
            e["index"] = (e["index"] + 1) & 0xFF
            e["nstamps"] = max(e["nstamps"], e["index"])
            t.ent.move_to_end(addr)
            e["ttl"] = ttl
        return ret


# ----------------------------------------------------------------- statistic, quota
class Nth:
    def __init__(self, every, count, invert=False):
        self.every, self.count, self.inv = every, count, invert

    def match(self, p):
        self.count = 0 if self.count == self.every else (self.count + 1) & M32
        return (self.count == 0) != self.inv


class Quota:
    def __init__(self, quota, invert=False):
        self.q, self.inv = quota, invert

    def match(self, p):
        if self.q >= p.len:
            self.q -= p.len
            return not self.inv
        self.q = 0
        return self.inv


# ----------------------------------------------------------------- time
def days_civil(dse):
    """(year, day of the year) of days since the epoch, clamped at 2039 like the kernel."""
    y, d = 1970, dse
    while True:
        n = 366 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 365
        if y == 2039 or d < n:
            return y, d
        d -= n
        y += 1


class Time:
    """info: dict date_start, date_stop, daytime_start, daytime_stop, monthdays, weekdays, flags."""

    def __init__(self, info, tz_minutes=0):
        self.i, self.tz = info, tz_minutes

    def match(self, p):
        i = self.i
        stamp = p.t // 10**9
        if i["flags"] & 1:
            stamp -= 60 * self.tz
        if stamp < i["date_start"] or stamp > i["date_stop"]:
            return False
        pt = (stamp & M64) % 86400
        if i["daytime_start"] < i["daytime_stop"]:
            if pt < i["daytime_start"] or pt > i["daytime_stop"]:
                return False
        else:
            if i["daytime_start"] > pt > i["daytime_stop"]:
                return False
            if i["flags"] & 2 and pt <= i["daytime_stop"]:
                stamp -= 86400
        dse = ((stamp & M64) // 86400) & M32
        wd = (4 + dse - 1) % 7 + 1
        if not i["weekdays"] & (1 << wd):
            return False
        if i["monthdays"] != 0xFFFFFFFE:
            y, d = days_civil(dse)
            starts = [sum(calendar.monthrange(y if y < 2039 else 2039, m)[1]
                          for m in range(1, k)) for k in range(1, 13)]
            k = max(j for j in range(12) if j == 0 or starts[j] <= d)
            md = (d - starts[k] + 1) & 0xFF
            if not i["monthdays"] & (1 << (md & 31)):
                return False
        return True
