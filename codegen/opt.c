// SPDX-License-Identifier: GPL-2.0
/*
 * The optimiser (opt.h): plans, per table, which stretches of a chain become
 * hash/LPM runs or decision-tree classifiers, builds their map contents, and
 * emits their code when gen_rule.c reaches their first entry.
 *
 * A stretch is a sequence of rules of one chain that control flow can only
 * enter at its first rule: it ends before any jump destination, hook entry
 * or underflow.  Within a stretch the plan is greedy: the longest run (at
 * least OPT_RUN_MIN rules) of rules that share everything but their key
 * fields and target, else the longest sequence of classifiable rules (at
 * least OPT_CLS_MIN), else one rule of straight-line code.  A stretch that
 * this cuts into many pieces is classified as a whole when that costs less.
 *
 * Registers and stack in the code emitted into chain functions: R6 is the
 * packet (struct gen_pkt) as everywhere; R0-R5 scratch; the lookup key and
 * the index found live in OPT_FP_KEY (16 bytes below FP_IFKEY, inside the
 * 32-byte frame of every subprogram).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/icmp.h>
#include <linux/in.h>

#include "opt.h"

#define OPT_RUN_MIN    16 /* rules: a lookup costs about as much as that many failing rules */
#define OPT_CLS_MIN    48 /* rules: below this straight-line code is as fast as a tree */
#define OPT_COST_RULE  1  /* rough ns per failing straight-line rule, per run, per classifier */
#define OPT_COST_RUN   25
#define OPT_COST_CLS   120
#define OPT_MAX_VRULES 32 /* pieces of one expanded rule */
#define OPT_MAX_SLOTS  (8u << 20)
#define OPT_FP_KEY     (-32)
#define OPT_FP_RES     (-32)   /* the index found (the key is dead by then) */
#define OPT_FP_BEST    (-16)   /* classifier function: the best result so far */
#define OPT_TREES      4       /* source wide or not, destination wide or not */
#define OPT_WIDE       0xffffu /* an address range wider than a /16 */

/* Key fields of a run. */
#define K_SRC 0x1
#define K_DST 0x2
#define K_SP  0x4
#define K_DP  0x8

enum seg_kind { SEG_HASH, SEG_LPM, SEG_CLS };

struct seg_tree {
	uint32_t root, first_res; /* first_res: the result of its first rule, action 0 */
	uint8_t depth, leaf;	  /* levels above its deepest leaf, its largest leaf */
	struct opt_slot top;	  /* the root's slot, emitted as constants */
};

struct opt_seg {
	enum seg_kind kind;
	unsigned int ti, first, end; /* entries [first, end) */
	/* runs */
	unsigned int keys, lpm; /* K_*; lpm: the prefix field (K_SRC or K_DST) */
	uint32_t smask, dmask;	/* network order: the masks hash keys take */
	uint32_t id;
	unsigned int rep; /* an entry with the run's target (its first) */
	struct ipt2bpf_entry tmpl;
	/* classifier: trees of rules of similar size (EffiCuts), queried in order */
	struct seg_tree trees[OPT_TREES];
	unsigned int n_trees;
	uint32_t d_first, d_n;
	struct {
		uint8_t proto, need;
	} needs[8];
	unsigned int n_needs;
	bool tcp_frag1; /* some rule has a tcp match: offset-1 fragments hotdrop */
	unsigned int act_rep[OPT_A_MAX + 1];
	unsigned int n_act;
	char name[48];
};

struct kv {
	unsigned char *keys;
	uint32_t *vals;
	uint32_t n, cap, klen;
	uint32_t *slot; /* open addressing: index + 1, 0 empty */
	uint32_t n_slot;
};

struct opt_table {
	bool planned;
	int *seg_at; /* per entry: the segment starting there, -1 */
	struct opt_seg *segs;
	unsigned int n_segs, cap_segs;
	struct kv hash, lpm;
	struct opt_tree tree;
	struct opt_desc *desc;
	uint32_t n_desc, cap_desc;
	uint32_t next_run;
	int map_hash, map_lpm, map_node, map_cand, map_desc;
	char slow_name[48];
};

struct gen_opt {
	struct opt_table t[2];
};

/* ------------------------------------------------------------ small tables */

static uint32_t kv_hash(const unsigned char *k, uint32_t len)
{
	uint32_t h = 2166136261u;

	for (uint32_t i = 0; i < len; i++)
		h = (h ^ k[i]) * 16777619u;
	return h ^ (h >> 15);
}

static int kv_rehash(struct kv *t, uint32_t n_slot)
{
	uint32_t *s = calloc(n_slot, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->n; i++) {
		uint32_t h = kv_hash(t->keys + (size_t)i * t->klen, t->klen) & (n_slot - 1);

		while (s[h])
			h = (h + 1) & (n_slot - 1);
		s[h] = i + 1;
	}
	free(t->slot);
	t->slot = s;
	t->n_slot = n_slot;
	return 0;
}

/* The value of key k, or UINT32_MAX. */
static uint32_t kv_get(const struct kv *t, const void *k)
{
	uint32_t h;

	if (!t->n_slot)
		return UINT32_MAX;
	h = kv_hash(k, t->klen) & (t->n_slot - 1);
	for (; t->slot[h]; h = (h + 1) & (t->n_slot - 1))
		if (!memcmp(t->keys + (size_t)(t->slot[h] - 1) * t->klen, k, t->klen))
			return t->vals[t->slot[h] - 1];
	return UINT32_MAX;
}

/* Adds k -> v unless k is there already (the first rule wins). */
static int kv_add(struct kv *t, const void *k, uint32_t v)
{
	uint32_t h;

	if (kv_get(t, k) != UINT32_MAX)
		return 0;
	if (t->n == t->cap) {
		uint32_t ncap = t->cap ? 2 * t->cap : 256;
		unsigned char *nk = realloc(t->keys, (size_t)ncap * t->klen);
		uint32_t *nv;

		if (!nk)
			return -ENOMEM;
		t->keys = nk;
		nv = realloc(t->vals, (size_t)ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		t->vals = nv;
		t->cap = ncap;
	}
	if (2 * (t->n + 1) > t->n_slot) {
		int err = kv_rehash(t, t->n_slot ? 2 * t->n_slot : 512);

		if (err)
			return err;
	}
	memcpy(t->keys + (size_t)t->n * t->klen, k, t->klen);
	t->vals[t->n] = v;
	h = kv_hash(k, t->klen) & (t->n_slot - 1);
	while (t->slot[h])
		h = (h + 1) & (t->n_slot - 1);
	t->slot[h] = ++t->n;
	return 0;
}

static void kv_free(struct kv *t)
{
	free(t->keys);
	free(t->vals);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------ rule analysis */

static bool mask_contiguous(uint32_t m_net)
{
	uint32_t m = ntohl(m_net);

	return !(m & (~m >> 1)) || m == UINT32_MAX; /* 1...10...0 */
}

static bool is_comment(const struct ipt2bpf_match *m)
{
	return m->kind == IPT2BPF_M_COMMENT;
}

static bool is_guarded(const struct ipt2bpf_match *m)
{
	return m->kind == IPT2BPF_M_TCP || m->kind == IPT2BPF_M_UDP || m->kind == IPT2BPF_M_ICMP ||
	       m->kind == IPT2BPF_M_MULTIPORT;
}

/* The entry's only transport (guarded) match, NULL if none; *many if more than one. */
static const struct ipt2bpf_match *l4_match(const struct ipt2bpf_entry *e, bool *many)
{
	const struct ipt2bpf_match *found = NULL;

	*many = false;
	for (unsigned int i = 0; i < e->n_matches; i++) {
		if (!is_guarded(&e->matches[i]))
			continue;
		if (found)
			*many = true;
		found = &e->matches[i];
	}
	return found;
}

static bool has_mod_match(const struct ipt2bpf_entry *e)
{
	for (unsigned int i = 0; i < e->n_matches; i++)
		if (e->matches[i].kind == IPT2BPF_M_MOD || e->matches[i].kind >= IPT2BPF_M__MAX)
			return true;
	return false;
}

/* Targets a run or classifier can take: all of them leave the sequence. */
static bool target_ok(const struct ipt2bpf_table *t, unsigned int idx)
{
	const struct ipt2bpf_target *tg = &t->entries[idx].target;

	switch (tg->kind) {
	case IPT2BPF_T_ACCEPT:
	case IPT2BPF_T_DROP:
	case IPT2BPF_T_RETURN:
		return true;
	case IPT2BPF_T_GOTO:
		return tg->target_entry != idx + 1 && tg->target_entry < t->n_entries;
	default:
		return false;
	}
}

static bool target_equal(const struct ipt2bpf_target *a, const struct ipt2bpf_target *b)
{
	if (a->kind != b->kind)
		return false;
	return (a->kind != IPT2BPF_T_JUMP && a->kind != IPT2BPF_T_GOTO) ||
	       a->target_entry == b->target_entry;
}

static bool port_exact(const uint16_t *pts, bool inv)
{
	return !inv && pts[0] == pts[1];
}

/* Fields of entry e usable as hash keys (K_*) and as the LPM prefix field. */
static unsigned int keyable(const struct ipt2bpf_entry *e, unsigned int *lpm_ok)
{
	const struct ipt_ip *ip = &e->ip;
	const struct ipt2bpf_match *l4;
	unsigned int k = 0;
	bool many;

	*lpm_ok = 0;
	if (!(ip->invflags & IPT_INV_SRCIP) && !(ip->src.s_addr & ~ip->smsk.s_addr)) {
		if (ip->smsk.s_addr)
			k |= K_SRC;
		if (mask_contiguous(ip->smsk.s_addr))
			*lpm_ok |= K_SRC;
	}
	if (!(ip->invflags & IPT_INV_DSTIP) && !(ip->dst.s_addr & ~ip->dmsk.s_addr)) {
		if (ip->dmsk.s_addr)
			k |= K_DST;
		if (mask_contiguous(ip->dmsk.s_addr))
			*lpm_ok |= K_DST;
	}
	l4 = l4_match(e, &many);
	if (l4 && !many) {
		if (l4->kind == IPT2BPF_M_TCP && !l4->u.tcp.option) {
			if (port_exact(l4->u.tcp.spts, l4->u.tcp.invflags & XT_TCP_INV_SRCPT))
				k |= K_SP;
			if (port_exact(l4->u.tcp.dpts, l4->u.tcp.invflags & XT_TCP_INV_DSTPT))
				k |= K_DP;
		} else if (l4->kind == IPT2BPF_M_UDP) {
			if (port_exact(l4->u.udp.spts, l4->u.udp.invflags & XT_UDP_INV_SRCPT))
				k |= K_SP;
			if (port_exact(l4->u.udp.dpts, l4->u.udp.invflags & XT_UDP_INV_DSTPT))
				k |= K_DP;
		}
	}
	return k;
}

/* Can the entry be part of a run at all (pure matches, a leaving target)? */
static bool run_ok(const struct ipt2bpf_table *t, unsigned int idx)
{
	const struct ipt2bpf_entry *e = &t->entries[idx];

	return e->role == IPT2BPF_E_RULE && !gen_entry_always(e) && !has_mod_match(e) &&
	       e->target.kind != IPT2BPF_T_MOD && target_ok(t, idx);
}

/*
 * Run kinds: hash with key fields K (masks uniform), or LPM with prefix field
 * F (its mask may differ; the other address, if in K, uniform).
 */
struct run_kind {
	unsigned int keys, lpm;
};

static const struct run_kind run_kinds[] = {
	{K_SRC, 0},
	{K_DST, 0},
	{K_SRC | K_DST, 0},
	{K_DP, 0},
	{K_SP, 0},
	{K_SP | K_DP, 0},
	{K_SRC | K_DP, 0},
	{K_DST | K_DP, 0},
	{K_SRC | K_SP, 0},
	{K_DST | K_SP, 0},
	{K_SRC | K_DST | K_DP, 0},
	{K_SRC | K_DST | K_SP, 0},
	{K_SRC | K_SP | K_DP, 0},
	{K_DST | K_SP | K_DP, 0},
	{K_SRC | K_DST | K_SP | K_DP, 0},
	{K_SRC, K_SRC},
	{K_DST, K_DST},
	{K_SRC | K_DST, K_SRC},
	{K_SRC | K_DST, K_DST},
};

static bool kind_fits(const struct run_kind *rk, unsigned int keys, unsigned int lpm_ok)
{
	if (rk->lpm)
		return (lpm_ok & rk->lpm) && (keys & rk->keys & ~rk->lpm) == (rk->keys & ~rk->lpm);
	return (keys & rk->keys) == rk->keys;
}

static bool match_equal(const struct ipt2bpf_match *a, const struct ipt2bpf_match *b,
			unsigned int keys)
{
	if (a->kind != b->kind || a->revision != b->revision)
		return false;
	switch (a->kind) {
	case IPT2BPF_M_TCP: {
		const struct xt_tcp *x = &a->u.tcp, *y = &b->u.tcp;
		uint8_t inv =
			(keys & K_SP ? XT_TCP_INV_SRCPT : 0) | (keys & K_DP ? XT_TCP_INV_DSTPT : 0);

		return ((keys & K_SP) || !memcmp(x->spts, y->spts, sizeof(x->spts))) &&
		       ((keys & K_DP) || !memcmp(x->dpts, y->dpts, sizeof(x->dpts))) &&
		       x->option == y->option && x->flg_mask == y->flg_mask &&
		       x->flg_cmp == y->flg_cmp && (x->invflags & ~inv) == (y->invflags & ~inv);
	}
	case IPT2BPF_M_UDP: {
		const struct xt_udp *x = &a->u.udp, *y = &b->u.udp;
		uint8_t inv =
			(keys & K_SP ? XT_UDP_INV_SRCPT : 0) | (keys & K_DP ? XT_UDP_INV_DSTPT : 0);

		return ((keys & K_SP) || !memcmp(x->spts, y->spts, sizeof(x->spts))) &&
		       ((keys & K_DP) || !memcmp(x->dpts, y->dpts, sizeof(x->dpts))) &&
		       (x->invflags & ~inv) == (y->invflags & ~inv);
	}
	case IPT2BPF_M_ICMP:
		return a->u.icmp.type == b->u.icmp.type && a->u.icmp.code[0] == b->u.icmp.code[0] &&
		       a->u.icmp.code[1] == b->u.icmp.code[1] &&
		       a->u.icmp.invflags == b->u.icmp.invflags;
	case IPT2BPF_M_MULTIPORT:
		return !memcmp(&a->u.multiport, &b->u.multiport, sizeof(a->u.multiport));
	case IPT2BPF_M_IPRANGE:
		return a->u.iprange.flags == b->u.iprange.flags &&
		       a->u.iprange.src_min.ip == b->u.iprange.src_min.ip &&
		       a->u.iprange.src_max.ip == b->u.iprange.src_max.ip &&
		       a->u.iprange.dst_min.ip == b->u.iprange.dst_min.ip &&
		       a->u.iprange.dst_max.ip == b->u.iprange.dst_max.ip;
	default:
		return false;
	}
}

/* Do entries a and b differ only in the key fields of run kind rk (target included)? */
static bool run_compat(const struct ipt2bpf_entry *a, const struct ipt2bpf_entry *b,
		       const struct run_kind *rk)
{
	struct ipt_ip x = a->ip, y = b->ip;
	unsigned int i = 0, j = 0;

	if (!target_equal(&a->target, &b->target))
		return false;
	if (rk->keys & K_SRC) {
		x.src.s_addr = y.src.s_addr = 0;
		if (rk->lpm == K_SRC)
			x.smsk.s_addr = y.smsk.s_addr = 0;
	}
	if (rk->keys & K_DST) {
		x.dst.s_addr = y.dst.s_addr = 0;
		if (rk->lpm == K_DST)
			x.dmsk.s_addr = y.dmsk.s_addr = 0;
	}
	if (memcmp(&x, &y, sizeof(x)))
		return false;
	for (;;) {
		while (i < a->n_matches && is_comment(&a->matches[i]))
			i++;
		while (j < b->n_matches && is_comment(&b->matches[j]))
			j++;
		if (i == a->n_matches || j == b->n_matches)
			return i == a->n_matches && j == b->n_matches;
		if (!match_equal(&a->matches[i], &b->matches[j], rk->keys))
			return false;
		i++;
		j++;
	}
}

/* ------------------------------------------------------------ classifier rules */

struct rng {
	uint32_t lo, hi;
};

struct rlist {
	struct rng r[OPT_MAX_VRULES];
	unsigned int n;
	bool ok; /* false: more pieces than OPT_MAX_VRULES */
};

static void rl_add(struct rlist *l, uint32_t lo, uint32_t hi)
{
	if (lo > hi)
		return;
	if (l->n == OPT_MAX_VRULES) {
		l->ok = false;
		return;
	}
	l->r[l->n++] = (struct rng){lo, hi};
}

/* [lo, hi] ^ inv within [0, max]. */
static void rl_range(struct rlist *l, uint32_t lo, uint32_t hi, bool inv, uint32_t max)
{
	*l = (struct rlist){.ok = true};
	if (!inv) {
		rl_add(l, lo, hi);
		return;
	}
	if (lo > hi) {
		rl_add(l, 0, max);
		return;
	}
	if (lo > 0)
		rl_add(l, 0, lo - 1);
	if (hi < max)
		rl_add(l, hi + 1, max);
}

static void rl_intersect(struct rlist *a, const struct rlist *b)
{
	struct rlist out = {.ok = a->ok && b->ok};

	for (unsigned int i = 0; i < a->n; i++)
		for (unsigned int j = 0; j < b->n; j++) {
			uint32_t lo = a->r[i].lo > b->r[j].lo ? a->r[i].lo : b->r[j].lo;
			uint32_t hi = a->r[i].hi < b->r[j].hi ? a->r[i].hi : b->r[j].hi;

			rl_add(&out, lo, hi);
		}
	*a = out;
}

/* Ports of multiport ranges as ports_match_v1() walks them (what emit_multiport() does). */
static int mp_ranges(const struct xt_multiport_v1 *m, struct rlist *l)
{
	unsigned int count = m->count < XT_MULTI_PORTS ? m->count : XT_MULTI_PORTS;

	*l = (struct rlist){.ok = true};
	for (unsigned int i = 0; i < count; i++) {
		uint16_t s = m->ports[i], e = s;

		if (m->pflags[i]) {
			if (i + 1 >= XT_MULTI_PORTS)
				return -1; /* beyond the array: leave it to straight-line code */
			e = m->ports[++i];
		}
		rl_add(l, s, e);
	}
	return l->ok ? 0 : -1;
}

/* The complement of a union of ranges within [0, max]. */
static void rl_complement(struct rlist *l, uint32_t max)
{
	struct rlist out = {.ok = l->ok};
	uint64_t at = 0;

	/* sort (few entries) */
	for (unsigned int i = 1; i < l->n; i++)
		for (unsigned int j = i; j > 0 && l->r[j - 1].lo > l->r[j].lo; j--) {
			struct rng t = l->r[j];

			l->r[j] = l->r[j - 1];
			l->r[j - 1] = t;
		}
	for (unsigned int i = 0; i < l->n; i++) {
		if (l->r[i].lo > at)
			rl_add(&out, (uint32_t)at, l->r[i].lo - 1);
		if ((uint64_t)l->r[i].hi + 1 > at)
			at = (uint64_t)l->r[i].hi + 1;
	}
	if (at <= max)
		rl_add(&out, (uint32_t)at, max);
	*l = out;
}

/* Port ranges (sport, dport) of a transport match: pairs whose union is the match. */
struct pairs {
	struct rng sp[OPT_MAX_VRULES], dp[OPT_MAX_VRULES];
	unsigned int n;
	bool never; /* no port can match (the match still hotdrops) */
};

static int pairs_add(struct pairs *p, struct rng sp, struct rng dp)
{
	if (p->n == OPT_MAX_VRULES)
		return -1;
	p->sp[p->n] = sp;
	p->dp[p->n++] = dp;
	return 0;
}

static int pairs_product(struct pairs *p, const struct rlist *s, const struct rlist *d)
{
	if (!s->ok || !d->ok)
		return -1;
	for (unsigned int i = 0; i < s->n; i++)
		for (unsigned int j = 0; j < d->n; j++)
			if (pairs_add(p, s->r[i], d->r[j]))
				return -1;
	return 0;
}

static int port_pairs(const struct ipt2bpf_match *m, struct pairs *p)
{
	const struct rng full = {0, 65535};
	struct rlist s, d, u;

	memset(p, 0, sizeof(*p));
	if (!m) {
		return pairs_add(p, (struct rng){0, OPT_PORT_NONE}, (struct rng){0, OPT_PORT_NONE});
	}
	switch (m->kind) {
	case IPT2BPF_M_TCP:
		rl_range(&s, m->u.tcp.spts[0], m->u.tcp.spts[1],
			 m->u.tcp.invflags & XT_TCP_INV_SRCPT, 65535);
		rl_range(&d, m->u.tcp.dpts[0], m->u.tcp.dpts[1],
			 m->u.tcp.invflags & XT_TCP_INV_DSTPT, 65535);
		break;
	case IPT2BPF_M_UDP:
		rl_range(&s, m->u.udp.spts[0], m->u.udp.spts[1],
			 m->u.udp.invflags & XT_UDP_INV_SRCPT, 65535);
		rl_range(&d, m->u.udp.dpts[0], m->u.udp.dpts[1],
			 m->u.udp.invflags & XT_UDP_INV_DSTPT, 65535);
		break;
	case IPT2BPF_M_ICMP:
		return pairs_add(p, full, full);
	case IPT2BPF_M_MULTIPORT: {
		const struct xt_multiport_v1 *mp = &m->u.multiport;
		struct rlist all = {.ok = true};

		rl_add(&all, 0, 65535);
		if (mp_ranges(mp, &u))
			return -1;
		if (mp->flags == XT_MULTIPORT_SOURCE || mp->flags == XT_MULTIPORT_DESTINATION) {
			if (mp->invert)
				rl_complement(&u, 65535);
			if (mp->flags == XT_MULTIPORT_SOURCE)
				return pairs_product(p, &u, &all) ? -1 : (p->never = !p->n, 0);
			return pairs_product(p, &all, &u) ? -1 : (p->never = !p->n, 0);
		}
		if (mp->flags != XT_MULTIPORT_EITHER)
			return -1;
		if (!mp->invert) {
			if (pairs_product(p, &u, &all) || pairs_product(p, &all, &u))
				return -1;
		} else {
			rl_complement(&u, 65535);
			if (pairs_product(p, &u, &u))
				return -1;
		}
		p->never = !p->n;
		return 0;
	}
	default:
		return -1;
	}
	if (pairs_product(p, &s, &d))
		return -1;
	p->never = !p->n;
	return 0;
}

/*
 * One address field: the prefix (contiguous mask: ranges, inverted too) or a
 * non-contiguous mask (the whole range, checked in the descriptor), narrowed
 * by an iprange part.  *never: no address matches.
 */
static int addr_ranges(uint32_t addr_net, uint32_t msk_net, bool inv, bool have_r, uint32_t r_lo,
		       uint32_t r_hi, bool r_inv, struct rlist *l, bool *nc, bool *never)
{
	uint32_t a = ntohl(addr_net), m = ntohl(msk_net);

	*nc = false;
	*never = false;
	if (a & ~m) {
		/* (saddr & m) != a for every saddr */
		if (!inv) {
			*never = true;
			return 0;
		}
		rl_range(l, 0, UINT32_MAX, false, UINT32_MAX);
	} else if (!m) {
		if (inv) {
			*never = true;
			return 0;
		}
		rl_range(l, 0, UINT32_MAX, false, UINT32_MAX);
	} else if (mask_contiguous(msk_net)) {
		rl_range(l, a, a | ~m, inv, UINT32_MAX);
	} else {
		*nc = true;
		rl_range(l, 0, UINT32_MAX, false, UINT32_MAX);
	}
	if (have_r) {
		struct rlist r;

		rl_range(&r, r_lo, r_hi, r_inv, UINT32_MAX);
		rl_intersect(l, &r);
	}
	if (!l->ok)
		return -1;
	*never = !l->n;
	return 0;
}

/* Can the classifier take entry idx (exactly, with all its matches)? */
static bool cls_ok(struct gen *g, unsigned int ti, unsigned int idx)
{
	const struct ipt2bpf_entry *e = &g->tables[ti]->entries[idx];
	const struct ipt2bpf_match *l4;
	unsigned int ranges = 0;
	bool many;

	if (!run_ok(g->tables[ti], idx))
		return false;
	l4 = l4_match(e, &many);
	if (many || (l4 && l4->kind == IPT2BPF_M_TCP && l4->u.tcp.option))
		return false;
	for (unsigned int i = 0; i < e->n_matches; i++) {
		if (e->matches[i].kind != IPT2BPF_M_IPRANGE)
			continue;
		/*
		 * An iprange after the transport match is checked after its
		 * hotdrop: the ordered scan checks every range before it.
		 */
		if (l4 && l4 < &e->matches[i])
			return false;
		ranges++;
	}
	if (ranges > 1)
		return false;
	/* Interfaces: the preloaded pattern words only. */
	if ((g->ti[ti].in_pat[idx] >= 0 || g->ti[ti].out_pat[idx] >= 0) &&
	    (!g->if_preload || g->ti[ti].in_pat[idx] > 255 || g->ti[ti].out_pat[idx] > 255))
		return false;
	return true;
}

static int desc_push(struct opt_table *ot, const struct opt_desc *d)
{
	if (ot->n_desc == ot->cap_desc) {
		uint32_t ncap = ot->cap_desc ? 2 * ot->cap_desc : 1024;
		struct opt_desc *nd = realloc(ot->desc, ncap * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		ot->desc = nd;
		ot->cap_desc = ncap;
	}
	ot->desc[ot->n_desc++] = *d;
	return 0;
}

static int vr_push(struct opt_vrule **v, uint32_t *n, uint32_t *cap, const struct opt_vrule *r)
{
	if (*n == *cap) {
		uint32_t ncap = *cap ? 2 * *cap : 1024;
		struct opt_vrule *nv = realloc(*v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = *r;
	return 0;
}

/*
 * Descriptors (for the ordered scan) and boxes (for the tree) of entry idx.
 * Returns -EDOM when the entry is better left to straight-line code.
 */
static int expand(struct gen *g, unsigned int ti, unsigned int idx, uint8_t action,
		  struct opt_table *ot, struct opt_vrule **v, uint32_t *nv, uint32_t *cap_v)
{
	const struct ipt2bpf_entry *e = &g->tables[ti]->entries[idx];
	const struct ipt_ip *ip = &e->ip;
	const struct ipt2bpf_match *l4 = NULL, *ipr = NULL;
	struct opt_desc base = {0};
	struct rlist sl, dl, pl;
	struct pairs pp;
	bool many, snc, dnc, snever, dnever;
	int err;

	for (unsigned int i = 0; i < e->n_matches; i++)
		if (e->matches[i].kind == IPT2BPF_M_IPRANGE)
			ipr = &e->matches[i];
	l4 = l4_match(e, &many);
	err = addr_ranges(ip->src.s_addr, ip->smsk.s_addr, ip->invflags & IPT_INV_SRCIP,
			  ipr && (ipr->u.iprange.flags & IPRANGE_SRC),
			  ipr ? ntohl(ipr->u.iprange.src_min.ip) : 0,
			  ipr ? ntohl(ipr->u.iprange.src_max.ip) : 0,
			  ipr && (ipr->u.iprange.flags & IPRANGE_SRC_INV), &sl, &snc, &snever);
	if (!err)
		err = addr_ranges(ip->dst.s_addr, ip->dmsk.s_addr, ip->invflags & IPT_INV_DSTIP,
				  ipr && (ipr->u.iprange.flags & IPRANGE_DST),
				  ipr ? ntohl(ipr->u.iprange.dst_min.ip) : 0,
				  ipr ? ntohl(ipr->u.iprange.dst_max.ip) : 0,
				  ipr && (ipr->u.iprange.flags & IPRANGE_DST_INV), &dl, &dnc,
				  &dnever);
	if (err || port_pairs(l4, &pp))
		return -EDOM;
	/* Never matches before any transport match (no hotdrop either): nothing to do. */
	if (snever || dnever)
		return 0;
	if (ip->proto)
		rl_range(&pl, ip->proto, ip->proto, ip->invflags & IPT_INV_PROTO, 255);
	else
		rl_range(&pl, 0, 255, false, 255);
	if (!(ip->flags & IPT_F_FRAG) && (ip->invflags & IPT_INV_FRAG))
		return 0;
	base.result = idx << 8 | action;
	if (snc) {
		base.flags |= OPT_F_SNC | (ip->invflags & IPT_INV_SRCIP ? OPT_F_SNC_INV : 0);
		base.s_mask = ip->smsk.s_addr;
		base.s_net = ip->src.s_addr;
	}
	if (dnc) {
		base.flags |= OPT_F_DNC | (ip->invflags & IPT_INV_DSTIP ? OPT_F_DNC_INV : 0);
		base.d_mask = ip->dmsk.s_addr;
		base.d_net = ip->dst.s_addr;
	}
	if (g->ti[ti].in_pat[idx] >= 0) {
		base.flags |= OPT_F_IN | (ip->invflags & IPT_INV_VIA_IN ? OPT_F_IN_INV : 0);
		base.if_in = (uint8_t)g->ti[ti].in_pat[idx];
	} else if (ip->invflags & IPT_INV_VIA_IN) {
		return 0; /* an all-zero mask compares equal: only its negation fails */
	}
	if (g->ti[ti].out_pat[idx] >= 0) {
		base.flags |= OPT_F_OUT | (ip->invflags & IPT_INV_VIA_OUT ? OPT_F_OUT_INV : 0);
		base.if_out = (uint8_t)g->ti[ti].out_pat[idx];
	} else if (ip->invflags & IPT_INV_VIA_OUT) {
		return 0;
	}
	if (ip->flags & IPT_F_FRAG)
		base.flags |= ip->invflags & IPT_INV_FRAG ? OPT_F_NOFRAG : OPT_F_FRAG;
	if (l4) {
		switch (l4->kind) {
		case IPT2BPF_M_TCP:
			base.guard = GEN_L4_TCP | OPT_G_TCP;
			if (l4->u.tcp.flg_mask || l4->u.tcp.flg_cmp ||
			    (l4->u.tcp.invflags & XT_TCP_INV_FLAGS)) {
				base.flags |=
					OPT_F_FLAGS |
					(l4->u.tcp.invflags & XT_TCP_INV_FLAGS ? OPT_F_FL_INV : 0);
				base.fl_mask = l4->u.tcp.flg_mask;
				base.fl_cmp = l4->u.tcp.flg_cmp;
			}
			break;
		case IPT2BPF_M_UDP:
			base.guard = GEN_L4_8;
			break;
		case IPT2BPF_M_ICMP:
			base.guard = GEN_L4_8;
			base.flags |= OPT_F_ICMP |
				      (l4->u.icmp.invflags & IPT_ICMP_INV ? OPT_F_IC_INV : 0);
			base.ic_type = l4->u.icmp.type;
			base.ic_lo = l4->u.icmp.code[0];
			base.ic_hi = l4->u.icmp.code[1];
			break;
		default:
			base.guard = GEN_L4_4;
			break;
		}
	}
	if (pp.never) {
		/* Hotdrops, never matches: only the ordered scan needs it. */
		struct opt_desc d = base;

		d.s_lo = 0;
		d.s_hi = UINT32_MAX;
		d.d_lo = 0;
		d.d_hi = UINT32_MAX;
		d.p_lo = ip->proto;
		d.p_hi = ip->proto;
		d.sp_lo = 1;
		d.sp_hi = 0;
		/* the address and protocol ranges still decide whether it hotdrops */
		for (unsigned int a = 0; a < sl.n; a++)
			for (unsigned int b = 0; b < dl.n; b++)
				for (unsigned int c = 0; c < pl.n; c++) {
					d.s_lo = sl.r[a].lo;
					d.s_hi = sl.r[a].hi;
					d.d_lo = dl.r[b].lo;
					d.d_hi = dl.r[b].hi;
					d.p_lo = (uint8_t)pl.r[c].lo;
					d.p_hi = (uint8_t)pl.r[c].hi;
					err = desc_push(ot, &d);
					if (err)
						return err;
				}
		return 0;
	}
	if ((uint64_t)sl.n * dl.n * pl.n * pp.n > OPT_MAX_VRULES)
		return -EDOM;
	for (unsigned int a = 0; a < sl.n; a++)
		for (unsigned int b = 0; b < dl.n; b++)
			for (unsigned int c = 0; c < pl.n; c++)
				for (unsigned int q = 0; q < pp.n; q++) {
					struct opt_desc d = base;
					struct opt_vrule r = {
						.lo = {sl.r[a].lo, dl.r[b].lo, pp.sp[q].lo,
						       pp.dp[q].lo, pl.r[c].lo},
						.hi = {sl.r[a].hi, dl.r[b].hi, pp.sp[q].hi,
						       pp.dp[q].hi, pl.r[c].hi},
						.desc = ot->n_desc,
						.exact = !d.flags,
					};

					d.s_lo = sl.r[a].lo;
					d.s_hi = sl.r[a].hi;
					d.d_lo = dl.r[b].lo;
					d.d_hi = dl.r[b].hi;
					d.p_lo = (uint8_t)pl.r[c].lo;
					d.p_hi = (uint8_t)pl.r[c].hi;
					d.sp_lo = pp.sp[q].lo;
					d.sp_hi = pp.sp[q].hi;
					d.dp_lo = pp.dp[q].lo;
					d.dp_hi = pp.dp[q].hi;
					err = desc_push(ot, &d);
					if (!err)
						err = vr_push(v, nv, cap_v, &r);
					if (err)
						return err;
				}
	return 0;
}

/* ------------------------------------------------------------ building segments */

static int seg_new(struct opt_table *ot, struct opt_seg **out)
{
	if (ot->n_segs == ot->cap_segs) {
		unsigned int ncap = ot->cap_segs ? 2 * ot->cap_segs : 16;
		struct opt_seg *ns = realloc(ot->segs, ncap * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		ot->segs = ns;
		ot->cap_segs = ncap;
	}
	*out = &ot->segs[ot->n_segs];
	memset(*out, 0, sizeof(**out));
	return 0;
}

/* The run's template: its first entry without the key fields (own matches array). */
static int make_tmpl(const struct ipt2bpf_entry *rep, const struct run_kind *rk,
		     struct ipt2bpf_entry *tmpl)
{
	*tmpl = *rep;
	tmpl->matches = calloc(rep->n_matches ? rep->n_matches : 1, sizeof(*tmpl->matches));
	if (!tmpl->matches)
		return -ENOMEM;
	if (rep->n_matches)
		memcpy(tmpl->matches, rep->matches, rep->n_matches * sizeof(*tmpl->matches));
	if (rk->keys & K_SRC) {
		tmpl->ip.src.s_addr = 0;
		tmpl->ip.smsk.s_addr = 0;
	}
	if (rk->keys & K_DST) {
		tmpl->ip.dst.s_addr = 0;
		tmpl->ip.dmsk.s_addr = 0;
	}
	for (unsigned int i = 0; i < tmpl->n_matches; i++) {
		struct ipt2bpf_match *m = &tmpl->matches[i];

		if (m->kind == IPT2BPF_M_TCP) {
			if (rk->keys & K_SP) {
				m->u.tcp.spts[0] = 0;
				m->u.tcp.spts[1] = UINT16_MAX;
			}
			if (rk->keys & K_DP) {
				m->u.tcp.dpts[0] = 0;
				m->u.tcp.dpts[1] = UINT16_MAX;
			}
		} else if (m->kind == IPT2BPF_M_UDP) {
			if (rk->keys & K_SP) {
				m->u.udp.spts[0] = 0;
				m->u.udp.spts[1] = UINT16_MAX;
			}
			if (rk->keys & K_DP) {
				m->u.udp.dpts[0] = 0;
				m->u.udp.dpts[1] = UINT16_MAX;
			}
		}
	}
	return 0;
}

static void rule_ports(const struct ipt2bpf_entry *e, uint16_t *sp, uint16_t *dp)
{
	bool many;
	const struct ipt2bpf_match *m = l4_match(e, &many);

	*sp = *dp = 0;
	if (m && m->kind == IPT2BPF_M_TCP) {
		*sp = m->u.tcp.spts[0];
		*dp = m->u.tcp.dpts[0];
	} else if (m && m->kind == IPT2BPF_M_UDP) {
		*sp = m->u.udp.spts[0];
		*dp = m->u.udp.dpts[0];
	}
}

static void lkey_make(struct opt_lkey *k, uint32_t run, uint32_t other_net, uint32_t pfx_net,
		      unsigned int plen)
{
	uint32_t r = htonl(run);

	memset(k, 0, sizeof(*k));
	k->prefixlen = 64 + plen;
	memcpy(k->data, &r, 4);
	memcpy(k->data + 4, &other_net, 4);
	memcpy(k->data + 8, &pfx_net, 4);
}

static int build_run(struct gen *g, unsigned int ti, struct opt_table *ot, unsigned int first,
		     unsigned int end, const struct run_kind *rk)
{
	const struct ipt2bpf_table *t = g->tables[ti];
	const struct ipt2bpf_entry *rep = &t->entries[first];
	uint32_t from = rk->lpm ? ot->lpm.n : ot->hash.n;
	struct opt_seg *s;
	int err = seg_new(ot, &s);

	if (err)
		return err;
	ot->n_segs++; /* counted now: gen_opt_release() frees its template */
	s->kind = rk->lpm ? SEG_LPM : SEG_HASH;
	s->ti = ti;
	s->first = first;
	s->end = end;
	s->keys = rk->keys;
	s->lpm = rk->lpm;
	s->smask = rep->ip.smsk.s_addr;
	s->dmask = rep->ip.dmsk.s_addr;
	s->id = ot->next_run++;
	s->rep = first;
	err = make_tmpl(rep, rk, &s->tmpl);
	if (err)
		return err;
	for (unsigned int i = first; i < end && !err; i++) {
		const struct ipt2bpf_entry *e = &t->entries[i];
		uint16_t sp, dp;

		rule_ports(e, &sp, &dp);
		if (rk->lpm) {
			struct opt_lkey k;
			bool src = rk->lpm == K_SRC;
			uint32_t other = src ? (rk->keys & K_DST ? e->ip.dst.s_addr : 0)
					     : (rk->keys & K_SRC ? e->ip.src.s_addr : 0);

			lkey_make(&k, s->id, other, src ? e->ip.src.s_addr : e->ip.dst.s_addr,
				  (unsigned int)__builtin_popcount(src ? e->ip.smsk.s_addr
								       : e->ip.dmsk.s_addr));
			err = kv_add(&ot->lpm, &k, i);
			continue;
		}
		struct opt_hkey k = {
			.run = s->id,
			.saddr = rk->keys & K_SRC ? e->ip.src.s_addr : 0,
			.daddr = rk->keys & K_DST ? e->ip.dst.s_addr : 0,
			.sport = rk->keys & K_SP ? sp : 0,
			.dport = rk->keys & K_DP ? dp : 0,
		};

		err = kv_add(&ot->hash, &k, i);
		if (!err && (rk->keys & (K_SP | K_DP)) && (rk->keys & (K_SRC | K_DST))) {
			/* Whether some rule's addresses match: its transport match may hotdrop. */
			k.run |= OPT_RUN_PRESENCE;
			k.sport = k.dport = 0;
			err = kv_add(&ot->hash, &k, i);
		}
	}
	if (!err && rk->lpm) {
		/* A prefix's value: the first rule among the prefixes containing it. */
		uint32_t n = ot->lpm.n - from, *val = malloc((n ? n : 1) * sizeof(*val));

		if (!val)
			return -ENOMEM;
		for (uint32_t j = 0; j < n; j++) {
			struct opt_lkey k;
			uint32_t pfx, best = ot->lpm.vals[from + j];

			memcpy(&k, ot->lpm.keys + (size_t)(from + j) * sizeof(k), sizeof(k));
			memcpy(&pfx, k.data + 8, 4);
			for (unsigned int l = 0; l < k.prefixlen - 64; l++) {
				struct opt_lkey a = k;
				uint32_t m = l ? htonl(~0u << (32 - l)) : 0, p = pfx & m, v;

				a.prefixlen = 64 + l;
				memcpy(a.data + 8, &p, 4);
				v = kv_get(&ot->lpm, &a);
				if (v < best)
					best = v;
			}
			val[j] = best;
		}
		for (uint32_t j = 0; j < n; j++)
			ot->lpm.vals[from + j] = val[j];
		free(val);
	}
	return err;
}

static uint8_t action_of(const struct ipt2bpf_entry *e)
{
	switch (e->target.kind) {
	case IPT2BPF_T_ACCEPT:
		return OPT_A_ACCEPT;
	case IPT2BPF_T_DROP:
		return OPT_A_DROP;
	case IPT2BPF_T_RETURN:
		return OPT_A_RETURN;
	default:
		break;
	}
	return OPT_A_GOTO; /* the caller finds the destination's code */
}

/*
 * A classifier for entries [first, end).  -EDOM with *bad: that entry cannot
 * be expanded; -E2BIG: no tree within the limits.
 */
static int build_cls(struct gen *g, unsigned int ti, struct opt_table *ot, unsigned int first,
		     unsigned int end, unsigned int *bad)
{
	const struct ipt2bpf_table *t = g->tables[ti];
	uint32_t d_first = ot->n_desc, nv = 0, cap_v = 0, root, slots = ot->tree.n_slots;
	uint32_t cands = ot->tree.n_cand;
	struct opt_vrule *v = NULL, *part = NULL;
	struct opt_seg *s;
	int err = seg_new(ot, &s);

	if (err)
		return err;
	s->kind = SEG_CLS;
	s->ti = ti;
	s->first = first;
	s->end = end;
	s->n_act = OPT_A_GOTO;
	for (unsigned int a = 0; a < OPT_A_GOTO; a++)
		s->act_rep[a] = UINT32_MAX;
	for (unsigned int i = first; i < end; i++) {
		const struct ipt2bpf_entry *e = &t->entries[i];
		unsigned int a = action_of(e);

		if (a == OPT_A_GOTO) {
			for (a = OPT_A_GOTO; a < s->n_act; a++)
				if (t->entries[s->act_rep[a]].target.target_entry ==
				    e->target.target_entry)
					break;
			if (a == s->n_act) {
				if (a > OPT_A_MAX) {
					*bad = i;
					err = -EDOM;
					goto fail;
				}
				s->act_rep[s->n_act++] = i;
			}
		} else if (s->act_rep[a] == UINT32_MAX) {
			s->act_rep[a] = i;
		}
		err = expand(g, ti, i, (uint8_t)a, ot, &v, &nv, &cap_v);
		if (err == -EDOM)
			*bad = i;
		if (err)
			goto fail;
	}
	part = malloc((nv ? nv : 1) * sizeof(*part));
	if (!part) {
		err = -ENOMEM;
		goto fail;
	}
	/*
	 * Rules wide in an address field would be repeated in every leaf a cut of
	 * that field makes: one tree per combination of wide and narrow fields.
	 */
	for (unsigned int cat = 0; cat < OPT_TREES && !err; cat++) {
		uint32_t n = 0;

		for (uint32_t i = 0; i < nv; i++) {
			unsigned int c = (v[i].hi[OPT_D_SRC] - v[i].lo[OPT_D_SRC] > OPT_WIDE) |
					 (v[i].hi[OPT_D_DST] - v[i].lo[OPT_D_DST] > OPT_WIDE) << 1;

			if (c == cat)
				part[n++] = v[i];
		}
		if (!n)
			continue;
		err = opt_tree_build(&ot->tree, part, n, &root);
		if (err)
			break;
		s->trees[s->n_trees].root = root;
		s->trees[s->n_trees].first_res = (ot->desc[part[0].desc].result >> 8) << 8;
		s->trees[s->n_trees].depth = (uint8_t)ot->tree.depth;
		s->trees[s->n_trees].leaf = (uint8_t)ot->tree.max_leaf;
		s->trees[s->n_trees].top = ot->tree.slots[root];
		s->n_trees++;
	}
	if (err)
		goto fail;
	/* the tree with the earliest rule first: later ones may then be skipped */
	for (unsigned int i = 1; i < s->n_trees; i++)
		for (unsigned int j = i; j > 0 && s->trees[j - 1].first_res > s->trees[j].first_res;
		     j--) {
			struct seg_tree x = s->trees[j];

			s->trees[j] = s->trees[j - 1];
			s->trees[j - 1] = x;
		}
	s->d_first = d_first;
	s->d_n = ot->n_desc - d_first;
	for (uint32_t i = d_first; i < ot->n_desc; i++) {
		const struct opt_desc *d = &ot->desc[i];
		uint8_t need = d->guard & ~OPT_G_TCP;
		unsigned int k;

		if (!d->guard)
			continue;
		if (d->guard & OPT_G_TCP)
			s->tcp_frag1 = true;
		for (k = 0; k < s->n_needs && s->needs[k].proto != d->p_lo; k++)
			;
		if (k == s->n_needs) {
			if (k == sizeof(s->needs) / sizeof(s->needs[0])) {
				err = -E2BIG; /* too many protocols: smaller classifiers */
				goto fail;
			}
			s->needs[s->n_needs++].proto = d->p_lo;
		}
		if (need > s->needs[k].need)
			s->needs[k].need = need;
	}
	free(v);
	free(part);
	ot->n_segs++;
	return 0;
fail:
	free(v);
	free(part);
	ot->n_desc = d_first;
	ot->tree.n_slots = slots;
	ot->tree.n_cand = cands;
	return err;
}

/* A classifier for [first, end), or smaller ones around what cannot be classified. */
static int add_cls(struct gen *g, unsigned int ti, struct opt_table *ot, unsigned int first,
		   unsigned int end)
{
	unsigned int bad = first, mid;
	int err;

	if (end - first < OPT_CLS_MIN)
		return 0;
	err = build_cls(g, ti, ot, first, end, &bad);
	if (err && getenv("IPT2BPF_OPT_DEBUG"))
		fprintf(stderr, "optimiser: no classifier for entries %u..%u: %s (entry %u)\n",
			first, end - 1, strerror(-err), bad);
	if (err == -EDOM) {
		err = add_cls(g, ti, ot, first, bad);
		return err ? err : add_cls(g, ti, ot, bad + 1, end);
	}
	if (err != -E2BIG)
		return err;
	mid = first + (end - first) / 2;
	err = add_cls(g, ti, ot, first, mid);
	return err ? err : add_cls(g, ti, ot, mid, end);
}

/* ------------------------------------------------------------ planning */

enum piece_kind { P_LINE, P_RUN, P_CLS };

struct piece {
	enum piece_kind kind;
	unsigned int first, end;
	int rk; /* P_RUN: index into run_kinds */
};

static int plan_stretch(struct gen *g, unsigned int ti, struct opt_table *ot, unsigned int a,
			unsigned int b)
{
	const struct ipt2bpf_table *t = g->tables[ti];
	unsigned int n = b - a, np = 0;
	unsigned int *blen = calloc(n, sizeof(*blen)), *keys = calloc(n, sizeof(*keys));
	unsigned int *lpm = calloc(n, sizeof(*lpm));
	int *bkind = calloc(n, sizeof(*bkind));
	bool *cls = calloc(n, sizeof(*cls));
	struct piece *pc = calloc(n, sizeof(*pc));
	int err = 0;

	if (!blen || !keys || !lpm || !bkind || !cls || !pc) {
		err = -ENOMEM;
		goto out;
	}
	for (unsigned int i = 0; i < n; i++) {
		bool ok = run_ok(t, a + i);

		keys[i] = ok ? keyable(&t->entries[a + i], &lpm[i]) : 0;
		if (!ok)
			lpm[i] = 0;
		cls[i] = ok && cls_ok(g, ti, a + i);
	}
	/* The longest run from each rule, over every run kind (hash kinds first: ties prefer them).
	 */
	for (unsigned int k = 0; k < sizeof(run_kinds) / sizeof(run_kinds[0]); k++) {
		const struct run_kind *rk = &run_kinds[k];
		unsigned int len = 0;

		for (unsigned int i = n; i-- > 0;) {
			if (!kind_fits(rk, keys[i], lpm[i]))
				len = 0;
			else if (len && run_compat(&t->entries[a + i], &t->entries[a + i + 1], rk))
				len++;
			else
				len = 1;
			if (len > blen[i]) {
				blen[i] = len;
				bkind[i] = (int)k;
			}
		}
	}
	for (unsigned int i = 0; i < n;) {
		if (blen[i] >= OPT_RUN_MIN) {
			pc[np++] = (struct piece){P_RUN, a + i, a + i + blen[i], bkind[i]};
			i += blen[i];
			continue;
		}
		if (cls[i]) {
			unsigned int j = i;

			while (j < n && cls[j] && blen[j] < OPT_RUN_MIN)
				j++;
			if (j - i >= OPT_CLS_MIN) {
				pc[np++] = (struct piece){P_CLS, a + i, a + j, -1};
				i = j;
				continue;
			}
		}
		pc[np++] = (struct piece){P_LINE, a + i, a + i + 1, -1};
		i++;
	}
	/* A classifiable stretch cut into many pieces: one classifier when that is cheaper. */
	for (unsigned int i = 0; i < n;) {
		unsigned int j = i, cost = 0;
		bool straddle = false;

		if (!cls[i]) {
			i++;
			continue;
		}
		while (j < n && cls[j])
			j++;
		for (unsigned int p = 0; p < np; p++) {
			if (pc[p].end <= a + i || pc[p].first >= a + j)
				continue;
			if (pc[p].first < a + i || pc[p].end > a + j)
				straddle = true;
			cost += pc[p].kind == P_LINE  ? OPT_COST_RULE
				: pc[p].kind == P_RUN ? OPT_COST_RUN
						      : OPT_COST_CLS;
		}
		if (!straddle && j - i >= OPT_CLS_MIN && cost > OPT_COST_CLS) {
			unsigned int q = 0;

			for (unsigned int p = 0; p < np; p++) {
				if (pc[p].first >= a + i && pc[p].end <= a + j)
					continue;
				pc[q++] = pc[p];
			}
			np = q;
			pc[np++] = (struct piece){P_CLS, a + i, a + j, -1};
		}
		i = j;
	}
	for (unsigned int p = 0; p < np && !err; p++) {
		if (pc[p].kind == P_RUN)
			err = build_run(g, ti, ot, pc[p].first, pc[p].end, &run_kinds[pc[p].rk]);
		else if (pc[p].kind == P_CLS)
			err = add_cls(g, ti, ot, pc[p].first, pc[p].end);
	}
out:
	free(blen);
	free(keys);
	free(lpm);
	free(bkind);
	free(cls);
	free(pc);
	return err;
}

static bool is_hook_entry(const struct ipt2bpf_table *t, unsigned int idx)
{
	for (unsigned int h = 0; h < IPT2BPF_NUM_HOOKS; h++)
		if ((t->valid_hooks & (1U << h)) &&
		    (t->hook_entry[h] == idx || t->underflow[h] == idx))
			return true;
	return false;
}

static bool stretch_member(const struct ipt2bpf_table *t, unsigned int idx)
{
	const struct ipt2bpf_entry *e = &t->entries[idx];

	return e->role == IPT2BPF_E_RULE && !gen_entry_always(e);
}

static int map_add(struct gen *g, const char *prefix, unsigned int ti, enum bpf_map_type type,
		   uint32_t key, uint32_t value, uint32_t n, uint32_t flags, void *keys, void *vals)
{
	char name[BPF_OBJ_NAME_LEN];
	int id;

	snprintf(name, sizeof(name), "%.6s_%.8s", prefix, g->tables[ti]->name);
	id = gen_map_get(g, name, type, key, value, n, flags, false);
	if (id < 0) {
		free(keys);
		free(vals);
		return id;
	}
	g->ps->maps[id].init_keys = keys;
	g->ps->maps[id].init_values = vals;
	g->ps->maps[id].n_init = n;
	return id;
}

static int table_maps(struct gen *g, unsigned int ti, struct opt_table *ot)
{
	int id;

	ot->map_hash = ot->map_lpm = ot->map_node = ot->map_cand = ot->map_desc = -1;
	if (ot->hash.n) {
		id = map_add(g, "ipt_oh", ti, BPF_MAP_TYPE_HASH, sizeof(struct opt_hkey),
			     sizeof(uint32_t), ot->hash.n, 0, ot->hash.keys, ot->hash.vals);
		ot->hash.keys = NULL;
		ot->hash.vals = NULL;
		if (id < 0)
			return id;
		ot->map_hash = id;
	}
	if (ot->lpm.n) {
		id = map_add(g, "ipt_ol", ti, BPF_MAP_TYPE_LPM_TRIE, sizeof(struct opt_lkey),
			     sizeof(uint32_t), ot->lpm.n, BPF_F_NO_PREALLOC, ot->lpm.keys,
			     ot->lpm.vals);
		ot->lpm.keys = NULL;
		ot->lpm.vals = NULL;
		if (id < 0)
			return id;
		ot->map_lpm = id;
	}
	if (ot->tree.n_slots) {
		id = map_add(g, "ipt_on", ti, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
			     sizeof(struct opt_slot), ot->tree.n_slots, 0, NULL, ot->tree.slots);
		ot->tree.slots = NULL;
		if (id < 0)
			return id;
		ot->map_node = id;
		/* The candidates' descriptors in leaf order: one lookup per candidate. */
		struct opt_desc *cd = calloc(ot->tree.n_cand ? ot->tree.n_cand : 1, sizeof(*cd));

		if (!cd)
			return -ENOMEM;
		for (uint32_t i = 0; i < ot->tree.n_cand; i++)
			cd[i] = ot->desc[ot->tree.cand[i]];
		id = map_add(g, "ipt_oc", ti, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
			     sizeof(struct opt_desc), ot->tree.n_cand ? ot->tree.n_cand : 1, 0,
			     NULL, cd);
		if (id < 0)
			return id;
		if (!ot->tree.n_cand)
			g->ps->maps[id].n_init = 0;
		ot->map_cand = id;
		id = map_add(g, "ipt_od", ti, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
			     sizeof(struct opt_desc), ot->n_desc, 0, NULL, ot->desc);
		ot->desc = NULL;
		if (id < 0)
			return id;
		ot->map_desc = id;
	}
	return 0;
}

/* IPT2BPF_OPT_DEBUG=1: the plan on stderr. */
static void plan_dump(struct gen *g, unsigned int ti, const struct opt_table *ot)
{
	static const char *const kinds[] = {"hash", "lpm", "tree"};

	fprintf(stderr,
		"optimiser: %s: %u segments, %u hash and %u lpm keys, %u tree slots, %u "
		"candidates, %u descriptors\n",
		g->tables[ti]->name, ot->n_segs, ot->hash.n, ot->lpm.n, ot->tree.n_slots,
		ot->tree.n_cand, ot->n_desc);
	for (unsigned int k = 0; k < ot->n_segs; k++) {
		const struct opt_seg *s = &ot->segs[k];
		char a[128], b[128];

		gen_describe(g, ti, s->first, a, sizeof(a));
		gen_describe(g, ti, s->end - 1, b, sizeof(b));
		fprintf(stderr, "  %s %s .. %s (%u rules)", kinds[s->kind], a, b,
			s->end - s->first);
		if (s->kind == SEG_CLS) {
			fprintf(stderr, " descriptors %u+%u, %u actions, trees", s->d_first, s->d_n,
				s->n_act);
			for (unsigned int k = 0; k < s->n_trees; k++)
				fprintf(stderr, " (root %u depth %u leaf %u)", s->trees[k].root,
					s->trees[k].depth, s->trees[k].leaf);
			fprintf(stderr, "\n");
		} else
			fprintf(stderr, " keys %#x lpm %#x run %u\n", s->keys, s->lpm, s->id);
	}
}

static int table_plan(struct gen *g, unsigned int ti, struct opt_table *ot)
{
	const struct ipt2bpf_table *t = g->tables[ti];
	int err = 0;

	ot->planned = true;
	ot->hash.klen = sizeof(struct opt_hkey);
	ot->lpm.klen = sizeof(struct opt_lkey);
	ot->tree.max_slots = OPT_MAX_SLOTS;
	ot->seg_at = malloc((t->n_entries ? t->n_entries : 1) * sizeof(*ot->seg_at));
	if (!ot->seg_at)
		return -ENOMEM;
	for (unsigned int i = 0; i < t->n_entries; i++)
		ot->seg_at[i] = -1;
	for (unsigned int i = 0; i < t->n_entries && !err;) {
		unsigned int j = i + 1;

		if (!stretch_member(t, i)) {
			i++;
			continue;
		}
		while (j < t->n_entries && stretch_member(t, j) &&
		       t->entries[j].chain == t->entries[i].chain && !g->ti[ti].sites[j] &&
		       !is_hook_entry(t, j))
			j++;
		err = plan_stretch(g, ti, ot, i, j);
		i = j;
	}
	if (!err)
		err = table_maps(g, ti, ot);
	if (err)
		return err;
	for (unsigned int k = 0; k < ot->n_segs; k++) {
		struct opt_seg *s = &ot->segs[k];

		ot->seg_at[s->first] = (int)k;
		snprintf(s->name, sizeof(s->name), "ipt_%.16s_o%u", t->name, s->first);
	}
	snprintf(ot->slow_name, sizeof(ot->slow_name), "ipt_%.16s_oscan", t->name);
	if (getenv("IPT2BPF_OPT_DEBUG"))
		plan_dump(g, ti, ot);
	return 0;
}

static struct opt_table *table_get(struct gen *g, unsigned int ti, int *err)
{
	*err = 0;
	/* IPT2BPF_NO_OPTIMISE=1: the baseline, for every command (benchmarks, tests) */
	if (g->opts->no_optimise || ti >= 2 ||
	    (getenv("IPT2BPF_NO_OPTIMISE") && strcmp(getenv("IPT2BPF_NO_OPTIMISE"), "0")))
		return NULL;
	if (!g->opt) {
		g->opt = calloc(1, sizeof(*g->opt));
		if (!g->opt) {
			*err = ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
			return NULL;
		}
	}
	if (!g->opt->t[ti].planned) {
		*err = table_plan(g, ti, &g->opt->t[ti]);
		if (*err) {
			*err = ipt2bpf_diag_set(g->diag, *err, "%s: optimiser: %s",
						g->tables[ti]->name, strerror(-*err));
			return NULL;
		}
	}
	return &g->opt->t[ti];
}

void gen_opt_release(struct gen *g)
{
	if (!g->opt)
		return;
	for (unsigned int ti = 0; ti < 2; ti++) {
		struct opt_table *ot = &g->opt->t[ti];

		for (unsigned int k = 0; k < ot->n_segs; k++)
			if (ot->segs[k].kind != SEG_CLS)
				free(ot->segs[k].tmpl.matches);
		free(ot->segs);
		free(ot->seg_at);
		kv_free(&ot->hash);
		kv_free(&ot->lpm);
		free(ot->tree.slots);
		free(ot->tree.cand);
		free(ot->desc);
	}
	free(g->opt);
	g->opt = NULL;
}

/* ------------------------------------------------------------ emission */

#define DOFF(f) ((int16_t)offsetof(struct opt_desc, f))
#define SOFF(f) ((int16_t)offsetof(struct opt_slot, f))

/* R0 = lookup(map, the u32 at fp + key_off); jump to l_null when absent. */
static void emit_lookup(struct gen *g, unsigned int map, int16_t key_off, int l_null)
{
	gen_ld_map(&g->p->e, BPF_REG_1, map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, key_off));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_null);
}

/* The counter of the entry whose index is at OPT_FP_RES, as emit_count() counts. */
static void emit_count_saved(struct gen *g, unsigned int ti)
{
	int l_skip = LABEL();

	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, OPT_FP_RES));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_KEY));
	emit_lookup(g, g->map_counter[ti], FP_KEY, l_skip);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_counter, pcnt)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, offsetof(struct ipt2bpf_counter, pcnt)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(tot_len)));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_counter, bcnt)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_2));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, offsetof(struct ipt2bpf_counter, bcnt)));
	BIND(l_skip);
}

/* *(u32 *)(fp + off) = packet address at pkt_off & mask (network order), or 0 if unused. */
static void emit_key_addr(struct gen *g, int16_t off, bool used, int16_t pkt_off, uint32_t mask)
{
	if (!used) {
		E(BPF_ST_MEM(BPF_W, BPF_REG_10, off, 0));
		return;
	}
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, pkt_off));
	if (mask != UINT32_MAX)
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)mask));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, off));
}

/* struct opt_hkey at OPT_FP_KEY. */
static void emit_hkey(struct gen *g, const struct opt_seg *s, uint32_t run, bool ports)
{
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, OPT_FP_KEY, (int32_t)run));
	emit_key_addr(g, OPT_FP_KEY + 4, s->keys & K_SRC, PKT(saddr), s->smask);
	emit_key_addr(g, OPT_FP_KEY + 8, s->keys & K_DST, PKT(daddr), s->dmask);
	if (ports && (s->keys & K_SP)) {
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(sport)));
		E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, OPT_FP_KEY + 12));
	} else {
		E(BPF_ST_MEM(BPF_H, BPF_REG_10, OPT_FP_KEY + 12, 0));
	}
	if (ports && (s->keys & K_DP)) {
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(dport)));
		E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, OPT_FP_KEY + 14));
	} else {
		E(BPF_ST_MEM(BPF_H, BPF_REG_10, OPT_FP_KEY + 14, 0));
	}
}

/*
 * A run.  Addresses only: the lookup finds the first rule whose addresses
 * match, then the shared rest decides (its hotdrops as that rule's).  With
 * ports, the transport header present: the full key, then the shared rest;
 * not present: whether any rule's addresses match, then the shared rest (the
 * transport match's hotdrop happens at the first such rule, or it fails).
 */
static int emit_run(struct gen *g, unsigned int ti, const struct opt_seg *s,
		    const struct gen_ctx *c)
{
	const struct opt_table *ot = &g->opt->t[ti];
	bool ports = s->keys & (K_SP | K_DP), addrs = s->keys & (K_SRC | K_DST), many;
	int l_skip = LABEL(), l_count = LABEL(), err;

	if (ports) {
		/*
		 * When the transport header is there (the guard passes for every
		 * rule), the full key finds the rule at once; else the first rule
		 * whose addresses match hotdrops or fails, as the template says.
		 */
		const struct ipt2bpf_match *l4 = l4_match(&s->tmpl, &many);
		int l_slow = LABEL();

		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(l4ok)));
		EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_1,
			       l4->kind == IPT2BPF_M_TCP ? GEN_L4_TCP : GEN_L4_8, 0),
		   l_count);
		EJ(BPF_JMP_A(0), l_slow);
		BIND(l_count);
		emit_hkey(g, s, s->id, true);
		emit_lookup(g, (unsigned int)ot->map_hash, OPT_FP_KEY, l_skip);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, 0));
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, OPT_FP_RES));
		err = gen_rule_tmpl(g, ti, s->rep, &s->tmpl, l_skip);
		if (err)
			return err;
		l_count = LABEL();
		EJ(BPF_JMP_A(0), l_count);
		BIND(l_slow);
		if (addrs) {
			emit_hkey(g, s, s->id | OPT_RUN_PRESENCE, false);
			emit_lookup(g, (unsigned int)ot->map_hash, OPT_FP_KEY, l_skip);
		}
		err = gen_rule_tmpl(g, ti, s->rep, &s->tmpl, l_skip);
		if (err)
			return err;
		EJ(BPF_JMP_A(0), l_skip); /* the guard failed: the template cannot match */
	} else {
		if (s->kind == SEG_LPM) {
			bool src = s->lpm == K_SRC;

			E(BPF_ST_MEM(BPF_W, BPF_REG_10, OPT_FP_KEY, 96));
			E(BPF_ST_MEM(BPF_W, BPF_REG_10, OPT_FP_KEY + 4, (int32_t)htonl(s->id)));
			emit_key_addr(g, OPT_FP_KEY + 8, s->keys & (src ? K_DST : K_SRC),
				      src ? PKT(daddr) : PKT(saddr), src ? s->dmask : s->smask);
			emit_key_addr(g, OPT_FP_KEY + 12, true, src ? PKT(saddr) : PKT(daddr),
				      UINT32_MAX);
			emit_lookup(g, (unsigned int)ot->map_lpm, OPT_FP_KEY, l_skip);
		} else {
			emit_hkey(g, s, s->id, false);
			emit_lookup(g, (unsigned int)ot->map_hash, OPT_FP_KEY, l_skip);
		}
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, 0));
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, OPT_FP_RES));
		err = gen_rule_tmpl(g, ti, s->rep, &s->tmpl, l_skip);
		if (err)
			return err;
	}
	BIND(l_count);
	emit_count_saved(g, ti);
	err = gen_rule_target(g, ti, s->rep, c);
	if (err)
		return err;
	BIND(l_skip);
	return g->p->e.err;
}

/* fail unless lo <= (packet field) <= hi, the bounds read from the descriptor in R5. */
static void emit_drange(struct gen *g, int psize, int16_t poff, int dsize, int16_t lo, int16_t hi,
			bool port, int l_fail)
{
	E(BPF_LDX_MEM(psize, BPF_REG_1, BPF_REG_6, poff));
	if (port) {
		int l_have = LABEL();

		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_8, 0, 0), l_have);
		E(BPF_MOV64_IMM(BPF_REG_1, OPT_PORT_NONE));
		BIND(l_have);
	}
	E(BPF_LDX_MEM(dsize, BPF_REG_2, BPF_REG_5, lo));
	EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_1, BPF_REG_2, 0), l_fail);
	E(BPF_LDX_MEM(dsize, BPF_REG_2, BPF_REG_5, hi));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_1, BPF_REG_2, 0), l_fail);
}

/* Unless flag f is set in R4, skip to the returned label (bind it after the test). */
static int skip_unless(struct gen *g, uint16_t f)
{
	int l = LABEL();

	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_4));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_3, f));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_3, 0, 0), l);
	return l;
}

/* Equality in R1 == R2 (or R1 != 0 when one), inverted by flag inv of R4: else fail. */
static void emit_inv_test(struct gen *g, bool one, uint16_t inv, int l_fail)
{
	int l_eq = LABEL(), l_out = LABEL();

	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_4));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_3, inv));
	if (one)
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_eq);
	else
		EJ(BPF_JMP_REG(BPF_JEQ, BPF_REG_1, BPF_REG_2, 0), l_eq);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_3, 0, 0), l_fail);
	EJ(BPF_JMP_A(0), l_out);
	BIND(l_eq);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_3, 0, 0), l_fail);
	BIND(l_out);
}

static void emit_iface_test(struct gen *g, int16_t pat_off, int16_t words_off, uint16_t f,
			    uint16_t inv, int l_fail)
{
	int l_skip = skip_unless(g, f), l_word = LABEL();

	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_5, pat_off));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_2));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_3, 6));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_2, 63));
	for (int w = 0; w < GEN_IF_PRELOAD; w++) {
		E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_6, (int16_t)(words_off + 8 * w)));
		if (w + 1 < GEN_IF_PRELOAD)
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_3, w, 0), l_word);
	}
	BIND(l_word);
	E(BPF_ALU64_REG(BPF_RSH, BPF_REG_1, BPF_REG_2));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, 1));
	emit_inv_test(g, true, inv, l_fail);
	BIND(l_skip);
}

static void emit_nc_test(struct gen *g, int16_t pkt_off, int16_t m_off, int16_t n_off, uint16_t f,
			 uint16_t inv, int l_fail)
{
	int l_skip = skip_unless(g, f);

	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, pkt_off));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_5, m_off));
	E(BPF_ALU32_REG(BPF_AND, BPF_REG_1, BPF_REG_2));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_5, n_off));
	emit_inv_test(g, false, inv, l_fail);
	BIND(l_skip);
}

/*
 * Is the descriptor in R5 a match for the packet (R6; R8 = 1 for a later
 * fragment)?  Falls through if so, else jumps to l_fail.  slow: the
 * transport match's hotdrops as in emit_l4_guard() (to l_hotdrop); the fast
 * path only sees packets for which no rule of the classifier hotdrops.
 * Clobbers R1-R4.
 */
static void emit_check(struct gen *g, bool slow, int l_fail, int l_hotdrop)
{
	int l_pre = LABEL(), l_guard = LABEL(), l_post = LABEL(), l_done = LABEL(), l;

	emit_drange(g, BPF_W, PKT(saddr_h), BPF_W, DOFF(s_lo), DOFF(s_hi), false, l_fail);
	emit_drange(g, BPF_W, PKT(daddr_h), BPF_W, DOFF(d_lo), DOFF(d_hi), false, l_fail);
	emit_drange(g, BPF_B, PKT(proto), BPF_B, DOFF(p_lo), DOFF(p_hi), false, l_fail);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_4, BPF_REG_5, DOFF(flags)));
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_4, OPT_F_PRE, 0), l_pre);
	EJ(BPF_JMP_A(0), l_guard);
	BIND(l_pre);
	emit_nc_test(g, PKT(saddr), DOFF(s_mask), DOFF(s_net), OPT_F_SNC, OPT_F_SNC_INV, l_fail);
	emit_nc_test(g, PKT(daddr), DOFF(d_mask), DOFF(d_net), OPT_F_DNC, OPT_F_DNC_INV, l_fail);
	emit_iface_test(g, DOFF(if_in), PKT(ifin), OPT_F_IN, OPT_F_IN_INV, l_fail);
	emit_iface_test(g, DOFF(if_out), PKT(ifout), OPT_F_OUT, OPT_F_OUT_INV, l_fail);
	l = skip_unless(g, OPT_F_FRAG);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_fail);
	BIND(l);
	l = skip_unless(g, OPT_F_NOFRAG);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_fail);
	BIND(l);
	BIND(l_guard);
	if (slow) {
		int l_ports = LABEL();

		E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_5, DOFF(guard)));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_ports);
		E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_2));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_3, 0x7f));
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(l4ok)));
		E(BPF_ALU64_REG(BPF_AND, BPF_REG_1, BPF_REG_3));
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_ports);
		/* Not there: offset 0 is a truncated header, tcp hotdrops offset 1 too. */
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_hotdrop);
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 1, 0), l_fail);
		EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_2, OPT_G_TCP, 0), l_hotdrop);
		EJ(BPF_JMP_A(0), l_fail);
		BIND(l_ports);
	}
	emit_drange(g, BPF_H, PKT(sport), BPF_W, DOFF(sp_lo), DOFF(sp_hi), true, l_fail);
	emit_drange(g, BPF_H, PKT(dport), BPF_W, DOFF(dp_lo), DOFF(dp_hi), true, l_fail);
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_4, OPT_F_FLAGS | OPT_F_ICMP, 0), l_post);
	EJ(BPF_JMP_A(0), l_done);
	BIND(l_post);
	l = skip_unless(g, OPT_F_FLAGS);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(tcpflags)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_5, DOFF(fl_mask)));
	E(BPF_ALU64_REG(BPF_AND, BPF_REG_1, BPF_REG_2));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_5, DOFF(fl_cmp)));
	emit_inv_test(g, false, OPT_F_FL_INV, l_fail);
	BIND(l);
	l = skip_unless(g, OPT_F_ICMP);
	{
		int l_in = LABEL(), l_out = LABEL();

		/* icmp_type_code_match(); type 0xff is any type and code */
		E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_5, DOFF(ic_type)));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0xff, 0), l_in);
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(icmp_type)));
		EJ(BPF_JMP_REG(BPF_JNE, BPF_REG_1, BPF_REG_2, 0), l_out);
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(icmp_code)));
		E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_5, DOFF(ic_lo)));
		EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_1, BPF_REG_2, 0), l_out);
		E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_5, DOFF(ic_hi)));
		EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_1, BPF_REG_2, 0), l_out);
		BIND(l_in);
		E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_4));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_3, OPT_F_IC_INV));
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_3, 0, 0), l_fail);
		EJ(BPF_JMP_A(0), l);
		BIND(l_out);
		E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_4));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_3, OPT_F_IC_INV));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_3, 0, 0), l_fail);
	}
	BIND(l);
	BIND(l_done);
}

/*
 * The ordered scan over every descriptor of a classifier, one bpf_loop()
 * iteration each: R1 = iteration, R2 = the context on the classifier's
 * stack {pkt pointer, first descriptor, result}.
 */
static int emit_scan_fn(struct gen *g, const void *arg)
{
	const struct opt_table *ot = arg;
	int l_nf = LABEL(), l_cont = LABEL(), l_hd = LABEL(), l_stop = LABEL();

	E(BPF_MOV64_REG(BPF_REG_7, BPF_REG_2));
	E(BPF_MOV64_REG(BPF_REG_9, BPF_REG_1));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_6, BPF_REG_7, 0));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	E(BPF_MOV64_IMM(BPF_REG_8, 0));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_nf);
	E(BPF_MOV64_IMM(BPF_REG_8, 1));
	BIND(l_nf);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_7, 8));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_9));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_2, FP_KEY));
	emit_lookup(g, (unsigned int)ot->map_desc, FP_KEY, l_stop);
	E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_0));
	emit_check(g, true, l_cont, l_hd);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_5, DOFF(result)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_7, BPF_REG_1, 12));
	E(BPF_MOV64_IMM(BPF_REG_0, 1));
	E(BPF_EXIT_INSN());
	BIND(l_hd);
	E(BPF_ST_MEM(BPF_W, BPF_REG_7, 12, OPT_R_HOTDROP));
	BIND(l_stop);
	E(BPF_MOV64_IMM(BPF_REG_0, 1));
	E(BPF_EXIT_INSN());
	BIND(l_cont);
	E(BPF_MOV64_IMM(BPF_REG_0, 0));
	E(BPF_EXIT_INSN());
	return g->p->e.err;
}

/*
 * One tree: the first candidate of its leaf that matches, kept in
 * OPT_FP_BEST if it comes before what is there.  skip: not if what is there
 * comes before the tree's first rule.
 */
static void emit_tree(struct gen *g, const struct opt_table *ot, const struct seg_tree *tr,
		      bool skip)
{
	int l_next = LABEL(), l_leaf = LABEL(), l_cands = LABEL();

	if (skip) {
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, OPT_FP_BEST));
		EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, (int32_t)tr->first_res, 0), l_next);
	}
	/*
	 * One child slot per level.  The root's is known: its leaf, or the
	 * child it leads to, comes from constants.
	 */
	if (tr->top.dim == OPT_LEAF) {
		E(BPF_MOV64_IMM(BPF_REG_9, tr->top.mask));
		E(BPF_MOV64_IMM(BPF_REG_7, (int32_t)tr->top.base));
		EJ(BPF_JMP_A(0), l_cands);
	}
	for (unsigned int lvl = 0; lvl <= tr->depth; lvl++) {
		int l_have = LABEL(), l_port = LABEL();

		if (lvl) {
			E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_7, SOFF(dim)));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, OPT_LEAF, 0), l_leaf);
		}
		if (lvl == tr->depth)
			break; /* the builder made no deeper leaf */
		if (!lvl) {
			switch (tr->top.dim) {
			case OPT_D_SRC:
				E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(saddr_h)));
				break;
			case OPT_D_DST:
				E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(daddr_h)));
				break;
			case OPT_D_PROTO:
				E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_6, PKT(proto)));
				break;
			default:
				E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_6,
					      tr->top.dim == OPT_D_SPORT ? PKT(sport)
									 : PKT(dport)));
				EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_8, 0, 0), l_have);
				E(BPF_MOV64_IMM(BPF_REG_2, OPT_PORT_NONE));
				break;
			}
			BIND(l_have);
			E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_2, tr->top.shift));
			E(BPF_ALU64_IMM(BPF_AND, BPF_REG_2, tr->top.mask));
			E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, (int32_t)tr->top.base));
		} else {
			E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(saddr_h)));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, OPT_D_SRC, 0), l_have);
			E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(daddr_h)));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, OPT_D_DST, 0), l_have);
			E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_6, PKT(proto)));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, OPT_D_PROTO, 0), l_have);
			E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_6, PKT(sport)));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, OPT_D_SPORT, 0), l_port);
			E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_6, PKT(dport)));
			BIND(l_port);
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_8, 0, 0), l_have);
			E(BPF_MOV64_IMM(BPF_REG_2, OPT_PORT_NONE));
			BIND(l_have);
			E(BPF_LDX_MEM(BPF_B, BPF_REG_3, BPF_REG_7, SOFF(shift)));
			E(BPF_ALU64_REG(BPF_RSH, BPF_REG_2, BPF_REG_3));
			E(BPF_LDX_MEM(BPF_H, BPF_REG_3, BPF_REG_7, SOFF(mask)));
			E(BPF_ALU64_REG(BPF_AND, BPF_REG_2, BPF_REG_3));
			E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_7, SOFF(base)));
			E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_3));
		}
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_2, FP_KEY));
		emit_lookup(g, (unsigned int)ot->map_node, FP_KEY, l_next);
		E(BPF_MOV64_REG(BPF_REG_7, BPF_REG_0));
	}
	EJ(BPF_JMP_A(0), l_next);

	/* A leaf: its candidates in first-match order. */
	BIND(l_leaf);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_9, BPF_REG_7, SOFF(mask)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_7, BPF_REG_7, SOFF(base)));
	BIND(l_cands);
	for (int k = 0; k < tr->leaf; k++) {
		int l_miss = LABEL();

		EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_9, k, 0), l_next);
		E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_7));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, k));
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_2, FP_KEY));
		emit_lookup(g, (unsigned int)ot->map_cand, FP_KEY, l_next);
		E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_0));
		emit_check(g, false, l_miss, -1);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_5, DOFF(result)));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_10, OPT_FP_BEST));
		EJ(BPF_JMP_REG(BPF_JGE, BPF_REG_1, BPF_REG_2, 0), l_next);
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, OPT_FP_BEST));
		EJ(BPF_JMP_A(0), l_next);
		BIND(l_miss);
	}
	BIND(l_next);
}

/*
 * A classifier: a global function (verified once) returning the result of
 * the first matching rule, OPT_R_NONE or OPT_R_SLOW.
 */
static int emit_cls_fn(struct gen *g, const void *arg)
{
	const struct opt_seg *s = arg;
	const struct opt_table *ot = &g->opt->t[s->ti];
	int l_ok = LABEL(), l_first = LABEL(), l_fast = LABEL(), l_slow = LABEL();

	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_ok);
	E(BPF_MOV64_IMM(BPF_REG_0, OPT_R_NONE));
	E(BPF_EXIT_INSN());
	BIND(l_ok);
	E(BPF_MOV64_REG(BPF_REG_6, BPF_REG_1));

	/* Packets some rule here would hotdrop take the ordered scan. */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	E(BPF_MOV64_IMM(BPF_REG_8, 0));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_first);
	E(BPF_MOV64_IMM(BPF_REG_8, 1));
	if (s->tcp_frag1) {
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 1, 0), l_fast);
		E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_6, PKT(proto)));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, IPPROTO_TCP, 0), l_slow);
	}
	EJ(BPF_JMP_A(0), l_fast);
	BIND(l_first);
	if (s->n_needs) {
		E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_6, PKT(proto)));
		E(BPF_LDX_MEM(BPF_B, BPF_REG_3, BPF_REG_6, PKT(l4ok)));
		for (unsigned int k = 0; k < s->n_needs; k++) {
			int l_next = LABEL();

			EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, s->needs[k].proto, 0), l_next);
			E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_3));
			E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, s->needs[k].need));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_slow);
			EJ(BPF_JMP_A(0), l_fast);
			BIND(l_next);
		}
	}
	BIND(l_fast);
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, OPT_FP_BEST, OPT_R_NONE));
	for (unsigned int t = 0; t < s->n_trees; t++)
		emit_tree(g, ot, &s->trees[t], t > 0);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_10, OPT_FP_BEST));
	E(BPF_EXIT_INSN());

	/* The ordered scan runs in the caller: a frame less on the deepest path. */
	BIND(l_slow);
	E(BPF_MOV64_IMM(BPF_REG_0, OPT_R_SLOW));
	E(BPF_EXIT_INSN());
	return g->p->e.err;
}

/* A classifier's call, the counter of the rule found, its target. */
static int emit_cls(struct gen *g, unsigned int ti, const struct opt_seg *s,
		    const struct gen_ctx *c)
{
	const struct opt_table *ot = &g->opt->t[ti];
	int id = gen_modfunc_get(g, s->name, emit_cls_fn, s), l_skip = LABEL(), l_hit = LABEL();
	int l_hotdrop = LABEL(), l_act[OPT_A_MAX + 1], scan;

	if (id < 0)
		return id;
	g->p->funcs[id].chunk = true; /* global: verified once, on its own */
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_6));
	gen_call(&g->p->e, (unsigned int)id);
	gen_edge_add(g, (unsigned int)id, c->pushes, false);
	EJ(BPF_JMP32_IMM(BPF_JSGE, BPF_REG_0, 0, 0), l_hit);
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_0, OPT_R_NONE, 0), l_skip);
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_0, OPT_R_SLOW, 0), l_hotdrop);
	/* The ordered scan: ctx = {pkt, first descriptor, result} at OPT_FP_KEY. */
	scan = gen_modfunc_get(g, ot->slow_name, emit_scan_fn, ot);
	if (scan < 0)
		return scan;
	gen_edge_add(g, (unsigned int)scan, c->pushes, false);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_6, OPT_FP_KEY));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, OPT_FP_KEY + 8, (int32_t)s->d_first));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, OPT_FP_KEY + 12, OPT_R_NONE));
	E(BPF_MOV64_IMM(BPF_REG_1, (int32_t)s->d_n));
	gen_ld_func(&g->p->e, BPF_REG_2, (unsigned int)scan);
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, OPT_FP_KEY));
	E(BPF_MOV64_IMM(BPF_REG_4, 0));
	E(BPF_CALL_HELPER(BPF_FUNC_loop));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_10, OPT_FP_KEY + 12));
	EJ(BPF_JMP32_IMM(BPF_JSGE, BPF_REG_0, 0, 0), l_hit);
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_0, OPT_R_NONE, 0), l_skip);
	BIND(l_hotdrop);
	gen_verdict_exit(g, GEN_V_DROP); /* a hotdrop: not counted */
	BIND(l_hit);
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_0, OPT_FP_RES + 4));
	E(BPF_ALU32_IMM(BPF_RSH, BPF_REG_0, 8));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_0, OPT_FP_RES));
	emit_count_saved(g, ti);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, OPT_FP_RES + 4));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, 0xff));
	for (unsigned int a = 0; a < s->n_act; a++) {
		l_act[a] = LABEL();
		if (s->act_rep[a] != UINT32_MAX)
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, a, 0), l_act[a]);
	}
	gen_verdict_exit(g, GEN_V_DROP); /* no such action: cannot happen */
	for (unsigned int a = 0; a < s->n_act; a++) {
		int err;

		if (s->act_rep[a] == UINT32_MAX)
			continue;
		BIND(l_act[a]);
		err = gen_rule_target(g, ti, s->act_rep[a], c);
		if (err)
			return err;
	}
	BIND(l_skip);
	return g->p->e.err;
}

/* ------------------------------------------------------------ hooks */

int gen_opt_emit(struct gen *g, unsigned int ti, unsigned int idx, unsigned int limit,
		 const struct gen_ctx *c)
{
	struct opt_table *ot;
	const struct opt_seg *s;
	int err;

	ot = table_get(g, ti, &err);
	if (!ot)
		return err;
	if (idx >= g->tables[ti]->n_entries || ot->seg_at[idx] < 0)
		return 0;
	s = &ot->segs[ot->seg_at[idx]];
	if (s->end > limit)
		return 0;
	if (g->p->e.dead)
		return (int)(s->end - s->first);
	err = s->kind == SEG_CLS ? emit_cls(g, ti, s, c) : emit_run(g, ti, s, c);
	return err ? err : (int)(s->end - s->first);
}

unsigned int gen_opt_line_count(struct gen *g, unsigned int ti, unsigned int s, unsigned int end)
{
	unsigned int n = end - s;
	int err;
	struct opt_table *ot = table_get(g, ti, &err);

	if (!ot)
		return n;
	for (unsigned int i = s; i < end; i++)
		if (ot->seg_at[i] >= 0 && ot->segs[ot->seg_at[i]].end <= end) {
			n -= ot->segs[ot->seg_at[i]].end - i;
			i = ot->segs[ot->seg_at[i]].end - 1;
		}
	return n;
}

unsigned int gen_opt_chunk_end(struct gen *g, unsigned int ti, unsigned int s, unsigned int end)
{
	unsigned int e = end - s > GEN_CHUNK ? s + GEN_CHUNK : end;
	int err;
	struct opt_table *ot = table_get(g, ti, &err);

	if (!ot)
		return e;
	for (unsigned int i = s + 1; i < e; i++)
		if (ot->seg_at[i] >= 0)
			return i;
	return e;
}
