/* msg_legacy.c: parses the old kaniko-runner JSON line with cJSON. */
#include "msg_legacy.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_cred(const cJSON *e, int i, struct registry_cred *c, char *err, size_t errlen);
static int cred_str(const cJSON *e, const char *k, int i, char **out, char *err, size_t errlen);
static void wipe_free(char *s);
static void wipe_json_secrets(const cJSON *creds);

/* Overwrite a secret before its memory is returned. */
static void wipe_free(char *s)
{
	if (!s)
		return;
	volatile char *v = s;
	while (*v)
		*v++ = 0;
	free(s);
}

/* Overwrite passwords and auth strings in the parsed JSON before it is freed. */
static void wipe_json_secrets(const cJSON *creds)
{
	const cJSON *e;
	if (!cJSON_IsArray(creds))
		return;
	cJSON_ArrayForEach (e, creds) {
		static const char *const keys[] = {"password", "auth"};
		for (int k = 0; k < 2; k++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, keys[k]);
			if (cJSON_IsString(v))
				explicit_bzero(v->valuestring, strlen(v->valuestring));
		}
	}
}

void msg_legacy_free(struct legacy_request *req)
{
	strlist_free(&req->command);
	for (size_t i = 0; i < req->ncreds; i++) {
		free(req->creds[i].registry);
		free(req->creds[i].username);
		wipe_free(req->creds[i].password);
		wipe_free(req->creds[i].auth);
	}
	free(req->creds);
	memset(req, 0, sizeof(*req));
}

/* One string field of credentials[i]; absent or null leaves *out NULL. */
static int cred_str(const cJSON *e, const char *k, int i, char **out, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, k);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v)) {
		snprintf(err, errlen, "credentials[%d].%s must be a string", i, k);
		return -1;
	}
	*out = strdup(v->valuestring);
	return *out ? 0 : -1;
}

/* Read credentials[i] into c; on error c holds what was read so far. */
static int get_cred(const cJSON *e, int i, struct registry_cred *c, char *err, size_t errlen)
{
	if (!cJSON_IsObject(e)) {
		snprintf(err, errlen, "credentials[%d] must be an object", i);
		return -1;
	}
	if (cred_str(e, "registry", i, &c->registry, err, errlen) ||
	    cred_str(e, "username", i, &c->username, err, errlen) ||
	    cred_str(e, "password", i, &c->password, err, errlen) ||
	    cred_str(e, "auth", i, &c->auth, err, errlen))
		return -1;
	const cJSON *ins = cJSON_GetObjectItemCaseSensitive(e, "insecure");
	if (ins && !cJSON_IsNull(ins) && !cJSON_IsBool(ins)) {
		snprintf(err, errlen, "credentials[%d].insecure must be true or false", i);
		return -1;
	}
	c->insecure = cJSON_IsTrue(ins);
	if (!c->registry || !*c->registry) {
		snprintf(err, errlen, "credentials[%d] has no registry", i);
		return -1;
	}
	bool has_auth = c->auth && *c->auth;
	bool has_user = c->username && *c->username;
	if (has_auth && has_user) {
		snprintf(
		        err, errlen,
		        "credentials[%d] (%s): give either auth or username and password, not both",
		        i, c->registry);
		return -1;
	}
	if (!has_auth && !(has_user && c->password)) {
		snprintf(err, errlen, "credentials[%d] (%s) needs username and password, or auth",
		         i, c->registry);
		return -1;
	}
	return 0;
}

int msg_legacy_decode(const char *json, size_t len, struct legacy_request *req, char *err,
                      size_t errlen)
{
	memset(req, 0, sizeof(*req));
	cJSON *o = msg_json_object(json, len, "request line contains a NUL byte", err, errlen);
	if (!o)
		return -1;
	int rc = -1;
	const cJSON *creds = NULL;
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(o, "command");
	if (!cJSON_IsArray(cmd) || cJSON_GetArraySize(cmd) == 0) {
		snprintf(err, errlen,
		         "request field 'command' must be a non-empty array of strings");
		goto out;
	}
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach (e, cmd) {
		if (!cJSON_IsString(e)) {
			snprintf(err, errlen, "request field 'command[%d]' must be a string", i);
			goto out;
		}
		strlist_push(&req->command, e->valuestring);
		i++;
	}
	creds = cJSON_GetObjectItemCaseSensitive(o, "credentials");
	if (creds && !cJSON_IsNull(creds)) {
		if (!cJSON_IsArray(creds)) {
			snprintf(err, errlen, "request field 'credentials' must be an array");
			goto out;
		}
		int n = cJSON_GetArraySize(creds);
		req->creds = calloc(n ? (size_t)n : 1, sizeof(*req->creds));
		if (!req->creds) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		i = 0;
		cJSON_ArrayForEach (e, creds) {
			req->ncreds++; /* counted first so that free sees a partial entry */
			if (get_cred(e, i, &req->creds[i], err, errlen))
				goto out;
			i++;
		}
	}
	rc = 0;
out:
	wipe_json_secrets(creds);
	cJSON_Delete(o);
	if (rc)
		msg_legacy_free(req);
	return rc;
}
