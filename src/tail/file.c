/* file.c – one followed file's life: the tables that find it (by path, by device and
 * inode), its identity (the head fingerprint), its descriptor (open, the start offset from
 * the registry or start_position, waiting for a descriptor, idle close), and what happens to
 * it (rotation by rename, copytruncate, deletion) as the periodic checks find it.
 * Must not read lines (read.c) or commit offsets (offsets.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tail_int.h"

#define SHORT_IDLE_NS (5 * PL_NS_PER_SEC) /* idle close while files wait for a descriptor */

/* ---- identity: device, inode and a hash of the head (inode reuse, copytruncate) ---- */

uint64_t pl_tail_fp_hash(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static ssize_t read_head(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int pl_tail_fp_read(int fd, struct pl_tail_id *id)
{
	char buf[PL_TAIL_FP_MAX];
	ssize_t n = read_head(fd, buf, sizeof(buf));

	if (n < 0)
		return -1;
	id->fp_len = (uint32_t)n;
	id->fp = pl_tail_fp_hash(buf, (size_t)n);
	return 0;
}

bool pl_tail_fp_same(int fd, const struct pl_tail_id *id)
{
	char buf[PL_TAIL_FP_MAX];
	ssize_t n;

	if (id->fp_len > sizeof(buf))
		return false;
	n = read_head(fd, buf, id->fp_len);
	return n == (ssize_t)id->fp_len && pl_tail_fp_hash(buf, (size_t)n) == id->fp;
}

/* ---- the tables: by path (while the path names the file), by (dev, ino) ---- */

static size_t path_bucket(const char *path)
{
	return (size_t)(pl_tail_fp_hash(path, strlen(path)) & (PATH_BUCKETS - 1));
}

struct tfile *tl_find_path(struct pl_tail *t, const char *path)
{
	struct tfile *f;

	for (f = t->by_path[path_bucket(path)]; f; f = f->path_next)
		if (strcmp(f->path, path) == 0)
			return f;
	return NULL;
}

void tl_path_unlink(struct pl_tail *t, struct tfile *f)
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

void tl_path_link(struct pl_tail *t, struct tfile *f)
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
struct tfile *tl_find_id(struct pl_tail *t, uint64_t dev, uint64_t ino)
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

void tl_close_fd(struct pl_tail *t, struct tfile *f)
{
	if (f->fd < 0)
		return;
	close(f->fd);
	f->fd = -1;
	t->st->tail_files_open--;
	t->n_open--;
	t->fd_freed = true;
}

bool tl_fd_shortage(int err)
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
	} else if (tl_fd_shortage(f->open_err)) {
		t->n_fd_waiting--;
	}
	f->open_err = err;
	if (tl_fd_shortage(err)) {
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
	if (tl_fd_shortage(f->open_err))
		t->n_fd_waiting--;
	f->open_err = 0;
	snprintf(what, sizeof(what), "%s: cannot open", f->path);
	pl_tail_limit_flush(&f->warn_open, what);
}

/* ---- a descriptor: open, where to start, rename, copytruncate, waiting for one ---- */

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
	tl_restart_at(f, 0);
	read_fp(t, f);
	f->want_read = true;
}

/* copytruncate: the size fell below what we already read, or the file was truncated and
 * written past our offset before we looked (its head no longer hashes the same). */
bool tl_truncated(struct pl_tail *t, struct tfile *f)
{
	struct stat st;

	if (fstat(f->fd, &st) != 0)
		return false;
	if ((uint64_t)st.st_size >= f->read_off && (f->read_off == 0 || pl_tail_fp_same(f->fd, &f->id)))
		return false;
	if (f->gone) {
		/* Rotated away and then overwritten (a copy landing on the old name): what it
		 * holds now is not our log any more. */
		tl_close_fd(t, f);
		return true;
	}
	pl_info("%s: truncated or replaced (size %llu, offset %llu); reading from the start",
		f->path, (unsigned long long)st.st_size, (unsigned long long)f->read_off);
	reset_file(t, f);
	return true;
}

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
void tl_mark_gone(struct pl_tail *t, struct tfile *f)
{
	if (f->gone)
		return;
	tl_path_unlink(t, f);
	f->gone = true;
	f->want_read = true;
	f->last_change_ns = t->now_ns;
	t->st->tail_rotations++;
}

/* A file never opened turned out to be gone, or not ours: tl_commit() frees it. */
static void forget(struct pl_tail *t, struct tfile *f)
{
	unwait(t, f);
	tl_path_unlink(t, f);
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
	tl_restart_at(f, off);
	f->acked_off = off;
	f->committed_off = f->committed ? UINT64_MAX : 0; /* force the first commit to write */
	pl_info("%s: tailing from offset %llu", f->path, (unsigned long long)off);
}

/* Give f a descriptor: the first one, again after an idle close, or while it waits for
 * one. Returns true when f has one. A failure other than "gone" leaves f waiting. */
bool tl_reopen(struct pl_tail *t, struct tfile *f)
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
void tl_set_format(struct pl_tail *t, struct tfile *f, const struct pl_tail_input *cfg)
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
struct tfile *tl_add_file(struct pl_tail *t, const char *path, struct tinput *in,
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
	tl_set_format(t, f, in->cfg);
	f->id.dev = (uint64_t)st->st_dev;
	f->id.ino = (uint64_t)st->st_ino;
	f->end_at_add = (t->starting || in->fresh) && in->cfg->start_at_end ?
			(uint64_t)st->st_size : UINT64_MAX;
	f->last_change_ns = t->now_ns;
	f->next = t->files;
	t->files = f;
	tl_path_link(t, f);
	id_link(t, f);
	tl_reopen(t, f);
	return f;
}

/* Retry the files that wait for a descriptor (or a permission): as idle files close, and
 * every CHECK_INTERVAL. Stops at the first that finds none free. */
void tl_retry_waiting(struct pl_tail *t)
{
	t->fd_freed = false;
	t->last_retry_ns = t->now_ns;
	if (t->rescan_on_fd) {
		t->rescan_on_fd = false;
		t->rescan = true;
	}
	for (struct tfile *f = t->files; f && !tl_stopping(t); f = f->next) {
		if (!f->waiting || f->gone)
			continue;
		if (t->n_open >= t->fd_budget)
			break;
		if (!tl_reopen(t, f) && f->waiting && tl_fd_shortage(f->open_err))
			break;
	}
}

/* The shortage of descriptors, for all files at once: how many wait, and when none do. */
void tl_report_fd_wait(struct pl_tail *t)
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

/* ---- periodic checks: truncation, deletion, idleness, multiline timeouts ---- */

/* tail.close_inactive, or less while files wait for a descriptor: a file read to its end
 * and quiet for SHORT_IDLE_NS makes room for one that has not been read at all. */
static uint64_t idle_limit(const struct pl_tail *t)
{
	return t->n_fd_waiting ? PL_MIN(t->cfg->tail.close_inactive_ns, SHORT_IDLE_NS) :
				 t->cfg->tail.close_inactive_ns;
}

static void check_file(struct pl_tail *t, struct tfile *f)
{
	struct stat st, pst;

	if (f->dropped)
		return;
	if (pl_tail_ml_expired(&f->in->ml, &f->rec, t->now_ns))
		tl_flush_record(t, f);
	if (f->fd < 0 || fstat(f->fd, &st) != 0)
		return;
	if (tl_truncated(t, f))
		return;
	if ((uint64_t)st.st_size > f->read_off) {
		f->want_read = true;
		return;
	}
	if (st.st_nlink == 0 && !f->deleted) {
		f->deleted = true;
		t->st->tail_deleted++;
		tl_mark_gone(t, f);
	}
	if (!f->gone && (stat(f->path, &pst) != 0 || pst.st_ino != st.st_ino ||
			 pst.st_dev != st.st_dev))
		tl_mark_gone(t, f);
	if (f->gone && t->now_ns - f->last_change_ns >= t->cfg->tail.close_removed_ns) {
		if (!tl_flush_joins(t, f))
			return;
		tl_close_fd(t, f);
	} else if (!f->gone && t->now_ns - f->last_change_ns >= idle_limit(t)) {
		tl_close_fd(t, f);
		t->st->tail_idle_closed++;
	}
}

void tl_check_files(struct pl_tail *t)
{
	for (struct tfile *f = t->files; f; f = f->next)
		check_file(t, f);
	t->last_check_ns = t->now_ns;
}

void tl_free_file(struct pl_tail *t, struct tfile *f)
{
	char what[PATH_MAX + 32];

	if (t->tpl_f == f)
		t->tpl_f = NULL;    /* its address may come back as another file */
	unwait(t, f);
	snprintf(what, sizeof(what), "%s: read", f->path);
	pl_tail_limit_flush(&f->warn_read, what);
	tl_close_fd(t, f);
	tl_path_unlink(t, f);
	id_unlink(t, f);
	pl_tail_lines_free(&f->lines);
	pl_tail_rec_free(&f->rec);
	pl_tail_cdec_free(&f->dec);
	free(f->meta);
	free(f->keep);
	free(f->path);
	free(f);
}
