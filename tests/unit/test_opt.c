// SPDX-License-Identifier: GPL-2.0
/*
 * Optimiser tests (codegen/opt.h): random tables built in C with runs the
 * optimiser turns into hash and LPM lookups and long stretches it turns into
 * decision trees, mixed with rules it leaves alone; random packets (normal,
 * at range edges, later fragments, offset-1 TCP fragments, truncated
 * transport headers) run through the trace programs of the optimised and of
 * the straight-line (no_optimise) program sets, one packet at a time; the
 * verdict and every entry's packet and byte counters must agree.  The
 * kernel-oracle side (optimised code against iptables-legacy) is the "opt"
 * step of make check (tests/opt/run.sh).  Needs root (BPF); skipped otherwise.
 * Runs on Debian's 6.1 too: scripts/qemu-run build/tests/test_opt.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <cmocka.h>

#include "codegen/load.h"
#include "codegen/progset.h"
#include "translator/util.h"
#include "rig.h"

/* ------------------------------------------------------------ random rules */

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return n ? (uint32_t)(z % n) : (uint32_t)z;
}

static bool pct(unsigned int p)
{
	return rnd(100) < p;
}

/* Addresses rules and packets share: a few networks, so that prefixes nest and meet. */
static uint32_t pool_addr(void)
{
	static const uint32_t nets[] = {0x0a000000, 0x0a010000, 0x0a010200, 0xc0a80000,
					0xc0a80100, 0xac100000, 0x08080800, 0x64400000};

	return nets[rnd(8)] | (rnd(0) & (pct(50) ? 0xff : 0xffff));
}

static uint32_t plen_mask(int len)
{
	return len <= 0 ? 0 : len >= 32 ? 0xffffffffu : ~0u << (32 - len);
}

static void set_addr(struct ipt2bpf_entry *e, bool src, uint32_t a, uint32_t m, bool inv)
{
	struct in_addr *ad = src ? &e->ip.src : &e->ip.dst, *mk = src ? &e->ip.smsk : &e->ip.dmsk;

	mk->s_addr = htonl(m);
	ad->s_addr = htonl(a & m);
	if (inv)
		e->ip.invflags |= src ? IPT_INV_SRCIP : IPT_INV_DSTIP;
}

static uint16_t rport(void)
{
	static const uint16_t p[] = {0, 1, 22, 53, 80, 443, 1023, 1024, 8080, 65535};

	return pct(60) ? p[rnd(10)] : (uint16_t)rnd(65536);
}

static void rrange(uint16_t *pts)
{
	pts[0] = rport();
	pts[1] = pct(40) ? pts[0]
			 : (uint16_t)(pts[0] + rnd(3000) > 65535 ? 65535 : pts[0] + rnd(3000));
	if (pct(3)) { /* reversed: matches nothing (or everything, inverted) */
		uint16_t t = pts[0];

		pts[0] = pts[1];
		pts[1] = t;
	}
}

static const char *const ifaces[] = {"eth0", "eth+", "ppp1", "ppp+", "e+", "lo"};

static void add_iprange(struct tb *b, struct ipt2bpf_entry *e)
{
	struct xt_iprange_mtinfo *r = &tb_match(b, e, IPT2BPF_M_IPRANGE)->u.iprange;
	uint32_t lo = pool_addr(), hi = lo + rnd(600);

	r->flags = pct(50) ? IPRANGE_SRC : IPRANGE_DST;
	if (pct(20))
		r->flags |= r->flags == IPRANGE_SRC ? IPRANGE_SRC_INV : IPRANGE_DST_INV;
	if (r->flags & IPRANGE_SRC) {
		r->src_min.ip = htonl(lo);
		r->src_max.ip = htonl(hi);
	} else {
		r->dst_min.ip = htonl(lo);
		r->dst_max.ip = htonl(hi);
	}
}

/* A rule of the kinds the classifier takes (and a few it does not). */
static void random_rule(struct tb *b, struct ipt2bpf_entry *e)
{
	unsigned int k;
	bool ipr_first;

	if (pct(60))
		set_addr(e, true, pool_addr(), pct(8) ? 0xff00ff00u : plen_mask((int)rnd(33)),
			 pct(10));
	if (pct(60))
		set_addr(e, false, pool_addr(), pct(8) ? 0xffff00f0u : plen_mask((int)rnd(33)),
			 pct(10));
	if (pct(10))
		r_in(e, ifaces[rnd(6)], pct(20));
	if (pct(8))
		r_out(e, ifaces[rnd(6)], pct(20));
	if (pct(6)) {
		e->ip.flags |= IPT_F_FRAG;
		if (pct(50))
			e->ip.invflags |= IPT_INV_FRAG;
	}
	ipr_first = pct(8);
	if (ipr_first)
		add_iprange(b, e);
	k = rnd(100);
	if (k < 35) {
		struct xt_tcp *t;

		r_proto(e, IPPROTO_TCP, false);
		t = m_tcp(b, e);
		if (pct(60))
			rrange(t->dpts);
		if (pct(30))
			rrange(t->spts);
		if (pct(10))
			t->invflags |= XT_TCP_INV_DSTPT;
		if (pct(20)) {
			t->flg_mask = (uint8_t)rnd(64);
			t->flg_cmp = (uint8_t)(rnd(64) & t->flg_mask);
			if (pct(20))
				t->invflags |= XT_TCP_INV_FLAGS;
		}
		if (pct(3))
			t->option = (uint8_t)(1 + rnd(8)); /* left to straight-line code */
	} else if (k < 55) {
		struct xt_udp *u;

		r_proto(e, IPPROTO_UDP, false);
		u = m_udp(b, e);
		if (pct(70))
			rrange(u->dpts);
		if (pct(10))
			u->invflags |= XT_UDP_INV_SRCPT;
	} else if (k < 67) {
		struct ipt_icmp *ic;

		r_proto(e, IPPROTO_ICMP, false);
		ic = &tb_match(b, e, IPT2BPF_M_ICMP)->u.icmp;
		ic->type = pct(10) ? 0xff : (uint8_t)(pct(50) ? 8 : rnd(20));
		ic->code[0] = 0;
		ic->code[1] = pct(50) ? 0xff : (uint8_t)rnd(4);
		if (pct(15))
			ic->invflags = IPT_ICMP_INV;
	} else if (k < 77) {
		struct xt_multiport_v1 *mp;

		r_proto(e, pct(70) ? IPPROTO_TCP : IPPROTO_UDP, false);
		mp = &tb_match(b, e, IPT2BPF_M_MULTIPORT)->u.multiport;
		mp->flags = (uint8_t)(1 + rnd(3)); /* SOURCE, DESTINATION, EITHER */
		mp->invert = pct(15);
		for (unsigned int n = 1 + rnd(4); n-- > 0 && mp->count < 13;) {
			mp->ports[mp->count] = rport();
			if (pct(30)) {
				mp->pflags[mp->count++] = 1;
				mp->ports[mp->count] =
					(uint16_t)(mp->ports[mp->count - 1] + rnd(500));
			}
			mp->count++;
		}
	} else if (k < 85) {
		r_proto(e, (uint16_t)(pct(50) ? IPPROTO_GRE : IPPROTO_TCP), pct(20));
	}
	if (!ipr_first && pct(3))
		add_iprange(b, e); /* after the transport match: left to straight-line code */
	if (pct(5))
		snprintf(tb_match(b, e, IPT2BPF_M_COMMENT)->u.comment, 8, "c");
}

static struct ipt2bpf_entry *leaving_rule(struct tb *b, bool user)
{
	unsigned int k = rnd(100);

	if (k < 40)
		return tb_rule(b, IPT2BPF_T_ACCEPT);
	if (k < 80)
		return tb_rule(b, IPT2BPF_T_DROP);
	if (k < 90 || !user)
		return tb_rule(b, k < 90 ? IPT2BPF_T_RETURN : IPT2BPF_T_DROP);
	return tb_jump(b, "sink", true);
}

/* Runs the optimiser makes lookups of: same shape, one varying key, one target. */
static void run_block(struct tb *b, unsigned int kind, unsigned int n, bool user)
{
	struct ipt2bpf_entry *proto = leaving_rule(b, user), *e;
	enum ipt2bpf_target_kind tk = proto->target.kind;
	uint32_t base = pool_addr(), prev = base;
	uint16_t port = rport();
	int hlen = pct(50) ? 32 : 24;

	/* proto is the first rule of the run: give it the shape below, then copy that. */
	for (unsigned int i = 0; i < n; i++) {
		e = i ? tb_rule(b, tk) : proto;
		if (tk == IPT2BPF_T_GOTO && i) {
			e->ip.flags |= IPT_F_GOTO;
			e->target.target_entry = proto->target.target_entry;
			b->fix[b->n_fix] = b->fix[b->n_fix - 1];
			b->fix[b->n_fix++].entry = e->index;
		}
		switch (kind) {
		case 0: /* source /32 or /24: hash */
			set_addr(e, true, pct(5) ? prev : pool_addr(), plen_mask(hlen), false);
			break;
		case 1: { /* nesting source prefixes: LPM */
			int len = 16 + (int)rnd(17);
			uint32_t a = pct(40) ? prev : pool_addr();

			set_addr(e, true, a, plen_mask(len), false);
			prev = a;
			break;
		}
		case 2: { /* tcp destination port (and an address): hash with ports */
			struct xt_tcp *t;

			set_addr(e, false, base, plen_mask(24), false);
			r_proto(e, IPPROTO_TCP, false);
			t = m_tcp(b, e);
			t->dpts[0] = t->dpts[1] = pct(5) ? port : rport();
			break;
		}
		default: { /* udp 5-tuple */
			struct xt_udp *u;

			set_addr(e, true, pool_addr(), plen_mask(32), false);
			set_addr(e, false, pool_addr(), plen_mask(32), false);
			r_proto(e, IPPROTO_UDP, false);
			u = m_udp(b, e);
			u->spts[0] = u->spts[1] = rport();
			u->dpts[0] = u->dpts[1] = rport();
			break;
		}
		}
		prev = ntohl(e->ip.src.s_addr);
	}
}

static void random_chain(struct tb *b, unsigned int n, bool user)
{
	for (unsigned int i = 0; i < n;) {
		unsigned int k = rnd(100);

		if (k < 8) {
			unsigned int m = 20 + rnd(40);

			run_block(b, rnd(4), m, user);
			i += m;
		} else if (k < 9 && !user) {
			random_rule(b,
				    tb_jump(b, "uc", false)); /* not classified: cuts stretches */
			i++;
		} else if (k < 10) {
			random_rule(b, tb_rule(b, IPT2BPF_T_CONTINUE));
			i++;
		} else {
			random_rule(b, leaving_rule(b, user));
			i++;
		}
	}
}

static struct ipt2bpf_table *random_table(struct tb *b)
{
	tb_chain(b, "INPUT");
	random_chain(b, 900, false);
	tb_end(b, NF_DROP);
	tb_chain(b, "FORWARD");
	random_chain(b, 300, false);
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "OUTPUT");
	random_chain(b, 60, false);
	tb_end(b, NF_ACCEPT);
	tb_chain(b, "uc");
	random_chain(b, 400, true);
	tb_end(b, 0);
	tb_chain(b, "sink");
	random_rule(b, tb_rule(b, IPT2BPF_T_DROP));
	tb_end(b, 0);
	return tb_done(b);
}

/* ------------------------------------------------------------ random packets */

/* A packet near the table's rules: their addresses, edges and ports. */
static void random_packet(const struct ipt2bpf_table *t, struct pkt *p)
{
	const struct ipt2bpf_entry *e = &t->entries[rnd(t->n_entries)];
	char s[16], d[16];
	uint32_t sa = ntohl(e->ip.src.s_addr), da = ntohl(e->ip.dst.s_addr);
	struct ipspec is = {0};
	uint16_t sp = rport(), dp = rport();
	unsigned int k = rnd(100);

	if (!e->ip.smsk.s_addr || pct(20))
		sa = pool_addr();
	else if (pct(30))
		sa |= rnd(0) & ~ntohl(e->ip.smsk.s_addr);
	if (!e->ip.dmsk.s_addr || pct(20))
		da = pool_addr();
	else if (pct(30))
		da += pct(50) ? 1 : -1;
	for (unsigned int i = 0; i < e->n_matches; i++) {
		const struct ipt2bpf_match *m = &e->matches[i];

		if (m->kind == IPT2BPF_M_TCP || m->kind == IPT2BPF_M_UDP) {
			const uint16_t *pt =
				m->kind == IPT2BPF_M_TCP ? m->u.tcp.dpts : m->u.udp.dpts;

			dp = (uint16_t)(pt[rnd(2)] + (pct(70) ? 0 : pct(50) ? 1 : -1));
		} else if (m->kind == IPT2BPF_M_MULTIPORT && m->u.multiport.count) {
			sp = dp = m->u.multiport.ports[rnd(m->u.multiport.count)];
		}
	}
	snprintf(s, sizeof(s), "%u.%u.%u.%u", sa >> 24, (sa >> 16) & 255, (sa >> 8) & 255,
		 sa & 255);
	snprintf(d, sizeof(d), "%u.%u.%u.%u", da >> 24, (da >> 16) & 255, (da >> 8) & 255,
		 da & 255);
	is.src = s;
	is.dst = d;
	is.id = (uint16_t)rnd(65536);
	if (pct(6))
		is.frag =
			(uint16_t)(pct(50) ? 1 : 2 + rnd(100)); /* later fragments, offset 1 too */
	else if (pct(4))
		is.frag = F_MF;
	if (k < 40) {
		pkt_tcp(p, &is, sp, dp, (uint8_t)(pct(60) ? 0x02 : rnd(64)), NULL, 0);
	} else if (k < 65) {
		pkt_udp(p, &is, sp, dp);
	} else if (k < 80) {
		pkt_icmp(p, &is, (uint8_t)(pct(50) ? 8 : rnd(20)), (uint8_t)rnd(4));
	} else if (k < 92) {
		/* truncated transport header: 0 to 19 bytes */
		uint8_t raw[20] = {(uint8_t)(sp >> 8),
				   (uint8_t)sp,
				   (uint8_t)(dp >> 8),
				   (uint8_t)dp,
				   0,
				   8,
				   0,
				   0,
				   0,
				   0,
				   0,
				   0,
				   0x50,
				   0x02};
		is.proto = (uint8_t)(pct(40) ? IPPROTO_TCP : pct(50) ? IPPROTO_UDP : IPPROTO_ICMP);
		pkt_build(p, &is, raw, rnd(20));
	} else {
		uint8_t raw[8] = {1, 2, 3, 4, 5, 6, 7, 8};

		is.proto = (uint8_t)(pct(50) ? IPPROTO_GRE : IPPROTO_ESP);
		pkt_build(p, &is, raw, sizeof(raw));
	}
}

/* ------------------------------------------------------------ running */

struct side {
	struct ipt2bpf_progset *ps;
	struct ipt2bpf_loaded l;
	struct ipt2bpf_counter *before, *after;
};

static void side_load(struct side *s, const struct ipt2bpf_table *t, bool no_opt)
{
	struct ipt2bpf_gen_opts o = {.mode = IPT2BPF_MODE_TC, .trace = true, .no_optimise = no_opt};
	struct ipt2bpf_diag d = {0};

	memset(s, 0, sizeof(*s));
	if (ipt2bpf_gen(&t, 1, &o, &s->ps, &d))
		fail_msg("gen%s: %s", no_opt ? " (no_optimise)" : "", d.msg);
	if (ipt2bpf_progset_load(s->ps, &s->l, &d))
		fail_msg("load%s: %s", no_opt ? " (no_optimise)" : "", d.msg);
	assert_int_equal(ipt2bpf_ifaces_set(s->ps, &s->l, IF_IN, "eth0"), 0);
	assert_int_equal(ipt2bpf_ifaces_set(s->ps, &s->l, IF_OUT, "ppp1"), 0);
	s->before = calloc(t->n_entries, sizeof(*s->before));
	s->after = calloc(t->n_entries, sizeof(*s->after));
	assert_true(s->before && s->after);
}

static void side_free(struct side *s)
{
	ipt2bpf_loaded_close(&s->l);
	ipt2bpf_progset_free(s->ps);
	free(s->before);
	free(s->after);
}

static int side_fd(const struct side *s, int hook)
{
	struct ipt2bpf_cfg cfg = {.iif = hook == NF_INET_LOCAL_OUT ? 0 : IF_IN,
				  .oif = hook == NF_INET_LOCAL_IN ? 0 : IF_OUT};
	uint32_t zero = 0;
	int map = ipt2bpf_progset_find_map(s->ps, IPT2BPF_MAP_CFG);

	assert_int_equal(bpf_map_update_elem(s->l.map_fds[map], &zero, &cfg, BPF_ANY), 0);
	for (unsigned int i = 0; i < s->ps->n_progs; i++)
		if (s->ps->progs[i].role == IPT2BPF_P_TRACE && s->ps->progs[i].hook == hook)
			return s->l.prog_fds[i];
	fail_msg("no trace program for hook %d", hook);
	return -1;
}

/* ipt2bpf_counters_read() in one batch (the table has thousands of entries). */
static void counters_batch(int fd, unsigned int n, struct ipt2bpf_counter *out)
{
	int ncpus = libbpf_num_possible_cpus();
	struct ipt2bpf_counter *vals = calloc((size_t)n * (size_t)ncpus, sizeof(*vals));
	uint32_t *keys = calloc(n, sizeof(*keys)), count = n, batch;
	LIBBPF_OPTS(bpf_map_batch_opts, bo);

	assert_true(ncpus > 0 && vals && keys);
	if ((bpf_map_lookup_batch(fd, NULL, &batch, keys, vals, &count, &bo) && errno != ENOENT) ||
	    count != n) {
		assert_int_equal(ipt2bpf_counters_read(fd, n, out), 0);
	} else {
		for (unsigned int i = 0; i < n; i++) {
			out[keys[i]] = (struct ipt2bpf_counter){0};
			for (int c = 0; c < ncpus; c++) {
				out[keys[i]].pcnt += vals[(size_t)i * ncpus + c].pcnt;
				out[keys[i]].bcnt += vals[(size_t)i * ncpus + c].bcnt;
			}
		}
	}
	free(vals);
	free(keys);
}

static int side_run(struct side *s, int fd, const struct ipt2bpf_table *t, const struct pkt *p)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .repeat = 1);
	int map = s->l.map_fds[s->ps->counter_map[0]];

	counters_batch(map, t->n_entries, s->before);
	assert_int_equal(bpf_prog_test_run_opts(fd, &o), 0);
	counters_batch(map, t->n_entries, s->after);
	return (int)o.retval;
}

/* How many of the optimiser's maps have contents: it must have made each kind. */
static bool has_map(const struct side *s, const char *prefix)
{
	for (unsigned int i = 0; i < s->ps->n_maps; i++)
		if (!strncmp(s->ps->maps[i].name, prefix, strlen(prefix)) && s->ps->maps[i].n_init)
			return true;
	return false;
}

/* Returns which kinds of segment the plan had: 1 hash, 2 LPM, 4 tree. */
static unsigned int equiv_seed(uint64_t seed, unsigned int packets)
{
	static const int hooks[] = {NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT};
	struct tb *b = tb_new("filter", 4096);
	const struct ipt2bpf_table *t;
	struct side a, z;
	unsigned int diffs = 0, kinds;

	rng = seed * 0x2545f4914f6cdd1dull + 11;
	t = random_table(b);
	side_load(&a, t, false);
	side_load(&z, t, true);
	kinds = has_map(&a, "ipt_oh_") | has_map(&a, "ipt_ol_") << 1 | has_map(&a, "ipt_on_") << 2;
	for (unsigned int h = 0; h < 3; h++) {
		int fa = side_fd(&a, hooks[h]), fz = side_fd(&z, hooks[h]);

		for (unsigned int n = 0; n < packets; n++) {
			struct pkt p;
			int ra, rz;

			random_packet(t, &p);
			ra = side_run(&a, fa, t, &p);
			rz = side_run(&z, fz, t, &p);
			for (unsigned int i = 0; i < t->n_entries; i++) {
				uint64_t da = a.after[i].pcnt - a.before[i].pcnt;
				uint64_t dz = z.after[i].pcnt - z.before[i].pcnt;

				if (da != dz || a.after[i].bcnt - a.before[i].bcnt !=
							z.after[i].bcnt - z.before[i].bcnt) {
					char w[128];

					ipt2bpf_entry_describe(t, i, w, sizeof(w));
					print_message(
						"seed %llu hook %d packet %u: %s counted %llu "
						"(optimised) vs %llu\n",
						(unsigned long long)seed, hooks[h], n, w,
						(unsigned long long)da, (unsigned long long)dz);
					diffs++;
				}
			}
			if (ra != rz) {
				print_message("seed %llu hook %d packet %u: verdict %d vs %d\n",
					      (unsigned long long)seed, hooks[h], n, ra, rz);
				diffs++;
			}
			if (diffs && getenv("TEST_OPT_DUMP")) {
				FILE *f = fopen(getenv("TEST_OPT_DUMP"), "w");

				if (f) {
					ipt2bpf_table_dump(t, f);
					fprintf(f, "packet:");
					for (size_t i = 0; i < p.len; i++)
						fprintf(f, " %02x", p.b[i]);
					fprintf(f, "\n");
					fclose(f);
				}
				goto out;
			}
		}
	}
out:
	side_free(&a);
	side_free(&z);
	tb_free(b);
	assert_int_equal(diffs, 0);
	return kinds;
}

static void test_equivalence(void **state)
{
	const char *env = getenv("TEST_OPT_SEEDS"); /* FIRST:COUNT, for longer runs */
	unsigned long first = 1, n = 3;
	unsigned int kinds = 0;

	(void)state;
	if (!have_root())
		return;
	if (env && sscanf(env, "%lu:%lu", &first, &n) != 2)
		first = 1, n = 3;
	for (unsigned long seed = first; seed < first + n; seed++)
		kinds |= equiv_seed(seed, 400);
	/* else the optimiser was not exercised */
	assert_int_equal(kinds, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equivalence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
