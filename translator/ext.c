// SPDX-License-Identifier: GPL-2.0
/*
 * The extension registry: every match and target the kernel (6.1) offers for
 * IPv4 that iptables 1.8 may put into a blob, with the numbers the kernel
 * module registers (xt_match/xt_target: revision, family, matchsize or
 * targetsize, proto, hooks, table).
 *
 * Sizes are XT_ALIGN(sizeof(uapi struct)): xt_check_match()/xt_check_target()
 * compare XT_ALIGN(matchsize) with the user's payload size, and matchsize is
 * the whole struct including kernel-private tail fields (the uapi headers
 * declare those too), not the shorter .usersize used for copying back.
 *
 * Compiled into the LD_PRELOAD shim as well: libc only.
 */
#include <errno.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/xt_AUDIT.h>
#include <linux/netfilter/xt_CHECKSUM.h>
#include <linux/netfilter/xt_CLASSIFY.h>
#include <linux/netfilter/xt_CONNMARK.h>
#include <linux/netfilter/xt_CONNSECMARK.h>
#include <linux/netfilter/xt_CT.h>
#include <linux/netfilter/xt_DSCP.h>
#include <linux/netfilter/xt_HMARK.h>
#include <linux/netfilter/xt_IDLETIMER.h>
#include <linux/netfilter/xt_LED.h>
#include <linux/netfilter/xt_LOG.h>
#include <linux/netfilter/xt_MARK.h>
#include <linux/netfilter/xt_NFLOG.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <linux/netfilter/xt_RATEEST.h>
#include <linux/netfilter/xt_SECMARK.h>
#include <linux/netfilter/xt_SYNPROXY.h>
#include <linux/netfilter/xt_TCPMSS.h>
#include <linux/netfilter/xt_TCPOPTSTRIP.h>
#include <linux/netfilter/xt_TEE.h>
#include <linux/netfilter/xt_TPROXY.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_bpf.h>
#include <linux/netfilter/xt_cgroup.h>
#include <linux/netfilter/xt_cluster.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_connbytes.h>
#include <linux/netfilter/xt_connlabel.h>
#include <linux/netfilter/xt_connlimit.h>
#include <linux/netfilter/xt_connmark.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_cpu.h>
#include <linux/netfilter/xt_dccp.h>
#include <linux/netfilter/xt_devgroup.h>
#include <linux/netfilter/xt_dscp.h>
#include <linux/netfilter/xt_ecn.h>
#include <linux/netfilter/xt_esp.h>
#include <linux/netfilter/xt_hashlimit.h>
#include <linux/netfilter/xt_helper.h>
#include <linux/netfilter/xt_ipcomp.h>
#include <linux/netfilter/xt_iprange.h>
#include <linux/netfilter/xt_ipvs.h>
#include <linux/netfilter/xt_l2tp.h>
#include <linux/netfilter/xt_length.h>
#include <linux/netfilter/xt_limit.h>
#include <linux/netfilter/xt_mac.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_nfacct.h>
#include <linux/netfilter/xt_osf.h>
#include <linux/netfilter/xt_owner.h>
#include <linux/netfilter/xt_physdev.h>
#include <linux/netfilter/xt_pkttype.h>
#include <linux/netfilter/xt_policy.h>
#include <linux/netfilter/xt_quota.h>
#include <linux/netfilter/xt_rateest.h>
#include <linux/netfilter/xt_realm.h>
#include <linux/netfilter/xt_recent.h>
#include <linux/netfilter/xt_rpfilter.h>
#include <linux/netfilter/xt_sctp.h>
#include <linux/netfilter/xt_set.h>
#include <linux/netfilter/xt_socket.h>
#include <linux/netfilter/xt_state.h>
#include <linux/netfilter/xt_statistic.h>
#include <linux/netfilter/xt_string.h>
#include <linux/netfilter/xt_tcpmss.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter/xt_time.h>
#include <linux/netfilter/xt_u32.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv4/ipt_CLUSTERIP.h>
#include <linux/netfilter_ipv4/ipt_ECN.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>
#include <linux/netfilter_ipv4/ipt_ah.h>
#include <linux/netfilter_ipv4/ipt_ttl.h>

#include "ext.h"
#include "mod.h"
#include "util.h"

#define HK(h) (1u << NF_INET_##h)

/* ipt_TTL.h and ipt_ttl.h share one include guard: the target's layout, copied. */
struct ipt2bpf_ttl_tginfo {
	__u8 mode;
	__u8 ttl;
};

/* One registration; the trailing arguments set proto/hooks/table/translated. */
#define EXT(n, rev, tg, fam, sz, ...)                                                              \
	{                                                                                          \
		.name = (n), .revision = (rev), .target = (tg), .size = XT_ALIGN(sz),              \
		.family = NFPROTO_##fam, __VA_ARGS__                                               \
	}
#define M4(n, rev, sz, ...) EXT(n, rev, false, IPV4, sz, __VA_ARGS__)
#define MU(n, rev, sz, ...) EXT(n, rev, false, UNSPEC, sz, __VA_ARGS__)
#define T4(n, rev, sz, ...) EXT(n, rev, true, IPV4, sz, __VA_ARGS__)
#define TU(n, rev, sz, ...) EXT(n, rev, true, UNSPEC, sz, __VA_ARGS__)

static const struct ipt2bpf_ext exts[] = {
	/* ---- translated: the code generator implements these exactly ---- */
	T4(XT_STANDARD_TARGET, 0, sizeof(int), .translated = true),
	T4(XT_ERROR_TARGET, 0, XT_FUNCTION_MAXNAMELEN, .translated = true),
	M4("tcp", 0, sizeof(struct xt_tcp), .proto = IPPROTO_TCP, .translated = true),
	M4("udp", 0, sizeof(struct xt_udp), .proto = IPPROTO_UDP, .translated = true),
	M4("icmp", 0, sizeof(struct ipt_icmp), .proto = IPPROTO_ICMP, .translated = true),
	/*
	 * multiport and iprange revision 0 are gone from 6.1 (iptables asks
	 * for revision 1 first), but older kernels took them and iptables 1.8
	 * still builds them: accepted and widened to revision 1 by the decoder.
	 */
	M4("multiport", 0, sizeof(struct xt_multiport), .translated = true),
	M4("multiport", 1, sizeof(struct xt_multiport_v1), .translated = true),
	M4("iprange", 0, sizeof(struct ipt2bpf_iprange_v0), .translated = true),
	M4("iprange", 1, sizeof(struct xt_iprange_mtinfo), .translated = true),
	MU("comment", 0, sizeof(struct xt_comment_info), .translated = true),

	/* ---- known to the kernel, not translated yet: validated, then refused ---- */
	MU("state", 0, sizeof(struct xt_state_info)),
	MU("conntrack", 1, sizeof(struct xt_conntrack_mtinfo1)),
	MU("conntrack", 2, sizeof(struct xt_conntrack_mtinfo2)),
	MU("conntrack", 3, sizeof(struct xt_conntrack_mtinfo3)),
	MU("limit", 0, sizeof(struct xt_rateinfo)),
	M4("mac", 0, sizeof(struct xt_mac_info),
	   .hooks = HK(PRE_ROUTING) | HK(LOCAL_IN) | HK(FORWARD)),
	MU("mark", 1, sizeof(struct xt_mark_mtinfo1)),
	M4("length", 0, sizeof(struct xt_length_info)),
	M4("ttl", 0, sizeof(struct ipt_ttl_info)),
	M4("tos", 1, sizeof(struct xt_tos_match_info)),
	M4("dscp", 0, sizeof(struct xt_dscp_info)),
	MU("pkttype", 0, sizeof(struct xt_pkttype_info)),
	M4("addrtype", 0, sizeof(struct xt_addrtype_info)),
	M4("addrtype", 1, sizeof(struct xt_addrtype_info_v1)),
	M4("owner", 1, sizeof(struct xt_owner_match_info),
	   .hooks = HK(LOCAL_OUT) | HK(POST_ROUTING)),
	M4("recent", 0, sizeof(struct xt_recent_mtinfo)),
	M4("recent", 1, sizeof(struct xt_recent_mtinfo_v1)),
	M4("hashlimit", 1, sizeof(struct xt_hashlimit_mtinfo1)),
	M4("hashlimit", 2, sizeof(struct xt_hashlimit_mtinfo2)),
	M4("hashlimit", 3, sizeof(struct xt_hashlimit_mtinfo3)),
	M4("connlimit", 1, sizeof(struct xt_connlimit_info)),
	MU("connmark", 1, sizeof(struct xt_connmark_mtinfo1)),
	MU("connbytes", 0, sizeof(struct xt_connbytes_info)),
	MU("connlabel", 0, sizeof(struct xt_connlabel_mtinfo)),
	M4("set", 0, sizeof(struct xt_set_info_match_v0)),
	M4("set", 1, sizeof(struct xt_set_info_match_v1)),
	M4("set", 2, sizeof(struct xt_set_info_match_v1)),
	M4("set", 3, sizeof(struct xt_set_info_match_v3)),
	M4("set", 4, sizeof(struct xt_set_info_match_v4)),
	MU("string", 1, sizeof(struct xt_string_info)),
	MU("u32", 0, sizeof(struct xt_u32)),
	M4("tcpmss", 0, sizeof(struct xt_tcpmss_match_info), .proto = IPPROTO_TCP),
	MU("helper", 0, sizeof(struct xt_helper_info)),
	M4("physdev", 0, sizeof(struct xt_physdev_info)),
	M4("policy", 0, sizeof(struct xt_policy_info)),
	MU("quota", 0, sizeof(struct xt_quota_info)),
	MU("statistic", 0, sizeof(struct xt_statistic_info)),
	MU("time", 0, sizeof(struct xt_time_info)),
	M4("socket", 0, 0, .hooks = HK(PRE_ROUTING) | HK(LOCAL_IN)),
	M4("socket", 1, sizeof(struct xt_socket_mtinfo1), .hooks = HK(PRE_ROUTING) | HK(LOCAL_IN)),
	M4("socket", 2, sizeof(struct xt_socket_mtinfo1), .hooks = HK(PRE_ROUTING) | HK(LOCAL_IN)),
	M4("socket", 3, sizeof(struct xt_socket_mtinfo1), .hooks = HK(PRE_ROUTING) | HK(LOCAL_IN)),
	MU("cgroup", 0, sizeof(struct xt_cgroup_info_v0),
	   .hooks = HK(LOCAL_OUT) | HK(POST_ROUTING) | HK(LOCAL_IN)),
	MU("cgroup", 1, sizeof(struct xt_cgroup_info_v1),
	   .hooks = HK(LOCAL_OUT) | HK(POST_ROUTING) | HK(LOCAL_IN)),
	MU("cgroup", 2, sizeof(struct xt_cgroup_info_v2),
	   .hooks = HK(LOCAL_OUT) | HK(POST_ROUTING) | HK(LOCAL_IN)),
	MU("devgroup", 0, sizeof(struct xt_devgroup_info)),
	MU("cpu", 0, sizeof(struct xt_cpu_info)),
	M4("ecn", 0, sizeof(struct xt_ecn_info)),
	M4("esp", 0, sizeof(struct xt_esp), .proto = IPPROTO_ESP),
	M4("ah", 0, sizeof(struct ipt_ah), .proto = IPPROTO_AH),
	M4("ipcomp", 0, sizeof(struct xt_ipcomp), .proto = IPPROTO_COMP),
	M4("sctp", 0, sizeof(struct xt_sctp_info), .proto = IPPROTO_SCTP),
	M4("dccp", 0, sizeof(struct xt_dccp_info), .proto = IPPROTO_DCCP),
	M4("udplite", 0, sizeof(struct xt_udp), .proto = IPPROTO_UDPLITE),
	M4("rpfilter", 0, sizeof(struct xt_rpfilter_info), .hooks = HK(PRE_ROUTING)),
	M4("realm", 0, sizeof(struct xt_realm_info),
	   .hooks = HK(POST_ROUTING) | HK(FORWARD) | HK(LOCAL_OUT) | HK(LOCAL_IN)),
	MU("nfacct", 0, sizeof(struct xt_nfacct_match_info)),
	MU("nfacct", 1, sizeof(struct xt_nfacct_match_info_v1)),
	MU("rateest", 0, sizeof(struct xt_rateest_match_info)),
	MU("bpf", 0, sizeof(struct xt_bpf_info)),
	MU("bpf", 1, sizeof(struct xt_bpf_info_v1)),
	M4("cluster", 0, sizeof(struct xt_cluster_match_info)),
	M4("osf", 0, sizeof(struct xt_osf_info), .proto = IPPROTO_TCP,
	   .hooks = HK(LOCAL_IN) | HK(PRE_ROUTING) | HK(FORWARD)),
	M4("l2tp", 0, sizeof(struct xt_l2tp_info),
	   .hooks = HK(PRE_ROUTING) | HK(LOCAL_IN) | HK(LOCAL_OUT) | HK(FORWARD)),
	MU("ipvs", 0, sizeof(struct xt_ipvs_mtinfo)),

	T4("MARK", 2, sizeof(struct xt_mark_tginfo2)),
	T4("LOG", 0, sizeof(struct xt_log_info)),
	T4("REJECT", 0, sizeof(struct ipt_reject_info), .table = "filter",
	   .hooks = HK(LOCAL_IN) | HK(FORWARD) | HK(LOCAL_OUT)),
	/* SECMARK/CONNSECMARK: mangle or security, checked by their checkentry. */
	T4("SECMARK", 0, sizeof(struct xt_secmark_target_info)),
	T4("SECMARK", 1, sizeof(struct xt_secmark_target_info_v1)),
	T4("CONNSECMARK", 0, sizeof(struct xt_connsecmark_target_info)),
	T4("CONNMARK", 1, sizeof(struct xt_connmark_tginfo1)),
	T4("CONNMARK", 2, sizeof(struct xt_connmark_tginfo2)),
	T4("TCPMSS", 0, sizeof(struct xt_tcpmss_info), .proto = IPPROTO_TCP),
	T4("TCPOPTSTRIP", 0, sizeof(struct xt_tcpoptstrip_target_info), .proto = IPPROTO_TCP,
	   .table = "mangle"),
	T4("NFLOG", 0, sizeof(struct xt_nflog_info)),
	TU("NFQUEUE", 0, sizeof(struct xt_NFQ_info)),
	TU("NFQUEUE", 1, sizeof(struct xt_NFQ_info_v1)),
	TU("NFQUEUE", 2, sizeof(struct xt_NFQ_info_v2)),
	TU("NFQUEUE", 3, sizeof(struct xt_NFQ_info_v3)),
	T4("CT", 0, sizeof(struct xt_ct_target_info), .table = "raw"),
	T4("CT", 1, sizeof(struct xt_ct_target_info_v1), .table = "raw"),
	T4("CT", 2, sizeof(struct xt_ct_target_info_v1), .table = "raw"),
	T4("NOTRACK", 0, 0, .table = "raw"),
	T4("TRACE", 0, 0, .table = "raw"),
	T4("SNAT", 0, sizeof(struct nf_nat_ipv4_multi_range_compat), .table = "nat",
	   .hooks = HK(POST_ROUTING) | HK(LOCAL_IN)),
	T4("DNAT", 0, sizeof(struct nf_nat_ipv4_multi_range_compat), .table = "nat",
	   .hooks = HK(PRE_ROUTING) | HK(LOCAL_OUT)),
	TU("SNAT", 1, sizeof(struct nf_nat_range), .table = "nat",
	   .hooks = HK(POST_ROUTING) | HK(LOCAL_IN)),
	TU("DNAT", 1, sizeof(struct nf_nat_range), .table = "nat",
	   .hooks = HK(PRE_ROUTING) | HK(LOCAL_OUT)),
	TU("SNAT", 2, sizeof(struct nf_nat_range2), .table = "nat",
	   .hooks = HK(POST_ROUTING) | HK(LOCAL_IN)),
	TU("DNAT", 2, sizeof(struct nf_nat_range2), .table = "nat",
	   .hooks = HK(PRE_ROUTING) | HK(LOCAL_OUT)),
	T4("MASQUERADE", 0, sizeof(struct nf_nat_ipv4_multi_range_compat), .table = "nat",
	   .hooks = HK(POST_ROUTING)),
	T4("REDIRECT", 0, sizeof(struct nf_nat_ipv4_multi_range_compat), .table = "nat",
	   .hooks = HK(PRE_ROUTING) | HK(LOCAL_OUT)),
	T4("NETMAP", 0, sizeof(struct nf_nat_ipv4_multi_range_compat), .table = "nat",
	   .hooks = HK(PRE_ROUTING) | HK(POST_ROUTING) | HK(LOCAL_OUT) | HK(LOCAL_IN)),
	T4("CLASSIFY", 0, sizeof(struct xt_classify_target_info),
	   .hooks = HK(LOCAL_OUT) | HK(FORWARD) | HK(POST_ROUTING)),
	T4("DSCP", 0, sizeof(struct xt_DSCP_info), .table = "mangle"),
	T4("TOS", 1, sizeof(struct xt_tos_target_info), .table = "mangle"),
	T4("TTL", 0, sizeof(struct ipt2bpf_ttl_tginfo), .table = "mangle"),
	T4("ECN", 0, sizeof(struct ipt_ECN_info), .table = "mangle"),
	T4("CHECKSUM", 0, sizeof(struct xt_CHECKSUM_info), .table = "mangle"),
	T4("TPROXY", 0, sizeof(struct xt_tproxy_target_info), .table = "mangle",
	   .hooks = HK(PRE_ROUTING)),
	T4("TPROXY", 1, sizeof(struct xt_tproxy_target_info_v1), .table = "mangle",
	   .hooks = HK(PRE_ROUTING)),
	TU("AUDIT", 0, sizeof(struct xt_audit_info)),
	T4("HMARK", 0, sizeof(struct xt_hmark_info)),
	T4("IDLETIMER", 0, sizeof(struct idletimer_tg_info)),
	T4("IDLETIMER", 1, sizeof(struct idletimer_tg_info_v1)),
	T4("LED", 0, sizeof(struct xt_led_info)),
	T4("TEE", 1, sizeof(struct xt_tee_tginfo)),
	T4("RATEEST", 0, sizeof(struct xt_rateest_target_info)),
	T4("SET", 0, sizeof(struct xt_set_info_target_v0)),
	T4("SET", 1, sizeof(struct xt_set_info_target_v1)),
	T4("SET", 2, sizeof(struct xt_set_info_target_v2)),
	T4("SET", 3, sizeof(struct xt_set_info_target_v3)),
	T4("SYNPROXY", 0, sizeof(struct xt_synproxy_info), .hooks = HK(LOCAL_IN) | HK(FORWARD)),
	T4("CLUSTERIP", 0, sizeof(struct ipt_clusterip_tgt_info)),
};

/* The layouts our translated entries depend on, pinned to the kernel's sizes. */
_Static_assert(XT_ALIGN(sizeof(struct xt_tcp)) == 16, "xt_tcp");
_Static_assert(XT_ALIGN(sizeof(struct ipt2bpf_iprange_v0)) == 24, "ipt_iprange_info");
_Static_assert(XT_ALIGN(sizeof(struct xt_multiport)) == 32, "xt_multiport");

bool ipt2bpf_ext_translated(const struct ipt2bpf_ext *e)
{
	const struct ipt2bpf_mod *m = ipt2bpf_mod_find(e->name, e->revision, e->target);

	return e->translated || (m && !ipt2bpf_mod_refuses_only(m));
}

bool ipt2bpf_ext_refused(const char *name, bool target)
{
	const struct ipt2bpf_mod *m;
	size_t i = 0;

	while ((m = ipt2bpf_mod_next(&i)))
		if (m->target == target && ipt2bpf_mod_refuses_only(m) &&
		    strncmp(m->name, name, XT_EXTENSION_MAXNAMELEN) == 0)
			return true;
	return false;
}

static bool name_eq(const struct ipt2bpf_ext *e, const char *name, bool target)
{
	return e->target == target && strcmp(e->name, name) == 0;
}

const struct ipt2bpf_ext *ipt2bpf_ext_find(const char *name, uint8_t revision, bool target)
{
	for (size_t i = 0; i < ARRAY_SIZE(exts); i++)
		if (name_eq(&exts[i], name, target) && exts[i].revision == revision)
			return &exts[i];
	return NULL;
}

const struct ipt2bpf_ext *ipt2bpf_ext_lookup(const char *name, uint8_t revision, bool target,
					     int *err)
{
	const struct ipt2bpf_ext *e;
	bool unspec_other = false;

	if (strnlen(name, XT_EXTENSION_MAXNAMELEN) == XT_EXTENSION_MAXNAMELEN) {
		*err = -EINVAL;
		return NULL;
	}
	e = ipt2bpf_ext_find(name, revision, target);
	if (e) {
		*err = 0;
		return e;
	}
	/*
	 * The kernel searches the IPv4 list, then the NFPROTO_UNSPEC one, and
	 * only the last search's "found another revision" survives.
	 */
	for (size_t i = 0; i < ARRAY_SIZE(exts); i++)
		if (name_eq(&exts[i], name, target) && exts[i].family == NFPROTO_UNSPEC)
			unspec_other = true;
	*err = unspec_other ? -EPROTOTYPE : -ENOENT;
	return NULL;
}

/* One family's list, as match_revfn()/target_revfn() walk it. */
static bool revfn(uint8_t family, const char *name, uint8_t revision, bool target,
		  bool translated_only, int *best)
{
	bool have = false;

	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		const struct ipt2bpf_ext *e = &exts[i];

		if (e->family != family || !name_eq(e, name, target))
			continue;
		if (translated_only && !ipt2bpf_ext_translated(e))
			continue;
		if (e->revision > *best)
			*best = e->revision;
		if (e->revision == revision)
			have = true;
	}
	return have;
}

static int find_revision(const char *raw, uint8_t revision, bool target, bool translated_only)
{
	char name[XT_EXTENSION_MAXNAMELEN];
	int best = -1;
	bool have;

	/* do_ipt_get_ctl() terminates xt_get_revision.name at its last byte. */
	strncpy(name, raw, sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	have = revfn(NFPROTO_IPV4, name, revision, target, translated_only, &best);
	if (!have)
		have = revfn(NFPROTO_UNSPEC, name, revision, target, translated_only, &best);
	if (best < 0)
		return -ENOENT;
	return have ? best : -EPROTONOSUPPORT;
}

int ipt2bpf_ext_revision(const char *name, uint8_t revision, bool target)
{
	return find_revision(name, revision, target, true);
}

int ipt2bpf_ext_revision_known(const char *name, uint8_t revision, bool target)
{
	return find_revision(name, revision, target, false);
}
