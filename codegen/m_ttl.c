// SPDX-License-Identifier: GPL-2.0
/*
 * -m ttl: the IP header's TTL against a value, as ttl_mt() (ipt_ttl.c):
 * --ttl-eq, --ttl-lt, --ttl-gt, ! --ttl-eq (mode IPT_TTL_NE).  Any other
 * mode never matches (the kernel checks nothing and returns false).
 */
#include <errno.h>
#include <linux/netfilter_ipv4/ipt_ttl.h>

#include "gen_internal.h"

static void ttl_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct ipt_ttl_info *i = data;

	(void)len, (void)revision;
	switch (i->mode) {
	case IPT_TTL_EQ:
		fprintf(f, "--ttl-eq %u", i->ttl);
		break;
	case IPT_TTL_NE:
		fprintf(f, "! --ttl-eq %u", i->ttl);
		break;
	case IPT_TTL_LT:
		fprintf(f, "--ttl-lt %u", i->ttl);
		break;
	case IPT_TTL_GT:
		fprintf(f, "--ttl-gt %u", i->ttl);
		break;
	default:
		fprintf(f, "(mode %u: never matches)", i->mode);
		break;
	}
}

static int ttl_emit(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_match *m,
		    int l_fail)
{
	const struct ipt_ttl_info *i = m->data;

	(void)ti, (void)idx;
	switch (i->mode) {
	case IPT_TTL_EQ:
		gen_range(g, BPF_B, PKT(ttl), UINT8_MAX, i->ttl, i->ttl, false, l_fail);
		break;
	case IPT_TTL_NE:
		gen_range(g, BPF_B, PKT(ttl), UINT8_MAX, i->ttl, i->ttl, true, l_fail);
		break;
	case IPT_TTL_LT: /* ttl < 0 never holds: gen_range's lo > hi fails */
		gen_range(g, BPF_B, PKT(ttl), UINT8_MAX, i->ttl ? 0 : 1, i->ttl ? i->ttl - 1U : 0,
			  false, l_fail);
		break;
	case IPT_TTL_GT:
		gen_range(g, BPF_B, PKT(ttl), UINT8_MAX, i->ttl + 1U, UINT8_MAX, false, l_fail);
		break;
	default:
		EJ(BPF_JMP_A(0), l_fail);
		break;
	}
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_ttl = {
	.name = "ttl",
	.revisions = 1U << 0,
	.dump = ttl_dump,
	.emit_match = ttl_emit,
};
IPT2BPF_MOD_REGISTER(mod_ttl);
