// SPDX-License-Identifier: GPL-2.0
/*
 * The live runtime: load (compile, pin, attach everywhere, carry counters
 * over), unload, sync with the interfaces that exist now, and status.
 *
 * A load never leaves a hook without a program: TC filters are replaced in
 * place (same handle and priority, NLM_F_REPLACE: cls_bpf swaps the program
 * under RCU), XDP links are updated in place.  Every interface switches on
 * its own, so for the few microseconds of a load different interfaces may
 * run different generations; each packet still sees exactly one complete
 * rule set, because a packet is judged by one program only (INPUT and
 * FORWARD where it comes in, OUTPUT where a local one goes out).
 *
 * Order of a load, chosen so that a kill at any point leaves filtering on:
 *   1. compile and load; pin programs, maps, blobs and state in a new g<N>;
 *   2. record the intent in `attach`, then attach or replace on every
 *      interface (a failure puts the previous generation back everywhere);
 *   3. remove hooks the new set does not use (tc ingress <-> XDP);
 *   4. switch `current` to g<N> (rename of a symlink: atomic);
 *   5. wait for an RCU grace period, then carry counters over;
 *   6. unpin older generations (their programs go when nothing holds them).
 * A kill before 4 leaves `current` on the old generation while some
 * interfaces run the new one: status flags them stale, the next load fixes
 * it.  A kill between 4 and 5 loses the carried-over counters.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <linux/membarrier.h>

#include "rt_internal.h"
#include "../translator/util.h"

/* Interfaces the attach map can record (hash, allocated on use). */
#define RT_ATTACH_MAX (1U << 16)

/* Which hooks a generation uses: fds by role, -1: not used. */
struct rt_progs {
	int ingress, egress, xdp;
};

static const struct rt_progs rt_no_progs = {-1, -1, -1};

/*
 * IPT2BPF_TEST_STEP_MS widens the windows between the steps of a load so
 * that tests/runtime can kill -9 a load inside each of them.
 */
static void test_pause(void)
{
	static long ms = -1;

	if (ms < 0) {
		const char *s = getenv("IPT2BPF_TEST_STEP_MS");

		ms = s ? strtol(s, NULL, 10) : 0;
	}
	if (ms > 0)
		usleep((useconds_t)ms * 1000);
}

static bool is_bpffs(const char *path)
{
	struct statfs sf;

	return !statfs(path, &sf) && sf.f_type == BPF_FS_MAGIC;
}

static int parent_pid(int pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	/* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

/*
 * `ip netns exec` runs its command in a mount namespace of its own with a
 * fresh sysfs over /sys, so /sys/fs/bpf is no bpffs there, and one mounted
 * there would vanish with the command and its pins.  The bpffs the pins
 * belong in is the one of the namespace we came from: the nearest ancestor
 * (or init) in another mount namespace that has bpffs on /sys/fs/bpf.  It
 * is opened and used through /proc/self/fd, so it stays reachable after that
 * ancestor exits.  Returns the fd, or -1.
 */
static int open_outer_bpffs(void)
{
	struct stat self, other;
	int pid = getppid();

	if (stat("/proc/self/ns/mnt", &self))
		return -1;
	for (int depth = 0; depth < 16 && pid > 0; depth++, pid = parent_pid(pid)) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
		if (stat(path, &other) || other.st_ino == self.st_ino)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, IPT2BPF_RT_BPFFS);
		if (is_bpffs(path))
			return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	return -1;
}

int ipt2bpf_rt_open(const char *bpffs, struct ipt2bpf_runtime **out, struct ipt2bpf_diag *diag)
{
	struct ipt2bpf_runtime *rt;
	char outer[64];
	struct stat st;
	int r;

	*out = NULL;
	if (stat("/proc/self/ns/net", &st))
		return ipt2bpf_diag_set(diag, -errno, "/proc/self/ns/net: %s", strerror(errno));
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	rt->lockfd = -1;
	rt->bpffs_fd = -1;
	rt->cache.ifaces_fd = -1;
	if (!bpffs) {
		bpffs = IPT2BPF_RT_BPFFS;
		if (!is_bpffs(bpffs)) {
			rt->bpffs_fd = open_outer_bpffs();
			if (rt->bpffs_fd >= 0) {
				snprintf(outer, sizeof(outer), "/proc/self/fd/%d", rt->bpffs_fd);
				bpffs = outer;
			}
		}
	}
	rt->netns = (uint64_t)st.st_ino;
	rt->cookie = rt_netns_cookie();
	snprintf(rt->bpffs, sizeof(rt->bpffs), "%s", bpffs);
	if (snprintf(rt->dir, sizeof(rt->dir), "%s/%s/%llu", bpffs, IPT2BPF_RT_DIR,
		     (unsigned long long)rt->netns) >= (int)sizeof(rt->dir)) {
		ipt2bpf_rt_close(rt);
		return ipt2bpf_diag_set(diag, -ENAMETOOLONG, "%s: path too long", bpffs);
	}
	if (rt->bpffs_fd >= 0)
		snprintf(rt->shown, sizeof(rt->shown), "%s/%s/%llu (outer mount namespace)",
			 IPT2BPF_RT_BPFFS, IPT2BPF_RT_DIR, (unsigned long long)rt->netns);
	else
		snprintf(rt->shown, sizeof(rt->shown), "%s", rt->dir);
	r = rt_bpffs_ensure(bpffs, diag);
	if (r < 0) {
		ipt2bpf_rt_close(rt);
		return r;
	}
	rt->mounted = r == 1;
	*out = rt;
	return 0;
}

static void cache_drop(struct rt_cache *c)
{
	free(c->pats);
	if (c->ifaces_fd >= 0)
		close(c->ifaces_fd);
	memset(c, 0, sizeof(*c));
	c->ifaces_fd = -1;
}

void ipt2bpf_rt_close(struct ipt2bpf_runtime *rt)
{
	if (!rt)
		return;
	rt_unlock(rt);
	cache_drop(&rt->cache);
	if (rt->bpffs_fd >= 0)
		close(rt->bpffs_fd);
	free(rt);
}

void ipt2bpf_rt_closep(struct ipt2bpf_runtime **rt)
{
	ipt2bpf_rt_close(*rt);
	*rt = NULL;
}

const char *ipt2bpf_rt_dir(const struct ipt2bpf_runtime *rt)
{
	return rt->shown;
}

bool ipt2bpf_rt_mounted(const struct ipt2bpf_runtime *rt)
{
	return rt->mounted;
}

/* ------------------------------------------------------------ helpers */

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info = {0};
	uint32_t len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

/*
 * Waits until no CPU can still be running a program we just replaced:
 * MEMBARRIER_CMD_GLOBAL is a synchronize_rcu(), and TC and XDP programs run
 * inside RCU read-side sections.
 */
static void rt_grace(void)
{
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(20000);
}

static int attach_map_open(const struct ipt2bpf_runtime *rt, bool create, struct ipt2bpf_diag *diag)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_NO_PREALLOC);
	char path[PATH_MAX];
	int fd, err;

	if (rt_path(rt, path, sizeof(path), "attach"))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd >= 0 || errno != ENOENT || !create)
		return fd >= 0 ? fd
			       : ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "ipt_attach", sizeof(uint32_t),
			    sizeof(struct ipt2bpf_rt_attach), RT_ATTACH_MAX, &mo);
	if (fd < 0)
		return ipt2bpf_diag_set(diag, -errno, "%s: cannot create it: %s", path,
					strerror(errno));
	err = rt_pin_replace(fd, path);
	if (err) {
		close(fd);
		return ipt2bpf_diag_set(diag, err, "%s: cannot pin it: %s", path, strerror(-err));
	}
	return fd;
}

static void rec_get(int afd, uint32_t ifindex, struct ipt2bpf_rt_attach *rec)
{
	if (bpf_map_lookup_elem(afd, &ifindex, rec))
		memset(rec, 0, sizeof(*rec));
}

static int rec_put(int afd, uint32_t ifindex, const struct ipt2bpf_rt_attach *rec)
{
	if (!rec->flags)
		return bpf_map_delete_elem(afd, &ifindex) && errno != ENOENT ? -errno : 0;
	return bpf_map_update_elem(afd, &ifindex, rec, BPF_ANY) ? -errno : 0;
}

static struct rt_progs gen_progs(const struct rt_gen *g)
{
	return (struct rt_progs){g->ingress_fd, g->egress_fd, g->xdp_fd};
}

/*
 * Puts progs on one interface, each hook replaced in place.  The record is
 * written before the hook is touched, so that a kill leaves no hook of ours
 * unrecorded.
 */
static int apply_iface(const struct ipt2bpf_runtime *rt, int afd, const struct rt_link *ln,
		       const struct rt_progs *p, enum ipt2bpf_rt_xdp_attach xdp,
		       struct ipt2bpf_diag *diag)
{
	struct ipt2bpf_rt_attach rec;
	int err;

	rec_get(afd, ln->ifindex, &rec);
	snprintf(rec.name, sizeof(rec.name), "%s", ln->name);
	if (p->ingress >= 0 || p->egress >= 0) {
		rec.flags |= IPT2BPF_RT_A_QDISC_TRY;
		rec.flags |= p->ingress >= 0 ? IPT2BPF_RT_A_TC_INGRESS : 0;
		rec.flags |= p->egress >= 0 ? IPT2BPF_RT_A_TC_EGRESS : 0;
		err = rec_put(afd, ln->ifindex, &rec);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: cannot record it: %s", ln->name,
						strerror(-err));
		err = rt_qdisc_create(ln->ifindex);
		if (err < 0)
			return ipt2bpf_diag_set(diag, err, "%s: cannot add a clsact qdisc: %s",
						ln->name, strerror(-err));
		if (err == 1)
			rec.flags |= IPT2BPF_RT_A_QDISC_OURS;
		rec.flags &= ~IPT2BPF_RT_A_QDISC_TRY;
		err = rec_put(afd, ln->ifindex, &rec);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: cannot record it: %s", ln->name,
						strerror(-err));
		if (p->ingress >= 0) {
			err = rt_tc_attach(ln->ifindex, ln->name, true, p->ingress, diag);
			if (err)
				return err;
		}
		if (p->egress >= 0) {
			err = rt_tc_attach(ln->ifindex, ln->name, false, p->egress, diag);
			if (err)
				return err;
		}
	}
	if (p->xdp >= 0) {
		bool generic = rec.flags & IPT2BPF_RT_A_XDP_GENERIC;

		rec.flags |= IPT2BPF_RT_A_XDP;
		err = rec_put(afd, ln->ifindex, &rec);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: cannot record it: %s", ln->name,
						strerror(-err));
		err = rt_xdp_attach(rt, ln->ifindex, ln->name, p->xdp, xdp, &generic, diag);
		if (err)
			return err;
		rec.flags = generic ? rec.flags | IPT2BPF_RT_A_XDP_GENERIC
				    : rec.flags & ~IPT2BPF_RT_A_XDP_GENERIC;
		err = rec_put(afd, ln->ifindex, &rec);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: cannot record it: %s", ln->name,
						strerror(-err));
	}
	return 0;
}

/* Removes our hooks that p does not use (all of them for rt_no_progs). */
static int strip_iface(const struct ipt2bpf_runtime *rt, int afd, uint32_t ifindex,
		       const char *name, const struct rt_progs *p, struct ipt2bpf_diag *diag)
{
	struct ipt2bpf_rt_attach rec;
	int err, ret = 0;

	rec_get(afd, ifindex, &rec);
	if (p->xdp < 0 && (rec.flags & IPT2BPF_RT_A_XDP)) {
		err = rt_xdp_detach(rt, ifindex);
		if (err)
			ret = ipt2bpf_diag_set(diag, err, "%s: cannot detach XDP: %s", name,
					       strerror(-err));
		else
			rec.flags &= ~(IPT2BPF_RT_A_XDP | IPT2BPF_RT_A_XDP_GENERIC);
	}
	/* By query, not by record alone: a kill may have left a filter unrecorded. */
	if (p->ingress < 0) {
		err = rt_tc_detach(ifindex, true);
		if (err && err != -ENODEV)
			ret = ipt2bpf_diag_set(diag, err,
					       "%s: cannot remove the tc ingress "
					       "filter: %s",
					       name, strerror(-err));
		else
			rec.flags &= ~IPT2BPF_RT_A_TC_INGRESS;
	}
	if (p->egress < 0) {
		err = rt_tc_detach(ifindex, false);
		if (err && err != -ENODEV)
			ret = ipt2bpf_diag_set(diag, err,
					       "%s: cannot remove the tc egress "
					       "filter: %s",
					       name, strerror(-err));
		else
			rec.flags &= ~IPT2BPF_RT_A_TC_EGRESS;
	}
	if (!(rec.flags & (IPT2BPF_RT_A_TC_INGRESS | IPT2BPF_RT_A_TC_EGRESS)) &&
	    (rec.flags & (IPT2BPF_RT_A_QDISC_OURS | IPT2BPF_RT_A_QDISC_TRY))) {
		bool kept = false;

		err = rt_qdisc_remove(ifindex, &kept);
		if (err)
			ret = ipt2bpf_diag_set(diag, err, "%s: cannot remove the clsact qdisc: %s",
					       name, strerror(-err));
		else
			rec.flags &= ~(IPT2BPF_RT_A_QDISC_OURS | IPT2BPF_RT_A_QDISC_TRY);
		if (kept)
			fprintf(stderr,
				"ipt2bpf: %s: other filters were added to the clsact qdisc ipt2bpf "
				"created: leaving the qdisc in place\n",
				name);
	}
	rec_put(afd, ifindex, &rec);
	return ret;
}

static bool link_present(const struct rt_link *links, unsigned int n, uint32_t ifindex)
{
	for (unsigned int i = 0; i < n; i++)
		if (links[i].ifindex == ifindex)
			return true;
	return false;
}

/* Every ifindex the attach map records (walked first: callers delete while going). */
static int attach_keys(int afd, uint32_t **out, unsigned int *n)
{
	uint32_t key, next, *prev = NULL, *keys = NULL;
	unsigned int k = 0, cap = 0;

	while (!bpf_map_get_next_key(afd, prev, &next)) {
		if (k == cap) {
			uint32_t *nk = realloc(keys, (cap = cap ? 2 * cap : 64) * sizeof(*nk));

			if (!nk) {
				free(keys);
				return -ENOMEM;
			}
			keys = nk;
		}
		keys[k++] = next;
		key = next;
		prev = &key;
	}
	*out = keys;
	*n = k;
	return 0;
}

/* Forgets interfaces that are gone: the kernel took their filters and qdiscs with them. */
static void forget_vanished(const struct ipt2bpf_runtime *rt, int afd, int ifaces_fd,
			    unsigned int if_words, const struct rt_link *links, unsigned int n,
			    unsigned int *changed)
{
	_cleanup_free_ uint32_t *keys = NULL;
	unsigned int n_keys = 0;

	if (attach_keys(afd, &keys, &n_keys))
		return;
	for (unsigned int i = 0; i < n_keys; i++) {
		if (link_present(links, n, keys[i]))
			continue;
		rt_xdp_detach(rt, keys[i]); /* defunct link: just the pin */
		bpf_map_delete_elem(afd, &keys[i]);
		for (unsigned int w = 0; ifaces_fd >= 0 && w < if_words; w++) {
			struct ipt2bpf_ifkey k = {.ifindex = keys[i], .word = w};

			bpf_map_delete_elem(ifaces_fd, &k);
		}
		if (changed)
			(*changed)++;
	}
}

/* Sets ipt_ifaces for one interface from a generation's pinned patterns. */
static int cache_ifaces_set(const struct rt_cache *c, uint32_t ifindex, const char *name)
{
	struct ipt2bpf_progset ps = {.n_maps = 1, .ifpats = c->pats, .n_ifpats = c->n_pats};
	struct ipt2bpf_loaded l = {.n_maps = 1};

	if (c->ifaces_fd < 0)
		return 0;
	snprintf(ps.maps[0].name, sizeof(ps.maps[0].name), "%s", IPT2BPF_MAP_IFACES);
	l.map_fds[0] = c->ifaces_fd;
	return ipt2bpf_ifaces_set(&ps, &l, ifindex, name);
}

static int cache_load(struct ipt2bpf_runtime *rt, const struct rt_gen *g, struct ipt2bpf_diag *diag)
{
	struct rt_cache *c = &rt->cache;
	char path[PATH_MAX];
	void *pats = NULL;
	int err;

	if (!strcmp(c->gen, g->name))
		return 0;
	cache_drop(c);
	if (g->st.n_ifpats) {
		if (rt_path(rt, path, sizeof(path), "%s/ifpats", g->name))
			return -ENAMETOOLONG;
		err = rt_bytes_read(path, (size_t)g->st.n_ifpats * sizeof(struct ipt2bpf_ifpat),
				    &pats);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: %s", path, strerror(-err));
	}
	if (rt_path(rt, path, sizeof(path), "%s/map_%s", g->name, IPT2BPF_MAP_IFACES)) {
		free(pats);
		return -ENAMETOOLONG;
	}
	c->ifaces_fd = bpf_obj_get(path);
	if (c->ifaces_fd < 0) {
		err = -errno;
		free(pats);
		c->ifaces_fd = -1;
		return ipt2bpf_diag_set(diag, err, "%s: %s", path, strerror(-err));
	}
	c->pats = pats;
	c->n_pats = g->st.n_ifpats;
	snprintf(c->gen, sizeof(c->gen), "%s", g->name);
	return 0;
}

/* ------------------------------------------------------------ load */

static int pin_generation(struct ipt2bpf_runtime *rt, const char *gname,
			  const struct ipt2bpf_progset *ps, const struct ipt2bpf_loaded *l,
			  const struct ipt2bpf_rt_table *tables, unsigned int n_tables,
			  const struct ipt2bpf_rt_load_opts *opts, struct ipt2bpf_rt_state *st,
			  struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX];
	uint32_t key = 0;
	int err;

	memset(st, 0, sizeof(*st));
	st->magic = IPT2BPF_RT_STATE_MAGIC;
	st->version = IPT2BPF_RT_STATE_VERSION;
	st->mode = opts->mode;
	sscanf(gname, "g%u", &st->generation);
	st->loaded_at = (uint64_t)time(NULL);
	st->n_ifpats = ps->n_ifpats;
	if (opts->source && !realpath(opts->source, st->source))
		snprintf(st->source, sizeof(st->source), "%s", opts->source);

	if (rt_path(rt, path, sizeof(path), "%s", gname))
		return -ENAMETOOLONG;
	err = rt_mkdir(path, diag);
	if (err)
		return err;

	for (unsigned int i = 0; i < ps->n_progs; i++) {
		const struct ipt2bpf_prog *p = &ps->progs[i];

		if (p->role == IPT2BPF_P_TRACE)
			continue;
		if (st->n_progs == IPT2BPF_RT_MAX_PROGS)
			return ipt2bpf_diag_set(diag, -E2BIG, "too many programs");
		if (rt_path(rt, path, sizeof(path), "%s/prog_%s", gname, p->name))
			return -ENAMETOOLONG;
		err = rt_pin_replace(l->prog_fds[i], path);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: cannot pin it: %s", path,
						strerror(-err));
		snprintf(st->progs[st->n_progs].name, sizeof(st->progs[0].name), "%s", p->name);
		st->progs[st->n_progs].role = p->role;
		st->progs[st->n_progs].id = prog_id(l->prog_fds[i]);
		st->n_progs++;
		test_pause();
	}
	for (unsigned int i = 0; i < ps->n_maps; i++) {
		if (rt_path(rt, path, sizeof(path), "%s/map_%s", gname, ps->maps[i].name))
			return -ENAMETOOLONG;
		err = rt_pin_replace(l->map_fds[i], path);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: cannot pin it: %s", path,
						strerror(-err));
	}
	st->n_tables = n_tables;
	for (unsigned int i = 0; i < n_tables; i++) {
		const struct ipt2bpf_table *t = tables[i].ir;
		_cleanup_close_ int bfd = -1;

		snprintf(st->tables[i].name, sizeof(st->tables[i].name), "%s", t->name);
		snprintf(st->tables[i].counter_map, sizeof(st->tables[i].counter_map), "%s",
			 ps->maps[ps->counter_map[i]].name);
		st->tables[i].n_entries = t->n_entries;
		st->tables[i].blob_len = (uint32_t)tables[i].len;

		if (rt_path(rt, path, sizeof(path), "%s/blob_%s", gname, t->name))
			return -ENAMETOOLONG;
		err = rt_bytes_pin(path, "ipt_blob", tables[i].repl, tables[i].len, diag);
		if (err)
			return err;
		if (rt_path(rt, path, sizeof(path), "%s/base_%s", gname, t->name))
			return -ENAMETOOLONG;
		bfd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ipt_base", sizeof(uint32_t),
				     sizeof(struct ipt2bpf_counter),
				     t->n_entries ? t->n_entries : 1, NULL);
		if (bfd < 0)
			return ipt2bpf_diag_set(diag, -errno, "%s: cannot create it: %s", path,
						strerror(errno));
		err = rt_pin_replace(bfd, path);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: cannot pin it: %s", path,
						strerror(-err));
		test_pause();
	}
	if (ps->n_ifpats) {
		if (rt_path(rt, path, sizeof(path), "%s/ifpats", gname))
			return -ENAMETOOLONG;
		err = rt_bytes_pin(path, "ipt_ifpats", ps->ifpats,
				   ps->n_ifpats * sizeof(*ps->ifpats), diag);
		if (err)
			return err;
	}

	/* The state last: a generation without it is incomplete and never made current. */
	{
		_cleanup_close_ int sfd = -1;

		if (rt_path(rt, path, sizeof(path), "%s/state", gname))
			return -ENAMETOOLONG;
		sfd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ipt_state", sizeof(uint32_t), sizeof(*st),
				     1, NULL);
		if (sfd < 0)
			return ipt2bpf_diag_set(diag, -errno, "%s: cannot create it: %s", path,
						strerror(errno));
		if (bpf_map_update_elem(sfd, &key, st, BPF_ANY) || bpf_map_freeze(sfd))
			return ipt2bpf_diag_set(diag, -errno, "%s: cannot write it: %s", path,
						strerror(errno));
		err = rt_pin_replace(sfd, path);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: cannot pin it: %s", path,
						strerror(-err));
	}
	return 0;
}

static int switch_current(const struct ipt2bpf_runtime *rt, const char *gname,
			  struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX], tmp[PATH_MAX];

	if (rt_path(rt, path, sizeof(path), "current") ||
	    rt_path(rt, tmp, sizeof(tmp), "current_new"))
		return -ENAMETOOLONG;
	unlink(tmp);
	if (symlink(gname, tmp) || rename(tmp, path))
		return ipt2bpf_diag_set(diag, -errno, "%s: cannot switch it to %s: %s", path, gname,
					strerror(errno));
	return 0;
}

/* Removes every g<N> but keep, finished or left half-made by a killed load. */
static void remove_generations(const struct ipt2bpf_runtime *rt, const char *keep)
{
	char names[64][32], path[PATH_MAX];
	unsigned int n, rounds = 0;

	do {
		struct dirent *de;
		DIR *d = opendir(rt->dir);

		n = 0;
		if (!d)
			return;
		while ((de = readdir(d)) && n < ARRAY_SIZE(names)) {
			unsigned int g;
			char c;

			if (sscanf(de->d_name, "g%u%c", &g, &c) == 1 && strcmp(de->d_name, keep))
				snprintf(names[n++], sizeof(names[0]), "%.31s", de->d_name);
		}
		closedir(d);
		for (unsigned int i = 0; i < n; i++)
			if (!rt_path(rt, path, sizeof(path), "%s", names[i]))
				rt_rm_tree(path);
	} while (n == ARRAY_SIZE(names) && ++rounds < 1024);
}

/*
 * New base of each entry: the old entry's total (its base plus what its
 * program counted), for entries whose content is unchanged.  Runs after the
 * grace period, when nothing counts into the old maps any more.
 */
static int carry_counters(struct ipt2bpf_runtime *rt, const struct rt_gen *old, const char *gname,
			  const struct ipt2bpf_rt_table *tables, unsigned int n_tables,
			  unsigned int *carried, struct ipt2bpf_diag *diag)
{
	struct ipt_replace *oblobs[2] = {0};
	struct ipt2bpf_table *otables[2] = {0};
	int err;

	*carried = 0;
	err = rt_gen_tables(rt, old, oblobs, otables, diag);
	for (unsigned int i = 0; i < n_tables && !err; i++) {
		const struct ipt2bpf_table *nt = tables[i].ir;
		_cleanup_free_ struct ipt2bpf_counter *oc = NULL;
		_cleanup_free_ int *map = NULL;
		_cleanup_close_ int bfd = -1;
		char path[PATH_MAX];
		unsigned int j;

		for (j = 0; j < old->st.n_tables; j++)
			if (!strcmp(old->st.tables[j].name, nt->name))
				break;
		if (j == old->st.n_tables || tables[i].zero_counters)
			continue;
		oc = calloc(otables[j]->n_entries + 1, sizeof(*oc));
		map = calloc(nt->n_entries + 1, sizeof(*map));
		if (!oc || !map) {
			err = ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
			break;
		}
		err = rt_gen_counters(rt, old, j, oc, diag);
		if (!err)
			err = rt_carry_map(otables[j], oblobs[j], nt, tables[i].repl, map);
		if (err)
			break;
		if (rt_path(rt, path, sizeof(path), "%s/base_%s", gname, nt->name)) {
			err = -ENAMETOOLONG;
			break;
		}
		bfd = bpf_obj_get(path);
		if (bfd < 0) {
			err = ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
			break;
		}
		for (uint32_t k = 0; k < nt->n_entries; k++) {
			if (map[k] < 0 || (!oc[map[k]].pcnt && !oc[map[k]].bcnt))
				continue;
			if (bpf_map_update_elem(bfd, &k, &oc[map[k]], BPF_ANY)) {
				err = ipt2bpf_diag_set(diag, -errno, "%s: %s", path,
						       strerror(errno));
				break;
			}
			(*carried)++;
		}
	}
	for (unsigned int i = 0; i < 2; i++) {
		ipt2bpf_table_free(otables[i]);
		free(oblobs[i]);
	}
	return err;
}

int ipt2bpf_rt_load(struct ipt2bpf_runtime *rt, const struct ipt2bpf_rt_table *tables,
		    unsigned int n_tables, const struct ipt2bpf_rt_load_opts *opts,
		    struct ipt2bpf_diag *diag)
{
	struct ipt2bpf_gen_opts gopts = {.mode = opts->mode, .sec = opts->sec};
	_free_ipt2bpf_progset_ struct ipt2bpf_progset *ps = NULL;
	const struct ipt2bpf_table *irs[2];
	struct ipt2bpf_loaded l = {0};
	struct ipt2bpf_rt_state st;
	struct rt_gen old, cur;
	struct rt_link *links = NULL;
	unsigned int n_links = 0, done = 0, carried = 0;
	struct rt_progs np, op;
	bool have_old = false, loaded = false, pinned = false;
	_cleanup_close_ int afd = -1;
	char gname[32], path[PATH_MAX];
	int err;

	rt_gen_init(&old);
	rt_gen_init(&cur);
	if (!n_tables || n_tables > 2)
		return ipt2bpf_diag_set(diag, -EINVAL, "1 or 2 tables (filter, security) expected");
	for (unsigned int i = 0; i < n_tables; i++)
		irs[i] = tables[i].ir;

	err = ipt2bpf_gen(irs, n_tables, &gopts, &ps, diag);
	if (err)
		return err;
	{
		/* shared maps (the connection table) of the earlier rule set are kept */
		int shared[IPT2BPF_MAX_MAPS];

		rt_shared_open(rt, ps, shared);
		err = ipt2bpf_progset_load_reuse(ps, &l, shared, diag);
		rt_shared_close(shared, ps->n_maps);
	}
	if (err)
		return err;
	loaded = true;

	err = rt_lock(rt, true, true, diag);
	if (err)
		goto out;
	if (rt_path(rt, path, sizeof(path), "links")) {
		err = -ENAMETOOLONG;
		goto out;
	}
	err = rt_mkdir(path, diag);
	if (err)
		goto out;
	afd = attach_map_open(rt, true, diag);
	if (afd < 0) {
		err = afd;
		goto out;
	}
	err = rt_gen_open(rt, "current", &old, diag);
	if (!err) {
		have_old = true;
	} else if (err != -ENOENT) {
		ipt2bpf_diag_set(diag, err,
				 "%s: the pinned state is unreadable; `ipt2bpf unload` removes it",
				 rt->dir);
		goto out;
	}
	snprintf(gname, sizeof(gname), "g%u", rt_gen_last(rt) + 1);
	err = pin_generation(rt, gname, ps, &l, tables, n_tables, opts, &st, diag);
	if (err)
		goto out;
	err = rt_shared_pin(rt, ps, &l, diag);
	if (err)
		goto out;
	pinned = true;
	err = rt_gen_open(rt, gname, &cur, diag);
	if (err)
		goto out;
	np = gen_progs(&cur);
	op = have_old ? gen_progs(&old) : rt_no_progs;

	err = rt_links_list(&links, &n_links, diag);
	if (err)
		goto out;
	for (unsigned int i = 0; i < n_links; i++) {
		err = ipt2bpf_ifaces_set(ps, &l, links[i].ifindex, links[i].name);
		if (err) {
			ipt2bpf_diag_set(diag, err, "%s: cannot set its name bits: %s",
					 links[i].name, strerror(-err));
			goto out;
		}
	}

	for (done = 0; done < n_links; done++) {
		err = apply_iface(rt, afd, &links[done], &np, opts->xdp, diag);
		if (err)
			break;
		if (opts->verbose)
			fprintf(stderr, "ipt2bpf: %s: attached\n", links[done].name);
		test_pause();
	}
	if (err) {
		/* Put the previous generation back where we got to (the failed one included). */
		for (unsigned int i = 0; i <= done && i < n_links; i++) {
			if (have_old)
				apply_iface(rt, afd, &links[i], &op, opts->xdp, NULL);
			strip_iface(rt, afd, links[i].ifindex, links[i].name, &op, NULL);
		}
		goto out;
	}
	/*
	 * Hooks the new set does not use (a mode change), only now that the new ones
	 * are on.  A failure here leaves an old hook running next to the new one: the
	 * packets it sees are judged twice, never unfiltered, so the load goes on.
	 */
	for (unsigned int i = 0; i < n_links; i++) {
		struct ipt2bpf_diag sd = {0};

		if (strip_iface(rt, afd, links[i].ifindex, links[i].name, &np, &sd))
			fprintf(stderr, "ipt2bpf: warning: %s\n", sd.msg);
	}
	test_pause();
	err = switch_current(rt, gname, diag);
	if (err)
		goto out;
	test_pause();
	rt_grace();
	if (have_old) {
		err = carry_counters(rt, &old, gname, tables, n_tables, &carried, diag);
		if (err)
			fprintf(stderr, "ipt2bpf: counters not carried over: %s\n", diag->msg);
		err = 0;
		memset(diag, 0, sizeof(*diag));
		if (opts->verbose)
			fprintf(stderr, "ipt2bpf: counters of %u unchanged entries carried over\n",
				carried);
	}
	test_pause();
	remove_generations(rt, gname);
	forget_vanished(rt, afd, -1, 0, links, n_links, NULL);
	pinned = false; /* in force now */
out:
	if (err && pinned) {
		/* Not in force anywhere: take the new generation away again. */
		if (!rt_path(rt, path, sizeof(path), "%s", gname))
			rt_rm_tree(path);
	}
	free(links);
	rt_gen_close(&old);
	rt_gen_close(&cur);
	if (loaded)
		ipt2bpf_loaded_close(&l);
	rt_unlock(rt);
	return err;
}

/* ------------------------------------------------------------ unload */

int ipt2bpf_rt_unload(struct ipt2bpf_runtime *rt, bool *had_state, struct ipt2bpf_diag *diag)
{
	struct rt_link *links = NULL;
	unsigned int n_links = 0;
	_cleanup_close_ int afd = -1;
	char top[PATH_MAX + sizeof(IPT2BPF_RT_DIR) + 1];
	int err, ret = 0;

	*had_state = false;
	err = rt_lock(rt, true, false, diag);
	if (err && err != -ENOENT)
		return err;
	*had_state = !err;
	if (*had_state) {
		afd = attach_map_open(rt, false, NULL);
		if (afd >= 0) {
			_cleanup_free_ uint32_t *keys = NULL;
			unsigned int n_keys = 0;

			/* Every recorded interface, present or not. */
			err = attach_keys(afd, &keys, &n_keys);
			if (err)
				ret = ipt2bpf_diag_set(diag, err, "out of memory");
			for (unsigned int i = 0; i < n_keys; i++) {
				struct ipt2bpf_rt_attach rec;

				rec_get(afd, keys[i], &rec);
				err = strip_iface(rt, afd, keys[i], rec.name, &rt_no_progs, diag);
				if (err && !ret)
					ret = err;
			}
		}
	}
	/* Filters of ours a killed run never recorded (matched by program name). */
	err = rt_links_list(&links, &n_links, diag);
	if (!err) {
		for (unsigned int i = 0; i < n_links; i++) {
			rt_tc_detach(links[i].ifindex, true);
			rt_tc_detach(links[i].ifindex, false);
		}
		free(links);
	} else if (!ret) {
		ret = err;
	}
	if (ret) {
		rt_unlock(rt);
		return ret;
	}
	if (*had_state) {
		err = rt_rm_tree(rt->dir);
		if (err)
			ret = ipt2bpf_diag_set(diag, err, "%s: cannot remove it: %s", rt->dir,
					       strerror(-err));
		snprintf(top, sizeof(top), "%s/%s", rt->bpffs, IPT2BPF_RT_DIR);
		rmdir(top); /* fails while other namespaces have state: fine */
	}
	cache_drop(&rt->cache);
	rt_unlock(rt);
	return ret;
}

/* ------------------------------------------------------------ sync */

int ipt2bpf_rt_sync(struct ipt2bpf_runtime *rt, unsigned int *changed, struct ipt2bpf_diag *diag)
{
	struct rt_link *links = NULL;
	unsigned int n_links = 0;
	_cleanup_close_ int afd = -1;
	struct rt_progs p;
	struct rt_gen g;
	int err;

	*changed = 0;
	rt_gen_init(&g);
	err = rt_lock(rt, true, false, diag);
	if (err)
		return err == -ENOENT ? 0 : err;
	err = rt_gen_open(rt, "current", &g, diag);
	if (err) {
		rt_unlock(rt);
		return err == -ENOENT ? 0 : err;
	}
	p = gen_progs(&g);
	afd = attach_map_open(rt, false, diag);
	if (afd < 0) {
		err = afd;
		goto out;
	}
	err = cache_load(rt, &g, diag);
	if (!err)
		err = rt_links_list(&links, &n_links, diag);
	if (err)
		goto out;
	for (unsigned int i = 0; i < n_links; i++) {
		const struct rt_link *ln = &links[i];
		struct ipt2bpf_rt_attach rec;
		uint32_t want = 0;

		/* Names first: a renamed interface must match its new -i/-o patterns. */
		err = cache_ifaces_set(&rt->cache, ln->ifindex, ln->name);
		if (err) {
			ipt2bpf_diag_set(diag, err, "%s: cannot set its name bits: %s", ln->name,
					 strerror(-err));
			goto out;
		}
		rec_get(afd, ln->ifindex, &rec);
		want |= p.ingress >= 0 ? IPT2BPF_RT_A_TC_INGRESS : 0;
		want |= p.egress >= 0 ? IPT2BPF_RT_A_TC_EGRESS : 0;
		want |= p.xdp >= 0 ? IPT2BPF_RT_A_XDP : 0;
		if ((rec.flags & want) == want) {
			if (strncmp(rec.name, ln->name, sizeof(rec.name))) {
				snprintf(rec.name, sizeof(rec.name), "%s", ln->name);
				rec_put(afd, ln->ifindex, &rec);
			}
			continue;
		}
		err = apply_iface(rt, afd, ln, &p,
				  (rec.flags & IPT2BPF_RT_A_XDP_GENERIC) ? IPT2BPF_RT_XDP_GENERIC
									 : IPT2BPF_RT_XDP_AUTO,
				  diag);
		if (err)
			goto out;
		(*changed)++;
	}
	forget_vanished(rt, afd, rt->cache.ifaces_fd, (rt->cache.n_pats + 63) / 64, links, n_links,
			changed);
out:
	free(links);
	rt_gen_close(&g);
	rt_unlock(rt);
	return err;
}

/* ------------------------------------------------------------ status */

void ipt2bpf_rt_status_free(struct ipt2bpf_rt_status *st)
{
	if (!st)
		return;
	for (unsigned int i = 0; i < 2; i++) {
		ipt2bpf_table_free(st->tables[i]);
		free(st->blobs[i]);
		free(st->counters[i]);
	}
	free(st->ifaces);
	free(st);
}

void ipt2bpf_rt_status_freep(struct ipt2bpf_rt_status **st)
{
	ipt2bpf_rt_status_free(*st);
	*st = NULL;
}

static struct ipt2bpf_rt_iface *iface_add(struct ipt2bpf_rt_status *st, uint32_t ifindex)
{
	struct ipt2bpf_rt_iface *n;

	for (unsigned int i = 0; i < st->n_ifaces; i++)
		if (st->ifaces[i].ifindex == ifindex)
			return &st->ifaces[i];
	n = realloc(st->ifaces, (st->n_ifaces + 1) * sizeof(*n));
	if (!n)
		return NULL;
	st->ifaces = n;
	n = &st->ifaces[st->n_ifaces++];
	memset(n, 0, sizeof(*n));
	n->ifindex = ifindex;
	return n;
}

static bool id_current(const struct ipt2bpf_rt_status *st, uint32_t id)
{
	for (unsigned int i = 0; i < st->state.n_progs; i++)
		if (st->state.progs[i].id == id)
			return true;
	return false;
}

static int iface_cmp(const void *a, const void *b)
{
	const struct ipt2bpf_rt_iface *x = a, *y = b;

	return x->ifindex < y->ifindex ? -1 : x->ifindex > y->ifindex;
}

int ipt2bpf_rt_status_get(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_status **out,
			  struct ipt2bpf_diag *diag)
{
	_free_ipt2bpf_rt_status_ struct ipt2bpf_rt_status *st = NULL;
	struct rt_link *links = NULL;
	unsigned int n_links = 0;
	uint32_t key, next, *prev = NULL;
	_cleanup_close_ int afd = -1;
	struct rt_gen g;
	int err;

	*out = NULL;
	rt_gen_init(&g);
	st = calloc(1, sizeof(*st));
	if (!st)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	st->netns = rt->netns;
	snprintf(st->dir, sizeof(st->dir), "%s", rt->shown);
	err = rt_lock(rt, false, false, diag);
	if (err == -ENOENT) {
		*out = TAKE_PTR(st);
		return 0;
	}
	if (err)
		return err;
	err = rt_gen_open(rt, "current", &g, diag);
	if (err && err != -ENOENT)
		goto out;
	if (!err) {
		st->loaded = true;
		st->state = g.st;
		st->n_tables = g.st.n_tables;
		err = rt_gen_tables(rt, &g, st->blobs, st->tables, diag);
		for (unsigned int i = 0; i < st->n_tables && !err; i++) {
			st->counters[i] =
				calloc(g.st.tables[i].n_entries + 1, sizeof(*st->counters[i]));
			if (!st->counters[i])
				err = ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
			else
				err = rt_gen_counters(rt, &g, i, st->counters[i], diag);
		}
		if (err)
			goto out;
	}
	err = 0;

	afd = attach_map_open(rt, false, NULL);
	while (afd >= 0 && !bpf_map_get_next_key(afd, prev, &next)) {
		struct ipt2bpf_rt_iface *ifc = iface_add(st, next);
		struct ipt2bpf_rt_attach rec;

		key = next;
		prev = &key;
		if (!ifc) {
			err = ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
			goto out;
		}
		rec_get(afd, key, &rec);
		ifc->flags = rec.flags;
		snprintf(ifc->name, sizeof(ifc->name), "%s", rec.name);
	}
	/* Interfaces that exist now, attached or not (appeared after the load?). */
	if (!rt_links_list(&links, &n_links, NULL)) {
		for (unsigned int i = 0; i < n_links; i++) {
			struct ipt2bpf_rt_iface *ifc = iface_add(st, links[i].ifindex);

			if (!ifc) {
				err = ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
				goto out;
			}
			ifc->present = true;
			snprintf(ifc->name, sizeof(ifc->name), "%s", links[i].name);
		}
	}
	for (unsigned int i = 0; i < st->n_ifaces; i++) {
		struct ipt2bpf_rt_iface *ifc = &st->ifaces[i];

		if (!ifc->present)
			continue;
		rt_tc_query(ifc->ifindex, true, &ifc->tc_ingress_id);
		rt_tc_query(ifc->ifindex, false, &ifc->tc_egress_id);
		rt_xdp_query(ifc->ifindex, &ifc->xdp_id, &ifc->xdp_attach_mode);
		if (!(ifc->flags & IPT2BPF_RT_A_XDP))
			ifc->xdp_id = 0, ifc->xdp_attach_mode = 0; /* not ours to report */
		ifc->stale = (ifc->tc_ingress_id && !id_current(st, ifc->tc_ingress_id)) ||
			     (ifc->tc_egress_id && !id_current(st, ifc->tc_egress_id)) ||
			     (ifc->xdp_id && !id_current(st, ifc->xdp_id));
	}
	qsort(st->ifaces, st->n_ifaces, sizeof(*st->ifaces), iface_cmp);
	*out = TAKE_PTR(st);
out:
	free(links);
	rt_gen_close(&g);
	rt_unlock(rt);
	return err;
}
