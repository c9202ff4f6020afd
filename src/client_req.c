/* client_req.c: turn the client's options and environment into a build request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "msg_client.h"
#include "registry.h"

static int creds_from_flags(const struct strlist *l, const char *opt, bool single,
                            const char *default_registry, bool insecure, struct build_request *r,
                            char *err, size_t errlen);
static int finish_cred(struct registry_cred *c, const char *opt, size_t nentry,
                       const char *default_registry, struct build_request *r, char *err,
                       size_t errlen);
static void cache_host(const char *repo, char *out, size_t outlen);
static char *dup_or_null(const char *s);

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/*
 * KANIKO_PUSH_IMAGE as repo2kaniko reads it: set and not empty, it pushes
 * only when it is 1, t or true (any case, nothing around it); anything
 * else means no push. Unset or empty, r2k's default stands: push.
 */
void client_env_defaults(struct client_config *cfg)
{
	static const char *const yes[] = {"1", "t", "true"};
	const char *v = getenv("KANIKO_PUSH_IMAGE");
	if (!v || !*v)
		return;
	cfg->push = false;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(v, yes[i]) == 0)
			cfg->push = true;
}

/* The registry host of a repository reference ("host:5000/cache" -> "host:5000"). */
static void cache_host(const char *repo, char *out, size_t outlen)
{
	const char *slash = strchr(repo, '/');
	size_t n = slash ? (size_t)(slash - repo) : strlen(repo);
	bool is_host = slash && (memchr(repo, '.', n) || memchr(repo, ':', n) ||
	                         (n == 9 && strncmp(repo, "localhost", 9) == 0));
	if (!is_host)
		snprintf(out, outlen, "docker.io");
	else
		snprintf(out, outlen, "%.*s", (int)n, repo);
}

/* Check one credential entry and add it to the request; wipes and frees c's strings. */
static int finish_cred(struct registry_cred *c, const char *opt, size_t nentry,
                       const char *default_registry, struct build_request *r, char *err,
                       size_t errlen)
{
	int rc = -1;
	if (!c->registry && default_registry)
		c->registry = strdup(default_registry);
	if (!c->registry || !*c->registry)
		snprintf(err, errlen,
		         "%s: entry %zu has no registry (start each entry with registry=HOST)", opt,
		         nentry);
	else if (!(c->auth && *c->auth) && !(c->username && c->password))
		snprintf(err, errlen,
		         "%s: entry for %s needs username= and password=, or auth=", opt,
		         c->registry);
	else {
		msg_request_add_cred(r, c);
		rc = 0;
	}
	msg_cred_clear(c);
	return rc;
}

/*
 * KEY=VALUE items: registry, username, password, auth, insecure. A registry=
 * item starts a new entry (unless single); the value is everything after the
 * first '=', unchanged.
 */
static int creds_from_flags(const struct strlist *l, const char *opt, bool single,
                            const char *default_registry, bool insecure, struct build_request *r,
                            char *err, size_t errlen)
{
	struct registry_cred c = {.insecure = insecure};
	size_t nentry = 0;
	bool open = false;
	for (size_t i = 0; i < l->n; i++) {
		const char *item = l->v[i];
		const char *eq = strchr(item, '=');
		if (!eq || eq == item) {
			/* The item may be a mistyped secret: do not echo it. */
			snprintf(err, errlen,
			         "%s: item %zu is not KEY=VALUE (keys: registry, username, "
			         "password, auth, insecure)",
			         opt, i + 1);
			goto bad;
		}
		size_t kl = (size_t)(eq - item);
		const char *val = eq + 1;
		char **field = NULL;
		if (kl == 8 && strncmp(item, "registry", 8) == 0) {
			if (open && (c.registry || c.username || c.password || c.auth)) {
				if (single) {
					snprintf(err, errlen, "%s: only one registry may be given",
					         opt);
					goto bad;
				}
				if (finish_cred(&c, opt, nentry, default_registry, r, err, errlen) <
				    0)
					return -1;
				c.insecure = insecure;
			}
			open = true;
			nentry++;
			field = &c.registry;
		} else if (kl == 8 && strncmp(item, "username", 8) == 0) {
			field = &c.username;
		} else if (kl == 8 && strncmp(item, "password", 8) == 0) {
			field = &c.password;
		} else if (kl == 4 && strncmp(item, "auth", 4) == 0) {
			field = &c.auth;
		} else if (kl == 8 && strncmp(item, "insecure", 8) == 0) {
			if (strcmp(val, "true") && strcmp(val, "false") && strcmp(val, "1") &&
			    strcmp(val, "0")) {
				snprintf(err, errlen, "%s: insecure= must be true or false", opt);
				goto bad;
			}
			c.insecure = strcmp(val, "true") == 0 || strcmp(val, "1") == 0;
			continue;
		} else {
			snprintf(
			        err, errlen,
			        "%s: unknown key '%.*s' (keys: registry, username, password, auth, "
			        "insecure)",
			        opt, (int)(kl > 64 ? 64 : kl), item);
			goto bad;
		}
		if (!open) {
			open = true;
			nentry++;
		}
		if (*field) {
			snprintf(err, errlen,
			         "%s: '%.*s' given twice for one registry (start another entry "
			         "with registry=HOST)",
			         opt, (int)kl, item);
			goto bad;
		}
		*field = dup_or_null(val);
	}
	if (open)
		return finish_cred(&c, opt, nentry, default_registry, r, err, errlen);
	return 0;
bad:
	/* Wipe and free what was collected; the entry is not added. */
	msg_cred_clear(&c);
	return -1;
}

int client_build_request(const struct client_config *cfg, struct build_request *r, char *warn,
                         size_t warnlen, char *err, size_t errlen)
{
	warn[0] = '\0';
	msg_request_init(r);
	/* An empty value would reach the builder as, say, "--destination=". */
	const struct {
		const char *name, *value;
	} single[] = {{"--dockerfile", cfg->dockerfile},
	              {"--platform", cfg->platform},
	              {"--target", cfg->target},
	              {"--cache-registry", cfg->cache_registry},
	              {"--cache-dir", cfg->cache_dir}};
	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		if (single[i].value && !*single[i].value) {
			snprintf(err, errlen, "%s: the value is empty", single[i].name);
			goto bad;
		}
	}
	const struct {
		const char *name;
		const struct strlist *l;
	} lists[] = {{"--destination", &cfg->destinations},
	             {"--insecure-registry", &cfg->insecure_registries}};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		for (size_t k = 0; k < lists[i].l->n; k++) {
			if (!*lists[i].l->v[k]) {
				snprintf(err, errlen, "%s: the value is empty", lists[i].name);
				goto bad;
			}
		}
	}
	for (size_t i = 0; i < cfg->destinations.n; i++)
		strlist_push(&r->destinations, cfg->destinations.v[i]);
	for (size_t i = 0; i < cfg->build_args.n; i++) {
		const char *a = cfg->build_args.v[i];
		if (a[0] == '=' || a[0] == '\0') {
			snprintf(err, errlen, "--build-arg '%s': the key is empty", a);
			goto bad;
		}
		if (strchr(a, '=')) {
			strlist_push(&r->build_args, a);
			continue;
		}
		/* --build-arg KEY takes the value from the environment, as docker build does. */
		const char *v = getenv(a);
		if (!v) {
			snprintf(err, errlen,
			         "--build-arg '%s': no '=' and %s is not set in the environment", a,
			         a);
			goto bad;
		}
		size_t n = strlen(a) + strlen(v) + 2;
		char *kv = malloc(n);
		if (!kv)
			abort();
		snprintf(kv, n, "%s=%s", a, v);
		strlist_push(&r->build_args, kv);
		free(kv);
	}
	for (size_t i = 0; i < cfg->labels.n; i++) {
		const char *l = cfg->labels.v[i];
		if (!strchr(l, '=') || l[0] == '=') {
			snprintf(err, errlen, "--label '%s': expected KEY=VALUE", l);
			goto bad;
		}
		strlist_push(&r->labels, l);
	}
	for (size_t i = 0; i < cfg->insecure_registries.n; i++)
		strlist_push(&r->insecure_registries, cfg->insecure_registries.v[i]);
	r->dockerfile = dup_or_null(cfg->dockerfile);
	r->platform = dup_or_null(cfg->platform);
	r->target = dup_or_null(cfg->target);
	r->cache_repo = dup_or_null(cfg->cache_registry);
	r->cache_insecure = cfg->cache_registry_insecure;
	r->cache_dir = dup_or_null(cfg->cache_dir);
	r->push = cfg->push;
	r->warm = cfg->warm;

	/* Registry credentials: the flags, or else the repo2docker variable. */
	if (cfg->registry_credentials.n) {
		if (creds_from_flags(&cfg->registry_credentials, "--registry-credentials", false,
		                     NULL, false, r, err, errlen) < 0)
			goto bad;
	} else {
		const char *v = getenv("CONTAINER_ENGINE_REGISTRY_CREDENTIALS");
		if (v && *v &&
		    msg_creds_parse(v, "CONTAINER_ENGINE_REGISTRY_CREDENTIALS", true, NULL, r, err,
		                    errlen) < 0)
			goto bad;
	}

	/* Cache registry credentials: the registry defaults to the cache repository's host. */
	char host[256] = "";
	if (cfg->cache_registry)
		cache_host(cfg->cache_registry, host, sizeof(host));
	const char *def = host[0] ? host : NULL;
	size_t before = r->ncreds;
	if (cfg->cache_registry_credentials.n) {
		if (creds_from_flags(&cfg->cache_registry_credentials,
		                     "--cache-registry-credentials", true, def,
		                     cfg->cache_registry_insecure, r, err, errlen) < 0)
			goto bad;
	} else {
		const char *v = getenv("KANIKO_CACHE_REGISTRY_CREDENTIALS");
		if (v && *v &&
		    msg_creds_parse(v, "KANIKO_CACHE_REGISTRY_CREDENTIALS", false, def, r, err,
		                    errlen) < 0)
			goto bad;
	}
	if (r->ncreds > before && cfg->cache_registry_insecure)
		r->creds[r->ncreds - 1].insecure = true;
	/* One config.json holds one login per registry: the destinations' wins. */
	if (r->ncreds > before && before > 0 &&
	    registry_find_cred(r->creds, before, r->creds[r->ncreds - 1].registry)) {
		snprintf(warn, warnlen,
		         "the cache registry credentials for %.200s are not used: the registry "
		         "credentials name the same registry",
		         r->creds[r->ncreds - 1].registry);
		msg_cred_clear(&r->creds[--r->ncreds]);
	}
	return 0;
bad:
	msg_request_free(r);
	return -1;
}
