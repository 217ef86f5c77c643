// SPDX-License-Identifier: GPL-2.0
/*
 * Extensions the kernel allows in the filter table that ipt2bpf refuses, each
 * with the reason an administrator needs to decide what to do instead (the
 * generic "not supported yet" names only the extension).  Every one of them
 * depends on kernel state a TC or XDP program cannot see or reproduce
 * exactly; the larger ones (owner, physdev, devgroup, NFQUEUE) have their
 * own files.
 */
#include <errno.h>
#include <stdio.h>

#include "gen_internal.h"

#define REFUSED(sym, ext, is_target, revs, reason)                                                 \
	static int sym##_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,       \
			       const void *data, size_t len, uint8_t revision, char *why,          \
			       size_t whylen)                                                      \
	{                                                                                          \
		(void)t, (void)e, (void)data, (void)len, (void)revision;                           \
		snprintf(why, whylen, "not supported: %s", reason);                                \
		return -EOPNOTSUPP;                                                                \
	}                                                                                          \
	static const struct ipt2bpf_mod mod_##sym = {                                              \
		.name = ext,                                                                       \
		.target = is_target,                                                               \
		.revisions = revs,                                                                 \
		.check = sym##_check,                                                              \
	};                                                                                         \
	IPT2BPF_MOD_REGISTER(mod_##sym)

#define REV(n) ((1U << ((n) + 1)) - 1) /* revisions 0..n */

/* ------------------------------------------------------------ matches */

REFUSED(realm, "realm", false, REV(0),
	"the route's realm (dst->tclassid) exists only after the routing decision, "
	"which the kernel makes after TC ingress");
REFUSED(policy, "policy", false, REV(0),
	"IPsec policy state (the skb's sec_path and xfrm bundle) is not visible "
	"to TC/XDP programs");
REFUSED(socket, "socket", false, REV(3),
	"the kernel's socket lookup with its transparent/nowildcard rules and "
	"early demux cannot be reproduced at TC ingress");
REFUSED(helper, "helper", false, REV(0),
	"the connection tracker has no conntrack helpers (doc/conntrack.md)");
REFUSED(osf, "osf", false, REV(0),
	"passive OS fingerprints live in the kernel's nfnetlink_osf list, which "
	"programs cannot read");
REFUSED(nfacct, "nfacct", false, REV(1),
	"nfnetlink_acct objects are kernel counters programs cannot update");
REFUSED(rateest, "rateest", false, REV(0),
	"rate estimators are kernel gen_estimator objects fed by the RATEEST "
	"target");
REFUSED(cluster, "cluster", false, REV(0),
	"cluster hashing works on conntrack master tuples and multicast MACs the "
	"tracker does not keep");
REFUSED(ipvs, "ipvs", false, REV(0), "IPVS connection state is not visible to programs");

/* ------------------------------------------------------------ targets */

REFUSED(idletimer, "IDLETIMER", true, REV(1),
	"its timers are kernel objects user space watches through sysfs");
REFUSED(led, "LED", true, REV(0), "it drives a kernel LED trigger");
REFUSED(rateest_tg, "RATEEST", true, REV(0),
	"it feeds kernel rate estimators (gen_estimator) that programs cannot update");
REFUSED(synproxy, "SYNPROXY", true, REV(0),
	"it answers SYNs with syncookies and splices the connection with the "
	"kernel's conntrack sequence adjustment, which the tracker does not have");
REFUSED(clusterip, "CLUSTERIP", true, REV(0),
	"it needs ARP mangling and conntrack state of the kernel's ipt_CLUSTERIP");
REFUSED(set_tg, "SET", true, REV(3), "ipset sets are kernel objects programs cannot update");
REFUSED(set, "set", false, REV(4), "ipset sets are kernel objects programs cannot read");
