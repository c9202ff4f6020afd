/* workspace.c: build workspaces: created locked, removed with their credentials, swept after a
 * crash. */
#include "workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract.h"
#include "log.h"

static const char *const prefixes[] = {"build-", "legacy-"};

/*
 * Made in each workspace under its lock: the sweep removes only directories
 * that hold it, never another program's PARENT/build-XXXXXX (mktemp -d makes
 * such names, in /tmp too, buildah's default parent).
 */
#define WORKSPACE_MARK ".r2k-workspace"

static int make_parent(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s", dir) >= sizeof(path)) {
		snprintf(err, errlen, "workspace path too long");
		return -1;
	}
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, c ? 0755 : 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create workspace directory %.300s: %s", path,
			         strerror(errno));
			return -1;
		}
		*p = c;
		if (!c)
			return 0;
	}
}

int workspace_create(struct workspace *ws, const char *parent, const char *prefix, char *err,
                     size_t errlen)
{
	char path[PATH_MAX];
	ws->path = NULL;
	ws->lock = -1;
	if (make_parent(parent, err, errlen) != 0)
		return -1;
	if ((size_t)snprintf(path, sizeof(path), "%s/%sXXXXXX", parent, prefix) >=
	    sizeof(path) - 64) {
		snprintf(err, errlen, "workspace path too long");
		return -1;
	}
	char tmpl[PATH_MAX];
	memcpy(tmpl, path, sizeof(tmpl));
	/*
	 * A runner sweeping PARENT may lock the new directory first: it leaves
	 * it alone (there is no mark yet), and this one removes it and tries
	 * another name. (Should the directory go before it is open, ENOENT, or
	 * before it is locked, no links left, the same.)
	 */
	int fd = -1;
	for (int tries = 0; fd < 0; tries++) {
		memcpy(path, tmpl, sizeof(path));
		if (!mkdtemp(path)) {
			snprintf(err, errlen, "cannot create a workspace in %.300s: %s", parent,
			         strerror(errno));
			return -1;
		}
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		if (fd >= 0) {
			struct stat st;
			if (flock(fd, LOCK_EX | LOCK_NB) != 0)
				e = errno;
			else if (fstat(fd, &st) != 0)
				e = errno;
			else if (st.st_nlink > 0)
				break;
			else
				e = ENOENT;
			close(fd);
			fd = -1;
		}
		rmdir(path);
		if ((e != EWOULDBLOCK && e != ENOENT) || tries == 7) {
			snprintf(err, errlen, "cannot lock workspace %.300s: %s", path,
			         strerror(e));
			return -1;
		}
	}
	int mark = openat(fd, WORKSPACE_MARK, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	                  0600);
	if (mark < 0) {
		snprintf(err, errlen, "cannot create %.300s/%s: %s", path, WORKSPACE_MARK,
		         strerror(errno));
		close(fd);
		rmdir(path);
		return -1;
	}
	close(mark);
	ws->path = strdup(path);
	if (!ws->path) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		extract_remove_tree(path);
		return -1;
	}
	ws->lock = fd;
	return 0;
}

int workspace_remove(struct workspace *ws)
{
	int rc = 0, saved = 0;
	if (ws->path) {
		rc = extract_remove_tree(ws->path);
		saved = errno;
		free(ws->path);
		ws->path = NULL;
	}
	if (ws->lock >= 0) {
		close(ws->lock);
		ws->lock = -1;
	}
	errno = saved;
	return rc;
}

/* Whether name is PREFIX plus mkdtemp's six characters, for one of ours. */
static bool is_workspace_name(const char *name)
{
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);
		if (strncmp(name, prefixes[i], n) == 0 && strlen(name + n) == 6)
			return true;
	}
	return false;
}

int workspace_sweep(const char *parent)
{
	int dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0; /* not created yet: nothing was left */
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	int removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!is_workspace_name(e->d_name))
			continue;
		int fd = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st, mst;
		if (fstat(fd, &st) != 0 || st.st_uid != geteuid() ||
		    flock(fd, LOCK_EX | LOCK_NB) != 0 ||
		    fstatat(fd, WORKSPACE_MARK, &mst, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(mst.st_mode)) {
			close(fd); /* another user's, in use, or not a workspace */
			continue;
		}
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
		if (extract_remove_tree(path) == 0) {
			log_info(0, "removed workspace %s, left behind by a runner that was killed",
			         path);
			removed++;
		} else {
			log_warn(0,
			         "cannot remove workspace %s, left behind by a runner that was "
			         "killed: %s",
			         path, strerror(errno));
		}
		close(fd);
	}
	closedir(d);
	return removed;
}
