/* tls_hello.c – the hellos of a TLS handshake: ClientHello (offered ciphers, SNI, JA3/JA4),
 * ServerHello or HelloRetryRequest (version, cipher, ALPN, resumption by PSK, JA3S/JA4S),
 * their extensions, and the curve of a TLS <= 1.2 ServerKeyExchange. */
#include <stdio.h>
#include <string.h>
#include "tls_int.h"

#define MAX_EXTS 128                  /* extension types kept per hello */

/* SHA-256 of "HelloRetryRequest": the ServerHello random of a HelloRetryRequest. */
static const uint8_t hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

static struct pl_str cipher_str(struct hs *h, uint16_t code)
{
	const char *n = pl_tls_cipher_name(code);
	char b[8];

	if (n)
		return lit(n);
	snprintf(b, sizeof(b), "0x%04x", code);
	return keep(h, b, 6);
}

/* Read a hello's extensions into x (types) and the fields both fingerprints use. */
static bool read_exts(struct hs *h, struct rd *r, struct pl_tls_hello *x, uint16_t *types,
		      bool server)
{
	struct rd all;

	if (r->p == r->end)          /* no extensions at all */
		return true;
	all = sub(r, get16(r));
	while (!all.bad && all.p < all.end) {
		uint16_t type = (uint16_t)get16(&all);
		struct rd e = sub(&all, get16(&all));

		if (all.bad)
			break;
		if (x->n_exts == MAX_EXTS)
			return false;
		types[x->n_exts++] = type;
		switch (type) {
		case 0x0000:         /* server_name */
			x->has_sni = true;
			if (!server) {
				struct rd l = sub(&e, get16(&e));
				if (get8(&l) == 0) {
					unsigned n = get16(&l);
					const uint8_t *s = take(&l, n);
					if (s)
						h->ev.server_name = keep(h, s, n);
				}
			}
			break;
		case 0x000a: {       /* supported_groups */
			unsigned n = get16(&e);
			x->groups = (struct pl_tls_list){ take(&e, n), n / 2 };
			break;
		}
		case 0x000b: {       /* ec_point_formats */
			unsigned n = get8(&e);
			x->point_formats = (struct pl_tls_list){ take(&e, n), n };
			break;
		}
		case 0x000d: {       /* signature_algorithms */
			unsigned n = get16(&e);
			x->sig_algs = (struct pl_tls_list){ take(&e, n), n / 2 };
			break;
		}
		case 0x0010: {       /* ALPN: the first (client) or the chosen (server) */
			struct rd l = sub(&e, get16(&e));
			unsigned n = get8(&l);
			const uint8_t *s = take(&l, n);
			if (s && n) {
				x->alpn = s;
				x->alpn_len = n;
			}
			break;
		}
		case 0x0023:         /* session_ticket */
			if (!server && e.end > e.p)
				h->ticket_offered = true;
			break;
		case 0x002a:         /* early_data */
			if (!server)
				h->ev.early_data_offered = true;
			break;
		case 0x002b:         /* supported_versions */
			if (server) {
				x->selected_version = (uint16_t)get16(&e);
			} else {
				unsigned n = get8(&e);
				x->versions = (struct pl_tls_list){ take(&e, n), n / 2 };
			}
			break;
		case 0x0029:         /* pre_shared_key: chosen by the server = resumed */
			if (server && e.end - e.p == 2) {
				h->ev.resumed = true;
				h->ev.resumption = lit("psk");
			}
			break;
		case 0x0033:         /* key_share: the server's group */
			if (server && e.end - e.p >= 2) {
				const char *g = pl_tls_group_name(be16(e.p));
				h->ev.curve = g ? lit(g) : PL_STR_NULL;
			}
			break;
		}
		if (e.bad)
			return false;
	}
	return !all.bad && done(r);
}

void tls_client_hello(struct hs *h, const uint8_t *p, size_t n, uint64_t ts)
{
	struct rd r = { p, p + n, false };
	struct pl_tls_hello x = { 0 };
	uint16_t types[MAX_EXTS];
	unsigned nc;
	char b[PL_TLS_JA4_LEN + 1];

	x.ext_types = types;
	x.version = (uint16_t)get16(&r);
	take(&r, 32);
	take(&r, get8(&r));          /* session id */
	nc = get16(&r);
	x.ciphers = (struct pl_tls_list){ take(&r, nc), nc / 2 };
	take(&r, get8(&r));         /* compression methods */
	if (r.bad || (nc & 1) || !read_exts(h, &r, &x, types, false)) {
		note(h, "Malformed ClientHello");
		return;
	}
	for (size_t i = 0; i < x.ciphers.n; i++) {
		uint16_t c = be16(x.ciphers.p + 2 * i);
		if (pl_tls_grease(c))
			continue;
		if (h->ev.n_supported_ciphers == PL_TLS_MAX_CIPHERS) {
			h->truncated = true;
			break;
		}
		h->ciphers[h->ev.n_supported_ciphers++] = cipher_str(h, c);
	}
	h->ev.supported_ciphers = h->ciphers;
	h->ev.ja3 = hex_str(h, b, pl_tls_ja3(&x, b));
	h->ev.ja4 = hex_str(h, b, pl_tls_ja4(&x, b));
	(void)ts;
}

static void version_names(struct hs *h, uint16_t v)
{
	static const char *const tls[] = { "1.0", "1.1", "1.2", "1.3" };

	if (v == 0x0300) {
		h->ev.version = lit("3.0");
		h->ev.version_protocol = lit("ssl");
	} else if (v >= 0x0301 && v <= 0x0304) {
		h->ev.version = lit(tls[v - 0x0301]);
		h->ev.version_protocol = lit("tls");
	}
}

void tls_server_hello(struct tconn *c, struct hs *h, const uint8_t *p, size_t n)
{
	struct rd r = { p, p + n, false };
	struct pl_tls_hello x = { .server = true };
	uint16_t types[MAX_EXTS];
	const uint8_t *random;
	char b[PL_TLS_JA4_LEN + 1];

	x.ext_types = types;
	x.version = (uint16_t)get16(&r);
	random = take(&r, 32);
	take(&r, get8(&r));          /* session id */
	x.cipher = (uint16_t)get16(&r);
	get8(&r);                    /* compression method */
	if (r.bad || !read_exts(h, &r, &x, types, true)) {
		note(h, "Malformed ServerHello");
		return;
	}
	if (memcmp(random, hrr_random, 32) == 0) {
		h->ev.hello_retry = true;   /* the real ServerHello follows a second ClientHello */
		return;
	}
	h->sh_seen = true;
	h->ev.has_server_hello = true;
	h->cipher = x.cipher;
	h->version = x.selected_version ? x.selected_version : x.version;
	h->tls13 = h->version == 0x0304;
	version_names(h, h->version);
	h->ev.cipher = cipher_str(h, x.cipher);
	if (x.alpn_len)
		h->ev.next_protocol = keep(h, x.alpn, x.alpn_len);
	h->ev.ja3s = hex_str(h, b, pl_tls_ja3s(&x, b));
	h->ev.ja4s = hex_str(h, b, pl_tls_ja4s(&x, b));
	(void)c;
}

/* TLS <= 1.2 ServerKeyExchange of an ECDHE suite: curve_type 3 (named_curve), the group. */
void tls_server_key_exchange(struct hs *h, const uint8_t *p, size_t n)
{
	const char *name = h->ev.cipher.p;
	const char *g;

	if (!name || !strstr(name, "ECDHE") || n < 3 || p[0] != 3)
		return;
	g = pl_tls_group_name(be16(p + 1));
	if (g)
		h->ev.curve = lit(g);
}
