// SPDX-License-Identifier: GPL-2.0
/*
 * -m cpu (xt_cpu.c, revision 0): (cpu == the CPU running the rule) ^
 * invert, as cpu_mt(): bpf_get_smp_processor_id() in the program.
 *
 * The program runs on the CPU the kernel's hook would run on where both run
 * in the same context: TC ingress and the INPUT/FORWARD hooks in the
 * receiving softirq, TC egress and OUTPUT in the sender's context (or on lo).
 * They differ where the kernel defers a packet between the two: a datagram
 * the kernel reassembles before INPUT is judged on the CPU of its last
 * fragment, ipt2bpf judges its first fragment on that fragment's CPU; an
 * OUTPUT packet that waits for ARP leaves (and reaches TC egress) on the CPU
 * that processed the ARP reply.
 *
 * XDP programs run before Receive Packet Steering (rps_cpus, RFS) hands the
 * packet to the CPU whose backlog runs the stack, netfilter's hooks
 * included; TC ingress runs after it.  Spreading packets over CPUs that way
 * is what -m cpu is for, so the match is refused for INPUT and FORWARD in
 * --mode xdp.
 */
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/xt_cpu.h>

#include "gen_internal.h"

static int cpu_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e, const void *data,
		     size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_cpu_info *i = data;

	(void)t, (void)e, (void)len, (void)revision;
	if (i->invert & ~1U) { /* cpu_mt_check() */
		snprintf(why, whylen, "invert is %u (the kernel refuses it: EINVAL)", i->invert);
		return -EOPNOTSUPP;
	}
	return 0;
}

static void cpu_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_cpu_info *i = data;

	(void)len, (void)revision;
	fprintf(f, "%s--cpu %u", i->invert ? "! " : "", i->cpu);
}

static int cpu_prepare(struct gen *g, unsigned int ti, unsigned int idx, const void *data,
		       uint8_t revision)
{
	const unsigned int rx = (1U << NF_INET_LOCAL_IN) | (1U << NF_INET_FORWARD);

	(void)data, (void)revision;
	if (g->opts->mode == IPT2BPF_MODE_XDP && (g->tables[ti]->entries[idx].hooks & rx))
		return gen_refuse(g, ti, idx,
				  "match 'cpu': XDP programs run before Receive Packet Steering "
				  "moves the packet to the CPU the kernel's hooks run on (use "
				  "--mode tc)");
	return 0;
}

static int cpu_emit(struct gen *g, unsigned int ti, unsigned int idx, const struct ipt2bpf_match *m,
		    int l_fail)
{
	const struct xt_cpu_info *i = m->data;

	(void)ti, (void)idx;
	E(BPF_CALL_HELPER(BPF_FUNC_get_smp_processor_id));
	E(BPF_MOV32_IMM(BPF_REG_1, (int32_t)i->cpu));
	EJ(BPF_JMP32_REG(i->invert ? BPF_JEQ : BPF_JNE, BPF_REG_0, BPF_REG_1, 0), l_fail);
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_cpu = {
	.name = "cpu",
	.revisions = 1U << 0,
	.check = cpu_check,
	.dump = cpu_dump,
	.prepare = cpu_prepare,
	.emit_match = cpu_emit,
};
IPT2BPF_MOD_REGISTER(mod_cpu);
