// SPDX-License-Identifier: GPL-2.0
/*
 * -m mark: ((skb->mark & mask) == mark) ^ invert, as mark_mt() (xt_mark.c),
 * on the mark as the rules see it (gen_pkt.mark: skb->mark when the TC
 * program started, changed by MARK/CONNMARK targets before this rule).
 * An XDP program has no skb and no mark: refused for INPUT and FORWARD in
 * --mode xdp (OUTPUT always runs at TC egress).
 */
#include <errno.h>
#include <linux/netfilter/xt_mark.h>

#include "gen_internal.h"

static void mark_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_mark_mtinfo1 *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--mark 0x%x", i->invert ? "! " : "", i->mark);
	if (i->mask != UINT32_MAX)
		fprintf(f, "/0x%x", i->mask);
}

static int mark_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			uint8_t revision)
{
	const unsigned int rx = (1U << NF_INET_LOCAL_IN) | (1U << NF_INET_FORWARD);

	(void)data, (void)revision;
	if (g->opts->mode == IPT2BPF_MODE_XDP && (g->tables[ti]->entries[idx].hooks & rx))
		return gen_refuse(g, ti, idx,
				  "match 'mark': XDP programs have no skb->mark (use --mode tc)");
	return 0;
}

static int mark_emit(struct gen *g, unsigned int ti, unsigned int idx,
		     const struct ipt2bpf_match *m, int l_fail)
{
	const struct xt_mark_mtinfo1 *i = m->data;

	(void)ti, (void)idx;
	/* (x == y) ^ invert as a bool: any invert other than 0 and 1 makes it always true. */
	if (i->invert > 1)
		return 0;
	if (i->mark & ~i->mask) {
		if (!i->invert)
			EJ(BPF_JMP_A(0), l_fail);
		return g->p->e.err;
	}
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(mark)));
	if (i->mask != UINT32_MAX)
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)i->mask));
	EJ(BPF_JMP32_IMM(i->invert ? BPF_JEQ : BPF_JNE, BPF_REG_1, (int32_t)i->mark, 0), l_fail);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_mark = {
	.name = "mark",
	.revisions = 1U << 1,
	.dump = mark_dump,
	.prepare = mark_prepare,
	.emit_match = mark_emit,
};
IPT2BPF_MOD_REGISTER(mod_mark);
