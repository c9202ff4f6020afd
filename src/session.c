/* session.c: the runner side of one r2k build: connection, frame state machine, workspace, end. */
#include "session_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "creds.h"
#include "extract.h"
#include "extract_fs.h"
#include "job.h"
#include "log.h"
#include "peer.h"
#include "roles.h"

#define FLUSH_TIMEOUT_MS 30000 /* how long the last frames may take to reach the client */

static void free_stream(uv_handle_t *h);
static bool recv_reserve(void *arg, size_t old_cap, size_t new_cap);
static void on_frame(struct peer *p, const struct r2k_frame *f, int err, void *arg);
static void on_drain(struct peer *p, void *arg);
static void on_peer_closed(struct peer *p, void *arg);
static void on_flush_timeout(uv_timer_t *t);
static void on_idle(uv_timer_t *t);
static void on_timer_closed(uv_handle_t *h);
static void close_now(struct runner_conn *c);
static void on_runner_cancel(struct runner_build *b, const char *why);
static void handle_request(struct session *s, const struct r2k_frame *f);
static int make_workspace(struct session *s, char *err, size_t errlen);
static void client_gone(struct session *s, const char *why);
static void close_peer(struct session *s);
static void linger(struct session *s);
static void on_shutdown(uv_shutdown_t *req, int status);
static void stop_work(struct session *s);

static void free_stream(uv_handle_t *h)
{
	free(h);
}

/* Until the build has a slot, what the decoder assembles is charged to RUNNER_RECV_BUDGET. */
static bool recv_reserve(void *arg, size_t old_cap, size_t new_cap)
{
	return runner_recv_charge(arg, old_cap, new_cap);
}

int session_error_status(int code)
{
	switch (code) {
	case R2K_ERR_PROTOCOL:
	case R2K_ERR_VERSION: return R2K_EXIT_PROTOCOL;
	case R2K_ERR_CONTEXT: return R2K_EXIT_CONTEXT;
	case R2K_ERR_BUILDER:
	case R2K_ERR_INTERNAL: return R2K_EXIT_INTERNAL;
	case R2K_ERR_CANCELLED: return R2K_EXIT_CANCELLED;
	default: return R2K_EXIT_REFUSED;
	}
}

void session_start(struct runner *r, uv_stream_t *stream, const uint8_t *initial, size_t n)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s) {
		uv_close((uv_handle_t *)stream, free_stream);
		return;
	}
	s->ws = (struct workspace)WORKSPACE_NONE;
	s->r = r;
	s->stream = stream;
	s->start_ms = uv_now(r->loop);
	s->lock_fd = -1;
	msg_request_init(&s->req);
	runner_conn_add(r, &s->conn, close_now);
	uv_timer_init(r->loop, &s->flush_timer);
	s->flush_timer.data = s;
	s->p = peer_new(stream, true, on_frame, s);
	if (!s->p) {
		uv_close((uv_handle_t *)stream, free_stream);
		s->released = true;
		runner_conn_remove(r, &s->conn);
		uv_close((uv_handle_t *)&s->flush_timer, on_timer_closed);
		return;
	}
	peer_set_drain_cb(s->p, on_drain);
	peer_set_reserve(s->p, recv_reserve, r);
	log_debug(s->conn.id, "r2k connection");
	session_idle_restart(s);
	if (peer_start(s->p, initial, n) != 0) {
		client_gone(s, "cannot read from the connection");
		return;
	}
	/* A valid preamble among the first bytes is answered at once (else with the first frame).
	 */
	if (s->p && !s->read_ended && peer_version(s->p) == R2K_PROTO_VERSION)
		session_preamble(s);
}

/* Our preamble goes out before the first frame we send. */
void session_preamble(struct session *s)
{
	if (!s->preamble_sent && s->p) {
		s->preamble_sent = true;
		peer_send_preamble(s->p);
	}
}

void session_log(struct session *s, int level, const char *fmt, ...)
{
	char msg[1024];
	uint8_t buf[sizeof(msg) + 1];
	va_list ap;
	if (!s->p || s->client_gone || s->closing)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t n = r2k_log_encode(buf, sizeof(buf), (uint8_t)level, msg);
	session_preamble(s);
	peer_send(s->p, R2K_FRAME_LOG, buf, n);
}

/* End the build with an ERROR frame; stops extraction and the builder, then closes. */
void session_fail(struct session *s, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (s->st == ST_DONE)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->st = ST_DONE;
	s->status = session_error_status(code);
	log_info(s->conn.id, "build ended with error %d: %s", code, msg);
	s->final_type = R2K_FRAME_ERROR;
	s->final_len = r2k_error_encode(s->final, sizeof(s->final), (uint16_t)code, msg);
	if (s->p && !s->closing)
		peer_pause(s->p);
	session_finish(s);
}

/* The client went away before the end: stop everything, nothing more to send. */
static void client_gone(struct session *s, const char *why)
{
	s->client_gone = true;
	if (s->st != ST_DONE) {
		log_info(s->conn.id, "client gone (%s): cancelling the build", why);
		s->st = ST_DONE;
		s->status = R2K_EXIT_PROTOCOL;
	}
	if (s->p && !s->closing) {
		s->closing = true;
		peer_abort(s->p, on_peer_closed);
	}
	session_finish(s);
}

/* Stop extraction and the builder; their callbacks come back to finish. */
static void stop_work(struct session *s)
{
	session_checks_close(s);
	if (s->ex)
		extract_cancel(s->ex);
	if (s->job && !s->job_is_cleanup) /* buildah rmi is left to finish */
		job_kill(s->job);
	if (s->lock_waiting) {
		s->lock_waiting = false;
		uv_timer_stop(&s->flush_timer);
	}
}

/* Close the connection after what is queued was written, bounded by a timer. */
static void close_peer(struct session *s)
{
	if (!s->p || s->closing)
		return;
	s->closing = true;
	peer_pause(s->p);
	uv_timer_start(&s->flush_timer, on_flush_timeout, FLUSH_TIMEOUT_MS, 0);
	peer_close(s->p, on_peer_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
}

/*
 * After the last frame: shut our write side (the client sees EOF after it)
 * and keep reading, discarding, until the client closes, bounded by the
 * flush timer. Closing at once with unread input would reset the connection
 * and could destroy the last frame before the client reads it.
 */
static void linger(struct session *s)
{
	if (!s->p || s->closing)
		return;
	if (s->read_ended || s->client_gone || uv_shutdown(&s->shut, s->stream, on_shutdown) != 0) {
		close_peer(s);
		return;
	}
	s->lingering = true;
	if (s->discard)
		peer_discard(s->p); /* after a protocol error the decoder is done */
	else
		peer_resume(s->p);
	uv_timer_start(&s->flush_timer, on_flush_timeout, FLUSH_TIMEOUT_MS, 0);
}

/*
 * The outcome is decided: stop extraction and the builder; once they are
 * gone remove the workspace, send the last frame, close, release the slot.
 */
void session_finish(struct session *s)
{
	stop_work(s);
	if (s->ex || s->job || s->released)
		return;
	/* buildah: remove the local image once the build step ran, whatever happened. */
	if (s->builder_started && !s->cleanup_done && s->plan.cleanup.n) {
		s->cleanup_done = true;
		if (session_cleanup_start(s))
			return;
	}
	s->released = true;
	if (s->ws.path) {
		char path[4096];
		snprintf(path, sizeof(path), "%s", s->ws.path);
		if (workspace_remove(&s->ws) != 0)
			log_error(s->conn.id, "cannot remove workspace %s: %s", path,
			          strerror(errno));
		else
			log_debug(s->conn.id, "workspace %s removed", path);
	}
	if (s->final_type && s->p && !s->client_gone && !s->closing) {
		session_preamble(s);
		peer_send(s->p, s->final_type, s->final, s->final_len);
	}
	linger(s);
	if (s->have_slot) {
		s->have_slot = false;
		double secs = (double)(uv_now(s->r->loop) - s->start_ms) / 1000.0;
		log_info(s->conn.id, "build finished: status %d after %.1f s", s->status, secs);
		runner_build_release(s->r, &s->build, s->status, secs);
	}
	session_maybe_free(s);
}

void session_maybe_free(struct session *s)
{
	if (!s->released || !s->timer_closed || s->ex || s->job || s->pf_open)
		return;
	session_unlock(s);
	msg_request_free(&s->req);
	backend_plan_free(&s->plan);
	workspace_remove(&s->ws); /* normally done already */
	free(s);
}

static void on_peer_closed(struct peer *p, void *arg)
{
	struct session *s = arg;
	s->p = NULL;
	runner_conn_remove(s->r, &s->conn);
	uv_close((uv_handle_t *)&s->flush_timer, on_timer_closed);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct session *s = h->data;
	s->timer_closed = true;
	session_maybe_free(s);
}

/* While the runner waits on the client (before CONTEXT_END), silence is bounded. */
void session_idle_restart(struct session *s)
{
	if (s->st < ST_READY && !s->closing)
		uv_timer_start(&s->flush_timer, on_idle, (uint64_t)(s->r->cfg->idle_timeout * 1000),
		               0);
}

static void on_idle(uv_timer_t *t)
{
	struct session *s = t->data;
	session_fail(s, R2K_ERR_PROTOCOL,
	             "nothing received from the client for %.0f s (--idle-timeout)",
	             s->r->cfg->idle_timeout);
}

static void on_flush_timeout(uv_timer_t *t)
{
	struct session *s = t->data;
	log_warn(s->conn.id, "client did not take its last frames and close within %d s: closing",
	         FLUSH_TIMEOUT_MS / 1000);
	if (s->p)
		peer_abort(s->p, on_peer_closed);
}

/* Runner shutdown with no build left: finish what is queued and close. */
static void close_now(struct runner_conn *c)
{
	struct session *s = (struct session *)((char *)c - offsetof(struct session, conn));
	if (s->st != ST_DONE)
		session_fail(s, R2K_ERR_SHUTDOWN, "runner is shutting down");
	else if (!s->lingering) /* a lingering close is already bounded by its timer */
		close_peer(s);
}

/* SIGTERM/SIGINT or the shutdown grace period: stop this build. */
static void on_runner_cancel(struct runner_build *b, const char *why)
{
	struct session *s = (struct session *)((char *)b - offsetof(struct session, build));
	if (s->job && !s->job_is_cleanup && s->st != ST_DONE) {
		session_log(s, R2K_LOG_WARN, "build cancelled: %s", why);
		s->cancel_asked = true;
		job_kill(s->job);
		return;
	}
	session_fail(s, R2K_ERR_CANCELLED, "build cancelled: %s", why);
}

static void on_drain(struct peer *p, void *arg)
{
	struct session *s = arg;
	if (s->job)
		job_resume_output(s->job);
}

static void on_frame(struct peer *p, const struct r2k_frame *f, int err, void *arg)
{
	struct session *s = arg;
	if (!f) {
		/* After a protocol error the client may still be sending: linger() drops it. */
		s->discard = peer_error_is_frame(err) && err != R2K_FRAME_ETRUNCATED &&
		             err != R2K_FRAME_EMAGIC;
		s->read_ended = !s->discard;
		if (s->lingering) {
			if (s->discard) {
				peer_discard(p);
				return;
			}
			log_debug(s->conn.id, "client closed: %s", peer_strerror(err));
			close_peer(s);
			return;
		}
		if (err == R2K_FRAME_EBUDGET) {
			session_fail(s, R2K_ERR_BUSY,
			             "runner is busy receiving other requests (%u "
			             "MiB in use); try again later",
			             RUNNER_RECV_BUDGET >> 20);
		} else if (err == R2K_FRAME_EVERSION) {
			session_fail(s, R2K_ERR_VERSION,
			             "runner speaks protocol version %d, client sent %u",
			             R2K_PROTO_VERSION, (unsigned)peer_version(p));
		} else if (err == R2K_FRAME_EMAGIC) {
			log_info(s->conn.id, "closing: %s", peer_strerror(err));
			client_gone(s, "bad magic");
		} else if (peer_error_is_frame(err) && err != R2K_FRAME_ETRUNCATED) {
			session_fail(s, R2K_ERR_PROTOCOL, "protocol error: %s", peer_strerror(err));
		} else {
			client_gone(s, peer_strerror(err));
		}
		return;
	}
	session_preamble(s);
	if (s->st == ST_DONE)
		return;
	session_idle_restart(s);
	const char *name = r2k_frame_type_name(f->type);
	switch (f->type) {
	case R2K_FRAME_KEEPALIVE: return;
	case R2K_FRAME_REQUEST:
		if (s->st == ST_REQUEST) {
			handle_request(s, f);
			return;
		}
		break;
	case R2K_FRAME_CONTEXT:
		if (s->st == ST_CONTEXT) {
			s->r->stats.context_bytes += f->len;
			extract_feed(s->ex, f->payload, f->len);
			return;
		}
		break;
	case R2K_FRAME_CONTEXT_END:
		if (s->st == ST_CONTEXT) {
			uint64_t total;
			uint8_t sha[32];
			r2k_context_end_decode(f, &total, sha);
			s->st = ST_READY;
			uv_timer_stop(&s->flush_timer);
			log_debug(s->conn.id, "CONTEXT_END: %llu bytes", (unsigned long long)total);
			extract_finish(s->ex, total, sha);
			return;
		}
		break;
	case R2K_FRAME_CANCEL:
		if (s->st == ST_REQUEST)
			break;
		log_info(s->conn.id, "CANCEL from the client");
		if (s->job && !s->job_is_cleanup) {
			s->cancel_asked = true;
			job_kill(s->job);
		} else {
			session_fail(s, R2K_ERR_CANCELLED,
			             "build cancelled before the builder started");
		}
		return;
	}
	if (s->st == ST_REQUEST)
		session_fail(s, R2K_ERR_PROTOCOL, "expected REQUEST as the first frame, got %s",
		             name);
	else
		session_fail(s, R2K_ERR_PROTOCOL, "unexpected %s frame %s", name,
		             s->st == ST_CONTEXT ? "while receiving the context"
		                                 : "after CONTEXT_END");
}

/*
 * REQUEST: decode, check the dockerfile path, take a slot, prepare the
 * workspace. A request refused before it takes a slot ran nothing: it does
 * not use up a single-shot runner (the client may retry).
 */
static void handle_request(struct session *s, const struct r2k_frame *f)
{
	char err[1024], why[256];
	const char *w = NULL;
	if (msg_request_decode((const char *)f->payload, f->len, &s->req, err, sizeof(err)) != 0) {
		session_fail(s, R2K_ERR_REQUEST, "invalid build request: %s", err);
		return;
	}
	const char *df = s->req.dockerfile ? s->req.dockerfile : "Dockerfile";
	int nr = xfs_normalize(df, s->dockerfile, sizeof(s->dockerfile), &w);
	if (nr <= 0) {
		session_fail(s, R2K_ERR_REQUEST, "dockerfile '%.200s': %s", df,
		             nr < 0 ? (strcmp(w, "name leaves the workspace") == 0
		                               ? "leaves the context"
		                               : w)
		                    : "names the context directory itself");
		return;
	}
	if (creds_check(s->req.creds, s->req.ncreds, err, sizeof(err)) != 0) {
		session_fail(s, R2K_ERR_REQUEST, "%s", err);
		return;
	}
	int code = runner_build_acquire(s->r, &s->build, s->conn.id, on_runner_cancel, why,
	                                sizeof(why));
	if (code) {
		session_fail(s, code, "%s", why);
		return;
	}
	s->have_slot = true;
	s->start_ms = uv_now(s->r->loop);
	peer_set_reserve(s->p, NULL, NULL); /* a build's own frames are bounded by the slots */
	if (make_workspace(s, err, sizeof(err)) != 0) {
		session_fail(s, R2K_ERR_INTERNAL, "%s", err);
		return;
	}
	/* Credentials: written now so that a bad entry is refused before any context is read. */
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/docker", s->ws.path);
	if (creds_write(dir, s->req.creds, s->req.ncreds, err, sizeof(err)) != 0) {
		session_fail(s,
		             strncmp(err, "credentials[", 12) == 0 ? R2K_ERR_REQUEST
		                                                   : R2K_ERR_INTERNAL,
		             "%s", err);
		return;
	}
	if (session_extract_start(s, err, sizeof(err)) != 0) {
		session_fail(s, R2K_ERR_INTERNAL, "%s", err);
		return;
	}
	s->st = ST_CONTEXT;
	log_info(s->conn.id, "build request: %zu destination(s), dockerfile %s, workspace %s",
	         s->req.destinations.n, s->dockerfile, s->ws.path);
	if (s->req.cache_dir && strcmp(s->r->cfg->backend, "buildah") == 0)
		session_log(
		        s, R2K_LOG_WARN,
		        "cache_dir '%.300s' ignored: it is Kaniko's base-image cache directory, "
		        "and buildah keeps base images in its own storage",
		        s->req.cache_dir);
	session_checks_start(s);
}

/* A fresh private directory (0700) under cfg->workspace, with context/ inside. */
static int make_workspace(struct session *s, char *err, size_t errlen)
{
	char path[4096];
	if (workspace_create(&s->ws, s->r->cfg->workspace, "build-", err, errlen) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/context", s->ws.path);
	if (mkdir(path, 0755) != 0) {
		snprintf(err, errlen, "cannot create %.900s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
