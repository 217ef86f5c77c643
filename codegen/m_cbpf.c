// SPDX-License-Identifier: GPL-2.0
/*
 * -m bpf --bytecode (revision 0, and revision 1 in XT_BPF_MODE_BYTECODE):
 * the classic BPF program runs as the kernel runs it at the hook, as a
 * socket filter on the skb whose data starts at the IP header (bpf_mt():
 * bpf_prog_run() after bpf_convert_filter()); any non-zero return value is
 * a match.  xt_bpf has no invert.
 *
 * Each classic instruction becomes eBPF here, once per packet in the main
 * program (gen_pre.h): A and X are 32-bit, M[0..15] lives in FP_SCR.  As in
 * the kernel's conversion:
 *  - packet loads (BPF_ABS, BPF_IND, BPF_MSH) take a signed 32-bit offset
 *    (for IND, X + k wrapping at 32 bits): offsets >= 0 and SKF_NET_OFF + n
 *    are from the IP header, SKF_LL_OFF + n from the link-layer header (the
 *    Ethernet header at INPUT and FORWARD; whether LOCAL_OUT packets have one
 *    depends on how they were made, so such loads are refused there), any
 *    other offset fails; a load that does not fit in the datagram (skb->len,
 *    the IP total length) ends the program with 0;
 *  - DIV and MOD by X == 0 end the program with 0 (by K == 0 the kernel
 *    refuses);
 *  - ALU and jumps are the same eBPF instructions the kernel runs (32-bit
 *    ALU, unsigned compares), so shifts by X >= 32 agree too.
 * At FORWARD ip_forward() has decremented the TTL and updated the checksum
 * before the hook: loads covering bytes 8..11 see that (gen_pre_fwd_fix()'s
 * delta).
 *
 * Ancillary loads (SKF_AD_OFF + SKF_AD_*): protocol (ETH_P_IP at every
 * IPv4 hook), pkttype (skb->pkt_type; TC only), ifindex (skb->dev: the input
 * device at INPUT and FORWARD, the real --in in trace programs; at LOCAL_OUT
 * skb->dev depends on how the packet was made: refused), mark (TC only, and
 * only while no rule in the set writes the mark: the program runs before
 * the rules) and alu_xor_x.  The others depend on state the program cannot
 * see, or that changes after TC (queue, hatype, rxhash, cpu, vlan_*,
 * pay_offset, random, nlattr*): refused.
 *
 * Revision 1's FD_PINNED / FD_ELF modes name an eBPF socket filter loaded
 * elsewhere: refused.  Programs the kernel refuses (bpf_check_classic():
 * EINVAL) are refused as such.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/netfilter/xt_bpf.h>

#include "gen_pre.h"

#define A_REG BPF_REG_4
#define X_REG BPF_REG_5
#define FP_M  FP_SCR   /* M[0..15]: 64 bytes */
#define FP_AX FP_IFKEY /* A, X spilled around packet loads */
#define FP_O  FP_KEY   /* the load's offset from the IP header (s64) */

#define U32MAX 0xffffffffULL

struct bpf_prog_view {
	unsigned int mode; /* XT_BPF_MODE_* (revision 0: bytecode) */
	unsigned int n;
	const struct sock_filter *insn;
};

static struct bpf_prog_view bpf_view(const void *data, uint8_t revision)
{
	if (revision == 0) {
		const struct xt_bpf_info *i = data;

		return (struct bpf_prog_view){XT_BPF_MODE_BYTECODE, i->bpf_program_num_elem,
					      i->bpf_program};
	}
	const struct xt_bpf_info_v1 *i = data;

	return (struct bpf_prog_view){i->mode, i->bpf_program_num_elem, i->bpf_program};
}

static bool code_ok(uint16_t c)
{
	switch (c) {
	case BPF_ALU | BPF_ADD | BPF_K:
	case BPF_ALU | BPF_ADD | BPF_X:
	case BPF_ALU | BPF_SUB | BPF_K:
	case BPF_ALU | BPF_SUB | BPF_X:
	case BPF_ALU | BPF_MUL | BPF_K:
	case BPF_ALU | BPF_MUL | BPF_X:
	case BPF_ALU | BPF_DIV | BPF_K:
	case BPF_ALU | BPF_DIV | BPF_X:
	case BPF_ALU | BPF_MOD | BPF_K:
	case BPF_ALU | BPF_MOD | BPF_X:
	case BPF_ALU | BPF_AND | BPF_K:
	case BPF_ALU | BPF_AND | BPF_X:
	case BPF_ALU | BPF_OR | BPF_K:
	case BPF_ALU | BPF_OR | BPF_X:
	case BPF_ALU | BPF_XOR | BPF_K:
	case BPF_ALU | BPF_XOR | BPF_X:
	case BPF_ALU | BPF_LSH | BPF_K:
	case BPF_ALU | BPF_LSH | BPF_X:
	case BPF_ALU | BPF_RSH | BPF_K:
	case BPF_ALU | BPF_RSH | BPF_X:
	case BPF_ALU | BPF_NEG:
	case BPF_LD | BPF_W | BPF_ABS:
	case BPF_LD | BPF_H | BPF_ABS:
	case BPF_LD | BPF_B | BPF_ABS:
	case BPF_LD | BPF_W | BPF_IND:
	case BPF_LD | BPF_H | BPF_IND:
	case BPF_LD | BPF_B | BPF_IND:
	case BPF_LD | BPF_W | BPF_LEN:
	case BPF_LD | BPF_IMM:
	case BPF_LD | BPF_MEM:
	case BPF_LDX | BPF_W | BPF_LEN:
	case BPF_LDX | BPF_B | BPF_MSH:
	case BPF_LDX | BPF_IMM:
	case BPF_LDX | BPF_MEM:
	case BPF_ST:
	case BPF_STX:
	case BPF_MISC | BPF_TAX:
	case BPF_MISC | BPF_TXA:
	case BPF_RET | BPF_K:
	case BPF_RET | BPF_A:
	case BPF_JMP | BPF_JA:
	case BPF_JMP | BPF_JEQ | BPF_K:
	case BPF_JMP | BPF_JEQ | BPF_X:
	case BPF_JMP | BPF_JGE | BPF_K:
	case BPF_JMP | BPF_JGE | BPF_X:
	case BPF_JMP | BPF_JGT | BPF_K:
	case BPF_JMP | BPF_JGT | BPF_X:
	case BPF_JMP | BPF_JSET | BPF_K:
	case BPF_JMP | BPF_JSET | BPF_X:
		return true;
	}
	return false;
}

static bool is_cond_jump(uint16_t c)
{
	return BPF_CLASS(c) == BPF_JMP && BPF_OP(c) != BPF_JA;
}

static bool is_abs_load(uint16_t c)
{
	return BPF_CLASS(c) == BPF_LD && BPF_MODE(c) == BPF_ABS;
}

/* An ancillary load: its SKF_AD_* number, else -1. */
static int anc_of(const struct sock_filter *f)
{
	if (!is_abs_load(f->code) || f->k < (uint32_t)SKF_AD_OFF)
		return -1;
	return (int)(f->k - (uint32_t)SKF_AD_OFF);
}

static bool anc_known(int a)
{
	return a >= 0 && a < SKF_AD_MAX && !(a % 4);
}

static const char *anc_name(int a)
{
	static const char *const names[] = {
		"protocol",	    "pkttype",	  "ifindex",   "nlattr",
		"nlattr_nest",	    "mark",	  "queue",     "hatype",
		"rxhash",	    "cpu",	  "alu_xor_x", "vlan_tag",
		"vlan_tag_present", "pay_offset", "random",    "vlan_tpid",
	};

	return anc_known(a) ? names[a / 4] : "?";
}

/* bpf_check_classic() and check_load_and_stores(): 0, or why the kernel says EINVAL. */
static const char *classic_invalid(const struct sock_filter *p, unsigned int n)
{
	uint16_t masks[XT_BPF_MAX_NUM_INSTR], valid = 0;

	if (!n || n > XT_BPF_MAX_NUM_INSTR)
		return "program length out of range";
	for (unsigned int pc = 0; pc < n; pc++) {
		const struct sock_filter *f = &p[pc];

		if (!code_ok(f->code))
			return "unknown instruction";
		switch (f->code) {
		case BPF_ALU | BPF_DIV | BPF_K:
		case BPF_ALU | BPF_MOD | BPF_K:
			if (!f->k)
				return "division by constant 0";
			break;
		case BPF_ALU | BPF_LSH | BPF_K:
		case BPF_ALU | BPF_RSH | BPF_K:
			if (f->k >= 32)
				return "shift by 32 or more";
			break;
		case BPF_LD | BPF_MEM:
		case BPF_LDX | BPF_MEM:
		case BPF_ST:
		case BPF_STX:
			if (f->k >= BPF_MEMWORDS)
				return "scratch memory index out of range";
			break;
		case BPF_JMP | BPF_JA:
			if (f->k >= n - pc - 1)
				return "jump out of range";
			break;
		default:
			if (is_cond_jump(f->code) && (pc + f->jt + 1 >= n || pc + f->jf + 1 >= n))
				return "jump out of range";
			if (is_abs_load(f->code) && f->k >= (uint32_t)SKF_AD_OFF &&
			    !anc_known(anc_of(f)))
				return "unknown ancillary load";
			break;
		}
	}
	if (BPF_CLASS(p[n - 1].code) != BPF_RET)
		return "last instruction is not a return";
	/* Scratch memory is read only after writes on every path. */
	memset(masks, 0xff, sizeof(masks));
	for (unsigned int pc = 0; pc < n; pc++) {
		const struct sock_filter *f = &p[pc];

		valid &= masks[pc];
		switch (f->code) {
		case BPF_ST:
		case BPF_STX:
			valid |= (uint16_t)(1U << f->k);
			break;
		case BPF_LD | BPF_MEM:
		case BPF_LDX | BPF_MEM:
			if (!(valid & (1U << f->k)))
				return "scratch memory read before written";
			break;
		case BPF_JMP | BPF_JA:
			masks[pc + 1 + f->k] &= valid;
			valid = 0xffff;
			break;
		default:
			if (is_cond_jump(f->code)) {
				masks[pc + 1 + f->jt] &= valid;
				masks[pc + 1 + f->jf] &= valid;
				valid = 0xffff;
			}
			break;
		}
	}
	return NULL;
}

static int bpf_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e, const void *data,
		     size_t len, uint8_t revision, char *why, size_t whylen)
{
	struct bpf_prog_view v = bpf_view(data, revision);
	const char *bad;

	(void)t, (void)e, (void)len;
	if (v.mode == XT_BPF_MODE_FD_PINNED || v.mode == XT_BPF_MODE_FD_ELF) {
		snprintf(why, whylen,
			 "not supported: %s names an eBPF socket filter loaded elsewhere, "
			 "which cannot be embedded in the generated program (use --bytecode)",
			 v.mode == XT_BPF_MODE_FD_PINNED ? "--object-pinned" : "an ELF object");
		return -EOPNOTSUPP;
	}
	if (v.mode != XT_BPF_MODE_BYTECODE) {
		snprintf(why, whylen, "unknown mode %u (the kernel refuses it: EINVAL)", v.mode);
		return -EOPNOTSUPP;
	}
	bad = classic_invalid(v.insn, v.n);
	if (bad) {
		snprintf(why, whylen, "invalid program: %s (the kernel refuses it: EINVAL)", bad);
		return -EOPNOTSUPP;
	}
	for (unsigned int pc = 0; pc < v.n; pc++) {
		int a = anc_of(&v.insn[pc]);

		switch (a) {
		case -1:
		case SKF_AD_PROTOCOL:
		case SKF_AD_PKTTYPE:
		case SKF_AD_IFINDEX:
		case SKF_AD_MARK:
		case SKF_AD_ALU_XOR_X:
			break;
		default:
			snprintf(why, whylen,
				 "not supported: instruction %u loads the ancillary field '%s', "
				 "which depends on kernel state a TC/XDP program cannot see as the "
				 "netfilter hook does",
				 pc, anc_name(a));
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

static void bpf_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	struct bpf_prog_view v = bpf_view(data, revision);

	(void)len;
	if (v.mode == XT_BPF_MODE_FD_PINNED) {
		const struct xt_bpf_info_v1 *i = data;

		fprintf(f, "--object-pinned %.*s", (int)XT_BPF_PATH_MAX, i->path);
		return;
	}
	fprintf(f, "--bytecode \"%u", v.n);
	for (unsigned int i = 0; i < v.n && i < XT_BPF_MAX_NUM_INSTR; i++)
		fprintf(f, ",%u %u %u %u", v.insn[i].code, v.insn[i].jt, v.insn[i].jf, v.insn[i].k);
	fputc('"', f);
}

/* ------------------------------------------------------------ value ranges */

/*
 * Ranges [lo, hi] of A, X and M[] per instruction (jumps only go forward, so
 * one pass in order): whether an indirect load at LOCAL_OUT can reach the
 * link-layer range SKF_LL_OFF..SKF_NET_OFF - 1.
 */
struct iv {
	uint64_t lo, hi;
};

struct bnd {
	bool on;
	struct iv a, x, m[BPF_MEMWORDS];
};

static const struct iv IV_ANY = {0, U32MAX};

static struct iv iv_join(struct iv a, struct iv b)
{
	return (struct iv){a.lo < b.lo ? a.lo : b.lo, a.hi > b.hi ? a.hi : b.hi};
}

static void bnd_join(struct bnd *d, const struct bnd *s)
{
	if (!d->on) {
		*d = *s;
		return;
	}
	d->a = iv_join(d->a, s->a);
	d->x = iv_join(d->x, s->x);
	for (unsigned int i = 0; i < BPF_MEMWORDS; i++)
		d->m[i] = iv_join(d->m[i], s->m[i]);
}

static uint64_t bits_upto(uint64_t v)
{
	uint64_t m = 0;

	while (m < v)
		m = (m << 1) | 1;
	return m;
}

static struct iv iv_size(uint16_t code)
{
	return (struct iv){0, BPF_SIZE(code) == BPF_B	? 0xff
			      : BPF_SIZE(code) == BPF_H ? 0xffff
							: U32MAX};
}

static bool iv_meets_ll(uint64_t lo, uint64_t hi)
{
	const uint64_t ll_lo = (uint32_t)SKF_LL_OFF, ll_hi = (uint32_t)SKF_NET_OFF - 1;

	return lo <= ll_hi && hi >= ll_lo;
}

/* Does (u32)(x + k) for x in v meet the link-layer range? */
static bool range_hits_ll(struct iv v, uint64_t k)
{
	uint64_t lo = v.lo + k, hi = v.hi + k, wrap = U32MAX + 1;

	if (hi <= U32MAX)
		return iv_meets_ll(lo, hi);
	if (lo > U32MAX)
		return iv_meets_ll(lo - wrap, hi - wrap);
	return iv_meets_ll(lo, U32MAX) || iv_meets_ll(0, hi - wrap);
}

static struct iv alu_range(uint8_t op, bool k_src, struct iv a, struct iv o)
{
	switch (op) {
	case BPF_AND:
		return (struct iv){0, a.hi < o.hi ? a.hi : o.hi};
	case BPF_OR:
	case BPF_XOR:
		return (struct iv){0, bits_upto(a.hi > o.hi ? a.hi : o.hi)};
	case BPF_ADD:
		if (a.hi + o.hi <= U32MAX)
			return (struct iv){a.lo + o.lo, a.hi + o.hi};
		return IV_ANY;
	case BPF_RSH:
		return k_src ? (struct iv){a.lo >> o.lo, a.hi >> o.lo} : (struct iv){0, a.hi};
	case BPF_DIV:
		return k_src ? (struct iv){a.lo / o.lo, a.hi / o.lo} : (struct iv){0, a.hi};
	case BPF_MOD:
		return (struct iv){0, o.hi && o.hi - 1 < a.hi ? o.hi - 1 : a.hi};
	default:
		return IV_ANY;
	}
}

/* The first indirect load that may read at a link-layer offset, or -1. */
static int ind_may_ll(const struct sock_filter *p, unsigned int n)
{
	struct bnd in[XT_BPF_MAX_NUM_INSTR] = {{.on = true}}, s;

	for (unsigned int pc = 0; pc < n; pc++) {
		const struct sock_filter *f = &p[pc];
		uint64_t k = f->k;
		struct iv v = IV_ANY;
		int a;

		if (!in[pc].on)
			continue; /* unreachable */
		s = in[pc];
		switch (BPF_CLASS(f->code)) {
		case BPF_LD:
		case BPF_LDX:
			switch (BPF_MODE(f->code)) {
			case BPF_IMM:
				v = (struct iv){k, k};
				break;
			case BPF_MEM:
				v = s.m[k];
				break;
			case BPF_MSH:
				v = (struct iv){0, 60};
				break;
			case BPF_LEN:
				v = (struct iv){0, INT32_MAX}; /* skb->len is used as an int */
				break;
			case BPF_IND:
				if (range_hits_ll(s.x, k))
					return (int)pc;
				v = iv_size(f->code);
				break;
			case BPF_ABS:
				a = anc_of(f);
				if (a == SKF_AD_PROTOCOL)
					v = (struct iv){ETH_P_IP, ETH_P_IP};
				else if (a == SKF_AD_ALU_XOR_X)
					v = alu_range(BPF_XOR, false, s.a, s.x);
				else if (a < 0)
					v = iv_size(f->code);
				break;
			}
			if (BPF_CLASS(f->code) == BPF_LD)
				s.a = v;
			else
				s.x = v;
			break;
		case BPF_ST:
			s.m[k] = s.a;
			break;
		case BPF_STX:
			s.m[k] = s.x;
			break;
		case BPF_MISC:
			if (BPF_MISCOP(f->code) == BPF_TAX)
				s.x = s.a;
			else
				s.a = s.x;
			break;
		case BPF_ALU: {
			bool ks = BPF_SRC(f->code) == BPF_K;

			s.a = alu_range(BPF_OP(f->code), ks, s.a, ks ? (struct iv){k, k} : s.x);
			break;
		}
		case BPF_JMP:
			if (BPF_OP(f->code) == BPF_JA) {
				bnd_join(&in[pc + 1 + k], &s);
			} else {
				bnd_join(&in[pc + 1 + f->jt], &s);
				bnd_join(&in[pc + 1 + f->jf], &s);
			}
			continue;
		case BPF_RET:
			continue;
		}
		if (pc + 1 < n)
			bnd_join(&in[pc + 1], &s);
	}
	return -1;
}

/* ------------------------------------------------------------ codegen */

/* Does a rule of the set have a target whose name contains s? */
static bool target_in_set(const struct gen *g, const char *s)
{
	for (unsigned int t = 0; t < g->n_tables; t++)
		for (unsigned int i = 0; i < g->tables[t]->n_entries; i++) {
			const char *name = g->tables[t]->entries[i].target.name;

			if (name && strstr(name, s))
				return true;
		}
	return false;
}

static int bpf_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop);

static int bpf_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		       uint8_t revision)
{
	const unsigned int out = 1U << NF_INET_LOCAL_OUT;
	struct bpf_prog_view v = bpf_view(data, revision);
	unsigned int hooks = g->tables[ti]->entries[idx].hooks;
	bool xdp = g->opts->mode == IPT2BPF_MODE_XDP;
	int err, pc;

	for (unsigned int i = 0; i < v.n; i++) {
		const struct sock_filter *f = &v.insn[i];
		int a = anc_of(f);

		if ((a == SKF_AD_PKTTYPE || a == SKF_AD_MARK) && xdp && (hooks & ~out))
			return gen_refuse(g, ti, idx,
					  "match 'bpf': instruction %u loads skb->%s, which XDP "
					  "programs do not have (use --mode tc)",
					  i, a == SKF_AD_MARK ? "mark" : "pkt_type");
		/* MARK, CONNMARK, HMARK (and SECMARK's bridge) write skb->mark. */
		if (a == SKF_AD_MARK && target_in_set(g, "MARK"))
			return gen_refuse(g, ti, idx,
					  "match 'bpf': instruction %u loads skb->mark, but the "
					  "program runs before the rules and a rule in the set "
					  "changes the mark",
					  i);
		if (a == SKF_AD_IFINDEX && (hooks & out))
			return gen_refuse(
				g, ti, idx,
				"match 'bpf': instruction %u loads the ifindex of skb->dev, "
				"which at OUTPUT depends on how the packet was made (often "
				"not set yet)",
				i);
		if ((hooks & out) && a < 0 &&
		    (is_abs_load(f->code) || f->code == (BPF_LDX | BPF_B | BPF_MSH)) &&
		    (int32_t)f->k >= SKF_LL_OFF && (int32_t)f->k < SKF_NET_OFF)
			return gen_refuse(
				g, ti, idx,
				"match 'bpf': instruction %u reads the link-layer header "
				"(SKF_LL_OFF), which a packet at OUTPUT may or may not have",
				i);
	}
	if (target_in_set(g, "TCPMSS"))
		return gen_refuse(g, ti, idx,
				  "match 'bpf' in a rule set with -j TCPMSS is not supported (it "
				  "would have to see the rewritten option)");
	if (hooks & out) {
		pc = ind_may_ll(v.insn, v.n);
		if (pc >= 0)
			return gen_refuse(
				g, ti, idx,
				"match 'bpf': instruction %d is an indirect load that may "
				"reach the link-layer header (SKF_LL_OFF), which a packet "
				"at OUTPUT may or may not have",
				pc);
	}
	err = gen_pre_add(g, ti, idx, data, revision, bpf_eval, 0);
	return err ? err : gen_pre_fwdhdr(g);
}

/*
 * R0 = the size bytes a classic packet load reads (host order), as the hook
 * sees them; A and X are kept.  ind: the offset is X + k (32-bit wrap), else
 * k; either way a signed 32-bit offset (bpf_skb_load_helper_convert_offset()).
 * ll_ok: the link-layer range is the Ethernet header (not at LOCAL_OUT,
 * where it is refused, or cannot be reached).  Jumps to l_fault when the
 * kernel's load fails (the program returns 0).
 */
static void emit_load(struct gen *g, int size, bool ind, uint32_t k, bool ll_ok, int l_fault)
{
	static const int sz[] = {[1] = BPF_B, [2] = BPF_H, [4] = BPF_W};
	int l_have = LABEL();

	if (ind) {
		int l_ll = LABEL();

		E(BPF_MOV32_REG(BPF_REG_1, X_REG));
		E(BPF_ALU32_IMM(BPF_ADD, BPF_REG_1, (int32_t)k));
		E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_1, 32));
		E(BPF_ALU64_IMM(BPF_ARSH, BPF_REG_1, 32));
		EJ(BPF_JMP_IMM(BPF_JSGE, BPF_REG_1, 0, 0), l_have);
		EJ(BPF_JMP_IMM(BPF_JSLT, BPF_REG_1, SKF_NET_OFF, 0), l_ll);
		E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, SKF_NET_OFF));
		EJ(BPF_JMP_A(0), l_have);
		BIND(l_ll);
		if (!ll_ok) {
			EJ(BPF_JMP_A(0), l_fault);
		} else {
			EJ(BPF_JMP_IMM(BPF_JSLT, BPF_REG_1, SKF_LL_OFF, 0), l_fault);
			E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_1, SKF_LL_OFF + ETH_HLEN));
		}
	} else {
		int32_t off = (int32_t)k;
		int64_t o;

		if (off >= 0)
			o = off;
		else if (off >= SKF_NET_OFF)
			o = (int64_t)off - SKF_NET_OFF;
		else if (off >= SKF_LL_OFF && ll_ok)
			o = (int64_t)off - SKF_LL_OFF - ETH_HLEN;
		else {
			EJ(BPF_JMP_A(0), l_fault);
			return;
		}
		E(BPF_MOV64_IMM(BPF_REG_1, (int32_t)o));
	}
	BIND(l_have);
	/* The load must lie within skb->len (the IP total length) from the IP header. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(tot_len)));
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, size));
	EJ(BPF_JMP_REG(BPF_JSGT, BPF_REG_3, BPF_REG_2, 0), l_fault);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_1, FP_O));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, A_REG, FP_AX));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, X_REG, FP_AX + 4));
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_1, 0, FP_TMP, size, l_fault);
	E(BPF_LDX_MEM(sz[size], BPF_REG_0, BPF_REG_10, FP_TMP));
	if (size > 1)
		E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_0, size * 8));
	if (gen_prog_hooks(g) & (1U << NF_INET_FORWARD)) {
		int l_done = LABEL(), l_right = LABEL(), l_apply = LABEL();

		/*
		 * Bytes 8..11 as FORWARD sees them: the delta word D (byte 8
		 * most significant) moved to where those bytes are in the
		 * value: n = o + size - 12 bytes to the left (right if < 0).
		 */
		E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_8, 0));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_done);
		E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, FP_O));
		EJ(BPF_JMP_IMM(BPF_JSGE, BPF_REG_1, 12, 0), l_done);
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, size - 12));
		EJ(BPF_JMP_IMM(BPF_JSLE, BPF_REG_1, -4, 0), l_done);
		EJ(BPF_JMP_IMM(BPF_JSLT, BPF_REG_1, 0, 0), l_right);
		E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_1, 3));
		E(BPF_ALU32_REG(BPF_LSH, BPF_REG_2, BPF_REG_1));
		EJ(BPF_JMP_A(0), l_apply);
		BIND(l_right);
		E(BPF_ALU64_IMM(BPF_NEG, BPF_REG_1, 0));
		E(BPF_ALU64_IMM(BPF_LSH, BPF_REG_1, 3));
		E(BPF_ALU32_REG(BPF_RSH, BPF_REG_2, BPF_REG_1));
		BIND(l_apply);
		if (size < 4)
			E(BPF_ALU32_IMM(BPF_AND, BPF_REG_2, (1 << (8 * size)) - 1));
		E(BPF_ALU32_REG(BPF_XOR, BPF_REG_0, BPF_REG_2));
		BIND(l_done);
	}
	E(BPF_LDX_MEM(BPF_W, A_REG, BPF_REG_10, FP_AX));
	E(BPF_LDX_MEM(BPF_W, X_REG, BPF_REG_10, FP_AX + 4));
}

/* A = an ancillary field (those bpf_check() and bpf_prepare() let through). */
static int emit_anc(struct gen *g, int a)
{
	switch (a) {
	case SKF_AD_PROTOCOL:
		E(BPF_MOV32_IMM(A_REG, ETH_P_IP)); /* skb->protocol at every IPv4 hook */
		break;
	case SKF_AD_PKTTYPE:
		if (g->fl->type == BPF_PROG_TYPE_XDP)
			return -EINVAL; /* refused in prepare() */
		E(BPF_LDX_MEM(BPF_W, A_REG, BPF_REG_9, offsetof(struct __sk_buff, pkt_type)));
		break;
	case SKF_AD_IFINDEX:
		if (g->prog->role == IPT2BPF_P_TRACE) {
			/* Trace programs pretend devices: the real one is in ipt_cfg. */
			int l_cfg = LABEL();

			E(BPF_STX_MEM(BPF_W, BPF_REG_10, X_REG, FP_AX + 4));
			E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_KEY, 0));
			gen_ld_map(&g->p->e, BPF_REG_1, g->map_cfg);
			E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
			E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_KEY));
			E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
			E(BPF_MOV64_IMM(A_REG, 0));
			EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_cfg);
			E(BPF_LDX_MEM(BPF_W, A_REG, BPF_REG_0,
				      offsetof(struct ipt2bpf_cfg, fib_iif)));
			BIND(l_cfg);
			E(BPF_LDX_MEM(BPF_W, X_REG, BPF_REG_10, FP_AX + 4));
			break;
		}
		E(BPF_LDX_MEM(BPF_W, A_REG, BPF_REG_6, PKT(iif)));
		break;
	case SKF_AD_MARK:
		E(BPF_LDX_MEM(BPF_W, A_REG, BPF_REG_6, PKT(mark)));
		break;
	case SKF_AD_ALU_XOR_X:
		E(BPF_ALU32_REG(BPF_XOR, A_REG, X_REG));
		break;
	default:
		return -EINVAL; /* refused in check() */
	}
	return 0;
}

static int load_size(uint16_t code)
{
	return BPF_SIZE(code) == BPF_B ? 1 : BPF_SIZE(code) == BPF_H ? 2 : 4;
}

static int bpf_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	struct bpf_prog_view v = bpf_view(data, revision);
	bool ll_ok = !(gen_prog_hooks(g) & (1U << NF_INET_LOCAL_OUT));
	int lab[XT_BPF_MAX_NUM_INSTR], l_yes = LABEL(), err;

	(void)l_drop;
	for (unsigned int pc = 0; pc < v.n; pc++)
		lab[pc] = LABEL();
	E(BPF_MOV32_IMM(A_REG, 0));
	E(BPF_MOV32_IMM(X_REG, 0));
	for (unsigned int pc = 0; pc < v.n; pc++) {
		const struct sock_filter *f = &v.insn[pc];
		uint8_t op = BPF_OP(f->code);
		int32_t k = (int32_t)f->k;
		int16_t m = (int16_t)(FP_M + 4 * (int)(f->k % BPF_MEMWORDS));

		BIND(lab[pc]);
		switch (BPF_CLASS(f->code)) {
		case BPF_ALU:
			if (op == BPF_NEG) {
				E(BPF_ALU32_IMM(BPF_NEG, A_REG, 0));
			} else if (BPF_SRC(f->code) == BPF_X) {
				/* The kernel's conversion: return 0 on a division by 0. */
				if (op == BPF_DIV || op == BPF_MOD)
					EJ(BPF_JMP32_IMM(BPF_JEQ, X_REG, 0, 0), l_no);
				E(BPF_ALU32_REG(op, A_REG, X_REG));
			} else {
				E(BPF_ALU32_IMM(op, A_REG, k));
			}
			break;
		case BPF_LD:
		case BPF_LDX: {
			int dst = BPF_CLASS(f->code) == BPF_LD ? A_REG : X_REG;

			switch (BPF_MODE(f->code)) {
			case BPF_IMM:
				E(BPF_MOV32_IMM(dst, k));
				break;
			case BPF_MEM:
				E(BPF_LDX_MEM(BPF_W, dst, BPF_REG_10, m));
				break;
			case BPF_LEN:
				E(BPF_LDX_MEM(BPF_W, dst, BPF_REG_6, PKT(tot_len)));
				break;
			case BPF_MSH:
				/* X = 4 * (byte at k & 0xf) */
				emit_load(g, 1, false, f->k, ll_ok, l_no);
				E(BPF_ALU32_IMM(BPF_AND, BPF_REG_0, 0xf));
				E(BPF_ALU32_IMM(BPF_LSH, BPF_REG_0, 2));
				E(BPF_MOV64_REG(X_REG, BPF_REG_0));
				break;
			case BPF_ABS:
				if (anc_of(f) >= 0) {
					err = emit_anc(g, anc_of(f));
					if (err)
						return err;
					break;
				}
				/* fallthrough */
			case BPF_IND:
				emit_load(g, load_size(f->code), BPF_MODE(f->code) == BPF_IND, f->k,
					  ll_ok, l_no);
				E(BPF_MOV64_REG(A_REG, BPF_REG_0));
				break;
			}
			break;
		}
		case BPF_ST:
			E(BPF_STX_MEM(BPF_W, BPF_REG_10, A_REG, m));
			break;
		case BPF_STX:
			E(BPF_STX_MEM(BPF_W, BPF_REG_10, X_REG, m));
			break;
		case BPF_MISC:
			if (BPF_MISCOP(f->code) == BPF_TAX)
				E(BPF_MOV64_REG(X_REG, A_REG));
			else
				E(BPF_MOV64_REG(A_REG, X_REG));
			break;
		case BPF_RET:
			if (BPF_RVAL(f->code) == BPF_K) {
				EJ(BPF_JMP_A(0), f->k ? l_yes : l_no);
				break;
			}
			EJ(BPF_JMP32_IMM(BPF_JEQ, A_REG, 0, 0), l_no);
			EJ(BPF_JMP_A(0), l_yes);
			break;
		case BPF_JMP:
			if (op == BPF_JA) {
				EJ(BPF_JMP_A(0), lab[pc + 1 + f->k]);
				break;
			}
			if (BPF_SRC(f->code) == BPF_X)
				EJ(BPF_JMP32_REG(op, A_REG, X_REG, 0), lab[pc + 1 + f->jt]);
			else
				EJ(BPF_JMP32_IMM(op, A_REG, k, 0), lab[pc + 1 + f->jt]);
			EJ(BPF_JMP_A(0), lab[pc + 1 + f->jf]);
			break;
		}
	}
	BIND(l_yes);
	return g->p->e.err;
}

static int bpf_emit(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_match *m,
		    int l_fail)
{
	return gen_pre_test(g, ti, idx, m->data, l_fail);
}

static const struct ipt2bpf_mod mod_bpf = {
	.name = "bpf",
	.revisions = (1U << 0) | (1U << 1),
	.check = bpf_check,
	.dump = bpf_dump,
	.prepare = bpf_prepare,
	.emit_match = bpf_emit,
};
IPT2BPF_MOD_REGISTER(mod_bpf);
