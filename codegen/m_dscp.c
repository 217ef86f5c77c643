// SPDX-License-Identifier: GPL-2.0
/*
 * -m dscp: (tos >> 2 == dscp) ^ !!invert, as dscp_mt() (xt_dscp.c);
 * --dscp-class is the same payload.  dscp_mt_check() refuses values above
 * 63 (EDOM), so such a blob never loads: refused here too.
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_dscp.h>

#include "gen_internal.h"

static int dscp_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		      const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_dscp_info *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	if (i->dscp > XT_DSCP_MAX) {
		snprintf(why, whylen, "--dscp 0x%x is above 0x3f (the kernel refuses it: EDOM)",
			 i->dscp);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void dscp_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_dscp_info *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--dscp 0x%02x", i->invert ? "! " : "", i->dscp);
}

static int dscp_emit(struct gen *g, unsigned int ti, unsigned int idx,
		     const struct ipt2bpf_match *m, int l_fail)
{
	const struct xt_dscp_info *i = m->data;

	(void)ti, (void)idx;
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(tos)));
	E(BPF_ALU32_IMM(BPF_RSH, BPF_REG_1, XT_DSCP_SHIFT));
	EJ(BPF_JMP32_IMM(i->invert ? BPF_JEQ : BPF_JNE, BPF_REG_1, i->dscp, 0), l_fail);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_dscp = {
	.name = "dscp",
	.revisions = 1U << 0,
	.check = dscp_check,
	.dump = dscp_dump,
	.emit_match = dscp_emit,
};
IPT2BPF_MOD_REGISTER(mod_dscp);
