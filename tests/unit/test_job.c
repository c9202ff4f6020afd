/* test_job.c: spawned builders: output per stream, exit status, killing a whole process tree. */
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"
#include "peer.h"
#include "proto.h"
#include "reaper.h"
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
static void start(uv_loop_t *loop, const char *script, struct result *r);

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
	CHECK_EQ(run("env | sort; ls -l /proc/self/fd/0; [ -e /proc/$$/fd/3 ] && echo fd 3 leaked",
	             0, &r),
	         0);
	CHECK(strstr(r.out, "PATH=/usr/bin:/bin\n") != NULL);
	CHECK(strstr(r.out, "fd 3 leaked") == NULL);
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

static void test_leftovers_still_writing(void)
{
	struct result r;
	/* Children that write after the builder exited, holding its pipes: not killed, all relayed.
	 */
	CHECK_EQ(run("(sleep 0.3; echo late out; echo late err >&2) & "
	             "(sleep 0.2; printf 'later') & exit 0",
	             0, &r),
	         0);
	CHECK(r.done);
	CHECK_EQ(r.value, 0);
	CHECK(strstr(r.out, "late out\n") != NULL);
	CHECK(strstr(r.out, "later") != NULL);
	CHECK_STR(r.err, "late err\n");
}

static void test_leftover_holding_the_pipes(void)
{
	struct result r;
	/* A daemon that keeps the builder's stdout open is stopped after the grace period. */
	CHECK_EQ(run("sleep 1000 & echo $!; exit 0", 0, &r), 0);
	CHECK(r.done);
	CHECK_EQ(r.value, 0);
	int a = atoi(r.out);
	CHECK(a > 0 && !alive(a));
}

/* Start sh -c script as a job of loop. */
static void start(uv_loop_t *loop, const char *script, struct result *r)
{
	char err[256];
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	struct job_spec spec = {.argv = argv, .env = env, .kill_timeout = 0.3, .name = "test"};
	struct job_ops ops = {.output = on_output, .exited = on_exited};
	memset(r, 0, sizeof(*r));
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	CHECK_EQ(job_start(loop, &spec, &ops, r, &r->job, err, sizeof(err)), 0);
}

/*
 * Two builds at once: when one ends, a daemon the other started (double
 * fork and setsid: an orphan in a session of its own) is left alone; it
 * goes with its own build.
 */
static void test_jobs_keep_their_own_trees(void)
{
	uv_loop_t loop;
	struct result a, b;
	uv_loop_init(&loop);
	start(&loop, "sh -c 'setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!'; sleep 1000",
	      &b);
	while (!strchr(b.out, '\n'))
		uv_run(&loop, UV_RUN_ONCE);
	int daemon = atoi(b.out);
	CHECK(daemon > 0 && alive(daemon));
	start(&loop, "echo quick", &a);
	while (!a.done)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK_EQ(a.value, 0);
	CHECK(!b.done);
	CHECK(alive(daemon));
	job_kill(b.job);
	while (!b.done)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(!alive(daemon));
	uv_close((uv_handle_t *)&a.timer, NULL);
	uv_close((uv_handle_t *)&b.timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
}

/* A builder that cannot be executed after all (a missing interpreter) ends with 127 and says why.
 */
static void test_exec_failure(void)
{
	struct result r;
	char path[] = "/tmp/r2k-test-job-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "#!/nonexistent/interpreter\n", 27), 27);
	close(fd);
	chmod(path, 0755);
	uv_loop_t loop;
	char err[256];
	const char *argv[] = {path, NULL};
	struct job_spec spec = {.argv = argv, .env = env, .name = "test"};
	struct job_ops ops = {.output = on_output, .exited = on_exited};
	memset(&r, 0, sizeof(r));
	uv_loop_init(&loop);
	CHECK_EQ(job_start(&loop, &spec, &ops, &r, &r.job, err, sizeof(err)), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(r.done);
	CHECK_EQ(r.how, R2K_EXIT_CODE);
	CHECK_EQ(r.value, 127);
	CHECK(strstr(r.err, "cannot start") != NULL);
	CHECK_EQ(uv_loop_close(&loop), 0);
	unlink(path);
}

int main(int argc, char **argv)
{
	/* job.c runs each builder below this very program as its reaper. */
	if (argc > 1 && strcmp(argv[1], REAPER_COMMAND) == 0)
		return reaper_main(argc - 1, argv + 1);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	RUN(test_output_and_status);
	RUN(test_environment);
	RUN(test_spawn_failure);
	RUN(test_kill_tree);
	RUN(test_leftovers_after_exit);
	RUN(test_leftovers_still_writing);
	RUN(test_leftover_holding_the_pipes);
	RUN(test_jobs_keep_their_own_trees);
	RUN(test_exec_failure);
	return T_DONE();
}
