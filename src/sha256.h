/* sha256.h: SHA-256 of the context stream, as both ends compute it for CONTEXT_END. */
#ifndef R2K_SHA256_H
#define R2K_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define R2K_SHA256_LEN 32

struct r2k_sha256;

/* A fresh digest, or NULL when out of memory. */
struct r2k_sha256 *r2k_sha256_new(void);
/* Fold data[0..len) into the digest. */
void r2k_sha256_update(struct r2k_sha256 *s, const void *data, size_t len);
/* The digest of everything folded in; s must not be updated afterwards. */
void r2k_sha256_final(struct r2k_sha256 *s, uint8_t out[R2K_SHA256_LEN]);
/* Release s (NULL is fine). */
void r2k_sha256_free(struct r2k_sha256 *s);

#endif
