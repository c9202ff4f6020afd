/* fuzz_wwwauth.c: WWW-Authenticate parsing never crashes, leaks or reads out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wwwauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct wwwauth wa = {0};
	wwwauth_parse(&wa, s);
	const struct wwwauth_challenge *c = wwwauth_find(&wa, "Bearer");
	if (c)
		(void)wwwauth_param(c, "realm");
	wwwauth_free(&wa);
	free(s);
	return 0;
}
