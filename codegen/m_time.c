// SPDX-License-Identifier: GPL-2.0
/*
 * -m time (xt_time.c, revision 0).  Linux 6.1's time_mt() judges the wall
 * clock when the packet is processed, ktime_get_real_seconds() (not the
 * packet's timestamp), in UTC, or shifted by the kernel time zone
 * (sys_tz.tz_minuteswest) with --kerneltz.
 *
 * The wall clock in BPF: bpf_ktime_get_tai_ns() is CLOCK_TAI, which is
 * CLOCK_REALTIME plus the kernel's TAI offset, a whole number of seconds;
 * subtracting the offset read when the rules are compiled gives exactly
 * ktime_get_real_seconds(), clock steps included.  (It changes only with a
 * leap second or adjtimex(ADJ_TAI); the kernel time zone only with
 * settimeofday(): both are read at compile time.)  Trace programs under
 * `trace --pcap-time` take the packet's pcap timestamp as the wall clock.
 *
 * The date arithmetic is the kernel's: days since the epoch as u32, the
 * weekday (4 + dse - 1) % 7 + 1, and localtime_3()'s tables, which end in
 * 2039 (later days count as days of 2039, as in the kernel; 1U << monthday
 * then shifts modulo 32 as on x86).
 */
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter/xt_time.h>

#include "gen_internal.h"
#include "host.h"
#include "m_util.h"

#define SECONDS_PER_DAY 86400
#define DSE_2039	25202 /* days_since_epoch[] of 2039-01-01, its first entry */

static const uint16_t days_since_year[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
static const uint16_t days_since_leapyear[] = {0,   31,	 60,  91,  121, 152,
					       182, 213, 244, 274, 305, 335};

static int time_check(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		      const void *data, size_t len, uint8_t revision, char *why, size_t whylen)
{
	const struct xt_time_info *i = data;
	int tz;

	(void)t, (void)e, (void)len, (void)revision;
	/* time_mt_check() */
	if (i->daytime_start > XT_TIME_MAX_DAYTIME || i->daytime_stop > XT_TIME_MAX_DAYTIME) {
		snprintf(why, whylen,
			 "start or stop time after 23:59:59 (the kernel refuses it: "
			 "EDOM)");
		return -EOPNOTSUPP;
	}
	if (i->flags & ~XT_TIME_ALL_FLAGS) {
		snprintf(why, whylen, "unknown flags 0x%x (the kernel refuses it: EINVAL)",
			 i->flags & ~XT_TIME_ALL_FLAGS);
		return -EOPNOTSUPP;
	}
	if ((i->flags & XT_TIME_CONTIGUOUS) && i->daytime_start < i->daytime_stop) {
		snprintf(why, whylen,
			 "--contiguous with --timestart before --timestop (the kernel "
			 "refuses it: EINVAL)");
		return -EOPNOTSUPP;
	}
	if ((i->flags & XT_TIME_LOCAL_TZ) && ipt2bpf_host_tz_minuteswest(&tz)) {
		snprintf(why, whylen, "--kerneltz: cannot read the kernel time zone");
		return -EOPNOTSUPP;
	}
	return 0;
}

static void time_dump(FILE *f, const void *data, size_t len, uint8_t revision)
{
	const struct xt_time_info *i = data;

	(void)len, (void)revision;
	fprintf(f,
		"--timestart %u --timestop %u --monthdays 0x%x --weekdays 0x%x --datestart %u "
		"--datestop %u%s%s",
		i->daytime_start, i->daytime_stop, i->monthdays_match, i->weekdays_match,
		i->date_start, i->date_stop, (i->flags & XT_TIME_LOCAL_TZ) ? " --kerneltz" : "",
		(i->flags & XT_TIME_CONTIGUOUS) ? " --contiguous" : "");
}

/* R0 = the wall clock in seconds, as ktime_get_real_seconds(). Clobbers R0-R5, FP_KEY. */
static void emit_real_seconds(struct gen *g)
{
	int l_kernel = LABEL(), l_done = LABEL();

	if (g->prog->role == IPT2BPF_P_TRACE) {
		gen_array_elem(g, g->map_cfg, 0, l_kernel);
		E(BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, offsetof(struct ipt2bpf_cfg, clock)));
		EJ(BPF_JMP_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_kernel);
		E(BPF_LDX_MEM(BPF_DW, BPF_REG_0, BPF_REG_0, offsetof(struct ipt2bpf_cfg, now_ns)));
		E(BPF_ALU64_IMM(BPF_DIV, BPF_REG_0, 1000000000));
		EJ(BPF_JMP_A(0), l_done);
	}
	BIND(l_kernel);
	E(BPF_CALL_HELPER(BPF_FUNC_ktime_get_tai_ns));
	E(BPF_ALU64_IMM(BPF_DIV, BPF_REG_0, 1000000000));
	gen_ld_imm64(g, BPF_REG_1, (uint64_t)ipt2bpf_host_tai_offset());
	E(BPF_ALU64_REG(BPF_SUB, BPF_REG_0, BPF_REG_1));
	BIND(l_done);
}

/* R1 = bit (R2 & 31) of mask; fail (l_fail) when it is clear. */
static void emit_bit_check(struct gen *g, uint32_t mask, int l_fail)
{
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_2, 31));
	E(BPF_MOV32_IMM(BPF_REG_1, 1));
	E(BPF_ALU32_REG(BPF_LSH, BPF_REG_1, BPF_REG_2));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_1, (int32_t)mask));
	EJ(BPF_JMP32_IMM(BPF_JEQ, BPF_REG_1, 0, 0), l_fail);
}

/*
 * localtime_3(): R2 = the day of the month of day R1 (u32 days since the
 * epoch), as a u8.  Years from the 4-year cycle (exact 1970-2099: 2000 is a
 * leap year), clamped at 2039 like the kernel's table.
 */
static void emit_monthday(struct gen *g)
{
	int l_late = LABEL(), l_leap = LABEL(), l_have = LABEL(), l_found = LABEL();

	EJ(BPF_JMP32_IMM(BPF_JGE, BPF_REG_1, DSE_2039, 0), l_late);
	E(BPF_ALU32_IMM(BPF_ADD, BPF_REG_1, 731)); /* days since 1968-01-01, a leap year */
	E(BPF_ALU32_IMM(BPF_MOD, BPF_REG_1, 1461));
	EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, 366, 0), l_leap);
	E(BPF_ALU32_IMM(BPF_SUB, BPF_REG_1, 366));
	E(BPF_ALU32_IMM(BPF_MOD, BPF_REG_1, 365));
	EJ(BPF_JMP_A(0), l_have);
	BIND(l_late);
	E(BPF_ALU32_IMM(BPF_SUB, BPF_REG_1, DSE_2039)); /* 2039 is not a leap year */
	BIND(l_have);
	for (int k = 11; k > 0; k--) {
		E(BPF_MOV32_IMM(BPF_REG_3, days_since_year[k]));
		EJ(BPF_JMP32_IMM(BPF_JGE, BPF_REG_1, days_since_year[k], 0), l_found);
	}
	E(BPF_MOV32_IMM(BPF_REG_3, 0));
	EJ(BPF_JMP_A(0), l_found);
	BIND(l_leap);
	for (int k = 11; k > 0; k--) {
		E(BPF_MOV32_IMM(BPF_REG_3, days_since_leapyear[k]));
		EJ(BPF_JMP32_IMM(BPF_JGE, BPF_REG_1, days_since_leapyear[k], 0), l_found);
	}
	E(BPF_MOV32_IMM(BPF_REG_3, 0));
	BIND(l_found);
	E(BPF_MOV32_REG(BPF_REG_2, BPF_REG_1));
	E(BPF_ALU32_REG(BPF_SUB, BPF_REG_2, BPF_REG_3));
	E(BPF_ALU32_IMM(BPF_ADD, BPF_REG_2, 1));
	E(BPF_ALU32_IMM(BPF_AND, BPF_REG_2, 0xff));
}

static int time_emit(struct gen *g, unsigned int ti, unsigned int idx,
		     const struct ipt2bpf_match *m, int l_fail)
{
	const struct xt_time_info *i = m->data;
	int l_daydone = LABEL();

	(void)ti, (void)idx;
	emit_real_seconds(g);
	if (i->flags & XT_TIME_LOCAL_TZ) {
		int tz = 0;

		ipt2bpf_host_tz_minuteswest(&tz);
		gen_ld_imm64(g, BPF_REG_1, (uint64_t)(int64_t)(60 * tz));
		E(BPF_ALU64_REG(BPF_SUB, BPF_REG_0, BPF_REG_1));
	}
	/* stamp < date_start || stamp > date_stop, stamp a time64_t */
	gen_ld_imm64(g, BPF_REG_1, i->date_start);
	EJ(BPF_JMP_REG(BPF_JSLT, BPF_REG_0, BPF_REG_1, 0), l_fail);
	gen_ld_imm64(g, BPF_REG_1, i->date_stop);
	EJ(BPF_JMP_REG(BPF_JSGT, BPF_REG_0, BPF_REG_1, 0), l_fail);

	/* packet_time = stamp mod 86400 (div_u64_rem: stamp as u64) */
	E(BPF_MOV64_REG(BPF_REG_1, BPF_REG_0));
	E(BPF_ALU64_IMM(BPF_MOD, BPF_REG_1, SECONDS_PER_DAY));
	if (i->daytime_start < i->daytime_stop) {
		EJ(BPF_JMP32_IMM(BPF_JLT, BPF_REG_1, (int32_t)i->daytime_start, 0), l_fail);
		EJ(BPF_JMP32_IMM(BPF_JGT, BPF_REG_1, (int32_t)i->daytime_stop, 0), l_fail);
	} else {
		int l_ok = LABEL();

		EJ(BPF_JMP32_IMM(BPF_JGE, BPF_REG_1, (int32_t)i->daytime_start, 0), l_ok);
		EJ(BPF_JMP32_IMM(BPF_JGT, BPF_REG_1, (int32_t)i->daytime_stop, 0), l_fail);
		BIND(l_ok);
		/* --contiguous: the early hours belong to the day before */
		if (i->flags & XT_TIME_CONTIGUOUS) {
			EJ(BPF_JMP32_IMM(BPF_JGT, BPF_REG_1, (int32_t)i->daytime_stop, 0),
			   l_daydone);
			E(BPF_ALU64_IMM(BPF_SUB, BPF_REG_0, SECONDS_PER_DAY));
		}
	}
	BIND(l_daydone);

	/* dse = stamp / 86400 as unsigned int; weekday = (4 + dse - 1) % 7 + 1 */
	E(BPF_ALU64_IMM(BPF_DIV, BPF_REG_0, SECONDS_PER_DAY));
	E(BPF_MOV32_REG(BPF_REG_0, BPF_REG_0));
	E(BPF_MOV32_REG(BPF_REG_2, BPF_REG_0));
	E(BPF_ALU32_IMM(BPF_ADD, BPF_REG_2, 3));
	E(BPF_ALU32_IMM(BPF_MOD, BPF_REG_2, 7));
	E(BPF_ALU32_IMM(BPF_ADD, BPF_REG_2, 1));
	if ((i->weekdays_match & 0xfe) != 0xfe)
		emit_bit_check(g, i->weekdays_match, l_fail);
	if (i->monthdays_match != XT_TIME_ALL_MONTHDAYS) {
		E(BPF_MOV32_REG(BPF_REG_1, BPF_REG_0));
		emit_monthday(g);
		emit_bit_check(g, i->monthdays_match, l_fail);
	}
	return g->p->e.err;
}

static const struct ipt2bpf_mod mod_time = {
	.name = "time",
	.revisions = 1U << 0,
	.check = time_check,
	.dump = time_dump,
	.emit_match = time_emit,
};
IPT2BPF_MOD_REGISTER(mod_time);
