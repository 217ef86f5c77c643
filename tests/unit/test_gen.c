// SPDX-License-Identifier: GPL-2.0
/*
 * Code generator tests: IR tables built by hand, generated, loaded into the
 * real verifier, and packets run through the trace programs with
 * BPF_PROG_TEST_RUN, checking the verdict and the counter of every entry.
 * The expected results are what ipt_do_table() does (net/ipv4/netfilter/
 * ip_tables.c, xt_tcpudp.c, xt_multiport.c, xt_iprange.c, ip_input.c).
 * Needs root (BPF); skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <cmocka.h>

#include "codegen/load.h"
#include "translator/util.h"
#include "codegen/progset.h"
#include "rig.h"

/* ------------------------------------------------------------ running */

struct rig {
	struct ipt2bpf_progset *ps;
	struct ipt2bpf_loaded l;
	const struct ipt2bpf_table *t[2];
	unsigned int n;
	struct ipt2bpf_counter *before[2], *after[2];
};

static int rig_gen(struct rig *r, const struct ipt2bpf_table *t0, const struct ipt2bpf_table *t1,
		   enum ipt2bpf_mode mode, struct ipt2bpf_diag *d)
{
	struct ipt2bpf_gen_opts o = {.mode = mode, .trace = true};

	memset(r, 0, sizeof(*r));
	r->t[0] = t0;
	r->t[1] = t1;
	r->n = t1 ? 2 : 1;
	return ipt2bpf_gen(r->t, r->n, &o, &r->ps, d);
}

/* Generate, load; iif is "eth0" (IF_IN), oif "ppp1" (IF_OUT) unless changed with rig_devs(). */
static void rig_load2(struct rig *r, const struct ipt2bpf_table *t0, const struct ipt2bpf_table *t1)
{
	struct ipt2bpf_diag d = {0};
	int err = rig_gen(r, t0, t1, IPT2BPF_MODE_TC, &d);

	if (err)
		fail_msg("gen: %s", d.msg);
	err = ipt2bpf_progset_load(r->ps, &r->l, &d);
	if (err)
		fail_msg("load: %s", d.msg);
	for (unsigned int k = 0; k < r->n; k++) {
		r->before[k] = calloc(r->t[k]->n_entries, sizeof(struct ipt2bpf_counter));
		r->after[k] = calloc(r->t[k]->n_entries, sizeof(struct ipt2bpf_counter));
		assert_true(r->before[k] && r->after[k]);
	}
	assert_int_equal(ipt2bpf_ifaces_set(r->ps, &r->l, IF_IN, "eth0"), 0);
	assert_int_equal(ipt2bpf_ifaces_set(r->ps, &r->l, IF_OUT, "ppp1"), 0);
}

static void rig_load(struct rig *r, const struct ipt2bpf_table *t)
{
	rig_load2(r, t, NULL);
}

static void rig_free(struct rig *r)
{
	ipt2bpf_loaded_close(&r->l);
	ipt2bpf_progset_free(r->ps);
	for (unsigned int k = 0; k < 2; k++) {
		free(r->before[k]);
		free(r->after[k]);
	}
	memset(r, 0, sizeof(*r));
}

static int prog_fd(const struct rig *r, enum ipt2bpf_prog_role role, int hook)
{
	for (unsigned int i = 0; i < r->ps->n_progs; i++)
		if (r->ps->progs[i].role == role &&
		    (role != IPT2BPF_P_TRACE || r->ps->progs[i].hook == hook))
			return r->l.prog_fds[i];
	fail_msg("no program for role %d hook %d", role, hook);
	return -1;
}

static void counters(struct rig *r, struct ipt2bpf_counter **into)
{
	for (unsigned int k = 0; k < r->n; k++)
		assert_int_equal(ipt2bpf_counters_read(r->l.map_fds[r->ps->counter_map[k]],
						       r->t[k]->n_entries, into[k]),
				 0);
}

/* The trace program's devices: what `ipt2bpf trace` sets in ipt_cfg[0]. */
static void rig_devs(struct rig *r, uint32_t iif, uint32_t oif)
{
	struct ipt2bpf_cfg cfg = {.iif = iif, .oif = oif};
	uint32_t zero = 0;
	int map = ipt2bpf_progset_find_map(r->ps, IPT2BPF_MAP_CFG);

	assert_true(map >= 0);
	assert_int_equal(bpf_map_update_elem(r->l.map_fds[map], &zero, &cfg, BPF_ANY), 0);
}

enum { V_PASS = TC_ACT_UNSPEC, V_ACCEPT = TC_ACT_OK, V_DROP = TC_ACT_SHOT };

static int run_fd(struct rig *r, int fd, const struct pkt *p)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .repeat = 1);

	counters(r, r->before);
	assert_int_equal(bpf_prog_test_run_opts(fd, &o), 0);
	counters(r, r->after);
	return (int)o.retval;
}

/* Runs p through the trace program of hook with the default devices for that hook. */
static int run(struct rig *r, int hook, const struct pkt *p)
{
	rig_devs(r, hook == NF_INET_LOCAL_OUT ? 0 : IF_IN, hook == NF_INET_LOCAL_IN ? 0 : IF_OUT);
	return run_fd(r, prog_fd(r, IPT2BPF_P_TRACE, hook), p);
}

/* Packets counted by entry e of table k in the last run. */
static uint64_t hits(const struct rig *r, unsigned int k, unsigned int e)
{
	return r->after[k][e].pcnt - r->before[k][e].pcnt;
}

static uint64_t bytes(const struct rig *r, unsigned int k, unsigned int e)
{
	return r->after[k][e].bcnt - r->before[k][e].bcnt;
}

/* Exactly the entries listed (terminated by -1) counted one packet each, in table 0. */
static void expect_counted(const struct rig *r, ...)
{
	bool want[4096] = {false};
	va_list ap;
	int e;

	va_start(ap, r);
	while ((e = va_arg(ap, int)) >= 0)
		want[e] = true;
	va_end(ap);
	for (unsigned int i = 0; i < r->t[0]->n_entries; i++)
		if (hits(r, 0, i) != (want[i] ? 1 : 0))
			fail_msg("entry %u counted %llu packets, expected %d", i,
				 (unsigned long long)hits(r, 0, i), want[i] ? 1 : 0);
}

#define COUNTED(r, ...) expect_counted(r, ##__VA_ARGS__, -1)

static const struct ipspec base = {.src = "10.0.0.1", .dst = "10.0.0.2"};

/* ------------------------------------------------------------ tests: ipt_ip */

static void test_addresses(void **state)
{
	struct tb *b;
	struct ipt2bpf_entry *e;
	struct rig r;
	struct pkt p;
	unsigned int r1, r2, r3, pol;

	(void)state;
	if (!have_root())
		skip();
	b = tb_new("filter", 64);
	tb_chain(b, "INPUT");
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* -s 192.168.0.0/16 (counts only) */
	r_src(e, "192.168.0.0", 16, false);
	r1 = e->index;
	e = tb_rule(b, IPT2BPF_T_DROP); /* ! -d 10.0.0.2 -j DROP */
	r_dst(e, "10.0.0.2", 32, true);
	r2 = e->index;
	e = tb_rule(b, IPT2BPF_T_ACCEPT); /* -s 10.128.0.0/9 -j ACCEPT */
	r_src(e, "10.128.0.0", 9, false);
	r3 = e->index;
	pol = tb_end(b, NF_DROP);
	tb_chain(b, "FORWARD");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	tb_end(b, NF_ACCEPT);
	rig_load(&r, tb_done(b));

	/* 192.168.5.5 -> 10.0.0.2: r1 counts, r2 no (dst equal), r3 no, policy DROP. */
	pkt_udp(&p, &(struct ipspec){.src = "192.168.5.5", .dst = "10.0.0.2"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, r1, pol);
	assert_int_equal(bytes(&r, 0, r1), p.len - ETH_HLEN);
	/* dst 10.0.0.3: r2 (inverted) drops. */
	pkt_udp(&p, &(struct ipspec){.src = "10.200.0.1", .dst = "10.0.0.3"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, r2);
	/* 10.200.0.1 is in 10.128.0.0/9, 10.1.0.1 is not. */
	pkt_udp(&p, &(struct ipspec){.src = "10.200.0.1", .dst = "10.0.0.2"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_ACCEPT);
	COUNTED(&r, r3);
	pkt_udp(&p, &(struct ipspec){.src = "10.1.0.1", .dst = "10.0.0.2"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, pol);
	/* 192.169.0.1 is outside 192.168.0.0/16. */
	pkt_udp(&p, &(struct ipspec){.src = "192.169.0.1", .dst = "10.0.0.2"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, pol);
	rig_free(&r);
	tb_free(b);
}

static void test_interfaces(void **state)
{
	struct tb *b;
	struct ipt2bpf_entry *e;
	struct rig r;
	struct pkt p;
	unsigned int r_any, r_eth, r_noteth0, r_ppp, r_lo, pol;

	(void)state;
	if (!have_root())
		skip();
	b = tb_new("filter", 64);
	tb_chain(b, "INPUT");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "FORWARD");
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* -i + (all-zero mask: every device) */
	r_in(e, "+", false);
	r_any = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* -i eth+ */
	r_in(e, "eth+", false);
	r_eth = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* ! -i eth0 */
	r_in(e, "eth0", true);
	r_noteth0 = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* -o ppp1 */
	r_out(e, "ppp1", false);
	r_ppp = e->index;
	e = tb_rule(b, IPT2BPF_T_DROP); /* -i eth1 -o ppp+ -j DROP */
	r_in(e, "eth1", false);
	r_out(e, "ppp+", false);
	r_lo = e->index;
	pol = tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	e = tb_rule(b, IPT2BPF_T_DROP); /* -i eth+: OUTPUT has no input device, never matches */
	r_in(e, "eth+", false);
	tb_end(b, NF_ACCEPT);
	rig_load(&r, tb_done(b));
	assert_int_equal(r.ps->n_ifpats, 5); /* eth+ eth0 ppp1 eth1 ppp+ ("+" needs none) */

	/* eth0 -> ppp1 */
	pkt_udp(&p, &base, 1, 2);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, r_any, r_eth, r_ppp, pol);
	/* eth1 -> ppp1: the last rule drops. */
	assert_int_equal(ipt2bpf_ifaces_set(r.ps, &r.l, 7, "eth1"), 0);
	rig_devs(&r, 7, IF_OUT);
	assert_int_equal(run_fd(&r, prog_fd(&r, IPT2BPF_P_TRACE, NF_INET_FORWARD), &p), V_DROP);
	COUNTED(&r, r_any, r_eth, r_noteth0, r_ppp, r_lo);
	/* "eth" alone is not "eth+"... it is: the mask compares 3 bytes.  "et" is not. */
	assert_int_equal(ipt2bpf_ifaces_set(r.ps, &r.l, 8, "eth"), 0);
	rig_devs(&r, 8, 9);
	assert_int_equal(run_fd(&r, prog_fd(&r, IPT2BPF_P_TRACE, NF_INET_FORWARD), &p), V_ACCEPT);
	COUNTED(&r, r_any, r_eth, r_noteth0, pol);
	assert_int_equal(ipt2bpf_ifaces_set(r.ps, &r.l, 8, "et"), 0);
	assert_int_equal(run_fd(&r, prog_fd(&r, IPT2BPF_P_TRACE, NF_INET_FORWARD), &p), V_ACCEPT);
	COUNTED(&r, r_any, r_noteth0, pol);
	/* eth0x is not eth0 (the NUL is compared). */
	assert_int_equal(ipt2bpf_ifaces_set(r.ps, &r.l, 8, "eth0x"), 0);
	assert_int_equal(run_fd(&r, prog_fd(&r, IPT2BPF_P_TRACE, NF_INET_FORWARD), &p), V_ACCEPT);
	COUNTED(&r, r_any, r_eth, r_noteth0, pol);
	/* OUTPUT: no input device, -i eth+ cannot match. */
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &p), V_ACCEPT);
	rig_free(&r);
	tb_free(b);
}

static void test_proto_frag_flags(void **state)
{
	struct tb *b;
	struct ipt2bpf_entry *e;
	struct rig r;
	struct pkt p;
	unsigned int r_udp, r_nottcp, r_frag, r_notfrag, pol;

	(void)state;
	if (!have_root())
		skip();
	b = tb_new("filter", 64);
	tb_chain(b, "INPUT");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "FORWARD");
	e = tb_rule(b, IPT2BPF_T_CONTINUE);
	r_proto(e, IPPROTO_UDP, false);
	r_udp = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE);
	r_proto(e, IPPROTO_TCP, true);
	r_nottcp = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* -f */
	e->ip.flags |= IPT_F_FRAG;
	r_frag = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* ! -f */
	e->ip.flags |= IPT_F_FRAG;
	e->ip.invflags |= IPT_INV_FRAG;
	r_notfrag = e->index;
	pol = tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	tb_end(b, NF_ACCEPT);
	rig_load(&r, tb_done(b));

	pkt_udp(&p, &base, 1, 2);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, r_udp, r_nottcp, r_notfrag, pol);
	pkt_tcp(&p, &base, 1, 2, 0x02, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, r_notfrag, pol);
	/* A first fragment (offset 0, MF) is not a fragment for -f. */
	pkt_udp(&p, &(struct ipspec){.frag = F_MF, .id = 7}, 1, 2);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, r_udp, r_nottcp, r_notfrag, pol);
	pkt_udp(&p, &(struct ipspec){.frag = 3, .id = 7}, 1, 2);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, r_udp, r_nottcp, r_frag, pol);
	/* TTL 1 is never forwarded (ip_forward() answers it before the hook). */
	pkt_udp(&p, &(struct ipspec){.ttl = 1}, 1, 2);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_PASS);
	COUNTED(&r);
	rig_free(&r);
	tb_free(b);
}

/* ------------------------------------------------------------ tests: matches */

/* A FORWARD-only table whose rules are built by fn; returns the policy entry. */
static struct tb *fwd_table(void (*fn)(struct tb *b, unsigned int *idx), unsigned int *idx,
			    unsigned int *pol)
{
	struct tb *b = tb_new("filter", 128);

	tb_chain(b, "INPUT");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "FORWARD");
	fn(b, idx);
	*pol = tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	tb_end(b, NF_ACCEPT);
	tb_done(b);
	return b;
}

static void tcp_rules(struct tb *b, unsigned int *idx)
{
	struct ipt2bpf_entry *e;
	struct xt_tcp *t;

	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 0: --sport 1024:65535 */
	r_proto(e, IPPROTO_TCP, false);
	m_tcp(b, e)->spts[0] = 1024;
	idx[0] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 1: ! --dport 22 */
	r_proto(e, IPPROTO_TCP, false);
	t = m_tcp(b, e);
	t->dpts[0] = t->dpts[1] = 22;
	t->invflags = XT_TCP_INV_DSTPT;
	idx[1] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 2: --syn */
	r_proto(e, IPPROTO_TCP, false);
	t = m_tcp(b, e);
	t->flg_mask = 0x17; /* FIN SYN RST ACK */
	t->flg_cmp = 0x02;
	idx[2] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 3: ! --syn */
	r_proto(e, IPPROTO_TCP, false);
	t = m_tcp(b, e);
	t->flg_mask = 0x17;
	t->flg_cmp = 0x02;
	t->invflags = XT_TCP_INV_FLAGS;
	idx[3] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 4: --dport 0:0 */
	r_proto(e, IPPROTO_TCP, false);
	t = m_tcp(b, e);
	t->dpts[1] = 0;
	idx[4] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 5: ! --sport 100:200 */
	r_proto(e, IPPROTO_TCP, false);
	t = m_tcp(b, e);
	t->spts[0] = 100;
	t->spts[1] = 200;
	t->invflags = XT_TCP_INV_SRCPT;
	idx[5] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 6: --dport 65535 */
	r_proto(e, IPPROTO_TCP, false);
	t = m_tcp(b, e);
	t->dpts[0] = 65535;
	idx[6] = e->index;
}

static void test_tcp_ports_flags(void **state)
{
	unsigned int i[8], pol;
	struct tb *b;
	struct rig r;
	struct pkt p;

	(void)state;
	if (!have_root())
		skip();
	b = fwd_table(tcp_rules, i, &pol);
	rig_load(&r, &b->t);

	pkt_tcp(&p, &base, 1024, 22, 0x02, NULL, 0); /* SYN */
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], i[2], i[5], pol);
	pkt_tcp(&p, &base, 1023, 23, 0x12, NULL, 0); /* SYN ACK */
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[1], i[3], i[5], pol);
	pkt_tcp(&p, &base, 100, 0, 0x02, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[1], i[2], i[4], pol);
	pkt_tcp(&p, &base, 200, 65535, 0x10, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[1], i[3], i[6], pol);
	pkt_tcp(&p, &base, 65535, 65534, 0x01, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], i[1], i[3], i[5], pol);
	rig_free(&r);
	tb_free(b);
}

static void tcpopt_rules(struct tb *b, unsigned int *idx)
{
	struct ipt2bpf_entry *e;
	struct xt_tcp *t;

	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 0: --tcp-option 2 (MSS) */
	r_proto(e, IPPROTO_TCP, false);
	m_tcp(b, e)->option = 2;
	idx[0] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 1: ! --tcp-option 8 (timestamps) */
	r_proto(e, IPPROTO_TCP, false);
	t = m_tcp(b, e);
	t->option = 8;
	t->invflags = XT_TCP_INV_OPTION;
	idx[1] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 2: --tcp-option 200 (kind >= 128: word 3) */
	r_proto(e, IPPROTO_TCP, false);
	m_tcp(b, e)->option = 200;
	idx[2] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 3: --dport 9 --tcp-option 1 (NOP) */
	r_proto(e, IPPROTO_TCP, false);
	t = m_tcp(b, e);
	t->dpts[0] = t->dpts[1] = 9;
	t->option = 1;
	idx[3] = e->index;
}

static void test_tcp_options(void **state)
{
	unsigned int i[4], pol;
	struct tb *b;
	struct rig r;
	struct pkt p;
	/* MSS, NOP, NOP, SACK-permitted(4,2), window scale(3,3,7), EOL */
	static const uint8_t opts1[] = {2, 4, 5, 0xb4, 1, 1, 4, 2, 3, 3, 7, 0};
	/* timestamps; a kind 200 option hidden inside the TS value must not count */
	static const uint8_t opts2[] = {8, 10, 200, 0, 0, 0, 0, 0, 0, 0, 1, 1};
	/* kind 200 with length 0 (the walk steps 1), then kind 2 at the last byte */
	static const uint8_t opts3[] = {200, 0, 1, 2};

	(void)state;
	if (!have_root())
		skip();
	b = fwd_table(tcpopt_rules, i, &pol);
	rig_load(&r, &b->t);

	pkt_tcp(&p, &base, 1, 2, 0x02, opts1, sizeof(opts1));
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], i[1], pol);
	pkt_tcp(&p, &base, 1, 9, 0x02, opts2, sizeof(opts2));
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[3], pol);
	pkt_tcp(&p, &base, 1, 9, 0x02, opts3, sizeof(opts3));
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], i[1], i[2], i[3], pol);
	/* No options (doff 5): --tcp-option gives `invert` without reading. */
	pkt_tcp(&p, &base, 1, 9, 0x02, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[1], pol);

	/* doff 4 (< 20 bytes): hotdrop at the first --tcp-option rule, nothing counted. */
	pkt_tcp(&p, &base, 1, 9, 0x02, NULL, 0);
	p.b[ETH_HLEN + 20 + 12] = 4 << 4;
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_DROP);
	COUNTED(&r);
	/* doff 8 but only 20 option bytes... the datagram ends early: hotdrop. */
	pkt_tcp(&p, &base, 1, 9, 0x02, opts1, sizeof(opts1));
	p.b[ETH_HLEN + 20 + 12] = 10 << 4;
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_DROP);
	COUNTED(&r);
	rig_free(&r);
	tb_free(b);
}

static void tcp_hd_rules(struct tb *b, unsigned int *idx)
{
	struct ipt2bpf_entry *e;

	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 0: -p tcp (no match: counts anything tcp) */
	r_proto(e, IPPROTO_TCP, false);
	idx[0] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 1: -p tcp --dport 80 */
	r_proto(e, IPPROTO_TCP, false);
	m_tcp(b, e)->dpts[0] = 80;
	m_tcp(b, e); /* a second tcp match: both must pass */
	b->m[b->n_m - 2].u.tcp.dpts[1] = 80;
	idx[1] = e->index;
}

static void test_tcp_hotdrop(void **state)
{
	unsigned int i[2], pol;
	struct tb *b;
	struct rig r;
	struct pkt p;

	(void)state;
	if (!have_root())
		skip();
	b = fwd_table(tcp_hd_rules, i, &pol);
	rig_load(&r, &b->t);

	pkt_tcp(&p, &base, 1, 80, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], i[1], pol);
	/* Fragment offset 1: the evil TCP fragment is dropped by the tcp match. */
	pkt_tcp(&p, &(struct ipspec){.frag = 1}, 1, 80, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_DROP);
	COUNTED(&r, i[0]);
	/* Offset 2: does not match, no hotdrop. */
	pkt_tcp(&p, &(struct ipspec){.frag = 2}, 1, 80, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], pol);
	/* 19 bytes of TCP header: hotdrop. */
	pkt_build(&p, &(struct ipspec){.proto = IPPROTO_TCP}, (uint8_t[20]){0, 1, 0, 80}, 19);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_DROP);
	COUNTED(&r, i[0]);
	/* Ethernet padding after the datagram is not the TCP header. */
	pkt_build(&p, &(struct ipspec){.proto = IPPROTO_TCP, .pad = 30}, "\0\1\0\x50", 4);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_DROP);
	COUNTED(&r, i[0]);
	assert_int_equal(bytes(&r, 0, i[0]), 24);
	rig_free(&r);
	tb_free(b);
}

static void udp_icmp_rules(struct tb *b, unsigned int *idx)
{
	struct ipt2bpf_entry *e;
	struct xt_udp *u;
	struct ipt_icmp *ic;

	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 0: -p udp --dport 53 */
	r_proto(e, IPPROTO_UDP, false);
	u = m_udp(b, e);
	u->dpts[0] = u->dpts[1] = 53;
	idx[0] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 1: -p udp ! --sport 1:1023 */
	r_proto(e, IPPROTO_UDP, false);
	u = m_udp(b, e);
	u->spts[0] = 1;
	u->spts[1] = 1023;
	u->invflags = XT_UDP_INV_SRCPT;
	idx[1] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 2: -p icmp --icmp-type any */
	r_proto(e, IPPROTO_ICMP, false);
	ic = &tb_match(b, e, IPT2BPF_M_ICMP)->u.icmp;
	ic->type = 0xff;
	ic->code[1] = 0xff;
	idx[2] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 3: -p icmp --icmp-type 3/1..3 (a code range) */
	r_proto(e, IPPROTO_ICMP, false);
	ic = &tb_match(b, e, IPT2BPF_M_ICMP)->u.icmp;
	ic->type = 3;
	ic->code[0] = 1;
	ic->code[1] = 3;
	idx[3] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 4: -p icmp ! --icmp-type echo-request */
	r_proto(e, IPPROTO_ICMP, false);
	ic = &tb_match(b, e, IPT2BPF_M_ICMP)->u.icmp;
	ic->type = 8;
	ic->code[1] = 0xff;
	ic->invflags = IPT_ICMP_INV;
	idx[4] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 5: -p icmp ! --icmp-type any: never */
	r_proto(e, IPPROTO_ICMP, false);
	ic = &tb_match(b, e, IPT2BPF_M_ICMP)->u.icmp;
	ic->type = 0xff;
	ic->code[1] = 0xff;
	ic->invflags = IPT_ICMP_INV;
	idx[5] = e->index;
}

static void test_udp_icmp(void **state)
{
	unsigned int i[6], pol;
	struct tb *b;
	struct rig r;
	struct pkt p;

	(void)state;
	if (!have_root())
		skip();
	b = fwd_table(udp_icmp_rules, i, &pol);
	rig_load(&r, &b->t);

	pkt_udp(&p, &base, 1024, 53);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], i[1], pol);
	pkt_udp(&p, &base, 1023, 54);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, pol);
	pkt_udp(&p, &base, 0, 54);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[1], pol);
	/* 7 bytes of UDP: hotdrop. */
	pkt_build(&p, &(struct ipspec){.proto = IPPROTO_UDP}, "\0\1\0\x35\0\7\0", 7);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_DROP);
	COUNTED(&r);
	/* UDP fragment with offset: port matches do not match, no hotdrop. */
	pkt_udp(&p, &(struct ipspec){.frag = 5}, 1024, 53);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, pol);

	pkt_icmp(&p, &base, 8, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[2], pol);
	pkt_icmp(&p, &base, 3, 1);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[2], i[3], i[4], pol);
	pkt_icmp(&p, &base, 3, 4);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[2], i[4], pol);
	pkt_icmp(&p, &base, 3, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[2], i[4], pol);
	/* 4 bytes of ICMP (struct icmphdr is 8): hotdrop even for type any. */
	pkt_build(&p, &(struct ipspec){.proto = IPPROTO_ICMP}, "\x08\0\0\0", 4);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_DROP);
	COUNTED(&r);
	rig_free(&r);
	tb_free(b);
}

static void mp_rules(struct tb *b, unsigned int *idx)
{
	struct ipt2bpf_entry *e;
	struct xt_multiport_v1 *m;

	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 0: -p tcp -m multiport --dports 22,80:90,443 */
	r_proto(e, IPPROTO_TCP, false);
	m = &tb_match(b, e, IPT2BPF_M_MULTIPORT)->u.multiport;
	m->flags = XT_MULTIPORT_DESTINATION;
	m->count = 4;
	m->ports[0] = 22;
	m->ports[1] = 80;
	m->pflags[1] = 1;
	m->ports[2] = 90;
	m->ports[3] = 443;
	idx[0] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 1: --sports 1000:2000 */
	r_proto(e, IPPROTO_TCP, false);
	m = &tb_match(b, e, IPT2BPF_M_MULTIPORT)->u.multiport;
	m->flags = XT_MULTIPORT_SOURCE;
	m->count = 2;
	m->ports[0] = 1000;
	m->pflags[0] = 1;
	m->ports[1] = 2000;
	idx[1] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 2: --ports 5,6 */
	r_proto(e, IPPROTO_TCP, false);
	m = &tb_match(b, e, IPT2BPF_M_MULTIPORT)->u.multiport;
	m->flags = XT_MULTIPORT_EITHER;
	m->count = 2;
	m->ports[0] = 5;
	m->ports[1] = 6;
	idx[2] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 3: ! --dports 80,0:10 */
	r_proto(e, IPPROTO_TCP, false);
	m = &tb_match(b, e, IPT2BPF_M_MULTIPORT)->u.multiport;
	m->flags = XT_MULTIPORT_DESTINATION;
	m->count = 3;
	m->ports[0] = 80;
	m->ports[1] = 0;
	m->pflags[1] = 1;
	m->ports[2] = 10;
	m->invert = 1;
	idx[3] = e->index;
}

static void test_multiport(void **state)
{
	unsigned int i[4], pol;
	struct tb *b;
	struct rig r;
	struct pkt p;

	(void)state;
	if (!have_root())
		skip();
	b = fwd_table(mp_rules, i, &pol);
	rig_load(&r, &b->t);

	pkt_tcp(&p, &base, 999, 22, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], i[3], pol);
	pkt_tcp(&p, &base, 1000, 90, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], i[1], i[3], pol);
	pkt_tcp(&p, &base, 2000, 91, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[1], i[3], pol);
	pkt_tcp(&p, &base, 6, 80, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], i[2], pol);
	pkt_tcp(&p, &base, 2001, 5, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[2], pol);
	/* 3 bytes of transport header: hotdrop (multiport needs 4). */
	pkt_build(&p, &(struct ipspec){.proto = IPPROTO_TCP}, "\0\1\0", 3);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_DROP);
	COUNTED(&r);
	rig_free(&r);
	tb_free(b);
}

static void ipr_rules(struct tb *b, unsigned int *idx)
{
	struct ipt2bpf_entry *e;
	struct xt_iprange_mtinfo *m;

	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 0: --src-range 10.0.0.250-10.0.1.5 */
	m = &tb_match(b, e, IPT2BPF_M_IPRANGE)->u.iprange;
	m->flags = IPRANGE_SRC;
	m->src_min.ip = IP("10.0.0.250");
	m->src_max.ip = IP("10.0.1.5");
	idx[0] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 1: ! --dst-range 10.0.0.2-10.0.0.2 */
	m = &tb_match(b, e, IPT2BPF_M_IPRANGE)->u.iprange;
	m->flags = IPRANGE_DST | IPRANGE_DST_INV;
	m->dst_min.ip = IP("10.0.0.2");
	m->dst_max.ip = IP("10.0.0.2");
	idx[1] = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE); /* 2: --src-range 128.0.0.0-255.255.255.255 */
	m = &tb_match(b, e, IPT2BPF_M_IPRANGE)->u.iprange;
	m->flags = IPRANGE_SRC;
	m->src_min.ip = IP("128.0.0.0");
	m->src_max.ip = IP("255.255.255.255");
	tb_match(b, e, IPT2BPF_M_COMMENT); /* -m comment: always true */
	idx[2] = e->index;
}

static void test_iprange_comment(void **state)
{
	unsigned int i[3], pol;
	struct tb *b;
	struct rig r;
	struct pkt p;

	(void)state;
	if (!have_root())
		skip();
	b = fwd_table(ipr_rules, i, &pol);
	rig_load(&r, &b->t);

	pkt_udp(&p, &(struct ipspec){.src = "10.0.0.255", .dst = "10.0.0.2"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], pol);
	pkt_udp(&p, &(struct ipspec){.src = "10.0.1.5", .dst = "10.0.0.3"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[0], i[1], pol);
	pkt_udp(&p, &(struct ipspec){.src = "10.0.1.6", .dst = "10.0.0.2"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, pol);
	pkt_udp(&p, &(struct ipspec){.src = "10.0.0.249", .dst = "10.0.0.2"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, pol);
	pkt_udp(&p, &(struct ipspec){.src = "200.1.1.1", .dst = "10.0.0.2"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_ACCEPT);
	COUNTED(&r, i[2], pol);
	rig_free(&r);
	tb_free(b);
}

/* ------------------------------------------------------------ tests: chains */

/*
 * INPUT: 0 -j A; 1 -s 10.9.9.9 -g B; 2 -j CONTINUE-ish (-s 10.0.0.0/8, no target);
 *        3 -j C (C is called from two places); 4 -s 10.5.5.5 -j ERROR-like; policy DROP
 * A:     -s 10.0.0.1 -j RETURN; -s 10.0.0.2 -j ACCEPT; (end RETURN)
 * B:     -s 10.9.9.9 -j RETURN (RETURN after goto: back to INPUT's caller = policy)
 * C:     -p udp -j D; -p tcp -g D; (end RETURN)
 * D:     -d 10.0.0.7 -j RETURN; -j DROP? no: -d 10.0.0.8 -j ACCEPT; (end RETURN)
 */
static void test_chains(void **state)
{
	struct tb *b;
	struct ipt2bpf_entry *e;
	struct rig r;
	struct pkt p;
	unsigned int in_a, in_b, in_cont, in_c, in_err, pol;
	unsigned int a_ret, a_acc, a_end, b_ret, b_end, c_j, c_g, c_end, d_ret, d_acc, d_end;
	unsigned int o_c, o_pol, err_e;

	(void)state;
	if (!have_root())
		skip();
	b = tb_new("filter", 64);
	tb_chain(b, "INPUT");
	in_a = tb_jump(b, "A", false)->index;
	e = tb_jump(b, "B", true);
	r_src(e, "10.9.9.9", 32, false);
	in_b = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE);
	r_src(e, "10.0.0.0", 8, false);
	in_cont = e->index;
	in_c = tb_jump(b, "C", false)->index;
	e = tb_rule(b, IPT2BPF_T_ERROR);
	r_src(e, "10.5.5.5", 32, false);
	in_err = e->index;
	pol = tb_end(b, NF_DROP);
	tb_chain(b, "FORWARD");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	o_c = tb_jump(b, "C", false)->index;
	o_pol = tb_end(b, NF_ACCEPT);
	tb_chain(b, "A");
	e = tb_rule(b, IPT2BPF_T_RETURN);
	r_src(e, "10.0.0.1", 32, false);
	a_ret = e->index;
	e = tb_rule(b, IPT2BPF_T_ACCEPT);
	r_src(e, "10.0.0.2", 32, false);
	a_acc = e->index;
	a_end = tb_end(b, 0);
	tb_chain(b, "B");
	e = tb_rule(b, IPT2BPF_T_RETURN);
	r_src(e, "10.9.9.9", 32, false);
	b_ret = e->index;
	b_end = tb_end(b, 0);
	tb_chain(b, "C");
	e = tb_jump(b, "D", false);
	r_proto(e, IPPROTO_UDP, false);
	c_j = e->index;
	e = tb_jump(b, "D", true);
	r_proto(e, IPPROTO_TCP, false);
	c_g = e->index;
	c_end = tb_end(b, 0);
	tb_chain(b, "D");
	e = tb_rule(b, IPT2BPF_T_RETURN);
	r_dst(e, "10.0.0.7", 32, false);
	d_ret = e->index;
	e = tb_rule(b, IPT2BPF_T_ACCEPT);
	r_dst(e, "10.0.0.8", 32, false);
	d_acc = e->index;
	d_end = tb_end(b, 0);
	tb_done(b);
	err_e = b->t.n_entries - 1;
	(void)err_e;
	rig_load(&r, &b->t);

	/* 10.0.0.1: A returns at once; CONTINUE counts; C: not udp/tcp (icmp) -> end; policy. */
	pkt_icmp(&p, &(struct ipspec){.src = "10.0.0.1"}, 8, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, in_a, a_ret, in_cont, in_c, c_end, pol);
	/* 10.0.0.2: A accepts. */
	pkt_icmp(&p, &(struct ipspec){.src = "10.0.0.2"}, 8, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_ACCEPT);
	COUNTED(&r, in_a, a_acc);
	/* 10.9.9.9: A falls to its end RETURN; goto B; B RETURNs: back to INPUT's caller, i.e.
	 * top level with an empty stack: the policy. in_cont and in_c are skipped. */
	pkt_icmp(&p, &(struct ipspec){.src = "10.9.9.9"}, 8, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, in_a, a_end, in_b, b_ret, pol);
	(void)b_end;
	/* UDP to 10.0.0.7 from 10.5.5.5: C -j D, D returns, C end, ERROR drops. */
	pkt_udp(&p, &(struct ipspec){.src = "10.5.5.5", .dst = "10.0.0.7"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, in_a, a_end, in_cont, in_c, c_j, d_ret, c_end, in_err);
	/* TCP to 10.0.0.7: C -g D, D RETURNs: back past C to INPUT (c_end not counted). */
	pkt_tcp(&p, &(struct ipspec){.src = "10.5.5.5", .dst = "10.0.0.7"}, 1, 2, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, in_a, a_end, in_cont, in_c, c_g, d_ret, in_err);
	/* TCP to 10.0.0.8: D accepts through the goto. */
	pkt_tcp(&p, &(struct ipspec){.src = "10.5.5.5", .dst = "10.0.0.8"}, 1, 2, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_ACCEPT);
	COUNTED(&r, in_a, a_end, in_cont, in_c, c_g, d_acc);
	/* TCP to 10.0.0.9 in OUTPUT: C -g D, D falls to its end RETURN: OUTPUT continues. */
	pkt_tcp(&p, &(struct ipspec){.src = "10.5.5.5", .dst = "10.0.0.9"}, 1, 2, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &p), V_ACCEPT);
	COUNTED(&r, o_c, c_g, d_end, o_pol);
	rig_free(&r);
	tb_free(b);
}

/* A goto at top level whose destination RETURNs applies the policy. */
static void test_goto_top(void **state)
{
	struct tb *b;
	struct rig r;
	struct pkt p;
	unsigned int g1, x_end, pol, after;

	(void)state;
	if (!have_root())
		skip();
	b = tb_new("filter", 32);
	tb_chain(b, "INPUT");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "FORWARD");
	g1 = tb_jump(b, "X", true)->index;
	after = tb_rule(b, IPT2BPF_T_ACCEPT)->index;
	pol = tb_end(b, NF_DROP);
	tb_chain(b, "OUTPUT");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "X");
	x_end = tb_end(b, 0);
	rig_load(&r, tb_done(b));
	pkt_udp(&p, &base, 1, 2);
	assert_int_equal(run(&r, NF_INET_FORWARD, &p), V_DROP);
	COUNTED(&r, g1, x_end, pol);
	(void)after;
	rig_free(&r);
	tb_free(b);
}

/* Nesting: INPUT -> c1 -> ... -> cN; every chain also called from FORWARD (no inlining). */
static struct tb *nest_table(unsigned int n, bool shared)
{
	struct tb *b = tb_new("filter", 128);
	char name[16];

	tb_chain(b, "INPUT");
	tb_jump(b, "c1", false);
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "FORWARD");
	if (shared)
		for (unsigned int i = 1; i <= n; i++) {
			snprintf(name, sizeof(name), "c%u", i);
			tb_jump(b, name, false);
		}
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	tb_end(b, NF_ACCEPT);
	for (unsigned int i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), "c%u", i);
		tb_chain(b, name);
		if (i < n) {
			snprintf(name, sizeof(name), "c%u", i + 1);
			tb_jump(b, name, false);
		} else {
			tb_rule(b, IPT2BPF_T_DROP);
		}
		tb_end(b, 0);
	}
	tb_done(b);
	return b;
}

static void test_nesting(void **state)
{
	struct ipt2bpf_diag d = {0};
	struct tb *b;
	struct rig r;
	struct pkt p;

	(void)state;
	if (!have_root())
		skip();
	/* INPUT + 6 user chains = 7 levels, each a real function: loads and works. */
	b = nest_table(6, true);
	rig_load(&r, &b->t);
	pkt_udp(&p, &base, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	rig_free(&r);
	tb_free(b);

	/* 8 levels of functions: refused, naming the chain path. */
	b = nest_table(7, true);
	assert_int_equal(rig_gen(&r, &b->t, NULL, IPT2BPF_MODE_TC, &d), -EOPNOTSUPP);
	assert_non_null(strstr(d.msg, "chain nesting deeper than 7 levels"));
	assert_non_null(strstr(d.msg, "INPUT -> c1 -> c2"));
	print_message("  diag: %s\n", d.msg);
	tb_free(b);

	/* Chains called from one place only are inlined: 20 levels are fine. */
	b = nest_table(20, false);
	rig_load(&r, &b->t);
	assert_int_equal(r.ps->progs[0].n_funcs, 4); /* main, INPUT, its policy, FORWARD's */
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	assert_int_equal(hits(&r, 0, b->t.n_entries - 3), 1); /* c20's DROP rule */
	rig_free(&r);
	tb_free(b);
}

/*
 * What only raw blobs do: a jump to the next entry (a no-op, nothing pushed),
 * a jump into the middle of a chain, a chain without its closing RETURN that
 * runs on into the next chain's ERROR head (the kernel counts it and drops).
 */
static void test_raw_blob(void **state)
{
	struct tb *b;
	struct ipt2bpf_entry *e;
	struct rig r;
	struct pkt p;
	unsigned int e0, e1, pol, o1, opol, x2, x3, yhead;

	(void)state;
	if (!have_root())
		skip();
	b = tb_new("filter", 32);
	tb_chain(b, "INPUT");
	e = tb_rule(b, IPT2BPF_T_JUMP); /* -s 10.0.0.9 -j <the next entry> */
	r_src(e, "10.0.0.9", 32, false);
	e0 = e->index;
	e = tb_rule(b, IPT2BPF_T_JUMP); /* -s 10.0.0.9 -j <X's second rule> */
	r_src(e, "10.0.0.9", 32, false);
	e1 = e->index;
	pol = tb_end(b, NF_ACCEPT);
	tb_chain(b, "FORWARD");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	o1 = tb_rule(b, IPT2BPF_T_JUMP)->index; /* -j <X's second rule>: two sites, a function */
	opol = tb_end(b, NF_ACCEPT);
	tb_chain(b, "X");
	tb_rule(b, IPT2BPF_T_ACCEPT); /* skipped by the jumps */
	e = tb_rule(b, IPT2BPF_T_RETURN);
	r_proto(e, IPPROTO_UDP, false);
	x2 = e->index;
	e = tb_rule(b, IPT2BPF_T_CONTINUE);
	r_proto(e, IPPROTO_TCP, false);
	x3 = e->index;
	b->cur = -1; /* no closing RETURN */
	tb_chain(b, "Y");
	yhead = b->c[b->cur].head_entry;
	tb_rule(b, IPT2BPF_T_ACCEPT);
	tb_end(b, 0);
	tb_done(b);
	b->e[e0].target.target_entry = e0 + 1;
	b->e[e1].target.target_entry = x2;
	b->e[o1].target.target_entry = x2;
	rig_load(&r, &b->t);

	pkt_udp(&p, &(struct ipspec){.src = "10.0.0.9"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_ACCEPT);
	COUNTED(&r, e0, e1, x2, pol);
	pkt_tcp(&p, &(struct ipspec){.src = "10.0.0.9"}, 1, 2, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, e0, e1, x3, yhead);
	pkt_icmp(&p, &(struct ipspec){.src = "10.0.0.8"}, 8, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_ACCEPT);
	COUNTED(&r, pol);
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &p), V_DROP);
	COUNTED(&r, o1, yhead);
	pkt_udp(&p, &base, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &p), V_ACCEPT);
	COUNTED(&r, o1, x2, opol);
	rig_free(&r);
	tb_free(b);
}

/*
 * Runs longer than GEN_CHUNK entries become global functions (chunks): the
 * same semantics across chunk boundaries, RETURN and GOTO from inside one.
 * INPUT: 600 x "-s 10.1.X.Y -j ACCEPT", then "-j big", policy DROP.
 * big:   700 x "-s 10.2.X.Y" (counted, CONTINUE); #650 is "-s 10.9.9.9 -j RETURN"
 *        instead; #300 is "-p udp -s 10.8.8.8 -g other"; then its end.
 * other: "-d 10.0.0.7 -j ACCEPT", end (RETURN: back to INPUT, past "-j big").
 */
static void test_chunks(void **state)
{
	struct tb *b;
	struct ipt2bpf_entry *e;
	struct rig r;
	struct pkt p;
	unsigned int in0, jbig, pol, big0, big_ret, big_goto, big_end, o_acc, o_end, globals = 0;
	char addr[32];

	(void)state;
	if (!have_root())
		skip();
	b = tb_new("filter", 1400);
	tb_chain(b, "INPUT");
	for (unsigned int i = 0; i < 600; i++) {
		e = tb_rule(b, IPT2BPF_T_ACCEPT);
		snprintf(addr, sizeof(addr), "10.1.%u.%u", i / 256, i % 256);
		r_src(e, addr, 32, false);
	}
	in0 = b->t.hook_entry[NF_INET_LOCAL_IN];
	jbig = tb_jump(b, "big", false)->index;
	pol = tb_end(b, NF_DROP);
	tb_chain(b, "FORWARD");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "big");
	big0 = big_ret = big_goto = 0;
	for (unsigned int i = 0; i < 700; i++) {
		if (i == 650) {
			e = tb_rule(b, IPT2BPF_T_RETURN);
			r_src(e, "10.9.9.9", 32, false);
			big_ret = e->index;
		} else if (i == 300) {
			e = tb_jump(b, "other", true);
			r_src(e, "10.8.8.8", 32, false);
			r_proto(e, IPPROTO_UDP, false);
			big_goto = e->index;
		} else {
			e = tb_rule(b, IPT2BPF_T_CONTINUE);
			snprintf(addr, sizeof(addr), "10.2.%u.%u", i / 256, i % 256);
			r_src(e, addr, 32, false);
		}
		if (!i)
			big0 = e->index;
	}
	big_end = tb_end(b, 0);
	tb_chain(b, "other");
	e = tb_rule(b, IPT2BPF_T_ACCEPT);
	r_dst(e, "10.0.0.7", 32, false);
	o_acc = e->index;
	o_end = tb_end(b, 0);
	rig_load(&r, tb_done(b));
	for (unsigned int i = 0; i < r.ps->progs[0].n_funcs; i++)
		globals += r.ps->progs[0].func_global[i];
	assert_true(globals >= 5); /* INPUT: 3 chunks, big: 3 */

	/* The last INPUT rule, in the third chunk. */
	pkt_udp(&p, &(struct ipspec){.src = "10.1.2.87"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_ACCEPT);
	COUNTED(&r, in0 + 599);
	/* Into big, a rule in its second chunk counts, big's end returns: policy. */
	pkt_udp(&p, &(struct ipspec){.src = "10.2.1.45"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, jbig, big0 + 301, big_end, pol);
	/* RETURN from big's third chunk. */
	pkt_udp(&p, &(struct ipspec){.src = "10.9.9.9"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, jbig, big_ret, pol);
	/* GOTO from big's second chunk: other accepts, or RETURNs to INPUT (not into big). */
	pkt_udp(&p, &(struct ipspec){.src = "10.8.8.8", .dst = "10.0.0.7"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_ACCEPT);
	COUNTED(&r, jbig, big_goto, o_acc);
	pkt_udp(&p, &(struct ipspec){.src = "10.8.8.8", .dst = "10.0.0.8"}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, jbig, big_goto, o_end, pol);
	rig_free(&r);
	tb_free(b);
}

/* A program the verifier rejects: the diag names it and quotes the log's tail. */
static void test_load_error(void **state)
{
	struct ipt2bpf_diag d = {0};
	struct ipt2bpf_loaded l;
	struct tb *b;
	struct rig r;

	(void)state;
	if (!have_root())
		skip();
	b = tb_new("filter", 16);
	tb_chain(b, "INPUT");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "FORWARD");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	tb_end(b, NF_ACCEPT);
	tb_done(b);
	assert_int_equal(rig_gen(&r, &b->t, NULL, IPT2BPF_MODE_TC, &d), 0);
	/* r0 = *(u64 *)(r2 + 0): R2 is not initialised at entry. */
	r.ps->progs[1].insns[0] =
		(struct bpf_insn){.code = BPF_LDX | BPF_DW | BPF_MEM, .dst_reg = 0, .src_reg = 2};
	assert_int_equal(ipt2bpf_progset_load(r.ps, &l, &d), -EACCES);
	print_message("  diag: %s\n", d.msg);
	assert_non_null(strstr(d.msg, "ipt_egress: the verifier rejected it"));
	assert_non_null(strstr(d.msg, "R2 !read_ok"));
	ipt2bpf_progset_free(r.ps);
	tb_free(b);
}

/* ------------------------------------------------------------ tests: packets */

static void test_invalid_ip(void **state)
{
	struct tb *b;
	struct ipt2bpf_entry *e;
	struct rig r;
	struct pkt p;
	unsigned int r0, pol;

	(void)state;
	if (!have_root())
		skip();
	b = tb_new("filter", 32);
	tb_chain(b, "INPUT");
	e = tb_rule(b, IPT2BPF_T_DROP);
	r0 = e->index;
	pol = tb_end(b, NF_ACCEPT);
	tb_chain(b, "FORWARD");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	tb_end(b, NF_ACCEPT);
	rig_load(&r, tb_done(b));
	(void)pol;

	pkt_udp(&p, &base, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, r0);
	/* With IP options (ihl 7) and Ethernet padding: still judged, tot_len bytes counted. */
	pkt_udp(&p, &(struct ipspec){.ihl = 7, .pad = 20}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	COUNTED(&r, r0);
	assert_int_equal(bytes(&r, 0, r0), 28 + 12);

	pkt_udp(&p, &(struct ipspec){.bad_csum = true}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_PASS);
	COUNTED(&r);
	pkt_udp(&p, &(struct ipspec){.version = 6}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_PASS);
	COUNTED(&r);
	pkt_udp(&p, &(struct ipspec){.ihl = 4}, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_PASS);
	COUNTED(&r);
	pkt_udp(&p, &(struct ipspec){.tot_delta = -13}, 1, 2); /* tot_len 19 < 20 */
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_PASS);
	COUNTED(&r);
	pkt_udp(&p, &(struct ipspec){.tot_delta = 1}, 1, 2); /* one byte beyond the frame */
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_PASS);
	COUNTED(&r);
	/* IP options ip_options_compile() refuses: dropped before INPUT/FORWARD, not at OUTPUT. */
	{
		static const struct {
			const char *opts;
			uint8_t ihl;
			bool ok;
		} o[] = {
			{"\x07\x07\x04", 7, true},	/* RR, room for 1 address */
			{"\x07\x02", 6, false},		/* RR too short */
			{"\x07\x28\x04", 6, false},	/* length past the options */
			{"\x88\x01", 6, false},		/* length < 2 */
			{"\x01\x01\x01\x94", 6, false}, /* l < 2 for the last one */
			{"\x94\x04\x00\x00", 6, true},	/* router alert */
			{"\x07\x07\x05", 7, false},	/* RR pointer 5: 5 + 3 > 7 */
			{"\x07\x07\x06", 7, false},	/* RR pointer 6: 6 + 3 > 7 */
			{"\x07\x07\x08", 7, true},	/* RR full */
			{"\x07\x07\x04\x01\x01\x01\x01\x07\x07\x04", 8, false}, /* two RR */
			{"\x44\x04\x05\x00", 6, true},	/* TS full, overflow 0 */
			{"\x44\x04\x05\xf0", 6, false}, /* TS full, overflow 15 */
			{"\x44\x04\x05\xf3", 6, true},	/* TS full, prespec: no overflow check */
			{"\x44\x08\x05\x01", 7, false}, /* TS addr+time: 5 + 7 > 8 */
			{"\x44\x0c\x05\x01", 8, true},	/* TS addr+time: fits */
			{"\x44\x04\x04\x00", 6, false}, /* TS pointer < 5 */
			{"\x83\x07\x04\x0a\x00\x00\x01", 7, false},	/* LSRR: source route */
			{"\x86\x08\x00\x00\x00\x01\x01\x00", 7, false}, /* CIPSO, no DOI */
			{"\x82\x04\x00\x00", 6, true},			/* SEC: accepted */
			{"\x00\x07\x02", 6, true}, /* END: the rest is not looked at */
		};

		for (unsigned int i = 0; i < ARRAY_SIZE(o); i++) {
			pkt_udp(&p, &(struct ipspec){.ihl = o[i].ihl, .opts = o[i].opts}, 1, 2);
			if (run(&r, NF_INET_LOCAL_IN, &p) != (o[i].ok ? V_DROP : V_PASS))
				fail_msg("IP options case %u: expected %s", i,
					 o[i].ok ? "DROP" : "PASS");
			assert_int_equal(hits(&r, 0, r0), o[i].ok);
			/* OUTPUT: locally generated, never checked on the way out. */
			assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &p), V_ACCEPT);
		}
	}
	/* Not IPv4 at all (ARP). */
	pkt_udp(&p, &base, 1, 2);
	p.b[12] = 0x08;
	p.b[13] = 0x06;
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_PASS);
	COUNTED(&r);
	rig_free(&r);
	tb_free(b);
}

static void test_fragments(void **state)
{
	struct tb *b;
	struct ipt2bpf_entry *e;
	struct rig r;
	struct pkt first, later, later2;
	unsigned int h, r_udp, pol[4] = {0};
	int hooks[] = {NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT};

	(void)state;
	if (!have_root())
		skip();
	/* Every chain: -p udp --dport 53 -j DROP; policy ACCEPT. */
	b = tb_new("filter", 32);
	for (h = 0; h < 3; h++) {
		struct xt_udp *u;

		tb_chain(b, tb_builtin[hooks[h]]);
		e = tb_rule(b, IPT2BPF_T_DROP);
		r_proto(e, IPPROTO_UDP, false);
		u = m_udp(b, e);
		u->dpts[0] = u->dpts[1] = 53;
		pol[hooks[h]] = tb_end(b, NF_ACCEPT);
	}
	rig_load(&r, tb_done(b));
	r_udp = b->t.hook_entry[NF_INET_LOCAL_IN];

	pkt_udp(&first, &(struct ipspec){.frag = F_MF, .id = 0x4242}, 1000, 53);
	pkt_udp(&later, &(struct ipspec){.frag = 3, .id = 0x4242}, 1000, 53);
	pkt_udp(&later2, &(struct ipspec){.frag = 3, .id = 0x4343}, 1000, 53);

	/* FORWARD: each fragment on its own; the later one cannot match the port rule. */
	assert_int_equal(run(&r, NF_INET_FORWARD, &first), V_DROP);
	COUNTED(&r, b->t.hook_entry[NF_INET_FORWARD]);
	assert_int_equal(run(&r, NF_INET_FORWARD, &later), V_ACCEPT);
	COUNTED(&r, pol[NF_INET_FORWARD]);

	/* INPUT: a later fragment with no verdict stored passes untouched. */
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &later), V_PASS);
	COUNTED(&r);
	/* The first fragment is judged as the datagram, the later one takes its verdict. */
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &first), V_DROP);
	COUNTED(&r, r_udp);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &later), V_DROP);
	COUNTED(&r);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &later2), V_PASS);
	COUNTED(&r);

	/* OUTPUT: no stored verdict (other id): judged on its own -> policy. */
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &later2), V_ACCEPT);
	COUNTED(&r, pol[NF_INET_LOCAL_OUT]);
	/* Verdicts are per hook: INPUT's DROP for 0x4242 does not leak into OUTPUT. */
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &later), V_ACCEPT);
	COUNTED(&r, pol[NF_INET_LOCAL_OUT]);
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &first), V_DROP);
	COUNTED(&r, b->t.hook_entry[NF_INET_LOCAL_OUT]);
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &later), V_DROP);
	COUNTED(&r);

	/* An accepted first fragment lets the later ones through, uncounted. */
	pkt_udp(&first, &(struct ipspec){.frag = F_MF, .id = 0x5555}, 1000, 54);
	pkt_udp(&later, &(struct ipspec){.frag = 3, .id = 0x5555}, 1000, 53);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &first), V_ACCEPT);
	COUNTED(&r, pol[NF_INET_LOCAL_IN]);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &later), V_ACCEPT);
	COUNTED(&r);
	rig_free(&r);
	tb_free(b);
}

/* filter accepts, then security decides; filter drops: security never runs. */
static void test_security_table(void **state)
{
	struct tb *f, *s;
	struct ipt2bpf_entry *e;
	struct rig r;
	struct pkt p;
	unsigned int f_drop, f_pol, s_drop, s_pol;

	(void)state;
	if (!have_root())
		skip();
	f = tb_new("filter", 32);
	tb_chain(f, "INPUT");
	e = tb_rule(f, IPT2BPF_T_DROP);
	r_src(f->e + e->index, "10.6.6.6", 32, false);
	f_drop = e->index;
	f_pol = tb_end(f, NF_ACCEPT);
	tb_chain(f, "FORWARD");
	tb_end(f, NF_ACCEPT);
	tb_chain(f, "OUTPUT");
	tb_end(f, NF_ACCEPT);
	tb_done(f);
	s = tb_new("security", 32);
	tb_chain(s, "INPUT");
	e = tb_rule(s, IPT2BPF_T_DROP);
	r_proto(e, IPPROTO_TCP, false);
	s_drop = e->index;
	s_pol = tb_end(s, NF_ACCEPT);
	tb_chain(s, "FORWARD");
	tb_end(s, NF_ACCEPT);
	tb_chain(s, "OUTPUT");
	tb_end(s, NF_ACCEPT);
	tb_done(s);
	rig_load2(&r, &f->t, &s->t);
	assert_int_equal(ipt2bpf_progset_find_map(r.ps, "ipt_c_security"),
			 (int)r.ps->counter_map[1]);

	pkt_tcp(&p, &base, 1, 2, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	assert_int_equal(hits(&r, 0, f_pol), 1);
	assert_int_equal(hits(&r, 1, s_drop), 1);
	pkt_udp(&p, &base, 1, 2);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_ACCEPT);
	assert_int_equal(hits(&r, 1, s_pol), 1);
	pkt_tcp(&p, &(struct ipspec){.src = "10.6.6.6"}, 1, 2, 0, NULL, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), V_DROP);
	assert_int_equal(hits(&r, 0, f_drop), 1);
	assert_int_equal(hits(&r, 1, s_drop), 0);
	rig_free(&r);
	tb_free(f);
	tb_free(s);
}

/* ------------------------------------------------------------ production programs */

static struct tb *simple_table(void)
{
	struct tb *b = tb_new("filter", 32);
	struct ipt2bpf_entry *e;

	tb_chain(b, "INPUT");
	e = tb_rule(b, IPT2BPF_T_DROP); /* -i lo -p udp -d 127.0.0.1 -j DROP */
	r_in(e, "lo", false);
	r_dst(e, "127.0.0.1", 32, false);
	r_proto(e, IPPROTO_UDP, false);
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "FORWARD");
	e = tb_rule(b, IPT2BPF_T_DROP); /* -i lo -o d0 -p udp -j DROP */
	r_in(e, "lo", false);
	r_out(e, "d0", false);
	r_proto(e, IPPROTO_UDP, false);
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	e = tb_rule(b, IPT2BPF_T_DROP); /* -o lo -p tcp -j DROP */
	r_out(e, "lo", false);
	r_proto(e, IPPROTO_TCP, false);
	tb_end(b, NF_ACCEPT);
	tb_done(b);
	return b;
}

static void lo_up(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

static void set_forwarding(const char *v)
{
	int fd = open("/proc/sys/net/ipv4/conf/all/forwarding", O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, v, 1), 1);
	close(fd);
}

/* Runs the ingress (TC) program as if the packet came in on lo. */
static int run_ingress(struct rig *r, const struct pkt *p)
{
	struct __sk_buff ctx = {.ifindex = 1, .ingress_ifindex = 1};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

	counters(r, r->before);
	assert_int_equal(bpf_prog_test_run_opts(prog_fd(r, IPT2BPF_P_INGRESS, -1), &o), 0);
	counters(r, r->after);
	return (int)o.retval;
}

static int run_egress(struct rig *r, const struct pkt *p, uint32_t ingress_ifindex)
{
	struct __sk_buff ctx = {.ifindex = 1, .ingress_ifindex = ingress_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

	counters(r, r->before);
	assert_int_equal(bpf_prog_test_run_opts(prog_fd(r, IPT2BPF_P_EGRESS, -1), &o), 0);
	counters(r, r->after);
	return (int)o.retval;
}

static void test_production(void **state)
{
	static const struct ipspec local = {.src = "127.0.0.1", .dst = "127.0.0.1"};
	static const struct ipspec remote = {.src = "127.0.0.1", .dst = "192.0.2.1"};
	struct ipt2bpf_diag d = {0};
	struct ipt2bpf_progset *xps = NULL;
	struct ipt2bpf_loaded xl;
	unsigned int d0, in_drop, fwd_drop, fwd_pol;
	struct tb *b;
	struct rig r;
	struct pkt p;

	(void)state;
	if (!have_root())
		skip();
	b = simple_table();
	in_drop = b->t.hook_entry[NF_INET_LOCAL_IN];
	fwd_drop = b->t.hook_entry[NF_INET_FORWARD];
	fwd_pol = b->t.underflow[NF_INET_FORWARD];

	/* TC mode: ipt_ingress + ipt_egress (+ trace programs) pass the verifier. */
	rig_load(&r, &b->t);
	/* XDP mode: ipt_xdp (+ ipt_egress) pass the verifier. */
	{
		const struct ipt2bpf_table *t = &b->t;
		struct ipt2bpf_gen_opts go = {.mode = IPT2BPF_MODE_XDP};

		if (ipt2bpf_gen(&t, 1, &go, &xps, &d))
			fail_msg("gen xdp: %s", d.msg);
		assert_int_equal(xps->n_progs, 2);
		assert_int_equal(xps->progs[0].type, BPF_PROG_TYPE_XDP);
		assert_string_equal(xps->progs[0].section, "xdp");
		if (ipt2bpf_progset_load(xps, &xl, &d))
			fail_msg("load xdp: %s", d.msg);
	}

	/* A private network namespace: lo, and a veth device d0 with 192.0.2.254/24. */
	if (unshare(CLONE_NEWNET)) {
		print_message("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		skip();
	}
	lo_up();
	if (system("ip link add d0 type veth peer name d1 && ip addr add 192.0.2.254/24 dev d0 && "
		   "ip link set d1 up && ip link set d0 up")) {
		print_message("cannot create a veth pair: programs verified, not run\n");
		rig_free(&r);
		ipt2bpf_loaded_close(&xl);
		ipt2bpf_progset_free(xps);
		tb_free(b);
		skip();
	}
	d0 = if_nametoindex("d0");
	assert_int_equal(ipt2bpf_ifaces_set(r.ps, &r.l, 1, "lo"), 0);
	assert_int_equal(ipt2bpf_ifaces_set(r.ps, &r.l, d0, "d0"), 0);

	/* Forwarding off (a new namespace's default): the FIB says FWD_DISABLED: INPUT. */
	set_forwarding("0");
	pkt_udp(&p, &local, 1, 2);
	assert_int_equal(run_ingress(&r, &p), TC_ACT_SHOT);
	COUNTED(&r, in_drop);
	pkt_udp(&p, &remote, 1, 2);
	assert_int_equal(run_ingress(&r, &p), TC_ACT_OK);
	COUNTED(&r, b->t.underflow[NF_INET_LOCAL_IN]);

	/* Forwarding on: local is NOT_FWDED (INPUT), 192.0.2.1 goes out d0 (FORWARD). */
	set_forwarding("1");
	pkt_udp(&p, &local, 1, 2);
	assert_int_equal(run_ingress(&r, &p), TC_ACT_SHOT);
	COUNTED(&r, in_drop);
	pkt_tcp(&p, &local, 1, 2, 0, NULL, 0);
	assert_int_equal(run_ingress(&r, &p), TC_ACT_OK);
	COUNTED(&r, b->t.underflow[NF_INET_LOCAL_IN]);
	pkt_udp(&p, &remote, 1, 2);
	assert_int_equal(run_ingress(&r, &p), TC_ACT_SHOT);
	COUNTED(&r, fwd_drop);
	pkt_tcp(&p, &remote, 1, 2, 0, NULL, 0);
	assert_int_equal(run_ingress(&r, &p), TC_ACT_OK);
	COUNTED(&r, fwd_pol);
	/* TTL 1: ip_forward() answers it before FORWARD: passed, not counted. */
	pkt_udp(&p, &(struct ipspec){.src = "127.0.0.1", .dst = "192.0.2.1", .ttl = 1}, 1, 2);
	assert_int_equal(run_ingress(&r, &p), TC_ACT_OK);
	COUNTED(&r);
	/* A bad checksum never reaches a hook. */
	pkt_udp(&p, &(struct ipspec){.src = "127.0.0.1", .dst = "192.0.2.1", .bad_csum = 1}, 1, 2);
	assert_int_equal(run_ingress(&r, &p), TC_ACT_OK);
	COUNTED(&r);

	/* Egress: forwarded packets (ingress_ifindex set) pass; local ones are OUTPUT. */
	pkt_tcp(&p, &local, 1, 2, 0, NULL, 0);
	assert_int_equal(run_egress(&r, &p, 1), TC_ACT_OK);
	COUNTED(&r);
	assert_int_equal(run_egress(&r, &p, 0), TC_ACT_SHOT);
	COUNTED(&r, b->t.hook_entry[NF_INET_LOCAL_OUT]);
	pkt_udp(&p, &local, 1, 2);
	assert_int_equal(run_egress(&r, &p, 0), TC_ACT_OK);
	COUNTED(&r, b->t.underflow[NF_INET_LOCAL_OUT]);
	rig_free(&r);

	/* XDP: judged at INPUT or FORWARD like ingress. */
	{
		struct xdp_md xctx = {.ingress_ifindex = 1};
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p.b, .ctx_in = &xctx,
			    .ctx_size_in = sizeof(xctx), .repeat = 1);
		static const struct {
			const struct ipspec *ip;
			uint8_t proto;
			int verdict;
		} cases[] = {
			{&local, IPPROTO_UDP, XDP_DROP},
			{&local, IPPROTO_ICMP, XDP_PASS},
			{&remote, IPPROTO_UDP, XDP_DROP},
			{&remote, IPPROTO_TCP, XDP_PASS},
		};

		assert_int_equal(ipt2bpf_ifaces_set(xps, &xl, 1, "lo"), 0);
		assert_int_equal(ipt2bpf_ifaces_set(xps, &xl, d0, "d0"), 0);
		for (unsigned int i = 0; i < ARRAY_SIZE(cases); i++) {
			if (cases[i].proto == IPPROTO_UDP)
				pkt_udp(&p, cases[i].ip, 1, 2);
			else if (cases[i].proto == IPPROTO_TCP)
				pkt_tcp(&p, cases[i].ip, 1, 2, 0, NULL, 0);
			else
				pkt_icmp(&p, cases[i].ip, 8, 0);
			o.data_size_in = xctx.data_end = (uint32_t)p.len;
			/* The kernel takes a previous run's data_size_out as a size limit. */
			o.data_size_out = 0;
			if (bpf_prog_test_run_opts(xl.prog_fds[0], &o))
				fail_msg("xdp case %u: %s", i, strerror(errno));
			assert_int_equal(o.retval, cases[i].verdict);
		}
	}
	ipt2bpf_loaded_close(&xl);
	ipt2bpf_progset_free(xps);
	tb_free(b);
}

/* ------------------------------------------------------------ scale */

/* What the verifier processed for the loaded program (bpf_prog_info, Linux >= 5.16). */
static unsigned int processed_insns(const struct ipt2bpf_loaded *l, unsigned int prog)
{
	struct bpf_prog_info info = {0};
	uint32_t len = sizeof(info);

	assert_int_equal(bpf_obj_get_info_by_fd(l->prog_fds[prog], &info, &len), 0);
	return info.verified_insns;
}

static void scale_one(const char *what, unsigned int n, bool tcp)
{
	struct tb *b = tb_new("filter", n + 16);
	struct ipt2bpf_entry *e;
	struct rig r;
	struct pkt p;
	unsigned int prog = 0, fn_len = 0;
	char addr[32];

	tb_chain(b, "INPUT");
	for (unsigned int i = 0; i < n; i++) {
		e = tb_rule(b, IPT2BPF_T_DROP);
		if (tcp) {
			struct xt_tcp *t;

			r_proto(e, IPPROTO_TCP, false);
			t = m_tcp(b, e);
			t->dpts[0] = t->dpts[1] = (uint16_t)(1000 + i);
		} else {
			snprintf(addr, sizeof(addr), "172.16.%u.%u", i / 256, i % 256);
			r_src(e, addr, 32, false);
		}
	}
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "FORWARD");
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	tb_end(b, NF_ACCEPT);
	/* Straight-line code is what this measures: the optimiser would make these lookups. */
	setenv("IPT2BPF_NO_OPTIMISE", "1", 1);
	rig_load(&r, tb_done(b));
	unsetenv("IPT2BPF_NO_OPTIMISE");
	for (unsigned int i = 0; i < r.ps->n_progs; i++)
		if (r.ps->progs[i].role == IPT2BPF_P_TRACE &&
		    r.ps->progs[i].hook == NF_INET_LOCAL_IN)
			prog = i;
	for (unsigned int i = 0; i < r.ps->progs[prog].n_funcs; i++)
		/* INPUT's function and its chunks ipt_filter_INPUT_c<N>, not the policy. */
		if (!strncmp(r.ps->progs[prog].funcs[i].name, "ipt_filter_INPUT", 16) &&
		    !strstr(r.ps->progs[prog].funcs[i].name, "policy"))
			fn_len += r.ps->progs[prog].funcs[i].len;
	assert_true(fn_len > n);

	/* A packet that goes through every rule to the policy. */
	pkt_tcp(&p, &base, 1, 2, 0, NULL, 0);
	rig_devs(&r, IF_IN, 0);
	{
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p.b, .data_size_in = (uint32_t)p.len,
			    .repeat = 100000);

		assert_int_equal(bpf_prog_test_run_opts(r.l.prog_fds[prog], &o), 0);
		assert_int_equal(o.retval, TC_ACT_OK);
		print_message("  %u x %s: %u insns (%.1f per rule), verifier processed %u insns, "
			      "%u ns per packet through all rules\n",
			      n, what, r.ps->progs[prog].n_insns, (double)fn_len / n,
			      processed_insns(&r.l, prog), o.duration);
	}
	rig_free(&r);
	tb_free(b);
}

static void test_scale(void **state)
{
	const char *env = getenv("TEST_GEN_RULES"); /* a different size, for measuring */
	unsigned int n = env ? (unsigned int)strtoul(env, NULL, 10) : 1000;

	(void)state;
	if (!have_root())
		skip();
	scale_one("-s ADDR/32 -j DROP", n, false);
	scale_one("-p tcp --dport N -j DROP", n, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_interfaces),
		cmocka_unit_test(test_proto_frag_flags),
		cmocka_unit_test(test_tcp_ports_flags),
		cmocka_unit_test(test_tcp_options),
		cmocka_unit_test(test_tcp_hotdrop),
		cmocka_unit_test(test_udp_icmp),
		cmocka_unit_test(test_multiport),
		cmocka_unit_test(test_iprange_comment),
		cmocka_unit_test(test_chains),
		cmocka_unit_test(test_goto_top),
		cmocka_unit_test(test_raw_blob),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_load_error),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_invalid_ip),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_security_table),
		cmocka_unit_test(test_scale),
		/* Last: it moves the process into a new network namespace. */
		cmocka_unit_test(test_production),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
