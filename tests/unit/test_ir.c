// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf_table_decode(): chains, roles, rule numbers, jump targets, hook
 * masks and reference counts; every supported match and target kind
 * (including multiport/iprange revision 0 widening, goto and the
 * jump-to-next CONTINUE); refusals with their messages; the dump.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_LED.h>
#include <linux/netfilter/xt_l2tp.h>
#include <linux/netfilter/xt_policy.h>

#include "translator/diag.h"
#include "translator/ext.h"
#include "translator/ir.h"
#include "translator/util.h"
#include "blob.h"

#define IN  NF_INET_LOCAL_IN
#define FWD NF_INET_FORWARD
#define OUT NF_INET_LOCAL_OUT

static int decode(struct ipt_replace *r, size_t len, struct ipt2bpf_table **t,
		  struct ipt2bpf_diag *d)
{
	memset(d, 0, sizeof(*d));
	return ipt2bpf_table_decode(r, len, t, d);
}

#define assert_refused(r, len, want, text)                                                         \
	do {                                                                                       \
		struct ipt2bpf_diag d_;                                                            \
		struct ipt2bpf_table *t_ = (void *)1;                                              \
		int rc_ = decode(r, len, &t_, &d_);                                                \
		if (rc_ != (want) || !strstr(d_.msg, text))                                        \
			fail_msg("expected %d with '%s', got %d: %s", (want), text, rc_, d_.msg);  \
		assert_null(t_);                                                                   \
	} while (0)

static char *describe(const struct ipt2bpf_table *t, unsigned int i)
{
	static char buf[128];

	assert_true(ipt2bpf_entry_describe(t, i, buf, sizeof(buf)) > 0);
	return buf;
}

/* ---------------------------------------------------------------- structure */

/*
 * e0  INPUT#1   -p tcp --dport 22 -j ACCEPT
 * e1  INPUT#2   -j web
 * e2  INPUT#3   -g web
 * e3  INPUT#4   -j (next entry)          CONTINUE
 * e4  INPUT#5   -p udp -j DROP
 * e5  INPUT policy ACCEPT
 * e6  FORWARD policy DROP
 * e7  OUTPUT#1  -j web#2 (into the middle of web)
 * e8  OUTPUT policy ACCEPT
 * e9  web head
 * e10 web#1     -p tcp -j ACCEPT
 * e11 web#2     -p udp -j RETURN
 * e12 web end   RETURN
 * e13 table end
 */
static struct ipt_replace *structure(struct blob *b, size_t *len)
{
	struct ipt_ip tcp = ip_proto(IPPROTO_TCP), udp = ip_proto(IPPROTO_UDP), go;
	struct xt_tcp ssh = {.spts = {0, 0xFFFF}, .dpts = {22, 22}};

	memset(&go, 0, sizeof(go));
	go.flags = IPT_F_GOTO;
	blob_init(b, "filter", FILTER_HOOKS);
	blob_hook(b, IN);
	blob_entry(b, &tcp);
	blob_match(b, "tcp", 0, &ssh, sizeof(ssh));
	blob_std(b, VERDICT_ACCEPT);
	blob_entry(b, NULL);
	blob_std(b, 0);
	blob_entry(b, &go);
	blob_std(b, 0);
	blob_entry(b, NULL);
	blob_std(b, 0);
	blob_entry(b, &udp);
	blob_std(b, VERDICT_DROP);
	blob_policy(b, IN, VERDICT_ACCEPT);
	blob_policy(b, FWD, VERDICT_DROP);
	blob_hook(b, OUT);
	blob_entry(b, NULL);
	blob_std(b, 0);
	blob_policy(b, OUT, VERDICT_ACCEPT);
	blob_error(b, "web");
	blob_entry(b, &tcp);
	blob_std(b, VERDICT_ACCEPT);
	blob_entry(b, &udp);
	blob_std(b, VERDICT_RETURN);
	blob_entry(b, NULL);
	blob_std(b, VERDICT_RETURN);
	blob_error(b, "ERROR");
	blob_jump(b, 1, 10);
	blob_jump(b, 2, 10);
	blob_jump(b, 3, 4);
	blob_jump(b, 7, 11);
	return blob_finish(b, len);
}

static void decode_structure(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = structure(&b, &len);
	struct ipt2bpf_table *t;
	struct ipt2bpf_diag d;
	const struct ipt2bpf_chain *c;

	(void)state;
	assert_int_equal(decode(r, len, &t, &d), 0);
	assert_string_equal(t->name, "filter");
	assert_int_equal(t->valid_hooks, FILTER_HOOKS);
	assert_int_equal(t->n_entries, 14);
	assert_int_equal(t->hook_entry[IN], 0);
	assert_int_equal(t->underflow[IN], 5);
	assert_int_equal(t->hook_entry[FWD], 6);
	assert_int_equal(t->underflow[FWD], 6);
	assert_int_equal(t->hook_entry[OUT], 7);
	assert_int_equal(t->underflow[OUT], 8);
	for (unsigned int i = 0; i < t->n_entries; i++) {
		assert_int_equal(t->entries[i].index, i);
		assert_int_equal(t->entries[i].offset, b.off[i]);
		assert_int_equal(t->entries[i].size, blob_e(&b, i)->next_offset);
	}

	/* Chains: built-ins in hook order, then user chains. */
	assert_int_equal(t->n_chains, 4);
	c = &t->chains[0];
	assert_string_equal(c->name, "INPUT");
	assert_true(c->builtin);
	assert_int_equal(c->hook, IN);
	assert_int_equal(c->first, 0);
	assert_int_equal(c->n_rules, 5);
	assert_int_equal(c->policy_entry, 5);
	assert_int_equal(c->policy, NF_ACCEPT);
	c = &t->chains[1];
	assert_string_equal(c->name, "FORWARD");
	assert_int_equal(c->n_rules, 0);
	assert_int_equal(c->policy, NF_DROP);
	c = &t->chains[2];
	assert_string_equal(c->name, "OUTPUT");
	assert_int_equal(c->n_rules, 1);
	c = &t->chains[3];
	assert_string_equal(c->name, "web");
	assert_false(c->builtin);
	assert_int_equal(c->hook, -1);
	assert_int_equal(c->head_entry, 9);
	assert_int_equal(c->first, 10);
	assert_int_equal(c->end_entry, 12);
	assert_int_equal(c->n_rules, 2);
	assert_int_equal(c->references, 3);

	/* Roles, chain membership and rule numbers. */
	assert_int_equal(t->entries[0].role, IPT2BPF_E_RULE);
	assert_int_equal(t->entries[4].num, 5);
	assert_int_equal(t->entries[5].role, IPT2BPF_E_POLICY);
	assert_int_equal(t->entries[5].chain, 0);
	assert_int_equal(t->entries[6].role, IPT2BPF_E_POLICY);
	assert_int_equal(t->entries[6].chain, 1);
	assert_int_equal(t->entries[7].chain, 2);
	assert_int_equal(t->entries[7].num, 1);
	assert_int_equal(t->entries[9].role, IPT2BPF_E_CHAIN_HEAD);
	assert_int_equal(t->entries[9].chain, 3);
	assert_int_equal(t->entries[11].num, 2);
	assert_int_equal(t->entries[12].role, IPT2BPF_E_CHAIN_END);
	assert_int_equal(t->entries[13].role, IPT2BPF_E_TABLE_END);
	assert_int_equal(t->entries[13].chain, -1);

	/* Targets. */
	assert_int_equal(t->entries[0].target.kind, IPT2BPF_T_ACCEPT);
	assert_string_equal(t->entries[0].target.name, "");
	assert_int_equal(t->entries[1].target.kind, IPT2BPF_T_JUMP);
	assert_int_equal(t->entries[1].target.target_entry, 10);
	assert_int_equal(t->entries[2].target.kind, IPT2BPF_T_GOTO);
	assert_int_equal(t->entries[2].target.target_entry, 10);
	assert_int_equal(t->entries[3].target.kind, IPT2BPF_T_CONTINUE);
	assert_int_equal(t->entries[3].target.target_entry, 4);
	assert_int_equal(t->entries[4].target.kind, IPT2BPF_T_DROP);
	assert_int_equal(t->entries[7].target.kind, IPT2BPF_T_JUMP);
	assert_int_equal(t->entries[7].target.target_entry, 11);
	assert_int_equal(t->entries[9].target.kind, IPT2BPF_T_ERROR);
	assert_string_equal(t->entries[9].target.error_name, "web");
	assert_int_equal(t->entries[11].target.kind, IPT2BPF_T_RETURN);
	assert_int_equal(t->entries[13].target.kind, IPT2BPF_T_ERROR);
	assert_string_equal(t->entries[13].target.error_name, "ERROR");
	assert_string_equal(t->entries[13].target.name, "ERROR");

	/* Hook masks: what can run from where. */
	assert_int_equal(t->entries[0].hooks, 1u << IN);
	assert_int_equal(t->entries[5].hooks, 1u << IN);
	assert_int_equal(t->entries[6].hooks, 1u << FWD);
	assert_int_equal(t->entries[10].hooks, 1u << IN);
	assert_int_equal(t->entries[11].hooks, (1u << IN) | (1u << OUT));
	assert_int_equal(t->entries[12].hooks, (1u << IN) | (1u << OUT));
	assert_int_equal(t->entries[9].hooks, 0);
	assert_int_equal(t->entries[13].hooks, 0);

	/* Names. */
	assert_string_equal(describe(t, 0), "filter/INPUT#1");
	assert_string_equal(describe(t, 5), "filter/INPUT policy");
	assert_string_equal(describe(t, 6), "filter/FORWARD policy");
	assert_string_equal(describe(t, 7), "filter/OUTPUT#1");
	assert_string_equal(describe(t, 9), "filter/web (chain head)");
	assert_string_equal(describe(t, 11), "filter/web#2");
	assert_string_equal(describe(t, 12), "filter/web (chain end)");
	assert_string_equal(describe(t, 13), "filter (table end)");
	{
		char buf[8];

		assert_int_equal(ipt2bpf_entry_describe(t, 14, buf, sizeof(buf)), -EINVAL);
	}
	ipt2bpf_table_free(t);
	free(r);
}

static void validation_errors_pass_through(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r = structure(&b, &len);
	struct xt_standard_target *st;

	(void)state;
	st = (void *)((unsigned char *)repl_entry(r, &b, 10) +
		      repl_entry(r, &b, 10)->target_offset);
	st->verdict = b.off[1]; /* web jumps back to INPUT#2 */
	assert_refused(r, len, -ELOOP, "filter/web#1: loop");
	free(r);
}

/* ---------------------------------------------------------------- matches */

/* One INPUT rule with the given match, then the usual policies. */
static struct ipt_replace *one_rule(struct blob *b, size_t *len, const struct ipt_ip *ip,
				    const char *name, unsigned char rev, const void *data,
				    size_t size)
{
	blob_init(b, "filter", FILTER_HOOKS);
	blob_hook(b, IN);
	blob_entry(b, ip);
	if (name)
		blob_match(b, name, rev, data, size);
	blob_std(b, VERDICT_ACCEPT);
	blob_policy(b, IN, VERDICT_ACCEPT);
	blob_policy(b, FWD, VERDICT_DROP);
	blob_policy(b, OUT, VERDICT_ACCEPT);
	blob_error(b, "ERROR");
	return blob_finish(b, len);
}

static const struct ipt2bpf_match *decode_one(struct ipt_replace *r, size_t len,
					      struct ipt2bpf_table **t)
{
	struct ipt2bpf_diag d;
	int rc = decode(r, len, t, &d);

	if (rc)
		fail_msg("decode: %d %s", rc, d.msg);
	assert_int_equal((*t)->entries[0].n_matches, 1);
	return &(*t)->entries[0].matches[0];
}

static void match_tcp_udp_icmp(void **state)
{
	struct blob b;
	size_t len;
	struct ipt2bpf_table *t;
	const struct ipt2bpf_match *m;
	struct ipt_replace *r;
	struct ipt_ip ip = ip_proto(IPPROTO_TCP);
	struct xt_tcp tcp = {.spts = {1024, 65535},
			     .dpts = {443, 443},
			     .option = 2,
			     .flg_mask = 0x17,
			     .flg_cmp = 0x02,
			     .invflags = XT_TCP_INV_DSTPT | XT_TCP_INV_FLAGS};
	struct xt_udp udp = {.spts = {53, 53}, .dpts = {0, 65535}, .invflags = XT_UDP_INV_SRCPT};
	struct ipt_icmp icmp = {.type = 3, .code = {1, 4}, .invflags = IPT_ICMP_INV};

	(void)state;
	r = one_rule(&b, &len, &ip, "tcp", 0, &tcp, sizeof(tcp));
	m = decode_one(r, len, &t);
	assert_int_equal(m->kind, IPT2BPF_M_TCP);
	assert_string_equal(m->name, "tcp");
	assert_int_equal(m->revision, 0);
	assert_memory_equal(&m->u.tcp, &tcp, sizeof(tcp));
	ipt2bpf_table_free(t);
	free(r);

	ip.proto = IPPROTO_UDP;
	r = one_rule(&b, &len, &ip, "udp", 0, &udp, sizeof(udp));
	m = decode_one(r, len, &t);
	assert_int_equal(m->kind, IPT2BPF_M_UDP);
	assert_memory_equal(&m->u.udp, &udp, sizeof(udp));
	ipt2bpf_table_free(t);
	free(r);

	ip.proto = IPPROTO_ICMP;
	r = one_rule(&b, &len, &ip, "icmp", 0, &icmp, sizeof(icmp));
	m = decode_one(r, len, &t);
	assert_int_equal(m->kind, IPT2BPF_M_ICMP);
	assert_memory_equal(&m->u.icmp, &icmp, sizeof(icmp));
	ipt2bpf_table_free(t);
	free(r);
}

static void match_multiport(void **state)
{
	struct blob b;
	size_t len;
	struct ipt2bpf_table *t;
	const struct ipt2bpf_match *m;
	struct ipt_replace *r;
	struct ipt_ip ip = ip_proto(IPPROTO_TCP);
	struct xt_multiport v0 = {.flags = XT_MULTIPORT_SOURCE, .count = 3, .ports = {22, 80, 443}};
	struct xt_multiport_v1 v1 = {.flags = XT_MULTIPORT_EITHER,
				     .count = 3,
				     .ports = {22, 1000, 2000},
				     .pflags = {0, 1, 0},
				     .invert = 1};

	(void)state;
	r = one_rule(&b, &len, &ip, "multiport", 1, &v1, sizeof(v1));
	m = decode_one(r, len, &t);
	assert_int_equal(m->kind, IPT2BPF_M_MULTIPORT);
	assert_int_equal(m->revision, 1);
	assert_memory_equal(&m->u.multiport, &v1, sizeof(v1));
	ipt2bpf_table_free(t);
	free(r);

	/* Revision 0 is widened: same ports, no ranges, no inversion. */
	r = one_rule(&b, &len, &ip, "multiport", 0, &v0, sizeof(v0));
	m = decode_one(r, len, &t);
	assert_int_equal(m->kind, IPT2BPF_M_MULTIPORT);
	assert_int_equal(m->revision, 0);
	assert_int_equal(m->u.multiport.flags, XT_MULTIPORT_SOURCE);
	assert_int_equal(m->u.multiport.count, 3);
	assert_int_equal(m->u.multiport.ports[0], 22);
	assert_int_equal(m->u.multiport.ports[1], 80);
	assert_int_equal(m->u.multiport.ports[2], 443);
	for (unsigned int i = 0; i < XT_MULTI_PORTS; i++)
		assert_int_equal(m->u.multiport.pflags[i], 0);
	assert_int_equal(m->u.multiport.invert, 0);
	ipt2bpf_table_free(t);
	free(r);
}

static void match_iprange(void **state)
{
	struct blob b;
	size_t len;
	struct ipt2bpf_table *t;
	const struct ipt2bpf_match *m;
	struct ipt_replace *r;
	struct xt_iprange_mtinfo v1;
	struct ipt2bpf_iprange_v0 v0;
	struct xt_iprange_mtinfo zero;

	(void)state;
	memset(&v1, 0, sizeof(v1));
	v1.src_min.ip = htonl(0x0A000001);
	v1.src_max.ip = htonl(0x0A000009);
	v1.flags = IPRANGE_SRC;
	r = one_rule(&b, &len, NULL, "iprange", 1, &v1, sizeof(v1));
	m = decode_one(r, len, &t);
	assert_int_equal(m->kind, IPT2BPF_M_IPRANGE);
	assert_memory_equal(&m->u.iprange, &v1, sizeof(v1));
	ipt2bpf_table_free(t);
	free(r);

	memset(&v0, 0, sizeof(v0));
	v0.src.min_ip = htonl(0x0A000001);
	v0.src.max_ip = htonl(0x0A000009);
	v0.dst.min_ip = htonl(0xC0A80001);
	v0.dst.max_ip = htonl(0xC0A800FE);
	v0.flags = IPRANGE_SRC | IPRANGE_DST | IPRANGE_DST_INV;
	r = one_rule(&b, &len, NULL, "iprange", 0, &v0, sizeof(v0));
	m = decode_one(r, len, &t);
	assert_int_equal(m->kind, IPT2BPF_M_IPRANGE);
	assert_int_equal(m->revision, 0);
	assert_int_equal(m->u.iprange.src_min.ip, htonl(0x0A000001));
	assert_int_equal(m->u.iprange.src_max.ip, htonl(0x0A000009));
	assert_int_equal(m->u.iprange.dst_min.ip, htonl(0xC0A80001));
	assert_int_equal(m->u.iprange.dst_max.ip, htonl(0xC0A800FE));
	assert_int_equal(m->u.iprange.flags, IPRANGE_SRC | IPRANGE_DST | IPRANGE_DST_INV);
	/* The IPv6 rest of each address is zero. */
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&m->u.iprange.src_min.ip6[1], &zero.src_min.ip6[1], 12);
	assert_memory_equal(&m->u.iprange.dst_max.ip6[1], &zero.dst_max.ip6[1], 12);
	ipt2bpf_table_free(t);
	free(r);
}

static void match_comment(void **state)
{
	struct blob b;
	size_t len;
	struct ipt2bpf_table *t;
	const struct ipt2bpf_match *m;
	struct ipt_replace *r;
	struct xt_comment_info c;

	(void)state;
	memset(&c, 'z', sizeof(c)); /* the kernel does not require a NUL */
	memcpy(c.comment, "allow \"ssh\"", 12);
	r = one_rule(&b, &len, NULL, "comment", 0, &c, sizeof(c));
	m = decode_one(r, len, &t);
	assert_int_equal(m->kind, IPT2BPF_M_COMMENT);
	assert_string_equal(m->u.comment, "allow \"ssh\"");
	ipt2bpf_table_free(t);
	free(r);

	memset(&c, 'z', sizeof(c));
	r = one_rule(&b, &len, NULL, "comment", 0, &c, sizeof(c));
	m = decode_one(r, len, &t);
	assert_int_equal(strlen(m->u.comment), XT_MAX_COMMENT_LEN - 1);
	ipt2bpf_table_free(t);
	free(r);
}

static void several_matches_in_order(void **state)
{
	struct blob b;
	size_t len;
	struct ipt2bpf_table *t;
	struct ipt2bpf_diag d;
	struct ipt_replace *r;
	struct ipt_ip ip = ip_proto(IPPROTO_UDP);
	struct xt_udp udp = {.spts = {0, 65535}, .dpts = {53, 53}};
	struct xt_comment_info c = {.comment = "dns"};
	struct xt_multiport_v1 mp = {.flags = XT_MULTIPORT_DESTINATION, .count = 1, .ports = {53}};

	(void)state;
	blob_init(&b, "security", FILTER_HOOKS);
	blob_hook(&b, IN);
	blob_entry(&b, &ip);
	blob_match(&b, "udp", 0, &udp, sizeof(udp));
	blob_match(&b, "comment", 0, &c, sizeof(c));
	blob_match(&b, "multiport", 1, &mp, sizeof(mp));
	blob_std(&b, VERDICT_DROP);
	blob_policy(&b, IN, VERDICT_ACCEPT);
	blob_policy(&b, FWD, VERDICT_ACCEPT);
	blob_policy(&b, OUT, VERDICT_ACCEPT);
	blob_error(&b, "ERROR");
	r = blob_finish(&b, &len);
	assert_int_equal(decode(r, len, &t, &d), 0);
	assert_string_equal(t->name, "security");
	assert_int_equal(t->entries[0].n_matches, 3);
	assert_int_equal(t->entries[0].matches[0].kind, IPT2BPF_M_UDP);
	assert_int_equal(t->entries[0].matches[1].kind, IPT2BPF_M_COMMENT);
	assert_int_equal(t->entries[0].matches[2].kind, IPT2BPF_M_MULTIPORT);
	assert_int_equal(t->entries[0].target.kind, IPT2BPF_T_DROP);
	assert_string_equal(describe(t, 0), "security/INPUT#1");
	ipt2bpf_table_free(t);
	free(r);
}

/* ---------------------------------------------------------------- ip fields */

static void iface_masks(void **state)
{
	struct blob b;
	size_t len;
	struct ipt2bpf_table *t;
	struct ipt2bpf_diag d;
	struct ipt_replace *r;
	struct ipt_ip ip;

	(void)state;
	/* "-i eth0": the name and its NUL. */
	memset(&ip, 0, sizeof(ip));
	strcpy(ip.iniface, "eth0");
	memset(ip.iniface_mask, 0xFF, 5);
	/* "-o eth+": the prefix only. */
	strcpy(ip.outiface, "eth+");
	memset(ip.outiface_mask, 0xFF, 3);
	r = one_rule(&b, &len, &ip, NULL, 0, NULL, 0);
	assert_int_equal(decode(r, len, &t, &d), 0);
	assert_memory_equal(&t->entries[0].ip, &ip, sizeof(ip)); /* exactly as in the blob */
	ipt2bpf_table_free(t);
	free(r);

	/* "-i +": nothing compared. */
	memset(&ip, 0, sizeof(ip));
	strcpy(ip.iniface, "+");
	r = one_rule(&b, &len, &ip, NULL, 0, NULL, 0);
	assert_int_equal(decode(r, len, &t, &d), 0);
	ipt2bpf_table_free(t);
	free(r);

	/* A hole in the mask. */
	memset(&ip, 0, sizeof(ip));
	strcpy(ip.iniface, "eth0");
	memset(ip.iniface_mask, 0xFF, 5);
	ip.iniface_mask[1] = 0;
	r = one_rule(&b, &len, &ip, NULL, 0, NULL, 0);
	assert_refused(r, len, -EOPNOTSUPP, "filter/INPUT#1: -i mask is not an interface name");
	free(r);

	/* Mask beyond the name's NUL. */
	memset(&ip, 0, sizeof(ip));
	strcpy(ip.outiface, "lo");
	memset(ip.outiface_mask, 0xFF, 8);
	r = one_rule(&b, &len, &ip, NULL, 0, NULL, 0);
	assert_refused(r, len, -EOPNOTSUPP, "filter/INPUT#1: -o mask covers bytes after");
	free(r);
}

/* ---------------------------------------------------------------- refusals */

static void refuses_untranslated(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;
	struct xt_policy_info pol = {.flags = XT_POLICY_MATCH_IN};
	struct xt_led_info led = {.id = "x"};

	(void)state;
	struct xt_l2tp_info l2tp = {.tid = 1, .version = 3, .flags = XT_L2TP_TID | XT_L2TP_VERSION};

	r = one_rule(&b, &len, NULL, "l2tp", 0, &l2tp, sizeof(l2tp));
	assert_refused(r, len, -EOPNOTSUPP,
		       "filter/INPUT#1: match 'l2tp' (revision 0) is not supported by ipt2bpf yet");
	free(r);
	/* Refused with the reason (codegen/refused.c). */
	r = one_rule(&b, &len, NULL, "policy", 0, &pol, sizeof(pol));
	assert_refused(r, len, -EOPNOTSUPP,
		       "filter/INPUT#1: match 'policy': not supported: IPsec policy state");
	free(r);

	blob_init(&b, "filter", FILTER_HOOKS);
	blob_policy(&b, IN, VERDICT_ACCEPT);
	blob_policy(&b, FWD, VERDICT_DROP);
	blob_hook(&b, OUT);
	blob_entry(&b, NULL);
	blob_std(&b, VERDICT_ACCEPT);
	blob_entry(&b, NULL);
	blob_end(&b, "LED", 0, &led, sizeof(led));
	blob_policy(&b, OUT, VERDICT_ACCEPT);
	blob_error(&b, "ERROR");
	r = blob_finish(&b, &len);
	assert_refused(
		r, len, -EOPNOTSUPP,
		"filter/OUTPUT#2: target 'LED': not supported: it drives a kernel LED trigger");
	free(r);
}

static void refuses_queue_and_unreachable_bad_jump(void **state)
{
	struct blob b;
	size_t len;
	struct ipt_replace *r;
	struct xt_standard_target *st;

	(void)state;
	r = structure(&b, &len);
	st = (void *)((unsigned char *)repl_entry(r, &b, 4) + repl_entry(r, &b, 4)->target_offset);
	st->verdict = VERDICT_QUEUE;
	assert_refused(r, len, -EOPNOTSUPP, "filter/INPUT#5: verdict QUEUE");
	free(r);

	/* The kernel accepts any jump on a rule no hook reaches; we refuse it. */
	r = structure(&b, &len);
	st = (void *)((unsigned char *)repl_entry(r, &b, 7) + repl_entry(r, &b, 7)->target_offset);
	st->verdict = VERDICT_ACCEPT;
	st = (void *)((unsigned char *)repl_entry(r, &b, 1) + repl_entry(r, &b, 1)->target_offset);
	st->verdict = VERDICT_ACCEPT;
	st = (void *)((unsigned char *)repl_entry(r, &b, 2) + repl_entry(r, &b, 2)->target_offset);
	st->verdict = VERDICT_ACCEPT;
	st = (void *)((unsigned char *)repl_entry(r, &b, 10) +
		      repl_entry(r, &b, 10)->target_offset);
	st->verdict = b.off[10] + 8;
	assert_refused(r, len, -EOPNOTSUPP, "filter/web#1: jump to offset");
	free(r);
}

/* ---------------------------------------------------------------- dump */

static void dump(void **state)
{
	struct blob b;
	size_t len, n;
	struct ipt_replace *r = structure(&b, &len);
	struct ipt2bpf_table *t;
	struct ipt2bpf_diag d;
	char *text = NULL;
	FILE *f = open_memstream(&text, &n);

	(void)state;
	assert_int_equal(decode(r, len, &t, &d), 0);
	ipt2bpf_table_dump(t, f);
	fclose(f);
	assert_non_null(
		strstr(text, "table filter: 14 entries, 4 chains, hooks INPUT,FORWARD,OUTPUT"));
	assert_non_null(strstr(text, "Chain INPUT (built-in, hook INPUT, policy ACCEPT, 5 rules"));
	assert_non_null(strstr(text, "Chain web (user, entries e9-e12, 2 rules, 3 references)"));
	assert_non_null(strstr(text, "match tcp (rev 0): --dport 22"));
	assert_non_null(strstr(text, "-> GOTO e10 (filter/web#1)"));
	assert_non_null(strstr(text, "-> CONTINUE e4 (filter/INPUT#5)"));
	assert_non_null(strstr(text, "-> JUMP e11 (filter/web#2)"));
	assert_non_null(strstr(text, "ip: -p udp"));
	assert_non_null(strstr(text, "-> ERROR \"ERROR\""));
	free(text);
	ipt2bpf_table_free(t);
	free(r);
}

/* ---------------------------------------------------------------- a blob iptables made */

/* tests/unit/data/X from the repository root, or relative to build/tests/test_ir. */
static void *read_data(const char *name, size_t *len)
{
	char path[PATH_MAX + 64], exe[PATH_MAX];
	ssize_t n;
	FILE *f;
	void *buf;

	snprintf(path, sizeof(path), "tests/unit/data/%s", name);
	f = fopen(path, "rb");
	if (!f && (n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		snprintf(path, sizeof(path), "%s/../../tests/unit/data/%s", exe, name);
		f = fopen(path, "rb");
	}
	if (!f)
		fail_msg("cannot open tests/unit/data/%s", name);
	buf = malloc(1 << 16);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

static void kernel_blob(void **state)
{
	size_t len;
	/* filter-basic.rules, loaded with iptables-legacy-restore 1.8.9 and read
	 * back with IPT_SO_GET_ENTRIES */
	struct ipt_replace *r = read_data("filter-basic.blob", &len);
	struct ipt2bpf_table *t;
	struct ipt2bpf_diag d;
	static const struct {
		const char *name;
		unsigned int rules, refs;
	} want[] = {{"INPUT", 6, 0}, {"FORWARD", 2, 0}, {"OUTPUT", 1, 0},
		    {"deep", 1, 2},  {"empty", 0, 1},	{"web", 3, 3}};

	(void)state;
	if (decode(r, len, &t, &d))
		fail_msg("%s", d.msg);
	assert_int_equal(t->n_chains, ARRAY_SIZE(want));
	for (unsigned int i = 0; i < ARRAY_SIZE(want); i++) {
		assert_string_equal(t->chains[i].name, want[i].name);
		assert_int_equal(t->chains[i].n_rules, want[i].rules);
		assert_int_equal(t->chains[i].references, want[i].refs);
	}
	assert_int_equal(t->chains[1].policy, NF_DROP);
	/* INPUT#4: -p tcp -m multiport --dports 22,80,1000:2000 -j web */
	assert_int_equal(t->entries[3].matches[0].kind, IPT2BPF_M_MULTIPORT);
	assert_int_equal(t->entries[3].matches[0].u.multiport.count, 4);
	assert_int_equal(t->entries[3].target.kind, IPT2BPF_T_JUMP);
	assert_string_equal(describe(t, t->entries[3].target.target_entry), "filter/web#1");
	/* INPUT#5: -m iprange --src-range 10.0.0.1-10.0.0.9 -g web */
	assert_int_equal(t->entries[4].target.kind, IPT2BPF_T_GOTO);
	assert_int_equal(t->entries[4].matches[0].u.iprange.src_max.ip, htonl(0x0A000009));
	/* INPUT#1: -p tcp -s 10.0.0.0/8 -i eth0 --dport 80 */
	assert_int_equal(t->entries[0].ip.src.s_addr, htonl(0x0A000000));
	assert_int_equal(t->entries[0].ip.smsk.s_addr, htonl(0xFF000000));
	assert_string_equal(t->entries[0].ip.iniface, "eth0");
	assert_int_equal(t->entries[0].matches[0].u.tcp.dpts[0], 80);
	/* FORWARD#2: -f -j DROP */
	assert_int_equal(t->entries[8].ip.flags, IPT_F_FRAG);
	ipt2bpf_table_free(t);
	free(r);
}

static void free_null(void **state)
{
	struct ipt2bpf_table *t = NULL;

	(void)state;
	ipt2bpf_table_free(NULL);
	ipt2bpf_table_freep(&t);
	assert_null(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decode_structure),
		cmocka_unit_test(validation_errors_pass_through),
		cmocka_unit_test(match_tcp_udp_icmp),
		cmocka_unit_test(match_multiport),
		cmocka_unit_test(match_iprange),
		cmocka_unit_test(match_comment),
		cmocka_unit_test(several_matches_in_order),
		cmocka_unit_test(iface_masks),
		cmocka_unit_test(refuses_untranslated),
		cmocka_unit_test(refuses_queue_and_unreachable_bad_jump),
		cmocka_unit_test(dump),
		cmocka_unit_test(kernel_blob),
		cmocka_unit_test(free_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
