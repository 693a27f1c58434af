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
	touch_errors(ev);
	check_bound(ev);
}

static void configure(struct pl_config *cfg, uint8_t sw)
{
	cfg->tls.enabled = true;
	cfg->tls.max_handshake_bytes = sw & 1 ? 1024 : 65536;
	cfg->tls.max_memory_mb = 64;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	return fuzz_proto_input(&pl_tls_ops, emit, configure, d, n, NULL);
}
