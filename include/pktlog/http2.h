/* http2.h – the HTTP/2 (h2c) parser as a library for other protocols: HTTP/1.x hands a
 * connection over to it at `PRI * HTTP/2.0` (prior knowledge) or after `101 Switching
 * Protocols` to an `Upgrade: h2c` request. pl_http2_ops (proto.h) wraps the same calls for
 * ports configured under protocols.http2.ports. */
#ifndef PKTLOG_HTTP2_H
#define PKTLOG_HTTP2_H

#include "pktlog/proto.h"

struct pl_http2;

/* The HTTP/1.1 request that asked for `Upgrade: h2c`: it becomes stream 1, whose response
 * comes in HTTP/2 frames (RFC 7540 §3.2). Strings are copied by pl_http2_takeover. */
struct pl_http2_upgrade {
	struct pl_str method;         /* "GET" */
	struct pl_str target;         /* request-target as sent ("/x?y") */
	struct pl_str host;           /* Host header value, or empty */
	struct pl_str user_agent;     /* or empty */
	uint64_t request_bytes;       /* HTTP/1.1 request head + body bytes */
	uint64_t request_body_bytes;
	uint64_t response_bytes;      /* bytes of the `101 Switching Protocols` head */
	uint64_t start_ns;            /* first byte of the request */
};

/* Start HTTP/2 on a connection. up == NULL: prior knowledge, the next bytes towards the
 * server are the client preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (pass them too). up !=
 * NULL: after the 101; the next bytes towards the server are the preface, towards the
 * client the server's SETTINGS. conn and env must outlive the parser (the flow's own).
 * Returns NULL when no memory (count it and drop the connection's parsing). */
struct pl_http2 *pl_http2_takeover(const struct pl_conn *conn, const struct pl_proto_env *env,
				   const struct pl_http2_upgrade *up, uint64_t ts_ns);
void pl_http2_data(struct pl_http2 *h, enum pl_dir dir, const uint8_t *p, size_t n,
		   uint64_t ts_ns);
void pl_http2_gap(struct pl_http2 *h, enum pl_dir dir, uint64_t len, uint64_t ts_ns);
/* Expires nothing: a stream open on a live connection ends with the stream or with the
 * connection (pl_http2_close; PL_CLOSE_TIMEOUT is flows.idle_timeout). */
void pl_http2_idle(struct pl_http2 *h, uint64_t now_ns);
/* Emit what is pending and free everything (h is invalid afterwards). */
void pl_http2_close(struct pl_http2 *h, enum pl_close_reason why, uint64_t ts_ns);

/* Whether p[0..n) can be the start of the client preface (n may be shorter than 24). */
bool pl_http2_is_preface(const uint8_t *p, size_t n);

#endif
