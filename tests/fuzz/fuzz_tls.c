/* fuzz_tls.c – libFuzzer harness: a script of data/gap/idle steps drives one TLS connection
 * (src/proto/tls.c), then close; every event is rendered within its bound. Seeds:
 * tests/fuzz/seeds/tls/, made from the nginx captures by make_tls_seeds.py. */
#include "proto_script.h"

/* Byte 0 picks config switches; the rest is the step script of proto_script.h. */

static void touch_x509(const struct pl_tls_x509 *x)
{
	if (!x)
		return;
	touch(x->subject);
	touch(x->issuer);
	touch(x->serial);
	for (int i = 0; i < x->n_alt_names; i++)
		touch(x->alt_names[i]);
}

static void emit(const struct pl_event *ev, void *arg)
{
	const struct pl_event_tls *t = &ev->tls;

	touch(t->server_name);
	touch(t->next_protocol);
	touch(t->ja3);
	touch(t->ja4);
	touch(t->ja3s);
	touch(t->ja4s);
	for (int i = 0; i < t->n_supported_ciphers; i++)
		touch(t->supported_ciphers[i]);
	touch_x509(t->server_cert);
	touch_x509(t->client_cert);
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
	cfg.tls.enabled = true;
	cfg.tls.max_handshake_bytes = d[0] & 1 ? 1024 : 65536;
	cfg.tls.max_memory_mb = 64;
	run_script(&pl_tls_ops, &env, d, n);
	return 0;
}
