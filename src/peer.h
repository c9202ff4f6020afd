/* peer.h: one framed r2k connection: a libuv stream, a frame decoder and a write queue. */
#ifndef R2K_PEER_H
#define R2K_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"

struct peer;

/*
 * Called for each decoded frame. f == NULL means the peer is gone: err is a
 * libuv error (UV_EOF for a clean close), or a negative r2k_frame_err for a
 * protocol error (peer_error_is_frame() tells which). After a NULL call no
 * further frame callback is made (except the one peer_discard asks for).
 * The payload is valid only during the call. After a protocol error the
 * stream still works: the owner may send frames (an ERROR) and then
 * peer_close; after an I/O error or EOF sends fail.
 */
typedef void (*peer_frame_cb)(struct peer *p, const struct r2k_frame *f, int err, void *arg);
/* Called when the write queue drops below the low-water mark after being above high. */
typedef void (*peer_drain_cb)(struct peer *p, void *arg);
/* Called once the stream is closed and the peer is about to be freed. */
typedef void (*peer_closed_cb)(struct peer *p, void *arg);

/* Write-queue marks, in bytes. */
#define PEER_HIGH_WATER (4u << 20)
#define PEER_LOW_WATER  (1u << 20)

/*
 * Wrap stream (already initialised; the peer owns it from now on and closes
 * it). expect_preamble: whether the incoming byte stream starts with one.
 */
struct peer *peer_new(uv_stream_t *stream, bool expect_preamble, peer_frame_cb on_frame, void *arg);
/* Start reading; initial bytes (e.g. consumed while sniffing) are decoded first. */
int peer_start(struct peer *p, const uint8_t *initial, size_t n);
void peer_set_drain_cb(struct peer *p, peer_drain_cb cb);
/*
 * Stop / resume reading from the socket (receive-side backpressure). Frames
 * already read (at most one read buffer, 256 KiB) are still delivered.
 */
void peer_pause(struct peer *p);
void peer_resume(struct peer *p);
/*
 * Have the decoder's payload buffer approved by fn as it grows (NULL: no
 * longer); see r2k_decoder_set_reserve. While a hook is set the read buffer
 * is freed after every read, so that the peer holds only what fn approved.
 */
void peer_set_reserve(struct peer *p, r2k_dec_reserve_fn fn, void *arg);
/*
 * After a protocol error (the stream still works): read on and drop what
 * the peer sends until its input ends; the frame callback is then called
 * once more, with f == NULL and UV_EOF or the I/O error.
 */
void peer_discard(struct peer *p);

/* Queue our preamble. */
int peer_send_preamble(struct peer *p);
/* Queue one frame; the payload is copied. Returns 0 or a libuv error. */
int peer_send(struct peer *p, uint16_t type, const void *payload, size_t len);
/* Queue an ERROR frame with a formatted message. */
int peer_send_error(struct peer *p, uint16_t code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/*
 * Zero-copy sends: peer_buf_alloc returns room for cap payload bytes, to be
 * filled and then either sent with peer_buf_send (which takes ownership) or
 * released with peer_buf_free.
 */
uint8_t *peer_buf_alloc(size_t cap);
int peer_buf_send(struct peer *p, uint16_t type, uint8_t *payload, size_t len);
void peer_buf_free(uint8_t *payload);

/* Bytes queued and not yet written. */
size_t peer_queued(const struct peer *p);
bool peer_above_high(const struct peer *p);
/*
 * Flush what is queued, then close; on_closed runs after the stream is
 * closed. No frame callback follows. A peer that never reads keeps a graceful
 * close pending: owners bound it with a timer and peer_abort.
 */
void peer_close(struct peer *p, peer_closed_cb on_closed);
/* Close at once, dropping what is queued. */
void peer_abort(struct peer *p, peer_closed_cb on_closed);
bool peer_error_is_frame(int err);
/* Text for an error given to the frame callback. */
const char *peer_strerror(int err);
uint16_t peer_version(const struct peer *p);

#endif
