/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Front end: turns an iptables-save file into the exact ipt_replace blobs
 * iptables would hand the kernel, by running the real iptables-legacy-restore
 * under the xtables shim in capture mode (no kernel state is touched).
 */
#ifndef IPT2BPF_CAPTURE_H
#define IPT2BPF_CAPTURE_H

#include <stddef.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include "diag.h"

#define IPT2BPF_MAX_TABLES 8

/* The SET_REPLACE buffer: struct ipt_replace followed by repl->size bytes. */
struct ipt2bpf_blob {
	char table[XT_TABLE_MAXNAMELEN];
	struct ipt_replace *repl;
	size_t len;
};

/*
 * Runs iptables-legacy-restore (or $IPT2BPF_IPTABLES_RESTORE) on rules_path
 * with LD_PRELOAD of the shim ($IPT2BPF_SHIM, else found next to the
 * executable).  Blobs come back in the order the tables were committed.
 * iptables' own error messages are passed through to stderr.
 */
int ipt2bpf_capture(const char *rules_path, struct ipt2bpf_blob *blobs, unsigned int max,
		    unsigned int *n, struct ipt2bpf_diag *diag);

/* Reads a raw blob file (as the shim writes them) for --blob. */
int ipt2bpf_blob_read(const char *path, struct ipt2bpf_blob *b, struct ipt2bpf_diag *diag);
void ipt2bpf_blob_release(struct ipt2bpf_blob *b);

#endif
