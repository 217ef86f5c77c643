// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf: compile iptables rule sets (filter, security) into verified eBPF.
 *
 *   ipt2bpf RULES.v4 -o PROG.o [--mode tc|xdp] [--no-verify] [--dump-ir]
 *   ipt2bpf trace RULES.v4 --pcap FILE ...
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "labels.h"
#include "codegen/elf.h"
#include "codegen/progset.h"

#ifndef IPT2BPF_VERSION
#define IPT2BPF_VERSION "0.1"
#endif

const char *cli_prog = "ipt2bpf";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] RULES.v4 -o PROG.o\n"
		"       %s trace RULES.v4 --pcap FILE [--chain INPUT|FORWARD|OUTPUT] [--in IF]\n"
		"                    [--out IF] [--json]\n"
		"       %s load RULES.v4 [--mode tc|xdp]              attach in this netns\n"
		"       %s status [--json] [--list]                   what is loaded, counters\n"
		"       %s unload                                     detach and remove\n"
		"       %s conntrack [-L | -S | -F] [--json]          connections tracked\n"
		"       %s recent [-n NAME] [--list | --add ADDR | --remove ADDR | --flush]\n"
		"       %s log [--follow] [--syslog | --raw]          what LOG rules logged\n"
		"       %s labels [--json] [--denials]                SECMARK label ids\n"
		"       %s selinux-bridge                             label-to-SECMARK rules\n"
		"Each subcommand has its own --help.\n"
		"\n"
		"Compiles the filter and security tables of an iptables-save file into eBPF\n"
		"programs (TC ingress 'classifier', TC egress 'tc', or 'xdp') in a BPF ELF "
		"object,\n"
		"after the kernel verifier has accepted every program. Rules are parsed by the\n"
		"real iptables-legacy-restore and its extensions; nothing touches the kernel's\n"
		"own iptables state.\n"
		"\n"
		"Options:\n"
		"  -o, --output FILE   write the BPF object to FILE\n"
		"  -m, --mode MODE     tc (default: ingress + egress programs) or xdp\n"
		"      --no-verify     do not load the programs into the verifier before writing\n"
		"      --dump-ir       print the decoded rule set (IR) and exit unless -o is "
		"given\n"
		"      --blob FILE     read a raw ipt_replace blob instead of RULES.v4\n"
		"      --save-blobs DIR  write each table's ipt_replace blob to DIR/TABLE.blob\n"
		"  -t, --table NAME    compile only this table (repeatable; filter, security)\n"
		"      --no-optimise   straight-line code for every rule, no map lookups (any\n"
		"                      subcommand; objects written with -o always are)\n"
		"      --label-sink mark:MASK|none  where SECMARK labels go (ipt2bpf-security(7))\n"
		"  -h, --help          this help\n"
		"  -V, --version       print the version\n"
		"\n"
		"Attach with stock tools:\n"
		"  tc qdisc add dev eth0 clsact\n"
		"  tc filter add dev eth0 ingress bpf da obj PROG.o sec classifier\n"
		"  tc filter add dev eth0 egress bpf da obj PROG.o sec tc\n"
		"  ip link set dev eth0 xdp obj PROG.o sec xdp      (with --mode xdp)\n"
		"\n"
		"Exit status: 0 success, 1 refused rule set or failure, 2 usage or invalid input.\n"
		"See ipt2bpf(8).\n",
		cli_prog, cli_prog, cli_prog, cli_prog, cli_prog, cli_prog, cli_prog, cli_prog,
		cli_prog, cli_prog);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("IPT2BPF_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* The blobs exactly as iptables built them, before any validation: for --blob and bug reports. */
static int save_blobs(const struct cli_input *in, const char *dir)
{
	struct ipt2bpf_blob blobs[IPT2BPF_MAX_TABLES];
	struct ipt2bpf_diag d = {0};
	unsigned int n = 0;
	int rc = CLI_EXIT_OK;

	if (!in->rules) {
		fprintf(stderr, "%s: --save-blobs needs RULES.v4\n", cli_prog);
		return CLI_EXIT_PARAM;
	}
	if (ipt2bpf_capture(in->rules, blobs, IPT2BPF_MAX_TABLES, &n, &d)) {
		cli_file_error(in->rules, d.msg);
		return CLI_EXIT_PARAM;
	}
	for (unsigned int i = 0; i < n; i++) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s.blob", dir, blobs[i].table);
		f = fopen(path, "wb");
		if (!f || fwrite(blobs[i].repl, 1, blobs[i].len, f) != blobs[i].len) {
			fprintf(stderr, "%s: %s: %s\n", cli_prog, path, strerror(errno));
			rc = CLI_EXIT_FAIL;
		}
		if (f && fclose(f) && !rc) {
			fprintf(stderr, "%s: %s: %s\n", cli_prog, path, strerror(errno));
			rc = CLI_EXIT_FAIL;
		}
	}
	for (unsigned int i = 0; i < n; i++)
		ipt2bpf_blob_release(&blobs[i]);
	return rc;
}

static int cmd_compile(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"mode", required_argument, NULL, 'm'},
		{"no-verify", no_argument, NULL, 'n'},
		{"dump-ir", no_argument, NULL, 'd'},
		{"blob", required_argument, NULL, 'b'},
		{"table", required_argument, NULL, 't'},
		{"save-blobs", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		CLI_SEC_LONGOPTS,
		{},
	};
	struct ipt2bpf_gen_opts gopts = {.mode = IPT2BPF_MODE_TC};
	struct cli_input in = {0};
	struct ipt2bpf_rt_sec sec = {0};
	struct cli_tables tables;
	_free_ipt2bpf_progset_ struct ipt2bpf_progset *ps = NULL;
	struct ipt2bpf_diag d = {0};
	const char *output = NULL, *save_dir = NULL;
	bool verify = true, dump = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "o:m:t:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "tc")) {
				gopts.mode = IPT2BPF_MODE_TC;
			} else if (!strcmp(optarg, "xdp")) {
				gopts.mode = IPT2BPF_MODE_XDP;
			} else {
				fprintf(stderr, "%s: unknown mode '%s' (tc or xdp)\n", cli_prog,
					optarg);
				return CLI_EXIT_PARAM;
			}
			break;
		case 'n':
			verify = false;
			break;
		case 'd':
			dump = true;
			break;
		case 'b':
			in.blob = optarg;
			break;
		case 's':
			save_dir = optarg;
			break;
		case 't':
			if (cli_input_select(&in, optarg))
				return CLI_EXIT_PARAM;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("ipt2bpf %s\n", IPT2BPF_VERSION);
			return CLI_EXIT_OK;
		default:
			if (cli_sec_option(&sec, c, optarg))
				break;
			fprintf(stderr, "Try `%s --help' for more information.\n", cli_prog);
			return CLI_EXIT_PARAM;
		}
	}
	if (cli_input_source(&in, argc, argv, optind, ""))
		return CLI_EXIT_PARAM;
	if (!output && !dump && !save_dir) {
		fprintf(stderr, "%s: no output: give -o PROG.o (or --dump-ir, --save-blobs)\n",
			cli_prog);
		return CLI_EXIT_PARAM;
	}

	if (save_dir) {
		rc = save_blobs(&in, save_dir);
		if (rc)
			return rc;
	}
	rc = cli_tables_load(&in, &tables);
	if (rc)
		return rc;
	if (dump)
		for (unsigned int i = 0; i < tables.n_tables; i++)
			ipt2bpf_table_dump(tables.tables[i], stdout);
	if (!output)
		goto out;

	rc = cli_sec_compile(&sec, in.rules, &gopts.sec);
	if (rc)
		goto out;
	/*
	 * Objects are loaded by tools that cannot fill the optimiser's maps
	 * (codegen/opt.h): straight-line code only; `ipt2bpf load` optimises.
	 */
	gopts.no_optimise = true;
	gopts.object = true;
	rc = ipt2bpf_gen((const struct ipt2bpf_table *const *)tables.tables, tables.n_tables,
			 &gopts, &ps, &d);
	if (rc) {
		fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	rc = ipt2bpf_elf_write(ps, output, &d);
	if (rc) {
		fprintf(stderr, "%s: %s: %s\n", cli_prog, output, d.msg);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	if (verify) {
		rc = ipt2bpf_elf_verify(output, &d);
		if (rc) {
			/* Our programs must always verify: a rejection is a bug in ipt2bpf. */
			fprintf(stderr,
				"%s: %s: the kernel verifier rejected the generated program (this "
				"is "
				"a bug in ipt2bpf, please report it):\n%s\n",
				cli_prog, output, d.msg);
			unlink(output);
			rc = CLI_EXIT_FAIL;
			goto out;
		}
	}
	rc = CLI_EXIT_OK;
out:
	cli_tables_release(&tables);
	ipt2bpf_rt_sec_release(&sec);
	return rc;
}

/*
 * --no-optimise, anywhere on the command line of any subcommand: straight-line
 * code for every rule (the optimiser's baseline), as IPT2BPF_NO_OPTIMISE=1.
 */
static int no_optimise_opt(int argc, char **argv)
{
	bool opts = true;
	int n = 1;

	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--"))
			opts = false;
		if (opts && !strcmp(argv[i], "--no-optimise")) {
			setenv("IPT2BPF_NO_OPTIMISE", "1", 1);
			continue;
		}
		argv[n++] = argv[i];
	}
	for (int i = n; i < argc; i++)
		argv[i] = NULL;
	return n;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} subcommands[] = {
	{"trace", cli_trace},  {"conntrack", cli_conntrack}, {"recent", cli_recent},
	{"log", cli_log},      {"labels", cli_labels},	     {"selinux-bridge", cli_selinux_bridge},
	{"load", cli_runtime}, {"unload", cli_runtime},	     {"status", cli_runtime},
};

int main(int argc, char **argv)
{
	static char name[64];

	libbpf_set_print(libbpf_quiet);
	argc = no_optimise_opt(argc, argv);
	for (size_t i = 0; argc > 1 && i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (strcmp(argv[1], subcommands[i].name))
			continue;
		/* getopt names the program by argv[0]: "ipt2bpf status: unrecognized option". */
		snprintf(name, sizeof(name), "%s %s", cli_prog, subcommands[i].name);
		argv[1] = name;
		return subcommands[i].run(argc - 1, argv + 1);
	}
	return cmd_compile(argc, argv);
}
