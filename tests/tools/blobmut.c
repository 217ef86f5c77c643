// SPDX-License-Identifier: GPL-2.0
/*
 * blobmut: derive broken blobs from a good one for the bad-input tests.
 *   blobmut IN OUT truncate LEN       keep the first LEN bytes
 *   blobmut IN OUT flip SEED COUNT    flip COUNT random bytes (deterministic per SEED)
 *   blobmut IN OUT set32 OFFSET VALUE write a 32-bit little-endian VALUE at OFFSET
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *slurp(const char *path, size_t *len)
{
	unsigned char *buf = NULL;
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto out;
	buf = malloc(n ? n : 1);
	if (buf && fread(buf, 1, n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	*len = n;
out:
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	unsigned char *buf;
	size_t len;
	FILE *f;

	if (argc < 5) {
		fprintf(stderr, "usage: blobmut IN OUT truncate LEN | flip SEED COUNT | set32 OFF VAL\n");
		return 2;
	}
	buf = slurp(argv[1], &len);
	if (!buf) {
		fprintf(stderr, "blobmut: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (!strcmp(argv[3], "truncate")) {
		size_t n = strtoul(argv[4], NULL, 0);

		if (n < len)
			len = n;
	} else if (!strcmp(argv[3], "flip") && argc == 6) {
		uint64_t x = strtoull(argv[4], NULL, 0) * 0x9e3779b97f4a7c15ull + 1;
		unsigned long count = strtoul(argv[5], NULL, 0);

		for (unsigned long i = 0; i < count && len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[x % len] ^= (unsigned char)(1u << ((x >> 32) & 7));
		}
	} else if (!strcmp(argv[3], "set32") && argc == 6) {
		size_t off = strtoul(argv[4], NULL, 0);
		uint32_t v = (uint32_t)strtoul(argv[5], NULL, 0);

		if (off + 4 > len) {
			fprintf(stderr, "blobmut: offset %zu beyond %zu bytes\n", off, len);
			return 1;
		}
		memcpy(buf + off, &v, 4);
	} else {
		fprintf(stderr, "blobmut: unknown operation '%s'\n", argv[3]);
		return 2;
	}
	f = fopen(argv[2], "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		fprintf(stderr, "blobmut: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	free(buf);
	return 0;
}
