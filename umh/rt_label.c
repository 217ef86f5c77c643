// SPDX-License-Identifier: GPL-2.0
/* Labels at run time (rt_label.h): pinned label table, sink state, socket stamps, denials. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rt_internal.h"
#include "rt_label.h"
#include "../translator/util.h"

#define SEC_DIR "sec"

/* ------------------------------------------------------------ label table */

static int labels_read(const struct ipt2bpf_runtime *rt, struct ipt2bpf_labels *l,
		       struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX], ctx[IPT2BPF_SECCTX_MAX];
	_cleanup_close_ int fd = -1;

	if (rt_path(rt, path, sizeof(path), SEC_DIR "/labels"))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT
			       ? 0
			       : ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
	for (uint32_t id = 1; id <= IPT2BPF_LABELS_MAX; id++) {
		uint32_t got;
		int err;

		if (bpf_map_lookup_elem(fd, &id, ctx))
			return ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
		ctx[sizeof(ctx) - 1] = '\0';
		if (!ctx[0])
			break;
		err = ipt2bpf_labels_intern(l, ctx, &got);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: %s", path, strerror(-err));
		if (got != id)
			return ipt2bpf_diag_set(diag, -EINVAL, "%s: label %u is there twice", path,
						got);
	}
	return 0;
}

static int labels_write(const struct ipt2bpf_runtime *rt, const struct ipt2bpf_labels *l,
			unsigned int from, struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX], ctx[IPT2BPF_SECCTX_MAX];
	_cleanup_close_ int fd = -1;
	int err;

	if (rt_path(rt, path, sizeof(path), SEC_DIR "/labels"))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (errno != ENOENT)
			return ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ipt_labels", sizeof(uint32_t),
				    IPT2BPF_SECCTX_MAX, IPT2BPF_LABELS_MAX + 1, NULL);
		if (fd < 0)
			return ipt2bpf_diag_set(diag, -errno, "%s: cannot create it: %s", path,
						strerror(errno));
		err = rt_pin_replace(fd, path);
		if (err)
			return ipt2bpf_diag_set(diag, err, "%s: cannot pin it: %s", path,
						strerror(-err));
		from = 0;
	}
	for (uint32_t id = from + 1; id <= l->n; id++) {
		memset(ctx, 0, sizeof(ctx));
		snprintf(ctx, sizeof(ctx), "%s", l->ctx[id - 1]);
		if (bpf_map_update_elem(fd, &id, ctx, BPF_ANY))
			return ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
	}
	return 0;
}

/* ------------------------------------------------------------ state */

static int state_read(const struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec_state *st,
		      char **policy, struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX];
	void *buf = NULL;
	int err;

	if (rt_path(rt, path, sizeof(path), SEC_DIR "/state"))
		return -ENAMETOOLONG;
	err = rt_bytes_read(path, sizeof(*st), &buf);
	if (err == -ENOENT)
		return -ENOENT;
	if (err)
		return ipt2bpf_diag_set(diag, err, "%s: %s", path, strerror(-err));
	memcpy(st, buf, sizeof(*st));
	free(buf);
	if (st->magic != IPT2BPF_RT_SEC_MAGIC || st->version != IPT2BPF_RT_SEC_VERSION)
		return ipt2bpf_diag_set(diag, -EINVAL,
					"%s: not a label state of this version; `ipt2bpf unload` "
					"removes it",
					path);
	st->policy_source[sizeof(st->policy_source) - 1] = '\0';
	*policy = NULL;
	if (!(st->flags & IPT2BPF_RT_SEC_F_POLICY))
		return 0;
	if (st->policy_len > IPT2BPF_SEC_POLICY_MAX)
		return ipt2bpf_diag_set(diag, -EINVAL, "%s: policy length %u", path,
					st->policy_len);
	if (rt_path(rt, path, sizeof(path), SEC_DIR "/policy"))
		return -ENAMETOOLONG;
	err = rt_bytes_read(path, st->policy_len, &buf);
	if (err)
		return ipt2bpf_diag_set(diag, err, "%s: %s", path, strerror(-err));
	((char *)buf)[st->policy_len] = '\0';
	*policy = buf;
	return 0;
}

/* ------------------------------------------------------------ socket stamps */

/* The shared map the TC programs read the stamps from: made here, reused by the loader. */
static int sk_map_ensure(const struct ipt2bpf_runtime *rt, struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX];
	int fd, err;

	if (rt_path(rt, path, sizeof(path), "shared"))
		return -ENAMETOOLONG;
	err = rt_mkdir(path, diag);
	if (err)
		return err;
	if (rt_path(rt, path, sizeof(path), "shared/%s", IPT2BPF_MAP_SEC_SK))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd >= 0)
		return fd;
	fd = ipt2bpf_sec_sk_map_create(diag);
	if (fd < 0)
		return fd;
	err = rt_pin_replace(fd, path);
	if (err) {
		close(fd);
		return ipt2bpf_diag_set(diag, err, "%s: cannot pin it: %s", path, strerror(-err));
	}
	return fd;
}

static int stamp_attach(const struct ipt2bpf_runtime *rt, const struct ipt2bpf_sec_domain *d,
			int sk_fd, struct ipt2bpf_diag *diag)
{
	struct bpf_insn insns[IPT2BPF_SEC_STAMP_INSNS];
	char path[PATH_MAX], log[4096] = "";
	_cleanup_close_ int pfd = -1, cfd = -1, lfd = -1;
	unsigned int n = ipt2bpf_sec_stamp_prog(d, sk_fd, insns);
	LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = BPF_CGROUP_INET_SOCK_CREATE,
		    .log_buf = log, .log_size = sizeof(log), .log_level = 0);
	int err;

	if (rt_path(rt, path, sizeof(path), SEC_DIR "/stamp_%" PRIu64, d->cgid))
		return -ENAMETOOLONG;
	if (!access(path, F_OK))
		return 0; /* there already (a cgroup's id is never reused for another level) */
	pfd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK, "ipt_sec_stamp", "GPL", insns, n, &po);
	if (pfd < 0) {
		err = -errno;
		/* Retry with the log: only the failure is worth its cost. */
		po.log_level = 1;
		bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK, "ipt_sec_stamp", "GPL", insns, n, &po);
		return ipt2bpf_diag_set(
			diag, err, "domain %s: the socket stamping program was refused: %s\n%s",
			d->name, strerror(-err), log);
	}
	cfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0)
		return ipt2bpf_diag_set(diag, -errno, "domain %s: %s: %s", d->name, d->path,
					strerror(errno));
	lfd = bpf_link_create(pfd, cfd, BPF_CGROUP_INET_SOCK_CREATE, NULL);
	if (lfd < 0)
		return ipt2bpf_diag_set(diag, -errno,
					"domain %s: cannot attach to %s (cgroup sock_create): %s",
					d->name, d->path, strerror(errno));
	err = rt_pin_replace(lfd, path);
	if (err)
		return ipt2bpf_diag_set(diag, err, "%s: cannot pin it: %s", path, strerror(-err));
	return 0;
}

/*
 * Sockets that exist already (a server started before the policy) were
 * never created under a stamping program: stamp the sockets the processes
 * of the domain's cgroups hold now, through a copy of each descriptor
 * (pidfd_getfd(), Linux 5.6): SK_STORAGE maps take a socket fd as key.  A
 * deeper domain's stamp stays.  Best effort: processes come and go.
 */
static unsigned int stamp_procs(const char *cgdir, const struct ipt2bpf_sec_domain *d, int sk_fd,
				unsigned int depth)
{
	const struct ipt2bpf_sec_stamp want = {.cgid = d->cgid, .level1 = d->level + 1};
	char path[PATH_MAX];
	unsigned int n = 0;
	struct dirent *de;
	FILE *f;
	DIR *dir;
	int pid;

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", cgdir) >= (int)sizeof(path))
		return 0;
	f = fopen(path, "re");
	while (f && fscanf(f, "%d", &pid) == 1) {
		int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		DIR *fds;

		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		fds = pidfd >= 0 ? opendir(path) : NULL;
		while (fds && (de = readdir(fds))) {
			struct ipt2bpf_sec_stamp have;
			char link[64];
			ssize_t len;
			int tfd;

			len = readlinkat(dirfd(fds), de->d_name, link, sizeof(link) - 1);
			if (len < 7 || memcmp(link, "socket:", 7))
				continue;
			tfd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0);
			if (tfd < 0)
				continue;
			if (bpf_map_lookup_elem(sk_fd, &tfd, &have) || have.level1 < want.level1)
				n += !bpf_map_update_elem(sk_fd, &tfd, &want, BPF_ANY);
			close(tfd);
		}
		if (fds)
			closedir(fds);
		if (pidfd >= 0)
			close(pidfd);
	}
	if (f)
		fclose(f);
	/* The domain is the subtree: its child cgroups' processes too. */
	dir = depth < 64 ? opendir(cgdir) : NULL;
	while (dir && (de = readdir(dir))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", cgdir, de->d_name) < (int)sizeof(path))
			n += stamp_procs(path, d, sk_fd, depth + 1);
	}
	if (dir)
		closedir(dir);
	return n;
}

/* Stamps exactly for the policy's domains: new ones attached, stale ones removed. */
static int stamps_sync(const struct ipt2bpf_runtime *rt, const struct ipt2bpf_policy *p,
		       struct ipt2bpf_diag *diag)
{
	char path[PATH_MAX];
	_cleanup_close_ int sk_fd = -1;
	struct dirent *de;
	DIR *dir;
	int err = 0;

	if (p && p->n_domains) {
		sk_fd = sk_map_ensure(rt, diag);
		if (sk_fd < 0)
			return sk_fd;
		for (unsigned int i = 0; i < p->n_domains && !err; i++)
			err = stamp_attach(rt, &p->domains[i], sk_fd, diag);
		if (err)
			return err;
		/* After the programs: a socket made meanwhile is stamped by them. */
		for (unsigned int i = 0; i < p->n_domains; i++)
			stamp_procs(p->domains[i].path, &p->domains[i], sk_fd, 0);
	}
	if (rt_path(rt, path, sizeof(path), SEC_DIR))
		return -ENAMETOOLONG;
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		uint64_t cgid;
		bool keep = false;
		char *end;

		if (strncmp(de->d_name, "stamp_", 6))
			continue;
		cgid = strtoull(de->d_name + 6, &end, 10);
		for (unsigned int i = 0; p && !*end && i < p->n_domains; i++)
			keep |= p->domains[i].cgid == cgid;
		/* Unpinning the link detaches the program. */
		if (!keep)
			unlinkat(dirfd(dir), de->d_name, 0);
	}
	closedir(dir);
	return 0;
}

/* ------------------------------------------------------------ prepare / commit */

int ipt2bpf_rt_sec_prepare(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec *s,
			   struct ipt2bpf_diag *diag)
{
	struct ipt2bpf_rt_sec_state st;
	_cleanup_free_ char *old_policy = NULL;
	bool have_state = false;
	char path[PATH_MAX];
	int err;

	memset(&s->opts, 0, sizeof(s->opts));
	if (s->sink) {
		err = ipt2bpf_label_sink_parse(s->sink, &s->opts, diag);
		if (err)
			return err;
	}
	if (s->opts.sink_none && s->policy_path)
		return ipt2bpf_diag_set(diag, -EINVAL,
					"--label-sink none and --policy contradict each other");

	s->opts.labels = &s->labels;
	/* A policy that does not parse changes nothing. */
	if (s->policy_path) {
		err = ipt2bpf_policy_read(s->policy_path, &s->policy, diag);
		if (err)
			return err;
	}
	/* No state and nothing asked for: nothing to read, and no directory to make. */
	err = rt_lock(rt, true, false, diag);
	if (err == -ENOENT && !s->policy_path && !s->sink)
		return 0;
	if (err == -ENOENT)
		err = rt_lock(rt, true, true, diag);
	if (err)
		return err;
	err = labels_read(rt, &s->labels, diag);
	if (!err) {
		err = state_read(rt, &st, &old_policy, diag);
		have_state = !err;
		if (err == -ENOENT)
			err = 0;
	}
	if (err)
		goto out;
	s->n_labels_before = s->labels.n;

	/* Settings not given stay as they are: a reload keeps the policy and the mark sink. */
	if (!s->sink && have_state) {
		s->opts.mark_mask = st.mark_mask;
		s->opts.sink_none = !!(st.flags & IPT2BPF_RT_SEC_F_SINK_NONE);
		s->kept = true;
	}
	if (!s->policy_path && old_policy && !s->no_policy && !s->opts.sink_none) {
		err = ipt2bpf_policy_parse(old_policy, st.policy_len, st.policy_source, &s->policy,
					   diag);
		s->kept = true;
		if (err)
			goto out;
	}
	if (s->policy) {
		err = ipt2bpf_policy_resolve(s->policy, diag);
		if (err)
			goto out;
		s->opts.policy = s->policy;
		s->opts.sink_none = false;
		err = sk_map_ensure(rt, diag);
		if (err < 0)
			goto out;
		close(err);
		err = 0;
	}
	if (rt_path(rt, path, sizeof(path), SEC_DIR)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	err = rt_mkdir(path, diag);
out:
	rt_unlock(rt);
	return err;
}

int ipt2bpf_rt_sec_commit(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec *s,
			  struct ipt2bpf_diag *diag)
{
	struct ipt2bpf_rt_sec_state st = {
		.magic = IPT2BPF_RT_SEC_MAGIC,
		.version = IPT2BPF_RT_SEC_VERSION,
		.mark_mask = s->opts.mark_mask,
	};
	char path[PATH_MAX];
	int err;

	err = rt_lock(rt, true, true, diag);
	if (err)
		return err;
	if (rt_path(rt, path, sizeof(path), SEC_DIR)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	err = rt_mkdir(path, diag);
	if (!err)
		err = labels_write(rt, &s->labels, s->n_labels_before, diag);
	if (err)
		goto out;
	if (s->opts.sink_none)
		st.flags |= IPT2BPF_RT_SEC_F_SINK_NONE;
	st.n_labels = s->labels.n;
	if (s->policy) {
		st.flags |= IPT2BPF_RT_SEC_F_POLICY;
		st.policy_len = (uint32_t)s->policy->len;
		/* Where it came from, for `labels`: absolute when it was a file given now. */
		if (!s->policy_path || !realpath(s->policy_path, st.policy_source))
			snprintf(st.policy_source, sizeof(st.policy_source), "%s",
				 s->policy->source);
		if (rt_path(rt, path, sizeof(path), SEC_DIR "/policy")) {
			err = -ENAMETOOLONG;
			goto out;
		}
		err = rt_bytes_pin(path, "ipt_sec_policy", s->policy->text, s->policy->len, diag);
		if (err)
			goto out;
	}
	if (rt_path(rt, path, sizeof(path), SEC_DIR "/state")) {
		err = -ENAMETOOLONG;
		goto out;
	}
	err = rt_bytes_pin(path, "ipt_sec_state", &st, sizeof(st), diag);
	if (!err)
		err = stamps_sync(rt, s->policy, diag);
out:
	rt_unlock(rt);
	return err;
}

void ipt2bpf_rt_sec_release(struct ipt2bpf_rt_sec *s)
{
	ipt2bpf_labels_release(&s->labels);
	ipt2bpf_policy_free(s->policy);
	s->policy = NULL;
	memset(&s->opts, 0, sizeof(s->opts));
}

/* ------------------------------------------------------------ reading back */

static int denials_read(const struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec_info *info,
			struct ipt2bpf_diag *diag)
{
	struct ipt2bpf_sec_denykey key, next;
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	bool first = true;

	/* The shared map; without shared-map support, the generation's own. */
	if (rt_path(rt, path, sizeof(path), "shared/%s", IPT2BPF_MAP_SEC_DENY))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (rt_path(rt, path, sizeof(path), "current/map_%s", IPT2BPF_MAP_SEC_DENY))
			return -ENAMETOOLONG;
		fd = bpf_obj_get(path);
	}
	if (fd < 0)
		return 0;
	while (!bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		struct ipt2bpf_rt_denial *d;
		uint64_t count;

		first = false;
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &count))
			continue;
		d = realloc(info->denials, (info->n_denials + 1) * sizeof(*d));
		if (!d)
			return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
		info->denials = d;
		info->denials[info->n_denials++] = (struct ipt2bpf_rt_denial){
			.subj = key.subj, .label = key.label, .perm = key.perm, .count = count};
	}
	return 0;
}

static int cmp_denial(const void *a, const void *b)
{
	const struct ipt2bpf_rt_denial *x = a, *y = b;

	if (x->subj != y->subj)
		return x->subj < y->subj ? -1 : 1;
	if (x->label != y->label)
		return x->label < y->label ? -1 : 1;
	return x->perm < y->perm ? -1 : x->perm > y->perm;
}

int ipt2bpf_rt_sec_info_get(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec_info *info,
			    struct ipt2bpf_diag *diag)
{
	_cleanup_free_ char *policy = NULL;
	char path[PATH_MAX];
	DIR *dir;
	int err;

	memset(info, 0, sizeof(*info));
	err = rt_lock(rt, false, false, diag);
	if (err)
		return err;
	err = state_read(rt, &info->st, &policy, diag);
	if (!err)
		err = labels_read(rt, &info->labels, diag);
	if (!err && policy)
		err = ipt2bpf_policy_parse(policy, info->st.policy_len, info->st.policy_source,
					   &info->policy, diag);
	/* cgroup ids as the stamps were made: the domains' directories may be gone since. */
	if (!err && info->policy)
		ipt2bpf_policy_resolve(info->policy, &(struct ipt2bpf_diag){0});
	if (!err)
		err = denials_read(rt, info, diag);
	if (!err && !rt_path(rt, path, sizeof(path), SEC_DIR) && (dir = opendir(path))) {
		struct dirent *de;

		while ((de = readdir(dir)))
			info->n_stamps += !strncmp(de->d_name, "stamp_", 6);
		closedir(dir);
	}
	rt_unlock(rt);
	if (err)
		return err;
	info->loaded = true;
	if (info->n_denials)
		qsort(info->denials, info->n_denials, sizeof(*info->denials), cmp_denial);
	return 0;
}

void ipt2bpf_rt_sec_info_release(struct ipt2bpf_rt_sec_info *info)
{
	ipt2bpf_labels_release(&info->labels);
	ipt2bpf_policy_free(info->policy);
	free(info->denials);
	memset(info, 0, sizeof(*info));
}

const char *ipt2bpf_rt_sec_subj_name(const struct ipt2bpf_rt_sec_info *info, uint64_t subj,
				     char *buf, size_t len)
{
	if (subj == IPT2BPF_SEC_SUBJ_UNCONFINED)
		return IPT2BPF_SEC_UNCONFINED;
	if (subj == IPT2BPF_SEC_SUBJ_UNLABELED)
		return IPT2BPF_SEC_UNLABELED;
	for (unsigned int i = 0; info->policy && i < info->policy->n_domains; i++)
		if (info->policy->domains[i].cgid == subj)
			return info->policy->domains[i].name;
	snprintf(buf, len, "cgroup:%" PRIu64, subj);
	return buf;
}

void ipt2bpf_rt_sec_print_denials(const struct ipt2bpf_rt_sec_info *info, FILE *f)
{
	for (unsigned int i = 0; i < info->n_denials; i++) {
		const struct ipt2bpf_rt_denial *d = &info->denials[i];
		const char *ctx = ipt2bpf_labels_ctx(&info->labels, d->label);
		char buf[64];

		fprintf(f,
			"avc:  denied  { %s } for  scontext=%s tcontext=%s tclass=packet "
			"count=%" PRIu64 "\n",
			ipt2bpf_sec_perm_name(d->perm),
			ipt2bpf_rt_sec_subj_name(info, d->subj, buf, sizeof(buf)),
			ctx	   ? ctx
			: d->label ? "?"
				   : IPT2BPF_SEC_UNLABELED,
			d->count);
	}
}
