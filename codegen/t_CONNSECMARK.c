// SPDX-License-Identifier: GPL-2.0
/*
 * -j CONNSECMARK --save | --restore, as xt_CONNSECMARK.c:
 *   --save     the packet has a label and its connection none: the
 *              connection gets the packet's label;
 *   --restore  the packet has no label and its connection one: the packet
 *              gets the connection's label;
 * then processing continues.  Packets without a connection (INVALID) are
 * left alone, as nf_ct_get() finding none.  The connection's label is
 * gen_pkt.ct_secmark, which the connection tracker (codegen/ct.h) fills in
 * its prologue and stores at the verdict when GEN_PF_CT_SECMARK is set.
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/xt_CONNSECMARK.h>
#include <linux/netfilter/xt_state.h>

#include "ct.h"
#include "gen_internal.h"
#include "secpolicy.h"

/* The packet has a connection: ESTABLISHED, RELATED or NEW (not INVALID, UNTRACKED). */
#define CT_TRACKED                                                                                 \
	(XT_STATE_BIT(IP_CT_ESTABLISHED) | XT_STATE_BIT(IP_CT_RELATED) | XT_STATE_BIT(IP_CT_NEW))

static int connsecmark_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			     const void *data, size_t len, uint8_t revision, char *why,
			     size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision, (void)why, (void)whylen;
	return 0; /* the validator checked the mode and the table, as the kernel does */
}

static void connsecmark_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_connsecmark_target_info *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s", i->mode == CONNSECMARK_SAVE ? "--save" : "--restore");
}

static int connsecmark_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			       uint8_t revision)
{
	int err;

	(void)data, (void)revision;
	err = gen_mod_use(g, &gen_ct_mod, NULL);
	if (!err)
		err = gen_sec_use(g, ti, idx);
	return err;
}

static int connsecmark_emit(struct gen *g, unsigned int ti, unsigned int idx,
			    const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	const struct xt_connsecmark_target_info *i = t->data;
	int l_skip = LABEL();

	(void)ti, (void)idx, (void)c;
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ct_state)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, CT_TRACKED));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_skip);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(secmark)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, PKT(ct_secmark)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(mod_flags)));
	if (i->mode == CONNSECMARK_SAVE) {
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_skip);
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_3, 0, 0), l_skip);
		E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_2, PKT(ct_secmark)));
		E(BPF_ALU32_IMM(BPF_OR, BPF_REG_1, GEN_PF_CT_SECMARK));
	} else {
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, 0, 0), l_skip);
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_3, 0, 0), l_skip);
		E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_3, PKT(secmark)));
		E(BPF_ALU32_IMM(BPF_OR, BPF_REG_1, GEN_PF_SECMARK));
	}
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(mod_flags)));
	BIND(l_skip);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_connsecmark = {
	.name = "CONNSECMARK",
	.target = true,
	.revisions = 1U << 0,
	.check = connsecmark_check,
	.dump = connsecmark_dump,
	.prepare = connsecmark_prepare,
	.emit_target = connsecmark_emit,
};
IPT2BPF_MOD_REGISTER(mod_connsecmark);
