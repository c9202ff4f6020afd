/* tarsrc.c: walk a context directory and emit a pax tar stream in caller-sized pieces. */
#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE */
#include "tarsrc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lazylib.h"

/* Largest single read() of file data. */
#define TARSRC_READ_MAX (1u << 20)

/* One directory being walked: its fd and its sorted entry names. */
struct level {
	int fd;
	char **names;
	size_t n, i;
	size_t prefix_len; /* bytes of t->path that name this directory, with its '/' */
};

struct tarsrc {
	struct archive *a;
	struct level *stack;
	size_t depth, stack_cap;
	char *path; /* relative path of the current entry */
	size_t path_cap;
	int file_fd; /* regular file whose data is being streamed, or -1 */
	uint64_t file_left;
	uint64_t file_off;   /* offset of the next byte to send */
	uint64_t region_end; /* end of the data or hole region holding file_off */
	bool region_hole;    /* that region is a hole: send zeros without reading */
	bool no_holes;       /* no holes, or the file system cannot tell them: just read */
	uint8_t *out;        /* the caller's buffer during tarsrc_fill */
	size_t out_cap, out_len;
	uint8_t *spill; /* bytes libarchive produced that did not fit in out */
	size_t spill_len, spill_off, spill_cap;
	bool closed;
	bool failed;
	uint64_t entries;
	tarsrc_warn_cb warn;
	void *warn_arg;
	char err[1024];
};

static la_ssize_t write_cb(struct archive *a, void *arg, const void *data, size_t n);
static int fail(struct tarsrc *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct tarsrc *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cmp_names(const void *a, const void *b);
static int push_dir(struct tarsrc *t, int fd, size_t prefix_len);
static void pop_dir(struct tarsrc *t);
static int set_path(struct tarsrc *t, size_t prefix_len, const char *name, bool slash);
static int write_header(struct tarsrc *t, const struct stat *st, mode_t type, uint64_t size,
                        const char *link);
static int next_entry(struct tarsrc *t);
static int data_step(struct tarsrc *t);
static void find_region(struct tarsrc *t);
static int add_regular(struct tarsrc *t, struct level *lv, const char *name);
static int add_dir(struct tarsrc *t, struct level *lv, const char *name, size_t name_len);
static int add_symlink(struct tarsrc *t, struct level *lv, const char *name, const struct stat *st);

/* Record an error message; the stream is dead from now on. */
static int fail(struct tarsrc *t, const char *fmt, ...)
{
	va_list ap;
	if (t->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	t->failed = true;
	return -1;
}

/* Tell the owner about an entry left out. */
static void warn(struct tarsrc *t, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t->warn)
		t->warn(msg, t->warn_arg);
}

/* libarchive's output: into the caller's buffer, the rest into the spill buffer. */
static la_ssize_t write_cb(struct archive *a, void *arg, const void *data, size_t n)
{
	struct tarsrc *t = arg;
	size_t room = t->out ? t->out_cap - t->out_len : 0;
	size_t k = n < room ? n : room;
	if (t->spill_len > t->spill_off)
		k = 0; /* keep the order: spilled bytes go first */
	if (k) {
		/* File data was read in place: then data == out + out_len. */
		memmove(t->out + t->out_len, data, k);
		t->out_len += k;
	}
	if (n > k) {
		size_t need = t->spill_len + (n - k);
		if (need > t->spill_cap) {
			size_t cap = t->spill_cap ? t->spill_cap : 16384;
			while (cap < need)
				cap *= 2;
			uint8_t *ns = realloc(t->spill, cap);
			if (!ns) {
				archive_set_error(a, ENOMEM, "out of memory");
				return -1;
			}
			t->spill = ns;
			t->spill_cap = cap;
		}
		memcpy(t->spill + t->spill_len, (const uint8_t *)data + k, n - k);
		t->spill_len += n - k;
	}
	return (la_ssize_t)n;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List the directory open on fd (sorted, for a reproducible stream) and make it the top level. */
static int push_dir(struct tarsrc *t, int fd, size_t prefix_len)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		close(fd);
		return fail(t, "cannot list context directory '%s': %s", prefix_len ? t->path : ".",
		            strerror(errno));
	}
	struct level lv = {.fd = fd, .prefix_len = prefix_len};
	size_t cap = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (lv.n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(lv.names, cap * sizeof(*nn));
			if (!nn)
				abort();
			lv.names = nn;
		}
		lv.names[lv.n] = strdup(de->d_name);
		if (!lv.names[lv.n])
			abort();
		lv.n++;
		errno = 0;
	}
	int rerr = errno;
	closedir(d);
	if (rerr) {
		for (size_t i = 0; i < lv.n; i++)
			free(lv.names[i]);
		free(lv.names);
		close(fd);
		return fail(t, "cannot list context directory '%s': %s", prefix_len ? t->path : ".",
		            strerror(rerr));
	}
	if (lv.n)
		qsort(lv.names, lv.n, sizeof(*lv.names), cmp_names);
	if (t->depth == t->stack_cap) {
		t->stack_cap = t->stack_cap ? t->stack_cap * 2 : 16;
		struct level *ns = realloc(t->stack, t->stack_cap * sizeof(*ns));
		if (!ns)
			abort();
		t->stack = ns;
	}
	t->stack[t->depth++] = lv;
	return 0;
}

/* Done with the top directory. */
static void pop_dir(struct tarsrc *t)
{
	struct level *lv = &t->stack[--t->depth];
	close(lv->fd);
	for (size_t i = 0; i < lv->n; i++)
		free(lv->names[i]);
	free(lv->names);
}

/* t->path = the first prefix_len bytes of the current path + name (+ '/'). */
static int set_path(struct tarsrc *t, size_t prefix_len, const char *name, bool slash)
{
	size_t nl = strlen(name);
	size_t need = prefix_len + nl + 2;
	if (need > t->path_cap) {
		size_t cap = t->path_cap ? t->path_cap : 256;
		while (cap < need)
			cap *= 2;
		char *np = realloc(t->path, cap);
		if (!np)
			abort();
		t->path = np;
		t->path_cap = cap;
	}
	memcpy(t->path + prefix_len, name, nl);
	t->path[prefix_len + nl] = slash ? '/' : '\0';
	t->path[prefix_len + nl + 1] = '\0';
	return 0;
}

/* Write one tar header for the entry at t->path. */
static int write_header(struct tarsrc *t, const struct stat *st, mode_t type, uint64_t size,
                        const char *link)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		abort();
	archive_entry_copy_pathname(e, t->path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, st->st_mode & 07777);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (link)
		archive_entry_copy_symlink(e, link);
	int r = archive_write_header(t->a, e);
	archive_entry_free(e);
	if (r < ARCHIVE_WARN)
		return fail(t, "cannot write the tar header of '%s': %s", t->path,
		            archive_error_string(t->a));
	t->entries++;
	return 0;
}

/* A regular file: open it without following links or blocking, check it, write its header. */
static int add_regular(struct tarsrc *t, struct level *lv, const char *name)
{
	int fd = openat(lv->fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT) {
			warn(t, "context file '%s' vanished while reading; left out", t->path);
			return 0;
		}
		return fail(t, "cannot read context file '%s': %s", t->path, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return fail(t, "cannot read context file '%s': %s", t->path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		warn(t, "context entry '%s' changed type while reading; left out", t->path);
		return 0;
	}
	if (write_header(t, &st, AE_IFREG, (uint64_t)st.st_size, NULL) < 0) {
		close(fd);
		return -1;
	}
	if (st.st_size > 0) {
		t->file_fd = fd;
		t->file_left = (uint64_t)st.st_size;
		t->file_off = 0;
		t->region_end = 0;
		/* As many blocks as bytes: no hole worth looking for (two lseeks a file). */
		t->no_holes = (uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size;
	} else {
		close(fd);
	}
	return 0;
}

/* A directory: open it (never through a link), write its header and descend. */
static int add_dir(struct tarsrc *t, struct level *lv, const char *name, size_t name_len)
{
	int fd = openat(lv->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			warn(t, "context directory '%s' vanished while reading; left out", t->path);
			return 0;
		}
		return fail(t, "cannot open context directory '%s': %s", t->path, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return fail(t, "cannot open context directory '%s': %s", t->path, strerror(e));
	}
	if (write_header(t, &st, AE_IFDIR, 0, NULL) < 0) {
		close(fd);
		return -1;
	}
	/* Children are named "<dir>/<name>". */
	set_path(t, lv->prefix_len, name, true);
	return push_dir(t, fd, lv->prefix_len + name_len + 1);
}

/* A symbolic link: stored as a link, whatever it points to. */
static int add_symlink(struct tarsrc *t, struct level *lv, const char *name, const struct stat *st)
{
	size_t cap = st->st_size > 0 ? (size_t)st->st_size + 1 : 256;
	for (;;) {
		char *buf = malloc(cap);
		if (!buf)
			abort();
		ssize_t n = readlinkat(lv->fd, name, buf, cap);
		if (n < 0) {
			int e = errno;
			free(buf);
			if (e == ENOENT) {
				warn(t, "context link '%s' vanished while reading; left out",
				     t->path);
				return 0;
			}
			return fail(t, "cannot read context link '%s': %s", t->path, strerror(e));
		}
		if ((size_t)n < cap) {
			buf[n] = '\0';
			int r = write_header(t, st, AE_IFLNK, 0, buf);
			free(buf);
			return r;
		}
		free(buf);
		cap *= 2;
	}
}

/* Take the next name of the walk and write its header (FIFOs and the like are skipped). */
static int next_entry(struct tarsrc *t)
{
	struct level *lv = &t->stack[t->depth - 1];
	if (lv->i == lv->n) {
		pop_dir(t);
		return 0;
	}
	const char *name = lv->names[lv->i++];
	set_path(t, lv->prefix_len, name, false);
	struct stat st;
	if (fstatat(lv->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT) {
			warn(t, "context entry '%s' vanished while reading; left out", t->path);
			return 0;
		}
		return fail(t, "cannot stat context entry '%s': %s", t->path, strerror(errno));
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFREG: return add_regular(t, lv, name);
	case S_IFDIR: return add_dir(t, lv, name, strlen(name));
	case S_IFLNK: return add_symlink(t, lv, name, &st);
	case S_IFIFO: warn(t, "skipping FIFO '%s'", t->path); return 0;
	case S_IFSOCK: warn(t, "skipping socket '%s'", t->path); return 0;
	case S_IFCHR: warn(t, "skipping character device '%s'", t->path); return 0;
	case S_IFBLK: warn(t, "skipping block device '%s'", t->path); return 0;
	default: warn(t, "skipping '%s' of unknown type", t->path); return 0;
	}
}

/* Find whether file_off lies in a hole or in data, and where that region ends. */
static void find_region(struct tarsrc *t)
{
	uint64_t end = t->file_off + t->file_left;
	t->region_hole = false;
	t->region_end = end;
	if (t->no_holes)
		return;
	off_t d = lseek(t->file_fd, (off_t)t->file_off, SEEK_DATA);
	if (d < 0 && errno == ENXIO) {
		t->region_hole = true; /* a hole up to the end of the file */
		return;
	}
	if (d < 0) {
		t->no_holes = true;
		return;
	}
	if ((uint64_t)d > t->file_off) {
		t->region_hole = true;
		t->region_end = (uint64_t)d < end ? (uint64_t)d : end;
		return;
	}
	off_t h = lseek(t->file_fd, (off_t)t->file_off, SEEK_HOLE);
	if (h > (off_t)t->file_off && (uint64_t)h < end)
		t->region_end = (uint64_t)h;
}

/*
 * Put the next piece of the current file straight into the caller's buffer:
 * read() for data, zeros for holes (a sparse file costs no reads).
 */
static int data_step(struct tarsrc *t)
{
	size_t room = t->out_cap - t->out_len;
	size_t n = room < TARSRC_READ_MAX ? room : TARSRC_READ_MAX;
	if (n > t->file_left)
		n = (size_t)t->file_left;
	if (t->file_off >= t->region_end)
		find_region(t);
	if (n > t->region_end - t->file_off)
		n = (size_t)(t->region_end - t->file_off);
	uint8_t *dst = t->out + t->out_len;
	ssize_t r;
	if (t->region_hole) {
		memset(dst, 0, n);
		r = (ssize_t)n;
	} else {
		do
			r = pread(t->file_fd, dst, n, (off_t)t->file_off);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return fail(t, "cannot read context file '%s': %s", t->path,
			            strerror(errno));
		if (r == 0)
			return fail(t, "context file '%s' shrank while being read", t->path);
	}
	la_ssize_t w = archive_write_data(t->a, dst, (size_t)r);
	if (w != r)
		return fail(t, "cannot write the tar data of '%s': %s", t->path,
		            archive_error_string(t->a));
	t->file_left -= (uint64_t)r;
	t->file_off += (uint64_t)r;
	if (t->file_left == 0) {
		close(t->file_fd);
		t->file_fd = -1;
	}
	return 0;
}

struct tarsrc *tarsrc_open(const char *dir, tarsrc_warn_cb warn_cb, void *arg, char *err,
                           size_t errlen)
{
	if (lib_archive_load(err, errlen) != 0)
		return NULL;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open context directory '%s': %s", dir,
		         strerror(errno));
		return NULL;
	}
	struct tarsrc *t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->file_fd = -1;
	t->warn = warn_cb;
	t->warn_arg = arg;
	t->a = archive_write_new();
	if (!t->a || archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(t->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(t->a, 0) != ARCHIVE_OK ||
	    archive_write_open2(t->a, t, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
		snprintf(err, errlen, "cannot set up the tar writer: %s",
		         t->a ? archive_error_string(t->a) : "out of memory");
		close(fd);
		tarsrc_free(t);
		return NULL;
	}
	set_path(t, 0, "", false);
	if (push_dir(t, fd, 0) < 0) {
		snprintf(err, errlen, "%s (context directory '%s')", t->err, dir);
		tarsrc_free(t);
		return NULL;
	}
	return t;
}

int tarsrc_fill(struct tarsrc *t, uint8_t *buf, size_t cap, size_t *len)
{
	*len = 0;
	if (t->failed)
		return -1;
	t->out = buf;
	t->out_cap = cap;
	t->out_len = 0;
	if (t->spill_len > t->spill_off) {
		size_t k = t->spill_len - t->spill_off;
		if (k > cap)
			k = cap;
		memcpy(buf, t->spill + t->spill_off, k);
		t->spill_off += k;
		t->out_len = k;
		if (t->spill_off == t->spill_len)
			t->spill_off = t->spill_len = 0;
	}
	while (t->out_len < t->out_cap && !t->failed && t->spill_len == 0) {
		if (t->file_fd >= 0)
			data_step(t);
		else if (t->depth > 0)
			next_entry(t);
		else if (!t->closed) {
			t->closed = true;
			if (archive_write_close(t->a) != ARCHIVE_OK)
				fail(t, "cannot finish the tar stream: %s",
				     archive_error_string(t->a));
		} else {
			break;
		}
	}
	*len = t->out_len;
	t->out = NULL;
	if (t->failed)
		return -1;
	return t->closed && t->spill_len == 0 ? 0 : 1;
}

const char *tarsrc_error(const struct tarsrc *t)
{
	return t->err;
}

uint64_t tarsrc_entries(const struct tarsrc *t)
{
	return t->entries;
}

void tarsrc_free(struct tarsrc *t)
{
	if (!t)
		return;
	while (t->depth)
		pop_dir(t);
	if (t->file_fd >= 0)
		close(t->file_fd);
	if (t->a)
		archive_write_free(t->a);
	free(t->stack);
	free(t->path);
	free(t->spill);
	free(t);
}
