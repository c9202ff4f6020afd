/* creds.c: per-build registry credentials: normalised keys and a private config.json. */
#include "creds.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

static bool key_char_ok(char c);

/* Characters allowed in a host[:port] key (IPv6 literals included): nothing to escape in JSON. */
static bool key_char_ok(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == ':' || c == '_' ||
	       c == '[' || c == ']';
}

int creds_registry_key(const char *registry, char *out, size_t outlen)
{
	if (!registry || registry_key(registry, out, outlen) != 0)
		return -1;
	if (strcmp(out, REGISTRY_HUB_KEY) == 0)
		return 0;
	for (const char *p = out; *p; p++)
		if (!key_char_ok(*p))
			return -1;
	return 0;
}

void creds_free_text(char *text)
{
	if (!text)
		return;
	explicit_bzero(text, strlen(text));
	free(text);
}

/*
 * Whether a is what config.json's auth holds: standard base64 (padded) of
 * "user:password". The builder would reject anything else, at push time.
 */
static bool auth_valid(const char *a)
{
	static const char alphabet[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(a), pad = 0;
	if (n == 0 || n % 4)
		return false;
	while (pad < 2 && a[n - 1 - pad] == '=')
		pad++;
	bool colon = false;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n - pad; i++) {
		const char *c = a[i] ? strchr(alphabet, a[i]) : NULL;
		if (!c)
			return false;
		acc = (acc << 6) | (uint32_t)(c - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (((acc >> bits) & 0xff) == ':')
				colon = true;
		}
	}
	return colon;
}

char *creds_render(const struct registry_cred *creds, size_t n, char *err, size_t errlen)
{
	char(*keys)[256] = calloc(n ? n : 1, sizeof(*keys));
	char **auths = calloc(n ? n : 1, sizeof(*auths));
	char *out = NULL;
	size_t cap = 32, len = 0;

	if (!keys || !auths) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const struct registry_cred *c = &creds[i];
		if (creds_registry_key(c->registry, keys[i], sizeof(keys[i])) != 0) {
			snprintf(err, errlen,
			         "credentials[%zu]: registry '%.200s' is not a host[:port], URL or "
			         "Docker Hub alias",
			         i, c->registry ? c->registry : "");
			goto done;
		}
		if (c->auth && *c->auth) {
			if (!auth_valid(c->auth)) {
				snprintf(err, errlen,
				         "credentials[%zu] (%s): auth is not base64 of "
				         "\"username:password\"",
				         i, keys[i]);
				goto done;
			}
			auths[i] = strdup(c->auth);
		} else if (c->username && c->password) {
			struct registry_cred up = {.username = c->username,
			                           .password = c->password};
			auths[i] = registry_cred_basic(&up);
		} else {
			snprintf(err, errlen,
			         "credentials[%zu] (%s): needs auth, or username and password", i,
			         keys[i]);
			goto done;
		}
		if (!auths[i]) {
			snprintf(err, errlen, "out of memory");
			goto done;
		}
		cap += strlen(keys[i]) + strlen(auths[i]) + 32;
	}
	out = malloc(cap);
	if (!out) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	len = (size_t)snprintf(out, cap, "{\"auths\": {");
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		bool later = false; /* a later entry for the same key wins */
		for (size_t j = i + 1; j < n && !later; j++)
			later = strcmp(keys[i], keys[j]) == 0;
		if (later)
			continue;
		len += (size_t)snprintf(out + len, cap - len, "%s\"%s\": {\"auth\": \"%s\"}",
		                        first ? "" : ", ", keys[i], auths[i]);
		first = false;
	}
	snprintf(out + len, cap - len, "}}\n");
done:
	for (size_t i = 0; auths && i < n; i++)
		creds_free_text(auths[i]);
	free(auths);
	free(keys);
	return out;
}

int creds_check(const struct registry_cred *creds, size_t n, char *err, size_t errlen)
{
	char *text = creds_render(creds, n, err, errlen);
	int rc = text ? 0 : -1;
	creds_free_text(text);
	return rc;
}

int creds_write(const char *dir, const struct registry_cred *creds, size_t n, char *err,
                size_t errlen)
{
	char path[4096];
	char *text = creds_render(creds, n, err, errlen);
	if (!text)
		return -1;
	int rc = -1, fd = -1;
	struct stat st;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		goto out;
	}
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: not a directory of ours", dir);
		goto out;
	}
	if (chmod(dir, 0700) != 0) {
		snprintf(err, errlen, "chmod %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/config.json", dir) >= sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", dir);
		goto out;
	}
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "create %s: %s", path, strerror(errno));
		goto out;
	}
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "write %s: %s", path, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	rc = 0;
out:
	if (fd >= 0 && close(fd) != 0 && rc == 0) {
		snprintf(err, errlen, "write %s: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc != 0 && fd >= 0)
		unlink(path);
	creds_free_text(text);
	return rc;
}
