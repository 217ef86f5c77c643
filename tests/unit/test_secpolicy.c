// SPDX-License-Identifier: GPL-2.0
/*
 * codegen/secpolicy.c: SELinux context syntax (what SECMARK --selctx
 * takes), the label table, the policy parser's statements and its errors
 * (with line numbers), the --label-sink parser and mark arithmetic.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <linux/netfilter/xt_CONNSECMARK.h>
#include <linux/netfilter/xt_SECMARK.h>

#include "codegen/load.h"
#include "codegen/progset.h"
#include "codegen/secpolicy.h"
#include "translator/ir.h"
#include "translator/validate.h"
#include "blob.h"

static int ctx_check(const char *ctx, char *why)
{
	return ipt2bpf_secctx_check(ctx, strlen(ctx) + 1, why, 256);
}

static void test_contexts(void **state)
{
	static const char *const good[] = {
		"system_u:object_r:http_server_packet_t:s0",
		"system_u:object_r:http_client_packet_t",
		"u:r:t:s0-s15:c0.c1023",
		"user_u:role.x:type-1:s0:c1,c2",
	};
	static const struct {
		const char *ctx, *why;
	} bad[] = {
		{"", "empty security context"},
		{"system_u", "user:role:type[:level]"},
		{"system_u:object_r", "user:role:type[:level]"},
		{"system_u:object_r:", "the type field '' is not"},
		{":object_r:t", "the user field"},
		{"system_u:object r:t", "the role field 'object r'"},
		{"system_u:object_r:9t", "the type field '9t'"},
		{"system_u:object_r:t:", "empty level"},
		{"system_u:object_r:t:s0 c1", "character ' ' in the level"},
	};
	char why[256], big[400], type[IPT2BPF_SEC_NAME_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why[0] = '\0';
		if (ctx_check(good[i], why))
			fail_msg("%s refused: %s", good[i], why);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(ctx_check(bad[i].ctx, why), -EINVAL);
		if (!strstr(why, bad[i].why))
			fail_msg("'%s': expected '%s' in '%s'", bad[i].ctx, bad[i].why, why);
	}
	/* 255 characters is the kernel's limit (SECMARK_SECCTX_MAX - 1). */
	memset(big, 0, sizeof(big));
	strcpy(big, "u:r:t:s");
	memset(big + 7, '0', 255 - 7);
	assert_int_equal(ctx_check(big, why), 0);
	big[255] = '0';
	assert_int_equal(ctx_check(big, why), -EINVAL);
	assert_non_null(strstr(why, "longer than 255"));
	/* Not NUL-terminated inside the payload (a raw blob). */
	memset(big, 'a', 256);
	memcpy(big, "u:r:t:", 6);
	assert_int_equal(ipt2bpf_secctx_check(big, 256, why, sizeof(why)), -EINVAL);

	ipt2bpf_secctx_type("system_u:object_r:http_server_packet_t:s0", type);
	assert_string_equal(type, "http_server_packet_t");
	ipt2bpf_secctx_type("a:b:c", type);
	assert_string_equal(type, "c");
}

static void test_labels(void **state)
{
	struct ipt2bpf_labels l = {0};
	char type[IPT2BPF_SEC_NAME_MAX], ctx[64];
	uint32_t id;

	(void)state;
	assert_int_equal(ipt2bpf_labels_intern(&l, "a:b:x_t:s0", &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(ipt2bpf_labels_intern(&l, "a:b:y_t", &id), 0);
	assert_int_equal(id, 2);
	assert_int_equal(ipt2bpf_labels_intern(&l, "a:b:x_t:s0", &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(ipt2bpf_labels_find(&l, "a:b:y_t"), 2);
	assert_int_equal(ipt2bpf_labels_find(&l, "a:b:z_t"), 0);
	assert_null(ipt2bpf_labels_ctx(&l, 0));
	assert_null(ipt2bpf_labels_ctx(&l, 3));
	assert_string_equal(ipt2bpf_labels_ctx(&l, 2), "a:b:y_t");
	ipt2bpf_labels_type(&l, 0, type);
	assert_string_equal(type, "unlabeled_t");
	ipt2bpf_labels_type(&l, 1, type);
	assert_string_equal(type, "x_t");
	for (unsigned int i = 3; i <= IPT2BPF_LABELS_MAX; i++) {
		snprintf(ctx, sizeof(ctx), "u:r:t%u", i);
		assert_int_equal(ipt2bpf_labels_intern(&l, ctx, &id), 0);
		assert_int_equal(id, i);
	}
	assert_int_equal(ipt2bpf_labels_intern(&l, "u:r:one_too_many", &id), -ENOSPC);
	ipt2bpf_labels_release(&l);
}

static struct ipt2bpf_policy *parse(const char *text, struct ipt2bpf_diag *d)
{
	struct ipt2bpf_policy *p = NULL;

	memset(d, 0, sizeof(*d));
	ipt2bpf_policy_parse(text, strlen(text), "pol", &p, d);
	return p;
}

static void test_policy(void **state)
{
	static const char text[] =
		"# the kiosk\n"
		"domain mozilla_t  /sys/fs/cgroup/kiosk/browser\n"
		"domain httpd_t\t/sys/fs/cgroup/system.slice/nginx.service ;\n"
		"allow mozilla_t http_client_packet_t:packet { send recv };\n"
		"allow httpd_t   http_server_packet_t:packet { send recv }; # trailing\n"
		"allow unconfined_t unlabeled_t:packet { send recv };\n"
		"allow { unlabeled_t mozilla_t } { a_t b_t }\n"
		"      :packet forward_in;\n"
		"\n";
	struct ipt2bpf_diag d;
	struct ipt2bpf_policy *p = parse(text, &d);
	unsigned int unc, unl;

	(void)state;
	if (!p)
		fail_msg("%s", d.msg);
	unc = ipt2bpf_policy_unconfined(p);
	unl = ipt2bpf_policy_unlabeled(p);
	assert_int_equal(p->n_domains, 2);
	assert_string_equal(p->domains[0].name, "mozilla_t");
	assert_string_equal(p->domains[0].path, "/sys/fs/cgroup/kiosk/browser");
	assert_string_equal(p->domains[1].path, "/sys/fs/cgroup/system.slice/nginx.service");
	assert_int_equal(p->domains[1].line, 3);
	assert_int_equal(ipt2bpf_policy_perms(p, 0, "http_client_packet_t"),
			 IPT2BPF_PERM_SEND | IPT2BPF_PERM_RECV);
	assert_int_equal(ipt2bpf_policy_perms(p, 0, "http_server_packet_t"), 0);
	assert_int_equal(ipt2bpf_policy_perms(p, 1, "http_server_packet_t"),
			 IPT2BPF_PERM_SEND | IPT2BPF_PERM_RECV);
	assert_int_equal(ipt2bpf_policy_perms(p, unc, "unlabeled_t"),
			 IPT2BPF_PERM_SEND | IPT2BPF_PERM_RECV);
	assert_int_equal(ipt2bpf_policy_perms(p, unl, "b_t"), IPT2BPF_PERM_FORWARD_IN);
	assert_int_equal(ipt2bpf_policy_perms(p, 0, "a_t"), IPT2BPF_PERM_FORWARD_IN);
	assert_string_equal(ipt2bpf_policy_subj_name(p, unc), "unconfined_t");
	assert_string_equal(ipt2bpf_policy_subj_name(p, unl), "unlabeled_t");
	assert_int_equal(p->allows[p->n_allows - 1].line, 7);
	ipt2bpf_policy_free(p);
}

static void test_policy_errors(void **state)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"domain\n", "pol:1: domain: missing NAME"},
		{"domain x_t\n", "pol:1: domain x_t: missing CGROUP-PATH"},
		{"domain x_t rel/path\n", "pol:1: domain x_t: 'rel/path' is not an absolute path"},
		{"domain 1x /a\n", "pol:1: domain: '1x' is not an SELinux identifier"},
		{"domain unconfined_t /a\n", "pol:1: domain: unconfined_t is built in"},
		{"domain a_t /a\n\ndomain a_t /b\n",
		 "pol:3: domain a_t is declared twice (first on line 1)"},
		{"alow x_t y_t:packet send;\n", "pol:1: unknown statement 'alow'"},
		{"\n\nallow foo_t y_t:packet send;\n", "pol:3: allow: unknown domain 'foo_t'"},
		{"allow unconfined_t y_t:file read;\n",
		 "pol:1: allow: class 'file' is not supported"},
		{"allow unconfined_t y_t:packet { send bogus };\n",
		 "pol:1: allow: unknown permission 'bogus'"},
		{"allow unconfined_t y_t:packet relabelto;\n",
		 "permission relabelto is not enforced"},
		{"allow unconfined_t y_t packet send;\n", "pol:1: allow: expected ':packet'"},
		{"allow unconfined_t y_t:packet { send recv;\n",
		 "pol:1: allow: set of permission not closed"},
		{"allow unconfined_t y_t:packet send\n",
		 "pol:1: allow statement not ended with ';'"},
		{"allow unconfined_t { }:packet send;\n", "pol:1: allow: empty set of type"},
		{"allow unconfined_t y_t:packet send; allow\n", "pol:1: text after ';'"},
		{"allow unconfined_t y_t:packet send extra;\n", "pol:1: allow: unexpected 'extra'"},
		{"allow unconfined_t "
		 "a234567890123456789012345678901234567890123456789012345678901234_t:packet "
		 "send;\n",
		 "is not an SELinux identifier"},
		{"domain a_t /x\x01\n", "pol:1: unprintable character"},
	};
	struct ipt2bpf_diag d;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ipt2bpf_policy *p = parse(bad[i].text, &d);

		if (p)
			fail_msg("accepted: %s", bad[i].text);
		assert_int_equal(d.err, -EINVAL);
		if (!strstr(d.msg, bad[i].msg))
			fail_msg("'%s': expected '%s', got '%s'", bad[i].text, bad[i].msg, d.msg);
	}
}

static void test_resolve(void **state)
{
	struct ipt2bpf_diag d;
	struct ipt2bpf_policy *p = parse("domain a_t /nonexistent/cgroup\n", &d);

	(void)state;
	assert_non_null(p);
	memset(&d, 0, sizeof(d));
	assert_int_not_equal(ipt2bpf_policy_resolve(p, &d), 0);
	assert_non_null(strstr(d.msg, "pol:1: domain a_t: /nonexistent/cgroup: No such file"));
	ipt2bpf_policy_free(p);
	p = parse("domain a_t /tmp\n", &d);
	memset(&d, 0, sizeof(d));
	assert_int_equal(ipt2bpf_policy_resolve(p, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "is not a cgroup v2 directory"));
	ipt2bpf_policy_free(p);
}

static void test_sink(void **state)
{
	struct ipt2bpf_secopts o;
	struct ipt2bpf_diag d = {0};

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_int_equal(ipt2bpf_label_sink_parse("mark:0xff0000", &o, &d), 0);
	assert_int_equal(o.mark_mask, 0xff0000);
	assert_int_equal(ipt2bpf_label_mark_max(o.mark_mask), 255);
	assert_int_equal(ipt2bpf_label_mark(o.mark_mask, 3), 0x30000);
	assert_int_equal(ipt2bpf_label_mark(o.mark_mask, 256), 0);
	assert_int_equal(ipt2bpf_label_sink_parse("none", &o, &d), 0);
	assert_true(o.sink_none);
	assert_int_equal(ipt2bpf_label_sink_parse("mark:0xf0f", &o, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "contiguous"));
	memset(&d, 0, sizeof(d));
	assert_int_equal(ipt2bpf_label_sink_parse("mark:0", &o, &d), -EINVAL);
	memset(&d, 0, sizeof(d));
	assert_int_equal(ipt2bpf_label_sink_parse("mark:0x1ffffffff", &o, &d), -EINVAL);
	memset(&d, 0, sizeof(d));
	assert_int_equal(ipt2bpf_label_sink_parse("skb", &o, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "mark:MASK or none"));
}

/* ------------------------------------------------------------ code */

#define SEC_HOOKS FILTER_HOOKS

static void secmark_rule(struct blob *b, unsigned short proto, const char *ctx)
{
	struct xt_secmark_target_info_v1 i = {.mode = SECMARK_MODE_SEL};
	struct ipt_ip ip = ip_proto(proto);

	strncpy(i.secctx, ctx, sizeof(i.secctx) - 1);
	blob_entry(b, &ip);
	blob_end(b, "SECMARK", 1, &i, sizeof(i));
}

static void connsecmark_rule(struct blob *b, int mode)
{
	struct xt_connsecmark_target_info i = {.mode = (uint8_t)mode};

	blob_entry(b, NULL);
	blob_end(b, "CONNSECMARK", 0, &i, sizeof(i));
}

/*
 * security: INPUT labels TCP (and saves it in the connection), FORWARD
 * labels TCP, OUTPUT (restores from the connection and) labels UDP with a
 * revision 0 SECMARK.  with_ct: the CONNSECMARK rules, which bring in the
 * connection tracker.
 */
static struct ipt2bpf_table *security_table(bool with_ct)
{
	static struct blob b;
	struct xt_secmark_target_info v0 = {.mode = SECMARK_MODE_SEL};
	struct ipt_ip udp = ip_proto(IPPROTO_UDP);
	struct ipt2bpf_diag d = {0};
	struct ipt2bpf_table *t = NULL;
	struct ipt_replace *r;
	size_t len;

	blob_init(&b, "security", SEC_HOOKS);
	blob_hook(&b, NF_INET_LOCAL_IN);
	secmark_rule(&b, IPPROTO_TCP, "system_u:object_r:http_server_packet_t:s0");
	if (with_ct)
		connsecmark_rule(&b, CONNSECMARK_SAVE);
	blob_policy(&b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
	blob_hook(&b, NF_INET_FORWARD);
	secmark_rule(&b, IPPROTO_TCP, "system_u:object_r:http_client_packet_t:s0");
	blob_policy(&b, NF_INET_FORWARD, VERDICT_ACCEPT);
	blob_hook(&b, NF_INET_LOCAL_OUT);
	if (with_ct)
		connsecmark_rule(&b, CONNSECMARK_RESTORE);
	strcpy(v0.secctx, "system_u:object_r:dns_client_packet_t:s0");
	blob_entry(&b, &udp);
	blob_end(&b, "SECMARK", 0, &v0, sizeof(v0));
	blob_policy(&b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	blob_error(&b, "ERROR");
	r = blob_finish(&b, &len);
	if (ipt2bpf_validate(r, len, &d) || ipt2bpf_table_decode(r, len, &t, &d))
		fail_msg("security table: %s", d.msg);
	free(r);
	return t;
}

static const char test_policy_text[] =
	"domain root_t /sys/fs/cgroup\n"
	"domain deep_t /sys/fs/cgroup/a/b\n"
	"allow root_t http_client_packet_t:packet { send recv };\n"
	"allow deep_t { http_server_packet_t dns_client_packet_t }:packet { send recv };\n"
	"allow unconfined_t unlabeled_t:packet { send recv };\n"
	"allow unlabeled_t http_client_packet_t:packet { forward_in forward_out };\n";

/*
 * Every program with the policy and the mark sink passes the verifier (the
 * socket lookup, storage and cgroup helpers from TC; the stamping program
 * from a cgroup sock_create hook), labels get ids in order of appearance.
 */
static void verifier(bool with_ct)
{
	struct ipt2bpf_table *t = security_table(with_ct);
	const struct ipt2bpf_table *tt[1] = {t};
	struct ipt2bpf_labels labels = {0};
	struct ipt2bpf_policy *p;
	struct ipt2bpf_secopts sec = {.labels = &labels, .mark_mask = 0xff0000};
	struct ipt2bpf_gen_opts o = {.mode = IPT2BPF_MODE_TC, .sec = &sec};
	struct ipt2bpf_progset *ps = NULL;
	struct ipt2bpf_loaded l;
	struct ipt2bpf_diag d = {0};
	struct bpf_insn insns[IPT2BPF_SEC_STAMP_INSNS];
	int reuse[IPT2BPF_MAX_MAPS], sk, idx;

	if (geteuid()) {
		print_message("not root: verifier test skipped\n");
		ipt2bpf_table_free(t);
		return;
	}
	p = parse(test_policy_text, &d);
	assert_non_null(p);
	/* ids as resolve() would find them, without needing those cgroups */
	p->domains[0].cgid = 1;
	p->domains[0].level = 0;
	p->domains[1].cgid = 4242;
	p->domains[1].level = 2;
	sec.policy = p;

	if (ipt2bpf_gen(tt, 1, &o, &ps, &d))
		fail_msg("gen: %s", d.msg);
	assert_int_equal(labels.n, 3);
	assert_string_equal(ipt2bpf_labels_ctx(&labels, 1),
			    "system_u:object_r:http_server_packet_t:s0");
	assert_string_equal(ipt2bpf_labels_ctx(&labels, 3),
			    "system_u:object_r:dns_client_packet_t:s0");

	sk = ipt2bpf_sec_sk_map_create(&d);
	if (sk < 0)
		fail_msg("%s", d.msg);
	for (unsigned int i = 0; i < IPT2BPF_MAX_MAPS; i++)
		reuse[i] = -1;
	idx = ipt2bpf_progset_find_map(ps, IPT2BPF_MAP_SEC_SK);
	assert_true(idx >= 0);
	assert_int_equal(ps->maps[idx].max_entries, 0);
	reuse[idx] = sk;
	memset(&l, 0, sizeof(l));
	if (ipt2bpf_progset_load_reuse(ps, &l, reuse, &d)) {
		/* the whole verifier log tail: cmocka cuts long messages */
		fprintf(stderr, "%s\n", d.msg);
		fail_msg("load: the verifier refused the programs");
	}
	ipt2bpf_loaded_close(&l);
	ipt2bpf_progset_free(ps);

	for (unsigned int i = 0; i < p->n_domains; i++) {
		char log[4096] = "";
		LIBBPF_OPTS(bpf_prog_load_opts, po,
			    .expected_attach_type = BPF_CGROUP_INET_SOCK_CREATE, .log_buf = log,
			    .log_size = sizeof(log), .log_level = 1);
		unsigned int n = ipt2bpf_sec_stamp_prog(&p->domains[i], sk, insns);
		int fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK, "stamp", "GPL", insns, n, &po);

		if (fd < 0)
			fail_msg("stamping program: %s\n%s", strerror(errno), log);
		close(fd);
	}
	close(sk);

	/* XDP cannot carry labels to a sink; SECMARK needs a sink unless tracing. */
	o.mode = IPT2BPF_MODE_XDP;
	memset(&d, 0, sizeof(d));
	assert_int_equal(ipt2bpf_gen(tt, 1, &o, &ps, &d), -EOPNOTSUPP);
	assert_non_null(strstr(d.msg, "use --mode tc"));
	o.mode = IPT2BPF_MODE_TC;
	o.sec = NULL;
	memset(&d, 0, sizeof(d));
	assert_int_equal(ipt2bpf_gen(tt, 1, &o, &ps, &d), -EOPNOTSUPP);
	assert_non_null(
		strstr(d.msg, "security/INPUT#1: target 'SECMARK': the label would go nowhere"));
	o.trace = true;
	memset(&d, 0, sizeof(d));
	if (ipt2bpf_gen(tt, 1, &o, &ps, &d))
		fail_msg("trace gen: %s", d.msg);
	ipt2bpf_progset_free(ps);

	ipt2bpf_labels_release(&labels);
	ipt2bpf_policy_free(p);
	ipt2bpf_table_free(t);
}

static void test_verifier(void **state)
{
	(void)state;
	verifier(false);
}

/* The same with CONNSECMARK: the connection tracker's code in every program too. */
static void test_verifier_ct(void **state)
{
	(void)state;
	verifier(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contexts), cmocka_unit_test(test_labels),
		cmocka_unit_test(test_policy),	 cmocka_unit_test(test_policy_errors),
		cmocka_unit_test(test_resolve),	 cmocka_unit_test(test_sink),
		cmocka_unit_test(test_verifier), cmocka_unit_test(test_verifier_ct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
