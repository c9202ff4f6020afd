/* test_extract.c: streaming extraction: entries, modes, links, chunked input, checksum, cancel. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract.h"
#include "proto.h"
#include "t.h"

struct outcome {
	int code;
	char msg[1100];
	bool done;
	int pauses;
};

static void on_flow(struct extract *x, bool pause, void *arg)
{
	struct outcome *o = arg;
	o->pauses += pause;
}

static void on_done(struct extract *x, int code, const char *msg, void *arg)
{
	struct outcome *o = arg;
	o->code = code;
	snprintf(o->msg, sizeof(o->msg), "%s", msg);
	o->done = true;
}

/* Append one entry to an archive being written. */
static void add(struct archive *a, const char *name, mode_t type, mode_t perm, const char *data,
                const char *link, const char *hardlink)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_mtime(e, 1600000000, 0);
	if (link)
		archive_entry_set_symlink(e, link);
	if (hardlink) {
		archive_entry_set_hardlink(e, hardlink);
		archive_entry_unset_size(e);
	} else {
		archive_entry_set_size(e, data ? (la_int64_t)strlen(data) : 0);
	}
	archive_write_header(a, e);
	if (data)
		archive_write_data(a, data, strlen(data));
	archive_entry_free(e);
}

static size_t make_archive(unsigned char *buf, size_t cap, bool gz)
{
	size_t used = 0;
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (gz)
		archive_write_add_filter_gzip(a);
	archive_write_open_memory(a, buf, cap, &used);
	add(a, "./", AE_IFDIR, 0755, NULL, NULL, NULL);
	add(a, "dir", AE_IFDIR, 0750, NULL, NULL, NULL);
	add(a, "dir/tool", AE_IFREG, 04755, "#!/bin/sh\necho hi\n", NULL, NULL);
	add(a, "dir/hard", AE_IFREG, 0644, NULL, NULL, "dir/tool");
	add(a, "abs", AE_IFLNK, 0777, NULL, "/etc/shadow", NULL);
	add(a, "deep/er/file", AE_IFREG, 0600, "data", NULL, NULL);
	add(a, "dir/tool", AE_IFREG, 0755, "replaced\n", NULL, NULL);
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

/* Run one extraction of buf in chunks of step bytes; total/sha as given or computed. */
static void run(const char *root, const unsigned char *buf, size_t n, size_t step, bool bad_sum,
                size_t cancel_at, struct outcome *o)
{
	uv_loop_t loop;
	char err[256];
	struct extract *x;
	struct extract_opts opts = {.root = root, .max_bytes = 1 << 20, .max_entries = 100};
	struct extract_cbs cbs = {.flow = on_flow, .done = on_done};
	unsigned char sha[32];
	unsigned int len;
	memset(o, 0, sizeof(*o));
	EVP_Digest(buf, n, sha, &len, EVP_sha256(), NULL);
	if (bad_sum)
		sha[0] ^= 1;
	uv_loop_init(&loop);
	CHECK_EQ(extract_start(&loop, &opts, &cbs, o, &x, err, sizeof(err)), 0);
	for (size_t off = 0; off < n; off += step) {
		if (cancel_at && off >= cancel_at) {
			extract_cancel(x);
			break;
		}
		extract_feed(x, buf + off, n - off < step ? n - off : step);
	}
	if (!cancel_at)
		extract_finish(x, n, sha);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(o->done);
	CHECK_EQ(uv_loop_close(&loop), 0);
}

static void test_extract_tree(void)
{
	static unsigned char buf[1 << 16];
	char root[] = "/tmp/r2k-test-extract-XXXXXX", path[256];
	struct stat st;
	struct outcome o;
	for (int gz = 0; gz < 2; gz++) {
		CHECK(mkdtemp(root) != NULL);
		size_t n = make_archive(buf, sizeof(buf), gz);
		run(root, buf, n, 7, false, 0, &o);
		CHECK_EQ(o.code, 0);
		snprintf(path, sizeof(path), "%s/dir", root);
		CHECK(lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750);
		CHECK_EQ(st.st_mtime, 1600000000);
		snprintf(path, sizeof(path), "%s/dir/tool", root);
		CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0755);
		CHECK_EQ(st.st_size, 9); /* the later entry replaced it */
		CHECK_EQ(st.st_mtime, 1600000000);
		snprintf(path, sizeof(path), "%s/dir/hard", root);
		CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 18);
		snprintf(path, sizeof(path), "%s/abs", root);
		char target[64] = "";
		CHECK(readlink(path, target, sizeof(target) - 1) == 11);
		CHECK_STR(target, "/etc/shadow");
		snprintf(path, sizeof(path), "%s/deep/er/file", root);
		CHECK(lstat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 4);
		CHECK_EQ(extract_remove_tree(root), 0);
		CHECK(access(root, F_OK) != 0);
		memcpy(root + strlen(root) - 6, "XXXXXX", 6);
	}
}

static void test_checksum_mismatch(void)
{
	static unsigned char buf[1 << 16];
	char root[] = "/tmp/r2k-test-extract-XXXXXX";
	struct outcome o;
	CHECK(mkdtemp(root) != NULL);
	size_t n = make_archive(buf, sizeof(buf), true);
	run(root, buf, n, 1000, true, 0, &o);
	CHECK_EQ(o.code, R2K_ERR_CONTEXT);
	CHECK(strstr(o.msg, "checksum mismatch") != NULL);
	CHECK_EQ(extract_remove_tree(root), 0);
}

static void test_cancel(void)
{
	static unsigned char buf[1 << 16];
	char root[] = "/tmp/r2k-test-extract-XXXXXX";
	struct outcome o;
	CHECK(mkdtemp(root) != NULL);
	size_t n = make_archive(buf, sizeof(buf), false);
	run(root, buf, n, 512, false, 1024, &o);
	CHECK_EQ(o.code, R2K_ERR_CANCELLED);
	CHECK_EQ(extract_remove_tree(root), 0);
}

static void test_remove_tree_keeps_symlink_targets(void)
{
	char root[] = "/tmp/r2k-test-extract-XXXXXX", other[] = "/tmp/r2k-test-other-XXXXXX";
	char path[256];
	CHECK(mkdtemp(root) != NULL && mkdtemp(other) != NULL);
	snprintf(path, sizeof(path), "%s/keep", other);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	snprintf(path, sizeof(path), "%s/link", root);
	CHECK_EQ(symlink(other, path), 0);
	snprintf(path, sizeof(path), "%s/ro", root);
	CHECK_EQ(mkdir(path, 0500), 0);
	CHECK_EQ(extract_remove_tree(root), 0);
	CHECK(access(root, F_OK) != 0);
	snprintf(path, sizeof(path), "%s/keep", other);
	CHECK_EQ(access(path, F_OK), 0);
	unlink(path);
	rmdir(other);
}

int main(void)
{
	RUN(test_extract_tree);
	RUN(test_checksum_mismatch);
	RUN(test_cancel);
	RUN(test_remove_tree_keeps_symlink_targets);
	return T_DONE();
}
