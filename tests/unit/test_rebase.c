// SPDX-License-Identifier: GPL-2.0
/*
 * gen_rebase_main_pkt(): the main function's gen_pkt accesses go through R10,
 * never R6, because verifiers before 6.8 lose the precision of stack slots
 * reached through any other register (Debian 12's 6.1 then removed the IP
 * option walk as dead code).  The synthetic cases check the rewrite itself;
 * the generated ones that every program the code generator makes has it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include <linux/bpf.h>

#include "codegen/gen_internal.h"
#include "codegen/progset.h"
#include "rig.h"

static struct bpf_insn ins(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	return (struct bpf_insn){
		.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

static void test_rewrites_loads_and_stores(void **state)
{
	struct bpf_insn p[] = {
		ins(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_9, BPF_REG_1, 0, 0),
		ins(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_10, 0, 0),
		ins(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_6, 0, 0, FP_PKT),
		ins(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_8, BPF_REG_6, 24, 0),
		ins(BPF_STX | BPF_MEM | BPF_B, BPF_REG_6, BPF_REG_1, 49, 0),
		ins(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_6, 0, 8, 7),
		/* a pointer copy and a non-gen_pkt access stay as they are */
		ins(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0),
		ins(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_9, 76, 0),
		/* the second half of a BPF_LD_IMM64 is no instruction, even when it looks like one
		 */
		ins(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_3, 0, 0, 1),
		ins(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_6, BPF_REG_6, 0, 0),
	};
	(void)state;

	assert_int_equal(gen_rebase_main_pkt(p, sizeof(p) / sizeof(p[0]), 3), 3);
	assert_int_equal(p[3].src_reg, BPF_REG_10);
	assert_int_equal(p[3].off, FP_PKT + 24);
	assert_int_equal(p[4].dst_reg, BPF_REG_10);
	assert_int_equal(p[4].off, FP_PKT + 49);
	assert_int_equal(p[5].dst_reg, BPF_REG_10);
	assert_int_equal(p[5].off, FP_PKT + 8);
	assert_int_equal(p[6].src_reg, BPF_REG_6);
	assert_int_equal(p[7].src_reg, BPF_REG_9);
	assert_int_equal(p[9].src_reg, BPF_REG_6);
}

static void test_refuses_when_r6_changes(void **state)
{
	const struct bpf_insn writes[] = {
		ins(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_6, 0, 0, 8),
		ins(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_6, 0, 0, 0),
		ins(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_6, BPF_REG_7, 0, 0),
		ins(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_10, BPF_REG_6, -8, BPF_ADD | BPF_FETCH),
	};
	(void)state;

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		struct bpf_insn p[] = {
			ins(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_8, BPF_REG_6, 24, 0),
			writes[i],
			ins(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_8, BPF_REG_6, 24, 0),
		};

		assert_int_equal(gen_rebase_main_pkt(p, 3, 0), -1);
		/* nothing is rewritten when it refuses */
		assert_int_equal(p[0].src_reg, BPF_REG_6);
	}
}

/* Every program's main function reaches gen_pkt through R10 only, and does. */
static void check_progset(const struct ipt2bpf_progset *ps)
{
	assert_true(ps->n_progs > 0);
	for (unsigned int i = 0; i < ps->n_progs; i++) {
		const struct ipt2bpf_prog *p = &ps->progs[i];
		const struct bpf_insn *in = p->insns + p->funcs[0].start;
		unsigned int via_r10 = 0;

		for (uint32_t k = 0; k < p->funcs[0].len; k++) {
			uint8_t cls = BPF_CLASS(in[k].code);
			bool mem = BPF_MODE(in[k].code) == BPF_MEM;

			if (in[k].code == (BPF_LD | BPF_DW | BPF_IMM)) {
				k++;
				continue;
			}
			if (cls == BPF_LDX && mem && in[k].src_reg == BPF_REG_6)
				fail_msg("%s: insn %u loads through R6", p->name, k);
			if ((cls == BPF_STX || cls == BPF_ST) && in[k].dst_reg == BPF_REG_6)
				fail_msg("%s: insn %u stores through R6", p->name, k);
			if (((cls == BPF_LDX && in[k].src_reg == BPF_REG_10) ||
			     ((cls == BPF_STX || cls == BPF_ST) && in[k].dst_reg == BPF_REG_10)) &&
			    in[k].off >= FP_PKT && in[k].off < FP_PKT + (int)sizeof(struct gen_pkt))
				via_r10++;
		}
		/* the packet parser alone stores a dozen fields */
		assert_true(via_r10 >= 12);
	}
}

static void test_generated_programs(void **state)
{
	struct tb *b = tb_new("filter", 16);
	const struct ipt2bpf_table *t[1];
	enum ipt2bpf_mode modes[] = {IPT2BPF_MODE_TC, IPT2BPF_MODE_XDP};
	struct ipt2bpf_entry *e;
	(void)state;

	tb_chain(b, "INPUT");
	e = tb_rule(b, IPT2BPF_T_ACCEPT);
	r_proto(e, IPPROTO_TCP, false);
	m_tcp(b, e);
	tb_end(b, NF_DROP);
	tb_chain(b, "FORWARD");
	e = tb_rule(b, IPT2BPF_T_DROP);
	r_src(e, "10.0.0.0", 8, false);
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	tb_end(b, NF_ACCEPT);
	t[0] = tb_done(b);
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		for (int trace = 0; trace < 2; trace++) {
			struct ipt2bpf_gen_opts o = {.mode = modes[m], .trace = trace};
			struct ipt2bpf_progset *ps = NULL;
			struct ipt2bpf_diag d = {0};

			if (ipt2bpf_gen(t, 1, &o, &ps, &d))
				fail_msg("gen: %s", d.msg);
			check_progset(ps);
			ipt2bpf_progset_free(ps);
		}
	}
	tb_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rewrites_loads_and_stores),
		cmocka_unit_test(test_refuses_when_r6_changes),
		cmocka_unit_test(test_generated_programs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
