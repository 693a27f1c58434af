/* event.h – the transaction record protocols fill and the renderer turns into JSON.
 *
 * Contract (proto → event): a protocol fills a struct pl_event whose strings borrow from
 * the protocol's own transaction storage, and hands it to env->emit(). The event is
 * rendered synchronously inside emit, so the borrowed strings need only live until emit
 * returns. Protocols never format JSON; the renderer never parses protocols. */
#ifndef PKTLOG_EVENT_H
#define PKTLOG_EVENT_H

#include "pktlog/common.h"
#include "pktlog/community_id.h"

enum pl_event_type { PL_EV_HTTP = 0, PL_EV_MYSQL = 1, PL_EV_TLS = 2, PL_EV__COUNT };

#define PL_EVENT_MAX_ERRORS 4
#define PL_EVENT_MAX_HEADERS 40

struct pl_endpoint {
	uint8_t ip[16];               /* network byte order; IPv4 in the first 4 bytes */
	uint16_t port;
	uint64_t bytes;               /* application bytes this side sent in the transaction */
};

struct pl_header {
	struct pl_str name;           /* lower-cased */
	struct pl_str value;          /* already redacted where configured */
};

struct pl_http_msg {
	uint64_t bytes;               /* header + body bytes on the wire */
	uint64_t body_bytes;          /* body bytes (decoded chunk sizes excluded) */
	struct pl_str mime_type;      /* Content-Type value, or empty */
	const struct pl_header *headers; /* n_headers (at most PL_EVENT_MAX_HEADERS), borrowed
	                               * like the strings: valid until emit returns */
	int n_headers;
};

/* What an HTTP/2 stream adds to its HTTP event (src/proto/http2*.c); rendered by
 * src/event/json_http2.c. Strings borrowed like the event's. */
struct pl_event_http2 {
	uint32_t stream_id;
	struct pl_str scheme;         /* :scheme, or empty (http2.scheme) */
	struct pl_str url_scheme;     /* url.scheme: :scheme; "http" for an h2c Upgrade's stream 1
	                               * (an HTTP/1.1 request in clear, as HTTP/1.x); empty:
	                               * url.scheme and url.full absent */
	bool pushed;                  /* promised by the server (PUSH_PROMISE) */
	bool grpc;                    /* content-type application/grpc*: the rpc.* fields */
	struct pl_str rpc_service, rpc_method; /* from :path "/<service>/<method>", or empty */
	bool has_grpc_status;
	uint32_t grpc_status;         /* grpc-status of the trailers (or a trailers-only response) */
	struct pl_str grpc_message;   /* grpc-message percent-decoded (UTF-8; a '%' that does not
	                               * start a valid encoded character kept as sent), or empty */
	bool has_messages[2];         /* false when the length-prefixed framing was lost */
	uint64_t messages[2];         /* gRPC messages sent: [0] by the client, [1] by the server */
};

struct pl_event_http {
	const struct pl_event_http2 *h2; /* HTTP/2 streams only; NULL for HTTP/1.x */
	struct pl_str version;        /* "1.1", "1.0", "2" */
	struct pl_str method;         /* as sent ("GET") */
	struct pl_str path;           /* URL path, without the query */
	struct pl_str query;          /* URL query string, without '?', or empty */
	struct pl_str host;           /* Host header without port, or empty */
	uint16_t host_port;           /* port from the Host header, 0 when absent */
	struct pl_str user_agent;     /* or empty */
	struct pl_str referrer;       /* or empty */
	struct pl_str forwarded_ip;   /* first address of X-Forwarded-For, or empty */
	struct pl_str user_name;      /* from Basic authorization (when not redacted), or empty */
	bool has_request, has_response;
	struct pl_http_msg request, response;
	int status_code;              /* 0 when there is no response or it was not read */
	struct pl_str status_phrase;  /* as sent; rendered lower-cased */
};

#define PL_MYSQL_MAX_PARAMS 16
/* pl_event_mysql.unread: the field was not read from the response (rendered absent) */
#define PL_MYSQL_UNREAD_AFFECTED 0x01u   /* affected_rows and insert_id */
#define PL_MYSQL_UNREAD_ROWS 0x02u       /* num_rows */
#define PL_MYSQL_UNREAD_FIELDS 0x04u     /* num_fields */
#define PL_MYSQL_UNREAD_ERROR 0x08u      /* error_code, error_message, state */

struct pl_event_mysql {
	struct pl_str method;         /* first keyword of the statement, upper-cased, or the command name */
	struct pl_str query;          /* statement text, trimmed, truncated at protocols.mysql.max_query_length */
	struct pl_str path;           /* "db.table" from the result's column definitions, or empty */
	struct pl_str user;           /* login user of the connection, or empty (rendered as user.name) */
	struct pl_str schema;         /* default schema of the connection, or empty (mysql.db) */
	bool has_response;            /* false for "Unmatched request" */
	bool is_error;                /* the response was an ERR packet */
	uint64_t affected_rows, insert_id;
	uint64_t num_rows, num_fields;
	uint16_t error_code;          /* ERR: error code */
	struct pl_str sql_state;      /* ERR: the 5-character SQLSTATE, or empty */
	struct pl_str error_message;  /* ERR: the message text (rendered "<state>: <text>") */
	uint16_t warnings;
	uint16_t status_flags;
	uint8_t unread;               /* PL_MYSQL_UNREAD_*: fields no packet gave (absent) */
	struct pl_str params[PL_MYSQL_MAX_PARAMS]; /* COM_STMT_EXECUTE bound values, as text */
	int n_params;
	struct pl_str request;        /* send_request: the statement text, or empty */
	struct pl_str response;       /* send_response: CSV of column names and the first max_rows rows */
};

#define PL_TLS_MAX_CIPHERS 128       /* tls.client.supported_ciphers rendered */
#define PL_TLS_MAX_NAMES 32          /* x509.alternative_names rendered */

/* One X.509 certificate as sent in clear (TLS <= 1.2); empty strings are absent. */
struct pl_tls_x509 {
	struct pl_str subject, issuer;       /* distinguished names, RFC 2253 */
	struct pl_str subject_cn, issuer_cn; /* first common name of each */
	struct pl_str not_before, not_after; /* RFC 3339 UTC */
	struct pl_str serial;                /* upper-case hex */
	struct pl_str key_algorithm;         /* "RSA", "ECDSA", "Ed25519"… */
	struct pl_str key_curve;             /* EC keys: the curve's name */
	uint32_t key_size;                   /* bits; 0 = absent */
	uint32_t version;                    /* X.509 version (3); 0 = absent */
	const struct pl_str *alt_names;      /* subjectAltName DNS names and addresses */
	int n_alt_names;
	struct pl_str sha1, sha256;          /* lower-case hex of the DER certificate */
};

/* One TLS handshake. Strings and lists are empty (absent) when not seen. */
struct pl_event_tls {
	struct pl_str version;               /* "1.2", "1.3", "3.0" (from the ServerHello) */
	struct pl_str version_protocol;      /* "tls" or "ssl" */
	struct pl_str cipher;                /* IANA name (or "0x...." when unknown) */
	struct pl_str curve;                 /* key exchange group */
	bool has_server_hello;               /* resumed is meaningful */
	bool established, resumed;
	struct pl_str resumption;            /* "session_id", "session_ticket", "psk" */
	bool hello_retry;                    /* a HelloRetryRequest was sent */
	bool early_data_offered;             /* ClientHello early_data extension */
	uint64_t early_data_bytes;           /* 0-RTT application records the client sent */
	struct pl_str next_protocol;         /* ALPN chosen by the server */
	struct pl_str server_name;           /* SNI */
	const struct pl_str *supported_ciphers;
	int n_supported_ciphers;
	struct pl_str ja3, ja4, ja3s, ja4s;
	const struct pl_tls_x509 *server_cert; /* leaf certificate, NULL when not seen */
	const struct pl_tls_x509 *client_cert;
};

/* The process owning one side's socket (src/proc/): read from /proc of the capturing host
 * (or the eBPF map) while the connection was open. Absent pieces are empty / has_* false. */
#define PL_PROC_MAX_ARGS 16          /* process.args rendered */
struct pl_event_process {
	int32_t pid;
	int32_t ppid;                 /* -1 = absent */
	uint32_t uid;                 /* owner of the socket: process.user.id */
	bool has_uid;
	struct pl_str name;           /* comm */
	struct pl_str executable;     /* /proc/PID/exe, or empty */
	const struct pl_str *args;    /* the first n_args arguments (each possibly cut) */
	int n_args;
	uint32_t args_count;          /* arguments in the command line as read (ECS args_count) */
};

/* Which sides of the connection are local, and their processes (NULL: not local, or not
 * found). Filled by pl_proc_annotate() on a copy of the event, never by protocols. */
struct pl_event_procs {
	const struct pl_event_process *client, *server;
};

struct pl_event {
	enum pl_event_type type;
	bool ok;                      /* status "OK" or "Error" */
	uint8_t af;                   /* 4 or 6 */
	struct pl_endpoint client, server;
	uint64_t start_ns;            /* first byte of the request; 0 when there was no request */
	uint64_t end_ns;              /* last byte of the response; 0 when there was no response */
	const char *community_id;     /* NUL-terminated, "1:…", owned by the flow */
	struct pl_str errors[PL_EVENT_MAX_ERRORS]; /* rendered as error.message */
	int n_errors;
	struct pl_event_procs process;  /* live capture only; zero for protocols */
	union {
		struct pl_event_http http;    /* when type == PL_EV_HTTP */
		struct pl_event_mysql mysql;  /* when type == PL_EV_MYSQL */
		struct pl_event_tls tls;      /* when type == PL_EV_TLS */
	};
};

/* Add an error note (e.g. "Unmatched request"); extra notes beyond the cap are dropped. */
void pl_event_add_error(struct pl_event *ev, const char *msg);

struct pl_conn;
/* Start an event of a connection (pktlog/proto.h): zeroed, then its type, address family,
 * client and server addresses and ports, and the connection's Community ID. */
void pl_event_begin(struct pl_event *ev, enum pl_event_type type, const struct pl_conn *conn);

/* Community ID: pktlog/community_id.h (src/net/community_id.c). */

/* --- JSON rendering (src/event/json.c) --- */

struct pl_json_opts {
	const char *host_name;        /* host.name, or NULL to omit */
};

/* Render ev as one line of JSON (no trailing newline) into buf[0..cap). Returns the
 * length written, or 0 when the event does not fit (the caller counts it). Never
 * allocates. Strings are escaped; invalid UTF-8 bytes become U+FFFD. */
size_t pl_event_to_json(const struct pl_event *ev, const struct pl_json_opts *opts,
			char *buf, size_t cap);

/* The most bytes pl_event_to_json can write for ev: with a buffer this large it writes
 * without testing the room left before each piece. */
size_t pl_event_json_bound(const struct pl_event *ev, const struct pl_json_opts *opts);

/* The HTTP/2 part of an HTTP event (src/event/json_http2.c): `,"http2":{…}` and for gRPC
 * `,"rpc":{…}`, written into out[0..end). Returns the end of what was written, or NULL when it
 * does not fit. pl_json_http2_len: the most bytes it can write. */
char *pl_json_http2(char *out, const char *end, const struct pl_event_http2 *x);
size_t pl_json_http2_len(const struct pl_event_http2 *x);
/* The process fields of ev (src/event/json_process.c), at `where`: 'c' inside the client
 * object, 's' inside the server object (both when both sides are local), 't' top level
 * "process" (exactly one side local). Writes at p (before the object's closing brace for
 * 'c'/'s', after a member for 't'), returns the new end, p when there is nothing to add, or
 * NULL when it does not fit before end. */
char *pl_event_json_process(const struct pl_event *ev, int where, char *p, const char *end);

/* The most bytes pl_event_json_process can write for ev (all places together). */
size_t pl_event_json_process_bound(const struct pl_event *ev);

/* Write s[0..n) escaped for the inside of a JSON string (no quotes; invalid UTF-8 → \ufffd)
 * into out[0..end). Returns the end of what was written, or NULL when it does not fit. The
 * one escaper of the project: events, tailed lines and heartbeats all go through it. */
char *pl_json_escape(char *out, const char *end, const char *s, size_t n);

/* Write s[0..n) as a quoted, escaped JSON string (invalid UTF-8 → U+FFFD) into out.
 * Returns the length, or 0 when it does not fit. */
size_t pl_json_string(const char *s, size_t n, char *out, size_t cap);

/* Write the decimal digits of v so that they end just before `end` (at most 20 bytes);
 * returns where they start. */
char *pl_u64_digits(uint64_t v, char *end);

/* Format ns since the epoch as RFC 3339 UTC with nanoseconds ("2026-11-23T10:54:38.123456789Z").
 * out must hold 32 bytes. Returns the length. */
size_t pl_format_time(uint64_t ns, char *out);

#endif
