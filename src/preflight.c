/* preflight.c: one build's registry checks, started from the request and the Dockerfile. */
#include "preflight.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "checks.h"
#include "imageref.h"
#include "metrics.h"
#include "proto.h"
#include "runner.h"

struct preflight {
	struct checks *c;
	enum preflight_mode mode;
	struct runner_stats *stats;
	struct preflight_ops ops;
	void *arg;
	struct strlist build_args;
	struct strlist cold; /* base images the cache directory lacks */
	size_t ncache_dir;   /* cache_dir results seen */
	size_t nbase;        /* base_image checks added */
	bool has_dockerfile;
	bool blocked; /* the blocking failure was reported */
	bool closing;
	void (*closed)(void *arg);
	void *closed_arg;
};

static void on_result(struct checks *c, const struct check_result *res, void *arg);
static void on_done(struct checks *c, void *arg);
static void on_closed(void *arg);
static void say(struct preflight *p, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static bool blocks(const struct check_result *res);

enum preflight_mode preflight_mode(const char *name)
{
	if (name && strcmp(name, "off") == 0)
		return PREFLIGHT_OFF;
	if (name && strcmp(name, "warn") == 0)
		return PREFLIGHT_WARN;
	return PREFLIGHT_ENFORCE;
}

/* A LOG line for the client. */
static void say(struct preflight *p, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!p->closing && p->ops.log)
		p->ops.log(level, msg, p->arg);
}

struct preflight *preflight_start(uv_loop_t *loop, const struct runner_config *cfg,
                                  struct runner_stats *stats, const struct build_request *req,
                                  const struct preflight_ops *ops, void *arg, char *err,
                                  size_t errlen)
{
	struct imageref ref;
	struct strlist insecure = {0};
	char why[512];
	err[0] = 0;
	enum preflight_mode mode = preflight_mode(cfg->preflight);
	if (mode == PREFLIGHT_OFF)
		return NULL;
	struct preflight *p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->mode = mode;
	p->stats = stats;
	p->ops = *ops;
	p->arg = arg;
	for (size_t i = 0; i < req->build_args.n; i++)
		strlist_push(&p->build_args, req->build_args.v[i]);
	for (size_t i = 0; i < req->insecure_registries.n; i++)
		strlist_push(&insecure, req->insecure_registries.v[i]);
	if (req->cache_repo && req->cache_insecure &&
	    imageref_parse(req->cache_repo, &ref, why, sizeof(why)) == 0)
		strlist_push(&insecure, ref.registry);

	struct checks_opts o;
	checks_opts_init(&o);
	o.timeout = cfg->check_timeout > 0 ? cfg->check_timeout : 10;
	o.creds = req->creds;
	o.ncreds = req->ncreds;
	o.insecure = &insecure;
	o.ca_files = &cfg->registry_ca_files;
	o.skip_verify = &cfg->skip_tls_verify;
	/* A Kaniko base-image cache directory: buildah has none, so nothing to check there. */
	if (strcmp(cfg->backend, "kaniko") == 0) {
		o.cache_dir = req->cache_dir;
		if (!o.cache_dir && (req->warm || cfg->warm))
			o.cache_dir = BACKEND_KANIKO_CACHE_DIR; /* what the warmer fills */
	}
	o.platform = req->platform;
	p->c = checks_new(loop, &o, on_result, on_done, p);
	strlist_free(&insecure);
	if (!p->c) {
		snprintf(err, errlen, "preflight checks cannot start (libcurl)");
		strlist_free(&p->build_args);
		free(p);
		return NULL;
	}
	/* Invalid references are left to the builder to refuse: reported, never blocking. */
	for (size_t i = 0; i < req->destinations.n; i++) {
		const char *d = req->destinations.v[i];
		int rc = -1;
		if (req->push)
			rc = checks_add_push(p->c, d, why, sizeof(why));
		else if (imageref_parse(d, &ref, why, sizeof(why)) == 0)
			rc = checks_add_registry(p->c, ref.registry, why, sizeof(why));
		if (rc != 0)
			say(p, R2K_LOG_WARN, "preflight: destination '%.300s' not checked: %s", d,
			    why);
	}
	if (req->cache_repo && checks_add_cache_repo(p->c, req->cache_repo, why, sizeof(why)) != 0)
		say(p, R2K_LOG_WARN, "preflight: cache repository '%.300s' not checked: %s",
		    req->cache_repo, why);
	return p;
}

void preflight_dockerfile(struct preflight *p, const char *text, bool truncated)
{
	char why[512];
	if (p->has_dockerfile || p->closing)
		return;
	p->has_dockerfile = true;
	if (truncated) {
		say(p, R2K_LOG_WARN,
		    "preflight: Dockerfile larger than 1 MiB: base images not checked");
		return;
	}
	if (checks_add_base_images_from_dockerfile(p->c, text, &p->build_args, why, sizeof(why)) !=
	    0)
		say(p, R2K_LOG_WARN, "preflight: base images not checked: %s", why);
}

const struct strlist *preflight_cold_images(const struct preflight *p)
{
	/* Every base image needs its cache_dir answer, else nothing is known. */
	if (!p->has_dockerfile || p->ncache_dir == 0 || p->ncache_dir < p->nbase)
		return NULL;
	return &p->cold;
}

bool preflight_has_dockerfile(const struct preflight *p)
{
	return p->has_dockerfile;
}

size_t preflight_pending(const struct preflight *p)
{
	return p->closing ? 0 : checks_pending(p->c);
}

/* Results that stop an enforce-mode build; cache, cache_dir and warm never do. */
static bool blocks(const struct check_result *res)
{
	static const char *const kinds[] = {"reachability", "auth", "push", "base_image"};
	if (res->passed)
		return false;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(res->kind, kinds[i]) == 0)
			return true;
	return false;
}

/* Each result: a CHECK frame, a metric; a blocking failure ends or warns. */
static void on_result(struct checks *c, const struct check_result *res, void *arg)
{
	struct preflight *p = arg;
	(void)c;
	if (p->closing)
		return;
	metrics_count_check(p->stats, res->kind, res->status, res->passed);
	if (strcmp(res->kind, "base_image") == 0)
		p->nbase++;
	if (strcmp(res->kind, "cache_dir") == 0) {
		p->ncache_dir++;
		if (strcmp(res->status, "cached") != 0)
			strlist_push(&p->cold, res->target);
	}
	char *json = msg_check_encode(res);
	if (json) {
		p->ops.result(json, strlen(json), p->arg);
		free(json);
	}
	if (p->closing || !blocks(res))
		return;
	char why[1024];
	snprintf(why, sizeof(why), "preflight check failed: %s %s: %s%s%s", res->kind, res->target,
	         res->status, res->detail[0] ? ": " : "", res->detail);
	if (p->mode == PREFLIGHT_WARN) {
		say(p, R2K_LOG_WARN, "%s; building anyway (--preflight=warn)", why);
	} else if (!p->blocked) {
		p->blocked = true;
		p->ops.blocked(why, p->arg);
	}
}

static void on_done(struct checks *c, void *arg)
{
	struct preflight *p = arg;
	(void)c;
	if (!p->closing && p->ops.settled)
		p->ops.settled(p->arg);
}

void preflight_close(struct preflight *p, void (*closed)(void *arg), void *arg)
{
	if (p->closing)
		return;
	p->closing = true;
	p->closed = closed;
	p->closed_arg = arg;
	checks_close(p->c, on_closed, p);
}

/* The engine let go of every handle: free p, tell the owner. */
static void on_closed(void *arg)
{
	struct preflight *p = arg;
	void (*cb)(void *) = p->closed;
	void *cb_arg = p->closed_arg;
	strlist_free(&p->build_args);
	strlist_free(&p->cold);
	free(p);
	if (cb)
		cb(cb_arg);
}
