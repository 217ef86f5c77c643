// SPDX-License-Identifier: GPL-2.0
/*
 * One IR entry as eBPF, mirroring one turn of ipt_do_table()'s loop: the
 * ipt_ip match (ip_packet_match()), each match in order, the counter, then
 * the target.  Registers: R6 points at the parsed packet (struct gen_pkt) for
 * the whole function; R0-R5 are scratch; FP_KEY and FP_IFKEY are the
 * function's own stack slots.  A match that fails jumps to the entry's
 * "next" label; a hotdrop returns DROP at once, before the counter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/icmp.h>
#include <linux/tcp.h>

#include "gen_internal.h"
#include "opt.h"

/* Largest chain body inlined at a single call site, in instructions. */
#define GEN_INLINE_MAX_INSNS 8192
#define GEN_INLINE_MAX_DEPTH 64


void gen_verdict_exit(struct gen *g, int verdict)
{
	E(BPF_MOV64_IMM(BPF_REG_0, verdict));
	E(BPF_EXIT_INSN());
}

/* ipt_do_table(): a hotdrop ends the walk with NF_DROP; the entry is not counted. */
static void emit_hotdrop(struct gen *g)
{
	gen_verdict_exit(g, GEN_V_DROP);
}

/*
 * Fail (jump to l_fail) unless (lo <= field <= hi) ^ inv, for an unsigned
 * field of size bytes (all compares are 32-bit, imm taken as u32).
 */
void gen_range(struct gen *g, int size, int16_t off, uint32_t max, uint32_t lo, uint32_t hi,
	       bool inv, int l_fail)
{
	int l_out;

	if (lo == 0 && hi >= max) {
		if (inv)
			EJ(BPF_JMP_A(0), l_fail);
		return;
	}
	if (lo > hi) {
		if (!inv)
			EJ(BPF_JMP_A(0), l_fail);
		return;
	}
	E(BPF_LDX_MEM(size, BPF_REG_1, BPF_REG_6, off));
	if (!inv) {
		if (lo == hi) {
			EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, (int32_t)lo, 0), l_fail);
			return;
		}
		if (lo > 0)
			EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, (int32_t)lo, 0), l_fail);
		if (hi < max)
			EJ(BPF_JMP32_IMM(BPF_JGT, BPF_REG_1, (int32_t)hi, 0), l_fail);
		return;
	}
	if (lo == hi) {
		EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, (int32_t)lo, 0), l_fail);
		return;
	}
	l_out = LABEL();
	if (lo > 0)
		EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, (int32_t)lo, 0), l_out);
	if (hi < max)
		EJ(BPF_JMP32_IMM(BPF_JGT, BPF_REG_1, (int32_t)hi, 0), l_out);
	EJ(BPF_JMP_A(0), l_fail);
	BIND(l_out);
}

/* R1 = nonzero iff bit `bit` of the u64 at R6 + off is set. */
static void emit_bit_test(struct gen *g, int base_reg, int16_t off, unsigned int bit)
{
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, base_reg, off));
	if (bit >= 32) {
		E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_1, 32));
		bit -= 32;
	}
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)(1U << bit)));
}

/* R1 = nonzero iff the device in pkt field dev_off matches interface pattern pat. */
static void emit_ifpat(struct gen *g, int16_t dev_off, int16_t preload_off, unsigned int pat)
{
	unsigned int word = pat / 64, bit = pat % 64;
	int l_none;

	if (g->if_preload) {
		emit_bit_test(g, BPF_REG_6, (int16_t)(preload_off + 8 * word), bit);
		return;
	}
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, dev_off));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_IFKEY));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_IFKEY + 4, (int32_t)word));
	gen_ld_map(&g->p->e, BPF_REG_1, g->map_ifaces);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_IFKEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	l_none = LABEL();
	E(BPF_MOV64_IMM(BPF_REG_1, 0));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
	emit_bit_test(g, BPF_REG_0, 0, bit);
	BIND(l_none);
}

static bool mask_zero(const unsigned char *m)
{
	for (unsigned int i = 0; i < IFNAMSIZ; i++)
		if (m[i])
			return false;
	return true;
}

/* Trivially true parts of ip_packet_match(): what gen_entry_always() and the emitter agree on. */
static bool addr_trivial(uint32_t addr, uint32_t msk, bool inv)
{
	return !msk && !addr && !inv;
}

static bool iface_trivial(const unsigned char *mask, bool inv)
{
	return mask_zero(mask) && !inv;
}

bool gen_entry_always(const struct ipt2bpf_entry *e)
{
	const struct ipt_ip *ip = &e->ip;

	if (!addr_trivial(ip->src.s_addr, ip->smsk.s_addr, ip->invflags & IPT_INV_SRCIP) ||
	    !addr_trivial(ip->dst.s_addr, ip->dmsk.s_addr, ip->invflags & IPT_INV_DSTIP) ||
	    !iface_trivial(ip->iniface_mask, ip->invflags & IPT_INV_VIA_IN) ||
	    !iface_trivial(ip->outiface_mask, ip->invflags & IPT_INV_VIA_OUT) || ip->proto ||
	    (ip->flags & IPT_F_FRAG) || (ip->invflags & IPT_INV_FRAG))
		return false;
	for (unsigned int i = 0; i < e->n_matches; i++)
		if (e->matches[i].kind != IPT2BPF_M_COMMENT)
			return false;
	return true;
}

static void emit_addr(struct gen *g, int16_t off, uint32_t addr, uint32_t msk, bool inv, int l_fail)
{
	if (addr_trivial(addr, msk, inv))
		return;
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, off));
	if (msk != UINT32_MAX)
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)msk));
	/* NF_INVF(IPT_INV_SRCIP, (addr & msk) != src): fail when the result is false. */
	EJ(BPF_JMP32_IMM(inv ? BPF_JEQ : BPF_JNE, BPF_REG_1, (int32_t)addr, 0), l_fail);
}

static void emit_iface(struct gen *g, const unsigned char *mask, bool inv, int pat, int16_t dev_off,
		       int16_t preload_off, int l_fail)
{
	if (mask_zero(mask)) {
		/* ifname_compare_aligned() is 0 for an all-zero mask: always equal. */
		if (inv)
			EJ(BPF_JMP_A(0), l_fail);
		return;
	}
	emit_ifpat(g, dev_off, preload_off, (unsigned int)pat);
	EJ(BPF_JMP_IMM(inv ? BPF_JNE : BPF_JEQ, BPF_REG_1, 0, 0), l_fail);
}

/* e is entry idx, or a template of it (opt.c: key fields left out); interfaces are idx's. */
static void emit_ip_e(struct gen *g, unsigned int ti, unsigned int idx,
		      const struct ipt2bpf_entry *e, int l_fail)
{
	const struct ipt_ip *ip = &e->ip;

	emit_addr(g, PKT(saddr), ip->src.s_addr, ip->smsk.s_addr, ip->invflags & IPT_INV_SRCIP,
		  l_fail);
	emit_addr(g, PKT(daddr), ip->dst.s_addr, ip->dmsk.s_addr, ip->invflags & IPT_INV_DSTIP,
		  l_fail);
	emit_iface(g, ip->iniface_mask, ip->invflags & IPT_INV_VIA_IN, g->ti[ti].in_pat[idx],
		   PKT(iif), PKT(ifin), l_fail);
	emit_iface(g, ip->outiface_mask, ip->invflags & IPT_INV_VIA_OUT, g->ti[ti].out_pat[idx],
		   PKT(oif), PKT(ifout), l_fail);
	if (ip->proto) {
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
		EJ(BPF_JMP32_IMM(ip->invflags & IPT_INV_PROTO ? BPF_JEQ : BPF_JNE, BPF_REG_1,
				 ip->proto, 0),
		   l_fail);
	}
	/* NF_INVF(IPT_INV_FRAG, (flags & IPT_F_FRAG) && !isfrag), isfrag = fragoff != 0. */
	if (ip->flags & IPT_F_FRAG) {
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
		EJ(BPF_JMP_IMM(ip->invflags & IPT_INV_FRAG ? BPF_JNE : BPF_JEQ, BPF_REG_1, 0, 0),
		   l_fail);
	} else if (ip->invflags & IPT_INV_FRAG) {
		EJ(BPF_JMP_A(0), l_fail);
	}
}

static void emit_ip(struct gen *g, unsigned int ti, unsigned int idx, int l_fail)
{
	emit_ip_e(g, ti, idx, &g->tables[ti]->entries[idx], l_fail);
}

/*
 * The start of every port/ICMP match: acpar.fragoff != 0 never matches (tcp:
 * offset 1 hotdrops, the "evil" flag-overwrite fragment), and a transport
 * header shorter than need bytes (skb_header_pointer() failing) hotdrops.
 * The parser's l4ok bit says "first fragment and need bytes present", so the
 * common case costs one load and one jump.
 */
static void emit_l4_guard(struct gen *g, unsigned int need, bool tcp, int l_fail)
{
	int l_ok = LABEL(), l_notone;
	int bit = need >= 20 ? GEN_L4_TCP : need >= 8 ? GEN_L4_8 : GEN_L4_4;

	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(l4ok)));
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_1, bit, 0), l_ok);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	if (tcp) {
		l_notone = LABEL();
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 1, 0), l_notone);
		emit_hotdrop(g);
		BIND(l_notone);
	}
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_fail);
	emit_hotdrop(g);
	BIND(l_ok);
}

static void emit_tcp(struct gen *g, const struct xt_tcp *m, int l_fail)
{
	int l_ok, l_done;

	emit_l4_guard(g, sizeof(struct tcphdr), true, l_fail);
	gen_range(g, BPF_H, PKT(sport), UINT16_MAX, m->spts[0], m->spts[1],
		   m->invflags & XT_TCP_INV_SRCPT, l_fail);
	gen_range(g, BPF_H, PKT(dport), UINT16_MAX, m->dpts[0], m->dpts[1],
		   m->invflags & XT_TCP_INV_DSTPT, l_fail);
	if (m->flg_mask || m->flg_cmp || (m->invflags & XT_TCP_INV_FLAGS)) {
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(tcpflags)));
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, m->flg_mask));
		EJ(BPF_JMP32_IMM(m->invflags & XT_TCP_INV_FLAGS ? BPF_JEQ : BPF_JNE, BPF_REG_1,
				 m->flg_cmp, 0),
		   l_fail);
	}
	if (!m->option)
		return;
	/* th->doff * 4 < sizeof(struct tcphdr): hotdrop. */
	l_ok = LABEL();
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(doff4)));
	EJ(BPF_JMP32_IMM(BPF_JGE, BPF_REG_1, sizeof(struct tcphdr), 0), l_ok);
	emit_hotdrop(g);
	BIND(l_ok);
	/* tcp_find_option(): no option bytes at all gives `invert` without reading. */
	l_ok = LABEL();
	l_done = LABEL();
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, sizeof(struct tcphdr), 0), l_ok);
	EJ(BPF_JMP_A(0), m->invflags & XT_TCP_INV_OPTION ? l_done : l_fail);
	BIND(l_ok);
	/* The options are read as a whole: not all present is a hotdrop. */
	l_ok = LABEL();
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP32_REG(BPF_JGE, BPF_REG_2, BPF_REG_1, 0), l_ok);
	emit_hotdrop(g);
	BIND(l_ok);
	emit_bit_test(g, BPF_REG_6, (int16_t)(PKT(optmap) + 8 * (m->option / 64)), m->option % 64);
	EJ(BPF_JMP_IMM(m->invflags & XT_TCP_INV_OPTION ? BPF_JNE : BPF_JEQ, BPF_REG_1, 0, 0),
	   l_fail);
	BIND(l_done);
}

static void emit_udp(struct gen *g, const struct xt_udp *m, int l_fail)
{
	emit_l4_guard(g, 8, false, l_fail); /* struct udphdr */
	gen_range(g, BPF_H, PKT(sport), UINT16_MAX, m->spts[0], m->spts[1],
		   m->invflags & XT_UDP_INV_SRCPT, l_fail);
	gen_range(g, BPF_H, PKT(dport), UINT16_MAX, m->dpts[0], m->dpts[1],
		   m->invflags & XT_UDP_INV_DSTPT, l_fail);
}

static void emit_icmp(struct gen *g, const struct ipt_icmp *m, int l_fail)
{
	bool inv = m->invflags & IPT_ICMP_INV;
	int l_out;

	emit_l4_guard(g, sizeof(struct icmphdr), false, l_fail);
	/* icmp_type_code_match(): type 0xFF matches any type and code. */
	if (m->type == 0xFF) {
		if (inv)
			EJ(BPF_JMP_A(0), l_fail);
		return;
	}
	if (!inv) {
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(icmp_type)));
		EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, m->type, 0), l_fail);
		gen_range(g, BPF_B, PKT(icmp_code), UINT8_MAX, m->code[0], m->code[1], false,
			   l_fail);
		return;
	}
	l_out = LABEL();
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(icmp_type)));
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, m->type, 0), l_out);
	/* Inverted: fail exactly when the type is equal and the code in range. */
	gen_range(g, BPF_B, PKT(icmp_code), UINT8_MAX, m->code[0], m->code[1], true, l_fail);
	BIND(l_out);
}

/* One port test of ports_match_v1(): jump to l_hit when reg is in [s, e]. */
static void emit_port_in(struct gen *g, int reg, uint16_t s, uint16_t e, int l_hit)
{
	int l_no;

	if (s == e) {
		EJ(BPF_JMP32_IMM(BPF_JEQ, reg, s, 0), l_hit);
		return;
	}
	if (s > e)
		return;
	l_no = LABEL();
	if (s > 0)
		EJ(BPF_JMP32_IMM(BPF_JLT, reg, s, 0), l_no);
	if (e < UINT16_MAX)
		EJ(BPF_JMP32_IMM(BPF_JLE, reg, e, 0), l_hit);
	else
		EJ(BPF_JMP_A(0), l_hit);
	BIND(l_no);
}

static void emit_multiport(struct gen *g, const struct xt_multiport_v1 *m, int l_fail)
{
	int l_match = LABEL(), l_hit;
	unsigned int count = m->count < XT_MULTI_PORTS ? m->count : XT_MULTI_PORTS;

	emit_l4_guard(g, 4, false, l_fail); /* the two port fields */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_6, PKT(sport)));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_3, BPF_REG_6, PKT(dport)));
	/* ports_match_v1(): the first port (or range) that matches decides, as true ^ invert. */
	l_hit = m->invert ? l_fail : l_match;
	for (unsigned int i = 0; i < count; i++) {
		uint16_t s = m->ports[i], e = s;

		if (m->pflags[i]) {
			if (i + 1 >= XT_MULTI_PORTS)
				break; /* checkentry refuses this; nothing beyond the array */
			e = m->ports[++i];
		}
		if (m->flags == XT_MULTIPORT_SOURCE || m->flags == XT_MULTIPORT_EITHER)
			emit_port_in(g, BPF_REG_2, s, e, l_hit);
		if (m->flags == XT_MULTIPORT_DESTINATION || m->flags == XT_MULTIPORT_EITHER)
			emit_port_in(g, BPF_REG_3, s, e, l_hit);
	}
	/* No port matched: the result is `invert`. */
	if (!m->invert)
		EJ(BPF_JMP_A(0), l_fail);
	BIND(l_match);
}

static void emit_iprange(struct gen *g, const struct xt_iprange_mtinfo *m, int l_fail)
{
	if (m->flags & IPRANGE_SRC)
		gen_range(g, BPF_W, PKT(saddr_h), UINT32_MAX, ntohl(m->src_min.ip),
			   ntohl(m->src_max.ip), m->flags & IPRANGE_SRC_INV, l_fail);
	if (m->flags & IPRANGE_DST)
		gen_range(g, BPF_W, PKT(daddr_h), UINT32_MAX, ntohl(m->dst_min.ip),
			   ntohl(m->dst_max.ip), m->flags & IPRANGE_DST_INV, l_fail);
}

static int emit_match(struct gen *g, unsigned int ti, unsigned int idx,
		      const struct ipt2bpf_match *m, int l_fail)
{
	char where[128];

	switch (m->kind) {
	case IPT2BPF_M_TCP:
		emit_tcp(g, &m->u.tcp, l_fail);
		return 0;
	case IPT2BPF_M_UDP:
		emit_udp(g, &m->u.udp, l_fail);
		return 0;
	case IPT2BPF_M_ICMP:
		emit_icmp(g, &m->u.icmp, l_fail);
		return 0;
	case IPT2BPF_M_MULTIPORT:
		emit_multiport(g, &m->u.multiport, l_fail);
		return 0;
	case IPT2BPF_M_IPRANGE:
		emit_iprange(g, &m->u.iprange, l_fail);
		return 0;
	case IPT2BPF_M_COMMENT:
		return 0;
	case IPT2BPF_M_MOD:
		if (m->mod->emit_match)
			return m->mod->emit_match(g, ti, idx, m, l_fail);
		break;
	default:
		break;
	}
	gen_describe(g, ti, idx, where, sizeof(where));
	return ipt2bpf_diag_set(g->diag, -EOPNOTSUPP,
				"%s: match '%s' revision %u is not supported by the code generator",
				where, m->name ? m->name : "?", m->revision);
}

/* ADD_COUNTER(*counter, skb->len, 1): skb->len is the IP datagram's length at these hooks. */
static void emit_count(struct gen *g, unsigned int ti, unsigned int idx)
{
	int l_skip = LABEL();

	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, (int32_t)idx));
	gen_ld_map(&g->p->e, BPF_REG_1, g->map_counter[ti]);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_skip);
	/* Per-CPU values: plain read-modify-write, like the kernel's per-CPU counters. */
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_counter, pcnt)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, offsetof(struct ipt2bpf_counter, pcnt)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(tot_len)));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_counter, bcnt)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_2));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, offsetof(struct ipt2bpf_counter, bcnt)));
	BIND(l_skip);
}

/* RETURN: to the continuation of an inlined JUMP, or out of the function with 0. */
static void emit_return(struct gen *g, const struct gen_ctx *c)
{
	if (c->ret_label >= 0) {
		EJ(BPF_JMP_A(0), c->ret_label);
		return;
	}
	gen_verdict_exit(g, GEN_V_CONTINUE);
}

/* Entries a jump destination runs before it must end, for the inlining size guess. */
static bool inline_candidate(struct gen *g, unsigned int ti, unsigned int dest,
			     const struct gen_ctx *c)
{
	const struct ipt2bpf_table *t = g->tables[ti];

	if (g->ti[ti].sites[dest] != 1 || c->depth >= GEN_INLINE_MAX_DEPTH)
		return false;
	/* Entry points main() calls stay functions. */
	for (unsigned int h = 0; h < IPT2BPF_NUM_HOOKS; h++)
		if ((t->valid_hooks & (1U << h)) &&
		    (t->hook_entry[h] == dest || t->underflow[h] == dest))
			return false;
	return true;
}

static int emit_call_target(struct gen *g, unsigned int ti, unsigned int dest, bool jump,
			    const struct gen_ctx *c)
{
	int id = gen_func_get(g, ti, dest);

	if (id < 0)
		return id;
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_6));
	gen_call(&g->p->e, (unsigned int)id);
	gen_edge_add(g, (unsigned int)id, c->pushes, jump);
	if (jump) {
		/* The callee RETURNed (0): go on with the next entry; else pass its verdict up. */
		int l_cont = LABEL();

		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_cont);
		E(BPF_EXIT_INSN());
		BIND(l_cont);
		return 0;
	}
	/* GOTO: whatever the callee returns is ours, RETURN included. */
	if (c->ret_label >= 0)
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), c->ret_label);
	E(BPF_EXIT_INSN());
	return 0;
}

/*
 * JUMP/GOTO.  A destination with a single jump site is inlined there (no call
 * frame, no subprogram), unless it turns out too large; others are called.
 */
static int emit_jump(struct gen *g, unsigned int ti, unsigned int dest, bool jump,
		     const struct gen_ctx *c)
{
	struct gen_emit *e = &g->p->e;
	struct gen_func *f = &g->p->funcs[g->p->cur];
	unsigned int saved_funcs = g->p->n_funcs, saved_edges = f->n_edges;
	unsigned int saved_local = f->local_pushes;
	struct gen_mark mark;
	struct gen_ctx sub;
	int err, l_ret = -1;

	if (e->dead)
		return 0; /* the entry can never match: create no function nobody calls */
	if (!inline_candidate(g, ti, dest, c))
		return emit_call_target(g, ti, dest, jump, c);

	gen_emit_mark(e, &mark);
	sub = (struct gen_ctx){
		.ret_label = c->ret_label, .pushes = c->pushes, .depth = c->depth + 1};
	if (jump) {
		l_ret = LABEL();
		sub.ret_label = l_ret;
		sub.pushes = c->pushes + 1;
		if (sub.pushes > f->local_pushes)
			f->local_pushes = sub.pushes;
	}
	err = gen_body(g, ti, dest, &sub);
	if (err)
		return err;
	if (e->err)
		return e->err;
	if (e->n - mark.n <= GEN_INLINE_MAX_INSNS) {
		if (jump)
			BIND(l_ret);
		return 0;
	}
	/* Too big to inline (jump offsets are 16 bits): call it instead. */
	gen_emit_rollback(e, &mark);
	for (unsigned int i = saved_funcs; i < g->p->n_funcs; i++)
		free(g->p->funcs[i].edges);
	g->p->n_funcs = saved_funcs;
	f = &g->p->funcs[g->p->cur];
	f->n_edges = saved_edges;
	f->local_pushes = saved_local;
	return emit_call_target(g, ti, dest, jump, c);
}

static int emit_target(struct gen *g, unsigned int ti, unsigned int idx, const struct gen_ctx *c)
{
	const struct ipt2bpf_entry *e = &g->tables[ti]->entries[idx];
	char where[128];

	switch (e->target.kind) {
	case IPT2BPF_T_ACCEPT:
		gen_verdict_exit(g, GEN_V_ACCEPT);
		return 0;
	case IPT2BPF_T_DROP:
	case IPT2BPF_T_ERROR: /* ipt_error() returns NF_DROP */
		gen_verdict_exit(g, GEN_V_DROP);
		return 0;
	case IPT2BPF_T_RETURN:
		emit_return(g, c);
		return 0;
	case IPT2BPF_T_CONTINUE:
		return 0;
	case IPT2BPF_T_JUMP:
	case IPT2BPF_T_GOTO:
		if (e->target.target_entry >= g->tables[ti]->n_entries)
			break;
		/* ipt_do_table() pushes nothing for a jump to the next entry: a no-op. */
		if (e->target.target_entry == idx + 1)
			return 0;
		return emit_jump(g, ti, e->target.target_entry, e->target.kind == IPT2BPF_T_JUMP,
				 c);
	case IPT2BPF_T_MOD:
		if (e->target.mod->emit_target)
			return e->target.mod->emit_target(g, ti, idx, &e->target, c);
		break;
	default:
		break;
	}
	gen_describe(g, ti, idx, where, sizeof(where));
	return ipt2bpf_diag_set(g->diag, -EOPNOTSUPP,
				"%s: target '%s' is not supported by the code generator", where,
				e->target.name && e->target.name[0] ? e->target.name : "standard");
}

/* ---- optimiser hook (codegen/opt.h): services for opt.c ---- */
int gen_rule_target(struct gen *g, unsigned int ti, unsigned int idx, const struct gen_ctx *c)
{
	return emit_target(g, ti, idx, c);
}

int gen_rule_tmpl(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_entry *tmpl,
		  int l_fail)
{
	emit_ip_e(g, ti, idx, tmpl, l_fail);
	for (unsigned int i = 0; i < tmpl->n_matches; i++) {
		int err = emit_match(g, ti, idx, &tmpl->matches[i], l_fail);

		if (err)
			return err;
	}
	return g->p->e.err;
}
/* ---- end of optimiser hook ---- */

static int gen_entry(struct gen *g, unsigned int ti, unsigned int idx, const struct gen_ctx *c)
{
	const struct ipt2bpf_entry *e = &g->tables[ti]->entries[idx];
	int l_next = LABEL(), err;

	emit_ip(g, ti, idx, l_next);
	for (unsigned int i = 0; i < e->n_matches; i++) {
		err = emit_match(g, ti, idx, &e->matches[i], l_next);
		if (err)
			return err;
	}
	emit_count(g, ti, idx);
	err = emit_target(g, ti, idx, c);
	if (err)
		return err;
	BIND(l_next);
	return g->p->e.err;
}

/* Does the sequential run stop after entry idx (it always matches and always leaves)? */
static bool entry_ends_run(const struct ipt2bpf_entry *e, unsigned int idx)
{
	if (!gen_entry_always(e))
		return false;
	switch (e->target.kind) {
	case IPT2BPF_T_ACCEPT:
	case IPT2BPF_T_DROP:
	case IPT2BPF_T_ERROR:
	case IPT2BPF_T_RETURN:
		return true;
	case IPT2BPF_T_GOTO:
		return e->target.target_entry != idx + 1;
	case IPT2BPF_T_MOD:
		return e->target.mod->terminal;
	default:
		return false;
	}
}

/* One past the last entry a run from start executes (the entry that ends it included). */
static unsigned int run_end(const struct ipt2bpf_table *t, unsigned int start)
{
	for (unsigned int i = start; i < t->n_entries; i++)
		if (entry_ends_run(&t->entries[i], i))
			return i + 1;
	return t->n_entries;
}

/* A long run as calls of chunk functions, each verified on its own. */
static int gen_chunked(struct gen *g, unsigned int ti, unsigned int start, unsigned int end,
		       const struct gen_ctx *c)
{
	for (unsigned int s = start, e; s < end; s = e) {
		int id, l_next, l_ret;
		/* optimiser hook: map-backed segments run here, the rest in chunks around them */
		int n = gen_opt_emit(g, ti, s, end, c);

		if (n < 0)
			return n;
		if (n > 0) {
			e = s + (unsigned int)n;
			if (g->p->e.dead)
				return g->p->e.err;
			continue;
		}
		e = gen_opt_chunk_end(g, ti, s, end);
		/* end of optimiser hook */
		id = gen_chunk_get(g, ti, s, e);
		l_next = LABEL();
		l_ret = LABEL();
		if (id < 0)
			return id;
		E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_6));
		gen_call(&g->p->e, (unsigned int)id);
		gen_edge_add(g, (unsigned int)id, c->pushes, false);
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, GEN_V_NEXT, 0), l_next);
		/* A global function returns any int as far as the verifier knows. */
		EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_0, GEN_V_MAX, 0), l_ret);
		E(BPF_MOV64_IMM(BPF_REG_0, GEN_V_DROP));
		BIND(l_ret);
		E(BPF_EXIT_INSN());
		BIND(l_next);
	}
	/* Past the last entry (a validated table ends with an unconditional ERROR). */
	gen_verdict_exit(g, GEN_V_DROP);
	return g->p->e.err;
}

int gen_chunk_body(struct gen *g, unsigned int ti, unsigned int start, unsigned int end)
{
	struct gen_ctx c = {.ret_label = -1};

	for (unsigned int i = start; i < end; i++) {
		/* optimiser hook: a map-backed segment starting at i */
		int n = gen_opt_emit(g, ti, i, end, &c);
		int err = n ? (n < 0 ? n : 0) : gen_entry(g, ti, i, &c);

		if (err)
			return err;
		if (n > 0)
			i += (unsigned int)n - 1;
		if (g->p->e.dead)
			return 0;
	}
	gen_verdict_exit(g, GEN_V_NEXT);
	return g->p->e.err;
}

int gen_body(struct gen *g, unsigned int ti, unsigned int start, const struct gen_ctx *c)
{
	const struct ipt2bpf_table *t = g->tables[ti];

	if (c->ret_label < 0 && !c->depth) {
		unsigned int end = run_end(t, start);

		/* optimiser hook: entries its segments take do not count */
		if (gen_opt_line_count(g, ti, start, end) > GEN_CHUNK)
			return gen_chunked(g, ti, start, end, c);
	}
	for (unsigned int i = start; i < t->n_entries; i++) {
		/* optimiser hook: a map-backed segment starting at i */
		int n = gen_opt_emit(g, ti, i, t->n_entries, c);
		int err = n ? (n < 0 ? n : 0) : gen_entry(g, ti, i, c);

		if (err)
			return err;
		if (n > 0)
			i += (unsigned int)n - 1;
		if (g->p->e.dead)
			return 0;
	}
	/* Past the last entry (a validated table ends with an unconditional ERROR). */
	gen_verdict_exit(g, GEN_V_DROP);
	return g->p->e.err;
}
