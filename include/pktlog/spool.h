/* spool.h – the Kafka output's disk buffer: append-only segment files of checksummed records.
 *
 * Records are appended at the tail and read back in order from a reader position; the owner
 * acknowledges a position once everything before it is delivered, and whole segments behind
 * it are deleted. The acknowledged position is kept in a cursor file, so a restart re-reads
 * at most what was read but not yet acknowledged. Corrupt records and torn tails are skipped
 * and counted (stats->spool_corrupt). Not thread-safe: one owner. */
#ifndef PKTLOG_SPOOL_H
#define PKTLOG_SPOOL_H

#include "pktlog/common.h"
#include "pktlog/config.h"
#include "pktlog/stats.h"

/* Largest record body: an event is at most 256 KiB, a tailed record a little more. */
#define PL_SPOOL_MAX_RECORD (1u << 20)
#define PL_SPOOL_HDR 12u

struct pl_spool;

struct pl_spool_opts {
	const char *dir;             /* created when missing (one level) */
	uint64_t max_bytes;          /* total size of the segment files */
	uint32_t segment_bytes;      /* a segment is closed once it reaches this size */
	enum pl_spool_fsync fsync;
	uint64_t fsync_interval_ns;
};

struct pl_spool_pos {
	uint64_t seg;
	uint64_t off;
};

/* One record, borrowed from the spool until the next read/rewind/close. */
struct pl_spool_rec {
	const uint8_t *payload;
	size_t len;
	const char *key;             /* not NUL-terminated; klen 0 = no key */
	size_t klen;
	const char *topic;           /* not NUL-terminated */
	size_t tlen;
	struct pl_spool_pos pos;     /* where it starts */
	struct pl_spool_pos next;    /* where the one after it starts */
};

enum pl_spool_status {
	PL_SPOOL_OK = 0,
	PL_SPOOL_FULL = -1,          /* max_bytes reached: nothing written */
	PL_SPOOL_TOO_BIG = -2,       /* larger than PL_SPOOL_MAX_RECORD */
	PL_SPOOL_IO = -3,            /* write or fsync failed (logged once) */
};

/* Open (creating the directory) and resume after the cursor. NULL after logging. */
struct pl_spool *pl_spool_open(const struct pl_spool_opts *opts, struct pl_stats *st);

/* Append one record. Returns a pl_spool_status. */
int pl_spool_append(struct pl_spool *s, const void *payload, size_t len,
		    const char *key, size_t klen, const char *topic, size_t tlen);

/* True when every appended record is on disk as far as the fsync policy promises. */
bool pl_spool_durable(const struct pl_spool *s);

/* Force appended records to disk now. 0 or -1. */
int pl_spool_sync(struct pl_spool *s);

/* Periodic work (interval fsync). Returns 1 when records became durable, else 0. */
int pl_spool_tick(struct pl_spool *s, uint64_t now_ns);

/* Next unread record: 1 and *r filled, 0 when there is nothing more to read. */
int pl_spool_read(struct pl_spool *s, struct pl_spool_rec *r);

/* Move the reader back (to re-send records whose delivery failed). */
void pl_spool_rewind(struct pl_spool *s, struct pl_spool_pos to);

/* Everything before `upto` is delivered: delete segments behind it, save the cursor. */
void pl_spool_ack(struct pl_spool *s, struct pl_spool_pos upto);

/* Position of the reader. */
struct pl_spool_pos pl_spool_read_pos(const struct pl_spool *s);

/* True when no record is left unread. */
bool pl_spool_at_end(const struct pl_spool *s);

/* Bytes held in segment files. */
uint64_t pl_spool_bytes(const struct pl_spool *s);

/* True when a source that can wait (the tailer) should stop reading: above 90% full, or an
 * append failed less than half a second ago. */
bool pl_spool_should_pause(const struct pl_spool *s);

/* True while appends fail (a full disk): the last one did not work. */
bool pl_spool_failing(const struct pl_spool *s);

/* Sync, save the cursor and close. NULL is fine. */
void pl_spool_close(struct pl_spool *s);

/* ---- the record format, exposed for the fuzzer and the tests ---- */

enum pl_spool_parse {
	PL_SPOOL_REC_OK = 0,
	PL_SPOOL_REC_END,            /* off == len */
	PL_SPOOL_REC_TORN,           /* a record starts but the bytes end before it does */
	PL_SPOOL_REC_CORRUPT,        /* bad magic, length or checksum */
};

/* Parse the record at buf[off..len). On OK fills *r (pos/next offsets only) and *next. */
int pl_spool_parse(const uint8_t *buf, size_t len, size_t off, struct pl_spool_rec *r,
		   size_t *next);

/* Offset of the next possible record start after a bad one at `off` (len when none). */
size_t pl_spool_resync(const uint8_t *buf, size_t len, size_t off);

/* Encode a record header for a body of key, topic and payload into hdr[PL_SPOOL_HDR + 4]. */
void pl_spool_encode_header(uint8_t *hdr, const void *payload, size_t len,
			    const char *key, size_t klen, const char *topic, size_t tlen);

/* CRC32C (Castagnoli), for the record checksums. */
uint32_t pl_spool_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
