// SPDX-License-Identifier: GPL-2.0
/*
 * kdiff: the kernel as the oracle of the differential test.
 *
 *   kdiff [--rules R.v4] --pcap P --chain INPUT|FORWARD|OUTPUT
 *         --inject-ns NS --inject-dev DEV [--in-dev vin] [--table filter|security]
 *
 * Runs as root inside the firewall namespace (tests/diff/topology.sh). Loads
 * R.v4 with iptables-legacy-restore, then sends every packet of P through the
 * real ip_tables and prints, per packet, what `ipt2bpf trace --json` prints:
 *
 *   {"n":1,"verdict":"DROP","counted":["INPUT#2","block#4"],"policy":false}
 *
 * The answer comes from per-rule counter deltas (IPT_SO_GET_ENTRIES read on a
 * raw socket, before and after each packet) plus helper rules kdiff loads
 * into other tables:
 *
 *   mangle PREROUTING  -s SENTINEL -j DROP   sentinel: INPUT/FORWARD packets
 *                                            are injected on a veth and handled
 *                                            in softirq; the sentinel sent after
 *                                            each packet tells when it is done
 *   mangle <CHAIN>     (no match)            presence: the packet reached the
 *                                            hook at all (else PASS)
 *   mangle OUTPUT      -j DROP               INPUT/FORWARD only: silences what
 *                                            fw itself would send (RSTs, ICMP
 *                                            errors), which would move OUTPUT
 *                                            counters
 *   mangle PREROUTING  ! -i IN_DEV -j DROP   INPUT/FORWARD (OUTPUT: -j DROP):
 *                                            nothing else reaches filter, e.g.
 *                                            a neighbour's ICMP error about one
 *                                            of our OUTPUT packets
 *   security <CHAIN>   (no match)            accepted: security runs after
 *                                            filter on the same hook, so this
 *                                            counts exactly what filter accepted
 *
 * INPUT/FORWARD packets leave an AF_PACKET socket opened inside the client
 * namespace NS on DEV (setns() once at start) with the destination MAC
 * rewritten to fw's DEV peer (--in-dev). OUTPUT packets leave a raw
 * IP_HDRINCL socket in fw: its sendmsg() runs the OUTPUT hook synchronously;
 * a complete fragment series goes out as the datagram it was cut from (the
 * kernel fragments after OUTPUT, see plan_datagrams()).
 * The process pins itself to one CPU so that packets and sentinel share a
 * backlog queue and are handled in order.
 *
 * --marks FILE gives each packet the skb mark it arrives with (one number per
 * line): a raw-table rule sets it (PREROUTING on IN_DEV, and OUTPUT), and is
 * replaced whenever the next packet's mark differs.  --keep-macs sends the
 * frames' own source MAC and broadcast/multicast destinations (-m mac,
 * -m pkttype); unicast destinations still become the peer's address.
 * --capture-ns NS --capture-dev DEV --capture-pcap FILE records what reaches
 * DEV in NS after each packet (the forwarded or sent packet as the kernel's
 * targets left it, TCPMSS), the packet's number as the record's time.
 *
 * Verdict: PASS if the presence detector did not count; else ACCEPT if the
 * accepted detector counted, DROP if not. That is cross-checked with the
 * filter counters (the counted ACCEPT/DROP rule or policy; no terminal entry
 * counted = hotdrop = DROP): a disagreement is reported and makes the exit
 * status 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
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
#include <poll.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include "tests/tools/pcap.h"
#include "translator/util.h"

#define DEFAULT_SENTINEL "10.200.1.254"
#define DEFAULT_IN_DEV	 "vin"
#define DEFAULT_RESTORE	 "iptables-legacy-restore"
#define SENTINEL_WAIT_MS 3000
#define VERDICT_ACCEPT	 (-NF_ACCEPT - 1)
#define VERDICT_DROP	 (-NF_DROP - 1)

static const char *const hook_names[NF_INET_NUMHOOKS] = {
	[NF_INET_PRE_ROUTING] = "PREROUTING",	[NF_INET_LOCAL_IN] = "INPUT",
	[NF_INET_FORWARD] = "FORWARD",		[NF_INET_LOCAL_OUT] = "OUTPUT",
	[NF_INET_POST_ROUTING] = "POSTROUTING",
};

static bool verbose;

/* ------------------------------------------------------------------ tables */

enum ent_kind { K_RULE, K_POLICY, K_TAIL, K_HEAD, K_END };
enum terminal { TERM_NONE, TERM_ACCEPT, TERM_DROP, TERM_OTHER };

struct chain {
	char name[XT_EXTENSION_MAXNAMELEN];
	int hook; /* built-in: its hook; user chain: -1 */
};

struct ent {
	unsigned int off;
	enum ent_kind kind;
	int chain; /* index in table.chains, -1 for the END entry */
	int rule;  /* 1-based rule number for K_RULE */
	enum terminal term;
};

struct table {
	char name[XT_TABLE_MAXNAMELEN];
	struct ipt_getinfo info;
	struct ipt_get_entries *buf;
	size_t buflen;
	struct ent *ents;
	unsigned int n;
	uint64_t *pcnt;
	struct chain *chains;
	int nchains;
};

static void table_free(struct table *t)
{
	free(t->buf);
	free(t->ents);
	free(t->pcnt);
	free(t->chains);
	memset(t, 0, sizeof(*t));
}

static struct ipt_entry *entry_at(const struct table *t, unsigned int off)
{
	return (struct ipt_entry *)((char *)t->buf->entrytable + off);
}

static int table_read(int fd, struct table *t)
{
	socklen_t len = (socklen_t)t->buflen;
	unsigned int off = 0, i = 0;

	if (getsockopt(fd, IPPROTO_IP, IPT_SO_GET_ENTRIES, t->buf, &len) < 0) {
		int err = -errno;

		fprintf(stderr, "kdiff: %s: IPT_SO_GET_ENTRIES: %s\n", t->name, strerror(errno));
		return err;
	}
	while (off < t->info.size && i < t->n) {
		const struct ipt_entry *e = entry_at(t, off);

		t->pcnt[i++] = e->counters.pcnt;
		off += e->next_offset;
	}
	return 0;
}

static int find_hook(const char *name)
{
	for (int h = 0; h < NF_INET_NUMHOOKS; h++)
		if (!strcmp(hook_names[h], name))
			return h;
	return -1;
}

static int add_chain(struct table *t, const char *name, int hook)
{
	struct chain *c = realloc(t->chains, sizeof(*c) * (size_t)(t->nchains + 1));

	if (!c)
		return -ENOMEM;
	t->chains = c;
	c += t->nchains;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->hook = hook;
	return t->nchains++;
}

static enum terminal std_terminal(const struct xt_entry_target *tg)
{
	const struct xt_standard_target *st = (const void *)tg;

	if (strcmp(tg->u.user.name, XT_STANDARD_TARGET))
		return TERM_OTHER;
	if (st->verdict == VERDICT_ACCEPT)
		return TERM_ACCEPT;
	if (st->verdict == VERDICT_DROP)
		return TERM_DROP;
	return TERM_NONE;
}

/*
 * GET_INFO, GET_ENTRIES, and the map from entries to what iptables -L shows:
 * a user chain starts with an ERROR entry naming it and ends with an
 * unconditional RETURN that is not a rule; a built-in chain starts at its
 * hook_entry and ends with its policy at its underflow; the table ends with
 * an ERROR entry named "ERROR".
 */
static int table_open(int fd, struct table *t, const char *name)
{
	socklen_t len = sizeof(t->info);
	unsigned int off = 0;
	int cur = -1, rule = 0, err;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->info.name, sizeof(t->info.name), "%s", name);
	if (getsockopt(fd, IPPROTO_IP, IPT_SO_GET_INFO, &t->info, &len) < 0) {
		err = -errno;
		fprintf(stderr, "kdiff: %s: IPT_SO_GET_INFO: %s\n", name, strerror(errno));
		return err;
	}
	t->buflen = sizeof(*t->buf) + t->info.size;
	t->buf = calloc(1, t->buflen);
	t->ents = calloc(t->info.num_entries, sizeof(*t->ents));
	t->pcnt = calloc(t->info.num_entries, sizeof(*t->pcnt));
	if (!t->buf || !t->ents || !t->pcnt)
		return -ENOMEM;
	snprintf(t->buf->name, sizeof(t->buf->name), "%s", name);
	t->buf->size = t->info.size;
	t->n = t->info.num_entries;
	err = table_read(fd, t);
	if (err)
		return err;

	for (unsigned int i = 0; i < t->n; i++) {
		const struct ipt_entry *e = entry_at(t, off);
		const struct xt_entry_target *tg =
			(const void *)((const char *)e + e->target_offset);
		struct ent *x = &t->ents[i];

		if (off >= t->info.size || e->next_offset < sizeof(*e)) {
			fprintf(stderr, "kdiff: %s: bad entry %u at offset %u\n", name, i, off);
			return -EINVAL;
		}
		x->off = off;
		for (int h = 0; h < NF_INET_NUMHOOKS; h++) {
			if ((t->info.valid_hooks & (1u << h)) && t->info.hook_entry[h] == off) {
				cur = add_chain(t, hook_names[h], h);
				if (cur < 0)
					return cur;
				rule = 0;
			}
		}
		if (!strcmp(tg->u.user.name, XT_ERROR_TARGET)) {
			if (i == t->n - 1) {
				x->kind = K_END;
				x->chain = -1;
			} else {
				cur = add_chain(t, (const char *)tg->data, -1);
				if (cur < 0)
					return cur;
				rule = 0;
				x->kind = K_HEAD;
				x->chain = cur;
			}
			off += e->next_offset;
			continue;
		}
		if (cur < 0) {
			fprintf(stderr, "kdiff: %s: entry %u belongs to no chain\n", name, i);
			return -EINVAL;
		}
		x->chain = cur;
		x->term = std_terminal(tg);
		if (t->chains[cur].hook >= 0 && t->info.underflow[t->chains[cur].hook] == off) {
			x->kind = K_POLICY;
		} else {
			x->kind = K_RULE;
			x->rule = ++rule;
		}
		off += e->next_offset;
	}
	/* a user chain's last entry is its implicit RETURN, not a rule */
	for (unsigned int i = 1; i < t->n; i++) {
		struct ent *prev = &t->ents[i - 1];

		if ((t->ents[i].kind == K_HEAD || t->ents[i].kind == K_END) &&
		    prev->kind == K_RULE && t->chains[prev->chain].hook < 0)
			prev->kind = K_TAIL;
	}
	return 0;
}

/* Entry index of the first entry of built-in chain HOOK. */
static int hook_first(const struct table *t, int hook)
{
	for (unsigned int i = 0; i < t->n; i++)
		if (t->ents[i].off == t->info.hook_entry[hook])
			return (int)i;
	return -1;
}

static int hook_policy(const struct table *t, int hook)
{
	for (unsigned int i = 0; i < t->n; i++)
		if (t->ents[i].off == t->info.underflow[hook])
			return (int)i;
	return -1;
}

/* iptables-save order: built-ins by hook, then user chains by name. */
static const struct table *sort_table;

static int cmp_ent(const void *a, const void *b)
{
	const struct ent *x = &sort_table->ents[*(const unsigned int *)a];
	const struct ent *y = &sort_table->ents[*(const unsigned int *)b];
	const struct chain *cx = &sort_table->chains[x->chain];
	const struct chain *cy = &sort_table->chains[y->chain];

	if (cx != cy) {
		if (cx->hook >= 0 || cy->hook >= 0)
			return (cx->hook >= 0 ? cx->hook : NF_INET_NUMHOOKS) -
			       (cy->hook >= 0 ? cy->hook : NF_INET_NUMHOOKS);
		return strcmp(cx->name, cy->name);
	}
	return x->rule - y->rule;
}

/* ---------------------------------------------------------------- restore */

static int run_restore(const char *cmd, int in_fd, const char *what)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (dup2(in_fd, STDIN_FILENO) < 0)
			_exit(127);
		execlp(cmd, cmd, "-w", (char *)NULL);
		fprintf(stderr, "kdiff: exec %s: %s\n", cmd, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "kdiff: %s < %s failed (status %d)\n", cmd, what,
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -EINVAL;
	}
	return 0;
}

static int restore_file(const char *cmd, const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "kdiff: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	return run_restore(cmd, fd, path);
}

static int restore_text(const char *cmd, const char *text, const char *what)
{
	int p[2], err;
	size_t len = strlen(text);

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	/* the text is far below the pipe's capacity: write all, then run */
	if (write(p[1], text, len) != (ssize_t)len) {
		err = -errno;
		close(p[0]);
		close(p[1]);
		return err ? err : -EIO;
	}
	close(p[1]);
	err = run_restore(cmd, p[0], what);
	close(p[0]);
	return err;
}

/* ---------------------------------------------------------------- sockets */

static int get_mac(int fd, const char *dev, uint8_t mac[ETH_ALEN])
{
	struct ifreq ifr = {0};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		int err = -errno;

		fprintf(stderr, "kdiff: %s: SIOCGIFHWADDR: %s\n", dev, strerror(errno));
		return err;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	return 0;
}

/* An AF_PACKET socket on DEV inside namespace NS (a name under /run/netns or a path). */
static int open_inject(const char *ns, const char *dev, uint8_t mac[ETH_ALEN])
{
	_cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int target = -1;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *path = NULL;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET};
	int err = 0;

	if (strchr(ns, '/'))
		path = strdup(ns);
	else if (asprintf(&path, "/run/netns/%s", ns) < 0)
		path = NULL;
	if (!path)
		return -ENOMEM;
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0) {
		err = -errno;
		fprintf(stderr, "kdiff: open %s: %s\n", self < 0 ? "/proc/self/ns/net" : path,
			strerror(errno));
		return err;
	}
	if (setns(target, CLONE_NEWNET) < 0) {
		err = -errno;
		fprintf(stderr, "kdiff: setns %s: %s\n", path, strerror(errno));
		return err;
	}
	/* protocol 0: this socket sends only, it receives nothing */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "kdiff: AF_PACKET socket in %s: %s\n", ns, strerror(errno));
	} else if (!(sll.sll_ifindex = (int)if_nametoindex(dev))) {
		err = -errno;
		fprintf(stderr, "kdiff: %s in %s: %s\n", dev, ns, strerror(errno));
	} else if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		err = -errno;
		fprintf(stderr, "kdiff: bind to %s in %s: %s\n", dev, ns, strerror(errno));
	} else {
		err = get_mac(fd, dev, mac);
	}
	if (setns(self, CLONE_NEWNET) < 0) {
		fprintf(stderr, "kdiff: setns back: %s\n", strerror(errno));
		return -errno;
	}
	return err ? err : TAKE_FD(fd);
}

/* An AF_PACKET socket receiving every frame on DEV inside namespace NS. */
static int open_capture(const char *ns, const char *dev)
{
	_cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int target = -1;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *path = NULL;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	int err = 0;

	if (asprintf(&path, strchr(ns, '/') ? "%s" : "/run/netns/%s", ns) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0 || setns(target, CLONE_NEWNET) < 0) {
		err = -errno;
		fprintf(stderr, "kdiff: capture namespace %s: %s\n", path, strerror(errno));
		return err;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
	if (fd < 0 || !(sll.sll_ifindex = (int)if_nametoindex(dev)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		err = -errno;
		fprintf(stderr, "kdiff: capture on %s in %s: %s\n", dev, ns, strerror(errno));
	}
	if (setns(self, CLONE_NEWNET) < 0) {
		fprintf(stderr, "kdiff: setns back: %s\n", strerror(errno));
		return -errno;
	}
	return err ? err : TAKE_FD(fd);
}

/*
 * What the capture device received for packet n: IPv4 frames only (no ARP),
 * waiting up to CAPTURE_WAIT_MS for the first (the frame crosses a veth after
 * the hook).  With n = 0, leftovers are discarded.
 */
#define CAPTURE_WAIT_MS 30
static int capture_drain(int fd, struct ipt2bpf_pcap *out, int n)
{
	uint8_t buf[IPT2BPF_PCAP_SNAPLEN];
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int got = 0;

	if (n > 0 && poll(&pfd, 1, CAPTURE_WAIT_MS) < 0 && errno != EINTR)
		return -errno;
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (len < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n <= 0 || len < IPT2BPF_ETH_HLEN || ipt2bpf_get16(buf + 12) != IPT2BPF_ETH_P_IP)
			continue;
		out->ts = (uint32_t)n; /* the packet's number */
		if (ipt2bpf_pcap_write(out, buf, (size_t)len))
			return -EIO;
		got++;
	}
	return got;
}

/* ------------------------------------------------------------------ main */

/* --marks: one number per line (decimal or 0x hex); NULL/empty: all 0. */
static int read_marks(const char *path, uint32_t **out, size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[64], *end;
	uint32_t *v = NULL;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (!f) {
		fprintf(stderr, "kdiff: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long long x;

		errno = 0;
		x = strtoull(line, &end, 0);
		if (errno || end == line || x > UINT32_MAX) {
			fprintf(stderr, "kdiff: %s: line %zu: not a mark\n", path, *n + 1);
			free(v);
			fclose(f);
			return -EINVAL;
		}
		if (*n == cap) {
			uint32_t *nv = realloc(v, sizeof(*v) * (cap = cap ? 2 * cap : 64));

			if (!nv) {
				free(v);
				fclose(f);
				return -ENOMEM;
			}
			v = nv;
		}
		v[(*n)++] = (uint32_t)x;
	}
	fclose(f);
	*out = v;
	return 0;
}

struct ctx {
	int hook;
	const char *chain;
	int ctl;    /* raw socket for IPT_SO_GET_* */
	int inject; /* AF_PACKET in the client namespace, or raw IP socket in fw */
	uint8_t peer_mac[ETH_ALEN], dev_mac[ETH_ALEN];
	uint8_t sentinel[64];
	size_t sentinel_len;
	struct table filter, mangle, security;
	bool have_security;
	int presence, sentinel_ent, accepted, policy;
	uint64_t sentinel_seen;
	unsigned long inconsistent;
	unsigned int *scratch;
	bool keep_macs;	     /* --keep-macs */
	const char *restore; /* iptables-legacy-restore */
	const char *in_dev;
	uint32_t mark;	 /* what the raw-table rule sets now */
	bool mark_known; /* mark is what the raw table holds (else: unknown) */
};

/*
 * The mark the next packets arrive with: the raw table (which kdiff does not
 * otherwise use) marks them before filter sees them, at PREROUTING for what
 * comes in on IN_DEV and at OUTPUT for what fw sends.
 */
static int set_mark(struct ctx *c, uint32_t mark)
{
	_cleanup_free_ char *text = NULL;

	if (c->mark_known && mark == c->mark)
		return 0;
	if (asprintf(&text,
		     "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
		     "-A PREROUTING -i %s -j MARK --set-xmark 0x%x/0xffffffff\n"
		     "-A OUTPUT -j MARK --set-xmark 0x%x/0xffffffff\nCOMMIT\n",
		     c->in_dev, mark, mark) < 0) {
		text = NULL;
		return -ENOMEM;
	}
	if (restore_text(c->restore, text, "kdiff's mark rules"))
		return -EINVAL;
	c->mark = mark;
	c->mark_known = true;
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int send_frame(struct ctx *c, const uint8_t *frame, size_t len, int n)
{
	uint8_t buf[IPT2BPF_PCAP_SNAPLEN];

	if (c->hook != NF_INET_LOCAL_OUT) {
		if (len < IPT2BPF_ETH_HLEN) {
			fprintf(stderr, "kdiff: packet %d: %zu bytes, not sent\n", n, len);
			return 0;
		}
		memcpy(buf, frame, len);
		if (!c->keep_macs || !(frame[0] & 1))
			memcpy(buf, c->peer_mac, ETH_ALEN);
		if (!c->keep_macs)
			memcpy(buf + ETH_ALEN, c->dev_mac, ETH_ALEN);
		/* not the kernel's verdict but ours (too long for the veth, say):
		 * say so, the packet will show as PASS */
		if (send(c->inject, buf, len, 0) < 0)
			fprintf(stderr, "kdiff: packet %d: send: %s\n", n, strerror(errno));
		return 0;
	}

	/* OUTPUT: only IPv4 reaches the ip OUTPUT hook; the rest is PASS */
	if (len < IPT2BPF_ETH_HLEN + IPT2BPF_IP_HLEN ||
	    ipt2bpf_get16(frame + 12) != IPT2BPF_ETH_P_IP)
		return 0;
	{
		const uint8_t *iph = frame + IPT2BPF_ETH_HLEN;
		size_t iplen = len - IPT2BPF_ETH_HLEN, tot = ipt2bpf_get16(iph + 2);
		struct sockaddr_in sin = {.sin_family = AF_INET};

		/* Ethernet padding is not part of the datagram */
		if (tot >= IPT2BPF_IP_HLEN && tot < iplen)
			iplen = tot;
		memcpy(&sin.sin_addr, iph + 16, 4);
		/* EPERM: filter OUTPUT dropped it, which the counters show */
		if (sendto(c->inject, iph, iplen, 0, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
		    (verbose || errno != EPERM))
			fprintf(stderr, "kdiff: packet %d: sendto: %s\n", n, strerror(errno));
	}
	return 0;
}

/* Send the sentinel and wait until mangle PREROUTING has counted it. */
static int sync_sentinel(struct ctx *c, int n)
{
	uint64_t deadline = now_ms() + SENTINEL_WAIT_MS;
	uint8_t buf[64];
	int err;

	memcpy(buf, c->sentinel, c->sentinel_len);
	memcpy(buf, c->peer_mac, ETH_ALEN);
	memcpy(buf + ETH_ALEN, c->dev_mac, ETH_ALEN);
	if (send(c->inject, buf, c->sentinel_len, 0) < 0) {
		fprintf(stderr, "kdiff: packet %d: sending the sentinel: %s\n", n, strerror(errno));
		return -errno;
	}
	c->sentinel_seen++;
	for (;;) {
		err = table_read(c->ctl, &c->mangle);
		if (err)
			return err;
		if (c->mangle.pcnt[c->sentinel_ent] >= c->sentinel_seen)
			return 0;
		if (now_ms() > deadline) {
			fprintf(stderr, "kdiff: packet %d: the sentinel never arrived\n", n);
			return -ETIMEDOUT;
		}
		usleep(50);
	}
}

static void json_str(const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
}

static int run_packet(struct ctx *c, const uint8_t *frame, size_t len, int n)
{
	struct table *f = &c->filter;
	_cleanup_free_ uint64_t *before = malloc(sizeof(*before) * f->n);
	uint64_t m_before = c->mangle.pcnt[c->presence];
	uint64_t s_before = c->have_security ? c->security.pcnt[c->accepted] : 0;
	bool reached, accepted, policy, other = false;
	enum terminal term = TERM_NONE;
	unsigned int ncounted = 0;
	const char *verdict;
	int err;

	if (!before)
		return -ENOMEM;
	memcpy(before, f->pcnt, sizeof(*before) * f->n);

	err = send_frame(c, frame, len, n);
	if (!err && c->hook != NF_INET_LOCAL_OUT)
		err = sync_sentinel(c, n);
	if (!err)
		err = table_read(c->ctl, f);
	if (!err && c->hook == NF_INET_LOCAL_OUT)
		err = table_read(c->ctl, &c->mangle);
	if (!err && c->have_security)
		err = table_read(c->ctl, &c->security);
	if (err)
		return err;

	reached = c->mangle.pcnt[c->presence] > m_before;
	accepted = c->have_security && c->security.pcnt[c->accepted] > s_before;
	policy = f->pcnt[c->policy] > before[c->policy];
	for (unsigned int i = 0; i < f->n; i++) {
		const struct ent *x = &f->ents[i];

		if (f->pcnt[i] == before[i])
			continue;
		if (x->kind == K_RULE)
			c->scratch[ncounted++] = i;
		if (x->kind == K_POLICY && (int)i != c->policy) {
			fprintf(stderr, "kdiff: packet %d: the %s policy counted\n", n,
				f->chains[x->chain].name);
			c->inconsistent++;
		}
		if (x->kind != K_RULE && x->kind != K_POLICY)
			continue;
		if (x->term == TERM_ACCEPT || x->term == TERM_DROP) {
			if (term != TERM_NONE && term != x->term) {
				fprintf(stderr, "kdiff: packet %d: both ACCEPT and DROP counted\n",
					n);
				c->inconsistent++;
			}
			term = x->term;
		} else if (x->term == TERM_OTHER) {
			other = true;
		}
	}

	if (!reached) {
		verdict = "PASS";
		if (ncounted || policy) {
			fprintf(stderr, "kdiff: packet %d: filter counted, mangle %s did not\n", n,
				c->chain);
			c->inconsistent++;
		}
	} else if (c->have_security) {
		verdict = accepted ? "ACCEPT" : "DROP";
		/* a non-standard target (REJECT, ...) may decide on its own */
		if (!other && (term == TERM_ACCEPT) != accepted) {
			fprintf(stderr, "kdiff: packet %d: counters say %s, the packet was %s\n", n,
				term == TERM_ACCEPT ? "ACCEPT"
				: term == TERM_DROP ? "DROP"
						    : "hotdrop",
				accepted ? "accepted" : "dropped");
			c->inconsistent++;
		}
	} else {
		verdict = term == TERM_ACCEPT ? "ACCEPT" : "DROP";
	}

	sort_table = f;
	qsort(c->scratch, ncounted, sizeof(*c->scratch), cmp_ent);
	printf("{\"n\":%d,\"verdict\":\"%s\",\"counted\":[", n, verdict);
	for (unsigned int i = 0; i < ncounted; i++) {
		const struct ent *x = &f->ents[c->scratch[i]];

		printf("%s\"", i ? "," : "");
		json_str(f->chains[x->chain].name);
		printf("#%d\"", x->rule);
	}
	printf("],\"policy\":%s}\n", policy ? "true" : "false");
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------ OUTPUT datagrams */

struct frame {
	uint8_t *data;
	size_t len;
	bool held;	/* a fragment kdiff sends as part of a datagram */
	uint8_t *dgram; /* completes a datagram: this frame sends it whole */
	size_t dgram_len;
};

struct frames {
	struct frame *f;
	size_t n;
};

static void frames_free(struct frames *pk)
{
	for (size_t i = 0; i < pk->n; i++) {
		free(pk->f[i].data);
		free(pk->f[i].dgram);
	}
	free(pk->f);
	memset(pk, 0, sizeof(*pk));
}

static int read_all(struct ipt2bpf_pcap *pcap, struct frames *pk)
{
	_cleanup_free_ uint8_t *buf = malloc(IPT2BPF_PCAP_SNAPLEN);
	size_t len;
	int err;

	if (!buf)
		return -ENOMEM;
	while ((err = ipt2bpf_pcap_next(pcap, buf, IPT2BPF_PCAP_SNAPLEN, &len)) > 0) {
		struct frame *f = realloc(pk->f, sizeof(*f) * (pk->n + 1));

		if (!f)
			return -ENOMEM;
		pk->f = f;
		f += pk->n;
		memset(f, 0, sizeof(*f));
		f->data = malloc(len ? len : 1);
		if (!f->data)
			return -ENOMEM;
		memcpy(f->data, buf, len);
		f->len = len;
		pk->n++;
	}
	return err;
}

/* The IPv4 header of an Ethernet frame if it is a fragment, else NULL. */
static const uint8_t *frag_header(const struct frame *f)
{
	const uint8_t *iph = f->data + IPT2BPF_ETH_HLEN;

	if (f->len < IPT2BPF_ETH_HLEN + IPT2BPF_IP_HLEN ||
	    ipt2bpf_get16(f->data + 12) != IPT2BPF_ETH_P_IP || (iph[0] >> 4) != 4 ||
	    (iph[0] & 0xf) < 5 || f->len < IPT2BPF_ETH_HLEN + (size_t)(iph[0] & 0xf) * 4)
		return NULL;
	if (!(ipt2bpf_get16(iph + 6) & (IPT2BPF_IP_MF | IPT2BPF_IP_OFFMASK)))
		return NULL;
	return iph;
}

static bool same_datagram(const uint8_t *a, const uint8_t *b)
{
	/* what the kernel's reassembly keys on: id, addresses, protocol */
	return !memcmp(a + 4, b + 4, 2) && a[9] == b[9] && !memcmp(a + 12, b + 12, 8);
}

/* Payload bytes of a fragment as its tot_len says (and the frame holds). */
static size_t frag_payload(const struct frame *f, const uint8_t *iph, size_t *hl)
{
	size_t tot = ipt2bpf_get16(iph + 2), have = f->len - IPT2BPF_ETH_HLEN;

	*hl = (size_t)(iph[0] & 0xf) * 4;
	if (tot > have)
		tot = have;
	return tot > *hl ? tot - *hl : 0;
}

/*
 * The kernel fragments locally generated datagrams after the OUTPUT hook,
 * so OUTPUT judges a datagram whole; a translator that sees fragments at TC
 * egress judges the first as the datagram. For a fragment series that makes
 * up a complete datagram in the pcap, kdiff therefore sends the datagram
 * (reassembled) when its last fragment comes and holds the others: they
 * print as PASS, as INPUT fragments do before reassembly. Fragments that
 * make up no complete datagram go out one by one, as a raw socket sends
 * them, and OUTPUT sees each on its own.
 */
static void plan_datagrams(struct frames *pk)
{
	for (size_t i = 0; i < pk->n; i++) {
		const uint8_t *first = frag_header(&pk->f[i]), *h;
		size_t members[64], nm = 0, end = 0, hl, total, off;
		bool complete = false;

		if (!first || pk->f[i].held || pk->f[i].dgram)
			continue;
		/* the series in pcap order: offsets must follow on, 8-byte aligned */
		for (size_t j = i; j < pk->n && nm < ARRAY_SIZE(members); j++) {
			h = frag_header(&pk->f[j]);
			if (!h || !same_datagram(first, h))
				continue;
			off = (size_t)(ipt2bpf_get16(h + 6) & IPT2BPF_IP_OFFMASK) * 8;
			if (off != end)
				break;
			members[nm++] = j;
			end += frag_payload(&pk->f[j], h, &hl);
			if (!(ipt2bpf_get16(h + 6) & IPT2BPF_IP_MF)) {
				complete = true;
				break;
			}
			if (end % 8)
				break;
		}
		if (!complete || nm < 2)
			continue;

		frag_payload(&pk->f[members[0]], first, &hl);
		total = IPT2BPF_ETH_HLEN + hl + end;
		struct frame *last = &pk->f[members[nm - 1]];
		uint8_t *d = malloc(total);

		if (!d || total - IPT2BPF_ETH_HLEN > 0xffff) {
			free(d);
			continue;
		}
		memcpy(d, pk->f[members[0]].data, IPT2BPF_ETH_HLEN + hl);
		off = IPT2BPF_ETH_HLEN + hl;
		for (size_t k = 0; k < nm; k++) {
			struct frame *f = &pk->f[members[k]];
			size_t fhl, n = frag_payload(f, f->data + IPT2BPF_ETH_HLEN, &fhl);

			memcpy(d + off, f->data + IPT2BPF_ETH_HLEN + fhl, n);
			off += n;
			f->held = true;
		}
		/* the datagram before fragmentation: no MF, no offset, DF kept */
		ipt2bpf_put16(d + IPT2BPF_ETH_HLEN + 2, (uint16_t)(total - IPT2BPF_ETH_HLEN));
		ipt2bpf_put16(d + IPT2BPF_ETH_HLEN + 6, ipt2bpf_get16(first + 6) & IPT2BPF_IP_DF);
		ipt2bpf_ip_fix_csum(d + IPT2BPF_ETH_HLEN);
		last->held = false;
		last->dgram = d;
		last->dgram_len = total;
	}
}

static void build_sentinel(struct ctx *c, uint32_t saddr)
{
	static const uint8_t zero[6];
	struct ipt2bpf_ip4 ip = {
		.saddr = saddr,
		.daddr = saddr,
		.proto = IPPROTO_UDP,
		.ttl = 64,
		.id = 1,
	};
	uint8_t udp[IPT2BPF_UDP_HLEN];
	int n;

	ipt2bpf_pkt_udp(udp, sizeof(udp), saddr, saddr, 9, 9, NULL, 0);
	n = ipt2bpf_pkt_ipv4(c->sentinel, sizeof(c->sentinel), zero, zero, &ip, udp, sizeof(udp));
	c->sentinel_len = n > 0 ? (size_t)n : 0;
}

static void usage(FILE *f)
{
	fputs("usage: kdiff [--rules R.v4] --pcap P --chain INPUT|FORWARD|OUTPUT\n"
	      "             --inject-ns NS --inject-dev DEV [--in-dev vin]\n"
	      "             [--table filter|security] [--sentinel ADDR] [--restore CMD]\n"
	      "             [--no-reassemble] [--marks FILE] [--keep-macs]\n"
	      "             [--capture-ns NS --capture-dev DEV --capture-pcap FILE] [-v]\n"
	      "\n"
	      "Run as root inside the firewall namespace. Loads R.v4 with\n"
	      "iptables-legacy-restore (without --rules: the rules already loaded), adds\n"
	      "helper rules to mangle (and security), sends each packet of P and prints\n"
	      "one JSON line per packet, as `ipt2bpf trace --json` does:\n"
	      "  {\"n\":1,\"verdict\":\"DROP\",\"counted\":[\"INPUT#2\"],\"policy\":false}\n"
	      "INPUT/FORWARD packets leave DEV in namespace NS towards --in-dev in this\n"
	      "namespace; OUTPUT packets leave a raw IP_HDRINCL socket here. A complete\n"
	      "fragment series goes out as one datagram when its last fragment comes\n"
	      "(the kernel fragments after OUTPUT): the others print as PASS. With\n"
	      "--no-reassemble every fragment goes out on its own. --marks FILE: each\n"
	      "packet's skb mark, one number per line. --keep-macs: send the frames' source\n"
	      "MAC and broadcast/multicast destination MACs as they are. --capture-*: record\n"
	      "the IPv4 frames DEV in NS receives after each packet (time: its number).\n"
	      "Exit status: 0 ok, 1 error, 2 usage, 3 kernel results that disagree\n"
	      "with each other (reported on stderr).\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"rules", required_argument, NULL, 'r'},
		{"pcap", required_argument, NULL, 'p'},
		{"chain", required_argument, NULL, 'c'},
		{"inject-ns", required_argument, NULL, 'N'},
		{"inject-dev", required_argument, NULL, 'D'},
		{"in-dev", required_argument, NULL, 'i'},
		{"table", required_argument, NULL, 't'},
		{"sentinel", required_argument, NULL, 'S'},
		{"restore", required_argument, NULL, 'R'},
		{"no-reassemble", no_argument, NULL, 'A'},
		{"marks", required_argument, NULL, 'M'},
		{"keep-macs", no_argument, NULL, 'K'},
		{"capture-ns", required_argument, NULL, 'n'},
		{"capture-dev", required_argument, NULL, 'd'},
		{"capture-pcap", required_argument, NULL, 'P'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *rules = NULL, *pcap_path = NULL, *ns = NULL, *dev = NULL;
	const char *in_dev = DEFAULT_IN_DEV, *table = "filter", *sentinel = DEFAULT_SENTINEL;
	const char *restore = DEFAULT_RESTORE, *marks_path = NULL;
	_cleanup_free_ uint32_t *marks = NULL;
	size_t n_marks = 0;
	const char *cap_ns = NULL, *cap_dev = NULL, *cap_path = NULL;
	struct ipt2bpf_pcap cap_out = {0};
	int cap_fd = -1;
	struct ctx c = {.ctl = -1, .inject = -1};
	struct ipt2bpf_pcap pcap = {0};
	struct frames pk = {0};
	bool reassemble = true;
	_cleanup_free_ char *helpers = NULL, *guards = NULL;
	struct in_addr sentinel_addr;
	cpu_set_t cpus;
	int opt, err, rc = 1;

	while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			rules = optarg;
			break;
		case 'p':
			pcap_path = optarg;
			break;
		case 'c':
			c.chain = optarg;
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
		case 't':
			table = optarg;
			break;
		case 'S':
			sentinel = optarg;
			break;
		case 'R':
			restore = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'A':
			reassemble = false;
			break;
		case 'M':
			marks_path = optarg;
			break;
		case 'K':
			c.keep_macs = true;
			break;
		case 'n':
			cap_ns = optarg;
			break;
		case 'd':
			cap_dev = optarg;
			break;
		case 'P':
			cap_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	c.hook = c.chain ? find_hook(c.chain) : -1;
	if (optind != argc || !pcap_path ||
	    (c.hook != NF_INET_LOCAL_IN && c.hook != NF_INET_FORWARD &&
	     c.hook != NF_INET_LOCAL_OUT) ||
	    (c.hook != NF_INET_LOCAL_OUT && (!ns || !dev)) ||
	    (strcmp(table, "filter") && strcmp(table, "security")) ||
	    inet_pton(AF_INET, sentinel, &sentinel_addr) != 1) {
		usage(stderr);
		return 2;
	}
	c.have_security = !strcmp(table, "filter");
	c.restore = restore;
	c.in_dev = in_dev;
	if (!cap_ns != !cap_dev || !cap_ns != !cap_path) {
		usage(stderr);
		return 2;
	}
	if (marks_path && read_marks(marks_path, &marks, &n_marks))
		return 1;

	/* one CPU: injected packet and sentinel share one backlog, in order */
	CPU_ZERO(&cpus);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus) < 0)
		fprintf(stderr, "kdiff: sched_setaffinity: %s\n", strerror(errno));

	if (rules && restore_file(restore, rules))
		return 1;
	/*
	 * Stray traffic would move counters between our reads: in OUTPUT mode
	 * nothing should arrive at all (a neighbour answering our packets, say
	 * an ICMP parameter problem, would run INPUT), in INPUT/FORWARD mode
	 * only what comes in on IN_DEV counts, and fw's own replies never
	 * reach filter OUTPUT.
	 */
	if (c.hook == NF_INET_LOCAL_OUT)
		err = asprintf(&guards, "-A PREROUTING -j DROP\n");
	else
		err = asprintf(&guards, "-A PREROUTING ! -i %s -j DROP\n-A OUTPUT -j DROP\n",
			       in_dev);
	if (err < 0) {
		guards = NULL;
		return 1;
	}
	if (asprintf(&helpers,
		     "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n"
		     ":FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
		     "-A PREROUTING -s %s/32 -j DROP\n-A %s\n%sCOMMIT\n%s%s%s",
		     sentinel, c.chain, guards,
		     c.have_security ? "*security\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
				       ":OUTPUT ACCEPT [0:0]\n-A "
				     : "",
		     c.have_security ? c.chain : "", c.have_security ? "\nCOMMIT\n" : "") < 0) {
		helpers = NULL;
		return 1;
	}
	if (restore_text(restore, helpers, "kdiff's helper rules"))
		return 1;

	c.ctl = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (c.ctl < 0) {
		fprintf(stderr, "kdiff: raw socket: %s\n", strerror(errno));
		return 1;
	}
	if (table_open(c.ctl, &c.filter, table) || table_open(c.ctl, &c.mangle, "mangle") ||
	    (c.have_security && table_open(c.ctl, &c.security, "security")))
		goto out;
	c.presence = hook_first(&c.mangle, c.hook);
	c.sentinel_ent = hook_first(&c.mangle, NF_INET_PRE_ROUTING);
	c.accepted = c.have_security ? hook_first(&c.security, c.hook) : 0;
	c.policy = hook_policy(&c.filter, c.hook);
	c.sentinel_seen = c.sentinel_ent >= 0 ? c.mangle.pcnt[c.sentinel_ent] : 0;
	c.scratch = calloc(c.filter.n, sizeof(*c.scratch));
	if (c.presence < 0 || c.sentinel_ent < 0 || c.accepted < 0 || c.policy < 0 || !c.scratch) {
		fprintf(stderr, "kdiff: the tables lack the %s chain\n", c.chain);
		goto out;
	}

	if (c.hook == NF_INET_LOCAL_OUT) {
		/* IPPROTO_RAW implies IP_HDRINCL: the packet goes out as it is */
		c.inject = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
		if (c.inject < 0) {
			fprintf(stderr, "kdiff: raw socket: %s\n", strerror(errno));
			goto out;
		}
	} else {
		c.inject = open_inject(ns, dev, c.dev_mac);
		if (c.inject < 0 || get_mac(c.ctl, in_dev, c.peer_mac))
			goto out;
		build_sentinel(&c, ntohl(sentinel_addr.s_addr));
	}

	err = ipt2bpf_pcap_open(&pcap, pcap_path);
	if (err) {
		fprintf(stderr, "kdiff: %s: %s\n", pcap_path, strerror(-err));
		goto out;
	}
	err = read_all(&pcap, &pk);
	if (err < 0) {
		fprintf(stderr, "kdiff: %s: packet %zu: %s\n", pcap_path, pk.n + 1, strerror(-err));
		goto out;
	}
	if (c.hook == NF_INET_LOCAL_OUT && reassemble)
		plan_datagrams(&pk);
	if (cap_ns) {
		cap_fd = open_capture(cap_ns, cap_dev);
		if (cap_fd < 0)
			goto out;
		err = ipt2bpf_pcap_create(&cap_out, cap_path);
		if (err) {
			fprintf(stderr, "kdiff: %s: %s\n", cap_path, strerror(-err));
			goto out;
		}
		capture_drain(cap_fd, &cap_out, 0);
	}
	for (size_t i = 0; i < pk.n; i++) {
		const struct frame *fr = &pk.f[i];

		if (marks_path && set_mark(&c, i < n_marks ? marks[i] : 0))
			goto out;

		if (fr->dgram)
			err = run_packet(&c, fr->dgram, fr->dgram_len, (int)i + 1);
		else
			err = run_packet(&c, fr->data, fr->held ? 0 : fr->len, (int)i + 1);
		if (!err && cap_fd >= 0 && capture_drain(cap_fd, &cap_out, (int)i + 1) < 0)
			err = -EIO;
		if (err)
			goto out;
	}
	rc = c.inconsistent ? 3 : 0;
	if (c.inconsistent)
		fprintf(stderr, "kdiff: %lu inconsistent kernel results\n", c.inconsistent);
out:
	if (cap_fd >= 0)
		close(cap_fd);
	if (cap_out.f && ipt2bpf_pcap_close(&cap_out) && !rc)
		rc = 1;
	frames_free(&pk);
	ipt2bpf_pcap_close(&pcap);
	table_free(&c.filter);
	table_free(&c.mangle);
	table_free(&c.security);
	free(c.scratch);
	if (c.inject >= 0)
		close(c.inject);
	if (c.ctl >= 0)
		close(c.ctl);
	return rc;
}
