/* fuzz_http2.c – libFuzzer harness: a script of data/gap/idle steps drives one HTTP/2
 * connection (src/proto/http2*.c: framing, HPACK through libnghttp2, streams, gRPC) through
 * pl_http2_ops, then close; every event is rendered within its bound. Seeds:
 * tests/fuzz/seeds/http2/, made from the h2c and gRPC captures by make_http2_seeds.py. */
#include "proto_script.h"

/* Byte 0 picks config switches; the rest is the step script of proto_script.h. */

static void emit(const struct pl_event *ev, void *arg)
{
	const struct pl_event_http *h = &ev->http;

	touch(h->method);
	touch(h->path);
	touch(h->query);
	touch(h->host);
	touch(h->user_agent);
	touch(h->user_name);
	touch_headers(&h->request);
	touch_headers(&h->response);
	if (h->h2) {
		touch(h->h2->scheme);
		touch(h->h2->rpc_service);
		touch(h->h2->rpc_method);
		touch(h->h2->grpc_message);
	}
	touch_errors(ev);
	check_bound(ev);
}

static void configure(struct pl_config *cfg, uint8_t sw)
{
	cfg->http.transaction_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg->http.max_memory_mb = sw & 2 ? 1 : 64;
	cfg->http.send_all_headers = sw & 1;
	cfg->http.redact_authorization = true;
	cfg->http.redact_cookies = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	return fuzz_proto_input(&pl_http2_ops, emit, configure, d, n, NULL);
}
