/* msg_registry.h: JSON answers of registries (token, tag list, image index). */
#ifndef R2K_MSG_REGISTRY_H
#define R2K_MSG_REGISTRY_H

#include <stddef.h>

/* The token of a token-service answer: "token", else "access_token"; malloc'd or NULL. */
char *msg_token_decode(const char *json, size_t len);
/* The number of tags in a tags/list answer ("tags": null counts 0); -1 when malformed. */
long msg_tags_count(const char *json, size_t len);
/*
 * The digest of the manifest for os/arch[/variant] in an image index or
 * manifest list into digest. Returns 0, or -1 when absent or malformed.
 */
int msg_index_pick(const char *json, size_t len, const char *os, const char *arch,
                   const char *variant, char *digest, size_t dlen);

#endif
