/* check_cmd.c: r2k check: run registry checks from the command line and print the results. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "checks.h"
#include "cli.h"
#include "imageref.h"
#include "log.h"
#include "registry.h"
#include "roles.h"

/* Retries beyond this would keep a check going for many minutes (backoff doubles). */
#define CHECK_MAX_RETRIES 10

/* Everything one run of r2k check holds. */
struct check_run {
	struct check_config cfg;
	struct check_result *res;
	size_t nres;
	bool failed;
	bool closed;
};

static void on_result(struct checks *c, const struct check_result *res, void *arg);
static void on_done(struct checks *c, void *arg);
static void on_closed(void *arg);
static char *read_file(const char *path, char *err, size_t errlen);
static int validate_kv_files(const struct strlist *l, const char *opt);
static void print_table(const struct check_run *run);
static int add_targets(struct check_run *run, struct checks *c);

/* One result: print it now (JSON) or keep it for the table. */
static void on_result(struct checks *c, const struct check_result *res, void *arg)
{
	struct check_run *run = arg;
	if (!res->passed)
		run->failed = true;
	if (run->cfg.json) {
		char *s = msg_check_encode(res);
		if (s) {
			printf("%s\n", s);
			fflush(stdout);
		}
		free(s);
		return;
	}
	struct check_result *v = realloc(run->res, (run->nres + 1) * sizeof(*v));
	if (!v)
		abort();
	run->res = v;
	v[run->nres++] = *res;
}

/* Every check finished: close. */
static void on_done(struct checks *c, void *arg)
{
	checks_close(c, on_closed, arg);
}

/* The checks are freed. */
static void on_closed(void *arg)
{
	struct check_run *run = arg;
	run->closed = true;
}

/* A whole file as a NUL-terminated string (at most 1 MiB), or NULL. */
static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 20, n;
	char *buf = malloc(cap + 1);
	if (!buf)
		abort();
	n = fread(buf, 1, cap + 1, f);
	bool bad = ferror(f) || n > cap;
	fclose(f);
	if (bad) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		         n > cap ? "larger than 1 MiB" : "read error");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Each entry must be HOST=FILE with a readable FILE. */
static int validate_kv_files(const struct strlist *l, const char *opt)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *eq = strchr(l->v[i], '=');
		char key[256];
		if (!eq || eq == l->v[i] || !eq[1]) {
			fprintf(stderr, "r2k check: %s '%s': expected HOST=FILE\n", opt, l->v[i]);
			return -1;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - l->v[i]), l->v[i]);
		char k[256];
		if (registry_key(key, k, sizeof(k))) {
			fprintf(stderr, "r2k check: %s '%s': invalid host\n", opt, l->v[i]);
			return -1;
		}
		FILE *f = fopen(eq + 1, "r");
		if (!f) {
			fprintf(stderr, "r2k check: %s: cannot open %s: %s\n", opt, eq + 1,
			        strerror(errno));
			return -1;
		}
		fclose(f);
	}
	return 0;
}

/* Add the command line's checks: registries first (their schemes stick), then images. */
static int add_targets(struct check_run *run, struct checks *c)
{
	char err[512];
	const struct check_config *cfg = &run->cfg;
	for (size_t i = 0; i < cfg->targets.n; i++) {
		const char *t = cfg->targets.v[i];
		if (imageref_is_registry(t) && checks_add_registry(c, t, err, sizeof(err)))
			goto bad;
	}
	for (size_t i = 0; i < cfg->targets.n; i++) {
		const char *t = cfg->targets.v[i];
		if (imageref_is_registry(t))
			continue;
		if (checks_add_image(c, t, cfg->push, err, sizeof(err)))
			goto bad;
		if (cfg->push && checks_add_push(c, t, err, sizeof(err)))
			goto bad;
	}
	for (size_t i = 0; i < cfg->cache_repos.n; i++)
		if (checks_add_cache_repo(c, cfg->cache_repos.v[i], err, sizeof(err)))
			goto bad;
	if (cfg->dockerfile) {
		char *text = read_file(cfg->dockerfile, err, sizeof(err));
		if (!text)
			goto bad;
		int rc = checks_add_base_images_from_dockerfile(c, text, &cfg->build_args, err,
		                                                sizeof(err));
		free(text);
		if (rc) {
			fprintf(stderr, "r2k check: %s: %s\n", cfg->dockerfile, err);
			return -1;
		}
	}
	return 0;
bad:
	fprintf(stderr, "r2k check: %s\n", err);
	return -1;
}

/* The results as an aligned table: target, check, result, latency, detail. */
static void print_table(const struct check_run *run)
{
	int wt = 6, wk = 5, ws = 6;
	for (size_t i = 0; i < run->nres; i++) {
		const struct check_result *r = &run->res[i];
		int t = (int)strlen(r->target), k = (int)strlen(r->kind);
		int s = (int)strlen(r->status) + (r->passed ? 0 : 9);
		wt = t > wt ? t : wt;
		wk = k > wk ? k : wk;
		ws = s > ws ? s : ws;
	}
	printf("%-*s  %-*s  %-*s  %9s  %s\n", wt, "TARGET", wk, "CHECK", ws, "RESULT", "LATENCY",
	       "DETAIL");
	for (size_t i = 0; i < run->nres; i++) {
		const struct check_result *r = &run->res[i];
		char st[64];
		snprintf(st, sizeof(st), "%s%s", r->status, r->passed ? "" : " (failed)");
		printf("%-*s  %-*s  %-*s  %7.0fms  %s\n", wt, r->target, wk, r->kind, ws, st,
		       r->latency_ms, r->detail);
	}
}

int check_main(int argc, char **argv)
{
	struct check_run run;
	memset(&run, 0, sizeof(run));
	cli_check_defaults(&run.cfg);
	int rc = opts_parse(&cli_check_cmd, argc, argv, &run.cfg);
	if (rc) {
		cli_check_free(&run.cfg);
		return rc == 1 ? R2K_EXIT_OK : rc;
	}
	struct check_config *cfg = &run.cfg;
	log_init("r2k check", cfg->verbose ? LOG_DEBUG : LOG_WARN);
	struct registry_cred *creds = NULL;
	size_t ncreds = 0;
	char err[512];
	rc = R2K_EXIT_USAGE;
	if (!cfg->targets.n && !cfg->dockerfile && !cfg->cache_repos.n) {
		fprintf(stderr, "r2k check: nothing to check: give a TARGET, --dockerfile or "
		                "--cache-repo (see r2k check --help)\n");
		goto out;
	}
	if (registry_creds_parse(&cfg->registry_credentials, &creds, &ncreds, err, sizeof(err))) {
		fprintf(stderr, "r2k check: --registry-credentials: %s\n", err);
		goto out;
	}
	if (validate_kv_files(&cfg->registry_ca_files, "--registry-ca-file"))
		goto out;
	if (cfg->timeout <= 0) {
		fprintf(stderr, "r2k check: --timeout must be more than 0 seconds\n");
		goto out;
	}
	if (cfg->retries > CHECK_MAX_RETRIES) {
		fprintf(stderr, "r2k check: --retries is at most %d\n", CHECK_MAX_RETRIES);
		goto out;
	}

	struct checks_opts o;
	checks_opts_init(&o);
	o.timeout = cfg->timeout;
	o.retries = (unsigned)cfg->retries;
	o.creds = creds;
	o.ncreds = ncreds;
	o.insecure = &cfg->insecure_registries;
	o.ca_files = &cfg->registry_ca_files;
	o.skip_verify = &cfg->skip_tls_verify;
	o.cache_dir = cfg->cache_dir;
	o.platform = cfg->platform;

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct checks *c = checks_new(&loop, &o, on_result, on_done, &run);
	if (!c) {
		fprintf(stderr, "r2k check: cannot initialise libcurl\n");
		rc = R2K_EXIT_INTERNAL;
		uv_loop_close(&loop);
		goto out;
	}
	bool bad = add_targets(&run, c) != 0;
	if (bad || checks_pending(c) == 0)
		checks_close(c, on_closed, &run);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_run(&loop, UV_RUN_NOWAIT); /* let every close callback run */
	if (uv_loop_close(&loop))
		log_warn(0, "event loop still had handles at exit");
	if (bad) {
		rc = R2K_EXIT_USAGE;
		goto out;
	}
	if (!cfg->json)
		print_table(&run);
	rc = run.failed ? R2K_EXIT_FAILURE : R2K_EXIT_OK;
out:
	free(run.res);
	registry_creds_free(creds, ncreds);
	cli_check_free(cfg);
	return rc;
}
