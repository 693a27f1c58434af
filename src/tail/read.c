/* read.c – one line's way out, in the order it goes: a file's bytes (read_file) are split
 * into lines (lines.c, on_line), decoded from a container runtime's wrapper (container.c,
 * on_app_line), joined into multi-line records (multiline.c, emit_record), rendered
 * (render.c) and published (env.publish, publish_record), each record taking an in-flight
 * slot that offsets.c retires when the output acknowledges it. A record the output cannot
 * take stalls the file: the rest of the buffer is kept and fed again, never read twice.
 * Must not open files (file.c) or move offsets past what was delivered (offsets.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tail_int.h"

#define READS_PER_TURN 4          /* buffers one file may read before others get a turn */
#define PAUSE_CHECK_EVERY 64      /* records between two asks whether the output wants a pause */

struct read_ctx {
	struct pl_tail *t;
	struct tfile *f;
};

/* Forget partial state and read again from `off` (rewind after a stall, truncation). */
void tl_restart_at(struct tfile *f, uint64_t off)
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

/* One record: render it, take the next in-flight slot and hand it to the output, whose
 * acknowledgement (offsets.c) carries the slot's sequence number; not taken, the file stalls. */
static void publish_record(struct pl_tail *t, struct tfile *f, const struct pl_tail_line *rec)
{
	struct inflight *slot;
	size_t n = 0;

	if (f->stalled)
		return;
	/* One read buffer holds thousands of lines: ask within it too, or a full output queue
	 * would push the rest of the buffer through the disk spool. Rewound, read again later. */
	if (t->tail - t->head > t->ring_mask ||
	    ((t->tail % PAUSE_CHECK_EVERY) == 0 && tl_should_pause(t))) {
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

	tl_restart_at(f, from);
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
bool tl_read_file(struct pl_tail *t, struct tfile *f)
{
	struct read_ctx c = { t, f };
	int turns = READS_PER_TURN;

	f->want_read = false;
	if (f->fd < 0 || f->compressed || tl_truncated(t, f))
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

/* Send the multi-line record in progress now (its timeout passed, or the rules that join it
 * are changing); a stall on it rewinds to read it again. */
void tl_flush_record(struct pl_tail *t, struct tfile *f)
{
	struct read_ctx c = { t, f };

	pl_tail_ml_flush(&f->rec, emit_record, &c);
	if (f->stalled)
		tl_restart_at(f, f->stall_off);
}

/* A rotated-away file is read to its end: a line the runtime split and continued in the
 * next file (it rotates between pieces) goes out as far as it got, marked. False when the
 * output did not take it (read again later). */
bool tl_flush_joins(struct pl_tail *t, struct tfile *f)
{
	struct read_ctx c = { t, f };

	if (pl_tail_cdec_pending_off(&f->dec) == UINT64_MAX)
		return true;
	pl_tail_cdec_flush(&f->dec, on_app_line, &c);
	if (f->in->ml.mode != PL_TAIL_ML_NONE && !f->stalled)
		pl_tail_ml_flush(&f->rec, emit_record, &c);
	if (!f->stalled)
		return true;
	tl_restart_at(f, f->stall_off);
	return false;
}
