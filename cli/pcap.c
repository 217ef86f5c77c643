// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>

#include "pcap.h"

#define PCAP_MAGIC	  0xa1b2c3d4u
#define PCAP_MAGIC_NS	  0xa1b23c4du
#define LINKTYPE_ETHERNET 1
#define LINKTYPE_RAW	  101
#define LINKTYPE_SLL	  113
#define LINKTYPE_IPV4	  228
#define SLL_HDR_LEN	  16
#define PCAP_MAX_SNAP	  262144

struct pcap_file_hdr {
	uint32_t magic;
	uint16_t major, minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};

struct pcap_rec_hdr {
	uint32_t sec, usec, caplen, len;
};

static uint32_t sw32(const struct cli_pcap *p, uint32_t v)
{
	return p->swapped ? __builtin_bswap32(v) : v;
}

int cli_pcap_open(struct cli_pcap *p, const char *path)
{
	struct pcap_file_hdr h;

	memset(p, 0, sizeof(*p));
	p->f = fopen(path, "rb");
	if (!p->f)
		return -errno;
	if (fread(&h, sizeof(h), 1, p->f) != 1)
		goto bad;
	p->nanosec = h.magic == PCAP_MAGIC_NS || __builtin_bswap32(h.magic) == PCAP_MAGIC_NS;
	if (h.magic == PCAP_MAGIC || h.magic == PCAP_MAGIC_NS)
		p->swapped = false;
	else if (__builtin_bswap32(h.magic) == PCAP_MAGIC ||
		 __builtin_bswap32(h.magic) == PCAP_MAGIC_NS)
		p->swapped = true;
	else
		goto bad;
	p->linktype = sw32(p, h.linktype);
	if (p->linktype != LINKTYPE_ETHERNET && p->linktype != LINKTYPE_RAW &&
	    p->linktype != LINKTYPE_IPV4 && p->linktype != LINKTYPE_SLL) {
		cli_pcap_close(p);
		return -EPROTONOSUPPORT;
	}
	return 0;
bad:
	cli_pcap_close(p);
	return -EBADMSG;
}

int cli_pcap_next(struct cli_pcap *p, size_t *len)
{
	struct pcap_rec_hdr r;
	size_t n, off = 0, skip = 0;
	struct ethhdr *eth;

	n = fread(&r, 1, sizeof(r), p->f);
	if (n == 0 && feof(p->f))
		return 0;
	if (n != sizeof(r))
		return -EBADMSG;
	p->ts_ns = (uint64_t)sw32(p, r.sec) * 1000000000ULL +
		   (uint64_t)sw32(p, r.usec) * (p->nanosec ? 1 : 1000);
	n = sw32(p, r.caplen);
	if (n > PCAP_MAX_SNAP)
		return -EBADMSG;
	/* Non-Ethernet captures get an Ethernet header so every program sees one layout. */
	if (p->linktype != LINKTYPE_ETHERNET)
		off = ETH_HLEN;
	if (p->linktype == LINKTYPE_SLL)
		skip = SLL_HDR_LEN;
	if (n < skip)
		return -EBADMSG;
	if (p->cap < n + off) {
		unsigned char *b = realloc(p->buf, n + off);

		if (!b)
			return -ENOMEM;
		p->buf = b;
		p->cap = n + off;
	}
	if (skip) {
		unsigned char sll[SLL_HDR_LEN];

		if (fread(sll, 1, skip, p->f) != skip)
			return -EBADMSG;
	}
	if (fread(p->buf + off, 1, n - skip, p->f) != n - skip)
		return -EBADMSG;
	if (off) {
		eth = (struct ethhdr *)p->buf;
		memset(eth, 0, ETH_HLEN);
		eth->h_dest[0] = 0x02;
		eth->h_source[0] = 0x02;
		eth->h_source[5] = 0x01;
		eth->h_proto = htons(ETH_P_IP);
	}
	*len = n - skip + off;
	return 1;
}

void cli_pcap_close(struct cli_pcap *p)
{
	if (p->f)
		fclose(p->f);
	free(p->buf);
	memset(p, 0, sizeof(*p));
}
