/*
 * lib_curl.c: the libcurl functions r2k calls, forwarding to libcurl once
 * it is loaded (lazylib.h). checks_http.c and version.c call them by their
 * usual names; only the prototypes of <curl/curl.h> are compiled in.
 */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <stdarg.h>

#include "lazylib.h"

#ifndef R2K_LIBCURL_SONAME
#define R2K_LIBCURL_SONAME "libcurl.so.4"
#endif

#define CURL_FUNCS(X)                                                                              \
	X(curl_global_init)                                                                        \
	X(curl_multi_init)                                                                         \
	X(curl_multi_setopt)                                                                       \
	X(curl_multi_assign)                                                                       \
	X(curl_multi_socket_action)                                                                \
	X(curl_multi_info_read)                                                                    \
	X(curl_multi_add_handle)                                                                   \
	X(curl_multi_remove_handle)                                                                \
	X(curl_multi_cleanup)                                                                      \
	X(curl_easy_init)                                                                          \
	X(curl_easy_setopt)                                                                        \
	X(curl_easy_getinfo)                                                                       \
	X(curl_easy_cleanup)                                                                       \
	X(curl_easy_strerror)                                                                      \
	X(curl_slist_append)                                                                       \
	X(curl_slist_free_all)                                                                     \
	X(curl_version_info)

#define AS_INDEX(name) I_##name,
#define AS_NAME(name)  #name,
enum { CURL_FUNCS(AS_INDEX) N_FUNCS };
static const char *const names[] = {CURL_FUNCS(AS_NAME)};
static void *syms[N_FUNCS];
static struct lazylib lib = {.soname = R2K_LIBCURL_SONAME,
                             .names = names,
                             .syms = syms,
                             .n = N_FUNCS,
                             .mu = PTHREAD_MUTEX_INITIALIZER};

/* The real function name, with its own type. */
#define REAL(name) ((__typeof__(name) *)lazylib_sym(&lib, I_##name))

int lib_curl_load(char *err, size_t errlen)
{
	return lazylib_load(&lib, err, errlen);
}

/* The functions without variable arguments forward theirs as they are. */
CURLcode curl_global_init(long flags)
{
	return REAL(curl_global_init)(flags);
}

CURLM *curl_multi_init(void)
{
	return REAL(curl_multi_init)();
}

/*
 * An option's argument type is told by its number's range (CURLOPTTYPE_*):
 * take it from ap as that type and call fn with it, the result in rc.
 */
#define FORWARD_OPTION(rc, fn, handle, option, ap)                                                 \
	do {                                                                                       \
		if ((option) < CURLOPTTYPE_OBJECTPOINT)                                            \
			rc = REAL(fn)(handle, option, va_arg(ap, long));                           \
		else if ((option) < CURLOPTTYPE_FUNCTIONPOINT)                                     \
			rc = REAL(fn)(handle, option, va_arg(ap, void *));                         \
		else if ((option) < CURLOPTTYPE_OFF_T)                                             \
			rc = REAL(fn)(handle, option, va_arg(ap, void (*)(void)));                 \
		else if ((option) < CURLOPTTYPE_BLOB)                                              \
			rc = REAL(fn)(handle, option, va_arg(ap, curl_off_t));                     \
		else                                                                               \
			rc = REAL(fn)(handle, option, va_arg(ap, void *));                         \
	} while (0)

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption option, ...)
{
	va_list ap;
	CURLMcode rc;
	va_start(ap, option);
	FORWARD_OPTION(rc, curl_multi_setopt, m, option, ap);
	va_end(ap);
	return rc;
}

CURLMcode curl_multi_assign(CURLM *m, curl_socket_t fd, void *p)
{
	return REAL(curl_multi_assign)(m, fd, p);
}

CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t fd, int ev_bitmask, int *running_handles)
{
	return REAL(curl_multi_socket_action)(m, fd, ev_bitmask, running_handles);
}

CURLMsg *curl_multi_info_read(CURLM *m, int *msgs_in_queue)
{
	return REAL(curl_multi_info_read)(m, msgs_in_queue);
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *e)
{
	return REAL(curl_multi_add_handle)(m, e);
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *e)
{
	return REAL(curl_multi_remove_handle)(m, e);
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
	return REAL(curl_multi_cleanup)(m);
}

CURL *curl_easy_init(void)
{
	return REAL(curl_easy_init)();
}

CURLcode curl_easy_setopt(CURL *e, CURLoption option, ...)
{
	va_list ap;
	CURLcode rc;
	va_start(ap, option);
	FORWARD_OPTION(rc, curl_easy_setopt, e, option, ap);
	va_end(ap);
	return rc;
}

/* Every CURLINFO takes a pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *e, CURLINFO info, ...)
{
	va_list ap;
	va_start(ap, info);
	CURLcode rc = REAL(curl_easy_getinfo)(e, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

void curl_easy_cleanup(CURL *e)
{
	REAL(curl_easy_cleanup)(e);
}

const char *curl_easy_strerror(CURLcode code)
{
	return REAL(curl_easy_strerror)(code);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	return REAL(curl_slist_append)(list, s);
}

void curl_slist_free_all(struct curl_slist *list)
{
	REAL(curl_slist_free_all)(list);
}

curl_version_info_data *curl_version_info(CURLversion v)
{
	return REAL(curl_version_info)(v);
}
