/* client_upload.c: stream the context as CONTEXT frames, hashing it, under backpressure. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "sha256.h"
#include "tarsrc.h"

/* Frames produced per idle callback before the loop polls again. */
#define UPLOAD_FRAMES_PER_STEP 4

enum up_kind {
	UP_DIR,  /* a directory, through tarsrc */
	UP_FILE, /* stdin is a regular file: read() never blocks for long */
	UP_PIPE, /* stdin is a pipe or socket: read from the loop */
};

struct upload {
	uv_loop_t *loop;
	struct peer *peer;
	enum up_kind kind;
	struct tarsrc *ts;
	uv_idle_t idle; /* drives production while the peer accepts more */
	uv_pipe_t pipe; /* UP_PIPE: stdin */
	int handles;    /* handles not yet closed */
	bool reading;   /* UP_PIPE: uv_read_start is on */
	uint8_t *buf;   /* frame being filled, from peer_buf_alloc */
	size_t fill;
	struct r2k_sha256 *md;
	uint64_t total;
	char hex[65];
	bool begun, complete, stopped;
	upload_warn_cb warn;
	upload_done_cb done;
	void *arg;
};

static void idle_cb(uv_idle_t *h);
static void pipe_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void pipe_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void close_cb(uv_handle_t *h);
static void send_frame(struct upload *u);
static void finish_stream(struct upload *u);
static void fail(struct upload *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tar_warn(const char *msg, void *arg);

static void tar_warn(const char *msg, void *arg)
{
	struct upload *u = arg;
	if (u->warn)
		u->warn(msg, u->arg);
}

struct upload *upload_new(uv_loop_t *loop, const char *context, upload_warn_cb warn,
                          upload_done_cb done, void *arg, char *err, size_t errlen)
{
	struct upload *u = calloc(1, sizeof(*u));
	if (!u)
		abort();
	u->loop = loop;
	u->warn = warn;
	u->done = done;
	u->arg = arg;
	if (strcmp(context, "-") == 0) {
		uv_handle_type t = uv_guess_handle(0);
		if (t == UV_FILE) {
			u->kind = UP_FILE;
		} else if (t == UV_NAMED_PIPE || t == UV_TCP) {
			u->kind = UP_PIPE;
			uv_pipe_init(loop, &u->pipe, 0);
			u->pipe.data = u;
			u->handles++;
			int rc = uv_pipe_open(&u->pipe, 0);
			if (rc < 0) {
				snprintf(err, errlen, "cannot read the context from stdin: %s",
				         uv_strerror(rc));
				/* u is freed by the close callback when the loop runs. */
				uv_close((uv_handle_t *)&u->pipe, close_cb);
				return NULL;
			}
		} else {
			snprintf(err, errlen,
			         t == UV_TTY ? "--context -: stdin is a terminal; pipe a tar "
			                       "stream into it"
			                     : "--context -: stdin is not a file, pipe or socket");
			free(u);
			return NULL;
		}
	} else {
		struct stat st;
		if (stat(context, &st) == 0 && !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen,
			         "--context %s: not a directory (a tar file goes on stdin: "
			         "--context - < %s)",
			         context, context);
			free(u);
			return NULL;
		}
		u->kind = UP_DIR;
		u->ts = tarsrc_open(context, tar_warn, u, err, errlen);
		if (!u->ts) {
			free(u);
			return NULL;
		}
	}
	u->md = r2k_sha256_new();
	if (!u->md)
		abort();
	uv_idle_init(loop, &u->idle);
	u->idle.data = u;
	u->handles++;
	return u;
}

void upload_begin(struct upload *u, struct peer *p)
{
	u->peer = p;
	u->begun = true;
	upload_drain(u);
}

void upload_drain(struct upload *u)
{
	if (!u->begun || u->complete || u->stopped)
		return;
	if (u->kind == UP_PIPE) {
		if (!u->reading &&
		    uv_read_start((uv_stream_t *)&u->pipe, pipe_alloc_cb, pipe_read_cb) == 0)
			u->reading = true;
	} else {
		uv_idle_start(&u->idle, idle_cb);
	}
}

uint64_t upload_bytes(const struct upload *u)
{
	return u->total;
}
bool upload_done(const struct upload *u)
{
	return u->complete;
}
const char *upload_sha256_hex(const struct upload *u)
{
	return u->hex;
}

/* Hash and send the frame being filled (if it holds anything). */
static void send_frame(struct upload *u)
{
	if (!u->buf)
		return;
	if (!u->fill) {
		peer_buf_free(u->buf);
		u->buf = NULL;
		return;
	}
	r2k_sha256_update(u->md, u->buf, u->fill);
	u->total += u->fill;
	/* On failure the peer reports the broken connection through its frame callback. */
	peer_buf_send(u->peer, R2K_FRAME_CONTEXT, u->buf, u->fill);
	u->buf = NULL;
	u->fill = 0;
}

/* The stream is complete: send what is left and CONTEXT_END. */
static void finish_stream(struct upload *u)
{
	uint8_t sha[R2K_SHA256_LEN], end[R2K_CONTEXT_END_LEN];
	send_frame(u);
	r2k_sha256_final(u->md, sha);
	for (unsigned i = 0; i < 32; i++)
		snprintf(u->hex + 2 * i, 3, "%02x", sha[i]);
	r2k_context_end_encode(end, u->total, sha);
	peer_send(u->peer, R2K_FRAME_CONTEXT_END, end, sizeof(end));
	u->complete = true;
	uv_idle_stop(&u->idle);
	if (u->reading) {
		uv_read_stop((uv_stream_t *)&u->pipe);
		u->reading = false;
	}
	u->done(u, 0, NULL, u->arg);
}

/* A local failure: stop producing and tell the owner. */
static void fail(struct upload *u, const char *fmt, ...)
{
	char msg[1100];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uv_idle_stop(&u->idle);
	if (u->reading) {
		uv_read_stop((uv_stream_t *)&u->pipe);
		u->reading = false;
	}
	u->complete = true; /* nothing more will be produced */
	u->done(u, -1, msg, u->arg);
}

/* Produce a few frames, unless the connection's write queue is above its high mark. */
static void idle_cb(uv_idle_t *h)
{
	struct upload *u = h->data;
	for (int i = 0; i < UPLOAD_FRAMES_PER_STEP; i++) {
		if (u->stopped || u->complete)
			return;
		if (peer_above_high(u->peer)) {
			uv_idle_stop(&u->idle); /* upload_drain restarts it */
			return;
		}
		u->buf = peer_buf_alloc(CLIENT_CONTEXT_FRAME);
		if (!u->buf)
			abort();
		u->fill = 0;
		int r;
		if (u->kind == UP_DIR) {
			r = tarsrc_fill(u->ts, u->buf, CLIENT_CONTEXT_FRAME, &u->fill);
			if (r < 0) {
				peer_buf_free(u->buf);
				u->buf = NULL;
				fail(u, "%s", tarsrc_error(u->ts));
				return;
			}
		} else {
			r = 1;
			while (u->fill < CLIENT_CONTEXT_FRAME) {
				ssize_t n =
				        read(0, u->buf + u->fill, CLIENT_CONTEXT_FRAME - u->fill);
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0) {
					int e = errno;
					peer_buf_free(u->buf);
					u->buf = NULL;
					fail(u, "cannot read the context from stdin: %s",
					     strerror(e));
					return;
				}
				if (n == 0) {
					r = 0;
					break;
				}
				u->fill += (size_t)n;
			}
		}
		if (r == 0) {
			finish_stream(u);
			return;
		}
		send_frame(u);
	}
}

/* Pipe reads land straight in the frame being filled. */
static void pipe_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct upload *u = h->data;
	if (!u->buf) {
		u->buf = peer_buf_alloc(CLIENT_CONTEXT_FRAME);
		if (!u->buf)
			abort();
		u->fill = 0;
	}
	*buf = uv_buf_init((char *)u->buf + u->fill, (unsigned)(CLIENT_CONTEXT_FRAME - u->fill));
}

static void pipe_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct upload *u = s->data;
	if (u->stopped || u->complete)
		return;
	if (nread > 0) {
		u->fill += (size_t)nread;
		if (u->fill == CLIENT_CONTEXT_FRAME) {
			send_frame(u);
			if (peer_above_high(u->peer)) {
				uv_read_stop(s);
				u->reading = false;
			}
		}
	} else if (nread == UV_EOF) {
		finish_stream(u);
	} else if (nread < 0) {
		fail(u, "cannot read the context from stdin: %s", uv_strerror((int)nread));
	}
}

static void close_cb(uv_handle_t *h)
{
	struct upload *u = h->data;
	if (--u->handles > 0)
		return;
	if (u->buf)
		peer_buf_free(u->buf);
	tarsrc_free(u->ts);
	r2k_sha256_free(u->md);
	free(u);
}

void upload_stop(struct upload *u)
{
	if (u->stopped)
		return;
	u->stopped = true;
	uv_idle_stop(&u->idle);
	uv_close((uv_handle_t *)&u->idle, close_cb);
	if (u->kind == UP_PIPE)
		uv_close((uv_handle_t *)&u->pipe, close_cb);
}
