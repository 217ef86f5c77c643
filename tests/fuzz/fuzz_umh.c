// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: ipt2bpf-umh's request handling (umh/umh_proto.c,
 * umh/umh_proto_tables.c) with the in-memory backend, no kernel needed.
 *
 * Inputs not starting with 'S' are a byte stream as a client would write it
 * on the daemon's socket: request headers (struct ipt2bpf_umh_req) each
 * followed by in_len bytes, handled one after the other on one engine the
 * way the daemon does (a fatal header or a request cut short ends the
 * stream).  The first byte's low bit says whether the peer is privileged.
 *
 * Inputs starting with 'S' are a recipe: a session of well-formed calls
 * (GET_INFO, GET_ENTRIES with the right size, a SET_REPLACE of a filter or
 * security table laid out as libiptc does, with fuzzed rules, user chains
 * and jumps, sometimes a stale num_counters, ADD_COUNTERS, counted packets,
 * a failing backend), so that the fuzzer gets past the validator into
 * commit, comefrom and the counter paths.  After every call the replies must
 * be well-formed and the engine's view consistent: GET_INFO and GET_ENTRIES
 * agree, and a failed replace leaves the table as it was.
 *
 * scripts/fuzz.sh links translator/ and codegen/ only, so the umh sources are
 * compiled into this file.  By hand (translator/ is all it needs):
 *   clang -std=gnu17 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
 *       tests/fuzz/fuzz_umh.c translator/{validate,ext,ir,diag,mod}.c -o fuzz_umh
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#include "umh/umh_proto.c"
#include "umh/umh_proto_tables.c"

/* ---------------------------------------------------------------- replies */

/* Checks a finished reply's framing; returns its status. */
static int32_t check_reply(const struct ipt2bpf_umh_reply *rep)
{
	struct ipt2bpf_umh_rep h;
	size_t off = sizeof(h);

	if (!rep->buf || rep->len < sizeof(h))
		abort();
	memcpy(&h, rep->buf, sizeof(h));
	if (h.magic != IPT2BPF_UMH_REP_MAGIC || h.data_len != rep->len - sizeof(h) ||
	    h.status > 0 || h.msg_len > 4096)
		abort();
	for (uint32_t i = 0; i < h.n_segs; i++) {
		struct ipt2bpf_umh_seg s;

		if (rep->len - off < sizeof(s))
			abort();
		memcpy(&s, rep->buf + off, sizeof(s));
		off += sizeof(s);
		if (rep->len - off < s.len)
			abort();
		off += s.len;
	}
	if (off + h.msg_len != rep->len)
		abort();
	return h.status;
}

/* One call on user memory buf (len bytes readable); writes inside buf are applied. */
static int32_t call(struct ipt2bpf_umh *u, uint16_t op, uint32_t cmd, void *buf, uint32_t len,
		    bool privileged)
{
	struct ipt2bpf_umh_req h = {.magic = IPT2BPF_UMH_REQ_MAGIC,
				    .version = IPT2BPF_UMH_VERSION,
				    .op = op,
				    .cmd = cmd,
				    .len = len,
				    .addr = (uint64_t)(uintptr_t)buf,
				    .in_len = len};
	struct ipt2bpf_umh_reply rep;
	bool fatal;
	int32_t status;
	size_t off = sizeof(struct ipt2bpf_umh_rep);

	if (ipt2bpf_umh_req_check(&h, &fatal))
		abort();
	ipt2bpf_umh_reply_init(&rep);
	ipt2bpf_umh_handle(u, &h, buf, privileged, &rep);
	status = check_reply(&rep);
	for (uint32_t i = 0; i < ((struct ipt2bpf_umh_rep *)rep.buf)->n_segs; i++) {
		struct ipt2bpf_umh_seg s;

		memcpy(&s, rep.buf + off, sizeof(s));
		off += sizeof(s);
		if (!(s.flags & IPT2BPF_UMH_SEG_DATA) && s.addr >= (uintptr_t)buf &&
		    s.addr + s.len <= (uintptr_t)buf + len)
			memcpy((void *)(uintptr_t)s.addr, rep.buf + off, s.len);
		off += s.len;
	}
	ipt2bpf_umh_reply_release(&rep);
	return status;
}

/* ---------------------------------------------------------------- raw streams */

static void raw_stream(const uint8_t *data, size_t size)
{
	struct ipt2bpf_umh_mem *mem = ipt2bpf_umh_mem_new();
	struct ipt2bpf_umh_opts o = {.backend = &ipt2bpf_umh_backend_mem,
				     .backend_ctx = mem,
				     .kernel_tables = size && (data[0] & 2)};
	struct ipt2bpf_umh *u;
	bool privileged = !size || (data[0] & 1);
	size_t off = size ? 1 : 0;

	if (!mem || ipt2bpf_umh_new(&o, &u))
		abort();
	while (size - off >= sizeof(struct ipt2bpf_umh_req)) {
		struct ipt2bpf_umh_req h;
		struct ipt2bpf_umh_reply rep;
		bool fatal;
		int err;

		memcpy(&h, data + off, sizeof(h));
		off += sizeof(h);
		err = ipt2bpf_umh_req_check(&h, &fatal);
		if (fatal)
			break;
		if (h.in_len > size - off)
			break; /* cut short: the daemon drops the connection */
		ipt2bpf_umh_reply_init(&rep);
		if (err)
			ipt2bpf_umh_reply_finish(&rep, err, "bad request");
		else
			ipt2bpf_umh_handle(u, &h, data + off, privileged, &rep);
		check_reply(&rep);
		ipt2bpf_umh_reply_release(&rep);
		off += h.in_len;
	}
	ipt2bpf_umh_free(u);
	ipt2bpf_umh_mem_free(mem);
}

/* ---------------------------------------------------------------- recipes */

struct recipe {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct recipe *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

/* struct std_entry: umh_proto_tables.c's, compiled into this file. */
#define MAX_RULES 24

/* A table as libiptc lays it out: INPUT, FORWARD, OUTPUT, one user chain, the end. */
static struct ipt_replace *build_table(struct recipe *r, const char *name,
				       unsigned int num_counters, size_t *len)
{
	unsigned char body[MAX_RULES * 256 + 4096];
	unsigned int off = 0, n = 0, hook_off[3], uflow_off[3], chain_off = 0;
	unsigned int jumps[MAX_RULES], n_jumps = 0;
	static const int hooks[3] = {NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT};
	bool user_chain = take(r) & 1;
	struct ipt_replace *repl;

	memset(body, 0, sizeof(body));
	for (int pass = 0; pass < 4; pass++) {
		unsigned int rules = take(r) % 6;

		if (pass == 3 && !user_chain)
			break;
		if (pass < 3) {
			hook_off[pass] = off;
		} else {
			/* ERROR head naming the chain */
			struct ipt_entry *e = (void *)(body + off);
			struct xt_error_target *t = (void *)(e + 1);

			chain_off = off;
			e->target_offset = sizeof(*e);
			e->next_offset = sizeof(*e) + sizeof(*t);
			t->target.u.target_size = sizeof(*t);
			strcpy(t->target.u.user.name, XT_ERROR_TARGET);
			strcpy(t->errorname, take(r) & 1 ? "chain" : "ERROR");
			off += e->next_offset;
			n++;
		}
		for (unsigned int i = 0; i < rules && n < MAX_RULES; i++) {
			struct ipt_entry *e = (void *)(body + off);
			uint8_t k = take(r);
			struct xt_standard_target *t;

			e->ip.proto = (k & 3) == 1 ? 6 : (k & 3) == 2 ? 17 : 0;
			if (k & 4)
				e->ip.invflags = take(r) & IPT_INV_MASK;
			if (k & 8) {
				e->ip.src.s_addr = take(r);
				e->ip.smsk.s_addr = 0xff;
			}
			e->target_offset = sizeof(*e);
			if (e->ip.proto == 6 && (k & 16)) {
				struct xt_entry_match *m = (void *)(e + 1);
				struct xt_tcp *tcp = (void *)m->data;

				m->u.match_size = sizeof(*m) + XT_ALIGN(sizeof(*tcp));
				strcpy(m->u.user.name, "tcp");
				tcp->spts[1] = 0xffff;
				tcp->dpts[0] = tcp->dpts[1] = take(r);
				tcp->invflags = take(r) & XT_TCP_INV_MASK;
				e->target_offset += m->u.match_size;
			}
			t = (void *)((unsigned char *)e + e->target_offset);
			t->target.u.target_size = sizeof(*t);
			switch ((k >> 5) & 3) {
			case 0:
				t->verdict = -NF_ACCEPT - 1;
				break;
			case 1:
				t->verdict = -NF_DROP - 1;
				break;
			case 2:
				t->verdict = XT_RETURN;
				break;
			default: /* jump to the user chain, patched below */
				jumps[n_jumps++] = off;
				t->verdict = -NF_DROP - 1;
				if (k & 0x80)
					e->ip.flags |= IPT_F_GOTO;
			}
			e->next_offset = e->target_offset + sizeof(*t);
			off += e->next_offset;
			n++;
		}
		{
			/* the policy, or the user chain's RETURN */
			struct std_entry *s = (void *)(body + off);

			s->entry.target_offset = sizeof(s->entry);
			s->entry.next_offset = sizeof(*s);
			s->target.target.u.target_size = sizeof(s->target);
			s->target.verdict = pass == 3	  ? XT_RETURN
					    : take(r) & 1 ? -NF_DROP - 1
							  : -NF_ACCEPT - 1;
			if (pass < 3)
				uflow_off[pass] = off;
			off += sizeof(*s);
			n++;
		}
	}
	{
		struct ipt_entry *e = (void *)(body + off);
		struct xt_error_target *t = (void *)(e + 1);

		e->target_offset = sizeof(*e);
		e->next_offset = sizeof(*e) + sizeof(*t);
		t->target.u.target_size = sizeof(*t);
		strcpy(t->target.u.user.name, XT_ERROR_TARGET);
		strcpy(t->errorname, "ERROR");
		off += e->next_offset;
		n++;
	}
	for (unsigned int i = 0; i < n_jumps && user_chain; i++) {
		struct ipt_entry *e = (void *)(body + jumps[i]);
		struct xt_standard_target *t = (void *)((unsigned char *)e + e->target_offset);
		struct ipt_entry *head = (void *)(body + chain_off);

		t->verdict = (int)(chain_off + head->next_offset);
	}
	repl = calloc(1, sizeof(*repl) + off);
	if (!repl)
		abort();
	snprintf(repl->name, sizeof(repl->name), "%s", name);
	repl->valid_hooks =
		(1 << NF_INET_LOCAL_IN) | (1 << NF_INET_FORWARD) | (1 << NF_INET_LOCAL_OUT);
	repl->num_entries = n;
	repl->size = off;
	repl->num_counters = num_counters;
	for (int i = 0; i < 3; i++) {
		repl->hook_entry[hooks[i]] = hook_off[i];
		repl->underflow[hooks[i]] = uflow_off[i];
	}
	memcpy(repl->entries, body, off);
	*len = sizeof(*repl) + off;
	return repl;
}

static void session(const uint8_t *data, size_t size)
{
	struct recipe r = {data, size};
	struct ipt2bpf_umh_mem *mem = ipt2bpf_umh_mem_new();
	struct ipt2bpf_umh_opts o = {.backend = &ipt2bpf_umh_backend_mem, .backend_ctx = mem};
	struct ipt2bpf_umh *u;

	if (!mem || ipt2bpf_umh_new(&o, &u))
		abort();
	for (int step = 0; step < 8 && r.n; step++) {
		const char *name = take(&r) & 1 ? "security" : "filter";
		struct ipt_getinfo info = {0};
		struct ipt_get_entries *g;
		struct ipt_replace *repl;
		size_t len;
		uint8_t what = take(&r);
		int32_t st;

		snprintf(info.name, sizeof(info.name), "%s", name);
		if (call(u, IPT2BPF_UMH_OP_GETSOCKOPT, IPT_SO_GET_INFO, &info, sizeof(info), true))
			abort();
		g = calloc(1, sizeof(*g) + info.size);
		if (!g)
			abort();
		snprintf(g->name, sizeof(g->name), "%s", name);
		g->size = info.size;
		if (call(u, IPT2BPF_UMH_OP_GETSOCKOPT, IPT_SO_GET_ENTRIES, g,
			 sizeof(*g) + info.size, true))
			abort();
		/* GET_ENTRIES walks to exactly num_entries entries. */
		{
			unsigned int n = 0;

			for (unsigned int pos = 0; pos < info.size; n++) {
				const struct ipt_entry *e =
					(const void *)((char *)g->entrytable + pos);

				if (e->next_offset < sizeof(*e))
					abort();
				pos += e->next_offset;
			}
			if (n != info.num_entries)
				abort();
		}
		free(g);

		switch (what % 4) {
		case 0:
		case 1: {
			struct xt_counters *old;
			unsigned int nc = what & 0x40 ? take(&r) % 8 + 1 : info.num_entries;

			repl = build_table(&r, name, nc, &len);
			old = calloc(nc + 1, sizeof(*old));
			if (!old)
				abort();
			repl->counters = old;
			if (what & 0x80)
				ipt2bpf_umh_mem_fail(mem, -EACCES);
			st = call(u, IPT2BPF_UMH_OP_SETSOCKOPT, IPT_SO_SET_REPLACE, repl,
				  (uint32_t)len, true);
			ipt2bpf_umh_mem_fail(mem, 0);
			{
				struct ipt_getinfo after = info;

				if (call(u, IPT2BPF_UMH_OP_GETSOCKOPT, IPT_SO_GET_INFO, &after,
					 sizeof(after), true))
					abort();
				/* A failed replace changes nothing; a successful one is in view. */
				if (st && (after.size != info.size ||
					   after.num_entries != info.num_entries))
					abort();
				if (!st && after.size != repl->size)
					abort();
			}
			free(old);
			free(repl);
			break;
		}
		case 2: {
			size_t n = info.num_entries;
			struct xt_counters_info *ci = calloc(1, sizeof(*ci) + n * 16);

			if (!ci)
				abort();
			snprintf(ci->name, sizeof(ci->name), "%s", name);
			ci->num_counters = (unsigned int)n;
			for (size_t i = 0; i < n; i++)
				((struct xt_counters *)(ci + 1))[i].pcnt = take(&r);
			st = call(u, IPT2BPF_UMH_OP_SETSOCKOPT, IPT_SO_SET_ADD_COUNTERS, ci,
				  (uint32_t)(sizeof(*ci) + n * 16), true);
			if (st)
				abort();
			free(ci);
			break;
		}
		default:
			ipt2bpf_umh_mem_count(mem, name, take(&r) % 8, 1, 64);
		}
	}
	ipt2bpf_umh_free(u);
	ipt2bpf_umh_mem_free(mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size && data[0] == 'S')
		session(data + 1, size - 1);
	else
		raw_stream(data, size);
	return 0;
}
