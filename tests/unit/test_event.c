/* test_event.c – JSON rendering (src/event/json.c) and Community ID (community_id.c). */
#include <arpa/inet.h>
#include "unit.h"
#include "pktlog/event.h"

#define BASELINE "tests/data/community_id_tcp.txt"   /* make unit runs from the top */

static struct pl_str S(const char *s)
{
	return (struct pl_str){ s, strlen(s) };
}

static void fill(struct pl_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = PL_EV_HTTP;
	ev->ok = true;
	ev->af = 4;
	inet_pton(AF_INET, "10.1.2.3", ev->client.ip);
	inet_pton(AF_INET, "10.9.8.7", ev->server.ip);
	ev->client.port = 40000;
	ev->server.port = 8080;
	ev->client.bytes = 100;
	ev->server.bytes = 2000;
	ev->start_ns = 1700000000123456789ULL;
	ev->end_ns = 1700000000223456789ULL;
	ev->community_id = "1:abc=";
	ev->http.has_request = ev->http.has_response = true;
	ev->http.version = S("1.1");
	ev->http.method = S("GET");
	ev->http.path = S("/a/b");
	ev->http.query = S("x=1&y=2");
	ev->http.host = S("example.com");
	ev->http.status_code = 200;
	ev->http.status_phrase = S("OK");
	ev->http.request.bytes = 100;
	ev->http.response.bytes = 2000;
	ev->http.response.body_bytes = 1800;
	static struct pl_header hdrs[2];
	hdrs[0] = (struct pl_header){ S("content-length"), S("1800") };
	hdrs[1] = (struct pl_header){ S("content-type"), S("text/html") };
	ev->http.response.headers = hdrs;
	ev->http.response.n_headers = 2;
}

static void test_render_fields(void **s)
{
	struct pl_event ev;
	char buf[8192];
	struct pl_json_opts o = { "host1" };

	fill(&ev);
	size_t n = pl_event_to_json(&ev, &o, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_non_null(strstr(buf, "\"@timestamp\":\"2023-11-14T22:13:20.123456789Z\""));
	assert_non_null(strstr(buf, "\"duration\":100000000"));
	assert_non_null(strstr(buf, "\"status\":\"OK\""));
	assert_non_null(strstr(buf, "\"client\":{\"ip\":\"10.1.2.3\",\"port\":40000,\"bytes\":100}"));
	assert_non_null(strstr(buf, "\"network\":{\"type\":\"ipv4\",\"transport\":\"tcp\",\"protocol\":\"http\",\"bytes\":2100,\"community_id\":\"1:abc=\"}"));
	assert_non_null(strstr(buf, "\"query\":\"GET /a/b\""));
	assert_non_null(strstr(buf, "\"full\":\"http://example.com/a/b?x=1&y=2\""));
	assert_non_null(strstr(buf, "\"status_phrase\":\"ok\""));
	assert_non_null(strstr(buf, "\"content-length\":1800"));
	assert_non_null(strstr(buf, "\"host\":{\"name\":\"host1\"}"));
	assert_null(strstr(buf, "\"error\""));
	assert_null(strchr(buf, '\n'));
}

static void test_escaping_and_bad_utf8(void **s)
{
	struct pl_event ev;
	char buf[8192];

	fill(&ev);
	static const char ua[] = "a\"b\\c\n\x01 caf\xc3\xa9 \xff\xc3 \xed\xa0\x80 \xf0\x9f\x98\x80";
	ev.http.user_agent = (struct pl_str){ ua, sizeof(ua) - 1 };
	size_t n = pl_event_to_json(&ev, NULL, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_non_null(strstr(buf, "\"original\":\"a\\\"b\\\\c\\n\\u0001 caf\xc3\xa9 \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \xf0\x9f\x98\x80\""));
}

/* Long strings near the end of the buffer are escaped piece by piece (json.c cannot check
 * room for the worst case at once): the bytes must be the same, wherever a piece ends, and
 * a UTF-8 sequence across a piece's end must stay whole. */
static void test_escaping_near_the_end(void **s)
{
	static char ua[3000], ref[32768], got[32768];
	static const char *const bits[] = { "ab", "\"", "\\", "\n", "\x02", "\xc3\xa9", "\xe2\x82\xac",
					     "\xf0\x9f\x98\x80", "\xff", "ABC", "\xc3" };
	struct pl_event ev;
	size_t n = 0, len;

	for (unsigned i = 0; n + 8 < sizeof(ua); i = i * 7 + 3)
		for (const char *b = bits[i % PL_ARRAY_LEN(bits)]; *b; b++)
			ua[n++] = *b;
	fill(&ev);
	ev.http.status_phrase = (struct pl_str){ ua, 700 };   /* lower-cased when rendered */
	for (size_t shift = 0; shift < 70; shift++) {
		ev.http.user_agent = (struct pl_str){ ua + shift, n - shift };
		len = pl_event_to_json(&ev, NULL, ref, sizeof(ref));
		assert_true(len > 0);
		/* just big enough: the tail of the event goes the careful way */
		assert_int_equal(pl_event_to_json(&ev, NULL, got, len), len);
		assert_memory_equal(ref, got, len);
		assert_int_equal(pl_event_to_json(&ev, NULL, got, len - 1), 0);
	}
}

/* The escaper's reference for the strings below: ASCII per RFC 8259, a two-byte UTF-8
 * sequence copied, any other byte >= 0x80 (alone among ASCII: never valid) as U+FFFD. */
static size_t ref_escape(const uint8_t *p, size_t n, bool lower, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (c == '"' || c == '\\') {
			o += (size_t)sprintf(out + o, "\\%c", c);
		} else if (c == '\n' || c == '\r' || c == '\t') {
			o += (size_t)sprintf(out + o, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		} else if (c < 0x20) {
			o += (size_t)sprintf(out + o, "\\u%04x", c);
		} else if (c < 0x80) {
			out[o++] = (char)(lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
		} else if (c >= 0xc2 && c <= 0xdf && i + 1 < n && (p[i + 1] & 0xc0) == 0x80) {
			out[o++] = (char)c;
			out[o++] = (char)p[++i];
		} else {
			o += (size_t)sprintf(out + o, "\\ufffd");
		}
	}
	return o;
}

/* Every byte value at every position of strings of 1 to 40 bytes (and a two-byte UTF-8
 * sequence at each position): pl_json_escape, with room and without, equals the reference.
 * Covers the short-string path, the word loop with its overlapping tail, and the piecewise
 * path for a tight buffer. */
static void test_escape_every_byte_everywhere(void **s)
{
	static const char base[] = "GET /Index.HTML?Q=Zz&a=1 HTTP/1.1 Host:AbC";
	uint8_t in[48];
	char want[512], got[512];

	for (size_t n = 1; n <= 40; n++) {
		for (size_t at = 0; at < n; at++) {
			for (unsigned v = 0; v <= 256; v++) {
				size_t len = n, wl;
				char *e;

				memcpy(in, base, n);
				in[at] = (uint8_t)v;
				if (v == 256) {          /* é, whole when it fits */
					in[at] = 0xc3;
					if (at + 1 < n)
						in[at + 1] = 0xa9;
				}
				wl = ref_escape(in, len, false, want);
				e = pl_json_escape(got, got + sizeof(got), (const char *)in, len);
				assert_non_null(e);
				assert_int_equal((size_t)(e - got), wl);
				assert_memory_equal(got, want, wl);
				e = pl_json_escape(got, got + wl, (const char *)in, len);
				assert_non_null(e);
				assert_int_equal((size_t)(e - got), wl);
				assert_memory_equal(got, want, wl);
				assert_null(pl_json_escape(got, got + wl - 1, (const char *)in, len));
			}
		}
	}
}

/* The lower-casing escaper (header names, status phrases) the same way, through events. */
static void test_escape_lower_everywhere(void **s)
{
	static const uint8_t vals[] = { 0x00, 0x09, 0x1f, '"', '\\', '@', 'A', 'Z', '[', 'a',
					0x7f, 0x80, 0xc3, 0xff };
	static const char base[] = "Content-TYPE X-Forwarded-For ZZ";
	static char json[16384];
	uint8_t in[40];
	char want[512], key[600];
	struct pl_event ev;

	for (size_t n = 1; n <= 31; n++) {
		for (size_t at = 0; at < n; at++) {
			for (size_t k = 0; k < sizeof(vals); k++) {
				size_t wl, jl;

				memcpy(in, base, n);
				in[at] = vals[k];
				fill(&ev);
				ev.http.status_phrase = (struct pl_str){ (const char *)in, n };
				wl = ref_escape(in, n, true, want);
				snprintf(key, sizeof(key), "\"status_phrase\":\"%.*s\"", (int)wl, want);
				jl = pl_event_to_json(&ev, NULL, json, sizeof(json) - 1);
				assert_true(jl > 0);
				json[jl] = 0;
				assert_non_null(strstr(json, key));
			}
		}
	}
}

static void test_errors_and_unmatched(void **s)
{
	struct pl_event ev;
	char buf[8192];

	fill(&ev);
	ev.ok = false;
	ev.start_ns = 0;
	ev.http.has_request = false;
	pl_event_add_error(&ev, "Unmatched response");
	size_t n = pl_event_to_json(&ev, NULL, buf, sizeof(buf) - 1);
	buf[n] = 0;
	assert_non_null(strstr(buf, "\"error\":{\"message\":\"Unmatched response\"}"));
	assert_null(strstr(buf, "\"start\""));
	assert_null(strstr(buf, "\"duration\""));
	assert_non_null(strstr(buf, "\"@timestamp\":\"2023-11-14T22:13:20.223456789Z\""));
	pl_event_add_error(&ev, "Packet loss while capturing the response");
	n = pl_event_to_json(&ev, NULL, buf, sizeof(buf) - 1);
	buf[n] = 0;
	assert_non_null(strstr(buf, "\"message\":[\"Unmatched response\",\"Packet loss while capturing the response\"]"));
}

static void test_too_small_buffer(void **s)
{
	struct pl_event ev;
	char buf[8192];

	fill(&ev);
	size_t full = pl_event_to_json(&ev, NULL, buf, sizeof(buf));
	for (size_t cap = 0; cap < full; cap++)
		assert_int_equal(pl_event_to_json(&ev, NULL, buf, cap), 0);
	assert_int_equal(pl_event_to_json(&ev, NULL, buf, full), full);
}

/* pl_event_json_bound() must hold the worst case: every string made of bytes that escape
 * to six, every list full, the longest addresses. The buffer is exactly the bound, on the
 * heap (ASan sees any write past it), so the render goes the unchecked way; one byte less
 * goes the checked way and must give the same bytes. */
static void check_bound(const struct pl_event *ev, const struct pl_json_opts *o)
{
	size_t bound = pl_event_json_bound(ev, o);
	char *tight = malloc(bound), *checked = malloc(bound);

	assert_non_null(tight);
	assert_non_null(checked);
	size_t n = pl_event_to_json(ev, o, tight, bound);
	assert_true(n > 0 && n <= bound);
	assert_int_equal(pl_event_to_json(ev, o, checked, bound - 1), n);
	assert_memory_equal(tight, checked, n);
	free(tight);
	free(checked);
}

static void bound_cases(size_t len)
{
	static char bad[4096], host[256];
	static struct pl_header hdrs[2][PL_EVENT_MAX_HEADERS];
	struct pl_json_opts o = { host };
	struct pl_event ev;
	struct pl_str b;

	memset(bad, 0x01, sizeof(bad));         /* each byte becomes \u0001 */
	memset(host, 0xff, sizeof(host) - 1);   /* each byte becomes \ufffd */
	b = (struct pl_str){ bad, len };
	fill(&ev);
	ev.ok = false;
	ev.af = 6;
	memset(ev.client.ip, 0xff, 16);
	memset(ev.server.ip, 0xfe, 16);
	ev.client.port = ev.server.port = 65535;
	ev.client.bytes = ev.server.bytes = UINT64_MAX / 2;
	ev.start_ns = 1;
	ev.end_ns = UINT64_MAX;
	ev.community_id = "1:VaHRTz/h0AmWdLDafcnNWNcqUvU=";
	ev.http.version = ev.http.method = ev.http.path = ev.http.query = b;
	ev.http.user_agent = ev.http.referrer = ev.http.forwarded_ip = ev.http.user_name = b;
	ev.http.status_phrase = b;
	ev.http.host = PL_STR_NULL;          /* url.domain and url.full from the address */
	ev.http.status_code = 599;
	for (int k = 0; k < 2; k++) {
		struct pl_http_msg *m = k ? &ev.http.response : &ev.http.request;

		for (int i = 0; i < PL_EVENT_MAX_HEADERS; i++)
			hdrs[k][i] = (struct pl_header){ { bad, PL_MIN(len, 64) }, { bad, PL_MIN(len, 300) } };
		m->headers = hdrs[k];
		m->n_headers = PL_EVENT_MAX_HEADERS;
		m->mime_type = b;
		m->bytes = m->body_bytes = UINT64_MAX;
	}
	for (int i = 0; i < PL_EVENT_MAX_ERRORS; i++)
		ev.errors[i] = b;
	ev.n_errors = PL_EVENT_MAX_ERRORS;
	check_bound(&ev, &o);
	ev.http.host = b;
	ev.http.host_port = 8080;
	check_bound(&ev, &o);

	memset(&ev.mysql, 0, sizeof(ev.mysql));
	ev.type = PL_EV_MYSQL;
	struct pl_event_mysql *m = &ev.mysql;
	m->method = m->query = m->path = m->user = m->schema = b;
	m->sql_state = m->error_message = m->request = m->response = b;
	m->has_response = m->is_error = true;
	m->affected_rows = m->insert_id = m->num_rows = m->num_fields = UINT64_MAX;
	m->error_code = m->warnings = 65535;
	for (int i = 0; i < PL_MYSQL_MAX_PARAMS; i++)
		m->params[i] = b;
	m->n_params = PL_MYSQL_MAX_PARAMS;
	check_bound(&ev, &o);
}

/* One string at a time made of 1000 bytes that escape to six, the rest short and plain:
 * the bound's slack (what it gives literals, numbers and addresses) is far less than the
 * 6,000 bytes a string counted once too few would miss, so each count is checked. */
static void test_bound_counts_each_string(void **s)
{
	static char bad[1000];
	static struct pl_header hdr[1];
	struct pl_event ev;
	struct pl_str b = { bad, sizeof(bad) };

	memset(bad, 0x01, sizeof(bad));
	for (int f = 0; f < 15; f++) {
		fill(&ev);
		struct pl_event_http *h = &ev.http;
		struct pl_str *http_fields[] = { &h->method, &h->path, &h->query, &h->host,
			&h->version, &h->user_agent, &h->referrer, &h->forwarded_ip, &h->user_name,
			&h->status_phrase, &h->request.mime_type, &h->response.mime_type,
			&hdr[0].name, &hdr[0].value, &ev.errors[0] };

		h->response.n_headers = 0;
		hdr[0] = (struct pl_header){ { "x", 1 }, { "y", 1 } };
		h->request.headers = hdr;
		h->request.n_headers = 1;
		ev.errors[0] = (struct pl_str){ "e", 1 };
		ev.n_errors = 1;
		*http_fields[f] = b;
		check_bound(&ev, NULL);
	}
	for (int f = 0; f < 10; f++) {
		fill(&ev);
		memset(&ev.mysql, 0, sizeof(ev.mysql));
		ev.type = PL_EV_MYSQL;
		struct pl_event_mysql *m = &ev.mysql;
		struct pl_str *mysql_fields[] = { &m->method, &m->query, &m->path, &m->user,
			&m->schema, &m->sql_state, &m->error_message, &m->params[0], &m->request,
			&m->response };

		m->has_response = m->is_error = true;
		m->n_params = 1;
		*mysql_fields[f] = b;
		check_bound(&ev, NULL);
	}
}

static void test_bound_holds_worst_case(void **s)
{
	bound_cases(4096);     /* url.full left out: longer than 8 KiB */
	bound_cases(1000);     /* url.full written: domain, path and query once more */
	bound_cases(3);
}

static void test_ipv6_url(void **s)
{
	struct pl_event ev;
	char buf[8192];

	fill(&ev);
	ev.af = 6;
	inet_pton(AF_INET6, "::1", ev.client.ip);
	inet_pton(AF_INET6, "fe80::1", ev.server.ip);
	ev.http.host = PL_STR_NULL;
	size_t n = pl_event_to_json(&ev, NULL, buf, sizeof(buf) - 1);
	buf[n] = 0;
	assert_non_null(strstr(buf, "\"full\":\"http://[fe80::1]:8080/a/b?x=1&y=2\""));
	assert_non_null(strstr(buf, "\"type\":\"ipv6\""));
}

/* The per-thread address text cache (json.c ip_text) compares 4 or 16 bytes by family:
 * addresses that differ only past their 4th byte, or an IPv4 address and an IPv6 one with
 * the same first bytes, one after the other, each render as themselves. */
static void render_client(const char *want, int af, const char *addr)
{
	struct pl_event ev;
	char buf[8192], frag[128];

	fill(&ev);
	ev.af = (uint8_t)af;
	memset(ev.client.ip, 0, sizeof(ev.client.ip));
	assert_int_equal(inet_pton(af == 6 ? AF_INET6 : AF_INET, addr, ev.client.ip), 1);
	size_t n = pl_event_to_json(&ev, NULL, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	snprintf(frag, sizeof(frag), "\"client\":{\"ip\":\"%s\"", want);
	assert_non_null(strstr(buf, frag));
}

static void test_address_cache(void **s)
{
	render_client("10.1.2.3", 4, "10.1.2.3");
	render_client("a01:203::1", 6, "a01:203::1");     /* same first 4 bytes as 10.1.2.3 */
	render_client("a01:203::2", 6, "a01:203::2");     /* differs in the last byte only */
	render_client("a01:203::2", 6, "a01:203::2");
	render_client("10.1.2.3", 4, "10.1.2.3");
	render_client("10.1.2.4", 4, "10.1.2.4");
}

/* Every TCP entry of the Community ID spec's baseline (tests/data names the source). */
static void test_community_id_baseline(void **s)
{
	FILE *f = fopen(BASELINE, "r");
	char line[512];
	int checked = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char sa[64], da[64], want[64], got[PL_COMMUNITY_ID_LEN];
		unsigned sp, dp;
		uint8_t s16[16] = { 0 }, d16[16] = { 0 };

		if (line[0] == '#')
			continue;
		assert_int_equal(sscanf(line, "%63s %63s %u %u %63s", sa, da, &sp, &dp, want), 5);
		uint8_t af = strchr(sa, ':') ? 6 : 4;
		assert_int_equal(inet_pton(af == 6 ? AF_INET6 : AF_INET, sa, s16), 1);
		assert_int_equal(inet_pton(af == 6 ? AF_INET6 : AF_INET, da, d16), 1);
		pl_community_id(af, s16, (uint16_t)sp, d16, (uint16_t)dp, got);
		assert_string_equal(got, want);
		checked++;
	}
	fclose(f);
	assert_int_equal(checked, 4);
}

static void test_format_time(void **s)
{
	char b[32];

	assert_int_equal(pl_format_time(0, b), 30);
	assert_string_equal(b, "1970-01-01T00:00:00.000000000Z");
	pl_format_time(1500000000000000001ULL, b);
	assert_string_equal(b, "2017-07-14T02:40:00.000000001Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_fields),
		cmocka_unit_test(test_escaping_and_bad_utf8),
		cmocka_unit_test(test_escaping_near_the_end),
		cmocka_unit_test(test_escape_every_byte_everywhere),
		cmocka_unit_test(test_escape_lower_everywhere),
		cmocka_unit_test(test_errors_and_unmatched),
		cmocka_unit_test(test_too_small_buffer),
		cmocka_unit_test(test_bound_holds_worst_case),
		cmocka_unit_test(test_bound_counts_each_string),
		cmocka_unit_test(test_ipv6_url),
		cmocka_unit_test(test_address_cache),
		cmocka_unit_test(test_community_id_baseline),
		cmocka_unit_test(test_format_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
