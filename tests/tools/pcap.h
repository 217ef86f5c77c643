/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pcap.h: classic pcap files (LINKTYPE_ETHERNET) and IPv4/TCP/UDP/ICMP packet
 * builders with correct checksums, for the differential test tools.
 *
 * Header-only on purpose: every C file in tests/tools is its own binary (see the
 * Makefile), so a pcap.c would be linked as a tool of its own.
 *
 * Builders work on byte buffers with explicit big-endian stores: packets are
 * often deliberately malformed, and struct overlays invite alignment and
 * bit-field surprises that would hide exactly those bytes.
 */
#ifndef IPT2BPF_TESTS_PCAP_H
#define IPT2BPF_TESTS_PCAP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define IPT2BPF_PCAP_MAGIC	0xa1b2c3d4u /* microsecond timestamps */
#define IPT2BPF_PCAP_MAGIC_NS	0xa1b23c4du /* nanosecond timestamps */
#define IPT2BPF_PCAP_LINK_ETHER 1u
#define IPT2BPF_PCAP_SNAPLEN	65535u
#define IPT2BPF_PKT_MAX		2048u /* our frames stay below any MTU */
#define IPT2BPF_ETH_HLEN	14u
#define IPT2BPF_ETH_P_IP	0x0800u
#define IPT2BPF_IP_HLEN		20u

/* ------------------------------------------------------------ byte helpers */

static inline void ipt2bpf_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static inline void ipt2bpf_put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static inline uint16_t ipt2bpf_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ipt2bpf_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t ipt2bpf_swap32(uint32_t v)
{
	return __builtin_bswap32(v);
}

/* ---------------------------------------------------------------- pcap I/O */

struct ipt2bpf_pcap {
	FILE *f;
	bool swapped;
	uint32_t linktype;
	uint32_t ts; /* writer: next timestamp (seconds) */
};

struct ipt2bpf_pcap_file_hdr {
	uint32_t magic;
	uint16_t major, minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};

struct ipt2bpf_pcap_rec_hdr {
	uint32_t sec, usec, incl_len, orig_len;
};

/* Create PATH as an Ethernet pcap in host byte order (what tcpdump writes). */
static inline int ipt2bpf_pcap_create(struct ipt2bpf_pcap *p, const char *path)
{
	struct ipt2bpf_pcap_file_hdr h = {
		.magic = IPT2BPF_PCAP_MAGIC,
		.major = 2,
		.minor = 4,
		.snaplen = IPT2BPF_PCAP_SNAPLEN,
		.linktype = IPT2BPF_PCAP_LINK_ETHER,
	};

	memset(p, 0, sizeof(*p));
	p->f = fopen(path, "wb");
	if (!p->f)
		return -errno;
	p->linktype = IPT2BPF_PCAP_LINK_ETHER;
	p->ts = 1000000000u;
	if (fwrite(&h, sizeof(h), 1, p->f) != 1) {
		fclose(p->f);
		p->f = NULL;
		return -EIO;
	}
	return 0;
}

static inline int ipt2bpf_pcap_write(struct ipt2bpf_pcap *p, const void *frame, size_t len)
{
	struct ipt2bpf_pcap_rec_hdr r = {
		.sec = p->ts++,
		.incl_len = (uint32_t)len,
		.orig_len = (uint32_t)len,
	};

	if (len > IPT2BPF_PCAP_SNAPLEN)
		return -E2BIG;
	if (fwrite(&r, sizeof(r), 1, p->f) != 1 || (len && fwrite(frame, len, 1, p->f) != 1))
		return -EIO;
	return 0;
}

/* Open PATH for reading; both byte orders and both timestamp precisions. */
static inline int ipt2bpf_pcap_open(struct ipt2bpf_pcap *p, const char *path)
{
	struct ipt2bpf_pcap_file_hdr h;

	memset(p, 0, sizeof(*p));
	p->f = fopen(path, "rb");
	if (!p->f)
		return -errno;
	if (fread(&h, sizeof(h), 1, p->f) != 1)
		goto bad;
	if (h.magic == IPT2BPF_PCAP_MAGIC || h.magic == IPT2BPF_PCAP_MAGIC_NS) {
		p->linktype = h.linktype;
	} else if (ipt2bpf_swap32(h.magic) == IPT2BPF_PCAP_MAGIC ||
		   ipt2bpf_swap32(h.magic) == IPT2BPF_PCAP_MAGIC_NS) {
		p->swapped = true;
		p->linktype = ipt2bpf_swap32(h.linktype);
	} else {
		goto bad;
	}
	if (p->linktype != IPT2BPF_PCAP_LINK_ETHER)
		goto bad;
	return 0;
bad:
	fclose(p->f);
	p->f = NULL;
	return -EINVAL;
}

/*
 * Read the next record into BUF. Returns 1 with *LEN set, 0 at the end of the
 * file, -EINVAL for a truncated record, -E2BIG for a record larger than CAP.
 */
static inline int ipt2bpf_pcap_next(struct ipt2bpf_pcap *p, void *buf, size_t cap, size_t *len)
{
	struct ipt2bpf_pcap_rec_hdr r;
	size_t got = fread(&r, 1, sizeof(r), p->f);

	if (got == 0 && feof(p->f))
		return 0;
	if (got != sizeof(r))
		return -EINVAL;
	if (p->swapped)
		r.incl_len = ipt2bpf_swap32(r.incl_len);
	if (r.incl_len > cap)
		return -E2BIG;
	if (r.incl_len && fread(buf, r.incl_len, 1, p->f) != 1)
		return -EINVAL;
	*len = r.incl_len;
	return 1;
}

static inline int ipt2bpf_pcap_close(struct ipt2bpf_pcap *p)
{
	int err = 0;

	if (p->f && fclose(p->f))
		err = -errno;
	p->f = NULL;
	return err;
}

/* --------------------------------------------------------------- checksums */

/* One's complement sum of big-endian 16-bit words; an odd tail is padded. */
static inline uint32_t ipt2bpf_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += ipt2bpf_get16(p);
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static inline uint16_t ipt2bpf_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The IPv4 pseudo header of TCP and UDP checksums. */
static inline uint32_t ipt2bpf_csum_pseudo(uint32_t saddr, uint32_t daddr, uint8_t proto,
					   size_t l4len)
{
	return (saddr >> 16) + (saddr & 0xffff) + (daddr >> 16) + (daddr & 0xffff) + proto +
	       (uint32_t)l4len;
}

/* ------------------------------------------------------------ L4 builders */

#define IPT2BPF_TCP_HLEN  20u
#define IPT2BPF_UDP_HLEN  8u
#define IPT2BPF_ICMP_HLEN 8u

struct ipt2bpf_tcp {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags; /* byte 13: CWR ECE URG ACK PSH RST SYN FIN */
	uint16_t window;
	const uint8_t *opts; /* written as given, even if malformed */
	size_t optlen;	     /* a multiple of 4 unless doff lies */
	int doff;	     /* 0: (20 + optlen) / 4; else written as is (may lie) */
};

/* TCP header, options and payload into OUT with a correct checksum. */
static inline int ipt2bpf_pkt_tcp(uint8_t *out, size_t cap, uint32_t saddr, uint32_t daddr,
				  const struct ipt2bpf_tcp *t, const void *payload, size_t plen)
{
	size_t len = IPT2BPF_TCP_HLEN + t->optlen + plen;
	int doff = t->doff ? t->doff : (int)((IPT2BPF_TCP_HLEN + t->optlen) / 4);
	uint32_t sum;

	if (len > cap || doff > 15)
		return -E2BIG;
	memset(out, 0, IPT2BPF_TCP_HLEN);
	ipt2bpf_put16(out, t->sport);
	ipt2bpf_put16(out + 2, t->dport);
	ipt2bpf_put32(out + 4, t->seq);
	ipt2bpf_put32(out + 8, t->ack);
	out[12] = (uint8_t)(doff << 4);
	out[13] = t->flags;
	ipt2bpf_put16(out + 14, t->window);
	if (t->optlen)
		memcpy(out + IPT2BPF_TCP_HLEN, t->opts, t->optlen);
	if (plen)
		memcpy(out + IPT2BPF_TCP_HLEN + t->optlen, payload, plen);
	sum = ipt2bpf_csum_pseudo(saddr, daddr, 6, len);
	ipt2bpf_put16(out + 16, ipt2bpf_csum_fold(ipt2bpf_csum_add(sum, out, len)));
	return (int)len;
}

static inline int ipt2bpf_pkt_udp(uint8_t *out, size_t cap, uint32_t saddr, uint32_t daddr,
				  uint16_t sport, uint16_t dport, const void *payload, size_t plen)
{
	size_t len = IPT2BPF_UDP_HLEN + plen;
	uint16_t csum;

	if (len > cap)
		return -E2BIG;
	ipt2bpf_put16(out, sport);
	ipt2bpf_put16(out + 2, dport);
	ipt2bpf_put16(out + 4, (uint16_t)len);
	ipt2bpf_put16(out + 6, 0);
	if (plen)
		memcpy(out + IPT2BPF_UDP_HLEN, payload, plen);
	csum = ipt2bpf_csum_fold(
		ipt2bpf_csum_add(ipt2bpf_csum_pseudo(saddr, daddr, 17, len), out, len));
	/* 0 means "no checksum" in UDP: a computed 0 goes on the wire as 0xffff. */
	ipt2bpf_put16(out + 6, csum ? csum : 0xffff);
	return (int)len;
}

/* ICMP with REST as the second header word (id/sequence, gateway, mtu...). */
static inline int ipt2bpf_pkt_icmp(uint8_t *out, size_t cap, uint8_t type, uint8_t code,
				   uint32_t rest, const void *payload, size_t plen)
{
	size_t len = IPT2BPF_ICMP_HLEN + plen;

	if (len > cap)
		return -E2BIG;
	out[0] = type;
	out[1] = code;
	ipt2bpf_put16(out + 2, 0);
	ipt2bpf_put32(out + 4, rest);
	if (plen)
		memcpy(out + IPT2BPF_ICMP_HLEN, payload, plen);
	ipt2bpf_put16(out + 2, ipt2bpf_csum_fold(ipt2bpf_csum_add(0, out, len)));
	return (int)len;
}

/* ------------------------------------------------------ Ethernet + IPv4 */

struct ipt2bpf_ip4 {
	uint32_t saddr, daddr; /* host byte order */
	uint8_t proto, ttl, tos;
	uint16_t id;
	uint16_t frag;	     /* IP_DF/IP_MF flags | offset in 8-byte units */
	const uint8_t *opts; /* IP options, padded by the caller */
	size_t optlen;	     /* a multiple of 4, at most 40 */
};

#define IPT2BPF_IP_MF	   0x2000u
#define IPT2BPF_IP_DF	   0x4000u
#define IPT2BPF_IP_OFFMASK 0x1fffu

static inline void ipt2bpf_pkt_eth(uint8_t *frame, const uint8_t dst[6], const uint8_t src[6],
				   uint16_t ethertype)
{
	memcpy(frame, dst, 6);
	memcpy(frame + 6, src, 6);
	ipt2bpf_put16(frame + 12, ethertype);
}

/* Recompute the checksum of the IPv4 header at IPH (its ihl says how long). */
static inline void ipt2bpf_ip_fix_csum(uint8_t *iph)
{
	size_t hl = (size_t)(iph[0] & 0xf) * 4;

	ipt2bpf_put16(iph + 10, 0);
	ipt2bpf_put16(iph + 10, ipt2bpf_csum_fold(ipt2bpf_csum_add(0, iph, hl)));
}

/*
 * Ethernet header + IPv4 header (+ options) + PAYLOAD into FRAME: tot_len is
 * header + payload and the header checksum is right. Returns the frame length.
 */
static inline int ipt2bpf_pkt_ipv4(uint8_t *frame, size_t cap, const uint8_t dst[6],
				   const uint8_t src[6], const struct ipt2bpf_ip4 *ip,
				   const void *payload, size_t plen)
{
	size_t hl = IPT2BPF_IP_HLEN + ip->optlen;
	size_t len = IPT2BPF_ETH_HLEN + hl + plen;
	uint8_t *iph = frame + IPT2BPF_ETH_HLEN;

	if (len > cap || ip->optlen > 40 || ip->optlen % 4)
		return -E2BIG;
	ipt2bpf_pkt_eth(frame, dst, src, IPT2BPF_ETH_P_IP);
	iph[0] = (uint8_t)(0x40 | hl / 4);
	iph[1] = ip->tos;
	ipt2bpf_put16(iph + 2, (uint16_t)(hl + plen));
	ipt2bpf_put16(iph + 4, ip->id);
	ipt2bpf_put16(iph + 6, ip->frag);
	iph[8] = ip->ttl;
	iph[9] = ip->proto;
	ipt2bpf_put32(iph + 12, ip->saddr);
	ipt2bpf_put32(iph + 16, ip->daddr);
	if (ip->optlen)
		memcpy(iph + IPT2BPF_IP_HLEN, ip->opts, ip->optlen);
	if (plen)
		memcpy(iph + hl, payload, plen);
	ipt2bpf_ip_fix_csum(iph);
	return (int)len;
}

#endif
