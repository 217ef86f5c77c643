// SPDX-License-Identifier: GPL-2.0
/*
 * Status output: the rule listing exactly as `iptables -L -v -n -x` prints
 * it (iptables 1.8 legacy, print_firewall() and the extensions' print
 * functions), the attachment summary, and the JSON view.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/if_link.h>
#include <linux/netfilter/xt_iprange.h>

#include "rt_internal.h"
#include "../translator/mod.h"
#include "../translator/util.h"

/* ------------------------------------------------------------ -L formatting */

static void fmt_addr(char *buf, size_t len, struct in_addr a, struct in_addr m)
{
	char addr[INET_ADDRSTRLEN], mask[INET_ADDRSTRLEN];
	uint32_t hm = ntohl(m.s_addr);
	int bits = 0;

	inet_ntop(AF_INET, &a, addr, sizeof(addr));
	while (bits < 32 && (hm & (0x80000000U >> bits)))
		bits++;
	if (bits < 32 && (hm << bits)) { /* not a prefix: print the mask itself */
		inet_ntop(AF_INET, &m, mask, sizeof(mask));
		snprintf(buf, len, "%s/%s", addr, mask);
	} else if (bits == 32) {
		snprintf(buf, len, "%s", addr);
	} else {
		snprintf(buf, len, "%s/%d", addr, bits);
	}
}

static void print_ports(FILE *f, const char *name, uint16_t min, uint16_t max, bool inv)
{
	if (min == 0 && max == 0xFFFF && !inv)
		return;
	if (min == max)
		fprintf(f, " %s:%s%u", name, inv ? "!" : "", min);
	else
		fprintf(f, " %ss:%s%u:%u", name, inv ? "!" : "", min, max);
}

static void print_match(FILE *f, const struct ipt2bpf_match *m)
{
	switch (m->kind) {
	case IPT2BPF_M_TCP: {
		const struct xt_tcp *t = &m->u.tcp;

		fprintf(f, " tcp");
		print_ports(f, "spt", t->spts[0], t->spts[1], t->invflags & XT_TCP_INV_SRCPT);
		print_ports(f, "dpt", t->dpts[0], t->dpts[1], t->invflags & XT_TCP_INV_DSTPT);
		if (t->option || (t->invflags & XT_TCP_INV_OPTION))
			fprintf(f, " option=%s%u", t->invflags & XT_TCP_INV_OPTION ? "!" : "",
				t->option);
		if (t->flg_mask || (t->invflags & XT_TCP_INV_FLAGS))
			fprintf(f, " flags:%s0x%02X/0x%02X",
				t->invflags & XT_TCP_INV_FLAGS ? "!" : "", t->flg_mask, t->flg_cmp);
		if (t->invflags & ~XT_TCP_INV_MASK)
			fprintf(f, " Unknown invflags: 0x%X", t->invflags & ~XT_TCP_INV_MASK);
		break;
	}
	case IPT2BPF_M_UDP: {
		const struct xt_udp *u = &m->u.udp;

		fprintf(f, " udp");
		print_ports(f, "spt", u->spts[0], u->spts[1], u->invflags & XT_UDP_INV_SRCPT);
		print_ports(f, "dpt", u->dpts[0], u->dpts[1], u->invflags & XT_UDP_INV_DSTPT);
		if (u->invflags & ~XT_UDP_INV_MASK)
			fprintf(f, " Unknown invflags: 0x%X", u->invflags & ~XT_UDP_INV_MASK);
		break;
	}
	case IPT2BPF_M_ICMP: {
		const struct ipt_icmp *ic = &m->u.icmp;

		fprintf(f, " icmp");
		if (ic->invflags & IPT_ICMP_INV)
			fprintf(f, " !");
		fprintf(f, "type %u", ic->type);
		if (ic->code[0] == ic->code[1])
			fprintf(f, " code %u", ic->code[0]);
		else if (ic->code[0] != 0 || ic->code[1] != 0xFF)
			fprintf(f, " codes %u-%u", ic->code[0], ic->code[1]);
		if (ic->invflags & ~IPT_ICMP_INV)
			fprintf(f, " Unknown invflags: 0x%X", ic->invflags & ~IPT_ICMP_INV);
		break;
	}
	case IPT2BPF_M_MULTIPORT: {
		const struct xt_multiport_v1 *mp = &m->u.multiport;

		fprintf(f, " multiport ");
		switch (mp->flags) {
		case XT_MULTIPORT_SOURCE:
			fprintf(f, "sports ");
			break;
		case XT_MULTIPORT_DESTINATION:
			fprintf(f, "dports ");
			break;
		case XT_MULTIPORT_EITHER:
			fprintf(f, "ports ");
			break;
		default:
			fprintf(f, "ERROR ");
			break;
		}
		if (mp->invert)
			fprintf(f, " !");
		for (unsigned int i = 0; i < mp->count && i < XT_MULTI_PORTS; i++) {
			fprintf(f, "%s%u", i ? "," : "", mp->ports[i]);
			if (mp->pflags[i] && i + 1 < mp->count)
				fprintf(f, ":%u", mp->ports[++i]);
		}
		break;
	}
	case IPT2BPF_M_IPRANGE: {
		const struct xt_iprange_mtinfo *r = &m->u.iprange;
		char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

		if (r->flags & IPRANGE_SRC) {
			inet_ntop(AF_INET, &r->src_min.in, a, sizeof(a));
			inet_ntop(AF_INET, &r->src_max.in, b, sizeof(b));
			fprintf(f, " source IP range%s %s-%s",
				r->flags & IPRANGE_SRC_INV ? " !" : "", a, b);
		}
		if (r->flags & IPRANGE_DST) {
			inet_ntop(AF_INET, &r->dst_min.in, a, sizeof(a));
			inet_ntop(AF_INET, &r->dst_max.in, b, sizeof(b));
			fprintf(f, " destination IP range%s %s-%s",
				r->flags & IPRANGE_DST_INV ? " !" : "", a, b);
		}
		break;
	}
	case IPT2BPF_M_COMMENT:
		fprintf(f, " /* %.*s */", (int)sizeof(m->u.comment), m->u.comment);
		break;
	case IPT2BPF_M_MOD:
		/* Extension modules print their options iptables-save style. */
		fprintf(f, " %s", m->name);
		if (m->mod->dump) {
			fputc(' ', f);
			m->mod->dump(f, m->data, m->len, m->revision);
		}
		break;
	default:
		fprintf(f, " %s", m->name);
		break;
	}
}

static const char *target_name(const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e)
{
	const struct ipt2bpf_entry *dst;

	switch (e->target.kind) {
	case IPT2BPF_T_ACCEPT:
		return "ACCEPT";
	case IPT2BPF_T_DROP:
		return "DROP";
	case IPT2BPF_T_RETURN:
		return "RETURN";
	case IPT2BPF_T_CONTINUE:
		return "";
	case IPT2BPF_T_JUMP:
	case IPT2BPF_T_GOTO:
		dst = &t->entries[e->target.target_entry];
		return dst->chain >= 0 ? t->chains[dst->chain].name : "?";
	default:
		return e->target.name && e->target.name[0] ? e->target.name : "ERROR";
	}
}

/* The columns after the counters, as print_firewall() writes them. */
static void print_rule(FILE *f, const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e)
{
	const struct ipt_ip *ip = &e->ip;
	char iface[IFNAMSIZ + 2], addr[2 * INET_ADDRSTRLEN + 2], proto[8];

	fprintf(f, "%-9s ", target_name(t, e));
	fputc(ip->invflags & XT_INV_PROTO ? '!' : ' ', f);
	snprintf(proto, sizeof(proto), "%u", ip->proto);
	fprintf(f, "%-5s", proto);
	fputc(ip->invflags & IPT_INV_FRAG ? '!' : '-', f);
	fputc(ip->flags & IPT_F_FRAG ? 'f' : '-', f);
	fputc(' ', f);
	snprintf(iface, sizeof(iface), "%s%.*s", ip->invflags & IPT_INV_VIA_IN ? "!" : "", IFNAMSIZ,
		 ip->iniface[0] ? ip->iniface : "*");
	fprintf(f, " %-6s ", iface);
	snprintf(iface, sizeof(iface), "%s%.*s", ip->invflags & IPT_INV_VIA_OUT ? "!" : "",
		 IFNAMSIZ, ip->outiface[0] ? ip->outiface : "*");
	fprintf(f, "%-6s ", iface);
	fmt_addr(addr, sizeof(addr), ip->src, ip->smsk);
	fputc(ip->invflags & IPT_INV_SRCIP ? '!' : ' ', f);
	fprintf(f, "%-19s ", addr);
	fmt_addr(addr, sizeof(addr), ip->dst, ip->dmsk);
	fputc(ip->invflags & IPT_INV_DSTIP ? '!' : ' ', f);
	fprintf(f, "%-19s ", addr);
	if (e->target.kind == IPT2BPF_T_GOTO)
		fprintf(f, "[goto] ");
	for (unsigned int i = 0; i < e->n_matches; i++)
		print_match(f, &e->matches[i]);
	if (e->target.kind == IPT2BPF_T_MOD && e->target.mod->dump) {
		fputc(' ', f);
		e->target.mod->dump(f, e->target.data, e->target.len, e->target.revision);
	}
}

/* Built-ins in hook order, then user chains sorted by name as libiptc keeps them. */
static unsigned int *chain_order(const struct ipt2bpf_table *t)
{
	unsigned int *o = calloc(t->n_chains + 1, sizeof(*o)), k = 0;

	if (!o)
		return NULL;
	for (unsigned int i = 0; i < t->n_chains; i++)
		if (t->chains[i].builtin)
			o[k++] = i;
	for (unsigned int i = 0; i < t->n_chains; i++) {
		unsigned int j = k;

		if (t->chains[i].builtin)
			continue;
		while (j > 0 && !t->chains[o[j - 1]].builtin &&
		       strcmp(t->chains[o[j - 1]].name, t->chains[i].name) > 0) {
			o[j] = o[j - 1];
			j--;
		}
		o[j] = i;
		k++;
	}
	return o;
}

static void list_table(FILE *f, const struct ipt2bpf_table *t, const struct ipt2bpf_counter *c)
{
	_cleanup_free_ unsigned int *order = chain_order(t);

	if (!order)
		return;
	for (unsigned int k = 0; k < t->n_chains; k++) {
		const struct ipt2bpf_chain *ch = &t->chains[order[k]];

		if (k)
			fputc('\n', f);
		if (ch->builtin)
			fprintf(f, "Chain %s (policy %s %llu packets, %llu bytes)\n", ch->name,
				ch->policy == NF_ACCEPT ? "ACCEPT" : "DROP",
				(unsigned long long)c[ch->policy_entry].pcnt,
				(unsigned long long)c[ch->policy_entry].bcnt);
		else
			fprintf(f, "Chain %s (%u references)\n", ch->name, ch->references);
		fprintf(f, "%8s %10s %-9s  prot opt %-6s %-6s  %-19s  %-19s \n", "pkts", "bytes",
			"target", "in", "out", "source", "destination");
		for (unsigned int i = 0; i < t->n_entries; i++) {
			const struct ipt2bpf_entry *e = &t->entries[i];

			if (e->role != IPT2BPF_E_RULE || e->chain != (int)order[k])
				continue;
			fprintf(f, "%8llu %8llu ", (unsigned long long)c[i].pcnt,
				(unsigned long long)c[i].bcnt);
			print_rule(f, t, e);
			fputc('\n', f);
		}
	}
}

int ipt2bpf_rt_list_table(const struct ipt2bpf_rt_status *st, const char *table, FILE *f)
{
	for (unsigned int i = 0; i < st->n_tables; i++) {
		if (strcmp(st->tables[i]->name, table))
			continue;
		list_table(f, st->tables[i], st->counters[i]);
		return 0;
	}
	return -ENOENT;
}

/* ------------------------------------------------------------ summary */

static const char *mode_name(uint32_t mode)
{
	return mode == IPT2BPF_MODE_XDP ? "xdp" : "tc";
}

static const char *xdp_mode_name(uint8_t m)
{
	switch (m) {
	case XDP_ATTACHED_DRV:
		return "native";
	case XDP_ATTACHED_SKB:
		return "generic";
	case XDP_ATTACHED_HW:
		return "offload";
	case XDP_ATTACHED_MULTI:
		return "multi";
	default:
		return "none";
	}
}

static void print_iface(FILE *f, const struct ipt2bpf_rt_status *st,
			const struct ipt2bpf_rt_iface *i)
{
	bool any = false;

	fprintf(f, "  %-4u %-15s ", i->ifindex, i->name);
	if (!i->present) {
		fprintf(f, "gone (recorded, no longer in this namespace)\n");
		return;
	}
	if (i->xdp_id) {
		fprintf(f, "xdp id %u (%s)", i->xdp_id, xdp_mode_name(i->xdp_attach_mode));
		any = true;
	}
	if (i->tc_ingress_id) {
		fprintf(f, "%stc ingress id %u", any ? ", " : "", i->tc_ingress_id);
		any = true;
	}
	if (i->tc_egress_id) {
		fprintf(f, "%stc egress id %u", any ? ", " : "", i->tc_egress_id);
		any = true;
	}
	if (!any)
		fprintf(f, "not attached%s",
			st->loaded ? " (appeared after the load: load again, "
				     "or use load --follow)"
				   : "");
	if (i->flags & IPT2BPF_RT_A_QDISC_OURS)
		fprintf(f, "; clsact added by ipt2bpf");
	if (i->stale)
		fprintf(f, "; STALE: not the current generation's program (load again)");
	fputc('\n', f);
}

void ipt2bpf_rt_status_print(const struct ipt2bpf_rt_status *st, FILE *f)
{
	if (!st->loaded) {
		fprintf(f, "ipt2bpf: no rule set loaded in this network namespace (netns %llu)\n",
			(unsigned long long)st->netns);
	} else {
		time_t when = (time_t)st->state.loaded_at;
		char tbuf[64] = "?";
		struct tm tm;

		if (localtime_r(&when, &tm))
			strftime(tbuf, sizeof(tbuf), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(f, "ipt2bpf: rule set loaded, mode %s, generation %u\n",
			mode_name(st->state.mode), st->state.generation);
		fprintf(f, "  rules:      %s\n", st->state.source[0] ? st->state.source : "-");
		fprintf(f, "  loaded at:  %s\n", tbuf);
		fprintf(f, "  state:      %s\n", st->dir);
		fprintf(f, "  programs:  ");
		for (unsigned int i = 0; i < st->state.n_progs; i++)
			fprintf(f, " %s id %u%s", st->state.progs[i].name, st->state.progs[i].id,
				i + 1 < st->state.n_progs ? "," : "");
		fputc('\n', f);
	}
	if (st->n_ifaces) {
		fprintf(f, "interfaces:\n");
		for (unsigned int i = 0; i < st->n_ifaces; i++)
			print_iface(f, st, &st->ifaces[i]);
	}
	for (unsigned int i = 0; i < st->n_tables; i++) {
		fprintf(f, "\nTable %s:\n", st->tables[i]->name);
		list_table(f, st->tables[i], st->counters[i]);
	}
}

/* ------------------------------------------------------------ JSON */

static void json_str(FILE *f, const char *s, size_t max)
{
	fputc('"', f);
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_rule(FILE *f, const struct ipt2bpf_table *t, const struct ipt2bpf_entry *e,
		      const struct ipt2bpf_counter *c)
{
	char *text = NULL, *p;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	fprintf(f, "{\"num\":%u,\"packets\":%llu,\"bytes\":%llu,\"target\":", e->num,
		(unsigned long long)c->pcnt, (unsigned long long)c->bcnt);
	json_str(f, target_name(t, e), 64);
	fprintf(f, ",\"goto\":%s,\"rule\":", e->target.kind == IPT2BPF_T_GOTO ? "true" : "false");
	if (m) {
		print_rule(m, t, e);
		fclose(m);
		/* One space between columns is enough in JSON. */
		for (p = text; p && *p; p++) {
			if (*p == ' ' && (p[1] == ' ' || p[1] == '\0')) {
				memmove(p, p + 1, strlen(p));
				p--;
			}
		}
		json_str(f, text ? text : "", SIZE_MAX);
		free(text);
	} else {
		fprintf(f, "null");
	}
	fputc('}', f);
}

static void json_table(FILE *f, const struct ipt2bpf_table *t, const struct ipt2bpf_counter *c)
{
	_cleanup_free_ unsigned int *order = chain_order(t);

	fprintf(f, "{\"name\":");
	json_str(f, t->name, sizeof(t->name));
	fprintf(f, ",\"chains\":[");
	for (unsigned int k = 0; order && k < t->n_chains; k++) {
		const struct ipt2bpf_chain *ch = &t->chains[order[k]];
		bool first = true;

		fprintf(f, "%s{\"name\":", k ? "," : "");
		json_str(f, ch->name, sizeof(ch->name));
		if (ch->builtin)
			fprintf(f, ",\"policy\":\"%s\",\"packets\":%llu,\"bytes\":%llu",
				ch->policy == NF_ACCEPT ? "ACCEPT" : "DROP",
				(unsigned long long)c[ch->policy_entry].pcnt,
				(unsigned long long)c[ch->policy_entry].bcnt);
		else
			fprintf(f, ",\"references\":%u", ch->references);
		fprintf(f, ",\"rules\":[");
		for (unsigned int i = 0; i < t->n_entries; i++) {
			const struct ipt2bpf_entry *e = &t->entries[i];

			if (e->role != IPT2BPF_E_RULE || e->chain != (int)order[k])
				continue;
			if (!first)
				fputc(',', f);
			first = false;
			json_rule(f, t, e, &c[i]);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "]}");
}

void ipt2bpf_rt_status_print_json(const struct ipt2bpf_rt_status *st, FILE *f)
{
	fprintf(f, "{\"loaded\":%s,\"netns\":%llu,\"state\":", st->loaded ? "true" : "false",
		(unsigned long long)st->netns);
	json_str(f, st->dir, sizeof(st->dir));
	if (st->loaded) {
		fprintf(f, ",\"mode\":\"%s\",\"generation\":%u,\"loaded_at\":%llu,\"source\":",
			mode_name(st->state.mode), st->state.generation,
			(unsigned long long)st->state.loaded_at);
		json_str(f, st->state.source, sizeof(st->state.source));
		fprintf(f, ",\"programs\":[");
		for (unsigned int i = 0; i < st->state.n_progs; i++) {
			fprintf(f, "%s{\"name\":", i ? "," : "");
			json_str(f, st->state.progs[i].name, sizeof(st->state.progs[i].name));
			fprintf(f, ",\"id\":%u}", st->state.progs[i].id);
		}
		fprintf(f, "]");
	}
	fprintf(f, ",\"interfaces\":[");
	for (unsigned int k = 0; k < st->n_ifaces; k++) {
		const struct ipt2bpf_rt_iface *i = &st->ifaces[k];

		fprintf(f, "%s{\"ifindex\":%u,\"name\":", k ? "," : "", i->ifindex);
		json_str(f, i->name, sizeof(i->name));
		fprintf(f, ",\"present\":%s,\"tc_ingress\":%u,\"tc_egress\":%u,\"xdp\":%u",
			i->present ? "true" : "false", i->tc_ingress_id, i->tc_egress_id,
			i->xdp_id);
		if (i->xdp_id)
			fprintf(f, ",\"xdp_mode\":\"%s\"", xdp_mode_name(i->xdp_attach_mode));
		fprintf(f, ",\"clsact_ours\":%s,\"stale\":%s}",
			i->flags & IPT2BPF_RT_A_QDISC_OURS ? "true" : "false",
			i->stale ? "true" : "false");
	}
	fprintf(f, "],\"tables\":[");
	for (unsigned int i = 0; i < st->n_tables; i++) {
		if (i)
			fputc(',', f);
		json_table(f, st->tables[i], st->counters[i]);
	}
	fprintf(f, "]}\n");
}
