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
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>

#include "cli.h"
#include "pcap.h"
#include "codegen/load.h"
#include "codegen/progset.h"
#include "translator/util.h"

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
};

static void trace_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s trace RULES.v4 --pcap FILE [--chain INPUT|FORWARD|OUTPUT]\n"
		"                    [--in IF] [--out IF] [--json] [--pcap-time] [--blob FILE]\n"
		"                    [-t TABLE]\n"
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
		"  --pcap-time     the packets' pcap timestamps are the clock the rules see\n"
		"                  (limit, hashlimit, recent, conntrack timeouts), in ns and in\n"
		"                  jiffies at the running kernel's HZ; default: the real clock\n"
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

struct trace_table {
	const struct ipt2bpf_table *t;
	int map_fd;
	struct ipt2bpf_counter *before, *after;
};

static void print_result(const struct trace_opts *o, unsigned long n, const char *verdict,
			 struct trace_table *tt, unsigned int n_tt)
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
	if (o->json)
		printf("],\"policy\":%s}\n", policy ? "true" : "false");
	else
		printf("%s\n", policy ? "  (policy)" : "");
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

/* The coarse clocks tick once a jiffy: their resolution is 1/HZ. */
static uint64_t trace_ns_per_jiffy(void)
{
	struct timespec ts;

	if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) || ts.tv_sec || ts.tv_nsec <= 0)
		return 4000000; /* HZ=250, Debian's */
	return (uint64_t)ts.tv_nsec;
}

static int run_trace(const struct trace_opts *o, struct cli_tables *tables)
{
	struct ipt2bpf_gen_opts gopts = {.mode = IPT2BPF_MODE_TC, .trace = true};
	_free_ipt2bpf_progset_ struct ipt2bpf_progset *ps = NULL;
	struct ipt2bpf_loaded l = {0};
	struct ipt2bpf_diag d = {0};
	struct trace_table tt[2] = {0};
	struct ipt2bpf_cfg cfg = {0};
	struct cli_pcap pc;
	unsigned long n = 0;
	int prog_fd = -1, cfg_fd, err, rc = CLI_EXIT_FAIL;
	uint32_t zero = 0;
	uint64_t ns_per_jiffy = trace_ns_per_jiffy();
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
		if (ps->progs[i].role == IPT2BPF_P_TRACE && ps->progs[i].hook == o->hook)
			prog_fd = l.prog_fds[i];
	cfg_fd = ipt2bpf_progset_find_map(ps, IPT2BPF_MAP_CFG);
	if (prog_fd < 0 || cfg_fd < 0) {
		fprintf(stderr, "%s: internal error: no trace program for this chain\n", cli_prog);
		goto out;
	}
	cfg_fd = l.map_fds[cfg_fd];

	/* The traced devices: names matched exactly as iptables matches them. */
	if (o->hook != NF_INET_LOCAL_OUT)
		cfg.iif = TRACE_IFINDEX_IN;
	if (o->hook != NF_INET_LOCAL_IN)
		cfg.oif = strcmp(o->in, o->out) || o->hook == NF_INET_LOCAL_OUT ? TRACE_IFINDEX_OUT
										: TRACE_IFINDEX_IN;
	err = ipt2bpf_ifaces_set(ps, &l, 0, "");
	if (!err && cfg.iif)
		err = ipt2bpf_ifaces_set(ps, &l, cfg.iif, o->in);
	if (!err && cfg.oif)
		err = ipt2bpf_ifaces_set(ps, &l, cfg.oif, o->out);
	if (!err && bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY))
		err = -errno;
	if (err) {
		fprintf(stderr, "%s: setting up trace maps: %s\n", cli_prog, strerror(-err));
		goto out;
	}

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
		for (unsigned int k = 0; k < ps->n_tables; k++) {
			err = ipt2bpf_counters_read(tt[k].map_fd, tt[k].t->n_entries, tt[k].before);
			if (err)
				break;
		}
		if (err)
			break;
		if (!trace_frame_runnable(&pc, &len)) {
			/*
			 * BPF_PROG_TEST_RUN cannot build an skb from a frame without a
			 * complete IPv4 header, and the kernel's ip_rcv() drops such a
			 * frame before any hook: the chain never sees it.
			 */
			print_result(o, n, "PASS", tt, 0);
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
		run.data_in = pc.buf;
		run.data_size_in = len;
		if (bpf_prog_test_run_opts(prog_fd, &run)) {
			err = -errno;
			break;
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
		print_result(o, n, verdict, tt, ps->n_tables);
	}
	cli_pcap_close(&pc);
	if (err < 0) {
		fprintf(stderr, "%s: %s: packet %lu: %s\n", cli_prog, o->pcap, n,
			err == -EBADMSG ? "truncated pcap record" : strerror(-err));
		goto out_free;
	}
	fflush(stdout);
	rc = CLI_EXIT_OK;
out_free:
	for (unsigned int k = 0; k < 2; k++) {
		free(tt[k].before);
		free(tt[k].after);
	}
out:
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
