// SPDX-License-Identifier: GPL-2.0
/*
 * The capture backend: ip_tables emulated in-process, as a fresh network
 * namespace would show it, and every committed table written out.
 *
 * The emulation mirrors net/ipv4/netfilter/ip_tables.c where iptables can see
 * it: the initial tables (iptable_{filter,mangle,nat,raw,security}), the
 * length checks and errno of each IPT_SO_* call, the structural part of
 * translate_table() (offsets, hooks, underflows, jumps, loops -> comefrom),
 * old counters handed back on replace, SET_ADD_COUNTERS.  It does not run
 * the extensions' checkentry(): that is the validator's job on the blob.
 *
 * On each successful IPT_SO_SET_REPLACE the buffer (struct ipt_replace and
 * the entries, exactly as iptables sent them) goes to
 * $IPT2BPF_CAPTURE_DIR/<table>.blob and the table name to
 * $IPT2BPF_CAPTURE_DIR/tables (one per line, in order of first commit), both
 * replaced atomically.  A table whose .blob already exists there starts from
 * that blob instead of the initial table, so successive iptables commands
 * with the same directory build on each other like on a real kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include "shim.h"
#include "translator/ext.h"
#include "translator/util.h"

/* x_tables.c: xt_alloc_table_info() and xt_alloc_entry_offsets() refuse more. */
#define XT_MAX_TABLE_SIZE (512 * 1024 * 1024)

#define BLOB_SUFFIX  ".blob"
#define TABLES_FILE  "tables"
#define LOCK_FILE    "xtables.lock"
#define NO_OFFSET    0xFFFFFFFFU /* translate_table()'s "impossible value" */
#define COMEFROM_WIP (1U << NF_INET_NUMHOOKS)

#define HOOK(h) (1U << NF_INET_##h)

/* The kernel's struct ipt_standard / ipt_error (not in the uapi headers). */
struct std_entry {
	struct ipt_entry entry;
	struct xt_standard_target target;
};

struct err_entry {
	struct ipt_entry entry;
	struct xt_error_target target;
};

struct table {
	const char *name;
	unsigned int valid_hooks;
	unsigned int seq;	/* instantiation order, 0: not yet (like a larval table) */
	unsigned int committed; /* position in the `tables` file, 0: not committed */
	unsigned int hook_entry[NF_INET_NUMHOOKS];
	unsigned int underflow[NF_INET_NUMHOOKS];
	unsigned int number;
	unsigned int size;
	unsigned char *entries; /* counters live in the entries */
};

static struct table tables[] = {
	{.name = "filter", .valid_hooks = HOOK(LOCAL_IN) | HOOK(FORWARD) | HOOK(LOCAL_OUT)},
	{.name = "mangle",
	 .valid_hooks = HOOK(PRE_ROUTING) | HOOK(LOCAL_IN) | HOOK(FORWARD) | HOOK(LOCAL_OUT) |
			HOOK(POST_ROUTING)},
	{.name = "nat",
	 .valid_hooks = HOOK(PRE_ROUTING) | HOOK(LOCAL_IN) | HOOK(LOCAL_OUT) | HOOK(POST_ROUTING)},
	{.name = "raw", .valid_hooks = HOOK(PRE_ROUTING) | HOOK(LOCAL_OUT)},
	{.name = "security", .valid_hooks = HOOK(LOCAL_IN) | HOOK(FORWARD) | HOOK(LOCAL_OUT)},
};

/* Serialises everything, as xt[AF_INET].mutex and the table locks do. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *dir;
static char lock_path[PATH_MAX];
static unsigned int last_seq, last_committed;

/* ---------------------------------------------------------------- translate */

/* The result of checking a new table, before it replaces the old one. */
struct newinfo {
	unsigned int hook_entry[NF_INET_NUMHOOKS];
	unsigned int underflow[NF_INET_NUMHOOKS];
	unsigned int *offsets; /* entry start offsets, ascending */
	unsigned int number;
};

static struct ipt_entry *entry_at(unsigned char *base, unsigned int off)
{
	return (struct ipt_entry *)(base + off);
}

static struct xt_entry_target *target_of(struct ipt_entry *e)
{
	return (struct xt_entry_target *)((unsigned char *)e + e->target_offset);
}

static bool unconditional(const struct ipt_entry *e)
{
	static const struct ipt_ip uncond;

	return e->target_offset == sizeof(struct ipt_entry) &&
	       memcmp(&e->ip, &uncond, sizeof(uncond)) == 0;
}

static bool is_standard(struct ipt_entry *e)
{
	return strcmp(target_of(e)->u.user.name, XT_STANDARD_TARGET) == 0;
}

static int verdict_of(struct ipt_entry *e)
{
	return ((struct xt_standard_target *)target_of(e))->verdict;
}

static bool verdict_ok(int v)
{
	if (v > 0)
		return true;
	if (v == XT_RETURN)
		return true;
	return v == -NF_ACCEPT - 1 || v == -NF_DROP - 1 || v == -NF_QUEUE - 1;
}

/* An underflow (built-in chain policy) is an unconditional ACCEPT or DROP. */
static bool underflow_ok(struct ipt_entry *e)
{
	int v;

	if (!unconditional(e) || !is_standard(e))
		return false;
	v = verdict_of(e);
	return v == -NF_ACCEPT - 1 || v == -NF_DROP - 1;
}

/* xt_check_entry_offsets() and the match walk: the entry's pieces fit. */
static int check_offsets(struct ipt_entry *e)
{
	const struct xt_entry_target *t;
	unsigned int off;

	if (e->target_offset < sizeof(*e) ||
	    e->target_offset + sizeof(struct xt_entry_target) > e->next_offset)
		return -EINVAL;
	t = target_of(e);
	if (t->u.target_size < sizeof(*t) || e->target_offset + t->u.target_size > e->next_offset)
		return -EINVAL;
	if (is_standard(e)) {
		if (XT_ALIGN(e->target_offset + sizeof(struct xt_standard_target)) !=
		    e->next_offset)
			return -EINVAL;
		if (!verdict_ok(verdict_of(e)))
			return -EINVAL;
	} else if (strcmp(t->u.user.name, XT_ERROR_TARGET) == 0) {
		const struct xt_error_target *et = (const void *)t;

		if (t->u.target_size != sizeof(*et) ||
		    strnlen(et->errorname, sizeof(et->errorname)) == sizeof(et->errorname))
			return -EINVAL;
	}
	for (off = sizeof(*e); off < e->target_offset;) {
		const struct xt_entry_match *m = (const void *)((unsigned char *)e + off);
		unsigned int left = e->target_offset - off;

		if (off % __alignof__(struct xt_entry_match) || left < sizeof(*m) ||
		    m->u.match_size < sizeof(*m) || m->u.match_size > left)
			return -EINVAL;
		off += m->u.match_size;
	}
	return 0;
}

/* check_entry_size_and_hooks() for the entry at pos. */
static int check_entry(const struct ipt_replace *r, unsigned char *base, unsigned int pos,
		       struct newinfo *ni)
{
	struct ipt_entry *e = entry_at(base, pos);
	int err;

	if (pos % __alignof__(struct ipt_entry) || (size_t)pos + sizeof(*e) >= r->size ||
	    (size_t)pos + e->next_offset > r->size)
		return -EINVAL;
	if (e->next_offset < sizeof(*e) + sizeof(struct xt_entry_target))
		return -EINVAL;
	if (e->ip.flags & ~IPT_F_MASK || e->ip.invflags & ~IPT_INV_MASK)
		return -EINVAL;
	err = check_offsets(e);
	if (err)
		return err;
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		if (!(r->valid_hooks & (1U << h)))
			continue;
		if (pos == r->hook_entry[h])
			ni->hook_entry[h] = pos;
		if (pos == r->underflow[h]) {
			if (!underflow_ok(e))
				return -EINVAL;
			ni->underflow[h] = pos;
		}
	}
	e->counters = (struct xt_counters){0, 0};
	e->comefrom = 0;
	return 0;
}

/* xt_check_table_hooks(): every valid hook has an entry and an underflow, in order. */
static int check_hooks(const struct newinfo *ni, unsigned int valid_hooks)
{
	unsigned int max_entry = 0, max_uflow = 0;
	bool first = true;

	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		if (!(valid_hooks & (1U << h)))
			continue;
		if (ni->hook_entry[h] == NO_OFFSET || ni->underflow[h] == NO_OFFSET)
			return -EINVAL;
		if (!first && (max_uflow >= ni->underflow[h] || max_entry >= ni->hook_entry[h]))
			return -EINVAL;
		max_entry = ni->hook_entry[h];
		max_uflow = ni->underflow[h];
		first = false;
	}
	return 0;
}

static int index_of(const struct newinfo *ni, unsigned int off)
{
	unsigned int lo = 0, hi = ni->number;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (ni->offsets[mid] < off)
			lo = mid + 1;
		else if (ni->offsets[mid] > off)
			hi = mid;
		else
			return mid;
	}
	return -1;
}

/*
 * mark_source_chains(): walk every chain reachable from each hook, depth
 * first, the way the kernel does, so comefrom ends up as the kernel's (the
 * set of hooks an entry is reachable from) and a loop or a jump to nowhere
 * gives -ELOOP.  back[i] is where we came to entry i from (the kernel keeps
 * it in the counters).
 */
static int mark_chains(unsigned char *base, const struct newinfo *ni, unsigned int valid_hooks)
{
	_cleanup_free_ unsigned int *back = calloc(ni->number ? ni->number : 1, sizeof(*back));

	if (!back)
		return -ENOMEM;
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		int cur;

		if (!(valid_hooks & (1U << h)))
			continue;
		cur = index_of(ni, ni->hook_entry[h]);
		back[cur] = cur;
		for (;;) {
			struct ipt_entry *e = entry_at(base, ni->offsets[cur]);
			bool visited = e->comefrom & (1U << h);
			int next;

			if (e->comefrom & COMEFROM_WIP)
				return -ELOOP;
			e->comefrom |= (1U << h) | COMEFROM_WIP;

			if (visited || (unconditional(e) && is_standard(e) && verdict_of(e) < 0)) {
				int old;

				/* Return: unwind to the entry that jumped here. */
				do {
					e->comefrom &= ~COMEFROM_WIP;
					old = cur;
					cur = back[cur];
					if (cur == old)
						goto next_hook;
					e = entry_at(base, ni->offsets[cur]);
				} while (old == cur + 1);
				next = cur + 1;
			} else if (is_standard(e) && verdict_of(e) >= 0) {
				next = index_of(ni, verdict_of(e));
				if (next < 0)
					return -ELOOP;
			} else {
				next = cur + 1;
			}
			if ((unsigned int)next >= ni->number)
				return -ELOOP;
			back[next] = cur;
			cur = next;
		}
	next_hook:;
	}
	return 0;
}

/*
 * translate_table() minus the extension checks.  entries (r->size bytes) get
 * their counters and comefrom rewritten, as in the kernel.
 */
static int translate(const struct ipt_replace *r, unsigned char *entries, struct newinfo *ni)
{
	size_t max_entries = r->size / (sizeof(struct ipt_entry) + sizeof(struct xt_entry_target));
	unsigned int i = 0, pos;
	int err;

	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++)
		ni->hook_entry[h] = ni->underflow[h] = NO_OFFSET;
	if (r->num_entries > XT_MAX_TABLE_SIZE / sizeof(unsigned int))
		return -ENOMEM;
	/* Never more offsets than entries can fit: garbage counts cost nothing. */
	ni->offsets = calloc((r->num_entries < max_entries ? r->num_entries : max_entries) + 1,
			     sizeof(unsigned int));
	if (!ni->offsets)
		return -ENOMEM;
	for (pos = 0; pos < r->size; pos += entry_at(entries, pos)->next_offset) {
		err = check_entry(r, entries, pos, ni);
		if (err)
			return err;
		if (i < r->num_entries)
			ni->offsets[i] = pos;
		i++;
	}
	if (i != r->num_entries)
		return -EINVAL;
	ni->number = i;
	err = check_hooks(ni, r->valid_hooks);
	if (err)
		return err;
	return mark_chains(entries, ni, r->valid_hooks);
}

/* ---------------------------------------------------------------- files */

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

/* dir/name gets buf, through a temporary file and rename(). */
static int write_atomic(const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd, err;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.%d.tmp", dir, name, (int)getpid()) >=
		    sizeof(tmp))
		return -ENAMETOOLONG;
	fd = ipt2bpf_shim_real_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	err = write_all(fd, buf, len);
	if (ipt2bpf_shim_real_close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (!err)
		return 0;
	unlink(tmp);
fail:
	ipt2bpf_shim_log("cannot write %s: %s", path, strerror(-err));
	return err;
}

/* The committed tables in order of first commit, plus `adding` at the end. */
static int write_tables_list(const struct table *adding)
{
	char buf[ARRAY_SIZE(tables) * (XT_TABLE_MAXNAMELEN + 1)];
	size_t len = 0;

	for (unsigned int pos = 1; pos <= last_committed; pos++)
		for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
			if (tables[i].committed == pos)
				len += snprintf(buf + len, sizeof(buf) - len, "%s\n",
						tables[i].name);
	len += snprintf(buf + len, sizeof(buf) - len, "%s\n", adding->name);
	return write_atomic(TABLES_FILE, buf, len);
}

static int read_file(const char *path, unsigned char **data, size_t *len)
{
	int fd = ipt2bpf_shim_real_open(path, O_RDONLY | O_CLOEXEC, 0);
	struct stat st;
	size_t off = 0;
	int err = 0;

	*data = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	*len = st.st_size;
	*data = malloc(*len + 1);
	if (!*data) {
		err = -ENOMEM;
		goto out;
	}
	while (off < *len) {
		ssize_t n = read(fd, *data + off, *len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			goto out;
		}
		off += n;
	}
	(*data)[*len] = 0;
out:
	ipt2bpf_shim_real_close(fd);
	if (err) {
		free(*data);
		*data = NULL;
	}
	return err;
}

/* ---------------------------------------------------------------- tables */

static struct table *table_named(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		if (!strcmp(tables[i].name, name))
			return &tables[i];
	return NULL;
}

static void install(struct table *t, const struct newinfo *ni, unsigned char *entries,
		    unsigned int size)
{
	free(t->entries);
	memcpy(t->hook_entry, ni->hook_entry, sizeof(t->hook_entry));
	memcpy(t->underflow, ni->underflow, sizeof(t->underflow));
	t->number = ni->number;
	t->size = size;
	t->entries = entries;
}

/* ipt_alloc_initial_table(): an ACCEPT policy per hook, then the ERROR end. */
static int initial_table(struct table *t)
{
	unsigned int nhooks = __builtin_popcount(t->valid_hooks);
	size_t size = nhooks * sizeof(struct std_entry) + sizeof(struct err_entry);
	struct ipt_replace r = {.valid_hooks = t->valid_hooks, .num_entries = nhooks + 1};
	_cleanup_free_ unsigned char *entries = calloc(1, size);
	struct newinfo ni = {0};
	struct err_entry *end;
	unsigned int off = 0;
	int err;

	if (!entries)
		return -ENOMEM;
	r.size = size;
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		struct std_entry *s = (struct std_entry *)(entries + off);

		if (!(t->valid_hooks & (1U << h)))
			continue;
		r.hook_entry[h] = r.underflow[h] = off;
		s->entry.target_offset = sizeof(s->entry);
		s->entry.next_offset = sizeof(*s);
		s->target.target.u.target_size = sizeof(s->target);
		s->target.verdict = -NF_ACCEPT - 1;
		off += sizeof(*s);
	}
	end = (struct err_entry *)(entries + off);
	end->entry.target_offset = sizeof(end->entry);
	end->entry.next_offset = sizeof(*end);
	end->target.target.u.target_size = sizeof(end->target);
	strcpy(end->target.target.u.user.name, XT_ERROR_TARGET);
	strcpy(end->target.errorname, "ERROR");

	err = translate(&r, entries, &ni);
	free(ni.offsets);
	if (err)
		return err;
	install(t, &ni, TAKE_PTR(entries), size);
	return 0;
}

/* A table captured by an earlier process in the same directory. */
static int saved_table(struct table *t, const char *path)
{
	_cleanup_free_ unsigned char *data = NULL;
	struct ipt_replace r;
	struct newinfo ni = {0};
	unsigned char *entries;
	size_t len;
	int err;

	err = read_file(path, &data, &len);
	if (err)
		return err;
	memcpy(&r, data, len < sizeof(r) ? len : sizeof(r));
	if (len < sizeof(r) || len - sizeof(r) != r.size || r.valid_hooks != t->valid_hooks ||
	    strncmp(r.name, t->name, sizeof(r.name))) {
		ipt2bpf_shim_log("%s: not a captured '%s' table", path, t->name);
		return -EINVAL;
	}
	entries = malloc(r.size ? r.size : 1);
	if (!entries)
		return -ENOMEM;
	memcpy(entries, data + sizeof(r), r.size);
	err = translate(&r, entries, &ni);
	free(ni.offsets);
	if (err) {
		ipt2bpf_shim_log("%s: rejected (%s)", path, strerror(-err));
		free(entries);
		return err;
	}
	install(t, &ni, entries, r.size);
	return 0;
}

/* xt_find_table_lock(): a known table comes to life on first use. */
static int find_table(const char *name, struct table **out)
{
	struct table *t = table_named(name);
	char path[PATH_MAX];
	int err;

	if (!t)
		return -ENOENT;
	if (!t->seq) {
		snprintf(path, sizeof(path), "%s/%s%s", dir, t->name, BLOB_SUFFIX);
		err = saved_table(t, path);
		if (err == -ENOENT)
			err = initial_table(t);
		if (err)
			return err;
		t->seq = ++last_seq;
	}
	*out = t;
	return 0;
}

/* ---------------------------------------------------------------- IPT_SO_* */

static int do_get_info(void *user, int len)
{
	struct ipt_getinfo info;
	char name[XT_TABLE_MAXNAMELEN];
	struct table *t;
	int err;

	if (len != sizeof(info))
		return -EINVAL;
	if (ipt2bpf_shim_copy_in(name, user, sizeof(name)))
		return -EFAULT;
	name[sizeof(name) - 1] = '\0';
	err = find_table(name, &t);
	if (err)
		return err;
	memset(&info, 0, sizeof(info));
	strcpy(info.name, name);
	info.valid_hooks = t->valid_hooks;
	memcpy(info.hook_entry, t->hook_entry, sizeof(info.hook_entry));
	memcpy(info.underflow, t->underflow, sizeof(info.underflow));
	info.num_entries = t->number;
	info.size = t->size;
	return ipt2bpf_shim_copy_out(user, &info, sizeof(info));
}

static int do_get_entries(void *user, int len)
{
	struct ipt_get_entries get;
	struct table *t;
	int err;

	if ((size_t)len < sizeof(get))
		return -EINVAL;
	if (ipt2bpf_shim_copy_in(&get, user, sizeof(get)))
		return -EFAULT;
	if ((size_t)len != sizeof(get) + get.size)
		return -EINVAL;
	get.name[sizeof(get.name) - 1] = '\0';
	err = find_table(get.name, &t);
	if (err)
		return err;
	if (get.size != t->size)
		return -EAGAIN;
	return ipt2bpf_shim_copy_out((char *)user + offsetof(struct ipt_get_entries, entrytable),
				     t->entries, t->size);
}

/*
 * xt_find_revision() over the extensions ipt2bpf translates, so iptables
 * picks a revision we can translate.  Extensions with no translated revision
 * at all are answered from everything the registry knows, as the kernel
 * would: the rules still parse and the validator names what it cannot
 * translate (and tables we do not compile, like raw or mangle, need not be
 * translatable).  The kernel's getsockopt returns 0 on success, not the
 * revision.
 */
static int do_get_revision(void *user, int len, bool target)
{
	struct xt_get_revision rev;
	int ret;

	if (len != sizeof(rev))
		return -EINVAL;
	if (ipt2bpf_shim_copy_in(&rev, user, sizeof(rev)))
		return -EFAULT;
	rev.name[sizeof(rev.name) - 1] = '\0';
	ret = ipt2bpf_ext_revision(rev.name, rev.revision, target);
	if (ret == -ENOENT)
		ret = ipt2bpf_ext_revision_known(rev.name, rev.revision, target);
	return ret < 0 ? ret : 0;
}

static int do_replace(const void *user, unsigned int len)
{
	struct ipt_replace r;
	_cleanup_free_ unsigned char *raw = NULL; /* what the caller sent, for the blob */
	_cleanup_free_ unsigned char *entries = NULL;
	_cleanup_free_ struct xt_counters *old = NULL;
	struct newinfo ni = {0};
	struct table *t;
	char blob[XT_TABLE_MAXNAMELEN + sizeof(BLOB_SUFFIX)];
	int err;

	if (len < sizeof(r))
		return -EINVAL;
	if (ipt2bpf_shim_copy_in(&r, user, sizeof(r)))
		return -EFAULT;
	if (r.num_counters >= INT_MAX / sizeof(struct xt_counters))
		return -ENOMEM;
	if (r.num_counters == 0)
		return -EINVAL;
	if ((uint64_t)len < (uint64_t)r.size + sizeof(r))
		return -EINVAL;
	r.name[sizeof(r.name) - 1] = '\0';
	if (r.size >= XT_MAX_TABLE_SIZE)
		return -ENOMEM;
	raw = malloc(sizeof(r) + r.size);
	entries = malloc(r.size ? r.size : 1);
	if (!raw || !entries)
		return -ENOMEM;
	if (ipt2bpf_shim_copy_in(raw, user, sizeof(r) + r.size))
		return -EFAULT;
	memcpy(entries, raw + sizeof(r), r.size);

	err = translate(&r, entries, &ni);
	if (err)
		goto out;
	err = find_table(r.name, &t);
	if (err)
		goto out;
	if (r.valid_hooks != t->valid_hooks) {
		err = -EINVAL;
		goto out;
	}
	/* xt_replace_table(): iptables must have seen the current table. */
	if (r.num_counters != t->number) {
		err = -EAGAIN;
		goto out;
	}
	old = calloc(t->number, sizeof(*old));
	if (!old) {
		err = -ENOMEM;
		goto out;
	}

	snprintf(blob, sizeof(blob), "%s%s", t->name, BLOB_SUFFIX);
	err = write_atomic(blob, raw, sizeof(r) + r.size);
	if (!err && !t->committed)
		err = write_tables_list(t);
	if (err)
		goto out;
	if (!t->committed)
		t->committed = ++last_committed;

	/* get_old_counters(), then swap. */
	for (unsigned int i = 0, pos = 0; i < t->number; i++) {
		const struct ipt_entry *e = entry_at(t->entries, pos);

		old[i] = e->counters;
		pos += e->next_offset;
	}
	install(t, &ni, TAKE_PTR(entries), r.size);
	/* Like the kernel: the new table is in place, a bad pointer is silently ignored. */
	ipt2bpf_shim_copy_out(r.counters, old, r.num_counters * sizeof(*old));
out:
	free(ni.offsets);
	return err;
}

static int do_add_counters(const void *user, unsigned int len)
{
	struct xt_counters_info info;
	_cleanup_free_ struct xt_counters *add = NULL;
	struct table *t;
	unsigned int pos = 0;
	int err;

	if (len <= sizeof(info))
		return -EINVAL;
	len -= sizeof(info);
	if (ipt2bpf_shim_copy_in(&info, user, sizeof(info)))
		return -EFAULT;
	info.name[sizeof(info.name) - 1] = '\0';
	if ((uint64_t)info.num_counters * sizeof(struct xt_counters) != len)
		return -EINVAL;
	add = malloc(len);
	if (!add)
		return -ENOMEM;
	if (ipt2bpf_shim_copy_in(add, (const char *)user + sizeof(info), len))
		return -EFAULT;
	err = find_table(info.name, &t);
	if (err)
		return err;
	if (t->number != info.num_counters)
		return -EINVAL;
	for (unsigned int i = 0; i < t->number; i++) {
		struct ipt_entry *e = entry_at(t->entries, pos);

		e->counters.bcnt += add[i].bcnt;
		e->counters.pcnt += add[i].pcnt;
		pos += e->next_offset;
	}
	return 0;
}

/* ---------------------------------------------------------------- backend */

#define LOCKED(call)                                                                               \
	({                                                                                         \
		int _r;                                                                            \
		pthread_mutex_lock(&lock);                                                         \
		_r = (call);                                                                       \
		pthread_mutex_unlock(&lock);                                                       \
		_r;                                                                                \
	})

static int capture_get_info(void *user, int len)
{
	return LOCKED(do_get_info(user, len));
}

static int capture_get_entries(void *user, int len)
{
	return LOCKED(do_get_entries(user, len));
}

static int capture_get_revision(void *user, int len, bool target)
{
	return do_get_revision(user, len, target);
}

static int capture_set_replace(const void *user, unsigned int len)
{
	return LOCKED(do_replace(user, len));
}

static int capture_set_add_counters(const void *user, unsigned int len)
{
	return LOCKED(do_add_counters(user, len));
}

/*
 * Newest first, like the kernel's list_add() of each new table.  Tables an
 * earlier process committed to the directory exist, as in a kernel that kept
 * them: they come to life now, in commit order.
 */
static int do_table_names(char *buf, size_t len)
{
	size_t n = 0;

	for (unsigned int pos = 1; pos <= last_committed; pos++)
		for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
			struct table *t;
			int err;

			if (tables[i].committed != pos || tables[i].seq)
				continue;
			err = find_table(tables[i].name, &t);
			if (err)
				return err;
		}

	for (unsigned int seq = last_seq; seq > 0; seq--)
		for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
			if (tables[i].seq == seq) {
				int w = snprintf(buf + (n < len ? n : 0), n < len ? len - n : 0,
						 "%s\n", tables[i].name);

				n += w;
			}
	return n > INT_MAX ? -E2BIG : (int)n;
}

static int capture_table_names(char *buf, size_t len)
{
	return LOCKED(do_table_names(buf, len));
}

static const char *capture_lock_path(void)
{
	return lock_path;
}

/* Tables already committed by an earlier process keep their place in `tables`. */
static void read_tables_list(void)
{
	_cleanup_free_ unsigned char *data = NULL;
	char path[PATH_MAX];
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, TABLES_FILE);
	if (read_file(path, &data, &len))
		return;
	for (char *save, *name = strtok_r((char *)data, "\n", &save); name;
	     name = strtok_r(NULL, "\n", &save)) {
		struct table *t = table_named(name);

		if (t && !t->committed)
			t->committed = ++last_committed;
	}
}

static int capture_init(void)
{
	int fd, err;

	dir = getenv(IPT2BPF_SHIM_ENV_CAPTURE_DIR);
	if (!dir || !*dir) {
		ipt2bpf_shim_log("capture mode needs %s (an existing directory)",
				 IPT2BPF_SHIM_ENV_CAPTURE_DIR);
		return -EINVAL;
	}
	/* Not stat(): that is one of ours, and we are inside the mode's pthread_once. */
	fd = ipt2bpf_shim_real_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		ipt2bpf_shim_log("%s=%s: %s", IPT2BPF_SHIM_ENV_CAPTURE_DIR, dir, strerror(-err));
		return err;
	}
	ipt2bpf_shim_real_close(fd);
	/* Room for the longest file name we write there. */
	if (strlen(dir) + XT_TABLE_MAXNAMELEN + sizeof(BLOB_SUFFIX) + 32 >= PATH_MAX)
		return -ENAMETOOLONG;
	snprintf(lock_path, sizeof(lock_path), "%s/%s", dir, LOCK_FILE);
	read_tables_list();
	return 0;
}

const struct ipt2bpf_shim_backend ipt2bpf_shim_capture = {
	.name = "capture",
	.init = capture_init,
	.get_info = capture_get_info,
	.get_entries = capture_get_entries,
	.get_revision = capture_get_revision,
	.set_replace = capture_set_replace,
	.set_add_counters = capture_set_add_counters,
	.table_names = capture_table_names,
	.lock_path = capture_lock_path,
};
