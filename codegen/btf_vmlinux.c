// SPDX-License-Identifier: GPL-2.0
/*
 * Lookups in the running kernel's BTF (see btf_vmlinux.h).
 */
#include <errno.h>
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "btf_vmlinux.h"

struct btf *gen_btf_vmlinux(void)
{
	struct btf *btf = btf__load_vmlinux_btf();

	if (libbpf_get_error(btf)) {
		errno = -(int)libbpf_get_error(btf);
		return NULL;
	}
	return btf;
}

int gen_btf_id(const struct btf *btf, const char *name, int kind)
{
	int id = btf__find_by_name_kind(btf, name, (uint32_t)kind);

	return id > 0 ? id : -ENOENT;
}

static const struct btf_type *skip_mods(const struct btf *btf, uint32_t *id)
{
	const struct btf_type *t = btf__type_by_id(btf, *id);

	while (t && (btf_is_mod(t) || btf_is_typedef(t))) {
		*id = t->type;
		t = btf__type_by_id(btf, *id);
	}
	return t;
}

/* Member name of composite type id (anonymous members searched): bit offset and type. */
static int find_member(const struct btf *btf, uint32_t id, const char *name, size_t len,
		       uint32_t *bits, uint32_t *type)
{
	const struct btf_type *t = skip_mods(btf, &id);
	const struct btf_member *m;

	if (!t || !btf_is_composite(t))
		return -ENOENT;
	m = btf_members(t);
	for (uint16_t i = 0; i < btf_vlen(t); i++, m++) {
		const char *mn = btf__name_by_offset(btf, m->name_off);
		uint32_t sub_bits, sub_type;

		if (btf_member_bitfield_size(t, i))
			continue;
		if (mn && mn[0]) {
			if (strlen(mn) == len && !memcmp(mn, name, len)) {
				*bits = btf_member_bit_offset(t, i);
				*type = m->type;
				return 0;
			}
			continue;
		}
		if (!find_member(btf, m->type, name, len, &sub_bits, &sub_type)) {
			*bits = btf_member_bit_offset(t, i) + sub_bits;
			*type = sub_type;
			return 0;
		}
	}
	return -ENOENT;
}

int gen_btf_offset(const struct btf *btf, const char *type, const char *path, uint32_t *off,
		   uint32_t *size)
{
	int root = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
	uint32_t id, bits = 0;
	const char *p = path;

	if (root <= 0)
		return -ENOENT;
	id = (uint32_t)root;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		uint32_t b, mt;
		int err = find_member(btf, id, p, len, &b, &mt);

		if (err)
			return err;
		if (b % 8)
			return -EOPNOTSUPP;
		bits += b;
		id = mt;
		p += len + (dot ? 1 : 0);
	}
	*off = bits / 8;
	if (size) {
		int64_t sz = btf__resolve_size(btf, id);

		if (sz < 0)
			return (int)sz;
		*size = (uint32_t)sz;
	}
	return 0;
}
