// SPDX-License-Identifier: GPL-2.0
/*
 * -m cgroup (revisions 0-2) at OUTPUT, as cgroup_mt_v0/v1/v2() (xt_cgroup.c)
 * decide it on skb->sk itself: no socket, a socket that is not a full one
 * (a listener's request socket sending a SYN-ACK, a TIME_WAIT socket) or
 * one of another network namespace never matches, inverted or not.  Then
 *
 *   --path P:    is the socket's cgroup v2 cgroup (sk_cgrp_data.cgroup,
 *                set when the socket was created) P or below it?  The kernel
 *                resolves P when the rule is inserted (cgroup_get_from_path:
 *                from the cgroup namespace's root, components split at '/',
 *                empty ones skipped, "." and ".." taken as names, which no
 *                cgroup has) and keeps a reference.  We resolve it when the
 *                rule set is compiled, on this host, to the cgroup's id (its
 *                directory's inode number) and level (its depth), and test
 *                bpf_skb_ancestor_cgroup_id(skb, level) == id, which is
 *                cgroup_is_descendant().  A path that does not resolve is
 *                refused, as the kernel refuses the rule (EINVAL).  Every
 *                table replacement re-resolves the paths in the kernel too
 *                (checkentry runs for every rule), so a recompile is what
 *                the kernel does.  A cgroup removed while the rule is loaded
 *                keeps its id (ids are never reused): sockets created in it
 *                before still match, as with the kernel's reference, and no
 *                new socket can be created in it.
 *   --cgroup ID: the socket's net_cls class id, sk_cgrp_data.classid, read
 *                from the socket.  bpf_get_cgroup_classid() is not that
 *                everywhere: until a 2025 fix (task_get_classid() testing
 *                softirq_count() instead of in_serving_softirq(); 6.1 has
 *                the old test) it returns the sending task's class id in
 *                process context, which differs from the socket's when a
 *                socket is used by another task than the one whose net_cls
 *                group tagged it (shared or passed descriptors, kernel
 *                threads), and it takes a request socket's listener.
 *
 * The socket's state, network namespace and class id are read like
 * m_owner.c does: bpf_rdonly_cast() (kernel 6.2 or later) with offsets from
 * the running kernel's BTF.  Paths and layouts are this host's, so ELF
 * objects (-o) refuse the match.
 *
 * INPUT is refused: there the kernel sees the receiving socket only after
 * early demux (established TCP, connected UDP), which runs after TC ingress,
 * where ipt2bpf judges INPUT.  Trace programs (BPF_PROG_TEST_RUN) judge
 * captured packets, which have no socket: the match fails, as for any
 * packet without one (the test run's dummy socket is not the sender's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <linux/netfilter/xt_cgroup.h>
#include <bpf/btf.h>

#include "btf_vmlinux.h"
#include "gen_pre.h"

#define CG_TCP_TIME_WAIT     6 /* include/net/tcp_states.h */
#define CG_TCP_NEW_SYN_RECV  12
#define CG_INIT_CGROUPNS_INO 0xEFFFFFFBU /* PROC_CGROUP_INIT_INO */

/* One use, decoded from any revision. */
struct cg_rule {
	bool has_path, has_classid, inv;
	const char *path; /* NUL-terminated (checked) */
	size_t path_max;
	uint32_t classid;
};

/* What the code needs from the running kernel's BTF. */
struct cg_btf {
	struct gen_sk_btf sk; /* the packet's socket */
	int sk_classid;	      /* -1: no sock_cgroup_data.classid (no CONFIG_CGROUP_NET_CLASSID) */
};

static void cg_decode(const void *data, uint8_t revision, struct cg_rule *r)
{
	memset(r, 0, sizeof(*r));
	if (revision == 0) {
		const struct xt_cgroup_info_v0 *i = data;

		r->has_classid = true;
		r->classid = i->id;
		r->inv = i->invert;
	} else if (revision == 1) {
		const struct xt_cgroup_info_v1 *i = data;

		r->has_path = i->has_path;
		r->has_classid = i->has_classid;
		r->inv = r->has_path ? i->invert_path : i->invert_classid;
		r->path = i->path;
		r->path_max = sizeof(i->path);
		r->classid = i->classid;
	} else {
		const struct xt_cgroup_info_v2 *i = data;

		r->has_path = i->has_path;
		r->has_classid = i->has_classid;
		r->inv = r->has_path ? i->invert_path : i->invert_classid;
		r->path = i->path;
		r->path_max = sizeof(i->path);
		r->classid = i->classid;
	}
}

static int cgroup_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	struct cg_rule r;

	(void)t, (void)e, (void)len;
	/* cgroup_mt_check_v0/v1/v2(): what the kernel rejects. */
	if (revision == 0) {
		const struct xt_cgroup_info_v0 *i = data;

		if (i->invert & ~1U) {
			snprintf(why, whylen, "invert flag 0x%x (the kernel rejects it: EINVAL)",
				 i->invert);
			return -EOPNOTSUPP;
		}
	} else {
		/* v1 and v2 begin alike */
		const struct xt_cgroup_info_v2 *i = data;

		if ((i->invert_path & ~1U) || (i->invert_classid & ~1U)) {
			snprintf(why, whylen,
				 "invert flags 0x%x/0x%x (the kernel rejects them: EINVAL)",
				 i->invert_path, i->invert_classid);
			return -EOPNOTSUPP;
		}
	}
	cg_decode(data, revision, &r);
	if (r.has_path == r.has_classid) {
		snprintf(why, whylen, "%s (the kernel rejects it: EINVAL)",
			 r.has_path ? "both --path and --cgroup" : "neither --path nor --cgroup");
		return -EOPNOTSUPP;
	}
	if (r.has_path && strnlen(r.path, r.path_max) >= r.path_max) {
		snprintf(why, whylen,
			 "--path is not NUL-terminated (the kernel rejects it: ENAMETOOLONG)");
		return -EOPNOTSUPP;
	}
	return 0;
}

static void cgroup_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	struct cg_rule r;

	(void)len;
	cg_decode(data, revision, &r);
	if (r.has_path)
		fprintf(f, "%s--path \"%s\"", r.inv ? "! " : "", r.path);
	else
		fprintf(f, "%s--cgroup %u", r.inv ? "! " : "", r.classid);
}

/* Unescapes mountinfo's octal escapes (\040 for a space) in place. */
static void cg_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* A mount point of the cgroup v2 hierarchy's root (mountinfo root "/"). */
static int cg_mount(char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (err && getline(&line, &cap, f) > 0) {
		char root[4096], mnt[4096], *dash = strstr(line, " - ");
		char fstype[64];

		if (!dash || sscanf(dash, " - %63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
			continue;
		cg_unescape(root);
		if (strcmp(root, "/"))
			continue;
		cg_unescape(mnt);
		if (snprintf(out, outlen, "%s", mnt) < (int)outlen)
			err = 0;
	}
	free(line);
	fclose(f);
	return err;
}

/*
 * cgroup_get_from_path() on this host: the cgroup v2 directory for path,
 * its id and level.  -EINVAL with why for what the kernel refuses (EINVAL),
 * another errno with why when this host cannot tell.
 */
static int cg_resolve(const char *path, uint64_t *id, unsigned int *level, char *why, size_t whylen)
{
	char mnt[4096], comp[4096];
	struct statfs sfs;
	struct stat st;
	const char *p = path;
	int fd, err;

	if (stat("/proc/self/ns/cgroup", &st) == 0 && st.st_ino != CG_INIT_CGROUPNS_INO) {
		snprintf(why, whylen,
			 "running in a cgroup namespace, whose root the kernel would resolve "
			 "--path from");
		return -EOPNOTSUPP;
	}
	err = cg_mount(mnt, sizeof(mnt));
	if (err) {
		snprintf(why, whylen, "no cgroup v2 hierarchy mounted (%s)", strerror(-err));
		return err;
	}
	fd = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstatfs(fd, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		err = fd < 0 ? -errno : -ENOENT;
		snprintf(why, whylen, "%.200s is not a cgroup v2 mount", mnt);
		goto out;
	}
	*level = 0;
	while (*p) {
		size_t n = strcspn(p, "/");
		int next;

		if (n == 0) { /* kernfs_walk_ns() skips empty components */
			p++;
			continue;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		if (!strcmp(comp, ".") || !strcmp(comp, "..")) {
			snprintf(why, whylen,
				 "cgroup path \"%.200s\": the kernel takes \"%.8s\" as a name, "
				 "which no cgroup has, and rejects the rule (EINVAL)",
				 path, comp);
			err = -EINVAL;
			goto out;
		}
		next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			snprintf(why, whylen,
				 "cgroup path \"%.200s\" is not a cgroup under %.200s (%s): "
				 "the kernel rejects the rule (EINVAL)",
				 path, mnt, strerror(errno));
			err = -EINVAL;
			goto out;
		}
		close(fd);
		fd = next;
		(*level)++;
	}
	{
		struct {
			struct file_handle fh;
			uint64_t id;
		} h = {.fh.handle_bytes = sizeof(uint64_t)};
		int mount_id;

		/* The kernfs file handle is the node id: cgroup_id() (as libbpf does). */
		errno = 0;
		if (name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH) ||
		    h.fh.handle_bytes != sizeof(uint64_t)) {
			err = errno ? -errno : -EIO;
			snprintf(why, whylen, "cgroup path \"%.200s\": cannot read its id (%s)",
				 path, strerror(-err));
			goto out;
		}
		memcpy(id, h.fh.f_handle, sizeof(*id));
	}
	err = 0;
out:
	if (fd >= 0)
		close(fd);
	return err;
}

static int cg_btf_resolve(struct cg_btf *o, char *what, size_t whatlen)
{
	struct btf *btf = gen_btf_vmlinux();
	uint32_t off;
	int err;

	if (!btf) {
		snprintf(what, whatlen, "the kernel's BTF (/sys/kernel/btf/vmlinux)");
		return -ENOENT;
	}
	err = gen_sk_btf_resolve(btf, &o->sk, what, whatlen);
	o->sk_classid = -1;
	if (!err && !gen_btf_offset(btf, "sock", "sk_cgrp_data.classid", &off, NULL) &&
	    off <= INT16_MAX)
		o->sk_classid = (int)off;
	btf__free(btf);
	return err;
}

/*
 * The module's private slot: the BTF facts and each --path use's cgroup,
 * resolved once per compilation (prepare()) so that every program of the
 * set tests the same cgroup, as the kernel's rule holds one.
 */
struct cg_priv {
	struct cg_btf b;
	unsigned int n;
	struct cg_res {
		const void *data; /* the use's payload */
		uint64_t id;
		unsigned int level;
	} res[];
};

static const struct ipt2bpf_mod mod_cgroup;

static const struct cg_priv *cg_priv_get(struct gen *g)
{
	void **priv;

	if (gen_mod_use(g, &mod_cgroup, &priv))
		return NULL;
	return *priv;
}

/*
 * cgroup_mt_v*() for one use, in the main program (R9 = skb): falls through
 * on a match, jumps to l_no otherwise.  Uses R0-R5 and FP_TMP.
 */
static int cgroup_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	const struct cg_priv *cp = cg_priv_get(g);
	const struct cg_btf *o = cp ? &cp->b : NULL;
	int l_in = LABEL(), l_match = LABEL();
	struct cg_rule r;
	uint64_t id = 0;
	unsigned int level = 0;

	(void)l_drop;
	if (!o)
		return -EINVAL;
	cg_decode(data, revision, &r);
	if (g->prog->role == IPT2BPF_P_TRACE) {
		/* captured packets have no socket */
		EJ(BPF_JMP_A(0), l_no);
		return g->p->e.err;
	}
	if (r.has_path) {
		unsigned int k = 0;

		while (k < cp->n && cp->res[k].data != data)
			k++;
		if (k == cp->n) /* prepare() resolved every use */
			return ipt2bpf_diag_set(g->diag, -EINVAL, "match 'cgroup': unprepared use");
		id = cp->res[k].id;
		level = cp->res[k].level;
	}
	/* skb->sk, a full socket (not skb_to_full_sk(): a request socket fails), same net */
	gen_out_sock(g, &o->sk, l_no);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, CG_TCP_TIME_WAIT, 0), l_no);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, CG_TCP_NEW_SYN_RECV, 0), l_no);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_0, (int16_t)o->sk.sk_net));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_4, BPF_REG_10, FP_TMP));
	EJ(BPF_JMP_REG(BPF_JNE, BPF_REG_3, BPF_REG_4, 0), l_no);
	if (r.has_path) {
		/* cgroup_is_descendant(sk's cgroup, P): P is its ancestor at P's level */
		E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
		E(BPF_MOV64_IMM(BPF_REG_2, (int32_t)level));
		E(BPF_CALL_HELPER(BPF_FUNC_skb_ancestor_cgroup_id));
		E(BPF_LD_IMM64_RAW_1(BPF_REG_1, 0, id));
		E(BPF_LD_IMM64_RAW_2(id));
		EJ(BPF_JMP_REG(BPF_JEQ, BPF_REG_0, BPF_REG_1, 0), l_in);
	} else {
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, (int16_t)o->sk_classid));
		EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, (int32_t)r.classid, 0), l_in);
	}
	/* (equal) ^ invert */
	EJ(BPF_JMP_A(0), r.inv ? l_match : l_no);
	BIND(l_in);
	if (r.inv)
		EJ(BPF_JMP_A(0), l_no);
	BIND(l_match);
	return g->p->e.err;
}

static int cgroup_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			  uint8_t revision)
{
	unsigned int hooks = g->tables[ti]->entries[idx].hooks;
	const char *opt;
	struct cg_rule r;
	char what[512] = "";
	uint64_t id = 0;
	unsigned int level = 0;
	void **priv;
	int err;

	cg_decode(data, revision, &r);
	opt = r.has_path ? "--path" : "--cgroup";
	if (hooks & ((1U << NF_INET_LOCAL_IN) | (1U << NF_INET_FORWARD)))
		return gen_refuse(
			g, ti, idx,
			"match 'cgroup' %s: only at OUTPUT: at INPUT the kernel knows the "
			"receiving socket only after early demux, which runs after TC "
			"ingress, where ipt2bpf judges INPUT",
			opt);
	if (g->opts->object)
		return gen_refuse(
			g, ti, idx,
			"match 'cgroup' %s: not in ELF objects (-o): the socket is read "
			"with the running kernel's structure layout%s; use `ipt2bpf load`",
			opt, r.has_path ? " and the path resolved on this host" : "");
	if (r.has_path) {
		err = cg_resolve(r.path, &id, &level, what, sizeof(what));
		if (err)
			return gen_refuse(g, ti, idx, "match 'cgroup' --path: %s", what);
	}
	err = gen_mod_use(g, &mod_cgroup, &priv);
	if (err)
		return err;
	if (!*priv) {
		struct cg_priv *cp = calloc(1, sizeof(*cp));

		if (!cp)
			return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
		err = cg_btf_resolve(&cp->b, what, sizeof(what));
		if (err) {
			free(cp);
			return gen_refuse(g, ti, idx,
					  "match 'cgroup': needs %s, which this kernel lacks (%s)",
					  what, strerror(-err));
		}
		*priv = cp;
	}
	if (r.has_path) {
		struct cg_priv *cp = *priv;

		cp = realloc(cp, sizeof(*cp) + (cp->n + 1) * sizeof(cp->res[0]));
		if (!cp)
			return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
		cp->res[cp->n++] = (struct cg_res){.data = data, .id = id, .level = level};
		*priv = cp;
	}
	if (r.has_classid && ((struct cg_priv *)*priv)->b.sk_classid < 0)
		return gen_refuse(
			g, ti, idx,
			"match 'cgroup' --cgroup: this kernel has no net_cls class ids "
			"(CONFIG_CGROUP_NET_CLASSID; the kernel rejects the rule: EINVAL)");
	return gen_pre_add(g, ti, idx, data, revision, cgroup_eval, 0);
}

static int cgroup_emit(struct gen *g, unsigned int ti, unsigned int idx,
		       const struct ipt2bpf_match *m, int l_fail)
{
	return gen_pre_test(g, ti, idx, m->data, l_fail);
}

static const struct ipt2bpf_mod mod_cgroup = {
	.name = "cgroup",
	.revisions = (1U << 0) | (1U << 1) | (1U << 2),
	.check = cgroup_check,
	.dump = cgroup_dump,
	.prepare = cgroup_prepare,
	.emit_match = cgroup_emit,
};
IPT2BPF_MOD_REGISTER(mod_cgroup);
