// SPDX-License-Identifier: GPL-2.0
/*
 * -m physdev: refused.  It matches the bridge ports a bridged packet came
 * in on or goes out of, which br_netfilter records in the skb
 * (nf_bridge_info) when bridge-nf-call-iptables hands bridged frames to
 * iptables.  ipt2bpf's programs see IP packets on the devices they are
 * attached to and know nothing of bridges.
 */
#include <errno.h>
#include <stdio.h>

#include "gen_internal.h"

static int physdev_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			 const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision;
	snprintf(why, whylen,
		 "not supported: bridge ports (br_netfilter's nf_bridge_info) are not visible "
		 "to TC/XDP programs; ipt2bpf has no bridge support");
	return -EOPNOTSUPP;
}

static const struct ipt2bpf_mod mod_physdev = {
	.name = "physdev",
	.revisions = 1U << 0,
	.check = physdev_check,
};
IPT2BPF_MOD_REGISTER(mod_physdev);
