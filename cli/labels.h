/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SECMARK labels on the command line: the --policy / --label-sink options of
 * compile and load, `ipt2bpf labels`, `ipt2bpf selinux-bridge`, and the
 * labels section of `ipt2bpf status`.
 */
#ifndef IPT2BPF_CLI_LABELS_H
#define IPT2BPF_CLI_LABELS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "codegen/secpolicy.h"
#include "umh/rt_label.h"
#include "umh/runtime.h"

/* getopt_long values of the options below (outside any short option's range). */
#define CLI_OPT_POLICY	   0x5301
#define CLI_OPT_LABEL_SINK 0x5302
#define CLI_OPT_NO_POLICY  0x5303

/* clang-format off */
#define CLI_SEC_LONGOPTS							\
	{"policy", required_argument, NULL, CLI_OPT_POLICY},			\
	{"label-sink", required_argument, NULL, CLI_OPT_LABEL_SINK},		\
	{"no-policy", no_argument, NULL, CLI_OPT_NO_POLICY}
/* clang-format on */

#define CLI_SEC_USAGE                                                                              \
	"      --policy FILE     enforce SECMARK labels with FILE's policy (load only;\n"          \
	"                        see ipt2bpf-security(7))\n"                                       \
	"      --no-policy       drop the policy in force (load only)\n"                           \
	"      --label-sink mark:MASK|none  write label ids into these skb->mark bits\n"           \
	"                        (for `ipt2bpf selinux-bridge`), or send labels nowhere\n"

/* Is c one of the options above?  Then it is recorded in s. */
bool cli_sec_option(struct ipt2bpf_rt_sec *s, int c, const char *arg);
/*
 * Compile (no runtime): the label options as generator options, labels
 * numbered in order of appearance.  rules (NULL for --blob) is checked for
 * --selctx values longer than the kernel takes, which iptables would cut
 * to 255 characters without a word.  CLI_EXIT_* with the message printed.
 */
int cli_sec_compile(struct ipt2bpf_rt_sec *s, const char *rules,
		    const struct ipt2bpf_secopts **out);
/* Load: before and after ipt2bpf_rt_load(); CLI_EXIT_* with the message printed. */
int cli_sec_load_prepare(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec *s, const char *rules);
int cli_sec_load_commit(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec *s);

int cli_labels(int argc, char **argv);
int cli_selinux_bridge(int argc, char **argv);
/* `ipt2bpf status`: the labels, sinks and denials, when labels are in use (else nothing). */
void cli_labels_status(struct ipt2bpf_runtime *rt, bool json, FILE *f);

#endif
