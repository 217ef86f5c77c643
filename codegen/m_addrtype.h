/* SPDX-License-Identifier: GPL-2.0 */
/*
 * -m addrtype needs the kernel's local routing table (inet_dev_addr_type()
 * looks addresses up there): the programs read it from the ipt_addrtype map,
 * which user space fills from the current network namespace.
 */
#ifndef IPT2BPF_M_ADDRTYPE_H
#define IPT2BPF_M_ADDRTYPE_H

#include <stdint.h>

#include "load.h"

#define IPT2BPF_MAP_ADDRTYPE "ipt_addrtype"

/*
 * Fills ipt_addrtype (if the program set has it) with the routes of
 * RT_TABLE_LOCAL of the current network namespace.  dev_map (may be NULL)
 * turns a route's device ifindex into the one the programs see (trace
 * pretends devices).  0 or a negative errno.
 */
int ipt2bpf_addrtype_fill(const struct ipt2bpf_progset *ps, const struct ipt2bpf_loaded *l,
			  uint32_t (*dev_map)(uint32_t ifindex, void *arg), void *arg);

#endif
