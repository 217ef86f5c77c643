// SPDX-License-Identifier: GPL-2.0
/*
 * -m hashlimit (xt_hashlimit.c, revisions 1, 2 and 3): token buckets (or,
 * with --hashlimit-rate-match, rate windows) per key of source/destination
 * address (masked) and port, kept in a named table that every rule with the
 * same --hashlimit-name shares.
 *
 * Arithmetic: hashlimit_mt_common(), rateinfo_init() and rateinfo_recalc()
 * with the kernel's u64 wrap-arounds; the credits per jiffy, user2credits(),
 * user2credits_byte(), user2rate*() and msecs_to_jiffies() are computed here
 * at the host's HZ, as the kernel's checkentry would.
 *
 * State: one LRU hash map per name ("ipt_hl_" + FNV-1a of the name), key
 * {src, dst, sport, dport} as hashlimit_init_dst() builds it, value
 * struct hl_val.  The maps are `shared` (kept across rule set replacements,
 * as the kernel keeps a table that the new rules still name).  Each entry is
 * updated under a spin lock of its own, like the kernel's dh->lock.  An
 * entry is created with an all-zero value (BPF_NOEXIST, so two CPUs racing
 * to create it end up with one, like dsthash_alloc_init()'s race check) and
 * initialised by the first packet that takes its lock.
 *
 * Where it differs from the kernel (README):
 *  - expiry: the kernel frees an entry idle for --hashlimit-htable-expire ms
 *    when its garbage collector next runs (every --hashlimit-htable-gcinterval
 *    ms); here such an entry counts as gone at once, so a packet in between
 *    starts a fresh bucket where the kernel would refill the old one (the same
 *    bucket, unless the rate is so slow that it has not refilled yet, or in
 *    byte mode, whose refill count only a fresh entry restores);
 *  - a full table: the kernel drops (hotdrop) packets of new keys while
 *    --hashlimit-htable-max keys are live; the LRU map evicts the least
 *    recently used key instead;
 *  - rules sharing a name must agree on every option but upto/above (the
 *    kernel would use the first rule's), and after a reload that changes a
 *    table's options new keys get the new ones (the kernel keeps the old ones
 *    while any rule names the table).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/in.h>
#include <linux/netfilter/xt_hashlimit.h>

#include "gen_internal.h"
#include "host.h"
#include "m_util.h"

#define HL_MAP_PREFIX "ipt_hl_"
#define HL_ZERO_MAP   "ipt_hl_zero"
#define HL_PORTS_MAP  "ipt_hl_ports"
#define HL_MAX_SIZE   1048576 /* HASHLIMIT_MAX_SIZE */
#define HL_ALL                                                                                     \
	(XT_HASHLIMIT_HASH_DIP | XT_HASHLIMIT_HASH_DPT | XT_HASHLIMIT_HASH_SIP |                   \
	 XT_HASHLIMIT_HASH_SPT | XT_HASHLIMIT_INVERT | XT_HASHLIMIT_BYTES |                        \
	 XT_HASHLIMIT_RATE_MATCH)
#define HL_PORTS (XT_HASHLIMIT_HASH_SPT | XT_HASHLIMIT_HASH_DPT)

#ifndef IPPROTO_DCCP
#define IPPROTO_DCCP 33
#endif

/* The map entries. */
struct hl_key {
	uint32_t src, dst; /* host order, masked */
	uint16_t sport, dport;
};

struct hl_val {
	uint32_t lock;
	uint32_t init; /* 0: created, not yet initialised */
	uint64_t expires;
	uint64_t prev;
	uint64_t a; /* credit, or current_rate (rate match) */
	uint64_t b; /* credit_cap (byte mode), or prev_window (rate match) */
};

/* Per-packet port words for packets the parser gives none (AH, later fragments). */
struct hl_ports {
	uint32_t ports; /* the 4 bytes as in the packet */
	uint32_t ok;	/* 0: skb_header_pointer() would have failed */
};

/* Stack of the match code: now, the key, FP_KEY. */
#define FP_NOW FP_MOD2
#define FP_HLK FP_MOD /* 12 bytes: -24..-13 */
#define HLK(f) ((int16_t)(FP_HLK + (int)offsetof(struct hl_key, f)))

/* hashlimit_cfg3, whatever the revision. */
struct hl_cfg {
	char name[NAME_MAX + 1];
	uint8_t rev;
	uint32_t mode;
	uint64_t avg, burst;
	uint32_t size, max, gc_interval, expire, interval;
	uint8_t srcmask, dstmask;
};

static const struct ipt2bpf_mod mod_hashlimit;

static void hl_cfg(const void *data, uint8_t rev, struct hl_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->rev = rev;
	if (rev == 1) {
		const struct xt_hashlimit_mtinfo1 *i = data;

		memcpy(c->name, i->name, sizeof(i->name));
		c->mode = i->cfg.mode;
		c->avg = i->cfg.avg;
		c->burst = i->cfg.burst;
		c->size = i->cfg.size;
		c->max = i->cfg.max;
		c->gc_interval = i->cfg.gc_interval;
		c->expire = i->cfg.expire;
		c->srcmask = i->cfg.srcmask;
		c->dstmask = i->cfg.dstmask;
	} else {
		/* revisions 2 and 3 share the layout up to interval */
		const struct xt_hashlimit_mtinfo3 *i = data;

		memcpy(c->name, i->name, sizeof(i->name));
		c->mode = i->cfg.mode;
		c->avg = i->cfg.avg;
		c->burst = i->cfg.burst;
		c->size = i->cfg.size;
		c->max = i->cfg.max;
		c->gc_interval = i->cfg.gc_interval;
		c->expire = i->cfg.expire;
		if (rev == 3) {
			c->interval = i->cfg.interval;
			c->srcmask = i->cfg.srcmask;
			c->dstmask = i->cfg.dstmask;
		} else {
			const struct xt_hashlimit_mtinfo2 *i2 = data;

			c->srcmask = i2->cfg.srcmask;
			c->dstmask = i2->cfg.dstmask;
		}
	}
	/* hashlimit_mt_check_common() truncates these */
	if (c->size > HL_MAX_SIZE)
		c->size = HL_MAX_SIZE;
	if (c->max > HL_MAX_SIZE)
		c->max = HL_MAX_SIZE;
}

/* ------------------------------------------------------------ kernel arithmetic */

static uint64_t pow2_below(uint64_t x)
{
	uint64_t p = 1;

	while (p <= x / 2)
		p <<= 1;
	return p;
}

static uint64_t hl_cpj(uint8_t rev, uint32_t hz)
{
	if (rev == 1)
		return pow2_below(0xffffffffU / (hz * 60 * 60 * 24)); /* CREDITS_PER_JIFFY_v1 */
	return pow2_below(0xffffffffffffffffULL / ((uint64_t)hz * 60 * 60 * 24));
}

static uint64_t hl_cpj_bytes(uint32_t hz)
{
	return pow2_below(0xffffffffU / hz); /* CREDITS_PER_JIFFY_BYTES */
}

static uint64_t hl_user2credits(uint64_t user, uint8_t rev, uint32_t hz)
{
	uint64_t scale = rev == 1 ? XT_HASHLIMIT_SCALE : XT_HASHLIMIT_SCALE_v2;
	uint64_t hc = hz * hl_cpj(rev, hz);

	if (scale >= hc)
		return user / (scale / hc);
	return user * (hc / scale);
}

static uint32_t hl_user2credits_byte(uint32_t user, uint32_t hz)
{
	return (uint32_t)(((uint64_t)user * (hz * hl_cpj_bytes(hz))) >> 32);
}

/* msecs_to_jiffies() */
static uint64_t hl_msecs_to_jiffies(uint32_t m, uint32_t hz)
{
	if (hz <= 1000 && 1000 % hz == 0)
		return ((uint64_t)m + 1000 / hz - 1) / (1000 / hz);
	if (hz > 1000 && hz % 1000 == 0)
		return (uint64_t)m * (hz / 1000);
	return ((uint64_t)m * hz + 999) / 1000;
}

/* What the program needs, all computed at rule insertion by the kernel. */
struct hl_k {
	uint64_t cpj, credit0, cost; /* packet mode */
	uint64_t cpjb, capb;	     /* byte mode: CREDITS_PER_JIFFY_BYTES, * HZ */
	uint64_t rate, rburst;	     /* rate match */
	uint64_t interval_j;	     /* (u32)(interval * HZ) */
	uint64_t expire_j;
	uint32_t max_entries;
};

static void hl_consts(const struct hl_cfg *c, struct hl_k *k)
{
	uint32_t hz = ipt2bpf_host_hz();
	uint32_t size = c->size;

	memset(k, 0, sizeof(*k));
	k->cpj = hl_cpj(c->rev, hz);
	k->cpjb = hl_cpj_bytes(hz);
	k->capb = k->cpjb * hz;
	k->expire_j = hl_msecs_to_jiffies(c->expire, hz);
	k->interval_j = (uint32_t)(c->interval * hz);
	if (c->mode & XT_HASHLIMIT_RATE_MATCH) {
		if (c->mode & XT_HASHLIMIT_BYTES) { /* user2rate_bytes() */
			uint32_t u = (uint32_t)c->avg;
			uint64_t r = u ? UINT32_MAX / u : UINT32_MAX;

			k->rate = (r - 1) << XT_HASHLIMIT_BYTE_SHIFT;
			k->rburst = c->burst ? c->burst * k->rate : k->rate;
		} else {
			k->rate = c->avg ? XT_HASHLIMIT_SCALE_v2 / c->avg : 0;
			k->rburst = c->burst + k->rate;
		}
	} else if (c->mode & XT_HASHLIMIT_BYTES) {
		k->cost = hl_user2credits_byte((uint32_t)c->avg, hz);
	} else {
		k->credit0 = hl_user2credits(c->avg * c->burst, c->rev, hz);
		k->cost = hl_user2credits(c->avg, c->rev, hz);
	}
	/* htable_create(): the default size follows the RAM, max 8 * size */
	if (!size) {
		uint64_t ram = ipt2bpf_host_ram_bytes();

		size = (uint32_t)(ram / 16384 / sizeof(void *));
		if (ram > 1024ULL * 1024 * 1024)
			size = 8192;
		if (size < 16)
			size = 16;
	}
	k->max_entries = c->max ? (c->max < size ? size : c->max) : 8 * size;
}

/* ------------------------------------------------------------ checkentry */

static int hl_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e, const void *data,
		    size_t len, uint8_t revision, char *why, size_t whylen)
{
	size_t namesz = revision == 1 ? IFNAMSIZ : NAME_MAX;
	uint32_t hz = ipt2bpf_host_hz();
	const char *err = NULL;
	struct hl_cfg c;

	(void)t, (void)e, (void)len;
	/* xt_check_proc_name() */
	if (strnlen(data, namesz) == namesz)
		err = "name is not NUL-terminated (ENAMETOOLONG)";
	hl_cfg(data, revision, &c);
	if (!err &&
	    (!c.name[0] || !strcmp(c.name, ".") || !strcmp(c.name, "..") || strchr(c.name, '/')))
		err = "invalid --hashlimit-name (EINVAL)";
	/* hashlimit_mt_check_common() */
	else if (!err && (c.gc_interval == 0 || c.expire == 0))
		err = "zero gc interval or expiry (EINVAL)";
	else if (!err && (c.srcmask > 32 || c.dstmask > 32))
		err = "mask longer than 32 bits (EINVAL)";
	else if (!err && (c.mode & ~HL_ALL))
		err = "unknown mode bits (EINVAL)";
	else if (!err && (c.mode & XT_HASHLIMIT_RATE_MATCH)) {
		if (revision < 3)
			err = "rate match needs revision 3 (EINVAL)";
		else if (c.avg == 0 || c.avg > UINT32_MAX)
			err = "invalid rate (ERANGE)";
		else if (c.interval == 0)
			err = "invalid interval (EINVAL)";
	} else if (!err && (c.mode & XT_HASHLIMIT_BYTES)) {
		if (hl_user2credits_byte((uint32_t)c.avg, hz) == 0)
			err = "rate too high (EINVAL)";
	} else if (!err && (c.burst == 0 || hl_user2credits(c.avg * c.burst, revision, hz) <
						    hl_user2credits(c.avg, revision, hz)))
		err = "overflow, try lower (ERANGE)";
	if (err) {
		snprintf(why, whylen, "%s; the kernel refuses it", err);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void hl_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	struct hl_cfg c;
	struct hl_k k;

	(void)len;
	hl_cfg(data, revision, &c);
	hl_consts(&c, &k);
	fprintf(f,
		"--hashlimit-name %s mode 0x%x avg %llu burst %llu size %u max %u gc %u expire %u "
		"interval %u srcmask %u dstmask %u (credit %llu cost %llu rate %llu entries %u)",
		c.name, c.mode, (unsigned long long)c.avg, (unsigned long long)c.burst, c.size,
		c.max, c.gc_interval, c.expire, c.interval, c.srcmask, c.dstmask,
		(unsigned long long)k.credit0, (unsigned long long)k.cost,
		(unsigned long long)k.rate, k.max_entries);
}

/* ------------------------------------------------------------ prepare */

struct hl_priv {
	bool ports; /* some table keys on ports: the prologue reads them where the parser did not */
};

static void hl_map_name(const char *name, char *out, size_t len)
{
	snprintf(out, len, HL_MAP_PREFIX "%08x", gen_fnv1a(name));
}

/* Do two uses define the same table (the kernel: the first one's options win)? */
static bool hl_same(const struct hl_cfg *a, const struct hl_cfg *b)
{
	return a->rev == b->rev &&
	       (a->mode & ~XT_HASHLIMIT_INVERT) == (b->mode & ~XT_HASHLIMIT_INVERT) &&
	       a->avg == b->avg && a->burst == b->burst && a->size == b->size && a->max == b->max &&
	       a->gc_interval == b->gc_interval && a->expire == b->expire &&
	       a->interval == b->interval && a->srcmask == b->srcmask && a->dstmask == b->dstmask;
}

static int hl_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		      uint8_t revision)
{
	char map[BPF_OBJ_NAME_LEN];
	struct hl_priv *p;
	struct hl_cfg c;
	struct hl_k k;
	void **priv;
	int err;

	err = gen_mod_use(g, &mod_hashlimit, &priv);
	if (err)
		return err;
	if (!*priv) {
		*priv = calloc(1, sizeof(struct hl_priv));
		if (!*priv)
			return ipt2bpf_diag_set(g->diag, -ENOMEM, "out of memory");
	}
	p = *priv;
	hl_cfg(data, revision, &c);
	hl_consts(&c, &k);
	if (c.mode & HL_PORTS)
		p->ports = true;

	/* Every other use of the name, and of its map name, must define the same table. */
	hl_map_name(c.name, map, sizeof(map));
	for (unsigned int tk = 0; tk < g->n_tables; tk++) {
		const struct ipt2bpf_table *t = g->tables[tk];

		for (unsigned int i = 0; i < t->n_entries; i++)
			for (unsigned int m = 0; m < t->entries[i].n_matches; m++) {
				const struct ipt2bpf_match *mt = &t->entries[i].matches[m];
				char other[BPF_OBJ_NAME_LEN];
				struct hl_cfg o;

				if (mt->kind != IPT2BPF_M_MOD || mt->mod != &mod_hashlimit ||
				    mt->data == data)
					continue;
				hl_cfg(mt->data, mt->revision, &o);
				hl_map_name(o.name, other, sizeof(other));
				if (strcmp(other, map))
					continue;
				if (strcmp(o.name, c.name))
					return gen_refuse(g, ti, idx,
							  "match 'hashlimit': names '%s' and '%s' "
							  "hash alike; rename one",
							  c.name, o.name);
				if (!hl_same(&c, &o))
					return gen_refuse(
						g, ti, idx,
						"match 'hashlimit': --hashlimit-name %s is used "
						"with "
						"other options elsewhere (the kernel would apply "
						"the "
						"first rule's options to all): not supported",
						c.name);
			}
	}
	err = gen_map_get(g, map, BPF_MAP_TYPE_LRU_HASH, sizeof(struct hl_key),
			  sizeof(struct hl_val), k.max_entries, 0, true);
	if (err >= 0)
		err = gen_map_get(g, HL_ZERO_MAP, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
				  sizeof(struct hl_val), 1, BPF_F_RDONLY_PROG, false);
	if (err >= 0 && p->ports)
		err = gen_map_get(g, HL_PORTS_MAP, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t),
				  sizeof(struct hl_ports), 1, 0, false);
	return err < 0 ? err : 0;
}

/* ------------------------------------------------------------ code */

/* Transport protocols whose first 4 (AH: 4 at offset 4) bytes are ports (proto_ports_offset()). */
static void emit_port_protos(struct gen *g, int reg, int l_ports)
{
	static const int protos[] = {IPPROTO_TCP, IPPROTO_UDP,	IPPROTO_DCCP,
				     IPPROTO_ESP, IPPROTO_SCTP, IPPROTO_UDPLITE};

	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		EJ(BPF_JMP_IMM(BPF_JEQ, reg, protos[i], 0), l_ports);
}

/*
 * Main program: the port bytes of AH packets and of later fragments, which
 * the parser does not read, into ipt_hl_ports (ok = 0 where the kernel's
 * skb_header_pointer() would fail: a hotdrop).
 */
static int hl_prologue(struct gen *g, int role)
{
	struct hl_priv *p;
	void **priv;
	int l_done = LABEL(), l_ah = LABEL(), l_ports = LABEL(), l_load = LABEL();
	int map;

	(void)role;
	if (gen_mod_use(g, &mod_hashlimit, &priv) || !*priv)
		return ipt2bpf_diag_set(g->diag, -EINVAL, "hashlimit: not prepared");
	p = *priv;
	if (!p->ports)
		return 0;
	map = ipt2bpf_progset_find_map(g->ps, HL_PORTS_MAP);
	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPPROTO_AH, 0), l_ah);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_2, 0, 0), l_done);
	emit_port_protos(g, BPF_REG_1, l_ports);
	EJ(BPF_JMP_A(0), l_done);
	BIND(l_ah);
	E(BPF_MOV64_IMM(BPF_REG_2, 4));
	EJ(BPF_JMP_A(0), l_load);
	BIND(l_ports);
	E(BPF_MOV64_IMM(BPF_REG_2, 0));
	BIND(l_load); /* R2 = offset of the ports in the transport header */
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_2, FP_TMP));
	gen_array_elem(g, (unsigned int)map, 0, l_done);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, FP_KEY));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_10, FP_TMP));
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, offsetof(struct hl_ports, ok), 0));
	/* skb->len (= tot_len) must hold thoff + off + 4 */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_1, BPF_REG_2));
	EJ(BPF_JMP_IMM(BPF_JSLT, BPF_REG_1, 4, 0), l_done);
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_0));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, offsetof(struct hl_ports, ports)));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_1));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, 14 /* ETH_HLEN */));
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_9));
	E(BPF_MOV64_IMM(BPF_REG_4, sizeof(uint32_t)));
	E(BPF_CALL_HELPER(g->fl->load_bytes));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_done);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_10, FP_KEY));
	E(BPF_ST_MEM(BPF_W, BPF_REG_0, offsetof(struct hl_ports, ok), 1));
	BIND(l_done);
	return g->p->e.err;
}

/* key src/dst: the host-order address field, masked to len bits (maskl()). */
static void emit_key_addr(struct gen *g, int16_t field, uint8_t len, int16_t off)
{
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, field));
	if (len < 32)
		E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1,
				len ? (int32_t)(0xffffffffU << (32 - len)) : 0));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, off));
}

/* The key's ports (hashlimit_init_dst()); hotdrop where the kernel finds none. */
static void emit_key_ports(struct gen *g, uint32_t mode)
{
	int l_pkt = LABEL(), l_scr = LABEL(), l_have = LABEL();
	int l_drop = LABEL(), l_done = LABEL();
	int map = ipt2bpf_progset_find_map(g->ps, HL_PORTS_MAP);

	E(BPF_LDX_MEM(BPF_B, BPF_REG_1, BPF_REG_6, PKT(proto)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, IPPROTO_AH, 0), l_scr);
	emit_port_protos(g, BPF_REG_1, l_pkt);
	EJ(BPF_JMP_A(0), l_done); /* no ports: both stay 0 */
	BIND(l_pkt);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, 0, 0), l_scr);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_2, 4, 0), l_drop);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(sport)));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_6, PKT(dport)));
	EJ(BPF_JMP_A(0), l_have);
	BIND(l_scr);
	gen_array_elem(g, (unsigned int)map, 0, l_drop);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct hl_ports, ok)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_drop);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_0, offsetof(struct hl_ports, ports)));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	E(BPF_LDX_MEM(BPF_H, BPF_REG_2, BPF_REG_0, offsetof(struct hl_ports, ports) + 2));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_2, 16));
	EJ(BPF_JMP_A(0), l_have);
	BIND(l_drop);
	gen_verdict_exit(g, GEN_V_DROP);
	BIND(l_have);
	if (mode & XT_HASHLIMIT_HASH_SPT)
		E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_1, HLK(sport)));
	if (mode & XT_HASHLIMIT_HASH_DPT)
		E(BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_2, HLK(dport)));
	BIND(l_done);
}

#define HLV(f) ((int16_t)offsetof(struct hl_val, f))

/* R1 = now - prev (jiffies); to l_skip when 0.  R5 = the entry. */
static void emit_delta(struct gen *g, int l_skip)
{
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, FP_NOW));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_5, HLV(prev)));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_1, BPF_REG_2));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_skip);
}

static void emit_store_now(struct gen *g, int16_t off)
{
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_10, FP_NOW));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_2, off));
}

/* rateinfo_recalc() */
static void emit_recalc(struct gen *g, const struct hl_cfg *c, const struct hl_k *k)
{
	int l_done = LABEL();

	emit_delta(g, l_done);
	if (c->mode & XT_HASHLIMIT_RATE_MATCH) {
		/* a new window once interval seconds have passed */
		gen_ld_imm64(g, BPF_REG_2, k->interval_j);
		EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_1, BPF_REG_2, 0), l_done);
		emit_store_now(g, HLV(prev));
		/* prev_window = current_rate * interval > delta * rate */
		E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_5, HLV(a)));
		gen_ld_imm64(g, BPF_REG_2, k->interval_j);
		E(BPF_ALU64_REG(BPF_MUL, BPF_REG_3, BPF_REG_2));
		gen_ld_imm64(g, BPF_REG_2, k->rate);
		E(BPF_ALU64_REG(BPF_MUL, BPF_REG_1, BPF_REG_2));
		E(BPF_MOV64_IMM(BPF_REG_4, 1));
		{
			int l_gt = LABEL();

			EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_3, BPF_REG_1, 0), l_gt);
			E(BPF_MOV64_IMM(BPF_REG_4, 0));
			BIND(l_gt);
		}
		/* prev_window is a u32 */
		E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_4, HLV(b)));
		E(BPF_ST_MEM(BPF_DW, BPF_REG_5, HLV(a), 0));
		BIND(l_done);
		return;
	}
	emit_store_now(g, HLV(prev));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_5, HLV(a)));
	if (c->mode & XT_HASHLIMIT_BYTES) {
		int l_nowrap = LABEL(), l_cap = LABEL();

		gen_ld_imm64(g, BPF_REG_2, k->cpjb);
		E(BPF_ALU64_REG(BPF_MUL, BPF_REG_1, BPF_REG_2));
		E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_3));
		E(BPF_ALU64_REG(BPF_ADD, BPF_REG_4, BPF_REG_1));
		gen_ld_imm64(g, BPF_REG_2, k->capb);
		/* tmp >= credit after the addition: it wrapped, credit = cap */
		EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_3, BPF_REG_4, 0), l_nowrap);
		E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_2));
		EJ(BPF_JMP_A(0), l_cap);
		BIND(l_nowrap);
		EJ(BPF_JMP_REG(BPF_JLE, BPF_REG_4, BPF_REG_2, 0), l_cap);
		E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_2));
		BIND(l_cap);
		E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_4, HLV(a)));
	} else {
		int l_cap = LABEL();

		gen_ld_imm64(g, BPF_REG_2, k->cpj);
		E(BPF_ALU64_REG(BPF_MUL, BPF_REG_1, BPF_REG_2));
		E(BPF_ALU64_REG(BPF_ADD, BPF_REG_3, BPF_REG_1));
		gen_ld_imm64(g, BPF_REG_2, k->credit0); /* credit_cap */
		EJ(BPF_JMP_REG(BPF_JLE, BPF_REG_3, BPF_REG_2, 0), l_cap);
		E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_2));
		BIND(l_cap);
		E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_3, HLV(a)));
	}
	BIND(l_done);
}

/* rateinfo_init(), prev = now */
static void emit_init(struct gen *g, const struct hl_cfg *c, const struct hl_k *k)
{
	emit_store_now(g, HLV(prev));
	E(BPF_ST_MEM(BPF_W, BPF_REG_5, HLV(init), 1));
	if (c->mode & XT_HASHLIMIT_RATE_MATCH) {
		E(BPF_ST_MEM(BPF_DW, BPF_REG_5, HLV(a), 0));
		E(BPF_ST_MEM(BPF_DW, BPF_REG_5, HLV(b), 0));
	} else if (c->mode & XT_HASHLIMIT_BYTES) {
		gen_ld_imm64(g, BPF_REG_2, k->capb);
		E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_2, HLV(a)));
		gen_ld_imm64(g, BPF_REG_2, c->burst);
		E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_2, HLV(b)));
	} else {
		gen_ld_imm64(g, BPF_REG_2, k->credit0);
		E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_2, HLV(a)));
	}
}

/* The verdict of hashlimit_mt_common() after init/recalc: R4 = 1 below the limit, else 0. */
static void emit_decide(struct gen *g, const struct hl_cfg *c, const struct hl_k *k)
{
	int l_over = LABEL(), l_done = LABEL();

	E(BPF_MOV64_IMM(BPF_REG_4, 0));
	if (c->mode & XT_HASHLIMIT_RATE_MATCH) {
		/* current_rate += cost; below while !prev_window && current_rate <= burst */
		E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_5, HLV(a)));
		if (c->mode & XT_HASHLIMIT_BYTES) {
			E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(tot_len)));
			E(BPF_ALU64_REG(BPF_ADD, BPF_REG_3, BPF_REG_1));
		} else {
			E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, 1));
		}
		E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_3, HLV(a)));
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_5, HLV(b)));
		EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_over);
		gen_ld_imm64(g, BPF_REG_2, k->rburst);
		EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_3, BPF_REG_2, 0), l_over);
		E(BPF_MOV64_IMM(BPF_REG_4, 1));
		BIND(l_over);
		return;
	}
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_3, BPF_REG_5, HLV(a)));
	if (c->mode & XT_HASHLIMIT_BYTES) {
		int l_nocap = LABEL(), l_norefill = LABEL();

		/* hashlimit_byte_cost(): ((len >> 4) + 1) * cost, at most CPJB * HZ */
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(tot_len)));
		E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_1, XT_HASHLIMIT_BYTE_SHIFT));
		E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
		gen_ld_imm64(g, BPF_REG_2, k->cost);
		E(BPF_ALU64_REG(BPF_MUL, BPF_REG_1, BPF_REG_2));
		gen_ld_imm64(g, BPF_REG_2, k->capb);
		EJ(BPF_JMP_REG(BPF_JLE, BPF_REG_1, BPF_REG_2, 0), l_nocap);
		E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_2));
		BIND(l_nocap);
		/* short of credit with refills left: take one */
		EJ(BPF_JMP_REG(BPF_JGE, BPF_REG_3, BPF_REG_1, 0), l_norefill);
		E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_5, HLV(b)));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 0), l_norefill);
		E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_0, 1));
		E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_0, HLV(b)));
		E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_2));
		BIND(l_norefill);
	} else {
		gen_ld_imm64(g, BPF_REG_1, k->cost);
	}
	/* credit >= cost: take it, below the limit */
	EJ(BPF_JMP_REG(BPF_JLT, BPF_REG_3, BPF_REG_1, 0), l_done);
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_3, BPF_REG_1));
	E(BPF_MOV64_IMM(BPF_REG_4, 1));
	BIND(l_done);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_3, HLV(a)));
}

static int hl_emit(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_match *m,
		   int l_fail)
{
	int l_found = LABEL(), l_init = LABEL(), l_decide = LABEL(), l_drop = LABEL();
	int l_over = LABEL(), l_below = LABEL(), l_done = LABEL(), map, zero;
	char name[BPF_OBJ_NAME_LEN];
	struct hl_cfg c;
	struct hl_k k;
	bool inv;

	(void)ti, (void)idx;
	hl_cfg(m->data, m->revision, &c);
	hl_consts(&c, &k);
	inv = c.mode & XT_HASHLIMIT_INVERT;
	hl_map_name(c.name, name, sizeof(name));
	map = ipt2bpf_progset_find_map(g->ps, name);
	zero = ipt2bpf_progset_find_map(g->ps, HL_ZERO_MAP);
	if (map < 0 || zero < 0)
		return ipt2bpf_diag_set(g->diag, -EINVAL, "hashlimit: not prepared");

	gen_clock(g, BPF_REG_0, true);
	E(BPF_STX_MEM(BPF_DW, BPF_REG_10, BPF_REG_0, FP_NOW));

	/* hashlimit_init_dst() */
	E(BPF_ST_MEM(BPF_DW, BPF_REG_10, FP_HLK, 0));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_HLK + 8, 0));
	if (c.mode & XT_HASHLIMIT_HASH_DIP)
		emit_key_addr(g, PKT(daddr_h), c.dstmask, HLK(dst));
	if (c.mode & XT_HASHLIMIT_HASH_SIP)
		emit_key_addr(g, PKT(saddr_h), c.srcmask, HLK(src));
	if (c.mode & HL_PORTS)
		emit_key_ports(g, c.mode);

	/* dsthash_find(), else dsthash_alloc_init() */
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_HLK));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_found);
	gen_array_elem(g, (unsigned int)zero, 0, l_drop);
	E(BPF_MOV64_REG(BPF_REG_3, BPF_REG_0));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_HLK));
	E(BPF_MOV64_IMM(BPF_REG_4, BPF_NOEXIST));
	E(BPF_CALL_HELPER(BPF_FUNC_map_update_elem));
	gen_ld_map(&g->p->e, BPF_REG_1, (unsigned int)map);
	E(BPF_MOV64_REG(BPF_REG_2, BPF_REG_10));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_2, FP_HLK));
	E(BPF_CALL_HELPER(BPF_FUNC_map_lookup_elem));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 0), l_found);
	BIND(l_drop); /* the kernel could not allocate the entry: hotdrop */
	gen_verdict_exit(g, GEN_V_DROP);

	BIND(l_found);
	E(BPF_MOV64_REG(BPF_REG_5, BPF_REG_0));
	gen_spin_lock(g, HLV(lock), FP_KEY, l_over);
	/* a new entry, or one the garbage collector would have freed: start afresh */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_5, HLV(init)));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_init);
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, FP_NOW));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_5, HLV(expires)));
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_1, BPF_REG_2));
	EJ(BPF_JMP_IMM(BPF_JSGE, BPF_REG_1, 0, 0), l_init); /* time_after_eq(now, expires) */
	emit_recalc(g, &c, &k);
	EJ(BPF_JMP_A(0), l_decide);
	BIND(l_init);
	emit_init(g, &c, &k);
	BIND(l_decide);
	/* expires = now + msecs_to_jiffies(expire) */
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_10, FP_NOW));
	gen_ld_imm64(g, BPF_REG_2, k.expire_j);
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_2));
	E(BPF_STX_MEM(BPF_DW, BPF_REG_5, BPF_REG_1, HLV(expires)));
	emit_decide(g, &c, &k);
	gen_spin_unlock(g, HLV(lock));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_4, 0, 0), l_below);

	/* over the limit: the match is the invert flag; below: its negation */
	BIND(l_over);
	EJ(BPF_JMP_A(0), inv ? l_done : l_fail);
	BIND(l_below);
	if (inv)
		EJ(BPF_JMP_A(0), l_fail);
	BIND(l_done);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_hashlimit = {
	.name = "hashlimit",
	.revisions = (1U << 1) | (1U << 2) | (1U << 3),
	.check = hl_check,
	.dump = hl_dump,
	.prepare = hl_prepare,
	.emit_match = hl_emit,
	.emit_prologue = hl_prologue,
};
IPT2BPF_MOD_REGISTER(mod_hashlimit);
