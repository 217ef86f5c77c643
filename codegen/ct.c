// SPDX-License-Identifier: GPL-2.0
/*
 * The connection tracker as a module (ct.h): maps, the two main-program
 * hooks, and the splicer that copies the clang-built tracker (ct_bpf.c,
 * embedded by ct_blob.S) into each program as static BPF functions.
 *
 * Splicing: the object's .text holds ct_in(), ct_confirm(), ct_count()
 * (connlimit) and cl_step() (ct_count()'s bpf_loop() callback), each a
 * self-contained function (everything inlined: no calls, no .rodata).  Their
 * instructions are copied as they are, except the BPF_LD_IMM64 instructions
 * the object's .rel.text relocates: against a map symbol they become our map
 * references (gen_ld_map()), against a function (the callback) a reference
 * to that function spliced in turn (gen_ld_func()); both are the same two
 * instructions, so jump offsets stay valid.  Anything else in the object is
 * refused when it is first used.
 */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "ct.h"
#include "gen_internal.h"

/* ct_bpf.c's view of gen_pkt must be gen_pkt's (ct.h: struct gen_ct_pkt). */
#define SAME(f)                                                                                    \
	_Static_assert(offsetof(struct gen_ct_pkt, f) == offsetof(struct gen_pkt, f) &&            \
			       sizeof(((struct gen_ct_pkt *)0)->f) ==                              \
				       sizeof(((struct gen_pkt *)0)->f),                           \
		       "struct gen_ct_pkt." #f " differs from struct gen_pkt")
SAME(saddr);
SAME(daddr);
SAME(tot_len);
SAME(l4len);
SAME(thoff);
SAME(fragoff);
SAME(fragflags);
SAME(sport);
SAME(dport);
SAME(proto);
SAME(doff4);
SAME(tcpflags);
SAME(icmp_type);
SAME(icmp_code);
SAME(l4ok);
SAME(mark);
SAME(secmark);
SAME(ct_mark);
SAME(ct_secmark);
SAME(ct_status);
SAME(ct_expire);
SAME(ct_state);
SAME(ct_dir);
SAME(ct_flags);
SAME(mod_flags);
_Static_assert(GEN_CT_PF_CT_MARK == GEN_PF_CT_MARK && GEN_CT_PF_CT_SECMARK == GEN_PF_CT_SECMARK,
	       "GEN_CT_PF_* differ from GEN_PF_*");
_Static_assert((int)TCP_CONNTRACK_TIMEOUT_MAX <= (int)GEN_CT_T_UDP,
	       "TCP timeouts overlap GEN_CT_T_UDP");

/*
 * ct_blob.S (the Makefile builds it); weak, so that a build of the library's
 * C sources alone (scripts/fuzz.sh) links and says "no tracker" if asked.
 */
extern const unsigned char gen_ct_obj_tc[] __attribute__((weak));
extern const unsigned char gen_ct_obj_tc_end[] __attribute__((weak));
extern const unsigned char gen_ct_obj_xdp[] __attribute__((weak));
extern const unsigned char gen_ct_obj_xdp_end[] __attribute__((weak));

/* ------------------------------------------------------------ the object */

enum { CT_F_IN, CT_F_CONFIRM, CT_F_COUNT, CT_F_STEP, CT_F_N };

struct ct_reloc {
	uint32_t insn;
	int func; /* CT_F_*: a function's address (a callback), -1: the map named below */
	char map[BPF_OBJ_NAME_LEN];
};

struct ct_obj {
	bool parsed;
	int err;
	char why[160];
	struct bpf_insn *insns; /* all of .text */
	uint32_t n_insns;
	struct ct_reloc *relocs;
	uint32_t n_relocs;
	uint32_t start[CT_F_N], len[CT_F_N];
	uint32_t stack[CT_F_N]; /* bytes of stack each uses */
};

static const char *const ct_func_names[CT_F_N] = {"ct_in", "ct_confirm", "ct_count", "cl_step"};
/* Their names in the program; the global ones get the parsed packet (BTF, as chunks). */
static const char *const ct_prog_names[CT_F_N] = {"ipt_ct_in", "ipt_ct_confirm", "ipt_ct_count",
						  "ipt_cl_step"};
static const bool ct_func_global[CT_F_N] = {true, false, true, false};

static struct ct_obj ct_objs[2]; /* tc, xdp */

/* What gen_modfunc_get() hands back to ct_emit_func(): which object, which function. */
struct ct_func_ref {
	unsigned int obj, func;
};
static const struct ct_func_ref ct_refs[2][CT_F_N] = {
	{{0, CT_F_IN}, {0, CT_F_CONFIRM}, {0, CT_F_COUNT}, {0, CT_F_STEP}},
	{{1, CT_F_IN}, {1, CT_F_CONFIRM}, {1, CT_F_COUNT}, {1, CT_F_STEP}},
};

static int obj_fail(struct ct_obj *o, int err, const char *why)
{
	o->err = err;
	snprintf(o->why, sizeof(o->why), "%s", why);
	return err;
}

/* A relocation list sorted by instruction (the object's usually is already). */
static int reloc_cmp(const void *a, const void *b)
{
	const struct ct_reloc *x = a, *y = b;

	return x->insn < y->insn ? -1 : x->insn > y->insn;
}

/*
 * Bytes of stack function f uses: the deepest R10-relative access, or
 * address taken (mov rX, r10; add rX, -n).
 */
static uint32_t obj_stack(const struct ct_obj *o, unsigned int f)
{
	uint32_t depth = 0;

	for (uint32_t i = o->start[f]; i < o->start[f] + o->len[f]; i++) {
		const struct bpf_insn *in = &o->insns[i];
		int cls = BPF_CLASS(in->code), off = 0;

		if ((cls == BPF_LDX && in->src_reg == BPF_REG_10) ||
		    ((cls == BPF_STX || cls == BPF_ST) && in->dst_reg == BPF_REG_10))
			off = in->off;
		else if (in->code == (BPF_ALU64 | BPF_MOV | BPF_X) && in->src_reg == BPF_REG_10 &&
			 i + 1 < o->start[f] + o->len[f] &&
			 in[1].code == (BPF_ALU64 | BPF_ADD | BPF_K) &&
			 in[1].dst_reg == in->dst_reg)
			off = in[1].imm;
		if (off < 0 && (uint32_t)-off > depth)
			depth = (uint32_t)-off;
	}
	return depth;
}

static int obj_parse(struct ct_obj *o, const unsigned char *start, const unsigned char *end)
{
	size_t text_idx = 0, n_sec = 0;
	Elf_Scn *scn = NULL, *symscn = NULL, *relscn = NULL, *textscn = NULL;
	Elf_Data *text, *syms, *rels;
	GElf_Shdr sh;
	size_t strndx;
	Elf *elf;
	int err = 0;

	o->parsed = true;
	if (end - start <= 0)
		return obj_fail(o, -ENOENT, "not built into this binary (codegen/ct_blob.S)");
	if (elf_version(EV_CURRENT) == EV_NONE)
		return obj_fail(o, -EINVAL, "libelf is unusable");
	elf = elf_memory((char *)start, (size_t)(end - start));
	if (!elf)
		return obj_fail(o, -EINVAL, "the embedded object is not ELF");
	if (elf_getshdrstrndx(elf, &strndx) || elf_getshdrnum(elf, &n_sec)) {
		err = obj_fail(o, -EINVAL, "the embedded object has no section names");
		goto out;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, strndx, sh.sh_name);
		if (!name)
			continue;
		if (!strcmp(name, ".text")) {
			textscn = scn;
			text_idx = elf_ndxscn(scn);
		} else if (sh.sh_type == SHT_SYMTAB) {
			symscn = scn;
		} else if (!strcmp(name, ".rodata") || !strncmp(name, ".data", 5) ||
			   !strcmp(name, ".bss")) {
			err = obj_fail(o, -EINVAL, "the tracker object has global data");
			goto out;
		}
	}
	if (!textscn || !symscn) {
		err = obj_fail(o, -EINVAL, "the tracker object has no .text or no symbols");
		goto out;
	}
	scn = NULL;
	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_REL && sh.sh_info == text_idx)
			relscn = scn;

	text = elf_getdata(textscn, NULL);
	syms = elf_getdata(symscn, NULL);
	if (!text || !syms || text->d_size % sizeof(struct bpf_insn)) {
		err = obj_fail(o, -EINVAL, "the tracker object's .text is unreadable");
		goto out;
	}
	o->n_insns = (uint32_t)(text->d_size / sizeof(struct bpf_insn));
	o->insns = malloc(text->d_size ? text->d_size : 1);
	if (!o->insns) {
		err = obj_fail(o, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(o->insns, text->d_buf, text->d_size);

	gelf_getshdr(symscn, &sh);
	for (size_t i = 0; i < syms->d_size / sizeof(GElf_Sym); i++) {
		GElf_Sym s;
		const char *name;

		if (!gelf_getsym(syms, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC)
			continue;
		name = elf_strptr(elf, sh.sh_link, s.st_name);
		for (int f = 0; f < CT_F_N && name; f++)
			if (!strcmp(name, ct_func_names[f])) {
				o->start[f] = (uint32_t)(s.st_value / sizeof(struct bpf_insn));
				o->len[f] = (uint32_t)(s.st_size / sizeof(struct bpf_insn));
			}
	}
	for (int f = 0; f < CT_F_N; f++)
		if (!o->len[f] || o->start[f] + o->len[f] > o->n_insns) {
			err = obj_fail(
				o, -EINVAL,
				"the tracker object lacks ct_in, ct_confirm, ct_count or cl_step");
			goto out;
		}

	if (relscn) {
		GElf_Shdr rsh;

		gelf_getshdr(relscn, &rsh);
		rels = elf_getdata(relscn, NULL);
		if (!rels) {
			err = obj_fail(o, -EINVAL,
				       "the tracker object's relocations are unreadable");
			goto out;
		}
		o->n_relocs = (uint32_t)(rels->d_size / sizeof(GElf_Rel));
		o->relocs = calloc(o->n_relocs ? o->n_relocs : 1, sizeof(*o->relocs));
		if (!o->relocs) {
			err = obj_fail(o, -ENOMEM, "out of memory");
			goto out;
		}
		for (uint32_t i = 0; i < o->n_relocs; i++) {
			GElf_Rel r;
			GElf_Sym s;
			const char *name;
			uint32_t insn;

			if (!gelf_getrel(rels, (int)i, &r) ||
			    !gelf_getsym(syms, (int)GELF_R_SYM(r.r_info), &s)) {
				err = obj_fail(o, -EINVAL, "bad relocation in the tracker object");
				goto out;
			}
			name = elf_strptr(elf, sh.sh_link, s.st_name);
			insn = (uint32_t)(r.r_offset / sizeof(struct bpf_insn));
			if (!name || insn + 1 >= o->n_insns ||
			    o->insns[insn].code != (BPF_LD | BPF_DW | BPF_IMM) ||
			    strlen(name) >= BPF_OBJ_NAME_LEN) {
				err = obj_fail(o, -EINVAL,
					       "the tracker object relocates something not a map");
				goto out;
			}
			o->relocs[i].insn = insn;
			o->relocs[i].func = -1;
			if (s.st_shndx == text_idx) {
				/* a function address: the symbol (.text, a function) + imm */
				uint64_t at = s.st_value + (uint32_t)o->insns[insn].imm;

				for (int f = 0; f < CT_F_N; f++)
					if (at == (uint64_t)o->start[f] * sizeof(struct bpf_insn))
						o->relocs[i].func = f;
				if (o->relocs[i].func < 0) {
					err = obj_fail(o, -EINVAL,
						       "the tracker object takes the address of an "
						       "unknown function");
					goto out;
				}
				continue;
			}
			snprintf(o->relocs[i].map, sizeof(o->relocs[i].map), "%s", name);
		}
	}
	qsort(o->relocs, o->n_relocs, sizeof(*o->relocs), reloc_cmp);
	for (int f = 0; f < CT_F_N; f++)
		o->stack[f] = obj_stack(o, (unsigned int)f);
	/* Internal calls would need their own function entries: everything must be inlined. */
	for (uint32_t i = 0; i < o->n_insns; i++)
		if (o->insns[i].code == (BPF_JMP | BPF_CALL) &&
		    o->insns[i].src_reg == BPF_PSEUDO_CALL) {
			err = obj_fail(o, -EINVAL, "the tracker object calls a BPF function");
			goto out;
		}
out:
	elf_end(elf);
	return err;
}

static struct ct_obj *obj_get(struct gen *g, unsigned int which)
{
	struct ct_obj *o = &ct_objs[which];

	if (!o->parsed)
		obj_parse(o, which ? gen_ct_obj_xdp : gen_ct_obj_tc,
			  which ? gen_ct_obj_xdp_end : gen_ct_obj_tc_end);
	if (o->err) {
		ipt2bpf_diag_set(g->diag, o->err, "connection tracker: %s", o->why);
		return NULL;
	}
	return o;
}

/* ------------------------------------------------------------ maps */

static int ct_map(struct gen *g, const char *name)
{
	if (!strcmp(name, GEN_CT_MAP))
		return gen_map_get(g, GEN_CT_MAP, BPF_MAP_TYPE_LRU_HASH, sizeof(struct gen_ct_key),
				   sizeof(struct gen_ct_entry), GEN_CT_MAX_ENTRIES, 0, true);
	if (!strcmp(name, GEN_CT_SCR_MAP))
		return gen_map_get(g, GEN_CT_SCR_MAP, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
				   sizeof(struct gen_ct_scratch), 1, 0, false);
	if (!strcmp(name, GEN_CT_STATS_MAP))
		return gen_map_get(g, GEN_CT_STATS_MAP, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
				   sizeof(uint64_t), GEN_CT_STAT_MAX, 0, true);
	if (!strcmp(name, GEN_CT_CFG_MAP))
		return gen_map_get(g, GEN_CT_CFG_MAP, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
				   sizeof(struct gen_ct_cfg), 1, 0, true);
	/*
	 * connlimit's lists belong to the rules (the kernel's nf_conncount_data
	 * of each match): not shared, a new rule set starts them empty.
	 */
	if (!strcmp(name, GEN_CL_MAP))
		return gen_map_get(g, GEN_CL_MAP, BPF_MAP_TYPE_HASH, sizeof(struct gen_cl_key),
				   sizeof(struct gen_cl_list), GEN_CL_MAX_KEYS, BPF_F_NO_PREALLOC,
				   false);
	if (!strcmp(name, GEN_CL_TMP_MAP))
		return gen_map_get(g, GEN_CL_TMP_MAP, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
				   sizeof(struct gen_cl_list), 1, 0, false);
	return ipt2bpf_diag_set(g->diag, -EINVAL, "connection tracker: unknown map %s", name);
}

/* ------------------------------------------------------------ splicing */

static int ct_func(struct gen *g, unsigned int func);

static int ct_emit_func(struct gen *g, const void *arg)
{
	const struct ct_func_ref *ref = arg;
	struct ct_obj *o = obj_get(g, ref->obj);
	struct gen_emit *e = &g->p->e;
	uint32_t start, end, r = 0;

	if (!o)
		return -EINVAL;
	start = o->start[ref->func];
	end = start + o->len[ref->func];
	for (uint32_t i = start; i < end; i++) {
		const struct bpf_insn *in = &o->insns[i];

		while (r < o->n_relocs && o->relocs[r].insn < i)
			r++;
		/* The copy keeps every instruction, reachable or not: offsets are the object's. */
		e->dead = false;
		if (r < o->n_relocs && o->relocs[r].insn == i && o->relocs[r].func >= 0) {
			int id = ct_func(g, (unsigned int)o->relocs[r].func);

			if (id < 0)
				return id;
			e = &g->p->e;
			gen_ld_func(e, in->dst_reg, (unsigned int)id);
			gen_edge_add(g, (unsigned int)id, 0, false);
			i++;
			continue;
		}
		if (r < o->n_relocs && o->relocs[r].insn == i) {
			int map = ct_map(g, o->relocs[r].map);

			if (map < 0)
				return map;
			gen_ld_map(e, in->dst_reg, (unsigned int)map);
			i++;
			continue;
		}
		gen_insn(e, *in);
	}
	return e->err;
}

static int ct_func(struct gen *g, unsigned int func)
{
	unsigned int which = g->fl->type == BPF_PROG_TYPE_XDP;
	struct ct_obj *o = obj_get(g, which);
	int id;

	if (!o)
		return -EINVAL;
	/*
	 * ct_count() runs from chain functions, cl_step() below it: the
	 * generator's call depth accounting gives every such frame 32 bytes
	 * (gen_internal.h), so that the combined stack stays within 512.
	 */
	if ((func == CT_F_COUNT || func == CT_F_STEP) && o->stack[func] > 32)
		return ipt2bpf_diag_set(g->diag, -EOPNOTSUPP,
					"connection tracker: %s uses %u bytes of stack, more than "
					"the 32 of a subprogram (a different clang?)",
					ct_func_names[func], o->stack[func]);
	id = gen_modfunc_get(g, ct_prog_names[func], ct_emit_func, &ct_refs[which][func]);
	/*
	 * ct_in() and ct_count() are global (BTF linkage): the verifier checks
	 * each once, on its own, with R1 a pointer to the parsed packet as for
	 * chunks (which is what the flag means for the loader and the ELF
	 * writer).
	 */
	if (id > 0 && ct_func_global[func])
		g->p->funcs[id].chunk = true;
	return id;
}

/* ------------------------------------------------------------ hooks */

#define SCR(f) ((int16_t)offsetof(struct gen_ct_scratch, f))

/* The module's private slot (gen_mod_use()): what the rule set asks of the tracker. */
struct ct_priv {
	bool jiffies; /* connlimit: the prologue puts jiffies in the scratch map */
};

static struct ct_priv *ct_priv_get(struct gen *g)
{
	void **slot;
	int err = gen_mod_use(g, &gen_ct_mod, &slot);

	if (err)
		return NULL;
	if (!*slot)
		*slot = calloc(1, sizeof(struct ct_priv));
	return *slot;
}

static int ct_prologue(struct gen *g, int role)
{
	int fid = ct_func(g, CT_F_IN), l_skip = LABEL(), l_noload = LABEL(), l_len = LABEL();
	struct ct_priv *priv = ct_priv_get(g);
	int err;

	if (fid < 0)
		return fid;
	if (!priv)
		return -ENOMEM;
	/*
	 * ct_in(pkt) is a global function without the context: the clock, the
	 * hook and the transport header's first bytes go to the scratch map.
	 */
	gen_clock(g, BPF_REG_3, false);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_3, FP_TMP));
	err = gen_ct_emit_scratch(g, BPF_REG_0, l_skip);
	if (err)
		return err;
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_10, FP_TMP));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_3, SCR(now)));
	if (priv->jiffies) {
		/* nf_conncount's clock: (u32)jiffies */
		E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, FP_TMP));
		gen_clock(g, BPF_REG_3, true);
		E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_10, FP_TMP));
		E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_3, SCR(cl_jiffies)));
	}
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_7));
	if (role == IPT2BPF_P_INGRESS) {
		int l_notlo = LABEL();

		/* Loopback: the packet went through OUTPUT (our egress program) already. */
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_9,
			      offsetof(struct __sk_buff, ingress_ifindex)));
		EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_2, 1, 0), l_notlo);
		E(BPF_ALU64_IMM(BPF_OR, BPF_REG_1, GEN_CT_ARG_LO));
		BIND(l_notlo);
	}
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_1, SCR(arg)));
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, SCR(plen), 0));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, FP_TMP));
	/* Transport bytes: first fragments only, at most GEN_CT_PBUF_LOAD. */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_noload);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_6, PKT(l4len)));
	/* JLT, not JEQ 0: 6.1's verifier learns umin >= 1 (a non-zero size) only from it. */
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_4, 1, 0), l_noload);
	EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_4, GEN_CT_PBUF_LOAD, 0), l_len);
	E(BPF_MOV64_IMM(BPF_REG_4, GEN_CT_PBUF_LOAD));
	BIND(l_len);
	E(BPF_STX_MEM(BPF_W, BPF_REG_0, BPF_REG_4, SCR(plen)));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_0));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, SCR(pbuf)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_CALL_HELPER(g->fl->load_bytes));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_noload);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_10, FP_TMP));
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, SCR(plen), 0));
	BIND(l_noload);
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_6));
	gen_call(&g->p->e, (unsigned int)fid);
	gen_edge_add(g, (unsigned int)fid, 0, false);
	BIND(l_skip);
	return g->p->e.err;
}

static int ct_verdict(struct gen *g, int role)
{
	int fid = ct_func(g, CT_F_CONFIRM), l_acc = LABEL();

	(void)role;
	if (fid < 0)
		return fid;
	/* ct_confirm(pkt, accepted); R0 (the verdict) survives in FP_TMP. */
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, FP_TMP));
	E(BPF_MOV64_IMM(BPF_REG_2, 1));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, GEN_V_ACCEPT, 0), l_acc);
	E(BPF_MOV64_IMM(BPF_REG_2, 0));
	BIND(l_acc);
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_6));
	gen_call(&g->p->e, (unsigned int)fid);
	gen_edge_add(g, (unsigned int)fid, 0, false);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_10, FP_TMP));
	return g->p->e.err;
}

const struct ipt2bpf_mod gen_ct_mod = {
	.name = "(conntrack)", /* not an extension: never in a blob, never registered */
	.order = 10,
	.emit_prologue = ct_prologue,
	.emit_verdict = ct_verdict,
};

int gen_ct_use_connlimit(struct gen *g)
{
	struct ct_priv *priv = ct_priv_get(g);

	if (!priv)
		return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
	priv->jiffies = true;
	return 0;
}

int gen_ct_emit_count(struct gen *g)
{
	int fid = ct_func(g, CT_F_COUNT);

	if (fid < 0)
		return fid;
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_6));
	gen_call(&g->p->e, (unsigned int)fid);
	gen_edge_add(g, (unsigned int)fid, 0, false);
	return g->p->e.err;
}

int gen_ct_emit_scratch(struct gen *g, int reg, int l_none)
{
	int map = ct_map(g, GEN_CT_SCR_MAP);

	if (map < 0)
		return map;
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
	if (reg != BPF_REG_0)
		E(BPF_MOV64_REG(reg, BPF_REG_0));
	return g->p->e.err;
}

/* ------------------------------------------------------------ configuration */

static const struct {
	const char *name; /* sysctl, without "nf_conntrack_" */
	int slot;	  /* timeout index, or -1.. for the flags below */
	unsigned int def;
} ct_params[] = {
	{"tcp_timeout_syn_sent", TCP_CONNTRACK_SYN_SENT, 120},
	{"tcp_timeout_syn_recv", TCP_CONNTRACK_SYN_RECV, 60},
	{"tcp_timeout_established", TCP_CONNTRACK_ESTABLISHED, 432000},
	{"tcp_timeout_fin_wait", TCP_CONNTRACK_FIN_WAIT, 120},
	{"tcp_timeout_close_wait", TCP_CONNTRACK_CLOSE_WAIT, 60},
	{"tcp_timeout_last_ack", TCP_CONNTRACK_LAST_ACK, 30},
	{"tcp_timeout_time_wait", TCP_CONNTRACK_TIME_WAIT, 120},
	{"tcp_timeout_close", TCP_CONNTRACK_CLOSE, 10},
	{"tcp_timeout_max_retrans", TCP_CONNTRACK_RETRANS, 300},
	{"tcp_timeout_unacknowledged", TCP_CONNTRACK_UNACK, 300},
	{"udp_timeout", GEN_CT_T_UDP, 30},
	{"udp_timeout_stream", GEN_CT_T_UDP_STREAM, 120},
	{"icmp_timeout", GEN_CT_T_ICMP, 30},
	{"generic_timeout", GEN_CT_T_GENERIC, 600},
	{"gre_timeout", GEN_CT_T_GRE, 30},
	{"gre_timeout_stream", GEN_CT_T_GRE_STREAM, 180},
	{"tcp_loose", -1, 1},
	{"tcp_be_liberal", -2, 0},
	{"tcp_max_retrans", -3, 3},
	{"tcp_ignore_invalid_rst", -4, 0},
};

void gen_ct_cfg_defaults(struct gen_ct_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->magic = GEN_CT_CFG_MAGIC;
	for (size_t i = 0; i < sizeof(ct_params) / sizeof(ct_params[0]); i++)
		gen_ct_cfg_set(cfg, ct_params[i].name, ct_params[i].def);
	/* Not a sysctl: SYN_SENT2 and NONE keep the kernel's fixed values. */
	cfg->timeout[TCP_CONNTRACK_SYN_SENT2] = 120;
	cfg->timeout[TCP_CONNTRACK_NONE] = 0;
}

int gen_ct_cfg_set(struct gen_ct_cfg *cfg, const char *name, unsigned long value)
{
	if (!strncmp(name, "nf_conntrack_", 13))
		name += 13;
	if (value > UINT32_MAX)
		return -ERANGE;
	for (size_t i = 0; i < sizeof(ct_params) / sizeof(ct_params[0]); i++) {
		if (strcmp(name, ct_params[i].name))
			continue;
		switch (ct_params[i].slot) {
		case -1:
			cfg->tcp_loose = (uint32_t)value;
			break;
		case -2:
			cfg->tcp_be_liberal = (uint32_t)value;
			break;
		case -3:
			cfg->tcp_max_retrans = (uint32_t)value;
			break;
		case -4:
			cfg->tcp_ignore_invalid_rst = (uint32_t)value;
			break;
		default:
			cfg->timeout[ct_params[i].slot] = (uint32_t)value;
			break;
		}
		return 0;
	}
	return -ENOENT;
}
