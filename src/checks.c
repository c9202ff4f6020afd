/* checks.c: the checks API: options, registries, results and the end of it all. */
#include "checks.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "checks_int.h"
#include "dockerfile.h"
#include "imageref.h"
#include "registry.h"

static void copy_list(struct strlist *dst, const struct strlist *src);
static struct reg *reg_get(struct checks *c, const char *registry, enum registry_scheme forced);
static struct job *job_new(struct checks *c, struct reg *r, enum job_kind kind, const char *target);
static void job_schedule(struct job *j);
static int add_ref(struct checks *c, const char *image, enum job_kind kind, const char *rkind,
                   bool missing_ok, char *err, size_t errlen);
static void url_host(const char *url, char *host, size_t len);
static void on_http_closed(void *arg);
static void default_platform(struct checks *c, const char *platform);

void checks_opts_init(struct checks_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout = 10;
	o->retries = 3;
	o->backoff = 0.5;
	o->cache_ttl = 14 * 24 * 3600.0;
}

/* Deep-copy a list (src may be NULL). */
static void copy_list(struct strlist *dst, const struct strlist *src)
{
	for (size_t i = 0; src && i < src->n; i++)
		strlist_push(dst, src->v[i]);
}

/* Split os/arch[/variant]; the host's platform when NULL. */
static void default_platform(struct checks *c, const char *platform)
{
	snprintf(c->os, sizeof(c->os), "linux");
	snprintf(c->arch, sizeof(c->arch), "%s", dockerfile_host_arch());
	if (platform && *platform) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", platform);
		char *a = strchr(buf, '/'), *v = a ? strchr(a + 1, '/') : NULL;
		if (a) {
			*a++ = '\0';
			if (v)
				*v++ = '\0';
			snprintf(c->os, sizeof(c->os), "%.15s", buf);
			snprintf(c->arch, sizeof(c->arch), "%.15s", a);
			snprintf(c->variant, sizeof(c->variant), "%.15s", v ? v : "");
		}
	}
}

struct checks *checks_new(uv_loop_t *loop, const struct checks_opts *opts,
                          checks_result_cb on_result, checks_done_cb on_done, void *arg)
{
	struct checks *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->http = chttp_new(loop);
	if (!c->http) {
		free(c);
		return NULL;
	}
	c->loop = loop;
	c->on_result = on_result;
	c->on_done = on_done;
	c->arg = arg;
	c->timeout = opts->timeout > 0 ? opts->timeout : 10;
	c->retries = opts->retries;
	c->backoff = opts->backoff >= 0 ? opts->backoff : 0.5;
	c->cache_ttl = opts->cache_ttl > 0 ? opts->cache_ttl : 14 * 24 * 3600.0;
	if (opts->ncreds) {
		c->creds = calloc(opts->ncreds, sizeof(*c->creds));
		if (!c->creds)
			abort();
		for (size_t i = 0; i < opts->ncreds; i++) {
			const struct registry_cred *s = &opts->creds[i];
			struct registry_cred *d = &c->creds[i];
			d->registry = s->registry ? strdup(s->registry) : NULL;
			d->username = s->username ? strdup(s->username) : NULL;
			d->password = s->password ? strdup(s->password) : NULL;
			d->auth = s->auth ? strdup(s->auth) : NULL;
			d->insecure = s->insecure;
		}
		c->ncreds = opts->ncreds;
	}
	copy_list(&c->insecure, opts->insecure);
	copy_list(&c->ca_files, opts->ca_files);
	copy_list(&c->skip_verify, opts->skip_verify);
	c->cache_dir = opts->cache_dir ? strdup(opts->cache_dir) : NULL;
	/* The CA locations Go programs such as Kaniko take from the environment. */
	const char *ef = getenv("SSL_CERT_FILE"), *ed = getenv("SSL_CERT_DIR");
	c->env_ca_file = ef && *ef ? strdup(ef) : NULL;
	c->env_ca_dir = ed && *ed ? strdup(ed) : NULL;
	default_platform(c, opts->platform);
	return c;
}

/* The registry record for a host, created (with its scheme decided) on first use. */
static struct reg *reg_get(struct checks *c, const char *registry, enum registry_scheme forced)
{
	char host[256];
	if (registry_host(registry, host, sizeof(host)))
		return NULL;
	for (struct reg *r = c->regs; r; r = r->next)
		if (!strcmp(r->host, host))
			return r;
	struct reg *r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->c = c;
	strcpy(r->host, host);
	r->cred = registry_find_cred(c->creds, c->ncreds, host);
	/*
	 * go-containerregistry's rule: HTTPS always comes first; a host marked
	 * insecure or local by its name falls back to plain HTTP when HTTPS
	 * fails. An explicit scheme is used as it is.
	 */
	bool https = true;
	if (forced != REGISTRY_SCHEME_NONE)
		https = forced == REGISTRY_SCHEME_HTTPS;
	else
		r->probe = registry_in_list(&c->insecure, host) || (r->cred && r->cred->insecure) ||
		           registry_plain_http_by_default(host);
	snprintf(r->base, sizeof(r->base), "%s://%s", https ? "https" : "http", host);
	r->next = c->regs;
	c->regs = r;

	struct job *j = job_new(c, r, JOB_REGISTRY, host);
	checks_job_begin(j);
	return r;
}

/* A new job, counted as pending. */
static struct job *job_new(struct checks *c, struct reg *r, enum job_kind kind, const char *target)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		abort();
	j->c = c;
	j->reg = r;
	j->kind = kind;
	snprintf(j->target, sizeof(j->target), "%s", target);
	j->next = c->jobs;
	c->jobs = j;
	c->pending++;
	return j;
}

/* Start a repository job now, or once its registry has answered. */
static void job_schedule(struct job *j)
{
	if (j->reg->state == REG_PENDING) {
		j->wnext = j->reg->waiters;
		j->reg->waiters = j;
	} else {
		checks_job_begin(j);
	}
}

void checks_reg_resolved(struct reg *r, bool up)
{
	r->state = up ? REG_UP : REG_DOWN;
	struct job *w = r->waiters;
	r->waiters = NULL;
	while (w) {
		struct job *next = w->wnext;
		w->wnext = NULL;
		if (up) {
			checks_job_begin(w);
		} else {
			w->t0 = uv_hrtime();
			checks_emit(w, w->result_kind, "unreachable", false,
			            "registry %s is not reachable", r->host);
			checks_job_done(w);
		}
		w = next;
	}
}

int checks_add_registry(struct checks *c, const char *registry, char *err, size_t errlen)
{
	if (!reg_get(c, registry, registry_given_scheme(registry))) {
		snprintf(err, errlen, "invalid registry '%s'", registry);
		return -1;
	}
	return 0;
}

/* Parse an image reference and add one job for it. */
static int add_ref(struct checks *c, const char *image, enum job_kind kind, const char *rkind,
                   bool missing_ok, char *err, size_t errlen)
{
	struct imageref ref;
	if (imageref_parse(image, &ref, err, errlen))
		return -1;
	if (kind == JOB_CACHE && ref.digest[0]) {
		snprintf(err, errlen, "cache repository '%s' must not have a digest", image);
		return -1;
	}
	struct reg *r = reg_get(c, ref.registry, REGISTRY_SCHEME_NONE);
	if (!r) {
		snprintf(err, errlen, "invalid registry in '%s'", image);
		return -1;
	}
	struct job *j = job_new(c, r, kind, image);
	j->result_kind = rkind;
	j->missing_ok = missing_ok;
	snprintf(j->repo, sizeof(j->repo), "%s", ref.repo);
	snprintf(j->ref, sizeof(j->ref), "%s", imageref_ref(&ref));
	j->ref_is_digest = ref.digest[0] != '\0';
	job_schedule(j);
	return 0;
}

int checks_add_push(struct checks *c, const char *image, char *err, size_t errlen)
{
	return add_ref(c, image, JOB_PUSH, "push", false, err, errlen);
}

int checks_add_cache_repo(struct checks *c, const char *repo, char *err, size_t errlen)
{
	return add_ref(c, repo, JOB_CACHE, "cache", false, err, errlen);
}

int checks_add_image(struct checks *c, const char *image, bool missing_ok, char *err, size_t errlen)
{
	return add_ref(c, image, JOB_IMAGE, "manifest", missing_ok, err, errlen);
}

int checks_add_base_images_from_dockerfile(struct checks *c, const char *dockerfile_text,
                                           const struct strlist *build_args, char *err,
                                           size_t errlen)
{
	struct strlist imgs = {0};
	char platform[64];
	snprintf(platform, sizeof(platform), "%s/%s%s%s", c->os, c->arch, c->variant[0] ? "/" : "",
	         c->variant);
	int rc = dockerfile_base_images(dockerfile_text, build_args, platform, &imgs, err, errlen);
	struct imageref ref;
	char why[256];
	for (size_t i = 0; rc == 0 && i < imgs.n; i++) {
		if (imageref_parse(imgs.v[i], &ref, why, sizeof(why))) {
			snprintf(err, errlen, "Dockerfile: base image: %s", why);
			rc = -1;
		}
	}
	for (size_t i = 0; rc == 0 && i < imgs.n; i++)
		add_ref(c, imgs.v[i], JOB_IMAGE, "base_image", false, why, sizeof(why));
	strlist_free(&imgs);
	return rc;
}

size_t checks_pending(const struct checks *c)
{
	return c->pending;
}

void checks_emit(struct job *j, const char *kind, const char *status, bool passed, const char *fmt,
                 ...)
{
	struct checks *c = j->c;
	if (c->cancelled)
		return;
	struct check_result res;
	memset(&res, 0, sizeof(res));
	snprintf(res.target, sizeof(res.target), "%s", j->target);
	snprintf(res.kind, sizeof(res.kind), "%s", kind);
	snprintf(res.status, sizeof(res.status), "%s", status);
	res.passed = passed;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res.detail, sizeof(res.detail), fmt, ap);
	va_end(ap);
	res.latency_ms = (double)(uv_hrtime() - j->t0) / 1e6;
	if (c->on_result)
		c->on_result(c, &res, c->arg);
}

void checks_job_done(struct job *j)
{
	struct checks *c = j->c;
	if (j->done)
		return;
	j->done = true;
	c->pending--;
	if (c->pending == 0 && !c->cancelled && c->on_done)
		c->on_done(c, c->arg);
}

/* host[:port] of a URL. */
static void url_host(const char *url, char *host, size_t len)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, "/?#");
	if (n >= len)
		n = len - 1;
	memcpy(host, p, n);
	host[n] = '\0';
}

void checks_request(struct job *j, const char *method, const char *url, const char *header,
                    bool authz)
{
	struct checks *c = j->c;
	if (c->cancelled)
		return;
	char host[256];
	url_host(url, host, sizeof(host));
	struct creq *r = creq_new(c->http, method, url, checks_on_req, j);
	const char *ca = registry_lookup_kv(&c->ca_files, host);
	creq_set_tls(r, ca ? ca : c->env_ca_file, c->env_ca_dir,
	             registry_in_list(&c->skip_verify, host));
	creq_set_limits(r, (long)(c->timeout * 1000), j->once ? 0 : c->retries,
	                (long)(c->backoff * 1000));
	j->once = false;
	if (header)
		creq_add_header(r, header);
	/* The registry's Authorization goes only to the registry itself. */
	if (authz && j->authz && registry_host_match(host, j->reg->host))
		creq_add_header(r, j->authz);
	j->req = r;
	if (creq_start(r)) {
		creq_free(r);
		j->req = NULL;
	}
}

void checks_cancel(struct checks *c)
{
	c->cancelled = true;
	for (struct job *j = c->jobs; j; j = j->next) {
		if (j->req) {
			creq_free(j->req);
			j->req = NULL;
		}
	}
}

void checks_close(struct checks *c, void (*close_cb)(void *arg), void *arg)
{
	checks_cancel(c);
	c->close_cb = close_cb;
	c->close_arg = arg;
	chttp_close(c->http, on_http_closed, c);
}

/* Every handle is closed: free jobs, registries and the checks. */
static void on_http_closed(void *arg)
{
	struct checks *c = arg;
	void (*cb)(void *) = c->close_cb;
	void *cb_arg = c->close_arg;
	while (c->jobs) {
		struct job *j = c->jobs;
		c->jobs = j->next;
		if (j->authz)
			explicit_bzero(j->authz, strlen(j->authz));
		free(j->authz);
		strlist_free(&j->pages);
		free(j);
	}
	while (c->regs) {
		struct reg *r = c->regs;
		c->regs = r->next;
		free(r);
	}
	registry_creds_free(c->creds, c->ncreds);
	strlist_free(&c->insecure);
	strlist_free(&c->ca_files);
	strlist_free(&c->skip_verify);
	free(c->cache_dir);
	free(c->env_ca_file);
	free(c->env_ca_dir);
	free(c);
	if (cb)
		cb(cb_arg);
}
