/* SPDX-License-Identifier: GPL-2.0 */
/* Minimal reader for classic pcap files (what tcpdump -w writes). */
#ifndef IPT2BPF_CLI_PCAP_H
#define IPT2BPF_CLI_PCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cli_pcap {
	FILE *f;
	bool swapped;
	bool nanosec; /* the file's timestamps are in ns, not µs */
	uint32_t linktype;
	uint64_t ts_ns; /* timestamp of the current packet */
	unsigned char *buf; /* current packet, always starting at an Ethernet header */
	size_t cap;
};

int cli_pcap_open(struct cli_pcap *p, const char *path);
/* 1: a packet in p->buf/len; 0: end of file; <0: -errno (truncated or bad file). */
int cli_pcap_next(struct cli_pcap *p, size_t *len);
void cli_pcap_close(struct cli_pcap *p);

#endif
