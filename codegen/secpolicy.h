/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SECMARK labels and where they go (see doc/ipt2bpf-security.7).
 *
 * eBPF cannot set skb->secmark, so labels are ours: each distinct SELinux
 * context string a SECMARK rule names gets a small label id (0 is
 * "unlabeled", SELinux's unlabeled_t).  Ids are stable: the runtime keeps the
 * table pinned and hands it to every compile, so connection labels and the
 * kernel rules of the SELinux bridge keep their meaning across reloads.
 *
 * A label goes to a sink:
 *  - policy: enforcement without SELinux, a policy in SELinux's own words
 *    (`domain NAME CGROUP-PATH`, `allow SUBJECT TYPE:packet { PERMS };`)
 *    checked at TC egress (send), TC ingress (recv, forward_in, forward_out);
 *  - mark:MASK: the label id written into skb->mark bits, which kernel rules
 *    (`ipt2bpf selinux-bridge`) turn into real secmarks on SELinux hosts;
 *  - none: labels only feed connections (CONNSECMARK), asked for explicitly.
 */
#ifndef IPT2BPF_SECPOLICY_H
#define IPT2BPF_SECPOLICY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/bpf.h>
#include <linux/netfilter/xt_SECMARK.h>

#include "../translator/diag.h"

#define IPT2BPF_SECCTX_MAX	SECMARK_SECCTX_MAX /* bytes with the NUL: contexts of <= 255 chars */
#define IPT2BPF_LABELS_MAX	1023		   /* label ids 1..1023; 0 is unlabeled */
#define IPT2BPF_SEC_NAME_MAX	64		   /* SELinux identifiers: <= 63 characters */
#define IPT2BPF_SEC_DOMAINS_MAX 64
#define IPT2BPF_SEC_ALLOWS_MAX	4096
#define IPT2BPF_SEC_POLICY_MAX	(256 * 1024) /* bytes of policy text */

/* Subjects that need no declaration. */
#define IPT2BPF_SEC_UNCONFINED "unconfined_t" /* processes outside every domain, no socket */
#define IPT2BPF_SEC_UNLABELED  "unlabeled_t"  /* forwarded packets (SELinux's peer label) */

/* ------------------------------------------------------------ labels */

struct ipt2bpf_labels {
	unsigned int n;			 /* ids 1..n are in use */
	unsigned int cap;		 /* allocated entries of ctx */
	bool fixed;			 /* ctx is not ours to grow (cap is the limit) */
	char (*ctx)[IPT2BPF_SECCTX_MAX]; /* ctx[id - 1] */
};

/*
 * Is ctx (size bytes available, as in a SECMARK payload) a context we take?
 * The kernel hands it to SELinux (security_secctx_to_secid(), after cutting
 * it to 255 characters), which rejects what its policy does not define.
 * Without a policy to ask, "well formed" is SELinux's syntax:
 * user:role:type[:level], each of user, role, type an identifier
 * ([A-Za-z_][A-Za-z0-9_.-]*, at most 63 characters), level printable
 * without blanks ([A-Za-z0-9_.,:-]), the whole at most 255 characters and
 * NUL-terminated inside the payload.  0, or -EINVAL with why filled in.
 */
int ipt2bpf_secctx_check(const char *ctx, size_t size, char *why, size_t whylen);
/* The type field of a well-formed context (into type[IPT2BPF_SEC_NAME_MAX]). */
void ipt2bpf_secctx_type(const char *ctx, char *type);
/* Is s an SELinux identifier as ipt2bpf_secctx_check() takes them? */
bool ipt2bpf_sec_ident(const char *s, size_t len);

/* The id of ctx, added when new; -ENOSPC beyond IPT2BPF_LABELS_MAX. */
int ipt2bpf_labels_intern(struct ipt2bpf_labels *l, const char *ctx, uint32_t *id);
/* The id of ctx, 0 if it has none. */
uint32_t ipt2bpf_labels_find(const struct ipt2bpf_labels *l, const char *ctx);
/* The context of id, NULL for 0 (unlabeled) and unknown ids. */
const char *ipt2bpf_labels_ctx(const struct ipt2bpf_labels *l, uint32_t id);
/* The type of id ("unlabeled_t" for 0, "?" for unknown ids) into type[IPT2BPF_SEC_NAME_MAX]. */
void ipt2bpf_labels_type(const struct ipt2bpf_labels *l, uint32_t id, char *type);
void ipt2bpf_labels_release(struct ipt2bpf_labels *l);

/* ------------------------------------------------------------ policy */

enum {
	IPT2BPF_PERM_SEND = 1U << 0,	    /* TC egress, the sending socket's domain */
	IPT2BPF_PERM_RECV = 1U << 1,	    /* TC ingress (INPUT), the receiving socket's domain */
	IPT2BPF_PERM_FORWARD_IN = 1U << 2,  /* TC ingress (FORWARD), subject unlabeled_t */
	IPT2BPF_PERM_FORWARD_OUT = 1U << 3, /* TC ingress (FORWARD), subject unlabeled_t */
	IPT2BPF_PERM_ALL = 0xf,
};

struct ipt2bpf_sec_domain {
	char name[IPT2BPF_SEC_NAME_MAX];
	char path[PATH_MAX];
	unsigned int line;
	uint64_t cgid;	    /* cgroup id (the cgroup v2 directory's inode), 0: not resolved */
	unsigned int level; /* depth below the cgroup v2 root (the root is level 0) */
};

/*
 * Subjects are numbered: 0..n_domains-1 the domains, then unconfined_t
 * (ipt2bpf_policy_unconfined()) and unlabeled_t (ipt2bpf_policy_unlabeled()).
 */
struct ipt2bpf_sec_allow {
	unsigned int subj;
	char type[IPT2BPF_SEC_NAME_MAX];
	uint32_t perms; /* IPT2BPF_PERM_* */
	unsigned int line;
};

struct ipt2bpf_policy {
	char source[PATH_MAX]; /* file name, for messages */
	char *text;	       /* the policy as read (kept with the loaded state) */
	size_t len;
	struct ipt2bpf_sec_domain *domains;
	unsigned int n_domains;
	struct ipt2bpf_sec_allow *allows;
	unsigned int n_allows;
};

static inline unsigned int ipt2bpf_policy_unconfined(const struct ipt2bpf_policy *p)
{
	return p->n_domains;
}

static inline unsigned int ipt2bpf_policy_unlabeled(const struct ipt2bpf_policy *p)
{
	return p->n_domains + 1;
}

/*
 * Parses policy text (source names it in messages: "FILE:LINE: ...").
 * Syntax only: cgroup paths are looked at by ipt2bpf_policy_resolve().
 * -EINVAL with the first error's line in the diag.
 */
int ipt2bpf_policy_parse(const char *text, size_t len, const char *source,
			 struct ipt2bpf_policy **out, struct ipt2bpf_diag *diag);
int ipt2bpf_policy_read(const char *path, struct ipt2bpf_policy **out, struct ipt2bpf_diag *diag);
/*
 * Each domain's cgroup: its id and level.  The path must be a directory of a
 * cgroup v2 mount (found in /proc/self/mountinfo); two domains cannot share
 * a cgroup.
 */
int ipt2bpf_policy_resolve(struct ipt2bpf_policy *p, struct ipt2bpf_diag *diag);
/* What allow rules give subj on type. */
uint32_t ipt2bpf_policy_perms(const struct ipt2bpf_policy *p, unsigned int subj, const char *type);
const char *ipt2bpf_policy_subj_name(const struct ipt2bpf_policy *p, unsigned int subj);
/* The permission's name for bit perm ("send", ...). */
const char *ipt2bpf_sec_perm_name(uint32_t perm);
void ipt2bpf_policy_free(struct ipt2bpf_policy *p);
void ipt2bpf_policy_freep(struct ipt2bpf_policy **p);
#define _free_ipt2bpf_policy_ __attribute__((cleanup(ipt2bpf_policy_freep)))

/* ------------------------------------------------------------ sinks */

/* What the code generator does with labels (ipt2bpf_gen_opts.sec). */
struct ipt2bpf_secopts {
	struct ipt2bpf_labels *labels; /* ids kept, new contexts added; NULL: a private table */
	const struct ipt2bpf_policy *policy; /* resolved; NULL: no enforcement */
	uint32_t mark_mask; /* label id into these skb->mark bits; 0: no mark sink */
	bool sink_none;	    /* --label-sink none: asked for no sink */
};

/* --label-sink ARG: "mark:MASK" (contiguous bits, e.g. 0xff0000) or "none". */
int ipt2bpf_label_sink_parse(const char *arg, struct ipt2bpf_secopts *o, struct ipt2bpf_diag *diag);
/* The mark value of label id under mask (0 if it does not fit). */
uint32_t ipt2bpf_label_mark(uint32_t mask, uint32_t id);
/* Largest label id the mask holds. */
uint32_t ipt2bpf_label_mark_max(uint32_t mask);

/* ------------------------------------------------------------ maps and programs */

/*
 * The receiving socket's domain at TC ingress: TC programs cannot ask a
 * socket for its cgroup (bpf_sk_cgroup_id() is for cgroup programs only, on
 * 6.1 and 6.18 alike), so a cgroup program on each domain's cgroup stamps
 * the sockets created there (BPF_CGROUP_INET_SOCK_CREATE) in socket-local
 * storage, and TC ingress reads the stamp of the socket bpf_sk_lookup_*()
 * finds.  The deepest domain wins (stamps carry the level).
 */
#define IPT2BPF_MAP_SEC_SK   "ipt_sec_sk"   /* SK_STORAGE: struct ipt2bpf_sec_stamp (shared) */
#define IPT2BPF_MAP_SEC_DENY "ipt_sec_deny" /* HASH: struct ipt2bpf_sec_denykey -> u64 (shared) */
#define IPT2BPF_SEC_DENY_MAX 16384
#define IPT2BPF_SEC_SK_FLAGS (BPF_F_NO_PREALLOC | BPF_F_CLONE)

struct ipt2bpf_sec_stamp {
	uint64_t cgid;	 /* the domain's cgroup id */
	uint32_t level1; /* its level + 1; 0: not stamped */
	uint32_t pad;
};

/* Denials are counted by subject, label id and permission. */
struct ipt2bpf_sec_denykey {
	uint64_t subj; /* the domain's cgroup id, or one of the two below */
	uint32_t label;
	uint32_t perm; /* IPT2BPF_PERM_* (one bit) */
};

#define IPT2BPF_SEC_SUBJ_UNCONFINED 0ULL /* no cgroup has id 0 */
#define IPT2BPF_SEC_SUBJ_UNLABELED  UINT64_MAX

/* A new ipt_sec_sk map (with the BTF the kernel wants for local storage): its fd. */
int ipt2bpf_sec_sk_map_create(struct ipt2bpf_diag *diag);

/*
 * The stamping program for one domain (BPF_PROG_TYPE_CGROUP_SOCK,
 * BPF_CGROUP_INET_SOCK_CREATE); sk_map_fd: the ipt_sec_sk map.
 * insns must hold IPT2BPF_SEC_STAMP_INSNS.  Returns the count.
 */
#define IPT2BPF_SEC_STAMP_INSNS 24
unsigned int ipt2bpf_sec_stamp_prog(const struct ipt2bpf_sec_domain *d, int sk_map_fd,
				    struct bpf_insn *insns);

/* ------------------------------------------------------------ code generator (internal) */

struct gen;
struct ipt2bpf_mod;

/*
 * The label sink module (order 30, after the connection tracker's 10): its
 * verdict hook enforces the policy and writes the mark.  SECMARK and
 * CONNSECMARK call gen_sec_use() from their prepare().
 */
int gen_sec_use(struct gen *g, unsigned int ti, unsigned int idx);
/* The label id of ctx (added to the table in use). */
int gen_sec_label(struct gen *g, unsigned int ti, unsigned int idx, const char *ctx, uint32_t *id);

#endif
