/* lazylib.h: libcurl and libarchive, loaded the first time a process needs them. */
#ifndef R2K_LAZYLIB_H
#define R2K_LAZYLIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * r2k calls libcurl and libarchive through functions of the same names
 * (lib_curl.c, lib_archive.c) that forward to the library, which is
 * dlopen'd on first use. A process that does not need one never maps it
 * with its dependencies: an idle runner, a client (no libcurl), r2k check
 * (no libarchive).
 */

/* One library: its soname, the symbols it must provide, what loading found. */
struct lazylib {
	const char *soname;
	const char *const *names; /* symbol names, in the order of syms */
	void **syms;
	size_t n;
	pthread_mutex_t mu;
	bool tried, ok;
	char err[512];
};

/*
 * Load l (once; later calls return the first outcome): 0, or -1 with the
 * reason in err (library missing, symbol missing). Thread-safe.
 */
int lazylib_load(struct lazylib *l, char *err, size_t errlen);
/* Symbol i of l, loading l first; a library that cannot be loaded here ends the process. */
void *lazylib_sym(struct lazylib *l, size_t i);

/* Load libcurl now: 0, or -1 with the reason in err. */
int lib_curl_load(char *err, size_t errlen);
/* Load libarchive now: 0, or -1 with the reason in err. */
int lib_archive_load(char *err, size_t errlen);

#endif
