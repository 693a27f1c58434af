/* http_parse.c – the http-parser driven path, and what a message's parts do to its record
 * (the on_* functions, shared with the fast path in http_fast.c): header classification,
 * kept and redacted headers, the Basic user, feeding http-parser and its errors.
 * Must not: pair messages, fill events, or resynchronise (http.c does). */
#include <limits.h>
#include <string.h>
#include <strings.h>
#include "pktlog/swar.h"
#include "http_int.h"

/* --- http-parser callbacks --- */

static struct hside *side_of(http_parser *p)
{
	struct hconn *c = p->data;

	return p == &c->side[0].p ? &c->side[0] : &c->side[1];
}

/* The on_* functions are what a message's parts do to the record; http-parser's callbacks
 * and the fast path (http_fast_head) both call them, in the same order with the same bytes. */
int http_on_begin(struct hside *s)
{
	if (s->cur)
		http_release_msg(s->c, s->cur);   /* rare: a message abandoned unfinished */
	s->cur = http_msg_get(s->c);
	if (!s->cur)
		return -1;
	s->cur->start_ns = s->ts;
	if (s->dir == PL_DIR_TO_SERVER && orph_head(s->c))
		http_claim_orphan(s->c, s->cur);
	if (s->dir == PL_DIR_TO_SERVER && s->c->req_gap && !orph_head(s->c) && !pend_head(s->c) &&
	    !s->c->side[PL_DIR_TO_CLIENT].in_msg)
		s->c->req_gap = s->c->req_lost = false;   /* every response so far is accounted for */
	if (s->dir == PL_DIR_TO_SERVER &&
	    __builtin_expect(s->unsure || s->c->side[PL_DIR_TO_CLIENT].unsure, 0))
		http_unsure_settle(s->c, true);
	s->in_msg = true;
	s->in_body = false;
	s->hstate = HS_NONE;
	return 0;
}

static int cb_message_begin(http_parser *p)
{
	return http_on_begin(side_of(p));
}

static int cb_url(http_parser *p, const char *at, size_t len)
{
	struct hside *s = side_of(p);

	on_url(s, p->method, at, len);
	if ((const uint8_t *)at + len == s->feed_end)
		s->line_open = true;   /* the URL goes on past these bytes */
	return 0;
}

static int cb_status(http_parser *p, const char *at, size_t len)
{
	on_status(side_of(p), p->http_major, p->http_minor, p->status_code, at, len);
	return 0;
}

static bool in_send_list(const struct pl_config *cfg, const char *name, size_t len)
{
	for (int i = 0; i < cfg->http.n_send_headers; i++) {
		const char *h = cfg->http.send_headers[i];
		if (h && strlen(h) == len && !strncasecmp(h, name, len))
			return true;
	}
	return false;
}

/* Name complete: decide what of this header is kept. `known` is its kind when the caller
 * classified the name already (the fast path), or HK_NONE. */
void http_header_begin_value(struct hside *s, enum hkind known)
{
	const struct pl_config *cfg = s->c->env->cfg;
	bool req = s->dir == PL_DIR_TO_SERVER;
	enum hkind k = known != HK_NONE ? known :
		       s->name_long ? HK_OTHER : classify(s->cur->name, s->name_len);
	bool need = false;

	s->hkind = k;
	s->hsend = k == HK_CLEN || k == HK_CTYPE || cfg->http.send_all_headers ||
		   in_send_list(cfg, s->cur->name, s->name_len);
	s->hredact = RED_NONE;
	if ((k == HK_AUTH || k == HK_PROXY_AUTH) && cfg->http.redact_authorization)
		s->hredact = RED_STAR;
	if ((k == HK_COOKIE || k == HK_SET_COOKIE) && cfg->http.redact_cookies)
		s->hredact = RED_COOKIE;
	if (req && (k == HK_HOST || k == HK_UA || k == HK_REFERER || k == HK_XFF))
		need = true;
	if (req && (k == HK_AUTH || k == HK_EXPECT))
		need = true;    /* for user.name; the credentials are wiped once decoded */
	if (k == HK_CTYPE)
		need = true;
	if (s->hsend && s->cur->n_hdr >= PL_EVENT_MAX_HEADERS) {
		s->hsend = false;
		if (!s->cur->truncated) {
			s->cur->truncated = true;
			s->c->env->stats->http_truncated++;
		}
	}
	s->hstore = need || (s->hsend && s->hredact == RED_NONE);
	s->hname = (struct span){ s->cur->len, 0 };
	if (s->hsend)
		field_append(s->c, s->cur, &s->hname, s->cur->name, s->name_len, HTTP_NAME_MAX);
	/* set here, not on first append, so an empty value still has a valid start */
	s->hval = (struct span){ s->cur->len, 0 };
}

/* Decode the user of "Basic base64(user:pass)"; the password never leaves this frame. */
static size_t basic_user(const char *v, size_t n, char *out, size_t cap)
{
	char dec[256];
	size_t dn = 0, i = 0, un = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (n < 6 || strncasecmp(v, "basic", 5) || (v[5] != ' ' && v[5] != '\t'))
		return 0;
	for (i = 5; i < n && (v[i] == ' ' || v[i] == '\t'); i++)
		;
	for (; i < n && dn < sizeof(dec); i++) {
		char ch = v[i];
		int d;

		if (ch >= 'A' && ch <= 'Z') d = ch - 'A';
		else if (ch >= 'a' && ch <= 'z') d = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9') d = ch - '0' + 52;
		else if (ch == '+' || ch == '-') d = 62;
		else if (ch == '/' || ch == '_') d = 63;
		else break;
		acc = (acc << 6) | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			dec[dn++] = (char)((acc >> bits) & 0xff);
		}
	}
	while (un < dn && dec[un] != ':')
		un++;
	if (un == dn)
		un = 0;   /* no ':' – not a user:password pair */
	if (un > cap)
		un = cap;
	memcpy(out, dec, un);
	explicit_bzero(dec, sizeof(dec));
	return un;
}

static void header_auth(struct hside *s, struct hmsg *m)
{
	char user[HTTP_USER_MAX];
	size_t un = basic_user(m->buf + s->hval.off, s->hval.len, user, sizeof(user));

	if (!s->hsend || s->hredact != RED_NONE) {
		/* The credentials were kept only to decode the user: wipe them. */
		explicit_bzero(m->buf + s->hval.off, s->hval.len);
		m->len = s->hval.off;
		s->hval.len = 0;
	}
	if (un == 0 || m->has_user)
		return;
	m->user = (struct span){ 0, 0 };
	field_append(s->c, m, &m->user, user, un, HTTP_USER_MAX);
	m->has_user = m->user.len > 0;
}

/* Repeated headers: the first one names the field (as Packetbeat does). */
static void take_first(const struct hside *s, bool *has, struct span *dst)
{
	if (!s->hstore || *has)
		return;
	*dst = s->hval;
	*has = true;
}

void http_header_end(struct hside *s)
{
	struct hmsg *m = s->cur;

	while (s->hval.len && (m->buf[s->hval.off + s->hval.len - 1] == ' ' ||
			       m->buf[s->hval.off + s->hval.len - 1] == '\t'))
		s->hval.len--;
	switch (s->hkind) {
	case HK_CLEN:
		m->has_clen = true;
		break;
	case HK_CTYPE:
		take_first(s, &m->has_ctype, &m->ctype);
		break;
	case HK_HOST:
		take_first(s, &m->has_host, &m->host);
		break;
	case HK_UA:
		take_first(s, &m->has_ua, &m->ua);
		break;
	case HK_REFERER:
		take_first(s, &m->has_referer, &m->referer);
		break;
	case HK_XFF:
		take_first(s, &m->has_xff, &m->xff);
		break;
	case HK_AUTH:
		if (s->hstore)
			header_auth(s, m);
		break;
	case HK_UPGRADE:
		if (s->dir == PL_DIR_TO_SERVER && http_h2c_found(s->up_st))
			m->h2c = true;
		break;
	case HK_EXPECT:
		if (s->dir == PL_DIR_TO_SERVER && s->hval.len == 12 &&
		    !strncasecmp(m->buf + s->hval.off, "100-continue", 12))
			m->expect_continue = true;
		break;
	default:
		break;
	}
	if (s->hsend && m->n_hdr < PL_EVENT_MAX_HEADERS && s->hname.len &&
	    (m->n_hdr < (int)m->hdr_cap || http_hdr_grow(s->c, m)))
		m->hdr[m->n_hdr++] = (struct kept_hdr){ s->hname, s->hval, s->hredact };
	s->hstate = HS_NONE;
}

/* Copy n bytes, 'A'..'Z' lower-cased, eight at a time; the last (n % 8) as a word that
 * overlaps the one before (lower-casing twice changes nothing). */
static inline void lower_copy(char *dst, const char *src, size_t n)
{
	uint64_t v;

	if (n >= 8) {
		for (size_t i = 0; i + 8 < n; i += 8) {
			memcpy(&v, src + i, 8);
			v = pl_lower64(v);
			memcpy(dst + i, &v, 8);
		}
		memcpy(&v, src + n - 8, 8);
		v = pl_lower64(v);
		memcpy(dst + n - 8, &v, 8);
		return;
	}
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)pl_lower8((uint8_t)src[i]);
}

void http_on_header_field(struct hside *s, const char *at, size_t len)
{
	s->cur->start_line_done = true;
	if (s->hstate == HS_VALUE)
		http_header_end(s);
	if (s->hstate != HS_FIELD) {
		s->hstate = HS_FIELD;
		s->name_len = 0;
		s->name_long = false;
	}
	size_t room = sizeof(s->cur->name) - s->name_len;
	size_t k = len < room ? len : room;

	lower_copy(s->cur->name + s->name_len, at, k);
	s->name_len += (uint32_t)k;
	if (k < len)
		s->name_long = true;
}

static int cb_header_field(http_parser *p, const char *at, size_t len)
{
	struct hside *s = side_of(p);

	if (!s->cur->has_version) {
		/* the request line ended: its version is read (the head may still be cut) */
		s->cur->vmaj = (uint8_t)p->http_major;
		s->cur->vmin = (uint8_t)p->http_minor;
		s->cur->has_version = true;
	}
	http_on_header_field(s, at, len);
	return 0;
}

static int cb_header_value(http_parser *p, const char *at, size_t len)
{
	struct hside *s = side_of(p);
	bool first = s->hstate != HS_VALUE;

	on_header_value(s, at, len, HK_NONE);
	if (s->hkind == HK_UPGRADE && s->dir == PL_DIR_TO_SERVER) {
		/* only http-parser sees Upgrade headers (the fast path declines them) */
		if (first)
			s->up_st = 0;
		http_h2c_scan(s, at, len);
	}
	return 0;
}

static int cb_headers_complete(http_parser *p)
{
	struct hside *s = side_of(p);
	int r = on_headers_done(s, p->http_major, p->http_minor, p->method, p->status_code);

	/* a Content-Length body on a response whose request is not known: read the head as a
	 * whole message, and let what follows decide (http_probe_bytes) */
	if (r == 0 && s->dir == PL_DIR_TO_CLIENT && !(p->flags & F_CHUNKED) &&
	    p->content_length > 0 && p->content_length != ULLONG_MAX &&
	    http_should_keep_alive(p) && http_probe_wanted(s->c)) {
		s->probe_left = p->content_length;
		return 1;
	}
	return r;
}

static int cb_body(http_parser *p, const char *at, size_t len)
{
	side_of(p)->cur->body_bytes += len;
	return 0;
}

static int cb_message_complete(http_parser *p)
{
	struct hside *s = side_of(p);

	s->cur->end_ns = s->ts;
	s->done = true;
	/* stop here so the caller knows exactly where this message ends */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = cb_message_begin,
	.on_url = cb_url,
	.on_status = cb_status,
	.on_header_field = cb_header_field,
	.on_header_value = cb_header_value,
	.on_headers_complete = cb_headers_complete,
	.on_body = cb_body,
	.on_message_complete = cb_message_complete,
};

/* --- feeding --- */

void http_side_reset(struct hconn *c, struct hside *s)
{
	http_parser_init(&s->p, s->dir == PL_DIR_TO_SERVER ? HTTP_REQUEST : HTTP_RESPONSE);
	s->p.data = c;
	s->done = false;
	s->fresh = true;
}

/* Request side, after a feed that left http-parser past the method but before the URL: when
 * this feed holds all of the message so far, and that is the method's name and spaces
 * (after CR/LF between messages), the method is read from the message's own bytes. A hole
 * that cuts the rest (the snap length after "HEAD ") leaves the request its method. */
static void method_read(struct hconn *c, struct hside *s, const uint8_t *p, size_t r)
{
	struct hmsg *m = s->cur;
	const char *name = http_method_str((enum http_method)s->p.method);
	size_t len = strlen(name), i;

	if (s->acc > r)
		return;   /* the message began in an earlier feed: not all of it is at hand */
	i = r - (size_t)s->acc;
	while (i < r && (p[i] == '\r' || p[i] == '\n'))
		i++;
	if (r - i <= len || memcmp(p + i, name, len))
		return;
	for (size_t k = i + len; k < r; k++)
		if (p[k] != ' ')
			return;
	m->method = (uint8_t)s->p.method;
	m->has_method = true;
	if (c->side[PL_DIR_TO_CLIENT].probe_left)
		http_probe_request(c, m);   /* as on_url does when it learns the method */
}

/* Feed bytes to the parser; returns how many it consumed (at least one unless n == 0). */
size_t http_feed(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts)
{
	size_t r;
	enum http_errno e;

	s->ts = ts;
	s->fresh = false;
	s->line_open = false;
	s->feed_end = p + n;
	r = http_parser_execute(&s->p, &settings, (const char *)p, n);
	s->acc += r;
	e = HTTP_PARSER_ERRNO(&s->p);
	if (e == HPE_PAUSED || s->done) {
		http_parser_pause(&s->p, 0);
		s->done = false;
		/* the parser is back at a message start unless the message ended the
		 * connection (then it refuses whatever follows) */
		s->fresh = http_should_keep_alive(&s->p) != 0;
		if (!s->probe_left)
			http_finish_current(c, s);
		return s->mode == MODE_DEAD ? n : r;
	}
	if (e == HPE_OK && r > 0 && s->dir == PL_DIR_TO_SERVER && s->in_msg && s->cur &&
	    !s->cur->has_method && !s->cur->start_line_done)
		method_read(c, s, p, r);
	if (e == HPE_OK && s->in_msg && s->cur && s->cur->has_method && !s->cur->start_line_done)
		s->line_open = true;   /* the method and its spaces read, the URL not begun */
	if (e == HPE_OK && (r > 0 || n == 0))
		return r;
	if (e != HPE_CB_message_begin)
		c->env->stats->http_parse_errors++;
	http_fail_current(c, s, e == HPE_HEADER_OVERFLOW ? NOTE_LIMIT : NOTE_PARSE);
	http_start_hunt(c, s, false);
	return r;
}

bool http_feed_eof(struct hside *s)
{
	http_parser_execute(&s->p, &settings, "", 0);
	if (HTTP_PARSER_ERRNO(&s->p) != HPE_PAUSED && !s->done)
		return false;
	http_parser_pause(&s->p, 0);
	s->done = false;
	return true;
}
