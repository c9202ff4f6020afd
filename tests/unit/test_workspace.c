/* test_workspace.c: workspaces under lock, the sweep of those nobody holds, and a sweep that
 * races with a runner creating one. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "workspace.h"

static void test_sweep_leaves_what_is_not_ours(void);
static void test_sweep_removes_unreadable_leftovers(void);
static void test_parent_is_a_symlink(void);
static void test_sweep_before_open(void);
static void test_sweep_before_lock(void);
static void test_sweeper_holds_the_lock(void);

/*
 * Another runner sweeping the same parent, at the worst moments: right after
 * mkdtemp (it is done before the new directory is opened), or right before
 * the creator's flock (it is done before the lock is taken).
 */
static const char *sweep_parent;
static enum { SWEEP_NEVER, SWEEP_AFTER_MKDTEMP, SWEEP_BEFORE_FLOCK, SWEEP_HOLDS_LOCK } sweep_when;
static bool sweeping;
static int sweeps;

static void race_sweep(void)
{
	sweep_when = SWEEP_NEVER; /* once */
	sweeping = true;
	sweeps += workspace_sweep(sweep_parent);
	sweeping = false;
}

char *mkdtemp(char *tmpl)
{
	char *(*real)(char *) = (char *(*)(char *))dlsym(RTLD_NEXT, "mkdtemp");
	char *r = real(tmpl);
	if (r && sweep_when == SWEEP_AFTER_MKDTEMP)
		race_sweep();
	return r;
}

int flock(int fd, int op)
{
	int (*real)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
	if (!sweeping && sweep_when == SWEEP_BEFORE_FLOCK)
		race_sweep();
	if (sweep_when == SWEEP_HOLDS_LOCK) {
		/* A sweeper has the new directory locked while it looks for the mark. */
		char self[64];
		sweep_when = SWEEP_NEVER;
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		int held = open(self, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		CHECK(held >= 0 && real(held, LOCK_EX | LOCK_NB) == 0);
		int rc = real(fd, op);
		CHECK(rc != 0);
		close(held);
		return rc;
	}
	return real(fd, op);
}

static char *tmpdir(void)
{
	char t[] = "/tmp/r2k-test-ws-XXXXXX";
	char *d = mkdtemp(t);
	return d ? strdup(d) : NULL;
}

static void rm_rf(const char *d)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", d, d);
	CHECK_EQ(system(cmd), 0);
}

/* What a killed runner leaves: a workspace directory with its mark. */
static void leftover(const char *path)
{
	char p[600];
	CHECK_EQ(mkdir(path, 0700), 0);
	snprintf(p, sizeof(p), "%s/.r2k-workspace", path);
	int fd = open(p, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
}

static bool one_entry(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
	return system(cmd) == 0;
}

static bool exists(const char *dir, const char *name)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

static void test_sweep_leaves_what_is_not_ours(void)
{
	char *t = tmpdir(), p[512], q[512];
	char err[256];
	CHECK(t != NULL);
	snprintf(p, sizeof(p), "%s/ws", t);
	CHECK_EQ(mkdir(p, 0700), 0);
	/* A symbolic link with a workspace's name, to a directory outside. */
	snprintf(q, sizeof(q), "%s/outside", t);
	CHECK_EQ(mkdir(q, 0700), 0);
	snprintf(q, sizeof(q), "%s/outside/keep", t);
	close(open(q, O_CREAT | O_WRONLY, 0600));
	snprintf(q, sizeof(q), "%s/outside", t);
	snprintf(p, sizeof(p), "%s/ws/build-abcdef", t);
	CHECK_EQ(symlink(q, p), 0);
	/* A file with a workspace's name. */
	snprintf(p, sizeof(p), "%s/ws/legacy-abcdef", t);
	close(open(p, O_CREAT | O_WRONLY, 0600));
	/* A workspace in use. */
	struct workspace live = WORKSPACE_NONE;
	snprintf(p, sizeof(p), "%s/ws", t);
	CHECK_EQ(workspace_create(&live, p, "build-", err, sizeof(err)), 0);
	/* One nobody holds. */
	snprintf(q, sizeof(q), "%s/ws/build-XyZ123", t);
	leftover(q);
	/* Another program's directory of that name (mktemp -d -t build-XXXXXX). */
	snprintf(q, sizeof(q), "%s/ws/build-mktemp", t);
	CHECK_EQ(mkdir(q, 0700), 0);
	snprintf(q, sizeof(q), "%s/ws/build-mktemp/data", t);
	close(open(q, O_CREAT | O_WRONLY, 0600));
	/* A mark that is not a file. */
	snprintf(q, sizeof(q), "%s/ws/legacy-dirmrk", t);
	CHECK_EQ(mkdir(q, 0700), 0);
	snprintf(q, sizeof(q), "%s/ws/legacy-dirmrk/.r2k-workspace", t);
	CHECK_EQ(mkdir(q, 0700), 0);

	CHECK_EQ(workspace_sweep(p), 1);
	CHECK(exists(p, "build-abcdef"));
	CHECK(exists(p, "legacy-abcdef"));
	CHECK(!exists(p, "build-XyZ123"));
	CHECK(exists(p, "build-mktemp/data"));
	CHECK(exists(p, "legacy-dirmrk"));
	CHECK(exists(t, "outside/keep"));
	CHECK(live.path && access(live.path, F_OK) == 0);
	CHECK_EQ(workspace_remove(&live), 0);
	rm_rf(t);
	free(t);
}

static void test_sweep_removes_unreadable_leftovers(void)
{
	char *t = tmpdir(), p[512];
	CHECK(t != NULL);
	snprintf(p, sizeof(p), "%s/build-aaaaaa/context/sub", t);
	char cmd[3000];
	snprintf(cmd, sizeof(cmd),
	         "mkdir -p '%s' && touch '%s/f' '%s/../../.r2k-workspace' && chmod 0 '%s' '%s/..'",
	         p, p, p, p, p);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(workspace_sweep(t), 1);
	CHECK(!exists(t, "build-aaaaaa"));
	rm_rf(t);
	free(t);
}

static void test_parent_is_a_symlink(void)
{
	char *t = tmpdir(), p[512], q[512], err[256];
	CHECK(t != NULL);
	snprintf(p, sizeof(p), "%s/real", t);
	CHECK_EQ(mkdir(p, 0700), 0);
	snprintf(q, sizeof(q), "%s/link", t);
	CHECK_EQ(symlink(p, q), 0);
	struct workspace ws = WORKSPACE_NONE;
	CHECK_EQ(workspace_create(&ws, q, "legacy-", err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/real/legacy-bbbbbb", t);
	leftover(p);
	CHECK_EQ(workspace_sweep(q), 1);
	CHECK(ws.path && access(ws.path, F_OK) == 0);
	CHECK_EQ(workspace_remove(&ws), 0);
	CHECK(!exists(t, "real/legacy-bbbbbb"));
	rm_rf(t);
	free(t);
}

/* A sweep between mkdtemp and the creator's open: the new directory has no mark yet. */
static void test_sweep_before_open(void)
{
	char *t = tmpdir(), err[256];
	CHECK(t != NULL);
	struct workspace ws = WORKSPACE_NONE;
	sweep_parent = t;
	sweeps = 0;
	sweep_when = SWEEP_AFTER_MKDTEMP;
	int rc = workspace_create(&ws, t, "build-", err, sizeof(err));
	if (rc)
		fprintf(stderr, "workspace_create: %s\n", err);
	CHECK_EQ(rc, 0);
	CHECK_EQ(sweeps, 0);
	CHECK(ws.path && access(ws.path, F_OK) == 0);
	CHECK(one_entry(t));
	CHECK_EQ(workspace_remove(&ws), 0);
	rm_rf(t);
	free(t);
}

/* A sweep between the creator's open and its lock. */
static void test_sweep_before_lock(void)
{
	char *t = tmpdir(), err[256];
	CHECK(t != NULL);
	struct workspace ws = WORKSPACE_NONE;
	sweep_parent = t;
	sweeps = 0;
	sweep_when = SWEEP_BEFORE_FLOCK;
	int rc = workspace_create(&ws, t, "build-", err, sizeof(err));
	if (rc)
		fprintf(stderr, "workspace_create: %s\n", err);
	CHECK_EQ(rc, 0);
	CHECK_EQ(sweeps, 0);
	CHECK(ws.path && access(ws.path, F_OK) == 0);
	CHECK(one_entry(t));
	char p[512];
	snprintf(p, sizeof(p), "%s/context", ws.path ? ws.path : "/nonexistent");
	CHECK_EQ(mkdir(p, 0755), 0);
	CHECK_EQ(workspace_remove(&ws), 0);
	rm_rf(t);
	free(t);
}

/* The creator finds the new directory locked: it tries another, leaving nothing behind. */
static void test_sweeper_holds_the_lock(void)
{
	char *t = tmpdir(), err[256];
	CHECK(t != NULL);
	struct workspace ws = WORKSPACE_NONE;
	sweep_when = SWEEP_HOLDS_LOCK;
	int rc = workspace_create(&ws, t, "build-", err, sizeof(err));
	if (rc)
		fprintf(stderr, "workspace_create: %s\n", err);
	CHECK_EQ(rc, 0);
	CHECK(sweep_when == SWEEP_NEVER);
	CHECK(ws.path && access(ws.path, F_OK) == 0);
	CHECK(one_entry(t));
	CHECK_EQ(workspace_remove(&ws), 0);
	rm_rf(t);
	free(t);
}

int main(void)
{
	RUN(test_sweep_leaves_what_is_not_ours);
	RUN(test_sweep_removes_unreadable_leftovers);
	RUN(test_parent_is_a_symlink);
	RUN(test_sweep_before_open);
	RUN(test_sweep_before_lock);
	RUN(test_sweeper_holds_the_lock);
	return T_DONE();
}
