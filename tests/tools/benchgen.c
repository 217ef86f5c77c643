// SPDX-License-Identifier: GPL-2.0
/*
 * benchgen: rule sets of a given size for `make bench` (scripts/bench.sh),
 * and three packets for each: one that the first rule matches, one that only
 * the last rule matches, and one that no rule matches.
 *
 *   benchgen --set acl|exact|block --n N [--seed S] --rules OUT.v4 --packets OUT.txt
 *            [--pcap OUT.pcap]
 *
 *   acl    ClassBench-style 5-tuple ACL: source and destination prefixes drawn
 *          from a pool of networks (so that they nest and overlap as in real
 *          ACLs), tcp/udp with exact ports, ranges and wildcards, some icmp and
 *          any-protocol rules; ACCEPT and DROP mixed.
 *   exact  exact-match UDP 5-tuple rules (-s/32 -d/32 --sport --dport), DROP.
 *   block  a /24 source blocklist, DROP.
 *
 * All rules go to INPUT (policy DROP).  Packets are written one a line as
 * "NAME PROTO SADDR DADDR SPORT DPORT" (benchrun --pkts and benchsend read
 * them); NAME is first, last or none.  The last-rule packet is checked
 * against every earlier rule and the no-match packet against all rules, with
 * the same semantics iptables applies to these shapes.  --pcap writes the
 * three as Ethernet frames too (for `ipt2bpf trace`).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tools/pcap.h"

struct brule {
	uint32_t src, smask, dst, dmask; /* host order */
	int proto;			 /* 0: any */
	uint16_t sp_lo, sp_hi, dp_lo, dp_hi;
	bool accept;
};

struct bpkt {
	int proto;
	uint32_t src, dst;
	uint16_t sport, dport;
};

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return n ? (uint32_t)(z % n) : (uint32_t)z;
}

static uint32_t mask_of(int len)
{
	return len <= 0 ? 0 : len >= 32 ? 0xffffffffu : ~0u << (32 - len);
}

static bool rule_match(const struct brule *r, const struct bpkt *p)
{
	if ((p->src & r->smask) != r->src || (p->dst & r->dmask) != r->dst)
		return false;
	if (r->proto && r->proto != p->proto)
		return false;
	if (r->proto == 6 || r->proto == 17)
		return p->sport >= r->sp_lo && p->sport <= r->sp_hi && p->dport >= r->dp_lo &&
		       p->dport <= r->dp_hi;
	return true;
}

/* A packet inside rule r (addresses in the prefixes, ports in the ranges). */
static void pkt_in(const struct brule *r, struct bpkt *p)
{
	static const int protos[] = {6, 17, 1, 47};

	p->proto = r->proto ? r->proto : protos[rnd(4)];
	p->src = r->src | (rnd(0) & ~r->smask);
	p->dst = r->dst | (rnd(0) & ~r->dmask);
	p->sport = p->dport = 0;
	if (p->proto == 6 || p->proto == 17) {
		bool ports = r->proto == 6 || r->proto == 17;

		p->sport = ports ? (uint16_t)(r->sp_lo + rnd(r->sp_hi - r->sp_lo + 1u))
				 : (uint16_t)(1024 + rnd(60000));
		p->dport = ports ? (uint16_t)(r->dp_lo + rnd(r->dp_hi - r->dp_lo + 1u))
				 : (uint16_t)(1 + rnd(65535));
	}
}

static const uint16_t services[] = {21,	  22,	23,   25,   53,	  80,	 110,	123,
				    143,  161,	389,  443,  445,  465,	 587,	636,
				    993,  995,	1433, 1521, 3306, 3389,	 5432,	5900,
				    6379, 8080, 8443, 9090, 9200, 11211, 27017, 50000};

/* ClassBench ACL seeds: specific destinations, mostly open sources and source ports. */
static void gen_acl(struct brule *r, const uint32_t *nets, unsigned int n_nets)
{
	unsigned int k;
	int len;

	memset(r, 0, sizeof(*r));
	k = rnd(100);
	len = k < 35 ? 0 : k < 50 ? 8 + (int)rnd(9) : k < 75 ? 24 : k < 85 ? 28 : 32;
	r->smask = mask_of(len);
	r->src = (nets[rnd(n_nets)] | rnd(0) >> 8) & r->smask;
	k = rnd(100);
	len = k < 5 ? 0 : k < 15 ? 16 + (int)rnd(7) : k < 45 ? 24 + (int)rnd(5) : 32;
	if (!len && !r->smask)
		len = 16; /* no rule matches every address pair */
	r->dmask = mask_of(len);
	r->dst = (nets[rnd(n_nets)] | rnd(0) >> 8) & r->dmask;
	k = rnd(100);
	r->proto = k < 65 ? 6 : k < 88 ? 17 : k < 95 ? 1 : 0;
	r->sp_hi = r->dp_hi = 65535;
	if (r->proto == 6 || r->proto == 17) {
		k = rnd(100);
		if (k < 8) {
			r->sp_lo = 1024;
		} else if (k < 12) {
			r->sp_lo = r->sp_hi = services[rnd(sizeof(services) / 2)];
		}
		k = rnd(100);
		if (k < 60) {
			r->dp_lo = r->dp_hi = services[rnd(sizeof(services) / 2)];
		} else if (k < 70) {
			r->dp_lo = (uint16_t)(1 + rnd(65000));
			r->dp_hi = r->dp_lo;
		} else if (k < 82) {
			r->dp_lo = (uint16_t)(1024 + rnd(40000));
			r->dp_hi = (uint16_t)(r->dp_lo + rnd(2000));
		} else if (k < 88) {
			r->dp_lo = 1024;
		}
	}
	r->accept = rnd(100) < 55;
}

static void put_addr(FILE *f, const char *opt, uint32_t a, uint32_t m)
{
	int len = __builtin_popcount(m);

	if (!m)
		return;
	fprintf(f, " %s %u.%u.%u.%u/%d", opt, a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
		len);
}

static void put_ports(FILE *f, const char *opt, uint16_t lo, uint16_t hi)
{
	if (lo == 0 && hi == 65535)
		return;
	if (lo == hi)
		fprintf(f, " %s %u", opt, lo);
	else
		fprintf(f, " %s %u:%u", opt, lo, hi);
}

static void put_rule(FILE *f, const struct brule *r)
{
	static const char *const pn[] = {[1] = "icmp", [6] = "tcp", [17] = "udp"};

	fputs("-A INPUT", f);
	put_addr(f, "-s", r->src, r->smask);
	put_addr(f, "-d", r->dst, r->dmask);
	if (r->proto)
		fprintf(f, " -p %s", pn[r->proto]);
	if (r->proto == 6 || r->proto == 17) {
		put_ports(f, "--sport", r->sp_lo, r->sp_hi);
		put_ports(f, "--dport", r->dp_lo, r->dp_hi);
	}
	fprintf(f, " -j %s\n", r->accept ? "ACCEPT" : "DROP");
}

/* The packet as an Ethernet frame in the pcap (TCP SYN, UDP or ICMP echo with a payload). */
static void pcap_pkt(struct ipt2bpf_pcap *pc, const struct bpkt *p)
{
	static const uint8_t mac_d[6] = {2, 0, 0, 0, 1, 1}, mac_s[6] = {2, 0, 0, 0, 1, 2};
	struct ipt2bpf_ip4 ip = {
		.saddr = p->src, .daddr = p->dst, .proto = (uint8_t)p->proto, .ttl = 64, .id = 1};
	uint8_t l4[64], pay[18] = {0}, frame[128];
	int n;

	if (p->proto == 6) {
		struct ipt2bpf_tcp t = {
			.sport = p->sport, .dport = p->dport, .flags = 0x02, .window = 512};

		n = ipt2bpf_pkt_tcp(l4, sizeof(l4), p->src, p->dst, &t, pay, sizeof(pay));
	} else if (p->proto == 17) {
		n = ipt2bpf_pkt_udp(l4, sizeof(l4), p->src, p->dst, p->sport, p->dport, pay,
				    sizeof(pay));
	} else if (p->proto == 1) {
		n = ipt2bpf_pkt_icmp(l4, sizeof(l4), 8, 0, 1, pay, sizeof(pay));
	} else {
		memcpy(l4, pay, sizeof(pay));
		n = sizeof(pay);
	}
	n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_d, mac_s, &ip, l4, (size_t)n);
	if (n > 0)
		ipt2bpf_pcap_write(pc, frame, (size_t)n);
}

static void put_pkt(FILE *f, const char *name, const struct bpkt *p)
{
	fprintf(f, "%s %d %u.%u.%u.%u %u.%u.%u.%u %u %u\n", name, p->proto, p->src >> 24,
		(p->src >> 16) & 255, (p->src >> 8) & 255, p->src & 255, p->dst >> 24,
		(p->dst >> 16) & 255, (p->dst >> 8) & 255, p->dst & 255, p->sport, p->dport);
}

static int first_match(const struct brule *rs, unsigned int n, const struct bpkt *p)
{
	for (unsigned int i = 0; i < n; i++)
		if (rule_match(&rs[i], p))
			return (int)i;
	return -1;
}

static void usage(FILE *f)
{
	fputs("usage: benchgen --set acl|exact|block --n N [--seed S] --rules OUT.v4 "
	      "--packets OUT.txt [--pcap OUT.pcap]\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"set", required_argument, NULL, 's'},	   {"n", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 'S'},	   {"rules", required_argument, NULL, 'r'},
		{"packets", required_argument, NULL, 'p'}, {"pcap", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},	   {0},
	};
	const char *set = NULL, *rules = NULL, *packets = NULL, *pcap = NULL;
	struct ipt2bpf_pcap pc;
	struct bpkt pk[3];
	unsigned long n = 0, seed = 1;
	struct brule *rs;
	uint32_t *nets;
	unsigned int n_nets;
	struct bpkt p;
	FILE *f;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			set = optarg;
			break;
		case 'n':
			n = strtoul(optarg, NULL, 0);
			break;
		case 'S':
			seed = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			rules = optarg;
			break;
		case 'p':
			packets = optarg;
			break;
		case 'P':
			pcap = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!set || !rules || !packets || !n || n > 10000000 ||
	    (strcmp(set, "acl") && strcmp(set, "exact") && strcmp(set, "block"))) {
		usage(stderr);
		return 2;
	}
	rng = seed * 0x2545f4914f6cdd1dull + 7;
	rs = calloc(n, sizeof(*rs));
	n_nets = 16 + (unsigned int)(n / 8);
	nets = calloc(n_nets, sizeof(*nets));
	if (!rs || !nets)
		return 1;
	/* Networks outside 0/8, 127/8, 198/8 (the no-match packet's) and multicast. */
	for (unsigned int i = 0; i < n_nets; i++) {
		uint32_t a = 1 + rnd(222);

		if (a == 127 || a == 198)
			a = 100;
		nets[i] = a << 24 | rnd(1u << 16) << 8;
	}

	for (unsigned long i = 0; i < n; i++) {
		struct brule *r = &rs[i];

		if (!strcmp(set, "acl")) {
			gen_acl(r, nets, n_nets);
		} else if (!strcmp(set, "exact")) {
			/* Distinct by construction: the index is spread over the fields. */
			memset(r, 0, sizeof(*r));
			r->smask = r->dmask = 0xffffffffu;
			r->src = 0x0a000000u | (uint32_t)(i >> 8) << 8 | rnd(256);
			r->dst = 0xc0a80000u | rnd(65536);
			r->proto = 17;
			r->sp_lo = r->sp_hi = (uint16_t)(1024 + rnd(60000));
			r->dp_lo = r->dp_hi = (uint16_t)(1 + (i & 0xff) * 100 + rnd(100));
		} else {
			memset(r, 0, sizeof(*r));
			r->smask = 0xffffff00u;
			/* i-th /24 of a scattered but collision-free sequence */
			r->src = ((uint32_t)(i * 2654435761u) & 0x00ffffffu) << 8;
			r->src =
				(r->src & 0x3fffffffu) | 0x40000000u; /* 64.0.0.0 - 127.255.255.0 */
			if ((r->src >> 24) == 127)
				r->src ^= 0x01000000u;
			r->proto = 0;
			r->sp_hi = r->dp_hi = 65535;
		}
	}
	/* The last rule must be reachable: its packet may match no earlier rule. */
	for (int tries = 0;; tries++) {
		int m;

		pkt_in(&rs[n - 1], &p);
		m = first_match(rs, (unsigned int)n, &p);
		if (m == (int)n - 1)
			break;
		if (tries > 200) {
			/* Shadowed: make it a host rule nothing else covers. */
			rs[n - 1] = (struct brule){.src = 0xc6336401u,
						   .smask = 0xffffffffu,
						   .dst = 0xcb00710au,
						   .dmask = 0xffffffffu,
						   .proto = 17,
						   .sp_lo = 7,
						   .sp_hi = 7,
						   .dp_lo = 9,
						   .dp_hi = 9};
			tries = 0;
		}
	}

	f = fopen(rules, "w");
	if (!f) {
		perror(rules);
		return 1;
	}
	fputs("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n", f);
	for (unsigned long i = 0; i < n; i++)
		put_rule(f, &rs[i]);
	fputs("COMMIT\n", f);
	if (fclose(f)) {
		perror(rules);
		return 1;
	}

	f = fopen(packets, "w");
	if (!f) {
		perror(packets);
		return 1;
	}
	do
		pkt_in(&rs[0], &p);
	while (first_match(rs, 1, &p) != 0);
	put_pkt(f, "first", &p);
	pk[0] = p;
	for (;;) {
		pkt_in(&rs[n - 1], &p);
		if (first_match(rs, (unsigned int)n, &p) == (int)n - 1)
			break;
	}
	put_pkt(f, "last", &p);
	pk[1] = p;
	for (;;) {
		/* TCP to a port no service uses, from and to addresses few rules cover. */
		p = (struct bpkt){.proto = 6,
				  .src = 0xc6120000u | rnd(65536),
				  .dst = 0xc6130000u | rnd(65536),
				  .sport = (uint16_t)(1024 + rnd(60000)),
				  .dport = (uint16_t)(60001 + rnd(5000))};
		if (first_match(rs, (unsigned int)n, &p) < 0)
			break;
	}
	put_pkt(f, "none", &p);
	pk[2] = p;
	if (fclose(f)) {
		perror(packets);
		return 1;
	}
	if (pcap) {
		if (ipt2bpf_pcap_create(&pc, pcap)) {
			perror(pcap);
			return 1;
		}
		for (int i = 0; i < 3; i++)
			pcap_pkt(&pc, &pk[i]);
		if (ipt2bpf_pcap_close(&pc)) {
			perror(pcap);
			return 1;
		}
	}
	free(rs);
	free(nets);
	return 0;
}
