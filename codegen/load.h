/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loading a program set straight into the kernel (no ELF round trip): maps
 * are created, map fds patched into the instructions, programs verified.
 * Used by `trace`, by the runtime and by the tests.
 */
#ifndef IPT2BPF_LOAD_H
#define IPT2BPF_LOAD_H

#include "progset.h"

struct ipt2bpf_loaded {
	int map_fds[IPT2BPF_MAX_MAPS];
	unsigned int n_maps;
	int *prog_fds; /* parallel to progset->progs */
	unsigned int n_progs;
};

/* On a verifier rejection, diag holds the program name and the log's tail. */
int ipt2bpf_progset_load(const struct ipt2bpf_progset *ps, struct ipt2bpf_loaded *l,
			 struct ipt2bpf_diag *diag);
/*
 * The same, reusing maps: reuse[i] >= 0 is an fd of map i from an earlier
 * load (shared maps only: the connection table survives rule replacement);
 * taken when its layout still matches, else a new map is made.
 */
int ipt2bpf_progset_load_reuse(const struct ipt2bpf_progset *ps, struct ipt2bpf_loaded *l,
			       const int *reuse, struct ipt2bpf_diag *diag);
void ipt2bpf_loaded_close(struct ipt2bpf_loaded *l);

/* Sets the ipt_ifaces bits of ifindex for every pattern name matches. */
int ipt2bpf_ifaces_set(const struct ipt2bpf_progset *ps, const struct ipt2bpf_loaded *l,
		       uint32_t ifindex, const char *name);

/* Reads n counters (summed over CPUs) from a PERCPU_ARRAY counter map. */
int ipt2bpf_counters_read(int map_fd, unsigned int n, struct ipt2bpf_counter *out);

#endif
