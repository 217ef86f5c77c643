/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Extension modules: one file per iptables extension (or family of them)
 * beyond the built-in tcp/udp/icmp/multiport/iprange/comment.  A module
 * knows its extension's payload (all revisions it translates), refuses what
 * it cannot do exactly, prints it for --dump-ir and emits its code.
 *
 * Modules register themselves with IPT2BPF_MOD_REGISTER(): a pointer in the
 * "ipt2bpf_mods" section, so adding an extension touches no shared table.
 * (Binaries link the library with --whole-archive so no module is dropped.)
 *
 * The validator still checks every blob against translator/ext.c (payload
 * size, protocol, hooks, table: the kernel's xt_check_match/target); an
 * extension with a module counts as translated there (GET_REVISION answers).
 */
#ifndef IPT2BPF_MOD_H
#define IPT2BPF_MOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct gen;
struct gen_ctx;
struct ipt2bpf_table;
struct ipt2bpf_entry;
struct ipt2bpf_match;
struct ipt2bpf_target;

/* Verdicts a module's target may make a chain function return (see gen_internal.h). */

struct ipt2bpf_mod {
	const char *name; /* extension name as in the blob */
	bool target;
	uint32_t revisions; /* bit r set: revision r is translated */
	int order;	    /* prologue/verdict hooks run in increasing order */

	/*
	 * Decode time, per use: 0, or -EOPNOTSUPP with why filled in ("option
	 * --foo is not supported") for payloads it cannot translate exactly.
	 * data/len: the payload as in the blob (len = XT_ALIGN()ed size).
	 */
	int (*check)(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e, const void *data,
		     size_t len, uint8_t revision, char *why, size_t whylen);
	/* --dump-ir: the options, iptables-save style, without a leading space. */
	void (*dump)(FILE *f, const void *data, size_t len, uint8_t revision);

	/*
	 * Code generation, all optional.  prepare() runs once per use before
	 * any code is emitted (mode-specific refusals with gen_refuse(), maps
	 * with gen_map_get(), gen_mod_use() of modules it depends on).
	 */
	int (*prepare)(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		       uint8_t revision);
	/* A match: jump to l_fail when the packet does not match. */
	int (*emit_match)(struct gen *g, unsigned int ti, unsigned int idx,
			  const struct ipt2bpf_match *m, int l_fail);
	/*
	 * A target, after the entry was counted.  Either falls through (the
	 * kernel's XT_CONTINUE: processing goes on with the next entry) or
	 * returns a verdict from the chain function (R0 = GEN_V_*; exit).
	 * terminal: it never falls through (entry ends a sequential run).
	 */
	int (*emit_target)(struct gen *g, unsigned int ti, unsigned int idx,
			   const struct ipt2bpf_target *t, const struct gen_ctx *c);
	bool terminal;

	/*
	 * Main program hooks for modules in use (gen_mod_use()).  Registers:
	 * R9 = ctx, R6 = struct gen_pkt *, R7 = the NF_INET_* hook; keep them.
	 * prologue: after parsing and routing, before the tables run.
	 * verdict: R0 = the tables' verdict (GEN_V_ACCEPT, GEN_V_DROP or a
	 * module verdict); leave R0 = GEN_V_ACCEPT or GEN_V_DROP (or another
	 * module's verdict for it to handle).
	 */
	int (*emit_prologue)(struct gen *g, int prog_role);
	int (*emit_verdict)(struct gen *g, int prog_role);
};

#define IPT2BPF_MOD_REGISTER(sym)                                                                  \
	static const struct ipt2bpf_mod *const ipt2bpf_mod_ptr_##sym                               \
		__attribute__((used, section("ipt2bpf_mods"), aligned(sizeof(void *)))) = &(sym)

/* The module for name/revision, or NULL. */
const struct ipt2bpf_mod *ipt2bpf_mod_find(const char *name, uint8_t revision, bool target);
/*
 * A module that only refuses (a check() and no code): its extension is not
 * translated, whatever its revisions say (codegen/refused.c).
 */
bool ipt2bpf_mod_refuses_only(const struct ipt2bpf_mod *m);
/* Iteration over every registered module: *i starts at 0; NULL at the end. */
const struct ipt2bpf_mod *ipt2bpf_mod_next(size_t *i);

#endif
