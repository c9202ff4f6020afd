/* client.h: the pieces of r2k client: request building, output queues, context upload. */
#ifndef R2K_CLIENT_H
#define R2K_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "cli.h"
#include "frame.h"
#include "msg.h"
#include "peer.h"

/* Context bytes per CONTEXT frame. */
#define CLIENT_CONTEXT_FRAME (256u << 10)

/*
 * client_req.c: fill r from cfg and the environment (credential variables,
 * --build-arg K taken from the environment). Returns 0, or -1 with a message
 * naming the bad option or variable in err (a usage error, exit status 2).
 * A warning for the user (empty when none) is left in warn.
 */
int client_build_request(const struct client_config *cfg, struct build_request *r, char *warn,
                         size_t warnlen, char *err, size_t errlen);
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
	bool direct;       /* a regular file or /dev/null: written from the loop */
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

/* client.c / client_report.c: the client's state, shared by the two files. */

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
	bool paused;          /* socket reads stopped because output backs up */
	bool out_broken_said; /* the warning that stdout broke was queued */

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

/* The build is over with this status; report why when fmt is set (see client.c). */
void client_end(struct client *c, int status, int code, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
uint64_t client_now_ms(struct client *c);

/* client_report.c: what the user sees, on stderr or as --json lines on stdout. */
void client_say(struct client *c, const char *level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void client_emit_json(struct client *c, char *line);
void client_clear_progress(struct client *c);
void client_progress_cb(uv_timer_t *t);
/* which: 0 stdout, 1 stderr; data NULL flushes a held-back partial character. */
void client_stream_output(struct client *c, int which, const uint8_t *data, size_t len);
void client_handle_exit(struct client *c, const struct r2k_frame *f);
void client_handle_error(struct client *c, const struct r2k_frame *f);
void client_handle_log(struct client *c, const struct r2k_frame *f);
void client_handle_check(struct client *c, const struct r2k_frame *f);

#endif
