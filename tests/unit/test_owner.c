// SPDX-License-Identifier: GPL-2.0
/*
 * -m owner (codegen/m_owner.c) and the vmlinux BTF lookups it uses
 * (codegen/btf_vmlinux.c): field offsets, the kernel's own payload checks
 * as refusals, -o refusals, and that the OUTPUT programs pass the verifier.
 * The match's semantics against the kernel: tests/owner/run.sh.
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
#include <bpf/btf.h>
#include <linux/netfilter/xt_owner.h>
#include <cmocka.h>
#include "codegen/btf_vmlinux.h"
#include "codegen/load.h"
#include "codegen/progset.h"
#include "translator/diag.h"
#include "translator/ir.h"
#include "translator/validate.h"
#include "blob.h"
#include "rig.h"

#define IN  NF_INET_LOCAL_IN
#define FWD NF_INET_FORWARD
#define OUT NF_INET_LOCAL_OUT

static bool have_btf(void)
{
	return access("/sys/kernel/btf/vmlinux", R_OK) == 0;
}

/* The kfunc the match needs (kernel 6.2 or later; 6.1 refuses the match). */
static bool have_rdonly_cast(void)
{
	struct btf *btf = have_btf() ? gen_btf_vmlinux() : NULL;
	bool have = btf && gen_btf_id(btf, "bpf_rdonly_cast", BTF_KIND_FUNC) > 0;

	btf__free(btf);
	return have;
}

static void btf_lookups(void **state)
{
	struct btf *btf;
	uint32_t off = 0, off2 = 0, size = 0;

	(void)state;
	if (!have_btf())
		skip();
	btf = gen_btf_vmlinux();
	assert_non_null(btf);
	/* struct group_info { refcount_t usage; int ngroups; kgid_t gid[]; } */
	assert_int_equal(gen_btf_offset(btf, "group_info", "ngroups", &off, &size), 0);
	assert_int_equal(off, 4);
	assert_int_equal(size, 4);
	assert_int_equal(gen_btf_offset(btf, "group_info", "gid", &off, NULL), 0);
	assert_int_equal(off, 8);
	/* Through struct sock's first member and an anonymous union. */
	assert_int_equal(gen_btf_offset(btf, "sock", "__sk_common.skc_state", &off, &size), 0);
	assert_int_equal(gen_btf_offset(btf, "sock_common", "skc_state", &off2, NULL), 0);
	assert_int_equal(off, off2);
	assert_int_equal(size, 1);
	assert_int_equal(gen_btf_offset(btf, "sock", "__sk_common.skc_net.net", &off, &size), 0);
	assert_int_equal(size, 8);
	assert_int_equal(gen_btf_offset(btf, "sock", "no_such_field", &off, NULL), -ENOENT);
	assert_int_equal(gen_btf_offset(btf, "no_such_struct", "x", &off, NULL), -ENOENT);
	/* request_sock.syncookie is a one-bit field. */
	assert_int_equal(gen_btf_offset(btf, "request_sock", "syncookie", &off, NULL), -ENOENT);
	assert_true(gen_btf_id(btf, "sk_buff", BTF_KIND_STRUCT) > 0);
	assert_int_equal(gen_btf_id(btf, "no_such_struct", BTF_KIND_STRUCT), -ENOENT);
	btf__free(btf);
}

/* One rule in chain hook with the owner payload i: compile, the message in msg. */
static int one(unsigned int hook, const struct xt_owner_match_info *i, bool object, char *msg,
	       size_t msglen)
{
	struct ipt2bpf_gen_opts o = {.mode = IPT2BPF_MODE_TC, .trace = true, .object = object};
	size_t rlen;
	struct ipt_replace *repl =
		rig_one_rule(hook, "owner", 1, i, sizeof(*i), NULL, NULL, 0, &rlen);

	/* The verifier must take every program (owner: the egress and trace ones). */
	return rig_compile(repl, rlen, &o, geteuid() == 0, msg, msglen);
}

static void refusals(void **state)
{
	struct xt_owner_match_info i = {.uid_min = 5, .uid_max = 3, .match = XT_OWNER_UID};
	char msg[4096];

	(void)state;
	/* owner_check()'s -EINVAL cases are refused with the reason. */
	assert_int_equal(one(OUT, &i, false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "--uid-owner 5-3 is invalid"));
	i = (struct xt_owner_match_info){
		.gid_min = 0, .gid_max = UINT32_MAX, .match = XT_OWNER_GID};
	assert_int_equal(one(OUT, &i, false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "--gid-owner 0-4294967295 is invalid"));
	i = (struct xt_owner_match_info){.match = 0x10};
	assert_int_equal(one(OUT, &i, false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "unknown flags 0x10"));
	/* INPUT: the kernel's hook mask (ext.c) rejects it. */
	i = (struct xt_owner_match_info){.match = XT_OWNER_SOCKET};
	assert_int_equal(one(IN, &i, false, msg, sizeof(msg)), -EINVAL);
	/* ELF objects: refused with the rule named. */
	assert_int_equal(one(OUT, &i, true, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "filter/OUTPUT#1: match 'owner': not in ELF objects"));
}

static void programs(void **state)
{
	const struct xt_owner_match_info rules[] = {
		{.match = XT_OWNER_SOCKET},
		{.match = XT_OWNER_SOCKET, .invert = XT_OWNER_SOCKET},
		{.uid_min = 0, .uid_max = 1000, .match = XT_OWNER_UID, .invert = XT_OWNER_UID},
		{.gid_min = 10, .gid_max = 20, .match = XT_OWNER_GID | XT_OWNER_SUPPL_GROUPS},
		{.uid_min = 7,
		 .uid_max = 7,
		 .gid_min = 10,
		 .gid_max = 20,
		 .match = XT_OWNER_UID | XT_OWNER_GID | XT_OWNER_SUPPL_GROUPS | XT_OWNER_SOCKET,
		 .invert = XT_OWNER_GID},
	};
	char msg[4096];

	(void)state;
	if (!have_rdonly_cast()) {
		/* Refused with the reason instead. */
		if (have_btf()) {
			assert_int_equal(one(OUT, &rules[0], false, msg, sizeof(msg)), -EOPNOTSUPP);
			assert_non_null(strstr(msg, "bpf_rdonly_cast"));
		}
		skip();
	}
	for (size_t k = 0; k < sizeof(rules) / sizeof(rules[0]); k++) {
		int err = one(OUT, &rules[k], false, msg, sizeof(msg));

		if (err)
			print_error("rule %zu: %s\n", k, msg);
		assert_int_equal(err, 0);
	}
}

RIG_MAIN(cmocka_unit_test(btf_lookups), cmocka_unit_test(refusals), cmocka_unit_test(programs))
