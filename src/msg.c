/* msg.c: build requests and check results to and from JSON with cJSON. */
#include "msg.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_str(cJSON *o, const char *k, const char *v);
static void add_list(cJSON *o, const char *k, const struct strlist *l);
static int empty_field(const struct build_request *r, char *err, size_t errlen);
static int get_str(const cJSON *o, const char *k, char **out, char *err, size_t errlen);
static int get_bool(const cJSON *o, const char *k, bool *out, char *err, size_t errlen);
static int get_list(const cJSON *o, const char *k, struct strlist *out, bool need_eq, char *err,
                    size_t errlen);
static char *dup_or_null(const char *s);

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void msg_request_init(struct build_request *r)
{
	memset(r, 0, sizeof(*r));
	r->push = true;
}

void msg_request_add_cred(struct build_request *r, const struct registry_cred *c)
{
	struct registry_cred *nc = realloc(r->creds, (r->ncreds + 1) * sizeof(*nc));
	if (!nc)
		abort();
	r->creds = nc;
	nc[r->ncreds].registry = dup_or_null(c->registry);
	nc[r->ncreds].username = dup_or_null(c->username);
	nc[r->ncreds].password = dup_or_null(c->password);
	nc[r->ncreds].auth = dup_or_null(c->auth);
	nc[r->ncreds].insecure = c->insecure;
	r->ncreds++;
}

void msg_request_free(struct build_request *r)
{
	strlist_free(&r->destinations);
	strlist_free(&r->build_args);
	strlist_free(&r->labels);
	strlist_free(&r->insecure_registries);
	free(r->dockerfile);
	free(r->platform);
	free(r->target);
	free(r->cache_repo);
	free(r->cache_dir);
	for (size_t i = 0; i < r->ncreds; i++)
		msg_cred_clear(&r->creds[i]);
	free(r->creds);
	msg_request_init(r);
}

void msg_cred_clear(struct registry_cred *c)
{
	/* Secrets are wiped before the memory is returned. */
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	if (c->auth)
		explicit_bzero(c->auth, strlen(c->auth));
	free(c->registry);
	free(c->username);
	free(c->password);
	free(c->auth);
	memset(c, 0, sizeof(*c));
}

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
}

static void add_list(cJSON *o, const char *k, const struct strlist *l)
{
	cJSON *a = cJSON_AddArrayToObject(o, k);
	for (size_t i = 0; i < l->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(l->v[i]));
}

char *msg_request_encode(const struct build_request *r)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	add_list(o, "destinations", &r->destinations);
	add_str(o, "dockerfile", r->dockerfile);
	add_list(o, "build_args", &r->build_args);
	add_list(o, "labels", &r->labels);
	add_str(o, "platform", r->platform);
	add_str(o, "target", r->target);
	add_str(o, "cache_repo", r->cache_repo);
	cJSON_AddBoolToObject(o, "cache_insecure", r->cache_insecure);
	add_list(o, "insecure_registries", &r->insecure_registries);
	add_str(o, "cache_dir", r->cache_dir);
	cJSON_AddBoolToObject(o, "push", r->push);
	cJSON_AddBoolToObject(o, "warm", r->warm);
	cJSON *creds = cJSON_AddArrayToObject(o, "credentials");
	for (size_t i = 0; i < r->ncreds; i++) {
		const struct registry_cred *c = &r->creds[i];
		cJSON *e = cJSON_CreateObject();
		add_str(e, "registry", c->registry);
		add_str(e, "username", c->username);
		add_str(e, "password", c->password);
		add_str(e, "auth", c->auth);
		cJSON_AddBoolToObject(e, "insecure", c->insecure);
		cJSON_AddItemToArray(creds, e);
	}
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static int get_str(const cJSON *o, const char *k, char **out, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v)) {
		snprintf(err, errlen, "request field '%s' must be a string", k);
		return -1;
	}
	free(*out);
	*out = strdup(v->valuestring);
	return 0;
}

static int get_bool(const cJSON *o, const char *k, bool *out, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v)) {
		snprintf(err, errlen, "request field '%s' must be true or false", k);
		return -1;
	}
	*out = cJSON_IsTrue(v);
	return 0;
}

static int get_list(const cJSON *o, const char *k, struct strlist *out, bool need_eq, char *err,
                    size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v)) {
		snprintf(err, errlen, "request field '%s' must be an array of strings", k);
		return -1;
	}
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach (e, v) {
		if (!cJSON_IsString(e)) {
			snprintf(err, errlen, "request field '%s[%d]' must be a string", k, i);
			return -1;
		}
		if (need_eq && (!strchr(e->valuestring, '=') || e->valuestring[0] == '=')) {
			snprintf(err, errlen, "request field '%s[%d]' must be KEY=VALUE", k, i);
			return -1;
		}
		strlist_push(out, e->valuestring);
		i++;
	}
	return 0;
}

/* An empty string where a builder flag needs a value ("--destination="): -1 + which. */
static int empty_field(const struct build_request *r, char *err, size_t errlen)
{
	const struct {
		const char *name, *value;
	} one[] = {{"platform", r->platform},
	           {"target", r->target},
	           {"cache_repo", r->cache_repo},
	           {"cache_dir", r->cache_dir}};
	const struct {
		const char *name;
		const struct strlist *l;
	} many[] = {{"destinations", &r->destinations},
	            {"insecure_registries", &r->insecure_registries}};
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		if (one[i].value && !*one[i].value) {
			snprintf(err, errlen, "request field '%s' is empty", one[i].name);
			return -1;
		}
	}
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++) {
		for (size_t k = 0; k < many[i].l->n; k++) {
			if (!*many[i].l->v[k]) {
				snprintf(err, errlen, "request field '%s[%zu]' is empty",
				         many[i].name, k);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * Whether the JSON text holds a NUL character, raw or as \u0000 inside a
 * string: C strings would cut the value there, so the build would get
 * something other than what was sent.
 */
static bool json_has_nul(const char *json, size_t len)
{
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		if (json[i] == '\0')
			return true;
		if (json[i] == '"') {
			in_string = !in_string;
		} else if (in_string && json[i] == '\\' && i + 1 < len) {
			if (json[i + 1] == 'u' && i + 5 < len &&
			    strncmp(json + i + 2, "0000", 4) == 0)
				return true;
			i++; /* the escaped character */
		}
	}
	return false;
}

cJSON *msg_json_object(const char *json, size_t len, const char *nul_msg, char *err, size_t errlen)
{
	if (json_has_nul(json, len)) {
		snprintf(err, errlen, "%s", nul_msg);
		return NULL;
	}
	const char *end = NULL;
	cJSON *o = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!o) {
		snprintf(err, errlen, "request is not valid JSON");
		return NULL;
	}
	if (!cJSON_IsObject(o)) {
		snprintf(err, errlen, "request must be a JSON object");
		cJSON_Delete(o);
		return NULL;
	}
	while (end && end < json + len && strchr(" \t\r\n", *end))
		end++;
	if (end && end < json + len) {
		snprintf(err, errlen, "request is not valid JSON: data after the object");
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int msg_request_decode(const char *json, size_t len, struct build_request *r, char *err,
                       size_t errlen)
{
	msg_request_init(r);
	cJSON *o = msg_json_object(json, len,
	                           "request holds a NUL character, which no build flag can carry",
	                           err, errlen);
	if (!o)
		return -1;
	int rc = -1;
	if (get_list(o, "destinations", &r->destinations, false, err, errlen) ||
	    get_str(o, "dockerfile", &r->dockerfile, err, errlen) ||
	    get_list(o, "build_args", &r->build_args, true, err, errlen) ||
	    get_list(o, "labels", &r->labels, true, err, errlen) ||
	    get_str(o, "platform", &r->platform, err, errlen) ||
	    get_str(o, "target", &r->target, err, errlen) ||
	    get_str(o, "cache_repo", &r->cache_repo, err, errlen) ||
	    get_bool(o, "cache_insecure", &r->cache_insecure, err, errlen) ||
	    get_list(o, "insecure_registries", &r->insecure_registries, false, err, errlen) ||
	    get_str(o, "cache_dir", &r->cache_dir, err, errlen) ||
	    get_bool(o, "push", &r->push, err, errlen) ||
	    get_bool(o, "warm", &r->warm, err, errlen) || empty_field(r, err, errlen))
		goto out;
	const cJSON *creds = cJSON_GetObjectItemCaseSensitive(o, "credentials");
	if (creds && !cJSON_IsNull(creds)) {
		if (!cJSON_IsArray(creds)) {
			snprintf(err, errlen, "request field 'credentials' must be an array");
			goto out;
		}
		int i = 0;
		const cJSON *e;
		cJSON_ArrayForEach (e, creds) {
			struct registry_cred c = {0};
			char what[48];
			snprintf(what, sizeof(what), "credentials[%d]", i);
			if (!cJSON_IsObject(e)) {
				snprintf(err, errlen, "request field '%s' must be an object", what);
				goto out;
			}
			int bad = get_str(e, "registry", &c.registry, err, errlen) ||
			          get_str(e, "username", &c.username, err, errlen) ||
			          get_str(e, "password", &c.password, err, errlen) ||
			          get_str(e, "auth", &c.auth, err, errlen) ||
			          get_bool(e, "insecure", &c.insecure, err, errlen);
			if (!bad && (!c.registry || !*c.registry)) {
				snprintf(err, errlen, "request field '%s' has no registry", what);
				bad = 1;
			} else if (!bad && !c.auth && !(c.username && c.password)) {
				snprintf(err, errlen,
				         "request field '%s' (%s) needs username and password, or "
				         "auth",
				         what, c.registry);
				bad = 1;
			}
			if (!bad)
				msg_request_add_cred(r, &c);
			msg_cred_clear(&c);
			if (bad)
				goto out;
			i++;
		}
	}
	rc = 0;
out:
	cJSON_Delete(o);
	if (rc)
		msg_request_free(r);
	return rc;
}

char *msg_check_encode(const struct check_result *c)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "target", c->target);
	cJSON_AddStringToObject(o, "kind", c->kind);
	cJSON_AddStringToObject(o, "status", c->status);
	cJSON_AddBoolToObject(o, "passed", c->passed);
	cJSON_AddStringToObject(o, "detail", c->detail);
	cJSON_AddNumberToObject(o, "latency_ms", c->latency_ms);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

int msg_check_decode(const char *json, size_t len, struct check_result *c)
{
	memset(c, 0, sizeof(*c));
	cJSON *o = cJSON_ParseWithLength(json, len);
	if (!o || !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return -1;
	}
	const cJSON *v;
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "target")) && cJSON_IsString(v))
		snprintf(c->target, sizeof(c->target), "%s", v->valuestring);
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "kind")) && cJSON_IsString(v))
		snprintf(c->kind, sizeof(c->kind), "%s", v->valuestring);
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "status")) && cJSON_IsString(v))
		snprintf(c->status, sizeof(c->status), "%s", v->valuestring);
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "detail")) && cJSON_IsString(v))
		snprintf(c->detail, sizeof(c->detail), "%s", v->valuestring);
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "latency_ms")) && cJSON_IsNumber(v))
		c->latency_ms = v->valuedouble;
	c->passed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "passed"));
	cJSON_Delete(o);
	return 0;
}
