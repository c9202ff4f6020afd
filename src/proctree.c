/* proctree.c: read every process from /proc; find the descendants of one of them. */
#define _GNU_SOURCE /* qsort_r */
#include "proctree.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_pid(const void *a, const void *b, void *rows);
static long find(const struct proc_row *rows, const size_t *order, size_t n, int pid);

/* The kernel's per-task flag of a process in exit() (include/linux/sched.h). */
#define PF_EXITING 0x4

/* Every process's pid, parent, session and state, as /proc/PID/stat tells them. */
size_t proctree_read(struct proc_row *rows, size_t cap)
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
		/*
		 * pid (comm) state ppid pgrp session tty_nr tpgid flags ...; comm
		 * may hold spaces and parens.
		 */
		char *rp = strrchr(buf, ')');
		struct proc_row r;
		int pgrp;
		unsigned flags = 0;
		if (!rp || sscanf(rp + 1, " %c %d %d %d %*d %*d %u", &r.state, &r.ppid, &pgrp,
		                  &r.sid, &flags) < 4)
			continue;
		r.pid = atoi(de->d_name);
		r.exiting = (flags & PF_EXITING) != 0;
		rows[n++] = r;
	}
	closedir(d);
	return n;
}

/* Order row indexes by pid (the rows themselves stay as read). */
static int cmp_pid(const void *a, const void *b, void *rows)
{
	const struct proc_row *r = rows;
	int pa = r[*(const size_t *)a].pid, pb = r[*(const size_t *)b].pid;
	return (pa > pb) - (pa < pb);
}

/* Index of the row with this pid, or -1. */
static long find(const struct proc_row *rows, const size_t *order, size_t n, int pid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int p = rows[order[mid]].pid;
		if (p == pid)
			return (long)order[mid];
		if (p < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Mark the rows below root in the parent tree; O(n log n) whatever the depth. */
size_t proctree_descendants(const struct proc_row *rows, size_t n, int root, bool *in)
{
	/* Walk up from each row, remembering the answer for every row passed. */
	enum { UNKNOWN, YES, NO, VISITING };
	size_t *order = malloc((n ? n : 1) * sizeof(*order));
	unsigned char *memo = calloc(n ? n : 1, 1);
	size_t *path = malloc((n ? n : 1) * sizeof(*path));
	size_t count = 0;
	if (!order || !memo || !path)
		goto out;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_pid, (void *)rows);
	for (size_t i = 0; i < n; i++) {
		size_t depth = 0;
		long k = (long)i;
		unsigned char answer = NO;
		while (k >= 0 && memo[k] == UNKNOWN && rows[k].pid != root) {
			memo[k] = VISITING;
			path[depth++] = (size_t)k;
			if (rows[k].ppid == root) {
				answer = YES;
				k = -1;
				break;
			}
			k = rows[k].ppid > 0 ? find(rows, order, n, rows[k].ppid) : -1;
		}
		if (k >= 0 && memo[k] == YES)
			answer = YES;
		for (size_t p = 0; p < depth; p++)
			memo[path[p]] = answer; /* a cycle (pid reuse mid-read) ends as NO */
	}
	for (size_t i = 0; i < n; i++) {
		if (memo[i] == YES && rows[i].pid != root) {
			in[i] = true;
			count++;
		}
	}
out:
	free(order);
	free(memo);
	free(path);
	return count;
}
