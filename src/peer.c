/* peer.c: framed connection plumbing shared by the client and the runner. */
#include "peer.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define PEER_READ_SIZE (256u << 10)

/* One queued write: the uv_write_t, the header and the payload in one allocation. */
struct wreq {
	uv_write_t req;
	struct peer *peer;
	size_t len; /* header + payload */
	uint8_t hdr[R2K_HEADER_LEN];
	uint8_t payload[];
};

struct peer {
	uv_stream_t *stream;
	struct r2k_decoder dec;
	peer_frame_cb on_frame;
	peer_drain_cb on_drain;
	peer_closed_cb on_closed;
	void *arg;
	size_t queued;   /* bytes in flight */
	unsigned writes; /* writes in flight */
	bool was_high;   /* queue went above high water since last drain */
	bool reading;
	bool paused;
	bool gone;        /* NULL frame delivered; no more frame callbacks */
	bool dead;        /* the stream failed or ended: nothing more can be written */
	bool closing;     /* close requested */
	bool dispatching; /* inside on_frame */
	bool aborting;    /* close without flushing the write queue */
	bool discarding;  /* after a protocol error: reading, dropping, until the input ends */
	uint8_t *rbuf;    /* read buffer, reused; with a reserve hook freed after each read */
};

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void read_data(struct peer *p, ssize_t nread, const uv_buf_t *buf);
static void write_cb(uv_write_t *req, int status);
static void close_cb(uv_handle_t *h);
static void deliver(struct peer *p, const uint8_t *data, size_t n);
static void gone(struct peer *p, int err);
static void maybe_close(struct peer *p);
static int submit(struct peer *p, struct wreq *w);

struct peer *peer_new(uv_stream_t *stream, bool expect_preamble, peer_frame_cb on_frame, void *arg)
{
	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->stream = stream;
	stream->data = p;
	p->on_frame = on_frame;
	p->arg = arg;
	r2k_decoder_init(&p->dec, expect_preamble, R2K_MAX_PAYLOAD);
	return p;
}

uint16_t peer_version(const struct peer *p)
{
	return p->dec.peer_version;
}

void peer_set_drain_cb(struct peer *p, peer_drain_cb cb)
{
	p->on_drain = cb;
}

bool peer_error_is_frame(int err)
{
	return err <= R2K_FRAME_EMAGIC && err >= R2K_FRAME_EBUDGET;
}

const char *peer_strerror(int err)
{
	if (peer_error_is_frame(err))
		return r2k_frame_strerror(err);
	if (err == UV_EOF)
		return "connection closed";
	return uv_strerror(err);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct peer *p = h->data;
	if (!p->rbuf)
		p->rbuf = malloc(PEER_READ_SIZE);
	buf->base = (char *)p->rbuf;
	buf->len = p->rbuf ? PEER_READ_SIZE : 0;
}

/* Report the end of the peer once; the owner decides whether to close. */
static void gone(struct peer *p, int err)
{
	if (p->gone)
		return;
	p->gone = true;
	/* After a protocol error the stream still works: an ERROR frame can go out. */
	if (!peer_error_is_frame(err))
		p->dead = true;
	if (p->reading) {
		uv_read_stop(p->stream);
		p->reading = false;
	}
	p->dispatching = true;
	p->on_frame(p, NULL, err, p->arg);
	p->dispatching = false;
	maybe_close(p);
}

/* Decode n bytes and hand out frames until the peer is closed or gone. */
static void deliver(struct peer *p, const uint8_t *data, size_t n)
{
	size_t off = 0;
	while (off < n && !p->gone && !p->closing) {
		size_t used;
		struct r2k_frame f;
		int rc = r2k_decoder_feed(&p->dec, data + off, n - off, &used, &f);
		off += used;
		if (rc < 0) {
			gone(p, rc);
			return;
		}
		if (rc == 0)
			break;
		p->dispatching = true;
		p->on_frame(p, &f, 0, p->arg);
		p->dispatching = false;
	}
	maybe_close(p);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct peer *p = s->data;
	read_data(p, nread, buf);
	if (p->dec.reserve) {
		/* Its owner counts what it holds: no read buffer stays between reads. */
		free(p->rbuf);
		p->rbuf = NULL;
	}
}

/* What one read brought: bytes to decode (or drop), or the end of the input. */
static void read_data(struct peer *p, ssize_t nread, const uv_buf_t *buf)
{
	uv_stream_t *s = p->stream;
	if (p->discarding) {
		if (nread >= 0)
			return;
		p->discarding = false;
		p->dead = true;
		uv_read_stop(s);
		p->reading = false;
		p->dispatching = true;
		p->on_frame(p, NULL, (int)nread, p->arg);
		p->dispatching = false;
		maybe_close(p);
		return;
	}
	if (nread > 0) {
		deliver(p, (const uint8_t *)buf->base, (size_t)nread);
		return;
	}
	if (nread == 0)
		return;
	if (nread == UV_EOF) {
		int rc = r2k_decoder_finish(&p->dec);
		gone(p, rc ? rc : UV_EOF);
		return;
	}
	gone(p, (int)nread);
}

int peer_start(struct peer *p, const uint8_t *initial, size_t n)
{
	if (n)
		deliver(p, initial, n);
	if (p->gone || p->closing || p->paused)
		return 0;
	int rc = uv_read_start(p->stream, alloc_cb, read_cb);
	if (rc == 0)
		p->reading = true;
	return rc;
}

void peer_set_reserve(struct peer *p, r2k_dec_reserve_fn fn, void *arg)
{
	r2k_decoder_set_reserve(&p->dec, fn, arg);
}

void peer_discard(struct peer *p)
{
	if (!p->gone || p->dead || p->closing || p->reading)
		return;
	p->discarding = true;
	if (uv_read_start(p->stream, alloc_cb, read_cb) == 0)
		p->reading = true;
}

void peer_pause(struct peer *p)
{
	p->paused = true;
	if (p->reading) {
		uv_read_stop(p->stream);
		p->reading = false;
	}
}

void peer_resume(struct peer *p)
{
	p->paused = false;
	if (!p->reading && !p->gone && !p->closing &&
	    uv_read_start(p->stream, alloc_cb, read_cb) == 0)
		p->reading = true;
}

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct peer *p = w->peer;
	p->queued -= w->len;
	p->writes--;
	free(w);
	if (status < 0 && status != UV_ECANCELED) {
		p->dead = true;
		/* The peer may have sent a last frame (an ERROR) before it went away:
		 * while reading, let the read side deliver it and report the end. */
		if (!p->reading)
			gone(p, status);
		maybe_close(p);
		return;
	}
	if (p->was_high && p->queued < PEER_LOW_WATER) {
		p->was_high = false;
		if (p->on_drain && !p->closing && !p->gone)
			p->on_drain(p, p->arg);
	}
	maybe_close(p);
}

static int submit(struct peer *p, struct wreq *w)
{
	if (p->closing || p->dead) {
		free(w);
		return UV_EPIPE;
	}
	w->peer = p;
	uv_buf_t b[2];
	unsigned nb = 0;
	size_t plen = w->len - R2K_HEADER_LEN;
	if (w->hdr[0] == 0xff) {
		/* Raw bytes (preamble): stored in payload, no frame header. */
		b[nb++] = uv_buf_init((char *)w->payload, (unsigned)plen);
		w->len = plen;
	} else {
		b[nb++] = uv_buf_init((char *)w->hdr, R2K_HEADER_LEN);
		if (plen)
			b[nb++] = uv_buf_init((char *)w->payload, (unsigned)plen);
	}
	int rc = uv_write(&w->req, p->stream, b, nb, write_cb);
	if (rc < 0) {
		free(w);
		return rc;
	}
	p->queued += w->len;
	p->writes++;
	if (p->queued >= PEER_HIGH_WATER)
		p->was_high = true;
	return 0;
}

uint8_t *peer_buf_alloc(size_t cap)
{
	struct wreq *w = malloc(sizeof(*w) + cap);
	return w ? w->payload : NULL;
}

void peer_buf_free(uint8_t *payload)
{
	if (payload)
		free((uint8_t *)payload - offsetof(struct wreq, payload));
}

int peer_buf_send(struct peer *p, uint16_t type, uint8_t *payload, size_t len)
{
	struct wreq *w = (struct wreq *)(payload - offsetof(struct wreq, payload));
	assert(len <= R2K_MAX_PAYLOAD);
	r2k_encode_header(w->hdr, type, (uint32_t)len);
	w->len = R2K_HEADER_LEN + len;
	return submit(p, w);
}

int peer_send(struct peer *p, uint16_t type, const void *payload, size_t len)
{
	uint8_t *b = peer_buf_alloc(len);
	if (!b)
		return UV_ENOMEM;
	if (len)
		memcpy(b, payload, len);
	return peer_buf_send(p, type, b, len);
}

int peer_send_preamble(struct peer *p)
{
	uint8_t *b = peer_buf_alloc(R2K_PREAMBLE_LEN);
	if (!b)
		return UV_ENOMEM;
	r2k_encode_preamble(b, R2K_PROTO_VERSION);
	struct wreq *w = (struct wreq *)(b - offsetof(struct wreq, payload));
	w->hdr[0] = 0xff; /* marks a raw write */
	w->len = R2K_HEADER_LEN + R2K_PREAMBLE_LEN;
	return submit(p, w);
}

int peer_send_error(struct peer *p, uint16_t code, const char *fmt, ...)
{
	char msg[1024];
	uint8_t payload[sizeof(msg) + 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t n = r2k_error_encode(payload, sizeof(payload), code, msg);
	return peer_send(p, R2K_FRAME_ERROR, payload, n);
}

size_t peer_queued(const struct peer *p)
{
	return p->queued;
}

bool peer_above_high(const struct peer *p)
{
	return p->queued >= PEER_HIGH_WATER;
}

static void close_cb(uv_handle_t *h)
{
	struct peer *p = h->data;
	if (p->on_closed)
		p->on_closed(p, p->arg);
	r2k_decoder_free(&p->dec);
	free(p->rbuf);
	free(p->stream);
	free(p);
}

/* Close the handle once a close was requested and nothing is left to write. */
static void maybe_close(struct peer *p)
{
	if (!p->closing || p->dispatching || (p->writes > 0 && !p->aborting))
		return;
	if (uv_is_closing((uv_handle_t *)p->stream))
		return;
	if (p->reading) {
		uv_read_stop(p->stream);
		p->reading = false;
	}
	uv_close((uv_handle_t *)p->stream, close_cb);
}

void peer_close(struct peer *p, peer_closed_cb on_closed)
{
	p->on_closed = on_closed;
	p->closing = true;
	p->gone = true; /* the owner asked: no NULL frame callback */
	maybe_close(p);
}

void peer_abort(struct peer *p, peer_closed_cb on_closed)
{
	p->on_closed = on_closed;
	p->closing = true;
	p->gone = true;
	p->aborting = true; /* pending writes complete with UV_ECANCELED before close_cb */
	maybe_close(p);
}
