// SPDX-License-Identifier: GPL-2.0
/*
 * -j TCPMSS, as tcpmss_tg4() (xt_TCPMSS.c), for TC programs: on a first
 * fragment with a whole TCP header (else the verdict is DROP: fewer than 20
 * bytes, a data offset below 5 or beyond the segment), the options are
 * walked as tcpmss_mangle_packet() walks them; an MSS option of length 4 is
 * lowered to the new value (never raised); without one, a SYN that carries
 * no data and has room in its header gets one (min(new, 536)) in front of
 * its options: four more bytes, which the rules after it count and see
 * (gen_pkt's lengths and option map are updated).  --set-mss takes the value
 * given; --clamp-mss-to-pmtu (FORWARD only here) the smaller MTU of the
 * route out and of the route back to the sender minus 40 (DROP if that MTU
 * is 40 or less), as bpf_fib_lookup() reports them (route MTU, learned path
 * MTU, device MTU; the route back is looked up as if received on the input
 * device, where the kernel does an output lookup: they differ only with
 * policy routing by input device).
 *
 * The rule's decisions happen in place; the packet itself is rewritten when
 * the tables accept it (per-CPU state ipt_tcpmss between the rules and the
 * main program): the smallest MSS any TCPMSS rule asked for is what several
 * rules in turn would have left.  Checksums are updated as the kernel does
 * (inet_proto_csum_replace*() through bpf_l4/l3_csum_replace()).  Refused:
 * in XDP programs (no packet rewriting there), and in rule sets with u32,
 * string or tcpmss matches, which would have to see the rewritten option.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/netfilter/xt_TCPMSS.h>
#include <linux/socket.h>

#include "hdropt.h"
#include "m_util.h"

#ifndef AF_INET
#define AF_INET 2
#endif

#define TCPMSS_MAP  "ipt_tcpmss"
#define TCP_HDR	    20
#define OPT_MSS	    2
#define OPTLEN_MSS  4
#define MSS_DEFAULT 536 /* RFC 1122: no MSS option received */
#define MINLEN	    40	/* sizeof(struct iphdr) + sizeof(struct tcphdr) */
#define TCP_SYN_BIT 0x02

struct tcpmss_state {
	uint32_t req;	   /* smallest MSS a TCPMSS rule asked for, UINT32_MAX: none */
	uint32_t inserted; /* a rule added the option: the later rules saw 4 more bytes */
	uint32_t has_opt;  /* the walk finds an MSS option of length 4 */
	uint32_t opt_off;  /* its offset in the TCP header */
	uint32_t oldmss;
	uint32_t clamp; /* --clamp-mss-to-pmtu's MSS, 0: path MTU <= 40 (drop) */
	uint32_t zero;	/* always 0: a 0 the verifier cannot see (bpf_loop state) */
	uint32_t pad;
};

#define STF(field) ((int16_t)offsetof(struct tcpmss_state, field))
#define FIB(field) ((int16_t)(FP_SCR + (int)offsetof(struct bpf_fib_lookup, field)))

/* Walk state in FP_SCR (offsets from the pointer the callback gets). */
#define W_I	 (GEN_LOOP_USER + 0)  /* u32: option offset in the TCP header */
#define W_HDRLEN (GEN_LOOP_USER + 4)  /* u32: doff * 4 */
#define W_BASE	 (GEN_LOOP_USER + 8)  /* u32: datagram offset of the TCP header */
#define W_FOUND	 (GEN_LOOP_USER + 12) /* u32 */
#define W_OFF	 (GEN_LOOP_USER + 16) /* u32 */
#define W_MSS	 (GEN_LOOP_USER + 20) /* u32 */

/* Module-wide: does some rule clamp to the path MTU? */
struct tcpmss_priv {
	bool clamp;
};

static const struct ipt2bpf_mod mod_tcpmss_tg;

static void tcpmss_tg_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_tcpmss_info *i = data;

	(void)len, (void)revision;
	if (i->mss == XT_TCPMSS_CLAMP_PMTU)
		fputs("--clamp-mss-to-pmtu", f);
	else
		fprintf(f, "--set-mss %u", i->mss);
}

static int tcpmss_map(struct gen *g)
{
	return gen_map_get(g, TCPMSS_MAP, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
			   sizeof(struct tcpmss_state), 1, 0, false);
}

static bool reads_bytes(const struct ipt2bpf_match *m)
{
	return m->kind == IPT2BPF_M_MOD && (!strcmp(m->name, "u32") || !strcmp(m->name, "string") ||
					    !strcmp(m->name, "tcpmss"));
}

static int tcpmss_tg_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			     uint8_t revision)
{
	const struct xt_tcpmss_info *i = data;
	const unsigned int rx = (1U << NF_INET_LOCAL_IN) | (1U << NF_INET_FORWARD);
	unsigned int hooks = g->tables[ti]->entries[idx].hooks;
	struct tcpmss_priv *p;
	void **priv;
	int err;

	(void)revision;
	if (g->opts->mode == IPT2BPF_MODE_XDP && (hooks & rx))
		return gen_refuse(g, ti, idx,
				  "target 'TCPMSS': XDP programs cannot rewrite the packet "
				  "(use --mode tc)");
	if (i->mss == XT_TCPMSS_CLAMP_PMTU && (hooks & (1U << NF_INET_LOCAL_OUT)))
		return gen_refuse(g, ti, idx,
				  "target 'TCPMSS': --clamp-mss-to-pmtu in OUTPUT is not "
				  "supported (FORWARD is)");
	for (unsigned int k = 0; k < g->n_tables; k++)
		for (unsigned int e = 0; e < g->tables[k]->n_entries; e++)
			for (unsigned int m = 0; m < g->tables[k]->entries[e].n_matches; m++)
				if (reads_bytes(&g->tables[k]->entries[e].matches[m]))
					return gen_refuse(g, ti, idx,
							  "target 'TCPMSS' in a rule set with "
							  "-m %s is not supported (it would "
							  "have to see the rewritten option)",
							  g->tables[k]->entries[e].matches[m].name);
	err = tcpmss_map(g);
	if (err < 0)
		return err;
	err = gen_mod_use(g, &mod_tcpmss_tg, &priv);
	if (err)
		return err;
	if (!*priv) {
		*priv = calloc(1, sizeof(*p));
		if (!*priv)
			return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
	}
	p = *priv;
	p->clamp |= i->mss == XT_TCPMSS_CLAMP_PMTU;
	return 0;
}

/* R0 = &ipt_tcpmss[0], or to l_none.  Clobbers R1-R5 and FP_KEY. */
static void state_lookup(struct gen *g, int l_none)
{
	gen_array_elem(g, (unsigned int)tcpmss_map(g), 0, l_none);
}

/* ------------------------------------------------------------ in the rule */

static int tcpmss_tg_emit(struct gen *g, unsigned int ti, unsigned int idx,
			  const struct ipt2bpf_target *t, const struct gen_ctx *c)
{
	const struct xt_tcpmss_info *i = t->data;
	int l_done = LABEL(), l_drop = LABEL(), l_ok = LABEL(), l_noins = LABEL();
	int l_min = LABEL();

	(void)ti, (void)idx, (void)c;
	/* A later fragment has no TCP header: nothing to do. */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_done);
	/* len < 20, doff * 4 < 20 or beyond the segment: NF_DROP. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, TCP_HDR, 0), l_drop);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_6, PKT(doff4)));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_2, TCP_HDR, 0), l_drop);
	EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_1, BPF_REG_2, 0), l_drop);
	state_lookup(g, l_done);
	/* R3 = the new MSS; a path MTU of 40 or less drops (clamp 0). */
	if (i->mss == XT_TCPMSS_CLAMP_PMTU) {
		E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_0, STF(clamp)));
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_3, 0, 0), l_ok);
	} else {
		E(BPF_MOV64_IMM(BPF_REG_3, i->mss));
		EJ(BPF_JMP_A(0), l_ok);
	}
	BIND(l_drop);
	gen_verdict_exit(g, GEN_V_DROP);
	BIND(l_ok);
	/*
	 * No MSS option, no data after the header and room for 4 more bytes: the
	 * kernel inserts the option now, the rules after this one see it.
	 */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, STF(has_opt)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_0, STF(inserted)));
	E(BPF_ALU64_REG(BPF_OR, BPF_REG_1, BPF_REG_2));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_noins);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_6, PKT(doff4)));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_1, BPF_REG_2, 0), l_noins);
	EJ(BPF_JMP_IMM(BPF_JGE, BPF_REG_2, 15 * 4, 0), l_noins);
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, STF(inserted), 1));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, OPTLEN_MSS));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_2, PKT(doff4)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, OPTLEN_MSS));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(l4len)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(tot_len)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, OPTLEN_MSS));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(tot_len)));
	/* tcp_find_option() now meets an MSS option first (-m tcp --tcp-option 2). */
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_6, PKT(optmap)));
	E(BPF_ALU64_IMM(BPF_OR, BPF_REG_1, 1 << OPT_MSS));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_6, BPF_REG_1, PKT(optmap)));
	BIND(l_noins);
	/* Several rules in turn leave the smallest value they asked for. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, STF(req)));
	EJ(BPF_JMP_REG(BPF_JLE, BPF_REG_1, BPF_REG_3, 0), l_min);
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_3, STF(req)));
	BIND(l_min);
	BIND(l_done);
	return g->p->e.err;
}

/* ------------------------------------------------------------ main program */

/* One step of the options walk of tcpmss_mangle_packet(); R1 = index, R2 = state. */
static int walk_cb(struct gen *g, const void *arg)
{
	int l_stop = LABEL(), l_step = LABEL(), l_one = LABEL();

	(void)arg;
	E(BPF_MOV64_REG(BPF_REG_6, BPF_REG_2));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_9, BPF_REG_6, GEN_LOOP_CTX));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_7, BPF_REG_6, W_I));
	/* for (i = 20; i <= tcp_hdrlen - TCPOLEN_MSS; i += optlen(opt, i)) */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_8, BPF_REG_6, W_HDRLEN));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_8, OPTLEN_MSS));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_7, BPF_REG_8, 0), l_stop);
	/* opt[i], opt[i + 1], opt[i + 2], opt[i + 3] (all inside the header) */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, W_BASE));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_7));
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_2, 0, -8, OPTLEN_MSS, l_stop);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, -8));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_10, -7));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, OPT_MSS, 0), l_step);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, OPTLEN_MSS, 0), l_step);
	E(BPF_ST_MEM(BPF_W, BPF_REG_6, W_FOUND, 1));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_7, W_OFF));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, -6));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, W_MSS));
	EJ(BPF_JMP_A(0), l_stop);
	/* optlen(): 1 for EOL, NOP and a zero length, else the length */
	BIND(l_step);
	EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_1, 1, 0), l_one);
	gen_hdropt_next(g, BPF_REG_2, W_I, l_one, l_stop);
	return g->p->e.err;
}

/*
 * R1 = the MTU bpf_fib_lookup() gives for the route to dst (pkt offset) as
 * if received on the input device, UINT32_MAX when it reports none (65535 or
 * more, no route, an error route).  FP_SCR holds the parameters.
 */
static void fib_mtu(struct gen *g, int16_t src, int16_t dst, bool flow)
{
	int l_done = LABEL();

	for (int off = 0; off < (int)sizeof(struct bpf_fib_lookup); off += 8)
		E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_SCR + off, 0));
	E(BPF_ST_MEM(BPF_B, BPF_REG_10, FIB(family), AF_INET));
	if (flow) {
		/* The packet's own flow, as ip_route_input() had it. */
		E(BPF_ST_MEM(BPF_B, BPF_REG_10, FIB(l4_protocol), IPPROTO_TCP));
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(sport)));
		E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
		E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, FIB(sport)));
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(dport)));
		E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
		E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, FIB(dport)));
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(tos)));
		E(BPF_STX_MEM(BPF_B, BPF_REG_10, BPF_REG_1, FIB(tos)));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, src));
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FIB(ipv4_src)));
	}
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, dst));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FIB(ipv4_dst)));
	if (g->prog->role == IPT2BPF_P_TRACE) {
		/* Trace programs pretend devices: the real one is in ipt_cfg. */
		int l_cfg = LABEL();

		E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
		gen_ld_map(&g->p->e, BPF_REG_1, g->map_cfg);
		E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
		E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
		E(BPF_MOV64_IMM(BPF_REG_1, 0));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_cfg);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_cfg, fib_iif)));
		BIND(l_cfg);
	} else {
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(iif)));
	}
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FIB(ifindex)));
	/* The largest tot_len: the MTU comes back whenever it is below it. */
	E(BPF_ST_MEM(BPF_H, BPF_REG_10, FIB(tot_len), 0xffff));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_SCR));
	E(BPF_MOV64_IMM(BPF_REG_3, sizeof(struct bpf_fib_lookup)));
	E(BPF_MOV64_IMM(BPF_REG_4, 0));
	E(BPF_CALL_HELPER(BPF_FUNC_fib_lookup));
	E(BPF_MOV32_IMM(BPF_REG_1, -1));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, BPF_FIB_LKUP_RET_FRAG_NEEDED, 0), l_done);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, FIB(mtu_result)));
	BIND(l_done);
}

/*
 * Per packet: the state starts empty; for a TCP first fragment with a whole
 * header, the options walk; for a FORWARD SYN, the clamp value.  R8 holds
 * the state.
 */
static int tcpmss_tg_prologue(struct gen *g, int role)
{
	void **priv;
	const struct tcpmss_priv *p;
	int l_end = LABEL(), l_tcp = LABEL(), err;

	(void)role;
	if (g->fl->type != BPF_PROG_TYPE_SCHED_CLS)
		return 0;
	err = gen_mod_use(g, &mod_tcpmss_tg, &priv);
	if (err)
		return err;
	p = *priv;
	state_lookup(g, l_end);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	E(BPF_MOV32_IMM(BPF_REG_1, -1));
	E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, STF(req)));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, STF(inserted), 0));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, STF(has_opt), 0));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, STF(clamp), 0));
	E(BPF_ST_MEM(BPF_W, BPF_REG_8, STF(zero), 0));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, IPPROTO_TCP, 0), l_end);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(l4ok)));
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_1, GEN_L4_TCP, 0), l_tcp);
	EJ(BPF_JMP_A(0), l_end);
	BIND(l_tcp);
	/* The walk needs doff * 4 in [20, l4len]; the rule drops the rest. */
	{
		int l_walked = LABEL();

		E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_6, PKT(doff4)));
		EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_2, TCP_HDR, 0), l_walked);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
		EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_1, BPF_REG_2, 0), l_walked);
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_2, FP_SCR + W_HDRLEN));
		E(BPF_MOV64_IMM(BPF_REG_1, TCP_HDR));
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_SCR + W_I));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(thoff)));
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_SCR + W_BASE));
		E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_SCR + W_FOUND, 0));
		/* Every step moves on by at least one byte: 40 steps are enough. */
		E(BPF_MOV64_IMM(BPF_REG_1, 40));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_8, STF(zero)));
		err = gen_loop_call(g, "ipt_cb_tcpmss_walk", BPF_REG_1, BPF_REG_0, walk_cb, NULL);
		if (err)
			return err;
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_SCR + W_FOUND));
		E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, STF(has_opt)));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_SCR + W_OFF));
		E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, STF(opt_off)));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_SCR + W_MSS));
		E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, STF(oldmss)));
		BIND(l_walked);
	}
	if (p->clamp && (gen_prog_hooks(g) & (1U << NF_INET_FORWARD))) {
		int l_mtu = LABEL(), l_bad = LABEL();

		/* Only FORWARD clamps here, and only SYNs reach the rule (--syn). */
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_7, NF_INET_FORWARD, 0), l_end);
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(tcpflags)));
		EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_1, TCP_SYN_BIT, 0), l_mtu);
		EJ(BPF_JMP_A(0), l_end);
		BIND(l_mtu);
		/* min(dst_mtu(skb_dst(skb)), tcpmss_reverse_mtu()) - 40, u16 */
		fib_mtu(g, PKT(saddr), PKT(daddr), true);
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_TMP));
		fib_mtu(g, PKT(daddr), PKT(saddr), false);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_10, FP_TMP));
		{
			int l_min = LABEL();

			EJ(BPF_JMP_REG(BPF_JLE, BPF_REG_1, BPF_REG_2, 0), l_min);
			E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_2));
			BIND(l_min);
		}
		EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_1, MINLEN, 0), l_bad);
		E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, MINLEN));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, 0xffff));
		E(BPF_STX_MEM(BPF_W, BPF_REG_8, BPF_REG_1, STF(clamp)));
		BIND(l_bad);
	}
	BIND(l_end);
	return g->p->e.err;
}

/* bpf_l4_csum_replace(ctx, R7 = checksum offset, from R2, to R1, flags) */
static void l4_csum(struct gen *g, uint64_t flags)
{
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_2));
	E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_1));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_7));
	E(BPF_MOV64_IMM(BPF_REG_5, (int32_t)flags));
	E(BPF_CALL_HELPER(BPF_FUNC_l4_csum_replace));
}

/* bpf_skb_store_bytes(ctx, R2 offset, fp + from, len) */
static void store(struct gen *g, int16_t from, int len)
{
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, from));
	E(BPF_MOV64_IMM(BPF_REG_4, len));
	E(BPF_MOV64_IMM(BPF_REG_5, 0));
	E(BPF_CALL_HELPER(BPF_FUNC_skb_store_bytes));
}

/*
 * The packet as the TCPMSS rules left it, if the tables accepted it: the
 * option lowered, or inserted in front of the others.  R0 (the verdict) is
 * kept; a failure to grow the packet drops it, as pskb_expand_head() failing
 * does.
 */
static int tcpmss_tg_verdict(struct gen *g, int role)
{
	int l_out = LABEL(), l_insert = LABEL(), l_room = LABEL(), l_fail = LABEL();
	int l_cap = LABEL();

	(void)role;
	if (g->fl->type != BPF_PROG_TYPE_SCHED_CLS)
		return 0;
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, FP_TMP));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, GEN_V_ACCEPT, 0), l_out);
	state_lookup(g, l_out);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_8, STF(req)));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, -1, 0), l_out);
	/* R7 = frame offset of the TCP checksum */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_7, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_7, ETH_HLEN + 16));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_8, STF(has_opt)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_insert);

	/* The option is there: lower it, never raise it. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_8, STF(oldmss)));
	EJ(BPF_JMP_REG(BPF_JLE, BPF_REG_2, BPF_REG_1, 0), l_out);
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_2, 16));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, FP_SCR));
	l4_csum(g, 2);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_8, STF(opt_off)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_2, 16 - 2)); /* thoff + opt_off + 2 */
	store(g, FP_SCR, 2);
	EJ(BPF_JMP_A(0), l_out);

	BIND(l_insert);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_8, STF(inserted)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_out);
	/* FP_SCR: the MSS option (min(new, 536)) then the old options. */
	for (int off = 0; off < GEN_SCR_SIZE; off += 8)
		E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_SCR + off, 0));
	EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_1, MSS_DEFAULT, 0), l_cap);
	E(BPF_MOV64_IMM(BPF_REG_1, MSS_DEFAULT));
	BIND(l_cap);
	E(BPF_ST_MEM(BPF_B, BPF_REG_10, FP_SCR, OPT_MSS));
	E(BPF_ST_MEM(BPF_B, BPF_REG_10, FP_SCR + 1, OPTLEN_MSS));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, FP_SCR + 2));
	{
		int l_noopts = LABEL();

		/* The old options: doff * 4 - 20 bytes, before the rules' 4 (<= 36). */
		E(BPF_LDX_MEM(BPF_B, BPF_REG_4, BPF_REG_6, PKT(doff4)));
		E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_4, TCP_HDR + OPTLEN_MSS));
		/* JLT 1, not JEQ 0: the 6.1 verifier keeps 0 in the range after JEQ. */
		EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_4, 1, 0), l_noopts);
		EJ(BPF_JMP_IMM(BPF_JGT, BPF_REG_4, 36, 0), l_out);
		E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_7));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, TCP_HDR - 16));
		E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
		E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, FP_SCR + OPTLEN_MSS));
		E(BPF_CALL_HELPER(BPF_FUNC_skb_load_bytes));
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_out);
		BIND(l_noopts);
	}
	/* Room for 4 more bytes after the datagram (Ethernet padding may hold them). */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, len)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(tot_len)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN));
	EJ(BPF_JMP_REG(BPF_JGE, BPF_REG_1, BPF_REG_2, 0), l_room);
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_IMM(BPF_REG_3, 0));
	E(BPF_CALL_HELPER(BPF_FUNC_skb_change_tail));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_fail);
	BIND(l_room);
	/* memmove + the option bytes */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_4, BPF_REG_6, PKT(doff4)));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_4, TCP_HDR));
	EJ(BPF_JMP_IMM(BPF_JGT, BPF_REG_4, 40, 0), l_out);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_4, OPTLEN_MSS, 0), l_out);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, TCP_HDR - 16));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, FP_SCR));
	E(BPF_MOV64_IMM(BPF_REG_5, 0));
	E(BPF_CALL_HELPER(BPF_FUNC_skb_store_bytes));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_fail);
	/* checksum: the length in the pseudo header, the option, the data offset */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(l4len)));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_2));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_2, OPTLEN_MSS));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_2, 16));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	l4_csum(g, BPF_F_PSEUDO_HDR | 2);
	E(BPF_MOV64_IMM(BPF_REG_2, 0));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_SCR));
	l4_csum(g, 4);
	/* bytes 12-13: the data offset grows by one word */
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_2, 16 - 12));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, FP_SCR + 8));
	E(BPF_MOV64_IMM(BPF_REG_4, 2));
	E(BPF_CALL_HELPER(BPF_FUNC_skb_load_bytes));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_fail);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, FP_SCR + 8));
	E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, FP_SCR + 12));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_SCR + 8));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, (OPTLEN_MSS / 4) << 4));
	E(BPF_STX_MEM(BPF_B, BPF_REG_10, BPF_REG_1, FP_SCR + 8));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_10, FP_SCR + 12));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, FP_SCR + 8));
	l4_csum(g, 2);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_2, 16 - 12));
	store(g, FP_SCR + 8, 1);
	/* the IP total length and its checksum */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(tot_len)));
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_2, OPTLEN_MSS));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_2, 16));
	E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, FP_SCR + 16));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_2));
	E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_1));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_IMM(BPF_REG_2, ETH_HLEN + 10));
	E(BPF_MOV64_IMM(BPF_REG_5, 2));
	E(BPF_CALL_HELPER(BPF_FUNC_l3_csum_replace));
	E(BPF_MOV64_IMM(BPF_REG_2, ETH_HLEN + 2));
	store(g, FP_SCR + 16, 2);
	EJ(BPF_JMP_A(0), l_out);

	BIND(l_fail);
	E(BPF_MOV64_IMM(BPF_REG_1, GEN_V_DROP));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, FP_TMP));
	BIND(l_out);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_10, FP_TMP));
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_tcpmss_tg = {
	.name = "TCPMSS",
	.target = true,
	.revisions = 1U << 0,
	.order = 70,
	.dump = tcpmss_tg_dump,
	.prepare = tcpmss_tg_prepare,
	.emit_target = tcpmss_tg_emit,
	.emit_prologue = tcpmss_tg_prologue,
	.emit_verdict = tcpmss_tg_verdict,
};
IPT2BPF_MOD_REGISTER(mod_tcpmss_tg);
