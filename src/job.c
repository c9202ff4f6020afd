/* job.c: spawn a builder without a shell, relay its pipes, kill and reap its whole process tree. */
#include "job.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "peer.h"
#include "proto.h"

#define SWEEP_MS         50              /* poll interval while waiting for a process tree to die */
#define SWEEP_GIVE_UP_MS 15000           /* after SIGKILL, stop waiting for unkillable processes */
#define SMALL_READ       (JOB_CHUNK / 8) /* reads below this are copied into a right-sized buffer */
#define MAX_TREE         4096

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
	uv_process_t proc;
	struct job_pipe out, err;
	uv_timer_t kill_timer, sweep_timer;
	struct job_ops ops;
	void *arg;
	unsigned long conn_id;
	char name[32];
	uint64_t kill_ms;
	uint64_t kill_sent_ms; /* when SIGKILL went out */
	int pid;
	int how, value; /* the builder's end */
	bool running;   /* the builder has not exited */
	bool paused;
	bool terming;   /* SIGTERM sent to the tree */
	bool killing;   /* SIGKILL sent to the tree */
	bool sweeping;  /* sweep timer active */
	bool tree_done; /* no process of the tree left */
	bool finished;  /* exited callback made */
	int handles;    /* handles still open */
};

/* One row of /proc. */
struct proc_row {
	int pid, ppid, sid;
	char state;
};

static struct job *live_jobs;

static void on_exit_cb(uv_process_t *p, int64_t status, int sig);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void pipe_start(struct job_pipe *jp);
static void on_kill_timer(uv_timer_t *t);
static void on_sweep(uv_timer_t *t);
static void start_sweep(struct job *j);
static size_t scan_tree(struct job *j, struct proc_row *rows, size_t nrows, int *tree, size_t cap);
static size_t read_proc(struct proc_row *rows, size_t cap);
static bool other_job_owns(const struct job *j, const struct proc_row *row);
static void signal_tree(struct job *j, int sig);
static bool sweep_once(struct job *j);
static void maybe_finish(struct job *j);
static void handle_closed(uv_handle_t *h);

/* Read every process from /proc: pid, parent, session and state. */
static size_t read_proc(struct proc_row *rows, size_t cap)
{
	DIR *d = opendir("/proc");
	size_t n = 0;
	struct dirent *de;
	if (!d)
		return 0;
	while (n < cap && (de = readdir(d))) {
		char path[300], buf[512];
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = 0;
		/* pid (comm) state ppid pgrp session ...; comm may hold spaces and parens. */
		char *rp = strrchr(buf, ')');
		struct proc_row r;
		int pgrp;
		if (!rp || sscanf(rp + 1, " %c %d %d %d", &r.state, &r.ppid, &pgrp, &r.sid) != 4)
			continue;
		r.pid = atoi(de->d_name);
		rows[n++] = r;
	}
	closedir(d);
	return n;
}

/* Whether row is another live job's builder or lives in another builder's session. */
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
 * The builder's process tree: the builder, its session, orphans the runner
 * inherited (not claimed by another job), and all their descendants.
 */
static size_t scan_tree(struct job *j, struct proc_row *rows, size_t nrows, int *tree, size_t cap)
{
	int self = getpid();
	size_t n = 0;
	bool *in = calloc(nrows ? nrows : 1, sizeof(bool));
	if (!in)
		return 0;
	for (size_t i = 0; i < nrows; i++) {
		const struct proc_row *r = &rows[i];
		if (r->pid == self || other_job_owns(j, r))
			continue;
		if ((j->running && r->pid == j->pid) || r->sid == j->pid ||
		    (r->ppid == self && r->pid != j->pid))
			in[i] = true;
	}
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < nrows; i++) {
			if (in[i] || rows[i].pid == self || other_job_owns(j, &rows[i]))
				continue;
			for (size_t k = 0; k < nrows; k++) {
				if (in[k] && rows[k].pid == rows[i].ppid) {
					in[i] = grew = true;
					break;
				}
			}
		}
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
		size_t nrows = read_proc(rows, MAX_TREE * 8);
		size_t n = scan_tree(j, rows, nrows, tree, MAX_TREE);
		for (size_t i = 0; i < n; i++) {
			const struct proc_row *r = &rows[tree[i]];
			if (r->state == 'Z')
				continue;
			if (r->pid == j->pid && j->running)
				uv_process_kill(&j->proc, sig);
			else
				kill(r->pid, sig);
		}
		log_debug(j->conn_id, "%s: sent signal %d to %zu process(es)", j->name, sig, n);
	}
	free(rows);
	free(tree);
}

/* Reap the runner's orphaned zombies of this tree; true when nothing of it is left. */
static bool sweep_once(struct job *j)
{
	struct proc_row *rows = malloc(MAX_TREE * 8 * sizeof(*rows));
	int *tree = malloc(MAX_TREE * sizeof(int));
	size_t left = 1;
	if (rows && tree) {
		int self = getpid();
		size_t nrows = read_proc(rows, MAX_TREE * 8);
		size_t n = scan_tree(j, rows, nrows, tree, MAX_TREE);
		left = 0;
		for (size_t i = 0; i < n; i++) {
			const struct proc_row *r = &rows[tree[i]];
			if (r->pid == j->pid && j->running) {
				left++;
				continue;
			}
			/* waitpid on this pid only: libuv reaps its own children. */
			if (r->ppid == self && waitpid(r->pid, NULL, WNOHANG) == r->pid)
				continue;
			if (r->ppid == self || r->state != 'Z')
				left++;
			if (j->killing && r->state != 'Z')
				kill(r->pid, SIGKILL);
		}
	}
	free(rows);
	free(tree);
	return left == 0;
}

static void start_sweep(struct job *j)
{
	if (j->sweeping)
		return;
	j->sweeping = true;
	uv_timer_start(&j->sweep_timer, on_sweep, 0, SWEEP_MS);
}

static void on_sweep(uv_timer_t *t)
{
	struct job *j = t->data;
	if (!sweep_once(j)) {
		/* Survivors after the builder exited on its own: stop them too. */
		if (!j->running && !j->terming) {
			j->terming = true;
			log_info(j->conn_id, "%s: killing processes left behind by the builder",
			         j->name);
			signal_tree(j, SIGTERM);
			uv_timer_start(&j->kill_timer, on_kill_timer, j->kill_ms, 0);
		}
		if (j->killing && uv_now(j->loop) - j->kill_sent_ms > SWEEP_GIVE_UP_MS) {
			log_error(j->conn_id, "%s: processes survive SIGKILL; giving up on them",
			          j->name);
		} else {
			return;
		}
	}
	if (j->running)
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
	         j->pid);
	signal_tree(j, SIGTERM);
	uv_timer_start(&j->kill_timer, on_kill_timer, j->kill_ms, 0);
	start_sweep(j);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct job *j = p->data;
	j->running = false;
	j->how = sig ? R2K_EXIT_SIGNAL : R2K_EXIT_CODE;
	j->value = sig ? sig : (int)status;
	log_info(j->conn_id, "%s (pid %d) %s %d", j->name, j->pid,
	         sig ? "killed by signal" : "exited with status", j->value);
	start_sweep(j);
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
	return j->pid;
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

/* Once the builder, its tree and both pipes are done: report, unlink, close everything. */
static void maybe_finish(struct job *j)
{
	if (j->finished || j->running || !j->tree_done || j->out.open || j->err.open)
		return;
	j->finished = true;
	if (j->prev)
		j->prev->next = j->next;
	else
		live_jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->ops.exited(j, j->how, j->value, j->arg);
	uv_close((uv_handle_t *)&j->proc, handle_closed);
	uv_close((uv_handle_t *)&j->out.pipe, handle_closed);
	uv_close((uv_handle_t *)&j->err.pipe, handle_closed);
	uv_close((uv_handle_t *)&j->kill_timer, handle_closed);
	uv_close((uv_handle_t *)&j->sweep_timer, handle_closed);
}

int job_start(uv_loop_t *loop, const struct job_spec *spec, const struct job_ops *ops, void *arg,
              struct job **out, char *err, size_t errlen)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
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
	uv_timer_init(loop, &j->kill_timer);
	uv_timer_init(loop, &j->sweep_timer);
	j->kill_timer.data = j->sweep_timer.data = j;
	j->handles = 5;

	uv_stdio_container_t stdio[3];
	stdio[0].flags = UV_IGNORE; /* libuv opens /dev/null */
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&j->out.pipe;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&j->err.pipe;
	uv_process_options_t o;
	memset(&o, 0, sizeof(o));
	o.exit_cb = on_exit_cb;
	o.file = spec->argv[0];
	o.args = (char **)spec->argv;
	o.env = (char **)spec->env;
	o.cwd = spec->cwd;
	o.flags = UV_PROCESS_DETACHED; /* a new session: its own process group */
	o.stdio_count = 3;
	o.stdio = stdio;
	j->proc.data = j;
	int rc = uv_spawn(loop, &j->proc, &o);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start %s: %s", spec->argv[0], uv_strerror(rc));
		j->finished = true;
		/* uv_process_t is closed even when uv_spawn fails. */
		uv_close((uv_handle_t *)&j->proc, handle_closed);
		uv_close((uv_handle_t *)&j->out.pipe, handle_closed);
		uv_close((uv_handle_t *)&j->err.pipe, handle_closed);
		uv_close((uv_handle_t *)&j->kill_timer, handle_closed);
		uv_close((uv_handle_t *)&j->sweep_timer, handle_closed);
		return -1;
	}
	j->pid = j->proc.pid;
	j->running = true;
	j->out.open = j->err.open = true;
	pipe_start(&j->out);
	pipe_start(&j->err);
	j->next = live_jobs;
	if (live_jobs)
		live_jobs->prev = j;
	live_jobs = j;
	log_info(j->conn_id, "%s started (pid %d): %s", j->name, j->pid, spec->argv[0]);
	*out = j;
	return 0;
}
