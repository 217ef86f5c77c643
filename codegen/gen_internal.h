/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Code generator internals shared by gen.c (programs, parser, hooks),
 * gen_rule.c (one IR entry: ipt_ip, matches, counter, target) and
 * gen_emit.c (instruction buffer with labels).  Not a public interface.
 */
#ifndef IPT2BPF_GEN_INTERNAL_H
#define IPT2BPF_GEN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "insn.h"
#include "progset.h"
#include "../translator/mod.h"

/* ------------------------------------------------------------ emitter */

/*
 * Instructions are appended to a growing buffer.  Jumps name labels that
 * are patched when the program is complete.  The emitter tracks whether the
 * current position is reachable: after `exit` or `ja` nothing is emitted
 * until a label some jump refers to is bound, because the verifier rejects
 * unreachable instructions.  That also lets a function end by itself after
 * an unconditional terminal rule.
 */
struct gen_label {
	uint32_t pos; /* UINT32_MAX while unbound */
	uint32_t refs;
};

struct gen_fixup {
	uint32_t insn;
	int label; /* >= 0: a label; < 0: -(function id) - 1 for a bpf-to-bpf call */
};

struct gen_emit {
	struct bpf_insn *insns;
	uint32_t n, cap;
	struct ipt2bpf_reloc *relocs;
	uint32_t n_relocs, cap_relocs;
	struct gen_fixup *fix;
	uint32_t n_fix, cap_fix;
	struct gen_label *labels;
	uint32_t n_labels, cap_labels;
	bool dead;
	int err; /* sticky: -ENOMEM, or -E2BIG for a jump that does not fit */
};

/* Where an emitter can be rolled back to (see gen_rule.c: inlining). */
struct gen_mark {
	uint32_t n, n_relocs, n_fix, n_labels;
	bool dead;
};

void gen_emit_init(struct gen_emit *e);
void gen_emit_release(struct gen_emit *e);
void gen_emit_mark(const struct gen_emit *e, struct gen_mark *m);
void gen_emit_rollback(struct gen_emit *e, const struct gen_mark *m);

/* Main function: gen_pkt accesses through R6 become R10-based (see gen.c); -1 if R6 changes. */
int gen_rebase_main_pkt(struct bpf_insn *insn, uint32_t n, uint32_t setup_end);

void gen_insn(struct gen_emit *e, struct bpf_insn insn);
#define EMIT(e, insn) gen_insn((e), (insn))
int gen_label_new(struct gen_emit *e);
void gen_label_bind(struct gen_emit *e, int label);
/* A jump instruction whose offset is filled in from label. */
void gen_jmp(struct gen_emit *e, struct bpf_insn insn, int label);
#define EMIT_JMP(e, insn, label) gen_jmp((e), (insn), (label))
/* r = map (BPF_LD_IMM64 with BPF_PSEUDO_MAP_FD, imm = map index) plus its reloc. */
void gen_ld_map(struct gen_emit *e, int reg, unsigned int map);
/* call function id (BPF_PSEUDO_CALL), patched by gen_emit_resolve(). */
void gen_call(struct gen_emit *e, unsigned int func);
/* r = &function id (BPF_LD_IMM64 with BPF_PSEUDO_FUNC: a bpf_loop callback), patched likewise. */
void gen_ld_func(struct gen_emit *e, int reg, unsigned int func);
/* Patches label jumps and calls; func_start[id] is the first insn of function id. */
int gen_emit_resolve(struct gen_emit *e, const uint32_t *func_start, unsigned int n_funcs);

/* Shorthands for code that emits into the program being built (g->p). */
#define E(insn)		EMIT(&g->p->e, insn)
#define EJ(insn, label) EMIT_JMP(&g->p->e, insn, label)
#define LABEL()		gen_label_new(&g->p->e)
#define BIND(l)		gen_label_bind(&g->p->e, l)

/* ------------------------------------------------------------ packet */

/*
 * What the main program parsed, on its stack; subprograms get a pointer to it
 * in R1 and keep it in R6.  Everything is zero unless parsed.
 */
#define GEN_IF_PRELOAD 4 /* interface pattern words looked up once per packet */

struct gen_pkt {
	uint32_t saddr, daddr;	   /* network order, as in the header */
	uint32_t saddr_h, daddr_h; /* host order, for iprange */
	uint32_t tot_len;	   /* host order: what the kernel's counters add */
	uint32_t l4len;		   /* tot_len - ihl * 4: transport bytes present */
	uint32_t thoff;		   /* ihl * 4 */
	uint32_t iif, oif;	   /* ifindex, 0: no device */
	uint16_t fragoff;	   /* fragment offset field (8-byte units) */
	uint16_t fragflags;	   /* IP_MF | IP_DF | IP_CE bits, host order */
	uint16_t id;		   /* network order */
	uint16_t sport, dport;	   /* host order, when l4len >= 4 */
	uint8_t proto, tos, ttl;
	uint8_t doff4;	  /* TCP data offset in bytes, when l4len >= 20 */
	uint8_t tcpflags; /* TCP byte 13 */
	uint8_t icmp_type, icmp_code;
	uint8_t l4ok; /* GEN_L4_*: first fragment (offset 0) with that many transport bytes */
	uint8_t vparam; /* argument of a module verdict (e.g. REJECT's --reject-with) */
	uint8_t pad;
	/*
	 * Extension modules' per-packet state.  The stack is full: main's frame
	 * plus seven 32-byte subprogram frames is exactly 512 bytes, so this
	 * block must stay 32 bytes.
	 */
	uint32_t mark;	     /* skb->mark as the rules see it (MARK/CONNMARK change it) */
	uint32_t secmark;    /* label id SECMARK/CONNSECMARK gave the packet, 0: none */
	uint32_t ct_mark;    /* the connection's mark as it will be stored */
	uint32_t ct_secmark; /* the connection's label id */
	uint32_t ct_status;  /* IPS_* bits of the connection */
	uint32_t ct_expire;  /* seconds until the connection times out */
	uint8_t ct_state;    /* XT_CONNTRACK_STATE_* / XT_STATE_* bit of this packet, 0: none */
	uint8_t ct_dir;	     /* IP_CT_DIR_ORIGINAL or IP_CT_DIR_REPLY */
	uint8_t ct_flags;    /* conntrack module private */
	uint8_t mod_flags;   /* GEN_PF_*: which of the fields above changed */
	uint64_t optmap[4]; /* TCP option kinds tcp_find_option()'s walk visits */
	uint64_t ifin[GEN_IF_PRELOAD], ifout[GEN_IF_PRELOAD];
};

#define GEN_L4_4   0x01 /* ports (multiport) */
#define GEN_L4_8   0x02 /* struct udphdr, struct icmphdr */
#define GEN_L4_TCP 0x04 /* struct tcphdr */

/* gen_pkt.mod_flags */
#define GEN_PF_MARK	  0x01 /* mark was changed: write it back to the skb */
#define GEN_PF_CT_MARK	  0x02 /* ct_mark was changed: store it with the connection */
#define GEN_PF_CT_SECMARK 0x04 /* ct_secmark was changed */
#define GEN_PF_SECMARK	  0x08 /* secmark was set by a rule */

#define PKT(field) ((int16_t)offsetof(struct gen_pkt, field))

/*
 * Main program stack frame (offsets from R10).  Subprograms use only
 * FP_KEY and FP_IFKEY of their own frames, so the combined stack of main
 * plus seven subprogram frames (32 bytes each) stays under 512 bytes.
 */
#define FP_KEY	     (-8)  /* u32 map key (counters, cfg) */
#define FP_IFKEY     (-16) /* struct ipt2bpf_ifkey */
#define FP_TMP	     (-24) /* u64 scratch: loop counter, loaded bytes */
#define FP_SCR	     (-88) /* 64 bytes: IP header, then bpf_fib_lookup, frag key/value */
#define FP_PKT	     (FP_SCR - (int)sizeof(struct gen_pkt))
#define GEN_SCR_SIZE 64

/* Verdicts returned by chain functions. */
#define GEN_V_CONTINUE 0
#define GEN_V_ACCEPT   1
#define GEN_V_DROP     2
#define GEN_V_NEXT     3 /* a chunk ran to its end: go on with the next chunk */
/*
 * Verdicts GEN_V_MODULE..GEN_V_MAX belong to extension modules' targets; the
 * main program hands them to the modules' verdict hooks (argument in
 * gen_pkt.vparam), which turn them into ACCEPT or DROP.
 */
#define GEN_V_MODULE 4
#define GEN_V_REJECT 4 /* REJECT: vparam = enum ipt_reject_with */
#define GEN_V_MAX    15

/*
 * A function's sequential run longer than this many entries is cut into
 * global functions ("chunks") the verifier checks one by one: along one path
 * it keeps at most 8192 branches pending (BPF_COMPLEXITY_LIMIT_JMP_SEQ), and a
 * straight chain leaves about one pending per condition of every rule.
 */
#define GEN_CHUNK 256

/* Kernel limits on bpf-to-bpf calls (kernel/bpf/verifier.c: MAX_CALL_FRAMES, BPF_MAX_SUBPROGS). */
#define GEN_MAX_FRAMES	 8
#define GEN_MAX_SUBPROGS 256
/* Largest program the kernel loads (kernel/bpf: BPF_COMPLEXITY_LIMIT_INSNS, privileged). */
#define GEN_MAX_INSNS 1000000

/* ------------------------------------------------------------ generator */

struct gen_edge {
	unsigned int callee;
	unsigned int pushes; /* jump stack entries pushed in the caller before this call */
	bool jump;	     /* JUMP (pushes one more) rather than GOTO */
};

struct gen_func {
	unsigned int table; /* index into gen.tables, UINT_MAX: the program's entry */
	unsigned int entry; /* first IR entry */
	bool chunk;	    /* a global function running entries [entry, end) */
	bool global;	    /* a chain function verified on its own (BTF linkage global) */
	unsigned int end;
	char name[64];
	uint32_t start, len;
	struct gen_edge *edges;
	unsigned int n_edges, cap_edges;
	unsigned int local_pushes; /* deepest inlined JUMP nesting */
	int state;		   /* depth computation: 0 new, 1 in progress, 2 done */
	unsigned int frames, pushes;
	int deepest; /* callee on the deepest path, -1: none */
	/* A module's function (a bpf_loop callback): table is UINT_MAX, emit() writes it. */
	int (*emit)(struct gen *g, const void *arg);
	const void *arg;
};

struct gen_prog {
	struct gen_emit e;
	struct gen_func *funcs; /* funcs[0]: the main program */
	unsigned int n_funcs, cap_funcs;
	unsigned int cur; /* function being emitted */
};

/*
 * What differs between an skb (TC) and an xdp_buff program: how bytes are
 * read, how to tell IPv4, where the input device is, what the verdicts are.
 */
struct gen_flavour {
	enum bpf_prog_type type;
	enum bpf_func_id load_bytes; /* (ctx, offset from the frame start, to, len) */
	int ret_pass, ret_accept, ret_drop;
	void (*emit_is_ipv4)(struct gen *g, int l_pass);
	void (*emit_in_ifindex)(struct gen *g, int reg);
	void (*emit_forward_checks)(struct gen *g, int l_pass);
};

#define GEN_MAX_MODS 32

struct gen_tinfo {
	int *in_pat, *out_pat;	/* per entry: interface pattern id, -1: none */
	unsigned int *sites;	/* per entry: JUMP/GOTO entries targeting it */
	unsigned int stacksize; /* the kernel's jump stack size: ERROR entries */
};

struct gen {
	const struct ipt2bpf_table *const *tables;
	unsigned int n_tables;
	const struct ipt2bpf_gen_opts *opts;
	struct ipt2bpf_diag *diag;
	struct ipt2bpf_progset *ps;
	struct gen_tinfo ti[2];
	unsigned int map_counter[2], map_ifaces, map_frags, map_cfg;
	unsigned int if_words; /* ceil(n_ifpats / 64) */
	bool if_preload;       /* if_words <= GEN_IF_PRELOAD */
	bool tcpopt;	       /* some rule uses --tcp-option */
	struct gen_prog *p;    /* program being built */
	const struct gen_flavour *fl;	 /* of the program being built */
	const struct ipt2bpf_prog *prog; /* the program being built */
	const struct ipt2bpf_mod *used[GEN_MAX_MODS]; /* modules in use, by order */
	void *mod_priv[GEN_MAX_MODS];		       /* theirs (freed with free()) */
	unsigned int n_used;
	struct gen_opt *opt; /* codegen/opt.c: the optimiser's plan, made on first use */
};

struct gen_ctx {
	int ret_label;	     /* RETURN jumps here; -1: return 0 from the function */
	unsigned int pushes; /* jump stack entries pushed by inlined JUMPs */
	unsigned int depth;  /* inlining nesting */
};

/* gen.c */
/*
 * The index of map name in the program set, added with these parameters the
 * first time (later calls must agree).  shared: see ipt2bpf_map_spec.
 */
int gen_map_get(struct gen *g, const char *name, enum bpf_map_type type, uint32_t key,
		uint32_t value, uint32_t max, uint32_t flags, bool shared);
/* Module m's hooks run in every program; *priv (may be NULL) is its private slot. */
int gen_mod_use(struct gen *g, const struct ipt2bpf_mod *m, void ***priv);
/* Module m's private slot's contents (see gen_mod_use()), or NULL if m is not in use. */
void *gen_mod_priv(const struct gen *g, const struct ipt2bpf_mod *m);
/* -EOPNOTSUPP with "<table>/<chain>#<n>: <message>" in the diag. */
__attribute__((format(printf, 4, 5))) int gen_refuse(struct gen *g, unsigned int table,
						    unsigned int entry, const char *fmt, ...);
int gen_func_get(struct gen *g, unsigned int table, unsigned int entry);
int gen_chunk_get(struct gen *g, unsigned int table, unsigned int start, unsigned int end);
void gen_describe(const struct gen *g, unsigned int table, unsigned int entry, char *buf,
		  size_t len);
void gen_edge_add(struct gen *g, unsigned int callee, unsigned int pushes, bool jump);
/*
 * A module's own function in the program being built (a bpf_loop callback),
 * created once per (emit, arg) and emitted after the program's other
 * functions by emit(g, arg).  The caller adds the call edge (gen_edge_add()).
 */
int gen_modfunc_get(struct gen *g, const char *name, int (*emit)(struct gen *g, const void *arg),
		    const void *arg);

/* gen_rule.c: entries from start until the code can go no further. */
int gen_body(struct gen *g, unsigned int table, unsigned int start, const struct gen_ctx *c);
/* A chunk's code: entries [start, end), GEN_V_NEXT when it runs past the last. */
int gen_chunk_body(struct gen *g, unsigned int table, unsigned int start, unsigned int end);
/*
 * Fail (jump to l_fail) unless (lo <= field <= hi) ^ inv, for an unsigned
 * gen_pkt field at off of BPF_B/H/W size whose largest value is max.
 */
void gen_range(struct gen *g, int size, int16_t off, uint32_t max, uint32_t lo, uint32_t hi,
	       bool inv, int l_fail);
/*
 * reg = now, in ns (CLOCK_MONOTONIC) or in jiffies.  Live programs ask the
 * kernel; trace programs take ipt_cfg's clock when `trace --pcap-time` set
 * it from the packet's pcap timestamp, so time-dependent matches (limit,
 * recent, conntrack timeouts) can be tested with controlled time.
 * Clobbers R0-R5 (reg may be one of them).
 */
void gen_clock(struct gen *g, int reg, bool jiffies);
/* R0 = verdict; exit (from the current function). */
void gen_verdict_exit(struct gen *g, int verdict);
/* Does the entry match every packet and end the sequential run (kernel's unconditional())? */
bool gen_entry_always(const struct ipt2bpf_entry *e);

static inline uint32_t gen_u32(const void *p)
{
	uint32_t v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

#endif
