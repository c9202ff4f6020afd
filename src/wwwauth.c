/* wwwauth.c: WWW-Authenticate header parsing (RFC 7235 challenges and auth-params). */
#include "wwwauth.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_tchar(char c);
static bool is_t68char(char c);
static const char *skip_ows(const char *p);
static char *dup_n(const char *s, size_t n);
static const char *parse_quoted(const char *p, char **out);
static struct wwwauth_challenge *add_challenge(struct wwwauth *wa, const char *s, size_t n);

/* RFC 7230 tchar. */
static bool is_tchar(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 7235 token68 characters (without the trailing '='). */
static bool is_t68char(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("-._~+/", c));
}

/* Skip spaces and tabs. */
static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A NUL-terminated copy of n bytes. */
static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (!d)
		abort();
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Parse a quoted-string at p (on the opening quote); NULL when unterminated. */
static const char *parse_quoted(const char *p, char **out)
{
	const char *e = p + 1;
	while (*e && *e != '"')
		e += *e == '\\' && e[1] ? 2 : 1;
	if (*e != '"')
		return NULL;
	size_t n = 0;
	char *d = malloc((size_t)(e - p));
	if (!d)
		abort();
	for (p++; p < e; p++) {
		if (*p == '\\' && p + 1 < e)
			p++;
		d[n++] = *p;
	}
	d[n] = '\0';
	*out = d;
	return e + 1;
}

/* Append an empty challenge with scheme s[0..n). */
static struct wwwauth_challenge *add_challenge(struct wwwauth *wa, const char *s, size_t n)
{
	struct wwwauth_challenge *v = realloc(wa->v, (wa->n + 1) * sizeof(*v));
	if (!v)
		abort();
	wa->v = v;
	struct wwwauth_challenge *c = &v[wa->n++];
	memset(c, 0, sizeof(*c));
	c->scheme = dup_n(s, n);
	return c;
}

int wwwauth_parse(struct wwwauth *wa, const char *value)
{
	const char *p = value;
	struct wwwauth_challenge *cur = NULL;
	for (;;) {
		p = skip_ows(p);
		while (*p == ',') /* empty list elements are allowed */
			p = skip_ows(p + 1);
		if (!*p)
			return 0;
		const char *tok = p;
		while (is_tchar(*p))
			p++;
		size_t tn = (size_t)(p - tok);
		if (tn == 0)
			return -1;
		const char *after = skip_ows(p);
		if (!cur || *after != '=') {
			/* A new challenge: scheme, then token68 or parameters. */
			if (wa->n == WWWAUTH_MAX_CHALLENGES)
				return -1;
			cur = add_challenge(wa, tok, tn);
			p = after;
			const char *t = p;
			while (is_t68char(*p))
				p++;
			if (p > t) {
				const char *q = p;
				while (*q == '=')
					q++;
				const char *r = skip_ows(q);
				if (*r == '\0' || *r == ',') {
					/* "Basic abc==" followed by the end or a comma. */
					cur->token68 = dup_n(t, (size_t)(q - t));
					p = r;
					continue;
				}
			}
			p = t;
			continue;
		}
		/* name = value */
		if (cur->nparams == WWWAUTH_MAX_PARAMS)
			return -1;
		p = skip_ows(after + 1);
		char *val;
		if (*p == '"') {
			p = parse_quoted(p, &val);
			if (!p)
				return -1;
		} else {
			const char *v = p;
			while (is_tchar(*p))
				p++;
			if (p == v)
				return -1;
			val = dup_n(v, (size_t)(p - v));
		}
		char *name = dup_n(tok, tn);
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		cur->names[cur->nparams] = name;
		cur->values[cur->nparams++] = val;
		p = skip_ows(p);
		if (*p && *p != ',')
			return -1;
	}
}

const struct wwwauth_challenge *wwwauth_find(const struct wwwauth *wa, const char *scheme)
{
	for (size_t i = 0; i < wa->n; i++)
		if (strcasecmp(wa->v[i].scheme, scheme) == 0)
			return &wa->v[i];
	return NULL;
}

const char *wwwauth_param(const struct wwwauth_challenge *c, const char *name)
{
	for (size_t i = 0; i < c->nparams; i++)
		if (strcasecmp(c->names[i], name) == 0)
			return c->values[i];
	return NULL;
}

void wwwauth_free(struct wwwauth *wa)
{
	for (size_t i = 0; i < wa->n; i++) {
		struct wwwauth_challenge *c = &wa->v[i];
		free(c->scheme);
		free(c->token68);
		for (size_t j = 0; j < c->nparams; j++) {
			free(c->names[j]);
			free(c->values[j]);
		}
	}
	free(wa->v);
	wa->v = NULL;
	wa->n = 0;
}
