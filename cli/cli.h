/* SPDX-License-Identifier: GPL-2.0 */
/* The ipt2bpf command: shared pieces of its subcommands. */
#ifndef IPT2BPF_CLI_H
#define IPT2BPF_CLI_H

#include <stdbool.h>
#include <string.h>
#include <stdio.h>

#include "translator/capture.h"
#include "translator/ir.h"

/* Exit codes, as iptables uses them. */
#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1 /* refused rule set, verifier rejection, I/O */
#define CLI_EXIT_PARAM 2 /* usage error or invalid input (iptables' PARAMETER_PROBLEM) */

#define CLI_MAX_SELECT 4

struct cli_input {
	const char *rules;		    /* iptables-save file, or NULL with blob */
	const char *blob;		    /* raw ipt_replace blob file */
	const char *select[CLI_MAX_SELECT]; /* -t: only these tables */
	unsigned int n_select;
};

/* Tables ready for the code generator: filter first, then security. */
struct cli_tables {
	struct ipt2bpf_blob blobs[IPT2BPF_MAX_TABLES];
	unsigned int n_blobs;
	struct ipt2bpf_table *tables[2];
	unsigned int n_tables;
};

/* -t NAME; CLI_EXIT_OK or CLI_EXIT_PARAM with the message printed. */
int cli_input_select(struct cli_input *in, const char *table);
/* Nothing may follow the options: CLI_EXIT_OK or CLI_EXIT_PARAM with the message printed. */
int cli_no_args(int argc, char **argv, int optind, const char *cmd);
/*
 * The positional RULES.v4 after the options: exactly one of it and --blob,
 * nothing else.  cmd names the subcommand in messages ("" for compile).
 */
int cli_input_source(struct cli_input *in, int argc, char **argv, int optind, const char *cmd);

/* Returns a CLI_EXIT_* code; messages already printed. */
int cli_tables_load(const struct cli_input *in, struct cli_tables *out);
void cli_tables_release(struct cli_tables *t);

int cli_trace(int argc, char **argv);
/* ipt2bpf conntrack (cli/conntrack.c), and its pieces for trace (--ct-set, --ct-list). */
struct ipt2bpf_progset;
struct ipt2bpf_loaded;
int cli_conntrack(int argc, char **argv);
int cli_ct_trace_setup(const struct ipt2bpf_progset *ps, const struct ipt2bpf_loaded *l,
		       const char *const *set, unsigned int n_set);
void cli_ct_trace_list(const struct ipt2bpf_progset *ps, const struct ipt2bpf_loaded *l,
		       unsigned long long now_ns, bool json, FILE *f);
/* -m recent lists of the loaded rule set (cli/recent.c). */
int cli_recent(int argc, char **argv);
/* load, unload, status (cli/runtime.c); argv[0] is the subcommand. */
int cli_runtime(int argc, char **argv);
/* ipt2bpf log (cli/log.c) */
int cli_log(int argc, char **argv);

extern const char *cli_prog;

/* The subcommand's own name in its argv[0] ("ipt2bpf status" -> "status"). */
static inline const char *cli_subcommand(const char *argv0)
{
	const char *sp = strrchr(argv0, ' ');

	return sp ? sp + 1 : argv0;
}

/* "ipt2bpf: FILE: msg", without FILE when msg already names it. */
void cli_file_error(const char *file, const char *msg);

#endif
