// SPDX-License-Identifier: GPL-2.0
/*
 * -m cgroup (codegen/m_cgroup.c): the kernel's own payload checks and path
 * resolution as refusals, the INPUT and -o refusals, and that the OUTPUT
 * programs of every revision pass the verifier.  The match's semantics
 * against the kernel: tests/cgroup/run.sh.
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
#include <linux/netfilter/xt_cgroup.h>
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
#define OUT NF_INET_LOCAL_OUT

/* The kfunc the match needs (kernel 6.2 or later; 6.1 refuses the match). */
static bool have_rdonly_cast(void)
{
	struct btf *btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0 ? gen_btf_vmlinux() : NULL;
	bool have = btf && gen_btf_id(btf, "bpf_rdonly_cast", BTF_KIND_FUNC) > 0;

	btf__free(btf);
	return have;
}

/* A cgroup v2 mount to resolve --path in (mountinfo: "... - cgroup2 ..."). */
static bool have_cgroup2(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool have = false;

	while (f && !have && fgets(line, sizeof(line), f))
		have = strstr(line, " - cgroup2 ") != NULL;
	if (f)
		fclose(f);
	return have;
}

/* One rule in chain hook with the cgroup payload (revision rev): compile, the message in msg. */
static int one(unsigned int hook, unsigned char rev, const void *i, size_t len, bool object,
	       char *msg, size_t msglen)
{
	struct ipt2bpf_gen_opts o = {.mode = IPT2BPF_MODE_TC, .trace = true, .object = object};
	size_t rlen;
	struct ipt_replace *repl = rig_one_rule(hook, "cgroup", rev, i, len, NULL, NULL, 0, &rlen);

	return rig_compile(repl, rlen, &o, geteuid() == 0, msg, msglen);
}

static int v2(unsigned int hook, const struct xt_cgroup_info_v2 *i, bool object, char *msg,
	      size_t msglen)
{
	return one(hook, 2, i, sizeof(*i), object, msg, msglen);
}

static void payload_refusals(void **state)
{
	struct xt_cgroup_info_v2 i = {.has_path = 1, .has_classid = 1};
	struct xt_cgroup_info_v0 i0 = {.id = 1, .invert = 2};
	char msg[4096];

	(void)state;
	/* cgroup_mt_check_v*()'s -EINVAL / -ENAMETOOLONG cases, refused with the reason. */
	assert_int_equal(v2(OUT, &i, false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "both --path and --cgroup"));
	i = (struct xt_cgroup_info_v2){0};
	assert_int_equal(v2(OUT, &i, false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "neither --path nor --cgroup"));
	i = (struct xt_cgroup_info_v2){.has_classid = 1, .invert_classid = 2};
	assert_int_equal(v2(OUT, &i, false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "invert flags 0x0/0x2"));
	i = (struct xt_cgroup_info_v2){.has_path = 1};
	memset(i.path, 'x', sizeof(i.path));
	assert_int_equal(v2(OUT, &i, false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "ENAMETOOLONG"));
	assert_int_equal(one(OUT, 0, &i0, sizeof(i0), false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "invert flag 0x2"));
}

static void path_refusals(void **state)
{
	struct xt_cgroup_info_v2 i = {.has_path = 1};
	char msg[4096];

	(void)state;
	if (!have_cgroup2())
		skip();
	/* cgroup_get_from_path() fails: the kernel refuses the rule with EINVAL. */
	snprintf(i.path, sizeof(i.path), "/ipt2bpf-no-such-cgroup-%d", (int)getpid());
	assert_int_equal(v2(OUT, &i, false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "filter/OUTPUT#1: match 'cgroup' --path:"));
	assert_non_null(strstr(msg, "(EINVAL)"));
	/* ".." is a name to the kernel, not the parent: even "/.." is refused. */
	snprintf(i.path, sizeof(i.path), "/..");
	assert_int_equal(v2(OUT, &i, false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "takes \"..\" as a name"));
	snprintf(i.path, sizeof(i.path), "./");
	assert_int_equal(v2(OUT, &i, false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "takes \".\" as a name"));
	/* INPUT: the kernel allows it, we refuse it with the reason. */
	snprintf(i.path, sizeof(i.path), "/");
	assert_int_equal(v2(IN, &i, false, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "filter/INPUT#1: match 'cgroup' --path: only at OUTPUT"));
	assert_non_null(strstr(msg, "early demux"));
	/* ELF objects: refused with the rule named. */
	assert_int_equal(v2(OUT, &i, true, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "filter/OUTPUT#1: match 'cgroup' --path: not in ELF objects"));
	i = (struct xt_cgroup_info_v2){.has_classid = 1, .classid = 0x100001};
	assert_int_equal(v2(OUT, &i, true, msg, sizeof(msg)), -EOPNOTSUPP);
	assert_non_null(strstr(msg, "match 'cgroup' --cgroup: not in ELF objects"));
}

static void programs(void **state)
{
	struct xt_cgroup_info_v0 r0 = {.id = 0x100001};
	struct xt_cgroup_info_v1 *r1 = calloc(1, sizeof(*r1));
	struct xt_cgroup_info_v2 r2[] = {
		{.has_path = 1, .path = "/"},
		{.has_path = 1, .invert_path = 1, .path = "//"},
		{.has_classid = 1, .classid = 7},
		{.has_classid = 1, .invert_classid = 1, .classid = 0},
	};
	char msg[4096];
	int err;

	(void)state;
	assert_non_null(r1);
	if (!have_rdonly_cast()) {
		/* Refused with the reason instead. */
		if (access("/sys/kernel/btf/vmlinux", R_OK) == 0) {
			assert_int_equal(v2(OUT, &r2[2], false, msg, sizeof(msg)), -EOPNOTSUPP);
			assert_non_null(strstr(msg, "bpf_rdonly_cast"));
		}
		free(r1);
		skip();
	}
	for (size_t k = 0; k < sizeof(r2) / sizeof(r2[0]); k++) {
		if (r2[k].has_path && !have_cgroup2())
			continue;
		err = v2(OUT, &r2[k], false, msg, sizeof(msg));
		if (err)
			print_error("revision 2, rule %zu: %s\n", k, msg);
		assert_int_equal(err, 0);
	}
	r1->has_path = 1; /* "": the root */
	err = have_cgroup2() ? one(OUT, 1, r1, sizeof(*r1), false, msg, sizeof(msg)) : 0;
	if (err)
		print_error("revision 1: %s\n", msg);
	free(r1);
	assert_int_equal(err, 0);
	err = one(OUT, 0, &r0, sizeof(r0), false, msg, sizeof(msg));
	if (err)
		print_error("revision 0: %s\n", msg);
	assert_int_equal(err, 0);
}

RIG_MAIN(cmocka_unit_test(payload_refusals), cmocka_unit_test(path_refusals),
	 cmocka_unit_test(programs))
