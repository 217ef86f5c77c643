// SPDX-License-Identifier: GPL-2.0
/*
 * -m recent (xt_recent.c, revisions 0 and 1): --set, --rcheck, --update,
 * --remove with --seconds, --hitcount, --rttl, --reap, --name, --rsource,
 * --rdest and --mask, on lists shared by every rule naming them and kept
 * across rule set replacements (the map layout is in codegen/recent.h).
 *
 * recent_mt() step by step, under a per-list spin lock (the kernel holds
 * recent_lock): the list header is created by the first packet that needs
 * it (with the mask of the first rule naming the list, like the kernel's
 * first checkentry) and flushed when the rule set asks for more stamps per
 * entry than it keeps (the kernel flushes it when such a rule is inserted);
 * lookup by masked address (and TTL with --rttl: ttl == e->ttl or either
 * is 0); a new entry takes a free slot, or the least recently updated
 * entry's when ip_list_tot are in use (recent_entry_init()); stamps go
 * round a ring of nstamps_max_mask + 1.
 *
 * The packet's TTL is the IP header's, plus one in FORWARD (the kernel
 * adds one where there is an output device and no local socket; OUTPUT
 * packets are taken to have their socket).  --seconds * HZ wraps as the
 * kernel's unsigned int product does.  Where the kernel's --reap reads
 * stamps[index - 1] with index 0 (after 256 updates with --hitcount above
 * 128) it reads past the array; here it reads the last stamp written.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter/xt_recent.h>

#include "gen_internal.h"
#include "host.h"
#include "m_util.h"
#include "recent.h"

#define RC_ZERO "ipt_rc_zero"
#define RC_WORK "ipt_rc_work"
#define RC_NONE 0xffffffffU

/* Per-CPU working storage: map keys must live in memory, and the stack is 32 bytes. */
struct rc_work {
	uint64_t now;
	uint64_t time;		 /* now - seconds * HZ */
	struct ipt2bpf_rc_key k; /* {list, masked address} */
	struct ipt2bpf_rc_key s; /* {list, slot} */
	struct ipt2bpf_rc_key d; /* {list, address} of an entry being removed */
	struct ipt2bpf_rc_idx ix;
	uint64_t best_seq; /* scan: least recently updated live entry */
	uint32_t best;
	uint32_t free; /* scan: first free slot */
	uint32_t head_key;
	uint32_t zero;
	uint32_t ttl;  /* the packet's */
	uint32_t lttl; /* the one looked up: 0 without --rttl */
	uint32_t ret;
	uint32_t hits;
	uint32_t cur; /* slot of the entry the packet found */
	uint32_t pad;
};

/* Stack of the match code (32 bytes). */
#define RS_W FP_KEY   /* struct rc_work * */
#define RS_H FP_IFKEY /* struct ipt2bpf_rc_head * */
#define RS_E FP_MOD   /* struct ipt2bpf_rc_ent * */
#define RS_I FP_MOD2  /* loop counter, lock spin count */

#define W(f) ((int16_t)offsetof(struct rc_work, f))
#define H(f) ((int16_t)offsetof(struct ipt2bpf_rc_head, f))
#define R(f) ((int16_t)offsetof(struct ipt2bpf_rc_ent, f))

static const struct ipt2bpf_mod mod_recent;

/* What every rule naming a list must agree on, worked out over the rule set. */
struct rc_list {
	char name[XT_RECENT_NAME_LEN];
	uint32_t id;
	uint32_t nsmask;   /* the largest any rule needs */
	uint32_t addrmask; /* the first rule's */
};

struct rc_priv {
	struct rc_list *lists;
	unsigned int n;
	uint32_t tot; /* ip_list_tot */
	int head, idx, slot, zero, work;
};

/* Both revisions, as revision 1 (recent_mt_check_v0() widens the mask to all ones). */
static void rc_info(const void *data, uint8_t rev, struct xt_recent_mtinfo_v1 *i)
{
	memset(i, 0, sizeof(*i));
	memcpy(i, data, rev == 0 ? sizeof(struct xt_recent_mtinfo) : sizeof(*i));
	if (rev == 0)
		memset(&i->mask, 0xff, sizeof(i->mask));
}

static uint32_t roundup_pow2(uint32_t x)
{
	uint32_t p = 1;

	while (p < x)
		p <<= 1;
	return p;
}

/* recent_mt_check(): the stamps a rule wants kept, as a mask. */
static uint32_t rc_nsmask(const struct xt_recent_mtinfo_v1 *i)
{
	uint32_t pkt_tot = ipt2bpf_host_recent_pkt_list_tot();

	if (pkt_tot && i->hit_count < pkt_tot)
		return roundup_pow2(pkt_tot) - 1;
	if (i->hit_count)
		return roundup_pow2(i->hit_count) - 1;
	return 32 - 1;
}

static int rc_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e, const void *data,
		    size_t len, uint8_t revision, char *why, size_t whylen)
{
	struct xt_recent_mtinfo_v1 i;
	const char *err = NULL;
	uint8_t ops;

	(void)t, (void)e, (void)len;
	rc_info(data, revision, &i);
	ops = i.check_set & (XT_RECENT_SET | XT_RECENT_REMOVE | XT_RECENT_CHECK | XT_RECENT_UPDATE);
	if (i.check_set & ~XT_RECENT_VALID_FLAGS)
		err = "unknown flags (EINVAL)";
	else if (__builtin_popcount(ops) != 1)
		err = "needs exactly one of --set, --rcheck, --update, --remove (EINVAL)";
	else if ((ops & (XT_RECENT_SET | XT_RECENT_REMOVE)) &&
		 (i.seconds || i.hit_count || (i.check_set & XT_RECENT_MODIFIERS)))
		err = "--set/--remove take no --seconds, --hitcount, --rttl, --reap (EINVAL)";
	else if ((i.check_set & XT_RECENT_REAP) && !i.seconds)
		err = "--reap needs --seconds (EINVAL)";
	else if (i.hit_count >= IPT2BPF_RC_NSTAMPS)
		err = "--hitcount above 255 (EINVAL)";
	else if (!i.name[0] || strnlen(i.name, sizeof(i.name)) == sizeof(i.name) ||
		 !strcmp(i.name, ".") || !strcmp(i.name, "..") || strchr(i.name, '/'))
		err = "invalid --name (EINVAL)";
	if (err) {
		snprintf(why, whylen, "%s; the kernel refuses it", err);
		return -EOPNOTSUPP;
	}
	if (rc_nsmask(&i) >= IPT2BPF_RC_NSTAMPS) {
		snprintf(why, whylen, "xt_recent's ip_pkt_list_tot above 256 is not supported");
		return -EOPNOTSUPP;
	}
	return 0;
}

static void rc_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	struct xt_recent_mtinfo_v1 i;

	(void)len;
	rc_info(data, revision, &i);
	fprintf(f, "%s%s%s%s%s--name %s --%s --mask 0x%08x seconds %u hitcount %u%s%s",
		i.invert ? "! " : "", (i.check_set & XT_RECENT_SET) ? "--set " : "",
		(i.check_set & XT_RECENT_CHECK) ? "--rcheck " : "",
		(i.check_set & XT_RECENT_UPDATE) ? "--update " : "",
		(i.check_set & XT_RECENT_REMOVE) ? "--remove " : "", i.name,
		i.side == XT_RECENT_DEST ? "rdest" : "rsource", ntohl(i.mask.ip), i.seconds,
		i.hit_count, (i.check_set & XT_RECENT_TTL) ? " --rttl" : "",
		(i.check_set & XT_RECENT_REAP) ? " --reap" : "");
}

/* ------------------------------------------------------------ prepare */

/*
 * Every list the tables use, in the order the kernel's checkentry meets the
 * rules (table, entry, match): the first rule's mask, the largest stamp
 * mask.  -EEXIST (*clash = the table/entry/list) when two names hash alike.
 */
static int rc_collect(const struct ipt2bpf_table *const *tables, unsigned int n_tables,
		      struct rc_list **out, unsigned int *n_out, unsigned int clash[3])
{
	struct rc_list *lists = NULL;
	unsigned int n = 0;

	for (unsigned int k = 0; k < n_tables; k++) {
		const struct ipt2bpf_table *t = tables[k];

		for (unsigned int e = 0; e < t->n_entries; e++)
			for (unsigned int m = 0; m < t->entries[e].n_matches; m++) {
				const struct ipt2bpf_match *mt = &t->entries[e].matches[m];
				struct xt_recent_mtinfo_v1 i;
				struct rc_list *l = NULL, *nl;

				if (mt->kind != IPT2BPF_M_MOD || mt->mod != &mod_recent)
					continue;
				rc_info(mt->data, mt->revision, &i);
				for (unsigned int x = 0; x < n; x++)
					if (!strcmp(lists[x].name, i.name))
						l = &lists[x];
				if (l) {
					if (rc_nsmask(&i) > l->nsmask)
						l->nsmask = rc_nsmask(&i);
					continue;
				}
				nl = realloc(lists, (n + 1) * sizeof(*nl));
				if (!nl) {
					free(lists);
					return -ENOMEM;
				}
				lists = nl;
				l = &lists[n];
				memset(l, 0, sizeof(*l));
				memcpy(l->name, i.name, sizeof(l->name));
				l->id = ipt2bpf_rc_list_id(l->name);
				l->nsmask = rc_nsmask(&i);
				l->addrmask = ntohl(i.mask.ip);
				for (unsigned int x = 0; x < n; x++)
					if (lists[x].id == l->id) {
						clash[0] = k, clash[1] = e, clash[2] = x;
						*out = lists;
						*n_out = n + 1;
						return -EEXIST;
					}
				n++;
			}
	}
	*out = lists;
	*n_out = n;
	return 0;
}

int ipt2bpf_recent_lists(const struct ipt2bpf_table *const *tables, unsigned int n_tables,
			 int (*fn)(void *arg, const char *name, uint32_t nsmask, uint32_t addrmask),
			 void *arg)
{
	struct rc_list *lists = NULL;
	unsigned int n = 0, clash[3];
	int err = rc_collect(tables, n_tables, &lists, &n, clash);

	for (unsigned int x = 0; !err && x < n; x++)
		err = fn(arg, lists[x].name, lists[x].nsmask, lists[x].addrmask);
	free(lists);
	return err;
}

static int rc_lists(struct gen *g, struct rc_priv *p)
{
	unsigned int clash[3];
	int err = rc_collect(g->tables, g->n_tables, &p->lists, &p->n, clash);

	if (err == -EEXIST)
		return gen_refuse(g, clash[0], clash[1],
				  "match 'recent': list names '%s' and '%s' hash alike; rename one",
				  p->lists[p->n - 1].name, p->lists[clash[2]].name);
	if (err)
		return ipt2bpf_diag_set(g->diag, err, "out of memory");
	return 0;
}

static void rc_priv_free(struct rc_priv *p)
{
	if (p)
		free(p->lists);
}

static int rc_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		      uint8_t revision)
{
	struct rc_priv *p;
	void **priv;
	int err;

	(void)data, (void)revision;
	err = gen_mod_use(g, &mod_recent, &priv);
	if (err || *priv)
		return err;
	/* priv is freed with free(): the list array goes in the same block's tail */
	p = calloc(1, sizeof(*p));
	if (!p)
		return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
	err = rc_lists(g, p);
	if (!err) {
		struct rc_priv *q = realloc(p, sizeof(*p) + p->n * sizeof(*p->lists));

		if (!q) {
			err = ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
		} else {
			p = q;
			memcpy(p + 1, p->lists, p->n * sizeof(*p->lists));
			free(p->lists);
			p->lists = (struct rc_list *)(p + 1);
		}
	}
	if (err) {
		rc_priv_free(p);
		free(p);
		return err;
	}
	*priv = p;
	p->tot = ipt2bpf_host_recent_list_tot();
	if (p->tot == 0 || p->tot > IPT2BPF_RC_SLOTS)
		return gen_refuse(g, ti, idx,
				  "match 'recent': xt_recent's ip_list_tot=%u is not supported",
				  p->tot);
	if (p->n > IPT2BPF_RC_LISTS || (uint64_t)p->n * p->tot > IPT2BPF_RC_SLOTS)
		return gen_refuse(g, ti, idx,
				  "match 'recent': %u lists of %u entries are more than %u entries",
				  p->n, p->tot, IPT2BPF_RC_SLOTS);
	p->head = gen_map_get(g, IPT2BPF_RC_HEAD, BPF_MAP_TYPE_HASH, sizeof(uint32_t),
			      sizeof(struct ipt2bpf_rc_head), IPT2BPF_RC_LISTS, 0, true);
	p->idx = gen_map_get(g, IPT2BPF_RC_IDX, BPF_MAP_TYPE_HASH, sizeof(struct ipt2bpf_rc_key),
			     sizeof(struct ipt2bpf_rc_idx), IPT2BPF_RC_SLOTS, BPF_F_NO_PREALLOC,
			     true);
	p->slot = gen_map_get(g, IPT2BPF_RC_SLOT, BPF_MAP_TYPE_HASH, sizeof(struct ipt2bpf_rc_key),
			      sizeof(struct ipt2bpf_rc_ent), IPT2BPF_RC_SLOTS, BPF_F_NO_PREALLOC,
			      true);
	p->zero = gen_map_get(g, RC_ZERO, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
			      sizeof(struct ipt2bpf_rc_ent), 1, BPF_F_RDONLY_PROG, false);
	p->work = gen_map_get(g, RC_WORK, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
			      sizeof(struct rc_work), 1, 0, false);
	if (p->head < 0 || p->idx < 0 || p->slot < 0 || p->zero < 0 || p->work < 0)
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------ code */

struct rc_ctx {
	const struct rc_priv *p;
	const struct rc_list *l;
	struct xt_recent_mtinfo_v1 i;
	int l_drop; /* unlock and hotdrop */
};

static void ld_stack(struct gen *g, int reg, int16_t off)
{
	E(BPF_LDX_MEM(BPF_DW, reg, BPF_REG_10, off));
}

/* R0 = lookup(map, &w->f); the key in the working storage */
static void emit_lookup(struct gen *g, int map, int16_t key)
{
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)map);
	ld_stack(g, BPF_REG_2, RS_W);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, key));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
}

/* update(map, &w->key, R3 = value, flags) */
static void emit_update(struct gen *g, int map, int16_t key, int flags)
{
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)map);
	ld_stack(g, BPF_REG_2, RS_W);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, key));
	E(BPF_MOV64_IMM(BPF_REG_4, flags));
	E(BPF_CALL_HELPER(BPF_FUNC_map_update_elem));
}

/* R0 = the map's slot s of this list, created (all zero) if it does not exist yet. */
static void emit_slot_get(struct gen *g, const struct rc_ctx *c)
{
	int l_have = LABEL();

	emit_lookup(g, c->p->slot, W(s));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_have);
	emit_lookup(g, c->p->zero, W(zero));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), c->l_drop);
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_0));
	emit_update(g, c->p->slot, W(s), BPF_ANY);
	emit_lookup(g, c->p->slot, W(s));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), c->l_drop);
	BIND(l_have);
}

/* recent_entry_remove() of the entry R5 points to. */
static void emit_remove(struct gen *g, const struct rc_ctx *c)
{
	E(BPF_ST_MEM(BPF_B, BPF_REG_5, R(used), 0));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_5, R(addr)));
	ld_stack(g, BPF_REG_0, RS_W);
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(d.v)));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)c->p->idx);
	ld_stack(g, BPF_REG_2, RS_W);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, W(d)));
	E(BPF_CALL_HELPER(BPF_FUNC_map_delete_elem));
}

/*
 * Walks slots 0 .. ip_list_tot - 1: w->best = the live entry updated least
 * recently (the LRU list's head; RC_NONE if none), w->free = the first free
 * slot (the walk stops there when stop_free).  Slots are taken lowest
 * first, so the first one never created ends the list.  RS_I holds the slot
 * number as a spilled constant so the verifier sees the bound.
 *
 * The verifier explores a branch's fall-through first and keeps the taken
 * side pending, at most 8192 along a path: in the loop every branch it
 * cannot decide leaves the loop on its fall-through, and the minimum is
 * kept without branches, so a pass leaves O(1) states pending, not one per
 * slot.
 */
static void emit_scan(struct gen *g, const struct rc_ctx *c, bool stop_free)
{
	int l_loop = LABEL(), l_body = LABEL(), l_have = LABEL(), l_live = LABEL();
	int l_free = LABEL(), l_end = LABEL(), l_ok = LABEL();

	ld_stack(g, BPF_REG_0, RS_W);
	gen_ld_imm64(g, BPF_REG_1, INT64_MAX); /* above every key */
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, W(best_seq)));
	E(BPF_MOV64_IMM(BPF_REG_1, -1));
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(best)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(free)));
	E(BPF_MOV64_IMM(BPF_REG_1, 0));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, RS_I));
	BIND(l_loop);
	ld_stack(g, BPF_REG_1, RS_I);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, (int32_t)c->p->tot, 0), l_body);
	EJ(BPF_JMP_A(0), l_end);
	BIND(l_body);
	ld_stack(g, BPF_REG_0, RS_W);
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(s.v)));
	emit_lookup(g, c->p->slot, W(s));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_have);
	EJ(BPF_JMP_A(0), l_free); /* never used: the end of the list */
	BIND(l_have);
	/* R3 = live (used and of this epoch) as 0 or 1 */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, R(epoch)));
	ld_stack(g, BPF_REG_2, RS_H);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_2, H(epoch)));
	E(BPF_ALU64_REG(BPF_XOR, BPF_REG_1, BPF_REG_2));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, 1));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_1, 63)); /* 1: same epoch */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_3, BPF_REG_0, R(used)));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_3, 1));
	E(BPF_ALU64_REG(BPF_AND, BPF_REG_3, BPF_REG_1));
	if (stop_free) {
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_3, 0, 0), l_live);
		EJ(BPF_JMP_A(0), l_free);
	}
	BIND(l_live);
	/* key = seq, or 2^62 + seq for a dead slot; best = min(best, key) without branches */
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, R(seq)));
	E(BPF_ALU64_IMM(BPF_XOR, BPF_REG_3, 1));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_3, 62));
	E(BPF_ALU64_REG(BPF_OR, BPF_REG_1, BPF_REG_3));
	ld_stack(g, BPF_REG_2, RS_W);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_2, W(best_seq)));
	E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_1));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_4, BPF_REG_3));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_4, 63)); /* key < best (both below 2^63) */
	E(BPF_ALU64_IMM(BPF_NEG, BPF_REG_4, 0));
	E(BPF_ALU64_REG(BPF_XOR, BPF_REG_1, BPF_REG_3));
	E(BPF_ALU64_REG(BPF_AND, BPF_REG_1, BPF_REG_4));
	E(BPF_ALU64_REG(BPF_XOR, BPF_REG_1, BPF_REG_3));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_2, BPF_REG_1, W(best_seq)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_2, W(best)));
	ld_stack(g, BPF_REG_1, RS_I);
	E(BPF_ALU64_REG(BPF_XOR, BPF_REG_1, BPF_REG_3));
	E(BPF_ALU64_REG(BPF_AND, BPF_REG_1, BPF_REG_4));
	E(BPF_ALU64_REG(BPF_XOR, BPF_REG_1, BPF_REG_3));
	E(BPF_STX_MEM(BPF_W, BPF_REG_2, BPF_REG_1, W(best)));
	ld_stack(g, BPF_REG_1, RS_I);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, RS_I));
	EJ(BPF_JMP_A(0), l_loop);
	BIND(l_free);
	ld_stack(g, BPF_REG_1, RS_I);
	ld_stack(g, BPF_REG_2, RS_W);
	E(BPF_STX_MEM(BPF_W, BPF_REG_2, BPF_REG_1, W(free)));
	BIND(l_end);
	/* the same stack on every way out; a dead minimum is no LRU head */
	E(BPF_MOV64_IMM(BPF_REG_1, 0));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, RS_I));
	ld_stack(g, BPF_REG_2, RS_W);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_2, W(best_seq)));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_1, 62));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_ok);
	E(BPF_MOV64_IMM(BPF_REG_1, -1));
	E(BPF_STX_MEM(BPF_W, BPF_REG_2, BPF_REG_1, W(best)));
	BIND(l_ok);
}

/* R5 = e: e->seq = ++head->seq (the LRU list's tail). */
static void emit_seq(struct gen *g)
{
	ld_stack(g, BPF_REG_2, RS_H);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_2, H(seq)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_2, BPF_REG_1, H(seq)));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_1, R(seq)));
}

/* recent_entry_init(): a new entry for w->k with the packet's TTL; RS_E = it. */
static void emit_new_entry(struct gen *g, const struct rc_ctx *c)
{
	int l_free = LABEL(), l_have = LABEL(), l_fail = LABEL(), l_ok = LABEL();

	emit_scan(g, c, true);
	ld_stack(g, BPF_REG_0, RS_W);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, W(free)));
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, (int32_t)RC_NONE, 0), l_free);
	/* full: the LRU head makes room */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, W(best)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(s.v)));
	emit_lookup(g, c->p->slot, W(s));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), c->l_drop);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, RS_E));
	E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_0));
	emit_remove(g, c);
	ld_stack(g, BPF_REG_0, RS_E);
	EJ(BPF_JMP_A(0), l_have);
	BIND(l_free);
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(s.v)));
	emit_slot_get(g, c);
	BIND(l_have);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, RS_E));
	E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_0));
	ld_stack(g, BPF_REG_0, RS_W);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, W(k.v)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_5, BPF_REG_1, R(addr)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, W(ttl)));
	E(BPF_STX_MEM(BPF_B, BPF_REG_5, BPF_REG_1, R(ttl)));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, W(now)));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_1, R(stamps)));
	E(BPF_ST_MEM(BPF_H, BPF_REG_5, R(nstamps), 1));
	E(BPF_ST_MEM(BPF_B, BPF_REG_5, R(index), 1));
	E(BPF_ST_MEM(BPF_B, BPF_REG_5, R(used), 1));
	ld_stack(g, BPF_REG_2, RS_H);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_2, H(epoch)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_5, BPF_REG_1, R(epoch)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(ix.epoch)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, W(s.v)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(ix.slot)));
	emit_seq(g);
	/* the index: address -> slot */
	ld_stack(g, BPF_REG_3, RS_W);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, W(ix)));
	emit_update(g, c->p->idx, W(k), BPF_ANY);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_ok);
	BIND(l_fail); /* no room: the kernel's allocation failed, a hotdrop */
	ld_stack(g, BPF_REG_5, RS_E);
	E(BPF_ST_MEM(BPF_B, BPF_REG_5, R(used), 0));
	EJ(BPF_JMP_A(0), c->l_drop);
	BIND(l_ok);
}

/* recent_entry_update() of RS_E, and e->ttl = the packet's TTL. */
static void emit_update_entry(struct gen *g)
{
	int l_same = LABEL();

	ld_stack(g, BPF_REG_5, RS_E);
	ld_stack(g, BPF_REG_2, RS_H);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_5, R(index)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_2, H(nsmask)));
	E(BPF_ALU64_REG(BPF_AND, BPF_REG_1, BPF_REG_3));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, 0xff));
	E(BPF_MOV64_REG(BPF_REG_0, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_0, 3));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_0, BPF_REG_5));
	ld_stack(g, BPF_REG_4, RS_W);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_4, W(now)));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_3, R(stamps)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, 0xff)); /* a u8 */
	E(BPF_STX_MEM(BPF_B, BPF_REG_5, BPF_REG_1, R(index)));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_3, BPF_REG_5, R(nstamps)));
	EJ(BPF_JMP_REG(BPF_JLE, BPF_REG_1, BPF_REG_3, 0), l_same);
	E(BPF_STX_MEM(BPF_H, BPF_REG_5, BPF_REG_1, R(nstamps)));
	BIND(l_same);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_4, W(ttl)));
	E(BPF_STX_MEM(BPF_B, BPF_REG_5, BPF_REG_1, R(ttl)));
	emit_seq(g);
}

/*
 * --rcheck/--update: w->ret = !invert when enough stamps are recent enough.
 * Only the stamp number stays in a register: the hit count and nstamps are
 * read from memory each time round, so the verifier, which cannot know
 * them, walks each of the at most 256 rounds once instead of once per count.
 */
static void emit_hits(struct gen *g, const struct rc_ctx *c)
{
	int l_loop = LABEL(), l_next = LABEL(), l_hit = LABEL(), l_end = LABEL();
	int l_in = LABEL(), l_body = LABEL();

	ld_stack(g, BPF_REG_5, RS_E);
	ld_stack(g, BPF_REG_4, RS_W);
	E(BPF_ST_MEM(BPF_W, BPF_REG_4, W(hits), 0));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_4, W(time)));
	E(BPF_MOV64_IMM(BPF_REG_1, 0));
	BIND(l_loop);
	/* staying in the loop is the taken side of every branch: see emit_scan() */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_5, R(nstamps)));
	EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_1, BPF_REG_2, 0), l_in);
	EJ(BPF_JMP_A(0), l_end);
	BIND(l_in);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, IPT2BPF_RC_NSTAMPS, 0), l_body);
	EJ(BPF_JMP_A(0), l_end);
	BIND(l_body);
	/* R0 = 1 unless time_after(time, stamps[i]) (with --seconds) */
	E(BPF_MOV64_IMM(BPF_REG_0, 1));
	if (c->i.seconds) {
		E(BPF_MOV64_REG(BPF_REG_0, BPF_REG_1));
		E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_0, 3));
		E(BPF_ALU64_REG(BPF_ADD, BPF_REG_0, BPF_REG_5));
		E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_0, R(stamps)));
		E(BPF_ALU64_REG(BPF_SUB, BPF_REG_0, BPF_REG_3));
		E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_0, 63));
		E(BPF_ALU64_IMM(BPF_XOR, BPF_REG_0, 1));
	}
	if (!c->i.hit_count) {
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_next);
	} else {
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_4, W(hits)));
		E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_0));
		E(BPF_STX_MEM(BPF_W, BPF_REG_4, BPF_REG_2, W(hits)));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_4, W(hits)));
		EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_2, (int32_t)c->i.hit_count, 0), l_next);
	}
	EJ(BPF_JMP_A(0), l_hit);
	BIND(l_next);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	EJ(BPF_JMP_A(0), l_loop);
	BIND(l_hit);
	E(BPF_ST_MEM(BPF_W, BPF_REG_4, W(ret), !c->i.invert));
	BIND(l_end);
}

/* recent_entry_reap(): the LRU head goes if its last stamp is older than time. */
static void emit_reap(struct gen *g, const struct rc_ctx *c)
{
	int l_done = LABEL(), l_go = LABEL();

	emit_scan(g, c, false);
	ld_stack(g, BPF_REG_0, RS_W);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, W(best)));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, (int32_t)RC_NONE, 0), l_done);
	if (c->i.check_set & XT_RECENT_UPDATE) {
		/* not the entry about to be updated (update = --update and matched) */
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_0, W(cur)));
		EJ(BPF_JMP_REG(BPF_JNE, BPF_REG_1, BPF_REG_2, 0), l_go);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_0, W(ret)));
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, 0, 0), l_done);
	}
	BIND(l_go);
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(s.v)));
	emit_lookup(g, c->p->slot, W(s));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_done);
	E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_0));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_5, R(index)));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, 1));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, 0xff));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_1, 3));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_5));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_1, R(stamps)));
	ld_stack(g, BPF_REG_2, RS_W);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_2, W(time)));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_1, BPF_REG_2));
	EJ(BPF_JMP_IMM(BPF_JSGE, BPF_REG_1, 0, 0), l_done);
	emit_remove(g, c);
	BIND(l_done);
}

/* The list's header, created and set up on first use; RS_H = it, locked. */
static void emit_head(struct gen *g, const struct rc_ctx *c, int l_busy)
{
	int l_have = LABEL(), l_init = LABEL(), l_ok = LABEL();
	size_t nlen = strlen(c->l->name) + 1;

	emit_lookup(g, c->p->head, W(head_key));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_have);
	emit_lookup(g, c->p->zero, W(zero));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_busy);
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_0));
	emit_update(g, c->p->head, W(head_key), BPF_NOEXIST);
	emit_lookup(g, c->p->head, W(head_key));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_busy);
	BIND(l_have);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, RS_H));
	E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_0));
	gen_spin_lock(g, H(lock), RS_I, l_busy);
	ld_stack(g, BPF_REG_5, RS_H);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_5, H(init)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_init);
	/* the rule set keeps more stamps than the list: the kernel flushes it */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_5, H(nsmask)));
	EJ(BPF_JMP_IMM(BPF_JGE, BPF_REG_1, (int32_t)c->l->nsmask, 0), l_ok);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_5, H(epoch)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_W, BPF_REG_5, BPF_REG_1, H(epoch)));
	E(BPF_ST_MEM(BPF_W, BPF_REG_5, H(nsmask), (int32_t)c->l->nsmask));
	EJ(BPF_JMP_A(0), l_ok);
	BIND(l_init);
	E(BPF_ST_MEM(BPF_W, BPF_REG_5, H(init), 1));
	E(BPF_ST_MEM(BPF_W, BPF_REG_5, H(nsmask), (int32_t)c->l->nsmask));
	E(BPF_ST_MEM(BPF_W, BPF_REG_5, H(addrmask), (int32_t)c->l->addrmask));
	for (size_t off = 0; off < nlen; off += 8) {
		uint64_t v = 0;

		memcpy(&v, c->l->name + off, nlen - off < 8 ? nlen - off : 8);
		gen_ld_imm64(g, BPF_REG_1, v);
		E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_1, (int16_t)(H(name) + off)));
	}
	BIND(l_ok);
}

static int rc_emit(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_match *m,
		   int l_fail)
{
	int l_busy = LABEL(), l_drop = LABEL(), l_noent = LABEL(), l_found = LABEL();
	int l_out = LABEL(), l_ttl = LABEL(), l_ret = LABEL();
	struct rc_ctx c = {.l_drop = l_drop};
	struct rc_priv *p;
	void **priv;
	uint32_t hz = ipt2bpf_host_hz();
	uint8_t op;

	if (gen_mod_use(g, &mod_recent, &priv) || !*priv)
		return ipt2bpf_diag_set(g->diag, -EINVAL, "recent: not prepared");
	p = *priv;
	c.p = p;
	rc_info(m->data, m->revision, &c.i);
	for (unsigned int n = 0; n < p->n; n++)
		if (!strcmp(p->lists[n].name, c.i.name))
			c.l = &p->lists[n];
	if (!c.l)
		return gen_refuse(g, ti, idx, "match 'recent': internal error (no list)");
	op = c.i.check_set;

	/* now, the working storage, the address and the TTL */
	gen_clock(g, BPF_REG_0, true);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, RS_I));
	gen_array_elem(g, (unsigned int)p->work, 0, l_fail);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, RS_W));
	ld_stack(g, BPF_REG_1, RS_I);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, W(now)));
	/* time = jiffies - seconds * HZ, the product an unsigned int */
	gen_ld_imm64(g, BPF_REG_2, (uint32_t)(c.i.seconds * hz));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_1, BPF_REG_2));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, W(time)));
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, W(head_key), (int32_t)c.l->id));
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, W(k.list), (int32_t)c.l->id));
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, W(s.list), (int32_t)c.l->id));
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, W(d.list), (int32_t)c.l->id));
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, W(zero), 0));
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, W(ret), c.i.invert ? 1 : 0));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6,
		      c.i.side == XT_RECENT_DEST ? PKT(daddr_h) : PKT(saddr_h)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(k.v)));
	/* the TTL as before forwarding: +1 with both devices (FORWARD) */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ttl)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(oif)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_ttl);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(iif)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_ttl);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, 0xff));
	BIND(l_ttl);
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(ttl)));
	if (!(op & XT_RECENT_TTL))
		E(BPF_MOV64_IMM(BPF_REG_1, 0));
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(lttl)));

	emit_head(g, &c, l_busy);

	/* the address under the list's mask (nf_inet_addr_mask()) */
	ld_stack(g, BPF_REG_0, RS_W);
	ld_stack(g, BPF_REG_5, RS_H);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, W(k.v)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_5, H(addrmask)));
	E(BPF_ALU32_REG(BPF_AND, BPF_REG_1, BPF_REG_2));
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(k.v)));

	/* recent_entry_lookup() */
	emit_lookup(g, p->idx, W(k));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_noent);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_rc_idx, slot)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_0, offsetof(struct ipt2bpf_rc_idx, epoch)));
	ld_stack(g, BPF_REG_5, RS_H);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_5, H(epoch)));
	EJ(BPF_JMP_REG(BPF_JNE, BPF_REG_2, BPF_REG_3, 0), l_noent);
	ld_stack(g, BPF_REG_0, RS_W);
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(s.v)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, W(cur)));
	emit_lookup(g, p->slot, W(s));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_noent);
	E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_0));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_5, R(used)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_noent);
	ld_stack(g, BPF_REG_4, RS_W);
	ld_stack(g, BPF_REG_3, RS_H);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_5, R(epoch)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_3, H(epoch)));
	EJ(BPF_JMP_REG(BPF_JNE, BPF_REG_1, BPF_REG_2, 0), l_noent);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_5, R(addr)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_4, W(k.v)));
	EJ(BPF_JMP_REG(BPF_JNE, BPF_REG_1, BPF_REG_2, 0), l_noent);
	if (op & XT_RECENT_TTL) {
		/* ttl == e->ttl || ttl == 0 || e->ttl == 0 */
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_5, R(ttl)));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_4, W(lttl)));
		EJ(BPF_JMP_REG(BPF_JEQ, BPF_REG_1, BPF_REG_2, 0), l_found);
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_found);
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_found);
		EJ(BPF_JMP_A(0), l_noent);
	} else {
		EJ(BPF_JMP_A(0), l_found);
	}

	BIND(l_noent);
	if (op & XT_RECENT_SET) {
		emit_new_entry(g, &c);
		ld_stack(g, BPF_REG_4, RS_W);
		E(BPF_ST_MEM(BPF_W, BPF_REG_4, W(ret), !c.i.invert));
	}
	EJ(BPF_JMP_A(0), l_out);

	BIND(l_found);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_5, RS_E));
	if (op & (XT_RECENT_SET | XT_RECENT_REMOVE)) {
		ld_stack(g, BPF_REG_4, RS_W);
		E(BPF_ST_MEM(BPF_W, BPF_REG_4, W(ret), !c.i.invert));
		if (op & XT_RECENT_REMOVE)
			emit_remove(g, &c);
		else
			emit_update_entry(g);
	} else {
		emit_hits(g, &c);
		if (op & XT_RECENT_REAP)
			emit_reap(g, &c);
		if (op & XT_RECENT_UPDATE) {
			ld_stack(g, BPF_REG_4, RS_W);
			E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_4, W(ret)));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_out);
			emit_update_entry(g);
		}
	}

	BIND(l_out);
	ld_stack(g, BPF_REG_5, RS_H);
	gen_spin_unlock(g, H(lock));
	ld_stack(g, BPF_REG_4, RS_W);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_4, W(ret)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_fail);
	EJ(BPF_JMP_A(0), l_ret);

	/* the list could not be locked or created: as if the address was not there */
	BIND(l_busy);
	if (!c.i.invert)
		EJ(BPF_JMP_A(0), l_fail);
	EJ(BPF_JMP_A(0), l_ret);

	BIND(l_drop);
	ld_stack(g, BPF_REG_5, RS_H);
	gen_spin_unlock(g, H(lock));
	gen_verdict_exit(g, GEN_V_DROP);
	BIND(l_ret);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_recent = {
	.name = "recent",
	.revisions = (1U << 0) | (1U << 1),
	.check = rc_check,
	.dump = rc_dump,
	.prepare = rc_prepare,
	.emit_match = rc_emit,
};
IPT2BPF_MOD_REGISTER(mod_recent);
