/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Blob validation with the kernel's rules and errnos (ip_tables.c:
 * translate_table, check_entry_size_and_hooks, mark_source_chains,
 * find_check_entry, xt_check_match/xt_check_target).  Everything after this
 * step may trust the blob's offsets.
 */
#ifndef IPT2BPF_VALIDATE_H
#define IPT2BPF_VALIDATE_H

#include <stddef.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include "diag.h"

/*
 * repl points at a struct ipt_replace followed by repl->size bytes of
 * entries; len is the number of bytes available at repl.  Returns 0 or the
 * negative errno the kernel's IPT_SO_SET_REPLACE would have returned, with a
 * message naming the entry ("filter/INPUT#3") in diag.
 */
int ipt2bpf_validate(const struct ipt_replace *repl, size_t len, struct ipt2bpf_diag *diag);

#endif
