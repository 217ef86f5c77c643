// SPDX-License-Identifier: GPL-2.0
/*
 * rulegen: random filter-table rule sets and packets aimed at them, for the
 * differential test against the kernel (tests/diff/run.sh).
 *
 *   rulegen --seed N --rules OUT.v4 [--pcap-input P1] [--pcap-forward P2]
 *           [--pcap-output P3] [--nrules K] [--npackets M]
 *   rulegen --seed N --loop --rules OUT.v4     a rule set with a chain loop
 *   rulegen --fixed [--pcap-input P1] ...      a fixed set of ~30 varied packets
 *   --opt (or RULEGEN_OPT=1): blocks the optimiser (codegen/opt.h) turns into
 *   hash/LPM runs and decision trees, mixed with the ordinary random rules
 *
 * Rule sets are iptables-save text that iptables-legacy-restore accepts. User
 * chains form a DAG (jumps only go to chains later in a random order), so
 * there are no loops unless --loop asks for one.
 *
 * Packets take their addresses, ports, flags, options and ICMP types from
 * the rules, with boundaries (range edges +-1, just inside/outside masks),
 * plus random ones and malformed ones. Addresses suit the test topology
 * (tests/diff/topology.sh): INPUT packets go to the firewall's own addresses,
 * FORWARD and OUTPUT packets to 198.19.0.0/16, and sources are never martian
 * (the kernel would drop them before any filter hook).
 *
 * Next to every pcap, P.meta has one line per packet: "N DGRAM DESCRIPTION".
 * DGRAM groups the fragments of one datagram: the kernel's INPUT hook sees the
 * reassembled datagram when its last fragment arrives, and OUTPUT sees a
 * datagram before the kernel fragments it, so run.sh compares INPUT and
 * OUTPUT results per datagram. FORWARD fragment series are one datagram per
 * packet: without conntrack FORWARD judges every fragment on its own.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "tests/tools/pcap.h"
#include "translator/util.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

/* The topology (tests/diff/topology.sh) as the packets see it. */
#define FW_VIN_ADDR   IP4(10, 200, 1, 1)
#define FW_VOUT_ADDR  IP4(10, 200, 2, 1)
#define SENTINEL_ADDR IP4(10, 200, 1, 254) /* kdiff's sentinel source */
#define LOCAL_NET     IP4(198, 18, 0, 0)   /* routed to lo in fw: INPUT targets */
#define FORWARD_NET   IP4(198, 19, 0, 0)   /* routed via s: FORWARD/OUTPUT targets */

enum { CH_INPUT, CH_FORWARD, CH_OUTPUT, NBUILTIN };
static const char *const builtin_names[NBUILTIN] = {"INPUT", "FORWARD", "OUTPUT"};

#define MAX_USER_CHAINS 8
#define MAX_CHAINS	(NBUILTIN + MAX_USER_CHAINS + 3)
#define MAX_RULES	4096
#define MAX_MP		15 /* XT_MULTI_PORTS */

/* ------------------------------------------------------------------ random */

static uint64_t rng_state;
/*
 * --table security: the rules go to the security table, and some rules
 * without a target get -j SECMARK (non-terminal: the traversal is the
 * filter table's).  Chosen by rule position, not by the random stream, so
 * the packets and the rest of the rule set are those of the filter mode.
 */
static bool security_table;
static const char *const sec_contexts[] = {
	"system_u:object_r:http_client_packet_t:s0",
	"system_u:object_r:http_server_packet_t:s0",
	"system_u:object_r:dns_client_packet_t:s0",
	"unconfined_u:object_r:unlabeled_t",
};

/* splitmix64: tiny, and the same sequence on every platform for a seed. */
static uint64_t rng64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd(uint32_t n)
{
	return n ? (uint32_t)(rng64() % n) : 0;
}

static uint32_t rnd32(void)
{
	return (uint32_t)rng64();
}

static bool pct(unsigned int p)
{
	return rnd(100) < p;
}

#define PICK(a) ((a)[rnd(ARRAY_SIZE(a))])

/* ------------------------------------------------------------------- rules */

struct prange {
	uint16_t lo, hi;
};

enum target { T_NONE, T_ACCEPT, T_DROP, T_RETURN, T_JUMP, T_GOTO };
enum { MP_NONE, MP_SPORTS, MP_DPORTS, MP_PORTS };
static const char *const mp_opt[] = {"", "--sports", "--dports", "--ports"};

struct rule {
	int chain;
	int num; /* 1-based position in its chain */

	bool src, src_inv;
	uint32_t saddr, smask;
	bool dst, dst_inv;
	uint32_t daddr, dmask;
	const char *in, *out;
	bool in_inv, out_inv;
	int proto; /* -1: no -p */
	bool proto_inv, proto_numeric;
	int frag; /* 0, 1: -f, 2: ! -f */

	bool l4m; /* -m tcp / -m udp */
	bool sp, sp_inv, dp, dp_inv;
	struct prange sport, dport;
	int sport_spell, dport_spell; /* 0 "a:b", 1 ":b", 2 "a:" */
	int flags;		      /* 0, 1: --tcp-flags, 2: --syn */
	bool flags_inv;
	uint8_t fmask, fcmp;
	bool fall; /* spell mask 0x3f as ALL */
	bool topt, topt_inv;
	uint8_t optkind;

	bool icmp, icmp_inv;
	uint8_t itype, icode_min, icode_max;
	const char *icmp_name; /* spelled by name, or NULL */
	bool icmp_code_given;

	int mp;
	bool mp_inv;
	int mpn;
	struct prange mpr[MAX_MP];

	bool sr, sr_inv, dr, dr_inv;
	uint32_t sr_lo, sr_hi, dr_lo, dr_hi;

	const char *comment;
	enum target target;
	int tchain;
};

struct chain {
	char name[32];
	bool builtin;
	int dag;    /* user chains jump only to chains with a larger dag */
	int policy; /* built-ins: T_ACCEPT or T_DROP */
	int nrules;
};

struct ruleset {
	struct chain chains[MAX_CHAINS];
	int nchains;
	struct rule rules[MAX_RULES];
	int nrules;
};

struct pfx {
	uint32_t net;
	int len;
};

/* Where rule sources come from: none is martian or local to fw. */
static const struct pfx src_pool[] = {
	{IP4(10, 200, 1, 0), 24}, {IP4(203, 0, 113, 0), 24}, {IP4(192, 0, 2, 0), 24},
	{IP4(172, 16, 0, 0), 12}, {IP4(100, 64, 0, 0), 10},  {IP4(8, 8, 0, 0), 16},
	{IP4(45, 0, 0, 0), 8},	  {IP4(192, 168, 0, 0), 16}, {IP4(10, 200, 2, 0), 24},
	{IP4(198, 19, 0, 0), 16},
};

static const struct pfx dst_pool[] = {
	{LOCAL_NET, 16},   {LOCAL_NET, 16},	     {FORWARD_NET, 16},
	{FORWARD_NET, 16}, {IP4(10, 200, 1, 0), 24}, {IP4(10, 200, 2, 0), 24},
};

static const char *const ifnames[] = {
	"vin", "vin+", "vi+",  "v+",   "+",  "vout", "vout+", "vo+", "lo",    "vc",
	"vs",  "eth0", "eth+", "vinx", "vi", "vin0", "vou+",  "l+",  "vin1+", "v",
};

/* Names that match the devices packets use: in "vin", out "vout". */
static const char *const in_names[] = {"vin", "vin+", "vi+", "v+", "+"};
static const char *const out_names[] = {"vout", "vout+", "vo+", "v+", "+"};

static const uint16_t nice_ports[] = {0,    1,	  20,	 21,	22,    23,   25,   53,
				      67,   68,	  80,	 123,	443,   1023, 1024, 1025,
				      3306, 8080, 32768, 49151, 65534, 65535};

static const uint8_t opt_kinds[] = {1, 2, 3, 4, 5, 8, 19, 28, 30, 34, 253, 254, 255};

struct icmp_name {
	const char *name;
	uint8_t type, cmin, cmax;
};

/* Names libxt_icmp knows, with the code ranges it stores for them. */
static const struct icmp_name icmp_names[] = {
	{"echo-reply", 0, 0, 0xff},
	{"destination-unreachable", 3, 0, 0xff},
	{"network-unreachable", 3, 0, 0},
	{"host-unreachable", 3, 1, 1},
	{"port-unreachable", 3, 3, 3},
	{"redirect", 5, 0, 0xff},
	{"echo-request", 8, 0, 0xff},
	{"time-exceeded", 11, 0, 0xff},
	{"ttl-zero-during-transit", 11, 0, 0},
	{"parameter-problem", 12, 0, 0xff},
	{"timestamp-request", 13, 0, 0xff},
};

static const char *const comments[] = {"allow web", "ssh", "x", "drop bogons", "rulegen"};

static const char *const user_names[] = {
	"block",   "accept_web", "Zone1",   "c-2",
	"logdrop", "x",		 "a",	    "B",
	"ssh_in",  "udp_chk",	 "icmp-ok", "web",
	"zz",	   "Mixed_Case", "n0",	    "LONG_chain_name_for_sorting",
};

static uint32_t prefix_mask(int len)
{
	return len <= 0 ? 0 : len >= 32 ? 0xffffffffu : ~0u << (32 - len);
}

static uint32_t pfx_random(const struct pfx *p)
{
	uint32_t m = prefix_mask(p->len);

	return (p->net & m) | (rnd32() & ~m);
}

/* Prefix lengths people write, and some they do not. */
static void rule_mask(uint32_t *addr, uint32_t *mask)
{
	unsigned int r = rnd(100);

	if (r < 30)
		*mask = prefix_mask(32);
	else if (r < 50)
		*mask = prefix_mask(24);
	else if (r < 60)
		*mask = prefix_mask(16);
	else if (r < 75)
		*mask = prefix_mask(28 + (int)rnd(4));
	else if (r < 94)
		*mask = prefix_mask((int)rnd(33));
	else if (r < 97)
		*mask = IP4(255, 0, 255, 0); /* non-contiguous: iptables accepts it */
	else
		*mask = rnd32() | 0xff000000u;
	*addr &= *mask; /* what iptables stores (and iptables-save prints) */
}

static struct prange rand_prange(int *spell)
{
	struct prange r;
	uint16_t a = pct(60) ? PICK(nice_ports) : (uint16_t)rnd(65536);
	unsigned int k = rnd(100);

	*spell = 0;
	if (k < 40) {
		r.lo = r.hi = a;
	} else if (k < 75) {
		uint32_t hi = a + (pct(50) ? rnd(10) : rnd(3000));

		r.lo = a;
		r.hi = hi > 65535 ? 65535 : (uint16_t)hi;
	} else if (k < 85) {
		r.lo = 0;
		r.hi = a;
		*spell = 1;
	} else if (k < 92) {
		r.lo = a;
		r.hi = 65535;
		*spell = 2;
	} else {
		uint16_t b = (uint16_t)rnd(65536);

		r.lo = a < b ? a : b;
		r.hi = a < b ? b : a;
	}
	return r;
}

static int user_chain_after(const struct ruleset *rs, int chain)
{
	int cand[MAX_CHAINS], n = 0;
	int dag = rs->chains[chain].builtin ? -1 : rs->chains[chain].dag;

	for (int i = NBUILTIN; i < rs->nchains; i++)
		if (rs->chains[i].dag > dag)
			cand[n++] = i;
	return n ? cand[rnd((uint32_t)n)] : -1;
}

static void gen_l4(struct rule *r)
{
	if (r->proto_inv)
		return;
	if (r->proto == IPPROTO_TCP) {
		if (pct(65)) {
			r->l4m = true;
			if (pct(40)) {
				r->sp = true;
				r->sp_inv = pct(15);
				r->sport = rand_prange(&r->sport_spell);
			}
			if (pct(55)) {
				r->dp = true;
				r->dp_inv = pct(15);
				r->dport = rand_prange(&r->dport_spell);
			}
			if (pct(30)) {
				r->flags = pct(30) ? 2 : 1;
				r->flags_inv = pct(20);
				if (r->flags == 1) {
					r->fmask =
						pct(10) ? (pct(50) ? 0x3f : 0) : (uint8_t)rnd(64);
					r->fcmp = pct(80) ? (uint8_t)(rnd(64) & r->fmask)
							  : (uint8_t)rnd(64);
					r->fall = pct(50);
				} else {
					/* what --syn stands for */
					r->fmask = TH_SYN | TH_RST | TH_ACK | TH_FIN;
					r->fcmp = TH_SYN;
				}
			}
			if (pct(15)) {
				r->topt = true;
				r->topt_inv = pct(25);
				r->optkind = pct(80) ? PICK(opt_kinds) : (uint8_t)(1 + rnd(255));
			}
		}
	} else if (r->proto == IPPROTO_UDP) {
		if (pct(60)) {
			r->l4m = true;
			if (pct(50)) {
				r->sp = true;
				r->sp_inv = pct(15);
				r->sport = rand_prange(&r->sport_spell);
			}
			if (pct(65)) {
				r->dp = true;
				r->dp_inv = pct(15);
				r->dport = rand_prange(&r->dport_spell);
			}
		}
	} else if (r->proto == IPPROTO_ICMP) {
		if (pct(70)) {
			r->icmp = true;
			r->icmp_inv = pct(20);
			if (pct(20)) {
				const struct icmp_name *n = &PICK(icmp_names);

				r->icmp_name = n->name;
				r->itype = n->type;
				r->icode_min = n->cmin;
				r->icode_max = n->cmax;
			} else if (pct(4)) {
				r->itype = 0xff; /* "any" */
				r->icode_min = 0;
				r->icode_max = 0xff;
			} else {
				static const uint8_t types[] = {0,  3,	4,  5,	8, 11,
								12, 13, 14, 17, 18};

				r->itype = pct(85) ? PICK(types) : (uint8_t)rnd(41);
				r->icmp_code_given = pct(50);
				if (r->icmp_code_given) {
					static const uint8_t codes[] = {0, 1, 2, 3, 4, 13};

					r->icode_min = r->icode_max =
						pct(80) ? PICK(codes) : (uint8_t)rnd(256);
				} else {
					r->icode_min = 0;
					r->icode_max = 0xff;
				}
			}
		}
	}
	if ((r->proto == IPPROTO_TCP || r->proto == IPPROTO_UDP || r->proto == IPPROTO_SCTP) &&
	    pct(r->proto == IPPROTO_SCTP ? 60 : 25)) {
		int budget = MAX_MP;

		r->mp = MP_SPORTS + (int)rnd(3);
		r->mp_inv = pct(20);
		r->mpn = 0;
		for (int n = 1 + (int)rnd(6); n > 0 && budget > 0; n--) {
			struct prange *p = &r->mpr[r->mpn++];
			int spell;

			*p = rand_prange(&spell);
			/* a range takes two of the match's 15 slots */
			budget -= p->lo == p->hi ? 1 : 2;
			if (budget < 0) {
				p->hi = p->lo;
				budget = 0;
			}
		}
	}
}

/* Rule addresses mostly where the chain's packets are (see src_ok/dst_ok). */
static uint32_t rule_src(int chain)
{
	if (chain == CH_OUTPUT && pct(50)) {
		static const struct pfx local[] = {
			{IP4(10, 200, 1, 1), 32}, {IP4(10, 200, 2, 1), 32}, {LOCAL_NET, 16}};

		return pfx_random(&PICK(local));
	}
	return pfx_random(&PICK(src_pool));
}

static uint32_t rule_dst(int chain)
{
	static const struct pfx fw[] = {
		{IP4(10, 200, 1, 1), 32}, {IP4(10, 200, 2, 1), 32}, {IP4(10, 200, 1, 0), 24}};
	unsigned int k = rnd(100);

	if (chain == CH_INPUT && k < 75)
		return pfx_random(&(struct pfx){LOCAL_NET, 16});
	if (chain == CH_INPUT && k < 90)
		return pfx_random(&PICK(fw));
	if ((chain == CH_FORWARD || chain == CH_OUTPUT) && k < 85)
		return pfx_random(&(struct pfx){FORWARD_NET, 16});
	return pfx_random(&PICK(dst_pool));
}

static int popcount32(uint32_t v)
{
	return __builtin_popcount(v);
}

/*
 * Whether a rule matches a small part of the traffic. Random rules that do
 * not (`-p udp -j DROP`, `! -s 1.2.3.4`) swallow everything after them, and
 * most rules would never see a packet.
 */
static bool narrow(const struct rule *r)
{
	return (r->src && !r->src_inv && popcount32(r->smask) >= 20) ||
	       (r->dst && !r->dst_inv && popcount32(r->dmask) >= 20) ||
	       (r->sp && !r->sp_inv && r->sport.hi - r->sport.lo < 2048) ||
	       (r->dp && !r->dp_inv && r->dport.hi - r->dport.lo < 2048) || (r->mp && !r->mp_inv) ||
	       (r->sr && !r->sr_inv && r->sr_hi - r->sr_lo < 65536) ||
	       (r->dr && !r->dr_inv && r->dr_hi - r->dr_lo < 65536) ||
	       (r->icmp && !r->icmp_inv && r->itype != 0xff) || (r->flags && !r->flags_inv) ||
	       (r->topt && !r->topt_inv) || r->frag == 1;
}

static void narrow_down(struct rule *r)
{
	unsigned int k = rnd(3);

	if (k == 0 && (r->proto == IPPROTO_TCP || r->proto == IPPROTO_UDP) && !r->proto_inv) {
		r->l4m = true;
		r->dp = true;
		r->dp_inv = false;
		r->dport = rand_prange(&r->dport_spell);
		if (r->dport.hi - r->dport.lo >= 2048)
			r->dport.hi = r->dport.lo;
		r->dport_spell = 0;
	} else if (k == 1 || (r->src && !r->src_inv)) {
		r->dst = true;
		r->dst_inv = false;
		r->daddr = rule_dst(r->chain);
		r->dmask = prefix_mask(24 + (int)rnd(9));
		r->daddr &= r->dmask;
	} else {
		r->src = true;
		r->src_inv = false;
		r->saddr = rule_src(r->chain);
		r->smask = prefix_mask(20 + (int)rnd(13));
		r->saddr &= r->smask;
	}
}

static void gen_rule(struct ruleset *rs, struct rule *r, int chain)
{
	bool builtin = chain < NBUILTIN;
	unsigned int k;

	memset(r, 0, sizeof(*r));
	r->chain = chain;
	r->num = ++rs->chains[chain].nrules;
	r->proto = -1;

	if (pct(35)) {
		r->src = true;
		r->src_inv = pct(10);
		r->saddr = rule_src(chain);
		rule_mask(&r->saddr, &r->smask);
	}
	if (pct(35)) {
		r->dst = true;
		r->dst_inv = pct(10);
		r->daddr = rule_dst(chain);
		rule_mask(&r->daddr, &r->dmask);
	}
	/* iptables refuses -o in INPUT and -i in OUTPUT, but not in user chains */
	if ((!builtin || chain != CH_OUTPUT) && pct(12)) {
		r->in = pct(50) ? PICK(in_names) : PICK(ifnames);
		r->in_inv = pct(20);
	}
	if ((!builtin || chain != CH_INPUT) && pct(12)) {
		r->out = pct(50) ? PICK(out_names) : PICK(ifnames);
		r->out_inv = pct(20);
	}

	k = rnd(100);
	if (k < 38) {
		r->proto = IPPROTO_TCP;
	} else if (k < 56) {
		r->proto = IPPROTO_UDP;
	} else if (k < 70) {
		r->proto = IPPROTO_ICMP;
	} else if (k < 76) {
		static const int other[] = {IPPROTO_GRE,  IPPROTO_ESP, IPPROTO_SCTP, IPPROTO_SCTP,
					    IPPROTO_IGMP, 253,	       IPPROTO_AH};

		r->proto = PICK(other);
		r->proto_numeric = true;
	} else if (k < 78) {
		r->proto = 0; /* -p all */
	}
	if (r->proto > 0) {
		r->proto_inv = pct(10);
		if (!r->proto_numeric)
			r->proto_numeric = pct(15);
	}
	/* -f never matches in INPUT (the kernel reassembles first), and with a
	 * port match never at all: keep those rare */
	if (pct(8))
		r->frag = 1 + (int)rnd(2);
	if (r->frag == 1 && chain == CH_INPUT && pct(80))
		r->frag = 2;
	if (r->frag != 1 || pct(15))
		gen_l4(r);

	if (pct(10)) {
		r->sr = true;
		r->sr_inv = pct(20);
		r->sr_lo = rule_src(chain);
		r->sr_hi = r->sr_lo + (pct(50) ? rnd(16) : rnd(5000));
		if (r->sr_hi < r->sr_lo || pct(1)) /* wrapped, or reversed on purpose */
			r->sr_hi = r->sr_lo - rnd(8);
	}
	if (pct(10)) {
		r->dr = true;
		r->dr_inv = pct(20);
		r->dr_lo = rule_dst(chain);
		r->dr_hi = r->dr_lo + (pct(50) ? rnd(16) : rnd(5000));
		if (r->dr_hi < r->dr_lo)
			r->dr_hi = r->dr_lo;
	}
	/* -s with --src-range (or -d with --dst-range) mostly overlapping, or
	 * the rule would rarely match anything */
	if (r->src && r->sr && pct(70)) {
		r->sr_lo = r->saddr - rnd(4);
		r->sr_hi = (r->saddr | ~r->smask) + rnd(4);
	}
	if (r->dst && r->dr && pct(70)) {
		r->dr_lo = r->daddr - rnd(4);
		r->dr_hi = (r->daddr | ~r->dmask) + rnd(4);
	}
	if (r->sr && r->sr_hi < r->sr_lo && pct(95))
		r->sr_hi = r->sr_lo;
	if (r->dr && r->dr_hi < r->dr_lo)
		r->dr_hi = r->dr_lo;
	if (pct(8))
		r->comment = PICK(comments);

	k = rnd(100);
	if (k < 27) {
		r->target = T_ACCEPT;
	} else if (k < (security_table ? 40 : 54)) {
		/* --table security: more rules without a verdict, for SECMARK */
		r->target = T_DROP;
	} else if (k < 64) {
		r->target = T_NONE;
	} else if (k < 72) {
		r->target = T_RETURN;
	} else {
		r->tchain = user_chain_after(rs, chain);
		r->target =
			r->tchain < 0 ? (pct(50) ? T_ACCEPT : T_DROP) : (k < 90 ? T_JUMP : T_GOTO);
	}
	/* a few broad rules, mostly ones that let packets go on */
	if (!narrow(r) && pct(r->target == T_ACCEPT || r->target == T_DROP ? 96 : 80))
		narrow_down(r);
}

/*
 * --opt (or RULEGEN_OPT=1 in the environment): blocks of rules the optimiser
 * (codegen/opt.h) turns into lookups, mixed with the ordinary random rules:
 * runs that differ only in source or destination (one mask, or prefixes that
 * nest), in exact ports, or in the whole 5-tuple, each run with one target,
 * duplicates included; and long stretches of random rules whose targets all
 * leave the chain (what a decision tree classifies).
 */
static bool opt_mode;

static int terminal_target(struct ruleset *rs, int chain, struct rule *r)
{
	unsigned int k = rnd(100);
	int t = user_chain_after(rs, chain);

	if (k < 40)
		return T_ACCEPT;
	if (k < 80)
		return T_DROP;
	if (k < 88)
		return T_RETURN;
	if (t < 0)
		return pct(50) ? T_ACCEPT : T_DROP;
	r->tchain = t;
	return T_GOTO;
}

/* A prefix of length len around a random address of the chain's pool. */
static void block_addr(int chain, bool src, int len, uint32_t *a, uint32_t *m)
{
	*m = prefix_mask(len);
	*a = (src ? rule_src(chain) : rule_dst(chain)) & *m;
}

static int gen_block(struct ruleset *rs, int chain, int budget)
{
	unsigned int kind = rnd(7);
	int n = kind == 6 ? 48 + (int)rnd(150) : 16 + (int)rnd(64), made = 0;
	struct rule tmpl, *prev = NULL;
	int len = 16 + (int)rnd(17), target, tchain = 0;

	if (n > budget)
		n = budget;
	if (kind == 6) {
		/* A stretch for the classifier: random rules, leaving targets. */
		for (; made < n && rs->nrules < MAX_RULES; made++) {
			struct rule *r = &rs->rules[rs->nrules++];

			gen_rule(rs, r, chain);
			if (r->target != T_ACCEPT && r->target != T_DROP && r->target != T_RETURN &&
			    r->target != T_GOTO)
				r->target = terminal_target(rs, chain, r);
		}
		return made;
	}
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.chain = chain;
	tmpl.proto = -1;
	target = terminal_target(rs, chain, &tmpl);
	tchain = tmpl.tchain;
	if (kind >= 2) {
		tmpl.proto = pct(60) ? IPPROTO_TCP : IPPROTO_UDP;
		tmpl.l4m = true;
	} else if (pct(30)) {
		tmpl.proto = pct(50) ? IPPROTO_TCP : IPPROTO_ICMP;
	}
	if (kind == 2 && pct(50)) { /* ports with a fixed network */
		tmpl.src = true;
		block_addr(chain, true, 24, &tmpl.saddr, &tmpl.smask);
	}
	if (pct(15)) {
		tmpl.in = (!rs->chains[chain].builtin || chain != CH_OUTPUT) ? PICK(in_names) : NULL;
		tmpl.in_inv = pct(20);
	}
	if (pct(8))
		tmpl.comment = PICK(comments);
	for (; made < n && rs->nrules < MAX_RULES; made++) {
		struct rule *r = &rs->rules[rs->nrules++];

		*r = tmpl;
		r->num = ++rs->chains[chain].nrules;
		r->target = target;
		r->tchain = tchain;
		if (prev && pct(5)) { /* a duplicate: the first one wins */
			*r = *prev;
			r->num = rs->chains[chain].nrules;
			prev = r;
			continue;
		}
		switch (kind) {
		case 0: /* sources: one mask, or nesting prefixes */
		case 1: {
			bool src = kind == 0;
			uint32_t *a = src ? &r->saddr : &r->daddr, *m = src ? &r->smask : &r->dmask;
			int l = len;

			if (len < 24 && prev && pct(30)) {
				/* a prefix inside or around the previous one */
				l = (int)(16 + rnd(17));
				*m = prefix_mask(l);
				*a = (src ? prev->saddr : prev->daddr) & *m;
				if (l > 24 || pct(50))
					*a |= rnd32() & ~*m;
				*a &= *m;
			} else {
				if (len < 24)
					l = (int)(16 + rnd(17));
				block_addr(chain, src, l, a, m);
			}
			if (src)
				r->src = true;
			else
				r->dst = true;
			break;
		}
		case 2: /* ports */
			r->dp = true;
			r->dport.lo = r->dport.hi = pct(50) ? PICK(nice_ports) : (uint16_t)rnd(65536);
			if (pct(30)) {
				r->sp = true;
				r->sport.lo = r->sport.hi = (uint16_t)rnd(65536);
			}
			break;
		case 3: /* 5-tuple */
			r->src = r->dst = r->sp = r->dp = true;
			block_addr(chain, true, 32, &r->saddr, &r->smask);
			block_addr(chain, false, 32, &r->daddr, &r->dmask);
			r->sport.lo = r->sport.hi = (uint16_t)rnd(65536);
			r->dport.lo = r->dport.hi = PICK(nice_ports);
			break;
		case 4: /* source and port */
			r->src = r->dp = true;
			block_addr(chain, true, 32, &r->saddr, &r->smask);
			r->dport.lo = r->dport.hi = PICK(nice_ports);
			break;
		default: /* addresses of both */
			r->src = r->dst = true;
			block_addr(chain, true, 24, &r->saddr, &r->smask);
			block_addr(chain, false, 32, &r->daddr, &r->dmask);
			break;
		}
		prev = r;
	}
	return made;
}

static void gen_chains(struct ruleset *rs, int nuser)
{
	bool used[ARRAY_SIZE(user_names)] = {0};
	int order[MAX_USER_CHAINS];

	memset(rs, 0, sizeof(*rs));
	for (int i = 0; i < NBUILTIN; i++) {
		struct chain *c = &rs->chains[rs->nchains++];

		snprintf(c->name, sizeof(c->name), "%s", builtin_names[i]);
		c->builtin = true;
		c->dag = -1;
		c->policy = pct(50) ? T_ACCEPT : T_DROP;
	}
	/* a random DAG order, independent of the alphabetical save order */
	for (int i = 0; i < nuser; i++)
		order[i] = i;
	for (int i = nuser - 1; i > 0; i--) {
		int j = (int)rnd((uint32_t)i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < nuser; i++) {
		struct chain *c = &rs->chains[rs->nchains++];
		unsigned int n;

		do
			n = rnd(ARRAY_SIZE(user_names));
		while (used[n]);
		used[n] = true;
		snprintf(c->name, sizeof(c->name), "%s", user_names[n]);
		c->dag = order[i];
	}
}

static void gen_ruleset(struct ruleset *rs, int nrules, int nuser)
{
	gen_chains(rs, nuser);
	for (int i = 0; i < nrules && rs->nrules < MAX_RULES; i++) {
		/* built-ins weigh 3, user chains 2: most traffic starts there */
		int total = NBUILTIN * 3 + (rs->nchains - NBUILTIN) * 2;
		int w = (int)rnd((uint32_t)total), chain;

		if (w < NBUILTIN * 3)
			chain = w / 3;
		else
			chain = NBUILTIN + (w - NBUILTIN * 3) / 2;
		if (opt_mode && pct(20)) {
			i += gen_block(rs, chain, nrules - i) - 1;
			continue;
		}
		gen_rule(rs, &rs->rules[rs->nrules++], chain);
	}
	/* most user chains should be called from somewhere */
	for (int c = NBUILTIN; c < rs->nchains; c++) {
		int cand[MAX_RULES], n = 0;
		bool called = false;

		for (int i = 0; i < rs->nrules; i++) {
			const struct rule *r = &rs->rules[i];

			called |= (r->target == T_JUMP || r->target == T_GOTO) && r->tchain == c;
			if (r->chain < NBUILTIN || rs->chains[r->chain].dag < rs->chains[c].dag)
				cand[n++] = i;
		}
		if (called || !n || pct(15))
			continue;
		struct rule *r = &rs->rules[cand[rnd((uint32_t)n)]];

		r->target = pct(75) ? T_JUMP : T_GOTO;
		r->tchain = c;
	}
}

/* ------------------------------------------------------------ rule output */

static const char *ipstr(uint32_t a, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
	return buf;
}

static const char *inv(bool b)
{
	return b ? "! " : "";
}

static void put_prange(FILE *f, struct prange p, int spell)
{
	if (spell == 1)
		fprintf(f, ":%u", p.hi);
	else if (spell == 2)
		fprintf(f, "%u:", p.lo);
	else if (p.lo == p.hi)
		fprintf(f, "%u", p.lo);
	else
		fprintf(f, "%u:%u", p.lo, p.hi);
}

static void put_tcpflags(FILE *f, uint8_t v, bool all)
{
	static const char *const names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG"};
	bool first = true;

	if (v == 0) {
		fputs("NONE", f);
		return;
	}
	if (v == 0x3f && all) {
		fputs("ALL", f);
		return;
	}
	for (int i = 0; i < 6; i++) {
		if (!(v & (1u << i)))
			continue;
		fprintf(f, "%s%s", first ? "" : ",", names[i]);
		first = false;
	}
}

static void put_mask(FILE *f, uint32_t addr, uint32_t mask)
{
	char a[16], m[16];

	for (int len = 0; len <= 32; len++) {
		if (prefix_mask(len) == mask) {
			fprintf(f, "%s/%d", ipstr(addr, a), len);
			return;
		}
	}
	fprintf(f, "%s/%s", ipstr(addr, a), ipstr(mask, m));
}

static void put_rule(FILE *f, const struct ruleset *rs, const struct rule *r)
{
	char a[16], b[16];

	fprintf(f, "-A %s", rs->chains[r->chain].name);
	if (r->src) {
		fprintf(f, " %s-s ", inv(r->src_inv));
		put_mask(f, r->saddr, r->smask);
	}
	if (r->dst) {
		fprintf(f, " %s-d ", inv(r->dst_inv));
		put_mask(f, r->daddr, r->dmask);
	}
	if (r->in)
		fprintf(f, " %s-i %s", inv(r->in_inv), r->in);
	if (r->out)
		fprintf(f, " %s-o %s", inv(r->out_inv), r->out);
	if (r->proto == 0)
		fputs(" -p all", f);
	else if (r->proto > 0 && r->proto_numeric)
		fprintf(f, " %s-p %d", inv(r->proto_inv), r->proto);
	else if (r->proto > 0)
		fprintf(f, " %s-p %s", inv(r->proto_inv),
			r->proto == IPPROTO_TCP	  ? "tcp"
			: r->proto == IPPROTO_UDP ? "udp"
						  : "icmp");
	if (r->frag)
		fprintf(f, " %s-f", inv(r->frag == 2));
	if (r->l4m) {
		fprintf(f, " -m %s", r->proto == IPPROTO_TCP ? "tcp" : "udp");
		if (r->sp) {
			fprintf(f, " %s--sport ", inv(r->sp_inv));
			put_prange(f, r->sport, r->sport_spell);
		}
		if (r->dp) {
			fprintf(f, " %s--dport ", inv(r->dp_inv));
			put_prange(f, r->dport, r->dport_spell);
		}
		if (r->flags == 2) {
			fprintf(f, " %s--syn", inv(r->flags_inv));
		} else if (r->flags == 1) {
			fprintf(f, " %s--tcp-flags ", inv(r->flags_inv));
			put_tcpflags(f, r->fmask, r->fall);
			fputc(' ', f);
			put_tcpflags(f, r->fcmp, r->fall);
		}
		if (r->topt)
			fprintf(f, " %s--tcp-option %u", inv(r->topt_inv), r->optkind);
	}
	if (r->icmp) {
		fprintf(f, " -m icmp %s--icmp-type ", inv(r->icmp_inv));
		if (r->icmp_name)
			fputs(r->icmp_name, f);
		else if (r->itype == 0xff)
			fputs("any", f);
		else if (r->icmp_code_given)
			fprintf(f, "%u/%u", r->itype, r->icode_min);
		else
			fprintf(f, "%u", r->itype);
	}
	if (r->mp) {
		fprintf(f, " -m multiport %s%s ", inv(r->mp_inv), mp_opt[r->mp]);
		for (int i = 0; i < r->mpn; i++) {
			if (i)
				fputc(',', f);
			put_prange(f, r->mpr[i], 0);
		}
	}
	if (r->sr || r->dr) {
		fputs(" -m iprange", f);
		if (r->sr)
			fprintf(f, " %s--src-range %s-%s", inv(r->sr_inv), ipstr(r->sr_lo, a),
				ipstr(r->sr_hi, b));
		if (r->dr)
			fprintf(f, " %s--dst-range %s-%s", inv(r->dr_inv), ipstr(r->dr_lo, a),
				ipstr(r->dr_hi, b));
	}
	if (r->comment)
		fprintf(f, " -m comment --comment \"%s\"", r->comment);
	switch (r->target) {
	case T_NONE:
		if (security_table && (r->chain * 7 + r->num) % 3 != 0)
			fprintf(f, " -j SECMARK --selctx %s",
				sec_contexts[(r->chain + r->num) % ARRAY_SIZE(sec_contexts)]);
		break;
	case T_ACCEPT:
		fputs(" -j ACCEPT", f);
		break;
	case T_DROP:
		fputs(" -j DROP", f);
		break;
	case T_RETURN:
		fputs(" -j RETURN", f);
		break;
	case T_JUMP:
		fprintf(f, " -j %s", rs->chains[r->tchain].name);
		break;
	case T_GOTO:
		fprintf(f, " -g %s", rs->chains[r->tchain].name);
		break;
	}
	fputc('\n', f);
}

static int write_ruleset(const struct ruleset *rs, const char *path, uint64_t seed, bool loop)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "rulegen: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "# rulegen --seed %llu%s\n*%s\n", (unsigned long long)seed,
		loop ? " --loop" : "", security_table ? "security" : "filter");
	for (int i = 0; i < rs->nchains; i++) {
		const struct chain *c = &rs->chains[i];

		if (c->builtin)
			fprintf(f, ":%s %s [0:0]\n", c->name,
				c->policy == T_ACCEPT ? "ACCEPT" : "DROP");
		else
			fprintf(f, ":%s - [0:0]\n", c->name);
	}
	for (int i = 0; i < rs->nchains; i++)
		for (int j = 0; j < rs->nrules; j++)
			if (rs->rules[j].chain == i)
				put_rule(f, rs, &rs->rules[j]);
	fputs("COMMIT\n", f);
	if (fclose(f)) {
		fprintf(stderr, "rulegen: %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

/*
 * A rule set with a chain loop. Variants 0-2 reach the loop from a built-in
 * chain: the kernel refuses those with ELOOP. Variant 3 is a loop no built-in
 * reaches: the kernel's mark_source_chains() only walks from the hooks, so
 * it loads; a translator must then agree with the kernel either way.
 */
static void gen_loop(struct ruleset *rs, int nrules, uint64_t seed)
{
	static const char *const names[] = {"loop_a", "loop_b", "loop_c"};
	int variant = (int)(seed % 4), base;

	gen_ruleset(rs, nrules, (int)rnd(3));
	base = rs->nchains;
	for (int i = 0; i < 3; i++) {
		struct chain *c = &rs->chains[rs->nchains++];

		snprintf(c->name, sizeof(c->name), "%s", names[i]);
		c->dag = 100 + i;
	}
	/* edges[variant] lists (from, to, goto) triples ending in -1 */
	static const int edges[4][4][3] = {
		{{0, 0, 0}, {-1, 0, 0}},
		{{0, 1, 0}, {1, 0, 1}, {-1, 0, 0}},
		{{0, 1, 0}, {1, 2, 1}, {2, 0, 0}, {-1, 0, 0}},
		{{0, 1, 0}, {1, 0, 0}, {-1, 0, 0}},
	};
	for (int i = 0; edges[variant][i][0] >= 0 && rs->nrules < MAX_RULES; i++) {
		struct rule *r = &rs->rules[rs->nrules++];

		memset(r, 0, sizeof(*r));
		r->chain = base + edges[variant][i][0];
		r->num = ++rs->chains[r->chain].nrules;
		r->proto = pct(50) ? IPPROTO_TCP : -1;
		r->target = edges[variant][i][2] ? T_GOTO : T_JUMP;
		r->tchain = base + edges[variant][i][1];
	}
	if (variant != 3 && rs->nrules < MAX_RULES) {
		struct rule *r = &rs->rules[rs->nrules++];

		memset(r, 0, sizeof(*r));
		r->chain = (int)rnd(NBUILTIN);
		r->num = ++rs->chains[r->chain].nrules;
		r->proto = -1;
		r->target = T_JUMP;
		r->tchain = base;
	}
}

/* ---------------------------------------------------------------- packets */

static const uint8_t mac_dst[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x01};
static const uint8_t mac_src[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x02};

/* Sources the kernel would drop as martian or local in fw, or kdiff's own. */
static bool src_ok(int chain, uint32_t a)
{
	uint8_t top = a >> 24;

	if (top == 0 || top == 127 || top >= 224)
		return false;
	if (chain == CH_OUTPUT) /* a raw socket may claim any unicast source */
		return true;
	if ((a & prefix_mask(16)) == LOCAL_NET)
		return false;
	if ((a & prefix_mask(24)) == (FW_VIN_ADDR & prefix_mask(24)) ||
	    (a & prefix_mask(24)) == (FW_VOUT_ADDR & prefix_mask(24))) {
		uint8_t host = a & 0xff;

		/* fw's own, the sentinel, and the subnet broadcasts */
		if (host == 0 || host == 1 || host == 255 || a == SENTINEL_ADDR)
			return false;
	}
	return true;
}

static bool dst_ok(int chain, uint32_t a)
{
	uint32_t host = a & 0xffff;

	if (chain == CH_INPUT && (a == FW_VIN_ADDR || a == FW_VOUT_ADDR))
		return true;
	if ((a & prefix_mask(16)) != (chain == CH_INPUT ? LOCAL_NET : FORWARD_NET))
		return false;
	return host != 0 && host != 0xffff;
}

static uint32_t random_src(int chain)
{
	uint32_t a;

	if (chain == CH_OUTPUT && pct(40)) {
		static const uint32_t local[] = {FW_VIN_ADDR, FW_VOUT_ADDR};

		return pct(50) ? PICK(local) : LOCAL_NET | (1 + rnd(0xfffe));
	}
	do
		a = pfx_random(&PICK(src_pool));
	while (!src_ok(chain, a));
	return a;
}

static uint32_t random_dst(int chain)
{
	if (chain == CH_INPUT) {
		if (pct(15))
			return pct(50) ? FW_VIN_ADDR : FW_VOUT_ADDR;
		return LOCAL_NET | (1 + rnd(0xfffe));
	}
	return FORWARD_NET | (1 + rnd(0xfffe));
}

/*
 * Aiming: a value inside a condition (its edges or a random inner value) or
 * just outside it (edge +-1, the lowest mask bit flipped). Whether "inside"
 * makes the rule match depends on the condition's "!".
 */
static uint32_t aim_masked(uint32_t net, uint32_t mask, bool inside)
{
	uint32_t lo = net & mask, hi = net | ~mask;

	if (inside) {
		switch (rnd(4)) {
		case 0:
			return lo;
		case 1:
			return hi;
		default:
			return lo | (rnd32() & ~mask);
		}
	}
	switch (rnd(4)) {
	case 0:
		return lo - 1;
	case 1:
		return hi + 1;
	case 2:
		return (lo | (rnd32() & ~mask)) ^ (mask & -mask);
	default:
		return mask ? (lo | (rnd32() & ~mask)) ^
				       (1u << (31 - rnd(32 - __builtin_ctz(mask))))
			    : rnd32();
	}
}

static uint32_t aim_range32(uint32_t lo, uint32_t hi, bool inside)
{
	if (lo > hi) /* reversed iprange: nothing is inside */
		return pct(50) ? lo : hi;
	if (inside) {
		switch (rnd(4)) {
		case 0:
			return lo;
		case 1:
			return hi;
		default:
			return lo + rnd(hi - lo + 1);
		}
	}
	return pct(50) ? lo - 1 : hi + 1;
}

static uint16_t aim_port(struct prange p, bool inside)
{
	uint32_t v = aim_range32(p.lo, p.hi, inside);

	/* 0 - 1 and 65535 + 1 are no ports: the other side then */
	if (!inside && v > 65535)
		v = p.lo ? p.lo - 1u : p.hi + 1u;
	return (uint16_t)v;
}

static uint16_t random_port(void)
{
	return pct(50) ? PICK(nice_ports) : (uint16_t)rnd(65536);
}

struct plan {
	uint8_t proto;
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint8_t tflags;
	uint8_t topts[40];
	size_t toptlen;
	uint8_t optkind; /* the option kind the aimed rule looks for */
	uint8_t itype, icode;
	uint8_t payload[512];
	size_t plen;
	uint8_t tos, ttl;
	uint16_t id;
	bool df;
	char aim[40];
	const char *intent; /* "hit" or the condition missed on purpose */
};

/* Whether address A passes R's address conditions (-s/-d, iprange). */
static bool addr_match(const struct rule *r, uint32_t a, bool src)
{
	bool has = src ? r->src : r->dst, ranged = src ? r->sr : r->dr;

	if (has) {
		uint32_t net = src ? r->saddr : r->daddr, mask = src ? r->smask : r->dmask;

		if (((a & mask) == net) == (src ? r->src_inv : r->dst_inv))
			return false;
	}
	if (ranged) {
		uint32_t lo = src ? r->sr_lo : r->dr_lo, hi = src ? r->sr_hi : r->dr_hi;

		if ((a >= lo && a <= hi) == (src ? r->sr_inv : r->dr_inv))
			return false;
	}
	return true;
}

/* Whether A passes the address conditions of every rule on path P. */
static bool path_addr_match(const struct rule *const *p, int n, uint32_t a, bool src)
{
	for (int i = 0; i < n; i++)
		if (!addr_match(p[i], a, src))
			return false;
	return true;
}

/*
 * An address for the source (SRC) or destination conditions of path P (the
 * first rule on it that has some decides) that matches them all or (!HIT)
 * fails the deciding rule's, and that CHAIN's topology can carry.
 */
static uint32_t aim_addr(const struct rule *const *p, int n, bool src, bool hit, int chain)
{
	bool (*ok)(int, uint32_t) = src ? src_ok : dst_ok;
	const struct rule *r = NULL;

	for (int i = 0; i < n && !r; i++)
		if (src ? p[i]->src || p[i]->sr : p[i]->dst || p[i]->dr)
			r = p[i];
	for (int tries = 0; r && tries < 48; tries++) {
		bool has = src ? r->src : r->dst, ranged = src ? r->sr : r->dr;
		uint32_t a;

		if (has && (!ranged || pct(50))) {
			bool inv = src ? r->src_inv : r->dst_inv;

			a = src ? aim_masked(r->saddr, r->smask, hit != inv)
				: aim_masked(r->daddr, r->dmask, hit != inv);
		} else {
			bool inv = src ? r->sr_inv : r->dr_inv;

			a = src ? aim_range32(r->sr_lo, r->sr_hi, hit != inv)
				: aim_range32(r->dr_lo, r->dr_hi, hit != inv);
		}
		if (!ok(chain, a))
			continue;
		if (!hit || (tries < 32 ? path_addr_match(p, n, a, src) : addr_match(r, a, src)))
			return a;
	}
	/* edges and random inner values are all invalid here (say
	 * 10.200.1.0/24 as an INPUT destination): try valid ones */
	for (int tries = 0; r && hit && tries < 96; tries++) {
		uint32_t a = src ? random_src(chain) : random_dst(chain);

		if (tries < 2 && !src && chain == CH_INPUT)
			a = tries ? FW_VOUT_ADDR : FW_VIN_ADDR;
		if (tries < 64 ? path_addr_match(p, n, a, src) : addr_match(r, a, src))
			return a;
	}
	return src ? random_src(chain) : random_dst(chain);
}

/* A port for R's port conditions on one side (SRC) that matches or fails them. */
static uint16_t aim_rule_port(const struct rule *r, bool src, bool hit)
{
	bool single = src ? r->sp : r->dp;
	bool multi = r->mp == MP_PORTS || r->mp == (src ? MP_SPORTS : MP_DPORTS);

	if (single && (!multi || pct(50))) {
		bool inv = src ? r->sp_inv : r->dp_inv;

		return aim_port(src ? r->sport : r->dport, hit != inv);
	}
	if (multi) {
		uint16_t v = aim_port(r->mpr[rnd((uint32_t)r->mpn)], hit != r->mp_inv);

		/* outside one element may be inside another: that is fine too */
		return v;
	}
	return random_port();
}

/* Valid TCP options (padded), containing KIND or, if !want, avoiding it. */
static size_t tcp_opts_valid(uint8_t *o, int kind, bool want)
{
	size_t n = 0;
	int count = (int)rnd(5);
	bool placed = false;

	for (int i = 0; i < count || (want && !placed); i++) {
		uint8_t buf[20];
		size_t len;
		int k;

		if (want && !placed && (i >= count - 1 || pct(40)))
			k = kind;
		else
			k = PICK(opt_kinds);
		if (!want && k == kind)
			continue;
		switch (k) {
		case 1:
			buf[0] = 1;
			len = 1;
			break;
		case 2:
			buf[0] = 2;
			buf[1] = 4;
			ipt2bpf_put16(buf + 2, (uint16_t)(536 + rnd(1000)));
			len = 4;
			break;
		case 3:
			buf[0] = 3;
			buf[1] = 3;
			buf[2] = (uint8_t)rnd(15);
			len = 3;
			break;
		case 4:
			buf[0] = 4;
			buf[1] = 2;
			len = 2;
			break;
		case 5: /* SACK: one or two blocks */
			len = pct(50) ? 10 : 18;
			buf[0] = 5;
			buf[1] = (uint8_t)len;
			for (size_t j = 2; j < len; j++)
				buf[j] = (uint8_t)rnd(256);
			break;
		case 8:
			buf[0] = 8;
			buf[1] = 10;
			ipt2bpf_put32(buf + 2, rnd32());
			ipt2bpf_put32(buf + 6, rnd32());
			len = 10;
			break;
		default:
			buf[0] = (uint8_t)k;
			len = 2 + rnd(5);
			buf[1] = (uint8_t)len;
			for (size_t j = 2; j < len; j++)
				buf[j] = (uint8_t)rnd(256);
			break;
		}
		if (n + len > 40)
			break;
		memcpy(o + n, buf, len);
		n += len;
		if (k == kind)
			placed = true;
	}
	/* end with EOL now and then; pad with NOPs, or with EOLs when NOP is
	 * the kind to avoid (tcp_find_option() reads on past an EOL) */
	bool eol = n < 40 && pct(20);

	if (eol)
		o[n++] = 0;
	while (n % 4)
		o[n++] = (eol || (!want && kind == 1)) ? 0 : 1;
	return n;
}

/*
 * Options the kernel's tcp_find_option() walks differently from a strict
 * parser: zero and one lengths (it steps one byte), lengths past the end, a
 * kind in the last byte, kinds after EOL (it does not stop there), and KIND
 * hidden inside another option's data or just after a bogus length.
 */
static size_t tcp_opts_bad(uint8_t *o, int kind)
{
	size_t n = 0;
	uint8_t k = (uint8_t)(kind ? kind : 2);

	switch (rnd(8)) {
	case 0: /* length 0 */
		o[n++] = 2;
		o[n++] = 0;
		o[n++] = k;
		o[n++] = 2;
		break;
	case 1: /* length 1 */
		o[n++] = 8;
		o[n++] = 1;
		o[n++] = k;
		o[n++] = 4;
		break;
	case 2: /* length past the end of the options */
		o[n++] = 1;
		o[n++] = 5;
		o[n++] = 40;
		o[n++] = k;
		break;
	case 3: /* kind in the last byte, its length byte outside */
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = k;
		break;
	case 4: /* EOL, then more options */
		o[n++] = 0;
		o[n++] = k;
		o[n++] = 2;
		o[n++] = 0;
		break;
	case 5: /* KIND inside another option's data */
		o[n++] = 30;
		o[n++] = 6;
		o[n++] = k;
		o[n++] = 2;
		o[n++] = k;
		o[n++] = 0;
		o[n++] = 1;
		o[n++] = 1;
		break;
	case 6: /* length 255 */
		o[n++] = 2;
		o[n++] = 255;
		o[n++] = k;
		o[n++] = 2;
		break;
	default: /* random bytes */
		n = 4 * (1 + rnd(10));
		for (size_t i = 0; i < n; i++)
			o[i] = (uint8_t)(pct(30) ? k : rnd(256));
		break;
	}
	return n;
}

static void fill_payload(struct plan *p, size_t len)
{
	if (len > sizeof(p->payload))
		len = sizeof(p->payload);
	for (size_t i = 0; i < len; i++)
		p->payload[i] = (uint8_t)rnd(256);
	p->plen = len;
}

static const uint8_t tcp_typical[] = {0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14,
				      0x00, 0x3f, 0x29, 0xc2, 0x01, 0x03, 0x06};

/*
 * What a packet aims at: a rule and the jumps that lead to its chain from the
 * chain under test, innermost first. A field the rule leaves open takes the
 * constraint of the nearest jump: a packet for rule 3 of "web" should also
 * pass `-A INPUT -p tcp -d 198.18.1.0/24 -j web`.
 */
#define MAX_PATH 8

struct aim {
	const struct rule *r[MAX_PATH];
	int n;
};

/* The first rule on the path for which COND (about x) holds, or NULL. */
#define AIM_FIRST(a, cond)                                                                         \
	({                                                                                         \
		const struct rule *_found = NULL;                                                  \
		for (int _i = 0; _i < (a)->n && !_found; _i++) {                                   \
			const struct rule *x = (a)->r[_i];                                         \
			if (cond)                                                                  \
				_found = x;                                                        \
		}                                                                                  \
		_found;                                                                            \
	})

/* Bit b set in reach[c]: built-in chain b can reach chain c. */
static void compute_reach(const struct ruleset *rs, unsigned int *reach)
{
	bool changed = true;

	for (int c = 0; c < rs->nchains; c++)
		reach[c] = c < NBUILTIN ? 1u << c : 0;
	while (changed) {
		changed = false;
		for (int i = 0; i < rs->nrules; i++) {
			const struct rule *r = &rs->rules[i];
			unsigned int add;

			if (r->target != T_JUMP && r->target != T_GOTO)
				continue;
			add = reach[r->chain] & ~reach[r->tchain];
			if (add) {
				reach[r->tchain] |= add;
				changed = true;
			}
		}
	}
}

static void build_aim(const struct ruleset *rs, const unsigned int *reach, const struct rule *r,
		      int chain, struct aim *a)
{
	int cur;

	a->n = 0;
	if (!r)
		return;
	a->r[a->n++] = r;
	for (cur = r->chain; cur >= NBUILTIN && a->n < MAX_PATH;) {
		const struct rule *cand[MAX_RULES];
		int n = 0;

		for (int i = 0; i < rs->nrules; i++) {
			const struct rule *j = &rs->rules[i];

			if ((j->target == T_JUMP || j->target == T_GOTO) && j->tchain == cur &&
			    (reach[j->chain] & (1u << chain)))
				cand[n++] = j;
		}
		if (!n)
			break;
		a->r[a->n++] = cand[rnd((uint32_t)n)];
		cur = a->r[a->n - 1]->chain;
	}
}

/* One of the bits set in MASK (0 if none). */
static uint8_t random_bit(uint8_t mask)
{
	int n = rnd((uint32_t)__builtin_popcount(mask));

	for (int b = 0; b < 8; b++)
		if ((mask & (1u << b)) && !n--)
			return (uint8_t)(1u << b);
	return 0;
}

enum { F_SRC, F_DST, F_SPORT, F_DPORT, F_FLAGS, F_TOPT, F_ICMP, NFIELDS };
static const char *const field_names[NFIELDS] = {
	"miss-src", "miss-dst", "miss-sport", "miss-dport", "miss-flags", "miss-topt", "miss-icmp"};

/*
 * A packet aimed at A (or at nothing when A is empty), for CHAIN. Most
 * packets meet every condition on the path (at edges or inside); a quarter
 * miss exactly one condition, just outside it.
 */
static void plan_packet(const struct ruleset *rs, const struct aim *a, int chain, struct plan *p)
{
	static const uint8_t others[] = {
		IPPROTO_GRE, IPPROTO_ESP, IPPROTO_SCTP, IPPROTO_IGMP, 253, IPPROTO_AH, 0};
	const struct rule *r = a->n ? a->r[0] : NULL, *f, *fld[NFIELDS];
	int miss = -1, nset = 0;
	unsigned int k;

	memset(p, 0, sizeof(*p));
	if (r)
		snprintf(p->aim, sizeof(p->aim), "%s#%d", rs->chains[r->chain].name, r->num);
	else
		snprintf(p->aim, sizeof(p->aim), "-");

	f = AIM_FIRST(a, x->proto > 0);
	if (f && (!f->proto_inv || pct(30))) {
		p->proto = (uint8_t)f->proto;
	} else {
		k = rnd(100);
		p->proto = k < 40   ? IPPROTO_TCP
			   : k < 65 ? IPPROTO_UDP
			   : k < 85 ? IPPROTO_ICMP
				    : PICK(others);
	}

	fld[F_SRC] = AIM_FIRST(a, x->src || x->sr);
	fld[F_DST] = AIM_FIRST(a, x->dst || x->dr);
	fld[F_SPORT] = AIM_FIRST(a, x->proto == p->proto &&
					    (x->sp || x->mp == MP_SPORTS || x->mp == MP_PORTS));
	fld[F_DPORT] = AIM_FIRST(a, x->proto == p->proto &&
					    (x->dp || x->mp == MP_DPORTS || x->mp == MP_PORTS));
	fld[F_FLAGS] = p->proto == IPPROTO_TCP ? AIM_FIRST(a, x->flags) : NULL;
	fld[F_TOPT] = p->proto == IPPROTO_TCP ? AIM_FIRST(a, x->topt) : NULL;
	fld[F_ICMP] = p->proto == IPPROTO_ICMP ? AIM_FIRST(a, x->icmp && x->itype != 0xff) : NULL;
	for (int i = 0; i < NFIELDS; i++)
		nset += fld[i] != NULL;
	if (nset && pct(25)) {
		int pickn = (int)rnd((uint32_t)nset);

		for (int i = 0; i < NFIELDS && miss < 0; i++)
			if (fld[i] && !pickn--)
				miss = i;
	}

	p->intent = miss < 0 ? "hit" : field_names[miss];
	p->saddr = aim_addr(a->r, a->n, true, miss != F_SRC, chain);
	p->daddr = aim_addr(a->r, a->n, false, miss != F_DST, chain);
	p->ttl = pct(80) ? 64 : (uint8_t)(2 + rnd(254));
	p->tos = pct(80) ? 0 : (uint8_t)rnd(256);
	p->id = (uint16_t)(1 + rnd(0xfffe));
	p->df = pct(30);
	p->sport =
		fld[F_SPORT] ? aim_rule_port(fld[F_SPORT], true, miss != F_SPORT) : random_port();
	p->dport =
		fld[F_DPORT] ? aim_rule_port(fld[F_DPORT], false, miss != F_DPORT) : random_port();

	f = fld[F_FLAGS];
	if (f) {
		bool hit = (miss != F_FLAGS) != f->flags_inv;

		p->tflags = (uint8_t)(f->fcmp | (rnd(256) & ~f->fmask));
		if (!hit)
			p->tflags ^= random_bit(f->fmask);
	} else {
		p->tflags = pct(85) ? PICK(tcp_typical) : (uint8_t)rnd(256);
	}

	f = fld[F_TOPT];
	p->optkind = f ? f->optkind : PICK(opt_kinds);
	if (f)
		p->toptlen = tcp_opts_valid(p->topts, f->optkind, (miss != F_TOPT) != f->topt_inv);
	else if (pct(55))
		p->toptlen = tcp_opts_valid(p->topts, 0, false);

	f = fld[F_ICMP];
	if (f) {
		bool inside = (miss != F_ICMP) != f->icmp_inv;

		p->itype = f->itype;
		if (inside)
			p->icode = (uint8_t)aim_range32(f->icode_min, f->icode_max, true);
		else if (f->icode_min == 0 && f->icode_max == 0xff)
			p->itype = (uint8_t)(f->itype + (pct(50) ? 1 : -1));
		else
			p->icode = (uint8_t)aim_range32(f->icode_min, f->icode_max, false);
	} else {
		static const uint8_t t[][2] = {{8, 0},	{0, 0},	 {3, 0},  {3, 1}, {3, 3},
					       {3, 4},	{11, 0}, {11, 1}, {5, 1}, {12, 0},
					       {13, 0}, {14, 0}, {4, 0},  {17, 0}};
		k = rnd(ARRAY_SIZE(t) + 2);
		if (k < ARRAY_SIZE(t)) {
			p->itype = t[k][0];
			p->icode = t[k][1];
		} else {
			p->itype = (uint8_t)rnd(256);
			p->icode = (uint8_t)rnd(256);
		}
	}
	fill_payload(p, pct(85) ? rnd(48) : rnd(400));
}

/* The transport bytes of plan P: returns the length, *HDR the header part. */
static size_t build_l4(const struct plan *p, uint8_t *out, size_t cap, int doff, size_t *hdr)
{
	int n;

	switch (p->proto) {
	case IPPROTO_TCP: {
		struct ipt2bpf_tcp t = {
			.sport = p->sport,
			.dport = p->dport,
			.seq = (uint32_t)p->id * 2654435761u,
			.ack = p->tflags & 0x10 ? (uint32_t)p->id * 40503u : 0,
			.flags = p->tflags,
			.window = 64240,
			.opts = p->topts,
			.optlen = p->toptlen,
			.doff = doff,
		};

		n = ipt2bpf_pkt_tcp(out, cap, p->saddr, p->daddr, &t, p->payload, p->plen);
		*hdr = IPT2BPF_TCP_HLEN + p->toptlen;
		break;
	}
	case IPPROTO_UDP:
		n = ipt2bpf_pkt_udp(out, cap, p->saddr, p->daddr, p->sport, p->dport, p->payload,
				    p->plen);
		*hdr = IPT2BPF_UDP_HLEN;
		break;
	case IPPROTO_ICMP:
		n = ipt2bpf_pkt_icmp(out, cap, p->itype, p->icode, (uint32_t)p->id << 16 | 1,
				     p->payload, p->plen);
		*hdr = IPT2BPF_ICMP_HLEN;
		break;
	case IPPROTO_SCTP:
		/* common header: ports, verification tag, checksum (nobody checks it) */
		if (12 + p->plen > cap)
			return 0;
		ipt2bpf_put16(out, p->sport);
		ipt2bpf_put16(out + 2, p->dport);
		ipt2bpf_put32(out + 4, rnd32());
		ipt2bpf_put32(out + 8, 0);
		memcpy(out + 12, p->payload, p->plen);
		n = (int)(12 + p->plen);
		*hdr = 12;
		break;
	default:
		n = (int)(p->plen < cap ? p->plen : cap);
		memcpy(out, p->payload, (size_t)n);
		*hdr = 4;
		break;
	}
	return n < 0 ? 0 : (size_t)n;
}

enum edge {
	E_NONE,
	E_SERIES,	/* a whole fragment series, in order */
	E_FRAG_FIRST,	/* offset 0 with MF, header complete */
	E_FRAG_SHORT,	/* offset 0 with MF, only 8 bytes of transport header */
	E_FRAG_OFF1,	/* offset 1 (8 bytes): the "evil TCP" fragment */
	E_FRAG_LATER,	/* a larger offset */
	E_TRUNC_L4,	/* transport header cut short, frame and tot_len agree */
	E_TRUNC_TOTLEN, /* frame complete, tot_len cut short (the kernel trims) */
	E_DOFF_SMALL,	/* TCP doff < 5 */
	E_TOPT_BAD,	/* malformed TCP option lengths */
	E_TOPT_TRUNC,	/* TCP options cut short by tot_len */
	E_IPOPT,	/* valid IP options (ihl > 5) */
	E_IPOPT_BAD,	/* IP options ip_rcv refuses */
	E_BAD_CSUM,	/* IP header checksum wrong */
	E_NON_IPV4,	/* another ethertype */
	E_BAD_VERSION,	/* version 6 in an IPv4 frame */
	E_IHL_SMALL,	/* ihl < 5 */
	E_FRAME_SHORT,	/* tot_len larger than the frame */
	NEDGE
};

static const char *const edge_names[NEDGE] = {
	"plain",     "series",	     "frag-first", "frag-short",  "frag-off1",	"frag-later",
	"trunc-l4",  "trunc-totlen", "doff-small", "topt-bad",	  "topt-trunc", "ipopt",
	"ipopt-bad", "bad-csum",     "non-ipv4",   "bad-version", "ihl-small",	"frame-short",
};

/*
 * Edge cases per chain. INPUT has no lone fragments: the kernel reassembles
 * before the INPUT hook. OUTPUT has only what a raw IP_HDRINCL socket keeps:
 * the kernel rewrites tot_len and the header checksum of what it sends.
 */
static bool edge_skipped[NEDGE]; /* --skip-edges */

static bool edge_allowed(int chain, enum edge e)
{
	if (edge_skipped[e])
		return false;
	switch (e) {
	case E_FRAG_FIRST:
	case E_FRAG_SHORT:
	case E_FRAG_OFF1:
	case E_FRAG_LATER:
		return chain != CH_INPUT;
	case E_TRUNC_TOTLEN:
	case E_BAD_CSUM:
	case E_BAD_VERSION:
	case E_IHL_SMALL:
	case E_FRAME_SHORT:
		return chain != CH_OUTPUT;
	default:
		return true;
	}
}

static bool edge_needs_tcp(enum edge e)
{
	return e == E_DOFF_SMALL || e == E_TOPT_BAD || e == E_TOPT_TRUNC;
}

struct out {
	struct ipt2bpf_pcap pcap;
	FILE *meta;
	int n;
	int chain;
	uint16_t next_dgram_id; /* IP ids of fragment series: unique per run */
	int err;
};

static void emit(struct out *o, const uint8_t *frame, size_t len, int dgram, const struct plan *p,
		 const char *what)
{
	char s[16], d[16];
	int err;

	o->n++;
	err = ipt2bpf_pcap_write(&o->pcap, frame, len);
	if (err && !o->err)
		o->err = err;
	fprintf(o->meta, "%d %d %s p%u %s:%u>%s:%u f%02x aim=%s %s\n", o->n, dgram, what, p->proto,
		ipstr(p->saddr, s), p->sport, ipstr(p->daddr, d), p->dport, p->tflags, p->aim,
		p->intent ? p->intent : "-");
}

/* Valid IP options: NOP, EOL, record route, stream id. */
static size_t ip_opts_valid(uint8_t *o)
{
	size_t n = 0;

	switch (rnd(4)) {
	case 0:
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 0;
		break;
	case 1: { /* record route with room for K addresses */
		size_t k = 1 + rnd(4);

		o[n++] = 7;
		o[n++] = (uint8_t)(3 + 4 * k);
		o[n++] = 4;
		memset(o + n, 0, 4 * k);
		n += 4 * k;
		break;
	}
	case 2: /* stream identifier */
		o[n++] = 136;
		o[n++] = 4;
		o[n++] = (uint8_t)rnd(256);
		o[n++] = (uint8_t)rnd(256);
		break;
	default:
		o[n++] = 1;
		o[n++] = 136;
		o[n++] = 4;
		o[n++] = 0;
		o[n++] = 1;
		break;
	}
	while (n % 4)
		o[n++] = 0;
	return n;
}

/* IP options ip_options_compile() refuses (or source routes, refused too). */
static size_t ip_opts_bad(uint8_t *o)
{
	size_t n = 0;

	switch (rnd(4)) {
	case 0: /* record route too short */
		o[n++] = 7;
		o[n++] = 2;
		o[n++] = 0;
		o[n++] = 0;
		break;
	case 1: /* length past the header */
		o[n++] = 7;
		o[n++] = 40;
		o[n++] = 4;
		o[n++] = 0;
		break;
	case 2: /* length 0 */
		o[n++] = 136;
		o[n++] = 0;
		o[n++] = 0;
		o[n++] = 0;
		break;
	default: /* loose source route: dropped without accept_source_route */
		o[n++] = 131;
		o[n++] = 7;
		o[n++] = 4;
		ipt2bpf_put32(o + n, IP4(10, 200, 2, 2));
		n += 4;
		o[n++] = 0;
		break;
	}
	return n;
}

static void emit_series(struct out *o, struct plan *p, bool lone)
{
	uint8_t l4[1024], frame[IPT2BPF_PKT_MAX];
	size_t hdr, len, first, rest, off = 0;
	struct ipt2bpf_ip4 ip = {
		.saddr = p->saddr,
		.daddr = p->daddr,
		.proto = p->proto,
		.ttl = p->ttl,
		.tos = p->tos,
		.id = o->next_dgram_id++,
	};
	int dgram = o->n + 1, nfrag = 0;

	if (!o->next_dgram_id)
		o->next_dgram_id = 1;
	if (p->plen < 24)
		fill_payload(p, 24 + rnd(200));
	len = build_l4(p, l4, sizeof(l4), 0, &hdr);
	/* the first fragment holds the whole transport header: the kernel
	 * judges the reassembled datagram, a translator the first fragment */
	first = (hdr + 7) / 8 * 8 + 8 * rnd(3);
	if (first >= len)
		first = (hdr + 7) / 8 * 8;
	if (first >= len) { /* too short to split: send it whole */
		int n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_dst, mac_src, &ip, l4, len);

		if (n > 0)
			emit(o, frame, (size_t)n, dgram, p, "plain");
		return;
	}
	/* two to four fragments, all but the last a multiple of 8 bytes */
	rest = (len - first) / (1 + rnd(3));
	rest = rest < 8 ? 8 : (rest + 7) / 8 * 8;
	while (off < len) {
		size_t chunk = off == 0 ? first : rest;
		char what[32];
		int n;

		if (off + chunk >= len)
			chunk = len - off;
		ip.frag = (uint16_t)(off / 8) | (off + chunk < len ? IPT2BPF_IP_MF : 0);
		n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_dst, mac_src, &ip, l4 + off, chunk);
		snprintf(what, sizeof(what), "series-%d%s", ++nfrag,
			 off + chunk < len ? "" : "-last");
		if (n > 0)
			emit(o, frame, (size_t)n, lone ? o->n + 1 : dgram, p, what);
		off += chunk;
	}
}

static void emit_packet(struct out *o, struct plan *p, enum edge e)
{
	uint8_t l4[1024], frame[IPT2BPF_PKT_MAX], opts[40];
	uint8_t *iph = frame + IPT2BPF_ETH_HLEN;
	struct ipt2bpf_ip4 ip = {
		.saddr = p->saddr,
		.daddr = p->daddr,
		.proto = p->proto,
		.ttl = p->ttl,
		.tos = p->tos,
		.id = p->id,
		.frag = p->df ? IPT2BPF_IP_DF : 0,
	};
	size_t hdr, len, cut;
	int doff = 0, n;

	if (e == E_SERIES) {
		/* FORWARD sees every fragment alone; INPUT sees the datagram
		 * reassembled and OUTPUT before fragmentation (kdiff sends an
		 * OUTPUT series whole) */
		emit_series(o, p, o->chain == CH_FORWARD);
		return;
	}
	if (e == E_DOFF_SMALL) {
		p->toptlen = 0;
		doff = (int)rnd(5);
	} else if (e == E_TOPT_BAD) {
		p->toptlen = tcp_opts_bad(p->topts, p->optkind);
	} else if (e == E_TOPT_TRUNC && p->toptlen < 4) {
		p->toptlen = tcp_opts_valid(p->topts, 2, true);
	}
	if ((e == E_FRAG_FIRST || e == E_FRAG_SHORT || e == E_FRAG_OFF1) && p->plen < 16)
		fill_payload(p, 16 + rnd(64));
	len = build_l4(p, l4, sizeof(l4), doff, &hdr);

	switch (e) {
	case E_TRUNC_L4:
	case E_TRUNC_TOTLEN:
		/* cut inside the header the matches read */
		cut = p->proto == IPPROTO_TCP	 ? rnd(IPT2BPF_TCP_HLEN)
		      : p->proto == IPPROTO_UDP	 ? rnd(IPT2BPF_UDP_HLEN)
		      : p->proto == IPPROTO_ICMP ? rnd(IPT2BPF_ICMP_HLEN)
						 : rnd((uint32_t)len + 1);
		if (e == E_TRUNC_L4) {
			n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_dst, mac_src, &ip, l4, cut);
		} else {
			n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_dst, mac_src, &ip, l4, len);
			ipt2bpf_put16(iph + 2, (uint16_t)(IPT2BPF_IP_HLEN + cut));
			ipt2bpf_ip_fix_csum(iph);
		}
		break;
	case E_TOPT_TRUNC:
		cut = IPT2BPF_TCP_HLEN + rnd((uint32_t)p->toptlen);
		n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_dst, mac_src, &ip, l4, len);
		if (n > 0 && o->chain == CH_OUTPUT) {
			n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_dst, mac_src, &ip, l4, cut);
		} else if (n > 0) {
			ipt2bpf_put16(iph + 2, (uint16_t)(IPT2BPF_IP_HLEN + cut));
			ipt2bpf_ip_fix_csum(iph);
		}
		break;
	case E_FRAG_FIRST:
		ip.frag = IPT2BPF_IP_MF;
		cut = (hdr + 7) / 8 * 8;
		n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_dst, mac_src, &ip, l4,
				     cut < len ? cut : len);
		break;
	case E_FRAG_SHORT:
		ip.frag = IPT2BPF_IP_MF;
		n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_dst, mac_src, &ip, l4,
				     len < 8 ? len : 8);
		break;
	case E_FRAG_OFF1:
	case E_FRAG_LATER:
		ip.frag = (uint16_t)(e == E_FRAG_OFF1 ? 1 : 2 + rnd(1000));
		if (pct(50))
			ip.frag |= IPT2BPF_IP_MF;
		cut = len > 8 ? len - 8 : 0;
		n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_dst, mac_src, &ip, l4 + 8,
				     cut > 8 ? cut / 8 * 8 : cut);
		break;
	case E_IPOPT:
	case E_IPOPT_BAD:
		ip.opts = opts;
		ip.optlen = e == E_IPOPT ? ip_opts_valid(opts) : ip_opts_bad(opts);
		n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_dst, mac_src, &ip, l4, len);
		break;
	default:
		n = ipt2bpf_pkt_ipv4(frame, sizeof(frame), mac_dst, mac_src, &ip, l4, len);
		break;
	}
	if (n <= 0)
		return;
	switch (e) {
	case E_BAD_CSUM:
		iph[10] ^= (uint8_t)(1 + rnd(255));
		break;
	case E_NON_IPV4: {
		static const uint16_t types[] = {0x86dd, 0x88b5, 0x88b6, 0x9000};

		ipt2bpf_put16(frame + 12, PICK(types));
		break;
	}
	case E_BAD_VERSION:
		iph[0] = (uint8_t)(0x60 | (iph[0] & 0xf));
		ipt2bpf_put16(iph + 10, 0);
		ipt2bpf_put16(iph + 10,
			      ipt2bpf_csum_fold(ipt2bpf_csum_add(0, iph, IPT2BPF_IP_HLEN)));
		break;
	case E_IHL_SMALL:
		iph[0] = (uint8_t)(0x40 | rnd(5));
		ipt2bpf_put16(iph + 10, 0);
		ipt2bpf_put16(iph + 10,
			      ipt2bpf_csum_fold(ipt2bpf_csum_add(0, iph, IPT2BPF_IP_HLEN)));
		break;
	case E_FRAME_SHORT: {
		size_t min = IPT2BPF_ETH_HLEN + IPT2BPF_IP_HLEN;

		size_t room = (size_t)n - min;

		if (room) {
			n -= (int)(1 + rnd((uint32_t)(room < 8 ? room : 8)));
		} else {
			/* nothing to cut: claim more than there is instead */
			ipt2bpf_put16(iph + 2, (uint16_t)(ipt2bpf_get16(iph + 2) + 4));
			ipt2bpf_ip_fix_csum(iph);
		}
		break;
	}
	default:
		break;
	}
	emit(o, frame, (size_t)n, o->n + 1, p, edge_names[e]);
}

/* Mostly rules this chain can reach, some others. */
static const struct rule *pick_rule(const struct ruleset *rs, const unsigned int *reach, int chain)
{
	int cand[MAX_RULES], n = 0;

	for (int i = 0; i < rs->nrules; i++)
		if (reach[rs->rules[i].chain] & (1u << chain))
			cand[n++] = i;
	if (n && pct(90))
		return &rs->rules[cand[rnd((uint32_t)n)]];
	return &rs->rules[rnd((uint32_t)rs->nrules)];
}

static int gen_packets(const struct ruleset *rs, int chain, const char *path, int npackets,
		       uint64_t seed)
{
	struct out o = {.chain = chain, .next_dgram_id = (uint16_t)(seed * 7919 + 1)};
	_cleanup_free_ char *meta = NULL;
	unsigned int reach[MAX_CHAINS];
	bool any_edge = false;
	int err;

	compute_reach(rs, reach);
	for (int e = 1; e < NEDGE; e++)
		any_edge |= edge_allowed(chain, (enum edge)e);

	if (asprintf(&meta, "%s.meta", path) < 0)
		return -ENOMEM;
	err = ipt2bpf_pcap_create(&o.pcap, path);
	if (err) {
		fprintf(stderr, "rulegen: %s: %s\n", path, strerror(-err));
		return err;
	}
	o.meta = fopen(meta, "w");
	if (!o.meta) {
		err = -errno;
		fprintf(stderr, "rulegen: %s: %s\n", meta, strerror(errno));
		ipt2bpf_pcap_close(&o.pcap);
		return err;
	}
	if (!o.next_dgram_id)
		o.next_dgram_id = 1;
	while (o.n < npackets) {
		const struct rule *r = NULL;
		enum edge e = E_NONE;
		struct plan p;
		struct aim a;

		if (rs->nrules && pct(90))
			r = pick_rule(rs, reach, chain);
		build_aim(rs, reach, r, chain, &a);
		plan_packet(rs, &a, chain, &p);
		if (chain != CH_INPUT && AIM_FIRST(&a, x->frag == 1) && pct(80)) {
			e = pct(20) ? E_FRAG_OFF1 : E_FRAG_LATER; /* what -f matches */
			if (!edge_allowed(chain, e))
				e = E_NONE;
		} else if (any_edge && pct(chain == CH_INPUT ? 30 : 35)) {
			do
				e = (enum edge)(1 + rnd(NEDGE - 1));
			while (!edge_allowed(chain, e) ||
			       (edge_needs_tcp(e) && p.proto != IPPROTO_TCP && !pct(10)));
			if (edge_needs_tcp(e))
				p.proto = IPPROTO_TCP;
		}
		emit_packet(&o, &p, e);
	}
	err = o.err;
	if (fclose(o.meta) && !err)
		err = -EIO;
	if (ipt2bpf_pcap_close(&o.pcap) && !err)
		err = -EIO;
	if (err)
		fprintf(stderr, "rulegen: writing %s: %s\n", path, strerror(-err));
	return err;
}

/*
 * The fixed packet set for corpus tests: one rule, the same ~30 packets every
 * time, covering the usual protocols, ports, flags and the malformed cases.
 */
static int gen_fixed(int chain, const char *path)
{
	struct ruleset rs = {0};
	struct out o = {.chain = chain, .next_dgram_id = 4242};
	_cleanup_free_ char *meta = NULL;
	static const struct {
		uint8_t proto;
		uint16_t sport, dport;
		uint8_t flags_or_type, code;
		enum edge e;
	} fixed[] = {
		{IPPROTO_TCP, 40000, 22, 0x02, 0, E_NONE},
		{IPPROTO_TCP, 40001, 80, 0x02, 0, E_NONE},
		{IPPROTO_TCP, 40002, 443, 0x12, 0, E_NONE},
		{IPPROTO_TCP, 80, 40003, 0x10, 0, E_NONE},
		{IPPROTO_TCP, 1, 1023, 0x11, 0, E_NONE},
		{IPPROTO_TCP, 65535, 1024, 0x04, 0, E_NONE},
		{IPPROTO_TCP, 0, 0, 0x3f, 0, E_NONE},
		{IPPROTO_TCP, 12345, 8080, 0x18, 0, E_IPOPT},
		{IPPROTO_TCP, 12346, 25, 0x02, 0, E_TOPT_BAD},
		{IPPROTO_TCP, 12347, 22, 0x02, 0, E_DOFF_SMALL},
		{IPPROTO_TCP, 12348, 22, 0x02, 0, E_TRUNC_L4},
		{IPPROTO_TCP, 12349, 80, 0x10, 0, E_SERIES},
		{IPPROTO_TCP, 12350, 80, 0x10, 0, E_FRAG_OFF1},
		{IPPROTO_UDP, 5353, 53, 0, 0, E_NONE},
		{IPPROTO_UDP, 68, 67, 0, 0, E_NONE},
		{IPPROTO_UDP, 123, 123, 0, 0, E_NONE},
		{IPPROTO_UDP, 33434, 65535, 0, 0, E_NONE},
		{IPPROTO_UDP, 1024, 0, 0, 0, E_TRUNC_L4},
		{IPPROTO_UDP, 4500, 500, 0, 0, E_SERIES},
		{IPPROTO_ICMP, 0, 0, 8, 0, E_NONE},
		{IPPROTO_ICMP, 0, 0, 0, 0, E_NONE},
		{IPPROTO_ICMP, 0, 0, 3, 3, E_NONE},
		{IPPROTO_ICMP, 0, 0, 3, 4, E_NONE},
		{IPPROTO_ICMP, 0, 0, 11, 0, E_NONE},
		{IPPROTO_ICMP, 0, 0, 13, 0, E_TRUNC_L4},
		{IPPROTO_GRE, 0, 0, 0, 0, E_NONE},
		{IPPROTO_ESP, 0, 0, 0, 0, E_NONE},
		{IPPROTO_SCTP, 3868, 3868, 0, 0, E_NONE},
		{IPPROTO_TCP, 22, 22, 0x02, 0, E_BAD_CSUM},
		{IPPROTO_TCP, 22, 22, 0x02, 0, E_NON_IPV4},
		{IPPROTO_TCP, 5000, 5001, 0x02, 0, E_FRAG_LATER},
	};
	static const uint32_t sources[] = {IP4(10, 200, 1, 2), IP4(1, 2, 3, 4), IP4(192, 168, 0, 1),
					   IP4(172, 16, 0, 1), IP4(10, 0, 0, 1)};
	int err;

	rng_state = 0x6b646966u; /* fixed: the same packets every run */
	if (asprintf(&meta, "%s.meta", path) < 0)
		return -ENOMEM;
	err = ipt2bpf_pcap_create(&o.pcap, path);
	if (err)
		return err;
	o.meta = fopen(meta, "w");
	if (!o.meta) {
		ipt2bpf_pcap_close(&o.pcap);
		return -errno;
	}
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
		struct plan p;
		enum edge e = fixed[i].e;

		if (!edge_allowed(chain, e))
			e = (e == E_FRAG_OFF1 || e == E_FRAG_LATER) && edge_allowed(chain, E_SERIES)
				    ? E_SERIES
				    : E_NONE;
		plan_packet(&rs, &(struct aim){.n = 0}, chain, &p);
		p.proto = fixed[i].proto;
		p.saddr = chain == CH_OUTPUT ? FW_VOUT_ADDR : sources[i % ARRAY_SIZE(sources)];
		p.daddr = chain == CH_INPUT ? LOCAL_NET | (uint32_t)(i + 1)
					    : FORWARD_NET | (uint32_t)(i + 1);
		p.sport = fixed[i].sport;
		p.dport = fixed[i].dport;
		p.tflags = fixed[i].flags_or_type;
		p.itype = fixed[i].flags_or_type;
		p.icode = fixed[i].code;
		p.ttl = 64;
		p.tos = 0;
		p.df = false;
		p.toptlen = i % 3 ? tcp_opts_valid(p.topts, 2, true) : 0;
		snprintf(p.aim, sizeof(p.aim), "fixed#%zu", i + 1);
		emit_packet(&o, &p, e);
	}
	err = o.err;
	if (fclose(o.meta) && !err)
		err = -EIO;
	if (ipt2bpf_pcap_close(&o.pcap) && !err)
		err = -EIO;
	return err;
}

/* -------------------------------------------------------------------- main */

/* --skip-edges a,b,c: packet kinds (edge_names) not to generate. */
static int skip_edges(const char *list)
{
	_cleanup_free_ char *copy = strdup(list);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int e;

		for (e = 1; e < NEDGE && strcmp(edge_names[e], t); e++)
			;
		if (e == NEDGE) {
			fprintf(stderr, "rulegen: --skip-edges: no packet kind \"%s\"\n", t);
			return -EINVAL;
		}
		edge_skipped[e] = true;
	}
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: rulegen --seed N --rules OUT.v4 [--pcap-input P1] [--pcap-forward P2]\n"
	      "               [--pcap-output P3] [--nrules K] [--npackets M]\n"
	      "       rulegen --seed N --loop --rules OUT.v4\n"
	      "       rulegen --fixed [--pcap-input P1] [--pcap-forward P2] [--pcap-output P3]\n"
	      "       (all forms: [--skip-edges KIND,...] [--table filter|security] [--opt])\n"
	      "\n"
	      "Random filter-table rule sets (iptables-save syntax) and packets aimed at\n"
	      "them, for tests/diff/run.sh. Each pcap gets a P.meta sidecar: one line per\n"
	      "packet, \"N DATAGRAM DESCRIPTION\"; fragments of one datagram share DATAGRAM.\n"
	      "--loop writes a rule set whose chains loop (the kernel refuses it, unless\n"
	      "the loop is unreachable: seed % 4 == 3). --fixed writes ~30 fixed packets\n"
	      "for corpus tests. --table security writes the rules to the security table,\n"
	      "some of them with -j SECMARK. --opt (or RULEGEN_OPT=1) mixes in blocks of\n"
	      "rules the optimiser turns into hash, LPM and decision-tree lookups.\n"
	      "--skip-edges KIND,... leaves out malformed\n"
	      "packet kinds:\n",
	      f);
	for (int e = 1, col = 0; e < NEDGE; e++) {
		if (col > 60) {
			fputc('\n', f);
			col = 0;
		}
		col += fprintf(f, "%s%s%s", col ? " " : "  ", edge_names[e],
			       e < NEDGE - 1 ? "," : "\n");
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"seed", required_argument, NULL, 's'},
		{"rules", required_argument, NULL, 'r'},
		{"pcap-input", required_argument, NULL, 'I'},
		{"pcap-forward", required_argument, NULL, 'F'},
		{"pcap-output", required_argument, NULL, 'O'},
		{"nrules", required_argument, NULL, 'k'},
		{"npackets", required_argument, NULL, 'm'},
		{"loop", no_argument, NULL, 'L'},
		{"fixed", no_argument, NULL, 'X'},
		{"skip-edges", required_argument, NULL, 'E'},
		{"table", required_argument, NULL, 'T'},
		{"opt", no_argument, NULL, 'Z'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *pcaps[NBUILTIN] = {0}, *rules = NULL, *env = getenv("RULEGEN_OPT");
	unsigned long long seed = 1;
	long nrules = 30, npackets = 300;
	bool loop = false, fixed = false;
	static struct ruleset rs;
	int c, err;

	opt_mode = env && *env && strcmp(env, "0");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			rules = optarg;
			break;
		case 'I':
			pcaps[CH_INPUT] = optarg;
			break;
		case 'F':
			pcaps[CH_FORWARD] = optarg;
			break;
		case 'O':
			pcaps[CH_OUTPUT] = optarg;
			break;
		case 'k':
			nrules = strtol(optarg, NULL, 0);
			break;
		case 'm':
			npackets = strtol(optarg, NULL, 0);
			break;
		case 'L':
			loop = true;
			break;
		case 'X':
			fixed = true;
			break;
		case 'Z':
			opt_mode = true;
			break;
		case 'T':
			if (strcmp(optarg, "filter") && strcmp(optarg, "security")) {
				usage(stderr);
				return 2;
			}
			security_table = !strcmp(optarg, "security");
			break;
		case 'E':
			if (skip_edges(optarg)) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || nrules < 0 || nrules > MAX_RULES - 8 || npackets < 0 ||
	    (!fixed && !rules)) {
		usage(stderr);
		return 2;
	}

	if (fixed) {
		for (int i = 0; i < NBUILTIN; i++) {
			if (!pcaps[i])
				continue;
			err = gen_fixed(i, pcaps[i]);
			if (err) {
				fprintf(stderr, "rulegen: %s: %s\n", pcaps[i], strerror(-err));
				return 1;
			}
		}
		return 0;
	}

	rng_state = seed * 0x2545f4914f6cdd1dull + 1;
	if (loop)
		gen_loop(&rs, (int)nrules, seed);
	else
		/* --opt: big rule sets; fewer user chains keep jumps within BPF's 8 call frames */
		gen_ruleset(&rs, (int)nrules, (int)rnd((opt_mode ? 4 : MAX_USER_CHAINS) + 1));
	if (write_ruleset(&rs, rules, seed, loop))
		return 1;
	for (int i = 0; i < NBUILTIN; i++) {
		/* each chain its own stream: adding a pcap leaves the others alone */
		rng_state =
			(seed + 1) * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0x632be59bd9b4e019ull;
		if (pcaps[i] && gen_packets(&rs, i, pcaps[i], (int)npackets, seed))
			return 1;
	}
	return 0;
}
