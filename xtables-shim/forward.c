// SPDX-License-Identifier: GPL-2.0
/*
 * The forward backend: IPT_SO_* go to ipt2bpf-umh over its unix socket
 * (umh/umh_proto_wire.h), which keeps the tables and runs them as eBPF.  This
 * is what makes `iptables-bpf` (iptables-legacy with this library preloaded)
 * a drop-in for `iptables`.
 *
 * A call is sent as the kernel would see it: cmd, optlen, the optval address
 * and as much of the buffer as the call reads (up to the first unreadable
 * byte: the daemon answers EFAULT where the kernel would fault).  The reply
 * says what to write where in our memory and the result.  One connection per
 * process, opened on first use; a read-only call whose connection turns out
 * stale (the daemon restarted) is retried once on a new one, a change never
 * is (it may have taken effect).
 *
 * Without a daemon, the calls fail the way a kernel without ip_tables would:
 * GET_REVISION with ENOPROTOOPT (iptables then assumes revision 0), table
 * lookups with ENOENT ("Table does not exist (do you need to insmod?)"), with
 * one line saying which daemon was not there and how to start it.
 *
 * Replies with -ENOPROTOOPT mean "not ours" (ipt2bpf-umh --kernel-tables):
 * the call goes to a real raw socket, i.e. to the kernel's ip_tables.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include "shim.h"
#include "umh/umh_proto_wire.h"

#define KERNEL_NAMES "/proc/net/ip_tables_names"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char spec[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int conn = -1;
static bool conn_used; /* a reply came back on conn: it may since have gone stale */
static bool hinted;
static char last_msg[256]; /* iptables repeats a failed lookup: say why once */
static int kernel_fd = -1;

/* ---------------------------------------------------------------- connection */

static void hint(int err)
{
	if (hinted)
		return;
	hinted = true;
	ipt2bpf_shim_log("no ipt2bpf-umh serves this network namespace (%s: %s); start it with "
			 "`systemctl start ipt2bpf-umh` or `ipt2bpf-umh`",
			 spec, strerror(-err));
}

static int fwd_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(spec);
	socklen_t len;
	int fd;

	memcpy(sa.sun_path, spec, n);
	if (spec[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = ipt2bpf_shim_real_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, len)) {
		int err = -errno;

		ipt2bpf_shim_real_close(fd);
		return err;
	}
	conn = fd;
	conn_used = false;
	return 0;
}

static void fwd_disconnect(void)
{
	if (conn >= 0)
		ipt2bpf_shim_real_close(conn);
	conn = -1;
}

static int send_all(const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(conn, (const char *)buf + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

static int recv_all(void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(conn, (char *)buf + done, len - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

/* What came back: the header and everything after it (segments, message). */
struct reply {
	struct ipt2bpf_umh_rep h;
	unsigned char *data;
};

/* -ENOTCONN: no daemon (hinted); -EIO: the daemon went away mid-call. */
static int exchange(const struct ipt2bpf_umh_req *req, const void *in, struct reply *r)
{
	bool retry = req->op != IPT2BPF_UMH_OP_SETSOCKOPT;
	int err;

	r->data = NULL;
	for (int attempt = 0;; attempt++) {
		bool stale = conn >= 0 && conn_used;

		if (conn < 0) {
			err = fwd_connect();
			if (err) {
				hint(err);
				return -ENOTCONN;
			}
		}
		err = send_all(req, sizeof(*req));
		if (!err)
			err = send_all(in, req->in_len);
		if (!err)
			err = recv_all(&r->h, sizeof(r->h));
		if (!err)
			break;
		fwd_disconnect();
		if (!(stale && retry && attempt == 0)) {
			ipt2bpf_shim_log("ipt2bpf-umh (%s) went away during the call", spec);
			return -EIO;
		}
	}
	if (r->h.magic != IPT2BPF_UMH_REP_MAGIC || r->h.data_len > 2ULL * IPT2BPF_UMH_MAX_IN) {
		fwd_disconnect();
		ipt2bpf_shim_log("%s does not speak the ipt2bpf-umh protocol", spec);
		return -EPROTO;
	}
	r->data = malloc(r->h.data_len ? r->h.data_len : 1);
	if (!r->data) {
		fwd_disconnect();
		return -ENOMEM;
	}
	err = recv_all(r->data, r->h.data_len);
	if (err) {
		free(r->data);
		r->data = NULL;
		fwd_disconnect();
		return -EIO;
	}
	conn_used = true;
	return 0;
}

/*
 * Applies the reply's writes to our memory and prints its message; returns
 * the call's result.  data (may be NULL) receives a DATA segment.
 */
static int apply(const struct reply *r, char **data, size_t *data_len, uint32_t *data_flags)
{
	size_t off = 0, end = r->h.data_len;
	int status = r->h.status;

	for (uint32_t i = 0; i < r->h.n_segs; i++) {
		struct ipt2bpf_umh_seg s;

		if (end - off < sizeof(s))
			return -EPROTO;
		memcpy(&s, r->data + off, sizeof(s));
		off += sizeof(s);
		if (end - off < s.len)
			return -EPROTO;
		if (s.flags & IPT2BPF_UMH_SEG_DATA) {
			if (data) {
				*data = malloc(s.len + 1);
				if (!*data)
					return -ENOMEM;
				memcpy(*data, r->data + off, s.len);
				(*data)[s.len] = '\0';
				*data_len = s.len;
				*data_flags = s.flags;
			}
		} else if (ipt2bpf_shim_copy_out((void *)(uintptr_t)s.addr, r->data + off, s.len) &&
			   !(s.flags & IPT2BPF_UMH_SEG_MAY_FAULT) && !status) {
			status = -EFAULT;
		}
		off += s.len;
	}
	if (r->h.msg_len && r->h.msg_len <= end - off) {
		char line[4200];
		int n = snprintf(line, sizeof(line), "ipt2bpf: %.*s\n",
				 (int)(r->h.msg_len < 4096 ? r->h.msg_len : 4096),
				 (const char *)r->data + off);

		if (n > 0 && strncmp(line, last_msg, sizeof(last_msg) - 1)) {
			memcpy(last_msg, line, sizeof(last_msg) - 1);
			if (write(STDERR_FILENO, line, (size_t)n) < 0)
				return status;
		}
	}
	return status;
}

/* ---------------------------------------------------------------- the caller's buffer */

/* Copies up to len bytes of user memory, stopping at the first unreadable page. */
static size_t copy_prefix(unsigned char *dst, const void *user, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uintptr_t a = (uintptr_t)user + done;
		size_t chunk = 4096 - (a & 4095);

		if (chunk > len - done)
			chunk = len - done;
		if (ipt2bpf_shim_copy_in(dst + done, (const void *)a, chunk))
			break;
		done += chunk;
	}
	return done;
}

/* ---------------------------------------------------------------- the kernel, for --kernel-tables
 */

static int kernel_socket(void)
{
	if (kernel_fd < 0)
		kernel_fd = ipt2bpf_shim_real_socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	return kernel_fd < 0 ? -errno : 0;
}

static int kernel_call(bool set, int cmd, void *user, unsigned int len)
{
	socklen_t l = len;
	int err = kernel_socket();

	if (err)
		return err;
	if (set ? ipt2bpf_shim_real_setsockopt(kernel_fd, SOL_IP, cmd, user, l)
		: ipt2bpf_shim_real_getsockopt(kernel_fd, SOL_IP, cmd, user, &l))
		return -errno;
	return 0;
}

/* ---------------------------------------------------------------- calls */

static int sockopt(bool set, int cmd, void *user, unsigned int len, size_t in_max)
{
	struct ipt2bpf_umh_req req = {
		.magic = IPT2BPF_UMH_REQ_MAGIC,
		.version = IPT2BPF_UMH_VERSION,
		.op = set ? IPT2BPF_UMH_OP_SETSOCKOPT : IPT2BPF_UMH_OP_GETSOCKOPT,
		.cmd = (uint32_t)cmd,
		.len = len,
		.addr = (uint64_t)(uintptr_t)user,
	};
	size_t want = len < in_max ? len : in_max;
	unsigned char *in = malloc(want ? want : 1);
	struct reply r;
	int err;

	if (!in)
		return -ENOMEM;
	req.in_len = (uint32_t)copy_prefix(in, user, want);
	pthread_mutex_lock(&lock);
	err = exchange(&req, in, &r);
	if (!err)
		err = apply(&r, NULL, NULL, NULL);
	pthread_mutex_unlock(&lock);
	free(in);
	free(r.data);
	if (err == -ENOPROTOOPT)
		return kernel_call(set, cmd, user, len);
	if (err == -ENOTCONN)
		/* As a kernel without ip_tables: iptables assumes revision 0, tables are missing.
		 */
		return cmd == IPT_SO_GET_REVISION_MATCH || cmd == IPT_SO_GET_REVISION_TARGET
			       ? -ENOPROTOOPT
			       : -ENOENT;
	return err;
}

static int fwd_get_info(void *user, int len)
{
	return sockopt(false, IPT_SO_GET_INFO, user, (unsigned int)len, sizeof(struct ipt_getinfo));
}

static int fwd_get_entries(void *user, int len)
{
	return sockopt(false, IPT_SO_GET_ENTRIES, user, (unsigned int)len,
		       sizeof(struct ipt_get_entries));
}

static int fwd_get_revision(void *user, int len, bool target)
{
	return sockopt(false, target ? IPT_SO_GET_REVISION_TARGET : IPT_SO_GET_REVISION_MATCH, user,
		       (unsigned int)len, sizeof(struct xt_get_revision));
}

static int fwd_set_replace(const void *user, unsigned int len)
{
	return sockopt(true, IPT_SO_SET_REPLACE, (void *)user, len, IPT2BPF_UMH_MAX_IN);
}

static int fwd_set_add_counters(const void *user, unsigned int len)
{
	return sockopt(true, IPT_SO_SET_ADD_COUNTERS, (void *)user, len, IPT2BPF_UMH_MAX_IN);
}

/* The kernel's own table names, minus the ones the daemon serves. */
static size_t kernel_names(char *buf, size_t len)
{
	char data[1024];
	size_t n = 0;
	ssize_t got;
	int fd = ipt2bpf_shim_real_open(KERNEL_NAMES, O_RDONLY | O_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	got = read(fd, data, sizeof(data) - 1);
	ipt2bpf_shim_real_close(fd);
	if (got <= 0)
		return 0;
	data[got] = '\0';
	for (char *save, *name = strtok_r(data, "\n", &save); name;
	     name = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(name, "filter") || !strcmp(name, "security"))
			continue;
		n += snprintf(buf + (n < len ? n : 0), n < len ? len - n : 0, "%s\n", name);
	}
	return n;
}

static int fwd_table_names(char *buf, size_t len)
{
	struct ipt2bpf_umh_req req = {.magic = IPT2BPF_UMH_REQ_MAGIC,
				      .version = IPT2BPF_UMH_VERSION,
				      .op = IPT2BPF_UMH_OP_TABLES};
	char *data = NULL;
	size_t dlen = 0, n;
	uint32_t flags = 0;
	struct reply r;
	int err;

	pthread_mutex_lock(&lock);
	err = exchange(&req, NULL, &r);
	if (!err)
		err = apply(&r, &data, &dlen, &flags);
	pthread_mutex_unlock(&lock);
	free(r.data);
	if (err == -ENOTCONN)
		err = -ENOENT; /* /proc/net/ip_tables_names without ip_tables */
	if (err) {
		free(data);
		return err;
	}
	n = dlen;
	if (len)
		snprintf(buf, len, "%s", data ? data : "");
	if (flags & IPT2BPF_UMH_SEG_KERNEL_TABLES)
		n += kernel_names(buf + (n < len ? n : 0), n < len ? len - n : 0);
	free(data);
	return n > INT32_MAX ? -E2BIG : (int)n;
}

/*
 * The kernel's raw socket needs CAP_NET_RAW, and iptables tells an EPERM there
 * ("you must be root") from one later on: the placeholder is refused exactly
 * when a real one would be.
 */
static int fwd_socket_check(void)
{
	int fd = ipt2bpf_shim_real_socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);

	if (fd < 0)
		return errno == EPERM || errno == EACCES ? -errno : 0;
	ipt2bpf_shim_real_close(fd);
	return 0;
}

static int fwd_init(void)
{
	const char *s = getenv(IPT2BPF_UMH_SOCKET_ENV);

	if (!s || !*s)
		s = IPT2BPF_UMH_SOCKET_DEFAULT;
	if ((s[0] != '@' && s[0] != '/') || strlen(s) < 2 || strlen(s) >= sizeof(spec)) {
		ipt2bpf_shim_log("%s=%s: use @NAME (abstract socket) or /PATH",
				 IPT2BPF_UMH_SOCKET_ENV, s);
		return -EINVAL;
	}
	snprintf(spec, sizeof(spec), "%s", s);
	return 0;
}

const struct ipt2bpf_shim_backend ipt2bpf_shim_forward = {
	.name = "forward",
	.init = fwd_init,
	.socket_check = fwd_socket_check,
	.get_info = fwd_get_info,
	.get_entries = fwd_get_entries,
	.get_revision = fwd_get_revision,
	.set_replace = fwd_set_replace,
	.set_add_counters = fwd_set_add_counters,
	.table_names = fwd_table_names,
	.lock_path = NULL,
};
