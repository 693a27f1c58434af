/* http_event.c – pl_event filling for HTTP: one transaction (a request, a response, or both)
 * from its records to the event handed to env->emit; URL, host, user and header fields as
 * sent, incomplete messages marked. Must not: parse, pair, or keep anything past the emit. */
#include <string.h>
#include <strings.h>
#include "http_int.h"
#include "http_host.h"

static struct pl_str msg_str(const struct hmsg *m, struct span s)
{
	if (s.len == 0)
		return (struct pl_str){ "", 0 };
	return (struct pl_str){ m->buf + s.off, s.len };
}

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
	{ NOTE_NOBODY,
	  { "", "Response read without the body its Content-Length announces (its request is not in the capture as HEAD)" },
	  { "", "Response read without the body its Content-Length announces (its request is not in the capture as HEAD)" } },
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
		pl_http_split_host(msg_str(req, req->host), h);
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
void http_emit_event(struct hconn *c, const struct hmsg *req, const struct hmsg *resp,
		       const char *err)
{
	struct pl_stats *st = c->env->stats;
	struct pl_event ev;
	struct pl_header hdrs[2][PL_EVENT_MAX_HEADERS];   /* filled up to n_headers: not zeroed */
	char digits[2][24];

	pl_event_begin(&ev, PL_EV_HTTP, c->conn);
	if (err)
		pl_event_add_error(&ev, err);
	if (req)
		fill_request(&ev, req, hdrs[0], digits[0]);
	if (resp)
		fill_response(&ev, resp, hdrs[1], digits[1]);
	if (req && resp && http_pair_unsure(c))
		pl_event_add_error(&ev, HTTP_UNSURE_NOTE);
	ev.http.version = version_of(req, resp);
	ev.ok = req && resp && !err && resp->status > 0 && resp->status < 400;
	if (ev.ok)
		st->http_transactions_ok++;
	else
		st->http_transactions_error++;
	c->env->emit(&ev, c->env->emit_arg);
}
