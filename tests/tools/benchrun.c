// SPDX-License-Identifier: GPL-2.0
/*
 * benchrun: what a rule set costs, for `make bench` (scripts/bench.sh).
 *
 *   benchrun [--no-optimise] [--live] [--repeat N] [--rounds R]
 *            [--chain INPUT|FORWARD|OUTPUT] {RULES.v4 | --blob FILE} [--pkts FILE]
 *
 * Compiles the rules and prints, one "key value" pair per line:
 *
 *   parse_ms     iptables-legacy-restore under the shim (capture), validation, decoding
 *
 * with --live, what `ipt2bpf load` compiles (ingress and egress, tc mode):
 *
 *   live_gen_ms  code generation, the optimiser included
 *   live_load_ms map creation, map contents, verification and loading of both programs
 *   live_insns   their instructions
 *   live_map_kb  memory of their maps (the kernel's memlock figure)
 *
 * and with --pkts, the same for the trace programs (as `ipt2bpf trace`
 * compiles them; gen_ms, load_ms, insns of the program timed, map_kb),
 * then for every packet of --pkts (benchgen's format: NAME PROTO SADDR DADDR
 * SPORT DPORT), timed with BPF_PROG_TEST_RUN (repeat N, the median of R
 * rounds), against an empty TC program timed in the same rounds:
 *
 *   pkt NAME ns X empty_ns Y verdict V
 *
 * X - Y is what filtering costs over an empty program on the same hook.
 *
 *   benchrun --equiv PCAP [--chain C] [--in IF] [--out IF] {RULES.v4 | --blob FILE}
 *
 * instead runs every packet of PCAP, in order, through the optimised programs
 * and through straight-line code (--no-optimise), and compares the verdicts
 * and the rules each packet counted (packets and bytes).  Prints "equiv N
 * packets, M differences" and the first differences; exit status 1 if any.
 *
 *   benchrun --attach-empty DEV --mode tc|xdp
 *
 * attaches a program that drops every packet (TC ingress or native XDP) to
 * DEV and returns: the "empty program" of the end-to-end benchmark.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <net/if.h>

#include "codegen/load.h"
#include "codegen/progset.h"
#include "tests/tools/pcap.h"
#include "translator/capture.h"
#include "translator/diag.h"
#include "translator/ir.h"
#include "translator/validate.h"

#define MAX_PKTS   16
#define MAX_ROUNDS 51
#define EQ_SHOW	   10

struct bpkt {
	char name[32];
	uint8_t frame[256];
	size_t len;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int build_pkt(struct bpkt *p, const char *name, int proto, uint32_t src, uint32_t dst,
		     uint16_t sport, uint16_t dport)
{
	static const uint8_t mac_d[6] = {2, 0, 0, 0, 1, 1}, mac_s[6] = {2, 0, 0, 0, 1, 2};
	struct ipt2bpf_ip4 ip = {
		.saddr = src, .daddr = dst, .proto = (uint8_t)proto, .ttl = 64, .id = 1};
	uint8_t l4[64], pay[18] = {0};
	int n;

	snprintf(p->name, sizeof(p->name), "%s", name);
	if (proto == 6) {
		struct ipt2bpf_tcp t = {
			.sport = sport, .dport = dport, .flags = 0x02, .window = 512};

		n = ipt2bpf_pkt_tcp(l4, sizeof(l4), src, dst, &t, pay, sizeof(pay));
	} else if (proto == 17) {
		n = ipt2bpf_pkt_udp(l4, sizeof(l4), src, dst, sport, dport, pay, sizeof(pay));
	} else if (proto == 1) {
		n = ipt2bpf_pkt_icmp(l4, sizeof(l4), 8, 0, 1, pay, sizeof(pay));
	} else {
		memcpy(l4, pay, sizeof(pay));
		n = sizeof(pay);
	}
	if (n < 0)
		return n;
	n = ipt2bpf_pkt_ipv4(p->frame, sizeof(p->frame), mac_d, mac_s, &ip, l4, (size_t)n);
	if (n < 0)
		return n;
	p->len = (size_t)n;
	return 0;
}

static int read_pkts(const char *path, struct bpkt *pk, unsigned int *n)
{
	char name[32], s[32], d[32];
	int proto;
	unsigned int sp, dp;
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	*n = 0;
	while (*n < MAX_PKTS &&
	       fscanf(f, "%31s %d %31s %31s %u %u", name, &proto, s, d, &sp, &dp) == 6) {
		struct in_addr a, b;

		if (!inet_aton(s, &a) || !inet_aton(d, &b) ||
		    build_pkt(&pk[*n], name, proto, ntohl(a.s_addr), ntohl(b.s_addr), (uint16_t)sp,
			      (uint16_t)dp)) {
			fclose(f);
			return -EINVAL;
		}
		(*n)++;
	}
	fclose(f);
	return 0;
}

/* The kernel's memlock figure of a map (what it charges for the map's memory). */
static unsigned long map_memlock(int fd)
{
	char path[64], line[256];
	unsigned long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lu", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int empty_prog(void)
{
	struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = TC_ACT_OK},
		{.code = BPF_JMP | BPF_EXIT},
	};

	return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "empty", "GPL", insns, 2, NULL);
}

static int time_run(int fd, const struct bpkt *p, unsigned int repeat, uint32_t *ns, uint32_t *ret)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->frame, .data_size_in = (uint32_t)p->len,
		    .repeat = (int)repeat);

	if (bpf_prog_test_run_opts(fd, &o))
		return -errno;
	*ns = o.duration;
	*ret = o.retval;
	return 0;
}

static const char *verdict(uint32_t r)
{
	return r == TC_ACT_OK ? "ACCEPT" : r == TC_ACT_SHOT ? "DROP" : "PASS";
}

/* One compiled and loaded program set and the program for the hook. */
struct side {
	struct ipt2bpf_progset *ps;
	struct ipt2bpf_loaded l;
	int fd;
	struct ipt2bpf_counter *before[2], *after[2];
};

static int side_load(struct side *sd, struct ipt2bpf_table **tables, unsigned int n_tables,
		     bool no_opt, int hook, const char *in, const char *out)
{
	struct ipt2bpf_gen_opts gopts = {
		.mode = IPT2BPF_MODE_TC, .trace = true, .no_optimise = no_opt};
	struct ipt2bpf_cfg cv = {.iif = hook == NF_INET_LOCAL_OUT ? 0 : 1001,
				 .oif = hook == NF_INET_LOCAL_IN ? 0 : 1002};
	struct ipt2bpf_diag d = {0};
	uint32_t zero = 0;
	int cfg;

	sd->fd = -1;
	if (ipt2bpf_gen((const struct ipt2bpf_table *const *)tables, n_tables, &gopts, &sd->ps,
			&d) ||
	    ipt2bpf_progset_load(sd->ps, &sd->l, &d)) {
		fprintf(stderr, "benchrun: %s%s\n", no_opt ? "(--no-optimise) " : "", d.msg);
		return -1;
	}
	for (unsigned int i = 0; i < sd->ps->n_progs; i++)
		if (sd->ps->progs[i].role == IPT2BPF_P_TRACE && sd->ps->progs[i].hook == hook)
			sd->fd = sd->l.prog_fds[i];
	cfg = ipt2bpf_progset_find_map(sd->ps, IPT2BPF_MAP_CFG);
	if (sd->fd < 0 || cfg < 0)
		return -1;
	bpf_map_update_elem(sd->l.map_fds[cfg], &zero, &cv, BPF_ANY);
	if (cv.iif)
		ipt2bpf_ifaces_set(sd->ps, &sd->l, cv.iif, in);
	if (cv.oif)
		ipt2bpf_ifaces_set(sd->ps, &sd->l, cv.oif, out);
	for (unsigned int k = 0; k < n_tables; k++) {
		sd->before[k] = calloc(tables[k]->n_entries, sizeof(**sd->before));
		sd->after[k] = calloc(tables[k]->n_entries, sizeof(**sd->after));
		if (!sd->before[k] || !sd->after[k])
			return -1;
	}
	return 0;
}

static void side_free(struct side *sd)
{
	for (unsigned int k = 0; k < 2; k++) {
		free(sd->before[k]);
		free(sd->after[k]);
	}
	ipt2bpf_loaded_close(&sd->l);
	ipt2bpf_progset_free(sd->ps);
}

/* ipt2bpf_counters_read() in batches: one syscall for the whole table. */
static int counters_batch(int fd, unsigned int n, struct ipt2bpf_counter *out)
{
	static struct ipt2bpf_counter *vals;
	static uint32_t *keys;
	static unsigned int cap;
	int ncpus = libbpf_num_possible_cpus();
	uint32_t count = n, in_batch = 0, out_batch;
	LIBBPF_OPTS(bpf_map_batch_opts, bo);

	if (ncpus <= 0)
		return -1;
	if (n > cap) {
		free(vals);
		free(keys);
		vals = calloc((size_t)n * ncpus, sizeof(*vals));
		keys = calloc(n, sizeof(*keys));
		cap = vals && keys ? n : 0;
		if (!cap)
			return -1;
	}
	if (bpf_map_lookup_batch(fd, NULL, &out_batch, keys, vals, &count, &bo) && errno != ENOENT)
		return ipt2bpf_counters_read(fd, n, out);
	(void)in_batch;
	if (count != n)
		return ipt2bpf_counters_read(fd, n, out);
	for (unsigned int i = 0; i < n; i++) {
		out[keys[i]] = (struct ipt2bpf_counter){0};
		for (int c = 0; c < ncpus; c++) {
			out[keys[i]].pcnt += vals[(size_t)i * ncpus + c].pcnt;
			out[keys[i]].bcnt += vals[(size_t)i * ncpus + c].bcnt;
		}
	}
	return 0;
}

/* Runs one frame; *ret = the program's return, or -1 if test-run refused the frame. */
static int side_run(struct side *sd, struct ipt2bpf_table **tables, unsigned int n_tables,
		    const void *frame, size_t len, int *ret)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (uint32_t)len,
		    .repeat = 1);

	for (unsigned int k = 0; k < n_tables; k++) {
		struct ipt2bpf_counter *t = sd->before[k];

		sd->before[k] = sd->after[k];
		sd->after[k] = t;
	}
	*ret = bpf_prog_test_run_opts(sd->fd, &o) ? -1 : (int)o.retval;
	for (unsigned int k = 0; k < n_tables; k++)
		if (counters_batch(sd->l.map_fds[sd->ps->counter_map[k]], tables[k]->n_entries,
				   sd->after[k]))
			return -1;
	return 0;
}

static int equiv(struct ipt2bpf_table **tables, unsigned int n_tables, int hook, const char *pcap,
		 const char *in, const char *out)
{
	struct side a = {0}, b = {0};
	struct ipt2bpf_pcap pc;
	static uint8_t frame[IPT2BPF_PKT_MAX + 64];
	unsigned long n = 0, diffs = 0;
	size_t len;
	int r, rc = 1;

	if (side_load(&a, tables, n_tables, false, hook, in, out) ||
	    side_load(&b, tables, n_tables, true, hook, in, out))
		goto out;
	/* the counters as loaded: what the first packet's deltas start from */
	for (unsigned int k = 0; k < n_tables; k++)
		if (ipt2bpf_counters_read(a.l.map_fds[a.ps->counter_map[k]], tables[k]->n_entries,
					  a.after[k]) ||
		    ipt2bpf_counters_read(b.l.map_fds[b.ps->counter_map[k]], tables[k]->n_entries,
					  b.after[k]))
			goto out;
	if (ipt2bpf_pcap_open(&pc, pcap)) {
		fprintf(stderr, "benchrun: %s: cannot read it\n", pcap);
		goto out;
	}
	while ((r = ipt2bpf_pcap_next(&pc, frame, sizeof(frame), &len)) > 0) {
		int ra, rb;
		bool same;

		n++;
		if (len < 60) { /* as a NIC pads short frames (test-run wants an Ethernet frame) */
			memset(frame + len, 0, 60 - len);
			len = 60;
		}
		if (side_run(&a, tables, n_tables, frame, len, &ra) ||
		    side_run(&b, tables, n_tables, frame, len, &rb))
			break;
		same = ra == rb;
		for (unsigned int k = 0; k < n_tables && same; k++)
			for (unsigned int i = 0; i < tables[k]->n_entries && same; i++)
				same = a.after[k][i].pcnt - a.before[k][i].pcnt ==
					       b.after[k][i].pcnt - b.before[k][i].pcnt &&
				       a.after[k][i].bcnt - a.before[k][i].bcnt ==
					       b.after[k][i].bcnt - b.before[k][i].bcnt;
		if (same)
			continue;
		if (++diffs <= EQ_SHOW) {
			printf("difference: packet %lu: verdict %d (optimised) vs %d "
			       "(straight-line)\n",
			       n, ra, rb);
			for (unsigned int k = 0; k < n_tables; k++)
				for (unsigned int i = 0; i < tables[k]->n_entries; i++) {
					uint64_t da = a.after[k][i].pcnt - a.before[k][i].pcnt;
					uint64_t db = b.after[k][i].pcnt - b.before[k][i].pcnt;
					char w[128];

					if (!da && !db)
						continue;
					ipt2bpf_entry_describe(tables[k], i, w, sizeof(w));
					printf("  %s: %llu vs %llu\n", w, (unsigned long long)da,
					       (unsigned long long)db);
				}
		}
	}
	ipt2bpf_pcap_close(&pc);
	printf("equiv %lu packets, %lu differences\n", n, diffs);
	rc = diffs || r < 0 ? 1 : 0;
out:
	side_free(&a);
	side_free(&b);
	return rc;
}

/* A drop-everything program on dev's TC ingress or XDP hook (it stays after we exit). */
static int attach_empty(const char *dev, const char *mode)
{
	bool xdp = !strcmp(mode, "xdp");
	struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K,
		 .dst_reg = BPF_REG_0,
		 .imm = xdp ? XDP_DROP : TC_ACT_SHOT},
		{.code = BPF_JMP | BPF_EXIT},
	};
	int ifindex = (int)if_nametoindex(dev), fd, err;

	if (!ifindex) {
		fprintf(stderr, "benchrun: %s: no such device\n", dev);
		return 1;
	}
	fd = bpf_prog_load(xdp ? BPF_PROG_TYPE_XDP : BPF_PROG_TYPE_SCHED_CLS, "empty", "GPL", insns,
			   2, NULL);
	if (fd < 0) {
		perror("benchrun: empty program");
		return 1;
	}
	if (xdp) {
		err = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL);
	} else {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, to, .prog_fd = fd, .handle = 1, .priority = 1);

		err = bpf_tc_hook_create(&hook);
		if (!err || err == -EEXIST)
			err = bpf_tc_attach(&hook, &to);
	}
	if (err) {
		fprintf(stderr, "benchrun: attaching to %s: %s\n", dev, strerror(-err));
		return 1;
	}
	return 0;
}

/*
 * What `ipt2bpf load` compiles (ingress and egress programs, tc mode): code
 * generation, then maps, their contents and verification, timed apart.
 */
static int live_times(struct ipt2bpf_table **tables, unsigned int n_tables, bool no_opt)
{
	struct ipt2bpf_gen_opts gopts = {.mode = IPT2BPF_MODE_TC, .no_optimise = no_opt};
	struct ipt2bpf_progset *ps = NULL;
	struct ipt2bpf_loaded l = {0};
	struct ipt2bpf_diag d = {0};
	unsigned long mem = 0, insns = 0;
	double t0 = now_ms(), t1, t2;

	if (ipt2bpf_gen((const struct ipt2bpf_table *const *)tables, n_tables, &gopts, &ps, &d)) {
		fprintf(stderr, "benchrun: %s\n", d.msg);
		return -1;
	}
	t1 = now_ms();
	if (ipt2bpf_progset_load(ps, &l, &d)) {
		fprintf(stderr, "benchrun: %s\n", d.msg);
		ipt2bpf_progset_free(ps);
		return -1;
	}
	t2 = now_ms();
	for (unsigned int i = 0; i < l.n_maps; i++)
		mem += map_memlock(l.map_fds[i]);
	for (unsigned int i = 0; i < ps->n_progs; i++)
		insns += ps->progs[i].n_insns;
	printf("live_gen_ms %.1f\nlive_load_ms %.1f\nlive_insns %lu\nlive_map_kb %lu\n", t1 - t0,
	       t2 - t1, insns, mem / 1024);
	ipt2bpf_loaded_close(&l);
	ipt2bpf_progset_free(ps);
	return 0;
}

static void set_shim(const char *argv0)
{
	char exe[4096], *dir, path[4200];
	ssize_t n;

	if (getenv("IPT2BPF_SHIM"))
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = 0;
	dir = dirname(exe);
	snprintf(path, sizeof(path), "%s/../libipt2bpf-shim.so", dir);
	if (!access(path, R_OK))
		setenv("IPT2BPF_SHIM", path, 0);
	(void)argv0;
}

static int quiet(enum libbpf_print_level l, const char *fmt, va_list ap)
{
	(void)l;
	(void)fmt;
	(void)ap;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"no-optimise", no_argument, NULL, 'N'},
		{"repeat", required_argument, NULL, 'r'},
		{"rounds", required_argument, NULL, 'R'},
		{"chain", required_argument, NULL, 'c'},
		{"blob", required_argument, NULL, 'b'},
		{"pkts", required_argument, NULL, 'p'},
		{"equiv", required_argument, NULL, 'e'},
		{"in", required_argument, NULL, 'i'},
		{"out", required_argument, NULL, 'o'},
		{"attach-empty", required_argument, NULL, 'A'},
		{"mode", required_argument, NULL, 'M'},
		{"live", no_argument, NULL, 'L'},
		{0},
	};
	struct ipt2bpf_gen_opts gopts = {.mode = IPT2BPF_MODE_TC, .trace = true};
	struct ipt2bpf_blob blobs[IPT2BPF_MAX_TABLES];
	struct ipt2bpf_table *tables[2] = {0};
	struct ipt2bpf_progset *ps = NULL;
	struct ipt2bpf_loaded l = {0};
	struct ipt2bpf_diag d = {0};
	struct bpkt pk[MAX_PKTS];
	unsigned int n_blobs = 0, n_tables = 0, n_pkts = 0, repeat = 100000, rounds = 5;
	const char *rules = NULL, *blob = NULL, *pkts = NULL, *eq_pcap = NULL;
	const char *in = "eth0", *out = "eth1", *attach_dev = NULL, *mode = "tc";
	bool live = false;
	int hook = NF_INET_LOCAL_IN, c, prog_fd = -1, efd, err, cfg, prog_i = -1;
	unsigned long mem = 0;
	double t0, t1, t2, t3;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'N':
			gopts.no_optimise = true;
			break;
		case 'r':
			repeat = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'R':
			rounds = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			hook = !strcmp(optarg, "FORWARD")  ? NF_INET_FORWARD
			       : !strcmp(optarg, "OUTPUT") ? NF_INET_LOCAL_OUT
							   : NF_INET_LOCAL_IN;
			break;
		case 'b':
			blob = optarg;
			break;
		case 'p':
			pkts = optarg;
			break;
		case 'e':
			eq_pcap = optarg;
			break;
		case 'A':
			attach_dev = optarg;
			break;
		case 'M':
			mode = optarg;
			break;
		case 'L':
			live = true;
			break;
		case 'i':
			in = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			fprintf(stderr, "usage: benchrun [--no-optimise] [--repeat N] [--rounds R] "
					"[--chain C] {RULES.v4 | --blob F} [--pkts F]\n");
			return 2;
		}
	}
	if (attach_dev) {
		libbpf_set_print(quiet);
		return attach_empty(attach_dev, mode);
	}
	if (optind < argc)
		rules = argv[optind];
	if (!rules == !blob || !repeat || !rounds || rounds > MAX_ROUNDS) {
		fprintf(stderr, "benchrun: give RULES.v4 or --blob\n");
		return 2;
	}
	libbpf_set_print(quiet);
	set_shim(argv[0]);
	if (pkts && read_pkts(pkts, pk, &n_pkts)) {
		fprintf(stderr, "benchrun: %s: bad packet list\n", pkts);
		return 2;
	}

	t0 = now_ms();
	err = blob ? ipt2bpf_blob_read(blob, &blobs[0], &d)
		   : ipt2bpf_capture(rules, blobs, IPT2BPF_MAX_TABLES, &n_blobs, &d);
	if (blob && !err)
		n_blobs = 1;
	for (unsigned int i = 0; !err && i < n_blobs && n_tables < 2; i++) {
		if (strcmp(blobs[i].table, "filter") && strcmp(blobs[i].table, "security"))
			continue;
		err = ipt2bpf_validate(blobs[i].repl, blobs[i].len, &d);
		if (!err)
			err = ipt2bpf_table_decode(blobs[i].repl, blobs[i].len, &tables[n_tables++],
						   &d);
	}
	if (err || !n_tables) {
		fprintf(stderr, "benchrun: %s\n", err ? d.msg : "no filter table");
		return 1;
	}
	t1 = now_ms();
	if (eq_pcap) {
		int rc = equiv(tables, n_tables, hook, eq_pcap, in, out);

		for (unsigned int i = 0; i < n_tables; i++)
			ipt2bpf_table_free(tables[i]);
		for (unsigned int i = 0; i < n_blobs; i++)
			ipt2bpf_blob_release(&blobs[i]);
		return rc;
	}
	printf("parse_ms %.1f\n", t1 - t0);
	if (live && live_times(tables, n_tables, gopts.no_optimise))
		return 1;
	if (!pkts)
		goto done;
	t1 = now_ms();
	err = ipt2bpf_gen((const struct ipt2bpf_table *const *)tables, n_tables, &gopts, &ps, &d);
	if (err) {
		fprintf(stderr, "benchrun: %s\n", d.msg);
		return 1;
	}
	t2 = now_ms();
	err = ipt2bpf_progset_load(ps, &l, &d);
	if (err) {
		fprintf(stderr, "benchrun: %s\n", d.msg);
		return 1;
	}
	t3 = now_ms();
	for (unsigned int i = 0; i < ps->n_progs; i++)
		if (ps->progs[i].role == IPT2BPF_P_TRACE && ps->progs[i].hook == hook)
			prog_i = (int)i;
	cfg = ipt2bpf_progset_find_map(ps, IPT2BPF_MAP_CFG);
	if (prog_i < 0 || cfg < 0) {
		fprintf(stderr, "benchrun: no trace program\n");
		return 1;
	}
	prog_fd = l.prog_fds[prog_i];
	for (unsigned int i = 0; i < l.n_maps; i++)
		mem += map_memlock(l.map_fds[i]);
	printf("gen_ms %.1f\nload_ms %.1f\ninsns %u\nmap_kb %lu\n", t2 - t1, t3 - t2,
	       ps->progs[prog_i].n_insns, mem / 1024);
	{
		struct ipt2bpf_cfg cv = {.iif = hook == NF_INET_LOCAL_OUT ? 0 : 1001,
					 .oif = hook == NF_INET_LOCAL_IN ? 0 : 1002};
		uint32_t zero = 0;

		bpf_map_update_elem(l.map_fds[cfg], &zero, &cv, BPF_ANY);
		ipt2bpf_ifaces_set(ps, &l, 1001, in);
		ipt2bpf_ifaces_set(ps, &l, 1002, out);
	}
	efd = empty_prog();
	if (efd < 0) {
		perror("benchrun: empty program");
		return 1;
	}
	for (unsigned int i = 0; i < n_pkts; i++) {
		uint32_t a[MAX_ROUNDS], b[MAX_ROUNDS], ret = 0, eret;

		for (unsigned int r = 0; r < rounds; r++) {
			if (time_run(efd, &pk[i], repeat, &b[r], &eret) ||
			    time_run(prog_fd, &pk[i], repeat, &a[r], &ret)) {
				perror("benchrun: test run");
				return 1;
			}
		}
		qsort(a, rounds, sizeof(a[0]), cmp_u32);
		qsort(b, rounds, sizeof(b[0]), cmp_u32);
		printf("pkt %s ns %u empty_ns %u verdict %s\n", pk[i].name, a[rounds / 2],
		       b[rounds / 2], verdict(ret));
	}
	fflush(stdout);
	close(efd);
	ipt2bpf_loaded_close(&l);
	ipt2bpf_progset_free(ps);
done:
	for (unsigned int i = 0; i < n_tables; i++)
		ipt2bpf_table_free(tables[i]);
	for (unsigned int i = 0; i < n_blobs; i++)
		ipt2bpf_blob_release(&blobs[i]);
	return 0;
}
