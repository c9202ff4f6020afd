/* proctree.h: a snapshot of /proc and the descendants of one process in it. */
#ifndef R2K_PROCTREE_H
#define R2K_PROCTREE_H

#include <stdbool.h>
#include <stddef.h>

/* One process: its id, parent, session and state letter ('Z' for a zombie). */
struct proc_row {
	int pid, ppid, sid;
	char state;
	bool exiting; /* in exit(): its files are closed or closing, a zombie next */
};

/* Read up to cap processes from /proc into rows; returns how many. */
size_t proctree_read(struct proc_row *rows, size_t cap);

/*
 * Set in[i] for every row that descends from root through parent links
 * (root itself excluded); other entries of in are left alone. Returns how
 * many rows it set.
 */
size_t proctree_descendants(const struct proc_row *rows, size_t n, int root, bool *in);

#endif
