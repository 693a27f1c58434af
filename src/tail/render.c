/* render.c – one tailed record as one JSON line (ECS names as Filebeat writes them).
 * Bytes from files are untrusted: control bytes are escaped and invalid UTF-8 becomes
 * U+FFFD, so the output is always valid JSON. Must not allocate. The tailer's hot path
 * (pl_tail_render_tpl) renders a file's unchanging parts once and only the message per line;
 * pl_tail_render is the same output in one call. */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "pktlog/event.h"
#include "pktlog/tail.h"
#include "render.h"

struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF are not text. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool plain(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\' && c < 0x80;
}

/* How many bytes from p on need no escaping (printable ASCII other than '"' and '\\'):
 * 16 at a time with SSE2 (a signed compare below 0x20 also catches bytes >= 0x80), then 8 at
 * a time (SWAR: x - 0x01.. sets a byte's top bit where x had a zero byte), then one by one. */
static size_t plain_run(const unsigned char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	size_t i = 0;

#ifdef __SSE2__
	const __m128i quote16 = _mm_set1_epi8('"'), bslash16 = _mm_set1_epi8('\\');
	const __m128i space16 = _mm_set1_epi8(0x20);

	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote16),
							_mm_cmpeq_epi8(x, bslash16)),
					   _mm_cmplt_epi8(x, space16));
		unsigned m = (unsigned)_mm_movemask_epi8(bad);

		if (m)
			return i + (size_t)__builtin_ctz(m);
	}
#endif
	for (; i + 8 <= n; i += 8) {
		uint64_t x, quote, bslash;

		memcpy(&x, p + i, 8);
		quote = x ^ (ones * '"');
		bslash = x ^ (ones * '\\');
		if ((x | ((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) |
		     ((bslash - ones) & ~bslash)) & high)
			break;
	}
	while (i < n && plain(p[i]))
		i++;
	return i;
}

static void put_escaped(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	if (!n) /* an empty record may have no buffer at all */
		return;
	for (;;) {
		size_t run = plain_run(p + i, n - i), k;
		unsigned char c;

		put(o, s + i, run);
		i += run;
		if (i == n)
			return;
		c = p[i];
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(o, e, 2);
			i++;
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			if (c == '\n')
				put(o, "\\n", 2);
			else if (c == '\t')
				put(o, "\\t", 2);
			else if (c == '\r')
				put(o, "\\r", 2);
			else
				put(o, e, 6);
			i++;
		} else if ((k = utf8_seq(p + i, n - i)) > 0) {
			put(o, s + i, k);
			i += k;
		} else {
			put(o, "\xef\xbf\xbd", 3); /* U+FFFD for each bad byte */
			i++;
		}
	}
}

static void kv_str(struct out *o, const char *key, const char *s, size_t n)
{
	puts_(o, key);
	put(o, "\"", 1);
	put_escaped(o, s, n);
	put(o, "\"", 1);
}

static void put_u64(struct out *o, uint64_t v)
{
	char b[24];
	size_t i = sizeof(b);

	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, b + i, sizeof(b) - i);
}

static void flags(struct out *o, const struct pl_tail_line *rec, bool multiline)
{
	bool first = true;

	if (!rec->truncated && !rec->split && !multiline)
		return;
	puts_(o, ",\"flags\":[");
	if (multiline) {
		puts_(o, "\"multiline\"");
		first = false;
	}
	if (rec->truncated) {
		puts_(o, first ? "\"truncated\"" : ",\"truncated\"");
		first = false;
	}
	if (rec->split)
		puts_(o, first ? "\"split\"" : ",\"split\"");
	put(o, "]", 1);
}

/* `","log":{"file":{"path":"…"},"offset":` */
static void put_mid(struct out *o, const char *path)
{
	puts_(o, "\",\"log\":{\"file\":{\"path\":\"");
	put_escaped(o, path, strlen(path));
	puts_(o, "\"},\"offset\":");
}

/* What follows the flags: `},"host":{…},"input":{…},"fields":{…}}` */
static void put_end(struct out *o, const char *host_name, const struct pl_tail_fields *fields)
{
	int i;

	put(o, "}", 1);
	if (host_name)
		kv_str(o, ",\"host\":{\"name\":", host_name, strlen(host_name));
	if (host_name)
		put(o, "}", 1);
	puts_(o, ",\"input\":{\"type\":\"log\"}");
	if (fields && fields->n) {
		puts_(o, ",\"fields\":{");
		for (i = 0; i < fields->n; i++) {
			if (i)
				put(o, ",", 1);
			kv_str(o, "", fields->keys[i], strlen(fields->keys[i]));
			kv_str(o, ":", fields->values[i], strlen(fields->values[i]));
		}
		put(o, "}", 1);
	}
	put(o, "}", 1);
}

/* `{"@timestamp":"…","message":"…` */
static void put_head(struct out *o, const char *ts, size_t ts_len, const struct pl_tail_line *rec)
{
	puts_(o, "{\"@timestamp\":\"");
	put(o, ts, ts_len);
	puts_(o, "\",\"message\":\"");
	put_escaped(o, rec->p, rec->len);
}

size_t pl_tail_render(char *buf, size_t cap, uint64_t now_ns, const struct pl_tail_line *rec,
		      bool multiline, const char *path, const char *host_name,
		      const struct pl_tail_fields *fields)
{
	struct out o = { buf, 0, cap, false };
	char ts[32];
	size_t n = pl_format_time(now_ns, ts);

	put_head(&o, ts, n, rec);
	put_mid(&o, path);
	put_u64(&o, rec->off);
	flags(&o, rec, multiline);
	put_end(&o, host_name, fields);
	return o.full ? 0 : o.len;
}

size_t pl_tail_tpl_bound(const char *path, const char *host_name, const struct pl_tail_fields *fields)
{
	size_t n = strlen(path) + (host_name ? strlen(host_name) : 0);

	for (int i = 0; fields && i < fields->n; i++)
		n += strlen(fields->keys[i]) + strlen(fields->values[i]) + 8;
	return pl_tail_render_bound(n, 0);
}

int pl_tail_tpl_build(struct pl_tail_tpl *tpl, const char *path, const char *host_name,
		      const struct pl_tail_fields *fields)
{
	struct out o = { tpl->buf, 0, tpl->cap, false };

	put_mid(&o, path);
	tpl->mid_len = o.len;
	put_end(&o, host_name, fields);
	tpl->end_len = o.len - tpl->mid_len;
	return o.full ? -1 : 0;
}

size_t pl_tail_render_tpl(char *buf, size_t cap, const char *ts, size_t ts_len,
			  const struct pl_tail_line *rec, bool multiline, const struct pl_tail_tpl *tpl)
{
	struct out o = { buf, 0, cap, false };

	put_head(&o, ts, ts_len, rec);
	put(&o, tpl->buf, tpl->mid_len);
	put_u64(&o, rec->off);
	flags(&o, rec, multiline);
	put(&o, tpl->buf + tpl->mid_len, tpl->end_len);
	return o.full ? 0 : o.len;
}

size_t pl_tail_render_bound(size_t n, size_t extra)
{
	/* \u00XX is the longest escape: 6 bytes per input byte. */
	return 6 * n + 6 * extra + 512;
}
