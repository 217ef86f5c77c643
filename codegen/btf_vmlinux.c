// SPDX-License-Identifier: GPL-2.0
/*
 * Lookups in the running kernel's BTF (see btf_vmlinux.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "btf_vmlinux.h"
#include "gen_internal.h"

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

int gen_sk_btf_resolve(const struct btf *btf, struct gen_sk_btf *o, char *what, size_t whatlen)
{
	struct {
		const char *type, *path;
		uint32_t *off;
	} const f[] = {
		{"sk_buff", "dev", &o->skb_dev},
		{"net_device", "nd_net.net", &o->dev_net},
		{"sock", "__sk_common.skc_state", &o->sk_state},
		{"sock", "__sk_common.skc_net.net", &o->sk_net},
	};
	int err = 0;

	o->kf_cast = gen_btf_id(btf, "bpf_rdonly_cast", BTF_KIND_FUNC);
	o->t_skb = gen_btf_id(btf, "sk_buff", BTF_KIND_STRUCT);
	o->t_sock = gen_btf_id(btf, "sock", BTF_KIND_STRUCT);
	if (o->kf_cast < 0) {
		snprintf(what, whatlen, "the kfunc bpf_rdonly_cast() (kernel 6.2 or later)");
		err = -ENOENT;
	} else if (o->t_skb < 0 || o->t_sock < 0) {
		snprintf(what, whatlen, "struct sk_buff/sock in its BTF");
		err = -ENOENT;
	}
	for (size_t k = 0; !err && k < sizeof(f) / sizeof(f[0]); k++) {
		err = gen_btf_offset(btf, f[k].type, f[k].path, f[k].off, NULL);
		if (err)
			snprintf(what, whatlen, "struct %s.%s in its BTF", f[k].type, f[k].path);
		else if (*f[k].off > INT16_MAX)
			err = -ERANGE;
	}
	return err;
}

void gen_out_sock(struct gen *g, const struct gen_sk_btf *o, int l_nosock)
{
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_IMM(BPF_REG_2, o->t_skb));
	E(BPF_CALL_KFUNC(o->kf_cast));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, (int16_t)o->skb_dev));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_1, (int16_t)o->dev_net));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, FP_TMP));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, sk)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_nosock);
	E(BPF_MOV64_IMM(BPF_REG_2, o->t_sock));
	E(BPF_CALL_KFUNC(o->kf_cast));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_0, (int16_t)o->sk_state));
}
