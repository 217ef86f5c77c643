// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf selinux-bridge [--bpffs DIR]: the kernel rules that turn the label
 * ids the mark sink writes into skb->mark into real secmarks, for an SELinux
 * host: one SECMARK rule per label, in a chain the security table's INPUT
 * and FORWARD chains jump to when the mask's bits are set.  The output is
 * iptables-restore input (--noflush keeps the rest of the table).
 *
 * Only INPUT and FORWARD: ipt2bpf's ingress program runs before netfilter,
 * so the kernel's hooks see the mark; its egress program runs after the
 * kernel's OUTPUT and POSTROUTING hooks, where SELinux checks `send`, so a
 * kernel rule could never see an OUTPUT label.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "labels.h"

#define BRIDGE_CHAIN "IPT2BPF_LABELS"

static void bridge_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s selinux-bridge [--bpffs DIR]\n"
		"\n"
		"Prints, as iptables-restore input, one SECMARK rule per label that turns the\n"
		"label id the mark sink (`%s load --label-sink mark:MASK`) wrote into\n"
		"skb->mark back into the label's SELinux context, for the kernel's security\n"
		"table on an SELinux host:\n"
		"\n"
		"  %s selinux-bridge | iptables-restore --noflush\n"
		"\n"
		"Received packets only (INPUT, FORWARD): the egress program runs after the\n"
		"kernel's OUTPUT hooks.\n",
		cli_prog, cli_prog, cli_prog);
}

int cli_selinux_bridge(int argc, char **argv)
{
	static const struct option opts[] = {
		{"bpffs", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_free_ipt2bpf_rt_ struct ipt2bpf_runtime *rt = NULL;
	struct ipt2bpf_rt_sec_info in;
	struct ipt2bpf_diag d = {0};
	const char *bpffs = NULL;
	uint32_t mask;
	int c, err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'B':
			bpffs = optarg;
			break;
		case 'h':
			bridge_usage(stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try `%s selinux-bridge --help' for more information.\n",
				cli_prog);
			return CLI_EXIT_PARAM;
		}
	}
	if (cli_no_args(argc, argv, optind, " selinux-bridge"))
		return CLI_EXIT_PARAM;
	if (ipt2bpf_rt_open(bpffs, &rt, &d)) {
		fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	err = ipt2bpf_rt_sec_info_get(rt, &in, &d);
	if (err) {
		if (err == -ENOENT)
			fprintf(stderr,
				"%s: no labels in this network namespace (load a rule set "
				"with SECMARK rules and --label-sink mark:MASK)\n",
				cli_prog);
		else
			fprintf(stderr, "%s: selinux-bridge: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	mask = in.st.mark_mask;
	if (!mask) {
		fprintf(stderr,
			"%s: no mark sink in force: load with --label-sink mark:MASK first\n",
			cli_prog);
		ipt2bpf_rt_sec_info_release(&in);
		return CLI_EXIT_FAIL;
	}
	printf("# %s selinux-bridge: skb->mark bits 0x%x carry ipt2bpf's label ids; these\n"
	       "# rules give the packets the labels' SELinux contexts (one rule per label).\n"
	       "# Load on the SELinux host: %s selinux-bridge | iptables-restore --noflush\n"
	       "*security\n"
	       ":%s - [0:0]\n",
	       cli_prog, mask, cli_prog, BRIDGE_CHAIN);
	printf("-A INPUT -m mark ! --mark 0x0/0x%x -j %s\n", mask, BRIDGE_CHAIN);
	printf("-A FORWARD -m mark ! --mark 0x0/0x%x -j %s\n", mask, BRIDGE_CHAIN);
	for (uint32_t id = 1; id <= in.labels.n; id++)
		printf("-A %s -m mark --mark 0x%x/0x%x -j SECMARK --selctx %s\n", BRIDGE_CHAIN,
		       ipt2bpf_label_mark(mask, id), mask, ipt2bpf_labels_ctx(&in.labels, id));
	printf("COMMIT\n");
	ipt2bpf_rt_sec_info_release(&in);
	return CLI_EXIT_OK;
}
