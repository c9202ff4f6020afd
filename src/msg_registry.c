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
