/* SPDX-License-Identifier: GPL-2.0 */
/*
 * BPF ELF object writer (libelf): one section per program ("classifier",
 * "tc", "xdp"), chain subprograms in ".text", maps in ".maps" described with
 * BTF built through libbpf's BTF API, "license", and relocations for map
 * references and subprogram calls, so that libbpf 1.1, bpftool, ip and tc
 * load it.
 */
#ifndef IPT2BPF_ELF_H
#define IPT2BPF_ELF_H

#include "progset.h"

int ipt2bpf_elf_write(const struct ipt2bpf_progset *ps, const char *path,
		      struct ipt2bpf_diag *diag);

/* Opens path with libbpf and loads every program (the kernel verifier runs). */
int ipt2bpf_elf_verify(const char *path, struct ipt2bpf_diag *diag);

#endif
