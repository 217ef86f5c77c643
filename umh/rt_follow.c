// SPDX-License-Identifier: GPL-2.0
/*
 * Following interfaces: an rtnetlink socket subscribed to RTMGRP_LINK wakes
 * us on RTM_NEWLINK/RTM_DELLINK; each burst of events runs one sync, which
 * attaches the current generation to new interfaces, refreshes the -i/-o
 * name bits (renames) and forgets removed interfaces.  A lost event (socket
 * overrun) costs nothing: sync looks at the interfaces as they are.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "rt_internal.h"

struct link_ev {
	bool verbose;
	unsigned int events;
};

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_ev *ev = data;
	const struct ifinfomsg *ifi;
	struct nlattr *a;
	const char *name = "?";

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	ev->events++;
	if (!ev->verbose)
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	mnl_attr_for_each(a, nlh, sizeof(*ifi)) if (mnl_attr_get_type(a) == IFLA_IFNAME &&
						    !mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
		name = mnl_attr_get_str(a);
	fprintf(stderr, "ipt2bpf: %s link %d %s\n",
		nlh->nlmsg_type == RTM_NEWLINK ? "new" : "deleted", ifi->ifi_index, name);
	return MNL_CB_OK;
}

int ipt2bpf_rt_follow(struct ipt2bpf_runtime *rt, volatile sig_atomic_t *stop, bool verbose,
		      void (*ready)(void), struct ipt2bpf_diag *diag)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct link_ev ev = {.verbose = verbose};
	struct mnl_socket *nl;
	unsigned int changed = 0;
	int rcvbuf = 1 << 20, err = 0;

	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!nl)
		return ipt2bpf_diag_set(diag, -errno, "rtnetlink: %s", strerror(errno));
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_bind(nl, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
		err = ipt2bpf_diag_set(diag, -errno, "rtnetlink: cannot subscribe to links: %s",
				       strerror(errno));
		goto out;
	}
	/* Subscribed first, then synced: nothing that appears in between is missed. */
	err = ipt2bpf_rt_sync(rt, &changed, diag);
	if (err)
		goto out;
	if (verbose && changed)
		fprintf(stderr, "ipt2bpf: %u interface(s) attached or forgotten\n", changed);
	if (ready)
		ready();

	while (!*stop) {
		struct pollfd pfd = {.fd = mnl_socket_get_fd(nl), .events = POLLIN};
		bool resync = false;
		int r = poll(&pfd, 1, 500);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = ipt2bpf_diag_set(diag, -errno, "poll: %s", strerror(errno));
			break;
		}
		if (!r)
			continue;
		/* Drain the burst (a veth pair is several messages), then sync once. */
		for (;;) {
			ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

			if (n < 0) {
				if (errno == ENOBUFS) { /* overrun: events lost, sync anyway */
					resync = true;
					continue;
				}
				if (errno != EAGAIN && errno != EINTR)
					err = ipt2bpf_diag_set(diag, -errno, "rtnetlink: %s",
							       strerror(errno));
				break;
			}
			ev.events = 0;
			mnl_cb_run(buf, (size_t)n, 0, 0, link_cb, &ev);
			if (ev.events)
				resync = true;
		}
		if (err)
			break;
		if (!resync)
			continue;
		err = ipt2bpf_rt_sync(rt, &changed, diag);
		if (err)
			break;
		if (verbose && changed)
			fprintf(stderr, "ipt2bpf: %u interface(s) attached or forgotten\n",
				changed);
	}
out:
	mnl_socket_close(nl);
	return err;
}
