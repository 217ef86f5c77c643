/* SPDX-License-Identifier: GPL-2.0 */
/*
 * eBPF instruction constructors, spelled like the kernel's include/linux/filter.h
 * (which is not a uapi header: libbpf does not install it).  Each macro is a
 * compound literal of struct bpf_insn, so code reads like assembly:
 *
 *	EMIT(e, BPF_MOV64_IMM(BPF_REG_0, 1));
 */
#ifndef IPT2BPF_INSN_H
#define IPT2BPF_INSN_H

#include <linux/bpf.h>

#define BPF_RAW_INSN(CODE, DST, SRC, OFF, IMM)                                                     \
	((struct bpf_insn){                                                                        \
		.code = (CODE),                                                                    \
		.dst_reg = (DST),                                                                  \
		.src_reg = (SRC),                                                                  \
		.off = (OFF),                                                                      \
		.imm = (IMM),                                                                      \
	})

/* ALU: dst op= src / imm, 64 bit and 32 bit (the latter zero-extends). */
#define BPF_ALU64_REG(OP, DST, SRC) BPF_RAW_INSN(BPF_ALU64 | BPF_OP(OP) | BPF_X, DST, SRC, 0, 0)
#define BPF_ALU32_REG(OP, DST, SRC) BPF_RAW_INSN(BPF_ALU | BPF_OP(OP) | BPF_X, DST, SRC, 0, 0)
#define BPF_ALU64_IMM(OP, DST, IMM) BPF_RAW_INSN(BPF_ALU64 | BPF_OP(OP) | BPF_K, DST, 0, 0, IMM)
#define BPF_ALU32_IMM(OP, DST, IMM) BPF_RAW_INSN(BPF_ALU | BPF_OP(OP) | BPF_K, DST, 0, 0, IMM)

#define BPF_MOV64_REG(DST, SRC) BPF_RAW_INSN(BPF_ALU64 | BPF_MOV | BPF_X, DST, SRC, 0, 0)
#define BPF_MOV32_REG(DST, SRC) BPF_RAW_INSN(BPF_ALU | BPF_MOV | BPF_X, DST, SRC, 0, 0)
#define BPF_MOV64_IMM(DST, IMM) BPF_RAW_INSN(BPF_ALU64 | BPF_MOV | BPF_K, DST, 0, 0, IMM)
#define BPF_MOV32_IMM(DST, IMM) BPF_RAW_INSN(BPF_ALU | BPF_MOV | BPF_K, DST, 0, 0, IMM)

/* Byte swap: BPF_ENDIAN(BPF_TO_BE, reg, 16) turns a network-order halfword into host order. */
#define BPF_ENDIAN(TYPE, DST, LEN) BPF_RAW_INSN(BPF_ALU | BPF_END | BPF_SRC(TYPE), DST, 0, 0, LEN)

/* Memory: *(size *)(src + off) and *(size *)(dst + off) = src / imm. */
#define BPF_LDX_MEM(SIZE, DST, SRC, OFF)                                                           \
	BPF_RAW_INSN(BPF_LDX | BPF_SIZE(SIZE) | BPF_MEM, DST, SRC, OFF, 0)
#define BPF_STX_MEM(SIZE, DST, SRC, OFF)                                                           \
	BPF_RAW_INSN(BPF_STX | BPF_SIZE(SIZE) | BPF_MEM, DST, SRC, OFF, 0)
#define BPF_ST_MEM(SIZE, DST, OFF, IMM)                                                            \
	BPF_RAW_INSN(BPF_ST | BPF_SIZE(SIZE) | BPF_MEM, DST, 0, OFF, IMM)
/* lock *(size *)(dst + off) OP= src */
#define BPF_ATOMIC_OP(SIZE, OP, DST, SRC, OFF)                                                     \
	BPF_RAW_INSN(BPF_STX | BPF_SIZE(SIZE) | BPF_ATOMIC, DST, SRC, OFF, OP)

/* 64-bit immediate load: two instructions. */
#define BPF_LD_IMM64_RAW_1(DST, SRC, IMM)                                                          \
	BPF_RAW_INSN(BPF_LD | BPF_DW | BPF_IMM, DST, SRC, 0, (__u32)(IMM))
#define BPF_LD_IMM64_RAW_2(IMM) BPF_RAW_INSN(0, 0, 0, 0, (__u32)((__u64)(IMM) >> 32))
/* As two comma-separated initializers, for instruction arrays written by hand. */
#define BPF_LD_IMM64_RAW(DST, SRC, IMM) BPF_LD_IMM64_RAW_1(DST, SRC, IMM), BPF_LD_IMM64_RAW_2(IMM)
/* Map reference; imm is a map fd (loader) or a map index (progset, see progset.h). */
#define BPF_LD_MAP_FD(DST, FD) BPF_LD_IMM64_RAW(DST, BPF_PSEUDO_MAP_FD, FD)

/* Jumps: off is relative to the next instruction. */
#define BPF_JMP_REG(OP, DST, SRC, OFF) BPF_RAW_INSN(BPF_JMP | BPF_OP(OP) | BPF_X, DST, SRC, OFF, 0)
#define BPF_JMP_IMM(OP, DST, IMM, OFF) BPF_RAW_INSN(BPF_JMP | BPF_OP(OP) | BPF_K, DST, 0, OFF, IMM)
#define BPF_JMP32_REG(OP, DST, SRC, OFF)                                                           \
	BPF_RAW_INSN(BPF_JMP32 | BPF_OP(OP) | BPF_X, DST, SRC, OFF, 0)
#define BPF_JMP32_IMM(OP, DST, IMM, OFF)                                                           \
	BPF_RAW_INSN(BPF_JMP32 | BPF_OP(OP) | BPF_K, DST, 0, OFF, IMM)
#define BPF_JMP_A(OFF) BPF_RAW_INSN(BPF_JMP | BPF_JA, 0, 0, OFF, 0)

/* Helper call by id, bpf-to-bpf call by relative offset (imm: target - (pc + 1)). */
#define BPF_CALL_HELPER(ID) BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, ID)
#define BPF_CALL_REL(IMM)   BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, IMM)
#define BPF_EXIT_INSN()	    BPF_RAW_INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

#endif
