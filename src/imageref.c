/* imageref.c: image reference parsing and normalisation (Docker Hub short names, tags, digests). */
#include "imageref.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "registry.h"

static bool first_is_registry(const char *comp, size_t n);
static bool valid_repo(const char *s);
static bool valid_tag(const char *s);
static bool valid_digest(const char *s);

/* Docker's rule for "is the first path component a registry host". */
static bool first_is_registry(const char *comp, size_t n)
{
	if (n == 9 && !strncmp(comp, "localhost", 9))
		return true;
	for (size_t i = 0; i < n; i++)
		if (comp[i] == '.' || comp[i] == ':' || isupper((unsigned char)comp[i]))
			return true;
	return false;
}

/* Path components: [a-z0-9]+ joined by '.', '_', '__', '-'+, separated by '/'. */
static bool valid_repo(const char *s)
{
	if (!*s)
		return false;
	char prev = '/';
	for (const char *p = s; *p; p++) {
		bool alnum = islower((unsigned char)*p) || isdigit((unsigned char)*p);
		if (alnum) {
			prev = 'a';
			continue;
		}
		if (*p != '/' && *p != '.' && *p != '_' && *p != '-')
			return false;
		if (prev == '/' || (*p == '/' && prev != 'a'))
			return false;
		prev = *p;
	}
	return prev == 'a';
}

/* Tags: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
static bool valid_tag(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || *s == '.' || *s == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

/* Digests: ALGORITHM:HEX with at least 32 hex digits. */
static bool valid_digest(const char *s)
{
	const char *c = strchr(s, ':');
	if (!c || c == s || strlen(c + 1) < 32)
		return false;
	for (const char *p = s; p < c; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
		    !strchr("+._-", *p))
			return false;
	for (const char *p = c + 1; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return false;
	return true;
}

int imageref_parse(const char *s, struct imageref *r, char *err, size_t errlen)
{
	char buf[640];
	memset(r, 0, sizeof(*r));
	if (!s || !*s) {
		snprintf(err, errlen, "empty image reference");
		return -1;
	}
	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, errlen, "image reference too long");
		return -1;
	}
	if (strstr(s, "://")) {
		snprintf(err, errlen, "image reference '%s' must not have a scheme", s);
		return -1;
	}
	strcpy(buf, s);
	char *at = strchr(buf, '@');
	if (at) {
		*at = '\0';
		if (!valid_digest(at + 1) || strlen(at + 1) >= sizeof(r->digest)) {
			snprintf(err, errlen, "invalid digest in '%s'", s);
			return -1;
		}
		strcpy(r->digest, at + 1);
	}
	char *name = buf, *slash = strchr(buf, '/');
	if (slash && first_is_registry(buf, (size_t)(slash - buf))) {
		*slash = '\0';
		if (registry_host(buf, r->registry, sizeof(r->registry))) {
			snprintf(err, errlen, "invalid registry in '%s'", s);
			return -1;
		}
		name = slash + 1;
	} else {
		strcpy(r->registry, REGISTRY_HUB_HOST);
	}
	char *colon = strrchr(name, ':');
	if (colon && !strchr(colon, '/')) {
		*colon = '\0';
		if (!valid_tag(colon + 1)) {
			snprintf(err, errlen, "invalid tag in '%s'", s);
			return -1;
		}
		strcpy(r->tag, colon + 1);
	} else if (!r->digest[0]) {
		strcpy(r->tag, "latest");
	}
	if (!valid_repo(name)) {
		snprintf(err, errlen,
		         "invalid repository name in '%s' (lower-case letters, digits, '.', '_', "
		         "'-', '/')",
		         s);
		return -1;
	}
	bool hub = !strcmp(r->registry, REGISTRY_HUB_HOST);
	int n = snprintf(r->repo, sizeof(r->repo), "%s%s",
	                 hub && !strchr(name, '/') ? "library/" : "", name);
	if (n < 0 || (size_t)n >= sizeof(r->repo)) {
		snprintf(err, errlen, "repository name too long in '%s'", s);
		return -1;
	}
	return 0;
}

const char *imageref_ref(const struct imageref *r)
{
	return r->digest[0] ? r->digest : r->tag;
}

void imageref_format(const struct imageref *r, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s%s%s%s%s", r->registry, r->repo, r->tag[0] ? ":" : "", r->tag,
	         r->digest[0] ? "@" : "", r->digest);
}

bool imageref_is_registry(const char *s)
{
	if (registry_given_scheme(s) != REGISTRY_SCHEME_NONE)
		return true;
	size_t n = strcspn(s, "/");
	if (s[n] == '/')
		return s[n + 1] == '\0'; /* "host:5000/" */
	if (s[0] == '[' || (!strncmp(s, "localhost", 9) && (s[9] == '\0' || s[9] == ':')))
		return true;
	size_t c = strcspn(s, ":");
	return memchr(s, '.', c) != NULL;
}
