// SPDX-License-Identifier: GPL-2.0
/*
 * -m limit (xt_limit.c, revision 0): the kernel's token bucket, credit for
 * credit.  limit_mt_check() turns the rule's rate into credits at the
 * kernel's HZ (user2credits(), CREDITS_PER_JIFFY): done here in user space
 * with the host's HZ (codegen/host.c), so the program only adds
 * (now - prev) * CREDITS_PER_JIFFY per packet, caps, and takes the cost.
 *
 * State per rule and rule set (the kernel gives every rule a fresh bucket
 * when a table is replaced): one u64 in an array map slot,
 *   bit 63       set once the bucket exists
 *   bits 32..62  prev, in jiffies, modulo 2^31
 *   bits 0..31   credit
 * updated with one 64-bit cmpxchg, retried like the kernel's cmpxchg loop.
 * prev modulo 2^31 is enough: the kernel adds (now - prev) * CPJ to a u32,
 * and CPJ is a power of two >= 2, so only (now - prev) mod 2^31 counts.
 *
 * The bucket starts full at the rule's first packet (the kernel: at
 * insertion, full too; both agree unless the first packet comes so long
 * after insertion, 2^32 / CPJ jiffies or about 37 hours, that the kernel's
 * u32 credit increase wraps).  After 16 lost cmpxchg races in a row (other
 * CPUs updating the same rule every time) the packet does not match.
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_limit.h>

#include "gen_internal.h"
#include "host.h"
#include "m_util.h"

#define LIMIT_MAP     "ipt_limit"
#define LIMIT_RETRIES 16

static const struct ipt2bpf_mod mod_limit;

/* CREDITS_PER_JIFFY: the power of two below 0xffffffff / (HZ * 86400). */
static uint32_t limit_cpj(uint32_t hz)
{
	uint32_t max = 0xffffffffU / (hz * 60 * 60 * 24), p = 1;

	while (p <= max / 2)
		p <<= 1;
	return p;
}

/* user2credits(): u32 arithmetic as the kernel does it, wrapping included. */
static uint32_t limit_user2credits(uint32_t user, uint32_t hz)
{
	uint32_t cpj = limit_cpj(hz);

	if (user > 0xffffffffU / (hz * cpj))
		return (user / XT_LIMIT_SCALE) * hz * cpj;
	return (user * hz * cpj) / XT_LIMIT_SCALE;
}

struct limit_params {
	uint32_t cpj, credit, cap, cost;
};

static void limit_params(const struct xt_rateinfo *r, struct limit_params *p)
{
	uint32_t hz = ipt2bpf_host_hz();

	p->cpj = limit_cpj(hz);
	p->credit = limit_user2credits(r->avg * r->burst, hz);
	if (r->cost == 0) {
		p->cap = p->credit;
		p->cost = limit_user2credits(r->avg, hz);
	} else { /* a blob read back from a kernel carries them */
		p->cap = r->credit_cap;
		p->cost = r->cost;
	}
}

static int limit_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		       const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_rateinfo *r = data;
	uint32_t hz = ipt2bpf_host_hz();

	(void)t, (void)e, (void)len, (void)revision;
	/* limit_mt_check(): -ERANGE */
	if (r->burst == 0 ||
	    limit_user2credits(r->avg * r->burst, hz) < limit_user2credits(r->avg, hz)) {
		snprintf(why, whylen,
			 "rate %u/%u overflows the kernel's credits at HZ=%u (the kernel refuses "
			 "it: ERANGE)",
			 r->avg, r->burst, hz);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void limit_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_rateinfo *r = data;
	struct limit_params p;

	(void)len, (void)revision;
	limit_params(r, &p);
	fprintf(f, "--limit avg %u/%u --limit-burst %u (credit %u cap %u cost %u cpj %u)", r->avg,
		XT_LIMIT_SCALE, r->burst, p.credit, p.cap, p.cost, p.cpj);
}

static int limit_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			 uint8_t revision)
{
	struct gen_mslots *s = NULL;
	void **priv;
	int err;

	(void)ti, (void)idx, (void)data, (void)revision;
	err = gen_mod_use(g, &mod_limit, &priv);
	if (err || *priv)
		return err;
	err = gen_mslots_build(g, &mod_limit, &s);
	if (err)
		return err;
	*priv = s;
	err = gen_map_get(g, LIMIT_MAP, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(uint64_t),
			  s->n, 0, false);
	return err < 0 ? err : 0;
}

static int limit_emit(struct gen *g, unsigned int ti, unsigned int idx,
		      const struct ipt2bpf_match *m, int l_fail)
{
	int l_retry = LABEL(), l_init = LABEL(), l_have = LABEL(), l_slow = LABEL();
	int l_nocap = LABEL(), l_calc = LABEL(), l_lost = LABEL();
	int l_hit = LABEL(), l_miss = LABEL();
	struct limit_params p;
	void **priv;
	int slot;

	if (gen_mod_use(g, &mod_limit, &priv) || !*priv)
		return ipt2bpf_diag_set(g->diag, -EINVAL, "limit: not prepared");
	slot = gen_mslot(*priv, m->data);
	if (slot < 0)
		return gen_refuse(g, ti, idx, "match 'limit': internal error (no slot)");
	limit_params(m->data, &p);

	/* FP_MOD = now mod 2^31 (jiffies); R5 = the rule's state word. */
	gen_clock(g, BPF_REG_0, true);
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_0, 0x7fffffff));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, FP_MOD));
	gen_array_elem(g, (unsigned int)ipt2bpf_progset_find_map(g->ps, LIMIT_MAP), (uint32_t)slot,
		       l_fail);
	E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_0));
	/* A spilled register, not an immediate store: the verifier must see the bound. */
	E(BPF_MOV64_IMM(BPF_REG_1, LIMIT_RETRIES));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, FP_KEY));

	BIND(l_retry);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_5, 0)); /* R1 = old state */
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_10, FP_MOD));
	EJ(BPF_JMP_IMM(BPF_JSLT, BPF_REG_1, 0, 0), l_init);
	/* No bucket yet: full credit, prev = now (the rule was just inserted). */
	E(BPF_MOV32_IMM(BPF_REG_3, (int32_t)p.credit));
	E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_2));
	EJ(BPF_JMP_A(0), l_have);
	BIND(l_init);
	E(BPF_MOV32_REG(BPF_REG_3, BPF_REG_1)); /* credit */
	E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_4, 32));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_4, 0x7fffffff)); /* prev */
	BIND(l_have);
	/* The kernel's fast path: nothing changes when short of credit within a jiffy. */
	EJ(BPF_JMP32_IMM(BPF_JGE, BPF_REG_3, (int32_t)p.cost, 0), l_slow);
	EJ(BPF_JMP_REG(BPF_JEQ, BPF_REG_4, BPF_REG_2, 0), l_miss);
	BIND(l_slow);
	/* credit += (now - prev) * CPJ, all u32 as in limit_mt(); then cap and cost. */
	E(BPF_MOV64_REG(BPF_REG_0, BPF_REG_2));
	E(BPF_ALU32_REG(BPF_SUB, BPF_REG_0, BPF_REG_4));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_0, 0x7fffffff));
	E(BPF_ALU32_IMM(BPF_MUL, BPF_REG_0, (int32_t)p.cpj));
	E(BPF_ALU32_REG(BPF_ADD, BPF_REG_3, BPF_REG_0));
	EJ(BPF_JMP32_IMM(BPF_JLE, BPF_REG_3, (int32_t)p.cap, 0), l_nocap);
	E(BPF_MOV32_IMM(BPF_REG_3, (int32_t)p.cap));
	BIND(l_nocap);
	E(BPF_MOV64_IMM(BPF_REG_4, 0));
	EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_3, (int32_t)p.cost, 0), l_calc);
	E(BPF_ALU32_IMM(BPF_SUB, BPF_REG_3, (int32_t)p.cost));
	E(BPF_MOV64_IMM(BPF_REG_4, 1));
	BIND(l_calc);
	/* new state = 1 << 63 | now << 32 | credit */
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_2, 32));
	E(BPF_ALU64_REG(BPF_OR, BPF_REG_3, BPF_REG_2));
	E(BPF_MOV64_IMM(BPF_REG_2, 1));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_2, 63));
	E(BPF_ALU64_REG(BPF_OR, BPF_REG_3, BPF_REG_2));
	E(BPF_MOV64_REG(BPF_REG_0, BPF_REG_1));
	E(BPF_ATOMIC_OP(BPF_DW, BPF_CMPXCHG, BPF_REG_5, BPF_REG_3, 0));
	EJ(BPF_JMP_REG(BPF_JNE, BPF_REG_0, BPF_REG_1, 0), l_lost);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_4, 0, 0), l_hit);
	EJ(BPF_JMP_A(0), l_miss);
	BIND(l_lost); /* another CPU changed the bucket: start over, as the kernel's loop */
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, FP_KEY));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, FP_KEY));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_retry);

	/* Leave the same stack on every path out, so the verifier can prune. */
	BIND(l_miss);
	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_KEY, 0));
	EJ(BPF_JMP_A(0), l_fail);
	BIND(l_hit);
	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_KEY, 0));
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_limit = {
	.name = "limit",
	.revisions = 1U << 0,
	.check = limit_check,
	.dump = limit_dump,
	.prepare = limit_prepare,
	.emit_match = limit_emit,
};
IPT2BPF_MOD_REGISTER(mod_limit);
