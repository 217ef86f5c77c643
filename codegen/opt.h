/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The optimiser: between the IR and the code generator, it picks per chain
 * segment the cheapest exact strategy.  Every rule stays an IR entry with
 * its own counter; what changes is how the program finds the first rule
 * that matches.
 *
 *   straight-line   gen_rule.c's code per rule (short chains, rules with
 *                   extension modules, non-terminal targets, --tcp-option)
 *   run (hash/LPM)  consecutive rules that differ only in their addresses
 *                   (uniform masks: hash; prefixes of one field: LPM) and/or
 *                   exact tcp/udp ports, same target: one map lookup whose
 *                   value is the index of the first rule the packet matches
 *   classifier      a long stretch of rules made of exactly-handled parts
 *                   (ipt_ip, tcp/udp, icmp, multiport, iprange, comment)
 *                   with ACCEPT, DROP, RETURN or GOTO: decision trees
 *                   (HiCuts-style equal-size cuts on source, destination,
 *                   ports and protocol; one tree per combination of wide and
 *                   narrow address fields, as in EffiCuts) narrow the stretch
 *                   to a few candidates (OPT_BINTH, OPT_LEAF_MAX), checked in
 *                   order exactly; packets some rule of the stretch would
 *                   hotdrop (truncated transport header, TCP fragment at
 *                   offset 1) are checked against every rule of the stretch
 *                   in order instead (bpf_loop(), in the calling chain)
 *
 * A rule is expanded into boxes (one range per field) whose union is exactly
 * what it matches: inverted prefixes, ranges and port lists become several
 * boxes; what a box cannot say (non-contiguous masks, interfaces, -f, TCP
 * flags, ICMP types) is checked from its descriptor (struct opt_desc).
 *
 * Exactness: a run's lookup value and a classifier's candidate order are
 * first-match order (for an LPM run, the value of a prefix is the first
 * rule among the prefixes containing it); the rest of a rule is checked as
 * the kernel does, including the hotdrops of its matches; only the rule
 * found is counted, with the datagram's length, as in straight-line code.
 *
 * The maps (per table, filled by the loader from ipt2bpf_map_spec.init_*):
 *   ipt_oh_<table>  HASH      struct opt_hkey -> u32 entry index (runs)
 *   ipt_ol_<table>  LPM_TRIE  struct opt_lkey -> u32 entry index (runs)
 *   ipt_on_<table>  ARRAY     struct opt_slot: decision tree nodes
 *   ipt_oc_<table>  ARRAY     struct opt_desc: the leaves' candidates, leaf by leaf
 *   ipt_od_<table>  ARRAY     struct opt_desc: one per (expanded) rule, in order
 *                             (what the ordered scan walks)
 */
#ifndef IPT2BPF_OPT_H
#define IPT2BPF_OPT_H

#include <stdint.h>

#include "gen_internal.h"

/* ---- hooks called by gen_rule.c ---- */

/*
 * If a segment starts at entry idx and ends before limit, emit it and return
 * how many entries it covers; 0: emit entry idx as straight-line code.
 */
int gen_opt_emit(struct gen *g, unsigned int ti, unsigned int idx, unsigned int limit,
		 const struct gen_ctx *c);
/* How many of the entries [s, end) are straight-line code (not in a segment). */
unsigned int gen_opt_line_count(struct gen *g, unsigned int ti, unsigned int s, unsigned int end);
/* Where a straight-line chunk starting at s must end: before the next segment. */
unsigned int gen_opt_chunk_end(struct gen *g, unsigned int ti, unsigned int s, unsigned int end);
/* gen.c, at the end of ipt2bpf_gen(). */
void gen_opt_release(struct gen *g);

/* ---- gen_rule.c services for the optimiser ---- */

/* Entry idx's target, exactly as straight-line code emits it. */
int gen_rule_target(struct gen *g, unsigned int ti, unsigned int idx, const struct gen_ctx *c);
/* tmpl's ipt_ip and matches (a copy of entry idx with parts left out); jump to l_fail. */
int gen_rule_tmpl(struct gen *g, unsigned int ti, unsigned int idx,
		  const struct ipt2bpf_entry *tmpl, int l_fail);

/* ---- map layouts ---- */

struct opt_hkey {
	uint32_t run;	       /* run id; | OPT_RUN_PRESENCE: addresses only */
	uint32_t saddr, daddr; /* network order, masked with the run's masks */
	uint16_t sport, dport; /* host order */
};

#define OPT_RUN_PRESENCE 0x80000000u

struct opt_lkey {
	uint32_t prefixlen; /* 64 + prefix length */
	uint8_t data[12];   /* run id (big-endian), the other address, the prefix address */
};

/* A decision tree node as its parent's child slot holds it. */
struct opt_slot {
	uint8_t dim;   /* OPT_D_*, or OPT_LEAF */
	uint8_t shift; /* child = base + ((value >> shift) & mask) */
	uint16_t mask; /* leaf: number of candidates */
	uint32_t base; /* leaf: its first candidate in ipt_oc */
};

enum { OPT_D_SRC, OPT_D_DST, OPT_D_SPORT, OPT_D_DPORT, OPT_D_PROTO, OPT_NDIM };
#define OPT_LEAF      0xff
#define OPT_PORT_NONE 65536u /* the port value of a later fragment: only port-free rules */

/* One rule (or one piece of an expanded rule) of a classifier. */
struct opt_desc {
	uint32_t s_lo, s_hi, d_lo, d_hi;       /* host order */
	uint32_t sp_lo, sp_hi, dp_lo, dp_hi;   /* 0..65536 (OPT_PORT_NONE) */
	uint32_t s_mask, s_net, d_mask, d_net; /* non-contiguous masks, network order */
	uint32_t result;		       /* entry << 8 | action */
	uint16_t flags;			       /* OPT_F_* */
	uint8_t p_lo, p_hi;
	uint8_t guard; /* GEN_L4_* bit the transport match needs, | OPT_G_TCP */
	uint8_t fl_mask, fl_cmp;
	uint8_t ic_type, ic_lo, ic_hi;
	uint8_t if_in, if_out; /* interface pattern ids (< 256, preloaded words) */
};

#define OPT_G_TCP 0x80 /* the tcp match: a fragment at offset 1 hotdrops */

#define OPT_F_SNC     0x0001 /* (saddr & s_mask) == s_net */
#define OPT_F_SNC_INV 0x0002
#define OPT_F_DNC     0x0004
#define OPT_F_DNC_INV 0x0008
#define OPT_F_IN      0x0010 /* input device matches pattern if_in */
#define OPT_F_IN_INV  0x0020
#define OPT_F_OUT     0x0040
#define OPT_F_OUT_INV 0x0080
#define OPT_F_FRAG    0x0100 /* -f: fails on offset 0 */
#define OPT_F_NOFRAG  0x0200 /* ! -f: fails on offset != 0 */
#define OPT_F_FLAGS   0x0400 /* (tcpflags & fl_mask) == fl_cmp */
#define OPT_F_FL_INV  0x0800
#define OPT_F_ICMP    0x1000 /* icmp type ic_type (0xff: any), code in [ic_lo, ic_hi] */
#define OPT_F_IC_INV  0x2000
#define OPT_F_PRE     (OPT_F_SNC | OPT_F_DNC | OPT_F_IN | OPT_F_OUT | OPT_F_FRAG | OPT_F_NOFRAG)

/* Actions in opt_desc.result & 0xff. */
#define OPT_A_ACCEPT 0
#define OPT_A_DROP   1
#define OPT_A_RETURN 2
#define OPT_A_GOTO   3 /* + k: the k-th distinct GOTO destination of the classifier */
#define OPT_A_MAX    255

/* Classifier functions return the result, or: */
#define OPT_R_NONE    (-1)
#define OPT_R_HOTDROP (-2)
#define OPT_R_SLOW    (-3) /* some rule would hotdrop: the caller runs the ordered scan */

/* Tree building (opt_tree.c). */
#define OPT_BINTH     8	 /* a node with more candidates is cut, if a cut separates them */
#define OPT_LEAF_MAX  32 /* and one that no cut separates becomes a leaf up to this size */
#define OPT_MAX_DEPTH 24 /* levels the lookup walks (unrolled) */

struct opt_vrule {
	uint32_t lo[OPT_NDIM], hi[OPT_NDIM];
	uint32_t desc; /* index of its opt_desc */
	bool exact;    /* the box is the whole condition: rules after it are shadowed */
};

struct opt_tree {
	struct opt_slot *slots;
	uint32_t n_slots, cap_slots;
	uint32_t *cand;
	uint32_t n_cand, cap_cand;
	uint32_t max_slots; /* give up beyond this (memory) */
	/* of the last tree built: levels above its deepest leaf, its largest leaf */
	unsigned int depth, max_leaf;
};

/*
 * Builds the tree of v[0..n) (in first-match order) into t, appending to what
 * is there; *root is the root's slot, t->depth and t->max_leaf its shape.  -E2BIG: no tree within
 * the limits (a leaf that cannot get under OPT_BINTH, or too much memory).
 */
int opt_tree_build(struct opt_tree *t, const struct opt_vrule *v, uint32_t n, uint32_t *root);

#endif
