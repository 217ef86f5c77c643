// SPDX-License-Identifier: GPL-2.0
/*
 * -j NFQUEUE: refused, with its reason: it queues packets to a user-space program for its verdict;
 * TC/XDP programs cannot wait for one.
 */
#include <errno.h>
#include <stdio.h>

#include "gen_internal.h"

static int nfqueue_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			 const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision;
	snprintf(why, whylen,
		 "not supported: NFQUEUE queues packets to a user-space program for its verdict; "
		 "TC/XDP programs cannot wait for one");
	return -EOPNOTSUPP;
}

static const struct ipt2bpf_mod mod_nfqueue = {
	.name = "NFQUEUE",
	.target = true,
	.revisions = (1U << 0) | (1U << 1) | (1U << 2) | (1U << 3),
	.check = nfqueue_check,
};
IPT2BPF_MOD_REGISTER(mod_nfqueue);
