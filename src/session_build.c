/* session_build.c: one build after its request: extraction, preflight gate, builder steps, exit. */
#include "session_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract.h"
#include "extract_fs.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"
#include "preflight.h"

#define LOCK_RETRY_MS 200 /* how often a warm-up waiting for the cache lock retries */

static void on_flow(struct extract *x, bool pause, void *arg);
static void on_extracted(struct extract *x, int code, const char *msg, void *arg);
static int check_dockerfile(struct session *s, char *err, size_t errlen);
static void start_builder(struct session *s);
static void start_step(struct session *s);
static void report_warm(struct session *s, const struct backend_step *st, bool ok, int how,
                        int value);
static void on_output(struct job *j, enum job_stream which, uint8_t *buf, size_t len, void *arg);
static void on_job_exit(struct job *j, int how, int value, void *arg);
static void send_exit(struct session *s, int how, int value);
static void read_digest(struct session *s, char *out, size_t outlen);
static void checks_on_dockerfile(struct extract *x, const char *text, size_t len, bool truncated,
                                 const char *why, void *arg);
static bool checks_gate(struct session *s);
static void pf_result(const char *json, size_t len, void *arg);
static void pf_log(int level, const char *msg, void *arg);
static void pf_blocked(const char *why, void *arg);
static void pf_settled(void *arg);
static void pf_closed(void *arg);
static bool lock_step(struct session *s, const char *path);
static void on_lock_retry(uv_timer_t *t);

static void on_flow(struct extract *x, bool pause, void *arg)
{
	struct session *s = arg;
	if (!s->p || s->closing)
		return;
	/* A paused client is not idle: the runner is the one waiting. */
	if (pause) {
		peer_pause(s->p);
		if (s->st < ST_READY)
			uv_timer_stop(&s->flush_timer);
	} else {
		peer_resume(s->p);
		session_idle_restart(s);
	}
}

static void on_extracted(struct extract *x, int code, const char *msg, void *arg)
{
	struct session *s = arg;
	char err[1200];
	s->ex = NULL;
	if (s->st == ST_DONE) {
		session_finish(s);
		return;
	}
	if (code) {
		session_fail(s, code, "%s", msg);
		return;
	}
	log_info(s->conn.id, "context extracted (%llu bytes received)",
	         (unsigned long long)extract_received(x));
	if (check_dockerfile(s, err, sizeof(err)) != 0) {
		session_fail(s, R2K_ERR_REQUEST, "%s", err);
		return;
	}
	if (checks_gate(s))
		start_builder(s);
}

/* The dockerfile must be a regular file inside the context, reached without symlinks. */
static int check_dockerfile(struct session *s, char *err, size_t errlen)
{
	char ctx[4200], why[512];
	const char *base;
	struct stat st;
	snprintf(ctx, sizeof(ctx), "%s/context", s->ws.path);
	int root = open(ctx, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0) {
		snprintf(err, errlen, "%.1024s: %s", ctx, strerror(errno));
		return -1;
	}
	int dfd = xfs_open_parent(root, s->dockerfile, false, &base, why, sizeof(why));
	close(root);
	if (dfd < 0) {
		snprintf(err, errlen, "dockerfile '%.512s': %s", s->dockerfile, why);
		return -1;
	}
	int rc = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW);
	close(dfd);
	if (rc != 0)
		snprintf(err, errlen, "dockerfile '%.512s' not found in the context",
		         s->dockerfile);
	else if (S_ISLNK(st.st_mode))
		snprintf(err, errlen, "dockerfile '%.512s' is a symlink; send the file itself",
		         s->dockerfile);
	else if (!S_ISREG(st.st_mode))
		snprintf(err, errlen, "dockerfile '%.512s' is not a regular file", s->dockerfile);
	else
		return 0;
	return -1;
}

/*
 * ---- Preflight checks (preflight.c) ----
 * session_checks_start starts the registry checks once REQUEST is accepted;
 * checks_on_dockerfile adds the base images as soon as the extractor has
 * written the Dockerfile; checks_gate holds the builder until every check
 * has reported. In enforce mode a blocking failure ends the build at once
 * (pf_blocked), even mid-upload.
 */
void session_checks_start(struct session *s)
{
	char err[512];
	struct preflight_ops ops = {
	        .result = pf_result, .log = pf_log, .blocked = pf_blocked, .settled = pf_settled};
	s->pf = preflight_start(s->r->loop, s->r->cfg, &s->r->stats, &s->req, &ops, s, err,
	                        sizeof(err));
	if (s->pf)
		s->pf_open = true;
	else if (err[0])
		session_fail(s, R2K_ERR_INTERNAL, "%s", err);
}

static void checks_on_dockerfile(struct extract *x, const char *text, size_t len, bool truncated,
                                 const char *why, void *arg)
{
	struct session *s = arg;
	(void)x;
	(void)len;
	if (!s->pf || s->st == ST_DONE)
		return;
	if (!text) {
		log_debug(s->conn.id, "dockerfile '%s' not readable yet: %s", s->dockerfile, why);
		return;
	}
	log_debug(s->conn.id, "dockerfile '%s' extracted: checking its base images", s->dockerfile);
	preflight_dockerfile(s->pf, text, truncated);
}

/* Whether the builder may start now; else it starts from pf_settled. */
static bool checks_gate(struct session *s)
{
	if (!s->pf)
		return true;
	if (!preflight_has_dockerfile(s->pf)) {
		/* Not seen while extracting (a later entry replaced it): read it now. */
		char *text = NULL, why[256], ctx[4200];
		size_t len = 0;
		bool trunc = false;
		snprintf(ctx, sizeof(ctx), "%s/context", s->ws.path);
		int root = open(ctx, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (root >= 0 && extract_read_text(root, s->dockerfile, EXTRACT_WATCH_MAX, &text,
		                                   &len, &trunc, why, sizeof(why)) == 0)
			preflight_dockerfile(s->pf, text, trunc);
		if (root >= 0)
			close(root);
		free(text);
		if (s->st == ST_DONE || !s->pf)
			return false;
	}
	size_t n = preflight_pending(s->pf);
	if (n == 0)
		return true;
	log_debug(s->conn.id, "context extracted: waiting for %zu preflight check(s)", n);
	s->gate_waiting = true;
	return false;
}

static void pf_result(const char *json, size_t len, void *arg)
{
	struct session *s = arg;
	if (!s->p || s->client_gone || s->closing || s->st == ST_DONE)
		return;
	session_preamble(s);
	peer_send(s->p, R2K_FRAME_CHECK, json, len);
}

static void pf_log(int level, const char *msg, void *arg)
{
	struct session *s = arg;
	if (level <= R2K_LOG_WARN)
		log_info(s->conn.id, "%s", msg);
	session_log(s, level, "%s", msg);
}

/* Enforce mode: a reachability, credentials, push or base-image check failed. */
static void pf_blocked(const char *why, void *arg)
{
	struct session *s = arg;
	if (s->builder_started)
		return;
	session_fail(s, R2K_ERR_PREFLIGHT, "%s", why);
}

/* Every check has reported: a builder held at the gate starts. */
static void pf_settled(void *arg)
{
	struct session *s = arg;
	if (!s->gate_waiting || s->st != ST_READY || s->ex || !s->pf)
		return;
	s->gate_waiting = false;
	log_debug(s->conn.id, "preflight checks done");
	start_builder(s);
}

static void pf_closed(void *arg)
{
	struct session *s = arg;
	s->pf_open = false;
	session_maybe_free(s);
}

static void start_builder(struct session *s)
{
	char err[512];
	const struct strlist *cold = s->pf ? preflight_cold_images(s->pf) : NULL;
	if ((s->req.warm || s->r->cfg->warm) && cold && cold->n == 0)
		session_log(s, R2K_LOG_INFO, "warm-up: every base image is already cached");
	if (backend_plan(s->r->cfg, &s->req, s->ws.path, s->dockerfile, s->conn.id, cold, &s->plan,
	                 err, sizeof(err)) != 0) {
		session_fail(s, R2K_ERR_INTERNAL, "%s", err);
		return;
	}
	s->step = 0;
	start_step(s);
}

/* Run plan step s->step; its output is relayed, its end handled by on_job_exit. */
static void start_step(struct session *s)
{
	char err[512];
	struct backend_step *st = &s->plan.steps[s->step];
	struct job_spec spec = {.argv = (const char *const *)st->argv.v,
	                        .env = (const char *const *)s->plan.env.v,
	                        .cwd = s->ws.path,
	                        .kill_timeout = s->r->cfg->kill_timeout,
	                        .conn_id = s->conn.id,
	                        .name = st->name};
	struct job_ops ops = {.output = on_output, .exited = on_job_exit};
	if (st->lock && !lock_step(s, st->lock))
		return; /* retried from the timer */
	if (log_enabled(LOG_DEBUG)) {
		/* argv holds no secrets: credentials live in the workspace's config.json. */
		char line[2048];
		size_t n = 0;
		for (size_t i = 0; i < st->argv.n && n + 2 < sizeof(line); i++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", i ? " " : "",
			                      st->argv.v[i]);
		log_debug(s->conn.id, "%s: %s", st->name, line);
	}
	s->job_is_cleanup = false;
	if (job_start(s->r->loop, &spec, &ops, s, &s->job, err, sizeof(err)) != 0) {
		session_fail(s, R2K_ERR_BUILDER, "%s", err);
		return;
	}
	s->builder_started = true;
	s->step_start = uv_now(s->r->loop);
	session_log(s, R2K_LOG_INFO, "%s started", st->name);
}

/*
 * Take the exclusive lock on path for the step about to run (one warm-up
 * per cache directory, across builds and runners). Returns false while
 * another holder has it: the step is retried from the (otherwise idle)
 * flush timer. A lock that cannot be opened at all is logged and skipped.
 */
static bool lock_step(struct session *s, const char *path)
{
	if (s->lock_fd >= 0)
		return true;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			log_debug(s->conn.id, "cannot create %s: %s", dir, strerror(errno));
	}
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		session_log(s, R2K_LOG_WARN, "warm-up lock %s: %s; warming without it", path,
		            strerror(errno));
		return true;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		s->lock_fd = fd;
		s->lock_waiting = false;
		return true;
	}
	int e = errno;
	close(fd);
	if (e != EWOULDBLOCK) {
		session_log(s, R2K_LOG_WARN, "warm-up lock %s: %s; warming without it", path,
		            strerror(e));
		return true;
	}
	if (!s->lock_waiting)
		session_log(s, R2K_LOG_INFO, "waiting for another warm-up of %s", dir);
	s->lock_waiting = true;
	uv_timer_start(&s->flush_timer, on_lock_retry, LOCK_RETRY_MS, 0);
	return false;
}

static void on_lock_retry(uv_timer_t *t)
{
	struct session *s = t->data;
	if (!s->lock_waiting || s->st == ST_DONE)
		return;
	start_step(s);
}

void session_unlock(struct session *s)
{
	if (s->lock_fd >= 0) {
		close(s->lock_fd); /* releases the flock */
		s->lock_fd = -1;
	}
}

/* A warm-up step ended: one "warm" check result per image, never blocking. */
static void report_warm(struct session *s, const struct backend_step *st, bool ok, int how,
                        int value)
{
	double ms = (double)(uv_now(s->r->loop) - s->step_start);
	for (size_t i = 0; i < st->warms.n; i++) {
		struct check_result res = {.passed = ok, .latency_ms = ms};
		snprintf(res.target, sizeof(res.target), "%s", st->warms.v[i]);
		snprintf(res.kind, sizeof(res.kind), "warm");
		snprintf(res.status, sizeof(res.status), "%s", ok ? "warmed" : "failed");
		if (ok)
			snprintf(res.detail, sizeof(res.detail), "%s in %.1f s", st->name,
			         ms / 1000);
		else
			snprintf(res.detail, sizeof(res.detail), "%s %s %d after %.1f s", st->name,
			         how == R2K_EXIT_SIGNAL ? "killed by signal" : "exited with status",
			         value, ms / 1000);
		metrics_count_check(&s->r->stats, res.kind, res.status, res.passed);
		char *json = msg_check_encode(&res);
		if (json) {
			pf_result(json, strlen(json), s);
			free(json);
		}
	}
}

static void on_output(struct job *j, enum job_stream which, uint8_t *buf, size_t len, void *arg)
{
	struct session *s = arg;
	if (s->job_is_cleanup || !s->p || s->client_gone || s->closing) {
		if (s->job_is_cleanup && log_enabled(LOG_DEBUG))
			log_debug(s->conn.id, "cleanup: %.*s", (int)(len > 200 ? 200 : len), buf);
		peer_buf_free(buf);
		return;
	}
	/*
	 * Backpressure, except while the builder is being killed: then the pipes
	 * are read on so that a client that stopped reading cannot hold the
	 * build, and what does not fit in the connection's queue is dropped (a
	 * builder that ignores SIGTERM could otherwise fill memory until SIGKILL).
	 */
	bool killing = s->cancel_asked || s->st == ST_DONE;
	if (killing && peer_above_high(s->p)) {
		s->dropped += len;
		peer_buf_free(buf);
		return;
	}
	s->r->stats.output_bytes += len;
	peer_buf_send(s->p, which == JOB_STDOUT ? R2K_FRAME_STDOUT : R2K_FRAME_STDERR, buf, len);
	if (peer_above_high(s->p) && !killing)
		job_pause_output(j);
}

static void on_job_exit(struct job *j, int how, int value, void *arg)
{
	struct session *s = arg;
	s->job = NULL;
	if (s->dropped) {
		log_warn(s->conn.id,
		         "%llu bytes of output dropped while the builder was stopped: the client "
		         "was not reading",
		         (unsigned long long)s->dropped);
		session_log(s, R2K_LOG_WARN,
		            "%llu bytes of the builder's last output were dropped: this client was "
		            "not reading while the builder was stopped",
		            (unsigned long long)s->dropped);
		s->dropped = 0;
	}
	if (s->job_is_cleanup || s->st == ST_DONE) {
		s->job_is_cleanup = false;
		session_finish(s);
		return;
	}
	bool ok = how == R2K_EXIT_CODE && value == 0;
	session_unlock(s);
	if (s->plan.steps[s->step].warms.n && !s->cancel_asked)
		report_warm(s, &s->plan.steps[s->step], ok, how, value);
	if (!ok && s->plan.steps[s->step].optional && !s->cancel_asked) {
		session_log(s, R2K_LOG_WARN, "%s failed (%s %d); building anyway",
		            s->plan.steps[s->step].name,
		            how == R2K_EXIT_SIGNAL ? "signal" : "status", value);
		ok = true;
	}
	if (ok && !s->cancel_asked && s->step + 1 < s->plan.nsteps) {
		s->step++;
		start_step(s);
		return;
	}
	send_exit(s, how, value);
}

/* The builder's end: EXIT with its code or signal and the digest, then close. */
static void send_exit(struct session *s, int how, int value)
{
	struct r2k_exit e = {.how = (uint8_t)how, .value = value};
	if (how == R2K_EXIT_CODE && value == 0)
		read_digest(s, e.digest, sizeof(e.digest));
	s->st = ST_DONE;
	s->status = how == R2K_EXIT_SIGNAL ? 128 + value : value;
	log_info(s->conn.id, "builder %s %d%s%s",
	         how == R2K_EXIT_SIGNAL ? "killed by signal" : "exited", value,
	         e.digest[0] ? ", image " : "", e.digest);
	s->final_type = R2K_FRAME_EXIT;
	s->final_len = r2k_exit_encode(s->final, sizeof(s->final), &e);
	session_finish(s);
}

/* The digest the builder wrote (sha256:...), or empty. */
static void read_digest(struct session *s, char *out, size_t outlen)
{
	out[0] = 0;
	if (!s->plan.digest_file)
		return;
	int fd = open(s->plan.digest_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, out, outlen - 1);
	close(fd);
	out[n > 0 ? n : 0] = 0;
	out[strcspn(out, " \t\r\n")] = 0;
	if (strncmp(out, "sha256:", 7) != 0)
		out[0] = 0;
}

/* Start extracting into the workspace's context/; CONTEXT frames feed it. */
int session_extract_start(struct session *s, char *err, size_t errlen)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/context", s->ws.path);
	struct extract_opts xo = {.root = dir,
	                          .max_bytes = s->r->cfg->max_context_bytes,
	                          .max_entries = s->r->cfg->max_context_entries,
	                          .conn_id = s->conn.id,
	                          .watch = s->dockerfile};
	struct extract_cbs xc = {
	        .flow = on_flow, .done = on_extracted, .file = checks_on_dockerfile};
	return extract_start(s->r->loop, &xo, &xc, s, &s->ex, err, errlen);
}

/* Stop the registry checks; the session is freed only after pf_closed. */
void session_checks_close(struct session *s)
{
	if (s->pf) {
		struct preflight *pf = s->pf;
		s->pf = NULL;
		preflight_close(pf, pf_closed, s);
	}
}

/* buildah's local image removal after the build; false when it could not start. */
bool session_cleanup_start(struct session *s)
{
	char err[256];
	struct job_spec spec = {.argv = (const char *const *)s->plan.cleanup.v,
	                        .env = (const char *const *)s->plan.env.v,
	                        .kill_timeout = s->r->cfg->kill_timeout,
	                        .conn_id = s->conn.id,
	                        .name = "cleanup"};
	struct job_ops ops = {.output = on_output, .exited = on_job_exit};
	s->job_is_cleanup = true;
	if (job_start(s->r->loop, &spec, &ops, s, &s->job, err, sizeof(err)) == 0)
		return true;
	s->job_is_cleanup = false;
	log_warn(s->conn.id, "%s", err);
	return false;
}
