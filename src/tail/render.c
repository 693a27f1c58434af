/* render.c – one tailed record as one JSON line (ECS names as Filebeat writes them).
 * Bytes from files are untrusted: control bytes are escaped and invalid UTF-8 becomes
 * U+FFFD, so the output is always valid JSON. Must not allocate. */
#include <string.h>
#include "pktlog/event.h"
#include "pktlog/tail.h"

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

static void put_escaped(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	if (!n) /* an empty record may have no buffer at all */
		return;
	while (i < n) {
		unsigned char c = p[i];
		size_t k;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			run++;
			i++;
			continue;
		}
		put(o, s + i - run, run);
		run = 0;
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
	put(o, s + i - run, run);
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

size_t pl_tail_render(char *buf, size_t cap, uint64_t now_ns, const struct pl_tail_line *rec,
		      bool multiline, const char *path, const char *host_name,
		      const struct pl_tail_fields *fields)
{
	struct out o = { buf, 0, cap, false };
	char ts[32];
	size_t n = pl_format_time(now_ns, ts);
	int i;

	puts_(&o, "{\"@timestamp\":\"");
	put(&o, ts, n);
	put(&o, "\"", 1);
	kv_str(&o, ",\"message\":", rec->p, rec->len);
	kv_str(&o, ",\"log\":{\"file\":{\"path\":", path, strlen(path));
	puts_(&o, "},\"offset\":");
	put_u64(&o, rec->off);
	flags(&o, rec, multiline);
	put(&o, "}", 1);
	if (host_name)
		kv_str(&o, ",\"host\":{\"name\":", host_name, strlen(host_name));
	if (host_name)
		put(&o, "}", 1);
	puts_(&o, ",\"input\":{\"type\":\"log\"}");
	if (fields && fields->n) {
		puts_(&o, ",\"fields\":{");
		for (i = 0; i < fields->n; i++) {
			if (i)
				put(&o, ",", 1);
			kv_str(&o, "", fields->keys[i], strlen(fields->keys[i]));
			kv_str(&o, ":", fields->values[i], strlen(fields->values[i]));
		}
		put(&o, "}", 1);
	}
	put(&o, "}", 1);
	return o.full ? 0 : o.len;
}

size_t pl_tail_render_bound(size_t n, size_t extra)
{
	/* \u00XX is the longest escape: 6 bytes per input byte. */
	return 6 * n + 6 * extra + 512;
}
