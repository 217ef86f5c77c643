// SPDX-License-Identifier: GPL-2.0
/* Loading a program set straight into the kernel: maps, fd patching, verification. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "load.h"
#include "m_addrtype.h"
#include "../translator/util.h"

#define VERIFIER_LOG_SIZE  (16U << 20)
#define VERIFIER_LOG_LINES 30

void ipt2bpf_loaded_close(struct ipt2bpf_loaded *l)
{
	for (unsigned int i = 0; i < l->n_maps; i++)
		if (l->map_fds[i] >= 0)
			close(l->map_fds[i]);
	for (unsigned int i = 0; i < l->n_progs; i++)
		if (l->prog_fds[i] >= 0)
			close(l->prog_fds[i]);
	free(l->prog_fds);
	memset(l, 0, sizeof(*l));
}

/* The last lines of the verifier log that fit in room bytes: where the error is. */
static const char *log_tail(const char *log, size_t room, int *len_out)
{
	size_t len = strlen(log);
	const char *p;
	unsigned int lines = 0;

	while (len && log[len - 1] == '\n')
		len--;
	for (p = log + len; p > log; p--) {
		if (p[-1] == '\n' && ++lines == VERIFIER_LOG_LINES)
			break;
		if ((size_t)(log + len - p) + 1 >= room) {
			/* Start at a line boundary if there is one. */
			const char *nl = memchr(p, '\n', (size_t)(log + len - p));

			if (nl)
				p = nl + 1;
			break;
		}
	}
	*len_out = (int)(log + len - p);
	return p;
}

/*
 * A map's initial contents (ipt2bpf_map_spec.init_*: the optimiser's lookup
 * maps), in batches where the map type has them, one by one where not.
 */
static int map_init(const struct ipt2bpf_map_spec *m, int fd, struct ipt2bpf_diag *diag)
{
	const unsigned char *k = m->init_keys, *v = m->init_values;
	_cleanup_free_ uint32_t *idx = NULL;
	uint32_t done = 0;

	if (!m->n_init)
		return 0;
	if (!k) {
		/* An array: the values are elements 0, 1, ... */
		idx = malloc((size_t)m->n_init * sizeof(*idx));
		if (!idx)
			return ipt2bpf_diag_set(diag, -ENOMEM, "map %s: out of memory", m->name);
		for (uint32_t i = 0; i < m->n_init; i++)
			idx[i] = i;
		k = (const unsigned char *)idx;
	}
	if (m->type != BPF_MAP_TYPE_LPM_TRIE) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = BPF_ANY);
		uint32_t count = m->n_init;

		if (!bpf_map_update_batch(fd, k, v, &count, &bo))
			return 0;
		done = count; /* a kernel without batches: the rest one by one */
	}
	for (uint32_t i = done; i < m->n_init; i++)
		if (bpf_map_update_elem(fd, k + (size_t)i * m->key_size,
					v + (size_t)i * m->value_size, BPF_ANY)) {
			int err = -errno;

			return ipt2bpf_diag_set(diag, err, "map %s: cannot fill it: %s", m->name,
						strerror(-err));
		}
	return 0;
}

/*
 * A shared map (ipt2bpf_map_spec.shared) the caller kept from an earlier
 * load, reused if its layout is still this one: a new fd to it, else -1.
 */
static int reuse_map(const struct ipt2bpf_map_spec *m, int fd)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return -1;
	if (info.type != m->type || info.key_size != m->key_size ||
	    info.value_size != m->value_size || info.max_entries != m->max_entries)
		return -1;
	return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

static int create_maps(const struct ipt2bpf_progset *ps, struct ipt2bpf_loaded *l,
		       const int *reuse, struct ipt2bpf_diag *diag)
{
	for (unsigned int i = 0; i < ps->n_maps; i++) {
		const struct ipt2bpf_map_spec *m = &ps->maps[i];

		if (reuse && m->shared) {
			int rfd = reuse_map(m, reuse[i]);

			if (rfd >= 0) {
				l->map_fds[i] = rfd;
				continue;
			}
		}
		LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = m->flags);
		int fd = bpf_map_create(m->type, m->name, m->key_size, m->value_size,
					m->max_entries, &mo);

		if (fd < 0) {
			int err = -errno;

			return ipt2bpf_diag_set(diag, err, "map %s: cannot create it: %s", m->name,
						strerror(-err));
		}
		l->map_fds[i] = fd;
		fd = map_init(m, fd, diag);
		if (fd)
			return fd;
	}
	return 0;
}

/*
 * BTF for a program with global functions: each function's BTF_KIND_FUNC,
 * global ones as "int f(struct ipt2bpf_pkt *p)" with the struct's size (what
 * the kernel checks callers against and gives the callee), func_info
 * pointing at every function.  *btf is set even on failure (caller frees).
 */
static int prog_btf(const struct ipt2bpf_progset *ps, const struct ipt2bpf_prog *p,
		    struct btf **btfp, struct bpf_func_info **infop)
{
	struct bpf_func_info *info;
	int int_id, u8_id, arr_id, st_id, ptr_id, void_ptr, proto_g, proto_s, err;
	struct btf *btf;

	*btfp = btf = btf__new_empty();
	if (!btf)
		return -errno;
	*infop = info = calloc(p->n_funcs, sizeof(*info));
	if (!info)
		return -ENOMEM;
	int_id = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	u8_id = btf__add_int(btf, "unsigned char", 1, 0);
	arr_id = btf__add_array(btf, int_id, u8_id, ps->arg_size);
	st_id = btf__add_struct(btf, "ipt2bpf_pkt", ps->arg_size);
	if (int_id < 0 || u8_id < 0 || arr_id < 0 || st_id < 0)
		return -EINVAL;
	err = btf__add_field(btf, "raw", arr_id, 0, 0);
	ptr_id = btf__add_ptr(btf, st_id);
	void_ptr = btf__add_ptr(btf, 0);
	if (err || ptr_id < 0 || void_ptr < 0)
		return -EINVAL;
	proto_g = btf__add_func_proto(btf, int_id);
	if (proto_g < 0 || btf__add_func_param(btf, "p", ptr_id))
		return -EINVAL;
	proto_s = btf__add_func_proto(btf, int_id);
	if (proto_s < 0 || btf__add_func_param(btf, "ctx", void_ptr))
		return -EINVAL;
	for (unsigned int k = 0; k < p->n_funcs; k++) {
		const struct ipt2bpf_func *f = &p->funcs[k];
		bool g = p->func_global && p->func_global[k];
		int id = btf__add_func(btf, f->name, g ? BTF_FUNC_GLOBAL : BTF_FUNC_STATIC,
				       g ? proto_g : proto_s);

		if (id < 0)
			return id;
		info[k] = (struct bpf_func_info){.insn_off = f->start, .type_id = (uint32_t)id};
	}
	return btf__load_into_kernel(btf);
}

/* Patches map fds in and loads; on a rejection the diag quotes the verifier log's tail. */
static int load_insns(const struct ipt2bpf_progset *ps, const struct ipt2bpf_prog *p,
		      const struct ipt2bpf_loaded *l, struct bpf_prog_load_opts *po,
		      struct ipt2bpf_diag *diag)
{
	_cleanup_free_ struct bpf_insn *insns = NULL;
	_cleanup_free_ char *log = NULL;
	int fd, err;

	insns = malloc((size_t)p->n_insns * sizeof(*insns));
	if (!insns)
		return ipt2bpf_diag_set(diag, -ENOMEM, "%s: out of memory", p->name);
	memcpy(insns, p->insns, (size_t)p->n_insns * sizeof(*insns));
	for (unsigned int i = 0; i < p->n_relocs; i++) {
		const struct ipt2bpf_reloc *r = &p->relocs[i];

		if (r->insn >= p->n_insns || r->map >= ps->n_maps ||
		    insns[r->insn].code != (BPF_LD | BPF_DW | BPF_IMM))
			return ipt2bpf_diag_set(diag, -EINVAL, "%s: bad map relocation %u", p->name,
						i);
		insns[r->insn].src_reg = BPF_PSEUDO_MAP_FD;
		insns[r->insn].imm = l->map_fds[r->map];
	}

	fd = bpf_prog_load(p->type, p->name, "GPL", insns, p->n_insns, po);
	if (fd >= 0)
		return fd;
	err = -errno;
	/* Load again with the log on (it is slow and big) to say why. */
	log = calloc(1, VERIFIER_LOG_SIZE);
	if (log) {
		po->log_buf = log;
		po->log_size = VERIFIER_LOG_SIZE;
		po->log_level = 1;
		fd = bpf_prog_load(p->type, p->name, "GPL", insns, p->n_insns, po);
		po->log_buf = NULL;
		if (fd >= 0) /* cannot happen, but then it loaded */
			return fd;
		if (log[0]) {
			size_t room = sizeof(diag->msg) - strlen(p->name) - 64;
			int n;
			const char *tail = log_tail(log, room, &n);

			return ipt2bpf_diag_set(diag, err,
						"%s: the verifier rejected it (%s):\n%.*s", p->name,
						strerror(-err), n, tail);
		}
	}
	return ipt2bpf_diag_set(diag, err, "%s: cannot load it: %s", p->name, strerror(-err));
}

static int load_prog(const struct ipt2bpf_progset *ps, const struct ipt2bpf_prog *p,
		     const struct ipt2bpf_loaded *l, struct ipt2bpf_diag *diag)
{
	_cleanup_free_ struct bpf_func_info *info = NULL;
	LIBBPF_OPTS(bpf_prog_load_opts, po);
	struct btf *btf = NULL;
	bool global = false;
	int fd, err;

	for (unsigned int k = 0; k < p->n_funcs && p->func_global; k++)
		global |= p->func_global[k];
	if (global || p->needs_func_info) {
		err = prog_btf(ps, p, &btf, &info);
		if (err) {
			btf__free(btf);
			return ipt2bpf_diag_set(diag, err, "%s: cannot load its BTF: %s", p->name,
						strerror(-err));
		}
		po.prog_btf_fd = (uint32_t)btf__fd(btf);
		po.func_info = info;
		po.func_info_cnt = p->n_funcs;
		po.func_info_rec_size = sizeof(*info);
	}
	fd = load_insns(ps, p, l, &po, diag);
	btf__free(btf); /* a loaded program holds its own reference */
	return fd;
}

int ipt2bpf_progset_load(const struct ipt2bpf_progset *ps, struct ipt2bpf_loaded *l,
			 struct ipt2bpf_diag *diag)
{
	return ipt2bpf_progset_load_reuse(ps, l, NULL, diag);
}

int ipt2bpf_progset_load_reuse(const struct ipt2bpf_progset *ps, struct ipt2bpf_loaded *l,
			       const int *reuse, struct ipt2bpf_diag *diag)
{
	int err;

	memset(l, 0, sizeof(*l));
	for (unsigned int i = 0; i < IPT2BPF_MAX_MAPS; i++)
		l->map_fds[i] = -1;
	l->n_maps = ps->n_maps;
	l->prog_fds = malloc((ps->n_progs ? ps->n_progs : 1) * sizeof(int));
	if (!l->prog_fds) {
		err = ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
		goto fail;
	}
	l->n_progs = ps->n_progs;
	for (unsigned int i = 0; i < ps->n_progs; i++)
		l->prog_fds[i] = -1;

	err = create_maps(ps, l, reuse, diag);
	if (err)
		goto fail;
	for (unsigned int i = 0; i < ps->n_progs; i++) {
		int fd = load_prog(ps, &ps->progs[i], l, diag);

		if (fd < 0) {
			err = fd;
			goto fail;
		}
		l->prog_fds[i] = fd;
	}
	/* "No device" (the kernel's all-zero name) matches what an empty name matches. */
	err = ipt2bpf_ifaces_set(ps, l, 0, "");
	if (err) {
		ipt2bpf_diag_set(diag, err, "%s: cannot set interface patterns: %s",
				 IPT2BPF_MAP_IFACES, strerror(-err));
		goto fail;
	}
	/* -m addrtype: the namespace's local routing table, as it is now. */
	err = ipt2bpf_addrtype_fill(ps, l, NULL, NULL);
	if (err) {
		ipt2bpf_diag_set(diag, err, "%s: cannot read the local routing table: %s",
				 IPT2BPF_MAP_ADDRTYPE, strerror(-err));
		goto fail;
	}
	return 0;
fail:
	ipt2bpf_loaded_close(l);
	return err;
}

int ipt2bpf_ifaces_set(const struct ipt2bpf_progset *ps, const struct ipt2bpf_loaded *l,
		       uint32_t ifindex, const char *name)
{
	int map = ipt2bpf_progset_find_map(ps, IPT2BPF_MAP_IFACES);
	unsigned int words = (ps->n_ifpats + 63) / 64;

	if (map < 0 || (unsigned int)map >= l->n_maps || l->map_fds[map] < 0)
		return -ENOENT;
	for (unsigned int w = 0; w < words; w++) {
		struct ipt2bpf_ifkey key = {.ifindex = ifindex, .word = w};
		uint64_t bits = 0;

		for (unsigned int b = 0; b < 64 && w * 64 + b < ps->n_ifpats; b++)
			if (ipt2bpf_ifpat_match(&ps->ifpats[w * 64 + b], name))
				bits |= 1ULL << b;
		/* Absent means no pattern matches: keep only interfaces that match something. */
		if (bits) {
			if (bpf_map_update_elem(l->map_fds[map], &key, &bits, BPF_ANY))
				return -errno;
		} else if (bpf_map_delete_elem(l->map_fds[map], &key) && errno != ENOENT) {
			return -errno;
		}
	}
	return 0;
}

int ipt2bpf_counters_read(int map_fd, unsigned int n, struct ipt2bpf_counter *out)
{
	_cleanup_free_ struct ipt2bpf_counter *vals = NULL;
	int ncpus = libbpf_num_possible_cpus();

	if (ncpus <= 0)
		return ncpus < 0 ? ncpus : -EINVAL;
	vals = calloc((size_t)ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(map_fd, &i, vals))
			return -errno;
		out[i] = (struct ipt2bpf_counter){0};
		for (int c = 0; c < ncpus; c++) {
			out[i].pcnt += vals[c].pcnt;
			out[i].bcnt += vals[c].bcnt;
		}
	}
	return 0;
}
