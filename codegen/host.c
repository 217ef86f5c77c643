// SPDX-License-Identifier: GPL-2.0
/* Host kernel facts the rules depend on (see host.h). */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <sys/sysinfo.h>
#include <sys/time.h>

#include "host.h"

uint64_t ipt2bpf_host_ns_per_jiffy(void)
{
	struct timespec ts;

	/* The coarse clocks advance once per tick: their resolution is TICK_NSEC. */
	if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) || ts.tv_sec || ts.tv_nsec <= 0)
		return 4000000; /* HZ=250, Debian's */
	return (uint64_t)ts.tv_nsec;
}

uint32_t ipt2bpf_host_hz(void)
{
	uint64_t ns = ipt2bpf_host_ns_per_jiffy();

	return (uint32_t)((1000000000ULL + ns / 2) / ns);
}

uint64_t ipt2bpf_host_ram_bytes(void)
{
	struct sysinfo si;

	if (sysinfo(&si))
		return 0;
	return (uint64_t)si.totalram * si.mem_unit;
}

int ipt2bpf_host_tz_minuteswest(int *minutes)
{
	struct timezone tz;
	struct timeval tv;

	/* gettimeofday() hands out the kernel's sys_tz as it is. */
	if (gettimeofday(&tv, &tz))
		return -errno;
	*minutes = tz.tz_minuteswest;
	return 0;
}

int64_t ipt2bpf_host_tai_offset(void)
{
	struct timespec real, tai;

	if (clock_gettime(CLOCK_REALTIME, &real) || clock_gettime(CLOCK_TAI, &tai))
		return 0;
	/* Both are read within far less than half a second of each other. */
	return (int64_t)tai.tv_sec - real.tv_sec + ((tai.tv_nsec - real.tv_nsec) >= 500000000L) -
	       ((real.tv_nsec - tai.tv_nsec) > 500000000L);
}

static uint32_t recent_param(const char *name, uint32_t dflt)
{
	char path[128];
	unsigned int v;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/sys/module/xt_recent/parameters/%s", name);
	f = fopen(path, "re");
	if (!f)
		return dflt;
	n = fscanf(f, "%u", &v);
	fclose(f);
	return n == 1 ? v : dflt;
}

uint32_t ipt2bpf_host_recent_list_tot(void)
{
	return recent_param("ip_list_tot", 100);
}

uint32_t ipt2bpf_host_recent_pkt_list_tot(void)
{
	return recent_param("ip_pkt_list_tot", 0);
}
