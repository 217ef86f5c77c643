/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Matches evaluated in the main program.  Chain functions only see the
 * parsed packet (struct gen_pkt); a match that reads packet bytes the parser
 * does not keep, or the skb (u32, string, sctp chunks, tcpmss, mac, pkttype,
 * ...), is evaluated once per packet in the main program, before the tables
 * run, and its outcome (no match, match, hotdrop) is stored in a per-CPU
 * array (ipt_pre, one byte per use).  The rule then only tests that byte, in
 * its place in the chain, so matches still run in order: a later match's
 * hotdrop happens only if the earlier ones matched, as in ipt_do_table().
 *
 * Nothing a rule does can change what these matches read: targets that
 * rewrite the packet (TCPMSS) refuse to share a rule set with them.
 */
#ifndef IPT2BPF_GEN_PRE_H
#define IPT2BPF_GEN_PRE_H

#include "gen_internal.h"

/*
 * Emits the evaluation of one use in the main program: falls through when
 * the packet matches, jumps to l_no when not, to l_drop for a hotdrop (-1
 * when the match never hotdrops).  Registers: R6 = struct gen_pkt *, R7 =
 * hook, R9 = ctx must be kept, R8 is the framework's; R0-R5, FP_TMP, FP_KEY,
 * FP_IFKEY and the FP_SCR area are free.
 */
typedef int (*gen_pre_eval_fn)(struct gen *g, const void *data, uint8_t revision, int l_no,
			       int l_drop);

/* Outcomes a use may have besides match and no match (gen_pre_add() flags). */
#define GEN_PRE_HOTDROP	      0x1 /* no match, and the packet is dropped */
#define GEN_PRE_MATCH_HOTDROP 0x2 /* a match that sets hotdrop all the same (see below) */

/*
 * prepare(): evaluate this use (entry idx of table ti, payload data) in the
 * main program.  A match that returns true and sets hotdrop (sctp's inverted
 * --chunk-types on a malformed packet) makes ipt_do_table() count the entry,
 * run its target and then drop: such a use must be the entry's last match
 * and the target a standard one (the caller checks), and eval jumps to
 * gen_pre_match_drop_label() for it.
 */
int gen_pre_add(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		uint8_t revision, gen_pre_eval_fn eval, unsigned int flags);
/* Eval code of a GEN_PRE_MATCH_HOTDROP use: the label for "matched, but hotdrop". */
int gen_pre_match_drop_label(struct gen *g);
/*
 * prepare(): this rule set reads IP header bytes from the packet (u32,
 * string): at FORWARD the main program computes how ip_forward() changed
 * bytes 8..11 (TTL, checksum) before the hook, for gen_pre_fwd_fix().
 */
int gen_pre_fwdhdr(struct gen *g);
/*
 * Eval code: val_reg holds the big-endian 32-bit word read at the datagram
 * offset in off_reg; make it what the FORWARD hook sees (the TTL decremented,
 * the checksum updated).  No code unless the program runs FORWARD.
 */
void gen_pre_fwd_fix(struct gen *g, int val_reg, int off_reg, int tmp_reg, int tmp2_reg);
/* Eval code: reg = the delta word gen_pre_fwd_fix() applies (0 outside FORWARD). */
#define GEN_PRE_FWD_DELTA(reg) BPF_LDX_MEM(BPF_W, (reg), BPF_REG_8, 0)

/* emit_match(): jump to l_fail unless the stored outcome is a match (hotdrop: return DROP). */
int gen_pre_test(struct gen *g, unsigned int ti, unsigned int idx, const void *data, int l_fail);

/*
 * Loads len bytes at (IP header offset in off_reg, or off_imm if off_reg < 0)
 * of the frame into the stack slot `to` of the current frame; jumps to l_err
 * when the frame is too short.  ctx_reg holds the skb/xdp_md pointer.
 * Clobbers R0-R5 (off_reg may be one of them).
 */
void gen_pre_bytes(struct gen *g, int ctx_reg, int off_reg, int32_t off_imm, int16_t to, int len,
		   int l_err);

/*
 * bpf_loop(nr_reg, callback, &FP_SCR, 0) from the main program.  The caller
 * has filled FP_SCR[8..64) with the loop state; FP_SCR[0..8) gets the ctx
 * pointer.  The callback (emitted by emit_cb(g, arg), once per program)
 * starts with R1 = index, R2 = &FP_SCR of the caller and must return 0
 * (go on) or 1 (stop).  Clobbers R0-R5.
 */
int gen_pre_loop(struct gen *g, const char *name, int nr_reg,
		 int (*emit_cb)(struct gen *g, const void *arg), const void *arg);
/*
 * The same from any main-program code: zero_reg holds a 0 the verifier does
 * not know (a value read from a map) for GEN_LOOP_ZERO; nr_reg is not R0.
 */
int gen_loop_call(struct gen *g, const char *name, int nr_reg, int zero_reg,
		  int (*emit_cb)(struct gen *g, const void *arg), const void *arg);

/*
 * Offsets in the loop state (relative to the pointer the callback gets).
 * GEN_LOOP_ZERO holds 0, but a 0 the verifier cannot see (read from a map):
 * adding it to a loop variable before storing it keeps the variable
 * imprecise, so the verifier's passes over the callback converge instead of
 * walking every value a counter takes (recent kernels verify callbacks
 * until their states repeat).
 */
#define GEN_LOOP_CTX  0	 /* u64: the skb / xdp_md pointer */
#define GEN_LOOP_ZERO 8	 /* u32: 0, unknown to the verifier */
#define GEN_LOOP_USER 16 /* first byte the module may use */
#define GEN_LOOP_END  64 /* GEN_SCR_SIZE */
/* Eval code: reg = 0, a value the verifier does not know. */
#define GEN_PRE_ZERO(reg) BPF_LDX_MEM(BPF_W, (reg), BPF_REG_8, 4)

/* reg = the kernel's toupper(reg) (lib/ctype.c, Latin-1 included) for a byte value. */
void gen_toupper(struct gen *g, int reg);

/* out = tab[idx] for idx < n (a tree of compares; idx >= n gives tab[n - 1]). */
void gen_table(struct gen *g, int idx_reg, int out_reg, const uint8_t *tab, unsigned int n);

/* Which hooks (NF_INET_* bits) the program being built runs. */
unsigned int gen_prog_hooks(const struct gen *g);

#endif
