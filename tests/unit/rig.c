// SPDX-License-Identifier: GPL-2.0
/*
 * The BPF unit tests' shared rig (rig.h): the IR builder, blobs decoded and
 * compiled, the packet builders, the programs' lookup.
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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <cmocka.h>

#include "translator/ir.h"
#include "translator/validate.h"
#include "blob.h"
#include "rig.h"

/* ------------------------------------------------------------ IR builder */

const char *const tb_builtin[NF_INET_NUMHOOKS] = {[NF_INET_LOCAL_IN] = "INPUT",
						  [NF_INET_FORWARD] = "FORWARD",
						  [NF_INET_LOCAL_OUT] = "OUTPUT"};

struct tb *tb_new(const char *name, unsigned int max)
{
	struct tb *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	b->max = max;
	b->e = calloc(max, sizeof(*b->e));
	b->m = calloc(2 * max, sizeof(*b->m));
	b->fix = calloc(max, sizeof(*b->fix));
	assert_true(b->e && b->m && b->fix);
	snprintf(b->t.name, sizeof(b->t.name), "%s", name);
	b->t.entries = b->e;
	b->t.chains = b->c;
	b->cur = -1;
	return b;
}

void tb_free(struct tb *b)
{
	if (!b)
		return;
	free(b->e);
	free(b->m);
	free(b->fix);
	free(b);
}

struct ipt2bpf_entry *tb_entry(struct tb *b, enum ipt2bpf_entry_role role,
			       enum ipt2bpf_target_kind k)
{
	struct ipt2bpf_entry *e;

	assert_true(b->t.n_entries < b->max);
	e = &b->e[b->t.n_entries];
	memset(e, 0, sizeof(*e));
	e->index = b->t.n_entries++;
	e->offset = e->index * 152;
	e->size = 152;
	e->role = role;
	e->chain = b->cur;
	e->target.kind = k;
	e->target.name = k == IPT2BPF_T_ERROR ? "ERROR" : "";
	return e;
}

/* Starts a chain: INPUT/FORWARD/OUTPUT are built-in, anything else a user chain. */
void tb_chain(struct tb *b, const char *name)
{
	struct ipt2bpf_chain *c = &b->c[b->t.n_chains];

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->hook = -1;
	for (int h = 0; h < NF_INET_NUMHOOKS; h++)
		if (tb_builtin[h] && !strcmp(tb_builtin[h], name))
			c->hook = h;
	c->builtin = c->hook >= 0;
	b->cur = (int)b->t.n_chains++;
	if (c->builtin) {
		b->t.valid_hooks |= 1U << c->hook;
		b->t.hook_entry[c->hook] = b->t.n_entries;
	} else {
		struct ipt2bpf_entry *h = tb_entry(b, IPT2BPF_E_CHAIN_HEAD, IPT2BPF_T_ERROR);

		snprintf(h->target.error_name, sizeof(h->target.error_name), "%s", name);
		c->head_entry = h->index;
	}
	c->first = b->t.n_entries;
}

/* Ends the chain: the policy (NF_ACCEPT/NF_DROP) of a built-in one, RETURN for a user one. */
unsigned int tb_end(struct tb *b, int policy)
{
	struct ipt2bpf_chain *c = &b->c[b->cur];
	struct ipt2bpf_entry *e;

	if (c->builtin) {
		e = tb_entry(b, IPT2BPF_E_POLICY,
			     policy == NF_ACCEPT ? IPT2BPF_T_ACCEPT : IPT2BPF_T_DROP);
		c->policy_entry = e->index;
		c->policy = policy;
		b->t.underflow[c->hook] = e->index;
	} else {
		e = tb_entry(b, IPT2BPF_E_CHAIN_END, IPT2BPF_T_RETURN);
		c->end_entry = e->index;
	}
	b->cur = -1;
	return e->index;
}

struct ipt2bpf_entry *tb_rule(struct tb *b, enum ipt2bpf_target_kind k)
{
	struct ipt2bpf_entry *e = tb_entry(b, IPT2BPF_E_RULE, k);

	e->num = ++b->c[b->cur].n_rules;
	return e;
}

struct ipt2bpf_entry *tb_jump(struct tb *b, const char *chain, bool go)
{
	struct ipt2bpf_entry *e = tb_rule(b, go ? IPT2BPF_T_GOTO : IPT2BPF_T_JUMP);

	if (go)
		e->ip.flags |= IPT_F_GOTO;
	b->fix[b->n_fix].entry = e->index;
	snprintf(b->fix[b->n_fix].chain, sizeof(b->fix[0].chain), "%s", chain);
	b->n_fix++;
	return e;
}

struct ipt2bpf_match *tb_match(struct tb *b, struct ipt2bpf_entry *e, enum ipt2bpf_match_kind k)
{
	static const char *const names[] = {"tcp",	 "udp",	    "icmp",
					    "multiport", "iprange", "comment"};
	struct ipt2bpf_match *m = &b->m[b->n_m];

	if (!e->n_matches)
		e->matches = m;
	assert_ptr_equal(e->matches + e->n_matches, m);
	b->n_m++;
	e->n_matches++;
	memset(m, 0, sizeof(*m));
	m->kind = k;
	m->name = names[k];
	m->revision = k == IPT2BPF_M_MULTIPORT || k == IPT2BPF_M_IPRANGE;
	return m;
}

struct ipt2bpf_table *tb_done(struct tb *b)
{
	struct ipt2bpf_entry *end = tb_entry(b, IPT2BPF_E_TABLE_END, IPT2BPF_T_ERROR);

	snprintf(end->target.error_name, sizeof(end->target.error_name), "ERROR");
	for (unsigned int i = 0; i < b->n_fix; i++) {
		unsigned int c;

		for (c = 0; c < b->t.n_chains; c++)
			if (!strcmp(b->c[c].name, b->fix[i].chain))
				break;
		assert_true(c < b->t.n_chains);
		b->e[b->fix[i].entry].target.target_entry = b->c[c].first;
		b->c[c].references++;
	}
	for (unsigned int i = 0; i < b->t.n_entries; i++)
		b->e[i].hooks = b->t.valid_hooks;
	return &b->t;
}

/* a/m = the address s with a plen-bit mask. */
static void ip_addr(struct in_addr *a, struct in_addr *m, const char *s, int plen)
{
	assert_int_equal(inet_pton(AF_INET, s, a), 1);
	m->s_addr = plen ? htonl(~0U << (32 - plen)) : 0;
	a->s_addr &= m->s_addr;
}

void r_src(struct ipt2bpf_entry *e, const char *s, int plen, bool inv)
{
	ip_addr(&e->ip.src, &e->ip.smsk, s, plen);
	if (inv)
		e->ip.invflags |= IPT_INV_SRCIP;
}

void r_dst(struct ipt2bpf_entry *e, const char *s, int plen, bool inv)
{
	ip_addr(&e->ip.dst, &e->ip.dmsk, s, plen);
	if (inv)
		e->ip.invflags |= IPT_INV_DSTIP;
}

/* As xtables_parse_interface(): "eth+" compares 3 bytes, "eth0" 5 (with the NUL). */
void parse_iface(const char *arg, char *name, unsigned char *mask)
{
	size_t l = strlen(arg);

	memset(name, 0, IFNAMSIZ);
	memset(mask, 0, IFNAMSIZ);
	memcpy(name, arg, l);
	if (!l)
		return;
	if (arg[l - 1] == '+')
		memset(mask, 0xff, l - 1);
	else
		memset(mask, 0xff, l + 1);
}

void r_in(struct ipt2bpf_entry *e, const char *ifname, bool inv)
{
	parse_iface(ifname, e->ip.iniface, e->ip.iniface_mask);
	if (inv)
		e->ip.invflags |= IPT_INV_VIA_IN;
}

void r_out(struct ipt2bpf_entry *e, const char *ifname, bool inv)
{
	parse_iface(ifname, e->ip.outiface, e->ip.outiface_mask);
	if (inv)
		e->ip.invflags |= IPT_INV_VIA_OUT;
}

void r_proto(struct ipt2bpf_entry *e, uint16_t proto, bool inv)
{
	e->ip.proto = proto;
	if (inv)
		e->ip.invflags |= IPT_INV_PROTO;
}

struct xt_tcp *m_tcp(struct tb *b, struct ipt2bpf_entry *e)
{
	struct xt_tcp *t = &tb_match(b, e, IPT2BPF_M_TCP)->u.tcp;

	t->spts[1] = t->dpts[1] = 0xffff;
	return t;
}

struct xt_udp *m_udp(struct tb *b, struct ipt2bpf_entry *e)
{
	struct xt_udp *u = &tb_match(b, e, IPT2BPF_M_UDP)->u.udp;

	u->spts[1] = u->dpts[1] = 0xffff;
	return u;
}

/* ------------------------------------------------------------ blobs */

void rig_fallthrough(struct blob *b)
{
	unsigned int idx = blob_std(b, 0);

	((struct xt_standard_target *)blob_target(b, idx))->verdict = (int)b->len;
}

struct ipt_replace *rig_one_rule(unsigned int hook, const char *mname, unsigned char mrev,
				 const void *mdata, size_t mlen, const char *tname,
				 const void *tdata, size_t tlen, size_t *len)
{
	static const unsigned int hooks[] = {NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT};
	struct blob b;

	blob_init(&b, "filter", FILTER_HOOKS);
	for (size_t k = 0; k < sizeof(hooks) / sizeof(hooks[0]); k++) {
		blob_hook(&b, hooks[k]);
		if (hooks[k] == hook) {
			blob_entry(&b, NULL);
			if (mname)
				blob_match(&b, mname, mrev, mdata, mlen);
			if (tname)
				blob_end(&b, tname, 0, tdata, tlen);
			else
				rig_fallthrough(&b);
		}
		blob_policy(&b, hooks[k], VERDICT_ACCEPT);
	}
	blob_error(&b, "ERROR");
	return blob_finish(&b, len);
}

int rig_decode(struct ipt_replace *repl, size_t len, struct ipt2bpf_table **t,
	       struct ipt2bpf_diag *d)
{
	int err = ipt2bpf_validate(repl, len, d);

	return err ? err : ipt2bpf_table_decode(repl, len, t, d);
}

int rig_compile(struct ipt_replace *repl, size_t len, const struct ipt2bpf_gen_opts *o, bool load,
		char *msg, size_t msglen)
{
	struct ipt2bpf_progset *ps = NULL;
	struct ipt2bpf_table *t = NULL;
	struct ipt2bpf_loaded l = {0};
	struct ipt2bpf_diag d = {0};
	int err = rig_decode(repl, len, &t, &d);

	if (!err)
		err = ipt2bpf_gen((const struct ipt2bpf_table *const *)&t, 1, o, &ps, &d);
	if (!err && load) {
		err = ipt2bpf_progset_load(ps, &l, &d);
		ipt2bpf_loaded_close(&l);
	}
	snprintf(msg, msglen, "%s", d.msg);
	ipt2bpf_progset_free(ps);
	ipt2bpf_table_free(t);
	free(repl);
	return err;
}

/* ------------------------------------------------------------ packets */

uint16_t pkt_csum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Ethernet (to 00:00:00:00:00:00, lo's address) + IPv4 + the transport bytes given. */
void pkt_build(struct pkt *p, const struct ipspec *s, const void *l4, size_t l4len)
{
	uint8_t *ip = p->b + ETH_HLEN;
	uint8_t ihl = s->ihl ? s->ihl : 5;
	size_t hl = (size_t)ihl * 4, tot = hl + l4len;
	uint32_t a;
	uint16_t c;

	memset(p, 0, sizeof(*p));
	if (s->macs)
		memcpy(p->b, s->macs, 12);
	p->b[12] = 0x08;
	p->b[13] = 0x00;
	ip[0] = (uint8_t)((s->version ? s->version : 4) << 4 | ihl);
	ip[2] = (uint8_t)((tot + (size_t)s->tot_delta) >> 8);
	ip[3] = (uint8_t)(tot + (size_t)s->tot_delta);
	ip[4] = (uint8_t)(s->id >> 8);
	ip[5] = (uint8_t)s->id;
	ip[6] = (uint8_t)(s->frag >> 8);
	ip[7] = (uint8_t)s->frag;
	ip[8] = s->ttl ? s->ttl : 64;
	ip[9] = s->proto;
	a = IP(s->src ? s->src : "10.0.0.1");
	memcpy(ip + 12, &a, 4);
	a = IP(s->dst ? s->dst : "10.0.0.2");
	memcpy(ip + 16, &a, 4);
	for (size_t i = 20; i < hl; i++)
		ip[i] = 1; /* IP options: NOPs */
	if (s->opts) {
		memset(ip + 20, 0, hl - 20);
		memcpy(ip + 20, s->opts, strlen(s->opts));
	}
	c = pkt_csum(ip, hl);
	if (s->bad_csum)
		c ^= 0x1234;
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	memcpy(ip + hl, l4, l4len);
	p->len = ETH_HLEN + tot + s->pad;
}

void pkt_tcp_spec(struct pkt *p, const struct ipspec *s, const struct tcpspec *t)
{
	uint8_t th[80] = {0};
	size_t hl = 20 + ((t->optlen + 3) & ~3UL);
	struct ipspec is = *s;

	put16(th, t->sport);
	put16(th + 2, t->dport);
	put32(th + 4, t->seq);
	put32(th + 8, t->ack);
	th[12] = (uint8_t)(hl / 4) << 4;
	th[13] = t->flags;
	put16(th + 14, t->win);
	if (t->optlen)
		memcpy(th + 20, t->opts, t->optlen);
	is.proto = IPPROTO_TCP;
	pkt_build(p, &is, th, hl);
}

void pkt_tcp(struct pkt *p, const struct ipspec *s, uint16_t sport, uint16_t dport, uint8_t flags,
	     const uint8_t *opts, size_t optlen)
{
	const struct tcpspec t = {
		.sport = sport, .dport = dport, .flags = flags, .opts = opts, .optlen = optlen};

	pkt_tcp_spec(p, s, &t);
}

void pkt_udp(struct pkt *p, const struct ipspec *s, uint16_t sport, uint16_t dport)
{
	uint8_t uh[12] = {(uint8_t)(sport >> 8),
			  (uint8_t)sport,
			  (uint8_t)(dport >> 8),
			  (uint8_t)dport,
			  0,
			  12};
	struct ipspec t = *s;

	t.proto = IPPROTO_UDP;
	pkt_build(p, &t, uh, sizeof(uh));
}

void pkt_icmp(struct pkt *p, const struct ipspec *s, uint8_t type, uint8_t code)
{
	uint8_t ih[8] = {type, code};
	struct ipspec t = *s;

	t.proto = IPPROTO_ICMP;
	pkt_build(p, &t, ih, sizeof(ih));
}

void pkt_icmp_err(struct pkt *p, const struct ipspec *s, uint8_t type, uint8_t code,
		  const struct pkt *q)
{
	uint8_t ih[8 + 28] = {type, code};
	struct ipspec t = *s;

	memcpy(ih + 8, q->b + ETH_HLEN, 28);
	put16(ih + 2, pkt_csum(ih, sizeof(ih)));
	t.proto = IPPROTO_ICMP;
	pkt_build(p, &t, ih, sizeof(ih));
}

/* ------------------------------------------------------------ running */

bool have_root(void)
{
	if (geteuid() == 0)
		return true;
	/* test_gen, test_opt: the binary's name says whose tests are skipped. */
	print_message("%s: not root, BPF tests skipped\n", program_invocation_short_name);
	return false;
}

void rig_lo_up(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

int rig_prog_fd(const struct ipt2bpf_progset *ps, const struct ipt2bpf_loaded *l,
		enum ipt2bpf_prog_role role, int hook)
{
	for (unsigned int i = 0; i < ps->n_progs; i++)
		if (ps->progs[i].role == role &&
		    (role != IPT2BPF_P_TRACE || ps->progs[i].hook == hook))
			return l->prog_fds[i];
	fail_msg("no program for role %d hook %d", role, hook);
	return -1;
}
