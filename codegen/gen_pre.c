// SPDX-License-Identifier: GPL-2.0
/*
 * Matches evaluated in the main program, their outcome kept per packet in a
 * per-CPU array for the rules to test (see gen_pre.h).  Also the helpers such
 * matches share: packet loads, bpf_loop() callbacks, toupper, table lookups.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <linux/if_ether.h>

#include "gen_pre.h"

#define PRE_MAP	     "ipt_pre"
#define PRE_MAX	     4096 /* uses; the per-CPU value is one byte each */
#define PRE_SLOT0    8	  /* value bytes [0, 4): forwarded header delta; [4, 8): 0 */
#define PRE_NO	     0
#define PRE_MATCH    1
#define PRE_HOTDROP  2
#define PRE_MHOTDROP 3 /* matched, then hotdrop: count, then drop */

struct pre_use {
	unsigned int ti, idx;
	const void *data;
	uint8_t revision;
	unsigned int hooks; /* the entry's hooks */
	unsigned int flags; /* GEN_PRE_* */
	gen_pre_eval_fn eval;
};

struct pre_state {
	int map;
	bool fwdhdr; /* some use reads IP header bytes: compute the FORWARD delta */
	int l_mdrop; /* the use being evaluated: its "matched, then hotdrop" label */
	unsigned int n, cap;
	struct pre_use use[];
};

static int pre_prologue(struct gen *g, int role);

/* Not registered: used only through gen_mod_use() by the modules that need it. */
static const struct ipt2bpf_mod mod_pre = {
	.name = "(main-program matches)",
	.order = 100,
	.emit_prologue = pre_prologue,
};

static struct pre_state *pre_get(struct gen *g)
{
	void **priv;

	if (gen_mod_use(g, &mod_pre, &priv))
		return NULL;
	return *priv;
}

unsigned int gen_prog_hooks(const struct gen *g)
{
	switch (g->prog->role) {
	case IPT2BPF_P_INGRESS:
	case IPT2BPF_P_XDP:
		return (1U << NF_INET_LOCAL_IN) | (1U << NF_INET_FORWARD);
	case IPT2BPF_P_EGRESS:
		return 1U << NF_INET_LOCAL_OUT;
	case IPT2BPF_P_TRACE:
		return 1U << g->prog->hook;
	}
	return 0;
}

int gen_pre_add(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		uint8_t revision, gen_pre_eval_fn eval, unsigned int flags)
{
	struct pre_state *st;
	void **priv;
	int err;

	err = gen_mod_use(g, &mod_pre, &priv);
	if (err)
		return err;
	st = *priv;
	if (!st || st->n == st->cap) {
		unsigned int cap = st ? 2 * st->cap : 16;
		struct pre_state *ns = realloc(st, sizeof(*ns) + cap * sizeof(ns->use[0]));

		if (!ns)
			return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
		if (!st) {
			ns->n = 0;
			ns->fwdhdr = false;
			ns->map = gen_map_get(g, PRE_MAP, BPF_MAP_TYPE_PERCPU_ARRAY,
					      sizeof(uint32_t), 8, 1, 0, false);
			if (ns->map < 0) {
				err = ns->map;
				free(ns);
				return err;
			}
		}
		ns->cap = cap;
		*priv = st = ns;
	}
	if (st->n >= PRE_MAX)
		return gen_refuse(g, ti, idx,
				  "more than %d matches that read packet bytes (u32, string, ...) "
				  "in one rule set",
				  PRE_MAX);
	st->use[st->n++] = (struct pre_use){
		.ti = ti,
		.idx = idx,
		.data = data,
		.revision = revision,
		.hooks = g->tables[ti]->entries[idx].hooks,
		.flags = flags,
		.eval = eval,
	};
	/* One byte per use after the delta word, rounded up to whole words. */
	g->ps->maps[st->map].value_size = (PRE_SLOT0 + st->n + 7) & ~7U;
	return 0;
}

int gen_pre_match_drop_label(struct gen *g)
{
	struct pre_state *st = pre_get(g);

	return st ? st->l_mdrop : -1;
}

int gen_pre_fwdhdr(struct gen *g)
{
	struct pre_state *st = pre_get(g);

	if (!st)
		return -EINVAL;
	st->fwdhdr = true;
	return 0;
}

/*
 * ip_forward() decrements the TTL and updates the header checksum before the
 * FORWARD hook (ip_decrease_ttl(): check += htons(0x0100), plus the carry).
 * D = (bytes 8..11 as the hook sees them) ^ (as received), big-endian, or 0
 * outside FORWARD, at R8 + 0.  Clobbers R0-R5 and FP_TMP.
 */
static void pre_fwd_delta(struct gen *g)
{
	const union {
		uint16_t v;
		uint8_t b[2];
	} step = {.b = {0x01, 0x00}}; /* htons(0x0100) as the CPU loads it */
	int l_done = LABEL(), l_nocarry = LABEL();

	E(BPF_ST_MEM(BPF_W, BPF_REG_8, 0, 0));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_7, NF_INET_FORWARD, 0), l_done);
	gen_pre_bytes(g, BPF_REG_9, -1, 8, FP_TMP, 4, l_done);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_5, BPF_REG_10, FP_TMP));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_TMP));
	E(BPF_ALU32_IMM(BPF_SUB, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_B, BPF_REG_10, BPF_REG_1, FP_TMP));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, FP_TMP + 2));
	E(BPF_ALU32_IMM(BPF_ADD, BPF_REG_1, step.v));
	EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, 0xffff, 0), l_nocarry);
	E(BPF_ALU32_IMM(BPF_ADD, BPF_REG_1, 1));
	BIND(l_nocarry);
	E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, FP_TMP + 2));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_TMP));
	E(BPF_ALU32_REG(BPF_XOR, BPF_REG_1, BPF_REG_5));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 32));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, 0));
	BIND(l_done);
}

void gen_pre_fwd_fix(struct gen *g, int val_reg, int off_reg, int tmp_reg, int tmp2_reg)
{
	int l_done = LABEL(), l_left = LABEL(), l_apply = LABEL();

	if (!(gen_prog_hooks(g) & (1U << NF_INET_FORWARD)))
		return;
	/* The word at off overlaps bytes 8..11 when 5 <= off <= 11. */
	EJ(BPF_JMP_IMM(BPF_JLT, off_reg, 5, 0), l_done);
	EJ(BPF_JMP_IMM(BPF_JGT, off_reg, 11, 0), l_done);
	E(BPF_LDX_MEM(BPF_W, tmp_reg, BPF_REG_8, 0));
	EJ(BPF_JMP_IMM(BPF_JEQ, tmp_reg, 0, 0), l_done);
	EJ(BPF_JMP_IMM(BPF_JGT, off_reg, 8, 0), l_left);
	/* off <= 8: D >> (8 - off) * 8 */
	E(BPF_MOV64_IMM(tmp2_reg, 8));
	E(BPF_ALU64_REG(BPF_SUB, tmp2_reg, off_reg));
	E(BPF_ALU64_IMM(BPF_LSH, tmp2_reg, 3));
	E(BPF_ALU32_REG(BPF_RSH, tmp_reg, tmp2_reg));
	EJ(BPF_JMP_A(0), l_apply);
	BIND(l_left);
	/* off > 8: D << (off - 8) * 8 */
	E(BPF_MOV64_REG(tmp2_reg, off_reg));
	E(BPF_ALU64_IMM(BPF_SUB, tmp2_reg, 8));
	E(BPF_ALU64_IMM(BPF_LSH, tmp2_reg, 3));
	E(BPF_ALU32_REG(BPF_LSH, tmp_reg, tmp2_reg));
	BIND(l_apply);
	E(BPF_ALU32_REG(BPF_XOR, val_reg, tmp_reg));
	BIND(l_done);
}

static int find_use(const struct pre_state *st, unsigned int ti, unsigned int idx, const void *data)
{
	for (unsigned int i = 0; st && i < st->n; i++)
		if (st->use[i].ti == ti && st->use[i].idx == idx && st->use[i].data == data)
			return (int)i;
	return -1;
}

/* R8 = &ipt_pre[0] in the main program; no evaluation at all if it is missing. */
static int pre_prologue(struct gen *g, int role)
{
	struct pre_state *st = pre_get(g);
	unsigned int hooks = gen_prog_hooks(g);
	int l_end = LABEL(), err;

	(void)role;
	if (!st || !st->n)
		return 0;
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)st->map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_end);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	E(BPF_ST_MEM(BPF_DW, BPF_REG_8, 0, 0));
	if (st->fwdhdr && (hooks & (1U << NF_INET_FORWARD)))
		pre_fwd_delta(g);
	for (unsigned int i = 0; i < st->n; i++) {
		const struct pre_use *u = &st->use[i];
		unsigned int h = u->hooks & hooks;
		int l_no = LABEL(), l_drop = LABEL(), l_next = LABEL(), l_mdrop = LABEL();
		bool drops = u->flags & GEN_PRE_HOTDROP;

		if (!h)
			continue; /* never reached in this program */
		if (h != hooks) {
			/* The ingress program runs INPUT and FORWARD: skip the other one. */
			for (unsigned int k = 0; k < IPT2BPF_NUM_HOOKS; k++)
				if ((hooks & (1U << k)) && !(h & (1U << k)))
					EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_7, k, 0), l_next);
		}
		st->l_mdrop = l_mdrop;
		err = u->eval(g, u->data, u->revision, l_no, drops ? l_drop : -1);
		if (err)
			return err;
		E(BPF_ST_MEM(BPF_B, BPF_REG_8, (int16_t)(PRE_SLOT0 + i), PRE_MATCH));
		EJ(BPF_JMP_A(0), l_next);
		BIND(l_no);
		E(BPF_ST_MEM(BPF_B, BPF_REG_8, (int16_t)(PRE_SLOT0 + i), PRE_NO));
		if (drops) {
			EJ(BPF_JMP_A(0), l_next);
			BIND(l_drop);
			E(BPF_ST_MEM(BPF_B, BPF_REG_8, (int16_t)(PRE_SLOT0 + i), PRE_HOTDROP));
		}
		if (u->flags & GEN_PRE_MATCH_HOTDROP) {
			EJ(BPF_JMP_A(0), l_next);
			BIND(l_mdrop);
			E(BPF_ST_MEM(BPF_B, BPF_REG_8, (int16_t)(PRE_SLOT0 + i), PRE_MHOTDROP));
		}
		BIND(l_next);
	}
	BIND(l_end);
	return g->p->e.err;
}

/* ADD_COUNTER(*counter, skb->len, 1) for entry idx, as gen_rule.c counts. */
static void pre_count(struct gen *g, unsigned int ti, unsigned int idx)
{
	int l_skip = LABEL();

	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, (int32_t)idx));
	gen_ld_map(&g->p->e, BPF_REG_1, g->map_counter[ti]);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_skip);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_counter, pcnt)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, offsetof(struct ipt2bpf_counter, pcnt)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(tot_len)));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_counter, bcnt)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_2));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, offsetof(struct ipt2bpf_counter, bcnt)));
	BIND(l_skip);
}

int gen_pre_test(struct gen *g, unsigned int ti, unsigned int idx, const void *data, int l_fail)
{
	struct pre_state *st = pre_get(g);
	int i = find_use(st, ti, idx, data);
	int l_match;

	if (i < 0)
		return gen_refuse(g, ti, idx, "internal error: match not prepared");
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)st->map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_fail);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_0, (int16_t)(PRE_SLOT0 + i)));
	if (!st->use[i].flags) {
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, PRE_MATCH, 0), l_fail);
		return g->p->e.err;
	}
	l_match = LABEL();
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, PRE_MATCH, 0), l_match);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, PRE_NO, 0), l_fail);
	if (st->use[i].flags & GEN_PRE_MATCH_HOTDROP) {
		int l_drop = LABEL();

		/*
		 * Matched with hotdrop set: the entry (whose last match this is,
		 * with a standard target) is counted, then the walk ends: NF_DROP.
		 */
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, PRE_MHOTDROP, 0), l_drop);
		pre_count(g, ti, idx);
		BIND(l_drop);
	}
	/* ipt_do_table(): a hotdrop ends the walk with NF_DROP, the entry uncounted. */
	gen_verdict_exit(g, GEN_V_DROP);
	BIND(l_match);
	return g->p->e.err;
}

void gen_pre_bytes(struct gen *g, int ctx_reg, int off_reg, int32_t off_imm, int16_t to, int len,
		   int l_err)
{
	if (off_reg >= 0) {
		E(BPF_MOV64_REG(BPF_REG_2, off_reg));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN));
	} else {
		E(BPF_MOV64_IMM(BPF_REG_2, ETH_HLEN + off_imm));
	}
	E(BPF_MOV64_REG(BPF_REG_1, ctx_reg));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, to));
	E(BPF_MOV64_IMM(BPF_REG_4, len));
	E(BPF_CALL_HELPER(g->fl->load_bytes));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_err);
}

int gen_loop_call(struct gen *g, const char *name, int nr_reg, int zero_reg,
		  int (*emit_cb)(struct gen *g, const void *arg), const void *arg)
{
	int id = gen_modfunc_get(g, name, emit_cb, arg);

	if (id < 0)
		return id;
	/* The callback finds the ctx pointer (spilled, so still typed) in the loop state. */
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_9, FP_SCR + GEN_LOOP_CTX));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, zero_reg, FP_SCR + GEN_LOOP_ZERO));
	if (nr_reg != BPF_REG_1)
		E(BPF_MOV64_REG(BPF_REG_1, nr_reg));
	gen_ld_func(&g->p->e, BPF_REG_2, (unsigned int)id);
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, FP_SCR));
	E(BPF_MOV64_IMM(BPF_REG_4, 0));
	E(BPF_CALL_HELPER(BPF_FUNC_loop));
	gen_edge_add(g, (unsigned int)id, 0, false);
	return g->p->e.err;
}

int gen_pre_loop(struct gen *g, const char *name, int nr_reg,
		 int (*emit_cb)(struct gen *g, const void *arg), const void *arg)
{
	E(GEN_PRE_ZERO(BPF_REG_0));
	return gen_loop_call(g, name, nr_reg, BPF_REG_0, emit_cb, arg);
}

void gen_toupper(struct gen *g, int reg)
{
	int l_done = LABEL(), l_sub = LABEL();

	/* islower(): 'a'..'z' and Latin-1 0xdf..0xff except 0xf7. */
	EJ(BPF_JMP_IMM(BPF_JLT, reg, 'a', 0), l_done);
	EJ(BPF_JMP_IMM(BPF_JLE, reg, 'z', 0), l_sub);
	EJ(BPF_JMP_IMM(BPF_JLT, reg, 0xdf, 0), l_done);
	EJ(BPF_JMP_IMM(BPF_JEQ, reg, 0xf7, 0), l_done);
	BIND(l_sub);
	E(BPF_ALU64_IMM(BPF_SUB, reg, 'a' - 'A'));
	BIND(l_done);
}

static void table_node(struct gen *g, int idx_reg, int out_reg, const uint8_t *tab, unsigned int lo,
		       unsigned int hi, int l_done)
{
	unsigned int mid;
	int l_right;
	bool same = true;

	for (unsigned int i = lo + 1; i < hi && same; i++)
		same = tab[i] == tab[lo];
	if (same) {
		E(BPF_MOV64_IMM(out_reg, tab[lo]));
		EJ(BPF_JMP_A(0), l_done);
		return;
	}
	mid = lo + (hi - lo) / 2;
	l_right = LABEL();
	EJ(BPF_JMP_IMM(BPF_JGE, idx_reg, (int32_t)mid, 0), l_right);
	table_node(g, idx_reg, out_reg, tab, lo, mid, l_done);
	BIND(l_right);
	table_node(g, idx_reg, out_reg, tab, mid, hi, l_done);
}

void gen_table(struct gen *g, int idx_reg, int out_reg, const uint8_t *tab, unsigned int n)
{
	int l_done = LABEL();

	if (!n) {
		E(BPF_MOV64_IMM(out_reg, 0));
		return;
	}
	table_node(g, idx_reg, out_reg, tab, 0, n, l_done);
	BIND(l_done);
}
