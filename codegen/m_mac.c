// SPDX-License-Identifier: GPL-2.0
/*
 * -m mac --mac-source: the Ethernet source address equals the one given,
 * ^ invert, as mac_mt() (xt_mac.c); a packet that came in on a device that
 * is not Ethernet never matches (inverted or not).  ipt2bpf's programs sit
 * on Ethernet devices and on lo (ifindex 1 in every namespace, type
 * ARPHRD_LOOPBACK), so lo is the one that never matches.  invert is an int
 * used as bool ^ invert: any value but 0 and 1 makes it always true.
 * Evaluated in the main program (gen_pre.h): the MAC header is not parsed.
 */
#include <errno.h>
#include <string.h>
#include <linux/netfilter/xt_mac.h>

#include "gen_pre.h"

#define LOOPBACK_IFINDEX 1

static void mac_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_mac_info *i = data;
	const unsigned char *a = i->srcaddr;

	(void)len, (void)revision;
	fprintf(f, "%s--mac-source %02x:%02x:%02x:%02x:%02x:%02x", i->invert ? "! " : "", a[0],
		a[1], a[2], a[3], a[4], a[5]);
}

static int mac_eval(struct gen *g, const void *data, uint8_t revision, int l_no, int l_drop)
{
	const struct xt_mac_info *i = data;
	int l_differ = LABEL(), l_match = LABEL();
	uint16_t lo;

	(void)revision, (void)l_drop;
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_6, PKT(iif)));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, LOOPBACK_IFINDEX, 0), l_no);
	if (i->invert & ~1)
		return g->p->e.err;
	/* Source address: frame offset 6 (always present: the frame has an IPv4 header). */
	gen_pre_bytes(g, BPF_REG_9, -1, 6 - 14, FP_TMP, 6, l_no);
	memcpy(&lo, i->srcaddr + 4, sizeof(lo));
	E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_10, FP_TMP));
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, (int32_t)gen_u32(i->srcaddr), 0), l_differ);
	E(BPF_LDX_MEM(BPF_H, BPF_REG_1, BPF_REG_10, FP_TMP + 4));
	EJ(BPF_JMP32_IMM(BPF_JNE, BPF_REG_1, lo, 0), l_differ);
	EJ(BPF_JMP_A(0), i->invert ? l_no : l_match);
	BIND(l_differ);
	if (!i->invert)
		EJ(BPF_JMP_A(0), l_no);
	BIND(l_match);
	return g->p->e.err;
}

static int mac_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		       uint8_t revision)
{
	return gen_pre_add(g, ti, idx, data, revision, mac_eval, 0);
}

static int mac_emit(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_match *m,
		    int l_fail)
{
	return gen_pre_test(g, ti, idx, m->data, l_fail);
}

static const struct ipt2bpf_mod mod_mac = {
	.name = "mac",
	.revisions = 1U << 0,
	.dump = mac_dump,
	.prepare = mac_prepare,
	.emit_match = mac_emit,
};
IPT2BPF_MOD_REGISTER(mod_mac);
