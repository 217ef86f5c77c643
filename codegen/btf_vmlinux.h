/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The running kernel's BTF (/sys/kernel/btf/vmlinux) at code generation
 * time: type and kfunc ids, and field offsets of kernel structures that
 * programs read through bpf_rdonly_cast() (codegen/m_owner.c).  The layout
 * is the running kernel's: programs built from it are only valid there, so
 * their users refuse objects meant for other machines (-o).
 */
#ifndef IPT2BPF_BTF_VMLINUX_H
#define IPT2BPF_BTF_VMLINUX_H

#include <stdint.h>

struct btf;

/* The running kernel's BTF, or NULL (errno set).  Free with btf__free(). */
struct btf *gen_btf_vmlinux(void);
/* Id of the type (or function) name of BTF kind kind, or a negative errno. */
int gen_btf_id(const struct btf *btf, const char *name, int kind);
/*
 * Byte offset of path ("a.b.c": members, through anonymous structs and
 * unions, of nested structs) in struct or union type; size of the last
 * member's type.  -ENOENT if missing (bit fields are never found),
 * -EOPNOTSUPP for a member not on a byte boundary.
 */
int gen_btf_offset(const struct btf *btf, const char *type, const char *path, uint32_t *off,
		   uint32_t *size);

#endif
