// SPDX-License-Identifier: GPL-2.0
/*
 * extgen: rule sets and packets for the extension matches and targets, aimed
 * at each option's edges (boundaries, negations, masks, truncated headers),
 * for the differential test against the kernel (tests/diff/ext.sh).
 *
 *   extgen --family NAME --rules OUT.v4 [--pcap-input P1] [--pcap-forward P2]
 *          [--pcap-output P3]
 *   extgen --list
 *
 * One family per extension (or group of related ones).  Rules mostly have no
 * target, so every packet is tested against every rule (the counters say
 * which matched); a few end with ACCEPT/DROP so that verdicts vary.
 * Addresses suit tests/diff/topology.sh: INPUT packets go to the firewall's
 * own addresses, FORWARD and OUTPUT packets to 198.19.0.0/16.
 *
 * Next to every pcap: P.meta ("N DGRAM DESCRIPTION" per packet, as rulegen
 * writes it) and P.marks (the skb mark each packet arrives with, one per
 * line: kdiff and `ipt2bpf trace` take it with --marks).  Packets keep their
 * MAC addresses in the pcap; kdiff --keep-macs sends them as they are
 * (broadcast and multicast destinations, arbitrary sources).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/filter.h>

#include "tests/tools/pcap.h"
#include "translator/util.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

#define FW_VIN_ADDR  IP4(10, 200, 1, 1)
#define FW_VOUT_ADDR IP4(10, 200, 2, 1)
#define CLIENT_ADDR  IP4(10, 200, 1, 2)
#define VIN_BCAST    IP4(10, 200, 1, 255)
#define LOCAL_NET    IP4(198, 18, 0, 0) /* routed to lo in fw: INPUT targets */
#define FORWARD_NET  IP4(198, 19, 0, 0) /* routed via s: FORWARD/OUTPUT targets */

enum { CH_INPUT, CH_FORWARD, CH_OUTPUT, NCHAIN };
#define M_IN  (1U << CH_INPUT)
#define M_FWD (1U << CH_FORWARD)
#define M_OUT (1U << CH_OUTPUT)
#define M_ALL (M_IN | M_FWD | M_OUT)
static const char *const chain_names[NCHAIN] = {"INPUT", "FORWARD", "OUTPUT"};

static const uint8_t mac_fw[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x01};
static const uint8_t mac_client[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x02};
static const uint8_t mac_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t mac_mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};

/* ------------------------------------------------------------------ output */

struct out {
	struct ipt2bpf_pcap pcap;
	FILE *meta, *marks;
	int chain;
	unsigned int n;
	int err;
};

struct pk {
	uint32_t saddr, daddr;
	uint8_t proto, ttl, tos;
	uint16_t id, frag;
	uint8_t l4[1500];
	size_t l4len;
	const uint8_t *opts; /* IP options (a multiple of 4 bytes) */
	size_t optlen;
	uint16_t totlen; /* nonzero: tot_len as written (shorter than the frame: truncation) */
	uint8_t pad;	 /* zero bytes after the datagram (Ethernet padding) */
	const uint8_t *smac, *dmac;
	uint32_t mark;
	char desc[96];
};

static void pk_init(struct pk *p, const struct out *o, uint8_t proto, const char *desc)
{
	memset(p, 0, sizeof(*p));
	p->proto = proto;
	p->ttl = 64;
	p->id = (uint16_t)(0x4000 + o->n);
	p->smac = mac_client;
	p->dmac = mac_fw;
	switch (o->chain) {
	case CH_INPUT:
		p->saddr = CLIENT_ADDR;
		p->daddr = LOCAL_NET | (1 + o->n % 200);
		break;
	case CH_FORWARD:
		p->saddr = CLIENT_ADDR;
		p->daddr = FORWARD_NET | (1 + o->n % 200);
		break;
	default:
		p->saddr = FW_VOUT_ADDR;
		p->daddr = FORWARD_NET | (1 + o->n % 200);
		break;
	}
	snprintf(p->desc, sizeof(p->desc), "%s", desc);
}

static void emit(struct out *o, const struct pk *p)
{
	uint8_t frame[IPT2BPF_ETH_HLEN + IPT2BPF_IP_HLEN + sizeof(p->l4)];
	struct ipt2bpf_ip4 ip = {
		.saddr = p->saddr,
		.daddr = p->daddr,
		.proto = p->proto,
		.ttl = p->ttl,
		.tos = p->tos,
		.id = p->id,
		.frag = p->frag,
		.opts = p->opts,
		.optlen = p->optlen,
	};
	int n, err;

	if (o->err)
		return;
	n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), p->dmac, p->smac, &ip, p->l4, p->l4len);
	if (n < 0) {
		o->err = n;
		return;
	}
	if (p->totlen) {
		ipt2bpf_put16(frame + IPT2BPF_ETH_HLEN + 2, p->totlen);
		ipt2bpf_ip_fix_csum(frame + IPT2BPF_ETH_HLEN);
		n = IPT2BPF_ETH_HLEN + p->totlen;
	}
	if (p->pad && (size_t)n + p->pad <= sizeof(frame)) {
		memset(frame + n, 0, p->pad);
		n += p->pad;
	}
	err = ipt2bpf_pcap_write(&o->pcap, frame, (size_t)n);
	if (err) {
		o->err = err;
		return;
	}
	o->n++;
	fprintf(o->meta, "%u %u %s\n", o->n, o->n, p->desc);
	fprintf(o->marks, "%u\n", p->mark);
}

/* Transport payloads. */
static void l4_udp(struct pk *p, uint16_t sport, uint16_t dport, const void *data, size_t len)
{
	int n = ipt2bpf_pkt_udp(p->l4, sizeof(p->l4), p->saddr, p->daddr, sport, dport, data, len);

	p->l4len = n > 0 ? (size_t)n : 0;
}

static void l4_tcp(struct pk *p, uint16_t sport, uint16_t dport, uint8_t flags, const uint8_t *opts,
		   size_t optlen, int doff, const void *data, size_t len)
{
	struct ipt2bpf_tcp t = {.sport = sport,
				.dport = dport,
				.seq = 1000,
				.ack = flags & 0x10 ? 2000 : 0,
				.flags = flags,
				.window = 512,
				.opts = opts,
				.optlen = optlen,
				.doff = doff};
	int n = ipt2bpf_pkt_tcp(p->l4, sizeof(p->l4), p->saddr, p->daddr, &t, data, len);

	p->l4len = n > 0 ? (size_t)n : 0;
}

static void l4_icmp(struct pk *p, uint8_t type, uint8_t code)
{
	int n = ipt2bpf_pkt_icmp(p->l4, sizeof(p->l4), type, code, 0x12340001, "pingpong", 8);

	p->l4len = n > 0 ? (size_t)n : 0;
}

static void l4_raw(struct pk *p, const void *data, size_t len)
{
	memcpy(p->l4, data, len);
	p->l4len = len;
}

/* A few ordinary packets every family gets: TCP, UDP, ICMP. */
static void plain(struct out *o, const char *what)
{
	struct pk p;
	char d[64];

	snprintf(d, sizeof(d), "%s-tcp", what);
	pk_init(&p, o, IPPROTO_TCP, d);
	l4_tcp(&p, 40000, 80, 0x02, NULL, 0, 0, NULL, 0);
	emit(o, &p);
	snprintf(d, sizeof(d), "%s-udp", what);
	pk_init(&p, o, IPPROTO_UDP, d);
	l4_udp(&p, 5353, 53, "query", 5);
	emit(o, &p);
	snprintf(d, sizeof(d), "%s-icmp", what);
	pk_init(&p, o, IPPROTO_ICMP, d);
	l4_icmp(&p, 8, 0);
	emit(o, &p);
}

/* ------------------------------------------------------------------ rules */

struct rules {
	FILE *f;
	unsigned int chains;
	char *lines[NCHAIN][512];
	unsigned int n[NCHAIN];
};

/* One rule in each chain of mask (that the family runs). */
__attribute__((format(printf, 3, 4))) static void rule(struct rules *r, unsigned int mask,
						       const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (int c = 0; c < NCHAIN; c++)
		if ((mask & r->chains & (1U << c)) && r->n[c] < ARRAY_SIZE(r->lines[c]))
			r->lines[c][r->n[c]++] = strdup(buf);
}

static int rules_write(struct rules *r, const char *path, const char *extra_chains)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n%s",
		extra_chains ? extra_chains : "");
	for (int c = 0; c < NCHAIN; c++)
		for (unsigned int i = 0; i < r->n[c]; i++) {
			fprintf(f, "-A %s %s\n", chain_names[c], r->lines[c][i]);
			free(r->lines[c][i]);
		}
	fprintf(f, "COMMIT\n");
	return fclose(f) ? -EIO : 0;
}

/* ------------------------------------------------------------------ families */

struct family {
	const char *name;
	unsigned int chains;
	void (*rules)(struct rules *r);
	void (*packets)(struct out *o);
	const char *extra; /* user chain declarations */
};

/* ---- ttl */

static void ttl_rules(struct rules *r)
{
	static const unsigned int v[] = {0, 1, 63, 64, 65, 254, 255};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		rule(r, M_ALL, "-m ttl --ttl-eq %u", v[i]);
		rule(r, M_ALL, "-m ttl --ttl-lt %u", v[i]);
		rule(r, M_ALL, "-m ttl --ttl-gt %u", v[i]);
	}
	rule(r, M_ALL, "-m ttl ! --ttl-eq 64");
	rule(r, M_ALL, "-m ttl ! --ttl-eq 0");
	rule(r, M_ALL, "-p udp -m ttl --ttl-lt 10 -j DROP");
	rule(r, M_ALL, "-m ttl --ttl-gt 200 -j ACCEPT");
}

static void ttl_packets(struct out *o)
{
	static const uint8_t v[] = {0, 1, 2, 9, 10, 63, 64, 65, 127, 199, 200, 201, 254, 255};
	struct pk p;
	char d[64];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		for (int k = 0; k < 2; k++) {
			snprintf(d, sizeof(d), "ttl-%u-%s", v[i], k ? "udp" : "tcp");
			pk_init(&p, o, k ? IPPROTO_UDP : IPPROTO_TCP, d);
			p.ttl = v[i];
			if (k)
				l4_udp(&p, 1000, 2000, "x", 1);
			else
				l4_tcp(&p, 1000, 22, 0x02, NULL, 0, 0, NULL, 0);
			emit(o, &p);
		}
	}
}

/* ---- tos, dscp, ecn --ecn-ip-ect */

static void tos_rules(struct rules *r)
{
	static const char *const tos[] = {"--tos Minimize-Delay",
					  "--tos Maximize-Throughput",
					  "--tos Maximize-Reliability",
					  "--tos Minimize-Cost",
					  "--tos Normal-Service",
					  "--tos 0xff",
					  "! --tos 0xff",
					  "--tos 0x00",
					  "--tos 0x0f",
					  "--tos 0x0f/0x0f",
					  "--tos 0x03/0x03",
					  "! --tos 0x10/0x10",
					  "--tos 0x01/0x0e"};

	for (size_t i = 0; i < ARRAY_SIZE(tos); i++)
		rule(r, M_ALL, "-m tos %s", tos[i]);
	rule(r, M_ALL, "-m dscp --dscp 0x00");
	rule(r, M_ALL, "-m dscp --dscp 0x3f");
	rule(r, M_ALL, "-m dscp --dscp 0x2e");
	rule(r, M_ALL, "-m dscp ! --dscp 0x0a");
	rule(r, M_ALL, "-m dscp --dscp-class CS1");
	rule(r, M_ALL, "-m dscp --dscp-class EF");
	for (int e = 0; e < 4; e++)
		rule(r, M_ALL, "-m ecn --ecn-ip-ect %d", e);
	rule(r, M_ALL, "-m ecn ! --ecn-ip-ect 1");
	rule(r, M_ALL, "-m dscp --dscp 0x04 -j DROP");
	rule(r, M_ALL, "-m tos --tos 0xff -j ACCEPT");
}

static void tos_packets(struct out *o)
{
	static const uint8_t v[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x0f, 0x10, 0x11,
				    0x12, 0x1c, 0x20, 0x28, 0xb8, 0xbb, 0xfc, 0xfe, 0xff};
	struct pk p;
	char d[64];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		snprintf(d, sizeof(d), "tos-0x%02x", v[i]);
		pk_init(&p, o, i % 2 ? IPPROTO_UDP : IPPROTO_TCP, d);
		p.tos = v[i];
		if (i % 2)
			l4_udp(&p, 1000, 2000, "x", 1);
		else
			l4_tcp(&p, 1000, 22, 0x10, NULL, 0, 0, NULL, 0);
		emit(o, &p);
	}
}

/* ---- ecn (TCP bits) */

static void ecn_rules(struct rules *r)
{
	rule(r, M_ALL, "-p tcp -m ecn --ecn-tcp-cwr");
	rule(r, M_ALL, "-p tcp -m ecn ! --ecn-tcp-cwr");
	rule(r, M_ALL, "-p tcp -m ecn --ecn-tcp-ece");
	rule(r, M_ALL, "-p tcp -m ecn ! --ecn-tcp-ece");
	rule(r, M_ALL, "-p tcp -m ecn --ecn-tcp-ece --ecn-tcp-cwr --ecn-ip-ect 2");
	rule(r, M_ALL, "-p tcp -m ecn ! --ecn-tcp-ece ! --ecn-tcp-cwr ! --ecn-ip-ect 2");
	rule(r, M_ALL, "-p tcp -m ecn --ecn-tcp-ece ! --ecn-tcp-cwr");
	rule(r, M_ALL, "-p tcp -m ecn --ecn-ip-ect 3 --ecn-tcp-cwr");
	rule(r, M_ALL, "-p tcp -m ecn --ecn-tcp-cwr -j DROP");
}

static void ecn_packets(struct out *o)
{
	static const uint8_t flags[] = {0x02, 0x10, 0x40, 0x80, 0xc0, 0x52, 0x92, 0xd2};
	struct pk p;
	char d[64];

	for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
		for (int e = 0; e < 4; e++) {
			snprintf(d, sizeof(d), "ecn-flags-0x%02x-ect-%d", flags[i], e);
			pk_init(&p, o, IPPROTO_TCP, d);
			p.tos = (uint8_t)(0x20 | e);
			l4_tcp(&p, 4000, 80, flags[i], NULL, 0, 0, NULL, 0);
			emit(o, &p);
		}
	/* A TCP header shorter than 20 bytes: match_tcp() fails (no hotdrop). */
	for (size_t cut = 0; cut < 20; cut += 6) {
		snprintf(d, sizeof(d), "ecn-truncated-%zu", cut);
		pk_init(&p, o, IPPROTO_TCP, d);
		l4_tcp(&p, 4000, 80, 0xc0, NULL, 0, 0, NULL, 0);
		p.l4len = cut;
		emit(o, &p);
	}
	/* FORWARD judges later fragments alone: the kernel reads "flags" from the payload. */
	if (o->chain == CH_FORWARD) {
		static const uint8_t pay[] = {0x00, 0x40, 0x80, 0xc0};

		for (size_t i = 0; i < ARRAY_SIZE(pay); i++)
			for (int full = 0; full < 2; full++) {
				uint8_t b[24] = {0};

				snprintf(d, sizeof(d), "ecn-frag-later-0x%02x-%s", pay[i],
					 full ? "long" : "short");
				pk_init(&p, o, IPPROTO_TCP, d);
				p.frag = 3;
				b[13] = pay[i];
				l4_raw(&p, b, full ? 24 : 16);
				emit(o, &p);
			}
	}
	plain(o, "ecn");
}

/* ---- mark, MARK */

static void mark_rules(struct rules *r)
{
	rule(r, M_ALL, "-m mark --mark 0x0");
	rule(r, M_ALL, "-m mark --mark 0x1/0x1");
	rule(r, M_ALL, "-m mark ! --mark 0x10/0xf0");
	rule(r, M_ALL, "-m mark --mark 0xfeedcafe/0xfeedcafe");
	rule(r, M_ALL, "-m mark --mark 0xffffffff");
	rule(r, M_ALL, "-m mark --mark 0x80000000/0x80000000");
	rule(r, M_ALL, "-p udp -j MARK --set-xmark 0x5/0xf");
	rule(r, M_ALL, "-m mark --mark 0x5/0xf");
	rule(r, M_ALL, "-p tcp -j MARK --or-mark 0x100");
	rule(r, M_ALL, "-m mark --mark 0x100/0x100");
	rule(r, M_ALL, "-j MARK --and-mark 0xffff00ff");
	rule(r, M_ALL, "-m mark ! --mark 0x100/0x100");
	rule(r, M_ALL, "-p icmp -j MARK --xor-mark 0x3");
	rule(r, M_ALL, "-m mark --mark 0x6/0xf");
	rule(r, M_ALL, "-m mark --mark 0x3");
	rule(r, M_ALL, "-m mark --mark 0xfeedca00/0xffffff00 -j DROP");
	rule(r, M_ALL, "-j MARK --set-mark 0x7");
	rule(r, M_ALL, "-m mark --mark 0x7");
	rule(r, M_ALL, "-m mark --mark 0x7 -j markchk");
	rule(r, M_ALL, "-m mark --mark 0x9 -j ACCEPT");
	rule(r, M_ALL, "-m mark ! --mark 0x9 -j DROP");
}

static void mark_packets(struct out *o)
{
	static const uint32_t v[] = {0,		 1,	     2,		 5,	     0x10,
				     0x1f,	 0xf0,	     0x100,	 0x105,	     0xfeedcafe,
				     0xfeedcaff, 0xffffffff, 0x80000000, 0x7fffffff, 0xfeedca01};
	struct pk p;
	char d[64];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		for (int k = 0; k < 3; k++) {
			static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP};

			snprintf(d, sizeof(d), "mark-0x%x-%d", v[i], k);
			pk_init(&p, o, protos[k], d);
			p.mark = v[i];
			if (k == 0)
				l4_tcp(&p, 1000, 22, 0x02, NULL, 0, 0, NULL, 0);
			else if (k == 1)
				l4_udp(&p, 1000, 2000, "x", 1);
			else
				l4_icmp(&p, 8, 0);
			emit(o, &p);
		}
}

/* ---- esp, ah */

static void esp_rules(struct rules *r)
{
	rule(r, M_ALL, "-p esp -m esp --espspi 0");
	rule(r, M_ALL, "-p esp -m esp --espspi :32");
	rule(r, M_ALL, "-p esp -m esp ! --espspi 0:4294967294");
	rule(r, M_ALL, "-p esp -m esp --espspi 4294967295");
	rule(r, M_ALL, "-p esp -m esp --espspi 256:65536");
	rule(r, M_ALL, "-p esp -m esp ! --espspi 256:65536");
	rule(r, M_ALL, "-p esp -m esp");
	rule(r, M_ALL, "-p ah -m ah --ahspi 0");
	rule(r, M_ALL, "-p ah -m ah --ahspi 4294967295");
	rule(r, M_ALL, "-p ah -m ah ! --ahspi 0");
	rule(r, M_ALL, "-p ah -m ah --ahspi 100:200");
	rule(r, M_ALL, "-p ah -m ah ! --ahspi 100:200");
	rule(r, M_ALL, "-p ah -m ah");
	rule(r, M_ALL, "-p esp -m esp --espspi 1000:2000 -j DROP");
	rule(r, M_ALL, "-p ah -m ah --ahspi 1000:2000 -j DROP");
}

static void esp_packets(struct out *o)
{
	static const uint32_t spi[] = {
		0,   1,	   32,	  33,	 99,	100,	    200,	201,	    255,
		256, 1500, 65535, 65536, 65537, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};
	struct pk p;
	char d[64];

	for (int ah = 0; ah < 2; ah++) {
		for (size_t i = 0; i < ARRAY_SIZE(spi); i++) {
			uint8_t b[24] = {0};

			snprintf(d, sizeof(d), "%s-spi-%u", ah ? "ah" : "esp", spi[i]);
			pk_init(&p, o, ah ? IPPROTO_AH : IPPROTO_ESP, d);
			if (ah) {
				b[0] = IPPROTO_UDP;
				b[1] = 4;
				ipt2bpf_put32(b + 4, spi[i]);
			} else {
				ipt2bpf_put32(b, spi[i]);
			}
			ipt2bpf_put32(b + 8, 7);
			l4_raw(&p, b, sizeof(b));
			emit(o, &p);
		}
		/* Shorter than the header the match reads: hotdrop. */
		for (size_t len = 0; len < (ah ? 13u : 9u); len += ah ? 3 : 2) {
			uint8_t b[16] = {0x12, 0x34, 0x56, 0x78, 1, 2,	3,  4,
					 5,    6,    7,	   8,	 9, 10, 11, 12};

			snprintf(d, sizeof(d), "%s-short-%zu", ah ? "ah" : "esp", len);
			pk_init(&p, o, ah ? IPPROTO_AH : IPPROTO_ESP, d);
			l4_raw(&p, b, len);
			emit(o, &p);
		}
		if (o->chain == CH_FORWARD) {
			uint8_t b[16] = {0};

			snprintf(d, sizeof(d), "%s-frag-later", ah ? "ah" : "esp");
			pk_init(&p, o, ah ? IPPROTO_AH : IPPROTO_ESP, d);
			p.frag = 2;
			l4_raw(&p, b, 2);
			emit(o, &p);
		}
	}
	plain(o, "esp");
}

/* ---- pkttype */

static void pkttype_rules(struct rules *r)
{
	static const char *const t[] = {"unicast", "broadcast", "multicast"};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		rule(r, M_ALL, "-m pkttype --pkt-type %s", t[i]);
		rule(r, M_ALL, "-m pkttype ! --pkt-type %s", t[i]);
	}
	rule(r, M_ALL, "-m pkttype --pkt-type broadcast -j DROP");
}

static void pkttype_packets(struct out *o)
{
	struct pk p;

	plain(o, "pkttype-unicast");
	if (o->chain != CH_INPUT)
		return;
	pk_init(&p, o, IPPROTO_UDP, "pkttype-bcast-subnet");
	p.daddr = VIN_BCAST;
	p.dmac = mac_bcast;
	l4_udp(&p, 68, 67, "dhcp", 4);
	emit(o, &p);
	pk_init(&p, o, IPPROTO_UDP, "pkttype-bcast-limited");
	p.daddr = IP4(255, 255, 255, 255);
	p.dmac = mac_bcast;
	l4_udp(&p, 68, 67, "dhcp", 4);
	emit(o, &p);
	pk_init(&p, o, IPPROTO_UDP, "pkttype-mcast");
	p.daddr = IP4(224, 0, 0, 1);
	p.dmac = mac_mcast;
	l4_udp(&p, 5000, 5000, "mc", 2);
	emit(o, &p);
	/* A unicast IP packet in a broadcast frame: pkt_type follows the MAC. */
	pk_init(&p, o, IPPROTO_UDP, "pkttype-bcast-mac-unicast-ip");
	p.dmac = mac_bcast;
	l4_udp(&p, 5000, 5001, "x", 1);
	emit(o, &p);
	pk_init(&p, o, IPPROTO_ICMP, "pkttype-mcast-mac-unicast-ip");
	p.dmac = mac_mcast;
	l4_icmp(&p, 8, 0);
	emit(o, &p);
}

/* ---- mac */

static const uint8_t mac_a[6] = {0x42, 0x01, 0x02, 0x03, 0x04, 0x05};
static const uint8_t mac_b[6] = {0x42, 0x01, 0x02, 0x03, 0x04, 0x06}; /* last byte */
static const uint8_t mac_c[6] = {0x40, 0x01, 0x02, 0x03, 0x04, 0x05}; /* first byte */
static const uint8_t mac_d[6] = {0x42, 0x01, 0x02, 0x03, 0x05, 0x05}; /* fifth byte */

static void mac_rules(struct rules *r)
{
	rule(r, M_IN | M_FWD, "-m mac --mac-source 42:01:02:03:04:05");
	rule(r, M_IN | M_FWD, "-m mac ! --mac-source 42:01:02:03:04:05");
	rule(r, M_IN | M_FWD, "-m mac --mac-source 42:01:02:03:04:06");
	rule(r, M_IN | M_FWD, "-m mac --mac-source 02:00:00:00:01:02");
	rule(r, M_IN | M_FWD, "-p udp -m mac --mac-source 40:01:02:03:04:05 -j DROP");
	rule(r, M_IN | M_FWD, "-m mac ! --mac-source 42:01:02:03:05:05 -j ACCEPT");
}

static void mac_packets(struct out *o)
{
	const uint8_t *macs[] = {mac_a, mac_b, mac_c, mac_d, mac_client};
	struct pk p;
	char d[64];

	for (size_t i = 0; i < ARRAY_SIZE(macs); i++)
		for (int k = 0; k < 2; k++) {
			snprintf(d, sizeof(d), "mac-%02x-%02x-%s", macs[i][0], macs[i][4],
				 k ? "udp" : "tcp");
			pk_init(&p, o, k ? IPPROTO_UDP : IPPROTO_TCP, d);
			p.smac = macs[i];
			if (k)
				l4_udp(&p, 1000, 2000, "x", 1);
			else
				l4_tcp(&p, 1000, 22, 0x02, NULL, 0, 0, NULL, 0);
			emit(o, &p);
		}
}

/* ---- u32 */

static void u32_rules(struct rules *r)
{
	static const char *const t[] = {
		"0>>28=4",
		"6&0xFF=6",
		"6&0xFF=17",
		"6&0xFF=1,6,17",
		"0&0xFFFF=0x0:0x28",
		"0&0xFFFF=0x29:0xFFFF",
		"0>>22&0x3C@0&0xFFFF=80",
		"0>>22&0x3C@0>>16=1024:65535",
		"0>>22&0x3C@12>>26&0x3C@0=0x47455420",
		"12=0x0ac80102",
		"4&0x3FFF=0",
		"4&0x1FFF=1:0x1FFF",
		"0>>22&0x3C@8=0:0xFFFFFFFF",
		"0>>22&0x3C@4>>16=0x1234",
		"6&0xFF=6&&0>>22&0x3C@0>>16=1024:65535",
		"6&0xFF=17&&0>>22&0x3C@4&0xFFFF=9:12",
		"1@1@0=0:0xFFFFFFFF",
		"0@0=0:0xFFFFFFFF",
		"0<<4>>4=0x05000000:0x0FFFFFFF",
		"32=0:0xFFFFFFFF",
		"36=0:0xFFFFFFFF",
		"40=0x61626364",
		"0>>22&0x3C@20=0:0xFFFFFFFF",
		"0>>22&0x3C@0>>24=0x47",
		"65532=0:0xFFFFFFFF",
		"8>>24=63",
		"8>>24=64",
		"5>>24=0:0xFF&&6&0xFF00=0x3F00",
		"7&0xFF=0x3F",
		"9&0xFFFFFF=0:0x7FFFFF",
		"10>>8=0:0x7FFFFF",
		"11>>16=0:0x7FFF",
		"8&0xFFFF=0:0x7FFF",
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		rule(r, M_ALL, "-m u32 --u32 \"%s\"", t[i]);
	rule(r, M_ALL, "-m u32 ! --u32 \"6&0xFF=1\"");
	rule(r, M_ALL, "-m u32 ! --u32 \"0&0xFFFF=0:40\"");
	rule(r, M_ALL, "-m u32 --u32 \"0&0xFFFF=0x0:0x17\" -j DROP");
	rule(r, M_ALL, "-m u32 --u32 \"6&0xFF=17&&0>>22&0x3C@4&0xFFFF=9\" -j ACCEPT");
}

static void u32_packets(struct out *o)
{
	static const char *const pay[] = {
		"", "a", "ab", "abc", "abcd", "abcdefgh", "GET / HTTP/1.0", "0123456789abcdefghij"};
	struct pk p;
	char d[64];

	for (size_t i = 0; i < ARRAY_SIZE(pay); i++) {
		size_t n = strlen(pay[i]);

		snprintf(d, sizeof(d), "u32-tcp-%zu", n);
		pk_init(&p, o, IPPROTO_TCP, d);
		l4_tcp(&p, (uint16_t)(1000 + 10 * i), i % 2 ? 80 : 8080, 0x18, NULL, 0, 0, pay[i],
		       n);
		emit(o, &p);
		snprintf(d, sizeof(d), "u32-udp-%zu", n);
		pk_init(&p, o, IPPROTO_UDP, d);
		l4_udp(&p, 0x1234, (uint16_t)(1000 + i), pay[i], n);
		emit(o, &p);
	}
	/* Datagrams that end inside the words the tests read. */
	for (size_t len = 0; len <= 9; len++) {
		uint8_t b[16] = {0x04, 0x00, 0x00, 0x50, 0x12, 0x34, 0x00, 0x09, 0x00};

		snprintf(d, sizeof(d), "u32-short-%zu", len);
		pk_init(&p, o, len % 2 ? IPPROTO_UDP : 200, d);
		l4_raw(&p, b, len);
		emit(o, &p);
	}
	/* A big one: the "65532" test reads its last word only if it exists. */
	pk_init(&p, o, IPPROTO_UDP, "u32-udp-1400");
	{
		uint8_t big[1400];

		memset(big, 'z', sizeof(big));
		l4_udp(&p, 7, 9, big, sizeof(big));
	}
	emit(o, &p);
	pk_init(&p, o, IPPROTO_ICMP, "u32-icmp");
	l4_icmp(&p, 0, 0);
	emit(o, &p);
	if (o->chain == CH_FORWARD) {
		uint8_t b[24] = {0x47, 0x45, 0x54, 0x20};

		pk_init(&p, o, IPPROTO_TCP, "u32-frag-later");
		p.frag = 5;
		l4_raw(&p, b, sizeof(b));
		emit(o, &p);
	}
}

/* ---- string */

static void string_rules(struct rules *r)
{
	static const char *const algo[] = {"bm", "kmp"};

	for (int a = 0; a < 2; a++) {
		rule(r, M_ALL, "-m string --string \"test\" --algo %s", algo[a]);
		rule(r, M_ALL, "-m string ! --string \"test\" --algo %s", algo[a]);
		rule(r, M_ALL, "-m string --hex-string \"|0a0a0a0a|\" --algo %s", algo[a]);
		rule(r, M_ALL, "-m string --string \"abc\" --algo %s --from 30 --to 40", algo[a]);
		rule(r, M_ALL, "-m string --string \"abc\" --algo %s --from 31 --to 39", algo[a]);
		rule(r, M_ALL, "-m string --string \"Hello\" --algo %s --icase", algo[a]);
		rule(r, M_ALL, "-m string --string \"aab\" --algo %s", algo[a]);
		rule(r, M_ALL, "-m string --string \"x\" --algo %s --to 29", algo[a]);
		rule(r, M_ALL, "-m string --string \"E\" --algo %s --from 20 --to 20", algo[a]);
		rule(r, M_ALL, "-m string --hex-string \"|e9e9|\" --algo %s --icase", algo[a]);
		rule(r, M_ALL, "-m string --string \"test\" --algo %s --from 300", algo[a]);
	}
	rule(r, M_ALL, "-m string --hex-string \"|ff|\" --algo kmp --icase");
	rule(r, M_ALL, "-m string --string \"GET / HTTP\" --algo bm --to 70 -j DROP");
	rule(r, M_ALL, "-m string --string \"pass\" --algo kmp -j ACCEPT");
}

static void string_packets(struct out *o)
{
	/* UDP payload starts at datagram offset 28. */
	static const char *const pay[] = {
		"test",
		"xxtestxx",
		"tes",
		"TEST",
		"\x0a\x0a\x0a\x0a\x0a",
		"\x0a\x0a\x0a",
		"ab abc",	 /* abc at 31..33 */
		"abc",		 /* abc at 28..30 */
		"aaaaaaaabc",	 /* abc at 35..37 */
		"aaaaaaaaaabc",	 /* abc at 37..39: ends at 40 */
		"aaaaaaaaaaabc", /* ends at 41 */
		"hello world",
		"HeLLo",
		"hell0",
		"aaab",
		"aaaab",
		"abab",
		"x",
		"\xe9\xc9",
		"\xc9\xc9",
		"\xe9",
		"\xff",
		"\xdf",
		"GET / HTTP/1.0",
		"passwd",
		"",
	};
	struct pk p;
	char d[96];

	for (size_t i = 0; i < ARRAY_SIZE(pay); i++) {
		size_t n = strlen(pay[i]);

		snprintf(d, sizeof(d), "string-udp-%zu", i);
		pk_init(&p, o, IPPROTO_UDP, d);
		l4_udp(&p, 1000, 2000, pay[i], n);
		emit(o, &p);
	}
	/* The pattern in the headers: "E" at offset 20 is the TCP source port's high byte. */
	pk_init(&p, o, IPPROTO_TCP, "string-tcp-port-E");
	l4_tcp(&p, 0x4500, 80, 0x02, NULL, 0, 0, NULL, 0);
	emit(o, &p);
	pk_init(&p, o, IPPROTO_TCP, "string-tcp-test");
	l4_tcp(&p, 1234, 80, 0x18, NULL, 0, 0, "GET / HTTP/1.1 test", 19);
	emit(o, &p);
	{
		uint8_t big[600];

		memset(big, 'y', sizeof(big));
		memcpy(big + 290, "test", 4);
		pk_init(&p, o, IPPROTO_UDP, "string-udp-test-at-318");
		l4_udp(&p, 1000, 2000, big, sizeof(big));
		emit(o, &p);
		memcpy(big + 290, "yyyy", 4);
		memcpy(big + 500, "test", 4);
		pk_init(&p, o, IPPROTO_UDP, "string-udp-test-at-528");
		l4_udp(&p, 1000, 2000, big, sizeof(big));
		emit(o, &p);
	}
}

/* ---- sctp */

static void sctp_rules(struct rules *r)
{
	rule(r, M_ALL, "-p sctp -m sctp --sport 1");
	rule(r, M_ALL, "-p sctp -m sctp --sport 65535");
	rule(r, M_ALL, "-p sctp -m sctp --dport 1:65535");
	rule(r, M_ALL, "-p sctp -m sctp --sport 3868 ! --dport 80");
	rule(r, M_ALL, "-p sctp -m sctp ! --sport 1:1000");
	rule(r, M_ALL, "-p sctp -m sctp --chunk-types all DATA");
	rule(r, M_ALL, "-p sctp -m sctp --chunk-types all DATA,SACK");
	rule(r, M_ALL, "-p sctp -m sctp --chunk-types any INIT,DATA");
	rule(r, M_ALL, "-p sctp -m sctp --chunk-types only DATA,SACK");
	rule(r, M_ALL, "-p sctp -m sctp --chunk-types only INIT");
	rule(r, M_ALL, "-p sctp -m sctp --chunk-types any DATA:Be");
	rule(r, M_ALL, "-p sctp -m sctp --chunk-types all DATA:iUbE");
	rule(r, M_ALL, "-p sctp -m sctp ! --chunk-types any ABORT");
	rule(r, M_ALL, "-p sctp -m sctp --chunk-types any ABORT:T");
	rule(r, M_ALL, "-p sctp -m sctp --chunk-types only DATA:B,SACK");
	rule(r, M_ALL, "-p sctp -m sctp --dport 80 --chunk-types any HEARTBEAT");
	rule(r, M_ALL, "-p sctp -m sctp --chunk-types all INIT_ACK -j DROP");
	rule(r, M_ALL, "-p sctp -m sctp --chunk-types any COOKIE_ECHO -j ACCEPT");
}

struct chunk {
	uint8_t type, flags;
	uint16_t len;  /* as written; 0 for a zero-length chunk */
	uint16_t body; /* bytes that follow the 4-byte header (padding included) */
};

static void sctp_pkt(struct out *o, const char *what, uint16_t sport, uint16_t dport,
		     const struct chunk *c, size_t n, size_t cut)
{
	uint8_t b[512] = {0};
	size_t off = 12;
	struct pk p;

	ipt2bpf_put16(b, sport);
	ipt2bpf_put16(b + 2, dport);
	ipt2bpf_put32(b + 4, 0x01020304);
	for (size_t i = 0; i < n && off + 4 + c[i].body <= sizeof(b); i++) {
		b[off] = c[i].type;
		b[off + 1] = c[i].flags;
		ipt2bpf_put16(b + off + 2, c[i].len);
		off += 4 + c[i].body;
	}
	pk_init(&p, o, IPPROTO_SCTP, what);
	l4_raw(&p, b, cut && cut < off ? cut : off);
	emit(o, &p);
}

static void sctp_packets(struct out *o)
{
	static const struct chunk data = {0, 0x03, 20, 16}, data_b = {0, 0x02, 20, 16},
				  data_u = {0, 0x04 | 0x01, 17, 16}, sack = {3, 0, 16, 12},
				  init = {1, 0, 20, 16}, init_ack = {2, 0, 20, 16},
				  abort_t = {6, 0x01, 4, 0}, abort = {6, 0, 4, 0},
				  hb = {4, 0, 8, 4}, cookie = {10, 0, 8, 4}, zero = {0, 0, 0, 0},
				  pad = {132, 0, 4, 0}, odd = {3, 0, 5, 4}, huge = {0, 3, 400, 4};
	static const struct {
		const char *what;
		uint16_t sport, dport;
		struct chunk c[4];
		size_t n, cut;
	} v[] = {
		{"sctp-data", 3868, 3868, {data}, 1, 0},
		{"sctp-data-sack", 1, 80, {data, sack}, 2, 0},
		{"sctp-sack-data", 65535, 80, {sack, data}, 2, 0},
		{"sctp-init", 1000, 80, {init}, 1, 0},
		{"sctp-init-ack", 80, 1000, {init_ack}, 1, 0},
		{"sctp-data-B", 2000, 80, {data_b}, 1, 0},
		{"sctp-data-U", 2000, 81, {data_u, sack}, 2, 0},
		{"sctp-abort-T", 1001, 80, {abort_t}, 1, 0},
		{"sctp-abort", 1002, 80, {abort}, 1, 0},
		{"sctp-hb", 1003, 80, {hb}, 1, 0},
		{"sctp-cookie", 1004, 80, {cookie, data}, 2, 0},
		{"sctp-data-init", 1005, 80, {data, init}, 2, 0},
		{"sctp-pad-data", 1006, 80, {pad, data}, 2, 0},
		{"sctp-odd-len", 1007, 80, {odd, data}, 2, 0},
		{"sctp-zero-len", 1008, 80, {zero}, 1, 0},
		{"sctp-data-zero", 1009, 80, {data, zero}, 2, 0},
		{"sctp-huge-len", 1010, 80, {huge}, 1, 0},
		{"sctp-no-chunk", 1011, 80, {data}, 0, 0},
		{"sctp-cut-chunk", 1012, 80, {data, sack}, 2, 14},
		{"sctp-cut-header", 3868, 80, {data}, 1, 9},
		{"sctp-cut-ports", 3868, 80, {data}, 1, 3},
	};
	char d[64];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		snprintf(d, sizeof(d), "%s", v[i].what);
		sctp_pkt(o, d, v[i].sport, v[i].dport, v[i].c, v[i].n, v[i].cut);
	}
	if (o->chain == CH_FORWARD) {
		struct pk p;
		uint8_t b[16] = {0};

		pk_init(&p, o, IPPROTO_SCTP, "sctp-frag-later");
		p.frag = 4;
		l4_raw(&p, b, 8);
		emit(o, &p);
	}
}

/* ---- tcpmss */

static void tcpmss_rules(struct rules *r)
{
	rule(r, M_ALL, "-p tcp -m tcpmss --mss 42");
	rule(r, M_ALL, "-p tcp -m tcpmss --mss 42:12345");
	rule(r, M_ALL, "-p tcp -m tcpmss ! --mss 1460");
	rule(r, M_ALL, "-p tcp -m tcpmss --mss 0:65535");
	rule(r, M_ALL, "-p tcp -m tcpmss --mss 1461:65535");
	rule(r, M_ALL, "-p tcp -m tcpmss ! --mss 0:65535");
	rule(r, M_ALL, "-p tcp -m tcpmss --mss 536 -j DROP");
}

static void tcpmss_pkt(struct out *o, const char *what, const uint8_t *opts, size_t optlen,
		       int doff, size_t cut)
{
	struct pk p;

	pk_init(&p, o, IPPROTO_TCP, what);
	l4_tcp(&p, 40000, 80, 0x02, opts, optlen, doff, NULL, 0);
	if (cut)
		p.l4len = cut;
	emit(o, &p);
}

static void tcpmss_packets(struct out *o)
{
	static const uint16_t mss[] = {0,    1,	   41,	 42,	43,    536,
				       1459, 1460, 1461, 12345, 12346, 65535};
	char d[64];

	for (size_t i = 0; i < ARRAY_SIZE(mss); i++) {
		uint8_t opt[4] = {2, 4, (uint8_t)(mss[i] >> 8), (uint8_t)mss[i]};

		snprintf(d, sizeof(d), "tcpmss-%u", mss[i]);
		tcpmss_pkt(o, d, opt, 4, 0, 0);
	}
	{
		static const uint8_t nop_mss[8] = {1, 1, 2, 4, 0x05, 0xb4, 0, 0};
		static const uint8_t sack_mss[8] = {4, 2, 2, 4, 0x00, 0x2a, 1, 0};
		static const uint8_t bad_len3[8] = {2, 3, 0x05, 0xb4, 2, 4, 0x00, 42};
		static const uint8_t bad_len5[8] = {2, 5, 0x05, 0xb4, 0, 0, 0, 0};
		static const uint8_t tail[4] = {1, 1, 1, 2};
		static const uint8_t eol_mss[8] = {0, 0, 0, 0, 2, 4, 0x00, 42};
		static const uint8_t zero_len[8] = {8, 0, 2, 4, 0x00, 42, 0, 0};
		static const uint8_t ts_mss[16] = {8, 10, 1, 2, 3,    4,    5, 6,
						   7, 8,  2, 4, 0x30, 0x39, 0, 0};
		static const uint8_t skip_mss[8] = {3, 6, 2, 4, 0x00, 42, 0, 0};

		tcpmss_pkt(o, "tcpmss-none", NULL, 0, 0, 0);
		tcpmss_pkt(o, "tcpmss-nop-1460", nop_mss, 8, 0, 0);
		tcpmss_pkt(o, "tcpmss-sackperm-42", sack_mss, 8, 0, 0);
		tcpmss_pkt(o, "tcpmss-len3", bad_len3, 8, 0, 0);
		tcpmss_pkt(o, "tcpmss-len5", bad_len5, 8, 0, 0);
		tcpmss_pkt(o, "tcpmss-tail", tail, 4, 0, 0);
		tcpmss_pkt(o, "tcpmss-eol-then-mss", eol_mss, 8, 0, 0);
		tcpmss_pkt(o, "tcpmss-zero-len-opt", zero_len, 8, 0, 0);
		tcpmss_pkt(o, "tcpmss-ts-12345", ts_mss, 16, 0, 0);
		tcpmss_pkt(o, "tcpmss-skip-over-mss", skip_mss, 8, 0, 0);
		tcpmss_pkt(o, "tcpmss-doff-4", NULL, 0, 4, 0);
		tcpmss_pkt(o, "tcpmss-doff-0", NULL, 0, 0 + 1, 0);
		tcpmss_pkt(o, "tcpmss-opts-cut", nop_mss, 8, 0, 24);
		tcpmss_pkt(o, "tcpmss-hdr-cut", NULL, 0, 0, 12);
		tcpmss_pkt(o, "tcpmss-doff-lies", NULL, 0, 8, 0);
	}
	if (o->chain == CH_FORWARD) {
		uint8_t b[28] = {0};
		struct pk p;

		b[12] = 0x60;
		b[20] = 2;
		b[21] = 4;
		b[23] = 42;
		pk_init(&p, o, IPPROTO_TCP, "tcpmss-frag-later-42");
		p.frag = 6;
		l4_raw(&p, b, 28);
		emit(o, &p);
		b[12] = 0x30;
		pk_init(&p, o, IPPROTO_TCP, "tcpmss-frag-later-doff3");
		p.frag = 6;
		l4_raw(&p, b, 28);
		emit(o, &p);
	}
	plain(o, "tcpmss");
}

/* ---- addrtype */

static void addrtype_rules(struct rules *r)
{
	static const char *const types[] = {"UNSPEC",	 "UNICAST",   "LOCAL",
					    "BROADCAST", "MULTICAST", "BLACKHOLE"};

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		rule(r, M_ALL, "-m addrtype --src-type %s", types[i]);
		rule(r, M_ALL, "-m addrtype --dst-type %s", types[i]);
	}
	rule(r, M_ALL, "-m addrtype ! --dst-type LOCAL");
	rule(r, M_ALL, "-m addrtype --src-type LOCAL --dst-type LOCAL");
	rule(r, M_ALL, "-m addrtype ! --src-type UNICAST ! --dst-type LOCAL");
	rule(r, M_ALL, "-m addrtype --dst-type LOCAL,BROADCAST");
	rule(r, M_IN | M_FWD, "-m addrtype --dst-type LOCAL --limit-iface-in");
	rule(r, M_IN | M_FWD, "-m addrtype --src-type LOCAL --limit-iface-in");
	rule(r, M_IN | M_FWD, "-m addrtype ! --dst-type LOCAL --limit-iface-in");
	rule(r, M_OUT | M_FWD, "-m addrtype --src-type LOCAL --limit-iface-out");
	rule(r, M_OUT | M_FWD, "-m addrtype --dst-type LOCAL --limit-iface-out");
	rule(r, M_ALL, "-m addrtype --dst-type MULTICAST -j DROP");
}

static void addrtype_packets(struct out *o)
{
	static const struct {
		uint32_t saddr, daddr;
		const uint8_t *dmac;
		unsigned int chains;
	} v[] = {
		{CLIENT_ADDR, FW_VIN_ADDR, NULL, M_IN},
		{CLIENT_ADDR, FW_VOUT_ADDR, NULL, M_IN},
		{CLIENT_ADDR, LOCAL_NET | 5, NULL, M_IN},
		{CLIENT_ADDR, LOCAL_NET | 0xffff, NULL, M_IN},
		{CLIENT_ADDR, VIN_BCAST, mac_bcast, M_IN},
		{CLIENT_ADDR, IP4(255, 255, 255, 255), mac_bcast, M_IN},
		{0, IP4(255, 255, 255, 255), mac_bcast, M_IN},
		{CLIENT_ADDR, IP4(224, 0, 0, 1), mac_mcast, M_IN},
		{IP4(198, 51, 100, 7), LOCAL_NET | 9, NULL, M_IN},
		{IP4(10, 200, 1, 77), LOCAL_NET | 10, NULL, M_IN},
		{CLIENT_ADDR, FORWARD_NET | 1, NULL, M_FWD},
		{IP4(198, 51, 100, 7), FORWARD_NET | 2, NULL, M_FWD},
		{IP4(10, 200, 1, 77), FORWARD_NET | 3, NULL, M_FWD},
		{FW_VOUT_ADDR, FORWARD_NET | 4, NULL, M_OUT},
		{FW_VIN_ADDR, FORWARD_NET | 5, NULL, M_OUT},
		{LOCAL_NET | 7, FORWARD_NET | 6, NULL, M_OUT},
		{IP4(198, 51, 100, 7), FORWARD_NET | 7, NULL, M_OUT},
	};
	char d[64];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		struct pk p;

		if (!(v[i].chains & (1U << o->chain)))
			continue;
		snprintf(d, sizeof(d), "addrtype-%zu", i);
		pk_init(&p, o, IPPROTO_UDP, d);
		p.saddr = v[i].saddr;
		p.daddr = v[i].daddr;
		if (v[i].dmac)
			p.dmac = v[i].dmac;
		l4_udp(&p, 1000, 2000, "x", 1);
		emit(o, &p);
	}
}

/* ---- dccp, ipcomp */

static void dccp_rules(struct rules *r)
{
	rule(r, M_ALL, "-p dccp -m dccp --sport 1");
	rule(r, M_ALL, "-p dccp -m dccp --dport 65535");
	rule(r, M_ALL, "-p dccp -m dccp ! --sport 1024:65535");
	rule(r, M_ALL, "-p dccp -m dccp --sport 1 --dport 65535");
	rule(r, M_ALL, "-p dccp -m dccp --dccp-types REQUEST,DATA");
	rule(r, M_ALL, "-p dccp -m dccp ! --dccp-types ACK,DATAACK");
	rule(r, M_ALL, "-p dccp -m dccp --dccp-types INVALID");
	rule(r, M_ALL, "-p dccp -m dccp --dccp-option 41");
	rule(r, M_ALL, "-p dccp -m dccp --dccp-option 255");
	rule(r, M_ALL, "-p dccp -m dccp --dccp-types REQUEST --dccp-option 32");
	rule(r, M_ALL, "-p dccp -m dccp --sport 5000 ! --dccp-option 44");
	rule(r, M_ALL, "-p dccp -m dccp ! --dccp-option 255");
	rule(r, M_ALL, "-p ipcomp -m ipcomp --ipcompspi 18 -j DROP");
	rule(r, M_ALL, "-p ipcomp -m ipcomp ! --ipcompspi 18:20");
	rule(r, M_ALL, "-p ipcomp -m ipcomp --ipcompspi 65535");
	rule(r, M_ALL, "-p dccp -m dccp --dccp-types RESET -j DROP");
}

static void dccp_pkt(struct out *o, const char *what, uint16_t sport, uint16_t dport, int type,
		     int x, const uint8_t *opts, size_t optlen, int doff, size_t cut)
{
	static const uint8_t type_len[16] = {4, 12, 0,	8,  8,	8,  8,	12,
					     8, 8,  12, 12, 12, 12, 12, 12};
	uint8_t b[256] = {0};
	size_t hl = 12 + (x ? 4 : 0) + type_len[type & 15], len = hl + optlen;
	struct pk p;

	ipt2bpf_put16(b, sport);
	ipt2bpf_put16(b + 2, dport);
	b[4] = (uint8_t)(doff ? doff : (int)((len + 3) / 4));
	b[8] = (uint8_t)((type << 1) | (x ? 1 : 0));
	if (optlen)
		memcpy(b + hl, opts, optlen);
	len = (len + 3) / 4 * 4;
	pk_init(&p, o, 33 /* IPPROTO_DCCP */, what);
	l4_raw(&p, b, cut ? cut : len);
	emit(o, &p);
}

static void dccp_packets(struct out *o)
{
	static const uint8_t ts[8] = {1, 41, 6, 0, 0, 0, 1, 0};	    /* NOP, timestamp */
	static const uint8_t ccid[4] = {255, 4, 1, 2};		    /* CCID-specific 255 */
	static const uint8_t change[8] = {32, 4, 2, 3, 0, 0, 0, 0}; /* Change L, paddings */
	static const uint8_t ck[8] = {44, 6, 1, 2, 3, 4, 0, 0};	    /* data checksum */
	static const uint8_t zero_len[8] = {50, 0, 41, 6, 0, 0, 0, 0};
	char d[64];

	for (int type = 0; type < 16; type++) {
		snprintf(d, sizeof(d), "dccp-type-%d", type);
		dccp_pkt(o, d, (uint16_t)(1 + type * 4000), 65535, type, type % 2, NULL, 0, 0, 0);
	}
	dccp_pkt(o, "dccp-req-ts", 5000, 80, 0, 1, ts, 8, 0, 0);
	dccp_pkt(o, "dccp-data-ccid255", 1, 65535, 2, 0, ccid, 4, 0, 0);
	dccp_pkt(o, "dccp-req-change", 5000, 80, 0, 1, change, 8, 0, 0);
	dccp_pkt(o, "dccp-ack-ck", 5000, 80, 3, 1, ck, 8, 0, 0);
	dccp_pkt(o, "dccp-data-zerolen", 1024, 80, 2, 0, zero_len, 8, 0, 0);
	dccp_pkt(o, "dccp-doff-small", 5000, 80, 0, 1, ts, 8, 3, 0);
	dccp_pkt(o, "dccp-opts-cut", 5000, 80, 0, 1, ts, 8, 0, 22);
	dccp_pkt(o, "dccp-short", 5000, 80, 2, 0, NULL, 0, 0, 10);
	dccp_pkt(o, "dccp-short-8", 1, 65535, 2, 0, NULL, 0, 0, 8);
	{
		static const uint16_t cpi[] = {0, 17, 18, 19, 20, 21, 65535};
		struct pk p;

		for (size_t i = 0; i < ARRAY_SIZE(cpi); i++) {
			uint8_t b[8] = {IPPROTO_UDP, 0, (uint8_t)(cpi[i] >> 8), (uint8_t)cpi[i]};

			snprintf(d, sizeof(d), "ipcomp-cpi-%u", cpi[i]);
			pk_init(&p, o, IPPROTO_COMP, d);
			l4_raw(&p, b, sizeof(b));
			emit(o, &p);
		}
		for (size_t len = 0; len < 4; len++) {
			uint8_t b[4] = {IPPROTO_UDP, 0, 0, 18};

			snprintf(d, sizeof(d), "ipcomp-short-%zu", len);
			pk_init(&p, o, IPPROTO_COMP, d);
			l4_raw(&p, b, len);
			emit(o, &p);
		}
		if (o->chain == CH_FORWARD) {
			uint8_t b[16] = {0};

			pk_init(&p, o, IPPROTO_COMP, "ipcomp-frag-later");
			p.frag = 3;
			l4_raw(&p, b, 4);
			emit(o, &p);
			pk_init(&p, o, 33, "dccp-frag-later");
			p.frag = 3;
			l4_raw(&p, b, 16);
			emit(o, &p);
		}
	}
}

/* ---- CLASSIFY (skb->priority: compared by tests/diff/ext.sh's observer) */

static void classify_rules(struct rules *r)
{
	rule(r, M_OUT, "-p udp -m udp --dport 1001 -j CLASSIFY --set-class 0001:0003");
	rule(r, M_OUT, "-p udp -m udp --dport 1002 -j CLASSIFY --set-class ffff:ffff");
	rule(r, M_OUT, "-p udp -m udp --dport 1003 -j CLASSIFY --set-class 0000:0000");
	rule(r, M_OUT, "-p udp -m udp --dport 1004 -j CLASSIFY --set-class 0002:0000");
	rule(r, M_OUT, "-p udp -m udp --dport 1004 -j CLASSIFY --set-class 0003:0001");
	rule(r, M_OUT, "-p udp -m udp --dport 1005 -j CLASSIFY --set-class 0005:0005");
	rule(r, M_OUT, "-p udp -m udp --dport 1005 -j DROP");
	rule(r, M_OUT, "-p udp -m udp --dport 1007 -j CLASSIFY --set-class 0007:0000");
	rule(r, M_OUT, "-p udp -m udp --dport 1007 -j ACCEPT");
	rule(r, M_OUT, "-p udp -m udp --dport 1007 -j CLASSIFY --set-class 0008:0000");
	rule(r, M_OUT, "-p udp -m udp --dport 1008 -j classify_chain");
}

static void classify_packets(struct out *o)
{
	struct pk p;
	char d[64];

	for (uint16_t port = 1001; port <= 1009; port++) {
		snprintf(d, sizeof(d), "classify-udp-%u", port);
		pk_init(&p, o, IPPROTO_UDP, d);
		p.daddr = FORWARD_NET | 9;
		l4_udp(&p, 5000, port, "x", 1);
		emit(o, &p);
	}
}

/* ---- TCPMSS (what it does to the packet: compared with --compare-out) */

static void tcpmsstg_rules(struct rules *r)
{
	rule(r, M_FWD, "-p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu");
	rule(r, M_OUT | M_IN, "-p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1300");
	rule(r, M_ALL, "-p tcp -m length --length 40");
	rule(r, M_ALL, "-p tcp -m length --length 44");
	rule(r, M_ALL, "-p tcp -m tcp --tcp-option 2");
	rule(r, M_ALL, "-p tcp -m tcp --tcp-flags SYN,ACK SYN,ACK -j TCPMSS --set-mss 1000");
	rule(r, M_ALL, "-p tcp -m length --length 44:100");
	rule(r, M_ALL,
	     "-p tcp -m tcp --tcp-flags SYN,ACK,FIN SYN,ACK,FIN -j TCPMSS --set-mss 1500");
	rule(r, M_ALL, "-p tcp -m tcp --tcp-flags SYN,ACK,PSH SYN,ACK,PSH -j DROP");
}

static void tcpmsstg_pkt(struct out *o, const char *what, uint8_t flags, const uint8_t *opts,
			 size_t optlen, int doff, const char *payload, size_t cut, uint8_t pad)
{
	struct pk p;

	pk_init(&p, o, IPPROTO_TCP, what);
	l4_tcp(&p, 40000 + (uint16_t)o->n, 80, flags, opts, optlen, doff, payload,
	       payload ? strlen(payload) : 0);
	if (cut)
		p.l4len = cut;
	p.pad = pad;
	emit(o, &p);
}

static void tcpmsstg_packets(struct out *o)
{
	static const uint16_t mss[] = {100,  536,  999,	 1000, 1001, 1299, 1300,
				       1301, 1359, 1360, 1361, 1460, 65535};
	static const uint8_t nosack[8] = {1, 1, 4, 2, 1, 3, 3, 7};
	static const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0};
	static const uint8_t len3[4] = {2, 3, 5, 0};
	static const uint8_t hidden[8] = {3, 6, 2, 4, 0x05, 0xb4, 1, 0}; /* MSS inside option 3 */
	static const uint8_t eol_mss[8] = {0, 1, 1, 1, 2, 4, 0x05, 0xb4};
	uint8_t big[36], full[40];
	char d[64];

	for (size_t i = 0; i < ARRAY_SIZE(mss); i++) {
		uint8_t opt[4] = {2, 4, (uint8_t)(mss[i] >> 8), (uint8_t)mss[i]};

		snprintf(d, sizeof(d), "tcpmss-tg-syn-%u", mss[i]);
		tcpmsstg_pkt(o, d, 0x02, opt, 4, 0, NULL, 0, 0);
		snprintf(d, sizeof(d), "tcpmss-tg-synack-%u", mss[i]);
		tcpmsstg_pkt(o, d, 0x12, opt, 4, 0, NULL, 0, (uint8_t)(i % 2 ? 6 : 0));
	}
	tcpmsstg_pkt(o, "tcpmss-tg-noopt", 0x02, NULL, 0, 0, NULL, 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-noopt-padded", 0x02, NULL, 0, 0, NULL, 0, 6);
	tcpmsstg_pkt(o, "tcpmss-tg-noopt-pad2", 0x02, NULL, 0, 0, NULL, 0, 2);
	tcpmsstg_pkt(o, "tcpmss-tg-synack-noopt", 0x12, NULL, 0, 0, NULL, 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-synackfin-noopt", 0x13, NULL, 0, 0, NULL, 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-nosack", 0x02, nosack, 8, 0, NULL, 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-ts", 0x12, ts, 12, 0, NULL, 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-len3", 0x02, len3, 4, 0, NULL, 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-hidden", 0x02, hidden, 8, 0, NULL, 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-eol-mss", 0x02, eol_mss, 8, 0, NULL, 0, 0);
	memset(big, 1, sizeof(big));
	tcpmsstg_pkt(o, "tcpmss-tg-36-nops", 0x02, big, 36, 0, NULL, 0, 0);
	memset(full, 1, sizeof(full));
	tcpmsstg_pkt(o, "tcpmss-tg-40-nops", 0x02, full, 40, 0, NULL, 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-data-noopt", 0x02, NULL, 0, 0, "hello", 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-data-mss", 0x02, (const uint8_t[]){2, 4, 0x40, 0}, 4, 0, "hello",
		     0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-ack", 0x10, NULL, 0, 0, NULL, 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-doff4", 0x02, NULL, 0, 4, NULL, 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-doff-beyond", 0x02, NULL, 0, 7, NULL, 0, 0);
	tcpmsstg_pkt(o, "tcpmss-tg-short", 0x02, NULL, 0, 0, NULL, 16, 0);
	if (o->chain == CH_FORWARD) {
		struct pk p;
		uint8_t b[24] = {0};

		b[12] = 0x50;
		b[13] = 0x02;
		pk_init(&p, o, IPPROTO_TCP, "tcpmss-tg-frag-later");
		p.frag = 5;
		l4_raw(&p, b, sizeof(b));
		emit(o, &p);
	}
}

/* ---- cpu: the rules see the CPU they run on; ext.sh pins both sides (cpu0: CPU 0, cpu1: CPU 1) */

static void cpu_rules(struct rules *r)
{
	rule(r, M_ALL, "-m cpu --cpu 0");
	rule(r, M_ALL, "-m cpu ! --cpu 0");
	rule(r, M_ALL, "-m cpu --cpu 1");
	rule(r, M_ALL, "-m cpu ! --cpu 1");
	rule(r, M_ALL, "-m cpu --cpu 2");
	rule(r, M_ALL, "-m cpu --cpu 4294967295");
	rule(r, M_ALL, "-m cpu ! --cpu 4294967295");
	rule(r, M_ALL, "-p udp -m cpu --cpu 1 -j DROP");
	rule(r, M_ALL, "-p tcp -m cpu ! --cpu 0 -j ACCEPT");
	rule(r, M_ALL, "-m cpu --cpu 0 -j ACCEPT");
}

static void cpu_packets(struct out *o)
{
	for (int i = 0; i < 4; i++)
		plain(o, "cpu");
}

/* ---- NFLOG, AUDIT: non-terminal, the rules after them see every packet */

static void nflog_rules(struct rules *r)
{
	rule(r, M_ALL, "-j NFLOG");
	rule(r, M_ALL, "-p tcp -j NFLOG --nflog-group 7 --nflog-prefix \"x: \" --nflog-size 20");
	rule(r, M_ALL, "-j NFLOG --nflog-range 100 --nflog-threshold 5");
	rule(r, M_ALL, "-p udp -j AUDIT --type accept");
	rule(r, M_ALL, "-j AUDIT --type drop");
	rule(r, M_ALL, "-p icmp -j AUDIT --type reject");
	rule(r, M_ALL, "-p udp");
	rule(r, M_ALL, "-p icmp -j NFLOG --nflog-group 65535");
	rule(r, M_ALL, "-p icmp -j DROP");
	rule(r, M_ALL, "-j NFLOG --nflog-prefix \"after\"");
}

static void nflog_packets(struct out *o)
{
	plain(o, "nflog");
	plain(o, "nflog2");
}

/* ---- HMARK: each configuration, then 32 rules that show the mark it left bit by bit */

static const char *const hmark_cfgs[] = {
	"--hmark-tuple src,dst,sport,dport,proto --hmark-rnd 0x12345678 --hmark-mod 4294967295",
	"--hmark-tuple src,dst --hmark-rnd 0x1 --hmark-mod 4294967295 --hmark-offset 7",
	"--hmark-src-prefix 16 --hmark-dst-prefix 24 --hmark-sport-mask 0xff00 "
	"--hmark-dport-mask 0x00ff --hmark-proto-mask 0x0f --hmark-rnd 0xdeadbeef "
	"--hmark-mod 4294967295 --hmark-offset 1000",
	"--hmark-tuple spi,proto,src,dst --hmark-rnd 0xcafe --hmark-mod 4294967295",
	"--hmark-tuple sport,dport --hmark-sport 0x1234 --hmark-rnd 0 --hmark-mod 4294967295",
	"--hmark-tuple dport,src --hmark-spi 0x00ff00f0 --hmark-rnd 0x77 --hmark-mod 65536 "
	"--hmark-offset 65536",
	"--hmark-tuple src --hmark-rnd 0xffffffff --hmark-mod 7 --hmark-offset 4294967290",
	"--hmark-tuple proto,dst --hmark-rnd 0x5 --hmark-mod 1",
	"--hmark-src-prefix 1 --hmark-dst-prefix 2 --hmark-sport-mask 0x0003 --hmark-dport-mask "
	"0x0004 --hmark-proto-mask 0x05 --hmark-rnd 0x00000004 --hmark-mod 42 --hmark-offset 1",
};

static void hmark_rules(struct rules *r)
{
	for (size_t i = 0; i < ARRAY_SIZE(hmark_cfgs); i++) {
		rule(r, M_ALL, "%s-j HMARK %s", i == 8 ? "-p tcp " : "", hmark_cfgs[i]);
		for (int b = 0; b < 32; b++)
			rule(r, M_ALL, "-m mark --mark 0x%x/0x%x", 1U << b, 1U << b);
	}
	rule(r, M_ALL, "-m mark --mark 0x0/0x3 -j DROP");
}

/* An IPv4 header (20 bytes, or as ihl says) and L4 bytes: what an ICMP error quotes. */
static size_t ip_quote(uint8_t *b, uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t frag,
		       uint8_t ver_ihl, const uint8_t *l4, size_t l4len)
{
	size_t hl = (size_t)(ver_ihl & 0xf) * 4 < 20 ? 20 : (size_t)(ver_ihl & 0xf) * 4;

	memset(b, 0, hl);
	b[0] = ver_ihl;
	ipt2bpf_put16(b + 2, (uint16_t)(hl + l4len + 100));
	ipt2bpf_put16(b + 4, 0x4242);
	ipt2bpf_put16(b + 6, frag);
	b[8] = 63;
	b[9] = proto;
	ipt2bpf_put32(b + 12, saddr);
	ipt2bpf_put32(b + 16, daddr);
	memcpy(b + hl, l4, l4len);
	return hl + l4len;
}

static void hmark_icmp(struct out *o, const char *what, uint8_t type, const uint8_t *quote,
		       size_t qlen, uint32_t mark)
{
	struct pk p;
	int n;

	pk_init(&p, o, IPPROTO_ICMP, what);
	p.mark = mark;
	n = ipt2bpf_pkt_icmp(p.l4, sizeof(p.l4), type, 3, 0, quote, qlen);
	p.l4len = n > 0 ? (size_t)n : 0;
	emit(o, &p);
}

static void hmark_packets(struct out *o)
{
	static const uint16_t ports[][2] = {{40000, 80}, {80, 40000}, {53, 53},
					    {0, 65535},	 {1, 2},      {0x1234, 0x00ff}};
	static const uint8_t opts[] = {1, 1, 1, 0}; /* NOP NOP NOP EOL */
	static const uint8_t l4protos[] = {IPPROTO_UDPLITE, IPPROTO_SCTP, IPPROTO_DCCP, IPPROTO_GRE,
					   253};
	uint8_t raw[64], q[128];
	struct pk p;
	char d[96];
	size_t qn;

	for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
		snprintf(d, sizeof(d), "hmark-tcp-%u-%u", ports[i][0], ports[i][1]);
		pk_init(&p, o, IPPROTO_TCP, d);
		p.mark = 0xa5a5a5a5;
		l4_tcp(&p, ports[i][0], ports[i][1], 0x02, NULL, 0, 0, NULL, 0);
		emit(o, &p);
		snprintf(d, sizeof(d), "hmark-udp-%u-%u", ports[i][0], ports[i][1]);
		pk_init(&p, o, IPPROTO_UDP, d);
		l4_udp(&p, ports[i][0], ports[i][1], "x", 1);
		emit(o, &p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(l4protos); i++) {
		snprintf(d, sizeof(d), "hmark-proto-%u", l4protos[i]);
		pk_init(&p, o, l4protos[i], d);
		for (size_t k = 0; k < 16; k++)
			raw[k] = (uint8_t)(0x31 + 7 * k + i);
		l4_raw(&p, raw, 16);
		emit(o, &p);
	}
	/* ESP: SPI at 0; AH: SPI at 4 */
	for (int ah = 0; ah < 2; ah++) {
		snprintf(d, sizeof(d), "hmark-%s", ah ? "ah" : "esp");
		pk_init(&p, o, ah ? IPPROTO_AH : IPPROTO_ESP, d);
		memset(raw, 0, 24);
		raw[0] = IPPROTO_UDP;
		raw[1] = 4;
		ipt2bpf_put32(raw + (ah ? 4 : 0), 0x89abcdef);
		l4_raw(&p, raw, 24);
		emit(o, &p);
	}
	/* transport shorter than the ports: no ports */
	for (size_t len = 0; len < 5; len += 2) {
		snprintf(d, sizeof(d), "hmark-udp-short-%zu", len);
		pk_init(&p, o, IPPROTO_UDP, d);
		memcpy(raw, "\x12\x34\x56\x78", 4);
		l4_raw(&p, raw, len);
		emit(o, &p);
	}
	snprintf(d, sizeof(d), "hmark-ah-short");
	pk_init(&p, o, IPPROTO_AH, d);
	memset(raw, 0x11, 7);
	l4_raw(&p, raw, 7);
	emit(o, &p);
	/* IP options: the transport header further on */
	pk_init(&p, o, IPPROTO_TCP, "hmark-ipopts");
	p.opts = opts;
	p.optlen = sizeof(opts);
	l4_tcp(&p, 1234, 5678, 0x02, NULL, 0, 0, NULL, 0);
	emit(o, &p);
	/* ICMP: no ports; errors use the quoted header */
	pk_init(&p, o, IPPROTO_ICMP, "hmark-icmp-echo");
	l4_icmp(&p, 8, 0);
	emit(o, &p);
	{
		static const uint8_t err_types[] = {3, 4, 5, 11, 12, 0, 13, 40};
		uint8_t l4[8] = {0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1}; /* ports 40000 -> 80 */

		for (size_t i = 0; i < ARRAY_SIZE(err_types); i++) {
			qn = ip_quote(q, IP4(198, 51, 100, 7), IP4(203, 0, 113, 9), IPPROTO_TCP, 0,
				      0x45, l4, sizeof(l4));
			snprintf(d, sizeof(d), "hmark-icmp-%u-quote-tcp", err_types[i]);
			hmark_icmp(o, d, err_types[i], q, qn, 0x1111);
		}
		qn = ip_quote(q, IP4(198, 51, 100, 7), IP4(203, 0, 113, 9), IPPROTO_UDP, 0, 0x45,
			      l4, sizeof(l4));
		hmark_icmp(o, "hmark-icmp-3-quote-udp", 3, q, qn, 0x2222);
		qn = ip_quote(q, IP4(198, 51, 100, 7), IP4(203, 0, 113, 9), IPPROTO_ICMP, 0, 0x45,
			      l4, sizeof(l4));
		hmark_icmp(o, "hmark-icmp-11-quote-icmp", 11, q, qn, 0x3333);
		qn = ip_quote(q, IP4(198, 51, 100, 7), IP4(203, 0, 113, 9), IPPROTO_TCP, 0x2000,
			      0x45, l4, sizeof(l4));
		hmark_icmp(o, "hmark-icmp-3-quote-firstfrag", 3, q, qn, 0x4444);
		qn = ip_quote(q, IP4(198, 51, 100, 7), IP4(203, 0, 113, 9), IPPROTO_TCP, 0x0010,
			      0x45, l4, sizeof(l4));
		hmark_icmp(o, "hmark-icmp-3-quote-laterfrag", 3, q, qn, 0x5555);
		qn = ip_quote(q, IP4(198, 51, 100, 7), IP4(203, 0, 113, 9), IPPROTO_TCP, 0, 0x46,
			      l4, sizeof(l4));
		hmark_icmp(o, "hmark-icmp-3-quote-ihl6", 3, q, qn, 0x6666);
		qn = ip_quote(q, IP4(198, 51, 100, 7), IP4(203, 0, 113, 9), IPPROTO_TCP, 0, 0x40,
			      l4, sizeof(l4));
		hmark_icmp(o, "hmark-icmp-3-quote-ihl0", 3, q, qn, 0x7777);
		qn = ip_quote(q, IP4(198, 51, 100, 7), IP4(203, 0, 113, 9), IPPROTO_TCP, 0, 0x45,
			      l4, 2);
		hmark_icmp(o, "hmark-icmp-3-quote-ports-cut", 3, q, qn, 0x8888);
		qn = ip_quote(q, IP4(198, 51, 100, 7), IP4(203, 0, 113, 9), IPPROTO_TCP, 0, 0x45,
			      l4, 0);
		hmark_icmp(o, "hmark-icmp-3-quote-19", 3, q, 19, 0x9999);
		hmark_icmp(o, "hmark-icmp-3-quote-20", 3, q, 20, 0xaaaa);
		hmark_icmp(o, "hmark-icmp-3-quote-none", 3, q, 0, 0xbbbb);
		/* an ICMP header cut short: not an error as far as get_inner_hdr() sees */
		pk_init(&p, o, IPPROTO_ICMP, "hmark-icmp-3-cut");
		p.mark = 0xcccc;
		raw[0] = 3;
		memset(raw + 1, 0, 6);
		l4_raw(&p, raw, 7);
		emit(o, &p);
	}
	if (o->chain == CH_FORWARD) {
		/* FORWARD sees fragments: no ports in any; a later ICMP fragment is read as is */
		pk_init(&p, o, IPPROTO_TCP, "hmark-frag-first");
		p.frag = 0x2000;
		l4_tcp(&p, 40000, 80, 0x02, NULL, 0, 0, NULL, 0);
		emit(o, &p);
		pk_init(&p, o, IPPROTO_UDP, "hmark-frag-later");
		p.frag = 0x0003;
		memset(raw, 0x42, 16);
		l4_raw(&p, raw, 16);
		emit(o, &p);
		qn = ip_quote(q, IP4(198, 51, 100, 7), IP4(203, 0, 113, 9), IPPROTO_UDP, 0, 0x45,
			      raw, 8);
		pk_init(&p, o, IPPROTO_ICMP, "hmark-frag-later-icmp-looks-error");
		p.frag = 0x0004;
		p.mark = 0xdddd;
		{
			int n = ipt2bpf_pkt_icmp(p.l4, sizeof(p.l4), 3, 1, 0, q, qn);

			p.l4len = n > 0 ? (size_t)n : 0;
		}
		emit(o, &p);
	}
	plain(o, "hmark");
}

/* ---- HMARK --hmark-tuple ct: the connection's tuple; a state rule enables tracking */

static const char *const hmarkct_cfgs[] = {
	"--hmark-tuple ct,src,dst,sport,dport,proto --hmark-rnd 0x12345678 --hmark-mod 4294967295",
	"--hmark-src-prefix 32 --hmark-dst-prefix 32 --hmark-sport-mask 0xffff --hmark-dport-mask "
	"0xffff --hmark-proto-mask 0xffff --hmark-rnd 0x00000004 --hmark-mod 42 --hmark-offset 1 "
	"--hmark-tuple ct",
	"--hmark-src-prefix 1 --hmark-dst-prefix 2 --hmark-sport-mask 0x0003 --hmark-dport-mask "
	"0x0004 --hmark-proto-mask 0x05 --hmark-rnd 0x00000004 --hmark-mod 42 --hmark-offset 1 "
	"--hmark-tuple ct",
	"--hmark-src-prefix 32 --hmark-dst-prefix 32 --hmark-spi-mask 0x00000004 "
	"--hmark-proto-mask "
	"0xffff --hmark-rnd 0x00000004 --hmark-mod 42 --hmark-offset 1 --hmark-tuple ct",
	"--hmark-tuple ct,src,dst --hmark-rnd 0xfeed --hmark-mod 4294967295 --hmark-offset 3",
	"--hmark-tuple ct,sport,dport --hmark-dport 0x8000 --hmark-rnd 0x9 --hmark-mod 4294967295",
};

static void hmarkct_rules(struct rules *r)
{
	rule(r, M_ALL, "-m state --state INVALID");
	for (size_t i = 0; i < ARRAY_SIZE(hmarkct_cfgs); i++) {
		rule(r, M_ALL, "-j HMARK %s", hmarkct_cfgs[i]);
		for (int b = 0; b < 32; b++)
			rule(r, M_ALL, "-m mark --mark 0x%x/0x%x", 1U << b, 1U << b);
	}
}

static void hmarkct_packets(struct out *o)
{
	static const uint16_t ports[][2] = {{40000, 80}, {80, 40000}, {5353, 53}, {1, 2}};
	/*
	 * Not DCCP: whether the kernel tracks it (nf_conntrack_proto_dccp, 6.1) or
	 * takes it as a generic protocol (kernels without CONFIG_NF_CT_PROTO_DCCP,
	 * like 6.18's here) is the tracker's business, not HMARK's.
	 */
	static const uint8_t l4protos[] = {IPPROTO_SCTP, IPPROTO_UDPLITE, IPPROTO_GRE, IPPROTO_ESP,
					   253};
	uint8_t raw[64], q[128];
	struct pk p;
	char d[96];
	size_t qn;

	for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
		snprintf(d, sizeof(d), "hmarkct-tcp-syn-%u-%u", ports[i][0], ports[i][1]);
		pk_init(&p, o, IPPROTO_TCP, d);
		p.mark = 0xa5a5a5a5;
		l4_tcp(&p, ports[i][0], ports[i][1], 0x02, NULL, 0, 0, NULL, 0);
		emit(o, &p);
		snprintf(d, sizeof(d), "hmarkct-udp-%u-%u", ports[i][0], ports[i][1]);
		pk_init(&p, o, IPPROTO_UDP, d);
		l4_udp(&p, ports[i][0], ports[i][1], "x", 1);
		emit(o, &p);
		if (o->chain != CH_OUTPUT) {
			/* ICMP port unreachable quoting the reverse of that datagram: RELATED */
			uint8_t u[8];
			struct pk e;

			snprintf(d, sizeof(d), "hmarkct-icmp-related-%u-%u", ports[i][0],
				 ports[i][1]);
			ipt2bpf_put16(u, ports[i][1]);
			ipt2bpf_put16(u + 2, ports[i][0]);
			ipt2bpf_put16(u + 4, 8);
			ipt2bpf_put16(u + 6, 0);
			qn = ip_quote(q, p.daddr, p.saddr, IPPROTO_UDP, 0, 0x45, u, sizeof(u));
			pk_init(&e, o, IPPROTO_ICMP, d);
			e.daddr = p.daddr;
			e.mark = 0x1234;
			{
				int n = ipt2bpf_pkt_icmp(e.l4, sizeof(e.l4), 3, 3, 0, q, qn);

				e.l4len = n > 0 ? (size_t)n : 0;
			}
			emit(o, &e);
		}
	}
	/* an ACK nobody opened (picked up: tcp_loose), a RST without a connection (INVALID) */
	pk_init(&p, o, IPPROTO_TCP, "hmarkct-tcp-ack-midstream");
	l4_tcp(&p, 41000, 443, 0x10, NULL, 0, 0, NULL, 0);
	emit(o, &p);
	pk_init(&p, o, IPPROTO_TCP, "hmarkct-tcp-truncated");
	p.mark = 0x77;
	memcpy(raw, "\x9c\x40\x00\x50\x00\x00", 6);
	l4_raw(&p, raw, 6);
	emit(o, &p);
	for (size_t i = 0; i < ARRAY_SIZE(l4protos); i++) {
		snprintf(d, sizeof(d), "hmarkct-proto-%u", l4protos[i]);
		pk_init(&p, o, l4protos[i], d);
		memset(raw, 0, 32);
		for (size_t k = 0; k < 12; k++)
			raw[k] = (uint8_t)(0x31 + 7 * k + i);
		l4_raw(&p, raw, 32);
		emit(o, &p);
	}
	pk_init(&p, o, IPPROTO_ICMP, "hmarkct-icmp-echo");
	l4_icmp(&p, 8, 0);
	emit(o, &p);
	/* an ICMP error about no known connection: INVALID, the mark stays */
	{
		uint8_t u[8] = {0x12, 0x34, 0x56, 0x78, 0, 8, 0, 0};

		qn = ip_quote(q, IP4(198, 51, 100, 7), IP4(203, 0, 113, 9), IPPROTO_UDP, 0, 0x45, u,
			      sizeof(u));
		hmark_icmp(o, "hmarkct-icmp-unrelated", 3, q, qn, 0x4242);
	}
	plain(o, "hmarkct");
}

/* ---- bpf (classic programs: -m bpf --bytecode) */

#define BS(c, k)	 BPF_STMT(c, (uint32_t)(k))
#define BJ(c, k, jt, jf) BPF_JUMP(c, (uint32_t)(k), jt, jf)
#define B_RET1		 BS(BPF_RET | BPF_K, 1)
#define B_RET0		 BS(BPF_RET | BPF_K, 0)
#define B_RETA		 BS(BPF_RET | BPF_A, 0)
#define LDB(k)		 BS(BPF_LD | BPF_B | BPF_ABS, k)
#define LDH(k)		 BS(BPF_LD | BPF_H | BPF_ABS, k)
#define LDW(k)		 BS(BPF_LD | BPF_W | BPF_ABS, k)
#define JEQ(k, t, f)	 BJ(BPF_JMP | BPF_JEQ | BPF_K, k, t, f)
#define ALU(op, k)	 BS(BPF_ALU | (op) | BPF_K, k)
#define ALUX(op)	 BS(BPF_ALU | (op) | BPF_X, 0)
#define LDXI(k)		 BS(BPF_LDX | BPF_IMM, k)
#define LDI(k)		 BS(BPF_LD | BPF_IMM, k)
#define ANC(a)		 (SKF_AD_OFF + (a))
#define BPROG(mask, ...)                                                                           \
	do {                                                                                       \
		static const struct sock_filter p_[] = {__VA_ARGS__};                              \
		bpf_rule(r, mask, p_, ARRAY_SIZE(p_));                                             \
	} while (0)

/* One rule "-m bpf --bytecode" with the program in iptables' "N,c t f k,..." form. */
static void bpf_rule(struct rules *r, unsigned int mask, const struct sock_filter *p, size_t n)
{
	char buf[900];
	int at = snprintf(buf, sizeof(buf), "%zu", n);

	for (size_t i = 0; i < n && at > 0 && (size_t)at < sizeof(buf); i++)
		at += snprintf(buf + at, sizeof(buf) - (size_t)at, ",%u %u %u %u", p[i].code,
			       p[i].jt, p[i].jf, p[i].k);
	rule(r, mask, "-m bpf --bytecode \"%s\"", buf);
}

static void bpf_rules(struct rules *r)
{
	const unsigned int rx = M_IN | M_FWD;

	/* protocol, ports through the IHL (BPF_MSH) */
	BPROG(M_ALL, LDB(9), JEQ(6, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, LDB(9), JEQ(6, 1, 0), JEQ(17, 0, 4), BS(BPF_LDX | BPF_B | BPF_MSH, 0),
	      BS(BPF_LD | BPF_H | BPF_IND, 2), JEQ(80, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, BS(BPF_LDX | BPF_B | BPF_MSH, 0), BS(BPF_LD | BPF_H | BPF_IND, 0),
	      BJ(BPF_JMP | BPF_JGE | BPF_K, 1024, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, BS(BPF_LDX | BPF_B | BPF_MSH, 0), BS(BPF_LD | BPF_W | BPF_IND, 8), B_RETA);
	/* length, loads at and past the end of the datagram */
	BPROG(M_ALL, BS(BPF_LD | BPF_W | BPF_LEN, 0), BJ(BPF_JMP | BPF_JGT | BPF_K, 40, 0, 1),
	      B_RET1, B_RET0);
	BPROG(M_ALL, LDB(40), B_RET1);
	BPROG(M_ALL, LDH(39), B_RET1);
	BPROG(M_ALL, LDW(37), B_RET1);
	BPROG(M_ALL, LDW(38), B_RET1);
	BPROG(M_ALL, LDB(1427), B_RET1);
	BPROG(M_ALL, LDB(1428), B_RET1);
	BPROG(M_ALL, LDB(0x7fffffff), B_RET1);
	BPROG(M_ALL, LDB(0x80000000), B_RET1);
	BPROG(M_ALL, LDB(20), B_RETA);
	BPROG(M_ALL, LDW(24), B_RETA);
	BPROG(M_ALL, BS(BPF_LDX | BPF_W | BPF_LEN, 0), BS(BPF_LD | BPF_B | BPF_IND, -1), B_RETA);
	BPROG(M_ALL, BS(BPF_LDX | BPF_W | BPF_LEN, 0), BS(BPF_LD | BPF_H | BPF_IND, -2), B_RETA);
	BPROG(M_ALL, BS(BPF_LDX | BPF_W | BPF_LEN, 0), BS(BPF_LD | BPF_B | BPF_IND, 0), B_RET1);
	BPROG(M_ALL, BS(BPF_LDX | BPF_W | BPF_LEN, 0), BS(BPF_LD | BPF_W | BPF_IND, -3), B_RET1);
	/* the network and link-layer offsets, also through X */
	BPROG(M_ALL, LDB(SKF_NET_OFF + 9), JEQ(17, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, LDXI(SKF_NET_OFF), BS(BPF_LD | BPF_B | BPF_IND, 9), JEQ(6, 0, 1), B_RET1,
	      B_RET0);
	BPROG(M_ALL, LDXI(0), BS(BPF_LD | BPF_B | BPF_IND, SKF_AD_OFF + 9), B_RET1);
	BPROG(M_ALL, LDXI(SKF_NET_OFF - 1), BS(BPF_LD | BPF_B | BPF_IND, 1), B_RETA);
	BPROG(rx, LDB(SKF_LL_OFF + 23), JEQ(17, 0, 1), B_RET1, B_RET0);
	BPROG(rx, LDB(SKF_LL_OFF + 6), JEQ(2, 0, 1), B_RET1, B_RET0);
	BPROG(rx, LDH(SKF_LL_OFF + 12), JEQ(0x800, 0, 1), B_RET1, B_RET0);
	BPROG(rx, LDB(SKF_LL_OFF + 22), JEQ(63, 0, 1), B_RET1, B_RET0);
	BPROG(rx, LDW(SKF_LL_OFF + 20), ALU(BPF_AND, 0x0101), B_RETA);
	BPROG(rx, LDXI(SKF_LL_OFF), BS(BPF_LD | BPF_W | BPF_IND, 0), B_RETA);
	BPROG(rx, LDXI(SKF_LL_OFF), BS(BPF_LD | BPF_B | BPF_IND, 23), JEQ(6, 0, 1), B_RET1, B_RET0);
	BPROG(rx, BS(BPF_LDX | BPF_W | BPF_LEN, 0), BS(BPF_LD | BPF_B | BPF_IND, SKF_LL_OFF + 13),
	      B_RETA);
	BPROG(rx, BS(BPF_LDX | BPF_W | BPF_LEN, 0), BS(BPF_LD | BPF_B | BPF_IND, SKF_LL_OFF + 14),
	      B_RET1);
	BPROG(rx, LDB(SKF_LL_OFF - 1), B_RET1);
	/* FORWARD: the TTL and checksum as ip_forward() left them, every overlap */
	BPROG(M_ALL, LDB(8), JEQ(63, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, LDB(8), JEQ(64, 0, 1), B_RET1, B_RET0);
	for (uint32_t off = 5; off <= 12; off++)
		for (int sz = 1; sz <= 4; sz *= 2)
			for (int b = 0; b < sz; b++) {
				uint16_t c = BPF_LD | BPF_ABS |
					     (sz == 1	? BPF_B
					      : sz == 2 ? BPF_H
							: BPF_W);
				const struct sock_filter p[] = {
					BS(c, off), ALU(BPF_AND, 1U << (8 * b)), B_RETA};

				if (off + (uint32_t)b < 8 || off + (uint32_t)b > 11)
					continue; /* that byte is not TTL, protocol or checksum */
				bpf_rule(r, M_ALL, p, ARRAY_SIZE(p));
			}
	BPROG(M_ALL, LDXI(3), BS(BPF_LD | BPF_H | BPF_IND, 7), ALU(BPF_AND, 0x0101), B_RETA);
	BPROG(M_ALL, LDH(10), ALU(BPF_AND, 0x100), B_RETA);
	/* ALU: division and modulo by zero, shifts by X >= 32, wrap-around */
	BPROG(M_ALL, LDB(1), BS(BPF_MISC | BPF_TAX, 0), LDI(100), ALUX(BPF_DIV), B_RETA);
	BPROG(M_ALL, LDB(1), BS(BPF_MISC | BPF_TAX, 0), LDI(100), ALUX(BPF_MOD), B_RETA);
	BPROG(M_ALL, LDB(1), BS(BPF_MISC | BPF_TAX, 0), LDI(7), ALUX(BPF_DIV), B_RET1);
	BPROG(M_ALL, LDB(9), ALU(BPF_DIV, 3), ALU(BPF_MOD, 4), JEQ(1, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, LDB(9), BS(BPF_MISC | BPF_TAX, 0), LDI(1), ALUX(BPF_LSH), B_RETA);
	BPROG(M_ALL, LDXI(33), LDI(1), ALUX(BPF_LSH), B_RETA);
	BPROG(M_ALL, LDXI(32), LDW(12), ALUX(BPF_RSH), ALU(BPF_AND, 1), B_RETA);
	BPROG(M_ALL, LDB(9), ALU(BPF_NEG, 0), BJ(BPF_JMP | BPF_JGT | BPF_K, 0xfffffff9, 0, 1),
	      B_RET1, B_RET0);
	BPROG(M_ALL, LDB(9), ALU(BPF_MUL, 0x10000001),
	      BJ(BPF_JMP | BPF_JSET | BPF_K, 0x80000000, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, BS(BPF_LD | BPF_W | BPF_LEN, 0), ALU(BPF_SUB, 41),
	      BJ(BPF_JMP | BPF_JGE | BPF_K, 0x80000000, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, LDH(0), ALU(BPF_OR, 0x10), ALU(BPF_XOR, 0x4510), B_RETA);
	BPROG(M_ALL, LDW(0), ALU(BPF_ADD, 0xffffffff), ALU(BPF_RSH, 31), B_RETA);
	BPROG(M_ALL, LDW(12), ALU(BPF_MUL, 0x9e3779b9), ALU(BPF_RSH, 29), JEQ(5, 0, 1), B_RET1,
	      B_RET0);
	/* jumps on X, scratch memory, ja over dead code */
	BPROG(M_ALL, LDB(9), BS(BPF_ST, 15), LDB(1), BS(BPF_MISC | BPF_TAX, 0), BS(BPF_STX, 0),
	      BS(BPF_LD | BPF_MEM, 15), BS(BPF_LDX | BPF_MEM, 0), ALUX(BPF_ADD),
	      BJ(BPF_JMP | BPF_JGT | BPF_K, 10, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, BS(BPF_LDX | BPF_B | BPF_MSH, 0), LDB(9),
	      BJ(BPF_JMP | BPF_JGE | BPF_X, 0, 1, 0), B_RET0,
	      BJ(BPF_JMP | BPF_JSET | BPF_X, 0, 0, 1), B_RET1, BJ(BPF_JMP | BPF_JA, 1, 0, 0),
	      B_RET1, BS(BPF_MISC | BPF_TXA, 0), B_RETA);
	BPROG(M_ALL, LDB(9), BS(BPF_MISC | BPF_TAX, 0), LDB(23),
	      BJ(BPF_JMP | BPF_JEQ | BPF_X, 0, 2, 0), BJ(BPF_JMP | BPF_JGT | BPF_X, 0, 2, 3),
	      B_RET0, LDI(7), B_RETA, B_RET1);
	/* ancillary: protocol, ifindex, alu_xor_x */
	BPROG(M_ALL, LDH(ANC(SKF_AD_PROTOCOL)), JEQ(0x800, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, LDB(ANC(SKF_AD_PROTOCOL)), ALU(BPF_XOR, 0x800), B_RETA);
	BPROG(M_ALL, LDXI(6), LDB(9), LDW(ANC(SKF_AD_ALU_XOR_X)), JEQ(0, 0, 1), B_RET1, B_RET0);
	BPROG(rx, LDW(ANC(SKF_AD_IFINDEX)), ALU(BPF_AND, 1), B_RETA);
	BPROG(rx, LDW(ANC(SKF_AD_IFINDEX)), BJ(BPF_JMP | BPF_JGT | BPF_K, 1, 0, 1), B_RET1, B_RET0);
	/* tcpdump -ddd EXPR on a DLT_RAW capture (what nfbpf_compile RAW gives) */
	static const char *const dumped[] = {
		/* tcp dst port 80 */
		"19,48 0 0 0,84 0 0 240,21 0 4 96,48 0 0 6,21 0 13 6,40 0 0 42,21 10 11 80,48 0 0 "
		"0,84 0 0 240,21 0 8 64,48 0 0 9,21 0 6 6,40 0 0 6,69 4 0 8191,177 0 0 0,72 0 0 "
		"2,21 0 1 80,6 0 0 65535,6 0 0 0",
		/* udp and src port 53 */
		"19,48 0 0 0,84 0 0 240,21 0 7 64,48 0 0 9,21 0 13 17,40 0 0 6,69 11 0 8191,177 0 "
		"0 0,72 0 0 0,21 7 8 53,48 0 0 0,84 0 0 240,21 0 5 96,48 0 0 6,21 0 3 17,40 0 0 "
		"40,21 0 1 53,6 0 0 65535,6 0 0 0",
		/* icmp[icmptype] == icmp-echo */
		"12,48 0 0 0,84 0 0 240,21 0 8 64,48 0 0 9,21 0 6 1,40 0 0 6,69 4 0 8191,177 0 0 "
		"0,80 0 0 0,21 0 1 8,6 0 0 65535,6 0 0 0",
		/* tcp[tcpflags] & tcp-syn != 0 */
		"12,48 0 0 0,84 0 0 240,21 0 8 64,48 0 0 9,21 0 6 6,40 0 0 6,69 4 0 8191,177 0 0 "
		"0,80 0 0 13,69 0 1 2,6 0 0 65535,6 0 0 0",
		/* len >= 100 */
		"4,128 0 0 0,53 0 1 100,6 0 0 65535,6 0 0 0",
		/* src net 10.200.1.0/24 */
		"8,48 0 0 0,84 0 0 240,21 0 4 64,32 0 0 12,84 0 0 4294967040,21 0 1 180879616,6 0 "
		"0 65535,6 0 0 0",
		/* portrange 1000-2000 */
		"30,48 0 0 0,84 0 0 240,21 0 9 96,48 0 0 6,21 2 0 132,21 1 0 6,21 0 22 17,40 0 0 "
		"40,53 0 1 1000,37 0 18 2000,40 0 0 42,53 15 17 1000,48 0 0 0,84 0 0 240,21 0 14 "
		"64,48 0 0 9,21 2 0 132,21 1 0 6,21 0 10 17,40 0 0 6,69 8 0 8191,177 0 0 0,72 0 0 "
		"0,53 0 1 1000,37 0 3 2000,72 0 0 2,53 0 2 1000,37 1 0 2000,6 0 0 65535,6 0 0 0",
		/* ip[6:2] & 0x1fff != 0 */
		"7,48 0 0 0,84 0 0 240,21 0 3 64,40 0 0 6,69 0 1 8191,6 0 0 65535,6 0 0 0",
		/* tcp[20:4] = 0x47455420 */
		"12,48 0 0 0,84 0 0 240,21 0 8 64,48 0 0 9,21 0 6 6,40 0 0 6,69 4 0 8191,177 0 0 "
		"0,64 0 0 20,21 0 1 1195725856,6 0 0 65535,6 0 0 0",
		/* ip[8] < 64 */
		"7,48 0 0 0,84 0 0 240,21 0 3 64,48 0 0 8,53 1 0 64,6 0 0 65535,6 0 0 0",
	};

	for (size_t i = 0; i < ARRAY_SIZE(dumped); i++)
		rule(r, M_ALL, "-m bpf --bytecode \"%s\"", dumped[i]);
	/* verdicts */
	BPROG(M_ALL, LDB(1), JEQ(4, 0, 1), B_RET1, B_RET0);
	rule(r, M_ALL, "-m bpf --bytecode \"4,48 0 0 1,21 0 1 4,6 0 0 1,6 0 0 0\" -j DROP");
	rule(r, M_ALL, "-m bpf --bytecode \"4,48 0 0 9,21 0 1 17,6 0 0 65535,6 0 0 0\" -j ACCEPT");
}

static void bpf_packets(struct out *o)
{
	static const uint8_t opts4[4] = {1, 1, 1, 0}; /* NOP NOP NOP EOL */
	static const uint8_t opts8[8] = {1, 1, 1, 1, 1, 1, 1, 0};
	static const uint8_t tos[] = {0, 1, 4, 7, 100, 200};
	struct pk p;
	char d[64];

	u32_packets(o);
	for (size_t i = 0; i < ARRAY_SIZE(tos); i++) {
		snprintf(d, sizeof(d), "bpf-tos-%u", tos[i]);
		pk_init(&p, o, i % 2 ? IPPROTO_UDP : IPPROTO_TCP, d);
		p.tos = tos[i];
		p.ttl = (uint8_t)(2 + 50 * i);
		if (i % 2)
			l4_udp(&p, 1000, 80, "x", 1);
		else
			l4_tcp(&p, 1023, 80, 0x02, NULL, 0, 0, NULL, 0);
		emit(o, &p);
	}
	for (int k = 0; k < 4; k++) {
		snprintf(d, sizeof(d), "bpf-ipopts-%d", k);
		pk_init(&p, o, k % 2 ? IPPROTO_UDP : IPPROTO_TCP, d);
		p.opts = k < 2 ? opts4 : opts8;
		p.optlen = k < 2 ? sizeof(opts4) : sizeof(opts8);
		if (k % 2)
			l4_udp(&p, 2000, 80, "abcd", 4);
		else
			l4_tcp(&p, 80, 80, 0x10, NULL, 0, 0, "payload", 7);
		emit(o, &p);
	}
	/* Datagrams of 20..44 bytes: loads at and past the end. */
	for (size_t len = 0; len <= 24; len += 3) {
		uint8_t b[24];

		memset(b, 0xa5, sizeof(b));
		snprintf(d, sizeof(d), "bpf-raw-%zu", len);
		pk_init(&p, o, 253, d);
		l4_raw(&p, b, len);
		emit(o, &p);
		/* Ethernet padding after the datagram: not part of skb->len. */
		snprintf(d, sizeof(d), "bpf-raw-%zu-padded", len);
		pk_init(&p, o, 253, d);
		l4_raw(&p, b, len);
		p.pad = 16;
		emit(o, &p);
	}
	pk_init(&p, o, IPPROTO_UDP, "bpf-udp-from-53");
	l4_udp(&p, 53, 33000, "answer", 6);
	emit(o, &p);
	if (o->chain == CH_FORWARD) { /* INPUT sees reassembled datagrams only */
		pk_init(&p, o, IPPROTO_UDP, "bpf-udp-first-fragment");
		p.frag = 0x2000; /* MF */
		l4_udp(&p, 1500, 80, "0123456789abcdef", 16);
		emit(o, &p);
	}
	plain(o, "bpf");
}

static void bpfskb_rules(struct rules *r)
{
	BPROG(M_ALL, LDW(ANC(SKF_AD_MARK)), JEQ(7, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, LDB(ANC(SKF_AD_MARK)), ALU(BPF_AND, 0x80000001), B_RETA);
	BPROG(M_ALL, LDW(ANC(SKF_AD_MARK)), ALU(BPF_RSH, 28), B_RETA);
	BPROG(M_ALL, LDW(ANC(SKF_AD_PKTTYPE)), B_RETA);
	for (uint32_t t = 0; t <= 5; t++) {
		const struct sock_filter p[] = {LDH(ANC(SKF_AD_PKTTYPE)), JEQ(t, 0, 1), B_RET1,
						B_RET0};

		bpf_rule(r, M_ALL, p, ARRAY_SIZE(p));
	}
	BPROG(M_ALL, LDW(ANC(SKF_AD_PKTTYPE)), JEQ(1, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, LDW(ANC(SKF_AD_PKTTYPE)), JEQ(2, 0, 1), B_RET1, B_RET0);
	BPROG(M_ALL, LDW(ANC(SKF_AD_MARK)), BS(BPF_MISC | BPF_TAX, 0), LDW(ANC(SKF_AD_PKTTYPE)),
	      ALUX(BPF_ADD), JEQ(8, 0, 1), B_RET1, B_RET0);
}

static void bpfskb_packets(struct out *o)
{
	mark_packets(o);
	pkttype_packets(o);
}

static const struct family families[] = {
	{"ttl", M_ALL, ttl_rules, ttl_packets, NULL},
	{"tos", M_ALL, tos_rules, tos_packets, NULL},
	{"ecn", M_ALL, ecn_rules, ecn_packets, NULL},
	{"mark", M_ALL, mark_rules, mark_packets,
	 ":markchk - [0:0]\n-A markchk -m mark --mark 0x7 -j MARK --set-mark 0x9\n"
	 "-A markchk -m mark --mark 0x9 -j RETURN\n"},
	{"esp", M_ALL, esp_rules, esp_packets, NULL},
	{"pkttype", M_ALL, pkttype_rules, pkttype_packets, NULL},
	{"mac", M_IN | M_FWD, mac_rules, mac_packets, NULL},
	{"u32", M_ALL, u32_rules, u32_packets, NULL},
	{"bpf", M_ALL, bpf_rules, bpf_packets, NULL},
	{"bpf-skb", M_ALL, bpfskb_rules, bpfskb_packets, NULL},
	{"string", M_ALL, string_rules, string_packets, NULL},
	{"sctp", M_ALL, sctp_rules, sctp_packets, NULL},
	{"tcpmss", M_ALL, tcpmss_rules, tcpmss_packets, NULL},
	{"addrtype", M_ALL, addrtype_rules, addrtype_packets, NULL},
	{"tcpmss-tg", M_ALL, tcpmsstg_rules, tcpmsstg_packets, NULL},
	{"dccp", M_ALL, dccp_rules, dccp_packets, NULL},
	{"cpu0", M_ALL, cpu_rules, cpu_packets, NULL},
	{"cpu1", M_ALL, cpu_rules, cpu_packets, NULL},
	{"nflog", M_ALL, nflog_rules, nflog_packets, NULL},
	{"hmark", M_ALL, hmark_rules, hmark_packets, NULL},
	{"hmark-ct", M_ALL, hmarkct_rules, hmarkct_packets, NULL},
	{"classify", M_OUT, classify_rules, classify_packets,
	 ":classify_chain - [0:0]\n-A classify_chain -j CLASSIFY --set-class 0abc:0def\n"},
};

/* ------------------------------------------------------------------ --compare-out */

/*
 * The packets as the kernel's targets left them (kdiff --capture-pcap: what
 * arrived behind the firewall) against `ipt2bpf trace --out-pcap` (the
 * accepted packets as the program left them), matched by their number (the
 * record's time): the IP total length and the transport bytes must be equal.
 * The IP header is not compared: at FORWARD the kernel decrements the TTL
 * after TC ingress.
 */
struct rec {
	uint32_t n;
	uint8_t *data;
	uint32_t len;
};

static int read_recs(const char *path, struct rec **out, size_t *n)
{
	FILE *f = fopen(path, "r");
	uint32_t h[6], r[4];
	struct rec *v = NULL;

	*out = NULL;
	*n = 0;
	if (!f)
		return -errno;
	if (fread(h, sizeof(h), 1, f) != 1 || h[0] != IPT2BPF_PCAP_MAGIC) {
		fclose(f);
		return -EBADMSG;
	}
	while (fread(r, sizeof(r), 1, f) == 1) {
		struct rec *nv = realloc(v, sizeof(*v) * (*n + 1));

		if (!nv || r[2] > IPT2BPF_PCAP_SNAPLEN)
			break;
		v = nv;
		v[*n].n = r[0];
		v[*n].len = r[2];
		v[*n].data = malloc(r[2] ? r[2] : 1);
		if (!v[*n].data || (r[2] && fread(v[*n].data, r[2], 1, f) != 1))
			break;
		(*n)++;
	}
	fclose(f);
	*out = v;
	return 0;
}

/* tot_len and the transport bytes of an Ethernet + IPv4 frame, or -1. */
static int frame_l4(const struct rec *r, uint16_t *tot, const uint8_t **l4, size_t *l4len)
{
	const uint8_t *ip = r->data + IPT2BPF_ETH_HLEN;
	size_t hl;

	if (r->len < IPT2BPF_ETH_HLEN + IPT2BPF_IP_HLEN)
		return -1;
	hl = (size_t)(ip[0] & 0xf) * 4;
	*tot = ipt2bpf_get16(ip + 2);
	if (*tot < hl || IPT2BPF_ETH_HLEN + (size_t)*tot > r->len)
		return -1;
	*l4 = ip + hl;
	*l4len = *tot - hl;
	return 0;
}

static const struct rec *find_rec(const struct rec *v, size_t n, uint32_t k)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].n == k)
			return &v[i];
	return NULL;
}

static int compare_out(const char *kpath, const char *bpath)
{
	struct rec *kv, *bv;
	size_t kn, bn, compared = 0, bad = 0;
	uint32_t maxn = 0;
	int err = read_recs(kpath, &kv, &kn);

	if (!err)
		err = read_recs(bpath, &bv, &bn);
	if (err) {
		fprintf(stderr, "extgen: --compare-out: %s\n", strerror(-err));
		return 2;
	}
	for (size_t i = 0; i < kn; i++)
		maxn = kv[i].n > maxn ? kv[i].n : maxn;
	for (size_t i = 0; i < bn; i++)
		maxn = bv[i].n > maxn ? bv[i].n : maxn;
	for (uint32_t k = 1; k <= maxn; k++) {
		const struct rec *a = find_rec(kv, kn, k), *b = find_rec(bv, bn, k);
		const uint8_t *la, *lb;
		size_t na, nb;
		uint16_t ta, tb;

		if (!a && !b)
			continue;
		compared++;
		if (!a || !b || frame_l4(a, &ta, &la, &na) || frame_l4(b, &tb, &lb, &nb) ||
		    ta != tb || na != nb || memcmp(la, lb, na)) {
			bad++;
			printf("out-mismatch: packet %u: kernel %s, ipt2bpf %s\n", k,
			       a ? "sent it" : "sent nothing", b ? "accepted it" : "did not");
			if (a && b && !frame_l4(a, &ta, &la, &na) && !frame_l4(b, &tb, &lb, &nb)) {
				printf("  kernel:  tot_len %u:", ta);
				for (size_t j = 0; j < na && j < 64; j++)
					printf(" %02x", la[j]);
				printf("\n  ipt2bpf: tot_len %u:", tb);
				for (size_t j = 0; j < nb && j < 64; j++)
					printf(" %02x", lb[j]);
				printf("\n");
			}
		}
	}
	printf("out %zu compared, %zu differ\n", compared, bad);
	return bad ? 1 : 0;
}

/* ------------------------------------------------------------------ main */

static int write_chain(const struct family *fam, int chain, const char *path)
{
	struct out o = {.chain = chain};
	char *meta = NULL, *marks = NULL;
	int err;

	if (asprintf(&meta, "%s.meta", path) < 0 || asprintf(&marks, "%s.marks", path) < 0) {
		free(meta);
		return -ENOMEM;
	}
	err = ipt2bpf_pcap_create(&o.pcap, path);
	if (!err) {
		o.meta = fopen(meta, "w");
		o.marks = fopen(marks, "w");
		if (!o.meta || !o.marks)
			err = -errno;
	}
	if (!err && (fam->chains & (1U << chain)))
		fam->packets(&o);
	if (!err)
		err = o.err;
	if (o.meta && fclose(o.meta) && !err)
		err = -EIO;
	if (o.marks && fclose(o.marks) && !err)
		err = -EIO;
	if (ipt2bpf_pcap_close(&o.pcap) && !err)
		err = -EIO;
	free(meta);
	free(marks);
	return err;
}

static void usage(FILE *f)
{
	fputs("usage: extgen --family NAME --rules OUT.v4 [--pcap-input P1] [--pcap-forward P2]\n"
	      "              [--pcap-output P3]\n"
	      "       extgen --list\n"
	      "       extgen --compare-out KERNEL.pcap IPT2BPF.pcap\n"
	      "Writes a filter rule set exercising one extension family and, per chain, packets\n"
	      "aimed at its edges (P.meta: what each packet is; P.marks: its skb mark).\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"family", required_argument, NULL, 'f'},
		{"rules", required_argument, NULL, 'r'},
		{"pcap-input", required_argument, NULL, 'I'},
		{"pcap-forward", required_argument, NULL, 'F'},
		{"pcap-output", required_argument, NULL, 'O'},
		{"list", no_argument, NULL, 'l'},
		{"compare-out", no_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *name = NULL, *rules_path = NULL, *pcap[NCHAIN] = {0};
	const struct family *fam = NULL;
	struct rules r = {0};
	int opt, err;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			name = optarg;
			break;
		case 'r':
			rules_path = optarg;
			break;
		case 'I':
			pcap[CH_INPUT] = optarg;
			break;
		case 'F':
			pcap[CH_FORWARD] = optarg;
			break;
		case 'O':
			pcap[CH_OUTPUT] = optarg;
			break;
		case 'l':
			for (size_t i = 0; i < ARRAY_SIZE(families); i++)
				printf("%s\n", families[i].name);
			return 0;
		case 'C':
			if (optind + 2 != argc) {
				usage(stderr);
				return 2;
			}
			return compare_out(argv[optind], argv[optind + 1]);
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	for (size_t i = 0; name && i < ARRAY_SIZE(families); i++)
		if (!strcmp(families[i].name, name))
			fam = &families[i];
	if (optind != argc || !fam || !rules_path) {
		usage(stderr);
		return 2;
	}
	r.chains = fam->chains;
	fam->rules(&r);
	err = rules_write(&r, rules_path, fam->extra);
	for (int c = 0; !err && c < NCHAIN; c++)
		if (pcap[c])
			err = write_chain(fam, c, pcap[c]);
	if (err) {
		fprintf(stderr, "extgen: %s: %s\n", name, strerror(-err));
		return 1;
	}
	return 0;
}
