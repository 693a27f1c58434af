/* json_http.c – the HTTP fields of an event in Packetbeat/ECS JSON: method and query, url.*,
 * user_agent, user, http.request/response with their headers; and their share of the
 * renderer's bound. Maps filled-in fields to their names; knows no HTTP parsing. */
#include "json_write.h"

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
		if (h->status_code)   /* 0: never read; absent, the producer notes why */
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

/* The URL as Packetbeat builds it: scheme, Host (or the server address), port unless the
 * scheme's default (80; 443 for https). The scheme is "http" for HTTP/1.x (a request in
 * clear), the stream's own for HTTP/2 (absent with url.full when it sent none).
 * path: the escaped path written for "query" (len SIZE_MAX when it was cut there). */
AI void url(struct jw *w, const struct pl_event *ev, const char *sip, size_t sip_len,
		struct esc path)
{
	const struct pl_event_http *h = &ev->http;
	struct pl_str scheme = h->h2 ? h->h2->url_scheme : (struct pl_str){ "http", 4 };
	unsigned dflt = scheme.len == 5 && memcmp(scheme.p, "https", 5) == 0 ? 443 : 80;
	struct pl_str domain = h->host.len ? h->host : (struct pl_str){ sip, sip_len };
	unsigned port = h->host.len ? (h->host_port ? h->host_port : dflt) : ev->server.port;
	/* An IPv6 literal needs brackets in a URL; a Host header already has them. */
	bool v6lit = memchr(domain.p, ':', domain.len) != NULL && domain.p[0] != '[';
	/* ":port" when not the default */
	size_t port_len = port == dflt ? 0 : port >= 10000 ? 6 : port >= 1000 ? 5 : port >= 100 ? 4 :
			  port >= 10 ? 3 : 2;
	size_t full_len;
	struct esc dom, sch = { "", 0 };

	OBJ(w, "url");
	if (scheme.len) {
		LIT(w, "\"scheme\":\"");
		sch.p = w->p;
		raw_escaped(w, scheme.p, scheme.len, false);
		sch.len = (size_t)(w->p - sch.p);
		LIT(w, "\",");
	}
	LIT(w, "\"domain\":\"");
	dom.p = w->p;
	raw_escaped(w, domain.p, domain.len, false);
	dom.len = (size_t)(w->p - dom.p);
	putc_(w, '"');
	w->need_comma = true;
	if (port != dflt) {
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
	full_len = scheme.len + 3 + (v6lit ? 2 : 0) + domain.len + port_len + h->path.len +
		   (h->query.len ? 1 + h->query.len : 0);
	if (scheme.len && full_len <= 8192) {
		LIT(w, ",\"full\":\"");
		put(w, sch.p, sch.len);
		LIT(w, "://");
		if (v6lit)
			putc_(w, '[');
		put(w, dom.p, dom.len);
		if (v6lit)
			putc_(w, ']');
		if (port != dflt) {
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

/* HTTP/2 streams: written by json_http2.c (the room is in pl_json_http_bound). */
AI void http2_part(struct jw *w, const struct pl_event_http2 *x)
{
	char *q = w->full ? NULL : pl_json_http2(w->p, w->end, x);

	if (q)
		w->p = q;
	else
		jw_overflow(w);
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
	if (h->h2)
		http2_part(w, h->h2);
}

void pl_json_http(struct jw *w, const struct pl_event *ev, const char *sip, size_t sip_len)
{
	JW_RENDER(w, http_fields, ev, sip, sip_len);
}

/* Sum of the lengths of a message's headers. */
static size_t headers_len(const struct pl_http_msg *m)
{
	size_t n = 0;

	for (int i = 0; i < m->n_headers; i++)
		n += m->headers[i].name.len + m->headers[i].value.len + 8;
	return n;
}

size_t pl_json_http_bound(const struct pl_event_http *h)
{
	/* method: method, query, http.request.method; path: query, url.path, url.full;
	 * host: server.domain, destination.domain, url.domain, url.full */
	size_t n = 3 * (h->method.len + h->path.len) + 4 * h->host.len + 2 * h->query.len +
		   h->version.len + h->user_agent.len + h->referrer.len + h->forwarded_ip.len +
		   h->user_name.len + h->status_phrase.len + h->request.mime_type.len +
		   h->response.mime_type.len;

	if (h->has_request)
		n += headers_len(&h->request);
	if (h->has_response)
		n += headers_len(&h->response);
	if (h->h2)
		n += pl_json_http2_len(h->h2);
	return n;
}
