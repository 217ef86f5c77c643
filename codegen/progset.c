// SPDX-License-Identifier: GPL-2.0
/* Program set ownership and lookups shared by the generator, the ELF writer and the loader. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "progset.h"

void ipt2bpf_progset_free(struct ipt2bpf_progset *ps)
{
	if (!ps)
		return;
	for (unsigned int i = 0; i < ps->n_progs; i++) {
		free(ps->progs[i].insns);
		free(ps->progs[i].relocs);
		free(ps->progs[i].funcs);
		free(ps->progs[i].func_global);
	}
	for (unsigned int i = 0; i < ps->n_maps; i++) {
		free(ps->maps[i].init_keys);
		free(ps->maps[i].init_values);
	}
	free(ps->progs);
	free(ps->ifpats);
	free(ps);
}

void ipt2bpf_progset_freep(struct ipt2bpf_progset **ps)
{
	ipt2bpf_progset_free(*ps);
	*ps = NULL;
}

int ipt2bpf_progset_find_map(const struct ipt2bpf_progset *ps, const char *name)
{
	for (unsigned int i = 0; i < ps->n_maps; i++)
		if (!strcmp(ps->maps[i].name, name))
			return (int)i;
	return -ENOENT;
}

/* ifname_compare_aligned() == 0, over the zero-padded IFNAMSIZ buffer of the device name. */
bool ipt2bpf_ifpat_match(const struct ipt2bpf_ifpat *p, const char *ifname)
{
	char dev[IFNAMSIZ] = {0};

	strncpy(dev, ifname, IFNAMSIZ - 1);
	for (unsigned int i = 0; i < IFNAMSIZ; i++)
		if ((dev[i] ^ p->name[i]) & p->mask[i])
			return false;
	return true;
}
