// SPDX-License-Identifier: GPL-2.0
/*
 * -j SECMARK --selctx CTX (revisions 0 and 1), as xt_SECMARK.c: the packet's
 * label becomes CTX's and processing continues (XT_CONTINUE).  The kernel
 * turns CTX into a secid through SELinux at rule load time and refuses the
 * rule without it; here CTX gets a label id (secpolicy.h) and the label goes
 * to the sink the loader chose.  The validator has done the kernel's table
 * (mangle, security) and mode (SECMARK_MODE_SEL) checks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/netfilter/xt_SECMARK.h>

#include "gen_internal.h"
#include "secpolicy.h"

/* secctx of either revision: v0 has mode, secid, secctx; v1 mode, secctx, secid. */
static const char *secmark_ctx(const void *data, uint8_t revision)
{
	if (revision == 0)
		return ((const struct xt_secmark_target_info *)data)->secctx;
	return ((const struct xt_secmark_target_info_v1 *)data)->secctx;
}

static int secmark_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			 const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)len;
	/* SELinux would say -EINVAL ("invalid security context"): refused alike, with why. */
	return ipt2bpf_secctx_check(secmark_ctx(data, revision), SECMARK_SECCTX_MAX, why, whylen)
		       ? -EOPNOTSUPP
		       : 0;
}

static void secmark_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	(void)len;
	fprintf(f, "--selctx %.*s", SECMARK_SECCTX_MAX, secmark_ctx(data, revision));
}

static int secmark_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			   uint8_t revision)
{
	const struct ipt2bpf_secopts *sec = g->opts->sec;
	uint32_t id;
	int err;

	if (!g->opts->trace && (!sec || (!sec->policy && !sec->mark_mask && !sec->sink_none)))
		return gen_refuse(
			g, ti, idx,
			"target 'SECMARK': the label would go nowhere (the kernel refuses "
			"SECMARK without SELinux): give --policy FILE (enforcement "
			"without SELinux), --label-sink mark:MASK (SELinux hosts, see "
			"`ipt2bpf selinux-bridge`) or --label-sink none");
	err = gen_sec_use(g, ti, idx);
	if (!err)
		err = gen_sec_label(g, ti, idx, secmark_ctx(data, revision), &id);
	return err;
}

static int secmark_emit(struct gen *g, unsigned int ti, unsigned int idx,
			const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	uint32_t id;
	int err;

	(void)c;
	err = gen_sec_label(g, ti, idx, secmark_ctx(t->data, t->revision), &id);
	if (err)
		return err;
	E(BPF_ST_MEM(BPF_W, BPF_REG_6, PKT(secmark), (int32_t)id));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(mod_flags)));
	E(BPF_ALU32_IMM(BPF_OR, BPF_REG_1, GEN_PF_SECMARK));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(mod_flags)));
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_secmark = {
	.name = "SECMARK",
	.target = true,
	.revisions = (1U << 0) | (1U << 1),
	.check = secmark_check,
	.dump = secmark_dump,
	.prepare = secmark_prepare,
	.emit_target = secmark_emit,
};
IPT2BPF_MOD_REGISTER(mod_secmark);
