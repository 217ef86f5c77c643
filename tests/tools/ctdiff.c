// SPDX-License-Identifier: GPL-2.0
/*
 * ctdiff: the kernel's connection tracker as the oracle for ipt2bpf's.
 *
 *   ctdiff gen --out PREFIX [--client A] [--fw A] [--quick]
 *       writes PREFIX.pcap (scripted flows, timestamps = when each packet
 *       is sent) and PREFIX.chains (INPUT or OUTPUT per packet: the two
 *       directions of every flow, seen from the firewall)
 *
 *   ctdiff flush
 *       empties the current namespace's conntrack table (tests/corpus/run.sh
 *       runs it before each rule: every kdiff run starts without connections)
 *
 *   ctdiff kernel --pcap P --chains C --inject-ns NS --inject-dev DEV
 *                 [--in-dev vin] [--rules R.v4]
 *       runs as root inside the firewall's namespace (tests/ct/run.sh):
 *       loads R.v4 with iptables-legacy-restore, then replays P in real time
 *       (packet i at start + its timestamp): INPUT packets leave an AF_PACKET
 *       socket in the client namespace NS on DEV, OUTPUT packets a raw
 *       IP_HDRINCL socket here; both go through the kernel's conntrack.
 *       Prints per packet what `ipt2bpf trace --json` prints:
 *         {"n":1,"verdict":"ACCEPT","counted":["INPUT#1","INPUT#4"],"policy":false}
 *       from the per-rule counter deltas (IPT_SO_GET_ENTRIES).  INPUT rule 1
 *       must count every packet (it is how ctdiff knows the packet arrived).
 *       The verdict is the one of the terminal rule (or policy) that counted.
 *
 * What the namespace's own stack would send (RSTs for ports nobody listens
 * on, ICMP errors, echo replies) must not reach conntrack: run.sh drops
 * packets without a user socket in raw OUTPUT, before conntrack sees them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#include "tests/tools/pcap.h"

/* ------------------------------------------------------------------ gen */

struct pkt {
	uint64_t t_us; /* when it is sent, from the start */
	bool output;   /* OUTPUT (fw -> client), else INPUT (client -> fw) */
	uint8_t frame[256];
	size_t len;
};

static struct pkt *pkts;
static size_t n_pkts, cap_pkts;
static uint64_t now_us;
static uint32_t cli_addr, fw_addr; /* host order */
static const uint8_t mac_a[6] = {2, 0, 0, 0, 0, 1}, mac_b[6] = {2, 0, 0, 0, 0, 2};
static uint16_t ip_id = 1;
static unsigned int n_flows;

static struct pkt *pkt_new(bool output)
{
	if (n_pkts == cap_pkts) {
		cap_pkts = cap_pkts ? 2 * cap_pkts : 256;
		pkts = realloc(pkts, cap_pkts * sizeof(*pkts));
		if (!pkts) {
			perror("ctdiff");
			exit(1);
		}
	}
	memset(&pkts[n_pkts], 0, sizeof(pkts[0]));
	pkts[n_pkts].t_us = now_us;
	pkts[n_pkts].output = output;
	return &pkts[n_pkts++];
}

/* Packets of one flow go 40 ms apart (see tests/ct/run.sh: timeouts and --ctexpire). */
static void gap(void)
{
	now_us += 40000;
}

/* Next flow: at the next whole second + 100 ms (elapsed times stay off integers). */
static void next_flow(void)
{
	n_flows++;
	now_us = (now_us / 1000000 + 1) * 1000000 + 100000;
}

static void sleep_s(double s)
{
	now_us += (uint64_t)(s * 1e6);
}

static void ip_frame(struct pkt *p, uint8_t proto, const uint8_t *l4, size_t l4len)
{
	struct ipt2bpf_ip4 ip = {
		.saddr = p->output ? fw_addr : cli_addr,
		.daddr = p->output ? cli_addr : fw_addr,
		.proto = proto,
		.ttl = 64,
		.id = ip_id++,
	};
	int n = ipt2bpf_pkt_ipv4(p->frame, sizeof(p->frame), p->output ? mac_a : mac_b,
				 p->output ? mac_b : mac_a, &ip, l4, l4len);

	if (n < 0) {
		fprintf(stderr, "ctdiff: frame too long\n");
		exit(1);
	}
	p->len = (size_t)n;
}

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20

/* out: from the firewall (OUTPUT); cp/fp: client and firewall ports. */
static void tcp_opts(bool out, uint16_t cp, uint16_t fp, uint32_t seq, uint32_t ack, uint8_t flags,
		     uint16_t win, const uint8_t *opts, size_t optlen, size_t payload)
{
	struct pkt *p = pkt_new(out);
	uint8_t l4[200], data[100];
	struct ipt2bpf_tcp t = {
		.sport = out ? fp : cp,
		.dport = out ? cp : fp,
		.seq = seq,
		.ack = ack,
		.flags = flags,
		.window = win,
		.opts = opts,
		.optlen = optlen,
	};
	int n;

	memset(data, 'x', sizeof(data));
	n = ipt2bpf_pkt_tcp(l4, sizeof(l4), out ? fw_addr : cli_addr, out ? cli_addr : fw_addr, &t,
			    data, payload);
	if (n < 0)
		exit(1);
	ip_frame(p, 6, l4, (size_t)n);
	gap();
}

static void tcp(bool out, uint16_t cp, uint16_t fp, uint32_t seq, uint32_t ack, uint8_t flags,
		size_t payload)
{
	tcp_opts(out, cp, fp, seq, ack, flags, 8192, NULL, 0, payload);
}

static void udp(bool out, uint16_t cp, uint16_t fp, size_t payload)
{
	struct pkt *p = pkt_new(out);
	uint8_t l4[200], data[100];
	int n;

	memset(data, 'u', sizeof(data));
	n = ipt2bpf_pkt_udp(l4, sizeof(l4), out ? fw_addr : cli_addr, out ? cli_addr : fw_addr,
			    out ? fp : cp, out ? cp : fp, data, payload);
	ip_frame(p, 17, l4, (size_t)n);
	gap();
}

static void icmp(bool out, uint8_t type, uint8_t code, uint32_t rest)
{
	struct pkt *p = pkt_new(out);
	uint8_t l4[64], data[16];
	int n;

	memset(data, 'i', sizeof(data));
	n = ipt2bpf_pkt_icmp(l4, sizeof(l4), type, code, rest, data, sizeof(data));
	ip_frame(p, 1, l4, (size_t)n);
	gap();
}

/*
 * An ICMP error sent in direction out, quoting (IP header + 8 bytes) the
 * packet with index quoted; dst_override != 0 changes the outer destination.
 */
static void icmp_error(bool out, uint8_t type, uint8_t code, size_t quoted, uint32_t dst_override)
{
	struct pkt *p = pkt_new(out);
	const uint8_t *q = pkts[quoted].frame + IPT2BPF_ETH_HLEN;
	size_t qlen = (size_t)(q[0] & 15) * 4 + 8;
	uint8_t l4[128];
	int n;

	n = ipt2bpf_pkt_icmp(l4, sizeof(l4), type, code, 0, q, qlen);
	ip_frame(p, 1, l4, (size_t)n);
	if (dst_override) {
		ipt2bpf_put32(p->frame + IPT2BPF_ETH_HLEN + 16, dst_override);
		ipt2bpf_ip_fix_csum(p->frame + IPT2BPF_ETH_HLEN);
	}
	gap();
}

static void raw_ip(bool out, uint8_t proto)
{
	struct pkt *p = pkt_new(out);
	uint8_t l4[16];

	memset(l4, 'g', sizeof(l4));
	ip_frame(p, proto, l4, sizeof(l4));
	gap();
}

#define IN  false
#define OUT true

/*
 * The scripted flows.  Client-side ports name the flow; the firewall side
 * listens on 80 (TCP), 53 (UDP).  Sequence numbers: client c*, firewall f*.
 */
static void script(bool quick)
{
	static const uint8_t syn_opts[] = {
		2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
		0, 1, 0,    0,	  0, 0, 1, 3,  3, 7}; /* MSS, SACK-perm, TS, WS 7 */
	static const uint8_t ts_opts[] = {1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1};
	size_t first;
	uint32_t c = 1000, f = 5000;

	/* 1. TCP: handshake, data both ways, retransmission, FIN close from the client. */
	next_flow();
	first = n_pkts;
	tcp(IN, 40001, 80, c, 0, F_SYN, 0);
	tcp(IN, 40001, 80, c, 0, F_SYN, 0); /* SYN retransmitted */
	tcp(OUT, 40001, 80, f, c + 1, F_SYN | F_ACK, 0);
	tcp(IN, 40001, 80, c + 1, f + 1, F_ACK, 0);
	tcp(IN, 40001, 80, c + 1, f + 1, F_ACK | F_PSH, 50);
	tcp(OUT, 40001, 80, f + 1, c + 51, F_ACK | F_PSH, 80);
	tcp(OUT, 40001, 80, f + 1, c + 51, F_ACK | F_PSH, 80); /* retransmitted */
	tcp(IN, 40001, 80, c + 51, f + 81, F_ACK, 0);
	/* ICMP errors quoting this flow: from the client about our segment (RELATED) */
	icmp_error(IN, 3, 3, first + 5, 0);
	/* quoting our own direction: the flow's tuple there goes to the client, not here */
	icmp_error(IN, 3, 3, first + 4, 0);
	/* out-of-window: far beyond what the receiver allowed (INVALID), ACK of unsent data */
	tcp(IN, 40001, 80, c + 51 + 200000, f + 81, F_ACK | F_PSH, 10);
	tcp(IN, 40001, 80, c + 51, f + 81 + 100000, F_ACK, 0);
	tcp(IN, 40001, 80, c + 51, f + 81, F_FIN | F_ACK, 0);
	tcp(OUT, 40001, 80, f + 81, c + 52, F_ACK, 0);
	tcp(OUT, 40001, 80, f + 81, c + 52, F_FIN | F_ACK, 0);
	tcp(IN, 40001, 80, c + 52, f + 82, F_ACK, 0);
	/* TIME_WAIT; a new SYN on the same ports reopens it */
	tcp(IN, 40001, 80, c + 90000, 0, F_SYN, 0);
	tcp(OUT, 40001, 80, f + 70000, c + 90001, F_SYN | F_ACK, 0);
	tcp(IN, 40001, 80, c + 90001, f + 70001, F_ACK, 0);
	tcp(IN, 40001, 80, c + 90001, f + 70001, F_RST | F_ACK, 0); /* abort: CLOSE */
	tcp(OUT, 40001, 80, f + 70001, c + 90001, F_ACK, 0);

	/* 2. TCP from the firewall, the client answers RST: the connection goes. */
	next_flow();
	tcp(OUT, 40002, 80, f, 0, F_SYN, 0);
	tcp(IN, 40002, 80, 0, f + 1, F_RST | F_ACK, 0);
	tcp(OUT, 40002, 80, f, 0, F_SYN, 0); /* NEW again */

	/* 3. Mid-stream pickup (nf_conntrack_tcp_loose), then both ways. */
	next_flow();
	tcp(IN, 40003, 80, c, f, F_ACK | F_PSH, 20);
	tcp(OUT, 40003, 80, f, c + 20, F_ACK, 0);
	tcp(IN, 40003, 80, c + 20, f, F_ACK | F_PSH, 20);

	/* 4. Invalid first packets: bad flags, SYN/ACK without SYN, FIN alone, no flags. */
	next_flow();
	tcp(IN, 40004, 80, c, 0, F_SYN | F_FIN, 0);
	tcp(IN, 40005, 80, c, f, F_SYN | F_ACK, 0);
	tcp(IN, 40006, 80, c, f, F_FIN, 0);
	tcp(IN, 40007, 80, c, f, 0, 0);
	tcp(IN, 40008, 80, c, f, F_RST, 0);

	/* 5. Window scaling and SACK: options on the handshake, timestamps after. */
	next_flow();
	tcp_opts(IN, 40009, 80, c, 0, F_SYN, 65535, syn_opts, sizeof(syn_opts), 0);
	tcp_opts(OUT, 40009, 80, f, c + 1, F_SYN | F_ACK, 65535, syn_opts, sizeof(syn_opts), 0);
	tcp_opts(IN, 40009, 80, c + 1, f + 1, F_ACK, 512, ts_opts, sizeof(ts_opts), 0);
	tcp_opts(IN, 40009, 80, c + 1, f + 1, F_ACK | F_PSH, 512, ts_opts, sizeof(ts_opts), 90);
	tcp_opts(OUT, 40009, 80, f + 1, c + 91, F_ACK, 512, ts_opts, sizeof(ts_opts), 0);
	/* beyond the scaled window (512 << 7 = 65536 from the client's view): still in */
	tcp_opts(OUT, 40009, 80, f + 1 + 60000, c + 91, F_ACK | F_PSH, 512, ts_opts,
		 sizeof(ts_opts), 10);

	/* 6. A SYN the rules drop (port 9): never confirmed, the next one is NEW again. */
	next_flow();
	tcp(IN, 40010, 9, c, 0, F_SYN, 0);
	tcp(IN, 40010, 9, c, 0, F_SYN, 0);
	tcp(OUT, 40010, 9, f, c + 1, F_SYN | F_ACK, 0); /* no connection: INVALID */

	/* 7. UDP: request, reply, more; a second flow never answered. */
	next_flow();
	first = n_pkts;
	udp(IN, 50001, 53, 30);
	udp(OUT, 50001, 53, 60);
	udp(IN, 50001, 53, 30);
	udp(IN, 50002, 53, 30);
	icmp_error(OUT, 3, 3, first, 0); /* port unreachable about the request: RELATED */
	icmp_error(IN, 3, 3, first + 1, 0);
	udp(OUT, 50003, 123, 10); /* from the firewall */
	udp(IN, 50003, 123, 10);
	/* a truncated UDP header length: INVALID */
	udp(IN, 50004, 53, 10);
	ipt2bpf_put16(pkts[n_pkts - 1].frame + IPT2BPF_ETH_HLEN + 20 + 4, 200);

	/* 8. ICMP: echo both ways, reply without request, timestamp, an error about echo. */
	next_flow();
	first = n_pkts;
	icmp(IN, 8, 0, 0x00070001);
	icmp(OUT, 0, 0, 0x00070001);
	icmp(IN, 8, 0, 0x00070002);
	icmp(OUT, 0, 0, 0x00070002);
	icmp(OUT, 8, 0, 0x00070001); /* same id from the other side: another connection */
	icmp(IN, 0, 0, 0x00070001);
	icmp(IN, 0, 0, 0x00330001); /* reply, no request: INVALID */
	icmp(IN, 13, 0, 0x00090001);
	icmp(OUT, 14, 0, 0x00090001);
	icmp_error(OUT, 11, 0, first, 0); /* time exceeded about the echo request */
	icmp(IN, 99, 0, 0);		  /* unknown type (> 18): INVALID */
	icmp(IN, 9, 0, 0);		  /* router advertisement: not a query, no reply type */

	/* 9. A protocol conntrack knows nothing about: generic; GRE (not PPTP) alike. */
	next_flow();
	raw_ip(IN, 253);
	raw_ip(OUT, 253);
	raw_ip(IN, 253);
	next_flow();
	raw_ip(OUT, 47);
	raw_ip(IN, 47);
	raw_ip(OUT, 47);
	/* SCTP: the kernel's own state machine; a packet that is no SCTP is INVALID */
	raw_ip(IN, 132);

	/* 10. A FIN from the server side first, close both ways. */
	next_flow();
	tcp(OUT, 40011, 80, f, 0, F_SYN, 0);
	tcp(IN, 40011, 80, c, f + 1, F_SYN | F_ACK, 0);
	tcp(OUT, 40011, 80, f + 1, c + 1, F_ACK, 0);
	tcp(IN, 40011, 80, c + 1, f + 1, F_ACK | F_PSH, 10);
	tcp(OUT, 40011, 80, f + 1, c + 11, F_FIN | F_ACK, 0);
	tcp(IN, 40011, 80, c + 11, f + 2, F_ACK, 0);
	tcp(IN, 40011, 80, c + 11, f + 2, F_FIN | F_ACK, 0);
	tcp(OUT, 40011, 80, f + 2, c + 12, F_ACK, 0);
	tcp(OUT, 40011, 80, f + 2, c + 12, F_ACK, 0); /* a retransmitted last ACK */

	/* 11. Simultaneous open. */
	next_flow();
	tcp(IN, 40012, 80, c, 0, F_SYN, 0);
	tcp(OUT, 40012, 80, f, 0, F_SYN, 0);
	tcp(IN, 40012, 80, c, f + 1, F_SYN | F_ACK, 0);
	tcp(OUT, 40012, 80, f, c + 1, F_SYN | F_ACK, 0);
	tcp(IN, 40012, 80, c + 1, f + 1, F_ACK, 0);

	/*
	 * 12. connlimit (tests/ct/run.sh: at most 2 connections from the client
	 * to ports 8001-8099, SYNs beyond dropped): two handshakes, a third
	 * refused twice (its tuples stay listed until the next walk finds no
	 * connection), the first reset (CLOSE: not counted), the third again
	 * (accepted), the second closed with FINs (TIME_WAIT: not counted), a
	 * fourth.
	 */
	next_flow();
	for (uint16_t k = 1; k <= 2; k++) {
		tcp(IN, 41000 + k, 8000 + k, c, 0, F_SYN, 0);
		tcp(OUT, 41000 + k, 8000 + k, f, c + 1, F_SYN | F_ACK, 0);
		tcp(IN, 41000 + k, 8000 + k, c + 1, f + 1, F_ACK, 0);
	}
	tcp(IN, 41003, 8003, c, 0, F_SYN, 0);
	tcp(IN, 41003, 8003, c, 0, F_SYN, 0);
	tcp(IN, 41001, 8001, c + 1, f + 1, F_RST | F_ACK, 0);
	tcp(IN, 41003, 8003, c, 0, F_SYN, 0);
	tcp(OUT, 41003, 8003, f, c + 1, F_SYN | F_ACK, 0);
	tcp(IN, 41003, 8003, c + 1, f + 1, F_ACK, 0);
	tcp(IN, 41002, 8002, c + 1, f + 1, F_FIN | F_ACK, 0);
	tcp(OUT, 41002, 8002, f + 1, c + 2, F_FIN | F_ACK, 0);
	tcp(IN, 41002, 8002, c + 2, f + 2, F_ACK, 0);
	tcp(IN, 41004, 8004, c, 0, F_SYN, 0);
	tcp(OUT, 41004, 8004, f, c + 1, F_SYN | F_ACK, 0);
	tcp(IN, 41004, 8004, c + 1, f + 1, F_ACK, 0);
	tcp(IN, 41005, 8005, c, 0, F_SYN, 0); /* third again: dropped */

	/*
	 * 13. connbytes (run.sh): a UDP flow whose counters cross the rules'
	 * bounds in each direction (datagrams of 28 to 128 bytes), and TCP
	 * segments that do not count: a SYN retransmitted before any reply, an
	 * out-of-window segment (INVALID), a SYN/ACK in ESTABLISHED (ignored).
	 */
	next_flow();
	udp(IN, 50020, 53, 100);
	udp(IN, 50020, 53, 100);
	udp(OUT, 50020, 53, 20);
	udp(IN, 50020, 53, 0);
	udp(OUT, 50020, 53, 100);
	udp(OUT, 50020, 53, 60);
	udp(IN, 50020, 53, 10);
	udp(IN, 50020, 53, 10);
	tcp(IN, 40030, 80, c, 0, F_SYN, 0);
	tcp(IN, 40030, 80, c, 0, F_SYN, 0);
	tcp(OUT, 40030, 80, f, c + 1, F_SYN | F_ACK, 0);
	tcp(IN, 40030, 80, c + 1, f + 1, F_ACK, 0);
	tcp(IN, 40030, 80, c + 1 + 300000, f + 1, F_ACK | F_PSH, 20);
	tcp(IN, 40030, 80, c + 1, f + 1, F_ACK | F_PSH, 20);
	tcp(OUT, 40030, 80, f, c + 1, F_SYN | F_ACK, 0);
	tcp(OUT, 40030, 80, f + 1, c + 21, F_ACK, 0);
	tcp(IN, 40030, 80, c + 21, f + 1, F_ACK | F_PSH, 30);
	tcp(OUT, 40030, 80, f + 1, c + 51, F_ACK | F_PSH, 40);
	tcp(IN, 40030, 80, c + 51, f + 41, F_ACK, 0);

	if (quick)
		return;

	/* 14. Timeouts (run.sh shortens them on both sides; see its TIMEOUTS). */
	next_flow();
	udp(IN, 50010, 53, 10); /* NEW; unreplied timeout 4 s */
	sleep_s(2.5);
	udp(IN, 50010, 53, 10); /* still there, refreshed */
	sleep_s(4.5);
	udp(IN, 50010, 53, 10); /* gone: NEW again */
	udp(OUT, 50010, 53, 10);
	sleep_s(2.5);
	udp(IN, 50010, 53, 10); /* replied and older than 2 s: a stream, ASSURED */
	icmp(IN, 8, 0, 0x00110001);
	sleep_s(4.5);
	icmp(OUT, 0, 0, 0x00110001); /* the echo timed out: INVALID reply */
	tcp(IN, 40020, 80, c, 0, F_SYN, 0);
	sleep_s(6.5);
	tcp(OUT, 40020, 80, f, c + 1, F_SYN | F_ACK, 0); /* SYN_SENT (6 s) expired */
	raw_ip(IN, 253);
	sleep_s(2.5);
	raw_ip(OUT, 253);
}

/*
 * make bench (scripts/bench-ct.sh): PREFIX-new: n SYNs of n new connections;
 * PREFIX-est: a handshake with window scaling, then n data segments of one
 * established connection.
 */
static int write_gen(const char *prefix);

static int bench_gen(const char *prefix, unsigned int n)
{
	static const uint8_t ws_opts[] = {1, 3, 3, 7}; /* NOP, window scale 7 */
	char path[4096];
	uint32_t c = 1000, f = 5000;
	int err;

	for (unsigned int i = 0; i < n; i++)
		tcp(IN, (uint16_t)(10000 + i), 80, c, 0, F_SYN, 0);
	snprintf(path, sizeof(path), "%s-new", prefix);
	err = write_gen(path);
	n_pkts = 0;
	now_us = 0;
	tcp_opts(IN, 9999, 80, c, 0, F_SYN, 65535, ws_opts, sizeof(ws_opts), 0);
	tcp_opts(OUT, 9999, 80, f, c + 1, F_SYN | F_ACK, 65535, ws_opts, sizeof(ws_opts), 0);
	tcp(IN, 9999, 80, c + 1, f + 1, F_ACK, 0);
	/* the server's scaled window (65535 << 7): room for all the data */
	tcp_opts(OUT, 9999, 80, f + 1, c + 1, F_ACK, 65535, NULL, 0, 0);
	for (unsigned int i = 0; i < n; i++)
		tcp(IN, 9999, 80, c + 1 + 100 * i, f + 1, F_ACK | F_PSH, 100);
	snprintf(path, sizeof(path), "%s-est", prefix);
	return err ? err : write_gen(path);
}

static int write_gen(const char *prefix)
{
	char path[4096];
	struct ipt2bpf_pcap_file_hdr h = {
		.magic = IPT2BPF_PCAP_MAGIC,
		.major = 2,
		.minor = 4,
		.snaplen = IPT2BPF_PCAP_SNAPLEN,
		.linktype = IPT2BPF_PCAP_LINK_ETHER,
	};
	FILE *pf, *cf;

	snprintf(path, sizeof(path), "%s.pcap", prefix);
	pf = fopen(path, "wb");
	snprintf(path, sizeof(path), "%s.chains", prefix);
	cf = fopen(path, "w");
	if (!pf || !cf) {
		perror("ctdiff: gen");
		return 1;
	}
	fwrite(&h, sizeof(h), 1, pf);
	for (size_t i = 0; i < n_pkts; i++) {
		/* pcap time: 1000 s + the send time (trace's clock: well away from 0) */
		uint64_t t = 1000000000ULL + pkts[i].t_us;
		struct ipt2bpf_pcap_rec_hdr r = {
			.sec = (uint32_t)(t / 1000000),
			.usec = (uint32_t)(t % 1000000),
			.incl_len = (uint32_t)pkts[i].len,
			.orig_len = (uint32_t)pkts[i].len,
		};

		fwrite(&r, sizeof(r), 1, pf);
		fwrite(pkts[i].frame, pkts[i].len, 1, pf);
		fprintf(cf, "%s\n", pkts[i].output ? "OUTPUT" : "INPUT");
	}
	if (fclose(pf) || fclose(cf)) {
		perror("ctdiff: gen");
		return 1;
	}
	fprintf(stderr, "ctdiff: %u flows, %zu packets, %.1f s\n", n_flows, n_pkts,
		(double)now_us / 1e6);
	return 0;
}

/* ------------------------------------------------------------------ kernel */

static const char *const hook_names[NF_INET_NUMHOOKS] = {
	"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING",
};

enum term { T_NONE, T_ACCEPT, T_DROP };

struct ent {
	int chain; /* index into chains, -1: not a rule */
	int rule;  /* 1-based, 0: the policy */
	enum term term;
};

struct table {
	struct ipt_getinfo info;
	struct ipt_get_entries *buf;
	size_t buflen;
	struct ent *ents;
	uint64_t *pcnt;
	char (*chains)[XT_EXTENSION_MAXNAMELEN];
	int n_chains;
	int first_input; /* entry of INPUT rule 1 */
};

static int table_read(int fd, struct table *t)
{
	socklen_t len = (socklen_t)t->buflen;
	unsigned int off = 0;

	if (getsockopt(fd, IPPROTO_IP, IPT_SO_GET_ENTRIES, t->buf, &len) < 0) {
		perror("ctdiff: IPT_SO_GET_ENTRIES");
		return -1;
	}
	for (unsigned int i = 0; i < t->info.num_entries; i++) {
		const struct ipt_entry *e = (const void *)((char *)t->buf->entrytable + off);

		t->pcnt[i] = e->counters.pcnt;
		off += e->next_offset;
	}
	return 0;
}

static int table_open(int fd, struct table *t)
{
	socklen_t len = sizeof(t->info);
	unsigned int off = 0;
	int cur = -1, rule = 0;

	memset(t, 0, sizeof(*t));
	snprintf(t->info.name, sizeof(t->info.name), "filter");
	if (getsockopt(fd, IPPROTO_IP, IPT_SO_GET_INFO, &t->info, &len) < 0) {
		perror("ctdiff: IPT_SO_GET_INFO");
		return -1;
	}
	t->buflen = sizeof(*t->buf) + t->info.size;
	t->buf = calloc(1, t->buflen);
	t->ents = calloc(t->info.num_entries, sizeof(*t->ents));
	t->pcnt = calloc(t->info.num_entries, sizeof(*t->pcnt));
	t->chains = calloc(t->info.num_entries + NF_INET_NUMHOOKS, sizeof(*t->chains));
	if (!t->buf || !t->ents || !t->pcnt || !t->chains)
		return -1;
	snprintf(t->buf->name, sizeof(t->buf->name), "filter");
	t->buf->size = t->info.size;
	if (table_read(fd, t))
		return -1;
	t->first_input = -1;
	for (unsigned int i = 0; i < t->info.num_entries; i++) {
		const struct ipt_entry *e = (const void *)((char *)t->buf->entrytable + off);
		const struct xt_entry_target *tg =
			(const void *)((const char *)e + e->target_offset);
		const struct xt_standard_target *st = (const void *)tg;
		bool policy = false;

		t->ents[i].chain = -1;
		for (int h = 0; h < NF_INET_NUMHOOKS; h++) {
			if (!(t->info.valid_hooks & (1u << h)))
				continue;
			if (t->info.hook_entry[h] == off) {
				cur = t->n_chains++;
				snprintf(t->chains[cur], sizeof(t->chains[0]), "%s", hook_names[h]);
				rule = 0;
			}
			if (t->info.underflow[h] == off)
				policy = true;
		}
		if (!strcmp(tg->u.user.name, XT_ERROR_TARGET)) {
			/* user chains: ctdiff's rule sets have none; the table's end */
			off += e->next_offset;
			continue;
		}
		t->ents[i].chain = cur;
		t->ents[i].rule = policy ? 0 : ++rule;
		if (!strcmp(tg->u.user.name, XT_STANDARD_TARGET))
			t->ents[i].term = st->verdict == -NF_ACCEPT - 1 ? T_ACCEPT
					  : st->verdict == -NF_DROP - 1 ? T_DROP
									: T_NONE;
		if (cur >= 0 && !strcmp(t->chains[cur], "INPUT") && t->ents[i].rule == 1)
			t->first_input = (int)i;
		off += e->next_offset;
	}
	return t->first_input < 0 ? -1 : 0;
}

static int run_restore(const char *path)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		int fd = open(path, O_RDONLY);

		if (fd < 0 || dup2(fd, 0) < 0)
			_exit(127);
		execlp("iptables-legacy-restore", "iptables-legacy-restore", "-w", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "ctdiff: iptables-legacy-restore < %s failed\n", path);
		return -1;
	}
	return 0;
}

static int open_inject(const char *ns, const char *dev, uint8_t mac[ETH_ALEN])
{
	char path[512];
	int self = open("/proc/self/ns/net", O_RDONLY), target, fd;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET};
	struct ifreq ifr = {0};

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	target = open(path, O_RDONLY);
	if (self < 0 || target < 0 || setns(target, CLONE_NEWNET) < 0) {
		perror("ctdiff: setns");
		return -1;
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	sll.sll_ifindex = (int)if_nametoindex(dev);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (fd < 0 || !sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("ctdiff: inject socket");
		return -1;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	if (setns(self, CLONE_NEWNET) < 0) {
		perror("ctdiff: setns back");
		return -1;
	}
	close(self);
	close(target);
	return fd;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int get_mac(const char *dev, uint8_t mac[ETH_ALEN])
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("ctdiff: SIOCGIFHWADDR");
		return -1;
	}
	close(fd);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	return 0;
}

static int run_kernel(const char *pcap_path, const char *chains_path, const char *ns,
		      const char *dev, const char *in_dev, const char *rules)
{
	struct ipt2bpf_pcap pc;
	struct table t;
	uint8_t peer_mac[ETH_ALEN], dev_mac[ETH_ALEN], frame[IPT2BPF_PCAP_SNAPLEN];
	uint64_t *before, start = 0, first_ts = 0;
	int ctl, inject, raw, n = 0, one = 1;
	FILE *cf;
	size_t len;
	char line[64];
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	if (rules && run_restore(rules))
		return 1;
	ctl = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (ctl < 0 || raw < 0 || setsockopt(raw, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one))) {
		perror("ctdiff: raw socket");
		return 1;
	}
	if (table_open(ctl, &t)) {
		fprintf(stderr, "ctdiff: filter: cannot read it (INPUT rule 1 missing?)\n");
		return 1;
	}
	inject = open_inject(ns, dev, peer_mac);
	if (inject < 0 || get_mac(in_dev, dev_mac))
		return 1;
	before = calloc(t.info.num_entries, sizeof(*before));
	cf = fopen(chains_path, "r");
	if (!before || !cf || ipt2bpf_pcap_open(&pc, pcap_path)) {
		fprintf(stderr, "ctdiff: cannot open %s or %s\n", pcap_path, chains_path);
		return 1;
	}
	for (;;) {
		struct ipt2bpf_pcap_rec_hdr r;
		bool output;
		enum term term = T_NONE;
		bool first = true, policy = false;
		uint64_t ts, due;

		/* ipt2bpf_pcap_next() hides the timestamp: read the record ourselves. */
		if (fread(&r, sizeof(r), 1, pc.f) != 1)
			break;
		len = r.incl_len;
		if (len > sizeof(frame) || fread(frame, len, 1, pc.f) != 1 ||
		    !fgets(line, sizeof(line), cf)) {
			fprintf(stderr, "ctdiff: truncated input at packet %d\n", n + 1);
			return 1;
		}
		n++;
		output = !strncmp(line, "OUTPUT", 6);
		ts = (uint64_t)r.sec * 1000000 + r.usec;
		if (n == 1) {
			first_ts = ts;
			start = mono_us();
		}
		due = start + (ts - first_ts);
		for (;;) {
			/* one reading: a second one may already be past due (slow guests) */
			uint64_t now = mono_us(), left = due > now ? due - now : 0;

			if (!left)
				break;
			usleep(left > 1000 ? (useconds_t)(left - 500) : 100);
		}
		if (table_read(ctl, &t))
			return 1;
		memcpy(before, t.pcnt, t.info.num_entries * sizeof(*before));
		if (output) {
			struct sockaddr_in sin = {.sin_family = AF_INET};
			const uint8_t *iph = frame + IPT2BPF_ETH_HLEN;

			memcpy(&sin.sin_addr, iph + 16, 4);
			/* EPERM: OUTPUT dropped it, which the counters show */
			if (sendto(raw, iph, len - IPT2BPF_ETH_HLEN, 0, (struct sockaddr *)&sin,
				   sizeof(sin)) < 0 &&
			    errno != EPERM)
				fprintf(stderr, "ctdiff: packet %d: sendto: %s\n", n,
					strerror(errno));
			if (table_read(ctl, &t))
				return 1;
		} else {
			uint64_t deadline = mono_us() + 3000000;

			/* to the firewall's device, from the client's */
			memcpy(frame, dev_mac, ETH_ALEN);
			memcpy(frame + ETH_ALEN, peer_mac, ETH_ALEN);
			if (send(inject, frame, len, 0) < 0) {
				fprintf(stderr, "ctdiff: packet %d: send: %s\n", n,
					strerror(errno));
				return 1;
			}
			/* INPUT rule 1 counts every packet: wait for it */
			do {
				if (table_read(ctl, &t))
					return 1;
				if (t.pcnt[t.first_input] != before[t.first_input])
					break;
				usleep(50);
			} while (mono_us() < deadline);
			if (t.pcnt[t.first_input] == before[t.first_input]) {
				fprintf(stderr, "ctdiff: packet %d never reached INPUT\n", n);
				return 1;
			}
		}
		printf("{\"n\":%d,\"verdict\":\"", n);
		for (unsigned int i = 0; i < t.info.num_entries; i++)
			if (t.pcnt[i] != before[i] && t.ents[i].chain >= 0 && t.ents[i].term)
				term = t.ents[i].term;
		/*
		 * No terminal rule and no policy counted: a match hotdropped it
		 * (ipt_do_table() stops with NF_DROP, counting nothing more).
		 */
		printf("%s\",\"counted\":[", term == T_ACCEPT ? "ACCEPT" : "DROP");
		for (unsigned int i = 0; i < t.info.num_entries; i++) {
			if (t.pcnt[i] == before[i] || t.ents[i].chain < 0)
				continue;
			if (!t.ents[i].rule) {
				policy = true;
				continue;
			}
			printf("%s\"%s#%d\"", first ? "" : ",", t.chains[t.ents[i].chain],
			       t.ents[i].rule);
			first = false;
		}
		printf("],\"policy\":%s}\n", policy ? "true" : "false");
		fflush(stdout);
	}
	fprintf(stderr, "ctdiff: %d packets replayed\n", n);
	return 0;
}

/*
 * ctdiff flush: empties this namespace's conntrack table (what `conntrack -F`
 * does: IPCTNL_MSG_CT_DELETE without attributes), so that a differential run
 * starts from no connections, as `ipt2bpf trace` does.
 */
static int ct_flush(void)
{
	struct {
		struct nlmsghdr nh;
		struct nfgenmsg nf;
	} req = {
		.nh = {.nlmsg_len = sizeof(req),
		       .nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		       .nlmsg_seq = 1},
		.nf = {.nfgen_family = AF_INET, .version = NFNETLINK_V0},
	};
	char buf[4096];
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	ssize_t n;

	if (fd < 0 || send(fd, &req, sizeof(req), 0) < 0 ||
	    (n = recv(fd, buf, sizeof(buf), 0)) < 0) {
		perror("ctdiff: flush");
		return 1;
	}
	close(fd);
	if ((size_t)n >= sizeof(*nh) + sizeof(int) && nh->nlmsg_type == NLMSG_ERROR) {
		int err = *(int *)NLMSG_DATA(nh);

		if (err && err != -ENOENT) {
			fprintf(stderr, "ctdiff: flush: %s\n", strerror(-err));
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},
		{"client", required_argument, NULL, 'C'},
		{"fw", required_argument, NULL, 'F'},
		{"quick", no_argument, NULL, 'q'},
		{"pcap", required_argument, NULL, 'p'},
		{"chains", required_argument, NULL, 'c'},
		{"inject-ns", required_argument, NULL, 'N'},
		{"inject-dev", required_argument, NULL, 'D'},
		{"in-dev", required_argument, NULL, 'i'},
		{"rules", required_argument, NULL, 'r'},
		{0},
	};
	const char *out = NULL, *client = "10.200.1.2", *fwa = "10.200.1.1", *pcap = NULL;
	const char *chains = NULL, *ns = NULL, *dev = NULL, *in_dev = "vin", *rules = NULL;
	bool quick = false;
	struct in_addr a;
	int c;

	if (argc == 2 && !strcmp(argv[1], "flush"))
		return ct_flush();
	if (argc < 2 ||
	    (strcmp(argv[1], "gen") && strcmp(argv[1], "kernel") && strcmp(argv[1], "bench-gen"))) {
		fprintf(stderr, "usage: ctdiff gen --out PREFIX [--quick] | ctdiff kernel --pcap P "
				"--chains C --inject-ns NS --inject-dev DEV [--in-dev D] "
				"[--rules R]\n");
		return 2;
	}
	while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'C':
			client = optarg;
			break;
		case 'F':
			fwa = optarg;
			break;
		case 'q':
			quick = true;
			break;
		case 'p':
			pcap = optarg;
			break;
		case 'c':
			chains = optarg;
			break;
		case 'N':
			ns = optarg;
			break;
		case 'D':
			dev = optarg;
			break;
		case 'i':
			in_dev = optarg;
			break;
		case 'r':
			rules = optarg;
			break;
		default:
			return 2;
		}
	}
	if (!strcmp(argv[1], "bench-gen")) {
		cli_addr = 0x0ac80102;
		fw_addr = 0x0ac80101;
		return out ? bench_gen(out, quick ? 200 : 2000) : 2;
	}
	if (!strcmp(argv[1], "gen")) {
		if (!out || inet_pton(AF_INET, client, &a) != 1)
			return 2;
		cli_addr = ntohl(a.s_addr);
		if (inet_pton(AF_INET, fwa, &a) != 1)
			return 2;
		fw_addr = ntohl(a.s_addr);
		script(quick);
		return write_gen(out);
	}
	if (!pcap || !chains || !ns || !dev)
		return 2;
	return run_kernel(pcap, chains, ns, dev, in_dev, rules);
}
