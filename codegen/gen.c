// SPDX-License-Identifier: GPL-2.0
/*
 * From IR tables to a program set (progset.h): the main programs (packet
 * parsing, choosing the hook, fragments, verdict to TC/XDP return code) and
 * one BPF subprogram per jump destination that is called from several places
 * (single-site destinations are inlined, see gen_rule.c).  A run of more than
 * GEN_CHUNK entries is cut into global functions ("chunks", BTF linkage
 * global) that the verifier checks one at a time.
 *
 * Execution model, equal to ipt_do_table() walking the blob:
 *   a chain function runs entries in blob order from its first entry until
 *   the code cannot go on (an entry that always matches and always leaves:
 *   ACCEPT, DROP, ERROR, RETURN, GOTO), and returns 0 (RETURN, "continue"),
 *   1 (ACCEPT) or 2 (DROP).  JUMP calls the destination and continues with
 *   the next entry on 0; GOTO returns what the destination returns, which is
 *   the kernel's jump without a pushed return address.  main() calls the
 *   hook's function at hook_entry and, on 0 (a RETURN with an empty jump
 *   stack), the underflow entry: the policy, counted like any rule.
 *
 * Hooks and fragments (pinned by tests/unit/test_gen.c):
 *   - FORWARD judges every fragment on its own, as the kernel does without
 *     conntrack (port matches never match offset != 0 fragments).
 *   - INPUT: the kernel reassembles before INPUT; we judge the first fragment
 *     (offset 0, MF set) as if it were the datagram and keep its verdict in
 *     ipt_frags (key saddr, daddr, id, proto, hook).  A later fragment takes
 *     that verdict without running rules or counting.  Without a stored
 *     verdict it is passed: it cannot be delivered without its first
 *     fragment, which we judge.
 *   - OUTPUT: the kernel fragments after OUTPUT.  Same as INPUT, except that
 *     a later fragment without a stored verdict is judged on its own (raw
 *     sockets can send fragments that OUTPUT sees one by one).
 *   - Byte counters of a fragmented datagram count its first fragment's
 *     length (the kernel counts the whole datagram at INPUT and OUTPUT).
 *
 * Which hook (TC ingress, XDP): bpf_fib_lookup() with the packet's input
 * device.  NOT_FWDED is INPUT, and so is FWD_DISABLED (forwarding is off on
 * the input device; the helper checks that before any lookup; such a device
 * forwards nothing, so what reaches a hook reaches INPUT).  Caveat: the
 * kernel drops packets for foreign addresses in routing, before INPUT, and
 * NOT_FWDED also means "no route": INPUT rules may count such packets.
 * SUCCESS and NO_NEIGH are FORWARD with the FIB's output device;
 * FRAG_NEEDED (TC only: the MTU check) is FORWARD unless DF is set
 * (ip_forward() drops DF packets above the MTU before the FORWARD hook).
 * Everything else is passed untouched.
 *
 * Passed untouched and not counted, because the kernel drops them before any
 * filter hook (ip_rcv_core(), ip_rcv_finish_core(), ip_forward()):
 *   - not IPv4, version != 4, ihl < 5, bad header checksum, tot_len < ihl * 4
 *     or larger than the frame;
 *   - received (INPUT, FORWARD; not OUTPUT) with IP options that
 *     ip_options_compile() refuses, with a source route (accept_source_route
 *     is off by default) or a CIPSO option (no CIPSO DOI configured);
 *   - FORWARD with TTL <= 1; at TC ingress, frames for another host
 *     (PACKET_OTHERHOST) and, for FORWARD, anything but PACKET_HOST.
 *
 * TC egress: a packet with skb->ingress_ifindex != 0 was forwarded (judged
 * at ingress) and passes; the rest is OUTPUT.  VLAN-tagged frames with a VLAN
 * id are judged on the VLAN device, not on the lower device.  Frames are
 * Ethernet (the programs belong on ARPHRD_ETHER devices and lo).
 * Trace programs judge one hook with the devices of ipt_cfg[0] and return
 * TC_ACT_UNSPEC for "never judged", so `ipt2bpf trace` can print PASS.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_vlan.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/socket.h>

#include "gen_internal.h"
#include "opt.h"
#include "../translator/util.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef VLAN_VID_MASK
#define VLAN_VID_MASK 0x0fff
#endif
#ifndef IP_MF
#define IP_MF 0x2000
#define IP_DF 0x4000
#endif
#ifndef IP_OFFSET
#define IP_OFFSET 0x1fff
#endif


/* Offsets into the FP_SCR scratch area, as instruction offsets. */
#define SCR(type, field) ((int16_t)(FP_SCR + (int)offsetof(type, field)))
#define SCR_FRAGVAL	 ((int16_t)(FP_SCR + (int)sizeof(struct gen_fragkey)))

#define TCP_OPTS_MAX	40 /* (15 - 5) * 4 option bytes */
#define IFACES_PER_WORD 4096
#define FRAGS_MAX	16384

/* ipt_frags key: the datagram (as the kernel's reassembly keys it) and the hook. */
struct gen_fragkey {
	uint32_t saddr, daddr;
	uint16_t id;
	uint8_t proto;
	uint8_t hook;
};

static const char *const hook_names[IPT2BPF_NUM_HOOKS] = {
	[NF_INET_PRE_ROUTING] = "PREROUTING",	[NF_INET_LOCAL_IN] = "INPUT",
	[NF_INET_FORWARD] = "FORWARD",		[NF_INET_LOCAL_OUT] = "OUTPUT",
	[NF_INET_POST_ROUTING] = "POSTROUTING",
};

/* ------------------------------------------------------------ flavours */


static void tc_is_ipv4(struct gen *g, int l_pass)
{
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, protocol)));
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, htons(ETH_P_IP), 0), l_pass);
}

static void tc_in_ifindex(struct gen *g, int reg)
{
	E(BPF_LDX_MEM(BPF_W, reg, BPF_REG_9, offsetof(struct __sk_buff, ingress_ifindex)));
}

/* ip_rcv_core()/ip_forward(): only packets addressed to us at layer 2 are forwarded. */
static void tc_forward_checks(struct gen *g, int l_pass)
{
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, pkt_type)));
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, PACKET_HOST, 0), l_pass);
}

static void xdp_is_ipv4(struct gen *g, int l_pass)
{
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_IMM(BPF_REG_2, offsetof(struct ethhdr, h_proto)));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, FP_TMP));
	E(BPF_MOV64_IMM(BPF_REG_4, sizeof(uint16_t)));
	E(BPF_CALL_HELPER(BPF_FUNC_xdp_load_bytes));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_pass);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, FP_TMP));
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, htons(ETH_P_IP), 0), l_pass);
}

static void xdp_in_ifindex(struct gen *g, int reg)
{
	E(BPF_LDX_MEM(BPF_W, reg, BPF_REG_9, offsetof(struct xdp_md, ingress_ifindex)));
}

static void no_checks(struct gen *g, int l_pass)
{
	(void)g;
	(void)l_pass;
}

static const struct gen_flavour fl_tc = {
	.type = BPF_PROG_TYPE_SCHED_CLS,
	.load_bytes = BPF_FUNC_skb_load_bytes,
	.ret_pass = TC_ACT_OK,
	.ret_accept = TC_ACT_OK,
	.ret_drop = TC_ACT_SHOT,
	.emit_is_ipv4 = tc_is_ipv4,
	.emit_in_ifindex = tc_in_ifindex,
	.emit_forward_checks = tc_forward_checks,
};

/* Trace programs tell "never judged" (TC_ACT_UNSPEC) from ACCEPT. */
static const struct gen_flavour fl_tc_trace = {
	.type = BPF_PROG_TYPE_SCHED_CLS,
	.load_bytes = BPF_FUNC_skb_load_bytes,
	.ret_pass = TC_ACT_UNSPEC,
	.ret_accept = TC_ACT_OK,
	.ret_drop = TC_ACT_SHOT,
	.emit_is_ipv4 = tc_is_ipv4,
	.emit_in_ifindex = tc_in_ifindex,
	.emit_forward_checks = no_checks,
};

static const struct gen_flavour fl_xdp = {
	.type = BPF_PROG_TYPE_XDP,
	.load_bytes = BPF_FUNC_xdp_load_bytes,
	.ret_pass = XDP_PASS,
	.ret_accept = XDP_PASS,
	.ret_drop = XDP_DROP,
	.emit_is_ipv4 = xdp_is_ipv4,
	.emit_in_ifindex = xdp_in_ifindex,
	.emit_forward_checks = no_checks,
};

/* ------------------------------------------------------------ functions */

void gen_describe(const struct gen *g, unsigned int ti, unsigned int idx, char *buf, size_t len)
{
	const struct ipt2bpf_table *t = g->tables[ti];
	const struct ipt2bpf_entry *e = &t->entries[idx];
	const char *chain = e->chain >= 0 && (unsigned int)e->chain < t->n_chains
				    ? t->chains[e->chain].name
				    : NULL;

	if (!chain) {
		snprintf(buf, len, "%s/entry %u", t->name, idx);
		return;
	}
	switch (e->role) {
	case IPT2BPF_E_RULE:
		snprintf(buf, len, "%s/%s#%u", t->name, chain, e->num);
		break;
	case IPT2BPF_E_POLICY:
		snprintf(buf, len, "%s/%s policy", t->name, chain);
		break;
	default:
		snprintf(buf, len, "%s/%s (entry %u)", t->name, chain, idx);
		break;
	}
}

static const char *entry_chain(const struct ipt2bpf_table *t, unsigned int idx)
{
	int c = t->entries[idx].chain;

	return c >= 0 && (unsigned int)c < t->n_chains ? t->chains[c].name : NULL;
}

static void sanitize(char *s)
{
	/* BTF function names must be C identifiers; chain names may hold '-' and more. */
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			*s = '_';
}

static void copy_name(char *buf, size_t len, const char *src)
{
	size_t l = strlen(src);

	if (l >= len)
		l = len - 1;
	memcpy(buf, src, l);
	buf[l] = 0;
}

static void func_name(struct gen *g, unsigned int ti, unsigned int idx, char *buf, size_t len)
{
	const struct ipt2bpf_table *t = g->tables[ti];
	const struct ipt2bpf_entry *e = &t->entries[idx];
	const char *chain = entry_chain(t, idx);
	char tmp[256] = "";
	bool taken;

	for (unsigned int h = 0; h < IPT2BPF_NUM_HOOKS && !tmp[0]; h++) {
		if (!(t->valid_hooks & (1U << h)))
			continue;
		if (t->hook_entry[h] == idx)
			snprintf(tmp, sizeof(tmp), "ipt_%s_%s", t->name,
				 chain ? chain : hook_names[h]);
		else if (t->underflow[h] == idx)
			snprintf(tmp, sizeof(tmp), "ipt_%s_%s_policy", t->name,
				 chain ? chain : hook_names[h]);
	}
	if (!tmp[0]) {
		if (chain && t->chains[e->chain].first == idx)
			snprintf(tmp, sizeof(tmp), "ipt_%s_%s", t->name, chain);
		else if (chain && e->role == IPT2BPF_E_RULE)
			snprintf(tmp, sizeof(tmp), "ipt_%s_%s_%u", t->name, chain, e->num);
		else
			snprintf(tmp, sizeof(tmp), "ipt_%s_e%u", t->name, idx);
	}
	sanitize(tmp);
	copy_name(buf, len, tmp);
	taken = false;
	for (unsigned int i = 0; i < g->p->n_funcs && !taken; i++)
		taken = !strcmp(g->p->funcs[i].name, buf);
	if (taken) {
		char sfx[16];

		snprintf(sfx, sizeof(sfx), "_e%u", idx);
		buf[len - 1 - strlen(sfx) < strlen(buf) ? len - 1 - strlen(sfx) : strlen(buf)] = 0;
		strcat(buf, sfx);
	}
}

/* A zeroed slot at the end of the function list, or -ENOMEM. */
static int func_alloc(struct gen *g)
{
	struct gen_prog *p = g->p;

	if (p->n_funcs == p->cap_funcs) {
		unsigned int ncap = p->cap_funcs ? 2 * p->cap_funcs : 16;
		struct gen_func *nf = realloc(p->funcs, ncap * sizeof(*nf));

		if (!nf)
			return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
		p->funcs = nf;
		p->cap_funcs = ncap;
	}
	memset(&p->funcs[p->n_funcs], 0, sizeof(p->funcs[0]));
	p->funcs[p->n_funcs].deepest = -1;
	return (int)p->n_funcs++;
}

int gen_func_get(struct gen *g, unsigned int ti, unsigned int entry)
{
	struct gen_prog *p = g->p;
	char name[64];
	int id;

	for (unsigned int i = 1; i < p->n_funcs; i++)
		if (!p->funcs[i].chunk && p->funcs[i].table == ti && p->funcs[i].entry == entry)
			return (int)i;
	func_name(g, ti, entry, name, sizeof(name));
	id = func_alloc(g);
	if (id < 0)
		return id;
	p->funcs[id].table = ti;
	p->funcs[id].entry = entry;
	memcpy(p->funcs[id].name, name, sizeof(name));
	return id;
}

int gen_chunk_get(struct gen *g, unsigned int ti, unsigned int start, unsigned int end)
{
	struct gen_prog *p = g->p;
	char name[64];
	unsigned int n = 0;
	int id;

	for (unsigned int i = 1; i < p->n_funcs; i++) {
		if (p->funcs[i].chunk && p->funcs[i].table == ti && p->funcs[i].entry == start &&
		    p->funcs[i].end == end)
			return (int)i;
		n += p->funcs[i].chunk;
	}
	/* Named after the function being emitted, which calls it. */
	snprintf(name, sizeof(name), "%.50s_c%u", p->funcs[p->cur].name, n);
	id = func_alloc(g);
	if (id < 0)
		return id;
	p->funcs[id].table = ti;
	p->funcs[id].entry = start;
	p->funcs[id].end = end;
	p->funcs[id].chunk = true;
	memcpy(p->funcs[id].name, name, sizeof(name));
	return id;
}

int gen_modfunc_get(struct gen *g, const char *name, int (*emit)(struct gen *g, const void *arg),
		    const void *arg)
{
	struct gen_prog *p = g->p;
	int id;

	for (unsigned int i = 1; i < p->n_funcs; i++)
		if (p->funcs[i].emit == emit && p->funcs[i].arg == arg)
			return (int)i;
	id = func_alloc(g);
	if (id < 0)
		return id;
	p = g->p;
	p->funcs[id].table = UINT_MAX;
	p->funcs[id].entry = UINT_MAX;
	p->funcs[id].emit = emit;
	p->funcs[id].arg = arg;
	copy_name(p->funcs[id].name, sizeof(p->funcs[id].name), name);
	sanitize(p->funcs[id].name);
	return id;
}

void gen_edge_add(struct gen *g, unsigned int callee, unsigned int pushes, bool jump)
{
	struct gen_func *f = &g->p->funcs[g->p->cur];

	if (f->n_edges == f->cap_edges) {
		unsigned int ncap = f->cap_edges ? 2 * f->cap_edges : 4;
		struct gen_edge *ne = realloc(f->edges, ncap * sizeof(*ne));

		if (!ne) {
			g->p->e.err = -ENOMEM;
			return;
		}
		f->edges = ne;
		f->cap_edges = ncap;
	}
	f->edges[f->n_edges++] =
		(struct gen_edge){.callee = callee, .pushes = pushes, .jump = jump};
}

/* ------------------------------------------------------------ main program */

static void emit_load(struct gen *g, const struct gen_flavour *fl, int16_t to, int len_reg,
		      int32_t len)
{
	/* R2 holds the offset from the start of the frame. */
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, to));
	if (len_reg >= 0)
		E(BPF_MOV64_REG(BPF_REG_4, len_reg));
	else
		E(BPF_MOV64_IMM(BPF_REG_4, len));
	E(BPF_CALL_HELPER(fl->load_bytes));
}

/*
 * The len bytes (a multiple of 4) at frame offset R2 (a bounded scalar) to
 * the stack at `to`, straight from the packet when they are in its linear
 * part; else (a non-linear skb, a multi-buffer frame) jump to l_slow, which
 * uses the load helper.  A helper call costs more than the copy (optimiser,
 * codegen/opt.h).  Keeps R2 and R4; clobbers R0, R1, R3, R5.
 */
static void emit_copy_direct(struct gen *g, const struct gen_flavour *fl, int16_t to, int len,
			     int l_slow)
{
	bool xdp = fl->type == BPF_PROG_TYPE_XDP;

	E(BPF_LDX_MEM(BPF_W, BPF_REG_3, BPF_REG_9,
		      xdp ? offsetof(struct xdp_md, data) : offsetof(struct __sk_buff, data)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_9,
		      xdp ? offsetof(struct xdp_md, data_end)
			  : offsetof(struct __sk_buff, data_end)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_3, BPF_REG_2));
	E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_3));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_5, len));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_5, BPF_REG_0, 0), l_slow);
	for (int i = 0; i < len; i += 4) {
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_3, (int16_t)i));
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, (int16_t)(to + i)));
	}
}

/* The kernel walk of tcp_find_option(), once per packet: which option kinds it visits. */
static void emit_tcp_options(struct gen *g, const struct gen_flavour *fl, int l_done)
{
	int l_loop, l_set, l_inc1;

	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, IPPROTO_TCP, 0), l_done);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, 20, 0), l_done);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_6, PKT(doff4)));
	EJ(BPF_JMP32_IMM(BPF_JLE, BPF_REG_2, 20, 0), l_done);
	/* Options not all present: the match hotdrops, nothing to walk. */
	EJ(BPF_JMP32_REG(BPF_JLT, BPF_REG_1, BPF_REG_2, 0), l_done);
	E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_2));
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_8, 20)); /* optlen */
	E(BPF_MOV64_IMM(BPF_REG_7, 0));		  /* i */
	/* A spilled register keeps its value for the verifier: the loop is bounded. */
	E(BPF_MOV64_IMM(BPF_REG_1, TCP_OPTS_MAX));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, FP_IFKEY));

	l_loop = LABEL();
	BIND(l_loop);
	EJ(BPF_JMP_REG(BPF_JGE, BPF_REG_7, BPF_REG_8, 0), l_done);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, FP_IFKEY));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_done);
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, FP_IFKEY));
	/* op[i] */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN + 20));
	emit_load(g, fl, FP_TMP, -1, 1);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_done);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_TMP));
	/* optmap[kind / 64] |= 1 << (kind % 64) */
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_2, 6));
	E(BPF_MOV64_IMM(BPF_REG_3, 1));
	E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_4, 63));
	E(BPF_ALU64_REG(BPF_LSH, BPF_REG_3, BPF_REG_4));
	l_set = LABEL();
	for (int w = 0; w < 4; w++) {
		int l_other = LABEL();

		if (w < 3)
			EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, w, 0), l_other);
		E(BPF_LDX_MEM(BPF_DW, BPF_REG_4, BPF_REG_6, PKT(optmap) + 8 * w));
		E(BPF_ALU64_REG(BPF_OR, BPF_REG_4, BPF_REG_3));
		E(BPF_STX_MEM(BPF_DW, BPF_REG_6, BPF_REG_4, PKT(optmap) + 8 * w));
		EJ(BPF_JMP_A(0), l_set);
		BIND(l_other);
	}
	BIND(l_set);
	/* if (op[i] < 2 || i == optlen - 1) i++; else i += op[i + 1] ? : 1; */
	l_inc1 = LABEL();
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, 2, 0), l_inc1);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, 1));
	EJ(BPF_JMP_REG(BPF_JGE, BPF_REG_2, BPF_REG_8, 0), l_inc1);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN + 20 + 1));
	emit_load(g, fl, FP_TMP, -1, 1);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_done);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_TMP));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_inc1);
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_7, BPF_REG_1));
	EJ(BPF_JMP_A(0), l_loop);
	BIND(l_inc1);
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_7, 1));
	EJ(BPF_JMP_A(0), l_loop);
}

/* Option kinds seen so far (ip_options_compile()'s opt->srr, opt->rr, opt->ts). */
#define SEEN_SRR 0x1
#define SEEN_RR	 0x2
#define SEEN_TS	 0x4

/*
 * The walk's state lives in single bytes of FP_TMP at offsets that are not
 * 8-byte aligned: the verifier does not track such stores, so what it loads
 * back is an unknown byte.  That keeps the offset and the flags imprecise:
 * states at the loop head prune instead of multiplying per offset.
 */
#define OPT_I	  (FP_TMP + 5) /* offset of the current option */
#define OPT_SEEN  (FP_TMP + 6) /* SEEN_* */
#define OPT_TOTAL (FP_TMP + 7) /* options length: ihl * 4 - 20 */

/*
 * ip_rcv_finish_core() -> ip_rcv_options(): a received datagram whose IP
 * options ip_options_compile() refuses is dropped after routing, before
 * INPUT or FORWARD, and so is a source-routed one (accept_source_route is
 * off by default), as is any CIPSO option when no CIPSO DOI is configured
 * (cipso_v4_validate() fails): all of those are passed untouched.  FP_TMP
 * [0, 4) gets the option's first bytes from the load helper (never past the
 * frame; what is read beyond an option's length is never used).
 */
static void emit_ip_options(struct gen *g, const struct gen_flavour *fl, int l_pass)
{
	int l_loop = LABEL(), l_done = LABEL(), l_next = LABEL(), l_notnop = LABEL();
	int l_srr = LABEL(), l_rr = LABEL(), l_ts = LABEL(), l_ra = LABEL(), l_seen = LABEL();
	int l_rr_ok = LABEL(), l_ts_over = LABEL(), l_ts7 = LABEL(), l_ts_ok = LABEL();
	int l_loaded = LABEL();

	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_TMP, 0));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_8, BPF_REG_6, PKT(thoff)));
	EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_8, sizeof(struct iphdr), 0), l_done);
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_8, sizeof(struct iphdr)));
	E(BPF_STX_MEM(BPF_B, BPF_REG_10, BPF_REG_8, OPT_TOTAL));
	/* A spilled 8-byte register keeps its value for the verifier: the loop is bounded. */
	E(BPF_MOV64_IMM(BPF_REG_1, MAX_IPOPTLEN));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, FP_IFKEY));

	BIND(l_loop);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, FP_IFKEY));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_done);
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, FP_IFKEY));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_7, BPF_REG_10, OPT_I));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_8, BPF_REG_10, OPT_TOTAL));
	EJ(BPF_JMP_REG(BPF_JGE, BPF_REG_7, BPF_REG_8, 0), l_done);
	/* Four bytes if the frame has them, else two, else one (sizes are constants). */
	for (int size = 4; size >= 1; size /= 2) {
		E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_7));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN + sizeof(struct iphdr)));
		emit_load(g, fl, FP_TMP, -1, size);
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_loaded);
	}
	EJ(BPF_JMP_A(0), l_pass);
	BIND(l_loaded);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_TMP)); /* kind */
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPOPT_END, 0), l_done);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, IPOPT_NOOP, 0), l_notnop);
	E(BPF_MOV64_IMM(BPF_REG_3, 1));
	EJ(BPF_JMP_A(0), l_next);
	BIND(l_notnop);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_8));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_2, BPF_REG_7)); /* l: option bytes left */
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_2, 2, 0), l_pass);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_3, BPF_REG_10, FP_TMP + 1)); /* optlen */
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_3, 2, 0), l_pass);
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_3, BPF_REG_2, 0), l_pass);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_4, BPF_REG_10, FP_TMP + 2)); /* pointer */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_5, BPF_REG_10, FP_TMP + 3)); /* TS overflow | flags */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_0, BPF_REG_10, OPT_SEEN));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPOPT_LSRR, 0), l_srr);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPOPT_SSRR, 0), l_srr);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPOPT_RR, 0), l_rr);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPOPT_TIMESTAMP, 0), l_ts);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPOPT_RA, 0), l_ra);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPOPT_CIPSO, 0), l_pass);
	EJ(BPF_JMP_A(0), l_next); /* IPOPT_SEC, IPOPT_SID and unknown kinds: accepted */

	BIND(l_srr);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_3, 3, 0), l_pass);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_4, 4, 0), l_pass);
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_0, SEEN_SRR, 0), l_pass);
	E(BPF_ALU64_IMM(BPF_OR, BPF_REG_0, SEEN_SRR));
	EJ(BPF_JMP_A(0), l_seen);

	BIND(l_rr);
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_0, SEEN_RR, 0), l_pass);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_3, 3, 0), l_pass);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_4, 4, 0), l_pass);
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_4, BPF_REG_3, 0), l_rr_ok); /* full: nothing to record */
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_4));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, 3));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_3, 0), l_pass);
	BIND(l_rr_ok);
	E(BPF_ALU64_IMM(BPF_OR, BPF_REG_0, SEEN_RR));
	EJ(BPF_JMP_A(0), l_seen);

	BIND(l_ts);
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_0, SEEN_TS, 0), l_pass);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_3, 4, 0), l_pass);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_4, 5, 0), l_pass);
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_4, BPF_REG_3, 0), l_ts_over);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_4));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, 3));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_3, 0), l_pass);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_5));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_2, 0xf));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, IPOPT_TS_TSANDADDR, 0), l_ts7);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, IPOPT_TS_PRESPEC, 0), l_ts_ok);
	BIND(l_ts7); /* an address and a timestamp: 8 bytes must fit */
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_4));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, 7));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_3, 0), l_pass);
	EJ(BPF_JMP_A(0), l_ts_ok);
	BIND(l_ts_over); /* full: the overflow counter must not be at its maximum */
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_5));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_2, 0xf));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, IPOPT_TS_PRESPEC, 0), l_ts_ok);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_5));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_2, 4));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 15, 0), l_pass);
	BIND(l_ts_ok);
	E(BPF_ALU64_IMM(BPF_OR, BPF_REG_0, SEEN_TS));
	BIND(l_seen);
	E(BPF_STX_MEM(BPF_B, BPF_REG_10, BPF_REG_0, OPT_SEEN));
	EJ(BPF_JMP_A(0), l_next);

	BIND(l_ra);
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_3, 4, 0), l_pass);

	BIND(l_next); /* R3: the option's length */
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_7, BPF_REG_3));
	E(BPF_STX_MEM(BPF_B, BPF_REG_10, BPF_REG_7, OPT_I));
	EJ(BPF_JMP_A(0), l_loop);

	BIND(l_done);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_0, BPF_REG_10, OPT_SEEN));
	EJ(BPF_JMP_IMM(BPF_JSET, BPF_REG_0, SEEN_SRR, 0), l_pass);
}

/*
 * ip_rcv_core(): what the stack drops before any hook is passed untouched
 * (and not counted).  Then the fields the rules look at, into struct gen_pkt.
 */
static void emit_parse(struct gen *g, const struct gen_flavour *fl, bool rx, int l_pass)
{
	int l_hdr = LABEL(), l_l4done = LABEL(), l_size = LABEL(), l_slow = LABEL(), l_got = LABEL();

	E(BPF_MOV64_IMM(BPF_REG_2, ETH_HLEN));
	emit_copy_direct(g, fl, FP_SCR, sizeof(struct iphdr), l_slow);
	EJ(BPF_JMP_A(0), l_got);
	BIND(l_slow);
	E(BPF_MOV64_IMM(BPF_REG_2, ETH_HLEN));
	emit_load(g, fl, FP_SCR, -1, sizeof(struct iphdr));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_pass);
	BIND(l_got);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_7, BPF_REG_10, FP_SCR));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_1, 4));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 4, 0), l_pass); /* version */
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_7, 0x0f));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_7, 5, 0), l_pass); /* ihl */
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_7, 2));	   /* R7 = ihl * 4, 20..60 */
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_7, sizeof(struct iphdr), 0), l_hdr);
	E(BPF_MOV64_IMM(BPF_REG_2, ETH_HLEN));
	emit_load(g, fl, FP_SCR, BPF_REG_7, 0);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_pass);
	BIND(l_hdr);

	/*
	 * ip_fast_csum() != 0: the one's complement sum of the header must be
	 * 0xffff.  Without options the five words are summed inline (a helper
	 * call costs more than the sum; optimiser, codegen/opt.h), else
	 * csum_diff() sums them.
	 */
	{
		int l_opts = LABEL(), l_fold = LABEL();

		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_7, sizeof(struct iphdr), 0), l_opts);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_10, FP_SCR));
		for (int w = 1; w < 5; w++) {
			E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_SCR + 4 * w));
			E(BPF_ALU64_REG(BPF_ADD, BPF_REG_0, BPF_REG_1));
		}
		for (int i = 0; i < 2; i++) { /* 64 to 32 bits, carries included */
			E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_0));
			E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_1, 32));
			E(BPF_MOV32_REG(BPF_REG_0, BPF_REG_0));
			E(BPF_ALU64_REG(BPF_ADD, BPF_REG_0, BPF_REG_1));
		}
		EJ(BPF_JMP_A(0), l_fold);
		BIND(l_opts);
		E(BPF_MOV64_IMM(BPF_REG_1, 0));
		E(BPF_MOV64_IMM(BPF_REG_2, 0));
		E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, FP_SCR));
		E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_7));
		E(BPF_MOV64_IMM(BPF_REG_5, 0));
		E(BPF_CALL_HELPER(BPF_FUNC_csum_diff));
		E(BPF_MOV32_REG(BPF_REG_0, BPF_REG_0));
		BIND(l_fold);
	}
	for (int i = 0; i < 2; i++) {
		E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_0));
		E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_1, 16));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_0, 0xffff));
		E(BPF_ALU64_REG(BPF_ADD, BPF_REG_0, BPF_REG_1));
	}
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0xffff, 0), l_pass);

	/* tot_len < ihl * 4, or larger than the frame: dropped by ip_rcv_core(). */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_8, BPF_REG_10, SCR(struct iphdr, tot_len)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_8, 16));
	EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_8, BPF_REG_7, 0), l_pass);
	if (fl->type == BPF_PROG_TYPE_SCHED_CLS) {
		/* skb->len counts the frame from its Ethernet header: no helper call. */
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, len)));
		E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_8));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN));
		EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_2, BPF_REG_1, 0), l_pass);
	} else {
		E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_8));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN - 1));
		emit_load(g, fl, FP_TMP, -1, 1);
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_pass);
	}

	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_8, PKT(tot_len)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_7, PKT(thoff)));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_8));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_1, BPF_REG_7));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(l4len)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, SCR(struct iphdr, saddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(saddr)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 32));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(saddr_h)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, SCR(struct iphdr, daddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(daddr)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 32));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(daddr_h)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, SCR(struct iphdr, protocol)));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(proto)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, SCR(struct iphdr, tos)));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(tos)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, SCR(struct iphdr, ttl)));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(ttl)));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, SCR(struct iphdr, id)));
	E(BPF_STX_MEM(BPF_H, BPF_REG_6, BPF_REG_1, PKT(id)));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, SCR(struct iphdr, frag_off)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_2, IP_OFFSET));
	E(BPF_STX_MEM(BPF_H, BPF_REG_6, BPF_REG_2, PKT(fragoff)));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, 0xffff & ~IP_OFFSET));
	E(BPF_STX_MEM(BPF_H, BPF_REG_6, BPF_REG_1, PKT(fragflags)));

	/* Transport header: only the first fragment has one (acpar.fragoff == 0). */
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, 0, 0), l_l4done);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, 4, 0), l_l4done);
	/* R4 = bytes to load, R5 = l4ok bits */
	E(BPF_MOV64_IMM(BPF_REG_4, 4));
	E(BPF_MOV64_IMM(BPF_REG_5, GEN_L4_4));
	EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, 8, 0), l_size);
	E(BPF_MOV64_IMM(BPF_REG_4, 8));
	E(BPF_MOV64_IMM(BPF_REG_5, GEN_L4_4 | GEN_L4_8));
	EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, 20, 0), l_size);
	E(BPF_MOV64_IMM(BPF_REG_4, 20));
	E(BPF_MOV64_IMM(BPF_REG_5, GEN_L4_4 | GEN_L4_8 | GEN_L4_TCP));
	BIND(l_size);
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_5, PKT(l4ok)));
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, ETH_HLEN));
	{
		int l_l4slow = LABEL(), l_l4got = LABEL();

		/* 20 bytes if the linear part has them (past R4 they are not used) */
		emit_copy_direct(g, fl, FP_SCR, 20, l_l4slow);
		EJ(BPF_JMP_A(0), l_l4got);
		BIND(l_l4slow);
		E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
		E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, FP_SCR));
		E(BPF_CALL_HELPER(fl->load_bytes));
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_pass);
		BIND(l_l4got);
	}
	/* Fields past what was loaded are stale bytes; matches check l4len first. */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, FP_SCR + 0));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_STX_MEM(BPF_H, BPF_REG_6, BPF_REG_1, PKT(sport)));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, FP_SCR + 2));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_STX_MEM(BPF_H, BPF_REG_6, BPF_REG_1, PKT(dport)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_SCR + 0));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(icmp_type)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_SCR + 1));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(icmp_code)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_SCR + 13));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(tcpflags)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_10, FP_SCR + 12));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_1, 4));
	E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_1, 2));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(doff4)));
	if (g->tcpopt)
		emit_tcp_options(g, fl, l_l4done);
	BIND(l_l4done);
	if (rx)
		emit_ip_options(g, fl, l_pass);
}

/* ip_forward() before the FORWARD hook: TTL <= 1 is answered with ICMP time exceeded. */
static void emit_forward_gate(struct gen *g, const struct gen_flavour *fl, int l_pass)
{
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(ttl)));
	EJ(BPF_JMP_IMM(BPF_JLE, BPF_REG_1, 1, 0), l_pass);
	/* ip_forward() decrements the TTL before the FORWARD hook: the rules see ttl - 1. */
	E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, 1));
	E(BPF_STX_MEM(BPF_B, BPF_REG_6, BPF_REG_1, PKT(ttl)));
	fl->emit_forward_checks(g, l_pass);
}

/* bpf_fib_lookup() as ip_route_input() would route it: sets R7 = hook, pkt iif/oif. */
static void emit_fib(struct gen *g, const struct gen_flavour *fl, int l_pass, int l_classified)
{
	int l_input = LABEL(), l_fwd = LABEL();

	for (int off = 0; off < (int)sizeof(struct bpf_fib_lookup); off += 8)
		E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_SCR + off, 0));
	E(BPF_ST_MEM(BPF_B, BPF_REG_10, SCR(struct bpf_fib_lookup, family), AF_INET));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
	E(BPF_STX_MEM(BPF_B, BPF_REG_10, BPF_REG_1, SCR(struct bpf_fib_lookup, l4_protocol)));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(sport)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, SCR(struct bpf_fib_lookup, sport)));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(dport)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, SCR(struct bpf_fib_lookup, dport)));
	/* tot_len stays 0: no MTU check in the lookup (see FRAG_NEEDED below). */
	fl->emit_in_ifindex(g, BPF_REG_1);
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, SCR(struct bpf_fib_lookup, ifindex)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(iif)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(tos)));
	E(BPF_STX_MEM(BPF_B, BPF_REG_10, BPF_REG_1, SCR(struct bpf_fib_lookup, tos)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(saddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, SCR(struct bpf_fib_lookup, ipv4_src)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(daddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, SCR(struct bpf_fib_lookup, ipv4_dst)));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_SCR));
	E(BPF_MOV64_IMM(BPF_REG_3, sizeof(struct bpf_fib_lookup)));
	E(BPF_MOV64_IMM(BPF_REG_4, 0));
	E(BPF_CALL_HELPER(BPF_FUNC_fib_lookup));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, BPF_FIB_LKUP_RET_NOT_FWDED, 0), l_input);
	/* Forwarding off on the input device: nothing it receives is forwarded. */
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, BPF_FIB_LKUP_RET_FWD_DISABLED, 0), l_input);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, BPF_FIB_LKUP_RET_SUCCESS, 0), l_fwd);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, BPF_FIB_LKUP_RET_NO_NEIGH, 0), l_fwd);
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, BPF_FIB_LKUP_RET_FRAG_NEEDED, 0), l_pass);
	/* Above the MTU: ip_forward() drops it before FORWARD if DF is set, else fragments after.
	 */
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragflags)));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, IP_DF));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_pass);
	BIND(l_fwd);
	emit_forward_gate(g, fl, l_pass);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, SCR(struct bpf_fib_lookup, ifindex)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(oif)));
	E(BPF_MOV64_IMM(BPF_REG_7, NF_INET_FORWARD));
	EJ(BPF_JMP_A(0), l_classified);
	BIND(l_input);
	E(BPF_MOV64_IMM(BPF_REG_7, NF_INET_LOCAL_IN));
}

/* Trace programs: the hook is fixed, the devices come from ipt_cfg[0]. */
static void emit_trace_cfg(struct gen *g, int hook)
{
	int l_none = LABEL();

	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
	gen_ld_map(&g->p->e, BPF_REG_1, g->map_cfg);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_cfg, iif)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(iif)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_cfg, oif)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(oif)));
	BIND(l_none);
	E(BPF_MOV64_IMM(BPF_REG_7, hook));
}

void gen_clock(struct gen *g, int reg, bool jiffies)
{
	enum bpf_func_id fn = jiffies ? BPF_FUNC_jiffies64 : BPF_FUNC_ktime_get_ns;
	int l_kernel = LABEL(), l_done = LABEL();

	if (g->prog->role == IPT2BPF_P_TRACE) {
		E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
		gen_ld_map(&g->p->e, BPF_REG_1, g->map_cfg);
		E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
		E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_kernel);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_cfg, clock)));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_kernel);
		E(BPF_LDX_MEM(BPF_DW, reg, BPF_REG_0,
			      jiffies ? offsetof(struct ipt2bpf_cfg, jiffies)
				      : offsetof(struct ipt2bpf_cfg, now_ns)));
		EJ(BPF_JMP_A(0), l_done);
	}
	BIND(l_kernel);
	E(BPF_CALL_HELPER(fn));
	if (reg != BPF_REG_0)
		E(BPF_MOV64_REG(reg, BPF_REG_0));
	BIND(l_done);
}

/* Interface pattern bits of iif and oif, once per packet (few patterns). */
static void emit_if_preload(struct gen *g)
{
	if (!g->if_preload || !g->ps->n_ifpats)
		return;
	for (unsigned int w = 0; w < g->if_words; w++) {
		for (int out = 0; out < 2; out++) {
			int l_none = LABEL();

			E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, out ? PKT(oif) : PKT(iif)));
			E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_IFKEY));
			E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_IFKEY + 4, (int32_t)w));
			gen_ld_map(&g->p->e, BPF_REG_1, g->map_ifaces);
			E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
			E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_IFKEY));
			E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_none);
			E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, 0));
			E(BPF_STX_MEM(BPF_DW, BPF_REG_6, BPF_REG_1,
				      (out ? PKT(ifout) : PKT(ifin)) + 8 * (int)w));
			BIND(l_none);
		}
	}
}

/* R0 = verdict of every table on hook h: filter, then security if filter accepted. */
static int emit_tables(struct gen *g, int hook)
{
	int l_done = LABEL();
	bool first = true;

	E(BPF_MOV64_IMM(BPF_REG_0, GEN_V_ACCEPT));
	for (unsigned int k = 0; k < g->n_tables; k++) {
		const struct ipt2bpf_table *t = g->tables[k];
		int l_have = LABEL(), f_hook, f_policy;

		if (!(t->valid_hooks & (1U << hook)))
			continue;
		if (!first)
			EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, GEN_V_ACCEPT, 0), l_done);
		first = false;
		f_hook = gen_func_get(g, k, t->hook_entry[hook]);
		if (f_hook < 0)
			return f_hook;
		E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_6));
		gen_call(&g->p->e, (unsigned int)f_hook);
		gen_edge_add(g, (unsigned int)f_hook, 0, false);
		/* RETURN with an empty jump stack: the underflow entry (the policy). */
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, GEN_V_CONTINUE, 0), l_have);
		f_policy = gen_func_get(g, k, t->underflow[hook]);
		if (f_policy < 0)
			return f_policy;
		E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_6));
		gen_call(&g->p->e, (unsigned int)f_policy);
		gen_edge_add(g, (unsigned int)f_policy, 0, false);
		BIND(l_have);
	}
	BIND(l_done);
	return 0;
}

static void emit_fragkey(struct gen *g, int hook)
{
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(saddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, SCR(struct gen_fragkey, saddr)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(daddr)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, SCR(struct gen_fragkey, daddr)));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(id)));
	E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, SCR(struct gen_fragkey, id)));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
	E(BPF_STX_MEM(BPF_B, BPF_REG_10, BPF_REG_1, SCR(struct gen_fragkey, proto)));
	E(BPF_ST_MEM(BPF_B, BPF_REG_10, SCR(struct gen_fragkey, hook), hook));
}

/* One hook: fragment bookkeeping (see the top of this file) around the tables. */
static int emit_hook(struct gen *g, int hook, int l_pass, int l_verdict)
{
	bool frags = hook == NF_INET_LOCAL_IN || hook == NF_INET_LOCAL_OUT;
	int l_run = LABEL(), l_fragdrop = LABEL(), err;

	if (frags) {
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_run);
		emit_fragkey(g, hook);
		gen_ld_map(&g->p->e, BPF_REG_1, g->map_frags);
		E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_SCR));
		E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0),
		   hook == NF_INET_LOCAL_IN ? l_pass : l_run);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_0, BPF_REG_0, 0));
		EJ(BPF_JMP_A(0), l_verdict);
		BIND(l_run);
	}
	err = emit_tables(g, hook);
	if (err)
		return err;
	if (frags) {
		/* First fragment (offset 0, MF): remember the verdict for the rest. */
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_verdict);
		E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragflags)));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, IP_MF));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_verdict);
		/* R7 still holds the hook for the modules' verdict hooks: keep it. */
		E(BPF_MOV64_REG(BPF_REG_8, BPF_REG_0));
		emit_fragkey(g, hook);
		/* The later fragments get the first one's ACCEPT or DROP, never a module verdict. */
		E(BPF_MOV64_IMM(BPF_REG_1, GEN_V_DROP));
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_8, GEN_V_ACCEPT, 0), l_fragdrop);
		E(BPF_MOV64_IMM(BPF_REG_1, GEN_V_ACCEPT));
		BIND(l_fragdrop);
		E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, SCR_FRAGVAL));
		gen_ld_map(&g->p->e, BPF_REG_1, g->map_frags);
		E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_SCR));
		E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_10));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, SCR_FRAGVAL));
		E(BPF_MOV64_IMM(BPF_REG_4, BPF_ANY));
		E(BPF_CALL_HELPER(BPF_FUNC_map_update_elem));
		E(BPF_MOV64_REG(BPF_REG_0, BPF_REG_8));
	}
	EJ(BPF_JMP_A(0), l_verdict);
	return 0;
}

/* Does @insn write @reg (calls clobber R0-R5 only)? */
static bool insn_writes(const struct bpf_insn *insn, int reg)
{
	switch (BPF_CLASS(insn->code)) {
	case BPF_ALU:
	case BPF_ALU64:
	case BPF_LDX:
	case BPF_LD:
		return insn->dst_reg == reg;
	case BPF_STX:
		if (BPF_MODE(insn->code) != BPF_ATOMIC || !(insn->imm & BPF_FETCH))
			return false;
		return insn->imm == BPF_CMPXCHG ? reg == BPF_REG_0 : insn->src_reg == reg;
	default:
		return false;
	}
}

/*
 * The main function reaches gen_pkt through R6 = R10 + FP_PKT.  Verifiers
 * before 6.8 follow a stack slot's precision only through R10-based spills
 * and fills: a bounded value stored through R6 and branched on after a reload
 * stays imprecise, state pruning then merges paths it must keep apart, and
 * dead-code elimination removes what only the merged-away paths reach (Debian
 * 12's 6.1 dropped the IP option walk that way).  R6 never changes after its
 * setup, so every access through it is rewritten to the same address through
 * R10.  Returns how many were rewritten, or -1 if R6 is written again.
 */
int gen_rebase_main_pkt(struct bpf_insn *insn, uint32_t n, uint32_t setup_end)
{
	int rewritten = 0;

	for (uint32_t i = setup_end; i < n; i++) {
		if (insn_writes(&insn[i], BPF_REG_6))
			return -1;
		if (insn[i].code == (BPF_LD | BPF_DW | BPF_IMM))
			i++; /* the second half is no instruction */
	}
	for (uint32_t i = setup_end; i < n; i++) {
		uint8_t cls = BPF_CLASS(insn[i].code);

		if (insn[i].code == (BPF_LD | BPF_DW | BPF_IMM)) {
			i++;
			continue;
		}
		if (cls == BPF_LDX && BPF_MODE(insn[i].code) == BPF_MEM &&
		    insn[i].src_reg == BPF_REG_6) {
			insn[i].src_reg = BPF_REG_10;
		} else if ((cls == BPF_STX || cls == BPF_ST) && insn[i].dst_reg == BPF_REG_6 &&
			   (BPF_MODE(insn[i].code) == BPF_MEM ||
			    BPF_MODE(insn[i].code) == BPF_ATOMIC)) {
			insn[i].dst_reg = BPF_REG_10;
		} else {
			continue;
		}
		insn[i].off = (int16_t)(insn[i].off + FP_PKT);
		rewritten++;
	}
	return rewritten;
}

static int emit_main(struct gen *g, const struct ipt2bpf_prog *prog, const struct gen_flavour *fl)
{
	int l_pass = LABEL(), l_verdict = LABEL(), l_classified = LABEL(), l_accept = LABEL();
	int hooks[2], n_hooks = 0, err;

	E(BPF_MOV64_REG(BPF_REG_9, BPF_REG_1));
	E(BPF_MOV64_REG(BPF_REG_6, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_6, FP_PKT));
	for (int off = 0; off < (int)sizeof(struct gen_pkt); off += 8)
		E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_PKT + off, 0));

	switch (prog->role) {
	case IPT2BPF_P_INGRESS: {
		int l_untagged = LABEL();

		/* ip_rcv_core() drops frames for other hosts (promiscuous mode). */
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, pkt_type)));
		EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, PACKET_OTHERHOST, 0), l_pass);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9,
			      offsetof(struct __sk_buff, vlan_present)));
		EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_untagged);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, vlan_tci)));
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, VLAN_VID_MASK));
		EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_pass);
		BIND(l_untagged);
		hooks[n_hooks++] = NF_INET_LOCAL_IN;
		hooks[n_hooks++] = NF_INET_FORWARD;
		break;
	}
	case IPT2BPF_P_XDP:
		hooks[n_hooks++] = NF_INET_LOCAL_IN;
		hooks[n_hooks++] = NF_INET_FORWARD;
		break;
	case IPT2BPF_P_EGRESS:
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9,
			      offsetof(struct __sk_buff, ingress_ifindex)));
		EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_pass);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9,
			      offsetof(struct __sk_buff, vlan_present)));
		EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_pass);
		hooks[n_hooks++] = NF_INET_LOCAL_OUT;
		break;
	case IPT2BPF_P_TRACE:
		hooks[n_hooks++] = prog->hook;
		break;
	}

	fl->emit_is_ipv4(g, l_pass);
	/* IP options are checked on the receive path only (ip_rcv_finish_core()). */
	emit_parse(g, fl, prog->role != IPT2BPF_P_EGRESS && prog->hook != NF_INET_LOCAL_OUT,
		   l_pass);

	switch (prog->role) {
	case IPT2BPF_P_INGRESS:
	case IPT2BPF_P_XDP:
		emit_fib(g, fl, l_pass, l_classified);
		break;
	case IPT2BPF_P_EGRESS:
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, ifindex)));
		E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(oif)));
		E(BPF_MOV64_IMM(BPF_REG_7, NF_INET_LOCAL_OUT));
		break;
	case IPT2BPF_P_TRACE:
		if (prog->hook == NF_INET_FORWARD)
			emit_forward_gate(g, fl, l_pass);
		emit_trace_cfg(g, prog->hook);
		break;
	}
	BIND(l_classified);
	/* skb->mark as the rules see it (MARK/CONNMARK/-m mark); XDP has none. */
	if (fl->type == BPF_PROG_TYPE_SCHED_CLS) {
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_9, offsetof(struct __sk_buff, mark)));
		E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_1, PKT(mark)));
	}
	for (unsigned int i = 0; i < g->n_used; i++)
		if (g->used[i]->emit_prologue) {
			err = g->used[i]->emit_prologue(g, prog->role);
			if (err)
				return err;
		}
	emit_if_preload(g);

	for (int i = 0; i < n_hooks; i++) {
		int l_other = LABEL();

		if (i + 1 < n_hooks)
			EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_7, hooks[i], 0), l_other);
		err = emit_hook(g, hooks[i], l_pass, l_verdict);
		if (err)
			return err;
		BIND(l_other);
	}

	BIND(l_verdict);
	for (unsigned int i = 0; i < g->n_used; i++)
		if (g->used[i]->emit_verdict) {
			err = g->used[i]->emit_verdict(g, prog->role);
			if (err)
				return err;
		}
	if (fl->type == BPF_PROG_TYPE_SCHED_CLS && g->n_used) {
		int l_same = LABEL();

		/* A rule changed the mark: the skb keeps it, as after the kernel's MARK. */
		E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(mod_flags)));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, GEN_PF_MARK));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_same);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(mark)));
		E(BPF_STX_MEM(BPF_W, BPF_REG_9, BPF_REG_1, offsetof(struct __sk_buff, mark)));
		BIND(l_same);
	}
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, GEN_V_ACCEPT, 0), l_accept);
	E(BPF_MOV64_IMM(BPF_REG_0, fl->ret_drop));
	E(BPF_EXIT_INSN());
	BIND(l_accept);
	E(BPF_MOV64_IMM(BPF_REG_0, fl->ret_accept));
	E(BPF_EXIT_INSN());
	BIND(l_pass);
	E(BPF_MOV64_IMM(BPF_REG_0, fl->ret_pass));
	E(BPF_EXIT_INSN());
	return g->p->e.err;
}

/* ------------------------------------------------------------ call graph limits */

static int depth_visit(struct gen *g, unsigned int id)
{
	struct gen_func *f = &g->p->funcs[id];

	if (f->state == 2)
		return 0;
	if (f->state == 1)
		return ipt2bpf_diag_set(g->diag, -ELOOP, "%s: jumps form a loop", f->name);
	f->state = 1;
	f->frames = 1;
	f->pushes = f->local_pushes;
	for (unsigned int i = 0; i < f->n_edges; i++) {
		const struct gen_edge *ed = &f->edges[i];
		struct gen_func *c;
		int err = depth_visit(g, ed->callee);

		if (err)
			return err;
		f = &g->p->funcs[id];
		c = &g->p->funcs[ed->callee];
		if (1 + c->frames > f->frames) {
			f->frames = 1 + c->frames;
			f->deepest = (int)ed->callee;
		}
		if (ed->pushes + ed->jump + c->pushes > f->pushes)
			f->pushes = ed->pushes + ed->jump + c->pushes;
	}
	f->state = 2;
	return 0;
}

static void chain_path(struct gen *g, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (int id = g->p->funcs[0].deepest; id >= 0 && used < len; id = g->p->funcs[id].deepest) {
		const struct gen_func *f = &g->p->funcs[id];
		const char *chain;
		int n;

		if (f->chunk || f->emit)
			continue; /* a piece of the chain named before it, or a module's */
		chain = entry_chain(g->tables[f->table], f->entry);
		n = snprintf(buf + used, len - used, "%s%s", used ? " -> " : "",
			     chain ? chain : f->name);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static int check_limits(struct gen *g, const struct ipt2bpf_prog *prog)
{
	struct gen_func *main_f;
	char path[512];
	int err;

	if (g->p->n_funcs > GEN_MAX_SUBPROGS)
		return ipt2bpf_diag_set(
			g->diag, -EOPNOTSUPP,
			"%s: %u chains are jumped to from more than one place; the kernel allows "
			"at most %u BPF functions per program",
			prog->name, g->p->n_funcs - 1, GEN_MAX_SUBPROGS - 1);
	err = depth_visit(g, 0);
	if (err)
		return err;
	main_f = &g->p->funcs[0];
	if (main_f->frames > GEN_MAX_FRAMES) {
		chain_path(g, path, sizeof(path));
		return ipt2bpf_diag_set(
			g->diag, -EOPNOTSUPP,
			"%s: chain nesting deeper than %u levels is not supported: %s",
			g->tables[g->p->funcs[main_f->deepest].table]->name, GEN_MAX_FRAMES - 1,
			path);
	}
	/* ipt_do_table() drops when a JUMP would overflow the jump stack (stacksize entries). */
	for (unsigned int i = 0; i < main_f->n_edges; i++) {
		const struct gen_func *c = &g->p->funcs[main_f->edges[i].callee];

		if (c->emit)
			continue; /* a module's function pushes nothing */
		if (c->pushes > g->ti[c->table].stacksize)
			return ipt2bpf_diag_set(
				g->diag, -EOPNOTSUPP,
				"%s: jumps nest %u deep from %s, beyond the kernel's jump stack of "
				"%u entries (the kernel would drop there): not supported",
				g->tables[c->table]->name, c->pushes, c->name,
				g->ti[c->table].stacksize);
	}
	return 0;
}

/* ------------------------------------------------------------ programs */

static void prog_release(struct gen_prog *p)
{
	for (unsigned int i = 0; i < p->n_funcs; i++)
		free(p->funcs[i].edges);
	free(p->funcs);
	gen_emit_release(&p->e);
	memset(p, 0, sizeof(*p));
}

static int build_prog(struct gen *g, struct ipt2bpf_prog *prog, const struct gen_flavour *fl)
{
	struct gen_prog p = {0};
	uint32_t *starts = NULL;
	int err;

	gen_emit_init(&p.e);
	g->p = &p;
	g->fl = fl;
	g->prog = prog;
	p.funcs = calloc(16, sizeof(*p.funcs));
	if (!p.funcs) {
		err = -ENOMEM;
		goto out;
	}
	p.cap_funcs = 16;
	p.n_funcs = 1;
	p.funcs[0].table = UINT_MAX;
	p.funcs[0].deepest = -1;
	snprintf(p.funcs[0].name, sizeof(p.funcs[0].name), "%s", prog->name);

	err = emit_main(g, prog, fl);
	if (err)
		goto out;
	p.funcs[0].len = p.e.n;
	/* The first three instructions set R9 and R6. */
	if (!p.e.err && gen_rebase_main_pkt(p.e.insns, p.e.n, 3) < 0) {
		err = ipt2bpf_diag_set(g->diag, -EINVAL, "%s: R6 changes in the main function",
				       prog->name);
		goto out;
	}
	for (p.cur = 1; p.cur < p.n_funcs; p.cur++) {
		struct gen_ctx c = {.ret_label = -1};
		unsigned int id = p.cur;

		p.funcs[id].start = p.e.n;
		p.e.dead = false;
		if (p.funcs[id].emit) {
			err = p.funcs[id].emit(g, p.funcs[id].arg);
		} else if (p.funcs[id].chunk) {
			/* A global function's pointer argument may be NULL as far as the verifier
			 * knows. */
			EMIT(&p.e, BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 2));
			EMIT(&p.e, BPF_MOV64_IMM(BPF_REG_0, GEN_V_DROP));
			EMIT(&p.e, BPF_EXIT_INSN());
			p.e.dead = false;
			EMIT(&p.e, BPF_MOV64_REG(BPF_REG_6, BPF_REG_1));
			err = gen_chunk_body(g, p.funcs[id].table, p.funcs[id].entry,
					     p.funcs[id].end);
		} else {
			/*
			 * Chain functions are global (optimiser, codegen/opt.h): verified
			 * once each, not once per call site and caller state, which grows
			 * with the product of jump counts along nested chains.
			 */
			p.funcs[id].global = true;
			EMIT(&p.e, BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 2));
			EMIT(&p.e, BPF_MOV64_IMM(BPF_REG_0, GEN_V_DROP));
			EMIT(&p.e, BPF_EXIT_INSN());
			p.e.dead = false;
			EMIT(&p.e, BPF_MOV64_REG(BPF_REG_6, BPF_REG_1));
			err = gen_body(g, p.funcs[id].table, p.funcs[id].entry, &c);
		}
		if (err)
			goto out;
		p.funcs[id].len = p.e.n - p.funcs[id].start;
	}
	if (p.e.err) {
		err = p.e.err;
		goto out;
	}
	err = check_limits(g, prog);
	if (err)
		goto out;
	if (p.e.n > GEN_MAX_INSNS) {
		err = ipt2bpf_diag_set(
			g->diag, -E2BIG,
			"%s: %u instructions, more than the kernel loads (%u): rule sets "
			"this large need map-based classification, not implemented yet",
			prog->name, p.e.n, GEN_MAX_INSNS);
		goto out;
	}

	starts = calloc(p.n_funcs, sizeof(*starts));
	prog->funcs = calloc(p.n_funcs, sizeof(*prog->funcs));
	prog->func_global = calloc(p.n_funcs, sizeof(*prog->func_global));
	if (!starts || !prog->funcs || !prog->func_global) {
		err = -ENOMEM;
		goto out;
	}
	for (unsigned int i = 0; i < p.n_funcs; i++) {
		starts[i] = p.funcs[i].start;
		snprintf(prog->funcs[i].name, sizeof(prog->funcs[i].name), "%s", p.funcs[i].name);
		prog->funcs[i].start = p.funcs[i].start;
		prog->funcs[i].len = p.funcs[i].len;
		prog->func_global[i] = p.funcs[i].chunk || p.funcs[i].global;
		prog->needs_func_info |= p.funcs[i].emit != NULL;
	}
	prog->n_funcs = p.n_funcs;
	err = gen_emit_resolve(&p.e, starts, p.n_funcs);
	if (err == -E2BIG) {
		ipt2bpf_diag_set(g->diag, err, "%s: a chain is too long for 16-bit jump offsets",
				 prog->name);
		goto out;
	}
	if (err)
		goto out;
	prog->insns = TAKE_PTR(p.e.insns);
	prog->n_insns = p.e.n;
	prog->relocs = TAKE_PTR(p.e.relocs);
	prog->n_relocs = p.e.n_relocs;
out:
	if (err == -ENOMEM)
		ipt2bpf_diag_set(g->diag, err, "%s: out of memory", prog->name);
	else if (err)
		ipt2bpf_diag_set(g->diag, err, "%s: code generation failed", prog->name);
	free(starts);
	prog_release(&p);
	g->p = NULL;
	return err;
}

/* ------------------------------------------------------------ set up */

static int add_map(struct ipt2bpf_progset *ps, const char *name, enum bpf_map_type type,
		   uint32_t key, uint32_t value, uint32_t max, uint32_t flags)
{
	struct ipt2bpf_map_spec *m;

	if (ps->n_maps >= IPT2BPF_MAX_MAPS)
		return -E2BIG;
	m = &ps->maps[ps->n_maps];
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->type = type;
	m->key_size = key;
	m->value_size = value;
	/* Socket-local storage maps must say 0 (bpf_local_storage_map_alloc_check()). */
	m->max_entries = max || type == BPF_MAP_TYPE_SK_STORAGE ? max : 1;
	m->flags = flags;
	return (int)ps->n_maps++;
}

int gen_map_get(struct gen *g, const char *name, enum bpf_map_type type, uint32_t key,
		uint32_t value, uint32_t max, uint32_t flags, bool shared)
{
	struct ipt2bpf_progset *ps = g->ps;
	int id = ipt2bpf_progset_find_map(ps, name);

	if (id >= 0) {
		const struct ipt2bpf_map_spec *m = &ps->maps[id];

		if (m->type != type || m->key_size != key || m->value_size != value ||
		    m->shared != shared)
			return ipt2bpf_diag_set(g->diag, -EINVAL,
						"map %s requested with two different layouts", name);
		return id;
	}
	id = add_map(ps, name, type, key, value, max, flags);
	if (id < 0)
		return ipt2bpf_diag_set(g->diag, id, "map %s: more than %d maps", name,
					IPT2BPF_MAX_MAPS);
	ps->maps[id].shared = shared;
	return id;
}

int gen_mod_use(struct gen *g, const struct ipt2bpf_mod *m, void ***priv)
{
	unsigned int i;

	for (i = 0; i < g->n_used; i++)
		if (g->used[i] == m)
			goto out;
	if (g->n_used >= GEN_MAX_MODS)
		return ipt2bpf_diag_set(g->diag, -E2BIG, "more than %d extension modules",
					GEN_MAX_MODS);
	/* Keep them sorted by order: their main-program hooks run that way. */
	for (i = g->n_used; i > 0 && g->used[i - 1]->order > m->order; i--) {
		g->used[i] = g->used[i - 1];
		g->mod_priv[i] = g->mod_priv[i - 1];
	}
	g->used[i] = m;
	g->mod_priv[i] = NULL;
	g->n_used++;
out:
	if (priv)
		*priv = &g->mod_priv[i];
	return 0;
}

void *gen_mod_priv(const struct gen *g, const struct ipt2bpf_mod *m)
{
	for (unsigned int i = 0; i < g->n_used; i++)
		if (g->used[i] == m)
			return g->mod_priv[i];
	return NULL;
}

int gen_refuse(struct gen *g, unsigned int ti, unsigned int idx, const char *fmt, ...)
{
	char where[128], msg[768];
	va_list ap;

	gen_describe(g, ti, idx, where, sizeof(where));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ipt2bpf_diag_set(g->diag, -EOPNOTSUPP, "%s: %s", where, msg);
}

/* Modules used by the table's entries: their prepare() hooks, once per use. */
static int prepare_mods(struct gen *g, unsigned int ti)
{
	const struct ipt2bpf_table *t = g->tables[ti];

	for (unsigned int i = 0; i < t->n_entries; i++) {
		const struct ipt2bpf_entry *e = &t->entries[i];
		int err;

		for (unsigned int m = 0; m < e->n_matches; m++) {
			const struct ipt2bpf_match *mt = &e->matches[m];

			if (mt->kind != IPT2BPF_M_MOD)
				continue;
			if (!mt->mod->emit_match)
				return gen_refuse(g, ti, i,
						  "match '%s' has no code generator in this build",
						  mt->name);
			err = gen_mod_use(g, mt->mod, NULL);
			if (!err && mt->mod->prepare)
				err = mt->mod->prepare(g, ti, i, mt->data, mt->revision);
			if (err)
				return err;
		}
		if (e->target.kind == IPT2BPF_T_MOD) {
			const struct ipt2bpf_mod *mod = e->target.mod;

			if (!mod->emit_target)
				return gen_refuse(g, ti, i,
						  "target '%s' has no code generator in this build",
						  mod->name);
			err = gen_mod_use(g, mod, NULL);
			if (!err && mod->prepare)
				err = mod->prepare(g, ti, i, e->target.data, e->target.revision);
			if (err)
				return err;
		}
	}
	return 0;
}

static int ifpat_id(struct gen *g, const char *name, const unsigned char *mask)
{
	struct ipt2bpf_progset *ps = g->ps;
	struct ipt2bpf_ifpat *np;

	for (unsigned int i = 0; i < ps->n_ifpats; i++)
		if (!memcmp(ps->ifpats[i].name, name, IFNAMSIZ) &&
		    !memcmp(ps->ifpats[i].mask, mask, IFNAMSIZ))
			return (int)i;
	np = realloc(ps->ifpats, (ps->n_ifpats + 1) * sizeof(*np));
	if (!np)
		return -ENOMEM;
	ps->ifpats = np;
	memcpy(np[ps->n_ifpats].name, name, IFNAMSIZ);
	memcpy(np[ps->n_ifpats].mask, mask, IFNAMSIZ);
	return (int)ps->n_ifpats++;
}

static bool all_zero(const unsigned char *m)
{
	for (unsigned int i = 0; i < IFNAMSIZ; i++)
		if (m[i])
			return false;
	return true;
}

/* Per table: interface patterns, jump sites, jump stack size, what the parser must provide. */
static int prepare_table(struct gen *g, unsigned int ti)
{
	const struct ipt2bpf_table *t = g->tables[ti];
	struct gen_tinfo *inf = &g->ti[ti];
	char where[128];

	inf->in_pat = calloc(t->n_entries ? t->n_entries : 1, sizeof(int));
	inf->out_pat = calloc(t->n_entries ? t->n_entries : 1, sizeof(int));
	inf->sites = calloc(t->n_entries ? t->n_entries : 1, sizeof(unsigned int));
	if (!inf->in_pat || !inf->out_pat || !inf->sites)
		return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
	if (!t->n_entries)
		return ipt2bpf_diag_set(g->diag, -EINVAL, "%s: table has no entries", t->name);
	for (unsigned int h = 0; h < IPT2BPF_NUM_HOOKS; h++)
		if ((t->valid_hooks & (1U << h)) &&
		    (t->hook_entry[h] >= t->n_entries || t->underflow[h] >= t->n_entries))
			return ipt2bpf_diag_set(g->diag, -EINVAL, "%s: hook %u entry out of range",
						t->name, h);

	for (unsigned int i = 0; i < t->n_entries; i++) {
		const struct ipt2bpf_entry *e = &t->entries[i];
		int id;

		inf->in_pat[i] = inf->out_pat[i] = -1;
		if (!all_zero(e->ip.iniface_mask)) {
			id = ifpat_id(g, e->ip.iniface, e->ip.iniface_mask);
			if (id < 0)
				return ipt2bpf_diag_set(g->diag, id, "out of memory");
			inf->in_pat[i] = id;
		}
		if (!all_zero(e->ip.outiface_mask)) {
			id = ifpat_id(g, e->ip.outiface, e->ip.outiface_mask);
			if (id < 0)
				return ipt2bpf_diag_set(g->diag, id, "out of memory");
			inf->out_pat[i] = id;
		}
		for (unsigned int m = 0; m < e->n_matches; m++) {
			if (e->matches[m].kind >= IPT2BPF_M__MAX) {
				gen_describe(g, ti, i, where, sizeof(where));
				return ipt2bpf_diag_set(
					g->diag, -EOPNOTSUPP,
					"%s: match '%s' is not supported by the code generator",
					where, e->matches[m].name ? e->matches[m].name : "?");
			}
			if (e->matches[m].kind == IPT2BPF_M_TCP && e->matches[m].u.tcp.option)
				g->tcpopt = true;
		}
		switch (e->target.kind) {
		case IPT2BPF_T_JUMP:
		case IPT2BPF_T_GOTO:
			if (e->target.target_entry >= t->n_entries) {
				gen_describe(g, ti, i, where, sizeof(where));
				return ipt2bpf_diag_set(g->diag, -EINVAL,
							"%s: jump to entry %u out of range", where,
							e->target.target_entry);
			}
			inf->sites[e->target.target_entry]++;
			break;
		case IPT2BPF_T_ERROR:
			inf->stacksize++;
			break;
		default:
			break;
		}
	}
	return 0;
}

static int add_prog(struct ipt2bpf_progset *ps, const char *name, const char *section,
		    enum ipt2bpf_prog_role role, int hook, enum bpf_prog_type type)
{
	struct ipt2bpf_prog *np = realloc(ps->progs, (ps->n_progs + 1) * sizeof(*np));

	if (!np)
		return -ENOMEM;
	ps->progs = np;
	np = &ps->progs[ps->n_progs++];
	memset(np, 0, sizeof(*np));
	snprintf(np->name, sizeof(np->name), "%s", name);
	np->section = section;
	np->role = role;
	np->hook = hook;
	np->type = type;
	return 0;
}

static const struct gen_flavour *prog_flavour(const struct ipt2bpf_prog *p)
{
	switch (p->role) {
	case IPT2BPF_P_XDP:
		return &fl_xdp;
	case IPT2BPF_P_TRACE:
		return &fl_tc_trace;
	default:
		return &fl_tc;
	}
}

static int add_maps(struct gen *g)
{
	struct ipt2bpf_progset *ps = g->ps;
	char name[BPF_OBJ_NAME_LEN];
	int id;

	for (unsigned int k = 0; k < g->n_tables; k++) {
		char tmp[64];

		snprintf(tmp, sizeof(tmp), "ipt_c_%s", g->tables[k]->name);
		copy_name(name, sizeof(name), tmp);
		id = add_map(ps, name, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
			     sizeof(struct ipt2bpf_counter), g->tables[k]->n_entries, 0);
		if (id < 0)
			return id;
		g->map_counter[k] = ps->counter_map[k] = (unsigned int)id;
	}
	id = add_map(ps, IPT2BPF_MAP_IFACES, BPF_MAP_TYPE_HASH, sizeof(struct ipt2bpf_ifkey),
		     sizeof(uint64_t), IFACES_PER_WORD * (g->if_words ? g->if_words : 1),
		     BPF_F_NO_PREALLOC);
	if (id < 0)
		return id;
	g->map_ifaces = (unsigned int)id;
	id = add_map(ps, IPT2BPF_MAP_FRAGS, BPF_MAP_TYPE_LRU_HASH, sizeof(struct gen_fragkey),
		     sizeof(uint32_t), FRAGS_MAX, 0);
	if (id < 0)
		return id;
	g->map_frags = (unsigned int)id;
	id = add_map(ps, IPT2BPF_MAP_CFG, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
		     sizeof(struct ipt2bpf_cfg), 1, 0);
	if (id < 0)
		return id;
	g->map_cfg = (unsigned int)id;
	return 0;
}

int ipt2bpf_gen(const struct ipt2bpf_table *const *tables, unsigned int n_tables,
		const struct ipt2bpf_gen_opts *opts, struct ipt2bpf_progset **out,
		struct ipt2bpf_diag *diag)
{
	static const struct ipt2bpf_gen_opts defaults = {.mode = IPT2BPF_MODE_TC};
	_free_ipt2bpf_progset_ struct ipt2bpf_progset *ps = NULL;
	struct gen g = {0};
	int err;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (!n_tables || n_tables > ARRAY_SIZE(ps->tables))
		return ipt2bpf_diag_set(diag, -EINVAL, "between 1 and %zu tables can be compiled",
					ARRAY_SIZE(ps->tables));
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	g.tables = tables;
	g.n_tables = n_tables;
	g.opts = opts;
	g.diag = diag;
	g.ps = ps;
	for (unsigned int k = 0; k < n_tables; k++) {
		ps->tables[k] = tables[k];
		err = prepare_table(&g, k);
		if (err)
			goto out;
	}
	ps->n_tables = n_tables;
	ps->arg_size = sizeof(struct gen_pkt);
	g.if_words = (ps->n_ifpats + 63) / 64;
	g.if_preload = g.if_words <= GEN_IF_PRELOAD;
	err = add_maps(&g);
	if (err) {
		ipt2bpf_diag_set(diag, err, "too many maps");
		goto out;
	}
	for (unsigned int k = 0; k < n_tables; k++) {
		err = prepare_mods(&g, k);
		if (err)
			goto out;
	}

	if (opts->mode == IPT2BPF_MODE_XDP)
		err = add_prog(ps, "ipt_xdp", "xdp", IPT2BPF_P_XDP, -1, BPF_PROG_TYPE_XDP);
	else
		err = add_prog(ps, "ipt_ingress", "classifier", IPT2BPF_P_INGRESS, -1,
			       BPF_PROG_TYPE_SCHED_CLS);
	/* OUTPUT only exists at TC egress, whatever the input side uses. */
	if (!err)
		err = add_prog(ps, "ipt_egress", "tc", IPT2BPF_P_EGRESS, NF_INET_LOCAL_OUT,
			       BPF_PROG_TYPE_SCHED_CLS);
	if (!err && opts->trace) {
		err = add_prog(ps, "ipt_t_input", "classifier", IPT2BPF_P_TRACE, NF_INET_LOCAL_IN,
			       BPF_PROG_TYPE_SCHED_CLS);
		if (!err)
			err = add_prog(ps, "ipt_t_forward", "classifier", IPT2BPF_P_TRACE,
				       NF_INET_FORWARD, BPF_PROG_TYPE_SCHED_CLS);
		if (!err)
			err = add_prog(ps, "ipt_t_output", "classifier", IPT2BPF_P_TRACE,
				       NF_INET_LOCAL_OUT, BPF_PROG_TYPE_SCHED_CLS);
	}
	if (err) {
		ipt2bpf_diag_set(diag, err, "out of memory");
		goto out;
	}
	for (unsigned int i = 0; i < ps->n_progs; i++) {
		err = build_prog(&g, &ps->progs[i], prog_flavour(&ps->progs[i]));
		if (err)
			goto out;
	}
	*out = TAKE_PTR(ps);
out:
	gen_opt_release(&g);
	for (unsigned int k = 0; k < g.n_used; k++)
		free(g.mod_priv[k]);
	for (unsigned int k = 0; k < ARRAY_SIZE(g.ti); k++) {
		free(g.ti[k].in_pat);
		free(g.ti[k].out_pat);
		free(g.ti[k].sites);
	}
	return err;
}
