/* workspace.h: a build's private directory under --workspace. */
#ifndef R2K_WORKSPACE_H
#define R2K_WORKSPACE_H

#include <stddef.h>

/*
 * PARENT/PREFIX-XXXXXX, mode 0700, held under an exclusive flock(2) on the
 * directory itself for as long as the build owns it. The lock goes with the
 * runner's process, however it ends: a directory whose lock is free belongs
 * to nobody, and workspace_sweep removes it.
 */
struct workspace {
	char *path; /* NULL: none */
	int lock;   /* the directory, open and locked; -1: none */
};

#define WORKSPACE_NONE                                                                             \
	{                                                                                          \
		.path = NULL, .lock = -1                                                           \
	}

/* Create PARENT (and its ancestors) when missing, then the workspace; -1 + err. */
int workspace_create(struct workspace *ws, const char *parent, const char *prefix, char *err,
                     size_t errlen);

/* Remove the directory and everything in it, then drop the lock; 0 or -1 with errno. */
int workspace_remove(struct workspace *ws);

/*
 * Remove what runners that were killed left in PARENT: workspaces
 * (build-XXXXXX, legacy-XXXXXX holding the mark workspace_create makes in
 * each) of this user that nobody holds. Returns how many went; each is
 * logged.
 */
int workspace_sweep(const char *parent);

#endif
