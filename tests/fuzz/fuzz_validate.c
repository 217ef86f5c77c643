// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: arbitrary bytes as an IPT_SO_SET_REPLACE buffer.
 * ipt2bpf_validate() must never read outside them; what it accepts must
 * decode, describe, dump and free cleanly.
 *
 * Each input runs three times: as is; with the header's size and
 * num_counters made consistent with the input length, so mutations get past
 * do_replace()'s first checks and into the entries; and with num_entries
 * counted too, so they get past translate_table()'s count check.
 *
 * Built and run by scripts/fuzz.sh (make fuzz); by hand:
 *   clang -std=gnu17 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *       tests/fuzz/fuzz_validate.c translator/{validate,ext,ir,diag}.c -o fuzz_validate
 *   ./fuzz_validate -dict=tests/fuzz/fuzz_validate.dict CORPUS tests/fuzz/corpus/fuzz_validate
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "translator/diag.h"
#include "translator/ir.h"
#include "translator/validate.h"

static FILE *devnull;

static void one(const struct ipt_replace *repl, size_t len)
{
	struct ipt2bpf_diag diag = {0};
	struct ipt2bpf_table *t = NULL;
	char name[128];
	int err;

	err = ipt2bpf_validate(repl, len, &diag);
	if (err) {
		/* Every rejection says why. */
		if (diag.err != err || !diag.msg[0])
			abort();
		return;
	}
	memset(&diag, 0, sizeof(diag));
	err = ipt2bpf_table_decode(repl, len, &t, &diag);
	if (err) {
		if (t || diag.err != err || !diag.msg[0])
			abort();
		return;
	}
	for (unsigned int i = 0; i < t->n_entries; i++)
		if (ipt2bpf_entry_describe(t, i, name, sizeof(name)) <= 0)
			abort();
	ipt2bpf_table_dump(t, devnull);
	ipt2bpf_table_free(t);
}

static unsigned int count_entries(const struct ipt_replace *r)
{
	const unsigned char *base = (const unsigned char *)r->entries;
	unsigned int n = 0;

	for (size_t off = 0; off + sizeof(struct ipt_entry) < r->size && off % 8 == 0; n++) {
		const struct ipt_entry *e = (const void *)(base + off);

		if (e->next_offset < sizeof(struct ipt_entry))
			break;
		off += e->next_offset;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipt_replace *copy;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	/* As given (libFuzzer's buffer is exactly size bytes: overreads trip ASan). */
	one((const struct ipt_replace *)data, size);

	if (size < sizeof(struct ipt_replace))
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy->size = size - sizeof(*copy);
	if (!copy->num_counters)
		copy->num_counters = 1;
	one(copy, size);

	/* And with num_entries counted along next_offset, to reach the hooks. */
	copy->num_entries = count_entries(copy);
	one(copy, size);
	free(copy);
	return 0;
}
