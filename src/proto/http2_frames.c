/* http2_frames.c – HTTP/2 framing of one connection's two byte streams: the client preface,
 * the 9-byte frame header, padding, priority and promise prefixes, SETTINGS (max frame size,
 * header table size applied when the peer acknowledges), RST_STREAM, GOAWAY, and header
 * blocks (HEADERS + CONTINUATION, PUSH_PROMISE) inflated by libnghttp2's HPACK decoder, one
 * per direction. Reports stream events to http2.c. After a gap inside a frame whose length is
 * known the framing goes on; a gap across a frame boundary loses the direction. A gap in a
 * header block (or a lost SETTINGS) ends HPACK for good: the dynamic table cannot be rebuilt.
 * Must not: build events, allocate per frame. */
#include <string.h>
#include "http2_int.h"

static const uint8_t preface[24] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

bool pl_http2_is_preface(const uint8_t *p, size_t n)
{
	return memcmp(p, preface, PL_MIN(n, sizeof(preface))) == 0;
}

bool h2_preface_match(size_t off, const uint8_t *p, size_t n)
{
	return off + n <= sizeof(preface) && memcmp(p, preface + off, n) == 0;
}

static uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int h2_frames_init(struct pl_http2 *h, bool upgraded)
{
	(void)upgraded;
	for (int i = 0; i < 2; i++) {
		h->d[i].max_frame = H2_DEFAULT_FRAME;
		if (nghttp2_hd_inflate_new(&h->d[i].inf) != 0) {
			h2_frames_free(h);
			return -1;
		}
	}
	/* the server speaks first after the preface only; the client must send the preface */
	h->d[PL_DIR_TO_CLIENT].preface_have = sizeof(preface);
	return 0;
}

void h2_frames_free(struct pl_http2 *h)
{
	for (int i = 0; i < 2; i++) {
		if (h->d[i].inf)
			nghttp2_hd_inflate_del(h->d[i].inf);
		h->d[i].inf = NULL;
	}
}

/* The direction cannot be read any more (gap across frames, parse error). */
static void dir_lost(struct pl_http2 *h, int dir, bool parse_error)
{
	struct h2_dir *d = &h->d[dir];

	if (d->dead)
		return;
	d->dead = true;
	d->hpack_dead = true;
	if (parse_error)
		h->env->stats->http2_parse_errors++;
	h2_dir_lost(h, dir);
}

/* HPACK cannot be trusted any more in dir; the open block's stream is told. */
static void hpack_lost(struct pl_http2 *h, int dir)
{
	struct h2_dir *d = &h->d[dir];

	if (!d->hpack_dead)
		h->env->stats->http2_hpack_lost++;
	d->hpack_dead = true;
	d->block_inflate = false;
}

static void inflate(struct pl_http2 *h, int dir, const uint8_t *p, size_t n, bool final)
{
	struct h2_dir *d = &h->d[dir];
	struct h2_stream *s = d->block_inflate ? h2_stream_find(h, d->block_sid) : NULL;

	if (!d->block_inflate || d->hpack_dead)
		return;
	for (;;) {
		nghttp2_nv nv;
		int flags = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(d->inf, &nv, &flags, p, n, final);

		if (rv < 0) {
			h->env->stats->http2_parse_errors++;
			h2_stream_note(h, d->block_sid, dir, H2N_HPACK);
			hpack_lost(h, dir);
			return;
		}
		p += rv;
		n -= (size_t)rv;
		if ((flags & NGHTTP2_HD_INFLATE_EMIT) && s)
			h2_block_field(h, s, dir, nv.name, nv.namelen, nv.value, nv.valuelen);
		if (flags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(d->inf);
			return;
		}
		if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && n == 0)
			return;
	}
}

/* A header block starts (HEADERS, or PUSH_PROMISE once its promised id is known). */
static void block_begin(struct pl_http2 *h, int dir, uint32_t sid, bool promised)
{
	struct h2_dir *d = &h->d[dir];

	d->block_sid = sid;
	d->in_block = true;
	d->block_inflate = !d->hpack_dead;
	h2_block_begin(h, dir, sid, promised, d->frame_ts);
	if (d->hpack_dead)
		h2_stream_note(h, sid, dir, H2N_HPACK);
}

static void block_end(struct pl_http2 *h, int dir)
{
	struct h2_dir *d = &h->d[dir];
	struct h2_stream *s;
	bool readable = d->block_inflate && !d->hpack_dead;

	if (readable)
		inflate(h, dir, (const uint8_t *)"", 0, true);
	readable = readable && !d->hpack_dead;
	d->in_block = false;
	d->block_inflate = false;
	s = h2_stream_find(h, d->block_sid);
	if (s)
		h2_block_end(h, s, dir, d->block_end_stream, readable);
}

static void settings_entry(struct pl_http2 *h, int dir, const uint8_t *e)
{
	uint16_t id = (uint16_t)(e[0] << 8 | e[1]);
	uint32_t v = be32(e + 2);
	struct h2_dir *peer = &h->d[!dir];   /* the direction the setting governs */

	if (id == NGHTTP2_SETTINGS_HEADER_TABLE_SIZE) {
		peer->table_pending = v;
		peer->has_table_pending = true;
	} else if (id == NGHTTP2_SETTINGS_MAX_FRAME_SIZE && v >= H2_DEFAULT_FRAME &&
		   v <= 0xffffffu) {
		/* lenient: a frame sent before the peer saw the setting is still accepted */
		peer->max_frame = PL_MAX(peer->max_frame, v);
	}
}

/* SETTINGS ACK in dir: the settings dir's receiver advertised now bind dir's encoder. */
static void settings_ack(struct pl_http2 *h, int dir)
{
	struct h2_dir *d = &h->d[dir];

	if (!d->has_table_pending)
		return;
	d->has_table_pending = false;
	if (!d->hpack_dead && nghttp2_hd_inflate_change_table_size(d->inf, d->table_pending) != 0)
		hpack_lost(h, dir);
}

static void frame_begin(struct pl_http2 *h, int dir, uint64_t ts)
{
	struct h2_dir *d = &h->d[dir];

	d->len = be24(d->hdr);
	d->type = d->hdr[3];
	d->flags = d->hdr[4];
	d->sid = be32(d->hdr + 5) & 0x7fffffffu;
	d->pos = 0;
	d->pad = 0;
	d->pfx_have = 0;
	d->pfx_need = 0;
	d->nctl = 0;
	d->frame_ts = ts;
	h->env->stats->http2_frames++;
	if (d->len > d->max_frame || (d->in_block && d->type != H2_CONTINUATION) ||
	    (!d->first_frame_done && d->type != H2_SETTINGS)) {
		dir_lost(h, dir, true);
		return;
	}
	d->first_frame_done = true;
	if (d->type == H2_DATA || d->type == H2_HEADERS || d->type == H2_PUSH_PROMISE) {
		uint32_t need = (d->flags & H2F_PADDED ? 1u : 0u) +
				(d->type == H2_HEADERS && (d->flags & H2F_PRIORITY) ? 5u : 0u) +
				(d->type == H2_PUSH_PROMISE ? 4u : 0u);

		if (need > d->len) {
			dir_lost(h, dir, true);
			return;
		}
	}
	switch (d->type) {
	case H2_DATA:
		d->pfx_need = d->flags & H2F_PADDED ? 1 : 0;
		h2_stream_bytes(h, d->sid, dir, 9, ts);
		break;
	case H2_HEADERS:
		d->pfx_need = (d->flags & H2F_PADDED ? 1 : 0) + (d->flags & H2F_PRIORITY ? 5 : 0);
		d->block_end_stream = d->flags & H2F_END_STREAM;
		block_begin(h, dir, d->sid, false);
		h2_stream_bytes(h, d->sid, dir, 9, ts);
		break;
	case H2_PUSH_PROMISE:
		d->pfx_need = (d->flags & H2F_PADDED ? 1 : 0) + 4;
		d->block_end_stream = false;
		break;
	case H2_CONTINUATION:
		if (!d->in_block || d->sid != d->block_sid) {
			dir_lost(h, dir, true);
			return;
		}
		h2_stream_bytes(h, d->sid, dir, 9, ts);
		break;
	default:
		break;
	}
}

/* The prefix (pad length, priority, promised id) has been read. */
static void prefix_done(struct pl_http2 *h, int dir)
{
	struct h2_dir *d = &h->d[dir];

	d->pad = d->flags & H2F_PADDED ? d->pfx[0] : 0;
	if ((uint32_t)d->pad + d->pfx_need > d->len) {
		dir_lost(h, dir, true);
		return;
	}
	if (d->type == H2_PUSH_PROMISE) {
		uint32_t promised = be32(d->pfx + d->pfx_need - 4) & 0x7fffffffu;

		block_begin(h, dir, promised, true);
	}
}

/* Payload bytes that are neither prefix nor padding. */
static void content(struct pl_http2 *h, int dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &h->d[dir];

	switch (d->type) {
	case H2_DATA:
		h2_stream_data(h, d->sid, dir, p, n);
		return;
	case H2_HEADERS:
	case H2_CONTINUATION:
	case H2_PUSH_PROMISE:
		inflate(h, dir, p, n, false);
		return;
	case H2_SETTINGS:
		while (n) {
			size_t k = PL_MIN(n, (size_t)(6 - d->nctl));

			memcpy(d->ctl + d->nctl, p, k);
			d->nctl = (uint8_t)(d->nctl + k);
			p += k;
			n -= k;
			if (d->nctl == 6) {
				settings_entry(h, dir, d->ctl);
				d->nctl = 0;
			}
		}
		return;
	default: {
		size_t k = PL_MIN(n, sizeof(d->ctl) - d->nctl);

		memcpy(d->ctl + d->nctl, p, k);
		d->nctl = (uint8_t)(d->nctl + k);
		return;
	}
	}
}

static void frame_end(struct pl_http2 *h, int dir, uint64_t ts)
{
	struct h2_dir *d = &h->d[dir];

	switch (d->type) {
	case H2_DATA:
		if (d->flags & H2F_END_STREAM)
			h2_stream_end(h, d->sid, dir, ts);
		break;
	case H2_HEADERS:
	case H2_CONTINUATION:
	case H2_PUSH_PROMISE:
		if (d->flags & H2F_END_HEADERS)
			block_end(h, dir);
		break;
	case H2_SETTINGS:
		if (d->flags & H2F_ACK)
			settings_ack(h, dir);
		break;
	case H2_RST_STREAM:
		if (d->nctl >= 4)
			h2_stream_reset(h, d->sid, dir, be32(d->ctl), ts);
		break;
	case H2_GOAWAY:
		if (d->nctl >= 8)
			h2_goaway(h, dir, be32(d->ctl) & 0x7fffffffu, be32(d->ctl + 4));
		break;
	default:
		break;
	}
	d->nhdr = 0;
}

/* n payload bytes of the current frame (n <= len - pos). */
static void payload(struct pl_http2 *h, int dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &h->d[dir];

	/* a message's bytes: its HEADERS, CONTINUATION and DATA frames (as nginx's $bytes_sent) */
	if (d->type == H2_DATA || d->type == H2_HEADERS || d->type == H2_CONTINUATION)
		h2_stream_bytes(h, d->sid, dir, n, d->frame_ts);
	while (n && !d->dead) {
		if (d->pfx_have < d->pfx_need) {
			size_t k = PL_MIN(n, (size_t)(d->pfx_need - d->pfx_have));

			memcpy(d->pfx + d->pfx_have, p, k);
			d->pfx_have = (uint8_t)(d->pfx_have + k);
			d->pos += (uint32_t)k;
			p += k;
			n -= k;
			if (d->pfx_have == d->pfx_need)
				prefix_done(h, dir);
			continue;
		}
		uint32_t cend = d->len - d->pad;
		size_t k = d->pos < cend ? PL_MIN(n, (size_t)(cend - d->pos)) : n;

		if (d->pos < cend)
			content(h, dir, p, k);
		d->pos += (uint32_t)k;
		p += k;
		n -= k;
	}
}

void h2_frames_data(struct pl_http2 *h, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct h2_dir *d = &h->d[dir];

	while (n && !d->dead) {
		if (d->preface_have < sizeof(preface)) {
			size_t k = PL_MIN(n, sizeof(preface) - d->preface_have);

			if (memcmp(p, preface + d->preface_have, k) != 0) {
				dir_lost(h, dir, true);
				return;
			}
			d->preface_have = (uint8_t)(d->preface_have + k);
			p += k;
			n -= k;
			continue;
		}
		if (d->nhdr < 9) {
			size_t k = PL_MIN(n, (size_t)(9 - d->nhdr));

			memcpy(d->hdr + d->nhdr, p, k);
			d->nhdr = (uint8_t)(d->nhdr + k);
			p += k;
			n -= k;
			if (d->nhdr < 9)
				break;
			frame_begin(h, dir, ts);
		} else {
			size_t k = PL_MIN(n, (size_t)(d->len - d->pos));

			payload(h, dir, p, k);
			p += k;
			n -= k;
		}
		if (!d->dead && d->nhdr == 9 && d->pos == d->len && d->pfx_have >= d->pfx_need)
			frame_end(h, dir, ts);
	}
}

/* A gap inside the current frame's payload: the framing survives. */
static void gap_in_frame(struct pl_http2 *h, int dir, uint32_t len)
{
	struct h2_dir *d = &h->d[dir];

	if (d->sid)
		h2_stream_note(h, d->sid, dir, H2N_LOSS);
	switch (d->type) {
	case H2_DATA:
		/* the padding is unknown when the pad length byte was lost: count it as data */
		if (d->pfx_have < d->pfx_need)
			d->pfx_have = d->pfx_need;
		h2_stream_bytes(h, d->sid, dir, len, d->frame_ts);
		h2_stream_data_lost(h, d->sid, dir, PL_MIN((uint64_t)len,
			d->pos < d->len - d->pad ? (uint64_t)(d->len - d->pad - d->pos) : 0));
		break;
	case H2_HEADERS:
	case H2_CONTINUATION:
	case H2_PUSH_PROMISE:
		if (d->in_block)
			h2_stream_note(h, d->block_sid, dir, H2N_HPACK);
		h2_stream_bytes(h, d->sid, dir, len, d->frame_ts);
		hpack_lost(h, dir);
		d->pfx_have = d->pfx_need;
		break;
	case H2_SETTINGS:
		/* a lost HEADER_TABLE_SIZE would desynchronise the other direction's HPACK */
		hpack_lost(h, !dir);
		break;
	default:
		d->nctl = 0;
		d->pfx_have = d->pfx_need;
		break;
	}
	d->pos += len;
}

void h2_frames_gap(struct pl_http2 *h, int dir, uint64_t len, uint64_t ts)
{
	struct h2_dir *d = &h->d[dir];

	if (d->dead || !len)
		return;
	h->env->stats->http2_gaps++;
	if (d->preface_have < sizeof(preface) || d->nhdr < 9 || len > d->len - d->pos) {
		dir_lost(h, dir, false);
		return;
	}
	gap_in_frame(h, dir, (uint32_t)len);
	if (d->pos == d->len)
		frame_end(h, dir, ts);
}
