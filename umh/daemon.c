// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf-umh: one daemon per network namespace, serving IPT_SO_* for it.
 *
 *   main thread      binds the socket (a second daemon fails here), adopts
 *                    the rules the runtime has pinned, then accepts clients
 *                    and waits for SIGTERM/SIGINT;
 *   one thread per   reads a request, checks the peer (SO_PEERCRED: the
 *   client           kernel's CAP_NET_ADMIN test), runs it on the engine
 *                    under one mutex (the kernel serialises ip_tables the
 *                    same way), sends the reply;
 *   follow thread    rtnetlink: interfaces that appear later get the
 *                    programs in force (ipt2bpf_rt_follow()).
 *
 * The state that matters lives in bpffs (runtime.h): tables as the blobs
 * iptables sent, programs, counters.  The daemon keeps a copy of the tables
 * and re-reads the pins whenever the generation in force is not the one it
 * last saw (a restart, `ipt2bpf load`/`unload` meanwhile), so killing it
 * loses no rule and no counter, and filtering never stops.  The order in
 * which tables came to life (what /proc/net/ip_tables_names lists) rides in
 * the generation's `source` string: "ipt2bpf-umh tables: filter security".
 *
 * With --bpfilter-umh (or started as "bpfilter_umh", the name the kernel's
 * usermode driver gets) the same engine answers struct mbox_request on stdin.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>

#include "daemon.h"
#include "umh_proto.h"
#include "../translator/util.h"

#define SOURCE_PREFIX "ipt2bpf-umh tables:"
#define MAX_CLIENTS   128
#define STALL_MS      30000 /* a request started must finish arriving within this */
#define FIRST_CHUNK   (1U << 20)

_Static_assert(sizeof(struct xt_counters) == sizeof(struct ipt2bpf_counter),
	       "xt_counters and ipt2bpf_counter share a layout");

enum log_to { LOG_TO_STDERR, LOG_TO_SYSLOG, LOG_TO_KMSG };

struct umhd {
	const struct ipt2bpf_umhd_opts *o;
	struct ipt2bpf_runtime *rt;
	struct ipt2bpf_umh *u;
	pthread_mutex_t lock; /* the engine, the runtime handle, gen */
	uint32_t gen;	      /* generation the engine's tables came from */
	volatile sig_atomic_t stop;
	pthread_mutex_t clients_lock;
	pthread_cond_t clients_cond;
	unsigned int clients;
	enum log_to log_to;
	bool echo_errors; /* detaching: errors also on stderr, for whoever started us */
	int kmsg_fd;
	uint64_t own_netns, own_userns;
};

__attribute__((format(printf, 3, 4))) static void logmsg(struct umhd *d, int prio, const char *fmt,
							 ...)
{
	char buf[4400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (prio == LOG_DEBUG && !d->o->verbose)
		return;
	if (d->echo_errors && prio <= LOG_ERR)
		fprintf(stderr, "ipt2bpf-umh: %s\n", buf);
	switch (d->log_to) {
	case LOG_TO_SYSLOG:
		syslog(prio, "%s", buf);
		break;
	case LOG_TO_KMSG:
		if (d->kmsg_fd >= 0) {
			char line[4500];
			int n = snprintf(line, sizeof(line), "<%d>ipt2bpf-umh: %s\n", prio, buf);

			if (write(d->kmsg_fd, line, (size_t)n) < 0)
				break;
		}
		break;
	default:
		fprintf(stderr, "ipt2bpf-umh: %s\n", buf);
	}
}

static struct umhd *log_to_daemon; /* libbpf's messages have no context pointer */

/* libbpf's own lines (extack notes, load failures): details for -v; errors reach diag anyway. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n;

	if (level == LIBBPF_DEBUG || !log_to_daemon || !log_to_daemon->o->verbose)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	logmsg(log_to_daemon, LOG_DEBUG, "libbpf: %s", buf);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ backend: the runtime */

static int rt_commit(void *ctx, struct ipt2bpf_umh_commit *c, struct ipt2bpf_diag *diag)
{
	struct umhd *d = ctx;
	struct ipt2bpf_rt_load_opts lo = {.mode = d->o->mode, .xdp = d->o->xdp};
	struct ipt2bpf_rt_table tables[IPT2BPF_UMH_TABLES];
	struct ipt2bpf_rt_counters_ref ref = {.map_fd = -1, .base_fd = -1};
	struct ipt2bpf_diag hd = {0};
	const char *replaced = NULL;
	char source[256];
	uint64_t t0 = now_ms();
	bool held = false;
	int err;

	for (unsigned int i = 0; i < c->n_tables; i++) {
		tables[i] = (struct ipt2bpf_rt_table){.ir = c->tables[i].ir,
						      .repl = c->tables[i].repl,
						      .len = c->tables[i].len,
						      .zero_counters = c->tables[i].replaced};
		if (c->tables[i].replaced)
			replaced = c->tables[i].name;
	}
	/* The old programs' counter maps outlive their pins while held. */
	if (replaced) {
		err = ipt2bpf_rt_counters_hold(d->rt, replaced, &ref, &hd);
		held = !err;
		if (err && err != -ENOENT)
			logmsg(d, LOG_WARNING, "%s: old counters unreadable: %s", replaced,
			       hd.msg[0] ? hd.msg : strerror(-err));
	}
	snprintf(source, sizeof(source), "%s ", SOURCE_PREFIX);
	ipt2bpf_umh_table_order(d->u, source + strlen(source), sizeof(source) - strlen(source));
	lo.source = source;
	lo.verbose = d->o->verbose;
	err = ipt2bpf_rt_load(d->rt, tables, c->n_tables, &lo, diag);
	if (err) {
		ipt2bpf_rt_counters_release(&ref);
		logmsg(d, LOG_NOTICE, "%s: replace refused: %s", replaced ? replaced : "?",
		       diag->msg[0] ? diag->msg : strerror(-err));
		return err;
	}
	d->gen = ipt2bpf_rt_generation(d->rt);
	if (held) {
		/* After the load's grace period: nothing counts into these any more. */
		_cleanup_free_ struct ipt2bpf_counter *oc = calloc(ref.n_entries + 1, sizeof(*oc));

		if (oc && !ipt2bpf_rt_counters_read(&ref, oc)) {
			unsigned int n = ref.n_entries < c->old_n ? ref.n_entries : c->old_n;

			memcpy(c->old, oc, n * sizeof(*c->old));
			c->old_valid = true;
		} else {
			logmsg(d, LOG_WARNING, "%s: old counters lost: cannot read them", replaced);
		}
		ipt2bpf_rt_counters_release(&ref);
	}
	logmsg(d, LOG_DEBUG, "%s replaced: generation %u, %u ms", replaced ? replaced : "?", d->gen,
	       (unsigned int)(now_ms() - t0));
	return 0;
}

static int rt_counters(void *ctx, const char *table, struct xt_counters *out, unsigned int n,
		       struct ipt2bpf_diag *diag)
{
	struct umhd *d = ctx;
	struct ipt2bpf_rt_counters_ref ref;
	int err = ipt2bpf_rt_counters_hold(d->rt, table, &ref, diag);

	if (err)
		return err == -ENOENT ? ipt2bpf_diag_set(diag, -EIO, "%s: not loaded", table) : err;
	if (ref.n_entries != n)
		err = ipt2bpf_diag_set(diag, -EIO, "%s: %u counters pinned, %u entries", table,
				       ref.n_entries, n);
	else
		err = ipt2bpf_rt_counters_read(&ref, (struct ipt2bpf_counter *)out);
	ipt2bpf_rt_counters_release(&ref);
	return err;
}

static int rt_add_counters(void *ctx, const char *table, const struct xt_counters *add,
			   unsigned int n, struct ipt2bpf_diag *diag)
{
	struct umhd *d = ctx;
	struct ipt2bpf_rt_counters_ref ref;
	int err = ipt2bpf_rt_counters_hold(d->rt, table, &ref, diag);

	if (err)
		return err == -ENOENT ? ipt2bpf_diag_set(diag, -EIO, "%s: not loaded", table) : err;
	if (ref.n_entries != n)
		err = ipt2bpf_diag_set(diag, -EIO, "%s: %u counters pinned, %u entries", table,
				       ref.n_entries, n);
	else
		err = ipt2bpf_rt_counters_add(&ref, (const struct ipt2bpf_counter *)add);
	ipt2bpf_rt_counters_release(&ref);
	return err;
}

static const struct ipt2bpf_umh_backend rt_backend = {
	.commit = rt_commit,
	.counters = rt_counters,
	.add_counters = rt_add_counters,
};

/* ------------------------------------------------------------ state from the pins */

/* Re-loads the generation in force where interfaces run another (a load killed half-way). */
static void recover_stale(struct umhd *d, const struct ipt2bpf_rt_status *st)
{
	struct ipt2bpf_rt_load_opts lo = {
		.mode = st->state.mode, .xdp = d->o->xdp, .source = st->state.source};
	struct ipt2bpf_rt_table tables[2];
	struct ipt2bpf_diag diag = {0};
	unsigned int stale = 0;

	for (unsigned int i = 0; i < st->n_ifaces; i++)
		stale += st->ifaces[i].present && st->ifaces[i].stale;
	if (!stale)
		return;
	logmsg(d, LOG_NOTICE,
	       "%u interface(s) run programs of an unfinished load: putting "
	       "generation %u back on them",
	       stale, st->state.generation);
	for (unsigned int i = 0; i < st->n_tables; i++)
		tables[i] = (struct ipt2bpf_rt_table){.ir = st->tables[i],
						      .repl = st->blobs[i],
						      .len = st->state.tables[i].blob_len};
	if (ipt2bpf_rt_load(d->rt, tables, st->n_tables, &lo, &diag))
		logmsg(d, LOG_ERR, "recovery failed: %s", diag.msg);
}

/* The engine's tables := what the runtime has in force.  Caller holds d->lock. */
static int adopt(struct umhd *d, bool startup)
{
	_free_ipt2bpf_rt_status_ struct ipt2bpf_rt_status *st = NULL;
	struct ipt2bpf_diag diag = {0};
	bool done[2] = {false, false};
	const char *order = NULL;
	int err;

	ipt2bpf_umh_reset(d->u);
	d->gen = 0;
	err = ipt2bpf_rt_status_get(d->rt, &st, &diag);
	if (err) {
		logmsg(d, LOG_ERR, "cannot read the pinned state: %s", diag.msg);
		return err;
	}
	if (!st->loaded)
		return 0;
	if (startup)
		recover_stale(d, st);
	if (!strncmp(st->state.source, SOURCE_PREFIX, strlen(SOURCE_PREFIX)))
		order = st->state.source + strlen(SOURCE_PREFIX);
	/* Tables in the order they came to life, then any other a CLI load put in force. */
	for (const char *p = order; p && *p;) {
		char name[XT_TABLE_MAXNAMELEN] = "";
		unsigned int i;
		int n = 0;

		if (sscanf(p, " %31s%n", name, &n) != 1)
			break;
		p += n;
		for (i = 0; i < st->n_tables; i++)
			if (!strcmp(st->state.tables[i].name, name))
				break;
		if (i == st->n_tables) {
			ipt2bpf_umh_instantiate(d->u, name);
			continue;
		}
		err = ipt2bpf_umh_adopt(d->u, st->blobs[i], st->state.tables[i].blob_len, &diag);
		if (err)
			goto bad;
		done[i] = true;
	}
	for (unsigned int i = 0; i < st->n_tables && i < 2; i++) {
		if (done[i])
			continue;
		err = ipt2bpf_umh_adopt(d->u, st->blobs[i], st->state.tables[i].blob_len, &diag);
		if (err)
			goto bad;
	}
	d->gen = ipt2bpf_rt_generation(d->rt);
	if (startup)
		logmsg(d, LOG_INFO, "serving the rules of generation %u (%u table(s))", d->gen,
		       st->n_tables);
	return 0;
bad:
	ipt2bpf_umh_reset(d->u);
	logmsg(d, LOG_ERR, "the pinned tables cannot be served: %s", diag.msg);
	return err;
}

/* Before each request: someone else may have loaded or unloaded meanwhile. */
static void refresh(struct umhd *d)
{
	if (ipt2bpf_rt_generation(d->rt) != d->gen)
		adopt(d, false);
}

/* ------------------------------------------------------------ callers */

static uint64_t ns_inode(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_ino;
}

/*
 * The kernel's ns_capable(net->user_ns, CAP_NET_ADMIN) for a process: it has
 * the capability, in the user namespace we (and the network namespace) are
 * in.  Read from /proc at the time of the request.
 */
static bool pid_privileged(struct umhd *d, pid_t pid)
{
	char path[64], line[256];
	unsigned long long eff = 0;
	bool found = false;
	FILE *f;

	if (pid <= 0)
		return false;
	/* No /proc (a minimal system running us as its bpfilter driver): nothing to check with. */
	if (!d->own_userns)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	if (ns_inode(path) != d->own_userns)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			found = true;
			break;
		}
	fclose(f);
	return found && (eff >> CAP_NET_ADMIN & 1);
}

/* ------------------------------------------------------------ socket clients */

/* Reads len bytes; the first byte may wait forever (an idle client), the rest not long. */
static int read_full(int fd, void *buf, size_t len, bool idle_ok)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, done == 0 && idle_ok ? -1 : STALL_MS);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -ETIMEDOUT;
		n = recv(fd, (char *)buf + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return done == 0 && n == 0 ? 0 : -EIO;
		done += (size_t)n;
	}
	return 1;
}

/* The request's bytes, the buffer growing as they arrive (a header may lie about its size). */
static int read_in(int fd, uint32_t len, unsigned char **out)
{
	size_t cap = len < FIRST_CHUNK ? len : FIRST_CHUNK, done = 0;
	unsigned char *buf = malloc(cap ? cap : 1);

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	while (done < len) {
		size_t want = len - done;
		int r;

		if (done == cap) {
			size_t ncap = cap * 2 > len ? len : cap * 2;
			unsigned char *nb = realloc(buf, ncap);

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		if (want > cap - done)
			want = cap - done;
		r = read_full(fd, buf + done, want, false);
		if (r != 1) {
			free(buf);
			return r < 0 ? r : -EIO;
		}
		done += want;
	}
	*out = buf;
	return 0;
}

/* Reads and forgets len bytes. */
static int drain(int fd, uint32_t len)
{
	char buf[16384];

	while (len) {
		uint32_t n = len < sizeof(buf) ? len : (uint32_t)sizeof(buf);
		int r = read_full(fd, buf, n, false);

		if (r != 1)
			return r < 0 ? r : -EIO;
		len -= n;
	}
	return 0;
}

static int send_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

struct client {
	struct umhd *d;
	int fd;
	bool privileged;
	pid_t pid;
};

static void client_serve(struct client *c)
{
	struct umhd *d = c->d;

	for (;;) {
		struct ipt2bpf_umh_req h;
		struct ipt2bpf_umh_reply rep;
		_cleanup_free_ unsigned char *in = NULL;
		bool fatal = false;
		int r, err;

		r = read_full(c->fd, &h, sizeof(h), true);
		if (r != 1) {
			if (r < 0)
				logmsg(d, LOG_DEBUG, "client %d: %s", (int)c->pid, strerror(-r));
			return;
		}
		ipt2bpf_umh_reply_init(&rep);
		err = ipt2bpf_umh_req_check(&h, &fatal);
		if (!err && !c->privileged) {
			/*
			 * EPERM (EACCES for the names): what follows is read and dropped,
			 * an unprivileged peer does not get to make us buffer its bytes.
			 */
			r = drain(c->fd, h.in_len);
			h.in_len = 0;
			if (!r)
				ipt2bpf_umh_handle(d->u, &h, NULL, false, &rep);
			r = r ? r : send_all(c->fd, rep.buf, rep.len);
			ipt2bpf_umh_reply_release(&rep);
			if (r)
				return;
			continue;
		}
		if (!fatal) {
			/* A request refused for its header has its bytes read and dropped. */
			r = err ? drain(c->fd, h.in_len) : read_in(c->fd, h.in_len, &in);
			if (r) {
				logmsg(d, LOG_DEBUG, "client %d: request cut short: %s",
				       (int)c->pid, strerror(-r));
				return;
			}
		}
		if (err) {
			char msg[160];

			snprintf(msg, sizeof(msg), "bad request (%s)",
				 err == -EPROTO	  ? "not the ipt2bpf-umh protocol or version"
				 : err == -ENOMEM ? "more bytes than any table can have"
				 : err == -EINVAL ? "inconsistent lengths or reserved bits"
						  : "unknown operation");
			logmsg(d, LOG_NOTICE, "client %d: %s", (int)c->pid, msg);
			ipt2bpf_umh_reply_finish(&rep, err, msg);
		} else {
			pthread_mutex_lock(&d->lock);
			refresh(d);
			ipt2bpf_umh_handle(d->u, &h, in, c->privileged, &rep);
			pthread_mutex_unlock(&d->lock);
		}
		r = rep.buf ? send_all(c->fd, rep.buf, rep.len) : -ENOMEM;
		ipt2bpf_umh_reply_release(&rep);
		if (r || fatal)
			return;
	}
}

static void *client_thread(void *arg)
{
	struct client *c = arg;
	struct umhd *d = c->d;

	client_serve(c);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&d->clients_lock);
	d->clients--;
	pthread_cond_signal(&d->clients_cond);
	pthread_mutex_unlock(&d->clients_lock);
	return NULL;
}

static void client_start(struct umhd *d, int fd)
{
	struct ucred cred = {0};
	socklen_t clen = sizeof(cred);
	struct client *c = calloc(1, sizeof(*c));
	struct timeval tv = {.tv_sec = STALL_MS / 1000};
	pthread_attr_t attr;
	pthread_t th;

	if (!c) {
		close(fd);
		return;
	}
	c->d = d;
	c->fd = fd;
	if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen)) {
		c->pid = cred.pid;
		c->privileged = pid_privileged(d, cred.pid);
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!c->privileged)
		logmsg(d, LOG_DEBUG, "client pid %d uid %u: no CAP_NET_ADMIN, answering EPERM",
		       (int)cred.pid, (unsigned int)cred.uid);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_mutex_lock(&d->clients_lock);
	d->clients++;
	pthread_mutex_unlock(&d->clients_lock);
	if (pthread_create(&th, &attr, client_thread, c)) {
		logmsg(d, LOG_ERR, "cannot start a client thread: %s", strerror(errno));
		close(fd);
		free(c);
		pthread_mutex_lock(&d->clients_lock);
		d->clients--;
		pthread_mutex_unlock(&d->clients_lock);
	}
	pthread_attr_destroy(&attr);
}

/* "@name": abstract; "/path": a socket file. */
static int sock_addr(const char *spec, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(spec);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n < 2 || n >= sizeof(sa->sun_path) || (spec[0] != '@' && spec[0] != '/'))
		return -EINVAL;
	memcpy(sa->sun_path, spec, n);
	if (spec[0] == '@')
		sa->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	return 0;
}

static int sock_listen(struct umhd *d, const char *spec)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd, err;

	if (sock_addr(spec, &sa, &len)) {
		logmsg(d, LOG_ERR, "socket '%s': use @NAME (abstract) or /PATH", spec);
		return -EINVAL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (spec[0] == '/') {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		/* A file left by a killed daemon is removed; a live one is not. */
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, len) &&
		    errno == ECONNREFUSED)
			unlink(spec);
		if (probe >= 0)
			close(probe);
	}
	if (bind(fd, (struct sockaddr *)&sa, len)) {
		err = -errno;
		close(fd);
		if (err == -EADDRINUSE)
			logmsg(d, LOG_ERR,
			       "another ipt2bpf-umh already serves this network namespace (%s)",
			       spec);
		else
			logmsg(d, LOG_ERR, "cannot bind %s: %s", spec, strerror(-err));
		return err;
	}
	if (spec[0] == '/')
		chmod(spec, 0600);
	if (listen(fd, MAX_CLIENTS)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* ------------------------------------------------------------ follow */

static void *follow_thread(void *arg)
{
	struct umhd *d = arg;

	while (!d->stop) {
		_free_ipt2bpf_rt_ struct ipt2bpf_runtime *rt = NULL;
		struct ipt2bpf_diag diag = {0};

		if (!ipt2bpf_rt_open(d->o->bpffs, &rt, &diag) &&
		    !ipt2bpf_rt_follow(rt, &d->stop, d->o->verbose, NULL, &diag))
			break;
		if (d->stop)
			break;
		logmsg(d, LOG_WARNING, "following interfaces: %s (retrying)", diag.msg);
		for (int i = 0; i < 10 && !d->stop; i++)
			usleep(100000);
	}
	return NULL;
}

/* ------------------------------------------------------------ bpfilter usermode driver */

static int mbox_caller(void *ctx, uint32_t pid)
{
	struct umhd *d = ctx;
	char path[64];

	/* One driver serves every namespace's sockets; ours is the one we run in. */
	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	if (ns_inode(path) != d->own_netns)
		return -ENOPROTOOPT;
	/* The bpfilter hook skips ip_tables' capability check: do it here. */
	return pid_privileged(d, (pid_t)pid) ? 0 : -EPERM;
}

static void mbox_before(void *ctx)
{
	refresh(ctx);
}

static void mbox_log(void *ctx, const char *msg)
{
	logmsg(ctx, LOG_NOTICE, "%s", msg);
}

/* ------------------------------------------------------------ run */

static void notify_systemd(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || sock_addr(path, &sa, &len))
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		fprintf(stderr, "ipt2bpf-umh: sd_notify: %s\n", strerror(errno));
	close(fd);
}

static int write_pidfile(struct umhd *d, const char *path)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (fd < 0 || write(fd, buf, (size_t)n) != n) {
		logmsg(d, LOG_ERR, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Detaches; the parent waits until the child serves (or fails) and exits with its verdict. */
static int detach(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char rc = 1;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &rc, 1) != 1)
			rc = 1;
		_exit(rc);
	}
	close(p[0]);
	setsid();
	if (chdir("/"))
		return -errno;
	*ready_fd = p[1];
	return 0;
}

static void ready(int *ready_fd, char rc)
{
	if (*ready_fd < 0)
		return;
	if (rc == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			close(null);
		}
	}
	if (write(*ready_fd, &rc, 1) != 1)
		rc = 1;
	close(*ready_fd);
	*ready_fd = -1;
}

static int serve_socket(struct umhd *d, int lfd, int sfd)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		int r;

		pthread_mutex_lock(&d->clients_lock);
		while (d->clients >= MAX_CLIENTS)
			pthread_cond_wait(&d->clients_cond, &d->clients_lock);
		pthread_mutex_unlock(&d->clients_lock);

		r = poll(p, 2, -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (p[1].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				logmsg(d, LOG_INFO, "signal %u: stopping (the rules stay in force)",
				       si.ssi_signo);
			return 0;
		}
		if (p[0].revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (cfd >= 0)
				client_start(d, cfd);
			else if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
				logmsg(d, LOG_WARNING, "accept: %s", strerror(errno));
		}
	}
}

int ipt2bpf_umhd_run(const struct ipt2bpf_umhd_opts *o)
{
	struct ipt2bpf_umh_opts uo = {.backend = &rt_backend, .kernel_tables = o->kernel_tables};
	static struct umhd daemon;
	struct umhd *d = &daemon;
	struct ipt2bpf_diag diag = {0};
	const char *spec = o->socket;
	pthread_t follower;
	bool following = false;
	int lfd = -1, sfd = -1, ready_fd = -1, rc = 1, err;
	sigset_t sigs;

	memset(d, 0, sizeof(*d));
	d->o = o;
	d->kmsg_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->clients_lock, NULL);
	pthread_cond_init(&d->clients_cond, NULL);
	log_to_daemon = d;
	libbpf_set_print(libbpf_log);
	d->own_netns = ns_inode("/proc/self/ns/net");
	d->own_userns = ns_inode("/proc/self/ns/user");
	if (o->bpfilter) {
		/* The kernel's driver has no stderr worth the name: its log is the kernel's. */
		d->kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
		d->log_to = d->kmsg_fd >= 0 ? LOG_TO_KMSG : LOG_TO_STDERR;
	}
	if (!d->own_userns)
		logmsg(d, LOG_WARNING,
		       "/proc is not mounted: callers' CAP_NET_ADMIN is not checked");
	if (!spec)
		spec = getenv(IPT2BPF_UMH_SOCKET_ENV);
	if (!spec || !*spec)
		spec = IPT2BPF_UMH_SOCKET_DEFAULT;

	/* Signals are read from a signalfd by the main thread; every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	signal(SIGPIPE, SIG_IGN);

	uo.backend_ctx = d;
	if (ipt2bpf_umh_new(&uo, &d->u))
		goto out;
	if (!o->bpfilter) {
		lfd = sock_listen(d, spec);
		if (lfd < 0)
			goto out;
	}
	if (!o->foreground && !o->bpfilter) {
		err = detach(&ready_fd);
		if (err) {
			logmsg(d, LOG_ERR, "cannot detach: %s", strerror(-err));
			goto out;
		}
		openlog("ipt2bpf-umh", LOG_PID, LOG_DAEMON);
		d->log_to = LOG_TO_SYSLOG;
		d->echo_errors = true;
	}
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (o->pidfile && write_pidfile(d, o->pidfile))
		goto out;
	err = ipt2bpf_rt_open(o->bpffs, &d->rt, &diag);
	if (err) {
		logmsg(d, LOG_ERR, "%s", diag.msg);
		goto out;
	}
	pthread_mutex_lock(&d->lock);
	err = adopt(d, true);
	pthread_mutex_unlock(&d->lock);
	if (err && err != -ENOENT)
		logmsg(d, LOG_WARNING, "starting with empty tables");
	if (o->follow) {
		following = !pthread_create(&follower, NULL, follow_thread, d);
		if (!following)
			logmsg(d, LOG_WARNING, "interfaces that appear later stay unfiltered: %s",
			       strerror(errno));
	}

	if (o->bpfilter) {
		struct ipt2bpf_umh_mbox_opts mo = {
			.caller = mbox_caller, .before = mbox_before, .log = mbox_log, .ctx = d};

		logmsg(d, LOG_NOTICE, "serving the kernel's bpfilter hook (network namespace %llu)",
		       (unsigned long long)d->own_netns);
		err = ipt2bpf_umh_mbox_loop(d->u, STDIN_FILENO, STDOUT_FILENO, &mo);
		rc = err ? 1 : 0;
	} else {
		logmsg(d, LOG_INFO, "listening on %s (network namespace %llu)", spec,
		       (unsigned long long)d->own_netns);
		if (ready_fd >= 0) {
			ready(&ready_fd, 0);
			d->echo_errors = false; /* stderr is /dev/null from here on */
		}
		notify_systemd("READY=1");
		rc = serve_socket(d, lfd, sfd) ? 1 : 0;
		notify_systemd("STOPPING=1");
	}
	d->stop = 1;
	if (following)
		pthread_join(follower, NULL);
	/* A commit in progress finishes first: exiting mid-way is safe, but needless. */
	pthread_mutex_lock(&d->lock);
out:
	ready(&ready_fd, 1);
	if (lfd >= 0) {
		close(lfd);
		if (spec[0] == '/')
			unlink(spec);
	}
	if (sfd >= 0)
		close(sfd);
	if (o->pidfile && rc == 0)
		unlink(o->pidfile);
	/* Client threads may still run: the process exit ends them; the rules stay. */
	return rc;
}
