/* SPDX-License-Identifier: GPL-2.0 */
/* Small shared helpers: cleanup-attribute ownership and array sizing. */
#ifndef IPT2BPF_UTIL_H
#define IPT2BPF_UTIL_H

#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void ipt2bpf_freep(void *p)
{
	free(*(void **)p);
}

static inline void ipt2bpf_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define _cleanup_free_	__attribute__((cleanup(ipt2bpf_freep)))
#define _cleanup_close_ __attribute__((cleanup(ipt2bpf_closep)))

/* Hand ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_tf;                                                                               \
	})

#endif
