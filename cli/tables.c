// SPDX-License-Identifier: GPL-2.0
/* From a rules file (or a blob) to validated, decoded IR tables. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "translator/validate.h"

static const char *const cli_supported[] = {"filter", "security"};

void cli_file_error(const char *file, const char *msg)
{
	if (strstr(msg, file))
		fprintf(stderr, "%s: %s\n", cli_prog, msg);
	else
		fprintf(stderr, "%s: %s: %s\n", cli_prog, file, msg);
}

int cli_input_select(struct cli_input *in, const char *table)
{
	if (in->n_select == CLI_MAX_SELECT) {
		fprintf(stderr, "%s: too many -t options\n", cli_prog);
		return CLI_EXIT_PARAM;
	}
	in->select[in->n_select++] = table;
	return CLI_EXIT_OK;
}

int cli_no_args(int argc, char **argv, int optind, const char *cmd)
{
	if (optind < argc) {
		fprintf(stderr, "%s%s: unexpected argument '%s'\n", cli_prog, cmd, argv[optind]);
		return CLI_EXIT_PARAM;
	}
	return CLI_EXIT_OK;
}

int cli_input_source(struct cli_input *in, int argc, char **argv, int optind, const char *cmd)
{
	if (optind < argc)
		in->rules = argv[optind++];
	if (cli_no_args(argc, argv, optind, cmd))
		return CLI_EXIT_PARAM;
	if (!in->rules == !in->blob) {
		fprintf(stderr, "%s%s: give exactly one of RULES.v4 or --blob FILE\n", cli_prog,
			cmd);
		fprintf(stderr, "Try `%s%s --help' for more information.\n", cli_prog, cmd);
		return CLI_EXIT_PARAM;
	}
	return CLI_EXIT_OK;
}

static bool selected(const struct cli_input *in, const char *table)
{
	if (!in->n_select)
		return true;
	for (unsigned int i = 0; i < in->n_select; i++)
		if (!strcmp(in->select[i], table))
			return true;
	return false;
}

static int supported_rank(const char *table)
{
	for (unsigned int i = 0; i < sizeof(cli_supported) / sizeof(cli_supported[0]); i++)
		if (!strcmp(cli_supported[i], table))
			return (int)i;
	return -1;
}

static int tables_load(const struct cli_input *in, struct cli_tables *out)
{
	struct ipt2bpf_diag d = {0};
	int err;

	memset(out, 0, sizeof(*out));
	if (in->blob) {
		err = ipt2bpf_blob_read(in->blob, &out->blobs[0], &d);
		if (err) {
			cli_file_error(in->blob, d.msg);
			return CLI_EXIT_PARAM;
		}
		out->n_blobs = 1;
	} else {
		err = ipt2bpf_capture(in->rules, out->blobs, IPT2BPF_MAX_TABLES, &out->n_blobs, &d);
		if (err) {
			cli_file_error(in->rules, d.msg);
			return err == -EINVAL ? CLI_EXIT_PARAM : CLI_EXIT_FAIL;
		}
	}

	for (unsigned int i = 0; i < in->n_select; i++) {
		if (supported_rank(in->select[i]) < 0) {
			fprintf(stderr,
				"%s: table '%s' is not supported (ipt2bpf translates filter and "
				"security)\n",
				cli_prog, in->select[i]);
			return CLI_EXIT_PARAM;
		}
	}

	/* Filter before security: security runs after filter on the same hook. */
	for (unsigned int rank = 0; rank < 2; rank++) {
		for (unsigned int i = 0; i < out->n_blobs; i++) {
			struct ipt2bpf_blob *b = &out->blobs[i];
			struct ipt2bpf_table *t = NULL;

			if (supported_rank(b->table) != (int)rank || !selected(in, b->table))
				continue;
			memset(&d, 0, sizeof(d));
			err = ipt2bpf_validate(b->repl, b->len, &d);
			if (err) {
				fprintf(stderr, "%s: %s (%s)\n", cli_prog, d.msg, strerror(-err));
				return CLI_EXIT_PARAM;
			}
			err = ipt2bpf_table_decode(b->repl, b->len, &t, &d);
			if (err) {
				fprintf(stderr, "%s: %s\n", cli_prog, d.msg);
				return CLI_EXIT_FAIL;
			}
			out->tables[out->n_tables++] = t;
		}
	}

	/* Never ignore a table silently: unsupported ones need an explicit -t selection. */
	for (unsigned int i = 0; i < out->n_blobs; i++) {
		const char *name = out->blobs[i].table;

		if (supported_rank(name) >= 0 || in->n_select)
			continue;
		fprintf(stderr,
			"%s: table '%s' is not supported (ipt2bpf translates filter and security); "
			"select the tables to compile with -t filter [-t security]\n",
			cli_prog, name);
		return CLI_EXIT_FAIL;
	}
	if (!out->n_tables) {
		fprintf(stderr, "%s: no filter or security table in the input\n", cli_prog);
		return CLI_EXIT_PARAM;
	}
	return CLI_EXIT_OK;
}

int cli_tables_load(const struct cli_input *in, struct cli_tables *out)
{
	int rc = tables_load(in, out);

	/* On failure nothing is handed to the caller. */
	if (rc)
		cli_tables_release(out);
	return rc;
}

void cli_tables_release(struct cli_tables *t)
{
	for (unsigned int i = 0; i < t->n_tables; i++)
		ipt2bpf_table_free(t->tables[i]);
	for (unsigned int i = 0; i < t->n_blobs; i++)
		ipt2bpf_blob_release(&t->blobs[i]);
	memset(t, 0, sizeof(*t));
}
