/* writer.c – the console, file and null outputs: their rows of struct pl_output_ops
 * (include/pktlog/output.h).
 *
 * Events are JSON lines gathered in one large buffer of whole records and written with
 * write(2); an event counts as written, and its ack token is returned, only once all of its
 * bytes are. A failed write never acks: a file is cut back to its last whole record (also
 * on open, after a crash mid-write), and the records not written stay in the buffer. A
 * daemon (retry mode) retries them with backoff (reopening a file whose path now names
 * another); a replay's first failure is final. Must not render or inspect events. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "pktlog/output.h"

#define PL_OUT_BUF (1u << 20)
#define PL_OUT_MAX_RECS 4096
#define BACKOFF_MIN_NS (PL_NS_PER_SEC / 4)
#define BACKOFF_MAX_NS (30 * PL_NS_PER_SEC)
#define LOG_EVERY_NS (10 * PL_NS_PER_SEC)
#define TRIM_SCAN_MAX (8u << 20)     /* how far back a torn tail is looked for */

struct writer {
	enum pl_output_type type;
	int fd;                     /* -1: none (null) */
	char *name;                 /* for messages: "stdout" or the path */
	char *buf;                  /* whole records, each ending in '\n', not yet written */
	size_t len, cap;
	void *tokens[PL_OUT_MAX_RECS]; /* one per record in buf (NULL: none) */
	size_t nrec;
	struct pl_stats *stats;
	pl_output_ack_fn ack;
	void *ack_arg;
	bool retry;                 /* a daemon: failed records are kept and retried */
	bool broken;                /* a failure that is final: nothing more is written */
	bool failing;               /* the last write failed; the next try is at retry_at */
	uint64_t retry_at, backoff;
	uint64_t logged_ns, suppressed, failures;
};

static bool stdout_closed;

void pl_output_guard_stdio(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		int nul;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* Hold the slot so no file, socket or spool segment we open becomes "stdout". */
		nul = open("/dev/null", O_RDWR);
		if (nul >= 0 && nul != fd) {
			dup2(nul, fd);
			close(nul);
		}
		if (fd == STDOUT_FILENO)
			stdout_closed = true;
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* The file ends in the middle of a record (a crash or a full disk cut it): cut it back to
 * just after its last '\n' so the next record does not join the torn one. */
static off_t last_line_end(int rfd, off_t end)
{
	char chunk[65536];
	off_t pos = end;

	if (pread(rfd, chunk, 1, end - 1) == 1 && chunk[0] == '\n')
		return end;
	while (pos > 0 && end - pos < (off_t)TRIM_SCAN_MAX) {
		size_t n = (size_t)PL_MIN((off_t)sizeof(chunk), pos);
		char *nl;

		pos -= (off_t)n;
		if (pread(rfd, chunk, n, pos) != (ssize_t)n)
			return -1;
		nl = memrchr(chunk, '\n', n);
		if (nl)
			return pos + (nl - chunk) + 1;
	}
	return pos == 0 ? 0 : -1;
}

/* The file ends in the middle of a record (a crash or a full disk cut it): cut it back to
 * just after its last '\n' so the next record does not join the torn one. */
static void trim_torn_tail(struct writer *o)
{
	struct stat st;
	off_t keep;
	int rfd;

	if (fstat(o->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		return;
	rfd = open(o->name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (rfd < 0) {
		pl_warn("output %s: cannot read its end to look for a partial record: %s", o->name,
			strerror(errno));
		return;
	}
	keep = last_line_end(rfd, st.st_size);
	close(rfd);
	if (keep == st.st_size)
		return;
	if (keep < 0) {
		pl_warn("output %s: ends in a partial record and holds no line end in its last %u "
			"bytes: left as it is", o->name, TRIM_SCAN_MAX);
		return;
	}
	if (ftruncate(o->fd, keep) < 0) {
		pl_err("output %s: cannot cut a partial record off its end: %s", o->name, strerror(errno));
		return;
	}
	pl_warn("output %s: cut %lld bytes of a partial record off its end (an earlier write failed)",
		o->name, (long long)(st.st_size - keep));
}

static int open_file(struct writer *o)
{
	o->fd = open(o->name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (o->fd < 0)
		return -1;
	trim_torn_tail(o);
	return 0;
}

/* Common to the three: the record buffer (console, file) and the counters. */
static struct writer *writer_new(enum pl_output_type type, const char *name,
				 struct pl_stats *stats, pl_output_ack_fn ack, void *ack_arg)
{
	struct writer *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->type = type;
	o->stats = stats;
	o->ack = ack;
	o->ack_arg = ack_arg;
	o->fd = -1;
	o->name = strdup(name);
	if (!o->name) {
		free(o);
		return NULL;
	}
	return o;
}

static void writer_free(struct writer *o)
{
	free(o->buf);
	free(o->name);
	free(o);
}

static void *writer_buffer(struct writer *o)
{
	o->cap = PL_OUT_BUF;
	o->buf = malloc(o->cap);
	if (o->buf)
		return o;
	if (o->type == PL_OUTPUT_FILE)
		close(o->fd);
	writer_free(o);
	return NULL;
}

static void *null_open(const struct pl_config *cfg, struct pl_stats *stats, pl_output_ack_fn ack,
		       void *ack_arg)
{
	(void)cfg;
	return writer_new(PL_OUTPUT_NULL, "null", stats, ack, ack_arg);
}

static void *console_open(const struct pl_config *cfg, struct pl_stats *stats,
			  pl_output_ack_fn ack, void *ack_arg)
{
	struct writer *o = writer_new(PL_OUTPUT_CONSOLE, "stdout", stats, ack, ack_arg);

	(void)cfg;
	if (!o)
		return NULL;
	if (stdout_closed) {
		pl_err("output stdout: standard output is closed");
		writer_free(o);
		return NULL;
	}
	o->fd = STDOUT_FILENO;
	return writer_buffer(o);
}

static void *file_open(const struct pl_config *cfg, struct pl_stats *stats, pl_output_ack_fn ack,
		       void *ack_arg)
{
	struct writer *o = writer_new(PL_OUTPUT_FILE, cfg->output.file_path, stats, ack, ack_arg);

	if (!o)
		return NULL;
	if (open_file(o) < 0) {
		pl_err("output file %s: %s", cfg->output.file_path, strerror(errno));
		writer_free(o);
		return NULL;
	}
	return writer_buffer(o);
}

static void writer_set_retry(void *impl, bool retry)
{
	struct writer *o = impl;

	o->retry = retry;
}

static bool writer_broken(const void *impl)
{
	const struct writer *o = impl;

	return o->broken;
}

/* One line per failure spell and then one every LOG_EVERY_NS, with the count in between. */
static void log_failure(struct writer *o, int err, uint64_t now)
{
	o->failures++;
	if (o->logged_ns && now - o->logged_ns < LOG_EVERY_NS) {
		o->suppressed++;
		return;
	}
	o->logged_ns = now;
	if (o->suppressed)
		pl_err("output %s: write failed: %s (%llu more failures since the last message)",
		       o->name, strerror(err), (unsigned long long)o->suppressed);
	else
		pl_err("output %s: write failed: %s", o->name, strerror(err));
	o->suppressed = 0;
}

/* The first n records are written: acknowledge them and keep the rest. */
static void done_records(struct writer *o, size_t nrec, size_t bytes)
{
	for (size_t i = 0; i < nrec; i++)
		if (o->ack && o->tokens[i])
			o->ack(o->tokens[i], 1, o->ack_arg);
	o->stats->output_written += nrec;
	memmove(o->tokens, o->tokens + nrec, (o->nrec - nrec) * sizeof(o->tokens[0]));
	o->nrec -= nrec;
	memmove(o->buf, o->buf + bytes, o->len - bytes);
	o->len -= bytes;
}

/* Records that will never be written: counted, and their sources told. */
static void drop_pending(struct writer *o)
{
	for (size_t i = 0; i < o->nrec; i++)
		if (o->ack && o->tokens[i])
			o->ack(o->tokens[i], 0, o->ack_arg);
	o->stats->output_dropped += o->nrec;
	o->nrec = 0;
	o->len = 0;
}

/* A write stopped after `done` bytes: whole records among them stay; the torn one is cut off a
 * regular file (a pipe cannot take bytes back). Returns the bytes of whole records. */
static size_t keep_whole(struct writer *o, size_t done)
{
	const char *nl = done ? memrchr(o->buf, '\n', done) : NULL;
	size_t whole = nl ? (size_t)(nl - o->buf) + 1 : 0;
	struct stat st;

	if (whole == done || fstat(o->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return whole;
	if (ftruncate(o->fd, st.st_size - (off_t)(done - whole)) < 0 ||
	    lseek(o->fd, st.st_size - (off_t)(done - whole), SEEK_SET) < 0)
		pl_err("output %s: cannot cut a partial record off its end: %s", o->name, strerror(errno));
	return whole;
}

static size_t count_lines(const char *p, size_t n)
{
	size_t c = 0;
	const char *e = p + n;

	while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		c++;
		p++;
	}
	return c;
}

/* EPIPE or EBADF on stdout, or any failure outside retry mode, will not get better. */
static bool final_error(const struct writer *o, int err)
{
	return !o->retry || (o->type == PL_OUTPUT_CONSOLE && (err == EPIPE || err == EBADF));
}

static void failed(struct writer *o, int err)
{
	uint64_t now = mono_ns();

	o->stats->output_errors++;
	o->stats->output_healthy = 0;
	log_failure(o, err, now);
	if (final_error(o, err)) {
		if (!o->broken && o->retry)
			pl_err("output %s: giving up: %s", o->name, strerror(err));
		o->broken = true;
		drop_pending(o);
		return;
	}
	o->backoff = o->failing ? PL_MIN(o->backoff * 2, BACKOFF_MAX_NS) : BACKOFF_MIN_NS;
	o->failing = true;
	o->retry_at = now + o->backoff;
}

/* Before a retry: when the path now names another file (moved, deleted, recreated), write
 * to that one. Otherwise (or when it cannot be opened, e.g. after giving up root) the same
 * descriptor is tried again: a file system that has room again takes the writes. */
static void reopen_if_moved(struct writer *o)
{
	struct stat cur, path;
	int fd;

	if (fstat(o->fd, &cur) == 0 && stat(o->name, &path) == 0 &&
	    cur.st_dev == path.st_dev && cur.st_ino == path.st_ino)
		return;
	fd = open(o->name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return;
	close(o->fd);
	o->fd = fd;
	pl_info("output %s: reopened", o->name);
	trim_torn_tail(o);
}

/* Write the buffer out. 0 when it is empty afterwards, -1 otherwise. */
static int write_pending(struct writer *o)
{
	size_t done = 0, whole;
	int err = 0;

	if (o->failing && o->type == PL_OUTPUT_FILE)
		reopen_if_moved(o);
	while (done < o->len) {
		ssize_t n = write(o->fd, o->buf + done, o->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			break;
		}
		done += (size_t)n;
	}
	whole = err ? keep_whole(o, done) : done;
	done_records(o, err ? count_lines(o->buf, whole) : o->nrec, whole);
	if (!err) {
		if (o->failing)
			pl_info("output %s: writing again after %llu failed attempts", o->name,
				(unsigned long long)o->failures);
		o->failing = false;
		o->failures = o->suppressed = o->logged_ns = 0;
		o->stats->output_healthy = 1;
		return 0;
	}
	failed(o, err);
	return -1;
}

/* Write now unless a retry is not due yet. */
static int try_write(struct writer *o, bool force)
{
	if (o->broken)
		return -1;
	if (!o->len)
		return o->failing ? -1 : 0;
	if (o->failing && !force && mono_ns() < o->retry_at)
		return -1;
	return write_pending(o);
}

static int writer_flush(void *impl)
{
	struct writer *o = impl;

	if (o->len)
		return try_write(o, false);
	return o->broken ? -1 : 0;
}

/* Room for one record of `need` bytes; false while the output fails (nothing is taken). */
static bool make_room(struct writer *o, size_t need)
{
	if (o->broken)
		return false;
	if (o->len + need <= o->cap && o->nrec < PL_OUT_MAX_RECS)
		return true;
	try_write(o, false);
	if (o->broken)
		return false;
	if (o->len + need <= o->cap && o->nrec < PL_OUT_MAX_RECS)
		return true;
	if (o->len || o->broken)
		return false;
	/* One record larger than the buffer: grow it (rare; bounded by the render buffers). */
	char *b = realloc(o->buf, need);
	if (!b)
		return false;
	o->buf = b;
	o->cap = need;
	return true;
}

static int writer_publish(void *impl, const char *bytes, size_t len, const char *key,
			  const char *topic, void *ack_token)
{
	struct writer *o = impl;

	(void)key;
	(void)topic;
	if (!make_room(o, len + 1)) {
		/* A source that keeps its offsets (a token) reads the record again later; for the
		 * others this event is lost: counted. */
		if (!ack_token || o->broken) {
			o->stats->output_accepted++;
			o->stats->output_dropped++;
		}
		return -1;
	}
	memcpy(o->buf + o->len, bytes, len);
	o->buf[o->len + len] = '\n';
	o->len += len + 1;
	o->tokens[o->nrec++] = ack_token;
	o->stats->output_accepted++;
	return 0;
}

static void writer_poll(void *impl)
{
	struct writer *o = impl;

	if (o->failing && !o->broken && mono_ns() >= o->retry_at)
		write_pending(o);
}

static bool writer_should_pause(const void *impl)
{
	const struct writer *o = impl;

	return o->failing || o->broken;
}

static int writer_close(void *impl)
{
	struct writer *o = impl;
	int rc = 0;

	/* A last try, backoff or not; what still cannot be written is lost, and said so. */
	if (o->len && try_write(o, true) != 0)
		rc = -1;
	if (o->len) {
		pl_err("output %s: %zu events could not be written", o->name, o->nrec);
		drop_pending(o);
	}
	if (o->broken || o->stats->output_dropped)
		rc = -1;
	if (o->type == PL_OUTPUT_FILE && o->fd >= 0 && close(o->fd) != 0 && rc == 0) {
		pl_err("output %s: close failed: %s", o->name, strerror(errno));
		rc = -1;
	}
	writer_free(o);
	return rc;
}

/* Null: every event is accepted, written and acknowledged at once. */
static int null_publish(void *impl, const char *bytes, size_t len, const char *key,
			const char *topic, void *ack_token)
{
	struct writer *o = impl;

	(void)bytes;
	(void)len;
	(void)key;
	(void)topic;
	o->stats->output_accepted++;
	o->stats->output_written++;
	if (o->ack && ack_token)
		o->ack(ack_token, 1, o->ack_arg);
	return 0;
}

static int null_flush(void *impl)
{
	(void)impl;
	return 0;
}

const struct pl_output_ops pl_output_console_ops = {
	.name = "console", .open = console_open, .set_retry = writer_set_retry,
	.broken = writer_broken, .publish = writer_publish, .flush = writer_flush,
	.poll = writer_poll, .should_pause = writer_should_pause, .close = writer_close,
};

const struct pl_output_ops pl_output_file_ops = {
	.name = "file", .open = file_open, .set_retry = writer_set_retry,
	.broken = writer_broken, .publish = writer_publish, .flush = writer_flush,
	.poll = writer_poll, .should_pause = writer_should_pause, .close = writer_close,
};

/* The writer's poll, pause and close find nothing buffered and nothing failing. */
const struct pl_output_ops pl_output_null_ops = {
	.name = "null", .open = null_open, .set_retry = writer_set_retry,
	.broken = writer_broken, .publish = null_publish, .flush = null_flush,
	.poll = writer_poll, .should_pause = writer_should_pause, .close = writer_close,
};
