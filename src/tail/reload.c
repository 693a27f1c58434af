/* reload.c – SIGHUP: pl_tail_reload hands the new config to the tailer thread, which applies
 * it at a safe point between reads: inputs that remain keep their files and offsets, new
 * inputs start per start_position, files of removed inputs are drained and committed. */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tail_int.h"

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

/* Stop reading a file whose input was removed; tl_commit() forgets it once drained. */
static void drop_file(struct pl_tail *t, struct tfile *f)
{
	tl_flush_record(t, f);
	tl_close_fd(t, f);
	tl_path_unlink(t, f);
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
	size_t cap = pl_tail_render_bound(tl_max_line(nc), PATH_MAX + 64 * 1024);

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
		if (tl_input_init(&next[n], &nc->tail.inputs[n]) < 0)
			goto fail;
		next[n].fresh = input_is_new(t, next[n].cfg);
		added += next[n].fresh;
	}
	if (resize_buffers(t, nc) < 0)
		goto fail;
	tl_drain_acks(t);
	for (struct tfile *f = t->files; f; f = f->next) {
		struct tinput *in;

		if (f->dropped)
			continue;
		in = tl_input_in(next, n, f->path);
		if (!in) {
			drop_file(t, f);
			dropped++;
		} else if (!ml_same(f->in->cfg, in->cfg)) {
			tl_flush_record(t, f);
			if (f->in->cfg->format != in->cfg->format)
				tl_set_format(t, f, in->cfg);
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
		f->in = tl_input_for(t, f->path);
		f->want_read = true;
	}
	tl_scan_all(t);
	for (int i = 0; i < n; i++)
		t->inputs[i].fresh = false;
	tl_commit(t);
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
void tl_take_reload(struct pl_tail *t)
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
