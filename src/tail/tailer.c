/* tailer.c – the tailer's thread: set-up (inputs, buffers, descriptors, registry, inotify),
 * the loop that runs the other files' work in turn, pl_tail_stop and tear-down. What each
 * step does lives elsewhere (tail_int.h lists the files): this file only decides when.
 * Must not read files, match paths, render or commit itself. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "pktlog/event.h"
#include "tail_int.h"

#define SCAN_MAX_DIRS 100000       /* one scan's work: beyond this the rest is not followed */
#define SCAN_MAX_ENTRIES 2000000
#define FD_RESERVE_MIN 64          /* descriptors left for the output, registry, scans */
#define CHECK_INTERVAL_NS PL_NS_PER_SEC /* fstat of every open file: inotify does the rest */
#define IDLE_POLL_MS 200
#define BEHIND_FLUSH_NS (50 * 1000000ULL)
#define PAUSE_WAIT_MS 2            /* a paused reader looks again this soon: batches are in flight */

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

static void set_clock(struct pl_tail *t)
{
	t->now_ns = mono_ns();
	t->wall_ns = wall_ns();
	t->ts_len = pl_format_time(t->wall_ns, t->ts);
}

/* ---- inputs ---- */

int tl_input_init(struct tinput *ti, const struct pl_tail_input *in)
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
		if (tl_input_init(&t->inputs[i], &t->cfg->tail.inputs[i]) < 0)
			return -1;
		t->n_inputs++;
	}
	return 0;
}

/* ---- the loop ---- */

/* One pass over the files that have something to read; true if any has more. */
static bool read_pass(struct pl_tail *t)
{
	bool more = false;

	for (struct tfile *f = t->files; f && !tl_stopping(t); f = f->next) {
		if (!f->want_read)
			continue;
		if (tl_should_pause(t))
			return true;
		if (tl_read_file(t, f) || f->stalled) {
			f->want_read = true;
			more = true;
		}
		if (t->tail - t->head > t->ring_mask / 2 ||
		    (t->unflushed && t->now_ns - t->last_flush_ns >= BEHIND_FLUSH_NS))
			tl_flush_output(t);
	}
	return more;
}

static void wait_events(struct pl_tail *t, int timeout_ms)
{
	struct pollfd pfd[2] = { { t->ino_fd, POLLIN, 0 }, { t->wake_fd, POLLIN, 0 } };

	if (poll(pfd, 2, timeout_ms) <= 0)
		return;
	if (pfd[0].revents & POLLIN)
		tl_read_inotify(t);
	if (pfd[1].revents & POLLIN) {
		uint64_t n;
		/* Reset the counter, or poll would never sleep again after a reload's wake-up. */
		if (read(t->wake_fd, &n, sizeof(n)) < 0) {
			/* EAGAIN: someone else read it */
		}
	}
}

int pl_tail_run(struct pl_tail *t)
{
	bool more = true;

	while (!t->stop) {
		wait_events(t, more ? 0 : IDLE_POLL_MS);
		set_clock(t);
		tl_take_reload(t);
		if (t->rescan)
			tl_scan_all(t);
		tl_drain_acks(t);
		more = read_pass(t);
		if (t->unflushed && (!more || t->now_ns - t->last_flush_ns >= BEHIND_FLUSH_NS))
			tl_flush_output(t);
		if (t->now_ns - t->last_check_ns >= CHECK_INTERVAL_NS)
			tl_check_files(t);
		if (t->n_waiting && (t->fd_freed || t->now_ns - t->last_retry_ns >= CHECK_INTERVAL_NS))
			tl_retry_waiting(t);
		if (t->n_fd_waiting || t->fd_short_told)
			tl_report_fd_wait(t);
		if (t->now_ns - t->last_commit_ns >= t->cfg->tail.commit_interval_ns)
			tl_commit(t);
		if (more && (t->paused || t->tail - t->head > t->ring_mask / 2))
			wait_events(t, PAUSE_WAIT_MS); /* acks or room will come; do not spin */
		t->starting = false;
	}
	t->now_ns = mono_ns();
	tl_flush_output(t);
	tl_commit(t);
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

size_t tl_max_line(const struct pl_config *cfg)
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
	t->render_cap = pl_tail_render_bound(tl_max_line(t->cfg), PATH_MAX + 64 * 1024);
	t->render = malloc(t->render_cap);
	t->tpl.cap = pl_tail_render_bound(PATH_MAX + 64 * 1024, 0);
	t->tpl.buf = malloc(t->tpl.cap);
	return t->ring && t->rbuf && t->render && t->tpl.buf ? 0 : -1;
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
		tl_free_file(t, f);
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

