/* test_job.c: spawned builders: output per stream, exit status, killing a whole process tree. */
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "job.h"
#include "peer.h"
#include "proto.h"
#include "t.h"

struct result {
	char out[4096], err[4096];
	size_t nout, nerr;
	int how, value;
	bool done;
	struct job *job;
	uv_timer_t timer;
};

static void on_output(struct job *j, enum job_stream which, uint8_t *buf, size_t len, void *arg);
static void on_exited(struct job *j, int how, int value, void *arg);
static int run(const char *script, double kill_after, struct result *res);
static void on_timer(uv_timer_t *t);
static bool alive(int pid);

static const char *const env[] = {"PATH=/usr/bin:/bin", NULL};

static void on_output(struct job *j, enum job_stream which, uint8_t *buf, size_t len, void *arg)
{
	struct result *r = arg;
	char *dst = which == JOB_STDOUT ? r->out : r->err;
	size_t *n = which == JOB_STDOUT ? &r->nout : &r->nerr;
	if (*n + len < sizeof(r->out)) {
		memcpy(dst + *n, buf, len);
		*n += len;
		dst[*n] = 0;
	}
	peer_buf_free(buf);
}

static void on_exited(struct job *j, int how, int value, void *arg)
{
	struct result *r = arg;
	r->how = how;
	r->value = value;
	r->done = true;
	r->job = NULL;
	uv_timer_stop(&r->timer);
}

static void on_timer(uv_timer_t *t)
{
	struct result *r = t->data;
	if (r->job)
		job_kill(r->job);
}

/* Run sh -c script; kill it after kill_after seconds when > 0. */
static int run(const char *script, double kill_after, struct result *res)
{
	uv_loop_t loop;
	char err[256];
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	struct job_spec spec = {.argv = argv, .env = env, .kill_timeout = 0.3, .name = "test"};
	struct job_ops ops = {.output = on_output, .exited = on_exited};
	memset(res, 0, sizeof(*res));
	uv_loop_init(&loop);
	uv_timer_init(&loop, &res->timer);
	res->timer.data = res;
	int rc = job_start(&loop, &spec, &ops, res, &res->job, err, sizeof(err));
	if (rc == 0 && kill_after > 0)
		uv_timer_start(&res->timer, on_timer, (uint64_t)(kill_after * 1000), 0);
	if (rc != 0)
		fprintf(stderr, "job_start: %s\n", err);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&res->timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
	return rc;
}

static bool alive(int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", pid);
	return access(path, F_OK) == 0;
}

static void test_output_and_status(void)
{
	struct result r;
	CHECK_EQ(run("printf 'out 1\\n'; printf 'err 1\\n' >&2; printf 'last'; exit 3", 0, &r), 0);
	CHECK(r.done);
	CHECK_STR(r.out, "out 1\nlast");
	CHECK_STR(r.err, "err 1\n");
	CHECK_EQ(r.how, R2K_EXIT_CODE);
	CHECK_EQ(r.value, 3);
}

static void test_environment(void)
{
	struct result r;
	CHECK_EQ(run("env | sort; ls -l /proc/self/fd/0", 0, &r), 0);
	CHECK(strstr(r.out, "PATH=/usr/bin:/bin\n") != NULL);
	CHECK(strstr(r.out, "HOME=") == NULL);
	CHECK(strstr(r.out, "/dev/null") != NULL);
}

static void test_spawn_failure(void)
{
	uv_loop_t loop;
	char err[256] = "";
	const char *argv[] = {"/nonexistent/builder", NULL};
	struct job_spec spec = {.argv = argv, .env = env, .name = "test"};
	struct job_ops ops = {.output = on_output, .exited = on_exited};
	struct result r;
	struct job *j = NULL;
	memset(&r, 0, sizeof(r));
	uv_loop_init(&loop);
	CHECK_EQ(job_start(&loop, &spec, &ops, &r, &j, err, sizeof(err)), -1);
	CHECK(strstr(err, "/nonexistent/builder") != NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(!r.done);
	CHECK_EQ(uv_loop_close(&loop), 0);
}

static void test_kill_tree(void)
{
	struct result r;
	/* A child in a new session that ignores SIGTERM, and an orphan whose parent exits. */
	CHECK_EQ(run("setsid sh -c 'trap \"\" TERM; echo $$; exec sleep 1000' & "
	             "sh -c 'sleep 1000 & echo $!' ; sleep 1000",
	             0.5, &r),
	         0);
	CHECK(r.done);
	CHECK_EQ(r.how, R2K_EXIT_SIGNAL);
	CHECK_EQ(r.value, SIGTERM);
	int a = 0, b = 0;
	CHECK_EQ(sscanf(r.out, "%d\n%d", &a, &b) == 2 || sscanf(r.out, "%d %d", &a, &b) == 2, 1);
	CHECK(a > 0 && !alive(a));
	CHECK(b > 0 && !alive(b));
}

static void test_leftovers_after_exit(void)
{
	struct result r;
	/* The builder exits at once; its background child is killed and reaped. */
	CHECK_EQ(run("sleep 1000 >/dev/null 2>&1 & echo $!; exit 0", 0, &r), 0);
	CHECK(r.done);
	CHECK_EQ(r.how, R2K_EXIT_CODE);
	CHECK_EQ(r.value, 0);
	int a = atoi(r.out);
	CHECK(a > 0 && !alive(a));
}

int main(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	RUN(test_output_and_status);
	RUN(test_environment);
	RUN(test_spawn_failure);
	RUN(test_kill_tree);
	RUN(test_leftovers_after_exit);
	return T_DONE();
}
