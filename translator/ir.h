/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The intermediate representation between a validated ipt_replace blob and
 * the code generator.
 *
 * The IR is entry-based, like the kernel's ipt_do_table(): every entry of the
 * blob (rules, built-in policies, user-chain ERROR heads, the trailing RETURN
 * of user chains and the final ERROR entry) is one ipt2bpf_entry, in blob
 * order, and its index is also its counter index.  Chains are views over
 * ranges of entries; jumps name the target *entry*, so a blob that jumps into
 * the middle of a chain (the kernel allows it) is still represented exactly.
 */
#ifndef IPT2BPF_IR_H
#define IPT2BPF_IR_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv4/ipt_ttl.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_iprange.h>

#define IPT2BPF_NUM_HOOKS NF_INET_NUMHOOKS

struct ipt2bpf_mod;

enum ipt2bpf_match_kind {
	IPT2BPF_M_TCP,
	IPT2BPF_M_UDP,
	IPT2BPF_M_ICMP,
	IPT2BPF_M_MULTIPORT, /* revision 0 is widened to the v1 layout */
	IPT2BPF_M_IPRANGE,   /* revision 0 is widened to the v1 layout */
	IPT2BPF_M_COMMENT,   /* matches everything; kept so dump-ir shows it */
	IPT2BPF_M_MOD,	     /* an extension module (translator/mod.h): mod, data, len */
	IPT2BPF_M__MAX,
};

struct ipt2bpf_match {
	enum ipt2bpf_match_kind kind;
	const char *name; /* extension name as in the blob */
	uint8_t revision;
	const struct ipt2bpf_mod *mod; /* IPT2BPF_M_MOD */
	const void *data;	       /* the payload as in the blob (owned by the entry) */
	size_t len;		       /* its XT_ALIGN()ed size */
	union {
		struct xt_tcp tcp;
		struct xt_udp udp;
		struct ipt_icmp icmp;
		struct xt_multiport_v1 multiport;
		struct xt_iprange_mtinfo iprange;
		char comment[256];
	} u;
};

enum ipt2bpf_target_kind {
	IPT2BPF_T_ACCEPT,
	IPT2BPF_T_DROP,
	IPT2BPF_T_RETURN,
	IPT2BPF_T_JUMP,	    /* push return address, continue at target_entry */
	IPT2BPF_T_GOTO,	    /* IPT_F_GOTO: no return address pushed */
	IPT2BPF_T_CONTINUE, /* standard jump to the very next entry: a no-op */
	IPT2BPF_T_ERROR,    /* ERROR target: the kernel drops what reaches it */
	IPT2BPF_T_MOD,	    /* an extension module (translator/mod.h): mod, data, len */
	IPT2BPF_T__MAX,
};

/* What an entry is, for display and for the counter view iptables shows. */
enum ipt2bpf_entry_role {
	IPT2BPF_E_RULE,	      /* a rule iptables -L lists */
	IPT2BPF_E_POLICY,     /* underflow of a built-in chain */
	IPT2BPF_E_CHAIN_HEAD, /* ERROR entry naming a user chain */
	IPT2BPF_E_CHAIN_END,  /* unconditional RETURN closing a user chain */
	IPT2BPF_E_TABLE_END,  /* the final ERROR entry */
};

struct ipt2bpf_target {
	enum ipt2bpf_target_kind kind;
	const char *name;	   /* "" for the standard target, else ext name */
	uint8_t revision;
	unsigned int target_entry; /* JUMP/GOTO: entry index of the destination */
	char error_name[XT_FUNCTION_MAXNAMELEN]; /* ERROR: the chain name */
	const struct ipt2bpf_mod *mod;		 /* IPT2BPF_T_MOD */
	const void *data;			 /* payload (owned by the entry) */
	size_t len;
};

struct ipt2bpf_entry {
	unsigned int index;  /* position in the blob == counter index */
	unsigned int offset; /* byte offset from the start of the entries */
	unsigned int size;   /* next_offset */
	enum ipt2bpf_entry_role role;
	int chain;	     /* index into ipt2bpf_table.chains, -1: none */
	unsigned int num;    /* 1-based number within its chain (RULE only) */
	unsigned int hooks;  /* bitmask of hooks that can reach this entry */
	struct ipt_ip ip;    /* exactly as in the blob */
	struct ipt2bpf_match *matches;
	unsigned int n_matches;
	struct ipt2bpf_target target;
	struct xt_counters counters; /* as found in the blob (input counters) */
	unsigned char *raw;	     /* copy of the blob entry: module payloads point here */
};

struct ipt2bpf_chain {
	char name[XT_EXTENSION_MAXNAMELEN];
	bool builtin;
	int hook;		    /* NF_INET_* for built-in chains, else -1 */
	unsigned int first;	    /* first entry index of the chain's rules */
	unsigned int n_rules;	    /* visible rules (role RULE) */
	unsigned int policy_entry;  /* built-in: underflow entry index */
	int policy;		    /* built-in: NF_ACCEPT or NF_DROP */
	unsigned int head_entry;    /* user: ERROR head entry index */
	unsigned int end_entry;	    /* user: CHAIN_END entry, or last entry */
	unsigned int references;    /* jumps/gotos to this chain */
};

struct ipt2bpf_table {
	char name[XT_TABLE_MAXNAMELEN];
	unsigned int valid_hooks;
	unsigned int hook_entry[IPT2BPF_NUM_HOOKS]; /* entry index, not bytes */
	unsigned int underflow[IPT2BPF_NUM_HOOKS];  /* entry index, not bytes */
	struct ipt2bpf_entry *entries;
	unsigned int n_entries;
	struct ipt2bpf_chain *chains; /* built-ins first, in hook order */
	unsigned int n_chains;
};

/* Names an entry the way iptables users read it: "filter/INPUT#3". */
int ipt2bpf_entry_describe(const struct ipt2bpf_table *t, unsigned int entry, char *buf,
			   size_t len);

/*
 * Decode a blob that ipt2bpf_validate() accepted into an IR table.  Fails with
 * -EOPNOTSUPP (and a message through ipt2bpf_diag) for extensions the code
 * generator cannot translate exactly: never silently drops a match or target.
 */
struct ipt2bpf_diag;
int ipt2bpf_table_decode(const struct ipt_replace *repl, size_t len, struct ipt2bpf_table **out,
			 struct ipt2bpf_diag *diag);
void ipt2bpf_table_free(struct ipt2bpf_table *t);
void ipt2bpf_table_freep(struct ipt2bpf_table **t);
#define _free_ipt2bpf_table_ __attribute__((cleanup(ipt2bpf_table_freep)))

/* Human-readable dump for --dump-ir. */
void ipt2bpf_table_dump(const struct ipt2bpf_table *t, FILE *f);

#endif
