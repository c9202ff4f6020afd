/* dockerfile.c: the base images a Dockerfile's FROM lines name, with ARG substitution. */
#include "dockerfile.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A growing string. */
struct sbuf {
	char *p;
	size_t n, cap;
};

/* Global ARGs: value NULL means declared without a value (unset). */
struct vars {
	char **names, **values;
	size_t n;
};

/* A here-document whose body lines are still to be skipped. */
struct heredoc {
	char word[64]; /* the line that ends it */
	bool strip;    /* <<-: leading tabs do not count */
};

#define MAX_HEREDOCS 8

struct parser {
	const char *text;
	char escape;
	struct vars vars;
	struct strlist stages; /* stage names, lower-cased */
	const struct strlist *build_args;
	char *err;
	size_t errlen;
	int line;
};

static void sb_putc(struct sbuf *b, char c);
static void sb_puts(struct sbuf *b, const char *s, size_t n);
static const char *var_get(const struct vars *v, const char *name, size_t n);
static void var_set(struct vars *v, const char *name, size_t n, const char *value);
static int subst(struct parser *ps, const char **pp, bool nested, struct sbuf *out);
static char *next_word(struct parser *ps, const char **pp);
static int do_arg(struct parser *ps, const char *args);
static int do_from(struct parser *ps, const char *args, struct strlist *images);
static int instruction(struct parser *ps, const char *line, bool *seen_from,
                       struct strlist *images);
static void platform_vars(struct vars *v, const char *platform);
static bool directive(const char *s, char *escape);
static bool heredoc_word(const char *w, size_t n, struct heredoc *h);
static size_t heredocs(const char *line, char escape, struct heredoc *h, size_t max);
static bool heredoc_end(const struct heredoc *h, const char *line);

/* Append one character. */
static void sb_putc(struct sbuf *b, char c)
{
	sb_puts(b, &c, 1);
}

/* Append n bytes and keep the buffer NUL-terminated. */
static void sb_puts(struct sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* The value of a variable, or NULL when unset or undeclared. */
static const char *var_get(const struct vars *v, const char *name, size_t n)
{
	for (size_t i = v->n; i-- > 0;)
		if (strlen(v->names[i]) == n && !strncmp(v->names[i], name, n))
			return v->values[i];
	return NULL;
}

/* Declare a variable (value may be NULL). */
static void var_set(struct vars *v, const char *name, size_t n, const char *value)
{
	v->names = realloc(v->names, (v->n + 1) * sizeof(char *));
	v->values = realloc(v->values, (v->n + 1) * sizeof(char *));
	if (!v->names || !v->values)
		abort();
	v->names[v->n] = strndup(name, n);
	v->values[v->n] = value ? strdup(value) : NULL;
	v->n++;
}

/*
 * Substitute variables from *pp into out up to the end of the string or,
 * when nested, up to the closing '}' (consumed).
 */
static int subst(struct parser *ps, const char **pp, bool nested, struct sbuf *out)
{
	const char *p = *pp;
	for (;;) {
		if (!*p) {
			if (nested) {
				snprintf(ps->err, ps->errlen, "line %d: missing '}'", ps->line);
				return -1;
			}
			break;
		}
		if (nested && *p == '}') {
			p++;
			break;
		}
		if (*p == ps->escape && p[1]) {
			sb_putc(out, p[1]);
			p += 2;
			continue;
		}
		if (*p != '$') {
			sb_putc(out, *p++);
			continue;
		}
		p++;
		bool braced = *p == '{';
		if (braced)
			p++;
		const char *name = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		size_t nl = (size_t)(p - name);
		if (nl == 0) {
			if (braced) {
				snprintf(ps->err, ps->errlen, "line %d: bad substitution",
				         ps->line);
				return -1;
			}
			sb_putc(out, '$');
			continue;
		}
		const char *val = var_get(&ps->vars, name, nl);
		if (!braced || *p == '}') {
			if (braced)
				p++;
			if (val)
				sb_puts(out, val, strlen(val));
			continue;
		}
		bool colon = *p == ':';
		if (colon)
			p++;
		char op = *p;
		if (op != '-' && op != '+') {
			snprintf(ps->err, ps->errlen,
			         "line %d: unsupported substitution '${%.*s%s%c'", ps->line,
			         (int)nl, name, colon ? ":" : "", op ? op : ' ');
			return -1;
		}
		p++;
		struct sbuf word = {0};
		sb_puts(&word, "", 0);
		if (subst(ps, &p, true, &word)) {
			free(word.p);
			return -1;
		}
		bool set = val && (!colon || *val);
		if (op == '-')
			sb_puts(out, set ? val : word.p, strlen(set ? val : word.p));
		else if (set)
			sb_puts(out, word.p, word.n);
		free(word.p);
	}
	*pp = p;
	return 0;
}

/* The next whitespace-separated word (quotes kept together, then removed), or NULL. */
static char *next_word(struct parser *ps, const char **pp)
{
	const char *p = *pp;
	while (isspace((unsigned char)*p))
		p++;
	if (!*p)
		return NULL;
	struct sbuf w = {0};
	char q = 0;
	sb_puts(&w, "", 0);
	for (; *p && (q || !isspace((unsigned char)*p)); p++) {
		if (q && *p == q) {
			q = 0;
		} else if (!q && (*p == '"' || *p == '\'')) {
			q = *p;
		} else if (*p == ps->escape && p[1] && q != '\'') {
			sb_putc(&w, *p); /* kept for subst to resolve */
			sb_putc(&w, *++p);
		} else {
			sb_putc(&w, *p);
		}
	}
	*pp = p;
	return w.p;
}

/* ARG NAME[=VALUE]... before the first FROM. */
static int do_arg(struct parser *ps, const char *args)
{
	char *w;
	int n = 0;
	while ((w = next_word(ps, &args))) {
		char *eq = strchr(w, '=');
		size_t nl = eq ? (size_t)(eq - w) : strlen(w);
		const char *val = NULL;
		struct sbuf sv = {0};
		if (eq) {
			const char *vp = eq + 1;
			sb_puts(&sv, "", 0);
			if (subst(ps, &vp, false, &sv)) {
				free(sv.p);
				free(w);
				return -1;
			}
			val = sv.p;
		}
		for (size_t i = 0; ps->build_args && i < ps->build_args->n; i++) {
			const char *ba = ps->build_args->v[i], *be = strchr(ba, '=');
			if (be && (size_t)(be - ba) == nl && !strncmp(ba, w, nl))
				val = be + 1;
		}
		if (!val)
			val = var_get(&ps->vars, w,
			              nl); /* ARG TARGETARCH keeps the automatic value */
		if (nl == 0) {
			snprintf(ps->err, ps->errlen, "line %d: ARG without a name", ps->line);
			free(sv.p);
			free(w);
			return -1;
		}
		var_set(&ps->vars, w, nl, val);
		free(sv.p);
		free(w);
		n++;
	}
	if (n == 0) {
		snprintf(ps->err, ps->errlen, "line %d: ARG needs a name", ps->line);
		return -1;
	}
	return 0;
}

/* FROM [--flag=value]... IMAGE [AS NAME] */
static int do_from(struct parser *ps, const char *args, struct strlist *images)
{
	char *w, *image = NULL;
	int rc = -1;
	while ((w = next_word(ps, &args)) && !strncmp(w, "--", 2))
		free(w);
	if (!w) {
		snprintf(ps->err, ps->errlen, "line %d: FROM needs an image", ps->line);
		return -1;
	}
	struct sbuf img = {0};
	const char *ip = w;
	sb_puts(&img, "", 0);
	if (subst(ps, &ip, false, &img))
		goto out;
	image = img.p;
	char *as = next_word(ps, &args), *name = NULL;
	if (as) {
		name = next_word(ps, &args);
		char *extra = name ? next_word(ps, &args) : NULL;
		if (strcasecmp(as, "as") || !name || extra) {
			snprintf(ps->err, ps->errlen, "line %d: expected FROM IMAGE [AS NAME]",
			         ps->line);
			free(as);
			free(name);
			free(extra);
			goto out;
		}
		free(as);
	}
	if (!*image) {
		snprintf(ps->err, ps->errlen,
		         "line %d: FROM image '%s' is empty after substitution", ps->line, w);
		free(name);
		goto out;
	}
	bool skip = !strcasecmp(image, "scratch");
	for (size_t i = 0; i < ps->stages.n && !skip; i++)
		skip = !strcasecmp(ps->stages.v[i], image);
	for (size_t i = 0; i < images->n && !skip; i++)
		skip = !strcmp(images->v[i], image);
	if (!skip)
		strlist_push(images, image);
	if (name) {
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		strlist_push(&ps->stages, name);
		free(name);
	}
	rc = 0;
out:
	free(img.p);
	free(w);
	return rc;
}

/* Dispatch one logical line. */
static int instruction(struct parser *ps, const char *line, bool *seen_from, struct strlist *images)
{
	const char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	const char *kw = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	size_t kl = (size_t)(p - kw);
	if (kl == 4 && !strncasecmp(kw, "FROM", 4)) {
		*seen_from = true;
		return do_from(ps, p, images);
	}
	if (kl == 3 && !strncasecmp(kw, "ARG", 3) && !*seen_from)
		return do_arg(ps, p);
	return 0;
}

const char *dockerfile_host_arch(void)
{
#if defined(__aarch64__)
	return "arm64";
#elif defined(__arm__)
	return "arm";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__powerpc64__)
	return "ppc64le";
#elif defined(__i386__)
	return "386";
#else
	return "amd64";
#endif
}

/* Declare the automatic platform ARGs: TARGET* from platform, BUILD* from the host. */
static void platform_vars(struct vars *v, const char *platform)
{
	char host[32], tp[64];
	snprintf(host, sizeof(host), "linux/%s", dockerfile_host_arch());
	var_set(v, "BUILDPLATFORM", 13, host);
	var_set(v, "BUILDOS", 7, "linux");
	var_set(v, "BUILDARCH", 9, host + 6);
	var_set(v, "BUILDVARIANT", 12, "");
	snprintf(tp, sizeof(tp), "%s", platform ? platform : "");
	if (!strchr(tp, '/'))
		snprintf(tp, sizeof(tp), "%s", host);
	var_set(v, "TARGETPLATFORM", 14, tp);
	char *arch = strchr(tp, '/');
	*arch++ = '\0';
	char *variant = strchr(arch, '/');
	if (variant)
		*variant++ = '\0';
	var_set(v, "TARGETOS", 8, tp);
	var_set(v, "TARGETARCH", 10, arch);
	var_set(v, "TARGETVARIANT", 13, variant ? variant : "");
}

/*
 * Whether s is a parser directive line ("# key=value" with key syntax,
 * escape or check, in any case); an escape directive's character goes to
 * *escape.
 */
static bool directive(const char *s, char *escape)
{
	if (*s++ != '#')
		return false;
	while (*s == ' ' || *s == '\t')
		s++;
	const char *k = s;
	while (isalnum((unsigned char)*s))
		s++;
	size_t kl = (size_t)(s - k);
	while (*s == ' ' || *s == '\t')
		s++;
	if (kl == 0 || !isalpha((unsigned char)*k) || *s++ != '=')
		return false;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return false;
	if (kl == 6 && !strncasecmp(k, "escape", 6)) {
		if ((*s == '\\' || *s == '`') && !s[1])
			*escape = *s;
		return true;
	}
	return (kl == 6 && !strncasecmp(k, "syntax", 6)) ||
	       (kl == 5 && !strncasecmp(k, "check", 5));
}

/* Parse one word of a RUN, COPY or ADD line as a here-document opener (<<EOF, <<-"EOF", 3<<'EOF').
 */
static bool heredoc_word(const char *w, size_t n, struct heredoc *h)
{
	const char *q = w, *e = w + n;
	while (q < e && isdigit((unsigned char)*q))
		q++;
	if (e - q < 3 || q[0] != '<' || q[1] != '<')
		return false;
	q += 2;
	h->strip = *q == '-';
	if (h->strip)
		q++;
	if (e - q >= 2 && (*q == '"' || *q == '\'') && e[-1] == *q) {
		q++;
		e--;
	}
	if (e <= q || (size_t)(e - q) >= sizeof(h->word))
		return false;
	for (const char *c = q; c < e; c++)
		if (*c == '<' || *c == '"' || *c == '\'')
			return false;
	memcpy(h->word, q, (size_t)(e - q));
	h->word[e - q] = '\0';
	return true;
}

/*
 * The here-documents a RUN, COPY or ADD line opens, in order: words (split
 * at whitespace outside quotes) that start with <<. Returns how many went to h.
 */
static size_t heredocs(const char *line, char escape, struct heredoc *h, size_t max)
{
	const char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	const char *kw = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	size_t kl = (size_t)(p - kw), n = 0;
	if (!((kl == 3 && (!strncasecmp(kw, "RUN", 3) || !strncasecmp(kw, "ADD", 3))) ||
	      (kl == 4 && !strncasecmp(kw, "COPY", 4))))
		return 0;
	while (*p && n < max) {
		while (isspace((unsigned char)*p))
			p++;
		const char *w = p;
		char quote = 0;
		for (; *p && (quote || !isspace((unsigned char)*p)); p++) {
			if (*p == escape && p[1] && quote != '\'')
				p++;
			else if (quote && *p == quote)
				quote = 0;
			else if (!quote && (*p == '"' || *p == '\''))
				quote = *p;
		}
		if (p > w && heredoc_word(w, (size_t)(p - w), &h[n]))
			n++;
	}
	return n;
}

/* Whether line ends here-document h. */
static bool heredoc_end(const struct heredoc *h, const char *line)
{
	if (h->strip)
		while (*line == '\t')
			line++;
	return !strcmp(line, h->word);
}

int dockerfile_base_images(const char *text, const struct strlist *build_args, const char *platform,
                           struct strlist *images, char *err, size_t errlen)
{
	struct parser ps = {.text = text,
	                    .escape = '\\',
	                    .build_args = build_args,
	                    .err = err,
	                    .errlen = errlen};
	struct sbuf logical = {0};
	struct heredoc hd[MAX_HEREDOCS];
	size_t nhd = 0, ihd = 0;
	bool directives = true, seen_from = false, cont = false;
	int lineno = 0, rc = 0;
	const char *p = text;
	if (!strncmp(p, "\xef\xbb\xbf", 3))
		p += 3; /* a UTF-8 byte order mark */
	platform_vars(&ps.vars, platform);
	while (*p && rc == 0) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		char *line = strndup(p, n);
		p += n + (eol ? 1 : 0);
		lineno++;
		size_t ln = strlen(line);
		while (ln && (line[ln - 1] == '\r' || isspace((unsigned char)line[ln - 1])))
			line[--ln] = '\0';
		if (ihd < nhd) {
			/* A here-document's body: neither instructions nor comments. */
			if (heredoc_end(&hd[ihd], line))
				ihd++;
			free(line);
			continue;
		}
		const char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		if (directives && directive(s, &ps.escape)) {
			free(line);
			continue;
		}
		directives = false;
		if (*s == '#' || (!*s && cont)) {
			free(line);
			continue; /* comments, and blank lines inside a continuation */
		}
		if (!cont)
			ps.line = lineno;
		bool more = ln && line[ln - 1] == ps.escape;
		if (more)
			line[--ln] = '\0';
		sb_puts(&logical, line, strlen(line));
		free(line);
		cont = more;
		if (!cont && logical.n) {
			rc = instruction(&ps, logical.p, &seen_from, images);
			nhd = heredocs(logical.p, ps.escape, hd, MAX_HEREDOCS);
			ihd = 0;
			logical.n = 0;
		}
	}
	if (rc == 0 && logical.n)
		rc = instruction(&ps, logical.p, &seen_from, images);
	if (rc == 0 && !seen_from) {
		snprintf(err, errlen, "no FROM instruction");
		rc = -1;
	}
	free(logical.p);
	for (size_t i = 0; i < ps.vars.n; i++) {
		free(ps.vars.names[i]);
		free(ps.vars.values[i]);
	}
	free(ps.vars.names);
	free(ps.vars.values);
	strlist_free(&ps.stages);
	return rc;
}
