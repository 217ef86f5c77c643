// SPDX-License-Identifier: GPL-2.0
/*
 * getentries: the kernel side of the capture differential test.
 *
 *   getentries TABLE [OUT]            dump this netns' TABLE (GET_INFO + GET_ENTRIES) as a blob
 *   getentries --same SENT CAPTURED   compare two SET_REPLACE buffers byte for byte
 *   getentries --same-names SENT CAPTURED   the same, but for bytes after extension names' NUL
 *   getentries --kernel SENT DUMP     compare a SET_REPLACE buffer with a kernel dump
 *   getentries --dumps DUMP DUMP      compare two dumps (the shim's and the kernel's)
 *   getentries --print BLOB           one line per entry, for debugging
 *
 * A dump has the layout the shim writes: struct ipt_replace followed by the
 * entries.  Its header comes from GET_INFO (hooks the table lacks read
 * 0xFFFFFFFF there, as the kernel reports them), num_counters is set to
 * num_entries and the counters pointer to NULL.
 *
 * --same ignores only the counters pointer (an address in iptables' memory).
 * --kernel ignores what the kernel rewrites on the way back: counters and
 * comefrom of every entry, hook offsets of hooks the table does not have,
 * num_counters, and data past an extension's usersize, which the kernel
 * zeroes (see KERNEL_PRIVATE below).  --dumps ignores counters and that
 * kernel-private data only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter/xt_CT.h>
#include <linux/netfilter/xt_connlimit.h>
#include <linux/netfilter/xt_hashlimit.h>
#include <linux/netfilter/xt_limit.h>
#include <linux/netfilter/xt_quota.h>
#include <linux/netfilter/xt_statistic.h>
#include <linux/netfilter/xt_string.h>

#include "translator/util.h"

struct blob {
	struct ipt_replace *repl;
	size_t len;
};

/* Extensions whose kernel state sits at the end of their data (usersize in
 * the kernel's xt_match/xt_target): GET_ENTRIES returns zeros from there on,
 * whatever iptables sent. */
static const struct {
	const char *name;
	bool target;
	int revision; /* -1: any */
	size_t usersize;
} KERNEL_PRIVATE[] = {
	{"limit", false, -1, offsetof(struct xt_rateinfo, prev)},
	{"hashlimit", false, 1, offsetof(struct xt_hashlimit_mtinfo1, hinfo)},
	{"hashlimit", false, 2, offsetof(struct xt_hashlimit_mtinfo2, hinfo)},
	{"hashlimit", false, 3, offsetof(struct xt_hashlimit_mtinfo3, hinfo)},
	{"quota", false, -1, offsetof(struct xt_quota_info, master)},
	{"statistic", false, -1, offsetof(struct xt_statistic_info, master)},
	{"string", false, -1, offsetof(struct xt_string_info, config)},
	{"connlimit", false, -1, offsetof(struct xt_connlimit_info, data)},
	{"CT", true, 0, offsetof(struct xt_ct_target_info, ct)},
	{"CT", true, 1, offsetof(struct xt_ct_target_info_v1, ct)},
	{"CT", true, 2, offsetof(struct xt_ct_target_info_v1, ct)},
};

static int die(const char *fmt, const char *arg)
{
	fprintf(stderr, "getentries: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 2;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

static int dump_table(const char *table, const char *out)
{
	struct ipt_getinfo info = {0};
	socklen_t len = sizeof(info);
	_cleanup_close_ int sk = -1;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ struct ipt_get_entries *get = NULL;
	_cleanup_free_ struct ipt_replace *repl = NULL;
	int err;

	if (strlen(table) >= sizeof(info.name))
		return die("table name too long: %s", table);
	sk = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (sk < 0)
		return die("socket: %s", strerror(errno));
	strcpy(info.name, table);
	if (getsockopt(sk, IPPROTO_IP, IPT_SO_GET_INFO, &info, &len) < 0)
		return die("IPT_SO_GET_INFO: %s", strerror(errno));

	/* Zeroed: the kernel writes only strlen(name) + 1 bytes of extension
	 * names, the rest of the buffer keeps what was there. */
	get = calloc(1, sizeof(*get) + info.size);
	if (!get)
		return die("%s", strerror(ENOMEM));
	strcpy(get->name, table);
	get->size = info.size;
	len = sizeof(*get) + info.size;
	if (getsockopt(sk, IPPROTO_IP, IPT_SO_GET_ENTRIES, get, &len) < 0)
		return die("IPT_SO_GET_ENTRIES: %s", strerror(errno));

	repl = calloc(1, sizeof(*repl) + info.size);
	if (!repl)
		return die("%s", strerror(ENOMEM));
	memcpy(repl->name, info.name, sizeof(repl->name));
	repl->valid_hooks = info.valid_hooks;
	repl->num_entries = info.num_entries;
	repl->size = info.size;
	memcpy(repl->hook_entry, info.hook_entry, sizeof(repl->hook_entry));
	memcpy(repl->underflow, info.underflow, sizeof(repl->underflow));
	repl->num_counters = info.num_entries;
	memcpy(repl->entries, get->entrytable, info.size);

	fd = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : dup(STDOUT_FILENO);
	if (fd < 0)
		return die("cannot open output: %s", strerror(errno));
	err = write_all(fd, repl, sizeof(*repl) + info.size);
	if (err)
		return die("write: %s", strerror(-err));
	return 0;
}

static int load(const char *path, struct blob *b)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t off = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		return die("cannot read %s", path);
	if ((size_t)st.st_size < sizeof(struct ipt_replace))
		return die("%s: shorter than struct ipt_replace", path);
	b->len = st.st_size;
	b->repl = malloc(b->len);
	if (!b->repl)
		return die("%s", strerror(ENOMEM));
	while (off < b->len) {
		ssize_t n = read(fd, (char *)b->repl + off, b->len - off);

		if (n <= 0)
			return die("short read on %s", path);
		off += n;
	}
	if (b->len != sizeof(struct ipt_replace) + b->repl->size)
		return die("%s: size field does not match the file length", path);
	return 0;
}

/* Which entry (and which extension in it) holds byte off of the entries. */
static void locate(const struct ipt_replace *r, size_t off, char *buf, size_t len)
{
	const unsigned char *base = (const unsigned char *)r->entries;
	size_t pos = 0;
	unsigned int idx = 0;

	snprintf(buf, len, "past the last entry");
	while (pos + sizeof(struct ipt_entry) <= r->size) {
		const struct ipt_entry *e = (const void *)(base + pos);

		if (e->next_offset < sizeof(*e) || pos + e->next_offset > r->size)
			break;
		if (off < pos + e->next_offset) {
			size_t in = off - pos, m = sizeof(*e);

			if (in < sizeof(*e)) {
				snprintf(buf, len, "entry #%u (offset %zu), header byte %zu", idx,
					 pos, in);
				return;
			}
			while (m < e->target_offset) {
				const struct xt_entry_match *em = (const void *)(base + pos + m);

				if (em->u.match_size == 0)
					break;
				if (in < m + em->u.match_size) {
					snprintf(buf, len,
						 "entry #%u (offset %zu), match '%.*s' byte %zu",
						 idx, pos, XT_EXTENSION_MAXNAMELEN, em->u.user.name,
						 in - m);
					return;
				}
				m += em->u.match_size;
			}
			snprintf(buf, len, "entry #%u (offset %zu), target '%.*s' byte %zu", idx,
				 pos, XT_EXTENSION_MAXNAMELEN,
				 ((const struct xt_entry_target *)(base + pos + e->target_offset))
					 ->u.user.name,
				 in - e->target_offset);
			return;
		}
		pos += e->next_offset;
		idx++;
	}
}

/* Byte i of the entries is padding after the NUL of a match or target name. */
static bool in_name_padding(const struct ipt_replace *r, size_t i)
{
	const unsigned char *base = (const unsigned char *)r->entries;
	size_t pos = 0;

	while (pos + sizeof(struct ipt_entry) <= r->size) {
		const struct ipt_entry *e = (const void *)(base + pos);

		if (e->next_offset < sizeof(*e) || pos + e->next_offset > r->size)
			return false;
		if (i < pos + e->next_offset) {
			size_t m = pos + sizeof(*e);

			while (m + sizeof(struct xt_entry_match) <= pos + e->next_offset) {
				const struct xt_entry_match *em = (const void *)(base + m);
				size_t name = m + offsetof(struct xt_entry_match, u.user.name);
				size_t len = strnlen(em->u.user.name, sizeof(em->u.user.name));

				if (i >= name + len && i < name + sizeof(em->u.user.name))
					return true;
				if (em->u.match_size == 0)
					return false;
				m += em->u.match_size;
			}
			return false;
		}
		pos += e->next_offset;
	}
	return false;
}

/*
 * loose_names: also ignore bytes after the NUL of extension names.  Rules
 * iptables read back from the kernel carry whatever was in its buffer there:
 * copy_entries_to_user() writes only strlen(name) + 1 bytes of each name.
 */
static int same(const char *pa, const char *pb, bool loose_names)
{
	struct blob a = {0}, b = {0};
	const size_t ptr = offsetof(struct ipt_replace, counters);
	char where[256];
	int ret;

	if ((ret = load(pa, &a)) || (ret = load(pb, &b)))
		return ret;
	if (a.len != b.len) {
		fprintf(stderr, "getentries: %s is %zu bytes, %s is %zu\n", pa, a.len, pb, b.len);
		return 1;
	}
	for (size_t i = 0; i < a.len; i++) {
		size_t in_entries = i - sizeof(struct ipt_replace);

		if (i >= ptr && i < ptr + sizeof(a.repl->counters))
			continue;
		if (((unsigned char *)a.repl)[i] == ((unsigned char *)b.repl)[i])
			continue;
		if (i >= sizeof(struct ipt_replace) && loose_names &&
		    in_name_padding(a.repl, in_entries) && in_name_padding(b.repl, in_entries))
			continue;
		if (i < sizeof(struct ipt_replace))
			snprintf(where, sizeof(where), "ipt_replace header byte %zu", i);
		else
			locate(a.repl, in_entries, where, sizeof(where));
		fprintf(stderr, "getentries: %s and %s differ at byte %zu: %s\n", pa, pb, i, where);
		return 1;
	}
	return 0;
}

static size_t private_from(const char *name, uint8_t rev, bool target, size_t datalen)
{
	for (size_t i = 0; i < ARRAY_SIZE(KERNEL_PRIVATE); i++) {
		if (KERNEL_PRIVATE[i].target != target || strcmp(KERNEL_PRIVATE[i].name, name))
			continue;
		if (KERNEL_PRIVATE[i].revision >= 0 && KERNEL_PRIVATE[i].revision != rev)
			continue;
		if (KERNEL_PRIVATE[i].usersize < datalen)
			return KERNEL_PRIVATE[i].usersize;
	}
	return datalen;
}

/* Compares an extension: header and data up to usersize exactly, the rest
 * must be zero in the dump. */
static bool same_ext(const unsigned char *s, const unsigned char *k, size_t size, bool target)
{
	const struct xt_entry_match *m = (const void *)s;
	size_t hdr = sizeof(struct xt_entry_match), priv;

	if (memcmp(s, k, hdr) || size < hdr)
		return false;
	priv = hdr + private_from(m->u.user.name, m->u.user.revision, target, size - hdr);
	if (memcmp(s + hdr, k + hdr, priv - hdr))
		return false;
	for (size_t i = priv; i < size; i++)
		if (k[i])
			return false;
	return true;
}

/*
 * sent_vs_dump: a is a SET_REPLACE buffer, b the kernel's table after it:
 * comefrom, num_counters and the offsets of hooks the table lacks are the
 * kernel's to fill in.  Otherwise a and b are both dumps (GET_INFO +
 * GET_ENTRIES) and only counters may differ.
 */
static int compare(const char *pa, const char *pb, bool sent_vs_dump)
{
	struct blob a = {0}, b = {0};
	const struct ipt_replace *ra, *rb;
	int ret;

	if ((ret = load(pa, &a)) || (ret = load(pb, &b)))
		return ret;
	ra = a.repl;
	rb = b.repl;
	if (strncmp(ra->name, rb->name, sizeof(ra->name)) || ra->valid_hooks != rb->valid_hooks ||
	    ra->num_entries != rb->num_entries || ra->size != rb->size ||
	    (!sent_vs_dump && ra->num_counters != rb->num_counters)) {
		fprintf(stderr,
			"getentries: header differs: %s: %.32s hooks %#x entries %u size %u, "
			"%s: %.32s hooks %#x entries %u size %u\n",
			pa, ra->name, ra->valid_hooks, ra->num_entries, ra->size, pb, rb->name,
			rb->valid_hooks, rb->num_entries, rb->size);
		return 1;
	}
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		if (sent_vs_dump && !(ra->valid_hooks & (1U << h)))
			continue;
		if (ra->hook_entry[h] != rb->hook_entry[h] ||
		    ra->underflow[h] != rb->underflow[h]) {
			fprintf(stderr,
				"getentries: hook %u: %s has entry %u underflow %u, %s %u/%u\n", h,
				pa, ra->hook_entry[h], ra->underflow[h], pb, rb->hook_entry[h],
				rb->underflow[h]);
			return 1;
		}
	}

	const unsigned char *ba = (const void *)ra->entries, *bb = (const void *)rb->entries;
	size_t pos = 0;
	unsigned int idx = 0;

	while (pos < ra->size) {
		const struct ipt_entry *ea = (const void *)(ba + pos);
		const struct ipt_entry *eb = (const void *)(bb + pos);
		const size_t head = offsetof(struct ipt_entry, comefrom);
		char where[256];
		size_t m;

		if (pos + sizeof(*ea) > ra->size || ea->next_offset < sizeof(*ea) ||
		    pos + ea->next_offset > ra->size || ea->target_offset > ea->next_offset) {
			fprintf(stderr, "getentries: %s: malformed entry #%u\n", pa, idx);
			return 1;
		}
		if (memcmp(ea, eb, head)) {
			fprintf(stderr,
				"getentries: entry #%u (offset %zu): ipt_entry header differs\n",
				idx, pos);
			return 1;
		}
		if (!sent_vs_dump && ea->comefrom != eb->comefrom) {
			fprintf(stderr,
				"getentries: entry #%u (offset %zu): comefrom %#x in %s, %#x in "
				"%s\n",
				idx, pos, ea->comefrom, pa, eb->comefrom, pb);
			return 1;
		}
		for (m = sizeof(*ea); m < ea->next_offset;) {
			const struct xt_entry_match *em = (const void *)(ba + pos + m);
			bool target = m >= ea->target_offset;
			size_t size = em->u.match_size;

			if (size < sizeof(*em) || m + size > ea->next_offset) {
				fprintf(stderr,
					"getentries: %s: malformed extension in entry #%u\n", pa,
					idx);
				return 1;
			}
			if (!same_ext(ba + pos + m, bb + pos + m, size, target)) {
				locate(ra, pos + m, where, sizeof(where));
				fprintf(stderr, "getentries: %s and %s differ: %s\n", pa, pb,
					where);
				return 1;
			}
			m += size;
		}
		pos += ea->next_offset;
		idx++;
	}
	return 0;
}

static int print(const char *path)
{
	struct blob b = {0};
	const struct ipt_replace *r;
	size_t pos = 0;
	unsigned int idx = 0;
	int ret;

	if ((ret = load(path, &b)))
		return ret;
	r = b.repl;
	printf("table %.32s valid_hooks %#x num_entries %u size %u num_counters %u\n", r->name,
	       r->valid_hooks, r->num_entries, r->size, r->num_counters);
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++)
		printf("  hook %u: entry %u underflow %u\n", h, r->hook_entry[h], r->underflow[h]);
	while (pos + sizeof(struct ipt_entry) <= r->size) {
		const struct ipt_entry *e = (const void *)((const char *)r->entries + pos);
		const struct xt_entry_target *t;

		if (e->next_offset < sizeof(*e) || e->target_offset > e->next_offset ||
		    pos + e->next_offset > r->size)
			break;
		t = (const void *)((const char *)e + e->target_offset);
		printf("#%u @%zu next %u target_off %u comefrom %#x counters %llu/%llu target "
		       "'%.*s' rev %u size %u",
		       idx, pos, e->next_offset, e->target_offset, e->comefrom,
		       (unsigned long long)e->counters.pcnt, (unsigned long long)e->counters.bcnt,
		       XT_EXTENSION_MAXNAMELEN, t->u.user.name, t->u.user.revision,
		       t->u.target_size);
		if (!t->u.user.name[0])
			printf(" verdict %d", ((const struct xt_standard_target *)t)->verdict);
		putchar('\n');
		pos += e->next_offset;
		idx++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--print"))
		return print(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "--same"))
		return same(argv[2], argv[3], false);
	if (argc == 4 && !strcmp(argv[1], "--same-names"))
		return same(argv[2], argv[3], true);
	if (argc == 4 && !strcmp(argv[1], "--kernel"))
		return compare(argv[2], argv[3], true);
	if (argc == 4 && !strcmp(argv[1], "--dumps"))
		return compare(argv[2], argv[3], false);
	if ((argc == 2 || argc == 3) && argv[1][0] != '-')
		return dump_table(argv[1], argc == 3 ? argv[2] : NULL);
	fprintf(stderr, "usage: getentries TABLE [OUT]\n"
			"       getentries --same[-names] SENT CAPTURED\n"
			"       getentries --kernel SENT DUMP\n"
			"       getentries --dumps DUMP DUMP\n"
			"       getentries --print BLOB\n");
	return 2;
}
