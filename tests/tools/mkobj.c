// SPDX-License-Identifier: GPL-2.0
/*
 * mkobj: writes the handcrafted program set of tests/elf/sample-progset.h
 * as a BPF ELF object, for tests/elf/stock-tools.sh (bpftool, ip, tc).
 *
 *   mkobj OUT.o [--verify] [--broken]
 *
 * --verify  also open and load it with libbpf (ipt2bpf_elf_verify)
 * --broken  make "egr" fail the verifier (R7 read before it is set)
 */
#include <stdio.h>
#include <string.h>

#include "codegen/elf.h"
#include "tests/elf/sample-progset.h"

int main(int argc, char **argv)
{
	struct ipt2bpf_diag diag = {0};
	bool verify = false, broken = false;
	const char *out = NULL;
	struct sample s;
	int i, err;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--verify"))
			verify = true;
		else if (!strcmp(argv[i], "--broken"))
			broken = true;
		else if (argv[i][0] != '-' && !out)
			out = argv[i];
		else
			out = NULL, i = argc;
	}
	if (!out) {
		fprintf(stderr, "usage: %s OUT.o [--verify] [--broken]\n", argv[0]);
		return 2;
	}
	sample_build(&s);
	if (broken)
		sample_break(&s, 1);
	err = ipt2bpf_elf_write(&s.ps, out, &diag);
	if (!err && verify)
		err = ipt2bpf_elf_verify(out, &diag);
	if (err) {
		fprintf(stderr, "mkobj: %s\n", diag.msg);
		return 1;
	}
	return 0;
}
