/* reaper.c: "r2k __reap": run one builder as a child subreaper, report its end, reap its tree. */
#include "reaper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proctree.h"
#include "proto.h"

#define MAX_ROWS 32768

static void report(int kind, int a, int b);
static void kill_all_below(void);

/* One message to the runner; a runner that is gone is not an error. */
static void report(int kind, int a, int b)
{
	struct reaper_msg m = {.kind = kind, .a = a, .b = b};
	ssize_t n;
	do
		n = write(REAPER_FD, &m, sizeof(m));
	while (n < 0 && errno == EINTR);
}

/* The runner died: nobody will stop the build, so every process below us goes now. */
static void kill_all_below(void)
{
	struct proc_row *rows = malloc(MAX_ROWS * sizeof(*rows));
	bool *in = calloc(MAX_ROWS, sizeof(*in));
	if (rows && in) {
		size_t n = proctree_read(rows, MAX_ROWS);
		proctree_descendants(rows, n, getpid(), in);
		for (size_t i = 0; i < n; i++)
			if (in[i] && rows[i].state != 'Z')
				kill(rows[i].pid, SIGKILL);
	}
	free(rows);
	free(in);
}

int reaper_main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "r2k %s: usage: r2k %s NOFILE|- PROGRAM [ARG...]\n", REAPER_COMMAND,
		        REAPER_COMMAND);
		return 2;
	}
	char *end;
	unsigned long nofile = strcmp(argv[1], "-") == 0 ? 0 : strtoul(argv[1], &end, 10);
	if (strcmp(argv[1], "-") != 0 && (*end || !nofile)) {
		fprintf(stderr, "r2k %s: bad open-file limit \"%s\"\n", REAPER_COMMAND, argv[1]);
		return 2;
	}
	argv++;
	pid_t parent = getppid();
	/* Orphans of the build become ours, and the runner's death becomes a signal. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	prctl(PR_SET_PDEATHSIG, SIGHUP);
	fcntl(REAPER_FD, F_SETFD, FD_CLOEXEC);
	sigset_t wait_for, old;
	sigemptyset(&wait_for);
	sigaddset(&wait_for, SIGCHLD);
	sigaddset(&wait_for, SIGHUP);
	sigaddset(&wait_for, SIGTERM);
	sigaddset(&wait_for, SIGINT);
	sigaddset(&wait_for, SIGQUIT);
	sigprocmask(SIG_BLOCK, &wait_for, &old);
	signal(SIGPIPE, SIG_IGN);

	pid_t pid = fork();
	if (pid == 0) {
		/* The builder starts with the signal state the runner gave us. */
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		/* and with the open-file limit the runner itself was given */
		struct rlimit rl;
		if (nofile && getrlimit(RLIMIT_NOFILE, &rl) == 0 && nofile < rl.rlim_cur) {
			rl.rlim_cur = nofile;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		execvp(argv[1], argv + 1);
		fprintf(stderr, "r2k: cannot start %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		fprintf(stderr, "r2k: cannot start %s: %s\n", argv[1], strerror(errno));
		report(REAPER_MSG_EXITED, R2K_EXIT_CODE, 127);
		_exit(0);
	}
	report(REAPER_MSG_STARTED, pid, 0);
	/* Our copies of the output pipes would keep them open after the build's end. */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
	bool orphaned = getppid() != parent;
	for (;;) {
		int status;
		pid_t w;
		while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
			if (w != pid)
				continue;
			if (WIFSIGNALED(status))
				report(REAPER_MSG_EXITED, R2K_EXIT_SIGNAL, WTERMSIG(status));
			else
				report(REAPER_MSG_EXITED, R2K_EXIT_CODE, WEXITSTATUS(status));
		}
		/*
		 * Nothing of the build is left. _exit: no atexit work, which a
		 * sanitizer's leak check at exit would do (and, with these signals
		 * blocked, hang in).
		 */
		if (w < 0 && errno == ECHILD)
			_exit(0);
		/* Orphaned, keep killing: a process may have forked since the last round. */
		struct timespec tick = {.tv_nsec = 100 * 1000 * 1000};
		siginfo_t si;
		int sig = orphaned ? sigtimedwait(&wait_for, &si, &tick)
		                   : sigwaitinfo(&wait_for, &si);
		if (sig == SIGHUP && getppid() != parent)
			orphaned = true;
		if (orphaned)
			kill_all_below();
		/* SIGTERM and the like (a builder's "kill 0") are not for us. */
	}
}
