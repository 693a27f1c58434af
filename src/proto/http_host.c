/* http_host.c – splits an HTTP Host or :authority value into host and port (see http_host.h). */
#include <string.h>
#include "http_host.h"

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

void pl_http_split_host(struct pl_str v, struct pl_event_http *h)
{
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
