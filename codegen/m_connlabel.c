// SPDX-License-Identifier: GPL-2.0
/*
 * -m connlabel, revision 0 (xt_connlabel.c: connlabel_mt()): bit --label
 * of the connection's 128 labels (struct gen_ct_entry.labels):
 *
 *	no connection (INVALID):   invert
 *	bit set:                   !invert
 *	--set:                     set the bit, !invert
 *	else:                      invert
 *
 * --set changes the scratch copy of the connection (later rules of this
 * packet see it) and flags it (GEN_CTS_LABELS): ct_confirm() stores the new
 * bits into an existing connection whatever the verdict, as the kernel's
 * test_and_set_bit() on the conntrack, or a new one with its insertion.
 *
 * The kernel gives a connection labels only if a connlabel rule existed
 * when it was created (nf_ct_labels_ext_add()); without, the match answers
 * invert and --set sets nothing.  Every connection of this tracker has
 * labels (doc/conntrack.md).
 */
#include <errno.h>
#include <linux/netfilter/xt_connlabel.h>

#include "ct.h"
#include "gen_internal.h"

#define ENT(f) ((int16_t)(offsetof(struct gen_ct_scratch, ent) + offsetof(struct gen_ct_entry, f)))
#define SCR(f) ((int16_t)offsetof(struct gen_ct_scratch, f))

static int connlabel_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			   const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_connlabel_mtinfo *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	/* connlabel_mt_check(), nf_connlabels_get(): the kernel refuses these */
	if (i->options & ~(XT_CONNLABEL_OP_INVERT | XT_CONNLABEL_OP_SET)) {
		snprintf(why, whylen, "unknown options 0x%x", i->options);
		return -EINVAL;
	}
	if (i->bit > XT_CONNLABEL_MAXBIT) {
		snprintf(why, whylen, "--label %u: labels go from 0 to %u", i->bit,
			 XT_CONNLABEL_MAXBIT);
		return -EINVAL;
	}
	return 0;
}

static void connlabel_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_connlabel_mtinfo *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--label %u%s", i->options & XT_CONNLABEL_OP_INVERT ? "! " : "", i->bit,
		i->options & XT_CONNLABEL_OP_SET ? " --set" : "");
}

static int connlabel_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			     uint8_t revision)
{
	(void)ti, (void)idx, (void)data, (void)revision;
	return gen_mod_use(g, &gen_ct_mod, NULL);
}

static int connlabel_emit(struct gen *g, unsigned int ti, unsigned int idx,
			  const struct ipt2bpf_match *m, int l_fail)
{
	const struct xt_connlabel_mtinfo *i = m->data;
	bool inv = i->options & XT_CONNLABEL_OP_INVERT;
	int16_t word = (int16_t)(ENT(labels) + (i->bit / 64) * 8);
	int l_end = LABEL(), l_true = inv ? l_fail : l_end, l_false = inv ? l_end : l_fail, err;
	int shift = i->bit % 64;

	(void)ti, (void)idx;
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ct_flags)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, GEN_CT_PF_TRACKED));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_false);
	err = gen_ct_emit_scratch(g, BPF_REG_0, l_false);
	if (err)
		return err;
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, word));
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_1));
	if (shift)
		E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_2, shift));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_2, 1));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, 0, 0), l_true);
	if (!(i->options & XT_CONNLABEL_OP_SET)) {
		EJ(BPF_JMP_A(0), l_false);
	} else {
		E(BPF_MOV64_IMM(BPF_REG_2, 1));
		if (shift)
			E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_2, shift));
		E(BPF_ALU64_REG(BPF_OR, BPF_REG_1, BPF_REG_2));
		E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, word));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, SCR(flags)));
		E(BPF_ALU32_IMM(BPF_OR, BPF_REG_1, GEN_CTS_LABELS));
		E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, SCR(flags)));
		EJ(BPF_JMP_A(0), l_true);
	}
	BIND(l_end);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_connlabel = {
	.name = "connlabel",
	.revisions = 1U << 0,
	.check = connlabel_check,
	.dump = connlabel_dump,
	.prepare = connlabel_prepare,
	.emit_match = connlabel_emit,
};
IPT2BPF_MOD_REGISTER(mod_connlabel);
