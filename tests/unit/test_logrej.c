// SPDX-License-Identifier: GPL-2.0
/*
 * LOG and REJECT: the line formatter against lines written out from
 * nf_log_syslog.c, and (as root) the generated programs in the real verifier
 * with packets run through the trace programs (BPF_PROG_TEST_RUN): the LOG
 * record each rule emits, the reply REJECT builds (bytes worked out from
 * nf_reject_ipv4.c and icmp.c), the cases without a reply, the ICMP rate
 * limit on the trace clock, and the refusals.  The network differential
 * tests are tests/logrej/run.sh.
 */
#include <errno.h>
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
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/netfilter/xt_LOG.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>
#include <linux/pkt_cls.h>
#include <cmocka.h>

#include "codegen/elf.h"
#include "codegen/load.h"
#include "codegen/log_rec.h"
#include "codegen/progset.h"
#include "translator/diag.h"
#include "translator/ir.h"
#include "translator/validate.h"
#include "umh/rt_log.h"
#include "blob.h"

#define IN  NF_INET_LOCAL_IN
#define FWD NF_INET_FORWARD
#define OUT NF_INET_LOCAL_OUT

/* ------------------------------------------------------------ packets */

struct pkt {
	uint8_t b[2048];
	size_t len;
};

static uint16_t sum16(const uint8_t *p, size_t len, uint32_t s)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Ethernet 02:..:02 <- 02:..:01, IPv4 10.0.0.1 -> dst, then l4 (checksums filled in). */
static void pkt_ip(struct pkt *p, const char *dst, uint8_t proto, const uint8_t *l4, size_t l4len,
		   uint16_t frag, uint8_t ttl)
{
	uint8_t *ip = p->b + ETH_HLEN;
	struct in_addr s, d;

	memset(p, 0, sizeof(*p));
	memcpy(p->b, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", ETH_HLEN);
	inet_pton(AF_INET, "10.0.0.1", &s);
	inet_pton(AF_INET, dst, &d);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4len));
	put16(ip + 4, 0x1234);
	put16(ip + 6, frag);
	ip[8] = ttl;
	ip[9] = proto;
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	put16(ip + 10, (uint16_t)~sum16(ip, 20, 0));
	memcpy(ip + 20, l4, l4len);
	p->len = ETH_HLEN + 20 + l4len;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		uint8_t *c = ip + 20 + (proto == IPPROTO_TCP ? 16 : 6);
		uint32_t ph = sum16(ip + 12, 8, 0) + proto + (uint32_t)l4len;

		if (l4len >= (size_t)(c - ip - 20 + 2)) {
			put16(c, 0);
			put16(c, (uint16_t)~sum16(ip + 20, l4len, ph));
		}
	} else if (proto == IPPROTO_ICMP && l4len >= 4) {
		put16(ip + 22, 0);
		put16(ip + 22, (uint16_t)~sum16(ip + 20, l4len, 0));
	}
}

static void pkt_tcp(struct pkt *p, const char *dst, uint16_t dport, uint32_t seq, uint32_t ack,
		    uint8_t flags, size_t data)
{
	uint8_t t[20 + 64] = {0};

	put16(t, 1234);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 512);
	memset(t + 20, 'd', data);
	pkt_ip(p, dst, IPPROTO_TCP, t, 20 + data, 0x4000, 64);
}

static void pkt_udp(struct pkt *p, const char *dst, uint16_t dport, uint16_t frag)
{
	uint8_t u[13] = {0};

	put16(u, 5353);
	put16(u + 2, dport);
	put16(u + 4, sizeof(u));
	memcpy(u + 8, "hello", 5);
	pkt_ip(p, dst, IPPROTO_UDP, u, sizeof(u), frag, 64);
}

/* ------------------------------------------------------------ formatter */

static int dev_names(uint32_t ifindex, struct ipt2bpf_log_dev *dev, void *arg)
{
	(void)arg;
	snprintf(dev->name, sizeof(dev->name), "%s",
		 ifindex == 1	? "lo"
		 : ifindex == 7 ? "eth0"
				: "wan1");
	dev->ether = ifindex != 1;
	return 0;
}

static void rec_from(struct ipt2bpf_log_rec *r, const struct pkt *p, int hook, uint8_t flags,
		     const char *prefix)
{
	size_t len = p->len - ETH_HLEN;

	memset(r, 0, sizeof(*r));
	r->magic = IPT2BPF_LOG_MAGIC;
	r->hook = (uint8_t)hook;
	r->iif = hook == OUT ? 0 : 7;
	r->oif = hook == IN ? 0 : 9;
	r->len = (uint32_t)len;
	r->caplen = (uint32_t)(len < IPT2BPF_LOG_DATA ? len : IPT2BPF_LOG_DATA);
	r->flags = IPT2BPF_LOG_F_MAC;
	memcpy(r->mac, p->b, ETH_HLEN);
	memcpy(r->data, p->b + ETH_HLEN, r->caplen);
	r->info.level = 4;
	r->info.logflags = flags;
	snprintf(r->info.prefix, sizeof(r->info.prefix), "%s", prefix);
}

static void expect_line(const struct ipt2bpf_log_rec *r, const char *want)
{
	char line[1024];
	int n = ipt2bpf_log_format(r, sizeof(*r), dev_names, NULL, line, sizeof(line));

	assert_true(n > 0);
	assert_string_equal(line, want);
}

static void format_lines(void **state)
{
	struct ipt2bpf_log_rec r;
	struct pkt p;

	(void)state;
	ipt2bpf_log_set_tcp_ae(IPT2BPF_LOG_AE_NO);
	pkt_tcp(&p, "10.0.0.2", 80, 1000, 7, 0x3f, 0);
	p.b[ETH_HLEN + 20 + 12] |= 0x0f; /* every reserved bit */
	rec_from(&r, &p, IN, XT_LOG_TCPSEQ, "in: ");
	expect_line(&r, "in: IN=eth0 OUT= MAC=02:00:00:00:00:02:02:00:00:00:00:01:08:00 "
			"SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF "
			"PROTO=TCP SPT=1234 DPT=80 SEQ=1000 ACK=7 WINDOW=512 RES=0x3c URG ACK PSH "
			"RST SYN FIN URGP=0 ");
	ipt2bpf_log_set_tcp_ae(IPT2BPF_LOG_AE_YES);
	expect_line(&r, "in: IN=eth0 OUT= MAC=02:00:00:00:00:02:02:00:00:00:00:01:08:00 "
			"SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF "
			"PROTO=TCP SPT=1234 DPT=80 SEQ=1000 ACK=7 WINDOW=512 RES=0x38 AE URG ACK "
			"PSH RST SYN FIN URGP=0 ");
	ipt2bpf_log_set_tcp_ae(IPT2BPF_LOG_AE_AUTO);

	/* FORWARD: TTL after ip_forward()'s decrement; MAC decoded; MARK. */
	pkt_udp(&p, "10.0.0.2", 53, 0x2000);
	rec_from(&r, &p, FWD, XT_LOG_MACDECODE, "");
	r.mark = 0x2a;
	expect_line(&r, "IN=eth0 OUT=wan1 MACSRC=02:00:00:00:00:01 MACDST=02:00:00:00:00:02 "
			"MACPROTO=0800 SRC=10.0.0.1 DST=10.0.0.2 LEN=33 TOS=0x00 PREC=0x00 TTL=63 "
			"ID=4660 MF PROTO=UDP SPT=5353 DPT=53 LEN=13 MARK=0x2a ");
	/* OUTPUT: no MAC; a later fragment: no ports. */
	pkt_udp(&p, "10.0.0.2", 53, 0x0003);
	rec_from(&r, &p, OUT, 0, "o ");
	expect_line(&r, "o IN= OUT=wan1 SRC=10.0.0.1 DST=10.0.0.2 LEN=33 TOS=0x00 PREC=0x00 "
			"TTL=64 ID=4660 FRAG:3 PROTO=UDP ");
	/* lo: the fallback MAC= even with --log-macdecode. */
	pkt_udp(&p, "10.0.0.2", 53, 0);
	rec_from(&r, &p, IN, XT_LOG_MACDECODE, "");
	r.iif = 1;
	expect_line(&r, "IN=lo OUT= MAC=02:00:00:00:00:02:02:00:00:00:00:01:08:00 SRC=10.0.0.1 "
			"DST=10.0.0.2 LEN=33 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=UDP SPT=5353 "
			"DPT=53 LEN=13 ");
	/* A truncated TCP header ends the line; MARK is not printed then. */
	pkt_tcp(&p, "10.0.0.2", 80, 1, 0, 2, 0);
	p.len -= 8;
	p.b[ETH_HLEN + 3] = 32;
	rec_from(&r, &p, IN, 0, "");
	r.mark = 1;
	r.flags = 0;
	expect_line(&r, "IN=eth0 OUT= MAC= SRC=10.0.0.1 DST=10.0.0.2 LEN=32 TOS=0x00 PREC=0x00 "
			"TTL=64 ID=4660 DF PROTO=TCP INCOMPLETE [12 bytes] ");
	/* An ICMP error quoting a datagram: one level in brackets. */
	{
		uint8_t m[8 + 28] = {3, 4, 0, 0, 0, 0, 0x05, 0xdc};
		struct pkt inner;

		pkt_udp(&inner, "10.0.0.9", 99, 0x4000);
		memcpy(m + 8, inner.b + ETH_HLEN, 28);
		pkt_ip(&p, "10.0.0.2", IPPROTO_ICMP, m, sizeof(m), 0, 64);
		rec_from(&r, &p, IN, 0, "");
		expect_line(
			&r,
			"IN=eth0 OUT= MAC=02:00:00:00:00:02:02:00:00:00:00:01:08:00 SRC=10.0.0.1 "
			"DST=10.0.0.2 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=4660 PROTO=ICMP "
			"TYPE=3 CODE=4 [SRC=10.0.0.1 DST=10.0.0.9 LEN=33 TOS=0x00 PREC=0x00 "
			"TTL=64 ID=4660 DF PROTO=UDP SPT=5353 DPT=99 LEN=13 ] MTU=1500 ");
	}
	/* AH in a later fragment prints no protocol at all; ESP does. */
	{
		uint8_t ah[12] = {0};

		pkt_ip(&p, "10.0.0.2", IPPROTO_AH, ah, sizeof(ah), 0x0001, 64);
		rec_from(&r, &p, OUT, 0, "");
		expect_line(&r, "IN= OUT=wan1 SRC=10.0.0.1 DST=10.0.0.2 LEN=32 TOS=0x00 PREC=0x00 "
				"TTL=64 ID=4660 FRAG:1 ");
	}
	/* Not a record. */
	{
		char line[64];

		r.magic = 0;
		assert_int_equal(
			ipt2bpf_log_format(&r, sizeof(r), dev_names, NULL, line, sizeof(line)),
			-EINVAL);
	}
}

/* ------------------------------------------------------------ programs */

static bool have_root(void)
{
	if (geteuid() == 0)
		return true;
	print_message("test_logrej: not root, BPF tests skipped\n");
	return false;
}

struct rig {
	struct ipt2bpf_table *t;
	struct ipt_replace *repl;
	struct ipt2bpf_progset *ps;
	struct ipt2bpf_loaded l;
	struct ipt2bpf_log *log;
	char lines[8][1024];
	unsigned int n_lines;
};

static struct ipt_ip ip_p(uint16_t proto)
{
	struct ipt_ip ip = {0};

	ip.proto = proto;
	return ip;
}

static void rej(struct blob *b, uint16_t proto, enum ipt_reject_with with)
{
	struct ipt_reject_info ri = {.with = with};
	struct ipt_ip ip = ip_p(proto);

	blob_entry(b, &ip);
	blob_end(b, "REJECT", 0, &ri, sizeof(ri));
}

static void logr(struct blob *b, const char *prefix, uint8_t flags)
{
	struct xt_log_info li = {.level = 4, .logflags = flags};

	snprintf(li.prefix, sizeof(li.prefix), "%s", prefix);
	blob_entry(b, NULL);
	blob_end(b, "LOG", 0, &li, sizeof(li));
}

/* INPUT: LOG, then REJECT by protocol; FORWARD: REJECT udp; OUTPUT: LOG, tcp-reset. */
static struct ipt_replace *rules(size_t *len)
{
	static struct blob b;

	blob_init(&b, "filter", FILTER_HOOKS);
	blob_hook(&b, IN);
	logr(&b, "in: ", XT_LOG_TCPSEQ);
	rej(&b, IPPROTO_TCP, IPT_TCP_RESET);
	rej(&b, IPPROTO_UDP, IPT_ICMP_PORT_UNREACHABLE);
	rej(&b, IPPROTO_ICMP, IPT_ICMP_ADMIN_PROHIBITED);
	blob_policy(&b, IN, VERDICT_ACCEPT);
	blob_hook(&b, FWD);
	rej(&b, IPPROTO_UDP, IPT_ICMP_HOST_PROHIBITED);
	blob_policy(&b, FWD, VERDICT_ACCEPT);
	blob_hook(&b, OUT);
	logr(&b, "out: ", 0);
	rej(&b, IPPROTO_TCP, IPT_TCP_RESET);
	blob_policy(&b, OUT, VERDICT_ACCEPT);
	blob_error(&b, "ERROR");
	return blob_finish(&b, len);
}

static int decode(struct ipt_replace *r, size_t len, struct ipt2bpf_table **t,
		  struct ipt2bpf_diag *d)
{
	int err = ipt2bpf_validate(r, len, d);

	return err ? err : ipt2bpf_table_decode(r, len, t, d);
}

static int on_line(const struct ipt2bpf_log_line *line, void *arg)
{
	struct rig *r = arg;

	if (r->n_lines < 8)
		snprintf(r->lines[r->n_lines++], sizeof(r->lines[0]), "%s", line->text);
	return 0;
}

static void rig_up(struct rig *r, enum ipt2bpf_mode mode)
{
	struct ipt2bpf_gen_opts o = {.mode = mode, .trace = true};
	struct ipt2bpf_diag d = {0};
	size_t len;
	int map;

	memset(r, 0, sizeof(*r));
	r->repl = rules(&len);
	if (decode(r->repl, len, &r->t, &d))
		fail_msg("decode: %s", d.msg);
	if (ipt2bpf_gen((const struct ipt2bpf_table *const *)&r->t, 1, &o, &r->ps, &d))
		fail_msg("gen: %s", d.msg);
	if (ipt2bpf_progset_load(r->ps, &r->l, &d)) {
		fprintf(stderr, "load: %s\n", d.msg);
		fail();
	}
	map = ipt2bpf_progset_find_map(r->ps, IPT2BPF_MAP_LOG);
	assert_true(map >= 0);
	assert_int_equal(ipt2bpf_log_open_fd(r->l.map_fds[map], dev_names, NULL, &r->log, &d), 0);
}

static void rig_down(struct rig *r)
{
	ipt2bpf_log_close(r->log);
	ipt2bpf_loaded_close(&r->l);
	ipt2bpf_progset_free(r->ps);
	ipt2bpf_table_free(r->t);
	free(r->repl);
}

static void rig_cfg(struct rig *r, uint32_t iif, uint32_t oif, uint64_t jiffies)
{
	struct ipt2bpf_cfg cfg = {.iif = iif,
				  .oif = oif,
				  .clock = jiffies != 0,
				  .jiffies = jiffies,
				  .now_ns = jiffies * 4000000};
	uint32_t zero = 0;
	int map = ipt2bpf_progset_find_map(r->ps, IPT2BPF_MAP_CFG);

	assert_int_equal(bpf_map_update_elem(r->l.map_fds[map], &zero, &cfg, BPF_ANY), 0);
}

/* Runs p through the hook's trace program: retval, *out = the packet afterwards. */
static int rig_run(struct rig *r, int hook, const struct pkt *p, struct pkt *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .data_out = out->b, .data_size_out = sizeof(out->b), .repeat = 1);
	int fd = -1;

	for (unsigned int i = 0; i < r->ps->n_progs; i++)
		if (r->ps->progs[i].role == IPT2BPF_P_TRACE && r->ps->progs[i].hook == hook)
			fd = r->l.prog_fds[i];
	assert_true(fd >= 0);
	assert_int_equal(bpf_prog_test_run_opts(fd, &o), 0);
	out->len = o.data_size_out;
	r->n_lines = 0;
	assert_true(ipt2bpf_log_poll(r->log, 0, on_line, r) >= 0);
	return (int)o.retval;
}

static bool replied(const struct pkt *in, const struct pkt *out)
{
	return out->len != in->len || memcmp(in->b, out->b, in->len);
}

static void assert_hex(const struct pkt *p, const char *want)
{
	char hex[4096];

	for (size_t i = 0; i < p->len; i++)
		snprintf(hex + 2 * i, 3, "%02x", p->b[i]);
	assert_string_equal(hex, want);
}

static void reject_replies(void **state)
{
	struct pkt p, out;
	struct rig r;

	(void)state;
	if (!have_root())
		return;
	ipt2bpf_log_set_tcp_ae(IPT2BPF_LOG_AE_NO);
	rig_up(&r, IPT2BPF_MODE_TC);
	rig_cfg(&r, 7, 0, 0);

	/* SYN: RST+ACK, ack_seq = seq + 1, from the packet's destination, TTL 64 (default). */
	pkt_tcp(&p, "10.0.0.2", 80, 1000, 0, 0x02, 0);
	assert_int_equal(rig_run(&r, IN, &p, &out), TC_ACT_SHOT);
	assert_int_equal(r.n_lines, 1);
	assert_string_equal(
		r.lines[0],
		"in: IN=eth0 OUT= MAC=02:00:00:00:00:02:02:00:00:00:00:01:08:00 "
		"SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF "
		"PROTO=TCP SPT=1234 DPT=80 SEQ=1000 ACK=0 WINDOW=512 RES=0x00 SYN URGP=0 ");
	assert_hex(&out, "020000000001020000000002080045000028000040004006"
			 "26ce0a0000020a000001005004d200000000000003e95014000092c30000");
	/* ACK with data: RST, seq = the segment's ack_seq. */
	pkt_tcp(&p, "10.0.0.2", 80, 5, 0xabcdef01, 0x18, 10);
	assert_int_equal(rig_run(&r, IN, &p, &out), TC_ACT_SHOT);
	assert_hex(&out, "02000000000102000000000208004500002800004000400626ce0a0000020a00000100"
			 "5004d2abcdef010000000050040000fbec0000");
	/* No RST for a RST; none for a bad checksum. */
	pkt_tcp(&p, "10.0.0.2", 80, 5, 0, 0x04, 0);
	assert_int_equal(rig_run(&r, IN, &p, &out), TC_ACT_SHOT);
	assert_false(replied(&p, &out));
	pkt_tcp(&p, "10.0.0.2", 80, 5, 0, 0x02, 0);
	p.b[ETH_HLEN + 20 + 16] ^= 0xff;
	assert_int_equal(rig_run(&r, IN, &p, &out), TC_ACT_SHOT);
	assert_false(replied(&p, &out));

	/* UDP: port unreachable quoting the datagram; ID is random (masked). */
	pkt_udp(&p, "10.0.0.2", 53, 0x4000);
	assert_int_equal(rig_run(&r, IN, &p, &out), TC_ACT_SHOT);
	assert_int_equal(out.len, ETH_HLEN + 28 + 33);
	out.b[18] = out.b[19] = out.b[24] = out.b[25] = 0;
	assert_hex(&out, "020000000001020000000002080045c0003d00000000400100000a0000020a000001"
			 "0303111e000000004500002112344000401114960a0000010a00000214e90035000d"
			 "92e168656c6c6f");
	/* A broadcast frame: no ICMP error. */
	pkt_udp(&p, "10.0.0.2", 53, 0x4000);
	memset(p.b, 0xff, 6);
	assert_int_equal(rig_run(&r, IN, &p, &out), TC_ACT_SHOT);
	assert_false(replied(&p, &out));

	/* FORWARD UDP from a trace program: the source needs a route lookup, which
	 * has no device here: no reply, dropped all the same. */
	rig_cfg(&r, 7, 9, 0);
	pkt_udp(&p, "10.0.0.2", 53, 0x4000);
	assert_int_equal(rig_run(&r, FWD, &p, &out), TC_ACT_SHOT);

	/* OUTPUT: LOG then tcp-reset (checksums of local segments are not checked). */
	rig_cfg(&r, 0, 9, 0);
	pkt_tcp(&p, "10.0.0.2", 80, 1000, 0, 0x02, 0);
	p.b[ETH_HLEN + 20 + 16] ^= 0xff;
	assert_int_equal(rig_run(&r, OUT, &p, &out), TC_ACT_SHOT);
	assert_int_equal(r.n_lines, 1);
	assert_string_equal(r.lines[0], "out: IN= OUT=wan1 SRC=10.0.0.1 DST=10.0.0.2 LEN=40 "
					"TOS=0x00 PREC=0x00 TTL=64 ID=4660 DF PROTO=TCP SPT=1234 "
					"DPT=80 WINDOW=512 RES=0x00 SYN URGP=0 ");
	assert_true(replied(&p, &out));
	ipt2bpf_log_set_tcp_ae(IPT2BPF_LOG_AE_AUTO);
	rig_down(&r);
}

/* icmp_ratelimit (1 s) per destination: a burst of 6, then one per second. */
static void reject_ratelimit(void **state)
{
	const uint64_t j0 = 10000000;
	unsigned int n = 0;
	struct pkt p, out;
	struct rig r;
	FILE *f = fopen("/proc/sys/net/ipv4/icmp_ratelimit", "r");
	int ms = 0;

	(void)state;
	if (!have_root())
		return;
	if (f) {
		if (fscanf(f, "%d", &ms) != 1)
			ms = 0;
		fclose(f);
	}
	if (ms != 1000) {
		print_message("test_logrej: icmp_ratelimit is %d, not 1000: skipped\n", ms);
		return;
	}
	rig_up(&r, IPT2BPF_MODE_TC);
	rig_cfg(&r, 7, 0, j0);
	pkt_udp(&p, "10.0.0.2", 53, 0x4000);
	for (int i = 0; i < 10; i++) {
		rig_run(&r, IN, &p, &out);
		n += replied(&p, &out);
	}
	assert_int_equal(n, 6);
	/* Two seconds later (in jiffies at the HZ the program was built for): two tokens. */
	{
		struct timespec ts;
		uint64_t jps = 250;

		if (!clock_getres(CLOCK_MONOTONIC_COARSE, &ts) && !ts.tv_sec && ts.tv_nsec > 0)
			jps = 1000000000ULL / (uint64_t)ts.tv_nsec;
		rig_cfg(&r, 7, 0, j0 + 2 * jps);
	}
	n = 0;
	for (int i = 0; i < 5; i++) {
		rig_run(&r, IN, &p, &out);
		n += replied(&p, &out);
	}
	assert_int_equal(n, 2);
	rig_down(&r);
}

static void refusals(void **state)
{
	struct ipt2bpf_gen_opts o = {.mode = IPT2BPF_MODE_XDP};
	struct ipt2bpf_progset *ps = NULL;
	struct ipt2bpf_table *t = NULL;
	struct ipt2bpf_diag d = {0};
	struct ipt_replace *repl;
	struct blob b;
	size_t len;

	(void)state;
	/* REJECT in INPUT in XDP mode. */
	repl = rules(&len);
	assert_int_equal(decode(repl, len, &t, &d), 0);
	assert_int_equal(ipt2bpf_gen((const struct ipt2bpf_table *const *)&t, 1, &o, &ps, &d),
			 -EOPNOTSUPP);
	assert_non_null(
		strstr(d.msg, "filter/INPUT#2: REJECT in INPUT or FORWARD needs --mode tc"));
	ipt2bpf_table_free(t);
	free(repl);

	/* --log-uid where INPUT reaches; fine in FORWARD only. */
	blob_init(&b, "filter", FILTER_HOOKS);
	blob_hook(&b, IN);
	blob_policy(&b, IN, VERDICT_ACCEPT);
	blob_hook(&b, FWD);
	logr(&b, "f", XT_LOG_UID);
	blob_policy(&b, FWD, VERDICT_ACCEPT);
	blob_hook(&b, OUT);
	logr(&b, "o", XT_LOG_UID);
	blob_policy(&b, OUT, VERDICT_ACCEPT);
	blob_error(&b, "ERROR");
	repl = blob_finish(&b, &len);
	memset(&d, 0, sizeof(d));
	assert_int_equal(decode(repl, len, &t, &d), 0);
	o.mode = IPT2BPF_MODE_TC;
	assert_int_equal(ipt2bpf_gen((const struct ipt2bpf_table *const *)&t, 1, &o, &ps, &d),
			 -EOPNOTSUPP);
	assert_non_null(strstr(d.msg, "filter/OUTPUT#1: LOG --log-uid"));
	ipt2bpf_table_free(t);
	free(repl);
}

/* LOG alone compiles for XDP too, and the XDP program passes the verifier. */
static void log_xdp(void **state)
{
	struct ipt2bpf_gen_opts o = {.mode = IPT2BPF_MODE_XDP};
	struct ipt2bpf_progset *ps = NULL;
	struct ipt2bpf_table *t = NULL;
	struct ipt2bpf_diag d = {0};
	struct ipt2bpf_loaded l;
	struct ipt_replace *repl;
	struct blob b;
	size_t len;

	(void)state;
	blob_init(&b, "filter", FILTER_HOOKS);
	blob_hook(&b, IN);
	logr(&b, "x: ", XT_LOG_MACDECODE | XT_LOG_IPOPT);
	blob_policy(&b, IN, VERDICT_ACCEPT);
	blob_policy(&b, FWD, VERDICT_ACCEPT);
	blob_hook(&b, OUT);
	blob_policy(&b, OUT, VERDICT_ACCEPT);
	blob_error(&b, "ERROR");
	repl = blob_finish(&b, &len);
	assert_int_equal(decode(repl, len, &t, &d), 0);
	if (ipt2bpf_gen((const struct ipt2bpf_table *const *)&t, 1, &o, &ps, &d))
		fail_msg("gen: %s", d.msg);
	if (have_root()) {
		if (ipt2bpf_progset_load(ps, &l, &d)) {
			fprintf(stderr, "load: %s\n", d.msg);
			fail();
		}
		ipt2bpf_loaded_close(&l);
	}
	ipt2bpf_progset_free(ps);
	ipt2bpf_table_free(t);
	free(repl);
}

/* The ELF writer describes the ring buffer in .maps as clang would; libbpf creates it. */
static void elf_ringbuf(void **state)
{
	char path[] = "/tmp/test_logrej.XXXXXX";
	struct ipt2bpf_gen_opts o = {.mode = IPT2BPF_MODE_TC};
	struct ipt2bpf_progset *ps = NULL;
	struct ipt2bpf_diag d = {0};
	struct bpf_object *obj;
	struct bpf_map *m;
	struct rig r;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	memset(&r, 0, sizeof(r));
	{
		size_t len;

		r.repl = rules(&len);
		assert_int_equal(decode(r.repl, len, &r.t, &d), 0);
	}
	if (ipt2bpf_gen((const struct ipt2bpf_table *const *)&r.t, 1, &o, &ps, &d))
		fail_msg("gen: %s", d.msg);
	assert_int_equal(ipt2bpf_elf_write(ps, path, &d), 0);
	obj = bpf_object__open_file(path, NULL);
	assert_non_null(obj);
	m = bpf_object__find_map_by_name(obj, IPT2BPF_MAP_LOG);
	assert_non_null(m);
	assert_int_equal(bpf_map__type(m), BPF_MAP_TYPE_RINGBUF);
	assert_int_equal(bpf_map__max_entries(m), IPT2BPF_LOG_RINGBUF);
	m = bpf_object__find_map_by_name(obj, "ipt_rej_peer");
	assert_non_null(m);
	assert_int_equal(bpf_map__type(m), BPF_MAP_TYPE_LRU_HASH);
	if (have_root()) {
		if (bpf_object__load(obj))
			fail_msg("libbpf could not load the object");
		assert_true(bpf_map__fd(bpf_object__find_map_by_name(obj, IPT2BPF_MAP_LOG)) >= 0);
	}
	bpf_object__close(obj);
	unlink(path);
	ipt2bpf_progset_free(ps);
	ipt2bpf_table_free(r.t);
	free(r.repl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_lines),	    cmocka_unit_test(reject_replies),
		cmocka_unit_test(reject_ratelimit), cmocka_unit_test(refusals),
		cmocka_unit_test(log_xdp),	    cmocka_unit_test(elf_ringbuf),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
