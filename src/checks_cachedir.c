/* checks_cachedir.c: whether Kaniko's base-image cache directory holds an image. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checks.h"

static bool valid_digest(const char *d);

/* ALGORITHM:HEX, nothing that could leave the directory. */
static bool valid_digest(const char *d)
{
	const char *c = strchr(d, ':');
	if (!c || c == d || !c[1])
		return false;
	for (const char *p = d; p < c; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p))
			return false;
	for (const char *p = c + 1; *p; p++)
		if (!isxdigit((unsigned char)*p))
			return false;
	return true;
}

int checks_cache_dir_has(const char *dir, const char *digest, double ttl, char *detail, size_t len)
{
	struct stat st;
	char path[4096];
	if (!digest || !valid_digest(digest)) {
		snprintf(detail, len, "no usable digest to look up in %s", dir);
		return -1;
	}
	if (stat(dir, &st) && errno == ENOENT) {
		snprintf(detail, len, "%s does not exist yet", dir);
		return 0;
	}
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		snprintf(detail, len, "cannot use cache directory %s: %s", dir,
		         errno ? strerror(errno) : "not a directory");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, digest);
	if (stat(path, &st)) {
		snprintf(detail, len, "%s not in %s", digest, dir);
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(detail, len, "%s is not a regular file", path);
		return 0;
	}
	double age = difftime(time(NULL), st.st_mtime);
	if (age > ttl) {
		snprintf(detail, len, "%s is stale (%.0f h old, TTL %.0f h)", path, age / 3600,
		         ttl / 3600);
		return 0;
	}
	char mpath[4200];
	snprintf(mpath, sizeof(mpath), "%s.json", path);
	struct stat ms;
	snprintf(detail, len, "%s%s", path,
	         stat(mpath, &ms) == 0 ? " (with manifest .json)" : " (no manifest .json)");
	return 1;
}
