// SPDX-License-Identifier: GPL-2.0
/*
 * -m string (revision 1), as string_mt() (xt_string.c): skb_find_text()
 * over the datagram as the hook sees it (offsets from the IP header), from
 * --from on; a match must end by --to (skb_find_text()'s ret + patlen <=
 * to - from), and within the datagram.  With --icase both the pattern and
 * the text go through the kernel's toupper() (lib/ctype.c, Latin-1
 * included).  The result is ^ the invert flag.
 *
 * Both algorithms find the leftmost occurrence.  ts_kmp carries its state
 * across the skb's fragments; ts_bm searches each linear block on its own
 * and misses an occurrence that spans two of them.  ipt2bpf searches the
 * datagram as one block: for BM on a non-linear skb (large GRO packets) it
 * may find an occurrence the kernel misses.  ts_bm's bad-character table
 * with --icase is wrong for the Latin-1 bytes 0xbf, 0xdf and 0xff (it skips
 * occurrences): such patterns are refused for --algo bm --icase.
 *
 * The search (KMP, one step per bpf_loop() iteration) runs in the main
 * program (gen_pre.h); the pattern and the failure function are compiled
 * into the callback as compare trees.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/netfilter/xt_string.h>

#include "gen_pre.h"

/* Loop state (offsets from the pointer the callback gets). */
#define ST_POS	 (GEN_LOOP_USER + 0)  /* u32: datagram offset of the next text byte */
#define ST_END	 (GEN_LOOP_USER + 4)  /* u32: min(to, skb->len) */
#define ST_Q	 (GEN_LOOP_USER + 8)  /* u32: pattern bytes matched so far */
#define ST_FOUND (GEN_LOOP_USER + 12) /* u32 */
#define ST_DELTA (GEN_LOOP_USER + 16) /* u32: gen_pre_fwd_fix()'s delta of bytes 8..11 */

/* The kernel's toupper() on a byte (lib/ctype.c). */
static uint8_t k_toupper(uint8_t c)
{
	bool lower = (c >= 'a' && c <= 'z') || (c >= 0xdf && c != 0xf7);

	return lower ? (uint8_t)(c - ('a' - 'A')) : c;
}

static bool string_icase(const struct xt_string_info *i)
{
	return i->u.v1.flags & XT_STRING_FLAG_IGNORECASE;
}

static int string_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_string_info *i = data;
	bool bm;

	(void)t, (void)e, (void)len, (void)revision;
	/* string_mt_check() and textsearch_prepare() refuse these (EINVAL, ENOENT). */
	if (i->from_offset > i->to_offset || i->algo[XT_STRING_MAX_ALGO_NAME_SIZE - 1] ||
	    i->patlen > XT_STRING_MAX_PATTERN_SIZE || !i->patlen ||
	    (i->u.v1.flags & ~(XT_STRING_FLAG_IGNORECASE | XT_STRING_FLAG_INVERT))) {
		snprintf(why, whylen, "malformed options (the kernel refuses them: EINVAL)");
		return -EOPNOTSUPP;
	}
	bm = !strcmp(i->algo, "bm");
	if (!bm && strcmp(i->algo, "kmp")) {
		snprintf(why, whylen, "--algo %.*s is not supported (bm and kmp are)",
			 XT_STRING_MAX_ALGO_NAME_SIZE, i->algo);
		return -EOPNOTSUPP;
	}
	if (bm && string_icase(i))
		for (unsigned int k = 0; k < i->patlen; k++) {
			uint8_t c = (uint8_t)i->pattern[k];

			if (c == 0xbf || c == 0xdf || c == 0xff) {
				snprintf(why, whylen,
					 "--algo bm --icase with the byte 0x%02x in the pattern: "
					 "the kernel's Boyer-Moore tables skip matches there "
					 "(use --algo kmp)",
					 c);
				return -EOPNOTSUPP;
			}
		}
	return 0;
}

static void string_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_string_info *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--hex-string \"|", (i->u.v1.flags & XT_STRING_FLAG_INVERT) ? "! " : "");
	for (unsigned int k = 0; k < i->patlen && k < XT_STRING_MAX_PATTERN_SIZE; k++)
		fprintf(f, "%02x", (uint8_t)i->pattern[k]);
	fprintf(f, "|\" --algo %.*s", XT_STRING_MAX_ALGO_NAME_SIZE, i->algo);
	if (i->from_offset)
		fprintf(f, " --from %u", i->from_offset);
	if (i->to_offset != UINT16_MAX)
		fprintf(f, " --to %u", i->to_offset);
	if (string_icase(i))
		fputs(" --icase", f);
}

/* The pattern as compared (upper-cased with --icase) and its KMP failure function. */
static void string_tables(const struct xt_string_info *i, uint8_t *pat, uint8_t *fail)
{
	unsigned int n = i->patlen, k = 0;

	for (unsigned int q = 0; q < n; q++)
		pat[q] = string_icase(i) ? k_toupper((uint8_t)i->pattern[q])
					 : (uint8_t)i->pattern[q];
	fail[0] = 0;
	for (unsigned int q = 1; q < n; q++) {
		while (k > 0 && pat[k] != pat[q])
			k = fail[k - 1];
		if (pat[k] == pat[q])
			k++;
		fail[q] = (uint8_t)k;
	}
}

/*
 * One KMP step; R1 = index, R2 = loop state.  Either the next text byte is
 * consumed, or (mismatch with q > 0) q falls back without consuming it: at
 * most 2 * text length steps.
 */
static int string_cb(struct gen *g, const void *arg)
{
	const struct xt_string_info *i = arg;
	uint8_t pat[XT_STRING_MAX_PATTERN_SIZE], fail[XT_STRING_MAX_PATTERN_SIZE];
	int l_stop = LABEL(), l_nofix = LABEL(), l_eq = LABEL(), l_adv = LABEL(), l_cont = LABEL();

	string_tables(i, pat, fail);
	E(BPF_MOV64_REG(BPF_REG_6, BPF_REG_2));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_9, BPF_REG_6, GEN_LOOP_CTX));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_7, BPF_REG_6, ST_POS));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_8, BPF_REG_6, ST_END));
	EJ(BPF_JMP_REG(BPF_JGE, BPF_REG_7, BPF_REG_8, 0), l_stop);
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_7, 0, -8, 1, l_stop);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, -8));
	/* FORWARD: bytes 8..11 as ip_forward() left them (delta 0 elsewhere). */
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_7, 8, 0), l_nofix);
	EJ(BPF_JMP_IMM(BPF_JGT, BPF_REG_7, 11, 0), l_nofix);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, ST_DELTA));
	E(BPF_MOV64_IMM(BPF_REG_3, 11));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_3, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_3, 3));
	E(BPF_ALU64_REG(BPF_RSH, BPF_REG_2, BPF_REG_3));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_2, 0xff));
	E(BPF_ALU64_REG(BPF_XOR, BPF_REG_1, BPF_REG_2));
	BIND(l_nofix);
	if (string_icase(i))
		gen_toupper(g, BPF_REG_1);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, -16));
	/* R2 = q, R3 = pattern[q] */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, ST_Q));
	gen_table(g, BPF_REG_2, BPF_REG_3, pat, i->patlen);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, -16));
	EJ(BPF_JMP_REG(BPF_JEQ, BPF_REG_3, BPF_REG_1, 0), l_eq);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_adv);
	/* q = prefix_tbl[q - 1]; the same byte again next step */
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_2, 1));
	gen_table(g, BPF_REG_2, BPF_REG_3, fail, i->patlen);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_6, GEN_LOOP_ZERO));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_3, BPF_REG_4));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_3, ST_Q));
	E(BPF_MOV64_IMM(BPF_REG_0, 0));
	E(BPF_EXIT_INSN());
	BIND(l_eq);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, 1));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_6, GEN_LOOP_ZERO));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_4));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_2, ST_Q));
	BIND(l_adv);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_7, 1));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_6, GEN_LOOP_ZERO));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_7, BPF_REG_4));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_7, ST_POS));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, ST_Q));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, i->patlen, 0), l_cont);
	E(BPF_ST_MEM(BPF_W, BPF_REG_6, ST_FOUND, 1));
	EJ(BPF_JMP_A(0), l_stop);
	BIND(l_cont);
	E(BPF_MOV64_IMM(BPF_REG_0, 0));
	E(BPF_EXIT_INSN());
	BIND(l_stop);
	E(BPF_MOV64_IMM(BPF_REG_0, 1));
	E(BPF_EXIT_INSN());
	return g->p->e.err;
}

static int string_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	const struct xt_string_info *i = data;
	bool inv = i->u.v1.flags & XT_STRING_FLAG_INVERT;
	int l_found = LABEL(), l_notfound = LABEL(), l_end = LABEL(), l_match = LABEL(), err;

	(void)revision, (void)l_drop;
	/* The text: [from, min(to, skb->len)); a match must end inside it. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(tot_len)));
	EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_1, i->to_offset, 0), l_end);
	E(BPF_MOV64_IMM(BPF_REG_1, i->to_offset));
	BIND(l_end);
	EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_1, i->from_offset, 0), l_notfound);
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_SCR + ST_END));
	E(GEN_PRE_ZERO(BPF_REG_2));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, i->from_offset));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_2, FP_SCR + ST_POS));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_SCR + ST_Q, 0));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_SCR + ST_FOUND, 0));
	E(GEN_PRE_FWD_DELTA(BPF_REG_2));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_2, FP_SCR + ST_DELTA));
	/* steps: 2 * (end - from) + 1 */
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, i->from_offset));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_1, 1));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	err = gen_pre_loop(g, "ipt_cb_string", BPF_REG_1, string_cb, data);
	if (err)
		return err;
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_SCR + ST_FOUND));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_found);
	BIND(l_notfound);
	EJ(BPF_JMP_A(0), inv ? l_match : l_no);
	BIND(l_found);
	if (inv)
		EJ(BPF_JMP_A(0), l_no);
	BIND(l_match);
	return g->p->e.err;
}

static int string_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			  uint8_t revision)
{
	int err = gen_pre_add(g, ti, idx, data, revision, string_eval, 0);

	return err ? err : gen_pre_fwdhdr(g);
}

static int string_emit(struct gen *g, unsigned int ti, unsigned int idx,
		       const struct ipt2bpf_match *m, int l_fail)
{
	return gen_pre_test(g, ti, idx, m->data, l_fail);
}

static const struct ipt2bpf_mod mod_string = {
	.name = "string",
	.revisions = 1U << 1,
	.check = string_check,
	.dump = string_dump,
	.prepare = string_prepare,
	.emit_match = string_emit,
};
IPT2BPF_MOD_REGISTER(mod_string);
