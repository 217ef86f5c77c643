/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the stateful match modules (limit, statistic, quota, hashlimit,
 * recent, time): per-rule state slots and map lookups.  The kernel gives
 * each rule of these matches private state when the rule is inserted
 * (checkentry), so state belongs to one rule of one rule set: a slot in an
 * array map of the program set, found by the match payload's address.
 */
#ifndef IPT2BPF_M_UTIL_H
#define IPT2BPF_M_UTIL_H

#include <errno.h>
#include <stdlib.h>

#include "gen_internal.h"

/* Every use of one module in the tables being compiled, in table and entry order. */
struct gen_mslots {
	uint32_t n;
	const void *data[];
};

static inline int gen_mslots_build(struct gen *g, const struct ipt2bpf_mod *mod,
				   struct gen_mslots **out)
{
	struct gen_mslots *s = NULL;
	uint32_t n = 0;

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned int k = 0; k < g->n_tables; k++) {
			const struct ipt2bpf_table *t = g->tables[k];

			for (unsigned int i = 0; i < t->n_entries; i++)
				for (unsigned int m = 0; m < t->entries[i].n_matches; m++) {
					const struct ipt2bpf_match *mt = &t->entries[i].matches[m];

					if (mt->kind != IPT2BPF_M_MOD || mt->mod != mod)
						continue;
					if (pass)
						s->data[s->n++] = mt->data;
					else
						n++;
				}
		}
		if (!pass) {
			s = calloc(1, sizeof(*s) + (n ? n : 1) * sizeof(s->data[0]));
			if (!s)
				return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
		}
	}
	*out = s;
	return 0;
}

/* The slot of the use whose payload is data; -1 if unknown (cannot happen). */
static inline int gen_mslot(const struct gen_mslots *s, const void *data)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->data[i] == data)
			return (int)i;
	return -1;
}

/*
 * R0 = &map[key] for an array map (the verifier wants the NULL check even
 * though the key is in range; NULL goes to l_null).  Uses FP_KEY.
 */
static inline void gen_array_elem(struct gen *g, unsigned int map, uint32_t key, int l_null)
{
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, (int32_t)key));
	gen_ld_map(&g->p->e, BPF_REG_1, map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_null);
}

/* reg = a 64-bit constant. */
static inline void gen_ld_imm64(struct gen *g, int reg, uint64_t v)
{
	if (v <= INT32_MAX) {
		E(BPF_MOV64_IMM(reg, (int32_t)v));
		return;
	}
	E(BPF_LD_IMM64_RAW_1(reg, 0, (uint32_t)v));
	E(BPF_LD_IMM64_RAW_2(v));
}

/*
 * Stack of chain functions free for modules: the verifier rounds every
 * frame up to 32 bytes, and rule code only uses FP_KEY and FP_IFKEY; so
 * -32..-17 are the modules' (gen_clock() and gen_array_elem() use FP_KEY).
 */
#define FP_MOD	(-24)
#define FP_MOD2 (-32)

/* 32-bit FNV-1a: names longer than a map name fits are hashed into it. */
static inline uint32_t gen_fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/*
 * A spin lock in a map value (the programs' maps carry no BTF, so no
 * bpf_spin_lock): the u32 at off in the value R5 points to, taken with
 * cmpxchg 0 -> 1, at most GEN_SPIN tries (the holder runs a few dozen
 * instructions with preemption off), else l_busy.  Uses R0-R2 and the stack
 * slot fp_cnt for the count; every way out leaves it 0 so the verifier can
 * prune after the loop.
 */
#define GEN_SPIN 256

static inline void gen_spin_lock(struct gen *g, int16_t off, int16_t fp_cnt, int l_busy)
{
	int l_try = LABEL(), l_spin = LABEL(), l_got = LABEL();

	/*
	 * The verifier explores the fall-through of a branch first and keeps the
	 * other pending: staying in the loop is always the taken branch here, so
	 * one pass does not leave GEN_SPIN states pending (the limit is 8192).
	 */
	E(BPF_MOV64_IMM(BPF_REG_1, GEN_SPIN));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, fp_cnt));
	BIND(l_try);
	E(BPF_MOV64_IMM(BPF_REG_0, 0));
	E(BPF_MOV64_IMM(BPF_REG_2, 1));
	E(BPF_ATOMIC_OP(BPF_W, BPF_CMPXCHG, BPF_REG_5, BPF_REG_2, off));
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_spin);
	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, fp_cnt, 0));
	EJ(BPF_JMP_A(0), l_got);
	BIND(l_spin);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, fp_cnt));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, fp_cnt));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_try);
	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, fp_cnt, 0));
	EJ(BPF_JMP_A(0), l_busy);
	BIND(l_got);
}

/* Releases it (an atomic exchange: a full barrier, so the updates are seen first). */
static inline void gen_spin_unlock(struct gen *g, int16_t off)
{
	E(BPF_MOV64_IMM(BPF_REG_2, 0));
	E(BPF_ATOMIC_OP(BPF_W, BPF_XCHG, BPF_REG_5, BPF_REG_2, off));
}

#endif
