/* opts.h: table-driven command-line parsing; one table per subcommand drives parsing and help. */
#ifndef R2K_OPTS_H
#define R2K_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable list of strings (repeatable options, positional arguments). */
struct strlist {
	char **v;
	size_t n;
};

void strlist_push(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);

enum opt_kind {
	OPT_BOOL,    /* --name sets true; --no-name sets false; --name=true|false */
	OPT_STRING,  /* char *, last one wins */
	OPT_LIST,    /* struct strlist, repeatable */
	OPT_UINT,    /* uint64_t; accepts K, M, G, T suffixes (powers of 1024) */
	OPT_SECONDS, /* double seconds; accepts a number with optional s, ms, m suffix */
};

/* Option flags. */
#define OPT_HIDDEN      0x1 /* accepted but not listed in help (compatibility aliases) */
#define OPT_SINGLE_DASH 0x2 /* also accepted as -name / -name=value (Go flag style) */

struct opt {
	const char *name; /* long name without dashes */
	char short_name;  /* 0 when none */
	enum opt_kind kind;
	size_t offset; /* offset of the field in the subcommand's config struct */
	const char *metavar;
	const char *help;
	int flags;
};

struct opt_cmd {
	const char *name;         /* "runner" */
	const char *usage;        /* "r2k runner [OPTIONS]" */
	const char *summary;      /* one line */
	const struct opt *opts;   /* terminated by an entry with name == NULL */
	size_t positional_offset; /* struct strlist for positional args, or (size_t)-1 */
	const char *epilog;       /* extra help text or NULL */
};

#define OPT_NO_POSITIONAL ((size_t)-1)

/*
 * Parse argv (argv[0] is the subcommand name) into cfg. Returns 0, 1 when
 * --help was given (help already printed), or 2 after printing one error
 * line to stderr.
 */
int opts_parse(const struct opt_cmd *cmd, int argc, char **argv, void *cfg);
/* Print the help text for cmd to stdout. */
void opts_help(const struct opt_cmd *cmd);
/* Parse a size with an optional K/M/G/T suffix; 0 on success. */
int opts_parse_size(const char *s, uint64_t *out);
/* Parse seconds with an optional ms/s/m suffix; 0 on success. */
int opts_parse_seconds(const char *s, double *out);

#endif
