/* json_tls.c – the TLS fields of an event in ECS JSON: tls.*, tls.client/server with their
 * certificates' x509.*; and their share of the renderer's bound. Maps filled-in fields to
 * their names; knows no TLS parsing. */
#include "json_write.h"

/* ECS x509.* of one certificate. */
AI void tls_x509(struct jw *w, const struct pl_tls_x509 *x)
{
	OBJ(w, "x509");
	KV_U64(w, "version_number", x->version);
	KV_PSTR(w, "serial_number", x->serial);
	KV_PSTR(w, "not_before", x->not_before);
	KV_PSTR(w, "not_after", x->not_after);
	OBJ(w, "subject");
	KV_PSTR(w, "distinguished_name", x->subject);
	if (x->subject_cn.len) {
		KEY(w, "common_name");
		str_array(w, &x->subject_cn, 1);
	}
	obj_close(w);
	OBJ(w, "issuer");
	KV_PSTR(w, "distinguished_name", x->issuer);
	if (x->issuer_cn.len) {
		KEY(w, "common_name");
		str_array(w, &x->issuer_cn, 1);
	}
	obj_close(w);
	if (x->n_alt_names) {
		KEY(w, "alternative_names");
		str_array(w, x->alt_names, x->n_alt_names);
	}
	KV_PSTR(w, "public_key_algorithm", x->key_algorithm);
	if (x->key_size)
		KV_U64(w, "public_key_size", x->key_size);
	KV_PSTR(w, "public_key_curve", x->key_curve);
	obj_close(w);
}

/* tls.client / tls.server fields of a certificate: subject, issuer, dates, hashes, x509. */
AI void tls_cert(struct jw *w, const struct pl_tls_x509 *x)
{
	KV_PSTR(w, "subject", x->subject);
	KV_PSTR(w, "issuer", x->issuer);
	KV_PSTR(w, "not_before", x->not_before);
	KV_PSTR(w, "not_after", x->not_after);
	if (x->sha1.len || x->sha256.len) {
		OBJ(w, "hash");
		KV_PSTR(w, "sha1", x->sha1);
		KV_PSTR(w, "sha256", x->sha256);
		obj_close(w);
	}
	tls_x509(w, x);
}

AI void tls_fields(struct jw *w, const struct pl_event *ev)
{
	const struct pl_event_tls *t = &ev->tls;

	OBJ(w, "tls");
	KV_PSTR(w, "version", t->version);
	KV_PSTR(w, "version_protocol", t->version_protocol);
	KV_PSTR(w, "cipher", t->cipher);
	KV_PSTR(w, "curve", t->curve);
	KEY(w, "established");
	put_bool(w, t->established);
	if (t->has_server_hello) {
		KEY(w, "resumed");
		put_bool(w, t->resumed);
	}
	KV_PSTR(w, "next_protocol", t->next_protocol);
	if (t->resumption.len || t->hello_retry || t->early_data_offered || t->early_data_bytes) {
		OBJ(w, "detailed");
		KV_PSTR(w, "resumption_method", t->resumption);
		if (t->hello_retry) {
			KEY(w, "hello_retry_request");
			put_bool(w, true);
		}
		if (t->early_data_offered) {
			KEY(w, "early_data_offered");
			put_bool(w, true);
		}
		if (t->early_data_bytes)
			KV_U64(w, "early_data_bytes", t->early_data_bytes);
		obj_close(w);
	}
	/* tls.client and tls.server are left out when nothing of them was seen */
	char *mark = w->p;
	OBJ(w, "client");
	KV_PSTR(w, "server_name", t->server_name);
	if (t->n_supported_ciphers) {
		KEY(w, "supported_ciphers");
		str_array(w, t->supported_ciphers, t->n_supported_ciphers);
	}
	KV_PSTR(w, "ja3", t->ja3);
	KV_PSTR(w, "ja4", t->ja4);
	if (t->client_cert)
		tls_cert(w, t->client_cert);
	obj_end_or_drop(w, mark);
	mark = w->p;
	OBJ(w, "server");
	KV_PSTR(w, "ja3s", t->ja3s);
	KV_PSTR(w, "ja4s", t->ja4s);
	if (t->server_cert)
		tls_cert(w, t->server_cert);
	obj_end_or_drop(w, mark);
	obj_close(w);
}

void pl_json_tls(struct jw *w, const struct pl_event *ev)
{
	JW_RENDER(w, tls_fields, ev);
}

static size_t strs_len(const struct pl_str *a, int n)
{
	size_t len = 0;

	for (int i = 0; i < n; i++)
		len += a[i].len + 4;
	return len;
}

static size_t x509_len(const struct pl_tls_x509 *x)
{
	if (!x)
		return 0;
	/* subject, issuer, dates: twice (tls.* and x509.*); fixed text of the certificate */
	return 2 * (x->subject.len + x->issuer.len + x->not_before.len + x->not_after.len) +
	       x->subject_cn.len + x->issuer_cn.len + x->serial.len + x->key_algorithm.len +
	       x->key_curve.len + x->sha1.len + x->sha256.len +
	       strs_len(x->alt_names, x->n_alt_names) + 512;
}

size_t pl_json_tls_bound(const struct pl_event_tls *t)
{
	return t->version.len + t->version_protocol.len + t->cipher.len + t->curve.len +
	       t->resumption.len + t->next_protocol.len + t->server_name.len + t->ja3.len +
	       t->ja4.len + t->ja3s.len + t->ja4s.len +
	       strs_len(t->supported_ciphers, t->n_supported_ciphers) +
	       x509_len(t->server_cert) + x509_len(t->client_cert) + 512;
}
