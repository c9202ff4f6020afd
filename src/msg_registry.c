/* msg_registry.c: JSON answers of registries (token, tag list, image index) with cJSON. */
#include "msg_registry.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

char *msg_token_decode(const char *json, size_t len)
{
	cJSON *o = cJSON_ParseWithLength(json, len);
	char *tok = NULL;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "token");
	if (!cJSON_IsString(t) || !*t->valuestring)
		t = cJSON_GetObjectItemCaseSensitive(o, "access_token");
	if (cJSON_IsString(t) && *t->valuestring)
		tok = strdup(t->valuestring);
	cJSON_Delete(o);
	return tok;
}

long msg_tags_count(const char *json, size_t len)
{
	cJSON *o = cJSON_ParseWithLength(json, len);
	long n = -1;
	if (cJSON_IsObject(o)) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tags");
		if (!t || cJSON_IsNull(t))
			n = 0;
		else if (cJSON_IsArray(t))
			n = cJSON_GetArraySize(t);
	}
	cJSON_Delete(o);
	return n;
}

void msg_tags_stream_reset(struct msg_tags_stream *t)
{
	memset(t, 0, sizeof(*t));
}

/* One byte outside a string: nesting, keys at depth 1, the "tags" array at depth 2. */
static void tags_stream_token(struct msg_tags_stream *t, char ch)
{
	switch (ch) {
	case '"':
		t->in_str = true;
		t->key = t->depth == 1 && t->expect_key;
		t->nlen = 0;
		if (t->in_tags && t->depth == 2)
			t->n++;
		else if (t->depth == 0)
			t->bad = true;
		break;
	case '{':
	case '[':
		if ((t->depth == 0 && ch != '{') || t->done)
			t->bad = true;
		t->depth++;
		t->expect_key = t->depth == 1;
		if (t->depth == 2 && ch == '[' && t->key_is_tags)
			t->in_tags = true;
		break;
	case '}':
	case ']':
		if (t->depth == 0)
			t->bad = true;
		else if (--t->depth == 0)
			t->done = true;
		if (t->depth < 2)
			t->in_tags = false;
		break;
	case ':':
		if (t->depth == 1)
			t->expect_key = false;
		break;
	case ',':
		if (t->depth == 1) {
			t->expect_key = true;
			t->key_is_tags = false;
		}
		break;
	default:
		if (t->depth == 0 && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n')
			t->bad = true;
	}
}

void msg_tags_stream_feed(struct msg_tags_stream *t, const char *buf, size_t len)
{
	for (size_t i = 0; i < len && !t->bad; i++) {
		char ch = buf[i];
		if (!t->in_str) {
			tags_stream_token(t, ch);
		} else if (t->esc) {
			t->esc = false;
			t->nlen = sizeof(t->name); /* an escaped key is no plain "tags" */
		} else if (ch == '\\') {
			t->esc = true;
		} else if (ch == '"') {
			t->in_str = false;
			if (t->key)
				t->key_is_tags = t->nlen == 4 && !memcmp(t->name, "tags", 4);
		} else if (t->key && t->nlen < sizeof(t->name)) {
			t->name[t->nlen++] = ch;
		} else if (t->key) {
			t->nlen = sizeof(t->name);
		}
	}
}

long msg_tags_stream_count(const struct msg_tags_stream *t)
{
	return t->done && !t->bad && !t->in_str ? t->n : -1;
}

int msg_index_pick(const char *json, size_t len, const char *os, const char *arch,
                   const char *variant, char *digest, size_t dlen)
{
	cJSON *o = cJSON_ParseWithLength(json, len);
	int rc = -1;
	const cJSON *m, *ms = cJSON_GetObjectItemCaseSensitive(o, "manifests");
	cJSON_ArrayForEach (m, ms) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "platform");
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "digest");
		const cJSON *pos = cJSON_GetObjectItemCaseSensitive(p, "os");
		const cJSON *parch = cJSON_GetObjectItemCaseSensitive(p, "architecture");
		const cJSON *pvar = cJSON_GetObjectItemCaseSensitive(p, "variant");
		if (!cJSON_IsString(d) || !cJSON_IsString(pos) || !cJSON_IsString(parch))
			continue;
		if (strcmp(pos->valuestring, os) || strcmp(parch->valuestring, arch))
			continue;
		if (variant && *variant &&
		    (!cJSON_IsString(pvar) || strcmp(pvar->valuestring, variant)))
			continue;
		if (strlen(d->valuestring) < dlen) {
			strcpy(digest, d->valuestring);
			rc = 0;
		}
		break;
	}
	cJSON_Delete(o);
	return rc;
}
