// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: arbitrary bytes as an IPT_SO_SET_REPLACE buffer.
 * ipt2bpf_validate() must never read outside them; what it accepts must
 * decode, describe, dump and free cleanly.
 *
 * Raw inputs run three times: as is; with the header's size and
 * num_counters made consistent with the input length, so mutations get past
 * do_replace()'s first checks and into the entries; and with num_entries
 * counted too, so they get past translate_table()'s count check.
 *
 * Inputs starting with 'S' are a recipe instead (see build()): entries laid
 * out the way libiptc does, with fuzzed ip fields, extensions, verdicts and
 * jumps, then a few raw byte corruptions.  Bytes alone rarely get a table
 * through the offset checks into mark_source_chains() and the decoder.
 *
 * Built and run by scripts/fuzz.sh (make fuzz); by hand:
 *   clang -std=gnu17 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *       tests/fuzz/fuzz_validate.c translator/{validate,ext,ir,diag}.c -o fuzz_validate
 *   ./fuzz_validate -dict=tests/fuzz/fuzz_validate.dict CORPUS tests/fuzz/corpus/fuzz_validate
 */
#include <stddef.h>
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
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_iprange.h>
#include <linux/netfilter/xt_limit.h>
#include <linux/netfilter/xt_mac.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>

#include "translator/diag.h"
#include "translator/ext.h"
#include "translator/ir.h"
#include "translator/util.h"
#include "translator/validate.h"

static FILE *devnull;

static void one(const struct ipt_replace *repl, size_t len)
{
	struct ipt2bpf_diag diag = {0};
	struct ipt2bpf_table *t = NULL;
	char name[128];
	int err;

	err = ipt2bpf_validate(repl, len, &diag);
	if (err) {
		/* Every rejection says why. */
		if (diag.err != err || !diag.msg[0])
			abort();
		return;
	}
	memset(&diag, 0, sizeof(diag));
	err = ipt2bpf_table_decode(repl, len, &t, &diag);
	if (err) {
		if (t || diag.err != err || !diag.msg[0])
			abort();
		return;
	}
	for (unsigned int i = 0; i < t->n_entries; i++)
		if (ipt2bpf_entry_describe(t, i, name, sizeof(name)) <= 0)
			abort();
	ipt2bpf_table_dump(t, devnull);
	ipt2bpf_table_free(t);
}

static unsigned int count_entries(const struct ipt_replace *r)
{
	const unsigned char *base = (const unsigned char *)r->entries;
	unsigned int n = 0;

	for (size_t off = 0; off + sizeof(struct ipt_entry) < r->size && off % 8 == 0; n++) {
		const struct ipt_entry *e = (const void *)(base + off);

		if (e->next_offset < sizeof(struct ipt_entry))
			break;
		off += e->next_offset;
	}
	return n;
}

/* ---------------------------------------------------------------- recipes */

struct recipe {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct recipe *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static void take_bytes(struct recipe *r, void *dst, size_t len)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)dst)[i] = take(r);
}

static const struct {
	const char *name;
	uint8_t rev;
	size_t size;
} rmatches[] =
	{
		{"tcp", 0, sizeof(struct xt_tcp)},
		{"udp", 0, sizeof(struct xt_udp)},
		{"icmp", 0, sizeof(struct ipt_icmp)},
		{"multiport", 0, sizeof(struct xt_multiport)},
		{"multiport", 1, sizeof(struct xt_multiport_v1)},
		{"iprange", 0, sizeof(struct ipt2bpf_iprange_v0)},
		{"iprange", 1, sizeof(struct xt_iprange_mtinfo)},
		{"comment", 0, sizeof(struct xt_comment_info)},
		{"mac", 0, sizeof(struct xt_mac_info)},
		{"limit", 0, sizeof(struct xt_rateinfo)},
		{"tcp", 1, sizeof(struct xt_tcp)},
		{"udp", 0, 4},
},
  rtargets[] = {
	  {"REJECT", 0, sizeof(struct ipt_reject_info)},
	  {"TRACE", 0, 0},
	  {"LOG", 0, sizeof(struct xt_log_info)},
	  {"TCPMSS", 0, sizeof(struct xt_tcpmss_info)},
	  {"SECMARK", 1, sizeof(struct xt_secmark_target_info_v1)},
	  {"CONNSECMARK", 0, sizeof(struct xt_connsecmark_target_info)},
	  {"NOSUCH", 0, 8},
};

#define MAX_ENTRIES 48

struct builder {
	unsigned char buf[MAX_ENTRIES * 1024];
	unsigned int len, cur, n;
	unsigned int off[MAX_ENTRIES];
	int jump_to[MAX_ENTRIES]; /* entry index a standard verdict jumps to, -1: none */
	uint8_t jump_skew[MAX_ENTRIES];
	bool policy[MAX_ENTRIES];
};

/* Appends a match or target header and payload (from data, else from the recipe). */
static void add_ext(struct builder *b, struct recipe *r, const char *name, uint8_t rev, size_t size,
		    bool target, const void *data)
{
	struct xt_entry_match *m = (void *)(b->buf + b->len);
	size_t total = sizeof(*m) + XT_ALIGN(size);

	memset(m, 0, total);
	m->u.match_size = total;
	snprintf(m->u.user.name, sizeof(m->u.user.name), "%s", name);
	m->u.user.revision = rev;
	if (data)
		memcpy(m->data, data, size);
	else
		take_bytes(r, m->data, size);
	b->len += total;
	if (!target)
		((struct ipt_entry *)(b->buf + b->cur))->target_offset += total;
}

static void add_std(struct builder *b, struct recipe *r)
{
	static const int verdicts[] = {-NF_ACCEPT - 1, -NF_DROP - 1, XT_RETURN, -NF_QUEUE - 1};
	uint8_t v = take(r);
	int verdict = verdicts[v % ARRAY_SIZE(verdicts)];

	if (v & 0x80) { /* a jump, resolved once every entry has its offset */
		b->jump_to[b->n] = take(r) % MAX_ENTRIES;
		b->jump_skew[b->n] = (v & 0x40) ? take(r) % 16 : 0;
		verdict = 0;
	}
	add_ext(b, r, XT_STANDARD_TARGET, 0, sizeof(verdict), true, &verdict);
}

static void add_entry(struct builder *b, struct recipe *r)
{
	static const uint16_t protos[] = {0, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_SCTP};
	struct ipt_entry *e = (void *)(b->buf + b->len);
	uint8_t kind = take(r) % 8;

	memset(e, 0, sizeof(*e));
	b->cur = b->len;
	b->len += sizeof(*e);
	e->target_offset = sizeof(*e);
	b->jump_to[b->n] = -1;
	if (kind <= 1) { /* unconditional standard verdict: a policy candidate */
		b->policy[b->n] = true;
		add_std(b, r);
	} else if (kind == 2) { /* ERROR: a chain head or the table end */
		char name[XT_FUNCTION_MAXNAMELEN] = {0};
		static const char *const names[] = {"a", "b", "ERROR", "INPUT"};
		uint8_t c = take(r);

		if (c & 0x80)
			take_bytes(r, name, sizeof(name));
		else
			snprintf(name, sizeof(name), "%s", names[c % ARRAY_SIZE(names)]);
		add_ext(b, r, XT_ERROR_TARGET, 0, sizeof(name), true, name);
	} else { /* a rule */
		uint8_t f = take(r), nm = take(r) % 3;

		e->ip.proto = protos[f % ARRAY_SIZE(protos)];
		if (f & 0x08)
			e->ip.invflags = take(r) & IPT_INV_MASK;
		if (f & 0x10)
			e->ip.flags = take(r) & IPT_F_MASK;
		if (f & 0x20)
			take_bytes(r, &e->ip.src, 4 * sizeof(struct in_addr));
		if (f & 0x40) {
			snprintf(e->ip.iniface, sizeof(e->ip.iniface), "%s",
				 (f & 0x80) ? "eth0" : "eth+");
			memset(e->ip.iniface_mask, 0xFF, (f & 0x80) ? 5 : 3);
			if (take(r) == 0x42)
				take_bytes(r, e->ip.outiface_mask, IFNAMSIZ);
		}
		for (unsigned int i = 0; i < nm; i++) {
			uint8_t m = take(r) % ARRAY_SIZE(rmatches);

			add_ext(b, r, rmatches[m].name, rmatches[m].rev, rmatches[m].size, false,
				NULL);
		}
		if (take(r) & 1) {
			add_std(b, r);
		} else {
			uint8_t t = take(r) % ARRAY_SIZE(rtargets);

			add_ext(b, r, rtargets[t].name, rtargets[t].rev, rtargets[t].size, true,
				NULL);
		}
	}
	e->next_offset = b->len - b->cur;
	b->off[b->n++] = b->cur;
}

static void build(struct recipe *r)
{
	static const char *const tables[] = {"filter", "security", "mangle"};
	static struct builder b;
	static unsigned char out[sizeof(struct ipt_replace) + sizeof(b.buf)]
		__attribute__((aligned(8)));
	struct ipt_replace *repl = (struct ipt_replace *)out, *exact;
	uint8_t t = take(r), layout = take(r);
	unsigned int n = take(r) % MAX_ENTRIES + 1, next_policy = 0, chain_start = 0;

	memset(&b, 0, sizeof(b));
	memset(repl, 0, sizeof(*repl));
	snprintf(repl->name, sizeof(repl->name), "%s", tables[t % ARRAY_SIZE(tables)]);
	repl->valid_hooks = (t & 0x80) ? (take(r) & 0x1F) : 0x0E;
	for (unsigned int i = 0; i < n && b.len + 1024 <= sizeof(b.buf); i++)
		add_entry(&b, r);

	/* Hooks as libiptc lays them out (each chain up to the next policy), or at random. */
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		if (!(repl->valid_hooks & (1u << h)))
			continue;
		if (layout & 1) {
			while (next_policy < b.n && !b.policy[next_policy])
				next_policy++;
			repl->hook_entry[h] = b.off[chain_start < b.n ? chain_start : 0];
			repl->underflow[h] = b.off[next_policy < b.n ? next_policy : 0];
			chain_start = ++next_policy;
		} else {
			repl->hook_entry[h] = b.off[take(r) % b.n];
			repl->underflow[h] = b.off[take(r) % b.n];
		}
	}
	for (unsigned int i = 0; i < b.n; i++) {
		struct ipt_entry *e = (void *)(b.buf + b.off[i]);
		int v;

		if (b.jump_to[i] < 0)
			continue;
		v = b.off[b.jump_to[i] % b.n] + b.jump_skew[i];
		memcpy(b.buf + b.off[i] + e->target_offset + sizeof(struct xt_entry_target), &v,
		       sizeof(v));
	}
	/* A few raw corruptions. */
	for (unsigned int k = take(r) % 4; k && r->n >= 3; k--) {
		unsigned int at = (take(r) << 8 | take(r)) % b.len;

		b.buf[at] = take(r);
	}
	repl->num_entries = b.n;
	repl->size = b.len;
	repl->num_counters = b.n;
	memcpy(repl->entries, b.buf, b.len);
	/* An exact-size heap copy, so that any overread trips ASan. */
	exact = malloc(sizeof(*repl) + b.len);
	if (!exact)
		return;
	memcpy(exact, repl, sizeof(*repl) + b.len);
	one(exact, sizeof(*repl) + b.len);
	free(exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipt_replace *copy;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (size && data[0] == 'S') {
		struct recipe r = {data + 1, size - 1};

		build(&r);
		return 0;
	}

	/* As given (libFuzzer's buffer is exactly size bytes: overreads trip ASan). */
	one((const struct ipt_replace *)data, size);

	if (size < sizeof(struct ipt_replace))
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy->size = size - sizeof(*copy);
	if (!copy->num_counters)
		copy->num_counters = 1;
	one(copy, size);

	/* And with num_entries counted along next_offset, to reach the hooks. */
	copy->num_entries = count_entries(copy);
	one(copy, size);
	free(copy);
	return 0;
}
