/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the LD_PRELOAD shim: what shim.c (the libc interposers) and a
 * backend (capture.c: an in-process ip_tables; forward: the umh) share.
 *
 * Environment:
 *   IPT2BPF_SHIM_MODE    unset or empty: pass everything through untouched;
 *                        "capture": answer IPT_SO_* from emulated tables;
 *                        "forward": send IPT_SO_* to ipt2bpf-umh (forward.c);
 *                        anything else: refuse the iptables socket (fail closed)
 *   IPT2BPF_CAPTURE_DIR  capture mode: an existing directory that receives
 *                        <table>.blob (each committed IPT_SO_SET_REPLACE
 *                        buffer: struct ipt_replace + entries, as sent),
 *                        `tables` (committed names, one per line, in order of
 *                        first commit) and xtables.lock
 *   IPT2BPF_UMH_SOCKET   forward mode: the daemon's socket, "@name" (abstract)
 *                        or "/path" (default "@ipt2bpf-umh": per network namespace)
 *
 * A new backend (forward: to the umh) is one more ipt2bpf_shim_backend and
 * one more name in choose_mode() (shim.c).
 */
#ifndef IPT2BPF_SHIM_H
#define IPT2BPF_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Only the interposed libc functions leave the library. */
#pragma GCC visibility push(hidden)

#define IPT2BPF_SHIM_ENV_MODE	     "IPT2BPF_SHIM_MODE"
#define IPT2BPF_SHIM_ENV_CAPTURE_DIR "IPT2BPF_CAPTURE_DIR"

/*
 * One implementation of the kernel side of IPT_SO_*.  Each op gets the
 * caller's buffer and length as the kernel's do_ipt_{get,set}_ctl() do and
 * moves data with ipt2bpf_shim_copy_{in,out}() (never by dereferencing user
 * pointers), so garbage from the caller gives EFAULT, not a crash.  Ops
 * return 0 or a negative errno, as the kernel.
 */
struct ipt2bpf_shim_backend {
	const char *name;
	/* Called once when the mode is chosen; non-zero: the mode is refused. */
	int (*init)(void);
	/* Before each placeholder socket (NULL: none): non-zero fails socket() with it. */
	int (*socket_check)(void);
	int (*get_info)(void *user, int len);
	int (*get_entries)(void *user, int len);
	int (*get_revision)(void *user, int len, bool target);
	int (*set_replace)(const void *user, unsigned int len);
	int (*set_add_counters)(const void *user, unsigned int len);
	/* Contents of /proc/net/ip_tables_names ("name\n" each) into buf, or
	 * -errno.  Returns the length; may exceed len (then call again). */
	int (*table_names)(char *buf, size_t len);
	/* Where the xtables lock goes instead of /run/xtables.lock (NULL: leave it). */
	const char *(*lock_path)(void);
};

extern const struct ipt2bpf_shim_backend ipt2bpf_shim_capture;
extern const struct ipt2bpf_shim_backend ipt2bpf_shim_forward;

/* copy_from_user()/copy_to_user() for our own process: 0 or -EFAULT. */
int ipt2bpf_shim_copy_in(void *dst, const void *user, size_t len);
int ipt2bpf_shim_copy_out(void *user, const void *src, size_t len);

/* libc's own functions, for the backends' file I/O (bypassing our interposers). */
int ipt2bpf_shim_real_open(const char *path, int flags, unsigned int mode);
int ipt2bpf_shim_real_close(int fd);
int ipt2bpf_shim_real_socket(int domain, int type, int protocol);
int ipt2bpf_shim_real_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen);
int ipt2bpf_shim_real_setsockopt(int fd, int level, int optname, const void *optval,
				 socklen_t optlen);

/* One line on stderr, prefixed "ipt2bpf-shim: ". */
__attribute__((format(printf, 1, 2))) void ipt2bpf_shim_log(const char *fmt, ...);

#pragma GCC visibility pop

#endif
