// SPDX-License-Identifier: GPL-2.0
/*
 * -m dccp, as dccp_mt() (xt_dccp.c): a fragment with offset != 0 never
 * matches, a first fragment without the 12-byte generic header is
 * hotdropped; then --sport, --dport, --dccp-types and --dccp-option, each
 * with its own '!', in that order and short-circuited.  --dccp-types tests
 * 1 << the packet type; --dccp-option walks the options after the
 * type-dependent header (__dccp_hdr_len()) as dccp_find_option() does: a data
 * offset below that header, or options not all in the packet, hotdrop.
 *
 * An inverted --dccp-option whose walk hotdrops matches all the same (the
 * kernel counts the entry and runs its target, then drops): supported as
 * the entry's last match with a standard target, as for sctp.  Evaluated in
 * the main program (gen_pre.h), the option walk with bpf_loop().
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_dccp.h>

#include "hdropt.h"

#define DCCP_HDR 12 /* struct dccp_hdr */

#define ST_FOUND GEN_HO_USER /* u32 in the walk's state */

static int dccp_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		      const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_dccp_info *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	/* dccp_mt_check() refuses these (EINVAL). */
	if ((i->flags & ~XT_DCCP_VALID_FLAGS) || (i->invflags & ~XT_DCCP_VALID_FLAGS) ||
	    (i->invflags & ~i->flags)) {
		snprintf(why, whylen, "malformed options (the kernel refuses them: EINVAL)");
		return -EOPNOTSUPP;
	}
	return 0;
}

static void dccp_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_dccp_info *i = data;
	const char *sep = "";

	(void)len, (void)revision;
	if (i->flags & XT_DCCP_SRC_PORTS) {
		fprintf(f, "%s--sport %u:%u", (i->invflags & XT_DCCP_SRC_PORTS) ? "! " : "",
			i->spts[0], i->spts[1]);
		sep = " ";
	}
	if (i->flags & XT_DCCP_DEST_PORTS) {
		fprintf(f, "%s%s--dport %u:%u", sep, (i->invflags & XT_DCCP_DEST_PORTS) ? "! " : "",
			i->dpts[0], i->dpts[1]);
		sep = " ";
	}
	if (i->flags & XT_DCCP_TYPE) {
		fprintf(f, "%s%s--dccp-types 0x%04x", sep, (i->invflags & XT_DCCP_TYPE) ? "! " : "",
			i->typemask);
		sep = " ";
	}
	if (i->flags & XT_DCCP_OPTION)
		fprintf(f, "%s%s--dccp-option %u", sep, (i->invflags & XT_DCCP_OPTION) ? "! " : "",
			i->option);
}

/* dccp_find_option()'s test of a kind (R1): arg is the option looked for. */
static void dccp_visit(struct gen *g, const void *arg, int l_stop)
{
	const struct xt_dccp_info *i = arg;
	int l_no = LABEL();

	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, i->option, 0), l_no);
	E(BPF_ST_MEM(BPF_W, BPF_REG_6, ST_FOUND, 1));
	EJ(BPF_JMP_A(0), l_stop);
	BIND(l_no);
}

/* One step of dccp_find_option(); R1 = index, R2 = loop state; arg: the match. */
static int dccp_cb(struct gen *g, const void *arg)
{
	return gen_hdropt_find(g, -8, dccp_visit, arg);
}

/*
 * R2 = __dccp_hdr_len() from byte 8 of the header (R1): 12, + 4 with X set,
 * + the type's header (dccp_packet_hdr_len()).
 */
static void dccp_hdr_len(struct gen *g)
{
	/*
	 * By type (bits 1..4): REQUEST 4, RESPONSE 12, DATA 0, ACK, DATAACK,
	 * CLOSEREQ, CLOSE, SYNC, SYNCACK 8, RESET and the rest 12.
	 */
	static const uint8_t type_len[16] = {4, 12, 0,	8,  8,	8,  8,	12,
					     8, 8,  12, 12, 12, 12, 12, 12};

	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_3, 1));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_3, 0xf));
	gen_table(g, BPF_REG_3, BPF_REG_2, type_len, 16);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, DCCP_HDR));
	/* + sizeof(struct dccp_hdr_ext) with X */
	E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_4, 1));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_4, 2));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_4));
}

static int dccp_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	const struct xt_dccp_info *i = data;
	bool inv_opt = i->invflags & XT_DCCP_OPTION;
	int l_false = LABEL(), l_true = LABEL(), l_hot = LABEL(), err;

	(void)revision;
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_no);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, DCCP_HDR, 0), l_drop);
	if (i->flags & XT_DCCP_SRC_PORTS)
		gen_range(g, BPF_H, PKT(sport), UINT16_MAX, i->spts[0], i->spts[1],
			  i->invflags & XT_DCCP_SRC_PORTS, l_no);
	if (i->flags & XT_DCCP_DEST_PORTS)
		gen_range(g, BPF_H, PKT(dport), UINT16_MAX, i->dpts[0], i->dpts[1],
			  i->invflags & XT_DCCP_DEST_PORTS, l_no);
	if (!(i->flags & (XT_DCCP_TYPE | XT_DCCP_OPTION)))
		return g->p->e.err;
	/* byte 8: X (bit 0) and the type (bits 1..4) */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 8));
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_1, 0, FP_TMP, 1, l_drop);
	if (i->flags & XT_DCCP_TYPE) {
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_TMP));
		E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_1, 1));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, 0xf));
		E(BPF_MOV64_IMM(BPF_REG_2, i->typemask));
		E(BPF_ALU64_REG(BPF_RSH, BPF_REG_2, BPF_REG_1));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_2, 1));
		EJ(BPF_JMP_IMM((i->invflags & XT_DCCP_TYPE) ? BPF_JNE : BPF_JEQ, BPF_REG_2, 0, 0),
		   l_no);
	}
	if (!(i->flags & XT_DCCP_OPTION))
		return g->p->e.err;

	/* dccp_find_option(): doff * 4 against the header, then the walk. */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_TMP));
	dccp_hdr_len(g);
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_2, FP_SCR + GEN_HO_BASE)); /* hdrlen, for now */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 4));
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_1, 0, FP_TMP, 1, l_drop);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_TMP));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_1, 2)); /* doff * 4 */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_10, FP_SCR + GEN_HO_BASE));
	EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_1, BPF_REG_2, 0), l_hot);
	EJ(BPF_JMP_REG(BPF_JEQ, BPF_REG_1, BPF_REG_2, 0), l_false); /* no options */
	/* the options, all of them in the packet: thoff + doff * 4 <= skb->len */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_3, BPF_REG_1, 0), l_hot);
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_1, BPF_REG_2));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_SCR + GEN_HO_OPTLEN));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_3, BPF_REG_2));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_3, FP_SCR + GEN_HO_BASE));
	E(GEN_PRE_ZERO(BPF_REG_3));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_3, FP_SCR + GEN_HO_I));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_SCR + ST_FOUND, 0));
	/* Every step moves on by at least one byte: optlen steps are enough. */
	err = gen_pre_loop(g, "ipt_cb_dccp", BPF_REG_1, dccp_cb, data);
	if (err)
		return err;
	/* DCCHECK(found, XT_DCCP_OPTION): found ^ invert */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_SCR + ST_FOUND));
	EJ(BPF_JMP_IMM(inv_opt ? BPF_JNE : BPF_JEQ, BPF_REG_1, 0, 0), l_no);
	EJ(BPF_JMP_A(0), l_true);
	BIND(l_false); /* no options at all: not found */
	EJ(BPF_JMP_A(0), inv_opt ? l_true : l_no);
	BIND(l_hot);
	/* false with hotdrop set: inverted, the match holds all the same */
	EJ(BPF_JMP_A(0), inv_opt ? gen_pre_match_drop_label(g) : l_drop);
	BIND(l_true);
	return g->p->e.err;
}

static int dccp_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			uint8_t revision)
{
	const struct xt_dccp_info *i = data;
	const struct ipt2bpf_entry *e = &g->tables[ti]->entries[idx];
	unsigned int flags = GEN_PRE_HOTDROP;

	if ((i->flags & XT_DCCP_OPTION) && (i->invflags & XT_DCCP_OPTION)) {
		if (e->matches[e->n_matches - 1].data != data || e->target.kind == IPT2BPF_T_MOD)
			return gen_refuse(g, ti, idx,
					  "match 'dccp': ! --dccp-option is supported only as the "
					  "rule's last match with a standard target (a malformed "
					  "packet is counted, then dropped)");
		flags |= GEN_PRE_MATCH_HOTDROP;
	}
	return gen_pre_add(g, ti, idx, data, revision, dccp_eval, flags);
}

static int dccp_emit(struct gen *g, unsigned int ti, unsigned int idx,
		     const struct ipt2bpf_match *m, int l_fail)
{
	return gen_pre_test(g, ti, idx, m->data, l_fail);
}

static const struct ipt2bpf_mod mod_dccp = {
	.name = "dccp",
	.revisions = 1U << 0,
	.check = dccp_check,
	.dump = dccp_dump,
	.prepare = dccp_prepare,
	.emit_match = dccp_emit,
};
IPT2BPF_MOD_REGISTER(mod_dccp);
