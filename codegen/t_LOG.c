// SPDX-License-Identifier: GPL-2.0
/*
 * -j LOG (xt_LOG.c, revision 0): every packet the rule sees becomes a record
 * in the ipt_log ring buffer (codegen/log_rec.h); umh/rt_log.c prints it as
 * the kernel's nf_log_syslog line.  Non-terminal, like log_tg(): processing
 * goes on with the next rule.
 *
 * Chain functions only get struct gen_pkt, so the main program's prologue
 * copies what the line needs (the Ethernet header, the first
 * IPT2BPF_LOG_DATA bytes of the datagram, devices, hook) into a per-CPU
 * scratch record once per packet; a LOG rule stamps its identity, options
 * and the current mark into it and hands it to bpf_ringbuf_output().
 *
 * --log-uid prints the owner of skb->sk: at FORWARD there is never one (the
 * kernel prints nothing), at OUTPUT it is the sending socket and at INPUT the
 * socket early demux found.  TC programs can read neither owner's fsuid and
 * fsgid, so --log-uid is refused where INPUT or OUTPUT reach the rule.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/xt_LOG.h>

#include "gen_internal.h"
#include "log_rec.h"
#include "m_util.h"

#define REC(field) ((int16_t)offsetof(struct ipt2bpf_log_rec, field))

/* iptables' default --log-level (LOG_WARNING): iptables-save leaves it out. */
#define LOG_LEVEL_DEFAULT 4

static const struct ipt2bpf_mod mod_LOG;

/* Private state: the maps, looked up once per generation. */
struct log_priv {
	int rb, scr;
};

static int log_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e, const void *data,
		     size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision, (void)why, (void)whylen;
	/* The validator already refused level >= 8 and an unterminated prefix (log_tg_check()). */
	return 0;
}

static void log_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_log_info *i = data;
	static const struct {
		unsigned int flag;
		const char *opt;
	} flags[] = {
		{XT_LOG_TCPSEQ, "--log-tcp-sequence"}, {XT_LOG_TCPOPT, "--log-tcp-options"},
		{XT_LOG_IPOPT, "--log-ip-options"},    {XT_LOG_UID, "--log-uid"},
		{XT_LOG_MACDECODE, "--log-macdecode"},
	};
	const char *sep = "";

	(void)len, (void)revision;
	if (i->prefix[0]) {
		fprintf(f, "--log-prefix \"%.*s\"", (int)sizeof(i->prefix), i->prefix);
		sep = " ";
	}
	if (i->level != LOG_LEVEL_DEFAULT) {
		fprintf(f, "%s--log-level %u", sep, i->level);
		sep = " ";
	}
	for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
		if (i->logflags & flags[k].flag) {
			fprintf(f, "%s%s", sep, flags[k].opt);
			sep = " ";
		}
}

static int log_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		       uint8_t revision)
{
	const struct xt_log_info *i = data;
	unsigned int hooks = g->tables[ti]->entries[idx].hooks;
	struct log_priv *p;
	void **priv;
	int rb, scr, err;

	(void)revision;
	if ((i->logflags & XT_LOG_UID) &&
	    (hooks & ((1U << NF_INET_LOCAL_IN) | (1U << NF_INET_LOCAL_OUT))))
		return gen_refuse(g, ti, idx,
				  "LOG --log-uid: the owner of the local socket (INPUT, OUTPUT) "
				  "cannot be read by TC/XDP programs: not supported");
	rb = gen_map_get(g, IPT2BPF_MAP_LOG, BPF_MAP_TYPE_RINGBUF, 0, 0, IPT2BPF_LOG_RINGBUF, 0,
			 false);
	if (rb < 0)
		return rb;
	scr = gen_map_get(g, IPT2BPF_MAP_LOG_SCR, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
			  sizeof(struct ipt2bpf_log_rec), 1, 0, false);
	if (scr < 0)
		return scr;
	err = gen_mod_use(g, &mod_LOG, &priv);
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

int gen_log_prepare(struct gen *g, unsigned int ti, unsigned int idx)
{
	static const struct xt_log_info plain; /* LOG without options: never refused */

	return log_prepare(g, ti, idx, &plain, 0);
}

static const struct log_priv *priv_get(struct gen *g)
{
	return gen_mod_priv(g, &mod_LOG);
}

int gen_log_scratch(struct gen *g, int l_none)
{
	const struct log_priv *p = priv_get(g);

	if (!p)
		return -ENOENT;
	gen_array_elem(g, (unsigned int)p->scr, 0, l_none);
	return 0;
}

void gen_log_send(struct gen *g, int reg, uint8_t kind, unsigned int ti, unsigned int idx,
		  int16_t opt_off, const void *opt, size_t len)
{
	const struct log_priv *p = priv_get(g);
	const unsigned char *o = opt;

	if (!p) /* gen_log_scratch() said so already */
		return;
	if (kind != IPT2BPF_LOG_K_LOG)
		E(BPF_ST_MEM(BPF_B, reg, REC(kind), kind));
	E(BPF_ST_MEM(BPF_B, reg, REC(table), (int32_t)ti));
	E(BPF_ST_MEM(BPF_W, reg, REC(entry), (int32_t)idx));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(mark)));
	E(BPF_STX_MEM(BPF_W, reg, BPF_REG_1, REC(mark)));
	for (size_t off = 0; off + 4 <= len; off += 4)
		E(BPF_ST_MEM(BPF_W, reg, opt_off + (int16_t)off, (int32_t)gen_u32(o + off)));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)p->rb);
	E(BPF_MOV64_REG(BPF_REG_2, reg));
	E(BPF_MOV64_IMM(BPF_REG_3, sizeof(struct ipt2bpf_log_rec)));
	E(BPF_MOV64_IMM(BPF_REG_4, 0));
	E(BPF_CALL_HELPER(BPF_FUNC_ringbuf_output));
	/* A later LOG rule stamps its own options but not the kind. */
	if (kind != IPT2BPF_LOG_K_LOG)
		E(BPF_ST_MEM(BPF_B, reg, REC(kind), IPT2BPF_LOG_K_LOG));
}

/*
 * Once per packet, before the tables: the packet's part of the record.
 * R9 = ctx, R6 = gen_pkt, R7 = hook; R8 is free here.
 */
static int log_prologue(struct gen *g, int role)
{
	const struct log_priv *p = priv_get(g);
	enum bpf_func_id load = g->fl->load_bytes;
	int l_done = LABEL(), l_short = LABEL(), l_novlan = LABEL();

	(void)role;
	if (!p)
		return 0;
	gen_array_elem(g, (unsigned int)p->scr, 0, l_done);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, REC(magic), IPT2BPF_LOG_MAGIC));
	E(BPF_STX_MEM(BPF_B, BPF_REG_8, BPF_REG_7, REC(hook)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(iif)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, REC(iif)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(oif)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, REC(oif)));
	E(BPF_ST_MEM(BPF_B, BPF_REG_8, REC(flags), 0));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, REC(vlan_proto), 0));
	if (g->fl->type == BPF_PROG_TYPE_SCHED_CLS) {
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9,
			      offsetof(struct __sk_buff, vlan_present)));
		EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_novlan);
		E(BPF_ST_MEM(BPF_B, BPF_REG_8, REC(flags), IPT2BPF_LOG_F_VLAN));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, vlan_proto)));
		E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_1, REC(vlan_proto)));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, vlan_tci)));
		E(BPF_STX_MEM(BPF_H, BPF_REG_8, BPF_REG_1, REC(vlan_tci)));
		BIND(l_novlan);
	}
	/* The Ethernet header: what the kernel's MAC= prints for INPUT and FORWARD. */
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_IMM(BPF_REG_2, 0));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_8));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, REC(mac)));
	E(BPF_MOV64_IMM(BPF_REG_4, ETH_HLEN));
	E(BPF_CALL_HELPER(load));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_short);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_8, REC(flags)));
	E(BPF_ALU64_IMM(BPF_OR, BPF_REG_1, IPT2BPF_LOG_F_MAC));
	E(BPF_STX_MEM(BPF_B, BPF_REG_8, BPF_REG_1, REC(flags)));
	BIND(l_short);
	/* The datagram's first min(tot_len, IPT2BPF_LOG_DATA) bytes (the parser checked tot_len).
	 */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_6, PKT(tot_len)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_4, REC(len)));
	{
		int l_fits = LABEL();

		EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_4, IPT2BPF_LOG_DATA, 0), l_fits);
		E(BPF_MOV64_IMM(BPF_REG_4, IPT2BPF_LOG_DATA));
		BIND(l_fits);
	}
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, REC(caplen), 0));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_4, 1, 0),
	   l_done); /* (< 1: older verifiers learn nothing from == 0) */
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_4, REC(caplen)));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_IMM(BPF_REG_2, ETH_HLEN));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_8));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, REC(data)));
	E(BPF_CALL_HELPER(load));
	BIND(l_done);
	return g->p->e.err;
}

/* In a chain function (R6 = gen_pkt): stamp the rule into the record and emit it. */
static int log_emit(struct gen *g, unsigned int ti, unsigned int idx,
		    const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	int l_done = LABEL();

	(void)c;
	if (gen_log_scratch(g, l_done))
		return gen_refuse(g, ti, idx, "LOG: internal error: module not prepared");
	/* The record stays in R0: nothing is called before the output. */
	gen_log_send(g, BPF_REG_0, IPT2BPF_LOG_K_LOG, ti, idx, REC(info), t->data,
		     sizeof(struct xt_log_info));
	BIND(l_done);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_LOG = {
	.name = "LOG",
	.target = true,
	.revisions = 1U << 0,
	.check = log_check,
	.dump = log_dump,
	.prepare = log_prepare,
	.emit_target = log_emit,
	.emit_prologue = log_prologue,
};
IPT2BPF_MOD_REGISTER(mod_LOG);
