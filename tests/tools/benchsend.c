// SPDX-License-Identifier: GPL-2.0
/*
 * benchsend: a fast packet sender for `make bench` (scripts/bench.sh): one
 * Ethernet frame, sent over and over through an AF_PACKET socket with
 * sendmmsg() and PACKET_QDISC_BYPASS (there is no pktgen module here).
 *
 *   benchsend --dev IF --dmac MAC --src A --dst B [--proto tcp|udp|icmp]
 *             [--sport N] [--dport N] [--seconds S] [--batch N]
 *
 * On a veth pair the receiving side runs in the sender's context (the
 * peer's backlog is processed when the transmit path re-enables softirqs),
 * so the rate this prints is the rate the whole path sustains: sender, veth,
 * and whatever filters the packet on the other side.  Prints "pps N sent M
 * cpu_ns T": T is the sending thread's CPU time per packet, which the
 * receive path is charged to as well (steadier than pps on a busy machine).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/tools/pcap.h"

#define MAX_BATCH 256

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static int parse_mac(const char *s, uint8_t *m)
{
	unsigned int b[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)b[i];
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: benchsend --dev IF --dmac MAC --src A --dst B [--proto tcp|udp|icmp]\n"
	      "                 [--sport N] [--dport N] [--seconds S] [--batch N]\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dev", required_argument, NULL, 'd'},
		{"dmac", required_argument, NULL, 'm'},
		{"src", required_argument, NULL, 's'},
		{"dst", required_argument, NULL, 't'},
		{"proto", required_argument, NULL, 'p'},
		{"sport", required_argument, NULL, 'S'},
		{"dport", required_argument, NULL, 'D'},
		{"seconds", required_argument, NULL, 'n'},
		{"batch", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static const uint8_t smac[6] = {2, 0, 0, 0, 0xbe, 1};
	const char *dev = NULL, *src = NULL, *dst = NULL, *proto = "tcp";
	unsigned int sport = 40000, dport = 60999, batch = 64;
	double seconds = 2, t0, t = 0, c0;
	uint8_t dmac[6], l4[64], pay[18] = {0}, frame[128];
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov;
	struct sockaddr_ll sll = {0};
	struct in_addr a, b;
	unsigned long long sent = 0;
	int c, fd, n, one = 1, have_mac = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dev = optarg;
			break;
		case 'm':
			if (parse_mac(optarg, dmac)) {
				usage(stderr);
				return 2;
			}
			have_mac = 1;
			break;
		case 's':
			src = optarg;
			break;
		case 't':
			dst = optarg;
			break;
		case 'p':
			proto = optarg;
			break;
		case 'S':
			sport = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'D':
			dport = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'n':
			seconds = strtod(optarg, NULL);
			break;
		case 'b':
			batch = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!dev || !have_mac || !src || !dst || !inet_aton(src, &a) || !inet_aton(dst, &b) ||
	    !batch || batch > MAX_BATCH || seconds <= 0) {
		usage(stderr);
		return 2;
	}

	{
		struct ipt2bpf_ip4 ip = {
			.saddr = ntohl(a.s_addr), .daddr = ntohl(b.s_addr), .ttl = 64, .id = 1};

		if (!strcmp(proto, "udp")) {
			ip.proto = 17;
			n = ipt2bpf_pkt_udp(l4, sizeof(l4), ip.saddr, ip.daddr, (uint16_t)sport,
					    (uint16_t)dport, pay, sizeof(pay));
		} else if (!strcmp(proto, "icmp")) {
			ip.proto = 1;
			n = ipt2bpf_pkt_icmp(l4, sizeof(l4), 8, 0, 1, pay, sizeof(pay));
		} else {
			struct ipt2bpf_tcp tcp = {.sport = (uint16_t)sport,
						  .dport = (uint16_t)dport,
						  .flags = 0x02,
						  .window = 512};

			ip.proto = 6;
			n = ipt2bpf_pkt_tcp(l4, sizeof(l4), ip.saddr, ip.daddr, &tcp, pay,
					    sizeof(pay));
		}
		if (n < 0)
			return 1;
		n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), dmac, smac, &ip, l4, (size_t)n);
		if (n < 0)
			return 1;
	}

	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("benchsend: socket");
		return 1;
	}
	/* Straight to the driver: no qdisc in the way of the rate. */
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_IP);
	sll.sll_ifindex = (int)if_nametoindex(dev);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		fprintf(stderr, "benchsend: %s: %s\n", dev, strerror(errno));
		return 1;
	}
	iov.iov_base = frame;
	iov.iov_len = (size_t)n;
	memset(msgs, 0, sizeof(msgs));
	for (unsigned int i = 0; i < batch; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = now_s();
	c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	do {
		int r = sendmmsg(fd, msgs, batch, 0);

		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN)
				continue;
			perror("benchsend: sendmmsg");
			return 1;
		}
		sent += (unsigned int)r;
		t = now_s();
	} while (t - t0 < seconds);
	/*
	 * The receive path runs in our context: CPU time per packet is what the
	 * path costs, whatever else runs on the machine meanwhile.
	 */
	c0 = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	printf("pps %.0f sent %llu cpu_ns %.0f\n", sent / (t - t0), sent,
	       c0 > 0 && sent ? c0 * 1e9 / sent : 0.0);
	close(fd);
	return 0;
}
