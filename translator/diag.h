/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Diagnostics: the first error of an operation, with the context a user needs
 * ("filter/INPUT#3: match 'foo' revision 2: not supported") and the errno the
 * kernel would have returned for the same input.
 */
#ifndef IPT2BPF_DIAG_H
#define IPT2BPF_DIAG_H

#include <stdarg.h>

struct ipt2bpf_diag {
	int err;	/* negative errno, 0 if nothing was reported */
	char msg[4096]; /* the message, without trailing newline */
};

/* Records the first error only; returns err so callers can `return diag_set(...)`. */
__attribute__((format(printf, 3, 4))) int ipt2bpf_diag_set(struct ipt2bpf_diag *d, int err,
							   const char *fmt, ...);

#endif
