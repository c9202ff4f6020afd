/* checks.h: registry checks run concurrently on the libuv loop (the only libcurl user). */
#ifndef R2K_CHECKS_H
#define R2K_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "msg.h"
#include "opts.h"

struct checks;

/* What the checks need to know; checks_new copies everything. */
struct checks_opts {
	double timeout;   /* seconds for one attempt of one request (default 10) */
	unsigned retries; /* extra attempts after refused/timeout/DNS failures (default 3) */
	double backoff;   /* seconds before the first retry, doubled each time (default 0.5) */
	const struct registry_cred *creds; /* matched to registries by registry_host_match */
	size_t ncreds;
	const struct strlist *insecure;    /* HOST: plain HTTP */
	const struct strlist *ca_files;    /* HOST=FILE: CA bundle for HTTPS to HOST */
	const struct strlist *skip_verify; /* HOST: HTTPS without certificate verification */
	const char
	        *cache_dir;   /* Kaniko base-image cache directory, or NULL: no cache_dir results */
	double cache_ttl;     /* seconds a cache_dir entry stays fresh (default 2 weeks) */
	const char *platform; /* os/arch[/variant] picked from image indexes (default the host's) */
};

/* Called the moment each result is known. */
typedef void (*checks_result_cb)(struct checks *c, const struct check_result *res, void *arg);
/* Called when the last pending check has finished. */
typedef void (*checks_done_cb)(struct checks *c, void *arg);

/* Defaults for every field. */
void checks_opts_init(struct checks_opts *o);
/* A new, empty set of checks on loop; NULL when libcurl cannot start. */
struct checks *checks_new(uv_loop_t *loop, const struct checks_opts *opts,
                          checks_result_cb on_result, checks_done_cb on_done, void *arg);

/*
 * Each add starts its checks at once and returns 0, or -1 with the reason in
 * err for an invalid registry or reference (nothing is added then). Results
 * come later through on_result, never from inside an add. Every check of a
 * repository first waits for its registry's reachability result (added
 * automatically, once per registry).
 *
 * Registry (host[:port], http(s):// URL or Docker Hub alias): "reachability"
 * and "auth". An explicit https:// or http:// forces that scheme.
 */
int checks_add_registry(struct checks *c, const char *registry, char *err, size_t errlen);
/* Destination image: "push" (start a blob upload, then cancel it). */
int checks_add_push(struct checks *c, const char *image, char *err, size_t errlen);
/* Cache repository (Kaniko --cache-repo): "cache", warm with the number of tags or cold. */
int checks_add_cache_repo(struct checks *c, const char *repo, char *err, size_t errlen);
/*
 * Image: "manifest" (HEAD of its manifest), then "cache_dir" when a cache
 * directory is set. missing_ok: a missing manifest passes (a destination).
 */
int checks_add_image(struct checks *c, const char *image, bool missing_ok, char *err,
                     size_t errlen);
/* Every base image of a Dockerfile (dockerfile_base_images): "base_image", then "cache_dir". */
int checks_add_base_images_from_dockerfile(struct checks *c, const char *dockerfile_text,
                                           const struct strlist *build_args, char *err,
                                           size_t errlen);
/* Checks added and not finished yet. */
size_t checks_pending(const struct checks *c);
/* Stop every check: no callback is called after this returns. */
void checks_cancel(struct checks *c);
/*
 * Cancel and free; close_cb(arg) runs from the loop once every handle is
 * closed (run the loop until then). Safe to call from inside a callback.
 */
void checks_close(struct checks *c, void (*close_cb)(void *arg), void *arg);

/*
 * Whether Kaniko's base-image cache in dir holds the image with this
 * manifest digest: a regular file dir/DIGEST (the image tarball) not older
 * than ttl seconds; dir/DIGEST.json is the optional manifest. Returns 1
 * (cached), 0 (not, or stale) or -1 (dir unreadable or digest malformed),
 * with a description in detail.
 */
int checks_cache_dir_has(const char *dir, const char *digest, double ttl, char *detail, size_t len);

#endif
