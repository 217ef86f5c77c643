// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf trace: run packets through the compiled programs in the kernel
 * (BPF_PROG_TEST_RUN), in order and with map state kept, and report each
 * packet's verdict and the rules whose counters it moved.  Counters are read
 * back from the programs' own counter maps, so what trace reports is what the
 * program did, not a model of it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>

#include "cli.h"
#include "pcap.h"
#include "codegen/host.h"
#include "codegen/load.h"
#include "codegen/m_addrtype.h"
#include "codegen/progset.h"
#include "translator/util.h"
#include "umh/rt_log.h"

/* Interface indexes the traced packet pretends to use; 0 means "no device". */
#define TRACE_IFINDEX_IN  1001
#define TRACE_IFINDEX_OUT 1002

struct trace_opts {
	const char *pcap;
	int hook;
	const char *in;
	const char *out;
	bool json;
	bool pcap_time; /* each packet's pcap timestamp is the programs' clock */
	const char *marks; /* --marks FILE: each packet's skb->mark, one number per line */
	const char *out_pcap; /* --out-pcap FILE: each accepted packet as the program left it */
	const char *prio_out; /* --priorities-out FILE: "N PRIORITY" per packet (CLASSIFY) */
	const char *chains; /* --chains FILE: each packet's chain, one per line */
	const char *ct_set[32]; /* --ct-set NAME=VALUE: connection tracker settings */
	unsigned int n_ct_set;
	bool ct_list; /* --ct-list: the connection table after the last packet (stderr) */
	const char *timing; /* --timing FILE: each packet's run time (ns), one per line */
};

static void trace_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s trace RULES.v4 --pcap FILE [--chain INPUT|FORWARD|OUTPUT]\n"
		"                    [--in IF] [--out IF] [--json] [--pcap-time] [--blob FILE]\n"
		"                    [-t TABLE] [--chains FILE] [--ct-set NAME=VALUE]... [--ct-list]\n"
		"\n"
		"Runs each packet of FILE (pcap; Ethernet, raw IPv4 or Linux cooked capture), in\n"
		"order and with state kept, through the compiled chain in the kernel\n"
		"(BPF_PROG_TEST_RUN) and prints its verdict and the rules it counted.\n"
		"\n"
		"  --chain CHAIN   built-in chain to run (default INPUT)\n"
		"  --in IF         input interface name (INPUT, FORWARD; default eth0)\n"
		"  --out IF        output interface name (FORWARD, OUTPUT; default eth0)\n"
		"  --json          one JSON object per packet:\n"
		"                  "
		"{\"n\":1,\"verdict\":\"DROP\",\"counted\":[\"INPUT#2\"],\"policy\":false}\n"
		"                  (plus \"reply\":\"<frame hex>\" after a REJECT, \"log\":[..]\n"
		"                  with LOG/NFLOG/AUDIT lines; without --json those lines go\n"
		"                  to stderr)\n"
		"  --blob FILE     a raw ipt_replace blob instead of RULES.v4\n"
		"  -t, --table NAME  only this table (repeatable; filter, security)\n"
		"  --marks FILE    the skb mark each packet arrives with (-m mark), one number\n"
		"                  per line (decimal or 0x hex), in packet order; default 0\n"
		"  --out-pcap FILE each accepted packet as the program left it (TCPMSS), its\n"
		"                  timestamp the packet's number in FILE\n"
		"  --priorities-out FILE  \"N PRIORITY\" per packet: skb->priority as the\n"
		"                  program left it (CLASSIFY)\n"
		"  --pcap-time     the packets' pcap timestamps are the clock the rules see\n"
		"                  (limit, hashlimit, recent, conntrack timeouts), in ns and in\n"
		"                  jiffies at the running kernel's HZ; default: the real clock\n"
		"  --chains FILE   each packet's chain (INPUT, FORWARD, OUTPUT), one per line,\n"
		"                  overriding --chain: a flow's two directions through one\n"
		"                  connection table (INPUT devices --in, OUTPUT devices --out)\n"
		"  --ct-set NAME=VALUE  a connection tracker setting for this run, as the\n"
		"                  nf_conntrack_* sysctl NAME (timeouts in seconds, tcp_loose,\n"
		"                  tcp_be_liberal, tcp_max_retrans, tcp_ignore_invalid_rst);\n"
		"                  default: the kernel's defaults\n"
		"  --ct-list       print the connection table after the last packet (stderr)\n"
		"  --timing FILE   each packet's program run time in ns (BPF_PROG_TEST_RUN's\n"
		"                  duration), one line per packet (make bench)\n"
		"\n"
		"verdict is ACCEPT, DROP, or PASS for packets the chain never sees (not IPv4, or "
		"an\n"
		"IP header the kernel drops before netfilter). CHAIN#N is the rule number that\n"
		"`iptables -L --line-numbers` shows.\n",
		cli_prog);
}

static int parse_chain(const char *s)
{
	if (!strcmp(s, "INPUT"))
		return NF_INET_LOCAL_IN;
	if (!strcmp(s, "FORWARD"))
		return NF_INET_FORWARD;
	if (!strcmp(s, "OUTPUT"))
		return NF_INET_LOCAL_OUT;
	return -1;
}

/* LOG lines of the packet being traced, and the REJECT reply it got. */
struct trace_log {
	char **lines;
	unsigned int n, cap;
	const struct trace_opts *o;
	const unsigned char *reply; /* the frame a REJECT rule built, NULL: none */
	size_t reply_len;
};

static int trace_log_dev(uint32_t ifindex, struct ipt2bpf_log_dev *dev, void *arg)
{
	const struct trace_opts *o = arg;
	const char *name = ifindex == TRACE_IFINDEX_IN	  ? o->in
			   : ifindex == TRACE_IFINDEX_OUT ? o->out
							  : NULL;

	if (!name)
		return -ENODEV;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->ether = strcmp(name, "lo") != 0;
	return 0;
}

static int trace_log_line(const struct ipt2bpf_log_line *line, void *arg)
{
	struct trace_log *tl = arg;

	if (tl->n == tl->cap) {
		unsigned int ncap = tl->cap ? 2 * tl->cap : 4;
		char **nl = realloc(tl->lines, ncap * sizeof(*nl));

		if (!nl)
			return -ENOMEM;
		tl->lines = nl;
		tl->cap = ncap;
	}
	tl->lines[tl->n] = strdup(line->text);
	if (!tl->lines[tl->n])
		return -ENOMEM;
	tl->n++;
	return 0;
}

static void trace_log_reset(struct trace_log *tl)
{
	for (unsigned int i = 0; i < tl->n; i++)
		free(tl->lines[i]);
	tl->n = 0;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

struct trace_table {
	const struct ipt2bpf_table *t;
	int map_fd;
	struct ipt2bpf_counter *before, *after;
};

static void print_result(const struct trace_opts *o, unsigned long n, const char *verdict,
			 struct trace_table *tt, unsigned int n_tt, const struct trace_log *tl)
{
	bool policy = false, first = true;

	if (o->json)
		printf("{\"n\":%lu,\"verdict\":\"%s\",\"counted\":[", n, verdict);
	else
		printf("%lu: %s", n, verdict);
	for (unsigned int k = 0; k < n_tt; k++) {
		const struct ipt2bpf_table *t = tt[k].t;

		for (unsigned int i = 0; i < t->n_entries; i++) {
			const struct ipt2bpf_entry *e = &t->entries[i];

			if (tt[k].after[i].pcnt == tt[k].before[i].pcnt)
				continue;
			if (e->role == IPT2BPF_E_POLICY) {
				policy = true;
				continue;
			}
			if (e->role != IPT2BPF_E_RULE)
				continue;
			/* Later tables are qualified so filter/security rules cannot be confused.
			 */
			if (o->json)
				printf("%s\"%s%s%s#%u\"", first ? "" : ",", k ? t->name : "",
				       k ? ":" : "", t->chains[e->chain].name, e->num);
			else
				printf("%s%s%s%s#%u", first ? "  counted " : " ", k ? t->name : "",
				       k ? ":" : "", t->chains[e->chain].name, e->num);
			first = false;
		}
	}
	if (o->json) {
		printf("],\"policy\":%s", policy ? "true" : "false");
		if (tl && tl->reply) {
			printf(",\"reply\":\"");
			for (size_t i = 0; i < tl->reply_len; i++)
				printf("%02x", tl->reply[i]);
			putchar('"');
		}
		if (tl && tl->n) {
			printf(",\"log\":[");
			for (unsigned int i = 0; i < tl->n; i++) {
				if (i)
					putchar(',');
				json_string(tl->lines[i]);
			}
			putchar(']');
		}
		printf("}\n");
	} else {
		printf("%s\n", policy ? "  (policy)" : "");
		if (tl && tl->reply) {
			printf("   reply:");
			for (size_t i = 0; i < tl->reply_len; i++)
				printf("%s%02x", i % 16 ? " " : "\n     ", tl->reply[i]);
			putchar('\n');
		}
		/* LOG lines as the kernel prints them, after the packet's result line. */
		fflush(stdout);
		for (unsigned int i = 0; tl && i < tl->n; i++)
			fprintf(stderr, "%s\n", tl->lines[i]);
	}
}

/*
 * Makes a frame acceptable to BPF_PROG_TEST_RUN, or says it cannot be.
 * Frames that are not IPv4 are padded to Ethernet's minimum frame length,
 * as a NIC would: the programs pass them without reading past the
 * ethertype, and test-run refuses short IPv6 and some other frames.
 */
static bool trace_frame_runnable(struct cli_pcap *pc, size_t *len)
{
	const struct ethhdr *eth = (const struct ethhdr *)pc->buf;

	if (*len < ETH_HLEN)
		return false;
	if (eth->h_proto == htons(ETH_P_IP))
		return *len >= ETH_HLEN + sizeof(struct iphdr);
	if (*len < ETH_ZLEN) {
		unsigned char *b = pc->buf;

		if (pc->cap < ETH_ZLEN) {
			b = realloc(pc->buf, ETH_ZLEN);
			if (!b)
				return false;
			pc->buf = b;
			pc->cap = ETH_ZLEN;
		}
		memset(b + *len, 0, ETH_ZLEN - *len);
		*len = ETH_ZLEN;
	}
	return true;
}

/*
 * BPF_PROG_TEST_RUN builds its skb with eth_type_trans() against lo (all-zero
 * address and broadcast address) unless told another device: a unicast frame
 * would be PACKET_OTHERHOST and a broadcast one PACKET_MULTICAST.  INPUT and
 * FORWARD packets come in on --in: if that is an Ethernet device here, the
 * test runs on it and unicast frames are addressed to it; else on lo with
 * unicast destinations zeroed (broadcast frames then count as multicast).
 * What the host sends is PACKET_HOST whatever its MAC: OUTPUT runs on lo with
 * the destination zeroed.  So skb->pkt_type (-m pkttype) is what the kernel's
 * hooks see.
 */
struct trace_rxdev {
	uint32_t ifindex; /* 0: lo */
	unsigned char mac[ETH_ALEN];
};

static void trace_rxdev_find(const struct trace_opts *o, struct trace_rxdev *d)
{
	struct ifreq ifr = {0};
	int fd;

	memset(d, 0, sizeof(*d));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", o->in);
	if (!ioctl(fd, SIOCGIFHWADDR, &ifr) && ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER) {
		memcpy(d->mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
		if (!ioctl(fd, SIOCGIFINDEX, &ifr) && ifr.ifr_ifindex > 1)
			d->ifindex = (uint32_t)ifr.ifr_ifindex;
	}
	close(fd);
}

/* The skb a packet of chain hook gets: the device it runs on, its destination MAC. */
static uint32_t trace_frame_pkt_type(int hook, const struct trace_rxdev *d, unsigned char *frame)
{
	if (hook == NF_INET_LOCAL_OUT || !d->ifindex) {
		if (hook == NF_INET_LOCAL_OUT || !(frame[0] & 1))
			memset(frame, 0, ETH_ALEN);
		return 0;
	}
	if (!(frame[0] & 1))
		memcpy(frame, d->mac, ETH_ALEN);
	return d->ifindex;
}

/* The ifindex of an interface of this namespace, 0 if there is none. */
static uint32_t trace_ifindex(const char *name)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint32_t idx = 0;

	if (fd < 0)
		return 0;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (!ioctl(fd, SIOCGIFINDEX, &ifr) && ifr.ifr_ifindex > 0)
		idx = (uint32_t)ifr.ifr_ifindex;
	close(fd);
	return idx;
}

/* -m addrtype --limit-iface-*: local routes on --in/--out are on the pretended devices. */
struct trace_devmap {
	uint32_t in_real, out_real;
};

static uint32_t trace_devmap(uint32_t ifindex, void *arg)
{
	const struct trace_devmap *m = arg;

	if (ifindex == m->in_real)
		return TRACE_IFINDEX_IN;
	if (ifindex == m->out_real)
		return TRACE_IFINDEX_OUT;
	return ifindex;
}

/* --out-pcap: a classic pcap file, Ethernet, the packet's number as its time. */
static FILE *trace_out_open(const char *path)
{
	const uint32_t hdr[6] = {0xa1b2c3d4, 2 | (4u << 16), 0, 0, 65535, 1};
	FILE *f = fopen(path, "we");

	if (f && fwrite(hdr, sizeof(hdr), 1, f) != 1) {
		fclose(f);
		f = NULL;
	}
	return f;
}

static int trace_out_write(FILE *f, unsigned long n, const void *frame, size_t len)
{
	const uint32_t rec[4] = {(uint32_t)n, 0, (uint32_t)len, (uint32_t)len};

	if (fwrite(rec, sizeof(rec), 1, f) != 1 || (len && fwrite(frame, len, 1, f) != 1))
		return -EIO;
	return 0;
}

/* The next mark from --marks (0 once the file ends, or without one). */
static int trace_next_mark(FILE *f, uint32_t *mark)
{
	char line[64], *end;
	unsigned long long v;

	*mark = 0;
	if (!f || !fgets(line, sizeof(line), f))
		return 0;
	errno = 0;
	v = strtoull(line, &end, 0);
	if (errno || end == line || v > UINT32_MAX)
		return -EINVAL;
	*mark = (uint32_t)v;
	return 0;
}

static int run_trace(const struct trace_opts *o, struct cli_tables *tables)
{
	struct ipt2bpf_gen_opts gopts = {.mode = IPT2BPF_MODE_TC, .trace = true};
	_free_ipt2bpf_progset_ struct ipt2bpf_progset *ps = NULL;
	struct ipt2bpf_loaded l = {0};
	struct ipt2bpf_diag d = {0};
	struct trace_table tt[2] = {0};
	struct trace_log tl = {.o = o};
	static unsigned char out_buf[65536 + 4096];
	struct ipt2bpf_log *log = NULL;
	int log_map;
	struct ipt2bpf_cfg cfg = {0};
	struct cli_pcap pc;
	unsigned long n = 0;
	int prog_fd = -1, cfg_fd, err, rc = CLI_EXIT_FAIL;
	int hook_fd[NF_INET_NUMHOOKS] = {-1, -1, -1, -1, -1}, cur_hook = o->hook;
	FILE *chains = NULL, *marks = NULL, *outp = NULL, *timing = NULL, *priop = NULL;
	struct __sk_buff skb_out;
	struct trace_rxdev rxdev;
	struct __sk_buff skb_ctx;
	uint32_t mark;
	uint32_t zero = 0;
	uint64_t ns_per_jiffy = ipt2bpf_host_ns_per_jiffy();
	size_t len;

	err = ipt2bpf_gen((const struct ipt2bpf_table *const *)tables->tables, tables->n_tables,
			  &gopts, &ps, &d);
	if (err) {
		fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	err = ipt2bpf_progset_load(ps, &l, &d);
	if (err) {
		fprintf(stderr, "%s: loading the trace programs failed: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	for (unsigned int i = 0; i < ps->n_progs; i++)
		if (ps->progs[i].role == IPT2BPF_P_TRACE && ps->progs[i].hook >= 0 &&
		    ps->progs[i].hook < NF_INET_NUMHOOKS)
			hook_fd[ps->progs[i].hook] = l.prog_fds[i];
	prog_fd = hook_fd[o->hook];
	cfg_fd = ipt2bpf_progset_find_map(ps, IPT2BPF_MAP_CFG);
	if (prog_fd < 0 || cfg_fd < 0) {
		fprintf(stderr, "%s: internal error: no trace program for this chain\n", cli_prog);
		goto out;
	}
	cfg_fd = l.map_fds[cfg_fd];
	log_map = ipt2bpf_progset_find_map(ps, IPT2BPF_MAP_LOG);
	if (log_map >= 0 &&
	    ipt2bpf_log_open_fd(l.map_fds[log_map], trace_log_dev, (void *)o, &log, &d)) {
		fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
		goto out;
	}

	/* The traced devices: names matched exactly as iptables matches them. */
	if (o->hook != NF_INET_LOCAL_OUT)
		cfg.iif = TRACE_IFINDEX_IN;
	if (o->hook != NF_INET_LOCAL_IN)
		cfg.oif = strcmp(o->in, o->out) || o->hook == NF_INET_LOCAL_OUT ? TRACE_IFINDEX_OUT
										: TRACE_IFINDEX_IN;
	err = ipt2bpf_ifaces_set(ps, &l, 0, "");
	if (!err && (cfg.iif || o->chains))
		err = ipt2bpf_ifaces_set(ps, &l, TRACE_IFINDEX_IN, o->in);
	if (!err && cfg.oif)
		err = ipt2bpf_ifaces_set(ps, &l, cfg.oif, o->out);
	/* --chains: OUTPUT packets leave by --out */
	if (!err && o->chains && strcmp(o->in, o->out))
		err = ipt2bpf_ifaces_set(ps, &l, TRACE_IFINDEX_OUT, o->out);
	/* TCPMSS --clamp-mss-to-pmtu looks routes up as received on the real --in. */
	cfg.fib_iif = trace_ifindex(o->in);
	if (!err && bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY))
		err = -errno;
	if (!err) {
		struct trace_devmap dm = {.in_real = trace_ifindex(o->in),
					  .out_real = trace_ifindex(o->out)};

		if (!strcmp(o->in, o->out))
			dm.out_real = 0; /* one device: TRACE_IFINDEX_IN, as cfg.oif above */
		err = ipt2bpf_addrtype_fill(ps, &l, trace_devmap, &dm);
	}
	if (err) {
		fprintf(stderr, "%s: setting up trace maps: %s\n", cli_prog, strerror(-err));
		goto out;
	}
	rc = cli_ct_trace_setup(ps, &l, o->ct_set, o->n_ct_set);
	if (rc != CLI_EXIT_OK)
		goto out;
	rc = CLI_EXIT_FAIL;
	if (o->timing && !(timing = fopen(o->timing, "we"))) {
		fprintf(stderr, "%s: %s: %s\n", cli_prog, o->timing, strerror(errno));
		goto out;
	}
	if (o->chains && !(chains = fopen(o->chains, "re"))) {
		fprintf(stderr, "%s: %s: %s\n", cli_prog, o->chains, strerror(errno));
		rc = CLI_EXIT_PARAM;
		goto out;
	}
	if (o->out_pcap && !(outp = trace_out_open(o->out_pcap))) {
		fprintf(stderr, "%s: %s: %s\n", cli_prog, o->out_pcap, strerror(errno));
		goto out;
	}
	if (o->prio_out && !(priop = fopen(o->prio_out, "we"))) {
		fprintf(stderr, "%s: %s: %s\n", cli_prog, o->prio_out, strerror(errno));
		goto out;
	}
	if (o->marks && !(marks = fopen(o->marks, "re"))) {
		fprintf(stderr, "%s: %s: %s\n", cli_prog, o->marks, strerror(errno));
		rc = CLI_EXIT_PARAM;
		goto out;
	}
	trace_rxdev_find(o, &rxdev);

	for (unsigned int k = 0; k < ps->n_tables; k++) {
		tt[k].t = ps->tables[k];
		tt[k].map_fd = l.map_fds[ps->counter_map[k]];
		tt[k].before = calloc(tt[k].t->n_entries, sizeof(*tt[k].before));
		tt[k].after = calloc(tt[k].t->n_entries, sizeof(*tt[k].after));
		if (!tt[k].before || !tt[k].after) {
			fprintf(stderr, "%s: out of memory\n", cli_prog);
			goto out_free;
		}
	}

	err = cli_pcap_open(&pc, o->pcap);
	if (err) {
		fprintf(stderr, "%s: %s: %s\n", cli_prog, o->pcap,
			err == -EBADMSG ? "not a pcap file" : strerror(-err));
		rc = CLI_EXIT_PARAM;
		goto out_free;
	}
	while ((err = cli_pcap_next(&pc, &len)) > 0) {
		LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = pc.buf, .data_size_in = len,
			    .repeat = 1);
		const char *verdict;

		n++;
		if (chains) {
			/* This packet's chain: its program and devices. */
			char line[64];
			int h;

			if (!fgets(line, sizeof(line), chains)) {
				fprintf(stderr, "%s: %s: no chain for packet %lu\n", cli_prog,
					o->chains, n);
				rc = CLI_EXIT_PARAM;
				goto out_pcap;
			}
			line[strcspn(line, " \t\r\n")] = 0;
			h = parse_chain(line);
			if (h < 0 || hook_fd[h] < 0) {
				fprintf(stderr, "%s: %s: packet %lu: unknown chain '%s'\n", cli_prog,
					o->chains, n, line);
				rc = CLI_EXIT_PARAM;
				goto out_pcap;
			}
			if (h != cur_hook || n == 1) {
				cur_hook = h;
				prog_fd = hook_fd[h];
				cfg.iif = h != NF_INET_LOCAL_OUT ? TRACE_IFINDEX_IN : 0;
				cfg.oif = h == NF_INET_LOCAL_IN	     ? 0
					  : strcmp(o->in, o->out) ? TRACE_IFINDEX_OUT
								   : TRACE_IFINDEX_IN;
				if (bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY)) {
					err = -errno;
					break;
				}
			}
		}
		for (unsigned int k = 0; k < ps->n_tables; k++) {
			err = ipt2bpf_counters_read(tt[k].map_fd, tt[k].t->n_entries, tt[k].before);
			if (err)
				break;
		}
		if (err)
			break;
		if (trace_next_mark(marks, &mark)) {
			fprintf(stderr, "%s: %s: line %lu: not a mark\n", cli_prog, o->marks, n);
			rc = CLI_EXIT_PARAM;
			goto out_pcap;
		}
		if (!trace_frame_runnable(&pc, &len)) {
			/*
			 * BPF_PROG_TEST_RUN cannot build an skb from a frame without a
			 * complete IPv4 header, and the kernel's ip_rcv() drops such a
			 * frame before any hook: the chain never sees it.
			 */
			print_result(o, n, "PASS", tt, 0, NULL);
			continue;
		}
		if (o->pcap_time) {
			cfg.clock = 1;
			cfg.now_ns = pc.ts_ns;
			cfg.jiffies = pc.ts_ns / ns_per_jiffy;
			if (bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY)) {
				err = -errno;
				break;
			}
		}
		memset(&skb_ctx, 0, sizeof(skb_ctx));
		skb_ctx.mark = mark;
		skb_ctx.ifindex = trace_frame_pkt_type(cur_hook, &rxdev, pc.buf);
		run.ctx_in = &skb_ctx;
		run.ctx_size_in = sizeof(skb_ctx);
		memset(&skb_out, 0, sizeof(skb_out));
		run.ctx_out = &skb_out;
		run.ctx_size_out = sizeof(skb_out);
		run.data_in = pc.buf;
		run.data_size_in = len;
		run.data_out = out_buf;
		run.data_size_out = sizeof(out_buf);
		if (bpf_prog_test_run_opts(prog_fd, &run)) {
			err = -errno;
			break;
		}
		if (timing)
			fprintf(timing, "%u\n", run.duration);
		trace_log_reset(&tl);
		if (log) {
			err = ipt2bpf_log_poll(log, 0, trace_log_line, &tl);
			if (err < 0)
				break;
			err = 0;
		}
		for (unsigned int k = 0; k < ps->n_tables; k++) {
			err = ipt2bpf_counters_read(tt[k].map_fd, tt[k].t->n_entries, tt[k].after);
			if (err)
				break;
		}
		if (err)
			break;
		switch ((int)run.retval) {
		case TC_ACT_OK:
			verdict = "ACCEPT";
			break;
		case TC_ACT_SHOT:
			verdict = "DROP";
			break;
		default:
			verdict = "PASS";
			break;
		}
		/*
		 * A REJECT rule turns the dropped packet into the kernel's reply; trace
		 * programs leave it in the packet instead of sending it.
		 */
		tl.reply = NULL;
		if (run.retval == TC_ACT_SHOT &&
		    (run.data_size_out != len || memcmp(out_buf, pc.buf, len))) {
			tl.reply = out_buf;
			tl.reply_len = run.data_size_out;
		}
		print_result(o, n, verdict, tt, ps->n_tables, &tl);
		if (priop)
			fprintf(priop, "%lu %u\n", n, skb_out.priority);
		if (outp && run.retval == TC_ACT_OK) {
			err = trace_out_write(outp, n, out_buf, run.data_size_out);
			if (err)
				break;
		}
	}
	if (o->ct_list)
		cli_ct_trace_list(ps, &l, o->pcap_time ? cfg.now_ns : 0, o->json, stderr);
	cli_pcap_close(&pc);
	if (err < 0) {
		fprintf(stderr, "%s: %s: packet %lu: %s\n", cli_prog, o->pcap, n,
			err == -EBADMSG ? "truncated pcap record" : strerror(-err));
		goto out_free;
	}
	fflush(stdout);
	rc = CLI_EXIT_OK;
	if (0) {
out_pcap:
		cli_pcap_close(&pc);
	}
out_free:
	for (unsigned int k = 0; k < 2; k++) {
		free(tt[k].before);
		free(tt[k].after);
	}
out:
	if (chains)
		fclose(chains);
	if (timing)
		fclose(timing);
	if (marks)
		fclose(marks);
	if (priop && fclose(priop) && rc == CLI_EXIT_OK) {
		fprintf(stderr, "%s: %s: %s\n", cli_prog, o->prio_out, strerror(errno));
		rc = CLI_EXIT_FAIL;
	}
	if (outp && fclose(outp) && rc == CLI_EXIT_OK) {
		fprintf(stderr, "%s: %s: %s\n", cli_prog, o->out_pcap, strerror(errno));
		rc = CLI_EXIT_FAIL;
	}
	trace_log_reset(&tl);
	free(tl.lines);
	ipt2bpf_log_close(log);
	ipt2bpf_loaded_close(&l);
	return rc;
}

int cli_trace(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pcap", required_argument, NULL, 'p'},
		{"chain", required_argument, NULL, 'c'},
		{"in", required_argument, NULL, 'i'},
		{"out", required_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'j'},
		{"pcap-time", no_argument, NULL, 'T'},
		{"marks", required_argument, NULL, 'M'},
		{"out-pcap", required_argument, NULL, 'O'},
		{"priorities-out", required_argument, NULL, 'R'},
		{"chains", required_argument, NULL, 'C'},
		{"ct-set", required_argument, NULL, 'S'},
		{"ct-list", no_argument, NULL, 'L'},
		{"timing", required_argument, NULL, 1001},
		{"blob", required_argument, NULL, 'b'},
		{"table", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct trace_opts o = {.hook = NF_INET_LOCAL_IN, .in = "eth0", .out = "eth0"};
	struct cli_input in = {0};
	struct cli_tables tables;
	int c, rc;

	while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.pcap = optarg;
			break;
		case 'c':
			o.hook = parse_chain(optarg);
			if (o.hook < 0) {
				fprintf(stderr,
					"%s: trace: unknown chain '%s' (INPUT, FORWARD, OUTPUT)\n",
					cli_prog, optarg);
				return CLI_EXIT_PARAM;
			}
			break;
		case 'i':
		case 'o':
			if (strlen(optarg) >= IFNAMSIZ) {
				fprintf(stderr, "%s: trace: interface name '%s' too long\n",
					cli_prog, optarg);
				return CLI_EXIT_PARAM;
			}
			*(c == 'i' ? &o.in : &o.out) = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'T':
			o.pcap_time = true;
			break;
		case 'M':
			o.marks = optarg;
			break;
		case 'O':
			o.out_pcap = optarg;
			break;
		case 'R':
			o.prio_out = optarg;
			break;
		case 'C':
			o.chains = optarg;
			break;
		case 'S':
			if (o.n_ct_set == ARRAY_SIZE(o.ct_set)) {
				fprintf(stderr, "%s trace: too many --ct-set\n", cli_prog);
				return CLI_EXIT_PARAM;
			}
			o.ct_set[o.n_ct_set++] = optarg;
			break;
		case 'L':
			o.ct_list = true;
			break;
		case 1001:
			o.timing = optarg;
			break;
		case 'b':
			in.blob = optarg;
			break;
		case 't':
			if (cli_input_select(&in, optarg))
				return CLI_EXIT_PARAM;
			break;
		case 'h':
			trace_usage(stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try `%s trace --help' for more information.\n", cli_prog);
			return CLI_EXIT_PARAM;
		}
	}
	if (cli_input_source(&in, argc, argv, optind, " trace"))
		return CLI_EXIT_PARAM;
	if (!o.pcap) {
		fprintf(stderr, "%s trace: no --pcap FILE given\n", cli_prog);
		fprintf(stderr, "Try `%s trace --help' for more information.\n", cli_prog);
		return CLI_EXIT_PARAM;
	}
	rc = cli_tables_load(&in, &tables);
	if (rc)
		return rc;
	rc = run_trace(&o, &tables);
	cli_tables_release(&tables);
	return rc;
}
