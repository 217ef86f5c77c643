// SPDX-License-Identifier: GPL-2.0
/*
 * tests/diff/ext.sh's CLASSIFY observer: at the firewall's TC egress (vout),
 * after the kernel's OUTPUT hook, records skb->priority of each UDP datagram
 * by its destination port (the last one seen).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} ext_prio SEC(".maps");

SEC("classifier")
int observe(struct __sk_buff *skb)
{
	struct iphdr ip;
	struct udphdr udp;
	__u32 port, prio = skb->priority;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) || ip.protocol != IPPROTO_UDP ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + ip.ihl * 4, &udp, sizeof(udp)))
		return TC_ACT_OK;
	port = bpf_ntohs(udp.dest);
	bpf_map_update_elem(&ext_prio, &port, &prio, BPF_ANY);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
