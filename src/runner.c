/* runner.c: the runner role: protocol sniffing, build slots, signals, shutdown. */
#include "runner.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "proto.h"
#include "roles.h"
#include "sdact.h"
#include "workspace.h"

extern char **environ;

#define SNIFF_BUF 65536

/* A connection whose protocol is not known yet. */
struct sniff {
	struct runner_conn conn;
	struct runner *r;
	uv_stream_t *stream; /* malloc'd; handed to the protocol handler */
	uv_timer_t idle;
	uint8_t *buf;
	bool handed_over;
};

static int validate_config(struct runner_config *cfg);
static void sniff_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void sniff_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void sniff_idle(uv_timer_t *t);
static void sniff_close_now(struct runner_conn *c);
static void sniff_drop(struct sniff *sn);
static void sniff_timer_closed(uv_handle_t *h);
static void stream_closed(uv_handle_t *h);
static void refuse_write_cb(uv_write_t *w, int status);
static void on_signal(uv_signal_t *s, int signum);
static void on_grace(uv_timer_t *t);
static void cancel_builds(struct runner *r, const char *why);
static void conn_unlink(struct runner *r, struct runner_conn *c);
static void maybe_finish(struct runner *r);

void runner_conn_add(struct runner *r, struct runner_conn *c,
                     void (*close_now)(struct runner_conn *))
{
	c->id = ++r->next_id;
	c->close_now = close_now;
	c->prev = NULL;
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
}

/* Unlink c from the connection list; safe to call twice. */
static void conn_unlink(struct runner *r, struct runner_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (r->conns == c)
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

void runner_conn_remove(struct runner *r, struct runner_conn *c)
{
	conn_unlink(r, c);
	/* Accept=yes: the one connection systemd passed is done, and nothing else can come. */
	if (r->passed_conn && r->nlisteners == 0 && !r->conns && r->active_builds == 0)
		runner_shutdown(r);
	maybe_finish(r);
}

bool runner_recv_charge(struct runner *r, size_t old, size_t new)
{
	assert(r->recv_bytes >= old);
	if (new > old &&new - old > RUNNER_RECV_BUDGET - r->recv_bytes)
		return false;
	r->recv_bytes = r->recv_bytes - old + new;
	return true;
}

bool runner_ready(const struct runner *r)
{
	if (r->shutting_down)
		return false;
	if (!r->cfg->multiple)
		return !r->single_shot_taken;
	return r->active_builds < r->cfg->max_builds;
}

int runner_build_acquire(struct runner *r, struct runner_build *b, unsigned long conn_id,
                         void (*cancel)(struct runner_build *, const char *), char *why,
                         size_t whylen)
{
	if (r->shutting_down) {
		snprintf(why, whylen, "runner is shutting down");
		return R2K_ERR_SHUTDOWN;
	}
	if (!r->cfg->multiple && r->single_shot_taken) {
		snprintf(why, whylen,
		         "runner is busy: it serves one build (start it with --multiple for more)");
		return R2K_ERR_BUSY;
	}
	if (r->cfg->multiple && r->active_builds >= r->cfg->max_builds) {
		snprintf(why, whylen, "runner is busy: %u of %llu builds running (--max-builds)",
		         r->active_builds, (unsigned long long)r->cfg->max_builds);
		return R2K_ERR_BUSY;
	}
	r->single_shot_taken = true;
	r->active_builds++;
	r->stats.builds_started++;
	b->conn_id = conn_id;
	b->cancel = cancel;
	b->prev = NULL;
	b->next = r->builds;
	if (r->builds)
		r->builds->prev = b;
	r->builds = b;
	return 0;
}

void runner_build_release(struct runner *r, struct runner_build *b, int status, double seconds)
{
	static const double bounds[] = {1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600};
	if (b->prev)
		b->prev->next = b->next;
	else if (r->builds == b)
		r->builds = b->next;
	if (b->next)
		b->next->prev = b->prev;
	b->prev = b->next = NULL;
	r->active_builds--;
	if (status == 0)
		r->stats.builds_succeeded++;
	else
		r->stats.builds_failed++;
	size_t i = 0;
	while (i < sizeof(bounds) / sizeof(bounds[0]) && seconds > bounds[i])
		i++;
	r->stats.duration_buckets[i]++;
	r->stats.duration_sum += seconds;
	r->stats.duration_count++;
	if (!r->cfg->multiple) {
		r->exit_status = status;
		runner_shutdown(r);
	}
	maybe_finish(r);
}

/* Free a stream handle once it is closed. */
static void stream_closed(uv_handle_t *h)
{
	free(h);
}

void runner_sniff(struct runner *r, uv_stream_t *s)
{
	struct sniff *sn = calloc(1, sizeof(*sn));
	if (!sn) {
		uv_close((uv_handle_t *)s, stream_closed);
		return;
	}
	sn->r = r;
	sn->stream = s;
	s->data = sn;
	runner_conn_add(r, &sn->conn, sniff_close_now);
	uv_timer_init(r->loop, &sn->idle);
	sn->idle.data = sn;
	uv_timer_start(&sn->idle, sniff_idle, (uint64_t)(r->cfg->idle_timeout * 1000), 0);
	if (uv_read_start(s, sniff_alloc, sniff_read) != 0)
		sniff_drop(sn);
}

static void sniff_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct sniff *sn = h->data;
	if (!sn->buf)
		sn->buf = malloc(SNIFF_BUF);
	buf->base = (char *)sn->buf;
	buf->len = sn->buf ? SNIFF_BUF : 0;
}

static void sniff_timer_closed(uv_handle_t *h)
{
	struct sniff *sn = h->data;
	free(sn->buf);
	free(sn);
}

/* Close a connection that never became a protocol session. */
static void sniff_drop(struct sniff *sn)
{
	runner_conn_remove(sn->r, &sn->conn);
	if (!uv_is_closing((uv_handle_t *)sn->stream))
		uv_close((uv_handle_t *)sn->stream, stream_closed);
	uv_close((uv_handle_t *)&sn->idle, sniff_timer_closed);
}

static void sniff_close_now(struct runner_conn *c)
{
	sniff_drop((struct sniff *)c);
}

/* Handed over: the protocol handler owns the stream, and the timer is closing already. */
static void sniff_handed_over(struct runner_conn *c)
{
	(void)c;
}

static void sniff_idle(uv_timer_t *t)
{
	struct sniff *sn = t->data;
	log_debug(sn->conn.id, "closing connection: nothing received in %.0f s",
	          sn->r->cfg->idle_timeout);
	sn->r->stats.conns_unknown++;
	uv_read_stop(sn->stream);
	/*
	 * Only a kaniko-runner client waits in silence (r2k clients and HTTP speak
	 * first): it is told, in its own terms, why its connection ends.
	 */
	static char msg[128];
	int n = snprintf(msg, sizeof(msg),
	                 "error: no request within %g s (--idle-timeout)\nstatus: FAILED\n",
	                 sn->r->cfg->idle_timeout);
	uv_write_t *w = malloc(sizeof(*w));
	uv_buf_t b = uv_buf_init(msg, (unsigned)n);
	if (!w || uv_write(w, sn->stream, &b, 1, refuse_write_cb) != 0) {
		free(w);
		sniff_drop(sn);
		return;
	}
	runner_conn_remove(sn->r, &sn->conn);
	uv_close((uv_handle_t *)&sn->idle, sniff_timer_closed);
}

static void refuse_write_cb(uv_write_t *w, int status)
{
	uv_close((uv_handle_t *)w->handle, stream_closed);
	free(w);
}

static void sniff_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct sniff *sn = s->data;
	struct runner *r = sn->r;
	if (nread == 0)
		return;
	uv_read_stop(s);
	if (nread < 0) {
		sniff_drop(sn);
		return;
	}
	uint8_t first = sn->buf[0];
	/* The handler takes the stream; this struct only closes its timer. It leaves
	 * the connection list after the handler has joined it (see runner_conn_remove). */
	uv_close((uv_handle_t *)&sn->idle, sniff_timer_closed);
	s->data = NULL;
	/* The handler may end the runner at once (a single-shot runner's refused request). */
	sn->conn.close_now = sniff_handed_over;
	if (first == (uint8_t)R2K_MAGIC[0]) {
		r->stats.conns_r2k++;
		session_start(r, s, sn->buf, (size_t)nread);
	} else if (first == '{') {
		r->stats.conns_legacy++;
		legacy_start(r, s, sn->buf, (size_t)nread);
	} else if (first >= 'A' && first <= 'Z') {
		r->stats.conns_http++;
		http_start(r, s, sn->buf, (size_t)nread);
	} else {
		static char msg[] = "r2k: unrecognised protocol\n";
		r->stats.conns_unknown++;
		log_info(sn->conn.id,
		         "closing connection: unrecognised protocol (first byte 0x%02x)", first);
		uv_write_t *w = malloc(sizeof(*w));
		uv_buf_t b = uv_buf_init(msg, sizeof(msg) - 1);
		if (!w || uv_write(w, s, &b, 1, refuse_write_cb) != 0) {
			free(w);
			uv_close((uv_handle_t *)s, stream_closed);
		}
	}
	runner_conn_remove(r, &sn->conn);
}

static void cancel_builds(struct runner *r, const char *why)
{
	r->cancelling = true;
	for (struct runner_build *b = r->builds, *next; b; b = next) {
		next = b->next;
		b->cancel(b, why);
	}
}

/* Once shutting down and idle, close everything so the loop ends. */
static void maybe_finish(struct runner *r)
{
	if (!r->shutting_down || r->active_builds > 0)
		return;
	/* Idle connections (HTTP keep-alive, sniffing) are closed now; a
	 * connection still flushing its last frames finishes on its own. */
	while (r->conns) {
		struct runner_conn *c = r->conns;
		conn_unlink(r, c);
		c->close_now(c);
	}
	if (!uv_is_closing((uv_handle_t *)&r->sig_term)) {
		uv_close((uv_handle_t *)&r->sig_term, NULL);
		uv_close((uv_handle_t *)&r->sig_int, NULL);
		uv_close((uv_handle_t *)&r->sig_hup, NULL);
		uv_close((uv_handle_t *)&r->grace_timer, NULL);
	}
}

void runner_shutdown(struct runner *r)
{
	if (r->shutting_down)
		return;
	r->shutting_down = true;
	sdact_notify("STOPPING=1");
	runner_close_listeners(r);
	if (r->active_builds > 0 && r->cfg->multiple) {
		log_info(0, "shutting down: %u build(s) running, waiting up to %.0f s",
		         r->active_builds, r->cfg->shutdown_grace);
		uv_timer_start(&r->grace_timer, on_grace, (uint64_t)(r->cfg->shutdown_grace * 1000),
		               0);
	}
	maybe_finish(r);
}

static void on_grace(uv_timer_t *t)
{
	struct runner *r = t->data;
	log_warn(0, "shutdown grace period over: cancelling %u build(s)", r->active_builds);
	cancel_builds(r, "runner is shutting down");
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct runner *r = s->data;
	if (!r->shutting_down && signum == SIGTERM && r->cfg->multiple) {
		log_info(0, "SIGTERM: no new builds; a second SIGTERM cancels running builds");
		runner_shutdown(r);
		return;
	}
	/* SIGHUP (the terminal went away) ends the runner as SIGINT does, rather than
	 * killing it where it stands with credentials and builders left behind. */
	const char *name = signum == SIGINT ? "SIGINT" : signum == SIGHUP ? "SIGHUP" : "SIGTERM";
	log_info(0, "%s: cancelling %u build(s) and exiting", name, r->active_builds);
	if (!r->cfg->multiple && r->active_builds > 0 && !r->exit_status)
		r->exit_status = 128 + signum;
	runner_shutdown(r);
	cancel_builds(r, signum == SIGTERM ? "runner terminated" : "runner interrupted");
}

static int validate_config(struct runner_config *cfg)
{
	/*
	 * kaniko-runner's own command line (-address): its clients, repo2kaniko,
	 * connect before fetching the repository and send their line only once
	 * it is fetched; kaniko-runner waited for ever, r2k an hour.
	 */
	for (size_t i = 0; i < cfg->address.n; i++)
		strlist_push(&cfg->listen, cfg->address.v[i]);
	if (cfg->idle_timeout == CLI_IDLE_TIMEOUT_UNSET)
		cfg->idle_timeout = cfg->address.n ? 3600 : 30;
	if (!cfg->backend)
		cfg->backend = strdup("kaniko");
	if (strcmp(cfg->backend, "kaniko") != 0 && strcmp(cfg->backend, "buildah") != 0) {
		fprintf(stderr, "r2k runner: --backend '%s': must be kaniko or buildah\n",
		        cfg->backend);
		return -1;
	}
	if (!cfg->preflight)
		cfg->preflight = strdup("enforce");
	if (strcmp(cfg->preflight, "enforce") != 0 && strcmp(cfg->preflight, "warn") != 0 &&
	    strcmp(cfg->preflight, "off") != 0) {
		fprintf(stderr, "r2k runner: --preflight '%s': must be enforce, warn or off\n",
		        cfg->preflight);
		return -1;
	}
	if (cfg->unix_mode) {
		char *end;
		unsigned long m = strtoul(cfg->unix_mode, &end, 8);
		if (*end || !*cfg->unix_mode || m > 07777) {
			fprintf(stderr, "r2k runner: --unix-mode '%s': must be an octal mode\n",
			        cfg->unix_mode);
			return -1;
		}
	}
	/*
	 * Kaniko unpacks each image onto the container's own root file system:
	 * two executors at once in one container destroy each other's builds.
	 */
	bool kaniko = strcmp(cfg->backend, "kaniko") == 0;
	if (cfg->max_builds == CLI_MAX_BUILDS_UNSET)
		cfg->max_builds = kaniko ? 1 : 4;
	else if (kaniko && cfg->multiple && cfg->max_builds > 1)
		fprintf(stderr,
		        "r2k runner: warning: --max-builds %llu with Kaniko: concurrent executors "
		        "share this container's root file system and break each other's builds "
		        "unless --executor starts each one in a container of its own\n",
		        (unsigned long long)cfg->max_builds);
	if (cfg->max_builds == 0) {
		fprintf(stderr, "r2k runner: --max-builds must be at least 1\n");
		return -1;
	}
	if (cfg->idle_timeout <= 0) {
		fprintf(stderr, "r2k runner: --idle-timeout must be more than 0 seconds\n");
		return -1;
	}
	if (cfg->check_timeout <= 0) {
		fprintf(stderr, "r2k runner: --check-timeout must be more than 0 seconds\n");
		return -1;
	}
	if (!cfg->executor)
		cfg->executor = strdup("/kaniko/executor");
	if (!cfg->warmer)
		cfg->warmer = strdup("/kaniko/warmer");
	if (!cfg->buildah)
		cfg->buildah = strdup("buildah");
	if (!cfg->isolation)
		cfg->isolation = strdup("chroot");
	if (!cfg->storage_driver)
		cfg->storage_driver = strdup("vfs");
	if (!cfg->shared_workspace)
		cfg->shared_workspace = strdup("/workspace");
	if (!cfg->workspace) {
		/* Kaniko wipes everything outside /kaniko and mount points between stages. */
		const char *tmp = getenv("TMPDIR");
		cfg->workspace =
		        strdup(strcmp(cfg->backend, "kaniko") == 0 ? "/kaniko/r2k"
		                                                   : (tmp && *tmp ? tmp : "/tmp"));
	}
	return 0;
}

/*
 * Every connection, every build's pipes and every registry check holds
 * descriptors: the runner takes the hard open-file limit as its soft one,
 * and its builders start with the soft limit it was given.
 */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_debug(0, "cannot raise the open-file limit from %llu: %s",
		          (unsigned long long)was, strerror(errno));
		return;
	}
	log_debug(0, "open-file limit raised from %llu to %llu", (unsigned long long)was,
	          (unsigned long long)rl.rlim_max);
	job_set_builder_nofile((unsigned long)was);
}

/* A builder that is not there is said at start, not only when a build arrives. */
static void check_builder(const struct runner_config *cfg)
{
	bool kaniko = strcmp(cfg->backend, "kaniko") == 0;
	const char *prog = kaniko ? cfg->executor : cfg->buildah;
	char err[4400];
	if (prog && job_find_program(prog, (const char *const *)environ, err, sizeof(err)) != 0)
		log_warn(0, "%s (%s): builds will fail until that is fixed", err,
		         kaniko ? "--executor" : "--buildah");
}

int runner_main(int argc, char **argv)
{
	struct runner_config cfg;
	struct runner r;
	int rc;

	cli_runner_defaults(&cfg);
	rc = opts_parse(&cli_runner_cmd, argc, argv, &cfg);
	if (rc) {
		cli_runner_free(&cfg);
		return rc == 1 ? 0 : R2K_EXIT_USAGE;
	}
	if (validate_config(&cfg) != 0) {
		cli_runner_free(&cfg);
		return R2K_EXIT_USAGE;
	}
	log_init("r2k runner", cfg.verbose ? LOG_DEBUG : LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	/* What a runner that was killed (SIGKILL, OOM) left: workspaces with their credentials. */
	workspace_sweep(cfg.workspace);
	check_builder(&cfg);
	log_debug(0, "idle timeout %.0f s, shutdown grace %.0f s", cfg.idle_timeout,
	          cfg.shutdown_grace);
	/* Orphans of the builder (Kaniko runs steps in their own process groups) become
	 * our children, so a cancelled build can find and kill all of them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		log_warn(0, "cannot become a child subreaper: %s", strerror(errno));

	memset(&r, 0, sizeof(r));
	r.loop = uv_default_loop();
	r.cfg = &cfg;
	r.start_ms = uv_now(r.loop);
	uv_signal_init(r.loop, &r.sig_term);
	uv_signal_init(r.loop, &r.sig_int);
	uv_signal_init(r.loop, &r.sig_hup);
	uv_timer_init(r.loop, &r.grace_timer);
	r.sig_term.data = r.sig_int.data = r.sig_hup.data = r.grace_timer.data = &r;
	uv_signal_start(&r.sig_term, on_signal, SIGTERM);
	uv_signal_start(&r.sig_int, on_signal, SIGINT);
	uv_signal_start(&r.sig_hup, on_signal, SIGHUP);

	int status = 0;
	if (runner_open_listeners(&r) != 0) {
		status = R2K_EXIT_USAGE;
		r.shutting_down = true;
		runner_close_listeners(&r);
		maybe_finish(&r);
	} else {
		sdact_notify("READY=1");
	}
	uv_run(r.loop, UV_RUN_DEFAULT);
	if (!status)
		status = r.exit_status;
	free(r.listeners);
	rc = uv_loop_close(r.loop);
	if (rc != 0)
		log_debug(0, "loop closed with open handles: %s", uv_strerror(rc));
	cli_runner_free(&cfg);
	return status;
}
