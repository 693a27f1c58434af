/* multiline.c – joins lines into records: a start pattern, or continuation lines that begin
 * with whitespace (Java stack traces), bounded by a line count, a byte cap and a timeout.
 * Works on lines handed in by lines.c; must not read files or render events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pktlog/tail.h"

int pl_tail_ml_init(struct pl_tail_ml *ml, enum pl_tail_ml_mode mode, const char *pattern,
		    uint32_t max_lines, uint32_t max_bytes, uint64_t timeout_ns,
		    char *err, size_t errlen)
{
	memset(ml, 0, sizeof(*ml));
	ml->mode = mode;
	ml->max_lines = max_lines ? max_lines : 1;
	ml->max_bytes = max_bytes ? max_bytes : 1;
	ml->timeout_ns = timeout_ns;
	if (mode == PL_TAIL_ML_PATTERN) {
		int rc = regcomp(&ml->start, pattern ? pattern : "", REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char msg[128];
			regerror(rc, &ml->start, msg, sizeof(msg));
			snprintf(err, errlen, "multiline.start_pattern: %s", msg);
			return -1;
		}
		ml->have_re = true;
	}
	return 0;
}

void pl_tail_ml_free(struct pl_tail_ml *ml)
{
	if (ml->have_re)
		regfree(&ml->start);
	free(ml->scratch);
	memset(ml, 0, sizeof(*ml));
}

void pl_tail_rec_free(struct pl_tail_rec *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* regexec wants a C string; lines are not terminated and may hold NULs (which then end
 * the text the pattern sees, harmlessly). */
static bool matches_start(struct pl_tail_ml *ml, const struct pl_tail_line *l)
{
	if (l->len + 1 > ml->scratch_cap) {
		size_t cap = ml->scratch_cap ? ml->scratch_cap : 256;
		char *p;

		while (cap < l->len + 1)
			cap *= 2;
		p = realloc(ml->scratch, cap);
		if (!p)
			return true; /* cannot test: start a record rather than lose the line */
		ml->scratch = p;
		ml->scratch_cap = cap;
	}
	memcpy(ml->scratch, l->p, l->len);
	ml->scratch[l->len] = '\0';
	return regexec(&ml->start, ml->scratch, 0, NULL, 0) == 0;
}

static bool is_continuation(struct pl_tail_ml *ml, const struct pl_tail_line *l)
{
	if (ml->mode == PL_TAIL_ML_INDENT)
		return l->len > 0 && (l->p[0] == ' ' || l->p[0] == '\t');
	if (ml->mode == PL_TAIL_ML_PATTERN)
		return !matches_start(ml, l);
	return false;
}

void pl_tail_ml_flush(struct pl_tail_rec *r, pl_tail_line_fn emit, void *arg)
{
	struct pl_tail_line out;

	if (!r->lines)
		return;
	out = (struct pl_tail_line){ r->buf, r->len, r->off, r->end, r->truncated, false,
				     r->ts_ns, r->stream, r->error };
	r->lines = 0;
	r->len = 0;
	r->truncated = false;
	emit(arg, &out);
}

static int append(struct pl_tail_ml *ml, struct pl_tail_rec *r, const char *p, size_t n)
{
	size_t room = ml->max_bytes - r->len;

	if (n > room) {
		n = room;
		r->truncated = true;
	}
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 1024;
		char *b;

		while (cap < r->len + n)
			cap *= 2;
		cap = PL_MIN(cap, (size_t)ml->max_bytes);
		b = realloc(r->buf, cap);
		if (!b)
			return -1;
		r->buf = b;
		r->cap = cap;
	}
	if (n)
		memcpy(r->buf + r->len, p, n);
	r->len += n;
	return 0;
}

int pl_tail_ml_add(struct pl_tail_ml *ml, struct pl_tail_rec *r, const struct pl_tail_line *line,
		   uint64_t now_ns, pl_tail_line_fn emit, void *arg)
{
	bool cont = r->lines && r->lines < ml->max_lines && is_continuation(ml, line);

	if (!cont)
		pl_tail_ml_flush(r, emit, arg);
	if (r->lines && append(ml, r, "\n", 1) < 0)
		return -1;
	if (append(ml, r, line->p, line->len) < 0)
		return -1;
	if (!r->lines) {
		r->off = line->off;
		r->ts_ns = line->ts_ns;
		r->stream = line->stream;
		r->error = line->error;
	}
	r->end = line->end;
	r->truncated |= line->truncated;
	r->lines++;
	r->last_ns = now_ns;
	return 0;
}

bool pl_tail_ml_expired(const struct pl_tail_ml *ml, const struct pl_tail_rec *r, uint64_t now_ns)
{
	return r->lines && now_ns - r->last_ns >= ml->timeout_ns;
}
