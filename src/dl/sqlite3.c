/* sqlite3.c – libsqlite3, opened when the tailer opens its registry (DIR/tail.db): the
 * functions src/tail/registry.c calls, forwarded (see lazylib.c). */
#include <sqlite3.h>
#include "pktlog/dl.h"
#include "lazylib.h"

#define FUNCS(X)                        \
	X(sqlite3_open_v2)              \
	X(sqlite3_close)                \
	X(sqlite3_busy_timeout)         \
	X(sqlite3_exec)                 \
	X(sqlite3_free)                 \
	X(sqlite3_errmsg)               \
	X(sqlite3_changes)              \
	X(sqlite3_prepare_v2)           \
	X(sqlite3_bind_int64)           \
	X(sqlite3_bind_text)            \
	X(sqlite3_step)                 \
	X(sqlite3_column_int64)         \
	X(sqlite3_reset)                \
	X(sqlite3_finalize)

PL_DL_TABLE(lib, "the tailer's registry", FUNCS);

bool pl_dl_sqlite3(char *err, size_t cap)
{
	return pl_lazylib_load(&lib, err, cap);
}

#define CALL(f) PL_DL_CALL(lib, f)

int sqlite3_open_v2(const char *filename, sqlite3 **ppDb, int flags, const char *zVfs)
{
	return CALL(sqlite3_open_v2)(filename, ppDb, flags, zVfs);
}

int sqlite3_close(sqlite3 *db)
{
	return CALL(sqlite3_close)(db);
}

int sqlite3_busy_timeout(sqlite3 *db, int ms)
{
	return CALL(sqlite3_busy_timeout)(db, ms);
}

int sqlite3_exec(sqlite3 *db, const char *sql, int (*callback)(void *, int, char **, char **),
		 void *arg, char **errmsg)
{
	return CALL(sqlite3_exec)(db, sql, callback, arg, errmsg);
}

void sqlite3_free(void *p)
{
	CALL(sqlite3_free)(p);
}

const char *sqlite3_errmsg(sqlite3 *db)
{
	return CALL(sqlite3_errmsg)(db);
}

int sqlite3_changes(sqlite3 *db)
{
	return CALL(sqlite3_changes)(db);
}

int sqlite3_prepare_v2(sqlite3 *db, const char *zSql, int nByte, sqlite3_stmt **ppStmt,
		       const char **pzTail)
{
	return CALL(sqlite3_prepare_v2)(db, zSql, nByte, ppStmt, pzTail);
}

int sqlite3_bind_int64(sqlite3_stmt *st, int i, sqlite3_int64 v)
{
	return CALL(sqlite3_bind_int64)(st, i, v);
}

int sqlite3_bind_text(sqlite3_stmt *st, int i, const char *text, int n, void (*destructor)(void *))
{
	return CALL(sqlite3_bind_text)(st, i, text, n, destructor);
}

int sqlite3_step(sqlite3_stmt *st)
{
	return CALL(sqlite3_step)(st);
}

sqlite3_int64 sqlite3_column_int64(sqlite3_stmt *st, int iCol)
{
	return CALL(sqlite3_column_int64)(st, iCol);
}

int sqlite3_reset(sqlite3_stmt *pStmt)
{
	return CALL(sqlite3_reset)(pStmt);
}

int sqlite3_finalize(sqlite3_stmt *pStmt)
{
	return CALL(sqlite3_finalize)(pStmt);
}
