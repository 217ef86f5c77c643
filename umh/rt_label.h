/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Labels at run time: the pinned label table, the sink settings and policy
 * that outlive a load, the socket-stamping cgroup programs, the denial
 * counters.  `ipt2bpf load` calls ipt2bpf_rt_sec_prepare() before
 * ipt2bpf_rt_load() (whose options then carry the result) and
 * ipt2bpf_rt_sec_commit() after it; `labels`, `selinux-bridge` and
 * `status` read the state back.
 *
 *   <ns dir>/sec/labels         ARRAY u32 id -> char[256] context (id 0 unused)
 *   <ns dir>/sec/state          struct ipt2bpf_rt_sec_state (bytes map)
 *   <ns dir>/sec/policy         the policy text in force (bytes map)
 *   <ns dir>/sec/stamp_<cgid>   link: the stamping program on a domain's cgroup
 *   <ns dir>/shared/ipt_sec_sk  the socket stamps (SK_STORAGE, made here with
 *                               the BTF the kernel wants for it)
 *   <ns dir>/shared/ipt_sec_deny  denial counters (the programs' shared map)
 *
 * Ids never change while the state lives (until `ipt2bpf unload`).
 */
#ifndef IPT2BPF_RT_LABEL_H
#define IPT2BPF_RT_LABEL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime.h"
#include "../codegen/secpolicy.h"

#define IPT2BPF_RT_SEC_MAGIC   0x73656331 /* "sec1" */
#define IPT2BPF_RT_SEC_VERSION 1

struct ipt2bpf_rt_sec_state {
	uint32_t magic;
	uint32_t version;
	uint32_t mark_mask; /* 0: no mark sink */
	uint32_t flags;	    /* IPT2BPF_RT_SEC_F_* */
	uint32_t policy_len;
	uint32_t n_labels;
	char policy_source[PATH_MAX];
};

#define IPT2BPF_RT_SEC_F_POLICY	   (1U << 0)
#define IPT2BPF_RT_SEC_F_SINK_NONE (1U << 1)

/* What a load asks for; the CLI fills the first three fields. */
struct ipt2bpf_rt_sec {
	const char *policy_path; /* --policy FILE, or NULL */
	const char *sink;	 /* --label-sink ARG, or NULL */
	bool no_policy;		 /* --no-policy: drop the policy in force */
	/* filled by ipt2bpf_rt_sec_prepare() */
	struct ipt2bpf_secopts opts;
	struct ipt2bpf_labels labels;
	struct ipt2bpf_policy *policy;
	unsigned int n_labels_before; /* ids already pinned */
	bool kept;		      /* sink settings taken from the state in force */
};

/*
 * Before ipt2bpf_rt_load(): reads the pinned labels, and the sink settings
 * in force unless the caller gives new ones (a policy stays until replaced
 * or dropped), parses and resolves the policy, makes the socket-stamp map.
 */
int ipt2bpf_rt_sec_prepare(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec *s,
			   struct ipt2bpf_diag *diag);
/* After a successful load: pins the labels, the sink state, the policy; stamps the domains. */
int ipt2bpf_rt_sec_commit(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec *s,
			  struct ipt2bpf_diag *diag);
void ipt2bpf_rt_sec_release(struct ipt2bpf_rt_sec *s);

/* What is in force, for `labels`, `selinux-bridge`, `status`. */
struct ipt2bpf_rt_denial {
	uint64_t subj; /* key as counted (cgroup id, IPT2BPF_SEC_SUBJ_*) */
	uint32_t label;
	uint32_t perm;
	uint64_t count;
};

struct ipt2bpf_rt_sec_info {
	bool loaded; /* a state exists */
	struct ipt2bpf_rt_sec_state st;
	struct ipt2bpf_labels labels;
	struct ipt2bpf_policy *policy; /* NULL: none */
	struct ipt2bpf_rt_denial *denials;
	unsigned int n_denials;
	unsigned int n_stamps; /* cgroups with a stamping program */
};

/* -ENOENT when nothing was ever labelled here. */
int ipt2bpf_rt_sec_info_get(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec_info *info,
			    struct ipt2bpf_diag *diag);
void ipt2bpf_rt_sec_info_release(struct ipt2bpf_rt_sec_info *info);
/* The subject of a denial by name ("mozilla_t", "unconfined_t", or "cgroup:<id>"). */
const char *ipt2bpf_rt_sec_subj_name(const struct ipt2bpf_rt_sec_info *info, uint64_t subj,
				     char *buf, size_t len);
/* Denials as an AVC log, one line per (subject, label, permission). */
void ipt2bpf_rt_sec_print_denials(const struct ipt2bpf_rt_sec_info *info, FILE *f);

#endif
