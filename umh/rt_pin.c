// SPDX-License-Identifier: GPL-2.0
/* The runtime's state in bpffs: directories, locking, pinned bytes, generations. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "rt_internal.h"
#include "../translator/util.h"
#include "../translator/validate.h"

/* Bytes per element of a bytes map: big enough that a large blob takes few syscalls. */
#define RT_CHUNK 16384U

/* Returns 1 if it had to mount bpffs, 0 if it was there. */
int rt_bpffs_ensure(const char *path, struct ipt2bpf_diag *diag)
{
	struct statfs sf;

	if (!statfs(path, &sf) && sf.f_type == BPF_FS_MAGIC)
		return 0;
	if (mkdir(path, 0700) && errno != EEXIST)
		return ipt2bpf_diag_set(diag, -errno, "%s: cannot create it: %s", path,
					strerror(errno));
	if (mount("bpf", path, "bpf", 0, "mode=0700"))
		return ipt2bpf_diag_set(diag, -errno, "%s: cannot mount bpffs there: %s", path,
					strerror(errno));
	return 1;
}

int rt_mkdir(const char *path, struct ipt2bpf_diag *diag)
{
	struct stat st;

	if (!mkdir(path, 0700))
		return 0;
	if (errno != EEXIST)
		return ipt2bpf_diag_set(diag, -errno, "%s: cannot create it: %s", path,
					strerror(errno));
	if (stat(path, &st) || !S_ISDIR(st.st_mode))
		return ipt2bpf_diag_set(diag, -ENOTDIR, "%s: exists and is not a directory", path);
	return 0;
}

uint64_t rt_netns_cookie(void)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		return 0;
	return cookie;
}

static int cookie_read(const struct ipt2bpf_runtime *rt, uint64_t *cookie)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	uint32_t key = 0;

	if (rt_path(rt, path, sizeof(path), "netns"))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0 || bpf_map_lookup_elem(fd, &key, cookie))
		return -errno;
	return 0;
}

static int cookie_pin(const struct ipt2bpf_runtime *rt, struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	uint32_t key = 0;
	int err;

	if (rt_path(rt, path, sizeof(path), "netns"))
		return -ENAMETOOLONG;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ipt_netns", sizeof(key), sizeof(rt->cookie), 1,
			    NULL);
	if (fd < 0 || bpf_map_update_elem(fd, &key, &rt->cookie, BPF_ANY) || bpf_map_freeze(fd))
		return ipt2bpf_diag_set(diag, -errno, "%s: cannot create it: %s", path,
					strerror(errno));
	err = rt_pin_replace(fd, path);
	if (err)
		return ipt2bpf_diag_set(diag, err, "%s: cannot pin it: %s", path, strerror(-err));
	return 0;
}

/* Does a program of ours run on an interface of this namespace? */
static bool ours_attached(void)
{
	_cleanup_free_ struct rt_link *links = NULL;
	unsigned int n = 0;

	if (rt_links_list(&links, &n, NULL))
		return true; /* cannot tell: keep the state */
	for (unsigned int i = 0; i < n; i++) {
		uint32_t in = 0, eg = 0, xdp = 0;
		uint8_t mode;

		rt_tc_query(links[i].ifindex, true, &in);
		rt_tc_query(links[i].ifindex, false, &eg);
		rt_xdp_query(links[i].ifindex, &xdp, &mode);
		if ((in && rt_prog_is_ours(in)) || (eg && rt_prog_is_ours(eg)) ||
		    (xdp && rt_prog_is_ours(xdp)))
			return true;
	}
	return false;
}

/*
 * Is the locked state directory this namespace's?  Namespace inode numbers
 * are reused as soon as a namespace dies, so a directory can be left over by
 * a deleted namespace that was never unloaded; the cookie pinned at creation
 * tells them apart (cookies are never reused).  A directory without one was
 * made by an older ipt2bpf (kept if our programs run here, and adopted under
 * an exclusive lock) or is being made by a concurrent load.  1: ours, 0:
 * left over, < 0: error.
 */
static int state_ours(const struct ipt2bpf_runtime *rt, bool fresh, bool exclusive,
		      struct ipt2bpf_diag *diag)
{
	uint64_t pinned = 0;
	int err;

	if (!rt->cookie)
		return 1; /* no SO_NETNS_COOKIE (Linux < 5.14): cannot tell */
	err = cookie_read(rt, &pinned);
	if (!err)
		return pinned == rt->cookie;
	if (err != -ENOENT)
		return ipt2bpf_diag_set(diag, err, "%s/netns: %s", rt->dir, strerror(-err));
	if (!fresh && !ours_attached())
		return 0;
	if (exclusive) {
		err = cookie_pin(rt, diag);
		if (err)
			return err;
	}
	return 1;
}

int rt_lock(struct ipt2bpf_runtime *rt, bool exclusive, bool create, struct ipt2bpf_diag *diag)
{
	char top[PATH_MAX];
	bool excl = exclusive;
	int err;

	if (rt->lockfd >= 0)
		return 0;
	if (snprintf(top, sizeof(top), "%s/%s", rt->bpffs, IPT2BPF_RT_DIR) >= (int)sizeof(top))
		return ipt2bpf_diag_set(diag, -ENAMETOOLONG, "%s: path too long", rt->bpffs);
	for (;;) {
		struct stat a, b;
		bool fresh = false;
		int fd;

		if (create) {
			err = rt_mkdir(top, diag);
			if (err)
				return err;
			fresh = !mkdir(rt->dir, 0700);
			if (!fresh) {
				err = rt_mkdir(rt->dir, diag);
				if (err)
					return err;
			}
		}
		fd = open(rt->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT && !create)
				return -ENOENT;
			return ipt2bpf_diag_set(diag, -errno, "%s: %s", rt->dir, strerror(errno));
		}
		if (flock(fd, excl ? LOCK_EX : LOCK_SH)) {
			err = -errno;
			close(fd);
			return ipt2bpf_diag_set(diag, err, "%s: cannot lock it: %s", rt->dir,
						strerror(-err));
		}
		/* An unload removes the directory under the lock: then start over. */
		if (fstat(fd, &a) || stat(rt->dir, &b) || a.st_ino != b.st_ino ||
		    a.st_dev != b.st_dev) {
			close(fd);
			if (!create)
				return -ENOENT;
			continue;
		}
		err = state_ours(rt, fresh, excl, diag);
		if (err < 0) {
			close(fd);
			return err;
		}
		if (!err) {
			/* Left over: removed under an exclusive lock, then as if never loaded. */
			if (!excl) {
				close(fd);
				excl = true;
				continue;
			}
			err = rt_rm_tree(rt->dir);
			close(fd);
			if (err)
				return ipt2bpf_diag_set(diag, err,
							"%s: left over by a deleted network "
							"namespace, cannot remove it: %s",
							rt->dir, strerror(-err));
			fprintf(stderr,
				"ipt2bpf: %s: left over by a deleted network namespace with the "
				"same "
				"inode number: removed\n",
				rt->shown);
			if (!create) {
				rmdir(top); /* fails while other namespaces have state: fine */
				return -ENOENT;
			}
			continue;
		}
		if (excl && !exclusive)
			flock(fd, LOCK_SH);
		rt->lockfd = fd;
		return 0;
	}
}

void rt_unlock(struct ipt2bpf_runtime *rt)
{
	if (rt->lockfd >= 0)
		close(rt->lockfd);
	rt->lockfd = -1;
}

int rt_path(const struct ipt2bpf_runtime *rt, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n, m;

	n = snprintf(buf, len, "%s/", rt->dir);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return -ENAMETOOLONG;
	return 0;
}

int rt_pin_replace(int fd, const char *path)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s_new", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp); /* left over by a killed run (bpffs names cannot hold dots) */
	if (bpf_obj_pin(fd, tmp))
		return -errno;
	if (rename(tmp, path)) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

int rt_bytes_pin(const char *path, const char *name, const void *data, size_t len,
		 struct ipt2bpf_diag *diag)
{
	_cleanup_free_ char *chunk = NULL;
	_cleanup_close_ int fd = -1;
	uint32_t n = (uint32_t)(len / RT_CHUNK) + 1;
	int err;

	chunk = malloc(RT_CHUNK);
	if (!chunk)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, name, sizeof(uint32_t), RT_CHUNK, n, NULL);
	if (fd < 0)
		return ipt2bpf_diag_set(diag, -errno, "%s: cannot create a map of %zu bytes: %s",
					path, len, strerror(errno));
	for (uint32_t i = 0; i < n; i++) {
		size_t off = (size_t)i * RT_CHUNK, k = len - off < RT_CHUNK ? len - off : RT_CHUNK;

		memset(chunk, 0, RT_CHUNK);
		memcpy(chunk, (const char *)data + off, k);
		if (bpf_map_update_elem(fd, &i, chunk, BPF_ANY))
			return ipt2bpf_diag_set(diag, -errno, "%s: cannot write it: %s", path,
						strerror(errno));
	}
	/* Read-only from now on, for user space and programs alike. */
	if (bpf_map_freeze(fd))
		return ipt2bpf_diag_set(diag, -errno, "%s: cannot freeze it: %s", path,
					strerror(errno));
	err = rt_pin_replace(fd, path);
	if (err)
		return ipt2bpf_diag_set(diag, err, "%s: cannot pin it: %s", path, strerror(-err));
	return 0;
}

int rt_bytes_read(const char *path, size_t len, void **out)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	uint32_t n = (uint32_t)(len / RT_CHUNK) + 1;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	buf = malloc((size_t)n * RT_CHUNK);
	if (!buf)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		if (bpf_map_lookup_elem(fd, &i, buf + (size_t)i * RT_CHUNK))
			return -errno;
	*out = TAKE_PTR(buf);
	return 0;
}

static int rm_tree_at(int dfd, const char *name)
{
	DIR *d;
	struct dirent *de;
	int fd, err = 0;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (S_ISDIR(st.st_mode)) {
			int e = rm_tree_at(fd, de->d_name);

			if (e && !err)
				err = e;
		} else if (unlinkat(fd, de->d_name, 0) && errno != ENOENT && !err) {
			err = -errno;
		}
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) && errno != ENOENT && !err)
		err = -errno;
	return err;
}

int rt_rm_tree(const char *path)
{
	return rm_tree_at(AT_FDCWD, path);
}

/* ------------------------------------------------------------ generations */

void rt_gen_init(struct rt_gen *g)
{
	memset(g, 0, sizeof(*g));
	for (unsigned int i = 0; i < IPT2BPF_RT_MAX_PROGS; i++)
		g->prog_fds[i] = -1;
	g->ingress_fd = g->egress_fd = g->xdp_fd = -1;
}

void rt_gen_close(struct rt_gen *g)
{
	for (unsigned int i = 0; i < IPT2BPF_RT_MAX_PROGS; i++)
		if (g->prog_fds[i] >= 0)
			close(g->prog_fds[i]);
	rt_gen_init(g);
}

int rt_gen_open(const struct ipt2bpf_runtime *rt, const char *name, struct rt_gen *g,
		struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	uint32_t key = 0;
	int err;

	rt_gen_init(g);
	if (!strcmp(name, "current")) {
		char target[sizeof(g->name)];
		ssize_t n;

		if (rt_path(rt, path, sizeof(path), "current"))
			return -ENAMETOOLONG;
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			return errno == ENOENT ? -ENOENT
					       : ipt2bpf_diag_set(diag, -errno, "%s: %s", path,
								  strerror(errno));
		target[n] = '\0';
		snprintf(g->name, sizeof(g->name), "%s", target);
	} else {
		snprintf(g->name, sizeof(g->name), "%s", name);
	}

	if (rt_path(rt, path, sizeof(path), "%s/state", g->name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
	if (bpf_map_lookup_elem(fd, &key, &g->st))
		return ipt2bpf_diag_set(diag, -errno, "%s: cannot read it: %s", path,
					strerror(errno));
	if (g->st.magic != IPT2BPF_RT_STATE_MAGIC || g->st.version != IPT2BPF_RT_STATE_VERSION ||
	    g->st.n_tables > 2 || g->st.n_progs > IPT2BPF_RT_MAX_PROGS)
		return ipt2bpf_diag_set(
			diag, -EPROTO, "%s: not a state this version of ipt2bpf wrote (version %u)",
			path, g->st.version);
	g->st.source[sizeof(g->st.source) - 1] = '\0';

	for (unsigned int i = 0; i < g->st.n_progs; i++) {
		int pfd;

		if (rt_path(rt, path, sizeof(path), "%s/prog_%.*s", g->name, BPF_OBJ_NAME_LEN,
			    g->st.progs[i].name))
			return -ENAMETOOLONG;
		pfd = bpf_obj_get(path);
		if (pfd < 0) {
			err = -errno;
			rt_gen_close(g);
			return ipt2bpf_diag_set(diag, err, "%s: %s", path, strerror(-err));
		}
		g->prog_fds[i] = pfd;
		switch (g->st.progs[i].role) {
		case IPT2BPF_P_INGRESS:
			g->ingress_fd = pfd;
			break;
		case IPT2BPF_P_EGRESS:
			g->egress_fd = pfd;
			break;
		case IPT2BPF_P_XDP:
			g->xdp_fd = pfd;
			break;
		default:
			break;
		}
	}
	return 0;
}

int rt_gen_tables(const struct ipt2bpf_runtime *rt, const struct rt_gen *g,
		  struct ipt_replace **blobs, struct ipt2bpf_table **tables,
		  struct ipt2bpf_diag *diag)
{
	for (unsigned int i = 0; i < g->st.n_tables; i++) {
		char path[PATH_MAX];
		void *b = NULL;
		size_t len = g->st.tables[i].blob_len;
		int err;

		if (rt_path(rt, path, sizeof(path), "%s/blob_%.*s", g->name, XT_TABLE_MAXNAMELEN,
			    g->st.tables[i].name))
			return -ENAMETOOLONG;
		err = rt_bytes_read(path, len, &b);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: %s", path, strerror(-err));
		blobs[i] = b;
		err = ipt2bpf_validate(blobs[i], len, diag);
		if (!err)
			err = ipt2bpf_table_decode(blobs[i], len, &tables[i], diag);
		if (err)
			return err;
		if (tables[i]->n_entries != g->st.tables[i].n_entries)
			return ipt2bpf_diag_set(diag, -EPROTO, "%s: %u entries, the state says %u",
						path, tables[i]->n_entries,
						g->st.tables[i].n_entries);
	}
	return 0;
}

int rt_gen_counters(const struct ipt2bpf_runtime *rt, const struct rt_gen *g, unsigned int i,
		    struct ipt2bpf_counter *out, struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX];
	_cleanup_close_ int cfd = -1, bfd = -1;
	uint32_t n = g->st.tables[i].n_entries;
	int err;

	if (rt_path(rt, path, sizeof(path), "%s/map_%.*s", g->name, BPF_OBJ_NAME_LEN,
		    g->st.tables[i].counter_map))
		return -ENAMETOOLONG;
	cfd = bpf_obj_get(path);
	if (cfd < 0)
		return ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
	err = ipt2bpf_counters_read(cfd, n, out);
	if (err)
		return ipt2bpf_diag_set(diag, err, "%s: cannot read counters: %s", path,
					strerror(-err));
	if (rt_path(rt, path, sizeof(path), "%s/base_%.*s", g->name, XT_TABLE_MAXNAMELEN,
		    g->st.tables[i].name))
		return -ENAMETOOLONG;
	bfd = bpf_obj_get(path);
	if (bfd < 0)
		return ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
	for (uint32_t k = 0; k < n; k++) {
		struct ipt2bpf_counter c;

		if (bpf_map_lookup_elem(bfd, &k, &c))
			return ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
		out[k].pcnt += c.pcnt;
		out[k].bcnt += c.bcnt;
	}
	return 0;
}

uint32_t rt_gen_last(const struct ipt2bpf_runtime *rt)
{
	struct dirent *de;
	uint32_t last = 0;
	DIR *d = opendir(rt->dir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		unsigned int n;
		char c;

		if (sscanf(de->d_name, "g%u%c", &n, &c) == 1 && n > last)
			last = n;
	}
	closedir(d);
	return last;
}

int rt_links_list(struct rt_link **out, unsigned int *n, struct ipt2bpf_diag *diag)
{
	struct if_nameindex *ifs = if_nameindex(), *p;
	struct rt_link *links;
	unsigned int k = 0;

	if (!ifs)
		return ipt2bpf_diag_set(diag, -errno, "cannot list interfaces: %s",
					strerror(errno));
	for (p = ifs; p->if_index; p++)
		k++;
	links = calloc(k ? k : 1, sizeof(*links));
	if (!links) {
		if_freenameindex(ifs);
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	}
	k = 0;
	for (p = ifs; p->if_index; p++) {
		links[k].ifindex = p->if_index;
		snprintf(links[k].name, sizeof(links[k].name), "%s", p->if_name);
		k++;
	}
	if_freenameindex(ifs);
	*out = links;
	*n = k;
	return 0;
}
