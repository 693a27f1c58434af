/* lines.c – cuts the bytes read from a file into lines, enforcing the line length cap
 * (split or truncate). Knows nothing of files, offsets storage or events; lines lying
 * wholly inside one read are handed out in place, only partial lines are copied. */
#include <stdlib.h>
#include <string.h>
#include "pktlog/tail.h"

void pl_tail_lines_init(struct pl_tail_lines *ls, uint32_t max_bytes, bool truncate, uint64_t off)
{
	memset(ls, 0, sizeof(*ls));
	ls->max_bytes = max_bytes ? max_bytes : 1;
	ls->truncate = truncate;
	ls->off = off;
}

void pl_tail_lines_free(struct pl_tail_lines *ls)
{
	free(ls->buf);
	ls->buf = NULL;
	ls->len = ls->cap = 0;
}

static int reserve(struct pl_tail_lines *ls, size_t need)
{
	size_t cap = ls->cap ? ls->cap : 4096;
	char *p;

	if (need <= ls->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > ls->max_bytes)
		cap = ls->max_bytes;
	p = realloc(ls->buf, cap);
	if (!p)
		return -1;
	ls->buf = p;
	ls->cap = cap;
	return 0;
}

static void emit_line(const char *p, size_t len, uint64_t off, uint64_t end, bool trunc,
		      bool split, bool ended, pl_tail_line_fn emit, void *arg)
{
	struct pl_tail_line l = { p, len, off, end, trunc, split, 0, 0, NULL };

	/* CRLF files: the CR belongs to the line ending, not the message. */
	if (ended && l.len && l.p[l.len - 1] == '\r')
		l.len--;
	emit(arg, &l);
}

/* Bytes without a newline yet: keep them, up to the cap. A full buffer is cut (split) or
 * its line marked for truncation only once a further byte proves the line is longer. */
static int keep_partial(struct pl_tail_lines *ls, const char *p, size_t n, uint64_t pos,
			pl_tail_line_fn emit, void *arg)
{
	while (n && !ls->skipping) {
		size_t take;

		if (ls->len == ls->max_bytes) {
			if (ls->truncate) {
				ls->skipping = true;
				return 0;
			}
			emit_line(ls->buf, ls->len, ls->off, ls->off + ls->len, false, true, false,
				  emit, arg);
			ls->len = 0;
			ls->pieces = true;
		}
		if (ls->len == 0)
			ls->off = pos;
		take = PL_MIN(ls->max_bytes - ls->len, n);
		if (reserve(ls, ls->len + take) < 0)
			return -1;
		memcpy(ls->buf + ls->len, p, take);
		ls->len += take;
		p += take;
		n -= take;
		pos += take;
	}
	return 0;
}

/* A newline at data[nl] ends the line that began in the partial buffer. */
static int finish_partial(struct pl_tail_lines *ls, const char *data, size_t nl, uint64_t off,
			  pl_tail_line_fn emit, void *arg)
{
	if (keep_partial(ls, data, nl, off, emit, arg) < 0)
		return -1;
	emit_line(ls->buf, ls->len, ls->off, off + nl + 1, ls->skipping, ls->pieces, true, emit, arg);
	ls->len = 0;
	ls->skipping = false;
	ls->pieces = false;
	return 0;
}

int pl_tail_lines_feed(struct pl_tail_lines *ls, const char *data, size_t len, uint64_t off,
		       pl_tail_line_fn emit, void *arg)
{
	size_t pos = 0;

	if (ls->len || ls->skipping) {
		const char *nl = memchr(data, '\n', len);
		if (!nl)
			return keep_partial(ls, data, len, off, emit, arg);
		pos = (size_t)(nl - data);
		if (finish_partial(ls, data, pos, off, emit, arg) < 0)
			return -1;
		pos++;
	}
	while (pos < len) {
		const char *start = data + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n;

		if (!nl)
			return keep_partial(ls, start, len - pos, off + pos, emit, arg);
		n = (size_t)(nl - start);
		if (n > ls->max_bytes) {
			/* Too long even in place: treat it as a partial line that just ended. */
			if (finish_partial(ls, start, n, off + pos, emit, arg) < 0)
				return -1;
		} else {
			emit_line(start, n, off + pos, off + pos + n + 1, false, false, true, emit, arg);
		}
		pos += n + 1;
	}
	return 0;
}
