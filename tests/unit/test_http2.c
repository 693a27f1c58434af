/* test_http2.c – unit tests of the HTTP/2 parser (src/proto/http2*.c) on the bytes of real
 * captures (pcaps/h2c_*.pcap, pcaps/grpc_calls.pcap: nginx, nghttp, curl, grpc-python), cut,
 * split and holed, and on frames written here by the RFC for what the captures lack (padding,
 * CONTINUATION, the stream bound). Run from the repository root. */
#include "unit.h"
#include <stdint.h>
#include "pktlog/http2.h"

#define MAX_EV 1024
#define JSON_CAP 65536

static char *ev_json[MAX_EV];
static int n_ev;
static struct pl_config cfg;
static struct pl_stats stats;
static struct pl_conn conn;
static struct pl_proto_env env;

static void emit(const struct pl_event *ev, void *arg)
{
	static char buf[JSON_CAP];
	size_t n = pl_event_to_json(ev, NULL, buf, sizeof(buf));

	(void)arg;
	assert_true(n > 0);
	assert_true(n_ev < MAX_EV);
	ev_json[n_ev++] = strndup(buf, n);
}

static int setup(void **st)
{
	(void)st;
	memset(&cfg, 0, sizeof(cfg));
	cfg.http.transaction_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg.http.max_memory_mb = 64;
	cfg.http.redact_authorization = true;
	cfg.http.redact_cookies = true;
	memset(&stats, 0, sizeof(stats));
	memset(&conn, 0, sizeof(conn));
	conn.af = 4;
	conn.client_ip[0] = 127;
	conn.client_ip[3] = 1;
	conn.server_ip[0] = 127;
	conn.server_ip[3] = 1;
	conn.client_port = 40000;
	conn.server_port = 50051;
	strcpy(conn.community_id, "1:test");
	env = (struct pl_proto_env){ &cfg, &stats, emit, NULL };
	n_ev = 0;
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	for (int i = 0; i < n_ev; i++)
		free(ev_json[i]);
	n_ev = 0;
	pl_http2_ops.thread_cleanup();
	return 0;
}

/* --- the TCP payload of a capture's connections, in capture order --- */

struct seg { int conn; int dir; uint64_t ts; const uint8_t *p; size_t n; };

static uint8_t *file_data;
static struct seg segs[8192];
static int n_segs;

/* Every payload-carrying segment of an Ethernet/IPv4 capture whose server port is 50051;
 * retransmitted bytes are trimmed by sequence number. Connections numbered by client port. */
static void load(const char *path)
{
	FILE *f = fopen(path, "rb");
	long len;
	uint16_t ports[64];
	uint32_t next[64][2];
	bool have[64][2];
	int n_ports = 0;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	free(file_data);
	file_data = malloc((size_t)len);
	assert_int_equal(fread(file_data, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	memset(have, 0, sizeof(have));
	n_segs = 0;
	for (long off = 24; off + 16 <= len;) {
		uint32_t sec, usec, caplen;
		const uint8_t *fr = file_data + off + 16;

		memcpy(&sec, file_data + off, 4);
		memcpy(&usec, file_data + off + 4, 4);
		memcpy(&caplen, file_data + off + 8, 4);
		off += 16 + caplen;
		if (caplen < 54 || fr[12] != 8 || fr[13] != 0 || fr[23] != 6)
			continue;
		size_t ihl = (size_t)(fr[14] & 15) * 4, tot = (size_t)(fr[16] << 8 | fr[17]);
		const uint8_t *t = fr + 14 + ihl;
		uint16_t sp = (uint16_t)(t[0] << 8 | t[1]), dp = (uint16_t)(t[2] << 8 | t[3]);
		uint32_t seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
		size_t thl = (size_t)(t[12] >> 4) * 4, pl = tot - ihl - thl;
		int dir = dp == 50051 ? 0 : 1, c;
		uint16_t cport = dir ? dp : sp;

		for (c = 0; c < n_ports && ports[c] != cport; c++)
			;
		if (c == n_ports) {
			assert_true(n_ports < 64);
			ports[n_ports++] = cport;
		}
		if (t[13] & 0x02) {          /* SYN */
			next[c][dir] = seq + 1;
			have[c][dir] = true;
			continue;
		}
		if (!pl || !have[c][dir])
			continue;
		int32_t skip = (int32_t)(next[c][dir] - seq);
		if (skip >= (int32_t)pl)
			continue;
		if (skip < 0)
			fail_msg("hole in the capture");
		assert_true(n_segs < (int)PL_ARRAY_LEN(segs));
		segs[n_segs++] = (struct seg){ c, dir, (uint64_t)sec * PL_NS_PER_SEC + usec * 1000ull,
					       t + thl + skip, pl - (size_t)skip };
		next[c][dir] = seq + (uint32_t)pl;
	}
}

/* Feed every segment; `chunk` > 0 splits each into pieces that long. hole: skip bytes
 * [hole_off, hole_off + hole_len) of connection 0's direction hole_dir (reported as a gap). */
struct hole { int dir; size_t off, len; };

static void replay_conns(size_t chunk, const struct hole *hole)
{
	struct pl_http2 *h[64] = { 0 };
	size_t pos[64][2] = { { 0 } };

	for (int i = 0; i < n_segs; i++) {
		const struct seg *s = &segs[i];
		size_t start = pos[s->conn][s->dir];

		if (!h[s->conn])
			assert_non_null(h[s->conn] = pl_http2_takeover(&conn, &env, NULL, s->ts));
		for (size_t o = 0; o < s->n;) {
			size_t k = chunk ? PL_MIN(chunk, s->n - o) : s->n - o;
			size_t at = start + o;

			if (hole && s->conn == 0 && s->dir == hole->dir && at < hole->off + hole->len &&
			    at + k > hole->off) {
				if (at < hole->off) {
					k = hole->off - at;
				} else {
					size_t end = PL_MIN(hole->off + hole->len, start + s->n);

					k = end - at;
					if (at == hole->off)
						pl_http2_gap(h[s->conn], s->dir, hole->len, s->ts);
					o += k;
					continue;
				}
			}
			pl_http2_data(h[s->conn], s->dir, s->p + o, k, s->ts);
			o += k;
		}
		pos[s->conn][s->dir] += s->n;
	}
	for (int c = 0; c < 64; c++)
		if (h[c])
			pl_http2_close(h[c], PL_CLOSE_FIN, 0);
}

static int count_with(const char *needle)
{
	int n = 0;

	for (int i = 0; i < n_ev; i++)
		n += strstr(ev_json[i], needle) != NULL;
	return n;
}

static const char *event_of_stream(unsigned sid)
{
	char k[48];

	snprintf(k, sizeof(k), "\"http2\":{\"stream_id\":%u", sid);
	for (int i = 0; i < n_ev; i++) {
		const char *at = strstr(ev_json[i], k);

		if (at && (at[strlen(k)] == ',' || at[strlen(k)] == '}'))
			return ev_json[i];
	}
	for (int i = 0; i < n_ev; i++)
		print_message("%s\n", ev_json[i]);
	fail_msg("no event for stream %u", sid);
	return NULL;
}

/* --- real captures --- */

static void nghttp_check(void)
{
	const char *e;

	assert_int_equal(n_ev, 5);
	e = event_of_stream(13);
	assert_non_null(strstr(e, "\"query\":\"GET /index.html\""));
	assert_non_null(strstr(e, "\"user_agent\":{\"original\":\"pktlog-test/1.0 (nghttp)\"}"));
	assert_non_null(strstr(e, "\"version\":\"2\""));
	assert_non_null(strstr(e, "\"status_code\":200,\"bytes\":729,\"body\":{\"bytes\":574}"));
	e = event_of_stream(15);
	assert_non_null(strstr(e, "\"path\":\"/a.html\",\"query\":\"x=1\""));
	e = event_of_stream(21);
	assert_non_null(strstr(e, "\"status\":\"Error\""));
	assert_non_null(strstr(e, "\"status_code\":404"));
	assert_int_equal(count_with("error"), 0);
}

static void test_nghttp_concurrent_streams(void **st)
{
	(void)st;
	load("pcaps/h2c_nghttp.pcap");
	replay_conns(0, NULL);
	nghttp_check();
	assert_int_equal(stats.http2_streams, 5);
	assert_int_equal(stats.http2_parse_errors, 0);
}

/* The parser keeps no assumption about where reads end: one byte at a time, same events. */
static void test_byte_by_byte(void **st)
{
	(void)st;
	load("pcaps/h2c_nghttp.pcap");
	replay_conns(1, NULL);
	nghttp_check();
	teardown(st);
	load("pcaps/grpc_calls.pcap");
	replay_conns(3, NULL);
	assert_int_equal(n_ev, 7);
}

static void test_grpc_calls(void **st)
{
	const char *e;

	(void)st;
	load("pcaps/grpc_calls.pcap");
	replay_conns(0, NULL);
	assert_int_equal(n_ev, 7);
	assert_int_equal(count_with("\"rpc\":{\"system\":\"grpc\",\"service\":\"pktlog.Echo\""), 7);
	e = event_of_stream(5);
	assert_non_null(strstr(e, "\"method\":\"ServerStream\",\"grpc\":{\"status_code\":0,"
				  "\"request\":{\"messages\":1},\"response\":{\"messages\":5}}"));
	e = event_of_stream(7);
	assert_non_null(strstr(e, "\"request\":{\"messages\":4},\"response\":{\"messages\":1}"));
	e = event_of_stream(9);
	assert_non_null(strstr(e, "\"request\":{\"messages\":3},\"response\":{\"messages\":3}"));
	e = event_of_stream(11);
	assert_non_null(strstr(e, "\"status\":\"Error\""));
	assert_non_null(strstr(e, "\"status_code\":5,\"status_message\":\"no such thing\""));
	e = event_of_stream(13);
	assert_non_null(strstr(e, "\"error\":{\"message\":\"Stream reset by the client (CANCEL)\"}"));
}

/* Bytes of frame number `nth` (0-based, after the preface on the client side) of
 * connection 0's direction dir: its offset in that direction's stream. */
static size_t frame_offset(int dir, int type, int nth, uint32_t *len_out)
{
	static uint8_t all[1 << 21];
	size_t n = 0, off = dir == 0 ? 24 : 0;

	for (int i = 0; i < n_segs; i++)
		if (segs[i].conn == 0 && segs[i].dir == dir) {
			assert_true(n + segs[i].n <= sizeof(all));
			memcpy(all + n, segs[i].p, segs[i].n);
			n += segs[i].n;
		}
	while (off + 9 <= n) {
		uint32_t len = (uint32_t)all[off] << 16 | (uint32_t)all[off + 1] << 8 | all[off + 2];

		if (all[off + 3] == type && nth-- == 0) {
			*len_out = len;
			return off;
		}
		off += 9 + len;
	}
	fail_msg("frame not found");
	return 0;
}

/* A hole in the second request's header block: that stream and every later one say their
 * request headers are unreadable (HPACK is never resynchronised); their responses are whole. */
static void test_gap_in_header_block(void **st)
{
	uint32_t len;
	size_t off;

	(void)st;
	load("pcaps/h2c_nghttp.pcap");
	off = frame_offset(0, 1, 1, &len);
	struct hole hole = { 0, off + 9 + 2, 3 };
	replay_conns(0, &hole);
	assert_int_equal(n_ev, 5);
	assert_null(strstr(event_of_stream(13), "error"));
	for (unsigned sid = 15; sid <= 21; sid += 2) {
		const char *e = event_of_stream(sid);

		assert_non_null(strstr(e, "Request headers unreadable: HPACK state lost"));
		assert_non_null(strstr(e, "\"response\":{\"status_code\":"));
	}
	assert_non_null(strstr(event_of_stream(17), "\"body\":{\"bytes\":879}"));
	assert_int_equal(stats.http2_hpack_lost, 1);
}

/* A hole inside a DATA frame of the 1 MiB response: the framing goes on and every body byte
 * is counted, the event says bytes were lost. */
static void test_gap_in_data(void **st)
{
	uint32_t len;
	size_t off;

	(void)st;
	load("pcaps/h2c_large.pcap");
	off = frame_offset(1, 0, 10, &len);
	assert_true(len > 1000);
	struct hole hole = { 1, off + 9 + 100, 500 };
	replay_conns(0, &hole);
	assert_int_equal(n_ev, 1);
	assert_non_null(strstr(ev_json[0], "\"status_code\":200"));
	assert_non_null(strstr(ev_json[0], "\"body\":{\"bytes\":1048576}"));
	assert_non_null(strstr(ev_json[0], "Packet loss while capturing the response"));
	assert_int_equal(stats.http2_parse_errors, 0);
}

/* A hole across frame boundaries of the response direction: that direction is given up;
 * the stream, whose request had ended, is reported at once, saying so. */
static void test_gap_across_frames(void **st)
{
	uint32_t len;
	size_t off;

	(void)st;
	load("pcaps/h2c_large.pcap");
	off = frame_offset(1, 0, 10, &len);
	struct hole hole = { 1, off + 9 + len - 10, 100 };
	replay_conns(0, &hole);
	assert_int_equal(n_ev, 1);
	assert_non_null(strstr(ev_json[0], "\"error\":{\"message\":\"HTTP/2 framing lost in the response direction (gap or parse error)\"}"));
	assert_non_null(strstr(ev_json[0], "\"status_code\":200"));
}

/* Loss of the requests: the responses are still reported, marked. */
static void test_requests_lost(void **st)
{
	(void)st;
	load("pcaps/h2c_nghttp.pcap");
	struct hole hole = { 0, 30, 1000000 };
	replay_conns(0, &hole);
	assert_int_equal(n_ev, 5);
	assert_int_equal(count_with("HTTP/2 framing lost in the request direction"), 5);
	assert_int_equal(count_with("\"status_code\":200"), 4);
	assert_int_equal(count_with("\"method\""), 0);
}

/* --- frames written here --- */

static uint8_t wbuf[1 << 16];
static size_t wlen;

static void frame(uint8_t type, uint8_t flags, uint32_t sid, const uint8_t *p, size_t n)
{
	uint8_t h[9] = { (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
			 (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid };

	assert_true(wlen + 9 + n <= sizeof(wbuf));
	memcpy(wbuf + wlen, h, 9);
	if (n)
		memcpy(wbuf + wlen + 9, p, n);
	wlen += 9 + n;
}

static struct pl_http2 *start(void)
{
	struct pl_http2 *h = pl_http2_takeover(&conn, &env, NULL, 1);

	assert_non_null(h);
	pl_http2_data(h, PL_DIR_TO_SERVER, (const uint8_t *)"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, 1);
	wlen = 0;
	frame(4, 0, 0, NULL, 0);
	pl_http2_data(h, PL_DIR_TO_SERVER, wbuf, wlen, 1);
	pl_http2_data(h, PL_DIR_TO_CLIENT, wbuf, wlen, 1);
	return h;
}

/* Padded HEADERS with priority, the block split over CONTINUATION, padded DATA. */
static void test_padding_and_continuation(void **st)
{
	/* :method POST, :scheme http, :path /, literal :authority "h:8" (indexed name 1) */
	static const uint8_t part1[] = { 3, 0, 0, 0, 0, 16, 0x83, 0x86 };      /* pad 3 + prio */
	static const uint8_t part2[] = { 0x84, 0x41, 3, 'h', ':', '8' };
	static const uint8_t data[] = { 4, 'a', 'b', 'c', 0, 0, 0, 0 };       /* pad 4 */
	static const uint8_t resp[] = { 0x88 };                               /* :status 200 */
	uint8_t h1[sizeof(part1) + 3];
	struct pl_http2 *h;

	(void)st;
	h = start();
	memcpy(h1, part1, sizeof(part1));
	memset(h1 + sizeof(part1), 0, 3);
	wlen = 0;
	frame(1, 0x08 | 0x20, 1, h1, sizeof(h1));
	frame(9, 0x04, 1, part2, sizeof(part2));
	frame(0, 0x08 | 0x01, 1, data, sizeof(data));
	pl_http2_data(h, PL_DIR_TO_SERVER, wbuf, wlen, 2);
	wlen = 0;
	frame(1, 0x04 | 0x01, 1, resp, sizeof(resp));
	pl_http2_data(h, PL_DIR_TO_CLIENT, wbuf, wlen, 3);
	assert_int_equal(n_ev, 1);
	assert_non_null(strstr(ev_json[0], "\"query\":\"POST /\""));
	assert_non_null(strstr(ev_json[0], "\"domain\":\"h\",\"port\":8"));
	assert_non_null(strstr(ev_json[0], "\"request\":{\"method\":\"POST\",\"bytes\":52,\"body\":{\"bytes\":3}"));
	assert_non_null(strstr(ev_json[0], "\"duration\":1"));
	pl_http2_close(h, PL_CLOSE_FIN, 4);
}

/* More open streams than the bound: the extra ones are counted, not followed. */
static void test_stream_bound(void **st)
{
	static const uint8_t get[] = { 0x82, 0x86, 0x84 };
	static const uint8_t ok[] = { 0x88 };
	struct pl_http2 *h;

	(void)st;
	h = start();
	wlen = 0;
	for (uint32_t i = 0; i < 130; i++)
		frame(1, 0x05, 2 * i + 1, get, sizeof(get));
	pl_http2_data(h, PL_DIR_TO_SERVER, wbuf, wlen, 2);
	wlen = 0;
	for (uint32_t i = 0; i < 130; i++)
		frame(1, 0x05, 2 * i + 1, ok, sizeof(ok));
	pl_http2_data(h, PL_DIR_TO_CLIENT, wbuf, wlen, 3);
	assert_int_equal(n_ev, 128);
	assert_int_equal(stats.http2_streams_dropped, 2);
	pl_http2_close(h, PL_CLOSE_FIN, 4);
	assert_int_equal(n_ev, 128);
}

/* A smaller HEADER_TABLE_SIZE, acknowledged, binds the peer's next block (nghttp2 then wants
 * the size update first); RST_STREAM and GOAWAY become notes. */
static void test_settings_rst_goaway(void **st)
{
	static const uint8_t table0[] = { 0, 1, 0, 0, 0, 0 };   /* HEADER_TABLE_SIZE 0 */
	static const uint8_t get[] = { 0x20, 0x82, 0x86, 0x84 }; /* size update 0, then GET / */
	static const uint8_t rst[] = { 0, 0, 0, 8 };              /* CANCEL */
	static const uint8_t ga[] = { 0, 0, 0, 1, 0, 0, 0, 0 };   /* last 1, NO_ERROR */
	struct pl_http2 *h;

	(void)st;
	h = start();
	wlen = 0;
	frame(4, 0, 0, table0, sizeof(table0));
	pl_http2_data(h, PL_DIR_TO_CLIENT, wbuf, wlen, 2);
	wlen = 0;
	frame(4, 1, 0, NULL, 0);
	frame(1, 0x05, 1, get, sizeof(get));
	frame(1, 0x05, 3, get, sizeof(get));
	frame(1, 0x04, 5, get, sizeof(get));
	frame(3, 0, 3, rst, sizeof(rst));
	pl_http2_data(h, PL_DIR_TO_SERVER, wbuf, wlen, 3);
	assert_int_equal(n_ev, 1);
	assert_non_null(strstr(ev_json[0], "Stream reset by the client (CANCEL)"));
	assert_non_null(strstr(ev_json[0], "\"query\":\"GET /\""));
	wlen = 0;
	frame(7, 0, 0, ga, sizeof(ga));
	pl_http2_data(h, PL_DIR_TO_CLIENT, wbuf, wlen, 4);
	pl_http2_close(h, PL_CLOSE_FIN, 5);
	assert_int_equal(n_ev, 3);
	/* stream 1 was within the GOAWAY's last stream id: only stream 5 was refused */
	assert_int_equal(count_with("Connection closed with GOAWAY by the server (NO_ERROR)"), 1);
	assert_non_null(strstr(event_of_stream(5), "GOAWAY"));
	assert_non_null(strstr(event_of_stream(1), "Response incomplete when the connection ended"));
	assert_int_equal(stats.http2_parse_errors, 0);
}

/* A response whose :status was never read renders no status_code (never 0) and says why:
 * a head without :status, an interim 100 then a reset, a hole in the response header block
 * (HPACK lost for that stream and every later one). */
static void test_status_not_read(void **st)
{
	static const uint8_t get[] = { 0x82, 0x86, 0x84 };
	static const uint8_t no_status[] = { 0x9f };          /* content-type: (empty) */
	static const uint8_t cont[] = { 0x08, 3, '1', '0', '0' }; /* :status 100 (literal) */
	static const uint8_t rst[] = { 0, 0, 0, 2 };          /* INTERNAL_ERROR */
	static const char *note = "Response status not read";
	struct pl_http2 *h;
	uint32_t len;
	size_t off;

	(void)st;
	h = start();
	wlen = 0;
	frame(1, 0x05, 1, get, sizeof(get));
	frame(1, 0x05, 3, get, sizeof(get));
	pl_http2_data(h, PL_DIR_TO_SERVER, wbuf, wlen, 2);
	wlen = 0;
	frame(1, 0x05, 1, no_status, sizeof(no_status));
	frame(1, 0x04, 3, cont, sizeof(cont));
	frame(3, 0, 3, rst, sizeof(rst));
	pl_http2_data(h, PL_DIR_TO_CLIENT, wbuf, wlen, 3);
	pl_http2_close(h, PL_CLOSE_FIN, 4);
	assert_int_equal(n_ev, 2);
	for (unsigned sid = 1; sid <= 3; sid += 2) {
		const char *e = event_of_stream(sid);

		assert_non_null(strstr(e, "\"response\":{"));
		assert_null(strstr(e, "\"status_code\":0"));
		assert_null(strstr(e, "\"response\":{\"status_code\""));
		assert_non_null(strstr(e, note));
	}
	teardown(NULL);
	setup(NULL);
	load("pcaps/h2c_nghttp.pcap");
	off = frame_offset(1, 1, 1, &len);
	struct hole hole = { 1, off + 9, 2 };
	replay_conns(0, &hole);
	assert_int_equal(n_ev, 5);
	assert_int_equal(count_with(note), count_with("Response headers unreadable"));
	assert_true(count_with(note) >= 1);
	assert_int_equal(count_with("\"status_code\":0"), 0);
	assert_int_equal(count_with(note) + count_with("\"response\":{\"status_code\":"), 5);
}

/* Not HTTP/2: the first bytes are not the preface. Nothing is emitted, an error counted. */
static void test_not_http2(void **st)
{
	struct pl_http2 *h = pl_http2_takeover(&conn, &env, NULL, 1);

	(void)st;
	pl_http2_data(h, PL_DIR_TO_SERVER, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, 1);
	pl_http2_close(h, PL_CLOSE_FIN, 2);
	assert_int_equal(n_ev, 0);
	assert_int_equal(stats.http2_parse_errors, 1);
	assert_true(pl_http2_is_preface((const uint8_t *)"PRI * HT", 8));
	assert_false(pl_http2_is_preface((const uint8_t *)"POST / H", 8));
}

/* pl_http2_ops on a port that is also an HTTP port: the first client bytes decide. Chunks
 * alternate client, server; a chunk's length is sizeof its literal less the NUL. */
struct chunk { const char *p; size_t n; };
#define C(s) { s, sizeof(s) - 1 }

static void run_ops(const struct chunk *c, int n)
{
	void *state = calloc(1, pl_http2_ops.state_size(&cfg));

	cfg.http.enabled = true;
	cfg.http.ports.port[0] = 50051;
	cfg.http.ports.n = 1;
	cfg.http.max_message_size = 10485760;
	cfg.http.max_pending = 64;
	cfg.http.max_url_length = 8192;
	assert_int_equal(pl_http2_ops.init(state, &conn, &env), 0);
	for (int i = 0; i < n; i++)
		pl_http2_ops.data(state, i % 2 ? PL_DIR_TO_CLIENT : PL_DIR_TO_SERVER,
				  (const uint8_t *)c[i].p, c[i].n, 1000 + (uint64_t)i);
	pl_http2_ops.close(state, PL_CLOSE_FIN, 2000);
	free(state);
}

static void test_detect_http1_after_preface_like_start(void **st)
{
	/* "P" could begin the preface: held, then handed to HTTP/1 with the rest */
	static const struct chunk c[] = {
		C("P"), C(""), C("OST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"),
		C("HTTP/1.1 204 No Content\r\n\r\n"),
	};

	(void)st;
	run_ops(c, 4);
	assert_int_equal(n_ev, 1);
	assert_non_null(strstr(ev_json[0], "\"query\":\"POST /x\""));
	assert_non_null(strstr(ev_json[0], "\"version\":\"1.1\""));
	assert_non_null(strstr(ev_json[0], "\"status_code\":204"));
}

/* The preface in two reads (with an empty server read between): HTTP/2. */
static void test_detect_preface_split(void **st)
{
	static const struct chunk c[] = {
		C("PRI * HTTP/2"), C(""),
		C(".0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0\0\0\x03\x01\x05\0\0\0\x01\x82\x86\x84"),
		C("\0\0\0\x04\0\0\0\0\0\0\0\x01\x01\x05\0\0\0\x01\x88"),
	};

	(void)st;
	run_ops(c, 4);
	assert_int_equal(n_ev, 1);
	assert_non_null(strstr(ev_json[0], "\"version\":\"2\""));
	assert_non_null(strstr(ev_json[0], "\"query\":\"GET /\""));
	assert_non_null(strstr(ev_json[0], "\"status_code\":200"));
}

/* The h2c Upgrade hand-over: the HTTP/1.1 request is stream 1, its response comes in
 * HTTP/2 frames after the 101 and the client's preface. */
static void test_upgrade_takeover(void **st)
{
	static const uint8_t settings[] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };
	static const uint8_t resp[] = { 0, 0, 1, 1, 0x04, 0, 0, 0, 1, 0x88,
					0, 0, 2, 0, 0x01, 0, 0, 0, 1, 'o', 'k' };
	struct pl_http2_upgrade up = {
		.method = { "GET", 3 }, .target = { "/up?x=1", 7 }, .host = { "h.example:8080", 14 },
		.user_agent = { "curl/7.88.1", 11 }, .request_bytes = 150, .response_bytes = 71,
		.start_ns = 5,
	};
	struct pl_http2 *h = pl_http2_takeover(&conn, &env, &up, 7);

	(void)st;
	assert_non_null(h);
	pl_http2_data(h, PL_DIR_TO_SERVER, (const uint8_t *)"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, 8);
	pl_http2_data(h, PL_DIR_TO_SERVER, settings, sizeof(settings), 8);
	pl_http2_data(h, PL_DIR_TO_CLIENT, settings, sizeof(settings), 9);
	pl_http2_data(h, PL_DIR_TO_CLIENT, resp, sizeof(resp), 10);
	assert_int_equal(n_ev, 1);
	assert_non_null(strstr(ev_json[0], "\"query\":\"GET /up\""));
	assert_non_null(strstr(ev_json[0], "\"domain\":\"h.example\",\"port\":8080"));
	assert_non_null(strstr(ev_json[0], "\"query\":\"x=1\""));
	assert_non_null(strstr(ev_json[0], "\"client\":{\"ip\":\"127.0.0.1\",\"port\":40000,\"bytes\":150}"));
	assert_non_null(strstr(ev_json[0], "\"status_code\":200,\"bytes\":92,\"body\":{\"bytes\":2}"));
	assert_non_null(strstr(ev_json[0], "\"http2\":{\"stream_id\":1}"));
	/* an HTTP/1.1 request in clear: url.scheme "http" as for HTTP/1.x */
	assert_non_null(strstr(ev_json[0], "\"url\":{\"scheme\":\"http\",\"domain\":\"h.example\""));
	assert_non_null(strstr(ev_json[0], "\"full\":\"http://h.example:8080/up?x=1\""));
	assert_non_null(strstr(ev_json[0], "\"status\":\"OK\""));
	pl_http2_close(h, PL_CLOSE_FIN, 11);
	assert_int_equal(n_ev, 1);
}

/* url.scheme (and url.full) from :scheme: https's default port is 443; a request without
 * :scheme has neither (not "http" by default); http2.scheme as sent. */
static void test_url_scheme(void **st)
{
	/* GET https://h/ (authority without a port), GET https://h:8443/x, GET //h/ (no :scheme) */
	static const uint8_t https[] = { 0x82, 0x87, 0x84, 0x01, 1, 'h' };
	static const uint8_t https_port[] = { 0x82, 0x87, 0x04, 2, '/', 'x', 0x01, 6, 'h', ':',
					      '8', '4', '4', '3' };
	static const uint8_t none[] = { 0x82, 0x84, 0x01, 1, 'h' };
	static const uint8_t ok[] = { 0x88 };
	struct pl_http2 *h;
	const char *e;

	(void)st;
	h = start();
	wlen = 0;
	frame(1, 0x05, 1, https, sizeof(https));
	frame(1, 0x05, 3, https_port, sizeof(https_port));
	frame(1, 0x05, 5, none, sizeof(none));
	pl_http2_data(h, PL_DIR_TO_SERVER, wbuf, wlen, 2);
	wlen = 0;
	for (uint32_t sid = 1; sid <= 5; sid += 2)
		frame(1, 0x05, sid, ok, sizeof(ok));
	pl_http2_data(h, PL_DIR_TO_CLIENT, wbuf, wlen, 3);
	assert_int_equal(n_ev, 3);
	e = event_of_stream(1);
	assert_non_null(strstr(e, "\"url\":{\"scheme\":\"https\",\"domain\":\"h\",\"path\":\"/\","
				  "\"full\":\"https://h/\"}"));
	assert_non_null(strstr(e, "\"http2\":{\"stream_id\":1,\"scheme\":\"https\"}"));
	e = event_of_stream(3);
	assert_non_null(strstr(e, "\"url\":{\"scheme\":\"https\",\"domain\":\"h\",\"port\":8443,"
				  "\"path\":\"/x\",\"full\":\"https://h:8443/x\"}"));
	e = event_of_stream(5);
	assert_non_null(strstr(e, "\"url\":{\"domain\":\"h\",\"path\":\"/\"}"));
	assert_null(strstr(e, "\"scheme\""));
	pl_http2_close(h, PL_CLOSE_FIN, 4);
}

/* --- a quiet server-streaming gRPC call --- */

#define SEC(n) ((uint64_t)(n) * PL_NS_PER_SEC)

/* POST /pktlog.Echo/Watch, :scheme http, content-type application/grpc */
static const uint8_t grpc_req[] = {
	0x83, 0x86, 0x04, 18, '/', 'p', 'k', 't', 'l', 'o', 'g', '.', 'E', 'c', 'h', 'o', '/',
	'W', 'a', 't', 'c', 'h', 0x0f, 0x10, 16, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o',
	'n', '/', 'g', 'r', 'p', 'c',
};
/* :status 200, content-type application/grpc */
static const uint8_t grpc_resp[] = {
	0x88, 0x0f, 0x10, 16, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o', 'n', '/', 'g', 'r',
	'p', 'c',
};
static const uint8_t grpc_msg[] = { 0, 0, 0, 0, 2, 'h', 'i' };
static const uint8_t grpc_ok[] = { 0x00, 11, 'g', 'r', 'p', 'c', '-', 's', 't', 'a', 't', 'u',
				   's', 1, '0' };

static void send_frame(struct pl_http2 *h, int dir, uint8_t type, uint8_t flags,
		       const uint8_t *p, size_t n, uint64_t ts)
{
	wlen = 0;
	frame(type, flags, 1, p, n);
	pl_http2_data(h, (enum pl_dir)dir, wbuf, wlen, ts);
}

/* Trailers grpc-status 3 and grpc-message msg on stream sid of a gRPC call; returns its event. */
static const char *grpc_call_with_message(struct pl_http2 *h, uint32_t sid, const char *msg)
{
	static const uint8_t st3[] = { 0x00, 11, 'g', 'r', 'p', 'c', '-', 's', 't', 'a', 't', 'u',
				       's', 1, '3' };
	uint8_t tr[200];
	size_t n = strlen(msg), k = sizeof(st3);

	assert_true(n < 127 && k + 14 + n <= sizeof(tr));
	memcpy(tr, st3, k);
	tr[k++] = 0x00;
	tr[k++] = 12;
	memcpy(tr + k, "grpc-message", 12);
	k += 12;
	tr[k++] = (uint8_t)n;
	memcpy(tr + k, msg, n);
	k += n;
	wlen = 0;
	frame(1, 0x04, sid, grpc_req, sizeof(grpc_req));
	frame(0, 0x01, sid, grpc_msg, sizeof(grpc_msg));
	pl_http2_data(h, PL_DIR_TO_SERVER, wbuf, wlen, 2);
	wlen = 0;
	frame(1, 0x04, sid, grpc_resp, sizeof(grpc_resp));
	frame(1, 0x05, sid, tr, k);
	pl_http2_data(h, PL_DIR_TO_CLIENT, wbuf, wlen, 3);
	return event_of_stream(sid);
}

/* rpc.grpc.status_message percent-decoded as gRPC defines it (percent-encoded UTF-8): the
 * message as grpc-python 1.51 sends ctx.abort(INVALID_ARGUMENT, "café ✓ 100% done\nnext");
 * a '%' that does not start a valid encoded UTF-8 character stays as sent. */
static void test_grpc_message_decoded(void **st)
{
	struct pl_http2 *h;
	const char *e;

	(void)st;
	h = start();
	e = grpc_call_with_message(h, 1, "caf%C3%A9 %E2%9C%93 100%25 done%0Anext");
	assert_non_null(strstr(e, "\"status_code\":3,\"status_message\":\"caf\xc3\xa9 \xe2\x9c\x93 "
				  "100% done\\nnext\""));
	e = grpc_call_with_message(h, 3, "%ZZ %4 %FF %E2%9C. %C0%80 %ED%A0%80 %f0%9f%98%80 %");
	assert_non_null(strstr(e, "\"status_message\":\"%ZZ %4 %FF %E2%9C. %C0%80 %ED%A0%80 "
				  "\xf0\x9f\x98\x80 %\""));
	pl_http2_close(h, PL_CLOSE_FIN, 4);
}

/* Request and response head at 0 s, then one message every 30 s with the connection
 * otherwise silent; the flow layer asks for expiry in between. protocols.http's
 * transaction_timeout (10 s here) must not cut the stream: one event at its end. */
static void test_quiet_stream_not_timed_out(void **st)
{
	struct pl_http2 *h;

	(void)st;
	h = start();
	send_frame(h, 0, 1, 0x04, grpc_req, sizeof(grpc_req), SEC(1));
	send_frame(h, 0, 0, 0x01, grpc_msg, sizeof(grpc_msg), SEC(1));
	send_frame(h, 1, 1, 0x04, grpc_resp, sizeof(grpc_resp), SEC(1));
	for (int i = 1; i <= 4; i++) {
		pl_http2_idle(h, SEC(30 * i - 15));
		pl_http2_idle(h, SEC(30 * i - 1));
		send_frame(h, 1, 0, 0, grpc_msg, sizeof(grpc_msg), SEC(30 * i));
	}
	assert_int_equal(n_ev, 0);
	send_frame(h, 1, 1, 0x05, grpc_ok, sizeof(grpc_ok), SEC(125));
	assert_int_equal(n_ev, 1);
	assert_null(strstr(ev_json[0], "timed out"));
	assert_null(strstr(ev_json[0], "\"error\""));
	assert_non_null(strstr(ev_json[0], "\"response\":{\"messages\":4}"));
	assert_non_null(strstr(ev_json[0], "\"status_code\":0"));
	assert_non_null(strstr(ev_json[0], "\"status\":\"OK\""));
	pl_http2_close(h, PL_CLOSE_FIN, SEC(126));
	assert_int_equal(n_ev, 1);
}

/* The same stream on a connection that falls silent: it ends with the connection, when the
 * flow layer expires it (flows.idle_timeout), and says so. Through pl_http2_ops. */
static void test_stream_ends_with_idle_connection(void **st)
{
	void *state = calloc(1, pl_http2_ops.state_size(&cfg));
	static const uint8_t settings[] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };

	(void)st;
	assert_int_equal(pl_http2_ops.init(state, &conn, &env), 0);
	pl_http2_ops.data(state, PL_DIR_TO_SERVER, (const uint8_t *)"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
			  24, SEC(1));
	pl_http2_ops.data(state, PL_DIR_TO_SERVER, settings, sizeof(settings), SEC(1));
	pl_http2_ops.data(state, PL_DIR_TO_CLIENT, settings, sizeof(settings), SEC(1));
	wlen = 0;
	frame(1, 0x04, 1, grpc_req, sizeof(grpc_req));
	frame(0, 0x01, 1, grpc_msg, sizeof(grpc_msg));
	pl_http2_ops.data(state, PL_DIR_TO_SERVER, wbuf, wlen, SEC(1));
	wlen = 0;
	frame(1, 0x04, 1, grpc_resp, sizeof(grpc_resp));
	frame(0, 0, 1, grpc_msg, sizeof(grpc_msg));
	pl_http2_ops.data(state, PL_DIR_TO_CLIENT, wbuf, wlen, SEC(2));
	for (int i = 3; i < 62; i++)
		pl_http2_ops.idle(state, SEC(i));
	assert_int_equal(n_ev, 0);
	pl_http2_ops.close(state, PL_CLOSE_TIMEOUT, SEC(62));
	free(state);
	assert_int_equal(n_ev, 1);
	assert_non_null(strstr(ev_json[0],
			       "Response incomplete when the connection went idle (flows.idle_timeout)"));
	assert_null(strstr(ev_json[0], "Request incomplete"));
	assert_non_null(strstr(ev_json[0], "\"response\":{\"messages\":1}"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_nghttp_concurrent_streams),
		T(test_byte_by_byte),
		T(test_grpc_calls),
		T(test_gap_in_header_block),
		T(test_gap_in_data),
		T(test_gap_across_frames),
		T(test_requests_lost),
		T(test_padding_and_continuation),
		T(test_stream_bound),
		T(test_settings_rst_goaway),
		T(test_status_not_read),
		T(test_not_http2),
		T(test_detect_http1_after_preface_like_start),
		T(test_detect_preface_split),
		T(test_upgrade_takeover),
		T(test_url_scheme),
		T(test_quiet_stream_not_timed_out),
		T(test_grpc_message_decoded),
		T(test_stream_ends_with_idle_connection),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	free(file_data);
	return rc;
}
