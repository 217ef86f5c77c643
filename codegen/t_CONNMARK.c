// SPDX-License-Identifier: GPL-2.0
/*
 * -j CONNMARK, revisions 1 and 2 (xt_connmark.c: connmark_tg_shift()), then
 * processing continues:
 *   --set-xmark  ctmark = ((ctmark & ~ctmask) ^ ctmark') shifted
 *   --save-mark  ctmark = (ctmark & ~ctmask) ^ ((mark & nfmask) shifted)
 *   --restore-mark  mark = (mark & ~nfmask) ^ ((ctmark & ctmask) shifted)
 * (revision 1: no shift).  A packet without a connection is left alone.  The
 * connection's mark is gen_pkt.ct_mark, stored by the connection tracker
 * (ct.h) when GEN_PF_CT_MARK is set; a restored packet mark goes back to the
 * skb through GEN_PF_MARK.  XDP has no packet mark: --restore-mark and
 * --save-mark are refused there.
 */
#include <errno.h>
#include <linux/netfilter/xt_connmark.h>

#include "ct.h"
#include "gen_internal.h"

struct cm {
	uint32_t ctmark, ctmask, nfmask;
	uint8_t shift_dir, shift_bits, mode;
};

static void cm_get(struct cm *c, const void *data, uint8_t revision)
{
	if (revision == 1) {
		const struct xt_connmark_tginfo1 *i = data;

		*c = (struct cm){.ctmark = i->ctmark,
				 .ctmask = i->ctmask,
				 .nfmask = i->nfmask,
				 .mode = i->mode};
	} else {
		const struct xt_connmark_tginfo2 *i = data;

		*c = (struct cm){.ctmark = i->ctmark,
				 .ctmask = i->ctmask,
				 .nfmask = i->nfmask,
				 .shift_dir = i->shift_dir,
				 .shift_bits = i->shift_bits,
				 .mode = i->mode};
	}
}

static int connmark_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			  const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	struct cm c;

	(void)t, (void)e, (void)len;
	cm_get(&c, data, revision);
	/* connmark_tg_check_v2(); the kernel says EINVAL, this build cannot do better */
	if (revision == 2 && (c.shift_dir > D_SHIFT_RIGHT || c.shift_bits >= 32)) {
		snprintf(why, whylen,
			 "shift %u bits in direction %u is invalid (the kernel "
			 "refuses it with EINVAL)",
			 c.shift_bits, c.shift_dir);
		return -EOPNOTSUPP;
	}
	if (c.mode > XT_CONNMARK_RESTORE) {
		snprintf(why, whylen, "mode %u is unknown", c.mode);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void connmark_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	struct cm c;

	(void)len;
	cm_get(&c, data, revision);
	switch (c.mode) {
	case XT_CONNMARK_SET:
		fprintf(f, "--set-xmark 0x%x/0x%x", c.ctmark, c.ctmask);
		break;
	case XT_CONNMARK_SAVE:
		fprintf(f, "--save-mark --nfmask 0x%x --ctmask 0x%x", c.nfmask, c.ctmask);
		break;
	default:
		fprintf(f, "--restore-mark --nfmask 0x%x --ctmask 0x%x", c.nfmask, c.ctmask);
		break;
	}
	if (c.shift_bits)
		fprintf(f, " --%s-shift %u", c.shift_dir == D_SHIFT_RIGHT ? "right" : "left",
			c.shift_bits);
}

static int connmark_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			    uint8_t revision)
{
	struct cm c;

	cm_get(&c, data, revision);
	if (g->opts->mode == IPT2BPF_MODE_XDP && c.mode != XT_CONNMARK_SET)
		return gen_refuse(g, ti, idx,
				  "target 'CONNMARK' --%s-mark needs the packet mark, which XDP "
				  "programs do not have (use --mode tc)",
				  c.mode == XT_CONNMARK_SAVE ? "save" : "restore");
	return gen_mod_use(g, &gen_ct_mod, NULL);
}

static void emit_shift(struct gen *g, int reg, const struct cm *c)
{
	if (!c->shift_bits)
		return;
	E(BPF_ALU32_IMM(c->shift_dir == D_SHIFT_RIGHT ? BPF_RSH : BPF_LSH, reg, c->shift_bits));
}

static int connmark_emit(struct gen *g, unsigned int ti, unsigned int idx,
			 const struct ipt2bpf_target *t, const struct gen_ctx *ctx)
{
	int l_skip = LABEL();
	struct cm c;

	(void)ti, (void)idx, (void)ctx;
	cm_get(&c, t->data, t->revision);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ct_flags)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, GEN_CT_PF_TRACKED));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_skip);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(ct_mark)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, PKT(mark)));
	switch (c.mode) {
	case XT_CONNMARK_SET:
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_2, (int32_t)~c.ctmask));
		E(BPF_ALU32_IMM(BPF_XOR, BPF_REG_2, (int32_t)c.ctmark));
		emit_shift(g, BPF_REG_2, &c);
		break;
	case XT_CONNMARK_SAVE:
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_3, (int32_t)c.nfmask));
		emit_shift(g, BPF_REG_3, &c);
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_2, (int32_t)~c.ctmask));
		E(BPF_ALU32_REG(BPF_XOR, BPF_REG_2, BPF_REG_3));
		break;
	default: /* XT_CONNMARK_RESTORE */
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_2, (int32_t)c.ctmask));
		emit_shift(g, BPF_REG_2, &c);
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_3, (int32_t)~c.nfmask));
		E(BPF_ALU32_REG(BPF_XOR, BPF_REG_3, BPF_REG_2));
		E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_3, PKT(mark)));
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(mod_flags)));
		E(BPF_ALU32_IMM(BPF_OR, BPF_REG_1, GEN_PF_MARK));
		E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(mod_flags)));
		BIND(l_skip);
		return g->p->e.err;
	}
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_2, PKT(ct_mark)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(mod_flags)));
	E(BPF_ALU32_IMM(BPF_OR, BPF_REG_1, GEN_PF_CT_MARK));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(mod_flags)));
	BIND(l_skip);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_connmark_tg = {
	.name = "CONNMARK",
	.target = true,
	.revisions = (1U << 1) | (1U << 2),
	.check = connmark_check,
	.dump = connmark_dump,
	.prepare = connmark_prepare,
	.emit_target = connmark_emit,
};
IPT2BPF_MOD_REGISTER(mod_connmark_tg);
