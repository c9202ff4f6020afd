/* client.h: the pieces of r2k client: request building, output queues, context upload. */
#ifndef R2K_CLIENT_H
#define R2K_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cli.h"
#include "msg.h"
#include "peer.h"

/* Context bytes per CONTEXT frame. */
#define CLIENT_CONTEXT_FRAME (256u << 10)

/*
 * client_req.c: fill r from cfg and the environment (credential variables,
 * --build-arg K taken from the environment). Returns 0, or -1 with a message
 * naming the bad option or variable in err (a usage error, exit status 2).
 */
int client_build_request(const struct client_config *cfg, struct build_request *r, char *err,
                         size_t errlen);
/* Apply KANIKO_PUSH_IMAGE to cfg->push; called before the options are parsed. */
void client_env_defaults(struct client_config *cfg);

/* client_out.c: an ordered, unbounded-by-design but watched output queue for one fd. */
struct outq_chunk;
struct outq {
	uv_loop_t *loop;
	int fd;
	uv_fs_t req;
	uv_timer_t retry;  /* EAGAIN: try again shortly */
	bool busy;         /* a write is in flight */
	bool broken;       /* the fd failed (EPIPE...): later output is dropped */
	int error;         /* the libuv error that broke it */
	unsigned inflight; /* chunks in the write in flight */
	struct outq_chunk *head, *tail;
	size_t queued;                                /* bytes not yet written */
	void (*on_change)(struct outq *q, void *arg); /* after each completed write */
	void *arg;
};
#define OUTQ_HIGH (1u << 20)
#define OUTQ_LOW  (256u << 10)

void outq_init(struct outq *q, uv_loop_t *loop, int fd, void (*on_change)(struct outq *, void *),
               void *arg);
/* Queue a copy of data[0..len). */
void outq_write(struct outq *q, const void *data, size_t len);
/* Nothing queued and nothing in flight. */
bool outq_idle(const struct outq *q);
/* Close the retry timer; the queue must be idle. */
void outq_close(struct outq *q);

/* client_upload.c: the context stream, produced from the event loop. */
struct upload;
/* err 0: CONTEXT_END is queued; otherwise a local context failure described by msg. */
typedef void (*upload_done_cb)(struct upload *u, int err, const char *msg, void *arg);
typedef void (*upload_warn_cb)(const char *msg, void *arg);

/*
 * Open the context before connecting: a directory, or "-" for a tar stream
 * on stdin. Returns NULL with a reason in err.
 */
struct upload *upload_new(uv_loop_t *loop, const char *context, upload_warn_cb warn,
                          upload_done_cb done, void *arg, char *err, size_t errlen);
/* Start streaming CONTEXT frames on p. */
void upload_begin(struct upload *u, struct peer *p);
/* The peer's write queue drained: produce again. */
void upload_drain(struct upload *u);
/* Stop producing and release u once its handles are closed; u is gone after this. */
void upload_stop(struct upload *u);
/* Bytes of context sent so far, and whether the stream is complete. */
uint64_t upload_bytes(const struct upload *u);
bool upload_done(const struct upload *u);
/* The SHA-256 of the whole stream as hex, once complete (else ""). */
const char *upload_sha256_hex(const struct upload *u);

#endif
