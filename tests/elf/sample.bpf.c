// SPDX-License-Identifier: GPL-2.0
/*
 * The C equivalent of tests/elf/sample-progset.h, compiled by
 * tests/elf/stock-tools.sh with clang -target bpf -O2 -g to compare its
 * object's layout (sections, symbols, relocations, BTF) with ours.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, 16);
	__uint(max_entries, 8);
} ipt_cnt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(key_size, 8);
	__uint(value_size, 8);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ipt_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, 8);
	__uint(max_entries, 1);
} ipt_cfg SEC(".maps");

static __attribute__((noinline)) int verdict(int proto, int pass, int drop)
{
	return proto == IPPROTO_ICMP ? drop : pass;
}

static __attribute__((noinline)) int judge(int proto, int pass, int drop)
{
	__u32 key = 0;
	__u64 *cnt = bpf_map_lookup_elem(&ipt_cnt, &key);

	if (cnt)
		(*cnt)++;
	return verdict(proto, pass, drop);
}

static __always_inline int entry(void *data, void *data_end, int pass, int drop)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u32 key = 0, *cfg;
	int proto = 0;

	if ((void *)(ip + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IP))
		proto = ip->protocol;
	cfg = bpf_map_lookup_elem(&ipt_cfg, &key);
	if (cfg && *cfg)
		return pass;
	return judge(proto, pass, drop);
}

SEC("classifier") int ing(struct __sk_buff *skb)
{
	return entry((void *)(long)skb->data, (void *)(long)skb->data_end, TC_ACT_OK, TC_ACT_SHOT);
}

SEC("classifier") int ing_trace(struct __sk_buff *skb)
{
	return entry((void *)(long)skb->data, (void *)(long)skb->data_end, TC_ACT_OK, TC_ACT_SHOT);
}

SEC("tc") int egr(struct __sk_buff *skb)
{
	return entry((void *)(long)skb->data, (void *)(long)skb->data_end, TC_ACT_OK, TC_ACT_SHOT);
}

SEC("xdp") int xdp_fw(struct xdp_md *ctx)
{
	return entry((void *)(long)ctx->data, (void *)(long)ctx->data_end, XDP_PASS, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
