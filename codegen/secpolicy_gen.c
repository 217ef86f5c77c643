// SPDX-License-Identifier: GPL-2.0
/*
 * The label sink module: what happens to gen_pkt.secmark once the tables
 * accepted a packet (secpolicy.h).  Its verdict hook runs after the
 * connection tracker's (order 30 > 10), in TC programs only:
 *
 *   policy   TC egress (OUTPUT): `send`, subject the domain of the sending
 *            socket's cgroup (bpf_skb_ancestor_cgroup_id(), deepest domain
 *            first).  TC ingress, INPUT: `recv`, subject the domain stamped
 *            on the socket bpf_sk_lookup_tcp/udp() finds (no socket, no
 *            stamp: unconfined_t).  TC ingress, FORWARD: `forward_in` then
 *            `forward_out`, subject unlabeled_t (SELinux's peer label without
 *            labelled networking).  Denied: GEN_V_DROP, counted in
 *            ipt_sec_deny by (subject, label, permission).
 *            Fragments after the first at INPUT/OUTPUT are not checked: they
 *            carry the first fragment's verdict, and the datagram cannot be
 *            reassembled without it.
 *   mark     skb->mark = (mark & ~MASK) | label << shift, for every accepted
 *            packet (unlabeled packets get 0 in the mask's bits).
 *
 * The module is in use while the rule set has SECMARK or CONNSECMARK rules,
 * as SELinux checks packets only while SECMARK rules exist.  Trace programs
 * neither enforce nor mark (test runs have no sockets, and `trace` prints no
 * marks); the XDP flavour cannot, and is refused when a sink is asked for
 * (gen_sec_use()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/in.h>

#include "gen_internal.h"
#include "secpolicy.h"

/* When the caller keeps no label table: ours, one block (module slots are freed with free()). */
struct gen_sec_priv {
	struct ipt2bpf_labels labels;
	char ctx[IPT2BPF_LABELS_MAX][IPT2BPF_SECCTX_MAX];
};

static const struct ipt2bpf_mod gen_sec_mod;

static struct ipt2bpf_labels *sec_labels(struct gen *g)
{
	const struct ipt2bpf_secopts *sec = g->opts->sec;
	struct gen_sec_priv *priv;
	void **slot;

	if (sec && sec->labels)
		return sec->labels;
	if (gen_mod_use(g, &gen_sec_mod, &slot))
		return NULL;
	if (!*slot) {
		priv = calloc(1, sizeof(*priv));
		if (!priv)
			return NULL;
		priv->labels.ctx = priv->ctx;
		priv->labels.cap = IPT2BPF_LABELS_MAX;
		priv->labels.fixed = true;
		*slot = priv;
	}
	return &((struct gen_sec_priv *)*slot)->labels;
}

int gen_sec_label(struct gen *g, unsigned int ti, unsigned int idx, const char *ctx, uint32_t *id)
{
	struct ipt2bpf_labels *l = sec_labels(g);
	int err;

	if (!l)
		return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
	err = ipt2bpf_labels_intern(l, ctx, id);
	if (err == -ENOSPC)
		return gen_refuse(g, ti, idx, "more than %d distinct security contexts",
				  IPT2BPF_LABELS_MAX);
	if (err)
		return ipt2bpf_diag_set(g->diag, err, "out of memory");
	return 0;
}

static bool sec_active(const struct ipt2bpf_secopts *sec)
{
	return sec && (sec->policy || sec->mark_mask);
}

int gen_sec_use(struct gen *g, unsigned int ti, unsigned int idx)
{
	const struct ipt2bpf_secopts *sec = g->opts->sec;
	int err = gen_mod_use(g, &gen_sec_mod, NULL);

	if (err)
		return err;
	if (!sec_active(sec))
		return 0;
	if (g->opts->mode == IPT2BPF_MODE_XDP)
		return gen_refuse(
			g, ti, idx,
			"labels go to a sink (--policy, --label-sink mark:) only from TC "
			"programs: XDP has no skb mark and no socket lookup; use --mode tc");
	if (sec->policy) {
		err = gen_map_get(g, IPT2BPF_MAP_SEC_SK, BPF_MAP_TYPE_SK_STORAGE, sizeof(int),
				  sizeof(struct ipt2bpf_sec_stamp), 0, IPT2BPF_SEC_SK_FLAGS, true);
		if (err >= 0)
			err = gen_map_get(g, IPT2BPF_MAP_SEC_DENY, BPF_MAP_TYPE_HASH,
					  sizeof(struct ipt2bpf_sec_denykey), sizeof(uint64_t),
					  IPT2BPF_SEC_DENY_MAX, 0, true);
		if (err < 0)
			return err;
	}
	return 0;
}

/* ------------------------------------------------------------ code */

static void ld_imm64(struct gen *g, int reg, uint64_t v)
{
	E(BPF_LD_IMM64_RAW_1(reg, 0, v));
	E(BPF_LD_IMM64_RAW_2(v));
}

static int map_id(struct gen *g, const char *name)
{
	return ipt2bpf_progset_find_map(g->ps, name);
}

/*
 * R8 = the sending socket's domain (its cgroup id), 0 for none: the deepest
 * domain whose cgroup is an ancestor of (or is) the socket's cgroup.
 */
static void emit_subject_egress(struct gen *g, const struct ipt2bpf_policy *p)
{
	int l_hit = LABEL(), l_done = LABEL();
	unsigned int max_level = 0;

	E(BPF_MOV64_IMM(BPF_REG_8, (int32_t)IPT2BPF_SEC_SUBJ_UNCONFINED));
	for (unsigned int i = 0; i < p->n_domains; i++)
		if (p->domains[i].level > max_level)
			max_level = p->domains[i].level;
	for (unsigned int lv = max_level + 1; lv-- > 0;) {
		bool any = false;

		for (unsigned int i = 0; i < p->n_domains; i++)
			any |= p->domains[i].level == lv;
		if (!any)
			continue;
		E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
		E(BPF_MOV64_IMM(BPF_REG_2, (int32_t)lv));
		E(BPF_CALL_HELPER(BPF_FUNC_skb_ancestor_cgroup_id));
		for (unsigned int i = 0; i < p->n_domains; i++) {
			if (p->domains[i].level != lv)
				continue;
			ld_imm64(g, BPF_REG_2, p->domains[i].cgid);
			EJ(BPF_JMP_REG(BPF_JEQ, BPF_REG_0, BPF_REG_2, 0), l_hit);
		}
	}
	EJ(BPF_JMP_A(0), l_done);
	BIND(l_hit);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	BIND(l_done);
}

/*
 * R8 = the domain stamped on the socket that receives the packet, 0 for none
 * (no TCP/UDP socket, a socket created before the policy, a stamp of a
 * domain the policy no longer has).
 */
static void emit_subject_ingress(struct gen *g, const struct ipt2bpf_policy *p, int sk_map)
{
	int l_none = LABEL(), l_tcp = LABEL(), l_looked = LABEL(), l_nostamp = LABEL();
	int l_known = LABEL();

	E(BPF_MOV64_IMM(BPF_REG_8, (int32_t)IPT2BPF_SEC_SUBJ_UNCONFINED));
	/* Ports are there: a first fragment with at least 4 transport bytes. */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(l4ok)));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, GEN_L4_4));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_none);

	/* struct bpf_sock_tuple's ipv4 part, in network order, at FP_SCR. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(saddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_SCR));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(daddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_SCR + 4));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(sport)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, FP_SCR + 8));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(dport)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, FP_SCR + 10));

	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_6, PKT(proto)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, IPPROTO_TCP, 0), l_tcp);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, IPPROTO_UDP, 0), l_none);
	for (int tcp = 0; tcp < 2; tcp++) {
		if (tcp)
			BIND(l_tcp);
		E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
		E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_SCR));
		E(BPF_MOV64_IMM(BPF_REG_3, 12)); /* sizeof(tuple.ipv4) */
		E(BPF_MOV64_IMM(BPF_REG_4, -1)); /* BPF_F_CURRENT_NETNS */
		E(BPF_MOV64_IMM(BPF_REG_5, 0));
		E(BPF_CALL_HELPER(tcp ? BPF_FUNC_sk_lookup_tcp : BPF_FUNC_sk_lookup_udp));
		if (!tcp)
			EJ(BPF_JMP_A(0), l_looked);
	}
	BIND(l_looked);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_TMP, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)sk_map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_8));
	E(BPF_MOV64_IMM(BPF_REG_3, 0));
	E(BPF_MOV64_IMM(BPF_REG_4, 0));
	E(BPF_CALL_HELPER(BPF_FUNC_sk_storage_get));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_nostamp);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_sec_stamp, cgid)));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, FP_TMP));
	BIND(l_nostamp);
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_8));
	E(BPF_CALL_HELPER(BPF_FUNC_sk_release));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_8, BPF_REG_10, FP_TMP));
	for (unsigned int i = 0; i < p->n_domains; i++) {
		ld_imm64(g, BPF_REG_2, p->domains[i].cgid);
		EJ(BPF_JMP_REG(BPF_JEQ, BPF_REG_8, BPF_REG_2, 0), l_known);
	}
	E(BPF_MOV64_IMM(BPF_REG_8, (int32_t)IPT2BPF_SEC_SUBJ_UNCONFINED));
	BIND(l_none);
	BIND(l_known);
}

static uint64_t subj_key(const struct ipt2bpf_policy *p, unsigned int subj)
{
	if (subj < p->n_domains)
		return p->domains[subj].cgid;
	return subj == ipt2bpf_policy_unconfined(p) ? IPT2BPF_SEC_SUBJ_UNCONFINED
						    : IPT2BPF_SEC_SUBJ_UNLABELED;
}

/*
 * Subject in R8 (its key: cgid, 0, or ~0), label in gen_pkt.secmark: on to
 * the next instruction if perm is allowed; else count the denial, R0 =
 * GEN_V_DROP and jump to l_out.
 */
static void emit_check(struct gen *g, const struct ipt2bpf_policy *p,
		       const struct ipt2bpf_labels *l, uint32_t perm, int deny_map, int l_out)
{
	int l_ok = LABEL(), l_deny = LABEL(), l_new = LABEL(), l_counted = LABEL();
	char type[IPT2BPF_SEC_NAME_MAX];

	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, PKT(secmark)));
	for (unsigned int s = 0; s <= ipt2bpf_policy_unlabeled(p); s++) {
		int l_next = LABEL();
		bool any = false;

		for (uint32_t id = 0; id <= l->n; id++) {
			ipt2bpf_labels_type(l, id, type);
			if (!(ipt2bpf_policy_perms(p, s, type) & perm))
				continue;
			if (!any) {
				ld_imm64(g, BPF_REG_2, subj_key(p, s));
				EJ(BPF_JMP_REG(BPF_JNE, BPF_REG_8, BPF_REG_2, 0), l_next);
				any = true;
			}
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_3, (int32_t)id, 0), l_ok);
		}
		if (any)
			EJ(BPF_JMP_A(0), l_deny);
		BIND(l_next);
	}

	BIND(l_deny);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_8, FP_SCR));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_3,
		      FP_SCR + (int)offsetof(struct ipt2bpf_sec_denykey, label)));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_SCR + (int)offsetof(struct ipt2bpf_sec_denykey, perm),
		     (int32_t)perm));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)deny_map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_SCR));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_new);
	E(BPF_MOV64_IMM(BPF_REG_1, 1));
	E(BPF_ATOMIC_OP(BPF_DW, BPF_ADD, BPF_REG_0, BPF_REG_1, 0));
	EJ(BPF_JMP_A(0), l_counted);
	BIND(l_new);
	/* Two CPUs may both insert: one count is lost, no harm. */
	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_TMP, 1));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)deny_map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_SCR));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, FP_TMP));
	E(BPF_MOV64_IMM(BPF_REG_4, BPF_NOEXIST));
	E(BPF_CALL_HELPER(BPF_FUNC_map_update_elem));
	BIND(l_counted);
	E(BPF_MOV64_IMM(BPF_REG_0, GEN_V_DROP));
	EJ(BPF_JMP_A(0), l_out);
	BIND(l_ok);
}

static int emit_policy(struct gen *g, int role, const struct ipt2bpf_policy *p,
		       const struct ipt2bpf_labels *l, int l_out)
{
	int deny_map = map_id(g, IPT2BPF_MAP_SEC_DENY), sk_map = map_id(g, IPT2BPF_MAP_SEC_SK);
	int l_fwd = LABEL(), l_done = LABEL();

	if (deny_map < 0 || sk_map < 0)
		return ipt2bpf_diag_set(g->diag, -EINVAL, "label policy: its maps are missing");
	if (role == IPT2BPF_P_INGRESS) {
		/* FORWARD has the FIB's output device, INPUT none. */
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(oif)));
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_fwd);
	}
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_done);
	if (role == IPT2BPF_P_EGRESS) {
		emit_subject_egress(g, p);
		emit_check(g, p, l, IPT2BPF_PERM_SEND, deny_map, l_out);
	} else {
		emit_subject_ingress(g, p, sk_map);
		emit_check(g, p, l, IPT2BPF_PERM_RECV, deny_map, l_out);
		EJ(BPF_JMP_A(0), l_done);
		BIND(l_fwd);
		ld_imm64(g, BPF_REG_8, IPT2BPF_SEC_SUBJ_UNLABELED);
		emit_check(g, p, l, IPT2BPF_PERM_FORWARD_IN, deny_map, l_out);
		emit_check(g, p, l, IPT2BPF_PERM_FORWARD_OUT, deny_map, l_out);
	}
	BIND(l_done);
	E(BPF_MOV64_IMM(BPF_REG_0, GEN_V_ACCEPT));
	return g->p->e.err;
}

static int emit_mark(struct gen *g, uint32_t mask)
{
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(mark)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)~mask));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(secmark)));
	E(BPF_ALU32_IMM(BPF_LSH, BPF_REG_2, __builtin_ctz(mask)));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_2, (int32_t)mask));
	E(BPF_ALU32_REG(BPF_OR, BPF_REG_1, BPF_REG_2));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(mark)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(mod_flags)));
	E(BPF_ALU32_IMM(BPF_OR, BPF_REG_1, GEN_PF_MARK));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(mod_flags)));
	return g->p->e.err;
}

static int sec_verdict(struct gen *g, int role)
{
	const struct ipt2bpf_secopts *sec = g->opts->sec;
	struct ipt2bpf_labels *l;
	int l_out, err;

	if (!sec_active(sec) || (role != IPT2BPF_P_INGRESS && role != IPT2BPF_P_EGRESS))
		return 0;
	l = sec_labels(g);
	if (!l)
		return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
	if (sec->mark_mask && l->n > ipt2bpf_label_mark_max(sec->mark_mask))
		return ipt2bpf_diag_set(g->diag, -ERANGE,
					"label %u (%s) does not fit in the mark mask 0x%x (label "
					"ids up to %u)",
					l->n, l->ctx[l->n - 1], sec->mark_mask,
					ipt2bpf_label_mark_max(sec->mark_mask));
	l_out = LABEL();
	/* R0 = GEN_V_ACCEPT here, or the packet is not ours to label. */
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, GEN_V_ACCEPT, 0), l_out);
	if (sec->policy) {
		err = emit_policy(g, role, sec->policy, l, l_out);
		if (err)
			return err;
	}
	if (sec->mark_mask) {
		err = emit_mark(g, sec->mark_mask);
		if (err)
			return err;
	}
	BIND(l_out);
	return g->p->e.err;
}

static const struct ipt2bpf_mod gen_sec_mod = {
	.name = "(labels)",
	.target = true,
	.order = 30,
	.emit_verdict = sec_verdict,
};
