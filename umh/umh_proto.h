/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel side of IPT_SO_*, as ipt2bpf-umh serves it: the table state of
 * one network namespace (filter and security), the semantics and errnos of
 * net/ipv4/netfilter/ip_tables.c for GET_INFO, GET_ENTRIES,
 * GET_REVISION_MATCH/TARGET, SET_REPLACE and SET_ADD_COUNTERS, and the two
 * transports that carry them: the daemon's unix socket (umh_proto_wire.h)
 * and the kernel's bpfilter usermode-driver pipe pair.
 *
 * Nothing here touches BPF: committed tables and live counters go through a
 * backend (the daemon's is the runtime, umh/runtime.h; tests and the fuzzer
 * use ipt2bpf_umh_backend_mem), so the request handling runs without a
 * kernel.  Not thread-safe: one caller at a time (the daemon holds a mutex).
 */
#ifndef IPT2BPF_UMH_PROTO_H
#define IPT2BPF_UMH_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include "umh_proto_wire.h"
#include "../translator/diag.h"
#include "../translator/ir.h"

#define IPT2BPF_UMH_TABLES 2 /* filter, security */

/*
 * The caller's memory: copy_from_user()/copy_to_user().  read returns 0 or
 * -EFAULT; write likewise, may_fault marks a write whose failure the kernel
 * ignores (the old counters of a replace).
 */
struct ipt2bpf_umh_io {
	int (*read)(void *ctx, uint64_t addr, void *dst, size_t len);
	int (*write)(void *ctx, uint64_t addr, const void *src, size_t len, bool may_fault);
	void *ctx;
};

/* One table of a commit, in the order the programs run them (filter first). */
struct ipt2bpf_umh_commit_table {
	const char *name;
	const struct ipt_replace *repl; /* the SET_REPLACE buffer: header + entries */
	size_t len;
	const struct ipt2bpf_table *ir;
	bool replaced; /* the table of this SET_REPLACE: its counters start at zero */
};

struct ipt2bpf_umh_commit {
	struct ipt2bpf_umh_commit_table tables[IPT2BPF_UMH_TABLES];
	unsigned int n_tables;
	/*
	 * Out: the replaced table's counters as the old rules left them, once
	 * the new rules are in force everywhere (old_n entries; the engine
	 * allocates it).  old_valid false: the backend did not have the table.
	 */
	struct xt_counters *old;
	unsigned int old_n;
	bool old_valid;
};

/* Where committed tables live.  Every op returns 0 or a negative errno with diag set. */
struct ipt2bpf_umh_backend {
	/* Puts the tables in force, atomically: on failure the earlier rules stay. */
	int (*commit)(void *ctx, struct ipt2bpf_umh_commit *c, struct ipt2bpf_diag *diag);
	/* Live counters of a committed table: n entries. */
	int (*counters)(void *ctx, const char *table, struct xt_counters *out, unsigned int n,
			struct ipt2bpf_diag *diag);
	/* Adds to a committed table's counters (IPT_SO_SET_ADD_COUNTERS). */
	int (*add_counters)(void *ctx, const char *table, const struct xt_counters *add,
			    unsigned int n, struct ipt2bpf_diag *diag);
};

struct ipt2bpf_umh_opts {
	const struct ipt2bpf_umh_backend *backend;
	void *backend_ctx;
	/*
	 * Tables other than filter and security (and extensions ipt2bpf does not
	 * translate, in GET_REVISION) answer -ENOPROTOOPT: "ask the kernel".
	 * Extensions refused with a reason always do.
	 * The bpfilter hook then runs the kernel's ip_tables; the shim passes
	 * the call to a real socket.  Off: -ENOENT, as a kernel without them.
	 */
	bool kernel_tables;
};

struct ipt2bpf_umh;

int ipt2bpf_umh_new(const struct ipt2bpf_umh_opts *opts, struct ipt2bpf_umh **out);
void ipt2bpf_umh_free(struct ipt2bpf_umh *u);

/* Forgets every table (before adopting a rule set someone else loaded). */
void ipt2bpf_umh_reset(struct ipt2bpf_umh *u);
/*
 * Brings a table to life as the kernel's xt_find_table_lock() does on first
 * use: its initial rules (an ACCEPT policy per chain) unless it is adopted.
 * -ENOENT for a table we do not serve.
 */
int ipt2bpf_umh_instantiate(struct ipt2bpf_umh *u, const char *name);
/* Takes a table the backend already has in force (daemon start, a restart). */
int ipt2bpf_umh_adopt(struct ipt2bpf_umh *u, const struct ipt_replace *repl, size_t len,
		      struct ipt2bpf_diag *diag);

/*
 * One getsockopt (set false) or setsockopt on the ip_tables range: cmd,
 * the caller's optval address and optlen, its memory through io.  Returns
 * what the kernel's do_ipt_get_ctl()/do_ipt_set_ctl() would (0 or -errno;
 * the caller has CAP_NET_ADMIN, checked by the transport); diag says why.
 */
int ipt2bpf_umh_sockopt(struct ipt2bpf_umh *u, bool set, int cmd, uint64_t addr, uint32_t len,
			const struct ipt2bpf_umh_io *io, struct ipt2bpf_diag *diag);

/* /proc/net/ip_tables_names: instantiated tables, newest first, "name\n" each. */
size_t ipt2bpf_umh_table_names(const struct ipt2bpf_umh *u, char *buf, size_t len);
/* Instantiated tables oldest first, space separated (what a restart re-instantiates). */
size_t ipt2bpf_umh_table_order(const struct ipt2bpf_umh *u, char *buf, size_t len);
bool ipt2bpf_umh_kernel_tables(const struct ipt2bpf_umh *u);

/* ------------------------------------------------------------ unix socket transport */

/* A reply being built: the segments and the message. */
struct ipt2bpf_umh_reply {
	int32_t status;
	uint32_t n_segs;
	unsigned char *buf; /* header room + segments + message once finished */
	size_t len, cap;
	int err; /* -ENOMEM while building: the reply becomes that error */
};

void ipt2bpf_umh_reply_init(struct ipt2bpf_umh_reply *r);
void ipt2bpf_umh_reply_release(struct ipt2bpf_umh_reply *r);
/* Appends one segment (copied). */
void ipt2bpf_umh_reply_seg(struct ipt2bpf_umh_reply *r, uint64_t addr, const void *data, size_t len,
			   uint32_t flags);
/* Header filled in, message appended: r->buf/r->len are the bytes to send. */
void ipt2bpf_umh_reply_finish(struct ipt2bpf_umh_reply *r, int status, const char *msg);

/*
 * Checks a request header: 0, or the errno of the reply to send (-EPROTO: not
 * our protocol or version; -EINVAL: reserved bits or in_len > len; -ENOMEM:
 * in_len over IPT2BPF_UMH_MAX_IN; -EOPNOTSUPP: unknown op).  *fatal: the
 * stream cannot be trusted any more (close after replying).
 */
int ipt2bpf_umh_req_check(const struct ipt2bpf_umh_req *h, bool *fatal);

/*
 * Handles one checked request whose in_len bytes are at in.  privileged: the
 * peer has CAP_NET_ADMIN (else -EPERM, as the kernel, and -EACCES for the
 * table names, as the 0440 proc file).  The reply is finished.
 */
void ipt2bpf_umh_handle(struct ipt2bpf_umh *u, const struct ipt2bpf_umh_req *h, const void *in,
			bool privileged, struct ipt2bpf_umh_reply *rep);

/* ------------------------------------------------------------ bpfilter usermode driver */

/* What the driver loop asks of its host about a caller. */
struct ipt2bpf_umh_mbox_opts {
	/*
	 * 0: serve the caller; -EPERM: it lacks CAP_NET_ADMIN; -ENOPROTOOPT: not
	 * ours (another network namespace): the kernel's ip_tables answers.
	 */
	int (*caller)(void *ctx, uint32_t pid);
	/* Before each request: the host may refresh state (NULL: nothing). */
	void (*before)(void *ctx);
	/* A message about a request (diag text), e.g. to /dev/kmsg. */
	void (*log)(void *ctx, const char *msg);
	void *ctx;
};

/* Handles one request (already read): the status to reply. */
int ipt2bpf_umh_mbox_handle(struct ipt2bpf_umh *u, const struct ipt2bpf_mbox_request *req,
			    const struct ipt2bpf_umh_mbox_opts *o);

/*
 * Reads struct mbox_request from in_fd and answers struct mbox_reply on
 * out_fd until in_fd closes (0) or a short read/write (-EIO).  The caller's
 * buffers are read and written with process_vm_readv/writev on req.pid.
 */
int ipt2bpf_umh_mbox_loop(struct ipt2bpf_umh *u, int in_fd, int out_fd,
			  const struct ipt2bpf_umh_mbox_opts *o);

/* process_vm_readv/writev io on a pid (ctx: a pointer to the pid_t). */
extern const struct ipt2bpf_umh_io ipt2bpf_umh_io_pid;

/* ------------------------------------------------------------ in-memory backend */

/*
 * A backend without BPF: tables are "in force" as soon as committed, counters
 * live in memory.  For tests and the fuzzer; ctx from ipt2bpf_umh_mem_new().
 * fail_commit (if not 0) is returned by the next commits.
 */
struct ipt2bpf_umh_mem;
extern const struct ipt2bpf_umh_backend ipt2bpf_umh_backend_mem;
struct ipt2bpf_umh_mem *ipt2bpf_umh_mem_new(void);
void ipt2bpf_umh_mem_free(struct ipt2bpf_umh_mem *m);
void ipt2bpf_umh_mem_fail(struct ipt2bpf_umh_mem *m, int err);
/* Counts packets into a committed table's entry (what a program would do). */
int ipt2bpf_umh_mem_count(struct ipt2bpf_umh_mem *m, const char *table, unsigned int entry,
			  uint64_t pcnt, uint64_t bcnt);

#endif
