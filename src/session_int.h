/* session_int.h: the runner's r2k build session, shared by session.c and session_build.c. */
#ifndef R2K_SESSION_INT_H
#define R2K_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "msg.h"
#include "proto.h"
#include "runner.h"
#include "session.h"
#include "workspace.h"

struct extract;
struct job;
struct peer;
struct preflight;

enum sstate {
	ST_REQUEST, /* waiting for REQUEST */
	ST_CONTEXT, /* CONTEXT frames until CONTEXT_END */
	ST_READY,   /* CONTEXT_END received: extraction, checks, then the builder */
	ST_DONE,    /* EXIT or ERROR decided */
};

struct session {
	struct runner_conn conn;
	struct runner_build build;
	struct runner *r;
	struct peer *p;      /* NULL once closed */
	uv_stream_t *stream; /* the peer's stream, for the final half-close */
	uv_shutdown_t shut;
	uv_timer_t flush_timer; /* idle timeout while receiving; then bounds the last flush */
	enum sstate st;
	bool preamble_sent;
	bool have_slot;
	bool client_gone; /* the connection ended or failed */
	bool closing;     /* peer_close requested */
	bool read_ended;  /* the peer reported its end (EOF, I/O error) */
	bool discard;     /* it reported a protocol error: its input is dropped until it ends */
	bool lingering;   /* last frame sent, write side shut: reading until the client closes */
	bool timer_closed;
	bool released;     /* slot given back, workspace removed */
	bool cancel_asked; /* CANCEL, or the runner cancelled: report the builder's end */
	bool builder_started;
	bool cleanup_done;
	int status; /* the client's exit status for this outcome */
	uint64_t start_ms;
	struct build_request req;
	struct workspace ws; /* the build's private workspace (ws.path NULL: none yet) */
	char dockerfile[4096];
	struct extract *ex;
	struct job *job;
	bool job_is_cleanup;
	struct preflight *pf; /* registry checks; NULL when off or closed */
	bool pf_open;         /* pf's close callback has not run yet */
	bool gate_waiting;    /* context extracted: the builder waits for the checks */
	struct backend_plan plan;
	size_t step;
	int lock_fd;         /* held while a step with a lock runs, else -1 */
	bool lock_waiting;   /* flush_timer retries taking the lock */
	uint64_t step_start; /* uv_now when the current step started */
	uint64_t dropped;    /* output bytes dropped while the builder was being killed */
	/* The last frame (ERROR or EXIT), sent once the workspace is gone. */
	uint16_t final_type;
	size_t final_len;
	uint8_t final[R2K_ERROR_MIN_LEN + 1024];
};

/* session.c: the connection and the end of a build. */
/* Our preamble goes out before the first frame we send. */
void session_preamble(struct session *s);
/* A LOG frame to the client, if it is still there. */
void session_log(struct session *s, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* End the build with an ERROR frame; stops extraction and the builder, then closes. */
void session_fail(struct session *s, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* The outcome is decided: clean up, send the last frame, close, release the slot. */
void session_finish(struct session *s);
/* Free the session once nothing refers to it any more. */
void session_maybe_free(struct session *s);
/* While the runner waits on the client (before CONTEXT_END), silence is bounded. */
void session_idle_restart(struct session *s);

/* session_build.c: extraction, preflight gate, builder steps, exit. */
/* Start extracting into the workspace's context/; -1 + reason. */
int session_extract_start(struct session *s, char *err, size_t errlen);
/* Start the build's registry checks once REQUEST is accepted. */
void session_checks_start(struct session *s);
/* Stop the registry checks (their close callback frees them later). */
void session_checks_close(struct session *s);
/* Start buildah's local-image removal; false when it could not start. */
bool session_cleanup_start(struct session *s);
/* Release the warm-up lock, if held. */
void session_unlock(struct session *s);

#endif
