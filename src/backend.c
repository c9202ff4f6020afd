/* backend.c: argv and environment for Kaniko or buildah; no shell is ever involved. */
#define _GNU_SOURCE
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"
#include "dockerfile.h"
#include "registry.h"

static void pushf(struct strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pass_env(struct strlist *env, const char *name);
static struct backend_step *add_step(struct backend_plan *p, const char *name);
static void insecure_hosts(const struct build_request *req, struct strlist *out);
static bool list_has(const struct strlist *l, const char *s);
static int base_images(const struct build_request *req, const char *ws, const char *dockerfile,
                       struct strlist *images, char *err, size_t errlen);
static int warm_steps(const struct runner_config *cfg, const struct build_request *req,
                      const char *ws, const char *dockerfile, const struct strlist *cold,
                      struct backend_plan *p, char *err, size_t errlen);
static int copy_file(const char *from, const char *to, char *err, size_t errlen);
static int buildah_cert_dir(const struct runner_config *cfg, const struct build_request *req,
                            const char *ws, const char *dockerfile, struct backend_plan *p,
                            char *err, size_t errlen);
static void buildah_tls(const struct runner_config *cfg, const struct backend_plan *p,
                        const struct strlist *hosts, bool tls_off, struct strlist *a);
static void kaniko(const struct runner_config *cfg, const struct build_request *req, const char *ws,
                   const char *dockerfile, struct backend_plan *p);
static void buildah(const struct runner_config *cfg, const struct build_request *req,
                    const char *ws, const char *dockerfile, unsigned long build_id,
                    struct backend_plan *p);

/* NAME=VALUE from the runner's environment, once, unless unset or reserved. */
static void pass_env(struct strlist *env, const char *name)
{
	const char *v = getenv(name);
	size_t n = strlen(name);
	if (!v || !n || strchr(name, '=') || strcmp(name, "DOCKER_CONFIG") == 0)
		return;
	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], name, n) == 0 && env->v[i][n] == '=')
			return;
	pushf(env, "%s=%s", name, v);
}

/* Append one formatted argument. */
static void pushf(struct strlist *l, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	strlist_push(l, s);
	free(s);
}

static struct backend_step *add_step(struct backend_plan *p, const char *name)
{
	struct backend_step *ns = realloc(p->steps, (p->nsteps + 1) * sizeof(*ns));
	if (!ns)
		abort();
	p->steps = ns;
	struct backend_step *s = &p->steps[p->nsteps++];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	return s;
}

void backend_ref_host(const char *ref, char *out, size_t outlen)
{
	size_t len = strcspn(ref, "/");
	/* A first component names a registry when it has a dot, a port, or is localhost. */
	if (ref[len] == '/' && (memchr(ref, '.', len) || memchr(ref, ':', len) ||
	                        (len == 9 && strncmp(ref, "localhost", 9) == 0))) {
		snprintf(out, outlen, "%.*s", (int)len, ref);
		return;
	}
	snprintf(out, outlen, "docker.io");
}

static bool list_has(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

/* Every registry reached over plain HTTP: the request's list, insecure credentials, the cache. */
static void insecure_hosts(const struct build_request *req, struct strlist *out)
{
	char key[256];
	for (size_t i = 0; i < req->insecure_registries.n; i++)
		if (!list_has(out, req->insecure_registries.v[i]))
			strlist_push(out, req->insecure_registries.v[i]);
	for (size_t i = 0; i < req->ncreds; i++) {
		if (req->creds[i].insecure &&
		    creds_registry_key(req->creds[i].registry, key, sizeof(key)) == 0 &&
		    !list_has(out, key))
			strlist_push(out, key);
	}
	if (req->cache_repo && req->cache_insecure) {
		backend_ref_host(req->cache_repo, key, sizeof(key));
		if (!list_has(out, key))
			strlist_push(out, key);
	}
}

/* The Dockerfile's base images (build args substituted, stages and scratch skipped). */
static int base_images(const struct build_request *req, const char *ws, const char *dockerfile,
                       struct strlist *images, char *err, size_t errlen)
{
	char path[4200], lerr[256];
	snprintf(path, sizeof(path), "%s/context/%s", ws, dockerfile);
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "dockerfile '%s': %s", dockerfile, strerror(errno));
		return -1;
	}
	char *text = malloc(1 << 20);
	size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	text[n] = 0;
	int rc = dockerfile_base_images(text, &req->build_args, req->platform, images, lerr,
	                                sizeof(lerr));
	free(text);
	if (rc != 0) {
		snprintf(err, errlen, "dockerfile '%s': %s", dockerfile, lerr);
		return -1;
	}
	return 0;
}

/* Copy a (small) file: a CA bundle into the build's certificate directory. */
static int copy_file(const char *from, const char *to, char *err, size_t errlen)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		snprintf(err, errlen, "registry CA file '%s': %s", from, strerror(errno));
		return -1;
	}
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (out < 0) {
		snprintf(err, errlen, "cannot create %s: %s", to, strerror(errno));
		close(in);
		return -1;
	}
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				snprintf(err, errlen, "cannot write %s: %s", to, strerror(errno));
				close(in);
				close(out);
				return -1;
			}
			off += w;
		}
	}
	int rerr = n < 0 ? errno : 0;
	close(in);
	if (close(out) != 0 && !rerr) {
		snprintf(err, errlen, "cannot write %s: %s", to, strerror(errno));
		return -1;
	}
	if (rerr) {
		snprintf(err, errlen, "registry CA file '%s': %s", from, strerror(rerr));
		return -1;
	}
	return 0;
}

/*
 * buildah has no per-registry CA option: its --cert-dir is one directory of
 * CA roots (*.crt, added to the system's) for every registry a command
 * reaches. When a registry this build reaches (destination, cache, base
 * image) has a --registry-ca-file, WORKSPACE/certs gets a copy of the CA
 * bundle of each such registry, and p->cert_dir names it; else it stays NULL.
 */
static int buildah_cert_dir(const struct runner_config *cfg, const struct build_request *req,
                            const char *ws, const char *dockerfile, struct backend_plan *p,
                            char *err, size_t errlen)
{
	struct strlist hosts = {0}, files = {0}, images = {0};
	char host[256], lerr[256], path[4200];
	int rc = 0;
	if (cfg->registry_ca_files.n == 0)
		return 0;
	for (size_t i = 0; i < req->destinations.n; i++) {
		backend_ref_host(req->destinations.v[i], host, sizeof(host));
		strlist_push(&hosts, host);
	}
	if (req->cache_repo) {
		backend_ref_host(req->cache_repo, host, sizeof(host));
		strlist_push(&hosts, host);
	}
	/* An unreadable Dockerfile is buildah's to report. */
	if (base_images(req, ws, dockerfile, &images, lerr, sizeof(lerr)) == 0)
		for (size_t i = 0; i < images.n; i++) {
			backend_ref_host(images.v[i], host, sizeof(host));
			strlist_push(&hosts, host);
		}
	for (size_t i = 0; i < hosts.n; i++) {
		const char *ca = registry_lookup_kv(&cfg->registry_ca_files, hosts.v[i]);
		if (ca && !list_has(&files, ca))
			strlist_push(&files, ca);
	}
	if (files.n) {
		if (asprintf(&p->cert_dir, "%s/certs", ws) < 0)
			abort();
		if (mkdir(p->cert_dir, 0755) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", p->cert_dir, strerror(errno));
			rc = -1;
		}
	}
	for (size_t i = 0; rc == 0 && i < files.n; i++) {
		snprintf(path, sizeof(path), "%s/ca-%zu.crt", p->cert_dir, i + 1);
		rc = copy_file(files.v[i], path, err, errlen);
	}
	strlist_free(&hosts);
	strlist_free(&files);
	strlist_free(&images);
	return rc;
}

/*
 * The runner's TLS settings for one buildah command that reaches hosts:
 * --cert-dir when one of them has a CA file; --tls-verify=false (buildah's
 * only way to skip verification, and for every registry of the command, which
 * may then also fall back to plain HTTP) when tls_off or one of them is a
 * --skip-tls-verify-registry.
 */
static void buildah_tls(const struct runner_config *cfg, const struct backend_plan *p,
                        const struct strlist *hosts, bool tls_off, struct strlist *a)
{
	bool ca = false;
	for (size_t i = 0; i < hosts->n; i++) {
		ca = ca || registry_lookup_kv(&cfg->registry_ca_files, hosts->v[i]) != NULL;
		tls_off = tls_off || registry_in_list(&cfg->skip_tls_verify, hosts->v[i]);
	}
	if (ca && p->cert_dir)
		pushf(a, "--cert-dir=%s", p->cert_dir);
	if (tls_off)
		strlist_push(a, "--tls-verify=false");
}

/*
 * The warm-up before the build: Kaniko's warmer fills the base-image cache
 * directory (under a lock on it), buildah pulls each image into its storage.
 * cold: the images to warm, or NULL for every base image of the Dockerfile.
 */
static int warm_steps(const struct runner_config *cfg, const struct build_request *req,
                      const char *ws, const char *dockerfile, const struct strlist *cold,
                      struct backend_plan *p, char *err, size_t errlen)
{
	struct strlist images = {0};
	if (cold) {
		for (size_t i = 0; i < cold->n; i++)
			strlist_push(&images, cold->v[i]);
	} else if (base_images(req, ws, dockerfile, &images, err, errlen) != 0) {
		strlist_free(&images);
		return -1;
	}
	if (images.n && strcmp(cfg->backend, "buildah") == 0) {
		struct strlist insecure = {0};
		char host[256];
		insecure_hosts(req, &insecure);
		for (size_t i = 0; i < images.n; i++) {
			struct backend_step *s = add_step(p, "buildah pull");
			s->optional = true;
			strlist_push(&s->warms, images.v[i]);
			backend_ref_host(images.v[i], host, sizeof(host));
			strlist_push(&s->argv, cfg->buildah);
			pushf(&s->argv, "--storage-driver=%s", cfg->storage_driver);
			strlist_push(&s->argv, "pull");
			strlist_push(&s->argv, "--quiet");
			pushf(&s->argv, "--authfile=%s/docker/config.json", ws);
			struct strlist one = {0};
			strlist_push(&one, host);
			buildah_tls(cfg, p, &one,
			            list_has(&insecure, host) ||
			                    registry_plain_http_by_default(host),
			            &s->argv);
			strlist_free(&one);
			if (req->platform)
				pushf(&s->argv, "--platform=%s", req->platform);
			strlist_push(&s->argv, images.v[i]);
		}
		strlist_free(&insecure);
	} else if (images.n) {
		const char *dir = req->cache_dir ? req->cache_dir : BACKEND_KANIKO_CACHE_DIR;
		struct backend_step *s = add_step(p, "kaniko warmer");
		s->optional = true;
		if (asprintf(&s->lock, "%s/.r2k-warm.lock", dir) < 0)
			abort();
		strlist_push(&s->argv, cfg->warmer);
		pushf(&s->argv, "--cache-dir=%s", dir);
		for (size_t i = 0; i < images.n; i++) {
			pushf(&s->argv, "--image=%s", images.v[i]);
			strlist_push(&s->warms, images.v[i]);
		}
	}
	strlist_free(&images);
	return 0;
}

/* The executor's flags, as repo2kaniko's engine passes them. */
static void kaniko(const struct runner_config *cfg, const struct build_request *req, const char *ws,
                   const char *dockerfile, struct backend_plan *p)
{
	struct strlist *a = &add_step(p, "kaniko")->argv;
	struct strlist insecure = {0};
	strlist_push(a, cfg->executor);
	pushf(a, "--dockerfile=%s/context/%s", ws, dockerfile);
	pushf(a, "--context=dir://%s/context", ws);
	for (size_t i = 0; i < req->destinations.n; i++)
		pushf(a, "--destination=%s", req->destinations.v[i]);
	for (size_t i = 0; i < req->build_args.n; i++)
		pushf(a, "--build-arg=%s", req->build_args.v[i]);
	for (size_t i = 0; i < req->labels.n; i++)
		pushf(a, "--label=%s", req->labels.v[i]);
	if (req->platform)
		pushf(a, "--custom-platform=%s", req->platform);
	if (req->target)
		pushf(a, "--target=%s", req->target);
	if (req->cache_repo) {
		strlist_push(a, "--cache=true");
		strlist_push(a, "--cache-copy-layers=true");
		strlist_push(a, "--cache-run-layers=true");
		pushf(a, "--cache-repo=%s", req->cache_repo);
	}
	insecure_hosts(req, &insecure);
	for (size_t i = 0; i < insecure.n; i++)
		pushf(a, "--insecure-registry=%s", insecure.v[i]);
	strlist_free(&insecure);
	/* The registries' TLS as the runner's checks see it. */
	for (size_t i = 0; i < cfg->registry_ca_files.n; i++)
		pushf(a, "--registry-certificate=%s", cfg->registry_ca_files.v[i]);
	for (size_t i = 0; i < cfg->skip_tls_verify.n; i++)
		pushf(a, "--skip-tls-verify-registry=%s", cfg->skip_tls_verify.v[i]);
	if (req->cache_dir)
		pushf(a, "--cache-dir=%s", req->cache_dir);
	if (!req->push)
		strlist_push(a, "--no-push");
	pushf(a, "--digest-file=%s", p->digest_file);
	strlist_push(a, "--log-format=text");
}

/* buildah build under a local name, then one push per destination, then rmi of that name. */
static void buildah(const struct runner_config *cfg, const struct build_request *req,
                    const char *ws, const char *dockerfile, unsigned long build_id,
                    struct backend_plan *p)
{
	struct strlist insecure = {0}, reached = {0}, images = {0};
	char image[512], host[256], lerr[256];
	bool tls_off = false;
	insecure_hosts(req, &insecure);
	/*
	 * The registries the build itself reaches: base images and the cache
	 * (it pushes nothing to the destinations, whose registries do not
	 * matter here). An unreadable Dockerfile is buildah's to report.
	 */
	tls_off = insecure.n > 0;
	if (base_images(req, ws, dockerfile, &images, lerr, sizeof(lerr)) == 0)
		for (size_t i = 0; i < images.n; i++) {
			backend_ref_host(images.v[i], host, sizeof(host));
			tls_off = tls_off || registry_plain_http_by_default(host);
			strlist_push(&reached, host);
		}
	strlist_free(&images);
	if (req->cache_repo) {
		backend_ref_host(req->cache_repo, host, sizeof(host));
		tls_off = tls_off || registry_plain_http_by_default(host);
		strlist_push(&reached, host);
	}
	/*
	 * Always a name of this build's own, never a destination: concurrent
	 * builds of one destination (in one runner, or runners sharing storage)
	 * would otherwise push, or remove, each other's image.
	 */
	snprintf(image, sizeof(image), "localhost/r2k-build-%ld-%lu:latest", (long)getpid(),
	         build_id);

	struct strlist *a = &add_step(p, "buildah build")->argv;
	strlist_push(a, cfg->buildah);
	pushf(a, "--storage-driver=%s", cfg->storage_driver);
	strlist_push(a, "build");
	pushf(a, "--isolation=%s", cfg->isolation);
	strlist_push(a, "-f");
	pushf(a, "%s/context/%s", ws, dockerfile);
	strlist_push(a, "-t");
	strlist_push(a, image);
	for (size_t i = 0; i < req->build_args.n; i++)
		pushf(a, "--build-arg=%s", req->build_args.v[i]);
	for (size_t i = 0; i < req->labels.n; i++)
		pushf(a, "--label=%s", req->labels.v[i]);
	if (req->platform)
		pushf(a, "--platform=%s", req->platform);
	if (req->target)
		pushf(a, "--target=%s", req->target);
	if (req->cache_repo) {
		/* Kaniko's --cache-repo: each step's layer is looked up there, pushed when built.
		 */
		strlist_push(a, "--layers");
		pushf(a, "--cache-from=%s", req->cache_repo);
		pushf(a, "--cache-to=%s", req->cache_repo);
	}
	pushf(a, "--authfile=%s/docker/config.json", ws);
	buildah_tls(cfg, p, &reached, tls_off, a);
	strlist_free(&reached);
	pushf(a, "%s/context", ws);

	for (size_t i = 0; req->push && i < req->destinations.n; i++) {
		const char *ref = req->destinations.v[i];
		backend_ref_host(ref, host, sizeof(host));
		a = &add_step(p, "buildah push")->argv;
		strlist_push(a, cfg->buildah);
		pushf(a, "--storage-driver=%s", cfg->storage_driver);
		strlist_push(a, "push");
		pushf(a, "--authfile=%s/docker/config.json", ws);
		struct strlist one = {0};
		strlist_push(&one, host);
		buildah_tls(cfg, p, &one,
		            list_has(&insecure, host) || registry_plain_http_by_default(host), a);
		strlist_free(&one);
		pushf(a, "--digestfile=%s", p->digest_file);
		strlist_push(a, image);
		pushf(a, "docker://%s", ref);
	}
	strlist_free(&insecure);
	strlist_push(&p->cleanup, cfg->buildah);
	pushf(&p->cleanup, "--storage-driver=%s", cfg->storage_driver);
	strlist_push(&p->cleanup, "rmi");
	strlist_push(&p->cleanup, "-f");
	strlist_push(&p->cleanup, image);
}

int backend_plan(const struct runner_config *cfg, const struct build_request *req,
                 const char *workspace, const char *dockerfile, unsigned long build_id,
                 const struct strlist *cold, struct backend_plan *plan, char *err, size_t errlen)
{
	memset(plan, 0, sizeof(*plan));
	if (asprintf(&plan->digest_file, "%s/digest", workspace) < 0) {
		plan->digest_file = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (strcmp(cfg->backend, "buildah") == 0 &&
	    buildah_cert_dir(cfg, req, workspace, dockerfile, plan, err, errlen) != 0) {
		backend_plan_free(plan);
		return -1;
	}
	if ((req->warm || cfg->warm) &&
	    warm_steps(cfg, req, workspace, dockerfile, cold, plan, err, errlen) != 0) {
		backend_plan_free(plan);
		return -1;
	}
	if (strcmp(cfg->backend, "buildah") == 0)
		buildah(cfg, req, workspace, dockerfile, build_id, plan);
	else
		kaniko(cfg, req, workspace, dockerfile, plan);
	/*
	 * A minimal, explicit environment: nothing else of the runner's leaks
	 * through but what builders need to reach registries (proxies, CA
	 * bundles) and what the operator passes with --pass-env.
	 */
	static const char *const keep[] = {"SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY",
	                                   "HTTPS_PROXY",   "NO_PROXY",     "http_proxy",
	                                   "https_proxy",   "no_proxy",     "TZ"};
	const char *path = getenv("PATH"), *home = getenv("HOME");
	pushf(&plan->env, "PATH=%s",
	      path && *path ? path
	                    : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	pushf(&plan->env, "HOME=%s", home && *home ? home : "/root");
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		pass_env(&plan->env, keep[i]);
	for (size_t i = 0; i < cfg->pass_env.n; i++)
		pass_env(&plan->env, cfg->pass_env.v[i]);
	pushf(&plan->env, "DOCKER_CONFIG=%s/docker", workspace);
	return 0;
}

void backend_plan_free(struct backend_plan *plan)
{
	for (size_t i = 0; i < plan->nsteps; i++) {
		strlist_free(&plan->steps[i].argv);
		strlist_free(&plan->steps[i].warms);
		free(plan->steps[i].lock);
	}
	free(plan->steps);
	strlist_free(&plan->cleanup);
	strlist_free(&plan->env);
	free(plan->digest_file);
	free(plan->cert_dir);
	memset(plan, 0, sizeof(*plan));
}
