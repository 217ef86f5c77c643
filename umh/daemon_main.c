// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf-umh: command line of the helper daemon (umh/daemon.c).  Not part
 * of libipt2bpf.a (the Makefile builds it into the daemon binary only).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon.h"
#include "umh_proto_wire.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [--foreground] [--mode tc|xdp] [--xdp-mode auto|native|generic]\n"
		"       [--socket @NAME|/PATH] [--bpffs DIR] [--kernel-tables] [--pidfile FILE]\n"
		"       [--no-follow] [-v]\n"
		"       %s --bpfilter-umh [...]\n"
		"\n"
		"The ipt2bpf helper daemon: serves iptables' kernel interface (IPT_SO_*) for the\n"
		"network namespace it runs in and puts the filter and security tables in force\n"
		"as eBPF programs on every interface.  iptables reaches it through\n"
		"iptables-bpf (iptables-legacy with the xtables shim in forward mode).  Rules,\n"
		"counters and programs are pinned under DIR/ipt2bpf/<netns>: restarting the\n"
		"daemon loses none of them and filtering never stops.\n"
		"\n"
		"  -f, --foreground     do not detach (systemd: Type=notify)\n"
		"  -m, --mode MODE      tc (default) or xdp\n"
		"      --xdp-mode HOW   auto (default), native or generic\n"
		"  -s, --socket ADDR    @NAME for an abstract socket (default %s, one per\n"
		"                       network namespace), /PATH for a socket file; also\n"
		"                       $%s\n"
		"      --bpffs DIR      bpffs mount point (default /sys/fs/bpf)\n"
		"      --kernel-tables  tables other than filter and security (and extensions\n"
		"                       ipt2bpf does not translate) are handed to the kernel's\n"
		"                       ip_tables instead of answering ENOENT (extensions it\n"
		"                       refuses with a reason always are: iptables builds the\n"
		"                       rule as on the kernel, the daemon refuses it)\n"
		"      --pidfile FILE   write the daemon's pid there\n"
		"      --no-follow      do not attach to interfaces that appear later\n"
		"      --bpfilter-umh   be the kernel's bpfilter usermode driver: struct\n"
		"                       mbox_request on stdin, replies on stdout (also when\n"
		"                       started under the name bpfilter_umh)\n"
		"  -v, --verbose        log every replace and client\n"
		"\n"
		"A second daemon in the same network namespace refuses to start.\n",
		prog, prog, IPT2BPF_UMH_SOCKET_DEFAULT, IPT2BPF_UMH_SOCKET_ENV);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"foreground", no_argument, NULL, 'f'},
		{"mode", required_argument, NULL, 'm'},
		{"xdp-mode", required_argument, NULL, 'x'},
		{"socket", required_argument, NULL, 's'},
		{"bpffs", required_argument, NULL, 'B'},
		{"kernel-tables", no_argument, NULL, 'K'},
		{"pidfile", required_argument, NULL, 'p'},
		{"no-follow", no_argument, NULL, 'N'},
		{"bpfilter-umh", no_argument, NULL, 'U'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct ipt2bpf_umhd_opts o = {
		.mode = IPT2BPF_MODE_TC, .xdp = IPT2BPF_RT_XDP_AUTO, .follow = true};
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int c;

	/*
	 * Descriptors inherited from whoever started us (a shell's pipes) would
	 * keep their readers waiting for as long as the daemon lives.
	 */
	syscall(SYS_close_range, 3U, UINT_MAX, 0U);
	/* The kernel starts its usermode driver under this name, with no arguments. */
	if (!strcmp(prog, "bpfilter_umh"))
		o.bpfilter = true;
	while ((c = getopt_long(argc, argv, "fm:s:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o.foreground = true;
			break;
		case 'm':
			if (!strcmp(optarg, "tc")) {
				o.mode = IPT2BPF_MODE_TC;
			} else if (!strcmp(optarg, "xdp")) {
				o.mode = IPT2BPF_MODE_XDP;
			} else {
				fprintf(stderr, "%s: unknown mode '%s' (tc or xdp)\n", prog,
					optarg);
				return 2;
			}
			break;
		case 'x':
			if (!strcmp(optarg, "auto")) {
				o.xdp = IPT2BPF_RT_XDP_AUTO;
			} else if (!strcmp(optarg, "native")) {
				o.xdp = IPT2BPF_RT_XDP_NATIVE;
			} else if (!strcmp(optarg, "generic")) {
				o.xdp = IPT2BPF_RT_XDP_GENERIC;
			} else {
				fprintf(stderr,
					"%s: unknown XDP mode '%s' (auto, native or generic)\n",
					prog, optarg);
				return 2;
			}
			break;
		case 's':
			if ((optarg[0] != '@' && optarg[0] != '/') || strlen(optarg) < 2) {
				fprintf(stderr, "%s: --socket: @NAME or /PATH, not '%s'\n", prog,
					optarg);
				return 2;
			}
			o.socket = optarg;
			break;
		case 'B':
			o.bpffs = optarg;
			break;
		case 'K':
			o.kernel_tables = true;
			break;
		case 'p':
			o.pidfile = optarg;
			break;
		case 'N':
			o.follow = false;
			break;
		case 'U':
			o.bpfilter = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			usage(stdout, prog);
			return 0;
		default:
			fprintf(stderr, "Try `%s --help' for more information.\n", prog);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		return 2;
	}
	return ipt2bpf_umhd_run(&o);
}
