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

#include <stddef.h>
#include <stdint.h>

struct btf;
struct gen;

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

#define BPF_CALL_KFUNC(ID) BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0, ID)

/* The packet's socket at TC egress, as the socket matches (owner, cgroup) read it. */
struct gen_sk_btf {
	int kf_cast;		   /* bpf_rdonly_cast */
	int t_skb, t_sock;	   /* struct ids */
	uint32_t skb_dev, dev_net; /* sk_buff.dev, net_device.nd_net.net */
	uint32_t sk_state, sk_net; /* sock.__sk_common.skc_state, .skc_net.net */
};

/*
 * Fills o from btf; on failure (-ENOENT, -ERANGE, ...) what names what the
 * kernel lacks ("the kfunc bpf_rdonly_cast() (kernel 6.2 or later)", ...).
 */
int gen_sk_btf_resolve(const struct btf *btf, struct gen_sk_btf *o, char *what, size_t whatlen);
/*
 * In the main program (R9 = skb): stores xt_net(), the net of the device the
 * packet leaves by, at FP_TMP; jumps to l_nosock without skb->sk; else
 * R0 = skb->sk as an untrusted struct sock pointer and R1 = its state.
 */
void gen_out_sock(struct gen *g, const struct gen_sk_btf *o, int l_nosock);

#endif
