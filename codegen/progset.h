/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A program set: what the code generator produces and what the ELF writer,
 * the loader and `ipt2bpf trace` consume.  Maps are referenced from code by
 * BPF_LD_IMM64 with src_reg = BPF_PSEUDO_MAP_FD and imm = map index; the
 * loader patches in fds, the ELF writer turns them into R_BPF_64_64
 * relocations against the map's symbol in ".maps".
 */
#ifndef IPT2BPF_PROGSET_H
#define IPT2BPF_PROGSET_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/if.h>
#include <linux/bpf.h>

#include "../translator/diag.h"
#include "../translator/ir.h"

#define IPT2BPF_MAX_MAPS 32

/* Map names are bpftool-visible, at most BPF_OBJ_NAME_LEN - 1 characters. */
#define IPT2BPF_MAP_IFACES "ipt_ifaces" /* interface name patterns, see below */
#define IPT2BPF_MAP_FRAGS  "ipt_frags"	/* INPUT: verdict of a datagram's first fragment */
#define IPT2BPF_MAP_CFG	   "ipt_cfg"	/* trace: iif/oif of the packet being traced */

/* Value of the per-table counter map (PERCPU_ARRAY keyed by entry index). */
struct ipt2bpf_counter {
	uint64_t pcnt;
	uint64_t bcnt;
};

/*
 * Interfaces are matched through a hash map filled from user space, because a
 * TC/XDP program only knows the ifindex while iptables matches names (with
 * masks for '+').  Key: (ifindex, word); value: bit p of word w set when the
 * interface's name matches pattern 64 * w + p.  ifindex 0 stands for "no
 * device" (the empty name the kernel compares -o against in INPUT).
 */
struct ipt2bpf_ifkey {
	uint32_t ifindex;
	uint32_t word;
};

struct ipt2bpf_ifpat {
	char name[IFNAMSIZ];
	unsigned char mask[IFNAMSIZ];
};

/* Value of ipt_cfg[0], read by trace programs only. */
struct ipt2bpf_cfg {
	uint32_t iif;	/* ifindex the traced packet came in on (0: none) */
	uint32_t oif;	/* ifindex it goes out on (0: none) */
	uint32_t clock; /* nonzero: the clock below, not the kernel's, is "now" */
	uint32_t fib_iif; /* the real ifindex of the input device, for a rule's route lookups */
	uint64_t now_ns;  /* CLOCK_MONOTONIC ns (bpf_ktime_get_ns() in live programs) */
	uint64_t jiffies; /* jiffies (bpf_jiffies64() in live programs) */
};

struct ipt2bpf_map_spec {
	char name[BPF_OBJ_NAME_LEN];
	enum bpf_map_type type;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t flags;
	/*
	 * One instance per network namespace, shared by every program and kept
	 * across rule set replacements (the connection tracker, recent lists):
	 * the runtime pins it as <ns dir>/shared/<name> and reuses it.
	 */
	bool shared;
	/*
	 * Contents the loader writes before any program is loaded (the
	 * optimiser's lookup maps, codegen/opt.h): n_init keys and values of
	 * key_size and value_size bytes, owned by the program set.  For an
	 * ARRAY map init_keys may be NULL: the values are elements 0, 1, ...
	 */
	void *init_keys;
	void *init_values;
	uint32_t n_init;
};

/* A function inside a program's instructions; funcs[0] is the entry point. */
struct ipt2bpf_func {
	char name[64];
	uint32_t start; /* first instruction */
	uint32_t len;	/* instructions */
};

struct ipt2bpf_reloc {
	uint32_t insn; /* index of the BPF_LD_IMM64's first half */
	uint32_t map;  /* index into ipt2bpf_progset.maps */
};

enum ipt2bpf_prog_role {
	IPT2BPF_P_INGRESS, /* TC ingress: INPUT or FORWARD by FIB lookup */
	IPT2BPF_P_EGRESS,  /* TC egress: OUTPUT for locally generated packets */
	IPT2BPF_P_XDP,	   /* XDP: INPUT or FORWARD by FIB lookup */
	IPT2BPF_P_TRACE,   /* test-run entry for one hook, iif/oif from ipt_cfg */
};

struct ipt2bpf_prog {
	char name[BPF_OBJ_NAME_LEN];
	const char *section; /* "classifier", "tc" or "xdp" (libbpf 1.1 names) */
	enum ipt2bpf_prog_role role;
	int hook; /* IPT2BPF_P_TRACE: the NF_INET_* hook it runs */
	enum bpf_prog_type type;
	struct bpf_insn *insns;
	uint32_t n_insns;
	struct ipt2bpf_reloc *relocs;
	uint32_t n_relocs;
	struct ipt2bpf_func *funcs;
	uint32_t n_funcs;
	/*
	 * NULL, or n_funcs flags: funcs[k] is verified on its own by the kernel
	 * (BTF linkage global; one argument, a pointer to
	 * ipt2bpf_progset.arg_size bytes; returns int).  Long chains are cut
	 * into such functions because the verifier keeps at most 8192 branches
	 * pending along one path.  The others are static.
	 */
	bool *func_global;
	/* Some function is a bpf_loop() callback: the kernel wants BTF func_info. */
	bool needs_func_info;
};

enum ipt2bpf_mode {
	IPT2BPF_MODE_TC,
	IPT2BPF_MODE_XDP,
};

struct ipt2bpf_secopts;

struct ipt2bpf_gen_opts {
	enum ipt2bpf_mode mode;
	bool trace; /* emit IPT2BPF_P_TRACE programs (one per hook) as well */
	/* Straight-line code for every rule: no map-backed segments (codegen/opt.h). */
	bool no_optimise;
	/* For an ELF object (-o): refuse what depends on the running kernel's layout. */
	bool object;
	/* SECMARK labels and their sinks (codegen/secpolicy.h); NULL: none given. */
	const struct ipt2bpf_secopts *sec;
};

struct ipt2bpf_progset {
	struct ipt2bpf_map_spec maps[IPT2BPF_MAX_MAPS];
	unsigned int n_maps;
	struct ipt2bpf_prog *progs;
	unsigned int n_progs;
	struct ipt2bpf_ifpat *ifpats; /* pattern id -> name/mask */
	unsigned int n_ifpats;
	/* tables[i] (borrowed) counts into maps[counter_map[i]] */
	const struct ipt2bpf_table *tables[2];
	unsigned int counter_map[2];
	unsigned int n_tables;
	uint32_t arg_size; /* bytes behind the pointer global functions get (parsed packet) */
};

/*
 * Generate programs for the given tables (filter first, then security: the
 * security table runs after filter on the same hook).  Fails with a message
 * naming table/chain/rule#/extension for anything it cannot translate.
 */
int ipt2bpf_gen(const struct ipt2bpf_table *const *tables, unsigned int n_tables,
		const struct ipt2bpf_gen_opts *opts, struct ipt2bpf_progset **out,
		struct ipt2bpf_diag *diag);
void ipt2bpf_progset_free(struct ipt2bpf_progset *ps);
void ipt2bpf_progset_freep(struct ipt2bpf_progset **ps);
#define _free_ipt2bpf_progset_ __attribute__((cleanup(ipt2bpf_progset_freep)))

int ipt2bpf_progset_find_map(const struct ipt2bpf_progset *ps, const char *name);

/* Does interface name match pattern p exactly as the kernel's ifname_compare_aligned()? */
bool ipt2bpf_ifpat_match(const struct ipt2bpf_ifpat *p, const char *ifname);

#endif
