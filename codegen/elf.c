// SPDX-License-Identifier: GPL-2.0
/*
 * BPF ELF object writer.  The layout follows what clang -target bpf -O2 -g
 * produces for the equivalent C file, because that is what libbpf 1.1 (and
 * through it bpftool, ip and tc on Debian 12) knows how to read:
 *
 *   .text            subprograms (libbpf only appends callees from .text):
 *                    LOCAL FUNC symbols, BTF linkage static, so the verifier
 *                    checks them in the caller's context like C statics;
 *                    those with func_global set GLOBAL FUNC symbols (default
 *                    visibility, else libbpf 1.1 marks them static again),
 *                    BTF linkage global, int f(struct ipt2bpf_pkt *p), so
 *                    the verifier checks them once, on their own
 *   <section>        one per distinct prog->section, each program's entry
 *                    function under a GLOBAL FUNC symbol named prog->name
 *   .rel<section>    R_BPF_64_32 for bpf-to-bpf calls (imm -1, against the
 *                    callee's symbol), R_BPF_64_64 for map loads (against
 *                    the map's symbol) and for subprogram addresses (against
 *                    the .text section symbol, imm = byte offset)
 *   .maps            BTF-defined maps: one zeroed struct per map, each a
 *                    GLOBAL OBJECT symbol; the BTF says what the struct means
 *   license          "GPL"
 *   .BTF, .BTF.ext   types built with libbpf's BTF API; func_info and one
 *                    line_info record per function, so bpftool and the
 *                    verifier log name functions (and libbpf does not warn)
 *   .symtab, .strtab (the latter also holds section names, as with clang)
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/btf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "elf.h"
#include "../translator/util.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ELF writer copies instructions and BTF verbatim: little-endian hosts only"
#endif

#define INSN_SZ		 sizeof(struct bpf_insn)
#define TEXT_SEC	 ".text"
#define MAPS_SEC	 ".maps"
#define LICENSE_SEC	 "license"
#define LICENSE_SYM	 "_license"
#define LICENSE		 "GPL"
#define MAX_SECS	 8 /* distinct program sections; 3 are known */
#define CAPTURE_MAX	 (256 * 1024)
#define VERIFY_LOG_LINES 30
#define SHNDX_STRTAB	 1
#define STRTAB_NAME_OFF	 1 /* ".strtab" is the first name in it */

/* .BTF.ext layout (tools/lib/bpf/libbpf_internal.h; not exported by libbpf). */
struct btf_ext_hdr {
	uint16_t magic;
	uint8_t version;
	uint8_t flags;
	uint32_t hdr_len;
	uint32_t func_info_off;
	uint32_t func_info_len;
	uint32_t line_info_off;
	uint32_t line_info_len;
	uint32_t core_relo_off;
	uint32_t core_relo_len;
};

struct btf_ext_func_rec {
	uint32_t insn_off; /* bytes from the start of the section */
	uint32_t type_id;  /* BTF_KIND_FUNC */
};

struct btf_ext_line_rec {
	uint32_t insn_off;	/* bytes from the start of the section */
	uint32_t file_name_off; /* BTF string */
	uint32_t line_off;	/* BTF string: the "source line" */
	uint32_t line_col;	/* line << 10 | column */
};

#define LINE_FILE "ipt2bpf"

/* ------------------------------------------------------------ byte buffers */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t more)
{
	size_t cap;
	void *p;

	if (more > SIZE_MAX - b->len)
		return -ENOMEM;
	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_add(struct buf *b, const void *data, size_t len)
{
	int err = buf_reserve(b, len);

	if (err)
		return err;
	if (data)
		memcpy(b->p + b->len, data, len);
	else
		memset(b->p + b->len, 0, len);
	b->len += len;
	return 0;
}

/* ELF string table: returns the offset of s, or a negative errno. */
static long strtab_add(struct buf *b, const char *s)
{
	size_t off;
	int err = 0;

	if (!b->len)
		err = buf_add(b, "", 1); /* offset 0 is the empty name */
	off = b->len;
	if (!err)
		err = buf_add(b, s, strlen(s) + 1);
	return err ? err : (long)off;
}

/*
 * Set of symbol names (open addressing, FNV-1a): a rule set can have
 * thousands of chains, so uniqueness checks must not be quadratic.
 */
struct nameset {
	const char **slot;
	size_t cap, n;
};

static size_t name_hash(const char *s)
{
	size_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static bool nameset_has(const struct nameset *ns, const char *name)
{
	size_t i;

	if (!ns->cap)
		return false;
	for (i = name_hash(name) & (ns->cap - 1); ns->slot[i]; i = (i + 1) & (ns->cap - 1))
		if (!strcmp(ns->slot[i], name))
			return true;
	return false;
}

/* name must outlive the set; adding a name twice is the caller's bug. */
static int nameset_add(struct nameset *ns, const char *name)
{
	size_t i;

	if (2 * (ns->n + 1) > ns->cap) {
		struct nameset bigger = {.cap = ns->cap ? 2 * ns->cap : 64};

		bigger.slot = calloc(bigger.cap, sizeof(*bigger.slot));
		if (!bigger.slot)
			return -ENOMEM;
		for (i = 0; i < ns->cap; i++)
			if (ns->slot[i])
				nameset_add(&bigger, ns->slot[i]);
		free(ns->slot);
		*ns = bigger;
	}
	for (i = name_hash(name) & (ns->cap - 1); ns->slot[i]; i = (i + 1) & (ns->cap - 1))
		;
	ns->slot[i] = name;
	ns->n++;
	return 0;
}

/* -------------------------------------------------------------- the model */

struct osec {
	const char *name;
	struct buf code;
	struct buf rel;	  /* Elf64_Rel */
	struct buf finfo; /* btf_ext_func_rec, in offset order */
	struct buf linfo; /* btf_ext_line_rec, likewise */
	size_t shndx, rel_shndx, sym;
};

struct ofunc {
	/* "<prog>__" + '_' + the function's name + "_<n>": never truncated */
	char name[BPF_OBJ_NAME_LEN + 2 + 1 + sizeof(((struct ipt2bpf_func *)0)->name) + 16];
	struct osec *sec;
	size_t off; /* bytes into sec */
	size_t sym;
	int btf_id;
};

struct writer {
	const struct ipt2bpf_progset *ps;
	struct ipt2bpf_diag *diag;
	struct osec secs[MAX_SECS + 1]; /* [0] is .text */
	unsigned int n_secs;
	struct ofunc **funcs;	       /* per program, n_funcs (at least 1) entries */
	unsigned int **by_start;       /* per program, function indices by start */
	struct ipt2bpf_reloc **relocs; /* per program, sorted by insn */
	struct nameset names;	       /* every symbol name handed out */
	size_t map_off[IPT2BPF_MAX_MAPS], map_sz[IPT2BPF_MAX_MAPS];
	size_t map_sym[IPT2BPF_MAX_MAPS];
	size_t maps_len;
	size_t maps_shndx, license_shndx, btf_shndx, btf_ext_shndx, symtab_shndx;
	struct buf syms;   /* Elf64_Sym */
	struct buf strtab; /* symbol and section names */
	size_t n_locals;
	struct btf *btf;
	struct buf btf_ext;
};

static void writer_free(struct writer *w)
{
	unsigned int i;

	for (i = 0; i < w->n_secs; i++) {
		free(w->secs[i].code.p);
		free(w->secs[i].rel.p);
		free(w->secs[i].finfo.p);
		free(w->secs[i].linfo.p);
	}
	for (i = 0; i < w->ps->n_progs; i++) {
		if (w->funcs)
			free(w->funcs[i]);
		if (w->by_start)
			free(w->by_start[i]);
		if (w->relocs)
			free(w->relocs[i]);
	}
	free(w->funcs);
	free(w->by_start);
	free(w->relocs);
	free(w->names.slot);
	free(w->syms.p);
	free(w->strtab.p);
	free(w->btf_ext.p);
	btf__free(w->btf);
}

static unsigned int prog_n_funcs(const struct ipt2bpf_prog *p)
{
	return p->n_funcs ? p->n_funcs : 1;
}

/* A program without a func table is one function. */
static uint32_t func_start(const struct ipt2bpf_prog *p, unsigned int k)
{
	return p->n_funcs ? p->funcs[k].start : 0;
}

static uint32_t func_len(const struct ipt2bpf_prog *p, unsigned int k)
{
	return p->n_funcs ? p->funcs[k].len : p->n_insns;
}

/* funcs[k] of p, by value (a copy is made for programs without a table). */
static struct ipt2bpf_func prog_func(const struct ipt2bpf_prog *p, unsigned int k)
{
	struct ipt2bpf_func f = {.start = 0, .len = p->n_insns};

	if (p->n_funcs)
		return p->funcs[k];
	snprintf(f.name, sizeof(f.name), "%s", p->name);
	return f;
}

/*
 * Program, map and BTF function names: C identifiers.  The kernel also takes
 * '.' in object names, but newer kernels refuse it in BTF FUNC/VAR names.
 */
static bool name_char_ok(char c, bool first)
{
	if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return !first && c >= '0' && c <= '9';
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (const char *c = s; *c; c++)
		if (!name_char_ok(*c, c == s))
			return false;
	return true;
}

/* Verified on its own (BTF global); the entry function never is a chunk. */
static bool func_global(const struct ipt2bpf_prog *p, unsigned int k)
{
	return k && p->n_funcs && p->func_global && p->func_global[k];
}

static const char *default_section(enum bpf_prog_type type)
{
	switch (type) {
	case BPF_PROG_TYPE_SCHED_CLS:
		return "classifier";
	case BPF_PROG_TYPE_XDP:
		return "xdp";
	default:
		return NULL;
	}
}

/* libbpf derives the program type from the section name alone. */
static bool section_fits(const char *sec, enum bpf_prog_type type)
{
	if (!strcmp(sec, "classifier") || !strcmp(sec, "tc"))
		return type == BPF_PROG_TYPE_SCHED_CLS;
	if (!strcmp(sec, "xdp"))
		return type == BPF_PROG_TYPE_XDP;
	return false;
}

static const char *prog_section(const struct ipt2bpf_prog *p)
{
	return p->section ? p->section : default_section(p->type);
}

/* ------------------------------------------------------------- validation */

static int check_progset(struct writer *w)
{
	const struct ipt2bpf_progset *ps = w->ps;
	unsigned int i, j, k;

	if (!ps->n_progs)
		return ipt2bpf_diag_set(w->diag, -EINVAL, "elf: program set has no programs");
	if (ps->n_maps > IPT2BPF_MAX_MAPS)
		return ipt2bpf_diag_set(w->diag, -EINVAL, "elf: %u maps (at most %d)", ps->n_maps,
					IPT2BPF_MAX_MAPS);
	for (i = 0; i < ps->n_maps; i++) {
		const struct ipt2bpf_map_spec *m = &ps->maps[i];

		if (!memchr(m->name, 0, sizeof(m->name)) || !name_ok(m->name))
			return ipt2bpf_diag_set(w->diag, -EINVAL,
						"elf: map #%u: invalid name '%.*s'", i,
						(int)sizeof(m->name), m->name);
		for (j = 0; j < i; j++)
			if (!strcmp(ps->maps[j].name, m->name))
				return ipt2bpf_diag_set(w->diag, -EINVAL,
							"elf: map name '%s' used twice", m->name);
		/*
		 * The optimiser's lookup maps (codegen/opt.h) need their contents
		 * before a packet arrives, which loaders of an object (libbpf, tc,
		 * ip) cannot write: objects are compiled without them.
		 */
		if (m->n_init)
			return ipt2bpf_diag_set(w->diag, -EOPNOTSUPP,
						"elf: map '%s' needs initial contents an object "
						"cannot carry (compile with no_optimise)",
						m->name);
	}
	for (i = 0; i < ps->n_progs; i++) {
		const struct ipt2bpf_prog *p = &ps->progs[i];
		const char *sec = prog_section(p);

		if (!memchr(p->name, 0, sizeof(p->name)) || !name_ok(p->name))
			return ipt2bpf_diag_set(w->diag, -EINVAL,
						"elf: program #%u: invalid name '%.*s'", i,
						(int)sizeof(p->name), p->name);
		for (j = 0; j < i; j++)
			if (!strcmp(ps->progs[j].name, p->name))
				return ipt2bpf_diag_set(w->diag, -EINVAL,
							"elf: program name '%s' used twice",
							p->name);
		for (j = 0; j < ps->n_maps; j++)
			if (!strcmp(ps->maps[j].name, p->name) || !strcmp(p->name, LICENSE_SYM))
				return ipt2bpf_diag_set(
					w->diag, -EINVAL,
					"elf: program '%s': name clashes with a map", p->name);
		if (!sec || !section_fits(sec, p->type))
			return ipt2bpf_diag_set(
				w->diag, -EINVAL,
				"elf: program '%s': section '%s' does not fit program type %d "
				"(libbpf 1.1 knows classifier, tc, xdp)",
				p->name, sec ? sec : "(none)", p->type);
		if (!p->n_insns || !p->insns)
			return ipt2bpf_diag_set(w->diag, -EINVAL,
						"elf: program '%s': no instructions", p->name);
		for (k = 0; k < p->n_funcs; k++)
			if (!memchr(p->funcs[k].name, 0, sizeof(p->funcs[k].name)))
				return ipt2bpf_diag_set(
					w->diag, -EINVAL,
					"elf: program '%s': function #%u name not terminated",
					p->name, k);
		/* the entry point's one argument is the context, not the packet */
		if (p->n_funcs && p->func_global && p->func_global[0])
			return ipt2bpf_diag_set(w->diag, -EINVAL,
						"elf: program '%s': entry function '%s' marked "
						"global (only subprograms can be)",
						p->name, p->funcs[0].name);
		for (k = 1; k < p->n_funcs; k++)
			if (func_global(p, k) && !ps->arg_size)
				return ipt2bpf_diag_set(w->diag, -EINVAL,
							"elf: program '%s': function '%s' is "
							"global but the argument size is 0",
							p->name, p->funcs[k].name);
		for (k = 0; k < p->n_relocs; k++)
			if (p->relocs[k].insn >= p->n_insns - 1 ||
			    p->insns[p->relocs[k].insn].code != (BPF_LD | BPF_IMM | BPF_DW) ||
			    p->relocs[k].map >= ps->n_maps)
				return ipt2bpf_diag_set(w->diag, -EINVAL,
							"elf: program '%s': map reloc #%u (insn "
							"%u, map %u) is not a map load",
							p->name, k, p->relocs[k].insn,
							p->relocs[k].map);
	}
	return 0;
}

/* ---------------------------------------------------------------- layout */

static struct osec *sec_get(struct writer *w, const char *name)
{
	unsigned int i;

	for (i = 0; i < w->n_secs; i++)
		if (!strcmp(w->secs[i].name, name))
			return &w->secs[i];
	if (w->n_secs == ARRAY_SIZE(w->secs))
		return NULL;
	w->secs[w->n_secs].name = name;
	return &w->secs[w->n_secs++];
}

static int cmp_func_start(const void *a, const void *b, void *prog)
{
	uint32_t x = func_start(prog, *(const unsigned int *)a);
	uint32_t y = func_start(prog, *(const unsigned int *)b);

	return x < y ? -1 : x > y;
}

/*
 * Functions must tile the instructions exactly: they are cut apart into
 * different sections, so anything outside a function would silently vanish
 * and a jump across a boundary would land somewhere else.
 */
static int index_funcs(struct writer *w, unsigned int i)
{
	const struct ipt2bpf_prog *p = &w->ps->progs[i];
	unsigned int k, n = prog_n_funcs(p), *order;
	uint32_t next = 0;

	order = w->by_start[i] = calloc(n, sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (k = 0; k < n; k++)
		order[k] = k;
	qsort_r(order, n, sizeof(*order), cmp_func_start, (void *)p);
	for (k = 0; k < n; k++) {
		uint32_t start = func_start(p, order[k]), len = func_len(p, order[k]);

		if (start != next || !len || len > p->n_insns - next)
			return ipt2bpf_diag_set(w->diag, -EINVAL,
						"elf: program '%s': functions do not tile its %u "
						"instructions (function #%u at %u+%u, expected "
						"one at %u)",
						p->name, p->n_insns, order[k], start, len, next);
		next += len;
	}
	if (next != p->n_insns)
		return ipt2bpf_diag_set(w->diag, -EINVAL,
					"elf: program '%s': functions cover %u of %u instructions",
					p->name, next, p->n_insns);
	return 0;
}

/* Index of the function of program i starting at insn, or -1. */
static int func_at(const struct writer *w, unsigned int i, int64_t insn)
{
	const struct ipt2bpf_prog *p = &w->ps->progs[i];
	const unsigned int *order = w->by_start[i];
	size_t lo = 0, hi = prog_n_funcs(p);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t start = func_start(p, order[mid]);

		if (start == insn)
			return order[mid];
		if (start < insn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int cmp_reloc(const void *a, const void *b)
{
	const struct ipt2bpf_reloc *x = a, *y = b;

	if (x->insn != y->insn)
		return x->insn < y->insn ? -1 : 1;
	return x->map < y->map ? -1 : x->map > y->map;
}

/* Sorted copy of the map relocations, for lookup by instruction. */
static int index_relocs(struct writer *w, unsigned int i)
{
	const struct ipt2bpf_prog *p = &w->ps->progs[i];
	struct ipt2bpf_reloc *r;
	unsigned int k;

	if (!p->n_relocs)
		return 0;
	r = w->relocs[i] = malloc(p->n_relocs * sizeof(*r));
	if (!r)
		return -ENOMEM;
	memcpy(r, p->relocs, p->n_relocs * sizeof(*r));
	qsort(r, p->n_relocs, sizeof(*r), cmp_reloc);
	for (k = 1; k < p->n_relocs; k++)
		if (r[k].insn == r[k - 1].insn && r[k].map != r[k - 1].map)
			return ipt2bpf_diag_set(w->diag, -EINVAL,
						"elf: program '%s': insn %u has relocs to maps %u "
						"and %u",
						p->name, r[k].insn, r[k - 1].map, r[k].map);
	return 0;
}

/* A valid, unique symbol (and BTF FUNC) name for subprogram k of program i. */
static int name_subprog(struct writer *w, unsigned int i, unsigned int k)
{
	const struct ipt2bpf_prog *p = &w->ps->progs[i];
	const struct ipt2bpf_func f = prog_func(p, k);
	struct ofunc *of = &w->funcs[i][k];
	char base[1 + sizeof(f.name)];
	unsigned int tries;

	/* chain names may hold any character iptables allows: map them to '_' */
	if (!f.name[0])
		snprintf(base, sizeof(base), "%s_f%u", p->name, k);
	else
		snprintf(base, sizeof(base), "%s%s", name_char_ok(f.name[0], true) ? "" : "_",
			 f.name);
	for (char *c = base; *c; c++)
		if (!name_char_ok(*c, false))
			*c = '_';
	snprintf(of->name, sizeof(of->name), "%s", base);
	/* The same chain name in two programs: qualify with the program. */
	if (nameset_has(&w->names, of->name))
		snprintf(of->name, sizeof(of->name), "%s__%s", p->name, base);
	for (tries = 2; nameset_has(&w->names, of->name); tries++)
		snprintf(of->name, sizeof(of->name), "%s__%s_%u", p->name, base, tries);
	return nameset_add(&w->names, of->name);
}

static int layout(struct writer *w)
{
	const struct ipt2bpf_progset *ps = w->ps;
	unsigned int i, k;
	int err;

	w->secs[0].name = TEXT_SEC;
	w->n_secs = 1;
	w->funcs = calloc(ps->n_progs, sizeof(*w->funcs));
	w->by_start = calloc(ps->n_progs, sizeof(*w->by_start));
	w->relocs = calloc(ps->n_progs, sizeof(*w->relocs));
	if (!w->funcs || !w->by_start || !w->relocs)
		return -ENOMEM;
	/* taken before any subprogram is named */
	err = nameset_add(&w->names, LICENSE_SYM);
	for (i = 0; i < ps->n_maps && !err; i++)
		err = nameset_add(&w->names, ps->maps[i].name);
	for (i = 0; i < ps->n_progs && !err; i++)
		err = nameset_add(&w->names, ps->progs[i].name);
	for (i = 0; i < ps->n_progs && !err; i++)
		err = index_funcs(w, i);
	for (i = 0; i < ps->n_progs && !err; i++)
		err = index_relocs(w, i);
	if (err)
		return err;
	/* Program sections in order of first use, so tc/ip pick progs[first]. */
	for (i = 0; i < ps->n_progs; i++) {
		const struct ipt2bpf_prog *p = &ps->progs[i];
		struct osec *sec = sec_get(w, prog_section(p));

		if (!sec)
			return ipt2bpf_diag_set(w->diag, -E2BIG, "elf: too many program sections");
		w->funcs[i] = calloc(prog_n_funcs(p), sizeof(**w->funcs));
		if (!w->funcs[i])
			return -ENOMEM;
		snprintf(w->funcs[i][0].name, sizeof(w->funcs[i][0].name), "%s", p->name);
		w->funcs[i][0].sec = sec;
		w->funcs[i][0].off = sec->code.len;
		err = buf_add(&sec->code, NULL, (size_t)func_len(p, 0) * INSN_SZ);
		if (err)
			return err;
	}
	for (i = 0; i < ps->n_progs; i++) {
		const struct ipt2bpf_prog *p = &ps->progs[i];

		for (k = 1; k < prog_n_funcs(p); k++) {
			err = name_subprog(w, i, k);
			if (err)
				return err;
			w->funcs[i][k].sec = &w->secs[0];
			w->funcs[i][k].off = w->secs[0].code.len;
			err = buf_add(&w->secs[0].code, NULL, (size_t)func_len(p, k) * INSN_SZ);
			if (err)
				return err;
		}
	}
	/* A map definition is a struct of pointer-sized fields, see add_map_btf(). */
	for (i = 0; i < ps->n_maps; i++) {
		const struct ipt2bpf_map_spec *m = &ps->maps[i];
		size_t fields = 2 + !!m->key_size + !!m->value_size + !!m->flags;

		w->map_off[i] = w->maps_len;
		w->map_sz[i] = fields * sizeof(uint64_t);
		w->maps_len += w->map_sz[i];
	}
	return 0;
}

/* ---------------------------------------------------------------- symbols */

static int add_sym(struct writer *w, const char *name, unsigned char bind, unsigned char type,
		   size_t shndx, size_t value, size_t size, size_t *idx)
{
	Elf64_Sym s = {
		.st_info = ELF64_ST_INFO(bind, type),
		.st_other = STV_DEFAULT,
		.st_shndx = shndx,
		.st_value = value,
		.st_size = size,
	};
	long off = name ? strtab_add(&w->strtab, name) : 0;

	if (off < 0)
		return off;
	s.st_name = off;
	if (idx)
		*idx = w->syms.len / sizeof(s);
	return buf_add(&w->syms, &s, sizeof(s));
}

/*
 * Symbols are built before the code (relocations need their indices), but
 * section indices are only known afterwards (empty sections are left out):
 * st_shndx holds a slot until number_sections() patches it.
 */
enum {
	SLOT_CODE = 0x100, /* + index into w->secs */
	SLOT_MAPS = 0x200,
	SLOT_LICENSE,
};

static int build_symbols(struct writer *w)
{
	const struct ipt2bpf_progset *ps = w->ps;
	unsigned int i, k;
	int err;

	err = add_sym(w, NULL, STB_LOCAL, STT_NOTYPE, SHN_UNDEF, 0, 0, NULL);
	/* Section symbols: relocation targets for subprogram addresses. */
	for (i = 0; i < w->n_secs && !err; i++)
		if (w->secs[i].code.len)
			err = add_sym(w, NULL, STB_LOCAL, STT_SECTION, SLOT_CODE + i, 0, 0,
				      &w->secs[i].sym);
	for (i = 0; i < ps->n_progs && !err; i++)
		for (k = 1; k < prog_n_funcs(&ps->progs[i]) && !err; k++) {
			struct ofunc *f = &w->funcs[i][k];

			if (func_global(&ps->progs[i], k))
				continue;
			err = add_sym(w, f->name, STB_LOCAL, STT_FUNC,
				      SLOT_CODE + (f->sec - w->secs), f->off,
				      (size_t)func_len(&ps->progs[i], k) * INSN_SZ, &f->sym);
		}
	if (err)
		return err;
	/* ELF wants every local symbol before the first global one */
	w->n_locals = w->syms.len / sizeof(Elf64_Sym);
	for (i = 0; i < ps->n_progs && !err; i++) {
		struct ofunc *f = &w->funcs[i][0];

		err = add_sym(w, f->name, STB_GLOBAL, STT_FUNC, SLOT_CODE + (f->sec - w->secs),
			      f->off, (size_t)func_len(&ps->progs[i], 0) * INSN_SZ, &f->sym);
	}
	for (i = 0; i < ps->n_progs && !err; i++)
		for (k = 1; k < prog_n_funcs(&ps->progs[i]) && !err; k++) {
			struct ofunc *f = &w->funcs[i][k];

			if (!func_global(&ps->progs[i], k))
				continue;
			err = add_sym(w, f->name, STB_GLOBAL, STT_FUNC,
				      SLOT_CODE + (f->sec - w->secs), f->off,
				      (size_t)func_len(&ps->progs[i], k) * INSN_SZ, &f->sym);
		}
	for (i = 0; i < ps->n_maps && !err; i++)
		err = add_sym(w, ps->maps[i].name, STB_GLOBAL, STT_OBJECT, SLOT_MAPS, w->map_off[i],
			      w->map_sz[i], &w->map_sym[i]);
	if (!err)
		err = add_sym(w, LICENSE_SYM, STB_GLOBAL, STT_OBJECT, SLOT_LICENSE, 0,
			      sizeof(LICENSE), NULL);
	return err;
}

/*
 * Layout as clang's: [1] .strtab, each non-empty code section followed by
 * its .rel (if any), .maps (if any), license, .BTF, .BTF.ext, .symtab.
 */
static void number_sections(struct writer *w)
{
	Elf64_Sym *sym = (Elf64_Sym *)w->syms.p;
	size_t idx = SHNDX_STRTAB + 1, n = w->syms.len / sizeof(*sym), i;

	for (i = 0; i < w->n_secs; i++) {
		struct osec *sec = &w->secs[i];

		sec->shndx = sec->code.len ? idx++ : 0;
		sec->rel_shndx = sec->rel.len ? idx++ : 0;
	}
	w->maps_shndx = w->ps->n_maps ? idx++ : 0;
	w->license_shndx = idx++;
	w->btf_shndx = idx++;
	w->btf_ext_shndx = idx++;
	w->symtab_shndx = idx++;
	for (i = 0; i < n; i++) {
		if (sym[i].st_shndx >= SLOT_CODE && sym[i].st_shndx < SLOT_MAPS)
			sym[i].st_shndx = w->secs[sym[i].st_shndx - SLOT_CODE].shndx;
		else if (sym[i].st_shndx == SLOT_MAPS)
			sym[i].st_shndx = w->maps_shndx;
		else if (sym[i].st_shndx == SLOT_LICENSE)
			sym[i].st_shndx = w->license_shndx;
	}
}

/* ------------------------------------------------------ code + relocations */

static int add_rel(struct osec *sec, size_t off, size_t sym, unsigned int type)
{
	Elf64_Rel r = {.r_offset = off, .r_info = ELF64_R_INFO(sym, type)};

	return buf_add(&sec->rel, &r, sizeof(r));
}

/* Map loaded by the ld_imm64 at insn (reloc or BPF_PSEUDO_MAP_FD), -1 if none. */
static int map_of(const struct writer *w, unsigned int pi, uint32_t insn, const struct bpf_insn *in)
{
	const struct ipt2bpf_prog *p = &w->ps->progs[pi];
	const struct ipt2bpf_reloc key = {.insn = insn}, *r = NULL;
	int map = -1;

	if (p->n_relocs) {
		/* the first reloc of insn, if any (key sorts before all of them) */
		size_t lo = 0, hi = p->n_relocs;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (cmp_reloc(&w->relocs[pi][mid], &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < p->n_relocs && w->relocs[pi][lo].insn == insn)
			r = &w->relocs[pi][lo];
	}
	if (r)
		map = r->map;
	if (in->src_reg == BPF_PSEUDO_MAP_FD) {
		if (map >= 0 && (uint32_t)in->imm != (uint32_t)map)
			return ipt2bpf_diag_set(
				w->diag, -EINVAL,
				"elf: program '%s': insn %u loads map %d but its reloc says map %d",
				p->name, insn, in->imm, map);
		map = in->imm;
	}
	if (map >= 0 && (unsigned int)map >= w->ps->n_maps)
		return ipt2bpf_diag_set(w->diag, -EINVAL,
					"elf: program '%s': insn %u: map index %d out of range",
					p->name, insn, map);
	return map;
}

static int emit_func(struct writer *w, unsigned int pi, unsigned int k)
{
	const struct ipt2bpf_prog *p = &w->ps->progs[pi];
	const struct ipt2bpf_func f = prog_func(p, k);
	const struct ofunc *of = &w->funcs[pi][k];
	struct bpf_insn *out = (struct bpf_insn *)(of->sec->code.p + of->off);
	uint32_t i, end = f.start + f.len;
	int err;

	memcpy(out, p->insns + f.start, (size_t)f.len * INSN_SZ);
	for (i = f.start; i < end; i++) {
		const struct bpf_insn *in = &p->insns[i];
		struct bpf_insn *o = &out[i - f.start];
		size_t off = of->off + (size_t)(i - f.start) * INSN_SZ;
		uint8_t cls = BPF_CLASS(in->code), op = BPF_OP(in->code);
		int64_t target;
		int callee, map;

		if (in->code == (BPF_JMP | BPF_CALL)) {
			if (in->src_reg == 0)
				continue; /* helper */
			if (in->src_reg != BPF_PSEUDO_CALL)
				return ipt2bpf_diag_set(
					w->diag, -EOPNOTSUPP,
					"elf: program '%s': insn %u: call kind %u not supported",
					p->name, i, in->src_reg);
			target = (int64_t)i + in->imm + 1;
			callee = func_at(w, pi, target);
			if (callee <= 0)
				return ipt2bpf_diag_set(w->diag, -EINVAL,
							"elf: program '%s': insn %u calls %lld, "
							"which is not the start of a subprogram",
							p->name, i, (long long)target);
			/* libbpf: callee = sym->st_value / 8 + imm + 1 */
			o->imm = -1;
			err = add_rel(of->sec, off, w->funcs[pi][callee].sym, R_BPF_64_32);
			if (err)
				return err;
		} else if (in->code == (BPF_LD | BPF_IMM | BPF_DW)) {
			if (i + 1 >= end)
				return ipt2bpf_diag_set(w->diag, -EINVAL,
							"elf: program '%s': insn %u: ld_imm64 cut "
							"by the end of its function",
							p->name, i);
			if (in->src_reg == BPF_PSEUDO_FUNC) {
				target = (int64_t)i + in->imm + 1;
				callee = func_at(w, pi, target);
				if (callee <= 0)
					return ipt2bpf_diag_set(
						w->diag, -EINVAL,
						"elf: program '%s': insn %u takes the address of "
						"%lld, which is not the start of a subprogram",
						p->name, i, (long long)target);
				/* As clang does for static callbacks: libbpf sets src_reg. */
				o->src_reg = 0;
				o->imm = w->funcs[pi][callee].off;
				err = add_rel(of->sec, off, w->secs[0].sym, R_BPF_64_64);
			} else {
				map = map_of(w, pi, i, in);
				if (map < -1)
					return map;
				if (map < 0 && in->src_reg)
					return ipt2bpf_diag_set(w->diag, -EOPNOTSUPP,
								"elf: program '%s': insn %u: "
								"ld_imm64 kind %u not supported",
								p->name, i, in->src_reg);
				if (map < 0) {
					i++;
					continue;
				}
				o[0].src_reg = 0;
				o[0].imm = 0;
				o[1].imm = 0;
				err = add_rel(of->sec, off, w->map_sym[map], R_BPF_64_64);
			}
			if (err)
				return err;
			i++;
		} else if ((cls == BPF_JMP || cls == BPF_JMP32) && op != BPF_CALL &&
			   op != BPF_EXIT) {
			/* gotol (JMP32|JA) keeps its offset in imm */
			int64_t d = (cls == BPF_JMP32 && op == BPF_JA) ? in->imm : in->off;

			target = (int64_t)i + d + 1;
			if (target < f.start || target >= end)
				return ipt2bpf_diag_set(w->diag, -EINVAL,
							"elf: program '%s': insn %u jumps to %lld, "
							"outside its function [%u, %u)",
							p->name, i, (long long)target, f.start,
							end);
		}
	}
	return 0;
}

static int emit_code(struct writer *w)
{
	const struct ipt2bpf_progset *ps = w->ps;
	unsigned int i, k;
	int err;

	/* Section by section so every .rel comes out sorted by offset. */
	for (i = 0; i < ps->n_progs; i++) {
		err = emit_func(w, i, 0);
		if (err)
			return err;
	}
	for (i = 0; i < ps->n_progs; i++)
		for (k = 1; k < prog_n_funcs(&ps->progs[i]); k++) {
			err = emit_func(w, i, k);
			if (err)
				return err;
		}
	return 0;
}

/* -------------------------------------------------------------------- BTF */

struct btf_ids {
	int int_id, size_id;
	/* __uint(name, val) is `int (*name)[val]`; one pointer type per value */
	uint32_t vals[5 * IPT2BPF_MAX_MAPS];
	int ptrs[5 * IPT2BPF_MAX_MAPS];
	unsigned int n;
	int proto_sub, proto_skb, proto_xdp, proto_chunk;
};

static int uint_field_type(struct btf *btf, struct btf_ids *ids, uint32_t val)
{
	unsigned int i;
	int arr;

	for (i = 0; i < ids->n; i++)
		if (ids->vals[i] == val)
			return ids->ptrs[i];
	if (ids->n == ARRAY_SIZE(ids->vals))
		return -E2BIG;
	arr = btf__add_array(btf, ids->size_id, ids->int_id, val);
	if (arr < 0)
		return arr;
	ids->ptrs[ids->n] = btf__add_ptr(btf, arr);
	if (ids->ptrs[ids->n] < 0)
		return ids->ptrs[ids->n];
	ids->vals[ids->n] = val;
	return ids->ptrs[ids->n++];
}

/* What clang emits for struct { __uint(type, T); __uint(key_size, K); ... } name SEC(".maps"). */
static int add_map_btf(struct writer *w, struct btf_ids *ids, unsigned int i)
{
	const struct ipt2bpf_map_spec *m = &w->ps->maps[i];
	struct {
		const char *name;
		uint32_t val;
		bool present;
	} fields[] = {
		{"type", m->type, true},
		{"key_size", m->key_size, m->key_size != 0},
		{"value_size", m->value_size, m->value_size != 0},
		{"max_entries", m->max_entries, true},
		{"map_flags", m->flags, m->flags != 0},
	};
	int types[ARRAY_SIZE(fields)], st, var, err;
	unsigned int f, n = 0;

	/* all field types first: a struct's members must follow it directly */
	for (f = 0; f < ARRAY_SIZE(fields); f++) {
		if (!fields[f].present)
			continue;
		types[f] = uint_field_type(w->btf, ids, fields[f].val);
		if (types[f] < 0)
			return types[f];
	}
	st = btf__add_struct(w->btf, NULL, w->map_sz[i]);
	if (st < 0)
		return st;
	for (f = 0; f < ARRAY_SIZE(fields); f++) {
		if (!fields[f].present)
			continue;
		err = btf__add_field(w->btf, fields[f].name, types[f], n++ * 64, 0);
		if (err)
			return err;
	}
	var = btf__add_var(w->btf, m->name, BTF_VAR_GLOBAL_ALLOCATED, st);
	return var;
}

/*
 * int f(struct ipt2bpf_pkt *p) for global subprograms: the verifier gives the
 * callee a pointer to the struct's size (which may be NULL) and checks every
 * caller's argument against it, so the size is what matters, not members.
 */
static int chunk_proto(struct writer *w, struct btf_ids *ids)
{
	int u8, arr, st, ptr, proto, err;

	if (ids->proto_chunk)
		return ids->proto_chunk;
	u8 = btf__add_int(w->btf, "unsigned char", 1, 0);
	if (u8 < 0)
		return u8;
	arr = btf__add_array(w->btf, ids->size_id, u8, w->ps->arg_size);
	if (arr < 0)
		return arr;
	st = btf__add_struct(w->btf, "ipt2bpf_pkt", w->ps->arg_size);
	if (st < 0)
		return st;
	err = btf__add_field(w->btf, "raw", arr, 0, 0);
	if (err)
		return err;
	ptr = btf__add_ptr(w->btf, st);
	if (ptr < 0)
		return ptr;
	proto = btf__add_func_proto(w->btf, ids->int_id);
	if (proto < 0)
		return proto;
	err = btf__add_func_param(w->btf, "p", ptr);
	return err ? err : (ids->proto_chunk = proto);
}

/* int f(struct <ctx> *ctx) for entry points, int f(void) for static subprograms. */
static int func_proto(struct writer *w, struct btf_ids *ids, enum bpf_prog_type type, bool entry)
{
	int *cached = !entry			  ? &ids->proto_sub
		      : type == BPF_PROG_TYPE_XDP ? &ids->proto_xdp
						  : &ids->proto_skb;
	const char *ctx = type == BPF_PROG_TYPE_XDP ? "xdp_md" : "__sk_buff";
	int proto, st, ptr, err;

	if (*cached)
		return *cached;
	if (!entry)
		return *cached = btf__add_func_proto(w->btf, ids->int_id);
	/*
	 * The verifier recognises the context argument by the struct's name;
	 * members do not matter (a forward declaration would make it log
	 * "size cannot be determined" for arg#0).
	 */
	st = btf__add_struct(w->btf, ctx,
			     type == BPF_PROG_TYPE_XDP ? sizeof(struct xdp_md)
						       : sizeof(struct __sk_buff));
	if (st < 0)
		return st;
	ptr = btf__add_ptr(w->btf, st);
	if (ptr < 0)
		return ptr;
	proto = btf__add_func_proto(w->btf, ids->int_id);
	if (proto < 0)
		return proto;
	err = btf__add_func_param(w->btf, "ctx", ptr);
	return err ? err : (*cached = proto);
}

/*
 * A FUNC and a func_info record per function, and one line_info record at
 * its start: libbpf warns about a .BTF.ext without line info (tc prints
 * that), and the verifier log and `bpftool prog dump xlated` then name the
 * function being looked at.
 */
static int add_funcs_btf(struct writer *w, struct btf_ids *ids)
{
	const struct ipt2bpf_progset *ps = w->ps;
	unsigned int i, k;
	int file;

	file = btf__add_str(w->btf, LINE_FILE);
	if (file < 0)
		return file;
	for (i = 0; i < ps->n_progs; i++)
		for (k = 0; k < prog_n_funcs(&ps->progs[i]); k++) {
			struct ofunc *of = &w->funcs[i][k];
			struct btf_ext_func_rec rec;
			struct btf_ext_line_rec line;
			bool global = k == 0 || func_global(&ps->progs[i], k);
			int proto, text, err;

			proto = k && global ? chunk_proto(w, ids)
					    : func_proto(w, ids, ps->progs[i].type, k == 0);
			if (proto < 0)
				return proto;
			/* static: verified in the caller's context, any argument types */
			of->btf_id =
				btf__add_func(w->btf, of->name,
					      global ? BTF_FUNC_GLOBAL : BTF_FUNC_STATIC, proto);
			if (of->btf_id < 0)
				return of->btf_id;
			rec.insn_off = of->off;
			rec.type_id = of->btf_id;
			err = buf_add(&of->sec->finfo, &rec, sizeof(rec));
			if (err)
				return err;
			text = btf__add_str(w->btf, of->name);
			if (text < 0)
				return text;
			line.insn_off = of->off;
			line.file_name_off = file;
			line.line_off = text;
			line.line_col = (k + 1) << 10;
			err = buf_add(&of->sec->linfo, &line, sizeof(line));
			if (err)
				return err;
		}
	return 0;
}

/* One .BTF.ext subsection: record size, then per ELF section a header and records. */
static int btf_ext_info(struct writer *w, bool lines)
{
	size_t rec_size = lines ? sizeof(struct btf_ext_line_rec) : sizeof(struct btf_ext_func_rec);
	uint32_t rs = rec_size;
	unsigned int i;
	int err;

	err = buf_add(&w->btf_ext, &rs, sizeof(rs));
	for (i = 0; i < w->n_secs && !err; i++) {
		struct osec *sec = &w->secs[i];
		const struct buf *recs = lines ? &sec->linfo : &sec->finfo;
		uint32_t info[2];
		int name_off;

		if (!recs->len)
			continue;
		name_off = btf__add_str(w->btf, sec->name);
		if (name_off < 0)
			return name_off;
		info[0] = name_off;
		info[1] = recs->len / rec_size;
		err = buf_add(&w->btf_ext, info, sizeof(info));
		if (!err)
			err = buf_add(&w->btf_ext, recs->p, recs->len);
	}
	return err;
}

static int build_btf_ext(struct writer *w)
{
	struct btf_ext_hdr hdr = {
		.magic = BTF_MAGIC,
		.version = BTF_VERSION,
		.hdr_len = sizeof(hdr),
	};
	int err;

	err = buf_add(&w->btf_ext, &hdr, sizeof(hdr));
	if (!err)
		err = btf_ext_info(w, false);
	hdr.func_info_len = w->btf_ext.len - sizeof(hdr);
	hdr.line_info_off = hdr.func_info_len;
	if (!err)
		err = btf_ext_info(w, true);
	if (err)
		return err;
	hdr.line_info_len = w->btf_ext.len - sizeof(hdr) - hdr.line_info_off;
	hdr.core_relo_off = hdr.line_info_off + hdr.line_info_len;
	memcpy(w->btf_ext.p, &hdr, sizeof(hdr));
	return 0;
}

static int build_btf(struct writer *w)
{
	const struct ipt2bpf_progset *ps = w->ps;
	struct btf_ids ids = {0};
	int vars[IPT2BPF_MAX_MAPS];
	unsigned int i;
	int err;

	w->btf = btf__new_empty();
	if (!w->btf)
		return -errno;
	ids.int_id = btf__add_int(w->btf, "int", sizeof(int), BTF_INT_SIGNED);
	if (ids.int_id < 0)
		return ids.int_id;
	/* clang's name for the index type of arrays */
	ids.size_id = btf__add_int(w->btf, "__ARRAY_SIZE_TYPE__", sizeof(int), 0);
	if (ids.size_id < 0)
		return ids.size_id;
	for (i = 0; i < ps->n_maps; i++) {
		vars[i] = add_map_btf(w, &ids, i);
		if (vars[i] < 0)
			return vars[i];
	}
	err = add_funcs_btf(w, &ids);
	if (err)
		return err;
	if (ps->n_maps) {
		/* sizes and offsets filled in, as the BPF static linker does */
		err = btf__add_datasec(w->btf, MAPS_SEC, w->maps_len);
		if (err < 0)
			return err;
		for (i = 0; i < ps->n_maps; i++) {
			err = btf__add_datasec_var_info(w->btf, vars[i], w->map_off[i],
							w->map_sz[i]);
			if (err)
				return err;
		}
	}
	return build_btf_ext(w);
}

/* ------------------------------------------------------------- ELF output */

struct out_sec {
	size_t idx; /* 0: left out */
	const char *name;
	Elf64_Word type;
	Elf64_Xword flags, align, entsize;
	Elf64_Word link, info;
	const void *data;
	size_t size;
};

static int elf_add_sec(Elf *e, struct buf *strtab, const struct out_sec *os,
		       struct ipt2bpf_diag *diag)
{
	Elf_Scn *scn = elf_newscn(e);
	Elf_Data *d;
	GElf_Shdr sh;
	long name;

	if (!scn || elf_ndxscn(scn) != os->idx)
		return ipt2bpf_diag_set(diag, -EIO, "elf: section '%s': %s", os->name,
					elf_errmsg(-1));
	name = strtab_add(strtab, os->name);
	if (name < 0)
		return name;
	d = elf_newdata(scn);
	if (!d)
		return ipt2bpf_diag_set(diag, -EIO, "elf: section '%s': %s", os->name,
					elf_errmsg(-1));
	d->d_buf = (void *)os->data;
	d->d_size = os->size;
	d->d_align = os->align;
	d->d_type = os->type == SHT_SYMTAB ? ELF_T_SYM
		    : os->type == SHT_REL  ? ELF_T_REL
					   : ELF_T_BYTE;
	d->d_version = EV_CURRENT;
	if (!gelf_getshdr(scn, &sh))
		return ipt2bpf_diag_set(diag, -EIO, "elf: section '%s': %s", os->name,
					elf_errmsg(-1));
	sh.sh_name = name;
	sh.sh_type = os->type;
	sh.sh_flags = os->flags;
	sh.sh_addralign = os->align;
	sh.sh_entsize = os->entsize;
	sh.sh_link = os->link;
	sh.sh_info = os->info;
	sh.sh_size = os->size;
	if (!gelf_update_shdr(scn, &sh))
		return ipt2bpf_diag_set(diag, -EIO, "elf: section '%s': %s", os->name,
					elf_errmsg(-1));
	return 0;
}

static int elf_fail(struct writer *w, const char *what)
{
	return ipt2bpf_diag_set(w->diag, -EIO, "elf: %s: %s", what, elf_errmsg(-1));
}

static int write_elf(struct writer *w, int fd)
{
	static const char license[] = LICENSE;
	_cleanup_free_ void *zeros = calloc(1, w->maps_len ? w->maps_len : 1);
	const void *btf_raw;
	uint32_t btf_size;
	Elf_Scn *strscn;
	Elf_Data *d;
	GElf_Shdr sh;
	GElf_Ehdr eh;
	Elf *e = NULL;
	unsigned int i;
	int err = 0;

	btf_raw = btf__raw_data(w->btf, &btf_size);
	if (!btf_raw || !zeros)
		return -ENOMEM;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return elf_fail(w, "libelf");
	e = elf_begin(fd, ELF_C_WRITE, NULL);
	if (!e || !gelf_newehdr(e, ELFCLASS64) || !gelf_getehdr(e, &eh)) {
		err = elf_fail(w, "header");
		goto out;
	}
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_REL;
	eh.e_machine = EM_BPF;
	eh.e_version = EV_CURRENT;
	eh.e_shstrndx = SHNDX_STRTAB;
	/* .strtab comes first; its contents are final once all sections are named */
	strscn = elf_newscn(e);
	if (!strscn || elf_ndxscn(strscn) != SHNDX_STRTAB) {
		err = elf_fail(w, ".strtab");
		goto out;
	}
	for (i = 0; i < w->n_secs && !err; i++) {
		struct osec *sec = &w->secs[i];
		char relname[64];
		struct out_sec code = {
			.idx = sec->shndx,
			.name = sec->name,
			.type = SHT_PROGBITS,
			.flags = SHF_ALLOC | SHF_EXECINSTR,
			.align = INSN_SZ,
			.data = sec->code.p,
			.size = sec->code.len,
		};
		struct out_sec rel = {
			.idx = sec->rel_shndx,
			.name = relname,
			.type = SHT_REL,
			.flags = SHF_INFO_LINK,
			.align = 8,
			.entsize = sizeof(Elf64_Rel),
			.link = w->symtab_shndx,
			.info = sec->shndx,
			.data = sec->rel.p,
			.size = sec->rel.len,
		};

		snprintf(relname, sizeof(relname), ".rel%s", sec->name);
		if (code.idx)
			err = elf_add_sec(e, &w->strtab, &code, w->diag);
		if (!err && rel.idx)
			err = elf_add_sec(e, &w->strtab, &rel, w->diag);
	}
	if (err)
		goto out;

	const struct out_sec tail[] = {
		{.idx = w->maps_shndx,
		 .name = MAPS_SEC,
		 .type = SHT_PROGBITS,
		 .flags = SHF_WRITE | SHF_ALLOC,
		 .align = 8,
		 .data = zeros,
		 .size = w->maps_len},
		{.idx = w->license_shndx,
		 .name = LICENSE_SEC,
		 .type = SHT_PROGBITS,
		 .flags = SHF_WRITE | SHF_ALLOC,
		 .align = 1,
		 .data = license,
		 .size = sizeof(license)},
		{.idx = w->btf_shndx,
		 .name = ".BTF",
		 .type = SHT_PROGBITS,
		 .align = 4,
		 .data = btf_raw,
		 .size = btf_size},
		{.idx = w->btf_ext_shndx,
		 .name = ".BTF.ext",
		 .type = SHT_PROGBITS,
		 .align = 4,
		 .data = w->btf_ext.p,
		 .size = w->btf_ext.len},
		{.idx = w->symtab_shndx,
		 .name = ".symtab",
		 .type = SHT_SYMTAB,
		 .align = 8,
		 .entsize = sizeof(Elf64_Sym),
		 .link = SHNDX_STRTAB,
		 .info = w->n_locals,
		 .data = w->syms.p,
		 .size = w->syms.len},
	};
	for (i = 0; i < ARRAY_SIZE(tail) && !err; i++)
		if (tail[i].idx)
			err = elf_add_sec(e, &w->strtab, &tail[i], w->diag);
	if (err)
		goto out;

	d = elf_newdata(strscn);
	if (!d || !gelf_getshdr(strscn, &sh)) {
		err = elf_fail(w, ".strtab");
		goto out;
	}
	d->d_buf = w->strtab.p;
	d->d_size = w->strtab.len;
	d->d_align = 1;
	d->d_type = ELF_T_BYTE;
	d->d_version = EV_CURRENT;
	sh.sh_name = STRTAB_NAME_OFF;
	sh.sh_type = SHT_STRTAB;
	sh.sh_addralign = 1;
	sh.sh_size = w->strtab.len;
	if (!gelf_update_shdr(strscn, &sh) || !gelf_update_ehdr(e, &eh)) {
		err = elf_fail(w, ".strtab");
		goto out;
	}
	if (elf_update(e, ELF_C_WRITE) < 0)
		err = elf_fail(w, "writing");
out:
	elf_end(e);
	return err;
}

/* Writes next to path and renames, so readers never see half an object. */
int ipt2bpf_elf_write(const struct ipt2bpf_progset *ps, const char *path, struct ipt2bpf_diag *diag)
{
	struct writer w = {.ps = ps, .diag = diag};
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	int err;

	err = check_progset(&w);
	if (err)
		return err;
	/* ".strtab" first, at STRTAB_NAME_OFF */
	if (strtab_add(&w.strtab, ".strtab") != STRTAB_NAME_OFF) {
		err = -ENOMEM;
		goto out;
	}
	err = layout(&w);
	if (!err)
		err = build_symbols(&w);
	if (!err)
		err = emit_code(&w);
	if (!err)
		err = build_btf(&w);
	if (!err)
		number_sections(&w);
	if (err)
		goto out;

	if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = ipt2bpf_diag_set(diag, -errno, "elf: cannot create %s: %m", tmp);
		free(TAKE_PTR(tmp));
		goto out;
	}
	err = write_elf(&w, fd);
	if (!err && fchmod(fd, 0644) < 0)
		err = ipt2bpf_diag_set(diag, -errno, "elf: chmod %s: %m", tmp);
	if (!err && fsync(fd) < 0)
		err = ipt2bpf_diag_set(diag, -errno, "elf: writing %s: %m", tmp);
	if (!err && rename(tmp, path) < 0)
		err = ipt2bpf_diag_set(diag, -errno, "elf: rename to %s: %m", path);
	if (err)
		unlink(tmp);
out:
	if (err == -ENOMEM)
		ipt2bpf_diag_set(diag, err, "elf: out of memory");
	else if (err)
		ipt2bpf_diag_set(diag, err, "elf: writing %s failed: %s", path, strerror(-err));
	writer_free(&w);
	return err;
}

/* ---------------------------------------------------------------- verify */

/*
 * libbpf reports through one process-wide print callback without a user
 * pointer, so the capture buffer is thread-local and verify restores the
 * previous callback.  Only the tail matters (the verifier's last words).
 */
static __thread struct buf capture;

static int capture_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n <= 0 || buf_reserve(&capture, (size_t)n + 1))
		return 0;
	vsnprintf((char *)capture.p + capture.len, (size_t)n + 1, fmt, ap);
	capture.len += n;
	if (capture.len > CAPTURE_MAX) {
		size_t drop = capture.len - CAPTURE_MAX / 2;

		memmove(capture.p, capture.p + drop, capture.len - drop);
		capture.len -= drop;
	}
	capture.p[capture.len] = 0;
	return 0;
}

/* Start of the last `max` lines of [s, end) that fit in `room` bytes. */
static const char *tail_lines(const char *s, const char *end, unsigned int max, size_t room)
{
	const char *t = end;
	unsigned int n = 0;

	while (t > s && (t[-1] == '\n' || t[-1] == ' '))
		t--;
	end = t;
	while (t > s && n < max) {
		const char *nl = t - 1;

		while (nl > s && nl[-1] != '\n')
			nl--;
		if ((size_t)(end - nl) >= room)
			break;
		t = nl;
		n++;
	}
	return t;
}

static int verify_fail(struct ipt2bpf_diag *diag, int err, const char *path, const char *what)
{
	const char *log = capture.p ? (const char *)capture.p : "";
	const char *end = log + capture.len, *begin, *stop, *name, *tail;
	char prog[BPF_OBJ_NAME_LEN + 1] = "";
	char head[256];

	/* libbpf: "prog 'NAME': -- BEGIN PROG LOAD LOG --\n<log>-- END PROG LOAD LOG --" */
	begin = memmem(log, capture.len, "-- BEGIN PROG LOAD LOG --", 25);
	while (begin) {
		const char *next =
			memmem(begin + 1, end - begin - 1, "-- BEGIN PROG LOAD LOG --", 25);

		if (!next)
			break;
		begin = next;
	}
	if (begin) {
		name = begin;
		while (name > log && name[-1] != '\n')
			name--;
		name = memmem(name, begin - name, "prog '", 6);
		if (name)
			sscanf(name + 6, "%16[^']", prog);
		stop = memmem(begin, end - begin, "-- END PROG LOAD LOG --", 23);
		begin += 25;
		while (begin < end && *begin == '\n')
			begin++;
		end = stop ? stop : end;
		log = begin;
	}
	if (*prog)
		snprintf(head, sizeof(head),
			 "%s: program '%s' rejected by the verifier (%s):", path, prog,
			 strerror(-err));
	else
		snprintf(head, sizeof(head), "%s: %s failed (%s):", path, what, strerror(-err));
	tail = tail_lines(log, end, VERIFY_LOG_LINES, sizeof(diag->msg) - strlen(head) - 2);
	return ipt2bpf_diag_set(diag, err, "%s\n%.*s", head, (int)(end - tail), tail);
}

int ipt2bpf_elf_verify(const char *path, struct ipt2bpf_diag *diag)
{
	libbpf_print_fn_t old = libbpf_set_print(capture_print);
	struct bpf_object *obj;
	int err = 0;

	capture.len = 0;
	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		err = -errno;
		verify_fail(diag, err, path, "opening");
		goto out;
	}
	err = bpf_object__load(obj);
	if (err)
		verify_fail(diag, err, path, "loading");
	bpf_object__close(obj);
out:
	libbpf_set_print(old);
	free(capture.p);
	capture = (struct buf){0};
	return err;
}
