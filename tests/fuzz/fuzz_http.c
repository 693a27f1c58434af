/* fuzz_http.c – libFuzzer harness: a script of data/gap/idle steps drives one HTTP
 * connection, then close. */
#include "proto_script.h"

/* Byte 0 picks config switches; the rest is the step script of proto_script.h. */

static void emit(const struct pl_event *ev, void *arg)
{
	const struct pl_event_http *h = &ev->http;
	const struct pl_http_msg *m[2] = { &h->request, &h->response };

	touch(h->method);
	touch(h->path);
	touch(h->query);
	touch(h->host);
	touch(h->user_agent);
	touch(h->referrer);
	touch(h->forwarded_ip);
	touch(h->user_name);
	touch(h->status_phrase);
	touch(h->version);
	for (int i = 0; i < ev->n_errors; i++)
		touch(ev->errors[i]);
	for (int k = 0; k < 2; k++) {
		touch(m[k]->mime_type);
		for (int i = 0; i < m[k]->n_headers; i++) {
			touch(m[k]->headers[i].name);
			touch(m[k]->headers[i].value);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static char h_trace[] = "x-trace";
	struct pl_config cfg;
	struct pl_stats st;
	struct pl_proto_env env = { &cfg, &st, emit, NULL };

	if (n < 1)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	memset(&st, 0, sizeof(st));
	cfg.http.transaction_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg.http.max_message_size = d[0] & 1 ? 300 : 10485760;
	cfg.http.max_pending = d[0] & 2 ? 2 : 64;
	cfg.http.max_url_length = d[0] & 4 ? 16 : 8192;
	cfg.http.max_memory_mb = 1;
	cfg.http.send_all_headers = d[0] & 8;
	cfg.http.redact_authorization = d[0] & 16;
	cfg.http.redact_cookies = d[0] & 32;
	cfg.http.send_headers[0] = h_trace;
	cfg.http.n_send_headers = 1;
	run_script(&pl_http_ops, &env, d, n);
	return 0;
}
