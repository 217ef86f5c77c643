// SPDX-License-Identifier: GPL-2.0
/*
 * -m connlimit, revision 1 (xt_connlimit.c: connlimit_mt()):
 *
 *	n = nf_conncount_count_skb(key = (saddr or daddr) & mask)
 *	n == 0: hotdrop; else match (n > limit) ^ (flags & XT_CONNLIMIT_INVERT)
 *
 * (--connlimit-upto is the inverted --connlimit-above.)  The counting is
 * the connection tracker's ct_count() (codegen/ct_bpf.c): nf_conncount's
 * per-key lists of the tuples of the connections the rule has seen, walked
 * against the tracker's table.  Each use of the match has its own lists (the
 * kernel's per-rule nf_conncount_data), keyed by its index among the uses;
 * a new rule set starts with empty ones, as in the kernel.
 *
 * A list remembers at most GEN_CL_SLOTS (256) tuples: a new connection
 * beyond that is counted (257) but not remembered, so limits from 256 to
 * 2^32 - 2 are refused (the answer could not be told apart), and after
 * more than 256 connections of one key are let through at once, later
 * counts can be lower than the kernel's (see the README notes).
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_connlimit.h>

#include "ct.h"
#include "gen_internal.h"
#include "m_util.h"

static const struct ipt2bpf_mod mod_connlimit;

static int connlimit_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			   const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_connlimit_info *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	/* 2^32 - 1 is exact all the same: no count is above it */
	if (i->limit >= GEN_CL_SLOTS && i->limit != UINT32_MAX) {
		snprintf(why, whylen,
			 "--connlimit-%s %u: limits of %u connections and more per address are "
			 "not supported (only 4294967295)",
			 i->flags & XT_CONNLIMIT_INVERT ? "upto" : "above", i->limit, GEN_CL_SLOTS);
		return -EOPNOTSUPP;
	}
	return 0; /* the kernel checks nothing else; other flag bits mean nothing to it */
}

static void connlimit_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_connlimit_info *i = data;
	uint32_t m = __builtin_bswap32(i->v4_mask);
	int plen = __builtin_popcount(m);

	(void)len, (void)revision;
	fprintf(f, "--connlimit-%s %u", i->flags & XT_CONNLIMIT_INVERT ? "upto" : "above",
		i->limit);
	if (plen == 32 || m == ~0U << (32 - plen))
		fprintf(f, " --connlimit-mask %d", plen);
	else /* not from iptables (it takes a prefix length) */
		fprintf(f, " --connlimit-mask 0x%08x", m);
	fprintf(f, " --connlimit-%s", i->flags & XT_CONNLIMIT_DADDR ? "daddr" : "saddr");
}

static int connlimit_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			     uint8_t revision)
{
	struct gen_mslots *s = NULL;
	void **priv;
	int err;

	(void)ti, (void)idx, (void)data, (void)revision;
	err = gen_ct_use_connlimit(g);
	if (!err)
		err = gen_mod_use(g, &mod_connlimit, &priv);
	if (err || *priv)
		return err;
	err = gen_mslots_build(g, &mod_connlimit, &s);
	if (err)
		return err;
	*priv = s;
	return 0;
}

#define SCR(f) ((int16_t)offsetof(struct gen_ct_scratch, f))

static int connlimit_emit(struct gen *g, unsigned int ti, unsigned int idx,
			  const struct ipt2bpf_match *m, int l_fail)
{
	const struct xt_connlimit_info *i = m->data;
	bool daddr = i->flags & XT_CONNLIMIT_DADDR, inv = i->flags & XT_CONNLIMIT_INVERT;
	int l_counted = LABEL(), err, slot;
	void **priv;

	if (gen_mod_use(g, &mod_connlimit, &priv) || !*priv)
		return ipt2bpf_diag_set(g->diag, -EINVAL, "connlimit: not prepared");
	slot = gen_mslot(*priv, m->data);
	if (slot < 0)
		return gen_refuse(g, ti, idx, "match 'connlimit': internal error (no slot)");
	/* The key: this use, the masked address (zone 0). */
	err = gen_ct_emit_scratch(g, BPF_REG_0, l_fail);
	if (err)
		return err;
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, SCR(cl_key.rule), slot));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, daddr ? PKT(daddr) : PKT(saddr)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)gen_u32(&i->v4_mask)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, SCR(cl_key.addr)));
	err = gen_ct_emit_count(g);
	if (err)
		return err;
	/* "kmalloc failed or tuple couldn't be found, drop it entirely" */
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_counted);
	gen_verdict_exit(g, GEN_V_DROP);
	BIND(l_counted);
	EJ(BPF_JMP32_IMM(inv ? BPF_JGT : BPF_JLE, BPF_REG_0, (int32_t)i->limit, 0), l_fail);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_connlimit = {
	.name = "connlimit",
	.revisions = 1U << 1,
	.check = connlimit_check,
	.dump = connlimit_dump,
	.prepare = connlimit_prepare,
	.emit_match = connlimit_emit,
};
IPT2BPF_MOD_REGISTER(mod_connlimit);
