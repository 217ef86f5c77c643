/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The live runtime: puts a compiled rule set on every interface of the
 * current network namespace and keeps it there.  Used by `ipt2bpf load`,
 * `unload`, `status` and by the umh daemon.
 *
 * State lives in bpffs, so that a crashed or killed process leaves the
 * filtering in place and the next run picks it up:
 *
 *   /sys/fs/bpf/ipt2bpf/<netns inode>/        (directories 0700, pins 0600)
 *     netns           the namespace's cookie (SO_NETNS_COOKIE): inode numbers are
 *                     reused at once, so a directory with another cookie (or,
 *                     with none of our programs attached, none) is left over by
 *                     a deleted namespace and removed
 *     attach          HASH ifindex -> struct ipt2bpf_rt_attach: what we added
 *     links/xdp_<ifindex>   XDP bpf_links (updated in place on replace)
 *     current -> g<N> the generation in force (symlink, switched by rename)
 *     g<N>/prog_<name>    programs (ipt_ingress, ipt_egress or ipt_xdp)
 *     g<N>/map_<name>     their maps (ipt_c_<table> counters, ipt_ifaces, ...)
 *     g<N>/base_<table>   counters carried over from earlier generations
 *     g<N>/blob_<table>   the table's ipt_replace blob (what status decodes)
 *     g<N>/ifpats         the -i/-o name patterns, for interfaces that appear later
 *     g<N>/state          struct ipt2bpf_rt_state (mode, source, tables)
 *
 * bpffs holds only BPF objects and directories, so the "state file" is a
 * pinned single-entry array map; `ipt2bpf status --json` is its JSON view.
 * The directory itself is flock()ed: load/unload/follow exclusively, status
 * shared.
 */
#ifndef IPT2BPF_RUNTIME_H
#define IPT2BPF_RUNTIME_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/if.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include "../codegen/progset.h"
#include "../translator/diag.h"
#include "../translator/ir.h"

#define IPT2BPF_RT_BPFFS "/sys/fs/bpf"
#define IPT2BPF_RT_DIR	 "ipt2bpf"

/*
 * Our TC filters sit at a fixed priority and handle on both clsact hooks, so
 * that a later load replaces them in place (cls_bpf swaps the program under
 * RCU: no window without a filter).  Priority 1 runs before other filters a
 * direct-action chain could end early.
 */
#define IPT2BPF_RT_TC_PRIO   1
#define IPT2BPF_RT_TC_HANDLE 0x1b7f

enum ipt2bpf_rt_xdp_attach {
	IPT2BPF_RT_XDP_AUTO,	/* native (driver) mode where supported, else generic */
	IPT2BPF_RT_XDP_NATIVE,	/* driver mode only: fail where the driver lacks it */
	IPT2BPF_RT_XDP_GENERIC, /* skb mode everywhere */
};

/* One table to load: the decoded IR and the blob it came from (kept for status). */
struct ipt2bpf_rt_table {
	const struct ipt2bpf_table *ir;
	const struct ipt_replace *repl;
	size_t len;
	bool zero_counters; /* start every counter at zero (IPT_SO_SET_REPLACE), no carry-over */
};

struct ipt2bpf_rt_load_opts {
	enum ipt2bpf_mode mode;
	enum ipt2bpf_rt_xdp_attach xdp;
	const char *source; /* rules file, recorded for status (may be NULL) */
	bool verbose;	    /* progress on stderr */
	/* SECMARK labels and sinks (codegen/secpolicy.h, umh/rt_label.h); NULL: none. */
	const struct ipt2bpf_secopts *sec;
};

/* Value of the pinned `attach` map: what this runtime added to an interface. */
struct ipt2bpf_rt_attach {
	char name[IFNAMSIZ];
	uint32_t flags; /* IPT2BPF_RT_A_* */
};

#define IPT2BPF_RT_A_TC_INGRESS	 (1U << 0)
#define IPT2BPF_RT_A_TC_EGRESS	 (1U << 1)
#define IPT2BPF_RT_A_QDISC_OURS	 (1U << 2) /* we created the clsact qdisc */
#define IPT2BPF_RT_A_QDISC_TRY	 (1U << 3) /* creating it (crash window: treated as ours) */
#define IPT2BPF_RT_A_XDP	 (1U << 4)
#define IPT2BPF_RT_A_XDP_GENERIC (1U << 5)

#define IPT2BPF_RT_MAX_PROGS 4

/* Value of the pinned `state` map of a generation. */
struct ipt2bpf_rt_state {
	uint32_t magic; /* IPT2BPF_RT_STATE_MAGIC */
	uint32_t version;
	uint32_t mode; /* enum ipt2bpf_mode */
	uint32_t generation;
	uint64_t loaded_at; /* CLOCK_REALTIME, seconds */
	uint32_t n_tables;
	uint32_t n_progs;
	uint32_t n_ifpats; /* interface patterns, pinned as ifpats */
	uint32_t pad;
	struct {
		char name[XT_TABLE_MAXNAMELEN];
		char counter_map[BPF_OBJ_NAME_LEN];
		uint32_t n_entries;
		uint32_t blob_len;
	} tables[2];
	struct {
		char name[BPF_OBJ_NAME_LEN];
		uint32_t role; /* enum ipt2bpf_prog_role */
		uint32_t id;
	} progs[IPT2BPF_RT_MAX_PROGS];
	char source[PATH_MAX];
};

#define IPT2BPF_RT_STATE_MAGIC	 0x69707432 /* "ipt2" */
#define IPT2BPF_RT_STATE_VERSION 1

struct ipt2bpf_runtime;

/*
 * Opens the state directory of the current network namespace under bpffs
 * (NULL: /sys/fs/bpf; in a private mount namespace without bpffs there, as
 * `ip netns exec` makes, the bpffs of the mount namespace it came from; else
 * bpffs gets mounted on /sys/fs/bpf).  Nothing is created until a load.
 */
int ipt2bpf_rt_open(const char *bpffs, struct ipt2bpf_runtime **out, struct ipt2bpf_diag *diag);
/* Did ipt2bpf_rt_open() have to mount bpffs? */
bool ipt2bpf_rt_mounted(const struct ipt2bpf_runtime *rt);
void ipt2bpf_rt_close(struct ipt2bpf_runtime *rt);
void ipt2bpf_rt_closep(struct ipt2bpf_runtime **rt);
#define _free_ipt2bpf_rt_ __attribute__((cleanup(ipt2bpf_rt_closep)))

/* The state directory, for messages: /sys/fs/bpf/ipt2bpf/<netns>. */
const char *ipt2bpf_rt_dir(const struct ipt2bpf_runtime *rt);

/*
 * A shared map of the loaded rule set (shared/<name>: the connection table
 * ipt_ct and its ipt_ct_stats, ipt_ct_cfg): an fd, or -ENOENT.
 */
int ipt2bpf_rt_shared_map(const struct ipt2bpf_runtime *rt, const char *name);

/*
 * Compiles the tables, loads the programs, pins them and attaches them on
 * every interface (replacing an earlier rule set in place: TC filters by
 * BPF_TC_F_REPLACE, XDP links by bpf_link_update).  On failure the earlier
 * rule set stays in force on every interface.  Counters of entries whose
 * content did not change carry over (see runtime.c: carry-over).
 */
int ipt2bpf_rt_load(struct ipt2bpf_runtime *rt, const struct ipt2bpf_rt_table *tables,
		    unsigned int n_tables, const struct ipt2bpf_rt_load_opts *opts,
		    struct ipt2bpf_diag *diag);

/*
 * Removes every filter, link, pin and qdisc the runtime added, and nothing
 * else.  *had_state tells whether anything was loaded.
 */
int ipt2bpf_rt_unload(struct ipt2bpf_runtime *rt, bool *had_state, struct ipt2bpf_diag *diag);

/*
 * Brings the attachments in line with the interfaces that exist now: attaches
 * on new ones, refreshes the name bits (ipt_ifaces) of all of them, forgets
 * vanished ones.  *changed counts interfaces attached or forgotten.
 */
int ipt2bpf_rt_sync(struct ipt2bpf_runtime *rt, unsigned int *changed, struct ipt2bpf_diag *diag);

/*
 * Follows RTM_NEWLINK/RTM_DELLINK until *stop is set (or an error): each link
 * event runs ipt2bpf_rt_sync(), so new interfaces get the programs within
 * milliseconds.  ready (may be NULL) is called once the netlink socket is
 * subscribed and a first sync has run.
 */
int ipt2bpf_rt_follow(struct ipt2bpf_runtime *rt, volatile sig_atomic_t *stop, bool verbose,
		      void (*ready)(void), struct ipt2bpf_diag *diag);

/* ---------------------------------------------------------------- status */

struct ipt2bpf_rt_iface {
	uint32_t ifindex;
	char name[IFNAMSIZ];
	bool present;		 /* the interface still exists */
	uint32_t flags;		 /* IPT2BPF_RT_A_* as recorded */
	uint32_t tc_ingress_id;	 /* program at our ingress filter now, 0: none */
	uint32_t tc_egress_id;	 /* program at our egress filter now, 0: none */
	uint32_t xdp_id;	 /* XDP program attached now, 0: none */
	uint8_t xdp_attach_mode; /* XDP_ATTACHED_* */
	bool stale;		 /* attached program is not the current generation's */
};

struct ipt2bpf_rt_status {
	bool loaded;
	uint64_t netns;
	char dir[PATH_MAX];
	struct ipt2bpf_rt_state state;
	struct ipt2bpf_rt_iface *ifaces;
	unsigned int n_ifaces;
	unsigned int n_tables;
	struct ipt_replace *blobs[2];
	struct ipt2bpf_table *tables[2];
	struct ipt2bpf_counter *counters[2]; /* per entry: map + carried-over base */
};

int ipt2bpf_rt_status_get(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_status **out,
			  struct ipt2bpf_diag *diag);
void ipt2bpf_rt_status_free(struct ipt2bpf_rt_status *st);
void ipt2bpf_rt_status_freep(struct ipt2bpf_rt_status **st);
#define _free_ipt2bpf_rt_status_ __attribute__((cleanup(ipt2bpf_rt_status_freep)))

/* Summary (mode, programs, interfaces) followed by every table's listing. */
void ipt2bpf_rt_status_print(const struct ipt2bpf_rt_status *st, FILE *f);
void ipt2bpf_rt_status_print_json(const struct ipt2bpf_rt_status *st, FILE *f);

/*
 * One table exactly as `iptables -t TABLE -L -v -n -x` prints it (iptables
 * 1.8, numeric protocols); -ENOENT when the table is not loaded.
 */
int ipt2bpf_rt_list_table(const struct ipt2bpf_rt_status *st, const char *table, FILE *f);

/* ---------------------------------------------------------------- ipt2bpf-umh (daemon_rt.c) */

/* Generation in force (the N of g<N>), 0 when nothing is loaded: cheap, no lock. */
uint32_t ipt2bpf_rt_generation(const struct ipt2bpf_runtime *rt);

/*
 * The counter maps of one table of the generation in force, held open so that
 * they can be read after a load replaced that generation (the old programs'
 * last counts, once a grace period has passed).  -ENOENT: not loaded.
 */
struct ipt2bpf_rt_counters_ref {
	int map_fd;  /* the programs' per-CPU counters */
	int base_fd; /* counters carried over or added */
	unsigned int n_entries;
};

int ipt2bpf_rt_counters_hold(struct ipt2bpf_runtime *rt, const char *table,
			     struct ipt2bpf_rt_counters_ref *ref, struct ipt2bpf_diag *diag);
/* map + base, n_entries of them. */
int ipt2bpf_rt_counters_read(const struct ipt2bpf_rt_counters_ref *ref,
			     struct ipt2bpf_counter *out);
/* base += add, n_entries of them (only the caller writes base). */
int ipt2bpf_rt_counters_add(const struct ipt2bpf_rt_counters_ref *ref,
			    const struct ipt2bpf_counter *add);
void ipt2bpf_rt_counters_release(struct ipt2bpf_rt_counters_ref *ref);

#endif
