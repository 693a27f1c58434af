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
	for (int i = 0; i < h->request.n_headers; i++) {
		touch(h->request.headers[i].name);
		touch(h->request.headers[i].value);
	}
	for (int i = 0; i < h->response.n_headers; i++) {
		touch(h->response.headers[i].name);
		touch(h->response.headers[i].value);
	}
	if (h->h2) {
		touch(h->h2->scheme);
		touch(h->h2->rpc_service);
		touch(h->h2->rpc_method);
		touch(h->h2->grpc_message);
	}
	for (int i = 0; i < ev->n_errors; i++)
		touch(ev->errors[i]);
	check_bound(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct pl_config cfg;
	struct pl_stats st;
	struct pl_proto_env env = { &cfg, &st, emit, NULL };

	if (n < 1)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	memset(&st, 0, sizeof(st));
	cfg.http.transaction_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg.http.max_memory_mb = d[0] & 2 ? 1 : 64;
	cfg.http.send_all_headers = d[0] & 1;
	cfg.http.redact_authorization = true;
	cfg.http.redact_cookies = true;
	run_script(&pl_http2_ops, &env, d, n);
	return 0;
}
