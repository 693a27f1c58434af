/* http.c – HTTP/1.x transactions from reassembled streams: parsing (http-parser), pipelined
 * request/response pairing (early responses included), gap and error resynchronisation, and
 * pl_event filling.
 * Must not: format JSON, store bodies, see TCP sequence numbers, or grow memory without bound. */
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <http_parser.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "pktlog/proto.h"
#include "pktlog/swar.h"
#include "txq.h"

/* Kept header/URL bytes per message are capped here (and by http.max_message_size). */
#define HTTP_KEEP_MAX 16384u
#define HTTP_VALUE_MAX 8192u      /* one kept header value */
#define HTTP_PHRASE_MAX 256u
#define HTTP_NAME_MAX 128u
#define HTTP_BUF_INIT 128u
#define HTTP_HDR_INIT 4u         /* kept header slots a record starts with */
#define HTTP_EVICT_SCAN 64u       /* idlest connections dropped at most per refused allocation */
#define HTTP_FREELIST_MAX 256u    /* records kept for reuse per thread */
#define HTTP_USER_MAX 128u

/* Why a message is incomplete. A note on a message whose head did not end says the head
 * was cut (the event then holds only what was read of it). */
enum {
	NOTE_LOSS = 1,     /* bytes missing from the capture (loss, or the snap length) */
	NOTE_PARSE = 2,    /* not HTTP that http-parser accepts */
	NOTE_EOF = 4,      /* the connection (or the capture) ended inside the message */
	NOTE_LIMIT = 8,    /* the head is longer than http-parser's limit (HTTP_MAX_HEADER_SIZE) */
	NOTE_STALLED = 16, /* request: answered, body still arriving when the transaction timed out */
	NOTE_MEMORY = 32,  /* the connection's state was dropped at protocols.http.max_memory_mb */
	NOTE_NORESP = 64,  /* request: unmatched after response bytes were lost (its own may be among them) */
};
enum { MODE_HUNT = 0, MODE_SYNC, MODE_DEAD };
enum { HS_NONE = 0, HS_FIELD, HS_VALUE };
enum { RED_NONE = 0, RED_STAR, RED_COOKIE };

/* Headers whose values the event needs whether or not they are sent. */
enum hkind {
	HK_OTHER = 0, HK_CLEN, HK_CTYPE, HK_HOST, HK_UA, HK_REFERER, HK_XFF,
	HK_AUTH, HK_PROXY_AUTH, HK_COOKIE, HK_SET_COOKIE,
	/* only the fast path looks at these (they change framing); to the event they are
	 * headers like any other */
	HK_CONNECTION, HK_UPGRADE, HK_PROXY_CONN, HK_TE,
	HK_NONE = -1,     /* not classified yet */
};

/* Methods accepted as a request start when resynchronising. */
static const char *const sync_methods[] = {
	"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ",
	"TRACE ", "PROPFIND ", "PROPPATCH ", "MKCOL ", "COPY ", "MOVE ", "LOCK ", "UNLOCK ",
	"SEARCH ", "REPORT ", "PURGE ",
};

struct span { uint32_t off, len; };

struct kept_hdr {
	struct span name, value;
	uint8_t redact;
};

/* One HTTP message: what the event needs, with its strings in buf. */
struct hmsg {
	struct pl_txq_node link;  /* in a connection's queue (pend, orph) or the free list */
	uint64_t start_ns, end_ns;
	uint64_t bytes, body_bytes;
	uint16_t status;
	uint8_t method, vmaj, vmin;
	uint8_t notes;
	bool start_line_done, headers_done, truncated;
	bool has_method, has_version;   /* read from this message's own bytes */
	bool emitted;             /* request: its event went out (timed out); drop it when done */
	struct hmsg *resp;        /* request: the response that answered it before it ended */
	struct span url, phrase, ctype, host, ua, referer, xff, user;
	bool has_ctype, has_host, has_ua, has_referer, has_xff, has_user, has_clen;
	int n_hdr;
	uint32_t len;
	/* kept across reuse (msg_get clears what is above) */
	char *buf;
	uint32_t cap;
	uint32_t hdr_cap;
	struct kept_hdr *hdr;     /* hdr_cap slots, grown up to PL_EVENT_MAX_HEADERS */
	char name[HTTP_NAME_MAX]; /* the header name being parsed (lower-cased) */
};

struct hconn;

struct hside {
	http_parser p;
	struct hconn *c;
	uint64_t pfx_ts;
	uint64_t ts;              /* packet time of the bytes being parsed */
	uint64_t last_ts;         /* packet time of this direction's latest bytes */
	uint64_t acc;             /* bytes fed since the last message boundary */
	uint64_t fast_left;       /* body bytes still due of a message the fast path began */
	struct hmsg *cur;
	/* header being parsed (its name is in cur->name) */
	struct span hname, hval;
	uint32_t name_len;
	uint8_t pfx[16];
	uint8_t npfx;
	uint8_t dir;
	uint8_t mode;
	uint8_t hstate;
	int8_t hkind;             /* enum hkind */
	uint8_t hredact;
	bool first;               /* nothing synced yet: the stream may start mid-message */
	bool line_start;
	bool in_msg, in_body, done;
	bool fresh;               /* http-parser is at a message start: the fast path may run */
	bool name_long;
	bool hsend, hstore;
};

struct hconn {
	const struct pl_conn *conn;
	const struct pl_proto_env *env;
	struct hside side[2];
	/* Ended requests waiting for their responses, oldest first; pend.late counts requests
	 * that left it unanswered (dropped when full, expired) whose responses may still come,
	 * in order. */
	struct pl_txq pend;
	/* Responses complete before any request they could answer was seen (the capture shows
	 * the directions out of order, or lost the request): each pairs with the next request
	 * if that began before the response ended, else goes out unmatched. */
	struct pl_txq orph;
	uint64_t interim_bytes;   /* 1xx responses so far: they count toward the final one */
	struct hstub *stub;       /* the flow's stub that points here */
	struct hconn *lru_prev, *lru_next;   /* per thread, most recently active first */
	/* Request bytes were lost or skipped since the pairing was last known whole: a held
	 * response may answer a request the capture lacks. */
	bool req_gap;
	/* Response bytes were lost and no whole response has been read since: a request that
	 * goes out unmatched may have had its response in the hole. */
	bool resp_lost;
	uint32_t keep_cap;
};

/* What the flow entry holds (proto.h's state). The connection's parser state (hconn) is
 * allocated when its bytes arrive and handed back when it holds nothing (idle at message
 * boundaries) or when protocols.http.max_memory_mb needs it for busier connections; `rest`
 * keeps what each side's parser must resume with (REST_* bits). */
struct hstub {
	struct hconn *c;
	const struct pl_conn *conn;
	const struct pl_proto_env *env;
	uint8_t rest[2];
	bool refused;             /* the last allocation failed: counted once */
};
/* rest: the side's mode in the low 2 bits; zero is a connection never seen. */
enum { REST_SEEN = 4 /* not `first` */, REST_MIDLINE = 8 /* not `line_start` */ };

/* --- record free list (per thread: one flow table per capture worker) --- */

static _Thread_local struct hmsg *free_head;
static _Thread_local uint32_t free_n;
static _Thread_local struct hconn *cfree_head;   /* chained by lru_next */
static _Thread_local uint32_t cfree_n;
/* Live connection states, most recently active first: the tail is dropped first. */
static _Thread_local struct hconn *lru_head, *lru_tail;
/* Bytes this thread holds for HTTP: connection states, records, their header slots and
 * buffers, live or on the free lists; bounded by protocols.http.max_memory_mb. */
static _Thread_local uint64_t mem_bytes;

static size_t msg_bytes(const struct hmsg *m)
{
	return sizeof(*m) + m->cap + m->hdr_cap * sizeof(struct kept_hdr);
}

static void msg_free(struct hmsg *m)
{
	mem_bytes -= msg_bytes(m);
	free(m->buf);
	free(m->hdr);
	free(m);
}

static void trim_free(void);
static bool mem_reserve(const struct pl_proto_env *env, const struct hconn *self, size_t need,
			bool kept);

/* A cleared record: from the free list, or new within the budget (NULL when refused). */
static struct hmsg *msg_get(struct hconn *c)
{
	struct hmsg *m = free_head;

	if (!m) {
		if (!mem_reserve(c->env, c, sizeof(*m), false)) {
			c->env->stats->http_memory_limited++;
			return NULL;
		}
		m = calloc(1, sizeof(*m));
		if (m)
			mem_bytes += sizeof(*m);
		return m;
	}
	free_head = PL_TXQ_ENTRY(m->link.next, struct hmsg, link);
	free_n--;
	memset(m, 0, offsetof(struct hmsg, buf));
	m->len = 0;
	return m;
}

static void msg_put(struct hmsg *m)
{
	if (!m)
		return;
	if (free_n >= HTTP_FREELIST_MAX) {
		msg_free(m);
		return;
	}
	m->link.next = free_head ? &free_head->link : NULL;
	free_head = m;
	free_n++;
}

/* Append up to len bytes within the message's keep cap; returns bytes kept. */
static uint32_t msg_append(struct hconn *c, struct hmsg *m, const char *p, size_t len)
{
	uint32_t room = c->keep_cap > m->len ? c->keep_cap - m->len : 0;
	uint32_t n = len < room ? (uint32_t)len : room;

	if (n < len && !m->truncated) {
		m->truncated = true;
		c->env->stats->http_truncated++;
	}
	if (n == 0)
		return 0;
	if (m->len + n > m->cap) {
		uint32_t ncap = m->cap ? m->cap : HTTP_BUF_INIT;
		char *nb;

		while (ncap < m->len + n)
			ncap *= 2;
		if (!mem_reserve(c->env, c, ncap - m->cap, true)) {
			c->env->stats->http_memory_limited++;
			if (!m->truncated) {
				m->truncated = true;
				c->env->stats->http_truncated++;
			}
			return 0;
		}
		nb = realloc(m->buf, ncap);
		if (!nb)
			return 0;
		mem_bytes += ncap - m->cap;
		m->buf = nb;
		m->cap = ncap;
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	return n;
}

/* Append to a field that must stay contiguous and at most `max` bytes. */
static inline void field_append(struct hconn *c, struct hmsg *m, struct span *f,
				const char *p, size_t len, uint32_t max)
{
	size_t want = len;

	if (f->len == 0)
		f->off = m->len;
	if (len == 0)
		return;   /* m->buf may still be NULL: no memcpy to it, not even of 0 bytes */
	/* the usual case: within every cap and the buffer */
	if (f->len + len <= max && (uint64_t)m->len + len <= c->keep_cap &&
	    (uint64_t)m->len + len <= m->cap) {
		memcpy(m->buf + m->len, p, len);
		m->len += (uint32_t)len;
		f->len += (uint32_t)len;
		return;
	}
	if (f->len + want > max) {
		want = max > f->len ? max - f->len : 0;
		if (!m->truncated) {
			m->truncated = true;
			c->env->stats->http_truncated++;
		}
	}
	f->len += msg_append(c, m, p, want);
}

static struct pl_str msg_str(const struct hmsg *m, struct span s)
{
	if (s.len == 0)
		return (struct pl_str){ "", 0 };
	return (struct pl_str){ m->buf + s.off, s.len };
}

/* --- event building --- */

static void split_path(const struct hmsg *m, struct pl_event_http *h)
{
	struct pl_str u = msg_str(m, m->url);
	const char *q;
	size_t plen;

	/* absolute-form (proxies): drop scheme and authority so path starts at '/' */
	if (u.len > 7 && u.p[0] != '/' &&
	    (!strncasecmp(u.p, "http://", 7) || !strncasecmp(u.p, "https://", 8))) {
		const char *a = memchr(u.p, '/', u.len);
		const char *s = a && a + 2 <= u.p + u.len ? memchr(a + 2, '/', (size_t)(u.p + u.len - (a + 2))) : NULL;
		if (s) {
			u.len -= (size_t)(s - u.p);
			u.p = s;
		}
	}
	q = memchr(u.p, '?', u.len);
	plen = q ? (size_t)(q - u.p) : u.len;
	h->path = (struct pl_str){ u.p, plen };
	h->query = q ? (struct pl_str){ q + 1, u.len - plen - 1 } : (struct pl_str){ "", 0 };
}

static uint16_t parse_port(const char *p, size_t n)
{
	uint32_t v = 0;

	if (n == 0 || n > 5)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (uint32_t)(p[i] - '0');
	}
	return v <= 65535 ? (uint16_t)v : 0;
}

/* "example.com:8080", "[::1]:8080", "[::1]": brackets stay (ECS url.domain does so). */
static void split_host(const struct hmsg *m, struct pl_event_http *h)
{
	struct pl_str v = msg_str(m, m->host);
	const char *colon = NULL;

	h->host = v;
	if (v.len && v.p[0] == '[') {
		const char *rb = memchr(v.p, ']', v.len);
		if (rb && rb + 1 < v.p + v.len && rb[1] == ':')
			colon = rb + 1;
	} else {
		colon = memchr(v.p, ':', v.len);
	}
	if (!colon)
		return;
	h->host = (struct pl_str){ v.p, (size_t)(colon - v.p) };
	h->host_port = parse_port(colon + 1, (size_t)(v.p + v.len - colon - 1));
}

static struct pl_str trim(struct pl_str s)
{
	while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.len--;
	}
	while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		s.len--;
	return s;
}

static struct pl_str first_forwarded(const struct hmsg *m)
{
	struct pl_str v = msg_str(m, m->xff);
	const char *comma = memchr(v.p, ',', v.len);

	if (comma)
		v.len = (size_t)(comma - v.p);
	return trim(v);
}

/* hdrs: PL_EVENT_MAX_HEADERS entries and digits: 24 bytes (content-length when absent),
 * both living until the event is emitted. */
static void fill_msg(const struct hmsg *m, struct pl_http_msg *out, struct pl_header *hdrs,
		     char *digits)
{
	static const char clen_name[] = "content-length";
	bool has_clen = false;
	int n = 0;

	out->bytes = m->bytes;
	out->body_bytes = m->body_bytes;
	out->mime_type = m->has_ctype ? msg_str(m, m->ctype) : (struct pl_str){ "", 0 };
	for (int i = 0; i < m->n_hdr; i++) {
		const struct kept_hdr *k = &m->hdr[i];
		struct pl_header *h = &hdrs[n++];

		h->name = msg_str(m, k->name);
		if (k->redact == RED_STAR)
			h->value = (struct pl_str){ "*", 1 };
		else if (k->redact == RED_COOKIE)
			h->value = (struct pl_str){ "REDACTED", 8 };
		else
			h->value = msg_str(m, k->value);
		if (h->name.len == sizeof(clen_name) - 1 && !memcmp(h->name.p, clen_name, h->name.len))
			has_clen = true;
	}
	if (!has_clen && m->headers_done) {
		/* As Packetbeat: without the header, content-length is the body as measured
		 * (close-delimited and chunked bodies, or 0). Rendered as a number. */
		if (n == PL_EVENT_MAX_HEADERS)
			n--;
		char *d = pl_u64_digits(m->body_bytes, digits + 24);

		hdrs[n].name = (struct pl_str){ clen_name, sizeof(clen_name) - 1 };
		hdrs[n].value = (struct pl_str){ d, (size_t)(digits + 24 - d) };
		n++;
	}
	out->headers = hdrs;
	out->n_headers = n;
}

static const char *version_str(const struct hmsg *m)
{
	if (!m->has_version)
		return "";
	if (m->vmaj == 1 && m->vmin == 0)
		return "1.0";
	if (m->vmaj == 1 && m->vmin == 1)
		return "1.1";
	return m->vmaj == 0 && m->vmin == 9 ? "0.9" : "";
}

/* The request's version, else the response's, else none: never a default. */
static struct pl_str version_of(const struct hmsg *req, const struct hmsg *resp)
{
	const char *v = version_str(req && (req->has_version || !resp) ? req : resp);

	return (struct pl_str){ v, strlen(v) };
}

/* What an incomplete message's event says about it: [request, response] per note, for a head
 * that never ended (the event holds only what was read of it) and for a later part. */
static const struct { uint8_t note; const char *head[2], *rest[2]; } note_text[] = {
	{ NOTE_LOSS,
	  { "Request head truncated in the capture", "Response head truncated in the capture" },
	  { "Packet loss while capturing the request", "Packet loss while capturing the response" } },
	{ NOTE_LIMIT,
	  { "Request head over the size limit", "Response head over the size limit" },
	  { "Request head over the size limit", "Response head over the size limit" } },
	{ NOTE_EOF,
	  { "Request head incomplete when the connection ended",
	    "Response head incomplete when the connection ended" },
	  { "Request incomplete when the connection ended",
	    "Response incomplete when the connection ended" } },
	{ NOTE_PARSE,
	  { "Parse error in the request", "Parse error in the response" },
	  { "Parse error in the request", "Parse error in the response" } },
	{ NOTE_STALLED,
	  { "Request body still arriving when the transaction timed out", "" },
	  { "Request body still arriving when the transaction timed out", "" } },
	{ NOTE_MEMORY,
	  { "Request head dropped unfinished (protocols.http.max_memory_mb)",
	    "Response head dropped unfinished (protocols.http.max_memory_mb)" },
	  { "Request dropped unfinished (protocols.http.max_memory_mb)",
	    "Response dropped unfinished (protocols.http.max_memory_mb)" } },
	{ NOTE_NORESP,
	  { "Response bytes lost in the capture (packet loss or snap length)", "" },
	  { "Response bytes lost in the capture (packet loss or snap length)", "" } },
};

static void add_notes(struct pl_event *ev, const struct hmsg *m, int is_resp)
{
	/* a URL, header value or header list cut to its cap: the event holds a prefix of it */
	if (m->truncated)
		pl_event_add_error(ev, is_resp ? "Response head kept in part (size limits)"
					       : "Request head kept in part (size limits)");
	if (!m->notes)
		return;
	for (size_t i = 0; i < PL_ARRAY_LEN(note_text); i++)
		if (m->notes & note_text[i].note)
			pl_event_add_error(ev, m->headers_done ? note_text[i].rest[is_resp]
							       : note_text[i].head[is_resp]);
}

static void fill_request(struct pl_event *ev, const struct hmsg *req, struct pl_header *hdrs,
			 char *digits)
{
	struct pl_event_http *h = &ev->http;

	h->has_request = true;
	ev->start_ns = req->start_ns;
	ev->client.bytes = req->bytes;
	h->method = req->has_method
		? (struct pl_str){ http_method_str(req->method), strlen(http_method_str(req->method)) }
		: (struct pl_str){ "", 0 };
	split_path(req, h);
	if (req->has_host)
		split_host(req, h);
	h->user_agent = req->has_ua ? msg_str(req, req->ua) : (struct pl_str){ "", 0 };
	h->referrer = req->has_referer ? msg_str(req, req->referer) : (struct pl_str){ "", 0 };
	h->forwarded_ip = req->has_xff ? first_forwarded(req) : (struct pl_str){ "", 0 };
	/* The user name is kept even when the header is redacted: nginx logs it as
	 * $remote_user too. The password is never kept. */
	h->user_name = req->has_user ? msg_str(req, req->user) : (struct pl_str){ "", 0 };
	fill_msg(req, &h->request, hdrs, digits);
	add_notes(ev, req, 0);
}

static void fill_response(struct pl_event *ev, const struct hmsg *resp, struct pl_header *hdrs,
			  char *digits)
{
	struct pl_event_http *h = &ev->http;

	h->has_response = true;
	/* As Packetbeat: the response's first byte ends the transaction, so
	 * event.duration is the server's response time, comparable across tools. */
	ev->end_ns = resp->start_ns ? resp->start_ns : resp->end_ns;
	ev->server.bytes = resp->bytes;
	h->status_code = resp->status;
	h->status_phrase = msg_str(resp, resp->phrase);
	fill_msg(resp, &h->response, hdrs, digits);
	add_notes(ev, resp, 1);
}

/* Emit one transaction (either side may be NULL); the records stay the caller's. */
static void emit_event(struct hconn *c, const struct hmsg *req, const struct hmsg *resp,
		       const char *err)
{
	const struct pl_conn *k = c->conn;
	struct pl_stats *st = c->env->stats;
	struct pl_event ev;
	struct pl_header hdrs[2][PL_EVENT_MAX_HEADERS];   /* filled up to n_headers: not zeroed */
	char digits[2][24];

	memset(&ev, 0, sizeof(ev));
	ev.type = PL_EV_HTTP;
	ev.af = k->af;
	memcpy(ev.client.ip, k->client_ip, sizeof(ev.client.ip));
	memcpy(ev.server.ip, k->server_ip, sizeof(ev.server.ip));
	ev.client.port = k->client_port;
	ev.server.port = k->server_port;
	ev.community_id = k->community_id;
	if (err)
		pl_event_add_error(&ev, err);
	if (req)
		fill_request(&ev, req, hdrs[0], digits[0]);
	if (resp)
		fill_response(&ev, resp, hdrs[1], digits[1]);
	ev.http.version = version_of(req, resp);
	ev.ok = req && resp && !err && resp->status > 0 && resp->status < 400;
	if (ev.ok)
		st->http_transactions_ok++;
	else
		st->http_transactions_error++;
	c->env->emit(&ev, c->env->emit_arg);
}

/* Emit one transaction (either side may be NULL) and release both records. */
static void emit_txn(struct hconn *c, struct hmsg *req, struct hmsg *resp, const char *err)
{
	emit_event(c, req, resp, err);
	msg_put(req);
	msg_put(resp);
}

/* --- pending request FIFO --- */

static inline struct hmsg *pend_head(const struct hconn *c)
{
	return PL_TXQ_ENTRY(pl_txq_head(&c->pend), struct hmsg, link);
}

static struct hmsg *pend_pop(struct hconn *c)
{
	return PL_TXQ_ENTRY(pl_txq_pop(&c->pend), struct hmsg, link);
}

static void emit_unmatched_request(struct hconn *c, struct hmsg *req)
{
	c->env->stats->http_unmatched_requests++;
	if (c->resp_lost)
		req->notes |= NOTE_NORESP;
	emit_txn(c, req, NULL, "Unmatched request");
}

static void emit_unmatched_response(struct hconn *c, struct hmsg *resp)
{
	c->env->stats->http_unmatched_responses++;
	emit_txn(c, NULL, resp, "Unmatched response");
}

static inline struct hmsg *orph_head(const struct hconn *c)
{
	return PL_TXQ_ENTRY(pl_txq_head(&c->orph), struct hmsg, link);
}

static struct hmsg *orph_pop(struct hconn *c)
{
	return PL_TXQ_ENTRY(pl_txq_pop(&c->orph), struct hmsg, link);
}

/* Held responses are bounded as requests are (http.max_pending): the oldest goes out
 * unmatched. */
static void orph_push(struct hconn *c, struct hmsg *m)
{
	struct pl_txq_node *old = pl_txq_push(&c->orph, &m->link, c->env->cfg->http.max_pending);

	if (old)
		emit_unmatched_response(c, PL_TXQ_ENTRY(old, struct hmsg, link));
}

/* A request begins: held responses that had ended before it began answered requests the
 * capture does not hold; the first one still arriving when it began answers this one.
 * (Packet time as delivered never goes back, so a request shown after its response's first
 * bytes may carry a later time than they do, never a later one than the response's end.) */
static __attribute__((noinline)) void claim_orphan(struct hconn *c, struct hmsg *req)
{
	/* Every request byte so far was parsed: the request the first held response answers
	 * is in the capture, and in order it is this one (the capture showed the response
	 * first: frames of the two directions swapped). */
	if (!c->req_gap) {
		req->resp = orph_pop(c);
		return;
	}
	while (orph_head(c) && orph_head(c)->end_ns < req->start_ns)
		emit_unmatched_response(c, orph_pop(c));
	if (orph_head(c))
		req->resp = orph_pop(c);
}

/* A record leaves its side unfinished: a response it holds still goes out. */
static __attribute__((noinline)) void release_msg(struct hconn *c, struct hmsg *m)
{
	struct hmsg *r;

	if (!m)
		return;
	r = m->resp;
	m->resp = NULL;
	if (r && m->start_line_done && !m->emitted)
		emit_txn(c, m, r, NULL);
	else if (r)
		emit_unmatched_response(c, r);
	if (!r || !m->start_line_done || m->emitted)
		msg_put(m);
}

static void pend_push(struct hconn *c, struct hmsg *m)
{
	struct pl_txq_node *old = pl_txq_push(&c->pend, &m->link, c->env->cfg->http.max_pending);

	if (!old)
		return;
	/* the oldest request's response, if any, is still ahead of the others on the wire */
	c->env->stats->http_pending_dropped++;
	c->pend.late++;
	emit_unmatched_request(c, PL_TXQ_ENTRY(old, struct hmsg, link));
}

static void expire_pending(struct hconn *c, uint64_t now, uint64_t tmo)
{
	const struct hside *rs = &c->side[PL_DIR_TO_CLIENT];

	while (pend_head(c)) {
		struct hmsg *h = pend_head(c);

		/* a response in progress answers the head request: do not expire it */
		if (c->pend.late == 0 && rs->in_msg)
			return;
		if (now < h->end_ns || now - h->end_ns <= tmo)
			return;
		c->pend.late++;
		emit_unmatched_request(c, pend_pop(c));
	}
}

/* An answered request whose body has not moved for the timeout goes out as it is (marked);
 * the rest of it, should it come, is parsed and dropped. */
static void expire_stalled(struct hconn *c, uint64_t now, uint64_t tmo)
{
	const struct hside *rq = &c->side[PL_DIR_TO_SERVER];
	struct hmsg *m = rq->cur;
	uint64_t last;

	if (!m || !m->resp || m->emitted)
		return;
	last = PL_MAX(rq->last_ts, m->resp->end_ns);
	if (now <= last || now - last <= tmo)
		return;
	m->notes |= NOTE_STALLED;
	emit_event(c, m, m->resp, NULL);
	msg_put(m->resp);
	m->resp = NULL;
	m->emitted = true;
}

static void expire(struct hconn *c, uint64_t now)
{
	uint64_t tmo = c->env->cfg->http.transaction_timeout_ns;

	if (!tmo)
		return;
	if (pend_head(c))
		expire_pending(c, now, tmo);
	if (c->side[PL_DIR_TO_SERVER].cur)
		expire_stalled(c, now, tmo);
	while (orph_head(c) && now > orph_head(c)->end_ns && now - orph_head(c)->end_ns > tmo)
		emit_unmatched_response(c, orph_pop(c));
}

/* --- message completion --- */

static void finish_request(struct hconn *c, struct hmsg *m)
{
	struct hmsg *r = m->resp;

	c->env->stats->http_requests++;
	if (m->emitted) {
		msg_put(m);             /* went out when it stalled */
		return;
	}
	if (r) {
		m->resp = NULL;         /* answered early: both ends are here now */
		emit_txn(c, m, r, NULL);
		return;
	}
	pend_push(c, m);
}

static void set_dead(struct hconn *c)
{
	for (int d = 0; d < 2; d++) {
		c->side[d].mode = MODE_DEAD;
		release_msg(c, c->side[d].cur);
		c->side[d].cur = NULL;
		c->side[d].in_msg = false;
		c->side[d].fast_left = 0;
	}
}

/* A final response is complete: it answers the oldest request not yet answered, whether that
 * request has ended or is still arriving (nginx answers some before reading their bodies).
 * With none, it waits for a request that begins before it ended (orph_push, claim_orphan). */
static void pair_response(struct hconn *c, struct hmsg *m)
{
	const struct hside *rq = &c->side[PL_DIR_TO_SERVER];
	struct hmsg *cur = rq->in_msg ? rq->cur : NULL;

	if (c->pend.late) {
		c->pend.late--;      /* the late answer to an expired request */
		emit_unmatched_response(c, m);
		return;
	}
	if (pend_head(c)) {
		emit_txn(c, pend_pop(c), m, NULL);
		return;
	}
	if (cur && !cur->resp && !cur->emitted) {
		cur->resp = m;  /* an early response: the event waits for the request's end */
		return;
	}
	orph_push(c, m);        /* its request may still show up in the capture */
}

static void finish_response(struct hconn *c, struct hmsg *m)
{
	struct pl_stats *st = c->env->stats;
	bool upgraded = m->status == 101;

	if (m->status >= 100 && m->status < 200 && m->status != 101) {
		c->interim_bytes += m->bytes;
		msg_put(m);             /* interim: the final response pairs */
		return;
	}
	m->bytes += c->interim_bytes;
	c->interim_bytes = 0;
	if (!m->notes)
		c->resp_lost = false;   /* responses are read whole again */
	st->http_responses++;
	pair_response(c, m);
	if (upgraded)
		set_dead(c);     /* another protocol follows */
}

static void finish_current(struct hconn *c, struct hside *s)
{
	struct hmsg *m = s->cur;

	s->cur = NULL;
	s->in_msg = s->in_body = false;
	s->fast_left = 0;
	if (!m)
		return;
	m->bytes = s->acc;
	s->acc = 0;
	if (s->dir == PL_DIR_TO_SERVER)
		finish_request(c, m);
	else
		finish_response(c, m);
}

/* The current message cannot be parsed further: keep it when its start line was seen
 * (so pairing stays aligned), drop it otherwise. */
static void fail_current(struct hconn *c, struct hside *s, uint8_t note)
{
	struct hmsg *m = s->cur;

	s->fast_left = 0;
	if (!m || !s->in_msg) {
		s->acc = 0;
		return;
	}
	if (!m->start_line_done && !m->headers_done) {
		release_msg(c, m);
		s->cur = NULL;
		s->in_msg = s->in_body = false;
		s->acc = 0;
		return;
	}
	m->notes |= note;
	if (!m->end_ns)
		m->end_ns = s->ts;
	finish_current(c, s);
}

static void start_hunt(struct hconn *c, struct hside *s, bool line_start)
{
	c->env->stats->http_resyncs++;
	s->mode = MODE_HUNT;
	s->first = false;
	s->fresh = false;
	s->fast_left = 0;
	s->line_start = line_start;
	s->npfx = 0;
	s->acc = 0;
	if (s->dir == PL_DIR_TO_CLIENT)
		c->pend.late = 0;    /* responses were lost: order can no longer be trusted */
	else
		c->req_gap = true;
}

/* --- http-parser callbacks --- */

static struct hside *side_of(http_parser *p)
{
	struct hconn *c = p->data;

	return p == &c->side[0].p ? &c->side[0] : &c->side[1];
}

/* The on_* functions are what a message's parts do to the record; http-parser's callbacks
 * and the fast path (fast_head) both call them, in the same order with the same bytes. */
static int on_begin(struct hside *s)
{
	if (s->cur)
		release_msg(s->c, s->cur);   /* rare: a message abandoned unfinished */
	s->cur = msg_get(s->c);
	if (!s->cur)
		return -1;
	s->cur->start_ns = s->ts;
	if (s->dir == PL_DIR_TO_SERVER && orph_head(s->c))
		claim_orphan(s->c, s->cur);
	if (s->dir == PL_DIR_TO_SERVER && s->c->req_gap && !orph_head(s->c) && !pend_head(s->c) &&
	    !s->c->side[PL_DIR_TO_CLIENT].in_msg)
		s->c->req_gap = false;   /* every response so far is accounted for */
	s->in_msg = true;
	s->in_body = false;
	s->hstate = HS_NONE;
	return 0;
}

static int cb_message_begin(http_parser *p)
{
	return on_begin(side_of(p));
}

static void on_url(struct hside *s, unsigned method, const char *at, size_t len)
{
	s->cur->start_line_done = true;
	s->cur->method = (uint8_t)method;     /* http-parser knows it once the URL starts */
	s->cur->has_method = true;
	field_append(s->c, s->cur, &s->cur->url, at, len, s->c->env->cfg->http.max_url_length);
}

static int cb_url(http_parser *p, const char *at, size_t len)
{
	on_url(side_of(p), p->method, at, len);
	return 0;
}

static void on_status(struct hside *s, unsigned vmaj, unsigned vmin, unsigned code,
		      const char *at, size_t len)
{
	s->cur->status = (uint16_t)code;
	s->cur->vmaj = (uint8_t)vmaj;
	s->cur->vmin = (uint8_t)vmin;
	s->cur->has_version = true;
	s->cur->start_line_done = true;
	field_append(s->c, s->cur, &s->cur->phrase, at, len, HTTP_PHRASE_MAX);
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

/* Compare n bytes of a header name or value against a literal of lower-case letters and '-'
 * (2 <= n), ignoring case. OR-ing 0x20 maps exactly 'A'..'Z' onto 'a'..'z' among the bytes
 * that can match such a literal (it also maps CR onto '-', and no token or value holds a CR
 * here). Compares the first and last 8 (or 4, or 2) bytes as words; they overlap as needed. */
static inline __attribute__((always_inline)) bool lc_eq(const uint8_t *p, size_t n,
							 const char *lit, size_t lit_len)
{
	if (n != lit_len)
		return false;
	if (n >= 8) {
		uint64_t a, b, x, y;

		for (size_t i = 0; i + 8 < n; i += 8) {
			memcpy(&a, p + i, 8);
			memcpy(&x, lit + i, 8);
			if ((a | 0x2020202020202020ULL) != x)
				return false;
		}
		memcpy(&b, p + n - 8, 8);
		memcpy(&y, lit + n - 8, 8);
		return (b | 0x2020202020202020ULL) == y;
	}
	if (n >= 4) {
		uint32_t a, b, x, y;

		memcpy(&a, p, 4);
		memcpy(&x, lit, 4);
		memcpy(&b, p + n - 4, 4);
		memcpy(&y, lit + n - 4, 4);
		return (a | 0x20202020u) == x && (b | 0x20202020u) == y;
	}
	for (size_t i = 0; i < n; i++)
		if ((p[i] | 0x20) != (uint8_t)lit[i])
			return false;
	return true;
}
#define LC_EQ(p, n, lit) lc_eq(p, n, lit, sizeof(lit) - 1)

/* What a header is to the event, from its name as sent or lower-cased: by length first, at
 * most two word compares. */
static inline __attribute__((always_inline)) enum hkind classify(const char *name_, size_t len)
{
	const uint8_t *name = (const uint8_t *)name_;

	switch (len) {
	case 4: return LC_EQ(name, 4, "host") ? HK_HOST : HK_OTHER;
	case 6: return LC_EQ(name, 6, "cookie") ? HK_COOKIE : HK_OTHER;
	case 7: return LC_EQ(name, 7, "referer") ? HK_REFERER :
		       LC_EQ(name, 7, "upgrade") ? HK_UPGRADE : HK_OTHER;
	case 10: return LC_EQ(name, 10, "user-agent") ? HK_UA :
			LC_EQ(name, 10, "set-cookie") ? HK_SET_COOKIE :
			LC_EQ(name, 10, "connection") ? HK_CONNECTION : HK_OTHER;
	case 12: return LC_EQ(name, 12, "content-type") ? HK_CTYPE : HK_OTHER;
	case 13: return LC_EQ(name, 13, "authorization") ? HK_AUTH : HK_OTHER;
	case 14: return LC_EQ(name, 14, "content-length") ? HK_CLEN : HK_OTHER;
	case 15: return LC_EQ(name, 15, "x-forwarded-for") ? HK_XFF : HK_OTHER;
	case 16: return LC_EQ(name, 16, "proxy-connection") ? HK_PROXY_CONN : HK_OTHER;
	case 17: return LC_EQ(name, 17, "transfer-encoding") ? HK_TE : HK_OTHER;
	case 19: return LC_EQ(name, 19, "proxy-authorization") ? HK_PROXY_AUTH : HK_OTHER;
	default: return HK_OTHER;
	}
}

/* Name complete: decide what of this header is kept. `known` is its kind when the caller
 * classified the name already (the fast path), or HK_NONE. */
static void header_begin_value(struct hside *s, enum hkind known)
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
	if (req && k == HK_AUTH)
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

/* One more kept header slot: the record's slots double (from HTTP_HDR_INIT) within the
 * budget. False, marked and counted, when refused. */
static bool hdr_grow(struct hconn *c, struct hmsg *m)
{
	uint32_t ncap = m->hdr_cap ? PL_MIN(m->hdr_cap * 2, (uint32_t)PL_EVENT_MAX_HEADERS)
				   : HTTP_HDR_INIT;
	size_t more = (ncap - m->hdr_cap) * sizeof(struct kept_hdr);
	struct kept_hdr *nh;

	if (!mem_reserve(c->env, c, more, true) ||
	    !(nh = realloc(m->hdr, ncap * sizeof(struct kept_hdr)))) {
		c->env->stats->http_memory_limited++;
		if (!m->truncated) {
			m->truncated = true;
			c->env->stats->http_truncated++;
		}
		return false;
	}
	mem_bytes += more;
	m->hdr = nh;
	m->hdr_cap = ncap;
	return true;
}

/* Repeated headers: the first one names the field (as Packetbeat does). */
static void take_first(const struct hside *s, bool *has, struct span *dst)
{
	if (!s->hstore || *has)
		return;
	*dst = s->hval;
	*has = true;
}

static void header_end(struct hside *s)
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
	default:
		break;
	}
	if (s->hsend && m->n_hdr < PL_EVENT_MAX_HEADERS && s->hname.len &&
	    (m->n_hdr < (int)m->hdr_cap || hdr_grow(s->c, m)))
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

static void on_header_field(struct hside *s, const char *at, size_t len)
{
	s->cur->start_line_done = true;
	if (s->hstate == HS_VALUE)
		header_end(s);
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
	on_header_field(s, at, len);
	return 0;
}

static void on_header_value(struct hside *s, const char *at, size_t len, enum hkind known)
{
	if (s->hstate != HS_VALUE) {
		header_begin_value(s, known);
		s->hstate = HS_VALUE;
	}
	if (s->hstore)
		field_append(s->c, s->cur, &s->hval, at, len, HTTP_VALUE_MAX);
}

static int cb_header_value(http_parser *p, const char *at, size_t len)
{
	on_header_value(side_of(p), at, len, HK_NONE);
	return 0;
}

/* Whether the response being parsed answers a HEAD: the oldest unanswered request, ended or
 * still arriving. Unknown (not HEAD) after expiries or while responses wait for requests. */
static bool pending_is_head(const struct hconn *c)
{
	const struct hmsg *r = pend_head(c);

	if (c->pend.late || orph_head(c))
		return false;
	if (!r) {
		const struct hside *rq = &c->side[PL_DIR_TO_SERVER];

		r = rq->in_msg && rq->cur && !rq->cur->resp && !rq->cur->emitted ? rq->cur : NULL;
	}
	return r && r->has_method && r->method == HTTP_HEAD;
}

/* Returns 1 when the message has no body (as http-parser's on_headers_complete). */
static int on_headers_done(struct hside *s, unsigned vmaj, unsigned vmin, unsigned method,
			   unsigned status)
{
	struct hmsg *m = s->cur;
	int st = (int)status;

	if (s->hstate == HS_VALUE)
		header_end(s);
	s->hstate = HS_NONE;
	m->headers_done = true;
	m->start_line_done = true;
	m->vmaj = (uint8_t)vmaj;
	m->vmin = (uint8_t)vmin;
	m->has_version = true;
	if (s->dir == PL_DIR_TO_SERVER) {
		m->method = (uint8_t)method;
		m->has_method = true;
	} else {
		m->status = (uint16_t)st;
		/* no body: interim, 204, 304, or the answer to HEAD */
		if (st / 100 == 1 || st == 204 || st == 304 || pending_is_head(s->c))
			return 1;
	}
	s->in_body = true;
	return 0;
}

static int cb_headers_complete(http_parser *p)
{
	return on_headers_done(side_of(p), p->http_major, p->http_minor, p->method,
			       p->status_code);
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

/* --- feeding and resynchronisation --- */

static void parser_reset(struct hconn *c, struct hside *s)
{
	http_parser_init(&s->p, s->dir == PL_DIR_TO_SERVER ? HTTP_REQUEST : HTTP_RESPONSE);
	s->p.data = c;
	s->done = false;
	s->fresh = true;
}

/* Feed bytes to the parser; returns how many it consumed (at least one unless n == 0). */
static size_t feed(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts)
{
	size_t r;
	enum http_errno e;

	s->ts = ts;
	s->fresh = false;
	r = http_parser_execute(&s->p, &settings, (const char *)p, n);
	s->acc += r;
	e = HTTP_PARSER_ERRNO(&s->p);
	if (e == HPE_PAUSED || s->done) {
		http_parser_pause(&s->p, 0);
		s->done = false;
		/* the parser is back at a message start unless the message ended the
		 * connection (then it refuses whatever follows) */
		s->fresh = http_should_keep_alive(&s->p) != 0;
		finish_current(c, s);
		return s->mode == MODE_DEAD ? n : r;
	}
	if (e == HPE_OK && (r > 0 || n == 0))
		return r;
	if (e != HPE_CB_message_begin)
		c->env->stats->http_parse_errors++;
	fail_current(c, s, e == HPE_HEADER_OVERFLOW ? NOTE_LIMIT : NOTE_PARSE);
	start_hunt(c, s, false);
	return r;
}

/* --- fast path: ordinary complete message heads without http-parser ---
 *
 * Most messages on a keep-alive connection are plain: a known method, an origin-form URL,
 * HTTP/1.0 or 1.1, token header names, no folding, a Content-Length body or none. When such a
 * head lies whole in the bytes at hand and http-parser sits at a message start, fast_head
 * parses it here and calls the same on_* functions with the same bytes, in the same order,
 * as http-parser's callbacks would. Anything else it does not recognise (chunked, close-
 * delimited, Upgrade, Connection: close, 1xx, odd bytes, a head split across segments) is left
 * to http-parser untouched. tests/unit/test_http.c and fuzz_http compare the two paths. */

bool pl_http_fast_path = true;

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
 * CR), or end. Sixteen bytes at a time with SSE2 (eight without) while that many are at
 * hand, the rest through the class table. */
static inline const uint8_t *scan_value(const uint8_t *q, const uint8_t *end)
{
#ifdef __SSE2__
	const __m128i c1f = _mm_set1_epi8(0x1f), x7f = _mm_set1_epi8(0x7f);
	const __m128i tab = _mm_set1_epi8('\t');

	while (end - q >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
		__m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(x, c1f), c1f);     /* x <= 0x1f */
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
			_mm_andnot_si128(_mm_cmpeq_epi8(x, tab), ctl), _mm_cmpeq_epi8(x, x7f)));

		if (m)
			return q + __builtin_ctz(m);
		q += 16;
	}
#else
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
#endif
	while (q < end && (cclass[*q] & CC_VALUE))
		q++;
	return q;
}

/* The end of a header name: the first byte that is not a token character, or end. Letters,
 * digits and '-' sixteen bytes at a time with SSE2 (eight without); the rest of the token
 * set, and the last bytes, through the table. */
static inline const uint8_t *scan_token(const uint8_t *q, const uint8_t *end)
{
#ifdef __SSE2__
	/* signed compares: bytes >= 0x80 are in no range */
	while (end - q >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
		__m128i l = _mm_or_si128(x, _mm_set1_epi8(0x20));
		__m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(l, _mm_set1_epi8('a' - 1)),
					      _mm_cmplt_epi8(l, _mm_set1_epi8('z' + 1)));
		__m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
					      _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
		__m128i dash = _mm_cmpeq_epi8(x, _mm_set1_epi8('-'));
		unsigned ok = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(alpha, digit), dash));

		if (ok != 0xffff) {
			q += __builtin_ctz(~ok);
			break;
		}
		q += 16;
	}
#else
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
#endif
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

/* Whether header_begin_value would keep anything of a header of this kind: the send list,
 * when there is one, decides there. */
static bool header_matters(const struct pl_config *cfg, enum hkind k)
{
	return cfg->http.send_all_headers || cfg->http.n_send_headers ||
	       (k != HK_OTHER && k < HK_CONNECTION);
}

/* Parse one message head at p[0..n) and, when it is an ordinary one, deliver it through
 * the on_* functions. Returns the head's length, or 0 (nothing done: use http-parser). */
static size_t fast_head(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts)
{
	const uint8_t *end = p + PL_MIN(n, (size_t)FAST_HEAD_MAX);
	const uint8_t *q = p, *url = NULL, *phrase = NULL;
	struct fast_hdr h[FAST_HDR_MAX];
	size_t url_len = 0, phrase_len = 0;
	int nh = 0, method = 0, vmin;
	unsigned status = 0;
	uint64_t clen = 0;
	bool has_clen = false, keep_alive = false, no_body;
	bool req = s->dir == PL_DIR_TO_SERVER;

	if (end - p < 16)
		return 0;
	if (req) {
		const uint8_t *sp = memchr(p, ' ', 8);

		if (!sp || (method = fast_method(p, (size_t)(sp - p))) < 0 || sp[1] != '/')
			return 0;
		url = sp + 1;
		q = scan_url(url, end);
		url_len = (size_t)(q - url);
		if (end - q < 11 || *q != ' ' || (vmin = fast_version(q + 1)) < 0 ||
		    q[9] != '\r' || q[10] != '\n')
			return 0;
		q += 11;
	} else {
		if ((vmin = fast_version(p)) < 0 || p[8] != ' ' || p[12] != ' ' ||
		    p[9] < '2' || p[9] > '9' || p[10] < '0' || p[10] > '9' ||
		    p[11] < '0' || p[11] > '9')
			return 0;
		status = (unsigned)(p[9] - '0') * 100 + (unsigned)(p[10] - '0') * 10 +
			 (unsigned)(p[11] - '0');
		phrase = q = p + 13;
		while (q < end && (cclass[*q] & (CC_URL | CC_VALUE)) && *q != '\t' && *q < 0x80)
			q++;
		phrase_len = (size_t)(q - phrase);
		if (end - q < 2 || q[0] != '\r' || q[1] != '\n')
			return 0;
		q += 2;
	}
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
		/* what the header is to the event, and whether it changes how the message is
		 * framed or the connection used */
		h[nh].kind = classify((const char *)name, h[nh].name_len);
		/* http-parser can take a longer name that begins with "transfer-encoding" for
		 * that header (and then refuse the request): such heads are its to judge, so
		 * that both paths give the same event (tests/fuzz/regress/http/). */
		if (h[nh].kind == HK_OTHER && h[nh].name_len > 17 &&
		    lc_eq(name, 17, "transfer-encoding", 17))
			return 0;
		switch (h[nh].kind) {
		case HK_UPGRADE:
		case HK_PROXY_CONN:
		case HK_TE:
			return 0;
		case HK_CONNECTION:
			if (keep_alive || !LC_EQ(val, h[nh].value_len, "keep-alive"))
				return 0;
			keep_alive = true;
			break;
		case HK_CLEN: {
			size_t vl = h[nh].value_len;

			if (has_clen || vl == 0 || vl > 15)
				return 0;
			for (size_t i = 0; i < vl; i++) {
				if (val[i] < '0' || val[i] > '9')
					return 0;
				clen = clen * 10 + (uint64_t)(val[i] - '0');
			}
			has_clen = true;
			break;
		}
		default:
			break;
		}
		nh++;
	}
	/* HTTP/1.0 keeps the connection only when asked to */
	if (vmin == 0 && !keep_alive)
		return 0;
	if (req) {
		no_body = !has_clen || clen == 0;
	} else {
		if (status < 200)
			return 0;      /* interim and 101: http-parser's business */
		no_body = status == 204 || status == 304 || pending_is_head(c) ||
			  (has_clen && clen == 0);
		if (!no_body && !has_clen)
			return 0;      /* delimited by the connection's close */
	}

	/* Accepted: from here on this is exactly what http-parser's callbacks would do. */
	c->env->stats->http_fast_heads++;
	s->ts = ts;
	if (on_begin(s) < 0) {
		s->in_msg = false;
		return 0;
	}
	if (req)
		on_url(s, (unsigned)method, (const char *)url, url_len);
	else
		on_status(s, 1, (unsigned)vmin, status, (const char *)phrase, phrase_len);
	for (int i = 0; i < nh; i++) {
		/* a header the event neither sends nor needs leaves no trace: skip it */
		if (!header_matters(c->env->cfg, h[i].kind))
			continue;
		on_header_field(s, (const char *)h[i].name, h[i].name_len);
		on_header_value(s, (const char *)h[i].value, h[i].value_len, h[i].kind);
	}
	if (on_headers_done(s, 1, (unsigned)vmin, (unsigned)method, status) == 1)
		no_body = true;
	s->acc += (size_t)(q - p);
	if (no_body) {
		s->cur->end_ns = ts;
		finish_current(c, s);
	} else {
		s->fast_left = clen;
	}
	return (size_t)(q - p);
}

/* Body bytes of a message fast_head began. */
static size_t fast_body(struct hconn *c, struct hside *s, size_t n, uint64_t ts)
{
	size_t k = (size_t)PL_MIN((uint64_t)n, s->fast_left);

	s->ts = ts;
	s->cur->body_bytes += k;
	s->acc += k;
	s->fast_left -= k;
	if (s->fast_left == 0) {
		s->cur->end_ns = ts;
		finish_current(c, s);
	}
	return k;
}

/* 0 = no pattern starts with pfx, 1 = prefix of one, 2 = a whole pattern. */
static int sync_match(const struct hside *s)
{
	const char *pat = "HTTP/1.";
	int best = 0;

	if (s->dir == PL_DIR_TO_CLIENT) {
		size_t pl = strlen(pat);
		size_t k = PL_MIN(pl, (size_t)s->npfx);
		if (memcmp(s->pfx, pat, k))
			return 0;
		return s->npfx >= pl ? 2 : 1;
	}
	for (size_t i = 0; i < PL_ARRAY_LEN(sync_methods); i++) {
		size_t ml = strlen(sync_methods[i]);
		if (s->npfx > ml || memcmp(s->pfx, sync_methods[i], s->npfx))
			continue;
		if (s->npfx == ml)
			return 2;
		best = 1;
	}
	return best;
}

/* Skip bytes until a plausible message start; returns bytes consumed. */
static size_t hunt(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];
		int m;

		if (!s->line_start && s->npfx == 0) {
			s->line_start = b == '\n';
			if (s->dir == PL_DIR_TO_SERVER)
				c->req_gap = true;
			continue;
		}
		if (s->npfx == 0)
			s->pfx_ts = ts;
		s->pfx[s->npfx++] = b;
		m = sync_match(s);
		if (m == 1)
			continue;
		if (m == 2) {
			uint8_t pfx[sizeof(s->pfx)];
			uint8_t np = s->npfx;

			memcpy(pfx, s->pfx, np);
			s->mode = MODE_SYNC;
			s->first = false;
			s->npfx = 0;
			s->acc = 0;
			parser_reset(c, s);
			/* The start began in these bytes: hand them back whole, so the
			 * message may take the fast path. */
			if (np <= i + 1)
				return i + 1 - np;
			feed(c, s, pfx, np, s->pfx_ts);
			return i + 1;
		}
		s->npfx = 0;
		s->line_start = b == '\n';
		if (s->dir == PL_DIR_TO_SERVER)
			c->req_gap = true;
		if (s->first) {
			s->first = false;
			c->env->stats->http_resyncs++;
		}
	}
	return n;
}

static void conn_data(struct hconn *c, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct hside *s = &c->side[dir == PL_DIR_TO_CLIENT];

	expire(c, ts);
	s->last_ts = ts;
	/* a segment after lost or skipped bytes often begins a message */
	if (s->mode == MODE_HUNT && s->npfx == 0)
		s->line_start = true;
	while (n > 0 && s->mode != MODE_DEAD) {
		size_t k;

		if (s->mode == MODE_HUNT)
			k = hunt(c, s, p, n, ts);
		else if (s->fast_left)
			k = fast_body(c, s, n, ts);
		else if (!(s->fresh && pl_http_fast_path && (k = fast_head(c, s, p, n, ts)) > 0))
			k = feed(c, s, p, n, ts);
		p += k;
		n -= k;
	}
}

/* A body of known or close-delimited length lost bytes: the body is never stored, so
 * zeros stand in for them and the message completes normally. Returns bytes left. */
static uint64_t skip_body(struct hconn *c, struct hside *s, uint64_t len, uint64_t ts)
{
	static const uint8_t zeros[65536];

	s->cur->notes |= NOTE_LOSS;
	while (len > 0 && s->mode == MODE_SYNC && s->in_msg && s->in_body) {
		size_t k = (size_t)PL_MIN(len, (uint64_t)sizeof(zeros));
		size_t r = feed(c, s, zeros, k, ts);

		if (r == 0)
			break;
		len -= r;
	}
	return len;
}

/* Response bytes were lost at a message boundary: they began the response to the oldest
 * request waiting (responses come in request order), which goes out without one, so the
 * responses after the hole keep their own requests. */
static void lost_response(struct hconn *c, const struct hside *s)
{
	bool boundary = s->mode == MODE_SYNC ? !s->in_msg : s->first && s->npfx == 0;

	if (!boundary || c->pend.late || !pend_head(c))
		return;
	emit_unmatched_request(c, pend_pop(c));
}

static void conn_gap(struct hconn *c, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	struct hside *s = &c->side[dir == PL_DIR_TO_CLIENT];

	if (s->mode == MODE_DEAD || len == 0)
		return;
	if (dir == PL_DIR_TO_SERVER) {
		c->req_gap = true;
	} else {
		c->resp_lost = true;
		lost_response(c, s);
	}
	if (s->mode == MODE_HUNT) {
		/* segments after a hole often begin a message */
		s->npfx = 0;
		s->line_start = true;
		return;
	}
	if (s->fast_left) {
		/* as skip_body below: the message completes, and what is left resynchronises */
		uint64_t k = PL_MIN(len, s->fast_left);

		s->cur->notes |= NOTE_LOSS;
		fast_body(c, s, (size_t)k, ts);
		if (len > k && s->mode == MODE_SYNC)
			start_hunt(c, s, true);
		return;
	}
	if (s->in_msg && s->in_body && !(s->p.flags & F_CHUNKED) && s->cur) {
		if (skip_body(c, s, len, ts) == 0 || s->mode != MODE_SYNC)
			return;
		start_hunt(c, s, true);
		return;
	}
	fail_current(c, s, NOTE_LOSS);
	start_hunt(c, s, true);
}

static void end_side(struct hconn *c, struct hside *s, uint64_t ts)
{
	if (s->mode != MODE_SYNC || !s->in_msg)
		return;
	s->ts = s->last_ts ? s->last_ts : ts;
	if (s->fast_left) {
		fail_current(c, s, NOTE_EOF);   /* a Content-Length body cut short */
		return;
	}
	/* EOF ends a close-delimited body; anything else is cut short */
	http_parser_execute(&s->p, &settings, "", 0);
	if (HTTP_PARSER_ERRNO(&s->p) == HPE_PAUSED || s->done) {
		http_parser_pause(&s->p, 0);
		s->done = false;
		finish_current(c, s);
		return;
	}
	fail_current(c, s, NOTE_EOF);
}

static void conn_close(struct hconn *c, uint64_t ts)
{
	end_side(c, &c->side[PL_DIR_TO_CLIENT], ts);
	end_side(c, &c->side[PL_DIR_TO_SERVER], ts);
	while (pend_head(c))
		emit_unmatched_request(c, pend_pop(c));
	while (orph_head(c))
		emit_unmatched_response(c, orph_pop(c));
	for (int d = 0; d < 2; d++) {
		release_msg(c, c->side[d].cur);
		c->side[d].cur = NULL;
		c->side[d].mode = MODE_DEAD;
	}
}

/* --- connection states: allocated while needed, within protocols.http.max_memory_mb --- */

static void lru_unlink(struct hconn *c)
{
	if (c->lru_prev)
		c->lru_prev->lru_next = c->lru_next;
	else
		lru_head = c->lru_next;
	if (c->lru_next)
		c->lru_next->lru_prev = c->lru_prev;
	else
		lru_tail = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

static void lru_push(struct hconn *c)
{
	c->lru_prev = NULL;
	c->lru_next = lru_head;
	if (lru_head)
		lru_head->lru_prev = c;
	lru_head = c;
	if (!lru_tail)
		lru_tail = c;
}

static inline void lru_touch(struct hconn *c)
{
	if (lru_head == c)
		return;
	lru_unlink(c);
	lru_push(c);
}

static uint8_t side_rest(const struct hside *s)
{
	return (uint8_t)(s->mode | (s->first ? 0 : REST_SEEN) | (s->line_start ? 0 : REST_MIDLINE));
}

/* Nothing but parser positions at message boundaries: the state can go and come back
 * exactly as it was. */
static bool conn_idle_at_boundary(const struct hconn *c)
{
	if (pend_head(c) || orph_head(c) || c->pend.late || c->interim_bytes)
		return false;
	for (int d = 0; d < 2; d++) {
		const struct hside *s = &c->side[d];

		if (s->cur || s->in_msg || s->fast_left || s->acc)
			return false;
		if (s->mode == MODE_SYNC && !s->fresh)
			return false;
		if (s->mode == MODE_HUNT && s->npfx)
			return false;
	}
	return true;
}

/* Hand a state that holds nothing back: its stub remembers where each side resumes. */
static void conn_put(struct hconn *c)
{
	struct hstub *b = c->stub;

	for (int d = 0; d < 2; d++)
		b->rest[d] = side_rest(&c->side[d]);
	b->c = NULL;
	lru_unlink(c);
	if (cfree_n >= HTTP_FREELIST_MAX) {
		mem_bytes -= sizeof(*c);
		free(c);
		return;
	}
	c->lru_next = cfree_head;
	cfree_head = c;
	cfree_n++;
}

/* The budget needs this connection's state: what it holds goes out now, marked, and its
 * streams resynchronise at the next message start they show. */
static void conn_drop(struct hconn *c)
{
	c->env->stats->proto_state_dropped++;
	for (int d = PL_DIR_TO_CLIENT; d >= PL_DIR_TO_SERVER; d--) {
		struct hside *s = &c->side[d];
		struct hmsg *m = s->cur;
		bool mid = s->in_msg || s->acc || (s->mode == MODE_SYNC && !s->fresh) ||
			   (s->mode == MODE_HUNT && s->npfx);

		s->cur = NULL;
		s->in_msg = s->in_body = false;
		s->fast_left = 0;
		s->acc = 0;
		s->npfx = 0;
		if (mid && s->mode != MODE_DEAD) {
			s->mode = MODE_HUNT;
			s->first = false;
			s->line_start = false;
		}
		if (!m)
			continue;
		if (!m->start_line_done && !m->headers_done) {
			release_msg(c, m);
			continue;
		}
		m->notes |= NOTE_MEMORY;
		if (!m->end_ns)
			m->end_ns = s->last_ts;
		if (d == PL_DIR_TO_CLIENT) {
			if (pend_head(c))
				emit_txn(c, pend_pop(c), m, NULL);
			else
				emit_unmatched_response(c, m);
		} else if (m->emitted) {
			release_msg(c, m);   /* went out when it stalled; a response it holds too */
		} else if (!m->resp) {
			emit_unmatched_request(c, m);
		} else {
			struct hmsg *r = m->resp;

			m->resp = NULL;
			emit_txn(c, m, r, NULL);
		}
	}
	while (pend_head(c)) {
		struct hmsg *m = pend_pop(c);

		m->notes |= NOTE_MEMORY;
		emit_unmatched_request(c, m);
	}
	while (orph_head(c)) {
		struct hmsg *m = orph_pop(c);

		m->notes |= NOTE_MEMORY;
		emit_unmatched_response(c, m);
	}
	c->pend.late = 0;
	c->interim_bytes = 0;
}

static void trim_free(void)
{
	while (free_head) {
		struct hmsg *m = free_head;

		free_head = PL_TXQ_ENTRY(m->link.next, struct hmsg, link);
		msg_free(m);
	}
	free_n = 0;
	while (cfree_head) {
		struct hconn *c = cfree_head;

		cfree_head = c->lru_next;
		mem_bytes -= sizeof(*c);
		free(c);
	}
	cfree_n = 0;
}

/* Room for `need` more bytes within protocols.http.max_memory_mb, made if needed by
 * handing back the idlest connections' states (never self's). Kept bytes (buffers, header
 * slots) may use 7/8 of the budget, so records and states always find room for what they
 * report. */
static bool mem_reserve(const struct pl_proto_env *env, const struct hconn *self, size_t need,
			bool kept)
{
	uint64_t lim = (uint64_t)env->cfg->http.max_memory_mb << 20;

	if (kept)
		lim -= lim / 8;
	if (mem_bytes + need <= lim)
		return true;
	trim_free();
	for (uint32_t i = 0; i < HTTP_EVICT_SCAN && mem_bytes + need > lim; i++) {
		struct hconn *v = lru_tail;

		if (v && v == self)
			v = v->lru_prev;

		if (!v)
			break;
		if (!conn_idle_at_boundary(v))
			conn_drop(v);
		conn_put(v);
		trim_free();
	}
	return mem_bytes + need <= lim;
}

/* The stub's state, made (or remade where the stub says) when bytes arrive; NULL when the
 * budget or malloc refuses it: the side's bytes are then lost, counted once. */
static struct hconn *stub_conn(struct hstub *b, enum pl_dir dir)
{
	struct hconn *c = cfree_head;

	if (b->c)
		return b->c;
	if (c) {
		cfree_head = c->lru_next;
		cfree_n--;
	} else if (mem_reserve(b->env, NULL, sizeof(*c), false) && (c = malloc(sizeof(*c)))) {
		mem_bytes += sizeof(*c);
	} else {
		if (!b->refused)
			b->env->stats->proto_state_dropped++;
		b->refused = true;
		if ((b->rest[dir] & 3) != MODE_DEAD)
			b->rest[dir] = MODE_HUNT | REST_SEEN | REST_MIDLINE;
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	b->refused = false;
	b->c = c;
	c->stub = b;
	c->conn = b->conn;
	c->env = b->env;
	c->keep_cap = PL_MIN(HTTP_KEEP_MAX, b->env->cfg->http.max_message_size);
	c->req_gap = true;   /* the capture may begin mid-connection: known whole at the first request */
	for (int d = 0; d < 2; d++) {
		struct hside *s = &c->side[d];

		s->c = c;
		s->dir = d;
		s->mode = b->rest[d] & 3;
		s->first = !(b->rest[d] & REST_SEEN);
		s->line_start = !(b->rest[d] & REST_MIDLINE);
		parser_reset(c, s);
	}
	lru_push(c);
	return c;
}

static void http_data(void *state, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct hconn *c = stub_conn(state, dir);

	if (!c)
		return;
	lru_touch(c);
	conn_data(c, dir, p, n, ts);
}

static void http_gap(void *state, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	struct hconn *c = stub_conn(state, dir);

	if (!c)
		return;
	lru_touch(c);
	conn_gap(c, dir, len, ts);
}

/* Quiet for a while (the flow layer calls this after a second of packet time without
 * data): time out what waits, and hand the state back if nothing is left in it. */
static void http_idle(void *state, uint64_t now)
{
	struct hstub *b = state;

	if (!b->c)
		return;
	expire(b->c, now);
	if (conn_idle_at_boundary(b->c))
		conn_put(b->c);
}

static void http_close(void *state, enum pl_close_reason why, uint64_t ts)
{
	struct hstub *b = state;

	if (!b->c)
		return;
	conn_close(b->c, ts);
	conn_put(b->c);
}

/* The flow entry holds only the stub: a connection without bytes costs nothing more. */
static size_t http_state_size(const struct pl_config *cfg)
{
	return sizeof(struct hstub);
}

static int http_init(void *state, const struct pl_conn *conn, const struct pl_proto_env *env)
{
	struct hstub *b = state;

	b->conn = conn;
	b->env = env;
	return 0;
}

static void http_thread_cleanup(void)
{
	trim_free();
}

const struct pl_proto_ops pl_http_ops = {
	.thread_cleanup = http_thread_cleanup,
	.name = "http",
	.state_size = http_state_size,
	.init = http_init,
	.data = http_data,
	.gap = http_gap,
	.idle = http_idle,
	.close = http_close,
};
