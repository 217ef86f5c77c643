// SPDX-License-Identifier: GPL-2.0
/*
 * -m conntrack, revisions 1-3 (xt_conntrack.c: conntrack_mt()), and -m state
 * as iptables 1.8 sends it (conntrack with XT_CONNTRACK_STATE_ALIAS).  The
 * connection tracker (ct.h) gives the packet's state, direction, status,
 * mark and expiry in gen_pkt and the connection's tuple in its scratch map.
 *
 * As in the kernel: the state test comes first; a packet without a
 * connection (INVALID) then matches exactly when --ctstate was given, every
 * other criterion needs a connection.  Since nothing here does NAT or
 * untracks, the SNAT, DNAT and UNTRACKED state bits never match and the
 * reply tuple is the inverse of the original one.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include "ct.h"
#include "gen_internal.h"

#define ENT(f) ((int16_t)(offsetof(struct gen_ct_scratch, ent) + offsetof(struct gen_ct_entry, f)))

/* The fields every revision shares, read from the payload. */
struct ct_info {
	const struct xt_conntrack_mtinfo2 *i; /* layout of revisions 2 and 3; 1 up to the masks */
	uint16_t flags, inv;
	uint16_t state_mask, status_mask;
	uint8_t revision;
	uint16_t port_high[4]; /* revision 3: origsrc, origdst, replsrc, repldst */
};

static void ct_info_get(struct ct_info *c, const void *data, uint8_t revision)
{
	const struct xt_conntrack_mtinfo1 *i1 = data;
	const struct xt_conntrack_mtinfo3 *i3 = data;

	c->i = data;
	c->revision = revision;
	c->flags = i1->match_flags;
	c->inv = i1->invert_flags;
	if (revision == 1) {
		c->state_mask = i1->state_mask;
		c->status_mask = i1->status_mask;
	} else {
		c->state_mask = c->i->state_mask;
		c->status_mask = c->i->status_mask;
	}
	if (revision == 3) {
		c->port_high[0] = i3->origsrc_port_high;
		c->port_high[1] = i3->origdst_port_high;
		c->port_high[2] = i3->replsrc_port_high;
		c->port_high[3] = i3->repldst_port_high;
	}
}

static int conntrack_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			   const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision, (void)why, (void)whylen;
	return 0; /* conntrack_mt_check() checks nothing about the payload */
}

static const struct {
	unsigned int bit;
	const char *name;
} state_names[] =
	{
		{XT_CONNTRACK_STATE_INVALID, "INVALID"},
		{XT_CONNTRACK_STATE_BIT(IP_CT_NEW), "NEW"},
		{XT_CONNTRACK_STATE_BIT(IP_CT_RELATED), "RELATED"},
		{XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED), "ESTABLISHED"},
		{XT_CONNTRACK_STATE_UNTRACKED, "UNTRACKED"},
		{XT_CONNTRACK_STATE_SNAT, "SNAT"},
		{XT_CONNTRACK_STATE_DNAT, "DNAT"},
},
  status_names[] = {
	  {IPS_EXPECTED, "EXPECTED"},
	  {IPS_SEEN_REPLY, "SEEN_REPLY"},
	  {IPS_ASSURED, "ASSURED"},
	  {IPS_CONFIRMED, "CONFIRMED"},
};

static void dump_bits(FILE *f, unsigned int v, bool state)
{
	bool first = true;
	size_t n = state ? sizeof(state_names) / sizeof(state_names[0])
			 : sizeof(status_names) / sizeof(status_names[0]);

	for (size_t k = 0; k < n; k++) {
		unsigned int bit = state ? state_names[k].bit : status_names[k].bit;

		if (v & bit) {
			fprintf(f, "%s%s", first ? "" : ",",
				state ? state_names[k].name : status_names[k].name);
			first = false;
		}
	}
	if (first)
		fprintf(f, "NONE");
}

static void dump_addr(FILE *f, const char *opt, bool inv, const union nf_inet_addr *a,
		      const union nf_inet_addr *m)
{
	char ab[INET_ADDRSTRLEN], mb[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a->ip, ab, sizeof(ab));
	inet_ntop(AF_INET, &m->ip, mb, sizeof(mb));
	fprintf(f, " %s%s %s/%s", inv ? "! " : "", opt, ab, mb);
}

static void conntrack_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	struct ct_info c;
	const struct xt_conntrack_mtinfo2 *i;
	static const char *const port_opt[4] = {"--ctorigsrcport", "--ctorigdstport",
						"--ctreplsrcport", "--ctrepldstport"};
	static const uint16_t port_flag[4] = {XT_CONNTRACK_ORIGSRC_PORT, XT_CONNTRACK_ORIGDST_PORT,
					      XT_CONNTRACK_REPLSRC_PORT, XT_CONNTRACK_REPLDST_PORT};

	(void)len;
	ct_info_get(&c, data, revision);
	i = c.i;
	if (c.flags & XT_CONNTRACK_STATE) {
		fprintf(f, "%s%s ", c.inv & XT_CONNTRACK_STATE ? "! " : "",
			c.flags & XT_CONNTRACK_STATE_ALIAS ? "--state" : "--ctstate");
		dump_bits(f, c.state_mask, true);
	}
	if (c.flags & XT_CONNTRACK_PROTO)
		fprintf(f, " %s--ctproto %u", c.inv & XT_CONNTRACK_PROTO ? "! " : "", i->l4proto);
	if (c.flags & XT_CONNTRACK_ORIGSRC)
		dump_addr(f, "--ctorigsrc", c.inv & XT_CONNTRACK_ORIGSRC, &i->origsrc_addr,
			  &i->origsrc_mask);
	if (c.flags & XT_CONNTRACK_ORIGDST)
		dump_addr(f, "--ctorigdst", c.inv & XT_CONNTRACK_ORIGDST, &i->origdst_addr,
			  &i->origdst_mask);
	if (c.flags & XT_CONNTRACK_REPLSRC)
		dump_addr(f, "--ctreplsrc", c.inv & XT_CONNTRACK_REPLSRC, &i->replsrc_addr,
			  &i->replsrc_mask);
	if (c.flags & XT_CONNTRACK_REPLDST)
		dump_addr(f, "--ctrepldst", c.inv & XT_CONNTRACK_REPLDST, &i->repldst_addr,
			  &i->repldst_mask);
	for (int k = 0; k < 4; k++) {
		const uint16_t *ports = &i->origsrc_port;

		if (!(c.flags & port_flag[k]))
			continue;
		fprintf(f, " %s%s %u", c.inv & port_flag[k] ? "! " : "", port_opt[k],
			revision == 3 ? ports[k] : ntohs(ports[k]));
		if (revision == 3 && c.port_high[k] != ports[k])
			fprintf(f, ":%u", c.port_high[k]);
	}
	if (c.flags & XT_CONNTRACK_STATUS) {
		fprintf(f, " %s--ctstatus ", c.inv & XT_CONNTRACK_STATUS ? "! " : "");
		dump_bits(f, c.status_mask, false);
	}
	if (c.flags & XT_CONNTRACK_EXPIRES) {
		fprintf(f, " %s--ctexpire %u", c.inv & XT_CONNTRACK_EXPIRES ? "! " : "",
			i->expires_min);
		if (i->expires_max != i->expires_min)
			fprintf(f, ":%u", i->expires_max);
	}
	if (c.flags & XT_CONNTRACK_DIRECTION)
		fprintf(f, " --ctdir %s", c.inv & XT_CONNTRACK_DIRECTION ? "REPLY" : "ORIGINAL");
}

static int conntrack_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			     uint8_t revision)
{
	(void)ti, (void)idx, (void)data, (void)revision;
	return gen_mod_use(g, &gen_ct_mod, NULL);
}

/* Fail unless (lo <= reg <= hi) ^ inv, reg unsigned and at most max. */
static void reg_range(struct gen *g, int reg, uint32_t max, uint32_t lo, uint32_t hi, bool inv,
		      int l_fail)
{
	int l_in = LABEL(), l_out = LABEL();

	if (lo > hi) { /* empty: nothing is in it */
		if (!inv)
			EJ(BPF_JMP_A(0), l_fail);
		return;
	}
	if (lo > 0)
		EJ(BPF_JMP32_IMM(BPF_JLT, reg, (int32_t)lo, 0), l_out);
	if (hi < max)
		EJ(BPF_JMP32_IMM(BPF_JGT, reg, (int32_t)hi, 0), l_out);
	/* in range */
	if (inv)
		EJ(BPF_JMP_A(0), l_fail);
	else
		EJ(BPF_JMP_A(0), l_in);
	BIND(l_out);
	if (!inv)
		EJ(BPF_JMP_A(0), l_fail);
	BIND(l_in);
}

/* Fail unless ((*(u32 *)(R7 + off) ^ addr) & mask) == 0, inverted by inv. */
static void addr_test(struct gen *g, int16_t off, uint32_t addr, uint32_t mask, bool inv,
		      int l_fail)
{
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_7, off));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)mask));
	EJ(BPF_JMP32_IMM(inv ? BPF_JEQ : BPF_JNE, BPF_REG_1, (int32_t)(addr & mask), 0), l_fail);
}

static int conntrack_emit(struct gen *g, unsigned int ti, unsigned int idx,
			  const struct ipt2bpf_match *m, int l_fail)
{
	static const uint16_t port_flag[4] = {XT_CONNTRACK_ORIGSRC_PORT, XT_CONNTRACK_ORIGDST_PORT,
					      XT_CONNTRACK_REPLSRC_PORT, XT_CONNTRACK_REPLDST_PORT};
	static const int16_t port_off[4] = {ENT(sport), ENT(dport), ENT(rsport), ENT(rdport)};
	const uint16_t tuple_flags =
		XT_CONNTRACK_ORIGSRC | XT_CONNTRACK_ORIGDST | XT_CONNTRACK_REPLSRC |
		XT_CONNTRACK_REPLDST | XT_CONNTRACK_PROTO | XT_CONNTRACK_ORIGSRC_PORT |
		XT_CONNTRACK_ORIGDST_PORT | XT_CONNTRACK_REPLSRC_PORT | XT_CONNTRACK_REPLDST_PORT;
	const struct xt_conntrack_mtinfo2 *i;
	struct ct_info c;
	int l_match = LABEL(), err;

	(void)ti, (void)idx;
	ct_info_get(&c, m->data, m->revision);
	i = c.i;

	if (c.flags & XT_CONNTRACK_STATE) {
		/* ct_state holds INVALID, ESTABLISHED, RELATED or NEW: the low four bits. */
		uint32_t mask = c.state_mask & 0x0f;
		bool inv = c.inv & XT_CONNTRACK_STATE;

		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ct_state)));
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)mask));
		EJ(BPF_JMP32_IMM(inv ? BPF_JNE : BPF_JEQ, BPF_REG_1, 0, 0), l_fail);
	}
	/* No connection: the state test decided (conntrack_mt(): ct == NULL). */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ct_flags)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, GEN_CT_PF_TRACKED));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0, 0),
	   c.flags & XT_CONNTRACK_STATE ? l_match : l_fail);

	if (c.flags & XT_CONNTRACK_DIRECTION) {
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ct_dir)));
		EJ(BPF_JMP32_IMM(c.inv & XT_CONNTRACK_DIRECTION ? BPF_JEQ : BPF_JNE, BPF_REG_1,
				 IP_CT_DIR_ORIGINAL, 0),
		   l_fail);
	}
	if (c.flags & tuple_flags) {
		err = gen_ct_emit_scratch(g, BPF_REG_7, l_fail);
		if (err)
			return err;
	}
	/* Reply tuple = inverse of the original: its source is the original destination. */
	if (c.flags & XT_CONNTRACK_ORIGSRC)
		addr_test(g, ENT(src), gen_u32(&i->origsrc_addr.ip), gen_u32(&i->origsrc_mask.ip),
			  c.inv & XT_CONNTRACK_ORIGSRC, l_fail);
	if (c.flags & XT_CONNTRACK_ORIGDST)
		addr_test(g, ENT(dst), gen_u32(&i->origdst_addr.ip), gen_u32(&i->origdst_mask.ip),
			  c.inv & XT_CONNTRACK_ORIGDST, l_fail);
	if (c.flags & XT_CONNTRACK_REPLSRC)
		addr_test(g, ENT(dst), gen_u32(&i->replsrc_addr.ip), gen_u32(&i->replsrc_mask.ip),
			  c.inv & XT_CONNTRACK_REPLSRC, l_fail);
	if (c.flags & XT_CONNTRACK_REPLDST)
		addr_test(g, ENT(src), gen_u32(&i->repldst_addr.ip), gen_u32(&i->repldst_mask.ip),
			  c.inv & XT_CONNTRACK_REPLDST, l_fail);
	if (c.flags & XT_CONNTRACK_PROTO) {
		bool inv = c.inv & XT_CONNTRACK_PROTO;

		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_7, ENT(proto)));
		EJ(BPF_JMP32_IMM(inv ? BPF_JEQ : BPF_JNE, BPF_REG_1, i->l4proto, 0), l_fail);
	}
	for (int k = 0; k < 4; k++) {
		const uint16_t *ports = &i->origsrc_port;
		bool inv = c.inv & port_flag[k];

		if (!(c.flags & port_flag[k]))
			continue;
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_7, port_off[k]));
		if (c.revision != 3) {
			/* tuple u.all == the payload's port, both network order */
			EJ(BPF_JMP32_IMM(inv ? BPF_JEQ : BPF_JNE, BPF_REG_1, ports[k], 0), l_fail);
			continue;
		}
		E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
		reg_range(g, BPF_REG_1, UINT16_MAX, ports[k], c.port_high[k], inv, l_fail);
	}
	if (c.flags & XT_CONNTRACK_STATUS) {
		bool inv = c.inv & XT_CONNTRACK_STATUS;

		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(ct_status)));
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, c.status_mask));
		EJ(BPF_JMP32_IMM(inv ? BPF_JNE : BPF_JEQ, BPF_REG_1, 0, 0), l_fail);
	}
	if (c.flags & XT_CONNTRACK_EXPIRES)
		gen_range(g, BPF_W, PKT(ct_expire), UINT32_MAX, i->expires_min, i->expires_max,
			  c.inv & XT_CONNTRACK_EXPIRES, l_fail);
	BIND(l_match);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_conntrack = {
	.name = "conntrack",
	.revisions = (1U << 1) | (1U << 2) | (1U << 3),
	.check = conntrack_check,
	.dump = conntrack_dump,
	.prepare = conntrack_prepare,
	.emit_match = conntrack_emit,
};
IPT2BPF_MOD_REGISTER(mod_conntrack);
