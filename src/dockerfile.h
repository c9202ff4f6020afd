/* dockerfile.h: the base images a Dockerfile's FROM lines name, with ARG substitution. */
#ifndef R2K_DOCKERFILE_H
#define R2K_DOCKERFILE_H

#include <stddef.h>

#include "opts.h"

/*
 * Append to images, once each and in order, the images the FROM lines of
 * text name. Global ARGs (before the first FROM) give defaults that
 * build_args ("K=V") override; $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word},
 * ${VAR-word} and ${VAR+word} are substituted (nested too). FROM flags
 * (--platform=...) are skipped, as are "scratch" and the names of earlier
 * stages (case-insensitive). Honours line continuations, comments and the
 * escape parser directive. Returns 0, or -1 with "line N: reason" in err.
 */
int dockerfile_base_images(const char *text, const struct strlist *build_args,
                           struct strlist *images, char *err, size_t errlen);

#endif
