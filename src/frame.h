/* frame.h: the r2k frame codec. Pure: no I/O, no event loop, any input chunking. */
#ifndef R2K_FRAME_H
#define R2K_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Decoder errors; each names one way the input is wrong. */
enum r2k_frame_err {
	R2K_FRAME_OK = 0,
	R2K_FRAME_EMAGIC = -1,     /* preamble magic is not R2K_MAGIC */
	R2K_FRAME_EVERSION = -2,   /* peer speaks a version we do not */
	R2K_FRAME_ETOOBIG = -3,    /* payload length above the maximum */
	R2K_FRAME_ETYPE = -4,      /* unknown frame type */
	R2K_FRAME_ELENGTH = -5,    /* payload length wrong for a fixed-layout type */
	R2K_FRAME_ETRUNCATED = -6, /* stream ended inside a preamble or frame */
	R2K_FRAME_ENOMEM = -7,     /* could not allocate the payload buffer */
	R2K_FRAME_EBUDGET = -8,    /* the reserve hook refused room for the payload */
};

/* One decoded frame. payload is valid until the next call on the decoder. */
struct r2k_frame {
	uint16_t type;
	uint16_t flags;
	uint32_t len;
	const uint8_t *payload;
};

enum r2k_dec_state { R2K_DEC_PREAMBLE, R2K_DEC_HEADER, R2K_DEC_PAYLOAD, R2K_DEC_FAILED };

/*
 * Asked before the assembly buffer grows from old_cap to new_cap bytes, and
 * told (new_cap 0, result ignored) when it is freed; false refuses the growth.
 */
typedef bool (*r2k_dec_reserve_fn)(void *arg, size_t old_cap, size_t new_cap);

/* Incremental decoder state; initialise with r2k_decoder_init. */
struct r2k_decoder {
	enum r2k_dec_state state;
	uint8_t hdr[R2K_PREAMBLE_LEN]; /* partial preamble or header */
	size_t hdr_have;
	struct r2k_frame cur; /* frame being assembled */
	uint8_t *buf;         /* payload assembly buffer, owned; grows as payload bytes arrive */
	size_t buf_cap;
	r2k_dec_reserve_fn reserve; /* optional, with reserve_arg */
	void *reserve_arg;
	size_t have;           /* payload bytes assembled so far */
	uint32_t max_payload;  /* lengths above this fail with ETOOBIG */
	uint16_t peer_version; /* from the preamble, once read */
	int err;               /* sticky error once failed */
};

/* Prepare a decoder; with_preamble false skips straight to frames (tests, fuzzing). */
void r2k_decoder_init(struct r2k_decoder *d, bool with_preamble, uint32_t max_payload);
/* Release the decoder's buffer. */
void r2k_decoder_free(struct r2k_decoder *d);
/*
 * Set (fn) or remove (NULL) the hook that approves the assembly buffer's
 * growth. The buffer already held moves with it: the old hook is told it is
 * freed, the new one that it grew from 0 (whatever it answers).
 */
void r2k_decoder_set_reserve(struct r2k_decoder *d, r2k_dec_reserve_fn fn, void *arg);
/*
 * Consume bytes from data[0..len). Returns 1 when a frame is ready in *out
 * (*used tells how many bytes were consumed; call again with the rest), 0 when
 * all input was consumed without completing a frame, or a negative
 * r2k_frame_err. Errors are sticky.
 */
int r2k_decoder_feed(struct r2k_decoder *d, const uint8_t *data, size_t len, size_t *used,
                     struct r2k_frame *out);
/* Called at end of stream: 0 if at a frame boundary, else R2K_FRAME_ETRUNCATED. */
int r2k_decoder_finish(const struct r2k_decoder *d);
/* Short text for a decoder error. */
const char *r2k_frame_strerror(int err);
/* Name of a frame type for logs ("CONTEXT"), or NULL when unknown. */
const char *r2k_frame_type_name(uint16_t type);

/* Encoders write into caller buffers and return the bytes written. */
size_t r2k_encode_preamble(uint8_t out[R2K_PREAMBLE_LEN], uint16_t version);
size_t r2k_encode_header(uint8_t out[R2K_HEADER_LEN], uint16_t type, uint32_t len);

/* Fixed-layout payloads. Decoders return 0, or R2K_FRAME_ELENGTH. */
void r2k_context_end_encode(uint8_t out[R2K_CONTEXT_END_LEN], uint64_t total,
                            const uint8_t sha256[32]);
int r2k_context_end_decode(const struct r2k_frame *f, uint64_t *total, uint8_t sha256[32]);

struct r2k_exit {
	uint8_t how; /* enum r2k_exit_how */
	int32_t value;
	char digest[128]; /* NUL-terminated, may be empty */
};
/* Encode an EXIT payload into out (at least R2K_EXIT_MIN_LEN + strlen(digest)); returns its length.
 */
size_t r2k_exit_encode(uint8_t *out, size_t cap, const struct r2k_exit *e);
int r2k_exit_decode(const struct r2k_frame *f, struct r2k_exit *e);

/* Encode an ERROR payload (u16 code + message, truncated to fit cap); returns its length. */
size_t r2k_error_encode(uint8_t *out, size_t cap, uint16_t code, const char *msg);
/* Decode ERROR: *msg points into the frame, not NUL-terminated, *msg_len bytes. */
int r2k_error_decode(const struct r2k_frame *f, uint16_t *code, const char **msg, size_t *msg_len);

/* LOG: u8 level, then text. */
size_t r2k_log_encode(uint8_t *out, size_t cap, uint8_t level, const char *msg);
int r2k_log_decode(const struct r2k_frame *f, uint8_t *level, const char **msg, size_t *msg_len);

#endif
