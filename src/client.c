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
static void signal_cb(uv_signal_t *s, int signum);
static void sniff_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void sniff_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_frame(struct peer *p, const struct r2k_frame *f, int err, void *arg);
static void on_drain(struct peer *p, void *arg);
static void on_out_change(struct outq *q, void *arg);
static void check_backpressure(struct client *c);
static void on_upload_done(struct upload *u, int err, const char *msg, void *arg);
/* An entry left out of the context. */
static void on_upload_warn(const char *msg, void *arg);
static void free_stream_cb(uv_handle_t *h);
static void prepare_process(void);
static void hide_secrets(int argc, char **argv);

/* The loop's clock in milliseconds. */
uint64_t client_now_ms(struct client *c)
{
	return uv_now(c->loop);
}

/* Close callback of a stream never handed to a peer. */
static void free_stream_cb(uv_handle_t *h)
{
	free(h);
}

/*
 * The build is over with this status: report why (a client-side error when
 * name is set), then close everything once output is flushed.
 */
void client_end(struct client *c, int status, int code, const char *name, const char *fmt, ...)
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
			client_emit_json(
			        c, msg_json_error(code, name, "client", msg, strlen(msg), status));
		} else {
			client_clear_progress(c);
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
		client_clear_progress(c);
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
	if (q == &c->out && q->broken && !c->out_broken_said) {
		/* Say so once on stderr (even with --json, whose stream is the broken one). */
		char line[256];
		int n = snprintf(line, sizeof(line),
		                 "r2k: warning: cannot write to stdout (%s): the rest of the "
		                 "build's output to it is dropped\n",
		                 uv_strerror(q->error));
		c->out_broken_said = true;
		client_clear_progress(c);
		outq_write(&c->err, line, n > 0 && n < (int)sizeof(line) ? (size_t)n : 0);
	}
	check_backpressure(c);
	maybe_close_rest(c);
}

static void on_upload_warn(const char *msg, void *arg)
{
	client_say(arg, "warn", "%s", msg);
}

/* The context is sent (CONTEXT_END queued), or could not be read. */
static void on_upload_done(struct upload *u, int err, const char *msg, void *arg)
{
	struct client *c = arg;
	if (err) {
		client_end(c, R2K_EXIT_CONTEXT, 0, "CONTEXT", "%s", msg);
		return;
	}
	uv_timer_stop(&c->progress_timer);
	if (c->progress) {
		client_clear_progress(c);
		double secs = (double)(client_now_ms(c) - c->upload_start_ms) / 1000.0;
		client_say(c, "info", "context sent: %.1f MiB in %.1f s",
		           (double)upload_bytes(u) / (1 << 20), secs);
	}
	if (c->verbose)
		client_say(c, "debug", "context: %llu bytes, sha256 %s",
		           (unsigned long long)upload_bytes(u), upload_sha256_hex(u));
}

/* The connection's write queue drained: produce more context. */
static void on_drain(struct peer *p, void *arg)
{
	struct client *c = arg;
	(void)p;
	if (c->up)
		upload_drain(c->up);
}

/* Keep idle-timeouts and middleboxes from closing a quiet connection. */
static void keepalive_cb(uv_timer_t *t)
{
	struct client *c = t->data;
	if (c->peer && !c->ended && !peer_above_high(c->peer))
		peer_send(c->peer, R2K_FRAME_KEEPALIVE, NULL, 0);
}

/* The runner did not answer CANCEL in time. */
static void cancel_timeout_cb(uv_timer_t *t)
{
	struct client *c = t->data;
	client_end(c, 128 + c->cancel_sig, 0, "CANCELLED",
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
		client_end(c, 128 + signum, 0, "CANCELLED", "cancelled before the build started");
		return;
	}
	if (c->up) {
		upload_stop(c->up);
		c->up = NULL;
	}
	uv_timer_stop(&c->progress_timer);
	peer_send(c->peer, R2K_FRAME_CANCEL, NULL, 0);
	client_say(c, "info", "cancelling the build (%s again to quit at once)",
	           signum == SIGINT ? "Ctrl-C" : "signal");
	uv_timer_start(&c->timer, cancel_timeout_cb, CANCEL_WAIT_MS, 0);
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
			client_end(c, R2K_EXIT_PROTOCOL, 0, "VERSION",
			           "runner speaks protocol version %u, this client %u",
			           c->runner_version, R2K_PROTO_VERSION);
		else if (peer_error_is_frame(err))
			client_end(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
			           "protocol error from runner %s: %s", c->addr_text,
			           peer_strerror(err));
		else
			client_end(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
			           "connection to runner %s lost before the build ended: %s",
			           c->addr_text, peer_strerror(err));
		return;
	}
	if (c->runner_version != R2K_PROTO_VERSION && f->type != R2K_FRAME_ERROR &&
	    f->type != R2K_FRAME_KEEPALIVE) {
		client_end(c, R2K_EXIT_PROTOCOL, 0, "VERSION",
		           "runner speaks protocol version %u, this client %u", c->runner_version,
		           R2K_PROTO_VERSION);
		return;
	}
	switch (f->type) {
	case R2K_FRAME_STDOUT:
		client_stream_output(c, 0, f->payload, f->len);
		check_backpressure(c);
		break;
	case R2K_FRAME_STDERR:
		client_stream_output(c, 1, f->payload, f->len);
		check_backpressure(c);
		break;
	case R2K_FRAME_LOG: client_handle_log(c, f); break;
	case R2K_FRAME_CHECK: client_handle_check(c, f); break;
	case R2K_FRAME_KEEPALIVE: break;
	case R2K_FRAME_EXIT: client_handle_exit(c, f); break;
	case R2K_FRAME_ERROR: client_handle_error(c, f); break;
	default:
		client_end(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
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

/* Collect the 12 preamble bytes, check them, then hand the stream to the peer. */
static void sniff_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = ((struct client_stream *)s)->c;
	if (nread == 0)
		return;
	if (nread < 0) {
		uv_read_stop(s);
		client_end(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
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
		client_end(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
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
		client_say(c, "debug", "runner speaks protocol version %u", c->runner_version);
	/* The frame layout is the same in every version: let the peer decode the rest. */
	int rc = peer_start(c->peer, (const uint8_t *)buf->base + take, n - take);
	if (rc < 0 && c->peer)
		client_end(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL", "cannot read from runner %s: %s",
		           c->addr_text, uv_strerror(rc));
}

/* Connected, but no preamble from the runner within --connect-timeout. */
static void answer_timeout_cb(uv_timer_t *t)
{
	struct client *c = t->data;
	client_end(c, R2K_EXIT_CONNECT, 0, "CONNECT",
	           "runner %s accepted the connection but did not answer within %g s", c->addr_text,
	           c->cfg.connect_timeout);
}

/* No connection within --connect-timeout. */
static void connect_timeout_cb(uv_timer_t *t)
{
	struct client *c = t->data;
	client_end(c, R2K_EXIT_CONNECT, 0, "CONNECT",
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
	explicit_bzero(json, jl);
	free(json);
	if (rc < 0) {
		client_end(c, R2K_EXIT_CONNECT, 0, "CONNECT", "cannot send to runner %s: %s",
		           c->addr_text, uv_strerror(rc));
		return;
	}
	if (c->verbose)
		client_say(c, "debug", "connected to %s", c->addr_text);
	uv_read_start((uv_stream_t *)&cs->h, sniff_alloc_cb, sniff_read_cb);
	c->upload_start_ms = client_now_ms(c);
	if (c->progress)
		uv_timer_start(&c->progress_timer, client_progress_cb, PROGRESS_MS, PROGRESS_MS);
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
		/* Small frames (REQUEST, CONTEXT_END) go out at once, not after a delayed ACK. */
		uv_tcp_nodelay(&c->cs->h.tcp, 1);
		c->creq.data = c;
		int rc = uv_tcp_connect(&c->creq, &c->cs->h.tcp, ai->ai_addr, connect_cb);
		if (rc == 0)
			return;
		c->connect_err = rc;
		uv_close((uv_handle_t *)&c->cs->h, free_stream_cb);
		c->cs = NULL;
	}
	client_end(c, R2K_EXIT_CONNECT, 0, "CONNECT", "cannot connect to runner %s: %s",
	           c->addr_text, uv_strerror(c->connect_err ? c->connect_err : UV_EAI_NONAME));
}

/* Names resolved: try the addresses in order. */
static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct client *c = req->data;
	if (c->ended) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status < 0) {
		client_end(c, R2K_EXIT_CONNECT, 0, "CONNECT", "cannot resolve runner %s: %s",
		           c->addr_text, uv_strerror(status));
		return;
	}
	c->ai_list = res;
	c->ai_next = res;
	try_next_addr(c);
}

/* Resolve (TCP) or connect (unix socket), under the connect timeout. */
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
		client_end(c, R2K_EXIT_CONNECT, 0, "CONNECT", "cannot resolve runner %s: %s",
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

/*
 * Overwrite the secrets of --registry-credentials and
 * --cache-registry-credentials (password=, auth=) in argv, which the options
 * were copied from, so that ps and /proc/PID/cmdline stop showing them.
 */
static void hide_secrets(int argc, char **argv)
{
	static const char *const opts[] = {"--registry-credentials",
	                                   "--cache-registry-credentials"};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return;
		char *value = NULL;
		for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]) && !value; k++) {
			size_t n = strlen(opts[k]);
			if (strncmp(argv[i], opts[k], n) != 0)
				continue;
			if (argv[i][n] == '=')
				value = argv[i] + n + 1;
			else if (argv[i][n] == '\0' && i + 1 < argc)
				value = argv[++i];
		}
		if (value &&
		    (strncmp(value, "password=", 9) == 0 || strncmp(value, "auth=", 5) == 0))
			for (char *p = strchr(value, '=') + 1; *p; p++)
				*p = '*';
	}
}

/* r2k client: parse, connect, stream, relay; returns the exit status. */
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
	hide_secrets(argc, argv);
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
	if (c->addr.kind == ADDR_TCP && strcmp(c->addr.port, "0") == 0) {
		fprintf(stderr,
		        "r2k client: --runner: address '%s': port 0 cannot be connected to\n",
		        runner);
		cli_client_free(&c->cfg);
		return R2K_EXIT_USAGE;
	}
	addr_format(&c->addr, c->addr_text, sizeof(c->addr_text));
	char warn[512];
	if (client_build_request(&c->cfg, &c->req, warn, sizeof(warn), err, sizeof(err)) < 0) {
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
	if (warn[0])
		client_say(c, "warn", "%s", warn);
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
		client_end(c, R2K_EXIT_CONTEXT, 0, "CONTEXT", "%s", err);
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
