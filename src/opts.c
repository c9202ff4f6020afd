/* opts.c: the option parser and help printer behind every subcommand. */
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct opt *find_long(const struct opt_cmd *cmd, const char *name, size_t len,
                                   bool *negated);
static const struct opt *find_short(const struct opt_cmd *cmd, char c);
static int set_value(const struct opt_cmd *cmd, const struct opt *o, void *cfg, const char *value,
                     const char *as_given);

void strlist_push(struct strlist *l, const char *s)
{
	char **nv = realloc(l->v, (l->n + 2) * sizeof(*nv));
	if (!nv)
		abort();
	l->v = nv;
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		abort();
	l->n++;
	l->v[l->n] = NULL;
}

void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int opts_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	default: return -1;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int opts_parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0 || v != v)
		return -1;
	if (strcmp(end, "ms") == 0)
		v /= 1000.0;
	else if (strcmp(end, "m") == 0)
		v *= 60.0;
	else if (*end && strcmp(end, "s") != 0)
		return -1;
	*out = v;
	return 0;
}

/* Look up --name or --no-name. */
static const struct opt *find_long(const struct opt_cmd *cmd, const char *name, size_t len,
                                   bool *negated)
{
	*negated = false;
	for (const struct opt *o = cmd->opts; o->name; o++)
		if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
			return o;
	if (len > 3 && strncmp(name, "no-", 3) == 0) {
		for (const struct opt *o = cmd->opts; o->name; o++)
			if (o->kind == OPT_BOOL && strlen(o->name) == len - 3 &&
			    strncmp(o->name, name + 3, len - 3) == 0) {
				*negated = true;
				return o;
			}
	}
	return NULL;
}

static const struct opt *find_short(const struct opt_cmd *cmd, char c)
{
	for (const struct opt *o = cmd->opts; o->name; o++)
		if (o->short_name && o->short_name == c)
			return o;
	return NULL;
}

/* Store value into the field o describes; errors name the option as given. */
static int set_value(const struct opt_cmd *cmd, const struct opt *o, void *cfg, const char *value,
                     const char *as_given)
{
	char *field = (char *)cfg + o->offset;
	switch (o->kind) {
	case OPT_BOOL:
		if (!value || strcmp(value, "true") == 0 || strcmp(value, "1") == 0 ||
		    strcmp(value, "yes") == 0)
			*(bool *)field = true;
		else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
		         strcmp(value, "no") == 0)
			*(bool *)field = false;
		else
			goto bad;
		return 0;
	case OPT_STRING:
		free(*(char **)field);
		*(char **)field = strdup(value);
		return 0;
	case OPT_LIST: strlist_push((struct strlist *)field, value); return 0;
	case OPT_UINT:
		if (opts_parse_size(value, (uint64_t *)field) != 0)
			goto bad;
		return 0;
	case OPT_SECONDS:
		if (opts_parse_seconds(value, (double *)field) != 0)
			goto bad;
		return 0;
	}
bad:
	fprintf(stderr, "r2k %s: invalid value '%s' for option %s\n", cmd->name, value, as_given);
	return 2;
}

int opts_parse(const struct opt_cmd *cmd, int argc, char **argv, void *cfg)
{
	bool only_positional = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_positional || a[0] != '-' || a[1] == '\0') {
			if (cmd->positional_offset == OPT_NO_POSITIONAL) {
				fprintf(stderr, "r2k %s: unexpected argument '%s'\n", cmd->name, a);
				return 2;
			}
			strlist_push((struct strlist *)((char *)cfg + cmd->positional_offset), a);
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_positional = true;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			opts_help(cmd);
			return 1;
		}

		const struct opt *o = NULL;
		const char *value = NULL;
		bool negated = false, has_inline = false;
		char given[128];
		if (a[1] == '-' || a[2] != '\0') {
			/* --name[=value], or Go-style -name[=value] for OPT_SINGLE_DASH options. */
			const char *name = a + (a[1] == '-' ? 2 : 1);
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			o = find_long(cmd, name, len, &negated);
			if (o && a[1] != '-' && !(o->flags & OPT_SINGLE_DASH))
				o = NULL;
			snprintf(given, sizeof(given), "%.*s", (int)(len + (a[1] == '-' ? 2 : 1)),
			         a);
			if (!o) {
				fprintf(stderr, "r2k %s: unknown option '%s' (see 'r2k help %s')\n",
				        cmd->name, given, cmd->name);
				return 2;
			}
			if (eq) {
				value = eq + 1;
				has_inline = true;
			}
		} else {
			o = find_short(cmd, a[1]);
			snprintf(given, sizeof(given), "-%c", a[1]);
			if (!o) {
				fprintf(stderr, "r2k %s: unknown option '%s' (see 'r2k help %s')\n",
				        cmd->name, given, cmd->name);
				return 2;
			}
		}

		if (o->kind == OPT_BOOL) {
			if (negated && has_inline) {
				fprintf(stderr, "r2k %s: option %s takes no value\n", cmd->name,
				        given);
				return 2;
			}
			if (negated)
				value = "false";
		} else if (!has_inline) {
			if (i + 1 >= argc) {
				fprintf(stderr, "r2k %s: option %s needs a value (%s)\n", cmd->name,
				        given, o->metavar ? o->metavar : "VALUE");
				return 2;
			}
			value = argv[++i];
		}
		int rc = set_value(cmd, o, cfg, value, given);
		if (rc)
			return rc;
	}
	return 0;
}

void opts_help(const struct opt_cmd *cmd)
{
	printf("Usage: %s\n\n%s\n\nOptions:\n", cmd->usage, cmd->summary);
	for (const struct opt *o = cmd->opts; o->name; o++) {
		char left[96], shortp[8] = "    ";
		if (o->flags & OPT_HIDDEN)
			continue;
		if (o->short_name)
			snprintf(shortp, sizeof(shortp), "-%c, ", o->short_name);
		if (o->kind == OPT_BOOL)
			snprintf(left, sizeof(left), "  %s--[no-]%s", shortp, o->name);
		else
			snprintf(left, sizeof(left), "  %s--%s %s", shortp, o->name,
			         o->metavar ? o->metavar : "VALUE");
		const char *rep = o->kind == OPT_LIST ? " (repeatable)" : "";
		if (strlen(left) > 30)
			printf("%s\n%32s%s%s\n", left, "", o->help, rep);
		else
			printf("%-32s%s%s\n", left, o->help, rep);
	}
	printf("%-32s%s\n", "  -h, --help", "show this help");
	if (cmd->epilog)
		printf("\n%s", cmd->epilog);
}
