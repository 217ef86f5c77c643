// SPDX-License-Identifier: GPL-2.0
/*
 * -m quota (xt_quota.c, revision 0).  The kernel keeps the remaining quota
 * per rule under a spinlock: a packet of len bytes matches if quota >= len
 * and takes len from it, else the quota drops to 0 for good.  The same
 * decisions follow from one atomic fetch-and-add of the bytes offered so
 * far (C, starting at 0): a packet matches iff C + len <= quota.  Once one
 * packet failed, C has passed quota - len + 1 >= ... every later packet
 * fails too, as after the kernel zeroes the quota (packets are never empty).
 * len is skb->len at the hook, the IP datagram's length (tot_len).
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_quota.h>

#include "gen_internal.h"
#include "m_util.h"

#define QUOTA_MAP "ipt_quota"

static const struct ipt2bpf_mod mod_quota;

static int quota_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		       const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_quota_info *q = data;

	(void)t, (void)e, (void)len, (void)revision;
	if (q->flags & ~XT_QUOTA_MASK) { /* quota_mt_check(): -EINVAL */
		snprintf(why, whylen, "unknown flags 0x%x (the kernel refuses it: EINVAL)",
			 q->flags);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void quota_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_quota_info *q = data;

	(void)len, (void)revision;
	fprintf(f, "%s--quota %llu", (q->flags & XT_QUOTA_INVERT) ? "! " : "",
		(unsigned long long)q->quota);
}

static int quota_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			 uint8_t revision)
{
	struct gen_mslots *s = NULL;
	void **priv;
	int err;

	(void)ti, (void)idx, (void)data, (void)revision;
	err = gen_mod_use(g, &mod_quota, &priv);
	if (err || *priv)
		return err;
	err = gen_mslots_build(g, &mod_quota, &s);
	if (err)
		return err;
	*priv = s;
	err = gen_map_get(g, QUOTA_MAP, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(uint64_t),
			  s->n, 0, false);
	return err < 0 ? err : 0;
}

static int quota_emit(struct gen *g, unsigned int ti, unsigned int idx,
		      const struct ipt2bpf_match *m, int l_fail)
{
	const struct xt_quota_info *q = m->data;
	bool inv = q->flags & XT_QUOTA_INVERT;
	int l_hit = LABEL(), l_miss = LABEL(), l_done = LABEL();
	void **priv;
	int slot;

	if (gen_mod_use(g, &mod_quota, &priv) || !*priv)
		return ipt2bpf_diag_set(g->diag, -EINVAL, "quota: not prepared");
	slot = gen_mslot(*priv, m->data);
	if (slot < 0)
		return gen_refuse(g, ti, idx, "match 'quota': internal error (no slot)");
	gen_array_elem(g, (unsigned int)ipt2bpf_progset_find_map(g->ps, QUOTA_MAP), (uint32_t)slot,
		       l_miss);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(tot_len)));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_2));
	E(BPF_ATOMIC_OP(BPF_DW, BPF_ADD | BPF_FETCH, BPF_REG_0, BPF_REG_1, 0));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_2));	   /* C + len */
	EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_1, BPF_REG_2, 0), l_miss); /* wrapped past 2^64 */
	gen_ld_imm64(g, BPF_REG_3, q->quota);
	EJ(BPF_JMP_REG(BPF_JLE, BPF_REG_1, BPF_REG_3, 0), l_hit);
	EJ(BPF_JMP_A(0), l_miss);
	BIND(l_hit);
	EJ(BPF_JMP_A(0), inv ? l_fail : l_done);
	BIND(l_miss);
	if (!inv)
		EJ(BPF_JMP_A(0), l_fail);
	BIND(l_done);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_quota = {
	.name = "quota",
	.revisions = 1U << 0,
	.check = quota_check,
	.dump = quota_dump,
	.prepare = quota_prepare,
	.emit_match = quota_emit,
};
IPT2BPF_MOD_REGISTER(mod_quota);
