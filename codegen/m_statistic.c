// SPDX-License-Identifier: GPL-2.0
/*
 * -m statistic (xt_statistic.c, revision 0).
 *
 * --mode random: the kernel matches when (get_random_u32() & 0x7fffffff) <
 * probability; here bpf_get_prandom_u32() takes get_random_u32()'s place
 * (same distribution, another generator).
 *
 * --mode nth: the kernel keeps one counter per rule, starting at
 * u.nth.count, and moves it with a cmpxchg loop: count = count == every ? 0
 * : count + 1 (32-bit, wrapping), matching when the new value is 0.  That
 * sequence is a function of how many packets came before, so one atomic
 * fetch-and-add of a per-rule packet number gives every packet the value
 * the kernel's serialised updates would have given it: with j = number of
 * packets so far including this one, c0 = the start and e = every,
 *   c0 <= e:  (c0 + j) mod (e + 1)
 *   c0 >  e:  (c0 + j) mod 2^32 while j <= d = (e - c0) mod 2^32 (counting
 *             up through the wrap to e), then (j - d - 1) mod (e + 1).
 * The counter lives in an array map slot of this rule set (the kernel starts
 * every rule's counter afresh when a table is replaced).
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_statistic.h>

#include "gen_internal.h"
#include "m_util.h"

#define STAT_MAP "ipt_statistic"

static const struct ipt2bpf_mod mod_statistic;

static int statistic_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			   const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_statistic_info *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	/* statistic_mt_check(): -EINVAL */
	if (i->mode > XT_STATISTIC_MODE_MAX || (i->flags & ~XT_STATISTIC_MASK)) {
		snprintf(why, whylen,
			 "unknown mode %u or flags 0x%x (the kernel refuses it: EINVAL)", i->mode,
			 i->flags);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void statistic_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_statistic_info *i = data;
	const char *inv = (i->flags & XT_STATISTIC_INVERT) ? "! " : "";

	(void)len, (void)revision;
	if (i->mode == XT_STATISTIC_MODE_RANDOM)
		fprintf(f, "--mode random %s--probability %.11f", inv,
			1.0 * i->u.random.probability / 0x80000000);
	else
		fprintf(f, "--mode nth %s--every %u --packet %u (count %u)", inv,
			i->u.nth.every + 1, i->u.nth.packet, i->u.nth.count);
}

static int statistic_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			     uint8_t revision)
{
	struct gen_mslots *s = NULL;
	void **priv;
	int err;

	(void)ti, (void)idx, (void)data, (void)revision;
	err = gen_mod_use(g, &mod_statistic, &priv);
	if (err || *priv)
		return err;
	err = gen_mslots_build(g, &mod_statistic, &s);
	if (err)
		return err;
	*priv = s;
	err = gen_map_get(g, STAT_MAP, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(uint64_t), s->n,
			  0, false);
	return err < 0 ? err : 0;
}

/* Jumps to l_hit when the packet is the every-th; falls through otherwise. */
static void emit_nth(struct gen *g, const struct xt_statistic_info *i, int slot, int l_hit,
		     int l_miss)
{
	uint64_t c0 = i->u.nth.count, e = i->u.nth.every;
	unsigned int map = (unsigned int)ipt2bpf_progset_find_map(g->ps, STAT_MAP);

	gen_array_elem(g, map, (uint32_t)slot, l_miss);
	E(BPF_MOV64_IMM(BPF_REG_1, 1));
	E(BPF_ATOMIC_OP(BPF_DW, BPF_ADD | BPF_FETCH, BPF_REG_0, BPF_REG_1, 0));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1)); /* R1 = j */
	gen_ld_imm64(g, BPF_REG_2, e + 1);
	if (c0 <= e) {
		gen_ld_imm64(g, BPF_REG_3, c0);
		E(BPF_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_3));
		E(BPF_ALU64_REG(BPF_MOD, BPF_REG_1, BPF_REG_2));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_hit);
		return;
	}
	{
		uint64_t d = (uint32_t)(e - c0);
		int l_late = LABEL();

		gen_ld_imm64(g, BPF_REG_3, d);
		EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_1, BPF_REG_3, 0), l_late);
		gen_ld_imm64(g, BPF_REG_3, c0);
		E(BPF_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_3));
		EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_hit);
		EJ(BPF_JMP_A(0), l_miss);
		BIND(l_late);
		E(BPF_ALU64_REG(BPF_SUB, BPF_REG_1, BPF_REG_3));
		E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, 1));
		E(BPF_ALU64_REG(BPF_MOD, BPF_REG_1, BPF_REG_2));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_hit);
	}
}

static int statistic_emit(struct gen *g, unsigned int ti, unsigned int idx,
			  const struct ipt2bpf_match *m, int l_fail)
{
	const struct xt_statistic_info *i = m->data;
	bool inv = i->flags & XT_STATISTIC_INVERT;
	int l_hit = LABEL(), l_miss = LABEL(), l_done = LABEL();
	struct gen_mslots *s = NULL;
	void **priv;
	int slot;

	if (i->mode == XT_STATISTIC_MODE_RANDOM) {
		uint32_t p = i->u.random.probability;

		/* Edge probabilities need no random number: nothing can differ. */
		if (p == 0) {
			if (!inv)
				EJ(BPF_JMP_A(0), l_fail);
			return g->p->e.err;
		}
		if (p > 0x7fffffff) {
			if (inv)
				EJ(BPF_JMP_A(0), l_fail);
			return g->p->e.err;
		}
		E(BPF_CALL_HELPER(BPF_FUNC_get_prandom_u32));
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_0, 0x7fffffff));
		EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_0, (int32_t)p, 0), l_hit);
		EJ(BPF_JMP_A(0), l_miss);
	} else {
		if (gen_mod_use(g, &mod_statistic, &priv) || !*priv)
			return ipt2bpf_diag_set(g->diag, -EINVAL, "statistic: not prepared");
		s = *priv;
		slot = gen_mslot(s, m->data);
		if (slot < 0)
			return gen_refuse(g, ti, idx,
					  "match 'statistic': internal error (no slot)");
		emit_nth(g, i, slot, l_hit, l_miss);
		EJ(BPF_JMP_A(0), l_miss);
	}
	/* The kernel's ret starts as the invert flag and flips on a hit. */
	BIND(l_hit);
	if (inv)
		EJ(BPF_JMP_A(0), l_fail);
	else
		EJ(BPF_JMP_A(0), l_done);
	BIND(l_miss);
	if (!inv)
		EJ(BPF_JMP_A(0), l_fail);
	BIND(l_done);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_statistic = {
	.name = "statistic",
	.revisions = 1U << 0,
	.check = statistic_check,
	.dump = statistic_dump,
	.prepare = statistic_prepare,
	.emit_match = statistic_emit,
};
IPT2BPF_MOD_REGISTER(mod_statistic);
