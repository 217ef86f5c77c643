// SPDX-License-Identifier: GPL-2.0
/*
 * LOG records to the kernel's lines (see rt_log.h).  The formatter follows
 * nf_log_syslog.c (nf_log_ip_packet(), dump_mac_header(),
 * dump_ipv4_packet() and the TCP/UDP helpers) field for field, including
 * its quirks: fields end with a space, TOS/PREC and option bytes are upper
 * case hex while RES and MAC are lower case, a truncated transport header
 * ends the line before MARK=, ICMP errors print the quoted datagram in
 * brackets (one level deep), AH in a later fragment prints no PROTO at all.
 * Reads past the datagram's length fail exactly where skb_header_pointer()
 * fails, because the record carries the datagram's length and every byte
 * the kernel's dump reads (IPT2BPF_LOG_DATA).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/if_arp.h>
#include <linux/audit.h>
#include <linux/netfilter.h>

#include "rt_internal.h"
#include "rt_log.h"

/* ------------------------------------------------------------ formatting */

/* nf_log_buf: the kernel's line buffer (S_SIZE) drops what does not fit. */
#define LINE_MAX_LEN (1024 - (sizeof(unsigned int) + 1))

struct lbuf {
	char *s;
	size_t len, cap; /* cap: usable characters */
};

__attribute__((format(printf, 2, 3))) static void add(struct lbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->len >= b->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->cap - b->len + 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* nf_log_buf_add() keeps a partial write at the end of a full buffer. */
	b->len += (size_t)n < b->cap - b->len ? (size_t)n : b->cap - b->len;
}

/* The packet as skb_header_pointer() sees it: len bytes, of which data holds caplen. */
struct lpkt {
	const uint8_t *data;
	uint32_t len, caplen;
};

static const uint8_t *hp(const struct lpkt *p, uint32_t off, uint32_t n)
{
	if ((uint64_t)off + n > p->len)
		return NULL;
	if ((uint64_t)off + n > p->caplen)
		return NULL; /* cannot happen: the record keeps every byte the dump reads */
	return p->data + off;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void add_ip(struct lbuf *b, const char *fmt, const uint8_t *a)
{
	char s[INET_ADDRSTRLEN];

	snprintf(s, sizeof(s), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
	add(b, fmt, s);
}

static void add_hex_upper(struct lbuf *b, const uint8_t *p, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		add(b, "%02X", p[i]);
}

/*
 * Kernels with AccECN's TCP header (struct tcphdr has an `ae' bit, 6.18)
 * print the AE flag and only three reserved bits ("RES=0x38 AE CWR ...");
 * older ones four ("RES=0x3c CWR ...").  Asked once of the running kernel's
 * BTF, else of its version.
 */
static int tcp_ae = -1; /* -1: ask the kernel */

void ipt2bpf_log_set_tcp_ae(enum ipt2bpf_log_tcp_ae v)
{
	tcp_ae = v == IPT2BPF_LOG_AE_AUTO ? -1 : v == IPT2BPF_LOG_AE_YES;
}

static bool kernel_tcp_ae(void)
{
	int ae = tcp_ae;
	struct utsname u;
	unsigned int major, minor;
	struct btf *btf;

	if (ae >= 0)
		return ae;
	ae = 0;
	tcp_ae = 0;
	btf = btf__load_vmlinux_btf();
	if (btf && !libbpf_get_error(btf)) {
		int id = btf__find_by_name_kind(btf, "tcphdr", BTF_KIND_STRUCT);

		if (id > 0) {
			const struct btf_type *t = btf__type_by_id(btf, (uint32_t)id);
			const struct btf_member *m = btf_members(t);

			for (unsigned int i = 0; i < btf_vlen(t); i++)
				if (!strcmp(btf__name_by_offset(btf, m[i].name_off), "ae"))
					ae = 1;
			btf__free(btf);
			tcp_ae = ae;
			return ae;
		}
		btf__free(btf);
	}
	if (!uname(&u) && sscanf(u.release, "%u.%u", &major, &minor) == 2)
		ae = major > 6 || (major == 6 && minor >= 18);
	tcp_ae = ae;
	return ae;
}

/* nf_log_dump_tcp_header(): 1 when the line must end (truncated). */
static int dump_tcp(struct lbuf *b, const struct lpkt *p, bool fragment, uint32_t off,
		    unsigned int flags)
{
	const uint8_t *th;
	unsigned int doff;

	add(b, "PROTO=TCP ");
	if (fragment)
		return 0;
	th = hp(p, off, 20);
	if (!th) {
		add(b, "INCOMPLETE [%u bytes] ", p->len - off);
		return 1;
	}
	add(b, "SPT=%u DPT=%u ", rd16(th), rd16(th + 2));
	if (flags & XT_LOG_TCPSEQ)
		add(b, "SEQ=%u ACK=%u ", rd32(th + 4), rd32(th + 8));
	add(b, "WINDOW=%u ", rd16(th + 14));
	if (kernel_tcp_ae()) {
		add(b, "RES=0x%02x ", (unsigned int)((rd32(th + 12) & 0x0E000000U) >> 22));
		if (th[12] & 0x01)
			add(b, "AE ");
	} else {
		add(b, "RES=0x%02x ", (unsigned int)((rd32(th + 12) & 0x0F000000U) >> 22));
	}
	if (th[13] & 0x80)
		add(b, "CWR ");
	if (th[13] & 0x40)
		add(b, "ECE ");
	if (th[13] & 0x20)
		add(b, "URG ");
	if (th[13] & 0x10)
		add(b, "ACK ");
	if (th[13] & 0x08)
		add(b, "PSH ");
	if (th[13] & 0x04)
		add(b, "RST ");
	if (th[13] & 0x02)
		add(b, "SYN ");
	if (th[13] & 0x01)
		add(b, "FIN ");
	add(b, "URGP=%u ", rd16(th + 18));
	doff = (unsigned int)(th[12] >> 4) * 4;
	if ((flags & XT_LOG_TCPOPT) && doff > 20) {
		const uint8_t *op = hp(p, off + 20, doff - 20);

		if (!op) {
			add(b, "OPT (TRUNCATED)");
			return 1;
		}
		add(b, "OPT (");
		add_hex_upper(b, op, doff - 20);
		add(b, ") ");
	}
	return 0;
}

/* nf_log_dump_udp_header() */
static int dump_udp(struct lbuf *b, const struct lpkt *p, uint8_t proto, bool fragment,
		    uint32_t off)
{
	const uint8_t *uh;

	add(b, proto == IPPROTO_UDP ? "PROTO=UDP " : "PROTO=UDPLITE ");
	if (fragment)
		return 0;
	uh = hp(p, off, 8);
	if (!uh) {
		add(b, "INCOMPLETE [%u bytes] ", p->len - off);
		return 1;
	}
	add(b, "SPT=%u DPT=%u LEN=%u ", rd16(uh), rd16(uh + 2), rd16(uh + 4));
	return 0;
}

#define NR_ICMP_TYPES_ 18

/* dump_ipv4_packet(): iphoff 0 is the packet, else the datagram an ICMP error quotes. */
static void dump_ipv4(struct lbuf *b, const struct lpkt *p, unsigned int flags, uint32_t mark,
		      uint32_t iphoff, unsigned int hook)
{
	static const uint8_t required_len[NR_ICMP_TYPES_ + 1] = {
		[0] = 4,   [3] = 28,  [4] = 28,	 [5] = 28,  [8] = 4,   [11] = 28,
		[12] = 28, [13] = 20, [14] = 20, [17] = 12, [18] = 12,
	};
	const uint8_t *ih = hp(p, iphoff, 20);
	unsigned int ihl, frag;
	uint32_t thoff;
	bool fragment;

	if (!ih) {
		add(b, "TRUNCATED");
		return;
	}
	ihl = (ih[0] & 0x0f) * 4U;
	frag = rd16(ih + 6);
	fragment = frag & 0x1fff;
	thoff = iphoff + ihl;
	add_ip(b, "SRC=%s ", ih + 12);
	add_ip(b, "DST=%s ", ih + 16);
	/* ip_forward() decrements the TTL before the FORWARD hook; TC sees it before. */
	add(b, "LEN=%u TOS=0x%02X PREC=0x%02X TTL=%u ID=%u ", rd16(ih + 2), ih[1] & 0x1e,
	    ih[1] & 0xe0, !iphoff && hook == NF_INET_FORWARD ? ih[8] - 1U : ih[8], rd16(ih + 4));
	if (frag & 0x8000)
		add(b, "CE ");
	if (frag & 0x4000)
		add(b, "DF ");
	if (frag & 0x2000)
		add(b, "MF ");
	if (frag & 0x1fff)
		add(b, "FRAG:%u ", frag & 0x1fff);
	if ((flags & XT_LOG_IPOPT) && ihl > 20) {
		const uint8_t *op = hp(p, iphoff + 20, ihl - 20);

		if (!op) {
			add(b, "TRUNCATED");
			return;
		}
		add(b, "OPT (");
		add_hex_upper(b, op, ihl - 20);
		add(b, ") ");
	}

	switch (ih[9]) {
	case IPPROTO_TCP:
		if (dump_tcp(b, p, fragment, thoff, flags))
			return;
		break;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		if (dump_udp(b, p, ih[9], fragment, thoff))
			return;
		break;
	case IPPROTO_ICMP: {
		const uint8_t *ich;
		uint8_t type, code;

		add(b, "PROTO=ICMP ");
		if (fragment)
			break;
		ich = hp(p, thoff, 8);
		if (!ich) {
			add(b, "INCOMPLETE [%u bytes] ", p->len - iphoff - ihl);
			break;
		}
		type = ich[0];
		code = ich[1];
		add(b, "TYPE=%u CODE=%u ", type, code);
		if (type <= NR_ICMP_TYPES_ && required_len[type] &&
		    p->len - iphoff - ihl < required_len[type]) {
			add(b, "INCOMPLETE [%u bytes] ", p->len - iphoff - ihl);
			break;
		}
		switch (type) {
		case 0: /* ICMP_ECHOREPLY */
		case 8: /* ICMP_ECHO */
			add(b, "ID=%u SEQ=%u ", rd16(ich + 4), rd16(ich + 6));
			break;
		case 12: /* ICMP_PARAMETERPROB */
			add(b, "PARAMETER=%u ", ich[4]);
			break;
		case 5: /* ICMP_REDIRECT */
			add_ip(b, "GATEWAY=%s ", ich + 4);
			/* fall through */
		case 3:	 /* ICMP_DEST_UNREACH */
		case 4:	 /* ICMP_SOURCE_QUENCH */
		case 11: /* ICMP_TIME_EXCEEDED */
			if (!iphoff) {
				add(b, "[");
				dump_ipv4(b, p, flags, mark, thoff + 8, hook);
				add(b, "] ");
			}
			if (type == 3 && code == 4) /* ICMP_FRAG_NEEDED */
				add(b, "MTU=%u ", rd16(ich + 6));
			break;
		}
		break;
	}
	case IPPROTO_AH: {
		const uint8_t *ah;

		if (fragment)
			break;
		add(b, "PROTO=AH ");
		ah = hp(p, thoff, 12);
		if (!ah) {
			add(b, "INCOMPLETE [%u bytes] ", p->len - iphoff - ihl);
			break;
		}
		add(b, "SPI=0x%x ", rd32(ah + 4));
		break;
	}
	case IPPROTO_ESP: {
		const uint8_t *eh;

		add(b, "PROTO=ESP ");
		if (fragment)
			break;
		eh = hp(p, thoff, 8);
		if (!eh) {
			add(b, "INCOMPLETE [%u bytes] ", p->len - iphoff - ihl);
			break;
		}
		add(b, "SPI=0x%x ", rd32(eh));
		break;
	}
	default:
		add(b, "PROTO=%u ", ih[9]);
	}
	/*
	 * --log-uid: skb->sk is NULL in FORWARD, the only hook the code generator
	 * allows the flag in (t_LOG.c), so the kernel prints nothing either.
	 */
	if (!iphoff && mark)
		add(b, "MARK=0x%x ", mark);
}

static void add_mac(struct lbuf *b, const char *fmt, const uint8_t *m)
{
	char s[18];

	snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	add(b, fmt, s);
}

/* dump_mac_header(): devices here are Ethernet or loopback (hard_header_len 14). */
static void dump_mac(struct lbuf *b, const struct ipt2bpf_log_rec *r, unsigned int logflags,
		     const struct ipt2bpf_log_dev *in)
{
	bool have = r->flags & IPT2BPF_LOG_F_MAC;

	if ((logflags & XT_LOG_MACDECODE) && in->ether) {
		if (!have)
			return;
		add_mac(b, "MACSRC=%s ", r->mac + ETH_ALEN);
		add_mac(b, "MACDST=%s ", r->mac);
		if (r->flags & IPT2BPF_LOG_F_VLAN)
			add(b, "VPROTO=%04x VID=%u ", ntohs(r->vlan_proto), r->vlan_tci);
		add(b, "MACPROTO=%04x ", rd16(r->mac + 12));
		return;
	}
	add(b, "MAC=");
	if (have) {
		add(b, "%02x", r->mac[0]);
		for (unsigned int i = 1; i < ETH_HLEN; i++)
			add(b, ":%02x", r->mac[i]);
	}
	add(b, " ");
}

/* The current namespace's device: name and hardware type. */
static int dev_default(uint32_t ifindex, struct ipt2bpf_log_dev *dev, void *arg)
{
	struct ifreq ifr = {0};
	int fd, err = 0;

	(void)arg;
	if (!if_indextoname(ifindex, dev->name))
		return -errno;
	dev->ether = true;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev->name);
	if (!ioctl(fd, SIOCGIFHWADDR, &ifr))
		dev->ether = ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER;
	else
		err = 0; /* vanished since: name it anyway */
	close(fd);
	return err;
}

static void dev_get(ipt2bpf_log_dev_fn fn, void *arg, uint32_t ifindex, struct ipt2bpf_log_dev *d)
{
	memset(d, 0, sizeof(*d));
	if (!ifindex)
		return;
	if ((fn ? fn : dev_default)(ifindex, d, arg)) {
		snprintf(d->name, sizeof(d->name), "if%u", ifindex);
		d->ether = true;
	}
}

/* NFULNL_COPY_RANGE_MAX: the most payload an nfnetlink_log listener can ask for. */
#define NFLOG_RANGE_MAX (0xffff - 4)

/*
 * NFLOG: the payload length nfulnl_log_packet() gives a listener in packet
 * copy mode with the largest range: the datagram, cut at --nflog-size.
 */
static uint32_t nflog_caplen(const struct ipt2bpf_log_rec *r)
{
	uint32_t n = NFLOG_RANGE_MAX;

	if ((r->nflog.flags & XT_NFLOG_F_COPY_LEN) && r->nflog.len < n)
		n = r->nflog.len;
	return n < r->len ? n : r->len;
}

/*
 * AUDIT: the kernel's NETFILTER_PKT record as kauditd prints it when no
 * audit daemon runs (xt_AUDIT.c audit_tg(), kauditd_printk_skb()).
 */
static int format_audit(const struct ipt2bpf_log_rec *r, struct lbuf *b)
{
	struct timespec real, boot;
	int64_t ns = (int64_t)r->audit.boot_ns;

	if (!clock_gettime(CLOCK_REALTIME, &real) && !clock_gettime(CLOCK_BOOTTIME, &boot))
		ns += ((int64_t)real.tv_sec - boot.tv_sec) * 1000000000 +
		      (real.tv_nsec - boot.tv_nsec);
	if (ns < 0)
		ns = 0;
	/* The kernel's %#x prints "0x0" for 0 (printf's prints "0"). */
	add(b, "audit: type=%u audit(%lld.%03lld:%u): mark=0x%x", AUDIT_NETFILTER_PKT,
	    (long long)(ns / 1000000000), (long long)(ns % 1000000000 / 1000000), r->audit.serial,
	    r->mark);
	if (r->caplen < 20) {
		add(b, " saddr=? daddr=? proto=-1");
		return (int)b->len;
	}
	add_ip(b, " saddr=%s", r->data + 12);
	add_ip(b, " daddr=%s", r->data + 16);
	add(b, " proto=%u", r->data[9]);
	return (int)b->len;
}

int ipt2bpf_log_format(const void *rec, size_t rec_len, ipt2bpf_log_dev_fn dev_fn, void *arg,
		       char *buf, size_t len)
{
	const struct ipt2bpf_log_rec *r = rec;
	struct ipt2bpf_log_dev in, out;
	struct lbuf b = {.s = buf};
	const char *prefix;
	size_t plen;
	unsigned int logflags;
	struct lpkt p;
	bool has_in;

	if (!len)
		return -EINVAL;
	buf[0] = 0;
	if (rec_len < sizeof(*r) || r->magic != IPT2BPF_LOG_MAGIC || r->caplen > sizeof(r->data))
		return -EINVAL;
	b.cap = len - 1 < LINE_MAX_LEN ? len - 1 : LINE_MAX_LEN;
	switch (r->kind) {
	case IPT2BPF_LOG_K_LOG:
		prefix = r->info.prefix;
		plen = strnlen(r->info.prefix, sizeof(r->info.prefix));
		logflags = r->info.logflags;
		break;
	case IPT2BPF_LOG_K_NFLOG:
		/* The LOG line without LOG's options, as ulogd's LOGEMU prints it. */
		prefix = r->nflog.prefix;
		plen = strnlen(r->nflog.prefix, sizeof(r->nflog.prefix));
		logflags = 0;
		break;
	case IPT2BPF_LOG_K_AUDIT:
		return format_audit(r, &b);
	default:
		return -EINVAL;
	}
	/* xt_in()/xt_out() of the hook: INPUT has no output device, OUTPUT no input device. */
	has_in = r->hook == NF_INET_LOCAL_IN || r->hook == NF_INET_FORWARD ||
		 r->hook == NF_INET_PRE_ROUTING;
	dev_get(dev_fn, arg, has_in ? r->iif : 0, &in);
	dev_get(dev_fn, arg,
		r->hook == NF_INET_LOCAL_IN || r->hook == NF_INET_PRE_ROUTING ? 0 : r->oif, &out);
	add(&b, "%.*sIN=%s OUT=%s ", (int)plen, prefix, in.name, out.name);
	if (has_in && r->iif)
		dump_mac(&b, r, logflags, &in);
	p = (struct lpkt){.data = r->data, .len = r->len, .caplen = r->caplen};
	if (r->kind == IPT2BPF_LOG_K_NFLOG) {
		/* A listener gets the mark even where the line ends early (truncated header). */
		dump_ipv4(&b, &p, logflags, 0, 0, r->hook);
		if (b.len && buf[b.len - 1] != ' ')
			add(&b, " ");
		if (r->mark)
			add(&b, "MARK=0x%x ", r->mark);
		add(&b, "GROUP=%u CAPLEN=%u ", r->nflog.group, nflog_caplen(r));
		return (int)b.len;
	}
	dump_ipv4(&b, &p, logflags, r->mark, 0, r->hook);
	return (int)b.len;
}

/* ------------------------------------------------------------ reading */

#define GEN_CHECK_MS 200 /* how often a waiting reader looks for a new rule set */

struct ipt2bpf_log {
	struct ipt2bpf_runtime *rt; /* NULL: a fixed map (open_fd) */
	ipt2bpf_log_dev_fn dev_fn;
	void *dev_arg;
	struct ring_buffer *rb;
	int map_fd;   /* ours when rt != NULL */
	int efd;      /* epoll over the ring buffer's epoll fd */
	char gen[32]; /* generation of map_fd */
	ipt2bpf_log_cb cb;
	void *cb_arg;
	int cb_err;
	unsigned int n;
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct ipt2bpf_log *l = ctx;
	const struct ipt2bpf_log_rec *r = data;
	char line[LINE_MAX_LEN + 1];
	struct ipt2bpf_log_line ln;
	int n, err;

	n = ipt2bpf_log_format(data, size, l->dev_fn, l->dev_arg, line, sizeof(line));
	if (n < 0)
		return 0; /* not a record of ours: skip it */
	ln = (struct ipt2bpf_log_line){.text = line,
				       .len = (size_t)n,
				       .level = r->kind == IPT2BPF_LOG_K_LOG ? r->info.level : 5,
				       .kind = r->kind,
				       .hook = r->hook,
				       .table = r->table,
				       .entry = r->entry,
				       .rec = r};
	l->n++;
	if (!l->cb)
		return 0;
	err = l->cb(&ln, l->cb_arg);
	if (err < 0) {
		l->cb_err = err;
		return err;
	}
	return 0;
}

static void reader_drop(struct ipt2bpf_log *l)
{
	if (l->rb) {
		epoll_ctl(l->efd, EPOLL_CTL_DEL, ring_buffer__epoll_fd(l->rb), NULL);
		ring_buffer__free(l->rb);
		l->rb = NULL;
	}
	if (l->rt && l->map_fd >= 0)
		close(l->map_fd);
	l->map_fd = -1;
	l->gen[0] = 0;
}

static int reader_attach(struct ipt2bpf_log *l, int map_fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int err;

	l->rb = ring_buffer__new(map_fd, on_record, l, NULL);
	if (!l->rb)
		return -errno ? -errno : -EINVAL;
	if (epoll_ctl(l->efd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(l->rb), &ev)) {
		err = -errno;
		ring_buffer__free(l->rb);
		l->rb = NULL;
		return err;
	}
	return 0;
}

/* The generation in force ("g<N>"), or "" when nothing is loaded. */
static void current_gen(const struct ipt2bpf_runtime *rt, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;

	buf[0] = 0;
	if (rt_path(rt, path, sizeof(path), "current"))
		return;
	n = readlink(path, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	if (strchr(buf, '/'))
		memmove(buf, strrchr(buf, '/') + 1, strlen(strrchr(buf, '/')));
}

/* Follows a rule set replacement: drain the old ring buffer, open the new one. */
static int reader_sync(struct ipt2bpf_log *l)
{
	char gen[sizeof(l->gen)], path[PATH_MAX];
	int fd, err;

	if (!l->rt)
		return 0;
	current_gen(l->rt, gen, sizeof(gen));
	if (!strcmp(gen, l->gen) && (l->rb || !gen[0]))
		return 0;
	if (l->rb) {
		ring_buffer__consume(l->rb);
		if (l->cb_err)
			return l->cb_err;
	}
	reader_drop(l);
	if (!gen[0])
		return 0;
	if (rt_path(l->rt, path, sizeof(path), "%s/map_%s", gen, IPT2BPF_MAP_LOG))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		/* No LOG rule in this rule set, or it was replaced meanwhile: look again later. */
		if (errno == ENOENT) {
			snprintf(l->gen, sizeof(l->gen), "%s", gen);
			return 0;
		}
		return -errno;
	}
	l->map_fd = fd;
	err = reader_attach(l, fd);
	if (err) {
		reader_drop(l);
		return err;
	}
	snprintf(l->gen, sizeof(l->gen), "%s", gen);
	return 0;
}

static struct ipt2bpf_log *reader_new(ipt2bpf_log_dev_fn dev_fn, void *dev_arg)
{
	struct ipt2bpf_log *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->dev_fn = dev_fn;
	l->dev_arg = dev_arg;
	l->map_fd = -1;
	l->efd = epoll_create1(EPOLL_CLOEXEC);
	if (l->efd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

int ipt2bpf_log_open(struct ipt2bpf_runtime *rt, ipt2bpf_log_dev_fn dev_fn, void *dev_arg,
		     struct ipt2bpf_log **out, struct ipt2bpf_diag *diag)
{
	struct ipt2bpf_log *l;
	int err;

	*out = NULL;
	l = reader_new(dev_fn, dev_arg);
	if (!l)
		return ipt2bpf_diag_set(diag, -errno, "log reader: %s", strerror(errno));
	l->rt = rt;
	err = reader_sync(l);
	if (err) {
		ipt2bpf_log_close(l);
		return ipt2bpf_diag_set(diag, err, "%s: cannot open the LOG ring buffer: %s",
					ipt2bpf_rt_dir(rt), strerror(-err));
	}
	*out = l;
	return 0;
}

int ipt2bpf_log_open_fd(int map_fd, ipt2bpf_log_dev_fn dev_fn, void *dev_arg,
			struct ipt2bpf_log **out, struct ipt2bpf_diag *diag)
{
	struct ipt2bpf_log *l;
	int err;

	*out = NULL;
	l = reader_new(dev_fn, dev_arg);
	if (!l)
		return ipt2bpf_diag_set(diag, -errno, "log reader: %s", strerror(errno));
	err = reader_attach(l, map_fd);
	if (err) {
		ipt2bpf_log_close(l);
		return ipt2bpf_diag_set(diag, err, "cannot read the LOG ring buffer: %s",
					strerror(-err));
	}
	l->map_fd = map_fd;
	*out = l;
	return 0;
}

int ipt2bpf_log_poll(struct ipt2bpf_log *l, int timeout_ms, ipt2bpf_log_cb cb, void *arg)
{
	int err, waited = 0;

	l->cb = cb;
	l->cb_arg = arg;
	l->cb_err = 0;
	l->n = 0;
	for (;;) {
		struct epoll_event ev;
		int slice, n;

		err = reader_sync(l);
		if (err)
			return err;
		if (l->rb) {
			n = ring_buffer__consume(l->rb);
			if (l->cb_err)
				return l->cb_err;
			if (n < 0)
				return n;
		}
		if (l->n || (timeout_ms >= 0 && waited >= timeout_ms))
			return (int)l->n;
		/* Without a rule set to follow, only the clock can end the wait. */
		slice = l->rt ? GEN_CHECK_MS : -1;
		if (timeout_ms >= 0 && (slice < 0 || timeout_ms - waited < slice))
			slice = timeout_ms - waited;
		n = epoll_wait(l->efd, &ev, 1, slice);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n < 0)
			return (int)l->n; /* a signal: let the caller look at its flags */
		if (!n)
			waited += slice;
	}
}

int ipt2bpf_log_fd(const struct ipt2bpf_log *l)
{
	return l->efd;
}

const char *ipt2bpf_log_generation(const struct ipt2bpf_log *l)
{
	return l->gen;
}

void ipt2bpf_log_close(struct ipt2bpf_log *l)
{
	if (!l)
		return;
	reader_drop(l);
	if (l->efd >= 0)
		close(l->efd);
	free(l);
}

void ipt2bpf_log_closep(struct ipt2bpf_log **l)
{
	ipt2bpf_log_close(*l);
	*l = NULL;
}
