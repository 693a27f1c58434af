/* txq.h – the pending-transaction queue: a bounded FIFO of a connection's records (requests
 * or commands waiting for their responses, responses waiting for their requests), linked
 * through a node inside each record. Shared by the protocol modules (src/proto/).
 *
 * Contract:
 * - Intrusive: a record embeds a `struct pl_txq_node` and is in at most one queue (or free
 *   list) at a time through it; PL_TXQ_ENTRY gives the record back from its node. The queue
 *   allocates nothing and owns nothing: records stay the caller's.
 * - Bound: pl_txq_push is given the bound each time (a configured value may change on
 *   reload); a bound of 0 is taken as 1, so the newest record is always held.
 * - Full: pl_txq_push appends the new record and hands back the oldest one, unlinked, when
 *   the queue held `bound` records already (it then holds `bound` still). What that eviction
 *   means (an unmatched event, a late answer to expect in `late`) and every counter of it
 *   (drops, unmatched events) are the caller's: the queue maintains only its links and
 *   its length (`late` is a field it holds for the caller, never touches).
 * - Not thread-safe: one queue belongs to one connection, handled by one thread. */
#ifndef PKTLOG_TXQ_H
#define PKTLOG_TXQ_H

#include <stddef.h>
#include <stdint.h>

struct pl_txq_node {
	struct pl_txq_node *next;
};

struct pl_txq {
	struct pl_txq_node *head, *tail;
	uint32_t n;
	/* The caller's: records that left the queue unanswered (dropped when full, expired)
	 * whose answers may still come, to be told apart from answers to the records still
	 * queued. The queue never reads or changes it (pl_txq_init zeroes it). */
	uint32_t late;
};

/* The record of type `type` whose member `member` is the node `node` (NULL stays NULL). */
#define PL_TXQ_ENTRY(node, type, member) \
	((type *)pl_txq_entry_((node), offsetof(type, member)))

static inline void *pl_txq_entry_(struct pl_txq_node *node, size_t off)
{
	return node ? (void *)((char *)node - off) : NULL;
}

/* An empty queue (a zeroed struct pl_txq is one too). */
static inline void pl_txq_init(struct pl_txq *q)
{
	q->head = q->tail = NULL;
	q->n = 0;
	q->late = 0;
}

/* The oldest record, left in place; NULL when empty. */
static inline struct pl_txq_node *pl_txq_head(const struct pl_txq *q)
{
	return q->head;
}

static inline uint32_t pl_txq_len(const struct pl_txq *q)
{
	return q->n;
}

/* Unlink and return the oldest record; NULL when empty. */
struct pl_txq_node *pl_txq_pop(struct pl_txq *q);

/* Append `node` (not in any queue). Returns NULL, or — when the queue already held `bound`
 * records (0 counts as 1) — the oldest one, unlinked: the caller disposes of it and counts
 * the drop. */
struct pl_txq_node *pl_txq_push(struct pl_txq *q, struct pl_txq_node *node, uint32_t bound);

#endif
