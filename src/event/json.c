/* json.c – renders a struct pl_event as one line of Packetbeat 8.x / ECS JSON.
 *
 * A bounded streaming writer over the caller's buffer: no allocation, no re-parsing,
 * every string escaped, invalid UTF-8 replaced by U+FFFD. Must not know protocol
 * parsing; it only maps filled-in fields to their ECS names. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "pktlog/event.h"

struct jw {
	char *p, *end;
	bool full;
	bool need_comma;
};

static inline __attribute__((always_inline)) void put(struct jw *w, const char *s, size_t n)
{
	if (w->full || (size_t)(w->end - w->p) < n) {
		w->full = true;
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
}

static inline __attribute__((always_inline)) void putc_(struct jw *w, char c)
{
	if (w->full || w->p >= w->end) {
		w->full = true;
		return;
	}
	*w->p++ = c;
}

static inline __attribute__((always_inline)) void putz(struct jw *w, const char *s)
{
	put(w, s, strlen(s));
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

static void put_escaped(struct jw *w, const char *s, size_t n, bool lower)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	putc_(w, '"');
	while (i < n && !w->full) {
		size_t run = i;
		/* Eight bytes at a time while none is a control byte, '"', '\\' or non-ASCII. */
		while (run + 8 <= n) {
			uint64_t v;
			memcpy(&v, p + run, 8);
			const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
			uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
			uint64_t bad = ((v - ones * 0x20) | (q - ones) | (b - ones)) & ~v & high;
			if (bad | (v & high))
				break;
			run += 8;
		}
		while (run < n && !needs_escape[p[run]])
			run++;
		if (run > i) {
			size_t len = run - i;
			if (w->full || (size_t)(w->end - w->p) < len) {
				w->full = true;
				break;
			}
			memcpy(w->p, s + i, len);
			if (lower)
				for (size_t k = 0; k < len; k++)
					if (w->p[k] >= 'A' && w->p[k] <= 'Z')
						w->p[k] = (char)(w->p[k] + 32);
			w->p += len;
			i = run;
			continue;
		}
		uint8_t c = p[i];
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(w, e, 2);
			i++;
		} else if (c < 0x20) {
			switch (c) {
			case '\n': put(w, "\\n", 2); break;
			case '\r': put(w, "\\r", 2); break;
			case '\t': put(w, "\\t", 2); break;
			default: {
				char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
				put(w, u, 6);
			}
			}
			i++;
		} else {
			size_t l = utf8_len(p + i, n - i);
			if (l) {
				put(w, s + i, l);
				i += l;
			} else {
				put(w, "\\ufffd", 6);
				i++;
			}
		}
	}
	putc_(w, '"');
}

size_t pl_json_string(const char *s, size_t n, char *out, size_t cap)
{
	struct jw w = { out, out + cap, false, false };

	put_escaped(&w, s, n, false);
	return w.full ? 0 : (size_t)(w.p - out);
}

static inline __attribute__((always_inline)) void key(struct jw *w, const char *k)
{
	if (w->need_comma)
		putc_(w, ',');
	putc_(w, '"');
	putz(w, k);
	put(w, "\":", 2);
	w->need_comma = true;
}

static inline __attribute__((always_inline)) void obj_open(struct jw *w, const char *k)
{
	if (k)
		key(w, k);
	else if (w->need_comma)
		putc_(w, ',');
	putc_(w, '{');
	w->need_comma = false;
}

static inline __attribute__((always_inline)) void obj_close(struct jw *w)
{
	putc_(w, '}');
	w->need_comma = true;
}

static inline __attribute__((always_inline)) void kv_str(struct jw *w, const char *k, const char *s, size_t n)
{
	key(w, k);
	put_escaped(w, s, n, false);
}

static inline __attribute__((always_inline)) void kv_pstr(struct jw *w, const char *k, struct pl_str s)
{
	if (s.len)
		kv_str(w, k, s.p, s.len);
}

static inline __attribute__((always_inline)) void kv_u64(struct jw *w, const char *k, uint64_t v)
{
	char b[24];
	int i = sizeof(b);

	key(w, k);
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, b + i, sizeof(b) - (size_t)i);
}

static void kv_time(struct jw *w, const char *k, uint64_t ns)
{
	char b[32];
	size_t n = pl_format_time(ns, b);

	key(w, k);
	putc_(w, '"');
	put(w, b, n);
	putc_(w, '"');
}

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
	uint64_t frac = ns % PL_NS_PER_SEC;
	out[n++] = '.';
	for (int i = 8; i >= 0; i--) {
		out[n + (size_t)i] = (char)('0' + frac % 10);
		frac /= 10;
	}
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

static void endpoint(struct jw *w, const char *name, uint8_t af, const struct pl_endpoint *e,
		     const char *ip, size_t ip_len, struct pl_str domain)
{
	obj_open(w, name);
	kv_str(w, "ip", ip, ip_len);
	kv_u64(w, "port", e->port);
	kv_u64(w, "bytes", e->bytes);
	kv_pstr(w, "domain", domain);
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

static void http_msg(struct jw *w, const char *name, const struct pl_http_msg *m,
		     const struct pl_event_http *h, bool request)
{
	obj_open(w, name);
	if (request) {
		kv_pstr(w, "method", h->method);
		kv_pstr(w, "referrer", h->referrer);
	} else {
		kv_u64(w, "status_code", (uint64_t)h->status_code);
		if (h->status_phrase.len) {
			key(w, "status_phrase");
			put_escaped(w, h->status_phrase.p, h->status_phrase.len, true);
		}
	}
	kv_u64(w, "bytes", m->bytes);
	obj_open(w, "body");
	kv_u64(w, "bytes", m->body_bytes);
	obj_close(w);
	kv_pstr(w, "mime_type", m->mime_type);
	if (m->n_headers) {
		obj_open(w, "headers");
		for (int i = 0; i < m->n_headers; i++) {
			const struct pl_header *hd = &m->headers[i];
			if (w->need_comma)
				putc_(w, ',');
			put_escaped(w, hd->name.p, hd->name.len, true);
			putc_(w, ':');
			w->need_comma = true;
			if (hd->name.len == 14 && memcmp(hd->name.p, "content-length", 14) == 0 &&
			    all_digits(hd->value))
				put(w, hd->value.p, hd->value.len);
			else
				put_escaped(w, hd->value.p, hd->value.len, false);
		}
		obj_close(w);
	}
	obj_close(w);
}

/* The URL as Packetbeat builds it: scheme, Host (or the server address), port unless 80. */
static void url(struct jw *w, const struct pl_event *ev, const char *sip, size_t sip_len)
{
	const struct pl_event_http *h = &ev->http;
	struct pl_str domain = h->host.len ? h->host : (struct pl_str){ sip, sip_len };
	unsigned port = h->host.len ? (h->host_port ? h->host_port : 80) : ev->server.port;
	/* An IPv6 literal needs brackets in a URL; a Host header already has them. */
	bool v6lit = memchr(domain.p, ':', domain.len) != NULL && domain.p[0] != '[';
	char full[8192];
	struct jw fw = { full, full + sizeof(full), false, false };

	obj_open(w, "url");
	kv_str(w, "scheme", "http", 4);
	kv_str(w, "domain", domain.p, domain.len);
	if (port != 80)
		kv_u64(w, "port", port);
	kv_pstr(w, "path", h->path);
	kv_pstr(w, "query", h->query);

	put(&fw, "http://", 7);
	if (v6lit)
		putc_(&fw, '[');
	put(&fw, domain.p, domain.len);
	if (v6lit)
		putc_(&fw, ']');
	if (port != 80) {
		char pb[8];
		int i = sizeof(pb);
		do {
			pb[--i] = (char)('0' + port % 10);
			port /= 10;
		} while (port);
		pb[--i] = ':';
		put(&fw, pb + i, sizeof(pb) - (size_t)i);
	}
	put(&fw, h->path.p, h->path.len);
	if (h->query.len) {
		putc_(&fw, '?');
		put(&fw, h->query.p, h->query.len);
	}
	if (!fw.full)
		kv_str(w, "full", full, (size_t)(fw.p - full));
	obj_close(w);
}

static void http_fields(struct jw *w, const struct pl_event *ev, const char *sip, size_t sip_len)
{
	const struct pl_event_http *h = &ev->http;

	if (h->has_request) {
		kv_pstr(w, "method", h->method);
		/* Packetbeat's "query" for HTTP is "<METHOD> <path>". */
		key(w, "query");
		char q[4096];
		struct jw qw = { q, q + sizeof(q), false, false };
		put(&qw, h->method.p, h->method.len);
		putc_(&qw, ' ');
		put(&qw, h->path.p, PL_MIN(h->path.len, sizeof(q) - 64));
		put_escaped(w, q, (size_t)(qw.p - q), false);
		url(w, ev, sip, sip_len);
		if (h->user_agent.len) {
			obj_open(w, "user_agent");
			kv_pstr(w, "original", h->user_agent);
			obj_close(w);
		}
		if (h->user_name.len) {
			obj_open(w, "user");
			kv_pstr(w, "name", h->user_name);
			obj_close(w);
		}
	}
	obj_open(w, "http");
	kv_pstr(w, "version", h->version);
	if (h->has_request)
		http_msg(w, "request", &h->request, h, true);
	if (h->has_response)
		http_msg(w, "response", &h->response, h, false);
	obj_close(w);
}

static void mysql_fields(struct jw *w, const struct pl_event *ev)
{
	const struct pl_event_mysql *m = &ev->mysql;

	kv_pstr(w, "method", m->method);
	kv_pstr(w, "query", m->query);
	kv_pstr(w, "path", m->path);
	if (m->user.len) {
		obj_open(w, "user");
		kv_pstr(w, "name", m->user);
		obj_close(w);
	}
	obj_open(w, "mysql");
	if (m->has_response) {
		kv_u64(w, "affected_rows", m->affected_rows);
		kv_u64(w, "insert_id", m->insert_id);
		kv_u64(w, "num_fields", m->num_fields);
		kv_u64(w, "num_rows", m->num_rows);
		if (m->warnings)
			kv_u64(w, "warnings", m->warnings);
	}
	if (m->is_error) {
		kv_u64(w, "error_code", m->error_code);
		/* Packetbeat's form: "<SQLSTATE>: <message>". */
		char buf[1024];
		struct jw bw = { buf, buf + sizeof(buf), false, false };
		if (m->sql_state.len) {
			put(&bw, m->sql_state.p, m->sql_state.len);
			put(&bw, ": ", 2);
		}
		put(&bw, m->error_message.p, PL_MIN(m->error_message.len, sizeof(buf) - 16));
		kv_str(w, "error_message", buf, (size_t)(bw.p - buf));
		kv_pstr(w, "state", m->sql_state);
	}
	kv_pstr(w, "db", m->schema);
	obj_close(w);
	if (m->n_params) {
		key(w, "params");
		putc_(w, '[');
		for (int i = 0; i < m->n_params; i++) {
			if (i)
				putc_(w, ',');
			put_escaped(w, m->params[i].p, m->params[i].len, false);
		}
		putc_(w, ']');
	}
	kv_pstr(w, "request", m->request);
	kv_pstr(w, "response", m->response);
}

size_t pl_event_to_json(const struct pl_event *ev, const struct pl_json_opts *opts,
			char *buf, size_t cap)
{
	static const char *const type_names[] = { "http", "mysql" };
	struct jw w = { buf, buf + cap, false, false };
	char cip[INET6_ADDRSTRLEN], sip[INET6_ADDRSTRLEN];
	size_t cip_len = ip_str(ev->af, ev->client.ip, cip);
	size_t sip_len = ip_str(ev->af, ev->server.ip, sip);
	const char *type = type_names[ev->type == PL_EV_MYSQL];
	struct pl_str domain = ev->type == PL_EV_HTTP ? ev->http.host : PL_STR_NULL;

	obj_open(&w, NULL);
	kv_time(&w, "@timestamp", ev->start_ns ? ev->start_ns : ev->end_ns);
	kv_str(&w, "type", type, strlen(type));
	kv_str(&w, "status", ev->ok ? "OK" : "Error", ev->ok ? 2 : 5);

	obj_open(&w, "event");
	kv_str(&w, "kind", "event", 5);
	key(&w, "category");
	putz(&w, "[\"network\"]");
	key(&w, "type");
	putz(&w, "[\"connection\",\"protocol\"]");
	kv_str(&w, "dataset", type, strlen(type));
	if (ev->start_ns)
		kv_time(&w, "start", ev->start_ns);
	if (ev->end_ns)
		kv_time(&w, "end", ev->end_ns);
	if (ev->start_ns && ev->end_ns && ev->end_ns >= ev->start_ns)
		kv_u64(&w, "duration", ev->end_ns - ev->start_ns);
	obj_close(&w);

	endpoint(&w, "client", ev->af, &ev->client, cip, cip_len, PL_STR_NULL);
	endpoint(&w, "server", ev->af, &ev->server, sip, sip_len, domain);
	endpoint(&w, "source", ev->af, &ev->client, cip, cip_len, PL_STR_NULL);
	endpoint(&w, "destination", ev->af, &ev->server, sip, sip_len, domain);

	obj_open(&w, "network");
	kv_str(&w, "type", ev->af == 6 ? "ipv6" : "ipv4", 4);
	kv_str(&w, "transport", "tcp", 3);
	kv_str(&w, "protocol", type, strlen(type));
	kv_u64(&w, "bytes", ev->client.bytes + ev->server.bytes);
	if (ev->community_id)
		kv_str(&w, "community_id", ev->community_id, strlen(ev->community_id));
	if (ev->type == PL_EV_HTTP)
		kv_pstr(&w, "forwarded_ip", ev->http.forwarded_ip);
	obj_close(&w);

	obj_open(&w, "related");
	key(&w, "ip");
	putc_(&w, '[');
	put_escaped(&w, cip, cip_len, false);
	if (strcmp(cip, sip) != 0) {
		putc_(&w, ',');
		put_escaped(&w, sip, sip_len, false);
	}
	putc_(&w, ']');
	obj_close(&w);

	if (ev->type == PL_EV_HTTP)
		http_fields(&w, ev, sip, sip_len);
	else
		mysql_fields(&w, ev);

	if (ev->n_errors == 1) {
		obj_open(&w, "error");
		kv_pstr(&w, "message", ev->errors[0]);
		obj_close(&w);
	} else if (ev->n_errors > 1) {
		obj_open(&w, "error");
		key(&w, "message");
		putc_(&w, '[');
		for (int i = 0; i < ev->n_errors; i++) {
			if (i)
				putc_(&w, ',');
			put_escaped(&w, ev->errors[i].p, ev->errors[i].len, false);
		}
		putc_(&w, ']');
		obj_close(&w);
	}

	if (opts && opts->host_name) {
		obj_open(&w, "host");
		kv_str(&w, "name", opts->host_name, strlen(opts->host_name));
		obj_close(&w);
	}
	obj_open(&w, "agent");
	kv_str(&w, "type", "pktlog", 6);
	kv_str(&w, "version", PL_VERSION, strlen(PL_VERSION));
	obj_close(&w);
	obj_open(&w, "ecs");
	kv_str(&w, "version", "8.0.0", 5);
	obj_close(&w);
	obj_close(&w);
	return w.full ? 0 : (size_t)(w.p - buf);
}
