/* json.c – renders a struct pl_event as one line of Packetbeat 8.x / ECS JSON: the envelope
 * every event has (@timestamp, event.*, client/server/source/destination, network.*,
 * related, error, host, agent, ecs) and one call to its protocol's renderer (json_http.c,
 * json_mysql.c, json_tls.c).
 *
 * A bounded streaming writer over the caller's buffer (json_write.h): no allocation, no
 * re-parsing, every string escaped, invalid UTF-8 replaced by U+FFFD. When the buffer holds
 * pl_event_json_bound() bytes, the most the event can need, the writer skips its room tests
 * (see struct jw). Must not know protocol parsing; it only maps filled-in fields to their
 * ECS names. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include "json_write.h"
#include "pktlog/version.h"

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
	/* the two sizes as constants: each compare is inlined, not a call */
	bool same = af == 4 ? memcmp(cache[slot].ip, ip, 4) == 0 :
			      memcmp(cache[slot].ip, ip, 16) == 0;

	if (!cache[slot].set || cache[slot].af != af || !same) {
		cache[slot].set = true;
		cache[slot].af = af;
		memcpy(cache[slot].ip, ip, n);
		cache[slot].len = ip_str(af, ip, cache[slot].s);
	}
	*len = cache[slot].len;
	return cache[slot].s;
}

/* {"ip":…,"port":…,"bytes":…[,"domain":…]} */
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

/* The process fields (src/event/json_process.c) at `where`: 't' after the last member, 'c'
 * and 's' inside the client or server object just written (its brace is rewritten). */
AI void process_fields(struct jw *w, const struct pl_event *ev, int where)
{
	char *p, *o;

	if ((!ev->process.client && !ev->process.server) || w->full)
		return;
	p = where == 't' ? w->p : w->p - 1;
	o = pl_event_json_process(ev, where, p, w->end - 1);
	if (!o) {
		jw_overflow(w);
		return;
	}
	if (o != p && where != 't')
		*o++ = '}';
	if (o != p)
		w->p = o;
}

/* ,"key": and a copy of the endpoint object endpoint() wrote at obj (obj_len bytes, its
 * closing brace last). The copy is the object as endpoint() wrote it: up to that brace, which
 * process_fields may have overwritten since (it adds client.process and server.process
 * inside), and a brace of its own. */
#define COPY_ENDPOINT(w, key, obj, obj_len) do {                \
		LIT(w, ",\"" key "\":");                        \
		put(w, obj, (obj_len) - 1);                     \
		putc_(w, '}');                                  \
	} while (0)

AI void render(struct jw *wp, const struct pl_event *ev, const struct pl_json_opts *opts,
	       struct cstr_lens lens)
{
	struct jw w = *wp, t;
	size_t cip_len, sip_len;
	const char *cip = ip_text(0, ev->af, ev->client.ip, &cip_len);
	const char *sip = ip_text(1, ev->af, ev->server.ip, &sip_len);
	bool http = ev->type == PL_EV_HTTP;
	bool tls = ev->type == PL_EV_TLS;
	struct pl_str domain = http ? ev->http.host : PL_STR_NULL;
	uint64_t t0 = ev->start_ns ? ev->start_ns : ev->end_ns;
	char tb[32];
	size_t tn = pl_format_time(t0, tb);
	char *c0, *s0;         /* the client and server objects, to copy as source and destination */
	size_t cl, sl;         /* their lengths as endpoint() wrote them */

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
	process_fields(&w, ev, 'c');
	LIT(&w, ",\"server\":");
	s0 = w.p;
	endpoint(&w, &ev->server, sip, sip_len, domain);
	sl = (size_t)(w.p - s0);
	process_fields(&w, ev, 's');
	COPY_ENDPOINT(&w, "source", c0, cl);
	COPY_ENDPOINT(&w, "destination", s0, sl);

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
	if (ev->community_id) {
		/* "1:" and base64 (src/net/community_id.c): nothing to escape */
		LIT(&w, ",\"community_id\":\"");
		put(&w, ev->community_id, lens.community_id);
		putc_(&w, '"');
	}
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

	/* The protocol's fields: one call to its renderer (json_<protocol>.c), on a copy of the
	 * writer, so that only the copy's address escapes and w stays in registers. */
	t = w;
	if (http)
		pl_json_http(&t, ev, sip, sip_len);
	else if (tls)
		pl_json_tls(&t, ev);
	else
		pl_json_mysql(&t, ev);
	w = t;
	process_fields(&w, ev, 't');

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
	if (ev->type == PL_EV_HTTP)
		n += pl_json_http_bound(&ev->http);
	else if (ev->type == PL_EV_TLS)
		n += pl_json_tls_bound(&ev->tls);
	else
		n += pl_json_mysql_bound(&ev->mysql);
	return JSON_FIXED + 6 * n + pl_event_json_process_bound(ev);
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
