/* extract_fs.c: path checks and symlink-proof file operations below a directory fd. */
#include "extract_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int remove_at(int dirfd, const char *name, int depth);

int xfs_normalize(const char *name, char *out, size_t outlen, const char **why)
{
	size_t n = 0;
	if (!name || !*name) {
		*why = "empty name";
		return -1;
	}
	if (name[0] == '/') {
		*why = "absolute name";
		return -1;
	}
	const char *p = name;
	while (*p) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			*why = "name leaves the workspace";
			return -1;
		}
		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (n + len + 2 > outlen) {
				*why = "name too long";
				return -1;
			}
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	out[n] = 0;
	return n ? 1 : 0;
}

int xfs_open_parent(int rootfd, const char *rel, bool create, const char **base, char *why,
                    size_t whylen)
{
	int fd = dup(rootfd);
	const char *p = rel;
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	for (;;) {
		const char *slash = strchr(p, '/');
		if (!slash)
			break;
		char comp[256];
		size_t len = (size_t)(slash - p);
		if (len >= sizeof(comp)) {
			snprintf(why, whylen, "path component too long");
			close(fd);
			return -1;
		}
		memcpy(comp, p, len);
		comp[len] = 0;
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
				snprintf(why, whylen, "cannot create directory '%.*s': %s",
				         (int)(slash - rel), rel, strerror(errno));
				close(fd);
				return -1;
			}
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			struct stat st;
			int e = errno;
			if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				snprintf(why, whylen, "path goes through the symlink '%.*s'",
				         (int)(slash - rel), rel);
			else if (e == ENOTDIR || e == ELOOP)
				snprintf(why, whylen, "'%.*s' is not a directory",
				         (int)(slash - rel), rel);
			else
				snprintf(why, whylen, "'%.*s': %s", (int)(slash - rel), rel,
				         strerror(e));
			close(fd);
			return -1;
		}
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*base = p;
	return fd;
}

int xfs_clear(int dirfd, const char *base, bool keep_dir, char *why, size_t whylen)
{
	struct stat st;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		if (keep_dir)
			return 1;
		if (unlinkat(dirfd, base, AT_REMOVEDIR) != 0) {
			snprintf(why, whylen, "replaces a directory that is not empty");
			return -1;
		}
		return 0;
	}
	if (unlinkat(dirfd, base, 0) != 0) {
		snprintf(why, whylen, "cannot replace an earlier entry: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Remove name in dirfd recursively (depth bounds the recursion). */
static int remove_at(int dirfd, const char *name, int depth)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth > 4096) {
		errno = ELOOP;
		return -1;
	}
	/* A directory without write or search permission for us still goes. */
	fchmodat(dirfd, name, 0700, 0);
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (remove_at(fd, de->d_name, depth + 1) != 0)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int xfs_remove_tree(const char *path)
{
	return remove_at(AT_FDCWD, path, 0);
}
