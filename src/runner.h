/* runner.h: the runner's shared state: listeners, connections, build slots, shutdown. */
#ifndef R2K_RUNNER_H
#define R2K_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cli.h"

struct runner;

/*
 * Every open connection registers one of these so that shutdown can close
 * it. close_now is called once the runner is shutting down with no build
 * left: it must stop serving, flush what is queued (bounded by a timer) and
 * close. The owner calls runner_conn_remove from its close path; calling it
 * twice is harmless.
 */
struct runner_conn {
	struct runner_conn *prev, *next;
	unsigned long id;
	void (*close_now)(struct runner_conn *c);
};

/*
 * A build holding a slot. cancel asks the build to stop (kill the builder,
 * report to the client); the build later calls runner_build_release.
 */
struct runner_build {
	struct runner_build *prev, *next;
	unsigned long conn_id;
	void (*cancel)(struct runner_build *b, const char *why);
};

/* Counters rendered by /metrics; bumped in hot paths, formatted only when asked. */
struct runner_stats {
	uint64_t builds_started, builds_succeeded, builds_failed;
	uint64_t context_bytes, output_bytes;
	uint64_t conns_r2k, conns_legacy, conns_http, conns_unknown;
	/* Build durations, histogram over R2K_DURATION_BUCKETS upper bounds (seconds). */
	uint64_t duration_buckets[12];
	double duration_sum;
	uint64_t duration_count;
	/* Check results by kind (index into a small table) and pass/fail. */
	uint64_t checks[8][2];
	/* The same by kind and the check's own status (metrics.c's tables). */
	uint64_t check_statuses[8][22];
};

struct runner_listener;

struct runner {
	uv_loop_t *loop;
	const struct runner_config *cfg;
	struct runner_listener *listeners;
	size_t nlisteners;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t grace_timer;
	unsigned long next_id;
	struct runner_conn *conns;   /* all open connections */
	struct runner_build *builds; /* builds holding a slot */
	unsigned active_builds;
	bool single_shot_taken; /* single-shot mode: the one build was granted */
	bool shutting_down;     /* no new builds; exit once idle */
	bool cancelling;        /* builds were told to stop */
	bool passed_conn;       /* systemd passed a connection (Accept=yes): exit when it ends */
	int exit_status;        /* single-shot: the build's status */
	size_t recv_bytes;      /* buffers of requests being received (RUNNER_RECV_BUDGET) */
	uint64_t start_ms;
	struct runner_stats stats;
};

/*
 * Memory that requests still being received may hold, all connections
 * together: legacy JSON lines, and the frames of r2k connections that have
 * no build slot yet (README "Runner"). Beyond it such a request is refused
 * as busy.
 */
#define RUNNER_RECV_BUDGET (64u << 20)

/*
 * Change a buffer's charge against RUNNER_RECV_BUDGET from old to new bytes.
 * Returns false, changing nothing, when a larger charge would not fit.
 */
bool runner_recv_charge(struct runner *r, size_t old, size_t new);

/* Register / unregister a connection; assigns c->id. */
void runner_conn_add(struct runner *r, struct runner_conn *c,
                     void (*close_now)(struct runner_conn *));
void runner_conn_remove(struct runner *r, struct runner_conn *c);

/*
 * Ask for a build slot. Returns 0 (slot held: b is registered), or
 * R2K_ERR_BUSY / R2K_ERR_SHUTDOWN (proto.h) with a reason in why.
 */
int runner_build_acquire(struct runner *r, struct runner_build *b, unsigned long conn_id,
                         void (*cancel)(struct runner_build *, const char *), char *why,
                         size_t whylen);
/*
 * Give the slot back. status is the build's outcome as the client's exit
 * status (README "Exit status"); a single-shot runner exits with it.
 */
void runner_build_release(struct runner *r, struct runner_build *b, int status, double seconds);
/* Whether a build could be accepted now (readiness). */
bool runner_ready(const struct runner *r);
/* Start a graceful shutdown (as SIGTERM does). */
void runner_shutdown(struct runner *r);

/* runner_listen.c: open the listeners (--listen or systemd's; 0 or -1 after a line on
 * stderr) and close them (unlinking the unix socket files created). */
int runner_open_listeners(struct runner *r);
void runner_close_listeners(struct runner *r);
/* runner.c: read an accepted connection's first bytes and hand it to its protocol. */
void runner_sniff(struct runner *r, uv_stream_t *s);

/* Protocol handlers: each takes over an accepted stream after sniffing.
 * initial[0..n) are the bytes already read; valid only during the call. */
void session_start(struct runner *r, uv_stream_t *s, const uint8_t *initial, size_t n);
void legacy_start(struct runner *r, uv_stream_t *s, const uint8_t *initial, size_t n);
void http_start(struct runner *r, uv_stream_t *s, const uint8_t *initial, size_t n);

#endif
