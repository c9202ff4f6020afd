/* reaper.h: the parent of one builder: "r2k __reap NOFILE PROG ARG...", run by job.c. */
#ifndef R2K_REAPER_H
#define R2K_REAPER_H

#include <stdint.h>

/*
 * The reaper is a child subreaper: every process the builder starts, even
 * one that leaves its session and is orphaned, stays below it, so that one
 * build's processes are told from another's. It reports on REAPER_FD.
 */
#define REAPER_COMMAND "__reap"
#define REAPER_FD      3

/* What the reaper writes on REAPER_FD, in the runner's own byte order. */
struct reaper_msg {
	int32_t kind; /* REAPER_MSG_STARTED or REAPER_MSG_EXITED */
	int32_t a;    /* STARTED: the builder's pid; EXITED: how (enum r2k_exit_how) */
	int32_t b;    /* EXITED: the exit code or signal */
};
#define REAPER_MSG_STARTED 'P'
#define REAPER_MSG_EXITED  'X'

/*
 * argv: REAPER_COMMAND, the soft open-file limit the builder starts with
 * ("-": the reaper's own), then the builder's argv. Runs the builder (PATH
 * searched, in this environment), reports its pid and its end, reaps every
 * orphan until none is left, then exits 0. A builder that cannot be
 * executed says why on stderr and ends with status 127. When the runner
 * dies, every process below the reaper is killed.
 */
int reaper_main(int argc, char **argv);

#endif
