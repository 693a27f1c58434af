/* fuzz_multiline.c – libFuzzer harness for the tailer's parsers: line splitting (split and
 * truncate), multiline joining (indent and pattern) and JSON rendering of what they emit.
 * The first byte picks the modes and the cap; the rest is fed in chunks it also sizes. */
#include <stdlib.h>
#include <string.h>
#include "pktlog/event.h"
#include "pktlog/tail.h"
#include "../../src/tail/render.h"

struct fz {
	struct pl_tail_ml ml;
	struct pl_tail_rec rec;
	uint64_t last_end;
	char *render, *render2;
	size_t render_cap;
	bool use_ml;
	struct pl_tail_tpl tpl;
};

static void render_check(struct fz *z, const struct pl_tail_line *l)
{
	size_t n = pl_tail_render(z->render, z->render_cap, 1, l, z->use_ml, "/p", "h", NULL);

	/* The buffer is sized by the bound: rendering must always fit. */
	if (!n)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)z->render[i] < 0x20)
			abort();
	/* The tailer's path (a template per file, the timestamp formatted once) writes the
	 * same bytes. */
	char ts[32];
	size_t tn = pl_format_time(1, ts);
	size_t n2 = pl_tail_render_tpl(z->render2, z->render_cap, ts, tn, l, z->use_ml, &z->tpl);
	if (n2 != n || memcmp(z->render, z->render2, n))
		abort();
}

static void on_record(void *arg, const struct pl_tail_line *l)
{
	render_check(arg, l);
}

static void on_line(void *arg, const struct pl_tail_line *l)
{
	struct fz *z = arg;

	/* Lines come in file order, each starting where the previous one ended. */
	if (l->off != z->last_end || l->end <= l->off || l->len > l->end - l->off)
		abort();
	z->last_end = l->end;
	if (z->use_ml)
		pl_tail_ml_add(&z->ml, &z->rec, l, 0, on_record, z);
	else
		render_check(z, l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pl_tail_lines ls;
	struct fz z = { 0 };
	uint32_t max;
	uint64_t off = 0;
	size_t pos = 1;
	char err[128];

	if (size < 2)
		return 0;
	max = 1 + (data[0] & 0x3f);
	z.use_ml = data[0] & 0x80;
	pl_tail_lines_init(&ls, max, data[0] & 0x40, 0);
	if (pl_tail_ml_init(&z.ml, (data[1] & 1) ? PL_TAIL_ML_PATTERN : PL_TAIL_ML_INDENT,
			    "^[A-Z]", 1 + (data[1] >> 4), max * 4, 1, err, sizeof(err)) != 0)
		abort();
	z.render_cap = pl_tail_render_bound(max * 4 + 8, 16);
	z.render = malloc(z.render_cap);
	z.render2 = malloc(z.render_cap);
	z.tpl.cap = 4096;
	z.tpl.buf = malloc(z.tpl.cap);
	if (pl_tail_tpl_build(&z.tpl, "/p", "h", NULL, NULL) != 0)
		abort();
	while (pos < size) {
		size_t chunk = 1 + data[pos] % 37;
		chunk = chunk > size - pos ? size - pos : chunk;
		pl_tail_lines_feed(&ls, (const char *)data + pos, chunk, off, on_line, &z);
		off += chunk;
		pos += chunk;
	}
	pl_tail_ml_flush(&z.rec, on_record, &z);
	pl_tail_rec_free(&z.rec);
	pl_tail_ml_free(&z.ml);
	pl_tail_lines_free(&ls);
	free(z.render);
	free(z.render2);
	free(z.tpl.buf);
	return 0;
}
