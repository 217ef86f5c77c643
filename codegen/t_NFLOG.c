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
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter/xt_LOG.h>
#include <linux/netfilter/xt_NFLOG.h>

#include "gen_internal.h"
#include "log_rec.h"

#define REC(field) ((int16_t)offsetof(struct ipt2bpf_log_rec, field))

static const struct ipt2bpf_mod mod_nflog;

struct nflog_priv {
	int rb, scr;
};

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
	const struct ipt2bpf_mod *log = ipt2bpf_mod_find("LOG", 0, true);
	static const struct xt_log_info plain; /* LOG without options: never refused */
	struct nflog_priv *p;
	void **priv;
	int rb, scr, err;

	(void)data, (void)revision;
	if (!log || !log->prepare)
		return gen_refuse(g, ti, idx, "target 'NFLOG': internal error: no LOG module");
	err = log->prepare(g, ti, idx, &plain, 0);
	if (err)
		return err;
	/* The maps LOG's prepare just made (same name, same parameters: the same map). */
	rb = gen_map_get(g, IPT2BPF_MAP_LOG, BPF_MAP_TYPE_RINGBUF, 0, 0, IPT2BPF_LOG_RINGBUF, 0,
			 false);
	if (rb < 0)
		return rb;
	scr = gen_map_get(g, IPT2BPF_MAP_LOG_SCR, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
			  sizeof(struct ipt2bpf_log_rec), 1, 0, false);
	if (scr < 0)
		return scr;
	err = gen_mod_use(g, &mod_nflog, &priv);
	if (err)
		return err;
	if (!*priv) {
		*priv = p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->rb = rb;
		p->scr = scr;
	}
	return 0;
}

static const struct nflog_priv *priv_get(struct gen *g)
{
	return gen_mod_priv(g, &mod_nflog);
}

/*
 * In a chain function (R6 = gen_pkt; R7-R9 are free there): the rule's part
 * of the scratch record, the record to the ring buffer, kind back to LOG.
 */
static int nflog_emit(struct gen *g, unsigned int ti, unsigned int idx,
		      const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	const struct nflog_priv *p = priv_get(g);
	const unsigned char *info = t->data;
	int l_done = LABEL();

	(void)c;
	if (!p)
		return gen_refuse(g, ti, idx, "target 'NFLOG': internal error: not prepared");
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)p->scr);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_done);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, REC(kind), IPT2BPF_LOG_K_NFLOG));
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, REC(table), (int32_t)ti));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, REC(entry), (int32_t)idx));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(mark)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, REC(mark)));
	for (unsigned int off = 0; off < sizeof(struct xt_nflog_info); off += 4)
		E(BPF_ST_MEM(BPF_W, BPF_REG_8, REC(nflog) + (int16_t)off,
			     (int32_t)gen_u32(info + off)));
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
