// SPDX-License-Identifier: GPL-2.0
/*
 * -j AUDIT (xt_AUDIT.c, revision 0): every packet the rule sees becomes a
 * record in the rule set's ipt_log ring buffer (codegen/log_rec.h, kind
 * AUDIT), which `ipt2bpf log` prints as the kernel's NETFILTER_PKT audit
 * record ("audit: type=1324 audit(TIME:SERIAL): mark=0x0 saddr=... daddr=...
 * proto=6", umh/rt_log.c).  Non-terminal, like audit_tg(); --type is kept
 * in the record but, as in the kernel's record, not shown.
 *
 * The sink differs from the kernel's: records go to ipt2bpf's log reader,
 * not to the audit subsystem (auditd, or the kernel log when no auditd
 * runs), which BPF programs cannot write to; and they are written whether or
 * not auditing is enabled (the kernel writes none while `auditctl -e 0`).
 * The serial is the rule set's count of AUDIT records (map ipt_auditseq),
 * not the audit subsystem's; the time is CLOCK_BOOTTIME, which the reader
 * turns into wall-clock time.
 *
 * The packet's part of the record (the IP header) is the LOG target's
 * per-packet copy (see t_NFLOG.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/netfilter/xt_AUDIT.h>

#include "gen_internal.h"
#include "log_rec.h"
#include "m_util.h"

#define REC(field) ((int16_t)offsetof(struct ipt2bpf_log_rec, field))

static const struct ipt2bpf_mod mod_audit;

struct audit_priv {
	int seq;
};

static int audit_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		       const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_audit_info *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	if (i->type > XT_AUDIT_TYPE_MAX) { /* audit_tg_check() */
		snprintf(why, whylen, "--type %u is out of range (the kernel refuses it: ERANGE)",
			 i->type);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void audit_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	static const char *const types[] = {"accept", "drop", "reject"};
	const struct xt_audit_info *i = data;

	(void)len, (void)revision;
	if (i->type <= XT_AUDIT_TYPE_MAX)
		fprintf(f, "--type %s", types[i->type]);
	else
		fprintf(f, "--type %u", i->type);
}

static int audit_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			 uint8_t revision)
{
	struct audit_priv *p;
	void **priv;
	int seq, err;

	(void)data, (void)revision;
	err = gen_log_prepare(g, ti, idx);
	if (err)
		return err;
	seq = gen_map_get(g, IPT2BPF_MAP_AUDIT_SEQ, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
			  sizeof(uint64_t), 1, 0, false);
	if (seq < 0)
		return seq;
	err = gen_mod_use(g, &mod_audit, &priv);
	if (err)
		return err;
	if (!*priv) {
		*priv = p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->seq = seq;
	}
	return 0;
}

static const struct audit_priv *priv_get(struct gen *g)
{
	return gen_mod_priv(g, &mod_audit);
}

/* In a chain function (R6 = gen_pkt; R7-R9 are free there). */
static int audit_emit(struct gen *g, unsigned int ti, unsigned int idx,
		      const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	const struct audit_priv *p = priv_get(g);
	const struct xt_audit_info *i = t->data;
	int l_done = LABEL();

	(void)c;
	if (!p || gen_log_scratch(g, l_done))
		return gen_refuse(g, ti, idx, "target 'AUDIT': internal error: not prepared");
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	/* serial = ++ipt_auditseq[0] */
	gen_array_elem(g, (unsigned int)p->seq, 0, l_done);
	E(BPF_MOV64_IMM(BPF_REG_1, 1));
	E(BPF_ATOMIC_OP(BPF_DW, BPF_ADD | BPF_FETCH, BPF_REG_0, BPF_REG_1, 0));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, REC(audit.serial)));
	E(BPF_CALL_HELPER(BPF_FUNC_ktime_get_boot_ns));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_8, BPF_REG_0, REC(audit.boot_ns)));
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, REC(audit.type), i->type));
	gen_log_send(g, BPF_REG_8, IPT2BPF_LOG_K_AUDIT, ti, idx, 0, NULL, 0);
	BIND(l_done);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_audit = {
	.name = "AUDIT",
	.target = true,
	.revisions = 1U << 0,
	.check = audit_check,
	.dump = audit_dump,
	.prepare = audit_prepare,
	.emit_target = audit_emit,
};
IPT2BPF_MOD_REGISTER(mod_audit);
