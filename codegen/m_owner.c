// SPDX-License-Identifier: GPL-2.0
/*
 * -m owner (revision 1) at OUTPUT, as owner_mt() (xt_owner.c) decides it:
 * on the socket skb_to_full_sk() gives (a request socket's listener, no
 * socket for a TIME_WAIT one), "no socket" also when it has no struct socket
 * or belongs to another network namespace; then the socket's file: none (the
 * kernel's own control sockets: resets, TIME_WAIT acks) and its credentials
 * (f_cred: fsuid, fsgid, the supplementary groups).
 *
 * A TC program has no helper for any of that, so the main program reads the
 * kernel's structures themselves: bpf_rdonly_cast() (a kfunc, kernel 6.2 or
 * later) makes the skb and socket pointers untrusted BTF pointers of struct
 * sk_buff/sock/request_sock/group_info whose fields are read with plain
 * loads (a faulting load reads 0; root's CAP_PERFMON allows them).  Field
 * offsets and type ids come from the running kernel's BTF, so such programs
 * are for this kernel only: ELF objects (-o) refuse the match, as do kernels
 * without the kfunc (6.1).  Each use is evaluated once per packet in the
 * main program (gen_pre.h), the rule tests the outcome.
 *
 * --suppl-groups walks every supplementary group with bpf_loop(), as the
 * kernel's loop does (setgroups() allows at most NGROUPS_MAX = 65536 of
 * them, bpf_loop() up to 2^23 turns).  Rule ids are compared as global ids,
 * which is what make_kuid() gives in the initial user namespace; a network
 * namespace owned by another user namespace is refused.
 *
 * Not reproduced: the kernel reads the file under sk_callback_lock; a
 * process closing its socket while its packet is between the OUTPUT hook
 * and TC egress may be seen with or without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/nsfs.h>
#include <linux/netfilter/xt_owner.h>
#include <bpf/btf.h>

#include "btf_vmlinux.h"
#include "gen_pre.h"

#define OWNER_TCP_TIME_WAIT    6 /* include/net/tcp_states.h */
#define OWNER_TCP_NEW_SYN_RECV 12
#define OWNER_INIT_USERNS_INO  0xEFFFFFFDU /* PROC_USER_INIT_INO */

/* The loop state the supplementary groups walk keeps (gen_pre_loop()). */
#define ST_GI	 GEN_LOOP_USER	     /* u64: struct group_info * */
#define ST_FOUND (GEN_LOOP_USER + 8) /* u32: a group in range was seen */

/* What the code needs from the running kernel's BTF. */
struct owner_btf {
	struct gen_sk_btf sk;		  /* the packet's socket */
	int t_req, t_gi;		  /* struct ids */
	uint32_t sk_socket, rsk_listener; /* sock, request_sock */
	uint32_t sock_file, file_cred, cred_uid, cred_gid, cred_gi;
	uint32_t gi_n, gi_gid;
};

static const char *const owner_flag_names[] = {"--uid-owner", "--gid-owner", "--socket-exists",
					       "--suppl-groups"};

static int owner_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		       const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_owner_match_info *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	/* owner_check(): the kernel rejects these with -EINVAL. */
	if (i->match & ~XT_OWNER_MASK) {
		snprintf(why, whylen, "unknown flags 0x%x (the kernel rejects them)", i->match);
		return -EOPNOTSUPP;
	}
	if ((i->match & XT_OWNER_UID) &&
	    (i->uid_min == UINT32_MAX || i->uid_max == UINT32_MAX || i->uid_max < i->uid_min)) {
		snprintf(why, whylen, "--uid-owner %u-%u is invalid (the kernel rejects it)",
			 i->uid_min, i->uid_max);
		return -EOPNOTSUPP;
	}
	if ((i->match & XT_OWNER_GID) &&
	    (i->gid_min == UINT32_MAX || i->gid_max == UINT32_MAX || i->gid_max < i->gid_min)) {
		snprintf(why, whylen, "--gid-owner %u-%u is invalid (the kernel rejects it)",
			 i->gid_min, i->gid_max);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void owner_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_owner_match_info *i = data;
	const char *sep = "";

	(void)len, (void)revision;
	for (unsigned int b = 0; b < 4; b++) {
		if (!(i->match & (1U << b)))
			continue;
		fprintf(f, "%s%s%s", sep, (i->invert & (1U << b)) ? "! " : "", owner_flag_names[b]);
		sep = " ";
		if (b == 0 || b == 1) {
			uint32_t lo = b ? i->gid_min : i->uid_min, hi = b ? i->gid_max : i->uid_max;

			fprintf(f, " %u", lo);
			if (hi != lo)
				fprintf(f, "-%u", hi);
		}
	}
	if (i->invert & ~i->match)
		fprintf(f, "%sinvert 0x%x", sep, i->invert);
}

static int owner_btf_resolve(struct owner_btf *o, char *what, size_t whatlen)
{
	struct {
		const char *type, *path;
		uint32_t *off;
	} const f[] = {
		{"sock", "sk_socket", &o->sk_socket},
		{"request_sock", "__req_common.skc_listener", &o->rsk_listener},
		{"socket", "file", &o->sock_file},
		{"file", "f_cred", &o->file_cred},
		{"cred", "fsuid", &o->cred_uid},
		{"cred", "fsgid", &o->cred_gid},
		{"cred", "group_info", &o->cred_gi},
		{"group_info", "ngroups", &o->gi_n},
		{"group_info", "gid", &o->gi_gid},
	};
	struct btf *btf = gen_btf_vmlinux();
	int err;

	if (!btf) {
		snprintf(what, whatlen, "the kernel's BTF (/sys/kernel/btf/vmlinux)");
		return -ENOENT;
	}
	err = gen_sk_btf_resolve(btf, &o->sk, what, whatlen);
	o->t_req = gen_btf_id(btf, "request_sock", BTF_KIND_STRUCT);
	o->t_gi = gen_btf_id(btf, "group_info", BTF_KIND_STRUCT);
	if (!err && (o->t_req < 0 || o->t_gi < 0)) {
		snprintf(what, whatlen, "struct request_sock/group_info in its BTF");
		err = -ENOENT;
	}
	for (size_t k = 0; !err && k < sizeof(f) / sizeof(f[0]); k++) {
		err = gen_btf_offset(btf, f[k].type, f[k].path, f[k].off, NULL);
		if (err)
			snprintf(what, whatlen, "struct %s.%s in its BTF", f[k].type, f[k].path);
		else if (*f[k].off > INT16_MAX)
			err = -ERANGE;
	}
	btf__free(btf);
	return err;
}

static const struct ipt2bpf_mod mod_owner;

static const struct owner_btf *owner_btf_get(struct gen *g)
{
	void **priv;

	if (gen_mod_use(g, &mod_owner, &priv))
		return NULL;
	return *priv;
}

/* Is the current network namespace owned by the initial user namespace? */
static int owner_netns_init_user(void)
{
	struct stat st;
	int fd, ufd, err;

	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ufd = ioctl(fd, NS_GET_USERNS);
	err = ufd < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	err = fstat(ufd, &st) ? -errno : st.st_ino == OWNER_INIT_USERNS_INO;
	close(ufd);
	return err;
}

/* bpf_loop() callback: stop at the first supplementary group in [gid_min, gid_max]. */
static int owner_groups_cb(struct gen *g, const void *arg)
{
	const struct xt_owner_match_info *i = arg;
	const struct owner_btf *o = owner_btf_get(g);
	int l_next = LABEL();

	if (!o)
		return -EINVAL;
	E(BPF_MOV64_REG(BPF_REG_7, BPF_REG_2));
	/* &gi->gid[idx], cast again: loads want a constant offset. */
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_7, ST_GI));
	E(BPF_MOV32_REG(BPF_REG_1, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_1, 2));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_3));
	E(BPF_MOV64_IMM(BPF_REG_2, o->t_gi));
	E(BPF_CALL_KFUNC(o->sk.kf_cast));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, (int16_t)o->gi_gid));
	EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, (int32_t)i->gid_min, 0), l_next);
	EJ(BPF_JMP32_IMM(BPF_JGT, BPF_REG_1, (int32_t)i->gid_max, 0), l_next);
	E(BPF_ST_MEM(BPF_W, BPF_REG_7, ST_FOUND, 1));
	E(BPF_MOV64_IMM(BPF_REG_0, 1));
	E(BPF_EXIT_INSN());
	BIND(l_next);
	E(BPF_MOV64_IMM(BPF_REG_0, 0));
	E(BPF_EXIT_INSN());
	return g->p->e.err;
}

/* Unsigned jump: lo <= reg <= hi goes to l_in, else falls through. */
static void owner_in_range(struct gen *g, int reg, uint32_t lo, uint32_t hi, int l_in)
{
	int l_out = LABEL();

	EJ(BPF_JMP32_IMM(BPF_JLT, reg, (int32_t)lo, 0), l_out);
	EJ(BPF_JMP32_IMM(BPF_JLE, reg, (int32_t)hi, 0), l_in);
	BIND(l_out);
}

/*
 * owner_mt() for one use, in the main program (R9 = ctx): falls through on
 * a match, jumps to l_no otherwise.  Uses R0-R5, FP_TMP and FP_SCR.
 */
static int owner_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	const struct xt_owner_match_info *i = data;
	const struct owner_btf *o = owner_btf_get(g);
	const uint8_t m = i->match, inv = i->invert;
	int l_match = LABEL(), l_nosock = LABEL(), l_full = LABEL(), l_nofile = LABEL();
	int err;

	(void)revision, (void)l_drop;
	if (!o)
		return -EINVAL;
	gen_out_sock(g, &o->sk, l_nosock);
	/* skb_to_full_sk() */
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, OWNER_TCP_NEW_SYN_RECV, 0), l_full);
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_0));
	E(BPF_MOV64_IMM(BPF_REG_2, o->t_req));
	E(BPF_CALL_KFUNC(o->sk.kf_cast));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_0, (int16_t)o->rsk_listener));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_nosock);
	/* a union member the verifier reads as skc_flags: cast it again */
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_0));
	E(BPF_MOV64_IMM(BPF_REG_2, o->sk.t_sock));
	E(BPF_CALL_KFUNC(o->sk.kf_cast));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_0, (int16_t)o->sk.sk_state));
	BIND(l_full);
	/* Kernels that attach TIME_WAIT sockets to their acks (6.13) see no socket there. */
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, OWNER_TCP_TIME_WAIT, 0), l_nosock);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_0, (int16_t)o->sk_socket));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_nosock);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_0, (int16_t)o->sk.sk_net));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_4, BPF_REG_10, FP_TMP));
	EJ(BPF_JMP_REG(BPF_JNE, BPF_REG_3, BPF_REG_4, 0), l_nosock);
	/* A socket: "! --socket-exists" fails whatever else the rule says. */
	if (m & inv & XT_OWNER_SOCKET) {
		EJ(BPF_JMP_A(0), l_no);
		goto nosock;
	}
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_2, (int16_t)o->sock_file));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_nofile);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_2, (int16_t)o->file_cred));
	if (m & XT_OWNER_UID) {
		int l_in = LABEL();

		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_2, (int16_t)o->cred_uid));
		owner_in_range(g, BPF_REG_1, i->uid_min, i->uid_max, l_in);
		/* (in range) ^ !(invert & UID) fails */
		if (!(inv & XT_OWNER_UID)) {
			EJ(BPF_JMP_A(0), l_no);
			BIND(l_in);
		} else {
			int l_ok = LABEL();

			EJ(BPF_JMP_A(0), l_ok);
			BIND(l_in);
			EJ(BPF_JMP_A(0), l_no);
			BIND(l_ok);
		}
	}
	if (m & XT_OWNER_GID) {
		int l_in = LABEL(), l_out = LABEL(), l_done = LABEL();

		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_2, (int16_t)o->cred_gid));
		owner_in_range(g, BPF_REG_1, i->gid_min, i->gid_max, l_in);
		if (m & XT_OWNER_SUPPL_GROUPS) {
			E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_2, (int16_t)o->cred_gi));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_3, 0, 0), l_out);
			E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_3, (int16_t)o->gi_n));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_out);
			E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_3, FP_SCR + ST_GI));
			E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_SCR + ST_FOUND, 0));
			err = gen_pre_loop(g, "ipt_cb_owner", BPF_REG_1, owner_groups_cb, data);
			if (err)
				return err;
			E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_SCR + ST_FOUND));
			EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_in);
		}
		BIND(l_out);
		EJ(BPF_JMP_A(0), (inv & XT_OWNER_GID) ? l_done : l_no);
		BIND(l_in);
		if (inv & XT_OWNER_GID)
			EJ(BPF_JMP_A(0), l_no);
		BIND(l_done);
	}
	EJ(BPF_JMP_A(0), l_match);
	/* A socket without a file (the kernel's control sockets). */
	BIND(l_nofile);
	EJ(BPF_JMP_A(0), ((m ^ inv) & (XT_OWNER_UID | XT_OWNER_GID)) ? l_no : l_match);
nosock:
	BIND(l_nosock);
	EJ(BPF_JMP_A(0), (m ^ inv) ? l_no : l_match);
	BIND(l_match);
	return g->p->e.err;
}

static int owner_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			 uint8_t revision)
{
	const struct xt_owner_match_info *i = data;
	char what[128] = "";
	void **priv;
	int err;

	if (g->opts->object)
		return gen_refuse(g, ti, idx,
				  "match 'owner': not in ELF objects (-o): the socket is read with "
				  "the running kernel's structure layout; use `ipt2bpf load`");
	if (i->match & (XT_OWNER_UID | XT_OWNER_GID)) {
		err = owner_netns_init_user();
		if (err < 0)
			return gen_refuse(g, ti, idx,
					  "match 'owner': cannot tell the network namespace's user "
					  "namespace (%s)",
					  strerror(-err));
		if (!err)
			return gen_refuse(g, ti, idx,
					  "match 'owner': --uid-owner/--gid-owner in a network "
					  "namespace of another user namespace are not supported "
					  "(ids are compared as global ids)");
	}
	err = gen_mod_use(g, &mod_owner, &priv);
	if (err)
		return err;
	if (!*priv) {
		struct owner_btf *o = calloc(1, sizeof(*o));

		if (!o)
			return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
		err = owner_btf_resolve(o, what, sizeof(what));
		if (err) {
			free(o);
			return gen_refuse(g, ti, idx,
					  "match 'owner': needs %s, which this kernel lacks (%s)",
					  what, strerror(-err));
		}
		*priv = o;
	}
	return gen_pre_add(g, ti, idx, data, revision, owner_eval, 0);
}

static int owner_emit(struct gen *g, unsigned int ti, unsigned int idx,
		      const struct ipt2bpf_match *m, int l_fail)
{
	return gen_pre_test(g, ti, idx, m->data, l_fail);
}

static const struct ipt2bpf_mod mod_owner = {
	.name = "owner",
	.revisions = 1U << 1,
	.check = owner_check,
	.dump = owner_dump,
	.prepare = owner_prepare,
	.emit_match = owner_emit,
};
IPT2BPF_MOD_REGISTER(mod_owner);
