/* preflight.h: one build's registry checks: what to check, results, enforce or warn. */
#ifndef R2K_PREFLIGHT_H
#define R2K_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "cli.h"
#include "msg.h"

struct preflight;
struct runner_stats;

/* What a failed check does (--preflight). */
enum preflight_mode { PREFLIGHT_OFF, PREFLIGHT_WARN, PREFLIGHT_ENFORCE };

struct preflight_ops {
	/* A result, as the CHECK payload (JSON, len bytes); valid only during the call. */
	void (*result)(const char *json, size_t len, void *arg);
	/* A line for the client (LOG level from proto.h). */
	void (*log)(int level, const char *msg, void *arg);
	/* Enforce mode: a blocking check failed; why names the target and the reason. Once. */
	void (*blocked)(const char *why, void *arg);
	/* No check is pending any more (may come more than once, as checks are added). */
	void (*settled)(void *arg);
};

/* The mode named by --preflight (enforce when NULL or unknown). */
enum preflight_mode preflight_mode(const char *name);

/*
 * Start the checks of req (registries of the destinations and the cache
 * repository, push permission when req->push, the cache repository) on loop.
 * Returns NULL with err empty when the mode is off, NULL with a reason in
 * err when the checks cannot start. No callback runs from inside this call.
 */
struct preflight *preflight_start(uv_loop_t *loop, const struct runner_config *cfg,
                                  struct runner_stats *stats, const struct build_request *req,
                                  const struct preflight_ops *ops, void *arg, char *err,
                                  size_t errlen);
/* The Dockerfile arrived: check its base images (with req's build args). Only the first call
 * counts. */
void preflight_dockerfile(struct preflight *p, const char *text, bool truncated);
/*
 * Once settled: the base images the cache directory lacks (maybe none), or
 * NULL when that is not known (no cache directory results for every image).
 */
const struct strlist *preflight_cold_images(const struct preflight *p);
/* Whether preflight_dockerfile was called. */
bool preflight_has_dockerfile(const struct preflight *p);
/* Checks started and not finished yet. */
size_t preflight_pending(const struct preflight *p);
/*
 * Stop every check (no op is called after this returns) and free p;
 * closed(arg) runs from the loop once everything is released. Safe inside an op.
 */
void preflight_close(struct preflight *p, void (*closed)(void *arg), void *arg);

#endif
