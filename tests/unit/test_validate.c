// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf_validate(): one test per check of the kernel's do_replace path,
 * each asserting the errno the kernel returns and that the message names
 * the offending entry.  Also the extension registry (ext.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_mac.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>

#include "translator/diag.h"
#include "translator/ext.h"
#include "translator/validate.h"
#include "blob.h"

/* Entry indices of the table basic() builds. */
enum {
	E_IN_SSH,     /* filter/INPUT#1: -p tcp --dport 22 -j ACCEPT */
	E_IN_WEB,     /* filter/INPUT#2: -j web */
	E_IN_POLICY,  /* INPUT policy ACCEPT */
	E_FWD_POLICY, /* FORWARD policy DROP */
	E_OUT_POLICY, /* OUTPUT policy ACCEPT */
	E_WEB_HEAD,   /* ERROR "web" */
	E_WEB_HTTP,   /* filter/web#1: -p tcp --dport 80 -j ACCEPT */
	E_WEB_END,    /* RETURN */
	E_END,	      /* ERROR "ERROR" */
};

static struct xt_tcp tcp_dport(uint16_t port)
{
	struct xt_tcp t = {.spts = {0, 0xFFFF}, .dpts = {port, port}};

	return t;
}

static struct ipt_replace *basic(struct blob *b, size_t *len)
{
	struct ipt_ip tcp = ip_proto(IPPROTO_TCP);
	struct xt_tcp ssh = tcp_dport(22), http = tcp_dport(80);

	blob_init(b, "filter", FILTER_HOOKS);
	blob_hook(b, NF_INET_LOCAL_IN);
	blob_entry(b, &tcp);
	blob_match(b, "tcp", 0, &ssh, sizeof(ssh));
	blob_std(b, VERDICT_ACCEPT);
	blob_entry(b, NULL);
	blob_std(b, 0); /* patched below */
	blob_policy(b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
	blob_policy(b, NF_INET_FORWARD, VERDICT_DROP);
	blob_policy(b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	blob_error(b, "web");
	blob_entry(b, &tcp);
	blob_match(b, "tcp", 0, &http, sizeof(http));
	blob_std(b, VERDICT_ACCEPT);
	blob_entry(b, NULL);
	blob_std(b, VERDICT_RETURN);
	blob_error(b, "ERROR");
	blob_jump(b, E_IN_WEB, E_WEB_HTTP);
	return blob_finish(b, len);
}

static int validate(struct ipt_replace *r, size_t len, struct ipt2bpf_diag *d)
{
	memset(d, 0, sizeof(*d));
	return ipt2bpf_validate(r, len, d);
}

#define assert_rejected(r, len, want, who)                                                         \
	do {                                                                                       \
		struct ipt2bpf_diag d_;                                                            \
		int rc_ = validate(r, len, &d_);                                                   \
		if (rc_ != (want) || !strstr(d_.msg, who))                                         \
			fail_msg("expected %d naming '%s', got %d: %s", (want), who, rc_, d_.msg); \
		assert_int_equal(d_.err, (want));                                                  \
	} while (0)

static struct xt_standard_target *std_target(struct ipt_entry *e)
{
	return (void *)((unsigned char *)e + e->target_offset);
}

/* ---------------------------------------------------------------- good input */

static void good_table(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);
	struct ipt2bpf_diag d;

	(void)state;
	assert_int_equal(validate(r, len, &d), 0);
	assert_int_equal(d.err, 0);
	/* Extra bytes after the table are fine (len is what is available). */
	assert_int_equal(validate(r, len - 0, &d), 0);
	free(r);
}

static void security_table(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);
	struct ipt2bpf_diag d;

	(void)state;
	strcpy(r->name, "security");
	assert_int_equal(validate(r, len, &d), 0);
	free(r);
}

static void unaligned_caller_buffer(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);
	unsigned char *raw = malloc(len + 1);
	struct ipt2bpf_diag d;

	(void)state;
	memcpy(raw + 1, r, len);
	assert_int_equal(validate((struct ipt_replace *)(raw + 1), len, &d), 0);
	free(raw);
	free(r);
}

/* ---------------------------------------------------------------- do_replace header */

static void header_checks(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);
	struct ipt2bpf_diag d;

	(void)state;
	assert_int_equal(validate(r, sizeof(*r) - 1, &d), -EINVAL);
	assert_int_equal(validate(r, len - 1, &d), -EINVAL); /* size beyond the buffer */
	assert_non_null(strstr(d.msg, "filter"));

	r->num_counters = 0;
	assert_int_equal(validate(r, len, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "num_counters"));
	r->num_counters = INT32_MAX / sizeof(struct xt_counters);
	assert_int_equal(validate(r, len, &d), -ENOMEM);
	/* Allocated after translation in __do_replace(): entry errors come first. */
	r->num_counters = 512 * 1024 * 1024 / sizeof(struct xt_counters) + 1;
	assert_int_equal(validate(r, len, &d), -ENOMEM);
	r->num_counters = 1;
	assert_int_equal(validate(r, len, &d), 0);

	r->num_entries++;
	assert_rejected(r, len, -EINVAL, "num_entries");
	r->num_entries = 0x7FFFFFFF;
	assert_rejected(r, len, -ENOMEM, "num_entries");
	free(r);
}

static void huge_size(void **state)
{
	size_t len = 512u * 1024 * 1024 + sizeof(struct ipt_replace);
	struct ipt_replace *r;
	struct ipt2bpf_diag d;

	(void)state;
	/* Never touched beyond the header: xt_alloc_table_info() refuses first. */
	r = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		 0);
	assert_true(r != MAP_FAILED);
	strcpy(r->name, "filter");
	r->num_counters = 1;
	r->size = 512u * 1024 * 1024 - 64;
	assert_int_equal(validate(r, len, &d), -ENOMEM);
	assert_non_null(strstr(d.msg, "too large"));
	munmap(r, len);
}

/* ---------------------------------------------------------------- entry layout */

static void entry_misaligned(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;
	struct ipt_ip tcp = ip_proto(IPPROTO_TCP);
	unsigned char pad[4] = {0};

	(void)state;
	/* An ERROR-free, non-standard target 4 bytes too long misaligns the next entry. */
	blob_init(&b, "filter", FILTER_HOOKS);
	blob_hook(&b, NF_INET_LOCAL_IN);
	blob_entry(&b, &tcp);
	blob_end(&b, "REJECT", 0, pad, sizeof(pad));
	blob_policy(&b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
	blob_policy(&b, NF_INET_FORWARD, VERDICT_DROP);
	blob_policy(&b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	blob_error(&b, "ERROR");
	r = blob_finish(&b, &len);
	repl_entry(r, &b, 0)->next_offset += 4;
	assert_rejected(r, len, -EINVAL, "filter entry #1 at offset 156: misaligned");
	free(r);
}

static void next_offset_bounds(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);

	(void)state;
	repl_entry(r, &b, E_END)->next_offset += 8;
	assert_rejected(r, len, -EINVAL, "filter entry #8 at offset");
	repl_entry(r, &b, E_END)->next_offset = 100;
	assert_rejected(r, len, -EINVAL, "smaller than an entry with a target");
	free(r);

	/* The last entry's header itself runs out of the table. */
	r = basic(&b, &len);
	r->size = b.off[E_END] + sizeof(struct ipt_entry);
	assert_rejected(r, len, -EINVAL, "entry header runs past the end");
	free(r);
}

static void target_offset_bounds(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);

	(void)state;
	repl_entry(r, &b, E_IN_POLICY)->target_offset = sizeof(struct ipt_entry) - 8;
	assert_rejected(r, len, -EINVAL, "filter entry #2 at offset");
	free(r);

	r = basic(&b, &len);
	repl_entry(r, &b, E_IN_POLICY)->target_offset = 136;
	assert_rejected(r, len, -EINVAL, "does not fit in next_offset");
	free(r);

	r = basic(&b, &len);
	std_target(repl_entry(r, &b, E_FWD_POLICY))->target.u.target_size = 16;
	assert_rejected(r, len, -EINVAL, "smaller than the target header");
	free(r);

	r = basic(&b, &len);
	std_target(repl_entry(r, &b, E_FWD_POLICY))->target.u.target_size = 64;
	assert_rejected(r, len, -EINVAL, "overruns next_offset");
	free(r);
}

static void standard_target_layout(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);
	struct xt_standard_target *t;

	(void)state;
	t = std_target(repl_entry(r, &b, E_IN_SSH));
	t->verdict = 0; /* verdict_ok(): offset 0 is never a valid jump */
	assert_rejected(r, len, -EINVAL, "filter entry #0 at offset 0: invalid standard verdict 0");
	t->verdict = -NF_STOLEN - 1;
	assert_rejected(r, len, -EINVAL, "invalid standard verdict");
	t->verdict = VERDICT_QUEUE; /* accepted by the kernel */
	{
		struct ipt2bpf_diag d;

		assert_int_equal(validate(r, len, &d), 0);
	}
	free(r);
}

static void error_target_layout(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);
	struct xt_error_target *t;

	(void)state;
	t = (void *)std_target(repl_entry(r, &b, E_WEB_HEAD));
	memset(t->errorname, 'x', sizeof(t->errorname));
	assert_rejected(r, len, -EINVAL, "ERROR target name is not NUL-terminated");
	free(r);
}

static void match_layout(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);
	struct xt_entry_match *m;

	(void)state;
	m = (void *)repl_entry(r, &b, E_IN_SSH)->elems;
	m->u.match_size += 8;
	assert_rejected(r, len, -EINVAL, "runs into the target");
	m->u.match_size = 8;
	assert_rejected(r, len, -EINVAL, "smaller than its header");
	m->u.match_size = 40; /* leaves 8 bytes: too few for another header */
	assert_rejected(r, len, -EINVAL, "too few for a match header");
	free(r);
}

static void ip_flags(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);

	(void)state;
	repl_entry(r, &b, E_WEB_HTTP)->ip.flags = 0x04;
	assert_rejected(r, len, -EINVAL, "unknown bits 0x4 in ip.flags");
	repl_entry(r, &b, E_WEB_HTTP)->ip.flags = 0;
	repl_entry(r, &b, E_WEB_HTTP)->ip.invflags = 0x80;
	assert_rejected(r, len, -EINVAL, "ip.invflags");
	free(r);
}

/* ---------------------------------------------------------------- hooks and underflows */

static void hook_not_on_entry(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);

	(void)state;
	r->hook_entry[NF_INET_FORWARD] += 8;
	assert_rejected(r, len, -EINVAL, "hook_entry of FORWARD");
	free(r);

	r = basic(&b, &len);
	r->underflow[NF_INET_LOCAL_OUT] = b.off[E_OUT_POLICY] + 4;
	assert_rejected(r, len, -EINVAL, "underflow of OUTPUT");
	free(r);
}

static void bad_underflow(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);

	(void)state;
	/* A conditional policy. */
	repl_entry(r, &b, E_FWD_POLICY)->ip.proto = IPPROTO_UDP;
	assert_rejected(r, len, -EINVAL, "filter entry #3 at offset");
	assert_rejected(r, len, -EINVAL, "underflow (policy) of FORWARD must be");
	free(r);

	/* RETURN is not a policy. */
	r = basic(&b, &len);
	std_target(repl_entry(r, &b, E_OUT_POLICY))->verdict = VERDICT_RETURN;
	assert_rejected(r, len, -EINVAL, "underflow (policy) of OUTPUT");
	free(r);

	/* Nor is an entry with a match. */
	r = basic(&b, &len);
	r->underflow[NF_INET_LOCAL_IN] = b.off[E_IN_SSH];
	assert_rejected(r, len, -EINVAL, "filter entry #0 at offset 0: underflow");
	free(r);
}

static void unsorted_hooks(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);

	(void)state;
	r->underflow[NF_INET_FORWARD] = b.off[E_IN_POLICY];
	assert_rejected(r, len, -EINVAL, "duplicate underflow at hook FORWARD");
	free(r);

	r = basic(&b, &len);
	r->hook_entry[NF_INET_LOCAL_OUT] = b.off[E_IN_SSH];
	assert_rejected(r, len, -EINVAL, "unsorted entry at hook OUTPUT");
	free(r);
}

/* ---------------------------------------------------------------- mark_source_chains */

static void loop(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;

	(void)state;
	/* web jumps to its own first rule. */
	r = basic(&b, &len);
	std_target(repl_entry(r, &b, E_WEB_HTTP))->verdict = b.off[E_WEB_HTTP];
	assert_rejected(r, len, -ELOOP, "filter/web#1: loop");
	free(r);

	/* web jumps back into INPUT, which jumped to web. */
	r = basic(&b, &len);
	std_target(repl_entry(r, &b, E_WEB_HTTP))->verdict = b.off[E_IN_WEB];
	assert_rejected(r, len, -ELOOP, "filter/web#1: loop: leads back to filter/INPUT#2");
	free(r);
}

static void jump_into_entry(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);

	(void)state;
	std_target(repl_entry(r, &b, E_IN_WEB))->verdict = b.off[E_WEB_HTTP] + 8;
	assert_rejected(r, len, -ELOOP, "filter/INPUT#2: jump to offset");
	assert_rejected(r, len, -ELOOP, "not the start of an entry");
	free(r);

	/* Beyond the table. */
	r = basic(&b, &len);
	std_target(repl_entry(r, &b, E_IN_WEB))->verdict = r->size + 64;
	assert_rejected(r, len, -ELOOP, "filter/INPUT#2: jump to offset");
	free(r);
}

static void falls_off_end(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);

	(void)state;
	/* web's RETURN made conditional: execution runs into the final ERROR and beyond. */
	repl_entry(r, &b, E_WEB_END)->ip.proto = IPPROTO_UDP;
	assert_rejected(r, len, -ELOOP, "(table end): execution falls off the end");
	free(r);
}

static void nonstandard_last_entry(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;
	struct ipt_ip udp = ip_proto(IPPROTO_UDP);

	(void)state;
	/* OUTPUT starts at the very last entry, whose target has no payload
	 * (TRACE): nothing may be read past it, and the path falls off. */
	blob_init(&b, "filter", FILTER_HOOKS);
	blob_policy(&b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
	blob_policy(&b, NF_INET_FORWARD, VERDICT_ACCEPT);
	blob_policy(&b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	blob_hook(&b, NF_INET_LOCAL_OUT);
	blob_entry(&b, &udp);
	blob_end(&b, "TRACE", 0, NULL, 0);
	r = blob_finish(&b, &len);
	assert_rejected(r, len, -ELOOP, "filter/OUTPUT#1: execution falls off the end");
	free(r);
}

static void unreachable_bad_jump_accepted(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);
	struct ipt2bpf_diag d;

	(void)state;
	/* Nothing jumps to web any more: mark_source_chains() never looks at
	 * its rules' jumps, so a jump into the middle of an entry passes. */
	std_target(repl_entry(r, &b, E_IN_WEB))->verdict = VERDICT_ACCEPT;
	std_target(repl_entry(r, &b, E_WEB_HTTP))->verdict = b.off[E_WEB_HTTP] + 8;
	assert_int_equal(validate(r, len, &d), 0);
	free(r);
}

/* ---------------------------------------------------------------- extensions */

/* basic() with INPUT#1's match replaced by (name, rev, data, size) and proto. */
static struct ipt_replace *with_match(struct blob *b, size_t *len, uint16_t proto, const char *name,
				      unsigned char rev, const void *data, size_t size)
{
	struct ipt_ip ip = ip_proto(proto);

	blob_init(b, "filter", FILTER_HOOKS);
	blob_hook(b, NF_INET_LOCAL_IN);
	blob_entry(b, &ip);
	blob_match(b, name, rev, data, size);
	blob_std(b, VERDICT_ACCEPT);
	blob_policy(b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
	blob_policy(b, NF_INET_FORWARD, VERDICT_DROP);
	blob_policy(b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	blob_error(b, "ERROR");
	return blob_finish(b, len);
}

static void unknown_extension(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;
	char junk[8] = {0};
	struct xt_tcp tcp = tcp_dport(22);
	struct xt_comment_info c = {.comment = "x"};

	(void)state;
	r = with_match(&b, &len, 0, "nosuch", 0, junk, sizeof(junk));
	assert_rejected(r, len, -ENOENT,
			"filter/INPUT#1: match 'nosuch' (revision 0): no such "
			"extension");
	free(r);

	/* tcp is registered for NFPROTO_IPV4 only: a missing revision is -ENOENT. */
	r = with_match(&b, &len, IPPROTO_TCP, "tcp", 1, &tcp, sizeof(tcp));
	assert_rejected(r, len, -ENOENT,
			"filter/INPUT#1: match 'tcp' (revision 1): no such "
			"revision");
	free(r);

	/* comment is NFPROTO_UNSPEC: xt_find_match() says -EPROTOTYPE. */
	r = with_match(&b, &len, 0, "comment", 2, &c, sizeof(c));
	assert_rejected(r, len, -EPROTOTYPE, "filter/INPUT#1: match 'comment' (revision 2)");
	free(r);

	/* Name without NUL within XT_EXTENSION_MAXNAMELEN. */
	r = with_match(&b, &len, IPPROTO_TCP, "tcp", 0, &tcp, sizeof(tcp));
	memset(((struct xt_entry_match *)repl_entry(r, &b, 0)->elems)->u.user.name, 'a',
	       XT_EXTENSION_MAXNAMELEN);
	assert_rejected(r, len, -EINVAL, "filter/INPUT#1: match name is not NUL-terminated");
	free(r);

	/* Unknown target. */
	r = basic(&b, &len);
	strcpy(std_target(repl_entry(r, &b, E_IN_SSH))->target.u.user.name, "NOSUCH");
	assert_rejected(r, len, -ENOENT,
			"filter/INPUT#1: target 'NOSUCH' (revision 0): no such "
			"extension");
	free(r);
}

static void wrong_size(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;
	unsigned char big[sizeof(struct xt_tcp) + 8] = {0};

	(void)state;
	r = with_match(&b, &len, IPPROTO_TCP, "tcp", 0, big, sizeof(big));
	assert_rejected(r, len, -EINVAL,
			"filter/INPUT#1: match 'tcp' (revision 0): payload is "
			"24 bytes, the kernel expects 16");
	free(r);

	/* Standard target with room for more than the verdict. */
	r = basic(&b, &len);
	std_target(repl_entry(r, &b, E_IN_SSH))->target.u.target_size = 32;
	assert_rejected(r, len, -EINVAL, "filter/INPUT#1: target '' (revision 0): payload is 0");
	free(r);
}

static void proto_requirement(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;
	struct xt_tcp tcp = tcp_dport(22);

	(void)state;
	r = with_match(&b, &len, 0, "tcp", 0, &tcp, sizeof(tcp));
	assert_rejected(r, len, -EINVAL, "filter/INPUT#1: match 'tcp' (revision 0): needs -p 6");
	free(r);

	r = with_match(&b, &len, IPPROTO_UDP, "tcp", 0, &tcp, sizeof(tcp));
	assert_rejected(r, len, -EINVAL, "needs -p 6 (tcp)");
	free(r);

	r = with_match(&b, &len, IPPROTO_TCP, "tcp", 0, &tcp, sizeof(tcp));
	repl_entry(r, &b, 0)->ip.invflags = IPT_INV_PROTO;
	assert_rejected(r, len, -EINVAL, "without '!'");
	free(r);
}

static void checkentry(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;
	struct xt_tcp tcp = tcp_dport(22);
	struct xt_multiport_v1 mp = {
		.flags = XT_MULTIPORT_DESTINATION, .count = 2, .ports = {10, 20}};
	struct ipt2bpf_diag d;

	(void)state;
	tcp.invflags = 0x40;
	r = with_match(&b, &len, IPPROTO_TCP, "tcp", 0, &tcp, sizeof(tcp));
	assert_rejected(r, len, -EINVAL,
			"filter/INPUT#1: match 'tcp' (revision 0): unknown "
			"inversion flags");
	free(r);

	r = with_match(&b, &len, IPPROTO_TCP, "multiport", 1, &mp, sizeof(mp));
	assert_int_equal(validate(r, len, &d), 0);
	free(r);
	r = with_match(&b, &len, 0, "multiport", 1, &mp, sizeof(mp));
	assert_rejected(r, len, -EINVAL, "needs -p tcp, udp");
	free(r);
	mp.count = XT_MULTI_PORTS + 1;
	r = with_match(&b, &len, IPPROTO_UDP, "multiport", 1, &mp, sizeof(mp));
	assert_rejected(r, len, -EINVAL, "more than 15 ports");
	free(r);
	mp.count = 2;
	mp.pflags[1] = 1; /* a range start without an end */
	r = with_match(&b, &len, IPPROTO_UDP, "multiport", 1, &mp, sizeof(mp));
	assert_rejected(r, len, -EINVAL, "invalid port range");
	free(r);
}

static void table_and_hook_restrictions(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;
	struct ipt_reject_info rej = {.with = IPT_ICMP_PORT_UNREACHABLE};
	struct xt_mac_info mac = {0};
	struct ipt_ip ip = ip_proto(0);

	(void)state;
	/* REJECT is .table = "filter". */
	blob_init(&b, "security", FILTER_HOOKS);
	blob_hook(&b, NF_INET_LOCAL_IN);
	blob_entry(&b, &ip);
	blob_end(&b, "REJECT", 0, &rej, sizeof(rej));
	blob_policy(&b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
	blob_policy(&b, NF_INET_FORWARD, VERDICT_ACCEPT);
	blob_policy(&b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	blob_error(&b, "ERROR");
	r = blob_finish(&b, &len);
	assert_rejected(r, len, -EINVAL,
			"security/INPUT#1: target 'REJECT' (revision 0): only "
			"valid in the filter table");
	free(r);

	/* mac is only valid from PREROUTING/INPUT/FORWARD; here it is reached from
	 * OUTPUT through a user chain. */
	blob_init(&b, "filter", FILTER_HOOKS);
	blob_policy(&b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
	blob_policy(&b, NF_INET_FORWARD, VERDICT_ACCEPT);
	blob_hook(&b, NF_INET_LOCAL_OUT);
	blob_entry(&b, NULL);
	blob_std(&b, 0);
	blob_policy(&b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	blob_error(&b, "macs");
	blob_entry(&b, NULL);
	blob_match(&b, "mac", 0, &mac, sizeof(mac));
	blob_std(&b, VERDICT_DROP);
	blob_entry(&b, NULL);
	blob_std(&b, VERDICT_RETURN);
	blob_error(&b, "ERROR");
	blob_jump(&b, 2, 5);
	r = blob_finish(&b, &len);
	assert_rejected(r, len, -EINVAL,
			"filter/macs#1: match 'mac' (revision 0): reached from "
			"OUTPUT, only valid from PREROUTING/INPUT/FORWARD");
	free(r);
	/* Unreachable, the same rule is fine (comefrom is empty). */
	blob_jump(&b, 2, 3);
	r = blob_finish(&b, &len);
	{
		struct ipt2bpf_diag d;

		assert_int_equal(validate(r, len, &d), 0);
	}
	free(r);
}

static void reject_tcp_reset_needs_tcp(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;
	struct ipt_reject_info rej = {.with = IPT_TCP_RESET};
	struct ipt_ip ip = ip_proto(IPPROTO_UDP);

	(void)state;
	blob_init(&b, "filter", FILTER_HOOKS);
	blob_hook(&b, NF_INET_LOCAL_IN);
	blob_entry(&b, &ip);
	blob_end(&b, "REJECT", 0, &rej, sizeof(rej));
	blob_policy(&b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
	blob_policy(&b, NF_INET_FORWARD, VERDICT_ACCEPT);
	blob_policy(&b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	blob_error(&b, "ERROR");
	r = blob_finish(&b, &len);
	assert_rejected(r, len, -EINVAL,
			"filter/INPUT#1: target 'REJECT' (revision 0): "
			"--reject-with tcp-reset needs -p tcp");
	repl_entry(r, &b, 0)->ip.proto = IPPROTO_TCP;
	{
		struct ipt2bpf_diag d;

		assert_int_equal(validate(r, len, &d), 0);
	}
	free(r);
}

/* ---------------------------------------------------------------- the table */

static void unknown_table(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = basic(&b, &len);

	(void)state;
	strcpy(r->name, "mangle");
	assert_rejected(r, len, -ENOENT, "table 'mangle' does not exist");
	/* Entry errors are found before the table is looked up, as in the kernel. */
	repl_entry(r, &b, E_IN_SSH)->ip.flags = 0x80;
	assert_rejected(r, len, -EINVAL, "mangle entry #0");
	free(r);
}

static void wrong_valid_hooks(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;

	(void)state;
	blob_init(&b, "filter", FILTER_HOOKS | (1u << NF_INET_PRE_ROUTING));
	blob_policy(&b, NF_INET_PRE_ROUTING, VERDICT_ACCEPT);
	blob_policy(&b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
	blob_policy(&b, NF_INET_FORWARD, VERDICT_ACCEPT);
	blob_policy(&b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	blob_error(&b, "ERROR");
	r = blob_finish(&b, &len);
	assert_rejected(r, len, -EINVAL, "filter: valid_hooks 0xf does not match the table's 0xe");
	free(r);
}

/* ---------------------------------------------------------------- registry */

static void registry(void **state)
{
	const struct ipt2bpf_ext *x;
	int err;

	(void)state;
	x = ipt2bpf_ext_find("tcp", 0, false);
	assert_non_null(x);
	assert_int_equal(x->size, 16);
	assert_int_equal(x->proto, IPPROTO_TCP);
	assert_true(x->translated);
	x = ipt2bpf_ext_find(XT_STANDARD_TARGET, 0, true);
	assert_non_null(x);
	assert_int_equal(x->size, XT_ALIGN(sizeof(int)));
	x = ipt2bpf_ext_find(XT_ERROR_TARGET, 0, true);
	assert_int_equal(x->size, XT_ALIGN(XT_FUNCTION_MAXNAMELEN));
	x = ipt2bpf_ext_find("multiport", 0, false);
	assert_int_equal(x->size, sizeof(struct xt_multiport));
	x = ipt2bpf_ext_find("iprange", 0, false);
	assert_int_equal(x->size, 24);
	x = ipt2bpf_ext_find("REJECT", 0, true);
	assert_false(x->translated);
	assert_string_equal(x->table, "filter");
	assert_null(ipt2bpf_ext_find("tcp", 0, true)); /* a match, not a target */

	assert_null(ipt2bpf_ext_lookup("conntrack", 0, false, &err));
	assert_int_equal(err, -EPROTOTYPE);
	assert_null(ipt2bpf_ext_lookup("tcp", 3, false, &err));
	assert_int_equal(err, -ENOENT);
	assert_non_null(ipt2bpf_ext_lookup("conntrack", 3, false, &err));
	assert_int_equal(err, 0);
}

static void revisions(void **state)
{
	(void)state;
	/* GET_REVISION over translated extensions: best revision if the asked one exists. */
	assert_int_equal(ipt2bpf_ext_revision("multiport", 0, false), 1);
	assert_int_equal(ipt2bpf_ext_revision("multiport", 1, false), 1);
	assert_int_equal(ipt2bpf_ext_revision("multiport", 2, false), -EPROTONOSUPPORT);
	assert_int_equal(ipt2bpf_ext_revision("iprange", 1, false), 1);
	assert_int_equal(ipt2bpf_ext_revision("tcp", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("comment", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("ERROR", 0, true), 0);
	/* Known to the kernel but not translated: iptables must not use it. */
	assert_int_equal(ipt2bpf_ext_revision("policy", 0, false), -ENOENT);
	assert_int_equal(ipt2bpf_ext_revision("LED", 0, true), -ENOENT);
	/* ... though refused with a reason (codegen/refused.c), which the umh lets the kernel answer. */
	assert_true(ipt2bpf_ext_refused("LED", true));
	assert_true(ipt2bpf_ext_refused("policy", false));
	assert_true(ipt2bpf_ext_refused("physdev", false));
	assert_false(ipt2bpf_ext_refused("LED", false));
	assert_false(ipt2bpf_ext_refused("owner", false)); /* translated */
	assert_false(ipt2bpf_ext_refused("tcp", false));
	/*
	 * Extension modules, in the revisions the kernel has (iptables 1.8.9 asks
	 * for its newest first and falls back): mark and MARK have only 1 and 2.
	 */
	assert_int_equal(ipt2bpf_ext_revision("ttl", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("tos", 0, false), -EPROTONOSUPPORT);
	assert_int_equal(ipt2bpf_ext_revision("tos", 1, false), 1);
	assert_int_equal(ipt2bpf_ext_revision("dscp", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("ecn", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("pkttype", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("addrtype", 0, false), 1);
	assert_int_equal(ipt2bpf_ext_revision("addrtype", 1, false), 1);
	assert_int_equal(ipt2bpf_ext_revision("mac", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("mark", 0, false), -EPROTONOSUPPORT);
	assert_int_equal(ipt2bpf_ext_revision("mark", 1, false), 1);
	assert_int_equal(ipt2bpf_ext_revision("u32", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("string", 0, false), -EPROTONOSUPPORT);
	assert_int_equal(ipt2bpf_ext_revision("string", 1, false), 1);
	assert_int_equal(ipt2bpf_ext_revision("sctp", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("esp", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("ah", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("tcpmss", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("MARK", 0, true), -EPROTONOSUPPORT);
	assert_int_equal(ipt2bpf_ext_revision("MARK", 2, true), 2);
	assert_int_equal(ipt2bpf_ext_revision("CLASSIFY", 0, true), 0);
	assert_int_equal(ipt2bpf_ext_revision("TCPMSS", 0, true), 0);
	assert_int_equal(ipt2bpf_ext_revision("dccp", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("ipcomp", 0, false), 0);
	/* The connection tracker's extensions (codegen/m_conntrack.c, m_state.c, ...). */
	assert_int_equal(ipt2bpf_ext_revision("conntrack", 3, false), 3);
	assert_int_equal(ipt2bpf_ext_revision("conntrack", 1, false), 3);
	assert_int_equal(ipt2bpf_ext_revision("state", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("connmark", 1, false), 1);
	assert_int_equal(ipt2bpf_ext_revision("CONNMARK", 1, true), 2);
	/* owner is translated (codegen/m_owner.c). */
	assert_int_equal(ipt2bpf_ext_revision("owner", 1, false), 1);
	/*
	 * Modules that only refuse, with their reason (physdev, devgroup,
	 * NFQUEUE, codegen/refused.c) are not translated: the umh lets the
	 * kernel answer (ipt2bpf_ext_refused()), so iptables builds the rule as
	 * it would there and the compiler says why it cannot translate it.
	 */
	assert_int_equal(ipt2bpf_ext_revision("NFQUEUE", 0, true), -ENOENT);
	assert_true(ipt2bpf_ext_refused("NFQUEUE", true));
	/* LOG has a module (codegen/t_LOG.c): translated. */
	assert_int_equal(ipt2bpf_ext_revision("LOG", 0, true), 0);
	/* NFLOG, AUDIT (to ipt2bpf's log reader), cpu, HMARK (codegen/t_NFLOG.c ...). */
	assert_int_equal(ipt2bpf_ext_revision("NFLOG", 0, true), 0);
	assert_int_equal(ipt2bpf_ext_revision("AUDIT", 0, true), 0);
	assert_int_equal(ipt2bpf_ext_revision("cpu", 0, false), 0);
	assert_int_equal(ipt2bpf_ext_revision("HMARK", 0, true), 0);
	assert_int_equal(ipt2bpf_ext_revision("nosuch", 0, false), -ENOENT);
	assert_int_equal(ipt2bpf_ext_revision("tcp", 0, true), -ENOENT);
	/* The kernel cuts the asked name at XT_EXTENSION_MAXNAMELEN - 1. */
	{
		char name[XT_EXTENSION_MAXNAMELEN + 1] = "multiport";

		memset(name + 9, 'x', sizeof(name) - 10);
		assert_int_equal(ipt2bpf_ext_revision(name, 1, false), -ENOENT);
	}
	/* Everything known. */
	assert_int_equal(ipt2bpf_ext_revision_known("conntrack", 1, false), 3);
	assert_int_equal(ipt2bpf_ext_revision_known("conntrack", 0, false), -EPROTONOSUPPORT);
	assert_int_equal(ipt2bpf_ext_revision_known("LOG", 0, true), 0);
	/* SNAT rev 0 is IPv4-only, revs 1-2 NFPROTO_UNSPEC: xt_find_revision()
	 * stops at the IPv4 list once the asked revision is found there. */
	assert_int_equal(ipt2bpf_ext_revision_known("SNAT", 0, true), 0);
	assert_int_equal(ipt2bpf_ext_revision_known("SNAT", 1, true), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_table),
		cmocka_unit_test(security_table),
		cmocka_unit_test(unaligned_caller_buffer),
		cmocka_unit_test(header_checks),
		cmocka_unit_test(huge_size),
		cmocka_unit_test(entry_misaligned),
		cmocka_unit_test(next_offset_bounds),
		cmocka_unit_test(target_offset_bounds),
		cmocka_unit_test(standard_target_layout),
		cmocka_unit_test(error_target_layout),
		cmocka_unit_test(match_layout),
		cmocka_unit_test(ip_flags),
		cmocka_unit_test(hook_not_on_entry),
		cmocka_unit_test(bad_underflow),
		cmocka_unit_test(unsorted_hooks),
		cmocka_unit_test(loop),
		cmocka_unit_test(jump_into_entry),
		cmocka_unit_test(falls_off_end),
		cmocka_unit_test(nonstandard_last_entry),
		cmocka_unit_test(unreachable_bad_jump_accepted),
		cmocka_unit_test(unknown_extension),
		cmocka_unit_test(wrong_size),
		cmocka_unit_test(proto_requirement),
		cmocka_unit_test(checkentry),
		cmocka_unit_test(table_and_hook_restrictions),
		cmocka_unit_test(reject_tcp_reset_needs_tcp),
		cmocka_unit_test(unknown_table),
		cmocka_unit_test(wrong_valid_hooks),
		cmocka_unit_test(registry),
		cmocka_unit_test(revisions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
