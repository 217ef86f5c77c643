// SPDX-License-Identifier: GPL-2.0
/*
 * -j AUDIT: refused, with its reason: it writes kernel audit records, which BPF programs cannot.
 */
#include <errno.h>
#include <stdio.h>

#include "gen_internal.h"

static int audit_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		       const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision;
	snprintf(why, whylen,
		 "not supported: AUDIT writes kernel audit records, which BPF programs cannot");
	return -EOPNOTSUPP;
}

static const struct ipt2bpf_mod mod_audit = {
	.name = "AUDIT",
	.target = true,
	.revisions = (1U << 0),
	.check = audit_check,
};
IPT2BPF_MOD_REGISTER(mod_audit);
