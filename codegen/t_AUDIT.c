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
#include <linux/netfilter/xt_LOG.h>

#include "gen_internal.h"
#include "log_rec.h"

#define REC(field) ((int16_t)offsetof(struct ipt2bpf_log_rec, field))

static const struct ipt2bpf_mod mod_audit;

struct audit_priv {
	int rb, scr, seq;
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
	const struct ipt2bpf_mod *log = ipt2bpf_mod_find("LOG", 0, true);
	static const struct xt_log_info plain; /* LOG without options: never refused */
	struct audit_priv *p;
	void **priv;
	int rb, scr, seq, err;

	(void)data, (void)revision;
	if (!log || !log->prepare)
		return gen_refuse(g, ti, idx, "target 'AUDIT': internal error: no LOG module");
	err = log->prepare(g, ti, idx, &plain, 0);
	if (err)
		return err;
	rb = gen_map_get(g, IPT2BPF_MAP_LOG, BPF_MAP_TYPE_RINGBUF, 0, 0, IPT2BPF_LOG_RINGBUF, 0,
			 false);
	if (rb < 0)
		return rb;
	scr = gen_map_get(g, IPT2BPF_MAP_LOG_SCR, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
			  sizeof(struct ipt2bpf_log_rec), 1, 0, false);
	if (scr < 0)
		return scr;
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
		p->rb = rb;
		p->scr = scr;
		p->seq = seq;
	}
	return 0;
}

static const struct audit_priv *priv_get(struct gen *g)
{
	return gen_mod_priv(g, &mod_audit);
}

/* R0 = &map[0], or jump to l_none.  Clobbers R1-R5. */
static void emit_lookup0(struct gen *g, int map, int l_none)
{
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
}

/* In a chain function (R6 = gen_pkt; R7-R9 are free there). */
static int audit_emit(struct gen *g, unsigned int ti, unsigned int idx,
		      const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	const struct audit_priv *p = priv_get(g);
	const struct xt_audit_info *i = t->data;
	int l_done = LABEL();

	(void)c;
	if (!p)
		return gen_refuse(g, ti, idx, "target 'AUDIT': internal error: not prepared");
	emit_lookup0(g, p->scr, l_done);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	/* serial = ++ipt_auditseq[0] */
	emit_lookup0(g, p->seq, l_done);
	E(BPF_MOV64_IMM(BPF_REG_1, 1));
	E(BPF_ATOMIC_OP(BPF_DW, BPF_ADD | BPF_FETCH, BPF_REG_0, BPF_REG_1, 0));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, REC(audit.serial)));
	E(BPF_CALL_HELPER(BPF_FUNC_ktime_get_boot_ns));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_8, BPF_REG_0, REC(audit.boot_ns)));
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, REC(audit.type), i->type));
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, REC(kind), IPT2BPF_LOG_K_AUDIT));
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, REC(table), (int32_t)ti));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, REC(entry), (int32_t)idx));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(mark)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, REC(mark)));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)p->rb);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_8));
	E(BPF_MOV64_IMM(BPF_REG_3, sizeof(struct ipt2bpf_log_rec)));
	E(BPF_MOV64_IMM(BPF_REG_4, 0));
	E(BPF_CALL_HELPER(BPF_FUNC_ringbuf_output));
	/* A later LOG rule stamps its own options but not the kind. */
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, REC(kind), IPT2BPF_LOG_K_LOG));
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
