// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of ipt2bpf-umh's request handling (umh/umh_proto*.c) with the
 * in-memory backend, no kernel needed:
 *   - IPT_SO_* through the socket protocol (requests and replies as bytes):
 *     the initial table, GET_ENTRIES, a replace and its old counters, EAGAIN
 *     on stale num_counters, ADD_COUNTERS, a refused replace leaving the old
 *     table, EPERM for unprivileged peers, EFAULT for missing bytes, bad
 *     headers;
 *   - the kernel's bpfilter usermode-driver protocol on a fake stdin/stdout
 *     (pipes) with the driver loop in a thread: health check, GET_INFO and a
 *     replace read and written with process_vm_readv/writev on our own pid,
 *     a caller refused (EPERM) and one handed to the kernel (ENOPROTOOPT),
 *     the loop ending when stdin closes.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include "umh/umh_proto.h"

struct std_entry {
	struct ipt_entry entry;
	struct xt_standard_target target;
};

struct err_entry {
	struct ipt_entry entry;
	struct xt_error_target target;
};

struct fixture {
	struct ipt2bpf_umh *u;
	struct ipt2bpf_umh_mem *mem;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ipt2bpf_umh_opts o = {.backend = &ipt2bpf_umh_backend_mem};

	assert_non_null(f);
	f->mem = ipt2bpf_umh_mem_new();
	o.backend_ctx = f->mem;
	assert_int_equal(ipt2bpf_umh_new(&o, &f->u), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ipt2bpf_umh_free(f->u);
	ipt2bpf_umh_mem_free(f->mem);
	free(f);
	return 0;
}

/*
 * One sockopt as the shim sends it: the first in_len bytes of user, the
 * reply's segments applied to our memory (they name our own addresses).
 * Returns the status; msg gets the message.
 */
static int call(struct ipt2bpf_umh *u, uint16_t op, int cmd, void *user, uint32_t len,
		uint32_t in_len, bool privileged, char *msg, size_t msg_size)
{
	struct ipt2bpf_umh_req h = {.magic = IPT2BPF_UMH_REQ_MAGIC,
				    .version = IPT2BPF_UMH_VERSION,
				    .op = op,
				    .cmd = (uint32_t)cmd,
				    .len = len,
				    .addr = (uint64_t)(uintptr_t)user,
				    .in_len = in_len};
	struct ipt2bpf_umh_reply rep;
	struct ipt2bpf_umh_rep rh;
	bool fatal;
	size_t off;

	assert_int_equal(ipt2bpf_umh_req_check(&h, &fatal), 0);
	ipt2bpf_umh_reply_init(&rep);
	ipt2bpf_umh_handle(u, &h, user, privileged, &rep);
	assert_true(rep.len >= sizeof(rh));
	memcpy(&rh, rep.buf, sizeof(rh));
	assert_int_equal(rh.magic, IPT2BPF_UMH_REP_MAGIC);
	assert_int_equal(rh.data_len, rep.len - sizeof(rh));
	off = sizeof(rh);
	for (uint32_t i = 0; i < rh.n_segs; i++) {
		struct ipt2bpf_umh_seg s;

		memcpy(&s, rep.buf + off, sizeof(s));
		off += sizeof(s);
		assert_true(off + s.len <= rep.len);
		if (!(s.flags & IPT2BPF_UMH_SEG_DATA))
			memcpy((void *)(uintptr_t)s.addr, rep.buf + off, s.len);
		else if (msg)
			snprintf(msg, msg_size, "%.*s", (int)s.len, (const char *)rep.buf + off);
		off += s.len;
	}
	if (msg && rh.msg_len)
		snprintf(msg, msg_size, "%.*s", (int)rh.msg_len, (const char *)rep.buf + off);
	assert_int_equal(off + rh.msg_len, rep.len);
	ipt2bpf_umh_reply_release(&rep);
	return rh.status;
}

static int get(struct ipt2bpf_umh *u, int cmd, void *user, uint32_t len)
{
	return call(u, IPT2BPF_UMH_OP_GETSOCKOPT, cmd, user, len, len, true, NULL, 0);
}

static int set(struct ipt2bpf_umh *u, int cmd, void *user, uint32_t len, char *msg, size_t n)
{
	return call(u, IPT2BPF_UMH_OP_SETSOCKOPT, cmd, user, len, len, true, msg, n);
}

static struct ipt_getinfo info_of(struct ipt2bpf_umh *u, const char *table)
{
	struct ipt_getinfo info = {0};

	snprintf(info.name, sizeof(info.name), "%s", table);
	assert_int_equal(get(u, IPT_SO_GET_INFO, &info, sizeof(info)), 0);
	return info;
}

/* GET_ENTRIES of the whole table; caller frees. */
static struct ipt_get_entries *entries_of(struct ipt2bpf_umh *u, const struct ipt_getinfo *info)
{
	struct ipt_get_entries *g = calloc(1, sizeof(*g) + info->size);

	assert_non_null(g);
	snprintf(g->name, sizeof(g->name), "%s", info->name);
	g->size = info->size;
	assert_int_equal(get(u, IPT_SO_GET_ENTRIES, g, sizeof(*g) + info->size), 0);
	return g;
}

/*
 * filter with one rule in INPUT (-p tcp -j verdict) before the policies, as
 * libiptc lays it out.  counters points at room for old counters.
 */
static struct ipt_replace *filter_with_rule(int verdict, unsigned int num_counters,
					    struct xt_counters *counters, size_t *len)
{
	unsigned int n = 5, size = 4 * sizeof(struct std_entry) + sizeof(struct err_entry), off = 0;
	struct ipt_replace *r = calloc(1, sizeof(*r) + size);
	struct err_entry *end;

	assert_non_null(r);
	snprintf(r->name, sizeof(r->name), "filter");
	r->valid_hooks =
		(1 << NF_INET_LOCAL_IN) | (1 << NF_INET_FORWARD) | (1 << NF_INET_LOCAL_OUT);
	r->num_entries = n;
	r->size = size;
	r->num_counters = num_counters;
	r->counters = counters;
	for (unsigned int i = 0; i < 4; i++) {
		struct std_entry *s = (struct std_entry *)((char *)r->entries + off);

		s->entry.target_offset = sizeof(s->entry);
		s->entry.next_offset = sizeof(*s);
		s->target.target.u.target_size = sizeof(s->target);
		s->target.verdict = -NF_ACCEPT - 1;
		if (i == 0) {
			s->entry.ip.proto = 6;
			s->target.verdict = verdict;
		}
		off += sizeof(*s);
	}
	r->hook_entry[NF_INET_LOCAL_IN] = 0;
	r->underflow[NF_INET_LOCAL_IN] = sizeof(struct std_entry);
	r->hook_entry[NF_INET_FORWARD] = r->underflow[NF_INET_FORWARD] =
		2 * sizeof(struct std_entry);
	r->hook_entry[NF_INET_LOCAL_OUT] = r->underflow[NF_INET_LOCAL_OUT] =
		3 * sizeof(struct std_entry);
	end = (struct err_entry *)((char *)r->entries + off);
	end->entry.target_offset = sizeof(end->entry);
	end->entry.next_offset = sizeof(*end);
	end->target.target.u.target_size = sizeof(end->target);
	strcpy(end->target.target.u.user.name, XT_ERROR_TARGET);
	strcpy(end->target.errorname, "ERROR");
	*len = sizeof(*r) + size;
	return r;
}

static void test_initial_table(void **state)
{
	struct fixture *f = *state;
	struct ipt_getinfo info = info_of(f->u, "filter");
	struct ipt_get_entries *g;
	char names[64] = "";

	assert_int_equal(info.valid_hooks, (1 << NF_INET_LOCAL_IN) | (1 << NF_INET_FORWARD) |
						   (1 << NF_INET_LOCAL_OUT));
	assert_int_equal(info.num_entries, 4);
	assert_int_equal(info.size, 3 * sizeof(struct std_entry) + sizeof(struct err_entry));
	assert_int_equal(info.hook_entry[NF_INET_PRE_ROUTING], 0xFFFFFFFF);
	assert_int_equal(info.hook_entry[NF_INET_FORWARD], sizeof(struct std_entry));
	g = entries_of(f->u, &info);
	/* comefrom as the kernel's mark_source_chains() leaves it: each policy its hook. */
	assert_int_equal(g->entrytable[0].comefrom, 1 << NF_INET_LOCAL_IN);
	free(g);
	/* security came to life after filter: listed first. */
	info_of(f->u, "security");
	assert_int_equal(
		call(f->u, IPT2BPF_UMH_OP_TABLES, 0, NULL, 0, 0, true, names, sizeof(names)), 0);
	assert_string_equal(names, "security\nfilter\n");
}

static void test_get_errors(void **state)
{
	struct fixture *f = *state;
	struct ipt_getinfo info = {.name = "nat"};
	struct ipt_get_entries g = {.name = "filter", .size = 1};
	struct xt_get_revision rev = {.name = "tcp"};

	assert_int_equal(get(f->u, IPT_SO_GET_INFO, &info, sizeof(info)), -ENOENT);
	assert_int_equal(get(f->u, IPT_SO_GET_INFO, &info, sizeof(info) - 1), -EINVAL);
	/* The bytes the call reads are not there: EFAULT, as a bad pointer. */
	assert_int_equal(call(f->u, IPT2BPF_UMH_OP_GETSOCKOPT, IPT_SO_GET_INFO, &info, sizeof(info),
			      8, true, NULL, 0),
			 -EFAULT);
	assert_int_equal(get(f->u, IPT_SO_GET_ENTRIES, &g, sizeof(g)), -EINVAL);
	info_of(f->u, "filter");
	assert_int_equal(call(f->u, IPT2BPF_UMH_OP_GETSOCKOPT, IPT_SO_GET_ENTRIES, &g,
			      sizeof(g) + 1, sizeof(g), true, NULL, 0),
			 -EAGAIN);
	assert_int_equal(get(f->u, IPT_SO_GET_REVISION_MATCH, &rev, sizeof(rev)), 0);
	snprintf(rev.name, sizeof(rev.name), "nosuchmatch");
	assert_int_equal(get(f->u, IPT_SO_GET_REVISION_MATCH, &rev, sizeof(rev)), -ENOENT);
	/* Refused with a reason: the kernel answers (the shim asks it), the rule reaches us. */
	snprintf(rev.name, sizeof(rev.name), "policy");
	assert_int_equal(get(f->u, IPT_SO_GET_REVISION_MATCH, &rev, sizeof(rev)), -ENOPROTOOPT);
	snprintf(rev.name, sizeof(rev.name), "LED");
	assert_int_equal(get(f->u, IPT_SO_GET_REVISION_TARGET, &rev, sizeof(rev)), -ENOPROTOOPT);
	assert_int_equal(get(f->u, 99, &rev, sizeof(rev)), -EINVAL);
	/* Unprivileged: the kernel's CAP_NET_ADMIN check. */
	assert_int_equal(call(f->u, IPT2BPF_UMH_OP_GETSOCKOPT, IPT_SO_GET_INFO, &info, sizeof(info),
			      sizeof(info), false, NULL, 0),
			 -EPERM);
	assert_int_equal(call(f->u, IPT2BPF_UMH_OP_TABLES, 0, NULL, 0, 0, false, NULL, 0), -EACCES);
}

static void test_replace_counters(void **state)
{
	struct fixture *f = *state;
	struct xt_counters old[8];
	struct ipt_get_entries *g;
	struct ipt_getinfo info;
	struct ipt_replace *r;
	char msg[512] = "";
	size_t len;

	info = info_of(f->u, "filter");
	/* Stale num_counters: EAGAIN, iptables retries. */
	r = filter_with_rule(-NF_DROP - 1, 3, old, &len);
	assert_int_equal(set(f->u, IPT_SO_SET_REPLACE, r, (uint32_t)len, msg, sizeof(msg)),
			 -EAGAIN);
	r->num_counters = info.num_entries;
	memset(old, 0xAA, sizeof(old));
	assert_int_equal(set(f->u, IPT_SO_SET_REPLACE, r, (uint32_t)len, msg, sizeof(msg)), 0);
	/* The old (initial) table's counters came back: zeros. */
	assert_int_equal(old[0].pcnt, 0);
	assert_int_equal(old[3].bcnt, 0);
	free(r);

	/* Packets counted by the "programs", then a replace hands them back. */
	info = info_of(f->u, "filter");
	assert_int_equal(info.num_entries, 5);
	assert_int_equal(ipt2bpf_umh_mem_count(f->mem, "filter", 0, 7, 700), 0);
	g = entries_of(f->u, &info);
	assert_int_equal(g->entrytable[0].counters.pcnt, 7);
	assert_int_equal(g->entrytable[0].counters.bcnt, 700);
	free(g);

	r = filter_with_rule(-NF_ACCEPT - 1, 5, old, &len);
	assert_int_equal(set(f->u, IPT_SO_SET_REPLACE, r, (uint32_t)len, msg, sizeof(msg)), 0);
	assert_int_equal(old[0].pcnt, 7);
	assert_int_equal(old[0].bcnt, 700);
	free(r);
	/* New rules start at zero; ADD_COUNTERS puts back what iptables keeps. */
	{
		struct {
			struct xt_counters_info info;
			struct xt_counters c[5];
		} add = {.info = {.name = "filter", .num_counters = 5}};

		add.c[0] = (struct xt_counters){.pcnt = 7, .bcnt = 700};
		add.c[1] = (struct xt_counters){.pcnt = 1, .bcnt = 60};
		assert_int_equal(
			set(f->u, IPT_SO_SET_ADD_COUNTERS, &add, sizeof(add), msg, sizeof(msg)), 0);
		add.info.num_counters = 4;
		assert_int_equal(
			set(f->u, IPT_SO_SET_ADD_COUNTERS, &add, sizeof(add), msg, sizeof(msg)),
			-EINVAL);
		assert_int_equal(set(f->u, IPT_SO_SET_ADD_COUNTERS, &add, sizeof(add.info), msg,
				     sizeof(msg)),
				 -EINVAL);
	}
	info = info_of(f->u, "filter");
	g = entries_of(f->u, &info);
	assert_int_equal(g->entrytable[0].counters.pcnt, 7);
	assert_int_equal(((struct ipt_entry *)((char *)g->entrytable + sizeof(struct std_entry)))
				 ->counters.bcnt,
			 60);
	free(g);
}

static void test_replace_refused(void **state)
{
	struct fixture *f = *state;
	struct xt_counters old[8];
	struct ipt_getinfo info = info_of(f->u, "filter");
	struct ipt_replace *r;
	char msg[512] = "";
	size_t len;

	/* A jump into the middle of nowhere: ELOOP from the validator, table unchanged. */
	r = filter_with_rule(12345, info.num_entries, old, &len);
	assert_int_not_equal(set(f->u, IPT_SO_SET_REPLACE, r, (uint32_t)len, msg, sizeof(msg)), 0);
	assert_true(msg[0] != '\0');
	/* The backend failing (a verifier rejection): the old table stays in view. */
	r->entries[0].ip.proto = 6;
	((struct std_entry *)r->entries)->target.verdict = -NF_DROP - 1;
	ipt2bpf_umh_mem_fail(f->mem, -EACCES);
	assert_int_equal(set(f->u, IPT_SO_SET_REPLACE, r, (uint32_t)len, msg, sizeof(msg)),
			 -EOPNOTSUPP);
	assert_non_null(strstr(msg, "injected"));
	ipt2bpf_umh_mem_fail(f->mem, 0);
	assert_int_equal(info_of(f->u, "filter").num_entries, 4);
	/* A replace shorter than it says: EINVAL; one whose entries are unreadable: EFAULT. */
	assert_int_equal(set(f->u, IPT_SO_SET_REPLACE, r, sizeof(*r) - 1, msg, sizeof(msg)),
			 -EINVAL);
	assert_int_equal(call(f->u, IPT2BPF_UMH_OP_SETSOCKOPT, IPT_SO_SET_REPLACE, r, (uint32_t)len,
			      sizeof(*r) + 8, true, msg, sizeof(msg)),
			 -EFAULT);
	r->num_counters = 0;
	assert_int_equal(set(f->u, IPT_SO_SET_REPLACE, r, (uint32_t)len, msg, sizeof(msg)),
			 -EINVAL);
	free(r);
}

static void test_bad_headers(void **state)
{
	struct ipt2bpf_umh_req h = {.magic = IPT2BPF_UMH_REQ_MAGIC,
				    .version = IPT2BPF_UMH_VERSION,
				    .op = IPT2BPF_UMH_OP_GETSOCKOPT};
	bool fatal;

	(void)state;
	h.magic = 0x12345678;
	assert_int_equal(ipt2bpf_umh_req_check(&h, &fatal), -EPROTO);
	assert_true(fatal);
	h.magic = IPT2BPF_UMH_REQ_MAGIC;
	h.in_len = IPT2BPF_UMH_MAX_IN + 1;
	h.len = UINT32_MAX;
	assert_int_equal(ipt2bpf_umh_req_check(&h, &fatal), -ENOMEM);
	assert_true(fatal);
	h.in_len = 10;
	h.len = 5;
	assert_int_equal(ipt2bpf_umh_req_check(&h, &fatal), -EINVAL);
	assert_false(fatal);
	h.len = 10;
	h.op = 77;
	assert_int_equal(ipt2bpf_umh_req_check(&h, &fatal), -EOPNOTSUPP);
	assert_false(fatal);
}

/* ------------------------------------------------------------ bpfilter driver */

struct loop_arg {
	struct ipt2bpf_umh *u;
	int in_fd, out_fd;
	int result;
};

static int loop_caller(void *ctx, uint32_t pid)
{
	(void)ctx;
	if (pid == 1)
		return -EPERM; /* "lacks CAP_NET_ADMIN" */
	if (pid == 2)
		return -ENOPROTOOPT; /* "another namespace" */
	return 0;
}

static void *loop_thread(void *arg)
{
	struct loop_arg *a = arg;
	struct ipt2bpf_umh_mbox_opts o = {.caller = loop_caller};

	a->result = ipt2bpf_umh_mbox_loop(a->u, a->in_fd, a->out_fd, &o);
	return NULL;
}

static int32_t mbox(int to, int from, uint64_t addr, uint32_t len, bool is_set, uint32_t cmd,
		    uint32_t pid)
{
	struct ipt2bpf_mbox_request req = {
		.addr = addr, .len = len, .is_set = is_set, .cmd = cmd, .pid = pid};
	struct ipt2bpf_mbox_reply rep;

	assert_int_equal(write(to, &req, sizeof(req)), sizeof(req));
	assert_int_equal(read(from, &rep, sizeof(rep)), sizeof(rep));
	return (int32_t)rep.status;
}

static void test_mbox_loop(void **state)
{
	struct fixture *f = *state;
	int to_umh[2], from_umh[2];
	struct loop_arg a = {.u = f->u};
	struct ipt_getinfo info = {.name = "filter"};
	struct xt_counters old[8];
	struct ipt_replace *r;
	pthread_t th;
	size_t len;

	assert_int_equal(pipe(to_umh), 0);
	assert_int_equal(pipe(from_umh), 0);
	a.in_fd = to_umh[0];
	a.out_fd = from_umh[1];
	assert_int_equal(pthread_create(&th, NULL, loop_thread, &a), 0);

	/* start_umh()'s health check. */
	assert_int_equal(mbox(to_umh[1], from_umh[0], 0, 0, false, 0, (uint32_t)getpid()), 0);
	assert_int_equal(mbox(to_umh[1], from_umh[0], (uintptr_t)&info, sizeof(info), false,
			      IPT_SO_GET_INFO, (uint32_t)getpid()),
			 0);
	assert_int_equal(info.num_entries, 4);
	assert_int_equal(mbox(to_umh[1], from_umh[0], (uintptr_t)&info, sizeof(info), false,
			      IPT_SO_GET_INFO, 1),
			 -EPERM);
	assert_int_equal(mbox(to_umh[1], from_umh[0], (uintptr_t)&info, sizeof(info), false,
			      IPT_SO_GET_INFO, 2),
			 -ENOPROTOOPT);
	/* A bad pointer faults as copy_from_user() would. */
	assert_int_equal(mbox(to_umh[1], from_umh[0], 8, sizeof(info), false, IPT_SO_GET_INFO,
			      (uint32_t)getpid()),
			 -EFAULT);
	/* A replace: the driver reads the blob and writes the old counters into our memory. */
	memset(old, 0xAA, sizeof(old));
	r = filter_with_rule(-NF_DROP - 1, 4, old, &len);
	assert_int_equal(mbox(to_umh[1], from_umh[0], (uintptr_t)r, (uint32_t)len, true,
			      IPT_SO_SET_REPLACE, (uint32_t)getpid()),
			 0);
	assert_int_equal(old[0].pcnt, 0);
	assert_int_equal(old[3].pcnt, 0);
	free(r);
	assert_int_equal(mbox(to_umh[1], from_umh[0], (uintptr_t)&info, sizeof(info), false,
			      IPT_SO_GET_INFO, (uint32_t)getpid()),
			 0);
	assert_int_equal(info.num_entries, 5);

	/* The kernel closes the pipe: the driver returns cleanly. */
	close(to_umh[1]);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(a.result, 0);
	close(to_umh[0]);
	close(from_umh[0]);
	close(from_umh[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_initial_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_refused, setup, teardown),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test_setup_teardown(test_mbox_loop, setup, teardown),
	};

	return cmocka_run_group_tests_name("umh", tests, NULL, NULL);
}
