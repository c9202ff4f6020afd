/*
 * lib_archive.c: the libarchive functions r2k calls, forwarding to
 * libarchive once it is loaded (lazylib.h). extract.c, tarsrc.c and
 * version.c call them by their usual names.
 */
#include <archive.h>
#include <archive_entry.h>
#include <stdarg.h>
#include <stdio.h>

#include "lazylib.h"

#ifndef R2K_LIBARCHIVE_SONAME
#define R2K_LIBARCHIVE_SONAME "libarchive.so.13"
#endif

#define ARCHIVE_FUNCS(X)                                                                           \
	X(archive_version_string)                                                                  \
	X(archive_error_string)                                                                    \
	X(archive_set_error)                                                                       \
	X(archive_read_new)                                                                        \
	X(archive_read_support_filter_gzip)                                                        \
	X(archive_read_support_format_tar)                                                         \
	X(archive_read_open)                                                                       \
	X(archive_read_next_header)                                                                \
	X(archive_read_data_block)                                                                 \
	X(archive_read_free)                                                                       \
	X(archive_write_new)                                                                       \
	X(archive_write_set_bytes_per_block)                                                       \
	X(archive_write_add_filter_none)                                                           \
	X(archive_write_set_format_pax_restricted)                                                 \
	X(archive_write_open2)                                                                     \
	X(archive_write_header)                                                                    \
	X(archive_write_data)                                                                      \
	X(archive_write_close)                                                                     \
	X(archive_write_free)                                                                      \
	X(archive_entry_new)                                                                       \
	X(archive_entry_free)                                                                      \
	X(archive_entry_pathname)                                                                  \
	X(archive_entry_copy_pathname)                                                             \
	X(archive_entry_filetype)                                                                  \
	X(archive_entry_set_filetype)                                                              \
	X(archive_entry_perm)                                                                      \
	X(archive_entry_set_perm)                                                                  \
	X(archive_entry_size)                                                                      \
	X(archive_entry_size_is_set)                                                               \
	X(archive_entry_set_size)                                                                  \
	X(archive_entry_mtime)                                                                     \
	X(archive_entry_mtime_nsec)                                                                \
	X(archive_entry_mtime_is_set)                                                              \
	X(archive_entry_set_mtime)                                                                 \
	X(archive_entry_set_uid)                                                                   \
	X(archive_entry_set_gid)                                                                   \
	X(archive_entry_symlink)                                                                   \
	X(archive_entry_copy_symlink)                                                              \
	X(archive_entry_hardlink)

#define AS_INDEX(name) I_##name,
#define AS_NAME(name)  #name,
enum { ARCHIVE_FUNCS(AS_INDEX) N_FUNCS };
static const char *const names[] = {ARCHIVE_FUNCS(AS_NAME)};
static void *syms[N_FUNCS];
static struct lazylib lib = {.soname = R2K_LIBARCHIVE_SONAME,
                             .names = names,
                             .syms = syms,
                             .n = N_FUNCS,
                             .mu = PTHREAD_MUTEX_INITIALIZER};

/* The real function name, with its own type. */
#define REAL(name) ((__typeof__(name) *)lazylib_sym(&lib, I_##name))
/* A function that forwards its arguments and result. */
#define FORWARD(ret, name, params, args)                                                           \
	ret name params                                                                            \
	{                                                                                          \
		return REAL(name) args;                                                            \
	}
/* The same for a function without a result. */
#define FORWARD_VOID(name, params, args)                                                           \
	void name params                                                                           \
	{                                                                                          \
		REAL(name) args;                                                                   \
	}

int lib_archive_load(char *err, size_t errlen)
{
	return lazylib_load(&lib, err, errlen);
}

/* The message is formatted here: a variadic call cannot be forwarded as it is. */
void archive_set_error(struct archive *a, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	REAL(archive_set_error)(a, err, "%s", msg);
}

FORWARD(const char *, archive_version_string, (void), ())
FORWARD(const char *, archive_error_string, (struct archive * a), (a))
FORWARD(struct archive *, archive_read_new, (void), ())
FORWARD(int, archive_read_support_filter_gzip, (struct archive * a), (a))
FORWARD(int, archive_read_support_format_tar, (struct archive * a), (a))
FORWARD(int, archive_read_open,
        (struct archive * a, void *data, archive_open_callback *open, archive_read_callback *read,
         archive_close_callback *close),
        (a, data, open, read, close))
FORWARD(int, archive_read_next_header, (struct archive * a, struct archive_entry **e), (a, e))
FORWARD(int, archive_read_data_block,
        (struct archive * a, const void **buf, size_t *size, la_int64_t *offset),
        (a, buf, size, offset))
FORWARD(int, archive_read_free, (struct archive * a), (a))
FORWARD(struct archive *, archive_write_new, (void), ())
FORWARD(int, archive_write_set_bytes_per_block, (struct archive * a, int n), (a, n))
FORWARD(int, archive_write_add_filter_none, (struct archive * a), (a))
FORWARD(int, archive_write_set_format_pax_restricted, (struct archive * a), (a))
FORWARD(int, archive_write_open2,
        (struct archive * a, void *data, archive_open_callback *open, archive_write_callback *write,
         archive_close_callback *close, archive_free_callback *free_cb),
        (a, data, open, write, close, free_cb))
FORWARD(int, archive_write_header, (struct archive * a, struct archive_entry *e), (a, e))
FORWARD(la_ssize_t, archive_write_data, (struct archive * a, const void *buf, size_t n),
        (a, buf, n))
FORWARD(int, archive_write_close, (struct archive * a), (a))
FORWARD(int, archive_write_free, (struct archive * a), (a))
FORWARD(struct archive_entry *, archive_entry_new, (void), ())
FORWARD_VOID(archive_entry_free, (struct archive_entry * e), (e))
FORWARD(const char *, archive_entry_pathname, (struct archive_entry * e), (e))
FORWARD_VOID(archive_entry_copy_pathname, (struct archive_entry * e, const char *s), (e, s))
FORWARD(mode_t, archive_entry_filetype, (struct archive_entry * e), (e))
FORWARD_VOID(archive_entry_set_filetype, (struct archive_entry * e, unsigned int t), (e, t))
FORWARD(mode_t, archive_entry_perm, (struct archive_entry * e), (e))
FORWARD_VOID(archive_entry_set_perm, (struct archive_entry * e, mode_t m), (e, m))
FORWARD(la_int64_t, archive_entry_size, (struct archive_entry * e), (e))
FORWARD(int, archive_entry_size_is_set, (struct archive_entry * e), (e))
FORWARD_VOID(archive_entry_set_size, (struct archive_entry * e, la_int64_t n), (e, n))
FORWARD(time_t, archive_entry_mtime, (struct archive_entry * e), (e))
FORWARD(long, archive_entry_mtime_nsec, (struct archive_entry * e), (e))
FORWARD(int, archive_entry_mtime_is_set, (struct archive_entry * e), (e))
FORWARD_VOID(archive_entry_set_mtime, (struct archive_entry * e, time_t t, long ns), (e, t, ns))
FORWARD_VOID(archive_entry_set_uid, (struct archive_entry * e, la_int64_t id), (e, id))
FORWARD_VOID(archive_entry_set_gid, (struct archive_entry * e, la_int64_t id), (e, id))
FORWARD(const char *, archive_entry_symlink, (struct archive_entry * e), (e))
FORWARD_VOID(archive_entry_copy_symlink, (struct archive_entry * e, const char *s), (e, s))
FORWARD(const char *, archive_entry_hardlink, (struct archive_entry * e), (e))
