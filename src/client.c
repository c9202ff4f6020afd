/* client.c: r2k client: connect, send the request and context, relay output, exit status. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "addr.h"
#include "client.h"
#include "frame.h"
#include "msg_client.h"
#include "roles.h"

/* How long to wait for the runner's answer to CANCEL. */
#define CANCEL_WAIT_MS 10000
/* KEEPALIVE period while connected. */
#define KEEPALIVE_MS 15000
#define PROGRESS_MS  250

/* The connection's stream: first member, so that peer.c's free() releases it all. */
struct client_stream {
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	struct client *c;
};

struct client {
	uv_loop_t *loop;
	struct client_config cfg;
	struct build_request req;
	struct r2k_addr addr;
	char addr_text[300];
	bool verbose, json, progress;

	uv_getaddrinfo_t gai;
	struct addrinfo *ai_list, *ai_next;
	struct client_stream *cs;
	uv_connect_t creq;
	int connect_err;
	uv_timer_t timer; /* connect timeout, then the cancel wait */
	uv_timer_t keepalive;
	uv_timer_t progress_timer;
	uv_signal_t sigint, sigterm;

	struct peer *peer;
	struct upload *up;
	struct outq out, err;
	bool paused; /* socket reads stopped because output backs up */

	uint8_t pre[R2K_PREAMBLE_LEN];
	size_t pre_have;
	uint16_t runner_version; /* from the runner's preamble */

	bool connected;
	bool ended;     /* EXIT or ERROR received, or a failure decided the status */
	bool closing;   /* handles are being closed */
	bool cancelled; /* CANCEL sent */
	int cancel_sig;
	bool progress_shown;
	uint64_t upload_start_ms;
	int status;
	/* --json: bytes of an incomplete UTF-8 character held back per stream */
	uint8_t tail[2][4];
	size_t tail_len[2];
};

static void say(struct client *c, const char *level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void emit_json(struct client *c, char *line);
static void end_with(struct client *c, int status, int code, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static void shutdown_all(struct client *c);
static void maybe_close_rest(struct client *c);
static void start_connect(struct client *c);
static void try_next_addr(struct client *c);
static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res);
static void connect_cb(uv_connect_t *req, int status);
static void connect_timeout_cb(uv_timer_t *t);
static void cancel_timeout_cb(uv_timer_t *t);
static void answer_timeout_cb(uv_timer_t *t);
static void keepalive_cb(uv_timer_t *t);
static void progress_cb(uv_timer_t *t);
static void signal_cb(uv_signal_t *s, int signum);
static void sniff_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void sniff_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_frame(struct peer *p, const struct r2k_frame *f, int err, void *arg);
static void on_drain(struct peer *p, void *arg);
static void on_out_change(struct outq *q, void *arg);
static void check_backpressure(struct client *c);
static void on_upload_done(struct upload *u, int err, const char *msg, void *arg);
static void on_upload_warn(const char *msg, void *arg);
static void stream_output(struct client *c, int which, const uint8_t *data, size_t len);
static void handle_exit(struct client *c, const struct r2k_frame *f);
static void handle_error(struct client *c, const struct r2k_frame *f);
static void handle_log(struct client *c, const struct r2k_frame *f);
static void handle_check(struct client *c, const struct r2k_frame *f);
static void clear_progress(struct client *c);
static const char *error_name(unsigned code);
static int error_status(unsigned code);
static uint64_t now_ms(struct client *c);
static void free_stream_cb(uv_handle_t *h);
static void prepare_process(void);

static uint64_t now_ms(struct client *c)
{
	return uv_now(c->loop);
}

/* Close callback of a stream never handed to a peer. */
static void free_stream_cb(uv_handle_t *h)
{
	free(h);
}

/* Name of an ERROR code (docs/protocol.md, "Error codes"). */
static const char *error_name(unsigned code)
{
	static const char *const names[] = {NULL,        "PROTOCOL", "VERSION",   "REQUEST",
	                                    "CONTEXT",   "BUSY",     "PREFLIGHT", "BUILDER",
	                                    "CANCELLED", "INTERNAL", "SHUTDOWN"};
	return code < sizeof(names) / sizeof(names[0]) && names[code] ? names[code] : "UNKNOWN";
}

/* The client's exit status for an ERROR code. */
static int error_status(unsigned code)
{
	switch (code) {
	case R2K_ERR_PROTOCOL:
	case R2K_ERR_VERSION: return R2K_EXIT_PROTOCOL;
	case R2K_ERR_REQUEST:
	case R2K_ERR_BUSY:
	case R2K_ERR_PREFLIGHT:
	case R2K_ERR_SHUTDOWN: return R2K_EXIT_REFUSED;
	case R2K_ERR_CONTEXT: return R2K_EXIT_CONTEXT;
	case R2K_ERR_BUILDER:
	case R2K_ERR_INTERNAL: return R2K_EXIT_INTERNAL;
	case R2K_ERR_CANCELLED: return R2K_EXIT_CANCELLED;
	default: return R2K_EXIT_INTERNAL; /* a code newer than this client */
	}
}

/* Erase the progress line before other text goes to stderr. */
static void clear_progress(struct client *c)
{
	if (!c->progress_shown)
		return;
	c->progress_shown = false;
	if (isatty(2))
		outq_write(&c->err, "\r\033[K", 4);
	else
		outq_write(&c->err, "\n", 1);
}

/* One line of r2k's own on stderr ("r2k: ..."), or a JSON log line with --json. */
static void say(struct client *c, const char *level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->json) {
		emit_json(c, msg_json_log(level, "client", msg, strlen(msg)));
		return;
	}
	char line[2200];
	int n;
	if (strcmp(level, "info") == 0)
		n = snprintf(line, sizeof(line), "r2k: %s\n", msg);
	else
		n = snprintf(line, sizeof(line), "r2k: %s: %s\n",
		             strcmp(level, "warn") == 0 ? "warning" : level, msg);
	if (n >= (int)sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	clear_progress(c);
	outq_write(&c->err, line, (size_t)n);
}

/* Queue one --json line on stdout; takes line. */
static void emit_json(struct client *c, char *line)
{
	size_t n = strlen(line);
	outq_write(&c->out, line, n);
	outq_write(&c->out, "\n", 1);
	free(line);
}

/*
 * The build is over with this status: report why (a client-side error when
 * name is set), then close everything once output is flushed.
 */
static void end_with(struct client *c, int status, int code, const char *name, const char *fmt, ...)
{
	if (c->ended)
		return;
	c->ended = true;
	c->status = status;
	if (fmt) {
		char msg[2048];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (c->json) {
			emit_json(c,
			          msg_json_error(code, name, "client", msg, strlen(msg), status));
		} else {
			clear_progress(c);
			char line[2100];
			int n = snprintf(line, sizeof(line), "r2k: %s\n", msg);
			outq_write(&c->err, line,
			           n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
		}
	}
	shutdown_all(c);
}

/* Stop producing, close the connection and timers; signals and queues go last. */
static void shutdown_all(struct client *c)
{
	if (c->up) {
		upload_stop(c->up);
		c->up = NULL;
	}
	if (c->peer) {
		struct peer *p = c->peer;
		c->peer = NULL;
		peer_abort(p, NULL);
	} else if (c->cs && !uv_is_closing((uv_handle_t *)&c->cs->h)) {
		/* Not yet handed to a peer: close it ourselves. */
		uv_close((uv_handle_t *)&c->cs->h, free_stream_cb);
		c->cs = NULL;
	}
	uv_timer_stop(&c->timer);
	uv_timer_stop(&c->keepalive);
	uv_timer_stop(&c->progress_timer);
	if (c->progress && c->progress_shown)
		clear_progress(c);
	maybe_close_rest(c);
}

/* Once output is flushed, close the remaining handles so the loop ends. */
static void maybe_close_rest(struct client *c)
{
	if (!c->ended || c->closing || !outq_idle(&c->out) || !outq_idle(&c->err))
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->timer, NULL);
	uv_close((uv_handle_t *)&c->keepalive, NULL);
	uv_close((uv_handle_t *)&c->progress_timer, NULL);
	uv_close((uv_handle_t *)&c->sigint, NULL);
	uv_close((uv_handle_t *)&c->sigterm, NULL);
	outq_close(&c->out);
	outq_close(&c->err);
}

/* Stop reading the socket while either output queue backs up; resume once both drain. */
static void check_backpressure(struct client *c)
{
	if (!c->peer)
		return;
	bool high = c->out.queued > OUTQ_HIGH || c->err.queued > OUTQ_HIGH;
	bool low = c->out.queued < OUTQ_LOW && c->err.queued < OUTQ_LOW;
	if (high && !c->paused) {
		c->paused = true;
		peer_pause(c->peer);
	} else if (low && c->paused) {
		c->paused = false;
		peer_resume(c->peer);
	}
}

/* An output write completed: maybe resume reading, maybe finish. */
static void on_out_change(struct outq *q, void *arg)
{
	struct client *c = arg;
	(void)q;
	check_backpressure(c);
	maybe_close_rest(c);
}

static void on_upload_warn(const char *msg, void *arg)
{
	say(arg, "warn", "%s", msg);
}

static void on_upload_done(struct upload *u, int err, const char *msg, void *arg)
{
	struct client *c = arg;
	if (err) {
		end_with(c, R2K_EXIT_CONTEXT, 0, "CONTEXT", "%s", msg);
		return;
	}
	uv_timer_stop(&c->progress_timer);
	if (c->progress) {
		clear_progress(c);
		double secs = (double)(now_ms(c) - c->upload_start_ms) / 1000.0;
		say(c, "info", "context sent: %.1f MiB in %.1f s",
		    (double)upload_bytes(u) / (1 << 20), secs);
	}
	if (c->verbose)
		say(c, "debug", "context: %llu bytes, sha256 %s",
		    (unsigned long long)upload_bytes(u), upload_sha256_hex(u));
}

static void on_drain(struct peer *p, void *arg)
{
	struct client *c = arg;
	(void)p;
	if (c->up)
		upload_drain(c->up);
}

static void progress_cb(uv_timer_t *t)
{
	struct client *c = t->data;
	if (!c->up || c->ended)
		return;
	double mib = (double)upload_bytes(c->up) / (1 << 20);
	double secs = (double)(now_ms(c) - c->upload_start_ms) / 1000.0;
	char line[160];
	int n = snprintf(line, sizeof(line), "\rr2k: sending context: %.1f MiB (%.1f MiB/s)%s", mib,
	                 secs > 0 ? mib / secs : 0.0, isatty(2) ? "\033[K" : "");
	outq_write(&c->err, line, (size_t)n);
	c->progress_shown = true;
}

static void keepalive_cb(uv_timer_t *t)
{
	struct client *c = t->data;
	if (c->peer && !c->ended && !peer_above_high(c->peer))
		peer_send(c->peer, R2K_FRAME_KEEPALIVE, NULL, 0);
}

static void cancel_timeout_cb(uv_timer_t *t)
{
	struct client *c = t->data;
	end_with(c, 128 + c->cancel_sig, 0, "CANCELLED",
	         "the runner did not answer the cancel within %d s; giving up",
	         CANCEL_WAIT_MS / 1000);
}

/* SIGINT/SIGTERM: cancel the build and wait a little; a second one quits at once. */
static void signal_cb(uv_signal_t *s, int signum)
{
	struct client *c = s->data;
	if (c->cancelled || c->ended) {
		static const char msg[] = "r2k: interrupted\n";
		if (write(2, msg, sizeof(msg) - 1) < 0) {
			/* nothing left to tell */
		}
		_exit(R2K_EXIT_CANCELLED);
	}
	c->cancelled = true;
	c->cancel_sig = signum;
	if (!c->peer) {
		end_with(c, 128 + signum, 0, "CANCELLED", "cancelled before the build started");
		return;
	}
	if (c->up) {
		upload_stop(c->up);
		c->up = NULL;
	}
	uv_timer_stop(&c->progress_timer);
	peer_send(c->peer, R2K_FRAME_CANCEL, NULL, 0);
	say(c, "info", "cancelling the build (%s again to quit at once)",
	    signum == SIGINT ? "Ctrl-C" : "signal");
	uv_timer_start(&c->timer, cancel_timeout_cb, CANCEL_WAIT_MS, 0);
}

/* Builder output: raw to our stdout/stderr, or JSON lines on stdout. */
static void stream_output(struct client *c, int which, const uint8_t *data, size_t len)
{
	if (!c->json) {
		if (which == 1)
			clear_progress(c);
		outq_write(which == 0 ? &c->out : &c->err, data, len);
		return;
	}
	/* Keep an incomplete UTF-8 character at the end for the next frame. */
	uint8_t *joined = malloc(c->tail_len[which] + len + 1);
	if (!joined)
		abort();
	memcpy(joined, c->tail[which], c->tail_len[which]);
	if (len)
		memcpy(joined + c->tail_len[which], data, len);
	size_t n = c->tail_len[which] + len, keep = 0;
	c->tail_len[which] = 0;
	if (data) {
		for (size_t back = 1; back <= 3 && back <= n; back++) {
			uint8_t b = joined[n - back];
			if ((b & 0xc0) == 0x80)
				continue;
			size_t need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
			if (need > back)
				keep = back;
			break;
		}
	}
	if (keep) {
		memcpy(c->tail[which], joined + n - keep, keep);
		c->tail_len[which] = keep;
		n -= keep;
	}
	if (n)
		emit_json(c, msg_json_stream(which == 0 ? "stdout" : "stderr", joined, n));
	free(joined);
}

/* EXIT: the builder's status becomes ours. */
static void handle_exit(struct client *c, const struct r2k_frame *f)
{
	struct r2k_exit e;
	if (r2k_exit_decode(f, &e) != 0) {
		end_with(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
		         "protocol error: malformed EXIT frame");
		return;
	}
	stream_output(c, 0, NULL, 0);
	stream_output(c, 1, NULL, 0);
	int status;
	bool sig = e.how == R2K_EXIT_SIGNAL;
	if (sig)
		status = 128 + (e.value & 0x7f);
	else
		status = e.value >= 0 && e.value <= 255 ? e.value : 1;
	if (c->cancelled && (sig || status != 0))
		status = 128 + c->cancel_sig;
	if (c->json) {
		emit_json(c, msg_json_exit(sig, e.value, e.digest, status));
	} else if (sig) {
		say(c, "error", "the builder was killed by signal %d (%s)", e.value,
		    e.value > 0 && e.value < 65 ? strsignal(e.value) : "unknown");
	} else if (e.value != 0) {
		say(c, "error", "the builder exited with status %d", e.value);
	} else if (e.digest[0]) {
		say(c, "info", "image digest %s", e.digest);
	}
	end_with(c, status, 0, NULL, NULL);
}

/* ERROR from the runner: print its message, map its code to our status. */
static void handle_error(struct client *c, const struct r2k_frame *f)
{
	uint16_t code;
	const char *msg;
	size_t len;
	if (r2k_error_decode(f, &code, &msg, &len) != 0) {
		end_with(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
		         "protocol error: malformed ERROR frame");
		return;
	}
	int status = error_status(code);
	if (c->cancelled && (code == R2K_ERR_CANCELLED))
		status = 128 + c->cancel_sig;
	if (c->json) {
		emit_json(c, msg_json_error(code, error_name(code), "runner", msg, len, status));
	} else {
		clear_progress(c);
		char line[1200];
		int n = snprintf(line, sizeof(line), "r2k: runner error %u (%s): %.*s\n", code,
		                 error_name(code), (int)(len > 1024 ? 1024 : len), msg);
		outq_write(&c->err, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
	end_with(c, status, 0, NULL, NULL);
}

static void handle_log(struct client *c, const struct r2k_frame *f)
{
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	uint8_t level;
	const char *msg;
	size_t len;
	if (r2k_log_decode(f, &level, &msg, &len) != 0)
		return;
	if (level > R2K_LOG_DEBUG)
		level = R2K_LOG_DEBUG;
	if (level == R2K_LOG_DEBUG && !c->verbose)
		return;
	if (c->json) {
		emit_json(c, msg_json_log(levels[level], "runner", msg, len));
		return;
	}
	say(c, levels[level], "%.*s", (int)(len > 1900 ? 1900 : len), msg);
}

static void handle_check(struct client *c, const struct r2k_frame *f)
{
	if (c->json) {
		char *line = msg_json_check((const char *)f->payload, f->len);
		if (line)
			emit_json(c, line);
		return;
	}
	struct check_result r;
	if (msg_check_decode((const char *)f->payload, f->len, &r) != 0) {
		say(c, "warn", "the runner sent a check result that is not a JSON object");
		return;
	}
	say(c, r.passed ? "info" : "error", "check %s %s: %s%s%s%s [%.0f ms]", r.kind, r.target,
	    r.passed ? "" : "FAILED ", r.status, r.detail[0] ? " - " : "", r.detail, r.latency_ms);
}

/* Every frame from the runner, and (f == NULL) the end of the connection. */
static void on_frame(struct peer *p, const struct r2k_frame *f, int err, void *arg)
{
	struct client *c = arg;
	(void)p;
	if (c->ended)
		return;
	if (!f) {
		c->peer = NULL;
		peer_abort(p, NULL);
		if (c->runner_version != R2K_PROTO_VERSION)
			end_with(c, R2K_EXIT_PROTOCOL, 0, "VERSION",
			         "runner speaks protocol version %u, this client %u",
			         c->runner_version, R2K_PROTO_VERSION);
		else if (peer_error_is_frame(err))
			end_with(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
			         "protocol error from runner %s: %s", c->addr_text,
			         peer_strerror(err));
		else
			end_with(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
			         "connection to runner %s lost before the build ended: %s",
			         c->addr_text, peer_strerror(err));
		return;
	}
	if (c->runner_version != R2K_PROTO_VERSION && f->type != R2K_FRAME_ERROR &&
	    f->type != R2K_FRAME_KEEPALIVE) {
		end_with(c, R2K_EXIT_PROTOCOL, 0, "VERSION",
		         "runner speaks protocol version %u, this client %u", c->runner_version,
		         R2K_PROTO_VERSION);
		return;
	}
	switch (f->type) {
	case R2K_FRAME_STDOUT:
		stream_output(c, 0, f->payload, f->len);
		check_backpressure(c);
		break;
	case R2K_FRAME_STDERR:
		stream_output(c, 1, f->payload, f->len);
		check_backpressure(c);
		break;
	case R2K_FRAME_LOG: handle_log(c, f); break;
	case R2K_FRAME_CHECK: handle_check(c, f); break;
	case R2K_FRAME_KEEPALIVE: break;
	case R2K_FRAME_EXIT: handle_exit(c, f); break;
	case R2K_FRAME_ERROR: handle_error(c, f); break;
	default:
		end_with(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
		         "protocol error: the runner sent a %s frame, which only clients send",
		         r2k_frame_type_name(f->type));
		break;
	}
}

/* The runner's preamble is read here, so that a different version can still tell us why. */
static void sniff_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static uint8_t scratch[R2K_PREAMBLE_LEN];
	(void)h;
	*buf = uv_buf_init((char *)scratch, sizeof(scratch));
}

static void sniff_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = ((struct client_stream *)s)->c;
	if (nread == 0)
		return;
	if (nread < 0) {
		uv_read_stop(s);
		end_with(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
		         "runner %s closed the connection before answering: %s", c->addr_text,
		         nread == UV_EOF ? "end of stream" : uv_strerror((int)nread));
		return;
	}
	size_t n = (size_t)nread, take = R2K_PREAMBLE_LEN - c->pre_have;
	if (take > n)
		take = n;
	memcpy(c->pre + c->pre_have, buf->base, take);
	c->pre_have += take;
	size_t m = c->pre_have < R2K_MAGIC_LEN ? c->pre_have : R2K_MAGIC_LEN;
	if (memcmp(c->pre, R2K_MAGIC, m) != 0) {
		uv_read_stop(s);
		end_with(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
		         "%s does not speak the r2k protocol (bad magic in its answer)",
		         c->addr_text);
		return;
	}
	if (c->pre_have < R2K_PREAMBLE_LEN)
		return;
	uv_read_stop(s);
	if (!c->cancelled)
		uv_timer_stop(&c->timer);
	c->runner_version = (uint16_t)(c->pre[8] << 8 | c->pre[9]);
	if (c->verbose)
		say(c, "debug", "runner speaks protocol version %u", c->runner_version);
	/* The frame layout is the same in every version: let the peer decode the rest. */
	int rc = peer_start(c->peer, (const uint8_t *)buf->base + take, n - take);
	if (rc < 0 && c->peer)
		end_with(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL", "cannot read from runner %s: %s",
		         c->addr_text, uv_strerror(rc));
}

static void answer_timeout_cb(uv_timer_t *t)
{
	struct client *c = t->data;
	end_with(c, R2K_EXIT_CONNECT, 0, "CONNECT",
	         "runner %s accepted the connection but did not answer within %g s", c->addr_text,
	         c->cfg.connect_timeout);
}

static void connect_timeout_cb(uv_timer_t *t)
{
	struct client *c = t->data;
	end_with(c, R2K_EXIT_CONNECT, 0, "CONNECT",
	         "cannot connect to runner %s: timed out after %g s", c->addr_text,
	         c->cfg.connect_timeout);
}

/* Connected: hand the stream to a peer, send preamble and request, start the context. */
static void connect_cb(uv_connect_t *req, int status)
{
	struct client *c = req->data;
	if (c->ended)
		return;
	if (status < 0) {
		c->connect_err = status;
		uv_close((uv_handle_t *)&c->cs->h, free_stream_cb);
		c->cs = NULL;
		try_next_addr(c);
		return;
	}
	uv_timer_stop(&c->timer);
	if (c->cfg.connect_timeout > 0)
		uv_timer_start(&c->timer, answer_timeout_cb,
		               (uint64_t)(c->cfg.connect_timeout * 1000.0 + 0.5), 0);
	c->connected = true;
	struct client_stream *cs = c->cs;
	c->cs = NULL;
	c->peer = peer_new((uv_stream_t *)&cs->h, false, on_frame, c);
	if (!c->peer)
		abort();
	peer_set_drain_cb(c->peer, on_drain);
	char *json = msg_request_encode(&c->req);
	if (!json)
		abort();
	size_t jl = strlen(json);
	int rc = peer_send_preamble(c->peer);
	if (rc == 0)
		rc = peer_send(c->peer, R2K_FRAME_REQUEST, json, jl);
	/* The request holds credentials: wipe the encoded copy. */
	memset(json, 0, jl);
	free(json);
	if (rc < 0) {
		end_with(c, R2K_EXIT_CONNECT, 0, "CONNECT", "cannot send to runner %s: %s",
		         c->addr_text, uv_strerror(rc));
		return;
	}
	if (c->verbose)
		say(c, "debug", "connected to %s", c->addr_text);
	uv_read_start((uv_stream_t *)&cs->h, sniff_alloc_cb, sniff_read_cb);
	c->upload_start_ms = now_ms(c);
	if (c->progress)
		uv_timer_start(&c->progress_timer, progress_cb, PROGRESS_MS, PROGRESS_MS);
	uv_timer_start(&c->keepalive, keepalive_cb, KEEPALIVE_MS, KEEPALIVE_MS);
	upload_begin(c->up, c->peer);
}

/* Try the next resolved address (TCP), or give up with the last error. */
static void try_next_addr(struct client *c)
{
	while (c->ai_next) {
		struct addrinfo *ai = c->ai_next;
		c->ai_next = ai->ai_next;
		c->cs = calloc(1, sizeof(*c->cs));
		if (!c->cs)
			abort();
		c->cs->c = c;
		uv_tcp_init(c->loop, &c->cs->h.tcp);
		c->creq.data = c;
		int rc = uv_tcp_connect(&c->creq, &c->cs->h.tcp, ai->ai_addr, connect_cb);
		if (rc == 0)
			return;
		c->connect_err = rc;
		uv_close((uv_handle_t *)&c->cs->h, free_stream_cb);
		c->cs = NULL;
	}
	end_with(c, R2K_EXIT_CONNECT, 0, "CONNECT", "cannot connect to runner %s: %s", c->addr_text,
	         uv_strerror(c->connect_err ? c->connect_err : UV_EAI_NONAME));
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct client *c = req->data;
	if (c->ended) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status < 0) {
		end_with(c, R2K_EXIT_CONNECT, 0, "CONNECT", "cannot resolve runner %s: %s",
		         c->addr_text, uv_strerror(status));
		return;
	}
	c->ai_list = res;
	c->ai_next = res;
	try_next_addr(c);
}

static void start_connect(struct client *c)
{
	if (c->cfg.connect_timeout > 0)
		uv_timer_start(&c->timer, connect_timeout_cb,
		               (uint64_t)(c->cfg.connect_timeout * 1000.0 + 0.5), 0);
	if (c->addr.kind == ADDR_UNIX) {
		c->cs = calloc(1, sizeof(*c->cs));
		if (!c->cs)
			abort();
		c->cs->c = c;
		uv_pipe_init(c->loop, &c->cs->h.pipe, 0);
		c->creq.data = c;
		uv_pipe_connect(&c->creq, &c->cs->h.pipe, c->addr.path, connect_cb);
		return;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	c->gai.data = c;
	int rc = uv_getaddrinfo(c->loop, &c->gai, gai_cb, c->addr.host, c->addr.port, &hints);
	if (rc < 0)
		end_with(c, R2K_EXIT_CONNECT, 0, "CONNECT", "cannot resolve runner %s: %s",
		         c->addr_text, uv_strerror(rc));
}

/*
 * Make sure fds 0-2 are open (else the socket could become "stdout"), and
 * allow one open directory per level of a deep context.
 */
static void prepare_process(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
			if (n >= 0 && n != fd)
				close(n);
		}
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
}

int client_main(int argc, char **argv)
{
	struct client cl;
	struct client *c = &cl;
	char err[1024];
	memset(c, 0, sizeof(*c));
	cli_client_defaults(&c->cfg);
	client_env_defaults(&c->cfg);
	int rc = opts_parse(&cli_client_cmd, argc, argv, &c->cfg);
	if (rc) {
		cli_client_free(&c->cfg);
		return rc == 1 ? 0 : rc;
	}
	c->verbose = c->cfg.verbose;
	c->json = c->cfg.json;
	const char *prog = c->cfg.progress ? c->cfg.progress : "auto";
	if (strcmp(prog, "auto") == 0)
		c->progress = isatty(2);
	else if (strcmp(prog, "always") == 0)
		c->progress = true;
	else if (strcmp(prog, "never") == 0)
		c->progress = false;
	else {
		fprintf(stderr,
		        "r2k client: invalid value '%s' for option --progress (auto, always, "
		        "never)\n",
		        prog);
		cli_client_free(&c->cfg);
		return R2K_EXIT_USAGE;
	}
	const char *runner = c->cfg.runner ? c->cfg.runner : getenv("R2K_RUNNER");
	if (!runner || !*runner) {
		fprintf(stderr,
		        "r2k client: no runner given: use --runner ADDR or set R2K_RUNNER\n");
		cli_client_free(&c->cfg);
		return R2K_EXIT_USAGE;
	}
	if (addr_parse(runner, &c->addr, err, sizeof(err)) < 0) {
		fprintf(stderr, "r2k client: --runner: %s\n", err);
		cli_client_free(&c->cfg);
		return R2K_EXIT_USAGE;
	}
	addr_format(&c->addr, c->addr_text, sizeof(c->addr_text));
	if (client_build_request(&c->cfg, &c->req, err, sizeof(err)) < 0) {
		fprintf(stderr, "r2k client: %s\n", err);
		cli_client_free(&c->cfg);
		return R2K_EXIT_USAGE;
	}

	prepare_process();
	uv_loop_t loop;
	uv_loop_init(&loop);
	c->loop = &loop;
	c->runner_version = R2K_PROTO_VERSION;
	outq_init(&c->out, &loop, 1, on_out_change, c);
	outq_init(&c->err, &loop, 2, on_out_change, c);
	uv_timer_init(&loop, &c->timer);
	uv_timer_init(&loop, &c->keepalive);
	uv_timer_init(&loop, &c->progress_timer);
	c->timer.data = c->keepalive.data = c->progress_timer.data = c;
	uv_signal_init(&loop, &c->sigint);
	uv_signal_init(&loop, &c->sigterm);
	c->sigint.data = c->sigterm.data = c;
	uv_signal_start(&c->sigint, signal_cb, SIGINT);
	uv_signal_start(&c->sigterm, signal_cb, SIGTERM);

	const char *context = c->cfg.context ? c->cfg.context : ".";
	c->up = upload_new(&loop, context, on_upload_warn, on_upload_done, c, err, sizeof(err));
	if (!c->up)
		end_with(c, R2K_EXIT_CONTEXT, 0, "CONTEXT", "%s", err);
	else
		start_connect(c);

	uv_run(&loop, UV_RUN_DEFAULT);
	if (c->ai_list)
		uv_freeaddrinfo(c->ai_list);
	if (uv_loop_close(&loop) != 0) {
		/* A handle outlived the build: a bug, but the status stands. */
		if (c->verbose)
			fprintf(stderr, "r2k: debug: event loop not empty at exit\n");
	}
	msg_request_free(&c->req);
	cli_client_free(&c->cfg);
	return c->status;
}
