// SPDX-License-Identifier: GPL-2.0
/*
 * -j NFLOG: refused, with its reason: it sends packets to user space over nfnetlink_log, which
 * TC/XDP programs cannot reach.
 */
#include <errno.h>
#include <stdio.h>

#include "gen_internal.h"

static int nflog_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		       const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision;
	snprintf(why, whylen,
		 "not supported: NFLOG sends packets to user space over nfnetlink_log, which "
		 "TC/XDP programs cannot reach");
	return -EOPNOTSUPP;
}

static const struct ipt2bpf_mod mod_nflog = {
	.name = "NFLOG",
	.target = true,
	.revisions = (1U << 0),
	.check = nflog_check,
};
IPT2BPF_MOD_REGISTER(mod_nflog);
