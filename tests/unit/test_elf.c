// SPDX-License-Identifier: GPL-2.0
/*
 * ELF writer: structure of the object (read back with libelf), what libbpf
 * 1.1 makes of it, and, as root, that the kernel verifies and runs it with
 * the verdicts the handcrafted programs promise.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/ip.h>

#include "codegen/elf.h"
#include "translator/util.h"
#include "tests/elf/sample-progset.h"

static char tmpdir[] = "/tmp/ipt2bpf-test-elf.XXXXXX";
static char objpath[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(objpath, sizeof(objpath), "%s/prog.o", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(objpath);
	return rmdir(tmpdir);
}

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static bool can_load_bpf(void)
{
	return geteuid() == 0;
}

static void write_ok(const struct ipt2bpf_progset *ps)
{
	struct ipt2bpf_diag diag = {0};
	int err = ipt2bpf_elf_write(ps, objpath, &diag);

	if (err)
		print_error("ipt2bpf_elf_write: %s\n", diag.msg);
	assert_int_equal(err, 0);
	assert_int_equal(diag.err, 0);
}

/* Writing must fail with err and a message containing every `want`. */
static void write_fails(const struct ipt2bpf_progset *ps, int err, const char *want)
{
	struct ipt2bpf_diag diag = {0};

	unlink(objpath);
	assert_int_equal(ipt2bpf_elf_write(ps, objpath, &diag), err);
	assert_int_equal(diag.err, err);
	if (!strstr(diag.msg, want))
		print_error("diag '%s' lacks '%s'\n", diag.msg, want);
	assert_non_null(strstr(diag.msg, want));
	assert_int_equal(access(objpath, F_OK), -1); /* nothing half-written */
}

/* ------------------------------------------------------------ ELF reader */

struct elf_file {
	int fd;
	Elf *e;
	size_t shstrndx;
	Elf_Data *syms;
	size_t n_syms, strtab;
};

static void elf_open(struct elf_file *f)
{
	GElf_Shdr sh;
	Elf_Scn *scn = NULL;

	assert_int_not_equal(elf_version(EV_CURRENT), EV_NONE);
	f->fd = open(objpath, O_RDONLY);
	assert_true(f->fd >= 0);
	f->e = elf_begin(f->fd, ELF_C_READ, NULL);
	assert_non_null(f->e);
	assert_int_equal(elf_getshdrstrndx(f->e, &f->shstrndx), 0);
	f->syms = NULL;
	while ((scn = elf_nextscn(f->e, scn))) {
		gelf_getshdr(scn, &sh);
		if (sh.sh_type == SHT_SYMTAB) {
			f->syms = elf_getdata(scn, NULL);
			f->n_syms = sh.sh_size / sh.sh_entsize;
			f->strtab = sh.sh_link;
		}
	}
	assert_non_null(f->syms);
}

static void elf_close(struct elf_file *f)
{
	elf_end(f->e);
	close(f->fd);
}

static Elf_Scn *elf_sec(struct elf_file *f, const char *name, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(f->e, scn))) {
		gelf_getshdr(scn, sh);
		if (!strcmp(elf_strptr(f->e, f->shstrndx, sh->sh_name), name))
			return scn;
	}
	return NULL;
}

static const char *sym_name(struct elf_file *f, const GElf_Sym *s)
{
	return elf_strptr(f->e, f->strtab, s->st_name);
}

/* Symbol by name; its index in *idx. */
static bool elf_sym(struct elf_file *f, const char *name, GElf_Sym *s, size_t *idx)
{
	size_t i;

	for (i = 1; i < f->n_syms; i++) {
		gelf_getsym(f->syms, i, s);
		if (s->st_name && !strcmp(sym_name(f, s), name)) {
			if (idx)
				*idx = i;
			return true;
		}
	}
	return false;
}

/* The FUNC symbol of section shndx that starts at byte off. */
static const char *func_at(struct elf_file *f, size_t shndx, size_t off)
{
	GElf_Sym s;
	size_t i;

	for (i = 1; i < f->n_syms; i++) {
		gelf_getsym(f->syms, i, &s);
		if (GELF_ST_TYPE(s.st_info) == STT_FUNC && s.st_shndx == shndx && s.st_value == off)
			return sym_name(f, &s);
	}
	return NULL;
}

static void test_header_and_sections(void **state)
{
	static const char *const want[] = {".text",   ".rel.text", "classifier", ".relclassifier",
					   "tc",      ".reltc",	   "xdp",	 ".relxdp",
					   ".maps",   "license",   ".BTF",	 ".BTF.ext",
					   ".symtab", ".strtab"};
	struct elf_file f;
	struct sample s;
	GElf_Ehdr eh;
	GElf_Shdr sh;
	Elf_Scn *scn;
	Elf_Data *d;
	unsigned int i;

	(void)state;
	sample_build(&s);
	write_ok(&s.ps);
	elf_open(&f);
	assert_non_null(gelf_getehdr(f.e, &eh));
	assert_int_equal(eh.e_ident[EI_CLASS], ELFCLASS64);
	assert_int_equal(eh.e_ident[EI_DATA], ELFDATA2LSB);
	assert_int_equal(eh.e_type, ET_REL);
	assert_int_equal(eh.e_machine, EM_BPF);
	for (i = 0; i < ARRAY_SIZE(want); i++) {
		if (!elf_sec(&f, want[i], &sh))
			print_error("no section %s\n", want[i]);
		assert_non_null(elf_sec(&f, want[i], &sh));
	}
	scn = elf_sec(&f, "classifier", &sh);
	assert_int_equal(sh.sh_flags, SHF_ALLOC | SHF_EXECINSTR);
	assert_int_equal(sh.sh_size, (s.progs[0].funcs[0].len + s.progs[3].funcs[0].len) * 8);
	scn = elf_sec(&f, "license", &sh);
	d = elf_getdata(scn, NULL);
	assert_int_equal(d->d_size, 4);
	assert_string_equal(d->d_buf, "GPL");
	scn = elf_sec(&f, ".maps", &sh);
	assert_int_equal(sh.sh_flags, SHF_ALLOC | SHF_WRITE);
	/* type, key_size, value_size, max_entries (+ map_flags for ipt_ifaces) */
	assert_int_equal(sh.sh_size, 4 * 8 + 5 * 8 + 4 * 8);
	elf_close(&f);
}

static void test_symbols(void **state)
{
	struct elf_file f;
	struct sample s;
	GElf_Shdr sh;
	GElf_Sym sym;
	size_t text, cls, maps;
	unsigned int i;

	(void)state;
	sample_build(&s);
	write_ok(&s.ps);
	elf_open(&f);
	text = elf_ndxscn(elf_sec(&f, ".text", &sh));
	cls = elf_ndxscn(elf_sec(&f, "classifier", &sh));
	maps = elf_ndxscn(elf_sec(&f, ".maps", &sh));

	/* entry points: GLOBAL FUNC named like the program, sized, in order */
	assert_true(elf_sym(&f, "ing", &sym, NULL));
	assert_int_equal(GELF_ST_BIND(sym.st_info), STB_GLOBAL);
	assert_int_equal(GELF_ST_TYPE(sym.st_info), STT_FUNC);
	assert_int_equal(sym.st_shndx, cls);
	assert_int_equal(sym.st_value, 0);
	assert_int_equal(sym.st_size, s.progs[0].funcs[0].len * 8);
	assert_true(elf_sym(&f, "ing_trace", &sym, NULL));
	assert_int_equal(sym.st_shndx, cls);
	assert_int_equal(sym.st_value, s.progs[0].funcs[0].len * 8);
	assert_true(elf_sym(&f, "xdp_fw", &sym, NULL));
	assert_int_equal(GELF_ST_BIND(sym.st_info), STB_GLOBAL);

	/* subprograms: LOCAL FUNC in .text, unique names */
	assert_true(elf_sym(&f, "judge", &sym, NULL));
	assert_int_equal(GELF_ST_BIND(sym.st_info), STB_LOCAL);
	assert_int_equal(GELF_ST_TYPE(sym.st_info), STT_FUNC);
	assert_int_equal(sym.st_shndx, text);
	assert_int_equal(sym.st_size, s.progs[0].funcs[1].len * 8);
	assert_true(elf_sym(&f, "verdict", &sym, NULL));
	assert_true(elf_sym(&f, "egr__judge", &sym, NULL));
	assert_int_equal(sym.st_shndx, text);
	assert_true(elf_sym(&f, "egr__verdict", &sym, NULL));
	assert_true(elf_sym(&f, "xdp_fw__verdict", &sym, NULL));
	assert_true(elf_sym(&f, "ing_trace__judge", &sym, NULL));

	/* maps: GLOBAL OBJECT in .maps */
	for (i = 0; i < s.ps.n_maps; i++) {
		assert_true(elf_sym(&f, s.ps.maps[i].name, &sym, NULL));
		assert_int_equal(GELF_ST_BIND(sym.st_info), STB_GLOBAL);
		assert_int_equal(GELF_ST_TYPE(sym.st_info), STT_OBJECT);
		assert_int_equal(sym.st_shndx, maps);
	}
	assert_true(elf_sym(&f, "_license", &sym, NULL));

	/* ELF rule: locals first, sh_info = first global */
	elf_sec(&f, ".symtab", &sh);
	for (i = 1; i < f.n_syms; i++) {
		gelf_getsym(f.syms, i, &sym);
		assert_int_equal(GELF_ST_BIND(sym.st_info) == STB_LOCAL, i < sh.sh_info);
	}
	elf_close(&f);
}

/*
 * Every bpf-to-bpf call has an R_BPF_64_32 against the callee with imm -1,
 * every map load an R_BPF_64_64 against the map with src_reg/imm cleared,
 * and nothing else is relocated.
 */
static void check_relocs(struct elf_file *f, const char *secname, const char *const *calls,
			 const char *const *maps)
{
	char relname[64];
	GElf_Shdr sh, rsh;
	Elf_Scn *scn, *rscn;
	Elf_Data *code, *rel;
	size_t i, n_calls = 0, n_maps = 0;

	snprintf(relname, sizeof(relname), ".rel%s", secname);
	scn = elf_sec(f, secname, &sh);
	assert_non_null(scn);
	rscn = elf_sec(f, relname, &rsh);
	assert_non_null(rscn);
	assert_int_equal(rsh.sh_info, elf_ndxscn(scn));
	code = elf_getdata(scn, NULL);
	rel = elf_getdata(rscn, NULL);
	for (i = 0; i < rsh.sh_size / rsh.sh_entsize; i++) {
		const struct bpf_insn *in;
		GElf_Rel r;
		GElf_Sym s;

		gelf_getrel(rel, i, &r);
		gelf_getsym(f->syms, GELF_R_SYM(r.r_info), &s);
		in = (const struct bpf_insn *)((char *)code->d_buf + r.r_offset);
		if (GELF_R_TYPE(r.r_info) == R_BPF_64_32) {
			assert_int_equal(in->code, BPF_JMP | BPF_CALL);
			assert_int_equal(in->src_reg, BPF_PSEUDO_CALL);
			assert_int_equal(in->imm, -1);
			assert_non_null(calls[n_calls]);
			assert_string_equal(sym_name(f, &s), calls[n_calls++]);
		} else {
			assert_int_equal(GELF_R_TYPE(r.r_info), R_BPF_64_64);
			assert_int_equal(in->code, BPF_LD | BPF_IMM | BPF_DW);
			assert_int_equal(in[0].src_reg, 0);
			assert_int_equal(in[0].imm, 0);
			assert_int_equal(in[1].imm, 0);
			assert_non_null(maps[n_maps]);
			assert_string_equal(sym_name(f, &s), maps[n_maps++]);
		}
	}
	assert_null(calls[n_calls]);
	assert_null(maps[n_maps]);
	/* and no call or map load without one */
	for (i = 0; i < code->d_size / 8; i++) {
		const struct bpf_insn *in = (const struct bpf_insn *)code->d_buf + i;

		if (in->code == (BPF_JMP | BPF_CALL) && in->src_reg)
			n_calls--;
		if (in->code == (BPF_LD | BPF_IMM | BPF_DW))
			n_maps--, i++;
	}
	assert_int_equal(n_calls, 0);
	assert_int_equal(n_maps, 0);
}

static void test_relocations(void **state)
{
	static const char *const cls_calls[] = {"judge", "ing_trace__judge", NULL};
	static const char *const cls_maps[] = {"ipt_cfg", "ipt_cfg", NULL};
	static const char *const tc_calls[] = {"egr__judge", NULL};
	static const char *const tc_maps[] = {"ipt_cfg", NULL};
	static const char *const text_calls[] = {"verdict", "egr__verdict", "xdp_fw__verdict",
						 "ing_trace__verdict", NULL};
	static const char *const text_maps[] = {"ipt_cnt", "ipt_cnt", "ipt_cnt", "ipt_cnt", NULL};
	struct elf_file f;
	struct sample s;
	GElf_Shdr sh;
	GElf_Sym sym;

	(void)state;
	sample_build(&s);
	write_ok(&s.ps);
	elf_open(&f);
	check_relocs(&f, "classifier", cls_calls, cls_maps);
	check_relocs(&f, "tc", tc_calls, tc_maps);
	check_relocs(&f, ".text", text_calls, text_maps);
	/* the callee symbol really is where the code went */
	assert_true(elf_sym(&f, "egr__verdict", &sym, NULL));
	assert_string_equal(func_at(&f, elf_ndxscn(elf_sec(&f, ".text", &sh)), sym.st_value),
			    "egr__verdict");
	elf_close(&f);
}

/* What libbpf 1.1 (so bpftool, ip, tc) sees. */
static void test_libbpf_view(void **state)
{
	static const struct {
		const char *name, *sec;
		enum bpf_prog_type type;
	} progs[] = {
		{"ing", "classifier", BPF_PROG_TYPE_SCHED_CLS},
		{"ing_trace", "classifier", BPF_PROG_TYPE_SCHED_CLS},
		{"egr", "tc", BPF_PROG_TYPE_SCHED_CLS},
		{"xdp_fw", "xdp", BPF_PROG_TYPE_XDP},
	};
	libbpf_print_fn_t old = libbpf_set_print(silent);
	struct bpf_object *obj;
	struct bpf_program *p;
	struct sample s;
	unsigned int i = 0;

	(void)state;
	sample_build(&s);
	write_ok(&s.ps);
	obj = bpf_object__open_file(objpath, NULL);
	assert_non_null(obj);
	/* libbpf orders by section index then offset; subprograms are hidden */
	bpf_object__for_each_program(p, obj)
	{
		assert_true(i < ARRAY_SIZE(progs));
		assert_string_equal(bpf_program__name(p), progs[i].name);
		assert_string_equal(bpf_program__section_name(p), progs[i].sec);
		assert_int_equal(bpf_program__type(p), progs[i].type);
		i++;
	}
	assert_int_equal(i, ARRAY_SIZE(progs));
	for (i = 0; i < s.ps.n_maps; i++) {
		const struct ipt2bpf_map_spec *m = &s.ps.maps[i];
		struct bpf_map *map = bpf_object__find_map_by_name(obj, m->name);

		assert_non_null(map);
		assert_int_equal(bpf_map__type(map), m->type);
		assert_int_equal(bpf_map__key_size(map), m->key_size);
		assert_int_equal(bpf_map__value_size(map), m->value_size);
		assert_int_equal(bpf_map__max_entries(map), m->max_entries);
		assert_int_equal(bpf_map__map_flags(map), m->flags);
	}
	bpf_object__close(obj);
	libbpf_set_print(old);
}

/* ------------------------------------------------------------ the kernel */

static void test_verify(void **state)
{
	struct ipt2bpf_diag diag = {0};
	struct sample s;

	(void)state;
	if (!can_load_bpf())
		skip();
	sample_build(&s);
	write_ok(&s.ps);
	assert_int_equal(ipt2bpf_elf_verify(objpath, &diag), 0);
	assert_int_equal(diag.err, 0);
}

static void test_verify_failure(void **state)
{
	struct ipt2bpf_diag diag = {0};
	struct sample s;
	int err;

	(void)state;
	if (!can_load_bpf())
		skip();
	sample_build(&s);
	sample_break(&s, 1);
	write_ok(&s.ps);
	err = ipt2bpf_elf_verify(objpath, &diag);
	assert_true(err < 0);
	assert_int_equal(diag.err, err);
	/* program name and the verifier's own words, last lines included */
	assert_non_null(strstr(diag.msg, "'egr'"));
	assert_non_null(strstr(diag.msg, "R7 !read_ok"));
	assert_non_null(strstr(diag.msg, "processed"));
}

static void test_verify_missing_file(void **state)
{
	struct ipt2bpf_diag diag = {0};

	(void)state;
	assert_int_equal(ipt2bpf_elf_verify("/nonexistent/x.o", &diag), -ENOENT);
	assert_non_null(strstr(diag.msg, "/nonexistent/x.o"));
}

struct pkt {
	struct ethhdr eth;
	struct iphdr ip;
	unsigned char payload[8];
} __attribute__((packed));

static int run(struct bpf_object *obj, const char *prog, uint8_t proto)
{
	struct pkt pkt = {
		.eth.h_proto = htobe16(ETH_P_IP),
		.ip = {.version = 4, .ihl = 5, .ttl = 64, .protocol = proto},
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = &pkt, .data_size_in = sizeof(pkt));
	int fd = bpf_program__fd(bpf_object__find_program_by_name(obj, prog));

	pkt.ip.tot_len = htobe16(sizeof(pkt) - sizeof(pkt.eth));
	assert_true(fd >= 0);
	assert_int_equal(bpf_prog_test_run_opts(fd, &opts), 0);
	return opts.retval;
}

static uint64_t count(struct bpf_object *obj)
{
	int fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "ipt_cnt"));
	int ncpu = libbpf_num_possible_cpus();
	struct ipt2bpf_counter c[ncpu];
	uint32_t key = 0;
	uint64_t sum = 0;
	int i;

	assert_int_equal(bpf_map_lookup_elem(fd, &key, c), 0);
	for (i = 0; i < ncpu; i++)
		sum += c[i].pcnt;
	return sum;
}

/* The relocated calls and map loads do what the instructions say. */
static void test_run_verdicts(void **state)
{
	libbpf_print_fn_t old = libbpf_set_print(silent);
	struct ipt2bpf_cfg pass_all = {.iif = 1};
	struct bpf_object *obj;
	struct sample s;
	uint32_t key = 0;

	(void)state;
	if (!can_load_bpf())
		skip();
	sample_build(&s);
	write_ok(&s.ps);
	obj = bpf_object__open_file(objpath, NULL);
	assert_non_null(obj);
	assert_int_equal(bpf_object__load(obj), 0);
	assert_int_equal(run(obj, "ing", IPPROTO_ICMP), TC_ACT_SHOT);
	assert_int_equal(run(obj, "ing", IPPROTO_TCP), TC_ACT_OK);
	assert_int_equal(run(obj, "ing_trace", IPPROTO_ICMP), TC_ACT_SHOT);
	assert_int_equal(run(obj, "egr", IPPROTO_ICMP), TC_ACT_SHOT);
	assert_int_equal(run(obj, "egr", IPPROTO_UDP), TC_ACT_OK);
	assert_int_equal(run(obj, "xdp_fw", IPPROTO_ICMP), XDP_DROP);
	assert_int_equal(run(obj, "xdp_fw", IPPROTO_UDP), XDP_PASS);
	assert_int_equal(count(obj), 7);
	/* maps are shared by all programs of the object */
	assert_int_equal(
		bpf_map_update_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, "ipt_cfg")), &key,
				    &pass_all, BPF_ANY),
		0);
	assert_int_equal(run(obj, "ing", IPPROTO_ICMP), TC_ACT_OK);
	assert_int_equal(run(obj, "xdp_fw", IPPROTO_ICMP), XDP_PASS);
	assert_int_equal(count(obj), 7);
	bpf_object__close(obj);
	libbpf_set_print(old);
}

/* --------------------------------------------------------- other shapes */

/* One function, no func table, no maps: no .text, no .maps. */
static void test_minimal(void **state)
{
	struct bpf_insn insns[] = {S_MOV_IMM(BPF_REG_0, XDP_PASS), S_EXIT()};
	struct ipt2bpf_prog prog = {
		.name = "tiny",
		.section = "xdp",
		.type = BPF_PROG_TYPE_XDP,
		.insns = insns,
		.n_insns = ARRAY_SIZE(insns),
	};
	struct ipt2bpf_progset ps = {.progs = &prog, .n_progs = 1};
	struct ipt2bpf_diag diag = {0};
	struct elf_file f;
	GElf_Shdr sh;
	GElf_Sym sym;

	(void)state;
	write_ok(&ps);
	elf_open(&f);
	assert_null(elf_sec(&f, ".text", &sh));
	assert_null(elf_sec(&f, ".maps", &sh));
	assert_null(elf_sec(&f, ".relxdp", &sh));
	assert_non_null(elf_sec(&f, ".BTF.ext", &sh));
	assert_true(elf_sym(&f, "tiny", &sym, NULL));
	assert_int_equal(sym.st_size, 16);
	elf_close(&f);
	if (can_load_bpf())
		assert_int_equal(ipt2bpf_elf_verify(objpath, &diag), 0);
}

/* A section given only by the program type; names needing care. */
static void test_names_and_default_section(void **state)
{
	struct sample s;
	struct elf_file f;
	GElf_Sym sym;
	struct ipt2bpf_diag diag = {0};

	(void)state;
	sample_build(&s);
	s.progs[0].section = NULL; /* SCHED_CLS -> "classifier" */
	snprintf(s.progs[1].funcs[1].name, sizeof(s.progs[1].funcs[1].name), "my-chain.1");
	snprintf(s.progs[1].funcs[2].name, sizeof(s.progs[1].funcs[2].name), "2nd");
	snprintf(s.progs[2].funcs[1].name, sizeof(s.progs[2].funcs[1].name), "ipt_cnt");
	s.progs[3].funcs[1].name[0] = 0;
	write_ok(&s.ps);
	elf_open(&f);
	assert_true(elf_sym(&f, "my_chain_1", &sym, NULL));
	assert_true(elf_sym(&f, "_2nd", &sym, NULL));
	assert_true(elf_sym(&f, "xdp_fw__ipt_cnt", &sym, NULL)); /* not the map's name */
	assert_int_equal(GELF_ST_TYPE(sym.st_info), STT_FUNC);
	assert_true(elf_sym(&f, "ing_trace_f1", &sym, NULL));
	elf_close(&f);
	if (can_load_bpf())
		assert_int_equal(ipt2bpf_elf_verify(objpath, &diag), 0);
}

/* bpf_loop callbacks: ld_imm64 of a subprogram's address (BPF_PSEUDO_FUNC). */
static void test_pseudo_func(void **state)
{
	struct bpf_insn code[] = {
		/* entry: bpf_loop(3, cb, NULL, 0) == 3 ? XDP_PASS : XDP_DROP */
		S_MOV_IMM(BPF_REG_1, 3),
		sample_insn(BPF_LD | BPF_IMM | BPF_DW, BPF_REG_2, BPF_PSEUDO_FUNC, 0, 11 - 1 - 1),
		sample_insn(0, 0, 0, 0, 0),
		S_MOV_IMM(BPF_REG_3, 0),
		S_MOV_IMM(BPF_REG_4, 0),
		S_CALL(BPF_FUNC_loop),
		S_MOV_IMM(BPF_REG_1, XDP_DROP),
		S_JMP_IMM(BPF_JNE, BPF_REG_0, 3, 1),
		S_MOV_IMM(BPF_REG_1, XDP_PASS),
		S_MOV_REG(BPF_REG_0, BPF_REG_1),
		S_EXIT(),
		/* 11: cb(index, ctx): continue */
		S_MOV_IMM(BPF_REG_0, 0),
		S_EXIT(),
	};
	struct ipt2bpf_func funcs[] = {{"looper", 0, 11}, {"cb", 11, 2}};
	struct ipt2bpf_prog prog = {
		.name = "looper",
		.section = "xdp",
		.type = BPF_PROG_TYPE_XDP,
		.insns = code,
		.n_insns = ARRAY_SIZE(code),
		.funcs = funcs,
		.n_funcs = ARRAY_SIZE(funcs),
	};
	struct ipt2bpf_progset ps = {.progs = &prog, .n_progs = 1};
	struct ipt2bpf_diag diag = {0};
	libbpf_print_fn_t old;
	struct bpf_object *obj;
	struct elf_file f;
	GElf_Shdr sh;
	GElf_Rel r;
	GElf_Sym sym;
	const struct bpf_insn *in;

	(void)state;
	write_ok(&ps);
	/* as clang: against the .text section symbol, imm = byte offset, src_reg 0 */
	elf_open(&f);
	gelf_getrel(elf_getdata(elf_sec(&f, ".relxdp", &sh), NULL), 0, &r);
	gelf_getsym(f.syms, GELF_R_SYM(r.r_info), &sym);
	assert_int_equal(GELF_R_TYPE(r.r_info), R_BPF_64_64);
	assert_int_equal(GELF_ST_TYPE(sym.st_info), STT_SECTION);
	assert_int_equal(sym.st_shndx, elf_ndxscn(elf_sec(&f, ".text", &sh)));
	in = (const struct bpf_insn *)elf_getdata(elf_sec(&f, "xdp", &sh), NULL)->d_buf + 1;
	assert_int_equal(in->src_reg, 0);
	assert_int_equal(in->imm, 0); /* cb is the first thing in .text */
	elf_close(&f);
	if (!can_load_bpf())
		return;
	assert_int_equal(ipt2bpf_elf_verify(objpath, &diag), 0);
	old = libbpf_set_print(silent);
	obj = bpf_object__open_file(objpath, NULL);
	assert_non_null(obj);
	assert_int_equal(bpf_object__load(obj), 0);
	assert_int_equal(run(obj, "looper", IPPROTO_TCP), XDP_PASS);
	bpf_object__close(obj);
	libbpf_set_print(old);
}

/*
 * A chunk: global linkage, so the kernel verifies it once on its own against
 * int f(struct ipt2bpf_pkt *p), next to a static subprogram.
 */
#define CHUNK_ARG_SIZE 16

static void test_global_func(void **state)
{
	struct bpf_insn code[] = {
		/* entry: struct { u8 raw[16]; } pkt = {XDP_PASS}; return chunk(&pkt) + helper() */
		S_ST(BPF_DW, BPF_REG_10, -16, 0),
		S_ST(BPF_DW, BPF_REG_10, -8, 0),
		S_ST(BPF_B, BPF_REG_10, -16, XDP_PASS),
		S_MOV_REG(BPF_REG_1, BPF_REG_10),
		S_ADD_IMM(BPF_REG_1, -16),
		sample_insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 10 - 5 - 1),
		S_MOV_REG(BPF_REG_6, BPF_REG_0),
		sample_insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 14 - 7 - 1),
		S_ADD_REG(BPF_REG_0, BPF_REG_6),
		S_EXIT(),
		/* 10: chunk(p): the argument may be NULL for a global function */
		S_MOV_IMM(BPF_REG_0, XDP_ABORTED),
		S_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 1),
		S_LDX(BPF_B, BPF_REG_0, BPF_REG_1, CHUNK_ARG_SIZE - 16),
		S_EXIT(),
		/* 14: helper(): static */
		S_MOV_IMM(BPF_REG_0, 0),
		S_EXIT(),
	};
	struct ipt2bpf_func funcs[] = {{"gl_entry", 0, 10}, {"chunk", 10, 4}, {"helper", 14, 2}};
	bool global[] = {false, true, false};
	struct ipt2bpf_prog prog = {
		.name = "gl_entry",
		.section = "xdp",
		.type = BPF_PROG_TYPE_XDP,
		.insns = code,
		.n_insns = ARRAY_SIZE(code),
		.funcs = funcs,
		.n_funcs = ARRAY_SIZE(funcs),
		.func_global = global,
	};
	struct ipt2bpf_progset ps = {.progs = &prog, .n_progs = 1, .arg_size = CHUNK_ARG_SIZE};
	struct bpf_func_info finfo[ARRAY_SIZE(funcs)];
	struct bpf_prog_info info;
	uint32_t info_len = sizeof(info);
	struct ipt2bpf_diag diag = {0};
	const struct btf_type *t;
	const struct btf_param *arg;
	libbpf_print_fn_t old;
	struct bpf_object *obj;
	struct bpf_program *bp;
	struct elf_file f;
	struct btf *btf;
	GElf_Shdr sh, symsh;
	GElf_Sym sym;
	size_t text, idx;
	unsigned int n, globals = 0;
	int id;

	(void)state;
	write_ok(&ps);
	elf_open(&f);
	text = elf_ndxscn(elf_sec(&f, ".text", &sh));
	gelf_getshdr(elf_sec(&f, ".symtab", &symsh), &symsh);
	/* GLOBAL FUNC in .text with default visibility (hidden would make libbpf 1.1 demote it) */
	assert_true(elf_sym(&f, "chunk", &sym, &idx));
	assert_int_equal(GELF_ST_BIND(sym.st_info), STB_GLOBAL);
	assert_int_equal(GELF_ST_TYPE(sym.st_info), STT_FUNC);
	assert_int_equal(GELF_ST_VISIBILITY(sym.st_other), STV_DEFAULT);
	assert_int_equal(sym.st_shndx, text);
	assert_true(idx >= symsh.sh_info);
	assert_string_equal(func_at(&f, text, sym.st_value), "chunk");
	assert_true(elf_sym(&f, "helper", &sym, &idx));
	assert_int_equal(GELF_ST_BIND(sym.st_info), STB_LOCAL);
	assert_int_equal(sym.st_shndx, text);
	assert_true(idx < symsh.sh_info);
	elf_close(&f);

	/* BTF (a FUNC keeps its linkage in vlen): FUNC chunk global, int chunk(struct ipt2bpf_pkt
	 * *p), struct of arg_size */
	btf = btf__parse(objpath, NULL);
	assert_non_null(btf);
	id = btf__find_by_name_kind(btf, "chunk", BTF_KIND_FUNC);
	assert_true(id > 0);
	t = btf__type_by_id(btf, id);
	assert_int_equal(btf_vlen(t), BTF_FUNC_GLOBAL);
	t = btf__type_by_id(btf, t->type);
	assert_true(btf_is_func_proto(t));
	assert_int_equal(btf_vlen(t), 1);
	assert_true(btf_is_int(btf__type_by_id(btf, t->type)));
	arg = btf_params(t);
	assert_string_equal(btf__name_by_offset(btf, arg->name_off), "p");
	t = btf__type_by_id(btf, arg->type);
	assert_true(btf_is_ptr(t));
	t = btf__type_by_id(btf, t->type);
	assert_true(btf_is_struct(t));
	assert_string_equal(btf__name_by_offset(btf, t->name_off), "ipt2bpf_pkt");
	assert_int_equal(t->size, CHUNK_ARG_SIZE);
	id = btf__find_by_name_kind(btf, "helper", BTF_KIND_FUNC);
	assert_true(id > 0);
	assert_int_equal(btf_vlen(btf__type_by_id(btf, id)), BTF_FUNC_STATIC);
	btf__free(btf);

	/* libbpf: subprograms in .text are not programs of their own */
	old = libbpf_set_print(silent);
	obj = bpf_object__open_file(objpath, NULL);
	assert_non_null(obj);
	n = 0;
	bpf_object__for_each_program(bp, obj) n++;
	assert_int_equal(n, 1);
	if (!can_load_bpf()) {
		bpf_object__close(obj);
		libbpf_set_print(old);
		return;
	}
	assert_int_equal(bpf_object__load(obj), 0);
	assert_int_equal(run(obj, "gl_entry", IPPROTO_TCP), XDP_PASS);
	/* what the kernel took: chunk global, helper static */
	memset(&info, 0, sizeof(info));
	info.nr_func_info = ARRAY_SIZE(finfo);
	info.func_info_rec_size = sizeof(finfo[0]);
	info.func_info = (uintptr_t)finfo;
	assert_int_equal(bpf_obj_get_info_by_fd(
				 bpf_program__fd(bpf_object__find_program_by_name(obj, "gl_entry")),
				 &info, &info_len),
			 0);
	assert_int_equal(info.nr_func_info, ARRAY_SIZE(funcs));
	btf = btf__load_from_kernel_by_id(info.btf_id);
	assert_non_null(btf);
	for (n = 0; n < ARRAY_SIZE(funcs); n++) {
		t = btf__type_by_id(btf, finfo[n].type_id);
		if (!strcmp(btf__name_by_offset(btf, t->name_off), "chunk"))
			assert_int_equal(btf_vlen(t), BTF_FUNC_GLOBAL);
		if (!strcmp(btf__name_by_offset(btf, t->name_off), "helper"))
			assert_int_equal(btf_vlen(t), BTF_FUNC_STATIC);
		globals += btf_vlen(t) == BTF_FUNC_GLOBAL;
	}
	assert_int_equal(globals, 2); /* gl_entry and chunk */
	btf__free(btf);
	bpf_object__close(obj);
	libbpf_set_print(old);
	assert_int_equal(ipt2bpf_elf_verify(objpath, &diag), 0);

	/* Verified on its own: without the NULL check the kernel refuses the chunk. */
	code[11] = S_MOV_IMM(BPF_REG_0, XDP_ABORTED);
	write_ok(&ps);
	assert_int_not_equal(ipt2bpf_elf_verify(objpath, &diag), 0);
	code[11] = S_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 1);

	/* the entry point takes the context; global chunks need an argument size */
	global[0] = true;
	write_fails(&ps, -EINVAL, "entry function 'gl_entry' marked global");
	global[0] = false;
	ps.arg_size = 0;
	write_fails(&ps, -EINVAL, "argument size is 0");
}

/* Index of the bpf-to-bpf call in function k of program i. */
static uint32_t call_in(const struct sample *s, unsigned int i, unsigned int k)
{
	const struct ipt2bpf_func *f = &s->progs[i].funcs[k];
	uint32_t n;

	for (n = f->start; n < f->start + f->len; n++)
		if (s->insns[i][n].code == (BPF_JMP | BPF_CALL) &&
		    s->insns[i][n].src_reg == BPF_PSEUDO_CALL)
			return n;
	fail();
	return 0;
}

static void test_invalid(void **state)
{
	struct sample s;
	uint32_t c;

	(void)state;
	/* call into the middle of a function */
	sample_build(&s);
	s.insns[1][call_in(&s, 1, 1)].imm += 1;
	write_fails(&s.ps, -EINVAL, "'egr': insn");
	/* call to the entry function (recursion: libbpf could not do it) */
	sample_build(&s);
	c = call_in(&s, 1, 1);
	s.insns[1][c].imm = -(int32_t)c - 1;
	write_fails(&s.ps, -EINVAL, "not the start of a subprogram");
	/* jump out of its function */
	sample_build(&s);
	s.insns[2][s.progs[2].funcs[2].start + 1].off = 5;
	write_fails(&s.ps, -EINVAL, "outside its function");
	/* functions that do not tile */
	sample_build(&s);
	s.progs[0].funcs[2].len--;
	write_fails(&s.ps, -EINVAL, "'ing': functions");
	sample_build(&s);
	s.progs[0].funcs[1].start++;
	write_fails(&s.ps, -EINVAL, "do not tile");
	/* map index out of range, and reloc disagreeing with the insn */
	sample_build(&s);
	s.relocs[0][0].map = SAMPLE_N_MAPS;
	write_fails(&s.ps, -EINVAL, "map reloc #0");
	sample_build(&s);
	s.relocs[0][0].map = SAMPLE_MAP_CNT;
	write_fails(&s.ps, -EINVAL, "reloc says map 0");
	/* section and type */
	sample_build(&s);
	s.progs[2].section = "tc";
	write_fails(&s.ps, -EINVAL, "section 'tc' does not fit");
	sample_build(&s);
	s.progs[0].section = "tc/ingress";
	write_fails(&s.ps, -EINVAL, "'tc/ingress'");
	/* names */
	sample_build(&s);
	snprintf(s.progs[1].name, sizeof(s.progs[1].name), "ing");
	write_fails(&s.ps, -EINVAL, "used twice");
	sample_build(&s);
	snprintf(s.progs[1].name, sizeof(s.progs[1].name), "e-gr");
	write_fails(&s.ps, -EINVAL, "invalid name 'e-gr'");
	sample_build(&s);
	snprintf(s.ps.maps[1].name, sizeof(s.ps.maps[1].name), "ing");
	write_fails(&s.ps, -EINVAL, "clashes");
	/* unsupported pseudo instructions */
	sample_build(&s);
	s.insns[0][s.progs[0].relocs[0].insn].src_reg = BPF_PSEUDO_MAP_VALUE;
	s.progs[0].n_relocs = 0;
	write_fails(&s.ps, -EOPNOTSUPP, "ld_imm64 kind");
	/* nothing at all */
	sample_build(&s);
	s.ps.n_progs = 0;
	write_fails(&s.ps, -EINVAL, "no programs");
	/* unwritable destination */
	{
		struct ipt2bpf_diag diag = {0};

		sample_build(&s);
		assert_int_equal(ipt2bpf_elf_write(&s.ps, "/nonexistent/dir/x.o", &diag), -ENOENT);
		assert_non_null(strstr(diag.msg, "/nonexistent/dir/x.o"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_and_sections),
		cmocka_unit_test(test_symbols),
		cmocka_unit_test(test_relocations),
		cmocka_unit_test(test_libbpf_view),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_verify_failure),
		cmocka_unit_test(test_verify_missing_file),
		cmocka_unit_test(test_run_verdicts),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_names_and_default_section),
		cmocka_unit_test(test_pseudo_func),
		cmocka_unit_test(test_global_func),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
