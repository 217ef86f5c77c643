// SPDX-License-Identifier: GPL-2.0
/*
 * The ip_tables state of one network namespace, as ipt2bpf-umh keeps it:
 * IPT_SO_* with the checks, order of checks and errnos of the kernel's
 * net/ipv4/netfilter/ip_tables.c (get_info, get_entries, do_replace,
 * __do_replace, do_add_counters, the GET_REVISION case) and x_tables.c
 * (xt_copy_counters, xt_find_revision).
 *
 * A replace is validated with the kernel's rules (translator/validate.c),
 * decoded (a rule the translator cannot do exactly is refused here, before
 * anything changes), and handed to the backend, which puts it in force
 * atomically; only then does the table here change, so a refused or failed
 * replace leaves the old rules in force and in view.  As in the kernel, the
 * new rules' counters start at zero and the old ones go back to the caller,
 * which adds what it wants kept with SET_ADD_COUNTERS.
 *
 * Each table keeps the SET_REPLACE buffer exactly as sent (the backend pins
 * those bytes; a later commit of an unchanged table must hand over the very
 * same bytes so that its counters carry over) and the comefrom masks the
 * kernel's mark_source_chains() would leave in its copy, which GET_ENTRIES
 * reports.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/xt_connlimit.h>
#include <linux/netfilter/xt_hashlimit.h>
#include <linux/netfilter/xt_limit.h>
#include <linux/netfilter/xt_quota.h>
#include <linux/netfilter/xt_statistic.h>
#include <linux/netfilter/xt_string.h>

#include "umh_proto.h"
#include "../translator/ext.h"
#include "../translator/util.h"
#include "../translator/validate.h"

/* x_tables.c: xt_alloc_table_info() refuses sizeof(xt_table_info) + size from here. */
#define XT_MAX_TABLE_SIZE  (512U * 1024 * 1024)
#define XT_TABLE_INFO_SIZE 64U
#define NO_OFFSET	   0xFFFFFFFFU /* translate_table()'s "hook not in this table" */
#define ON_PATH		   (1U << NF_INET_NUMHOOKS)
#define HOOK(h)		   (1U << NF_INET_##h)

/* The std and error entries of an initial table (not in the uapi headers). */
struct std_entry {
	struct ipt_entry entry;
	struct xt_standard_target target;
};

struct err_entry {
	struct ipt_entry entry;
	struct xt_error_target target;
};

struct utable {
	const char *name;
	unsigned int valid_hooks;
	unsigned int seq;	  /* instantiation order, 0: does not exist yet */
	bool committed;		  /* in force through the backend */
	struct ipt_replace *repl; /* the SET_REPLACE buffer as sent (initial: built here) */
	size_t len;
	struct ipt2bpf_table *ir;
	uint32_t *comefrom;	 /* per entry, as mark_source_chains() leaves it */
	struct xt_counters *mem; /* counters while not committed (ADD_COUNTERS), or NULL */
};

struct ipt2bpf_umh {
	struct ipt2bpf_umh_opts o;
	struct utable tables[IPT2BPF_UMH_TABLES]; /* in the order the hooks run them */
	unsigned int last_seq;
};

/* iptable_filter.c and iptable_security.c: the same three hooks. */
static const struct {
	const char *name;
	unsigned int valid_hooks;
} served[IPT2BPF_UMH_TABLES] = {
	{"filter", HOOK(LOCAL_IN) | HOOK(FORWARD) | HOOK(LOCAL_OUT)},
	{"security", HOOK(LOCAL_IN) | HOOK(FORWARD) | HOOK(LOCAL_OUT)},
};

/*
 * Extensions whose kernel state sits at the end of their data (usersize in
 * the kernel's xt_match/xt_target): copy_entries_to_user() hands back zeros
 * from there on, whatever iptables sent.
 */
static const struct {
	const char *name;
	bool target;
	int revision; /* -1: any */
	size_t usersize;
} kernel_private[] = {
	{"limit", false, -1, offsetof(struct xt_rateinfo, prev)},
	{"hashlimit", false, 1, offsetof(struct xt_hashlimit_mtinfo1, hinfo)},
	{"hashlimit", false, 2, offsetof(struct xt_hashlimit_mtinfo2, hinfo)},
	{"hashlimit", false, 3, offsetof(struct xt_hashlimit_mtinfo3, hinfo)},
	{"quota", false, -1, offsetof(struct xt_quota_info, master)},
	{"statistic", false, -1, offsetof(struct xt_statistic_info, master)},
	{"string", false, -1, offsetof(struct xt_string_info, config)},
	{"connlimit", false, -1, offsetof(struct xt_connlimit_info, data)},
};

/* ------------------------------------------------------------ tables */

static struct utable *table_find(struct ipt2bpf_umh *u, const char *name)
{
	for (unsigned int i = 0; i < IPT2BPF_UMH_TABLES; i++)
		if (!strcmp(u->tables[i].name, name))
			return &u->tables[i];
	return NULL;
}

static void table_clear(struct utable *t)
{
	free(t->repl);
	ipt2bpf_table_free(t->ir);
	free(t->comefrom);
	free(t->mem);
	t->repl = NULL;
	t->ir = NULL;
	t->comefrom = NULL;
	t->mem = NULL;
	t->len = 0;
	t->seq = 0;
	t->committed = false;
}

static const struct ipt_entry *entry_at(const struct ipt_replace *r, unsigned int off)
{
	return (const struct ipt_entry *)((const unsigned char *)r->entries + off);
}

static const struct xt_entry_target *target_of(const struct ipt_entry *e)
{
	return (const struct xt_entry_target *)((const unsigned char *)e + e->target_offset);
}

static bool unconditional(const struct ipt_entry *e)
{
	static const struct ipt_ip uncond;

	return e->target_offset == sizeof(struct ipt_entry) &&
	       memcmp(&e->ip, &uncond, sizeof(uncond)) == 0;
}

/* The entry starting at byte offset off (entries are in offset order), or n_entries. */
static unsigned int entry_index(const struct ipt2bpf_table *ir, unsigned int off)
{
	unsigned int lo = 0, hi = ir->n_entries;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (ir->entries[mid].offset < off)
			lo = mid + 1;
		else if (ir->entries[mid].offset > off)
			hi = mid;
		else
			return mid;
	}
	return ir->n_entries;
}

/*
 * mark_source_chains() on a validated table: walks every chain reachable from
 * each hook the kernel's way (a jump pushes a back pointer, an unconditional
 * negative verdict or an entry already seen from this hook returns through
 * the fall-through run to the last jump) and records in cf[] the hooks each
 * entry is reachable from, which is what the kernel leaves in comefrom.
 */
static int mark_comefrom(const struct ipt_replace *r, const struct ipt2bpf_table *ir, uint32_t *cf)
{
	_cleanup_free_ unsigned int *back = calloc(ir->n_entries + 1, sizeof(*back));

	if (!back)
		return -ENOMEM;
	memset(cf, 0, ir->n_entries * sizeof(*cf));
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		unsigned int cur;

		if (!(ir->valid_hooks & (1U << h)))
			continue;
		cur = ir->hook_entry[h];
		back[cur] = cur;
		for (;;) {
			const struct ipt_entry *e = entry_at(r, ir->entries[cur].offset);
			const struct xt_entry_target *t = target_of(e);
			bool standard = !strcmp(t->u.user.name, XT_STANDARD_TARGET);
			int verdict =
				standard ? ((const struct xt_standard_target *)t)->verdict : 0;
			bool visited = cf[cur] & (1U << h);
			unsigned int next;

			cf[cur] |= (1U << h) | ON_PATH;
			if ((unconditional(e) && standard && verdict < 0) || visited) {
				unsigned int old;

				do {
					cf[cur] ^= ON_PATH;
					old = cur;
					cur = back[cur];
					if (cur == old)
						goto next_hook;
				} while (old == cur + 1);
				next = cur + 1;
			} else if (standard && verdict >= 0) {
				next = entry_index(ir, (unsigned int)verdict);
			} else {
				next = cur + 1;
			}
			/* The validator proved every path ends: anything else is our bug. */
			if (next >= ir->n_entries)
				return -ELOOP;
			back[next] = cur;
			cur = next;
		}
	next_hook:;
	}
	return 0;
}

/* Makes repl (owned from here) the table's content. */
static int table_install(struct utable *t, struct ipt_replace *repl, size_t len,
			 struct ipt2bpf_diag *diag)
{
	_free_ipt2bpf_table_ struct ipt2bpf_table *ir = NULL;
	_cleanup_free_ struct ipt_replace *owned = repl;
	_cleanup_free_ uint32_t *cf = NULL;
	int err;

	err = ipt2bpf_table_decode(repl, len, &ir, diag);
	if (err)
		return err;
	cf = calloc(ir->n_entries + 1, sizeof(*cf));
	if (!cf)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	err = mark_comefrom(repl, ir, cf);
	if (err)
		return ipt2bpf_diag_set(diag, err, "%s: chains do not end (internal error)",
					t->name);
	free(t->repl);
	ipt2bpf_table_free(t->ir);
	free(t->comefrom);
	t->repl = TAKE_PTR(owned);
	t->len = len;
	t->ir = TAKE_PTR(ir);
	t->comefrom = TAKE_PTR(cf);
	return 0;
}

/* ipt_alloc_initial_table(): an ACCEPT policy per hook, then the ERROR end. */
static int table_initial(struct utable *t, struct ipt2bpf_diag *diag)
{
	unsigned int nhooks = __builtin_popcount(t->valid_hooks), off = 0;
	size_t size = nhooks * sizeof(struct std_entry) + sizeof(struct err_entry);
	struct ipt_replace *r = calloc(1, sizeof(*r) + size);
	struct err_entry *end;
	int err;

	if (!r)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	snprintf(r->name, sizeof(r->name), "%s", t->name);
	r->valid_hooks = t->valid_hooks;
	r->num_entries = nhooks + 1;
	r->size = size;
	r->num_counters = nhooks + 1;
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		struct std_entry *s = (struct std_entry *)((unsigned char *)r->entries + off);

		r->hook_entry[h] = r->underflow[h] = 0;
		if (!(t->valid_hooks & (1U << h)))
			continue;
		r->hook_entry[h] = r->underflow[h] = off;
		s->entry.target_offset = sizeof(s->entry);
		s->entry.next_offset = sizeof(*s);
		s->target.target.u.target_size = sizeof(s->target);
		s->target.verdict = -NF_ACCEPT - 1;
		off += sizeof(*s);
	}
	end = (struct err_entry *)((unsigned char *)r->entries + off);
	end->entry.target_offset = sizeof(end->entry);
	end->entry.next_offset = sizeof(*end);
	end->target.target.u.target_size = sizeof(end->target);
	snprintf(end->target.target.u.user.name, sizeof(end->target.target.u.user.name), "%s",
		 XT_ERROR_TARGET);
	snprintf(end->target.errorname, sizeof(end->target.errorname), "ERROR");

	err = ipt2bpf_validate(r, sizeof(*r) + size, diag);
	if (err) {
		free(r);
		return err;
	}
	return table_install(t, r, sizeof(*r) + size, diag);
}

/* xt_find_table_lock(): a table we serve comes to life on first use. */
static int table_get(struct ipt2bpf_umh *u, const char *name, struct utable **out,
		     struct ipt2bpf_diag *diag)
{
	struct utable *t = table_find(u, name);
	int err;

	*out = NULL;
	if (!t) {
		if (u->o.kernel_tables)
			return -ENOPROTOOPT;
		return ipt2bpf_diag_set(diag, -ENOENT,
					"table '%s' does not exist: ipt2bpf-umh serves filter and "
					"security",
					name);
	}
	if (!t->seq) {
		if (!t->repl) {
			err = table_initial(t, diag);
			if (err)
				return err;
		}
		t->seq = ++u->last_seq;
	}
	*out = t;
	return 0;
}

/* The table's live counters: the backend's once committed, else the ones kept here. */
static int table_counters(struct ipt2bpf_umh *u, const struct utable *t, struct xt_counters *out,
			  struct ipt2bpf_diag *diag)
{
	unsigned int n = t->ir->n_entries;

	if (t->committed)
		return u->o.backend->counters(u->o.backend_ctx, t->name, out, n, diag);
	if (t->mem)
		memcpy(out, t->mem, n * sizeof(*out));
	else
		memset(out, 0, n * sizeof(*out));
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

int ipt2bpf_umh_new(const struct ipt2bpf_umh_opts *opts, struct ipt2bpf_umh **out)
{
	struct ipt2bpf_umh *u = calloc(1, sizeof(*u));

	*out = NULL;
	if (!u)
		return -ENOMEM;
	if (!opts || !opts->backend) {
		free(u);
		return -EINVAL;
	}
	u->o = *opts;
	for (unsigned int i = 0; i < IPT2BPF_UMH_TABLES; i++) {
		u->tables[i].name = served[i].name;
		u->tables[i].valid_hooks = served[i].valid_hooks;
	}
	*out = u;
	return 0;
}

void ipt2bpf_umh_reset(struct ipt2bpf_umh *u)
{
	for (unsigned int i = 0; i < IPT2BPF_UMH_TABLES; i++)
		table_clear(&u->tables[i]);
	u->last_seq = 0;
}

void ipt2bpf_umh_free(struct ipt2bpf_umh *u)
{
	if (!u)
		return;
	ipt2bpf_umh_reset(u);
	free(u);
}

bool ipt2bpf_umh_kernel_tables(const struct ipt2bpf_umh *u)
{
	return u->o.kernel_tables;
}

int ipt2bpf_umh_instantiate(struct ipt2bpf_umh *u, const char *name)
{
	struct ipt2bpf_diag d = {0};
	struct utable *t;

	if (!table_find(u, name))
		return -ENOENT;
	return table_get(u, name, &t, &d);
}

int ipt2bpf_umh_adopt(struct ipt2bpf_umh *u, const struct ipt_replace *repl, size_t len,
		      struct ipt2bpf_diag *diag)
{
	char name[XT_TABLE_MAXNAMELEN];
	struct ipt_replace *copy;
	struct utable *t;
	int err;

	if (len < sizeof(*repl))
		return ipt2bpf_diag_set(diag, -EINVAL, "adopted table: %zu bytes", len);
	err = ipt2bpf_validate(repl, len, diag);
	if (err)
		return err;
	snprintf(name, sizeof(name), "%s", repl->name);
	t = table_find(u, name);
	if (!t)
		return ipt2bpf_diag_set(diag, -ENOENT, "adopted table '%s': not served", name);
	copy = malloc(len);
	if (!copy)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	memcpy(copy, repl, len);
	err = table_install(t, copy, len, diag);
	if (err)
		return err;
	free(t->mem);
	t->mem = NULL;
	t->committed = true;
	if (!t->seq)
		t->seq = ++u->last_seq;
	return 0;
}

size_t ipt2bpf_umh_table_names(const struct ipt2bpf_umh *u, char *buf, size_t len)
{
	size_t n = 0;

	for (unsigned int seq = u->last_seq; seq > 0; seq--)
		for (unsigned int i = 0; i < IPT2BPF_UMH_TABLES; i++) {
			if (u->tables[i].seq != seq)
				continue;
			n += snprintf(buf + (n < len ? n : 0), n < len ? len - n : 0, "%s\n",
				      u->tables[i].name);
		}
	return n;
}

size_t ipt2bpf_umh_table_order(const struct ipt2bpf_umh *u, char *buf, size_t len)
{
	size_t n = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned int seq = 1; seq <= u->last_seq; seq++)
		for (unsigned int i = 0; i < IPT2BPF_UMH_TABLES; i++) {
			if (u->tables[i].seq != seq)
				continue;
			n += snprintf(buf + (n < len ? n : 0), n < len ? len - n : 0, "%s%s",
				      n ? " " : "", u->tables[i].name);
		}
	return n;
}

/* ------------------------------------------------------------ IPT_SO_GET_* */

static int get_info(struct ipt2bpf_umh *u, uint64_t addr, uint32_t len,
		    const struct ipt2bpf_umh_io *io, struct ipt2bpf_diag *diag)
{
	char name[XT_TABLE_MAXNAMELEN];
	struct ipt_getinfo info;
	struct utable *t;
	int err;

	if (len != sizeof(info))
		return -EINVAL;
	if (io->read(io->ctx, addr, name, sizeof(name)))
		return -EFAULT;
	name[sizeof(name) - 1] = '\0';
	err = table_get(u, name, &t, diag);
	if (err)
		return err;
	memset(&info, 0, sizeof(info));
	info.valid_hooks = t->valid_hooks;
	for (unsigned int h = 0; h < NF_INET_NUMHOOKS; h++) {
		bool valid = t->valid_hooks & (1U << h);

		info.hook_entry[h] = valid ? t->repl->hook_entry[h] : NO_OFFSET;
		info.underflow[h] = valid ? t->repl->underflow[h] : NO_OFFSET;
	}
	info.num_entries = t->ir->n_entries;
	info.size = t->repl->size;
	memcpy(info.name, name, sizeof(name));
	return io->write(io->ctx, addr, &info, sizeof(info), false) ? -EFAULT : 0;
}

static size_t private_from(const struct xt_entry_match *m, bool target)
{
	for (size_t i = 0; i < ARRAY_SIZE(kernel_private); i++)
		if (kernel_private[i].target == target &&
		    !strcmp(kernel_private[i].name, m->u.user.name) &&
		    (kernel_private[i].revision < 0 ||
		     kernel_private[i].revision == m->u.user.revision))
			return sizeof(*m) + kernel_private[i].usersize;
	return SIZE_MAX;
}

/*
 * copy_entries_to_user(): the entries with the kernel's comefrom and the live
 * counters, extension data past its usersize cleared.
 */
static int entries_out(struct ipt2bpf_umh *u, const struct utable *t, unsigned char *out,
		       struct ipt2bpf_diag *diag)
{
	const struct ipt2bpf_table *ir = t->ir;
	_cleanup_free_ struct xt_counters *c = calloc(ir->n_entries + 1, sizeof(*c));
	int err;

	if (!c)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	err = table_counters(u, t, c, diag);
	if (err)
		return err;
	memcpy(out, t->repl->entries, t->repl->size);
	for (unsigned int i = 0; i < ir->n_entries; i++) {
		struct ipt_entry *e = (struct ipt_entry *)(out + ir->entries[i].offset);
		unsigned int off;

		e->comefrom = t->comefrom[i];
		e->counters = c[i];
		for (off = sizeof(*e); off < e->target_offset;) {
			struct xt_entry_match *m =
				(struct xt_entry_match *)((unsigned char *)e + off);
			size_t from = private_from(m, false);

			if (from < m->u.match_size)
				memset((unsigned char *)m + from, 0, m->u.match_size - from);
			off += m->u.match_size;
		}
	}
	return 0;
}

static int get_entries(struct ipt2bpf_umh *u, uint64_t addr, uint32_t len,
		       const struct ipt2bpf_umh_io *io, struct ipt2bpf_diag *diag)
{
	struct ipt_get_entries get;
	_cleanup_free_ unsigned char *out = NULL;
	struct utable *t;
	int err;

	if (len < sizeof(get))
		return -EINVAL;
	if (io->read(io->ctx, addr, &get, sizeof(get)))
		return -EFAULT;
	if ((uint64_t)len != sizeof(get) + (uint64_t)get.size)
		return -EINVAL;
	get.name[sizeof(get.name) - 1] = '\0';
	err = table_get(u, get.name, &t, diag);
	if (err)
		return err;
	if (get.size != t->repl->size)
		return -EAGAIN;
	out = malloc(t->repl->size ? t->repl->size : 1);
	if (!out)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	err = entries_out(u, t, out, diag);
	if (err)
		return err;
	if (io->write(io->ctx, addr + offsetof(struct ipt_get_entries, entrytable), out,
		      t->repl->size, false))
		return -EFAULT;
	return 0;
}

static int get_revision(struct ipt2bpf_umh *u, uint64_t addr, uint32_t len, bool target,
			const struct ipt2bpf_umh_io *io)
{
	struct xt_get_revision rev;
	int ret;

	if (len != sizeof(rev))
		return -EINVAL;
	if (io->read(io->ctx, addr, &rev, sizeof(rev)))
		return -EFAULT;
	rev.name[sizeof(rev.name) - 1] = '\0';
	/*
	 * Only what the translator does: iptables then never builds a rule we
	 * cannot run.  Extensions refused with a reason (and, with kernel
	 * tables, everything else) are the kernel's to answer: iptables then
	 * behaves as on the kernel, and the rule reaches us to be refused.
	 */
	ret = ipt2bpf_ext_revision(rev.name, rev.revision, target);
	if (ret == -ENOENT && (u->o.kernel_tables || ipt2bpf_ext_refused(rev.name, target)))
		return -ENOPROTOOPT;
	/* The kernel's handler returns the best revision, which never reaches the caller. */
	return ret < 0 ? ret : 0;
}

/* ------------------------------------------------------------ IPT_SO_SET_* */

/*
 * A backend failure where the kernel would have taken the table: keep the
 * errnos that still tell the truth, say "not supported" for the rest (a
 * verifier rejection, an attach failure), with the details in diag.
 */
static int commit_errno(int err)
{
	switch (err) {
	case -ENOMEM:
	case -E2BIG:
	case -ENOSPC:
	case -EOPNOTSUPP:
	case -EBUSY:
		return err;
	default:
		return -EOPNOTSUPP;
	}
}

static int do_replace(struct ipt2bpf_umh *u, uint64_t addr, uint32_t len,
		      const struct ipt2bpf_umh_io *io, struct ipt2bpf_diag *diag)
{
	struct ipt_replace r;
	_cleanup_free_ struct ipt_replace *buf = NULL;
	_free_ipt2bpf_table_ struct ipt2bpf_table *ir = NULL;
	_cleanup_free_ struct xt_counters *old = NULL;
	struct ipt2bpf_umh_commit c = {0};
	struct utable *t;
	size_t blen;
	int err;

	if (len < sizeof(r))
		return -EINVAL;
	if (io->read(io->ctx, addr, &r, sizeof(r)))
		return -EFAULT;
	if (r.num_counters >= INT_MAX / sizeof(struct xt_counters))
		return -ENOMEM;
	if (r.num_counters == 0)
		return -EINVAL;
	if ((uint64_t)len < (uint64_t)r.size + sizeof(r))
		return -EINVAL;
	r.name[sizeof(r.name) - 1] = '\0';
	if (u->o.kernel_tables && !table_find(u, r.name))
		return -ENOPROTOOPT;
	if ((uint64_t)r.size + XT_TABLE_INFO_SIZE >= XT_MAX_TABLE_SIZE)
		return ipt2bpf_diag_set(diag, -ENOMEM, "%s: %u bytes of rules is too large", r.name,
					r.size);
	blen = sizeof(r) + r.size;
	buf = malloc(blen);
	if (!buf)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	memcpy(buf, &r, sizeof(r));
	if (io->read(io->ctx, addr + sizeof(r), buf->entries, r.size))
		return -EFAULT;

	/* translate_table() and __do_replace()'s lookups, with the kernel's errnos. */
	err = ipt2bpf_validate(buf, blen, diag);
	if (err)
		return err;
	/* What the kernel would take but we cannot run exactly is refused here. */
	err = ipt2bpf_table_decode(buf, blen, &ir, diag);
	if (err)
		return err;
	err = table_get(u, r.name, &t, diag);
	if (err)
		return err;
	/* xt_replace_table(): the caller must have seen the table as it is. */
	if (r.num_counters != t->ir->n_entries)
		return ipt2bpf_diag_set(diag, -EAGAIN,
					"%s: changed since it was read (%u counters, the table "
					"has %u entries)",
					t->name, r.num_counters, t->ir->n_entries);

	old = calloc(t->ir->n_entries + 1, sizeof(*old));
	if (!old)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	for (unsigned int i = 0; i < IPT2BPF_UMH_TABLES; i++) {
		const struct utable *o = &u->tables[i];
		struct ipt2bpf_umh_commit_table *ct = &c.tables[c.n_tables];

		if (o == t) {
			*ct = (struct ipt2bpf_umh_commit_table){.name = o->name,
								.repl = buf,
								.len = blen,
								.ir = ir,
								.replaced = true};
			c.n_tables++;
		} else if (o->committed) {
			*ct = (struct ipt2bpf_umh_commit_table){
				.name = o->name, .repl = o->repl, .len = o->len, .ir = o->ir};
			c.n_tables++;
		}
	}
	c.old = old;
	c.old_n = t->ir->n_entries;
	err = u->o.backend->commit(u->o.backend_ctx, &c, diag);
	if (err)
		return commit_errno(err);
	if (!c.old_valid && t->mem)
		memcpy(old, t->mem, t->ir->n_entries * sizeof(*old));
	else if (!c.old_valid)
		memset(old, 0, t->ir->n_entries * sizeof(*old));

	/* In force: now the table here changes too (decoded once more; cannot fail but on ENOMEM).
	 */
	err = table_install(t, TAKE_PTR(buf), blen, diag);
	if (err)
		return err;
	free(t->mem);
	t->mem = NULL;
	t->committed = true;
	/* Like the kernel: the new table is in place, a bad pointer is only a pity. */
	io->write(io->ctx, (uint64_t)(uintptr_t)r.counters, old,
		  (size_t)r.num_counters * sizeof(*old), true);
	return 0;
}

static int add_counters(struct ipt2bpf_umh *u, uint64_t addr, uint32_t len,
			const struct ipt2bpf_umh_io *io, struct ipt2bpf_diag *diag)
{
	struct xt_counters_info info;
	_cleanup_free_ struct xt_counters *add = NULL;
	struct utable *t;
	size_t n;
	int err;

	/* xt_copy_counters() */
	if (len <= sizeof(info))
		return -EINVAL;
	n = len - sizeof(info);
	if (io->read(io->ctx, addr, &info, sizeof(info)))
		return -EFAULT;
	info.name[sizeof(info.name) - 1] = '\0';
	if ((uint64_t)info.num_counters * sizeof(struct xt_counters) != n)
		return -EINVAL;
	add = malloc(n);
	if (!add)
		return -ENOMEM;
	if (io->read(io->ctx, addr + sizeof(info), add, n))
		return -EFAULT;

	err = table_get(u, info.name, &t, diag);
	if (err)
		return err;
	if (t->ir->n_entries != info.num_counters)
		return -EINVAL;
	if (t->committed)
		return u->o.backend->add_counters(u->o.backend_ctx, t->name, add, info.num_counters,
						  diag);
	if (!t->mem) {
		t->mem = calloc(t->ir->n_entries, sizeof(*t->mem));
		if (!t->mem)
			return -ENOMEM;
	}
	for (unsigned int i = 0; i < info.num_counters; i++) {
		t->mem[i].pcnt += add[i].pcnt;
		t->mem[i].bcnt += add[i].bcnt;
	}
	return 0;
}

/* ------------------------------------------------------------ dispatch */

int ipt2bpf_umh_sockopt(struct ipt2bpf_umh *u, bool set, int cmd, uint64_t addr, uint32_t len,
			const struct ipt2bpf_umh_io *io, struct ipt2bpf_diag *diag)
{
	if (set) {
		switch (cmd) {
		case IPT_SO_SET_REPLACE:
			return do_replace(u, addr, len, io, diag);
		case IPT_SO_SET_ADD_COUNTERS:
			return add_counters(u, addr, len, io, diag);
		default:
			return -EINVAL;
		}
	}
	switch (cmd) {
	case IPT_SO_GET_INFO:
		return get_info(u, addr, len, io, diag);
	case IPT_SO_GET_ENTRIES:
		return get_entries(u, addr, len, io, diag);
	case IPT_SO_GET_REVISION_MATCH:
	case IPT_SO_GET_REVISION_TARGET:
		return get_revision(u, addr, len, cmd == IPT_SO_GET_REVISION_TARGET, io);
	default:
		return -EINVAL;
	}
}

/* ------------------------------------------------------------ in-memory backend */

struct mem_table {
	char name[XT_TABLE_MAXNAMELEN];
	struct xt_counters *c;
	unsigned int n;
};

struct ipt2bpf_umh_mem {
	struct mem_table t[IPT2BPF_UMH_TABLES];
	int fail;
};

struct ipt2bpf_umh_mem *ipt2bpf_umh_mem_new(void)
{
	return calloc(1, sizeof(struct ipt2bpf_umh_mem));
}

void ipt2bpf_umh_mem_free(struct ipt2bpf_umh_mem *m)
{
	if (!m)
		return;
	for (unsigned int i = 0; i < IPT2BPF_UMH_TABLES; i++)
		free(m->t[i].c);
	free(m);
}

void ipt2bpf_umh_mem_fail(struct ipt2bpf_umh_mem *m, int err)
{
	m->fail = err;
}

static struct mem_table *mem_find(struct ipt2bpf_umh_mem *m, const char *name, bool create)
{
	for (unsigned int i = 0; i < IPT2BPF_UMH_TABLES; i++)
		if (m->t[i].c && !strcmp(m->t[i].name, name))
			return &m->t[i];
	if (!create)
		return NULL;
	for (unsigned int i = 0; i < IPT2BPF_UMH_TABLES; i++)
		if (!m->t[i].c) {
			snprintf(m->t[i].name, sizeof(m->t[i].name), "%s", name);
			return &m->t[i];
		}
	return NULL;
}

int ipt2bpf_umh_mem_count(struct ipt2bpf_umh_mem *m, const char *table, unsigned int entry,
			  uint64_t pcnt, uint64_t bcnt)
{
	struct mem_table *t = mem_find(m, table, false);

	if (!t || entry >= t->n)
		return -ENOENT;
	t->c[entry].pcnt += pcnt;
	t->c[entry].bcnt += bcnt;
	return 0;
}

static int mem_commit(void *ctx, struct ipt2bpf_umh_commit *c, struct ipt2bpf_diag *diag)
{
	struct ipt2bpf_umh_mem *m = ctx;

	if (m->fail)
		return ipt2bpf_diag_set(diag, m->fail, "commit failed (injected: %s)",
					strerror(-m->fail));
	for (unsigned int i = 0; i < c->n_tables; i++) {
		const struct ipt2bpf_umh_commit_table *ct = &c->tables[i];
		struct mem_table *t = mem_find(m, ct->name, true);
		unsigned int n = ct->ir->n_entries;
		struct xt_counters *nc;

		if (!t)
			return ipt2bpf_diag_set(diag, -ENOSPC, "no room for table %s", ct->name);
		if (!ct->replaced && t->c && t->n == n)
			continue;
		nc = calloc(n + 1, sizeof(*nc));
		if (!nc)
			return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
		if (ct->replaced && t->c) {
			memcpy(c->old, t->c, (t->n < c->old_n ? t->n : c->old_n) * sizeof(*c->old));
			c->old_valid = true;
		}
		free(t->c);
		t->c = nc;
		t->n = n;
	}
	return 0;
}

static int mem_counters(void *ctx, const char *table, struct xt_counters *out, unsigned int n,
			struct ipt2bpf_diag *diag)
{
	struct mem_table *t = mem_find(ctx, table, false);

	if (!t || t->n != n)
		return ipt2bpf_diag_set(diag, -ENOENT, "%s: not committed", table);
	memcpy(out, t->c, n * sizeof(*out));
	return 0;
}

static int mem_add_counters(void *ctx, const char *table, const struct xt_counters *add,
			    unsigned int n, struct ipt2bpf_diag *diag)
{
	struct mem_table *t = mem_find(ctx, table, false);

	if (!t || t->n != n)
		return ipt2bpf_diag_set(diag, -ENOENT, "%s: not committed", table);
	for (unsigned int i = 0; i < n; i++) {
		t->c[i].pcnt += add[i].pcnt;
		t->c[i].bcnt += add[i].bcnt;
	}
	return 0;
}

const struct ipt2bpf_umh_backend ipt2bpf_umh_backend_mem = {
	.commit = mem_commit,
	.counters = mem_counters,
	.add_counters = mem_add_counters,
};
