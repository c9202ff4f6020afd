/* creds.h: per-build registry credentials: the docker config.json a builder reads. */
#ifndef R2K_CREDS_H
#define R2K_CREDS_H

#include <stddef.h>

#include "msg.h"

/* The Docker Hub key in config.json (REGISTRY_HUB_KEY). */
#define CREDS_DOCKER_HUB_KEY "https://index.docker.io/v1/"

/*
 * registry_key() (registry.h) plus a check that the key needs no JSON
 * escaping. Normalise a registry as given in a request (host[:port], URL, Docker Hub
 * alias) to its config.json key: Docker Hub aliases become
 * CREDS_DOCKER_HUB_KEY, anything else the bare host[:port] (scheme, path and
 * trailing slash dropped). Returns 0, or -1 when registry is empty or out
 * too small.
 */
int creds_registry_key(const char *registry, char *out, size_t outlen);

/*
 * Render config.json for creds[0..n): {"auths": {KEY: {"auth": B64}}}, later
 * entries for the same key win. Returns a malloc'd string (the caller wipes
 * and frees it with creds_free_text), or NULL with a reason in err (no secret
 * in it).
 */
char *creds_render(const struct registry_cred *creds, size_t n, char *err, size_t errlen);
/* Overwrite and free text returned by creds_render. */
void creds_free_text(char *text);
/* Whether creds_render would take creds[0..n): 0, or -1 with the reason in err. */
int creds_check(const struct registry_cred *creds, size_t n, char *err, size_t errlen);

/*
 * Create dir (mode 0700; it must not exist yet or be a directory of ours) and
 * write dir/config.json (mode 0600) for creds[0..n), also when n is 0.
 * Returns 0, or -1 with a reason in err.
 */
int creds_write(const char *dir, const struct registry_cred *creds, size_t n, char *err,
                size_t errlen);

#endif
