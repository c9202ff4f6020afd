/*
 * sha256.c: SHA-256 with OpenSSL's low-level functions. They run the same
 * code (SHA-NI or AVX2) as EVP, but EVP's first use initialises OpenSSL 3's
 * providers and configuration: about 2 MiB of libcrypto paged in and 1 ms
 * per process, which is a fifth of an idle runner's memory. The low-level
 * API is deprecated in OpenSSL 3 but still provided; this file is the only
 * user, so moving off it later touches nothing else.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "sha256.h"

#include <openssl/sha.h>
#include <stdlib.h>

struct r2k_sha256 {
	SHA256_CTX c;
};

struct r2k_sha256 *r2k_sha256_new(void)
{
	struct r2k_sha256 *s = malloc(sizeof(*s));
	if (s && SHA256_Init(&s->c) != 1) {
		free(s);
		return NULL;
	}
	return s;
}

void r2k_sha256_update(struct r2k_sha256 *s, const void *data, size_t len)
{
	SHA256_Update(&s->c, data, len);
}

void r2k_sha256_final(struct r2k_sha256 *s, uint8_t out[R2K_SHA256_LEN])
{
	SHA256_Final(out, &s->c);
}

void r2k_sha256_free(struct r2k_sha256 *s)
{
	free(s);
}
