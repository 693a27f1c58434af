/* registry.c – the tailer's delivered offsets, one row per file identity, in DIR/tail.db.
 *
 * sqlite in WAL mode with synchronous=NORMAL: a commit is one append to the WAL, atomic and
 * kept across SIGKILL (the kernel has the bytes); a batch of thousands of files costs the
 * same as one. The WAL is fsync'd at checkpoints, not per commit: after a power loss the
 * registry may come back some commits older, which only means lines are read again (the
 * offsets never run ahead of delivery, so this costs duplicates, never a gap), and it keeps
 * a slow disk's fsync out of the tailer's loop. Readable with the sqlite3 shell.
 * A plain store: lookup, put, delete, prune, commit. Must not decide what or when to
 * commit (offsets.c does) nor read the files it describes (file.c fingerprints them). */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "pktlog/tail.h"

#define SQL_SCHEMA \
	"CREATE TABLE IF NOT EXISTS files (dev INTEGER NOT NULL, ino INTEGER NOT NULL," \
	" fp INTEGER NOT NULL, fp_len INTEGER NOT NULL, path TEXT NOT NULL," \
	" offset INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (dev, ino))"
#define SQL_GET "SELECT fp, fp_len, offset FROM files WHERE dev = ?1 AND ino = ?2"
#define SQL_PUT \
	"INSERT INTO files (dev, ino, fp, fp_len, path, offset, updated)" \
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, strftime('%s','now'))" \
	" ON CONFLICT (dev, ino) DO UPDATE SET fp = ?3, fp_len = ?4, path = ?5, offset = ?6," \
	" updated = strftime('%s','now')"
#define SQL_DEL "DELETE FROM files WHERE dev = ?1 AND ino = ?2"
#define SQL_PRUNE "DELETE FROM files WHERE updated < ?1"

struct pl_tail_reg {
	sqlite3 *db;
	sqlite3_stmt *get, *put, *del;
	char *path;
	char *dir;
	struct pl_tail_limit warn;    /* errors that repeat every commit */
};

/* sqlite says "unable to open database file" and the like without the cause: find it
 * with the same checks on the directory and the files sqlite needs (db, -wal, -shm). */
static void why(const struct pl_tail_reg *r, char *buf, size_t cap)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char file[PATH_MAX];
	struct stat st;

	buf[0] = '\0';
	if (stat(r->dir, &st) != 0 || (!S_ISDIR(st.st_mode) && (errno = ENOTDIR)) ||
	    access(r->dir, W_OK | X_OK) != 0) {
		snprintf(buf, cap, " (directory %s: %s)", r->dir, strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(file, sizeof(file), "%s%s", r->path, suffix[i]);
		if (stat(file, &st) == 0 && !S_ISREG(st.st_mode)) {
			snprintf(buf, cap, " (%s: %s)", file, S_ISDIR(st.st_mode) ?
				 strerror(EISDIR) : "not a regular file");
			return;
		}
		if (access(file, R_OK | W_OK) != 0 && errno != ENOENT) {
			snprintf(buf, cap, " (%s: %s)", file, strerror(errno));
			return;
		}
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* One error of the registry, naming the file and the cause; at most one line per
 * PL_TAIL_WARN_EVERY_NS when it repeats (a failing commit does, every commit_interval). */
static void fail(struct pl_tail_reg *r, const char *what, const char *msg)
{
	char because[PATH_MAX + 64];
	uint32_t n;

	if (!pl_tail_limit_pass(&r->warn, mono_ns(), PL_TAIL_WARN_EVERY_NS, 0, &n))
		return;
	why(r, because, sizeof(because));
	if (n)
		pl_err("tail registry %s: %s%s%s%s (%u more suppressed)", r->path, what ? what : "",
		       what ? ": " : "", msg, because, n);
	else
		pl_err("tail registry %s: %s%s%s%s", r->path, what ? what : "", what ? ": " : "",
		       msg, because);
}

static int exec(struct pl_tail_reg *r, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	fail(r, sql, msg ? msg : sqlite3_errmsg(r->db));
	sqlite3_free(msg);
	return -1;
}

static int prepare(struct pl_tail_reg *r, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(r->db, sql, -1, st, NULL) == SQLITE_OK)
		return 0;
	fail(r, NULL, sqlite3_errmsg(r->db));
	return -1;
}

struct pl_tail_reg *pl_tail_reg_open(const char *dir)
{
	struct pl_tail_reg *r;

	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		pl_err("data directory %s: %s (set --data-dir)", dir, strerror(errno));
		goto fail;
	}
	if (asprintf(&r->path, "%s/tail.db", dir) < 0) {
		r->path = NULL;
		goto fail;
	}
	r->dir = strdup(dir);
	if (!r->dir)
		goto fail;
	if (sqlite3_open_v2(r->path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		fail(r, NULL, r->db ? sqlite3_errmsg(r->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(r->db, 5000);
	if (exec(r, "PRAGMA journal_mode=WAL") < 0 || exec(r, "PRAGMA synchronous=NORMAL") < 0 ||
	    exec(r, SQL_SCHEMA) < 0 || prepare(r, SQL_GET, &r->get) < 0 ||
	    prepare(r, SQL_PUT, &r->put) < 0 || prepare(r, SQL_DEL, &r->del) < 0)
		goto fail;
	return r;
fail:
	pl_tail_reg_close(r);
	return NULL;
}

void pl_tail_reg_close(struct pl_tail_reg *r)
{
	if (!r)
		return;
	sqlite3_finalize(r->get);
	sqlite3_finalize(r->put);
	sqlite3_finalize(r->del);
	sqlite3_close(r->db);
	free(r->path);
	free(r->dir);
	free(r);
}

int pl_tail_reg_get(struct pl_tail_reg *r, uint64_t dev, uint64_t ino,
		    struct pl_tail_id *stored, uint64_t *offset)
{
	int rc, found = 0;

	sqlite3_bind_int64(r->get, 1, (sqlite3_int64)dev);
	sqlite3_bind_int64(r->get, 2, (sqlite3_int64)ino);
	rc = sqlite3_step(r->get);
	if (rc == SQLITE_ROW) {
		stored->dev = dev;
		stored->ino = ino;
		stored->fp = (uint64_t)sqlite3_column_int64(r->get, 0);
		stored->fp_len = (uint32_t)sqlite3_column_int64(r->get, 1);
		*offset = (uint64_t)sqlite3_column_int64(r->get, 2);
		found = 1;
	} else if (rc != SQLITE_DONE) {
		fail(r, "lookup", sqlite3_errmsg(r->db));
	}
	sqlite3_reset(r->get);
	return found;
}

int pl_tail_reg_begin(struct pl_tail_reg *r)
{
	return exec(r, "BEGIN IMMEDIATE");
}

int pl_tail_reg_commit(struct pl_tail_reg *r)
{
	return exec(r, "COMMIT");
}

static int step_done(struct pl_tail_reg *r, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	fail(r, NULL, sqlite3_errmsg(r->db));
	return -1;
}

int pl_tail_reg_put(struct pl_tail_reg *r, const struct pl_tail_id *id, const char *path,
		    uint64_t offset)
{
	sqlite3_bind_int64(r->put, 1, (sqlite3_int64)id->dev);
	sqlite3_bind_int64(r->put, 2, (sqlite3_int64)id->ino);
	sqlite3_bind_int64(r->put, 3, (sqlite3_int64)id->fp);
	sqlite3_bind_int64(r->put, 4, (sqlite3_int64)id->fp_len);
	sqlite3_bind_text(r->put, 5, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(r->put, 6, (sqlite3_int64)offset);
	return step_done(r, r->put);
}

int pl_tail_reg_del(struct pl_tail_reg *r, uint64_t dev, uint64_t ino)
{
	sqlite3_bind_int64(r->del, 1, (sqlite3_int64)dev);
	sqlite3_bind_int64(r->del, 2, (sqlite3_int64)ino);
	return step_done(r, r->del);
}

long pl_tail_reg_prune(struct pl_tail_reg *r, int64_t before_sec)
{
	sqlite3_stmt *st = NULL;
	long n = -1;

	if (sqlite3_prepare_v2(r->db, SQL_PRUNE, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, before_sec);
	if (sqlite3_step(st) == SQLITE_DONE)
		n = (long)sqlite3_changes(r->db);
	sqlite3_finalize(st);
	return n;
}

long pl_tail_reg_count(struct pl_tail_reg *r)
{
	sqlite3_stmt *st = NULL;
	long n = -1;

	if (sqlite3_prepare_v2(r->db, "SELECT count(*) FROM files", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}
