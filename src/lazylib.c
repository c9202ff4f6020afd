/* lazylib.c: dlopen a library and look up every symbol r2k uses, once per process. */
#include "lazylib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int lazylib_load(struct lazylib *l, char *err, size_t errlen)
{
	pthread_mutex_lock(&l->mu);
	if (!l->tried) {
		l->tried = true;
		void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			const char *e = dlerror();
			snprintf(l->err, sizeof(l->err), "cannot load %s: %s", l->soname,
			         e ? e : "unknown error");
		} else {
			size_t i;
			for (i = 0; i < l->n; i++)
				if (!(l->syms[i] = dlsym(h, l->names[i])))
					break;
			if (i < l->n)
				snprintf(l->err, sizeof(l->err), "%s has no symbol %s", l->soname,
				         l->names[i]);
			else
				__atomic_store_n(&l->ok, true, __ATOMIC_RELEASE);
			/* The handle stays open for the life of the process. */
		}
	}
	bool ok = l->ok;
	if (!ok && err)
		snprintf(err, errlen, "%s", l->err);
	pthread_mutex_unlock(&l->mu);
	return ok ? 0 : -1;
}

void *lazylib_sym(struct lazylib *l, size_t i)
{
	/* Every library call comes here: no lock once loaded. */
	if (__atomic_load_n(&l->ok, __ATOMIC_ACQUIRE))
		return l->syms[i];
	if (lazylib_load(l, NULL, 0) != 0) {
		fprintf(stderr, "r2k: %s\n", l->err);
		abort();
	}
	return l->syms[i];
}
