// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf load | unload | status: the live runtime (umh/runtime.h) on the
 * current network namespace.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "labels.h"
#include "umh/runtime.h"

static void load_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s load RULES.v4 [--mode tc|xdp] [--xdp-mode auto|native|generic]\n"
		"                   [-t TABLE]... [--blob FILE] [--follow] [--bpffs DIR] [-v]\n"
		"\n"
		"Compiles the filter and security tables of RULES.v4 and attaches the programs\n"
		"to every interface of this network namespace, loopback included: TC ingress\n"
		"(INPUT, FORWARD) and egress (OUTPUT), or XDP for INPUT/FORWARD with --mode xdp.\n"
		"A rule set already loaded is replaced in place, without a moment unfiltered;\n"
		"counters of unchanged rules carry over.  State is pinned under\n"
		"DIR/ipt2bpf/<netns> (DIR: /sys/fs/bpf), so filtering outlives this process.\n"
		"\n"
		"  -m, --mode MODE       tc (default) or xdp\n"
		"      --xdp-mode HOW    auto (native where the driver has it, else generic),\n"
		"                        native or generic\n"
		"  -t, --table NAME      load only this table (repeatable; filter, security)\n"
		"      --blob FILE       a raw ipt_replace blob instead of RULES.v4\n"
		"  -f, --follow          stay in the foreground and attach to interfaces that\n"
		"                        appear later (rtnetlink), until SIGINT/SIGTERM\n"
		"      --bpffs DIR       bpffs mount point (default /sys/fs/bpf)\n"
		"  -v, --verbose         say what is attached where\n" CLI_SEC_USAGE,
		cli_prog);
}

static void status_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s status [--json] [--list [-t TABLE]] [--bpffs DIR]\n"
		"\n"
		"Shows the loaded rule set: mode, programs, what is attached on each interface,\n"
		"and every chain with its rules and counters as `iptables -L -v -n -x` shows\n"
		"them.  --list prints only the listing of one table (default filter).\n",
		cli_prog);
}

static void unload_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s unload [--bpffs DIR]\n"
		"\n"
		"Removes every filter, XDP link, pin and clsact qdisc ipt2bpf added in this\n"
		"network namespace, and nothing else.\n",
		cli_prog);
}

static int open_rt(const char *bpffs, struct ipt2bpf_runtime **rt)
{
	struct ipt2bpf_diag d = {0};
	int err = ipt2bpf_rt_open(bpffs, rt, &d);

	if (err) {
		fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	if (ipt2bpf_rt_mounted(*rt))
		fprintf(stderr, "%s: mounted bpffs on %s\n", cli_prog,
			bpffs ? bpffs : IPT2BPF_RT_BPFFS);
	return CLI_EXIT_OK;
}

static volatile sig_atomic_t follow_stop;

static void on_signal(int sig)
{
	(void)sig;
	follow_stop = 1;
}

static void follow_ready(void)
{
	printf("%s: following interfaces\n", cli_prog);
	fflush(stdout);
}

static int cmd_load(int argc, char **argv)
{
	static const struct option opts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"xdp-mode", required_argument, NULL, 'x'},
		{"table", required_argument, NULL, 't'},
		{"blob", required_argument, NULL, 'b'},
		{"follow", no_argument, NULL, 'f'},
		{"bpffs", required_argument, NULL, 'B'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		CLI_SEC_LONGOPTS,
		{},
	};
	struct ipt2bpf_rt_sec sec = {0};
	struct ipt2bpf_rt_load_opts lo = {.mode = IPT2BPF_MODE_TC, .xdp = IPT2BPF_RT_XDP_AUTO};
	_free_ipt2bpf_rt_ struct ipt2bpf_runtime *rt = NULL;
	struct ipt2bpf_rt_table rtt[2];
	struct ipt2bpf_diag d = {0};
	struct cli_input in = {0};
	struct cli_tables tables;
	const char *bpffs = NULL;
	bool follow = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "m:t:fvh", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "tc")) {
				lo.mode = IPT2BPF_MODE_TC;
			} else if (!strcmp(optarg, "xdp")) {
				lo.mode = IPT2BPF_MODE_XDP;
			} else {
				fprintf(stderr, "%s: unknown mode '%s' (tc or xdp)\n", cli_prog,
					optarg);
				return CLI_EXIT_PARAM;
			}
			break;
		case 'x':
			if (!strcmp(optarg, "auto")) {
				lo.xdp = IPT2BPF_RT_XDP_AUTO;
			} else if (!strcmp(optarg, "native")) {
				lo.xdp = IPT2BPF_RT_XDP_NATIVE;
			} else if (!strcmp(optarg, "generic")) {
				lo.xdp = IPT2BPF_RT_XDP_GENERIC;
			} else {
				fprintf(stderr,
					"%s: unknown XDP mode '%s' (auto, native or generic)\n",
					cli_prog, optarg);
				return CLI_EXIT_PARAM;
			}
			break;
		case 't':
			if (cli_input_select(&in, optarg))
				return CLI_EXIT_PARAM;
			break;
		case 'b':
			in.blob = optarg;
			break;
		case 'f':
			follow = true;
			break;
		case 'B':
			bpffs = optarg;
			break;
		case 'v':
			lo.verbose = true;
			break;
		case 'h':
			load_usage(stdout);
			return CLI_EXIT_OK;
		default:
			if (cli_sec_option(&sec, c, optarg))
				break;
			fprintf(stderr, "Try `%s load --help' for more information.\n", cli_prog);
			return CLI_EXIT_PARAM;
		}
	}
	if (cli_input_source(&in, argc, argv, optind, " load"))
		return CLI_EXIT_PARAM;
	lo.source = in.rules ? in.rules : in.blob;

	rc = cli_tables_load(&in, &tables);
	if (rc)
		goto out;
	/* Each decoded table with the blob it came from: status decodes it again later. */
	for (unsigned int i = 0; i < tables.n_tables; i++) {
		const struct ipt2bpf_blob *b = NULL;

		for (unsigned int j = 0; j < tables.n_blobs; j++)
			if (!strcmp(tables.blobs[j].table, tables.tables[i]->name) ||
			    tables.n_blobs == 1)
				b = &tables.blobs[j];
		if (!b) {
			fprintf(stderr, "%s: table %s: its blob is missing\n", cli_prog,
				tables.tables[i]->name);
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		rtt[i] = (struct ipt2bpf_rt_table){
			.ir = tables.tables[i], .repl = b->repl, .len = b->len};
	}

	rc = open_rt(bpffs, &rt);
	if (!rc)
		rc = cli_sec_load_prepare(rt, &sec, in.rules);
	if (rc)
		goto out;
	lo.sec = &sec.opts;
	if (ipt2bpf_rt_load(rt, rtt, tables.n_tables, &lo, &d)) {
		fprintf(stderr, "%s: load: %s\n", cli_prog, d.msg);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	rc = cli_sec_load_commit(rt, &sec);
	if (rc)
		goto out;
	if (lo.verbose)
		fprintf(stderr, "%s: %s loaded (mode %s), state in %s\n", cli_prog, lo.source,
			lo.mode == IPT2BPF_MODE_XDP ? "xdp" : "tc", ipt2bpf_rt_dir(rt));
	rc = CLI_EXIT_OK;
	if (follow) {
		struct sigaction sa = {.sa_handler = on_signal};

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		memset(&d, 0, sizeof(d));
		if (ipt2bpf_rt_follow(rt, &follow_stop, lo.verbose, follow_ready, &d)) {
			fprintf(stderr, "%s: follow: %s\n", cli_prog, d.msg);
			rc = CLI_EXIT_FAIL;
		}
	}
out:
	cli_tables_release(&tables);
	ipt2bpf_rt_sec_release(&sec);
	return rc;
}

static int cmd_unload(int argc, char **argv)
{
	static const struct option opts[] = {
		{"bpffs", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_free_ipt2bpf_rt_ struct ipt2bpf_runtime *rt = NULL;
	struct ipt2bpf_diag d = {0};
	const char *bpffs = NULL;
	bool had = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'B':
			bpffs = optarg;
			break;
		case 'h':
			unload_usage(stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try `%s unload --help' for more information.\n", cli_prog);
			return CLI_EXIT_PARAM;
		}
	}
	if (cli_no_args(argc, argv, optind, " unload"))
		return CLI_EXIT_PARAM;
	rc = open_rt(bpffs, &rt);
	if (rc)
		return rc;
	if (ipt2bpf_rt_unload(rt, &had, &d)) {
		fprintf(stderr, "%s: unload: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	if (!had)
		fprintf(stderr, "%s: nothing was loaded in this network namespace\n", cli_prog);
	return CLI_EXIT_OK;
}

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},	 {"list", no_argument, NULL, 'l'},
		{"table", required_argument, NULL, 't'}, {"bpffs", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},	 {},
	};
	_free_ipt2bpf_rt_ struct ipt2bpf_runtime *rt = NULL;
	_free_ipt2bpf_rt_status_ struct ipt2bpf_rt_status *st = NULL;
	struct ipt2bpf_diag d = {0};
	const char *bpffs = NULL, *table = "filter";
	bool json = false, list = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jlt:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'l':
			list = true;
			break;
		case 't':
			table = optarg;
			break;
		case 'B':
			bpffs = optarg;
			break;
		case 'h':
			status_usage(stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try `%s status --help' for more information.\n", cli_prog);
			return CLI_EXIT_PARAM;
		}
	}
	if (cli_no_args(argc, argv, optind, " status"))
		return CLI_EXIT_PARAM;
	rc = open_rt(bpffs, &rt);
	if (rc)
		return rc;
	if (ipt2bpf_rt_status_get(rt, &st, &d)) {
		fprintf(stderr, "%s: status: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	if (list) {
		if (!st->loaded) {
			fprintf(stderr, "%s: no rule set loaded in this network namespace\n",
				cli_prog);
			return CLI_EXIT_FAIL;
		}
		if (ipt2bpf_rt_list_table(st, table, stdout)) {
			fprintf(stderr, "%s: table '%s' is not loaded\n", cli_prog, table);
			return CLI_EXIT_FAIL;
		}
		return CLI_EXIT_OK;
	}
	if (json)
		ipt2bpf_rt_status_print_json(st, stdout);
	else
		ipt2bpf_rt_status_print(st, stdout);
	cli_labels_status(rt, json, stdout);
	return CLI_EXIT_OK;
}

int cli_runtime(int argc, char **argv)
{
	const char *cmd = cli_subcommand(argv[0]);

	if (!strcmp(cmd, "load"))
		return cmd_load(argc, argv);
	if (!strcmp(cmd, "unload"))
		return cmd_unload(argc, argv);
	if (!strcmp(cmd, "status"))
		return cmd_status(argc, argv);
	fprintf(stderr, "%s: unknown command '%s' (load, unload, status)\n", cli_prog, cmd);
	return CLI_EXIT_PARAM;
}
