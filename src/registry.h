/* registry.h: registry host normalisation, config.json keys, scheme choice, credential matching. */
#ifndef R2K_REGISTRY_H
#define R2K_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "msg.h"
#include "opts.h"

/* config.json key of Docker Hub, whatever alias it was given as. */
#define REGISTRY_HUB_KEY "https://index.docker.io/v1/"
/* The host Docker Hub's registry API is served from. */
#define REGISTRY_HUB_HOST "registry-1.docker.io"

/* How a registry given by the user names its scheme. */
enum registry_scheme { REGISTRY_SCHEME_NONE, REGISTRY_SCHEME_HTTP, REGISTRY_SCHEME_HTTPS };

/*
 * The config.json key of a registry given as host[:port], a URL or a Docker
 * Hub alias (docker.io, index.docker.io, registry-1.docker.io,
 * https://index.docker.io/v1/): Docker Hub is REGISTRY_HUB_KEY, anything else
 * the lower-case host[:port] with scheme and path dropped. Returns 0, or -1
 * when given is empty or does not fit in out.
 */
int registry_key(const char *given, char *out, size_t outlen);
/* Like registry_key but Docker Hub is REGISTRY_HUB_HOST: the host to connect to. */
int registry_host(const char *given, char *out, size_t outlen);
/* The scheme written in given ("https://..."), or REGISTRY_SCHEME_NONE. */
enum registry_scheme registry_given_scheme(const char *given);
/* Whether two registries, each given in any accepted form, are the same. */
bool registry_host_match(const char *a, const char *b);
/*
 * Whether go-containerregistry would talk plain HTTP to this host[:port]
 * without being told: localhost, 127.0.0.0/8, ::1, RFC 1918 addresses, *.local.
 */
bool registry_plain_http_by_default(const char *hostport);
/* Whether hostport appears (in any accepted form) in list. */
bool registry_in_list(const struct strlist *list, const char *hostport);
/* The FILE of the first HOST=FILE entry in list whose HOST matches, or NULL. */
const char *registry_lookup_kv(const struct strlist *list, const char *hostport);
/* The last credential whose registry matches hostport (the one config.json keeps), or NULL. */
const struct registry_cred *registry_find_cred(const struct registry_cred *creds, size_t n,
                                               const char *hostport);
/*
 * Parse KEY=VALUE pairs (registry, username, password, auth, insecure) where
 * each registry= starts a new entry. Returns 0, or -1 with a message naming
 * the pair's position (never its value) in err.
 */
int registry_creds_parse(const struct strlist *kv, struct registry_cred **out, size_t *n, char *err,
                         size_t errlen);
/* Free (and wipe) credentials from registry_creds_parse. */
void registry_creds_free(struct registry_cred *creds, size_t n);
/* base64 of "user:password" (or the cred's auth as is) into a malloc'd string. */
char *registry_cred_basic(const struct registry_cred *c);

#endif
