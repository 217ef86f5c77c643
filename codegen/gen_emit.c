// SPDX-License-Identifier: GPL-2.0
/* Instruction buffer with labels, relocations and reachability tracking. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

#define LABEL_UNBOUND UINT32_MAX

static bool grow(void **p, uint32_t *cap, uint32_t need, size_t size)
{
	uint32_t ncap;
	void *np;

	if (need <= *cap)
		return true;
	ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, (size_t)ncap * size);
	if (!np)
		return false;
	*p = np;
	*cap = ncap;
	return true;
}

void gen_emit_init(struct gen_emit *e)
{
	memset(e, 0, sizeof(*e));
}

void gen_emit_release(struct gen_emit *e)
{
	free(e->insns);
	free(e->relocs);
	free(e->fix);
	free(e->labels);
	memset(e, 0, sizeof(*e));
}

void gen_emit_mark(const struct gen_emit *e, struct gen_mark *m)
{
	m->n = e->n;
	m->n_relocs = e->n_relocs;
	m->n_fix = e->n_fix;
	m->n_labels = e->n_labels;
	m->dead = e->dead;
}

void gen_emit_rollback(struct gen_emit *e, const struct gen_mark *m)
{
	/* Labels created before the mark lose the references made after it. */
	for (uint32_t i = m->n_fix; i < e->n_fix; i++) {
		int l = e->fix[i].label;

		if (l >= 0 && (uint32_t)l < m->n_labels)
			e->labels[l].refs--;
	}
	e->n = m->n;
	e->n_relocs = m->n_relocs;
	e->n_fix = m->n_fix;
	e->n_labels = m->n_labels;
	e->dead = m->dead;
}

static struct bpf_insn *append(struct gen_emit *e)
{
	if (e->err)
		return NULL;
	if (!grow((void **)&e->insns, &e->cap, e->n + 1, sizeof(*e->insns))) {
		e->err = -ENOMEM;
		return NULL;
	}
	return &e->insns[e->n++];
}

static bool ends_flow(const struct bpf_insn *insn)
{
	return insn->code == (BPF_JMP | BPF_EXIT) || insn->code == (BPF_JMP | BPF_JA);
}

void gen_insn(struct gen_emit *e, struct bpf_insn insn)
{
	struct bpf_insn *p;

	if (e->dead)
		return;
	p = append(e);
	if (!p)
		return;
	*p = insn;
	if (ends_flow(&insn))
		e->dead = true;
}

int gen_label_new(struct gen_emit *e)
{
	if (e->err)
		return 0;
	if (!grow((void **)&e->labels, &e->cap_labels, e->n_labels + 1, sizeof(*e->labels))) {
		e->err = -ENOMEM;
		return 0;
	}
	e->labels[e->n_labels] = (struct gen_label){.pos = LABEL_UNBOUND};
	return (int)e->n_labels++;
}

void gen_label_bind(struct gen_emit *e, int label)
{
	if (e->err)
		return;
	e->labels[label].pos = e->n;
	if (e->labels[label].refs)
		e->dead = false;
}

static void add_fixup(struct gen_emit *e, int label)
{
	if (!grow((void **)&e->fix, &e->cap_fix, e->n_fix + 1, sizeof(*e->fix))) {
		e->err = -ENOMEM;
		return;
	}
	e->fix[e->n_fix++] = (struct gen_fixup){.insn = e->n - 1, .label = label};
}

void gen_jmp(struct gen_emit *e, struct bpf_insn insn, int label)
{
	if (e->dead || e->err)
		return;
	gen_insn(e, insn);
	if (e->err)
		return;
	e->labels[label].refs++;
	add_fixup(e, label);
}

void gen_ld_map(struct gen_emit *e, int reg, unsigned int map)
{
	if (e->dead || e->err)
		return;
	if (!grow((void **)&e->relocs, &e->cap_relocs, e->n_relocs + 1, sizeof(*e->relocs))) {
		e->err = -ENOMEM;
		return;
	}
	e->relocs[e->n_relocs++] = (struct ipt2bpf_reloc){.insn = e->n, .map = map};
	gen_insn(e, BPF_LD_IMM64_RAW_1(reg, BPF_PSEUDO_MAP_FD, map));
	gen_insn(e, BPF_LD_IMM64_RAW_2(0));
}

void gen_call(struct gen_emit *e, unsigned int func)
{
	if (e->dead || e->err)
		return;
	gen_insn(e, BPF_CALL_REL(0));
	if (!e->err)
		add_fixup(e, -(int)func - 1);
}

void gen_ld_func(struct gen_emit *e, int reg, unsigned int func)
{
	if (e->dead || e->err)
		return;
	/* imm is relative to the first half, like a call's. */
	gen_insn(e, BPF_LD_IMM64_RAW_1(reg, BPF_PSEUDO_FUNC, 0));
	if (!e->err)
		add_fixup(e, -(int)func - 1);
	gen_insn(e, BPF_LD_IMM64_RAW_2(0));
}

int gen_emit_resolve(struct gen_emit *e, const uint32_t *func_start, unsigned int n_funcs)
{
	if (e->err)
		return e->err;
	for (uint32_t i = 0; i < e->n_fix; i++) {
		const struct gen_fixup *f = &e->fix[i];
		struct bpf_insn *insn = &e->insns[f->insn];
		int64_t off;

		if (f->label < 0) {
			unsigned int func = (unsigned int)(-f->label - 1);

			if (func >= n_funcs)
				return -EINVAL;
			insn->imm = (int32_t)((int64_t)func_start[func] - f->insn - 1);
			continue;
		}
		if (e->labels[f->label].pos == LABEL_UNBOUND)
			return -EINVAL;
		off = (int64_t)e->labels[f->label].pos - f->insn - 1;
		if (off < INT16_MIN || off > INT16_MAX)
			return -E2BIG;
		insn->off = (int16_t)off;
	}
	return 0;
}
