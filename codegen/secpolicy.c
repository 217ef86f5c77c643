// SPDX-License-Identifier: GPL-2.0
/*
 * SECMARK labels (context strings and their ids), the packet policy in
 * SELinux's words, the label sinks' options and the socket-stamping program
 * (secpolicy.h).  Nothing here touches the kernel but ipt2bpf_policy_resolve(),
 * which looks at the domains' cgroup directories.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "insn.h"
#include "secpolicy.h"
#include "../translator/util.h"

/* ------------------------------------------------------------ contexts */

static bool ident_first(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

bool ipt2bpf_sec_ident(const char *s, size_t len)
{
	if (!len || len >= IPT2BPF_SEC_NAME_MAX || !ident_first(s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!ident_char(s[i]))
			return false;
	return true;
}

static bool level_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == ',' || c == ':' ||
	       c == '-';
}

int ipt2bpf_secctx_check(const char *ctx, size_t size, char *why, size_t whylen)
{
	static const char *const field[] = {"user", "role", "type"};
	size_t len = strnlen(ctx, size);
	const char *p = ctx;

	if (len == size || len >= IPT2BPF_SECCTX_MAX) {
		snprintf(why, whylen,
			 "security context longer than %d characters (the kernel's "
			 "SECMARK_SECCTX_MAX is %d bytes)",
			 IPT2BPF_SECCTX_MAX - 1, IPT2BPF_SECCTX_MAX);
		return -EINVAL;
	}
	if (!len) {
		snprintf(why, whylen, "empty security context");
		return -EINVAL;
	}
	for (unsigned int f = 0; f < 3; f++) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (f < 2 && !end) {
			snprintf(why, whylen,
				 "invalid security context '%s': SELinux contexts are "
				 "user:role:type[:level]",
				 ctx);
			return -EINVAL;
		}
		if (!ipt2bpf_sec_ident(p, n)) {
			snprintf(why, whylen,
				 "invalid security context '%s': the %s field '%.*s' is not an "
				 "SELinux identifier",
				 ctx, field[f], (int)n, p);
			return -EINVAL;
		}
		p += n + (end ? 1 : 0);
		if (f == 2 && !end)
			return 0;
	}
	/* The MLS/MCS level: s0, s0-s15:c0.c1023, s0:c1,c2 ... */
	if (!*p) {
		snprintf(why, whylen, "invalid security context '%s': empty level", ctx);
		return -EINVAL;
	}
	for (const char *q = p; *q; q++)
		if (!level_char(*q)) {
			snprintf(why, whylen,
				 "invalid security context '%s': character '%c' in the level", ctx,
				 isprint((unsigned char)*q) ? *q : '?');
			return -EINVAL;
		}
	return 0;
}

void ipt2bpf_secctx_type(const char *ctx, char *type)
{
	const char *p = strchr(ctx, ':');
	size_t n;

	type[0] = '\0';
	if (!p || !(p = strchr(p + 1, ':')))
		return;
	p++;
	n = strcspn(p, ":");
	if (n >= IPT2BPF_SEC_NAME_MAX)
		n = IPT2BPF_SEC_NAME_MAX - 1;
	memcpy(type, p, n);
	type[n] = '\0';
}

/* ------------------------------------------------------------ label table */

uint32_t ipt2bpf_labels_find(const struct ipt2bpf_labels *l, const char *ctx)
{
	for (unsigned int i = 0; i < l->n; i++)
		if (!strcmp(l->ctx[i], ctx))
			return i + 1;
	return 0;
}

int ipt2bpf_labels_intern(struct ipt2bpf_labels *l, const char *ctx, uint32_t *id)
{
	uint32_t found = ipt2bpf_labels_find(l, ctx);

	if (found) {
		*id = found;
		return 0;
	}
	if (strlen(ctx) >= IPT2BPF_SECCTX_MAX)
		return -EINVAL;
	if (l->n >= IPT2BPF_LABELS_MAX)
		return -ENOSPC;
	if (l->n == l->cap) {
		unsigned int cap = l->cap ? 2 * l->cap : 16;
		char(*nc)[IPT2BPF_SECCTX_MAX];

		if (l->fixed)
			return -ENOSPC;
		if (cap > IPT2BPF_LABELS_MAX)
			cap = IPT2BPF_LABELS_MAX;
		nc = realloc(l->ctx, (size_t)cap * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		l->ctx = nc;
		l->cap = cap;
	}
	memset(l->ctx[l->n], 0, sizeof(l->ctx[l->n]));
	strcpy(l->ctx[l->n], ctx);
	*id = ++l->n;
	return 0;
}

const char *ipt2bpf_labels_ctx(const struct ipt2bpf_labels *l, uint32_t id)
{
	return id && id <= l->n ? l->ctx[id - 1] : NULL;
}

void ipt2bpf_labels_type(const struct ipt2bpf_labels *l, uint32_t id, char *type)
{
	const char *ctx = ipt2bpf_labels_ctx(l, id);

	if (!id)
		snprintf(type, IPT2BPF_SEC_NAME_MAX, "%s", IPT2BPF_SEC_UNLABELED);
	else if (!ctx)
		snprintf(type, IPT2BPF_SEC_NAME_MAX, "?");
	else
		ipt2bpf_secctx_type(ctx, type);
}

void ipt2bpf_labels_release(struct ipt2bpf_labels *l)
{
	if (!l->fixed)
		free(l->ctx);
	memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------------ policy: words */

static const struct {
	const char *name;
	uint32_t bit;
} perm_names[] = {
	{"send", IPT2BPF_PERM_SEND},
	{"recv", IPT2BPF_PERM_RECV},
	{"forward_in", IPT2BPF_PERM_FORWARD_IN},
	{"forward_out", IPT2BPF_PERM_FORWARD_OUT},
};

/* The packet class's other permissions: known to SELinux, meaningless here. */
static const char *const perm_other[] = {"relabelto", "flow_in", "flow_out"};

const char *ipt2bpf_sec_perm_name(uint32_t perm)
{
	for (size_t i = 0; i < ARRAY_SIZE(perm_names); i++)
		if (perm_names[i].bit == perm)
			return perm_names[i].name;
	return "?";
}

const char *ipt2bpf_policy_subj_name(const struct ipt2bpf_policy *p, unsigned int subj)
{
	if (subj < p->n_domains)
		return p->domains[subj].name;
	return subj == ipt2bpf_policy_unconfined(p) ? IPT2BPF_SEC_UNCONFINED
						    : IPT2BPF_SEC_UNLABELED;
}

uint32_t ipt2bpf_policy_perms(const struct ipt2bpf_policy *p, unsigned int subj, const char *type)
{
	uint32_t perms = 0;

	for (unsigned int i = 0; i < p->n_allows; i++)
		if (p->allows[i].subj == subj && !strcmp(p->allows[i].type, type))
			perms |= p->allows[i].perms;
	return perms;
}

void ipt2bpf_policy_free(struct ipt2bpf_policy *p)
{
	if (!p)
		return;
	free(p->text);
	free(p->domains);
	free(p->allows);
	free(p);
}

void ipt2bpf_policy_freep(struct ipt2bpf_policy **p)
{
	ipt2bpf_policy_free(*p);
}

/* ------------------------------------------------------------ policy: parser */

/*
 * Grammar (a subset of SELinux's policy language, plus `domain`):
 *
 *	# comment
 *	domain NAME PATH			one line; PATH: the rest of the line
 *	allow SUBJECTS TYPES:packet PERMS;	may span lines
 *
 * SUBJECTS, TYPES, PERMS: a name or `{ name ... }`.  SUBJECTS are declared
 * domains, unconfined_t or unlabeled_t; PERMS are send, recv, forward_in,
 * forward_out.
 */
struct tok {
	const char *s;
	size_t len;
	unsigned int line;
};

struct pstate {
	struct ipt2bpf_policy *p;
	struct ipt2bpf_diag *diag;
	struct tok *toks; /* the pending allow statement */
	unsigned int n_toks, cap_toks;
	unsigned int stmt_line;
};

__attribute__((format(printf, 3, 4))) static int perr(struct pstate *ps, unsigned int line,
						      const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ipt2bpf_diag_set(ps->diag, -EINVAL, "%s:%u: %s", ps->p->source, line, msg);
}

static bool tok_is(const struct tok *t, const char *s)
{
	return t->len == strlen(s) && !memcmp(t->s, s, t->len);
}

static int find_domain(const struct ipt2bpf_policy *p, const char *s, size_t len)
{
	for (unsigned int i = 0; i < p->n_domains; i++)
		if (strlen(p->domains[i].name) == len && !memcmp(p->domains[i].name, s, len))
			return (int)i;
	return -1;
}

static int parse_domain(struct pstate *ps, const char *line, size_t len, unsigned int ln)
{
	struct ipt2bpf_policy *p = ps->p;
	struct ipt2bpf_sec_domain *d;
	const char *s = line, *end = line + len, *name;
	size_t nlen, plen;

	while (s < end && isspace((unsigned char)*s))
		s++;
	name = s;
	while (s < end && !isspace((unsigned char)*s))
		s++;
	nlen = (size_t)(s - name);
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && (isspace((unsigned char)end[-1]) || end[-1] == ';'))
		end--;
	plen = (size_t)(end - s);
	if (!nlen)
		return perr(ps, ln, "domain: missing NAME (domain NAME CGROUP-PATH)");
	if (!ipt2bpf_sec_ident(name, nlen))
		return perr(ps, ln,
			    "domain: '%.*s' is not an SELinux identifier (at most %d characters of "
			    "letters, digits, '_', '.', '-')",
			    (int)nlen, name, IPT2BPF_SEC_NAME_MAX - 1);
	if ((nlen == strlen(IPT2BPF_SEC_UNCONFINED) &&
	     !memcmp(name, IPT2BPF_SEC_UNCONFINED, nlen)) ||
	    (nlen == strlen(IPT2BPF_SEC_UNLABELED) && !memcmp(name, IPT2BPF_SEC_UNLABELED, nlen)))
		return perr(ps, ln, "domain: %.*s is built in and cannot be bound to a cgroup",
			    (int)nlen, name);
	if (find_domain(p, name, nlen) >= 0)
		return perr(ps, ln, "domain %.*s is declared twice (first on line %u)", (int)nlen,
			    name, p->domains[find_domain(p, name, nlen)].line);
	if (!plen)
		return perr(ps, ln, "domain %.*s: missing CGROUP-PATH (domain NAME CGROUP-PATH)",
			    (int)nlen, name);
	if (*s != '/')
		return perr(ps, ln, "domain %.*s: '%.*s' is not an absolute path", (int)nlen, name,
			    (int)plen, s);
	if (plen >= PATH_MAX)
		return perr(ps, ln, "domain %.*s: path too long", (int)nlen, name);
	if (p->n_domains >= IPT2BPF_SEC_DOMAINS_MAX)
		return perr(ps, ln, "more than %d domains", IPT2BPF_SEC_DOMAINS_MAX);
	d = realloc(p->domains, (p->n_domains + 1) * sizeof(*d));
	if (!d)
		return ipt2bpf_diag_set(ps->diag, -ENOMEM, "out of memory");
	p->domains = d;
	d += p->n_domains++;
	memset(d, 0, sizeof(*d));
	memcpy(d->name, name, nlen);
	memcpy(d->path, s, plen);
	d->line = ln;
	return 0;
}

/* A name or `{ name ... }` at toks[*i]; names[] gets pointers into the tokens. */
static int parse_set(struct pstate *ps, unsigned int *i, const char *what, const struct tok **names,
		     unsigned int max, unsigned int *n)
{
	const struct tok *t = ps->toks;

	*n = 0;
	if (*i >= ps->n_toks)
		return perr(ps, t[ps->n_toks - 1].line, "allow: missing %s", what);
	if (!tok_is(&t[*i], "{")) {
		if (tok_is(&t[*i], "}") || tok_is(&t[*i], ":") || tok_is(&t[*i], ";"))
			return perr(ps, t[*i].line, "allow: expected %s, found '%.*s'", what,
				    (int)t[*i].len, t[*i].s);
		names[(*n)++] = &t[(*i)++];
		return 0;
	}
	for ((*i)++; *i < ps->n_toks && !tok_is(&t[*i], "}"); (*i)++) {
		if (tok_is(&t[*i], "{") || tok_is(&t[*i], ":") || tok_is(&t[*i], ";"))
			return perr(ps, t[*i].line, "allow: unexpected '%.*s' in a set of %s",
				    (int)t[*i].len, t[*i].s, what);
		if (*n >= max)
			return perr(ps, t[*i].line, "allow: more than %u %s in a set", max, what);
		names[(*n)++] = &t[*i];
	}
	if (*i >= ps->n_toks)
		return perr(ps, t[ps->n_toks - 1].line, "allow: set of %s not closed with '}'",
			    what);
	if (!*n)
		return perr(ps, t[*i].line, "allow: empty set of %s", what);
	(*i)++;
	return 0;
}

#define SET_MAX 64

static int parse_allow(struct pstate *ps)
{
	struct ipt2bpf_policy *p = ps->p;
	const struct tok *subj[SET_MAX], *types[SET_MAX], *perms[SET_MAX], *t = ps->toks;
	unsigned int n_subj, n_types, n_perms, i = 1;
	uint32_t bits = 0;
	int err;

	err = parse_set(ps, &i, "subject (a domain)", subj, SET_MAX, &n_subj);
	if (!err)
		err = parse_set(ps, &i, "type", types, SET_MAX, &n_types);
	if (err)
		return err;
	if (i >= ps->n_toks || !tok_is(&t[i], ":"))
		return perr(ps, i < ps->n_toks ? t[i].line : t[i - 1].line,
			    "allow: expected ':packet' after the type (allow DOMAIN TYPE:packet "
			    "{ PERMS };)");
	i++;
	if (i >= ps->n_toks)
		return perr(ps, t[i - 1].line, "allow: missing the class after ':'");
	if (!tok_is(&t[i], "packet"))
		return perr(ps, t[i].line,
			    "allow: class '%.*s' is not supported (only the packet class: "
			    "TYPE:packet)",
			    (int)t[i].len, t[i].s);
	i++;
	err = parse_set(ps, &i, "permission", perms, SET_MAX, &n_perms);
	if (err)
		return err;
	if (i != ps->n_toks)
		return perr(ps, t[i].line, "allow: unexpected '%.*s' before ';'", (int)t[i].len,
			    t[i].s);

	for (unsigned int k = 0; k < n_perms; k++) {
		uint32_t bit = 0;

		for (size_t m = 0; m < ARRAY_SIZE(perm_names); m++)
			if (tok_is(perms[k], perm_names[m].name))
				bit = perm_names[m].bit;
		for (size_t m = 0; !bit && m < ARRAY_SIZE(perm_other); m++)
			if (tok_is(perms[k], perm_other[m]))
				return perr(
					ps, perms[k]->line,
					"allow: permission %s is not enforced by ipt2bpf (send, "
					"recv, forward_in, forward_out are)",
					perm_other[m]);
		if (!bit)
			return perr(ps, perms[k]->line,
				    "allow: unknown permission '%.*s' (send, recv, forward_in, "
				    "forward_out)",
				    (int)perms[k]->len, perms[k]->s);
		bits |= bit;
	}
	for (unsigned int k = 0; k < n_types; k++)
		if (!ipt2bpf_sec_ident(types[k]->s, types[k]->len))
			return perr(ps, types[k]->line,
				    "allow: type '%.*s' is not an SELinux identifier (at most %d "
				    "characters of letters, digits, '_', '.', '-')",
				    (int)types[k]->len, types[k]->s, IPT2BPF_SEC_NAME_MAX - 1);
	for (unsigned int s = 0; s < n_subj; s++) {
		int d = find_domain(p, subj[s]->s, subj[s]->len);
		unsigned int sid;

		if (d >= 0)
			sid = (unsigned int)d;
		else if (tok_is(subj[s], IPT2BPF_SEC_UNCONFINED))
			sid = ipt2bpf_policy_unconfined(p);
		else if (tok_is(subj[s], IPT2BPF_SEC_UNLABELED))
			sid = ipt2bpf_policy_unlabeled(p);
		else
			return perr(ps, subj[s]->line,
				    "allow: unknown domain '%.*s' (declare it first: domain %.*s "
				    "CGROUP-PATH; or use %s, %s)",
				    (int)subj[s]->len, subj[s]->s, (int)subj[s]->len, subj[s]->s,
				    IPT2BPF_SEC_UNCONFINED, IPT2BPF_SEC_UNLABELED);
		for (unsigned int k = 0; k < n_types; k++) {
			struct ipt2bpf_sec_allow *a;

			if (p->n_allows >= IPT2BPF_SEC_ALLOWS_MAX)
				return perr(ps, ps->stmt_line, "more than %d allow rules",
					    IPT2BPF_SEC_ALLOWS_MAX);
			a = realloc(p->allows, (p->n_allows + 1) * sizeof(*a));
			if (!a)
				return ipt2bpf_diag_set(ps->diag, -ENOMEM, "out of memory");
			p->allows = a;
			a += p->n_allows++;
			memset(a, 0, sizeof(*a));
			a->subj = sid;
			memcpy(a->type, types[k]->s, types[k]->len);
			a->perms = bits;
			a->line = ps->stmt_line;
		}
	}
	return 0;
}

static int tok_push(struct pstate *ps, const char *s, size_t len, unsigned int line)
{
	if (ps->n_toks == ps->cap_toks) {
		unsigned int cap = ps->cap_toks ? 2 * ps->cap_toks : 32;
		struct tok *nt = realloc(ps->toks, cap * sizeof(*nt));

		if (!nt)
			return ipt2bpf_diag_set(ps->diag, -ENOMEM, "out of memory");
		ps->toks = nt;
		ps->cap_toks = cap;
	}
	ps->toks[ps->n_toks++] = (struct tok){.s = s, .len = len, .line = line};
	return 0;
}

/* Tokens of one line (comment stripped) for a pending allow statement. */
static int tokenize(struct pstate *ps, const char *s, size_t len, unsigned int ln)
{
	const char *end = s + len;
	int err;

	while (s < end) {
		const char *w = s;

		if (isspace((unsigned char)*s)) {
			s++;
			continue;
		}
		if (*s == '{' || *s == '}' || *s == ':' || *s == ';') {
			err = tok_push(ps, s, 1, ln);
			if (err)
				return err;
			s++;
			if (w[0] == ';') {
				if (s < end && strspn(s, " \t\r") != (size_t)(end - s))
					return perr(ps, ln,
						    "text after ';' (one statement per "
						    "line)");
				return 1; /* the statement is complete */
			}
			continue;
		}
		while (s < end && !isspace((unsigned char)*s) && !strchr("{}:;", *s))
			s++;
		err = tok_push(ps, w, (size_t)(s - w), ln);
		if (err)
			return err;
	}
	return 0;
}

static int parse_text(struct pstate *ps, const char *text, size_t len)
{
	const char *s = text, *end = text + len;
	unsigned int ln = 0;
	int err;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end, *c, *w;
		size_t n;

		ln++;
		c = memchr(s, '#', (size_t)(le - s));
		if (c)
			le = c;
		for (c = s; c < le; c++)
			if (!isprint((unsigned char)*c) && *c != '\t' && *c != '\r')
				return perr(ps, ln, "unprintable character (0x%02x)",
					    (unsigned char)*c);
		w = s;
		while (w < le && isspace((unsigned char)*w))
			w++;
		n = 0;
		while (w + n < le && !isspace((unsigned char)w[n]) && !strchr("{}:;", w[n]))
			n++;
		if (ps->n_toks) {
			/* An allow statement continues. */
			err = tokenize(ps, w, (size_t)(le - w), ln);
		} else if (w == le) {
			err = 0;
		} else if (n == 6 && !memcmp(w, "domain", 6)) {
			err = parse_domain(ps, w + 6, (size_t)(le - w - 6), ln);
		} else if (n == 5 && !memcmp(w, "allow", 5)) {
			ps->stmt_line = ln;
			err = tokenize(ps, w, (size_t)(le - w), ln);
		} else {
			err = perr(ps, ln, "unknown statement '%.*s' (domain or allow)",
				   (int)(n ? n : 1), w);
		}
		if (err < 0)
			return err;
		if (err > 0) {
			ps->n_toks--; /* the ';' */
			err = parse_allow(ps);
			if (err)
				return err;
			ps->n_toks = 0;
		}
		s = nl ? nl + 1 : end;
	}
	if (ps->n_toks)
		return perr(ps, ps->stmt_line, "allow statement not ended with ';'");
	return 0;
}

int ipt2bpf_policy_parse(const char *text, size_t len, const char *source,
			 struct ipt2bpf_policy **out, struct ipt2bpf_diag *diag)
{
	_free_ipt2bpf_policy_ struct ipt2bpf_policy *p = calloc(1, sizeof(*p));
	struct pstate ps = {.p = p, .diag = diag};
	int err;

	*out = NULL;
	if (!p)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	snprintf(p->source, sizeof(p->source), "%s", source);
	if (len > IPT2BPF_SEC_POLICY_MAX)
		return ipt2bpf_diag_set(diag, -EFBIG, "%s: larger than %d bytes", source,
					IPT2BPF_SEC_POLICY_MAX);
	if (memchr(text, '\0', len))
		return ipt2bpf_diag_set(diag, -EINVAL, "%s: not a text file (NUL byte)", source);
	p->text = malloc(len + 1);
	if (!p->text)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	memcpy(p->text, text, len);
	p->text[len] = '\0';
	p->len = len;
	err = parse_text(&ps, p->text, len);
	free(ps.toks);
	if (err)
		return err;
	*out = TAKE_PTR(p);
	return 0;
}

int ipt2bpf_policy_read(const char *path, struct ipt2bpf_policy **out, struct ipt2bpf_diag *diag)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *f = fopen(path, "re");
	int err;

	*out = NULL;
	if (!f)
		return ipt2bpf_diag_set(diag, -errno, "%s: %s", path, strerror(errno));
	for (;;) {
		size_t got;

		if (len == cap) {
			char *nb;

			if (cap > IPT2BPF_SEC_POLICY_MAX) {
				fclose(f);
				return ipt2bpf_diag_set(diag, -EFBIG, "%s: larger than %d bytes",
							path, IPT2BPF_SEC_POLICY_MAX);
			}
			cap = cap ? 2 * cap : 4096;
			nb = realloc(buf, cap);
			if (!nb) {
				fclose(f);
				return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err)
		return ipt2bpf_diag_set(diag, err, "%s: read error", path);
	return ipt2bpf_policy_parse(buf ? buf : "", len, path, out, diag);
}

/* ------------------------------------------------------------ policy: cgroups */

static bool is_cgroup2(const char *path)
{
	struct statfs sf;

	return !statfs(path, &sf) && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/*
 * The level bpf_skb_ancestor_cgroup_id() counts: directories up to the
 * hierarchy's root, whose cgroup id (inode) is 1.  A mount of a subtree (a
 * cgroup namespace) does not show the root: refused rather than guessed.
 */
static int cgroup_level(const char *real, unsigned int *level)
{
	char cur[PATH_MAX];
	unsigned int n = 0;

	snprintf(cur, sizeof(cur), "%s", real);
	for (;;) {
		struct stat st;
		char *slash;

		if (stat(cur, &st) || !is_cgroup2(cur))
			return -ENOENT;
		if (st.st_ino == 1) {
			*level = n;
			return 0;
		}
		slash = strrchr(cur, '/');
		if (!slash || slash == cur)
			return -ENOENT;
		*slash = '\0';
		n++;
	}
}

int ipt2bpf_policy_resolve(struct ipt2bpf_policy *p, struct ipt2bpf_diag *diag)
{
	for (unsigned int i = 0; i < p->n_domains; i++) {
		struct ipt2bpf_sec_domain *d = &p->domains[i];
		char real[PATH_MAX];
		struct stat st;

		if (!realpath(d->path, real) || stat(real, &st))
			return ipt2bpf_diag_set(diag, -errno, "%s:%u: domain %s: %s: %s", p->source,
						d->line, d->name, d->path, strerror(errno));
		if (!S_ISDIR(st.st_mode) || !is_cgroup2(real))
			return ipt2bpf_diag_set(diag, -EINVAL,
						"%s:%u: domain %s: %s is not a cgroup v2 directory",
						p->source, d->line, d->name, d->path);
		if (cgroup_level(real, &d->level))
			return ipt2bpf_diag_set(diag, -EINVAL,
						"%s:%u: domain %s: %s: cannot find the cgroup v2 "
						"root above it (a cgroup namespace's mount?)",
						p->source, d->line, d->name, d->path);
		d->cgid = st.st_ino;
		for (unsigned int k = 0; k < i; k++)
			if (p->domains[k].cgid == d->cgid)
				return ipt2bpf_diag_set(diag, -EINVAL,
							"%s:%u: domain %s: %s is the cgroup of "
							"domain %s (line %u) already",
							p->source, d->line, d->name, d->path,
							p->domains[k].name, p->domains[k].line);
	}
	return 0;
}

/* ------------------------------------------------------------ sinks */

int ipt2bpf_label_sink_parse(const char *arg, struct ipt2bpf_secopts *o, struct ipt2bpf_diag *diag)
{
	unsigned long long v;
	char *end;

	if (!strcmp(arg, "none")) {
		o->sink_none = true;
		return 0;
	}
	if (strncmp(arg, "mark:", 5))
		return ipt2bpf_diag_set(diag, -EINVAL,
					"--label-sink %s: expected mark:MASK or none", arg);
	errno = 0;
	v = strtoull(arg + 5, &end, 0);
	if (errno || end == arg + 5 || *end || v > UINT32_MAX || !v)
		return ipt2bpf_diag_set(diag, -EINVAL,
					"--label-sink %s: MASK must be a nonzero 32-bit number "
					"(e.g. 0xff0000)",
					arg);
	/* Contiguous bits: the label id is shifted into them. */
	if (((v >> __builtin_ctzll(v)) & ((v >> __builtin_ctzll(v)) + 1)) != 0)
		return ipt2bpf_diag_set(diag, -EINVAL,
					"--label-sink %s: the mask's bits must be contiguous", arg);
	o->mark_mask = (uint32_t)v;
	return 0;
}

uint32_t ipt2bpf_label_mark_max(uint32_t mask)
{
	return mask ? mask >> __builtin_ctz(mask) : 0;
}

uint32_t ipt2bpf_label_mark(uint32_t mask, uint32_t id)
{
	if (!mask || id > ipt2bpf_label_mark_max(mask))
		return 0;
	return id << __builtin_ctz(mask);
}

/* ------------------------------------------------------------ stamps */

/* SK_STORAGE maps need BTF for their key and value (bpf_local_storage_map_alloc_check()). */
int ipt2bpf_sec_sk_map_create(struct ipt2bpf_diag *diag)
{
	struct btf *btf = btf__new_empty();
	int int_id, u32_id, u64_id, st_id, fd, err;

	if (!btf)
		return ipt2bpf_diag_set(diag, -ENOMEM, "out of memory");
	int_id = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	u32_id = btf__add_int(btf, "unsigned int", 4, 0);
	u64_id = btf__add_int(btf, "unsigned long long", 8, 0);
	st_id = btf__add_struct(btf, "ipt2bpf_sec_stamp", sizeof(struct ipt2bpf_sec_stamp));
	err = int_id < 0 || u32_id < 0 || u64_id < 0 || st_id < 0 ||
	      btf__add_field(btf, "cgid", u64_id, 0, 0) ||
	      btf__add_field(btf, "level1", u32_id, 64, 0) ||
	      btf__add_field(btf, "pad", u32_id, 96, 0);
	if (err || btf__load_into_kernel(btf)) {
		err = -errno;
		btf__free(btf);
		return ipt2bpf_diag_set(diag, err ? err : -EINVAL,
					"socket stamps: cannot load their BTF: %s",
					strerror(errno));
	}
	{
		LIBBPF_OPTS(bpf_map_create_opts, o, .btf_fd = (uint32_t)btf__fd(btf),
			    .btf_key_type_id = (uint32_t)int_id,
			    .btf_value_type_id = (uint32_t)st_id,
			    .map_flags = IPT2BPF_SEC_SK_FLAGS);

		fd = bpf_map_create(BPF_MAP_TYPE_SK_STORAGE, IPT2BPF_MAP_SEC_SK, sizeof(int),
				    sizeof(struct ipt2bpf_sec_stamp), 0, &o);
	}
	err = -errno;
	btf__free(btf);
	if (fd < 0)
		return ipt2bpf_diag_set(diag, err,
					"socket stamps: cannot create the %s map (SK_STORAGE): %s",
					IPT2BPF_MAP_SEC_SK, strerror(-err));
	return fd;
}

unsigned int ipt2bpf_sec_stamp_prog(const struct ipt2bpf_sec_domain *d, int sk_map_fd,
				    struct bpf_insn *insns)
{
	const int16_t off_cgid = (int16_t)offsetof(struct ipt2bpf_sec_stamp, cgid);
	const int16_t off_level = (int16_t)offsetof(struct ipt2bpf_sec_stamp, level1);
	struct bpf_insn prog[] = {
		BPF_MOV64_REG(BPF_REG_6, BPF_REG_1),
		BPF_LD_MAP_FD(BPF_REG_1, sk_map_fd),
		BPF_MOV64_REG(BPF_REG_2, BPF_REG_6),
		BPF_MOV64_IMM(BPF_REG_3, 0),
		BPF_MOV64_IMM(BPF_REG_4, BPF_SK_STORAGE_GET_F_CREATE),
		BPF_CALL_HELPER(BPF_FUNC_sk_storage_get),
		BPF_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 6),
		/* A deeper domain's program (they all run, deepest first or not) wins. */
		BPF_LDX_MEM(BPF_W, BPF_REG_1, BPF_REG_0, off_level),
		BPF_JMP_IMM(BPF_JGE, BPF_REG_1, (int32_t)d->level + 1, 4),
		BPF_LD_IMM64_RAW(BPF_REG_1, 0, d->cgid),
		BPF_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, off_cgid),
		BPF_ST_MEM(BPF_W, BPF_REG_0, off_level, (int32_t)d->level + 1),
		/* 1: allow the socket */
		BPF_MOV64_IMM(BPF_REG_0, 1),
		BPF_EXIT_INSN(),
	};

	_Static_assert(ARRAY_SIZE(prog) <= IPT2BPF_SEC_STAMP_INSNS, "stamp program too long");
	memcpy(insns, prog, sizeof(prog));
	return ARRAY_SIZE(prog);
}
