/* watch.c – which files the tailer follows: the inputs' globs and excludes, inotify watches
 * on the directories that may hold matches, directory scans ("**", new subdirectories,
 * symlink loops, bounded work), IN_Q_OVERFLOW rescans, and the directory events that hand a
 * path to file.c (a new file, a known one renamed, one gone). Must not open or read files. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include "tail_int.h"

#define MAX_DIR_DEPTH 32
#define INOTIFY_READS_PER_TURN 64  /* a writer flooding events must not hold the loop */
#define WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY | \
		    IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK)

/* ---- the inputs' patterns: which files and directories are wanted ---- */

static bool excluded(const struct pl_tail_input *in, const char *path)
{
	for (int i = 0; i < in->n_excludes; i++)
		if (pl_tail_glob_match(in->excludes[i], path))
			return true;
	return false;
}

struct tinput *tl_input_in(struct tinput *ins, int n, const char *path)
{
	for (int i = 0; i < n; i++) {
		const struct pl_tail_input *in = ins[i].cfg;
		for (int j = 0; j < in->n_paths; j++)
			if (pl_tail_glob_match(in->paths[j], path) && !excluded(in, path))
				return &ins[i];
	}
	return NULL;
}

struct tinput *tl_input_for(struct pl_tail *t, const char *path)
{
	return tl_input_in(t->inputs, t->n_inputs, path);
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

/* A path that matches an input exists: take it up, or recognise a file we know. */
static void consider(struct pl_tail *t, const char *path)
{
	struct tinput *in = tl_input_for(t, path);
	struct tfile *f, *same;
	struct stat st;

	if (!in || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	if (in->cfg->format != PL_TAIL_FORMAT_RAW && pl_tail_is_compressed_name(path))
		return;   /* kubelet's (or logrotate's) rotated and compressed logs */
	f = tl_find_path(t, path);
	if (f && f->id.dev == (uint64_t)st.st_dev && f->id.ino == (uint64_t)st.st_ino) {
		if (f->fd < 0)
			tl_reopen(t, f);
		f->want_read = true;
		return;
	}
	if (f)
		tl_mark_gone(t, f);
	same = tl_find_id(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
	if (same) {
		/* Renamed to another matching name, or its input came back after a reload
		 * removed it while records were in flight: same file, same offsets, new path. */
		char *p = strdup(path);

		if (same->dropped) {
			same->dropped = false;
			same->in = in;
		}
		tl_path_unlink(t, same);
		if (p) {
			free(same->path);
			same->path = p;
		}
		same->gone = false;
		tl_path_link(t, same);
		if (same->fd < 0)
			tl_reopen(t, same);
		same->want_read = true;
		return;
	}
	tl_add_file(t, path, in, &st);
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

	if (depth > MAX_DIR_DEPTH || tl_stopping(t) || s->limited)
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
		if (tl_fd_shortage(errno))
			t->rescan_on_fd = true;
		if (errno != ENOENT) {
			t->st->tail_errors++;
			pl_tail_warn(&t->warn_dirs, t->now_ns, errno, "%s: cannot list: %s", path,
				     strerror(errno));
		}
		goto out;
	}
	while (!tl_stopping(t) && !s->limited && (e = readdir(d)) != NULL) {
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
void tl_scan_all(struct pl_tail *t)
{
	char base[PATH_MAX], anc[PATH_MAX];

	t->st->tail_rescans++;
	t->rescan = false;
	scan_begin(t, "the tail inputs");
	for (int i = 0; i < t->n_inputs && !tl_stopping(t); i++) {
		const struct pl_tail_input *in = t->inputs[i].cfg;
		for (int j = 0; j < in->n_paths && !tl_stopping(t); j++) {
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
	f = tl_find_path(t, path);
	if (ev->mask & (IN_MOVED_FROM | IN_DELETE)) {
		if (f)
			tl_mark_gone(t, f);
		return;
	}
	if (ev->mask & IN_MODIFY) {
		if (!f) {
			consider(t, path);
			return;
		}
		if (f->fd < 0)
			tl_reopen(t, f);
		f->want_read = true;
		return;
	}
	if (ev->mask & (IN_CREATE | IN_MOVED_TO))
		consider(t, path);
}

void tl_read_inotify(struct pl_tail *t)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (int reads = 0; reads < INOTIFY_READS_PER_TURN && !tl_stopping(t); reads++) {
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
