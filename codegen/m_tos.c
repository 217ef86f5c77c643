// SPDX-License-Identifier: GPL-2.0
/*
 * -m tos (revision 1): ((tos & mask) == value) ^ !!invert, as tos_mt()
 * (xt_dscp.c).  iptables 1.8 builds revision 1 only; the symbolic names
 * (Minimize-Delay ...) are value/0x3f.
 */
#include <linux/netfilter/xt_dscp.h>

#include "gen_internal.h"

static void tos_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_tos_match_info *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--tos 0x%02x/0x%02x", i->invert ? "! " : "", i->tos_value, i->tos_mask);
}

static int tos_emit(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_match *m,
		    int l_fail)
{
	const struct xt_tos_match_info *i = m->data;

	(void)ti, (void)idx;
	if (i->tos_value & ~i->tos_mask) {
		/* (tos & mask) can never equal a value with bits outside the mask. */
		if (!i->invert)
			EJ(BPF_JMP_A(0), l_fail);
		return g->p->e.err;
	}
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(tos)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, i->tos_mask));
	EJ(BPF_JMP32_IMM(i->invert ? BPF_JEQ : BPF_JNE, BPF_REG_1, i->tos_value, 0), l_fail);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_tos = {
	.name = "tos",
	.revisions = 1U << 1,
	.dump = tos_dump,
	.emit_match = tos_emit,
};
IPT2BPF_MOD_REGISTER(mod_tos);
