// SPDX-License-Identifier: GPL-2.0
/*
 * -m sctp, as sctp_mt() (xt_sctp.c): a fragment with offset != 0 never
 * matches, a first fragment without the 12-byte common header is hotdropped;
 * then --sport, --dport and --chunk-types, each with its own '!', in that
 * order and short-circuited (a port that does not match means the chunks
 * are never read).  The chunk walk is match_packet()'s: from the end of the
 * common header, a chunk header that is not all there or has length 0
 * hotdrops, the next chunk starts at the 4-byte padded length, the walk
 * ends once the offset reaches the datagram's end; "any" matches at the
 * first listed chunk type whose flags match, "only" fails at the first chunk
 * type not listed or listed with other flags, "all" needs every listed type
 * seen with matching flags (a map bit the kernel can never clear, beyond the
 * 256 chunk types, makes "all" always fail); any other match type fails.
 *
 * An inverted --chunk-types whose walk hotdrops matches all the same: the
 * kernel counts the entry and runs its target before dropping the packet.
 * That is reproduced for an sctp match that is its entry's last match with a
 * standard target, and refused otherwise.  Evaluated in the main program
 * (gen_pre.h), the walk with bpf_loop().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/netfilter/xt_sctp.h>

#include "gen_pre.h"

#define SCTP_HDR  12
#define CHUNK_HDR 4
#define MAP_WORDS (256 / 32) /* the words chunk types 0..255 use */
#define MAP_TOTAL (sizeof(((struct xt_sctp_info *)0)->chunkmap) / sizeof(uint32_t))

/* Loop state (offsets from the pointer the callback gets). */
#define ST_OFF	  (GEN_LOOP_USER + 0)  /* u32: datagram offset of the next chunk */
#define ST_LEN	  (GEN_LOOP_USER + 4)  /* u32: skb->len */
#define ST_RESULT (GEN_LOOP_USER + 8)  /* u32: R_* */
#define ST_SEEN	  (GEN_LOOP_USER + 16) /* u32[8]: "all": listed types seen with their flags */

#define R_PENDING 0
#define R_FALSE	  1
#define R_TRUE	  2
#define R_HOTDROP 3

_Static_assert(ST_SEEN + 4 * MAP_WORDS <= GEN_LOOP_END, "sctp loop state");

static int sctp_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		      const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_sctp_info *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	/* sctp_mt_check() refuses these (EINVAL). */
	if (i->flag_count < 0 || i->flag_count > XT_NUM_SCTP_FLAGS ||
	    (i->flags & ~XT_SCTP_VALID_FLAGS) || (i->invflags & ~XT_SCTP_VALID_FLAGS) ||
	    (i->invflags & ~i->flags) ||
	    ((i->flags & XT_SCTP_CHUNK_TYPES) &&
	     !(i->chunk_match_type &
	       (SCTP_CHUNK_MATCH_ALL | SCTP_CHUNK_MATCH_ANY | SCTP_CHUNK_MATCH_ONLY)))) {
		snprintf(why, whylen, "malformed options (the kernel refuses them: EINVAL)");
		return -EOPNOTSUPP;
	}
	return 0;
}

static const char *const chunk_names[] = {
	[0] = "DATA",
	[1] = "INIT",
	[2] = "INIT_ACK",
	[3] = "SACK",
	[4] = "HEARTBEAT",
	[5] = "HEARTBEAT_ACK",
	[6] = "ABORT",
	[7] = "SHUTDOWN",
	[8] = "SHUTDOWN_ACK",
	[9] = "ERROR",
	[10] = "COOKIE_ECHO",
	[11] = "COOKIE_ACK",
	[12] = "ECN_ECNE",
	[13] = "ECN_CWR",
	[14] = "SHUTDOWN_COMPLETE",
	[64] = "I_DATA",
	[130] = "RE_CONFIG",
	[132] = "PAD",
	[128] = "ASCONF_ACK",
	[192] = "FORWARD_TSN",
	[193] = "ASCONF",
	[194] = "I_FORWARD_TSN",
};

static bool map_is_set(const uint32_t *map, unsigned int type)
{
	return map[type / 32] & (1U << (type % 32));
}

static void sctp_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_sctp_info *i = data;
	const char *sep = "";

	(void)len, (void)revision;
	if (i->flags & XT_SCTP_SRC_PORTS) {
		fprintf(f, "%s--sport %u:%u", (i->invflags & XT_SCTP_SRC_PORTS) ? "! " : "",
			i->spts[0], i->spts[1]);
		sep = " ";
	}
	if (i->flags & XT_SCTP_DEST_PORTS) {
		fprintf(f, "%s%s--dport %u:%u", sep, (i->invflags & XT_SCTP_DEST_PORTS) ? "! " : "",
			i->dpts[0], i->dpts[1]);
		sep = " ";
	}
	if (i->flags & XT_SCTP_CHUNK_TYPES) {
		const char *mode = i->chunk_match_type == SCTP_CHUNK_MATCH_ANY	  ? "any"
				   : i->chunk_match_type == SCTP_CHUNK_MATCH_ALL  ? "all"
				   : i->chunk_match_type == SCTP_CHUNK_MATCH_ONLY ? "only"
										  : "?";
		bool first = true;

		fprintf(f, "%s%s--chunk-types %s ", sep,
			(i->invflags & XT_SCTP_CHUNK_TYPES) ? "! " : "", mode);
		for (unsigned int t = 0; t < 256; t++) {
			if (!map_is_set(i->chunkmap, t))
				continue;
			if (t < sizeof(chunk_names) / sizeof(chunk_names[0]) && chunk_names[t])
				fprintf(f, "%s%s", first ? "" : ",", chunk_names[t]);
			else
				fprintf(f, "%s%u", first ? "" : ",", t);
			for (int k = 0; k < i->flag_count && k < XT_NUM_SCTP_FLAGS; k++)
				if (i->flag_info[k].chunktype == t)
					fprintf(f, ":0x%02x/0x%02x", i->flag_info[k].flag,
						i->flag_info[k].flag_mask);
			first = false;
		}
		if (first)
			fputs("NONE", f);
	}
}

/* match_flags(): jump to l_false unless the chunk (type R2, flags R3) has the listed flags. */
static void sctp_flags(struct gen *g, const struct xt_sctp_info *i, int l_false)
{
	int l_true = LABEL();

	for (int k = 0; k < i->flag_count && k < XT_NUM_SCTP_FLAGS; k++) {
		const struct xt_sctp_flag_info *fi = &i->flag_info[k];
		int l_other = LABEL();

		/* The first entry for this type decides. */
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, fi->chunktype, 0), l_other);
		E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_3));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_4, fi->flag_mask));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_4, fi->flag, 0), l_true);
		EJ(BPF_JMP_A(0), l_false);
		BIND(l_other);
	}
	BIND(l_true);
}

/* Stop the loop with result r. */
static void sctp_stop(struct gen *g, int r)
{
	E(BPF_ST_MEM(BPF_W, BPF_REG_6, ST_RESULT, r));
	E(BPF_MOV64_IMM(BPF_REG_0, 1));
	E(BPF_EXIT_INSN());
}

/* One chunk of match_packet(); R1 = index, R2 = loop state. */
static int sctp_cb(struct gen *g, const void *arg)
{
	const struct xt_sctp_info *i = arg;
	uint32_t mode = i->chunk_match_type;
	uint8_t inmap[256];
	int l_hotdrop = LABEL(), l_notin = LABEL(), l_next = LABEL(), l_flagsbad = LABEL();
	int l_true = LABEL(), l_false = LABEL(), l_end = LABEL();

	for (unsigned int t = 0; t < 256; t++)
		inmap[t] = map_is_set(i->chunkmap, t);
	E(BPF_MOV64_REG(BPF_REG_6, BPF_REG_2));
	E(BPF_LDX_MEM(BPF_DW, BPF_REG_9, BPF_REG_6, GEN_LOOP_CTX));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_7, BPF_REG_6, ST_OFF));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_8, BPF_REG_6, ST_LEN));
	/* sch = skb_header_pointer(offset, 4): NULL or length 0 hotdrops */
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_7));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, CHUNK_HDR));
	EJ(BPF_JMP_REG(BPF_JGT, BPF_REG_1, BPF_REG_8, 0), l_hotdrop);
	gen_pre_bytes(g, BPF_REG_9, BPF_REG_7, 0, -8, CHUNK_HDR, l_hotdrop);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, -6));
	E(BPF_ENDIAN(BPF_TO_BE, BPF_REG_1, 16));
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_hotdrop);
	/* offset += SCTP_PAD4(length) */
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 3));
	E(BPF_ALU64_IMM(BPF_AND, BPF_REG_1, ~3));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_7, BPF_REG_1));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, GEN_LOOP_ZERO));
	E(BPF_ALU64_REG(BPF_ADD, BPF_REG_7, BPF_REG_1));
	E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_7, ST_OFF));
	E(BPF_LDX_MEM(BPF_B, BPF_REG_2, BPF_REG_10, -8)); /* type */
	E(BPF_LDX_MEM(BPF_B, BPF_REG_3, BPF_REG_10, -7)); /* flags */
	gen_table(g, BPF_REG_2, BPF_REG_4, inmap, 256);
	EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_4, 0, 0), l_notin);
	switch (mode) {
	case SCTP_CHUNK_MATCH_ANY:
		sctp_flags(g, i, l_next);
		EJ(BPF_JMP_A(0), l_true);
		break;
	case SCTP_CHUNK_MATCH_ALL:
		/* SCTP_CHUNKMAP_CLEAR(chunkmapcopy, type): remember it as seen. */
		sctp_flags(g, i, l_next);
		E(BPF_MOV64_REG(BPF_REG_4, BPF_REG_2));
		E(BPF_ALU64_IMM(BPF_AND, BPF_REG_4, 31));
		E(BPF_MOV64_IMM(BPF_REG_5, 1));
		E(BPF_ALU64_REG(BPF_LSH, BPF_REG_5, BPF_REG_4));
		E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_2, 5));
		for (int w = 0; w < MAP_WORDS; w++) {
			int l_other = LABEL();

			EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_2, w, 0), l_other);
			E(BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_6, ST_SEEN + 4 * w));
			E(BPF_ALU32_REG(BPF_OR, BPF_REG_4, BPF_REG_5));
			E(BPF_STX_MEM(BPF_W, BPF_REG_6, BPF_REG_4, ST_SEEN + 4 * w));
			EJ(BPF_JMP_A(0), l_next);
			BIND(l_other);
		}
		EJ(BPF_JMP_A(0), l_next);
		break;
	case SCTP_CHUNK_MATCH_ONLY:
		sctp_flags(g, i, l_flagsbad);
		EJ(BPF_JMP_A(0), l_next);
		BIND(l_flagsbad);
		EJ(BPF_JMP_A(0), l_false);
		break;
	default: /* no case of the kernel's switch */
		EJ(BPF_JMP_A(0), l_next);
		break;
	}
	BIND(l_notin);
	if (mode == SCTP_CHUNK_MATCH_ONLY)
		EJ(BPF_JMP_A(0), l_false);
	BIND(l_next);
	/* } while (offset < skb->len); */
	EJ(BPF_JMP_REG(BPF_JGE, BPF_REG_7, BPF_REG_8, 0), l_end);
	E(BPF_MOV64_IMM(BPF_REG_0, 0));
	E(BPF_EXIT_INSN());

	BIND(l_end);
	if (mode == SCTP_CHUNK_MATCH_ALL) {
		bool beyond = false;

		/* SCTP_CHUNKMAP_IS_CLEAR(chunkmapcopy) over the whole map. */
		for (unsigned int w = MAP_WORDS; w < MAP_TOTAL; w++)
			beyond |= i->chunkmap[w] != 0;
		if (beyond)
			EJ(BPF_JMP_A(0), l_false);
		for (int w = 0; w < MAP_WORDS; w++) {
			if (!i->chunkmap[w])
				continue;
			E(BPF_LDX_MEM(BPF_W, BPF_REG_4, BPF_REG_6, ST_SEEN + 4 * w));
			E(BPF_ALU32_IMM(BPF_AND, BPF_REG_4, (int32_t)i->chunkmap[w]));
			EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_4, (int32_t)i->chunkmap[w], 0), l_false);
		}
		EJ(BPF_JMP_A(0), l_true);
	} else if (mode == SCTP_CHUNK_MATCH_ONLY) {
		EJ(BPF_JMP_A(0), l_true);
	} else {
		EJ(BPF_JMP_A(0), l_false);
	}
	BIND(l_true);
	sctp_stop(g, R_TRUE);
	BIND(l_false);
	sctp_stop(g, R_FALSE);
	BIND(l_hotdrop);
	sctp_stop(g, R_HOTDROP);
	return g->p->e.err;
}

/* SCCHECK() of a port range: jump to l_no unless (lo <= port <= hi) ^ inv. */
static void sctp_port(struct gen *g, int16_t off, const uint16_t pts[2], bool inv, int l_no)
{
	gen_range(g, BPF_H, off, UINT16_MAX, pts[0], pts[1], inv, l_no);
}

static int sctp_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	const struct xt_sctp_info *i = data;
	bool inv_chunks = i->invflags & XT_SCTP_CHUNK_TYPES;
	int err;

	(void)revision;
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_6, PKT(fragoff)));
	EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 0), l_no);
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	EJ(BPF_JMP_IMM(BPF_JLT, BPF_REG_1, SCTP_HDR, 0), l_drop);
	if (i->flags & XT_SCTP_SRC_PORTS)
		sctp_port(g, PKT(sport), i->spts, i->invflags & XT_SCTP_SRC_PORTS, l_no);
	if (i->flags & XT_SCTP_DEST_PORTS)
		sctp_port(g, PKT(dport), i->dpts, i->invflags & XT_SCTP_DEST_PORTS, l_no);
	if (!(i->flags & XT_SCTP_CHUNK_TYPES))
		return g->p->e.err;

	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(thoff)));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, SCTP_HDR));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_SCR + ST_OFF));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(tot_len)));
	E(BPF_STX_MEM(BPF_W, BPF_REG_10, BPF_REG_1, FP_SCR + ST_LEN));
	E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_SCR + ST_RESULT, R_PENDING));
	for (int w = 0; w < MAP_WORDS; w++)
		E(BPF_ST_MEM(BPF_W, BPF_REG_10, FP_SCR + ST_SEEN + 4 * w, 0));
	/* Every chunk takes at least 4 bytes: l4len / 4 + 1 steps are enough. */
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(l4len)));
	E(BPF_ALU64_IMM(BPF_RSH, BPF_REG_1, 2));
	E(BPF_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	err = gen_pre_loop(g, "ipt_cb_sctp", BPF_REG_1, sctp_cb, data);
	if (err)
		return err;
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_SCR + ST_RESULT));
	if (inv_chunks) {
		/* !!inv ^ false: the match holds, with hotdrop set. */
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, R_HOTDROP, 0), gen_pre_match_drop_label(g));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, R_TRUE, 0), l_no);
	} else {
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, R_HOTDROP, 0), l_drop);
		EJ(BPF_JMP_IMM(BPF_JNE, BPF_REG_1, R_TRUE, 0), l_no);
	}
	return g->p->e.err;
}

static int sctp_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
			uint8_t revision)
{
	const struct xt_sctp_info *i = data;
	const struct ipt2bpf_entry *e = &g->tables[ti]->entries[idx];
	unsigned int flags = GEN_PRE_HOTDROP;

	if (i->invflags & XT_SCTP_CHUNK_TYPES) {
		/*
		 * A hotdrop with the match true: ipt_do_table() goes on with the
		 * entry's other matches and its target before dropping.
		 */
		if (e->matches[e->n_matches - 1].data != data || e->target.kind == IPT2BPF_T_MOD)
			return gen_refuse(g, ti, idx,
					  "match 'sctp': ! --chunk-types is supported only as "
					  "the rule's last match with a standard target (a "
					  "malformed packet is counted, then dropped)");
		flags |= GEN_PRE_MATCH_HOTDROP;
	}
	return gen_pre_add(g, ti, idx, data, revision, sctp_eval, flags);
}

static int sctp_emit(struct gen *g, unsigned int ti, unsigned int idx,
		     const struct ipt2bpf_match *m, int l_fail)
{
	return gen_pre_test(g, ti, idx, m->data, l_fail);
}

static const struct ipt2bpf_mod mod_sctp = {
	.name = "sctp",
	.revisions = 1U << 0,
	.check = sctp_check,
	.dump = sctp_dump,
	.prepare = sctp_prepare,
	.emit_match = sctp_emit,
};
IPT2BPF_MOD_REGISTER(mod_sctp);
