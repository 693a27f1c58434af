/* http2_grpc.c – gRPC over an HTTP/2 stream: the 5-byte length-prefixed message framing of
 * each direction's DATA (messages counted), and the rpc fields of the event (service and
 * method from :path, grpc-status and grpc-message, percent-decoded, from the trailers).
 * Must not: keep message bytes, allocate. */
#include <string.h>
#include "http2_int.h"

void h2_grpc_data(struct h2_msg *m, const uint8_t *p, size_t n)
{
	while (n && !(m->notes & H2N_GRPC_LOST)) {
		if (m->g_left) {
			size_t k = PL_MIN(n, (size_t)m->g_left);

			m->g_left -= (uint32_t)k;
			p += k;
			n -= k;
			continue;
		}
		m->g_pfx[m->g_have++] = *p++;
		n--;
		if (m->g_have < 5)
			continue;
		/* compressed flag 0 or 1, then a 32-bit big-endian length */
		if (m->g_pfx[0] > 1) {
			m->notes |= H2N_GRPC_LOST;
			return;
		}
		m->g_left = (uint32_t)m->g_pfx[1] << 24 | (uint32_t)m->g_pfx[2] << 16 |
			    (uint32_t)m->g_pfx[3] << 8 | m->g_pfx[4];
		m->g_have = 0;
		m->g_count++;
	}
}

/* n DATA bytes lost: the count survives only when they lay inside one message. */
void h2_grpc_lost(struct h2_msg *m, uint64_t n)
{
	if (m->g_have == 0 && n <= m->g_left) {
		m->g_left -= (uint32_t)n;
		return;
	}
	m->notes |= H2N_GRPC_LOST;
}

static struct pl_str span_str(const struct h2_stream *s, struct h2_span sp)
{
	return sp.len ? (struct pl_str){ s->buf + sp.off, sp.len } : (struct pl_str){ "", 0 };
}

/* "/pkg.Service/Method" → service "pkg.Service", method "Method". */
static void split_path(struct pl_str path, struct pl_event_http2 *x)
{
	const char *slash;

	if (path.len < 2 || path.p[0] != '/')
		return;
	slash = memrchr(path.p + 1, '/', path.len - 1);
	if (!slash)
		return;
	x->rpc_service = (struct pl_str){ path.p + 1, (size_t)(slash - path.p - 1) };
	x->rpc_method = (struct pl_str){ slash + 1, (size_t)(path.p + path.len - slash - 1) };
}

static bool parse_status(struct pl_str v, uint32_t *out)
{
	uint32_t n = 0;

	if (!v.len || v.len > 9)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return false;
		n = n * 10 + (uint32_t)(v.p[i] - '0');
	}
	*out = n;
	return true;
}

/* The byte "%XX" at p[0..3) stands for, or -1 when p is not such a triplet. */
static int pct_byte(const uint8_t *p, size_t left)
{
	int hi, lo;

	if (left < 3 || p[0] != '%' || (hi = pl_hex_digit(p[1])) < 0 ||
	    (lo = pl_hex_digit(p[2])) < 0)
		return -1;
	return hi << 4 | lo;
}

/* Bytes of the UTF-8 character whose percent-encoded bytes start at p (1 to 4, written to
 * out), or 0 when they are not one valid character (overlong, surrogate, cut, > U+10FFFF). */
static size_t pct_char(const uint8_t *p, size_t left, uint8_t out[4])
{
	int c = pct_byte(p, left);
	size_t len;
	uint32_t min, cp;

	if (c < 0)
		return 0;
	out[0] = (uint8_t)c;
	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	if (c < 0xe0) { len = 2; min = 0x80; cp = (uint32_t)c & 0x1f; }
	else if (c < 0xf0) { len = 3; min = 0x800; cp = (uint32_t)c & 0x0f; }
	else { len = 4; min = 0x10000; cp = (uint32_t)c & 0x07; }
	for (size_t i = 1; i < len; i++) {
		int k = left >= 3 * (i + 1) ? pct_byte(p + 3 * i, 3) : -1;

		if (k < 0x80 || k > 0xbf)
			return 0;
		out[i] = (uint8_t)k;
		cp = cp << 6 | ((uint32_t)k & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* grpc-message is percent-encoded UTF-8 (gRPC's PROTOCOL-HTTP2.md): decoded in place (the
 * text only shrinks); a '%' that does not start a valid encoded character stays as sent. */
static size_t pct_decode(uint8_t *b, size_t n)
{
	size_t i = 0, o = 0;

	while (i < n) {
		uint8_t ch[4];
		size_t k = b[i] == '%' ? pct_char(b + i, n - i, ch) : 0;

		if (!k) {
			b[o++] = b[i++];
			continue;
		}
		memcpy(b + o, ch, k);
		o += k;
		i += 3 * k;
	}
	return o;
}

void h2_grpc_fill(struct h2_stream *s, struct pl_event_http2 *x)
{
	const struct h2_msg *rs = &s->m[1];

	x->grpc = true;
	split_path(span_str(s, s->m[0].path), x);
	x->has_grpc_status = parse_status(span_str(s, rs->grpc_status), &x->grpc_status);
	if (rs->grpc_message.len)
		x->grpc_message = (struct pl_str){ s->buf + rs->grpc_message.off,
			pct_decode((uint8_t *)s->buf + rs->grpc_message.off, rs->grpc_message.len) };
	for (int d = 0; d < 2; d++) {
		const struct h2_msg *m = &s->m[d];

		/* a message cut by the stream's end was not whole: still counted as begun */
		x->has_messages[d] = !(m->notes & H2N_GRPC_LOST) && !(m->notes & H2N_FRAMING);
		x->messages[d] = m->g_count;
	}
}
