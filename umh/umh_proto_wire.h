/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What travels between the xtables shim (forward mode) and ipt2bpf-umh over
 * the daemon's unix socket.  Both ends are on the same host: host byte order,
 * no padding surprises (every field is naturally aligned).
 *
 * The socket is the abstract unix socket "@ipt2bpf-umh" (a leading NUL, no
 * file): abstract names belong to a network namespace, so every namespace
 * has its own daemon under the same name, an iptables run in a namespace
 * reaches that namespace's daemon, a second daemon in the same namespace
 * cannot bind, and a killed daemon leaves no stale socket file behind.
 * $IPT2BPF_UMH_SOCKET overrides it on both ends ("@name": abstract, "/path":
 * a filesystem socket).
 *
 * One request, one reply, in order, on a connection that lives as long as
 * the client wants.  A request is a sockopt call as iptables made it:
 *
 *   struct ipt2bpf_umh_req, then in_len bytes: the start of the caller's
 *   optval buffer (as far as the call reads it and it was readable)
 *
 * and the reply is what the kernel would have done to the caller's memory
 * and the call's result:
 *
 *   struct ipt2bpf_umh_rep, then n_segs times (struct ipt2bpf_umh_seg + len
 *   bytes): copy these bytes to this address of the caller, then msg_len
 *   bytes of message (the reason behind a refusal, no NUL)
 *
 * The daemon reads the caller's memory only through the bytes sent, so a bad
 * pointer shows up as fewer bytes and EFAULT where the kernel would fault.
 */
#ifndef IPT2BPF_UMH_PROTO_WIRE_H
#define IPT2BPF_UMH_PROTO_WIRE_H

#include <stdint.h>

#define IPT2BPF_UMH_SOCKET_ENV	   "IPT2BPF_UMH_SOCKET"
#define IPT2BPF_UMH_SOCKET_DEFAULT "@ipt2bpf-umh"

#define IPT2BPF_UMH_REQ_MAGIC 0x71626975U /* "uibq" */
#define IPT2BPF_UMH_REP_MAGIC 0x70626975U /* "uibp" */
#define IPT2BPF_UMH_VERSION   1

/*
 * The most bytes of a caller's buffer a request may carry: the kernel's
 * XT_MAX_TABLE_SIZE plus room for the ipt_replace header.  A table larger
 * than that is ENOMEM in the kernel before anything is read.
 */
#define IPT2BPF_UMH_MAX_IN (512U * 1024 * 1024 + 4096)

enum ipt2bpf_umh_op {
	IPT2BPF_UMH_OP_GETSOCKOPT = 1, /* getsockopt(SOL_IP, cmd, addr, &len) */
	IPT2BPF_UMH_OP_SETSOCKOPT = 2, /* setsockopt(SOL_IP, cmd, addr, len) */
	IPT2BPF_UMH_OP_TABLES = 3,     /* /proc/net/ip_tables_names: one data segment */
};

struct ipt2bpf_umh_req {
	uint32_t magic;	   /* IPT2BPF_UMH_REQ_MAGIC */
	uint16_t version;  /* IPT2BPF_UMH_VERSION */
	uint16_t op;	   /* enum ipt2bpf_umh_op */
	uint32_t cmd;	   /* IPT_SO_* */
	uint32_t len;	   /* the caller's optlen */
	uint64_t addr;	   /* the caller's optval, echoed in write segments */
	uint32_t in_len;   /* bytes of optval that follow */
	uint32_t reserved; /* 0 */
};

struct ipt2bpf_umh_rep {
	uint32_t magic;	   /* IPT2BPF_UMH_REP_MAGIC */
	int32_t status;	   /* 0 or a negative errno, as the kernel's handler returns */
	uint32_t n_segs;   /* struct ipt2bpf_umh_seg + bytes, each */
	uint32_t msg_len;  /* message bytes after the segments */
	uint64_t data_len; /* every byte after this header */
};

/* In a reply to OP_TABLES: the data, not a copy to the caller. */
#define IPT2BPF_UMH_SEG_DATA (1U << 0)
/* The kernel ignores a fault here (replace's old counters): so does the client. */
#define IPT2BPF_UMH_SEG_MAY_FAULT (1U << 1)
/*
 * In a reply to OP_TABLES: the daemon hands tables it does not serve to the
 * kernel (--kernel-tables); the client adds the kernel's own names.
 */
#define IPT2BPF_UMH_SEG_KERNEL_TABLES (1U << 2)

struct ipt2bpf_umh_seg {
	uint64_t addr;
	uint32_t len;
	uint32_t flags; /* IPT2BPF_UMH_SEG_* */
};

/*
 * The kernel's bpfilter usermode-driver protocol (net/bpfilter/msgfmt.h,
 * Linux 4.18 to 6.7): one request on the driver's stdin, one reply on its
 * stdout.  addr/len are the sockopt caller's optval/optlen in the process
 * pid, read and written with process_vm_readv/writev; status is what the
 * sockopt returns (a negative errno; -ENOPROTOOPT hands the call on to the
 * kernel's own ip_tables).  cmd 0 with is_set 0 is the driver's health check.
 */
struct ipt2bpf_mbox_request {
	uint64_t addr;
	uint32_t len;
	uint32_t is_set;
	uint32_t cmd;
	uint32_t pid;
};

struct ipt2bpf_mbox_reply {
	uint32_t status;
};

#endif
