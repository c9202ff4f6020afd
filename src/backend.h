/* backend.h: the builder's command lines (Kaniko or buildah) and environment for one build. */
#ifndef R2K_BACKEND_H
#define R2K_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "msg.h"

/* One command to run: an argv (NULL-terminated strlist) and a name for logs. */
struct backend_step {
	struct strlist argv;
	char name[32];
	bool optional;        /* a failure is logged and the next step runs (the warm-up) */
	struct strlist warms; /* a warm-up step: the base images it warms; else empty */
	char *lock;           /* a file to hold an exclusive lock on while the step runs, or NULL */
};

/* Kaniko's base-image cache directory when the request names none (Kaniko's default). */
#define BACKEND_KANIKO_CACHE_DIR "/cache"

/*
 * Everything a build runs, in order: steps[0] builds; further steps (buildah
 * push) run only after the previous one succeeded; cleanup (buildah rmi)
 * runs last whatever happened, its output not relayed. env is the complete
 * environment of every step.
 */
struct backend_plan {
	struct backend_step *steps;
	size_t nsteps;
	struct strlist cleanup; /* empty when nothing to clean up */
	struct strlist env;
	char *digest_file; /* where the builder writes the image digest */
	char *cert_dir;    /* buildah's --cert-dir in the workspace (CA copies), or NULL */
};

/*
 * Build the plan for req in workspace (WORKSPACE/context holds the context,
 * WORKSPACE/docker the credentials); dockerfile is the normalised path
 * inside the context. With warm (request or --warm), warm-up steps come
 * first: the Kaniko warmer for the images in cold (under a lock on the cache
 * directory), or one buildah pull per image; cold NULL means every base
 * image of the Dockerfile, an empty list no warm-up. With buildah, the
 * --registry-ca-file bundles of the registries the build reaches are copied
 * into WORKSPACE/certs (plan->cert_dir) for buildah's --cert-dir. Returns 0,
 * or -1 with a reason in err (a CA file that cannot be copied).
 */
int backend_plan(const struct runner_config *cfg, const struct build_request *req,
                 const char *workspace, const char *dockerfile, unsigned long build_id,
                 const struct strlist *cold, struct backend_plan *plan, char *err, size_t errlen);
void backend_plan_free(struct backend_plan *plan);

/* The registry host[:port] of an image reference ("docker.io" when it names none). */
void backend_ref_host(const char *ref, char *out, size_t outlen);

#endif
