// SPDX-License-Identifier: GPL-2.0
/*
 * The connection tracker (codegen/ct_bpf.c, spliced in by codegen/ct.c)
 * through the real verifier and BPF_PROG_TEST_RUN: rule sets using every
 * tracker user (state, conntrack, connmark, CONNMARK, CONNSECMARK) are
 * generated and loaded in TC mode (ingress, egress, trace programs) and XDP
 * mode, then packets of a TCP handshake and a UDP request/reply go through
 * the programs and the per-rule counters say what each packet was (NEW,
 * then ESTABLISHED, reply direction, status, connmark stored at confirm...),
 * as nf_conntrack_in()/confirm would classify them.  Run it on older
 * kernels with scripts/qemu-run (the 6.1 verifier is stricter about helper
 * sizes).  Needs root (BPF); skipped otherwise.
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
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/xt_CONNSECMARK.h>
#include <linux/netfilter/xt_SECMARK.h>
#include <linux/netfilter/xt_connbytes.h>
#include <linux/netfilter/xt_connlabel.h>
#include <linux/netfilter/xt_connlimit.h>
#include <linux/netfilter/xt_connmark.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_state.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <cmocka.h>

#include "codegen/ct.h"
#include "codegen/load.h"
#include "codegen/progset.h"
#include "codegen/secpolicy.h"
#include "translator/ir.h"
#include "translator/util.h"
#include "translator/validate.h"
#include "blob.h"
#include "rig.h"

/* ------------------------------------------------------------ rule sets */

/* Entries whose standard verdict must become "continue" (a jump to the next entry). */
struct rs {
	struct blob b;
	unsigned int cont[BLOB_MAX_ENTRIES], n_cont;
};

static void r_cont(struct rs *r)
{
	r->cont[r->n_cont++] = blob_std(&r->b, 0);
}

static struct ipt2bpf_table *rs_done(struct rs *r)
{
	struct ipt2bpf_diag d = {0};
	struct ipt2bpf_table *t = NULL;
	struct ipt_replace *repl;
	size_t len;

	blob_error(&r->b, "ERROR");
	for (unsigned int i = 0; i < r->n_cont; i++)
		blob_jump(&r->b, r->cont[i], r->cont[i] + 1);
	repl = blob_finish(&r->b, &len);
	if (rig_decode(repl, len, &t, &d))
		fail_msg("%s table: %s", r->b.name, d.msg);
	free(repl);
	return t;
}

/* INPUT's end (policy ACCEPT), FORWARD and OUTPUT empty (ACCEPT), the table. */
static struct ipt2bpf_table *rs_done_input(struct rs *r)
{
	blob_policy(&r->b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
	blob_hook(&r->b, NF_INET_FORWARD);
	blob_policy(&r->b, NF_INET_FORWARD, VERDICT_ACCEPT);
	blob_hook(&r->b, NF_INET_LOCAL_OUT);
	blob_policy(&r->b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	return rs_done(r);
}

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static void m_state(struct rs *r, unsigned int mask)
{
	struct xt_state_info i = {.statemask = mask};

	blob_match(&r->b, "state", 0, &i, sizeof(i));
}

static void m_conntrack(struct rs *r, const struct xt_conntrack_mtinfo3 *i)
{
	blob_match(&r->b, "conntrack", 3, i, sizeof(*i));
}

static void m_connmark(struct rs *r, uint32_t mark, uint32_t mask, bool inv)
{
	struct xt_connmark_mtinfo1 i = {.mark = mark, .mask = mask, .invert = inv};

	blob_match(&r->b, "connmark", 1, &i, sizeof(i));
}

static unsigned int t_connmark(struct rs *r, uint8_t mode, uint32_t ctmark, uint32_t ctmask,
			       uint32_t nfmask)
{
	struct xt_connmark_tginfo2 i = {
		.ctmark = ctmark, .ctmask = ctmask, .nfmask = nfmask, .mode = mode};

	return blob_end(&r->b, "CONNMARK", 2, &i, sizeof(i));
}

#define ST(x) XT_STATE_BIT(IP_CT_##x)

/* Entry indexes of the filter rule set, for the counters. */
enum {
	I_NEW,
	I_EST,
	I_EST_ORIG,
	I_ASSURED,
	I_SEEN_REPLY,
	I_TUPLE,
	I_CONNMARK,
	I_INVALID,
	I_DROP81,
	I_SETMARK,
	I_RESTORE, /* TC only */
	I_POLICY,
};

enum {
	F_REL,
	F_NOTINV,
	F_POLICY,
};

enum {
	O_NEW,
	O_EST,
	O_REPLY,
	O_RELATED,
	O_CONNMARK,
	O_NOTMARK7,
	O_SAVE, /* TC only */
	O_POLICY,
};

/*
 * filter: INPUT counts each state, direction, status, the full tuple of a
 * TCP connection client:any -> server:80, connmark 5; drops INVALID and NEW
 * to port 81; marks new connections 5.  OUTPUT counts what the replies are.
 * xdp: without CONNMARK --restore/--save-mark (XDP has no packet mark).
 */
static struct ipt2bpf_table *filter_table(const char *client, const char *server, bool xdp,
					  unsigned int *idx_in, unsigned int *idx_out)
{
	static struct rs r;
	struct xt_conntrack_mtinfo3 c;
	struct ipt_ip tcp = ip_proto(IPPROTO_TCP);
	unsigned int first;

	memset(&r, 0, sizeof(r));
	blob_init(&r.b, "filter", FILTER_HOOKS);
	blob_hook(&r.b, NF_INET_LOCAL_IN);
	first = blob_entry(&r.b, NULL);
	m_state(&r, ST(NEW));
	r_cont(&r);
	blob_entry(&r.b, NULL);
	m_state(&r, ST(ESTABLISHED));
	r_cont(&r);
	blob_entry(&r.b, NULL);
	c = (struct xt_conntrack_mtinfo3){.match_flags =
						  XT_CONNTRACK_STATE | XT_CONNTRACK_DIRECTION,
					  .state_mask = ST(ESTABLISHED)};
	m_conntrack(&r, &c);
	r_cont(&r);
	blob_entry(&r.b, NULL);
	c = (struct xt_conntrack_mtinfo3){.match_flags = XT_CONNTRACK_STATUS,
					  .status_mask = IPS_ASSURED};
	m_conntrack(&r, &c);
	r_cont(&r);
	blob_entry(&r.b, NULL);
	c = (struct xt_conntrack_mtinfo3){.match_flags = XT_CONNTRACK_STATUS,
					  .status_mask = IPS_SEEN_REPLY};
	m_conntrack(&r, &c);
	r_cont(&r);
	/* -p tcp -m conntrack --ctproto tcp --ctorigsrc C --ctorigdst S/32 --ctreplsrc S
	 *	--ctrepldst C --ctorigdstport 80 --ctreplsrcport 80:80 --ctexpire 0:1000000 */
	blob_entry(&r.b, &tcp);
	c = (struct xt_conntrack_mtinfo3){.match_flags =
						  XT_CONNTRACK_PROTO | XT_CONNTRACK_ORIGSRC |
						  XT_CONNTRACK_ORIGDST | XT_CONNTRACK_REPLSRC |
						  XT_CONNTRACK_REPLDST | XT_CONNTRACK_ORIGDST_PORT |
						  XT_CONNTRACK_REPLSRC_PORT | XT_CONNTRACK_EXPIRES,
					  .l4proto = IPPROTO_TCP,
					  .origdst_port = 80,
					  .origdst_port_high = 80,
					  .replsrc_port = 80,
					  .replsrc_port_high = 80,
					  .expires_min = 0,
					  .expires_max = 1000000};
	c.origsrc_addr.ip = c.repldst_addr.ip = ip4(client);
	c.origdst_addr.ip = c.replsrc_addr.ip = ip4(server);
	c.origsrc_mask.ip = c.origdst_mask.ip = c.replsrc_mask.ip = c.repldst_mask.ip = ~0U;
	m_conntrack(&r, &c);
	r_cont(&r);
	blob_entry(&r.b, NULL);
	m_connmark(&r, 5, ~0U, false);
	r_cont(&r);
	blob_entry(&r.b, NULL);
	m_state(&r, XT_STATE_INVALID);
	blob_std(&r.b, VERDICT_DROP);
	blob_entry(&r.b, NULL);
	c = (struct xt_conntrack_mtinfo3){.match_flags =
						  XT_CONNTRACK_STATE | XT_CONNTRACK_ORIGDST_PORT,
					  .state_mask = ST(NEW),
					  .origdst_port = 81,
					  .origdst_port_high = 81};
	m_conntrack(&r, &c);
	blob_std(&r.b, VERDICT_DROP);
	blob_entry(&r.b, NULL);
	m_state(&r, ST(NEW));
	t_connmark(&r, XT_CONNMARK_SET, 5, ~0U, 0);
	if (!xdp) {
		blob_entry(&r.b, NULL);
		t_connmark(&r, XT_CONNMARK_RESTORE, 0, 0xff, 0xff);
	}
	blob_policy(&r.b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);

	blob_hook(&r.b, NF_INET_FORWARD);
	blob_entry(&r.b, NULL);
	m_state(&r, ST(RELATED));
	blob_std(&r.b, VERDICT_ACCEPT);
	blob_entry(&r.b, NULL);
	c = (struct xt_conntrack_mtinfo3){.match_flags = XT_CONNTRACK_STATE,
					  .invert_flags = XT_CONNTRACK_STATE,
					  .state_mask = XT_CONNTRACK_STATE_INVALID};
	m_conntrack(&r, &c);
	r_cont(&r);
	blob_policy(&r.b, NF_INET_FORWARD, VERDICT_ACCEPT);

	blob_hook(&r.b, NF_INET_LOCAL_OUT);
	*idx_out = blob_entry(&r.b, NULL);
	m_state(&r, ST(NEW));
	r_cont(&r);
	blob_entry(&r.b, NULL);
	m_state(&r, ST(ESTABLISHED));
	r_cont(&r);
	blob_entry(&r.b, NULL);
	c = (struct xt_conntrack_mtinfo3){.match_flags = XT_CONNTRACK_DIRECTION,
					  .invert_flags = XT_CONNTRACK_DIRECTION};
	m_conntrack(&r, &c);
	r_cont(&r);
	blob_entry(&r.b, NULL);
	m_state(&r, ST(RELATED));
	r_cont(&r);
	blob_entry(&r.b, NULL);
	m_connmark(&r, 5, ~0U, false);
	r_cont(&r);
	blob_entry(&r.b, NULL);
	m_connmark(&r, 7, 0xf, true);
	r_cont(&r);
	if (!xdp) {
		blob_entry(&r.b, NULL);
		t_connmark(&r, XT_CONNMARK_SAVE, 0, 0xff00, 0xff00);
	}
	blob_policy(&r.b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	*idx_in = first;
	return rs_done(&r);
}

/* security: INPUT labels TCP and saves the label in the connection, OUTPUT restores it. */
static struct ipt2bpf_table *security_table(void)
{
	static struct rs r;
	struct xt_secmark_target_info_v1 s = {.mode = SECMARK_MODE_SEL};
	struct xt_connsecmark_target_info save = {.mode = CONNSECMARK_SAVE};
	struct xt_connsecmark_target_info restore = {.mode = CONNSECMARK_RESTORE};
	struct ipt_ip tcp = ip_proto(IPPROTO_TCP);

	memset(&r, 0, sizeof(r));
	strcpy(s.secctx, "system_u:object_r:http_server_packet_t:s0");
	blob_init(&r.b, "security", FILTER_HOOKS);
	blob_hook(&r.b, NF_INET_LOCAL_IN);
	blob_entry(&r.b, &tcp);
	blob_end(&r.b, "SECMARK", 1, &s, sizeof(s));
	blob_entry(&r.b, NULL);
	blob_end(&r.b, "CONNSECMARK", 0, &save, sizeof(save));
	blob_policy(&r.b, NF_INET_LOCAL_IN, VERDICT_ACCEPT);
	blob_hook(&r.b, NF_INET_FORWARD);
	blob_policy(&r.b, NF_INET_FORWARD, VERDICT_ACCEPT);
	blob_hook(&r.b, NF_INET_LOCAL_OUT);
	blob_entry(&r.b, NULL);
	blob_end(&r.b, "CONNSECMARK", 0, &restore, sizeof(restore));
	blob_policy(&r.b, NF_INET_LOCAL_OUT, VERDICT_ACCEPT);
	return rs_done(&r);
}

/* ------------------------------------------------------------ packets */

/* rig.h's packets: Ethernet + IPv4 src -> dst (no options, ID 0) + l4. */
static void ct_ip(struct pkt *p, const char *src, const char *dst, uint8_t proto, const void *l4,
		  size_t l4len)
{
	const struct ipspec s = {.src = src, .dst = dst, .proto = proto};

	pkt_build(p, &s, l4, l4len);
}

static void ct_tcp(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
		   uint8_t flags, uint32_t seq, uint32_t ack)
{
	const struct ipspec s = {.src = src, .dst = dst};
	const struct tcpspec t = {.sport = sport,
				  .dport = dport,
				  .flags = flags,
				  .seq = seq,
				  .ack = ack,
				  .win = 64000};

	pkt_tcp_spec(p, &s, &t);
}

static void ct_udp(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	const struct ipspec s = {.src = src, .dst = dst};

	pkt_udp(p, &s, sport, dport);
}

/* ICMP port unreachable from src to dst quoting the packet q (its IP header + 8 bytes). */
static void ct_icmp_err(struct pkt *p, const char *src, const char *dst, const struct pkt *q)
{
	const struct ipspec s = {.src = src, .dst = dst};

	pkt_icmp_err(p, &s, 3, 3, q);
}

/* ------------------------------------------------------------ running */

struct rig {
	struct ipt2bpf_progset *ps;
	struct ipt2bpf_loaded l;
	const struct ipt2bpf_table *t[2];
	unsigned int n;
	struct ipt2bpf_counter *before[2], *after[2];
	struct ipt2bpf_labels labels;
	struct ipt2bpf_secopts sec;
};

/* Generates and loads (the verifier's verdict); trace programs in TC mode. */
static void rig_load(struct rig *r, const struct ipt2bpf_table *t0, const struct ipt2bpf_table *t1,
		     enum ipt2bpf_mode mode)
{
	struct ipt2bpf_gen_opts o = {.mode = mode, .trace = mode == IPT2BPF_MODE_TC};
	struct ipt2bpf_diag d = {0};

	memset(r, 0, sizeof(*r));
	r->t[0] = t0;
	r->t[1] = t1;
	r->n = t1 ? 2 : 1;
	if (t1) {
		r->sec.labels = &r->labels;
		r->sec.mark_mask = 0xff0000;
		o.sec = &r->sec;
	}
	if (ipt2bpf_gen(r->t, r->n, &o, &r->ps, &d))
		fail_msg("gen: %s", d.msg);
	if (ipt2bpf_progset_load(r->ps, &r->l, &d)) {
		/* the verifier's log tail: cmocka cuts long messages */
		fprintf(stderr, "%s\n", d.msg);
		fail_msg("load (%s mode): the verifier refused the programs",
			 mode == IPT2BPF_MODE_XDP ? "xdp" : "tc");
	}
	for (unsigned int k = 0; k < r->n; k++) {
		r->before[k] = calloc(r->t[k]->n_entries, sizeof(struct ipt2bpf_counter));
		r->after[k] = calloc(r->t[k]->n_entries, sizeof(struct ipt2bpf_counter));
		assert_true(r->before[k] && r->after[k]);
	}
}

static void rig_free(struct rig *r)
{
	ipt2bpf_loaded_close(&r->l);
	ipt2bpf_progset_free(r->ps);
	ipt2bpf_labels_release(&r->labels);
	for (unsigned int k = 0; k < 2; k++) {
		free(r->before[k]);
		free(r->after[k]);
	}
	memset(r, 0, sizeof(*r));
}

static void counters(struct rig *r, struct ipt2bpf_counter **into)
{
	for (unsigned int k = 0; k < r->n; k++)
		assert_int_equal(ipt2bpf_counters_read(r->l.map_fds[r->ps->counter_map[k]],
						       r->t[k]->n_entries, into[k]),
				 0);
}

/* A controlled clock for the trace programs (when on): 40 ms (10 jiffies) per packet. */
static struct {
	bool on;
	uint64_t ns, jiffies;
} clk;

static void cfg_set(struct rig *r, uint32_t iif, uint32_t oif)
{
	struct ipt2bpf_cfg cfg = {.iif = iif, .oif = oif};

	if (clk.on) {
		cfg.clock = 1;
		cfg.now_ns = clk.ns;
		cfg.jiffies = clk.jiffies;
		clk.ns += 40000000;
		clk.jiffies += 10;
	}
	uint32_t zero = 0;
	int map = ipt2bpf_progset_find_map(r->ps, IPT2BPF_MAP_CFG);

	assert_true(map >= 0);
	assert_int_equal(bpf_map_update_elem(r->l.map_fds[map], &zero, &cfg, BPF_ANY), 0);
}

/* Runs p through program fd with context ctx (may be NULL); the program's return value. */
static int run_fd(struct rig *r, int fd, const struct pkt *p, void *ctx, uint32_t ctx_size)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .ctx_in = ctx, .ctx_size_in = ctx_size, .repeat = 1);

	counters(r, r->before);
	if (bpf_prog_test_run_opts(fd, &o))
		fail_msg("BPF_PROG_TEST_RUN: %s", strerror(errno));
	counters(r, r->after);
	return (int)o.retval;
}

/* The trace program of hook. */
static int run(struct rig *r, int hook, const struct pkt *p)
{
	cfg_set(r, hook == NF_INET_LOCAL_OUT ? 0 : 1001, hook == NF_INET_LOCAL_IN ? 0 : 1002);
	return run_fd(r, rig_prog_fd(r->ps, &r->l, IPT2BPF_P_TRACE, hook), p, NULL, 0);
}

static uint64_t hits(const struct rig *r, unsigned int k, unsigned int e)
{
	return r->after[k][e].pcnt - r->before[k][e].pcnt;
}

/* Exactly the entries base + listed offsets (terminated by -1) counted a packet each, table 0. */
static void expect_counted(const struct rig *r, const char *what, unsigned int base, ...)
{
	bool want[BLOB_MAX_ENTRIES] = {false};
	va_list ap;
	int e;

	va_start(ap, base);
	while ((e = va_arg(ap, int)) >= 0)
		want[base + (unsigned int)e] = true;
	va_end(ap);
	for (unsigned int i = 0; i < r->t[0]->n_entries; i++)
		if (hits(r, 0, i) != (want[i] ? 1 : 0))
			fail_msg("%s: entry %u counted %llu packets, expected %d", what, i,
				 (unsigned long long)hits(r, 0, i), want[i] ? 1 : 0);
}

#define COUNTED(r, what, base, ...) expect_counted(r, what, base, ##__VA_ARGS__, -1)

/* The tracker's counter idx (GEN_CT_STAT_*), summed over CPUs. */
static uint64_t ct_stat(const struct rig *r, uint32_t idx)
{
	int map = ipt2bpf_progset_find_map(r->ps, GEN_CT_STATS_MAP);
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *v, sum = 0;

	assert_true(map >= 0 && ncpu > 0);
	v = calloc((size_t)ncpu, sizeof(*v));
	assert_non_null(v);
	assert_int_equal(bpf_map_lookup_elem(r->l.map_fds[map], &idx, v), 0);
	for (int i = 0; i < ncpu; i++)
		sum += v[i];
	free(v);
	return sum;
}

/* ------------------------------------------------------------ tests */

#define CL "10.0.0.1"
#define SV "10.0.0.2"

/*
 * Every tracker user in every TC program (ingress, egress, three trace
 * programs), two tables (filter, security), then the flows through the
 * trace programs: one connection table for INPUT and OUTPUT.
 */
static void test_tc(void **state)
{
	struct ipt2bpf_table *f, *s;
	unsigned int in, out;
	struct rig r;
	struct pkt p, q;

	(void)state;
	if (!have_root())
		skip();
	f = filter_table(CL, SV, false, &in, &out);
	s = security_table();
	rig_load(&r, f, s, IPT2BPF_MODE_TC);

	/* TCP handshake: SYN in (NEW, marked 5 at confirm), SYN/ACK out, ACK in. */
	ct_tcp(&p, CL, 40000, SV, 80, TH_SYN, 1000, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_OK);
	COUNTED(&r, "SYN", in, I_NEW, I_TUPLE, I_SETMARK, I_RESTORE, I_POLICY);
	ct_tcp(&p, SV, 80, CL, 40000, TH_SYN | TH_ACK, 5000, 1001);
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &p), TC_ACT_OK);
	COUNTED(&r, "SYN/ACK", out, O_EST, O_REPLY, O_CONNMARK, O_NOTMARK7, O_SAVE, O_POLICY);
	ct_tcp(&p, CL, 40000, SV, 80, TH_ACK, 1001, 5001);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_OK);
	COUNTED(&r, "ACK", in, I_EST, I_EST_ORIG, I_ASSURED, I_SEEN_REPLY, I_TUPLE, I_CONNMARK,
		I_RESTORE, I_POLICY);
	/* data both ways */
	ct_tcp(&p, SV, 80, CL, 40000, TH_ACK, 5001, 1001);
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &p), TC_ACT_OK);
	COUNTED(&r, "server ACK", out, O_EST, O_REPLY, O_CONNMARK, O_NOTMARK7, O_SAVE, O_POLICY);

	/* A NEW connection the rules drop is not confirmed: its retransmission is NEW again. */
	for (int i = 0; i < 2; i++) {
		ct_tcp(&p, CL, 40001, SV, 81, TH_SYN, 7000, 0);
		assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_SHOT);
		COUNTED(&r, "SYN to 81", in, I_NEW, I_DROP81);
	}
	/* SYN|FIN: tcp_error() says INVALID. */
	ct_tcp(&p, CL, 40002, SV, 80, TH_SYN | TH_FIN, 1, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_SHOT);
	COUNTED(&r, "SYN|FIN", in, I_INVALID);

	/* UDP request, reply, second request. */
	ct_udp(&q, CL, 5353, SV, 53);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &q), TC_ACT_OK);
	COUNTED(&r, "UDP request", in, I_NEW, I_SETMARK, I_RESTORE, I_POLICY);
	ct_udp(&p, SV, 53, CL, 5353);
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &p), TC_ACT_OK);
	COUNTED(&r, "UDP reply", out, O_EST, O_REPLY, O_CONNMARK, O_NOTMARK7, O_SAVE, O_POLICY);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &q), TC_ACT_OK);
	COUNTED(&r, "UDP request 2", in, I_EST, I_EST_ORIG, I_SEEN_REPLY, I_CONNMARK, I_RESTORE,
		I_POLICY);
	/* The server's port unreachable about it: RELATED (reply direction). */
	ct_icmp_err(&p, SV, CL, &q);
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &p), TC_ACT_OK);
	COUNTED(&r, "ICMP error", out, O_REPLY, O_RELATED, O_CONNMARK, O_NOTMARK7, O_SAVE,
		O_POLICY);

	assert_int_equal(ct_stat(&r, GEN_CT_STAT_NEW), 2);
	assert_int_equal(ct_stat(&r, GEN_CT_STAT_DROPPED_NEW), 2);
	assert_int_equal(ct_stat(&r, GEN_CT_STAT_INVALID), 1);
	assert_int_equal(ct_stat(&r, GEN_CT_STAT_RELATED), 1);
	rig_free(&r);
	ipt2bpf_table_free(f);
	ipt2bpf_table_free(s);
}

/* XDP mode: ipt_xdp and ipt_egress with the tracker pass the verifier. */
static void test_xdp_load(void **state)
{
	struct ipt2bpf_table *f;
	unsigned int in, out;
	struct rig r;

	(void)state;
	if (!have_root())
		skip();
	f = filter_table(CL, SV, true, &in, &out);
	rig_load(&r, f, NULL, IPT2BPF_MODE_XDP);
	assert_int_equal(r.ps->n_progs, 2);
	assert_int_equal(r.ps->progs[0].type, BPF_PROG_TYPE_XDP);
	rig_free(&r);
	ipt2bpf_table_free(f);
}

/* -m connlimit: --connlimit-above/upto limit, mask /plen, saddr or daddr. */
static void m_connlimit(struct rs *r, unsigned int limit, bool upto, int plen, bool daddr)
{
	struct xt_connlimit_info i = {.limit = limit};

	i.v4_mask = plen ? htonl(~0U << (32 - plen)) : 0;
	i.flags = (upto ? XT_CONNLIMIT_INVERT : 0) | (daddr ? XT_CONNLIMIT_DADDR : 0);
	blob_match(&r->b, "connlimit", 1, &i, sizeof(i));
}

/*
 * INPUT: -p tcp --syn -m connlimit --connlimit-above 2 -j DROP
 *        -p udp -m connlimit --connlimit-upto 1 --connlimit-mask 24 --connlimit-daddr
 */
static struct ipt2bpf_table *connlimit_table(void)
{
	static struct rs r;
	struct ipt_ip tcp = ip_proto(IPPROTO_TCP), udp = ip_proto(IPPROTO_UDP);
	struct xt_tcp syn = {.spts = {0, 0xffff},
			     .dpts = {0, 0xffff},
			     .flg_mask = TH_SYN | TH_RST | TH_ACK | TH_FIN,
			     .flg_cmp = TH_SYN};

	memset(&r, 0, sizeof(r));
	blob_init(&r.b, "filter", FILTER_HOOKS);
	blob_hook(&r.b, NF_INET_LOCAL_IN);
	blob_entry(&r.b, &tcp);
	blob_match(&r.b, "tcp", 0, &syn, sizeof(syn));
	m_connlimit(&r, 2, false, 32, false);
	blob_std(&r.b, VERDICT_DROP);
	blob_entry(&r.b, &udp);
	m_connlimit(&r, 1, true, 24, true);
	r_cont(&r);
	return rs_done_input(&r);
}

/*
 * connlimit (nf_conncount over the tracker's table): dropped SYNs stay
 * listed until the next walk, a killed connection stops counting, the
 * packet's own connection is not counted twice, timed-out ones go; a
 * packet without a tuple is hotdropped.  Both modes load.
 */
static void test_connlimit(void **state)
{
	enum { C_SYN, C_UDP, C_POLICY };
	struct ipt2bpf_table *t;
	struct rig r;
	struct pkt p;
	uint8_t short_udp[2] = {0x13, 0x88};

	(void)state;
	if (!have_root())
		skip();
	t = connlimit_table();
	rig_load(&r, t, NULL, IPT2BPF_MODE_XDP);
	rig_free(&r);
	rig_load(&r, t, NULL, IPT2BPF_MODE_TC);
	clk.on = true;
	clk.ns = 1000000000000ULL;
	clk.jiffies = 4294000000ULL; /* (u32)jiffies wraps on the way */

	for (uint16_t port = 40001; port <= 40003; port++) {
		ct_tcp(&p, CL, port, SV, 80, TH_SYN, 1000, 0);
		assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p),
				 port < 40003 ? TC_ACT_OK : TC_ACT_SHOT);
		if (port < 40003)
			COUNTED(&r, "SYN 1, 2", 0, C_POLICY);
		else
			COUNTED(&r, "SYN 3", 0, C_SYN);
	}
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_SHOT);
	COUNTED(&r, "SYN 3 again", 0, C_SYN);
	/* the server resets the second one (never answered: the connection goes) */
	ct_tcp(&p, SV, 80, CL, 40002, TH_RST | TH_ACK, 0, 1001);
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &p), TC_ACT_OK);
	ct_tcp(&p, CL, 40003, SV, 80, TH_SYN, 1000, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_OK);
	COUNTED(&r, "SYN 3 after the reset", 0, C_POLICY);
	ct_tcp(&p, CL, 40004, SV, 80, TH_SYN, 1000, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_SHOT);
	COUNTED(&r, "SYN 4", 0, C_SYN);

	/* upto 1 per destination /24 */
	ct_udp(&p, CL, 5000, SV, 53);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_OK);
	COUNTED(&r, "UDP 1", 0, C_UDP, C_POLICY);
	ct_udp(&p, CL, 5001, "10.0.0.3", 53);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_OK);
	COUNTED(&r, "UDP 2", 0, C_POLICY);
	ct_udp(&p, CL, 5000, SV, 53); /* listed already: still 2 */
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_OK);
	COUNTED(&r, "UDP 1 again", 0, C_POLICY);
	/* 31 s later both have timed out (unreplied: 30 s) */
	clk.ns += 31000000000ULL;
	clk.jiffies += 31 * 250;
	ct_udp(&p, CL, 5002, "10.0.0.4", 53);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_OK);
	COUNTED(&r, "UDP 3", 0, C_UDP, C_POLICY);
	/* two bytes of UDP: no ports, no tuple: hotdrop */
	ct_ip(&p, CL, SV, IPPROTO_UDP, short_udp, sizeof(short_udp));
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_SHOT);
	COUNTED(&r, "short UDP", 0);
	clk.on = false;
	rig_free(&r);
	ipt2bpf_table_free(t);
}

static void m_connbytes(struct rs *r, uint64_t from, uint64_t to, uint8_t what, uint8_t dir)
{
	struct xt_connbytes_info i = {.count = {from, to}, .what = what, .direction = dir};

	blob_match(&r->b, "connbytes", 0, &i, sizeof(i));
}

static void m_connlabel(struct rs *r, uint16_t bit, uint16_t options)
{
	struct xt_connlabel_mtinfo i = {.bit = bit, .options = options};

	blob_match(&r->b, "connlabel", 0, &i, sizeof(i));
}

/*
 * INPUT: -m connbytes --connbytes 3:3 --connbytes-mode packets --connbytes-dir both
 *        -m connbytes ! --connbytes 41:5000000000 --connbytes-mode bytes --connbytes-dir original
 *        -m connlabel --label 100 --set
 *        -m connlabel ! --label 100
 *        -m connbytes --connbytes 0:0 --connbytes-mode avgpkt --connbytes-dir reply
 */
static struct ipt2bpf_table *acct_table(void)
{
	static struct rs r;
	struct ipt_ip any = {0};

	memset(&r, 0, sizeof(r));
	blob_init(&r.b, "filter", FILTER_HOOKS);
	blob_hook(&r.b, NF_INET_LOCAL_IN);
	blob_entry(&r.b, &any);
	m_connbytes(&r, 3, 3, XT_CONNBYTES_PKTS, XT_CONNBYTES_DIR_BOTH);
	r_cont(&r);
	blob_entry(&r.b, &any);
	m_connbytes(&r, 5000000000ULL, 41, XT_CONNBYTES_BYTES, XT_CONNBYTES_DIR_ORIGINAL);
	r_cont(&r);
	blob_entry(&r.b, &any);
	m_connlabel(&r, 100, XT_CONNLABEL_OP_SET);
	r_cont(&r);
	blob_entry(&r.b, &any);
	m_connlabel(&r, 100, XT_CONNLABEL_OP_INVERT);
	r_cont(&r);
	blob_entry(&r.b, &any);
	m_connbytes(&r, 0, 0, XT_CONNBYTES_AVGPKT, XT_CONNBYTES_DIR_REPLY);
	r_cont(&r);
	return rs_done_input(&r);
}

/*
 * connbytes and connlabel: the counters include the packet, a SYN
 * retransmitted before any reply does not count, avgpkt of no packets is 0,
 * an inverted range with a 64-bit bound; a label set on the first packet is
 * stored with the new connection.  Both modes load.
 */
static void test_acct(void **state)
{
	enum { A_PKTS3, A_BYTES, A_SET, A_NOTSET, A_AVG0, A_POLICY, A_OUT = 7 };
	struct ipt2bpf_table *t;
	struct rig r;
	struct pkt p;

	(void)state;
	if (!have_root())
		skip();
	t = acct_table();
	rig_load(&r, t, NULL, IPT2BPF_MODE_XDP);
	rig_free(&r);
	rig_load(&r, t, NULL, IPT2BPF_MODE_TC);
	ct_tcp(&p, CL, 40001, SV, 80, TH_SYN, 1000, 0);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_OK);
	COUNTED(&r, "SYN (1 packet, 40 bytes)", 0, A_BYTES, A_SET, A_AVG0, A_POLICY);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_OK);
	COUNTED(&r, "SYN again (not counted)", 0, A_BYTES, A_SET, A_AVG0, A_POLICY);
	ct_tcp(&p, SV, 80, CL, 40001, TH_SYN | TH_ACK, 5000, 1001);
	assert_int_equal(run(&r, NF_INET_LOCAL_OUT, &p), TC_ACT_OK);
	COUNTED(&r, "SYN/ACK", 0, A_OUT);
	ct_tcp(&p, CL, 40001, SV, 80, TH_ACK, 1001, 5001);
	assert_int_equal(run(&r, NF_INET_LOCAL_IN, &p), TC_ACT_OK);
	COUNTED(&r, "ACK (3 packets, 80 bytes original)", 0, A_PKTS3, A_SET, A_POLICY);
	rig_free(&r);
	ipt2bpf_table_free(t);
}

#define PEER  "192.0.2.1"
#define LOCAL "192.0.2.254"

/* d0's MAC: packets to another one would be PACKET_OTHERHOST (dropped by ip_rcv()). */
static uint8_t d0_mac[ETH_ALEN];

static void mac_get(const char *dev, uint8_t *mac)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	assert_int_equal(ioctl(fd, SIOCGIFHWADDR, &ifr), 0);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	close(fd);
}

static int run_tc(struct rig *r, enum ipt2bpf_prog_role role, const struct pkt *p, uint32_t ifindex,
		  uint32_t ingress_ifindex)
{
	struct __sk_buff ctx = {.ifindex = ifindex, .ingress_ifindex = ingress_ifindex};
	struct pkt q = *p;

	memcpy(q.b, d0_mac, ETH_ALEN);
	return run_fd(r, rig_prog_fd(r->ps, &r->l, role, -1), &q, &ctx, sizeof(ctx));
}

static int run_xdp(struct rig *r, const struct pkt *p, uint32_t ifindex)
{
	struct xdp_md ctx = {.ingress_ifindex = ifindex, .data_end = (uint32_t)p->len};
	struct pkt q = *p;

	memcpy(q.b, d0_mac, ETH_ALEN);
	return run_fd(r, r->l.prog_fds[0], &q, &ctx, sizeof(ctx));
}

/*
 * The production programs, in a private network namespace with a veth
 * device d0 (LOCAL/24): a TCP handshake through TC ingress and egress, a
 * UDP request/reply through XDP and TC egress.
 */
static void test_live_programs(void **state)
{
	struct ipt2bpf_table *f, *fx;
	unsigned int in, out, d0;
	struct rig r;
	struct pkt p;

	(void)state;
	if (!have_root())
		skip();
	if (unshare(CLONE_NEWNET)) {
		print_message("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		skip();
	}
	rig_lo_up();
	if (system("ip link add d0 type veth peer name d1 && ip addr add " LOCAL "/24 dev d0 && "
		   "ip link set d1 up && ip link set d0 up")) {
		print_message("cannot create a veth pair: live programs not run\n");
		skip();
	}
	d0 = if_nametoindex("d0");
	assert_true(d0 > 0);
	mac_get("d0", d0_mac);

	f = filter_table(PEER, LOCAL, false, &in, &out);
	rig_load(&r, f, NULL, IPT2BPF_MODE_TC);
	ct_tcp(&p, PEER, 40000, LOCAL, 80, TH_SYN, 1000, 0);
	assert_int_equal(run_tc(&r, IPT2BPF_P_INGRESS, &p, d0, d0), TC_ACT_OK);
	COUNTED(&r, "tc SYN", in, I_NEW, I_TUPLE, I_SETMARK, I_RESTORE, I_POLICY);
	ct_tcp(&p, LOCAL, 80, PEER, 40000, TH_SYN | TH_ACK, 5000, 1001);
	assert_int_equal(run_tc(&r, IPT2BPF_P_EGRESS, &p, d0, 0), TC_ACT_OK);
	COUNTED(&r, "tc SYN/ACK", out, O_EST, O_REPLY, O_CONNMARK, O_NOTMARK7, O_SAVE, O_POLICY);
	ct_tcp(&p, PEER, 40000, LOCAL, 80, TH_ACK, 1001, 5001);
	assert_int_equal(run_tc(&r, IPT2BPF_P_INGRESS, &p, d0, d0), TC_ACT_OK);
	COUNTED(&r, "tc ACK", in, I_EST, I_EST_ORIG, I_ASSURED, I_SEEN_REPLY, I_TUPLE, I_CONNMARK,
		I_RESTORE, I_POLICY);
	rig_free(&r);

	fx = filter_table(PEER, LOCAL, true, &in, &out);
	rig_load(&r, fx, NULL, IPT2BPF_MODE_XDP);
	ct_udp(&p, PEER, 5353, LOCAL, 53);
	assert_int_equal(run_xdp(&r, &p, d0), XDP_PASS);
	COUNTED(&r, "xdp UDP request", in, I_NEW, I_SETMARK, I_POLICY - 1);
	ct_udp(&p, LOCAL, 53, PEER, 5353);
	assert_int_equal(run_tc(&r, IPT2BPF_P_EGRESS, &p, d0, 0), TC_ACT_OK);
	COUNTED(&r, "xdp UDP reply", out, O_EST, O_REPLY, O_CONNMARK, O_NOTMARK7, O_POLICY - 1);
	ct_udp(&p, PEER, 5353, LOCAL, 53);
	assert_int_equal(run_xdp(&r, &p, d0), XDP_PASS);
	COUNTED(&r, "xdp UDP request 2", in, I_EST, I_EST_ORIG, I_SEEN_REPLY, I_CONNMARK,
		I_POLICY - 1);
	ct_tcp(&p, PEER, 40001, LOCAL, 81, TH_SYN, 1, 0);
	assert_int_equal(run_xdp(&r, &p, d0), XDP_DROP);
	COUNTED(&r, "xdp SYN to 81", in, I_NEW, I_DROP81);
	rig_free(&r);
	ipt2bpf_table_free(f);
	ipt2bpf_table_free(fx);
}

RIG_MAIN(cmocka_unit_test(test_tc), cmocka_unit_test(test_xdp_load),
	 cmocka_unit_test(test_connlimit), cmocka_unit_test(test_acct),
	 /* last: it moves the process into a network namespace of its own */
	 cmocka_unit_test(test_live_programs))
