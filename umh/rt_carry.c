// SPDX-License-Identifier: GPL-2.0
/*
 * Counter carry-over between two rule sets.  An entry keeps its counters when
 * the new rule set has an entry with the same content: same chain, same role,
 * the same ipt_entry bytes (matches, target, addresses, interfaces) except
 * counters and kernel bookkeeping, and for jumps the same target chain and
 * position in it rather than the same byte offset (inserting a rule earlier
 * shifts every offset).  Equal entries pair up in order: the first old copy
 * goes to the first new one.  Anything else starts at 0, as after an
 * iptables-restore without --counters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter/x_tables.h>

#include "rt_internal.h"
#include "../translator/util.h"

struct key {
	uint64_t hash;
	unsigned int idx;
	bool used;
	size_t len;
	unsigned char *bytes;
};

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct keyhdr {
	uint32_t role;
	int32_t jump_pos; /* JUMP/GOTO: target entry - target chain's first entry */
	char chain[XT_EXTENSION_MAXNAMELEN];
	char jump_chain[XT_EXTENSION_MAXNAMELEN];
};

/* The entry copy follows the header at ipt_entry's alignment. */
#define KEYHDR_SIZE                                                                                \
	((sizeof(struct keyhdr) + __alignof__(struct ipt_entry) - 1) &                             \
	 ~(__alignof__(struct ipt_entry) - 1))

static int entry_key(const struct ipt2bpf_table *t, const struct ipt_replace *b, unsigned int idx,
		     struct key *k)
{
	const struct ipt2bpf_entry *e = &t->entries[idx];
	const unsigned char *raw = (const unsigned char *)b->entries + e->offset;
	struct keyhdr h = {.role = e->role};
	struct ipt_entry *ie;
	unsigned char *buf;

	if (e->chain >= 0)
		memcpy(h.chain, t->chains[e->chain].name, sizeof(h.chain));
	buf = calloc(1, KEYHDR_SIZE + e->size);
	if (!buf)
		return -ENOMEM;
	memcpy(buf + KEYHDR_SIZE, raw, e->size);
	ie = (struct ipt_entry *)(buf + KEYHDR_SIZE);
	ie->comefrom = 0;
	ie->nfcache = 0;
	memset(&ie->counters, 0, sizeof(ie->counters));
	switch (e->target.kind) {
	case IPT2BPF_T_JUMP:
	case IPT2BPF_T_GOTO:
	case IPT2BPF_T_CONTINUE: {
		struct xt_standard_target *st = (void *)((unsigned char *)ie + ie->target_offset);
		const struct ipt2bpf_entry *dst = &t->entries[e->target.target_entry];

		if (ie->target_offset + sizeof(*st) <= e->size)
			st->verdict = 0;
		if (e->target.kind == IPT2BPF_T_CONTINUE) {
			h.jump_pos = 1; /* "the next entry", wherever it is */
		} else if (dst->chain >= 0) {
			const struct ipt2bpf_chain *c = &t->chains[dst->chain];

			memcpy(h.jump_chain, c->name, sizeof(h.jump_chain));
			h.jump_pos = (int32_t)e->target.target_entry - (int32_t)c->first;
		} else {
			h.jump_pos = (int32_t)e->target.target_entry;
		}
		break;
	}
	default:
		break;
	}
	memcpy(buf, &h, sizeof(h));
	k->idx = idx;
	k->len = KEYHDR_SIZE + e->size;
	k->bytes = buf;
	k->hash = fnv1a(buf, k->len);
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void keys_free(struct key *k, unsigned int n)
{
	if (!k)
		return;
	for (unsigned int i = 0; i < n; i++)
		free(k[i].bytes);
	free(k);
}

int rt_carry_map(const struct ipt2bpf_table *oldt, const struct ipt_replace *oldb,
		 const struct ipt2bpf_table *newt, const struct ipt_replace *newb, int *map)
{
	struct key *old = calloc(oldt->n_entries ? oldt->n_entries : 1, sizeof(*old));
	int err = 0;

	for (unsigned int i = 0; i < newt->n_entries; i++)
		map[i] = -1;
	if (!old)
		return -ENOMEM;
	for (unsigned int i = 0; i < oldt->n_entries && !err; i++)
		err = entry_key(oldt, oldb, i, &old[i]);
	if (err)
		goto out;
	qsort(old, oldt->n_entries, sizeof(*old), key_cmp);

	for (unsigned int i = 0; i < newt->n_entries; i++) {
		struct key k;
		size_t lo = 0, hi = oldt->n_entries;

		err = entry_key(newt, newb, i, &k);
		if (err)
			goto out;
		while (lo < hi) { /* first old key with hash >= k.hash */
			size_t mid = lo + (hi - lo) / 2;

			if (old[mid].hash < k.hash)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t j = lo; j < oldt->n_entries && old[j].hash == k.hash; j++) {
			if (old[j].used || old[j].len != k.len ||
			    memcmp(old[j].bytes, k.bytes, k.len))
				continue;
			old[j].used = true;
			map[i] = (int)old[j].idx;
			break;
		}
		free(k.bytes);
	}
out:
	keys_free(old, oldt->n_entries);
	return err;
}
