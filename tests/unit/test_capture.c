// SPDX-License-Identifier: GPL-2.0
/*
 * The capture front end: the shim's IPT_SO_* emulation (the shim is dlopen()ed
 * and its socket/getsockopt/setsockopt called directly, as iptables would
 * through LD_PRELOAD), its file interposers, and ipt2bpf_capture() /
 * ipt2bpf_blob_read() end to end with the real iptables-legacy-restore.
 *
 * The shim is $IPT2BPF_SHIM, else ../libipt2bpf-shim.so next to this binary
 * (the build tree layout: $(O)/tests/test_capture, $(O)/libipt2bpf-shim.so).
 * None of this needs privileges or touches the kernel's tables.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <ftw.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/magic.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <cmocka.h>

#include "translator/capture.h"
#include "translator/util.h"

#define HOOK(h) (1U << NF_INET_##h)

struct std_entry {
	struct ipt_entry e;
	struct xt_standard_target t;
};

struct err_entry {
	struct ipt_entry e;
	struct xt_error_target t;
};

static char shim_path[PATH_MAX + 32];
static char capdir[] = "/tmp/ipt2bpf-test-capture.XXXXXX";
static void *shim;
static int (*s_socket)(int, int, int);
static int (*s_close)(int);
static int (*s_getsockopt)(int, int, int, void *, socklen_t *);
static int (*s_setsockopt)(int, int, int, const void *, socklen_t);
static int (*s_open)(const char *, int, ...);
static FILE *(*s_fopen)(const char *, const char *);
static int (*s_lstat64)(const char *, struct stat64 *);
static int (*s_statfs64)(const char *, struct statfs64 *);
static int (*s_posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			    const posix_spawnattr_t *, char *const[], char *const[]);

static void find_shim(void)
{
	const char *env = getenv("IPT2BPF_SHIM");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(shim_path, sizeof(shim_path), "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(shim_path, sizeof(shim_path), "%s/../libipt2bpf-shim.so", exe);
}

#define SYM(var, name) assert_non_null(*(void **)&(var) = dlsym(shim, name))

/* Capture mode in this process, on capdir; loaded on first use. */
static void *load_shim(void)
{
	if (shim)
		return shim;
	find_shim();
	assert_non_null(mkdtemp(capdir));
	setenv("IPT2BPF_SHIM_MODE", "capture", 1);
	setenv("IPT2BPF_CAPTURE_DIR", capdir, 1);
	shim = dlopen(shim_path, RTLD_NOW | RTLD_LOCAL);
	if (!shim)
		fail_msg("dlopen %s: %s", shim_path, dlerror());
	SYM(s_socket, "socket");
	SYM(s_close, "close");
	SYM(s_getsockopt, "getsockopt");
	SYM(s_setsockopt, "setsockopt");
	SYM(s_open, "open");
	SYM(s_fopen, "fopen");
	SYM(s_lstat64, "lstat64");
	SYM(s_statfs64, "statfs64");
	SYM(s_posix_spawn, "posix_spawn");
	return shim;
}

static int raw_socket(void)
{
	int fd;

	load_shim();
	fd = s_socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	assert_true(fd >= 0);
	return fd;
}

/* getsockopt/setsockopt as the kernel reports them: 0 or -errno. */
static int get(int fd, int opt, void *buf, socklen_t len)
{
	return s_getsockopt(fd, SOL_IP, opt, buf, &len) < 0 ? -errno : 0;
}

static int set(int fd, int opt, const void *buf, socklen_t len)
{
	return s_setsockopt(fd, SOL_IP, opt, buf, len) < 0 ? -errno : 0;
}

static int get_info(int fd, const char *table, struct ipt_getinfo *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", table);
	return get(fd, IPT_SO_GET_INFO, info, sizeof(*info));
}

/* The entries of table (size bytes); NULL on error with *err set. */
static struct ipt_get_entries *get_entries(int fd, const char *table, unsigned int size, int *err)
{
	struct ipt_get_entries *g = calloc(1, sizeof(*g) + size);

	assert_non_null(g);
	snprintf(g->name, sizeof(g->name), "%s", table);
	g->size = size;
	*err = get(fd, IPT_SO_GET_ENTRIES, g, sizeof(*g) + size);
	if (*err) {
		free(g);
		return NULL;
	}
	return g;
}

static void std_entry(struct std_entry *s, int verdict)
{
	memset(s, 0, sizeof(*s));
	s->e.target_offset = sizeof(s->e);
	s->e.next_offset = sizeof(*s);
	s->t.target.u.target_size = sizeof(s->t);
	s->t.verdict = verdict;
}

static void err_entry(struct err_entry *x, const char *name)
{
	memset(x, 0, sizeof(*x));
	x->e.target_offset = sizeof(x->e);
	x->e.next_offset = sizeof(*x);
	x->t.target.u.target_size = sizeof(x->t);
	strcpy(x->t.target.u.user.name, XT_ERROR_TARGET);
	snprintf(x->t.errorname, sizeof(x->t.errorname), "%s", name);
}

/* ------------------------------------------------------------ pass-through */

/*
 * Runs first, before this process chooses a mode: a child without
 * IPT2BPF_SHIM_MODE must get libc's own raw socket (or libc's EPERM).
 */
static void test_passthrough_without_mode(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	find_shim();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		void *h;
		int (*sock)(int, int, int);
		struct stat st;
		int fd;

		unsetenv("IPT2BPF_SHIM_MODE");
		h = dlopen(shim_path, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			_exit(10);
		*(void **)&sock = dlsym(h, "socket");
		fd = sock(AF_INET, SOCK_RAW, IPPROTO_RAW);
		if (fd < 0)
			_exit(errno == EPERM ? 0 : 11);
		_exit(fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? 0 : 12);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ------------------------------------------------------------ GET_INFO / GET_ENTRIES */

static void test_initial_tables(void **state)
{
	static const struct {
		const char *name;
		unsigned int hooks;
	} t[] = {
		{"filter", HOOK(LOCAL_IN) | HOOK(FORWARD) | HOOK(LOCAL_OUT)},
		{"security", HOOK(LOCAL_IN) | HOOK(FORWARD) | HOOK(LOCAL_OUT)},
		{"mangle", HOOK(PRE_ROUTING) | HOOK(LOCAL_IN) | HOOK(FORWARD) | HOOK(LOCAL_OUT) |
				   HOOK(POST_ROUTING)},
		{"raw", HOOK(PRE_ROUTING) | HOOK(LOCAL_OUT)},
		{"nat", HOOK(PRE_ROUTING) | HOOK(LOCAL_IN) | HOOK(LOCAL_OUT) | HOOK(POST_ROUTING)},
	};
	int fd = raw_socket();

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		unsigned int nhooks = __builtin_popcount(t[i].hooks), off = 0;
		size_t size = nhooks * sizeof(struct std_entry) + sizeof(struct err_entry);
		_cleanup_free_ unsigned char *want = calloc(1, size);
		_cleanup_free_ struct ipt_get_entries *g = NULL;
		struct ipt_getinfo info;
		int err;

		assert_int_equal(get_info(fd, t[i].name, &info), 0);
		assert_string_equal(info.name, t[i].name);
		assert_int_equal(info.valid_hooks, t[i].hooks);
		assert_int_equal(info.num_entries, nhooks + 1);
		assert_int_equal(info.size, size);

		/* iptable_*.c: ACCEPT per hook, in hook order, then ERROR; comefrom
		 * is the hook each policy is reached from; absent hooks read ~0. */
		for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
			struct std_entry *s = (struct std_entry *)(want + off);

			if (!(t[i].hooks & (1U << h))) {
				assert_int_equal(info.hook_entry[h], 0xFFFFFFFF);
				assert_int_equal(info.underflow[h], 0xFFFFFFFF);
				continue;
			}
			assert_int_equal(info.hook_entry[h], off);
			assert_int_equal(info.underflow[h], off);
			std_entry(s, -NF_ACCEPT - 1);
			s->e.comefrom = 1U << h;
			off += sizeof(*s);
		}
		err_entry((struct err_entry *)(want + off), "ERROR");

		g = get_entries(fd, t[i].name, info.size, &err);
		assert_int_equal(err, 0);
		assert_memory_equal(g->entrytable, want, size);
	}
	assert_int_equal(s_close(fd), 0);
}

static void test_unknown_table(void **state)
{
	struct ipt_getinfo info;
	int fd = raw_socket(), err;

	(void)state;
	assert_int_equal(get_info(fd, "nosuchtable", &info), -ENOENT);
	assert_null(get_entries(fd, "nosuchtable", 632, &err));
	assert_int_equal(err, -ENOENT);
	assert_int_equal(get_info(fd, "", &info), -ENOENT);
	s_close(fd);
}

static void test_get_bad_sizes(void **state)
{
	struct ipt_getinfo info = {.name = "filter"};
	struct xt_get_revision rev = {.name = "tcp"};
	struct ipt_get_entries g = {.name = "filter", .size = 632};
	_cleanup_free_ struct ipt_get_entries *big = NULL;
	socklen_t len;
	int fd = raw_socket(), err;

	(void)state;
	assert_int_equal(get(fd, IPT_SO_GET_INFO, &info, sizeof(info) - 1), -EINVAL);
	assert_int_equal(get(fd, IPT_SO_GET_INFO, &info, sizeof(info) + 1), -EINVAL);
	assert_int_equal(get(fd, IPT_SO_GET_ENTRIES, &g, sizeof(g) - 1), -EINVAL);
	/* len must be header + size, and size the table's */
	assert_int_equal(get(fd, IPT_SO_GET_ENTRIES, &g, sizeof(g)), -EINVAL);
	assert_null(get_entries(fd, "filter", 640, &err));
	assert_int_equal(err, -EAGAIN);
	assert_int_equal(get(fd, IPT_SO_GET_REVISION_MATCH, &rev, sizeof(rev) + 1), -EINVAL);
	assert_int_equal(get(fd, IPT_SO_GET_MAX + 1, &info, sizeof(info)), -ENOPROTOOPT);
	assert_int_equal(get(fd, IPT_BASE_CTL - 1, &info, sizeof(info)), -ENOPROTOOPT);

	/* bad pointers: EFAULT, as copy_{from,to}_user, not a crash */
	assert_int_equal(get(fd, IPT_SO_GET_INFO, NULL, sizeof(info)), -EFAULT);
	assert_int_equal(get(fd, IPT_SO_GET_INFO, (void *)16, sizeof(info)), -EFAULT);
	assert_int_equal(s_getsockopt(fd, SOL_IP, IPT_SO_GET_INFO, &info, NULL), -1);
	assert_int_equal(errno, EFAULT);
	/* a GET_ENTRIES length claiming more than the buffer has */
	big = calloc(1, sizeof(*big));
	snprintf(big->name, sizeof(big->name), "filter");
	big->size = 1U << 30;
	assert_int_equal(get(fd, IPT_SO_GET_ENTRIES, big, sizeof(*big) + big->size), -EAGAIN);

	/* other levels */
	len = sizeof(info);
	assert_int_equal(s_getsockopt(fd, SOL_SOCKET, SO_TYPE, &info, &len), -1);
	assert_int_equal(errno, ENOPROTOOPT);
	assert_int_equal(s_getsockopt(fd, IPPROTO_TCP, IPT_SO_GET_INFO, &info, &len), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	s_close(fd);
}

static int revision(int fd, const char *name, uint8_t rev, bool target)
{
	struct xt_get_revision r = {.revision = rev};
	socklen_t len = sizeof(r);

	snprintf(r.name, sizeof(r.name), "%s", name);
	if (s_getsockopt(fd, SOL_IP, target ? IPT_SO_GET_REVISION_TARGET : IPT_SO_GET_REVISION_MATCH,
			 &r, &len) < 0)
		return -errno;
	assert_int_equal(len, sizeof(r));
	return 0;
}

static void test_revisions(void **state)
{
	int fd = raw_socket();

	(void)state;
	/* xt_find_revision(): 0 (the kernel never returns the revision itself),
	 * EPROTONOSUPPORT for a known name without that revision, else ENOENT */
	assert_int_equal(revision(fd, "tcp", 0, false), 0);
	assert_int_equal(revision(fd, "multiport", 1, false), 0);
	assert_int_equal(revision(fd, "tcp", 7, false), -EPROTONOSUPPORT);
	assert_int_equal(revision(fd, "nosuchmatch", 0, false), -ENOENT);
	assert_int_equal(revision(fd, "tcp", 0, true), -ENOENT);
	/* not translated, still known: iptables must be able to parse it */
	assert_int_equal(revision(fd, "conntrack", 3, false), 0);
	assert_int_equal(revision(fd, "LOG", 0, true), 0);
	s_close(fd);
}

/* ------------------------------------------------------------ SET_REPLACE */

/*
 * filter with: INPUT -p tcp -j DROP, policy ACCEPT; FORWARD policy DROP;
 * OUTPUT -j u, policy ACCEPT; chain u: RETURN (or, with loop, a jump to itself).
 */
#define R_SIZE (6 * sizeof(struct std_entry) + 2 * sizeof(struct err_entry))
#define R_OFF_U_RULE (5 * sizeof(struct std_entry) + sizeof(struct err_entry))

static struct std_entry *next_std(unsigned char *p, size_t *off, int verdict)
{
	struct std_entry *s = (struct std_entry *)(p + *off);

	std_entry(s, verdict);
	*off += sizeof(*s);
	return s;
}

static struct ipt_replace *filter_replace(bool loop, struct xt_counters *old)
{
	struct ipt_replace *r = calloc(1, sizeof(*r) + R_SIZE);
	unsigned char *p = (unsigned char *)r->entries;
	size_t off = 0;

	assert_non_null(r);
	strcpy(r->name, "filter");
	r->valid_hooks = HOOK(LOCAL_IN) | HOOK(FORWARD) | HOOK(LOCAL_OUT);
	r->num_entries = 8;
	r->size = R_SIZE;
	r->num_counters = 4;
	r->counters = old;

	r->hook_entry[NF_INET_LOCAL_IN] = off;
	next_std(p, &off, -NF_DROP - 1)->e.ip.proto = IPPROTO_TCP;
	r->underflow[NF_INET_LOCAL_IN] = off;
	next_std(p, &off, -NF_ACCEPT - 1);
	r->hook_entry[NF_INET_FORWARD] = r->underflow[NF_INET_FORWARD] = off;
	next_std(p, &off, -NF_DROP - 1);
	r->hook_entry[NF_INET_LOCAL_OUT] = off;
	next_std(p, &off, R_OFF_U_RULE);
	r->underflow[NF_INET_LOCAL_OUT] = off;
	next_std(p, &off, -NF_ACCEPT - 1);
	err_entry((struct err_entry *)(p + off), "u");
	off += sizeof(struct err_entry);
	assert_int_equal(off, R_OFF_U_RULE);
	next_std(p, &off, loop ? (int)R_OFF_U_RULE : XT_RETURN);
	err_entry((struct err_entry *)(p + off), "ERROR");
	return r;
}

static size_t read_file(const char *dir, const char *name, unsigned char **data)
{
	char path[PATH_MAX];
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fstat(fileno(f), &st), 0);
	*data = malloc(st.st_size + 1);
	assert_int_equal(fread(*data, 1, st.st_size, f), (size_t)st.st_size);
	(*data)[st.st_size] = 0;
	fclose(f);
	return st.st_size;
}

static void test_set_replace(void **state)
{
	struct xt_counters old[4];
	_cleanup_free_ struct ipt_replace *r = filter_replace(false, old);
	_cleanup_free_ struct ipt_get_entries *g = NULL;
	_cleanup_free_ unsigned char *blob = NULL, *tables = NULL;
	struct ipt_getinfo info;
	int fd = raw_socket(), err;
	size_t len;

	(void)state;
	memset(old, 0xa5, sizeof(old));
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, sizeof(*r) + r->size), 0);
	/* the old (initial) table's counters: zeros */
	for (size_t i = 0; i < ARRAY_SIZE(old); i++) {
		assert_int_equal(old[i].pcnt, 0);
		assert_int_equal(old[i].bcnt, 0);
	}

	/* the blob: exactly the bytes sent */
	len = read_file(capdir, "filter.blob", &blob);
	assert_int_equal(len, sizeof(*r) + r->size);
	assert_memory_equal(blob, r, len);
	read_file(capdir, "tables", &tables);
	assert_string_equal((char *)tables, "filter\n");

	/* the new state, as the kernel would show it */
	assert_int_equal(get_info(fd, "filter", &info), 0);
	assert_int_equal(info.num_entries, 8);
	assert_int_equal(info.size, R_SIZE);
	assert_int_equal(info.hook_entry[NF_INET_PRE_ROUTING], 0xFFFFFFFF);
	assert_int_equal(info.hook_entry[NF_INET_LOCAL_OUT], r->hook_entry[NF_INET_LOCAL_OUT]);
	assert_int_equal(info.underflow[NF_INET_LOCAL_OUT], r->underflow[NF_INET_LOCAL_OUT]);
	g = get_entries(fd, "filter", info.size, &err);
	assert_int_equal(err, 0);
	{
		static const unsigned int comefrom[] = {
			HOOK(LOCAL_IN), HOOK(LOCAL_IN), HOOK(FORWARD), HOOK(LOCAL_OUT),
			HOOK(LOCAL_OUT), 0 /* u's head: jumps land after it */, HOOK(LOCAL_OUT),
			0 /* the end */};
		unsigned char *p = (unsigned char *)g->entrytable;
		size_t off = 0;

		for (size_t i = 0; i < ARRAY_SIZE(comefrom); i++) {
			struct ipt_entry *e = (struct ipt_entry *)(p + off);

			assert_int_equal(e->comefrom, comefrom[i]);
			assert_int_equal(e->counters.pcnt, 0);
			off += e->next_offset;
		}
		assert_int_equal(off, R_SIZE);
	}

	/* a second replace must know the current number of entries */
	r->counters = NULL;
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, sizeof(*r) + r->size), -EAGAIN);
	r->num_counters = 8;
	/* a bad old-counters pointer is ignored, as by the kernel */
	r->counters = (void *)8;
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, sizeof(*r) + r->size), 0);
	free(tables);
	read_file(capdir, "tables", &tables);
	assert_string_equal((char *)tables, "filter\n");
	s_close(fd);
}

static void test_set_replace_errors(void **state)
{
	struct xt_counters old[8];
	_cleanup_free_ struct ipt_replace *r = filter_replace(false, old);
	_cleanup_free_ struct ipt_replace *loop = filter_replace(true, old);
	struct ipt_replace copy;
	struct std_entry *first = (struct std_entry *)r->entries;
	int fd = raw_socket();
	socklen_t len = sizeof(*r) + r->size;
	struct ipt_getinfo info;

	(void)state;
	assert_int_equal(get_info(fd, "filter", &info), 0);
	r->num_counters = loop->num_counters = info.num_entries;

	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, sizeof(*r) - 1), -EINVAL);
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len - 1), -EINVAL);
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, NULL, len), -EFAULT);
	assert_int_equal(set(fd, IPT_SO_SET_ADD_COUNTERS + 1, r, len), -ENOPROTOOPT);
	assert_int_equal(s_setsockopt(fd, SOL_SOCKET, IPT_SO_SET_REPLACE, r, len), -1);
	assert_int_equal(errno, ENOPROTOOPT);

	copy = *r;
	r->num_counters = 0;
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -EINVAL);
	r->num_counters = INT_MAX;
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -ENOMEM);
	*r = copy;
	r->size = UINT32_MAX - 8; /* len no longer covers it */
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -EINVAL);
	*r = copy;
	r->num_entries = 7;
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -EINVAL);
	r->num_entries = UINT32_MAX;
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -ENOMEM);
	*r = copy;
	r->underflow[NF_INET_LOCAL_IN] = 0; /* a conditional rule as policy */
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -EINVAL);
	*r = copy;
	r->hook_entry[NF_INET_FORWARD] = 8; /* not an entry start */
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -EINVAL);
	*r = copy;
	r->valid_hooks |= HOOK(PRE_ROUTING);
	r->hook_entry[NF_INET_PRE_ROUTING] = r->underflow[NF_INET_PRE_ROUTING] = 0;
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -EINVAL);
	*r = copy;
	r->valid_hooks = HOOK(LOCAL_IN) | HOOK(FORWARD); /* "You lied!" */
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -EINVAL);
	*r = copy;
	strcpy(r->name, "nosuchtable");
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -ENOENT);
	*r = copy;

	first->e.next_offset = 0;
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -EINVAL);
	first->e.next_offset = sizeof(*first);
	first->t.verdict = -NF_STOLEN - 1; /* not a verdict userspace may use */
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -EINVAL);
	first->t.verdict = 4; /* a jump into the middle of an entry */
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -ELOOP);
	first->t.verdict = -NF_DROP - 1;
	first->e.ip.invflags = 0xff;
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -EINVAL);
	first->e.ip.invflags = 0;
	first->e.target_offset = sizeof(first->e) + 8; /* a match too short for its header */
	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, r, len), -EINVAL);
	first->e.target_offset = sizeof(first->e);

	assert_int_equal(set(fd, IPT_SO_SET_REPLACE, loop, len), -ELOOP);

	/* the table is still the initial one */
	assert_int_equal(get_info(fd, "filter", &info), 0);
	assert_int_equal(info.num_entries, r->num_counters);
	s_close(fd);
}

/* Garbage with plausible sizes: errors, never a crash. */
static void test_set_replace_garbage(void **state)
{
	struct xt_counters old[8];
	_cleanup_free_ struct ipt_replace *good = filter_replace(false, old);
	size_t len = sizeof(*good) + good->size;
	_cleanup_free_ struct ipt_replace *r = malloc(len);
	struct ipt_getinfo info;
	int fd = raw_socket(), ok = 0;

	(void)state;
	srandom(1);
	for (int i = 0; i < 20000; i++) {
		int err;

		assert_int_equal(get_info(fd, "filter", &info), 0);
		good->num_counters = info.num_entries;
		memcpy(r, good, len);
		/* flip a few bytes of the entries (the header's sizes stay sane) */
		for (int k = random() % 4 + 1; k > 0; k--)
			((unsigned char *)r->entries)[random() % r->size] = random();
		err = set(fd, IPT_SO_SET_REPLACE, r, len);
		assert_true(err == 0 || err == -EINVAL || err == -ELOOP);
		ok += !err;
	}
	assert_true(ok > 0);
	s_close(fd);
}

/* ------------------------------------------------------------ SET_ADD_COUNTERS */

static void test_add_counters(void **state)
{
	struct ipt_getinfo info;
	_cleanup_free_ struct xt_counters_info *c = NULL;
	_cleanup_free_ struct ipt_get_entries *g = NULL;
	size_t len;
	int fd = raw_socket(), err;

	(void)state;
	assert_int_equal(get_info(fd, "security", &info), 0);
	len = sizeof(*c) + info.num_entries * sizeof(struct xt_counters);
	c = calloc(1, len);
	strcpy(c->name, "security");
	c->num_counters = info.num_entries;
	for (unsigned int i = 0; i < info.num_entries; i++)
		c->counters[i] = (struct xt_counters){.pcnt = i + 1, .bcnt = 100 * (i + 1)};

	assert_int_equal(set(fd, IPT_SO_SET_ADD_COUNTERS, c, sizeof(*c)), -EINVAL);
	assert_int_equal(set(fd, IPT_SO_SET_ADD_COUNTERS, c, len - 1), -EINVAL);
	assert_int_equal(set(fd, IPT_SO_SET_ADD_COUNTERS, NULL, len), -EFAULT);
	c->num_counters--;
	assert_int_equal(set(fd, IPT_SO_SET_ADD_COUNTERS, c, len - sizeof(struct xt_counters)),
			 -EINVAL);
	c->num_counters++;
	strcpy(c->name, "nosuchtable");
	assert_int_equal(set(fd, IPT_SO_SET_ADD_COUNTERS, c, len), -ENOENT);
	strcpy(c->name, "security");
	assert_int_equal(set(fd, IPT_SO_SET_ADD_COUNTERS, c, len), 0);
	assert_int_equal(set(fd, IPT_SO_SET_ADD_COUNTERS, c, len), 0);

	g = get_entries(fd, "security", info.size, &err);
	assert_int_equal(err, 0);
	{
		unsigned char *p = (unsigned char *)g->entrytable;
		size_t off = 0;

		for (unsigned int i = 0; i < info.num_entries; i++) {
			struct ipt_entry *e = (struct ipt_entry *)(p + off);

			assert_int_equal(e->counters.pcnt, 2 * (i + 1));
			assert_int_equal(e->counters.bcnt, 200 * (i + 1));
			off += e->next_offset;
		}
	}
	s_close(fd);
}

/* ------------------------------------------------------------ files and processes */

static void test_files(void **state)
{
	char buf[256] = {0}, path[PATH_MAX];
	struct stat64 st;
	struct statfs64 sf;
	pid_t pid;
	char *argv[] = {"modprobe", "-q", "--", "ip_tables", NULL};
	FILE *f;
	int fd;

	(void)state;
	load_shim();
	/* after the tests above: tables came to life in this order */
	f = s_fopen("/proc/net/ip_tables_names", "r");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f) > 0, 1);
	fclose(f);
	assert_string_equal(buf, "nat\nraw\nmangle\nsecurity\nfilter\n");

	assert_int_equal(s_lstat64("/proc/net/ip_tables_names", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(s_statfs64("/proc/net/ip_tables_names", &sf), 0);
	assert_int_equal(sf.f_type, PROC_SUPER_MAGIC);

	/* no modprobe: the helper's path reads as missing, spawning is refused */
	assert_int_equal(s_open("/proc/sys/kernel/modprobe", O_RDONLY), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(s_posix_spawn(&pid, "/sbin/modprobe", NULL, NULL, argv, NULL), EPERM);

	/* the lock moves into the capture directory */
	fd = s_open("/run/xtables.lock", O_RDONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	s_close(fd);
	snprintf(path, sizeof(path), "%s/xtables.lock", capdir);
	assert_int_equal(access(path, F_OK), 0);

	/* ip6tables must not reach the kernel either */
	assert_int_equal(s_socket(AF_INET6, SOCK_RAW, IPPROTO_RAW), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
}

/* ------------------------------------------------------------ ipt2bpf_capture() */

static char tmpdir[] = "/tmp/ipt2bpf-test-tmp.XXXXXX";

static bool have_restore(void)
{
	return access("/usr/sbin/iptables-legacy-restore", X_OK) == 0 ||
	       access("/sbin/iptables-legacy-restore", X_OK) == 0 ||
	       (getenv("IPT2BPF_IPTABLES_RESTORE") && *getenv("IPT2BPF_IPTABLES_RESTORE"));
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int capture_setup(void **state)
{
	(void)state;
	find_shim();
	setenv("IPT2BPF_SHIM", shim_path, 1);
	if (!mkdtemp(tmpdir))
		return -1;
	/* our capture directories go here: we check none is left behind */
	setenv("TMPDIR", tmpdir, 1);
	return 0;
}

/* dir holds nothing but `except`: no capture directory was left behind. */
static bool dir_empty(const char *dir, const char *except)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, except))
			n++;
	closedir(d);
	return n == 0;
}

static void test_capture_rules(void **state)
{
	char rules[PATH_MAX];
	struct ipt2bpf_blob blobs[IPT2BPF_MAX_TABLES];
	struct ipt2bpf_diag diag = {0};
	unsigned int n = 0;

	(void)state;
	if (!have_restore())
		skip();
	snprintf(rules, sizeof(rules), "%s/rules.v4", tmpdir);
	write_text(rules, "*security\n"
			  ":INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
			  "-A INPUT -p tcp --dport 80 -j CONNSECMARK --save\n"
			  "COMMIT\n"
			  "*filter\n"
			  ":INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
			  ":web - [0:0]\n"
			  "[5:300] -A INPUT -p tcp -m multiport --dports 80,443 -j web\n"
			  "-A web -m comment --comment hi -j ACCEPT\n"
			  "COMMIT\n");
	assert_int_equal(ipt2bpf_capture(rules, blobs, ARRAY_SIZE(blobs), &n, &diag), 0);
	assert_int_equal(diag.err, 0);
	assert_int_equal(n, 2);
	assert_string_equal(blobs[0].table, "security");
	assert_string_equal(blobs[1].table, "filter");
	assert_int_equal(blobs[1].len, sizeof(struct ipt_replace) + blobs[1].repl->size);
	/* INPUT rule, INPUT policy, FORWARD, OUTPUT, web head, web rule, web
	 * return, ERROR; replacing the initial table (4 entries) */
	assert_int_equal(blobs[1].repl->num_entries, 8);
	assert_int_equal(blobs[1].repl->num_counters, 4);
	assert_int_equal(blobs[1].repl->valid_hooks, HOOK(LOCAL_IN) | HOOK(FORWARD) | HOOK(LOCAL_OUT));
	for (unsigned int i = 0; i < n; i++)
		ipt2bpf_blob_release(&blobs[i]);
	assert_null(blobs[0].repl);
	assert_true(dir_empty(tmpdir, "rules.v4"));

	/* nothing committed */
	write_text(rules, "# only a comment\n");
	assert_int_equal(ipt2bpf_capture(rules, blobs, ARRAY_SIZE(blobs), &n, &diag), 0);
	assert_int_equal(n, 0);

	/* more tables than room */
	write_text(rules, "*filter\nCOMMIT\n*security\nCOMMIT\n");
	assert_int_equal(ipt2bpf_capture(rules, blobs, 1, &n, &diag), -E2BIG);
	assert_int_equal(n, 0);
	assert_true(dir_empty(tmpdir, "rules.v4"));
}

static void test_capture_errors(void **state)
{
	char rules[PATH_MAX], notelf[PATH_MAX], want[PATH_MAX + 64];
	struct ipt2bpf_blob blobs[IPT2BPF_MAX_TABLES];
	struct ipt2bpf_diag diag = {0};
	unsigned int n = 7;

	(void)state;
	if (!have_restore())
		skip();
	snprintf(rules, sizeof(rules), "%s/bad.v4", tmpdir);
	write_text(rules, "*filter\n-A INPUT --no-such-option 1 -j ACCEPT\nCOMMIT\n");
	assert_int_equal(ipt2bpf_capture(rules, blobs, ARRAY_SIZE(blobs), &n, &diag), -EINVAL);
	assert_int_equal(n, 0);
	snprintf(want, sizeof(want), "iptables-legacy-restore rejected %s (exit ", rules);
	assert_int_equal(strncmp(diag.msg, want, strlen(want)), 0);

	memset(&diag, 0, sizeof(diag));
	assert_int_equal(ipt2bpf_capture("/nonexistent/rules", blobs, 8, &n, &diag), -ENOENT);
	assert_non_null(strstr(diag.msg, "/nonexistent/rules"));

	memset(&diag, 0, sizeof(diag));
	setenv("IPT2BPF_IPTABLES_RESTORE", "/nonexistent/iptables-legacy-restore", 1);
	assert_int_equal(ipt2bpf_capture(rules, blobs, 8, &n, &diag), -ENOENT);
	unsetenv("IPT2BPF_IPTABLES_RESTORE");

	/* A shim ld.so cannot preload: iptables must stop at the lock, and we
	 * must say why instead of "rejected". */
	memset(&diag, 0, sizeof(diag));
	snprintf(notelf, sizeof(notelf), "%s/not-a-shim.so", tmpdir);
	write_text(notelf, "not an ELF file\n");
	setenv("IPT2BPF_SHIM", notelf, 1);
	write_text(rules, "*filter\nCOMMIT\n");
	assert_int_equal(ipt2bpf_capture(rules, blobs, 8, &n, &diag), -ENOEXEC);
	assert_non_null(strstr(diag.msg, "did not run with the xtables shim"));
	setenv("IPT2BPF_SHIM", shim_path, 1);
	unlink(notelf);
	unlink(rules);
}

/* ------------------------------------------------------------ ipt2bpf_blob_read() */

static void test_blob_read(void **state)
{
	char path[PATH_MAX];
	struct xt_counters old[8];
	_cleanup_free_ struct ipt_replace *r = filter_replace(false, old);
	struct ipt2bpf_blob b;
	struct ipt2bpf_diag diag = {0};
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/x.blob", tmpdir);

	f = fopen(path, "w");
	assert_int_equal(fwrite(r, 1, sizeof(*r) + r->size, f), sizeof(*r) + r->size);
	fclose(f);
	assert_int_equal(ipt2bpf_blob_read(path, &b, &diag), 0);
	assert_string_equal(b.table, "filter");
	assert_int_equal(b.len, sizeof(*r) + r->size);
	assert_memory_equal(b.repl, r, b.len);
	ipt2bpf_blob_release(&b);
	assert_null(b.repl);

	/* too short for the header */
	f = fopen(path, "w");
	assert_int_equal(fwrite(r, 1, sizeof(*r) - 1, f), sizeof(*r) - 1);
	fclose(f);
	assert_int_equal(ipt2bpf_blob_read(path, &b, &diag), -EINVAL);
	assert_non_null(strstr(diag.msg, "shorter than struct ipt_replace"));
	assert_null(b.repl);

	/* size field and file length disagree */
	memset(&diag, 0, sizeof(diag));
	f = fopen(path, "w");
	assert_int_equal(fwrite(r, 1, sizeof(*r) + r->size - 8, f), sizeof(*r) + r->size - 8);
	fclose(f);
	assert_int_equal(ipt2bpf_blob_read(path, &b, &diag), -EINVAL);
	assert_non_null(strstr(diag.msg, "ipt_replace.size"));

	/* name without its NUL */
	memset(&diag, 0, sizeof(diag));
	memset(r->name, 'x', sizeof(r->name));
	f = fopen(path, "w");
	assert_int_equal(fwrite(r, 1, sizeof(*r) + r->size, f), sizeof(*r) + r->size);
	fclose(f);
	assert_int_equal(ipt2bpf_blob_read(path, &b, &diag), -EINVAL);
	assert_non_null(strstr(diag.msg, "table name"));

	/* more entries than fit */
	memset(&diag, 0, sizeof(diag));
	strcpy(r->name, "filter");
	r->num_entries = r->size;
	f = fopen(path, "w");
	assert_int_equal(fwrite(r, 1, sizeof(*r) + r->size, f), sizeof(*r) + r->size);
	fclose(f);
	assert_int_equal(ipt2bpf_blob_read(path, &b, &diag), -EINVAL);
	unlink(path);

	memset(&diag, 0, sizeof(diag));
	assert_int_equal(ipt2bpf_blob_read(path, &b, &diag), -ENOENT);
	assert_non_null(strstr(diag.msg, path));
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	/* mkdtemp() filled them in: only then are they ours */
	if (!strchr(capdir, 'X'))
		nftw(capdir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
	if (!strchr(tmpdir, 'X'))
		nftw(tmpdir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: this process has not chosen a shim mode yet */
		cmocka_unit_test(test_passthrough_without_mode),
		cmocka_unit_test(test_initial_tables),
		cmocka_unit_test(test_unknown_table),
		cmocka_unit_test(test_get_bad_sizes),
		cmocka_unit_test(test_revisions),
		cmocka_unit_test(test_set_replace),
		cmocka_unit_test(test_set_replace_errors),
		cmocka_unit_test(test_set_replace_garbage),
		cmocka_unit_test(test_add_counters),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_capture_rules),
		cmocka_unit_test(test_capture_errors),
		cmocka_unit_test(test_blob_read),
	};

	return cmocka_run_group_tests(tests, capture_setup, teardown);
}
