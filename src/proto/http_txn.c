/* http_txn.c – HTTP transactions: the pending requests and held early responses (txq.h),
 * pairing responses with requests (pipelined, early, out of order), expiry, message
 * completion and what leaves unpaired. Must not: parse bytes or fill event fields. */
#include <limits.h>
#include "http_int.h"

/* Emit one transaction (either side may be NULL) and release both records. */
void http_emit_txn(struct hconn *c, struct hmsg *req, struct hmsg *resp, const char *err)
{
	if (req && resp && req->has_method && req->method == HTTP_HEAD)
		resp->notes &= (uint8_t)~NOTE_NOBODY;   /* the guess was right */
	http_emit_event(c, req, resp, err);
	http_msg_put(req);
	http_msg_put(resp);
}

static struct hmsg *pend_pop(struct hconn *c)
{
	return PL_TXQ_ENTRY(pl_txq_pop(&c->pend), struct hmsg, link);
}

static void emit_unmatched_request(struct hconn *c, struct hmsg *req)
{
	c->env->stats->http_unmatched_requests++;
	if (req->stand_in) {
		http_msg_put(req);   /* an event would hold nothing: no method, URL or status */
		return;
	}
	if (c->resp_lost)
		req->notes |= NOTE_NORESP;
	http_emit_txn(c, req, NULL, "Unmatched request");
}

static void emit_unmatched_response(struct hconn *c, struct hmsg *resp)
{
	c->env->stats->http_unmatched_responses++;
	http_emit_txn(c, NULL, resp, "Unmatched response");
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
__attribute__((noinline)) void http_claim_orphan(struct hconn *c, struct hmsg *req)
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
__attribute__((noinline)) void http_release_msg(struct hconn *c, struct hmsg *m)
{
	struct hmsg *r;

	if (!m)
		return;
	r = m->resp;
	m->resp = NULL;
	if (r && m->start_line_done && !m->emitted)
		http_emit_txn(c, m, r, NULL);
	else if (r)
		emit_unmatched_response(c, r);
	if (!r || !m->start_line_done || m->emitted)
		http_msg_put(m);
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
	http_emit_event(c, m, m->resp, NULL);
	http_msg_put(m->resp);
	m->resp = NULL;
	m->emitted = true;
}

void http_expire(struct hconn *c, uint64_t now)
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
		http_msg_put(m);             /* went out when it stalled */
		return;
	}
	if (r) {
		m->resp = NULL;         /* answered early: both ends are here now */
		http_emit_txn(c, m, r, NULL);
		return;
	}
	pend_push(c, m);
}

static void set_dead(struct hconn *c)
{
	for (int d = 0; d < 2; d++) {
		c->side[d].mode = MODE_DEAD;
		http_release_msg(c, c->side[d].cur);
		c->side[d].cur = NULL;
		c->side[d].in_msg = false;
		c->side[d].fast_left = 0;
		http_probe_clear(&c->side[d]);
	}
}

/* A final response is complete: it answers the oldest request not yet answered, whether that
 * request has ended or is still arriving (nginx answers some before reading their bodies).
 * With none, it waits for a request that begins before it ended (orph_push,
 * http_claim_orphan). */
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
		http_emit_txn(c, pend_pop(c), m, NULL);
		return;
	}
	/* (one read without its body by the client's order ended before this request began:
	 * it answered one the capture lacks) */
	if (cur && !cur->resp && !cur->emitted &&
	    !((m->notes & NOTE_NOBODY) && m->end_ns < cur->start_ns)) {
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
		http_msg_put(m);             /* interim: the final response pairs */
		return;
	}
	m->bytes += c->interim_bytes;
	c->interim_bytes = 0;
	if (c->interim_lost)
		m->notes |= NOTE_LOSS;
	c->interim_lost = false;
	if (!m->notes)
		c->resp_lost = false;   /* responses are read whole again */
	st->http_responses++;
	pair_response(c, m);
	if (upgraded)
		set_dead(c);     /* another protocol follows */
}

/* (A request beginning is at its side's boundary; a response side hunting after a hole is
 * between messages.) */
void http_unsure_settle(struct hconn *c, bool req_begins)
{
	const struct hside *rq = &c->side[PL_DIR_TO_SERVER], *rs = &c->side[PL_DIR_TO_CLIENT];

	if (!rq->unsure && !rs->unsure)
		return;
	if (pend_head(c) || orph_head(c) || c->pend.late)
		return;
	if (!req_begins && (rq->mode != MODE_SYNC || rq->in_msg || rq->cur || rq->acc))
		return;
	if (rs->in_msg || rs->cur || rs->probe_left || (rs->mode == MODE_HUNT && rs->npfx))
		return;
	c->side[PL_DIR_TO_SERVER].unsure = c->side[PL_DIR_TO_CLIENT].unsure = false;
}

void http_finish_current(struct hconn *c, struct hside *s)
{
	struct hmsg *m = s->cur;

	s->cur = NULL;
	s->in_msg = s->in_body = false;
	s->fast_left = 0;
	if (!m)
		return;
	m->bytes = s->acc;
	s->acc = 0;
	if (s->dir == PL_DIR_TO_SERVER) {
		if (__builtin_expect(m->h2c, 0))
			http_h2c_request_done(c, s, m);   /* its side holds what follows */
		finish_request(c, m);
	} else if (!(__builtin_expect(c->h2c == H2C_HOLD, 0) && http_h2c_response_done(c, s, m))) {
		finish_response(c, m);
	}
	if (__builtin_expect(s->unsure, 0) || __builtin_expect(c->side[!s->dir].unsure, 0))
		http_unsure_settle(c, false);
}

/* A hole cuts a request's first bytes, which http-parser took for the start of a method:
 * a request began there (the snap length cut "GE"), to be counted so that its response is
 * not given to the next one. */
static bool cut_in_method(const struct hside *s, uint8_t note)
{
	return note == NOTE_LOSS && s->dir == PL_DIR_TO_SERVER && s->acc > 0 &&
	       HTTP_PARSER_ERRNO(&s->p) == HPE_OK;
}

/* The current message cannot be parsed further: keep it when its start line was seen
 * (so pairing stays aligned), drop it otherwise. */
void http_fail_current(struct hconn *c, struct hside *s, uint8_t note)
{
	struct hmsg *m = s->cur;

	s->fast_left = 0;
	http_probe_clear(s);
	if (!m || !s->in_msg) {
		s->acc = 0;
		return;
	}
	if (!m->start_line_done && !m->headers_done && cut_in_method(s, note)) {
		/* a request began: counted, its method read when all of it was ("GET ") */
		m->start_line_done = true;
		m->stand_in = !m->has_method;
	} else if (!m->start_line_done && !m->headers_done) {
		http_release_msg(c, m);
		s->cur = NULL;
		s->in_msg = s->in_body = false;
		s->acc = 0;
		return;
	}
	m->notes |= note;
	if (!m->end_ns)
		m->end_ns = s->ts;
	http_finish_current(c, s);
}

/* Whether the response being parsed answers a HEAD: the oldest unanswered request, ended or
 * still arriving. Unknown (not HEAD) after expiries or while responses wait for requests. */
bool http_pending_is_head(const struct hconn *c)
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

/* Response bytes were lost at a message boundary: they began the response to the oldest
 * request waiting (responses come in request order), which goes out without one, so the
 * responses after the hole keep their own requests. */
void http_lost_response(struct hconn *c, const struct hside *s, uint64_t len)
{
	bool boundary = s->mode == MODE_SYNC ? !s->in_msg : s->first && s->npfx == 0;

	if (!boundary || c->pend.late || !pend_head(c))
		return;
	/* A hole the size of "HTTP/1.1 100 Continue" before any interim response to a request
	 * that asked for one: it was that interim; the final response still comes (marked). */
	if (pend_head(c)->expect_continue && c->interim_bytes == 0 && len <= HTTP_INTERIM_LOST_MAX) {
		c->interim_bytes += len;
		c->interim_lost = true;
		return;
	}
	emit_unmatched_request(c, pend_pop(c));
}

void http_txn_flush(struct hconn *c, uint8_t note)
{
	while (pend_head(c)) {
		struct hmsg *m = pend_pop(c);

		m->notes |= note;
		emit_unmatched_request(c, m);
	}
	while (orph_head(c)) {
		struct hmsg *m = orph_pop(c);

		m->notes |= note;
		emit_unmatched_response(c, m);
	}
}

/* The budget needs this connection's state: what it holds goes out now, marked, and its
 * streams resynchronise at the next message start they show. */
void http_conn_drop(struct hconn *c)
{
	c->env->stats->proto_state_dropped++;
	if (c->h2c || c->hold_lost)
		http_h2c_drop(c);
	for (int d = PL_DIR_TO_CLIENT; d >= PL_DIR_TO_SERVER; d--) {
		struct hside *s = &c->side[d];
		struct hmsg *m = s->cur;
		bool mid = s->in_msg || s->acc || (s->mode == MODE_SYNC && !s->fresh) ||
			   (s->mode == MODE_HUNT && s->npfx);

		s->cur = NULL;
		s->in_msg = s->in_body = false;
		s->fast_left = 0;
		http_probe_clear(s);
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
			http_release_msg(c, m);
			continue;
		}
		m->notes |= NOTE_MEMORY;
		if (!m->end_ns)
			m->end_ns = s->last_ts;
		if (d == PL_DIR_TO_CLIENT) {
			if (pend_head(c))
				http_emit_txn(c, pend_pop(c), m, NULL);
			else
				emit_unmatched_response(c, m);
		} else if (m->emitted) {
			http_release_msg(c, m);   /* went out when it stalled; a response it holds too */
		} else if (!m->resp) {
			emit_unmatched_request(c, m);
		} else {
			struct hmsg *r = m->resp;

			m->resp = NULL;
			http_emit_txn(c, m, r, NULL);
		}
	}
	http_txn_flush(c, NOTE_MEMORY);
	c->pend.late = 0;
	c->interim_bytes = 0;
	c->interim_lost = false;
}

/* A request whose start (or end) lies in lost bytes, `bytes` of it captured: counted with
 * method and URL unknown (NOTE_LOSS: its head was cut), so the response to it is not given
 * to the next one. */
static void count_cut_request(struct hconn *c, uint64_t ts, size_t bytes)
{
	struct hmsg *m = http_msg_get(c);

	if (!m)
		return;
	m->start_ns = m->end_ns = ts;
	m->notes = NOTE_LOSS;
	m->start_line_done = true;
	m->stand_in = true;
	m->bytes = bytes;
	c->req_gap = c->req_lost = true;   /* request bytes were lost: this proves it */
	if (c->side[PL_DIR_TO_CLIENT].probe_left)
		http_probe_request(c, m);       /* its method is unknown: the client's order decides */
	if (orph_head(c))
		http_claim_orphan(c, m);
	finish_request(c, m);
}

static bool is_tchar(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
	       (b && strchr("!#$%&'*+-.^_`|~", b));
}

/* "Name:" at p[0..n): a header line's start. */
static bool header_line(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && is_tchar(p[i]))
		i++;
	return i > 0 && i < n && p[i] == ':';
}

/* Methods whose first bytes, or whose name and space before a request line, are taken
 * as a request's start next to a hole. */
static const char *const cut_methods[] = { "GET ", "HEAD ", "POST ", "PUT ", "DELETE ",
					   "OPTIONS ", "PATCH " };

/* p[0..n) begins with a method's name and space. */
static bool method_start(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < PL_ARRAY_LEN(cut_methods); i++) {
		size_t l = strlen(cut_methods[i]);

		if (n >= l && !memcmp(p, cut_methods[i], l))
			return true;
	}
	return false;
}

/* The tail of a request head at p[0..n): the end of some line (no control bytes but tab;
 * or only its LF, the CR lost with the bytes before), then header lines, then the blank
 * line. Returns its length up to and with the blank line's CRLF, or 0. A lone LF or CRLF
 * right before a request line is such a tail too: the blank line's LF (its CR in the hole),
 * or the whole blank line (the last header line's CRLF in the hole). */
static size_t head_tail_len(const uint8_t *p, size_t n)
{
	bool lf = n > 0 && p[0] == '\n';   /* the first line's end: its CR was in the hole */
	size_t line = lf;   /* start of the line being read */
	bool first = !lf;

	n = PL_MIN(n, (size_t)HTTP_KEEP_MAX);
	if (lf && method_start(p + 1, n - 1))
		return 1;
	if (n > 2 && p[0] == '\r' && p[1] == '\n' && method_start(p + 2, n - 2))
		return 2;
	for (size_t i = line; i + 1 < n; i++) {
		if (p[i] != '\r') {
			if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
				return 0;
			continue;
		}
		if (p[i + 1] != '\n')
			return 0;
		if (i == line && !first)   /* the blank line, after some bytes */
			return i + 2 > 4 || lf ? i + 2 : 0;
		if (!first && !header_line(p + line, i - line))
			return 0;
		first = false;
		line = i + 2;
		i++;
	}
	return 0;
}

/* Request bytes after a hole while hunting (http.c). Two shapes prove a request that began in
 * the lost bytes:
 * - a request line's tail "... HTTP/1.x\r\n" at their start, unless the hole cut the request
 *   line of a request not yet answered (in its URL, or after its method: gap_line), whose
 *   own tail it is;
 * - after a hole (not at the capture's start, where the response to it may lie before the
 *   first response bytes too), a head's tail (the end of a line, header lines, the blank
 *   line), unless it may end the request the hole cut: the hole came at a message boundary,
 *   or cut the head of a GET or HEAD that has been answered (a server answers once the
 *   head is read, and such a request ends with its head). Any other request may go on
 *   with a body (a chunked one ends in "0\r\n\r\n", the shape of a head's end), and an
 *   unanswered one's head may end here.
 * Such a request is counted (fields unknown, marked) so responses keep their order. */
void http_cut_request_tail(struct hconn *c, const uint8_t *p, size_t n, uint64_t ts)
{
	struct hside *s = &c->side[PL_DIR_TO_SERVER];
	const uint8_t *lf = memchr(p, '\n', PL_MIN(n, (size_t)HTTP_KEEP_MAX));
	bool own_line = s->gap_line && pend_head(c);
	size_t len, tail;

	if (!lf)
		return;
	s->gap_line = false;
	len = (size_t)(lf - p);
	if (len < 10 || p[len - 1] != '\r' || memcmp(p + len - 10, " HTTP/1.", 8) ||
	    (p[len - 2] != '0' && p[len - 2] != '1')) {
		tail = head_tail_len(p, n);
		if (!tail || !s->after_gap)
			return;
		if (s->gap_cut == GAP_BOUNDARY || (s->gap_cut == GAP_HEAD_NOBODY && !pend_head(c)))
			count_cut_request(c, ts, tail);
		s->gap_cut = GAP_BOUNDARY;   /* a head ended here, whose ever it was */
		return;
	}
	s->gap_cut = GAP_BOUNDARY;
	if (own_line)
		return;   /* the rest of the request line the hole cut, not yet answered */
	for (size_t i = 1; i + 1 < len; i++)
		if (p[i] == ' ' && i + 1 < len - 10)
			return;   /* a whole "METHOD URL HTTP/1.x" line: hunting takes it */
	count_cut_request(c, ts, len + 1);   /* (" /c.txt HTTP/1.1": its method was in the hole) */
}

/* A hole while hunting holds the first bytes of a method right after a head's blank line:
 * a request began there. */
void http_cut_request_start(struct hconn *c, struct hside *s)
{
	bool prefix = false;

	if (!s->pfx_after_head)
		return;
	for (size_t i = 0; i < PL_ARRAY_LEN(cut_methods) && !prefix; i++)
		prefix = s->npfx < strlen(cut_methods[i]) && !memcmp(s->pfx, cut_methods[i], s->npfx);
	if (prefix)
		count_cut_request(c, s->pfx_ts, s->npfx);
}

/* The head was cut (in_msg, not in its body) by a hole of `len` bytes. */
void http_cut_response_frame(struct hside *s, uint64_t len)
{
	const struct hmsg *m = s->cur;
	uint64_t clen = s->p.content_length;

	s->frame_known = false;
	if (!m || !m->has_clen || clen == ULLONG_MAX || clen > (uint64_t)INT64_MAX / 4 ||
	    len > (uint64_t)INT64_MAX / 4)
		return;
	s->frame_known = true;
	s->frame_left = (int64_t)(clen + HTTP_RESP_HEAD_MAX) - (int64_t)s->acc - (int64_t)len;
}

void http_frame_bytes(struct hconn *c, struct hside *s, int64_t k)
{
	s->frame_left -= k;
	if (s->frame_left >= 0)
		return;
	/* past the cut response's reach: the bytes there began the next response */
	s->frame_known = false;
	if (!c->pend.late && pend_head(c))
		emit_unmatched_request(c, pend_pop(c));   /* its response was in the hole */
}
