/* extract_fs.h: path checks and symlink-proof file operations below a directory fd. */
#ifndef R2K_EXTRACT_FS_H
#define R2K_EXTRACT_FS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Normalise an archive or request path to "a/b/c": "." and empty components
 * dropped. Returns 1 for a valid path, 0 when nothing is left (the root
 * itself), -1 for an absolute name or a ".." component (*why says which).
 */
int xfs_normalize(const char *name, char *out, size_t outlen, const char **why);

/*
 * Open the directory holding the last component of rel (normalised) below
 * rootfd, component by component with O_NOFOLLOW|O_DIRECTORY; missing
 * directories are created (mode 0755) when create is true. Returns the fd
 * (the caller closes it; rootfd itself is dup'd) and sets *base to the last
 * component, or -1 with a reason in why (a symlink or a non-directory on the
 * way, a system error).
 */
int xfs_open_parent(int rootfd, const char *rel, bool create, const char **base, char *why,
                    size_t whylen);

/*
 * Make room for a new entry base in dirfd: a non-directory is unlinked; a
 * directory is kept when keep_dir, else removed if empty. Returns 0, 1 when
 * a directory was kept, or -1 with a reason.
 */
int xfs_clear(int dirfd, const char *base, bool keep_dir, char *why, size_t whylen);

/* Remove path and all below it, never following symlinks. 0, or -1 with errno. */
int xfs_remove_tree(const char *path);

#endif
