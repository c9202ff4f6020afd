/* msg_legacy.h: the old kaniko-runner JSON line: {"command": [...], "credentials": [...]}. */
#ifndef R2K_MSG_LEGACY_H
#define R2K_MSG_LEGACY_H

#include <stddef.h>

#include "msg.h"
#include "opts.h"

/* One legacy request: the builder's argv and the registries' credentials. */
struct legacy_request {
	struct strlist command;      /* argv; command.v[0] is the program */
	struct registry_cred *creds; /* as in the r2k build request */
	size_t ncreds;
};

/*
 * Decode one JSON line (without its newline). On error returns -1 with a
 * message in err that names the field and never quotes a secret. Unknown
 * fields are ignored, as the old runner did. Every credential entry needs
 * "registry" and either "auth" or "username" and "password", not both.
 */
int msg_legacy_decode(const char *json, size_t len, struct legacy_request *req, char *err,
                      size_t errlen);
/* Free what decode filled, wiping secrets. */
void msg_legacy_free(struct legacy_request *req);

#endif
