// SPDX-License-Identifier: GPL-2.0
/*
 * -j MARK (revision 2, the only one the kernel has): skb->mark =
 * (skb->mark & ~mask) ^ mark, then XT_CONTINUE, as mark_tg() (xt_mark.c).
 * --set-xmark/--set-mark/--and-mark/--or-mark/--xor-mark all come as
 * (mark, mask).  The new mark is what later rules see (gen_pkt.mark) and what
 * the skb carries on when the packet is accepted (gen.c writes it back).
 *
 * At TC ingress the mark is set before the kernel's routing decision, where
 * netfilter's filter table sets it after: policy routing by fwmark sees the
 * new mark.  XDP programs have no mark: refused for INPUT and FORWARD in
 * --mode xdp.
 */
#include <errno.h>
#include <linux/netfilter/xt_mark.h>

#include "gen_internal.h"

static void mark_tg_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_mark_tginfo2 *i = data;

	(void)len, (void)revision;
	fprintf(f, "--set-xmark 0x%x/0x%x", i->mark, i->mask);
}

static int mark_tg_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			   uint8_t revision)
{
	const unsigned int rx = (1U << NF_INET_LOCAL_IN) | (1U << NF_INET_FORWARD);

	(void)data, (void)revision;
	if (g->opts->mode == IPT2BPF_MODE_XDP && (g->tables[ti]->entries[idx].hooks & rx))
		return gen_refuse(g, ti, idx,
				  "target 'MARK': XDP programs have no skb->mark (use --mode tc)");
	return 0;
}

static int mark_tg_emit(struct gen *g, unsigned int ti, unsigned int idx,
			const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	const struct xt_mark_tginfo2 *i = t->data;

	(void)ti, (void)idx, (void)c;
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(mark)));
	if (i->mask)
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)~i->mask));
	if (i->mark)
		E(BPF_ALU32_IMM(BPF_XOR, BPF_REG_1, (int32_t)i->mark));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(mark)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(mod_flags)));
	E(BPF_ALU32_IMM(BPF_OR, BPF_REG_1, GEN_PF_MARK));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(mod_flags)));
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_mark_tg = {
	.name = "MARK",
	.target = true,
	.revisions = 1U << 2,
	.dump = mark_tg_dump,
	.prepare = mark_tg_prepare,
	.emit_target = mark_tg_emit,
};
IPT2BPF_MOD_REGISTER(mod_mark_tg);
