/* tailer.c – follows the files of tail.inputs with inotify: discovery (globs, "**", new
 * subdirectories, IN_Q_OVERFLOW rescans), reading, rotation (rename, copytruncate,
 * delete), idle closing, back-pressure, the acked-prefix bookkeeping that drives the
 * offset registry, and SIGHUP input changes applied between reads. Must not render JSON itself (render.c), split lines (lines.c), join
 * them (multiline.c), decode container formats (container.c) or know which output is behind env. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "pktlog/event.h"
#include "pktlog/tail.h"
#include "render.h"

#define PATH_BUCKETS 8192
#define MAX_DIR_DEPTH 32
#define SCAN_MAX_DIRS 100000       /* one scan's work: beyond this the rest is not followed */
#define SCAN_MAX_ENTRIES 2000000
#define MAX_ANCESTORS 64           /* of a scan's root, checked for loops */
#define LOOPS_WARNED_MAX 256       /* directory loops already reported (once each) */
#define INOTIFY_READS_PER_TURN 64  /* a writer flooding events must not hold the loop */
#define FD_RESERVE_MIN 64          /* descriptors left for the output, registry, scans */
#define SHORT_IDLE_NS (5 * PL_NS_PER_SEC) /* idle close while files wait for a descriptor */
#define READS_PER_TURN 4          /* buffers one file may read before others get a turn */
#define CHECK_INTERVAL_NS PL_NS_PER_SEC /* fstat of every open file: inotify does the rest */
#define IDLE_POLL_MS 200
#define BEHIND_FLUSH_NS (50 * 1000000ULL)
#define PAUSE_WAIT_MS 2            /* a paused reader looks again this soon: batches are in flight */
#define PAUSE_CHECK_EVERY 64      /* records between two asks whether the output wants a pause */
#define WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY | \
		    IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK)

struct tinput {
	const struct pl_tail_input *cfg;
	struct pl_tail_ml ml;
	struct pl_tail_fields fields;
	bool fresh;                    /* added by the reload being applied: start_position holds */
};

struct tfile {
	struct tfile *next;            /* all files */
	struct tfile *path_next;       /* path hash chain, while the path names this file */
	struct tfile *id_next;         /* (dev, ino) hash chain, while f exists */
	bool in_path_table;
	struct pl_tail_id id;
	char *path;
	struct tinput *in;
	int fd;                        /* -1: closed (idle or finished) */
	uint64_t read_off;             /* next byte to read */
	uint64_t acked_off;            /* end of the delivered prefix */
	uint64_t committed_off;        /* what the registry holds */
	bool committed;                /* a row exists for this id */
	uint32_t inflight;             /* published, not yet acknowledged */
	uint32_t gen;                  /* bumped when the file is truncated: older acks move nothing */
	bool want_read;
	bool gone;                     /* the path no longer names this file */
	bool deleted;
	bool stalled;                  /* a record could not be taken: rewound, retry later */
	bool dropped;                  /* its input was removed by a reload: drain, commit, forget */
	bool opened;                   /* has had a descriptor: offsets and identity are set */
	uint64_t end_at_add;           /* start_position end: the size when found, else UINT64_MAX */
	bool waiting;                  /* could not be opened (open_err): retried, see retry_waiting */
	int open_err;
	struct pl_tail_limit warn_open, warn_read;
	uint64_t stall_off;
	uint64_t last_change_ns;       /* monotonic: last time bytes arrived */
	struct pl_tail_lines lines;
	struct pl_tail_rec rec;
	struct pl_tail_cdec dec;       /* format: raw passes lines through */
	struct pl_tail_meta *meta;     /* container formats: what the path tells; else NULL */
	bool compressed;               /* gzip (kubelet's rotated logs): never read */
	/* Bytes read from read_off on but not taken (a stall): fed again before f is read on,
	 * so no byte is read twice; freed once taken. */
	char *keep;
	size_t keep_len;
};

struct inflight {
	struct tfile *f;
	uint64_t end;
	uint32_t gen;                  /* f->gen when published */
	uint8_t state;                 /* 0 pending, 1 delivered, 2 failed */
};

struct tdir {
	char *path;                    /* NULL: slot free */
};

/* Directories one scan has entered, by (device, inode): a symlink (or bind mount) back to
 * one of them is a loop, to another a second name; neither is entered again. Slots of
 * older scans (gen differs) are free, so a scan starts in O(1). */
struct vdir {
	uint64_t dev, ino;
	uint32_t gen;
	bool on_path;                  /* an ancestor of the directory being scanned */
};

struct scan {
	struct vdir *slots;
	size_t cap, n;                 /* cap: a power of two, or 0 */
	uint32_t gen;
	size_t dirs, entries;          /* this scan's work so far */
	size_t max_dirs, max_entries;  /* SCAN_MAX_* (tests lower them) */
	bool limited;                  /* stopped at SCAN_MAX_*: the rest is not followed */
	const char *root;              /* the directory the scan started from */
	struct { uint64_t dev, ino; } anc[MAX_ANCESTORS]; /* above root: a link to one is a loop */
	int n_anc;
};

struct pl_tail {
	const struct pl_config *cfg;
	struct pl_tail_env env;
	struct pl_stats *st;
	struct tinput inputs[PL_TAIL_MAX_INPUTS];
	int n_inputs;
	struct pl_tail_reg *reg;
	int ino_fd, wake_fd;
	struct tdir *dirs;             /* indexed by watch descriptor */
	int n_dirs;
	struct tfile *files;
	struct tfile *by_path[PATH_BUCKETS];
	struct tfile *by_id[PATH_BUCKETS];
	char *rbuf;
	size_t rbuf_len;
	char *pre;                     /* the partial line before a read buffer, kept for a stall */
	size_t pre_cap;
	char *render;
	size_t render_cap;
	uint64_t now_ns, wall_ns;
	char ts[32];                   /* wall_ns formatted, for @timestamp */
	size_t ts_len;

	/* The unchanging parts of the events of the file last published (render.h). */
	struct pl_tail_tpl tpl;
	const struct tfile *tpl_f;     /* NULL: rebuild before the next record */
	const char *tpl_path;
	const struct tinput *tpl_in;

	struct inflight *ring;
	uint64_t ring_mask, head, tail; /* head: oldest unacknowledged; tail: next seq */
	bool failed_ack_logged;

	volatile int stop;
	bool rescan;
	bool starting;                 /* initial scan: start_position applies */
	bool paused;
	bool pruned;                   /* stale registry rows dropped (first commit) */
	int64_t start_sec;             /* wall clock at start-up, for the prune */
	uint64_t unflushed;
	uint64_t last_flush_ns, last_check_ns, last_commit_ns;

	/* A reload handed over by pl_tail_reload, applied by the tailer thread. */
	pthread_mutex_t reload_mu;
	pthread_cond_t reload_cv;
	const struct pl_config *reload_cfg;  /* pending; NULL once applied */
	int reload_rc;
	bool exited;                   /* pl_tail_run returned: nobody will apply a reload */

	/* Descriptors: files that cannot get one wait and are retried as others close. */
	uint64_t fd_limit, fd_budget;  /* RLIMIT_NOFILE; tailed files open at most */
	uint64_t n_open;
	uint32_t n_waiting, n_fd_waiting; /* waiting for any cause; for EMFILE/ENFILE */
	bool fd_freed;                 /* a descriptor was closed since the last retry */
	bool fd_short_told;            /* the wait was reported: say when it ends */
	bool rescan_on_fd;             /* a scan could not list a directory for lack of one */
	uint64_t last_retry_ns;

	struct scan scan;
	struct pl_tail_meta_cache meta_cache;
	uint64_t loops_warned[LOOPS_WARNED_MAX];
	int n_loops_warned;
	struct pl_tail_limit warn_fds, warn_dirs, warn_watch, warn_overflow, warn_scan;
};

/* ---- small helpers ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Long loops (scans, retries, event bursts) give up when the tailer is stopped, or when
 * the process is (env.quit: a SIGTERM while the main thread waits for a reload). */
static bool stopping(const struct pl_tail *t)
{
	return t->stop || (t->env.quit && *t->env.quit);
}

static size_t path_bucket(const char *path)
{
	return (size_t)(pl_tail_fp_hash(path, strlen(path)) & (PATH_BUCKETS - 1));
}

static struct tfile *find_path(struct pl_tail *t, const char *path)
{
	struct tfile *f;

	for (f = t->by_path[path_bucket(path)]; f; f = f->path_next)
		if (strcmp(f->path, path) == 0)
			return f;
	return NULL;
}

static void path_unlink(struct pl_tail *t, struct tfile *f)
{
	struct tfile **pp;

	if (!f->in_path_table)
		return;
	for (pp = &t->by_path[path_bucket(f->path)]; *pp; pp = &(*pp)->path_next) {
		if (*pp == f) {
			*pp = f->path_next;
			break;
		}
	}
	f->path_next = NULL;
	f->in_path_table = false;
}

static void path_link(struct pl_tail *t, struct tfile *f)
{
	size_t b = path_bucket(f->path);

	f->path_next = t->by_path[b];
	t->by_path[b] = f;
	f->in_path_table = true;
}

static size_t id_bucket(uint64_t dev, uint64_t ino)
{
	return (size_t)(((ino ^ (dev << 24)) * 0x9e3779b97f4a7c15ULL) >> 40) & (PATH_BUCKETS - 1);
}

/* A hash, not a walk of every file: taking up n files at start-up must not cost n². */
static struct tfile *find_id(struct pl_tail *t, uint64_t dev, uint64_t ino)
{
	struct tfile *f;

	for (f = t->by_id[id_bucket(dev, ino)]; f; f = f->id_next)
		if (f->id.dev == dev && f->id.ino == ino && (f->fd >= 0 || !f->gone || f->dropped))
			return f;
	return NULL;
}

static void id_link(struct pl_tail *t, struct tfile *f)
{
	size_t b = id_bucket(f->id.dev, f->id.ino);

	f->id_next = t->by_id[b];
	t->by_id[b] = f;
}

static void id_unlink(struct pl_tail *t, struct tfile *f)
{
	struct tfile **pp;

	for (pp = &t->by_id[id_bucket(f->id.dev, f->id.ino)]; *pp; pp = &(*pp)->id_next) {
		if (*pp == f) {
			*pp = f->id_next;
			return;
		}
	}
}

static void close_fd(struct pl_tail *t, struct tfile *f)
{
	if (f->fd < 0)
		return;
	close(f->fd);
	f->fd = -1;
	t->st->tail_files_open--;
	t->n_open--;
	t->fd_freed = true;
}

static bool fd_shortage(int err)
{
	return err == EMFILE || err == ENFILE;
}

/* f could not be opened (err): keep it, retry later (retry_waiting), count it, say so. A
 * shortage of descriptors is reported for all files at once (report_fd_wait). */
static void wait_open(struct pl_tail *t, struct tfile *f, int err)
{
	if (!f->waiting) {
		f->waiting = true;
		t->n_waiting++;
		t->st->tail_files_waiting++;
		t->st->tail_errors++;
	} else if (fd_shortage(f->open_err)) {
		t->n_fd_waiting--;
	}
	f->open_err = err;
	if (fd_shortage(err)) {
		t->n_fd_waiting++;
		return;
	}
	pl_tail_warn(&f->warn_open, t->now_ns, err, "%s: cannot open: %s", f->path, strerror(err));
}

static void unwait(struct pl_tail *t, struct tfile *f)
{
	char what[PATH_MAX + 32];

	if (!f->waiting)
		return;
	f->waiting = false;
	t->n_waiting--;
	t->st->tail_files_waiting--;
	if (fd_shortage(f->open_err))
		t->n_fd_waiting--;
	f->open_err = 0;
	snprintf(what, sizeof(what), "%s: cannot open", f->path);
	pl_tail_limit_flush(&f->warn_open, what);
}

/* ---- inputs ---- */

static bool excluded(const struct pl_tail_input *in, const char *path)
{
	for (int i = 0; i < in->n_excludes; i++)
		if (pl_tail_glob_match(in->excludes[i], path))
			return true;
	return false;
}

static struct tinput *input_in(struct tinput *ins, int n, const char *path)
{
	for (int i = 0; i < n; i++) {
		const struct pl_tail_input *in = ins[i].cfg;
		for (int j = 0; j < in->n_paths; j++)
			if (pl_tail_glob_match(in->paths[j], path) && !excluded(in, path))
				return &ins[i];
	}
	return NULL;
}

static struct tinput *input_for(struct pl_tail *t, const char *path)
{
	return input_in(t->inputs, t->n_inputs, path);
}

static bool dir_wanted(struct pl_tail *t, const char *dir)
{
	for (int i = 0; i < t->n_inputs; i++) {
		const struct pl_tail_input *in = t->inputs[i].cfg;
		for (int j = 0; j < in->n_paths; j++)
			if (pl_tail_glob_dir_may_match(in->paths[j], dir))
				return true;
	}
	return false;
}

static int input_init(struct tinput *ti, const struct pl_tail_input *in)
{
	enum pl_tail_ml_mode mode = in->ml_pattern ? PL_TAIL_ML_PATTERN :
				    in->ml_indent ? PL_TAIL_ML_INDENT : PL_TAIL_ML_NONE;
	char err[256];

	ti->cfg = in;
	ti->fresh = false;
	ti->fields = (struct pl_tail_fields){ (const char *const *)in->field_keys,
					      (const char *const *)in->field_values, in->n_fields };
	if (pl_tail_ml_init(&ti->ml, mode, in->ml_pattern, in->ml_max_lines, in->max_line_bytes,
			    in->ml_timeout_ns, err, sizeof(err)) < 0) {
		pl_err("tail input %s: %s", in->paths[0], err);
		return -1;
	}
	return 0;
}

static int inputs_init(struct pl_tail *t)
{
	for (int i = 0; i < t->cfg->tail.n_inputs; i++) {
		if (input_init(&t->inputs[i], &t->cfg->tail.inputs[i]) < 0)
			return -1;
		t->n_inputs++;
	}
	return 0;
}

/* ---- publishing and acknowledgements ---- */

static void stall(struct tfile *f, uint64_t off)
{
	/* A line being joined from pieces began earlier: read its pieces again too. */
	off = PL_MIN(off, pl_tail_cdec_pending_off(&f->dec));
	if (!f->stalled || off < f->stall_off)
		f->stall_off = off;
	f->stalled = true;
}

/* Make t->tpl hold f's unchanging parts (path, host, input, fields). */
static bool tpl_for(struct pl_tail *t, struct tfile *f)
{
	if (t->tpl_f == f && t->tpl_path == f->path && t->tpl_in == f->in)
		return true;
	t->tpl_f = NULL;
	if (pl_tail_tpl_build(&t->tpl, f->path, t->env.host_name, &f->in->fields, f->meta) < 0)
		return false;
	t->tpl_f = f;
	t->tpl_path = f->path;
	t->tpl_in = f->in;
	return true;
}

static void set_clock(struct pl_tail *t)
{
	t->now_ns = mono_ns();
	t->wall_ns = wall_ns();
	t->ts_len = pl_format_time(t->wall_ns, t->ts);
}

static bool should_pause(struct pl_tail *t);

static void publish_record(struct pl_tail *t, struct tfile *f, const struct pl_tail_line *rec)
{
	struct inflight *slot;
	size_t n = 0;

	if (f->stalled)
		return;
	/* One read buffer holds thousands of lines: ask within it too, or a full output queue
	 * would push the rest of the buffer through the disk spool. Rewound, read again later. */
	if (t->tail - t->head > t->ring_mask ||
	    ((t->tail % PAUSE_CHECK_EVERY) == 0 && should_pause(t))) {
		stall(f, rec->off);
		return;
	}
	if (tpl_for(t, f))
		n = pl_tail_render_tpl(t->render, t->render_cap, t->ts, t->ts_len, rec,
				       f->in->ml.mode != PL_TAIL_ML_NONE &&
				       memchr(rec->p, '\n', rec->len), &t->tpl);
	if (!n) {
		/* Cannot happen with the buffer sized from max_line_bytes; skip, do not stall. */
		t->st->events_truncated++;
		return;
	}
	slot = &t->ring[t->tail & t->ring_mask];
	*slot = (struct inflight){ f, rec->end, f->gen, 0 };
	t->tail++;
	if (t->env.publish(t->env.arg, t->render, n, f->path, f->in->cfg->topic,
			   (void *)(uintptr_t)t->tail) != 0) {
		t->tail--;
		t->st->tail_errors++;
		stall(f, rec->off);
		return;
	}
	f->inflight++;
	t->unflushed++;
	t->st->tail_records++;
}

void pl_tail_ack(struct pl_tail *t, void *ack_token, int ok)
{
	uint64_t seq = (uint64_t)(uintptr_t)ack_token - 1;

	/* Only the state is touched here, one byte stored once per record (no lock per line):
	 * head and tail belong to the tailer thread, which reads the state with acquire. */
	__atomic_store_n(&t->ring[seq & t->ring_mask].state, ok ? 1 : 2, __ATOMIC_RELEASE);
}

/* Advance offsets over the delivered prefix. A failed record stops the prefix: its
 * offset is never passed, so a restart reads it again (at-least-once, never a gap). */
static void drain_acks(struct pl_tail *t)
{
	while (t->head < t->tail) {
		struct inflight *s = &t->ring[t->head & t->ring_mask];
		uint8_t state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

		if (state == 2 && !t->failed_ack_logged) {
			pl_err("tail: the output failed to deliver a record; offsets stop advancing "
			       "until pktlog restarts");
			t->failed_ack_logged = true;
			t->st->tail_errors++;
		}
		if (state != 1)
			break;
		if (s->gen == s->f->gen && s->end > s->f->acked_off)
			s->f->acked_off = s->end;
		s->f->inflight--;
		t->st->tail_records_acked++;
		t->head++;
	}
}

static void flush_output(struct pl_tail *t)
{
	if (t->env.flush)
		t->env.flush(t->env.arg);
	t->unflushed = 0;
	t->last_flush_ns = t->now_ns;
	drain_acks(t);
}

/* ---- reading ---- */

struct read_ctx {
	struct pl_tail *t;
	struct tfile *f;
};

static void emit_record(void *arg, const struct pl_tail_line *rec)
{
	struct read_ctx *c = arg;

	publish_record(c->t, c->f, rec);
}

/* One application line: a raw line, or what a container format's decoder made of one. */
static void on_app_line(void *arg, const struct pl_tail_line *line)
{
	struct read_ctx *c = arg;
	struct tfile *f = c->f;
	struct pl_stats *st = c->t->st;

	if (f->stalled)
		return;
	if (f->in->ml.mode == PL_TAIL_ML_NONE)
		publish_record(c->t, f, line);
	else if (pl_tail_ml_add(&f->in->ml, &f->rec, line, c->t->now_ns, emit_record, c) < 0)
		stall(f, line->off);
	if (f->stalled)
		return;   /* not taken: it is read again after the rewind, and counted then */
	st->tail_lines++;
	st->tail_lines_split += line->split;
	st->tail_lines_truncated += line->truncated;
	st->tail_format_errors += line->error != NULL;
}

static void on_line(void *arg, const struct pl_tail_line *line)
{
	struct read_ctx *c = arg;
	struct tfile *f = c->f;

	if (f->stalled)
		return;
	if (f->dec.format == PL_TAIL_FORMAT_RAW) {
		on_app_line(arg, line);
		return;
	}
	if (pl_tail_cdec_line(&f->dec, line, on_app_line, c) < 0)
		stall(f, line->off);
	c->t->st->tail_lines_joined += f->dec.joined;
	f->dec.joined = 0;
}

/* Forget partial state and read again from `off` (rewind after a stall, truncation). */
static void restart_at(struct tfile *f, uint64_t off)
{
	const struct pl_tail_input *in = f->in->cfg;

	pl_tail_lines_free(&f->lines);
	pl_tail_lines_init(&f->lines, pl_tail_raw_cap(in), in->truncate_long_lines, off);
	pl_tail_cdec_reset(&f->dec);
	f->rec.lines = 0;
	f->rec.len = 0;
	f->rec.truncated = false;
	f->read_off = off;
	f->stalled = false;
	f->keep_len = 0;
}

/* The head that identifies f; a read error is counted and warned like any other. */
static void read_fp(struct pl_tail *t, struct tfile *f)
{
	if (pl_tail_fp_read(f->fd, &f->id) == 0)
		return;
	t->st->tail_errors++;
	pl_tail_warn(&f->warn_read, t->now_ns, errno, "%s: read: %s", f->path, strerror(errno));
}

/* The file's bytes were replaced from offset 0 (copytruncate): start over, and make
 * acknowledgements of records read before this move nothing. */
static void reset_file(struct pl_tail *t, struct tfile *f)
{
	t->st->tail_truncations++;
	f->gen++;
	f->acked_off = 0;
	restart_at(f, 0);
	read_fp(t, f);
	f->want_read = true;
}

/* copytruncate: the size fell below what we already read, or the file was truncated and
 * written past our offset before we looked (its head no longer hashes the same). */
static bool truncated(struct pl_tail *t, struct tfile *f)
{
	struct stat st;

	if (fstat(f->fd, &st) != 0)
		return false;
	if ((uint64_t)st.st_size >= f->read_off && (f->read_off == 0 || pl_tail_fp_same(f->fd, &f->id)))
		return false;
	if (f->gone) {
		/* Rotated away and then overwritten (a copy landing on the old name): what it
		 * holds now is not our log any more. */
		close_fd(t, f);
		return true;
	}
	pl_info("%s: truncated or replaced (size %llu, offset %llu); reading from the start",
		f->path, (unsigned long long)st.st_size, (unsigned long long)f->read_off);
	reset_file(t, f);
	return true;
}

/* Container formats: a file that starts with gzip's magic (kubelet compresses rotated logs,
 * under a temporary name first) is skipped, counted once. */
static bool gzipped(struct pl_tail *t, struct tfile *f, size_t n)
{
	if (f->dec.format == PL_TAIL_FORMAT_RAW && f->in->cfg->format == PL_TAIL_FORMAT_RAW)
		return false;
	if (!f->compressed && (f->read_off != 0 || n < 2 || (unsigned char)t->rbuf[0] != 0x1f ||
			       (unsigned char)t->rbuf[1] != 0x8b))
		return false;
	if (!f->compressed) {
		f->compressed = true;
		t->st->tail_files_compressed++;
		pl_info("%s: gzip-compressed, not read", f->path);
	}
	return true;
}

/* The partial line lines.c holds before a buffer is fed ([*pre_off, off) of the file), copied
 * so that a stall on it keeps its bytes. Returns its length, 0 when none (or no memory). */
static size_t save_partial(struct pl_tail *t, struct tfile *f, uint64_t off, uint64_t *pre_off)
{
	const struct pl_tail_lines *ls = &f->lines;

	/* A long partial line (beyond a read buffer) is not copied at every read: a stall on
	 * it reads it again. */
	if (!ls->len || ls->skipping || ls->off + ls->len != off || ls->len > t->rbuf_len)
		return 0;
	if (ls->len > t->pre_cap) {
		char *p = realloc(t->pre, ls->len);
		if (!p)
			return 0;
		t->pre = p;
		t->pre_cap = ls->len;
	}
	memcpy(t->pre, ls->buf, ls->len);
	*pre_off = ls->off;
	return ls->len;
}

/* A stall in the buffer `data` (n bytes at file offset off): rewind to the stall, keeping
 * the bytes from there on (with the partial line saved before it) to feed again, so they
 * are not read again. A stall further back (a multi-line record, a joined container line
 * begun in an earlier buffer) reads from there again. */
static void keep_unconsumed(struct pl_tail *t, struct tfile *f, const char *data, size_t n,
			    uint64_t off, size_t pre_len, uint64_t pre_off)
{
	uint64_t from = f->stall_off;
	const char *tail = data, *head = NULL;
	size_t tlen = n, hlen = 0;

	restart_at(f, from);
	if (from >= off) {
		tail = data + (from - off);
		tlen = (size_t)(off + n - from);
	} else if (pre_len && from >= pre_off) {
		head = t->pre + (from - pre_off);
		hlen = (size_t)(off - from);
	} else {
		return;
	}
	if (data == f->keep) {
		/* Fed from the kept bytes themselves: what is left is a suffix (no partial line
		 * came before them, restart_at cleared it). */
		memmove(f->keep, tail, tlen);
		f->keep_len = tlen;
		return;
	}
	free(f->keep);
	f->keep = malloc(hlen + tlen);
	if (!f->keep)
		return;     /* read again */
	if (hlen)
		memcpy(f->keep, head, hlen);
	memcpy(f->keep + hlen, tail, tlen);
	f->keep_len = hlen + tlen;
}

/* Read one file; returns true when it has more to read than this turn allowed. */
static bool read_file(struct pl_tail *t, struct tfile *f)
{
	struct read_ctx c = { t, f };
	int turns = READS_PER_TURN;

	f->want_read = false;
	if (f->fd < 0 || f->compressed || truncated(t, f))
		return false;
	while (turns--) {
		const char *data = f->keep;
		ssize_t n = (ssize_t)f->keep_len;
		bool kept = n > 0;
		uint64_t pre_off = 0;
		size_t pre_len;

		if (!kept) {
			n = pread(f->fd, t->rbuf, t->rbuf_len, (off_t)f->read_off);
			data = t->rbuf;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pl_tail_warn(&f->warn_read, t->now_ns, errno, "%s: read: %s", f->path,
				     strerror(errno));
			t->st->tail_errors++;
			return false;
		}
		if (n == 0)
			return false;
		if (!kept) {
			t->st->tail_bytes_read += (uint64_t)n;
			f->last_change_ns = t->now_ns;
			if (gzipped(t, f, (size_t)n))
				return false;
		}
		pre_len = save_partial(t, f, f->read_off, &pre_off);
		if (pl_tail_lines_feed(&f->lines, data, (size_t)n, f->read_off, on_line, &c) < 0)
			stall(f, f->read_off);
		if (f->stalled) {
			keep_unconsumed(t, f, data, (size_t)n, f->read_off, pre_len, pre_off);
			return true;
		}
		f->read_off += (uint64_t)n;
		if (kept) {
			free(f->keep);
			f->keep = NULL;
			f->keep_len = 0;
			continue;
		}
		if ((size_t)n < t->rbuf_len)
			return false;
	}
	return true;
}

/* ---- files ---- */

static int open_file(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		errno = ENOENT;   /* not a regular file (any more): nothing to follow */
		return -1;
	}
	return fd;
}

/* Where to start a file we have not been reading: the registry's delivered offset when
 * the stored head still matches, else 0 (or the end, at start-up, when asked). */
static uint64_t start_offset(struct pl_tail *t, struct tfile *f, const struct stat *st)
{
	struct pl_tail_id stored;
	uint64_t off = 0;

	if (pl_tail_reg_get(t->reg, f->id.dev, f->id.ino, &stored, &off)) {
		f->committed = true;
		if (pl_tail_fp_same(f->fd, &stored) && off <= (uint64_t)st->st_size)
			return off;
		if (!pl_tail_fp_same(f->fd, &stored)) {
			t->st->tail_inode_reuse++;
			pl_info("%s: inode %llu holds a different file than the registry remembers; "
				"reading it from the start", f->path, (unsigned long long)f->id.ino);
		}
		return 0;
	}
	/* Found at start-up (or by a new input) but opened later, after waiting for a
	 * descriptor: lines written meanwhile are new, not old. */
	if (f->end_at_add != UINT64_MAX)
		return PL_MIN(f->end_at_add, (uint64_t)st->st_size);
	return 0;
}

/* The path no longer names f (renamed away, deleted, replaced): drain, then close. */
static void mark_gone(struct pl_tail *t, struct tfile *f)
{
	if (f->gone)
		return;
	path_unlink(t, f);
	f->gone = true;
	f->want_read = true;
	f->last_change_ns = t->now_ns;
	t->st->tail_rotations++;
}

/* A file never opened turned out to be gone, or not ours: commit() frees it. */
static void forget(struct pl_tail *t, struct tfile *f)
{
	unwait(t, f);
	path_unlink(t, f);
	f->gone = true;
	f->want_read = false;
}

/* f's first descriptor: where to start, from the registry or start_position. */
static void take_up(struct pl_tail *t, struct tfile *f, const struct stat *st)
{
	uint64_t off;

	f->opened = true;
	t->st->tail_files_seen++;
	read_fp(t, f);
	off = start_offset(t, f, st);
	restart_at(f, off);
	f->acked_off = off;
	f->committed_off = f->committed ? UINT64_MAX : 0; /* force the first commit to write */
	pl_info("%s: tailing from offset %llu", f->path, (unsigned long long)off);
}

/* Give f a descriptor: the first one, again after an idle close, or while it waits for
 * one. Returns true when f has one. A failure other than "gone" leaves f waiting. */
static bool reopen(struct pl_tail *t, struct tfile *f)
{
	struct stat st;
	int fd = -1;

	if (f->fd >= 0)
		return true;
	errno = EMFILE;
	if (t->n_open < t->fd_budget)
		fd = open_file(f->path, &st);
	if (fd < 0) {
		if (errno != ENOENT) {
			wait_open(t, f, errno);
		} else if (!f->opened) {
			forget(t, f);
		} else {
			unwait(t, f);    /* deleted or replaced: the directory's events say which */
		}
		return false;
	}
	if ((uint64_t)st.st_dev != f->id.dev || (uint64_t)st.st_ino != f->id.ino) {
		close(fd);
		if (!f->opened)
			forget(t, f);
		else
			unwait(t, f);
		return false;
	}
	f->fd = fd;
	t->n_open++;
	t->st->tail_files_open++;
	unwait(t, f);
	f->last_change_ns = t->now_ns;
	f->want_read = true;
	if (!f->opened)
		take_up(t, f, &st);
	else if (!pl_tail_fp_same(fd, &f->id) || (uint64_t)st.st_size < f->read_off)
		reset_file(t, f);
	return true;
}

/* f's lines are (from now on) in cfg's format: a decoder, and container metadata. */
static void set_format(struct pl_tail *t, struct tfile *f, const struct pl_tail_input *cfg)
{
	pl_tail_cdec_free(&f->dec);
	pl_tail_cdec_init(&f->dec, cfg->format, cfg->max_line_bytes);
	free(f->meta);
	f->meta = NULL;
	if (cfg->format != PL_TAIL_FORMAT_RAW && (f->meta = malloc(sizeof(*f->meta))))
		pl_tail_meta_for(&t->meta_cache, f->path, t->now_ns, f->meta);
	t->tpl_f = NULL;
}

/* A new file: followed from now on, read once it has a descriptor. */
static struct tfile *add_file(struct pl_tail *t, const char *path, struct tinput *in,
			      const struct stat *st)
{
	struct tfile *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->path = strdup(path);
	if (!f->path) {
		free(f);
		return NULL;
	}
	f->fd = -1;
	f->in = in;
	set_format(t, f, in->cfg);
	f->id.dev = (uint64_t)st->st_dev;
	f->id.ino = (uint64_t)st->st_ino;
	f->end_at_add = (t->starting || in->fresh) && in->cfg->start_at_end ?
			(uint64_t)st->st_size : UINT64_MAX;
	f->last_change_ns = t->now_ns;
	f->next = t->files;
	t->files = f;
	path_link(t, f);
	id_link(t, f);
	reopen(t, f);
	return f;
}

/* Retry the files that wait for a descriptor (or a permission): as idle files close, and
 * every CHECK_INTERVAL. Stops at the first that finds none free. */
static void retry_waiting(struct pl_tail *t)
{
	t->fd_freed = false;
	t->last_retry_ns = t->now_ns;
	if (t->rescan_on_fd) {
		t->rescan_on_fd = false;
		t->rescan = true;
	}
	for (struct tfile *f = t->files; f && !stopping(t); f = f->next) {
		if (!f->waiting || f->gone)
			continue;
		if (t->n_open >= t->fd_budget)
			break;
		if (!reopen(t, f) && f->waiting && fd_shortage(f->open_err))
			break;
	}
}

/* The shortage of descriptors, for all files at once: how many wait, and when none do. */
static void report_fd_wait(struct pl_tail *t)
{
	uint32_t n;

	if (!t->n_fd_waiting) {
		if (t->fd_short_told)
			pl_warn("tail: every file that waited for a file descriptor has one now");
		t->fd_short_told = false;
		t->warn_fds = (struct pl_tail_limit){ 0 };
		return;
	}
	if (!pl_tail_limit_pass(&t->warn_fds, t->now_ns, PL_TAIL_WARN_EVERY_NS, 0, &n))
		return;
	pl_warn("tail: %u files wait for a file descriptor (%llu tailed files open, RLIMIT_NOFILE "
		"%llu); they are read as idle files close (after %llus of quiet meanwhile, or "
		"tail.close_inactive if shorter): raise LimitNOFILE", t->n_fd_waiting,
		(unsigned long long)t->n_open, (unsigned long long)t->fd_limit,
		(unsigned long long)(SHORT_IDLE_NS / PL_NS_PER_SEC));
	t->fd_short_told = true;
}

/* A path that matches an input exists: take it up, or recognise a file we know. */
static void consider(struct pl_tail *t, const char *path)
{
	struct tinput *in = input_for(t, path);
	struct tfile *f, *same;
	struct stat st;

	if (!in || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	if (in->cfg->format != PL_TAIL_FORMAT_RAW && pl_tail_is_compressed_name(path))
		return;   /* kubelet's (or logrotate's) rotated and compressed logs */
	f = find_path(t, path);
	if (f && f->id.dev == (uint64_t)st.st_dev && f->id.ino == (uint64_t)st.st_ino) {
		if (f->fd < 0)
			reopen(t, f);
		f->want_read = true;
		return;
	}
	if (f)
		mark_gone(t, f);
	same = find_id(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
	if (same) {
		/* Renamed to another matching name, or its input came back after a reload
		 * removed it while records were in flight: same file, same offsets, new path. */
		char *p = strdup(path);

		if (same->dropped) {
			same->dropped = false;
			same->in = in;
		}
		path_unlink(t, same);
		if (p) {
			free(same->path);
			same->path = p;
		}
		same->gone = false;
		path_link(t, same);
		if (same->fd < 0)
			reopen(t, same);
		same->want_read = true;
		return;
	}
	add_file(t, path, in, &st);
}

/* ---- directories and inotify ---- */

static int watch_dir(struct pl_tail *t, const char *path)
{
	int wd = inotify_add_watch(t->ino_fd, path, WATCH_MASK | IN_ONLYDIR);

	if (wd < 0) {
		if (errno == ENOENT)
			return -1;
		t->st->tail_errors++;
		pl_tail_warn(&t->warn_watch, t->now_ns, errno, "%s: cannot watch: %s%s; files "
			     "created there are noticed only by a rescan", path, strerror(errno),
			     errno == ENOSPC ? " (inotify watch limit reached: raise "
			     "fs.inotify.max_user_watches)" : "");
		return -1;
	}
	if (wd >= t->n_dirs) {
		int n = PL_MAX(wd + 1, t->n_dirs * 2);
		struct tdir *d = realloc(t->dirs, (size_t)n * sizeof(*d));
		if (!d)
			return -1;
		memset(d + t->n_dirs, 0, (size_t)(n - t->n_dirs) * sizeof(*d));
		t->dirs = d;
		t->n_dirs = n;
	}
	if (!t->dirs[wd].path)
		t->dirs[wd].path = strdup(path);
	return wd;
}

/* ---- the visited set of a scan ---- */

static size_t vdir_slot(const struct scan *s, uint64_t dev, uint64_t ino)
{
	uint64_t h = (ino ^ (dev << 32) ^ (dev >> 32)) * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 20) & (s->cap - 1);
}

/* The slot of (dev, ino) in this scan: found (gen is the scan's) or free (to be filled). */
static struct vdir *vdir_probe(struct scan *s, uint64_t dev, uint64_t ino)
{
	size_t i = vdir_slot(s, dev, ino);

	while (s->slots[i].gen == s->gen && (s->slots[i].dev != dev || s->slots[i].ino != ino))
		i = (i + 1) & (s->cap - 1);
	return &s->slots[i];
}

static int vdir_grow(struct scan *s)
{
	struct scan old = *s;
	size_t cap = s->cap ? s->cap * 2 : 256;

	s->slots = calloc(cap, sizeof(*s->slots));
	if (!s->slots) {
		*s = old;
		return -1;
	}
	s->cap = cap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].gen == s->gen)
			*vdir_probe(s, old.slots[i].dev, old.slots[i].ino) = old.slots[i];
	free(old.slots);
	return 0;
}

/* Enter (dev, ino) in this scan. Returns the entry, NULL when it was already there (*was
 * then tells whether it is an ancestor: a loop) or memory ran out (*was NULL). */
static struct vdir *vdir_add(struct scan *s, uint64_t dev, uint64_t ino, const struct vdir **was)
{
	struct vdir *v;

	*was = NULL;
	if ((s->n + 1) * 2 > s->cap && vdir_grow(s) < 0)
		return NULL;
	v = vdir_probe(s, dev, ino);
	if (v->gen == s->gen) {
		*was = v;
		return NULL;
	}
	*v = (struct vdir){ dev, ino, s->gen, true };
	s->n++;
	return v;
}

/* A new scan (the inputs' base directories, or one new directory): nothing visited yet. */
static void scan_begin(struct pl_tail *t, const char *root)
{
	struct scan *s = &t->scan;

	if (++s->gen == 0) {
		if (s->slots)
			memset(s->slots, 0, s->cap * sizeof(*s->slots));
		s->gen = 1;
	}
	s->n = s->dirs = s->entries = 0;
	s->n_anc = 0;
	s->limited = false;
	s->root = root;
}

/* Remember the directories above dir (not entered by the scan, which may reach them
 * through another pattern): a link back to one of them is a loop. */
static void mark_ancestors(struct pl_tail *t, const char *dir)
{
	struct scan *s = &t->scan;
	char anc[PATH_MAX];
	struct stat st;
	size_t n = strlen(dir);

	s->n_anc = 0;
	if (n >= sizeof(anc))
		return;
	for (size_t i = 0; i < n && s->n_anc < MAX_ANCESTORS; i++) {
		if (dir[i] != '/' || n == 1)
			continue;
		memcpy(anc, dir, i ? i : 1);
		anc[i ? i : 1] = '\0';
		if (stat(anc, &st) == 0) {
			s->anc[s->n_anc].dev = (uint64_t)st.st_dev;
			s->anc[s->n_anc].ino = (uint64_t)st.st_ino;
			s->n_anc++;
		}
	}
}

static bool is_ancestor(const struct scan *s, const struct stat *st)
{
	for (int i = 0; i < s->n_anc; i++)
		if (s->anc[i].dev == (uint64_t)st->st_dev && s->anc[i].ino == (uint64_t)st->st_ino)
			return true;
	return false;
}

static void scan_stop_at_limit(struct pl_tail *t, const char *path)
{
	struct scan *s = &t->scan;

	s->limited = true;
	t->st->tail_scan_limited++;
	pl_tail_warn(&t->warn_scan, t->now_ns, 0, "tail: the scan of %s stopped at %s after %zu "
		     "directories and %zu entries (the limit is %zu and %zu): files beyond are not "
		     "followed; narrow the pattern", s->root, path, s->dirs, s->entries,
		     s->max_dirs, s->max_entries);
}

/* A directory reached again through a link: a loop when it is an ancestor (warned once
 * per link), else a second name of a directory already scanned (not entered twice). */
static void revisit(struct pl_tail *t, const char *path, bool loop)
{
	char target[PATH_MAX];
	uint64_t h = pl_tail_fp_hash(path, strlen(path));

	if (!loop) {
		pl_debug("%s: a directory already scanned under another name; not entered twice",
			 path);
		return;
	}
	for (int i = 0; i < t->n_loops_warned; i++)
		if (t->loops_warned[i] == h)
			return;
	if (t->n_loops_warned < LOOPS_WARNED_MAX)
		t->loops_warned[t->n_loops_warned++] = h;
	t->st->tail_dir_loops++;
	if (!realpath(path, target))
		snprintf(target, sizeof(target), "?");
	pl_warn("%s: symlink loop (back to %s, which is being scanned); not followed", path,
		target);
}

static bool entry_is_dir(const struct dirent *e, const char *sub)
{
	struct stat st;

	if (e->d_type == DT_DIR)
		return true;
	if (e->d_type != DT_UNKNOWN && e->d_type != DT_LNK)
		return false;
	return stat(sub, &st) == 0 && S_ISDIR(st.st_mode);
}

/* One directory of a scan: watch it, take up its files, descend into wanted directories
 * not yet entered. Bounded by SCAN_MAX_*, and stops when the tailer is asked to. */
static void scan_dir(struct pl_tail *t, const char *path, int depth)
{
	struct scan *s = &t->scan;
	const struct vdir *was;
	struct vdir *v;
	struct dirent *e;
	struct stat st;
	char sub[PATH_MAX];
	DIR *d;

	if (depth > MAX_DIR_DEPTH || stopping(t) || s->limited)
		return;
	if (++s->dirs > s->max_dirs) {
		scan_stop_at_limit(t, path);
		return;
	}
	if (stat(path, &st) != 0)
		return;
	if (is_ancestor(s, &st)) {
		revisit(t, path, true);
		return;
	}
	v = vdir_add(s, (uint64_t)st.st_dev, (uint64_t)st.st_ino, &was);
	if (!v) {
		if (was)
			revisit(t, path, was->on_path);
		else
			scan_stop_at_limit(t, path);   /* out of memory for the visited set */
		return;
	}
	watch_dir(t, path);
	d = opendir(path);
	if (!d) {
		if (fd_shortage(errno))
			t->rescan_on_fd = true;
		if (errno != ENOENT) {
			t->st->tail_errors++;
			pl_tail_warn(&t->warn_dirs, t->now_ns, errno, "%s: cannot list: %s", path,
				     strerror(errno));
		}
		goto out;
	}
	while (!stopping(t) && !s->limited && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (++s->entries > s->max_entries) {
			scan_stop_at_limit(t, path);
			break;
		}
		if (snprintf(sub, sizeof(sub), "%s%s%s", path, strcmp(path, "/") ? "/" : "",
			     e->d_name) >= (int)sizeof(sub))
			continue;
		if (!entry_is_dir(e, sub))
			consider(t, sub);
		else if (dir_wanted(t, sub))
			scan_dir(t, sub, depth + 1);
	}
	closedir(d);
out:
	/* Re-found: the set may have grown (moved) while scanning below. */
	v = vdir_probe(s, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
	if (v->gen == s->gen)
		v->on_path = false;
}

/* A directory created (or moved in) while running: scan it and what is below. */
static void scan_new_dir(struct pl_tail *t, const char *path)
{
	scan_begin(t, path);
	mark_ancestors(t, path);
	scan_dir(t, path, 0);
}

/* The base directory of each pattern, plus its nearest existing ancestor, so a base that
 * is removed and created again is noticed (IN_CREATE in the ancestor). One scan: a
 * directory two patterns reach is entered once. */
static void scan_all(struct pl_tail *t)
{
	char base[PATH_MAX], anc[PATH_MAX];

	t->st->tail_rescans++;
	t->rescan = false;
	scan_begin(t, "the tail inputs");
	for (int i = 0; i < t->n_inputs && !stopping(t); i++) {
		const struct pl_tail_input *in = t->inputs[i].cfg;
		for (int j = 0; j < in->n_paths && !stopping(t); j++) {
			struct stat st;
			char *slash;

			pl_tail_glob_base(in->paths[j], base, sizeof(base));
			snprintf(anc, sizeof(anc), "%s", base);
			while ((slash = strrchr(anc, '/')) != NULL && slash != anc) {
				*slash = '\0';
				if (stat(anc, &st) == 0)
					break;
			}
			if (slash && stat(anc, &st) == 0)
				watch_dir(t, anc);
			t->scan.root = in->paths[j];
			t->scan.limited = false;
			mark_ancestors(t, base);
			scan_dir(t, base, 0);
		}
	}
}

static void on_dir_event(struct pl_tail *t, const struct inotify_event *ev)
{
	const char *dir = ev->wd >= 0 && ev->wd < t->n_dirs ? t->dirs[ev->wd].path : NULL;
	char path[PATH_MAX];
	struct tfile *f;

	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
		if (dir && (ev->mask & IN_IGNORED)) {
			free(t->dirs[ev->wd].path);
			t->dirs[ev->wd].path = NULL;
		}
		return;
	}
	if (!dir || !ev->len)
		return;
	if (snprintf(path, sizeof(path), "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", ev->name) >=
	    (int)sizeof(path))
		return;
	if (ev->mask & IN_ISDIR) {
		if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && dir_wanted(t, path))
			scan_new_dir(t, path);
		return;
	}
	f = find_path(t, path);
	if (ev->mask & (IN_MOVED_FROM | IN_DELETE)) {
		if (f)
			mark_gone(t, f);
		return;
	}
	if (ev->mask & IN_MODIFY) {
		if (!f) {
			consider(t, path);
			return;
		}
		if (f->fd < 0)
			reopen(t, f);
		f->want_read = true;
		return;
	}
	if (ev->mask & (IN_CREATE | IN_MOVED_TO))
		consider(t, path);
}

static void read_inotify(struct pl_tail *t)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (int reads = 0; reads < INOTIFY_READS_PER_TURN && !stopping(t); reads++) {
		ssize_t n = read(t->ino_fd, buf, sizeof(buf));
		size_t i = 0;

		if (n <= 0)
			return;
		while (i + sizeof(struct inotify_event) <= (size_t)n) {
			const struct inotify_event *ev = (const struct inotify_event *)(buf + i);

			if (i + sizeof(*ev) + ev->len > (size_t)n)
				break;
			if (ev->mask & IN_Q_OVERFLOW) {
				pl_tail_warn(&t->warn_overflow, t->now_ns, 0, "tail: inotify queue "
					     "overflowed; rescanning every input");
				t->rescan = true;
			} else {
				on_dir_event(t, ev);
			}
			i += sizeof(*ev) + ev->len;
		}
	}
}

/* ---- periodic checks: truncation, deletion, idleness, multiline timeouts ---- */

/* tail.close_inactive, or less while files wait for a descriptor: a file read to its end
 * and quiet for SHORT_IDLE_NS makes room for one that has not been read at all. */
static uint64_t idle_limit(const struct pl_tail *t)
{
	return t->n_fd_waiting ? PL_MIN(t->cfg->tail.close_inactive_ns, SHORT_IDLE_NS) :
				 t->cfg->tail.close_inactive_ns;
}

/* A rotated-away file is read to its end: a line the runtime split and continued in the
 * next file (it rotates between pieces) goes out as far as it got, marked. False when the
 * output did not take it (read again later). */
static bool flush_joins(struct pl_tail *t, struct tfile *f)
{
	struct read_ctx c = { t, f };

	if (pl_tail_cdec_pending_off(&f->dec) == UINT64_MAX)
		return true;
	pl_tail_cdec_flush(&f->dec, on_app_line, &c);
	if (f->in->ml.mode != PL_TAIL_ML_NONE && !f->stalled)
		pl_tail_ml_flush(&f->rec, emit_record, &c);
	if (!f->stalled)
		return true;
	restart_at(f, f->stall_off);
	return false;
}

static void check_file(struct pl_tail *t, struct tfile *f)
{
	struct stat st, pst;
	struct read_ctx c = { t, f };

	if (f->dropped)
		return;
	if (pl_tail_ml_expired(&f->in->ml, &f->rec, t->now_ns)) {
		pl_tail_ml_flush(&f->rec, emit_record, &c);
		if (f->stalled)
			restart_at(f, f->stall_off);
	}
	if (f->fd < 0 || fstat(f->fd, &st) != 0)
		return;
	if (truncated(t, f))
		return;
	if ((uint64_t)st.st_size > f->read_off) {
		f->want_read = true;
		return;
	}
	if (st.st_nlink == 0 && !f->deleted) {
		f->deleted = true;
		t->st->tail_deleted++;
		mark_gone(t, f);
	}
	if (!f->gone && (stat(f->path, &pst) != 0 || pst.st_ino != st.st_ino ||
			 pst.st_dev != st.st_dev))
		mark_gone(t, f);
	if (f->gone && t->now_ns - f->last_change_ns >= t->cfg->tail.close_removed_ns) {
		if (!flush_joins(t, f))
			return;
		close_fd(t, f);
	} else if (!f->gone && t->now_ns - f->last_change_ns >= idle_limit(t)) {
		close_fd(t, f);
		t->st->tail_idle_closed++;
	}
}

static void check_files(struct pl_tail *t)
{
	for (struct tfile *f = t->files; f; f = f->next)
		check_file(t, f);
	t->last_check_ns = t->now_ns;
}

/* ---- the registry batch ---- */

static void free_file(struct pl_tail *t, struct tfile *f)
{
	char what[PATH_MAX + 32];

	if (t->tpl_f == f)
		t->tpl_f = NULL;    /* its address may come back as another file */
	unwait(t, f);
	snprintf(what, sizeof(what), "%s: read", f->path);
	pl_tail_limit_flush(&f->warn_read, what);
	close_fd(t, f);
	path_unlink(t, f);
	id_unlink(t, f);
	pl_tail_lines_free(&f->lines);
	pl_tail_rec_free(&f->rec);
	pl_tail_cdec_free(&f->dec);
	free(f->meta);
	free(f->keep);
	free(f->path);
	free(f);
}

/* Small files grow into their fingerprint: hash more of the head once it exists. */
static void refresh_fp(struct tfile *f)
{
	struct pl_tail_id id = f->id;

	if (f->fd < 0 || f->id.fp_len >= PL_TAIL_FP_MAX || f->read_off <= f->id.fp_len)
		return;
	if (pl_tail_fp_read(f->fd, &id) == 0 && id.fp_len > f->id.fp_len)
		f->id = id;
}

static int commit_file(struct pl_tail *t, struct tfile *f, bool *changed)
{
	uint32_t fp_len = f->id.fp_len;

	refresh_fp(f);
	if (f->acked_off == f->committed_off && fp_len == f->id.fp_len)
		return 0;
	if (pl_tail_reg_put(t->reg, &f->id, f->path, f->acked_off) < 0)
		return -1;
	f->committed_off = f->acked_off;
	f->committed = true;
	*changed = true;
	return 0;
}

/* A file found but not opened yet (waiting for a descriptor) keeps its row, and so its
 * delivered offset, through the start-up prune. */
static void keep_row(struct pl_tail *t, struct tfile *f)
{
	struct pl_tail_id stored;
	uint64_t off;

	if (f->opened || f->gone || !pl_tail_reg_get(t->reg, f->id.dev, f->id.ino, &stored, &off))
		return;
	if (pl_tail_reg_put(t->reg, &stored, f->path, off) < 0)
		t->st->tail_errors++;
}

static void commit(struct pl_tail *t)
{
	struct tfile **pp = &t->files;
	bool changed = false;

	t->last_commit_ns = t->now_ns;
	if (pl_tail_reg_begin(t->reg) < 0) {
		t->st->tail_errors++;
		return;
	}
	while (*pp) {
		struct tfile *f = *pp;
		bool finished = f->gone && f->fd < 0 && f->inflight == 0;

		if (finished && f->dropped) {
			/* Its input was removed: keep the row, so that re-adding the input
			 * resumes where delivery stopped instead of reading the file again. */
			if (commit_file(t, f, &changed) < 0) {
				t->st->tail_errors++;
				pp = &f->next;
				continue;
			}
			*pp = f->next;
			free_file(t, f);
			continue;
		}
		if (finished) {
			/* Drained and closed: its row would only ever mislead an inode reuse. */
			if (f->committed && pl_tail_reg_del(t->reg, f->id.dev, f->id.ino) < 0)
				t->st->tail_errors++;   /* logged by the registry */
			changed |= f->committed;
			*pp = f->next;
			free_file(t, f);
			continue;
		}
		if (commit_file(t, f, &changed) < 0)
			t->st->tail_errors++;
		pp = &f->next;
	}
	if (!t->pruned) {
		long n;

		for (struct tfile *f = t->files; f; f = f->next)
			keep_row(t, f);
		n = pl_tail_reg_prune(t->reg, t->start_sec);
		if (n > 0)
			pl_info("tail registry: forgot %ld files that are gone", n);
		t->pruned = true;
	}
	if (pl_tail_reg_commit(t->reg) < 0) {
		t->st->tail_errors++;
		return;
	}
	t->st->tail_commits += changed;
}

/* ---- the loop ---- */

static bool should_pause(struct pl_tail *t)
{
	bool p = t->env.should_pause && t->env.should_pause(t->env.arg);

	if (p && t->env.flush) {
		/* Delivery reports not served yet still count as queued: serve them (never
		 * blocks) and ask again, rather than wait for the next periodic flush. */
		flush_output(t);
		p = t->env.should_pause(t->env.arg);
	}

	if (p && !t->paused)
		t->st->tail_paused++;
	t->paused = p;
	return p;
}

/* One pass over the files that have something to read; true if any has more. */
static bool read_pass(struct pl_tail *t)
{
	bool more = false;

	for (struct tfile *f = t->files; f && !stopping(t); f = f->next) {
		if (!f->want_read)
			continue;
		if (should_pause(t))
			return true;
		if (read_file(t, f) || f->stalled) {
			f->want_read = true;
			more = true;
		}
		if (t->tail - t->head > t->ring_mask / 2 ||
		    (t->unflushed && t->now_ns - t->last_flush_ns >= BEHIND_FLUSH_NS))
			flush_output(t);
	}
	return more;
}

static void wait_events(struct pl_tail *t, int timeout_ms)
{
	struct pollfd pfd[2] = { { t->ino_fd, POLLIN, 0 }, { t->wake_fd, POLLIN, 0 } };

	if (poll(pfd, 2, timeout_ms) <= 0)
		return;
	if (pfd[0].revents & POLLIN)
		read_inotify(t);
	if (pfd[1].revents & POLLIN) {
		uint64_t n;
		/* Reset the counter, or poll would never sleep again after a reload's wake-up. */
		if (read(t->wake_fd, &n, sizeof(n)) < 0) {
			/* EAGAIN: someone else read it */
		}
	}
}

static void take_reload(struct pl_tail *t);

int pl_tail_run(struct pl_tail *t)
{
	bool more = true;

	while (!t->stop) {
		wait_events(t, more ? 0 : IDLE_POLL_MS);
		set_clock(t);
		take_reload(t);
		if (t->rescan)
			scan_all(t);
		drain_acks(t);
		more = read_pass(t);
		if (t->unflushed && (!more || t->now_ns - t->last_flush_ns >= BEHIND_FLUSH_NS))
			flush_output(t);
		if (t->now_ns - t->last_check_ns >= CHECK_INTERVAL_NS)
			check_files(t);
		if (t->n_waiting && (t->fd_freed || t->now_ns - t->last_retry_ns >= CHECK_INTERVAL_NS))
			retry_waiting(t);
		if (t->n_fd_waiting || t->fd_short_told)
			report_fd_wait(t);
		if (t->now_ns - t->last_commit_ns >= t->cfg->tail.commit_interval_ns)
			commit(t);
		if (more && (t->paused || t->tail - t->head > t->ring_mask / 2))
			wait_events(t, PAUSE_WAIT_MS); /* acks or room will come; do not spin */
		t->starting = false;
	}
	t->now_ns = mono_ns();
	flush_output(t);
	commit(t);
	pthread_mutex_lock(&t->reload_mu);
	t->exited = true;
	pthread_cond_broadcast(&t->reload_cv);
	pthread_mutex_unlock(&t->reload_mu);
	return 0;
}

void pl_tail_set_scan_limits(struct pl_tail *t, size_t max_dirs, size_t max_entries)
{
	t->scan.max_dirs = max_dirs;
	t->scan.max_entries = max_entries;
}

void pl_tail_stop(struct pl_tail *t)
{
	uint64_t one = 1;

	t->stop = 1;
	if (write(t->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: poll wakes anyway */
	}
}

/* ---- set-up and tear-down ---- */

/* One descriptor per followed file: thousands of files are normal on a log host. Raise the
 * soft limit to the hard one, and keep a reserve for the output, the registry and scans. */
static void raise_fd_limit(struct pl_tail *t)
{
	struct rlimit rl;
	uint64_t reserve;

	t->fd_limit = t->fd_budget = UINT64_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t cur = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			pl_warn("tail: cannot raise RLIMIT_NOFILE from %llu to %llu: %s",
				(unsigned long long)cur, (unsigned long long)rl.rlim_max,
				strerror(errno));
			rl.rlim_cur = cur;
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	t->fd_limit = (uint64_t)rl.rlim_cur;
	reserve = PL_MAX((uint64_t)FD_RESERVE_MIN, t->fd_limit / 16);
	t->fd_budget = t->fd_limit > 2 * reserve ? t->fd_limit - reserve : t->fd_limit / 2;
	pl_info("tail: RLIMIT_NOFILE %llu: at most %llu tailed files open at once",
		(unsigned long long)t->fd_limit, (unsigned long long)t->fd_budget);
}

static size_t max_line(const struct pl_config *cfg)
{
	size_t m = 0;

	for (int i = 0; i < cfg->tail.n_inputs; i++)
		m = PL_MAX(m, (size_t)pl_tail_raw_cap(&cfg->tail.inputs[i]));
	return m;
}

static int alloc_buffers(struct pl_tail *t)
{
	uint64_t ring = 16;

	while (ring < t->cfg->tail.max_inflight)
		ring *= 2;
	t->ring = calloc(ring, sizeof(*t->ring));
	t->ring_mask = ring - 1;
	t->rbuf_len = t->cfg->tail.read_buffer_bytes;
	t->rbuf = malloc(t->rbuf_len);
	/* path, host name and fields are bounded by PATH_MAX and the config. */
	t->render_cap = pl_tail_render_bound(max_line(t->cfg), PATH_MAX + 64 * 1024);
	t->render = malloc(t->render_cap);
	t->tpl.cap = pl_tail_render_bound(PATH_MAX + 64 * 1024, 0);
	t->tpl.buf = malloc(t->tpl.cap);
	return t->ring && t->rbuf && t->render && t->tpl.buf ? 0 : -1;
}

/* ---- reload (SIGHUP) ---- */

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Would a record in progress be joined the same way under b as under a? */
static bool ml_same(const struct pl_tail_input *a, const struct pl_tail_input *b)
{
	return same_str(a->ml_pattern, b->ml_pattern) && a->ml_indent == b->ml_indent &&
	       a->ml_max_lines == b->ml_max_lines && a->ml_timeout_ns == b->ml_timeout_ns &&
	       a->max_line_bytes == b->max_line_bytes && a->format == b->format;
}

static bool same_paths(const struct pl_tail_input *a, const struct pl_tail_input *b)
{
	if (a->n_paths != b->n_paths)
		return false;
	for (int i = 0; i < a->n_paths; i++)
		if (strcmp(a->paths[i], b->paths[i]) != 0)
			return false;
	return true;
}

/* An input is new unless the running set has one watching the very same paths. */
static bool input_is_new(const struct pl_tail *t, const struct pl_tail_input *in)
{
	for (int i = 0; i < t->n_inputs; i++)
		if (same_paths(t->inputs[i].cfg, in))
			return false;
	return true;
}

/* Send the multi-line record in progress now: the rules that join it are changing. */
static void flush_record(struct pl_tail *t, struct tfile *f)
{
	struct read_ctx c = { t, f };

	pl_tail_ml_flush(&f->rec, emit_record, &c);
	if (f->stalled)
		restart_at(f, f->stall_off);
}

/* Stop reading a file whose input was removed; commit() forgets it once drained. */
static void drop_file(struct pl_tail *t, struct tfile *f)
{
	flush_record(t, f);
	close_fd(t, f);
	path_unlink(t, f);
	f->gone = true;
	f->dropped = true;
	f->want_read = false;
	f->stalled = false;
	f->in = NULL;
}

/* Buffers sized from the config: the read buffer follows tail.read_buffer_bytes, the
 * render buffer only grows (files keep the line cap they were opened with). */
static int resize_buffers(struct pl_tail *t, const struct pl_config *nc)
{
	size_t cap = pl_tail_render_bound(max_line(nc), PATH_MAX + 64 * 1024);

	if (nc->tail.read_buffer_bytes && nc->tail.read_buffer_bytes != t->rbuf_len) {
		char *b = malloc(nc->tail.read_buffer_bytes);
		if (!b)
			return -1;
		free(t->rbuf);
		t->rbuf = b;
		t->rbuf_len = nc->tail.read_buffer_bytes;
	}
	if (cap > t->render_cap) {
		char *b = malloc(cap);
		if (!b)
			return -1;
		free(t->render);
		t->render = b;
		t->render_cap = cap;
	}
	return 0;
}

static int apply_reload(struct pl_tail *t, const struct pl_config *nc)
{
	struct tinput *next = calloc(PL_TAIL_MAX_INPUTS, sizeof(*next));
	int n = 0, added = 0, dropped = 0;

	if (!next)
		return -1;
	for (; n < nc->tail.n_inputs; n++) {
		if (input_init(&next[n], &nc->tail.inputs[n]) < 0)
			goto fail;
		next[n].fresh = input_is_new(t, next[n].cfg);
		added += next[n].fresh;
	}
	if (resize_buffers(t, nc) < 0)
		goto fail;
	drain_acks(t);
	for (struct tfile *f = t->files; f; f = f->next) {
		struct tinput *in;

		if (f->dropped)
			continue;
		in = input_in(next, n, f->path);
		if (!in) {
			drop_file(t, f);
			dropped++;
		} else if (!ml_same(f->in->cfg, in->cfg)) {
			flush_record(t, f);
			if (f->in->cfg->format != in->cfg->format)
				set_format(t, f, in->cfg);
		}
	}
	/* From here on the old inputs are gone: files point into the new set. */
	for (int i = 0; i < t->n_inputs; i++)
		pl_tail_ml_free(&t->inputs[i].ml);
	memcpy(t->inputs, next, (size_t)n * sizeof(*next));
	t->tpl_f = NULL;   /* same addresses, new fields: render the templates again */
	t->n_inputs = n;
	t->cfg = nc;
	for (struct tfile *f = t->files; f; f = f->next) {
		if (f->dropped)
			continue;
		f->in = input_for(t, f->path);
		f->want_read = true;
	}
	scan_all(t);
	for (int i = 0; i < n; i++)
		t->inputs[i].fresh = false;
	commit(t);
	pl_info("tail: reloaded: %d input(s), %d new; %d file(s) of removed inputs no longer "
		"followed", n, added, dropped);
	free(next);
	return 0;
fail:
	for (int i = 0; i < n; i++)
		pl_tail_ml_free(&next[i].ml);
	free(next);
	pl_err("tail: the new inputs cannot be set up; keeping the running ones");
	return -1;
}

/* The tailer thread's safe point: no read, record or batch is half done. */
static void take_reload(struct pl_tail *t)
{
	const struct pl_config *nc;
	int rc;

	pthread_mutex_lock(&t->reload_mu);
	nc = t->reload_cfg;
	pthread_mutex_unlock(&t->reload_mu);
	if (!nc)
		return;
	rc = apply_reload(t, nc);
	pthread_mutex_lock(&t->reload_mu);
	t->reload_rc = rc;
	t->reload_cfg = NULL;
	pthread_cond_broadcast(&t->reload_cv);
	pthread_mutex_unlock(&t->reload_mu);
}

int pl_tail_reload(struct pl_tail *t, const struct pl_config *new_cfg)
{
	uint64_t one = 1;
	int rc;

	pthread_mutex_lock(&t->reload_mu);
	while (t->reload_cfg && !t->exited)
		pthread_cond_wait(&t->reload_cv, &t->reload_mu);
	if (t->exited) {
		pthread_mutex_unlock(&t->reload_mu);
		pl_err("tail: the tailer has stopped; reload not applied");
		return -1;
	}
	t->reload_cfg = new_cfg;
	if (write(t->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the tailer is awake anyway */
	}
	while (t->reload_cfg == new_cfg && !t->exited)
		pthread_cond_wait(&t->reload_cv, &t->reload_mu);
	rc = t->reload_cfg == new_cfg ? -1 : t->reload_rc;
	if (t->reload_cfg == new_cfg)
		t->reload_cfg = NULL;
	pthread_mutex_unlock(&t->reload_mu);
	return rc;
}

struct pl_tail *pl_tail_open(const struct pl_config *cfg, const struct pl_tail_env *env)
{
	struct pl_tail *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cfg = cfg;
	t->env = *env;
	t->st = env->stats;
	t->ino_fd = t->wake_fd = -1;
	t->scan.max_dirs = SCAN_MAX_DIRS;
	t->scan.max_entries = SCAN_MAX_ENTRIES;
	pthread_mutex_init(&t->reload_mu, NULL);
	pthread_cond_init(&t->reload_cv, NULL);
	raise_fd_limit(t);
	if (inputs_init(t) < 0 || alloc_buffers(t) < 0)
		goto fail;
	t->reg = pl_tail_reg_open(cfg->data_dir);
	if (!t->reg)
		goto fail;
	t->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->ino_fd < 0 || t->wake_fd < 0) {
		pl_err("tail: inotify: %s", strerror(errno));
		goto fail;
	}
	set_clock(t);
	t->start_sec = (int64_t)(t->wall_ns / PL_NS_PER_SEC);
	t->last_flush_ns = t->last_check_ns = t->last_commit_ns = t->now_ns;
	t->starting = true;
	t->rescan = true;   /* the first scan runs in pl_tail_run, where pl_tail_stop is heard */
	return t;
fail:
	pl_tail_close(t);
	return NULL;
}

void pl_tail_close(struct pl_tail *t)
{
	if (!t)
		return;
	while (t->files) {
		struct tfile *f = t->files;
		t->files = f->next;
		free_file(t, f);
	}
	for (int i = 0; i < t->n_dirs; i++)
		free(t->dirs[i].path);
	for (int i = 0; i < t->n_inputs; i++)
		pl_tail_ml_free(&t->inputs[i].ml);
	if (t->ino_fd >= 0)
		close(t->ino_fd);
	if (t->wake_fd >= 0)
		close(t->wake_fd);
	pl_tail_reg_close(t->reg);
	pthread_mutex_destroy(&t->reload_mu);
	pthread_cond_destroy(&t->reload_cv);
	free(t->dirs);
	free(t->scan.slots);
	free(t->ring);
	free(t->pre);
	free(t->rbuf);
	free(t->render);
	free(t->tpl.buf);
	free(t);
}
