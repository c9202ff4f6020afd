/* job.h: one spawned builder: argv and env without a shell, output relayed, process tree killed. */
#ifndef R2K_JOB_H
#define R2K_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Which pipe output came from. */
enum job_stream { JOB_STDOUT = 1, JOB_STDERR = 2 };

/* Largest output chunk handed to job_ops.output (one STDOUT/STDERR frame). */
#define JOB_CHUNK (64u << 10)

struct job;

struct job_ops {
	/*
	 * Bytes read from one of the builder's pipes, in the order read:
	 * buf[0..len) with 0 < len <= JOB_CHUNK, allocated with alloc and now
	 * owned by the callee (send it with peer_buf_send, or release it).
	 */
	void (*output)(struct job *j, enum job_stream which, uint8_t *buf, size_t len, void *arg);
	/*
	 * The builder exited, every process it started is gone (killed and
	 * reaped) and both pipes were read to EOF. how is R2K_EXIT_CODE or
	 * R2K_EXIT_SIGNAL (proto.h), value the exit code or signal. The job
	 * frees itself after this returns: drop the pointer.
	 */
	void (*exited)(struct job *j, int how, int value, void *arg);
	/* Output buffers; NULL means peer_buf_alloc / peer_buf_free. */
	uint8_t *(*alloc)(size_t cap);
	void (*release)(uint8_t *buf);
};

struct job_spec {
	const char *const *argv; /* NULL-terminated; argv[0] is the program (no shell) */
	const char *const *env;  /* the complete environment, NULL-terminated */
	const char *cwd;         /* working directory, or NULL to inherit */
	double kill_timeout;     /* seconds from SIGTERM to SIGKILL when killing */
	unsigned long conn_id;   /* for log lines */
	const char *name;        /* short name for logs, e.g. "kaniko" */
};

/*
 * Whether file can be executed: a path, or a name searched in env's PATH
 * (a default PATH without one), as the reaper will; else -1 + "cannot
 * start FILE: REASON".
 */
int job_find_program(const char *file, const char *const *env, char *err, size_t errlen);

/*
 * Spawn spec->argv with stdin /dev/null and stdout/stderr on pipes, in a new
 * session (its own process group). Strings in spec are used only during the
 * call. Returns 0 with *out set, or -1 with the reason in err (the builder
 * could not be started; no callback follows).
 */
int job_start(uv_loop_t *loop, const struct job_spec *spec, const struct job_ops *ops, void *arg,
              struct job **out, char *err, size_t errlen);

/*
 * The soft RLIMIT_NOFILE every builder started from now on gets (0: the
 * runner's own): the runner raises its own limit, not its builders'.
 */
void job_set_builder_nofile(unsigned long soft);

/* Stop / resume reading the builder's pipes (backpressure from the client). */
void job_pause_output(struct job *j);
void job_resume_output(struct job *j);

/*
 * Kill the builder and every process it started (its descendants, its
 * session, and orphans the runner inherited as subreaper): SIGTERM, then
 * SIGKILL after kill_timeout. exited follows once all are gone. Harmless to
 * call more than once or after the builder exited on its own.
 */
void job_kill(struct job *j);

/* The builder's process id (for logs). */
int job_pid(const struct job *j);

#endif
