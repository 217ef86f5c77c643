// SPDX-License-Identifier: GPL-2.0
/*
 * -j REJECT (ipt_REJECT.c, revision 0): drop the packet and send back what
 * the kernel would send, built by the program itself.
 *
 * The rule returns GEN_V_REJECT with --reject-with in gen_pkt.vparam; the
 * main program's verdict hook (below, R9 = skb) rewrites the skb into the
 * reply, sends a clone of it with bpf_clone_redirect() and drops the
 * original.  Replies follow net/ipv4/netfilter/nf_reject_ipv4.c and
 * net/ipv4/icmp.c:
 *
 *   tcp-reset (nf_send_reset()): none for a later fragment, a non-TCP or
 *     truncated segment, a RST, a bad checksum, a multicast or broadcast
 *     destination.  IP: TOS 0, ID 0, DF, TTL ip_default_ttl, addresses
 *     swapped; TCP: ports swapped, doff 5, window 0, RST, and seq = the
 *     segment's ack_seq if it had ACK, else ACK with ack_seq = seq + SYN +
 *     FIN + payload length.
 *   icmp-* (nf_send_unreach() -> __icmp_send()): none for a later
 *     fragment, a bad checksum (not checked for protocols
 *     nf_reject_verify_csum() skips, nor for UDP without one), a
 *     broadcast/multicast frame or destination, an ICMP error (or unknown
 *     ICMP type) or an ICMP message too short to tell, and none beyond the
 *     rate limits (icmp_ratelimit per destination, icmp_msgs_per_sec /
 *     icmp_msgs_burst overall, for the types in icmp_ratemask; none on
 *     loopback).  IP: TOS = (TOS & 0x1e) | 0xc0, no DF, a random ID,
 *     TTL ip_default_ttl, source the packet's destination (INPUT) or the
 *     address routing picks toward the sender (FORWARD, BPF_FIB_LOOKUP_SRC);
 *     ICMP type 3 with the code, then the offending datagram up to 576 bytes
 *     in all.
 *
 * In FORWARD the quoted datagram has the TTL ip_forward() already
 * decremented (and its header checksum updated), as the kernel's.
 *
 * Where the reply goes: at TC ingress (INPUT, FORWARD) back out of the
 * device the packet came in on, MAC addresses swapped; at TC egress
 * (OUTPUT) into the stack through the device's ingress (the kernel delivers
 * its locally generated reply locally), on lo through lo's egress so the
 * local route it carries delivers it.  Differences from the kernel, which
 * routes the reply and sends it through ip_local_out():
 *   - the reply is not judged by the OUTPUT chain (but for a reply to a
 *     packet rejected in OUTPUT on lo); the next hop is the frame's sender,
 *     not a route lookup;
 *   - an OUTPUT ICMP error's source is the packet's destination (the
 *     kernel's is the local sender's own address, which the stack drops as
 *     a martian when it is injected at a device);
 *   - a TCP segment in a broadcast or multicast frame gets no RST (the
 *     kernel sends one from the device's address, which the program does
 *     not know); a packet to a directed broadcast address (not
 *     255.255.255.255) is answered;
 *   - IP options are not echoed (record route, timestamp);
 *   - at INPUT and OUTPUT a fragmented datagram is answered as its first
 *     fragment (the kernel answers the whole datagram: the quote's length
 *     and MF, a RST's ack_seq differ);
 *   - the rate limiters' state starts afresh with every rule set, and the
 *     sysctls (ip_default_ttl, icmp_ratelimit, icmp_ratemask,
 *     icmp_msgs_per_sec, icmp_msgs_burst) are read when the rules are
 *     compiled;
 *   - at OUTPUT checksums are not verified (locally generated segments
 *     carry partial ones); at ingress a TCP/UDP checksum field that holds
 *     just the pseudo header's sum is taken as a partial one (verified);
 *   - the FORWARD ICMP source needs BPF_FIB_LOOKUP_SRC (kernel 6.7, or a
 *     backport): without it no ICMP error is sent in FORWARD.
 * XDP programs cannot build these replies: REJECT in INPUT or FORWARD is
 * refused in --mode xdp.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/icmp.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#include "gen_internal.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif
#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif
#ifndef IPPROTO_DCCP
#define IPPROTO_DCCP 33
#endif
#define LOOPBACK_IFINDEX 1

#define IPT2BPF_MAP_REJ	     "ipt_rej"	    /* PERCPU_ARRAY[1]: reply being built */
#define IPT2BPF_MAP_REJ_PEER "ipt_rej_peer" /* LRU_HASH daddr -> token bucket */
#define IPT2BPF_MAP_REJ_GLOB "ipt_rej_glob" /* ARRAY[1]: the global ICMP credit */
#define PEERS_MAX	     4096

/* Per-CPU scratch: the reply frame, and room for the pieces it is built from. */
#define RS_FRAME  2   /* frame start: the IP header lands 4-byte aligned */
#define QUOTE_MAX 548 /* 576 - IP header - ICMP header (__icmp_send()'s room) */
#define FRAME_MAX (ETH_HLEN + 20 + 8 + QUOTE_MAX)
#define RS_PSEUDO 592 /* TCP/UDP pseudo header, 12 bytes */
#define RS_OETH	  608 /* the packet's Ethernet header */
#define RS_OL4	  624 /* the packet's TCP header */
#define RS_CHK	  648 /* checksum chunks, then bpf_fib_lookup parameters */
#define CHUNK	  512 /* bpf_csum_diff() sums at most 512 bytes */
#define RS_SIZE	  (RS_CHK + CHUNK + 8)

#define RS_IP	(RS_FRAME + ETH_HLEN)
#define RS_L4	(RS_IP + 20)
#define RS_DATA (RS_L4 + 8)

/* Main program stack slots (FP_SCR is free once the tables ran). */
#define SL_OFF	 (FP_SCR + 0)  /* checksum walk: offset */
#define SL_END	 (FP_SCR + 8)  /* checksum walk: end */
#define SL_SUM	 (FP_SCR + 16) /* checksum walk: sum */
#define SL_CNT	 (FP_SCR + 24) /* checksum walk: iterations left (bounds the loop) */
#define SL_SADDR (FP_SCR + 32) /* reply source address */
#define SL_LEN	 (FP_SCR + 40) /* reply frame length */
#define SL_APPLY (FP_SCR + 44) /* the ICMP rate limits apply */

struct rej_peer {
	uint64_t tokens, last; /* jiffies, as inet_peer_xrlim_allow() */
};

struct rej_glob {
	int32_t credit; /* icmp_global_allow(): net->ipv4.icmp_global_credit */
	uint32_t stamp; /* ... icmp_global_stamp, jiffies */
};

/* The namespace's sysctls, read when the rules are compiled. */
struct rej_sysctl {
	uint32_t ttl;	       /* ip_default_ttl */
	uint32_t hz;	       /* jiffies per second */
	uint32_t ratelimit;    /* icmp_ratelimit, jiffies */
	uint32_t ratemask;     /* icmp_ratemask */
	uint32_t msgs_per_sec; /* icmp_msgs_per_sec */
	uint32_t msgs_burst;   /* icmp_msgs_burst */
};

struct rej_priv {
	int scr, peer, glob;
	struct rej_sysctl sys;
};

static const struct ipt2bpf_mod mod_REJECT;

static const char *const with_names[] = {
	[IPT_ICMP_NET_UNREACHABLE] = "icmp-net-unreachable",
	[IPT_ICMP_HOST_UNREACHABLE] = "icmp-host-unreachable",
	[IPT_ICMP_PROT_UNREACHABLE] = "icmp-proto-unreachable",
	[IPT_ICMP_PORT_UNREACHABLE] = "icmp-port-unreachable",
	[IPT_ICMP_ECHOREPLY] = "echo-reply",
	[IPT_ICMP_NET_PROHIBITED] = "icmp-net-prohibited",
	[IPT_ICMP_HOST_PROHIBITED] = "icmp-host-prohibited",
	[IPT_TCP_RESET] = "tcp-reset",
	[IPT_ICMP_ADMIN_PROHIBITED] = "icmp-admin-prohibited",
};

/* reject_tg(): --reject-with to ICMP_DEST_UNREACH code. */
static int icmp_code(uint32_t with)
{
	switch (with) {
	case IPT_ICMP_NET_UNREACHABLE:
		return ICMP_NET_UNREACH;
	case IPT_ICMP_HOST_UNREACHABLE:
		return ICMP_HOST_UNREACH;
	case IPT_ICMP_PROT_UNREACHABLE:
		return ICMP_PROT_UNREACH;
	case IPT_ICMP_PORT_UNREACHABLE:
		return ICMP_PORT_UNREACH;
	case IPT_ICMP_NET_PROHIBITED:
		return ICMP_NET_ANO;
	case IPT_ICMP_HOST_PROHIBITED:
		return ICMP_HOST_ANO;
	case IPT_ICMP_ADMIN_PROHIBITED:
		return ICMP_PKT_FILTERED;
	default:
		return -1;
	}
}

static int reject_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct ipt_reject_info *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	/* The validator refused echo-reply and tcp-reset without -p tcp (reject_tg_check()). */
	if (i->with != IPT_TCP_RESET && icmp_code(i->with) < 0) {
		/* reject_tg() sends nothing for a value it does not know, and drops. */
		snprintf(why, whylen, "--reject-with %u is not one iptables sets", i->with);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void reject_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct ipt_reject_info *i = data;

	(void)len, (void)revision;
	if (i->with < sizeof(with_names) / sizeof(with_names[0]) && with_names[i->with])
		fprintf(f, "--reject-with %s", with_names[i->with]);
	else
		fprintf(f, "--reject-with %u", i->with);
}

static uint32_t sysctl_u32(const char *path, uint32_t dflt)
{
	FILE *f = fopen(path, "re");
	unsigned int v;

	if (!f)
		return dflt;
	if (fscanf(f, "%u", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

static void read_sysctls(struct rej_sysctl *s)
{
	struct timespec ts;
	uint32_t ms;

	/* The coarse clocks tick once a jiffy. */
	if (!clock_getres(CLOCK_MONOTONIC_COARSE, &ts) && !ts.tv_sec && ts.tv_nsec > 0)
		s->hz = (uint32_t)(1000000000L / ts.tv_nsec);
	else
		s->hz = 250;
	s->ttl = sysctl_u32("/proc/sys/net/ipv4/ip_default_ttl", 64);
	ms = sysctl_u32("/proc/sys/net/ipv4/icmp_ratelimit", 1000);
	/* msecs_to_jiffies(): rounds up. */
	s->ratelimit = (uint32_t)(((uint64_t)ms * s->hz + 999) / 1000);
	s->ratemask = sysctl_u32("/proc/sys/net/ipv4/icmp_ratemask", 0x1818);
	s->msgs_per_sec = sysctl_u32("/proc/sys/net/ipv4/icmp_msgs_per_sec", 1000);
	s->msgs_burst = sysctl_u32("/proc/sys/net/ipv4/icmp_msgs_burst", 50);
}

static int reject_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			  uint8_t revision)
{
	const struct ipt2bpf_entry *e = &g->tables[ti]->entries[idx];
	struct rej_priv *p;
	void **priv;
	int err;

	(void)data, (void)revision;
	if (g->opts->mode == IPT2BPF_MODE_XDP &&
	    (e->hooks & ((1U << NF_INET_LOCAL_IN) | (1U << NF_INET_FORWARD))))
		return gen_refuse(g, ti, idx,
				  "REJECT in INPUT or FORWARD needs --mode tc: an XDP program "
				  "cannot build the reply the kernel sends");
	err = gen_mod_use(g, &mod_REJECT, &priv);
	if (err)
		return err;
	if (*priv)
		return 0;
	*priv = p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->scr = gen_map_get(g, IPT2BPF_MAP_REJ, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
			     RS_SIZE, 1, 0, false);
	if (p->scr < 0)
		return p->scr;
	p->peer = gen_map_get(g, IPT2BPF_MAP_REJ_PEER, BPF_MAP_TYPE_LRU_HASH, sizeof(uint32_t),
			      sizeof(struct rej_peer), PEERS_MAX, 0, true);
	if (p->peer < 0)
		return p->peer;
	p->glob = gen_map_get(g, IPT2BPF_MAP_REJ_GLOB, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
			      sizeof(struct rej_glob), 1, 0, true);
	if (p->glob < 0)
		return p->glob;
	read_sysctls(&p->sys);
	return 0;
}

static int reject_emit(struct gen *g, unsigned int ti, unsigned int idx,
		       const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	const struct ipt_reject_info *i = t->data;

	(void)ti, (void)idx, (void)c;
	E(BPF_ST_MEM(BPF_B, BPF_REG_6, PKT(vparam), (int32_t)i->with));
	gen_verdict_exit(g, GEN_V_REJECT);
	return g->p->e.err;
}

/* ------------------------------------------------------------ verdict hook */

static const struct rej_priv *priv_get(struct gen *g)
{
	return gen_mod_priv(g, &mod_REJECT);
}

/* bpf_skb_load_bytes(skb, R2, R8 + to, len): R2 must hold the offset. Jumps to l_fail on error. */
static void rj_load(struct gen *g, int16_t to, int len_reg, int32_t len, int l_fail)
{
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_8));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, to));
	if (len_reg >= 0)
		E(BPF_MOV64_REG(BPF_REG_4, len_reg));
	else
		E(BPF_MOV64_IMM(BPF_REG_4, len));
	E(BPF_CALL_HELPER(BPF_FUNC_skb_load_bytes));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_fail);
}

/* R0 = bpf_csum_diff(NULL, 0, R8 + at, size, seed in R5) (size: register or imm). */
static void rj_csum(struct gen *g, int16_t at, int size_reg, int32_t size)
{
	E(BPF_MOV64_IMM(BPF_REG_1, 0));
	E(BPF_MOV64_IMM(BPF_REG_2, 0));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_8));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, at));
	if (size_reg >= 0)
		E(BPF_MOV64_REG(BPF_REG_4, size_reg));
	else
		E(BPF_MOV64_IMM(BPF_REG_4, size));
	E(BPF_CALL_HELPER(BPF_FUNC_csum_diff));
	E(BPF_MOV32_REG(BPF_REG_0, BPF_REG_0));
}

/* reg = the 32-bit one's complement sum in reg folded to 16 bits. Clobbers R1. */
static void rj_fold(struct gen *g, int reg)
{
	for (int k = 0; k < 2; k++) {
		E(BPF_MOV64_REG(BPF_REG_1, reg));
		E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_1, 16));
		E(BPF_ALU64_IMM(BPF_AND, reg, 0xffff));
		E(BPF_ALU64_REG(BPF_ADD, reg, BPF_REG_1));
	}
}

/* Is the hook (SL_HOOK) OUTPUT?  Compile-time for every program but ingress. */
static bool role_output(struct gen *g, int role)
{
	return role == IPT2BPF_P_EGRESS ||
	       (role == IPT2BPF_P_TRACE && g->prog->hook == NF_INET_LOCAL_OUT);
}

/*
 * nf_ip_checksum() == 0 for the datagram's transport part: jumps to l_bad
 * when it is wrong.  Valid without looking: CHECKSUM_UNNECESSARY
 * (bpf_csum_level() says so) and TCP/UDP whose checksum field holds just the
 * pseudo header's sum (CHECKSUM_PARTIAL: a local sender's segment crossing
 * a veth, which the kernel takes as verified).
 */
static void emit_l4_csum(struct gen *g, int l_bad)
{
	int l_ok = LABEL(), l_seed = LABEL(), l_walk = LABEL(), l_loop = LABEL();
	int l_nozero = LABEL(), l_sum = LABEL(), l_cap = LABEL(), l_capped = LABEL();
	int l_exit = LABEL();

	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_IMM(BPF_REG_2, BPF_CSUM_LEVEL_QUERY));
	E(BPF_CALL_HELPER(BPF_FUNC_csum_level));
	EJ(BPF_JMP_IMM(BPF_JSGE, BPF_REG_0, 0, 0), l_ok);

	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, SL_SUM, 0));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPPROTO_TCP, 0), l_seed);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPPROTO_UDP, 0), l_seed);
	EJ(BPF_JMP_A(0), l_walk);

	/* TCP, UDP: the pseudo header's sum starts the walk. */
	BIND(l_seed);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(saddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_2, RS_PSEUDO));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(daddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_2, RS_PSEUDO + 4));
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, RS_PSEUDO + 8, 0));
	E(BPF_STX_MEM(BPF_B, BPF_REG_8, BPF_REG_1, RS_PSEUDO + 9));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(l4len)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_2, 16));
	E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_2, RS_PSEUDO + 10));
	E(BPF_MOV64_IMM(BPF_REG_5, 0));
	rj_csum(g, RS_PSEUDO, -1, 12);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, SL_SUM));
	/* The checksum field (TCP: 16, UDP: 6) equal to the folded pseudo sum: partial. */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
	E(BPF_MOV64_IMM(BPF_REG_2, 16));
	{
		int l_tcp = LABEL();

		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPPROTO_TCP, 0), l_tcp);
		E(BPF_MOV64_IMM(BPF_REG_2, 6));
		BIND(l_tcp);
	}
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, PKT(l4len)));
	E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_2));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_4, 2));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_4, BPF_REG_3, 0), l_walk);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_3));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN));
	rj_load(g, RS_CHK, -1, 2, l_walk);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_10, SL_SUM));
	rj_fold(g, BPF_REG_0);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_8, RS_CHK));
	EJ(BPF_JMP_REG(BPF_JEQ, BPF_REG_0, BPF_REG_2, 0), l_ok);

	/* Sum [ETH_HLEN + thoff, ETH_HLEN + tot_len) in chunks; odd tails padded with zeros. */
	BIND(l_walk);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, ETH_HLEN));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, SL_OFF));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(tot_len)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, ETH_HLEN));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, SL_END));
	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, SL_CNT, (65536 + CHUNK - 1) / CHUNK + 1));
	BIND(l_loop);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, SL_CNT));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_bad);
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, SL_CNT));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_10, SL_OFF));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_7, BPF_REG_10, SL_END));
	EJ(BPF_JMP_REG(BPF_JGE, BPF_REG_2, BPF_REG_7, 0), l_exit);
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_7, BPF_REG_2)); /* bytes left */
	/* The wide case first: the capped one then prunes against it. */
	EJ(BPF_JMP_IMM(BPF_JGT, BPF_REG_7, CHUNK, 0), l_cap);
	BIND(l_capped);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_7, 1, 0), l_exit); /* (not == 0: 6.1 learns no bound) */
	/* zero the word the tail ends in, then load over it */
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_3, ~3));
	EJ(BPF_JMP_IMM(BPF_JGE, BPF_REG_3, CHUNK, 0), l_nozero);
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_3, BPF_REG_8));
	E(BPF_ST_MEM(BPF_W, BPF_REG_3, RS_CHK, 0));
	BIND(l_nozero);
	rj_load(g, RS_CHK, BPF_REG_7, 0, l_bad);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_10, SL_OFF));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_7));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_2, SL_OFF));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_7, 3));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_7, ~3));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_5, BPF_REG_10, SL_SUM));
	rj_csum(g, RS_CHK, BPF_REG_7, 0);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, SL_SUM));
	EJ(BPF_JMP_A(0), l_loop);
	BIND(l_cap);
	E(BPF_MOV64_IMM(BPF_REG_7, CHUNK));
	EJ(BPF_JMP_A(0), l_capped);

	/* Every way out of the loop leaves the same counter: the exits prune. */
	BIND(l_exit);
	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, SL_CNT, 0));
	BIND(l_sum);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_10, SL_SUM));
	rj_fold(g, BPF_REG_0);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0xffff, 0), l_bad);
	BIND(l_ok);
}

/*
 * IPv4 multicast or limited broadcast destination (RTCF_MULTICAST,
 * RTCF_BROADCAST); with mac, also a group address in the frame's destination
 * (received: skb->pkt_type != PACKET_HOST; sent: a route to a broadcast).
 */
static void emit_dst_group(struct gen *g, bool mac, int l_none)
{
	if (mac) {
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_8, RS_OETH));
		EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_1, 0x01, 0), l_none);
	}
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(daddr_h)));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, (int32_t)0xffffffff, 0), l_none);
	E(BPF_ALU32_IMM(BPF_RSH, BPF_REG_1, 28));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0xe, 0), l_none);
}

/* The reply frame's Ethernet header: the packet's addresses swapped. */
static void emit_eth(struct gen *g)
{
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_8, RS_OETH + 6));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, RS_FRAME));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_8, RS_OETH + 10));
	E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_1, RS_FRAME + 4));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_8, RS_OETH + 0));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, RS_FRAME + 6));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_8, RS_OETH + 4));
	E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_1, RS_FRAME + 10));
	E(BPF_ST_MEM(BPF_H, BPF_REG_8, RS_FRAME + 12, htons(ETH_P_IP)));
}

/* The IP header's checksum (the header is in place with check = 0). */
static void emit_ip_csum(struct gen *g)
{
	E(BPF_MOV64_IMM(BPF_REG_5, 0));
	rj_csum(g, RS_IP, -1, 20);
	rj_fold(g, BPF_REG_0);
	E(BPF_ALU64_IMM(BPF_XOR, BPF_REG_0, 0xffff));
	E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_0, RS_IP + 10));
}

/*
 * The frame (SL_LEN bytes at RS_FRAME) replaces the skb's content and a
 * clone goes where the reply belongs; trace programs keep it in the skb
 * (`ipt2bpf trace` prints it).
 */
static void emit_send(struct gen *g, int role, int l_fail)
{
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_10, SL_LEN));
	E(BPF_MOV64_IMM(BPF_REG_3, 0));
	E(BPF_CALL_HELPER(BPF_FUNC_skb_change_tail));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_fail);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_10, SL_LEN));
	EJ(BPF_JMP_IMM(BPF_JGT, BPF_REG_4, FRAME_MAX, 0), l_fail);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_4, ETH_HLEN + 20, 0), l_fail);
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_IMM(BPF_REG_2, 0));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_8));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, RS_FRAME));
	E(BPF_MOV64_IMM(BPF_REG_5, BPF_F_RECOMPUTE_CSUM));
	E(BPF_CALL_HELPER(BPF_FUNC_skb_store_bytes));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_fail);
	/* Not "verified by hardware" any more: the receiver checks what we computed. */
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_IMM(BPF_REG_2, BPF_CSUM_LEVEL_RESET));
	E(BPF_CALL_HELPER(BPF_FUNC_csum_level));
	/* IP4_REPLY_MARK() with fwmark_reflect off: the reply has no mark. */
	E(BPF_MOV64_IMM(BPF_REG_1, 0));
	E(BPF_STX_MEM(BPF_W, BPF_REG_9, BPF_REG_1, offsetof(struct __sk_buff, mark)));
	if (role == IPT2BPF_P_TRACE)
		return;
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	if (role == IPT2BPF_P_INGRESS) {
		/* Back out of the device it came in on (lo: its egress loops it back in). */
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(iif)));
		E(BPF_MOV64_IMM(BPF_REG_3, 0));
	} else {
		int l_lo = LABEL();

		/* OUTPUT: into the stack through the device's ingress; lo through its egress. */
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_9, offsetof(struct __sk_buff, ifindex)));
		E(BPF_MOV64_IMM(BPF_REG_3, 0));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, LOOPBACK_IFINDEX, 0), l_lo);
		E(BPF_MOV64_IMM(BPF_REG_3, BPF_F_INGRESS));
		BIND(l_lo);
	}
	E(BPF_CALL_HELPER(BPF_FUNC_clone_redirect));
}

/* nf_send_reset() */
static void emit_rst(struct gen *g, const struct rej_priv *p, int role, int l_none)
{
	int l_ack = LABEL(), l_flags = LABEL();

	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, IPPROTO_TCP, 0), l_none);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(l4ok)));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, GEN_L4_TCP));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_none);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(tcpflags)));
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_1, 0x04, 0), l_none); /* no RST for a RST */
	if (!role_output(g, role))
		emit_l4_csum(g, l_none);
	/*
	 * The kernel also resets a segment that came in a broadcast frame, from
	 * the device's own address: the program does not know it (it swaps the
	 * frame's addresses), so such a segment gets no reply.
	 */
	emit_dst_group(g, true, l_none);

	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN));
	rj_load(g, RS_OL4, -1, 20, l_none);

	emit_eth(g);
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, RS_IP + 0,
		     (int32_t)gen_u32((const uint8_t[]){0x45, 0, 0, 40})));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, RS_IP + 4,
		     (int32_t)gen_u32((const uint8_t[]){0, 0, 0x40, 0})));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, RS_IP + 8,
		     (int32_t)gen_u32((const uint8_t[]){(uint8_t)p->sys.ttl, IPPROTO_TCP, 0, 0})));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(daddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, RS_IP + 12));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(saddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, RS_IP + 16));
	emit_ip_csum(g);

	/* TCP: ports swapped, no options, window 0. */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_8, RS_OL4 + 2));
	E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_1, RS_L4 + 0));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_8, RS_OL4 + 0));
	E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_1, RS_L4 + 2));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, RS_L4 + 16, 0)); /* check, urg_ptr */
	E(BPF_ST_MEM(BPF_H, BPF_REG_8, RS_L4 + 14, 0)); /* window */
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, RS_L4 + 12, 5 << 4));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_8, RS_OL4 + 13));
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_1, 0x10, 0), l_ack);
	/* No ACK: ack_seq = seq + SYN + FIN + payload (tot_len - ihl*4 - doff*4), seq 0. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_8, RS_OL4 + 4));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_2, 32));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_3, 0x01)); /* FIN */
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_3));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_3, 1));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_3, 0x01)); /* SYN */
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_3));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, PKT(l4len)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_3));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_3, BPF_REG_6, PKT(doff4)));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_2, BPF_REG_3));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_2, 32));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_2, RS_L4 + 8));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, RS_L4 + 4, 0));
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, RS_L4 + 13, 0x14)); /* ACK RST */
	EJ(BPF_JMP_A(0), l_flags);
	BIND(l_ack);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_8, RS_OL4 + 8));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_2, RS_L4 + 4));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, RS_L4 + 8, 0));
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, RS_L4 + 13, 0x04)); /* RST */
	BIND(l_flags);

	/* TCP checksum: pseudo header (reply addresses, length 20) and the header. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_8, RS_IP + 12));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, RS_PSEUDO));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_8, RS_IP + 16));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, RS_PSEUDO + 4));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, RS_PSEUDO + 8,
		     (int32_t)gen_u32((const uint8_t[]){0, IPPROTO_TCP, 0, 20})));
	E(BPF_MOV64_IMM(BPF_REG_5, 0));
	rj_csum(g, RS_PSEUDO, -1, 12);
	E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_0));
	rj_csum(g, RS_L4, -1, 20);
	rj_fold(g, BPF_REG_0);
	E(BPF_ALU64_IMM(BPF_XOR, BPF_REG_0, 0xffff));
	E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_0, RS_L4 + 16));

	E(BPF_ST_MEM(BPF_W, BPF_REG_10, SL_LEN, ETH_HLEN + 40));
	emit_send(g, role, l_none);
}

/*
 * icmp_global_allow() (jumps to l_deny), then after the per-destination
 * check icmp_global_consume().  Only for the types icmp_ratemask limits.
 */
static void emit_global_allow(struct gen *g, const struct rej_priv *p, int l_deny)
{
	int l_allow = LABEL(), l_none = LABEL(), l_store = LABEL();

	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)p->glob);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, FP_TMP));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct rej_glob, credit)));
	EJ(BPF_JMP32_IMM(BPF_JSGT, BPF_REG_1, 0, 0), l_allow);
	gen_clock(g, BPF_REG_3, true);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_10, FP_TMP));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0),
	   l_none);				/* (the verifier forgets it is not NULL) */
	E(BPF_MOV32_REG(BPF_REG_3, BPF_REG_3)); /* u32 now */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_0, offsetof(struct rej_glob, stamp)));
	E(BPF_MOV32_REG(BPF_REG_4, BPF_REG_3));
	E(BPF_ALU32_REG(BPF_SUB, BPF_REG_4, BPF_REG_2)); /* delta */
	{
		int l_small = LABEL();

		EJ(BPF_JMP32_IMM(BPF_JLE, BPF_REG_4, (int32_t)p->sys.hz, 0), l_small);
		E(BPF_MOV32_IMM(BPF_REG_4, (int32_t)p->sys.hz));
		BIND(l_small);
	}
	EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_4, (int32_t)(p->sys.hz / 50), 0), l_deny);
	/* incr = msgs_per_sec * delta / HZ */
	E(BPF_ALU64_IMM(BPF_MUL, BPF_REG_4, (int32_t)p->sys.msgs_per_sec));
	E(BPF_ALU64_IMM(BPF_DIV, BPF_REG_4, (int32_t)(p->sys.hz ? p->sys.hz : 1)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_4, 0, 0), l_deny);
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_3, offsetof(struct rej_glob, stamp)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct rej_glob, credit)));
	E(BPF_ALU32_REG(BPF_ADD, BPF_REG_1, BPF_REG_4));
	EJ(BPF_JMP32_IMM(BPF_JSLE, BPF_REG_1, (int32_t)p->sys.msgs_burst, 0), l_store);
	E(BPF_MOV32_IMM(BPF_REG_1, (int32_t)p->sys.msgs_burst));
	BIND(l_store);
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, offsetof(struct rej_glob, credit)));
	BIND(l_allow);
	BIND(l_none);
}

static void emit_global_consume(struct gen *g, const struct rej_priv *p)
{
	int l_none = LABEL();

	E(BPF_CALL_HELPER(BPF_FUNC_get_prandom_u32));
	E(BPF_MOV32_REG(BPF_REG_0, BPF_REG_0));
	E(BPF_ALU64_IMM(BPF_MOD, BPF_REG_0, 3)); /* get_random_u32_below(3) */
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, FP_TMP));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)p->glob);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, FP_TMP));
	E(BPF_ALU64_IMM(BPF_NEG, BPF_REG_1, 0));
	E(BPF_ATOMIC_OP(BPF_W, BPF_ADD, BPF_REG_0, BPF_REG_1, offsetof(struct rej_glob, credit)));
	BIND(l_none);
}

/* inet_peer_xrlim_allow() for the reply's destination (the packet's source). */
static void emit_peer_allow(struct gen *g, const struct rej_priv *p, int l_deny)
{
	uint64_t timeout = p->sys.ratelimit, burst = 6 * timeout; /* XRLIM_BURST_FACTOR */
	int l_have = LABEL(), l_allow = LABEL(), l_clamped = LABEL(), l_none = LABEL();

	gen_clock(g, BPF_REG_0, true);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, FP_TMP)); /* now */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(saddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_KEY));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)p->peer);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_have);
	/* inet_getpeer(): a new peer's rate_last is 60 s ago, its tokens 0. */
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, FP_TMP));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, (int32_t)(60 * p->sys.hz)));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, SL_OFF + 8 /* rej_peer.last */));
	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, SL_OFF, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)p->peer);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, SL_OFF));
	E(BPF_MOV64_IMM(BPF_REG_4, BPF_NOEXIST));
	E(BPF_CALL_HELPER(BPF_FUNC_map_update_elem));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)p->peer);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	/* No peer (the kernel: out of memory): allowed. */
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
	BIND(l_have);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_10, FP_TMP));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, offsetof(struct rej_peer, tokens)));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_0, offsetof(struct rej_peer, last)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_3));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_1, BPF_REG_2));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_3, offsetof(struct rej_peer, last)));
	E(BPF_LD_IMM64_RAW_1(BPF_REG_2, 0, burst));
	E(BPF_LD_IMM64_RAW_2(burst));
	EJ(BPF_JMP_REG(BPF_JLE, BPF_REG_1, BPF_REG_2, 0), l_clamped);
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_2));
	BIND(l_clamped);
	EJ(BPF_JMP_IMM(BPF_JGE, BPF_REG_1, (int32_t)timeout, 0), l_allow);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, offsetof(struct rej_peer, tokens)));
	EJ(BPF_JMP_A(0), l_deny);
	BIND(l_allow);
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, (int32_t)timeout));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, offsetof(struct rej_peer, tokens)));
	BIND(l_none);
}

/* nf_send_unreach() -> __icmp_send() */
static void emit_unreach(struct gen *g, const struct rej_priv *p, int role, int l_none)
{
	bool output = role_output(g, role);
	bool limited = p->sys.ratemask & (1U << ICMP_DEST_UNREACH);
	int l_checked = LABEL(), l_saddr = LABEL(), l_nolimit = LABEL();

	emit_dst_group(g, true, l_none);

	/* No error about an ICMP error (or an unknown type); the type byte must be there. */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, IPPROTO_ICMP, 0), l_checked);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_none);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN));
	rj_load(g, RS_CHK, -1, 1, l_none);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_8, RS_CHK));
	EJ(BPF_JMP_IMM(BPF_JGT, BPF_REG_1, NR_ICMP_TYPES, 0), l_none);
	E(BPF_MOV64_IMM(BPF_REG_2, 1));
	E(BPF_ALU64_REG(BPF_LSH, BPF_REG_2, BPF_REG_1));
	/* icmp_pointers[].error: types 1-7, 9-12 */
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_2, 0x1efe, 0), l_none);
	BIND(l_checked);

	/* nf_reject_verify_csum(): protocols whose checksum the kernel does not check. */
	if (!output) {
		int l_verify = LABEL(), l_skip = LABEL();
		static const int skip[] = {IPPROTO_GRE,	 IPPROTO_AH,	  IPPROTO_ESP,
					   IPPROTO_SCTP, IPPROTO_UDPLITE, IPPROTO_DCCP};

		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
		for (size_t k = 0; k < sizeof(skip) / sizeof(skip[0]); k++)
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, skip[k], 0), l_skip);
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, IPPROTO_UDP, 0), l_verify);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
		EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, 8, 0), l_verify);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(thoff)));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN + 6));
		rj_load(g, RS_CHK, -1, 2, l_none);
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_8, RS_CHK));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_skip);
		BIND(l_verify);
		emit_l4_csum(g, l_none);
		BIND(l_skip);
	}

	/* Rate limits: none when the packet came in on lo. */
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, SL_APPLY, 0));
	if (limited) {
		if (role == IPT2BPF_P_INGRESS) {
			E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(iif)));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, LOOPBACK_IFINDEX, 0), l_nolimit);
		}
		emit_global_allow(g, p, l_none);
		E(BPF_ST_MEM(BPF_W, BPF_REG_10, SL_APPLY, 1));
	}
	BIND(l_nolimit);

	/* The reply's source address. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(daddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, SL_SADDR));
	if (role == IPT2BPF_P_INGRESS ||
	    (role == IPT2BPF_P_TRACE && g->prog->hook == NF_INET_FORWARD)) {
		if (role == IPT2BPF_P_INGRESS) {
			E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(oif)));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_saddr); /* INPUT */
		}
		/* FORWARD: the address routing picks for a packet to the sender. */
		for (int off = 0; off < (int)sizeof(struct bpf_fib_lookup); off += 8)
			E(BPF_ST_MEM(BPF_DW, BPF_REG_8, RS_CHK + off, 0));
		E(BPF_ST_MEM(BPF_B, BPF_REG_8, RS_CHK + offsetof(struct bpf_fib_lookup, family),
			     AF_INET));
		E(BPF_ST_MEM(BPF_B, BPF_REG_8,
			     RS_CHK + offsetof(struct bpf_fib_lookup, l4_protocol), IPPROTO_ICMP));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(saddr)));
		E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1,
			      RS_CHK + offsetof(struct bpf_fib_lookup, ipv4_dst)));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(iif)));
		E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1,
			      RS_CHK + offsetof(struct bpf_fib_lookup, ifindex)));
		E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
		E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_8));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, RS_CHK));
		E(BPF_MOV64_IMM(BPF_REG_3, sizeof(struct bpf_fib_lookup)));
		E(BPF_MOV64_IMM(BPF_REG_4, BPF_FIB_LOOKUP_OUTPUT | BPF_FIB_LOOKUP_SKIP_NEIGH |
						   BPF_FIB_LOOKUP_SRC));
		E(BPF_CALL_HELPER(BPF_FUNC_fib_lookup));
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, BPF_FIB_LKUP_RET_SUCCESS, 0), l_none);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_8,
			      RS_CHK + offsetof(struct bpf_fib_lookup, ipv4_src)));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_none);
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, SL_SADDR));
	}
	BIND(l_saddr);

	/* Per destination, unless the reply goes to a local address (over lo). */
	if (limited) {
		int l_skip = LABEL();

		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, SL_APPLY));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_skip);
		if (!output)
			emit_peer_allow(g, p, l_none);
		emit_global_consume(g, p);
		BIND(l_skip);
	}

	/* The quoted datagram first (from the packet), then the headers around it. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_7, BPF_REG_6, PKT(tot_len)));
	{
		int l_fits = LABEL();

		EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_7, QUOTE_MAX, 0), l_fits);
		E(BPF_MOV64_IMM(BPF_REG_7, QUOTE_MAX));
		BIND(l_fits);
	}
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_7, 20, 0), l_none);
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, ~3));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_8));
	E(BPF_ST_MEM(BPF_W, BPF_REG_1, RS_DATA, 0)); /* zero tail for the checksum */
	E(BPF_MOV64_IMM(BPF_REG_2, ETH_HLEN));
	rj_load(g, RS_DATA, BPF_REG_7, 0, l_none);
	if (role == IPT2BPF_P_INGRESS ||
	    (role == IPT2BPF_P_TRACE && g->prog->hook == NF_INET_FORWARD)) {
		int l_input = LABEL(), l_nocarry = LABEL();

		/* FORWARD: the datagram as ip_forward() left it, TTL decremented
		 * (ip_decrease_ttl()). */
		if (role == IPT2BPF_P_INGRESS) {
			E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(oif)));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_input);
		}
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_8, RS_DATA + 8));
		E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, 1));
		E(BPF_STX_MEM(BPF_B, BPF_REG_8, BPF_REG_1, RS_DATA + 8));
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_8, RS_DATA + 10));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, htons(0x0100)));
		EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, 0xffff, 0), l_nocarry);
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
		BIND(l_nocarry);
		E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_1, RS_DATA + 10));
		BIND(l_input);
	}

	emit_eth(g);
	/* IP: 0x45, TOS, tot_len, ID, no DF, TTL, ICMP, check, saddr, daddr */
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, RS_IP + 0, 0x45));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(tos)));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, 0x1e)); /* RT_TOS() */
	E(BPF_ALU64_IMM(BPF_OR, BPF_REG_1, 0xc0));  /* IPTOS_PREC_INTERNETCONTROL */
	E(BPF_STX_MEM(BPF_B, BPF_REG_8, BPF_REG_1, RS_IP + 1));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 28));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_1, RS_IP + 2));
	E(BPF_CALL_HELPER(BPF_FUNC_get_prandom_u32));
	E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_0, RS_IP + 4));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, RS_IP + 6,
		     (int32_t)gen_u32((const uint8_t[]){0, 0, (uint8_t)p->sys.ttl, IPPROTO_ICMP})));
	E(BPF_ST_MEM(BPF_H, BPF_REG_8, RS_IP + 10, 0));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, SL_SADDR));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, RS_IP + 12));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(saddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, RS_IP + 16));
	emit_ip_csum(g);

	/* ICMP: type 3, the code, check, unused 0; checksum over it and the quote. */
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, RS_L4 + 0, ICMP_DEST_UNREACH));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(vparam)));
	{
		/* vparam -> code, in the program: it is per rule, the hook is shared. */
		static const uint32_t withs[] = {
			IPT_ICMP_NET_UNREACHABLE,  IPT_ICMP_HOST_UNREACHABLE,
			IPT_ICMP_PROT_UNREACHABLE, IPT_ICMP_NET_PROHIBITED,
			IPT_ICMP_HOST_PROHIBITED,  IPT_ICMP_ADMIN_PROHIBITED,
		};
		int l_code = LABEL();

		E(BPF_MOV64_IMM(BPF_REG_2, ICMP_PORT_UNREACH));
		for (size_t k = 0; k < sizeof(withs) / sizeof(withs[0]); k++) {
			int l_next = LABEL();

			EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, (int32_t)withs[k], 0), l_next);
			E(BPF_MOV64_IMM(BPF_REG_2, icmp_code(withs[k])));
			EJ(BPF_JMP_A(0), l_code);
			BIND(l_next);
		}
		BIND(l_code);
		E(BPF_STX_MEM(BPF_B, BPF_REG_8, BPF_REG_2, RS_L4 + 1));
	}
	E(BPF_ST_MEM(BPF_H, BPF_REG_8, RS_L4 + 2, 0));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, RS_L4 + 4, 0));
	{
		int l_one = LABEL(), l_done = LABEL();

		/* R7 = 8 + quote rounded up to 4: at most 556, so one or two sums. */
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_7, 8 + 3));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_7, ~3));
		E(BPF_MOV64_IMM(BPF_REG_5, 0));
		EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_7, CHUNK, 0), l_one);
		rj_csum(g, RS_L4, -1, CHUNK);
		E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_0));
		E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_7, CHUNK));
		{
			int l_ok = LABEL();

			EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_7,
				       FRAME_MAX - (RS_L4 - RS_FRAME) - CHUNK + 4, 0),
			   l_ok);
			EJ(BPF_JMP_A(0), l_none);
			BIND(l_ok);
		}
		rj_csum(g, RS_L4 + CHUNK, BPF_REG_7, 0);
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_7, CHUNK));
		EJ(BPF_JMP_A(0), l_done);
		BIND(l_one);
		rj_csum(g, RS_L4, BPF_REG_7, 0);
		BIND(l_done);
		rj_fold(g, BPF_REG_0);
		E(BPF_ALU64_IMM(BPF_XOR, BPF_REG_0, 0xffff));
		E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_0, RS_L4 + 2));
	}
	/* frame length: Ethernet + IP + ICMP + quote */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(tot_len)));
	{
		int l_fits = LABEL();

		EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_1, QUOTE_MAX, 0), l_fits);
		E(BPF_MOV64_IMM(BPF_REG_1, QUOTE_MAX));
		BIND(l_fits);
	}
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, ETH_HLEN + 28));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, SL_LEN));
	emit_send(g, role, l_none);
}

static int reject_verdict(struct gen *g, int role)
{
	const struct rej_priv *p = priv_get(g);
	int l_skip = LABEL(), l_none = LABEL(), l_rst = LABEL();

	if (!p)
		return 0;
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, GEN_V_REJECT, 0), l_skip);
	if (role == IPT2BPF_P_XDP)
		goto out; /* refused in prepare(); a DROP if it ever gets here */
	/* R7 (the hook) is not reliable here: keep R7's value for the hooks after us. */
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_7, FP_IFKEY));
	/* ip_hdr(skb)->frag_off & IP_OFFSET: never a reply to a later fragment. */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_none);
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)p->scr);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	E(BPF_MOV64_IMM(BPF_REG_2, 0));
	rj_load(g, RS_OETH, -1, ETH_HLEN, l_none);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(vparam)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPT_TCP_RESET, 0), l_rst);
	emit_unreach(g, p, role, l_none);
	EJ(BPF_JMP_A(0), l_none);
	BIND(l_rst);
	emit_rst(g, p, role, l_none);
	BIND(l_none);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_7, BPF_REG_10, FP_IFKEY));
out:
	E(BPF_MOV64_IMM(BPF_REG_0, GEN_V_DROP));
	BIND(l_skip);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_REJECT = {
	.name = "REJECT",
	.target = true,
	.revisions = 1U << 0,
	.check = reject_check,
	.dump = reject_dump,
	.prepare = reject_prepare,
	.emit_target = reject_emit,
	.terminal = true,
	.emit_verdict = reject_verdict,
};
IPT2BPF_MOD_REGISTER(mod_REJECT);
