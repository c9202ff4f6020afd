/* checks_int.h: the state shared by checks.c (API, registries) and checks_jobs.c (check flows). */
#ifndef R2K_CHECKS_INT_H
#define R2K_CHECKS_INT_H

#include <stdint.h>

#include "checks.h"
#include "checks_http.h"
#include "msg_registry.h"

enum reg_state { REG_PENDING, REG_UP, REG_DOWN };

/* One registry host: how to reach it and whether it answered. */
struct reg {
	struct checks *c;
	char host[256]; /* host[:port] */
	char base[300]; /* scheme://host[:port] */
	const struct registry_cred *cred;
	bool probe;   /* HTTPS first, plain HTTP if that fails (go-containerregistry's ping) */
	bool probing; /* the HTTPS attempt of the probe is out */
	enum creq_fail probe_fail;
	bool probe_unverified; /* the HTTPS attempt met a certificate it could not verify */
	char probe_err[256];
	enum reg_state state;
	struct job *waiters; /* jobs started when the reachability result is known */
	struct reg *next;
};

enum job_kind { JOB_REGISTRY, JOB_PUSH, JOB_CACHE, JOB_IMAGE };
enum job_phase { PH_PING, PH_MAIN, PH_TOKEN, PH_DELETE, PH_INDEX };

/* One check (a registry's reachability+auth, a push, a cache repo, an image). */
struct job {
	struct checks *c;
	struct reg *reg;
	enum job_kind kind;
	const char *result_kind; /* "push", "cache", "manifest", "base_image" */
	char target[256];
	char repo[256];
	char ref[160];
	bool missing_ok;
	bool ref_is_digest;
	uint64_t t0;
	enum job_phase phase;
	bool authed;     /* an Authorization was tried after a challenge */
	bool sent_creds; /* credentials went to the registry or token service */
	bool once;       /* the next request gets no retries */
	char *authz;     /* "Authorization: ..." header, or NULL */
	char url[2048];  /* current main request */
	long ntags;
	struct strlist pages;        /* tags/list URLs read so far */
	struct msg_tags_stream tags; /* the tags of a page too large to keep */
	char digest[136];
	struct creq *req; /* in flight, or NULL */
	bool done;
	struct job *next, *wnext;
};

struct checks {
	uv_loop_t *loop;
	struct chttp *http;
	checks_result_cb on_result;
	checks_done_cb on_done;
	void *arg;
	double timeout, backoff, cache_ttl;
	unsigned retries;
	struct registry_cred *creds;
	size_t ncreds;
	struct strlist insecure, ca_files, skip_verify;
	char *cache_dir;
	char *env_ca_file, *env_ca_dir; /* SSL_CERT_FILE, SSL_CERT_DIR */
	char os[16], arch[16], variant[16];
	struct reg *regs;
	struct job *jobs;
	size_t pending;
	bool cancelled;
	void (*close_cb)(void *arg);
	void *close_arg;
};

/* checks.c */
void checks_emit(struct job *j, const char *kind, const char *status, bool passed, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
void checks_job_done(struct job *j);
void checks_reg_resolved(struct reg *r, bool up);
void checks_request(struct job *j, const char *method, const char *url, const char *header,
                    bool authz);

/* checks_jobs.c */
void checks_on_req(struct creq *r, void *arg);
void checks_job_begin(struct job *j);

#endif
