/* dockerfile.h: the base images a Dockerfile's FROM lines name, with ARG substitution. */
#ifndef R2K_DOCKERFILE_H
#define R2K_DOCKERFILE_H

#include <stddef.h>

#include "opts.h"

/*
 * Append to images, once each and in order, the images the FROM lines of
 * text name. Global ARGs (before the first FROM) give defaults that
 * build_args ("K=V") override; $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word},
 * ${VAR-word} and ${VAR+word} are substituted (nested too). The automatic
 * platform ARGs (TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT from
 * platform, "os/arch[/variant]" or NULL for the host's; BUILDPLATFORM,
 * BUILDOS, BUILDARCH, BUILDVARIANT from the host) are set too. FROM flags
 * (--platform=...) are skipped, as are "scratch" and the names of earlier
 * stages (case-insensitive). Honours a UTF-8 byte order mark, line
 * continuations, comments, here-documents of RUN, COPY and ADD, and the
 * parser directives (escape; syntax and check are recognised so that a
 * later escape still counts). Returns 0, or -1 with "line N: reason" in err.
 */
int dockerfile_base_images(const char *text, const struct strlist *build_args, const char *platform,
                           struct strlist *images, char *err, size_t errlen);
/* The host's architecture as image platforms name it (amd64, arm64, ...). */
const char *dockerfile_host_arch(void);

#endif
