/* http2.c – HTTP/2 streams of one connection and their events: the stream table (bounded,
 * open addressing by stream id), the header fields each stream keeps (pseudo-headers, the
 * headers HTTP/1 keeps, redaction as protocols.http configures), stream ends, resets and
 * GOAWAY, one pl_event per stream, the pl_http2_* calls of include/pktlog/http2.h.
 * Framing and HPACK are http2_frames.c's; gRPC fields http2_grpc.c's; pl_http2_ops
 * http2_detect.c's.
 * Must not: format JSON, parse frames, grow memory without bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http2_int.h"
#include "http_host.h"

#define H2_FREELIST_MAX 256u
#define H2_USER_MAX 128u

enum { RED_NONE = 0, RED_STAR, RED_COOKIE };

static _Thread_local struct h2_stream *free_head;
static _Thread_local uint32_t free_n;
static _Thread_local uint64_t mem_bytes;   /* streams and kept bytes of this thread */

static bool budget(const struct pl_http2 *h, size_t more)
{
	return mem_bytes + more <= (uint64_t)h->env->cfg->http.max_memory_mb << 20;
}

static struct h2_stream *stream_new(struct pl_http2 *h)
{
	struct h2_stream *s = free_head;
	char *buf;
	uint32_t cap;

	if (s) {
		free_head = s->next;
		free_n--;
	} else {
		if (!budget(h, sizeof(*s)) || !(s = malloc(sizeof(*s))))
			return NULL;
		mem_bytes += sizeof(*s);
		s->buf = NULL;
		s->cap = 0;
	}
	buf = s->buf;
	cap = s->cap;
	memset(s, 0, sizeof(*s));
	s->buf = buf;
	s->cap = cap;
	return s;
}

static void stream_free(struct h2_stream *s)
{
	if (free_n >= H2_FREELIST_MAX) {
		mem_bytes -= sizeof(*s) + s->cap;
		free(s->buf);
		free(s);
		return;
	}
	s->next = free_head;
	free_head = s;
	free_n++;
}

/* --- the stream table: linear probing on sid/2, backward-shift deletion --- */

#define H2_SLOTS (2 * H2_MAX_STREAMS)

static uint32_t slot_of(uint32_t sid)
{
	return (sid >> 1) & (H2_SLOTS - 1);
}

struct h2_stream *h2_stream_find(struct pl_http2 *h, uint32_t sid)
{
	for (uint32_t i = slot_of(sid), k = 0; k < H2_SLOTS; i = (i + 1) & (H2_SLOTS - 1), k++) {
		struct h2_stream *s = h->slot[i];

		if (!s)
			return NULL;
		if (s->sid == sid)
			return s;
	}
	return NULL;
}

static void table_add(struct pl_http2 *h, struct h2_stream *s)
{
	uint32_t i = slot_of(s->sid);

	while (h->slot[i])
		i = (i + 1) & (H2_SLOTS - 1);
	h->slot[i] = s;
	h->n_streams++;
}

static void table_del(struct pl_http2 *h, struct h2_stream *s)
{
	uint32_t i = slot_of(s->sid), j;

	while (h->slot[i] != s)
		i = (i + 1) & (H2_SLOTS - 1);
	h->slot[i] = NULL;
	h->n_streams--;
	/* move back later entries of the run whose home lies at or before the hole */
	for (j = (i + 1) & (H2_SLOTS - 1); h->slot[j]; j = (j + 1) & (H2_SLOTS - 1)) {
		uint32_t home = slot_of(h->slot[j]->sid);

		if (((j - home) & (H2_SLOTS - 1)) >= ((j - i) & (H2_SLOTS - 1))) {
			h->slot[i] = h->slot[j];
			h->slot[j] = NULL;
			i = j;
		}
	}
}

static struct h2_stream *stream_open(struct pl_http2 *h, uint32_t sid, uint64_t ts)
{
	struct h2_stream *s;

	if (h->n_streams >= H2_MAX_STREAMS) {
		h->env->stats->http2_streams_dropped++;
		return NULL;
	}
	if (!(s = stream_new(h))) {
		h->env->stats->http_memory_limited++;
		h->env->stats->http2_streams_dropped++;
		return NULL;
	}
	s->sid = sid;
	s->start_ns = ts;
	s->last_ns = ts;
	/* a direction already lost cannot tell this stream's side */
	for (int d = 0; d < 2; d++)
		if (h->d[d].dead)
			s->m[d].notes |= H2N_FRAMING;
	table_add(h, s);
	h->env->stats->http2_streams++;
	return s;
}

/* --- kept strings --- */

static bool keep(struct pl_http2 *h, struct h2_stream *s, struct h2_span *sp, const uint8_t *p,
		 size_t n, uint8_t *notes)
{
	if (!n) {
		*sp = (struct h2_span){ s->len, 0 };   /* no bytes: s->buf may not exist yet */
		return true;
	}
	if (n > H2_VALUE_MAX || s->len + n > H2_KEEP_MAX)
		goto cut;
	if (s->len + n > s->cap) {
		uint32_t ncap = s->cap ? s->cap : 256;
		char *nb;

		while (ncap < s->len + n)
			ncap *= 2;
		ncap = PL_MIN(ncap, H2_KEEP_MAX);
		if (!budget(h, ncap - s->cap) || !(nb = realloc(s->buf, ncap))) {
			h->env->stats->http_memory_limited++;
			goto cut;
		}
		mem_bytes += ncap - s->cap;
		s->buf = nb;
		s->cap = ncap;
	}
	memcpy(s->buf + s->len, p, n);
	*sp = (struct h2_span){ s->len, (uint32_t)n };
	s->len += (uint32_t)n;
	return true;
cut:
	if (!(*notes & H2N_TRUNC))
		h->env->stats->http_truncated++;
	*notes |= H2N_TRUNC;
	return false;
}

static struct pl_str str_of(const struct h2_stream *s, struct h2_span sp)
{
	if (!sp.len)
		return (struct pl_str){ "", 0 };
	return (struct pl_str){ s->buf + sp.off, sp.len };
}

/* --- header blocks --- */

struct h2_stream *h2_block_begin(struct pl_http2 *h, int dir, uint32_t sid, bool promised,
				 uint64_t ts)
{
	struct h2_stream *s = h2_stream_find(h, sid);

	if (promised) {
		if (s || !sid || (sid & 1) || !(s = stream_open(h, sid, ts)))
			return NULL;
		s->pushed = true;
		s->m[0].ended = true;    /* a promised request has no body */
		s->blk[dir] = 0;
		return s;
	}
	if (dir == PL_DIR_TO_SERVER && !s) {
		if (!(sid & 1) || sid <= h->max_client_sid)
			return NULL;     /* closed (or never tracked) */
		h->max_client_sid = sid;
		if (!(s = stream_open(h, sid, ts)))
			return NULL;
	}
	if (!s && dir == PL_DIR_TO_CLIENT && (sid & 1) && sid > h->max_client_sid) {
		/* a response to a request not seen (lost in the capture, or still to come):
		 * the response is reported; the request side says why it is absent */
		h->max_client_sid = sid;
		s = stream_open(h, sid, ts);
	}
	if (!s)
		return NULL;
	s->blk[dir] = (uint8_t)dir;
	if (dir == PL_DIR_TO_CLIENT && !s->resp_ns)
		s->resp_ns = ts;
	return s;
}

static bool name_is(const uint8_t *n, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(n, lit, len) == 0;
}

static bool in_send_list(const struct pl_config *cfg, const uint8_t *n, size_t len)
{
	for (int i = 0; i < cfg->http.n_send_headers; i++)
		if (name_is(n, len, cfg->http.send_headers[i]))
			return true;
	return false;
}

/* The user of "Basic base64(user:pass)"; the password never leaves this frame. */
static size_t basic_user(const uint8_t *v, size_t n, char *out, size_t cap)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char dec[256];
	size_t dn = 0, i = 6, un = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (n < 7 || strncasecmp((const char *)v, "basic ", 6))
		return 0;
	for (; i < n && dn < sizeof(dec); i++) {
		const char *c = v[i] ? memchr(b64, v[i], 64) : NULL;

		if (!c)
			break;
		acc = acc << 6 | (uint32_t)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			dec[dn++] = (char)(acc >> bits & 0xff);
		}
	}
	while (un < dn && dec[un] != ':')
		un++;
	un = un == dn ? 0 : PL_MIN(un, cap);
	memcpy(out, dec, un);
	explicit_bzero(dec, sizeof(dec));
	return un;
}

/* Pseudo-header fields: only in a message's first block. */
static void pseudo(struct pl_http2 *h, struct h2_stream *s, struct h2_msg *m, const uint8_t *n,
		   size_t nl, const uint8_t *v, size_t vl)
{
	struct h2_span *dst = NULL;

	if (name_is(n, nl, ":method"))
		dst = &m->method;
	else if (name_is(n, nl, ":path"))
		dst = &m->path;
	else if (name_is(n, nl, ":authority"))
		dst = &m->authority;
	else if (name_is(n, nl, ":scheme"))
		dst = &m->scheme;
	else if (name_is(n, nl, ":status") && vl == 3 && v[0] >= '1' && v[0] <= '9' &&
		 v[1] >= '0' && v[1] <= '9' && v[2] >= '0' && v[2] <= '9')
		m->status = (uint16_t)((v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0'));
	if (dst && !dst->len)
		keep(h, s, dst, v, vl, &m->notes);
}

void h2_block_field(struct pl_http2 *h, struct h2_stream *s, int dir, const uint8_t *n,
		    size_t nl, const uint8_t *v, size_t vl)
{
	const struct pl_config *cfg = h->env->cfg;
	struct h2_msg *m = &s->m[s->blk[dir]];
	struct h2_span *need = NULL, tmp;
	uint8_t red = RED_NONE;
	bool send, clen = name_is(n, nl, "content-length"), ctype = name_is(n, nl, "content-type");

	if (nl && n[0] == ':') {
		if (!m->head)
			pseudo(h, s, m, n, nl, v, vl);
		return;
	}
	send = clen || ctype || cfg->http.send_all_headers || in_send_list(cfg, n, nl);
	if (ctype)
		need = &m->ctype;
	else if (name_is(n, nl, "user-agent"))
		need = &m->ua;
	else if (name_is(n, nl, "referer"))
		need = &m->referer;
	else if (name_is(n, nl, "x-forwarded-for"))
		need = &m->xff;
	else if (name_is(n, nl, "host"))
		need = &m->host;
	else if (name_is(n, nl, "grpc-status"))
		need = &m->grpc_status;
	else if (name_is(n, nl, "grpc-message"))
		need = &m->grpc_message;
	if (need && !need->len)
		keep(h, s, need, v, vl, &m->notes);
	if (clen)
		m->has_clen = true;
	if ((name_is(n, nl, "authorization") || name_is(n, nl, "proxy-authorization")) &&
	    cfg->http.redact_authorization)
		red = RED_STAR;
	if ((name_is(n, nl, "cookie") || name_is(n, nl, "set-cookie")) && cfg->http.redact_cookies)
		red = RED_COOKIE;
	if (name_is(n, nl, "authorization") && !m->user.len) {
		char user[H2_USER_MAX];
		size_t un = basic_user(v, vl, user, sizeof(user));

		if (un)
			keep(h, s, &m->user, (const uint8_t *)user, un, &m->notes);
	}
	if (!send)
		return;
	if (m->n_hdr >= PL_EVENT_MAX_HEADERS) {
		if (!(m->notes & H2N_TRUNC))
			h->env->stats->http_truncated++;
		m->notes |= H2N_TRUNC;
		return;
	}
	tmp = (struct h2_span){ 0, 0 };
	if (!keep(h, s, &m->hdr[m->n_hdr].name, n, nl, &m->notes) ||
	    (red == RED_NONE && !keep(h, s, &tmp, v, vl, &m->notes)))
		return;
	m->hdr[m->n_hdr].value = tmp;
	m->hdr[m->n_hdr].redact = red;
	m->n_hdr++;
}

static void emit_stream(struct pl_http2 *h, struct h2_stream *s);

void h2_block_end(struct pl_http2 *h, struct h2_stream *s, int dir, bool end_stream,
		  bool readable)
{
	struct h2_msg *m = &s->m[s->blk[dir]];

	if (readable && !m->head) {
		if (dir == PL_DIR_TO_CLIENT && s->blk[dir] == 1 && m->status >= 100 &&
		    m->status < 200) {
			m->status = 0;   /* interim (1xx): the next block is the final head */
		} else {
			m->head = true;
			if (str_of(s, m->ctype).len >= 16 &&
			    !strncasecmp(str_of(s, m->ctype).p, "application/grpc", 16))
				s->grpc = true;
		}
	}
	if (end_stream)
		h2_stream_end(h, s->sid, dir, h->d[dir].frame_ts);
}

/* --- stream events from frames --- */

void h2_stream_bytes(struct pl_http2 *h, uint32_t sid, int dir, uint64_t n, uint64_t ts)
{
	struct h2_stream *s = h2_stream_find(h, sid);

	if (!s)
		return;
	s->m[dir].bytes += n;
	s->last_ns = ts;
}

void h2_stream_data(struct pl_http2 *h, uint32_t sid, int dir, const uint8_t *p, size_t n)
{
	struct h2_stream *s = h2_stream_find(h, sid);

	if (!s)
		return;
	s->m[dir].body += n;
	if (s->grpc)
		h2_grpc_data(&s->m[dir], p, n);
}

void h2_stream_data_lost(struct pl_http2 *h, uint32_t sid, int dir, uint64_t n)
{
	struct h2_stream *s = h2_stream_find(h, sid);

	if (!s)
		return;
	s->m[dir].body += n;
	if (s->grpc)
		h2_grpc_lost(&s->m[dir], n);
}

void h2_stream_note(struct pl_http2 *h, uint32_t sid, int dir, uint8_t note)
{
	struct h2_stream *s = h2_stream_find(h, sid);

	if (s)
		s->m[dir].notes |= note;
}

static void stream_done(struct pl_http2 *h, struct h2_stream *s)
{
	emit_stream(h, s);
	table_del(h, s);
	stream_free(s);
}

void h2_stream_end(struct pl_http2 *h, uint32_t sid, int dir, uint64_t ts)
{
	struct h2_stream *s = h2_stream_find(h, sid);

	if (!s)
		return;
	s->m[dir].ended = true;
	s->last_ns = ts;
	/* with one direction lost, the other's end is the stream's */
	if ((s->m[1].ended && (s->m[0].ended || h->d[PL_DIR_TO_SERVER].dead)) ||
	    (s->m[0].ended && h->d[PL_DIR_TO_CLIENT].dead))
		stream_done(h, s);
}

void h2_stream_reset(struct pl_http2 *h, uint32_t sid, int dir, uint32_t code, uint64_t ts)
{
	struct h2_stream *s = h2_stream_find(h, sid);

	if (!s)
		return;
	s->reset = true;
	s->reset_by = (uint8_t)dir;
	s->reset_code = code;
	s->last_ns = ts;
	stream_done(h, s);
}

void h2_goaway(struct pl_http2 *h, int dir, uint32_t last_sid, uint32_t code)
{
	for (uint32_t i = 0; i < H2_SLOTS; i++) {
		struct h2_stream *s = h->slot[i];
		/* the sender of GOAWAY did not process the peer's streams above last_sid */
		bool peers = dir == PL_DIR_TO_CLIENT ? (s && (s->sid & 1)) : (s && !(s->sid & 1));

		if (s && ((peers && s->sid > last_sid) || code != 0) && !s->goaway) {
			s->goaway = true;
			s->goaway_by = (uint8_t)dir;
			s->goaway_code = code;
		}
	}
}

void h2_dir_lost(struct pl_http2 *h, int dir)
{
	for (uint32_t i = 0; i < H2_SLOTS; i++) {
		struct h2_stream *s = h->slot[i];

		if (!s || s->m[dir].ended)
			continue;
		s->m[dir].notes |= H2N_FRAMING;
		/* the other side is over: nothing more can come for this stream */
		if (s->m[!dir].ended) {
			stream_done(h, s);
			i = (uint32_t)-1;
		}
	}
}

/* --- the event --- */

static const char *const err_names[] = {
	"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
	"STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
	"CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
};

static const struct { uint8_t note; const char *text[2]; } note_text[] = {
	{ H2N_HPACK, { "Request headers unreadable: HPACK state lost earlier on the connection",
		       "Response headers unreadable: HPACK state lost earlier on the connection" } },
	{ H2N_LOSS, { "Packet loss while capturing the request",
		      "Packet loss while capturing the response" } },
	{ H2N_FRAMING, { "HTTP/2 framing lost in the request direction (gap or parse error)",
			 "HTTP/2 framing lost in the response direction (gap or parse error)" } },
	{ H2N_EOF, { "Request incomplete when the connection ended",
		     "Response incomplete when the connection ended" } },
	{ H2N_TIMEOUT, { "Request incomplete when the connection went idle (flows.idle_timeout)",
			 "Response incomplete when the connection went idle (flows.idle_timeout)" } },
	{ H2N_TRUNC, { "Request head kept in part (size limits)",
		       "Response head kept in part (size limits)" } },
	{ H2N_GRPC_LOST, { "gRPC request messages not counted (framing lost)",
			   "gRPC response messages not counted (framing lost)" } },
};

static void code_note(char *out, size_t cap, const char *what, int by, uint32_t code)
{
	const char *name = code < PL_ARRAY_LEN(err_names) ? err_names[code] : NULL;
	const char *who = by == PL_DIR_TO_SERVER ? "client" : "server";

	if (name)
		snprintf(out, cap, "%s by the %s (%s)", what, who, name);
	else
		snprintf(out, cap, "%s by the %s (error code 0x%x)", what, who, code);
}

static void fill_msg(const struct h2_stream *s, const struct h2_msg *m, struct pl_http_msg *out,
		     struct pl_header *hdrs, char *digits)
{
	int n = 0;

	out->bytes = m->bytes;
	out->body_bytes = m->body;
	out->mime_type = str_of(s, m->ctype);
	for (int i = 0; i < m->n_hdr; i++) {
		hdrs[n].name = str_of(s, m->hdr[i].name);
		hdrs[n].value = m->hdr[i].redact == RED_STAR ? (struct pl_str){ "*", 1 } :
				m->hdr[i].redact == RED_COOKIE ? (struct pl_str){ "REDACTED", 8 } :
				str_of(s, m->hdr[i].value);
		n++;
	}
	if (!m->has_clen && m->head && m->ended) {
		/* as HTTP/1: without the header, content-length is the body as measured */
		char *d = pl_u64_digits(m->body, digits + 24);

		if (n == PL_EVENT_MAX_HEADERS)
			n--;
		hdrs[n].name = (struct pl_str){ "content-length", 14 };
		hdrs[n].value = (struct pl_str){ d, (size_t)(digits + 24 - d) };
		n++;
	}
	out->headers = hdrs;
	out->n_headers = n;
}

static void fill_request(const struct h2_stream *s, struct pl_event *ev, struct pl_header *hdrs,
			 char *digits)
{
	const struct h2_msg *m = &s->m[0];
	struct pl_event_http *e = &ev->http;
	struct pl_str path = str_of(s, m->path);
	const char *q = memchr(path.p, '?', path.len);

	e->has_request = true;
	ev->start_ns = s->start_ns;
	ev->client.bytes = m->bytes;
	e->method = str_of(s, m->method);
	e->path = q ? (struct pl_str){ path.p, (size_t)(q - path.p) } : path;
	e->query = q ? (struct pl_str){ q + 1, path.len - (size_t)(q - path.p) - 1 }
		     : (struct pl_str){ "", 0 };
	pl_http_split_host(str_of(s, m->authority.len ? m->authority : m->host), e);
	e->user_agent = str_of(s, m->ua);
	e->referrer = str_of(s, m->referer);
	e->forwarded_ip = str_of(s, m->xff);
	if (memchr(e->forwarded_ip.p, ',', e->forwarded_ip.len))
		e->forwarded_ip.len = (size_t)((const char *)memchr(e->forwarded_ip.p, ',',
						e->forwarded_ip.len) - e->forwarded_ip.p);
	while (e->forwarded_ip.len && e->forwarded_ip.p[e->forwarded_ip.len - 1] == ' ')
		e->forwarded_ip.len--;
	e->user_name = str_of(s, m->user);
	fill_msg(s, m, &e->request, hdrs, digits);
}

static void add_notes(struct pl_event *ev, const struct h2_stream *s)
{
	for (size_t i = 0; i < PL_ARRAY_LEN(note_text); i++)
		for (int d = 0; d < 2; d++)
			if (s->m[d].notes & note_text[i].note)
				pl_event_add_error(ev, note_text[i].text[d]);
}

static void emit_stream(struct pl_http2 *h, struct h2_stream *s)
{
	struct pl_event ev;
	struct pl_event_http2 x;
	struct pl_header hdrs[2][PL_EVENT_MAX_HEADERS];
	char digits[2][24], rst[80], ga[80];
	const struct h2_msg *rq = &s->m[0], *rs = &s->m[1];
	bool req = rq->head || rq->bytes || s->upgraded, resp = rs->head || rs->bytes;

	pl_event_begin(&ev, PL_EV_HTTP, h->conn);
	memset(&x, 0, sizeof(x));
	ev.http.h2 = &x;
	ev.http.version = (struct pl_str){ "2", 1 };
	x.stream_id = s->sid;
	x.scheme = str_of(s, rq->scheme);
	/* the Upgrade's request came as HTTP/1.1 in clear: its scheme is HTTP/1.x's */
	x.url_scheme = s->upgraded ? (struct pl_str){ "http", 4 } : x.scheme;
	x.pushed = s->pushed;
	if (s->reset && (s->reset_code || !rq->ended || !rs->ended)) {
		code_note(rst, sizeof(rst), "Stream reset", s->reset_by, s->reset_code);
		pl_event_add_error(&ev, rst);
	}
	if (s->goaway && (!rq->ended || !rs->ended || s->goaway_code)) {
		code_note(ga, sizeof(ga), "Connection closed with GOAWAY", s->goaway_by,
			  s->goaway_code);
		pl_event_add_error(&ev, ga);
	}
	add_notes(&ev, s);
	if (req && (rq->head || s->upgraded)) {
		fill_request(s, &ev, hdrs[0], digits[0]);
	} else if (req) {
		/* request headers unreadable: only its bytes are known */
		ev.start_ns = s->start_ns;
		ev.client.bytes = rq->bytes;
	}
	if (resp) {
		ev.http.has_response = true;
		ev.end_ns = s->resp_ns ? s->resp_ns : s->last_ns;
		ev.server.bytes = rs->bytes;
		ev.http.status_code = rs->status;   /* 0: not read, the field is left out */
		if (!rs->status)
			pl_event_add_error(&ev, "Response status not read (no final :status seen)");
		fill_msg(s, rs, &ev.http.response, hdrs[1], digits[1]);
	}
	if (s->grpc)
		h2_grpc_fill(s, &x);
	ev.ok = req && rq->head && resp && rs->status > 0 && rs->status < 400 &&
		!(s->reset && s->reset_code) && (!x.grpc || (x.has_grpc_status && !x.grpc_status));
	if (ev.ok)
		h->env->stats->http_transactions_ok++;
	else
		h->env->stats->http_transactions_error++;
	h->env->emit(&ev, h->env->emit_arg);
}

/* --- the connection --- */

struct pl_http2 *pl_http2_takeover(const struct pl_conn *conn, const struct pl_proto_env *env,
				   const struct pl_http2_upgrade *up, uint64_t ts)
{
	struct pl_http2 *h = calloc(1, sizeof(*h));
	struct h2_stream *s;

	if (!h)
		return NULL;
	h->conn = conn;
	h->env = env;
	h->last_ns = ts;
	if (h2_frames_init(h, up != NULL) != 0) {
		free(h);
		return NULL;
	}
	if (!up)
		return h;
	/* stream 1 is the upgraded request, half closed by the client (RFC 7540 §3.2) */
	h->max_client_sid = 1;
	if (!(s = stream_open(h, 1, up->start_ns)))
		return h;
	s->upgraded = true;
	s->m[0].head = true;
	s->m[0].ended = true;
	s->m[0].bytes = up->request_bytes;
	s->m[0].body = up->request_body_bytes;
	s->m[1].bytes = up->response_bytes;
	keep(h, s, &s->m[0].method, (const uint8_t *)up->method.p, up->method.len, &s->m[0].notes);
	keep(h, s, &s->m[0].path, (const uint8_t *)up->target.p, up->target.len, &s->m[0].notes);
	keep(h, s, &s->m[0].host, (const uint8_t *)up->host.p, up->host.len, &s->m[0].notes);
	keep(h, s, &s->m[0].ua, (const uint8_t *)up->user_agent.p, up->user_agent.len,
	     &s->m[0].notes);
	s->m[0].has_clen = true;
	return h;
}

void pl_http2_data(struct pl_http2 *h, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	h->last_ns = ts;
	h2_frames_data(h, dir, p, n, ts);
}

void pl_http2_gap(struct pl_http2 *h, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	h->last_ns = ts;
	h2_frames_gap(h, dir, len, ts);
}

/* An open stream on a live connection is not a timed-out transaction: a server-streaming
 * RPC may send a message a minute, a long poll wait for hours. A stream ends with its
 * END_STREAMs, a RST_STREAM, or the connection (FIN, RST, flows.idle_timeout of silence,
 * eviction, end of input); memory stays bounded by the 128 streams of a connection and
 * protocols.http.max_memory_mb. protocols.http.transaction_timeout is HTTP/1's. */
void pl_http2_idle(struct pl_http2 *h, uint64_t now)
{
	(void)h;
	(void)now;
}

void pl_http2_close(struct pl_http2 *h, enum pl_close_reason why, uint64_t ts)
{
	uint8_t note = why == PL_CLOSE_TIMEOUT ? H2N_TIMEOUT : H2N_EOF;

	(void)ts;
	for (uint32_t i = 0; i < H2_SLOTS; i++) {
		struct h2_stream *s = h->slot[i];

		if (!s)
			continue;
		for (int d = 0; d < 2; d++)
			if (!s->m[d].ended)
				s->m[d].notes |= note;
		stream_done(h, s);
		i = (uint32_t)-1;
	}
	h2_frames_free(h);
	free(h);
}

/* --- per-thread cache --- */

void h2_thread_cleanup(void)
{
	while (free_head) {
		struct h2_stream *s = free_head;

		free_head = s->next;
		mem_bytes -= sizeof(*s) + s->cap;
		free(s->buf);
		free(s);
	}
	free_n = 0;
}
