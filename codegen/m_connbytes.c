// SPDX-License-Identifier: GPL-2.0
/*
 * -m connbytes, revision 0 (xt_connbytes.c: connbytes_mt()): the packet's
 * connection's counters (the tracker's per-direction packets and bytes,
 * counted as nf_conntrack_acct does: ct_bpf.c) in one direction or both,
 * as packets, bytes or bytes / packets (avgpkt, 0 while no packet was
 * counted), against [from, to]:
 *
 *	to >= from:  from <= what <= to
 *	to <  from:  what < to || what > from   (iptables' "! --connbytes")
 *
 * A packet without a connection (INVALID) never matches.  The counters seen
 * include the packet itself when it counts (not for ignored or INVALID TCP
 * segments, a SYN retransmitted before a reply, RELATED ICMP errors).
 *
 * The kernel keeps counters only for connections created while accounting
 * was on (the rule's checkentry turns it on); every connection of this
 * tracker has them (doc/conntrack.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <linux/netfilter/xt_connbytes.h>

#include "ct.h"
#include "gen_internal.h"

#define ENT(f) ((int16_t)(offsetof(struct gen_ct_scratch, ent) + offsetof(struct gen_ct_entry, f)))

struct cb_info {
	uint64_t from, to;
	uint8_t what, dir;
};

static void cb_read(const void *data, struct cb_info *c)
{
	const struct xt_connbytes_info *i = data;

	memcpy(&c->from, (const char *)data + offsetof(struct xt_connbytes_info, count.from), 8);
	memcpy(&c->to, (const char *)data + offsetof(struct xt_connbytes_info, count.to), 8);
	c->what = i->what;
	c->dir = i->direction;
}

static int connbytes_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			   const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	struct cb_info c;

	(void)t, (void)e, (void)len, (void)revision;
	cb_read(data, &c);
	/* connbytes_mt_check() refuses these (EINVAL); a blob holding them is not the kernel's */
	if (c.what > XT_CONNBYTES_AVGPKT || c.dir > XT_CONNBYTES_DIR_BOTH) {
		snprintf(why, whylen, "invalid --connbytes-mode %u or --connbytes-dir %u", c.what,
			 c.dir);
		return -EINVAL;
	}
	return 0;
}

static void connbytes_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	static const char *const modes[] = {"packets", "bytes", "avgpkt"};
	static const char *const dirs[] = {"original", "reply", "both"};
	struct cb_info c;

	(void)len, (void)revision;
	cb_read(data, &c);
	if (c.to < c.from)
		fprintf(f, "! --connbytes %" PRIu64 ":%" PRIu64, c.to, c.from);
	else
		fprintf(f, "--connbytes %" PRIu64 ":%" PRIu64, c.from, c.to);
	fprintf(f, " --connbytes-mode %s --connbytes-dir %s", modes[c.what % 3], dirs[c.dir % 3]);
}

static int connbytes_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			     uint8_t revision)
{
	(void)ti, (void)idx, (void)data, (void)revision;
	return gen_mod_use(g, &gen_ct_mod, NULL);
}

/* R1 ? v (unsigned, 64 bits), to label; clobbers R2. */
static void cmp64(struct gen *g, uint8_t op, uint64_t v, int label)
{
	if (v <= INT32_MAX) {
		EJ(BPF_JMP_IMM(op, BPF_REG_1, (int32_t)v, 0), label);
		return;
	}
	E(BPF_LD_IMM64_RAW_1(BPF_REG_2, 0, v));
	E(BPF_LD_IMM64_RAW_2(v));
	EJ(BPF_JMP_REG(op, BPF_REG_1, BPF_REG_2, 0), label);
}

/* R1 = counter f (packets or bytes) of the direction(s) dir, from the scratch copy in R0. */
static void load_counter(struct gen *g, int16_t f0, int16_t f1, uint8_t dir, int reg)
{
	if (dir == XT_CONNBYTES_DIR_REPLY) {
		E(BPF_LDX_MEM(BPF_DW, reg, BPF_REG_0, f1));
		return;
	}
	E(BPF_LDX_MEM(BPF_DW, reg, BPF_REG_0, f0));
	if (dir == XT_CONNBYTES_DIR_BOTH) {
		E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_0, f1));
		E(BPF_ALU64_REG(BPF_ADD, reg, BPF_REG_3));
	}
}

static int connbytes_emit(struct gen *g, unsigned int ti, unsigned int idx,
			  const struct ipt2bpf_match *m, int l_fail)
{
	const int16_t p0 = ENT(packets[0]), p1 = ENT(packets[1]);
	const int16_t b0 = ENT(bytes[0]), b1 = ENT(bytes[1]);
	int l_ok = LABEL(), err;
	struct cb_info c;

	(void)ti, (void)idx;
	cb_read(m->data, &c);
	/* no connection: false (inverted ranges too) */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ct_flags)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, GEN_CT_PF_TRACKED));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_fail);
	err = gen_ct_emit_scratch(g, BPF_REG_0, l_fail);
	if (err)
		return err;
	switch (c.what) {
	case XT_CONNBYTES_PKTS:
		load_counter(g, p0, p1, c.dir, BPF_REG_1);
		break;
	case XT_CONNBYTES_BYTES:
		load_counter(g, b0, b1, c.dir, BPF_REG_1);
		break;
	default: /* avgpkt: div64_u64(bytes, packets), 0 without packets */
		load_counter(g, p0, p1, c.dir, BPF_REG_4);
		load_counter(g, b0, b1, c.dir, BPF_REG_1);
		/* BPF defines x / 0 = 0: the kernel's what without packets */
		E(BPF_ALU64_REG(BPF_DIV, BPF_REG_1, BPF_REG_4));
		break;
	}
	if (c.to >= c.from) {
		cmp64(g, BPF_JLT, c.from, l_fail);
		cmp64(g, BPF_JGT, c.to, l_fail);
	} else {
		cmp64(g, BPF_JLT, c.to, l_ok);
		cmp64(g, BPF_JLE, c.from, l_fail);
	}
	BIND(l_ok);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_connbytes = {
	.name = "connbytes",
	.revisions = 1U << 0,
	.check = connbytes_check,
	.dump = connbytes_dump,
	.prepare = connbytes_prepare,
	.emit_match = connbytes_emit,
};
IPT2BPF_MOD_REGISTER(mod_connbytes);
