// SPDX-License-Identifier: GPL-2.0
/*
 * What ipt2bpf-umh needs of the runtime beyond load/status (runtime.h,
 * "ipt2bpf-umh"): the generation in force, and a table's counter maps held
 * open, read (the kernel's get_old_counters() after a replace, live counters
 * for GET_ENTRIES) and added to (SET_ADD_COUNTERS).
 *
 * Counters of an entry are its program's per-CPU map slot plus the pinned
 * base map slot (carried over or added); only the base is written here, and
 * the programs never write it, so a read-modify-write of it races nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "rt_internal.h"
#include "../translator/util.h"

uint32_t ipt2bpf_rt_generation(const struct ipt2bpf_runtime *rt)
{
	char path[PATH_MAX], link[64];
	unsigned int n;
	ssize_t len;
	char c;

	if (rt_path(rt, path, sizeof(path), "current"))
		return 0;
	len = readlink(path, link, sizeof(link) - 1);
	if (len <= 0)
		return 0;
	link[len] = '\0';
	return sscanf(link, "g%u%c", &n, &c) == 1 ? n : 0;
}

int ipt2bpf_rt_counters_hold(struct ipt2bpf_runtime *rt, const char *table,
			     struct ipt2bpf_rt_counters_ref *ref, struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX];
	struct rt_gen g;
	unsigned int i;
	int err;

	ref->map_fd = ref->base_fd = -1;
	ref->n_entries = 0;
	rt_gen_init(&g);
	err = rt_lock(rt, false, false, diag);
	if (err)
		return err;
	err = rt_gen_open(rt, "current", &g, diag);
	if (err)
		goto out;
	for (i = 0; i < g.st.n_tables; i++)
		if (!strncmp(g.st.tables[i].name, table, sizeof(g.st.tables[i].name)))
			break;
	if (i == g.st.n_tables) {
		err = -ENOENT;
		goto out;
	}
	if (rt_path(rt, path, sizeof(path), "%s/map_%.*s", g.name, BPF_OBJ_NAME_LEN,
		    g.st.tables[i].counter_map)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	ref->map_fd = bpf_obj_get(path);
	if (ref->map_fd < 0) {
		err = ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (rt_path(rt, path, sizeof(path), "%s/base_%.*s", g.name, XT_TABLE_MAXNAMELEN,
		    g.st.tables[i].name)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	ref->base_fd = bpf_obj_get(path);
	if (ref->base_fd < 0) {
		err = ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	ref->n_entries = g.st.tables[i].n_entries;
out:
	if (err)
		ipt2bpf_rt_counters_release(ref);
	rt_gen_close(&g);
	rt_unlock(rt);
	return err;
}

void ipt2bpf_rt_counters_release(struct ipt2bpf_rt_counters_ref *ref)
{
	if (ref->map_fd >= 0)
		close(ref->map_fd);
	if (ref->base_fd >= 0)
		close(ref->base_fd);
	ref->map_fd = ref->base_fd = -1;
	ref->n_entries = 0;
}

/* The whole base map at once where the kernel has batch lookups, else key by key. */
static int base_read(int fd, unsigned int n, struct ipt2bpf_counter *out)
{
	_cleanup_free_ uint32_t *keys = calloc(n + 1, sizeof(*keys));
	uint32_t batch = 0, count = n;
	int err;

	if (!keys)
		return -ENOMEM;
	err = n ? bpf_map_lookup_batch(fd, NULL, &batch, keys, out, &count, NULL) : 0;
	if (!err || (errno == ENOENT && count == n))
		return 0;
	for (uint32_t k = 0; k < n; k++)
		if (bpf_map_lookup_elem(fd, &k, &out[k]))
			return -errno;
	return 0;
}

int ipt2bpf_rt_counters_read(const struct ipt2bpf_rt_counters_ref *ref, struct ipt2bpf_counter *out)
{
	unsigned int n = ref->n_entries;
	_cleanup_free_ struct ipt2bpf_counter *base = calloc(n + 1, sizeof(*base));
	int err;

	if (!base)
		return -ENOMEM;
	err = ipt2bpf_counters_read(ref->map_fd, n, out);
	if (!err)
		err = base_read(ref->base_fd, n, base);
	if (err)
		return err;
	for (unsigned int k = 0; k < n; k++) {
		out[k].pcnt += base[k].pcnt;
		out[k].bcnt += base[k].bcnt;
	}
	return 0;
}

int ipt2bpf_rt_counters_add(const struct ipt2bpf_rt_counters_ref *ref,
			    const struct ipt2bpf_counter *add)
{
	unsigned int n = ref->n_entries;
	_cleanup_free_ struct ipt2bpf_counter *base = calloc(n + 1, sizeof(*base));
	_cleanup_free_ uint32_t *keys = calloc(n + 1, sizeof(*keys));
	uint32_t count = n;
	int err;

	if (!base || !keys)
		return -ENOMEM;
	err = base_read(ref->base_fd, n, base);
	if (err)
		return err;
	for (uint32_t k = 0; k < n; k++) {
		keys[k] = k;
		base[k].pcnt += add[k].pcnt;
		base[k].bcnt += add[k].bcnt;
	}
	if (!n || !bpf_map_update_batch(ref->base_fd, keys, base, &count, NULL))
		return 0;
	for (uint32_t k = 0; k < n; k++)
		if (bpf_map_update_elem(ref->base_fd, &k, &base[k], BPF_ANY))
			return -errno;
	return 0;
}
