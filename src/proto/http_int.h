/* http_int.h – what the HTTP module's files share (http.c, http_parse.c, http_fast.c,
 * http_txn.c, http_event.c, http_mem.c; not for use outside src/proto/http*): the records
 * of messages and connections, the on_* functions both parsers deliver a message's parts
 * through (static inline: the fast path calls them per header), and each file's entry points.
 *
 * The records: a struct hstub sits in the flow entry; its struct hconn (both directions'
 * parser states, struct hside, and the queues of struct hmsg records) is allocated while the
 * connection has bytes in flight (http_mem.c). Records hold each message's kept strings in
 * their own buffer as spans. */
#ifndef PKTLOG_HTTP_INT_H
#define PKTLOG_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <http_parser.h>
#include "pktlog/http2.h"
#include "pktlog/proto.h"
#include "txq.h"

struct h2c_hold;

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
/* A response head cut by a hole is taken to end within this many bytes of its start. */
#define HTTP_RESP_HEAD_MAX 16384u
#define HTTP_INTERIM_LOST_MAX 40u /* a lost hole this small may be "HTTP/1.1 100 Continue" */

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
	NOTE_NOBODY = 128, /* response: read without the body its head announces, its request not
			    * known to be HEAD (cleared when it pairs with a HEAD) */
};
/* MODE_SWITCH: the side stopped for a protocol switch (http_h2c.c): the request side holds
 * its bytes while an `Upgrade: h2c` request waits for its answer (or a first read may still
 * be HTTP/2's preface); the response side stops after the answer so that conn_data hands
 * the rest of the segment on. Never stored in a stub's rest (such a state is not idle). */
enum { MODE_HUNT = 0, MODE_SYNC, MODE_DEAD, MODE_SWITCH };
enum { HS_NONE = 0, HS_FIELD, HS_VALUE };
enum { RED_NONE = 0, RED_STAR, RED_COOKIE };

/* Headers whose values the event needs whether or not they are sent. */
enum hkind {
	HK_OTHER = 0, HK_CLEN, HK_CTYPE, HK_HOST, HK_UA, HK_REFERER, HK_XFF,
	HK_AUTH, HK_PROXY_AUTH, HK_COOKIE, HK_SET_COOKIE,
	HK_EXPECT,        /* a request's "100-continue" tells what a small lost response was */
	/* only the fast path looks at these (they change framing); to the event they are
	 * headers like any other */
	HK_CONNECTION, HK_UPGRADE, HK_PROXY_CONN, HK_TE,
	HK_NONE = -1,     /* not classified yet */
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
	bool stand_in;            /* request: counted from a cut tail or start, nothing of it read
				   * but that it was there: no event of its own without a response */
	bool h2c;                 /* request: HTTP/1.1 with `Upgrade: h2c` among its tokens */
	bool expect_continue;     /* request: sent "Expect: 100-continue" */
	struct hmsg *resp;        /* request: the response that answered it before it ended */
	struct span url, phrase, ctype, host, ua, referer, xff, user;
	bool has_ctype, has_host, has_ua, has_referer, has_xff, has_user, has_clen;
	int n_hdr;
	uint32_t len;
	/* kept across reuse (http_msg_get clears what is above) */
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
	/* A response head announced a Content-Length body but its request is not known (lost,
	 * or not yet captured): whether the body follows is decided by the next bytes (a status
	 * line, or not) or by the next request (HEAD, or the client's order). probe_left is the
	 * announced length; nprobe bytes of "HTTP/1." are held, from probe_ts. */
	uint64_t probe_left;
	uint64_t probe_ts;
	uint8_t nprobe;
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
	uint8_t up_st;            /* request: scanning an Upgrade value for the h2c token */
	bool after_gap;           /* request side: bytes were lost just before these */
	/* request side: what the last hole cut (GAP_*), until a head's end after it is seen: a
	 * head tail after it may be the end of the request it cut */
	uint8_t gap_cut;
	/* request side: the last feed left the request line open (in the URL, or after the
	 * method's spaces): feed_end is where that feed's bytes ended (http_feed) */
	bool line_open;
	/* request side: the last hole cut the request line of the request it cut, so a request
	 * line's tail right after it may be that request's own */
	bool gap_line;
	const uint8_t *feed_end;
	bool pfx_after_head;      /* request side: the held prefix began right after a blank line */
	/* response side: a hole cut a response's head after its Content-Length: at most how
	 * many more bytes it spans (head taken to be within HTTP_RESP_HEAD_MAX); hunting past
	 * them to a status line proves a whole response lay in the lost bytes */
	bool frame_known;
	int64_t frame_left;
	/* A hole here may have held message starts, how many is unknown (not a hole within a
	 * body of known length), since the pairing was last known whole (http_unsure_settle). */
	bool unsure;
};
/* GAP_HEAD_NOBODY: the head of a GET or HEAD (a body is not expected: once answered, it
 * has ended); GAP_HEAD: the head of another request, or of one whose method was cut. */
enum { GAP_BOUNDARY = 0, GAP_HEAD_NOBODY, GAP_HEAD, GAP_BODY };

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
	bool interim_lost;        /* an interim response's bytes were lost: the final one says so */
	struct hstub *stub;       /* the flow's stub that points here */
	struct hconn *lru_prev, *lru_next;   /* per thread, most recently active first */
	/* Request bytes were lost or skipped since the pairing was last known whole: a held
	 * response may answer a request the capture lacks. */
	bool req_gap;
	/* Request bytes were lost (a gap, not the capture's start) since req_gap was last
	 * cleared: the client's order may tell a response answered a request not captured. */
	bool req_lost;
	/* Response bytes were lost and no whole response has been read since: a request that
	 * goes out unmatched may have had its response in the hole. */
	bool resp_lost;
	uint32_t keep_cap;
	/* The switch to HTTP/2 (http_h2c.c): H2C_* state, the client bytes held meanwhile
	 * (NULL until some arrive), the bytes the hold could not keep, and the parser made
	 * when the switch is decided (handed to the stub at the end of that same call). */
	uint8_t h2c;
	struct h2c_hold *hold;
	uint64_t hold_lost;
	struct pl_http2 *h2;
};

/* What the flow entry holds (proto.h's state). The connection's parser state (hconn) is
 * allocated when its bytes arrive and handed back when it holds nothing (idle at message
 * boundaries) or when protocols.http.max_memory_mb needs it for busier connections; `rest`
 * keeps what each side's parser must resume with (REST_* bits). */
struct hstub {
	union {
		struct hconn *c;
		struct pl_http2 *h2;  /* when http2: the connection is HTTP/2's now */
	};
	const struct pl_conn *conn;
	const struct pl_proto_env *env;
	uint8_t rest[2];
	bool refused;             /* the last allocation failed: counted once */
	bool http2;               /* handed over to HTTP/2 (Upgrade: h2c, or the preface) */
};
_Static_assert(sizeof(struct hstub) <= 32, "the flow entry reserves 32 bytes per connection");
/* rest: the side's mode in the low 2 bits; zero is a connection never seen. */
enum { REST_SEEN = 4 /* not `first` */, REST_MIDLINE = 8 /* not `line_start` */,
       REST_AFTER_GAP = 16 /* `after_gap` */, REST_UNSURE = 32 /* `unsure` */ };

/* --- http_mem.c: records, connection states, the memory budget --- */

/* A cleared record: from the free list, or new within the budget (NULL when refused). */
struct hmsg *http_msg_get(struct hconn *c);
/* Back to the free list (or freed); NULL is ignored. */
void http_msg_put(struct hmsg *m);
/* Append up to len bytes within the message's keep cap; returns bytes kept. */
uint32_t http_msg_append(struct hconn *c, struct hmsg *m, const char *p, size_t len);
/* One more kept header slot within the budget; false, marked and counted, when refused. */
bool http_hdr_grow(struct hconn *c, struct hmsg *m);
/* The stub's state, made (or remade where the stub says) when bytes arrive and marked most
 * recently active; NULL when the budget or malloc refuses it (counted once). */
struct hconn *http_conn_get(struct hstub *b, enum pl_dir dir);
/* Nothing but parser positions at message boundaries: the state may be handed back. */
bool http_conn_idle(const struct hconn *c);
/* Hand a state back: its stub remembers where each side resumes. */
void http_conn_put(struct hconn *c);
/* Free this thread's free lists. */
void http_mem_trim(void);

/* Reserve (or give back, negative) bytes a connection holds outside its records within
 * protocols.http.max_memory_mb; false when refused. */
bool http_mem_hold(struct hconn *c, long delta);

/* --- http_txn.c: pairing, expiry, completion --- */

static inline struct hmsg *pend_head(const struct hconn *c)
{
	return PL_TXQ_ENTRY(pl_txq_head(&c->pend), struct hmsg, link);
}

static inline struct hmsg *orph_head(const struct hconn *c)
{
	return PL_TXQ_ENTRY(pl_txq_head(&c->orph), struct hmsg, link);
}

/* Emit one transaction (either side may be NULL) and release both records. */
void http_emit_txn(struct hconn *c, struct hmsg *req, struct hmsg *resp, const char *err);
/* A request begins while responses are held: the one that answers it, if any, is taken. */
void http_claim_orphan(struct hconn *c, struct hmsg *req);
/* A record leaves its side unfinished: a response it holds still goes out. */
void http_release_msg(struct hconn *c, struct hmsg *m);
/* Time out what waits longer than protocols.http.transaction_timeout. */
void http_expire(struct hconn *c, uint64_t now);
/* The side's message ended: count it, and pair it or queue it. */
void http_finish_current(struct hconn *c, struct hside *s);
/* The side's message cannot be parsed further: kept (marked) or dropped. */
void http_fail_current(struct hconn *c, struct hside *s, uint8_t note);
/* Whether the response being parsed answers a HEAD. */
bool http_pending_is_head(const struct hconn *c);
/* Response bytes were lost: the oldest pending request may go out without its response. */
void http_lost_response(struct hconn *c, const struct hside *s, uint64_t len);
/* Response side: a response's head was cut by a hole of `len` bytes after its Content-Length
 * was read: how far it may reach is kept, to tell later whether a whole one was lost. */
void http_cut_response_frame(struct hside *s, uint64_t len);
/* Response side, hunting after such a cut: `k` more bytes went by without a status line.
 * Bytes beyond the cut response's reach began the next response, lost: the oldest waiting
 * request goes out without one (marked), so the responses after keep their requests. */
void http_frame_bytes(struct hconn *c, struct hside *s, int64_t k);
/* Request bytes after a hole while hunting: a first line that ends a request line (" HTTP/1.x")
 * proves a request whose start was lost; it is counted (fields unknown, marked) so responses
 * keep their order. */
void http_cut_request_tail(struct hconn *c, const uint8_t *p, size_t n, uint64_t ts);
/* A hole cuts the request side while it holds the start of a method after a head's blank
 * line: a request began there, its method unreadable; it is counted (marked). */
void http_cut_request_start(struct hconn *c, struct hside *s);
/* The budget takes this state: what it holds goes out now, marked. */
void http_conn_drop(struct hconn *c);
/* The note on an event paired while holes on both sides may hold messages of unknown
 * count: requests cut by the capture, whose responses may be among those that come. */
#define HTTP_UNSURE_NOTE "Pairing uncertain: requests cut in the capture (packet loss or snap length)"
/* Whether a request paired now with a response may have been given another's response. */
static inline bool http_pair_unsure(const struct hconn *c)
{
	return c->side[PL_DIR_TO_SERVER].unsure && c->side[PL_DIR_TO_CLIENT].unsure;
}
/* Every request seen is answered and both sides are at a message boundary (or a request
 * begins, `req_begins`): the pairing is known whole again. */
void http_unsure_settle(struct hconn *c, bool req_begins);
/* Every pending request and held response goes out unmatched, with `note` added. */
void http_txn_flush(struct hconn *c, uint8_t note);

/* --- http_event.c --- */

/* Emit one transaction (either side may be NULL); the records stay the caller's. */
void http_emit_event(struct hconn *c, const struct hmsg *req, const struct hmsg *resp,
		     const char *err);

/* --- http.c --- */

/* Lose sync on this side: hunt for the next message start (counted). */
void http_start_hunt(struct hconn *c, struct hside *s, bool line_start);
/* Bytes of one direction, as the flow layer delivers them. */
void http_conn_data(struct hconn *c, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts);
void http_conn_gap(struct hconn *c, enum pl_dir dir, uint64_t len, uint64_t ts);

/* --- http_h2c.c: the switch to HTTP/2 --- */

/* hconn.h2c: nothing pending; an h2c request waits for its answer (its side holds); a
 * first client read may be the preface (held); the 101 came (switch at the end of the
 * call); another answer came (replay); held bytes are being replayed to HTTP/1; the
 * server's first bytes (HTTP/2 SETTINGS-like) are held until the client's first ones. */
enum { H2C_NONE = 0, H2C_HOLD, H2C_PREFACE, H2C_GO, H2C_NO, H2C_REPLAY, H2C_SERVER_FIRST };

/* An Upgrade header value's bytes (requests): tracks whether "h2c" is among its tokens. */
void http_h2c_scan(struct hside *s, const char *at, size_t len);
/* At the header's end: whether the scanned value had the token. */
bool http_h2c_found(uint8_t up_st);
/* A request ended (before it is paired): an h2c one makes its side hold what follows. */
void http_h2c_request_done(struct hconn *c, struct hside *s, const struct hmsg *m);
/* A final response ended, not yet paired: true when it is the 101 that switches (both
 * records are then taken: the request becomes HTTP/2's stream 1). */
bool http_h2c_response_done(struct hconn *c, struct hside *s, struct hmsg *m);
/* A side's first bytes on a connection: true when taken, because they are (or may be)
 * HTTP/2's preface (the connection switches, or they are held until 24 bytes tell), or
 * the server's SETTINGS before any client byte (held until the client's first bytes). */
bool http_h2c_first(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts);
/* conn_data stopped on a MODE_SWITCH side: hold, switch or replay; p[0..n) is the rest of
 * the segment. May hand the connection to HTTP/2 (c is then gone). */
void http_h2c_resume(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts);
/* A gap on the held side. */
void http_h2c_gap(struct hconn *c, uint64_t len, uint64_t ts);
/* The connection ends while holding: held HTTP/1 bytes are parsed, HTTP/2 ones dropped. */
void http_h2c_close(struct hconn *c, uint64_t ts);
/* The budget drops this state: the hold goes too (its bytes counted as lost). */
void http_h2c_drop(struct hconn *c);

/* --- http_parse.c: the record, and the http-parser path --- */

int http_on_begin(struct hside *s);
void http_on_header_field(struct hside *s, const char *at, size_t len);
void http_header_begin_value(struct hside *s, enum hkind known);
void http_header_end(struct hside *s);
/* http-parser back at a message start on this side. */
void http_side_reset(struct hconn *c, struct hside *s);
/* Feed bytes to http-parser; returns how many it consumed (at least one unless n == 0). */
size_t http_feed(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts);
/* The connection ended: true when that ends the side's message (a close-delimited body). */
bool http_feed_eof(struct hside *s);

/* --- http_fast.c --- */

/* Parse one ordinary message head at p[0..n) and deliver it; its length, or 0 (nothing done:
 * use http-parser). */
size_t http_fast_head(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts);
/* Body bytes of a message the fast path began; returns bytes taken. */
size_t http_fast_body(struct hconn *c, struct hside *s, size_t n, uint64_t ts);
/* Whether a response head with a Content-Length body must wait for a sign of its framing
 * (its request is not known). */
bool http_probe_wanted(const struct hconn *c);
/* Bytes after a probed response's head; returns bytes taken. */
size_t http_probe_bytes(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts);
/* A request's method is known while the response side probes: it may settle the framing. */
void http_probe_request(struct hconn *c, const struct hmsg *req);
/* The probe cannot be settled by what follows (a gap, the end): the body is taken as sent. */
void http_probe_as_body(struct hconn *c, struct hside *s, uint64_t ts);
/* Forget a probe (the side resynchronises or fails). */
static inline void http_probe_clear(struct hside *s)
{
	s->probe_left = 0;
	s->nprobe = 0;
}

/* --- inline helpers shared by both parsers --- */

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
	f->len += http_msg_append(c, m, p, want);
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
	case 6: return LC_EQ(name, 6, "cookie") ? HK_COOKIE :
		       LC_EQ(name, 6, "expect") ? HK_EXPECT : HK_OTHER;
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

/* The on_* functions (these, and http_on_begin and http_on_header_field in http_parse.c)
 * are what a message's parts do to the record; http-parser's callbacks (http_parse.c) and
 * the fast path (http_fast.c) both call them, in the same order with the same bytes. */

static inline void on_url(struct hside *s, unsigned method, const char *at, size_t len)
{
	bool first = !s->cur->has_method;

	s->cur->start_line_done = true;
	s->cur->method = (uint8_t)method;     /* http-parser knows it once the URL starts */
	s->cur->has_method = true;
	if (first && s->c->side[PL_DIR_TO_CLIENT].probe_left)
		http_probe_request(s->c, s->cur);
	field_append(s->c, s->cur, &s->cur->url, at, len, s->c->env->cfg->http.max_url_length);
}

static inline void on_status(struct hside *s, unsigned vmaj, unsigned vmin, unsigned code,
			     const char *at, size_t len)
{
	s->cur->status = (uint16_t)code;
	s->cur->vmaj = (uint8_t)vmaj;
	s->cur->vmin = (uint8_t)vmin;
	s->cur->has_version = true;
	s->cur->start_line_done = true;
	field_append(s->c, s->cur, &s->cur->phrase, at, len, HTTP_PHRASE_MAX);
}

static inline void on_header_value(struct hside *s, const char *at, size_t len, enum hkind known)
{
	if (s->hstate != HS_VALUE) {
		http_header_begin_value(s, known);
		s->hstate = HS_VALUE;
	}
	if (s->hstore)
		field_append(s->c, s->cur, &s->hval, at, len, HTTP_VALUE_MAX);
}

/* Returns 1 when the message has no body (as http-parser's on_headers_complete). */
static inline int on_headers_done(struct hside *s, unsigned vmaj, unsigned vmin,
				  unsigned method, unsigned status)
{
	struct hmsg *m = s->cur;
	int st = (int)status;

	if (s->hstate == HS_VALUE)
		http_header_end(s);
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
		if (st / 100 == 1 || st == 204 || st == 304 || http_pending_is_head(s->c))
			return 1;
	}
	s->in_body = true;
	return 0;
}

#endif
