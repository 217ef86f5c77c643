// SPDX-License-Identifier: GPL-2.0
/*
 * -m devgroup: refused.  It compares the input and output devices' group
 * (net_device->group, `ip link set dev X group N`), which TC and XDP programs
 * cannot read, and which can change at any time.
 */
#include <errno.h>
#include <stdio.h>

#include "gen_internal.h"

static int devgroup_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			  const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision;
	snprintf(why, whylen,
		 "not supported: a device's group (ip link ... group) is not visible to TC/XDP "
		 "programs");
	return -EOPNOTSUPP;
}

static const struct ipt2bpf_mod mod_devgroup = {
	.name = "devgroup",
	.revisions = 1U << 0,
	.check = devgroup_check,
};
IPT2BPF_MOD_REGISTER(mod_devgroup);
