/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The connection tracker: an extension-module-like piece other modules
 * depend on (state, conntrack, connmark, CONNMARK, CONNSECMARK ...).
 * A module that needs connection state calls
 *
 *	gen_mod_use(g, &gen_ct_mod, NULL);
 *
 * in its prepare().  Then, in every program:
 *
 *  - emit_prologue (order 10, before other modules' hooks) looks the packet
 *    up and runs the protocol tracker, as nf_conntrack_in() does at
 *    PREROUTING/OUTPUT, and fills gen_pkt: ct_state (one XT_STATE_* bit:
 *    XT_STATE_BIT(ctinfo) or XT_STATE_INVALID; XT_STATE_UNTRACKED never
 *    happens, nothing here untracks), ct_dir (IP_CT_DIR_*), ct_status (IPS_*
 *    as the kernel shows them to this packet), ct_mark, ct_secmark (label
 *    id), ct_expire (seconds left, what --ctexpire compares).  For INVALID
 *    packets every other ct_* field is 0 and matches on the connection fail,
 *    as for the kernel's packets without a conntrack.
 *  - emit_verdict, when the tables accepted the packet, confirms a new
 *    connection (inserts it, as the kernel's confirm at the end of
 *    INPUT/POSTROUTING), with ct_mark if a rule set GEN_PF_CT_MARK and
 *    ct_secmark if a rule set GEN_PF_CT_SECMARK.  For existing connections
 *    ct_mark/ct_secmark changes are stored whatever the verdict (the kernel's
 *    CONNMARK writes the conntrack at once).
 *
 * Matches that need the connection's tuples read them from the per-CPU
 * scratch map GEN_CT_SCR_MAP (struct gen_ct_scratch, key 0): see
 * gen_ct_emit_scratch().
 *
 * The tracker itself is BPF C (codegen/ct_bpf.c) compiled by clang at build
 * time and spliced into every program as two static BPF functions.
 *
 * This header is also included by ct_bpf.c (target bpf): the layouts below
 * use only <linux/types.h>.
 */
#ifndef IPT2BPF_CT_H
#define IPT2BPF_CT_H

#include <linux/types.h>

/* Map names (bpftool-visible). */
#define GEN_CT_MAP	 "ipt_ct"	/* LRU_HASH: struct gen_ct_key -> struct gen_ct_entry */
#define GEN_CT_STATS_MAP "ipt_ct_stats" /* PERCPU_ARRAY[GEN_CT_STAT_MAX]: __u64 counters */
#define GEN_CT_SCR_MAP	 "ipt_ct_scr"	/* PERCPU_ARRAY[1]: struct gen_ct_scratch */
#define GEN_CT_CFG_MAP	 "ipt_ct_cfg"	/* ARRAY[1]: struct gen_ct_cfg (timeouts, sysctls) */

#define GEN_CT_MAX_ENTRIES 65536 /* nf_conntrack_max on a typical host */

/*
 * Key: the connection's tuple normalised so that both directions find it.
 * TCP, UDP, generic: the lower (address, port) endpoint first.  ICMP query
 * flows: the requester first, p0 = id, p1 = request type << 8 | code (a
 * request and its reply key the same; two hosts pinging each other with the
 * same id are two connections, as in the kernel).  Generic protocols: ports 0.
 */
struct gen_ct_key {
	__u32 a0, a1; /* network order */
	__u16 p0, p1; /* network order */
	__u8 proto;
	__u8 pad;
	__u16 zone; /* always 0: no CT --zone (the raw table is not translated) */
};

/* One direction of TCP window tracking (the kernel's ip_ct_tcp_state). */
struct gen_ct_tcp_seen {
	__u32 td_end, td_maxend, td_maxwin, td_maxack;
	__u8 td_scale, flags; /* IP_CT_TCP_FLAG_* */
	__u16 pad;
};

struct gen_ct_entry {
	/* Original direction tuple (the reply tuple is its inverse: no NAT). */
	__u32 src, dst;	      /* network order */
	__u16 sport, dport;   /* network order (ICMP: id, type << 8 | code), as tuple u.all */
	__u16 rsport, rdport; /* the reply tuple's (ICMP: id, reply type << 8 | code) */
	__u8 proto;
	__u8 state;    /* TCP_CONNTRACK_* */
	__u8 last_dir; /* TCP: the kernel's ip_ct_tcp.last_dir ... */
	__u8 last_index;
	__u32 status; /* IPS_* */
	__u32 mark;
	__u32 secmark;	 /* label id (CONNSECMARK) */
	__u64 expires;	 /* ns clock at which it times out */
	__u64 start;	 /* ns clock when it was created */
	__u64 stream_ts; /* UDP: ns clock after which it is a stream */
	struct gen_ct_tcp_seen seen[2];
	__u32 last_seq, last_ack, last_end;
	__u16 last_win;
	__u8 last_wscale, last_flags;
	__u8 retrans;
	__u8 pad[3];
	__u64 tmo_ns; /* pending: timeout to add to the confirm time */
	/*
	 * nf_conn_acct: per direction (IP_CT_DIR_*), updated where the
	 * kernel's nf_ct_refresh_acct()/nf_ct_kill_acct() run, skb->len =
	 * the IP datagram's length (-m connbytes, m_connbytes.c).
	 */
	__u64 packets[2], bytes[2];
	__u64 labels[2]; /* nf_conn_labels: bit n = labels[n / 64] >> n % 64 (-m connlabel) */
};

/*
 * Transport bytes the prologue copies for ct_in(): a TCP header with all its
 * options (60), or an ICMP header (8) quoting an IP header with options (60)
 * and 8 bytes of its payload.  The buffer is larger so that indexes masked
 * with GEN_CT_PBUF - 1 stay inside it.
 */
#define GEN_CT_PBUF_LOAD 80
#define GEN_CT_PBUF	 128

/*
 * connlimit (m_connlimit.c): nf_conncount's lists, one per (rule, masked
 * address) key: the tuples of the connections the rule has seen, in the
 * order they were added, each with the CPU and jiffies of its addition (the
 * kernel's struct nf_conncount_tuple).  ct_count() walks and extends them.
 */
#define GEN_CL_MAP	"ipt_connlimit" /* HASH (no prealloc): gen_cl_key -> gen_cl_list */
#define GEN_CL_TMP_MAP	"ipt_cl_tmp"	/* PERCPU_ARRAY[1]: gen_cl_list, a new list's value */
#define GEN_CL_SLOTS	256		/* tuples a list holds (a power of two) */
#define GEN_CL_MAX_KEYS 16384		/* lists, all connlimit rules together */

struct gen_cl_key {
	__u32 rule; /* the use of the match: its index among all connlimit uses */
	__u32 addr; /* source or destination address & mask, network order */
};

struct gen_cl_conn {
	__u32 src, dst;	    /* the tuple (nf_conntrack_tuple), network order */
	__u16 sport, dport; /* network order; ICMP: id, type << 8 | code (as gen_ct_entry) */
	__u8 proto;
	__u8 pad;
	__u16 cpu;
	__u32 jiffies;
};

struct gen_cl_list {
	__u32 count;
	__u32 last_gc;	     /* jiffies of the last complete walk */
	__u32 last_gc_count; /* count after it */
	__u32 pad;
	struct gen_cl_conn conn[GEN_CL_SLOTS];
};

/* Per-packet scratch: what ct_in() found, for the matches and for confirm. */
struct gen_ct_scratch {
	struct gen_ct_key key;
	struct gen_ct_entry ent; /* pending new entry, or a copy of the found one */
	__u64 now;		 /* set by the prologue: the clock (ns) */
	__u32 arg;		 /* set by the prologue: NF_INET_* hook | GEN_CT_ARG_* */
	__u32 plen;		 /* set by the prologue: bytes in pbuf */
	__u32 flags;		 /* GEN_CTS_* */
	__u32 pad;
	/* set by the prologue: the transport header's first bytes (at most GEN_CT_PBUF_LOAD) */
	__u8 pbuf[GEN_CT_PBUF];
	__u8 work[192]; /* ct_bpf.c's work area (the tracker's stack is tight) */
	/* connlimit: set by the prologue (cl_jiffies) and the match (cl_key) for ct_count() */
	struct gen_cl_key cl_key;
	__u32 cl_jiffies;
	__u32 cl_cpu;
	struct gen_cl_conn cl_t;   /* the packet's tuple */
	struct gen_cl_conn cl_c;   /* the listed tuple being checked */
	struct gen_ct_key cl_lkey; /* lookup key of a listed tuple */
	__u32 cl_w, cl_collect, cl_flags, cl_pad;
};

#define GEN_CTS_PENDING 0x1 /* ent is a new connection, inserted on ACCEPT */
#define GEN_CTS_FOUND	0x2 /* key names an existing connection */
#define GEN_CTS_LABELS	0x4 /* connlabel --set changed ent.labels: ct_confirm() stores them */

/*
 * Timeouts in seconds, as the nf_conntrack_*_timeout* sysctls; a cfg whose
 * magic is not GEN_CT_CFG_MAGIC means the kernel's defaults (an object
 * attached with stock tools starts with that map zeroed).
 */
enum {
	/* 0 .. TCP_CONNTRACK_TIMEOUT_MAX - 1: TCP, by TCP_CONNTRACK_* */
	GEN_CT_T_UDP = 14, /* nf_conntrack_udp_timeout */
	GEN_CT_T_UDP_STREAM,
	GEN_CT_T_ICMP,
	GEN_CT_T_GENERIC,
	GEN_CT_T_GRE,	     /* nf_conntrack_gre_timeout */
	GEN_CT_T_GRE_STREAM, /* nf_conntrack_gre_timeout_stream */
	GEN_CT_T_MAX,
};

#define GEN_CT_CFG_MAGIC 0x63746366 /* "ctcf" */

struct gen_ct_cfg {
	__u32 magic;
	__u32 tcp_loose;	      /* nf_conntrack_tcp_loose */
	__u32 tcp_be_liberal;	      /* nf_conntrack_tcp_be_liberal */
	__u32 tcp_max_retrans;	      /* nf_conntrack_tcp_max_retrans */
	__u32 tcp_ignore_invalid_rst; /* nf_conntrack_tcp_ignore_invalid_rst */
	__u32 timeout[GEN_CT_T_MAX];
};

/*
 * The prefix of struct gen_pkt (gen_internal.h) the tracker reads and
 * writes, for ct_bpf.c; ct.c asserts that every offset agrees.
 */
struct gen_ct_pkt {
	__u32 saddr, daddr;
	__u32 saddr_h, daddr_h;
	__u32 tot_len;
	__u32 l4len;
	__u32 thoff;
	__u32 iif, oif;
	__u16 fragoff;
	__u16 fragflags;
	__u16 id;
	__u16 sport, dport; /* host order */
	__u8 proto, tos, ttl;
	__u8 doff4;
	__u8 tcpflags;
	__u8 icmp_type, icmp_code;
	__u8 l4ok;
	__u8 vparam;
	__u8 pad;
	__u32 mark;
	__u32 secmark;
	__u32 ct_mark;
	__u32 ct_secmark;
	__u32 ct_status;
	__u32 ct_expire;
	__u8 ct_state;
	__u8 ct_dir;
	__u8 ct_flags;
	__u8 mod_flags;
};

/* Third argument of ct_in(): the hook, and flags. */
#define GEN_CT_ARG_HOOK	  0xff
#define GEN_CT_ARG_LO	  0x100 /* TC ingress on loopback: OUTPUT already tracked it */
#define GEN_CT_ARG_NOFRAG 0x200 /* reserved */

/* gen_pkt.mod_flags bits the tracker reads (GEN_PF_*; ct.c asserts they agree) */
#define GEN_CT_PF_CT_MARK    0x02
#define GEN_CT_PF_CT_SECMARK 0x04

/* gen_pkt.ct_flags */
#define GEN_CT_PF_TRACKED 0x01 /* the packet has a connection (not INVALID) */

/* Counters in GEN_CT_STATS_MAP. */
enum {
	GEN_CT_STAT_NEW,	 /* connections confirmed (inserted) */
	GEN_CT_STAT_FOUND,	 /* packets that found their connection */
	GEN_CT_STAT_INVALID,	 /* packets classified INVALID */
	GEN_CT_STAT_RELATED,	 /* ICMP errors found RELATED */
	GEN_CT_STAT_EXPIRED,	 /* timed-out connections found (and replaced or left) */
	GEN_CT_STAT_DELETED,	 /* connections removed (RST, reopen) */
	GEN_CT_STAT_INSERT_FAIL, /* inserts the map refused */
	GEN_CT_STAT_DROPPED_NEW, /* new connections whose packet the rules dropped */
	GEN_CT_STAT_REPLACED,	 /* inserts over a timed-out connection with the same key */
	GEN_CT_STAT_MAX,
};

#ifndef __bpf__
#include "../translator/mod.h"

struct gen;

extern const struct ipt2bpf_mod gen_ct_mod;

/* The kernel's defaults (nf_conntrack_proto_*.c). */
void gen_ct_cfg_defaults(struct gen_ct_cfg *cfg);
/* Sets timeout NAME (a sysctl name, "nf_conntrack_" prefix optional) in seconds: 0 or -ENOENT. */
int gen_ct_cfg_set(struct gen_ct_cfg *cfg, const char *name, unsigned long value);

/*
 * For matches: reg = pointer to this CPU's struct gen_ct_scratch, or a jump
 * to l_none when the lookup fails (never in practice).  Uses FP_KEY of the
 * current frame, clobbers R0-R5 (reg may be one of R6-R9 the caller owns, or
 * R0).
 */
int gen_ct_emit_scratch(struct gen *g, int reg, int l_none);

/*
 * For connlimit: prepare() calls gen_ct_use_connlimit() (the tracker, its
 * maps, the jiffies in the prologue); the match stores its key in the
 * scratch map's cl_key, then gen_ct_emit_count() emits R0 = ct_count(pkt):
 * nf_conncount_count_skb()'s answer, 0 for a hotdrop.  Clobbers R0-R5.
 */
int gen_ct_use_connlimit(struct gen *g);
int gen_ct_emit_count(struct gen *g);
#endif

#endif
