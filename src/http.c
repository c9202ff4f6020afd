/* http.c: the runner's small HTTP/1.1 front: health, readiness, metrics and version (llhttp). */
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "metrics.h"
#include "msg_version.h"
#include "proto.h"
#include "runner.h"

#define HTTP_READ_SIZE       (16u << 10)
#define HTTP_MAX_HEAD        (16u << 10)  /* request line + headers; more is answered with 431 */
#define HTTP_MAX_URL         2048         /* longer targets are answered with 414 */
#define HTTP_MAX_BODY        (64u << 10)  /* request bodies are read and dropped up to this */
#define HTTP_MAX_QUEUED      (256u << 10) /* parse no further while this much output is unsent */
#define HTTP_LINGER_MS       2000 /* after the last response, drain input this long at most */
#define HTTP_HEADER_OVERHEAD 4    /* ": " and CRLF of each header line, counted in the cap */

/* One HTTP connection: requests are answered in order as they complete. */
struct http_conn {
	struct runner_conn conn; /* first: close_now gets this */
	struct runner *r;
	uv_stream_t *stream; /* owned; freed in its close callback */
	uv_timer_t timer;    /* idle timeout between requests, then the linger bound */
	llhttp_t parser;
	int handles;       /* open handles: the struct is freed when both are closed */
	size_t head_bytes; /* of the current request's line and headers */
	size_t body_bytes;
	size_t url_len;
	size_t unsent; /* bytes of responses whose write has not completed */
	int refuse;    /* status to answer when a callback stops the parser */
	/* Obsolete line folding shows as a header value span that does not start where the
	 * value's last one ended, or, for a value's first span, right after a line end. */
	const char *buf;      /* the input being parsed */
	const char *val_next; /* where the current value would continue */
	bool val_first;       /* no span of the current header value seen yet */
	bool val_at_end;      /* the last buffer ended inside a value span */
	char tail;            /* last byte of the last buffer that is not SP or HT */
	bool reading;
	bool paused;    /* reading stopped for backpressure */
	bool held;      /* parser paused between requests for backpressure; rest in held_buf */
	bool closing;   /* no more requests: flush, shut down, drain, close */
	bool shut;      /* uv_shutdown requested */
	bool shut_done; /* our FIN is out */
	bool got_eof;   /* the client's FIN arrived */
	bool closed;    /* uv_close requested */
	char *held_buf; /* input after the request the parser paused behind (malloc'd) */
	size_t held_len;
	char url[HTTP_MAX_URL + 1];
	char rbuf[HTTP_READ_SIZE];
};

/* One response: the uv_write_t and the bytes in one allocation. */
struct http_write {
	uv_write_t req;
	struct http_conn *c;
	size_t len;
	char data[];
};

static int on_message_begin(llhttp_t *p);
static int on_url(llhttp_t *p, const char *at, size_t len);
static int on_head_data(llhttp_t *p, const char *at, size_t len);
static int on_header_field(llhttp_t *p, const char *at, size_t len);
static int on_header_value(llhttp_t *p, const char *at, size_t len);
static int refuse(llhttp_t *p, int status, const char *why);
static int on_header_field_complete(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t len);
static int on_message_complete(llhttp_t *p);
static void feed(struct http_conn *c, const char *data, size_t n);
static void route(struct http_conn *c, bool keep);
static void respond(struct http_conn *c, int status, const char *ctype, const char *extra,
                    const char *body, size_t blen, bool keep);
static const char *status_text(int status);
static void start_closing(struct http_conn *c);
static void hard_close(struct http_conn *c);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void write_cb(uv_write_t *w, int status);
static void shutdown_cb(uv_shutdown_t *req, int status);
static void timer_cb(uv_timer_t *t);
static void handle_closed(uv_handle_t *h);
static void stream_free(uv_handle_t *h);
static void close_now(struct runner_conn *rc);
static void arm_idle(struct http_conn *c);

static const llhttp_settings_t settings = {
        .on_message_begin = on_message_begin,
        .on_url = on_url,
        .on_method = on_head_data,
        .on_version = on_head_data,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_header_field_complete = on_header_field_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
};

void http_start(struct runner *r, uv_stream_t *s, const uint8_t *initial, size_t n)
{
	struct http_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error(0, "http: out of memory");
		uv_close((uv_handle_t *)s, stream_free);
		return;
	}
	c->r = r;
	c->stream = s;
	s->data = c;
	uv_timer_init(r->loop, &c->timer);
	c->timer.data = c;
	c->handles = 2;
	c->tail = '\n';
	llhttp_init(&c->parser, HTTP_REQUEST, &settings);
	c->parser.data = c;
	runner_conn_add(r, &c->conn, close_now);
	log_debug(c->conn.id, "http connection");
	arm_idle(c);
	feed(c, (const char *)initial, n);
	if (!c->closed && !c->reading && !c->paused) {
		if (uv_read_start(s, alloc_cb, read_cb) == 0)
			c->reading = true;
		else
			hard_close(c);
	}
}

/* (Re)start the idle timer: the next request must be complete within --idle-timeout. */
static void arm_idle(struct http_conn *c)
{
	uint64_t ms = (uint64_t)(c->r->cfg->idle_timeout * 1000);
	uv_timer_start(&c->timer, timer_cb, ms ? ms : 1, 0);
}

static int on_message_begin(llhttp_t *p)
{
	struct http_conn *c = p->data;
	c->head_bytes = 0;
	c->body_bytes = 0;
	c->url_len = 0;
	c->url[0] = '\0';
	c->refuse = 0;
	return 0;
}

/* Stop the parser: the request is answered with status and closed. */
static int refuse(llhttp_t *p, int status, const char *why)
{
	struct http_conn *c = p->data;
	c->refuse = status;
	llhttp_set_error_reason(p, why);
	return HPE_USER;
}

/* Count request-line and header bytes against the cap. */
static int on_head_data(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	c->head_bytes += len;
	if (c->head_bytes > HTTP_MAX_HEAD)
		return refuse(p, 431, "request header fields too large");
	return 0;
}

/* A header name: llhttp lets "Name : value" through for most headers; RFC 9112 does not. */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	if (memchr(at, ' ', len) || memchr(at, '\t', len))
		return refuse(p, 400, "whitespace between a header name and its colon");
	return on_head_data(p, at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;
	c->val_first = true;
	return on_head_data(p, NULL, HTTP_HEADER_OVERHEAD);
}

/* A piece of a header value: obsolete line folding is refused (RFC 9112 5.2). */
static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	if (len == 0)
		return 0; /* an empty value's span is placed after its line end */
	bool fold;
	if (c->val_first) {
		const char *k = at;
		while (k > c->buf && (k[-1] == ' ' || k[-1] == '\t'))
			k--;
		fold = (k > c->buf ? k[-1] : c->tail) == '\n';
		c->val_first = false;
	} else {
		fold = at != c->val_next;
	}
	if (fold)
		return refuse(p, 400, "obsolete line folding in a header value");
	c->val_next = at + len;
	return on_head_data(p, at, len);
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	if (c->url_len + len > HTTP_MAX_URL)
		return refuse(p, 414, "request target too long");
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	c->url[c->url_len] = '\0';
	return on_head_data(p, at, len);
}

/* Bodies are not used by any endpoint: count and drop them. */
static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	c->body_bytes += len;
	if (c->body_bytes > HTTP_MAX_BODY)
		return refuse(p, 413, "request body too large");
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;
	if (llhttp_get_http_major(p) != 1) {
		/* "GET /path" without a version (HTTP/0.9): not a request this server takes. */
		static const char why[] = "HTTP/1.0 or HTTP/1.1 requests only\n";
		respond(c, 400, "text/plain; charset=utf-8", NULL, why, sizeof(why) - 1, false);
		start_closing(c);
		return HPE_PAUSED;
	}
	/* Upgrades (and CONNECT) are not offered: answer, then close. */
	bool keep = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p) && !c->r->shutting_down;
	route(c, keep);
	if (!keep) {
		start_closing(c);
		return HPE_PAUSED; /* the rest of the input is not looked at */
	}
	arm_idle(c);
	if (c->unsent > HTTP_MAX_QUEUED) {
		/* Pipelined requests whose answers the client does not read: parse no more
		 * until they are written, so that queued output stays bounded. */
		c->held = true;
		return HPE_PAUSED;
	}
	return 0;
}

/* Parse what arrived; answer malformed input with an error status and close. */
static void feed(struct http_conn *c, const char *data, size_t n)
{
	if (c->closing || n == 0)
		return;
	c->buf = data;
	c->val_next = c->val_at_end ? data : NULL;
	llhttp_errno_t err = llhttp_execute(&c->parser, data, n);
	c->val_at_end = c->val_next == data + n;
	for (size_t i = n; i > 0; i--) {
		if (data[i - 1] != ' ' && data[i - 1] != '\t') {
			c->tail = data[i - 1];
			break;
		}
	}
	if (err == HPE_PAUSED && c->held && !c->closing) {
		const char *pos = llhttp_get_error_pos(&c->parser);
		size_t rest = pos && pos >= data && pos <= data + n ? (size_t)(data + n - pos) : 0;
		if (rest && !(c->held_buf = malloc(rest))) {
			hard_close(c);
			return;
		}
		if (rest)
			memcpy(c->held_buf, pos, rest);
		c->held_len = rest;
		goto backpressure;
	}
	if (err == HPE_OK || err == HPE_PAUSED)
		goto backpressure;
	if (err == HPE_PAUSED_UPGRADE) {
		/* The request was answered; protocol upgrades are not offered. */
		start_closing(c);
		return;
	}
	int status = c->refuse ? c->refuse : 400;
	const char *why = llhttp_get_error_reason(&c->parser);
	char body[256];
	int blen = snprintf(body, sizeof(body), "%s\n", why && *why ? why : llhttp_errno_name(err));
	log_debug(c->conn.id, "http: %d: %s", status, why ? why : llhttp_errno_name(err));
	respond(c, status, "text/plain; charset=utf-8", NULL, body,
	        blen < 0                       ? 0
	        : (size_t)blen >= sizeof(body) ? sizeof(body) - 1
	                                       : (size_t)blen,
	        false);
	start_closing(c);
	return;
backpressure:
	if (!c->closing && (c->held || c->unsent > HTTP_MAX_QUEUED)) {
		c->paused = true;
		if (c->reading) {
			uv_read_stop(c->stream);
			c->reading = false;
		}
	}
}

/* Answer one complete request. */
static void route(struct http_conn *c, bool keep)
{
	struct runner *r = c->r;
	uint8_t method = llhttp_get_method(&c->parser);
	bool head = method == HTTP_HEAD;
	const char *txt = "text/plain; charset=utf-8";
	const char *url = c->url;
	/* The absolute form (http://host/path), which servers must accept too. */
	if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) {
		const char *slash = strchr(strstr(url, "//") + 2, '/');
		url = slash ? slash : "/";
	}
	size_t plen = strcspn(url, "?#");
	char path[HTTP_MAX_URL + 1];
	memcpy(path, url, plen);
	path[plen] = '\0';

	static const char *const known[] = {"/healthz", "/readyz", "/metrics", "/version"};
	int which = -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(path, known[i]) == 0)
			which = i;
	if (which < 0) {
		static const char nf[] = "not found\n";
		respond(c, 404, txt, NULL, nf, sizeof(nf) - 1, keep);
		return;
	}
	if (method != HTTP_GET && !head) {
		char body[96];
		int n = snprintf(body, sizeof(body), "method %s not allowed on %s\n",
		                 llhttp_method_name((llhttp_method_t)method), known[which]);
		respond(c, 405, txt, "Allow: GET, HEAD\r\n", body, (size_t)n, keep);
		return;
	}
	if (which == 0) {
		respond(c, 200, txt, NULL, head ? NULL : "ok\n", 3, keep);
	} else if (which == 1) {
		char body[160];
		int status = 200, n;
		if (runner_ready(r))
			n = snprintf(body, sizeof(body), "ready\n");
		else if (r->shutting_down)
			status = 503,
			n = snprintf(body, sizeof(body), "not ready: shutting down\n");
		else if (!r->cfg->multiple)
			status = 503,
			n = snprintf(body, sizeof(body), "not ready: the single build was taken\n");
		else
			status = 503,
			n = snprintf(body, sizeof(body), "not ready: %u of %llu builds running\n",
			             r->active_builds, (unsigned long long)r->cfg->max_builds);
		respond(c, status, txt, NULL, head ? NULL : body, (size_t)n, keep);
	} else if (which == 2) {
		size_t len = 0;
		char *m = metrics_render(r, &len);
		if (!m) {
			respond(c, 500, txt, NULL, NULL, 0, false);
			start_closing(c);
			return;
		}
		respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, head ? NULL : m,
		        len, keep);
		free(m);
	} else {
		struct version_info v = {
		        .version = R2K_VERSION,
		        .protocol = R2K_PROTO_VERSION,
		        .backend = r->cfg->backend,
		        .mode = r->cfg->multiple ? "multiple" : "single",
		        .max_builds = r->cfg->multiple ? r->cfg->max_builds : 1,
		        .uptime_seconds = (double)(uv_now(r->loop) - r->start_ms) / 1000.0,
		};
		char *j = msg_version_encode(&v);
		size_t len = j ? strlen(j) : 0;
		respond(c, j ? 200 : 500, j ? "application/json" : txt, NULL, head ? NULL : j, len,
		        keep);
		free(j);
	}
}

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/*
 * Queue one response. body == NULL sends the headers only (HEAD), with
 * Content-Length still blen.
 */
static void respond(struct http_conn *c, int status, const char *ctype, const char *extra,
                    const char *body, size_t blen, bool keep)
{
	char head[512];
	int hlen = snprintf(
	        head, sizeof(head),
	        "HTTP/1.1 %d %s\r\nServer: r2k/%s\r\nContent-Type: %s\r\n"
	        "Content-Length: %zu\r\nCache-Control: no-store\r\n%sConnection: %s\r\n\r\n",
	        status, status_text(status), R2K_VERSION, ctype, blen, extra ? extra : "",
	        keep ? "keep-alive" : "close");
	if (hlen < 0 || (size_t)hlen >= sizeof(head))
		return;
	size_t total = (size_t)hlen + (body ? blen : 0);
	struct http_write *w = malloc(sizeof(*w) + total);
	if (!w) {
		start_closing(c);
		return;
	}
	w->c = c;
	w->len = total;
	memcpy(w->data, head, (size_t)hlen);
	if (body)
		memcpy(w->data + hlen, body, blen);
	uv_buf_t b = uv_buf_init(w->data, (unsigned)total);
	if (uv_write(&w->req, c->stream, &b, 1, write_cb) != 0) {
		free(w);
		hard_close(c);
		return;
	}
	c->unsent += total;
}

static void write_cb(uv_write_t *req, int status)
{
	struct http_write *w = (struct http_write *)req;
	struct http_conn *c = w->c;
	c->unsent -= w->len;
	free(w);
	if (status < 0) {
		if (status != UV_ECANCELED)
			hard_close(c);
		return;
	}
	if (c->paused && !c->closing && c->unsent < HTTP_MAX_QUEUED / 2) {
		c->paused = false;
		if (c->held) {
			/* Go on with the requests that were already read. */
			char *held = c->held_buf;
			size_t len = c->held_len;
			c->held = false;
			c->held_buf = NULL;
			c->held_len = 0;
			llhttp_resume(&c->parser);
			feed(c, held, len);
			free(held);
			if (c->paused || c->closing)
				return;
		}
		if (uv_read_start(c->stream, alloc_cb, read_cb) == 0)
			c->reading = true;
		else
			hard_close(c);
	}
}

/* Stop taking requests; queued responses are still written, then FIN is sent. */
static void start_closing(struct http_conn *c)
{
	if (c->closing || c->closed)
		return;
	c->closing = true;
	uv_timer_start(&c->timer, timer_cb, HTTP_LINGER_MS, 0);
	/* Keep reading (and dropping) so that unread input does not reset the connection
	 * before the client has our last response. */
	if (!c->reading && !c->got_eof) {
		c->paused = false;
		if (uv_read_start(c->stream, alloc_cb, read_cb) == 0)
			c->reading = true;
	}
	uv_shutdown_t *req = malloc(sizeof(*req));
	c->shut = true;
	if (!req || uv_shutdown(req, c->stream, shutdown_cb) != 0) {
		free(req);
		hard_close(c);
		return;
	}
	req->data = c;
}

/* Our FIN is out (after every queued response); close once the client's arrives. */
static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct http_conn *c = req->data;
	free(req);
	c->shut_done = true;
	if (status < 0 || c->got_eof)
		hard_close(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct http_conn *c = h->data;
	buf->base = c->rbuf;
	buf->len = sizeof(c->rbuf);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct http_conn *c = s->data;
	if (nread > 0) {
		feed(c, buf->base, (size_t)nread);
		return;
	}
	if (nread == 0)
		return;
	if (nread != UV_EOF) {
		hard_close(c);
		return;
	}
	/* The client is done sending: answer what is complete, then close. A request
	 * cut short gets no answer. */
	c->got_eof = true;
	uv_read_stop(s);
	c->reading = false;
	if (!c->closing)
		start_closing(c);
	else if (c->shut_done)
		hard_close(c);
}

static void timer_cb(uv_timer_t *t)
{
	struct http_conn *c = t->data;
	if (!c->closing)
		log_debug(c->conn.id, "http: closing idle connection after %.0f s",
		          c->r->cfg->idle_timeout);
	hard_close(c);
}

/* Called by the runner at shutdown: finish what is queued and close. */
static void close_now(struct runner_conn *rc)
{
	start_closing((struct http_conn *)rc);
}

/* Close both handles now; the struct goes when the last close callback runs. */
static void hard_close(struct http_conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	c->closing = true;
	if (c->reading)
		uv_read_stop(c->stream);
	c->reading = false;
	runner_conn_remove(c->r, &c->conn);
	uv_close((uv_handle_t *)c->stream, handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
}

static void stream_free(uv_handle_t *h)
{
	free(h);
}

static void handle_closed(uv_handle_t *h)
{
	struct http_conn *c = h->data;
	if (h == (uv_handle_t *)c->stream)
		free(h);
	if (--c->handles == 0) {
		free(c->held_buf);
		free(c);
	}
}
