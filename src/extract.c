/* extract.c: a worker thread runs libarchive over the CONTEXT stream as it arrives. */
#include "extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract_fs.h"
#include "lazylib.h"
#include "log.h"
#include "proto.h"
#include "sha256.h"

#define NAME_MAX_LEN 4096

/* One queued piece of input. */
struct chunk {
	struct chunk *next;
	size_t len;
	uint8_t data[];
};

/* A directory whose mode and mtime are applied once everything is extracted. */
struct dirfix {
	char *path;
	mode_t mode;
	struct timespec mtime;
};

struct extract {
	uv_loop_t *loop;
	uv_thread_t thread;
	uv_async_t async;
	uv_mutex_t mu;
	uv_cond_t cond;
	struct extract_cbs cbs;
	void *arg;
	unsigned long conn_id;
	uint64_t max_bytes, max_entries;
	int rootfd;
	char *watch; /* opts->watch, copied */
	/* Shared with the worker, under mu. */
	struct chunk *head, *tail;
	size_t queued;
	bool eof;         /* no more input */
	bool cancel;      /* stop now */
	bool worker_done; /* the worker thread has ended */
	int wcode;        /* worker's result */
	char wmsg[1024];
	bool watch_ready; /* the watched file was read (or failed to be) */
	char *watch_text; /* its content, or NULL with watch_why */
	size_t watch_len;
	bool watch_trunc;
	char watch_why[256];
	/* Loop side only. */
	bool watch_delivered;
	struct r2k_sha256 *sha;
	uint64_t received;
	bool paused;
	bool finished; /* extract_finish was called */
	bool reported;
	uint64_t want_total;
	uint8_t want_sha[32];
	/* Worker side only. */
	bool watch_seen;
	struct chunk *cur; /* chunk handed to libarchive, freed at the next read */
	uint64_t bytes, entries;
	struct dirfix *dirs;
	size_t ndirs, capdirs;
};

static void worker(void *arg);
static void worker_main(struct extract *x);
static la_ssize_t read_cb(struct archive *a, void *arg, const void **buf);
static int extract_entry(struct extract *x, struct archive *a, struct archive_entry *e,
                         const char *rel, char *why, size_t whylen);
static int write_data(struct extract *x, struct archive *a, int fd, int64_t *end, char *why,
                      size_t whylen);
static int fix_dirs(struct extract *x, char *why, size_t whylen);
static void on_async(uv_async_t *h);
static void async_closed(uv_handle_t *h);
static void printable(const char *in, char *out, size_t outlen);
static void set_result(struct extract *x, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static bool cancelled(struct extract *x);
static void watch_read(struct extract *x, const char *rel);
static void deliver_watch(struct extract *x);

/* Copy an entry name for a message: control characters shown as '?', long names cut. */
static void printable(const char *in, char *out, size_t outlen)
{
	size_t n = 0;
	for (; in && *in && n + 4 < outlen; in++)
		out[n++] = (unsigned char)*in < 0x20 || *in == 0x7f ? '?' : *in;
	if (in && *in)
		out[n++] = '.', out[n++] = '.', out[n++] = '.';
	out[n] = 0;
}

int extract_start(uv_loop_t *loop, const struct extract_opts *opts, const struct extract_cbs *cbs,
                  void *arg, struct extract **out, char *err, size_t errlen)
{
	if (lib_archive_load(err, errlen) != 0)
		return -1;
	struct extract *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	x->loop = loop;
	x->cbs = *cbs;
	x->arg = arg;
	x->conn_id = opts->conn_id;
	x->max_bytes = opts->max_bytes;
	x->max_entries = opts->max_entries;
	x->watch = opts->watch ? strdup(opts->watch) : NULL;
	x->rootfd = open(opts->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	x->sha = r2k_sha256_new();
	if (x->rootfd < 0 || !x->sha) {
		snprintf(err, errlen, "cannot open %s: %s", opts->root,
		         x->rootfd < 0 ? strerror(errno) : "SHA-256 unavailable");
		if (x->rootfd >= 0)
			close(x->rootfd);
		r2k_sha256_free(x->sha);
		free(x->watch);
		free(x);
		return -1;
	}
	uv_mutex_init(&x->mu);
	uv_cond_init(&x->cond);
	uv_async_init(loop, &x->async, on_async);
	x->async.data = x;
	if (uv_thread_create(&x->thread, worker, x) != 0) {
		snprintf(err, errlen, "cannot start the extraction thread");
		x->reported = true;
		uv_close((uv_handle_t *)&x->async, async_closed);
		return -1;
	}
	*out = x;
	return 0;
}

void extract_feed(struct extract *x, const uint8_t *data, size_t len)
{
	if (!len)
		return;
	r2k_sha256_update(x->sha, data, len);
	x->received += len;
	struct chunk *c = malloc(sizeof(*c) + len);
	uv_mutex_lock(&x->mu);
	if (x->worker_done || x->cancel || !c) {
		if (!c && !x->worker_done) {
			x->cancel = true;
			x->wcode = R2K_ERR_INTERNAL;
			snprintf(x->wmsg, sizeof(x->wmsg), "out of memory queueing the context");
			uv_cond_signal(&x->cond);
		}
		uv_mutex_unlock(&x->mu);
		free(c);
		return;
	}
	c->next = NULL;
	c->len = len;
	memcpy(c->data, data, len);
	if (x->tail)
		x->tail->next = c;
	else
		x->head = c;
	x->tail = c;
	x->queued += len;
	bool high = x->queued >= EXTRACT_HIGH_MARK;
	uv_cond_signal(&x->cond);
	uv_mutex_unlock(&x->mu);
	if (high && !x->paused) {
		x->paused = true;
		x->cbs.flow(x, true, x->arg);
	}
}

void extract_finish(struct extract *x, uint64_t total, const uint8_t sha256[32])
{
	x->finished = true;
	x->want_total = total;
	memcpy(x->want_sha, sha256, 32);
	uv_mutex_lock(&x->mu);
	x->eof = true;
	uv_cond_signal(&x->cond);
	uv_mutex_unlock(&x->mu);
	uv_async_send(&x->async);
}

void extract_cancel(struct extract *x)
{
	uv_mutex_lock(&x->mu);
	x->cancel = true;
	uv_cond_signal(&x->cond);
	uv_mutex_unlock(&x->mu);
	uv_async_send(&x->async);
}

uint64_t extract_received(const struct extract *x)
{
	return x->received;
}

int extract_remove_tree(const char *path)
{
	return xfs_remove_tree(path);
}

static void async_closed(uv_handle_t *h)
{
	struct extract *x = h->data;
	struct chunk *c = x->head;
	while (c) {
		struct chunk *n = c->next;
		free(c);
		c = n;
	}
	free(x->cur);
	free(x->watch);
	free(x->watch_text);
	uv_mutex_destroy(&x->mu);
	uv_cond_destroy(&x->cond);
	r2k_sha256_free(x->sha);
	if (x->rootfd >= 0)
		close(x->rootfd);
	free(x);
}

/* Loop side: resume the feeder below the low mark; report once the worker and input are done. */
static void on_async(uv_async_t *h)
{
	struct extract *x = h->data;
	if (x->reported)
		return;
	deliver_watch(x); /* first: the callback may cancel */
	uv_mutex_lock(&x->mu);
	size_t queued = x->queued;
	bool done = x->worker_done, cancelled = x->cancel;
	int code = x->wcode;
	uv_mutex_unlock(&x->mu);
	/* Once the worker stopped, queued input is dropped: never leave the feeder paused. */
	if (x->paused && (queued <= EXTRACT_LOW_MARK || done)) {
		x->paused = false;
		x->cbs.flow(x, false, x->arg);
	}
	if (!done)
		return;
	/* Success needs the whole input and a matching CONTEXT_END; failures end at once. */
	if (code == 0 && !x->finished && !cancelled)
		return;
	uv_thread_join(&x->thread);
	char msg[1100];
	snprintf(msg, sizeof(msg), "%s", x->wmsg);
	if (code == 0 && cancelled) {
		code = R2K_ERR_CANCELLED;
		snprintf(msg, sizeof(msg), "extraction cancelled");
	}
	if (code == 0) {
		uint8_t got[R2K_SHA256_LEN];
		r2k_sha256_final(x->sha, got);
		if (x->received != x->want_total) {
			code = R2K_ERR_CONTEXT;
			snprintf(
			        msg, sizeof(msg),
			        "context size mismatch: received %llu bytes, CONTEXT_END says %llu",
			        (unsigned long long)x->received, (unsigned long long)x->want_total);
		} else if (memcmp(got, x->want_sha, 32) != 0) {
			code = R2K_ERR_CONTEXT;
			snprintf(msg, sizeof(msg),
			         "context checksum mismatch: SHA-256 of the %llu bytes received "
			         "differs "
			         "from CONTEXT_END",
			         (unsigned long long)x->received);
		}
	}
	x->reported = true;
	x->cbs.done(x, code, msg, x->arg);
	uv_close((uv_handle_t *)&x->async, async_closed);
}

/* Loop side: hand the watched file to the owner once. */
static void deliver_watch(struct extract *x)
{
	uv_mutex_lock(&x->mu);
	bool ready = x->watch_ready && !x->cancel;
	uv_mutex_unlock(&x->mu);
	if (!ready || x->watch_delivered || !x->cbs.file)
		return;
	x->watch_delivered = true;
	x->cbs.file(x, x->watch_text, x->watch_len, x->watch_trunc,
	            x->watch_text ? NULL : x->watch_why, x->arg);
}

int extract_read_text(int rootfd, const char *rel, size_t max, char **out, size_t *len,
                      bool *truncated, char *why, size_t whylen)
{
	const char *base;
	struct stat st;
	*out = NULL;
	int dfd = xfs_open_parent(rootfd, rel, false, &base, why, whylen);
	if (dfd < 0)
		return -1;
	int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	close(dfd);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s", fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* Sized for the file, not for the limit: a Dockerfile is a few KiB. */
	size_t cap = (uint64_t)st.st_size < max ? (size_t)st.st_size : max;
	char *buf = malloc(cap + 1);
	size_t n = 0;
	while (buf && n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whylen, "reading: %s", strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!buf) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	*truncated = (uint64_t)st.st_size > n;
	return 0;
}

/* Worker side: the watched entry was just written; read it and wake the loop. */
static void watch_read(struct extract *x, const char *rel)
{
	char *text = NULL, why[256] = "";
	size_t len = 0;
	bool trunc = false;
	x->watch_seen = true;
	extract_read_text(x->rootfd, rel, EXTRACT_WATCH_MAX, &text, &len, &trunc, why, sizeof(why));
	uv_mutex_lock(&x->mu);
	x->watch_ready = true;
	x->watch_text = text;
	x->watch_len = len;
	x->watch_trunc = trunc;
	snprintf(x->watch_why, sizeof(x->watch_why), "%s", why);
	uv_mutex_unlock(&x->mu);
	uv_async_send(&x->async);
}

static void worker(void *arg)
{
	struct extract *x = arg;
	worker_main(x);
	for (size_t i = 0; i < x->ndirs; i++)
		free(x->dirs[i].path);
	free(x->dirs);
	uv_mutex_lock(&x->mu);
	x->worker_done = true;
	uv_mutex_unlock(&x->mu);
	uv_async_send(&x->async);
}

/* libarchive pulls input here: block until a chunk, end of input or cancel. */
static la_ssize_t read_cb(struct archive *a, void *arg, const void **buf)
{
	struct extract *x = arg;
	free(x->cur);
	x->cur = NULL;
	uv_mutex_lock(&x->mu);
	while (!x->head && !x->eof && !x->cancel)
		uv_cond_wait(&x->cond, &x->mu);
	if (x->cancel) {
		uv_mutex_unlock(&x->mu);
		archive_set_error(a, ECANCELED, "cancelled");
		return -1;
	}
	struct chunk *c = x->head;
	if (c) {
		x->head = c->next;
		if (!x->head)
			x->tail = NULL;
		x->queued -= c->len;
	}
	bool wake = x->queued <= EXTRACT_LOW_MARK;
	uv_mutex_unlock(&x->mu);
	if (!c)
		return 0;
	if (wake)
		uv_async_send(&x->async);
	x->cur = c;
	*buf = c->data;
	return (la_ssize_t)c->len;
}

/* Record the worker's outcome unless one is already set (first failure wins). */
static void set_result(struct extract *x, int code, const char *fmt, ...)
{
	va_list ap;
	uv_mutex_lock(&x->mu);
	if (!x->wcode) {
		x->wcode = code;
		va_start(ap, fmt);
		vsnprintf(x->wmsg, sizeof(x->wmsg), fmt, ap);
		va_end(ap);
	}
	uv_mutex_unlock(&x->mu);
}

/* Whether the feeder asked us to stop. */
static bool cancelled(struct extract *x)
{
	uv_mutex_lock(&x->mu);
	bool c = x->cancel;
	uv_mutex_unlock(&x->mu);
	return c;
}

static void worker_main(struct extract *x)
{
	char why[1024], shown[512];
	char *rel = malloc(NAME_MAX_LEN);
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	if (!a || !rel) {
		set_result(x, R2K_ERR_INTERNAL, "out of memory");
		free(rel);
		archive_read_free(a);
		return;
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open(a, x, NULL, read_cb, NULL) != ARCHIVE_OK) {
		if (cancelled(x))
			set_result(x, R2K_ERR_CANCELLED, "extraction cancelled");
		else
			set_result(x, R2K_ERR_CONTEXT, "context is not a tar stream: %s",
			           archive_error_string(a));
		goto out;
	}
	for (;;) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (cancelled(x)) {
			set_result(x, R2K_ERR_CANCELLED, "extraction cancelled");
			goto out;
		}
		if (r < ARCHIVE_WARN) {
			set_result(x, R2K_ERR_CONTEXT,
			           "context is not a valid tar stream after %llu entries: %s",
			           (unsigned long long)x->entries, archive_error_string(a));
			goto out;
		}
		x->entries++;
		const char *name = archive_entry_pathname(e);
		printable(name, shown, sizeof(shown));
		if (x->max_entries && x->entries > x->max_entries) {
			set_result(x, R2K_ERR_CONTEXT,
			           "context entry '%s': more than %llu entries "
			           "(--max-context-entries)",
			           shown, (unsigned long long)x->max_entries);
			goto out;
		}
		const char *w = NULL;
		int nr = xfs_normalize(name, rel, NAME_MAX_LEN, &w);
		if (nr < 0) {
			set_result(x, R2K_ERR_CONTEXT, "context entry '%s': %s", shown, w);
			goto out;
		}
		if (nr == 0) /* the context root itself */
			continue;
		why[0] = 0;
		int code = extract_entry(x, a, e, rel, why, sizeof(why));
		if (code) {
			if (cancelled(x))
				set_result(x, R2K_ERR_CANCELLED, "extraction cancelled");
			set_result(x, code, "context entry '%s': %s", shown, why);
			goto out;
		}
		if (x->watch && !x->watch_seen && strcmp(rel, x->watch) == 0)
			watch_read(x, rel);
	}
	if (fix_dirs(x, why, sizeof(why)) != 0)
		set_result(x, R2K_ERR_INTERNAL, "%s", why);
	log_debug(x->conn_id, "context extracted: %llu entries, %llu bytes",
	          (unsigned long long)x->entries, (unsigned long long)x->bytes);
out:
	archive_read_free(a);
	free(rel);
}

/* Copy an entry's data blocks into fd at their offsets (holes stay holes); *end: where they end. */
static int write_data(struct extract *x, struct archive *a, int fd, int64_t *end, char *why,
                      size_t whylen)
{
	const void *buf;
	size_t size;
	la_int64_t offset;
	*end = 0;
	for (;;) {
		int r = archive_read_data_block(a, &buf, &size, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN) {
			snprintf(why, whylen, "reading its data: %s", archive_error_string(a));
			return R2K_ERR_CONTEXT;
		}
		x->bytes += size;
		if (x->max_bytes && x->bytes > x->max_bytes) {
			snprintf(why, whylen,
			         "context larger than %llu bytes extracted (--max-context-bytes)",
			         (unsigned long long)x->max_bytes);
			return R2K_ERR_CONTEXT;
		}
		const char *p = buf;
		while (size > 0) {
			size_t n = size < (1u << 20) ? size : (1u << 20);
			ssize_t wr = pwrite(fd, p, n, (off_t)offset);
			if (wr < 0 && errno == EINTR)
				continue;
			if (wr <= 0) {
				snprintf(why, whylen, "writing: %s",
				         wr < 0 ? strerror(errno) : "short write");
				return R2K_ERR_INTERNAL;
			}
			p += wr;
			offset += wr;
			size -= (size_t)wr;
		}
		if (offset > *end)
			*end = offset;
	}
}

/* Create one entry below the root; returns 0 or an r2k error code with why. */
static int extract_entry(struct extract *x, struct archive *a, struct archive_entry *e,
                         const char *rel, char *why, size_t whylen)
{
	const char *base = NULL, *tbase = NULL, *w = NULL;
	char *trel = NULL;
	int dfd = -1, tfd = -1, fd = -1, code = R2K_ERR_CONTEXT;
	mode_t type = archive_entry_filetype(e);
	const char *hl = archive_entry_hardlink(e);
	struct timespec ts[2];
	ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
	ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (!archive_entry_mtime_is_set(e))
		ts[0].tv_nsec = ts[1].tv_nsec = UTIME_OMIT;

	if (!hl) {
		switch (type) {
		case AE_IFREG:
		case AE_IFDIR:
		case AE_IFLNK: break;
		case AE_IFCHR:
		case AE_IFBLK:
			snprintf(why, whylen, "device nodes are not allowed in a context");
			return R2K_ERR_CONTEXT;
		case AE_IFIFO:
			snprintf(why, whylen, "FIFOs are not allowed in a context");
			return R2K_ERR_CONTEXT;
		case AE_IFSOCK:
			snprintf(why, whylen, "sockets are not allowed in a context");
			return R2K_ERR_CONTEXT;
		default:
			snprintf(why, whylen, "unsupported entry type 0%o", (unsigned)type);
			return R2K_ERR_CONTEXT;
		}
	}
	dfd = xfs_open_parent(x->rootfd, rel, true, &base, why, whylen);
	if (dfd < 0)
		goto out;
	if (hl) {
		struct stat st = {.st_mode = 0};
		char shown[512];
		trel = malloc(NAME_MAX_LEN);
		printable(hl, shown, sizeof(shown));
		if (!trel) {
			code = R2K_ERR_INTERNAL;
			snprintf(why, whylen, "out of memory");
			goto out;
		}
		if (xfs_normalize(hl, trel, NAME_MAX_LEN, &w) <= 0) {
			snprintf(why, whylen, "hard link target '%s': %s", shown,
			         w ? w : "the context root");
			goto out;
		}
		/*
		 * The root started empty: a regular file found below it without
		 * following a symlink is one this context made. No list of them
		 * is kept, so memory does not grow with the number of files.
		 */
		tfd = xfs_open_parent(x->rootfd, trel, false, &tbase, why, whylen);
		if (tfd >= 0 && fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) != 0)
			st.st_mode = 0;
		if (tfd >= 0 && !S_ISREG(st.st_mode))
			snprintf(why, whylen,
			         "hard link to '%s', which is not an earlier regular file of the "
			         "context",
			         shown);
		if (tfd < 0 || !S_ISREG(st.st_mode))
			goto out;
		if (xfs_clear(dfd, base, false, why, whylen) < 0)
			goto out;
		if (linkat(tfd, tbase, dfd, base, 0) != 0) {
			snprintf(why, whylen, "hard link to '%s': %s", shown, strerror(errno));
			goto out;
		}
		code = 0;
		goto out;
	}
	if (type == AE_IFDIR) {
		int kept = xfs_clear(dfd, base, true, why, whylen);
		if (kept < 0)
			goto out;
		if (!kept && mkdirat(dfd, base, 0700) != 0) {
			snprintf(why, whylen, "cannot create directory: %s", strerror(errno));
			goto out;
		}
		if (x->ndirs == x->capdirs) {
			size_t ncap = x->capdirs ? x->capdirs * 2 : 64;
			struct dirfix *nd = realloc(x->dirs, ncap * sizeof(*nd));
			if (!nd) {
				code = R2K_ERR_INTERNAL;
				snprintf(why, whylen, "out of memory");
				goto out;
			}
			x->dirs = nd;
			x->capdirs = ncap;
		}
		x->dirs[x->ndirs].path = strdup(rel);
		x->dirs[x->ndirs].mode = archive_entry_perm(e) & 0777;
		x->dirs[x->ndirs].mtime = ts[1];
		if (x->dirs[x->ndirs].path)
			x->ndirs++;
		code = 0;
		goto out;
	}
	if (xfs_clear(dfd, base, false, why, whylen) < 0)
		goto out;
	if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);
		if (!target || !*target) {
			snprintf(why, whylen, "symlink without a target");
			goto out;
		}
		/* Stored as-is: never followed while extracting. */
		if (symlinkat(target, dfd, base) != 0) {
			snprintf(why, whylen, "cannot create symlink: %s", strerror(errno));
			goto out;
		}
		utimensat(dfd, base, ts, AT_SYMLINK_NOFOLLOW);
		code = 0;
		goto out;
	}
	fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		code = errno == ENOSPC || errno == EDQUOT ? R2K_ERR_INTERNAL : R2K_ERR_CONTEXT;
		snprintf(why, whylen, "cannot create file: %s", strerror(errno));
		goto out;
	}
	int64_t end;
	code = write_data(x, a, fd, &end, why, whylen);
	if (code)
		goto out;
	code = R2K_ERR_INTERNAL;
	/* Only a file ending in a hole is short of its size. */
	if (archive_entry_size_is_set(e) && archive_entry_size(e) != end &&
	    ftruncate(fd, archive_entry_size(e)) != 0) {
		snprintf(why, whylen, "setting its size: %s", strerror(errno));
		goto out;
	}
	/* Permission bits kept (exec bits matter), setuid/setgid/sticky dropped; owner is us. */
	if (fchmod(fd, archive_entry_perm(e) & 0777) != 0 || futimens(fd, ts) != 0) {
		snprintf(why, whylen, "setting its mode or time: %s", strerror(errno));
		goto out;
	}
	code = 0;
out:
	if (fd >= 0 && close(fd) != 0 && code == 0) {
		code = R2K_ERR_INTERNAL;
		snprintf(why, whylen, "writing: %s", strerror(errno));
	}
	if (dfd >= 0)
		close(dfd);
	if (tfd >= 0)
		close(tfd);
	free(trel);
	return code;
}

/* Apply directory modes and mtimes last, deepest first, without following symlinks. */
static int fix_dirs(struct extract *x, char *why, size_t whylen)
{
	for (size_t i = x->ndirs; i-- > 0;) {
		const char *base;
		char w[256];
		int dfd = xfs_open_parent(x->rootfd, x->dirs[i].path, false, &base, w, sizeof(w));
		if (dfd < 0)
			continue;
		int fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dfd);
		if (fd < 0)
			continue; /* replaced by a later entry */
		struct timespec ts[2] = {x->dirs[i].mtime, x->dirs[i].mtime};
		int rc = fchmod(fd, x->dirs[i].mode);
		if (rc == 0 && ts[1].tv_nsec != UTIME_OMIT)
			rc = futimens(fd, ts);
		close(fd);
		if (rc != 0) {
			snprintf(why, whylen, "directory '%s': %s", x->dirs[i].path,
			         strerror(errno));
			return -1;
		}
	}
	return 0;
}
