/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A handcrafted program set for the ELF writer's tests (tests/unit/test_elf.c
 * and tests/tools/mkobj.c), shaped like what codegen/gen.c produces: one
 * entry function per program plus subprograms, map loads as BPF_LD_IMM64
 * with BPF_PSEUDO_MAP_FD and a reloc, bpf-to-bpf calls.
 *
 * Every program drops IPv4 ICMP and passes everything else, unless
 * ipt_cfg[0].iif is non-zero (then it passes everything); each program
 * counts what it judged in ipt_cnt[0].
 *
 *   entry:   parse the IP protocol; ipt_cfg lookup; call judge(proto)
 *   judge:   ipt_cnt[0].pcnt++; return verdict(proto)
 *   verdict: proto == IPPROTO_ICMP ? drop : pass
 */
#ifndef IPT2BPF_TESTS_SAMPLE_PROGSET_H
#define IPT2BPF_TESTS_SAMPLE_PROGSET_H

#include <stddef.h>
#include <string.h>
#include <endian.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/in.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

#include "codegen/progset.h"

#define SAMPLE_MAX_PROGS 6
#define SAMPLE_MAX_INSNS 64

enum { SAMPLE_MAP_CNT, SAMPLE_MAP_IFACES, SAMPLE_MAP_CFG, SAMPLE_N_MAPS };

struct sample {
	struct ipt2bpf_progset ps;
	struct ipt2bpf_prog progs[SAMPLE_MAX_PROGS];
	struct bpf_insn insns[SAMPLE_MAX_PROGS][SAMPLE_MAX_INSNS];
	struct ipt2bpf_func funcs[SAMPLE_MAX_PROGS][3];
	struct ipt2bpf_reloc relocs[SAMPLE_MAX_PROGS][4];
};

/* Emission helpers (uapi has the opcodes, not the kernel's insn macros). */
static inline struct bpf_insn sample_insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off,
					  int32_t imm)
{
	return (struct bpf_insn){
		.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

#define S_MOV_REG(d, s)	       sample_insn(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define S_MOV_IMM(d, i)	       sample_insn(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define S_ADD_IMM(d, i)	       sample_insn(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define S_ADD_REG(d, s)	       sample_insn(BPF_ALU64 | BPF_ADD | BPF_X, d, s, 0, 0)
#define S_LDX(sz, d, s, o)     sample_insn(BPF_LDX | BPF_MEM | (sz), d, s, o, 0)
#define S_STX(sz, d, s, o)     sample_insn(BPF_STX | BPF_MEM | (sz), d, s, o, 0)
#define S_ST(sz, d, o, i)      sample_insn(BPF_ST | BPF_MEM | (sz), d, 0, o, i)
#define S_JMP_IMM(op, d, i, o) sample_insn(BPF_JMP | (op) | BPF_K, d, 0, o, i)
#define S_JMP_REG(op, d, s, o) sample_insn(BPF_JMP | (op) | BPF_X, d, s, o, 0)
#define S_CALL(helper)	       sample_insn(BPF_JMP | BPF_CALL, 0, 0, 0, helper)
#define S_EXIT()	       sample_insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

struct sample_asm {
	struct ipt2bpf_prog *p;
	uint32_t n;
};

static inline void sample_emit(struct sample_asm *a, struct bpf_insn in)
{
	a->p->insns[a->n++] = in;
}

static inline void sample_ld_map(struct sample_asm *a, uint8_t dst, uint32_t map)
{
	a->p->relocs[a->p->n_relocs++] = (struct ipt2bpf_reloc){.insn = a->n, .map = map};
	sample_emit(a, sample_insn(BPF_LD | BPF_IMM | BPF_DW, dst, BPF_PSEUDO_MAP_FD, 0, map));
	sample_emit(a, sample_insn(0, 0, 0, 0, 0));
}

/* A bpf-to-bpf call; the target is patched once known (sample_patch_call). */
static inline uint32_t sample_call(struct sample_asm *a)
{
	sample_emit(a, sample_insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 0));
	return a->n - 1;
}

static inline void sample_patch_call(struct sample_asm *a, uint32_t at, uint32_t to)
{
	a->p->insns[at].imm = (int32_t)to - (int32_t)at - 1;
}

static inline void sample_func(struct sample_asm *a, unsigned int k, const char *name,
			       uint32_t start)
{
	struct ipt2bpf_func *f = &a->p->funcs[k];

	snprintf(f->name, sizeof(f->name), "%s", name);
	f->start = start;
	f->len = a->n - start;
	a->p->n_funcs = k + 1;
}

/* Fills progs[i] (its arrays live in s) with entry, judge and verdict. */
static inline void sample_prog(struct sample *s, unsigned int i, const char *name,
			       const char *section, enum bpf_prog_type type)
{
	struct ipt2bpf_prog *p = &s->progs[i];
	struct sample_asm a = {.p = p};
	bool xdp = type == BPF_PROG_TYPE_XDP;
	int pass = xdp ? XDP_PASS : TC_ACT_OK, drop = xdp ? XDP_DROP : TC_ACT_SHOT;
	int16_t data = xdp ? offsetof(struct xdp_md, data) : offsetof(struct __sk_buff, data);
	int16_t data_end =
		xdp ? offsetof(struct xdp_md, data_end) : offsetof(struct __sk_buff, data_end);
	uint32_t call_judge, call_verdict, judge, verdict;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->section = section;
	p->type = type;
	p->role = xdp			   ? IPT2BPF_P_XDP
		  : !strcmp(section, "tc") ? IPT2BPF_P_EGRESS
					   : IPT2BPF_P_INGRESS;
	p->insns = s->insns[i];
	p->funcs = s->funcs[i];
	p->relocs = s->relocs[i];

	/* entry: r7 = IPv4 protocol or 0 */
	sample_emit(&a, S_MOV_REG(BPF_REG_6, BPF_REG_1));
	sample_emit(&a, S_LDX(BPF_W, BPF_REG_2, BPF_REG_6, data));
	sample_emit(&a, S_LDX(BPF_W, BPF_REG_3, BPF_REG_6, data_end));
	sample_emit(&a, S_MOV_IMM(BPF_REG_7, 0));
	sample_emit(&a, S_MOV_REG(BPF_REG_4, BPF_REG_2));
	sample_emit(&a, S_ADD_IMM(BPF_REG_4, ETH_HLEN + 10));
	sample_emit(&a, S_JMP_REG(BPF_JGT, BPF_REG_4, BPF_REG_3, 3));
	sample_emit(&a, S_LDX(BPF_H, BPF_REG_5, BPF_REG_2, offsetof(struct ethhdr, h_proto)));
	sample_emit(&a, S_JMP_IMM(BPF_JNE, BPF_REG_5, htobe16(ETH_P_IP), 1));
	sample_emit(&a, S_LDX(BPF_B, BPF_REG_7, BPF_REG_2, ETH_HLEN + 9)); /* iphdr.protocol */
	/* ipt_cfg[0].iif != 0: pass everything */
	sample_emit(&a, S_MOV_IMM(BPF_REG_1, 0));
	sample_emit(&a, S_STX(BPF_W, BPF_REG_10, BPF_REG_1, -4));
	sample_emit(&a, S_MOV_REG(BPF_REG_2, BPF_REG_10));
	sample_emit(&a, S_ADD_IMM(BPF_REG_2, -4));
	sample_ld_map(&a, BPF_REG_1, SAMPLE_MAP_CFG);
	sample_emit(&a, S_CALL(BPF_FUNC_map_lookup_elem));
	sample_emit(&a, S_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 2));
	sample_emit(&a, S_LDX(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_cfg, iif)));
	sample_emit(&a, S_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 3));
	sample_emit(&a, S_MOV_REG(BPF_REG_1, BPF_REG_7));
	call_judge = sample_call(&a);
	sample_emit(&a, S_EXIT());
	sample_emit(&a, S_MOV_IMM(BPF_REG_0, pass));
	sample_emit(&a, S_EXIT());
	sample_func(&a, 0, name, 0);

	/* judge(proto): ipt_cnt[0].pcnt++, then verdict(proto) */
	judge = a.n;
	sample_emit(&a, S_MOV_REG(BPF_REG_6, BPF_REG_1));
	sample_emit(&a, S_MOV_IMM(BPF_REG_1, 0));
	sample_emit(&a, S_STX(BPF_W, BPF_REG_10, BPF_REG_1, -4));
	sample_emit(&a, S_MOV_REG(BPF_REG_2, BPF_REG_10));
	sample_emit(&a, S_ADD_IMM(BPF_REG_2, -4));
	sample_ld_map(&a, BPF_REG_1, SAMPLE_MAP_CNT);
	sample_emit(&a, S_CALL(BPF_FUNC_map_lookup_elem));
	sample_emit(&a, S_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 3));
	sample_emit(&a, S_LDX(BPF_DW, BPF_REG_1, BPF_REG_0, 0));
	sample_emit(&a, S_ADD_IMM(BPF_REG_1, 1));
	sample_emit(&a, S_STX(BPF_DW, BPF_REG_0, BPF_REG_1, 0));
	sample_emit(&a, S_MOV_REG(BPF_REG_1, BPF_REG_6));
	call_verdict = sample_call(&a);
	sample_emit(&a, S_EXIT());
	sample_func(&a, 1, "judge", judge);

	/* verdict(proto) */
	verdict = a.n;
	sample_emit(&a, S_MOV_IMM(BPF_REG_0, pass));
	sample_emit(&a, S_JMP_IMM(BPF_JNE, BPF_REG_1, IPPROTO_ICMP, 1));
	sample_emit(&a, S_MOV_IMM(BPF_REG_0, drop));
	sample_emit(&a, S_EXIT());
	sample_func(&a, 2, "verdict", verdict);

	sample_patch_call(&a, call_judge, judge);
	sample_patch_call(&a, call_verdict, verdict);
	p->n_insns = a.n;
}

static inline void sample_map(struct sample *s, unsigned int i, const char *name,
			      enum bpf_map_type type, uint32_t key, uint32_t value, uint32_t max,
			      uint32_t flags)
{
	struct ipt2bpf_map_spec *m = &s->ps.maps[i];

	snprintf(m->name, sizeof(m->name), "%s", name);
	m->type = type;
	m->key_size = key;
	m->value_size = value;
	m->max_entries = max;
	m->flags = flags;
}

/* Program i then fails the verifier: "r7 = 0" is gone, R7 is read unset. */
static inline void sample_break(struct sample *s, unsigned int i)
{
	s->insns[i][3] = S_MOV_IMM(BPF_REG_0, 0);
}

/*
 * The standard set: "ing" (classifier), "egr" (tc), "xdp_fw" (xdp) and
 * "ing_trace" (classifier again, after "ing"), three maps.
 */
static inline void sample_build(struct sample *s)
{
	memset(s, 0, sizeof(*s));
	sample_map(s, SAMPLE_MAP_CNT, "ipt_cnt", BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
		   sizeof(struct ipt2bpf_counter), 8, 0);
	sample_map(s, SAMPLE_MAP_IFACES, IPT2BPF_MAP_IFACES, BPF_MAP_TYPE_HASH,
		   sizeof(struct ipt2bpf_ifkey), sizeof(uint64_t), 64, BPF_F_NO_PREALLOC);
	sample_map(s, SAMPLE_MAP_CFG, IPT2BPF_MAP_CFG, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
		   sizeof(struct ipt2bpf_cfg), 1, 0);
	s->ps.n_maps = SAMPLE_N_MAPS;
	sample_prog(s, 0, "ing", "classifier", BPF_PROG_TYPE_SCHED_CLS);
	sample_prog(s, 1, "egr", "tc", BPF_PROG_TYPE_SCHED_CLS);
	sample_prog(s, 2, "xdp_fw", "xdp", BPF_PROG_TYPE_XDP);
	sample_prog(s, 3, "ing_trace", "classifier", BPF_PROG_TYPE_SCHED_CLS);
	s->progs[3].role = IPT2BPF_P_TRACE;
	s->ps.progs = s->progs;
	s->ps.n_progs = 4;
}

#endif
