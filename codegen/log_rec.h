/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The LOG target's record: what a program puts in the ring buffer for each
 * packet a LOG rule sees, and what umh/rt_log.c turns into the kernel's
 * nf_log_syslog line.  The main program's prologue copies the packet's
 * headers into the per-CPU scratch record (chain functions never see the
 * packet, only struct gen_pkt); the LOG rule adds its own identity and
 * options and copies the record into the ring buffer.  NFLOG and AUDIT
 * rules (codegen/t_NFLOG.c, t_AUDIT.c) send the same record with their
 * kind and options, and set kind back to LOG (0) in the scratch record.
 */
#ifndef IPT2BPF_LOG_REC_H
#define IPT2BPF_LOG_REC_H

#include <stddef.h>
#include <stdint.h>
#include <linux/if_ether.h>
#include <linux/netfilter/xt_LOG.h>
#include <linux/netfilter/xt_NFLOG.h>

#define IPT2BPF_MAP_LOG	    "ipt_log"	 /* BPF_MAP_TYPE_RINGBUF of records */
#define IPT2BPF_MAP_LOG_SCR "ipt_logscr" /* PERCPU_ARRAY[1]: the record being built */
#define IPT2BPF_LOG_RINGBUF (512U << 10)

/*
 * Bytes of the IP datagram kept: the deepest read of nf_log_syslog's
 * dump_ipv4_packet() is an ICMP error's quoted TCP header with options
 * (IP 60 + ICMP 8 + IP 60 + TCP 60 = 188 bytes).
 */
#define IPT2BPF_LOG_DATA 192

#define IPT2BPF_LOG_MAGIC 0x4c4f4732 /* "LOG2": record layout version */

/* ipt2bpf_log_rec.kind: the target that wrote the record, which member of the union it filled */
#define IPT2BPF_LOG_K_LOG   0 /* info */
#define IPT2BPF_LOG_K_NFLOG 1 /* nflog */
#define IPT2BPF_LOG_K_AUDIT 2 /* audit */

#define IPT2BPF_MAP_AUDIT_SEQ "ipt_auditseq" /* ARRAY[1] of u64: AUDIT records written */

/* AUDIT's part of the record. */
struct ipt2bpf_log_audit {
	uint8_t type; /* --type: XT_AUDIT_TYPE_* (the kernel's record does not show it) */
	uint8_t pad[3];
	uint32_t serial;  /* the rule set's AUDIT record count, from 1 */
	uint64_t boot_ns; /* CLOCK_BOOTTIME when the rule saw the packet */
};

/* ipt2bpf_log_rec.flags */
#define IPT2BPF_LOG_F_VLAN 0x01 /* skb carried a VLAN tag (vlan_proto, vlan_tci) */
#define IPT2BPF_LOG_F_MAC  0x02 /* mac[] holds the frame's Ethernet header */

struct ipt2bpf_log_rec {
	uint32_t magic;
	uint8_t hook;		       /* NF_INET_* the rule ran in */
	uint8_t table;		       /* index of the table in the program set (0: filter) */
	uint8_t flags;		       /* IPT2BPF_LOG_F_* */
	uint8_t kind;		       /* IPT2BPF_LOG_K_* */
	uint32_t entry;		       /* the LOG entry's index in its table */
	uint32_t iif;		       /* input device (INPUT, FORWARD), 0: none */
	uint32_t oif;		       /* output device (FORWARD, OUTPUT), 0: none */
	uint32_t mark;		       /* skb->mark as the rule saw it */
	uint32_t len;		       /* skb->len at the hook: the datagram's tot_len */
	uint32_t caplen;	       /* bytes of data[] that hold the datagram */
	uint16_t vlan_proto, vlan_tci; /* network order proto, host order TCI */
	uint8_t mac[ETH_HLEN];
	uint8_t pad1[2];
	union {
		struct xt_log_info info;	/* LOG: the rule's level, flags and prefix */
		struct xt_nflog_info nflog;	/* NFLOG: the rule's group, size and prefix */
		struct ipt2bpf_log_audit audit; /* AUDIT */
	};
	uint8_t data[IPT2BPF_LOG_DATA];
};

/*
 * Code generation (codegen/t_LOG.c): what the LOG, NFLOG and AUDIT targets
 * share to fill in and send the record.  Not for the log reader.
 */
struct gen;

/*
 * LOG's maps and per-packet prologue, as for a LOG rule without options:
 * the prepare step of a target that sends the record.
 */
int gen_log_prepare(struct gen *g, unsigned int table, unsigned int entry);

/*
 * In a chain function: R0 = the per-CPU scratch record (the packet's part
 * filled in by the prologue), or jump to l_none.  -ENOENT when
 * gen_log_prepare() did not run for this program set.
 */
int gen_log_scratch(struct gen *g, int l_none);

/*
 * Stamps the rule into the record reg points to (kind, unless LOG; table,
 * entry, the mark; len bytes of opt at offset opt_off, a multiple of 4) and
 * sends it to the ring buffer.  A kind other than LOG is set back to LOG
 * afterwards, since a later LOG rule stamps only its own options: reg must
 * then survive the helper call (R6-R9).  Clobbers R0-R5.
 */
void gen_log_send(struct gen *g, int reg, uint8_t kind, unsigned int table, unsigned int entry,
		  int16_t opt_off, const void *opt, size_t len);

#endif
