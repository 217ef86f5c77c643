// SPDX-License-Identifier: GPL-2.0
/*
 * -m ipcomp: the IPComp header's CPI in [min, max] ^ invert, as comp_mt()
 * (xt_ipcomp.c): a fragment with offset != 0 never matches, a first fragment
 * without the 4-byte header is hotdropped.  The CPI is the header's bytes
 * 2..3, which the parser keeps as the destination port field.
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_ipcomp.h>

#include "gen_internal.h"

static int ipcomp_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_ipcomp *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	if (i->invflags & ~XT_IPCOMP_INV_MASK) {
		snprintf(why, whylen, "unknown inversion flags 0x%x (the kernel refuses them)",
			 i->invflags);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void ipcomp_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_ipcomp *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--ipcompspi %u:%u", (i->invflags & XT_IPCOMP_INV_SPI) ? "! " : "", i->spis[0],
		i->spis[1]);
}

static int ipcomp_emit(struct gen *g, unsigned int ti, unsigned int idx,
		       const struct ipt2bpf_match *m, int l_fail)
{
	const struct xt_ipcomp *i = m->data;
	bool inv = i->invflags & XT_IPCOMP_INV_SPI;
	int l_ok = LABEL(), l_out = LABEL();

	(void)ti, (void)idx;
	/* First fragment with 4 transport bytes; else offset != 0: no match; else hotdrop. */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(l4ok)));
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_1, GEN_L4_4, 0), l_ok);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_fail);
	gen_verdict_exit(g, GEN_V_DROP);
	BIND(l_ok);
	/* spi_match(min, max, ntohs(cpi), invert) */
	if (i->spis[0] > i->spis[1]) {
		if (!inv)
			EJ(BPF_JMP_A(0), l_fail);
		return g->p->e.err;
	}
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(dport)));
	if (i->spis[0])
		EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, (int32_t)i->spis[0], 0), inv ? l_out : l_fail);
	if (i->spis[1] < UINT16_MAX)
		EJ(BPF_JMP32_IMM(BPF_JGT, BPF_REG_1, (int32_t)i->spis[1], 0), inv ? l_out : l_fail);
	if (inv)
		EJ(BPF_JMP_A(0), l_fail);
	BIND(l_out);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_ipcomp = {
	.name = "ipcomp",
	.revisions = 1U << 0,
	.check = ipcomp_check,
	.dump = ipcomp_dump,
	.emit_match = ipcomp_emit,
};
IPT2BPF_MOD_REGISTER(mod_ipcomp);
