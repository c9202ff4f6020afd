/* wwwauth.h: WWW-Authenticate header parsing (RFC 7235 challenges and auth-params). */
#ifndef R2K_WWWAUTH_H
#define R2K_WWWAUTH_H

#include <stddef.h>

#define WWWAUTH_MAX_PARAMS     16
#define WWWAUTH_MAX_CHALLENGES 32 /* per struct wwwauth, over all headers */

/* One challenge: a scheme with either a token68 or name=value parameters. */
struct wwwauth_challenge {
	char *scheme;                     /* as sent; compare case-insensitively */
	char *token68;                    /* or NULL */
	char *names[WWWAUTH_MAX_PARAMS];  /* lower-cased */
	char *values[WWWAUTH_MAX_PARAMS]; /* unquoted, escapes resolved */
	size_t nparams;
};

/* All challenges of a response (several headers append to one list). */
struct wwwauth {
	struct wwwauth_challenge *v;
	size_t n;
};

/*
 * Append the challenges of one header value. Returns 0, or -1 when the value
 * is malformed or would bring the list past WWWAUTH_MAX_CHALLENGES (the
 * challenges before the fault are kept). Linear in the value's length.
 */
int wwwauth_parse(struct wwwauth *wa, const char *value);
/* The first challenge of this scheme (case-insensitive), or NULL. */
const struct wwwauth_challenge *wwwauth_find(const struct wwwauth *wa, const char *scheme);
/* The value of parameter name (case-insensitive), or NULL. */
const char *wwwauth_param(const struct wwwauth_challenge *c, const char *name);
void wwwauth_free(struct wwwauth *wa);

#endif
