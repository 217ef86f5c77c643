// SPDX-License-Identifier: GPL-2.0
/*
 * -m addrtype (revisions 0 and 1), as addrtype_mt_v0/v1() (xt_addrtype.c):
 * --src-type/--dst-type test 1 << inet_dev_addr_type(addr), each with its
 * '!'; --limit-iface-in/--limit-iface-out (revision 1) pass the input or
 * output device.  inet_dev_addr_type(): 0.0.0.0/8 and 255.255.255.255 are
 * BROADCAST, 224.0.0.0/4 MULTICAST; anything else is looked up in the local
 * routing table (RT_TABLE_LOCAL, longest prefix): the route's type when
 * there is one (and, with a device, only if it is the route's device),
 * else UNICAST.
 *
 * The programs look the local table up in ipt_addrtype, an LPM trie that
 * user space fills from the network namespace's table (netlink, below):
 * `ipt2bpf load` and `trace` do it when they load the programs.  The table
 * is a snapshot: addresses added or removed later are not seen until the
 * rules are loaded again.  An object attached by other means starts with the
 * map empty: every packet an addrtype rule looks at is then dropped rather
 * than judged against an empty table.  VRFs (l3mdev tables) are not
 * followed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/rtnetlink.h>

#include "gen_internal.h"
#include "m_addrtype.h"

#define ADDRTYPE_MAX 16384 /* local table routes */

struct addrtype_key {
	uint32_t prefixlen;
	uint32_t addr; /* network order */
};

struct addrtype_val {
	uint32_t type;	  /* RTN_* */
	uint32_t ifindex; /* the route's device, 0: none */
};

/* The payload, both revisions: masks, inversions (as bits 0/1), device. */
struct addrtype_q {
	uint16_t source, dest;
	bool inv_src, inv_dst;
	int dev; /* 0: none, 1: input device, 2: output device */
};

static struct addrtype_q addrtype_query(const void *data, uint8_t revision)
{
	struct addrtype_q q = {0};

	if (revision == 0) {
		const struct xt_addrtype_info *i = data;

		/* ret &= match ^ invert: only invert's lowest bit survives the bool. */
		q = (struct addrtype_q){.source = i->source,
					.dest = i->dest,
					.inv_src = i->invert_source & 1,
					.inv_dst = i->invert_dest & 1};
	} else {
		const struct xt_addrtype_info_v1 *i = data;

		q = (struct addrtype_q){.source = i->source,
					.dest = i->dest,
					.inv_src = i->flags & XT_ADDRTYPE_INVERT_SOURCE,
					.inv_dst = i->flags & XT_ADDRTYPE_INVERT_DEST};
		if (i->flags & XT_ADDRTYPE_LIMIT_IFACE_IN)
			q.dev = 1;
		else if (i->flags & XT_ADDRTYPE_LIMIT_IFACE_OUT)
			q.dev = 2;
	}
	return q;
}

static int addrtype_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
			  const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_addrtype_info_v1 *i = data;

	(void)t, (void)e, (void)len;
	if (revision == 1 && (i->flags & XT_ADDRTYPE_LIMIT_IFACE_IN) &&
	    (i->flags & XT_ADDRTYPE_LIMIT_IFACE_OUT)) {
		snprintf(why, whylen,
			 "--limit-iface-in with --limit-iface-out (the kernel refuses it)");
		return -EOPNOTSUPP;
	}
	return 0;
}

static const char *const type_names[] = {
	"UNSPEC",    "UNICAST",	    "LOCAL",	"BROADCAST", "ANYCAST", "MULTICAST",
	"BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW",     "NAT",	"XRESOLVE",
};

static void dump_types(FILE *f, const char *opt, bool inv, uint16_t mask)
{
	bool first = true;

	fprintf(f, "%s%s ", inv ? "! " : "", opt);
	for (unsigned int t = 0; t < 16; t++) {
		if (!(mask & (1U << t)))
			continue;
		if (t < sizeof(type_names) / sizeof(type_names[0]))
			fprintf(f, "%s%s", first ? "" : ",", type_names[t]);
		else
			fprintf(f, "%s%u", first ? "" : ",", t);
		first = false;
	}
}

static void addrtype_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	struct addrtype_q q = addrtype_query(data, revision);

	(void)len;
	if (q.source)
		dump_types(f, "--src-type", q.inv_src, q.source);
	if (q.source && q.dest)
		fputc(' ', f);
	if (q.dest)
		dump_types(f, "--dst-type", q.inv_dst, q.dest);
	if (q.dev)
		fputs(q.dev == 1 ? " --limit-iface-in" : " --limit-iface-out", f);
}

static int addrtype_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			    uint8_t revision)
{
	struct addrtype_q q = addrtype_query(data, revision);
	unsigned int hooks = g->tables[ti]->entries[idx].hooks;
	int map;

	/* addrtype_mt_checkentry_v1(): the kernel refuses these (EINVAL). */
	if (q.dev == 2 && (hooks & ((1U << NF_INET_PRE_ROUTING) | (1U << NF_INET_LOCAL_IN))))
		return gen_refuse(g, ti, idx,
				  "match 'addrtype': --limit-iface-out is not valid in INPUT");
	if (q.dev == 1 && (hooks & ((1U << NF_INET_POST_ROUTING) | (1U << NF_INET_LOCAL_OUT))))
		return gen_refuse(g, ti, idx,
				  "match 'addrtype': --limit-iface-in is not valid in OUTPUT");
	map = gen_map_get(g, IPT2BPF_MAP_ADDRTYPE, BPF_MAP_TYPE_LPM_TRIE,
			  sizeof(struct addrtype_key), sizeof(struct addrtype_val), ADDRTYPE_MAX,
			  BPF_F_NO_PREALLOC, false);
	return map < 0 ? map : 0;
}

/*
 * R1 = inet_dev_addr_type(addr) for the address at pkt offsets addr/addr_h;
 * dev_off: the device's gen_pkt offset, or -1.  Drops the packet if the map
 * was never filled.
 */
static void addrtype_of(struct gen *g, int map, int16_t addr, int16_t addr_h, int16_t dev_off)
{
	int l_done = LABEL(), l_found = LABEL();

	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, addr_h));
	E(BPF_MOV64_IMM(BPF_REG_1, RTN_BROADCAST));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_2));
	E(BPF_ALU32_IMM(BPF_RSH, BPF_REG_3, 24));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_3, 0, 0), l_done);  /* ipv4_is_zeronet() */
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_2, -1, 0), l_done); /* ipv4_is_lbcast() */
	E(BPF_MOV64_IMM(BPF_REG_1, RTN_MULTICAST));
	E(BPF_ALU32_IMM(BPF_RSH, BPF_REG_3, 4));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_3, 0xe, 0), l_done); /* ipv4_is_multicast() */
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_IFKEY, 32));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, addr));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_2, FP_IFKEY + 4));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_IFKEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_found);
	/* No entry at all, not even 0.0.0.0/0: the table was never filled in. */
	gen_verdict_exit(g, GEN_V_DROP);
	BIND(l_found);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct addrtype_val, type)));
	if (dev_off >= 0) {
		/* if (!dev || dev == nhc->nhc_dev) ret = res.type; (else UNICAST) */
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_0, offsetof(struct addrtype_val, ifindex)));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_6, dev_off));
		EJ(BPF_JMP_REG(BPF_JEQ, BPF_REG_2, BPF_REG_3, 0), l_done);
		E(BPF_MOV64_IMM(BPF_REG_1, RTN_UNICAST));
	}
	BIND(l_done);
}

/* Fail unless (mask & 1 << type) ^ inv. */
static void addrtype_test(struct gen *g, int map, int16_t addr, int16_t addr_h, int16_t dev_off,
			  uint16_t mask, bool inv, int l_fail)
{
	addrtype_of(g, map, addr, addr_h, dev_off);
	E(BPF_MOV64_IMM(BPF_REG_2, mask));
	E(BPF_ALU64_REG(BPF_RSH, BPF_REG_2, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_2, 1));
	EJ(BPF_JMP_IMM(inv ? BPF_JNE : BPF_JEQ, BPF_REG_2, 0, 0), l_fail);
}

static int addrtype_emit(struct gen *g, unsigned int ti, unsigned int idx,
			 const struct ipt2bpf_match *m, int l_fail)
{
	struct addrtype_q q = addrtype_query(m->data, m->revision);
	int map = ipt2bpf_progset_find_map(g->ps, IPT2BPF_MAP_ADDRTYPE);
	int16_t dev = q.dev == 1 ? PKT(iif) : q.dev == 2 ? PKT(oif) : -1;

	(void)ti, (void)idx;
	if (map < 0)
		return ipt2bpf_diag_set(g->diag, -EINVAL, "addrtype: no map");
	/* Both revisions: the rule fails at the first test that fails (no side effects). */
	if (q.source)
		addrtype_test(g, map, PKT(saddr), PKT(saddr_h), dev, q.source, q.inv_src, l_fail);
	if (q.dest)
		addrtype_test(g, map, PKT(daddr), PKT(daddr_h), dev, q.dest, q.inv_dst, l_fail);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_addrtype = {
	.name = "addrtype",
	.revisions = (1U << 0) | (1U << 1),
	.check = addrtype_check,
	.dump = addrtype_dump,
	.prepare = addrtype_prepare,
	.emit_match = addrtype_emit,
};
IPT2BPF_MOD_REGISTER(mod_addrtype);

/* ------------------------------------------------------------ the local table */

struct fill {
	int fd;
	uint32_t (*dev_map)(uint32_t ifindex, void *arg);
	void *arg;
	int err;
	unsigned int n;
	struct {
		struct addrtype_key k;
		uint32_t prio;
	} seen[256]; /* keys written, for duplicates (first by priority wins) */
	unsigned int n_seen;
};

static uint32_t first_nexthop(const struct nlattr *mp)
{
	const struct rtnexthop *nh = mnl_attr_get_payload(mp);

	if (mnl_attr_get_payload_len(mp) < sizeof(*nh))
		return 0;
	return (uint32_t)nh->rtnh_ifindex;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct fill *f = data;
	const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	struct addrtype_key k = {0};
	struct addrtype_val v = {0};
	uint32_t table, prio = 0;
	unsigned int i;

	if (nlh->nlmsg_type != RTM_NEWROUTE || mnl_nlmsg_get_payload_len(nlh) < sizeof(*rt) ||
	    rt->rtm_family != AF_INET)
		return MNL_CB_OK;
	table = rt->rtm_table;
	mnl_attr_for_each(a, nlh, sizeof(*rt))
	{
		switch (mnl_attr_get_type(a)) {
		case RTA_TABLE:
			if (!mnl_attr_validate(a, MNL_TYPE_U32))
				table = mnl_attr_get_u32(a);
			break;
		case RTA_DST:
			if (mnl_attr_get_payload_len(a) == 4)
				memcpy(&k.addr, mnl_attr_get_payload(a), 4);
			break;
		case RTA_OIF:
			if (!mnl_attr_validate(a, MNL_TYPE_U32))
				v.ifindex = mnl_attr_get_u32(a);
			break;
		case RTA_MULTIPATH:
			if (!v.ifindex)
				v.ifindex = first_nexthop(a);
			break;
		case RTA_PRIORITY:
			if (!mnl_attr_validate(a, MNL_TYPE_U32))
				prio = mnl_attr_get_u32(a);
			break;
		}
	}
	/* fib_table_lookup() with tos 0 skips routes with a TOS, and dead ones. */
	if (table != RT_TABLE_LOCAL || rt->rtm_tos || (rt->rtm_flags & RTNH_F_DEAD) ||
	    rt->rtm_dst_len > 32)
		return MNL_CB_OK;
	k.prefixlen = rt->rtm_dst_len;
	v.type = rt->rtm_type;
	if (v.ifindex && f->dev_map)
		v.ifindex = f->dev_map(v.ifindex, f->arg);
	for (i = 0; i < f->n_seen; i++)
		if (!memcmp(&f->seen[i].k, &k, sizeof(k)))
			break;
	if (i < f->n_seen && f->seen[i].prio <= prio)
		return MNL_CB_OK;
	if (i == f->n_seen && f->n_seen < sizeof(f->seen) / sizeof(f->seen[0])) {
		f->seen[f->n_seen].k = k;
		f->seen[f->n_seen++].prio = prio;
	} else if (i < f->n_seen) {
		f->seen[i].prio = prio;
	}
	if (bpf_map_update_elem(f->fd, &k, &v, BPF_ANY) && !f->err)
		f->err = -errno;
	f->n++;
	return MNL_CB_OK;
}

static int dump_local(struct fill *f)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct rtmsg *rt;
	unsigned int seq = 1, portid;
	int ret, err = 0;

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_LOCAL;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (n < 0) {
			err = -errno;
			break;
		}
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, route_cb, f);
		if (ret <= MNL_CB_STOP) {
			if (ret < 0)
				err = -errno;
			break;
		}
	}
out:
	mnl_socket_close(nl);
	return err ? err : f->err;
}

int ipt2bpf_addrtype_fill(const struct ipt2bpf_progset *ps, const struct ipt2bpf_loaded *l,
			  uint32_t (*dev_map)(uint32_t ifindex, void *arg), void *arg)
{
	int map = ipt2bpf_progset_find_map(ps, IPT2BPF_MAP_ADDRTYPE);
	struct addrtype_key k = {0}, next;
	struct addrtype_val unicast = {.type = RTN_UNICAST};
	struct fill *f;
	int err;

	if (map < 0)
		return 0;
	if ((unsigned int)map >= l->n_maps || l->map_fds[map] < 0)
		return -ENOENT;
	/* Start from empty: a second fill (trace's device mapping) replaces the first. */
	while (!bpf_map_get_next_key(l->map_fds[map], NULL, &next))
		if (bpf_map_delete_elem(l->map_fds[map], &next))
			return -errno;
	/* Nothing found in the local table: UNICAST (and the map counts as filled). */
	if (bpf_map_update_elem(l->map_fds[map], &k, &unicast, BPF_ANY))
		return -errno;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = l->map_fds[map];
	f->dev_map = dev_map;
	f->arg = arg;
	err = dump_local(f);
	free(f);
	return err;
}
