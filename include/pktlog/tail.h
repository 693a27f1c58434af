/* tail.h – the file tailer: log lines (or multi-line records) of watched files as events.
 *
 * Contract (tail → output): the tailer renders each record as one JSON line and hands it
 * to env->publish with an ack token; it advances a file's stored offset only when the
 * output acknowledges, through pl_tail_ack, a contiguous prefix of what it published.
 * The tailer owns inotify, its files and the offset registry; it never touches the output
 * directly, so the output (console, file, Kafka) can change behind env. */
#ifndef PKTLOG_TAIL_H
#define PKTLOG_TAIL_H

#include <regex.h>
#include <signal.h>
#include "pktlog/common.h"
#include "pktlog/config.h"
#include "pktlog/stats.h"

/* ---- the tailer (src/tail/tailer.c and the files src/tail/tail_int.h lists) ---- */

struct pl_tail;

struct pl_tail_env {
	/* Queue one rendered event; returns 0 or -1 (not taken: the tailer retries later). */
	int (*publish)(void *arg, const char *json, size_t len, const char *key,
		       const char *topic, void *ack_token);
	/* Ask the output to make what was published durable (and so acknowledge it). */
	void (*flush)(void *arg);
	/* True while the output wants sources to stop reading (back-pressure); may be NULL. */
	bool (*should_pause)(void *arg);
	void *arg;
	const char *host_name;        /* host.name */
	struct pl_stats *stats;       /* the tailer thread's own copy */
	/* Optional: non-zero makes long loops (directory scans) give up, as pl_tail_stop does;
	 * the process's stop flag, so a signal is heard while a reload waits for a scan. */
	const volatile sig_atomic_t *quit;
};

/* Set up the tailer for cfg->tail.inputs: opens the registry in cfg->data_dir, sets up
 * inotify and scans the inputs. Returns NULL after logging one message on failure. */
struct pl_tail *pl_tail_open(const struct pl_config *cfg, const struct pl_tail_env *env);

/* Run until pl_tail_stop: wait for inotify events, read, publish, commit offsets. On
 * return every acknowledged offset is committed. Returns 0, or -1 on a fatal error. */
int pl_tail_run(struct pl_tail *t);

/* One directory scan's work limit (default 100,000 directories, 2,000,000 entries); for
 * tests, before pl_tail_run. */
void pl_tail_set_scan_limits(struct pl_tail *t, size_t max_dirs, size_t max_entries);

/* Ask pl_tail_run to return (callable from any thread or after a signal). */
void pl_tail_stop(struct pl_tail *t);

/* SIGHUP: switch to new_cfg's tail inputs and tail.* intervals (any thread but the
 * tailer's; waits until the tailer thread has applied it at a safe point between reads).
 * Files of inputs that remain keep their offsets; files of new inputs start per their
 * start_position; files of removed inputs stop being read, their delivered offsets are
 * committed (the registry keeps them, so re-adding the input resumes without re-reading).
 * new_cfg must outlive the tailer or the next reload; tail.max_inflight and data_dir keep
 * their old values. Returns 0, or -1 (logged; the old inputs stay) when new_cfg cannot be
 * applied or the tailer has stopped. */
int pl_tail_reload(struct pl_tail *t, const struct pl_config *new_cfg);

/* The output's acknowledgement of one token (any thread). ok == 0: not delivered. */
void pl_tail_ack(struct pl_tail *t, void *ack_token, int ok);

/* Close files, commit and close the registry. NULL is fine. */
void pl_tail_close(struct pl_tail *t);

/* ---- path patterns (src/tail/glob.c) ---- */

/* Does `path` match `pattern`? Components match with fnmatch(3) rules ('*', '?', '[..]'
 * never cross '/'); a component "**" matches zero or more whole components. */
bool pl_tail_glob_match(const char *pattern, const char *path);

/* Could something below directory `dir` match `pattern` (so `dir` is worth watching)? */
bool pl_tail_glob_dir_may_match(const char *pattern, const char *dir);

/* The longest leading directory of `pattern` without wildcards, written to out. */
void pl_tail_glob_base(const char *pattern, char *out, size_t cap);

/* ---- rate-limited warnings (src/tail/warn.c) ---- */

#define PL_TAIL_WARN_EVERY_NS (30 * PL_NS_PER_SEC)

/* One repeating warning of one thing (a file, a directory scan) for one kind of failure.
 * cause tells failures of the same kind apart (an errno): a new cause is logged at once. */
struct pl_tail_limit {
	uint64_t next_ns;             /* monotonic: the next line may be logged from here */
	uint32_t suppressed;          /* held back since the last line logged */
	int cause;
};

/* True when a line may be logged now (at most one per every_ns per cause); then
 * *suppressed is how many were held back before it, and the count restarts. */
bool pl_tail_limit_pass(struct pl_tail_limit *l, uint64_t now_ns, uint64_t every_ns, int cause,
			uint32_t *suppressed);

/* pl_warn(fmt, ...) through l, with " (N more suppressed)" when some were held back. */
void pl_tail_warn(struct pl_tail_limit *l, uint64_t now_ns, int cause, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Say how many were held back since the last line ("WHAT: strerror(cause) (N more
 * suppressed)"; WHAT alone when cause is 0), if any, and reset l. Call when the failure
 * ends or its owner goes away, so no count is lost. */
void pl_tail_limit_flush(struct pl_tail_limit *l, const char *what);

/* ---- line splitting (src/tail/lines.c) ---- */

/* One complete line: bytes without the newline (and without a trailing '\r'), the file
 * offset of its first byte and the offset just past what it consumed. */
struct pl_tail_line {
	const char *p;
	size_t len;
	uint64_t off, end;
	bool truncated;               /* bytes beyond the cap were dropped */
	bool split;                   /* a piece of a longer line (split mode) */
	/* Container formats (container.c); zero for raw lines. */
	uint64_t ts_ns;               /* the runtime's time of the line (@timestamp); 0: none */
	uint8_t stream;               /* PL_TAIL_STREAM_*, 0: none */
	const char *error;            /* error.message: shipped raw, could not be decoded */
};

typedef void (*pl_tail_line_fn)(void *arg, const struct pl_tail_line *line);

/* Per-file partial-line state; the buffer grows on demand up to max_bytes. */
struct pl_tail_lines {
	char *buf;
	size_t len, cap;
	uint64_t off;                 /* file offset of buf[0] */
	bool skipping;
	bool pieces;                  /* split mode: earlier pieces of this line went out */
	uint32_t max_bytes;
	bool truncate;                /* false: split long lines into max_bytes pieces */
};

void pl_tail_lines_init(struct pl_tail_lines *ls, uint32_t max_bytes, bool truncate, uint64_t off);
void pl_tail_lines_free(struct pl_tail_lines *ls);

/* Feed the bytes read at file offset `off` (must continue where the last feed ended).
 * Calls emit for each complete line; lines wholly inside data are not copied. Returns
 * 0, or -1 on ENOMEM (nothing consumed). */
int pl_tail_lines_feed(struct pl_tail_lines *ls, const char *data, size_t len, uint64_t off,
		       pl_tail_line_fn emit, void *arg);

/* ---- multi-line records (src/tail/multiline.c) ---- */

enum pl_tail_ml_mode { PL_TAIL_ML_NONE = 0, PL_TAIL_ML_PATTERN, PL_TAIL_ML_INDENT };

struct pl_tail_ml {
	enum pl_tail_ml_mode mode;
	regex_t start;                /* PATTERN: a matching line starts a record */
	bool have_re;
	uint32_t max_lines;           /* lines beyond this start a new record */
	uint32_t max_bytes;           /* record bytes beyond this are dropped (truncated) */
	uint64_t timeout_ns;          /* a record waits this long for more lines */
	char *scratch;                /* NUL-terminated copy of a line for regexec */
	size_t scratch_cap;
};

/* A record in progress (one per file). */
struct pl_tail_rec {
	char *buf;
	size_t len, cap;
	uint32_t lines;
	uint64_t off, end;
	uint64_t last_ns;             /* when the last line was added */
	bool truncated;
	uint64_t ts_ns;               /* of the first line (container formats) */
	uint8_t stream;
	const char *error;
};

/* pattern: POSIX extended regex (mode PATTERN). Returns 0, or -1 with a message in err. */
int pl_tail_ml_init(struct pl_tail_ml *ml, enum pl_tail_ml_mode mode, const char *pattern,
		    uint32_t max_lines, uint32_t max_bytes, uint64_t timeout_ns,
		    char *err, size_t errlen);
void pl_tail_ml_free(struct pl_tail_ml *ml);
void pl_tail_rec_free(struct pl_tail_rec *r);

/* Add one line; emits (as a pl_tail_line with lines joined by '\n') any record it
 * completes. Returns 0, or -1 on ENOMEM. */
int pl_tail_ml_add(struct pl_tail_ml *ml, struct pl_tail_rec *r, const struct pl_tail_line *line,
		   uint64_t now_ns, pl_tail_line_fn emit, void *arg);

/* Emit the record in progress, if any. */
void pl_tail_ml_flush(struct pl_tail_rec *r, pl_tail_line_fn emit, void *arg);

/* True when a record is waiting and its timeout has passed. */
bool pl_tail_ml_expired(const struct pl_tail_ml *ml, const struct pl_tail_rec *r, uint64_t now_ns);

/* ---- container runtimes' log formats (src/tail/container.c) ---- */

#define PL_TAIL_STREAM_STDOUT 1
#define PL_TAIL_STREAM_STDERR 2

/* A line being joined from partial pieces (Docker's 16 KiB splits, CRI's P tag): one per
 * stream, as the runtimes interleave stdout and stderr. */
struct pl_tail_cjoin {
	char *buf;
	size_t len, cap;
	uint32_t pieces;              /* 0: no line in progress */
	bool truncated;               /* bytes beyond max_bytes dropped */
	uint8_t stream;
	uint64_t off;                 /* raw offset of the first piece */
	uint64_t end;                 /* raw offset past the last piece */
	uint64_t ts_ns;               /* the first piece's time */
};

/* Per-file decoder: the format (PL_TAIL_FORMAT_*; AUTO until the first line decides). */
struct pl_tail_cdec {
	int format;
	uint32_t max_bytes;           /* max_line_bytes: a joined line's cap */
	struct pl_tail_cjoin j[2];
	uint64_t errors;              /* lines shipped raw with an error note (running count) */
	uint64_t joined;              /* pieces joined to an earlier one (running count) */
};

void pl_tail_cdec_init(struct pl_tail_cdec *d, int format, uint32_t max_bytes);
void pl_tail_cdec_free(struct pl_tail_cdec *d);
/* Forget the lines being joined (a rewind reads their pieces again). */
void pl_tail_cdec_reset(struct pl_tail_cdec *d);
/* Raw offset of the earliest line being joined, or UINT64_MAX. */
uint64_t pl_tail_cdec_pending_off(const struct pl_tail_cdec *d);

/* Decode one raw line (from lines.c) and emit each complete application line: message
 * unescaped, without the runtime's newline, ts_ns and stream set; a line that cannot be
 * decoded is emitted as it is, with `error` set. A RAW decoder emits lines unchanged.
 * Returns 0, or -1 on ENOMEM (nothing emitted). */
int pl_tail_cdec_line(struct pl_tail_cdec *d, const struct pl_tail_line *raw,
		      pl_tail_line_fn emit, void *arg);

/* The file ends here (rotated away, deleted, closed): emit the lines still being joined,
 * marked with an error note, as nothing will complete them in this file. */
void pl_tail_cdec_flush(struct pl_tail_cdec *d, pl_tail_line_fn emit, void *arg);

/* The format a file's first line shows: DOCKER ('{'), CRI (its shape) or RAW. */
int pl_tail_format_detect(const char *p, size_t len);

/* An RFC 3339 time (as the runtimes write it, any precision, Z or ±hh:mm) in ns since
 * the epoch; false when it is not one. */
bool pl_tail_parse_time(const char *s, size_t n, uint64_t *ns);

/* What a container log's path (and Docker's config.v2.json beside it) tells: empty strings
 * for what is not known. */
struct pl_tail_meta {
	char container_id[80];
	char container_name[256];
	char container_image[256];
	char k8s_namespace[256];
	char k8s_pod[256];
	char k8s_uid[64];
	char k8s_container[256];
};

#define PL_TAIL_META_CACHE 32

/* config.v2.json reads, per container id, kept for a minute. */
struct pl_tail_meta_cache {
	struct pl_tail_meta_entry {
		char id[80], name[256], image[256];
		uint64_t at_ns;               /* monotonic; 0: free */
	} e[PL_TAIL_META_CACHE];
	unsigned next;
};

/* Fill m for path: Kubernetes' .../<ns>_<pod>_<uid>/<container>/<N>.log[.*], or Docker's
 * .../<id>/<id>-json.log[.N] (name and image from <id>/config.v2.json, through c). */
void pl_tail_meta_for(struct pl_tail_meta_cache *c, const char *path, uint64_t now_ns,
		      struct pl_tail_meta *m);

/* "Name" (without Docker's leading '/') and "Config"."Image" of a config.v2.json. */
void pl_tail_docker_config(const char *p, size_t n, struct pl_tail_meta *m);

/* The cap lines.c applies to a file's raw lines: max_line_bytes, and for container formats
 * room for the runtime's wrapper around a 16 KiB piece (JSON escapes grow it up to 6x). */
static inline uint32_t pl_tail_raw_cap(const struct pl_tail_input *in)
{
	return in->format == PL_TAIL_FORMAT_RAW ? in->max_line_bytes :
	       in->max_line_bytes + 6 * 16384 + 4096;
}

/* Does the name end in .gz (rotated and compressed by kubelet or logrotate)? */
bool pl_tail_is_compressed_name(const char *path);

/* ---- a file's identity (src/tail/file.c) ---- */

#define PL_TAIL_FP_MAX 1024          /* bytes of a file's head that identify it */

/* A file's identity: device + inode + a hash of its first fp_len bytes. */
struct pl_tail_id {
	uint64_t dev, ino;
	uint64_t fp;                  /* hash of the first fp_len bytes */
	uint32_t fp_len;
};

/* Hash of a file's first bytes (FNV-1a 64). */
uint64_t pl_tail_fp_hash(const void *p, size_t len);

/* Fill id->fp/fp_len from the first min(size, PL_TAIL_FP_MAX) bytes of fd. 0 or -1. */
int pl_tail_fp_read(int fd, struct pl_tail_id *id);

/* Does the file behind fd still have the head `id` recorded? (inode reuse check) */
bool pl_tail_fp_same(int fd, const struct pl_tail_id *id);

/* ---- the offset registry (src/tail/registry.c): a plain store, written by the tailer's
 * offsets.c ---- */

struct pl_tail_reg;

/* Open (creating) DIR/tail.db: sqlite, WAL journal, synchronous=NORMAL. NULL on failure
 * (logged, naming the file). */
struct pl_tail_reg *pl_tail_reg_open(const char *dir);
void pl_tail_reg_close(struct pl_tail_reg *r);

/* Look up dev+ino. Returns 1 and fills *stored and *offset when a row exists, else 0. */
int pl_tail_reg_get(struct pl_tail_reg *r, uint64_t dev, uint64_t ino,
		    struct pl_tail_id *stored, uint64_t *offset);

/* Batch: begin, any number of put/del, commit (durable on return). 0 or -1. */
int pl_tail_reg_begin(struct pl_tail_reg *r);
int pl_tail_reg_put(struct pl_tail_reg *r, const struct pl_tail_id *id, const char *path,
		    uint64_t offset);
int pl_tail_reg_del(struct pl_tail_reg *r, uint64_t dev, uint64_t ino);
int pl_tail_reg_commit(struct pl_tail_reg *r);

/* Inside a batch: drop rows last written before `before_sec` (Unix time). The tailer does
 * this once after start-up, when every file it found has been written: what is left
 * belongs to files deleted while pktlog was down, and would only grow the registry.
 * Returns the number of rows dropped, or -1. */
long pl_tail_reg_prune(struct pl_tail_reg *r, int64_t before_sec);

/* Number of rows (tests, summary). */
long pl_tail_reg_count(struct pl_tail_reg *r);

/* ---- event rendering (src/tail/render.c) ---- */

struct pl_tail_fields {
	const char *const *keys;
	const char *const *values;
	int n;
};

/* Render one record as a JSON line (no newline) into buf[0..cap): @timestamp, message,
 * log.file.path, log.offset, log.flags, host.name, input.type, fields.*. Invalid UTF-8
 * becomes U+FFFD. Returns the length, or 0 when it does not fit. */
size_t pl_tail_render(char *buf, size_t cap, uint64_t now_ns, const struct pl_tail_line *rec,
		      bool multiline, const char *path, const char *host_name,
		      const struct pl_tail_fields *fields);

/* Worst-case rendered size of a message of n bytes plus the other fields. */
size_t pl_tail_render_bound(size_t n, size_t extra);

#endif
