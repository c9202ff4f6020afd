/* legacy_argv.h: what a legacy client may run: the configured executor, a context in the workspace.
 */
#ifndef R2K_LEGACY_ARGV_H
#define R2K_LEGACY_ARGV_H

#include <stddef.h>

#include "opts.h"

/*
 * Check a legacy command and build the argv to run. cmd->v[0] must equal
 * executor. The build context (--context DIR, --context=DIR, -c DIR, -cDIR,
 * dir:// prefix allowed) must be given and resolve (realpath) to a directory
 * strictly inside workspace; an absolute --dockerfile/-f must resolve inside
 * workspace too, a relative one inside the context; so must the paths the
 * executor writes (--digest-file, --tar-path, ...). Resolved paths replace
 * the given ones in *out, so a symlink swapped later changes nothing.
 * Returns 0 with a malloc'd NULL-terminated *out, or -1 with a reason in err.
 */
int legacy_argv_check(const char *executor, const char *workspace, const struct strlist *cmd,
                      char ***out, char *err, size_t errlen);
void legacy_argv_free(char **argv);

#endif
