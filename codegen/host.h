/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Facts about the running kernel that netfilter bakes into a rule when it is
 * inserted (HZ in limit/hashlimit credits, RAM in hashlimit's default table
 * size, xt_recent's module parameters, the kernel time zone) or that a
 * program needs to read the clock the way the kernel does.  The code
 * generator computes with them in user space, as the kernel's checkentry
 * would on this host; `ipt2bpf trace --pcap-time` derives jiffies from them.
 */
#ifndef IPT2BPF_HOST_H
#define IPT2BPF_HOST_H

#include <stdint.h>

/* Length of a jiffy in ns: the resolution of CLOCK_MONOTONIC_COARSE (TICK_NSEC). */
uint64_t ipt2bpf_host_ns_per_jiffy(void);
/* The kernel's HZ, from the jiffy length (TICK_NSEC = (10^9 + HZ/2) / HZ). */
uint32_t ipt2bpf_host_hz(void);
/* totalram_pages() << PAGE_SHIFT, as sysinfo() reports it. */
uint64_t ipt2bpf_host_ram_bytes(void);
/* sys_tz.tz_minuteswest (settimeofday's time zone); -errno if unreadable. */
int ipt2bpf_host_tz_minuteswest(int *minutes);
/* CLOCK_TAI - CLOCK_REALTIME in seconds (the kernel's TAI offset, usually 0 or 37). */
int64_t ipt2bpf_host_tai_offset(void);
/*
 * xt_recent's module parameters ip_list_tot (entries per list, default 100)
 * and ip_pkt_list_tot (default 0), from /sys/module/xt_recent/parameters
 * when the module is loaded, else the defaults.
 */
uint32_t ipt2bpf_host_recent_list_tot(void);
uint32_t ipt2bpf_host_recent_pkt_list_tot(void);

#endif
