/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the BPF unit tests (test_gen.c, test_opt.c, test_ct.c, test_nflog.c,
 * test_owner.c) share: IR tables built by hand (as ir.c would decode them),
 * blobs (blob.h) decoded and compiled, Ethernet + IPv4 packets built byte by
 * byte for BPF_PROG_TEST_RUN, and the programs' lookup.  The failures are
 * cmocka's (assert_*()), so this is linked into the cmocka test binaries only
 * (tests/unit/rig.c).
 */
#ifndef IPT2BPF_TESTS_RIG_H
#define IPT2BPF_TESTS_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>

#include "codegen/load.h"
#include "codegen/progset.h"
#include "translator/diag.h"

struct blob;
struct ipt_replace;

/* main() running the cmocka tests given as cmocka_unit_test(name), ... in order. */
#define RIG_MAIN(...)                                                                              \
	int main(void)                                                                             \
	{                                                                                          \
		const struct CMUnitTest tests[] = {__VA_ARGS__};                                   \
                                                                                                   \
		return cmocka_run_group_tests(tests, NULL, NULL);                                  \
	}

/* ------------------------------------------------------------ IR builder */

/* The built-in chains' names by hook (NULL: none in the filter table). */
extern const char *const tb_builtin[NF_INET_NUMHOOKS];

struct tb {
	struct ipt2bpf_table t;
	struct ipt2bpf_entry *e;
	struct ipt2bpf_match *m;
	unsigned int max, n_m;
	struct ipt2bpf_chain c[64];
	struct {
		unsigned int entry;
		char chain[XT_EXTENSION_MAXNAMELEN];
	} * fix;
	unsigned int n_fix;
	int cur;
};

/* A table of at most max entries (and 2 * max matches). */
struct tb *tb_new(const char *name, unsigned int max);
void tb_free(struct tb *b);
struct ipt2bpf_entry *tb_entry(struct tb *b, enum ipt2bpf_entry_role role,
			       enum ipt2bpf_target_kind k);
/* Starts a chain: INPUT/FORWARD/OUTPUT are built-in, anything else a user chain. */
void tb_chain(struct tb *b, const char *name);
/* Ends the chain: the policy (NF_ACCEPT/NF_DROP) of a built-in one, RETURN for a user one. */
unsigned int tb_end(struct tb *b, int policy);
struct ipt2bpf_entry *tb_rule(struct tb *b, enum ipt2bpf_target_kind k);
/* A JUMP (GOTO with go) to chain, resolved by tb_done(). */
struct ipt2bpf_entry *tb_jump(struct tb *b, const char *chain, bool go);
struct ipt2bpf_match *tb_match(struct tb *b, struct ipt2bpf_entry *e, enum ipt2bpf_match_kind k);
/* The table's end, jumps resolved, every entry's hooks set. */
struct ipt2bpf_table *tb_done(struct tb *b);

/* -s / -d s/plen, -i / -o ifname (xtables_parse_interface()'s masks), -p proto. */
void r_src(struct ipt2bpf_entry *e, const char *s, int plen, bool inv);
void r_dst(struct ipt2bpf_entry *e, const char *s, int plen, bool inv);
void parse_iface(const char *arg, char *name, unsigned char *mask);
void r_in(struct ipt2bpf_entry *e, const char *ifname, bool inv);
void r_out(struct ipt2bpf_entry *e, const char *ifname, bool inv);
void r_proto(struct ipt2bpf_entry *e, uint16_t proto, bool inv);
/* -m tcp / -m udp with every port. */
struct xt_tcp *m_tcp(struct tb *b, struct ipt2bpf_entry *e);
struct xt_udp *m_udp(struct tb *b, struct ipt2bpf_entry *e);

/* ------------------------------------------------------------ blobs */

/* A rule without a target, as iptables writes it: a jump to the next entry. */
void rig_fallthrough(struct blob *b);
/*
 * A filter table whose chain hook has one rule: match mname (revision mrev,
 * payload mdata) unless NULL, then target tname (revision 0, payload tdata),
 * or none (falls through) if NULL.  Every policy ACCEPT.
 */
struct ipt_replace *rig_one_rule(unsigned int hook, const char *mname, unsigned char mrev,
				 const void *mdata, size_t mlen, const char *tname,
				 const void *tdata, size_t tlen, size_t *len);
/* ipt2bpf_validate(), then ipt2bpf_table_decode(): what the CLI does with a blob. */
int rig_decode(struct ipt_replace *repl, size_t len, struct ipt2bpf_table **t,
	       struct ipt2bpf_diag *d);
/*
 * Decodes and generates repl (and, with load, loads the programs: the
 * verifier's verdict); frees repl.  0 or the first error, its message in msg.
 */
int rig_compile(struct ipt_replace *repl, size_t len, const struct ipt2bpf_gen_opts *o, bool load,
		char *msg, size_t msglen);

/* ------------------------------------------------------------ packets */

#define IP(s) inet_addr(s)

struct pkt {
	uint8_t b[512];
	size_t len;
};

enum { F_MF = 0x2000, F_DF = 0x4000 };

struct ipspec {
	const char *src, *dst;
	uint8_t proto;
	uint16_t frag; /* offset (8-byte units) | F_MF | F_DF */
	uint16_t id;
	uint8_t ihl;   /* 0: 5 */
	int tot_delta; /* added to the correct tot_len */
	bool bad_csum;
	uint8_t version;     /* 0: 4 */
	uint8_t ttl;	     /* 0: 64 */
	const char *opts;    /* IP option bytes (ihl must leave room), the rest END */
	size_t pad;	     /* bytes after the datagram (Ethernet padding) */
	const uint8_t *macs; /* destination and source MAC (12 bytes); NULL: zeros */
};

struct tcpspec {
	uint16_t sport, dport;
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t win;
	const uint8_t *opts; /* TCP options, padded to 4 bytes with zeros */
	size_t optlen;
};

enum { TH_FIN = 1, TH_SYN = 2, TH_RST = 4, TH_ACK = 0x10 };

static inline void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

/* The Internet checksum of len bytes (an odd last byte left out). */
uint16_t pkt_csum(const uint8_t *p, size_t len);

/* Ethernet (to 00:00:00:00:00:00, lo's address, unless macs) + IPv4 + the transport bytes given. */
void pkt_build(struct pkt *p, const struct ipspec *s, const void *l4, size_t l4len);
void pkt_tcp_spec(struct pkt *p, const struct ipspec *s, const struct tcpspec *t);
void pkt_tcp(struct pkt *p, const struct ipspec *s, uint16_t sport, uint16_t dport, uint8_t flags,
	     const uint8_t *opts, size_t optlen);
void pkt_udp(struct pkt *p, const struct ipspec *s, uint16_t sport, uint16_t dport);
void pkt_icmp(struct pkt *p, const struct ipspec *s, uint8_t type, uint8_t code);
/* An ICMP error (type, code) quoting q's IP header and 8 bytes, with its checksum. */
void pkt_icmp_err(struct pkt *p, const struct ipspec *s, uint8_t type, uint8_t code,
		  const struct pkt *q);

/* ------------------------------------------------------------ running */

/* The devices the tests' programs know: "eth0" and "ppp1" (ipt2bpf_ifaces_set()). */
#define IF_IN  1001
#define IF_OUT 1002

/* Root (BPF) or a message that the BPF tests are skipped. */
bool have_root(void);
/* Brings lo up in the current network namespace (a new one has it down). */
void rig_lo_up(void);
/* The loaded program of role (a trace program: the one of hook); fails the test if none. */
int rig_prog_fd(const struct ipt2bpf_progset *ps, const struct ipt2bpf_loaded *l,
		enum ipt2bpf_prog_role role, int hook);

#endif
