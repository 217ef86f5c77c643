/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ipt2bpf-umh, the helper daemon: serves IPT_SO_* for the network namespace
 * it runs in (umh_proto.h) and keeps the rules in force through the runtime
 * (runtime.h), either on its unix socket for the xtables shim or as the
 * kernel's bpfilter usermode driver on stdin/stdout.
 */
#ifndef IPT2BPF_DAEMON_H
#define IPT2BPF_DAEMON_H

#include <stdbool.h>

#include "runtime.h"

struct ipt2bpf_umhd_opts {
	enum ipt2bpf_mode mode;
	enum ipt2bpf_rt_xdp_attach xdp;
	const char *bpffs;   /* NULL: /sys/fs/bpf (see ipt2bpf_rt_open) */
	const char *socket;  /* NULL: $IPT2BPF_UMH_SOCKET, else "@ipt2bpf-umh" */
	const char *pidfile; /* NULL: none */
	bool kernel_tables;  /* other tables go to the kernel's ip_tables (-ENOPROTOOPT) */
	bool foreground;     /* else detach once serving (the parent exits 0 then) */
	bool bpfilter;	     /* the kernel's usermode driver protocol on stdin/stdout */
	bool follow;	     /* attach to interfaces that appear later (default on) */
	bool verbose;
};

/* Runs the daemon until SIGTERM/SIGINT (or stdin closes, bpfilter): an exit status. */
int ipt2bpf_umhd_run(const struct ipt2bpf_umhd_opts *o);

#endif
