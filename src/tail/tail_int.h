/* tail_int.h – the tailer's shared state and the functions its files call in one another
 * (internal to src/tail/; the public face is include/pktlog/tail.h).
 *
 * The files, as Fluent Bit splits in_tail:
 *   tailer.c   the thread: pl_tail_open/run/stop/close, the loop, inputs, buffers
 *   watch.c    which files: inotify, directory scans, globs, IN_Q_OVERFLOW rescans
 *   file.c     one file's life: open, start offset, rotate, truncate, delete, idle close
 *   read.c     one line's way out: read -> lines.c -> container.c -> multiline.c ->
 *              render.c -> env.publish (and the in-flight slot it takes)
 *   offsets.c  its way back: pl_tail_ack -> the delivered prefix -> the registry commit
 *   reload.c   SIGHUP: new inputs applied by the tailer thread between reads
 * registry.c is a plain store (lookup, put, delete, commit); only file.c (the start offset)
 * and offsets.c (the commit) call it. Functions shared between these files are tl_*. */
#ifndef PKTLOG_TAIL_INT_H
#define PKTLOG_TAIL_INT_H

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include "pktlog/tail.h"
#include "render.h"

#define PATH_BUCKETS 8192          /* hash chains of files by path and by (dev, ino) */
#define MAX_ANCESTORS 64           /* of a scan's root, checked for loops */
#define LOOPS_WARNED_MAX 256       /* directory loops already reported (once each) */

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

/* Long loops (scans, retries, event bursts) give up when the tailer is stopped, or when
 * the process is (env.quit: a SIGTERM while the main thread waits for a reload). */
static inline bool tl_stopping(const struct pl_tail *t)
{
	return t->stop || (t->env.quit && *t->env.quit);
}

/* ---- tailer.c ---- */
int tl_input_init(struct tinput *ti, const struct pl_tail_input *in);
size_t tl_max_line(const struct pl_config *cfg);

/* ---- watch.c ---- */
struct tinput *tl_input_in(struct tinput *ins, int n, const char *path);
struct tinput *tl_input_for(struct pl_tail *t, const char *path);
void tl_scan_all(struct pl_tail *t);
void tl_read_inotify(struct pl_tail *t);

/* ---- file.c ---- */
struct tfile *tl_find_path(struct pl_tail *t, const char *path);
struct tfile *tl_find_id(struct pl_tail *t, uint64_t dev, uint64_t ino);
void tl_path_link(struct pl_tail *t, struct tfile *f);
void tl_path_unlink(struct pl_tail *t, struct tfile *f);
struct tfile *tl_add_file(struct pl_tail *t, const char *path, struct tinput *in,
			  const struct stat *st);
bool tl_reopen(struct pl_tail *t, struct tfile *f);
void tl_set_format(struct pl_tail *t, struct tfile *f, const struct pl_tail_input *cfg);
bool tl_truncated(struct pl_tail *t, struct tfile *f);
void tl_mark_gone(struct pl_tail *t, struct tfile *f);
void tl_close_fd(struct pl_tail *t, struct tfile *f);
bool tl_fd_shortage(int err);
void tl_retry_waiting(struct pl_tail *t);
void tl_report_fd_wait(struct pl_tail *t);
void tl_check_files(struct pl_tail *t);
void tl_free_file(struct pl_tail *t, struct tfile *f);

/* ---- read.c ---- */
bool tl_read_file(struct pl_tail *t, struct tfile *f);
void tl_restart_at(struct tfile *f, uint64_t off);
void tl_flush_record(struct pl_tail *t, struct tfile *f);
bool tl_flush_joins(struct pl_tail *t, struct tfile *f);

/* ---- offsets.c ---- */
void tl_drain_acks(struct pl_tail *t);
void tl_flush_output(struct pl_tail *t);
bool tl_should_pause(struct pl_tail *t);
void tl_commit(struct pl_tail *t);

/* ---- reload.c ---- */
void tl_take_reload(struct pl_tail *t);

#endif
