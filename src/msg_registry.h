/* msg_registry.h: JSON answers of registries (token, tag list, image index). */
#ifndef R2K_MSG_REGISTRY_H
#define R2K_MSG_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

/* The token of a token-service answer: "token", else "access_token"; malloc'd or NULL. */
char *msg_token_decode(const char *json, size_t len);
/* The number of tags in a tags/list answer ("tags": null counts 0); -1 when malformed. */
long msg_tags_count(const char *json, size_t len);
/*
 * Counts the strings of a tags/list answer's "tags" array as its bytes
 * arrive, for answers too large to keep. Zero it (or call
 * msg_tags_stream_reset), feed every chunk in order, then read the count.
 */
struct msg_tags_stream {
	long n;
	int depth;
	bool in_str, esc, expect_key, key, key_is_tags, in_tags, done, bad;
	char name[5];
	size_t nlen;
};
void msg_tags_stream_reset(struct msg_tags_stream *t);
void msg_tags_stream_feed(struct msg_tags_stream *t, const char *buf, size_t len);
/* The number of tags, or -1 when the answer was no complete JSON object. */
long msg_tags_stream_count(const struct msg_tags_stream *t);
/*
 * The digest of the manifest for os/arch[/variant] in an image index or
 * manifest list into digest. Returns 0, or -1 when absent or malformed.
 */
int msg_index_pick(const char *json, size_t len, const char *os, const char *arch,
                   const char *variant, char *digest, size_t dlen);

#endif
