// SPDX-License-Identifier: GPL-2.0
/*
 * xtables-shim: LD_PRELOAD library for iptables-legacy* (xtables-legacy-multi).
 *
 * iptables talks to ip_tables through getsockopt/setsockopt on a raw IPv4
 * socket.  With IPT2BPF_SHIM_MODE set, socket(AF_INET, SOCK_RAW, IPPROTO_RAW)
 * returns a placeholder fd (a memfd, so fcntl() and close() just work and no
 * privilege is needed) and IPT_SO_* on it go to a backend instead of the
 * kernel.  The rest of what iptables would do to the kernel is kept away too:
 *   - the /proc/net/ip_tables_names probe (lstat64 + statfs64 in
 *     xtables_load_ko(), fopen64 in iptables-save) sees the backend's tables,
 *     so iptables never decides to load ip_tables;
 *   - /proc/sys/kernel/modprobe reads as missing and posix_spawn() is refused,
 *     so no module gets loaded whatever iptables decides;
 *   - the xtables lock (/run/xtables.lock or $XTABLES_LOCKFILE) moves to the
 *     backend's lock_path.
 * Raw IPv6 sockets are refused so ip6tables cannot reach the kernel either.
 * Without IPT2BPF_SHIM_MODE every call goes straight to libc.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/magic.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

/* Paths iptables 1.8 uses: XT_LOCK_NAME (configurable at build time, /run on
 * Debian, /var/run on older builds), the ip_tables probe, the modprobe helper. */
static const char *const LOCK_PATHS[] = {"/run/xtables.lock", "/var/run/xtables.lock"};
#define TABLES_NAMES_PATH "/proc/net/ip_tables_names"
#define MODPROBE_PATH	  "/proc/sys/kernel/modprobe"

enum shim_mode {
	MODE_PASS,    /* no IPT2BPF_SHIM_MODE: libc only */
	MODE_BACKEND, /* IPT_SO_* go to `backend` */
	MODE_BROKEN,  /* misconfigured: refuse iptables' socket rather than reach the kernel */
};

static pthread_once_t mode_once = PTHREAD_ONCE_INIT;
static enum shim_mode mode;
static const struct ipt2bpf_shim_backend *backend;

/* ---------------------------------------------------------------- libc */

static struct {
	int (*socket)(int, int, int);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*open)(const char *, int, ...);
	int (*open64)(const char *, int, ...);
	int (*openat)(int, const char *, int, ...);
	int (*openat64)(int, const char *, int, ...);
	FILE *(*fopen)(const char *, const char *);
	FILE *(*fopen64)(const char *, const char *);
	int (*stat)(const char *, struct stat *);
	int (*lstat)(const char *, struct stat *);
	int (*stat64)(const char *, struct stat64 *);
	int (*lstat64)(const char *, struct stat64 *);
	int (*statfs)(const char *, struct statfs *);
	int (*statfs64)(const char *, struct statfs64 *);
	int (*access)(const char *, int);
	int (*posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			   const posix_spawnattr_t *, char *const[], char *const[]);
	int (*posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			    const posix_spawnattr_t *, char *const[], char *const[]);
} real;

/*
 * Tells ipt2bpf_capture() that iptables really runs with the shim, even when
 * it fails before its first socket (a syntax error on line 1).  Raw syscalls:
 * the interposed open() must not run this early.
 */
__attribute__((constructor)) static void shim_announce(void)
{
	const char *mode = getenv("IPT2BPF_SHIM_MODE");
	const char *dir = getenv("IPT2BPF_CAPTURE_DIR");
	char path[4096];
	long fd;

	if (!mode || strcmp(mode, "capture") || !dir ||
	    snprintf(path, sizeof(path), "%s/shim-loaded", dir) >= (int)sizeof(path))
		return;
	fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		syscall(SYS_close, fd);
}

/* Resolved on first use (no constructor: other libraries' constructors may call us first). */
#define REAL(fn)                                                                                   \
	({                                                                                         \
		if (!real.fn)                                                                      \
			*(void **)&real.fn = dlsym(RTLD_NEXT, #fn);                                \
		real.fn;                                                                           \
	})

/* For a libc function we cannot find: fail the call instead of crashing. */
#define CALL_REAL(fn, fail, ...)                                                                   \
	({                                                                                         \
		__typeof__(real.fn) _f = REAL(fn);                                                 \
		_f ? _f(__VA_ARGS__) : (errno = ENOSYS, (fail));                                   \
	})

int ipt2bpf_shim_real_open(const char *path, int flags, unsigned int m)
{
	return CALL_REAL(open, -1, path, flags, m);
}

int ipt2bpf_shim_real_close(int fd)
{
	return CALL_REAL(close, -1, fd);
}

int ipt2bpf_shim_real_socket(int domain, int type, int protocol)
{
	return CALL_REAL(socket, -1, domain, type, protocol);
}

int ipt2bpf_shim_real_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	return CALL_REAL(getsockopt, -1, fd, level, optname, optval, optlen);
}

int ipt2bpf_shim_real_setsockopt(int fd, int level, int optname, const void *optval,
				 socklen_t optlen)
{
	return CALL_REAL(setsockopt, -1, fd, level, optname, optval, optlen);
}

void ipt2bpf_shim_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "ipt2bpf-shim: ");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	/* One write(2): no stdio state of the host program touched. */
	if (write(STDERR_FILENO, buf, strlen(buf)) < 0)
		return;
}

/* ---------------------------------------------------------------- user memory */

/*
 * The caller's pointers are only ever touched through process_vm_{read,write}v
 * on ourselves, which fail with EFAULT where the kernel's copy_{from,to}_user
 * would, instead of crashing iptables.  Where those syscalls are unavailable
 * (seccomp), plain memcpy.
 */
static int copy_self(void *local, void *remote, size_t len, bool out)
{
	size_t done = 0;

	if (!len)
		return 0;
	if (!remote)
		return -EFAULT;
	while (done < len) {
		struct iovec l = {(char *)local + done, len - done};
		struct iovec r = {(char *)remote + done, len - done};
		ssize_t n = out ? process_vm_writev(getpid(), &l, 1, &r, 1, 0)
				: process_vm_readv(getpid(), &l, 1, &r, 1, 0);

		if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
			if (out)
				memcpy(r.iov_base, l.iov_base, l.iov_len);
			else
				memcpy(l.iov_base, r.iov_base, l.iov_len);
			return 0;
		}
		if (n <= 0)
			return -EFAULT;
		done += n;
	}
	return 0;
}

int ipt2bpf_shim_copy_in(void *dst, const void *user, size_t len)
{
	return copy_self(dst, (void *)user, len, false);
}

int ipt2bpf_shim_copy_out(void *user, const void *src, size_t len)
{
	return copy_self((void *)src, user, len, true);
}

/* ---------------------------------------------------------------- mode */

static void choose_mode(void)
{
	const char *m = getenv(IPT2BPF_SHIM_ENV_MODE);
	int err;

	if (!m || !*m) {
		mode = MODE_PASS;
		return;
	}
	mode = MODE_BROKEN;
	if (!strcmp(m, "capture")) {
		backend = &ipt2bpf_shim_capture;
	} else if (!strcmp(m, "forward")) {
		backend = &ipt2bpf_shim_forward;
	} else {
		ipt2bpf_shim_log("%s=%s: unknown mode (known: capture, forward); refusing to open "
				 "the iptables socket",
				 IPT2BPF_SHIM_ENV_MODE, m);
		return;
	}
	err = backend->init();
	if (err) {
		ipt2bpf_shim_log("%s mode unusable (%s); refusing to open the iptables socket",
				 backend->name, strerror(-err));
		return;
	}
	mode = MODE_BACKEND;
}

static enum shim_mode shim_mode(void)
{
	pthread_once(&mode_once, choose_mode);
	return mode;
}

/* ---------------------------------------------------------------- placeholder fds */

static pthread_mutex_t fds_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *fds; /* bitmap of placeholder fds */
static size_t fds_words;

static bool fd_is_fake(int fd)
{
	bool ret;

	if (fd < 0 || mode != MODE_BACKEND)
		return false;
	pthread_mutex_lock(&fds_lock);
	ret = (size_t)fd / 64 < fds_words && (fds[fd / 64] >> (fd % 64) & 1);
	pthread_mutex_unlock(&fds_lock);
	return ret;
}

static int fd_track(int fd, bool on)
{
	int ret = 0;

	pthread_mutex_lock(&fds_lock);
	if ((size_t)fd / 64 >= fds_words) {
		size_t n = (size_t)fd / 64 + 1;
		uint64_t *p = on ? realloc(fds, n * sizeof(*p)) : NULL;

		if (!on)
			goto out;
		if (!p) {
			ret = -ENOMEM;
			goto out;
		}
		memset(p + fds_words, 0, (n - fds_words) * sizeof(*p));
		fds = p;
		fds_words = n;
	}
	if (on)
		fds[fd / 64] |= 1ULL << (fd % 64);
	else
		fds[fd / 64] &= ~(1ULL << (fd % 64));
out:
	pthread_mutex_unlock(&fds_lock);
	return ret;
}

static int fake_socket(int type)
{
	int fd = memfd_create("ipt2bpf-shim-socket", type & SOCK_CLOEXEC ? MFD_CLOEXEC : 0);
	int err;

	if (fd < 0)
		fd = ipt2bpf_shim_real_open("/dev/null",
					    O_RDWR | (type & SOCK_CLOEXEC ? O_CLOEXEC : 0), 0);
	if (fd < 0)
		return -1;
	err = fd_track(fd, true);
	if (err) {
		ipt2bpf_shim_real_close(fd);
		errno = -err;
		return -1;
	}
	return fd;
}

EXPORT int socket(int domain, int type, int protocol)
{
	int base = type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (shim_mode() == MODE_PASS || base != SOCK_RAW || protocol != IPPROTO_RAW ||
	    (domain != AF_INET && domain != AF_INET6))
		return CALL_REAL(socket, -1, domain, type, protocol);
	if (mode == MODE_BROKEN) {
		errno = EACCES;
		return -1;
	}
	if (domain == AF_INET6) {
		/* ip6tables state is not emulated: keep it off the kernel as well. */
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (backend->socket_check) {
		int err = backend->socket_check();

		if (err) {
			errno = -err;
			return -1;
		}
	}
	return fake_socket(type);
}

EXPORT int close(int fd)
{
	if (fd_is_fake(fd))
		fd_track(fd, false);
	return CALL_REAL(close, -1, fd);
}

EXPORT int dup(int fd)
{
	int nfd = CALL_REAL(dup, -1, fd);

	if (nfd >= 0 && fd_is_fake(fd) && fd_track(nfd, true)) {
		ipt2bpf_shim_real_close(nfd);
		errno = ENOMEM;
		return -1;
	}
	return nfd;
}

static int after_dup(int oldfd, int newfd, int ret)
{
	if (ret < 0 || oldfd == newfd || mode != MODE_BACKEND)
		return ret;
	/* newfd was closed by the dup: it is whatever oldfd is now. */
	fd_track(newfd, false);
	if (fd_is_fake(oldfd) && fd_track(newfd, true)) {
		ipt2bpf_shim_real_close(newfd);
		errno = ENOMEM;
		return -1;
	}
	return ret;
}

EXPORT int dup2(int oldfd, int newfd)
{
	return after_dup(oldfd, newfd, CALL_REAL(dup2, -1, oldfd, newfd));
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	return after_dup(oldfd, newfd, CALL_REAL(dup3, -1, oldfd, newfd, flags));
}

/* ---------------------------------------------------------------- sockopts */

/* As ip_getsockopt() + nf_getsockopt() + do_ipt_get_ctl() route them. */
static int fake_getsockopt(int level, int optname, void *optval, socklen_t *optlen)
{
	int len, ret;

	if (level == SOL_SOCKET)
		return -ENOPROTOOPT;
	if (level != SOL_IP)
		return -EOPNOTSUPP;
	if (ipt2bpf_shim_copy_in(&len, optlen, sizeof(len)))
		return -EFAULT;
	if (len < 0)
		return -EINVAL;
	if (optname < IPT_BASE_CTL || optname > IPT_SO_GET_MAX)
		return -ENOPROTOOPT;

	switch (optname) {
	case IPT_SO_GET_INFO:
		ret = backend->get_info(optval, len);
		break;
	case IPT_SO_GET_ENTRIES:
		ret = backend->get_entries(optval, len);
		break;
	case IPT_SO_GET_REVISION_MATCH:
	case IPT_SO_GET_REVISION_TARGET:
		ret = backend->get_revision(optval, len, optname == IPT_SO_GET_REVISION_TARGET);
		break;
	default:
		ret = -EINVAL;
	}
	/* ip_getsockopt() writes len back and returns 0: the best revision the
	 * kernel found never reaches userspace. */
	if (ret >= 0)
		ret = ipt2bpf_shim_copy_out(optlen, &len, sizeof(len));
	return ret;
}

static int fake_setsockopt(int level, int optname, const void *optval, socklen_t optlen)
{
	/* __sys_setsockopt() takes an int */
	if (optlen > INT32_MAX)
		return -EINVAL;
	if (level != SOL_IP)
		return -ENOPROTOOPT;
	if (optname < IPT_BASE_CTL || optname > IPT_SO_SET_MAX)
		return -ENOPROTOOPT;
	switch (optname) {
	case IPT_SO_SET_REPLACE:
		return backend->set_replace(optval, optlen);
	case IPT_SO_SET_ADD_COUNTERS:
		return backend->set_add_counters(optval, optlen);
	default:
		return -EINVAL;
	}
}

/*
 * IP-level options outside ip_tables' range on an emulated socket: ipset's
 * SO_IP_SET (libxt_set asks it on iptables' raw socket) and the like belong
 * to other kernel subsystems, which we do not emulate: a real raw socket
 * answers them, so iptables sees what it would see on the kernel.
 */
static int passthrough_fd = -1;

static bool passthrough(int level, int optname, int max)
{
	if (level != SOL_IP || (optname >= IPT_BASE_CTL && optname <= max))
		return false;
	pthread_mutex_lock(&fds_lock);
	if (passthrough_fd < 0)
		passthrough_fd =
			CALL_REAL(socket, -1, AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	pthread_mutex_unlock(&fds_lock);
	return passthrough_fd >= 0;
}

EXPORT int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	int ret;

	if (!fd_is_fake(fd))
		return CALL_REAL(getsockopt, -1, fd, level, optname, optval, optlen);
	if (passthrough(level, optname, IPT_SO_GET_MAX))
		return CALL_REAL(getsockopt, -1, passthrough_fd, level, optname, optval, optlen);
	ret = fake_getsockopt(level, optname, optval, optlen);
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return 0;
}

EXPORT int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	int ret;

	if (!fd_is_fake(fd))
		return CALL_REAL(setsockopt, -1, fd, level, optname, optval, optlen);
	if (passthrough(level, optname, IPT_SO_SET_MAX))
		return CALL_REAL(setsockopt, -1, passthrough_fd, level, optname, optval, optlen);
	ret = fake_setsockopt(level, optname, optval, optlen);
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- files */

enum special_path { PATH_OTHER, PATH_TABLES_NAMES, PATH_LOCK, PATH_MODPROBE };

/*
 * The lock guards kernel state, which a backend owns now: wherever iptables
 * would take it, the default path or $XTABLES_LOCKFILE, it moves.  (The
 * capture front end points XTABLES_LOCKFILE into a missing directory, so an
 * iptables that did not load the shim fails on the lock before it reaches
 * the kernel.)
 */
static bool is_lock_path(const char *path)
{
	const char *env = getenv("XTABLES_LOCKFILE");

	if (env && *env && !strcmp(path, env))
		return true;
	for (size_t i = 0; i < sizeof(LOCK_PATHS) / sizeof(LOCK_PATHS[0]); i++)
		if (!strcmp(path, LOCK_PATHS[i]))
			return true;
	return false;
}

static enum special_path classify(int dirfd, const char *path)
{
	if (shim_mode() != MODE_BACKEND || !path || (path[0] != '/' && dirfd != AT_FDCWD))
		return PATH_OTHER;
	if (!strcmp(path, TABLES_NAMES_PATH))
		return PATH_TABLES_NAMES;
	if (!strcmp(path, MODPROBE_PATH))
		return PATH_MODPROBE;
	if (is_lock_path(path))
		return backend->lock_path && backend->lock_path() ? PATH_LOCK : PATH_OTHER;
	return PATH_OTHER;
}

/* A read-only memfd holding what /proc/net/ip_tables_names would. */
static int tables_names_fd(int flags)
{
	char small[256], *buf = small;
	int len, fd, err = 0;

	if ((flags & O_ACCMODE) != O_RDONLY) {
		errno = EACCES; /* the proc file is 0440 */
		return -1;
	}
	len = backend->table_names(buf, sizeof(small));
	if (len >= (int)sizeof(small)) {
		buf = malloc(len + 1);
		if (!buf) {
			errno = ENOMEM;
			return -1;
		}
		len = backend->table_names(buf, len + 1);
	}
	if (len < 0) {
		err = -len;
		goto out;
	}
	fd = memfd_create("ip_tables_names", flags & O_CLOEXEC ? MFD_CLOEXEC : 0);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	if (write(fd, buf, len) != len || lseek(fd, 0, SEEK_SET) != 0) {
		err = errno ? errno : EIO;
		ipt2bpf_shim_real_close(fd);
		goto out;
	}
out:
	if (buf != small)
		free(buf);
	if (err) {
		errno = err;
		return -1;
	}
	return fd;
}

/* The common part of the open() family: -2 means "not ours, call libc". */
static int special_open(int dirfd, const char *path, int flags, unsigned int m)
{
	switch (classify(dirfd, path)) {
	case PATH_TABLES_NAMES:
		return tables_names_fd(flags);
	case PATH_MODPROBE:
		/* No modprobe helper: xtables_insmod() gives up without spawning. */
		errno = ENOENT;
		return -1;
	case PATH_LOCK:
		return ipt2bpf_shim_real_open(backend->lock_path(), flags, m);
	case PATH_OTHER:
		break;
	}
	return -2;
}

static unsigned int open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, unsigned int) : 0;
}

#define OPEN_BODY(fn, dirfd, ...)                                                                  \
	({                                                                                         \
		va_list ap;                                                                        \
		unsigned int m;                                                                    \
		int r;                                                                             \
		va_start(ap, flags);                                                               \
		m = open_mode(flags, ap);                                                          \
		va_end(ap);                                                                        \
		r = special_open(dirfd, path, flags, m);                                           \
		r != -2 ? r : CALL_REAL(fn, -1, __VA_ARGS__, flags, m);                            \
	})

EXPORT int open(const char *path, int flags, ...)
{
	return OPEN_BODY(open, AT_FDCWD, path);
}

EXPORT int open64(const char *path, int flags, ...)
{
	return OPEN_BODY(open64, AT_FDCWD, path);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	return OPEN_BODY(openat, dirfd, dirfd, path);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	return OPEN_BODY(openat64, dirfd, dirfd, path);
}

static FILE *special_fopen(const char *path, const char *fmode, bool *handled)
{
	enum special_path sp = classify(AT_FDCWD, path);
	int fd;
	FILE *f;

	*handled = sp != PATH_OTHER;
	if (sp == PATH_LOCK)
		return CALL_REAL(fopen, NULL, backend->lock_path(), fmode);
	if (sp == PATH_MODPROBE) {
		errno = ENOENT;
		return NULL;
	}
	if (sp != PATH_TABLES_NAMES)
		return NULL;
	if (fmode[0] != 'r' || strchr(fmode, '+')) {
		errno = EACCES;
		return NULL;
	}
	fd = tables_names_fd(strchr(fmode, 'e') ? O_CLOEXEC : 0);
	if (fd < 0)
		return NULL;
	f = fdopen(fd, "r");
	if (!f)
		ipt2bpf_shim_real_close(fd);
	return f;
}

EXPORT FILE *fopen(const char *path, const char *fmode)
{
	bool handled;
	FILE *f = special_fopen(path, fmode, &handled);

	return handled ? f : CALL_REAL(fopen, NULL, path, fmode);
}

EXPORT FILE *fopen64(const char *path, const char *fmode)
{
	bool handled;
	FILE *f = special_fopen(path, fmode, &handled);

	return handled ? f : CALL_REAL(fopen64, NULL, path, fmode);
}

/*
 * xtables_load_ko() checks that /proc/net/ip_tables_names is a regular file
 * on procfs before deciding ip_tables is loaded: make it so.
 */
#define STAT_BODY(fn)                                                                              \
	({                                                                                         \
		int r = 0;                                                                         \
		if (classify(AT_FDCWD, path) == PATH_TABLES_NAMES) {                               \
			memset(st, 0, sizeof(*st));                                                \
			st->st_mode = S_IFREG | 0440;                                              \
			st->st_nlink = 1;                                                          \
			st->st_blksize = 1024;                                                     \
		} else {                                                                           \
			r = CALL_REAL(fn, -1, path, st);                                           \
		}                                                                                  \
		r;                                                                                 \
	})

EXPORT int stat(const char *path, struct stat *st)
{
	return STAT_BODY(stat);
}

EXPORT int lstat(const char *path, struct stat *st)
{
	return STAT_BODY(lstat);
}

EXPORT int stat64(const char *path, struct stat64 *st)
{
	return STAT_BODY(stat64);
}

EXPORT int lstat64(const char *path, struct stat64 *st)
{
	return STAT_BODY(lstat64);
}

#define STATFS_BODY(fn)                                                                            \
	({                                                                                         \
		int r;                                                                             \
		if (classify(AT_FDCWD, path) == PATH_TABLES_NAMES) {                               \
			memset(st, 0, sizeof(*st));                                                \
			st->f_type = PROC_SUPER_MAGIC;                                             \
			st->f_bsize = 4096;                                                        \
			st->f_namelen = 255;                                                       \
			r = 0;                                                                     \
		} else {                                                                           \
			r = CALL_REAL(fn, -1, path, st);                                           \
		}                                                                                  \
		r;                                                                                 \
	})

EXPORT int statfs(const char *path, struct statfs *st)
{
	return STATFS_BODY(statfs);
}

EXPORT int statfs64(const char *path, struct statfs64 *st)
{
	return STATFS_BODY(statfs64);
}

EXPORT int access(const char *path, int amode)
{
	if (classify(AT_FDCWD, path) == PATH_TABLES_NAMES) {
		if (amode & (W_OK | X_OK)) {
			errno = EACCES;
			return -1;
		}
		return 0;
	}
	return CALL_REAL(access, -1, path, amode);
}

/* ---------------------------------------------------------------- modprobe */

/*
 * The only program iptables 1.8 spawns is modprobe (xtables_insmod()).  With
 * a backend in charge nothing may load modules into the running kernel.
 */
static bool spawn_refused(const char *path)
{
	if (shim_mode() != MODE_BACKEND)
		return false;
	ipt2bpf_shim_log("not running %s: %s mode must not touch the kernel", path, backend->name);
	return true;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (spawn_refused(path))
		return EPERM;
	return CALL_REAL(posix_spawn, ENOSYS, pid, path, fa, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (spawn_refused(file))
		return EPERM;
	return CALL_REAL(posix_spawnp, ENOSYS, pid, file, fa, attr, argv, envp);
}
