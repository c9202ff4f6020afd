/* session.c: the runner side of one r2k build: state machine, workspace, extraction, builder. */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "creds.h"
#include "extract.h"
#include "extract_fs.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "peer.h"
#include "preflight.h"
#include "proto.h"
#include "roles.h"

#define FLUSH_TIMEOUT_MS 30000 /* how long the last frames may take to reach the client */
#define LOCK_RETRY_MS    200   /* how often a warm-up waiting for the cache lock retries */

enum sstate {
	ST_REQUEST, /* waiting for REQUEST */
	ST_CONTEXT, /* CONTEXT frames until CONTEXT_END */
	ST_READY,   /* CONTEXT_END received: extraction, checks, then the builder */
	ST_DONE,    /* EXIT or ERROR decided */
};

struct session {
	struct runner_conn conn;
	struct runner_build build;
	struct runner *r;
	struct peer *p;      /* NULL once closed */
	uv_stream_t *stream; /* the peer's stream, for the final half-close */
	uv_shutdown_t shut;
	uv_timer_t flush_timer; /* idle timeout while receiving; then bounds the last flush */
	enum sstate st;
	bool preamble_sent;
	bool have_slot;
	bool client_gone; /* the connection ended or failed */
	bool closing;     /* peer_close requested */
	bool read_ended;  /* the peer reported its end (EOF, error) */
	bool lingering;   /* last frame sent, write side shut: reading until the client closes */
	bool timer_closed;
	bool released;     /* slot given back, workspace removed */
	bool cancel_asked; /* CANCEL, or the runner cancelled: report the builder's end */
	bool builder_started;
	bool cleanup_done;
	int status; /* the client's exit status for this outcome */
	uint64_t start_ms;
	struct build_request req;
	char *ws; /* the build's private workspace */
	char dockerfile[4096];
	struct extract *ex;
	struct job *job;
	bool job_is_cleanup;
	struct preflight *pf; /* registry checks; NULL when off or closed */
	bool pf_open;         /* pf's close callback has not run yet */
	bool gate_waiting;    /* context extracted: the builder waits for the checks */
	struct backend_plan plan;
	size_t step;
	int lock_fd;         /* held while a step with a lock runs, else -1 */
	bool lock_waiting;   /* flush_timer retries taking the lock */
	uint64_t step_start; /* uv_now when the current step started */
	/* The last frame (ERROR or EXIT), sent once the workspace is gone. */
	uint16_t final_type;
	size_t final_len;
	uint8_t final[R2K_ERROR_MIN_LEN + 1024];
};

static void free_stream(uv_handle_t *h);
static void preamble(struct session *s);
static void on_frame(struct peer *p, const struct r2k_frame *f, int err, void *arg);
static void on_drain(struct peer *p, void *arg);
static void on_peer_closed(struct peer *p, void *arg);
static void on_flush_timeout(uv_timer_t *t);
static void on_idle(uv_timer_t *t);
static void idle_restart(struct session *s);
static void on_timer_closed(uv_handle_t *h);
static void close_now(struct runner_conn *c);
static void on_runner_cancel(struct runner_build *b, const char *why);
static void handle_request(struct session *s, const struct r2k_frame *f);
static int make_workspace(struct session *s, char *err, size_t errlen);
static void fail(struct session *s, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void send_log(struct session *s, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void client_gone(struct session *s, const char *why);
static void finish(struct session *s);
static void close_peer(struct session *s);
static void linger(struct session *s);
static void on_shutdown(uv_shutdown_t *req, int status);
static void stop_work(struct session *s);
static void maybe_free(struct session *s);
static void on_flow(struct extract *x, bool pause, void *arg);
static void on_extracted(struct extract *x, int code, const char *msg, void *arg);
static int check_dockerfile(struct session *s, char *err, size_t errlen);
static void start_builder(struct session *s);
static void start_step(struct session *s);
static void on_output(struct job *j, enum job_stream which, uint8_t *buf, size_t len, void *arg);
static void on_job_exit(struct job *j, int how, int value, void *arg);
static void send_exit(struct session *s, int how, int value);
static void read_digest(struct session *s, char *out, size_t outlen);
static void checks_on_request(struct session *s);
static void checks_on_dockerfile(struct extract *x, const char *text, size_t len, bool truncated,
                                 const char *why, void *arg);
static bool checks_gate(struct session *s);
static void pf_result(const char *json, size_t len, void *arg);
static void pf_log(int level, const char *msg, void *arg);
static void pf_blocked(const char *why, void *arg);
static void pf_settled(void *arg);
static void pf_closed(void *arg);
static bool lock_step(struct session *s, const char *path);
static void on_lock_retry(uv_timer_t *t);
static void unlock_step(struct session *s);

static void free_stream(uv_handle_t *h)
{
	free(h);
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
	log_debug(s->conn.id, "r2k connection");
	idle_restart(s);
	if (peer_start(s->p, initial, n) != 0) {
		client_gone(s, "cannot read from the connection");
		return;
	}
	/* A valid preamble among the first bytes is answered at once (else with the first frame).
	 */
	if (s->p && !s->read_ended && peer_version(s->p) == R2K_PROTO_VERSION)
		preamble(s);
}

/* Our preamble goes out before the first frame we send. */
static void preamble(struct session *s)
{
	if (!s->preamble_sent && s->p) {
		s->preamble_sent = true;
		peer_send_preamble(s->p);
	}
}

static void send_log(struct session *s, int level, const char *fmt, ...)
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
	preamble(s);
	peer_send(s->p, R2K_FRAME_LOG, buf, n);
}

/* End the build with an ERROR frame; stops extraction and the builder, then closes. */
static void fail(struct session *s, int code, const char *fmt, ...)
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
	finish(s);
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
	finish(s);
}

/* Stop extraction and the builder; their callbacks come back to finish. */
static void stop_work(struct session *s)
{
	if (s->pf) {
		struct preflight *pf = s->pf;
		s->pf = NULL;
		preflight_close(pf, pf_closed, s);
	}
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
	peer_resume(s->p);
	uv_timer_start(&s->flush_timer, on_flush_timeout, FLUSH_TIMEOUT_MS, 0);
}

/*
 * The outcome is decided: stop extraction and the builder; once they are
 * gone remove the workspace, send the last frame, close, release the slot.
 */
static void finish(struct session *s)
{
	stop_work(s);
	if (s->ex || s->job || s->released)
		return;
	/* buildah: remove the local image once the build step ran, whatever happened. */
	if (s->builder_started && !s->cleanup_done && s->plan.cleanup.n) {
		char err[256];
		s->cleanup_done = true;
		struct job_spec spec = {.argv = (const char *const *)s->plan.cleanup.v,
		                        .env = (const char *const *)s->plan.env.v,
		                        .kill_timeout = s->r->cfg->kill_timeout,
		                        .conn_id = s->conn.id,
		                        .name = "cleanup"};
		struct job_ops ops = {.output = on_output, .exited = on_job_exit};
		s->job_is_cleanup = true;
		if (job_start(s->r->loop, &spec, &ops, s, &s->job, err, sizeof(err)) == 0)
			return;
		log_warn(s->conn.id, "%s", err);
	}
	s->released = true;
	if (s->ws) {
		if (extract_remove_tree(s->ws) != 0)
			log_error(s->conn.id, "cannot remove workspace %s: %s", s->ws,
			          strerror(errno));
		else
			log_debug(s->conn.id, "workspace %s removed", s->ws);
	}
	if (s->final_type && s->p && !s->client_gone && !s->closing) {
		preamble(s);
		peer_send(s->p, s->final_type, s->final, s->final_len);
	}
	linger(s);
	if (s->have_slot) {
		s->have_slot = false;
		double secs = (double)(uv_now(s->r->loop) - s->start_ms) / 1000.0;
		log_info(s->conn.id, "build finished: status %d after %.1f s", s->status, secs);
		runner_build_release(s->r, &s->build, s->status, secs);
	}
	maybe_free(s);
}

static void maybe_free(struct session *s)
{
	if (!s->released || !s->timer_closed || s->ex || s->job || s->pf_open)
		return;
	unlock_step(s);
	msg_request_free(&s->req);
	backend_plan_free(&s->plan);
	free(s->ws);
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
	maybe_free(s);
}

/* While the runner waits on the client (before CONTEXT_END), silence is bounded. */
static void idle_restart(struct session *s)
{
	if (s->st < ST_READY && !s->closing)
		uv_timer_start(&s->flush_timer, on_idle, (uint64_t)(s->r->cfg->idle_timeout * 1000),
		               0);
}

static void on_idle(uv_timer_t *t)
{
	struct session *s = t->data;
	fail(s, R2K_ERR_PROTOCOL, "nothing received from the client for %.0f s (--idle-timeout)",
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
		fail(s, R2K_ERR_SHUTDOWN, "runner is shutting down");
	else if (!s->lingering) /* a lingering close is already bounded by its timer */
		close_peer(s);
}

/* SIGTERM/SIGINT or the shutdown grace period: stop this build. */
static void on_runner_cancel(struct runner_build *b, const char *why)
{
	struct session *s = (struct session *)((char *)b - offsetof(struct session, build));
	if (s->job && !s->job_is_cleanup && s->st != ST_DONE) {
		send_log(s, R2K_LOG_WARN, "build cancelled: %s", why);
		s->cancel_asked = true;
		job_kill(s->job);
		return;
	}
	fail(s, R2K_ERR_CANCELLED, "build cancelled: %s", why);
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
		s->read_ended = true;
		if (s->lingering) {
			log_debug(s->conn.id, "client closed: %s", peer_strerror(err));
			close_peer(s);
			return;
		}
		if (err == R2K_FRAME_EVERSION) {
			fail(s, R2K_ERR_VERSION,
			     "runner speaks protocol version %d, client sent %u", R2K_PROTO_VERSION,
			     (unsigned)peer_version(p));
		} else if (err == R2K_FRAME_EMAGIC) {
			log_info(s->conn.id, "closing: %s", peer_strerror(err));
			client_gone(s, "bad magic");
		} else if (peer_error_is_frame(err) && err != R2K_FRAME_ETRUNCATED) {
			fail(s, R2K_ERR_PROTOCOL, "protocol error: %s", peer_strerror(err));
		} else {
			client_gone(s, peer_strerror(err));
		}
		return;
	}
	preamble(s);
	if (s->st == ST_DONE)
		return;
	idle_restart(s);
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
			fail(s, R2K_ERR_CANCELLED, "build cancelled before the builder started");
		}
		return;
	}
	if (s->st == ST_REQUEST)
		fail(s, R2K_ERR_PROTOCOL, "expected REQUEST as the first frame, got %s", name);
	else
		fail(s, R2K_ERR_PROTOCOL, "unexpected %s frame %s", name,
		     s->st == ST_CONTEXT ? "while receiving the context" : "after CONTEXT_END");
}

/* REQUEST: decode, take a slot, check the dockerfile path, prepare the workspace. */
static void handle_request(struct session *s, const struct r2k_frame *f)
{
	char err[1024], why[256];
	const char *w = NULL;
	if (msg_request_decode((const char *)f->payload, f->len, &s->req, err, sizeof(err)) != 0) {
		fail(s, R2K_ERR_REQUEST, "invalid build request: %s", err);
		return;
	}
	const char *df = s->req.dockerfile ? s->req.dockerfile : "Dockerfile";
	int nr = xfs_normalize(df, s->dockerfile, sizeof(s->dockerfile), &w);
	if (nr <= 0) {
		fail(s, R2K_ERR_REQUEST, "dockerfile '%.200s': %s", df,
		     nr < 0 ? (strcmp(w, "name leaves the workspace") == 0 ? "leaves the context"
		                                                           : w)
		            : "names the context directory itself");
		return;
	}
	int code = runner_build_acquire(s->r, &s->build, s->conn.id, on_runner_cancel, why,
	                                sizeof(why));
	if (code) {
		fail(s, code, "%s", why);
		return;
	}
	s->have_slot = true;
	s->start_ms = uv_now(s->r->loop);
	if (make_workspace(s, err, sizeof(err)) != 0) {
		fail(s, R2K_ERR_INTERNAL, "%s", err);
		return;
	}
	/* Credentials: written now so that a bad entry is refused before any context is read. */
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/docker", s->ws);
	if (creds_write(dir, s->req.creds, s->req.ncreds, err, sizeof(err)) != 0) {
		fail(s, strncmp(err, "credentials[", 12) == 0 ? R2K_ERR_REQUEST : R2K_ERR_INTERNAL,
		     "%s", err);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/context", s->ws);
	struct extract_opts xo = {.root = dir,
	                          .max_bytes = s->r->cfg->max_context_bytes,
	                          .max_entries = s->r->cfg->max_context_entries,
	                          .conn_id = s->conn.id};
	struct extract_cbs xc = {
	        .flow = on_flow, .done = on_extracted, .file = checks_on_dockerfile};
	xo.watch = s->dockerfile;
	if (extract_start(s->r->loop, &xo, &xc, s, &s->ex, err, sizeof(err)) != 0) {
		fail(s, R2K_ERR_INTERNAL, "%s", err);
		return;
	}
	s->st = ST_CONTEXT;
	log_info(s->conn.id, "build request: %zu destination(s), dockerfile %s, workspace %s",
	         s->req.destinations.n, s->dockerfile, s->ws);
	checks_on_request(s);
}

/* A fresh private directory (0700) under cfg->workspace, with context/ inside. */
static int make_workspace(struct session *s, char *err, size_t errlen)
{
	const char *parent = s->r->cfg->workspace;
	char path[4096];
	/* Create the parent and its missing ancestors. */
	snprintf(path, sizeof(path), "%s", parent);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = 0;
		if (mkdir(path, c ? 0755 : 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create workspace directory %s: %s", path,
			         strerror(errno));
			return -1;
		}
		*p = c;
		if (!c)
			break;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/build-XXXXXX", parent) >= sizeof(path) - 64) {
		snprintf(err, errlen, "workspace path too long");
		return -1;
	}
	if (!mkdtemp(path)) {
		snprintf(err, errlen, "cannot create a workspace in %s: %s", parent,
		         strerror(errno));
		return -1;
	}
	s->ws = strdup(path);
	strcat(path, "/context");
	if (!s->ws || mkdir(path, 0755) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void on_flow(struct extract *x, bool pause, void *arg)
{
	struct session *s = arg;
	if (!s->p || s->closing)
		return;
	/* A paused client is not idle: the runner is the one waiting. */
	if (pause) {
		peer_pause(s->p);
		if (s->st < ST_READY)
			uv_timer_stop(&s->flush_timer);
	} else {
		peer_resume(s->p);
		idle_restart(s);
	}
}

static void on_extracted(struct extract *x, int code, const char *msg, void *arg)
{
	struct session *s = arg;
	char err[1200];
	s->ex = NULL;
	if (s->st == ST_DONE) {
		finish(s);
		return;
	}
	if (code) {
		fail(s, code, "%s", msg);
		return;
	}
	log_info(s->conn.id, "context extracted (%llu bytes received)",
	         (unsigned long long)extract_received(x));
	if (check_dockerfile(s, err, sizeof(err)) != 0) {
		fail(s, R2K_ERR_REQUEST, "%s", err);
		return;
	}
	if (checks_gate(s))
		start_builder(s);
}

/* The dockerfile must be a regular file inside the context, reached without symlinks. */
static int check_dockerfile(struct session *s, char *err, size_t errlen)
{
	char ctx[4200], why[512];
	const char *base;
	struct stat st;
	snprintf(ctx, sizeof(ctx), "%s/context", s->ws);
	int root = open(ctx, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0) {
		snprintf(err, errlen, "%.1024s: %s", ctx, strerror(errno));
		return -1;
	}
	int dfd = xfs_open_parent(root, s->dockerfile, false, &base, why, sizeof(why));
	close(root);
	if (dfd < 0) {
		snprintf(err, errlen, "dockerfile '%.512s': %s", s->dockerfile, why);
		return -1;
	}
	int rc = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW);
	close(dfd);
	if (rc != 0)
		snprintf(err, errlen, "dockerfile '%.512s' not found in the context",
		         s->dockerfile);
	else if (S_ISLNK(st.st_mode))
		snprintf(err, errlen, "dockerfile '%.512s' is a symlink; send the file itself",
		         s->dockerfile);
	else if (!S_ISREG(st.st_mode))
		snprintf(err, errlen, "dockerfile '%.512s' is not a regular file", s->dockerfile);
	else
		return 0;
	return -1;
}

/*
 * ---- Preflight checks (preflight.c) ----
 * checks_on_request starts the registry checks once REQUEST is accepted;
 * checks_on_dockerfile adds the base images as soon as the extractor has
 * written the Dockerfile; checks_gate holds the builder until every check
 * has reported. In enforce mode a blocking failure ends the build at once
 * (pf_blocked), even mid-upload.
 */
static void checks_on_request(struct session *s)
{
	char err[512];
	struct preflight_ops ops = {
	        .result = pf_result, .log = pf_log, .blocked = pf_blocked, .settled = pf_settled};
	s->pf = preflight_start(s->r->loop, s->r->cfg, &s->r->stats, &s->req, &ops, s, err,
	                        sizeof(err));
	if (s->pf)
		s->pf_open = true;
	else if (err[0])
		fail(s, R2K_ERR_INTERNAL, "%s", err);
}

static void checks_on_dockerfile(struct extract *x, const char *text, size_t len, bool truncated,
                                 const char *why, void *arg)
{
	struct session *s = arg;
	(void)x;
	(void)len;
	if (!s->pf || s->st == ST_DONE)
		return;
	if (!text) {
		log_debug(s->conn.id, "dockerfile '%s' not readable yet: %s", s->dockerfile, why);
		return;
	}
	log_debug(s->conn.id, "dockerfile '%s' extracted: checking its base images", s->dockerfile);
	preflight_dockerfile(s->pf, text, truncated);
}

/* Whether the builder may start now; else it starts from pf_settled. */
static bool checks_gate(struct session *s)
{
	if (!s->pf)
		return true;
	if (!preflight_has_dockerfile(s->pf)) {
		/* Not seen while extracting (a later entry replaced it): read it now. */
		char *text = NULL, why[256], ctx[4200];
		size_t len = 0;
		bool trunc = false;
		snprintf(ctx, sizeof(ctx), "%s/context", s->ws);
		int root = open(ctx, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (root >= 0 && extract_read_text(root, s->dockerfile, EXTRACT_WATCH_MAX, &text,
		                                   &len, &trunc, why, sizeof(why)) == 0)
			preflight_dockerfile(s->pf, text, trunc);
		if (root >= 0)
			close(root);
		free(text);
		if (s->st == ST_DONE || !s->pf)
			return false;
	}
	size_t n = preflight_pending(s->pf);
	if (n == 0)
		return true;
	log_debug(s->conn.id, "context extracted: waiting for %zu preflight check(s)", n);
	s->gate_waiting = true;
	return false;
}

static void pf_result(const char *json, size_t len, void *arg)
{
	struct session *s = arg;
	if (!s->p || s->client_gone || s->closing || s->st == ST_DONE)
		return;
	preamble(s);
	peer_send(s->p, R2K_FRAME_CHECK, json, len);
}

static void pf_log(int level, const char *msg, void *arg)
{
	struct session *s = arg;
	if (level <= R2K_LOG_WARN)
		log_info(s->conn.id, "%s", msg);
	send_log(s, level, "%s", msg);
}

/* Enforce mode: a reachability, credentials, push or base-image check failed. */
static void pf_blocked(const char *why, void *arg)
{
	struct session *s = arg;
	if (s->builder_started)
		return;
	fail(s, R2K_ERR_PREFLIGHT, "%s", why);
}

/* Every check has reported: a builder held at the gate starts. */
static void pf_settled(void *arg)
{
	struct session *s = arg;
	if (!s->gate_waiting || s->st != ST_READY || s->ex || !s->pf)
		return;
	s->gate_waiting = false;
	log_debug(s->conn.id, "preflight checks done");
	start_builder(s);
}

static void pf_closed(void *arg)
{
	struct session *s = arg;
	s->pf_open = false;
	maybe_free(s);
}

static void start_builder(struct session *s)
{
	char err[512];
	const struct strlist *cold = s->pf ? preflight_cold_images(s->pf) : NULL;
	if ((s->req.warm || s->r->cfg->warm) && cold && cold->n == 0)
		send_log(s, R2K_LOG_INFO, "warm-up: every base image is already cached");
	if (backend_plan(s->r->cfg, &s->req, s->ws, s->dockerfile, s->conn.id, cold, &s->plan, err,
	                 sizeof(err)) != 0) {
		fail(s, R2K_ERR_INTERNAL, "%s", err);
		return;
	}
	s->step = 0;
	start_step(s);
}

/* Run plan step s->step; its output is relayed, its end handled by on_job_exit. */
static void start_step(struct session *s)
{
	char err[512];
	struct backend_step *st = &s->plan.steps[s->step];
	struct job_spec spec = {.argv = (const char *const *)st->argv.v,
	                        .env = (const char *const *)s->plan.env.v,
	                        .cwd = s->ws,
	                        .kill_timeout = s->r->cfg->kill_timeout,
	                        .conn_id = s->conn.id,
	                        .name = st->name};
	struct job_ops ops = {.output = on_output, .exited = on_job_exit};
	if (st->lock && !lock_step(s, st->lock))
		return; /* retried from the timer */
	if (log_enabled(LOG_DEBUG)) {
		/* argv holds no secrets: credentials live in the workspace's config.json. */
		char line[2048];
		size_t n = 0;
		for (size_t i = 0; i < st->argv.n && n + 2 < sizeof(line); i++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", i ? " " : "",
			                      st->argv.v[i]);
		log_debug(s->conn.id, "%s: %s", st->name, line);
	}
	s->job_is_cleanup = false;
	if (job_start(s->r->loop, &spec, &ops, s, &s->job, err, sizeof(err)) != 0) {
		fail(s, R2K_ERR_BUILDER, "%s", err);
		return;
	}
	s->builder_started = true;
	s->step_start = uv_now(s->r->loop);
	send_log(s, R2K_LOG_INFO, "%s started", st->name);
}

/*
 * Take the exclusive lock on path for the step about to run (one warm-up
 * per cache directory, across builds and runners). Returns false while
 * another holder has it: the step is retried from the (otherwise idle)
 * flush timer. A lock that cannot be opened at all is logged and skipped.
 */
static bool lock_step(struct session *s, const char *path)
{
	if (s->lock_fd >= 0)
		return true;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			log_debug(s->conn.id, "cannot create %s: %s", dir, strerror(errno));
	}
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		send_log(s, R2K_LOG_WARN, "warm-up lock %s: %s; warming without it", path,
		         strerror(errno));
		return true;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		s->lock_fd = fd;
		s->lock_waiting = false;
		return true;
	}
	int e = errno;
	close(fd);
	if (e != EWOULDBLOCK) {
		send_log(s, R2K_LOG_WARN, "warm-up lock %s: %s; warming without it", path,
		         strerror(e));
		return true;
	}
	if (!s->lock_waiting)
		send_log(s, R2K_LOG_INFO, "waiting for another warm-up of %s", dir);
	s->lock_waiting = true;
	uv_timer_start(&s->flush_timer, on_lock_retry, LOCK_RETRY_MS, 0);
	return false;
}

static void on_lock_retry(uv_timer_t *t)
{
	struct session *s = t->data;
	if (!s->lock_waiting || s->st == ST_DONE)
		return;
	start_step(s);
}

static void unlock_step(struct session *s)
{
	if (s->lock_fd >= 0) {
		close(s->lock_fd); /* releases the flock */
		s->lock_fd = -1;
	}
}

/* A warm-up step ended: one "warm" check result per image, never blocking. */
static void report_warm(struct session *s, const struct backend_step *st, bool ok, int how,
                        int value)
{
	double ms = (double)(uv_now(s->r->loop) - s->step_start);
	for (size_t i = 0; i < st->warms.n; i++) {
		struct check_result res = {.passed = ok, .latency_ms = ms};
		snprintf(res.target, sizeof(res.target), "%s", st->warms.v[i]);
		snprintf(res.kind, sizeof(res.kind), "warm");
		snprintf(res.status, sizeof(res.status), "%s", ok ? "warmed" : "failed");
		if (ok)
			snprintf(res.detail, sizeof(res.detail), "%s in %.1f s", st->name,
			         ms / 1000);
		else
			snprintf(res.detail, sizeof(res.detail), "%s %s %d after %.1f s", st->name,
			         how == R2K_EXIT_SIGNAL ? "killed by signal" : "exited with status",
			         value, ms / 1000);
		metrics_count_check(&s->r->stats, res.kind, res.passed);
		char *json = msg_check_encode(&res);
		if (json) {
			pf_result(json, strlen(json), s);
			free(json);
		}
	}
}

static void on_output(struct job *j, enum job_stream which, uint8_t *buf, size_t len, void *arg)
{
	struct session *s = arg;
	if (s->job_is_cleanup || !s->p || s->client_gone || s->closing) {
		if (s->job_is_cleanup && log_enabled(LOG_DEBUG))
			log_debug(s->conn.id, "cleanup: %.*s", (int)(len > 200 ? 200 : len), buf);
		peer_buf_free(buf);
		return;
	}
	s->r->stats.output_bytes += len;
	peer_buf_send(s->p, which == JOB_STDOUT ? R2K_FRAME_STDOUT : R2K_FRAME_STDERR, buf, len);
	/* Backpressure, except while the builder is being killed: then its last output
	 * (bounded by the pipes) is queued so that a client that stopped reading cannot
	 * hold the build. */
	if (peer_above_high(s->p) && !s->cancel_asked && s->st != ST_DONE)
		job_pause_output(j);
}

static void on_job_exit(struct job *j, int how, int value, void *arg)
{
	struct session *s = arg;
	s->job = NULL;
	if (s->job_is_cleanup || s->st == ST_DONE) {
		s->job_is_cleanup = false;
		finish(s);
		return;
	}
	bool ok = how == R2K_EXIT_CODE && value == 0;
	unlock_step(s);
	if (s->plan.steps[s->step].warms.n && !s->cancel_asked)
		report_warm(s, &s->plan.steps[s->step], ok, how, value);
	if (!ok && s->plan.steps[s->step].optional && !s->cancel_asked) {
		send_log(s, R2K_LOG_WARN, "%s failed (%s %d); building anyway",
		         s->plan.steps[s->step].name, how == R2K_EXIT_SIGNAL ? "signal" : "status",
		         value);
		ok = true;
	}
	if (ok && !s->cancel_asked && s->step + 1 < s->plan.nsteps) {
		s->step++;
		start_step(s);
		return;
	}
	send_exit(s, how, value);
}

/* The builder's end: EXIT with its code or signal and the digest, then close. */
static void send_exit(struct session *s, int how, int value)
{
	struct r2k_exit e = {.how = (uint8_t)how, .value = value};
	if (how == R2K_EXIT_CODE && value == 0)
		read_digest(s, e.digest, sizeof(e.digest));
	s->st = ST_DONE;
	s->status = how == R2K_EXIT_SIGNAL ? 128 + value : value;
	log_info(s->conn.id, "builder %s %d%s%s",
	         how == R2K_EXIT_SIGNAL ? "killed by signal" : "exited", value,
	         e.digest[0] ? ", image " : "", e.digest);
	s->final_type = R2K_FRAME_EXIT;
	s->final_len = r2k_exit_encode(s->final, sizeof(s->final), &e);
	finish(s);
}

/* The digest the builder wrote (sha256:...), or empty. */
static void read_digest(struct session *s, char *out, size_t outlen)
{
	out[0] = 0;
	if (!s->plan.digest_file)
		return;
	int fd = open(s->plan.digest_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, out, outlen - 1);
	close(fd);
	out[n > 0 ? n : 0] = 0;
	out[strcspn(out, " \t\r\n")] = 0;
	if (strncmp(out, "sha256:", 7) != 0)
		out[0] = 0;
}
