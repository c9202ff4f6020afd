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
	bool optional; /* a failure is logged and the next step runs (the Kaniko warmer) */
};

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
};

/*
 * Build the plan for req in workspace (WORKSPACE/context holds the context,
 * WORKSPACE/docker the credentials); dockerfile is the normalised path
 * inside the context. With Kaniko and warm (request or --warm), a warmer
 * step for the Dockerfile's base images comes first. Returns 0, or -1 with
 * a reason in err.
 */
int backend_plan(const struct runner_config *cfg, const struct build_request *req,
                 const char *workspace, const char *dockerfile, unsigned long build_id,
                 struct backend_plan *plan, char *err, size_t errlen);
void backend_plan_free(struct backend_plan *plan);

/* The registry host[:port] of an image reference ("docker.io" when it names none). */
void backend_ref_host(const char *ref, char *out, size_t outlen);

#endif
