/* SPDX-License-Identifier: GPL-2.0 */
/*
 * -m recent lists in BPF maps: the layout shared by the code generator
 * (codegen/m_recent.c) and `ipt2bpf recent` (cli/recent.c).
 *
 * xt_recent keeps, per list name, up to ip_list_tot entries (one per masked
 * address) with a ring of the last nstamps_max_mask + 1 jiffies stamps, in an
 * LRU order by last update.  Here, for every list in the network namespace:
 *
 *   ipt_rc_head  HASH  list id -> struct ipt2bpf_rc_head (lock, masks, name)
 *   ipt_rc_idx   HASH  {list id, address} -> {slot, epoch}
 *   ipt_rc_slot  HASH  {list id, slot} -> struct ipt2bpf_rc_ent
 *
 * The list id is the FNV-1a hash of the name.  Slots 0 .. ip_list_tot - 1
 * hold the entries; an entry is live when `used` is set and its epoch is the
 * list's (a flush bumps the epoch).  The LRU order is the `seq` of the last
 * update, from the list's counter.  All three maps are `shared`: the lists
 * outlive rule set replacements, as the kernel's do while rules name them.
 */
#ifndef IPT2BPF_RECENT_H
#define IPT2BPF_RECENT_H

#include <stdint.h>

#define IPT2BPF_RC_HEAD	   "ipt_rc_head"
#define IPT2BPF_RC_IDX	   "ipt_rc_idx"
#define IPT2BPF_RC_SLOT	   "ipt_rc_slot"
#define IPT2BPF_RC_LISTS   256	 /* lists per namespace */
#define IPT2BPF_RC_SLOTS   65536 /* entries of all lists together */
#define IPT2BPF_RC_NSTAMPS 256	 /* XT_RECENT_MAX_NSTAMPS: nstamps_max_mask is a u8 */
#define IPT2BPF_RC_NAMELEN 200	 /* XT_RECENT_NAME_LEN */

struct ipt2bpf_rc_head {
	uint32_t lock;	   /* spin lock of the whole list, like the kernel's recent_lock */
	uint32_t init;	   /* 0: just created */
	uint32_t nsmask;   /* nstamps_max_mask */
	uint32_t addrmask; /* host order: the mask of the rule that created the list */
	uint32_t epoch;	   /* entries of other epochs are gone (flushed) */
	uint32_t pad;
	uint64_t seq; /* last update number handed out */
	char name[IPT2BPF_RC_NAMELEN];
};

struct ipt2bpf_rc_key {
	uint32_t list;
	uint32_t v; /* address (host order) or slot */
};

struct ipt2bpf_rc_idx {
	uint32_t slot;
	uint32_t epoch;
};

struct ipt2bpf_rc_ent {
	uint32_t addr; /* host order, masked */
	uint32_t epoch;
	uint8_t used;
	uint8_t ttl;
	uint8_t index; /* next stamp goes to stamps[index & nsmask] */
	uint8_t pad;
	uint16_t nstamps; /* stamps in use */
	uint16_t pad2;
	uint64_t seq;			     /* LRU order: the list's seq at the last update */
	uint64_t stamps[IPT2BPF_RC_NSTAMPS]; /* jiffies */
};

struct ipt2bpf_table;

/*
 * Calls fn for every list the tables use, with the stamp mask
 * (nstamps_max_mask) and the address mask (host order) the kernel's
 * checkentry would give it; stops at fn's first nonzero return.
 */
int ipt2bpf_recent_lists(const struct ipt2bpf_table *const *tables, unsigned int n_tables,
			 int (*fn)(void *arg, const char *name, uint32_t nsmask, uint32_t addrmask),
			 void *arg);

/* The list id of a name. */
static inline uint32_t ipt2bpf_rc_list_id(const char *name)
{
	uint32_t h = 2166136261u;

	while (*name)
		h = (h ^ (unsigned char)*name++) * 16777619u;
	return h;
}

#endif
