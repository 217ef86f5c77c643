/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Building ipt_replace blobs in C for the translator's unit tests, the way
 * libiptc lays them out (built-in chains in hook order, each ending with its
 * policy; user chains as ERROR head, rules, RETURN; a final ERROR entry), with
 * hooks to break any field afterwards.
 *
 *	struct blob b;
 *	blob_init(&b, "filter", FILTER_HOOKS);
 *	blob_hook(&b, NF_INET_LOCAL_IN);
 *	blob_entry(&b, &ip);  blob_match(&b, "tcp", 0, &tcp, sizeof(tcp));
 *	blob_std(&b, VERDICT_ACCEPT);
 *	blob_policy(&b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
 *	...
 *	blob_error(&b, "ERROR");
 *	repl = blob_finish(&b, &len);
 */
#ifndef IPT2BPF_TEST_BLOB_H
#define IPT2BPF_TEST_BLOB_H

#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#define FILTER_HOOKS                                                                               \
	((1u << NF_INET_LOCAL_IN) | (1u << NF_INET_FORWARD) | (1u << NF_INET_LOCAL_OUT))
#define VERDICT_ACCEPT	 (-NF_ACCEPT - 1)
#define VERDICT_DROP	 (-NF_DROP - 1)
#define VERDICT_QUEUE	 (-NF_QUEUE - 1)
#define VERDICT_RETURN	 XT_RETURN
#define BLOB_MAX_ENTRIES 256

struct blob {
	unsigned char buf[65536]; /* entries */
	unsigned int len;
	unsigned int n;			    /* finished entries */
	unsigned int off[BLOB_MAX_ENTRIES]; /* entry offsets */
	unsigned int cur;		    /* offset of the entry being built */
	char name[XT_TABLE_MAXNAMELEN];
	unsigned int valid_hooks;
	unsigned int hook_entry[NF_INET_NUMHOOKS];
	unsigned int underflow[NF_INET_NUMHOOKS];
};

static inline void blob_init(struct blob *b, const char *table, unsigned int valid_hooks)
{
	memset(b, 0, sizeof(*b));
	strncpy(b->name, table, sizeof(b->name) - 1);
	b->valid_hooks = valid_hooks;
	for (int h = 0; h < NF_INET_NUMHOOKS; h++)
		b->hook_entry[h] = b->underflow[h] = 0xFFFFFFFF;
}

static inline struct ipt_entry *blob_e(struct blob *b, unsigned int idx)
{
	return (struct ipt_entry *)(b->buf + b->off[idx]);
}

/* Starts an entry; ip may be NULL (unconditional).  Returns its index. */
static inline unsigned int blob_entry(struct blob *b, const struct ipt_ip *ip)
{
	struct ipt_entry *e = (struct ipt_entry *)(b->buf + b->len);

	memset(e, 0, sizeof(*e));
	if (ip)
		e->ip = *ip;
	b->cur = b->len;
	b->len += sizeof(*e);
	e->target_offset = sizeof(*e);
	return b->n;
}

static inline void blob_match(struct blob *b, const char *name, unsigned char rev, const void *data,
			      size_t size)
{
	struct ipt_entry *e = (struct ipt_entry *)(b->buf + b->cur);
	struct xt_entry_match *m = (struct xt_entry_match *)(b->buf + b->len);
	size_t total = sizeof(*m) + XT_ALIGN(size);

	memset(m, 0, total);
	m->u.user.match_size = total;
	strncpy(m->u.user.name, name, sizeof(m->u.user.name) - 1);
	m->u.user.revision = rev;
	if (size)
		memcpy(m->data, data, size);
	b->len += total;
	e->target_offset += total;
}

static inline unsigned int blob_end(struct blob *b, const char *name, unsigned char rev,
				    const void *data, size_t size)
{
	struct ipt_entry *e = (struct ipt_entry *)(b->buf + b->cur);
	struct xt_entry_target *t = (struct xt_entry_target *)(b->buf + b->len);
	size_t total = sizeof(*t) + XT_ALIGN(size);

	memset(t, 0, total);
	t->u.user.target_size = total;
	strncpy(t->u.user.name, name, sizeof(t->u.user.name) - 1);
	t->u.user.revision = rev;
	if (size)
		memcpy(t->data, data, size);
	b->len += total;
	e->next_offset = b->len - b->cur;
	b->off[b->n] = b->cur;
	return b->n++;
}

static inline unsigned int blob_std(struct blob *b, int verdict)
{
	return blob_end(b, XT_STANDARD_TARGET, 0, &verdict, sizeof(verdict));
}

static inline unsigned int blob_error(struct blob *b, const char *chain)
{
	char name[XT_FUNCTION_MAXNAMELEN] = {0};

	blob_entry(b, NULL);
	strncpy(name, chain, sizeof(name) - 1);
	return blob_end(b, XT_ERROR_TARGET, 0, name, sizeof(name));
}

/* The next entry starts built-in chain hook. */
static inline void blob_hook(struct blob *b, unsigned int hook)
{
	b->hook_entry[hook] = b->len;
}

/* Appends the unconditional policy entry of hook and records it as underflow. */
static inline unsigned int blob_policy(struct blob *b, unsigned int hook, int verdict)
{
	if (b->hook_entry[hook] == 0xFFFFFFFF)
		b->hook_entry[hook] = b->len;
	b->underflow[hook] = b->len;
	blob_entry(b, NULL);
	return blob_std(b, verdict);
}

/* Points entry idx's standard verdict at entry dest (a jump). */
static inline void blob_jump(struct blob *b, unsigned int idx, unsigned int dest)
{
	struct ipt_entry *e = blob_e(b, idx);
	struct xt_standard_target *t = (void *)((unsigned char *)e + e->target_offset);

	t->verdict = b->off[dest];
}

static inline struct xt_entry_target *blob_target(struct blob *b, unsigned int idx)
{
	struct ipt_entry *e = blob_e(b, idx);

	return (struct xt_entry_target *)((unsigned char *)e + e->target_offset);
}

static inline struct xt_entry_match *blob_first_match(struct blob *b, unsigned int idx)
{
	return (struct xt_entry_match *)blob_e(b, idx)->elems;
}

/* The SET_REPLACE buffer (free() it); *len is its size. */
static inline struct ipt_replace *blob_finish(struct blob *b, size_t *len)
{
	struct ipt_replace *r;

	*len = sizeof(*r) + b->len;
	r = calloc(1, *len);
	if (!r)
		abort();
	memcpy(r->name, b->name, sizeof(r->name));
	r->valid_hooks = b->valid_hooks;
	r->num_entries = b->n;
	r->size = b->len;
	memcpy(r->hook_entry, b->hook_entry, sizeof(r->hook_entry));
	memcpy(r->underflow, b->underflow, sizeof(r->underflow));
	r->num_counters = b->n ? b->n : 1;
	memcpy(r->entries, b->buf, b->len);
	return r;
}

/* An entry of the finished blob by index. */
static inline struct ipt_entry *repl_entry(struct ipt_replace *r, const struct blob *b,
					   unsigned int idx)
{
	return (struct ipt_entry *)((unsigned char *)r->entries + b->off[idx]);
}

/* Minimal ip for "-p proto". */
static inline struct ipt_ip ip_proto(unsigned short proto)
{
	struct ipt_ip ip;

	memset(&ip, 0, sizeof(ip));
	ip.proto = proto;
	return ip;
}

#endif
