/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Runtime internals shared by runtime.c (load, unload, sync), rt_pin.c
 * (bpffs layout and pinned state), rt_attach.c (TC and XDP hooks),
 * rt_carry.c (counter carry-over), rt_list.c (status output) and
 * rt_follow.c (rtnetlink).  Not a public interface.
 */
#ifndef IPT2BPF_RT_INTERNAL_H
#define IPT2BPF_RT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime.h"
#include "../codegen/load.h"

/* What sync needs of the current generation to fill ipt_ifaces, read once from its pins. */
struct rt_cache {
	char gen[32]; /* "" : empty */
	struct ipt2bpf_ifpat *pats;
	unsigned int n_pats;
	int ifaces_fd;
};

struct ipt2bpf_runtime {
	char bpffs[PATH_MAX];
	char dir[PATH_MAX];   /* <bpffs>/ipt2bpf/<netns> */
	char shown[PATH_MAX]; /* dir as messages show it */
	uint64_t netns;
	uint64_t cookie; /* SO_NETNS_COOKIE of the namespace, 0: unknown (pinned as `netns`) */
	bool mounted;	 /* we mounted bpffs */
	int bpffs_fd;	 /* bpffs of an outer mount namespace (bpffs is /proc/self/fd/N), or -1 */
	int lockfd;	 /* the locked state directory, -1: not locked */
	struct rt_cache cache;
};

/* A generation opened from its pins. */
struct rt_gen {
	char name[32]; /* "g<N>" */
	struct ipt2bpf_rt_state st;
	int prog_fds[IPT2BPF_RT_MAX_PROGS];
	int ingress_fd, egress_fd, xdp_fd; /* borrowed from prog_fds, -1: none */
};

/* One interface of the namespace. */
struct rt_link {
	uint32_t ifindex;
	char name[IFNAMSIZ];
};

/* ------------------------------------------------------------ rt_pin.c */

int rt_bpffs_ensure(const char *path, struct ipt2bpf_diag *diag);
int rt_mkdir(const char *path, struct ipt2bpf_diag *diag);
/*
 * Locks (creating when asked) the state directory; -ENOENT if absent and
 * !create.  A directory whose pinned cookie is not the namespace's is left
 * over by a deleted namespace with the same inode number: removed on the way.
 */
int rt_lock(struct ipt2bpf_runtime *rt, bool exclusive, bool create, struct ipt2bpf_diag *diag);
void rt_unlock(struct ipt2bpf_runtime *rt);
/* The current network namespace's cookie, 0 if the kernel has none (< 5.14). */
uint64_t rt_netns_cookie(void);
int rt_path(const struct ipt2bpf_runtime *rt, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Pins fd at path, replacing what is there (rename over it: atomic). */
int rt_pin_replace(int fd, const char *path);
/* Bytes in a pinned, frozen array map. */
int rt_bytes_pin(const char *path, const char *name, const void *data, size_t len,
		 struct ipt2bpf_diag *diag);
int rt_bytes_read(const char *path, size_t len, void **out);
/* Removes a directory of pins, recursively. */
int rt_rm_tree(const char *path);

int rt_gen_open(const struct ipt2bpf_runtime *rt, const char *name, struct rt_gen *g,
		struct ipt2bpf_diag *diag);
void rt_gen_init(struct rt_gen *g);
void rt_gen_close(struct rt_gen *g);
/* Blobs and IR of a generation (validated again: the pins are ours, but cheap). */
int rt_gen_tables(const struct ipt2bpf_runtime *rt, const struct rt_gen *g,
		  struct ipt_replace **blobs, struct ipt2bpf_table **tables,
		  struct ipt2bpf_diag *diag);
/* Counters of table i: the map's plus the carried-over base. */
int rt_gen_counters(const struct ipt2bpf_runtime *rt, const struct rt_gen *g, unsigned int i,
		    struct ipt2bpf_counter *out, struct ipt2bpf_diag *diag);
/* Largest N of the g<N> directories present, 0 if none. */
uint32_t rt_gen_last(const struct ipt2bpf_runtime *rt);

int rt_links_list(struct rt_link **out, unsigned int *n, struct ipt2bpf_diag *diag);

/* ------------------------------------------------------------ rt_attach.c */

bool rt_prog_is_ours(uint32_t prog_id);
int rt_tc_query(uint32_t ifindex, bool ingress, uint32_t *prog_id);
/* Attaches or replaces our filter; refuses to replace a program that is not ours. */
int rt_tc_attach(uint32_t ifindex, const char *ifname, bool ingress, int prog_fd,
		 struct ipt2bpf_diag *diag);
int rt_tc_detach(uint32_t ifindex, bool ingress);
/* Creates the clsact qdisc: 1 if we created it, 0 if it was there. */
int rt_qdisc_create(uint32_t ifindex);
/* Deletes the clsact qdisc unless filters other than ours remain on it. */
int rt_qdisc_remove(uint32_t ifindex, bool *kept);
int rt_xdp_attach(const struct ipt2bpf_runtime *rt, uint32_t ifindex, const char *ifname,
		  int prog_fd, enum ipt2bpf_rt_xdp_attach how, bool *generic,
		  struct ipt2bpf_diag *diag);
int rt_xdp_detach(const struct ipt2bpf_runtime *rt, uint32_t ifindex);
int rt_xdp_query(uint32_t ifindex, uint32_t *prog_id, uint8_t *attach_mode);

/* ------------------------------------------------------------ rt_shared.c */

/* fds[i]: the pinned shared map of ps->maps[i] (<dir>/shared/<name>), or -1. */
void rt_shared_open(const struct ipt2bpf_runtime *rt, const struct ipt2bpf_progset *ps, int *fds);
void rt_shared_close(int *fds, unsigned int n);
/* Pins the loaded set's shared maps that are not pinned yet (or replaced a layout). */
int rt_shared_pin(const struct ipt2bpf_runtime *rt, const struct ipt2bpf_progset *ps,
		  const struct ipt2bpf_loaded *l, struct ipt2bpf_diag *diag);

/* ------------------------------------------------------------ rt_carry.c */

/*
 * For each entry of newt: the entry of oldt with the same content (chain,
 * role, ipt_entry bytes but counters, jump targets by chain and position),
 * paired in order, or -1.
 */
int rt_carry_map(const struct ipt2bpf_table *oldt, const struct ipt_replace *oldb,
		 const struct ipt2bpf_table *newt, const struct ipt_replace *newb, int *map);

#endif
