/* job.c: spawn a builder without a shell, relay its pipes, kill and reap its whole process tree. */
#include "job.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "peer.h"
#include "proctree.h"
#include "proto.h"
#include "reaper.h"

#define SWEEP_MS          50    /* poll interval while waiting for a process tree to die */
#define SWEEP_GIVE_UP_MS  15000 /* after SIGKILL, stop waiting for unkillable processes */
#define LEFTOVER_GRACE_MS 5000  /* processes still holding the pipes after the builder's exit */
#define SMALL_READ        (JOB_CHUNK / 8) /* reads below this are copied into a right-sized buffer */
#define MAX_TREE          4096

struct job_pipe {
	uv_pipe_t pipe;
	struct job *job;
	enum job_stream which;
	uint8_t *spare; /* a JOB_CHUNK buffer kept for the next read */
	bool open;      /* not yet at EOF */
	bool reading;
};

struct job {
	struct job *prev, *next; /* all live jobs, to tell their trees apart */
	uv_loop_t *loop;
	uv_process_t proc; /* the reaper (reaper.c), the builder's parent */
	struct job_pipe out, err;
	struct job_pipe status; /* the reaper's reports (struct reaper_msg) */
	uint8_t msg[sizeof(struct reaper_msg)];
	size_t msg_len;
	uv_timer_t kill_timer, sweep_timer;
	struct job_ops ops;
	void *arg;
	unsigned long conn_id;
	char name[32];
	uint64_t kill_ms;
	uint64_t kill_sent_ms; /* when SIGKILL went out */
	uint64_t ended_ms;     /* when the builder's end was known */
	int pid;               /* the reaper's: its session holds the builder */
	int builder_pid;       /* once the reaper told it, else 0 */
	int how, value;        /* the builder's end */
	bool running;          /* the builder has not exited */
	bool reaper_alive;
	bool gave_up; /* processes survived SIGKILL: no longer waited for */
	bool paused;
	bool terming;   /* SIGTERM sent to the tree */
	bool killing;   /* SIGKILL sent to the tree */
	bool sweeping;  /* sweep timer active */
	bool tree_done; /* no process of the tree left */
	bool finished;  /* exited callback made */
	int handles;    /* handles still open */
};

static struct job *live_jobs;
static unsigned long builder_nofile; /* job_set_builder_nofile */

static void on_exit_cb(uv_process_t *p, int64_t status, int sig);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void pipe_start(struct job_pipe *jp);
static void on_kill_timer(uv_timer_t *t);
static void on_sweep(uv_timer_t *t);
static void start_sweep(struct job *j);
static bool leftovers_due(const struct job *j, size_t live);
static size_t scan_tree(struct job *j, struct proc_row *rows, size_t nrows, int *tree, size_t cap);
static bool other_job_owns(const struct job *j, const struct proc_row *row);
static void signal_tree(struct job *j, int sig);
static bool sweep_once(struct job *j, size_t *live);
static void maybe_finish(struct job *j);
static void handle_closed(uv_handle_t *h);
static void status_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void status_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void builder_ended(struct job *j, int how, int value);
static void status_message(struct job *j, size_t n);
static void close_all(struct job *j);

/* Whether row is another live job's reaper or lives in another reaper's session. */
static bool other_job_owns(const struct job *j, const struct proc_row *row)
{
	for (const struct job *o = live_jobs; o; o = o->next) {
		if (o == j)
			continue;
		if (row->pid == o->pid || row->sid == o->pid)
			return true;
	}
	return false;
}

/*
 * The builder's process tree, the reaper itself left out: everything below
 * the reaper (a subreaper: orphans of the build stay below it) and in its
 * session. Only when the reaper is gone (killed) are the runner's own
 * orphans counted in, unless another live job's session holds them.
 */
static size_t scan_tree(struct job *j, struct proc_row *rows, size_t nrows, int *tree, size_t cap)
{
	int self = getpid();
	size_t n = 0;
	bool *in = calloc(nrows ? nrows : 1, sizeof(bool));
	if (!in)
		return 0;
	proctree_descendants(rows, nrows, j->pid, in);
	for (size_t i = 0; i < nrows; i++) {
		const struct proc_row *r = &rows[i];
		if (r->pid == j->pid || r->pid == self) {
			in[i] = false;
			continue;
		}
		if (r->sid == j->pid ||
		    (!j->reaper_alive && r->ppid == self && !other_job_owns(j, r)))
			in[i] = true;
	}
	if (!j->reaper_alive) {
		/* And what those orphans started. */
		for (size_t i = 0; i < nrows; i++)
			if (in[i])
				proctree_descendants(rows, nrows, rows[i].pid, in);
	}
	for (size_t i = 0; i < nrows && n < cap; i++)
		if (in[i])
			tree[n++] = (int)i;
	free(in);
	return n;
}

/* Send sig to every live process of the tree. */
static void signal_tree(struct job *j, int sig)
{
	struct proc_row *rows = malloc(MAX_TREE * 8 * sizeof(*rows));
	int *tree = malloc(MAX_TREE * sizeof(int));
	if (rows && tree) {
		size_t nrows = proctree_read(rows, MAX_TREE * 8);
		size_t n = scan_tree(j, rows, nrows, tree, MAX_TREE);
		for (size_t i = 0; i < n; i++)
			if (rows[tree[i]].state != 'Z')
				kill(rows[tree[i]].pid, sig);
		log_debug(j->conn_id, "%s: sent signal %d to %zu process(es)", j->name, sig, n);
	}
	free(rows);
	free(tree);
}

/*
 * Reap the runner's orphaned zombies of this tree; true when nothing of it
 * is left. *live: how many of its processes are neither zombies nor exiting.
 */
static bool sweep_once(struct job *j, size_t *live)
{
	struct proc_row *rows = malloc(MAX_TREE * 8 * sizeof(*rows));
	int *tree = malloc(MAX_TREE * sizeof(int));
	size_t left = 1;
	*live = 1;
	if (rows && tree) {
		*live = 0;
		int self = getpid();
		size_t nrows = proctree_read(rows, MAX_TREE * 8);
		size_t n = scan_tree(j, rows, nrows, tree, MAX_TREE);
		left = 0;
		for (size_t i = 0; i < n; i++) {
			const struct proc_row *r = &rows[tree[i]];
			/* waitpid on this pid only: libuv reaps its own children. */
			if (r->ppid == self && waitpid(r->pid, NULL, WNOHANG) == r->pid)
				continue;
			/* A zombie below the reaper is the reaper's to reap. */
			if (r->ppid == self || r->state != 'Z')
				left++;
			if (r->state != 'Z' && !r->exiting)
				(*live)++;
			if (j->killing && r->state != 'Z')
				kill(r->pid, SIGKILL);
		}
	}
	free(rows);
	free(tree);
	return left == 0;
}

/* Sweep now, and every SWEEP_MS until the tree is gone (an event that may end it: sweep now). */
static void start_sweep(struct job *j)
{
	j->sweeping = true;
	uv_timer_start(&j->sweep_timer, on_sweep, 0, SWEEP_MS);
}

/*
 * Whether the processes left behind by a builder that exited on its own
 * are to be stopped now (live of them neither zombies nor exiting): at
 * once when they no longer hold its stdout or stderr (both pipes at EOF:
 * they cannot add to the output), else once they had LEFTOVER_GRACE_MS to
 * finish writing and end by themselves. Processes already in exit() are
 * waited for, within the same grace.
 */
static bool leftovers_due(const struct job *j, size_t live)
{
	bool late = uv_now(j->loop) - j->ended_ms >= LEFTOVER_GRACE_MS;
	if (!live)
		return late;
	return late || (!j->out.open && !j->err.open);
}

static void on_sweep(uv_timer_t *t)
{
	struct job *j = t->data;
	size_t live;
	if (!sweep_once(j, &live) && !j->gave_up) {
		/* Survivors after the builder exited on its own, not just exiting: stop them. */
		if (!j->running && !j->terming && leftovers_due(j, live)) {
			j->terming = true;
			log_info(j->conn_id, "%s: killing processes left behind by the builder",
			         j->name);
			signal_tree(j, SIGTERM);
			uv_timer_start(&j->kill_timer, on_kill_timer, j->kill_ms, 0);
		}
		if (!j->killing || uv_now(j->loop) - j->kill_sent_ms <= SWEEP_GIVE_UP_MS)
			return;
		log_error(j->conn_id, "%s: processes survive SIGKILL; giving up on them", j->name);
		j->gave_up = true;
	}
	/* The tree is empty: the reaper, which waits for exactly that, ends next. */
	if (j->reaper_alive && j->gave_up)
		uv_process_kill(&j->proc, SIGKILL);
	if (j->running || j->reaper_alive)
		return;
	uv_timer_stop(&j->sweep_timer);
	uv_timer_stop(&j->kill_timer);
	j->sweeping = false;
	j->tree_done = true;
	maybe_finish(j);
}

static void on_kill_timer(uv_timer_t *t)
{
	struct job *j = t->data;
	if (j->killing)
		return;
	j->killing = true;
	j->kill_sent_ms = uv_now(j->loop);
	log_info(j->conn_id, "%s: still running %.1f s after SIGTERM: sending SIGKILL", j->name,
	         (double)j->kill_ms / 1000);
	signal_tree(j, SIGKILL);
	start_sweep(j);
}

void job_kill(struct job *j)
{
	if (j->finished)
		return;
	/* Pipes are read to EOF whatever the client does, or the end never comes. */
	job_resume_output(j);
	if (j->terming)
		return;
	j->terming = true;
	log_info(j->conn_id, "%s: stopping the builder (pid %d) and its processes", j->name,
	         job_pid(j));
	signal_tree(j, SIGTERM);
	uv_timer_start(&j->kill_timer, on_kill_timer, j->kill_ms, 0);
	start_sweep(j);
}

/* The builder's end, as the reaper reported it (or the reaper's own, if it died first). */
static void builder_ended(struct job *j, int how, int value)
{
	if (!j->running)
		return;
	j->running = false;
	j->how = how;
	j->value = value;
	j->ended_ms = uv_now(j->loop);
	log_info(j->conn_id, "%s (pid %d) %s %d", j->name, job_pid(j),
	         how == R2K_EXIT_SIGNAL ? "killed by signal" : "exited with status", value);
	start_sweep(j);
}

/* The reaper exited: normally once nothing of the build is left. */
static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct job *j = p->data;
	j->reaper_alive = false;
	/* Its last report may still sit in the pipe, behind this exit in the loop's order. */
	uv_os_fd_t fd;
	if (j->running && uv_fileno((uv_handle_t *)&j->status.pipe, &fd) == 0) {
		ssize_t n;
		while (j->running &&
		       (n = read(fd, j->msg + j->msg_len, sizeof(j->msg) - j->msg_len)) > 0)
			status_message(j, (size_t)n);
	}
	if (j->running)
		log_warn(j->conn_id, "%s: its reaper (pid %d) ended before the builder", j->name,
		         j->pid);
	builder_ended(j, sig ? R2K_EXIT_SIGNAL : R2K_EXIT_CODE, sig ? sig : (int)status);
	start_sweep(j);
}

static void status_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct job *j = ((struct job_pipe *)h->data)->job;
	(void)suggested;
	*buf = uv_buf_init((char *)j->msg + j->msg_len, (unsigned)(sizeof(j->msg) - j->msg_len));
}

/* Messages from the reaper: the builder's pid, then its end. */
static void status_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct job *j = ((struct job_pipe *)s->data)->job;
	(void)buf;
	if (nread < 0) {
		uv_read_stop(s);
		return;
	}
	status_message(j, (size_t)nread);
}

/* n more bytes of a reaper message arrived in j->msg; act on a complete one. */
static void status_message(struct job *j, size_t n)
{
	j->msg_len += n;
	if (j->msg_len < sizeof(j->msg))
		return;
	j->msg_len = 0;
	struct reaper_msg m;
	memcpy(&m, j->msg, sizeof(m));
	if (m.kind == REAPER_MSG_STARTED)
		j->builder_pid = m.a;
	else if (m.kind == REAPER_MSG_EXITED)
		builder_ended(j, m.a, m.b);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct job_pipe *jp = h->data;
	if (!jp->spare)
		jp->spare = jp->job->ops.alloc(JOB_CHUNK);
	buf->base = (char *)jp->spare;
	buf->len = jp->spare ? JOB_CHUNK : 0;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct job_pipe *jp = s->data;
	struct job *j = jp->job;
	if (nread > 0) {
		uint8_t *out = jp->spare;
		/* Small reads are copied so that a slow client does not pin 64 KiB per line. */
		if ((size_t)nread < SMALL_READ) {
			uint8_t *small = j->ops.alloc((size_t)nread);
			if (small) {
				memcpy(small, jp->spare, (size_t)nread);
				out = small;
			}
		}
		if (out == jp->spare)
			jp->spare = NULL;
		j->ops.output(j, jp->which, out, (size_t)nread, j->arg);
		return;
	}
	if (nread == 0)
		return;
	if (nread != UV_EOF)
		log_warn(j->conn_id, "%s: reading its %s: %s", j->name,
		         jp->which == JOB_STDOUT ? "stdout" : "stderr", uv_strerror((int)nread));
	uv_read_stop(s);
	jp->reading = false;
	jp->open = false;
	/* Nothing can be written to the build's output any more: sweep now, not in 50 ms. */
	if (j->sweeping && !j->running && !j->out.open && !j->err.open)
		start_sweep(j);
	maybe_finish(j);
}

static void pipe_start(struct job_pipe *jp)
{
	if (jp->open && !jp->reading &&
	    uv_read_start((uv_stream_t *)&jp->pipe, alloc_cb, read_cb) == 0)
		jp->reading = true;
}

void job_pause_output(struct job *j)
{
	j->paused = true;
	struct job_pipe *pp[2] = {&j->out, &j->err};
	for (int i = 0; i < 2; i++) {
		if (pp[i]->reading) {
			uv_read_stop((uv_stream_t *)&pp[i]->pipe);
			pp[i]->reading = false;
		}
	}
}

void job_resume_output(struct job *j)
{
	if (j->finished || !j->paused)
		return;
	j->paused = false;
	pipe_start(&j->out);
	pipe_start(&j->err);
}

int job_pid(const struct job *j)
{
	return j->builder_pid ? j->builder_pid : j->pid;
}

static void handle_closed(uv_handle_t *h)
{
	struct job *j = h->type == UV_NAMED_PIPE ? ((struct job_pipe *)h->data)->job : h->data;
	if (--j->handles > 0)
		return;
	if (j->out.spare)
		j->ops.release(j->out.spare);
	if (j->err.spare)
		j->ops.release(j->err.spare);
	free(j);
}

/* Close every handle; the job is freed after the last close callback. */
static void close_all(struct job *j)
{
	uv_close((uv_handle_t *)&j->proc, handle_closed);
	uv_close((uv_handle_t *)&j->out.pipe, handle_closed);
	uv_close((uv_handle_t *)&j->err.pipe, handle_closed);
	uv_close((uv_handle_t *)&j->status.pipe, handle_closed);
	uv_close((uv_handle_t *)&j->kill_timer, handle_closed);
	uv_close((uv_handle_t *)&j->sweep_timer, handle_closed);
}

/* Once the builder, its tree and both pipes are done: report, unlink, close everything. */
static void maybe_finish(struct job *j)
{
	if (j->finished || j->running || j->reaper_alive || !j->tree_done || j->out.open ||
	    j->err.open)
		return;
	j->finished = true;
	if (j->prev)
		j->prev->next = j->next;
	else
		live_jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->ops.exited(j, j->how, j->value, j->arg);
	close_all(j);
}

/*
 * Whether file names an executable regular file, itself or found on the
 * PATH of env, as execvp would look for it; else -1 with the reason.
 */
int job_find_program(const char *file, const char *const *env, char *err, size_t errlen)
{
	const char *path = "/usr/local/bin:/usr/bin:/bin";
	char full[4096];
	struct stat st;
	int e = ENOENT;
	if (strchr(file, '/')) {
		if (stat(file, &st) != 0)
			e = errno;
		else if (!S_ISREG(st.st_mode))
			e = EACCES;
		else if (access(file, X_OK) != 0)
			e = errno;
		else
			return 0;
	} else {
		for (size_t i = 0; env && env[i]; i++)
			if (strncmp(env[i], "PATH=", 5) == 0)
				path = env[i] + 5;
		for (const char *p = path;; p++) {
			size_t len = strcspn(p, ":");
			snprintf(full, sizeof(full), "%.*s%s%s", (int)len, p, len ? "/" : "", file);
			if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
				return 0;
			p += len;
			if (!*p)
				break;
		}
	}
	snprintf(err, errlen, "cannot start %s: %s", file, strerror(e));
	return -1;
}

void job_set_builder_nofile(unsigned long soft)
{
	builder_nofile = soft;
}

int job_start(uv_loop_t *loop, const struct job_spec *spec, const struct job_ops *ops, void *arg,
              struct job **out, char *err, size_t errlen)
{
	/* The reaper execs the builder later: a missing one is reported now, as uv_spawn would. */
	if (job_find_program(spec->argv[0], spec->env, err, errlen) != 0)
		return -1;
	size_t argc = 0;
	while (spec->argv[argc])
		argc++;
	const char **args = calloc(argc + 4, sizeof(*args));
	struct job *j = calloc(1, sizeof(*j));
	if (!j || !args) {
		free(j);
		free(args);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	args[0] = "r2k";
	args[1] = REAPER_COMMAND;
	char nofile[24] = "-";
	if (builder_nofile)
		snprintf(nofile, sizeof(nofile), "%lu", builder_nofile);
	args[2] = nofile;
	memcpy(args + 3, spec->argv, argc * sizeof(*args));
	j->loop = loop;
	j->ops = *ops;
	if (!j->ops.alloc)
		j->ops.alloc = peer_buf_alloc;
	if (!j->ops.release)
		j->ops.release = peer_buf_free;
	j->arg = arg;
	j->conn_id = spec->conn_id;
	snprintf(j->name, sizeof(j->name), "%s", spec->name ? spec->name : "builder");
	j->kill_ms = spec->kill_timeout > 0 ? (uint64_t)(spec->kill_timeout * 1000) : 0;
	struct job_pipe *pp[2] = {&j->out, &j->err};
	for (int i = 0; i < 2; i++) {
		uv_pipe_init(loop, &pp[i]->pipe, 0);
		pp[i]->pipe.data = pp[i];
		pp[i]->job = j;
		pp[i]->which = i == 0 ? JOB_STDOUT : JOB_STDERR;
	}
	uv_pipe_init(loop, &j->status.pipe, 0);
	j->status.pipe.data = &j->status;
	j->status.job = j;
	uv_timer_init(loop, &j->kill_timer);
	uv_timer_init(loop, &j->sweep_timer);
	j->kill_timer.data = j->sweep_timer.data = j;
	j->handles = 6;

	uv_stdio_container_t stdio[REAPER_FD + 1];
	stdio[0].flags = UV_IGNORE; /* libuv opens /dev/null */
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&j->out.pipe;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&j->err.pipe;
	stdio[REAPER_FD].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[REAPER_FD].data.stream = (uv_stream_t *)&j->status.pipe;
	uv_process_options_t o;
	memset(&o, 0, sizeof(o));
	o.exit_cb = on_exit_cb;
	/* The reaper is this very program (reaper.c): its main() must dispatch REAPER_COMMAND. */
	o.file = "/proc/self/exe";
	o.args = (char **)args;
	o.env = (char **)spec->env;
	o.cwd = spec->cwd;
	o.flags = UV_PROCESS_DETACHED; /* a new session: its own process group */
	o.stdio_count = REAPER_FD + 1;
	o.stdio = stdio;
	j->proc.data = j;
	int rc = uv_spawn(loop, &j->proc, &o);
	free(args);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start %s: %s", spec->argv[0], uv_strerror(rc));
		j->finished = true;
		close_all(j); /* uv_process_t is closed even when uv_spawn fails */
		return -1;
	}
	j->pid = j->proc.pid;
	j->running = j->reaper_alive = true;
	j->out.open = j->err.open = true;
	pipe_start(&j->out);
	pipe_start(&j->err);
	uv_read_start((uv_stream_t *)&j->status.pipe, status_alloc_cb, status_read_cb);
	j->next = live_jobs;
	if (live_jobs)
		live_jobs->prev = j;
	live_jobs = j;
	log_info(j->conn_id, "%s started (reaper pid %d): %s", j->name, j->pid, spec->argv[0]);
	*out = j;
	return 0;
}
