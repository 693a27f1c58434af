/* json_write.h – the bounded JSON writer the event renderer is made of (internal to src/event/):
 * struct jw, its writes (always inlined), the escaper's inline short path, and the hooks of
 * the per-protocol field renderers (json_http.c, json_mysql.c, json_tls.c).
 *
 * A checked writer tests the room left before every write: once one does not fit, `full` is
 * set and end is pulled back to p, so every later write fails on the one length check. An
 * unchecked writer (checked == false) is only made when the buffer holds
 * pl_event_json_bound() bytes, the most the event can need: its writes skip the tests. The
 * writes are always inlined, and each render function is compiled once for each kind
 * (JW_RENDER), so `w` lives in registers and `checked` is a constant there. */
#ifndef PKTLOG_JSON_WRITE_H
#define PKTLOG_JSON_WRITE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "pktlog/event.h"
#include "pktlog/swar.h"

struct jw {
	char *p, *end;
	bool full;
	bool need_comma;
	bool checked;
};

#define AI static inline __attribute__((always_inline))

/* Call fn(&w, args...) on a copy of *wp held in registers, with `checked` a constant in each
 * of the two inlined copies of fn; the writer's state goes back to *wp after. For the members
 * of an open object that has members already (need_comma is true, and known to be). */
#define JW_RENDER(wp, fn, ...) do {                             \
		struct jw w_ = *(wp);                           \
		w_.need_comma = true;                           \
		if (w_.checked) {                               \
			w_.checked = true;                      \
			fn(&w_, __VA_ARGS__);                   \
		} else {                                        \
			w_.checked = false;                     \
			fn(&w_, __VA_ARGS__);                   \
		}                                               \
		*(wp) = w_;                                     \
	} while (0)

/* ---- the per-protocol renderers: one call each from render() in json.c ----
 * Each writes its members into the open top-level object (w->need_comma true on entry) and
 * has a bound: the bytes of the strings it renders, each counted as often as it is written
 * (json.c multiplies by six and adds the fixed part). */
void pl_json_http(struct jw *w, const struct pl_event *ev, const char *sip, size_t sip_len);
size_t pl_json_http_bound(const struct pl_event_http *h);
void pl_json_mysql(struct jw *w, const struct pl_event *ev);
size_t pl_json_mysql_bound(const struct pl_event_mysql *m);
void pl_json_tls(struct jw *w, const struct pl_event *ev);
size_t pl_json_tls_bound(const struct pl_event_tls *t);

/* ---- out of line, in json_write.c ---- */

/* Bytes that cannot be copied into a JSON string as they are. */
extern const uint8_t pl_json_needs_escape[256];
/* "00".."99": two digits per division. */
extern const char pl_json_digit_pairs[201];

/* s[0..n) escaped at o, which has room for 6 bytes per input byte; the second lower-cases
 * ASCII letters. Return the end of what was written. */
char *pl_json_escape_plain(char *o, const uint8_t *p, size_t n);
char *pl_json_escape_lower(char *o, const uint8_t *p, size_t n);
/* The same into o[0..end) that may not hold 6 bytes per input byte. NULL when it does not
 * fit. */
char *pl_json_escape_bounded(char *o, char *end, const uint8_t *p, size_t n, bool lower);

/* ---- the writes ---- */

AI void jw_overflow(struct jw *w)
{
	w->full = true;
	w->end = w->p;
}

/* Whether n more bytes may be written (a checked writer that has no room becomes full). */
AI bool room(struct jw *w, size_t n)
{
	if (!w->checked || (size_t)(w->end - w->p) >= n)
		return true;
	jw_overflow(w);
	return false;
}

/* memcpy for the short strings events are made of (IPs, numbers, methods, most values)
 * without a call: two overlapping loads and stores, within both buffers' n bytes. */
AI void copy_short(char *d, const char *s, size_t n)
{
	if (n > 16) {
		memcpy(d, s, n);
	} else if (n >= 8) {
		uint64_t a, b;
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &b, 4);
	} else if (n) {
		d[0] = s[0];
		d[n / 2] = s[n / 2];
		d[n - 1] = s[n - 1];
	}
}

AI void put(struct jw *w, const char *s, size_t n)
{
	if (!room(w, n))
		return;
	copy_short(w->p, s, n);
	w->p += n;
}

AI void putc_(struct jw *w, char c)
{
	if (!room(w, 1))
		return;
	*w->p++ = c;
}

/* A string literal, its length known at compile time. */
#define LIT(w, s) put((w), "" s, sizeof(s) - 1)

/* "key": (with the comma the position needs); k must be a string literal. */
#define KEY(w, k) do {                                          \
		if ((w)->need_comma)                            \
			LIT(w, ",\"" k "\":");                  \
		else                                            \
			LIT(w, "\"" k "\":");                   \
		(w)->need_comma = true;                         \
	} while (0)

/* "key":{ */
#define OBJ(w, k) do {                                          \
		if ((w)->need_comma)                            \
			LIT(w, ",\"" k "\":{");                 \
		else                                            \
			LIT(w, "\"" k "\":{");                  \
		(w)->need_comma = false;                        \
	} while (0)

AI void obj_close(struct jw *w)
{
	putc_(w, '}');
	w->need_comma = true;
}

/* Close an object opened at mark, or take it back when it got no member (an object is
 * opened after a member, so the comma before it goes too). */
AI void obj_end_or_drop(struct jw *w, char *mark)
{
	if (w->need_comma) {
		obj_close(w);
		return;
	}
	if (!w->full)
		w->p = mark;
	w->need_comma = true;
}

/* ---- escaped strings ---- */

/* High bit set in each byte of v that cannot go into a JSON string as it is (control,
 * '"', '\\', non-ASCII); borrows may add bits above a set one, never clear one. */
static inline uint64_t esc64(uint64_t v)
{
	uint64_t q = v ^ (PL_ONES * '"'), b = v ^ (PL_ONES * '\\');

	return ((((v - PL_ONES * 0x20) | (q - PL_ONES) | (b - PL_ONES)) & ~v) | v) & PL_HIGH;
}

/* s[0..n) escaped, without quotes; `lower` lower-cases ASCII letters. Most strings of an
 * event are short and need nothing escaped: up to 16 bytes are checked and copied here as
 * two overlapping words (4 to 7 as two half words checked together; 1 to 3 byte by byte);
 * the rest, and any string that needs escaping, go to json_write.c. */
AI void raw_escaped(struct jw *w, const char *s, size_t n, bool lower)
{
	const uint8_t *p = (const uint8_t *)s;
	char *o;

	if (n <= 16 && (!w->checked || (size_t)(w->end - w->p) >= n)) {
		if (n >= 8) {
			uint64_t a, b;

			memcpy(&a, p, 8);
			memcpy(&b, p + n - 8, 8);
			if (!(esc64(a) | esc64(b))) {
				if (lower) {
					a = pl_lower64(a);
					b = pl_lower64(b);
				}
				memcpy(w->p, &a, 8);
				memcpy(w->p + n - 8, &b, 8);
				w->p += n;
				return;
			}
		} else if (n >= 4) {
			uint32_t a, b;
			uint64_t v;

			memcpy(&a, p, 4);
			memcpy(&b, p + n - 4, 4);
			v = a | (uint64_t)b << 32;
			if (!esc64(v)) {
				if (lower)
					v = pl_lower64(v);
				a = (uint32_t)v;
				b = (uint32_t)(v >> 32);
				memcpy(w->p, &a, 4);
				memcpy(w->p + n - 4, &b, 4);
				w->p += n;
				return;
			}
		} else if (n) {
			/* bytes 0, n/2 and n-1 are all of them */
			uint8_t a = p[0], b = p[n / 2], c = p[n - 1];

			if (!(pl_json_needs_escape[a] | pl_json_needs_escape[b] |
			      pl_json_needs_escape[c])) {
				if (lower) {
					a = pl_lower8(a);
					b = pl_lower8(b);
					c = pl_lower8(c);
				}
				w->p[0] = (char)a;
				w->p[n / 2] = (char)b;
				w->p[n - 1] = (char)c;
				w->p += n;
				return;
			}
		} else {
			return;
		}
	}
	if (!w->checked || (size_t)(w->end - w->p) / 6 >= n)
		w->p = lower ? pl_json_escape_lower(w->p, p, n) : pl_json_escape_plain(w->p, p, n);
	else if ((o = pl_json_escape_bounded(w->p, w->end, p, n, lower)))
		w->p = o;
	else
		jw_overflow(w);
}

AI void put_escaped(struct jw *w, const char *s, size_t n, bool lower)
{
	putc_(w, '"');
	raw_escaped(w, s, n, lower);
	putc_(w, '"');
}

/* [ "a", "b", … ] */
AI void str_array(struct jw *w, const struct pl_str *a, int n)
{
	putc_(w, '[');
	for (int i = 0; i < n; i++) {
		if (i)
			putc_(w, ',');
		put_escaped(w, a[i].p, a[i].len, false);
	}
	putc_(w, ']');
}

/* ---- numbers, booleans, times ---- */

/* The decimal digits of v, ending at end; returns where they start. */
static inline char *u64_digits(uint64_t v, char *end)
{
	while (v >= 100) {
		end -= 2;
		memcpy(end, pl_json_digit_pairs + (v % 100) * 2, 2);
		v /= 100;
	}
	if (v >= 10) {
		end -= 2;
		memcpy(end, pl_json_digit_pairs + v * 2, 2);
	} else {
		*--end = (char)('0' + v);
	}
	return end;
}

AI void put_u64(struct jw *w, uint64_t v)
{
	char b[24];
	char *d = u64_digits(v, b + sizeof(b));

	put(w, d, (size_t)(b + sizeof(b) - d));
}

AI void put_bool(struct jw *w, bool v)
{
	if (v)
		LIT(w, "true");
	else
		LIT(w, "false");
}

/* "<time>" */
AI void put_time(struct jw *w, uint64_t ns)
{
	char b[32];
	size_t n = pl_format_time(ns, b);

	putc_(w, '"');
	put(w, b, n);
	putc_(w, '"');
}

#define KV_STR(w, k, s, n) do { KEY(w, k); put_escaped(w, s, n, false); } while (0)
#define KV_PSTR(w, k, s) do {                                   \
		struct pl_str s_ = (s);                         \
		if (s_.len)                                     \
			KV_STR(w, k, s_.p, s_.len);             \
	} while (0)
#define KV_U64(w, k, v) do { KEY(w, k); put_u64(w, v); } while (0)

#endif
