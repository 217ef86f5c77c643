// SPDX-License-Identifier: GPL-2.0
/*
 * -j CLASSIFY --set-class MAJOR:MINOR: skb->priority = class, then
 * XT_CONTINUE, as classify_tg() (xt_CLASSIFY.c); the kernel allows it from
 * OUTPUT, FORWARD and POSTROUTING, in any table.
 *
 * OUTPUT runs at TC egress, before the device's qdisc: the class is recorded
 * per packet (ipt_classify, per CPU) and written to skb->priority when the
 * tables are done, which is what the qdisc sees after the kernel's OUTPUT
 * too.  FORWARD is refused: ipt2bpf judges forwarded packets at TC ingress,
 * and ip_forward() sets skb->priority from the TOS after that, before the
 * kernel's FORWARD hook would have set it.
 */
#include <errno.h>
#include <linux/netfilter/xt_CLASSIFY.h>

#include "gen_internal.h"

#define CLASSIFY_MAP "ipt_classify"

struct classify_val {
	uint32_t priority;
	uint32_t set;
};

static void classify_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_classify_target_info *i = data;

	(void)len, (void)revision;
	fprintf(f, "--set-class %x:%x", i->priority >> 16, i->priority & 0xffff);
}

static int classify_map(struct gen *g)
{
	return gen_map_get(g, CLASSIFY_MAP, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
			   sizeof(struct classify_val), 1, 0, false);
}

static int classify_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			    uint8_t revision)
{
	int map;

	(void)data, (void)revision;
	if (g->tables[ti]->entries[idx].hooks & (1U << NF_INET_FORWARD))
		return gen_refuse(g, ti, idx,
				  "target 'CLASSIFY' in FORWARD is not supported: forwarded "
				  "packets are judged at TC ingress, and ip_forward() resets "
				  "skb->priority afterwards");
	map = classify_map(g);
	return map < 0 ? map : 0;
}

/* R0 = &ipt_classify[0] or jump to l_none.  Clobbers R1-R5, FP_KEY. */
static void classify_lookup(struct gen *g, int l_none)
{
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)classify_map(g));
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
}

static int classify_emit(struct gen *g, unsigned int ti, unsigned int idx,
			 const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	const struct xt_classify_target_info *i = t->data;
	int l_none = LABEL();

	(void)ti, (void)idx, (void)c;
	classify_lookup(g, l_none);
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, offsetof(struct classify_val, priority),
		     (int32_t)i->priority));
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, offsetof(struct classify_val, set), 1));
	BIND(l_none);
	return g->p->e.err;
}

/* Every packet starts without a class of ours. */
static int classify_prologue(struct gen *g, int role)
{
	int l_none = LABEL();

	(void)role;
	if (g->fl->type != BPF_PROG_TYPE_SCHED_CLS)
		return 0;
	classify_lookup(g, l_none);
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, offsetof(struct classify_val, set), 0));
	BIND(l_none);
	return g->p->e.err;
}

/* skb->priority = the last class a rule set (R0, the verdict, is kept). */
static int classify_verdict(struct gen *g, int role)
{
	int l_none = LABEL();

	(void)role;
	if (g->fl->type != BPF_PROG_TYPE_SCHED_CLS)
		return 0;
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, FP_TMP));
	classify_lookup(g, l_none);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct classify_val, set)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_none);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct classify_val, priority)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_9, BPF_REG_1, offsetof(struct __sk_buff, priority)));
	BIND(l_none);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_10, FP_TMP));
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_classify = {
	.name = "CLASSIFY",
	.target = true,
	.revisions = 1U << 0,
	.order = 60,
	.dump = classify_dump,
	.prepare = classify_prepare,
	.emit_target = classify_emit,
	.emit_prologue = classify_prologue,
	.emit_verdict = classify_verdict,
};
IPT2BPF_MOD_REGISTER(mod_classify);
