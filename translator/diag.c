// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>

#include "diag.h"

int ipt2bpf_diag_set(struct ipt2bpf_diag *d, int err, const char *fmt, ...)
{
	va_list ap;

	if (!d || d->err)
		return err;
	d->err = err;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	return err;
}
