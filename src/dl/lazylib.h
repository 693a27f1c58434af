/* lazylib.h – the generic half of src/dl/: one shared library opened with dlopen the first
 * time a feature needs it, and a table of its functions resolved once (see lazylib.c).
 *
 * Used only by the per-library shims in src/dl/ (rdkafka.c, microhttpd.c, sqlite3.c,
 * bpf.c); the rest of pktlog sees pktlog/dl.h and the libraries' own headers. */
#ifndef PKTLOG_LAZYLIB_H
#define PKTLOG_LAZYLIB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Any function pointer: C lets it be cast back to the function's real type, and GCC's
 * -Wcast-function-type lets void (*)(void) match every type. */
typedef void (*pl_dl_fn)(void);

struct pl_lazylib {
	const char *soname;          /* e.g. "librdkafka.so.1", from the Makefile */
	const char *feature;         /* who needs it, for messages: "the Kafka output" */
	const char *const *names;    /* the functions to resolve ... */
	pl_dl_fn *fns;               /* ... and where their addresses go */
	size_t n;
	atomic_bool loaded;          /* set (release) once every fns[i] is valid */
	pthread_mutex_t lock;        /* serialises loading */
};

#define PL_LAZYLIB_INIT(so, feat, namev, fnv, count) {                          \
	.soname = (so), .feature = (feat), .names = (namev), .fns = (fnv), .n = (count), \
	.loaded = false, .lock = PTHREAD_MUTEX_INITIALIZER }

/* Open the library and resolve every name, once: later calls return true at once. On
 * failure, err gets "<feature> needs <soname>: <dlerror()>", nothing stays loaded, and a
 * later call tries again. Thread-safe. */
bool pl_lazylib_load(struct pl_lazylib *l, char *err, size_t cap);

/* For a shim called before its feature loaded the library: load it now, or log why it
 * cannot be loaded (naming the function i) and abort(). */
void pl_lazylib_need(struct pl_lazylib *l, size_t i);

/* Function i of the table, loading the library first if need be. */
static inline pl_dl_fn pl_lazylib_fn(struct pl_lazylib *l, size_t i)
{
	if (!atomic_load_explicit(&l->loaded, memory_order_acquire))
		pl_lazylib_need(l, i);
	return l->fns[i];
}

/* For the shims: the X-macro list FUNCS(X) of a library becomes an enum of indexes
 * (PL_DL_INDEX), a name table (PL_DL_NAME), and PL_DL_CALL(lib, f) is f from lib, with
 * f's own prototype (the shim's definition, declared by the library's header). */
#define PL_DL_INDEX(f) PL_DL_I_##f,
#define PL_DL_NAME(f) #f,
#define PL_DL_CALL(lib, f) ((typeof(&f))pl_lazylib_fn(&(lib), PL_DL_I_##f))

/* The tables of one library (PL_SONAME, from the Makefile) whose functions LIST(X) names:
 * the indexes, the names, the addresses and `static struct pl_lazylib var`. */
#define PL_DL_TABLE(var, feature, LIST)                                                  \
	enum { LIST(PL_DL_INDEX) var##_n };                                               \
	static const char *const var##_names[] = { LIST(PL_DL_NAME) };                   \
	static pl_dl_fn var##_fns[var##_n];                                               \
	static struct pl_lazylib var = PL_LAZYLIB_INIT(PL_SONAME, feature, var##_names,  \
						       var##_fns, var##_n)

#endif
