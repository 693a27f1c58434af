/* offsets.c – one line's way back: the output's acknowledgement (pl_tail_ack, any thread)
 * marks its in-flight slot; the tailer thread advances each file's delivered offset over the
 * acknowledged prefix (drain_acks), asks the output to flush and whether to pause, and
 * writes the delivered offsets to the registry in one batch every commit_interval (commit).
 * The only place that decides what the registry holds. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include "tail_int.h"

/* The token is the record's sequence number + 1 (publish_record in read.c). */
void pl_tail_ack(struct pl_tail *t, void *ack_token, int ok)
{
	uint64_t seq = (uint64_t)(uintptr_t)ack_token - 1;

	/* Only the state is touched here, one byte stored once per record (no lock per line):
	 * head and tail belong to the tailer thread, which reads the state with acquire. */
	__atomic_store_n(&t->ring[seq & t->ring_mask].state, ok ? 1 : 2, __ATOMIC_RELEASE);
}

/* Advance offsets over the delivered prefix. A failed record stops the prefix: its
 * offset is never passed, so a restart reads it again (at-least-once, never a gap). */
void tl_drain_acks(struct pl_tail *t)
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

/* Ask the output to send what was published (and serve its delivery reports), then take
 * the acknowledgements that came back. */
void tl_flush_output(struct pl_tail *t)
{
	if (t->env.flush)
		t->env.flush(t->env.arg);
	t->unflushed = 0;
	t->last_flush_ns = t->now_ns;
	tl_drain_acks(t);
}

/* Back-pressure: true while the output wants the tailer to stop reading (counted once per
 * pause). */
bool tl_should_pause(struct pl_tail *t)
{
	bool p = t->env.should_pause && t->env.should_pause(t->env.arg);

	if (p && t->env.flush) {
		/* Delivery reports not served yet still count as queued: serve them (never
		 * blocks) and ask again, rather than wait for the next periodic flush. */
		tl_flush_output(t);
		p = t->env.should_pause(t->env.arg);
	}

	if (p && !t->paused)
		t->st->tail_paused++;
	t->paused = p;
	return p;
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

void tl_commit(struct pl_tail *t)
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
			tl_free_file(t, f);
			continue;
		}
		if (finished) {
			/* Drained and closed: its row would only ever mislead an inode reuse. */
			if (f->committed && pl_tail_reg_del(t->reg, f->id.dev, f->id.ino) < 0)
				t->st->tail_errors++;   /* logged by the registry */
			changed |= f->committed;
			*pp = f->next;
			tl_free_file(t, f);
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
