// SPDX-License-Identifier: GPL-2.0
/*
 * -m ah: the AH header's SPI in [min, max] ^ invert, as ah_mt()
 * (ipt_ah.c): a fragment with offset != 0 never matches, a first fragment
 * without the 12-byte AH header is hotdropped.  The SPI (transport bytes
 * 4..7) is read in the main program (gen_pre.h).
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter_ipv4/ipt_ah.h>

#include "gen_pre.h"

#define AH_HLEN 12 /* struct ip_auth_hdr without auth data */

static int ah_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e, const void *data,
		    size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct ipt_ah *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	if (i->invflags & ~IPT_AH_INV_MASK) {
		snprintf(why, whylen, "unknown inversion flags 0x%x (the kernel refuses them)",
			 i->invflags);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void ah_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct ipt_ah *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--ahspi %u:%u", (i->invflags & IPT_AH_INV_SPI) ? "! " : "", i->spis[0],
		i->spis[1]);
}

static int ah_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	const struct ipt_ah *i = data;
	bool inv = i->invflags & IPT_AH_INV_SPI;
	int l_out = LABEL();

	(void)revision;
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_no);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, AH_HLEN, 0), l_drop);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 4));
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_1, 0, FP_TMP, 4, l_drop);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_TMP));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 32));
	if (i->spis[0] > i->spis[1]) {
		if (!inv)
			EJ(BPF_JMP_A(0), l_no);
		return g->p->e.err;
	}
	/* In range: jump to l_out (match unless inverted). */
	if (i->spis[0])
		EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, (int32_t)i->spis[0], 0), inv ? l_out : l_no);
	if (i->spis[1] != UINT32_MAX)
		EJ(BPF_JMP32_IMM(BPF_JGT, BPF_REG_1, (int32_t)i->spis[1], 0), inv ? l_out : l_no);
	if (inv)
		EJ(BPF_JMP_A(0), l_no);
	BIND(l_out);
	return g->p->e.err;
}

static int ah_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		      uint8_t revision)
{
	return gen_pre_add(g, ti, idx, data, revision, ah_eval, GEN_PRE_HOTDROP);
}

static int ah_emit(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_match *m,
		   int l_fail)
{
	return gen_pre_test(g, ti, idx, m->data, l_fail);
}

static const struct ipt2bpf_mod mod_ah = {
	.name = "ah",
	.revisions = 1U << 0,
	.check = ah_check,
	.dump = ah_dump,
	.prepare = ah_prepare,
	.emit_match = ah_emit,
};
IPT2BPF_MOD_REGISTER(mod_ah);
