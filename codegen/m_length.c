// SPDX-License-Identifier: GPL-2.0
/*
 * -m length: the IP datagram's tot_len against [min, max], as
 * length_mt() (xt_length.c): (min <= tot_len <= max) ^ invert.  Also the
 * model for other extension modules (translator/mod.h).
 */
#include <errno.h>
#include <linux/netfilter/xt_length.h>

#include "gen_internal.h"

static int length_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision, (void)why, (void)whylen;
	return 0; /* every payload is exact: the kernel checks nothing either */
}

static void length_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_length_info *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--length %u", i->invert ? "! " : "", i->min);
	if (i->max != i->min)
		fprintf(f, ":%u", i->max);
}

static int length_emit(struct gen *g, unsigned int ti, unsigned int idx,
		       const struct ipt2bpf_match *m, int l_fail)
{
	const struct xt_length_info *i = m->data;

	(void)ti, (void)idx;
	gen_range(g, BPF_W, PKT(tot_len), UINT16_MAX, i->min, i->max, i->invert, l_fail);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_length = {
	.name = "length",
	.revisions = 1U << 0,
	.check = length_check,
	.dump = length_dump,
	.emit_match = length_emit,
};
IPT2BPF_MOD_REGISTER(mod_length);
