// SPDX-License-Identifier: GPL-2.0
/*
 * -m pkttype: (type == --pkt-type) ^ invert, as pkttype_mt() (xt_pkttype.c),
 * where type is skb->pkt_type, except that a looped-back packet
 * (PACKET_LOOPBACK) counts as multicast for a multicast destination and as
 * broadcast otherwise.  invert is an int used as (x == y) ^ invert: any value
 * but 0 and 1 makes the match always true.
 *
 * TC programs read skb->pkt_type, which eth_type_trans() set on receive and
 * which is PACKET_HOST for what the host sends, as at the netfilter hooks.
 * XDP programs have no pkt_type: it is taken from the destination MAC
 * address as eth_type_trans() does (group bit: broadcast if all ones, else
 * multicast; otherwise host: frames for other hosts never reach INPUT or
 * FORWARD).  Evaluated in the main program (gen_pre.h).
 */
#include <errno.h>
#include <stddef.h>
#include <linux/if_packet.h>
#include <linux/netfilter/xt_pkttype.h>

#include "gen_pre.h"

static void pkttype_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_pkttype_info *i = data;
	const char *name = i->pkttype == PACKET_HOST	    ? "unicast"
			   : i->pkttype == PACKET_BROADCAST ? "broadcast"
			   : i->pkttype == PACKET_MULTICAST ? "multicast"
							    : NULL;

	(void)len, (void)revision;
	fprintf(f, "%s--pkt-type ", i->invert ? "! " : "");
	if (name)
		fputs(name, f);
	else
		fprintf(f, "%d", i->pkttype);
	if (i->invert & ~1)
		fprintf(f, " (invert %d: always matches)", i->invert);
}

/* R1 = the packet's type as pkttype_mt() computes it. */
static void pkttype_of(struct gen *g)
{
	int l_done = LABEL(), l_bcast = LABEL();

	if (g->fl->type == BPF_PROG_TYPE_XDP) {
		int l_load = LABEL();

		E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_TMP, 0));
		/* The destination MAC: frame offset 0 (a frame always has 14 bytes here). */
		gen_pre_bytes(g, BPF_REG_9, -1, -14, FP_TMP, 6, l_load);
		BIND(l_load);
		E(BPF_MOV64_IMM(BPF_REG_1, PACKET_HOST));
		E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_10, FP_TMP));
		EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_2, 1, 0), l_bcast);
		EJ(BPF_JMP_A(0), l_done);
		BIND(l_bcast);
		E(BPF_MOV64_IMM(BPF_REG_1, PACKET_MULTICAST));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_10, FP_TMP));
		EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_2, -1, 0), l_done);
		E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_10, FP_TMP + 4));
		EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_2, 0xffff, 0), l_done);
		E(BPF_MOV64_IMM(BPF_REG_1, PACKET_BROADCAST));
		BIND(l_done);
		return;
	}
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, pkt_type)));
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, PACKET_LOOPBACK, 0), l_done);
	E(BPF_MOV64_IMM(BPF_REG_1, PACKET_BROADCAST));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(daddr_h)));
	E(BPF_ALU32_IMM(BPF_RSH, BPF_REG_2, 28));
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_2, 0xe, 0), l_done); /* ipv4_is_multicast() */
	E(BPF_MOV64_IMM(BPF_REG_1, PACKET_MULTICAST));
	BIND(l_done);
}

static int pkttype_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	const struct xt_pkttype_info *i = data;

	(void)revision, (void)l_drop;
	if (i->invert & ~1)
		return 0; /* (x == y) ^ invert is never 0 */
	pkttype_of(g);
	EJ(BPF_JMP32_IMM(i->invert ? BPF_JEQ : BPF_JNE, BPF_REG_1, i->pkttype, 0), l_no);
	return g->p->e.err;
}

static int pkttype_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			   uint8_t revision)
{
	return gen_pre_add(g, ti, idx, data, revision, pkttype_eval, 0);
}

static int pkttype_emit(struct gen *g, unsigned int ti, unsigned int idx,
			const struct ipt2bpf_match *m, int l_fail)
{
	return gen_pre_test(g, ti, idx, m->data, l_fail);
}

static const struct ipt2bpf_mod mod_pkttype = {
	.name = "pkttype",
	.revisions = 1U << 0,
	.dump = pkttype_dump,
	.prepare = pkttype_prepare,
	.emit_match = pkttype_emit,
};
IPT2BPF_MOD_REGISTER(mod_pkttype);
