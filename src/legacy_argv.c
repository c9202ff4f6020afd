/* legacy_argv.c: confines a legacy kaniko-runner command to the executor and the shared workspace.
 */
#include "legacy_argv.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Which path-valued flag an argument is. */
enum flag { FLAG_NONE, FLAG_CONTEXT, FLAG_DOCKERFILE, FLAG_OUTPUT };

struct flag_form {
	const char *name; /* as written, without value */
	enum flag flag;
	bool shorthand; /* -cDIR is also accepted */
};

static const struct flag_form forms[] = {
        {"--context", FLAG_CONTEXT, false},
        {"-c", FLAG_CONTEXT, true},
        {"--dockerfile", FLAG_DOCKERFILE, false},
        {"-f", FLAG_DOCKERFILE, true},
        /* Paths the executor writes to: kept inside the shared workspace too. */
        {"--digest-file", FLAG_OUTPUT, false},
        {"--image-name-with-digest-file", FLAG_OUTPUT, false},
        {"--image-name-tag-with-digest-file", FLAG_OUTPUT, false},
        {"--oci-layout-path", FLAG_OUTPUT, false},
        {"--tar-path", FLAG_OUTPUT, false},
        {"--tarPath", FLAG_OUTPUT, false}, /* Kaniko's deprecated spelling of --tar-path */
        {"--kaniko-dir", FLAG_OUTPUT, false},
};

static enum flag match(const char *arg, const char **value, size_t *prefix, bool *separate);
static bool inside(const char *dir, const char *path);
static int check_value(enum flag f, const char *value, const char *ws, const char *workspace,
                       char *ctx, char *out, char *err, size_t errlen);
static int resolve_output(const char *given, char *out, char *err, size_t errlen);
static int resolve(const char *base, const char *given, bool want_dir, char *out, char *err,
                   size_t errlen, const char *what);

/*
 * Whether arg is one of the path flags; *value points at an attached value
 * (after '=' or a shorthand letter) or is NULL when the value is the next
 * argument; *prefix is how many bytes of arg precede the value.
 */
static enum flag match(const char *arg, const char **value, size_t *prefix, bool *separate)
{
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t n = strlen(forms[i].name);
		if (strncmp(arg, forms[i].name, n) != 0)
			continue;
		if (arg[n] == '\0') {
			*separate = true;
			*value = NULL;
			*prefix = 0;
			return forms[i].flag;
		}
		if (arg[n] == '=' || forms[i].shorthand) {
			size_t skip = n + (arg[n] == '=');
			*separate = false;
			*value = arg + skip;
			*prefix = skip;
			return forms[i].flag;
		}
	}
	return FLAG_NONE;
}

/* Whether path (resolved) lies strictly inside dir (resolved). */
static bool inside(const char *dir, const char *path)
{
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return path[0] == '/' && path[1] != '\0';
	return strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

/* realpath of given (relative to base when not absolute), checked to be a dir or a file. */
static int resolve(const char *base, const char *given, bool want_dir, char *out, char *err,
                   size_t errlen, const char *what)
{
	char joined[PATH_MAX * 2];
	if (given[0] != '/' && base)
		snprintf(joined, sizeof(joined), "%s/%s", base, given);
	else
		snprintf(joined, sizeof(joined), "%s", given);
	struct stat st;
	if (!realpath(joined, out) || stat(out, &st) != 0) {
		snprintf(err, errlen, "%s '%s': %s", what, given, strerror(errno));
		return -1;
	}
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s '%s' is not a %s", what, given,
		         want_dir ? "directory" : "regular file");
		return -1;
	}
	return 0;
}

/*
 * A path the executor will write: its parent must exist (realpath) and the
 * result is the resolved parent plus the last component.
 */
static int resolve_output(const char *given, char *out, char *err, size_t errlen)
{
	char dir[PATH_MAX], parent[PATH_MAX];
	const char *slash = strrchr(given, '/');
	const char *base = slash ? slash + 1 : given;
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		snprintf(err, errlen, "'%s' must name a file or directory", given);
		return -1;
	}
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == given)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - given), given);
	if (!realpath(dir, parent)) {
		snprintf(err, errlen, "'%s': %s", given, strerror(errno));
		return -1;
	}
	size_t pl = strcmp(parent, "/") == 0 ? 0 : strlen(parent), bl = strlen(base);
	if (pl + 1 + bl >= PATH_MAX) {
		snprintf(err, errlen, "'%s': path too long", given);
		return -1;
	}
	memcpy(out, parent, pl);
	out[pl] = '/';
	memcpy(out + pl + 1, base, bl + 1);
	return 0;
}

/* Check one flag's value; the resolved path goes to out (and to ctx for the context). */
static int check_value(enum flag f, const char *value, const char *ws, const char *workspace,
                       char *ctx, char *out, char *err, size_t errlen)
{
	const char *what = f == FLAG_CONTEXT      ? "context"
	                   : f == FLAG_DOCKERFILE ? "dockerfile"
	                                          : "output path";
	if (f == FLAG_CONTEXT) {
		if (strncmp(value, "dir://", 6) == 0) {
			value += 6;
		} else if (strstr(value, "://")) {
			snprintf(err, errlen,
			         "context '%s' refused: only directories (dir://) in the shared "
			         "workspace %s",
			         value, workspace);
			return -1;
		}
		if (resolve(NULL, value, true, out, err, errlen, what))
			return -1;
	} else if (f == FLAG_DOCKERFILE) {
		if (resolve(value[0] == '/' ? NULL : ctx, value, false, out, err, errlen, what))
			return -1;
	} else if (resolve_output(value, out, err, errlen)) {
		return -1;
	}
	if (!inside(ws, out)) {
		snprintf(err, errlen, "%s '%s' refused: it is not inside the shared workspace %s",
		         what, value, workspace);
		return -1;
	}
	if (f == FLAG_CONTEXT)
		snprintf(ctx, PATH_MAX, "%s", out);
	return 0;
}

void legacy_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

int legacy_argv_check(const char *executor, const char *workspace, const struct strlist *cmd,
                      char ***out, char *err, size_t errlen)
{
	char ws[PATH_MAX], ctx[PATH_MAX];
	*out = NULL;
	if (cmd->n == 0 || strcmp(cmd->v[0], executor) != 0) {
		snprintf(err, errlen, "command '%s' refused: this runner only runs %s",
		         cmd->n ? cmd->v[0] : "", executor);
		return -1;
	}
	if (!realpath(workspace, ws)) {
		snprintf(err, errlen, "shared workspace %s: %s", workspace, strerror(errno));
		return -1;
	}
	char **argv = calloc(cmd->n + 1, sizeof(*argv));
	if (!argv) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cmd->n; i++)
		if (!(argv[i] = strdup(cmd->v[i])))
			goto oom;

	/* Two passes: the context first, since a relative Dockerfile is found inside it. */
	ctx[0] = '\0';
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 1; i < cmd->n; i++) {
			const char *value;
			size_t prefix;
			bool separate;
			enum flag f = match(cmd->v[i], &value, &prefix, &separate);
			if (f == FLAG_NONE)
				continue;
			size_t vi = separate ? i + 1 : i;
			if (separate) {
				if (i + 1 >= cmd->n) {
					snprintf(err, errlen, "%s needs a value", cmd->v[i]);
					goto fail;
				}
				value = cmd->v[i + 1];
				i++;
			}
			if ((pass == 0) != (f == FLAG_CONTEXT))
				continue;
			char resolved[PATH_MAX];
			if (check_value(f, value, ws, workspace, ctx, resolved, err, errlen))
				goto fail;
			size_t len = prefix + strlen(resolved) + 1;
			char *nv = malloc(len);
			if (!nv)
				goto oom;
			memcpy(nv, cmd->v[vi], prefix);
			strcpy(nv + prefix, resolved);
			free(argv[vi]);
			argv[vi] = nv;
		}
		if (pass == 0 && !ctx[0]) {
			snprintf(err, errlen,
			         "command has no --context: give a directory inside the shared "
			         "workspace %s",
			         workspace);
			goto fail;
		}
	}
	*out = argv;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	legacy_argv_free(argv);
	return -1;
}
