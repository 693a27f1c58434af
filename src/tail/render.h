/* render.h – the tailer's fast rendering path (internal to src/tail/).
 *
 * Everything of a tailed event but @timestamp, message, log.offset and the flags is the same
 * for every line of a file: pl_tail_tpl_build renders it once (escaped), and
 * pl_tail_render_tpl then only escapes the message and writes the offset. The bytes are
 * exactly those pl_tail_render writes. Neither allocates. */
#ifndef PKTLOG_TAIL_RENDER_H
#define PKTLOG_TAIL_RENDER_H

#include "pktlog/tail.h"

struct pl_tail_tpl {
	char *buf;                    /* caller's buffer: the middle part, then the end part */
	size_t cap;
	size_t mid_len;               /* `,"log":{"file":{"path":"…"},"offset":` */
	size_t end_len;               /* `},"host":…,"input":…,container/kubernetes,"fields":{…}}` */
};

/* Render the parts that do not change into tpl->buf; returns 0, or -1 when it does not fit. */
int pl_tail_tpl_build(struct pl_tail_tpl *tpl, const char *path, const char *host_name,
		      const struct pl_tail_fields *fields, const struct pl_tail_meta *meta);

/* One record with a prepared template and a formatted timestamp (pl_format_time). Returns the
 * length, or 0 when buf is too small. */
size_t pl_tail_render_tpl(char *buf, size_t cap, const char *ts, size_t ts_len,
			  const struct pl_tail_line *rec, bool multiline, const struct pl_tail_tpl *tpl);

#endif
