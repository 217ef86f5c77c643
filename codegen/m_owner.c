// SPDX-License-Identifier: GPL-2.0
/*
 * -m owner: refused.  owner_mt() (xt_owner.c) decides on the sending
 * socket's struct socket and its file's credentials (f_cred: fsuid, fsgid,
 * supplementary groups): a socket without a struct socket (an orphaned TCP
 * socket after close(), a connection not accepted yet) counts as no socket,
 * and a kernel socket (TCP resets, ICMP errors) as a socket without owner.
 * A TC program sees skb->sk and the socket's sk_uid (bpf_get_socket_uid()),
 * which tell none of these apart and have no group at all: the match cannot
 * be reproduced exactly, so it is refused rather than approximated.
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_owner.h>

#include "gen_internal.h"

static int owner_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		       const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	(void)t, (void)e, (void)data, (void)len, (void)revision;
	snprintf(why, whylen,
		 "not supported: TC programs see skb->sk and its uid, not the socket file's "
		 "credentials the kernel compares (orphaned and kernel sockets, groups)");
	return -EOPNOTSUPP;
}

static const struct ipt2bpf_mod mod_owner = {
	.name = "owner",
	.revisions = 1U << 1,
	.check = owner_check,
};
IPT2BPF_MOD_REGISTER(mod_owner);
