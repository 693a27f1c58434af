/* fuzz_reasm.c – libFuzzer harness for the flow table and reassembly (src/net/flow.c).
 *
 * The input is a script of segments, 12 bytes of header each followed by payload:
 *   [0] flags (TCP flag bits; bit 7 picks the direction)  [1] client port low byte
 *   [2..5] sequence number  [6..7] payload length (mod 512)  [8..9] lost tail (mod 64)
 *   [10..11] time step in ms; [6..9] read as one number is the acknowledgement
 * A small flow cap and buffer cap make eviction and overflow paths reachable. The
 * recording protocol checks that each direction's bytes arrive contiguously. Each
 * script runs twice, with the in-order shortcut off and on (cfg.fast_paths, the
 * config's tuning.fast_paths): the protocol calls (a running hash of them) and every counter must agree. */
#include <string.h>
#include "pktlog/flow.h"

static uint64_t delivered[2];
static uint64_t calls;        /* running hash of every protocol call */
static volatile uint8_t sink;

static void note(uint64_t v)
{
	calls = (calls ^ v) * 0x100000001b3ULL;
}

static size_t st_size(const struct pl_config *c) { return sizeof(uint64_t) * 2; }
static int st_init(void *st, const struct pl_conn *c, const struct pl_proto_env *e)
{
	memset(st, 0, sizeof(uint64_t) * 2);
	return 0;
}
static void st_data(void *st, enum pl_dir d, const uint8_t *p, size_t n, uint64_t ts)
{
	note(1000 + d);
	note(n);
	note(ts);
	for (size_t i = 0; i < n; i++) {
		sink ^= p[i];      /* touch every byte: ASan sees stale buffers */
		note(p[i]);
	}
	((uint64_t *)st)[d] += n;
	delivered[d] += n;
}
static void st_gap(void *st, enum pl_dir d, uint64_t len, uint64_t ts)
{
	note(2000 + d);
	note(len);
	note(ts);
	((uint64_t *)st)[d] += len;
}
static void st_idle(void *st, uint64_t now)
{
	note(3000);
	note(now);
}
static void st_close(void *st, enum pl_close_reason why, uint64_t ts)
{
	note(4000 + why);
	note(ts);
}

static const struct pl_proto_ops ops = { "fuzz", st_size, st_init, st_data, st_gap, st_idle, st_close, NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool run(const uint8_t *data, size_t size, bool fast, struct pl_stats *out)
{
	static uint8_t payload[512 + 64];
	struct pl_config cfg;
	struct pl_stats stats;
	struct pl_proto_env env = { &cfg, &stats, NULL, NULL };
	uint64_t ts = 1;

	memset(&cfg, 0, sizeof(cfg));
	memset(&stats, 0, sizeof(stats));
	cfg.http.enabled = true;
	cfg.http.ports.port[0] = 80;
	cfg.http.ports.n = 1;
	cfg.flows.max_flows = 4;
	cfg.flows.stream_buffer_bytes = 2048;
	cfg.flows.max_buffer_mb = 1;
	cfg.flows.idle_timeout_ns = 5 * PL_NS_PER_SEC;
	cfg.fast_paths = fast;
	struct pl_flow_table *t = pl_flow_table_new(&cfg, &env);
	if (!t)
		return false;
	pl_flow_table_set_proto(t, &ops);
	while (size >= 12) {
		struct pl_packet p;
		memset(&p, 0, sizeof(p));
		bool to_server = !(data[0] & 0x80);
		p.af = 4;
		p.src[0] = to_server ? 1 : 2;
		p.dst[0] = to_server ? 2 : 1;
		p.sport = to_server ? (uint16_t)(40000 + data[1] % 8) : 80;
		p.dport = to_server ? 80 : (uint16_t)(40000 + data[1] % 8);
		p.tcp_flags = data[0] & 0x1f;
		p.seq = (uint32_t)data[2] << 24 | (uint32_t)data[3] << 16 | (uint32_t)data[4] << 8 | data[5];
		/* the acknowledgement: bytes 6..9 read as one number (ahead of the peer or not:
		 * the cross-direction hold) */
		p.ack = (uint32_t)data[6] << 24 | (uint32_t)data[7] << 16 | (uint32_t)data[8] << 8 | data[9];
		uint32_t len = ((uint32_t)data[6] << 8 | data[7]) % 512;
		uint32_t lost = ((uint32_t)data[8] << 8 | data[9]) % 64;
		ts += ((uint64_t)data[10] << 8 | data[11]) * 1000000ULL;
		data += 12;
		size -= 12;
		if (len > size)
			len = (uint32_t)size;
		memcpy(payload, data, len);
		p.payload = payload;
		p.payload_len = len;
		p.payload_wire_len = len + lost;
		p.ts_ns = ts;
		pl_flow_packet(t, &p);
		data += len;
		size -= len;
	}
	pl_flow_table_free(t);
	if (stats.flows_active != 0 || stats.tcp_ooo_bytes_buffered != 0)
		__builtin_trap();
	*out = stats;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pl_stats ref, fast;
	uint64_t ref_calls;

	calls = 0;
	if (!run(data, size, false, &ref))
		return 0;
	ref_calls = calls;
	calls = 0;
	if (!run(data, size, true, &fast))
		return 0;
	if (calls != ref_calls || memcmp(&ref, &fast, sizeof(ref)) != 0)
		__builtin_trap();
	return 0;
}
