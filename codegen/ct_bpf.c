// SPDX-License-Identifier: GPL-2.0
/*
 * The connection tracker, in restricted C for clang -target bpf.  Built
 * twice (skb and, with -DCT_XDP, xdp_buff) and spliced into every program
 * that uses connection state as two static BPF functions (codegen/ct.c):
 *
 *   ct_in(pkt)                 nf_conntrack_in(): classify the packet, run
 *                              the protocol tracker on an existing
 *                              connection, prepare a new one
 *   ct_confirm(pkt, accepted)  __nf_conntrack_confirm(): insert the new
 *                              connection if the rules accepted it; store
 *                              connmark/secmark/connlabel changes
 *
 * ct_in() is a global function (BTF linkage global: the verifier checks it
 * once per program, whatever the callers' states) with the one argument
 * global functions get here, the parsed packet; the prologue puts the clock,
 * the hook and the transport header's first bytes in the scratch map for it.
 *
 * It follows Linux 6.1's nf_conntrack_core.c, nf_conntrack_proto_tcp.c
 * (state table, tcp_in_window() window tracking, timeouts), _udp.c, _icmp.c
 * and _generic.c.  What it does not do is listed in the README notes
 * (/work/notes/ct-readme.md): no helpers/expectations, no NAT, no checksum
 * verification, the protocols SCTP/DCCP/GRE/UDP-Lite tracked as generic.
 *
 * Everything is inlined into the two functions: the splicer copies .text as
 * is and only rewrites map references (no calls inside, no .rodata).
 */
/* BPF only: a host compiler of all of codegen (scripts/fuzz.sh) gets an empty unit. */
#ifdef __bpf__
#include <linux/bpf.h>
#include <linux/types.h>
#include <linux/in.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ct.h"

#define ETH_HLEN       14
#define NS_PER_S       1000000000ULL
#define IP_MF	       0x2000
#define NR_ICMP_TYPES_ 18

#define INLINE static __always_inline
/* The two entry points: global symbols the splicer finds (a test build makes them static). */
#ifndef CT_FUNC
#define CT_FUNC __attribute__((noinline))
#endif

/* ICMP types (RFC 792; linux/icmp.h drags in libc headers a BPF build cannot use). */
#define ICMP_ECHOREPLY	    0
#define ICMP_DEST_UNREACH   3
#define ICMP_SOURCE_QUENCH  4
#define ICMP_REDIRECT	    5
#define ICMP_ECHO	    8
#define ICMP_TIME_EXCEEDED  11
#define ICMP_PARAMETERPROB  12
#define ICMP_TIMESTAMP	    13
#define ICMP_TIMESTAMPREPLY 14
#define ICMP_INFO_REQUEST   15
#define ICMP_INFO_REPLY	    16
#define ICMP_ADDRESS	    17
#define ICMP_ADDRESSREPLY   18

/* Values of the hooks (linux/netfilter.h) and of the verdicts, without the headers' baggage. */
#define HOOK_LOCAL_IN  1
#define HOOK_FORWARD   2
#define HOOK_LOCAL_OUT 3

/* struct tcphdr flag bits (byte 13). */
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20
#define TH_ECE 0x40
#define TH_CWR 0x80

enum { TCP_SYN_SET, TCP_SYNACK_SET, TCP_FIN_SET, TCP_ACK_SET, TCP_RST_SET, TCP_NONE_SET };

/* The maps: only their names matter here (the splicer maps them to the program's). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GEN_CT_MAX_ENTRIES);
	__type(key, struct gen_ct_key);
	__type(value, struct gen_ct_entry);
} ipt_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_ct_scratch);
} ipt_ct_scr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GEN_CT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ipt_ct_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_ct_cfg);
} ipt_ct_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GEN_CL_MAX_KEYS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct gen_cl_key);
	__type(value, struct gen_cl_list);
} ipt_connlimit SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_cl_list);
} ipt_cl_tmp SEC(".maps");

/* The kernel's tcp_conntracks[2][6][10], one 40-bit row (4 bits per old state) per (dir, index). */
#define sNO TCP_CONNTRACK_NONE
#define sSS TCP_CONNTRACK_SYN_SENT
#define sSR TCP_CONNTRACK_SYN_RECV
#define sES TCP_CONNTRACK_ESTABLISHED
#define sFW TCP_CONNTRACK_FIN_WAIT
#define sCW TCP_CONNTRACK_CLOSE_WAIT
#define sLA TCP_CONNTRACK_LAST_ACK
#define sTW TCP_CONNTRACK_TIME_WAIT
#define sCL TCP_CONNTRACK_CLOSE
#define sS2 TCP_CONNTRACK_SYN_SENT2
#define sIV TCP_CONNTRACK_MAX
#define sIG TCP_CONNTRACK_IGNORE
#define ROW(a, b, c, d, e, f, g, h, i, j)                                                          \
	((__u64)(a) | (__u64)(b) << 4 | (__u64)(c) << 8 | (__u64)(d) << 12 | (__u64)(e) << 16 |    \
	 (__u64)(f) << 20 | (__u64)(g) << 24 | (__u64)(h) << 28 | (__u64)(i) << 32 |               \
	 (__u64)(j) << 36)

/* sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2 */
#define O_SYN	 ROW(sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2)
#define O_SYNACK ROW(sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR)
#define O_FIN	 ROW(sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV)
#define O_ACK	 ROW(sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV)
#define X_RST	 ROW(sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL)
#define X_NONE	 ROW(sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV)
#define R_SYN	 ROW(sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2)
#define R_SYNACK ROW(sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR)
#define R_FIN	 ROW(sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV)
#define R_ACK	 ROW(sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG)

INLINE __u32 tcp_next(__u32 dir, __u32 index, __u32 old)
{
	__u64 row;

	/* If-chains rather than an array: no .rodata to relocate. */
	if (index == TCP_RST_SET)
		row = X_RST;
	else if (index == TCP_NONE_SET)
		row = X_NONE;
	else if (!dir)
		row = index == TCP_SYN_SET	? O_SYN
		      : index == TCP_SYNACK_SET ? O_SYNACK
		      : index == TCP_FIN_SET	? O_FIN
						: O_ACK;
	else
		row = index == TCP_SYN_SET	? R_SYN
		      : index == TCP_SYNACK_SET ? R_SYNACK
		      : index == TCP_FIN_SET	? R_FIN
						: R_ACK;
	/* Keep clang from turning the selection into a lookup table. */
	asm volatile("" : "+r"(row));
	return (__u32)(row >> ((old & 15) * 4)) & 15;
}

/* tcp_valid_flags[]: the combinations tcp_error() accepts (PSH, ECE, CWR masked off). */
INLINE int tcp_flags_valid(__u8 f)
{
	f &= ~(TH_ECE | TH_CWR | TH_PSH);
	switch (f) {
	case TH_SYN:
	case TH_SYN | TH_URG:
	case TH_SYN | TH_ACK:
	case TH_RST:
	case TH_RST | TH_ACK:
	case TH_FIN | TH_ACK:
	case TH_FIN | TH_ACK | TH_URG:
	case TH_ACK:
	case TH_ACK | TH_URG:
		return 1;
	}
	return 0;
}

INLINE __u32 tcp_index(__u8 f)
{
	if (f & TH_RST)
		return TCP_RST_SET;
	if (f & TH_SYN)
		return f & TH_ACK ? TCP_SYNACK_SET : TCP_SYN_SET;
	if (f & TH_FIN)
		return TCP_FIN_SET;
	if (f & TH_ACK)
		return TCP_ACK_SET;
	return TCP_NONE_SET;
}

INLINE int before(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}
#define after(a, b) before(b, a)

INLINE void stat_inc(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&ipt_ct_stats, &idx);

	if (c)
		*c += 1;
}

/* ------------------------------------------------------------ configuration */

struct tmo {
	__u32 loose, liberal, max_retrans, ignore_invalid_rst;
};

/*
 * Timeout t (GEN_CT_T_* or TCP_CONNTRACK_*) in ns: the configured one, else
 * the kernel's.  Constant offsets into cfg, one per case: a variable index
 * would make the verifier track t precisely and multiply its states.
 */
#define TMO(idx)                                                                                   \
	case idx:                                                                                  \
		s = cfg->timeout[idx];                                                             \
		break

INLINE __u64 timeout_ns(const struct gen_ct_cfg *cfg, __u32 t)
{
	__u32 s;

	switch (t) {
		TMO(TCP_CONNTRACK_SYN_SENT);
		TMO(TCP_CONNTRACK_SYN_RECV);
		TMO(TCP_CONNTRACK_ESTABLISHED);
		TMO(TCP_CONNTRACK_FIN_WAIT);
		TMO(TCP_CONNTRACK_CLOSE_WAIT);
		TMO(TCP_CONNTRACK_LAST_ACK);
		TMO(TCP_CONNTRACK_TIME_WAIT);
		TMO(TCP_CONNTRACK_CLOSE);
		TMO(TCP_CONNTRACK_SYN_SENT2);
		TMO(TCP_CONNTRACK_RETRANS);
		TMO(TCP_CONNTRACK_UNACK);
		TMO(GEN_CT_T_UDP);
		TMO(GEN_CT_T_UDP_STREAM);
		TMO(GEN_CT_T_ICMP);
		TMO(GEN_CT_T_GRE);
		TMO(GEN_CT_T_GRE_STREAM);
	default:
		s = cfg->timeout[GEN_CT_T_GENERIC];
		break;
	}
	return (__u64)s * NS_PER_S;
}

/* ------------------------------------------------------------ packet access */

struct tcpinfo {
	__u32 seq, ack, end, win; /* host order */
	__u32 sack;		  /* the highest SACK right edge after ack (tcp_sack()) */
	__u16 win_raw;
	__u8 flags;
	__u8 doff;
	__u8 opt_ok;	 /* options present and readable: tcp_options() would parse them */
	__u8 opt_wscale; /* what tcp_options() finds */
	__u8 opt_flags;	 /* IP_CT_TCP_FLAG_WINDOW_SCALE | IP_CT_TCP_FLAG_SACK_PERM */
	__u8 pad;
	__u32 opt_i, opt_len; /* the option walk's position, kept in map memory (see below) */
};

/*
 * The TCP options, once per packet, as tcp_options() (window scale, SACK
 * permitted) and tcp_sack() (the highest SACK right edge after the ACK)
 * would find them.  buf: 40 bytes of map memory (the stack is tight).
 */
INLINE void tcp_parse_options(struct tcpinfo *ti, __u32 len, const __u8 *pbuf)
{
	/*
	 * The walk's position and length live in map memory, read back each
	 * round: the verifier does not track what a map holds, so the states
	 * at the loop head do not differ by offset and prune.  Indexes into
	 * pbuf are masked to stay inside it.
	 */
	volatile __u32 *pi = &ti->opt_i, *plen = &ti->opt_len;
	int want_sack = 1;

	ti->sack = ti->ack;
	if (!len || len > 40)
		return;
	ti->opt_ok = 1;
	/* tcp_sack()'s fast path: timestamps alone carry no SACK. */
	if (len == 12 && pbuf[20] == 1 && pbuf[21] == 1 && pbuf[22] == 8 && pbuf[23] == 10)
		want_sack = 0;
	*pi = 0;
	*plen = len;
	for (int n = 0; n < 40; n++) {
		__u32 i = *pi, l = *plen;
		__u8 op, sz;

		if (i >= l)
			break;
		op = pbuf[(20 + i) & 127];
		if (op == 0) /* TCPOPT_EOL */
			break;
		if (op == 1) { /* TCPOPT_NOP */
			*pi = i + 1;
			continue;
		}
		if (l - i < 2)
			break;
		sz = pbuf[(21 + i) & 127];
		if (sz < 2 || sz > l - i)
			break;
		if (op == 4 && sz == 2) { /* SACK permitted */
			ti->opt_flags |= IP_CT_TCP_FLAG_SACK_PERM;
		} else if (op == 3 && sz == 3) { /* window scale */
			__u8 sc = pbuf[(22 + i) & 127];

			ti->opt_wscale = sc > 14 ? 14 : sc;
			ti->opt_flags |= IP_CT_TCP_FLAG_WINDOW_SCALE;
		} else if (want_sack && op == 5 && sz >= 10 && !((sz - 2) % 8)) {
			/* tcp_sack() stops at the first SACK option */
			for (__u32 bl = 0; bl < 4; bl++) {
				__u32 o = 20 + i + 2 + bl * 8 + 4, v;

				if (bl * 8 >= (__u32)sz - 2)
					break;
				v = (__u32)pbuf[o & 127] << 24 | (__u32)pbuf[(o + 1) & 127] << 16 |
				    (__u32)pbuf[(o + 2) & 127] << 8 | pbuf[(o + 3) & 127];
				if (after(v, ti->sack))
					ti->sack = v;
			}
			want_sack = 0;
		}
		*pi = i + sz;
	}
}

/* tcp_options() into a direction's state. */
INLINE void tcp_options(const struct tcpinfo *ti, __u8 *scale, __u8 *flags)
{
	if (!ti->opt_ok)
		return;
	*scale = ti->opt_wscale;
	*flags = (*flags & IP_CT_TCP_FLAG_BE_LIBERAL) | ti->opt_flags;
}

/* ------------------------------------------------------------ keys */

INLINE int icmp_request_type(__u8 t)
{
	return t == ICMP_ECHO || t == ICMP_TIMESTAMP || t == ICMP_INFO_REQUEST || t == ICMP_ADDRESS;
}

/* invmap[]: the reply type of a query type and back, 0xff: none. */
INLINE __u8 icmp_invert(__u8 t)
{
	switch (t) {
	case ICMP_ECHO:
		return ICMP_ECHOREPLY;
	case ICMP_ECHOREPLY:
		return ICMP_ECHO;
	case ICMP_TIMESTAMP:
		return ICMP_TIMESTAMPREPLY;
	case ICMP_TIMESTAMPREPLY:
		return ICMP_TIMESTAMP;
	case ICMP_INFO_REQUEST:
		return ICMP_INFO_REPLY;
	case ICMP_INFO_REPLY:
		return ICMP_INFO_REQUEST;
	case ICMP_ADDRESS:
		return ICMP_ADDRESSREPLY;
	case ICMP_ADDRESSREPLY:
		return ICMP_ADDRESS;
	}
	return 0xff;
}

/* A tuple as the kernel's nf_conntrack_tuple holds it (ports network order; ICMP see ct.h). */
struct tuple {
	__u32 src, dst;
	__u16 sport, dport;
	__u8 proto;
	__u8 icmp; /* ICMP query: sport = id, dport = htons(type << 8 | code) */
	__u8 itype, icode;
};

INLINE void make_key(struct gen_ct_key *k, const struct tuple *t)
{
	k->proto = t->proto;
	k->pad = 0;
	k->zone = 0;
	if (t->icmp) {
		int req = icmp_request_type(t->itype);

		k->a0 = req ? t->src : t->dst;
		k->a1 = req ? t->dst : t->src;
		k->p0 = t->sport;
		k->p1 = bpf_htons(
			(__u16)((req ? t->itype : icmp_invert(t->itype)) << 8 | t->icode));
		return;
	}
	if (t->src < t->dst || (t->src == t->dst && t->sport <= t->dport)) {
		k->a0 = t->src;
		k->a1 = t->dst;
		k->p0 = t->sport;
		k->p1 = t->dport;
	} else {
		k->a0 = t->dst;
		k->a1 = t->src;
		k->p0 = t->dport;
		k->p1 = t->sport;
	}
}

/* Which direction of e the tuple t is (it keys the same: it is one of the two). */
INLINE __u8 tuple_dir(const struct gen_ct_entry *e, const struct tuple *t)
{
	if (t->icmp)
		return icmp_request_type(t->itype) ? IP_CT_DIR_ORIGINAL : IP_CT_DIR_REPLY;
	return t->src == e->src && t->sport == e->sport && t->dst == e->dst && t->dport == e->dport
		       ? IP_CT_DIR_ORIGINAL
		       : IP_CT_DIR_REPLY;
}

/* ------------------------------------------------------------ TCP */

/*
 * R_NOACCT: accepted without nf_ct_refresh_acct() (a SYN retransmitted
 * before any reply: neither the timeout nor the counters move).  R_IGNORE
 * does not count either; R_KILL does (nf_ct_kill_acct()).
 */
enum { R_ACCEPT, R_INVALID, R_IGNORE, R_REPEAT, R_KILL, R_NOACCT };

INLINE void tcp_init_sender(const struct tcpinfo *ti, struct gen_ct_tcp_seen *sender,
			    struct gen_ct_tcp_seen *receiver, __u32 dir)
{
	sender->td_end = sender->td_maxend = ti->end;
	sender->td_maxwin = ti->win == 0 ? 1 : ti->win;
	tcp_options(ti, &sender->td_scale, &sender->flags);
	/* RFC 1323: scaling only when both sides offer it. */
	if (dir == IP_CT_DIR_REPLY && !(sender->flags & IP_CT_TCP_FLAG_WINDOW_SCALE &&
					receiver->flags & IP_CT_TCP_FLAG_WINDOW_SCALE)) {
		sender->td_scale = 0;
		receiver->td_scale = 0;
	}
}

INLINE int store_invalid(const struct gen_ct_tcp_seen *sender, const struct tmo *tm, int ret)
{
	if (sender->flags & IP_CT_TCP_FLAG_BE_LIBERAL || tm->liberal)
		return R_ACCEPT;
	return ret;
}

/* tcp_in_window(): R_ACCEPT, R_IGNORE or R_INVALID. */
INLINE int tcp_in_window(struct gen_ct_entry *e, struct gen_ct_tcp_seen *sender,
			 struct gen_ct_tcp_seen *receiver, __u32 dir, __u32 index,
			 const struct tcpinfo *ti, const struct tmo *tm)
{
	__u32 seq = ti->seq, ack = ti->ack, sack = ti->ack, end = ti->end, win = ti->win, swin;
	__u32 maxackwin;
	int in_recv_win, seq_ok;

	if (receiver->flags & IP_CT_TCP_FLAG_SACK_PERM)
		sack = ti->sack;

	if (sender->td_maxwin == 0) {
		if (ti->flags & TH_SYN) {
			tcp_init_sender(ti, sender, receiver, dir);
			if (!(ti->flags & TH_ACK))
				return R_ACCEPT; /* simultaneous open */
		} else {
			/* mid-connection: its history is lost for us */
			sender->td_end = end;
			swin = win << sender->td_scale;
			sender->td_maxwin = swin == 0 ? 1 : swin;
			sender->td_maxend = end + sender->td_maxwin;
			if (receiver->td_maxwin == 0)
				receiver->td_end = receiver->td_maxend = sack;
			else if (sack == receiver->td_end + 1)
				receiver->td_end++;
		}
	} else if ((ti->flags & TH_SYN) && after(end, sender->td_end) &&
		   (e->state == TCP_CONNTRACK_SYN_SENT || e->state == TCP_CONNTRACK_SYN_RECV)) {
		tcp_init_sender(ti, sender, receiver, dir);
		if (dir == IP_CT_DIR_REPLY && !(ti->flags & TH_ACK))
			return R_ACCEPT;
	}

	if (!(ti->flags & TH_ACK))
		ack = sack = receiver->td_end;
	else if ((ti->flags & (TH_ACK | TH_RST)) == (TH_ACK | TH_RST) && ack == 0)
		ack = sack = receiver->td_end;

	if ((ti->flags & TH_RST) && seq == 0 && e->state == TCP_CONNTRACK_SYN_SENT)
		seq = end = sender->td_end;

	maxackwin = sender->td_maxwin > 66000 ? sender->td_maxwin : 66000;
	seq_ok = before(seq, sender->td_maxend + 1);
	if (!seq_ok) {
		__u32 overshot = end - sender->td_maxend + 1;
		int ack_ok = after(sack, receiver->td_end - maxackwin - 1);

		in_recv_win =
			receiver->td_maxwin && after(end, sender->td_end - receiver->td_maxwin - 1);
		if (in_recv_win && ack_ok && overshot <= receiver->td_maxwin &&
		    before(sack, receiver->td_end + 1)) {
			sender->td_end = end;
			sender->flags |= IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED;
			return store_invalid(sender, tm, R_IGNORE);
		}
		return store_invalid(sender, tm, R_INVALID);
	}
	if (!before(sack, receiver->td_end + 1))
		return store_invalid(sender, tm, R_INVALID);
	in_recv_win = !receiver->td_maxwin || after(end, sender->td_end - receiver->td_maxwin - 1);
	if (!in_recv_win)
		return store_invalid(sender, tm, R_IGNORE);
	if (!after(sack, receiver->td_end - maxackwin - 1))
		return store_invalid(sender, tm, R_IGNORE);

	if (!(ti->flags & TH_SYN))
		win <<= sender->td_scale & 15;

	swin = win + (sack - ack);
	if (sender->td_maxwin < swin)
		sender->td_maxwin = swin;
	if (after(end, sender->td_end)) {
		sender->td_end = end;
		sender->flags |= IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED;
	}
	if (ti->flags & TH_ACK) {
		if (!(sender->flags & IP_CT_TCP_FLAG_MAXACK_SET)) {
			sender->td_maxack = ack;
			sender->flags |= IP_CT_TCP_FLAG_MAXACK_SET;
		} else if (after(ack, sender->td_maxack)) {
			sender->td_maxack = ack;
		}
	}

	if (receiver->td_maxwin != 0 && after(end, sender->td_maxend))
		receiver->td_maxwin += end - sender->td_maxend;
	if (after(sack + win, receiver->td_maxend - 1)) {
		receiver->td_maxend = sack + win;
		if (win == 0)
			receiver->td_maxend++;
	}
	if (ack == receiver->td_end)
		receiver->flags &= ~IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED;

	if (index == TCP_ACK_SET) {
		if (e->last_dir == dir && e->last_seq == seq && e->last_ack == ack &&
		    e->last_end == end && e->last_win == ti->win_raw) {
			e->retrans++;
		} else {
			e->last_dir = dir;
			e->last_seq = seq;
			e->last_ack = ack;
			e->last_end = end;
			e->last_win = ti->win_raw;
			e->retrans = 0;
		}
	}
	return R_ACCEPT;
}

/* nf_tcp_handle_invalid(): an out-of-window FIN/RST may shorten an assured connection's timeout. */
INLINE void tcp_handle_invalid(struct gen_ct_entry *e, __u32 dir, __u32 index,
			       const struct gen_ct_cfg *cfg, __u64 now)
{
	__u64 left, unack;

	if (!(e->status & IPS_ASSURED) || (e->status & IPS_FIXED_TIMEOUT))
		return;
	if (index != TCP_RST_SET && index != TCP_FIN_SET)
		return;
	if (e->last_dir != dir && (e->last_index == TCP_FIN_SET || e->last_index == TCP_RST_SET)) {
		left = e->expires > now ? e->expires - now : 0;
		if (left < 120 * NS_PER_S)
			return;
		unack = timeout_ns(cfg, TCP_CONNTRACK_UNACK);
		if (left > unack)
			e->expires = now + unack;
	} else {
		e->last_index = index;
		e->last_dir = dir;
	}
}

INLINE int tcp_established(const struct gen_ct_entry *e)
{
	return e->state == TCP_CONNTRACK_ESTABLISHED && (e->status & IPS_ASSURED);
}

INLINE int tcp_can_early_drop(const struct gen_ct_entry *e)
{
	return e->state == TCP_CONNTRACK_FIN_WAIT || e->state == TCP_CONNTRACK_LAST_ACK ||
	       e->state == TCP_CONNTRACK_TIME_WAIT || e->state == TCP_CONNTRACK_CLOSE ||
	       e->state == TCP_CONNTRACK_CLOSE_WAIT;
}

/* tcp_new(): a first packet; 0 if it cannot start a connection. */
INLINE int tcp_new(struct gen_ct_entry *e, const struct tcpinfo *ti, const struct tmo *tm)
{
	__u32 ns = tcp_next(0, tcp_index(ti->flags), TCP_CONNTRACK_NONE);
	struct gen_ct_tcp_seen *s0 = &e->seen[0];

	if (ns >= TCP_CONNTRACK_MAX)
		return 0;
	if (ns == TCP_CONNTRACK_SYN_SENT) {
		s0->td_end = ti->end;
		s0->td_maxwin = ti->win_raw ? ti->win_raw : 1;
		s0->td_maxend = s0->td_end;
		tcp_options(ti, &s0->td_scale, &s0->flags);
	} else if (!tm->loose) {
		return 0;
	} else {
		s0->td_end = ti->end;
		s0->td_maxwin = ti->win_raw ? ti->win_raw : 1;
		s0->td_maxend = s0->td_end + s0->td_maxwin;
		s0->flags = e->seen[1].flags = IP_CT_TCP_FLAG_SACK_PERM | IP_CT_TCP_FLAG_BE_LIBERAL;
	}
	e->last_index = TCP_NONE_SET;
	return 1;
}

/*
 * nf_conntrack_tcp_packet()'s first case: a SYN reopening a connection that
 * was closed or aborted.  The kernel kills it and looks up again (NF_REPEAT):
 * the packet then starts a new connection.
 */
INLINE int tcp_reopen(const struct gen_ct_entry *e, const struct gen_ct_tcp_seen *snd,
		      const struct gen_ct_tcp_seen *rcv, __u32 d, const struct tcpinfo *ti)
{
	__u32 index = tcp_index(ti->flags);

	return tcp_next(d, index, e->state) == TCP_CONNTRACK_SYN_SENT &&
	       e->state >= TCP_CONNTRACK_TIME_WAIT &&
	       (((snd->flags | rcv->flags) & IP_CT_TCP_FLAG_CLOSE_INIT) ||
		(e->last_dir == d && e->last_index == TCP_RST_SET));
}

/*
 * nf_conntrack_tcp_packet() on e (new or existing), snd and rcv being
 * copies of e->seen[dir] and e->seen[!dir] at fixed places (a variable
 * index would make the verifier track dir precisely and double its work); *tmo_out is the timeout
 * to refresh with, or 0 to leave the timeout alone.
 */
INLINE int tcp_packet(struct gen_ct_entry *e, struct gen_ct_tcp_seen *snd,
		      struct gen_ct_tcp_seen *rcv, __u32 dir, const struct tcpinfo *ti,
		      const struct tmo *tm, const struct gen_ct_cfg *cfg, __u64 now, __u64 *tmo_out)
{
	__u32 index = tcp_index(ti->flags), old_state = e->state, new_state, d = dir & 1;
	__u64 timeout, t_new, t_retrans, t_unack;
	int res;

	*tmo_out = 0;
	new_state = tcp_next(d, index, old_state);

	if (new_state == TCP_CONNTRACK_SYN_SENT) {
		/* (reopening a closed/aborted connection was handled by tcp_reopen()) */
		if (old_state >= TCP_CONNTRACK_TIME_WAIT)
			goto ignore;
	} else if (new_state == TCP_CONNTRACK_IGNORE) {
		goto ignore;
	} else if (new_state == TCP_CONNTRACK_MAX) {
		return R_INVALID;
	} else if (new_state == TCP_CONNTRACK_TIME_WAIT) {
		if (old_state == TCP_CONNTRACK_LAST_ACK && index == TCP_ACK_SET &&
		    e->last_dir != d && e->last_index == TCP_SYN_SET &&
		    (e->last_flags & IP_CT_EXP_CHALLENGE_ACK)) {
			e->last_flags &= ~IP_CT_EXP_CHALLENGE_ACK;
			return R_IGNORE; /* RFC 5961 challenge ACK: no state change */
		}
	} else if (new_state == TCP_CONNTRACK_SYN_SENT2) {
		e->last_flags |= IP_CT_TCP_SIMULTANEOUS_OPEN;
	} else if (new_state == TCP_CONNTRACK_SYN_RECV) {
		if (d == IP_CT_DIR_REPLY && index == TCP_ACK_SET &&
		    (e->last_flags & IP_CT_TCP_SIMULTANEOUS_OPEN))
			new_state = TCP_CONNTRACK_ESTABLISHED;
	} else if (new_state == TCP_CONNTRACK_CLOSE && index == TCP_RST_SET) {
		if (tcp_can_early_drop(e))
			goto in_window;
		if ((rcv->flags & IP_CT_TCP_FLAG_MAXACK_SET) && e->last_index != TCP_SYN_SET) {
			__u32 seq = ti->seq;

			if (seq == 0 && !tcp_established(e))
				goto window;
			if (before(seq, rcv->td_maxack) && !tm->ignore_invalid_rst)
				return R_INVALID;
			if (!tcp_established(e) || seq == rcv->td_maxack)
				goto window;
			if (e->last_index == TCP_ACK_SET && e->last_dir == d && seq == e->last_end)
				goto window;
			new_state = old_state;
		}
		if ((((e->status & IPS_SEEN_REPLY) && e->last_index == TCP_SYN_SET &&
		      e->last_dir != d) ||
		     (!(e->status & IPS_ASSURED) && e->last_index == TCP_ACK_SET)) &&
		    ti->ack == e->last_end)
			goto in_window;
		if (old_state == TCP_CONNTRACK_SYN_SENT && e->last_index == TCP_ACK_SET &&
		    e->last_dir == IP_CT_DIR_REPLY && ti->seq == e->last_ack)
			goto in_window;
	}
	goto window;

ignore:
	if (index == TCP_SYNACK_SET && e->last_index == TCP_SYN_SET && e->last_dir != d &&
	    ti->ack == e->last_end) {
		/* a SYN/ACK for a SYN we ignored: the ends are in sync, we were not */
		struct gen_ct_tcp_seen *ls = rcv, *me = snd; /* last_dir != d here */

		old_state = TCP_CONNTRACK_SYN_SENT;
		new_state = TCP_CONNTRACK_SYN_RECV;
		ls->td_end = e->last_end;
		ls->td_maxend = e->last_end;
		ls->td_maxwin = e->last_win == 0 ? 1 : e->last_win;
		ls->td_scale = e->last_wscale;
		e->last_flags &= ~IP_CT_EXP_CHALLENGE_ACK;
		ls->flags = e->last_flags;
		me->td_end = me->td_maxend = me->td_maxwin = me->td_maxack = 0;
		me->td_scale = 0;
		me->flags &= IP_CT_TCP_FLAG_BE_LIBERAL;
		goto window;
	}
	e->last_index = index;
	e->last_dir = d;
	e->last_seq = ti->seq;
	e->last_end = ti->end;
	e->last_win = ti->win_raw;
	if (index == TCP_SYN_SET && d == IP_CT_DIR_ORIGINAL) {
		__u8 ws = 0, fl = 0;

		e->last_flags = 0;
		e->last_wscale = 0;
		tcp_options(ti, &ws, &fl);
		if (fl & IP_CT_TCP_FLAG_WINDOW_SCALE) {
			e->last_flags |= IP_CT_TCP_FLAG_WINDOW_SCALE;
			e->last_wscale = ws;
		}
		if (fl & IP_CT_TCP_FLAG_SACK_PERM)
			e->last_flags |= IP_CT_TCP_FLAG_SACK_PERM;
		if (old_state == TCP_CONNTRACK_LAST_ACK)
			e->last_flags |= IP_CT_EXP_CHALLENGE_ACK;
	}
	if (old_state == TCP_CONNTRACK_SYN_SENT && index == TCP_ACK_SET && d == IP_CT_DIR_REPLY)
		e->last_ack = ti->ack;
	return R_IGNORE;

window:
	res = tcp_in_window(e, snd, rcv, d, index, ti, tm);
	if (res == R_IGNORE)
		return R_IGNORE;
	if (res == R_INVALID) {
		tcp_handle_invalid(e, d, index, cfg, now);
		return R_INVALID;
	}
in_window:
	e->last_index = index;
	e->last_dir = d;
	e->state = new_state;
	if (old_state != new_state && new_state == TCP_CONNTRACK_FIN_WAIT)
		snd->flags |= IP_CT_TCP_FLAG_CLOSE_INIT;

	t_new = timeout_ns(cfg, new_state & 15);
	t_retrans = timeout_ns(cfg, TCP_CONNTRACK_RETRANS);
	t_unack = timeout_ns(cfg, TCP_CONNTRACK_UNACK);
	if (e->retrans >= tm->max_retrans && t_new > t_retrans)
		timeout = t_retrans;
	else if (index == TCP_RST_SET)
		timeout = timeout_ns(cfg, TCP_CONNTRACK_CLOSE);
	else if (((snd->flags | rcv->flags) & IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED) &&
		 t_new > t_unack)
		timeout = t_unack;
	else if (e->last_win == 0 && t_new > t_retrans)
		timeout = t_retrans;
	else
		timeout = t_new;

	if (!(e->status & IPS_SEEN_REPLY)) {
		if (ti->flags & TH_RST)
			return R_KILL; /* only a RST came back: not a connection */
		if (index == TCP_SYN_SET && old_state == TCP_CONNTRACK_SYN_SENT)
			return R_NOACCT; /* no timeout renewal on SYN retransmits */
		if (new_state == TCP_CONNTRACK_ESTABLISHED && timeout > t_unack)
			timeout = t_unack;
	} else if (!(e->status & IPS_ASSURED) &&
		   (old_state == TCP_CONNTRACK_SYN_RECV ||
		    old_state == TCP_CONNTRACK_ESTABLISHED) &&
		   new_state == TCP_CONNTRACK_ESTABLISHED) {
		e->status |= IPS_ASSURED;
	}
	*tmo_out = timeout;
	return R_ACCEPT;
}

/* ------------------------------------------------------------ entry points */

INLINE void copy_entry(struct gen_ct_entry *dst, const struct gen_ct_entry *src)
{
	__builtin_memcpy(dst, src, sizeof(*dst));
}

INLINE void cfg_defaults(struct gen_ct_cfg *c)
{
	c->tcp_loose = 1;
	c->tcp_be_liberal = 0;
	c->tcp_max_retrans = 3;
	c->tcp_ignore_invalid_rst = 0;
	c->timeout[TCP_CONNTRACK_NONE] = 0;
	c->timeout[TCP_CONNTRACK_SYN_SENT] = 120;
	c->timeout[TCP_CONNTRACK_SYN_RECV] = 60;
	c->timeout[TCP_CONNTRACK_ESTABLISHED] = 5 * 24 * 3600;
	c->timeout[TCP_CONNTRACK_FIN_WAIT] = 120;
	c->timeout[TCP_CONNTRACK_CLOSE_WAIT] = 60;
	c->timeout[TCP_CONNTRACK_LAST_ACK] = 30;
	c->timeout[TCP_CONNTRACK_TIME_WAIT] = 120;
	c->timeout[TCP_CONNTRACK_CLOSE] = 10;
	c->timeout[TCP_CONNTRACK_SYN_SENT2] = 120;
	c->timeout[TCP_CONNTRACK_MAX] = 0;
	c->timeout[TCP_CONNTRACK_IGNORE] = 0;
	c->timeout[TCP_CONNTRACK_RETRANS] = 300;
	c->timeout[TCP_CONNTRACK_UNACK] = 300;
	c->timeout[GEN_CT_T_UDP] = 30;
	c->timeout[GEN_CT_T_UDP_STREAM] = 120;
	c->timeout[GEN_CT_T_ICMP] = 30;
	c->timeout[GEN_CT_T_GENERIC] = 600;
	c->timeout[GEN_CT_T_GRE] = 30;
	c->timeout[GEN_CT_T_GRE_STREAM] = 180;
	c->magic = GEN_CT_CFG_MAGIC;
}

/* e->seen[dir], e->seen[!dir] to and from the fixed copies, by branches, not by index. */
INLINE void seen_load(const struct gen_ct_entry *e, struct gen_ct_tcp_seen *snd,
		      struct gen_ct_tcp_seen *rcv, __u32 dir)
{
	if (dir) {
		*snd = e->seen[1];
		*rcv = e->seen[0];
	} else {
		*snd = e->seen[0];
		*rcv = e->seen[1];
	}
}

INLINE void seen_store(struct gen_ct_entry *e, const struct gen_ct_tcp_seen *snd,
		       const struct gen_ct_tcp_seen *rcv, __u32 dir)
{
	if (dir) {
		e->seen[1] = *snd;
		e->seen[0] = *rcv;
	} else {
		e->seen[0] = *snd;
		e->seen[1] = *rcv;
	}
}

/* The tracked copy back into the table (looked up again: no pointer kept across the tracker). */
INLINE void write_back(const struct gen_ct_key *key, const struct gen_ct_entry *ne)
{
	struct gen_ct_entry *e = bpf_map_lookup_elem(&ipt_ct, key);

	if (e)
		copy_entry(e, ne);
}

/* What ct_in() keeps in the scratch map rather than on its stack. */
struct work {
	struct gen_ct_tcp_seen snd, rcv; /* the sender's and receiver's window state */
	struct tcpinfo ti;
	struct tuple t;
	struct tuple inv;
	struct tmo tm;
};
_Static_assert(sizeof(struct work) <= sizeof(((struct gen_ct_scratch *)0)->work),
	       "struct work does not fit the scratch map's work area");

#define WORK(scr) ((struct work *)(scr)->work)

INLINE void set_pkt(struct gen_ct_pkt *pkt, const struct gen_ct_entry *e, __u32 ctinfo, __u64 now,
		    int confirmed)
{
	__u32 dir = ctinfo >= IP_CT_IS_REPLY ? IP_CT_DIR_REPLY : IP_CT_DIR_ORIGINAL;

	pkt->ct_state = (__u8)(1 << (ctinfo % IP_CT_IS_REPLY + 1));
	pkt->ct_dir = dir;
	pkt->ct_status = e->status;
	pkt->ct_mark = e->mark;
	pkt->ct_secmark = e->secmark;
	/*
	 * An unconfirmed conntrack's timeout is still relative: nf_ct_expires()
	 * of a new connection is 0 on any host up for more than a few minutes.
	 */
	pkt->ct_expire = confirmed && e->expires > now ? (e->expires - now) / NS_PER_S : 0;
	pkt->ct_flags |= GEN_CT_PF_TRACKED;
}

INLINE int invalid(struct gen_ct_pkt *pkt)
{
	pkt->ct_state = 1; /* XT_STATE_INVALID */
	stat_inc(GEN_CT_STAT_INVALID);
	return 0;
}

/*
 * ICMP errors: nf_conntrack_inet_error().  The quoted header's tuple,
 * inverted, must name a live connection whose tuple in that direction goes
 * to the outer destination: RELATED (or RELATED_REPLY).  Anything else is
 * INVALID.
 */
INLINE int icmp_error(struct gen_ct_pkt *pkt, struct gen_ct_scratch *scr, __u64 now)
{
	const __u8 *ih = scr->pbuf + 8, *l4;
	__u32 ioff = pkt->thoff + 8, ihl, l4off;
	struct tuple *tp = &WORK(scr)->t, *ip = &WORK(scr)->inv;
	struct gen_ct_entry *e;
	__u16 frag;
	__u32 dir;

	__builtin_memset(tp, 0, sizeof(*tp));
	__builtin_memset(ip, 0, sizeof(*ip));
	if (ioff + 20 > pkt->tot_len)
		return invalid(pkt);
	frag = (__u16)ih[6] << 8 | ih[7];
	if (frag & 0x1fff)
		return invalid(pkt);
	ihl = (ih[0] & 15) * 4;
	l4off = ioff + ihl;
	if (l4off > pkt->tot_len)
		return invalid(pkt);
	l4 = scr->pbuf + 8 + ihl; /* ihl <= 60: inside pbuf (loaded up to 80 bytes) */
	tp->proto = ih[9];
	__builtin_memcpy(&tp->src, &ih[12], 4);
	__builtin_memcpy(&tp->dst, &ih[16], 4);
	if (tp->proto == IPPROTO_TCP || tp->proto == IPPROTO_UDP || tp->proto == IPPROTO_UDPLITE ||
	    tp->proto == IPPROTO_SCTP || tp->proto == IPPROTO_DCCP) {
		if (l4off + 4 > pkt->tot_len)
			return invalid(pkt);
		/* SCTP, DCCP, UDP-Lite are tracked as generic here: no ports in the key */
		if (tp->proto == IPPROTO_TCP || tp->proto == IPPROTO_UDP) {
			__builtin_memcpy(&tp->sport, &l4[0], 2);
			__builtin_memcpy(&tp->dport, &l4[2], 2);
		}
		ip->src = tp->dst;
		ip->dst = tp->src;
		ip->sport = tp->dport;
		ip->dport = tp->sport;
	} else if (tp->proto == IPPROTO_ICMP) {
		__u8 it;

		if (l4off + 8 > pkt->tot_len)
			return invalid(pkt);
		it = icmp_invert(l4[0]);
		if (it == 0xff)
			return invalid(pkt);
		ip->icmp = 1;
		ip->src = tp->dst;
		ip->dst = tp->src;
		__builtin_memcpy(&ip->sport, &l4[4], 2); /* id */
		ip->itype = it;
		ip->icode = l4[1];
		ip->dport = bpf_htons((__u16)it << 8 | l4[1]);
	} else {
		ip->src = tp->dst;
		ip->dst = tp->src;
	}
	ip->proto = tp->proto;
	make_key(&scr->key, ip);
	e = bpf_map_lookup_elem(&ipt_ct, &scr->key);
	if (!e || e->expires <= now)
		return invalid(pkt);
	dir = tuple_dir(e, ip);
	/* The connection's tuple in that direction must go where the error goes. */
	if ((dir == IP_CT_DIR_ORIGINAL ? e->dst : e->src) != pkt->daddr)
		return invalid(pkt);
	copy_entry(&scr->ent, e);
	scr->flags = GEN_CTS_FOUND;
	set_pkt(pkt, e, dir == IP_CT_DIR_REPLY ? IP_CT_RELATED_REPLY : IP_CT_RELATED, now, 1);
	stat_inc(GEN_CT_STAT_RELATED);
	return 0;
}

CT_FUNC int ct_in(struct gen_ct_pkt *pkt)
{
	__u32 zero = 0, hook, arg, dir, ctinfo;
	__u64 now;
	struct gen_ct_cfg *cfg;
	struct gen_ct_scratch *scr;
	struct gen_ct_entry *e, *ne;
	struct gen_ct_tcp_seen *snd, *rcv;
	struct tcpinfo *ti;
	struct tuple *t;
	struct tmo *tm;
	__u64 tmo = 0;
	int res, found;

	scr = bpf_map_lookup_elem(&ipt_ct_scr, &zero);
	if (!scr || !pkt)
		return 0;
	scr->flags = 0;
	now = scr->now;
	arg = scr->arg;
	hook = arg & GEN_CT_ARG_HOOK;
	ti = &WORK(scr)->ti;
	t = &WORK(scr)->t;
	tm = &WORK(scr)->tm;
	__builtin_memset(ti, 0, sizeof(*ti));
	__builtin_memset(t, 0, sizeof(*t));
	/*
	 * The configuration always exists (an array); never set means the
	 * kernel's defaults, written there once.  One non-NULL pointer keeps
	 * the verifier's states few.
	 */
	cfg = bpf_map_lookup_elem(&ipt_ct_cfg, &zero);
	if (!cfg)
		return 0;
	if (cfg->magic != GEN_CT_CFG_MAGIC)
		cfg_defaults(cfg);
	tm->loose = cfg->tcp_loose;
	tm->liberal = cfg->tcp_be_liberal;
	tm->max_retrans = cfg->tcp_max_retrans;
	tm->ignore_invalid_rst = cfg->tcp_ignore_invalid_rst;

	/* The kernel tracks reassembled datagrams: a later fragment has no transport header. */
	if (pkt->fragoff) {
		if (hook == HOOK_FORWARD)
			return invalid(pkt);
		return 0;
	}

	t->src = pkt->saddr;
	t->dst = pkt->daddr;
	t->proto = pkt->proto;
	switch (pkt->proto) {
	case IPPROTO_TCP: {
		const __u8 *th = scr->pbuf;

		if (pkt->l4len < 20)
			return invalid(pkt);
		ti->doff = (th[12] >> 4) * 4;
		/* tcp_error(): header length, flag combination (checksums are not verified) */
		if (ti->doff < 20 || pkt->l4len < ti->doff)
			return invalid(pkt);
		ti->flags = th[13];
		if (!tcp_flags_valid(ti->flags))
			return invalid(pkt);
		ti->seq = (__u32)th[4] << 24 | (__u32)th[5] << 16 | (__u32)th[6] << 8 | th[7];
		ti->ack = (__u32)th[8] << 24 | (__u32)th[9] << 16 | (__u32)th[10] << 8 | th[11];
		ti->win_raw = (__u16)th[14] << 8 | th[15];
		ti->win = ti->win_raw;
		ti->end = ti->seq + pkt->l4len - ti->doff + !!(ti->flags & TH_SYN) +
			  !!(ti->flags & TH_FIN);
		tcp_parse_options(ti, ti->doff - 20, scr->pbuf);
		t->sport = bpf_htons(pkt->sport);
		t->dport = bpf_htons(pkt->dport);
		break;
	}
	case IPPROTO_UDP: {
		const __u8 *uh = scr->pbuf;
		__u16 ulen;

		if (pkt->l4len < 8)
			return invalid(pkt);
		ulen = (__u16)uh[4] << 8 | uh[5];
		/* udp_error(); a first fragment's datagram length is not known here */
		if (ulen < 8 || (!(pkt->fragflags & IP_MF) && ulen > pkt->l4len))
			return invalid(pkt);
		t->sport = bpf_htons(pkt->sport);
		t->dport = bpf_htons(pkt->dport);
		break;
	}
	case IPPROTO_ICMP: {
		__u8 type = pkt->icmp_type;

		if (pkt->l4len < 8)
			return invalid(pkt);
		if (type > NR_ICMP_TYPES_)
			return invalid(pkt);
		if (type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH ||
		    type == ICMP_REDIRECT || type == ICMP_TIME_EXCEEDED ||
		    type == ICMP_PARAMETERPROB)
			return icmp_error(pkt, scr, now);
		if (icmp_invert(type) == 0xff)
			return invalid(pkt); /* no reply tuple: init_conntrack() fails */
		__builtin_memcpy(&t->sport, &scr->pbuf[4], 2); /* the id */
		t->itype = type;
		t->icode = pkt->icmp_code;
		t->dport = bpf_htons((__u16)type << 8 | pkt->icmp_code);
		t->icmp = 1;
		break;
	}
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
	case IPPROTO_UDPLITE:
		/*
		 * The kernel tracks these with state machines of their own that
		 * this tracker does not have: no connection, INVALID (README).
		 */
		return invalid(pkt);
	default:
		break; /* generic (GRE too: version 0 keys like generic): addresses and protocol */
	}

	make_key(&scr->key, t);
	ne = &scr->ent;
	snd = &WORK(scr)->snd;
	rcv = &WORK(scr)->rcv;
	found = 0;
	e = bpf_map_lookup_elem(&ipt_ct, &scr->key);
	if (e && e->expires <= now) {
		stat_inc(GEN_CT_STAT_EXPIRED);
		e = 0;
	}
	/*
	 * The tracker works on scr->ent, a copy, whether the connection is new
	 * or found (written back at the end): one code path for the verifier.
	 */
	if (e) {
		copy_entry(ne, e);
		dir = tuple_dir(ne, t);
		ctinfo = dir == IP_CT_DIR_REPLY		 ? IP_CT_ESTABLISHED_REPLY
			 : (ne->status & IPS_SEEN_REPLY) ? IP_CT_ESTABLISHED
							 : IP_CT_NEW;
		if (arg & GEN_CT_ARG_LO) {
			/* OUTPUT already ran the tracker on this very packet: classify only. */
			scr->flags = GEN_CTS_FOUND;
			set_pkt(pkt, ne, ctinfo, now, 1);
			return 0;
		}
		found = 1;
		if (t->proto == IPPROTO_TCP) {
			seen_load(ne, snd, rcv, dir);
			if (tcp_reopen(ne, snd, rcv, dir, ti)) {
				/* killed, then looked up again: a new connection */
				bpf_map_delete_elem(&ipt_ct, &scr->key);
				stat_inc(GEN_CT_STAT_DELETED);
				found = 0;
			}
		}
	}
	if (!found) {
		/* init_conntrack(): a pending connection */
		__builtin_memset(ne, 0, sizeof(*ne));
		ne->src = t->src;
		ne->dst = t->dst;
		ne->sport = t->sport;
		ne->dport = t->dport;
		ne->rsport = t->icmp ? t->sport : t->dport;
		ne->rdport = t->icmp ? bpf_htons((__u16)icmp_invert(t->itype) << 8 | t->icode)
				     : t->sport;
		ne->proto = t->proto;
		ne->start = now;
		dir = IP_CT_DIR_ORIGINAL;
		ctinfo = IP_CT_NEW;
		if (t->proto == IPPROTO_TCP) {
			if (!tcp_new(ne, ti, tm))
				return invalid(pkt);
			seen_load(ne, snd, rcv, IP_CT_DIR_ORIGINAL);
		}
		if (t->proto == IPPROTO_UDP)
			ne->stream_ts = now + 2 * NS_PER_S;
		/* a reply type cannot start one (nf_conntrack_icmp_packet(): valid_new) */
		if (t->icmp && !icmp_request_type(t->itype))
			return invalid(pkt);
	}

	res = R_ACCEPT;
	if (t->proto == IPPROTO_TCP) {
		res = tcp_packet(ne, snd, rcv, dir, ti, tm, cfg, now, &tmo);
		seen_store(ne, snd, rcv, dir);
		if (res == R_INVALID || (!found && res == R_KILL)) {
			/* the kernel may have changed the connection before calling it invalid */
			if (found)
				write_back(&scr->key, ne);
			return invalid(pkt);
		}
		if (!found && !tmo) /* cannot happen for a first packet; be safe */
			tmo = timeout_ns(cfg, TCP_CONNTRACK_SYN_SENT);
	} else if (t->proto == IPPROTO_UDP) {
		tmo = timeout_ns(cfg, GEN_CT_T_UDP);
		if ((ne->status & IPS_SEEN_REPLY) && now > ne->stream_ts) {
			tmo = timeout_ns(cfg, GEN_CT_T_UDP_STREAM);
			ne->status |= IPS_ASSURED;
		}
	} else if (t->icmp) {
		tmo = timeout_ns(cfg, GEN_CT_T_ICMP);
	} else if (t->proto == IPPROTO_GRE) {
		/* nf_conntrack_gre_packet(): both ways seen: a stream, ASSURED */
		tmo = timeout_ns(cfg, GEN_CT_T_GRE);
		if (ne->status & IPS_SEEN_REPLY) {
			tmo = timeout_ns(cfg, GEN_CT_T_GRE_STREAM);
			ne->status |= IPS_ASSURED;
		}
	} else {
		tmo = timeout_ns(cfg, GEN_CT_T_GENERIC);
	}

	/*
	 * Accounting where the protocol trackers call nf_ct_refresh_acct() or
	 * nf_ct_kill_acct(), a new connection's first packet included; skb->len
	 * there is the datagram's length (INVALID packets returned above).
	 */
	if (res == R_ACCEPT || res == R_KILL) {
		if (dir == IP_CT_DIR_REPLY) {
			ne->packets[1]++;
			ne->bytes[1] += pkt->tot_len;
		} else {
			ne->packets[0]++;
			ne->bytes[0] += pkt->tot_len;
		}
	}
	if (!found) {
		ne->tmo_ns = tmo;
		scr->flags = GEN_CTS_PENDING;
		set_pkt(pkt, ne, IP_CT_NEW, now, 0);
		return 0;
	}
	if (tmo)
		ne->expires = now + tmo;
	if (dir == IP_CT_DIR_REPLY)
		ne->status |= IPS_SEEN_REPLY;
	scr->flags = GEN_CTS_FOUND;
	set_pkt(pkt, ne, ctinfo, now, 1);
	stat_inc(GEN_CT_STAT_FOUND);
	if (res == R_KILL) {
		bpf_map_delete_elem(&ipt_ct, &scr->key);
		stat_inc(GEN_CT_STAT_DELETED);
		scr->flags = 0;
		return 0;
	}
	write_back(&scr->key, ne);
	return 0;
}

/* ------------------------------------------------------------ connlimit */

/*
 * nf_conncount (net/netfilter/nf_conncount.c) over this tracker's table,
 * for -m connlimit (m_connlimit.c).  One list per (rule, masked address):
 * the tuples of connections whose packets evaluated the match, kept in the
 * order they were added.  A listed tuple counts while its connection is in
 * the table (confirmed, not timed out) and not a TCP connection in
 * TIME_WAIT or CLOSE; the walks that drop the others, their throttling per
 * jiffy, the two-jiffy grace for tuples another CPU added, the limit of 64
 * collected per walk and the de-duplication are the kernel's.
 */
#define CL_COLLECT_MAX 64  /* CONNCOUNT_GC_MAX_COLLECT */
#define CL_F_ADD       0x1 /* __nf_conncount_add()'s walk, else nf_conncount_gc_list()'s */
#define CL_F_STOP      0x2 /* stop checking: the rest stays as it is */
#define CL_F_EXISTS    0x4 /* the packet's tuple is listed already */

struct cl_ctx {
	struct gen_ct_scratch *scr;
	struct gen_cl_list *l;
};

/*
 * The table key of a listed tuple, as make_key() builds it (ports only
 * where ct_in() keys them), into k.  Written field by field from memory:
 * the bpf_loop() callback's stack is one 32-byte frame.
 */
INLINE void cl_key_of(struct gen_ct_key *k, const struct gen_cl_conn *c)
{
	const __u8 *tc = (const __u8 *)&c->dport; /* ICMP: type, code */
	int swap;

	k->proto = c->proto;
	k->pad = 0;
	k->zone = 0;
	if (c->proto == IPPROTO_ICMP) {
		__u8 type = tc[0];

		swap = !icmp_request_type(type);
		k->p0 = c->sport;
		((__u8 *)&k->p1)[0] = swap ? icmp_invert(type) : type;
		((__u8 *)&k->p1)[1] = tc[1];
	} else {
		if (c->proto == IPPROTO_TCP || c->proto == IPPROTO_UDP) {
			k->p0 = c->sport;
			k->p1 = c->dport;
		} else {
			k->p0 = 0;
			k->p1 = 0;
		}
		swap = !(c->src < c->dst || (c->src == c->dst && k->p0 <= k->p1));
		if (swap) {
			__u16 p = k->p0;

			k->p0 = k->p1;
			k->p1 = p;
		}
	}
	k->a0 = swap ? c->dst : c->src;
	k->a1 = swap ? c->src : c->dst;
}

/* nf_ct_tuple_equal() (zones are always 0 here). */
INLINE int cl_same(const struct gen_cl_conn *a, const struct gen_cl_conn *b)
{
	return a->src == b->src && a->dst == b->dst && a->sport == b->sport &&
	       a->dport == b->dport && a->proto == b->proto;
}

/* What a turn decides about its tuple. */
enum { CL_KEEP, CL_DROP };

INLINE int cl_check(struct gen_ct_scratch *scr)
{
	const struct gen_cl_conn *cn = &scr->cl_c;
	struct gen_ct_entry *e;
	__u32 fl = scr->cl_flags;

	if (fl & CL_F_STOP)
		return CL_KEEP;
	if ((fl & CL_F_ADD) && scr->cl_collect > CL_COLLECT_MAX) {
		scr->cl_flags = fl | CL_F_STOP;
		return CL_KEEP;
	}
	/* find_or_evict() */
	cl_key_of(&scr->cl_lkey, cn);
	e = bpf_map_lookup_elem(&ipt_ct, &scr->cl_lkey);
	if (!e || e->expires <= scr->now) {
		/* maybe added by another CPU and not confirmed yet: two jiffies' grace */
		if (cn->cpu == scr->cl_cpu || scr->cl_jiffies - cn->jiffies >= 2) {
			scr->cl_collect++;
			return CL_DROP;
		}
		if ((fl & CL_F_ADD) && cl_same(cn, &scr->cl_t))
			scr->cl_flags = fl | CL_F_STOP | CL_F_EXISTS;
		return CL_KEEP;
	}
	if ((fl & CL_F_ADD) && cl_same(cn, &scr->cl_t)) {
		scr->cl_flags = fl | CL_F_STOP | CL_F_EXISTS;
		return CL_KEEP;
	}
	/* already_closed() */
	if (e->proto == IPPROTO_TCP &&
	    (e->state == TCP_CONNTRACK_TIME_WAIT || e->state == TCP_CONNTRACK_CLOSE)) {
		scr->cl_collect++;
		return CL_DROP;
	}
	if (!(fl & CL_F_ADD) && scr->cl_collect > CL_COLLECT_MAX)
		scr->cl_flags = fl | CL_F_STOP;
	return CL_KEEP;
}

/*
 * One turn of the walk (a bpf_loop() callback): tuple i of the list is
 * dropped or moved down to position cl_w (the list stays in order).
 */
static __attribute__((noinline)) long cl_step(__u32 i, void *arg)
{
	struct cl_ctx *c = arg;
	struct gen_ct_scratch *scr = c->scr;
	struct gen_cl_list *l = c->l;
	__u32 w;

	if (!scr || !l)
		return 1;
	/* a copy at a fixed place: fewer live pointers than the callback's stack holds */
	scr->cl_c = l->conn[i & (GEN_CL_SLOTS - 1)];
	if (cl_check(scr) == CL_DROP)
		return 0;
	w = scr->cl_w;
	if ((scr->cl_flags & CL_F_STOP) && w == i) {
		/* nothing dropped so far: the rest is where it is */
		scr->cl_w = l->count;
		return 1;
	}
	if (w != i)
		l->conn[w & (GEN_CL_SLOTS - 1)] = scr->cl_c;
	scr->cl_w = w + 1;
	return 0;
}

/* Walks l (flags: CL_F_ADD or 0); its count becomes what is left. */
INLINE void cl_walk(struct gen_ct_scratch *scr, struct gen_cl_list *l, __u32 flags)
{
	struct cl_ctx c = {.scr = scr, .l = l};
	__u32 n = l->count;

	scr->cl_w = 0;
	scr->cl_collect = 0;
	scr->cl_flags = flags;
	if (n > GEN_CL_SLOTS)
		n = GEN_CL_SLOTS;
	bpf_loop(n, cl_step, &c, 0);
	n = scr->cl_w;
	l->count = n > GEN_CL_SLOTS ? GEN_CL_SLOTS : n;
}

INLINE void cl_put(struct gen_cl_conn *to, const struct gen_ct_scratch *scr)
{
	*to = scr->cl_t;
	to->cpu = (__u16)scr->cl_cpu;
	to->jiffies = scr->cl_jiffies;
}

/*
 * nf_ct_get_tuplepr() of a packet without a connection (INVALID): 0 where
 * the kernel finds no tuple (a later fragment, ports or ICMP header missing).
 * GRE: as version 0 (generic; this tracker has no PPTP keys).
 */
INLINE int cl_pkt_tuple(const struct gen_ct_pkt *pkt, struct gen_ct_scratch *scr)
{
	struct gen_cl_conn *t = &scr->cl_t;

	t->src = pkt->saddr;
	t->dst = pkt->daddr;
	t->proto = pkt->proto;
	t->sport = 0;
	t->dport = 0;
	if (pkt->fragoff)
		return 0;
	switch (pkt->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		if (pkt->l4len < 4)
			return 0;
		t->sport = bpf_htons(pkt->sport);
		t->dport = bpf_htons(pkt->dport);
		break;
	case IPPROTO_ICMP:
		if (pkt->l4len < 8)
			return 0;
		__builtin_memcpy(&t->sport, &scr->pbuf[4], 2);
		t->dport = bpf_htons((__u16)pkt->icmp_type << 8 | pkt->icmp_code);
		break;
	}
	return 1;
}

/*
 * nf_conncount_count_skb() for the key in scr->cl_key: the number of
 * connections counted, the packet's included; 0 makes the match hotdrop.
 */
CT_FUNC int ct_count(struct gen_ct_pkt *pkt)
{
	__u32 zero = 0, n;
	struct gen_ct_scratch *scr;
	struct gen_cl_list *l, *tmp;
	struct gen_ct_entry *e;
	int confirmed = 0, assured = 0;

	scr = bpf_map_lookup_elem(&ipt_ct_scr, &zero);
	if (!scr || !pkt)
		return 0;
	scr->cl_cpu = bpf_get_smp_processor_id();
	/* get_ct_or_tuple_from_skb(): the packet's connection, its original tuple */
	if (pkt->ct_flags & GEN_CT_PF_TRACKED) {
		scr->cl_t.src = scr->ent.src;
		scr->cl_t.dst = scr->ent.dst;
		scr->cl_t.sport = scr->ent.sport;
		scr->cl_t.dport = scr->ent.dport;
		scr->cl_t.proto = scr->ent.proto;
		confirmed = !(scr->flags & GEN_CTS_PENDING);
		assured = !!(scr->ent.status & IPS_ASSURED);
	} else {
		/* none: the packet's own tuple, and the connection it names if any */
		if (!cl_pkt_tuple(pkt, scr))
			return 0;
		cl_key_of(&scr->cl_lkey, &scr->cl_t);
		e = bpf_map_lookup_elem(&ipt_ct, &scr->cl_lkey);
		if (e && e->expires > scr->now) {
			confirmed = 1;
			assured = !!(e->status & IPS_ASSURED);
		}
	}
	scr->cl_t.pad = 0;

	l = bpf_map_lookup_elem(&ipt_connlimit, &scr->cl_key);
	if (!l) {
		/* insert_tree(): a new list holding this tuple */
		tmp = bpf_map_lookup_elem(&ipt_cl_tmp, &zero);
		if (!tmp)
			return 0;
		tmp->count = 1;
		tmp->last_gc = scr->cl_jiffies;
		tmp->last_gc_count = 0;
		tmp->pad = 0;
		cl_put(&tmp->conn[0], scr);
		if (!bpf_map_update_elem(&ipt_connlimit, &scr->cl_key, tmp, BPF_NOEXIST))
			return 1;
		/* full (the kernel's allocation failing: hotdrop), or another CPU's */
		l = bpf_map_lookup_elem(&ipt_connlimit, &scr->cl_key);
		if (!l)
			return 0;
	}
	if (confirmed && assured) {
		/*
		 * -EEXIST, not added.  count_tree() then collects garbage; an
		 * emptied list (left for insert_tree()) answers 0: a hotdrop.
		 */
		if (!l->count)
			return 0;
		if (scr->cl_jiffies != l->last_gc) {
			cl_walk(scr, l, 0);
			l->last_gc = scr->cl_jiffies;
			l->last_gc_count = l->count;
		}
		return l->count;
	}
	n = l->count;
	/* a new connection right after a walk: added without another */
	if (confirmed || scr->cl_jiffies != l->last_gc || n - l->last_gc_count >= CL_COLLECT_MAX) {
		cl_walk(scr, l, CL_F_ADD);
		if (scr->cl_flags & CL_F_EXISTS)
			return l->count;
		l->last_gc = scr->cl_jiffies;
		l->last_gc_count = l->count;
	}
	n = l->count;
	if (n >= GEN_CL_SLOTS)
		return GEN_CL_SLOTS + 1; /* counted, not remembered (m_connlimit.c) */
	cl_put(&l->conn[n & (GEN_CL_SLOTS - 1)], scr);
	l->count = n + 1;
	return n + 1;
}

CT_FUNC int ct_confirm(struct gen_ct_pkt *pkt, __u32 accepted)
{
	__u32 zero = 0;
	struct gen_ct_scratch *scr;
	struct gen_ct_entry *e;

	scr = bpf_map_lookup_elem(&ipt_ct_scr, &zero);
	if (!scr || !pkt)
		return 0;
	if (scr->flags & GEN_CTS_PENDING) {
		if (!accepted) {
			stat_inc(GEN_CT_STAT_DROPPED_NEW);
			return 0;
		}
		e = &scr->ent;
		e->status |= IPS_CONFIRMED;
		e->expires = scr->now + e->tmo_ns;
		if (pkt->mod_flags & GEN_CT_PF_CT_MARK)
			e->mark = pkt->ct_mark;
		if (pkt->mod_flags & GEN_CT_PF_CT_SECMARK)
			e->secmark = pkt->ct_secmark;
		/* over a timed-out one with the same key: counted, for the eviction figure */
		if (bpf_map_update_elem(&ipt_ct, &scr->key, e, BPF_NOEXIST)) {
			if (bpf_map_update_elem(&ipt_ct, &scr->key, e, BPF_ANY)) {
				stat_inc(GEN_CT_STAT_INSERT_FAIL);
				return 0;
			}
			stat_inc(GEN_CT_STAT_REPLACED);
		}
		stat_inc(GEN_CT_STAT_NEW);
		return 0;
	}
	if ((scr->flags & GEN_CTS_FOUND) &&
	    ((pkt->mod_flags & (GEN_CT_PF_CT_MARK | GEN_CT_PF_CT_SECMARK)) ||
	     (scr->flags & GEN_CTS_LABELS))) {
		e = bpf_map_lookup_elem(&ipt_ct, &scr->key);
		if (!e)
			return 0;
		if (pkt->mod_flags & GEN_CT_PF_CT_MARK)
			e->mark = pkt->ct_mark;
		if (pkt->mod_flags & GEN_CT_PF_CT_SECMARK)
			e->secmark = pkt->ct_secmark;
		/* connlabel --set only sets bits: or them in (another CPU's stay) */
		if (scr->flags & GEN_CTS_LABELS) {
			e->labels[0] |= scr->ent.labels[0];
			e->labels[1] |= scr->ent.labels[1];
		}
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
#endif /* __bpf__ */
