/* json_http2.c – the HTTP/2 part of an HTTP event's JSON: `http2.*` (stream id, scheme, server
 * push) and, for gRPC streams, `rpc.*` named as OpenTelemetry's semantic conventions name them
 * (rpc.system, rpc.service, rpc.method, rpc.grpc.status_code) plus pktlog's
 * rpc.grpc.status_message and rpc.grpc.{request,response}.messages. json.c calls it once.
 * Must not: allocate, parse protocols. */
#include <string.h>
#include "pktlog/event.h"

static char *lit(char *o, const char *end, const char *s)
{
	size_t n = strlen(s);

	if (!o || (size_t)(end - o) < n)
		return NULL;
	memcpy(o, s, n);
	return o + n;
}

static char *num(char *o, const char *end, uint64_t v)
{
	char d[24];
	char *b = pl_u64_digits(v, d + sizeof(d));
	size_t n = (size_t)(d + sizeof(d) - b);

	if (!o || (size_t)(end - o) < n)
		return NULL;
	memcpy(o, b, n);
	return o + n;
}

/* ,"key":"escaped" (nothing when s is empty) */
static char *kv_str(char *o, const char *end, const char *key, struct pl_str s)
{
	if (!s.len)
		return o;
	o = lit(o, end, key);
	o = o ? pl_json_escape(o, end, s.p, s.len) : NULL;
	return lit(o, end, "\"");
}

static char *rpc(char *o, const char *end, const struct pl_event_http2 *x)
{
	o = lit(o, end, ",\"rpc\":{\"system\":\"grpc\"");
	o = kv_str(o, end, ",\"service\":\"", x->rpc_service);
	o = kv_str(o, end, ",\"method\":\"", x->rpc_method);
	o = lit(o, end, ",\"grpc\":{");
	if (x->has_grpc_status) {
		o = lit(o, end, "\"status_code\":");
		o = num(o, end, x->grpc_status);
		o = lit(o, end, ",");
	}
	o = kv_str(o, end, "\"status_message\":\"", x->grpc_message);
	if (x->grpc_message.len)
		o = lit(o, end, ",");
	o = lit(o, end, "\"request\":{");
	if (x->has_messages[0]) {
		o = lit(o, end, "\"messages\":");
		o = num(o, end, x->messages[0]);
	}
	o = lit(o, end, "},\"response\":{");
	if (x->has_messages[1]) {
		o = lit(o, end, "\"messages\":");
		o = num(o, end, x->messages[1]);
	}
	return lit(o, end, "}}}");
}

char *pl_json_http2(char *o, const char *end, const struct pl_event_http2 *x)
{
	o = lit(o, end, ",\"http2\":{\"stream_id\":");
	o = num(o, end, x->stream_id);
	o = kv_str(o, end, ",\"scheme\":\"", x->scheme);
	if (x->pushed)
		o = lit(o, end, ",\"pushed\":true");
	o = lit(o, end, "}");
	return x->grpc ? rpc(o, end, x) : o;
}

size_t pl_json_http2_len(const struct pl_event_http2 *x)
{
	/* fixed text (about 200 bytes) and numbers (at most 60 digits) under 512 bytes; strings
	 * escaped to at most 6 bytes a byte */
	/* url_scheme: url.scheme and url.full (json_http.c) */
	return 512 + 6 * (x->scheme.len + 2 * x->url_scheme.len + x->rpc_service.len +
			  x->rpc_method.len + x->grpc_message.len);
}
