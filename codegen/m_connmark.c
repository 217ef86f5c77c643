// SPDX-License-Identifier: GPL-2.0
/*
 * -m connmark (revision 1, xt_connmark.c: connmark_mt()): the connection's
 * mark, as the rules have changed it so far for this packet (CONNMARK), is
 * ((ct_mark & mask) == mark) ^ invert.  A packet without a connection
 * (INVALID) never matches, inverted or not.
 */
#include <errno.h>
#include <linux/netfilter/xt_connmark.h>

#include "ct.h"
#include "gen_internal.h"

static int connmark_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			  const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision, (void)why, (void)whylen;
	return 0;
}

static void connmark_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_connmark_mtinfo1 *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--mark 0x%x", i->invert ? "! " : "", i->mark);
	if (i->mask != UINT32_MAX)
		fprintf(f, "/0x%x", i->mask);
}

static int connmark_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			    uint8_t revision)
{
	(void)ti, (void)idx, (void)data, (void)revision;
	return gen_mod_use(g, &gen_ct_mod, NULL);
}

static int connmark_emit(struct gen *g, unsigned int ti, unsigned int idx,
			 const struct ipt2bpf_match *m, int l_fail)
{
	const struct xt_connmark_mtinfo1 *i = m->data;

	(void)ti, (void)idx;
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ct_flags)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, GEN_CT_PF_TRACKED));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_fail);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(ct_mark)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)i->mask));
	EJ(BPF_JMP32_IMM(i->invert ? BPF_JEQ : BPF_JNE, BPF_REG_1, (int32_t)i->mark, 0), l_fail);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_connmark = {
	.name = "connmark",
	.revisions = 1U << 1,
	.check = connmark_check,
	.dump = connmark_dump,
	.prepare = connmark_prepare,
	.emit_match = connmark_emit,
};
IPT2BPF_MOD_REGISTER(mod_connmark);
