// SPDX-License-Identifier: GPL-2.0
/*
 * NFLOG, AUDIT, -m cpu and HMARK: the NFLOG and AUDIT lines of the record
 * formatter, the refusals, and (as root) the generated programs in the real
 * verifier with packets through the trace programs (BPF_PROG_TEST_RUN): the
 * records NFLOG and AUDIT rules emit, -m cpu on the CPU the test runs on, and
 * HMARK's mark against hmark_tg_v4() written out here from xt_HMARK.c and
 * jhash.h.  The differential tests against the kernel are tests/diff/ext.sh
 * (families cpu0, cpu1, nflog, hmark) and tests/logrej/run.sh nflog.
 */
#include <errno.h>
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
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/netfilter/xt_AUDIT.h>
#include <linux/netfilter/xt_HMARK.h>
#include <linux/netfilter/xt_NFLOG.h>
#include <linux/netfilter/xt_cpu.h>
#include <linux/pkt_cls.h>
#include <cmocka.h>

#include "codegen/load.h"
#include "codegen/log_rec.h"
#include "codegen/progset.h"
#include "translator/diag.h"
#include "translator/ir.h"
#include "translator/validate.h"
#include "umh/rt_log.h"
#include "blob.h"
#include "rig.h"

#define IN  NF_INET_LOCAL_IN
#define FWD NF_INET_FORWARD
#define OUT NF_INET_LOCAL_OUT

/* ------------------------------------------------------------ packets */

/* Ethernet (02:00:00:00:00:01 to ...:02), IPv4 src -> dst (ID 0x1234), then l4 as given. */
static void pkt_ip(struct pkt *p, const char *src, const char *dst, uint8_t proto,
		   const uint8_t *l4, size_t l4len, uint16_t frag)
{
	const struct ipspec s = {.src = src,
				 .dst = dst,
				 .proto = proto,
				 .id = 0x1234,
				 .frag = frag,
				 .macs = (const uint8_t *)"\x02\0\0\0\0\x02\x02\0\0\0\0\x01"};

	pkt_build(p, &s, l4, l4len);
}

static void pkt_ports(struct pkt *p, const char *src, const char *dst, uint8_t proto,
		      uint16_t sport, uint16_t dport)
{
	uint8_t l4[20] = {0};

	put16(l4, sport);
	put16(l4 + 2, dport);
	put16(l4 + 4, 13);
	l4[12] = 5 << 4;
	l4[13] = 0x02;
	pkt_ip(p, src, dst, proto, l4, proto == IPPROTO_TCP ? 20 : 13, 0);
}

/* ------------------------------------------------------------ formatter */

static int dev_names(uint32_t ifindex, struct ipt2bpf_log_dev *dev, void *arg)
{
	(void)arg;
	snprintf(dev->name, sizeof(dev->name), "eth%u", ifindex);
	dev->ether = true;
	return 0;
}

static void rec_from(struct ipt2bpf_log_rec *r, const struct pkt *p, uint8_t kind)
{
	size_t len = p->len - ETH_HLEN;

	memset(r, 0, sizeof(*r));
	r->magic = IPT2BPF_LOG_MAGIC;
	r->kind = kind;
	r->hook = IN;
	r->iif = 1;
	r->len = (uint32_t)len;
	r->caplen = (uint32_t)(len < IPT2BPF_LOG_DATA ? len : IPT2BPF_LOG_DATA);
	r->flags = IPT2BPF_LOG_F_MAC;
	memcpy(r->mac, p->b, ETH_HLEN);
	memcpy(r->data, p->b + ETH_HLEN, r->caplen);
}

static void expect_line(const struct ipt2bpf_log_rec *r, const char *want)
{
	char line[1024];
	int n = ipt2bpf_log_format(r, sizeof(*r), dev_names, NULL, line, sizeof(line));

	if (n < 0 || strcmp(line, want))
		fail_msg("got  \"%s\" (%d)\nwant \"%s\"", line, n, want);
}

#define MAC "MAC=02:00:00:00:00:02:02:00:00:00:00:01:08:00 "
#define UDP_HDR                                                                                    \
	"SRC=10.0.0.1 DST=10.0.0.2 LEN=33 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=UDP SPT=5353 "   \
	"DPT=53 LEN=13 "

static void format_lines(void **state)
{
	struct ipt2bpf_log_rec r;
	struct pkt p;
	char line[1024];
	int n;

	(void)state;
	pkt_ports(&p, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 5353, 53);
	/* NFLOG: the LOG line without options, then group and payload length (--nflog-size). */
	rec_from(&r, &p, IPT2BPF_LOG_K_NFLOG);
	r.nflog.group = 3;
	r.nflog.flags = XT_NFLOG_F_COPY_LEN;
	r.nflog.len = 20;
	snprintf(r.nflog.prefix, sizeof(r.nflog.prefix), "%s",
		 "a prefix that is longer than LOG's 29 chars: ");
	expect_line(&r, "a prefix that is longer than LOG's 29 chars: IN=eth1 OUT= " MAC UDP_HDR
			"GROUP=3 CAPLEN=20 ");
	/* --nflog-range (no XT_NFLOG_F_COPY_LEN): the kernel ignores it, so do we */
	r.nflog.flags = 0;
	r.nflog.len = 5;
	r.nflog.prefix[0] = 0;
	r.mark = 0x2a;
	expect_line(&r, "IN=eth1 OUT= " MAC UDP_HDR "MARK=0x2a GROUP=3 CAPLEN=33 ");
	r.nflog.flags = XT_NFLOG_F_COPY_LEN;
	r.nflog.len = 0;
	expect_line(&r, "IN=eth1 OUT= " MAC UDP_HDR "MARK=0x2a GROUP=3 CAPLEN=0 ");
	/* A truncated header ends LOG's line before MARK=; a listener gets the mark anyway. */
	pkt_ip(&p, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, (const uint8_t *)"\x04\xd2\x00\x50", 4, 0);
	rec_from(&r, &p, IPT2BPF_LOG_K_NFLOG);
	r.hook = OUT;
	r.oif = 9;
	r.mark = 7;
	r.nflog.group = 65535;
	expect_line(&r, "IN= OUT=eth9 SRC=10.0.0.1 DST=10.0.0.2 LEN=24 TOS=0x00 PREC=0x00 TTL=64 "
			"ID=4660 PROTO=TCP INCOMPLETE [4 bytes] MARK=0x7 GROUP=65535 CAPLEN=24 ");

	/* AUDIT: the kernel's NETFILTER_PKT record ("0x0" for mark 0, as the kernel's %#x). */
	pkt_ports(&p, "192.0.2.1", "198.51.100.2", IPPROTO_UDP, 1, 2);
	rec_from(&r, &p, IPT2BPF_LOG_K_AUDIT);
	r.audit.serial = 7;
	r.audit.type = XT_AUDIT_TYPE_DROP;
	n = ipt2bpf_log_format(&r, sizeof(r), dev_names, NULL, line, sizeof(line));
	assert_true(n > 0);
	assert_int_equal(strncmp(line, "audit: type=1324 audit(", 23), 0);
	assert_non_null(strstr(line, ":7): mark=0x0 saddr=192.0.2.1 daddr=198.51.100.2 proto=17"));
	assert_string_equal(strstr(line, "): mark"),
			    "): mark=0x0 saddr=192.0.2.1 daddr=198.51.100.2 proto=17");
	r.mark = 0xfeedcafe;
	ipt2bpf_log_format(&r, sizeof(r), dev_names, NULL, line, sizeof(line));
	assert_non_null(strstr(line, "): mark=0xfeedcafe saddr="));
	/* Not a record of ours. */
	r.kind = 9;
	assert_int_equal(ipt2bpf_log_format(&r, sizeof(r), dev_names, NULL, line, sizeof(line)),
			 -EINVAL);
}

/* ------------------------------------------------------------ hmark reference */

/* hmark_tg_v4() with the packet tuple, from xt_HMARK.c and jhash.h. */
static uint32_t rol32(uint32_t w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}

static uint32_t ref_jhash3(uint32_t a, uint32_t b, uint32_t c, uint32_t initval)
{
	initval += 0xdeadbeef + (3 << 2);
	a += initval;
	b += initval;
	c += initval;
	c ^= b;
	c -= rol32(b, 14);
	a ^= c;
	a -= rol32(c, 11);
	b ^= a;
	b -= rol32(a, 25);
	c ^= b;
	c -= rol32(b, 16);
	a ^= c;
	a -= rol32(c, 4);
	b ^= a;
	b -= rol32(a, 14);
	c ^= b;
	c -= rol32(b, 24);
	return c;
}

/* The mark HMARK leaves on the IPv4 datagram ip[0..len) (no ICMP errors here). */
static uint32_t ref_hmark(const struct xt_hmark_info *i, const uint8_t *ip, size_t len)
{
	uint32_t src, dst, ports = 0, hash, m;
	uint8_t proto = ip[9];
	unsigned int hl = (ip[0] & 0xf) * 4U;

	memcpy(&src, ip + 12, 4);
	memcpy(&dst, ip + 16, 4);
	src = ntohl(src & i->src_mask.ip);
	dst = ntohl(dst & i->dst_mask.ip);
	if (dst < src) {
		m = src;
		src = dst;
		dst = m;
	}
	if (proto != IPPROTO_ICMP && !((ip[6] << 8 | ip[7]) & 0x3fff) && len >= hl + 4 &&
	    (proto == IPPROTO_TCP || proto == IPPROTO_UDP)) {
		uint32_t b;
		uint16_t s, d;

		memcpy(&b, ip + hl, 4);
		b = (b & i->port_mask.b32) | i->port_set.b32;
		s = ntohs((uint16_t)(b & 0xffff));
		d = ntohs((uint16_t)(b >> 16));
		ports = d > s ? (uint32_t)d << 16 | s : (uint32_t)s << 16 | d;
	}
	hash = ref_jhash3(src, dst, ports, i->hashrnd) ^ (proto & i->proto_mask);
	return (uint32_t)(((uint64_t)hash * i->hmodulus) >> 32) + i->hoffset;
}

/* ------------------------------------------------------------ programs */

static struct xt_hmark_info hm = {
	.src_mask.ip = 0xffffffff,
	.dst_mask.ip = 0x00ffffff, /* network order: 255.255.255.0 on little endian */
	.port_mask.b32 = 0xffffffff,
	.port_set.b32 = 0,
	.proto_mask = 0xffff,
	.hashrnd = 0xc0ffee,
	.hmodulus = 0xfffffff1,
	.hoffset = 5,
};

/*
 * INPUT: NFLOG, AUDIT, -m cpu --cpu 0, -m cpu ! --cpu 1, HMARK; OUTPUT:
 * NFLOG only; FORWARD: HMARK with the ports of a later fragment's.
 */
static struct ipt_replace *rules(size_t *len)
{
	static struct blob b;
	struct xt_nflog_info nf = {.group = 2, .flags = XT_NFLOG_F_COPY_LEN, .len = 10};
	struct xt_audit_info au = {.type = XT_AUDIT_TYPE_REJECT};
	struct xt_cpu_info c0 = {.cpu = 0}, n1 = {.cpu = 1, .invert = 1};

	snprintf(nf.prefix, sizeof(nf.prefix), "nf: ");
	blob_init(&b, "filter", FILTER_HOOKS);
	blob_hook(&b, IN);
	blob_entry(&b, NULL);
	blob_end(&b, "NFLOG", 0, &nf, sizeof(nf));
	blob_entry(&b, NULL);
	blob_end(&b, "AUDIT", 0, &au, sizeof(au));
	blob_entry(&b, NULL);
	blob_match(&b, "cpu", 0, &c0, sizeof(c0));
	rig_fallthrough(&b);
	blob_entry(&b, NULL);
	blob_match(&b, "cpu", 0, &n1, sizeof(n1));
	rig_fallthrough(&b);
	blob_entry(&b, NULL);
	blob_end(&b, "HMARK", 0, &hm, sizeof(hm));
	blob_policy(&b, IN, VERDICT_ACCEPT);
	blob_hook(&b, FWD);
	blob_entry(&b, NULL);
	blob_end(&b, "HMARK", 0, &hm, sizeof(hm));
	blob_policy(&b, FWD, VERDICT_ACCEPT);
	blob_hook(&b, OUT);
	nf.flags = 0;
	nf.group = 0;
	blob_entry(&b, NULL);
	blob_end(&b, "NFLOG", 0, &nf, sizeof(nf));
	blob_policy(&b, OUT, VERDICT_ACCEPT);
	blob_error(&b, "ERROR");
	return blob_finish(&b, len);
}

struct rig {
	struct ipt2bpf_table *t;
	struct ipt_replace *repl;
	struct ipt2bpf_progset *ps;
	struct ipt2bpf_loaded l;
	struct ipt2bpf_log *log;
	char lines[8][1024];
	unsigned int n_lines;
	uint32_t mark; /* skb->mark the program left */
};

static int on_line(const struct ipt2bpf_log_line *line, void *arg)
{
	struct rig *r = arg;

	if (r->n_lines < 8)
		snprintf(r->lines[r->n_lines++], sizeof(r->lines[0]), "%s", line->text);
	return 0;
}

static int rig_run(struct rig *r, int hook, const struct pkt *p)
{
	struct __sk_buff ctx = {0}, ctx_out = {0};
	uint8_t out[2048];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx_out,
		    .ctx_size_out = sizeof(ctx_out), .repeat = 1);
	int fd = rig_prog_fd(r->ps, &r->l, IPT2BPF_P_TRACE, hook);

	assert_int_equal(bpf_prog_test_run_opts(fd, &o), 0);
	r->mark = ctx_out.mark;
	r->n_lines = 0;
	assert_true(ipt2bpf_log_poll(r->log, 0, on_line, r) >= 0);
	return (int)o.retval;
}

static uint64_t count(struct rig *r, unsigned int entry)
{
	struct ipt2bpf_counter c[16];

	assert_true(r->t->n_entries <= 16);
	assert_int_equal(
		ipt2bpf_counters_read(r->l.map_fds[r->ps->counter_map[0]], r->t->n_entries, c), 0);
	return c[entry].pcnt;
}

static bool pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return sched_setaffinity(0, sizeof(s), &s) == 0;
}

static void programs(void **state)
{
	struct ipt2bpf_gen_opts o = {.mode = IPT2BPF_MODE_TC, .trace = true};
	struct ipt2bpf_diag d = {0};
	struct rig r = {0};
	struct pkt p;
	size_t len;
	int map;

	(void)state;
	if (!have_root())
		return;
	r.repl = rules(&len);
	if (rig_decode(r.repl, len, &r.t, &d))
		fail_msg("decode: %s", d.msg);
	if (ipt2bpf_gen((const struct ipt2bpf_table *const *)&r.t, 1, &o, &r.ps, &d))
		fail_msg("gen: %s", d.msg);
	if (ipt2bpf_progset_load(r.ps, &r.l, &d))
		fail_msg("load: %s", d.msg);
	map = ipt2bpf_progset_find_map(r.ps, IPT2BPF_MAP_LOG);
	assert_true(map >= 0);
	assert_int_equal(ipt2bpf_log_open_fd(r.l.map_fds[map], dev_names, NULL, &r.log, &d), 0);

	/* NFLOG then AUDIT (serial 1, 2, ...), both continue: the policy accepts. */
	pkt_ports(&p, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 5353, 53);
	assert_int_equal(rig_run(&r, IN, &p), TC_ACT_OK);
	assert_int_equal(r.n_lines, 2);
	assert_non_null(strstr(r.lines[0], "nf: IN="));
	assert_non_null(strstr(r.lines[0], " GROUP=2 CAPLEN=10 "));
	assert_non_null(strstr(r.lines[1], ":1): mark=0x0 saddr=10.0.0.1 daddr=10.0.0.2 proto=17"));
	assert_int_equal(rig_run(&r, IN, &p), TC_ACT_OK);
	assert_non_null(strstr(r.lines[1], ":2): mark=0x0 "));
	/* OUTPUT's NFLOG: no size, group 0; a LOG-kind record never leaks (kind restored). */
	assert_int_equal(rig_run(&r, OUT, &p), TC_ACT_OK);
	assert_int_equal(r.n_lines, 1);
	assert_non_null(strstr(r.lines[0], " GROUP=0 CAPLEN=33 "));

	/* -m cpu: the CPU the program runs on. */
	if (pin(0)) {
		uint64_t c0 = count(&r, 2), n1 = count(&r, 3);

		rig_run(&r, IN, &p);
		assert_int_equal(count(&r, 2), c0 + 1);
		assert_int_equal(count(&r, 3), n1 + 1);
	}
	if (pin(1)) {
		uint64_t c0 = count(&r, 2), n1 = count(&r, 3);

		rig_run(&r, IN, &p);
		assert_int_equal(count(&r, 2), c0);
		assert_int_equal(count(&r, 3), n1);
	}

	/* HMARK: the reference's mark, ports ordered, addresses masked. */
	{
		static const uint16_t ports[][2] = {{1, 2}, {2, 1}, {40000, 80}, {53, 53}};
		static const char *const addrs[][2] = {{"10.0.0.1", "10.0.0.2"},
						       {"10.0.0.2", "10.0.0.1"},
						       {"192.0.2.77", "10.9.8.7"}};

		for (size_t a = 0; a < sizeof(addrs) / sizeof(addrs[0]); a++)
			for (size_t k = 0; k < sizeof(ports) / sizeof(ports[0]); k++)
				for (int proto = 0; proto < 2; proto++) {
					uint8_t pr = proto ? IPPROTO_TCP : IPPROTO_UDP;

					pkt_ports(&p, addrs[a][0], addrs[a][1], pr, ports[k][0],
						  ports[k][1]);
					rig_run(&r, IN, &p);
					assert_int_equal(r.mark, ref_hmark(&hm, p.b + ETH_HLEN,
									   p.len - ETH_HLEN));
				}
		/* A later fragment at FORWARD: no ports; at offset 0 with MF: none either. */
		pkt_ports(&p, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 7, 9);
		put16(p.b + ETH_HLEN + 6, 0x2000);
		put16(p.b + ETH_HLEN + 10, 0);
		put16(p.b + ETH_HLEN + 10, pkt_csum(p.b + ETH_HLEN, 20));
		rig_run(&r, FWD, &p);
		assert_int_equal(r.mark, ref_hmark(&hm, p.b + ETH_HLEN, p.len - ETH_HLEN));
		/* ICMP: addresses and protocol only. */
		pkt_ip(&p, "10.0.0.1", "10.0.0.2", IPPROTO_ICMP,
		       (const uint8_t *)"\x08\x00\x00\x00\x00\x01\x00\x01", 8, 0);
		rig_run(&r, IN, &p);
		assert_int_equal(r.mark, ref_hmark(&hm, p.b + ETH_HLEN, p.len - ETH_HLEN));
	}
	pin(0);
	ipt2bpf_log_close(r.log);
	ipt2bpf_loaded_close(&r.l);
	ipt2bpf_progset_free(r.ps);
	ipt2bpf_table_free(r.t);
	free(r.repl);
}

/* ------------------------------------------------------------ refusals */

/* One INPUT rule with target name/data (and match mname/mdata if given): decode's message. */
static int one(const char *mname, const void *mdata, size_t mlen, const char *name,
	       const void *data, size_t len, enum ipt2bpf_mode mode, char *msg, size_t msglen)
{
	struct ipt2bpf_gen_opts o = {.mode = mode};
	size_t rlen;
	struct ipt_replace *repl = rig_one_rule(IN, mname, 0, mdata, mlen, name, data, len, &rlen);

	return rig_compile(repl, rlen, &o, false, msg, msglen);
}

static void refusals(void **state)
{
	struct xt_nflog_info nf = {.flags = 2};
	struct xt_audit_info au = {.type = 3};
	struct xt_cpu_info cpu = {.cpu = 1, .invert = 2};
	struct xt_hmark_info h = hm;
	char msg[4096];

	(void)state;
	assert_int_equal(
		one(NULL, NULL, 0, "NFLOG", &nf, sizeof(nf), IPT2BPF_MODE_TC, msg, sizeof(msg)),
		-EOPNOTSUPP);
	assert_non_null(strstr(msg, "target 'NFLOG': unknown flags 0x2"));
	nf.flags = 0;
	memset(nf.prefix, 'x', sizeof(nf.prefix));
	assert_int_equal(
		one(NULL, NULL, 0, "NFLOG", &nf, sizeof(nf), IPT2BPF_MODE_TC, msg, sizeof(msg)),
		-EOPNOTSUPP);
	assert_non_null(strstr(msg, "not NUL-terminated"));
	assert_int_equal(
		one(NULL, NULL, 0, "AUDIT", &au, sizeof(au), IPT2BPF_MODE_TC, msg, sizeof(msg)),
		-EOPNOTSUPP);
	assert_non_null(strstr(msg, "target 'AUDIT': --type 3 is out of range"));
	assert_int_equal(
		one("cpu", &cpu, sizeof(cpu), NULL, NULL, 0, IPT2BPF_MODE_TC, msg, sizeof(msg)),
		-EOPNOTSUPP);
	assert_non_null(strstr(msg, "match 'cpu': invert is 2"));
	h.hmodulus = 0;
	assert_int_equal(
		one(NULL, NULL, 0, "HMARK", &h, sizeof(h), IPT2BPF_MODE_TC, msg, sizeof(msg)),
		-EOPNOTSUPP);
	assert_non_null(strstr(msg, "target 'HMARK': invalid parameters"));
	h = hm;
	h.flags = XT_HMARK_FLAG(XT_HMARK_CT);
	assert_int_equal(
		one(NULL, NULL, 0, "HMARK", &h, sizeof(h), IPT2BPF_MODE_TC, msg, sizeof(msg)),
		-EOPNOTSUPP);
	assert_non_null(strstr(msg, "--hmark-tuple ct"));
	/* XDP has no mark and runs before RPS (HMARK, cpu); NFLOG and AUDIT compile there. */
	assert_int_equal(
		one(NULL, NULL, 0, "HMARK", &hm, sizeof(hm), IPT2BPF_MODE_XDP, msg, sizeof(msg)),
		-EOPNOTSUPP);
	assert_non_null(strstr(msg, "filter/INPUT#1: target 'HMARK': XDP programs have no"));
	memset(nf.prefix, 0, sizeof(nf.prefix));
	cpu.invert = 1;
	assert_int_equal(one("cpu", &cpu, sizeof(cpu), "NFLOG", &nf, sizeof(nf), IPT2BPF_MODE_XDP,
			     msg, sizeof(msg)),
			 -EOPNOTSUPP);
	assert_non_null(strstr(msg, "filter/INPUT#1: match 'cpu': XDP programs run before"));
	assert_int_equal(
		one(NULL, NULL, 0, "NFLOG", &nf, sizeof(nf), IPT2BPF_MODE_XDP, msg, sizeof(msg)),
		0);
	au.type = XT_AUDIT_TYPE_ACCEPT;
	assert_int_equal(
		one(NULL, NULL, 0, "AUDIT", &au, sizeof(au), IPT2BPF_MODE_XDP, msg, sizeof(msg)),
		0);
}

RIG_MAIN(cmocka_unit_test(format_lines), cmocka_unit_test(programs), cmocka_unit_test(refusals))
