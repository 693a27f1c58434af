/* http2_int.h – what the HTTP/2 files share: the connection and stream records, and the
 * calls between the frame layer (http2_frames.c: framing, padding, SETTINGS, HPACK through
 * libnghttp2) and the stream layer (http2.c: streams, events; http2_grpc.c: gRPC).
 * Internal to src/proto/http2*.c. */
#ifndef PKTLOG_HTTP2_INT_H
#define PKTLOG_HTTP2_INT_H

#include <nghttp2/nghttp2.h>
#include "pktlog/http2.h"

#define H2_MAX_STREAMS 128u      /* open streams tracked per connection (nginx's default limit) */
#define H2_KEEP_MAX 16384u       /* kept header bytes per stream (both directions) */
#define H2_VALUE_MAX 8192u       /* one kept header value */
#define H2_DEFAULT_FRAME 16384u  /* SETTINGS_MAX_FRAME_SIZE before any SETTINGS */

enum h2_type {
	H2_DATA = 0, H2_HEADERS = 1, H2_PRIORITY = 2, H2_RST_STREAM = 3, H2_SETTINGS = 4,
	H2_PUSH_PROMISE = 5, H2_PING = 6, H2_GOAWAY = 7, H2_WINDOW_UPDATE = 8,
	H2_CONTINUATION = 9,
};
enum { H2F_END_STREAM = 0x1, H2F_ACK = 0x1, H2F_END_HEADERS = 0x4, H2F_PADDED = 0x8,
       H2F_PRIORITY = 0x20 };

/* Why a stream's event is incomplete (bits; one set per direction where it matters). */
enum {
	H2N_LOSS = 1,        /* bytes of this side's frames lost in the capture */
	H2N_HPACK = 2,       /* this side's headers unreadable: HPACK state lost (gap or error) */
	H2N_FRAMING = 4,     /* this side's framing lost after a gap or a parse error */
	H2N_EOF = 8,         /* connection ended before this side ended the stream */
	H2N_TIMEOUT = 16,    /* the connection went idle (flows.idle_timeout) before this side ended */
	H2N_TRUNC = 32,      /* headers kept in part (size limits) */
	H2N_GRPC_LOST = 64,  /* gRPC message framing lost: the count is absent */
};

struct h2_span { uint32_t off, len; };
struct h2_kept { struct h2_span name, value; uint8_t redact; };

/* One direction of a stream: the request (client → server) or the response. */
struct h2_msg {
	uint64_t bytes;              /* frame bytes (9-byte headers, payload, padding) */
	uint64_t body;               /* DATA payload without padding */
	uint16_t status;             /* :status (response), 0 unread */
	bool head;                   /* a header block was read */
	bool ended;                  /* END_STREAM seen */
	uint8_t notes;
	int n_hdr;
	struct h2_span method, path, authority, scheme, ctype, ua, referer, xff, user, host;
	struct h2_span grpc_status, grpc_message;
	bool has_clen;
	struct h2_kept hdr[PL_EVENT_MAX_HEADERS];
	/* gRPC length-prefixed messages in this direction's DATA */
	uint8_t g_have;              /* bytes of the 5-byte prefix read */
	uint8_t g_pfx[5];
	uint32_t g_left;             /* message bytes still due */
	uint64_t g_count;
};

struct h2_stream {
	struct h2_stream *next;      /* free list */
	uint32_t sid;
	bool pushed;                 /* promised by the server (PUSH_PROMISE) */
	bool upgraded;               /* stream 1 of an h2c Upgrade: the request came as HTTP/1.1 */
	bool grpc;                   /* content-type application/grpc*: messages are counted */
	uint8_t blk[2];              /* per direction: the message (0 request, 1 response) the
	                              * header block being read belongs to */
	bool reset;
	uint8_t reset_by;            /* enum pl_dir of the RST_STREAM's sender */
	uint32_t reset_code;
	bool goaway;                 /* above a GOAWAY's last stream id */
	uint8_t goaway_by;
	uint32_t goaway_code;
	uint64_t start_ns, resp_ns, last_ns;
	struct h2_msg m[2];
	char *buf;                   /* kept strings; grown up to H2_KEEP_MAX, kept across reuse */
	uint32_t len, cap;
};

/* Framing state of one direction. */
struct h2_dir {
	nghttp2_hd_inflater *inf;
	uint64_t frame_ts;
	uint32_t len, pos;           /* current frame's payload length and bytes read */
	uint32_t sid;
	uint32_t max_frame;          /* the largest frame the receiver allowed */
	uint32_t table_pending;      /* HEADER_TABLE_SIZE the receiver advertised, applied on ACK */
	uint32_t block_sid;          /* stream the header block in progress belongs to */
	uint8_t type, flags;
	uint8_t hdr[9], nhdr;
	uint8_t pfx[6], pfx_need, pfx_have;
	uint8_t pad;
	uint8_t ctl[8], nctl;        /* SETTINGS entry / control payload being read */
	uint8_t preface_have;        /* to-server: bytes of the client preface matched */
	bool has_table_pending;
	bool in_block;               /* a header block awaits CONTINUATION */
	bool block_end_stream;       /* the block's HEADERS carried END_STREAM */
	bool block_inflate;          /* the block is being inflated */
	bool dead;                   /* framing lost: nothing more is read in this direction */
	bool hpack_dead;             /* header blocks no longer trusted */
	bool first_frame_done;
};

struct pl_http2 {
	const struct pl_conn *conn;
	const struct pl_proto_env *env;
	struct h2_dir d[2];
	uint32_t n_streams;
	uint32_t max_client_sid;     /* highest stream id the client opened */
	struct h2_stream *slot[2 * H2_MAX_STREAMS];   /* open addressing by sid */
	uint64_t last_ns;
};

/* --- http2_frames.c --- */
int h2_frames_init(struct pl_http2 *h, bool upgraded);
void h2_frames_free(struct pl_http2 *h);
void h2_frames_data(struct pl_http2 *h, int dir, const uint8_t *p, size_t n, uint64_t ts);
void h2_frames_gap(struct pl_http2 *h, int dir, uint64_t len, uint64_t ts);
/* Whether p[0..n) are the client preface's bytes from offset off on. */
bool h2_preface_match(size_t off, const uint8_t *p, size_t n);

/* --- http2.c: what the frame layer reports --- */
struct h2_stream *h2_stream_find(struct pl_http2 *h, uint32_t sid);
/* A header block begins on sid in dir (promised: for PUSH_PROMISE's promised stream).
 * Returns the stream its fields go to, or NULL (not tracked). */
struct h2_stream *h2_block_begin(struct pl_http2 *h, int dir, uint32_t sid, bool promised,
				 uint64_t ts);
void h2_block_field(struct pl_http2 *h, struct h2_stream *s, int dir, const uint8_t *name,
		    size_t nlen, const uint8_t *value, size_t vlen);
void h2_block_end(struct pl_http2 *h, struct h2_stream *s, int dir, bool end_stream,
		  bool readable);
void h2_stream_bytes(struct pl_http2 *h, uint32_t sid, int dir, uint64_t n, uint64_t ts);
void h2_stream_data(struct pl_http2 *h, uint32_t sid, int dir, const uint8_t *p, size_t n);
void h2_stream_data_lost(struct pl_http2 *h, uint32_t sid, int dir, uint64_t n);
void h2_stream_note(struct pl_http2 *h, uint32_t sid, int dir, uint8_t note);
void h2_stream_end(struct pl_http2 *h, uint32_t sid, int dir, uint64_t ts);
void h2_stream_reset(struct pl_http2 *h, uint32_t sid, int dir, uint32_t code, uint64_t ts);
void h2_goaway(struct pl_http2 *h, int dir, uint32_t last_sid, uint32_t code);
/* dir's framing is lost: its open streams say so; those whose other side ended go out. */
void h2_dir_lost(struct pl_http2 *h, int dir);

/* Free the streams this thread keeps for reuse. */
void h2_thread_cleanup(void);

/* --- http2_grpc.c --- */
void h2_grpc_data(struct h2_msg *m, const uint8_t *p, size_t n);
void h2_grpc_lost(struct h2_msg *m, uint64_t n);
/* Fill ev->http.h2's gRPC fields from the stream (strings borrowed from s->buf; the kept
 * grpc-message is percent-decoded in place, so once per stream, just before its event). */
void h2_grpc_fill(struct h2_stream *s, struct pl_event_http2 *x);

#endif
