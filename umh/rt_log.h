/* SPDX-License-Identifier: GPL-2.0 */
/*
 * LOG target output: the records the programs put in their ipt_log ring
 * buffer (codegen/log_rec.h), read and printed as the kernel's
 * nf_log_syslog lines ("<prefix>IN=eth0 OUT= MAC=... SRC=... DST=... LEN=...
 * ... PROTO=TCP SPT=... DPT=... WINDOW=... RES=0x00 SYN URGP=0 ").
 * NFLOG records print as that line (without LOG's options) followed by
 * "[MARK=0x.. ]GROUP=<group> CAPLEN=<payload bytes a listener gets> ";
 * AUDIT records as the kernel's audit line ("audit: type=1324
 * audit(<time>:<serial>): mark=0x0 saddr=... daddr=... proto=6").
 *
 * Used by `ipt2bpf log` (cli/log.c), `ipt2bpf trace` and the umh daemon:
 *
 *	struct ipt2bpf_log *l;
 *	ipt2bpf_log_open(rt, &l, &diag);      // the namespace's loaded rules
 *	while (!stop)
 *		ipt2bpf_log_poll(l, 1000, print_line, NULL);
 *	ipt2bpf_log_close(l);
 *
 * A reader follows rule set replacements: each poll checks which generation
 * is in force, drains the ring buffer of the one it had and moves on to the
 * new one.  Records are consumed by whoever reads them (one reader at a
 * time, like `dmesg -c`).
 */
#ifndef IPT2BPF_RT_LOG_H
#define IPT2BPF_RT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/if.h>

#include "../codegen/log_rec.h"
#include "../translator/diag.h"

struct ipt2bpf_runtime;
struct ipt2bpf_log;

/* A device as the kernel's line names it. */
struct ipt2bpf_log_dev {
	char name[IFNAMSIZ];
	bool ether; /* ARPHRD_ETHER: --log-macdecode decodes its header (lo: not) */
};

/*
 * Resolves ifindex; returns 0, or non-zero if unknown (the line then says
 * "if<N>").  NULL: the current network namespace's devices.
 */
typedef int (*ipt2bpf_log_dev_fn)(uint32_t ifindex, struct ipt2bpf_log_dev *dev, void *arg);

/* One formatted line. */
struct ipt2bpf_log_line {
	const char *text; /* the kernel's line, without KERN_SOH and level; ends with ' ' */
	size_t len;
	int level;	/* --log-level: syslog priority 0..7 (NFLOG, AUDIT: 5, notice) */
	uint8_t kind;	/* IPT2BPF_LOG_K_*: LOG, NFLOG or AUDIT */
	uint8_t hook;	/* NF_INET_* */
	uint8_t table;	/* table index in the program set (0 filter, 1 security) */
	uint32_t entry; /* the LOG entry's index in that table */
	const struct ipt2bpf_log_rec *rec;
};

/*
 * The kernel's line for one record (nf_log_ip_packet(); NFLOG and AUDIT:
 * see above); buf gets at most
 * len - 1 characters and a NUL.  Returns the line's length, -EINVAL for a
 * record that is not one.
 */
int ipt2bpf_log_format(const void *rec, size_t rec_len, ipt2bpf_log_dev_fn dev_fn, void *arg,
		       char *buf, size_t len);

/*
 * Kernels with AccECN (struct tcphdr's `ae' bit, 6.18) print TCP's AE flag
 * and three reserved bits, older ones four reserved bits.  AUTO (default):
 * like the running kernel (its BTF, else its version).
 */
enum ipt2bpf_log_tcp_ae {
	IPT2BPF_LOG_AE_AUTO,
	IPT2BPF_LOG_AE_NO,
	IPT2BPF_LOG_AE_YES,
};
void ipt2bpf_log_set_tcp_ae(enum ipt2bpf_log_tcp_ae v);

/* Called for each record; a negative return stops the poll and is returned. */
typedef int (*ipt2bpf_log_cb)(const struct ipt2bpf_log_line *line, void *arg);

/*
 * A reader of the rule set loaded in rt's namespace (ipt2bpf_rt_open()).
 * Without a loaded rule set, or one without LOG rules, it waits for one.
 * dev_fn (may be NULL) names devices.
 */
int ipt2bpf_log_open(struct ipt2bpf_runtime *rt, ipt2bpf_log_dev_fn dev_fn, void *dev_arg,
		     struct ipt2bpf_log **out, struct ipt2bpf_diag *diag);
/* A reader of one ring buffer map (trace programs); the fd stays the caller's. */
int ipt2bpf_log_open_fd(int map_fd, ipt2bpf_log_dev_fn dev_fn, void *dev_arg,
			struct ipt2bpf_log **out, struct ipt2bpf_diag *diag);
/*
 * Waits up to timeout_ms (0: not at all, -1: forever) for records, calls cb
 * for each one available and returns how many (or a negative errno).  Also
 * switches to a newly loaded rule set.
 */
int ipt2bpf_log_poll(struct ipt2bpf_log *l, int timeout_ms, ipt2bpf_log_cb cb, void *arg);
/* A descriptor that becomes readable when records may be there (for the caller's epoll). */
int ipt2bpf_log_fd(const struct ipt2bpf_log *l);
/* Generation whose ring buffer is read ("g<N>"), "" if none. */
const char *ipt2bpf_log_generation(const struct ipt2bpf_log *l);
void ipt2bpf_log_close(struct ipt2bpf_log *l);
void ipt2bpf_log_closep(struct ipt2bpf_log **l);
#define _free_ipt2bpf_log_ __attribute__((cleanup(ipt2bpf_log_closep)))

#endif
