/* http_host.h – the host and port of an HTTP request, shared by HTTP/1 (the Host header,
 * http_event.c) and HTTP/2 (:authority or Host, http2.c). */
#ifndef PKTLOG_PROTO_HTTP_HOST_H
#define PKTLOG_PROTO_HTTP_HOST_H

#include "pktlog/event.h"

/* Fills h->host and h->host_port from a Host/:authority value v: "example.com:8080",
 * "[::1]:8080", "[::1]" (the brackets stay, as ECS url.domain has them). The port is 0 when
 * there is none or it is not 1 to 5 digits of at most 65535. h->host borrows v's bytes. */
void pl_http_split_host(struct pl_str v, struct pl_event_http *h);

#endif
