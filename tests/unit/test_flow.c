/* test_flow.c – the connection table and reassembly (src/net/flow.c), driven with
 * hand-made segments and a recording protocol in place of HTTP. */
#include "unit.h"
#include "pktlog/flow.h"

#define CAP 65536

/* What the recording protocol saw, per connection (tests use one at a time). */
struct rec {
	uint8_t data[2][CAP];
	size_t len[2];
	uint64_t gaps[2];
	int n_gaps[2];
	int closes;
	enum pl_close_reason why;
	int idles;
	int inits;
	struct pl_conn conn;
	uint64_t first_ts[2];     /* packet time given with each direction's first data */
	char order[64];           /* 'S' / 'C' per data call: to server, to client */
	size_t n_order;
};

static struct rec R;

static size_t rec_state_size(const struct pl_config *cfg) { return sizeof(int); }
static int rec_init(void *st, const struct pl_conn *c, const struct pl_proto_env *env)
{
	R.inits++;
	R.conn = *c;
	return 0;
}
static void rec_data(void *st, enum pl_dir d, const uint8_t *p, size_t n, uint64_t ts)
{
	/* Only the first CAP bytes are kept for comparison; all are counted. */
	if (R.len[d] == R.gaps[d] && !R.first_ts[d])
		R.first_ts[d] = ts;
	if (R.n_order < sizeof(R.order) - 1)
		R.order[R.n_order++] = d == PL_DIR_TO_SERVER ? 'S' : 'C';
	if (R.len[d] + n <= CAP)
		memcpy(R.data[d] + R.len[d], p, n);
	R.len[d] += n;
}
static void rec_gap(void *st, enum pl_dir d, uint64_t len, uint64_t ts)
{
	/* Mark lost bytes with '#' so tests can see where the hole was. */
	if (R.len[d] + len <= CAP)
		memset(R.data[d] + R.len[d], '#', len);
	R.len[d] += len;
	R.gaps[d] += len;
	R.n_gaps[d]++;
}
static void rec_idle(void *st, uint64_t now) { R.idles++; }
static void rec_close(void *st, enum pl_close_reason why, uint64_t ts)
{
	R.closes++;
	R.why = why;
}

static const struct pl_proto_ops rec_ops = {
	"rec", rec_state_size, rec_init, rec_data, rec_gap, rec_idle, rec_close, NULL,
};

static struct pl_config cfg;
static struct pl_stats stats;
static struct pl_proto_env env;

static struct pl_flow_table *table(uint32_t buf_bytes, uint32_t max_flows)
{
	memset(&R, 0, sizeof(R));
	memset(&cfg, 0, sizeof(cfg));
	memset(&stats, 0, sizeof(stats));
	cfg.http.enabled = true;
	cfg.http.ports.port[0] = 80;
	cfg.http.ports.n = 1;
	cfg.flows.max_flows = max_flows;
	cfg.flows.stream_buffer_bytes = buf_bytes;
	cfg.flows.max_buffer_mb = 64;
	cfg.flows.idle_timeout_ns = 60 * PL_NS_PER_SEC;
	cfg.fast_paths = true;
	env = (struct pl_proto_env){ &cfg, &stats, NULL, NULL };
	struct pl_flow_table *t = pl_flow_table_new(&cfg, &env);
	assert_non_null(t);
	pl_flow_table_set_proto(t, &rec_ops);
	return t;
}

/* Client 10.0.0.1:cport <-> server 10.0.0.2:80. */
static void seg(struct pl_flow_table *t, bool to_server, uint16_t cport, uint32_t seq, uint8_t flags,
		const char *data, uint32_t len, uint64_t ts_ms)
{
	struct pl_packet p;

	memset(&p, 0, sizeof(p));
	p.af = 4;
	uint8_t c[4] = { 10, 0, 0, 1 }, s[4] = { 10, 0, 0, 2 };
	memcpy(to_server ? p.src : p.dst, c, 4);
	memcpy(to_server ? p.dst : p.src, s, 4);
	p.sport = to_server ? cport : 80;
	p.dport = to_server ? 80 : cport;
	p.seq = seq;
	p.tcp_flags = flags | PL_TCP_ACK;
	if (flags & PL_TCP_SYN && to_server)
		p.tcp_flags = PL_TCP_SYN;
	p.payload = (const uint8_t *)data;
	p.payload_len = len;
	p.payload_wire_len = len;
	p.ts_ns = ts_ms * 1000000ULL;
	pl_flow_packet(t, &p);
}

/* A bare ACK from the server acknowledging the client's bytes up to `ack`. */
static void server_ack(struct pl_flow_table *t, uint16_t cport, uint32_t seq, uint32_t ack, uint64_t ts_ms)
{
	struct pl_packet p;
	uint8_t c[4] = { 10, 0, 0, 1 }, s[4] = { 10, 0, 0, 2 };

	memset(&p, 0, sizeof(p));
	p.af = 4;
	memcpy(p.dst, c, 4);
	memcpy(p.src, s, 4);
	p.sport = 80;
	p.dport = cport;
	p.seq = seq;
	p.ack = ack;
	p.tcp_flags = PL_TCP_ACK;
	p.ts_ns = ts_ms * 1000000ULL;
	pl_flow_packet(t, &p);
}

static void handshake(struct pl_flow_table *t, uint32_t cisn, uint32_t sisn)
{
	seg(t, true, 40000, cisn, PL_TCP_SYN, NULL, 0, 1);
	seg(t, false, 40000, sisn, PL_TCP_SYN, NULL, 0, 1);
	seg(t, true, 40000, cisn + 1, 0, NULL, 0, 1);
}

static void test_in_order_both_directions(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg(t, true, 40000, 1001, PL_TCP_PSH, "GET / HTTP/1.1\r\n\r\n", 18, 2);
	seg(t, false, 40000, 5001, PL_TCP_PSH, "HTTP/1.1 200 OK\r\n\r\n", 19, 3);
	assert_int_equal(R.inits, 1);
	assert_int_equal(R.conn.server_port, 80);
	assert_int_equal(R.conn.client_port, 40000);
	assert_int_equal(R.conn.client_ip[3], 1);
	assert_memory_equal(R.conn.community_id, "1:", 2);
	assert_int_equal(R.len[PL_DIR_TO_SERVER], 18);
	assert_memory_equal(R.data[PL_DIR_TO_SERVER], "GET / HTTP/1.1\r\n\r\n", 18);
	assert_memory_equal(R.data[PL_DIR_TO_CLIENT], "HTTP/1.1 200 OK\r\n\r\n", 19);
	seg(t, true, 40000, 1019, PL_TCP_FIN, NULL, 0, 4);
	seg(t, false, 40000, 5020, PL_TCP_FIN, NULL, 0, 4);
	assert_int_equal(R.closes, 1);
	assert_int_equal(R.why, PL_CLOSE_FIN);
	assert_int_equal(stats.tcp_gaps, 0);
	assert_int_equal(stats.flows_midstream, 0);
	/* A late ACK after the close neither reopens nor reaches the protocol... */
	seg(t, true, 40000, 1020, 0, NULL, 0, 5);
	assert_int_equal(R.inits, 1);
	/* ...nor does a duplicate of the old SYN (loopback captures show each frame twice)
	 * followed by a duplicate of old data... */
	seg(t, true, 40000, 1000, PL_TCP_SYN, NULL, 0, 5);
	seg(t, false, 40000, 5001, PL_TCP_PSH, "HTTP/1.1 200 OK\r\n\r\n", 19, 5);
	assert_int_equal(R.inits, 1);
	assert_int_equal(R.len[PL_DIR_TO_CLIENT], 19);
	/* ...but a SYN with a new ISN is a new connection on the same tuple. */
	seg(t, true, 40000, 9000, PL_TCP_SYN, NULL, 0, 6);
	assert_int_equal(R.inits, 2);
	pl_flow_table_free(t);
	assert_int_equal(R.closes, 2);
}

static void test_out_of_order_reassembled(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg(t, true, 40000, 1011, 0, "klmnopqrst", 10, 2);
	seg(t, true, 40000, 1021, 0, "uvwxyz", 6, 2);
	assert_int_equal(R.len[0], 0);
	seg(t, true, 40000, 1001, 0, "abcdefghij", 10, 3);
	assert_int_equal(R.len[0], 26);
	assert_memory_equal(R.data[0], "abcdefghijklmnopqrstuvwxyz", 26);
	assert_int_equal(stats.tcp_ooo_segments, 2);
	assert_int_equal(stats.tcp_ooo_bytes_buffered, 0);
	assert_int_equal(stats.tcp_gaps, 0);
	pl_flow_table_free(t);
}

static void test_retransmission_and_overlap_trimmed(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg(t, true, 40000, 1001, 0, "abcdef", 6, 2);
	seg(t, true, 40000, 1001, 0, "abcdef", 6, 2);       /* duplicate */
	seg(t, true, 40000, 1004, 0, "defghi", 6, 2);       /* overlaps 3 */
	seg(t, true, 40000, 1012, 0, "lm", 2, 2);           /* ahead */
	seg(t, true, 40000, 1008, 0, "hijklmno", 8, 2);     /* overlaps both sides */
	assert_int_equal(R.len[0], 15);
	assert_memory_equal(R.data[0], "abcdefghijklmno", 15);
	assert_int_equal(stats.tcp_retrans_bytes, 6 + 3 + 2);
	pl_flow_table_free(t);
}

static void test_buffer_cap_forces_gap(void **s)
{
	struct pl_flow_table *t = table(8, 100);

	handshake(t, 1000, 5000);
	seg(t, true, 40000, 1011, 0, "KLMNO", 5, 2);        /* 1001..1010 missing */
	assert_int_equal(R.len[0], 0);
	seg(t, true, 40000, 1016, 0, "PQRST", 5, 2);        /* would exceed 8 bytes */
	assert_int_equal(R.n_gaps[0], 1);
	assert_int_equal(R.gaps[0], 10);
	assert_memory_equal(R.data[0], "##########KLMNOPQRST", 20);
	assert_int_equal(stats.tcp_ooo_overflow, 1);
	/* The missing bytes arriving late are now old news. */
	seg(t, true, 40000, 1001, 0, "abcdefghij", 10, 3);
	assert_int_equal(R.len[0], 20);
	pl_flow_table_free(t);
}

/* The table-wide budget holds across connections: the stream that needs more gives up. */
static void test_table_budget_shared_by_streams(void **s)
{
	static char big[60000];
	struct pl_flow_table *t = table(2 << 20, 100);

	cfg.flows.max_buffer_mb = 1;
	memset(big, 'x', sizeof(big));
	handshake(t, 1000, 5000);
	/* The client's stream holds 720 kB behind a hole (its own cap is 2 MB)... */
	for (uint32_t i = 0; i < 12; i++)
		seg(t, true, 40000, 2001 + i * 60000, 0, big, 60000, 2);
	assert_int_equal(stats.tcp_ooo_bytes_buffered, 720000);
	/* ...so the server's stream gets only what is left of the 1 MiB table budget. */
	for (uint32_t i = 0; i < 8; i++) {
		seg(t, false, 40000, 6001 + i * 60000, 0, big, 60000, 2);
		assert_true(stats.tcp_ooo_bytes_buffered <= (1u << 20));
	}
	assert_true(stats.tcp_ooo_overflow >= 1);
	assert_true(R.n_gaps[PL_DIR_TO_CLIENT] >= 1);
	assert_int_equal(R.n_gaps[PL_DIR_TO_SERVER], 0);
	pl_flow_table_free(t);
	assert_int_equal(stats.tcp_ooo_bytes_buffered, 0);
}

static void test_zero_buffer_means_immediate_gap(void **s)
{
	struct pl_flow_table *t = table(0, 100);

	handshake(t, 1000, 5000);
	seg(t, true, 40000, 1004, 0, "def", 3, 2);
	assert_int_equal(R.gaps[0], 3);
	assert_memory_equal(R.data[0], "###def", 6);
	pl_flow_table_free(t);
}

static void test_hole_before_fin_reported_on_close(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg(t, false, 40000, 5001, 0, "abc", 3, 2);
	seg(t, false, 40000, 5007, 0, "ghi", 3, 2);         /* def lost */
	seg(t, false, 40000, 5013, PL_TCP_FIN, NULL, 0, 2); /* jkl lost too */
	seg(t, true, 40000, 1001, PL_TCP_FIN, NULL, 0, 3);
	assert_int_equal(R.closes, 1);
	assert_int_equal(R.len[1], 12);
	assert_memory_equal(R.data[1], "abc###ghi###", 12);
	assert_int_equal(R.n_gaps[1], 2);
	pl_flow_table_free(t);
}

/* Bytes held behind a hole that is given up (here at the FIN) reach the protocol with the
 * time they were captured, not the time the hole was given up: HTTP pairs by time. */
static void test_held_bytes_keep_their_time(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg(t, true, 40000, 1004, 0, "def", 3, 20);          /* abc lost */
	seg(t, true, 40000, 1007, PL_TCP_FIN, NULL, 0, 90);
	seg(t, false, 40000, 5001, PL_TCP_FIN, NULL, 0, 91);
	assert_int_equal(R.closes, 1);
	assert_memory_equal(R.data[0], "###def", 6);
	assert_int_equal(R.first_ts[0], 20 * 1000000ULL);
	pl_flow_table_free(t);
}

/* Both directions hold bytes behind holes when the flow ends: they reach the protocol in the
 * order they were captured (a request, its response, the next request...). */
static void test_held_bytes_both_directions_in_order(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg(t, false, 40000, 5004, 0, "R1", 2, 10);          /* 3 response bytes lost before */
	seg(t, true, 40000, 1004, 0, "Q2", 2, 20);           /* 3 request bytes lost before */
	seg(t, false, 40000, 5006, 0, "R2", 2, 30);
	seg(t, true, 40000, 1006, 0, "Q3", 2, 40);
	seg(t, false, 40000, 5008, 0, "R3", 2, 50);
	seg(t, true, 40000, 1008, PL_TCP_FIN, NULL, 0, 60);
	seg(t, false, 40000, 5010, PL_TCP_FIN, NULL, 0, 61);
	assert_int_equal(R.closes, 1);
	assert_memory_equal(R.data[0], "###Q2Q3", 7);
	assert_memory_equal(R.data[1], "###R1R2R3", 9);
	assert_string_equal(R.order, "CSCSC");
	pl_flow_table_free(t);
}

/* The server acknowledges the client's bytes past a hole: the capture lost them, nothing
 * will fill it, and the bytes held behind it are delivered then (at their own time), not
 * when the flow ends. */
static void test_acked_hole_given_up(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg(t, true, 40000, 1004, 0, "def", 3, 20);          /* abc lost */
	assert_int_equal(R.len[0], 0);
	server_ack(t, 40000, 5001, 1004, 25);                /* not past the held bytes yet */
	assert_int_equal(R.len[0], 0);
	server_ack(t, 40000, 5001, 1007, 30);
	assert_int_equal(R.len[0], 6);
	assert_memory_equal(R.data[0], "###def", 6);
	assert_int_equal(R.first_ts[0], 20 * 1000000ULL);
	assert_int_equal(R.closes, 0);
	pl_flow_table_free(t);
}

/* A data segment that acknowledges `ack` (the other direction's bytes). */
static void seg_ack(struct pl_flow_table *t, bool to_server, uint32_t seq, uint32_t ack,
		    uint8_t flags, const char *data, uint32_t len, uint64_t ts_ms)
{
	struct pl_packet p;
	uint8_t c[4] = { 10, 0, 0, 1 }, sv[4] = { 10, 0, 0, 2 };

	memset(&p, 0, sizeof(p));
	p.af = 4;
	memcpy(to_server ? p.src : p.dst, c, 4);
	memcpy(to_server ? p.dst : p.src, sv, 4);
	p.sport = to_server ? 40000 : 80;
	p.dport = to_server ? 80 : 40000;
	p.seq = seq;
	p.ack = ack;
	p.tcp_flags = flags | PL_TCP_ACK;
	p.payload = (const uint8_t *)data;
	p.payload_len = len;
	p.payload_wire_len = len;
	p.ts_ns = ts_ms * 1000000ULL;
	pl_flow_packet(t, &p);
}

/* issue 12: the capture shows the server's answer (its ACK covers the client's Q2) before
 * Q2 itself. TCP says the answer was sent after Q2 arrived: it is held and delivered after
 * Q2, once (its duplicate is trimmed), at Q2's time; a pure ACK is never held. */
static void test_ack_ahead_held_until_peer_bytes(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg_ack(t, true, 1001, 5001, 0, "Q1", 2, 10);
	seg_ack(t, false, 5001, 1003, 0, "R1", 2, 11);
	seg_ack(t, false, 5003, 1005, 0, "R2", 2, 20);      /* answers Q2, shown first */
	seg_ack(t, false, 5003, 1005, 0, "R2", 2, 20);      /* a duplicated frame */
	server_ack(t, 40000, 5005, 1005, 20);                /* pure ACK: never held */
	assert_int_equal(R.len[1], 2);
	assert_int_equal(stats.tcp_ack_holds, 2);
	seg_ack(t, true, 1003, 5003, 0, "Q2", 2, 21);
	assert_int_equal(R.len[0], 4);
	assert_int_equal(R.len[1], 4);
	assert_memory_equal(R.data[0], "Q1Q2", 4);
	assert_memory_equal(R.data[1], "R1R2", 4);
	assert_string_equal(R.order, "SCSC");
	assert_int_equal(R.n_gaps[0] + R.n_gaps[1], 0);
	assert_int_equal(stats.tcp_ack_hold_forced, 0);
	assert_int_equal(stats.tcp_ack_holds, 2);
	pl_flow_table_free(t);
}

/* The client's Q1 is lost in the capture; the answer acknowledging it is held until the
 * client's next segment starts beyond Q1: then the answer goes, Q1 becomes a gap, then Q2. */
static void test_ack_hold_released_by_later_peer_segment(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg_ack(t, false, 5001, 1004, 0, "R1", 2, 10);      /* Q1 (3 bytes) lost */
	assert_int_equal(R.len[1], 0);
	seg_ack(t, true, 1004, 5003, 0, "Q2", 2, 20);
	assert_int_equal(R.len[0], 5);
	assert_memory_equal(R.data[0], "###Q2", 5);
	assert_memory_equal(R.data[1], "R1", 2);
	assert_string_equal(R.order, "CS");
	assert_int_equal(R.first_ts[1], 10 * 1000000ULL);
	assert_int_equal(stats.tcp_ack_hold_forced, 1);
	assert_int_equal(R.closes, 0);
	pl_flow_table_free(t);
}

/* What is held when the flow ends is delivered before the close. */
static void test_ack_hold_released_at_close(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg_ack(t, false, 5001, 1004, 0, "R1", 2, 10);      /* Q1 lost */
	assert_int_equal(R.len[1], 0);
	pl_flow_flush(t);
	assert_int_equal(R.closes, 1);
	assert_int_equal(R.len[1], 2);
	assert_memory_equal(R.data[1], "R1", 2);
	assert_int_equal(stats.tcp_ack_hold_forced, 1);
	pl_flow_table_free(t);
}

/* Held bytes stay within the direction's buffer. When it is full, the peer bytes the oldest
 * held segment acknowledges are taken as lost (a gap, as when the out-of-order buffer fills)
 * and everything held goes, in order; a late copy of the lost bytes is a retransmission. */
static void test_ack_hold_bound(void **s)
{
	struct pl_flow_table *t = table(8, 100);

	handshake(t, 1000, 5000);
	seg_ack(t, false, 5001, 1004, 0, "AAAA", 4, 10);
	seg_ack(t, false, 5005, 1004, 0, "BBBB", 4, 11);
	assert_int_equal(R.len[1], 0);
	seg_ack(t, false, 5009, 1004, 0, "CCCC", 4, 12);
	assert_int_equal(R.len[1], 12);
	assert_memory_equal(R.data[1], "AAAABBBBCCCC", 12);
	assert_int_equal(R.len[0], 3);
	assert_int_equal(R.gaps[0], 3);
	assert_int_equal(stats.tcp_ack_holds, 3);
	assert_int_equal(stats.tcp_ack_hold_forced, 1);
	assert_int_equal(stats.tcp_ooo_overflow, 1);
	seg_ack(t, false, 5013, 1004, 0, "DDDD", 4, 13);   /* no longer held */
	assert_int_equal(R.len[1], 16);
	assert_int_equal(stats.tcp_ack_holds, 3);
	seg_ack(t, true, 1001, 5001, 0, "abc", 3, 14);      /* too late */
	assert_int_equal(R.len[0], 3);
	assert_string_equal(R.order, "CCCC");
	pl_flow_table_free(t);
}

/* An ACK one past the client's bytes covers its FIN (a half-close): nothing is missing. */
static void test_ack_of_fin_not_held(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg_ack(t, true, 1001, 5001, PL_TCP_FIN, "Q1", 2, 10);
	seg_ack(t, false, 5001, 1004, 0, "R1", 2, 11);
	assert_int_equal(R.len[1], 2);
	assert_int_equal(stats.tcp_ack_holds, 0);
	pl_flow_table_free(t);
}

static void test_rst_closes(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg(t, true, 40000, 1001, 0, "GET", 3, 2);
	seg(t, false, 40000, 5001, PL_TCP_RST, NULL, 0, 3);
	assert_int_equal(R.closes, 1);
	assert_int_equal(R.why, PL_CLOSE_RST);
	assert_int_equal(stats.flows_closed, 1);
	pl_flow_table_free(t);
}

static void test_midstream_pickup_by_port(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	/* No handshake; the first packet seen is the server's. */
	seg(t, false, 40000, 777777, 0, "HTTP/1.1", 8, 1);
	seg(t, true, 40000, 123, 0, "GET", 3, 1);
	assert_int_equal(R.inits, 1);
	assert_int_equal(R.conn.server_port, 80);
	assert_int_equal(R.len[1], 8);
	assert_int_equal(R.len[0], 3);
	assert_int_equal(stats.flows_midstream, 1);
	/* Pure ACKs of unknown connections start nothing. */
	seg(t, true, 40001, 1, 0, NULL, 0, 1);
	assert_int_equal(stats.flows_created, 1);
	pl_flow_table_free(t);
	assert_int_equal(R.why, PL_CLOSE_END);
}

static void test_unconfigured_port_ignored(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);
	struct pl_packet p;

	memset(&p, 0, sizeof(p));
	p.af = 4;
	p.sport = 5555;
	p.dport = 6666;
	p.payload = (const uint8_t *)"x";
	p.payload_len = p.payload_wire_len = 1;
	pl_flow_packet(t, &p);
	assert_int_equal(R.inits, 0);
	assert_int_equal(stats.flows_ignored, 1);
	pl_flow_table_free(t);
}

static void test_idle_expiry_in_packet_time(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg(t, true, 40000, 1001, 0, "GET", 3, 10);
	/* Another connection's packets move packet time; no wall clock involved. */
	seg(t, true, 40001, 1, 0, "x", 1, 5000);
	assert_true(R.idles >= 1);
	assert_int_equal(R.closes, 0);
	seg(t, true, 40001, 2, 0, "y", 1, 61000);
	seg(t, true, 40001, 3, 0, "z", 1, 62100);
	assert_int_equal(stats.flows_expired, 1);
	pl_flow_table_free(t);
}

static void test_max_flows_evicts_oldest(void **s)
{
	struct pl_flow_table *t = table(CAP, 3);

	for (uint16_t i = 0; i < 5; i++)
		seg(t, true, (uint16_t)(40000 + i), 1, 0, "x", 1, 1 + i);
	assert_int_equal(stats.flows_created, 5);
	assert_int_equal(stats.flows_evicted, 2);
	assert_int_equal(stats.flows_active, 3);
	pl_flow_table_free(t);
	assert_int_equal(stats.flows_active, 0);
}

static void test_snaplen_cut_is_gap(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);
	struct pl_packet p;

	handshake(t, 1000, 5000);
	memset(&p, 0, sizeof(p));
	p.af = 4;
	p.src[0] = 10; p.src[3] = 1;
	p.dst[0] = 10; p.dst[3] = 2;
	p.sport = 40000;
	p.dport = 80;
	p.seq = 1001;
	p.tcp_flags = PL_TCP_ACK;
	p.payload = (const uint8_t *)"abc";
	p.payload_len = 3;
	p.payload_wire_len = 10;
	p.ts_ns = 2000000;
	pl_flow_packet(t, &p);
	seg(t, true, 40000, 1011, 0, "z", 1, 3);
	assert_int_equal(R.len[0], 11);
	assert_memory_equal(R.data[0], "abc#######z", 11);
	assert_int_equal(stats.tcp_snaplen_cut, 1);
	pl_flow_table_free(t);
}

static void test_sequence_wraparound(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 0xfffffff0u, 5000);
	seg(t, true, 40000, 0xfffffffbu, 0, "ghijklmnop", 10, 2);  /* crosses 2^32 */
	seg(t, true, 40000, 0xfffffff1u, 0, "abcdef", 6, 2);
	seg(t, true, 40000, 0xfffffff7u, 0, "0123", 4, 2);
	assert_int_equal(R.len[0], 20);
	assert_memory_equal(R.data[0], "abcdef0123ghijklmnop", 20);
	pl_flow_table_free(t);
}

/* issue 13: a segment (or SYN) exactly 2^31 from the expected sequence number is neither
 * before nor after it (RFC 1982): it is a resync, with no abs(INT_MIN) on the way. */
static void test_seq_exactly_half_space_away(void **s)
{
	struct pl_flow_table *t = table(CAP, 100);

	handshake(t, 1000, 5000);
	seg(t, true, 40000, 1001, 0, "abc", 3, 2);
	seg(t, true, 40000, 1004u + 0x80000000u, 0, "xyz", 3, 3);     /* 2^31 ahead of 1004 */
	assert_int_equal(R.len[0], 6);
	assert_memory_equal(R.data[0], "abcxyz", 6);
	assert_int_equal(R.n_gaps[0], 0);
	seg(t, true, 40000, 1007u, 0, "uvw", 3, 4);                   /* 2^31 behind again */
	assert_int_equal(R.len[0], 9);
	assert_memory_equal(R.data[0], "abcxyzuvw", 9);
	/* A new SYN whose seq + 1 is exactly 2^31 from next_seq starts over there. */
	seg(t, false, 40000, 5001, 0, "HTTP", 4, 5);
	seg(t, false, 40000, 5004u + 0x80000000u, PL_TCP_SYN, NULL, 0, 6);
	seg(t, false, 40000, 5005u + 0x80000000u, 0, "/1.1", 4, 7);
	assert_int_equal(R.len[1], 8);
	assert_memory_equal(R.data[1], "HTTP/1.1", 8);
	/* Buffered segments 2^31 around the expected byte are handled the same way. */
	seg(t, true, 40000, 1020u, 0, "later", 5, 8);
	seg(t, true, 40000, 1010u + 0x80000000u, 0, "far", 3, 9);
	assert_int_equal(R.len[0], 12);
	pl_flow_table_free(t);
}

/* Any order, with duplicates and overlaps, must give back the original bytes. */
static void test_shuffled_segments(void **s)
{
	static char text[4000];
	uint32_t seed = 12345;

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (char)('a' + i % 26);
	for (int round = 0; round < 50; round++) {
		struct pl_flow_table *t = table(CAP, 100);
		struct { uint32_t off, len; } segs[200];
		int n = 0;

		handshake(t, 1000 + (uint32_t)round * 7919u, 5000);
		for (uint32_t off = 0; off < sizeof(text) && n < 190;) {
			seed = seed * 1103515245u + 12345u;
			uint32_t len = 1 + (seed >> 16) % 120;
			if (off + len > sizeof(text))
				len = (uint32_t)sizeof(text) - off;
			segs[n].off = off;
			segs[n++].len = len;
			off += len;
		}
		segs[n].off = 0;                    /* a stray overlapping duplicate */
		segs[n++].len = 300;
		for (int i = n - 1; i > 0; i--) {
			seed = seed * 1103515245u + 12345u;
			int j = (int)((seed >> 16) % (uint32_t)(i + 1));
			__typeof__(segs[0]) tmp = segs[i];
			segs[i] = segs[j];
			segs[j] = tmp;
		}
		uint32_t total = 0;
		for (int i = 0; i < n; i++) {
			seg(t, true, 40000, 1000 + (uint32_t)round * 7919u + 1 + segs[i].off, 0,
			    text + segs[i].off, segs[i].len, 2);
			total = PL_MAX(total, segs[i].off + segs[i].len);
		}
		assert_int_equal(R.len[0], sizeof(text));
		assert_memory_equal(R.data[0], text, sizeof(text));
		assert_int_equal(R.n_gaps[0], 0);
		pl_flow_table_free(t);
	}
}

/* --- the in-order shortcut against the general reassembly --- */

/* Every protocol call of a run, in order, to compare two runs. */
static char trace[1 << 21];
static size_t trace_len;

static void __attribute__((format(printf, 1, 2))) tr(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(trace + trace_len, sizeof(trace) - trace_len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(trace) - trace_len);
	trace_len += (size_t)n;
}

static size_t tr_state_size(const struct pl_config *c) { return sizeof(unsigned); }
static int tr_init(void *st, const struct pl_conn *c, const struct pl_proto_env *e)
{
	*(unsigned *)st = c->client_port;
	tr("init %u %u\n", c->client_port, c->server_port);
	return 0;
}
static void tr_data(void *st, enum pl_dir d, const uint8_t *p, size_t n, uint64_t ts)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	tr("data %u %d %zu %llu %08x\n", *(unsigned *)st, d, n, (unsigned long long)ts, h);
}
static void tr_gap(void *st, enum pl_dir d, uint64_t len, uint64_t ts)
{
	tr("gap %u %d %llu %llu\n", *(unsigned *)st, d, (unsigned long long)len, (unsigned long long)ts);
}
static void tr_idle(void *st, uint64_t now)
{
	tr("idle %u %llu\n", *(unsigned *)st, (unsigned long long)now);
}
static void tr_close(void *st, enum pl_close_reason why, uint64_t ts)
{
	tr("close %u %d %llu\n", *(unsigned *)st, why, (unsigned long long)ts);
}

static const struct pl_proto_ops tr_ops = {
	"trace", tr_state_size, tr_init, tr_data, tr_gap, tr_idle, tr_close, NULL,
};

static uint32_t rng;

static uint32_t rnd(uint32_t n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 8) % n;
}

/* A random but reproducible script over a few connections: mostly in-order data and
 * bare ACKs, with handshakes, FIN, RST, holes, retransmissions, overlaps, snap-length
 * cuts and time jumps (sweeps, idle expiry); a tiny table and buffer so eviction and
 * overflow happen too. The trace and every counter land in *out_stats and trace[]. */
static void run_script(uint32_t seed, bool fast, struct pl_stats *out_stats)
{
	static uint8_t bytes[4096];
	uint32_t seq[6][2];
	uint64_t ts_ms = 1;

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 7 + i / 251);
	memset(&cfg, 0, sizeof(cfg));
	memset(&stats, 0, sizeof(stats));
	cfg.http.enabled = true;
	cfg.http.ports.port[0] = 80;
	cfg.http.ports.n = 1;
	cfg.flows.max_flows = 4;
	cfg.flows.stream_buffer_bytes = 600;
	cfg.flows.max_buffer_mb = 1;
	cfg.flows.idle_timeout_ns = 20 * PL_NS_PER_SEC;
	cfg.fast_paths = fast;
	env = (struct pl_proto_env){ &cfg, &stats, NULL, NULL };
	trace_len = 0;
	rng = seed;
	for (int c = 0; c < 6; c++)
		seq[c][0] = seq[c][1] = rnd(1u << 31) * 2u;

	struct pl_flow_table *t = pl_flow_table_new(&cfg, &env);
	assert_non_null(t);
	pl_flow_table_set_proto(t, &tr_ops);
	for (int i = 0; i < 600; i++) {
		int c = (int)rnd(6), d = (int)rnd(2), kind = (int)rnd(40);
		uint32_t len = rnd(4) ? 1 + rnd(300) : 0, lost = 0, s = seq[c][d];
		uint8_t flags = PL_TCP_ACK;

		if (kind == 0) {                     /* (re)handshake from this side */
			flags = d == 0 ? PL_TCP_SYN : PL_TCP_SYN | PL_TCP_ACK;
			len = 0;
			if (rnd(2))
				s = seq[c][d] = rnd(1u << 31);
			seq[c][d]++;
		} else if (kind == 1) {
			flags |= PL_TCP_FIN;
		} else if (kind == 2) {
			flags |= PL_TCP_RST;
		} else if (kind <= 5) {              /* ahead: a hole */
			s += 1 + rnd(400);
		} else if (kind <= 8) {              /* behind: retransmission or overlap */
			s -= rnd(400);
		} else if (kind == 9) {              /* the snap length cut the payload */
			lost = 1 + rnd(100);
			if (len > lost)
				len -= lost;
		} else if (kind == 10) {
			ts_ms += 1000 + rnd(30000);  /* sweeps, idle callbacks, expiry */
		}
		if (kind >= 3)
			flags |= rnd(3) ? 0 : PL_TCP_PSH;
		/* In-order data moves the sender on; after the odd ones it may or may not. */
		if (kind > 10 || (kind != 0 && rnd(2)))
			seq[c][d] = s + len + lost;
		ts_ms += rnd(3);

		struct pl_packet p;
		memset(&p, 0, sizeof(p));
		p.af = 4;
		uint8_t ca[4] = { 10, 0, 0, 1 }, sa[4] = { 10, 0, 0, 2 };
		memcpy(d == 0 ? p.src : p.dst, ca, 4);
		memcpy(d == 0 ? p.dst : p.src, sa, 4);
		p.sport = d == 0 ? (uint16_t)(40000 + c) : 80;
		p.dport = d == 0 ? 80 : (uint16_t)(40000 + c);
		p.seq = s;
		/* Mostly what the peer sent so far; now and then ahead of it (the hold). */
		p.ack = seq[c][!d] + (rnd(6) ? 0 : rnd(500));
		p.tcp_flags = flags;
		p.payload = bytes + rnd(sizeof(bytes) - 400);
		p.payload_len = len;
		p.payload_wire_len = len + lost;
		p.ts_ns = ts_ms * 1000000ULL;
		pl_flow_packet(t, &p);
	}
	pl_flow_table_free(t);
	*out_stats = stats;
}

static void test_fast_path_agrees(void **st)
{
	static char ref[sizeof(trace)];
	struct pl_stats s_ref, s_fast;
	uint64_t gaps = 0, ooo = 0, closed = 0, expired = 0, evicted = 0, holds = 0, forced = 0;

	for (uint32_t seed = 1; seed <= 300; seed++) {
		run_script(seed, false, &s_ref);
		size_t ref_len = trace_len;
		memcpy(ref, trace, trace_len);
		run_script(seed, true, &s_fast);
		assert_int_equal(trace_len, ref_len);
		assert_memory_equal(trace, ref, ref_len);
		assert_memory_equal(&s_fast, &s_ref, sizeof(s_ref));
		gaps += s_ref.tcp_gaps;
		ooo += s_ref.tcp_ooo_segments;
		closed += s_ref.flows_closed;
		expired += s_ref.flows_expired;
		evicted += s_ref.flows_evicted;
		holds += s_ref.tcp_ack_holds;
		forced += s_ref.tcp_ack_hold_forced;
	}
	/* The scripts reach the general path's corners, not only the shortcut. */
	assert_true(gaps > 100);
	assert_true(ooo > 100);
	assert_true(closed > 10);
	assert_true(expired > 10);
	assert_true(evicted > 10);
	assert_true(holds > 100);
	assert_true(forced > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order_both_directions),
		cmocka_unit_test(test_out_of_order_reassembled),
		cmocka_unit_test(test_retransmission_and_overlap_trimmed),
		cmocka_unit_test(test_buffer_cap_forces_gap),
		cmocka_unit_test(test_zero_buffer_means_immediate_gap),
		cmocka_unit_test(test_held_bytes_keep_their_time),
		cmocka_unit_test(test_held_bytes_both_directions_in_order),
		cmocka_unit_test(test_acked_hole_given_up),
		cmocka_unit_test(test_table_budget_shared_by_streams),
		cmocka_unit_test(test_hole_before_fin_reported_on_close),
		cmocka_unit_test(test_ack_ahead_held_until_peer_bytes),
		cmocka_unit_test(test_ack_hold_released_by_later_peer_segment),
		cmocka_unit_test(test_ack_hold_released_at_close),
		cmocka_unit_test(test_ack_hold_bound),
		cmocka_unit_test(test_ack_of_fin_not_held),
		cmocka_unit_test(test_rst_closes),
		cmocka_unit_test(test_midstream_pickup_by_port),
		cmocka_unit_test(test_unconfigured_port_ignored),
		cmocka_unit_test(test_idle_expiry_in_packet_time),
		cmocka_unit_test(test_max_flows_evicts_oldest),
		cmocka_unit_test(test_snaplen_cut_is_gap),
		cmocka_unit_test(test_sequence_wraparound),
		cmocka_unit_test(test_seq_exactly_half_space_away),
		cmocka_unit_test(test_shuffled_segments),
		cmocka_unit_test(test_fast_path_agrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
