/* json.c – renders a struct pl_event as one line of Packetbeat 8.x / ECS JSON.
 *
 * A bounded streaming writer over the caller's buffer: no allocation, no re-parsing,
 * every string escaped, invalid UTF-8 replaced by U+FFFD. When the buffer holds
 * pl_event_json_bound() bytes, the most the event can need, the writer skips its room
 * tests (see struct jw). Must not know protocol parsing; it only maps filled-in fields to
 * their ECS names. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "pktlog/event.h"
#include "pktlog/swar.h"
#include "pktlog/version.h"

/* The writer. A checked writer tests the room left before every write: once one does not
 * fit, `full` is set and end is pulled back to p, so every later write fails on the one
 * length check. An unchecked writer (checked == false) is only made when the buffer holds
 * pl_event_json_bound() bytes, the most the event can need: its writes skip the tests. The
 * render functions are always inlined into pl_event_to_json, once for each kind, so `w`
 * lives in registers and `checked` is a constant there. */
struct jw {
	char *p, *end;
	bool full;
	bool need_comma;
	bool checked;
};

#define AI static inline __attribute__((always_inline))

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

/* Bytes that cannot be copied into a JSON string as they are. */
static const uint8_t needs_escape[256] = {
	[0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1,
};

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

/* High bit set in each byte of v that cannot go into a JSON string as it is (control,
 * '"', '\\', non-ASCII); borrows may add bits above a set one, never clear one. */
static inline uint64_t esc64(uint64_t v)
{
	uint64_t q = v ^ (PL_ONES * '"'), b = v ^ (PL_ONES * '\\');

	return ((((v - PL_ONES * 0x20) | (q - PL_ONES) | (b - PL_ONES)) & ~v) | v) & PL_HIGH;
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
		if (!needs_escape[c]) {
			*o++ = (char)(lower ? pl_lower8(c) : c);
			i++;
		} else {
			i += escape_one(p + i, n - i, &o);
		}
	}
	return o;
}

static char *escape_plain(char *o, const uint8_t *p, size_t n)
{
	return escape_into(o, p, n, false);
}

static char *escape_lower(char *o, const uint8_t *p, size_t n)
{
	return escape_into(o, p, n, true);
}

/* The same into o[0..end) that may not hold 6 bytes per input byte: piece by piece through
 * a bounded scratch buffer. Returns the end of what was written, or NULL when it does not
 * fit. */
static char *escape_bounded(char *o, char *end, const uint8_t *p, size_t n, bool lower)
{
	char tmp[6 * 64];
	size_t i = 0;

	while (i < n) {
		size_t k = PL_MIN(n - i, (size_t)64), j = 0;
		char *t = tmp;

		while (j < k) {
			uint8_t c = p[i + j];

			if (!needs_escape[c]) {
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

/* s[0..n) escaped, without quotes; `lower` lower-cases ASCII letters. Most strings of an
 * event are short and need nothing escaped: up to 16 bytes are checked and copied as two
 * overlapping words (4 to 7 as two half words checked together; 1 to 3 byte by byte);
 * the rest, and any string that needs escaping, go through escape_into. */
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

			if (!(needs_escape[a] | needs_escape[b] | needs_escape[c])) {
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
		w->p = lower ? escape_lower(w->p, p, n) : escape_plain(w->p, p, n);
	else if ((o = escape_bounded(w->p, w->end, p, n, lower)))
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

/* "00".."99": two digits per division. */
static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* The decimal digits of v, ending at end; returns where they start. */
static inline char *u64_digits(uint64_t v, char *end)
{
	while (v >= 100) {
		end -= 2;
		memcpy(end, digit_pairs + (v % 100) * 2, 2);
		v /= 100;
	}
	if (v >= 10) {
		end -= 2;
		memcpy(end, digit_pairs + v * 2, 2);
	} else {
		*--end = (char)('0' + v);
	}
	return end;
}

char *pl_u64_digits(uint64_t v, char *end)
{
	return u64_digits(v, end);
}

AI void put_u64(struct jw *w, uint64_t v)
{
	char b[24];
	char *d = u64_digits(v, b + sizeof(b));

	put(w, d, (size_t)(b + sizeof(b) - d));
}

#define KV_STR(w, k, s, n) do { KEY(w, k); put_escaped(w, s, n, false); } while (0)
#define KV_PSTR(w, k, s) do {                                   \
		struct pl_str s_ = (s);                         \
		if (s_.len)                                     \
			KV_STR(w, k, s_.p, s_.len);             \
	} while (0)
#define KV_U64(w, k, v) do { KEY(w, k); put_u64(w, v); } while (0)

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
		memcpy(out + n + (size_t)i, digit_pairs + (frac % 100) * 2, 2);
		frac /= 100;
	}
	out[n] = (char)('0' + frac);
	n += 9;
	out[n++] = 'Z';
	out[n] = '\0';
	return n;
}

static size_t ip_str(uint8_t af, const uint8_t *ip, char *out)
{
	if (af == 4) {
		char *o = out;
		for (int i = 0; i < 4; i++) {
			unsigned v = ip[i];
			if (i)
				*o++ = '.';
			if (v >= 100)
				*o++ = (char)('0' + v / 100);
			if (v >= 10)
				*o++ = (char)('0' + v / 10 % 10);
			*o++ = (char)('0' + v % 10);
		}
		*o = '\0';
		return (size_t)(o - out);
	}
	if (!inet_ntop(af == 6 ? AF_INET6 : AF_INET, ip, out, INET6_ADDRSTRLEN))
		strcpy(out, "?");
	return strlen(out);
}

/* {"ip":…,"port":…,"bytes":…[,"domain":…]} */
/* The text of an address, from a per-thread cache of the last one in each slot (client,
 * server): consecutive events mostly share their server, often their client. The string
 * stays valid until the next call for the same slot on this thread. */
static const char *ip_text(int slot, uint8_t af, const uint8_t *ip, size_t *len)
{
	static _Thread_local struct {
		bool set;
		uint8_t af;
		uint8_t ip[16];
		size_t len;
		char s[INET6_ADDRSTRLEN];
	} cache[2];
	size_t n = af == 4 ? 4 : 16;

	if (!cache[slot].set || cache[slot].af != af || memcmp(cache[slot].ip, ip, n) != 0) {
		cache[slot].set = true;
		cache[slot].af = af;
		memcpy(cache[slot].ip, ip, n);
		cache[slot].len = ip_str(af, ip, cache[slot].s);
	}
	*len = cache[slot].len;
	return cache[slot].s;
}

AI void endpoint(struct jw *w, const struct pl_endpoint *e, const char *ip, size_t ip_len,
		     struct pl_str domain)
{
	LIT(w, "{\"ip\":\"");
	put(w, ip, ip_len);          /* digits, dots, hex and colons: nothing to escape */
	LIT(w, "\",\"port\":");
	put_u64(w, e->port);
	LIT(w, ",\"bytes\":");
	put_u64(w, e->bytes);
	if (domain.len) {
		LIT(w, ",\"domain\":");
		put_escaped(w, domain.p, domain.len, false);
	}
	obj_close(w);
}

static bool all_digits(struct pl_str s)
{
	if (!s.len || s.len > 18)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	return true;
}

AI void http_msg(struct jw *w, const struct pl_http_msg *m, const struct pl_event_http *h,
		     bool request)
{
	if (request) {
		OBJ(w, "request");
		KV_PSTR(w, "method", h->method);
		KV_PSTR(w, "referrer", h->referrer);
	} else {
		OBJ(w, "response");
		KV_U64(w, "status_code", (uint64_t)h->status_code);
		if (h->status_phrase.len) {
			KEY(w, "status_phrase");
			put_escaped(w, h->status_phrase.p, h->status_phrase.len, true);
		}
	}
	KV_U64(w, "bytes", m->bytes);
	LIT(w, ",\"body\":{\"bytes\":");
	put_u64(w, m->body_bytes);
	putc_(w, '}');
	KV_PSTR(w, "mime_type", m->mime_type);
	if (m->n_headers) {
		LIT(w, ",\"headers\":{");
		for (int i = 0; i < m->n_headers; i++) {
			const struct pl_header *hd = &m->headers[i];
			if (i)
				putc_(w, ',');
			put_escaped(w, hd->name.p, hd->name.len, true);
			putc_(w, ':');
			if (hd->name.len == 14 && memcmp(hd->name.p, "content-length", 14) == 0 &&
			    all_digits(hd->value))
				put(w, hd->value.p, hd->value.len);
			else
				put_escaped(w, hd->value.p, hd->value.len, false);
		}
		putc_(w, '}');
	}
	obj_close(w);
}

/* An escaped string already written to the output, to be copied rather than escaped again. */
struct esc { const char *p; size_t len; };

/* The URL as Packetbeat builds it: scheme, Host (or the server address), port unless 80.
 * path: the escaped path written for "query" (len SIZE_MAX when it was cut there). */
AI void url(struct jw *w, const struct pl_event *ev, const char *sip, size_t sip_len,
		struct esc path)
{
	const struct pl_event_http *h = &ev->http;
	struct pl_str domain = h->host.len ? h->host : (struct pl_str){ sip, sip_len };
	unsigned port = h->host.len ? (h->host_port ? h->host_port : 80) : ev->server.port;
	/* An IPv6 literal needs brackets in a URL; a Host header already has them. */
	bool v6lit = memchr(domain.p, ':', domain.len) != NULL && domain.p[0] != '[';
	/* ":port" when not 80 */
	size_t port_len = port == 80 ? 0 : port >= 10000 ? 6 : port >= 1000 ? 5 : port >= 100 ? 4 :
			  port >= 10 ? 3 : 2;
	size_t full_len;
	struct esc dom;

	OBJ(w, "url");
	LIT(w, "\"scheme\":\"http\",\"domain\":\"");
	dom.p = w->p;
	raw_escaped(w, domain.p, domain.len, false);
	dom.len = (size_t)(w->p - dom.p);
	putc_(w, '"');
	w->need_comma = true;
	if (port != 80) {
		LIT(w, ",\"port\":");
		put_u64(w, port);
	}
	if (h->path.len) {
		LIT(w, ",\"path\":\"");
		if (path.len != SIZE_MAX) {
			put(w, path.p, path.len);
		} else {
			path.p = w->p;
			raw_escaped(w, h->path.p, h->path.len, false);
			path.len = (size_t)(w->p - path.p);
		}
		putc_(w, '"');
	} else {
		path.len = 0;
	}
	KV_PSTR(w, "query", h->query);
	/* url.full is left out when longer than 8 KiB */
	full_len = 7 + (v6lit ? 2 : 0) + domain.len + port_len + h->path.len +
		   (h->query.len ? 1 + h->query.len : 0);
	if (full_len <= 8192) {
		LIT(w, ",\"full\":\"http://");
		if (v6lit)
			putc_(w, '[');
		put(w, dom.p, dom.len);
		if (v6lit)
			putc_(w, ']');
		if (port != 80) {
			putc_(w, ':');
			put_u64(w, port);
		}
		if (h->path.len)
			put(w, path.p, path.len);
		if (h->query.len) {
			putc_(w, '?');
			raw_escaped(w, h->query.p, h->query.len, false);
		}
		putc_(w, '"');
	}
	obj_close(w);
}

AI void http_fields(struct jw *w, const struct pl_event *ev, const char *sip, size_t sip_len)
{
	const struct pl_event_http *h = &ev->http;

	if (h->has_request) {
		struct esc path;

		KV_PSTR(w, "method", h->method);
		/* Packetbeat's "query" for HTTP is "<METHOD> <path>" (the path cut at 4032 bytes). */
		KEY(w, "query");
		putc_(w, '"');
		raw_escaped(w, h->method.p, h->method.len, false);
		putc_(w, ' ');
		path.p = w->p;
		raw_escaped(w, h->path.p, PL_MIN(h->path.len, (size_t)4032), false);
		path.len = h->path.len <= 4032 ? (size_t)(w->p - path.p) : SIZE_MAX;
		putc_(w, '"');
		url(w, ev, sip, sip_len, path);
		if (h->user_agent.len) {
			LIT(w, ",\"user_agent\":{\"original\":");
			put_escaped(w, h->user_agent.p, h->user_agent.len, false);
			putc_(w, '}');
		}
		if (h->user_name.len) {
			LIT(w, ",\"user\":{\"name\":");
			put_escaped(w, h->user_name.p, h->user_name.len, false);
			putc_(w, '}');
		}
	}
	OBJ(w, "http");
	KV_PSTR(w, "version", h->version);
	if (h->has_request)
		http_msg(w, &h->request, h, true);
	if (h->has_response)
		http_msg(w, &h->response, h, false);
	obj_close(w);
}

AI void mysql_fields(struct jw *w, const struct pl_event *ev)
{
	const struct pl_event_mysql *m = &ev->mysql;

	KV_PSTR(w, "method", m->method);
	KV_PSTR(w, "query", m->query);
	KV_PSTR(w, "path", m->path);
	if (m->user.len) {
		OBJ(w, "user");
		KV_PSTR(w, "name", m->user);
		obj_close(w);
	}
	OBJ(w, "mysql");
	if (m->has_response) {
		KV_U64(w, "affected_rows", m->affected_rows);
		KV_U64(w, "insert_id", m->insert_id);
		KV_U64(w, "num_fields", m->num_fields);
		KV_U64(w, "num_rows", m->num_rows);
		if (m->warnings)
			KV_U64(w, "warnings", m->warnings);
	}
	if (m->is_error) {
		KV_U64(w, "error_code", m->error_code);
		/* Packetbeat's form: "<SQLSTATE>: <message>" (the message cut at 1008 bytes). */
		KEY(w, "error_message");
		putc_(w, '"');
		if (m->sql_state.len) {
			raw_escaped(w, m->sql_state.p, PL_MIN(m->sql_state.len, (size_t)1024), false);
			LIT(w, ": ");
		}
		raw_escaped(w, m->error_message.p,
				PL_MIN(m->error_message.len, (size_t)1024 - 16), false);
		putc_(w, '"');
		KV_PSTR(w, "state", m->sql_state);
	}
	KV_PSTR(w, "db", m->schema);
	obj_close(w);
	if (m->n_params) {
		KEY(w, "params");
		putc_(w, '[');
		for (int i = 0; i < m->n_params; i++) {
			if (i)
				putc_(w, ',');
			put_escaped(w, m->params[i].p, m->params[i].len, false);
		}
		putc_(w, ']');
	}
	KV_PSTR(w, "request", m->request);
	KV_PSTR(w, "response", m->response);
}

AI void put_bool(struct jw *w, bool v)
{
	if (v)
		LIT(w, "true");
	else
		LIT(w, "false");
}

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

/* ECS x509.* of one certificate. */
AI void tls_x509(struct jw *w, const struct pl_tls_x509 *x)
{
	OBJ(w, "x509");
	KV_U64(w, "version_number", x->version);
	KV_PSTR(w, "serial_number", x->serial);
	KV_PSTR(w, "not_before", x->not_before);
	KV_PSTR(w, "not_after", x->not_after);
	OBJ(w, "subject");
	KV_PSTR(w, "distinguished_name", x->subject);
	if (x->subject_cn.len) {
		KEY(w, "common_name");
		str_array(w, &x->subject_cn, 1);
	}
	obj_close(w);
	OBJ(w, "issuer");
	KV_PSTR(w, "distinguished_name", x->issuer);
	if (x->issuer_cn.len) {
		KEY(w, "common_name");
		str_array(w, &x->issuer_cn, 1);
	}
	obj_close(w);
	if (x->n_alt_names) {
		KEY(w, "alternative_names");
		str_array(w, x->alt_names, x->n_alt_names);
	}
	KV_PSTR(w, "public_key_algorithm", x->key_algorithm);
	if (x->key_size)
		KV_U64(w, "public_key_size", x->key_size);
	KV_PSTR(w, "public_key_curve", x->key_curve);
	obj_close(w);
}

/* tls.client / tls.server fields of a certificate: subject, issuer, dates, hashes, x509. */
AI void tls_cert(struct jw *w, const struct pl_tls_x509 *x)
{
	KV_PSTR(w, "subject", x->subject);
	KV_PSTR(w, "issuer", x->issuer);
	KV_PSTR(w, "not_before", x->not_before);
	KV_PSTR(w, "not_after", x->not_after);
	if (x->sha1.len || x->sha256.len) {
		OBJ(w, "hash");
		KV_PSTR(w, "sha1", x->sha1);
		KV_PSTR(w, "sha256", x->sha256);
		obj_close(w);
	}
	tls_x509(w, x);
}

AI void tls_fields(struct jw *w, const struct pl_event *ev)
{
	const struct pl_event_tls *t = &ev->tls;

	OBJ(w, "tls");
	KV_PSTR(w, "version", t->version);
	KV_PSTR(w, "version_protocol", t->version_protocol);
	KV_PSTR(w, "cipher", t->cipher);
	KV_PSTR(w, "curve", t->curve);
	KEY(w, "established");
	put_bool(w, t->established);
	if (t->has_server_hello) {
		KEY(w, "resumed");
		put_bool(w, t->resumed);
	}
	KV_PSTR(w, "next_protocol", t->next_protocol);
	if (t->resumption.len || t->hello_retry || t->early_data_offered || t->early_data_bytes) {
		OBJ(w, "detailed");
		KV_PSTR(w, "resumption_method", t->resumption);
		if (t->hello_retry) {
			KEY(w, "hello_retry_request");
			put_bool(w, true);
		}
		if (t->early_data_offered) {
			KEY(w, "early_data_offered");
			put_bool(w, true);
		}
		if (t->early_data_bytes)
			KV_U64(w, "early_data_bytes", t->early_data_bytes);
		obj_close(w);
	}
	/* tls.client and tls.server are left out when nothing of them was seen */
	char *mark = w->p;
	OBJ(w, "client");
	KV_PSTR(w, "server_name", t->server_name);
	if (t->n_supported_ciphers) {
		KEY(w, "supported_ciphers");
		str_array(w, t->supported_ciphers, t->n_supported_ciphers);
	}
	KV_PSTR(w, "ja3", t->ja3);
	KV_PSTR(w, "ja4", t->ja4);
	if (t->client_cert)
		tls_cert(w, t->client_cert);
	obj_end_or_drop(w, mark);
	mark = w->p;
	OBJ(w, "server");
	KV_PSTR(w, "ja3s", t->ja3s);
	KV_PSTR(w, "ja4s", t->ja4s);
	if (t->server_cert)
		tls_cert(w, t->server_cert);
	obj_end_or_drop(w, mark);
	obj_close(w);
}

/* "<name>":"<time>" */
AI void put_time(struct jw *w, uint64_t ns)
{
	char b[32];
	size_t n = pl_format_time(ns, b);

	putc_(w, '"');
	put(w, b, n);
	putc_(w, '"');
}

/* The lengths of the NUL-terminated strings an event renders, measured once for both the
 * bound and the rendering. */
struct cstr_lens { size_t host_name, community_id; };

static struct cstr_lens cstr_lens(const struct pl_event *ev, const struct pl_json_opts *opts)
{
	return (struct cstr_lens){
		opts && opts->host_name ? strlen(opts->host_name) : 0,
		ev->community_id ? strlen(ev->community_id) : 0,
	};
}

AI void render(struct jw *wp, const struct pl_event *ev, const struct pl_json_opts *opts,
	       struct cstr_lens lens)
{
	struct jw w = *wp;
	size_t cip_len, sip_len;
	const char *cip = ip_text(0, ev->af, ev->client.ip, &cip_len);
	const char *sip = ip_text(1, ev->af, ev->server.ip, &sip_len);
	bool http = ev->type == PL_EV_HTTP;
	bool tls = ev->type == PL_EV_TLS;
	struct pl_str domain = http ? ev->http.host : PL_STR_NULL;
	uint64_t t0 = ev->start_ns ? ev->start_ns : ev->end_ns;
	char tb[32];
	size_t tn = pl_format_time(t0, tb);
	char *c0, *s0;
	size_t cl, sl;

	LIT(&w, "{\"@timestamp\":\"");
	put(&w, tb, tn);
	if (http)
		LIT(&w, "\",\"type\":\"http\",\"status\":");
	else if (tls)
		LIT(&w, "\",\"type\":\"tls\",\"status\":");
	else
		LIT(&w, "\",\"type\":\"mysql\",\"status\":");
	if (ev->ok)
		LIT(&w, "\"OK\"");
	else
		LIT(&w, "\"Error\"");
	LIT(&w, ",\"event\":{\"kind\":\"event\",\"category\":[\"network\"],"
		"\"type\":[\"connection\",\"protocol\"],\"dataset\":");
	if (http)
		LIT(&w, "\"http\"");
	else if (tls)
		LIT(&w, "\"tls\"");
	else
		LIT(&w, "\"mysql\"");
	if (ev->start_ns) {
		LIT(&w, ",\"start\":\"");     /* the same instant as @timestamp */
		put(&w, tb, tn);
		putc_(&w, '"');
	}
	if (ev->end_ns) {
		LIT(&w, ",\"end\":");
		put_time(&w, ev->end_ns);
	}
	if (ev->start_ns && ev->end_ns && ev->end_ns >= ev->start_ns) {
		LIT(&w, ",\"duration\":");
		put_u64(&w, ev->end_ns - ev->start_ns);
	}

	/* source and destination repeat client and server: rendered once, then copied */
	LIT(&w, "},\"client\":");
	c0 = w.p;
	endpoint(&w, &ev->client, cip, cip_len, PL_STR_NULL);
	cl = (size_t)(w.p - c0);
	LIT(&w, ",\"server\":");
	s0 = w.p;
	endpoint(&w, &ev->server, sip, sip_len, domain);
	sl = (size_t)(w.p - s0);
	LIT(&w, ",\"source\":");
	put(&w, c0, cl);
	LIT(&w, ",\"destination\":");
	put(&w, s0, sl);

	if (ev->af == 6)
		LIT(&w, ",\"network\":{\"type\":\"ipv6\",\"transport\":\"tcp\",\"protocol\":");
	else
		LIT(&w, ",\"network\":{\"type\":\"ipv4\",\"transport\":\"tcp\",\"protocol\":");
	if (http)
		LIT(&w, "\"http\",\"bytes\":");
	else if (tls)
		LIT(&w, "\"tls\",\"bytes\":");
	else
		LIT(&w, "\"mysql\",\"bytes\":");
	put_u64(&w, ev->client.bytes + ev->server.bytes);
	w.need_comma = true;
	if (ev->community_id)
		KV_STR(&w, "community_id", ev->community_id, lens.community_id);
	if (http)
		KV_PSTR(&w, "forwarded_ip", ev->http.forwarded_ip);

	LIT(&w, "},\"related\":{\"ip\":[\"");
	put(&w, cip, cip_len);
	if (cip_len != sip_len || memcmp(cip, sip, cip_len) != 0) {
		LIT(&w, "\",\"");
		put(&w, sip, sip_len);
	}
	LIT(&w, "\"]}");
	w.need_comma = true;

	if (http)
		http_fields(&w, ev, sip, sip_len);
	else if (tls)
		tls_fields(&w, ev);
	else
		mysql_fields(&w, ev);

	if (ev->n_errors == 1) {
		LIT(&w, ",\"error\":{\"message\":");
		put_escaped(&w, ev->errors[0].p, ev->errors[0].len, false);
		putc_(&w, '}');
	} else if (ev->n_errors > 1) {
		LIT(&w, ",\"error\":{\"message\":[");
		for (int i = 0; i < ev->n_errors; i++) {
			if (i)
				putc_(&w, ',');
			put_escaped(&w, ev->errors[i].p, ev->errors[i].len, false);
		}
		LIT(&w, "]}");
	}

	if (opts && opts->host_name) {
		LIT(&w, ",\"host\":{\"name\":");
		put_escaped(&w, opts->host_name, lens.host_name, false);
		putc_(&w, '}');
	}
	LIT(&w, ",\"agent\":{\"type\":\"pktlog\",\"version\":\"" PL_VERSION "\"},"
		"\"ecs\":{\"version\":\"8.0.0\"}}");
	*wp = w;
}

static size_t strs_len(const struct pl_str *a, int n)
{
	size_t len = 0;

	for (int i = 0; i < n; i++)
		len += a[i].len + 4;
	return len;
}

static size_t x509_len(const struct pl_tls_x509 *x)
{
	if (!x)
		return 0;
	/* subject, issuer, dates: twice (tls.* and x509.*); fixed text of the certificate */
	return 2 * (x->subject.len + x->issuer.len + x->not_before.len + x->not_after.len) +
	       x->subject_cn.len + x->issuer_cn.len + x->serial.len + x->key_algorithm.len +
	       x->key_curve.len + x->sha1.len + x->sha256.len +
	       strs_len(x->alt_names, x->n_alt_names) + 512;
}

/* Bytes of the strings a tls event renders (before escaping). */
static size_t tls_strings_len(const struct pl_event_tls *t)
{
	return t->version.len + t->version_protocol.len + t->cipher.len + t->curve.len +
	       t->resumption.len + t->next_protocol.len + t->server_name.len + t->ja3.len +
	       t->ja4.len + t->ja3s.len + t->ja4s.len +
	       strs_len(t->supported_ciphers, t->n_supported_ciphers) +
	       x509_len(t->server_cert) + x509_len(t->client_cert) + 512;
}

/* Sum of the lengths of a message's headers. */
static size_t headers_len(const struct pl_http_msg *m)
{
	size_t n = 0;

	for (int i = 0; i < m->n_headers; i++)
		n += m->headers[i].name.len + m->headers[i].value.len + 8;
	return n;
}

static size_t bound(const struct pl_event *ev, struct cstr_lens cl)
{
	/* Every string is escaped to at most 6 bytes per byte, and counted as often as it
	 * is written. JSON_FIXED covers the literal text of any event (under 1.5 KiB), its
	 * numbers (at most 20 digits each) and the addresses (at most 46 bytes each, written
	 * at most 8 times). */
	enum { JSON_FIXED = 4096 };
	size_t n = cl.host_name + cl.community_id;

	for (int i = 0; i < ev->n_errors && i < PL_EVENT_MAX_ERRORS; i++)
		n += ev->errors[i].len + 4;
	if (ev->type == PL_EV_HTTP) {
		const struct pl_event_http *h = &ev->http;

		/* method: method, query, http.request.method; path: query, url.path, url.full;
		 * host: server.domain, destination.domain, url.domain, url.full */
		n += 3 * (h->method.len + h->path.len) + 4 * h->host.len + 2 * h->query.len +
		     h->version.len + h->user_agent.len + h->referrer.len + h->forwarded_ip.len +
		     h->user_name.len + h->status_phrase.len + h->request.mime_type.len +
		     h->response.mime_type.len;
		if (h->has_request)
			n += headers_len(&h->request);
		if (h->has_response)
			n += headers_len(&h->response);
	} else if (ev->type == PL_EV_TLS) {
		n += tls_strings_len(&ev->tls);
	} else {
		const struct pl_event_mysql *m = &ev->mysql;

		n += m->method.len + m->query.len + m->path.len + m->user.len + m->schema.len +
		     2 * m->sql_state.len + m->error_message.len + m->request.len +
		     m->response.len;
		for (int i = 0; i < m->n_params && i < PL_MYSQL_MAX_PARAMS; i++)
			n += m->params[i].len + 4;
	}
	return JSON_FIXED + 6 * n;
}

size_t pl_event_json_bound(const struct pl_event *ev, const struct pl_json_opts *opts)
{
	return bound(ev, cstr_lens(ev, opts));
}

size_t pl_event_to_json(const struct pl_event *ev, const struct pl_json_opts *opts,
			char *buf, size_t cap)
{
	struct jw w = { buf, buf + cap, false, false, true };
	struct cstr_lens cl = cstr_lens(ev, opts);

	/* With room for the most the event can need, no write needs a test. The two calls
	 * differ only in w.checked: each is inlined with it as a constant. */
	if (cap >= bound(ev, cl)) {
		w.checked = false;
		render(&w, ev, opts, cl);
	} else {
		render(&w, ev, opts, cl);
	}
	return w.full ? 0 : (size_t)(w.p - buf);
}
