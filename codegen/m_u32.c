// SPDX-License-Identifier: GPL-2.0
/*
 * -m u32: u32_match_it() (xt_u32.c) on the IP datagram as the hook sees it
 * (offsets from the IP header, skb->len = the IP total length): every test
 * ("&&") reads a 32-bit big-endian word, applies its "&", "<<", ">>" and
 * "@" operators, and must land in one of its value ranges; any read that
 * would leave the datagram fails the match (not a hotdrop).  The result is
 * then ^ invert, as a bool.  u32_mt_checkentry()'s limits are enforced.
 * Evaluated in the main program (gen_pre.h).
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_u32.h>

#include "gen_pre.h"

#define U32_MAX_ARR (XT_U32_MAXSIZE + 1)

static int u32_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e, const void *data,
		     size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_u32 *d = data;

	(void)t, (void)e, (void)len, (void)revision;
	/* u32_mt_checkentry() refuses these (EINVAL). */
	if (d->ntests > U32_MAX_ARR)
		goto bad;
	for (unsigned int i = 0; i < d->ntests; i++) {
		const struct xt_u32_test *ct = &d->tests[i];

		if (ct->nnums > U32_MAX_ARR || ct->nvalues > U32_MAX_ARR)
			goto bad;
		for (unsigned int j = 1; j < ct->nnums; j++) {
			switch (ct->location[j].nextop) {
			case XT_U32_LEFTSH:
			case XT_U32_RIGHTSH:
				if (ct->location[j].number >= 32)
					goto bad;
				break;
			default: /* other operators do nothing at run time */
				break;
			}
		}
	}
	return 0;
bad:
	snprintf(why, whylen, "malformed test (the kernel refuses it: EINVAL)");
	return -EOPNOTSUPP;
}

static void u32_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	static const char *const ops[] = {"&", "<<", ">>", "@"};
	const struct xt_u32 *d = data;

	(void)len, (void)revision;
	fprintf(f, "%s--u32 \"", d->invert ? "! " : "");
	for (unsigned int i = 0; i < d->ntests && i < U32_MAX_ARR; i++) {
		const struct xt_u32_test *ct = &d->tests[i];

		if (i)
			fputs("&&", f);
		for (unsigned int j = 0; j < ct->nnums && j < U32_MAX_ARR; j++) {
			if (j)
				fputs(ct->location[j].nextop < 4 ? ops[ct->location[j].nextop]
								 : "?",
				      f);
			fprintf(f, "0x%x", ct->location[j].number);
		}
		fputc('=', f);
		for (unsigned int j = 0; j < ct->nvalues && j < U32_MAX_ARR; j++) {
			fprintf(f, "%s0x%x", j ? "," : "", ct->value[j].min);
			if (ct->value[j].max != ct->value[j].min)
				fprintf(f, ":0x%x", ct->value[j].max);
		}
	}
	fputc('"', f);
}

/*
 * R1 = ntohl(4 bytes at the datagram offset in R2) as the hook sees them,
 * else to l_no.  FP_TMP holds the bytes, FP_TMP + 4 the offset.
 */
static void u32_read(struct gen *g, int l_no)
{
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_2, FP_TMP + 4));
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_2, 0, FP_TMP, 4, l_no);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_TMP));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 32));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_10, FP_TMP + 4));
	gen_pre_fwd_fix(g, BPF_REG_1, BPF_REG_3, BPF_REG_4, BPF_REG_5);
}

/* One test: falls through when it holds, else l_no.  "at" lives in FP_IFKEY. */
static void u32_test(struct gen *g, const struct xt_u32_test *ct, int l_no)
{
	uint32_t pos = ct->location[0].number;
	int l_hit = LABEL();

	/* if (skb->len < 4 || pos > skb->len - 4) return false; */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(tot_len)));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_2, 4, 0), l_no);
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_2, 4));
	E(BPF_MOV32_IMM(BPF_REG_3, (int32_t)pos));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_3, BPF_REG_2, 0), l_no);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_3));
	u32_read(g, l_no);
	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_IFKEY, 0)); /* at = 0 */
	for (unsigned int j = 1; j < ct->nnums; j++) {
		uint32_t n = ct->location[j].number;

		switch (ct->location[j].nextop) {
		case XT_U32_AND:
			E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)n));
			break;
		case XT_U32_LEFTSH:
			E(BPF_ALU32_IMM(BPF_LSH, BPF_REG_1, (int32_t)n));
			break;
		case XT_U32_RIGHTSH:
			E(BPF_ALU32_IMM(BPF_RSH, BPF_REG_1, (int32_t)n));
			break;
		default: /* u32_match_it() ignores other operators */
			break;
		case XT_U32_AT:
			/* if (at + val < at) false; at += val (u32, in 64-bit registers). */
			E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_10, FP_IFKEY));
			E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_1));
			E(BPF_MOV32_IMM(BPF_REG_3, -1));
			EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_3, 0), l_no);
			E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_2, FP_IFKEY));
			/* at + 4 < at || skb->len < at + 4 || pos > skb->len - at - 4: false */
			E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, 4));
			EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_3, 0), l_no);
			E(BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_6, PKT(tot_len)));
			EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_4, BPF_REG_2, 0), l_no);
			E(BPF_ALU64_REG(BPF_SUB, BPF_REG_4, BPF_REG_2));
			E(BPF_MOV32_IMM(BPF_REG_3, (int32_t)n));
			EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_3, BPF_REG_4, 0), l_no);
			E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_10, FP_IFKEY));
			E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_3));
			u32_read(g, l_no);
			break;
		}
	}
	/* Any value range holds: the test holds. */
	for (unsigned int v = 0; v < ct->nvalues; v++) {
		uint32_t lo = ct->value[v].min, hi = ct->value[v].max;
		int l_next = LABEL();

		if (lo > hi)
			continue;
		if (lo)
			EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, (int32_t)lo, 0), l_next);
		if (hi != UINT32_MAX)
			EJ(BPF_JMP32_IMM(BPF_JGT, BPF_REG_1, (int32_t)hi, 0), l_next);
		EJ(BPF_JMP_A(0), l_hit);
		BIND(l_next);
	}
	EJ(BPF_JMP_A(0), l_no);
	BIND(l_hit);
}

static int u32_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	const struct xt_u32 *d = data;
	int l_false = LABEL(), l_out = LABEL();

	(void)revision, (void)l_drop;
	if (d->invert & ~1)
		return 0; /* bool ^ invert is never 0 */
	for (unsigned int i = 0; i < d->ntests; i++)
		u32_test(g, &d->tests[i], l_false);
	/* All tests held: u32_match_it() is true. */
	if (d->invert)
		EJ(BPF_JMP_A(0), l_no);
	else
		EJ(BPF_JMP_A(0), l_out);
	BIND(l_false);
	if (!d->invert)
		EJ(BPF_JMP_A(0), l_no);
	BIND(l_out);
	return g->p->e.err;
}

static int u32_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		       uint8_t revision)
{
	int err = gen_pre_add(g, ti, idx, data, revision, u32_eval, 0);

	return err ? err : gen_pre_fwdhdr(g);
}

static int u32_emit(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_match *m,
		    int l_fail)
{
	return gen_pre_test(g, ti, idx, m->data, l_fail);
}

static const struct ipt2bpf_mod mod_u32 = {
	.name = "u32",
	.revisions = 1U << 0,
	.check = u32_check,
	.dump = u32_dump,
	.prepare = u32_prepare,
	.emit_match = u32_emit,
};
IPT2BPF_MOD_REGISTER(mod_u32);
