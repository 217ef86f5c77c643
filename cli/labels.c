// SPDX-License-Identifier: GPL-2.0
/*
 * ipt2bpf labels [--json] [--denials] [--bpffs DIR]: the label table of this
 * network namespace (ids, contexts, types, mark values), the sinks in force,
 * the policy's domains and the denials counted, like an AVC log.  Also the
 * --policy/--label-sink options of compile and load (labels.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "labels.h"

bool cli_sec_option(struct ipt2bpf_rt_sec *s, int c, const char *arg)
{
	switch (c) {
	case CLI_OPT_POLICY:
		s->policy_path = arg;
		return true;
	case CLI_OPT_LABEL_SINK:
		s->sink = arg;
		return true;
	case CLI_OPT_NO_POLICY:
		s->no_policy = true;
		return true;
	default:
		return false;
	}
}

static bool selinux_active(void)
{
	return !access("/sys/fs/selinux/enforce", F_OK);
}

/*
 * --selctx values longer than SECMARK_SECCTX_MAX - 1: iptables' string option
 * parser cuts them to fit the payload without a word, so only the rules
 * file can tell.  Quoting as iptables-restore does ("..." or '...').
 */
static int scan_selctx(const char *rules)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned int ln = 0;
	int rc = CLI_EXIT_OK;
	FILE *f;

	if (!rules || !(f = fopen(rules, "re")))
		return CLI_EXIT_OK; /* the capture reports unreadable files */
	while (rc == CLI_EXIT_OK && getline(&line, &cap, f) > 0) {
		const char *p = line;

		ln++;
		while ((p = strstr(p, "--selctx"))) {
			size_t n;

			p += strlen("--selctx");
			p += strspn(p, " \t");
			if (*p == '"' || *p == '\'') {
				const char *q = strchr(p + 1, *p);

				n = q ? (size_t)(q - p - 1) : strcspn(p + 1, "\r\n");
			} else {
				n = strcspn(p, " \t\r\n");
			}
			if (n >= IPT2BPF_SECCTX_MAX) {
				fprintf(stderr,
					"%s: %s:%u: --selctx: a context of %zu characters; the "
					"kernel takes at most %d (iptables would cut it)\n",
					cli_prog, rules, ln, n, IPT2BPF_SECCTX_MAX - 1);
				rc = CLI_EXIT_PARAM;
				break;
			}
		}
	}
	free(line);
	fclose(f);
	return rc;
}

int cli_sec_compile(struct ipt2bpf_rt_sec *s, const char *rules, const struct ipt2bpf_secopts **out)
{
	struct ipt2bpf_diag d = {0};

	*out = NULL;
	if (scan_selctx(rules))
		return CLI_EXIT_PARAM;
	if (s->policy_path || s->no_policy) {
		fprintf(stderr,
			"%s: --policy and --no-policy are for `ipt2bpf load`: enforcement needs "
			"programs on the domains' cgroups (use --label-sink mark:MASK or none "
			"here)\n",
			cli_prog);
		return CLI_EXIT_PARAM;
	}
	if (!s->sink)
		return CLI_EXIT_OK;
	if (ipt2bpf_label_sink_parse(s->sink, &s->opts, &d)) {
		fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
		return CLI_EXIT_PARAM;
	}
	s->opts.labels = &s->labels;
	*out = &s->opts;
	return CLI_EXIT_OK;
}

int cli_sec_load_prepare(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec *s, const char *rules)
{
	struct ipt2bpf_diag d = {0};
	int err;

	if (scan_selctx(rules))
		return CLI_EXIT_PARAM;
	if (s->no_policy && s->policy_path) {
		fprintf(stderr, "%s: --policy and --no-policy contradict each other\n", cli_prog);
		return CLI_EXIT_PARAM;
	}
	err = ipt2bpf_rt_sec_prepare(rt, s, &d);
	if (err) {
		fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
		return err == -EINVAL || err == -ENOENT || err == -EFBIG ? CLI_EXIT_PARAM
									 : CLI_EXIT_FAIL;
	}
	if (s->policy_path && selinux_active())
		fprintf(stderr,
			"%s: note: SELinux is active; this policy is enforced beside it, SELinux "
			"itself does not see the labels (--label-sink mark:MASK and `%s "
			"selinux-bridge` give them to it)\n",
			cli_prog, cli_prog);
	return CLI_EXIT_OK;
}

int cli_sec_load_commit(struct ipt2bpf_runtime *rt, struct ipt2bpf_rt_sec *s)
{
	struct ipt2bpf_diag d = {0};

	/* Nothing labelled, nothing asked, nothing in force: leave no state behind. */
	if (!s->labels.n && !s->opts.policy && !s->opts.mark_mask && !s->opts.sink_none &&
	    !s->n_labels_before)
		return CLI_EXIT_OK;
	if (ipt2bpf_rt_sec_commit(rt, s, &d)) {
		fprintf(stderr, "%s: labels: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------ output */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void print_text(const struct ipt2bpf_rt_sec_info *in, bool denials_only, FILE *f)
{
	const struct ipt2bpf_rt_sec_state *st = &in->st;
	char type[IPT2BPF_SEC_NAME_MAX];

	if (denials_only) {
		ipt2bpf_rt_sec_print_denials(in, f);
		return;
	}
	fprintf(f, "sinks:");
	if (st->flags & IPT2BPF_RT_SEC_F_POLICY)
		fprintf(f, " policy %s (%u domain%s, %u stamped)", st->policy_source,
			in->policy ? in->policy->n_domains : 0,
			in->policy && in->policy->n_domains == 1 ? "" : "s", in->n_stamps);
	if (st->mark_mask)
		fprintf(f, " mark 0x%x", st->mark_mask);
	if (st->flags & IPT2BPF_RT_SEC_F_SINK_NONE)
		fprintf(f, " none");
	if (!(st->flags & IPT2BPF_RT_SEC_F_POLICY) && !st->mark_mask &&
	    !(st->flags & IPT2BPF_RT_SEC_F_SINK_NONE))
		fprintf(f, " (none given)");
	fprintf(f, "\n%5s  %-10s  %-24s  %s\n", "id", "mark", "type", "context");
	for (uint32_t id = 0; id <= in->labels.n; id++) {
		const char *ctx = ipt2bpf_labels_ctx(&in->labels, id);

		ipt2bpf_labels_type(&in->labels, id, type);
		fprintf(f, "%5u  ", id);
		if (st->mark_mask)
			fprintf(f, "0x%-8x  ", ipt2bpf_label_mark(st->mark_mask, id));
		else
			fprintf(f, "%-10s  ", "-");
		fprintf(f, "%-24s  %s\n", type, ctx ? ctx : "-");
	}
	if (in->policy) {
		for (unsigned int i = 0; i < in->policy->n_domains; i++) {
			const struct ipt2bpf_sec_domain *dm = &in->policy->domains[i];

			fprintf(f, "domain %s %s (cgroup %" PRIu64 ", level %u)\n", dm->name,
				dm->path, dm->cgid, dm->level);
		}
	}
	if (in->n_denials) {
		fprintf(f, "denials:\n");
		ipt2bpf_rt_sec_print_denials(in, f);
	}
}

static void print_json(const struct ipt2bpf_rt_sec_info *in, FILE *f)
{
	const struct ipt2bpf_rt_sec_state *st = &in->st;
	char type[IPT2BPF_SEC_NAME_MAX], buf[64];

	fprintf(f, "{\"sinks\":{\"policy\":");
	if (st->flags & IPT2BPF_RT_SEC_F_POLICY)
		json_str(f, st->policy_source);
	else
		fprintf(f, "null");
	fprintf(f, ",\"mark_mask\":%u,\"none\":%s},\"labels\":[", st->mark_mask,
		st->flags & IPT2BPF_RT_SEC_F_SINK_NONE ? "true" : "false");
	for (uint32_t id = 0; id <= in->labels.n; id++) {
		const char *ctx = ipt2bpf_labels_ctx(&in->labels, id);

		ipt2bpf_labels_type(&in->labels, id, type);
		fprintf(f, "%s{\"id\":%u,\"type\":", id ? "," : "", id);
		json_str(f, type);
		fprintf(f, ",\"context\":");
		if (ctx)
			json_str(f, ctx);
		else
			fprintf(f, "null");
		if (st->mark_mask)
			fprintf(f, ",\"mark\":%u", ipt2bpf_label_mark(st->mark_mask, id));
		fprintf(f, "}");
	}
	fprintf(f, "],\"domains\":[");
	for (unsigned int i = 0; in->policy && i < in->policy->n_domains; i++) {
		const struct ipt2bpf_sec_domain *dm = &in->policy->domains[i];

		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, dm->name);
		fprintf(f, ",\"cgroup\":");
		json_str(f, dm->path);
		fprintf(f, ",\"cgroup_id\":%" PRIu64 ",\"level\":%u}", dm->cgid, dm->level);
	}
	fprintf(f, "],\"denials\":[");
	for (unsigned int i = 0; i < in->n_denials; i++) {
		const struct ipt2bpf_rt_denial *dn = &in->denials[i];
		const char *ctx = ipt2bpf_labels_ctx(&in->labels, dn->label);

		ipt2bpf_labels_type(&in->labels, dn->label, type);
		fprintf(f, "%s{\"scontext\":", i ? "," : "");
		json_str(f, ipt2bpf_rt_sec_subj_name(in, dn->subj, buf, sizeof(buf)));
		fprintf(f, ",\"label\":%u,\"tcontext\":", dn->label);
		json_str(f, ctx ? ctx : type);
		fprintf(f, ",\"type\":");
		json_str(f, type);
		fprintf(f, ",\"perm\":\"%s\",\"count\":%" PRIu64 "}",
			ipt2bpf_sec_perm_name(dn->perm), dn->count);
	}
	fprintf(f, "]}\n");
}

void cli_labels_status(struct ipt2bpf_runtime *rt, bool json, FILE *f)
{
	struct ipt2bpf_rt_sec_info in;
	struct ipt2bpf_diag d = {0};

	if (json || ipt2bpf_rt_sec_info_get(rt, &in, &d))
		return;
	fprintf(f, "\nLabels (SECMARK)\n");
	print_text(&in, false, f);
	ipt2bpf_rt_sec_info_release(&in);
}

static void labels_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s labels [--json] [--denials] [--bpffs DIR]\n"
		"\n"
		"The SECMARK labels of this network namespace: each security context's label\n"
		"id (stable until `%s unload`; 0 is unlabeled_t), its type and the skb->mark\n"
		"value the mark sink writes, the sinks in force, the policy's domains, and the\n"
		"packets the policy denied, counted per domain, label and permission.\n"
		"--denials prints only the denials, as SELinux's AVC log would.\n",
		cli_prog, cli_prog);
}

int cli_labels(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"denials", no_argument, NULL, 'D'},
		{"bpffs", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_free_ipt2bpf_rt_ struct ipt2bpf_runtime *rt = NULL;
	struct ipt2bpf_rt_sec_info in;
	struct ipt2bpf_diag d = {0};
	const char *bpffs = NULL;
	bool json = false, denials = false;
	int c, err;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'D':
			denials = true;
			break;
		case 'B':
			bpffs = optarg;
			break;
		case 'h':
			labels_usage(stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try `%s labels --help' for more information.\n", cli_prog);
			return CLI_EXIT_PARAM;
		}
	}
	if (cli_no_args(argc, argv, optind, " labels"))
		return CLI_EXIT_PARAM;
	if (ipt2bpf_rt_open(bpffs, &rt, &d)) {
		fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	err = ipt2bpf_rt_sec_info_get(rt, &in, &d);
	if (err == -ENOENT) {
		if (json)
			printf("{\"sinks\":null,\"labels\":[],\"domains\":[],\"denials\":[]}\n");
		else
			fprintf(stderr, "%s: no labels in this network namespace\n", cli_prog);
		return CLI_EXIT_OK;
	}
	if (err) {
		fprintf(stderr, "%s: labels: %s\n", cli_prog, d.msg);
		return CLI_EXIT_FAIL;
	}
	if (json)
		print_json(&in, stdout);
	else
		print_text(&in, denials, stdout);
	ipt2bpf_rt_sec_info_release(&in);
	return CLI_EXIT_OK;
}
