// SPDX-License-Identifier: GPL-2.0
/*
 * -m state (revision 0, xt_state.c): (statemask & statebit) != 0, where
 * statebit is what the connection tracker (ct.h) put in gen_pkt.ct_state:
 * XT_STATE_BIT(ctinfo) or XT_STATE_INVALID.  iptables 1.8 usually sends -m
 * state as conntrack revision 1-3 with XT_CONNTRACK_STATE_ALIAS (m_conntrack.c);
 * this is the fallback when it asks for revision 0.
 */
#include <errno.h>
#include <linux/netfilter/xt_state.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include "ct.h"
#include "gen_internal.h"

#ifndef XT_STATE_UNTRACKED
#define XT_STATE_UNTRACKED (1 << (IP_CT_NUMBER + 1))
#endif

static int state_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		       const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision, (void)why, (void)whylen;
	return 0; /* the kernel checks nothing; unknown bits never match */
}

static void state_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	static const struct {
		unsigned int bit;
		const char *name;
	} names[] = {
		{XT_STATE_INVALID, "INVALID"},
		{XT_STATE_BIT(IP_CT_NEW), "NEW"},
		{XT_STATE_BIT(IP_CT_RELATED), "RELATED"},
		{XT_STATE_BIT(IP_CT_ESTABLISHED), "ESTABLISHED"},
		{XT_STATE_UNTRACKED, "UNTRACKED"},
	};
	const struct xt_state_info *i = data;
	bool first = true;

	(void)len, (void)revision;
	fprintf(f, "--state ");
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (i->statemask & names[k].bit) {
			fprintf(f, "%s%s", first ? "" : ",", names[k].name);
			first = false;
		}
	if (first)
		fprintf(f, "0x%x", i->statemask);
}

static int state_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			 uint8_t revision)
{
	(void)ti, (void)idx, (void)data, (void)revision;
	return gen_mod_use(g, &gen_ct_mod, NULL);
}

static int state_emit(struct gen *g, unsigned int ti, unsigned int idx,
		      const struct ipt2bpf_match *m, int l_fail)
{
	const struct xt_state_info *i = m->data;
	/* ct_state holds one of INVALID, ESTABLISHED, RELATED, NEW; never UNTRACKED. */
	uint32_t mask = i->statemask & 0x0f;

	(void)ti, (void)idx;
	if (!mask) {
		EJ(BPF_JMP_A(0), l_fail);
		return g->p->e.err;
	}
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ct_state)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)mask));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_fail);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_state = {
	.name = "state",
	.revisions = 1U << 0,
	.check = state_check,
	.dump = state_dump,
	.prepare = state_prepare,
	.emit_match = state_emit,
};
IPT2BPF_MOD_REGISTER(mod_state);
