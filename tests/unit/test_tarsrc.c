/* test_tarsrc.c: the context tar producer, read back with libarchive. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t.h"
#include "tarsrc.h"

static char tmp[256];
static int warnings;
static char last_warning[1024];

static void on_warn(const char *msg, void *arg);
static void put_file(const char *rel, const char *data, mode_t mode);
static uint8_t *produce(const char *dir, size_t chunk, size_t *total, int *rc);
static void make_tree(void);
static void rm_tree(void);

static void on_warn(const char *msg, void *arg)
{
	(void)arg;
	warnings++;
	snprintf(last_warning, sizeof(last_warning), "%s", msg);
}

/* Create tmp/rel holding data with the given mode. */
static void put_file(const char *rel, const char *data, mode_t mode)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0) {
		perror(p);
		exit(1);
	}
	if (write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		exit(1);
	close(fd);
	chmod(p, mode);
}

/* Run tarsrc over dir in chunks of the given size; returns the whole stream. */
static uint8_t *produce(const char *dir, size_t chunk, size_t *total, int *rc)
{
	char err[512];
	struct tarsrc *t = tarsrc_open(dir, on_warn, NULL, err, sizeof(err));
	*total = 0;
	*rc = -2;
	if (!t) {
		fprintf(stderr, "tarsrc_open: %s\n", err);
		return NULL;
	}
	size_t cap = 1 << 20;
	uint8_t *all = malloc(cap);
	uint8_t *buf = malloc(chunk);
	for (;;) {
		size_t n;
		int r = tarsrc_fill(t, buf, chunk, &n);
		CHECK(n <= chunk);
		while (*total + n > cap)
			all = realloc(all, cap *= 2);
		memcpy(all + *total, buf, n);
		*total += n;
		if (r <= 0) {
			*rc = r;
			if (r < 0)
				snprintf(last_warning, sizeof(last_warning), "%s", tarsrc_error(t));
			break;
		}
	}
	free(buf);
	tarsrc_free(t);
	return all;
}

static void make_tree(void)
{
	char p[4096], longname[151];
	snprintf(tmp, sizeof(tmp), "/tmp/r2k-tarsrc-XXXXXX");
	if (!mkdtemp(tmp))
		exit(1);
	put_file("Dockerfile", "FROM scratch\n", 0644);
	put_file("run.sh", "#!/bin/sh\necho hi\n", 0755);
	snprintf(p, sizeof(p), "%s/empty", tmp);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/sub", tmp);
	mkdir(p, 0750);
	memset(longname, 'n', 150);
	longname[150] = '\0';
	snprintf(p, sizeof(p), "sub/%s", longname);
	put_file(p, "long", 0644);
	put_file("caf\xc3\xa9", "utf8", 0644);
	put_file("bad\xff\xfe", "latin", 0644);
	snprintf(p, sizeof(p), "%s/dangling", tmp);
	if (symlink("does/not/exist", p) < 0)
		exit(1);
	snprintf(p, sizeof(p), "%s/fifo", tmp);
	if (mkfifo(p, 0644) < 0)
		exit(1);
}

static void rm_tree(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
}

/* Read the stream back and check every entry. */
static void check_stream(const uint8_t *data, size_t len)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_all(a);
	CHECK_EQ(archive_read_open_memory(a, data, len), ARCHIVE_OK);
	struct archive_entry *e;
	int seen = 0, found_long = 0, found_exec = 0, found_link = 0, found_empty = 0;
	int found_utf8 = 0, found_bad = 0, found_fifo = 0;
	char longpath[200];
	memset(longpath, 'n', 150);
	longpath[150] = '\0';
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		seen++;
		CHECK_EQ(archive_entry_uid(e), 0);
		if (strncmp(name, "sub/", 4) == 0 && strcmp(name + 4, longpath) == 0) {
			found_long = 1;
			CHECK_EQ(archive_entry_filetype(e), AE_IFREG);
			char buf[16] = {0};
			CHECK_EQ(archive_read_data(a, buf, sizeof(buf)), 4);
			CHECK_STR(buf, "long");
		} else if (strcmp(name, "run.sh") == 0) {
			found_exec = 1;
			CHECK_EQ(archive_entry_perm(e), 0755);
			CHECK_EQ(archive_entry_size(e), 18);
		} else if (strcmp(name, "dangling") == 0) {
			found_link = 1;
			CHECK_EQ(archive_entry_filetype(e), AE_IFLNK);
			CHECK_STR(archive_entry_symlink(e), "does/not/exist");
		} else if (strcmp(name, "empty/") == 0 || strcmp(name, "empty") == 0) {
			found_empty = 1;
			CHECK_EQ(archive_entry_filetype(e), AE_IFDIR);
		} else if (strcmp(name, "caf\xc3\xa9") == 0) {
			found_utf8 = 1;
		} else if (strcmp(name, "bad\xff\xfe") == 0) {
			found_bad = 1;
		} else if (strstr(name, "fifo")) {
			found_fifo = 1;
		}
	}
	CHECK_EQ(archive_read_close(a), ARCHIVE_OK);
	archive_read_free(a);
	CHECK_EQ(seen, 8);
	CHECK(found_long);
	CHECK(found_exec);
	CHECK(found_link);
	CHECK(found_empty);
	CHECK(found_utf8);
	CHECK(found_bad);
	CHECK(!found_fifo);
}

/* The same stream whatever the chunk size; every entry survives the round trip. */
static void test_round_trip(void)
{
	size_t len1, len2;
	int rc1, rc2;
	warnings = 0;
	uint8_t *big = produce(tmp, 256 << 10, &len1, &rc1);
	CHECK_EQ(rc1, 0);
	CHECK_EQ(warnings, 1);
	CHECK(strstr(last_warning, "FIFO") != NULL);
	uint8_t *small = produce(tmp, 7, &len2, &rc2);
	CHECK_EQ(rc2, 0);
	CHECK_EQ(len1, len2);
	CHECK(len1 == len2 && memcmp(big, small, len1) == 0);
	CHECK_EQ(len1 % 512, 0);
	check_stream(big, len1);
	free(big);
	free(small);
}

/* A missing directory is an error at open. */
static void test_missing_dir(void)
{
	char err[512] = "";
	struct tarsrc *t = tarsrc_open("/nonexistent/r2k", on_warn, NULL, err, sizeof(err));
	CHECK(t == NULL);
	CHECK(strstr(err, "/nonexistent/r2k") != NULL);
}

/* Produce the tree as an unprivileged user (root reads anything): 0 when the error names what. */
static int unreadable_as(uid_t uid, const char *what)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (uid != geteuid() && (setgid(uid) != 0 || setuid(uid) != 0))
			_exit(3);
		size_t len;
		int rc;
		uint8_t *s = produce(tmp, 65536, &len, &rc);
		free(s);
		_exit(rc == -1 && strstr(last_warning, what) &&
		                      strstr(last_warning, "Permission denied")
		              ? 0
		              : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
}

/* An unreadable file or directory is an error naming it. */
static void test_unreadable(void)
{
	char p[512];
	uid_t uid = geteuid() == 0 ? 65534 : geteuid();
	chmod(tmp, 0755);
	put_file("secret", "x", 0000);
	CHECK_EQ(unreadable_as(uid, "'secret'"), 0);
	snprintf(p, sizeof(p), "%s/secret", tmp);
	unlink(p);
	snprintf(p, sizeof(p), "%s/locked", tmp);
	mkdir(p, 0000);
	chmod(p, 0000);
	CHECK_EQ(unreadable_as(uid, "'locked'"), 0);
	rmdir(p);
}

/* libarchive pulls the stream straight from tarsrc: nothing is stored. */
struct pull {
	struct tarsrc *t;
	uint8_t *buf;
	int last;
};

static la_ssize_t pull_read(struct archive *a, void *arg, const void **out)
{
	struct pull *p = arg;
	size_t n = 0;
	(void)a;
	while (p->last > 0 && n == 0)
		p->last = tarsrc_fill(p->t, p->buf, 256 << 10, &n);
	*out = p->buf;
	return p->last < 0 ? -1 : (la_ssize_t)n;
}

/* A sparse file over 8 GiB (too big for a ustar size field) keeps its exact size. */
static void test_huge_sparse(void)
{
	char dir[64], path[128], err[256];
	snprintf(dir, sizeof(dir), "/tmp/r2k-huge-XXXXXX");
	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof(path), "%s/huge", dir);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	const int64_t size = (8LL << 30) + 4097;
	CHECK(fd >= 0 && ftruncate(fd, size) == 0 && pwrite(fd, "end", 3, size - 3) == 3);
	close(fd);
	struct pull p = {tarsrc_open(dir, on_warn, NULL, err, sizeof(err)), malloc(256 << 10), 1};
	CHECK(p.t != NULL);
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	CHECK_EQ(archive_read_open(a, &p, NULL, pull_read, NULL), ARCHIVE_OK);
	struct archive_entry *e;
	CHECK_EQ(archive_read_next_header(a, &e), ARCHIVE_OK);
	CHECK_STR(archive_entry_pathname(e), "huge");
	CHECK_EQ(archive_entry_size(e), size);
	/* Skip to the last bytes and check them. */
	const void *blk;
	size_t len;
	la_int64_t off, seen = 0;
	char tail[4] = "";
	while (archive_read_data_block(a, &blk, &len, &off) == ARCHIVE_OK) {
		seen = off + (la_int64_t)len;
		if (seen >= 3 && len >= 3 && seen == size)
			memcpy(tail, (const char *)blk + len - 3, 3);
	}
	CHECK_EQ(seen, size);
	CHECK_STR(tail, "end");
	CHECK_EQ(archive_read_next_header(a, &e), ARCHIVE_EOF);
	archive_read_free(a);
	CHECK_EQ(p.last, 0);
	tarsrc_free(p.t);
	free(p.buf);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	make_tree();
	RUN(test_round_trip);
	RUN(test_missing_dir);
	RUN(test_unreadable);
	RUN(test_huge_sparse);
	rm_tree();
	return T_DONE();
}
