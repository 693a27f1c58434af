/* fuzz_container.c – libFuzzer harness for the container-format decoder (src/tail/container.c):
 * Docker json-file and CRI lines, partial-line joining per stream, auto detection, the
 * rotation flush, RFC 3339 times, config.v2.json and path metadata, and the JSON rendering of
 * what comes out. The first byte picks the format and the join cap; the rest is cut into
 * lines (lines.c) and fed in chunks it also sizes. */
#include <stdlib.h>
#include <string.h>
#include "pktlog/event.h"
#include "pktlog/tail.h"
#include "../../src/tail/render.h"

struct fz {
	struct pl_tail_cdec d;
	char *render;
	size_t render_cap;
	struct pl_tail_tpl tpl;
	uint32_t cap;
};

static void on_app(void *arg, const struct pl_tail_line *l)
{
	struct fz *z = arg;
	char ts[32];
	size_t tn = pl_format_time(1, ts), n;

	/* A decoded line has a stream and a time and never exceeds the cap. (Its end may lie before its start: a line of
	 * the other stream still being joined began earlier, and the delivered prefix stops
	 * there.) */
	if (l->stream && (!l->ts_ns || l->len > z->cap))
		abort();
	if (l->stream > PL_TAIL_STREAM_STDERR)
		abort();
	n = pl_tail_render_tpl(z->render, z->render_cap, ts, tn, l, false, &z->tpl);
	if (!n)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)z->render[i] < 0x20)
			abort();
}

static void on_line(void *arg, const struct pl_tail_line *l)
{
	struct fz *z = arg;

	if (pl_tail_cdec_line(&z->d, l, on_app, z) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pl_tail_meta meta;
	static struct pl_tail_meta_cache cache;
	struct pl_tail_lines ls;
	struct fz z;
	uint64_t off = 0, ns;
	size_t pos = 1;

	if (size < 2)
		return 0;
	memset(&z, 0, sizeof(z));
	z.cap = 16u + (data[0] >> 2) * 97u;
	pl_tail_cdec_init(&z.d, data[0] & 3, z.cap);
	z.render_cap = pl_tail_render_bound(size + z.cap, 4096);
	z.render = malloc(z.render_cap);
	z.tpl.cap = 65536;
	z.tpl.buf = malloc(z.tpl.cap);
	if (!z.render || !z.tpl.buf)
		abort();
	/* The metadata readers take any bytes as well. */
	memset(&meta, 0, sizeof(meta));
	pl_tail_docker_config((const char *)data + 1, size - 1, &meta);
	if (size < 512) {
		char path[1024];
		memcpy(path, data + 1, size - 1);
		path[size - 1] = '\0';
		pl_tail_meta_for(&cache, path, 1, &meta);
		(void)pl_tail_parse_time(path, size - 1, &ns);
	}
	if (pl_tail_tpl_build(&z.tpl, "/p", "h", NULL, &meta) < 0)
		abort();
	pl_tail_lines_init(&ls, z.cap + 6 * 64, false, 0);
	while (pos < size) {
		size_t n = 1 + data[pos] % 64;

		pos++;
		if (n > size - pos)
			n = size - pos;
		if (pl_tail_lines_feed(&ls, (const char *)data + pos, n, off, on_line, &z) < 0)
			abort();
		off += n;
		pos += n;
	}
	pl_tail_cdec_flush(&z.d, on_app, &z);
	if (pl_tail_cdec_pending_off(&z.d) != UINT64_MAX)
		abort();
	pl_tail_lines_free(&ls);
	pl_tail_cdec_free(&z.d);
	free(z.render);
	free(z.tpl.buf);
	return 0;
}
