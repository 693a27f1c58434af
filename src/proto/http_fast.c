/* http_fast.c – the fast head parser: ordinary, complete HTTP/1.x message heads parsed
 * without http-parser and delivered through the same on_* functions (http_int.h), and the
 * Content-Length bodies that follow them. Must not: accept a head http-parser would read
 * differently (it declines instead), pair messages, or fill events. */
#include <string.h>
#include "pktlog/swar.h"
#include "http_int.h"

/* --- fast path: ordinary complete message heads without http-parser ---
 *
 * Most messages on a keep-alive connection are plain: a known method, an origin-form URL,
 * HTTP/1.0 or 1.1, token header names, no folding, a Content-Length body or none. When such a
 * head lies whole in the bytes at hand and http-parser sits at a message start, http_fast_head
 * parses it here and calls the same on_* functions with the same bytes, in the same order,
 * as http-parser's callbacks would. Anything else it does not recognise (chunked, close-
 * delimited, Upgrade, Connection: close, 1xx, odd bytes, a head split across segments) is left
 * to http-parser untouched. tests/unit/test_http.c and fuzz_http compare the two paths
 * (tuning.fast_paths: false sends every head to http-parser). */

#define FAST_HEAD_MAX 8192u
#define FAST_HDR_MAX 64

enum { CC_TOKEN = 1, CC_URL = 2, CC_VALUE = 4 };

/* Header name bytes (RFC 7230 tchar), URL bytes (visible ASCII), value bytes (HTAB, SP,
 * visible ASCII, obs-text): the strict subsets of what http-parser accepts. */
static const uint8_t cclass[256] = {
	['\t'] = CC_VALUE, [' '] = CC_VALUE,
	['!'] = 7, ['"'] = 6, ['#'] = 7, ['$'] = 7, ['%'] = 7, ['&'] = 7, ['\''] = 7,
	['('] = 6, [')'] = 6, ['*'] = 7, ['+'] = 7, [','] = 6, ['-'] = 7, ['.'] = 7, ['/'] = 6,
	['0' ... '9'] = 7, [':'] = 6, [';'] = 6, ['<'] = 6, ['='] = 6, ['>'] = 6, ['?'] = 6,
	['@'] = 6, ['A' ... 'Z'] = 7, ['['] = 6, ['\\'] = 6, [']'] = 6, ['^'] = 7, ['_'] = 7,
	['`'] = 7, ['a' ... 'z'] = 7, ['{'] = 6, ['|'] = 7, ['}'] = 6, ['~'] = 7,
	[0x80 ... 0xff] = CC_VALUE,
};

struct fast_hdr { const uint8_t *name, *value; uint32_t name_len, value_len; enum hkind kind; };


/* Word-at-a-time scans. Each mask has the high bit of every byte that stops the scan set;
 * borrows and carries can only set bits above a byte that really stops it, so the lowest set
 * bit is exact. Bytes past the last whole word go through the class table. */
static inline const uint8_t *stop_at(const uint8_t *q, uint64_t mask)
{
	return q + (__builtin_ctzll(mask) >> 3);
}

/* The end of a header value: the first control byte other than HTAB, or DEL (normally the
 * CR), or end. Eight bytes at a time (one uint64_t) while that many are at hand, the
 * rest through the class table. (One path: SSE2 bought under 10 %, bench/RESULTS.md.) */
static inline const uint8_t *scan_value(const uint8_t *q, const uint8_t *end)
{
	while (end - q >= 8) {
		uint64_t v, del, m;

		memcpy(&v, q, 8);
		del = v ^ (PL_ONES * 0x7f);
		m = ((v - PL_ONES * 0x20) & ~v & PL_HIGH) | ((del - PL_ONES) & ~del & PL_HIGH);
		if (m) {
			q = stop_at(q, m);
			if (*q != '\t')
				return q;
			q++;
			continue;
		}
		q += 8;
	}
	while (q < end && (cclass[*q] & CC_VALUE))
		q++;
	return q;
}

/* The end of a header name: the first byte that is not a token character, or end. Letters,
 * digits and '-' eight bytes at a time; the rest of the token
 * set, and the last bytes, through the table. */
static inline const uint8_t *scan_token(const uint8_t *q, const uint8_t *end)
{
	while (end - q >= 8) {
		uint64_t v, l, alpha, digit, x, dash, ok;

		memcpy(&v, q, 8);
		if (v & PL_HIGH)
			break;
		l = v | (PL_ONES * 0x20);
		alpha = (l + PL_ONES * (0x80 - 'a')) & ~(l + PL_ONES * (0x80 - 'z' - 1));
		digit = (v + PL_ONES * (0x80 - '0')) & ~(v + PL_ONES * (0x80 - '9' - 1));
		x = v ^ (PL_ONES * '-');
		dash = ~(x + PL_ONES * 0x7f);
		ok = (alpha | digit | dash) & PL_HIGH;
		if (ok != PL_HIGH) {
			q = stop_at(q, ~ok & PL_HIGH);
			break;
		}
		q += 8;
	}
	while (q < end && (cclass[*q] & CC_TOKEN))
		q++;
	return q;
}

/* The end of an origin-form URL: the first byte outside 0x21..0x7e, or end. */
static inline const uint8_t *scan_url(const uint8_t *q, const uint8_t *end)
{
	while (end - q >= 8) {
		uint64_t v, m;

		memcpy(&v, q, 8);
		m = (((v - PL_ONES * 0x21) & ~v) | v | (v + PL_ONES)) & PL_HIGH;
		if (m)
			return stop_at(q, m);
		q += 8;
	}
	while (q < end && (cclass[*q] & CC_URL))
		q++;
	return q;
}


static int fast_method(const uint8_t *p, size_t n)
{
	switch (n) {
	case 3:
		if (!memcmp(p, "GET", 3)) return HTTP_GET;
		if (!memcmp(p, "PUT", 3)) return HTTP_PUT;
		break;
	case 4:
		if (!memcmp(p, "POST", 4)) return HTTP_POST;
		if (!memcmp(p, "HEAD", 4)) return HTTP_HEAD;
		break;
	case 5:
		if (!memcmp(p, "PATCH", 5)) return HTTP_PATCH;
		break;
	case 6:
		if (!memcmp(p, "DELETE", 6)) return HTTP_DELETE;
		break;
	case 7:
		if (!memcmp(p, "OPTIONS", 7)) return HTTP_OPTIONS;
		break;
	}
	return -1;
}

/* "HTTP/1.0" or "HTTP/1.1" at p: the minor version, or -1. */
static int fast_version(const uint8_t *p)
{
	if (memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1'))
		return -1;
	return p[7] - '0';
}

/* Whether http_header_begin_value would keep anything of a header of this kind: the send
 * list, when there is one, decides there. */
static bool header_matters(bool send_list, enum hkind k)
{
	return send_list || (k != HK_OTHER && k < HK_CONNECTION);
}

/* The request line "METHOD /origin-form HTTP/1.x\r\n" at p: its method, URL and minor
 * version; returns where the headers begin, or NULL (not one the fast path takes). */
static inline __attribute__((always_inline)) const uint8_t *
fast_request_line(const uint8_t *p, const uint8_t *end, int *method, const uint8_t **url,
		  size_t *url_len, int *vmin)
{
	const uint8_t *sp = memchr(p, ' ', 8), *q;

	if (!sp || (*method = fast_method(p, (size_t)(sp - p))) < 0 || sp[1] != '/')
		return NULL;
	*url = sp + 1;
	q = scan_url(*url, end);
	*url_len = (size_t)(q - *url);
	if (end - q < 11 || *q != ' ' || (*vmin = fast_version(q + 1)) < 0 ||
	    q[9] != '\r' || q[10] != '\n')
		return NULL;
	return q + 11;
}

/* The status line "HTTP/1.x DDD phrase\r\n" at p (a status of 200 or more); returns where
 * the headers begin, or NULL. */
static inline __attribute__((always_inline)) const uint8_t *
fast_status_line(const uint8_t *p, const uint8_t *end, unsigned *status, const uint8_t **phrase,
		 size_t *phrase_len, int *vmin)
{
	const uint8_t *q;

	if ((*vmin = fast_version(p)) < 0 || p[8] != ' ' || p[12] != ' ' ||
	    p[9] < '2' || p[9] > '9' || p[10] < '0' || p[10] > '9' ||
	    p[11] < '0' || p[11] > '9')
		return NULL;
	*status = (unsigned)(p[9] - '0') * 100 + (unsigned)(p[10] - '0') * 10 +
		  (unsigned)(p[11] - '0');
	*phrase = q = p + 13;
	while (q < end && (cclass[*q] & (CC_URL | CC_VALUE)) && *q != '\t' && *q < 0x80)
		q++;
	*phrase_len = (size_t)(q - *phrase);
	if (end - q < 2 || q[0] != '\r' || q[1] != '\n')
		return NULL;
	return q + 2;
}

/* How the headers frame the message and use the connection. */
struct fast_framing {
	uint64_t clen;
	bool has_clen, keep_alive;
};

/* Classify one header (h->kind) and take what it says of framing into f; false when it
 * makes the head one for http-parser. */
static inline __attribute__((always_inline)) bool fast_header_kind(struct fast_hdr *h,
								  struct fast_framing *f)
{
	const uint8_t *val = h->value;

	/* what the header is to the event, and whether it changes how the message is framed
	 * or the connection used */
	h->kind = classify((const char *)h->name, h->name_len);
	/* http-parser can take a longer name that begins with "transfer-encoding" for that
	 * header (and then refuse the request): such heads are its to judge, so that both
	 * paths give the same event (tests/fuzz/regress/http/). */
	if (h->kind == HK_OTHER && h->name_len > 17 && lc_eq(h->name, 17, "transfer-encoding", 17))
		return false;
	switch (h->kind) {
	case HK_UPGRADE:
	case HK_PROXY_CONN:
	case HK_TE:
		return false;
	case HK_CONNECTION:
		if (f->keep_alive || !LC_EQ(val, h->value_len, "keep-alive"))
			return false;
		f->keep_alive = true;
		return true;
	case HK_CLEN:
		if (f->has_clen || h->value_len == 0 || h->value_len > 15)
			return false;
		for (size_t i = 0; i < h->value_len; i++) {
			if (val[i] < '0' || val[i] > '9')
				return false;
			f->clen = f->clen * 10 + (uint64_t)(val[i] - '0');
		}
		f->has_clen = true;
		return true;
	default:
		return true;
	}
}

/* Parse one message head at p[0..n) and, when it is an ordinary one, deliver it through
 * the on_* functions. Returns the head's length, or 0 (nothing done: use http-parser). */
size_t http_fast_head(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts)
{
	const uint8_t *end = p + PL_MIN(n, (size_t)FAST_HEAD_MAX);
	const uint8_t *q, *url = NULL, *phrase = NULL;
	struct fast_hdr h[FAST_HDR_MAX];
	struct fast_framing fr = { 0, false, false };
	size_t url_len = 0, phrase_len = 0;
	int nh = 0, method = 0, vmin = 0;
	unsigned status = 0;
	bool no_body, send_list;
	bool req = s->dir == PL_DIR_TO_SERVER;

	if (end - p < 16)
		return 0;
	q = req ? fast_request_line(p, end, &method, &url, &url_len, &vmin)
		: fast_status_line(p, end, &status, &phrase, &phrase_len, &vmin);
	if (!q)
		return 0;
	for (;;) {
		const uint8_t *name, *val;

		if (end - q < 2)
			return 0;
		if (q[0] == '\r') {
			if (q[1] != '\n')
				return 0;
			q += 2;
			break;
		}
		if (nh == FAST_HDR_MAX)
			return 0;
		name = q;
		q = scan_token(q, end);
		if (q == name || q >= end || *q != ':')
			return 0;
		h[nh].name = name;
		h[nh].name_len = (uint32_t)(q - name);
		q++;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		val = q;
		q = scan_value(q, end);
		/* CRLF, and no obs-fold continuation line after it */
		if (end - q < 3 || q[0] != '\r' || q[1] != '\n' || q[2] == ' ' || q[2] == '\t')
			return 0;
		h[nh].value = val;
		h[nh].value_len = (uint32_t)(q - val);
		q += 2;
		if (!fast_header_kind(&h[nh], &fr))
			return 0;
		nh++;
	}
	/* HTTP/1.0 keeps the connection only when asked to */
	if (vmin == 0 && !fr.keep_alive)
		return 0;
	if (req) {
		no_body = !fr.has_clen || fr.clen == 0;
	} else {
		if (status < 200)
			return 0;      /* interim and 101: http-parser's business */
		no_body = status == 204 || status == 304 || http_pending_is_head(c) ||
			  (fr.has_clen && fr.clen == 0);
		if (!no_body && !fr.has_clen)
			return 0;      /* delimited by the connection's close */
	}

	/* Accepted: from here on this is exactly what http-parser's callbacks would do. */
	c->env->stats->http_fast_heads++;
	s->ts = ts;
	if (http_on_begin(s) < 0) {
		s->in_msg = false;
		return 0;
	}
	if (req)
		on_url(s, (unsigned)method, (const char *)url, url_len);
	else
		on_status(s, 1, (unsigned)vmin, status, (const char *)phrase, phrase_len);
	/* read once: the calls below may write memory the compiler cannot tell from cfg */
	send_list = c->env->cfg->http.send_all_headers || c->env->cfg->http.n_send_headers;
	for (int i = 0; i < nh; i++) {
		/* a header the event neither sends nor needs leaves no trace: skip it */
		if (!header_matters(send_list, h[i].kind))
			continue;
		http_on_header_field(s, (const char *)h[i].name, h[i].name_len);
		on_header_value(s, (const char *)h[i].value, h[i].value_len, h[i].kind);
	}
	if (on_headers_done(s, 1, (unsigned)vmin, (unsigned)method, status) == 1)
		no_body = true;
	s->acc += (size_t)(q - p);
	if (no_body) {
		s->cur->end_ns = ts;
		http_finish_current(c, s);
	} else if (!req && http_probe_wanted(c)) {
		s->cur->end_ns = ts;        /* as read so far: the probe decides */
		s->probe_left = fr.clen;
	} else {
		s->fast_left = fr.clen;
	}
	return (size_t)(q - p);
}

/* Body bytes of a message http_fast_head began. */
size_t http_fast_body(struct hconn *c, struct hside *s, size_t n, uint64_t ts)
{
	size_t k = (size_t)PL_MIN((uint64_t)n, s->fast_left);

	s->ts = ts;
	s->cur->body_bytes += k;
	s->acc += k;
	s->fast_left -= k;
	if (s->fast_left == 0) {
		s->cur->end_ns = ts;
		http_finish_current(c, s);
	}
	return k;
}

/* --- responses whose request is not known: is there a body? ---
 *
 * A HEAD's response announces the Content-Length of the body it does not send. When the
 * request a response answers is known, its method decides (http_pending_is_head). When it is
 * not (lost, or captured after the response, or pairing is uncertain after a gap), the head
 * is read and the decision waits: the next bytes beginning a status line ("HTTP/1.") end the
 * response at its head; any other byte is its body; a request seen meanwhile decides by its
 * method when it is the one answered, or, when request bytes were lost, by the client's
 * order (a request begun after the head ended, nothing after the head: the response was
 * whole, and answered a request the capture lacks).
 * A response read without its body when its request is not known to be HEAD says so
 * (NOTE_NOBODY); pairing with a HEAD clears that. */

static const char status_start[] = "HTTP/1.";

bool http_probe_wanted(const struct hconn *c)
{
	const struct hside *rq = &c->side[PL_DIR_TO_SERVER];

	if (c->pend.late || orph_head(c) || c->req_gap)
		return true;
	if (pend_head(c))
		return false;
	return !(rq->in_msg && rq->cur && !rq->cur->resp && !rq->cur->emitted);
}

/* The probed response ends at its head; the bytes held begin the next one. */
static void probe_bodyless(struct hconn *c, struct hside *s, bool unsure)
{
	uint8_t held = s->nprobe;
	uint64_t ts = s->probe_ts;

	http_probe_clear(s);
	if (unsure)
		s->cur->notes |= NOTE_NOBODY;
	http_finish_current(c, s);
	if (held && s->mode == MODE_SYNC)
		http_feed(c, s, (const uint8_t *)status_start, held, ts);
}

void http_probe_as_body(struct hconn *c, struct hside *s, uint64_t ts)
{
	uint8_t held = s->nprobe;

	s->fast_left = s->probe_left;
	http_probe_clear(s);
	if (held && http_fast_body(c, s, held, ts) < held)
		http_start_hunt(c, s, false);   /* more held than the body: not a message start */
}

size_t http_probe_bytes(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts)
{
	size_t k = 0;

	if (s->nprobe == 0)
		s->probe_ts = ts;
	while (k < n && s->nprobe < sizeof(status_start) - 1 && p[k] == (uint8_t)status_start[s->nprobe]) {
		s->nprobe++;
		k++;
	}
	if (s->nprobe == sizeof(status_start) - 1)
		probe_bodyless(c, s, true);
	else if (k < n)
		http_probe_as_body(c, s, ts);
	return k;
}

void http_probe_request(struct hconn *c, const struct hmsg *req)
{
	struct hside *r = &c->side[PL_DIR_TO_CLIENT];
	bool head = req->method == HTTP_HEAD;

	if (!r->probe_left || !r->cur)
		return;
	if (!c->req_gap && !c->pend.late && !pend_head(c) && !orph_head(c)) {
		/* the request the response answers: its method decides */
		if (head)
			probe_bodyless(c, r, false);
		else
			http_probe_as_body(c, r, r->probe_ts);
		return;
	}
	if (r->nprobe == 0 && c->req_lost && req->start_ns > r->cur->end_ns)
		probe_bodyless(c, r, true);
}
