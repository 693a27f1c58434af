/* json_write.c – JSON string escaping and the number and time text of events: the out-of-line
 * half of the writer in json_write.h, and the project's one escaper (pl_json_escape, used by
 * events, tailed lines and heartbeats). Every string escaped per RFC 8259, invalid UTF-8
 * replaced by U+FFFD; eight bytes at a time while nothing needs escaping. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "json_write.h"

const uint8_t pl_json_needs_escape[256] = {
	[0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1,
};

const char pl_json_digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len;
	uint32_t min, cp;

	if (c < 0xc2 || c > 0xf4)
		return 0;
	if (c < 0xe0) { len = 2; min = 0x80; cp = c & 0x1f; }
	else if (c < 0xf0) { len = 3; min = 0x800; cp = c & 0x0f; }
	else { len = 4; min = 0x10000; cp = c & 0x07; }
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* The escaped form of one byte that needs it (or of the UTF-8 sequence it starts) at o,
 * which has room for 6 bytes per input byte. Returns input bytes used; *out advances. */
static size_t escape_one(const uint8_t *p, size_t n, char **out)
{
	static const char hex[] = "0123456789abcdef";
	char *o = *out;
	uint8_t c = p[0];
	size_t used = 1;

	if (c == '"' || c == '\\') {
		o[0] = '\\';
		o[1] = (char)c;
		o += 2;
	} else if (c < 0x20) {
		o[0] = '\\';
		switch (c) {
		case '\n': o[1] = 'n'; o += 2; break;
		case '\r': o[1] = 'r'; o += 2; break;
		case '\t': o[1] = 't'; o += 2; break;
		default:
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
		}
	} else {
		size_t l = utf8_len(p, n);

		if (l) {
			memcpy(o, p, l);
			o += l;
			used = l;
		} else {
			memcpy(o, "\\ufffd", 6);
			o += 6;
		}
	}
	*out = o;
	return used;
}

/* s[0..n) escaped at o, which has room for 6 bytes per input byte; `lower` lower-cases
 * ASCII letters. Returns the end of what was written. */
AI char *escape_into(char *o, const uint8_t *p, size_t n, bool lower)
{
	size_t i = 0;

	while (i < n) {
		/* Eight bytes at a time while none needs escaping; the last (n % 8) bytes as a
		 * word overlapping what went before. That part went out byte for byte: any byte
		 * that was escaped would be in the word and stop it. */
		for (;;) {
			size_t at = i + 8 <= n ? i : n >= 8 ? n - 8 : SIZE_MAX;
			uint64_t v;

			if (at == SIZE_MAX || i >= n)
				break;
			memcpy(&v, p + at, 8);
			if (esc64(v))
				break;
			if (lower)
				v = pl_lower64(v);
			memcpy(o - (i - at), &v, 8);
			o += at + 8 - i;
			i = at + 8;
		}
		if (i >= n)
			break;
		uint8_t c = p[i];
		if (!pl_json_needs_escape[c]) {
			*o++ = (char)(lower ? pl_lower8(c) : c);
			i++;
		} else {
			i += escape_one(p + i, n - i, &o);
		}
	}
	return o;
}

char *pl_json_escape_plain(char *o, const uint8_t *p, size_t n)
{
	return escape_into(o, p, n, false);
}

char *pl_json_escape_lower(char *o, const uint8_t *p, size_t n)
{
	return escape_into(o, p, n, true);
}

/* Piece by piece through a bounded scratch buffer. */
char *pl_json_escape_bounded(char *o, char *end, const uint8_t *p, size_t n, bool lower)
{
	char tmp[6 * 64];
	size_t i = 0;

	while (i < n) {
		size_t k = PL_MIN(n - i, (size_t)64), j = 0;
		char *t = tmp;

		while (j < k) {
			uint8_t c = p[i + j];

			if (!pl_json_needs_escape[c]) {
				*t++ = (char)(lower ? pl_lower8(c) : c);
				j++;
			} else {
				/* a UTF-8 sequence may run past this piece: look at all of it */
				j += escape_one(p + i + j, n - i - j, &t);
			}
		}
		if ((size_t)(end - o) < (size_t)(t - tmp))
			return NULL;
		memcpy(o, tmp, (size_t)(t - tmp));
		o += t - tmp;
		i += j;
	}
	return o;
}

char *pl_json_escape(char *out, const char *end, const char *s, size_t n)
{
	struct jw w = { out, (char *)end, false, false, true };

	raw_escaped(&w, s, n, false);
	return w.full ? NULL : w.p;
}

size_t pl_json_string(const char *s, size_t n, char *out, size_t cap)
{
	struct jw w = { out, out + cap, false, false, true };

	put_escaped(&w, s, n, false);
	return w.full ? 0 : (size_t)(w.p - out);
}

char *pl_u64_digits(uint64_t v, char *end)
{
	return u64_digits(v, end);
}

size_t pl_format_time(uint64_t ns, char *out)
{
	/* Events come in packet-time order: the date part rarely changes, so keep it. */
	static _Thread_local time_t last_sec = -1;
	static _Thread_local char last[21];
	static _Thread_local size_t last_len;
	time_t sec = (time_t)(ns / PL_NS_PER_SEC);

	if (sec != last_sec) {
		struct tm tm;
		gmtime_r(&sec, &tm);
		last_len = strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", &tm);
		last_sec = sec;
	}
	memcpy(out, last, last_len);
	size_t n = last_len;
	uint32_t frac = (uint32_t)(ns % PL_NS_PER_SEC);
	out[n++] = '.';
	/* nine digits, leading zeros kept: four pairs and one */
	for (int i = 7; i >= 1; i -= 2) {
		memcpy(out + n + (size_t)i, pl_json_digit_pairs + (frac % 100) * 2, 2);
		frac /= 100;
	}
	out[n] = (char)('0' + frac);
	n += 9;
	out[n++] = 'Z';
	out[n] = '\0';
	return n;
}
