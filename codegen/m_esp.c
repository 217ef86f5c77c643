// SPDX-License-Identifier: GPL-2.0
/*
 * -m esp: the ESP header's SPI in [min, max] ^ invert, as esp_mt()
 * (xt_esp.c): a fragment with offset != 0 never matches, a first fragment
 * without the 8-byte ESP header (SPI, sequence number) is hotdropped.  The
 * SPI is the transport header's first four bytes, which the parser keeps as
 * the two port fields.
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_esp.h>

#include "gen_internal.h"

static int esp_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e, const void *data,
		     size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_esp *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	if (i->invflags & ~XT_ESP_INV_MASK) {
		snprintf(why, whylen, "unknown inversion flags 0x%x (the kernel refuses them)",
			 i->invflags);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void esp_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_esp *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--espspi %u:%u", (i->invflags & XT_ESP_INV_SPI) ? "! " : "", i->spis[0],
		i->spis[1]);
}

static int esp_emit(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_match *m,
		    int l_fail)
{
	const struct xt_esp *i = m->data;
	int l_ok = LABEL(), l_out;
	bool inv = i->invflags & XT_ESP_INV_SPI;

	(void)ti, (void)idx;
	/* First fragment with 8 transport bytes; else offset != 0: no match; else hotdrop. */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(l4ok)));
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_1, GEN_L4_8, 0), l_ok);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_fail);
	gen_verdict_exit(g, GEN_V_DROP);
	BIND(l_ok);
	/* spi_match(): (min <= spi <= max) ^ invert. */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(sport)));
	E(BPF_ALU32_IMM(BPF_LSH, BPF_REG_1, 16));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_6, PKT(dport)));
	E(BPF_ALU32_REG(BPF_OR, BPF_REG_1, BPF_REG_2));
	if (i->spis[0] > i->spis[1]) {
		if (!inv)
			EJ(BPF_JMP_A(0), l_fail);
		return g->p->e.err;
	}
	if (!inv) {
		if (i->spis[0])
			EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, (int32_t)i->spis[0], 0), l_fail);
		if (i->spis[1] != UINT32_MAX)
			EJ(BPF_JMP32_IMM(BPF_JGT, BPF_REG_1, (int32_t)i->spis[1], 0), l_fail);
		return g->p->e.err;
	}
	l_out = LABEL();
	if (i->spis[0])
		EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, (int32_t)i->spis[0], 0), l_out);
	if (i->spis[1] != UINT32_MAX)
		EJ(BPF_JMP32_IMM(BPF_JGT, BPF_REG_1, (int32_t)i->spis[1], 0), l_out);
	EJ(BPF_JMP_A(0), l_fail);
	BIND(l_out);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_esp = {
	.name = "esp",
	.revisions = 1U << 0,
	.check = esp_check,
	.dump = esp_dump,
	.emit_match = esp_emit,
};
IPT2BPF_MOD_REGISTER(mod_esp);
