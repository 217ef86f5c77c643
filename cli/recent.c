// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf recent: the -m recent lists of the rule set loaded in this
 * network namespace, what /proc/net/xt_recent/NAME is for the kernel:
 * list them, add ("+ADDR"), remove ("-ADDR") or flush ("/") an address.
 * A list exists while the loaded rules name it.  The maps are found pinned
 * in the runtime's state directory (shared/, else the current generation).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "codegen/host.h"
#include "codegen/recent.h"
#include "translator/util.h"
#include "umh/rt_internal.h" /* rt_path(): the state directory as this process reaches it */
#include "umh/runtime.h"

enum rc_action { RC_LIST, RC_ADD, RC_REMOVE, RC_FLUSH };

struct rc_cli {
	int head, idx, slot; /* map fds */
	uint32_t tot;	     /* ip_list_tot */
	uint64_t now;	     /* jiffies */
	bool json, first;
	bool headers; /* text: a "NAME:" line before each list (every list shown) */
};

static void recent_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s recent [-n NAME] [--list | --add ADDR | --remove ADDR | --flush] "
		"[--json]\n"
		"                      [--bpffs DIR]\n"
		"\n"
		"The -m recent lists of the rule set `ipt2bpf load` put in force in this network\n"
		"namespace, as /proc/net/xt_recent/NAME shows and takes them:\n"
		"  -n, --name NAME  the list (default: every list; --add/--remove need one,\n"
		"                   DEFAULT is iptables' default name)\n"
		"  --list           entries: src=ADDR ttl: T last_seen: JIFFIES oldest_pkt: I "
		"STAMPS\n"
		"  --add ADDR       like echo +ADDR: a new entry, or a new stamp for an old one\n"
		"  --remove ADDR    like echo -ADDR\n"
		"  --flush          like echo /: empty the list (every list without -n)\n"
		"  --json           {\"lists\":[{\"name\":..,\"entries\":[{\"src\":..,\"ttl\":..,\n"
		"                   \"last_seen\":..,\"oldest_pkt\":..,\"stamps\":[..]}]}]}\n"
		"  --bpffs DIR      bpffs mount point (default /sys/fs/bpf)\n",
		cli_prog);
}

/* jiffies now: /proc/timer_list has the kernel's own count; else an estimate from uptime. */
static uint64_t rc_jiffies(void)
{
	unsigned long long j = 0;
	struct timespec ts;
	char line[256];
	FILE *f = fopen("/proc/timer_list", "re");

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "jiffies: %llu", &j) == 1)
				break;
		fclose(f);
		if (j)
			return j;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* INITIAL_JIFFIES is -300 * HZ as an unsigned int */
	return (uint32_t)(-300 * (int32_t)ipt2bpf_host_hz()) +
	       ((uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec) / ipt2bpf_host_ns_per_jiffy();
}

static int rc_open_map(const struct ipt2bpf_runtime *rt, const char *name)
{
	char path[PATH_MAX];
	int fd = -1;

	if (!rt_path(rt, path, sizeof(path), "shared/%s", name))
		fd = bpf_obj_get(path);
	if (fd < 0 && !rt_path(rt, path, sizeof(path), "current/map_%s", name))
		fd = bpf_obj_get(path);
	return fd;
}

static bool rc_live(const struct ipt2bpf_rc_head *h, const struct ipt2bpf_rc_ent *e)
{
	return e->used && e->epoch == h->epoch;
}

static int rc_get_slot(struct rc_cli *c, uint32_t list, uint32_t slot, struct ipt2bpf_rc_ent *e)
{
	struct ipt2bpf_rc_key k = {.list = list, .v = slot};

	return bpf_map_lookup_elem(c->slot, &k, e) ? -errno : 0;
}

static int rc_put_slot(struct rc_cli *c, uint32_t list, uint32_t slot,
		       const struct ipt2bpf_rc_ent *e)
{
	struct ipt2bpf_rc_key k = {.list = list, .v = slot};

	return bpf_map_update_elem(c->slot, &k, e, BPF_ANY) ? -errno : 0;
}

/* The live entry of addr (unmasked, any TTL: recent_entry_lookup(.., 0)), its slot in *slot. */
static int rc_find(struct rc_cli *c, const struct ipt2bpf_rc_head *h, uint32_t list, uint32_t addr,
		   struct ipt2bpf_rc_ent *e, uint32_t *slot)
{
	struct ipt2bpf_rc_key k = {.list = list, .v = addr};
	struct ipt2bpf_rc_idx ix;

	if (bpf_map_lookup_elem(c->idx, &k, &ix) || ix.epoch != h->epoch)
		return -ENOENT;
	if (rc_get_slot(c, list, ix.slot, e) || !rc_live(h, e) || e->addr != addr)
		return -ENOENT;
	*slot = ix.slot;
	return 0;
}

static void rc_print_entry(struct rc_cli *c, const struct ipt2bpf_rc_head *h,
			   const struct ipt2bpf_rc_ent *e, bool first)
{
	struct in_addr a = {.s_addr = htonl(e->addr)};
	unsigned int last = (unsigned int)(e->index - 1) & h->nsmask;

	if (c->json) {
		printf("%s{\"src\":\"%s\",\"ttl\":%u,\"last_seen\":%llu,\"oldest_pkt\":%u,"
		       "\"stamps\":[",
		       first ? "" : ",", inet_ntoa(a), e->ttl, (unsigned long long)e->stamps[last],
		       e->index);
		for (unsigned int i = 0; i < e->nstamps && i < IPT2BPF_RC_NSTAMPS; i++)
			printf("%s%llu", i ? "," : "", (unsigned long long)e->stamps[i]);
		printf("]}");
		return;
	}
	/* recent_seq_show() */
	printf("src=%s ttl: %u last_seen: %llu oldest_pkt: %u", inet_ntoa(a), e->ttl,
	       (unsigned long long)e->stamps[last], e->index);
	for (unsigned int i = 0; i < e->nstamps && i < IPT2BPF_RC_NSTAMPS; i++)
		printf("%s %llu", i ? "," : "", (unsigned long long)e->stamps[i]);
	printf("\n");
}

struct rc_entry_ref {
	uint64_t seq;
	uint32_t slot;
};

static int rc_by_seq(const void *a, const void *b)
{
	const struct rc_entry_ref *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int rc_list_one(struct rc_cli *c, const char *name, const struct ipt2bpf_rc_head *h)
{
	uint32_t list = ipt2bpf_rc_list_id(name);
	_cleanup_free_ struct rc_entry_ref *refs = calloc(c->tot, sizeof(*refs));
	struct ipt2bpf_rc_ent e;
	unsigned int n = 0;

	if (!refs)
		return -ENOMEM;
	for (uint32_t s = 0; h && s < c->tot; s++)
		if (!rc_get_slot(c, list, s, &e) && rc_live(h, &e))
			refs[n++] = (struct rc_entry_ref){.seq = e.seq, .slot = s};
	/* the kernel lists by hash bucket; here oldest update first */
	qsort(refs, n, sizeof(*refs), rc_by_seq);
	if (c->json)
		printf("%s{\"name\":\"%s\",\"entries\":[", c->first ? "" : ",", name);
	else if (c->headers)
		printf("%s:\n", name);
	c->first = false;
	for (unsigned int i = 0; i < n; i++)
		if (!rc_get_slot(c, list, refs[i].slot, &e))
			rc_print_entry(c, h, &e, i == 0);
	if (c->json)
		printf("]}");
	return 0;
}

/* A fresh header, as the programs make one (m_recent.c emit_head()). */
static int rc_head_get(struct rc_cli *c, const char *name, uint32_t nsmask, uint32_t addrmask,
		       struct ipt2bpf_rc_head *h, bool create)
{
	uint32_t list = ipt2bpf_rc_list_id(name);

	if (!bpf_map_lookup_elem(c->head, &list, h) && h->init)
		return 0;
	if (!create)
		return -ENOENT;
	memset(h, 0, sizeof(*h));
	h->init = 1;
	h->nsmask = nsmask;
	h->addrmask = addrmask;
	snprintf(h->name, sizeof(h->name), "%s", name);
	return bpf_map_update_elem(c->head, &list, h, BPF_ANY) ? -errno : 0;
}

/* echo +ADDR / -ADDR: recent_mt_proc_write() */
static int rc_add_remove(struct rc_cli *c, const char *name, struct ipt2bpf_rc_head *h,
			 uint32_t addr, bool add)
{
	uint32_t list = ipt2bpf_rc_list_id(name), slot = 0, free_slot = UINT32_MAX, lru = 0;
	uint64_t lru_seq = UINT64_MAX;
	struct ipt2bpf_rc_ent e;
	struct ipt2bpf_rc_key k = {.list = list, .v = addr};
	struct ipt2bpf_rc_idx ix;

	if (!rc_find(c, h, list, addr, &e, &slot)) {
		if (!add) { /* recent_entry_remove() */
			e.used = 0;
			bpf_map_delete_elem(c->idx, &k);
			return rc_put_slot(c, list, slot, &e);
		}
		/* recent_entry_update() */
		e.index &= h->nsmask;
		e.stamps[e.index++] = c->now;
		if (e.index > e.nstamps)
			e.nstamps = e.index;
		e.seq = ++h->seq;
		bpf_map_update_elem(c->head, &list, h, BPF_EXIST);
		return rc_put_slot(c, list, slot, &e);
	}
	if (!add)
		return 0;
	/* recent_entry_init(): a free slot, or the least recently updated entry's */
	for (uint32_t s = 0; s < c->tot && free_slot == UINT32_MAX; s++) {
		if (rc_get_slot(c, list, s, &e) || !rc_live(h, &e))
			free_slot = s;
		else if (e.seq < lru_seq)
			lru_seq = e.seq, lru = s;
	}
	if (free_slot == UINT32_MAX) {
		if (rc_get_slot(c, list, lru, &e))
			return -ENOENT;
		k.v = e.addr;
		bpf_map_delete_elem(c->idx, &k);
		k.v = addr;
		free_slot = lru;
	}
	memset(&e, 0, sizeof(e));
	e.addr = addr;
	e.epoch = h->epoch;
	e.used = 1;
	e.ttl = 0;
	e.index = 1;
	e.nstamps = 1;
	e.stamps[0] = c->now;
	e.seq = ++h->seq;
	if (bpf_map_update_elem(c->head, &list, h, BPF_EXIST))
		return -errno;
	ix = (struct ipt2bpf_rc_idx){.slot = free_slot, .epoch = h->epoch};
	if (rc_put_slot(c, list, free_slot, &e) || bpf_map_update_elem(c->idx, &k, &ix, BPF_ANY))
		return -errno;
	return 0;
}

/* echo /: recent_table_flush(); a new epoch, and the index entries go */
static int rc_flush(struct rc_cli *c, const char *name, struct ipt2bpf_rc_head *h)
{
	uint32_t list = ipt2bpf_rc_list_id(name);
	struct ipt2bpf_rc_key k, next, *prev = NULL;

	h->epoch++;
	if (bpf_map_update_elem(c->head, &list, h, BPF_EXIST))
		return -errno;
	while (!bpf_map_get_next_key(c->idx, prev, &next)) {
		if (prev && prev->list == list)
			bpf_map_delete_elem(c->idx, prev);
		k = next;
		prev = &k;
	}
	if (prev && prev->list == list)
		bpf_map_delete_elem(c->idx, prev);
	return 0;
}

struct rc_run {
	struct rc_cli *c;
	const char *name; /* NULL: every list */
	enum rc_action act;
	uint32_t addr;
	bool found;
};

static int rc_each(void *arg, const char *name, uint32_t nsmask, uint32_t addrmask)
{
	struct rc_run *r = arg;
	struct ipt2bpf_rc_head h;
	int err;

	if (r->name && strcmp(r->name, name))
		return 0;
	r->found = true;
	err = rc_head_get(r->c, name, nsmask, addrmask, &h, r->act == RC_ADD);
	switch (r->act) {
	case RC_LIST:
		return rc_list_one(r->c, name, err ? NULL : &h);
	case RC_ADD:
		return err ? err : rc_add_remove(r->c, name, &h, r->addr, true);
	case RC_REMOVE:
		return err ? 0 : rc_add_remove(r->c, name, &h, r->addr, false);
	case RC_FLUSH:
		return err ? 0 : rc_flush(r->c, name, &h);
	}
	return 0;
}

int cli_recent(int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"list", no_argument, NULL, 'l'},
		{"add", required_argument, NULL, 'a'},
		{"remove", required_argument, NULL, 'r'},
		{"flush", no_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"bpffs", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_free_ipt2bpf_rt_ struct ipt2bpf_runtime *rt = NULL;
	_free_ipt2bpf_rt_status_ struct ipt2bpf_rt_status *st = NULL;
	struct rc_cli c = {.head = -1, .idx = -1, .slot = -1, .first = true};
	struct rc_run r = {.c = &c, .act = RC_LIST};
	struct ipt2bpf_diag d = {0};
	const char *bpffs = NULL, *addr = NULL;
	struct in_addr a;
	int ch, err, actions = 0, rc = CLI_EXIT_FAIL;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			r.name = optarg;
			break;
		case 'l':
			r.act = RC_LIST, actions++;
			break;
		case 'a':
		case 'r':
			r.act = ch == 'a' ? RC_ADD : RC_REMOVE, actions++;
			addr = optarg;
			break;
		case 'f':
			r.act = RC_FLUSH, actions++;
			break;
		case 'j':
			c.json = true;
			break;
		case 'B':
			bpffs = optarg;
			break;
		case 'h':
			recent_usage(stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try `%s recent --help' for more information.\n", cli_prog);
			return CLI_EXIT_PARAM;
		}
	}
	if (cli_no_args(argc, argv, optind, " recent"))
		return CLI_EXIT_PARAM;
	if (actions > 1 || ((r.act == RC_ADD || r.act == RC_REMOVE) && !r.name)) {
		fprintf(stderr,
			"%s recent: one of --list, --add, --remove, --flush; --add and "
			"--remove need -n NAME\n",
			cli_prog);
		return CLI_EXIT_PARAM;
	}
	if (addr) {
		if (inet_pton(AF_INET, addr, &a) != 1) {
			fprintf(stderr, "%s recent: '%s' is not an IPv4 address\n", cli_prog, addr);
			return CLI_EXIT_PARAM;
		}
		r.addr = ntohl(a.s_addr);
	}
	if (ipt2bpf_rt_open(bpffs, &rt, &d) || ipt2bpf_rt_status_get(rt, &st, &d)) {
		fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	if (!st->loaded) {
		fprintf(stderr, "%s: no rule set loaded in this network namespace\n", cli_prog);
		return CLI_EXIT_FAIL;
	}
	c.head = rc_open_map(rt, IPT2BPF_RC_HEAD);
	c.idx = rc_open_map(rt, IPT2BPF_RC_IDX);
	c.slot = rc_open_map(rt, IPT2BPF_RC_SLOT);
	c.tot = ipt2bpf_host_recent_list_tot();
	c.headers = !r.name;
	c.now = rc_jiffies();
	if (c.json)
		printf("{\"lists\":[");
	if (c.head < 0 || c.idx < 0 || c.slot < 0) {
		err = 0; /* no rule uses -m recent */
	} else {
		err = ipt2bpf_recent_lists((const struct ipt2bpf_table *const *)st->tables,
					   st->n_tables, rc_each, &r);
	}
	if (c.json)
		printf("]}\n");
	if (err) {
		fprintf(stderr, "%s recent: %s\n", cli_prog, strerror(-err));
		goto out;
	}
	if (r.name && !r.found) {
		fprintf(stderr, "%s recent: no list '%s' in the loaded rules\n", cli_prog, r.name);
		goto out;
	}
	rc = CLI_EXIT_OK;
out:
	if (c.head >= 0)
		close(c.head);
	if (c.idx >= 0)
		close(c.idx);
	if (c.slot >= 0)
		close(c.slot);
	return rc;
}
