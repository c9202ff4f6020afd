/* registry.c: registry host normalisation, config.json keys, scheme choice, credential matching. */
#include "registry.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_scheme(const char *s);
static bool valid_hostport(const char *h, size_t n);
static int bare_host(const char *given, char *out, size_t outlen);
static bool is_hub(const char *host);
static void split_host(const char *hostport, char *host, size_t hostlen);
static bool parse_bool(const char *v, bool *out);
static void wipe_free(char *s);

static const char *const hub_aliases[] = {
        "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", NULL,
};

/* The part of s after "http://" or "https://", or s itself. */
static const char *skip_scheme(const char *s)
{
	if (strncasecmp(s, "https://", 8) == 0)
		return s + 8;
	if (strncasecmp(s, "http://", 7) == 0)
		return s + 7;
	return s;
}

/* Whether h[0..n) is host[:port]: DNS labels or an [IPv6] literal, and a port 1-65535. */
static bool valid_hostport(const char *h, size_t n)
{
	size_t i = 0;
	if (n && h[0] == '[') {
		const char *e = memchr(h, ']', n);
		char v6[64];
		unsigned char a6[16];
		if (!e || (size_t)(e - h) - 1 >= sizeof(v6))
			return false;
		memcpy(v6, h + 1, (size_t)(e - h) - 1);
		v6[e - h - 1] = '\0';
		if (inet_pton(AF_INET6, v6, a6) != 1)
			return false;
		i = (size_t)(e - h) + 1;
	} else {
		size_t label = 0;
		for (; i < n && h[i] != ':'; i++) {
			char ch = h[i];
			if (ch == '.' && label > 0 && h[i - 1] != '-') {
				label = 0;
				continue;
			}
			if (!isalnum((unsigned char)ch) && ch != '-' && ch != '_')
				return false;
			if (label++ == 0 && ch == '-')
				return false;
		}
		if (label == 0 || h[i - 1] == '-')
			return false;
	}
	if (i == n)
		return true;
	if (h[i] != ':' || n - i - 1 == 0 || n - i - 1 > 5)
		return false;
	unsigned port = 0;
	for (i++; i < n; i++) {
		if (!isdigit((unsigned char)h[i]))
			return false;
		port = port * 10 + (unsigned)(h[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/* Lower-case host[:port] of given, without scheme or path; -1 when it is no host[:port]. */
static int bare_host(const char *given, char *out, size_t outlen)
{
	if (!given)
		return -1;
	const char *h = skip_scheme(given);
	size_t n = strcspn(h, "/");
	if (n == 0 || n >= outlen || !valid_hostport(h, n))
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)h[i]);
	out[n] = '\0';
	return 0;
}

/* Whether a bare host names Docker Hub. */
static bool is_hub(const char *host)
{
	for (int i = 0; hub_aliases[i]; i++)
		if (strcmp(host, hub_aliases[i]) == 0)
			return true;
	return false;
}

int registry_key(const char *given, char *out, size_t outlen)
{
	char h[256];
	if (bare_host(given, h, sizeof(h)))
		return -1;
	const char *k = is_hub(h) ? REGISTRY_HUB_KEY : h;
	if (strlen(k) >= outlen)
		return -1;
	strcpy(out, k);
	return 0;
}

int registry_host(const char *given, char *out, size_t outlen)
{
	char h[256];
	if (bare_host(given, h, sizeof(h)))
		return -1;
	const char *k = is_hub(h) ? REGISTRY_HUB_HOST : h;
	if (strlen(k) >= outlen)
		return -1;
	strcpy(out, k);
	return 0;
}

enum registry_scheme registry_given_scheme(const char *given)
{
	if (strncasecmp(given, "https://", 8) == 0)
		return REGISTRY_SCHEME_HTTPS;
	if (strncasecmp(given, "http://", 7) == 0)
		return REGISTRY_SCHEME_HTTP;
	return REGISTRY_SCHEME_NONE;
}

bool registry_host_match(const char *a, const char *b)
{
	char ka[256], kb[256];
	if (registry_key(a, ka, sizeof(ka)) || registry_key(b, kb, sizeof(kb)))
		return false;
	return strcmp(ka, kb) == 0;
}

/* The host of host[:port], [v6]:port or a bare IPv6 address, without brackets. */
static void split_host(const char *hostport, char *host, size_t hostlen)
{
	const char *s = hostport, *e;
	if (*s == '[') {
		s++;
		e = strchr(s, ']');
		if (!e)
			e = s + strlen(s);
	} else if ((e = strchr(s, ':')) && strchr(e + 1, ':')) {
		e = s + strlen(s); /* bare IPv6 */
	} else if (!e) {
		e = s + strlen(s);
	}
	size_t n = (size_t)(e - s) < hostlen ? (size_t)(e - s) : hostlen - 1;
	memcpy(host, s, n);
	host[n] = '\0';
}

bool registry_plain_http_by_default(const char *hostport)
{
	char host[256];
	unsigned char a4[4], a6[16];
	split_host(hostport, host, sizeof(host));
	size_t n = strlen(host);
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (n > 6 && strcasecmp(host + n - 6, ".local") == 0)
		return true;
	if (inet_pton(AF_INET, host, a4) == 1)
		return a4[0] == 127 || a4[0] == 10 || (a4[0] == 172 && (a4[1] & 0xf0) == 16) ||
		       (a4[0] == 192 && a4[1] == 168);
	if (inet_pton(AF_INET6, host, a6) == 1) {
		static const unsigned char loop6[16] = {[15] = 1};
		return memcmp(a6, loop6, 16) == 0;
	}
	return false;
}

bool registry_in_list(const struct strlist *list, const char *hostport)
{
	for (size_t i = 0; list && i < list->n; i++)
		if (registry_host_match(list->v[i], hostport))
			return true;
	return false;
}

const char *registry_lookup_kv(const struct strlist *list, const char *hostport)
{
	for (size_t i = 0; list && i < list->n; i++) {
		const char *eq = strchr(list->v[i], '=');
		char k[256];
		if (!eq || (size_t)(eq - list->v[i]) >= sizeof(k))
			continue;
		memcpy(k, list->v[i], (size_t)(eq - list->v[i]));
		k[eq - list->v[i]] = '\0';
		if (registry_host_match(k, hostport))
			return eq + 1;
	}
	return NULL;
}

const struct registry_cred *registry_find_cred(const struct registry_cred *creds, size_t n,
                                               const char *hostport)
{
	/* The last entry for a registry wins, as in the config.json creds.c writes. */
	for (size_t i = n; i-- > 0;)
		if (creds[i].registry && registry_host_match(creds[i].registry, hostport))
			return &creds[i];
	return NULL;
}

/* Parse true/false/1/0/yes/no. */
static bool parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes")) {
		*out = true;
		return true;
	}
	if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no")) {
		*out = false;
		return true;
	}
	return false;
}

/* Overwrite a secret with zeros, then free it. */
static void wipe_free(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

int registry_creds_parse(const struct strlist *kv, struct registry_cred **out, size_t *n, char *err,
                         size_t errlen)
{
	struct registry_cred *v = NULL;
	size_t nv = 0;
	for (size_t i = 0; i < kv->n; i++) {
		const char *p = kv->v[i], *eq = strchr(p, '=');
		size_t kl = eq ? (size_t)(eq - p) : 0;
		if (!eq || kl == 0) {
			snprintf(err, errlen, "credential field %zu: expected KEY=VALUE", i + 1);
			goto fail;
		}
		if (kl == 8 && !strncmp(p, "registry", 8)) {
			struct registry_cred *nvv = realloc(v, (nv + 1) * sizeof(*v));
			if (!nvv)
				abort();
			v = nvv;
			memset(&v[nv], 0, sizeof(v[nv]));
			v[nv++].registry = strdup(eq + 1);
			continue;
		}
		if (nv == 0) {
			snprintf(err, errlen,
			         "credential field %zu (%.*s): registry=HOST must come first",
			         i + 1, (int)kl, p);
			goto fail;
		}
		struct registry_cred *c = &v[nv - 1];
		char **slot = NULL;
		if (kl == 8 && !strncmp(p, "username", 8))
			slot = &c->username;
		else if (kl == 8 && !strncmp(p, "password", 8))
			slot = &c->password;
		else if (kl == 4 && !strncmp(p, "auth", 4))
			slot = &c->auth;
		else if (kl == 8 && !strncmp(p, "insecure", 8)) {
			if (!parse_bool(eq + 1, &c->insecure)) {
				snprintf(err, errlen,
				         "credential field %zu: insecure must be true or false",
				         i + 1);
				goto fail;
			}
			continue;
		} else {
			snprintf(err, errlen,
			         "credential field %zu: unknown key '%.*s' (registry, username, "
			         "password, "
			         "auth, insecure)",
			         i + 1, (int)(kl > 32 ? 32 : kl), p);
			goto fail;
		}
		wipe_free(*slot);
		*slot = strdup(eq + 1);
	}
	for (size_t i = 0; i < nv; i++) {
		char k[256];
		if (registry_key(v[i].registry, k, sizeof(k))) {
			snprintf(err, errlen, "credentials %zu: invalid registry", i + 1);
			goto fail;
		}
		if (!v[i].auth && !(v[i].username && v[i].password)) {
			snprintf(err, errlen,
			         "credentials for %s: need username and password, or auth", k);
			goto fail;
		}
	}
	*out = v;
	*n = nv;
	return 0;
fail:
	registry_creds_free(v, nv);
	return -1;
}

void registry_creds_free(struct registry_cred *creds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(creds[i].registry);
		free(creds[i].username);
		wipe_free(creds[i].password);
		wipe_free(creds[i].auth);
	}
	free(creds);
}

char *registry_cred_basic(const struct registry_cred *c)
{
	if (c->auth)
		return strdup(c->auth);
	if (!c->username || !c->password)
		return NULL;
	size_t ul = strlen(c->username), pl = strlen(c->password), n = ul + 1 + pl;
	unsigned char *plain = malloc(n + 1);
	char *b64 = malloc(4 * ((n + 2) / 3) + 1);
	if (!plain || !b64)
		abort();
	memcpy(plain, c->username, ul);
	plain[ul] = ':';
	memcpy(plain + ul + 1, c->password, pl);
	EVP_EncodeBlock((unsigned char *)b64, plain, (int)n);
	explicit_bzero(plain, n);
	free(plain);
	return b64;
}
