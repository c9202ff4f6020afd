/* msg_version.h: the JSON document GET /version answers with. */
#ifndef R2K_MSG_VERSION_H
#define R2K_MSG_VERSION_H

#include <stdint.h>

/* What the runner says about itself. */
struct version_info {
	const char *version; /* r2k's version */
	int protocol;        /* wire protocol version spoken */
	const char *backend; /* kaniko or buildah */
	const char *mode;    /* single or multiple */
	uint64_t max_builds; /* concurrent builds in multiple mode */
	double uptime_seconds;
};

/* Encode as a NUL-terminated JSON object (malloc'd), or NULL on OOM. */
char *msg_version_encode(const struct version_info *v);

#endif
