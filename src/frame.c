/* frame.c: encoder and incremental decoder for r2k frames (docs/protocol.md). */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

#define DEC_MIN_BUF (64u << 10) /* first size of the assembly buffer; it doubles from there */

static uint16_t get16(const uint8_t *p);
static uint32_t get32(const uint8_t *p);
static void put16(uint8_t *p, uint16_t v);
static void put32(uint8_t *p, uint32_t v);
static int check_length(uint16_t type, uint32_t len);
static int fail(struct r2k_decoder *d, int err);
static int grow(struct r2k_decoder *d, size_t need);

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Name of a frame type, or NULL for a type this version does not define. */
const char *r2k_frame_type_name(uint16_t type)
{
	switch (type) {
	case R2K_FRAME_ERROR: return "ERROR";
	case R2K_FRAME_KEEPALIVE: return "KEEPALIVE";
	case R2K_FRAME_REQUEST: return "REQUEST";
	case R2K_FRAME_CONTEXT: return "CONTEXT";
	case R2K_FRAME_CONTEXT_END: return "CONTEXT_END";
	case R2K_FRAME_CANCEL: return "CANCEL";
	case R2K_FRAME_CHECK: return "CHECK";
	case R2K_FRAME_STDOUT: return "STDOUT";
	case R2K_FRAME_STDERR: return "STDERR";
	case R2K_FRAME_LOG: return "LOG";
	case R2K_FRAME_EXIT: return "EXIT";
	}
	return NULL;
}

/* Validate a header's length against the frame type's layout. */
static int check_length(uint16_t type, uint32_t len)
{
	switch (type) {
	case R2K_FRAME_KEEPALIVE:
	case R2K_FRAME_CANCEL: return len == 0 ? 0 : R2K_FRAME_ELENGTH;
	case R2K_FRAME_CONTEXT_END: return len == R2K_CONTEXT_END_LEN ? 0 : R2K_FRAME_ELENGTH;
	case R2K_FRAME_EXIT:
		return len >= R2K_EXIT_MIN_LEN && len < R2K_EXIT_MIN_LEN + 128 ? 0
		                                                               : R2K_FRAME_ELENGTH;
	case R2K_FRAME_ERROR: return len >= R2K_ERROR_MIN_LEN ? 0 : R2K_FRAME_ELENGTH;
	case R2K_FRAME_LOG: return len >= R2K_LOG_MIN_LEN ? 0 : R2K_FRAME_ELENGTH;
	case R2K_FRAME_REQUEST: return len >= 2 ? 0 : R2K_FRAME_ELENGTH;
	default: return 0;
	}
}

const char *r2k_frame_strerror(int err)
{
	switch (err) {
	case R2K_FRAME_OK: return "no error";
	case R2K_FRAME_EMAGIC: return "bad magic: not an r2k peer";
	case R2K_FRAME_EVERSION: return "unsupported protocol version";
	case R2K_FRAME_ETOOBIG: return "frame payload exceeds the maximum size";
	case R2K_FRAME_ETYPE: return "unknown frame type";
	case R2K_FRAME_ELENGTH: return "payload length invalid for frame type";
	case R2K_FRAME_ETRUNCATED: return "stream ended inside a frame";
	case R2K_FRAME_ENOMEM: return "out of memory";
	case R2K_FRAME_EBUDGET: return "no room to receive the frame";
	}
	return "unknown decoder error";
}

void r2k_decoder_init(struct r2k_decoder *d, bool with_preamble, uint32_t max_payload)
{
	memset(d, 0, sizeof(*d));
	d->state = with_preamble ? R2K_DEC_PREAMBLE : R2K_DEC_HEADER;
	d->max_payload = max_payload ? max_payload : R2K_MAX_PAYLOAD;
	if (!with_preamble)
		d->peer_version = R2K_PROTO_VERSION;
}

void r2k_decoder_free(struct r2k_decoder *d)
{
	if (d->reserve && d->buf_cap)
		d->reserve(d->reserve_arg, d->buf_cap, 0);
	free(d->buf);
	d->buf = NULL;
	d->buf_cap = 0;
}

void r2k_decoder_set_reserve(struct r2k_decoder *d, r2k_dec_reserve_fn fn, void *arg)
{
	if (d->reserve && d->buf_cap)
		d->reserve(d->reserve_arg, d->buf_cap, 0);
	d->reserve = fn;
	d->reserve_arg = arg;
	if (fn && d->buf_cap)
		fn(arg, 0, d->buf_cap);
}

/*
 * Make room for need payload bytes: the buffer grows only as bytes arrive
 * (never to a declared length up front), in powers of two from DEC_MIN_BUF,
 * up to the frame's length, each growth approved by the reserve hook.
 */
static int grow(struct r2k_decoder *d, size_t need)
{
	size_t cap = d->buf_cap > DEC_MIN_BUF ? d->buf_cap : DEC_MIN_BUF;
	while (cap < need)
		cap *= 2;
	if (cap > d->cur.len)
		cap = d->cur.len; /* need <= cur.len: the payload fits */
	if (d->reserve && !d->reserve(d->reserve_arg, d->buf_cap, cap))
		return fail(d, R2K_FRAME_EBUDGET);
	uint8_t *nb = realloc(d->buf, cap);
	if (!nb) {
		if (d->reserve)
			d->reserve(d->reserve_arg, cap, d->buf_cap);
		return fail(d, R2K_FRAME_ENOMEM);
	}
	d->buf = nb;
	d->buf_cap = cap;
	return 0;
}

/* Fail for good; nothing more is decoded, so the buffer (and its charge) goes at once. */
static int fail(struct r2k_decoder *d, int err)
{
	d->state = R2K_DEC_FAILED;
	d->err = err;
	r2k_decoder_free(d);
	return err;
}

int r2k_decoder_feed(struct r2k_decoder *d, const uint8_t *data, size_t len, size_t *used,
                     struct r2k_frame *out)
{
	size_t off = 0;

	*used = 0;
	if (d->state == R2K_DEC_FAILED)
		return d->err;

	while (off < len) {
		if (d->state == R2K_DEC_PREAMBLE || d->state == R2K_DEC_HEADER) {
			size_t want =
			        d->state == R2K_DEC_PREAMBLE ? R2K_PREAMBLE_LEN : R2K_HEADER_LEN;
			size_t n = want - d->hdr_have;
			if (n > len - off)
				n = len - off;
			memcpy(d->hdr + d->hdr_have, data + off, n);
			d->hdr_have += n;
			off += n;
			/* A wrong magic is reported as soon as a byte of it differs. */
			if (d->state == R2K_DEC_PREAMBLE) {
				size_t m =
				        d->hdr_have < R2K_MAGIC_LEN ? d->hdr_have : R2K_MAGIC_LEN;
				if (memcmp(d->hdr, R2K_MAGIC, m) != 0) {
					*used = off;
					return fail(d, R2K_FRAME_EMAGIC);
				}
			}
			if (d->hdr_have < want)
				break;
			d->hdr_have = 0;
			if (d->state == R2K_DEC_PREAMBLE) {
				d->peer_version = get16(d->hdr + R2K_MAGIC_LEN);
				d->state = R2K_DEC_HEADER;
				if (d->peer_version != R2K_PROTO_VERSION) {
					*used = off;
					return fail(d, R2K_FRAME_EVERSION);
				}
				continue;
			}
			d->cur.type = get16(d->hdr);
			d->cur.flags = get16(d->hdr + 2);
			d->cur.len = get32(d->hdr + 4);
			d->cur.payload = NULL;
			d->have = 0;
			*used = off;
			if (d->cur.len > d->max_payload)
				return fail(d, R2K_FRAME_ETOOBIG);
			if (!r2k_frame_type_name(d->cur.type))
				return fail(d, R2K_FRAME_ETYPE);
			int lerr = check_length(d->cur.type, d->cur.len);
			if (lerr)
				return fail(d, lerr);
			if (d->cur.len == 0) {
				*out = d->cur;
				return 1;
			}
			d->state = R2K_DEC_PAYLOAD;
			continue;
		}

		/* Payload: hand out a pointer into the input when it is all there. */
		size_t need = d->cur.len - d->have;
		if (d->have == 0 && len - off >= need) {
			d->cur.payload = data + off;
			off += need;
			d->state = R2K_DEC_HEADER;
			*used = off;
			*out = d->cur;
			return 1;
		}
		size_t n = need < len - off ? need : len - off;
		if (d->buf_cap < d->have + n) {
			int gerr = grow(d, d->have + n);
			if (gerr) {
				*used = off;
				return gerr;
			}
		}
		memcpy(d->buf + d->have, data + off, n);
		d->have += n;
		off += n;
		if (d->have == d->cur.len) {
			d->cur.payload = d->buf;
			d->state = R2K_DEC_HEADER;
			*used = off;
			*out = d->cur;
			return 1;
		}
	}
	*used = off;
	return 0;
}

int r2k_decoder_finish(const struct r2k_decoder *d)
{
	if (d->state == R2K_DEC_FAILED)
		return d->err;
	if (d->state == R2K_DEC_PAYLOAD || d->hdr_have > 0)
		return R2K_FRAME_ETRUNCATED;
	if (d->state == R2K_DEC_PREAMBLE)
		return R2K_FRAME_ETRUNCATED;
	return 0;
}

size_t r2k_encode_preamble(uint8_t out[R2K_PREAMBLE_LEN], uint16_t version)
{
	memcpy(out, R2K_MAGIC, R2K_MAGIC_LEN);
	put16(out + R2K_MAGIC_LEN, version);
	put16(out + R2K_MAGIC_LEN + 2, 0);
	return R2K_PREAMBLE_LEN;
}

size_t r2k_encode_header(uint8_t out[R2K_HEADER_LEN], uint16_t type, uint32_t len)
{
	put16(out, type);
	put16(out + 2, 0);
	put32(out + 4, len);
	return R2K_HEADER_LEN;
}

void r2k_context_end_encode(uint8_t out[R2K_CONTEXT_END_LEN], uint64_t total,
                            const uint8_t sha256[32])
{
	put32(out, (uint32_t)(total >> 32));
	put32(out + 4, (uint32_t)total);
	memcpy(out + 8, sha256, 32);
}

int r2k_context_end_decode(const struct r2k_frame *f, uint64_t *total, uint8_t sha256[32])
{
	if (f->type != R2K_FRAME_CONTEXT_END || f->len != R2K_CONTEXT_END_LEN)
		return R2K_FRAME_ELENGTH;
	*total = (uint64_t)get32(f->payload) << 32 | get32(f->payload + 4);
	memcpy(sha256, f->payload + 8, 32);
	return 0;
}

size_t r2k_exit_encode(uint8_t *out, size_t cap, const struct r2k_exit *e)
{
	size_t dl = strnlen(e->digest, sizeof(e->digest) - 1);
	if (cap < R2K_EXIT_MIN_LEN)
		return 0;
	if (dl > cap - R2K_EXIT_MIN_LEN)
		dl = cap - R2K_EXIT_MIN_LEN;
	out[0] = e->how;
	out[1] = out[2] = out[3] = 0;
	put32(out + 4, (uint32_t)e->value);
	memcpy(out + R2K_EXIT_MIN_LEN, e->digest, dl);
	return R2K_EXIT_MIN_LEN + dl;
}

int r2k_exit_decode(const struct r2k_frame *f, struct r2k_exit *e)
{
	if (f->type != R2K_FRAME_EXIT || f->len < R2K_EXIT_MIN_LEN ||
	    f->len - R2K_EXIT_MIN_LEN >= sizeof(e->digest))
		return R2K_FRAME_ELENGTH;
	e->how = f->payload[0];
	e->value = (int32_t)get32(f->payload + 4);
	memcpy(e->digest, f->payload + R2K_EXIT_MIN_LEN, f->len - R2K_EXIT_MIN_LEN);
	e->digest[f->len - R2K_EXIT_MIN_LEN] = '\0';
	return 0;
}

size_t r2k_error_encode(uint8_t *out, size_t cap, uint16_t code, const char *msg)
{
	size_t ml = strlen(msg);
	if (cap < R2K_ERROR_MIN_LEN)
		return 0;
	if (ml > cap - R2K_ERROR_MIN_LEN)
		ml = cap - R2K_ERROR_MIN_LEN;
	put16(out, code);
	memcpy(out + 2, msg, ml);
	return 2 + ml;
}

int r2k_error_decode(const struct r2k_frame *f, uint16_t *code, const char **msg, size_t *msg_len)
{
	if (f->type != R2K_FRAME_ERROR || f->len < R2K_ERROR_MIN_LEN)
		return R2K_FRAME_ELENGTH;
	*code = get16(f->payload);
	*msg = (const char *)f->payload + 2;
	*msg_len = f->len - 2;
	return 0;
}

size_t r2k_log_encode(uint8_t *out, size_t cap, uint8_t level, const char *msg)
{
	size_t ml = strlen(msg);
	if (cap < R2K_LOG_MIN_LEN)
		return 0;
	if (ml > cap - 1)
		ml = cap - 1;
	out[0] = level;
	memcpy(out + 1, msg, ml);
	return 1 + ml;
}

int r2k_log_decode(const struct r2k_frame *f, uint8_t *level, const char **msg, size_t *msg_len)
{
	if (f->type != R2K_FRAME_LOG || f->len < R2K_LOG_MIN_LEN)
		return R2K_FRAME_ELENGTH;
	*level = f->payload[0];
	*msg = (const char *)f->payload + 1;
	*msg_len = f->len - 1;
	return 0;
}
