/* tls.c – the `tls` protocol: TLS records of each reassembled TCP stream → one event per
 * handshake (ClientHello, ServerHello, HelloRetryRequest, Certificate and
 * ServerKeyExchange of TLS <= 1.2, alerts, ChangeCipherSpec; the end of the handshake
 * inferred from the first encrypted records).
 *
 * Records may span segments and handshake messages may span records: each direction keeps
 * the record header being read and the handshake message being read, whose body is kept
 * up to protocols.tls.max_handshake_bytes (the rest is counted, and a certificate is still
 * read when the leaf fits). A connection's handshake state is taken on its first byte from
 * a per-thread pool (allocated only when the pool is empty) and given back when its event is
 * emitted; all of it is counted against protocols.tls.max_memory_mb per capture thread.
 * Nothing is read after the handshake. libcrypto allocates while it parses a certificate
 * and computes digests (once per handshake, not per packet).
 * Certificates are parsed by libcrypto (d2i_X509); fingerprints are in tls_fp.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <time.h>
#include <arpa/inet.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include "pktlog/proto.h"
#include "pktlog/tls.h"

#define REC_MAX (16384 + 2048)        /* largest record body TLS allows (ciphertext) */
#define ARENA_BYTES 12288             /* the event's strings */
#define DN_MAX 1024                   /* a distinguished name kept */
#define MAX_EXTS 128                  /* extension types kept per hello */

enum rec { REC_CCS = 20, REC_ALERT = 21, REC_HANDSHAKE = 22, REC_APPDATA = 23, REC_HEARTBEAT = 24 };
enum hsmsg { HS_CLIENT_HELLO = 1, HS_SERVER_HELLO = 2, HS_CERTIFICATE = 11,
	     HS_SERVER_KEY_EXCHANGE = 12 };

/* SHA-256 of "HelloRetryRequest": the ServerHello random of a HelloRetryRequest. */
static const uint8_t hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

struct side {
	uint8_t hdr[5];
	uint8_t hdr_have;
	uint8_t rec_type;
	uint32_t rec_left;            /* body bytes of the current record still to come */
	uint32_t rec_len;
	uint8_t mh[4];                /* handshake message header being read */
	uint8_t mh_have;
	uint32_t msg_len, msg_have;   /* body length and bytes seen of the current message */
	uint8_t *buf;                 /* kept body bytes: min(msg_have, cap) */
	uint32_t cap;
	uint8_t alert[2];
	uint8_t alert_have;
	bool dead;                    /* framing lost (gap or garbage): nothing more is read */
	bool ccs;                     /* sent ChangeCipherSpec (TLS <= 1.2) */
	bool finished;                /* sent a record after its ChangeCipherSpec */
	bool appdata;                 /* sent an application_data record */
	uint64_t bytes;
};

/* A connection's handshake, from its first byte to its event. */
struct hs {
	struct side side[2];
	uint64_t start_ns, end_ns;
	bool ch_seen, sh_seen, tls13, alerted, gap, truncated, client_ccs_first;
	bool eoed;                    /* TLS 1.3 EndOfEarlyData seen (by its length) */
	bool ticket_offered;
	uint16_t cipher, version;     /* chosen */
	struct pl_event_tls ev;
	struct pl_tls_x509 cert[2];   /* [0] server leaf, [1] client leaf */
	struct pl_str ciphers[PL_TLS_MAX_CIPHERS];
	struct pl_str names[2][PL_TLS_MAX_NAMES];
	const char *notes[PL_EVENT_MAX_ERRORS];
	int n_notes;
	size_t used;
	char arena[ARENA_BYTES];
};

/* The flow entry holds only this stub. */
struct tconn {
	const struct pl_conn *conn;
	const struct pl_proto_env *env;
	struct hs *hs;
	bool over;                    /* event emitted, or not a handshake we saw begin */
};

static _Thread_local size_t mem_used; /* bytes of struct hs and kept messages, this thread */

static size_t mem_cap(const struct tconn *c)
{
	return (size_t)c->env->cfg->tls.max_memory_mb << 20;
}

static void note(struct hs *h, const char *msg)
{
	for (int i = 0; i < h->n_notes; i++)
		if (h->notes[i] == msg)
			return;
	if (h->n_notes < PL_EVENT_MAX_ERRORS)
		h->notes[h->n_notes++] = msg;
}

/* Copy s[0..n) into the arena; an empty string (absent) when it is full. */
static struct pl_str keep(struct hs *h, const void *s, size_t n)
{
	char *o;

	if (!n)
		return PL_STR_NULL;
	if (n > ARENA_BYTES - h->used) {
		h->truncated = true;
		return PL_STR_NULL;
	}
	o = h->arena + h->used;
	memcpy(o, s, n);
	h->used += n;
	return (struct pl_str){ o, n };
}

static struct pl_str lit(const char *s)
{
	return (struct pl_str){ s, strlen(s) };
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }

/* A bounded reader over a message body. */
struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	return p;
}

static unsigned get8(struct rd *r) { const uint8_t *p = take(r, 1); return p ? p[0] : 0; }
static unsigned get16(struct rd *r) { const uint8_t *p = take(r, 2); return p ? be16(p) : 0; }

/* A sub-reader of the next n bytes. */
static struct rd sub(struct rd *r, size_t n)
{
	const uint8_t *p = take(r, n);

	return p ? (struct rd){ p, p + n, false } : (struct rd){ NULL, NULL, true };
}

static bool done(const struct rd *r) { return !r->bad && r->p == r->end; }

static struct pl_str cipher_str(struct hs *h, uint16_t code)
{
	const char *n = pl_tls_cipher_name(code);
	char b[8];

	if (n)
		return lit(n);
	snprintf(b, sizeof(b), "0x%04x", code);
	return keep(h, b, 6);
}

static struct pl_str hex_str(struct hs *h, char *b, int rc)
{
	return rc == 0 ? keep(h, b, strlen(b)) : PL_STR_NULL;
}

/* --- hellos ---------------------------------------------------------------------------- */

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

static void client_hello(struct hs *h, const uint8_t *p, size_t n, uint64_t ts)
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

static void server_hello(struct tconn *c, struct hs *h, const uint8_t *p, size_t n)
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
static void server_key_exchange(struct hs *h, const uint8_t *p, size_t n)
{
	const char *name = h->ev.cipher.p;
	const char *g;

	if (!name || !strstr(name, "ECDHE") || n < 3 || p[0] != 3)
		return;
	g = pl_tls_group_name(be16(p + 1));
	if (g)
		h->ev.curve = lit(g);
}

/* --- certificates ---------------------------------------------------------------------- */

static struct pl_str name_str(struct hs *h, const X509_NAME *nm)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	struct pl_str s = PL_STR_NULL;

	if (!bio)
		return s;
	if (X509_NAME_print_ex(bio, nm, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		len = BIO_get_mem_data(bio, &data);
		if (len > DN_MAX) {
			len = DN_MAX;
			h->truncated = true;
		}
		if (len > 0)
			s = keep(h, data, (size_t)len);
	}
	BIO_free(bio);
	return s;
}

static struct pl_str cn_str(struct hs *h, const X509_NAME *nm)
{
	int i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
	const ASN1_STRING *v;

	if (i < 0)
		return PL_STR_NULL;
	v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i));
	return keep(h, ASN1_STRING_get0_data(v), (size_t)PL_MIN(ASN1_STRING_length(v), DN_MAX));
}

static struct pl_str time_str(struct hs *h, const ASN1_TIME *t)
{
	struct tm tm;
	char b[32];
	int n;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return PL_STR_NULL;
	n = snprintf(b, sizeof(b), "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return keep(h, b, (size_t)n);
}

static struct pl_str serial_str(struct hs *h, const ASN1_INTEGER *s)
{
	static const char hx[] = "0123456789ABCDEF";
	const uint8_t *d = ASN1_STRING_get0_data(s);
	int n = ASN1_STRING_length(s);
	char b[2 * 64];
	int o = 0;

	while (n > 1 && d[0] == 0) {
		d++;
		n--;
	}
	for (int i = 0; i < n && o + 2 <= (int)sizeof(b); i++) {
		b[o++] = hx[d[i] >> 4];
		b[o++] = hx[d[i] & 15];
	}
	return keep(h, b, (size_t)o);
}

static void alt_names(struct hs *h, X509 *x, struct pl_tls_x509 *out, struct pl_str *names)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int n = gens ? sk_GENERAL_NAME_num(gens) : 0;

	out->alt_names = names;
	for (int i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char b[INET6_ADDRSTRLEN];
		struct pl_str s = PL_STR_NULL;

		if (out->n_alt_names == PL_TLS_MAX_NAMES) {
			h->truncated = true;
			break;
		}
		if (g->type == GEN_DNS) {
			s = keep(h, ASN1_STRING_get0_data(g->d.dNSName),
				 (size_t)PL_MIN(ASN1_STRING_length(g->d.dNSName), 255));
		} else if (g->type == GEN_IPADD) {
			int len = ASN1_STRING_length(g->d.iPAddress);
			int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
			if (af && inet_ntop(af, ASN1_STRING_get0_data(g->d.iPAddress), b, sizeof(b)))
				s = keep(h, b, strlen(b));
		}
		if (s.len)
			names[out->n_alt_names++] = s;
	}
	GENERAL_NAMES_free(gens);
}

static void public_key(struct hs *h, X509 *x, struct pl_tls_x509 *out)
{
	EVP_PKEY *k = X509_get0_pubkey(x);
	char g[64];
	size_t gl = 0;

	if (!k)
		return;
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA: out->key_algorithm = lit("RSA"); break;
	case EVP_PKEY_EC: out->key_algorithm = lit("ECDSA"); break;
	case EVP_PKEY_DSA: out->key_algorithm = lit("DSA"); break;
	case EVP_PKEY_ED25519: out->key_algorithm = lit("Ed25519"); break;
	case EVP_PKEY_ED448: out->key_algorithm = lit("Ed448"); break;
	default: return;
	}
	out->key_size = (uint32_t)PL_MAX(EVP_PKEY_get_bits(k), 0);
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
	    EVP_PKEY_get_group_name(k, g, sizeof(g), &gl) == 1)
		out->key_curve = keep(h, g, gl);
}

/* The leaf of a TLS <= 1.2 Certificate message (kept bytes p[0..n)) into cert[who]. */
static void certificate(struct tconn *c, struct hs *h, int who, const uint8_t *p, size_t n)
{
	struct pl_tls_x509 *out = &h->cert[who];
	const uint8_t *der, *q;
	uint32_t len;
	char b[72];
	X509 *x;

	if (n < 3 || be24(p) == 0)
		return;                   /* an empty list: no certificate sent */
	if (n < 6 || (len = be24(p + 3)) > n - 6) {
		note(h, "Certificate not read: larger than protocols.tls.max_handshake_bytes");
		c->env->stats->tls_truncated++;
		return;
	}
	der = q = p + 6;
	x = d2i_X509(NULL, &q, (long)len);
	if (!x || q != der + len) {
		X509_free(x);
		note(h, "Malformed certificate");
		c->env->stats->tls_parse_errors++;
		return;
	}
	out->subject = name_str(h, X509_get_subject_name(x));
	out->issuer = name_str(h, X509_get_issuer_name(x));
	out->subject_cn = cn_str(h, X509_get_subject_name(x));
	out->issuer_cn = cn_str(h, X509_get_issuer_name(x));
	out->not_before = time_str(h, X509_get0_notBefore(x));
	out->not_after = time_str(h, X509_get0_notAfter(x));
	out->serial = serial_str(h, X509_get0_serialNumber(x));
	out->version = (uint32_t)X509_get_version(x) + 1;
	public_key(h, x, out);
	alt_names(h, x, out, h->names[who]);
	X509_free(x);
	out->sha1 = hex_str(h, b, pl_tls_sha1_hex(der, len, b));
	out->sha256 = hex_str(h, b, pl_tls_sha256_hex(der, len, b));
	if (who == 0)
		h->ev.server_cert = out;
	else
		h->ev.client_cert = out;
}

/* --- the event ------------------------------------------------------------------------- */

/* Handshake states of finished handshakes, kept for the next ones with their message
 * buffers up to POOL_BUF_MAX bytes: in steady state a handshake allocates nothing here.
 * Pooled states stay counted in mem_used. */
#define POOL_MAX 32
#define POOL_BUF_MAX 16384
static _Thread_local struct hs *pool[POOL_MAX];
static _Thread_local int pool_n;

static void hs_free(struct hs *h)
{
	for (int d = 0; d < 2; d++) {
		mem_used -= h->side[d].cap;
		free(h->side[d].buf);
	}
	mem_used -= sizeof(*h);
	free(h);
}

static void release(struct tconn *c)
{
	struct hs *h = c->hs;

	if (!h)
		return;
	c->hs = NULL;
	if (pool_n == POOL_MAX) {
		hs_free(h);
		return;
	}
	for (int d = 0; d < 2; d++)
		if (h->side[d].cap > POOL_BUF_MAX) {
			mem_used -= h->side[d].cap;
			free(h->side[d].buf);
			h->side[d].buf = NULL;
			h->side[d].cap = 0;
		}
	pool[pool_n++] = h;
}

/* A zeroed state whose side buffers (if any) are kept. */
static struct hs *hs_take(void)
{
	struct hs *h = pool[--pool_n];
	uint8_t *buf[2] = { h->side[0].buf, h->side[1].buf };
	uint32_t cap[2] = { h->side[0].cap, h->side[1].cap };

	memset(h, 0, offsetof(struct hs, arena));   /* the arena is written before it is read */
	for (int d = 0; d < 2; d++) {
		h->side[d].buf = buf[d];
		h->side[d].cap = cap[d];
	}
	return h;
}

static void emit(struct tconn *c, uint64_t ts)
{
	struct hs *h = c->hs;
	const struct pl_conn *k = c->conn;
	struct pl_event ev;
	struct pl_stats *st = c->env->stats;

	c->over = true;
	if (!h->ch_seen) {
		release(c);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = PL_EV_TLS;
	ev.af = k->af;
	memcpy(ev.client.ip, k->client_ip, sizeof(ev.client.ip));
	memcpy(ev.server.ip, k->server_ip, sizeof(ev.server.ip));
	ev.client.port = k->client_port;
	ev.server.port = k->server_port;
	ev.client.bytes = h->side[PL_DIR_TO_SERVER].bytes;
	ev.server.bytes = h->side[PL_DIR_TO_CLIENT].bytes;
	ev.community_id = k->community_id;
	ev.start_ns = h->start_ns;
	ev.end_ns = h->end_ns;
	if (!h->ev.established && !h->alerted)
		note(h, "Handshake not completed");
	if (h->truncated) {
		note(h, "Handshake fields cut at their caps");
		st->tls_truncated++;
	}
	for (int i = 0; i < h->n_notes; i++)
		pl_event_add_error(&ev, h->notes[i]);
	ev.ok = h->ev.established && !h->alerted && !h->gap;
	ev.tls = h->ev;
	st->tls_handshakes++;
	if (h->ev.established)
		st->tls_established++;
	if (h->ev.resumed)
		st->tls_resumed++;
	c->env->emit(&ev, c->env->emit_arg);
	release(c);
}

/* Both sides finished: the handshake is over at ts. */
static void check_established(struct tconn *c, struct hs *h, uint64_t ts)
{
	struct side *cs = &h->side[PL_DIR_TO_SERVER], *ss = &h->side[PL_DIR_TO_CLIENT];

	if (!h->sh_seen)
		return;
	if (h->tls13 ? !(ss->appdata && cs->appdata) : !(cs->finished && ss->finished))
		return;
	h->ev.established = true;
	h->end_ns = ts;
	if (!h->tls13 && !h->client_ccs_first) {
		/* abbreviated handshake: the server finished first, resuming */
		h->ev.resumed = true;
		/* a ticket offered is what the server resumed (RFC 5077 §3.4: the echoed
		 * session id then only signals it); without one, the session id */
		h->ev.resumption = lit(h->ticket_offered ? "session_ticket" : "session_id");
	}
	emit(c, ts);
}

/* --- records --------------------------------------------------------------------------- */

static void handshake_msg(struct tconn *c, struct hs *h, enum pl_dir d, uint64_t ts)
{
	struct side *s = &h->side[d];
	static const uint8_t empty[1];
	uint32_t kept = PL_MIN(s->msg_have, s->cap);
	const uint8_t *body = s->buf ? s->buf : empty;   /* an empty message has no buffer */
	uint8_t type = s->mh[0];
	bool first_ch = type == HS_CLIENT_HELLO && d == PL_DIR_TO_SERVER && !h->ch_seen;

	if (first_ch)
		h->ch_seen = true;    /* even when cut: the handshake began */
	if (kept < s->msg_len && type != HS_CERTIFICATE) {
		note(h, "Handshake message larger than protocols.tls.max_handshake_bytes");
		c->env->stats->tls_truncated++;
		return;
	}
	if (d == PL_DIR_TO_SERVER) {
		if (first_ch) {
			client_hello(h, body, kept, ts);
		} else if (type == HS_CERTIFICATE && !h->tls13) {
			certificate(c, h, 1, body, kept);
		}
		return;
	}
	if (type == HS_SERVER_HELLO && !h->sh_seen)
		server_hello(c, h, body, kept);
	else if (type == HS_CERTIFICATE && h->sh_seen && !h->tls13)
		certificate(c, h, 0, body, kept);
	else if (type == HS_SERVER_KEY_EXCHANGE && h->sh_seen)
		server_key_exchange(h, body, kept);
}

/* Make room for a message body of len bytes (at most max_handshake_bytes kept). */
static bool msg_room(struct tconn *c, struct side *s, uint32_t len)
{
	uint32_t want = PL_MIN(len, c->env->cfg->tls.max_handshake_bytes);
	uint8_t *b;

	if (want <= s->cap)
		return true;
	if (mem_used + (want - s->cap) > mem_cap(c)) {
		c->env->stats->tls_memory_limited++;
		return false;
	}
	b = realloc(s->buf, want);
	if (!b)
		return false;
	mem_used += want - s->cap;
	s->buf = b;
	s->cap = want;
	return true;
}

/* Bytes of a plaintext handshake record. */
static void handshake_bytes(struct tconn *c, struct hs *h, enum pl_dir d, const uint8_t *p,
			    size_t n, uint64_t ts)
{
	struct side *s = &h->side[d];

	while (n && !c->over) {
		if (s->mh_have < 4) {
			size_t k = PL_MIN(n, (size_t)(4 - s->mh_have));

			memcpy(s->mh + s->mh_have, p, k);
			s->mh_have = (uint8_t)(s->mh_have + k);
			p += k;
			n -= k;
			if (s->mh_have < 4)
				return;
			s->msg_len = be24(s->mh + 1);
			s->msg_have = 0;
			if (!h->ch_seen && (d != PL_DIR_TO_SERVER || s->mh[0] != HS_CLIENT_HELLO)) {
				c->env->stats->tls_not_handshake++;
				c->over = true;     /* joined mid-stream: no event */
				release(c);
				return;
			}
			if (!msg_room(c, s, s->msg_len))
				s->msg_have = 0;    /* kept bytes = cap (possibly 0): counted below */
		} else {
			size_t k = PL_MIN(n, (size_t)(s->msg_len - s->msg_have));
			uint32_t room = s->msg_have < s->cap ? s->cap - s->msg_have : 0;

			memcpy(s->buf + s->msg_have, p, PL_MIN(k, (size_t)room));
			s->msg_have += (uint32_t)k;
			p += k;
			n -= k;
		}
		if (s->mh_have == 4 && s->msg_have == s->msg_len) {
			handshake_msg(c, h, d, ts);
			s->mh_have = 0;
			if (c->over)
				return;
		}
	}
}

static void alert(struct tconn *c, struct hs *h, uint8_t level, uint8_t desc, uint64_t ts)
{
	const char *name = pl_tls_alert_name(desc);

	if (desc == 0 && level == 1)      /* close_notify in clear: the peer is just leaving */
		return;
	h->alerted = true;
	c->env->stats->tls_alerts++;
	note(h, name ? name : "unknown alert");
	h->end_ns = ts;
	if (level == 2)
		emit(c, ts);
}

static bool encrypted(const struct hs *h, const struct side *s)
{
	return s->ccs || (h->tls13 && s->appdata);
}

/* A whole record body or a piece of it. */
static void record_bytes(struct tconn *c, struct hs *h, enum pl_dir d, const uint8_t *p,
			 size_t n, uint64_t ts)
{
	struct side *s = &h->side[d];

	if (encrypted(h, s))
		return;
	if (s->rec_type == REC_HANDSHAKE) {
		handshake_bytes(c, h, d, p, n, ts);
	} else if (s->rec_type == REC_ALERT) {
		for (size_t i = 0; i < n && !c->over; i++) {
			s->alert[s->alert_have++] = p[i];
			if (s->alert_have == 2) {
				s->alert_have = 0;
				alert(c, h, s->alert[0], s->alert[1], ts);
			}
		}
	}
}

/* A record is complete. */
static void record_end(struct tconn *c, struct hs *h, enum pl_dir d, uint64_t ts)
{
	struct side *s = &h->side[d];

	switch (s->rec_type) {
	case REC_CCS:
		/* before the ServerHello only TLS 1.3's compatibility CCS (after a
		 * HelloRetryRequest) can come: it starts no encryption */
		if (h->sh_seen && !h->tls13 && !s->ccs) {
			s->ccs = true;
			if (d == PL_DIR_TO_SERVER && !h->side[PL_DIR_TO_CLIENT].ccs)
				h->client_ccs_first = true;
			return;
		}
		break;
	case REC_APPDATA:
		if (d == PL_DIR_TO_SERVER && !h->sh_seen) {
			h->ev.early_data_bytes += s->rec_len;   /* 0-RTT */
			return;
		}
		if (h->tls13 && d == PL_DIR_TO_SERVER && !h->side[PL_DIR_TO_CLIENT].appdata)
			return;   /* not yet an answer to the server's flight */
		if (h->tls13 && d == PL_DIR_TO_SERVER && h->ev.early_data_offered && !h->eoed &&
		    (s->rec_len == 4 + 1 + 16 || s->rec_len == 4 + 1 + 8)) {
			h->eoed = true;   /* EndOfEarlyData (AEAD tag of 16 or 8): Finished follows */
			return;
		}
		if (h->tls13 && d == PL_DIR_TO_SERVER && s->rec_len <= 24) {
			/* Too short for a Finished (>= 32 bytes + type + AEAD tag): the
			 * client's answer to the server's flight is an encrypted alert. */
			h->alerted = true;
			c->env->stats->tls_alerts++;
			note(h, "Encrypted alert from the client (TLS 1.3)");
			h->end_ns = ts;
			emit(c, ts);
			return;
		}
		s->appdata = true;
		break;
	}
	if (s->ccs && s->rec_type != REC_CCS)
		s->finished = true;
	check_established(c, h, ts);
}

static void side_dead(struct tconn *c, struct hs *h, struct side *s, const char *why)
{
	s->dead = true;
	note(h, why);
	h->gap = true;
}

static void tls_bytes(struct tconn *c, enum pl_dir d, const uint8_t *p, size_t n, uint64_t ts)
{
	struct hs *h = c->hs;
	struct side *s = &h->side[d];

	s->bytes += n;
	while (n && !c->over && !s->dead) {
		if (s->hdr_have < 5) {
			size_t k = PL_MIN(n, (size_t)(5 - s->hdr_have));

			memcpy(s->hdr + s->hdr_have, p, k);
			s->hdr_have = (uint8_t)(s->hdr_have + k);
			p += k;
			n -= k;
			if (s->hdr_have < 5)
				return;
			s->rec_type = s->hdr[0];
			s->rec_len = s->rec_left = be16(s->hdr + 3);
			if (s->rec_type < REC_CCS || s->rec_type > REC_HEARTBEAT || s->hdr[1] != 3 ||
			    s->rec_len > REC_MAX ||
			    (!h->ch_seen && (d != PL_DIR_TO_SERVER || s->rec_type != REC_HANDSHAKE))) {
				if (!h->ch_seen) {     /* not TLS, or joined mid-stream */
					c->env->stats->tls_not_handshake++;
					c->over = true;
					release(c);
					return;
				}
				c->env->stats->tls_parse_errors++;
				side_dead(c, h, s, "TLS record framing lost");
				return;
			}
			if (!h->start_ns)
				h->start_ns = ts;
			if (s->rec_type != REC_ALERT)
				s->alert_have = 0;
		}
		size_t k = PL_MIN(n, (size_t)s->rec_left);
		record_bytes(c, h, d, p, k, ts);
		if (c->over)
			return;
		p += k;
		n -= k;
		s->rec_left -= (uint32_t)k;
		if (!s->rec_left) {
			s->hdr_have = 0;
			record_end(c, h, d, ts);
		}
	}
}

/* --- ops ------------------------------------------------------------------------------- */

static size_t tls_state_size(const struct pl_config *cfg)
{
	return sizeof(struct tconn);
}

static int tls_init(void *state, const struct pl_conn *conn, const struct pl_proto_env *env)
{
	struct tconn *c = state;

	c->conn = conn;
	c->env = env;
	return 0;
}

/* The handshake state, made on the first byte; NULL when the connection is ignored. */
static struct hs *conn_hs(struct tconn *c)
{
	if (c->hs || c->over)
		return c->hs;
	if (pool_n) {
		c->hs = hs_take();
		return c->hs;
	}
	if (mem_used + sizeof(struct hs) > mem_cap(c)) {
		c->env->stats->tls_memory_limited++;
		c->env->stats->proto_state_dropped++;
		c->over = true;
		return NULL;
	}
	c->hs = calloc(1, sizeof(struct hs));
	if (!c->hs) {
		c->env->stats->proto_state_dropped++;
		c->over = true;
		return NULL;
	}
	mem_used += sizeof(struct hs);
	return c->hs;
}

static void tls_data(void *state, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct tconn *c = state;

	if (c->over || !conn_hs(c))
		return;
	tls_bytes(c, dir, p, n, ts);
}

static void tls_gap(void *state, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	struct tconn *c = state;
	struct hs *h;

	if (c->over)
		return;
	h = c->hs;
	if (!h || !h->ch_seen) {      /* nothing of a handshake seen before the hole */
		c->env->stats->tls_not_handshake++;
		c->over = true;
		release(c);
		return;
	}
	c->env->stats->tls_gaps++;
	side_dead(c, h, &h->side[dir], "Packet loss during the handshake");
}

static void tls_close(void *state, enum pl_close_reason why, uint64_t ts)
{
	struct tconn *c = state;

	if (c->hs && !c->over)
		emit(c, ts);
	release(c);
}

static void tls_thread_cleanup(void)
{
	while (pool_n)
		hs_free(pool[--pool_n]);
}

const struct pl_proto_ops pl_tls_ops = {
	.thread_cleanup = tls_thread_cleanup,
	.name = "tls",
	.state_size = tls_state_size,
	.init = tls_init,
	.data = tls_data,
	.gap = tls_gap,
	.close = tls_close,
};
