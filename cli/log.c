// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf log: the LOG target's lines of the rule set loaded in this network
 * namespace (umh/rt_log.h), as the kernel prints them, on stdout or to
 * syslog; NFLOG and AUDIT rules' records too.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "cli.h"
#include "umh/rt_log.h"
#include "umh/runtime.h"

static void log_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s log [--follow] [--syslog | --raw] [--bpffs DIR]\n"
		"\n"
		"Prints what the LOG rules of the rule set loaded in this network namespace\n"
		"(`ipt2bpf load`) logged, one line per packet in the kernel's format:\n"
		"  PREFIX IN=eth0 OUT= MAC=... SRC=... DST=... LEN=... PROTO=TCP SPT=... ...\n"
		"NFLOG rules' packets come as the same line (without LOG's options) followed by\n"
		"  [MARK=0x...] GROUP=<--nflog-group> CAPLEN=<payload bytes a listener would get>\n"
		"and AUDIT rules' as the kernel's audit record (syslog level notice):\n"
		"  audit: type=1324 audit(TIME:SERIAL): mark=0x0 saddr=... daddr=... proto=6\n"
		"They come here, not to nfnetlink_log listeners (ulogd, tcpdump -i nflog) or\n"
		"to the audit subsystem (auditd), which BPF programs cannot reach.\n"
		"Lines are read from the rule set's ring buffer and consumed: one reader sees\n"
		"each line once.\n"
		"\n"
		"  -f, --follow     keep reading (across rule set replacements) until\n"
		"                   SIGINT/SIGTERM\n"
		"  -s, --syslog     send the lines to syslog (the journal) with the rule's\n"
		"                   --log-level as priority (NFLOG, AUDIT: notice), instead\n"
		"                   of stdout\n"
		"  -r, --raw        prefix each line with its level as \"<N>\" (like dmesg -r)\n"
		"      --bpffs DIR  bpffs mount point (default /sys/fs/bpf)\n",
		cli_prog);
}

static volatile sig_atomic_t log_stop;

static void on_signal(int sig)
{
	(void)sig;
	log_stop = 1;
}

enum log_out { OUT_PLAIN, OUT_RAW, OUT_SYSLOG };

static int print_line(const struct ipt2bpf_log_line *line, void *arg)
{
	enum log_out out = *(const enum log_out *)arg;

	switch (out) {
	case OUT_SYSLOG:
		syslog(line->level, "%s", line->text);
		break;
	case OUT_RAW:
		printf("<%d>%s\n", line->level, line->text);
		break;
	default:
		printf("%s\n", line->text);
	}
	return 0;
}

int cli_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{"follow", no_argument, NULL, 'f'}, {"syslog", no_argument, NULL, 's'},
		{"raw", no_argument, NULL, 'r'},    {"bpffs", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},   {},
	};
	_free_ipt2bpf_rt_ struct ipt2bpf_runtime *rt = NULL;
	_free_ipt2bpf_log_ struct ipt2bpf_log *l = NULL;
	struct ipt2bpf_diag d = {0};
	const char *bpffs = NULL;
	enum log_out out = OUT_PLAIN;
	bool follow = false;
	int c, n;

	while ((c = getopt_long(argc, argv, "fsrh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			follow = true;
			break;
		case 's':
			out = OUT_SYSLOG;
			break;
		case 'r':
			out = OUT_RAW;
			break;
		case 'B':
			bpffs = optarg;
			break;
		case 'h':
			log_usage(stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try `%s log --help' for more information.\n", cli_prog);
			return CLI_EXIT_PARAM;
		}
	}
	if (cli_no_args(argc, argv, optind, " log"))
		return CLI_EXIT_PARAM;
	if (ipt2bpf_rt_open(bpffs, &rt, &d)) {
		fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	if (ipt2bpf_log_open(rt, NULL, NULL, &l, &d)) {
		fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	if (!follow && !ipt2bpf_log_generation(l)[0]) {
		fprintf(stderr, "%s: log: no rule set is loaded in this network namespace\n",
			cli_prog);
		return CLI_EXIT_FAIL;
	}
	if (out == OUT_SYSLOG)
		openlog("ipt2bpf", LOG_NDELAY, LOG_DAEMON);
	if (follow) {
		struct sigaction sa = {.sa_handler = on_signal};

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		setvbuf(stdout, NULL, _IOLBF, 0);
	}
	do {
		n = ipt2bpf_log_poll(l, follow ? 1000 : 0, print_line, &out);
		if (n < 0) {
			fprintf(stderr, "%s: log: reading the ring buffer: %s\n", cli_prog,
				strerror(-n));
			return CLI_EXIT_FAIL;
		}
	} while (follow && !log_stop);
	if (fflush(stdout)) {
		fprintf(stderr, "%s: log: %s\n", cli_prog, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
