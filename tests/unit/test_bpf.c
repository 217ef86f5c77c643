// SPDX-License-Identifier: GPL-2.0
/*
 * -m bpf (codegen/m_cbpf.c): which classic programs are refused and why.
 * The validity verdicts were taken from the kernel (iptables-legacy-restore
 * of each program in a namespace, kernel 6.18): the translator must refuse
 * exactly what bpf_check_classic() refuses.  Hook and mode refusals (the
 * link-layer range and ifindex at OUTPUT, mark and pkttype in XDP) and the
 * programs the verifier must take (as root) follow.
 * What the programs compute is compared with the kernel by tests/diff/ext.sh
 * (families bpf, bpf-skb).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netfilter/xt_bpf.h>
#include <cmocka.h>

#include "codegen/progset.h"
#include "translator/ir.h"
#include "translator/mod.h"
#include "rig.h"

#define IN  NF_INET_LOCAL_IN
#define FWD NF_INET_FORWARD
#define OUT NF_INET_LOCAL_OUT

/* iptables' --bytecode text "N,c t f k,..." into a revision 1 payload. */
static void parse(const char *text, struct xt_bpf_info_v1 *i)
{
	const char *p = text;
	char *end;

	memset(i, 0, sizeof(*i));
	i->mode = XT_BPF_MODE_BYTECODE;
	i->bpf_program_num_elem = (uint16_t)strtoul(p, &end, 10);
	for (unsigned int n = 0; *end == ',' && n < XT_BPF_MAX_NUM_INSTR; n++) {
		struct sock_filter *f = &i->bpf_program[n];

		f->code = (uint16_t)strtoul(end + 1, &end, 10);
		f->jt = (uint8_t)strtoul(end, &end, 10);
		f->jf = (uint8_t)strtoul(end, &end, 10);
		f->k = (uint32_t)strtoul(end, &end, 10);
	}
}

static const struct ipt2bpf_mod *mod(void)
{
	const struct ipt2bpf_mod *m = ipt2bpf_mod_find("bpf", 1, false);

	assert_non_null(m);
	assert_non_null(m->check);
	return m;
}

static void kernel_validity(void **state)
{
	/* name, program, the kernel's verdict (1: loads), our refusal reason if any. */
	static const struct {
		const char *prog;
		bool kernel_ok;
		const char *why;
	} t[] = {
		{"4,48 0 0 9,21 0 1 6,6 0 0 1,6 0 0 0", true, NULL},
		{"2,49 0 0 1,6 0 0 1", false, "unknown instruction"}, /* ldx b abs */
		{"3,0 0 0 5,52 0 0 0,22 0 0 0", false, "division by constant 0"},
		{"3,0 0 0 5,148 0 0 0,22 0 0 0", false, "division by constant 0"}, /* mod */
		{"3,0 0 0 5,52 0 0 1,22 0 0 0", true, NULL},
		{"2,100 0 0 32,22 0 0 0", false, "shift by 32"},
		{"2,100 0 0 31,22 0 0 0", true, NULL},
		{"2,116 0 0 32,22 0 0 0", false, "shift by 32"},
		{"3,0 0 0 1,2 0 0 16,6 0 0 1", false, "scratch memory index"},
		{"4,0 0 0 1,2 0 0 15,96 0 0 15,22 0 0 0", true, NULL},
		{"2,96 0 0 0,22 0 0 0", false, "read before written"},
		{"5,48 0 0 9,21 0 1 6,2 0 0 0,96 0 0 0,22 0 0 0", false, "read before written"},
		{"6,2 0 0 0,48 0 0 9,21 0 1 6,6 0 0 1,96 0 0 0,22 0 0 0", true, NULL},
		{"3,48 0 0 9,21 1 0 6,6 0 0 0", false, "jump out of range"},
		{"3,48 0 0 9,21 0 1 6,6 0 0 0", false, "jump out of range"},
		{"2,5 0 0 1,6 0 0 0", false, "jump out of range"},
		{"3,5 0 0 1,6 0 0 0,6 0 0 1", true, NULL},
		{"2,6 0 0 0,0 0 0 1", false, "not a return"},
		{"2,32 0 0 4294963264,22 0 0 0", false, "unknown ancillary"}, /* SKF_AD_MAX */
		{"2,32 0 0 4294963202,22 0 0 0", false, "unknown ancillary"}, /* AD_OFF + 2 */
		{"2,40 0 0 4294963200,22 0 0 0", true, NULL},		      /* protocol */
		{"2,32 0 0 4294963232,22 0 0 0", true, "'rxhash'"},	      /* ours only */
		{"2,32 0 0 4294963256,22 0 0 0", true, "'random'"},
		{"2,32 0 0 4294963236,22 0 0 0", true, "'cpu'"},
		{"2,32 0 0 4294963224,22 0 0 0", true, "'queue'"},
		{"2,32 0 0 4294963212,22 0 0 0", true, "'nlattr'"},
		{"2,80 0 0 4294963200,22 0 0 0", true, NULL}, /* ind: not ancillary */
		{"2,177 0 0 4294963200,6 0 0 1", true, NULL}, /* msh: not ancillary */
		{"2,129 0 0 0,6 0 0 1", true, NULL},
		{"2,33 0 0 0,6 0 0 1", false, "unknown instruction"},
		{"2,255 0 0 0,6 0 0 1", false, "unknown instruction"},
		{"2,140 0 0 0,6 0 0 1", false, "unknown instruction"},
		{"3,13 0 0 0,6 0 0 1,6 0 0 0", false, "unknown instruction"},
		{"1,30 0 0 0", false, "unknown instruction"},
		{"1,22 0 0 0", true, NULL},
		{"0", false, "length"},
	};
	const struct ipt2bpf_mod *m = mod();
	struct xt_bpf_info_v1 i;
	char why[512];

	(void)state;
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		int err;

		parse(t[k].prog, &i);
		why[0] = 0;
		err = m->check(NULL, NULL, &i, sizeof(i), 1, why, sizeof(why));
		if (!t[k].why) {
			if (err)
				fail_msg("%s: refused: %s", t[k].prog, why);
			continue;
		}
		if (err != -EOPNOTSUPP || !strstr(why, t[k].why))
			fail_msg("%s: expected '%s', got %d '%s'", t[k].prog, t[k].why, err, why);
		/* What the kernel refuses says so; what it takes is "not supported". */
		assert_true(!!strstr(why, "EINVAL") == !t[k].kernel_ok);
	}
}

static void modes(void **state)
{
	const struct ipt2bpf_mod *m = mod();
	struct xt_bpf_info_v1 i;
	struct xt_bpf_info r0 = {.bpf_program_num_elem = 1,
				 .bpf_program = {{.code = BPF_RET | BPF_K, .k = 1}}};
	char why[512];

	(void)state;
	parse("1,6 0 0 1", &i);
	i.mode = XT_BPF_MODE_FD_PINNED;
	assert_int_equal(m->check(NULL, NULL, &i, sizeof(i), 1, why, sizeof(why)), -EOPNOTSUPP);
	assert_non_null(strstr(why, "--object-pinned"));
	i.mode = XT_BPF_MODE_FD_ELF;
	assert_int_equal(m->check(NULL, NULL, &i, sizeof(i), 1, why, sizeof(why)), -EOPNOTSUPP);
	assert_non_null(strstr(why, "eBPF socket filter"));
	i.mode = 3;
	assert_int_equal(m->check(NULL, NULL, &i, sizeof(i), 1, why, sizeof(why)), -EOPNOTSUPP);
	assert_non_null(strstr(why, "EINVAL"));
	/* Revision 0: the same program without a mode. */
	assert_int_equal(m->check(NULL, NULL, &r0, sizeof(r0), 0, why, sizeof(why)), 0);
	r0.bpf_program_num_elem = XT_BPF_MAX_NUM_INSTR + 1;
	assert_int_equal(m->check(NULL, NULL, &r0, sizeof(r0), 0, why, sizeof(why)), -EOPNOTSUPP);
}

/* One rule at hook with the program text: compile, and as root load (the verifier). */
static int one(unsigned int hook, const char *prog, enum ipt2bpf_mode mode, char *msg,
	       size_t msglen)
{
	struct ipt2bpf_gen_opts o = {.mode = mode, .trace = true};
	struct xt_bpf_info_v1 i;
	struct ipt_replace *repl;
	size_t rlen;

	parse(prog, &i);
	repl = rig_one_rule(hook, "bpf", 1, &i, sizeof(i), NULL, NULL, 0, &rlen);
	msg[0] = 0;
	return rig_compile(repl, rlen, &o, geteuid() == 0, msg, msglen);
}

static void hooks(void **state)
{
	static const char *const ll_abs = "4,48 0 0 4292870167,21 0 1 6,6 0 0 1,6 0 0 0";
	static const char *const ll_ind = "3,1 0 0 4292870144,80 0 0 23,22 0 0 0";
	static const char *const net_ind = "3,1 0 0 4293918720,80 0 0 9,22 0 0 0";
	static const char *const len_ind = "3,129 0 0 0,80 0 0 4294967295,22 0 0 0";
	static const char *const msh = "5,177 0 0 0,72 0 0 2,21 0 1 80,6 0 0 1,6 0 0 0";
	static const char *const ifindex = "2,32 0 0 4294963208,22 0 0 0";
	static const char *const mark = "2,32 0 0 4294963220,22 0 0 0";
	static const char *const pkttype = "2,48 0 0 4294963204,22 0 0 0";
	static const char *const all_ops =
		"31,0 0 0 7,1 0 0 3,4 0 0 1,12 0 0 0,20 0 0 1,28 0 0 0,36 0 0 3,44 0 0 0,"
		"52 0 0 2,60 0 0 0,68 0 0 16,76 0 0 0,84 0 0 255,92 0 0 0,100 0 0 1,108 0 0 0,"
		"116 0 0 1,124 0 0 0,132 0 0 0,148 0 0 7,156 0 0 0,164 0 0 5,172 0 0 0,2 0 0 3,"
		"97 0 0 3,135 0 0 0,7 0 0 0,128 0 0 0,53 1 0 20,22 0 0 0,6 0 0 0";
	char msg[4096];

	(void)state;
	assert_int_equal(one(IN, ll_abs, IPT2BPF_MODE_TC, msg, sizeof(msg)), 0);
	assert_int_equal(one(FWD, ll_ind, IPT2BPF_MODE_XDP, msg, sizeof(msg)), 0);
	assert_int_equal(one(OUT, ll_abs, IPT2BPF_MODE_TC, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "OUTPUT#1: match 'bpf': instruction 0 reads the link-layer"));
	assert_int_equal(one(OUT, ll_ind, IPT2BPF_MODE_TC, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "instruction 1 is an indirect load"));
	/* X = SKF_NET_OFF, or skb->len with k = -1, cannot reach the link-layer range. */
	assert_int_equal(one(OUT, net_ind, IPT2BPF_MODE_TC, msg, sizeof(msg)), 0);
	assert_int_equal(one(OUT, len_ind, IPT2BPF_MODE_TC, msg, sizeof(msg)), 0);
	assert_int_equal(one(OUT, msh, IPT2BPF_MODE_TC, msg, sizeof(msg)), 0);
	assert_int_equal(one(IN, ifindex, IPT2BPF_MODE_XDP, msg, sizeof(msg)), 0);
	assert_int_equal(one(OUT, ifindex, IPT2BPF_MODE_TC, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "ifindex"));
	assert_int_equal(one(IN, mark, IPT2BPF_MODE_TC, msg, sizeof(msg)), 0);
	assert_int_equal(one(IN, mark, IPT2BPF_MODE_XDP, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "'bpf': instruction 0 loads skb->mark, which XDP"));
	assert_int_equal(one(OUT, mark, IPT2BPF_MODE_XDP, msg, sizeof(msg)), 0);
	assert_int_equal(one(FWD, pkttype, IPT2BPF_MODE_TC, msg, sizeof(msg)), 0);
	assert_int_equal(one(FWD, pkttype, IPT2BPF_MODE_XDP, msg, sizeof(msg)), -EOPNOTSUPP);
	{
		/* Revision 0 compiles the same way. */
		struct xt_bpf_info_v1 v1;
		struct xt_bpf_info r0 = {0};
		struct ipt2bpf_gen_opts o = {.mode = IPT2BPF_MODE_TC, .trace = true};
		struct ipt_replace *repl;
		size_t rlen;

		parse(all_ops, &v1);
		r0.bpf_program_num_elem = v1.bpf_program_num_elem;
		memcpy(r0.bpf_program, v1.bpf_program, sizeof(r0.bpf_program));
		repl = rig_one_rule(FWD, "bpf", 0, &r0, sizeof(r0), NULL, NULL, 0, &rlen);
		assert_int_equal(rig_compile(repl, rlen, &o, geteuid() == 0, msg, sizeof(msg)), 0);
	}
	for (unsigned int h = IN; h <= OUT; h++) {
		assert_int_equal(one(h, all_ops, IPT2BPF_MODE_TC, msg, sizeof(msg)), 0);
		assert_int_equal(one(h, all_ops, IPT2BPF_MODE_XDP, msg, sizeof(msg)), 0);
	}
}

RIG_MAIN(cmocka_unit_test(kernel_validity), cmocka_unit_test(modes), cmocka_unit_test(hooks))
