/* checks_jobs.c: the request flow of each check: ping, auth dance, push, tags, manifests. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "checks_int.h"
#include "msg_registry.h"
#include "registry.h"
#include "wwwauth.h"

#define ACCEPT_MANIFESTS                                                                           \
	"Accept: application/vnd.oci.image.index.v1+json, "                                        \
	"application/vnd.oci.image.manifest.v1+json, "                                             \
	"application/vnd.docker.distribution.manifest.list.v2+json, "                              \
	"application/vnd.docker.distribution.manifest.v2+json"
#define ACCEPT_INDEXES                                                                             \
	"Accept: application/vnd.oci.image.index.v1+json, "                                        \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MAX_PAGES 1000
#define STR_(x)   #x
#define STR(x)    STR_(x)

static void start_main(struct job *j);
static void tags_sink(void *arg, const char *buf, size_t len);
static const char *fail_status(enum creq_fail f);
static void parse_challenges(const struct creq *r, struct wwwauth *wa);
static bool auth_after_401(struct job *j, const struct creq *r, const char *scope);
static bool url_append(char *url, size_t len, size_t *n, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static bool token_request(struct job *j, const struct wwwauth_challenge *ch, const char *scope);
static void bad_realm(struct job *j, const char *kind, const struct wwwauth_challenge *ch);
static void pct_encode(const char *s, char *out, size_t len);
static void set_authz(struct job *j, const char *scheme, const char *value);
static void probe_fall_back(struct job *j, const struct creq *r);
static void registry_ping_done(struct job *j, const struct creq *r);
static void registry_auth_after_ping(struct job *j, const struct creq *r);
static void registry_token_done(struct job *j, const struct creq *r);
static void registry_check_done(struct job *j, const struct creq *r);
static void repo_token_done(struct job *j, const struct creq *r);
static void repo_main_done(struct job *j, const struct creq *r);
static void push_done(struct job *j, const struct creq *r);
static void delete_done(struct job *j, const struct creq *r);
static void cache_done(struct job *j, const struct creq *r);
static void image_done(struct job *j, const struct creq *r);
static void index_done(struct job *j, const struct creq *r);
static void cache_dir_result(struct job *j, const char *key, const char *note);
static bool next_link(const struct creq *r, const char *base, char *out, size_t len);
static bool insufficient_scope(const struct creq *r);
static bool page_seen(const struct strlist *pages, const char *url);

/* The result status of a failure below HTTP. */
static const char *fail_status(enum creq_fail f)
{
	switch (f) {
	case CREQ_DNS: return "dns";
	case CREQ_REFUSED: return "refused";
	case CREQ_TIMEOUT: return "timeout";
	case CREQ_TLS: return "tls";
	default: return "http_error";
	}
}

void checks_job_begin(struct job *j)
{
	char url[2048];
	j->t0 = uv_hrtime();
	switch (j->kind) {
	case JOB_REGISTRY:
		j->phase = PH_PING;
		/* The HTTPS attempt of a probe gets no retries: plain HTTP has them. */
		j->reg->probing = j->once = j->reg->probe;
		snprintf(url, sizeof(url), "%s/v2/", j->reg->base);
		checks_request(j, "GET", url, NULL, false);
		return;
	case JOB_PUSH:
		snprintf(j->url, sizeof(j->url), "%s/v2/%s/blobs/uploads/", j->reg->base, j->repo);
		break;
	case JOB_CACHE:
		snprintf(j->url, sizeof(j->url), "%s/v2/%s/tags/list", j->reg->base, j->repo);
		break;
	case JOB_IMAGE:
		snprintf(j->url, sizeof(j->url), "%s/v2/%s/manifests/%s", j->reg->base, j->repo,
		         j->ref);
		break;
	}
	start_main(j);
}

/* (Re)issue the job's main request with whatever Authorization it has. */
static void start_main(struct job *j)
{
	static const char *const methods[] = {
	        [JOB_PUSH] = "POST", [JOB_CACHE] = "GET", [JOB_IMAGE] = "HEAD"};
	j->phase = PH_MAIN;
	checks_request(j, methods[j->kind], j->url, j->kind == JOB_IMAGE ? ACCEPT_MANIFESTS : NULL,
	               true);
	if (j->kind == JOB_CACHE && j->req)
		creq_set_sink(j->req, tags_sink, j);
}

/* The bytes of a tags/list page, counted as they arrive (NULL: a new attempt). */
static void tags_sink(void *arg, const char *buf, size_t len)
{
	struct job *j = arg;
	if (!buf)
		msg_tags_stream_reset(&j->tags);
	else
		msg_tags_stream_feed(&j->tags, buf, len);
}

void checks_on_req(struct creq *r, void *arg)
{
	struct job *j = arg;
	j->req = NULL;
	switch (j->phase) {
	case PH_PING: registry_ping_done(j, r); break;
	case PH_TOKEN:
		if (j->kind == JOB_REGISTRY)
			registry_token_done(j, r);
		else
			repo_token_done(j, r);
		break;
	case PH_MAIN:
		if (j->kind == JOB_REGISTRY)
			registry_check_done(j, r);
		else
			repo_main_done(j, r);
		break;
	case PH_DELETE: delete_done(j, r); break;
	case PH_INDEX: index_done(j, r); break;
	}
	creq_free(r);
}

/* All challenges of a response, from every WWW-Authenticate header. */
static void parse_challenges(const struct creq *r, struct wwwauth *wa)
{
	const char *v;
	for (size_t i = 0; (v = creq_header_n(r, "WWW-Authenticate", i)); i++)
		wwwauth_parse(wa, v);
}

/* Store the Authorization header the job sends from now on. */
static void set_authz(struct job *j, const char *scheme, const char *value)
{
	size_t n = strlen(scheme) + strlen(value) + 24;
	if (j->authz)
		explicit_bzero(j->authz, strlen(j->authz));
	free(j->authz);
	j->authz = malloc(n);
	if (!j->authz)
		abort();
	snprintf(j->authz, n, "Authorization: %s %s", scheme, value);
}

/* Percent-encode a query value. */
static void pct_encode(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < len; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

/* Append printf output at *n in url (len bytes); false once it no longer fits. */
static bool url_append(char *url, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = *n < len ? vsnprintf(url + *n, len - *n, fmt, ap) : -1;
	va_end(ap);
	if (k < 0 || (size_t)k >= len - *n)
		return false;
	*n += (size_t)k;
	return true;
}

/*
 * Ask the Bearer challenge's realm for a token; credentials go only there.
 * Returns false (nothing sent) when the realm is no http(s) URL or the
 * token URL would be too long.
 */
static bool token_request(struct job *j, const struct wwwauth_challenge *ch, const char *scope)
{
	const char *realm = wwwauth_param(ch, "realm"), *service = wwwauth_param(ch, "service");
	char url[2048], esc[768];
	size_t n = 0;
	if (registry_given_scheme(realm) == REGISTRY_SCHEME_NONE)
		return false;
	bool fits = url_append(url, sizeof(url), &n, "%s", realm);
	char sep = strchr(realm, '?') ? '&' : '?';
	if (fits && service) {
		pct_encode(service, esc, sizeof(esc));
		fits = url_append(url, sizeof(url), &n, "%cservice=%s", sep, esc);
		sep = '&';
	}
	if (fits && scope) {
		pct_encode(scope, esc, sizeof(esc));
		fits = url_append(url, sizeof(url), &n, "%cscope=%s", sep, esc);
	}
	if (!fits)
		return false;
	char *basic = j->reg->cred ? registry_cred_basic(j->reg->cred) : NULL;
	char *hdr = NULL;
	if (basic) {
		size_t hn = strlen(basic) + 32;
		hdr = malloc(hn);
		if (!hdr)
			abort();
		snprintf(hdr, hn, "Authorization: Basic %s", basic);
		explicit_bzero(basic, strlen(basic));
		free(basic);
		j->sent_creds = true;
	}
	j->phase = PH_TOKEN;
	checks_request(j, "GET", url, hdr, false);
	if (hdr)
		explicit_bzero(hdr, strlen(hdr));
	free(hdr);
	return true;
}

/* The realm of a Bearer challenge that token_request cannot use, as a failed result. */
static void bad_realm(struct job *j, const char *kind, const struct wwwauth_challenge *ch)
{
	checks_emit(j, kind, "http_error", false,
	            "Bearer challenge's realm is no http(s) URL or too long: '%.80s%s'",
	            wwwauth_param(ch, "realm"),
	            strlen(wwwauth_param(ch, "realm")) > 80 ? "..." : "");
	checks_job_done(j);
}

/*
 * After a 401 on the main request: answer the challenge (Bearer preferred)
 * once. Returns true when a new request went out.
 */
static bool auth_after_401(struct job *j, const struct creq *r, const char *scope)
{
	if (j->authed)
		return false;
	struct wwwauth wa = {0};
	parse_challenges(r, &wa);
	const struct wwwauth_challenge *bearer = wwwauth_find(&wa, "Bearer");
	const struct wwwauth_challenge *basic = wwwauth_find(&wa, "Basic");
	bool sent = false;
	j->authed = true;
	if (bearer && wwwauth_param(bearer, "realm")) {
		if (!token_request(j, bearer, scope))
			bad_realm(j, j->result_kind, bearer);
		sent = true;
	} else if (basic && j->reg->cred) {
		char *b = registry_cred_basic(j->reg->cred);
		set_authz(j, "Basic", b);
		explicit_bzero(b, strlen(b));
		free(b);
		j->sent_creds = true;
		start_main(j);
		sent = true;
	}
	wwwauth_free(&wa);
	return sent;
}

/* The HTTPS attempt of a probe failed below HTTP: note why and try plain HTTP. */
static void probe_fall_back(struct job *j, const struct creq *r)
{
	struct reg *g = j->reg;
	char url[2048];
	g->probe_fail = creq_failure(r);
	g->probe_unverified = creq_tls_unverified(r);
	snprintf(g->probe_err, sizeof(g->probe_err), "%s", creq_error(r));
	snprintf(g->base, sizeof(g->base), "http://%s", g->host);
	snprintf(url, sizeof(url), "%s/v2/", g->base);
	checks_request(j, "GET", url, NULL, false);
}

/* GET /v2/ answered: reachability, then authentication. */
static void registry_ping_done(struct job *j, const struct creq *r)
{
	enum creq_fail f = creq_failure(r);
	long st = creq_status(r);
	const char *ver = creq_header(r, "Docker-Distribution-Api-Version");
	struct reg *g = j->reg;
	if (g->probing) {
		g->probing = false;
		if (f != CREQ_OK) {
			probe_fall_back(j, r);
			return;
		}
	}
	bool fell_back = g->probe_err[0] != '\0';
	if (f != CREQ_OK) {
		bool other = fell_back && g->probe_fail != f;
		checks_emit(j, "reachability", fail_status(f), false,
		            "%s/v2/: %s (%u attempt%s)%s%s", g->base, creq_error(r),
		            creq_attempts(r), creq_attempts(r) == 1 ? "" : "s",
		            other ? "; HTTPS before: " : "", other ? g->probe_err : "");
		checks_reg_resolved(g, false);
		checks_job_done(j);
		return;
	}
	if (st != 200 && !(st == 401 && ver)) {
		if (fell_back && g->probe_unverified)
			/* A TLS registry whose certificate is not trusted: that is the fault. */
			checks_emit(j, "reachability", "tls", false,
			            "https://%s/v2/: %s; plain HTTP answered HTTP %ld", g->host,
			            g->probe_err, st);
		else
			checks_emit(j, "reachability", "http_error", false,
			            "GET %s/v2/ answered HTTP %ld%s", g->base, st,
			            st == 401 ? " without Docker-Distribution-Api-Version" : "");
		checks_reg_resolved(g, false);
		checks_job_done(j);
		return;
	}
	checks_emit(j, "reachability", "ok", true, "%s/v2/ answered HTTP %ld%s%s", j->reg->base, st,
	            ver ? ", API " : "", ver ? ver : "");
	checks_reg_resolved(j->reg, true);
	j->t0 = uv_hrtime();
	if (st == 200) {
		checks_emit(j, "auth", "anonymous", true, "no authentication required");
		checks_job_done(j);
		return;
	}
	registry_auth_after_ping(j, r);
}

/* The registry wants authentication: answer its challenge. */
static void registry_auth_after_ping(struct job *j, const struct creq *r)
{
	struct wwwauth wa = {0};
	parse_challenges(r, &wa);
	const struct wwwauth_challenge *bearer = wwwauth_find(&wa, "Bearer");
	const struct wwwauth_challenge *basic = wwwauth_find(&wa, "Basic");
	j->authed = true;
	if (bearer && wwwauth_param(bearer, "realm")) {
		if (!token_request(j, bearer, wwwauth_param(bearer, "scope")))
			bad_realm(j, "auth", bearer);
	} else if (basic && j->reg->cred) {
		char *b = registry_cred_basic(j->reg->cred);
		set_authz(j, "Basic", b);
		explicit_bzero(b, strlen(b));
		free(b);
		j->sent_creds = true;
		j->phase = PH_MAIN;
		char url[2048];
		snprintf(url, sizeof(url), "%s/v2/", j->reg->base);
		checks_request(j, "GET", url, NULL, true);
	} else if (basic) {
		checks_emit(j, "auth", "unauthorized", false,
		            "registry requires Basic authentication; no credentials for %s",
		            j->reg->host);
		checks_job_done(j);
	} else {
		checks_emit(j, "auth", "http_error", false,
		            "HTTP 401 without a Basic or Bearer challenge with a realm");
		checks_job_done(j);
	}
	wwwauth_free(&wa);
}

/* The token service answered the registry check. */
static void registry_token_done(struct job *j, const struct creq *r)
{
	enum creq_fail f = creq_failure(r);
	long st = creq_status(r);
	size_t len;
	const char *body = creq_body(r, &len);
	if (f != CREQ_OK) {
		checks_emit(j, "auth", fail_status(f), false, "token service %s: %s", creq_url(r),
		            creq_error(r));
	} else if (st == 200) {
		char *tok = msg_token_decode(body, len);
		if (!tok) {
			checks_emit(j, "auth", "http_error", false,
			            "token service answered without token or access_token");
		} else if (!j->sent_creds) {
			checks_emit(j, "auth", "anonymous", true,
			            "no credentials for %s; anonymous token granted", j->reg->host);
		} else {
			set_authz(j, "Bearer", tok);
			j->phase = PH_MAIN;
			char url[2048];
			snprintf(url, sizeof(url), "%s/v2/", j->reg->base);
			checks_request(j, "GET", url, NULL, true);
		}
		if (tok)
			explicit_bzero(tok, strlen(tok));
		bool more = tok && j->sent_creds;
		free(tok);
		if (more)
			return;
	} else if (st == 401) {
		checks_emit(j, "auth", j->sent_creds ? "bad_credentials" : "unauthorized", false,
		            "token service refused %s (HTTP 401)",
		            j->sent_creds ? "the credentials" : "anonymous access");
	} else if (st == 403) {
		checks_emit(j, "auth", "forbidden", false, "token service answered HTTP 403");
	} else {
		checks_emit(j, "auth", "http_error", false, "token service answered HTTP %ld", st);
	}
	checks_job_done(j);
}

/* GET /v2/ with credentials or a token answered. */
static void registry_check_done(struct job *j, const struct creq *r)
{
	enum creq_fail f = creq_failure(r);
	long st = creq_status(r);
	bool bearer = j->authz && strstr(j->authz, "Bearer ");
	if (f != CREQ_OK)
		checks_emit(j, "auth", fail_status(f), false, "%s", creq_error(r));
	else if (st == 200)
		checks_emit(j, "auth", "ok", true, "credentials accepted (%s)",
		            bearer ? "Bearer token" : "Basic");
	else if (st == 401)
		checks_emit(j, "auth", "bad_credentials", false, "credentials refused (HTTP 401)");
	else if (st == 403)
		checks_emit(j, "auth", "forbidden", false, "HTTP 403 with credentials");
	else
		checks_emit(j, "auth", "http_error", false, "GET /v2/ with credentials: HTTP %ld",
		            st);
	checks_job_done(j);
}

/* A token for a repository check arrived (or not). */
static void repo_token_done(struct job *j, const struct creq *r)
{
	enum creq_fail f = creq_failure(r);
	long st = creq_status(r);
	size_t len;
	const char *body = creq_body(r, &len);
	char *tok = f == CREQ_OK && st == 200 ? msg_token_decode(body, len) : NULL;
	if (tok) {
		set_authz(j, "Bearer", tok);
		explicit_bzero(tok, strlen(tok));
		free(tok);
		start_main(j);
		return;
	}
	if (f != CREQ_OK)
		checks_emit(j, j->result_kind, fail_status(f), false, "token service: %s",
		            creq_error(r));
	else if (st == 403)
		checks_emit(j, j->result_kind, "forbidden", false,
		            "token service answered HTTP 403");
	else if (st == 401)
		checks_emit(j, j->result_kind, "unauthorized", false,
		            "token service refused %s (HTTP 401)",
		            j->sent_creds ? "the credentials" : "anonymous access");
	else
		checks_emit(j, j->result_kind, "http_error", false,
		            st == 200 ? "token service answered without a token"
		                      : "token service answered HTTP %ld",
		            st);
	checks_job_done(j);
}

/* The main request of a repository check answered. */
static void repo_main_done(struct job *j, const struct creq *r)
{
	enum creq_fail f = creq_failure(r);
	if (f != CREQ_OK) {
		checks_emit(j, j->result_kind, fail_status(f), false, "%s: %s", creq_url(r),
		            creq_error(r));
		checks_job_done(j);
		return;
	}
	if (creq_status(r) == 401) {
		char scope[512];
		snprintf(scope, sizeof(scope), "repository:%s:%s", j->repo,
		         j->kind == JOB_PUSH ? "push,pull" : "pull");
		if (auth_after_401(j, r, scope))
			return;
	}
	switch (j->kind) {
	case JOB_PUSH: push_done(j, r); break;
	case JOB_CACHE: cache_done(j, r); break;
	case JOB_IMAGE: image_done(j, r); break;
	case JOB_REGISTRY: break;
	}
}

/* Whether a 401's challenge says the token lacks the scope. */
static bool insufficient_scope(const struct creq *r)
{
	struct wwwauth wa = {0};
	parse_challenges(r, &wa);
	bool yes = false;
	for (size_t i = 0; i < wa.n; i++) {
		const char *e = wwwauth_param(&wa.v[i], "error");
		if (e && !strcmp(e, "insufficient_scope"))
			yes = true;
	}
	wwwauth_free(&wa);
	return yes;
}

/* POST blobs/uploads/ answered: cancel an accepted upload. */
static void push_done(struct job *j, const struct creq *r)
{
	long st = creq_status(r);
	if (st == 202) {
		const char *loc = creq_header(r, "Location");
		if (!loc || !*loc) {
			checks_emit(j, "push", "ok", true,
			            "upload accepted (no Location to cancel)");
			checks_job_done(j);
			return;
		}
		char url[2048];
		if (strstr(loc, "://"))
			snprintf(url, sizeof(url), "%s", loc);
		else
			snprintf(url, sizeof(url), "%s%s%s", j->reg->base, *loc == '/' ? "" : "/",
			         loc);
		j->phase = PH_DELETE;
		checks_request(j, "DELETE", url, NULL, true);
		return;
	}
	if (st == 403 || (st == 401 && j->sent_creds && insufficient_scope(r)))
		checks_emit(j, "push", "forbidden", false, "push to %s not allowed (HTTP %ld)",
		            j->repo, st);
	else if (st == 401)
		checks_emit(j, "push", "unauthorized", false, "%s (HTTP 401)",
		            j->sent_creds ? "credentials refused"
		                          : "no credentials for this registry");
	else
		checks_emit(j, "push", "http_error", false, "POST blobs/uploads/ answered HTTP %ld",
		            st);
	checks_job_done(j);
}

/* The test upload was cancelled (or not): push is allowed either way. */
static void delete_done(struct job *j, const struct creq *r)
{
	long st = creq_status(r);
	if (creq_failure(r) != CREQ_OK)
		checks_emit(j, "push", "ok", true, "upload accepted; cancelling it failed: %s",
		            creq_error(r));
	else if (st >= 200 && st < 300)
		checks_emit(j, "push", "ok", true, "upload accepted and cancelled");
	else
		checks_emit(j, "push", "ok", true,
		            "upload accepted; cancelling it answered HTTP %ld (abandoned uploads "
		            "expire)",
		            st);
	checks_job_done(j);
}

/* The URL of a Link: <...>; rel="next" header, resolved against base. */
static bool next_link(const struct creq *r, const char *base, char *out, size_t len)
{
	const char *v;
	for (size_t i = 0; (v = creq_header_n(r, "Link", i)); i++) {
		const char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
		if (!gt || (!strstr(gt, "rel=\"next\"") && !strstr(gt, "rel=next")))
			continue;
		int n = (int)(gt - lt - 1);
		if (!strncmp(lt + 1, "http://", 7) || !strncmp(lt + 1, "https://", 8))
			snprintf(out, len, "%.*s", n, lt + 1);
		else
			snprintf(out, len, "%s%s%.*s", base, lt[1] == '/' ? "" : "/", n, lt + 1);
		return true;
	}
	return false;
}

/* Whether url is one of the pages already read. */
static bool page_seen(const struct strlist *pages, const char *url)
{
	for (size_t i = 0; i < pages->n; i++)
		if (!strcmp(pages->v[i], url))
			return true;
	return false;
}

/* A tags/list page answered: count, follow the next page, then warm or cold. */
static void cache_done(struct job *j, const struct creq *r)
{
	long st = creq_status(r);
	size_t len;
	const char *body = creq_body(r, &len);
	if (st == 200) {
		/* A list past the 1 MiB kept (a busy Kaniko cache) is counted as it streamed. */
		long n = creq_body_truncated(r) ? msg_tags_stream_count(&j->tags)
		                                : msg_tags_count(body, len);
		if (n < 0) {
			checks_emit(j, "cache", "http_error", false,
			            "tags/list answer is not a tag list");
			checks_job_done(j);
			return;
		}
		j->ntags += n;
		strlist_push(&j->pages, j->url);
		char next[sizeof(j->url)];
		const char *stop = "";
		if (next_link(r, j->reg->base, next, sizeof(next))) {
			if (page_seen(&j->pages, next)) {
				stop = " (the next page link points back to a page already read)";
			} else if (j->pages.n >= MAX_PAGES) {
				stop = " (stopped after " STR(MAX_PAGES) " pages)";
			} else {
				snprintf(j->url, sizeof(j->url), "%s", next);
				start_main(j);
				return;
			}
		}
		checks_emit(j, "cache", j->ntags > 0 ? "warm" : "cold", true, "%ld tags%s",
		            j->ntags, stop);
	} else if (st == 404) {
		checks_emit(j, "cache", "cold", true, "%s",
		            strstr(body, "NAME_UNKNOWN")
		                    ? "repository does not exist yet (NAME_UNKNOWN)"
		                    : "repository not found (HTTP 404)");
	} else if (st == 401) {
		checks_emit(j, "cache", "unauthorized", false, "%s (HTTP 401)",
		            j->sent_creds ? "credentials refused"
		                          : "no credentials for this registry");
	} else if (st == 403) {
		checks_emit(j, "cache", "forbidden", false, "reading tags not allowed (HTTP 403)");
	} else {
		checks_emit(j, "cache", "http_error", false, "tags/list answered HTTP %ld", st);
	}
	checks_job_done(j);
}

/* A manifest HEAD answered: present, missing, unauthorized, rate limited. */
static void image_done(struct job *j, const struct creq *r)
{
	long st = creq_status(r);
	const char *k = j->result_kind;
	if (st == 200) {
		const char *d = creq_header(r, "Docker-Content-Digest");
		const char *ct = creq_header(r, "Content-Type");
		snprintf(j->digest, sizeof(j->digest), "%.135s",
		         d                  ? d
		         : j->ref_is_digest ? j->ref
		                            : "");
		checks_emit(j, k, "present", true, "%s", j->digest[0] ? j->digest : "(no digest)");
		if (!j->c->cache_dir) {
			checks_job_done(j);
			return;
		}
		bool index = ct && (strstr(ct, "image.index") || strstr(ct, "manifest.list"));
		if (index && !j->ref_is_digest) {
			/* Kaniko keys its cache by the platform's manifest digest. */
			j->phase = PH_INDEX;
			checks_request(j, "GET", j->url, ACCEPT_INDEXES, true);
			return;
		}
		j->t0 = uv_hrtime();
		cache_dir_result(j, j->digest, "");
	} else if (st == 404) {
		checks_emit(j, k, "missing", j->missing_ok, "no manifest %s in %s%s", j->ref,
		            j->repo, j->missing_ok ? " (not pushed yet)" : "");
	} else if (st == 401 || st == 403) {
		checks_emit(j, k, "unauthorized", false, "HTTP %ld: %s", st,
		            j->sent_creds ? "credentials refused"
		                          : "no credentials for this registry");
	} else if (st == 429) {
		const char *ra = creq_header(r, "Retry-After");
		checks_emit(j, k, "rate_limited", false, "HTTP 429%s%s",
		            ra ? ", Retry-After: " : "", ra ? ra : "");
	} else {
		checks_emit(j, k, "http_error", false, "HEAD manifest answered HTTP %ld", st);
	}
	checks_job_done(j);
}

/* The image index arrived: the platform's manifest digest is Kaniko's cache key. */
static void index_done(struct job *j, const struct creq *r)
{
	size_t len;
	const char *body = creq_body(r, &len);
	char digest[136];
	j->t0 = uv_hrtime();
	if (creq_failure(r) == CREQ_OK && creq_status(r) == 200 &&
	    msg_index_pick(body, len, j->c->os, j->c->arch, j->c->variant, digest,
	                   sizeof(digest)) == 0)
		cache_dir_result(j, digest, "");
	else
		cache_dir_result(j, j->digest, " (index digest: no manifest for this platform)");
	checks_job_done(j);
}

/* Report whether the image is in the Kaniko cache directory. */
static void cache_dir_result(struct job *j, const char *key, const char *note)
{
	char detail[400];
	int rc =
	        checks_cache_dir_has(j->c->cache_dir, key, j->c->cache_ttl, detail, sizeof(detail));
	if (rc > 0)
		checks_emit(j, "cache_dir", "cached", true, "%s%s", detail, note);
	else if (rc == 0)
		checks_emit(j, "cache_dir", "not_cached", true, "%s%s", detail, note);
	else
		checks_emit(j, "cache_dir", "error", false, "%s%s", detail, note);
}
