// SPDX-License-Identifier: GPL-2.0
/*
 * Shared maps (ipt2bpf_map_spec.shared: the connection table and its
 * settings and counters): one per network namespace, pinned as
 * <state dir>/shared/<name>, reused by every later load so that replacing
 * the rule set keeps the connections, and used by all programs at once.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "rt_internal.h"

void rt_shared_open(const struct ipt2bpf_runtime *rt, const struct ipt2bpf_progset *ps, int *fds)
{
	char path[PATH_MAX];

	for (unsigned int i = 0; i < ps->n_maps; i++) {
		fds[i] = -1;
		if (ps->maps[i].shared &&
		    !rt_path(rt, path, sizeof(path), "shared/%s", ps->maps[i].name))
			fds[i] = bpf_obj_get(path); /* absent on a first load: -1 */
	}
}

void rt_shared_close(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static uint32_t map_id(int fd)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);

	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) ? info.id : 0;
}

int rt_shared_pin(const struct ipt2bpf_runtime *rt, const struct ipt2bpf_progset *ps,
		  const struct ipt2bpf_loaded *l, struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX];
	int err;

	for (unsigned int i = 0; i < ps->n_maps; i++) {
		int old;

		if (!ps->maps[i].shared)
			continue;
		if (rt_path(rt, path, sizeof(path), "shared"))
			return -ENAMETOOLONG;
		err = rt_mkdir(path, diag);
		if (err)
			return err;
		if (rt_path(rt, path, sizeof(path), "shared/%s", ps->maps[i].name))
			return -ENAMETOOLONG;
		old = bpf_obj_get(path);
		if (old >= 0 && map_id(old) == map_id(l->map_fds[i])) {
			close(old); /* reused: already there */
			continue;
		}
		if (old >= 0)
			close(old);
		/* new, or a new layout: this one is the namespace's from now on */
		err = rt_pin_replace(l->map_fds[i], path);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: cannot pin it: %s", path,
						strerror(-err));
	}
	return 0;
}

int ipt2bpf_rt_shared_map(const struct ipt2bpf_runtime *rt, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (rt_path(rt, path, sizeof(path), "shared/%s", name))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}
