// SPDX-License-Identifier: GPL-2.0
/*
 * -m ecn, as ecn_mt4() (xt_ecn.c): --ecn-ip-ect compares the IP header's
 * two ECN bits, --ecn-tcp-ece/--ecn-tcp-cwr the TCP header's ECE and CWR
 * flags, each with its own '!'.  The TCP part reads the header at the
 * transport offset whatever the fragment offset (the kernel does not look at
 * it) and fails, without a hotdrop, when 20 bytes are not there; it is
 * evaluated in the main program (gen_pre.h).
 */
#include <errno.h>
#include <stdio.h>
#include <linux/in.h>
#include <linux/netfilter/xt_ecn.h>

#include "gen_pre.h"

#define ECN_TCP	     (XT_ECN_OP_MATCH_ECE | XT_ECN_OP_MATCH_CWR)
#define TCP_ECE_BIT  0x40 /* byte 13 of the TCP header */
#define TCP_CWR_BIT  0x80
#define TCP_HDR_SIZE 20

static int ecn_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e, const void *data,
		     size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_ecn_info *i = data;

	(void)t, (void)len, (void)revision;
	/* ecn_mt_check4(): the kernel refuses these with EINVAL. */
	if ((i->operation | i->invert) & XT_ECN_OP_MATCH_MASK) {
		snprintf(why, whylen, "unknown operation bits (the kernel refuses them)");
		return -EOPNOTSUPP;
	}
	if ((i->operation & ECN_TCP) &&
	    (e->ip.proto != IPPROTO_TCP || (e->ip.invflags & IPT_INV_PROTO))) {
		snprintf(why, whylen, "TCP bits need -p tcp (the kernel refuses this rule)");
		return -EOPNOTSUPP;
	}
	return 0;
}

static void ecn_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_ecn_info *i = data;
	const char *sep = "";

	(void)len, (void)revision;
	if (i->operation & XT_ECN_OP_MATCH_ECE) {
		fprintf(f, "%s--ecn-tcp-ece", (i->invert & XT_ECN_OP_MATCH_ECE) ? "! " : "");
		sep = " ";
	}
	if (i->operation & XT_ECN_OP_MATCH_CWR) {
		fprintf(f, "%s%s--ecn-tcp-cwr", sep, (i->invert & XT_ECN_OP_MATCH_CWR) ? "! " : "");
		sep = " ";
	}
	if (i->operation & XT_ECN_OP_MATCH_IP)
		fprintf(f, "%s%s--ecn-ip-ect %u", sep, (i->invert & XT_ECN_OP_MATCH_IP) ? "! " : "",
			i->ip_ect);
}

/* match_ip(): ((tos & 3) == ip_ect) ^ invert. */
static void ecn_ip(struct gen *g, const struct xt_ecn_info *i, int l_fail)
{
	bool inv = i->invert & XT_ECN_OP_MATCH_IP;

	if (i->ip_ect > 3) { /* never equal */
		if (!inv)
			EJ(BPF_JMP_A(0), l_fail);
		return;
	}
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(tos)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, 3));
	EJ(BPF_JMP32_IMM(inv ? BPF_JEQ : BPF_JNE, BPF_REG_1, i->ip_ect, 0), l_fail);
}

/* th->ece / th->cwr in the byte at FP_TMP: fail unless (bit set) ^ inv. */
static void ecn_flag(struct gen *g, uint8_t bit, bool inv, int l_no)
{
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_TMP));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, bit));
	EJ(BPF_JMP32_IMM(inv ? BPF_JNE : BPF_JEQ, BPF_REG_1, 0, 0), l_no);
}

static int ecn_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	const struct xt_ecn_info *i = data;

	(void)revision, (void)l_drop;
	if (i->operation & XT_ECN_OP_MATCH_IP)
		ecn_ip(g, i, l_no);
	/* match_tcp(): skb_header_pointer(thoff, 20) fails: no match. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, TCP_HDR_SIZE, 0), l_no);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 13));
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_1, 0, FP_TMP, 1, l_no);
	if (i->operation & XT_ECN_OP_MATCH_ECE)
		ecn_flag(g, TCP_ECE_BIT, i->invert & XT_ECN_OP_MATCH_ECE, l_no);
	if (i->operation & XT_ECN_OP_MATCH_CWR)
		ecn_flag(g, TCP_CWR_BIT, i->invert & XT_ECN_OP_MATCH_CWR, l_no);
	return g->p->e.err;
}

static int ecn_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		       uint8_t revision)
{
	const struct xt_ecn_info *i = data;

	if (!(i->operation & ECN_TCP))
		return 0;
	return gen_pre_add(g, ti, idx, data, revision, ecn_eval, 0);
}

static int ecn_emit(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_match *m,
		    int l_fail)
{
	const struct xt_ecn_info *i = m->data;

	if (i->operation & ECN_TCP)
		return gen_pre_test(g, ti, idx, m->data, l_fail);
	if (i->operation & XT_ECN_OP_MATCH_IP)
		ecn_ip(g, i, l_fail);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_ecn = {
	.name = "ecn",
	.revisions = 1U << 0,
	.check = ecn_check,
	.dump = ecn_dump,
	.prepare = ecn_prepare,
	.emit_match = ecn_emit,
};
IPT2BPF_MOD_REGISTER(mod_ecn);
