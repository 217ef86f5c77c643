// SPDX-License-Identifier: GPL-2.0
/*
 * -j NFLOG (xt_NFLOG.c, revision 0): every packet the rule sees becomes a
 * record in the rule set's ipt_log ring buffer (codegen/log_rec.h, kind
 * NFLOG), which `ipt2bpf log` prints as the LOG line (no LOG options) with
 * the group and the payload length an nfnetlink_log listener would have
 * received (umh/rt_log.c).  Non-terminal, like nflog_tg().
 *
 * The sink differs from the kernel's: records go to ipt2bpf's log reader, not
 * to nfnetlink_log listeners (ulogd, `tcpdump -i nflog:N`), which BPF
 * programs cannot reach.  The options are honoured as far as they concern
 * the packet: --nflog-group and --nflog-prefix are in the record,
 * --nflog-size bounds the payload length (--nflog-range is ignored, as by the
 * kernel: nflog_tg() only looks at the length with XT_NFLOG_F_COPY_LEN).
 * --nflog-threshold only batches the kernel's messages to a listener (how
 * many are queued before they are sent); the ring buffer hands each record to
 * the reader as it is written, as threshold 1 would.
 *
 * The packet's part of the record is the LOG target's per-packet copy: this
 * module has LOG's module prepare its maps and prologue (as for a LOG rule
 * without options) and only stamps its own part into the scratch record.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/netfilter/xt_NFLOG.h>

#include "gen_internal.h"
#include "log_rec.h"

#define REC(field) ((int16_t)offsetof(struct ipt2bpf_log_rec, field))

static int nflog_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		       const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_nflog_info *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	/* nflog_tg_check() */
	if (i->flags & ~XT_NFLOG_MASK) {
		snprintf(why, whylen, "unknown flags 0x%x (the kernel refuses them: EINVAL)",
			 i->flags);
		return -EOPNOTSUPP;
	}
	if (i->prefix[sizeof(i->prefix) - 1] != '\0') {
		snprintf(why, whylen,
			 "prefix is not NUL-terminated (the kernel refuses it: EINVAL)");
		return -EOPNOTSUPP;
	}
	return 0;
}

static void nflog_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_nflog_info *i = data;
	const char *sep = "";

	(void)len, (void)revision;
	if (i->prefix[0]) {
		fprintf(f, "--nflog-prefix \"%.*s\"", (int)sizeof(i->prefix), i->prefix);
		sep = " ";
	}
	if (i->group) {
		fprintf(f, "%s--nflog-group %u", sep, i->group);
		sep = " ";
	}
	if (i->flags & XT_NFLOG_F_COPY_LEN) {
		fprintf(f, "%s--nflog-size %u", sep, i->len);
		sep = " ";
	} else if (i->len) {
		fprintf(f, "%s--nflog-range %u", sep, i->len);
		sep = " ";
	}
	if (i->threshold != XT_NFLOG_DEFAULT_THRESHOLD)
		fprintf(f, "%s--nflog-threshold %u", sep, i->threshold);
}

static int nflog_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			 uint8_t revision)
{
	(void)data, (void)revision;
	return gen_log_prepare(g, ti, idx);
}

/*
 * In a chain function (R6 = gen_pkt; R7-R9 are free there): the rule's part
 * of the scratch record, the record to the ring buffer, kind back to LOG.
 */
static int nflog_emit(struct gen *g, unsigned int ti, unsigned int idx,
		      const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	int l_done = LABEL();

	(void)c;
	if (gen_log_scratch(g, l_done))
		return gen_refuse(g, ti, idx, "target 'NFLOG': internal error: not prepared");
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	gen_log_send(g, BPF_REG_8, IPT2BPF_LOG_K_NFLOG, ti, idx, REC(nflog), t->data,
		     sizeof(struct xt_nflog_info));
	BIND(l_done);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_nflog = {
	.name = "NFLOG",
	.target = true,
	.revisions = 1U << 0,
	.check = nflog_check,
	.dump = nflog_dump,
	.prepare = nflog_prepare,
	.emit_target = nflog_emit,
};
IPT2BPF_MOD_REGISTER(mod_nflog);
