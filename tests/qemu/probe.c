// SPDX-License-Identifier: GPL-2.0
/*
 * probe: does a packet get through?  The traffic checker of the QEMU suite
 * (tests/qemu/traffic.sh), linked statically so that the guest needs nothing.
 *
 *   probe tcp|udp|icmp DST [PORT] [-s SRC] [-t TIMEOUT_MS]
 *
 * Prints "pass" when the destination answered (TCP: SYN-ACK or RST; UDP: a
 * reply or an ICMP port unreachable; ICMP: an echo reply) and "drop" when
 * nothing came back within the timeout (default 1000 ms) or the local stack
 * refused to send (EPERM: ip_tables' OUTPUT chain dropped it); exit 0 either way.
 * No server is needed: a closed port answers too.  Anything else (no route,
 * bad arguments) prints "error: ..." and exits 2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
	printf("error: %s: %s\n", what, strerror(errno));
	return 2;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int bind_src(int fd, const char *src)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};

	if (!src)
		return 0;
	if (inet_pton(AF_INET, src, &sa.sin_addr) != 1) {
		errno = EINVAL;
		return -1;
	}
	return bind(fd, (struct sockaddr *)&sa, sizeof(sa));
}

/* A refused connection proves the SYN and the RST got through. */
static int probe_tcp(const struct sockaddr_in *dst, const char *src, int timeout)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), err = 0;
	socklen_t len = sizeof(err);
	struct pollfd p = {.fd = fd, .events = POLLOUT};

	if (fd < 0 || bind_src(fd, src))
		return fail("socket");
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) == 0)
		goto pass;
	if (errno == ECONNREFUSED)
		goto pass;
	if (errno == EPERM) {
		puts("drop");
		return 0;
	}
	if (errno != EINPROGRESS)
		return fail("connect");
	if (poll(&p, 1, timeout) == 0) {
		puts("drop");
		return 0;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		return fail("SO_ERROR");
	if (err && err != ECONNREFUSED) {
		errno = err;
		return fail("connect");
	}
pass:
	puts("pass");
	return 0;
}

/* A connected UDP socket reports an ICMP port unreachable as ECONNREFUSED. */
static int probe_udp(const struct sockaddr_in *dst, const char *src, int timeout)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[64];

	if (fd < 0 || bind_src(fd, src))
		return fail("socket");
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)))
		return fail("connect");
	/* EPERM: a local OUTPUT rule dropped it (ip_tables tells the sender) */
	if (send(fd, "probe", 5, 0) < 0) {
		if (errno != EPERM)
			return fail("send");
		puts("drop");
		return 0;
	}
	if (poll(&p, 1, timeout) == 0) {
		puts("drop");
		return 0;
	}
	if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno != ECONNREFUSED)
		return fail("recv");
	puts("pass");
	return 0;
}

static uint16_t csum(const void *data, size_t len)
{
	const uint8_t *b = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)(b[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static int probe_icmp(const struct sockaddr_in *dst, const char *src, int timeout)
{
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	uint16_t id = (uint16_t)getpid();
	struct icmphdr req = {.type = ICMP_ECHO};
	long end = now_ms() + timeout;
	uint8_t buf[1500];

	if (fd < 0 || bind_src(fd, src))
		return fail("socket");
	req.un.echo.id = htons(id);
	req.un.echo.sequence = htons(1);
	req.checksum = csum(&req, sizeof(req));
	if (sendto(fd, &req, sizeof(req), 0, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
		if (errno != EPERM)
			return fail("sendto");
		puts("drop");
		return 0;
	}
	for (long left; (left = end - now_ms()) > 0;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		const struct iphdr *ip = (const void *)buf;
		const struct icmphdr *ic;
		ssize_t n;

		if (poll(&p, 1, (int)left) <= 0)
			break;
		n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
		if (n < (ssize_t)sizeof(*ip) || n < ip->ihl * 4 + (ssize_t)sizeof(*ic))
			continue;
		ic = (const void *)(buf + ip->ihl * 4);
		if (from.sin_addr.s_addr == dst->sin_addr.s_addr && ic->type == ICMP_ECHOREPLY &&
		    ic->un.echo.id == htons(id)) {
			puts("pass");
			return 0;
		}
	}
	puts("drop");
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in dst = {.sin_family = AF_INET};
	const char *src = NULL;
	int timeout = 1000, opt;

	while ((opt = getopt(argc, argv, "s:t:")) != -1) {
		switch (opt) {
		case 's':
			src = optarg;
			break;
		case 't':
			timeout = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind < 2 || inet_pton(AF_INET, argv[optind + 1], &dst.sin_addr) != 1)
		goto usage;
	if (!strcmp(argv[optind], "icmp"))
		return probe_icmp(&dst, src, timeout);
	if (argc - optind < 3)
		goto usage;
	dst.sin_port = htons((uint16_t)atoi(argv[optind + 2]));
	if (!strcmp(argv[optind], "tcp"))
		return probe_tcp(&dst, src, timeout);
	if (!strcmp(argv[optind], "udp"))
		return probe_udp(&dst, src, timeout);
usage:
	fprintf(stderr, "usage: probe tcp|udp|icmp DST [PORT] [-s SRC] [-t TIMEOUT_MS]\n");
	return 2;
}
