/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Walks over TCP and DCCP header options in bpf_loop() callbacks (the
 * tcpmss and dccp matches, the TCPMSS target): kinds 0 (end) and 1 (no-op)
 * take one byte, any other kind is followed by a length byte, and a zero
 * length moves on by one byte, so every step makes progress and the walk
 * needs at most as many steps as there are option bytes.
 *
 * Callback registers: R6 = the loop state, R7 = the index, R8 the end the
 * walk compares it with, R9 = ctx.
 */
#ifndef IPT2BPF_HDROPT_H
#define IPT2BPF_HDROPT_H

#include "gen_pre.h"

/* Loop state of gen_hdropt_find() (offsets from the pointer the callback gets). */
#define GEN_HO_I      (GEN_LOOP_USER + 0)  /* u32: option byte being looked at */
#define GEN_HO_OPTLEN (GEN_LOOP_USER + 4)  /* u32: bytes of options */
#define GEN_HO_BASE   (GEN_LOOP_USER + 8)  /* u32: datagram offset of the options */
#define GEN_HO_USER   (GEN_LOOP_USER + 12) /* the rest is the caller's */

/*
 * The callback of tcpmss_mt()'s (xt_tcpmss.c) and dccp_find_option()'s walk: stops
 * at the end of the options (or when a byte cannot be read); reads the
 * kind, op[i], into the stack slot kind_slot and R1, where
 * visit(g, arg, l_stop) looks at it: it may end the walk (jump to l_stop)
 * and falls through with R1 = the kind to go on with the next option
 * (i++ for kinds 0 and 1 and for the last byte, else i += op[i + 1] ? : 1,
 * read into the slot -8).
 */
int gen_hdropt_find(struct gen *g, int16_t kind_slot,
		    void (*visit)(struct gen *g, const void *arg, int l_stop), const void *arg);

/*
 * The end of a walk step: the index (R7) moves on by len_reg, or by one
 * where that is 0 or the code jumped to l_one; it is stored at i_off in the
 * loop state (plus GEN_LOOP_ZERO) and the callback returns 0 (go on).
 * l_stop is bound after that: return 1 (stop).
 */
void gen_hdropt_next(struct gen *g, int len_reg, int16_t i_off, int l_one, int l_stop);

#endif
