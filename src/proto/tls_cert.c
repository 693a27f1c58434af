/* tls_cert.c – the leaf certificate of a TLS <= 1.2 Certificate message, parsed by libcrypto
 * (d2i_X509): subject and issuer (RFC 2253 and CN), validity, serial, SANs (DNS, IP), public
 * key algorithm / size / curve, SHA-1 and SHA-256 fingerprints (tls_fp.c). libcrypto
 * allocates while it parses (once per handshake, not per packet). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include "tls_int.h"

#define DN_MAX 1024                   /* a distinguished name kept */

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
void tls_certificate(struct tconn *c, struct hs *h, int who, const uint8_t *p, size_t n)
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
