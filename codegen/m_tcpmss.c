// SPDX-License-Identifier: GPL-2.0
/*
 * -m tcpmss: the MSS option of a TCP header in [min, max] ^ invert, as
 * tcpmss_mt() (xt_tcpmss.c): the header is read at the transport offset
 * whatever the fragment offset; fewer than 20 bytes, a data offset below 5
 * or options cut short hotdrop; the options are walked as the kernel walks
 * them and the first MSS option of length 4 that fits decides; no such
 * option gives `invert`.  Evaluated in the main program (gen_pre.h), the
 * option walk with bpf_loop().
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_tcpmss.h>

#include "hdropt.h"

#define TCP_HDR	   20
#define OPT_MSS	   2
#define OPTLEN_MSS 4

#define ST_RESULT GEN_HO_USER /* u32 in the walk's state: 0x10000 | mss once found, else 0 */

static void tcpmss_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_tcpmss_match_info *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--mss %u", i->invert ? "! " : "", i->mss_min);
	if (i->mss_max != i->mss_min)
		fprintf(f, ":%u", i->mss_max);
}

/* The kind (R1, and at fp - 16): the first MSS option of length 4 that fits ends the walk. */
static void tcpmss_visit(struct gen *g, const void *arg, int l_stop)
{
	int l_step = LABEL();

	(void)arg;
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, OPT_MSS, 0), l_step);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_8));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_2, BPF_REG_7));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_2, OPTLEN_MSS, 0), l_step);
	/* op[i + 1..3]: length, MSS */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, GEN_HO_BASE));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, 1));
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_2, 0, -8, 3, l_stop);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, -8));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, OPTLEN_MSS, 0), l_step);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, -7));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_1, 8));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_10, -6));
	E(BPF_ALU64_REG(BPF_OR, BPF_REG_1, BPF_REG_2));
	E(BPF_ALU64_IMM(BPF_OR, BPF_REG_1, 0x10000));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, ST_RESULT));
	EJ(BPF_JMP_A(0), l_stop);
	/* not it: on to the next option with the kind back in R1 */
	BIND(l_step);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, -16));
}

/* One step of the walk; R1 = index, R2 = loop state. */
static int tcpmss_cb(struct gen *g, const void *arg)
{
	return gen_hdropt_find(g, -16, tcpmss_visit, arg);
}

static int tcpmss_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	const struct xt_tcpmss_match_info *i = data;
	int l_none = LABEL(), l_match = LABEL(), err;

	(void)revision;
	/* th = skb_header_pointer(thoff, 20); doff * 4 >= 20; the options all there */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, TCP_HDR, 0), l_drop);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 12));
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_1, 0, FP_TMP, 1, l_drop);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_10, FP_TMP));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_2, 4));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_2, 2));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_2, TCP_HDR, 0), l_drop);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, TCP_HDR, 0), l_none);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_1, BPF_REG_2, 0), l_drop);
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_2, TCP_HDR));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_SCR + GEN_HO_I, 0));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_2, FP_SCR + GEN_HO_OPTLEN));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, TCP_HDR));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_SCR + GEN_HO_BASE));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_SCR + ST_RESULT, 0));
	/* Every step moves on by at least one byte: optlen steps are enough. */
	err = gen_pre_loop(g, "ipt_cb_tcpmss", BPF_REG_2, tcpmss_cb, NULL);
	if (err)
		return err;
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_SCR + ST_RESULT));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_none);
	/* (mss_min <= mss <= mss_max) ^ invert, as a bool: invert > 1 is always true. */
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, 0xffff));
	if (i->mss_min > i->mss_max) {
		EJ(BPF_JMP_A(0), i->invert ? l_match : l_no);
	} else {
		EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, i->mss_min, 0), i->invert ? l_match : l_no);
		EJ(BPF_JMP_IMM(BPF_JGT, BPF_REG_1, i->mss_max, 0), i->invert ? l_match : l_no);
		EJ(BPF_JMP_A(0), i->invert == 1 ? l_no : l_match);
	}
	/* No MSS option: the result is invert. */
	BIND(l_none);
	if (!i->invert)
		EJ(BPF_JMP_A(0), l_no);
	BIND(l_match);
	return g->p->e.err;
}

static int tcpmss_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			  uint8_t revision)
{
	return gen_pre_add(g, ti, idx, data, revision, tcpmss_eval, GEN_PRE_HOTDROP);
}

static int tcpmss_emit(struct gen *g, unsigned int ti, unsigned int idx,
		       const struct ipt2bpf_match *m, int l_fail)
{
	return gen_pre_test(g, ti, idx, m->data, l_fail);
}

static const struct ipt2bpf_mod mod_tcpmss = {
	.name = "tcpmss",
	.revisions = 1U << 0,
	.dump = tcpmss_dump,
	.prepare = tcpmss_prepare,
	.emit_match = tcpmss_emit,
};
IPT2BPF_MOD_REGISTER(mod_tcpmss);
