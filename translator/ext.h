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
};

const struct ipt2bpf_ext *ipt2bpf_ext_find(const char *name, uint8_t revision, bool target);
/* Highest revision known for name, or -ENOENT (-EPROTONOSUPPORT if none <= rev). */
int ipt2bpf_ext_revision(const char *name, uint8_t revision, bool target);

#endif
