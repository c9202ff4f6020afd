/* fuzz_extract.c: any context stream extracts inside its root or is refused; nothing escapes. */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_flow(struct extract *x, bool pause, void *arg)
{
}

static void on_done(struct extract *x, int code, const char *msg, void *arg)
{
	*(int *)arg = code + 1;
}

/* The names in dir, sorted into one string ("a,b,"). */
static void listing(const char *dir, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	out[0] = 0;
	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			strncat(out, e->d_name, outlen - strlen(out) - 2);
			strcat(out, ",");
		}
	}
	if (d)
		closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char top[] = "/tmp/r2k-fuzz-extract-XXXXXX", root[64], outside[64], sentinel[80];
	char list[256], err[256];
	uint8_t sha[32];
	unsigned int len;
	if (!mkdtemp(top))
		abort();
	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	snprintf(sentinel, sizeof(sentinel), "%s/sentinel", outside);
	mkdir(root, 0755);
	mkdir(outside, 0755);
	close(open(sentinel, O_CREAT | O_WRONLY, 0644));

	uv_loop_t loop;
	struct extract *x;
	int done = 0;
	struct extract_opts opts = {.root = root, .max_bytes = 64 << 20, .max_entries = 10000};
	struct extract_cbs cbs = {.flow = on_flow, .done = on_done};
	uv_loop_init(&loop);
	if (extract_start(&loop, &opts, &cbs, &done, &x, err, sizeof(err)) != 0)
		abort();
	/* Uneven chunks: the first byte picks the size. */
	size_t step = size ? 1 + data[0] * 37u : 1;
	for (size_t off = 0; off < size; off += step)
		extract_feed(x, data + off, size - off < step ? size - off : step);
	EVP_Digest(data, size, sha, &len, EVP_sha256(), NULL);
	extract_finish(x, size, sha);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (!done)
		abort();
	/* Nothing next to the root, nothing in the sentinel directory. */
	listing(top, list, sizeof(list));
	if (strcmp(list, "outside,root,") != 0 && strcmp(list, "root,outside,") != 0)
		abort();
	listing(outside, list, sizeof(list));
	if (strcmp(list, "sentinel,") != 0)
		abort();
	struct stat st;
	if (stat(sentinel, &st) != 0 || st.st_size != 0)
		abort();
	if (extract_remove_tree(top) != 0)
		abort();
	return 0;
}
