/* lazylib.c – opens a shared library the first time a feature needs it.
 *
 * src/dl/ keeps the big optional libraries out of pktlog's start-up: librdkafka (the Kafka
 * output), libmicrohttpd (metrics.listen), libsqlite3 (the tailer's registry) and libbpf (the
 * eBPF pre-filter) are not linked; with their dependencies (OpenSSL, GnuTLS, SASL, libelf...)
 * they were 25 of pktlog's 33 shared objects, mapped by every run although most runs use none.
 *
 *   lazylib.c/.h  this file: dlopen(RTLD_NOW | RTLD_LOCAL) of one soname and dlsym of a table
 *                 of function names, once, under a mutex; failures name the feature and the
 *                 library ("the Kafka output needs librdkafka.so.1: <dlerror()>").
 *   rdkafka.c, microhttpd.c, sqlite3.c, bpf.c
 *                 one shim per library: it includes the library's own header and defines every
 *                 function pktlog (and its unit tests) calls, with the library's prototype,
 *                 forwarding to the resolved address; callers and the bpftool skeleton are
 *                 unchanged. Each also defines pl_dl_<lib>() (pktlog/dl.h), which the feature
 *                 calls where it starts, so a missing library is a clean error there. A shim
 *                 called before that loads the library on the spot, or logs and aborts.
 *
 * The sonames come from the build machine: the Makefile reads each development .so's
 * SONAME and passes it as PL_SONAME to that library's shim. Nothing here is ever unloaded. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include "pktlog/common.h"
#include "lazylib.h"

/* Called with l->lock held. */
static bool load_locked(struct pl_lazylib *l, char *err, size_t cap)
{
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(err, cap, "%s needs %s: %s", l->feature, l->soname, dlerror());
		return false;
	}
	for (size_t i = 0; i < l->n; i++) {
		void *sym;

		dlerror();
		sym = dlsym(h, l->names[i]);
		if (!sym) {
			const char *why = dlerror();
			snprintf(err, cap, "%s needs %s: %s", l->feature, l->soname,
				 why ? why : "a function is NULL");
			dlclose(h);
			return false;
		}
		l->fns[i] = (pl_dl_fn)sym;
	}
	/* Every fns[i] is written before any thread can see loaded == true. */
	atomic_store_explicit(&l->loaded, true, memory_order_release);
	return true;
}

bool pl_lazylib_load(struct pl_lazylib *l, char *err, size_t cap)
{
	bool ok;

	if (atomic_load_explicit(&l->loaded, memory_order_acquire))
		return true;
	pthread_mutex_lock(&l->lock);
	ok = atomic_load_explicit(&l->loaded, memory_order_relaxed) || load_locked(l, err, cap);
	pthread_mutex_unlock(&l->lock);
	return ok;
}

void pl_lazylib_need(struct pl_lazylib *l, size_t i)
{
	char err[512];

	if (pl_lazylib_load(l, err, sizeof(err)))
		return;
	pl_err("%s: %s", l->names[i], err);
	abort();
}
