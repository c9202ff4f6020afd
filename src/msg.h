/* msg.h: JSON messages on the wire (build request, check results). */
#ifndef R2K_MSG_H
#define R2K_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "opts.h"

/* Credentials for one registry, as the request carries them. */
struct registry_cred {
	char *registry; /* as given: host[:port], URL or Docker Hub alias */
	char *username; /* with password, or NULL */
	char *password;
	char *auth;    /* base64(user:password), instead of username/password */
	bool insecure; /* reach this registry over plain HTTP */
};

/* The build request: everything the runner needs besides the context bytes. */
struct build_request {
	struct strlist destinations; /* image references to push to */
	char *dockerfile;            /* path inside the context, default "Dockerfile" */
	struct strlist build_args;   /* "K=V"; the key is up to the first '=' */
	struct strlist labels;       /* "K=V" */
	char *platform;              /* NULL when not given */
	char *target;
	char *cache_repo; /* NULL: no layer cache */
	bool cache_insecure;
	struct strlist insecure_registries;
	char *cache_dir; /* Kaniko base-image cache directory */
	bool push;       /* default true */
	bool warm;       /* warm the base-image cache before building */
	struct registry_cred *creds;
	size_t ncreds;
};

/* One check result (docs/protocol.md, "Check results"). */
struct check_result {
	char target[256]; /* registry host or image reference */
	char kind[32];    /* reachability, auth, push, cache, base_image, cache_dir, warm */
	char status[32];  /* ok, anonymous, warm, cold, present, missing, ... */
	bool passed;      /* false: this check failed */
	char detail[512]; /* human-readable reason or value (digest, layer count) */
	double latency_ms;
};

/* Encode a request as a NUL-terminated JSON string (malloc'd), or NULL on OOM. */
char *msg_request_encode(const struct build_request *r);
/*
 * Decode a request; on error returns -1 with a message naming the field in
 * err. Unknown fields are ignored (forward compatibility).
 */
int msg_request_decode(const char *json, size_t len, struct build_request *r, char *err,
                       size_t errlen);
/*
 * json[0..len) as exactly one JSON object (whitespace after it allowed):
 * the object, or NULL with the reason in err. A NUL, raw or as \u0000,
 * would cut a string short here but not where it was written: it is
 * refused with nul_msg.
 */
struct cJSON *msg_json_object(const char *json, size_t len, const char *nul_msg, char *err,
                              size_t errlen);
void msg_request_init(struct build_request *r);
void msg_request_free(struct build_request *r);
/* Append a credential entry (strings copied; NULLs allowed). */
void msg_request_add_cred(struct build_request *r, const struct registry_cred *c);
/* Wipe the secrets of c, free its strings and zero it. */
void msg_cred_clear(struct registry_cred *c);

char *msg_check_encode(const struct check_result *c);
int msg_check_decode(const char *json, size_t len, struct check_result *c);

#endif
