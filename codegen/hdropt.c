// SPDX-License-Identifier: GPL-2.0
/*
 * TCP and DCCP header option walks (hdropt.h).  The kernel's walks
 * (tcpmss_mt() in xt_tcpmss.c, dccp_find_option() in xt_dccp.c,
 * tcpmss_mangle_packet() in xt_TCPMSS.c) step the same way; they differ in
 * where they stop and what they look for.
 */
#include "hdropt.h"

void gen_hdropt_next(struct gen *g, int len_reg, int16_t i_off, int l_one, int l_stop)
{
	int l_store = LABEL();

	EJ(BPF_JMP_IMM(BPF_JEQ, len_reg, 0, 0), l_one);
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_7, len_reg));
	EJ(BPF_JMP_A(0), l_store);
	BIND(l_one);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_7, 1));
	BIND(l_store);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, GEN_LOOP_ZERO));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_7, BPF_REG_1));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_7, i_off));
	E(BPF_MOV64_IMM(BPF_REG_0, 0));
	E(BPF_EXIT_INSN());
	BIND(l_stop);
	E(BPF_MOV64_IMM(BPF_REG_0, 1));
	E(BPF_EXIT_INSN());
}

/* R1 = index, R2 = loop state. */
int gen_hdropt_find(struct gen *g, int16_t kind_slot,
		    void (*visit)(struct gen *g, const void *arg, int l_stop), const void *arg)
{
	int l_stop = LABEL(), l_one = LABEL();

	E(BPF_MOV64_REG(BPF_REG_6, BPF_REG_2));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_9, BPF_REG_6, GEN_LOOP_CTX));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_7, BPF_REG_6, GEN_HO_I));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_8, BPF_REG_6, GEN_HO_OPTLEN));
	EJ(BPF_JMP_REG(BPF_JGE, BPF_REG_7, BPF_REG_8, 0), l_stop);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, GEN_HO_BASE));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_7));
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_2, 0, kind_slot, 1, l_stop);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, kind_slot));
	visit(g, arg, l_stop);
	/* if (op[i] < 2 || i == optlen - 1) i++; else i += op[i + 1] ? : 1; */
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, 2, 0), l_one);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, 1));
	EJ(BPF_JMP_REG(BPF_JEQ, BPF_REG_2, BPF_REG_8, 0), l_one);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, GEN_HO_BASE));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_1));
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_2, 0, -8, 1, l_stop);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, -8));
	gen_hdropt_next(g, BPF_REG_1, GEN_HO_I, l_one, l_stop);
	return g->p->e.err;
}
