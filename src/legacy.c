/* legacy.c: serves old kaniko-runner clients: one JSON line in, raw output and a status line out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"
#include "job.h"
#include "legacy_argv.h"
#include "log.h"
#include "msg_legacy.h"
#include "proto.h"
#include "roles.h"
#include "runner.h"
#include "sockq.h"
#include "workspace.h"

#define LEGACY_MAX_LINE       (1u << 20)                /* the JSON line, newline excluded */
#define LEGACY_LINE_CAP       (LEGACY_MAX_LINE + 65536) /* largest line buffer */
#define LEGACY_HIGH_WATER     (4u << 20) /* stop reading the builder above this much unsent output */
#define LEGACY_LOW_WATER      (1u << 20)
#define LEGACY_DRAIN_POLL_MS  5   /* how often to look whether the client has read the output, */
#define LEGACY_DRAIN_POLL_MAX 200 /* doubling up to this while it reads nothing */
#define LEGACY_FLUSH_POLL_MS  100 /* how often to look whether queued output is being taken */
#define LEGACY_STATUS_GAP_MS  100 /* peer not on this host: pause after it acknowledged */
/* Bound on the last line's flush and linger; once the runner stops, on all that is left. */
#define LEGACY_LINGER_MS 5000

extern char **environ;

/* One legacy connection and its build. */
struct legacy {
	struct runner_conn conn; /* first: close_now gets this */
	struct runner_build build;
	struct runner *r;
	uv_stream_t *stream;
	uv_timer_t timer; /* the request line's deadline, then the status gap and linger */
	struct job *job;
	char *line; /* the JSON line as it arrives */
	size_t len, cap;
	struct workspace ws; /* per-build directory (DOCKER_CONFIG inside); ws.path NULL: none */
	char why[256];       /* why the build was cancelled, or "" */
	uint64_t started_ms;
	uint64_t drain_ms;    /* when the client last made progress reading the output */
	long unread;          /* bytes the client had not read at the last look */
	uint64_t drain_poll;  /* ms until the next look */
	size_t queued;        /* output bytes not yet written */
	uint64_t sent;        /* bytes handed to uv_write so far */
	uint64_t moved;       /* of those, handed on to the kernel at the last look */
	uint64_t deadline_ms; /* the runner is stopping: give up flushing at this time, or 0 */
	uint64_t dropped;     /* output dropped while the builder was being killed */
	unsigned writes;      /* writes in flight */
	int refs;             /* stream + timer + running job */
	int status;           /* the build's status once known */
	char last;            /* last output byte sent */
	bool got_line;
	bool have_slot;
	bool reading;
	bool job_paused;
	bool killing;     /* job_kill called: the pipes are read to the end */
	bool status_due;  /* builder done: status line goes out once output is flushed */
	bool status_wait; /* output flushed: waiting for the client to read it */
	bool finishing;   /* the last write was queued; close after it */
	bool gone;        /* the client disconnected or a write failed */
	bool shut;        /* uv_shutdown requested: nothing more is written */
	bool lingering;   /* write side shut: reading (discarding) until the client closes */
	bool closed;      /* handles are closing */
};

/* One write: the uv_write_t and the bytes in one allocation. */
struct lwrite {
	uv_write_t req;
	struct legacy *l;
	size_t len;
	uint8_t data[];
};

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void take(struct legacy *l, const char *p, size_t n);
static bool grow_line(struct legacy *l, size_t cap);
static void free_line(struct legacy *l);
static void refuse_busy(struct legacy *l);
static void got(struct legacy *l, size_t nread);
static void on_line(struct legacy *l);
static int prepare(struct legacy *l, struct legacy_request *req, char *err, size_t errlen);
static int start_builder(struct legacy *l, char **argv, char *err, size_t errlen);
static void fail(struct legacy *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int send_bytes(struct legacy *l, const void *p, size_t n);
static uint8_t *wbuf_alloc(size_t cap);
static void wbuf_release(uint8_t *buf);
static void write_cb(uv_write_t *w, int status);
static void on_output(struct job *j, enum job_stream which, uint8_t *buf, size_t len, void *arg);
static void on_exited(struct job *j, int how, int value, void *arg);
static void on_cancel(struct runner_build *b, const char *why);
static void kill_builder(struct legacy *l);
static void try_status(struct legacy *l);
static void flush_cb(uv_timer_t *t);
static bool past_deadline(struct legacy *l, uint64_t now, const char *what);
static void drain_cb(uv_timer_t *t);
static void status_gap_cb(uv_timer_t *t);
static void timer_cb(uv_timer_t *t);
static void close_now(struct runner_conn *rc);
static void finish(struct legacy *l);
static void drop(struct legacy *l);
static void shutdown_cb(uv_shutdown_t *req, int status);
static void handle_closed(uv_handle_t *h);
static void unref(struct legacy *l);
static void remove_dir(struct legacy *l);

void legacy_start(struct runner *r, uv_stream_t *s, const uint8_t *initial, size_t n)
{
	struct legacy *l = calloc(1, sizeof(*l));
	if (!l) {
		log_error(0, "legacy: out of memory");
		uv_close((uv_handle_t *)s, handle_closed);
		return;
	}
	l->ws = (struct workspace)WORKSPACE_NONE;
	l->r = r;
	l->stream = s;
	s->data = l;
	l->refs = 2;
	l->last = '\n';
	uv_timer_init(r->loop, &l->timer);
	l->timer.data = l;
	runner_conn_add(r, &l->conn, close_now);
	log_info(l->conn.id, "legacy kaniko-runner client");
	uint64_t ms = (uint64_t)(r->cfg->idle_timeout * 1000);
	uv_timer_start(&l->timer, timer_cb, ms ? ms : 1, 0);
	take(l, (const char *)initial, n);
	if (!l->closed && !l->gone && uv_read_start(s, alloc_cb, read_cb) == 0)
		l->reading = true;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct legacy *l = h->data;
	if (l->got_line) {
		/* After the line only the end of the connection matters. */
		static char sink[65536];
		buf->base = sink;
		buf->len = sizeof(sink);
		return;
	}
	/* Powers of two from 64 KiB: a line of a given length always holds as much. */
	if (l->cap - l->len < 65536 && l->cap < LEGACY_LINE_CAP)
		grow_line(l, !l->cap                        ? 65536
		             : l->cap * 2 < LEGACY_LINE_CAP ? l->cap * 2
		                                            : LEGACY_LINE_CAP);
	/* No room (out of memory or over the budget): read_cb gets UV_ENOBUFS. */
	buf->base = l->line ? l->line + l->len : NULL;
	buf->len = l->line ? l->cap - l->len : 0;
}

/*
 * Grow the line buffer to cap bytes, within the budget that requests being
 * received share (RUNNER_RECV_BUDGET; each line may take up to 1 MiB before
 * it ends); the old copy is wiped.
 */
static bool grow_line(struct legacy *l, size_t cap)
{
	if (!runner_recv_charge(l->r, l->cap, cap))
		return false;
	char *p = malloc(cap);
	if (!p) {
		runner_recv_charge(l->r, cap, l->cap);
		return false;
	}
	if (l->line) {
		memcpy(p, l->line, l->len);
		memset(l->line, 0, l->cap);
		free(l->line);
	}
	l->line = p;
	l->cap = cap;
	return true;
}

/* Wipe (it holds credentials) and free the line buffer. */
static void free_line(struct legacy *l)
{
	if (!l->line)
		return;
	memset(l->line, 0, l->cap);
	free(l->line);
	runner_recv_charge(l->r, l->cap, 0);
	l->line = NULL;
	l->len = l->cap = 0;
}

/* Too many request lines are being received at once: refuse this one. */
static void refuse_busy(struct legacy *l)
{
	l->got_line = true; /* what follows is dropped */
	uv_timer_stop(&l->timer);
	fail(l, "runner is busy receiving other requests; try again later");
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct legacy *l = s->data;
	if (nread == UV_ENOBUFS && !l->got_line && !l->closed) {
		refuse_busy(l);
		return;
	}
	if (nread == UV_EOF && !l->got_line && !l->closed && l->len > 0) {
		/* Half a request and then the sending side closed: say why, the client may read. */
		uv_read_stop(s);
		l->reading = false;
		fail(l,
		     "the request line (%zu bytes) did not end with a newline before the client "
		     "closed its sending side",
		     l->len);
		return;
	}
	if (nread < 0) {
		/* The old clients read until we close: their end means they are gone. */
		l->gone = true;
		uv_read_stop(s);
		l->reading = false;
		if (l->job) {
			log_info(l->conn.id, "client disconnected: killing the builder");
			kill_builder(l);
		} else if (!l->finishing || l->lingering) {
			drop(l); /* finishing: shutdown_cb drops it once the shutdown is done */
		}
		return;
	}
	if (nread > 0 && !l->got_line && !l->closed)
		got(l, (size_t)nread);
}

/* Bytes sniffed before this handler ran: copy them into the line buffer. */
static void take(struct legacy *l, const char *p, size_t n)
{
	if (n == 0)
		return;
	size_t cap = 65536;
	while (cap < l->len + n + 65536)
		cap *= 2;
	if (l->cap - l->len < n && !grow_line(l, cap)) {
		refuse_busy(l);
		return;
	}
	memcpy(l->line + l->len, p, n);
	got(l, n);
}

/* nread new bytes are at line[len..): look for the end of the line. */
static void got(struct legacy *l, size_t nread)
{
	char *nl = memchr(l->line + l->len, '\n', (size_t)nread);
	l->len += (size_t)nread;
	if (nl) {
		l->len = (size_t)(nl - l->line);
		l->got_line = true;
		uv_timer_stop(&l->timer);
		on_line(l);
	} else if (l->len > LEGACY_MAX_LINE) {
		l->got_line = true; /* what follows is dropped */
		uv_timer_stop(&l->timer);
		fail(l, "request line longer than %u bytes", LEGACY_MAX_LINE);
	}
}

/* The request line arrived: check it, take a build slot and start the builder. */
static void on_line(struct legacy *l)
{
	struct legacy_request req;
	char err[512];
	int rc = msg_legacy_decode(l->line, l->len, &req, err, sizeof(err));
	free_line(l);
	if (rc) {
		fail(l, "%s", err);
		return;
	}
	if (prepare(l, &req, err, sizeof(err)) != 0)
		fail(l, "%s", err);
	msg_legacy_free(&req);
}

/* Check the command, take a slot, write the credentials and run. */
static int prepare(struct legacy *l, struct legacy_request *req, char *err, size_t errlen)
{
	const struct runner_config *cfg = l->r->cfg;
	char **argv = NULL;
	if (legacy_argv_check(cfg->executor, cfg->shared_workspace, &req->command, &argv, err,
	                      errlen) != 0)
		return -1;
	/* A bad entry is the client's mistake: refuse it before it takes a slot (and so
	 * ends a single-shot runner). */
	if (creds_check(req->creds, req->ncreds, err, errlen) != 0) {
		legacy_argv_free(argv);
		return -1;
	}
	char why[256];
	int rc = runner_build_acquire(l->r, &l->build, l->conn.id, on_cancel, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "%s", why);
		legacy_argv_free(argv);
		return -1;
	}
	l->have_slot = true;
	l->started_ms = uv_now(l->r->loop);
	if (workspace_create(&l->ws, cfg->workspace, "legacy-", err, errlen) != 0) {
		legacy_argv_free(argv);
		return -1;
	}
	char cdir[PATH_MAX + 8];
	snprintf(cdir, sizeof(cdir), "%s/docker", l->ws.path);
	if (creds_write(cdir, req->creds, req->ncreds, err, errlen) != 0) {
		legacy_argv_free(argv);
		return -1;
	}
	for (size_t i = 0; i < req->ncreds; i++)
		log_info(l->conn.id, "credentials for %s", req->creds[i].registry);
	rc = start_builder(l, argv, err, errlen);
	legacy_argv_free(argv);
	return rc;
}

/* Spawn the builder with DOCKER_CONFIG pointing at this build's config.json. */
static int start_builder(struct legacy *l, char **argv, char *err, size_t errlen)
{
	size_t n = 0;
	while (environ[n])
		n++;
	const char **env = calloc(n + 2, sizeof(*env));
	char dc[PATH_MAX + 32];
	if (!env) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "DOCKER_CONFIG=", 14) != 0)
			env[k++] = environ[i];
	snprintf(dc, sizeof(dc), "DOCKER_CONFIG=%s/docker", l->ws.path);
	env[k++] = dc;
	env[k] = NULL;

	struct job_spec spec = {
	        .argv = (const char *const *)argv,
	        .env = env,
	        .cwd = NULL,
	        .kill_timeout = l->r->cfg->kill_timeout,
	        .conn_id = l->conn.id,
	        .name = "executor",
	};
	static const struct job_ops ops = {
	        .output = on_output,
	        .exited = on_exited,
	        .alloc = wbuf_alloc,
	        .release = wbuf_release,
	};
	int rc = job_start(l->r->loop, &spec, &ops, l, &l->job, err, errlen);
	free(env);
	if (rc == 0)
		l->refs++;
	return rc;
}

/* Refuse or end the build: an error line, then "status: FAILED", then close. */
static void fail(struct legacy *l, const char *fmt, ...)
{
	char msg[768], text[800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free_line(l);       /* no longer needed, and it counts against the budget */
	l->got_line = true; /* whatever else arrives is dropped */
	log_info(l->conn.id, "legacy build failed: %s", msg);
	if (l->gone || l->closed || l->finishing) {
		drop(l);
	} else {
		int n = snprintf(text, sizeof(text), "%serror: %s\nstatus: FAILED\n",
		                 l->last == '\n' ? "" : "\n", msg);
		send_bytes(l, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
		finish(l);
	}
	/* After finish(): a single-shot runner stops on release and must let this flush. */
	remove_dir(l);
	if (l->have_slot) {
		l->have_slot = false;
		runner_build_release(l->r, &l->build, R2K_EXIT_INTERNAL,
		                     (double)(uv_now(l->r->loop) - l->started_ms) / 1000.0);
	}
}

static uint8_t *wbuf_alloc(size_t cap)
{
	struct lwrite *w = malloc(sizeof(*w) + cap);
	return w ? w->data : NULL;
}

static void wbuf_release(uint8_t *buf)
{
	if (buf)
		free(buf - offsetof(struct lwrite, data));
}

/* Queue buf[0..n) (from wbuf_alloc; ownership passes) on the connection. */
static int queue_buf(struct legacy *l, uint8_t *buf, size_t n)
{
	struct lwrite *w = (struct lwrite *)(buf - offsetof(struct lwrite, data));
	if (l->gone || l->closed || l->shut || n == 0) {
		free(w);
		return -1;
	}
	w->l = l;
	w->len = n;
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
	if (uv_write(&w->req, l->stream, &b, 1, write_cb) != 0) {
		free(w);
		l->gone = true;
		kill_builder(l);
		return -1;
	}
	l->sent += n;
	l->queued += n;
	l->writes++;
	l->last = (char)w->data[n - 1];
	return 0;
}

/* Queue a copy of p[0..n). */
static int send_bytes(struct legacy *l, const void *p, size_t n)
{
	uint8_t *b = wbuf_alloc(n);
	if (!b)
		return -1;
	memcpy(b, p, n);
	return queue_buf(l, b, n);
}

static void write_cb(uv_write_t *req, int status)
{
	struct lwrite *w = (struct lwrite *)req;
	struct legacy *l = w->l;
	l->queued -= w->len;
	l->writes--;
	free(w);
	if (status < 0 && !l->gone) {
		l->gone = true;
		if (l->job) {
			log_info(l->conn.id, "client gone (%s): killing the builder",
			         uv_strerror(status));
			kill_builder(l);
		}
	}
	if (l->job && l->job_paused && l->queued < LEGACY_LOW_WATER) {
		l->job_paused = false;
		job_resume_output(l->job);
	}
	try_status(l);
}

/*
 * Builder output, stdout and stderr alike, goes out raw in the order read.
 * While the builder is being killed its pipes must be read to the end, so
 * what does not fit below the high mark is dropped instead of queued.
 */
static void on_output(struct job *j, enum job_stream which, uint8_t *buf, size_t len, void *arg)
{
	struct legacy *l = arg;
	if (l->killing && l->queued > LEGACY_HIGH_WATER) {
		wbuf_release(buf);
		l->dropped += len;
		return;
	}
	l->r->stats.output_bytes += len;
	if (queue_buf(l, buf, len) != 0)
		return;
	if (!l->killing && !l->job_paused && l->queued > LEGACY_HIGH_WATER) {
		l->job_paused = true;
		log_debug(l->conn.id, "%zu bytes of output queued: pausing the builder", l->queued);
		job_pause_output(j);
	}
}

/* The builder and its processes are gone: give the slot back, then report. */
static void on_exited(struct job *j, int how, int value, void *arg)
{
	struct legacy *l = arg;
	l->job = NULL;
	l->status = how == R2K_EXIT_SIGNAL ? 128 + value : value;
	l->status_due = !l->gone; /* before the release: a stopping runner must wait for it */
	if (l->have_slot) {
		l->have_slot = false;
		runner_build_release(l->r, &l->build, l->status,
		                     (double)(uv_now(l->r->loop) - l->started_ms) / 1000.0);
	}
	remove_dir(l);
	log_info(l->conn.id, "builder %s %d",
	         how == R2K_EXIT_SIGNAL ? "killed by signal" : "exited", value);
	if (l->dropped)
		log_warn(l->conn.id,
		         "dropped %llu bytes of output the client did not read while "
		         "the builder was being stopped",
		         (unsigned long long)l->dropped);
	if (l->gone) {
		drop(l);
	} else {
		/* What is still queued must be taken by the client; flush_cb bounds the wait. */
		l->drain_ms = uv_now(l->r->loop);
		l->moved = l->sent - uv_stream_get_write_queue_size(l->stream);
		uv_timer_start(&l->timer, flush_cb, LEGACY_FLUSH_POLL_MS, LEGACY_FLUSH_POLL_MS);
		try_status(l);
	}
	unref(l);
}

/*
 * The builder is gone and output is still queued: give up on a client that
 * takes none of it for --idle-timeout, or, when the runner is stopping, that
 * has not taken all of it by the deadline. The status line could not follow
 * the output then, so the connection is closed without it.
 */
static void flush_cb(uv_timer_t *t)
{
	struct legacy *l = t->data;
	if (l->gone || l->closed) {
		drop(l);
		return;
	}
	uint64_t now = uv_now(l->r->loop);
	uint64_t moved = l->sent - uv_stream_get_write_queue_size(l->stream);
	if (moved != l->moved) {
		l->moved = moved;
		l->drain_ms = now;
	}
	if (past_deadline(l, now, "take its output")) {
		drop(l);
	} else if (now - l->drain_ms >= (uint64_t)(l->r->cfg->idle_timeout * 1000)) {
		log_info(l->conn.id, "client took none of its output for %.0f s: closing",
		         l->r->cfg->idle_timeout);
		drop(l);
	}
}

/* Whether the runner is stopping and the flush deadline has passed (logged once). */
static bool past_deadline(struct legacy *l, uint64_t now, const char *what)
{
	if (!l->deadline_ms || now < l->deadline_ms)
		return false;
	log_info(l->conn.id,
	         "runner is shutting down and the client did not %s within %d s: "
	         "closing",
	         what, LEGACY_LINGER_MS / 1000);
	return true;
}

/* Once every output byte is written, wait for the client to read it, then send the status line. */
static void try_status(struct legacy *l)
{
	if (l->finishing && l->writes == 0 && !l->shut && !l->closed) {
		uv_shutdown_t *req = malloc(sizeof(*req));
		l->shut = true;
		if (!req || uv_shutdown(req, l->stream, shutdown_cb) != 0) {
			free(req);
			drop(l);
			return;
		}
		req->data = l;
		return;
	}
	if (!l->status_due || l->writes > 0 || l->gone)
		return;
	if (l->last != '\n') {
		send_bytes(l, "\n", 1); /* back here from its write callback */
		return;
	}
	l->status_due = false;
	l->status_wait = true;
	l->unread = -1;
	l->drain_ms = uv_now(l->r->loop);
	l->drain_poll = LEGACY_DRAIN_POLL_MS;
	/* Old clients compare the last chunk they read with the status line, so it
	 * must arrive alone: after the client has read everything before it. */
	uv_timer_start(&l->timer, drain_cb, 0, 0);
}

/* Look whether the client has read all output; send the status line once it has. */
static void drain_cb(uv_timer_t *t)
{
	struct legacy *l = t->data;
	bool exact;
	int fd;
	if (l->gone || l->closed) {
		drop(l);
		return;
	}
	long n = uv_fileno((uv_handle_t *)l->stream, &fd) == 0 ? sockq_unread(fd, &exact) : -1;
	uint64_t now = uv_now(l->r->loop);
	if (n > 0 && past_deadline(l, now, "read its output")) {
		drop(l);
		return;
	}
	if (n > 0) {
		if (n != l->unread) {
			l->unread = n;
			l->drain_ms = now;
			l->drain_poll = LEGACY_DRAIN_POLL_MS;
		} else if (now - l->drain_ms >= (uint64_t)(l->r->cfg->idle_timeout * 1000)) {
			log_info(l->conn.id, "client read nothing for %.0f s: sending the status",
			         l->r->cfg->idle_timeout);
			status_gap_cb(t);
			return;
		} else if (l->drain_poll < LEGACY_DRAIN_POLL_MAX) {
			l->drain_poll *=
			        2; /* a client that reads nothing is looked at less often */
		}
		uv_timer_start(t, drain_cb, l->drain_poll, 0);
		return;
	}
	uv_timer_stop(t);
	if (n == 0 && !exact)
		uv_timer_start(t, status_gap_cb, LEGACY_STATUS_GAP_MS, 0);
	else
		status_gap_cb(t);
}

/* Send the status line (the builder's outcome) and close. */
static void status_gap_cb(uv_timer_t *t)
{
	struct legacy *l = t->data;
	l->status_wait = false;
	if (l->gone || l->closed) {
		drop(l);
		return;
	}
	if (l->status == 0) {
		static const char ok[] = "status: SUCCESS\n";
		send_bytes(l, ok, sizeof(ok) - 1);
		finish(l);
		return;
	}
	char text[400];
	int n;
	if (l->why[0])
		n = snprintf(text, sizeof(text), "error: build cancelled: %s\nstatus: FAILED\n",
		             l->why);
	else if (l->status > 128)
		n = snprintf(text, sizeof(text),
		             "error: builder killed by signal %d\nstatus: FAILED\n",
		             l->status - 128);
	else
		n = snprintf(text, sizeof(text),
		             "error: builder exited with status %d\nstatus: FAILED\n", l->status);
	send_bytes(l, text, (size_t)n);
	finish(l);
}

/* The last bytes are queued: shut down after them and close (bounded by a timer). */
static void finish(struct legacy *l)
{
	if (l->finishing)
		return;
	l->finishing = true;
	uv_timer_start(&l->timer, timer_cb, LEGACY_LINGER_MS, 0);
	try_status(l);
}

/*
 * The last bytes went out and the client saw our end. Closing with unread
 * input would reset the connection and could destroy the last line before
 * the client reads it: read on, discarding, until the client closes,
 * bounded by the timer finish() started.
 */
static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct legacy *l = req->data;
	free(req);
	if (status < 0 || l->gone || !l->reading || l->closed) {
		drop(l);
		return;
	}
	l->lingering = true;
}

/* Request deadline, or the bound on flushing the last bytes. */
static void timer_cb(uv_timer_t *t)
{
	struct legacy *l = t->data;
	if (!l->got_line && !l->finishing) {
		log_info(l->conn.id, "no request line within %g s", l->r->cfg->idle_timeout);
		fail(l, "no request line within %g s (--idle-timeout)", l->r->cfg->idle_timeout);
		return;
	}
	drop(l);
}

/*
 * The runner is stopping (a build still running is cancelled through
 * on_cancel): a build that is over has LEGACY_LINGER_MS to get its last
 * bytes to the client; one that has not started is refused.
 */
static void close_now(struct runner_conn *rc)
{
	struct legacy *l = (struct legacy *)rc;
	if (l->job || l->finishing || l->status_due || l->status_wait) {
		if (!l->deadline_ms)
			l->deadline_ms = uv_now(l->r->loop) + LEGACY_LINGER_MS;
		return; /* it ends by itself, bounded by the deadline and finish()'s timer */
	}
	fail(l, "runner is shutting down");
}

/* SIGTERM/SIGINT or the end of the shutdown grace: stop the builder. */
static void on_cancel(struct runner_build *b, const char *why)
{
	struct legacy *l = (struct legacy *)((char *)b - offsetof(struct legacy, build));
	snprintf(l->why, sizeof(l->why), "%s", why);
	kill_builder(l);
}

/* Kill the builder; from now on its pipes are read to the end whatever the client does. */
static void kill_builder(struct legacy *l)
{
	if (!l->job)
		return;
	l->killing = true;
	l->job_paused = false; /* job_kill resumes reading */
	job_kill(l->job);
}

/* Close the connection now (queued writes are cancelled). */
static void drop(struct legacy *l)
{
	if (l->closed)
		return;
	l->closed = true;
	l->gone = true;
	runner_conn_remove(l->r, &l->conn);
	kill_builder(l);
	uv_close((uv_handle_t *)l->stream, handle_closed);
	uv_close((uv_handle_t *)&l->timer, handle_closed);
}

static void handle_closed(uv_handle_t *h)
{
	struct legacy *l = h->data;
	if (!l) {
		free(h); /* a stream that never got a struct */
		return;
	}
	if (h == (uv_handle_t *)l->stream)
		free(h);
	unref(l);
}

static void unref(struct legacy *l)
{
	if (--l->refs > 0)
		return;
	remove_dir(l);
	free_line(l);
	free(l);
}

/* Delete the per-build directory and the credentials in it. */
static void remove_dir(struct legacy *l)
{
	if (!l->ws.path)
		return;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", l->ws.path);
	if (workspace_remove(&l->ws) != 0)
		log_error(l->conn.id, "cannot remove %s: %s", path, strerror(errno));
}
