// SPDX-License-Identifier: GPL-2.0
/* The extension module registry: the linker collects the "ipt2bpf_mods" section. */
#include <string.h>

#include "mod.h"

/* Weak: a binary without any module still links (the section is then absent). */
extern const struct ipt2bpf_mod *const __start_ipt2bpf_mods[] __attribute__((weak));
extern const struct ipt2bpf_mod *const __stop_ipt2bpf_mods[] __attribute__((weak));

const struct ipt2bpf_mod *ipt2bpf_mod_next(size_t *i)
{
	size_t n = (size_t)(__stop_ipt2bpf_mods - __start_ipt2bpf_mods);

	if (!__start_ipt2bpf_mods || *i >= n)
		return NULL;
	return __start_ipt2bpf_mods[(*i)++];
}

bool ipt2bpf_mod_refuses_only(const struct ipt2bpf_mod *m)
{
	return !m->prepare && !m->emit_match && !m->emit_target && !m->emit_prologue &&
	       !m->emit_verdict;
}

const struct ipt2bpf_mod *ipt2bpf_mod_find(const char *name, uint8_t revision, bool target)
{
	const struct ipt2bpf_mod *m;
	size_t i = 0;

	if (revision >= 32)
		return NULL;
	while ((m = ipt2bpf_mod_next(&i)))
		if (m->target == target && (m->revisions & (1U << revision)) &&
		    strcmp(m->name, name) == 0)
			return m;
	return NULL;
}
