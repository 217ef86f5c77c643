// SPDX-License-Identifier: GPL-2.0
/*
 * Decoding a validated ipt_replace blob into the IR (ir.h), and printing it.
 *
 * Chains are recognised the way libiptc does: a built-in chain starts at its
 * hook entry and owns the underflow as its policy; a user chain starts at an
 * ERROR entry carrying its name and ends with an unconditional RETURN; the
 * last ERROR entry ends the table.  Rule numbers count the rules of a chain
 * as `iptables -L --line-numbers` does.
 *
 * Anything the code generator cannot reproduce exactly is refused here with
 * -EOPNOTSUPP and the rule's name: a match silently dropped would be a hole
 * in someone's firewall.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/xt_comment.h>

#include "diag.h"
#include "ext.h"
#include "ir.h"
#include "mod.h"
#include "util.h"
#include "validate.h"

#define NO_ENTRY UINT_MAX

static const char *const hook_names[IPT2BPF_NUM_HOOKS] = {
	[NF_INET_PRE_ROUTING] = "PREROUTING",	[NF_INET_LOCAL_IN] = "INPUT",
	[NF_INET_FORWARD] = "FORWARD",		[NF_INET_LOCAL_OUT] = "OUTPUT",
	[NF_INET_POST_ROUTING] = "POSTROUTING",
};

/* Decoding state: the blob (trusted: it passed ipt2bpf_validate()) and the table. */
struct dctx {
	const unsigned char *base;
	const struct ipt_replace *repl;
	struct ipt2bpf_table *t;
	struct ipt2bpf_diag *diag;
};

/* Targets are not necessarily 8-byte aligned in a valid blob: read by copy. */
static int32_t rd_s32(const void *p)
{
	int32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static const struct ipt_entry *blob_entry(const struct dctx *d, unsigned int i)
{
	return (const struct ipt_entry *)(d->base + d->t->entries[i].offset);
}

static const struct xt_entry_target *blob_target(const struct dctx *d, unsigned int i)
{
	const struct ipt_entry *e = blob_entry(d, i);

	return (const struct xt_entry_target *)((const unsigned char *)e + e->target_offset);
}

static const char *tg_name(const struct xt_entry_target *t)
{
	return t->u.user.name;
}

static bool tg_is(const struct xt_entry_target *t, const char *name)
{
	return strncmp(tg_name(t), name, sizeof(t->u.user.name)) == 0;
}

static int tg_verdict(const struct xt_entry_target *t)
{
	return rd_s32((const unsigned char *)t + offsetof(struct xt_standard_target, verdict));
}

static bool unconditional(const struct ipt_entry *e)
{
	static const struct ipt_ip uncond;

	return e->target_offset == sizeof(struct ipt_entry) &&
	       memcmp(&e->ip, &uncond, sizeof(uncond)) == 0;
}

static bool find_offset(const struct ipt2bpf_table *t, unsigned int off, unsigned int *idx)
{
	unsigned int lo = 0, hi = t->n_entries;

	while (hi > lo) {
		unsigned int m = lo + (hi - lo) / 2;

		if (t->entries[m].offset > off)
			hi = m;
		else if (t->entries[m].offset < off)
			lo = m + 1;
		else {
			*idx = m;
			return true;
		}
	}
	return false;
}

/* ---------------------------------------------------------------- naming */

int ipt2bpf_entry_describe(const struct ipt2bpf_table *t, unsigned int entry, char *buf, size_t len)
{
	const struct ipt2bpf_entry *e;
	const char *chain;

	if (!t || entry >= t->n_entries)
		return -EINVAL;
	e = &t->entries[entry];
	chain = e->chain >= 0 ? t->chains[e->chain].name : NULL;
	switch (e->role) {
	case IPT2BPF_E_TABLE_END:
		return snprintf(buf, len, "%s (table end)", t->name);
	case IPT2BPF_E_CHAIN_HEAD:
		return snprintf(buf, len, "%s/%s (chain head)", t->name, chain);
	case IPT2BPF_E_CHAIN_END:
		return snprintf(buf, len, "%s/%s (chain end)", t->name, chain);
	case IPT2BPF_E_POLICY:
		return snprintf(buf, len, "%s/%s policy", t->name, chain);
	case IPT2BPF_E_RULE:
		break;
	}
	if (!chain)
		return snprintf(buf, len, "%s entry #%u", t->name, entry);
	return snprintf(buf, len, "%s/%s#%u", t->name, chain, e->num);
}

__attribute__((format(printf, 3, 4))) static int refuse(const struct dctx *d, unsigned int i,
							const char *fmt, ...)
{
	char name[128], msg[768];
	va_list ap;

	ipt2bpf_entry_describe(d->t, i, name, sizeof(name));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ipt2bpf_diag_set(d->diag, -EOPNOTSUPP, "%s: %s", name, msg);
}

/* ---------------------------------------------------------------- chains */

static int builtin_chain(const struct ipt2bpf_table *t, unsigned int hook)
{
	for (unsigned int c = 0; c < t->n_chains; c++)
		if (t->chains[c].builtin && t->chains[c].hook == (int)hook)
			return c;
	return -1;
}

static int build_chains(struct dctx *d)
{
	struct ipt2bpf_table *t = d->t;
	unsigned int heads = 0, n = t->n_entries;
	int cur = -1;
	bool user = false;

	for (unsigned int i = 0; i + 1 < n; i++)
		if (tg_is(blob_target(d, i), XT_ERROR_TARGET))
			heads++;
	t->chains = calloc(IPT2BPF_NUM_HOOKS + heads, sizeof(*t->chains));
	if (!t->chains)
		return ipt2bpf_diag_set(d->diag, -ENOMEM, "%s: out of memory", t->name);

	for (unsigned int h = 0; h < IPT2BPF_NUM_HOOKS; h++) {
		struct ipt2bpf_chain *c;
		const struct xt_entry_target *pt;

		if (!(t->valid_hooks & (1u << h)))
			continue;
		c = &t->chains[t->n_chains++];
		snprintf(c->name, sizeof(c->name), "%s", hook_names[h]);
		c->builtin = true;
		c->hook = h;
		c->first = t->hook_entry[h];
		c->policy_entry = t->underflow[h];
		pt = blob_target(d, c->policy_entry);
		c->policy = -tg_verdict(pt) - 1; /* check_underflow(): ACCEPT or DROP */
		c->head_entry = c->end_entry = NO_ENTRY;
	}

	for (unsigned int i = 0; i < n; i++) {
		struct ipt2bpf_entry *e = &t->entries[i];
		const struct xt_entry_target *tg = blob_target(d, i);
		int policy_of = -1;

		for (unsigned int h = 0; h < IPT2BPF_NUM_HOOKS; h++) {
			if (!(t->valid_hooks & (1u << h)))
				continue;
			if (i == t->hook_entry[h]) {
				cur = builtin_chain(t, h);
				user = false;
			}
			if (i == t->underflow[h])
				policy_of = h;
		}
		e->chain = -1;
		if (tg_is(tg, XT_ERROR_TARGET)) {
			struct ipt2bpf_chain *c;
			const char *cname;

			if (i + 1 == n) {
				e->role = IPT2BPF_E_TABLE_END;
				continue;
			}
			/* error_tg_ok() guaranteed a NUL within errorname[]. */
			cname = ((const struct xt_error_target *)tg)->errorname;
			if (strlen(cname) >= sizeof(c->name))
				return ipt2bpf_diag_set(d->diag, -EOPNOTSUPP,
							"%s entry #%u: user chain name '%s' is "
							"longer than iptables allows (%zu)",
							t->name, i, cname, sizeof(c->name) - 1);
			c = &t->chains[t->n_chains];
			cur = t->n_chains++;
			user = true;
			memcpy(c->name, cname, strlen(cname) + 1);
			c->hook = -1;
			c->head_entry = c->end_entry = i;
			c->first = i + 1;
			c->policy_entry = NO_ENTRY;
			e->role = IPT2BPF_E_CHAIN_HEAD;
			e->chain = cur;
			continue;
		}
		if (policy_of >= 0) {
			e->role = IPT2BPF_E_POLICY;
			e->chain = builtin_chain(t, policy_of);
			continue;
		}
		e->chain = cur;
		if (cur >= 0 && user)
			t->chains[cur].end_entry = i;
		if (user && unconditional(blob_entry(d, i)) && tg_is(tg, XT_STANDARD_TARGET) &&
		    tg_verdict(tg) == XT_RETURN &&
		    (i + 1 == n || tg_is(blob_target(d, i + 1), XT_ERROR_TARGET))) {
			e->role = IPT2BPF_E_CHAIN_END;
			continue;
		}
		e->role = IPT2BPF_E_RULE;
		if (cur >= 0)
			e->num = ++t->chains[cur].n_rules;
	}
	return 0;
}

/* ---------------------------------------------------------------- ipt_ip */

/*
 * The kernel compares interface names byte-wise under a mask.  iptables
 * builds two shapes: "eth0" (name and its NUL masked) and "eth+" (only the
 * prefix masked).  Those are what interface sets by name can express; a blob
 * with any other mask is refused rather than approximated.
 */
static int check_iface(const struct dctx *d, unsigned int i, const char *opt, const char *name,
		       const unsigned char *mask)
{
	unsigned int k = 0, z;

	while (k < IFNAMSIZ && mask[k] == 0xFF)
		k++;
	for (unsigned int j = k; j < IFNAMSIZ; j++)
		if (mask[j])
			return refuse(d, i, "%s mask is not an interface name or name+ wildcard",
				      opt);
	z = strnlen(name, k);
	if (z < k && k != z + 1)
		return refuse(d, i, "%s mask covers bytes after the end of the name", opt);
	return 0;
}

static int check_ip(const struct dctx *d, unsigned int i)
{
	const struct ipt_ip *ip = &d->t->entries[i].ip;
	int err;

	/* ip_checkentry() already rejected unknown bits; these are belt and braces. */
	if (ip->flags & ~IPT_F_MASK)
		return refuse(d, i, "unknown ip.flags bits 0x%x", ip->flags & ~IPT_F_MASK);
	if (ip->invflags & ~IPT_INV_MASK)
		return refuse(d, i, "unknown ip.invflags bits 0x%x", ip->invflags & ~IPT_INV_MASK);
	err = check_iface(d, i, "-i", ip->iniface, ip->iniface_mask);
	if (err)
		return err;
	return check_iface(d, i, "-o", ip->outiface, ip->outiface_mask);
}

/* ---------------------------------------------------------------- matches */

static void widen_multiport(struct xt_multiport_v1 *v1, const struct xt_multiport *v0)
{
	memset(v1, 0, sizeof(*v1));
	v1->flags = v0->flags;
	v1->count = v0->count;
	memcpy(v1->ports, v0->ports, sizeof(v0->ports));
}

static void widen_iprange(struct xt_iprange_mtinfo *v1, const struct ipt2bpf_iprange_v0 *v0)
{
	memset(v1, 0, sizeof(*v1));
	v1->src_min.ip = v0->src.min_ip;
	v1->src_max.ip = v0->src.max_ip;
	v1->dst_min.ip = v0->dst.min_ip;
	v1->dst_max.ip = v0->dst.max_ip;
	/* Revision 0 used the same flag bits. */
	v1->flags = v0->flags & (IPRANGE_SRC | IPRANGE_DST | IPRANGE_SRC_INV | IPRANGE_DST_INV);
}

/*
 * A module's payload: copied with the whole entry (the blob may go away
 * before the IR does), then checked by the module.
 */
static int decode_mod(const struct dctx *d, unsigned int i, const struct ipt2bpf_mod *mod,
		      uint8_t rev, const void *data, size_t len, const void **out,
		      size_t *out_len)
{
	struct ipt2bpf_entry *e = &d->t->entries[i];
	const unsigned char *be = (const unsigned char *)blob_entry(d, i);
	char why[256] = "";
	int err;

	if (!e->raw) {
		e->raw = malloc(e->size);
		if (!e->raw)
			return ipt2bpf_diag_set(d->diag, -ENOMEM, "%s: out of memory", d->t->name);
		memcpy(e->raw, be, e->size);
	}
	*out = e->raw + ((const unsigned char *)data - be);
	*out_len = len;
	if (!mod->check)
		return 0;
	err = mod->check(d->t, e, *out, len, rev, why, sizeof(why));
	if (err)
		return refuse(d, i, "%s '%s': %s", mod->target ? "target" : "match", mod->name,
			      why[0] ? why : "not supported");
	return 0;
}

static int decode_match(const struct dctx *d, unsigned int i, const struct xt_entry_match *m,
			struct ipt2bpf_match *out)
{
	const struct ipt2bpf_ext *x = ipt2bpf_ext_find(m->u.user.name, m->u.user.revision, false);
	const void *data = m->data;

	if (!x) /* validated: cannot happen */
		return refuse(d, i, "match '%.*s' (revision %u) is unknown",
			      (int)sizeof(m->u.user.name), m->u.user.name, m->u.user.revision);
	out->name = x->name;
	out->revision = x->revision;
	out->mod = x->translated ? NULL : ipt2bpf_mod_find(x->name, x->revision, false);
	if (out->mod) {
		out->kind = IPT2BPF_M_MOD;
		return decode_mod(d, i, out->mod, x->revision, m->data, m->u.match_size - sizeof(*m),
				  &out->data, &out->len);
	}
	if (!x->translated)
		return refuse(d, i, "match '%s' (revision %u) is not supported by ipt2bpf yet",
			      x->name, x->revision);
	if (strcmp(x->name, "tcp") == 0) {
		out->kind = IPT2BPF_M_TCP;
		memcpy(&out->u.tcp, data, sizeof(out->u.tcp));
	} else if (strcmp(x->name, "udp") == 0) {
		out->kind = IPT2BPF_M_UDP;
		memcpy(&out->u.udp, data, sizeof(out->u.udp));
	} else if (strcmp(x->name, "icmp") == 0) {
		out->kind = IPT2BPF_M_ICMP;
		memcpy(&out->u.icmp, data, sizeof(out->u.icmp));
	} else if (strcmp(x->name, "multiport") == 0) {
		out->kind = IPT2BPF_M_MULTIPORT;
		if (x->revision == 0)
			widen_multiport(&out->u.multiport, data);
		else
			memcpy(&out->u.multiport, data, sizeof(out->u.multiport));
	} else if (strcmp(x->name, "iprange") == 0) {
		out->kind = IPT2BPF_M_IPRANGE;
		if (x->revision == 0)
			widen_iprange(&out->u.iprange, data);
		else
			memcpy(&out->u.iprange, data, sizeof(out->u.iprange));
	} else if (strcmp(x->name, "comment") == 0) {
		out->kind = IPT2BPF_M_COMMENT;
		memcpy(out->u.comment, data, sizeof(out->u.comment));
		/* The kernel never reads it; iptables terminates it.  For display. */
		out->u.comment[sizeof(out->u.comment) - 1] = '\0';
	} else {
		return refuse(d, i,
			      "match '%s' (revision %u) is marked translated but has no "
			      "decoder",
			      x->name, x->revision);
	}
	return 0;
}

static int decode_matches(const struct dctx *d, unsigned int i)
{
	struct ipt2bpf_entry *e = &d->t->entries[i];
	const struct ipt_entry *be = blob_entry(d, i);
	const unsigned char *p = (const unsigned char *)be;
	unsigned int n = 0;
	int err;

	for (unsigned int pos = sizeof(*be); pos < be->target_offset;
	     pos += ((const struct xt_entry_match *)(p + pos))->u.match_size)
		n++;
	if (!n)
		return 0;
	e->matches = calloc(n, sizeof(*e->matches));
	if (!e->matches)
		return ipt2bpf_diag_set(d->diag, -ENOMEM, "%s: out of memory", d->t->name);
	for (unsigned int pos = sizeof(*be); pos < be->target_offset;) {
		const struct xt_entry_match *m = (const void *)(p + pos);

		err = decode_match(d, i, m, &e->matches[e->n_matches]);
		if (err)
			return err;
		e->n_matches++;
		pos += m->u.match_size;
	}
	return 0;
}

/* ---------------------------------------------------------------- targets */

static int decode_standard(const struct dctx *d, unsigned int i, int v)
{
	struct ipt2bpf_entry *e = &d->t->entries[i];
	unsigned int dest;

	if (v < 0) {
		switch (v) {
		case -NF_ACCEPT - 1:
			e->target.kind = IPT2BPF_T_ACCEPT;
			return 0;
		case -NF_DROP - 1:
			e->target.kind = IPT2BPF_T_DROP;
			return 0;
		case XT_RETURN:
			e->target.kind = IPT2BPF_T_RETURN;
			return 0;
		case -NF_QUEUE - 1:
			return refuse(d, i,
				      "verdict QUEUE (-j QUEUE) is not supported by "
				      "ipt2bpf yet");
		default:
			return refuse(d, i, "standard verdict %d is not supported", v);
		}
	}
	if (!find_offset(d->t, (unsigned int)v, &dest))
		/*
		 * The kernel checks jumps only on paths from a hook, so an
		 * unreachable rule may carry any positive verdict.
		 */
		return refuse(d, i, "jump to offset %d, which is not the start of an entry", v);
	e->target.target_entry = dest;
	if (e->ip.flags & IPT_F_GOTO)
		e->target.kind = IPT2BPF_T_GOTO;
	else if (dest == i + 1)
		/* ipt_do_table() pushes no return address for the next entry. */
		e->target.kind = IPT2BPF_T_CONTINUE;
	else
		e->target.kind = IPT2BPF_T_JUMP;
	return 0;
}

static int decode_target(const struct dctx *d, unsigned int i)
{
	struct ipt2bpf_entry *e = &d->t->entries[i];
	const struct xt_entry_target *t = blob_target(d, i);
	const struct ipt2bpf_ext *x = ipt2bpf_ext_find(t->u.user.name, t->u.user.revision, true);

	if (!x)
		return refuse(d, i, "target '%.*s' (revision %u) is unknown",
			      (int)sizeof(t->u.user.name), t->u.user.name, t->u.user.revision);
	e->target.name = x->name;
	e->target.revision = x->revision;
	e->target.target_entry = NO_ENTRY;
	e->target.mod = x->translated ? NULL : ipt2bpf_mod_find(x->name, x->revision, true);
	if (e->target.mod) {
		e->target.kind = IPT2BPF_T_MOD;
		return decode_mod(d, i, e->target.mod, x->revision, t->data, t->u.target_size - sizeof(*t),
				  &e->target.data, &e->target.len);
	}
	if (!x->translated)
		return refuse(d, i, "target '%s' (revision %u) is not supported by ipt2bpf yet",
			      x->name, x->revision);
	if (strcmp(x->name, XT_STANDARD_TARGET) == 0)
		return decode_standard(d, i, tg_verdict(t));
	if (strcmp(x->name, XT_ERROR_TARGET) == 0) {
		e->target.kind = IPT2BPF_T_ERROR;
		snprintf(e->target.error_name, sizeof(e->target.error_name), "%s",
			 ((const struct xt_error_target *)t)->errorname);
		return 0;
	}
	return refuse(d, i, "target '%s' (revision %u) is marked translated but has no decoder",
		      x->name, x->revision);
}

/* ---------------------------------------------------------------- reachability */

/*
 * Hook masks as the kernel's mark_source_chains() computes them (jumps are
 * followed and so is the entry after them, for the return; only an
 * unconditional standard verdict < 0 ends a path), plus each built-in
 * chain's policy entry, which RETURN with an empty stack reaches at run time.
 */
static int mark_hooks(struct dctx *d)
{
	struct ipt2bpf_table *t = d->t;
	_cleanup_free_ unsigned int *stack = calloc(2 * (size_t)t->n_entries + 2, sizeof(*stack));

	if (!stack)
		return ipt2bpf_diag_set(d->diag, -ENOMEM, "%s: out of memory", t->name);
	for (unsigned int h = 0; h < IPT2BPF_NUM_HOOKS; h++) {
		unsigned int sp = 0, bit = 1u << h;

		if (!(t->valid_hooks & bit))
			continue;
		stack[sp++] = t->hook_entry[h];
		stack[sp++] = t->underflow[h];
		while (sp) {
			unsigned int i = stack[--sp];
			struct ipt2bpf_entry *e = &t->entries[i];
			const struct xt_entry_target *tg = blob_target(d, i);
			bool standard = tg_is(tg, XT_STANDARD_TARGET);

			if (e->hooks & bit)
				continue;
			e->hooks |= bit;
			if (standard && tg_verdict(tg) >= 0) {
				unsigned int dest;

				if (find_offset(t, (unsigned int)tg_verdict(tg), &dest))
					stack[sp++] = dest;
			} else if (standard && tg_verdict(tg) < 0 &&
				   unconditional(blob_entry(d, i))) {
				continue;
			}
			if (i + 1 < t->n_entries)
				stack[sp++] = i + 1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- decode */

static int decode(struct dctx *d)
{
	struct ipt2bpf_table *t = d->t;
	const struct ipt_replace *repl = d->repl;
	unsigned int n = repl->num_entries;
	int err;

	snprintf(t->name, sizeof(t->name), "%.*s", (int)sizeof(repl->name) - 1, repl->name);
	t->valid_hooks = repl->valid_hooks;
	t->entries = calloc(n ? n : 1, sizeof(*t->entries));
	if (!t->entries)
		return ipt2bpf_diag_set(d->diag, -ENOMEM, "%s: out of memory", t->name);
	for (unsigned int off = 0; off < repl->size && t->n_entries < n;) {
		const struct ipt_entry *be = (const void *)(d->base + off);
		struct ipt2bpf_entry *e = &t->entries[t->n_entries];

		e->index = t->n_entries++;
		e->offset = off;
		e->size = be->next_offset;
		e->ip = be->ip;
		e->counters = be->counters;
		e->chain = -1;
		off += be->next_offset;
	}
	for (unsigned int h = 0; h < IPT2BPF_NUM_HOOKS; h++) {
		t->hook_entry[h] = t->underflow[h] = NO_ENTRY;
		if (!(t->valid_hooks & (1u << h)))
			continue;
		/* check_table_hooks() made both land on entry starts. */
		if (!find_offset(t, repl->hook_entry[h], &t->hook_entry[h]) ||
		    !find_offset(t, repl->underflow[h], &t->underflow[h]))
			return ipt2bpf_diag_set(d->diag, -EINVAL, "%s: hook %s is not on an entry",
						t->name, hook_names[h]);
	}
	err = build_chains(d);
	if (err)
		return err;
	for (unsigned int i = 0; i < t->n_entries; i++) {
		err = check_ip(d, i);
		if (!err)
			err = decode_matches(d, i);
		if (!err)
			err = decode_target(d, i);
		if (err)
			return err;
	}
	for (unsigned int i = 0; i < t->n_entries; i++) {
		const struct ipt2bpf_target *tg = &t->entries[i].target;
		int c;

		if (tg->kind != IPT2BPF_T_JUMP && tg->kind != IPT2BPF_T_GOTO)
			continue;
		c = t->entries[tg->target_entry].chain;
		if (c >= 0)
			t->chains[c].references++;
	}
	return mark_hooks(d);
}

int ipt2bpf_table_decode(const struct ipt_replace *repl, size_t len, struct ipt2bpf_table **out,
			 struct ipt2bpf_diag *diag)
{
	_cleanup_free_ void *copy = NULL;
	_free_ipt2bpf_table_ struct ipt2bpf_table *t = NULL;
	struct dctx d = {.diag = diag};
	int err;

	*out = NULL;
	/* Decoding trusts offsets: never without the kernel's checks first. */
	err = ipt2bpf_validate(repl, len, diag);
	if (err)
		return err;
	if ((uintptr_t)repl % __alignof__(struct ipt_replace)) {
		copy = malloc(len);
		if (!copy)
			return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
		memcpy(copy, repl, len);
		repl = copy;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	d.repl = repl;
	d.base = (const unsigned char *)repl->entries;
	d.t = t;
	err = decode(&d);
	if (err)
		return err;
	*out = TAKE_PTR(t);
	return 0;
}

void ipt2bpf_table_free(struct ipt2bpf_table *t)
{
	if (!t)
		return;
	for (unsigned int i = 0; i < t->n_entries; i++) {
		free(t->entries[i].matches);
		free(t->entries[i].raw);
	}
	free(t->entries);
	free(t->chains);
	free(t);
}

void ipt2bpf_table_freep(struct ipt2bpf_table **t)
{
	ipt2bpf_table_free(*t);
	*t = NULL;
}

/* ---------------------------------------------------------------- dump */

static void dump_hooks(FILE *f, unsigned int mask)
{
	bool any = false;

	for (unsigned int h = 0; h < IPT2BPF_NUM_HOOKS; h++)
		if (mask & (1u << h)) {
			fprintf(f, "%s%s", any ? "," : "", hook_names[h]);
			any = true;
		}
	if (!any)
		fputs("none", f);
}

static void dump_addr(FILE *f, const char *opt, bool inv, struct in_addr a, struct in_addr m)
{
	char as[INET_ADDRSTRLEN], ms[INET_ADDRSTRLEN];
	uint32_t mask = ntohl(m.s_addr);
	int len = 0;

	if (!a.s_addr && !m.s_addr && !inv)
		return;
	inet_ntop(AF_INET, &a, as, sizeof(as));
	while (len < 32 && (mask & (1u << (31 - len))))
		len++;
	fprintf(f, " %s%s %s", inv ? "! " : "", opt, as);
	if (len < 32 && mask != (len ? ~0u << (32 - len) : 0u)) {
		inet_ntop(AF_INET, &m, ms, sizeof(ms));
		fprintf(f, "/%s", ms);
	} else {
		fprintf(f, "/%d", len);
	}
}

static void dump_iface(FILE *f, const char *opt, bool inv, const char *name,
		       const unsigned char *mask)
{
	unsigned int k = 0;

	while (k < IFNAMSIZ && mask[k])
		k++;
	if (!k && !name[0] && !inv)
		return;
	if (k && strnlen(name, k) < k)
		fprintf(f, " %s%s %s", inv ? "! " : "", opt, name);
	else
		fprintf(f, " %s%s %.*s+", inv ? "! " : "", opt, (int)k, name);
}

static const char *proto_name(uint16_t p)
{
	switch (p) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	default:
		return NULL;
	}
}

static void dump_ip(FILE *f, const struct ipt_ip *ip)
{
	static const struct ipt_ip zero;
	const char *pn = proto_name(ip->proto);

	if (!memcmp(ip, &zero, sizeof(zero)))
		return;
	fputs("         ip:", f);
	dump_addr(f, "-s", ip->invflags & IPT_INV_SRCIP, ip->src, ip->smsk);
	dump_addr(f, "-d", ip->invflags & IPT_INV_DSTIP, ip->dst, ip->dmsk);
	dump_iface(f, "-i", ip->invflags & IPT_INV_VIA_IN, ip->iniface, ip->iniface_mask);
	dump_iface(f, "-o", ip->invflags & IPT_INV_VIA_OUT, ip->outiface, ip->outiface_mask);
	if (ip->proto) {
		fprintf(f, " %s-p ", (ip->invflags & IPT_INV_PROTO) ? "! " : "");
		if (pn)
			fputs(pn, f);
		else
			fprintf(f, "%u", ip->proto);
	}
	if (ip->flags & IPT_F_FRAG)
		fprintf(f, " %s-f", (ip->invflags & IPT_INV_FRAG) ? "! " : "");
	if (ip->flags & IPT_F_GOTO)
		fputs(" [goto]", f);
	if (ip->invflags & IPT_INV_TOS)
		fputs(" [IPT_INV_TOS: ignored by the kernel]", f);
	fputc('\n', f);
}

static void dump_ports(FILE *f, const char *opt, bool inv, const uint16_t p[2])
{
	if (p[0] == 0 && p[1] == 0xFFFF && !inv)
		return;
	fprintf(f, " %s%s %u", inv ? "! " : "", opt, p[0]);
	if (p[1] != p[0])
		fprintf(f, ":%u", p[1]);
}

static void dump_tcp_flags(FILE *f, uint8_t bits)
{
	static const char *const names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
	bool any = false;

	for (unsigned int b = 0; b < ARRAY_SIZE(names); b++)
		if (bits & (1u << b)) {
			fprintf(f, "%s%s", any ? "," : "", names[b]);
			any = true;
		}
	if (!any)
		fputs("NONE", f);
}

static void dump_match(FILE *f, const struct ipt2bpf_match *m)
{
	fprintf(f, "         match %s (rev %u):", m->name, m->revision);
	switch (m->kind) {
	case IPT2BPF_M_TCP: {
		const struct xt_tcp *i = &m->u.tcp;

		dump_ports(f, "--sport", i->invflags & XT_TCP_INV_SRCPT, i->spts);
		dump_ports(f, "--dport", i->invflags & XT_TCP_INV_DSTPT, i->dpts);
		if (i->flg_mask || (i->invflags & XT_TCP_INV_FLAGS)) {
			fprintf(f, " %s--tcp-flags ", (i->invflags & XT_TCP_INV_FLAGS) ? "! " : "");
			dump_tcp_flags(f, i->flg_mask);
			fputc(' ', f);
			dump_tcp_flags(f, i->flg_cmp);
		}
		if (i->option || (i->invflags & XT_TCP_INV_OPTION))
			fprintf(f, " %s--tcp-option %u",
				(i->invflags & XT_TCP_INV_OPTION) ? "! " : "", i->option);
		break;
	}
	case IPT2BPF_M_UDP:
		dump_ports(f, "--sport", m->u.udp.invflags & XT_UDP_INV_SRCPT, m->u.udp.spts);
		dump_ports(f, "--dport", m->u.udp.invflags & XT_UDP_INV_DSTPT, m->u.udp.dpts);
		break;
	case IPT2BPF_M_ICMP: {
		const struct ipt_icmp *i = &m->u.icmp;

		fprintf(f, " %s--icmp-type ", (i->invflags & IPT_ICMP_INV) ? "! " : "");
		if (i->type == 0xFF) /* iptables' "any" */
			fputs("any", f);
		else
			fprintf(f, "%u code %u-%u", i->type, i->code[0], i->code[1]);
		break;
	}
	case IPT2BPF_M_MULTIPORT: {
		const struct xt_multiport_v1 *i = &m->u.multiport;
		const char *opt = i->flags == XT_MULTIPORT_SOURCE	 ? "--sports"
				  : i->flags == XT_MULTIPORT_DESTINATION ? "--dports"
									 : "--ports";

		fprintf(f, " %s%s ", i->invert ? "! " : "", opt);
		for (unsigned int k = 0; k < i->count && k < XT_MULTI_PORTS; k++) {
			fprintf(f, "%s%u", k ? "," : "", i->ports[k]);
			if (i->pflags[k] && k + 1 < i->count && k + 1 < XT_MULTI_PORTS)
				fprintf(f, ":%u", i->ports[++k]);
		}
		break;
	}
	case IPT2BPF_M_IPRANGE: {
		const struct xt_iprange_mtinfo *i = &m->u.iprange;
		char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

		if (i->flags & IPRANGE_SRC) {
			inet_ntop(AF_INET, &i->src_min.in, a, sizeof(a));
			inet_ntop(AF_INET, &i->src_max.in, b, sizeof(b));
			fprintf(f, " %s--src-range %s-%s", (i->flags & IPRANGE_SRC_INV) ? "! " : "",
				a, b);
		}
		if (i->flags & IPRANGE_DST) {
			inet_ntop(AF_INET, &i->dst_min.in, a, sizeof(a));
			inet_ntop(AF_INET, &i->dst_max.in, b, sizeof(b));
			fprintf(f, " %s--dst-range %s-%s", (i->flags & IPRANGE_DST_INV) ? "! " : "",
				a, b);
		}
		break;
	}
	case IPT2BPF_M_COMMENT:
		fputs(" --comment \"", f);
		for (const char *c = m->u.comment; *c; c++)
			if (*c == '"' || *c == '\\')
				fprintf(f, "\\%c", *c);
			else if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7F)
				fprintf(f, "\\x%02x", (unsigned char)*c);
			else
				fputc(*c, f);
		fputc('"', f);
		break;
	case IPT2BPF_M_MOD:
		if (m->mod->dump) {
			fputc(' ', f);
			m->mod->dump(f, m->data, m->len, m->revision);
		}
		break;
	case IPT2BPF_M__MAX:
		break;
	}
	fputc('\n', f);
}

static void dump_target(FILE *f, const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e)
{
	const struct ipt2bpf_target *tg = &e->target;
	char dest[128];

	fputs("         -> ", f);
	switch (tg->kind) {
	case IPT2BPF_T_ACCEPT:
		fputs("ACCEPT", f);
		break;
	case IPT2BPF_T_DROP:
		fputs("DROP", f);
		break;
	case IPT2BPF_T_RETURN:
		fputs("RETURN", f);
		break;
	case IPT2BPF_T_JUMP:
	case IPT2BPF_T_GOTO:
	case IPT2BPF_T_CONTINUE:
		ipt2bpf_entry_describe(t, tg->target_entry, dest, sizeof(dest));
		fprintf(f, "%s e%u (%s)",
			tg->kind == IPT2BPF_T_JUMP   ? "JUMP"
			: tg->kind == IPT2BPF_T_GOTO ? "GOTO"
						     : "CONTINUE",
			tg->target_entry, dest);
		break;
	case IPT2BPF_T_ERROR:
		fprintf(f, "ERROR \"%s\"", tg->error_name);
		break;
	case IPT2BPF_T_MOD:
		fprintf(f, "%s (rev %u)", tg->name, tg->revision);
		if (tg->mod->dump) {
			fputc(' ', f);
			tg->mod->dump(f, tg->data, tg->len, tg->revision);
		}
		break;
	case IPT2BPF_T__MAX:
		break;
	}
	fputc('\n', f);
}

static void dump_chain_header(FILE *f, const struct ipt2bpf_table *t, int ci)
{
	const struct ipt2bpf_chain *c = &t->chains[ci];

	if (c->builtin)
		fprintf(f, "Chain %s (built-in, hook %s, policy %s, %u rules, %u references)\n",
			c->name, hook_names[c->hook], c->policy == NF_ACCEPT ? "ACCEPT" : "DROP",
			c->n_rules, c->references);
	else
		fprintf(f, "Chain %s (user, entries e%u-e%u, %u rules, %u references)\n", c->name,
			c->head_entry, c->end_entry, c->n_rules, c->references);
}

void ipt2bpf_table_dump(const struct ipt2bpf_table *t, FILE *f)
{
	int shown = -2;

	fprintf(f, "table %s: %u entries, %u chains, hooks ", t->name, t->n_entries, t->n_chains);
	dump_hooks(f, t->valid_hooks);
	fputc('\n', f);
	for (unsigned int i = 0; i < t->n_entries; i++) {
		const struct ipt2bpf_entry *e = &t->entries[i];
		char label[16];

		if (e->chain != shown && e->role != IPT2BPF_E_POLICY) {
			if (e->chain >= 0)
				dump_chain_header(f, t, e->chain);
			else
				fputs("Outside any chain\n", f);
		}
		if (e->role != IPT2BPF_E_POLICY)
			shown = e->chain;
		switch (e->role) {
		case IPT2BPF_E_RULE:
			if (e->chain >= 0)
				snprintf(label, sizeof(label), "#%u", e->num);
			else
				snprintf(label, sizeof(label), "-");
			break;
		case IPT2BPF_E_POLICY:
			snprintf(label, sizeof(label), "policy");
			break;
		case IPT2BPF_E_CHAIN_HEAD:
			snprintf(label, sizeof(label), "head");
			break;
		case IPT2BPF_E_CHAIN_END:
			snprintf(label, sizeof(label), "end");
			break;
		case IPT2BPF_E_TABLE_END:
			snprintf(label, sizeof(label), "end");
			break;
		}
		fprintf(f, "  %-8s e%-5u @%-7u", label, e->index, e->offset);
		if (e->role == IPT2BPF_E_POLICY && e->chain >= 0)
			fprintf(f, " (%s)", t->chains[e->chain].name);
		fprintf(f, " [%" PRIu64 ":%" PRIu64 "] hooks ", (uint64_t)e->counters.pcnt,
			(uint64_t)e->counters.bcnt);
		dump_hooks(f, e->hooks);
		fputc('\n', f);
		dump_ip(f, &e->ip);
		for (unsigned int m = 0; m < e->n_matches; m++)
			dump_match(f, &e->matches[m]);
		dump_target(f, t, e);
	}
}
