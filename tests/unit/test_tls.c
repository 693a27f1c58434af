/* test_tls.c – unit tests of the TLS protocol module: the fingerprints against the published
 * JA4/JA4S examples (tests/data/ja4_examples.txt), and src/proto/tls.c driven through
 * pl_tls_ops with hand-built records: records and handshake messages split at every byte,
 * alerts, gaps, data that is not TLS, the message and memory caps, the rendering bound. */
#include "unit.h"
#include "pktlog/proto.h"
#include "pktlog/tls.h"

#define MAX_EV 8
#define LINE 65536

static char ev_json[MAX_EV][LINE];
static int n_ev;
static struct pl_config cfg;
static struct pl_stats stats;
static struct pl_conn conn;
static struct pl_proto_env env;

static void emit(const struct pl_event *ev, void *arg)
{
	size_t n;

	assert_true(n_ev < MAX_EV);
	assert_int_equal(ev->type, PL_EV_TLS);
	n = pl_event_to_json(ev, NULL, ev_json[n_ev], LINE - 1);
	assert_true(n > 0 && n <= pl_event_json_bound(ev, NULL));
	ev_json[n_ev][n] = 0;
	n_ev++;
}

static int setup(void **st)
{
	n_ev = 0;
	memset(&stats, 0, sizeof(stats));
	memset(&cfg, 0, sizeof(cfg));
	cfg.tls.enabled = true;
	cfg.tls.max_handshake_bytes = 65536;
	cfg.tls.max_memory_mb = 64;
	memset(&conn, 0, sizeof(conn));
	conn.af = 4;
	conn.client_port = 40000;
	conn.server_port = 443;
	strcpy(conn.community_id, "1:test");
	env = (struct pl_proto_env){ &cfg, &stats, emit, NULL };
	return 0;
}

/* --- the published examples ------------------------------------------------------------ */

/* "a,b,c" of 4-digit hex → big-endian bytes in out; returns the count. "-" is none. */
static size_t hex_list(const char *s, uint8_t *out)
{
	size_t n = 0;

	if (!strcmp(s, "-"))
		return 0;
	while (*s) {
		unsigned v = (unsigned)strtoul(s, (char **)&s, 16);
		out[2 * n] = (uint8_t)(v >> 8);
		out[2 * n + 1] = (uint8_t)v;
		n++;
		if (*s == ',')
			s++;
	}
	return n;
}

static size_t hex_bytes(const char *s, uint8_t *out)
{
	size_t n = 0;

	if (!strcmp(s, "-"))
		return 0;
	for (; s[0] && s[1]; s += 2) {
		char b[3] = { s[0], s[1], 0 };
		out[n++] = (uint8_t)strtoul(b, NULL, 16);
	}
	return n;
}

static void test_published_examples(void **st)
{
	FILE *f = fopen("tests/data/ja4_examples.txt", "r");
	char line[2048];
	int checked = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char kind[8], ver[8], sv[64], sni[4], alpn[64], ciphers[512], exts[512], sig[512],
		     want[64], got[64];
		uint8_t cb[512], svb[64], sb[512], eb[512], ab[64];
		uint16_t types[256];
		struct pl_tls_hello h = { 0 };
		size_t ne;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%7s", kind) != 1)
			continue;
		if (!strcmp(kind, "ja4")) {
			assert_int_equal(sscanf(line, "%7s %7s %63s %3s %63s %511s %511s %511s %63s", kind,
						ver, sv, sni, alpn, ciphers, exts, sig, want), 9);
			h.version = (uint16_t)strtoul(ver, NULL, 16);
			h.versions = (struct pl_tls_list){ svb, hex_list(sv, svb) };
			h.has_sni = sni[0] == 'd';
			h.alpn_len = hex_bytes(alpn, ab);
			h.alpn = ab;
			h.ciphers = (struct pl_tls_list){ cb, hex_list(ciphers, cb) };
			ne = hex_list(exts, eb);
			for (size_t i = 0; i < ne; i++)
				types[i] = (uint16_t)(eb[2 * i] << 8 | eb[2 * i + 1]);
			h.ext_types = types;
			h.n_exts = ne;
			h.sig_algs = (struct pl_tls_list){ sb, hex_list(sig, sb) };
			assert_int_equal(pl_tls_ja4(&h, got), 0);
		} else {
			assert_int_equal(sscanf(line, "%7s %7s %63s %63s %63s %511s %63s", kind, ver, sv,
						alpn, ciphers, exts, want), 7);
			h.server = true;
			h.version = (uint16_t)strtoul(ver, NULL, 16);
			h.selected_version = strcmp(sv, "-") ? (uint16_t)strtoul(sv, NULL, 16) : 0;
			h.alpn_len = hex_bytes(alpn, ab);
			h.alpn = ab;
			h.cipher = (uint16_t)strtoul(ciphers, NULL, 16);
			ne = hex_list(exts, eb);
			for (size_t i = 0; i < ne; i++)
				types[i] = (uint16_t)(eb[2 * i] << 8 | eb[2 * i + 1]);
			h.ext_types = types;
			h.n_exts = ne;
			assert_int_equal(pl_tls_ja4s(&h, got), 0);
		}
		assert_string_equal(got, want);
		checked++;
	}
	fclose(f);
	assert_int_equal(checked, 10);
}

/* --- hand-built handshakes ------------------------------------------------------------- */

struct buf { uint8_t b[70000]; size_t n; };

static void put8(struct buf *b, unsigned v) { b->b[b->n++] = (uint8_t)v; }
static void put16(struct buf *b, unsigned v) { put8(b, v >> 8); put8(b, v); }
static void put24(struct buf *b, unsigned v) { put8(b, v >> 16); put16(b, v); }
static void putn(struct buf *b, const void *p, size_t n) { memcpy(b->b + b->n, p, n); b->n += n; }

/* A ClientHello message (header included) with SNI, groups, ALPN h2 and pad bytes of padding. */
static void client_hello(struct buf *m, size_t pad)
{
	static const uint8_t random[32];
	struct buf e = { .n = 0 };

	put16(&e, 0x0000); put16(&e, 16); put16(&e, 14); put8(&e, 0); put16(&e, 11);
	putn(&e, "example.org", 11);
	put16(&e, 0x000a); put16(&e, 6); put16(&e, 4); put16(&e, 0x001d); put16(&e, 0x0017);
	put16(&e, 0x000b); put16(&e, 2); put8(&e, 1); put8(&e, 0);
	put16(&e, 0x0010); put16(&e, 5); put16(&e, 3); put8(&e, 2); putn(&e, "h2", 2);
	put16(&e, 0x0015); put16(&e, (unsigned)pad);
	memset(e.b + e.n, 0, pad);
	e.n += pad;
	size_t body = 2 + 32 + 1 + 2 + 4 + 2 + 2 + e.n;
	put8(m, 1); put24(m, (unsigned)body);
	put16(m, 0x0303); putn(m, random, 32); put8(m, 0);
	put16(m, 4); put16(m, 0xc02f); put16(m, 0x1301);
	put8(m, 1); put8(m, 0);
	put16(m, (unsigned)e.n); putn(m, e.b, e.n);
}

/* Wrap msg into records of at most rec bytes each. */
static void records(struct buf *out, uint8_t type, const uint8_t *p, size_t n, size_t rec)
{
	while (n) {
		size_t k = n < rec ? n : rec;
		put8(out, type); put16(out, 0x0301); put16(out, (unsigned)k); putn(out, p, k);
		p += k;
		n -= k;
	}
}

static void *conn_new(void)
{
	void *s = calloc(1, pl_tls_ops.state_size(&cfg));

	assert_non_null(s);
	assert_int_equal(pl_tls_ops.init(s, &conn, &env), 0);
	return s;
}

static void feed(void *s, enum pl_dir d, const struct buf *b, size_t seg, uint64_t ts)
{
	for (size_t off = 0; off < b->n; off += seg)
		pl_tls_ops.data(s, d, b->b + off, b->n - off < seg ? b->n - off : seg, ts);
}

static void close_conn(void *s)
{
	pl_tls_ops.close(s, PL_CLOSE_FIN, 9000);
	free(s);
}

/* The ClientHello's fields whatever the record and segment sizes. */
static void test_client_hello_split_everywhere(void **st)
{
	static struct buf m, r;
	char first[LINE];

	m.n = 0;
	client_hello(&m, 40);
	for (size_t rec = 1; rec <= m.n; rec += rec < 8 ? 1 : 37) {
		for (size_t seg = 1; seg <= 64; seg = seg * 3 + 1) {
			void *s = conn_new();
			r.n = 0;
			records(&r, 22, m.b, m.n, rec);
			feed(s, PL_DIR_TO_SERVER, &r, seg, 1000);
			assert_int_equal(n_ev, 0);
			close_conn(s);
			assert_int_equal(n_ev, 1);
			assert_non_null(strstr(ev_json[0], "\"server_name\":\"example.org\""));
			assert_non_null(strstr(ev_json[0], "\"ja4\":\"t12d0205h2_"));
			assert_non_null(strstr(ev_json[0], "\"supported_ciphers\":[\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\",\"TLS_AES_128_GCM_SHA256\"]"));
			assert_non_null(strstr(ev_json[0], "\"message\":\"Handshake not completed\""));
			assert_null(strstr(ev_json[0], "\"version\":\"1"));   /* no ServerHello: absent */
			/* the tls fields are the same however the bytes came */
			char *t = strstr(ev_json[0], "\"tls\":{");
			assert_non_null(t);
			if (rec == 1 && seg == 1)
				strcpy(first, t);
			else
				assert_string_equal(t, first);
			n_ev = 0;
		}
	}
}

static void test_server_alert_ends_the_handshake(void **st)
{
	static struct buf m, r;
	void *s = conn_new();
	uint8_t alert[] = { 21, 3, 3, 0, 2, 2, 40 };

	m.n = r.n = 0;
	client_hello(&m, 0);
	records(&r, 22, m.b, m.n, 16384);
	feed(s, PL_DIR_TO_SERVER, &r, r.n, 1000);
	pl_tls_ops.data(s, PL_DIR_TO_CLIENT, alert, 4, 2000);
	assert_int_equal(n_ev, 0);
	pl_tls_ops.data(s, PL_DIR_TO_CLIENT, alert + 4, 3, 3000);
	assert_int_equal(n_ev, 1);       /* a fatal alert: emitted at once */
	assert_non_null(strstr(ev_json[0], "\"status\":\"Error\""));
	assert_non_null(strstr(ev_json[0], "\"error\":{\"message\":\"handshake_failure\"}"));
	assert_non_null(strstr(ev_json[0], "\"duration\":2000"));
	close_conn(s);
	assert_int_equal(n_ev, 1);
	assert_int_equal(stats.tls_alerts, 1);
}

static void test_gap_marks_the_event(void **st)
{
	static struct buf m, r;
	void *s = conn_new();

	m.n = r.n = 0;
	client_hello(&m, 0);
	records(&r, 22, m.b, m.n, 16384);
	feed(s, PL_DIR_TO_SERVER, &r, r.n, 1000);
	pl_tls_ops.gap(s, PL_DIR_TO_CLIENT, 1400, 2000);
	close_conn(s);
	assert_int_equal(n_ev, 1);
	assert_non_null(strstr(ev_json[0], "Packet loss during the handshake"));
	assert_non_null(strstr(ev_json[0], "\"ja3\":"));
	assert_int_equal(stats.tls_gaps, 1);
}

static void test_not_tls_makes_no_event(void **st)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	void *s = conn_new();

	pl_tls_ops.data(s, PL_DIR_TO_SERVER, (const uint8_t *)get, sizeof(get) - 1, 1000);
	close_conn(s);
	s = conn_new();       /* mid-stream: application data first */
	uint8_t app[] = { 23, 3, 3, 0, 3, 1, 2, 3 };
	pl_tls_ops.data(s, PL_DIR_TO_SERVER, app, sizeof(app), 1000);
	close_conn(s);
	s = conn_new();       /* a hole before anything */
	pl_tls_ops.gap(s, PL_DIR_TO_SERVER, 100, 1000);
	close_conn(s);
	assert_int_equal(n_ev, 0);
	assert_int_equal(stats.tls_not_handshake, 3);
}

/* A ClientHello larger than max_handshake_bytes is not read, and said so. */
static void test_message_cap(void **st)
{
	static struct buf m, r;
	void *s;

	cfg.tls.max_handshake_bytes = 1024;
	m.n = r.n = 0;
	client_hello(&m, 3000);
	records(&r, 22, m.b, m.n, 16384);
	s = conn_new();
	feed(s, PL_DIR_TO_SERVER, &r, 100, 1000);
	close_conn(s);
	assert_int_equal(n_ev, 1);
	assert_non_null(strstr(ev_json[0], "larger than protocols.tls.max_handshake_bytes"));
	assert_null(strstr(ev_json[0], "\"ja3\""));
	assert_int_equal(stats.tls_truncated, 1);
}

/* protocols.tls.max_memory_mb bounds the handshakes in progress; the refused are counted. */
static void test_memory_cap(void **st)
{
	static struct buf m, r;
	enum { N = 200 };
	void *s[N];

	cfg.tls.max_memory_mb = 1;
	m.n = r.n = 0;
	client_hello(&m, 0);
	records(&r, 22, m.b, m.n, 16384);
	for (int i = 0; i < N; i++) {
		s[i] = conn_new();
		pl_tls_ops.data(s[i], PL_DIR_TO_SERVER, r.b, 3, 1000);   /* a handshake begun */
	}
	assert_true(stats.tls_memory_limited > 0);
	assert_true(stats.proto_state_dropped > 0);
	for (int i = 0; i < N; i++)
		pl_tls_ops.close(s[i], PL_CLOSE_FIN, 2000), free(s[i]);
	n_ev = 0;
	/* the states of finished handshakes are reused: one more needs no new memory */
	uint64_t limited = stats.tls_memory_limited;
	s[0] = conn_new();
	pl_tls_ops.data(s[0], PL_DIR_TO_SERVER, r.b, r.n, 3000);
	close_conn(s[0]);
	assert_int_equal(stats.tls_memory_limited, limited);
	assert_int_equal(n_ev, 1);
}

/* Empty hello messages (no body, so no buffer was ever made) are malformed, not undefined
 * behaviour (the fuzzer found a NULL + 0 there). */
static void test_empty_hellos(void **st)
{
	uint8_t ch[] = { 22, 3, 1, 0, 4, 1, 0, 0, 0 };
	uint8_t sh[] = { 22, 3, 3, 0, 4, 2, 0, 0, 0 };
	void *s = conn_new();

	pl_tls_ops.data(s, PL_DIR_TO_SERVER, ch, sizeof(ch), 1000);
	pl_tls_ops.data(s, PL_DIR_TO_CLIENT, sh, sizeof(sh), 2000);
	close_conn(s);
	assert_int_equal(n_ev, 1);
	assert_non_null(strstr(ev_json[0], "\"Malformed ClientHello\",\"Malformed ServerHello\""));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
	const struct CMUnitTest tests[] = {
		T(test_published_examples),
		T(test_client_hello_split_everywhere),
		T(test_server_alert_ends_the_handshake),
		T(test_gap_marks_the_event),
		T(test_not_tls_makes_no_event),
		T(test_message_cap),
		T(test_memory_cap),
		T(test_empty_hellos),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	pl_tls_ops.thread_cleanup();   /* the pooled handshake states */
	return failed;
}
