/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The extensions ipt2bpf knows: name, revision, payload size and where the
 * kernel allows them.  The validator checks blobs against it, the shim and
 * the umh answer IPT_SO_GET_REVISION_* from it, so iptables never builds a
 * rule with a revision we cannot translate.
 */
#ifndef IPT2BPF_EXT_H
#define IPT2BPF_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ipt2bpf_ext {
	const char *name;
	uint8_t revision;
	bool target;
	size_t size;	    /* XT_ALIGN()ed payload size, as matchsize/targetsize */
	uint16_t proto;	    /* required -p (0: any), like xt_match.proto */
	unsigned int hooks; /* allowed hooks bitmask (0: any) */
	const char *table;  /* only in this table (NULL: any) */
	bool translated;    /* the code generator implements it */
	uint8_t family;	    /* NFPROTO_IPV4 or NFPROTO_UNSPEC, as the module registers it */
};

/* Built in (.translated) or implemented by an extension module (translator/mod.h). */
bool ipt2bpf_ext_translated(const struct ipt2bpf_ext *e);

const struct ipt2bpf_ext *ipt2bpf_ext_find(const char *name, uint8_t revision, bool target);

/*
 * Like the kernel's xt_find_match()/xt_find_target() for NFPROTO_IPV4: the
 * extension, or NULL with *err = -EINVAL (name not NUL-terminated within
 * XT_EXTENSION_MAXNAMELEN), -EPROTOTYPE (name registered for NFPROTO_UNSPEC
 * with other revisions only) or -ENOENT.
 */
const struct ipt2bpf_ext *ipt2bpf_ext_lookup(const char *name, uint8_t revision, bool target,
					     int *err);

/*
 * The answer to IPT_SO_GET_REVISION_MATCH/TARGET, as the kernel's
 * xt_find_revision() gives it, over *translated* extensions only (what the
 * shim and the umh tell iptables): the highest revision of name if revision
 * itself exists, -EPROTONOSUPPORT if name exists but not that revision,
 * -ENOENT if name is unknown.
 */
int ipt2bpf_ext_revision(const char *name, uint8_t revision, bool target);
/*
 * name is refused with a reason (a refuse-only module): GET_REVISION then
 * asks the kernel, so that iptables behaves as it would there and the rule
 * reaches us to be refused with that reason.
 */
bool ipt2bpf_ext_refused(const char *name, bool target);
/* The same over every extension the registry knows, translated or not. */
int ipt2bpf_ext_revision_known(const char *name, uint8_t revision, bool target);

/*
 * iprange revision 0 (ipt_iprange_info), which current uapi headers no longer
 * carry; iptables 1.8 still emits it against kernels without revision 1.
 */
struct ipt2bpf_iprange_v0 {
	struct {
		uint32_t min_ip, max_ip; /* network byte order */
	} src, dst;
	uint8_t flags; /* IPRANGE_SRC, IPRANGE_DST, IPRANGE_SRC_INV, IPRANGE_DST_INV */
};

#endif
