/* msg_client.c: the client's JSON: credential variables in, --json output lines out. */
#include "msg_client.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t utf8_seq(const uint8_t *p, size_t left);
static char *utf8_clean(const char *s, size_t len);
static char *base64(const uint8_t *data, size_t len);
static char *wrap(const char *key, cJSON *inner);
static int cred_from_object(const cJSON *o, const char *what, int idx, const char *def_reg,
                            struct build_request *r, char *err, size_t errlen);
static void wipe(cJSON *n);

/* Zero every string in a parsed tree (it holds secrets) before it is freed. */
static void wipe(cJSON *n)
{
	for (; n; n = n->next) {
		if (cJSON_IsString(n) && n->valuestring)
			explicit_bzero(n->valuestring, strlen(n->valuestring));
		wipe(n->child);
	}
}

/* Length of the valid UTF-8 sequence at p, or 0 when it is invalid or cut short. */
static size_t utf8_seq(const uint8_t *p, size_t left)
{
	uint8_t c = p[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

bool msg_utf8_valid(const uint8_t *data, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_seq(data + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

/* A NUL-terminated copy of s[0..len) with invalid bytes (and NULs) replaced by U+FFFD. */
static char *utf8_clean(const char *s, size_t len)
{
	char *out = malloc(len * 3 + 1);
	if (!out)
		abort();
	size_t o = 0, i = 0;
	const uint8_t *p = (const uint8_t *)s;
	while (i < len) {
		size_t n = p[i] ? utf8_seq(p + i, len - i) : 0;
		if (n) {
			memcpy(out + o, p + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

static char *base64(const uint8_t *data, size_t len)
{
	static const char tbl[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1);
	if (!out)
		abort();
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = i + 1 < len ? tbl[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? tbl[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

/* {"key": inner} printed on one line; inner is consumed. */
static char *wrap(const char *key, cJSON *inner)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !inner)
		abort();
	cJSON_AddItemToObject(o, key, inner);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		abort();
	return s;
}

char *msg_json_stream(const char *stream, const uint8_t *data, size_t len)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		abort();
	cJSON_AddStringToObject(o, "stream", stream);
	bool text = msg_utf8_valid(data, len) && !memchr(data, '\0', len);
	char *s = text ? utf8_clean((const char *)data, len) : base64(data, len);
	cJSON_AddStringToObject(o, text ? "data" : "data_base64", s);
	free(s);
	char *line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!line)
		abort();
	return line;
}

char *msg_json_check(const char *json, size_t len)
{
	cJSON *c = cJSON_ParseWithLength(json, len);
	if (!c || !cJSON_IsObject(c)) {
		cJSON_Delete(c);
		return NULL;
	}
	/* Re-printed so that it is one line; strings were validated by the parser. */
	return wrap("check", c);
}

char *msg_json_log(const char *level, const char *origin, const char *msg, size_t len)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		abort();
	cJSON_AddStringToObject(o, "level", level);
	cJSON_AddStringToObject(o, "origin", origin);
	char *m = utf8_clean(msg, len);
	cJSON_AddStringToObject(o, "message", m);
	free(m);
	return wrap("log", o);
}

char *msg_json_exit(bool signalled, int value, const char *digest, int status)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		abort();
	cJSON_AddNumberToObject(o, signalled ? "signal" : "code", value);
	if (digest && *digest) {
		char *d = utf8_clean(digest, strlen(digest));
		cJSON_AddStringToObject(o, "digest", d);
		free(d);
	}
	cJSON_AddNumberToObject(o, "status", status);
	return wrap("exit", o);
}

char *msg_json_error(int code, const char *name, const char *origin, const char *msg, size_t len,
                     int status)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		abort();
	if (code)
		cJSON_AddNumberToObject(o, "code", code);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "origin", origin);
	char *m = utf8_clean(msg, len);
	cJSON_AddStringToObject(o, "message", m);
	free(m);
	cJSON_AddNumberToObject(o, "status", status);
	return wrap("error", o);
}

/* One credential object; errors name the variable and the entry, never a value. */
static int cred_from_object(const cJSON *o, const char *what, int idx, const char *def_reg,
                            struct build_request *r, char *err, size_t errlen)
{
	static const char *const keys[] = {"registry", "username", "password", "auth"};
	char where[96];
	if (idx >= 0)
		snprintf(where, sizeof(where), "%s: entry %d", what, idx + 1);
	else
		snprintf(where, sizeof(where), "%s", what);
	if (!cJSON_IsObject(o)) {
		snprintf(err, errlen, "%s must be a JSON object", where);
		return -1;
	}
	const char *v[4] = {NULL, NULL, NULL, NULL};
	for (int i = 0; i < 4; i++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
		if (!f || cJSON_IsNull(f))
			continue;
		if (!cJSON_IsString(f)) {
			snprintf(err, errlen, "%s: \"%s\" must be a string", where, keys[i]);
			return -1;
		}
		v[i] = f->valuestring;
	}
	const cJSON *ins = cJSON_GetObjectItemCaseSensitive(o, "insecure");
	if (ins && !cJSON_IsNull(ins) && !cJSON_IsBool(ins)) {
		snprintf(err, errlen, "%s: \"insecure\" must be true or false", where);
		return -1;
	}
	struct registry_cred c = {
	        .registry = (char *)(v[0] && *v[0] ? v[0] : def_reg),
	        .username = (char *)v[1],
	        .password = (char *)v[2],
	        .auth = (char *)v[3],
	        .insecure = cJSON_IsTrue(ins),
	};
	if (!c.registry || !*c.registry) {
		snprintf(err, errlen, "%s has no \"registry\"", where);
		return -1;
	}
	if (!(c.auth && *c.auth) && !(c.username && c.password)) {
		snprintf(err, errlen,
		         "%s (registry %s) needs \"username\" and \"password\", or \"auth\"", where,
		         c.registry);
		return -1;
	}
	if (c.auth && !*c.auth)
		c.auth = NULL;
	msg_request_add_cred(r, &c);
	return 0;
}

int msg_creds_parse(const char *json, const char *what, bool allow_list,
                    const char *default_registry, struct build_request *r, char *err, size_t errlen)
{
	cJSON *root = cJSON_Parse(json);
	int rc = -1;
	if (!root) {
		snprintf(err, errlen, "%s is not valid JSON", what);
		return -1;
	}
	if (cJSON_IsArray(root)) {
		if (!allow_list) {
			snprintf(err, errlen, "%s must be a JSON object", what);
			goto out;
		}
		int i = 0;
		const cJSON *e;
		cJSON_ArrayForEach (e, root) {
			if (cred_from_object(e, what, i, default_registry, r, err, errlen) < 0)
				goto out;
			i++;
		}
	} else if (cred_from_object(root, what, -1, default_registry, r, err, errlen) < 0) {
		goto out;
	}
	rc = 0;
out:
	wipe(root);
	cJSON_Delete(root);
	return rc;
}
