// SPDX-License-Identifier: GPL-2.0
/*
 * IPT_SO_SET_REPLACE validation, step for step as the kernel does it
 * (ip_tables.c do_replace -> translate_table -> check_entry_size_and_hooks,
 * xt_check_entry_offsets, xt_check_table_hooks, mark_source_chains,
 * find_check_entry -> xt_check_match/xt_check_target, then __do_replace's
 * table lookup), returning the errno the kernel would have returned for the
 * first problem it would have found.
 *
 * The blob is never written to: the kernel keeps its back pointers and hook
 * masks in the entries' counters/comefrom, we keep them in side arrays.
 * Every read is bounds-checked first; this function is fuzzed.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/xt_CONNSECMARK.h>
#include <linux/netfilter/xt_LOG.h>
#include <linux/netfilter/xt_SECMARK.h>
#include <linux/netfilter/xt_TCPMSS.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_rpfilter.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>

#include "diag.h"
#include "ext.h"
#include "util.h"
#include "validate.h"

/* x_tables.c: the largest table (and counter array) the kernel allocates. */
#define XT_MAX_TABLE_SIZE (512u * 1024 * 1024)
/*
 * sizeof(struct xt_table_info) on 64-bit kernels, which xt_alloc_table_info()
 * adds to repl->size before comparing with XT_MAX_TABLE_SIZE.
 */
#define XT_TABLE_INFO_SIZE 64u
/* The kernel's "no entry seen for this hook yet" marker. */
#define HOOK_UNSET 0xFFFFFFFFu
/* comefrom bit marking "on the current path" during mark_source_chains(). */
#define ON_PATH	       (1u << NF_INET_NUMHOOKS)
#define MIN_ENTRY_SIZE (sizeof(struct ipt_entry) + sizeof(struct xt_entry_target))

static const char *const hook_names[NF_INET_NUMHOOKS] = {
	[NF_INET_PRE_ROUTING] = "PREROUTING",	[NF_INET_LOCAL_IN] = "INPUT",
	[NF_INET_FORWARD] = "FORWARD",		[NF_INET_LOCAL_OUT] = "OUTPUT",
	[NF_INET_POST_ROUTING] = "POSTROUTING",
};

/* The tables ipt2bpf provides, as iptable_filter.c/iptable_security.c declare them. */
static const struct {
	const char *name;
	unsigned int valid_hooks;
} tables[] = {
	{"filter", (1u << NF_INET_LOCAL_IN) | (1u << NF_INET_FORWARD) | (1u << NF_INET_LOCAL_OUT)},
	{"security",
	 (1u << NF_INET_LOCAL_IN) | (1u << NF_INET_FORWARD) | (1u << NF_INET_LOCAL_OUT)},
};

struct vctx {
	const unsigned char *base; /* first entry */
	unsigned int size;	   /* repl->size */
	unsigned int num_entries;  /* repl->num_entries */
	unsigned int valid_hooks;
	char table[XT_TABLE_MAXNAMELEN];
	unsigned int hook_entry[NF_INET_NUMHOOKS]; /* as in newinfo: set when seen */
	unsigned int underflow[NF_INET_NUMHOOKS];
	const unsigned int *repl_hook_entry; /* as the user gave them */
	const unsigned int *repl_underflow;
	unsigned int n;		/* entries walked so far */
	unsigned int cap;	/* room in the arrays below */
	unsigned int *offsets;	/* entry index -> byte offset */
	unsigned int *comefrom; /* hook mask per entry (kernel: e->comefrom) */
	unsigned int *back;	/* back pointer per entry (kernel: e->counters.pcnt) */
	struct ipt2bpf_diag *diag;
};

/* ---------------------------------------------------------------- blob access */

static const struct ipt_entry *entry_at(const struct vctx *c, unsigned int off)
{
	return (const struct ipt_entry *)(c->base + off);
}

/* Targets need not be aligned (the kernel never checks): read by copy. */
static uint16_t rd_u16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int32_t rd_s32(const void *p)
{
	int32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static const unsigned char *target_of(const struct vctx *c, unsigned int off)
{
	return c->base + off + entry_at(c, off)->target_offset;
}

static const char *tg_name(const unsigned char *t)
{
	return (const char *)t + offsetof(struct xt_entry_target, u.user.name);
}

static uint16_t tg_size(const unsigned char *t)
{
	return rd_u16(t + offsetof(struct xt_entry_target, u.target_size));
}

static int tg_verdict(const unsigned char *t)
{
	return rd_s32(t + offsetof(struct xt_standard_target, verdict));
}

/* strcmp() on a name field that may lack its NUL, like the kernel's strcmp. */
static bool name_is(const char *field, const char *s)
{
	return strncmp(field, s, XT_EXTENSION_MAXNAMELEN) == 0;
}

static bool unconditional(const struct ipt_entry *e)
{
	static const struct ipt_ip uncond;

	return e->target_offset == sizeof(struct ipt_entry) &&
	       memcmp(&e->ip, &uncond, sizeof(uncond)) == 0;
}

/* ---------------------------------------------------------------- naming */

/* "filter entry #N at offset X": before chains are known. */
static const char *raw_name(const struct vctx *c, unsigned int idx, unsigned int off, char *buf,
			    size_t len)
{
	snprintf(buf, len, "%s entry #%u at offset %u", c->table, idx, off);
	return buf;
}

/*
 * "filter/INPUT#3" and friends, the way ir.c names entries: only valid once
 * every entry up to idx passed check_entry_size_and_hooks().
 */
static const char *entry_name(const struct vctx *c, unsigned int idx, char *buf, size_t len)
{
	const char *chain = NULL;
	bool user = false;
	unsigned int num = 0;

	for (unsigned int k = 0; k <= idx && k < c->n; k++) {
		unsigned int off = c->offsets[k];
		const struct ipt_entry *e = entry_at(c, off);
		const unsigned char *t = target_of(c, off);
		int policy_of = -1;

		for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
			if (!(c->valid_hooks & (1u << h)))
				continue;
			if (off == c->repl_hook_entry[h]) {
				chain = hook_names[h];
				user = false;
				num = 0;
			}
			if (off == c->repl_underflow[h])
				policy_of = h;
		}
		if (name_is(tg_name(t), XT_ERROR_TARGET)) {
			if (k + 1 == c->n && k == idx) {
				snprintf(buf, len, "%s (table end)", c->table);
				return buf;
			}
			chain = (const char *)t + sizeof(struct xt_entry_target);
			user = true;
			num = 0;
			if (k == idx) {
				snprintf(buf, len, "%s/%s (chain head)", c->table, chain);
				return buf;
			}
			continue;
		}
		if (policy_of >= 0) {
			if (k == idx) {
				snprintf(buf, len, "%s/%s policy", c->table, hook_names[policy_of]);
				return buf;
			}
			continue;
		}
		if (user && unconditional(e) && name_is(tg_name(t), XT_STANDARD_TARGET) &&
		    tg_verdict(t) == XT_RETURN &&
		    (k + 1 >= c->n ||
		     name_is(tg_name(target_of(c, c->offsets[k + 1])), XT_ERROR_TARGET))) {
			if (k == idx) {
				snprintf(buf, len, "%s/%s (chain end)", c->table, chain);
				return buf;
			}
			continue;
		}
		num++;
	}
	if (!chain)
		return raw_name(c, idx, c->offsets[idx], buf, len);
	snprintf(buf, len, "%s/%s#%u", c->table, chain, num);
	return buf;
}

static void hooks_text(unsigned int mask, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS && used < len; h++)
		if (mask & (1u << h))
			used += snprintf(buf + used, len - used, "%s%s", used ? "/" : "",
					 hook_names[h]);
	if (!buf[0])
		snprintf(buf, len, "none");
}

/* ---------------------------------------------------------------- entry layout */

static int check_matches(const struct vctx *c, unsigned int idx, unsigned int off,
			 unsigned int target_offset)
{
	unsigned int pos = sizeof(struct ipt_entry);
	int length = (int)target_offset - (int)pos;
	char nb[96];

	/* xt_check_entry_match(): matches tile elems[] up to the target exactly. */
	while (length > 0) {
		const struct xt_entry_match *m = (const void *)(c->base + off + pos);

		if ((off + pos) % __alignof__(struct xt_entry_match))
			return ipt2bpf_diag_set(c->diag, -EINVAL, "%s: match at +%u is misaligned",
						raw_name(c, idx, off, nb, sizeof(nb)), pos);
		if (length < (int)sizeof(struct xt_entry_match))
			return ipt2bpf_diag_set(c->diag, -EINVAL,
						"%s: %d bytes before the target are too few for a "
						"match header",
						raw_name(c, idx, off, nb, sizeof(nb)), length);
		if (m->u.match_size < sizeof(struct xt_entry_match))
			return ipt2bpf_diag_set(c->diag, -EINVAL,
						"%s: match at +%u has match_size %u, smaller than "
						"its header",
						raw_name(c, idx, off, nb, sizeof(nb)), pos,
						m->u.match_size);
		if (m->u.match_size > length)
			return ipt2bpf_diag_set(c->diag, -EINVAL,
						"%s: match at +%u (match_size %u) runs into the "
						"target at +%u",
						raw_name(c, idx, off, nb, sizeof(nb)), pos,
						m->u.match_size, target_offset);
		length -= m->u.match_size;
		pos += m->u.match_size;
	}
	return 0;
}

/* xt_check_entry_offsets() */
static int check_entry_offsets(const struct vctx *c, unsigned int idx, unsigned int off)
{
	const struct ipt_entry *e = entry_at(c, off);
	unsigned int to = e->target_offset, no = e->next_offset;
	const unsigned char *t;
	char nb[96];

	if (to < sizeof(struct ipt_entry))
		return ipt2bpf_diag_set(c->diag, -EINVAL,
					"%s: target_offset %u lies inside the entry header",
					raw_name(c, idx, off, nb, sizeof(nb)), to);
	if (to + sizeof(struct xt_entry_target) > no)
		return ipt2bpf_diag_set(c->diag, -EINVAL,
					"%s: target header at +%u does not fit in next_offset %u",
					raw_name(c, idx, off, nb, sizeof(nb)), to, no);
	t = c->base + off + to;
	if (tg_size(t) < sizeof(struct xt_entry_target))
		return ipt2bpf_diag_set(c->diag, -EINVAL,
					"%s: target_size %u is smaller than the target header",
					raw_name(c, idx, off, nb, sizeof(nb)), tg_size(t));
	if (to + tg_size(t) > no)
		return ipt2bpf_diag_set(
			c->diag, -EINVAL,
			"%s: target (target_size %u at +%u) overruns next_offset %u",
			raw_name(c, idx, off, nb, sizeof(nb)), tg_size(t), to, no);
	if (name_is(tg_name(t), XT_STANDARD_TARGET)) {
		int v;

		if (XT_ALIGN(to + sizeof(struct xt_standard_target)) != no)
			return ipt2bpf_diag_set(
				c->diag, -EINVAL,
				"%s: standard target entry has next_offset %u, expected %zu",
				raw_name(c, idx, off, nb, sizeof(nb)), no,
				(size_t)XT_ALIGN(to + sizeof(struct xt_standard_target)));
		/* verdict_ok(): jumps (> 0), ACCEPT, DROP, QUEUE, RETURN. */
		v = tg_verdict(t);
		if (v <= 0 && v != XT_RETURN && v != -NF_ACCEPT - 1 && v != -NF_DROP - 1 &&
		    v != -NF_QUEUE - 1)
			return ipt2bpf_diag_set(c->diag, -EINVAL, "%s: invalid standard verdict %d",
						raw_name(c, idx, off, nb, sizeof(nb)), v);
	} else if (name_is(tg_name(t), XT_ERROR_TARGET)) {
		const char *en = (const char *)t + sizeof(struct xt_entry_target);

		if (tg_size(t) != sizeof(struct xt_error_target))
			return ipt2bpf_diag_set(c->diag, -EINVAL,
						"%s: ERROR target has target_size %u, expected %zu",
						raw_name(c, idx, off, nb, sizeof(nb)), tg_size(t),
						sizeof(struct xt_error_target));
		if (strnlen(en, XT_FUNCTION_MAXNAMELEN) >= XT_FUNCTION_MAXNAMELEN)
			return ipt2bpf_diag_set(c->diag, -EINVAL,
						"%s: ERROR target name is not NUL-terminated",
						raw_name(c, idx, off, nb, sizeof(nb)));
	}
	return check_matches(c, idx, off, to);
}

static bool check_underflow(const struct vctx *c, unsigned int off)
{
	const unsigned char *t;
	unsigned int verdict;

	if (!unconditional(entry_at(c, off)))
		return false;
	t = target_of(c, off);
	if (!name_is(tg_name(t), XT_STANDARD_TARGET))
		return false;
	verdict = -(unsigned int)tg_verdict(t) - 1;
	return verdict == NF_DROP || verdict == NF_ACCEPT;
}

/* check_entry_size_and_hooks() */
static int check_entry_size_and_hooks(struct vctx *c, unsigned int idx, unsigned int off)
{
	const struct ipt_entry *e;
	char nb[96];
	int err;

	if (off % __alignof__(struct ipt_entry))
		return ipt2bpf_diag_set(c->diag, -EINVAL,
					"%s: misaligned (entries are %zu-byte "
					"aligned)",
					raw_name(c, idx, off, nb, sizeof(nb)),
					__alignof__(struct ipt_entry));
	if ((size_t)off + sizeof(struct ipt_entry) >= c->size)
		return ipt2bpf_diag_set(c->diag, -EINVAL,
					"%s: entry header runs past the end of the table (size %u)",
					raw_name(c, idx, off, nb, sizeof(nb)), c->size);
	e = entry_at(c, off);
	if ((size_t)off + e->next_offset > c->size)
		return ipt2bpf_diag_set(c->diag, -EINVAL,
					"%s: next_offset %u runs past the end of the table (size "
					"%u)",
					raw_name(c, idx, off, nb, sizeof(nb)), e->next_offset,
					c->size);
	if (e->next_offset < MIN_ENTRY_SIZE)
		return ipt2bpf_diag_set(c->diag, -EINVAL,
					"%s: next_offset %u is smaller than an entry with a target "
					"(%zu)",
					raw_name(c, idx, off, nb, sizeof(nb)), e->next_offset,
					MIN_ENTRY_SIZE);
	/* ip_checkentry() */
	if (e->ip.flags & ~IPT_F_MASK)
		return ipt2bpf_diag_set(c->diag, -EINVAL, "%s: unknown bits 0x%x in ip.flags",
					raw_name(c, idx, off, nb, sizeof(nb)),
					e->ip.flags & ~IPT_F_MASK);
	if (e->ip.invflags & ~IPT_INV_MASK)
		return ipt2bpf_diag_set(c->diag, -EINVAL, "%s: unknown bits 0x%x in ip.invflags",
					raw_name(c, idx, off, nb, sizeof(nb)),
					e->ip.invflags & ~IPT_INV_MASK);
	err = check_entry_offsets(c, idx, off);
	if (err)
		return err;

	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		if (!(c->valid_hooks & (1u << h)))
			continue;
		if (off == c->repl_hook_entry[h])
			c->hook_entry[h] = off;
		if (off == c->repl_underflow[h]) {
			if (!check_underflow(c, off))
				return ipt2bpf_diag_set(
					c->diag, -EINVAL,
					"%s: underflow (policy) of %s must be an unconditional "
					"ACCEPT or DROP",
					raw_name(c, idx, off, nb, sizeof(nb)), hook_names[h]);
			c->underflow[h] = off;
		}
	}
	return 0;
}

/* xt_check_table_hooks() */
static int check_table_hooks(const struct vctx *c)
{
	unsigned int max_entry = 0, max_uflow = 0;
	bool check = false;

	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		const char *what = NULL;

		if (!(c->valid_hooks & (1u << h)))
			continue;
		if (c->hook_entry[h] == HOOK_UNSET)
			return ipt2bpf_diag_set(c->diag, -EINVAL,
						"%s: hook_entry of %s (offset %u) is not the start "
						"of an entry",
						c->table, hook_names[h], c->repl_hook_entry[h]);
		if (c->underflow[h] == HOOK_UNSET)
			return ipt2bpf_diag_set(c->diag, -EINVAL,
						"%s: underflow of %s (offset %u) is not the start "
						"of an entry",
						c->table, hook_names[h], c->repl_underflow[h]);
		if (check) {
			if (max_uflow > c->underflow[h])
				what = "unsorted underflow";
			else if (max_uflow == c->underflow[h])
				what = "duplicate underflow";
			else if (max_entry > c->hook_entry[h])
				what = "unsorted entry";
			else if (max_entry == c->hook_entry[h])
				what = "duplicate entry";
			if (what)
				return ipt2bpf_diag_set(c->diag, -EINVAL,
							"%s: %s at hook %s (hook entries and "
							"underflows must ascend in hook order)",
							c->table, what, hook_names[h]);
		}
		max_entry = c->hook_entry[h];
		max_uflow = c->underflow[h];
		check = true;
	}
	return 0;
}

/* ---------------------------------------------------------------- mark_source_chains */

/* xt_find_jump_offset(): binary search of the entry starts. */
static bool find_entry(const struct vctx *c, unsigned int off, unsigned int *idx)
{
	unsigned int lo = 0, hi = c->n;

	while (hi > lo) {
		unsigned int m = lo + (hi - lo) / 2;

		if (c->offsets[m] > off)
			hi = m;
		else if (c->offsets[m] < off)
			lo = m + 1;
		else {
			*idx = m;
			return true;
		}
	}
	return false;
}

__attribute__((format(printf, 4, 5))) static int loop_error(const struct vctx *c, unsigned int from,
							    unsigned int hook, const char *fmt, ...)
{
	char nb[128], reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return ipt2bpf_diag_set(c->diag, -ELOOP, "%s: %s (walking from hook %s)",
				entry_name(c, from, nb, sizeof(nb)), reason, hook_names[hook]);
}

/*
 * Walks every path from every hook like the kernel's mark_source_chains()
 * (same order, same back-pointer trick, indices instead of offsets), leaving
 * the hook mask of every reachable entry in comefrom[].
 */
static int mark_source_chains(struct vctx *c)
{
	for (unsigned int hook = 0; hook < NF_INET_NUMHOOKS; hook++) {
		unsigned int idx;

		if (!(c->valid_hooks & (1u << hook)))
			continue;
		if (!find_entry(c, c->hook_entry[hook], &idx))
			return -EFAULT; /* check_table_hooks() guarantees it */
		c->back[idx] = idx;

		for (;;) {
			const struct ipt_entry *e = entry_at(c, c->offsets[idx]);
			const unsigned char *t = target_of(c, c->offsets[idx]);
			bool standard = name_is(tg_name(t), XT_STANDARD_TARGET);
			bool visited = c->comefrom[idx] & (1u << hook);

			if (c->comefrom[idx] & ON_PATH) {
				char tn[128];

				return loop_error(c, c->back[idx], hook,
						  "loop: leads back to %s, which is already on "
						  "the call path",
						  entry_name(c, idx, tn, sizeof(tn)));
			}
			c->comefrom[idx] |= (1u << hook) | ON_PATH;

			if ((unconditional(e) && standard && tg_verdict(t) < 0) || visited) {
				unsigned int old;

				/* Return: backtrack through the last big jump. */
				do {
					c->comefrom[idx] ^= ON_PATH;
					old = idx;
					idx = c->back[idx];
					c->back[old] = 0;
					if (idx == old)
						goto next_hook;
				} while (old == idx + 1);

				if (idx + 1 >= c->n)
					return loop_error(c, idx, hook,
							  "execution continues past the last "
							  "entry");
				c->back[idx + 1] = idx;
				idx++;
			} else {
				unsigned int next;
				/* Only a standard target is known to carry a verdict. */
				int v = standard ? tg_verdict(t) : -1;

				if (standard && v >= 0) {
					if (!find_entry(c, (unsigned int)v, &next))
						return loop_error(c, idx, hook,
								  "jump to offset %d, which is not "
								  "the start of an entry",
								  v);
				} else {
					next = idx + 1;
					if (next >= c->n)
						return loop_error(c, idx, hook,
								  "execution falls off the end of "
								  "the table");
				}
				c->back[next] = idx;
				idx = next;
			}
		}
	next_hook:;
	}
	return 0;
}

/* ---------------------------------------------------------------- extensions */

struct xcheck {
	const struct vctx *c;
	unsigned int idx;
	const struct ipt_entry *e;
	const void *data; /* payload; 8-byte aligned once its size check passed */
	unsigned int hook_mask;
	const char *what; /* "match 'tcp' (revision 0)" */
};

static int xfail(const struct xcheck *x, int err, const char *reason)
{
	char nb[128];

	return ipt2bpf_diag_set(x->c->diag, err, "%s: %s: %s",
				entry_name(x->c, x->idx, nb, sizeof(nb)), x->what, reason);
}

static int tcp_check(const struct xcheck *x)
{
	const struct xt_tcp *i = x->data;

	return (i->invflags & ~XT_TCP_INV_MASK) ? xfail(x, -EINVAL, "unknown inversion flags") : 0;
}

static int udp_check(const struct xcheck *x)
{
	const struct xt_udp *i = x->data;

	return (i->invflags & ~XT_UDP_INV_MASK) ? xfail(x, -EINVAL, "unknown inversion flags") : 0;
}

static int icmp_check(const struct xcheck *x)
{
	const struct ipt_icmp *i = x->data;

	return (i->invflags & ~IPT_ICMP_INV) ? xfail(x, -EINVAL, "unknown inversion flags") : 0;
}

/* xt_multiport.c check(): both revisions. */
static int multiport_common(const struct xcheck *x, uint8_t flags, uint8_t count)
{
	uint16_t p = x->e->ip.proto;

	if (p != IPPROTO_TCP && p != IPPROTO_UDP && p != IPPROTO_UDPLITE && p != IPPROTO_SCTP &&
	    p != IPPROTO_DCCP)
		return xfail(x, -EINVAL, "needs -p tcp, udp, udplite, sctp or dccp");
	if (x->e->ip.invflags & XT_INV_PROTO)
		return xfail(x, -EINVAL, "cannot be used with ! -p");
	if (flags != XT_MULTIPORT_SOURCE && flags != XT_MULTIPORT_DESTINATION &&
	    flags != XT_MULTIPORT_EITHER)
		return xfail(x, -EINVAL, "invalid direction flags");
	if (count > XT_MULTI_PORTS)
		return xfail(x, -EINVAL, "more than 15 ports");
	return 0;
}

static int multiport0_check(const struct xcheck *x)
{
	const struct xt_multiport *i = x->data;

	return multiport_common(x, i->flags, i->count);
}

static int multiport1_check(const struct xcheck *x)
{
	const struct xt_multiport_v1 *i = x->data;
	int err = multiport_common(x, i->flags, i->count);

	if (err)
		return err;
	/* multiport_valid_ranges(): a range start is followed by its end. */
	for (unsigned int k = 0; k < i->count; k++) {
		if (!i->pflags[k])
			continue;
		if (++k >= i->count || i->pflags[k] || i->ports[k - 1] > i->ports[k])
			return xfail(x, -EINVAL, "invalid port range");
	}
	return 0;
}

static bool in_mangle_or_security(const struct xcheck *x)
{
	return strcmp(x->c->table, "mangle") == 0 || strcmp(x->c->table, "security") == 0;
}

static int secmark_check(const struct xcheck *x)
{
	/* mode is the first byte of both revisions' payload. */
	const uint8_t *mode = x->data;

	if (!in_mangle_or_security(x))
		return xfail(x, -EINVAL, "only valid in the mangle or security table");
	if (*mode != SECMARK_MODE_SEL)
		return xfail(x, -EINVAL, "invalid mode");
	return 0;
}

static int connsecmark_check(const struct xcheck *x)
{
	const struct xt_connsecmark_target_info *i = x->data;

	if (!in_mangle_or_security(x))
		return xfail(x, -EINVAL, "only valid in the mangle or security table");
	if (i->mode != CONNSECMARK_SAVE && i->mode != CONNSECMARK_RESTORE)
		return xfail(x, -EINVAL, "invalid mode");
	return 0;
}

static int reject_check(const struct xcheck *x)
{
	const struct ipt_reject_info *i = x->data;

	if (i->with == IPT_ICMP_ECHOREPLY)
		return xfail(x, -EINVAL, "--reject-with echo-reply is no longer supported");
	if (i->with == IPT_TCP_RESET &&
	    (x->e->ip.proto != IPPROTO_TCP || (x->e->ip.invflags & XT_INV_PROTO)))
		return xfail(x, -EINVAL, "--reject-with tcp-reset needs -p tcp");
	return 0;
}

static int log_check(const struct xcheck *x)
{
	const struct xt_log_info *i = x->data;

	if (i->level >= 8)
		return xfail(x, -EINVAL, "log level above 7");
	if (i->prefix[sizeof(i->prefix) - 1] != '\0')
		return xfail(x, -EINVAL, "log prefix is not NUL-terminated");
	return 0;
}

/* find_syn_match() in xt_TCPMSS.c */
static bool has_syn_match(const struct xcheck *x)
{
	const unsigned char *e = (const unsigned char *)x->e;

	for (unsigned int pos = sizeof(struct ipt_entry); pos < x->e->target_offset;) {
		const struct xt_entry_match *m = (const void *)(e + pos);
		const struct xt_tcp *tcp = (const void *)m->data;

		if (name_is(m->u.user.name, "tcp") && m->u.user.revision == 0 &&
		    m->u.match_size == sizeof(*m) + XT_ALIGN(sizeof(*tcp)) &&
		    (tcp->flg_cmp & 0x02 /* TCPHDR_SYN */) && !(tcp->invflags & XT_TCP_INV_FLAGS))
			return true;
		pos += m->u.match_size;
	}
	return false;
}

static int tcpmss_check(const struct xcheck *x)
{
	const struct xt_tcpmss_info *i = x->data;
	unsigned int ok =
		(1u << NF_INET_FORWARD) | (1u << NF_INET_LOCAL_OUT) | (1u << NF_INET_POST_ROUTING);

	if (i->mss == XT_TCPMSS_CLAMP_PMTU && (x->hook_mask & ~ok))
		return xfail(x, -EINVAL,
			     "--clamp-mss-to-pmtu only works in FORWARD, OUTPUT "
			     "and POSTROUTING");
	if (!has_syn_match(x))
		return xfail(x, -EINVAL, "only works on TCP SYN packets (add --syn)");
	return 0;
}

static int rpfilter_check(const struct xcheck *x)
{
	const struct xt_rpfilter_info *i = x->data;

	/* XT_RPFILTER_OPTION_MASK, which Debian 12's uapi headers lack */
	unsigned int known = XT_RPFILTER_LOOSE | XT_RPFILTER_VALID_MARK | XT_RPFILTER_ACCEPT_LOCAL |
			     XT_RPFILTER_INVERT;

	if (i->flags & ~known)
		return xfail(x, -EINVAL, "unknown options");
	if (strcmp(x->c->table, "mangle") != 0 && strcmp(x->c->table, "raw") != 0)
		return xfail(x, -EINVAL, "only valid in the raw or mangle table");
	return 0;
}

/* The modules' checkentry functions whose verdict depends only on the blob. */
static const struct {
	const char *name;
	bool target;
	int revision; /* -1: all */
	int (*check)(const struct xcheck *x);
} checkentry[] = {
	{"tcp", false, 0, tcp_check},
	{"udp", false, 0, udp_check},
	{"udplite", false, 0, udp_check},
	{"icmp", false, 0, icmp_check},
	{"multiport", false, 0, multiport0_check},
	{"multiport", false, 1, multiport1_check},
	{"rpfilter", false, -1, rpfilter_check},
	{"SECMARK", true, -1, secmark_check},
	{"CONNSECMARK", true, -1, connsecmark_check},
	{"REJECT", true, -1, reject_check},
	{"LOG", true, -1, log_check},
	{"TCPMSS", true, -1, tcpmss_check},
};

/* find_check_match()/check_target(): lookup, then xt_check_match/target's checks. */
static int check_extension(const struct vctx *c, unsigned int idx, const struct ipt_entry *e,
			   const unsigned char *hdr, bool target)
{
	const char *kind = target ? "target" : "match";
	const char *name = tg_name(hdr); /* same place in xt_entry_match */
	uint8_t rev = hdr[offsetof(struct xt_entry_target, u.user.revision)];
	unsigned int size = rd_u16(hdr) - sizeof(struct xt_entry_target);
	const struct ipt2bpf_ext *x;
	char what[96], reason[160], nb[128];
	struct xcheck xc;
	int err;

	x = ipt2bpf_ext_lookup(name, rev, target, &err);
	if (!x) {
		if (err == -EINVAL)
			return ipt2bpf_diag_set(c->diag, err, "%s: %s name is not NUL-terminated",
						entry_name(c, idx, nb, sizeof(nb)), kind);
		return ipt2bpf_diag_set(c->diag, err, "%s: %s '%s' (revision %u): %s",
					entry_name(c, idx, nb, sizeof(nb)), kind, name, rev,
					ipt2bpf_ext_revision_known(name, rev, target) == -ENOENT
						? "no such extension"
						: "no such revision");
	}
	snprintf(what, sizeof(what), "%s '%s' (revision %u)", kind, x->name, rev);
	xc = (struct xcheck){.c = c,
			     .idx = idx,
			     .e = e,
			     .what = what,
			     .data = hdr + sizeof(struct xt_entry_target),
			     .hook_mask = c->comefrom[idx]};

	if (x->size != size) {
		snprintf(reason, sizeof(reason), "payload is %u bytes, the kernel expects %zu",
			 size, x->size);
		return xfail(&xc, -EINVAL, reason);
	}
	if (x->table && strcmp(x->table, c->table) != 0) {
		snprintf(reason, sizeof(reason), "only valid in the %s table", x->table);
		return xfail(&xc, -EINVAL, reason);
	}
	if (x->hooks && (xc.hook_mask & ~x->hooks)) {
		char used[64], allowed[64];

		hooks_text(xc.hook_mask, used, sizeof(used));
		hooks_text(x->hooks, allowed, sizeof(allowed));
		snprintf(reason, sizeof(reason), "reached from %s, only valid from %s", used,
			 allowed);
		return xfail(&xc, -EINVAL, reason);
	}
	if (x->proto && (x->proto != e->ip.proto || (e->ip.invflags & XT_INV_PROTO))) {
		snprintf(reason, sizeof(reason), "needs -p %u (%s) without '!'", x->proto,
			 x->proto == IPPROTO_TCP    ? "tcp"
			 : x->proto == IPPROTO_UDP  ? "udp"
			 : x->proto == IPPROTO_ICMP ? "icmp"
						    : "see iptables-extensions(8)");
		return xfail(&xc, -EINVAL, reason);
	}
	for (size_t i = 0; i < ARRAY_SIZE(checkentry); i++)
		if (checkentry[i].target == target && strcmp(checkentry[i].name, x->name) == 0 &&
		    (checkentry[i].revision < 0 || checkentry[i].revision == rev))
			return checkentry[i].check(&xc);
	return 0;
}

/* find_check_entry() */
static int find_check_entry(const struct vctx *c, unsigned int idx)
{
	unsigned int off = c->offsets[idx];
	const struct ipt_entry *e = entry_at(c, off);
	const unsigned char *p = (const unsigned char *)e;
	int err;

	for (unsigned int pos = sizeof(struct ipt_entry); pos < e->target_offset;) {
		err = check_extension(c, idx, e, p + pos, false);
		if (err)
			return err;
		pos += rd_u16(p + pos);
	}
	return check_extension(c, idx, e, p + e->target_offset, true);
}

/* ---------------------------------------------------------------- entry point */

static int validate(const struct ipt_replace *repl, size_t len, struct ipt2bpf_diag *diag)
{
	struct vctx c = {.diag = diag};
	_cleanup_free_ unsigned int *arrays = NULL;
	unsigned int valid_table_hooks = 0;
	bool table_known = false;
	size_t cap;
	int err;

	/* do_replace() */
	if (len < sizeof(*repl))
		return ipt2bpf_diag_set(diag, -EINVAL,
					"replace buffer of %zu bytes is shorter than struct "
					"ipt_replace (%zu)",
					len, sizeof(*repl));
	memcpy(c.table, repl->name, sizeof(c.table));
	c.table[sizeof(c.table) - 1] = '\0';
	if (repl->num_counters >= INT_MAX / sizeof(struct xt_counters))
		return ipt2bpf_diag_set(diag, -ENOMEM, "%s: num_counters %u is too large", c.table,
					repl->num_counters);
	if (repl->num_counters == 0)
		return ipt2bpf_diag_set(diag, -EINVAL, "%s: num_counters is 0", c.table);
	if ((uint64_t)len < (uint64_t)repl->size + sizeof(*repl))
		return ipt2bpf_diag_set(diag, -EINVAL,
					"%s: size %u does not fit in the %zu-byte buffer", c.table,
					repl->size, len);
	/* xt_alloc_table_info() */
	if ((uint64_t)repl->size + XT_TABLE_INFO_SIZE >= XT_MAX_TABLE_SIZE)
		return ipt2bpf_diag_set(diag, -ENOMEM, "%s: table size %u is too large", c.table,
					repl->size);

	/* translate_table() */
	c.base = (const unsigned char *)repl->entries;
	c.size = repl->size;
	c.num_entries = repl->num_entries;
	c.valid_hooks = repl->valid_hooks;
	c.repl_hook_entry = repl->hook_entry;
	c.repl_underflow = repl->underflow;
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++)
		c.hook_entry[h] = c.underflow[h] = HOOK_UNSET;
	/* xt_alloc_entry_offsets() */
	if (c.num_entries > XT_MAX_TABLE_SIZE / sizeof(unsigned int))
		return ipt2bpf_diag_set(diag, -ENOMEM, "%s: num_entries %u is too large", c.table,
					c.num_entries);
	/*
	 * No more entries can fit than size / MIN_ENTRY_SIZE; a larger
	 * num_entries fails the count check below with -EINVAL either way.
	 */
	cap = c.size / MIN_ENTRY_SIZE + 1;
	if (cap > c.num_entries)
		cap = c.num_entries;
	c.cap = cap;
	arrays = calloc(3 * cap + 3, sizeof(unsigned int));
	if (!arrays)
		return ipt2bpf_diag_set(diag, -ENOMEM, "%s: out of memory", c.table);
	c.offsets = arrays;
	c.comefrom = arrays + cap + 1;
	c.back = arrays + 2 * (cap + 1);

	for (unsigned int off = 0; off < c.size;) {
		err = check_entry_size_and_hooks(&c, c.n, off);
		if (err)
			return err;
		if (c.n >= c.cap)
			/* More entries than num_entries: only the count check remains. */
			return ipt2bpf_diag_set(diag, -EINVAL,
						"%s: more entries than num_entries (%u)", c.table,
						c.num_entries);
		c.offsets[c.n++] = off;
		off += entry_at(&c, off)->next_offset;
	}
	if (c.n != c.num_entries)
		return ipt2bpf_diag_set(diag, -EINVAL, "%s: %u entries found, num_entries is %u",
					c.table, c.n, c.num_entries);
	err = check_table_hooks(&c);
	if (err)
		return err;
	err = mark_source_chains(&c);
	if (err)
		return err;
	for (unsigned int i = 0; i < c.n; i++) {
		err = find_check_entry(&c, i);
		if (err)
			return err;
	}

	/* __do_replace(): xt_counters_alloc(), then the table itself. */
	if ((uint64_t)repl->num_counters * sizeof(struct xt_counters) > XT_MAX_TABLE_SIZE)
		return ipt2bpf_diag_set(diag, -ENOMEM, "%s: num_counters %u is too large", c.table,
					repl->num_counters);
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		if (strcmp(tables[i].name, c.table) == 0) {
			table_known = true;
			valid_table_hooks = tables[i].valid_hooks;
		}
	if (!table_known)
		return ipt2bpf_diag_set(diag, -ENOENT,
					"table '%s' does not exist (ipt2bpf provides filter and "
					"security)",
					c.table);
	if (c.valid_hooks != valid_table_hooks)
		return ipt2bpf_diag_set(diag, -EINVAL,
					"%s: valid_hooks 0x%x does not match the table's 0x%x",
					c.table, c.valid_hooks, valid_table_hooks);
	return 0;
}

int ipt2bpf_validate(const struct ipt_replace *repl, size_t len, struct ipt2bpf_diag *diag)
{
	_cleanup_free_ void *copy = NULL;

	/*
	 * Entry alignment is checked relative to the start of the entries, as
	 * the kernel's own copy is aligned; give unaligned callers the same.
	 */
	if ((uintptr_t)repl % __alignof__(struct ipt_replace)) {
		copy = malloc(len ? len : 1);
		if (!copy)
			return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
		memcpy(copy, repl, len);
		repl = copy;
	}
	return validate(repl, len, diag);
}
