// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf conntrack: the connection tracker's table (codegen/ct.h) of the
 * loaded rule set, like conntrack(8):
 *
 *   ipt2bpf conntrack [-L] [--json]   the connections
 *   ipt2bpf conntrack -S [--json]     counters: entries, new, invalid, ...
 *   ipt2bpf conntrack -F              flush the table
 *
 * The table is the runtime's shared map <state dir>/shared/ipt_ct.  Also the
 * pieces `ipt2bpf trace` uses: conntrack settings for the trace programs
 * (--ct-set) and the table after the last packet (--ct-list).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "cli.h"
#include "codegen/ct.h"
#include "codegen/load.h"
#include "translator/util.h"
#include "umh/runtime.h"

#define NS_PER_S 1000000000ULL

static const char *const tcp_state_names[] = {
	[TCP_CONNTRACK_NONE] = "NONE",	       [TCP_CONNTRACK_SYN_SENT] = "SYN_SENT",
	[TCP_CONNTRACK_SYN_RECV] = "SYN_RECV", [TCP_CONNTRACK_ESTABLISHED] = "ESTABLISHED",
	[TCP_CONNTRACK_FIN_WAIT] = "FIN_WAIT", [TCP_CONNTRACK_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCP_CONNTRACK_LAST_ACK] = "LAST_ACK", [TCP_CONNTRACK_TIME_WAIT] = "TIME_WAIT",
	[TCP_CONNTRACK_CLOSE] = "CLOSE",       [TCP_CONNTRACK_SYN_SENT2] = "SYN_SENT2",
};

static const char *const stat_names[GEN_CT_STAT_MAX] = {
	[GEN_CT_STAT_NEW] = "new",
	[GEN_CT_STAT_FOUND] = "found",
	[GEN_CT_STAT_INVALID] = "invalid",
	[GEN_CT_STAT_RELATED] = "related",
	[GEN_CT_STAT_EXPIRED] = "expired_seen",
	[GEN_CT_STAT_DELETED] = "deleted",
	[GEN_CT_STAT_INSERT_FAIL] = "insert_failed",
	[GEN_CT_STAT_DROPPED_NEW] = "dropped_new",
	[GEN_CT_STAT_REPLACED] = "replaced",
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static const char *proto_name(uint8_t p)
{
	switch (p) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	default:
		return "unknown";
	}
}

/* One direction's tuple, conntrack(8) style: src= dst= then the protocol's fields. */
static void print_tuple(FILE *f, const struct gen_ct_entry *e, bool reply)
{
	char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];
	uint16_t sp = reply ? e->rsport : e->sport, dp = reply ? e->rdport : e->dport;

	inet_ntop(AF_INET, reply ? &e->dst : &e->src, s, sizeof(s));
	inet_ntop(AF_INET, reply ? &e->src : &e->dst, d, sizeof(d));
	fprintf(f, "src=%s dst=%s ", s, d);
	if (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP)
		fprintf(f, "sport=%u dport=%u ", ntohs(sp), ntohs(dp));
	else if (e->proto == IPPROTO_ICMP)
		fprintf(f, "type=%u code=%u id=%u ", ntohs(dp) >> 8, ntohs(dp) & 0xff, ntohs(sp));
	fprintf(f, "packets=%llu bytes=%llu ", (unsigned long long)e->packets[reply],
		(unsigned long long)e->bytes[reply]);
}

static void json_tuple(FILE *f, const struct gen_ct_entry *e, bool reply)
{
	char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];
	uint16_t sp = reply ? e->rsport : e->sport, dp = reply ? e->rdport : e->dport;

	inet_ntop(AF_INET, reply ? &e->dst : &e->src, s, sizeof(s));
	inet_ntop(AF_INET, reply ? &e->src : &e->dst, d, sizeof(d));
	fprintf(f, "{\"src\":\"%s\",\"dst\":\"%s\"", s, d);
	if (e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP)
		fprintf(f, ",\"sport\":%u,\"dport\":%u", ntohs(sp), ntohs(dp));
	else if (e->proto == IPPROTO_ICMP)
		fprintf(f, ",\"type\":%u,\"code\":%u,\"id\":%u", ntohs(dp) >> 8, ntohs(dp) & 0xff,
			ntohs(sp));
	fprintf(f, ",\"packets\":%llu,\"bytes\":%llu}", (unsigned long long)e->packets[reply],
		(unsigned long long)e->bytes[reply]);
}

static void print_entry(FILE *f, const struct gen_ct_entry *e, uint64_t now, bool json)
{
	uint64_t left = e->expires > now ? (e->expires - now) / NS_PER_S : 0;
	const char *state = e->proto == IPPROTO_TCP && e->state < ARRAY_SIZE(tcp_state_names)
				    ? tcp_state_names[e->state]
				    : NULL;

	if (json) {
		fprintf(f, "{\"proto\":\"%s\",\"protonum\":%u,\"timeout\":%llu,",
			proto_name(e->proto), e->proto, (unsigned long long)left);
		if (state)
			fprintf(f, "\"state\":\"%s\",", state);
		fprintf(f, "\"orig\":");
		json_tuple(f, e, false);
		fprintf(f, ",\"reply\":");
		json_tuple(f, e, true);
		fprintf(f, ",\"status\":{\"seen_reply\":%s,\"assured\":%s,\"confirmed\":%s}",
			e->status & IPS_SEEN_REPLY ? "true" : "false",
			e->status & IPS_ASSURED ? "true" : "false",
			e->status & IPS_CONFIRMED ? "true" : "false");
		fprintf(f, ",\"mark\":%u,\"secmark\":%u,\"labels\":[", e->mark, e->secmark);
		for (unsigned int b = 0, n = 0; b < 128; b++)
			if (e->labels[b / 64] >> (b % 64) & 1)
				fprintf(f, "%s%u", n++ ? "," : "", b);
		fprintf(f, "]}\n");
		return;
	}
	fprintf(f, "%-8s %u %llu ", proto_name(e->proto), e->proto, (unsigned long long)left);
	if (state)
		fprintf(f, "%s ", state);
	print_tuple(f, e, false);
	if (!(e->status & IPS_SEEN_REPLY))
		fprintf(f, "[UNREPLIED] ");
	print_tuple(f, e, true);
	if (e->status & IPS_ASSURED)
		fprintf(f, "[ASSURED] ");
	fprintf(f, "mark=%u secmark=%u ", e->mark, e->secmark);
	/* connlabel bits, as conntrack -o labels without names: 128 bits in hex */
	if (e->labels[0] || e->labels[1])
		fprintf(f, "labels=0x%016llx%016llx ", (unsigned long long)e->labels[1],
			(unsigned long long)e->labels[0]);
	fprintf(f, "use=1\n");
}

/* The pinned table's entries are not this binary's struct gen_ct_entry (lookups would overflow). */
static bool ct_layout_differs(int fd)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return false; /* the lookups will say */
	return info.key_size != sizeof(struct gen_ct_key) ||
	       info.value_size != sizeof(struct gen_ct_entry);
}

/* Every live connection of the map; the count on success. */
static int ct_list(int fd, uint64_t now, bool json, FILE *f)
{
	struct gen_ct_key key, next;
	struct gen_ct_entry e;
	int n = 0;
	bool first = true;

	while (!bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		first = false;
		key = next;
		memset(&e, 0, sizeof(e));
		if (bpf_map_lookup_elem(fd, &key, &e))
			continue; /* gone meanwhile */
		if (e.expires <= now)
			continue; /* timed out: the kernel's GC would have removed it */
		print_entry(f, &e, now, json);
		n++;
	}
	return n;
}

/* Entries present in the map, live or not. */
static unsigned long ct_count(int fd, uint64_t now, unsigned long *live)
{
	struct gen_ct_key key, next;
	struct gen_ct_entry e;
	unsigned long n = 0;
	bool first = true;

	*live = 0;
	while (!bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		first = false;
		key = next;
		n++;
		if (!bpf_map_lookup_elem(fd, &key, &e) && e.expires > now)
			(*live)++;
	}
	return n;
}

static int ct_stats(int map_fd, int stats_fd, uint64_t now, bool json, FILE *f)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t sum[GEN_CT_STAT_MAX] = {0}, *vals;
	unsigned long present = 0, live = 0;
	long evicted;

	if (ncpus <= 0)
		return -EINVAL;
	vals = calloc((size_t)ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t i = 0; stats_fd >= 0 && i < GEN_CT_STAT_MAX; i++) {
		if (bpf_map_lookup_elem(stats_fd, &i, vals))
			continue;
		for (int c = 0; c < ncpus; c++)
			sum[i] += vals[c];
	}
	free(vals);
	if (map_fd >= 0)
		present = ct_count(map_fd, now, &live);
	/* What left the map without us deleting or replacing it: the LRU's evictions. */
	evicted = (long)sum[GEN_CT_STAT_NEW] - (long)sum[GEN_CT_STAT_DELETED] -
		  (long)sum[GEN_CT_STAT_REPLACED] - (long)present;
	if (evicted < 0)
		evicted = 0;
	if (json) {
		fprintf(f, "{\"entries\":%lu,\"live\":%lu,\"max\":%u,\"evicted\":%ld", present,
			live, GEN_CT_MAX_ENTRIES, evicted);
		for (int i = 0; i < GEN_CT_STAT_MAX; i++)
			fprintf(f, ",\"%s\":%llu", stat_names[i], (unsigned long long)sum[i]);
		fprintf(f, "}\n");
		return 0;
	}
	fprintf(f, "entries %lu (live %lu, max %u) evicted %ld", present, live, GEN_CT_MAX_ENTRIES,
		evicted);
	for (int i = 0; i < GEN_CT_STAT_MAX; i++)
		fprintf(f, " %s %llu", stat_names[i], (unsigned long long)sum[i]);
	fprintf(f, "\n");
	return 0;
}

/* ------------------------------------------------------------ trace */

int cli_ct_trace_setup(const struct ipt2bpf_progset *ps, const struct ipt2bpf_loaded *l,
		       const char *const *set, unsigned int n_set)
{
	int map = ipt2bpf_progset_find_map(ps, GEN_CT_CFG_MAP);
	struct gen_ct_cfg cfg;
	uint32_t zero = 0;

	gen_ct_cfg_defaults(&cfg);
	for (unsigned int i = 0; i < n_set; i++) {
		const char *eq = strchr(set[i], '=');
		char name[128], *end;
		unsigned long v;

		if (!eq || (size_t)(eq - set[i]) >= sizeof(name)) {
			fprintf(stderr, "%s trace: --ct-set %s: NAME=VALUE expected\n", cli_prog,
				set[i]);
			return CLI_EXIT_PARAM;
		}
		memcpy(name, set[i], (size_t)(eq - set[i]));
		name[eq - set[i]] = 0;
		errno = 0;
		v = strtoul(eq + 1, &end, 10);
		if (errno || *end || end == eq + 1 || gen_ct_cfg_set(&cfg, name, v)) {
			fprintf(stderr,
				"%s trace: --ct-set %s: unknown setting or bad value (the "
				"nf_conntrack_* sysctls of timeouts, tcp_loose, tcp_be_liberal, "
				"tcp_max_retrans, tcp_ignore_invalid_rst)\n",
				cli_prog, set[i]);
			return CLI_EXIT_PARAM;
		}
	}
	if (map < 0)
		return CLI_EXIT_OK; /* no rule uses connection state */
	if (bpf_map_update_elem(l->map_fds[map], &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "%s trace: %s: %s\n", cli_prog, GEN_CT_CFG_MAP, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

void cli_ct_trace_list(const struct ipt2bpf_progset *ps, const struct ipt2bpf_loaded *l,
		       unsigned long long now_ns, bool json, FILE *f)
{
	int map = ipt2bpf_progset_find_map(ps, GEN_CT_MAP);

	if (map < 0)
		return;
	ct_list(l->map_fds[map], now_ns ? now_ns : mono_ns(), json, f);
}

/* ------------------------------------------------------------ subcommand */

static void conntrack_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s conntrack [-L | -S | -F] [--json]\n"
		"\n"
		"The connection tracker's table of the rule set `%s load` put in this\n"
		"network namespace (rules with -m state, conntrack, connmark, connlimit,\n"
		"connbytes, connlabel, -j CONNMARK, CONNSECMARK).\n"
		"\n"
		"  -L, --list    the connections, as conntrack -L prints them (default)\n"
		"  -S, --stats   counters: entries, new, invalid, related, evicted, ...\n"
		"  -F, --flush   remove every connection\n"
		"  --json        one JSON object per connection (-L) or one for the counters\n",
		cli_prog, cli_prog);
}

int cli_conntrack(int argc, char **argv)
{
	static const struct option opts[] = {
		{"list", no_argument, NULL, 'L'},  {"stats", no_argument, NULL, 'S'},
		{"flush", no_argument, NULL, 'F'}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},  {},
	};
	_free_ipt2bpf_rt_ struct ipt2bpf_runtime *rt = NULL;
	struct ipt2bpf_diag d = {0};
	int c, cmd = 'L', map_fd, stats_fd, rc = CLI_EXIT_OK;
	bool json = false;

	while ((c = getopt_long(argc, argv, "LSFh", opts, NULL)) != -1) {
		switch (c) {
		case 'L':
		case 'S':
		case 'F':
			cmd = c;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			conntrack_usage(stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try `%s conntrack --help' for more information.\n",
				cli_prog);
			return CLI_EXIT_PARAM;
		}
	}
	if (cli_no_args(argc, argv, optind, " conntrack"))
		return CLI_EXIT_PARAM;
	if (ipt2bpf_rt_open(NULL, &rt, &d)) {
		fprintf(stderr, "%s conntrack: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	map_fd = ipt2bpf_rt_shared_map(rt, GEN_CT_MAP);
	if (map_fd < 0) {
		fprintf(stderr,
			"%s conntrack: no connection table in %s (no rule set loaded, or none "
			"that tracks connections)\n",
			cli_prog, ipt2bpf_rt_dir(rt));
		return CLI_EXIT_FAIL;
	}
	stats_fd = ipt2bpf_rt_shared_map(rt, GEN_CT_STATS_MAP);
	if (cmd != 'F' && ct_layout_differs(map_fd)) {
		fprintf(stderr,
			"%s conntrack: the connection table in %s has another layout (an older or "
			"newer ipt2bpf loaded it); loading a rule set with this one replaces it\n",
			cli_prog, ipt2bpf_rt_dir(rt));
		return CLI_EXIT_FAIL;
	}
	switch (cmd) {
	case 'L': {
		int n = ct_list(map_fd, mono_ns(), json, stdout);

		if (!json)
			fprintf(stderr, "%s conntrack: %d flow entries have been shown.\n",
				cli_prog, n);
		break;
	}
	case 'S':
		if (ct_stats(map_fd, stats_fd, mono_ns(), json, stdout))
			rc = CLI_EXIT_FAIL;
		break;
	case 'F': {
		struct gen_ct_key key;

		while (!bpf_map_get_next_key(map_fd, NULL, &key))
			if (bpf_map_delete_elem(map_fd, &key) && errno != ENOENT) {
				fprintf(stderr, "%s conntrack: flush: %s\n", cli_prog,
					strerror(errno));
				rc = CLI_EXIT_FAIL;
				break;
			}
		break;
	}
	}
	close(map_fd);
	if (stats_fd >= 0)
		close(stats_fd);
	return rc;
}
