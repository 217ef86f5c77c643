// SPDX-License-Identifier: GPL-2.0
/*
 * The transports of ipt2bpf-umh: requests from the xtables shim over the
 * daemon's unix socket (umh_proto_wire.h), and struct mbox_request from the
 * kernel's bpfilter hook over the usermode driver's stdin/stdout.  Both end
 * in ipt2bpf_umh_sockopt() (umh_proto_tables.c); they differ only in how the
 * caller's memory is reached: bytes carried in the request and write
 * segments carried back, or process_vm_readv/writev on the calling process.
 *
 * Everything a request says is checked before use: this file is fuzzed
 * (tests/fuzz/fuzz_umh.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "umh_proto.h"

/* ------------------------------------------------------------ replies */

void ipt2bpf_umh_reply_init(struct ipt2bpf_umh_reply *r)
{
	memset(r, 0, sizeof(*r));
}

void ipt2bpf_umh_reply_release(struct ipt2bpf_umh_reply *r)
{
	free(r->buf);
	ipt2bpf_umh_reply_init(r);
}

static int reply_room(struct ipt2bpf_umh_reply *r, size_t more)
{
	size_t want;
	unsigned char *nb;

	if (r->err)
		return r->err;
	if (!r->buf)
		r->len = sizeof(struct ipt2bpf_umh_rep);
	want = r->len + more;
	if (want < r->len || want > (size_t)IPT2BPF_UMH_MAX_IN * 2) {
		r->err = -ENOMEM;
		return r->err;
	}
	if (want <= r->cap)
		return 0;
	if (want < 2 * r->cap)
		want = 2 * r->cap;
	nb = realloc(r->buf, want);
	if (!nb) {
		r->err = -ENOMEM;
		return r->err;
	}
	r->buf = nb;
	r->cap = want;
	return 0;
}

void ipt2bpf_umh_reply_seg(struct ipt2bpf_umh_reply *r, uint64_t addr, const void *data, size_t len,
			   uint32_t flags)
{
	struct ipt2bpf_umh_seg s = {.addr = addr, .len = (uint32_t)len, .flags = flags};

	if (len > UINT32_MAX) {
		r->err = -ENOMEM;
		return;
	}
	if (reply_room(r, sizeof(s) + len))
		return;
	memcpy(r->buf + r->len, &s, sizeof(s));
	if (len)
		memcpy(r->buf + r->len + sizeof(s), data, len);
	r->len += sizeof(s) + len;
	r->n_segs++;
}

void ipt2bpf_umh_reply_finish(struct ipt2bpf_umh_reply *r, int status, const char *msg)
{
	size_t mlen = msg ? strnlen(msg, 4096) : 0;
	struct ipt2bpf_umh_rep h = {.magic = IPT2BPF_UMH_REP_MAGIC};

	if (!r->err)
		reply_room(r, mlen);
	if (r->err) {
		/* Out of memory on the way: the call fails as the kernel's would. */
		status = r->err;
		mlen = 0;
		r->n_segs = 0;
		r->err = 0;
		free(r->buf);
		r->buf = malloc(sizeof(h));
		r->cap = r->buf ? sizeof(h) : 0;
		r->len = sizeof(h);
		if (!r->buf) {
			r->len = 0;
			return;
		}
	}
	if (mlen)
		memcpy(r->buf + r->len, msg, mlen);
	r->len += mlen;
	h.status = status;
	h.n_segs = r->n_segs;
	h.msg_len = (uint32_t)mlen;
	h.data_len = r->len - sizeof(h);
	memcpy(r->buf, &h, sizeof(h));
}

/* ------------------------------------------------------------ requests */

int ipt2bpf_umh_req_check(const struct ipt2bpf_umh_req *h, bool *fatal)
{
	*fatal = true;
	if (h->magic != IPT2BPF_UMH_REQ_MAGIC || h->version != IPT2BPF_UMH_VERSION)
		return -EPROTO;
	if (h->in_len > IPT2BPF_UMH_MAX_IN)
		return -ENOMEM;
	*fatal = false;
	if (h->reserved || h->in_len > h->len)
		return -EINVAL;
	switch (h->op) {
	case IPT2BPF_UMH_OP_GETSOCKOPT:
	case IPT2BPF_UMH_OP_SETSOCKOPT:
	case IPT2BPF_UMH_OP_TABLES:
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

/* The caller's buffer as far as the request carries it; writes become segments. */
struct buf_io {
	uint64_t base;
	const unsigned char *in;
	uint32_t in_len;
	struct ipt2bpf_umh_reply *rep;
};

static int buf_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
	const struct buf_io *b = ctx;
	uint64_t off = addr - b->base;

	if (addr < b->base || off > b->in_len || len > b->in_len - off)
		return -EFAULT;
	if (len)
		memcpy(dst, b->in + off, len);
	return 0;
}

static int buf_write(void *ctx, uint64_t addr, const void *src, size_t len, bool may_fault)
{
	struct buf_io *b = ctx;

	ipt2bpf_umh_reply_seg(b->rep, addr, src, len, may_fault ? IPT2BPF_UMH_SEG_MAY_FAULT : 0);
	return b->rep->err;
}

void ipt2bpf_umh_handle(struct ipt2bpf_umh *u, const struct ipt2bpf_umh_req *h, const void *in,
			bool privileged, struct ipt2bpf_umh_reply *rep)
{
	struct ipt2bpf_diag diag = {0};
	struct buf_io b = {.base = h->addr, .in = in, .in_len = h->in_len, .rep = rep};
	const struct ipt2bpf_umh_io io = {.read = buf_read, .write = buf_write, .ctx = &b};
	int status;

	switch (h->op) {
	case IPT2BPF_UMH_OP_GETSOCKOPT:
	case IPT2BPF_UMH_OP_SETSOCKOPT:
		if (!privileged) {
			status = -EPERM;
			break;
		}
		status = ipt2bpf_umh_sockopt(u, h->op == IPT2BPF_UMH_OP_SETSOCKOPT, (int)h->cmd,
					     h->addr, h->len, &io, &diag);
		break;
	case IPT2BPF_UMH_OP_TABLES: {
		char small[256], *names = small;
		size_t n;

		if (!privileged) {
			status = -EACCES; /* /proc/net/ip_tables_names is 0440 */
			break;
		}
		n = ipt2bpf_umh_table_names(u, small, sizeof(small));
		if (n >= sizeof(small)) {
			names = malloc(n + 1);
			if (!names) {
				status = -ENOMEM;
				break;
			}
			ipt2bpf_umh_table_names(u, names, n + 1);
		}
		ipt2bpf_umh_reply_seg(
			rep, 0, names, n,
			IPT2BPF_UMH_SEG_DATA |
				(ipt2bpf_umh_kernel_tables(u) ? IPT2BPF_UMH_SEG_KERNEL_TABLES : 0));
		if (names != small)
			free(names);
		status = 0;
		break;
	}
	default:
		status = -EOPNOTSUPP;
	}
	ipt2bpf_umh_reply_finish(rep, status, status ? diag.msg : NULL);
}

/* ------------------------------------------------------------ bpfilter usermode driver */

/*
 * process_vm_readv/writev move whole iovec elements or nothing, so a range
 * that crosses into an unmapped page is moved page by page: the bytes before
 * the fault still go, as with copy_to_user().
 */
static int pid_copy(pid_t pid, uint64_t addr, void *local, size_t len, bool out)
{
	size_t done = 0;

	while (done < len) {
		uint64_t a = addr + done;
		size_t chunk = 4096 - (size_t)(a & 4095);
		struct iovec l, r;
		ssize_t n;

		if (chunk > len - done)
			chunk = len - done;
		if (a < addr || a > UINTPTR_MAX)
			return -EFAULT;
		l = (struct iovec){(char *)local + done, chunk};
		r = (struct iovec){(void *)(uintptr_t)a, chunk};
		n = out ? process_vm_writev(pid, &l, 1, &r, 1, 0)
			: process_vm_readv(pid, &l, 1, &r, 1, 0);
		if (n <= 0)
			return -EFAULT;
		done += (size_t)n;
	}
	return 0;
}

static int pid_read(void *ctx, uint64_t addr, void *dst, size_t len)
{
	return pid_copy(*(pid_t *)ctx, addr, dst, len, false);
}

static int pid_write(void *ctx, uint64_t addr, const void *src, size_t len, bool may_fault)
{
	(void)may_fault;
	return pid_copy(*(pid_t *)ctx, addr, (void *)src, len, true);
}

const struct ipt2bpf_umh_io ipt2bpf_umh_io_pid = {.read = pid_read, .write = pid_write};

int ipt2bpf_umh_mbox_handle(struct ipt2bpf_umh *u, const struct ipt2bpf_mbox_request *req,
			    const struct ipt2bpf_umh_mbox_opts *o)
{
	struct ipt2bpf_diag diag = {0};
	struct ipt2bpf_umh_io io = ipt2bpf_umh_io_pid;
	pid_t pid = (pid_t)req->pid;
	int err;

	/* start_umh()'s health check: a zeroed get request. */
	if (!req->is_set && !req->cmd)
		return 0;
	if (o && o->caller) {
		err = o->caller(o->ctx, req->pid);
		if (err)
			return err;
	}
	if (o && o->before)
		o->before(o->ctx);
	io.ctx = &pid;
	err = ipt2bpf_umh_sockopt(u, req->is_set != 0, (int)req->cmd, req->addr, req->len, &io,
				  &diag);
	if (diag.msg[0] && o && o->log)
		o->log(o->ctx, diag.msg);
	return err;
}

static int full_io(int fd, void *buf, size_t len, bool out)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = out ? write(fd, (char *)buf + done, len - done)
				: read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return done == 0 && n == 0 ? 0 : -EIO;
		done += (size_t)n;
	}
	return 1;
}

int ipt2bpf_umh_mbox_loop(struct ipt2bpf_umh *u, int in_fd, int out_fd,
			  const struct ipt2bpf_umh_mbox_opts *o)
{
	for (;;) {
		struct ipt2bpf_mbox_request req;
		struct ipt2bpf_mbox_reply rep;
		int r = full_io(in_fd, &req, sizeof(req), false);

		if (r <= 0)
			return r;
		rep.status = (uint32_t)ipt2bpf_umh_mbox_handle(u, &req, o);
		if (full_io(out_fd, &rep, sizeof(rep), true) != 1)
			return -EIO;
	}
}
