/* imageref.h: image reference parsing and normalisation (Docker Hub short names, tags, digests). */
#ifndef R2K_IMAGEREF_H
#define R2K_IMAGEREF_H

#include <stdbool.h>
#include <stddef.h>

/* A parsed, normalised image reference. */
struct imageref {
	char registry[256]; /* host[:port] to connect to; Docker Hub is registry-1.docker.io */
	char repo[256];     /* repository path; Docker Hub official images get library/ */
	char tag[129];      /* tag; "latest" when neither tag nor digest was given */
	char digest[136];   /* "sha256:<hex>" or "" */
};

/*
 * Parse s ([REGISTRY/]PATH[:TAG][@DIGEST]). The first component is a
 * registry when it holds '.' or ':', is "localhost", or has upper case
 * letters; otherwise the image is on Docker Hub. Returns 0, or -1 with the
 * reason in err.
 */
int imageref_parse(const char *s, struct imageref *r, char *err, size_t errlen);
/* The manifest reference: the digest when there is one, else the tag. */
const char *imageref_ref(const struct imageref *r);
/* Canonical text REGISTRY/REPO[:TAG][@DIGEST] into out (truncated to outlen). */
void imageref_format(const struct imageref *r, char *out, size_t outlen);
/* Whether s looks like a registry (host[:port], URL, trailing '/') rather than an image. */
bool imageref_is_registry(const char *s);

#endif
