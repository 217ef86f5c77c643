// SPDX-License-Identifier: GPL-2.0
/*
 * -j HMARK (xt_HMARK.c, revision 0, IPv4, packet tuple): skb->mark =
 * reciprocal_scale(jhash_3words(lo addr, hi addr, ports, --hmark-rnd) ^
 * (proto & proto mask), --hmark-mod) + --hmark-offset, as hmark_tg_v4().
 * Non-terminal; later rules see the new mark and the skb keeps it (TC only:
 * refused for INPUT and FORWARD in --mode xdp, which has no mark).
 *
 * The tuple (hmark_pkt_set_htuple_ipv4()) comes from the packet's bytes, so
 * the main program's prologue extracts it once per packet into the per-CPU
 * ipt_hmark value: the IP header it comes from (the quoted one of an ICMP
 * error: ICMP type 3, 4, 5, 11 or 12 whose 8-byte header is present, read
 * at the transport offset even of a later fragment, as the kernel does), and
 * the four bytes at the protocol's ports offset (TCP, UDP, UDP-Lite, SCTP,
 * DCCP, ESP: 0; AH: 4) unless the protocol is ICMP or that header is a
 * fragment.  An ICMP error too short to hold the quoted IP header leaves the
 * mark as it was (the kernel's "return -1").  Each rule then masks, orders
 * and hashes with its own parameters.
 *
 * Fragments: FORWARD sees each fragment (no ports in any fragment, as the
 * kernel); INPUT and OUTPUT judge a datagram by its first fragment (see
 * gen.c), which is taken as the unfragmented datagram the kernel's hooks see
 * there.
 *
 * --hmark-tuple ct hashes the connection's original and reply tuples
 * (emit_tuple_ct(), from the tracker's scratch copy; a packet without a
 * connection keeps its mark) in rule sets where another rule uses the
 * tracker.  Alone it is refused: unlike the matches that need connections,
 * HMARK's checkentry does not call nf_ct_netns_get() (Linux 6.1 xt_HMARK.c,
 * hmark_tg_check()), so the kernel hashes only where something else
 * enabled conntrack in the namespace (checked: a namespace with just an
 * HMARK ct rule leaves every mark 0; with an added -m state rule it marks),
 * and whether something outside this rule set did is not known here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <linux/icmp.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/netfilter.h>
#include <linux/netfilter/xt_HMARK.h>

#include "ct.h"
#include "gen_internal.h"

#define IPT2BPF_MAP_HMARK "ipt_hmark" /* PERCPU_ARRAY[1] of struct hmark_scr */

/* The packet's tuple, as the prologue found it. */
struct hmark_scr {
	uint8_t ip[20];	  /* the IP header the tuple comes from */
	uint8_t ports[4]; /* the bytes at the ports offset (HM_PORTS) */
	uint32_t nh;	  /* offset of ip[] in the datagram: 0, or an ICMP error's quote */
	uint32_t flags;	  /* HM_* */
};

#define HM_VALID 0x1 /* a tuple: the rule sets the mark */
#define HM_PORTS 0x2 /* ports[] holds the ports (or SPI) */

#define SCR(field) ((int16_t)offsetof(struct hmark_scr, field))

/* net/ip.h (not in uapi) */
#define IP_MF	  0x2000
#define IP_OFFSET 0x1fff

/* jhash.h */
#define JHASH_INITVAL 0xdeadbeefU

static const struct ipt2bpf_mod mod_hmark;

struct hmark_priv {
	int map;
};

static int hmark_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		       const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_hmark_info *i = data;
	const uint32_t ports = XT_HMARK_FLAG(XT_HMARK_SPORT) | XT_HMARK_FLAG(XT_HMARK_DPORT);
	const uint32_t pmask =
		XT_HMARK_FLAG(XT_HMARK_SPORT_MASK) | XT_HMARK_FLAG(XT_HMARK_DPORT_MASK);

	(void)t, (void)e, (void)len, (void)revision;
	/* hmark_tg_check() */
	if (!i->hmodulus || (i->proto_mask && (i->flags & XT_HMARK_FLAG(XT_HMARK_METHOD_L3))) ||
	    ((i->flags & XT_HMARK_FLAG(XT_HMARK_SPI_MASK)) && (i->flags & pmask)) ||
	    ((i->flags & XT_HMARK_FLAG(XT_HMARK_SPI)) && (i->flags & ports))) {
		snprintf(why, whylen, "invalid parameters (the kernel refuses them: EINVAL)");
		return -EOPNOTSUPP;
	}
	return 0;
}

static void hmark_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_hmark_info *i = data;

	(void)len, (void)revision;
	fprintf(f, "--hmark-src-mask 0x%08x --hmark-dst-mask 0x%08x", ntohl(i->src_mask.ip),
		ntohl(i->dst_mask.ip));
	if (!(i->flags & XT_HMARK_FLAG(XT_HMARK_METHOD_L3)))
		fprintf(f,
			" --hmark-port-mask 0x%08x --hmark-port-set 0x%08x --hmark-proto-mask "
			"0x%04x",
			ntohl(i->port_mask.b32), ntohl(i->port_set.b32), i->proto_mask);
	else
		fprintf(f, " --hmark-method l3");
	fprintf(f, " --hmark-rnd 0x%08x --hmark-mod %u --hmark-offset %u", i->hashrnd, i->hmodulus,
		i->hoffset);
}

static int hmark_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			 uint8_t revision)
{
	const unsigned int rx = (1U << NF_INET_LOCAL_IN) | (1U << NF_INET_FORWARD);
	const struct xt_hmark_info *i = data;
	struct hmark_priv *p;
	void **priv;
	int map, err;

	(void)revision;
	if (g->opts->mode == IPT2BPF_MODE_XDP && (g->tables[ti]->entries[idx].hooks & rx))
		return gen_refuse(g, ti, idx,
				  "target 'HMARK': XDP programs have no skb->mark (use --mode tc)");
	if (i->flags & XT_HMARK_FLAG(XT_HMARK_CT))
		return 0; /* the tracker's tuple: no prologue of ours */
	map = gen_map_get(g, IPT2BPF_MAP_HMARK, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
			  sizeof(struct hmark_scr), 1, 0, false);
	if (map < 0)
		return map;
	err = gen_mod_use(g, &mod_hmark, &priv);
	if (err)
		return err;
	if (!*priv) {
		*priv = p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->map = map;
	}
	return 0;
}

static const struct hmark_priv *priv_get(struct gen *g)
{
	return gen_mod_priv(g, &mod_hmark);
}

/* R0 = the per-CPU scratch value, or jump to l_none.  Clobbers R1-R5. */
static void emit_scratch(struct gen *g, const struct hmark_priv *p, int l_none)
{
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)p->map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
}

/* load_bytes(ctx, ETH_HLEN + R2, R8 + field, n); jump to l_fail unless it worked. */
static void emit_load(struct gen *g, int16_t field, int n, int l_fail)
{
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_8));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, field));
	E(BPF_MOV64_IMM(BPF_REG_4, n));
	E(BPF_CALL_HELPER(g->fl->load_bytes));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_fail);
}

/*
 * Once per packet, before the tables (R9 = ctx, R6 = gen_pkt, R7 = hook; R8
 * free): the tuple hmark_pkt_set_htuple_ipv4() would take.
 */
static int hmark_prologue(struct gen *g, int role)
{
	static const int err_types[] = {ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH, ICMP_REDIRECT,
					ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB};
	static const int port0[] = {IPPROTO_TCP, IPPROTO_UDP,  IPPROTO_DCCP,
				    IPPROTO_ESP, IPPROTO_SCTP, IPPROTO_UDPLITE};
	const struct hmark_priv *p = priv_get(g);
	int l_done = LABEL(), l_outer = LABEL(), l_quote = LABEL(), l_have = LABEL();
	int l_p0 = LABEL(), l_pofs = LABEL(), l_fragchk = LABEL(), l_inner = LABEL();

	(void)role;
	if (!p)
		return 0;
	emit_scratch(g, p, l_done);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, SCR(flags), 0));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, SCR(nh), 0));
	/* get_inner_hdr(): an ICMP error's 8-byte header at the transport offset. */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, IPPROTO_ICMP, 0), l_outer);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(thoff)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, PKT(tot_len)));
	E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_2));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_4, 8));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_4, BPF_REG_3, 0), l_outer);
	emit_load(g, SCR(ports), 1, l_outer);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_8, SCR(ports)));
	for (size_t k = 0; k < sizeof(err_types) / sizeof(err_types[0]); k++)
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, err_types[k], 0), l_quote);
	EJ(BPF_JMP_A(0), l_outer);
	BIND(l_quote);
	/* The quoted header must be there whole, else the mark stays (return -1). */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, sizeof(struct icmphdr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_2, SCR(nh)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, PKT(tot_len)));
	E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_2));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_4, sizeof(struct iphdr)));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_4, BPF_REG_3, 0), l_done);
	emit_load(g, SCR(ip), sizeof(struct iphdr), l_done);
	EJ(BPF_JMP_A(0), l_have);
	BIND(l_outer);
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, SCR(nh), 0));
	E(BPF_MOV64_IMM(BPF_REG_2, 0));
	emit_load(g, SCR(ip), sizeof(struct iphdr), l_done);
	BIND(l_have);
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, SCR(flags), HM_VALID));
	/* Ports: not for ICMP, not for protocols without, not in fragments. */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_8, SCR(ip) + offsetof(struct iphdr, protocol)));
	for (size_t k = 0; k < sizeof(port0) / sizeof(port0[0]); k++)
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, port0[k], 0), l_p0);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, IPPROTO_AH, 0), l_done);
	E(BPF_MOV64_IMM(BPF_REG_5, 4));
	EJ(BPF_JMP_A(0), l_pofs);
	BIND(l_p0);
	E(BPF_MOV64_IMM(BPF_REG_5, 0));
	BIND(l_pofs);
	/* ip_is_fragment(); INPUT/OUTPUT: a first fragment is the datagram (gen.c). */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_8, SCR(ip) + offsetof(struct iphdr, frag_off)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_8, SCR(nh)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, 0, 0), l_inner);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_7, NF_INET_FORWARD, 0), l_inner);
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, IP_OFFSET));
	EJ(BPF_JMP_A(0), l_fragchk);
	BIND(l_inner);
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, IP_MF | IP_OFFSET));
	BIND(l_fragchk);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_done);
	/* hmark_set_tuple_ports(): four bytes at nh + ihl * 4 + offset, if the datagram has them.
	 */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_8, SCR(ip)));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_2, 0x0f));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_2, 2));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_8, SCR(nh)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_1));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_5));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, PKT(tot_len)));
	E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_2));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_4, 4));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_4, BPF_REG_3, 0), l_done);
	emit_load(g, SCR(ports), 4, l_done);
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, SCR(flags), HM_VALID | HM_PORTS));
	BIND(l_done);
	return g->p->e.err;
}

/* x = rol32(x, k) through tmp (32-bit). */
static void emit_rol(struct gen *g, int x, int tmp, int k)
{
	E(BPF_MOV32_REG(tmp, x));
	E(BPF_ALU32_IMM(BPF_LSH, x, k));
	E(BPF_ALU32_IMM(BPF_RSH, tmp, 32 - k));
	E(BPF_ALU32_REG(BPF_OR, x, tmp));
}

/* One step of __jhash_final(): x ^= y; x -= rol32(y, k).  Clobbers R0, R1. */
static void emit_final_step(struct gen *g, int x, int y, int k)
{
	E(BPF_ALU32_REG(BPF_XOR, x, y));
	E(BPF_MOV32_REG(BPF_REG_0, y));
	emit_rol(g, BPF_REG_0, BPF_REG_1, k);
	E(BPF_ALU32_REG(BPF_SUB, x, BPF_REG_0));
}

/* Host-order 16-bit value of a network-order field of the union. */
static uint32_t be16_of(const void *p)
{
	uint16_t v;

	__builtin_memcpy(&v, p, sizeof(v));
	return ntohs(v);
}

/* Is the connection tracker part of this rule set (some rule that needs connections)? */
static bool ct_in_use(const struct gen *g)
{
	for (unsigned int k = 0; k < g->n_used; k++)
		if (g->used[k] == &gen_ct_mod)
			return true;
	return false;
}

#define A     BPF_REG_2 /* lower address, host order */
#define B     BPF_REG_3 /* higher address */
#define C     BPF_REG_4 /* ports word */
#define PROTO BPF_REG_5

/*
 * hmark_pkt_set_htuple_ipv4(): A, B, PROTO from the prologue's tuple; R0, R1
 * = source and destination port (host order) and a jump to l_ports, or a
 * jump to l_noports; to l_done when the kernel leaves the mark.
 */
static void emit_tuple_pkt(struct gen *g, const struct hmark_priv *p, const struct xt_hmark_info *i,
			   int l_ports, int l_noports, int l_done)
{
	emit_scratch(g, p, l_done);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_9, BPF_REG_8, SCR(flags)));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, HM_VALID));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_done);
	E(BPF_LDX_MEM(BPF_W, A, BPF_REG_8, SCR(ip) + offsetof(struct iphdr, saddr)));
	E(BPF_LDX_MEM(BPF_W, B, BPF_REG_8, SCR(ip) + offsetof(struct iphdr, daddr)));
	E(BPF_MOV64_IMM(C, 0));
	E(BPF_MOV64_IMM(PROTO, 0));
	if (i->flags & XT_HMARK_FLAG(XT_HMARK_METHOD_L3)) {
		EJ(BPF_JMP_A(0), l_noports);
		return;
	}
	E(BPF_LDX_MEM(BPF_B, PROTO, BPF_REG_8, SCR(ip) + offsetof(struct iphdr, protocol)));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_9, HM_PORTS));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_9, 0, 0), l_noports);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_0, BPF_REG_8, SCR(ports)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_0, 16));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_8, SCR(ports) + 2));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	EJ(BPF_JMP_A(0), l_ports);
}

/*
 * hmark_ct_set_htuple(): the same from the packet's connection (the
 * tracker's scratch: original tuple; the reply tuple is its inverse).  No
 * connection (INVALID): the kernel leaves the mark.
 */
static int emit_tuple_ct(struct gen *g, const struct xt_hmark_info *i, int l_ports, int l_noports,
			 int l_done)
{
#define ENT(f) ((int16_t)(offsetof(struct gen_ct_scratch, ent) + offsetof(struct gen_ct_entry, f)))
	int err;

	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ct_flags)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, GEN_CT_PF_TRACKED));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_done);
	err = gen_ct_emit_scratch(g, BPF_REG_8, l_done);
	if (err)
		return err;
	E(BPF_LDX_MEM(BPF_W, A, BPF_REG_8, ENT(src)));
	E(BPF_LDX_MEM(BPF_W, B, BPF_REG_8, ENT(dst)));
	E(BPF_MOV64_IMM(C, 0));
	E(BPF_MOV64_IMM(PROTO, 0));
	if (i->flags & XT_HMARK_FLAG(XT_HMARK_METHOD_L3)) {
		EJ(BPF_JMP_A(0), l_noports);
		return g->p->e.err;
	}
	E(BPF_LDX_MEM(BPF_B, PROTO, BPF_REG_8, ENT(proto)));
	EJ(BPF_JMP_IMM(BPF_JEQ, PROTO, IPPROTO_ICMP, 0), l_noports);
	/* tuple src.u.all of the original and of the reply direction */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_0, BPF_REG_8, ENT(sport)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_0, 16));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_8, ENT(rsport)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	EJ(BPF_JMP_A(0), l_ports);
	return g->p->e.err;
#undef ENT
}

/*
 * In a chain function (R6 = gen_pkt; R7-R9 are free there): the rule's
 * hmark_hash() of the packet's (or its connection's) tuple into gen_pkt.mark.
 */
static int hmark_emit(struct gen *g, unsigned int ti, unsigned int idx,
		      const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	const struct hmark_priv *p = priv_get(g);
	const struct xt_hmark_info *i = t->data;
	int l_done = LABEL(), l_ports = LABEL(), l_noports = LABEL(), l_sorted = LABEL();
	int l_pmax = LABEL(), err;

	(void)c;
	if (i->flags & XT_HMARK_FLAG(XT_HMARK_CT)) {
		/*
		 * The kernel attaches connections only in namespaces where some rule
		 * needs them (nf_ct_netns_get()); HMARK does not ask, so without such
		 * a rule it marks nothing, and with connection tracking enabled from
		 * elsewhere (nat rules, nftables) it marks: which one holds is not in
		 * this rule set.
		 */
		if (!ct_in_use(g))
			return gen_refuse(
				g, ti, idx,
				"target 'HMARK': --hmark-tuple ct: the kernel hashes the "
				"connection only where connection tracking runs, which no "
				"rule of this rule set enables (add the stateful rules "
				"that enable it, or hash the packet tuple): not supported");
		err = emit_tuple_ct(g, i, l_ports, l_noports, l_done);
		if (err)
			return err;
	} else {
		if (!p)
			return gen_refuse(g, ti, idx,
					  "target 'HMARK': internal error: not prepared");
		emit_tuple_pkt(g, p, i, l_ports, l_noports, l_done);
	}
	/* hmark_swap_ports(): R0 = source, R1 = destination port; masked and set, larger high */
	BIND(l_ports);
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_0, (int32_t)be16_of(&i->port_mask.b16.src)));
	E(BPF_ALU32_IMM(BPF_OR, BPF_REG_0, (int32_t)be16_of(&i->port_set.b16.src)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)be16_of(&i->port_mask.b16.dst)));
	E(BPF_ALU32_IMM(BPF_OR, BPF_REG_1, (int32_t)be16_of(&i->port_set.b16.dst)));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_1, BPF_REG_0, 0), l_pmax);
	E(BPF_MOV64_REG(BPF_REG_9, BPF_REG_0));
	E(BPF_MOV64_REG(BPF_REG_0, BPF_REG_1));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	BIND(l_pmax);
	E(BPF_MOV64_REG(C, BPF_REG_1));
	E(BPF_ALU32_IMM(BPF_LSH, C, 16));
	E(BPF_ALU32_REG(BPF_OR, C, BPF_REG_0));
	BIND(l_noports);
	/* src, dst: masked, in host order, smaller first */
	E(BPF_ENDIAN(BPF_TO_BE, A, 32));
	E(BPF_ALU32_IMM(BPF_AND, A, (int32_t)ntohl(i->src_mask.ip)));
	E(BPF_ENDIAN(BPF_TO_BE, B, 32));
	E(BPF_ALU32_IMM(BPF_AND, B, (int32_t)ntohl(i->dst_mask.ip)));
	EJ(BPF_JMP_REG(BPF_JGE, B, A, 0), l_sorted);
	E(BPF_MOV64_REG(BPF_REG_0, A));
	E(BPF_MOV64_REG(A, B));
	E(BPF_MOV64_REG(B, BPF_REG_0));
	BIND(l_sorted);
	/* jhash_3words(a, b, c, rnd): each += rnd + JHASH_INITVAL + 12, then __jhash_final() */
	E(BPF_ALU32_IMM(BPF_ADD, A, (int32_t)(i->hashrnd + JHASH_INITVAL + (3 << 2))));
	E(BPF_ALU32_IMM(BPF_ADD, B, (int32_t)(i->hashrnd + JHASH_INITVAL + (3 << 2))));
	E(BPF_ALU32_IMM(BPF_ADD, C, (int32_t)(i->hashrnd + JHASH_INITVAL + (3 << 2))));
	emit_final_step(g, C, B, 14);
	emit_final_step(g, A, C, 11);
	emit_final_step(g, B, A, 25);
	emit_final_step(g, C, B, 16);
	emit_final_step(g, A, C, 4);
	emit_final_step(g, B, A, 14);
	emit_final_step(g, C, B, 24);
	/* ^ (proto & proto mask); reciprocal_scale(hash, mod) + offset */
	E(BPF_ALU32_IMM(BPF_AND, PROTO, (int32_t)i->proto_mask));
	E(BPF_ALU32_REG(BPF_XOR, C, PROTO));
	E(BPF_MOV32_IMM(BPF_REG_1, (int32_t)i->hmodulus));
	E(BPF_ALU64_REG(BPF_MUL, C, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_RSH, C, 32));
	E(BPF_ALU32_IMM(BPF_ADD, C, (int32_t)i->hoffset));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, C, PKT(mark)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(mod_flags)));
	E(BPF_ALU32_IMM(BPF_OR, BPF_REG_1, GEN_PF_MARK));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(mod_flags)));
	BIND(l_done);
	return g->p->e.err;
}

#undef A
#undef B
#undef C
#undef PROTO

static const struct ipt2bpf_mod mod_hmark = {
	.name = "HMARK",
	.target = true,
	.revisions = 1U << 0,
	.check = hmark_check,
	.dump = hmark_dump,
	.prepare = hmark_prepare,
	.emit_target = hmark_emit,
	.emit_prologue = hmark_prologue,
};
IPT2BPF_MOD_REGISTER(mod_hmark);
