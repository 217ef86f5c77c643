// SPDX-License-Identifier: GPL-2.0
/*
 * Hooks: TC filters on clsact (libbpf's netlink API, fixed handle and
 * priority, replaced in place) and XDP bpf_links (pinned, updated in place).
 * Nothing here touches a filter, link or qdisc that is not ours.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "rt_internal.h"
#include "../translator/util.h"

static const char *const rt_prog_names[] = {"ipt_ingress", "ipt_egress", "ipt_xdp"};

bool rt_prog_is_ours(uint32_t prog_id)
{
	struct bpf_prog_info info = {0};
	uint32_t len = sizeof(info);
	_cleanup_close_ int fd = bpf_prog_get_fd_by_id(prog_id);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return false;
	for (unsigned int i = 0; i < ARRAY_SIZE(rt_prog_names); i++)
		if (!strncmp(info.name, rt_prog_names[i], sizeof(info.name)))
			return true;
	return false;
}

/* One entry of an RTM_GETTFILTER dump. */
struct tc_filter {
	uint32_t prio, handle, proto, bpf_id;
	char kind[16];
};

struct tc_dump {
	struct tc_filter f[64]; /* more than enough on a hook we look at */
	unsigned int n;
};

static int tc_bpf_attr_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == TCA_BPF_ID && !mnl_attr_validate(a, MNL_TYPE_U32))
		*(uint32_t *)data = mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

static int tc_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct tc_dump *d = data;
	const struct tcmsg *t;
	struct tc_filter *f;
	struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWTFILTER ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(struct tcmsg) || d->n == ARRAY_SIZE(d->f))
		return MNL_CB_OK;
	t = mnl_nlmsg_get_payload(nlh);
	f = &d->f[d->n++];
	memset(f, 0, sizeof(*f));
	f->prio = TC_H_MAJ(t->tcm_info) >> 16;
	f->proto = ntohs((uint16_t)TC_H_MIN(t->tcm_info));
	f->handle = t->tcm_handle;
	mnl_attr_for_each(a, nlh, sizeof(*t))
	{
		if (mnl_attr_get_type(a) == TCA_KIND && !mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
			snprintf(f->kind, sizeof(f->kind), "%s", mnl_attr_get_str(a));
		else if (mnl_attr_get_type(a) == TCA_OPTIONS)
			mnl_attr_parse_nested(a, tc_bpf_attr_cb, &f->bpf_id);
	}
	return MNL_CB_OK;
}

/*
 * The filters on a clsact hook (RTM_GETTFILTER dump).  The dump lists each
 * filter block (handle 0) before its filters.  A missing device or qdisc is
 * an empty list.
 */
static int tc_dump(uint32_t ifindex, bool ingress, struct tc_dump *d)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct tcmsg *t;
	uint32_t seq = (uint32_t)time(NULL), portid;
	ssize_t n;
	int ret, err = 0;

	d->n = 0;
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETTFILTER;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = (int)ifindex;
	t->tcm_parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			err = -errno;
			break;
		}
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, tc_dump_cb, d);
		if (ret <= MNL_CB_STOP) {
			if (ret < 0)
				err = -errno;
			break;
		}
	}
out:
	mnl_socket_close(nl);
	if (err == -ENODEV || err == -EINVAL || err == -ENOENT)
		err = 0;
	return err;
}

/*
 * Why our priority/handle on this hook cannot take our program, or NULL:
 * someone else's filter sits exactly there, or our priority holds filters of
 * another kind or protocol (the kernel keeps one kind and protocol per
 * priority).
 */
static const char *tc_slot_taken(uint32_t ifindex, bool ingress, uint32_t *id)
{
	struct tc_dump *d = calloc(1, sizeof(*d));
	const char *why = NULL;

	*id = 0;
	if (!d)
		return NULL;
	if (tc_dump(ifindex, ingress, d))
		goto out;
	for (unsigned int i = 0; i < d->n && !why; i++) {
		const struct tc_filter *f = &d->f[i];

		if (f->prio != IPT2BPF_RT_TC_PRIO)
			continue;
		if (strcmp(f->kind, "bpf") || f->proto != ETH_P_ALL)
			why = "a filter of another kind or protocol uses that priority";
		else if (f->handle == IPT2BPF_RT_TC_HANDLE && !f->bpf_id)
			why = "a classic BPF filter";
		else if (f->handle == IPT2BPF_RT_TC_HANDLE && !rt_prog_is_ours(f->bpf_id))
			why = "another program", *id = f->bpf_id;
	}
out:
	free(d);
	return why;
}

/* Filters on a clsact hook other than ours. */
static int count_other_filters(uint32_t ifindex, bool ingress, unsigned int *others)
{
	struct tc_dump *d = calloc(1, sizeof(*d));
	int err;

	*others = 0;
	if (!d)
		return -ENOMEM;
	err = tc_dump(ifindex, ingress, d);
	for (unsigned int i = 0; i < d->n; i++)
		if (d->f[i].prio != IPT2BPF_RT_TC_PRIO ||
		    (d->f[i].handle && d->f[i].handle != IPT2BPF_RT_TC_HANDLE))
			(*others)++;
	free(d);
	return err;
}

int rt_tc_query(uint32_t ifindex, bool ingress, uint32_t *prog_id)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = IPT2BPF_RT_TC_HANDLE, .priority = IPT2BPF_RT_TC_PRIO);
	int err;

	*prog_id = 0;
	err = bpf_tc_query(&hook, &o);
	if (err)
		return err;
	*prog_id = o.prog_id;
	return 0;
}

int rt_tc_attach(uint32_t ifindex, const char *ifname, bool ingress, int prog_fd,
		 struct ipt2bpf_diag *diag)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = IPT2BPF_RT_TC_HANDLE, .priority = IPT2BPF_RT_TC_PRIO,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	const char *hk = ingress ? "ingress" : "egress";
	const char *why;
	uint32_t id;
	int err;

	why = tc_slot_taken(ifindex, ingress, &id);
	if (why) {
		char idbuf[32] = "";

		if (id)
			snprintf(idbuf, sizeof(idbuf), ", id %u", id);
		return ipt2bpf_diag_set(diag, -EBUSY,
					"%s: tc %s pref %u handle 0x%x is taken (%s%s): not "
					"replacing it",
					ifname, hk, IPT2BPF_RT_TC_PRIO, IPT2BPF_RT_TC_HANDLE, why,
					idbuf);
	}
	err = bpf_tc_attach(&hook, &o);
	if (err)
		return ipt2bpf_diag_set(diag, err, "%s: cannot attach the tc %s filter: %s", ifname,
					hk, strerror(-err));
	return 0;
}

int rt_tc_detach(uint32_t ifindex, bool ingress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = IPT2BPF_RT_TC_HANDLE, .priority = IPT2BPF_RT_TC_PRIO);
	uint32_t cur = 0;
	int err;

	if (rt_tc_query(ifindex, ingress, &cur) || !cur)
		return 0;
	if (!rt_prog_is_ours(cur))
		return -EBUSY;
	err = bpf_tc_detach(&hook, &o);
	return err == -ENOENT ? 0 : err;
}

int rt_qdisc_create(uint32_t ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex, .attach_point = BPF_TC_INGRESS);
	int err = bpf_tc_hook_create(&hook);

	if (!err)
		return 1;
	return err == -EEXIST ? 0 : err;
}

int rt_qdisc_remove(uint32_t ifindex, bool *kept)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	unsigned int in = 0, out = 0;
	int err;

	*kept = false;
	err = count_other_filters(ifindex, true, &in);
	if (!err)
		err = count_other_filters(ifindex, false, &out);
	if (err)
		return err;
	/* Someone added filters to the clsact we created: deleting it would drop theirs. */
	if (in || out) {
		*kept = true;
		return 0;
	}
	err = bpf_tc_hook_destroy(&hook);
	return err == -ENOENT || err == -EINVAL || err == -ENODEV ? 0 : err;
}

/* ------------------------------------------------------------ XDP */

static int xdp_link_path(const struct ipt2bpf_runtime *rt, uint32_t ifindex, char *buf, size_t len)
{
	return rt_path(rt, buf, len, "links/xdp_%u", ifindex);
}

int rt_xdp_attach(const struct ipt2bpf_runtime *rt, uint32_t ifindex, const char *ifname,
		  int prog_fd, enum ipt2bpf_rt_xdp_attach how, bool *generic,
		  struct ipt2bpf_diag *diag)
{
	static const uint32_t modes_auto[] = {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
	static const uint32_t mode_native[] = {XDP_FLAGS_DRV_MODE};
	static const uint32_t mode_generic[] = {XDP_FLAGS_SKB_MODE};
	const uint32_t *modes = how == IPT2BPF_RT_XDP_NATIVE	? mode_native
				: how == IPT2BPF_RT_XDP_GENERIC ? mode_generic
								: modes_auto;
	unsigned int n_modes = how == IPT2BPF_RT_XDP_AUTO ? 2 : 1;
	char path[PATH_MAX];
	int lfd = -1, err = 0;

	if (xdp_link_path(rt, ifindex, path, sizeof(path)))
		return -ENAMETOOLONG;
	lfd = bpf_obj_get(path);
	if (lfd >= 0) {
		/*
		 * The kernel never runs native and generic XDP on a device at the same
		 * time, so a mode change would leave a gap: refuse it (auto keeps the mode).
		 */
		if ((how == IPT2BPF_RT_XDP_NATIVE && *generic) ||
		    (how == IPT2BPF_RT_XDP_GENERIC && !*generic)) {
			close(lfd);
			return ipt2bpf_diag_set(diag, -EBUSY,
						"%s: XDP runs in %s mode; switching to %s mode "
						"cannot be done without a gap: unload first",
						ifname, *generic ? "generic" : "native",
						*generic ? "native" : "generic");
		}
		/* In place: the device switches programs under RCU, no gap. */
		err = bpf_link_update(lfd, prog_fd, NULL);
		close(lfd);
		if (!err)
			return 0;
		/* A link whose device went away is defunct: make a new one. */
		if (err != -ENOLINK)
			return ipt2bpf_diag_set(diag, err, "%s: cannot update the XDP link: %s",
						ifname, strerror(-err));
		unlink(path);
	}
	for (unsigned int i = 0; i < n_modes; i++) {
		LIBBPF_OPTS(bpf_link_create_opts, o, .flags = modes[i]);

		lfd = bpf_link_create(prog_fd, (int)ifindex, BPF_XDP, &o);
		if (lfd >= 0) {
			*generic = modes[i] == XDP_FLAGS_SKB_MODE;
			break;
		}
		err = -errno;
		if (err != -EOPNOTSUPP && err != -EINVAL)
			break;
	}
	if (lfd < 0) {
		uint32_t id = 0;
		uint8_t mode = 0;

		if ((err == -EBUSY || err == -EEXIST) && !rt_xdp_query(ifindex, &id, &mode) && id)
			return ipt2bpf_diag_set(diag, err,
						"%s: XDP program id %u is attached already, not "
						"by ipt2bpf: not replacing it",
						ifname, id);
		return ipt2bpf_diag_set(diag, err, "%s: cannot attach XDP%s: %s", ifname,
					how == IPT2BPF_RT_XDP_NATIVE ? " in native mode" : "",
					strerror(-err));
	}
	/* Pinned at once: the link (and the attachment) lives as long as a reference does. */
	err = rt_pin_replace(lfd, path);
	close(lfd);
	if (err)
		return ipt2bpf_diag_set(diag, err, "%s: cannot pin the XDP link at %s: %s", ifname,
					path, strerror(-err));
	return 0;
}

int rt_xdp_detach(const struct ipt2bpf_runtime *rt, uint32_t ifindex)
{
	char path[PATH_MAX];
	int lfd, err = 0;

	if (xdp_link_path(rt, ifindex, path, sizeof(path)))
		return -ENAMETOOLONG;
	lfd = bpf_obj_get(path);
	if (lfd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (bpf_link_detach(lfd) && errno != ENOLINK)
		err = -errno;
	close(lfd);
	if (!err && unlink(path) && errno != ENOENT)
		err = -errno;
	return err;
}

int rt_xdp_query(uint32_t ifindex, uint32_t *prog_id, uint8_t *attach_mode)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err;

	*prog_id = 0;
	*attach_mode = XDP_ATTACHED_NONE;
	err = bpf_xdp_query((int)ifindex, 0, &q);
	if (err)
		return err;
	*attach_mode = q.attach_mode;
	switch (q.attach_mode) {
	case XDP_ATTACHED_MULTI:
		*prog_id = q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id;
		break;
	default:
		*prog_id = q.prog_id;
		break;
	}
	return 0;
}
