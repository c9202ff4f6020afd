/* checks_http.h: HTTP requests on a libcurl multi handle driven by the libuv loop (internal to
 * checks). */
#ifndef R2K_CHECKS_HTTP_H
#define R2K_CHECKS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct chttp;
struct creq;

/* How a request failed below HTTP (CREQ_OK: an HTTP answer arrived). */
enum creq_fail { CREQ_OK, CREQ_DNS, CREQ_REFUSED, CREQ_TIMEOUT, CREQ_TLS, CREQ_CONN };

/* Called once when the request has an answer or failed for good (after retries). */
typedef void (*creq_cb)(struct creq *r, void *arg);

/* Create the engine on loop; NULL when libcurl cannot start. */
struct chttp *chttp_new(uv_loop_t *loop);
/*
 * Abort every request (no more callbacks), clean up the multi handle and
 * close the handles; close_cb(arg) runs once everything is freed. Safe to
 * call from inside a request callback.
 */
void chttp_close(struct chttp *h, void (*close_cb)(void *arg), void *arg);

/* A new request for method ("GET", "HEAD", "POST", "DELETE") and url. */
struct creq *creq_new(struct chttp *h, const char *method, const char *url, creq_cb cb, void *arg);
/* Add a request header ("Name: value"). */
void creq_add_header(struct creq *r, const char *header);
/*
 * TLS settings: a CA bundle and a CA directory (each NULL: libcurl's
 * default) and whether to skip verification.
 */
void creq_set_tls(struct creq *r, const char *ca_file, const char *ca_dir, bool no_verify);
/* Per-attempt timeout, retries on connection-level failures, first backoff (doubles). */
void creq_set_limits(struct creq *r, long timeout_ms, unsigned retries, long backoff_ms);
/*
 * Also hand every body byte to sink (bytes past the 1 MiB kept, too); a
 * call with buf NULL starts over (now, and before each retry).
 */
void creq_set_sink(struct creq *r, void (*sink)(void *arg, const char *buf, size_t len), void *arg);
/* Start; the callback is never called synchronously. Returns 0 or -1. */
int creq_start(struct creq *r);
/* Cancel if running (no callback) and free; memory goes after its timer closes. */
void creq_free(struct creq *r);

/* After the callback: the failure class, curl's reason, the HTTP status. */
enum creq_fail creq_failure(const struct creq *r);
const char *creq_error(const struct creq *r);
/* Whether the server spoke TLS but its certificate could not be verified. */
bool creq_tls_unverified(const struct creq *r);
long creq_status(const struct creq *r);
/* The last value of a response header (case-insensitive name), or NULL. */
const char *creq_header(const struct creq *r, const char *name);
/* The i-th value of a response header, or NULL past the last. */
const char *creq_header_n(const struct creq *r, const char *name, size_t i);
/* The response body (NUL-terminated, at most 1 MiB kept) and its length. */
const char *creq_body(const struct creq *r, size_t *len);
/* Whether the body was longer than what creq_body keeps. */
bool creq_body_truncated(const struct creq *r);
/* Attempts made (1 + retries used). */
unsigned creq_attempts(const struct creq *r);
const char *creq_url(const struct creq *r);

#endif
