/* fuzz_http.c – libFuzzer harness: a script of data/gap/idle steps drives one HTTP
 * connection, then close. The script runs twice, with the fast path for ordinary message
 * heads and with http-parser for every message: the rendered events and the counters must
 * be the same, byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include "proto_script.h"

/* What one run produced: a hash of the rendered events, in order. */
static uint64_t run_hash;
static unsigned run_events;

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
	touch_errors(ev);
	for (int k = 0; k < 2; k++) {
		touch(m[k]->mime_type);
		touch_headers(m[k]);
	}

	static char json[1 << 17];
	size_t len = pl_event_to_json(ev, NULL, json, sizeof(json));

	/* the same event into a buffer just big enough, and into one byte less */
	static char exact[sizeof(json)];
	if (len && (pl_event_to_json(ev, NULL, exact, len) != len || memcmp(exact, json, len) ||
		    pl_event_to_json(ev, NULL, exact, len - 1) != 0)) {
		fprintf(stderr, "fuzz_http: rendering depends on the buffer's size\n");
		abort();
	}
	size_t tight_len = check_bound(ev);
	if (len && tight_len != len) {
		fprintf(stderr, "fuzz_http: rendering at the bound differs\n");
		abort();
	}
	run_hash ^= len;
	for (size_t i = 0; i < len; i++)
		run_hash = (run_hash ^ (unsigned char)json[i]) * 0x100000001b3ULL;
	run_events++;
}

/* 1 for the run with the fast path, 0 for the run with http-parser only */
static bool fast_run;

static void configure(struct pl_config *cfg, uint8_t sw)
{
	static char h_trace[] = "x-trace";

	cfg->http.transaction_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg->http.max_message_size = sw & 1 ? 300 : 10485760;
	cfg->http.max_pending = sw & 2 ? 2 : 64;
	cfg->http.max_url_length = sw & 4 ? 16 : 8192;
	cfg->http.max_memory_mb = 1;
	cfg->http.send_all_headers = sw & 8;
	cfg->http.redact_authorization = sw & 16;
	cfg->http.redact_cookies = sw & 32;
	cfg->http.send_headers[0] = h_trace;
	cfg->http.n_send_headers = 1;
	cfg->fast_paths = fast_run;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	uint64_t hash[2];
	unsigned events[2];
	struct pl_stats counted[2];

	if (n < 1)
		return 0;
	for (int fast = 0; fast < 2; fast++) {
		fast_run = fast;
		run_hash = 0xcbf29ce484222325ULL;
		run_events = 0;
		fuzz_proto_input(&pl_http_ops, emit, configure, d, n, &counted[fast]);
		hash[fast] = run_hash;
		events[fast] = run_events;
		counted[fast].http_fast_heads = 0;   /* the one counter that differs by design */
	}
	if (hash[0] != hash[1] || events[0] != events[1] ||
	    memcmp(&counted[0], &counted[1], sizeof(counted[0]))) {
		fprintf(stderr, "fuzz_http: the fast path and http-parser disagree (%u vs %u events)\n",
			events[1], events[0]);
		abort();
	}
	return 0;
}
